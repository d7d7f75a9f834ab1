/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The daemon object: its dirs, the single-instance lock, start-up order. */
#include "hv-priv.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <grp.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

OrielHv *
oriel_hv_new(OrielMode mode)
{
    OrielHv *hv = g_new0(OrielHv, 1);

    hv->mode = mode;
    hv->config_dir = oriel_paths_config_dir(mode);
    hv->domains_config_dir = g_build_filename(hv->config_dir, "domains", NULL);
    hv->runtime_dir = oriel_paths_runtime_dir(mode);
    hv->domains_runtime_dir = g_build_filename(hv->runtime_dir, "domains", NULL);
    hv->socket_path = g_build_filename(hv->runtime_dir, "orield.sock", NULL);
    hv->lock_path = g_build_filename(hv->runtime_dir, "orield.lock", NULL);
    hv->lock_fd = -1;
    hv->next_domid = 1;
    hv->domains = g_hash_table_new_full(g_str_hash, g_str_equal, NULL, (GDestroyNotify)oriel_hv_domain_free);
    hv->cancellable = g_cancellable_new();
    struct group *group = mode == ORIEL_MODE_SYSTEM ? getgrnam("oriel") : NULL;
    if (group) {
        hv->oriel_group_known = TRUE;
        hv->oriel_gid = group->gr_gid;
    }
    return hv;
}

void
oriel_hv_free(OrielHv *hv)
{
    if (!hv)
        return;
    g_cancellable_cancel(hv->cancellable);
    oriel_hv_server_close(hv);
    g_hash_table_destroy(hv->domains);
    if (hv->lock_fd >= 0)
        close(hv->lock_fd); /* releases the lock; the file stays for the next daemon */
    g_clear_object(&hv->cancellable);
    oriel_dm_user_unref(hv->qemu_user);
    g_free(hv->qemu_version);
    g_free(hv->spice_x509_dir);
    g_free(hv->spice_subject);
    g_free(hv->spice_subject_path);
    g_free(hv->config_dir);
    g_free(hv->domains_config_dir);
    g_free(hv->runtime_dir);
    g_free(hv->domains_runtime_dir);
    g_free(hv->socket_path);
    g_free(hv->lock_path);
    g_free(hv);
}

const char *
oriel_hv_get_socket_path(OrielHv *hv)
{
    return hv->socket_path;
}

static gboolean
make_dir(const char *path, GError **error)
{
    if (g_mkdir_with_parents(path, 0700) < 0) {
        g_set_error(error, ORIEL_HV_ERROR, ORIEL_HV_ERROR_GENERIC, "cannot create %s: %s", path,
                    g_strerror(errno));
        return FALSE;
    }
    return TRUE;
}

static gboolean
take_lock(OrielHv *hv, GError **error)
{
    int fd = g_open(hv->lock_path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);

    if (fd < 0) {
        g_set_error(error, ORIEL_HV_ERROR, ORIEL_HV_ERROR_GENERIC, "cannot open %s: %s", hv->lock_path,
                    g_strerror(errno));
        return FALSE;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
        int saved = errno;
        char pid[32] = "";
        ssize_t length = pread(fd, pid, sizeof(pid) - 1, 0);
        close(fd);
        if (saved == EWOULDBLOCK) {
            g_strchomp(pid);
            g_set_error(error, ORIEL_HV_ERROR, ORIEL_HV_ERROR_EXISTS,
                        "another orield already serves %s%s%s%s", hv->runtime_dir,
                        length > 0 ? " (pid " : "", length > 0 ? pid : "", length > 0 ? ")" : "");
        } else {
            g_set_error(error, ORIEL_HV_ERROR, ORIEL_HV_ERROR_GENERIC, "cannot lock %s: %s", hv->lock_path,
                        g_strerror(saved));
        }
        return FALSE;
    }
    g_autofree char *pid = g_strdup_printf("%d\n", (int)getpid());
    if (ftruncate(fd, 0) < 0 || pwrite(fd, pid, strlen(pid), 0) < 0)
        g_debug("cannot write the pid into %s: %s", hv->lock_path, g_strerror(errno));
    hv->lock_fd = fd;
    return TRUE;
}

void
oriel_hv_set_spice_x509_dir(OrielHv *hv, const char *dir)
{
    g_free(hv->spice_x509_dir);
    hv->spice_x509_dir = dir ? g_canonicalize_filename(dir, NULL) : NULL;
}

static gboolean
set_default_x509_dir(OrielHv *hv)
{
    if (!hv->spice_x509_dir) {
        const char *forced = g_getenv("ORIEL_SPICE_X509_DIR");
        g_autofree char *fallback = forced ? g_strdup(forced) : g_build_filename(hv->config_dir, "pki", "spice", NULL);
        oriel_hv_set_spice_x509_dir(hv, fallback);
    }
    return TRUE;
}

/* CONFIG/orield.conf: the daemon's own settings, a key file with one
 * [orield] group.  Absent is fine; unknown keys are errors, so a typo does
 * not silently leave TLS unconfigured. */
static gboolean
load_daemon_config(OrielHv *hv, GError **error)
{
    g_autofree char *path = g_build_filename(hv->config_dir, "orield.conf", NULL);
    g_autoptr(GKeyFile) keyfile = g_key_file_new();
    g_autoptr(GError) local_error = NULL;

    if (!g_key_file_load_from_file(keyfile, path, G_KEY_FILE_NONE, &local_error)) {
        if (g_error_matches(local_error, G_FILE_ERROR, G_FILE_ERROR_NOENT))
            return oriel_hv_qemu_user_setup(hv, NULL, path, error) && set_default_x509_dir(hv);
        g_set_error(error, ORIEL_HV_ERROR, ORIEL_HV_ERROR_GENERIC, "%s: %s", path, local_error->message);
        return FALSE;
    }
    g_auto(GStrv) groups = g_key_file_get_groups(keyfile, NULL);
    for (gsize i = 0; groups[i]; i++) {
        if (!g_str_equal(groups[i], "orield")) {
            g_set_error(error, ORIEL_HV_ERROR, ORIEL_HV_ERROR_GENERIC, "%s: unknown group [%s]", path, groups[i]);
            return FALSE;
        }
    }
    g_auto(GStrv) keys = g_key_file_get_keys(keyfile, "orield", NULL, NULL);
    for (gsize i = 0; keys && keys[i]; i++) {
        if (!g_str_equal(keys[i], "spice_x509_dir") && !g_str_equal(keys[i], "qemu_user")) {
            g_set_error(error, ORIEL_HV_ERROR, ORIEL_HV_ERROR_GENERIC, "%s: unknown key '%s' in [orield]", path,
                        keys[i]);
            return FALSE;
        }
    }
    g_autofree char *dir = g_key_file_get_string(keyfile, "orield", "spice_x509_dir", NULL);
    if (dir && !hv->spice_x509_dir) {
        if (!g_path_is_absolute(dir)) {
            g_set_error(error, ORIEL_HV_ERROR, ORIEL_HV_ERROR_GENERIC,
                        "%s: spice_x509_dir: '%s' is not an absolute path", path, dir);
            return FALSE;
        }
        oriel_hv_set_spice_x509_dir(hv, dir);
    }
    g_autofree char *qemu_user = g_key_file_get_string(keyfile, "orield", "qemu_user", NULL);
    return oriel_hv_qemu_user_setup(hv, qemu_user, path, error) && set_default_x509_dir(hv);
}

static void
on_qemu_version(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autofree char *out = NULL;
    g_autoptr(GError) error = NULL;

    if (!g_subprocess_communicate_utf8_finish(G_SUBPROCESS(source), result, &out, NULL, &error)) {
        if (!g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
            g_debug("qemu --version: %s", error->message);
        return;
    }
    OrielHv *hv = user_data;
    /* "QEMU emulator version 7.2.22 (Debian ...)" */
    const char *version = out ? strstr(out, "version ") : NULL;
    if (version) {
        version += strlen("version ");
        hv->qemu_version = g_strndup(version, strcspn(version, " \n"));
    }
}

static void
probe_qemu_version(OrielHv *hv)
{
    const char *qemu = g_getenv("ORIEL_QEMU");
    g_autoptr(GError) error = NULL;
    g_autoptr(GSubprocess) process = g_subprocess_new(G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_SILENCE,
                                                      &error, qemu ? qemu : "qemu-system-x86_64", "--version", NULL);
    if (!process) {
        g_debug("cannot ask QEMU its version: %s", error->message);
        return;
    }
    g_subprocess_communicate_utf8_async(process, NULL, hv->cancellable, on_qemu_version, hv);
}

gboolean
oriel_hv_start(OrielHv *hv, GError **error)
{
    if (!load_daemon_config(hv, error))
        return FALSE;
    if (!make_dir(hv->runtime_dir, error) || !take_lock(hv, error) || !make_dir(hv->domains_runtime_dir, error) ||
        !make_dir(hv->domains_config_dir, error) || !oriel_hv_qemu_user_prepare(hv, error) ||
        !oriel_hv_load_store(hv, error))
        return FALSE;
    oriel_hv_recover(hv);
    if (!oriel_hv_server_listen(hv, error))
        return FALSE;
    probe_qemu_version(hv);
    return TRUE;
}
