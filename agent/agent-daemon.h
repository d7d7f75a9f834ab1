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
#include <stdint.h>

#include <spice/vd_agent.h>

#define ORIEL_AGENT_PORT_NAME "com.redhat.spice.0"
#define ORIEL_AGENT_DEFAULT_SOCKET "/run/oriel-agent.sock"
#define ORIEL_AGENT_DEFAULT_XFER_DIR "/tmp/oriel-agent-files"

typedef struct OrielAgentSession OrielAgentSession;

/* A window-system backend (agent-x11.c) the daemon runs beside the control
 * socket: the session's clipboard and monitor callbacks reach it, and its
 * connection is part of the poll loop.  Every member but opaque may be
 * NULL. */
typedef struct OrielAgentBackend {
    void *opaque;
    /* The session exists; the backend may call it from now on. */
    int (*start)(void *opaque, OrielAgentSession *session);
    /* The descriptor to poll for input, or -1. */
    int (*fd)(void *opaque);
    /* Called before every poll and after input on fd: handles what is
     * queued, returns how long until it wants to be called anyway (ms),
     * or -1. */
    int (*dispatch)(void *opaque);
    /* As OrielAgentSessionOps. */
    void (*clipboard_data)(void *opaque, uint8_t selection, uint32_t type,
                           const uint8_t *data, size_t len, int status);
    int (*apply_monitors)(void *opaque, const VDAgentMonitorsConfig *config,
                          size_t size);
    void (*client_grab)(void *opaque, uint8_t selection,
                        const uint32_t *types, unsigned n_types);
    void (*guest_request)(void *opaque, uint8_t selection, uint32_t type);
    void (*stop)(void *opaque);
} OrielAgentBackend;

typedef struct OrielAgentDaemonConfig {
    const char *port_path;      /* NULL: find ORIEL_AGENT_PORT_NAME */
    const char *socket_path;
    const char *xfer_dir;       /* NULL: transfers disabled */
    size_t max_clipboard;
    bool audio_volume_sync;
    bool verbose;
    const OrielAgentBackend *backend;   /* NULL: headless */
} OrielAgentDaemonConfig;

/* Runs until SIGTERM/SIGINT; returns 0 or a negative errno. */
int oriel_agent_daemon_run(const OrielAgentDaemonConfig *config);
