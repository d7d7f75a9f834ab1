/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "dm-user.h"

#include <errno.h>
#include <glib-unix.h>
#include <grp.h>
#include <pwd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "domain-config.h"

#define MAX_GROUPS 256

struct _OrielDmUser {
    char *name;
    uid_t uid;
    gid_t gid;
    gid_t groups[MAX_GROUPS]; /* the primary group among them */
    int n_groups;
};

static void
user_clear(OrielDmUser *user)
{
    g_free(user->name);
}

OrielDmUser *
oriel_dm_user_lookup(const char *name, GError **error)
{
    g_autofree char *buffer = NULL;
    struct passwd entry, *found = NULL;
    long size = sysconf(_SC_GETPW_R_SIZE_MAX);
    int result;

    if (!name || !*name) {
        g_set_error(error, ORIEL_DEVMODEL_ERROR, ORIEL_DEVMODEL_ERROR_INVALID, "no user name");
        return NULL;
    }
    size = size > 0 ? size : 16384;
    buffer = g_malloc(size);
    result = getpwnam_r(name, &entry, buffer, size, &found);
    if (!found) {
        g_set_error(error, ORIEL_DEVMODEL_ERROR, ORIEL_DEVMODEL_ERROR_NOT_FOUND,
                    "user '%s' does not exist%s%s", name, result ? ": " : "", result ? g_strerror(result) : "");
        return NULL;
    }
    if (entry.pw_uid == 0 || entry.pw_gid == 0) {
        g_set_error(error, ORIEL_DEVMODEL_ERROR, ORIEL_DEVMODEL_ERROR_INVALID,
                    "user '%s' has uid %u and gid %u; QEMU must run as an unprivileged user, "
                    "neither root nor in root's group", name, (unsigned)entry.pw_uid, (unsigned)entry.pw_gid);
        return NULL;
    }

    OrielDmUser *user = g_rc_box_new0(OrielDmUser);
    user->name = g_strdup(name);
    user->uid = entry.pw_uid;
    user->gid = entry.pw_gid;
    user->n_groups = MAX_GROUPS;
    if (getgrouplist(name, entry.pw_gid, user->groups, &user->n_groups) < 0) {
        g_set_error(error, ORIEL_DEVMODEL_ERROR, ORIEL_DEVMODEL_ERROR_INVALID,
                    "user '%s' is in more than %d groups", name, MAX_GROUPS);
        oriel_dm_user_unref(user);
        return NULL;
    }
    for (int i = 0; i < user->n_groups; i++) {
        if (user->groups[i] == 0) {
            g_set_error(error, ORIEL_DEVMODEL_ERROR, ORIEL_DEVMODEL_ERROR_INVALID,
                        "user '%s' is in root's group (gid 0); QEMU must run unprivileged", name);
            oriel_dm_user_unref(user);
            return NULL;
        }
    }
    return user;
}

OrielDmUser *
oriel_dm_user_ref(OrielDmUser *user)
{
    return user ? g_rc_box_acquire(user) : NULL;
}

void
oriel_dm_user_unref(OrielDmUser *user)
{
    if (user)
        g_rc_box_release_full(user, (GDestroyNotify)user_clear);
}

const char *
oriel_dm_user_get_name(const OrielDmUser *user)
{
    return user->name;
}

uid_t
oriel_dm_user_get_uid(const OrielDmUser *user)
{
    return user->uid;
}

gid_t
oriel_dm_user_get_gid(const OrielDmUser *user)
{
    return user->gid;
}

int
oriel_dm_user_drop(const OrielDmUser *user)
{
    /* Groups first: after setresuid there is no right left to change them. */
    if (setgroups((size_t)user->n_groups, user->groups) < 0 ||
        setresgid(user->gid, user->gid, user->gid) < 0 ||
        setresuid(user->uid, user->uid, user->uid) < 0)
        return -errno;
    /* Paranoia, as libvirt: no way back to root. */
    if (setuid(0) == 0 || getuid() != user->uid || geteuid() != user->uid || getegid() != user->gid)
        return -EPERM;
    return 0;
}

static const char *
describe_mode(int mode)
{
    if ((mode & (R_OK | W_OK)) == (R_OK | W_OK))
        return "readable and writable";
    if (mode & W_OK)
        return "writable";
    if (mode & R_OK)
        return "readable";
    return "reachable";
}

gboolean
oriel_dm_user_check_access(const OrielDmUser *user, const OrielDmUserAccess *paths, gsize n_paths, GError **error)
{
    int fds[2];
    /* Two ints come back: the failing index (-1: the drop) and its errno. */
    int report[2] = { -2, 0 };

    if (!g_unix_open_pipe(fds, FD_CLOEXEC, error))
        return FALSE;
    pid_t pid = fork();
    if (pid < 0) {
        int saved = errno;
        close(fds[0]);
        close(fds[1]);
        g_set_error(error, ORIEL_DEVMODEL_ERROR, ORIEL_DEVMODEL_ERROR_FAILED, "cannot fork: %s",
                    g_strerror(saved));
        return FALSE;
    }
    if (pid == 0) {
        /* Only async-signal-safe calls from here: the parent has threads. */
        int answer[2] = { -1, 0 };
        int dropped = oriel_dm_user_drop(user);
        if (dropped < 0) {
            answer[1] = -dropped;
        } else {
            for (gsize i = 0; i < n_paths; i++) {
                if (access(paths[i].path, paths[i].mode) < 0) {
                    answer[0] = (int)i;
                    answer[1] = errno;
                    break;
                }
            }
            if (answer[1] == 0)
                answer[0] = -2; /* all reachable */
        }
        ssize_t written = write(fds[1], answer, sizeof(answer));
        _exit(written == (ssize_t)sizeof(answer) ? 0 : 1);
    }
    close(fds[1]);
    ssize_t length;
    do
        length = read(fds[0], report, sizeof(report));
    while (length < 0 && errno == EINTR);
    close(fds[0]);
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    if (length != (ssize_t)sizeof(report) || !WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        g_set_error(error, ORIEL_DEVMODEL_ERROR, ORIEL_DEVMODEL_ERROR_FAILED,
                    "cannot check file access as user '%s': the checking process failed", user->name);
        return FALSE;
    }
    if (report[0] == -2)
        return TRUE;
    if (report[0] == -1) {
        g_set_error(error, ORIEL_DEVMODEL_ERROR, ORIEL_DEVMODEL_ERROR_FAILED,
                    "cannot switch to user '%s' (uid %u): %s", user->name, (unsigned)user->uid,
                    g_strerror(report[1]));
        return FALSE;
    }
    if (report[0] < 0 || (gsize)report[0] >= n_paths) {
        g_set_error(error, ORIEL_DEVMODEL_ERROR, ORIEL_DEVMODEL_ERROR_FAILED, "cannot check file access as user '%s'",
                    user->name);
        return FALSE;
    }
    const OrielDmUserAccess *failed = &paths[report[0]];
    g_set_error(error, ORIEL_DEVMODEL_ERROR, ORIEL_DEVMODEL_ERROR_FAILED,
                "%s: %s is not %s by user '%s' (uid %u), which QEMU runs as: %s", failed->what, failed->path,
                describe_mode(failed->mode), user->name, (unsigned)user->uid, g_strerror(report[1]));
    return FALSE;
}
