/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * One device-model process: a QEMU started from a validated domain config,
 * with its runtime directory (QMP and serial sockets, pidfile, SPICE ticket),
 * its QMP connection and its exit.  Used by `orielctl create -F` directly and
 * by the daemon.
 *
 * Start-up: the runtime dir is created 0700; the SPICE port is checked free
 * (or a free one picked); the ticket is written to a 0600 file that QEMU
 * reads through a secret object, so it never shows in argv; the QMP socket
 * is created and listening before QEMU starts and handed to it as an fd, so
 * connecting needs no retry loop; QEMU runs in its own session, so a Ctrl-C
 * on the terminal reaches orielctl and not QEMU.  Start completes once QMP
 * is negotiated and query-spice confirms SPICE is listening.
 */
#pragma once

#include <gio/gio.h>

#include "dm-user.h"
#include "domain-config.h"
#include "qemu-argv.h"
#include "qmp-client.h"

G_BEGIN_DECLS

typedef struct _OrielDmProcess OrielDmProcess;

/* How QEMU ended, from its wait status and the last SHUTDOWN event. */
typedef enum {
    ORIEL_DM_END_POWEROFF,  /* the guest powered off (or ACPI powerdown) */
    ORIEL_DM_END_REBOOT,    /* the guest rebooted and QEMU was told not to */
    ORIEL_DM_END_QUIT,      /* QEMU was told to quit (QMP quit, host signal) */
    ORIEL_DM_END_CRASH,     /* the guest panicked */
    ORIEL_DM_END_DIED,      /* QEMU exited with an error or was killed */
} OrielDmEnd;

const char *oriel_dm_end_to_string(OrielDmEnd end);

typedef void (*OrielDmExitFunc)(OrielDmProcess *dm, OrielDmEnd end, int wait_status,
                                gpointer user_data);

/* Options of one start beyond the config. */
typedef struct {
    const char *qemu_binary;  /* NULL: $ORIEL_QEMU or qemu-system-x86_64 */
    gboolean die_with_parent; /* QEMU gets SIGTERM when the caller dies (-F) */
} OrielDmStartOptions;

/* The config is copied (through JSON).  Nothing happens until start. */
OrielDmProcess *oriel_dm_process_new(const OrielDomainConfig *config, const char *runtime_dir);
void oriel_dm_process_free(OrielDmProcess *dm);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(OrielDmProcess, oriel_dm_process_free)

/* Where a spicetls_port start finds ca-cert.pem, server-cert.pem and
 * server-key.pem (the daemon's setting); NULL: $ORIEL_SPICE_X509_DIR or
 * CONFIG/pki/spice.  Before start. */
void oriel_dm_process_set_spice_x509_dir(OrielDmProcess *dm, const char *dir);

/* QEMU runs as @user (referenced): the child drops to it before exec, the
 * runtime dir and its files are made reachable to it, and everything QEMU
 * opens by path (images, kernel, firmware, TLS files, /dev/kvm) is checked
 * accessible to it first.  NULL (the default): as this process.  Before
 * start. */
void oriel_dm_process_set_user(OrielDmProcess *dm, OrielDmUser *user);

/* Called once, from the main loop, when QEMU has exited after a successful
 * start. */
void oriel_dm_process_set_exit_func(OrielDmProcess *dm, OrielDmExitFunc func, gpointer user_data);

void oriel_dm_process_start_async(OrielDmProcess *dm, const OrielDmStartOptions *options,
                                  GCancellable *cancellable, GAsyncReadyCallback callback,
                                  gpointer user_data);
gboolean oriel_dm_process_start_finish(OrielDmProcess *dm, GAsyncResult *result, GError **error);

/*
 * Reattaches to a QEMU that an earlier process started from the same
 * runtime dir and that outlived it (QEMU runs in its own session): the
 * pidfile must name a live process whose /proc/PID/cmdline has
 * "guest=NAME", and QMP must answer on RUNTIME_DIR/qmp.sock.  The SPICE
 * port comes from query-spice, the ticket from the runtime dir.  QEMU is not
 * this process's child, so its end is seen through a pidfd; the end reason
 * comes from the last SHUTDOWN event (ORIEL_DM_END_DIED when there was
 * none) and the wait status passed to the exit func is 0.  On failure
 * nothing is touched: not the process, not the runtime dir.
 */
void oriel_dm_process_attach_async(OrielDmProcess *dm, GCancellable *cancellable,
                                   GAsyncReadyCallback callback, gpointer user_data);
gboolean oriel_dm_process_attach_finish(OrielDmProcess *dm, GAsyncResult *result, GError **error);

/* Removes what a QEMU that is gone left in the runtime dir (sockets,
 * pidfile, ticket, log) and the dir when empty; for a failed attach. */
void oriel_dm_process_clean_runtime_dir(OrielDmProcess *dm);

/* TRUE when the pidfile in @runtime_dir names a live QEMU of domain @name. */
gboolean oriel_dm_process_is_running(const char *runtime_dir, const char *name, GPid *ret_pid);

/* Valid after a successful start. */
OrielQmpClient *oriel_dm_process_get_qmp(OrielDmProcess *dm);
GPid oriel_dm_process_get_pid(OrielDmProcess *dm);
OrielAccel oriel_dm_process_get_accel(OrielDmProcess *dm);
guint oriel_dm_process_get_spice_port(OrielDmProcess *dm);
const char *oriel_dm_process_get_spice_host(OrielDmProcess *dm);
/* The ticket a client needs, or NULL when ticketing is off. */
const char *oriel_dm_process_get_spice_password(OrielDmProcess *dm);
/* spice://HOST:PORT, without the ticket. */
char *oriel_dm_process_get_spice_uri(OrielDmProcess *dm);
const char *oriel_dm_process_get_runtime_dir(OrielDmProcess *dm);
const char *oriel_dm_process_get_qemu_version(OrielDmProcess *dm);

/* ACPI power button (QMP system_powerdown). */
void oriel_dm_process_powerdown(OrielDmProcess *dm);
/* QMP quit, or SIGKILL when QMP is gone. */
void oriel_dm_process_quit(OrielDmProcess *dm);
/* SIGKILL. */
void oriel_dm_process_kill(OrielDmProcess *dm);

/* The argv a start would use now, for display: port chosen, paths filled,
 * no file created and no secret in it. */
GStrv oriel_dm_plan_argv(const OrielDomainConfig *config, const char *runtime_dir, GError **error);

G_END_DECLS
