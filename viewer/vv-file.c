/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* virt-viewer connection files: the [virt-viewer] group of a key file. */
#define G_LOG_DOMAIN "oriel-viewer"

#include "oriel-viewer.h"
#include "keyfile-util.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <stdio.h>
#include <string.h>

#define VV_GROUP "virt-viewer"

typedef enum {
    VV_STRING,
    VV_PORT,
    VV_BOOL,
    VV_LIST,
} VvKeyType;

/* Every key we understand, and where it lands in the connection. */
typedef struct {
    const char *name;
    VvKeyType type;
    gsize offset;
} VvKey;

#define VV_FIELD(member) G_STRUCT_OFFSET(OrielViewerConnection, member)

static const VvKey vv_keys[] = {
    { "host", VV_STRING, VV_FIELD(host) },
    { "port", VV_PORT, VV_FIELD(port) },
    { "tls-port", VV_PORT, VV_FIELD(tls_port) },
    { "unix-path", VV_STRING, VV_FIELD(unix_path) },
    { "username", VV_STRING, VV_FIELD(username) },
    { "password", VV_STRING, VV_FIELD(password) },
    { "title", VV_STRING, VV_FIELD(title) },
    { "fullscreen", VV_BOOL, VV_FIELD(fullscreen) },
    { "ca", VV_STRING, VV_FIELD(ca) },
    { "host-subject", VV_STRING, VV_FIELD(host_subject) },
    { "tls-ciphers", VV_STRING, VV_FIELD(tls_ciphers) },
    { "secure-channels", VV_LIST, VV_FIELD(secure_channels) },
    { "disable-channels", VV_LIST, VV_FIELD(disable_channels) },
    { "proxy", VV_STRING, VV_FIELD(proxy) },
    { "enable-usbredir", VV_BOOL, VV_FIELD(enable_usbredir) },
    { "enable-usb-autoshare", VV_BOOL, VV_FIELD(enable_usb_autoshare) },
    { "usb-filter", VV_STRING, VV_FIELD(usb_filter) },
    { "release-cursor", VV_STRING, VV_FIELD(release_cursor) },
    { "toggle-fullscreen", VV_STRING, VV_FIELD(toggle_fullscreen) },
    { "secure-attention", VV_STRING, VV_FIELD(secure_attention) },
    { "zoom-in", VV_STRING, VV_FIELD(zoom_in) },
    { "zoom-out", VV_STRING, VV_FIELD(zoom_out) },
    { "zoom-reset", VV_STRING, VV_FIELD(zoom_reset) },
};

static gboolean
vv_error(GError **error, const char *key, const char *fmt, ...) G_GNUC_PRINTF(3, 4);

static gboolean
vv_error(GError **error, const char *key, const char *fmt, ...)
{
    va_list args;
    g_autofree char *message = NULL;

    va_start(args, fmt);
    message = g_strdup_vprintf(fmt, args);
    va_end(args);
    g_set_error(error, ORIEL_VIEWER_ERROR, ORIEL_VIEWER_ERROR_INVALID,
                "[" VV_GROUP "] %s: %s", key, message);
    return FALSE;
}

/* virt-viewer writes booleans as 0/1; GKeyFile also takes true/false. */
static gboolean
parse_bool(const char *key, const char *text, gboolean *value, GError **error)
{
    if (g_str_equal(text, "1") || g_ascii_strcasecmp(text, "true") == 0) {
        *value = TRUE;
        return TRUE;
    }
    if (g_str_equal(text, "0") || g_ascii_strcasecmp(text, "false") == 0) {
        *value = FALSE;
        return TRUE;
    }
    return vv_error(error, key, "\"%s\" is not a boolean (0 or 1)", text);
}

static gboolean
apply_key(OrielViewerConnection *connection, GKeyFile *file, const VvKey *key, GError **error)
{
    g_autoptr(GError) local_error = NULL;
    g_autofree char *text = NULL;
    guint8 *field = (guint8 *)connection + key->offset;
    guint64 port = 0;
    gboolean flag = FALSE;

    /* Unescaped: the ca key relies on \n. */
    text = oriel_viewer_keyfile_get_string(file, VV_GROUP, key->name, &local_error);
    if (!text)
        return vv_error(error, key->name, "%s", local_error->message);

    switch (key->type) {
    case VV_STRING:
        g_free(*(char **)field);
        *(char **)field = g_steal_pointer(&text);
        return TRUE;
    case VV_PORT:
        /* virt-viewer writes -1 for "no port". */
        if (g_str_equal(text, "-1") || g_str_equal(text, "0")) {
            *(int *)field = 0;
            return TRUE;
        }
        if (!g_ascii_string_to_unsigned(text, 10, 1, 65535, &port, NULL))
            return vv_error(error, key->name, "\"%s\" is not a port number (1-65535)", text);
        *(int *)field = (int)port;
        return TRUE;
    case VV_BOOL:
        if (!parse_bool(key->name, text, &flag, error))
            return FALSE;
        *(OrielViewerTristate *)field = flag ? ORIEL_VIEWER_ON : ORIEL_VIEWER_OFF;
        return TRUE;
    case VV_LIST: {
        g_auto(GStrv) items = g_strsplit(text, ";", -1);
        g_autoptr(GStrvBuilder) builder = g_strv_builder_new();
        for (char **item = items; *item; item++) {
            g_strstrip(*item);
            if (**item)
                g_strv_builder_add(builder, *item);
        }
        g_strfreev(*(char ***)field);
        *(char ***)field = g_strv_builder_end(builder);
        return TRUE;
    }
    }
    g_assert_not_reached();
}

OrielViewerConnection *
oriel_viewer_vv_parse_data(const char *data, gsize length, GError **error)
{
    g_autoptr(OrielViewerConnection) connection = oriel_viewer_connection_new();
    g_autoptr(GKeyFile) file = g_key_file_new();
    g_autoptr(GError) local_error = NULL;
    g_autofree char *type = NULL;
    gboolean delete_file = FALSE;

    if (length > ORIEL_VIEWER_VV_MAX_SIZE) {
        g_set_error(error, ORIEL_VIEWER_ERROR, ORIEL_VIEWER_ERROR_TOO_LARGE,
                    "connection file larger than %d bytes", ORIEL_VIEWER_VV_MAX_SIZE);
        return NULL;
    }
    /* GKeyFile wants text: a NUL inside would silently cut the file short. */
    if (memchr(data, '\0', length)) {
        g_set_error_literal(error, ORIEL_VIEWER_ERROR, ORIEL_VIEWER_ERROR_INVALID,
                            "connection file contains a NUL byte");
        return NULL;
    }
    if (!g_key_file_load_from_data(file, data, length, G_KEY_FILE_NONE, &local_error)) {
        g_set_error(error, ORIEL_VIEWER_ERROR, ORIEL_VIEWER_ERROR_INVALID,
                    "not a connection file: %s", local_error->message);
        return NULL;
    }
    if (!g_key_file_has_group(file, VV_GROUP)) {
        g_set_error_literal(error, ORIEL_VIEWER_ERROR, ORIEL_VIEWER_ERROR_INVALID,
                            "no [" VV_GROUP "] group in the connection file");
        return NULL;
    }

    type = oriel_viewer_keyfile_get_string(file, VV_GROUP, "type", NULL);
    if (!type) {
        vv_error(error, "type", "missing (expected type=spice)");
        return NULL;
    }
    if (!g_str_equal(type, "spice")) {
        g_set_error(error, ORIEL_VIEWER_ERROR, ORIEL_VIEWER_ERROR_UNSUPPORTED,
                    "[" VV_GROUP "] type: \"%s\" is not supported (only spice)", type);
        return NULL;
    }

    for (gsize i = 0; i < G_N_ELEMENTS(vv_keys); i++) {
        if (!g_key_file_has_key(file, VV_GROUP, vv_keys[i].name, NULL))
            continue;
        if (!apply_key(connection, file, &vv_keys[i], error))
            return NULL;
    }
    if (g_key_file_has_key(file, VV_GROUP, "delete-this-file", NULL)) {
        g_autofree char *text =
            oriel_viewer_keyfile_get_string(file, VV_GROUP, "delete-this-file", &local_error);
        if (!text) {
            vv_error(error, "delete-this-file", "%s", local_error->message);
            return NULL;
        }
        if (!parse_bool("delete-this-file", text, &delete_file, error))
            return NULL;
        connection->delete_this_file = delete_file;
    }

    if (connection->host && !*connection->host)
        g_clear_pointer(&connection->host, g_free);
    if (connection->unix_path && !*connection->unix_path)
        g_clear_pointer(&connection->unix_path, g_free);
    if (!connection->unix_path && !connection->host) {
        vv_error(error, "host", "missing (a connection file needs host or unix-path)");
        return NULL;
    }
    if (!connection->unix_path && !connection->port && !connection->tls_port) {
        vv_error(error, "port", "missing (a connection file needs port or tls-port)");
        return NULL;
    }
    return g_steal_pointer(&connection);
}

static gboolean
read_stdin(char **contents, gsize *length, GError **error)
{
    g_autoptr(GString) data = g_string_new(NULL);
    char buffer[4096];
    size_t n;

    while ((n = fread(buffer, 1, sizeof buffer, stdin)) > 0) {
        if (data->len + n > ORIEL_VIEWER_VV_MAX_SIZE) {
            g_set_error(error, ORIEL_VIEWER_ERROR, ORIEL_VIEWER_ERROR_TOO_LARGE,
                        "connection file on stdin larger than %d bytes",
                        ORIEL_VIEWER_VV_MAX_SIZE);
            return FALSE;
        }
        g_string_append_len(data, buffer, (gssize)n);
    }
    if (ferror(stdin)) {
        g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_IO, "reading stdin: %s",
                    g_strerror(errno));
        return FALSE;
    }
    *length = data->len;
    *contents = g_string_free(g_steal_pointer(&data), FALSE);
    return TRUE;
}

OrielViewerConnection *
oriel_viewer_vv_load(const char *path, GError **error)
{
    g_autofree char *contents = NULL;
    gsize length = 0;
    gboolean from_stdin = g_str_equal(path, "-");
    g_autoptr(GError) local_error = NULL;
    OrielViewerConnection *connection;

    if (from_stdin) {
        if (!read_stdin(&contents, &length, error))
            return NULL;
    } else {
        GStatBuf st;
        if (g_stat(path, &st) == 0 && st.st_size > ORIEL_VIEWER_VV_MAX_SIZE) {
            g_set_error(error, ORIEL_VIEWER_ERROR, ORIEL_VIEWER_ERROR_TOO_LARGE,
                        "%s: larger than %d bytes", path, ORIEL_VIEWER_VV_MAX_SIZE);
            return NULL;
        }
        if (!g_file_get_contents(path, &contents, &length, error))
            return NULL;
    }
    connection = oriel_viewer_vv_parse_data(contents, length, &local_error);
    if (contents)
        memset(contents, 0, length);   /* it may hold a ticket */
    if (!connection) {
        g_set_error(error, local_error->domain, local_error->code, "%s: %s",
                    from_stdin ? "stdin" : path, local_error->message);
        return NULL;
    }
    if (connection->delete_this_file && !from_stdin && g_unlink(path) != 0)
        g_debug("could not delete %s: %s", path, g_strerror(errno));
    return connection;
}

char *
oriel_viewer_vv_to_data(const OrielViewerConnection *connection, gsize *length)
{
    g_autoptr(GKeyFile) file = g_key_file_new();

    g_key_file_set_string(file, VV_GROUP, "type", "spice");
    for (gsize i = 0; i < G_N_ELEMENTS(vv_keys); i++) {
        const VvKey *key = &vv_keys[i];
        const guint8 *field = (const guint8 *)connection + key->offset;

        switch (key->type) {
        case VV_STRING:
            if (*(char *const *)field)
                g_key_file_set_string(file, VV_GROUP, key->name, *(char *const *)field);
            break;
        case VV_PORT:
            if (*(const int *)field)
                g_key_file_set_integer(file, VV_GROUP, key->name, *(const int *)field);
            break;
        case VV_BOOL:
            if (*(const OrielViewerTristate *)field != ORIEL_VIEWER_UNSET)
                g_key_file_set_integer(file, VV_GROUP, key->name,
                                       *(const OrielViewerTristate *)field == ORIEL_VIEWER_ON);
            break;
        case VV_LIST:
            if (*(char **const *)field) {
                g_autofree char *joined = g_strjoinv(";", *(char **const *)field);
                g_key_file_set_string(file, VV_GROUP, key->name, joined);
            }
            break;
        }
    }
    if (connection->delete_this_file)
        g_key_file_set_integer(file, VV_GROUP, "delete-this-file", 1);
    return g_key_file_to_data(file, length, NULL);
}
