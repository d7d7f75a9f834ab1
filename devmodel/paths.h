/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Where Oriel keeps things, chosen like libvirt's qemu:///system and
 * qemu:///session: root gets /etc/oriel, /var/lib/oriel and /run/oriel; any
 * other user the XDG config, data and runtime dirs.  ORIEL_CONFIG_DIR,
 * ORIEL_STATE_DIR and ORIEL_RUNTIME_DIR override them (tests).
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef enum {
    ORIEL_MODE_SYSTEM,
    ORIEL_MODE_SESSION,
} OrielMode;

/* System mode for root, session mode for everyone else. */
OrielMode oriel_mode_default(void);

/* Each returns a newly allocated path; nothing is created. */
char *oriel_paths_config_dir(OrielMode mode);
char *oriel_paths_state_dir(OrielMode mode);
char *oriel_paths_runtime_dir(OrielMode mode);

/* RUNTIME/domains/NAME: sockets, pidfile and secrets of one running domain. */
char *oriel_paths_domain_runtime_dir(OrielMode mode, const char *name);

G_END_DECLS
