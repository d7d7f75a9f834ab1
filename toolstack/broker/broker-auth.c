/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Password checks through PAM and group membership from the system's user
 * database.  Blocking: called from worker threads, one PAM handle each.
 */
#include "broker-server.h"

#include <dlfcn.h>
#include <errno.h>
#include <grp.h>
#include <link.h>
#include <pwd.h>
#include <security/pam_appl.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    const char *user;
    const char *password;
} Credentials;

static int
conversation(int n, const struct pam_message **messages, struct pam_response **ret_responses, void *data)
{
    const Credentials *credentials = data;

    if (n <= 0 || n > PAM_MAX_NUM_MSG)
        return PAM_CONV_ERR;
    struct pam_response *responses = calloc((size_t)n, sizeof(*responses));
    if (!responses)
        return PAM_BUF_ERR;
    for (int i = 0; i < n; i++) {
        switch (messages[i]->msg_style) {
        case PAM_PROMPT_ECHO_OFF:
            responses[i].resp = strdup(credentials->password);
            break;
        case PAM_PROMPT_ECHO_ON:
            responses[i].resp = strdup(credentials->user);
            break;
        default: /* PAM_ERROR_MSG, PAM_TEXT_INFO: nobody to show them to */
            break;
        }
    }
    *ret_responses = responses;
    return PAM_SUCCESS;
}

/* The broker pads failures itself (without blocking a thread on a sleep). */
static void
no_fail_delay(int status, unsigned int delay_us, void *data)
{
}

static int
pin_pam_module(struct dl_phdr_info *info, size_t size, void *data)
{
    if (info->dlpi_name && strstr(info->dlpi_name, "/security/pam_")) {
        void *handle = dlopen(info->dlpi_name, RTLD_NOW | RTLD_NOLOAD | RTLD_NODELETE);
        if (handle)
            dlclose(handle); /* drops our reference; NODELETE stays */
    }
    return 0;
}

/*
 * libpam dlopens its modules at pam_start and dlcloses them at pam_end, for
 * every login: keeping the loaded ones resident spares the reload.
 */
static void
pin_pam_modules(void)
{
    dl_iterate_phdr(pin_pam_module, NULL);
}

gboolean
oriel_broker_pam_check(const char *service, const char *user, const char *password, const char *address,
                       GError **error)
{
    Credentials credentials = { user, password };
    struct pam_conv conv = { conversation, &credentials };
    pam_handle_t *handle = NULL;
    int rc = pam_start(service, user, &conv, &handle);

    if (rc != PAM_SUCCESS) {
        g_set_error(error, ORIEL_BROKER_SERVER_ERROR, ORIEL_BROKER_SERVER_ERROR_IO, "PAM service '%s' cannot start", service);
        return FALSE;
    }
    pam_set_item(handle, PAM_FAIL_DELAY, (const void *)no_fail_delay);
    if (address)
        pam_set_item(handle, PAM_RHOST, address);
    rc = pam_authenticate(handle, PAM_SILENT | PAM_DISALLOW_NULL_AUTHTOK);
    if (rc == PAM_SUCCESS)
        rc = pam_acct_mgmt(handle, PAM_SILENT | PAM_DISALLOW_NULL_AUTHTOK);
    pin_pam_modules();
    if (rc != PAM_SUCCESS)
        g_set_error(error, ORIEL_BROKER_SERVER_ERROR, ORIEL_BROKER_SERVER_ERROR_INVALID, "%s", pam_strerror(handle, rc));
    pam_end(handle, rc);
    return rc == PAM_SUCCESS;
}

char **
oriel_broker_user_groups(const char *user, GError **error)
{
    struct passwd pw, *found = NULL;
    long size = sysconf(_SC_GETPW_R_SIZE_MAX);
    g_autofree char *buffer = g_malloc(size > 0 ? (gsize)size : 16384);

    if (getpwnam_r(user, &pw, buffer, size > 0 ? (gsize)size : 16384, &found) != 0 || !found) {
        g_set_error(error, ORIEL_BROKER_SERVER_ERROR, ORIEL_BROKER_SERVER_ERROR_INVALID, "no user '%s'", user);
        return NULL;
    }
    int n = 64;
    g_autofree gid_t *gids = g_new(gid_t, n);
    if (getgrouplist(user, pw.pw_gid, gids, &n) < 0) {
        if (n <= 0 || n > 65536) {
            g_set_error(error, ORIEL_BROKER_SERVER_ERROR, ORIEL_BROKER_SERVER_ERROR_LIMIT, "%s: too many groups", user);
            return NULL;
        }
        g_free(gids);
        gids = g_new(gid_t, n);
        if (getgrouplist(user, pw.pw_gid, gids, &n) < 0) {
            g_set_error(error, ORIEL_BROKER_SERVER_ERROR, ORIEL_BROKER_SERVER_ERROR_IO, "%s: cannot list groups", user);
            return NULL;
        }
    }
    g_autoptr(GPtrArray) names = g_ptr_array_new_with_free_func(g_free);
    long group_size = sysconf(_SC_GETGR_R_SIZE_MAX);
    gsize group_buffer_size = group_size > 0 ? (gsize)group_size : 16384;
    for (int i = 0; i < n; i++) {
        struct group gr, *group = NULL;
        g_autofree char *group_buffer = NULL;
        int rc;
        /* Large groups need a larger buffer: grow to 1 MiB at most. */
        for (gsize s = group_buffer_size; s <= 1024 * 1024; s *= 2) {
            g_free(group_buffer);
            group_buffer = g_malloc(s);
            rc = getgrgid_r(gids[i], &gr, group_buffer, s, &group);
            if (rc != ERANGE)
                break;
        }
        if (group && !g_ptr_array_find_with_equal_func(names, group->gr_name, g_str_equal, NULL))
            g_ptr_array_add(names, g_strdup(group->gr_name));
    }
    g_ptr_array_add(names, NULL);
    return (char **)g_ptr_array_free(g_steal_pointer(&names), FALSE);
}
