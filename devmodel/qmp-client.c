/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The asynchronous QMP client: a thin GIO adapter around OrielQmpCodec.
 * Pending commands live in an id -> command table that is failed as a whole
 * when the connection ends, as in spice-gtk's src/qmp-port.c.
 */
#include "qmp-client.h"

#include <string.h>

#define READ_CHUNK 16384

typedef enum {
    STATE_NEW,          /* created, handshake not started */
    STATE_GREETING,     /* waiting for QEMU's greeting */
    STATE_CAPABILITIES, /* qmp_capabilities sent */
    STATE_READY,
    STATE_CLOSED,
} ClientState;

struct _OrielQmpClient {
    GObject parent_instance;

    GIOStream *stream;
    GMainContext *context;
    GCancellable *io_cancellable; /* cancelled when the connection ends */
    OrielQmpCodec *codec;
    ClientState state;
    GError *close_reason;

    gboolean reading;
    gboolean writing;
    gboolean stream_closed;
    char read_buffer[READ_CHUNK];
    GQueue write_queue; /* GBytes, oldest first */
    GBytes *write_current;

    GHashTable *pending; /* gint64 *id -> PendingCommand, owns the values */
    gint64 next_id;

    GTask *handshake_task;
    GSource *handshake_cancel_source;
    char *qemu_version;
};

G_DEFINE_TYPE(OrielQmpClient, oriel_qmp_client, G_TYPE_OBJECT)

enum {
    SIGNAL_EVENT,
    SIGNAL_CLOSED,
    N_SIGNALS,
};
static guint signals[N_SIGNALS];

typedef struct {
    /* Not first: GHashTable treats key == value as a set, and GLib 2.74's
     * g_hash_table_steal_extended() then hands back a NULL value. */
    char *command;
    gint64 id; /* the table's key points here */
    guint timeout_ms;
    OrielQmpClient *client; /* not a reference: the task holds one */
    GTask *task;
    GSource *timeout_source;
    GSource *cancel_source;
} PendingCommand;

static void
pending_command_free(PendingCommand *pending)
{
    if (!pending)
        return;
    if (pending->timeout_source) {
        g_source_destroy(pending->timeout_source);
        g_source_unref(pending->timeout_source);
    }
    if (pending->cancel_source) {
        g_source_destroy(pending->cancel_source);
        g_source_unref(pending->cancel_source);
    }
    g_clear_object(&pending->task);
    g_free(pending->command);
    g_free(pending);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(PendingCommand, pending_command_free)

/* Removes the command from the table; the caller then completes it. */
static PendingCommand *
steal_pending(OrielQmpClient *self, gint64 id)
{
    gpointer key = NULL, value = NULL;
    if (!g_hash_table_steal_extended(self->pending, &id, &key, &value))
        return NULL;
    return value;
}

static void client_close_with_error(OrielQmpClient *self, GError *reason);

/* ---- stream ---- */

static void
on_stream_closed(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(GError) error = NULL;
    if (!g_io_stream_close_finish(G_IO_STREAM(source), result, &error))
        g_debug("closing the QMP stream: %s", error->message);
}

/* Closes the stream once nothing is in flight on it any more. */
static void
maybe_close_stream(OrielQmpClient *self)
{
    if (self->state != STATE_CLOSED || self->reading || self->writing || self->stream_closed)
        return;
    self->stream_closed = TRUE;
    /* The pending operation holds the stream, not the client. */
    g_io_stream_close_async(self->stream, G_PRIORITY_DEFAULT, NULL, on_stream_closed, NULL);
}

static void start_write(OrielQmpClient *self);

static void
on_write_done(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(OrielQmpClient) self = user_data;
    g_autoptr(GError) error = NULL;

    self->writing = FALSE;
    g_clear_pointer(&self->write_current, g_bytes_unref);
    if (!g_output_stream_write_all_finish(G_OUTPUT_STREAM(source), result, NULL, &error)) {
        if (self->state != STATE_CLOSED)
            client_close_with_error(self, g_error_new(ORIEL_QMP_ERROR, ORIEL_QMP_ERROR_DISCONNECTED,
                                                      "Failed to write to QMP: %s",
                                                      error->message));
        maybe_close_stream(self);
        return;
    }
    if (self->state == STATE_CLOSED) {
        maybe_close_stream(self);
        return;
    }
    start_write(self);
}

static void
start_write(OrielQmpClient *self)
{
    if (self->writing || g_queue_is_empty(&self->write_queue))
        return;
    self->write_current = g_queue_pop_head(&self->write_queue);
    self->writing = TRUE;
    gsize size = 0;
    const void *data = g_bytes_get_data(self->write_current, &size);
    g_output_stream_write_all_async(g_io_stream_get_output_stream(self->stream), data, size,
                                    G_PRIORITY_DEFAULT, self->io_cancellable, on_write_done,
                                    g_object_ref(self));
}

static void start_read(OrielQmpClient *self);

static void
on_read_done(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(OrielQmpClient) self = user_data;
    g_autoptr(GError) error = NULL;

    self->reading = FALSE;
    gssize n = g_input_stream_read_finish(G_INPUT_STREAM(source), result, &error);
    if (self->state == STATE_CLOSED) {
        maybe_close_stream(self);
        return;
    }
    if (n < 0) {
        client_close_with_error(self, g_error_new(ORIEL_QMP_ERROR, ORIEL_QMP_ERROR_DISCONNECTED,
                                                  "Lost the QMP connection: %s", error->message));
    } else if (n == 0) {
        client_close_with_error(self, g_error_new_literal(ORIEL_QMP_ERROR,
                                                          ORIEL_QMP_ERROR_DISCONNECTED,
                                                          "QEMU closed the QMP connection"));
    } else {
        /* Handlers run from inside feed; self stays alive through our ref. */
        if (!oriel_qmp_codec_feed(self->codec, self->read_buffer, (gsize)n, &error))
            client_close_with_error(self, g_steal_pointer(&error));
    }
    if (self->state == STATE_CLOSED)
        maybe_close_stream(self);
    else
        start_read(self);
}

static void
start_read(OrielQmpClient *self)
{
    if (self->reading)
        return;
    self->reading = TRUE;
    g_input_stream_read_async(g_io_stream_get_input_stream(self->stream), self->read_buffer,
                              sizeof(self->read_buffer), G_PRIORITY_DEFAULT,
                              self->io_cancellable, on_read_done, g_object_ref(self));
}

/* ---- commands ---- */

static gboolean
on_command_timeout(gpointer user_data)
{
    PendingCommand *timed_out = user_data;
    g_autoptr(PendingCommand) pending = steal_pending(timed_out->client, timed_out->id);

    g_debug("QMP command %s (id %" G_GINT64_FORMAT ") timed out", pending->command, pending->id);
    g_task_return_new_error(pending->task, ORIEL_QMP_ERROR, ORIEL_QMP_ERROR_TIMEOUT,
                            "QMP command %s timed out after %u ms", pending->command,
                            pending->timeout_ms);
    return G_SOURCE_REMOVE;
}

static gboolean
on_command_cancelled(GCancellable *cancellable, gpointer user_data)
{
    PendingCommand *cancelled = user_data;
    g_autoptr(PendingCommand) pending = steal_pending(cancelled->client, cancelled->id);

    g_debug("QMP command %s (id %" G_GINT64_FORMAT ") cancelled", pending->command, pending->id);
    g_task_return_error_if_cancelled(pending->task);
    return G_SOURCE_REMOVE;
}

static GSource *
attach_cancel_source(OrielQmpClient *self, GCancellable *cancellable, GCancellableSourceFunc func,
                     gpointer data)
{
    GSource *source = g_cancellable_source_new(cancellable);
    g_source_set_callback(source, G_SOURCE_FUNC(func), data, NULL);
    g_source_attach(source, self->context);
    return source;
}

/* Queues @command; @task completes with its reply. */
static void
send_command(OrielQmpClient *self, GTask *task, const char *command, JsonObject *arguments,
             guint timeout_ms)
{
    PendingCommand *pending = g_new0(PendingCommand, 1);
    pending->id = self->next_id++;
    pending->command = g_strdup(command);
    pending->timeout_ms = timeout_ms;
    pending->client = self;
    pending->task = g_object_ref(task);

    char *line = oriel_qmp_codec_encode_command(command, arguments, pending->id);
    gsize len = strlen(line);
    g_debug("QMP >>> %.*s", (int)(len - 1), line); /* without its "\n" */
    g_queue_push_tail(&self->write_queue, g_bytes_new_take(line, len));

    if (timeout_ms > 0) {
        pending->timeout_source = g_timeout_source_new(timeout_ms);
        g_source_set_callback(pending->timeout_source, on_command_timeout, pending, NULL);
        g_source_attach(pending->timeout_source, self->context);
    }
    GCancellable *cancellable = g_task_get_cancellable(task);
    if (cancellable)
        pending->cancel_source = attach_cancel_source(self, cancellable, on_command_cancelled,
                                                      pending);
    g_hash_table_insert(self->pending, &pending->id, pending);
    start_write(self);
}

static GError *
disconnected_error(OrielQmpClient *self)
{
    return g_error_new_literal(ORIEL_QMP_ERROR, ORIEL_QMP_ERROR_DISCONNECTED,
                               self->close_reason->message);
}

/* ---- handshake ---- */

static void
complete_handshake(OrielQmpClient *self, GError *error)
{
    g_autoptr(GTask) task = g_steal_pointer(&self->handshake_task);

    if (self->handshake_cancel_source) {
        g_source_destroy(self->handshake_cancel_source);
        g_clear_pointer(&self->handshake_cancel_source, g_source_unref);
    }
    if (!task) {
        g_clear_error(&error);
        return;
    }
    if (error)
        g_task_return_error(task, error);
    else
        g_task_return_boolean(task, TRUE);
}

static void
on_capabilities_done(GObject *source, GAsyncResult *result, gpointer user_data)
{
    OrielQmpClient *self = ORIEL_QMP_CLIENT(source);
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) reply = oriel_qmp_client_execute_finish(self, result, &error);

    if (!reply) {
        if (self->state == STATE_CLOSED) {
            complete_handshake(self, g_steal_pointer(&error));
            return;
        }
        g_autoptr(GError) reason = g_error_new(ORIEL_QMP_ERROR, ORIEL_QMP_ERROR_PROTOCOL,
                                               "QMP capabilities negotiation failed: %s",
                                               error->message);
        complete_handshake(self, g_error_copy(reason));
        client_close_with_error(self, g_steal_pointer(&reason));
        return;
    }
    self->state = STATE_READY;
    complete_handshake(self, NULL);
}

static void
handle_greeting(OrielQmpClient *self, const OrielQmpMessage *message)
{
    if (self->state != STATE_GREETING) {
        g_debug("ignoring an unexpected QMP greeting");
        return;
    }
    if (message->qemu_major >= 0)
        self->qemu_version = g_strdup_printf("%" G_GINT64_FORMAT ".%" G_GINT64_FORMAT
                                             ".%" G_GINT64_FORMAT,
                                             message->qemu_major, message->qemu_minor,
                                             message->qemu_micro);
    self->state = STATE_CAPABILITIES;
    g_autoptr(GTask) task = g_task_new(self, NULL, on_capabilities_done, NULL);
    g_task_set_source_tag(task, oriel_qmp_client_execute_async);
    send_command(self, task, "qmp_capabilities", NULL, 0);
}

static gboolean
on_handshake_cancelled(GCancellable *cancellable, gpointer user_data)
{
    OrielQmpClient *self = user_data;
    g_autoptr(GError) error = NULL;

    g_cancellable_set_error_if_cancelled(cancellable, &error);
    complete_handshake(self, g_error_copy(error));
    client_close_with_error(self, g_error_new(ORIEL_QMP_ERROR, ORIEL_QMP_ERROR_DISCONNECTED,
                                              "QMP handshake cancelled"));
    return G_SOURCE_REMOVE;
}

/* ---- incoming messages ---- */

static void
handle_reply(OrielQmpClient *self, const OrielQmpMessage *message)
{
    if (!message->has_id) {
        g_debug("dropping a QMP reply without a usable id");
        return;
    }
    g_autoptr(PendingCommand) pending = steal_pending(self, message->id);
    if (!pending) {
        /* Timed out or cancelled earlier. */
        g_debug("dropping a late QMP reply, id %" G_GINT64_FORMAT, message->id);
        return;
    }
    if (message->kind == ORIEL_QMP_MESSAGE_RETURN)
        g_task_return_pointer(pending->task, json_node_ref(message->return_value),
                              (GDestroyNotify)json_node_unref);
    else
        g_task_return_new_error(pending->task, ORIEL_QMP_ERROR,
                                oriel_qmp_error_from_class(message->error_class), "%s",
                                message->error_desc);
}

static void
on_codec_message(const OrielQmpMessage *message, gpointer user_data)
{
    OrielQmpClient *self = user_data;

    if (self->state == STATE_CLOSED)
        return;
    if (self->state == STATE_GREETING && message->kind != ORIEL_QMP_MESSAGE_GREETING) {
        client_close_with_error(self, g_error_new_literal(ORIEL_QMP_ERROR,
                                                          ORIEL_QMP_ERROR_PROTOCOL,
                                                          "QMP peer did not start with a greeting"));
        return;
    }
    switch (message->kind) {
    case ORIEL_QMP_MESSAGE_GREETING:
        handle_greeting(self, message);
        break;
    case ORIEL_QMP_MESSAGE_RETURN:
    case ORIEL_QMP_MESSAGE_ERROR:
        handle_reply(self, message);
        break;
    case ORIEL_QMP_MESSAGE_EVENT:
        /* try_string: never grow the quark table with names the peer chose. */
        g_signal_emit(self, signals[SIGNAL_EVENT], g_quark_try_string(message->event),
                      message->event, message->data, message->timestamp_us);
        break;
    }
}

/* ---- closing ---- */

static gint
compare_pending_ids(gconstpointer a, gconstpointer b)
{
    const PendingCommand *pa = a, *pb = b;
    return pa->id < pb->id ? -1 : pa->id > pb->id;
}

static void
client_close_with_error(OrielQmpClient *self, GError *reason)
{
    if (self->state == STATE_CLOSED) {
        g_error_free(reason);
        return;
    }
    /* Callbacks below may drop the caller's last reference. */
    g_object_ref(self);

    g_debug("QMP connection closed: %s", reason->message);
    self->state = STATE_CLOSED;
    self->close_reason = reason;
    g_cancellable_cancel(self->io_cancellable);
    g_queue_clear_full(&self->write_queue, (GDestroyNotify)g_bytes_unref);

    complete_handshake(self, disconnected_error(self));

    GHashTableIter iter;
    gpointer value;
    GSList *failed = NULL;
    g_hash_table_iter_init(&iter, self->pending);
    while (g_hash_table_iter_next(&iter, NULL, &value)) {
        failed = g_slist_prepend(failed, value);
        g_hash_table_iter_steal(&iter);
    }
    /* Oldest first, so callers see failures in the order they asked. */
    failed = g_slist_sort(failed, compare_pending_ids);
    for (GSList *l = failed; l; l = l->next) {
        PendingCommand *pending = l->data;
        g_task_return_error(pending->task, disconnected_error(self));
    }
    g_slist_free_full(failed, (GDestroyNotify)pending_command_free);

    g_signal_emit(self, signals[SIGNAL_CLOSED], 0, self->close_reason);
    maybe_close_stream(self);
    g_object_unref(self);
}

/* ---- public ---- */

OrielQmpClient *
oriel_qmp_client_new(GIOStream *stream)
{
    g_return_val_if_fail(G_IS_IO_STREAM(stream), NULL);

    OrielQmpClient *self = g_object_new(ORIEL_TYPE_QMP_CLIENT, NULL);
    self->stream = g_object_ref(stream);
    return self;
}

void
oriel_qmp_client_handshake_async(OrielQmpClient *self, GCancellable *cancellable,
                                 GAsyncReadyCallback callback, gpointer user_data)
{
    g_return_if_fail(ORIEL_IS_QMP_CLIENT(self));
    g_return_if_fail(cancellable == NULL || G_IS_CANCELLABLE(cancellable));

    g_autoptr(GTask) task = g_task_new(self, cancellable, callback, user_data);
    g_task_set_source_tag(task, oriel_qmp_client_handshake_async);

    if (self->state == STATE_CLOSED) {
        g_task_return_error(task, disconnected_error(self));
        return;
    }
    if (self->state != STATE_NEW) {
        g_task_return_new_error(task, G_IO_ERROR, G_IO_ERROR_FAILED,
                                "QMP handshake already started");
        return;
    }
    if (g_task_return_error_if_cancelled(task))
        return;
    self->handshake_task = g_steal_pointer(&task);
    self->state = STATE_GREETING;
    if (cancellable)
        self->handshake_cancel_source = attach_cancel_source(self, cancellable,
                                                             on_handshake_cancelled, self);
    start_read(self);
}

gboolean
oriel_qmp_client_handshake_finish(OrielQmpClient *self, GAsyncResult *result, GError **error)
{
    g_return_val_if_fail(g_task_is_valid(result, self), FALSE);
    g_return_val_if_fail(g_task_get_source_tag(G_TASK(result)) == oriel_qmp_client_handshake_async,
                         FALSE);
    return g_task_propagate_boolean(G_TASK(result), error);
}

const char *
oriel_qmp_client_get_qemu_version(OrielQmpClient *self)
{
    g_return_val_if_fail(ORIEL_IS_QMP_CLIENT(self), NULL);
    return self->qemu_version;
}

void
oriel_qmp_client_execute_async(OrielQmpClient *self, const char *command, JsonObject *arguments,
                               guint timeout_ms, GCancellable *cancellable,
                               GAsyncReadyCallback callback, gpointer user_data)
{
    g_return_if_fail(ORIEL_IS_QMP_CLIENT(self));
    g_return_if_fail(command != NULL);
    g_return_if_fail(cancellable == NULL || G_IS_CANCELLABLE(cancellable));

    g_autoptr(GTask) task = g_task_new(self, cancellable, callback, user_data);
    g_task_set_source_tag(task, oriel_qmp_client_execute_async);

    if (self->state == STATE_CLOSED) {
        g_task_return_error(task, disconnected_error(self));
        return;
    }
    if (self->state != STATE_READY) {
        g_task_return_new_error(task, G_IO_ERROR, G_IO_ERROR_NOT_INITIALIZED,
                                "QMP handshake has not completed");
        return;
    }
    if (g_task_return_error_if_cancelled(task))
        return;
    send_command(self, task, command, arguments, timeout_ms);
}

JsonNode *
oriel_qmp_client_execute_finish(OrielQmpClient *self, GAsyncResult *result, GError **error)
{
    g_return_val_if_fail(g_task_is_valid(result, self), NULL);
    g_return_val_if_fail(g_task_get_source_tag(G_TASK(result)) == oriel_qmp_client_execute_async,
                         NULL);
    return g_task_propagate_pointer(G_TASK(result), error);
}

void
oriel_qmp_client_close(OrielQmpClient *self)
{
    g_return_if_fail(ORIEL_IS_QMP_CLIENT(self));
    client_close_with_error(self, g_error_new_literal(ORIEL_QMP_ERROR, ORIEL_QMP_ERROR_DISCONNECTED,
                                                      "QMP connection closed"));
}

gboolean
oriel_qmp_client_is_closed(OrielQmpClient *self)
{
    g_return_val_if_fail(ORIEL_IS_QMP_CLIENT(self), TRUE);
    return self->state == STATE_CLOSED;
}

/* ---- GObject ---- */

static void
oriel_qmp_client_dispose(GObject *object)
{
    OrielQmpClient *self = ORIEL_QMP_CLIENT(object);

    /* Only reached with nothing in flight: reads, writes and commands each
     * hold a reference.  Still end the connection so the stream is closed. */
    if (self->stream && self->state != STATE_CLOSED)
        client_close_with_error(self, g_error_new_literal(ORIEL_QMP_ERROR,
                                                          ORIEL_QMP_ERROR_DISCONNECTED,
                                                          "QMP connection closed"));
    G_OBJECT_CLASS(oriel_qmp_client_parent_class)->dispose(object);
}

static void
oriel_qmp_client_finalize(GObject *object)
{
    OrielQmpClient *self = ORIEL_QMP_CLIENT(object);

    g_hash_table_unref(self->pending);
    g_queue_clear_full(&self->write_queue, (GDestroyNotify)g_bytes_unref);
    g_clear_pointer(&self->write_current, g_bytes_unref);
    g_clear_object(&self->stream);
    g_clear_object(&self->io_cancellable);
    g_clear_pointer(&self->codec, oriel_qmp_codec_free);
    g_clear_pointer(&self->context, g_main_context_unref);
    g_clear_error(&self->close_reason);
    g_free(self->qemu_version);
    G_OBJECT_CLASS(oriel_qmp_client_parent_class)->finalize(object);
}

static void
oriel_qmp_client_class_init(OrielQmpClientClass *klass)
{
    GObjectClass *object_class = G_OBJECT_CLASS(klass);

    object_class->dispose = oriel_qmp_client_dispose;
    object_class->finalize = oriel_qmp_client_finalize;

    signals[SIGNAL_EVENT] = g_signal_new("event", G_TYPE_FROM_CLASS(klass),
                                         G_SIGNAL_RUN_LAST | G_SIGNAL_DETAILED, 0, NULL, NULL,
                                         NULL, G_TYPE_NONE, 3,
                                         G_TYPE_STRING | G_SIGNAL_TYPE_STATIC_SCOPE,
                                         JSON_TYPE_OBJECT | G_SIGNAL_TYPE_STATIC_SCOPE,
                                         G_TYPE_INT64);
    signals[SIGNAL_CLOSED] = g_signal_new("closed", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST,
                                          0, NULL, NULL, NULL, G_TYPE_NONE, 1,
                                          G_TYPE_ERROR | G_SIGNAL_TYPE_STATIC_SCOPE);
}

static void
oriel_qmp_client_init(OrielQmpClient *self)
{
    self->context = g_main_context_ref_thread_default();
    self->io_cancellable = g_cancellable_new();
    self->codec = oriel_qmp_codec_new(on_codec_message, self);
    self->pending = g_hash_table_new_full(g_int64_hash, g_int64_equal, NULL,
                                          (GDestroyNotify)pending_command_free);
    self->next_id = 1;
    g_queue_init(&self->write_queue);
}
