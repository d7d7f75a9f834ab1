/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The broker's replies, parsed and bounded; no I/O (broker-proto.h). */
#define G_LOG_DOMAIN "oriel-viewer"

#include "broker-proto.h"

#include <json-glib/json-glib.h>
#include <string.h>

G_DEFINE_QUARK(oriel-broker-error-quark, oriel_broker_error)

#define GROUPS_MAX 256

void
oriel_broker_login_free(OrielBrokerLogin *login)
{
    if (!login)
        return;
    if (login->token)
        explicit_bzero(login->token, strlen(login->token));
    g_free(login->token);
    g_free(login->user);
    g_strfreev(login->groups);
    g_free(login);
}

void
oriel_broker_pool_free(OrielBrokerPool *pool)
{
    if (!pool)
        return;
    g_free(pool->name);
    g_free(pool->description);
    g_free(pool->assigned);
    g_free(pool);
}

char *
oriel_broker_url_normalize(const char *url, GError **error)
{
    g_autoptr(GUri) uri = NULL;
    g_autoptr(GError) local_error = NULL;

    if (!url || !*url || strlen(url) > 2048) {
        g_set_error(error, ORIEL_BROKER_ERROR, ORIEL_BROKER_ERROR_INVALID, "no broker URL given");
        return NULL;
    }
    uri = g_uri_parse(url, G_URI_FLAGS_NONE, &local_error);
    if (!uri) {
        g_set_error(error, ORIEL_BROKER_ERROR, ORIEL_BROKER_ERROR_INVALID, "broker URL \"%s\": %s", url,
                    local_error->message);
        return NULL;
    }
    const char *path = g_uri_get_path(uri);
    if (g_ascii_strcasecmp(g_uri_get_scheme(uri), "https") != 0) {
        g_set_error(error, ORIEL_BROKER_ERROR, ORIEL_BROKER_ERROR_INVALID,
                    "broker URL \"%s\": must be https:// (the password must not cross the network in clear)", url);
        return NULL;
    }
    if (!g_uri_get_host(uri) || !*g_uri_get_host(uri) || g_uri_get_userinfo(uri) || g_uri_get_query(uri) ||
        g_uri_get_fragment(uri) || (*path && !g_str_equal(path, "/"))) {
        g_set_error(error, ORIEL_BROKER_ERROR, ORIEL_BROKER_ERROR_INVALID,
                    "broker URL \"%s\": expected https://HOST[:PORT]", url);
        return NULL;
    }
    const char *host = g_uri_get_host(uri);
    gint port = g_uri_get_port(uri);
    gboolean v6 = strchr(host, ':') != NULL;
    if (port > 0)
        return g_strdup_printf("https://%s%s%s:%d", v6 ? "[" : "", host, v6 ? "]" : "", port);
    return g_strdup_printf("https://%s%s%s", v6 ? "[" : "", host, v6 ? "]" : "");
}

gboolean
oriel_broker_name_is_safe(const char *name)
{
    gsize length = name ? strlen(name) : 0;

    if (length == 0 || length > ORIEL_BROKER_NAME_MAX || name[0] == '.')
        return FALSE;
    for (gsize i = 0; i < length; i++) {
        if (!g_ascii_isalnum(name[i]) && name[i] != '.' && name[i] != '_' && name[i] != '-')
            return FALSE;
    }
    return TRUE;
}

char *
oriel_broker_login_request(const char *user, const char *password)
{
    g_autoptr(JsonBuilder) builder = json_builder_new();

    json_builder_begin_object(builder);
    json_builder_set_member_name(builder, "user");
    json_builder_add_string_value(builder, user);
    json_builder_set_member_name(builder, "password");
    json_builder_add_string_value(builder, password);
    json_builder_end_object(builder);
    g_autoptr(JsonNode) root = json_builder_get_root(builder);
    return json_to_string(root, FALSE);
}

/* The top-level object of a reply, or NULL with @error set. */
static JsonObject *
parse_object(JsonParser *parser, const char *data, gsize length, const char *what, GError **error)
{
    g_autoptr(GError) local_error = NULL;

    if (length > ORIEL_BROKER_REPLY_MAX) {
        g_set_error(error, ORIEL_BROKER_ERROR, ORIEL_BROKER_ERROR_PROTOCOL, "%s: the broker's reply is too large",
                    what);
        return NULL;
    }
    if (memchr(data, '\0', length) || !g_utf8_validate_len(data, length, NULL)) {
        g_set_error(error, ORIEL_BROKER_ERROR, ORIEL_BROKER_ERROR_PROTOCOL, "%s: the broker's reply is not UTF-8 text",
                    what);
        return NULL;
    }
    if (!json_parser_load_from_data(parser, data, (gssize)length, &local_error)) {
        g_set_error(error, ORIEL_BROKER_ERROR, ORIEL_BROKER_ERROR_PROTOCOL, "%s: the broker's reply is not JSON: %s",
                    what, local_error->message);
        return NULL;
    }
    JsonNode *root = json_parser_get_root(parser);
    if (!root || !JSON_NODE_HOLDS_OBJECT(root)) {
        g_set_error(error, ORIEL_BROKER_ERROR, ORIEL_BROKER_ERROR_PROTOCOL,
                    "%s: the broker's reply is not a JSON object", what);
        return NULL;
    }
    return json_node_get_object(root);
}

/* A string member: NULL when absent or null (and @required is FALSE). */
static gboolean
get_string(JsonObject *object, const char *member, gboolean required, gsize max, const char *what,
           const char **ret, GError **error)
{
    JsonNode *node = json_object_get_member(object, member);

    *ret = NULL;
    if (!node || JSON_NODE_HOLDS_NULL(node)) {
        if (!required)
            return TRUE;
        g_set_error(error, ORIEL_BROKER_ERROR, ORIEL_BROKER_ERROR_PROTOCOL, "%s: the reply has no \"%s\"", what,
                    member);
        return FALSE;
    }
    if (!JSON_NODE_HOLDS_VALUE(node) || json_node_get_value_type(node) != G_TYPE_STRING) {
        g_set_error(error, ORIEL_BROKER_ERROR, ORIEL_BROKER_ERROR_PROTOCOL, "%s: \"%s\" is not a string", what,
                    member);
        return FALSE;
    }
    const char *value = json_node_get_string(node);
    if (strlen(value) > max) {
        g_set_error(error, ORIEL_BROKER_ERROR, ORIEL_BROKER_ERROR_PROTOCOL, "%s: \"%s\" is too long", what, member);
        return FALSE;
    }
    *ret = value;
    return TRUE;
}

static gboolean
get_int(JsonObject *object, const char *member, gint64 fallback, const char *what, gint64 *ret, GError **error)
{
    JsonNode *node = json_object_get_member(object, member);

    *ret = fallback;
    if (!node || JSON_NODE_HOLDS_NULL(node))
        return TRUE;
    if (!JSON_NODE_HOLDS_VALUE(node) || json_node_get_value_type(node) != G_TYPE_INT64) {
        g_set_error(error, ORIEL_BROKER_ERROR, ORIEL_BROKER_ERROR_PROTOCOL, "%s: \"%s\" is not an integer", what,
                    member);
        return FALSE;
    }
    *ret = json_node_get_int(node);
    return TRUE;
}

/* A bearer token goes into an HTTP header: visible ASCII only. */
static gboolean
token_is_safe(const char *token)
{
    if (!*token)
        return FALSE;
    for (const char *p = token; *p; p++) {
        if (*p <= ' ' || *p >= 0x7f)
            return FALSE;
    }
    return TRUE;
}

OrielBrokerLogin *
oriel_broker_login_parse(const char *data, gsize length, GError **error)
{
    static const char what[] = "login";
    g_autoptr(JsonParser) parser = json_parser_new();
    JsonObject *object = parse_object(parser, data, length, what, error);
    const char *token, *user;
    gint64 expires;

    if (!object || !get_string(object, "token", TRUE, ORIEL_BROKER_TOKEN_MAX, what, &token, error) ||
        !get_string(object, "user", FALSE, ORIEL_BROKER_NAME_MAX, what, &user, error) ||
        !get_int(object, "expires", 0, what, &expires, error))
        return NULL;
    if (!token_is_safe(token)) {
        g_set_error(error, ORIEL_BROKER_ERROR, ORIEL_BROKER_ERROR_PROTOCOL,
                    "%s: the token holds characters a header cannot carry", what);
        return NULL;
    }
    g_autoptr(GStrvBuilder) groups = g_strv_builder_new();
    JsonNode *node = json_object_get_member(object, "groups");
    if (node && !JSON_NODE_HOLDS_NULL(node)) {
        JsonArray *array = JSON_NODE_HOLDS_ARRAY(node) ? json_node_get_array(node) : NULL;
        if (!array || json_array_get_length(array) > GROUPS_MAX) {
            g_set_error(error, ORIEL_BROKER_ERROR, ORIEL_BROKER_ERROR_PROTOCOL,
                        "%s: \"groups\" is not a list of at most %d names", what, GROUPS_MAX);
            return NULL;
        }
        for (guint i = 0; i < json_array_get_length(array); i++) {
            JsonNode *element = json_array_get_element(array, i);
            if (!JSON_NODE_HOLDS_VALUE(element) || json_node_get_value_type(element) != G_TYPE_STRING ||
                strlen(json_node_get_string(element)) > ORIEL_BROKER_NAME_MAX) {
                g_set_error(error, ORIEL_BROKER_ERROR, ORIEL_BROKER_ERROR_PROTOCOL,
                            "%s: \"groups\" holds something that is not a group name", what);
                return NULL;
            }
            g_strv_builder_add(groups, json_node_get_string(element));
        }
    }
    OrielBrokerLogin *login = g_new0(OrielBrokerLogin, 1);
    login->token = g_strdup(token);
    login->user = g_strdup(user);
    login->groups = g_strv_builder_end(groups);
    login->expires = expires;
    return login;
}

static OrielBrokerPool *
pool_parse(JsonNode *node, guint index, GError **error)
{
    g_autofree char *what = g_strdup_printf("desktop list: pool %u", index);
    JsonObject *object = JSON_NODE_HOLDS_OBJECT(node) ? json_node_get_object(node) : NULL;
    const char *name, *description, *assigned = NULL;
    gint64 free;

    if (!object) {
        g_set_error(error, ORIEL_BROKER_ERROR, ORIEL_BROKER_ERROR_PROTOCOL, "%s: not an object", what);
        return NULL;
    }
    if (!get_string(object, "name", TRUE, ORIEL_BROKER_NAME_MAX, what, &name, error) ||
        !get_string(object, "description", FALSE, ORIEL_BROKER_TEXT_MAX, what, &description, error) ||
        !get_int(object, "free", -1, what, &free, error))
        return NULL;
    if (!oriel_broker_name_is_safe(name)) {
        g_set_error(error, ORIEL_BROKER_ERROR, ORIEL_BROKER_ERROR_PROTOCOL, "%s: \"%s\" is not a usable pool name",
                    what, name);
        return NULL;
    }
    JsonNode *persistent = json_object_get_member(object, "persistent");
    if (persistent && !(JSON_NODE_HOLDS_VALUE(persistent) &&
                        json_node_get_value_type(persistent) == G_TYPE_BOOLEAN)) {
        g_set_error(error, ORIEL_BROKER_ERROR, ORIEL_BROKER_ERROR_PROTOCOL, "%s: \"persistent\" is not a boolean",
                    what);
        return NULL;
    }
    /* "assigned": this user's desktop (a name), null, or a plain boolean. */
    JsonNode *assigned_node = json_object_get_member(object, "assigned");
    if (assigned_node && JSON_NODE_HOLDS_VALUE(assigned_node) &&
        json_node_get_value_type(assigned_node) == G_TYPE_BOOLEAN) {
        assigned = json_node_get_boolean(assigned_node) ? name : NULL;
    } else if (!get_string(object, "assigned", FALSE, ORIEL_BROKER_NAME_MAX, what, &assigned, error)) {
        return NULL;
    }
    OrielBrokerPool *pool = g_new0(OrielBrokerPool, 1);
    pool->name = g_strdup(name);
    pool->description = g_strdup(description ? description : "");
    pool->persistent = persistent && json_node_get_boolean(persistent);
    pool->free = free;
    pool->assigned = g_strdup(assigned);
    return pool;
}

GPtrArray *
oriel_broker_pools_parse(const char *data, gsize length, GError **error)
{
    static const char what[] = "desktop list";
    g_autoptr(JsonParser) parser = json_parser_new();
    JsonObject *object = parse_object(parser, data, length, what, error);

    if (!object)
        return NULL;
    JsonNode *node = json_object_get_member(object, "pools");
    JsonArray *array = node && JSON_NODE_HOLDS_ARRAY(node) ? json_node_get_array(node) : NULL;
    if (!array) {
        g_set_error(error, ORIEL_BROKER_ERROR, ORIEL_BROKER_ERROR_PROTOCOL, "%s: the reply has no \"pools\" list",
                    what);
        return NULL;
    }
    if (json_array_get_length(array) > ORIEL_BROKER_POOLS_MAX) {
        g_set_error(error, ORIEL_BROKER_ERROR, ORIEL_BROKER_ERROR_PROTOCOL, "%s: more than %d pools", what,
                    ORIEL_BROKER_POOLS_MAX);
        return NULL;
    }
    g_autoptr(GPtrArray) pools = g_ptr_array_new_with_free_func((GDestroyNotify)oriel_broker_pool_free);
    for (guint i = 0; i < json_array_get_length(array); i++) {
        OrielBrokerPool *pool = pool_parse(json_array_get_element(array, i), i, error);
        if (!pool)
            return NULL;
        g_ptr_array_add(pools, pool);
    }
    return g_steal_pointer(&pools);
}

/* Printable text for a message line: control characters become spaces. */
static char *
sanitize_text(const char *text)
{
    char *copy = g_utf8_make_valid(text, -1);

    for (char *p = copy; *p; p++) {
        if ((guchar)*p < ' ' || *p == 0x7f)
            *p = ' ';
    }
    return copy;
}

char *
oriel_broker_error_message(const char *data, gsize length)
{
    g_autoptr(JsonParser) parser = json_parser_new();
    const char *message = NULL;

    if (!data || length == 0)
        return NULL;
    JsonObject *object = parse_object(parser, data, length, "error", NULL);
    if (!object || !get_string(object, "error", TRUE, ORIEL_BROKER_TEXT_MAX, "error", &message, NULL) ||
        !*message)
        return NULL;
    return sanitize_text(message);
}

void
oriel_broker_set_http_error(GError **error, const char *what, guint status, const char *reason,
                            const char *data, gsize length)
{
    g_autofree char *message = oriel_broker_error_message(data, length);
    g_autofree char *safe_reason = reason ? sanitize_text(reason) : NULL;
    OrielBrokerError code;

    switch (status) {
    case 401: code = ORIEL_BROKER_ERROR_AUTH; break;
    case 403: code = ORIEL_BROKER_ERROR_FORBIDDEN; break;
    case 404: code = ORIEL_BROKER_ERROR_NOT_FOUND; break;
    case 429: code = ORIEL_BROKER_ERROR_LOCKED; break;
    default: code = status >= 500 ? ORIEL_BROKER_ERROR_UNAVAILABLE : ORIEL_BROKER_ERROR_PROTOCOL; break;
    }
    g_set_error(error, ORIEL_BROKER_ERROR, code, "%s: %s (HTTP %u)", what,
                message ? message : safe_reason && *safe_reason ? safe_reason : "the broker refused", status);
}
