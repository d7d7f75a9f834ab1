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
        g_set_error(error, ORIEL_BROKER_SERVER_ERROR, ORIEL_BROKER_SERVER_ERROR_INVALID, ".vv: needs a host, a port and a password");
        return NULL;
    }
    if (vv->tls_port && !vv->ca_pem) {
        g_set_error(error, ORIEL_BROKER_SERVER_ERROR, ORIEL_BROKER_SERVER_ERROR_INVALID, ".vv: a TLS port needs the CA certificate");
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
oriel_broker_parse_ticket_reply(JsonObject *reply, OrielBrokerTicket *ret_ticket, GError **error)
{
    const char *address = string_member(reply, "address");
    const char *host_member = string_member(reply, "host");
    const char *ticket = string_member(reply, "ticket");
    const char *ca = string_member(reply, "ca");
    const char *host_subject = string_member(reply, "host_subject");
    g_autofree char *host = NULL;
    guint port = 0, tls_port = 0;
    gboolean ok;

    if (!address)
        address = string_member(reply, "uri");
    /* orield since one-time tickets: host, port and tls_port; before: the address. */
    if (host_member && *host_member && strlen(host_member) <= 255)
        host = g_strdup(host_member);
    ok = host || (address && parse_spice_address(address, &host, &port));
    ok = ok && optional_port(reply, "port", &port) && optional_port(reply, "tls_port", &tls_port) &&
         (port || tls_port) && ticket && *ticket && strlen(ticket) <= 256 &&
         (!ca || strlen(ca) <= 65536) && (!host_subject || strlen(host_subject) <= 1024);
    if (!ok) {
        g_set_error(error, ORIEL_BROKER_SERVER_ERROR, ORIEL_BROKER_SERVER_ERROR_SYNTAX,
                    "orield's domain-spice-ticket reply lacks a valid address or ticket");
        return FALSE;
    }
    ret_ticket->host = g_steal_pointer(&host);
    ret_ticket->port = port;
    ret_ticket->tls_port = tls_port;
    ret_ticket->ticket = g_strdup(ticket);
    ret_ticket->ca_pem = g_strdup(ca);
    ret_ticket->host_subject = g_strdup(host_subject);
    return TRUE;
}

void
oriel_broker_ticket_clear(OrielBrokerTicket *ticket)
{
    if (ticket->ticket)
        explicit_bzero(ticket->ticket, strlen(ticket->ticket));
    g_clear_pointer(&ticket->host, g_free);
    g_clear_pointer(&ticket->ticket, g_free);
    g_clear_pointer(&ticket->ca_pem, g_free);
    g_clear_pointer(&ticket->host_subject, g_free);
}
