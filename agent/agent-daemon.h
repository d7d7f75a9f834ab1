/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The oriel-agent daemon (headless backend): owns the virtio-serial port
 * and the control socket guest programs use, and the control protocol
 * both sides speak.
 *
 * Control protocol, one request per connection:
 *   "get SELECTION TYPE [WAIT_MS]\n"  -> "ok LEN\n" DATA | "error TEXT\n"
 *   "set SELECTION TYPE LEN\n" DATA   -> "ok 0\n" | "error TEXT\n"
 *   "release SELECTION\n"             -> "ok 0\n"
 *   "status\n"                        -> "ok LEN\n" TEXT
 * SELECTION and TYPE are the numbers of <spice/vd_agent.h>.  With WAIT_MS,
 * a get that finds nothing offered waits that long for a grab.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>

#define ORIEL_AGENT_PORT_NAME "com.redhat.spice.0"
#define ORIEL_AGENT_DEFAULT_SOCKET "/run/oriel-agent.sock"
#define ORIEL_AGENT_DEFAULT_XFER_DIR "/tmp/oriel-agent-files"

typedef struct OrielAgentDaemonConfig {
    const char *port_path;      /* NULL: find ORIEL_AGENT_PORT_NAME */
    const char *socket_path;
    const char *xfer_dir;       /* NULL: transfers disabled */
    size_t max_clipboard;
    bool audio_volume_sync;
    bool verbose;
} OrielAgentDaemonConfig;

/* Runs until SIGTERM/SIGINT; returns 0 or a negative errno. */
int oriel_agent_daemon_run(const OrielAgentDaemonConfig *config);
