/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Thin-client mode: `oriel-viewer --broker https://HOST:PORT [--kiosk]`.
 * A login window (user, password, an error line), the user's pools when
 * there is more than one, then the desktop with a one-time ticket from the
 * broker.  A dropped session is reconnected with a fresh ticket (POST
 * connect again); when the broker ends the session (logout elsewhere,
 * expiry, the pool is gone) or the session ends for good, the viewer logs
 * out and, in kiosk mode, shows the login window again instead of exiting.
 */
#pragma once

#include "viewer-app.h"

typedef struct {
    char *url;            /* --broker */
    char *ca_file;        /* --broker-ca */
    char *pool;           /* --broker-pool: skip the choice */
    char *user;           /* --broker-user, with --broker-password-file: no window */
    char *password_file;
} OrielBrokerUiOptions;

void oriel_broker_ui_options_clear(OrielBrokerUiOptions *broker);

/* Runs until the user quits (or, automated, the one session ends); returns
 * an OrielViewerExit. */
int oriel_viewer_broker_run(OrielViewerOptions *options, const OrielBrokerUiOptions *broker);
