/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The user system-mode QEMUs run as (orield.conf `qemu_user`, libvirt's
 * qemu.conf `user`).  Only root can change user, so only a system-mode
 * daemon running as root uses it; a session daemon's QEMUs run as its user.
 *
 * QEMU drops to it before exec (dm-process.c).  What it must reach is made
 * reachable here: RUNTIME and RUNTIME/domains may be entered (not listed) by
 * others, each domain's dir belongs to the user's group (dm-process.c), the
 * USB disk helpers' sockets too; the SPICE TLS files must be readable by it,
 * checked at start-up.
 */
#include "hv-priv.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <sys/stat.h>
#include <unistd.h>

#define QEMU_USER_DEFAULT "oriel-qemu"

/* `qemu_user = "name"` as in the docs, or without the quotes. */
static char *
unquote(const char *value)
{
    gsize length = strlen(value);

    if (length >= 2 && value[0] == '"' && value[length - 1] == '"')
        return g_strndup(value + 1, length - 2);
    return g_strdup(value);
}

gboolean
oriel_hv_qemu_user_setup(OrielHv *hv, const char *configured, const char *config_path, GError **error)
{
    g_autofree char *name = configured ? unquote(configured) : NULL;
    const char *forced = g_getenv("ORIEL_QEMU_USER");
    g_autoptr(GError) local_error = NULL;

    if (hv->mode != ORIEL_MODE_SYSTEM || geteuid() != 0) {
        if (name)
            g_debug("qemu_user '%s' is not used: orield is not root in system mode", name);
        return TRUE;
    }
    if (!name && forced && !*forced) {
        /* Tests and development only: an empty ORIEL_QEMU_USER keeps QEMU
         * as root.  orield.conf cannot say so. */
        g_message("ORIEL_QEMU_USER is empty: QEMU runs as root");
        return TRUE;
    }
    if (!name)
        name = g_strdup(forced ? forced : QEMU_USER_DEFAULT);

    const char *where = configured ? config_path : forced ? "ORIEL_QEMU_USER" : "qemu_user (default)";
    if (!*name || g_str_equal(name, "root")) {
        g_set_error(error, ORIEL_HV_ERROR, ORIEL_HV_ERROR_GENERIC,
                    "%s: qemu_user = \"%s\": QEMU must run as an unprivileged user, not root; "
                    "create one (useradd --system --no-create-home --shell /usr/sbin/nologin %s) "
                    "and name it", where, name, QEMU_USER_DEFAULT);
        return FALSE;
    }
    hv->qemu_user = oriel_dm_user_lookup(name, &local_error);
    if (!hv->qemu_user) {
        if (g_error_matches(local_error, ORIEL_DEVMODEL_ERROR, ORIEL_DEVMODEL_ERROR_NOT_FOUND))
            g_set_error(error, ORIEL_HV_ERROR, ORIEL_HV_ERROR_GENERIC,
                        "%s: qemu_user: %s; system-mode QEMUs run as it: create it with "
                        "useradd --system --no-create-home --shell /usr/sbin/nologin %s", where,
                        local_error->message, name);
        else
            g_set_error(error, ORIEL_HV_ERROR, ORIEL_HV_ERROR_GENERIC, "%s: qemu_user: %s", where,
                        local_error->message);
        return FALSE;
    }
    g_debug("QEMUs run as %s (uid %u, gid %u)", name, (unsigned)oriel_dm_user_get_uid(hv->qemu_user),
            (unsigned)oriel_dm_user_get_gid(hv->qemu_user));
    return TRUE;
}

/* Others may enter (x), not list: QEMU passes through to its domain's dir. */
static gboolean
make_enterable(const char *dir, GError **error)
{
    struct stat st;

    if (g_stat(dir, &st) < 0 || ((st.st_mode & 0011) != 0011 && g_chmod(dir, (st.st_mode & 07777) | 0011) < 0)) {
        g_set_error(error, ORIEL_HV_ERROR, ORIEL_HV_ERROR_GENERIC, "cannot let QEMU's user enter %s: %s", dir,
                    g_strerror(errno));
        return FALSE;
    }
    return TRUE;
}

gboolean
oriel_hv_qemu_user_prepare(OrielHv *hv, GError **error)
{
    static const char *const x509_names[] = { "ca-cert.pem", "server-cert.pem", "server-key.pem" };

    if (!hv->qemu_user)
        return TRUE;
    if (!make_enterable(hv->runtime_dir, error) || !make_enterable(hv->domains_runtime_dir, error))
        return FALSE;

    /* TLS files QEMU could not read would fail every spicetls_port start
     * later, with QEMU's less helpful message: say it now. */
    g_autoptr(GPtrArray) owned = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GArray) paths = g_array_new(FALSE, FALSE, sizeof(OrielDmUserAccess));
    for (gsize i = 0; hv->spice_x509_dir && i < G_N_ELEMENTS(x509_names); i++) {
        char *path = g_build_filename(hv->spice_x509_dir, x509_names[i], NULL);
        g_ptr_array_add(owned, path);
        if (g_file_test(path, G_FILE_TEST_EXISTS)) {
            OrielDmUserAccess access = { .path = path, .mode = R_OK, .what = "spice_x509_dir" };
            g_array_append_val(paths, access);
        }
    }
    g_autoptr(GError) local_error = NULL;
    if (paths->len > 0 &&
        !oriel_dm_user_check_access(hv->qemu_user, (const OrielDmUserAccess *)(void *)paths->data, paths->len,
                                    &local_error)) {
        g_set_error(error, ORIEL_HV_ERROR, ORIEL_HV_ERROR_GENERIC,
                    "%s (give the files to its group, e.g. chgrp %s FILE && chmod 0640 FILE)", local_error->message,
                    oriel_dm_user_get_name(hv->qemu_user));
        return FALSE;
    }
    return TRUE;
}

void
oriel_hv_qemu_user_share_socket(OrielHv *hv, const char *path)
{
    if (!hv->qemu_user)
        return;
    /* Connecting to a Unix socket takes write permission on it. */
    if (chown(path, (uid_t)-1, oriel_dm_user_get_gid(hv->qemu_user)) < 0 || g_chmod(path, 0660) < 0)
        g_message("cannot let QEMU's user connect to %s: %s", path, g_strerror(errno));
}
