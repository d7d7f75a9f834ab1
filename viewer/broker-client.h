/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The viewer's HTTPS client of oriel-broker (libsoup 3).  Calls are
 * synchronous, bounded by a timeout: the viewer's reconnect hook is
 * synchronous, and a login is one round trip.  Errors are
 * ORIEL_BROKER_ERROR (broker-proto.h).
 */
#pragma once

#include "broker-proto.h"
#include "oriel-viewer.h"

G_BEGIN_DECLS

typedef struct _OrielBrokerClient OrielBrokerClient;

/* @url: https://HOST[:PORT]; @ca_file: PEM CAs to trust instead of the
 * system's, or NULL. */
OrielBrokerClient *oriel_broker_client_new(const char *url, const char *ca_file, GError **error);
void oriel_broker_client_free(OrielBrokerClient *client);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(OrielBrokerClient, oriel_broker_client_free)

const char *oriel_broker_client_get_url(OrielBrokerClient *client);

/* Logs in; the token is kept for the calls below. */
gboolean oriel_broker_client_login(OrielBrokerClient *client, const char *user, const char *password,
                                   GError **error);
gboolean oriel_broker_client_is_logged_in(OrielBrokerClient *client);
/* The logged-in user's name, as the broker gave it, or NULL. */
const char *oriel_broker_client_get_user(OrielBrokerClient *client);

/* The pools this user may use, as OrielBrokerPool *. */
GPtrArray *oriel_broker_client_list(OrielBrokerClient *client, GError **error);

/* A desktop of @pool with a fresh one-time ticket, from the broker's .vv. */
OrielViewerConnection *oriel_broker_client_connect(OrielBrokerClient *client, const char *pool, GError **error);

/* Ends the broker session (best effort) and forgets the token. */
void oriel_broker_client_logout(OrielBrokerClient *client);

G_END_DECLS
