/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Connection descriptions and spice:// URIs. */
#define G_LOG_DOMAIN "oriel-viewer"

#include "oriel-viewer.h"

#include <errno.h>
#include <string.h>

G_DEFINE_QUARK(oriel-viewer-error-quark, oriel_viewer_error)

OrielViewerConnection *
oriel_viewer_connection_new(void)
{
    OrielViewerConnection *connection = g_new0(OrielViewerConnection, 1);

    connection->fullscreen = ORIEL_VIEWER_UNSET;
    connection->enable_usbredir = ORIEL_VIEWER_UNSET;
    connection->enable_usb_autoshare = ORIEL_VIEWER_UNSET;
    return connection;
}

void
oriel_viewer_connection_free(OrielViewerConnection *connection)
{
    if (!connection)
        return;
    g_free(connection->host);
    g_free(connection->unix_path);
    g_free(connection->username);
    if (connection->password) {
        /* Do not leave the ticket behind in freed memory. */
        memset(connection->password, 0, strlen(connection->password));
        g_free(connection->password);
    }
    g_free(connection->title);
    g_free(connection->ca);
    g_free(connection->host_subject);
    g_free(connection->tls_ciphers);
    g_strfreev(connection->secure_channels);
    g_strfreev(connection->disable_channels);
    g_free(connection->proxy);
    g_free(connection->usb_filter);
    g_free(connection->release_cursor);
    g_free(connection->toggle_fullscreen);
    g_free(connection->secure_attention);
    g_free(connection->zoom_in);
    g_free(connection->zoom_out);
    g_free(connection->zoom_reset);
    g_free(connection);
}

gboolean
oriel_viewer_looks_like_uri(const char *text)
{
    return g_str_has_prefix(text, "spice://") || g_str_has_prefix(text, "spice+tls://") ||
           g_str_has_prefix(text, "spice+unix://");
}

static gboolean
parse_port(const char *text, const char *what, int *port, GError **error)
{
    guint64 value = 0;

    if (!text || !*text ||
        !g_ascii_string_to_unsigned(text, 10, 1, 65535, &value, NULL)) {
        g_set_error(error, ORIEL_VIEWER_ERROR, ORIEL_VIEWER_ERROR_INVALID,
                    "%s \"%s\" is not a port number (1-65535)", what, text ? text : "");
        return FALSE;
    }
    *port = (int)value;
    return TRUE;
}

static gboolean
apply_query(OrielViewerConnection *connection, const char *query, GError **error)
{
    g_autoptr(GHashTable) params = NULL;
    g_autoptr(GError) local_error = NULL;
    GHashTableIter iter;
    gpointer key, value;

    params = g_uri_parse_params(query, -1, "&", G_URI_PARAMS_NONE, &local_error);
    if (!params) {
        g_set_error(error, ORIEL_VIEWER_ERROR, ORIEL_VIEWER_ERROR_INVALID,
                    "bad URI query: %s", local_error->message);
        return FALSE;
    }
    g_hash_table_iter_init(&iter, params);
    while (g_hash_table_iter_next(&iter, &key, &value)) {
        if (g_str_equal(key, "port")) {
            if (!parse_port(value, "port", &connection->port, error))
                return FALSE;
        } else if (g_str_equal(key, "tls-port")) {
            if (!parse_port(value, "tls-port", &connection->tls_port, error))
                return FALSE;
        } else if (g_str_equal(key, "password")) {
            g_free(connection->password);
            connection->password = g_strdup(value);
        } else {
            g_set_error(error, ORIEL_VIEWER_ERROR, ORIEL_VIEWER_ERROR_INVALID,
                        "unknown URI parameter \"%s\" (expected port, tls-port or password)",
                        (const char *)key);
            return FALSE;
        }
    }
    return TRUE;
}

OrielViewerConnection *
oriel_viewer_connection_parse_uri(const char *uri, GError **error)
{
    g_autoptr(OrielViewerConnection) connection = oriel_viewer_connection_new();
    g_autoptr(GUri) parsed = NULL;
    g_autoptr(GError) local_error = NULL;
    const char *scheme;
    const char *host;
    const char *query;
    int port;

    parsed = g_uri_parse(uri, G_URI_FLAGS_NONE, &local_error);
    if (!parsed) {
        g_set_error(error, ORIEL_VIEWER_ERROR, ORIEL_VIEWER_ERROR_INVALID,
                    "\"%s\" is not a URI: %s", uri, local_error->message);
        return NULL;
    }
    scheme = g_uri_get_scheme(parsed);
    host = g_uri_get_host(parsed);
    port = g_uri_get_port(parsed);
    query = g_uri_get_query(parsed);

    if (g_uri_get_fragment(parsed) || g_uri_get_userinfo(parsed)) {
        g_set_error(error, ORIEL_VIEWER_ERROR, ORIEL_VIEWER_ERROR_INVALID,
                    "a SPICE URI has no user part or fragment: \"%s\"", uri);
        return NULL;
    }

    if (g_ascii_strcasecmp(scheme, "spice+unix") == 0) {
        const char *path = g_uri_get_path(parsed);
        if ((host && *host) || port != -1 || query || !path || path[0] != '/') {
            g_set_error(error, ORIEL_VIEWER_ERROR, ORIEL_VIEWER_ERROR_INVALID,
                        "expected spice+unix:///absolute/path, got \"%s\"", uri);
            return NULL;
        }
        connection->unix_path = g_strdup(path);
        return g_steal_pointer(&connection);
    }

    if (g_ascii_strcasecmp(scheme, "spice") != 0 &&
        g_ascii_strcasecmp(scheme, "spice+tls") != 0) {
        g_set_error(error, ORIEL_VIEWER_ERROR, ORIEL_VIEWER_ERROR_UNSUPPORTED,
                    "unsupported URI scheme \"%s\" (expected spice, spice+tls or spice+unix)",
                    scheme);
        return NULL;
    }
    if (!host || !*host) {
        g_set_error(error, ORIEL_VIEWER_ERROR, ORIEL_VIEWER_ERROR_INVALID,
                    "no host in \"%s\"", uri);
        return NULL;
    }
    if (g_uri_get_path(parsed)[0] != '\0' && !g_str_equal(g_uri_get_path(parsed), "/")) {
        g_set_error(error, ORIEL_VIEWER_ERROR, ORIEL_VIEWER_ERROR_INVALID,
                    "unexpected path \"%s\" in \"%s\"", g_uri_get_path(parsed), uri);
        return NULL;
    }
    connection->host = g_strdup(host);
    if (query && !apply_query(connection, query, error))
        return NULL;
    if (port == 0 || port > 65535) {
        g_set_error(error, ORIEL_VIEWER_ERROR, ORIEL_VIEWER_ERROR_INVALID,
                    "port %d out of range in \"%s\"", port, uri);
        return NULL;
    }
    if (g_ascii_strcasecmp(scheme, "spice+tls") == 0) {
        if (port > 0)
            connection->tls_port = port;
        /* spice+tls means TLS only, even if the query gave a plain port. */
        connection->port = 0;
    } else if (port > 0) {
        connection->port = port;
    }
    if (connection->port == 0 && connection->tls_port == 0) {
        g_set_error(error, ORIEL_VIEWER_ERROR, ORIEL_VIEWER_ERROR_INVALID,
                    "no port in \"%s\"", uri);
        return NULL;
    }
    return g_steal_pointer(&connection);
}

char *
oriel_viewer_connection_describe(const OrielViewerConnection *connection)
{
    GString *out;

    if (connection->unix_path)
        return g_strdup_printf("spice+unix://%s", connection->unix_path);
    out = g_string_new(NULL);
    if (connection->tls_port && !connection->port)
        g_string_append(out, "spice+tls://");
    else
        g_string_append(out, "spice://");
    if (connection->host && strchr(connection->host, ':'))
        g_string_append_printf(out, "[%s]", connection->host);
    else
        g_string_append(out, connection->host ? connection->host : "");
    if (connection->port && connection->tls_port)
        g_string_append_printf(out, "?port=%d&tls-port=%d", connection->port,
                               connection->tls_port);
    else if (connection->port || connection->tls_port)
        g_string_append_printf(out, ":%d",
                               connection->port ? connection->port : connection->tls_port);
    return g_string_free(out, FALSE);
}
