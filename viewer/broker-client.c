/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* oriel-broker over HTTPS with libsoup 3 (broker-client.h). */
#define G_LOG_DOMAIN "oriel-viewer"

#include "broker-client.h"
#include "oriel-build-config.h"

#include <libsoup/soup.h>
#include <string.h>

#define BROKER_TIMEOUT_S 30   /* a /connect may start a desktop first */
#define READ_CHUNK 16384

struct _OrielBrokerClient {
    SoupSession *session;
    char *url;
    char *token;
    char *user;
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

/* Reads at most ORIEL_BROKER_REPLY_MAX bytes, NUL-terminated. */
static GByteArray *
read_bounded(GInputStream *stream, const char *what, GError **error)
{
    g_autoptr(GByteArray) body = g_byte_array_new();
    guint8 chunk[READ_CHUNK];

    for (;;) {
        gssize got = g_input_stream_read(stream, chunk, sizeof(chunk), NULL, error);
        if (got < 0) {
            g_prefix_error(error, "%s: ", what);
            return NULL;
        }
        if (got == 0)
            break;
        if (body->len + (gsize)got > ORIEL_BROKER_REPLY_MAX) {
            g_set_error(error, ORIEL_BROKER_ERROR, ORIEL_BROKER_ERROR_PROTOCOL, "%s: the broker's reply is too large",
                        what);
            return NULL;
        }
        g_byte_array_append(body, chunk, (guint)got);
    }
    g_input_stream_close(stream, NULL, NULL);
    return g_steal_pointer(&body);
}

/* A transport error, in the broker's error domain. */
static void
set_transport_error(GError **error, OrielBrokerClient *client, const char *what, const GError *cause)
{
    OrielBrokerError code = cause->domain == G_TLS_ERROR ? ORIEL_BROKER_ERROR_TLS : ORIEL_BROKER_ERROR_NETWORK;

    g_set_error(error, ORIEL_BROKER_ERROR, code, "%s: %s: %s", what, client->url,
                code == ORIEL_BROKER_ERROR_TLS ? "the broker's certificate is not trusted (see --broker-ca)"
                                               : cause->message);
}

/*
 * One request; returns the body of a 2xx reply (maybe empty) with its
 * content type, or NULL with an error built from the status and the
 * broker's {"error": ...}.
 */
static GByteArray *
request(OrielBrokerClient *client, const char *method, const char *path, const char *json_body, const char *what,
        char **ret_content_type, GError **error)
{
    g_autofree char *url = g_strconcat(client->url, path, NULL);
    g_autoptr(SoupMessage) message = soup_message_new(method, url);
    g_autoptr(GError) local_error = NULL;

    if (!message) {
        g_set_error(error, ORIEL_BROKER_ERROR, ORIEL_BROKER_ERROR_INVALID, "%s: cannot request %s", what, url);
        return NULL;
    }
    SoupMessageHeaders *headers = soup_message_get_request_headers(message);
    soup_message_headers_replace(headers, "Accept", "application/json, application/x-virt-viewer");
    if (client->token) {
        g_autofree char *bearer = g_strconcat("Bearer ", client->token, NULL);
        soup_message_headers_replace(headers, "Authorization", bearer);
        explicit_bzero(bearer, strlen(bearer));
    }
    if (json_body) {
        g_autoptr(GBytes) bytes = g_bytes_new(json_body, strlen(json_body));
        soup_message_set_request_body_from_bytes(message, "application/json", bytes);
    }
    g_autoptr(GInputStream) stream = soup_session_send(client->session, message, NULL, &local_error);
    if (!stream) {
        set_transport_error(error, client, what, local_error);
        return NULL;
    }
    g_autoptr(GByteArray) body = read_bounded(stream, what, error);
    if (!body)
        return NULL;
    guint status = soup_message_get_status(message);
    if (status < 200 || status > 299) {
        oriel_broker_set_http_error(error, what, status, soup_message_get_reason_phrase(message),
                                    (const char *)body->data, body->len);
        return NULL;
    }
    if (ret_content_type) {
        const char *type = soup_message_headers_get_content_type(soup_message_get_response_headers(message), NULL);
        *ret_content_type = g_strdup(type);
    }
    return g_steal_pointer(&body);
}

gboolean
oriel_broker_client_login(OrielBrokerClient *client, const char *user, const char *password, GError **error)
{
    if (!user || !*user || strlen(user) > ORIEL_BROKER_NAME_MAX || !g_utf8_validate(user, -1, NULL)) {
        g_set_error(error, ORIEL_BROKER_ERROR, ORIEL_BROKER_ERROR_INVALID, "login: enter a user name");
        return FALSE;
    }
    if (!password || strlen(password) > 4096) {
        g_set_error(error, ORIEL_BROKER_ERROR, ORIEL_BROKER_ERROR_INVALID, "login: the password is too long");
        return FALSE;
    }
    forget_token(client);
    char *body = oriel_broker_login_request(user, password);
    g_autoptr(GByteArray) reply = request(client, "POST", "/api/login", body, "login", NULL, error);
    explicit_bzero(body, strlen(body));
    g_free(body);
    if (!reply)
        return FALSE;
    g_autoptr(OrielBrokerLogin) login = oriel_broker_login_parse((const char *)reply->data, reply->len, error);
    if (!login)
        return FALSE;
    client->token = g_steal_pointer(&login->token);
    client->user = g_strdup(login->user ? login->user : user);
    return TRUE;
}

GPtrArray *
oriel_broker_client_list(OrielBrokerClient *client, GError **error)
{
    g_autoptr(GByteArray) reply = request(client, "GET", "/api/desktops", NULL, "the desktop list", NULL, error);

    if (!reply)
        return NULL;
    return oriel_broker_pools_parse((const char *)reply->data, reply->len, error);
}

OrielViewerConnection *
oriel_broker_client_connect(OrielBrokerClient *client, const char *pool, GError **error)
{
    g_autofree char *what = g_strdup_printf("connecting to pool %s", pool ? pool : "?");
    g_autofree char *type = NULL;

    if (!oriel_broker_name_is_safe(pool)) {
        g_set_error(error, ORIEL_BROKER_ERROR, ORIEL_BROKER_ERROR_INVALID, "\"%s\" is not a pool name",
                    pool ? pool : "");
        return NULL;
    }
    g_autofree char *path = g_strdup_printf("/api/desktops/%s/connect", pool);
    g_autoptr(GByteArray) reply = request(client, "POST", path, NULL, what, &type, error);
    if (!reply)
        return NULL;
    if (!type || !g_str_equal(type, "application/x-virt-viewer")) {
        g_set_error(error, ORIEL_BROKER_ERROR, ORIEL_BROKER_ERROR_PROTOCOL,
                    "%s: expected a virt-viewer document, got %s", what, type ? type : "no content type");
        return NULL;
    }
    g_autoptr(GError) vv_error = NULL;
    OrielViewerConnection *connection =
        oriel_viewer_vv_parse_data((const char *)reply->data, reply->len, &vv_error);
    explicit_bzero(reply->data, reply->len); /* it holds the ticket */
    if (!connection) {
        g_set_error(error, ORIEL_BROKER_ERROR, ORIEL_BROKER_ERROR_PROTOCOL, "%s: %s", what, vv_error->message);
        return NULL;
    }
    if (!connection->title)
        connection->title = g_strdup(pool);
    return connection;
}

void
oriel_broker_client_logout(OrielBrokerClient *client)
{
    g_autoptr(GError) error = NULL;

    if (!client->token)
        return;
    g_autoptr(GByteArray) reply = request(client, "POST", "/api/logout", NULL, "logout", NULL, &error);
    if (!reply)
        g_debug("%s", error->message);
    forget_token(client);
}
