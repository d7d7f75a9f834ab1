/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The unprivileged user a QEMU started by root runs as (libvirt's qemu.conf
 * `user`): looked up once, with its primary group and its supplementary
 * groups (kvm, say), and dropped to in the child between fork and exec, so
 * QEMU never runs an instruction as root.  -sandbox on stays: it forbids
 * QEMU to change user again.
 */
#pragma once

#include <glib.h>
#include <sys/types.h>

G_BEGIN_DECLS

typedef struct _OrielDmUser OrielDmUser;

/* One path the user must reach after the drop, with access(2)'s mode
 * (R_OK, W_OK, X_OK) and what it is, for the error ("disk xvda"). */
typedef struct {
    const char *path;
    int mode;
    const char *what;
} OrielDmUserAccess;

/* Fails for an unknown user, and for uid 0 or gid 0: a QEMU with root's
 * user or group is not unprivileged. */
OrielDmUser *oriel_dm_user_lookup(const char *name, GError **error);
OrielDmUser *oriel_dm_user_ref(OrielDmUser *user);
void oriel_dm_user_unref(OrielDmUser *user);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(OrielDmUser, oriel_dm_user_unref)

const char *oriel_dm_user_get_name(const OrielDmUser *user);
uid_t oriel_dm_user_get_uid(const OrielDmUser *user);
gid_t oriel_dm_user_get_gid(const OrielDmUser *user);

/* setgroups, setresgid, setresuid: for a child between fork and exec
 * (async-signal-safe).  0, or a negative errno. */
int oriel_dm_user_drop(const OrielDmUser *user);

/*
 * Whether the user can reach each path with its mode: a child process drops
 * to the user and asks access(2), so permission bits, ACLs, supplementary
 * groups and every parent directory count as they will for QEMU.  The
 * first path it cannot reach fails with a message naming the user.
 */
gboolean oriel_dm_user_check_access(const OrielDmUser *user, const OrielDmUserAccess *paths, gsize n_paths,
                                    GError **error);

G_END_DECLS
