/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* oriel-broker over HTTPS with libsoup 3 (broker-client.h). */
#define G_LOG_DOMAIN "oriel-viewer"

#include "broker-client.h"
#include "oriel-build-config.h"

#include <libsoup/soup.h>
#include <string.h>

#define BROKER_TIMEOUT_S 30   /* a /connect may start a desktop first */
#define READ_CHUNK 16384

typedef enum {
    CALL_LOGIN,
    CALL_LIST,
    CALL_CONNECT,
    CALL_LOGOUT,
    CALL_KINDS,
} CallKind;

struct _OrielBrokerClient {
    SoupSession *session;
    char *url;
    char *token;
    char *user;
    gboolean running[CALL_KINDS]; /* one call of a kind at a time */
    guint pending;                /* calls not yet returned */
};

OrielBrokerClient *
oriel_broker_client_new(const char *url, const char *ca_file, GError **error)
{
    g_autofree char *base = oriel_broker_url_normalize(url, error);
    g_autoptr(GTlsDatabase) database = NULL;

    if (!base)
        return NULL;
    if (ca_file) {
        g_autoptr(GError) local_error = NULL;
        database = g_tls_file_database_new(ca_file, &local_error);
        if (!database) {
            g_set_error(error, ORIEL_BROKER_ERROR, ORIEL_BROKER_ERROR_INVALID, "--broker-ca %s: %s", ca_file,
                        local_error->message);
            return NULL;
        }
    }
    OrielBrokerClient *client = g_new0(OrielBrokerClient, 1);
    client->url = g_steal_pointer(&base);
    client->session = soup_session_new_with_options("timeout", BROKER_TIMEOUT_S, "idle-timeout", 60,
                                                    "user-agent", "oriel-viewer/" ORIEL_VERSION, NULL);
    if (database)
        soup_session_set_tls_database(client->session, database);
    return client;
}

static void
forget_token(OrielBrokerClient *client)
{
    if (client->token)
        explicit_bzero(client->token, strlen(client->token));
    g_clear_pointer(&client->token, g_free);
    g_clear_pointer(&client->user, g_free);
}

void
oriel_broker_client_free(OrielBrokerClient *client)
{
    if (!client)
        return;
    /* Each call holds @client; they end within the session's timeout. */
    while (client->pending)
        g_main_context_iteration(NULL, TRUE);
    forget_token(client);
    g_clear_object(&client->session);
    g_free(client->url);
    g_free(client);
}

const char *
oriel_broker_client_get_url(OrielBrokerClient *client)
{
    return client->url;
}

gboolean
oriel_broker_client_is_logged_in(OrielBrokerClient *client)
{
    return client->token != NULL;
}

const char *
oriel_broker_client_get_user(OrielBrokerClient *client)
{
    return client->user;
}

/* A transport error, in the broker's error domain (a cancellation stays
 * G_IO_ERROR_CANCELLED). */
static void
set_transport_error(GError **error, OrielBrokerClient *client, const char *what, const GError *cause)
{
    if (g_error_matches(cause, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
        g_set_error_literal(error, G_IO_ERROR, G_IO_ERROR_CANCELLED, cause->message);
        return;
    }
    OrielBrokerError code = cause->domain == G_TLS_ERROR ? ORIEL_BROKER_ERROR_TLS : ORIEL_BROKER_ERROR_NETWORK;

    g_set_error(error, ORIEL_BROKER_ERROR, code, "%s: %s: %s", what, client->url,
                code == ORIEL_BROKER_ERROR_TLS ? "the broker's certificate is not trusted (see --broker-ca)"
                                               : cause->message);
}

/* One call in flight: the request, then the body read in chunks. */
typedef struct {
    OrielBrokerClient *client;
    CallKind kind;
    char *what;
    char *user;                   /* login: the name typed, if the broker names none */
    char *pool;                   /* connect */
    SoupMessage *message;
    GInputStream *stream;
    GByteArray *body;
    guint8 chunk[READ_CHUNK];
} Call;

static void
call_free(gpointer data)
{
    Call *call = data;

    g_free(call->what);
    g_free(call->user);
    g_free(call->pool);
    g_clear_object(&call->message);
    g_clear_object(&call->stream);
    if (call->body) {
        explicit_bzero(call->body->data, call->body->len); /* a token, a ticket */
        g_byte_array_unref(call->body);
    }
    g_free(call);
}

/* Marks the call's kind free again, before the caller's callback runs (it
 * may start the next one). */
static void
call_done(GTask *task)
{
    Call *call = g_task_get_task_data(task);

    if (call->client) {
        call->client->running[call->kind] = FALSE;
        call->client->pending--;
        call->client = NULL;
    }
}

static void
call_return_error(GTask *task, GError *error)
{
    call_done(task);
    g_task_return_error(task, error);
    g_object_unref(task);
}

static void
zero_free(gpointer data)
{
    explicit_bzero(data, strlen(data));
    g_free(data);
}

static void on_sent(GObject *source, GAsyncResult *result, gpointer user_data);
static void on_read(GObject *source, GAsyncResult *result, gpointer user_data);
static void call_complete(GTask *task);

/*
 * Starts one request; @json_body (taken, zeroed once sent) may hold a
 * password.  The reply's body, bounded by ORIEL_BROKER_REPLY_MAX, goes to
 * call_complete() on a 2xx status, else an error built from the status
 * and the broker's {"error": ...}.
 */
static void
call_start(OrielBrokerClient *client, GTask *task, Call *call, const char *method, const char *path,
           char *json_body)
{
    CallKind kind = call->kind;
    const char *what = call->what;
    g_autofree char *url = g_strconcat(client->url, path, NULL);

    g_task_set_task_data(task, call, call_free);
    /* Logouts are exempt: each carries its own session's token. */
    if (kind != CALL_LOGOUT && client->running[kind]) {
        g_task_return_new_error(task, G_IO_ERROR, G_IO_ERROR_PENDING, "%s: a request is already running", what);
        g_object_unref(task);
        if (json_body)
            zero_free(json_body);
        return;
    }
    client->running[kind] = kind != CALL_LOGOUT;
    client->pending++;
    call->client = client;
    call->message = soup_message_new(method, url);
    if (!call->message) {
        if (json_body)
            zero_free(json_body);
        call_return_error(task, g_error_new(ORIEL_BROKER_ERROR, ORIEL_BROKER_ERROR_INVALID,
                                            "%s: cannot request %s", what, url));
        return;
    }
    SoupMessageHeaders *headers = soup_message_get_request_headers(call->message);
    soup_message_headers_replace(headers, "Accept", "application/json, application/x-virt-viewer");
    if (client->token) {
        g_autofree char *bearer = g_strconcat("Bearer ", client->token, NULL);
        soup_message_headers_replace(headers, "Authorization", bearer);
        explicit_bzero(bearer, strlen(bearer));
    }
    if (json_body) {
        g_autoptr(GBytes) bytes = g_bytes_new_with_free_func(json_body, strlen(json_body), zero_free, json_body);
        soup_message_set_request_body_from_bytes(call->message, "application/json", bytes);
    }
    soup_session_send_async(client->session, call->message, G_PRIORITY_DEFAULT, g_task_get_cancellable(task),
                            on_sent, task);
}

static void
on_sent(GObject *source, GAsyncResult *result, gpointer user_data)
{
    GTask *task = user_data;
    Call *call = g_task_get_task_data(task);
    g_autoptr(GError) local_error = NULL;
    GError *error = NULL;

    call->stream = soup_session_send_finish(SOUP_SESSION(source), result, &local_error);
    if (!call->stream) {
        set_transport_error(&error, call->client, call->what, local_error);
        call_return_error(task, error);
        return;
    }
    call->body = g_byte_array_new();
    g_input_stream_read_async(call->stream, call->chunk, sizeof(call->chunk), G_PRIORITY_DEFAULT,
                              g_task_get_cancellable(task), on_read, task);
}

static void
on_read(GObject *source, GAsyncResult *result, gpointer user_data)
{
    GTask *task = user_data;
    Call *call = g_task_get_task_data(task);
    GError *error = NULL;
    gssize got = g_input_stream_read_finish(G_INPUT_STREAM(source), result, &error);

    if (got < 0) {
        if (!g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
            g_prefix_error(&error, "%s: ", call->what);
        call_return_error(task, error);
        return;
    }
    if (got > 0) {
        if (call->body->len + (gsize)got > ORIEL_BROKER_REPLY_MAX) {
            call_return_error(task, g_error_new(ORIEL_BROKER_ERROR, ORIEL_BROKER_ERROR_PROTOCOL,
                                                "%s: the broker's reply is too large", call->what));
            return;
        }
        g_byte_array_append(call->body, call->chunk, (guint)got);
        explicit_bzero(call->chunk, (gsize)got);
        g_input_stream_read_async(call->stream, call->chunk, sizeof(call->chunk), G_PRIORITY_DEFAULT,
                                  g_task_get_cancellable(task), on_read, task);
        return;
    }
    /* The body is all read: closing does not wait on the network. */
    g_input_stream_close(call->stream, NULL, NULL);
    guint8 nul = 0;
    g_byte_array_append(call->body, &nul, 1);
    g_byte_array_set_size(call->body, call->body->len - 1);
    guint status = soup_message_get_status(call->message);
    if (status < 200 || status > 299) {
        oriel_broker_set_http_error(&error, call->what, status, soup_message_get_reason_phrase(call->message),
                                    (const char *)call->body->data, call->body->len);
        call_return_error(task, error);
        return;
    }
    call_complete(task);
}

/* A 2xx reply: what each kind makes of it. */
static void
call_complete(GTask *task)
{
    Call *call = g_task_get_task_data(task);
    OrielBrokerClient *client = call->client;
    const char *data = (const char *)call->body->data;
    GError *error = NULL;

    switch (call->kind) {
    case CALL_LOGIN: {
        g_autoptr(OrielBrokerLogin) login = oriel_broker_login_parse(data, call->body->len, &error);
        if (!login)
            break;
        forget_token(client);
        client->token = g_steal_pointer(&login->token);
        client->user = g_strdup(login->user ? login->user : call->user);
        call_done(task);
        g_task_return_boolean(task, TRUE);
        g_object_unref(task);
        return;
    }
    case CALL_LIST: {
        GPtrArray *pools = oriel_broker_pools_parse(data, call->body->len, &error);
        if (!pools)
            break;
        call_done(task);
        g_task_return_pointer(task, pools, (GDestroyNotify)g_ptr_array_unref);
        g_object_unref(task);
        return;
    }
    case CALL_CONNECT: {
        const char *type =
            soup_message_headers_get_content_type(soup_message_get_response_headers(call->message), NULL);
        if (!type || !g_str_equal(type, "application/x-virt-viewer")) {
            g_set_error(&error, ORIEL_BROKER_ERROR, ORIEL_BROKER_ERROR_PROTOCOL,
                        "%s: expected a virt-viewer document, got %s", call->what, type ? type : "no content type");
            break;
        }
        g_autoptr(GError) vv_error = NULL;
        OrielViewerConnection *connection = oriel_viewer_vv_parse_data(data, call->body->len, &vv_error);
        if (!connection) {
            g_set_error(&error, ORIEL_BROKER_ERROR, ORIEL_BROKER_ERROR_PROTOCOL, "%s: %s", call->what,
                        vv_error->message);
            break;
        }
        if (!connection->title)
            connection->title = g_strdup(call->pool);
        call_done(task);
        g_task_return_pointer(task, connection, (GDestroyNotify)oriel_viewer_connection_free);
        g_object_unref(task);
        return;
    }
    case CALL_LOGOUT:
    case CALL_KINDS:
        call_done(task);
        g_task_return_boolean(task, TRUE);
        g_object_unref(task);
        return;
    }
    call_return_error(task, error);
}

static Call *
call_new(CallKind kind, const char *what)
{
    Call *call = g_new0(Call, 1);

    call->kind = kind;
    call->what = g_strdup(what);
    return call;
}

static GTask *
call_task(OrielBrokerClient *client, gpointer tag, GCancellable *cancellable, GAsyncReadyCallback callback,
          gpointer user_data)
{
    GTask *task = g_task_new(NULL, cancellable, callback, user_data);

    g_task_set_source_tag(task, tag);
    return task;
}

void
oriel_broker_client_login_async(OrielBrokerClient *client, const char *user, const char *password,
                                GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
    GTask *task = call_task(client, oriel_broker_client_login_async, cancellable, callback, user_data);

    if (!user || !*user || strlen(user) > ORIEL_BROKER_NAME_MAX || !g_utf8_validate(user, -1, NULL)) {
        g_task_return_new_error(task, ORIEL_BROKER_ERROR, ORIEL_BROKER_ERROR_INVALID, "login: enter a user name");
        g_object_unref(task);
        return;
    }
    if (!password || strlen(password) > 4096) {
        g_task_return_new_error(task, ORIEL_BROKER_ERROR, ORIEL_BROKER_ERROR_INVALID,
                                "login: the password is too long");
        g_object_unref(task);
        return;
    }
    if (!client->running[CALL_LOGIN])
        forget_token(client);
    Call *call = call_new(CALL_LOGIN, "login");
    call->user = g_strdup(user);
    call_start(client, task, call, "POST", "/api/login", oriel_broker_login_request(user, password));
}

gboolean
oriel_broker_client_login_finish(OrielBrokerClient *client, GAsyncResult *result, GError **error)
{
    g_return_val_if_fail(g_task_is_valid(result, NULL), FALSE);
    return g_task_propagate_boolean(G_TASK(result), error);
}

void
oriel_broker_client_list_async(OrielBrokerClient *client, GCancellable *cancellable, GAsyncReadyCallback callback,
                               gpointer user_data)
{
    GTask *task = call_task(client, oriel_broker_client_list_async, cancellable, callback, user_data);

    call_start(client, task, call_new(CALL_LIST, "the desktop list"), "GET", "/api/desktops", NULL);
}

GPtrArray *
oriel_broker_client_list_finish(OrielBrokerClient *client, GAsyncResult *result, GError **error)
{
    g_return_val_if_fail(g_task_is_valid(result, NULL), NULL);
    return g_task_propagate_pointer(G_TASK(result), error);
}

void
oriel_broker_client_connect_async(OrielBrokerClient *client, const char *pool, GCancellable *cancellable,
                                  GAsyncReadyCallback callback, gpointer user_data)
{
    GTask *task = call_task(client, oriel_broker_client_connect_async, cancellable, callback, user_data);
    g_autofree char *what = g_strdup_printf("connecting to pool %s", pool ? pool : "?");

    if (!oriel_broker_name_is_safe(pool)) {
        g_task_return_new_error(task, ORIEL_BROKER_ERROR, ORIEL_BROKER_ERROR_INVALID, "\"%s\" is not a pool name",
                                pool ? pool : "");
        g_object_unref(task);
        return;
    }
    g_autofree char *path = g_strdup_printf("/api/desktops/%s/connect", pool);
    Call *call = call_new(CALL_CONNECT, what);
    call->pool = g_strdup(pool);
    call_start(client, task, call, "POST", path, NULL);
}

OrielViewerConnection *
oriel_broker_client_connect_finish(OrielBrokerClient *client, GAsyncResult *result, GError **error)
{
    g_return_val_if_fail(g_task_is_valid(result, NULL), NULL);
    return g_task_propagate_pointer(G_TASK(result), error);
}

void
oriel_broker_client_logout_async(OrielBrokerClient *client, GCancellable *cancellable,
                                 GAsyncReadyCallback callback, gpointer user_data)
{
    GTask *task = call_task(client, oriel_broker_client_logout_async, cancellable, callback, user_data);

    if (!client->token) {
        g_task_return_boolean(task, TRUE);
        g_object_unref(task);
        return;
    }
    /* The request carries the token; the client forgets it now. */
    call_start(client, task, call_new(CALL_LOGOUT, "logout"), "POST", "/api/logout", NULL);
    forget_token(client);
}

void
oriel_broker_client_logout_finish(OrielBrokerClient *client, GAsyncResult *result)
{
    g_autoptr(GError) error = NULL;

    g_return_if_fail(g_task_is_valid(result, NULL));
    if (!g_task_propagate_boolean(G_TASK(result), &error))
        g_debug("%s", error->message);
}
