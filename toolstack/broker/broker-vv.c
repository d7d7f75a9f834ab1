/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The .vv connection file and orield's ticket reply. */
#include "broker.h"

#include <string.h>

char *
oriel_broker_vv_build(const OrielBrokerVv *vv, GError **error)
{
    g_autoptr(GKeyFile) file = g_key_file_new();
    const char *group = "virt-viewer";

    if (!vv->host || (vv->port == 0 && vv->tls_port == 0) || !vv->password) {
        g_set_error(error, ORIEL_BROKER_ERROR, ORIEL_BROKER_ERROR_INVALID, ".vv: needs a host, a port and a password");
        return NULL;
    }
    if (vv->tls_port && !vv->ca_pem) {
        g_set_error(error, ORIEL_BROKER_ERROR, ORIEL_BROKER_ERROR_INVALID, ".vv: a TLS port needs the CA certificate");
        return NULL;
    }
    g_key_file_set_string(file, group, "type", "spice");
    g_key_file_set_string(file, group, "host", vv->host);
    if (vv->port)
        g_key_file_set_integer(file, group, "port", (gint)vv->port);
    if (vv->tls_port)
        g_key_file_set_integer(file, group, "tls-port", (gint)vv->tls_port);
    g_key_file_set_string(file, group, "password", vv->password);
    if (vv->title)
        g_key_file_set_string(file, group, "title", vv->title);
    g_key_file_set_integer(file, group, "delete-this-file", 1);
    if (vv->tls_port) {
        /* GKeyFile writes the PEM's newlines as \n, as virt-viewer expects. */
        g_key_file_set_string(file, group, "ca", vv->ca_pem);
        if (vv->host_subject)
            g_key_file_set_string(file, group, "host-subject", vv->host_subject);
        g_key_file_set_string(file, group, "secure-channels", "all");
    }
    return g_key_file_to_data(file, NULL, error);
}

/* "spice://HOST:PORT" or "spice://[V6]:PORT", with an optional query. */
static gboolean
parse_spice_address(const char *address, char **ret_host, guint *ret_port)
{
    const char *rest = g_str_has_prefix(address, "spice://") ? address + strlen("spice://") : NULL;
    g_autofree char *host = NULL;
    const char *port_text;

    if (!rest)
        return FALSE;
    if (*rest == '[') {
        const char *close = strchr(rest, ']');
        if (!close || close[1] != ':')
            return FALSE;
        host = g_strndup(rest + 1, close - rest - 1);
        port_text = close + 2;
    } else {
        const char *colon = strchr(rest, ':');
        if (!colon)
            return FALSE;
        host = g_strndup(rest, colon - rest);
        port_text = colon + 1;
    }
    g_autofree char *port_only = g_strndup(port_text, strcspn(port_text, "?/"));
    guint64 port = 0;
    if (!*host || !g_ascii_string_to_unsigned(port_only, 10, 1, 65535, &port, NULL))
        return FALSE;
    *ret_host = g_steal_pointer(&host);
    *ret_port = (guint)port;
    return TRUE;
}

static gboolean
optional_port(JsonObject *reply, const char *name, guint *port)
{
    JsonNode *node = json_object_get_member(reply, name);

    if (!node || JSON_NODE_HOLDS_NULL(node))
        return TRUE;
    if (!JSON_NODE_HOLDS_VALUE(node) || json_node_get_value_type(node) != G_TYPE_INT64 ||
        json_node_get_int(node) < 0 || json_node_get_int(node) > 65535)
        return FALSE;
    *port = (guint)json_node_get_int(node);
    return TRUE;
}

static const char *
string_member(JsonObject *object, const char *name)
{
    JsonNode *node = json_object_get_member(object, name);

    if (!node || !JSON_NODE_HOLDS_VALUE(node) || json_node_get_value_type(node) != G_TYPE_STRING)
        return NULL;
    return json_node_get_string(node);
}

gboolean
oriel_broker_parse_ticket_reply(JsonObject *reply, char **ret_host, guint *ret_port, guint *ret_tls_port,
                                char **ret_ticket, GError **error)
{
    const char *address = string_member(reply, "address");
    const char *ticket = string_member(reply, "ticket");
    g_autofree char *host = NULL;
    guint port = 0, tls_port = 0;

    if (!address)
        address = string_member(reply, "uri");
    if (!address || !parse_spice_address(address, &host, &port) || !ticket || !*ticket ||
        strlen(ticket) > 256 || !optional_port(reply, "port", &port) || !optional_port(reply, "tls_port", &tls_port)) {
        g_set_error(error, ORIEL_BROKER_ERROR, ORIEL_BROKER_ERROR_SYNTAX,
                    "orield's domain-spice-ticket reply lacks a valid address or ticket");
        return FALSE;
    }
    *ret_host = g_steal_pointer(&host);
    *ret_port = port;
    *ret_tls_port = tls_port;
    *ret_ticket = g_strdup(ticket);
    return TRUE;
}
