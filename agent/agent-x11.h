/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * oriel-agent's X11 backend (oriel-agent-x11, a dynamically linked build
 * for desktop guests; the static oriel-agent stays headless): the X
 * server's CLIPBOARD and PRIMARY selections are the guest's clipboard, and
 * MONITORS_CONFIG is applied with XRandR.
 */
#pragma once

#include "agent-daemon.h"

/* At most this many bytes in one clipboard, either way. */
typedef struct OrielAgentX11Config {
    const char *display;        /* NULL: $DISPLAY */
    size_t max_clipboard;
    /* Data at least this large goes to X clients with INCR (0: 256 KiB,
     * or less when the server's request size is smaller). */
    size_t incr_threshold;
    bool verbose;
} OrielAgentX11Config;

/* Opens the display and checks for XFIXES; *ret_backend is for
 * OrielAgentDaemonConfig.backend and freed with oriel_agent_x11_free(). */
int oriel_agent_x11_new(const OrielAgentX11Config *config,
                        OrielAgentBackend **ret_backend);
void oriel_agent_x11_free(OrielAgentBackend *backend);
