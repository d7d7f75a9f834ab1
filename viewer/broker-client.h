/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The viewer's HTTPS client of oriel-broker (libsoup 3).  Every call is
 * asynchronous, on the thread-default main context of its start (the GTK
 * main loop): the login window stays live while the broker takes its time
 * (PAM's failure delay, a desktop being started, a network stall).  Each
 * call takes a GCancellable and is bounded by a timeout.  Only one call of
 * a kind (login, list, connect) runs at a time: starting another fails
 * with G_IO_ERROR_PENDING (logouts may overlap: each ends its own
 * session).  Errors are ORIEL_BROKER_ERROR
 * (broker-proto.h), or G_IO_ERROR_CANCELLED.
 */
#pragma once

#include "broker-proto.h"
#include "oriel-viewer.h"

#include <gio/gio.h>

G_BEGIN_DECLS

typedef struct _OrielBrokerClient OrielBrokerClient;

/* @url: https://HOST[:PORT]; @ca_file: PEM CAs to trust instead of the
 * system's, or NULL. */
OrielBrokerClient *oriel_broker_client_new(const char *url, const char *ca_file, GError **error);
/* Waits (iterating the main context) for the calls still running, so
 * that a logout just started reaches the broker. */
void oriel_broker_client_free(OrielBrokerClient *client);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(OrielBrokerClient, oriel_broker_client_free)

const char *oriel_broker_client_get_url(OrielBrokerClient *client);

/* Logs in; the token is kept for the calls below.  A login cancelled
 * after the broker answered still leaves the client logged in: check
 * oriel_broker_client_is_logged_in() and log out. */
void oriel_broker_client_login_async(OrielBrokerClient *client, const char *user, const char *password,
                                     GCancellable *cancellable, GAsyncReadyCallback callback,
                                     gpointer user_data);
gboolean oriel_broker_client_login_finish(OrielBrokerClient *client, GAsyncResult *result, GError **error);
gboolean oriel_broker_client_is_logged_in(OrielBrokerClient *client);
/* The logged-in user's name, as the broker gave it, or NULL. */
const char *oriel_broker_client_get_user(OrielBrokerClient *client);

/* The pools this user may use, as OrielBrokerPool *. */
void oriel_broker_client_list_async(OrielBrokerClient *client, GCancellable *cancellable,
                                    GAsyncReadyCallback callback, gpointer user_data);
GPtrArray *oriel_broker_client_list_finish(OrielBrokerClient *client, GAsyncResult *result, GError **error);

/* A desktop of @pool with a fresh one-time ticket, from the broker's .vv. */
void oriel_broker_client_connect_async(OrielBrokerClient *client, const char *pool, GCancellable *cancellable,
                                       GAsyncReadyCallback callback, gpointer user_data);
OrielViewerConnection *oriel_broker_client_connect_finish(OrielBrokerClient *client, GAsyncResult *result,
                                                          GError **error);

/* Ends the broker session (best effort).  The token is forgotten at once,
 * so a new login may start while the logout runs.  @callback may be NULL. */
void oriel_broker_client_logout_async(OrielBrokerClient *client, GCancellable *cancellable,
                                      GAsyncReadyCallback callback, gpointer user_data);
void oriel_broker_client_logout_finish(OrielBrokerClient *client, GAsyncResult *result);

G_END_DECLS
