/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The asynchronous QMP client: speaks QMP to one QEMU over a connected
 * GIOStream (normally the GSocketConnection of QEMU's QMP Unix socket),
 * on the thread-default GMainContext of the thread that created it.
 * Reads and writes are asynchronous and never block that loop; the bytes go
 * through OrielQmpCodec (qmp-codec.h), which bounds what QEMU may send.
 *
 * Lifecycle:
 *   client = oriel_qmp_client_new(stream);
 *   oriel_qmp_client_handshake_async(client, ...);   greeting + qmp_capabilities
 *   oriel_qmp_client_execute_async(client, "query-status", NULL, 5000, ...);
 *   ...
 *   oriel_qmp_client_close(client);
 *
 * Replies are matched to commands by "id".  A command fails with
 *   - ORIEL_QMP_ERROR_GENERIC_ERROR .. _KVM_MISSING_CAP (or _UNKNOWN_CLASS)
 *     when QEMU answers with an error; the message is QEMU's "desc";
 *   - ORIEL_QMP_ERROR_TIMEOUT when no reply came within its timeout (a late
 *     reply is then dropped);
 *   - G_IO_ERROR_CANCELLED when its cancellable fires (likewise);
 *   - ORIEL_QMP_ERROR_DISCONNECTED when the connection ends first.  When
 *     QEMU closes the socket, the read fails, or QEMU sends something that
 *     is not QMP, every pending command fails at once, "closed" is emitted
 *     once, and every later command fails the same way.
 *
 * Signals:
 *   "event"  (OrielQmpClient *client, const char *name, JsonObject *data,
 *             gint64 timestamp_us, gpointer user_data)
 *       Every QMP event QEMU sends (SHUTDOWN, RESET, STOP, RESUME,
 *       SPICE_CONNECTED, SPICE_INITIALIZED, SPICE_DISCONNECTED,
 *       DEVICE_DELETED, ...).  Detailed by the event name, so
 *       "event::SHUTDOWN" sees only SHUTDOWN.  @name and @data are borrowed
 *       for the duration of the emission (json_object_ref() to keep @data);
 *       @data is never NULL (empty when QEMU sent none); @timestamp_us is
 *       QEMU's timestamp in microseconds since the epoch, or -1.
 *   "closed" (OrielQmpClient *client, GError *reason, gpointer user_data)
 *       Emitted exactly once when the connection ends, for whatever reason
 *       (including oriel_qmp_client_close()).  @reason is borrowed; it is
 *       ORIEL_QMP_ERROR_DISCONNECTED ("QEMU closed the QMP connection" on
 *       EOF) or ORIEL_QMP_ERROR_PROTOCOL when QEMU sent garbage.
 *
 * Ownership: the client takes a reference on the stream and closes it when
 * the connection ends.  While connected, the pending read keeps the client
 * alive; oriel_qmp_client_close() (or QEMU going away) releases it.
 */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>

#include "qmp-codec.h"

G_BEGIN_DECLS

#define ORIEL_TYPE_QMP_CLIENT (oriel_qmp_client_get_type())
G_DECLARE_FINAL_TYPE(OrielQmpClient, oriel_qmp_client, ORIEL, QMP_CLIENT, GObject)

/* @stream: a connected stream to QEMU's QMP monitor; referenced. */
OrielQmpClient *oriel_qmp_client_new(GIOStream *stream);

/*
 * Waits for QEMU's greeting and negotiates capabilities (no OOB).  Must be
 * called once, before any oriel_qmp_client_execute_async().  Cancelling it
 * closes the client.  Use a cancellable (or a timer cancelling one) to bound
 * how long a silent peer is waited for.
 */
void oriel_qmp_client_handshake_async(OrielQmpClient *client,
                                      GCancellable *cancellable,
                                      GAsyncReadyCallback callback,
                                      gpointer user_data);
gboolean oriel_qmp_client_handshake_finish(OrielQmpClient *client,
                                           GAsyncResult *result,
                                           GError **error);

/* QEMU's version from the greeting, "7.2.22"; NULL before the greeting or
 * when it did not say.  Owned by the client. */
const char *oriel_qmp_client_get_qemu_version(OrielQmpClient *client);

/*
 * Sends @command with @arguments (may be NULL; borrowed, not consumed: it
 * is serialised before this returns).  @timeout_ms 0 means no timeout.
 * Fails with G_IO_ERROR_NOT_INITIALIZED before the handshake completed.
 */
void oriel_qmp_client_execute_async(OrielQmpClient *client,
                                    const char *command,
                                    JsonObject *arguments,
                                    guint timeout_ms,
                                    GCancellable *cancellable,
                                    GAsyncReadyCallback callback,
                                    gpointer user_data);
/* Returns the reply's "return" member (any JSON type; transfer full, free
 * with json_node_unref()), or NULL with @error set. */
JsonNode *oriel_qmp_client_execute_finish(OrielQmpClient *client,
                                          GAsyncResult *result,
                                          GError **error);

/* Ends the connection: pending commands fail with
 * ORIEL_QMP_ERROR_DISCONNECTED and "closed" is emitted, unless that already
 * happened.  Idempotent. */
void oriel_qmp_client_close(OrielQmpClient *client);

gboolean oriel_qmp_client_is_closed(OrielQmpClient *client);

G_END_DECLS
