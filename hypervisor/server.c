/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The daemon socket: accepts clients, checks their credentials, decodes
 * their requests (protocol.c) and queues replies and events.  Every socket
 * is non-blocking; a client whose queued output passes ORIEL_HV_MAX_OUTPUT
 * (one that never reads) is dropped so it cannot hold the daemon's memory.
 */
#include "hv-priv.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <grp.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define READ_CHUNK 65536
#define MAX_PEER_GROUPS 256

struct _OrielHvClient {
    gint refcount;
    OrielHv *hv;         /* NULL once the client is closed */
    GSocket *socket;
    GSource *in_source;
    GSource *out_source;
    OrielHvDecoder *decoder;
    GString *output;
    gsize output_offset;
    gboolean subscribed;
    gboolean close_after_flush;
    uid_t uid;
    pid_t pid;
};

struct _OrielHvCall {
    OrielHvClient *client; /* referenced */
    JsonNode *id;
};

static OrielHvClient *
client_ref(OrielHvClient *client)
{
    g_atomic_int_inc(&client->refcount);
    return client;
}

static void
client_unref(OrielHvClient *client)
{
    if (!client || !g_atomic_int_dec_and_test(&client->refcount))
        return;
    g_clear_object(&client->socket);
    oriel_hv_decoder_free(client->decoder);
    g_string_free(client->output, TRUE);
    g_free(client);
}

static void
client_close(OrielHvClient *client)
{
    OrielHv *hv = client->hv;

    if (!hv)
        return;
    g_debug("client pid %d gone", (int)client->pid);
    client->hv = NULL;
    if (client->in_source) {
        g_source_destroy(client->in_source);
        g_clear_pointer(&client->in_source, g_source_unref);
    }
    if (client->out_source) {
        g_source_destroy(client->out_source);
        g_clear_pointer(&client->out_source, g_source_unref);
    }
    g_socket_close(client->socket, NULL);
    hv->clients = g_list_remove(hv->clients, client);
    hv->n_clients--;
    client_unref(client);
}

static gboolean on_client_writable(GSocket *socket, GIOCondition condition, gpointer user_data);

static void
client_flush(OrielHvClient *client)
{
    while (client->output_offset < client->output->len) {
        g_autoptr(GError) error = NULL;
        gssize sent = g_socket_send(client->socket, client->output->str + client->output_offset,
                                    client->output->len - client->output_offset, NULL, &error);
        if (sent < 0) {
            if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
                break;
            client_close(client);
            return;
        }
        client->output_offset += (gsize)sent;
    }
    if (client->output_offset == client->output->len) {
        g_string_truncate(client->output, 0);
        client->output_offset = 0;
        if (client->out_source) {
            g_source_destroy(client->out_source);
            g_clear_pointer(&client->out_source, g_source_unref);
        }
        if (client->close_after_flush)
            client_close(client);
        return;
    }
    if (!client->out_source) {
        client->out_source = g_socket_create_source(client->socket, G_IO_OUT, NULL);
        g_source_set_callback(client->out_source, G_SOURCE_FUNC(on_client_writable), client, NULL);
        g_source_attach(client->out_source, NULL);
    }
}

static gboolean
on_client_writable(GSocket *socket, GIOCondition condition, gpointer user_data)
{
    OrielHvClient *client = user_data;

    client_ref(client);
    g_clear_pointer(&client->out_source, g_source_unref);
    client_flush(client);
    client_unref(client);
    return G_SOURCE_REMOVE;
}

static void
client_send(OrielHvClient *client, const char *line)
{
    if (!client->hv)
        return;
    if (client->output->len - client->output_offset + strlen(line) > ORIEL_HV_MAX_OUTPUT) {
        g_debug("client pid %d does not read its replies; dropping it", (int)client->pid);
        client_close(client);
        return;
    }
    g_string_append(client->output, line);
    if (!client->out_source)
        client_flush(client);
}

/* ---- calls ---------------------------------------------------------------- */

static void
call_free(OrielHvCall *call)
{
    client_unref(call->client);
    if (call->id)
        json_node_unref(call->id);
    g_free(call);
}

void
oriel_hv_call_return(OrielHvCall *call, JsonNode *value)
{
    g_autofree char *line = oriel_hv_encode_return(call->id, value);

    client_send(call->client, line);
    call_free(call);
}

void
oriel_hv_call_return_object(OrielHvCall *call, JsonObject *value)
{
    g_autoptr(JsonNode) node = json_node_new(JSON_NODE_OBJECT);

    json_node_take_object(node, value ? value : json_object_new());
    oriel_hv_call_return(call, node);
}

void
oriel_hv_call_error(OrielHvCall *call, OrielHvError code, const char *format, ...)
{
    va_list args;
    va_start(args, format);
    g_autofree char *desc = g_strdup_vprintf(format, args);
    va_end(args);
    g_autofree char *line = oriel_hv_encode_error(call->id, code, desc);

    client_send(call->client, line);
    call_free(call);
}

void
oriel_hv_call_propagate(OrielHvCall *call, const GError *error)
{
    OrielHvError code = error->domain == ORIEL_HV_ERROR ? (OrielHvError)error->code : ORIEL_HV_ERROR_GENERIC;

    if (error->domain == ORIEL_DEVMODEL_ERROR) {
        if (error->code == ORIEL_DEVMODEL_ERROR_INVALID)
            code = ORIEL_HV_ERROR_INVALID_ARGUMENT;
        else if (error->code == ORIEL_DEVMODEL_ERROR_UNSUPPORTED)
            code = ORIEL_HV_ERROR_UNSUPPORTED;
    }
    oriel_hv_call_error(call, code, "%s", error->message);
}

void
oriel_hv_call_set_subscribed(OrielHvCall *call)
{
    call->client->subscribed = TRUE;
}

uid_t
oriel_hv_call_get_uid(OrielHvCall *call)
{
    return call->client->uid;
}

void
oriel_hv_emit_event(OrielHv *hv, const char *event, JsonObject *data)
{
    g_autofree char *line = oriel_hv_encode_event(event, data, g_get_real_time());
    g_autoptr(GList) clients = g_list_copy(hv->clients);

    /* Sending may drop a client: hold them all first. */
    for (GList *l = clients; l; l = l->next)
        client_ref(l->data);
    for (GList *l = clients; l; l = l->next) {
        OrielHvClient *client = l->data;
        if (client->subscribed)
            client_send(client, line);
        client_unref(client);
    }
}

/* ---- requests ------------------------------------------------------------ */

static void
on_request(const OrielHvRequest *request, const GError *error, JsonNode *id, gpointer user_data)
{
    OrielHvClient *client = user_data;

    if (!client->hv)
        return; /* dropped while handling an earlier line of the same read */
    if (error) {
        g_autofree char *line = oriel_hv_encode_error(id, (OrielHvError)error->code, error->message);
        client_send(client, line);
        return;
    }
    OrielHvCall *call = g_new0(OrielHvCall, 1);
    call->client = client_ref(client);
    call->id = request->id ? json_node_copy(request->id) : NULL;

    OrielHvCommandFunc func = oriel_hv_command_lookup(request->execute);
    if (!func) {
        oriel_hv_call_error(call, ORIEL_HV_ERROR_COMMAND_NOT_FOUND, "the command '%s' does not exist",
                            request->execute);
        return;
    }
    g_debug("client pid %d: %s", (int)client->pid, request->execute);
    func(client->hv, call, request->arguments);
}

static gboolean
on_client_readable(GSocket *socket, GIOCondition condition, gpointer user_data)
{
    OrielHvClient *client = user_data;
    g_autoptr(GError) error = NULL;
    guint8 buffer[READ_CHUNK];

    gssize received = g_socket_receive(socket, (char *)buffer, sizeof(buffer), NULL, &error);
    if (received < 0 && g_error_matches(error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
        return G_SOURCE_CONTINUE;
    if (received <= 0) {
        g_clear_pointer(&client->in_source, g_source_unref);
        client_close(client);
        return G_SOURCE_REMOVE;
    }
    client_ref(client);
    oriel_hv_decoder_feed(client->decoder, buffer, (gsize)received, on_request, client);
    gboolean open = client->hv != NULL;
    client_unref(client);
    return open ? G_SOURCE_CONTINUE : G_SOURCE_REMOVE;
}

/* ---- credentials ---------------------------------------------------------- */

static gboolean
peer_is_authorized(OrielHv *hv, int fd, struct ucred *ret_cred, char **ret_reason)
{
    struct ucred cred = { 0 };
    socklen_t length = sizeof(cred);

    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &length) < 0) {
        *ret_reason = g_strdup_printf("cannot read the peer's credentials: %s", g_strerror(errno));
        return FALSE;
    }
    *ret_cred = cred;
    if (cred.uid == geteuid() || (hv->mode == ORIEL_MODE_SYSTEM && cred.uid == 0))
        return TRUE;
    if (hv->mode == ORIEL_MODE_SYSTEM && hv->oriel_group_known) {
        gid_t groups[MAX_PEER_GROUPS];
        socklen_t groups_length = sizeof(groups);
        if (cred.gid == hv->oriel_gid)
            return TRUE;
        if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &groups_length) == 0) {
            for (gsize i = 0; i < groups_length / sizeof(gid_t); i++)
                if (groups[i] == hv->oriel_gid)
                    return TRUE;
        }
    }
    *ret_reason = g_strdup_printf(hv->mode == ORIEL_MODE_SYSTEM
                                      ? "uid %u is neither root nor in the group 'oriel'"
                                      : "uid %u does not own this session daemon",
                                  (unsigned)cred.uid);
    return FALSE;
}

static gboolean
accept_one(OrielHv *hv, GSocket *listener)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GSocket) socket = g_socket_accept(listener, NULL, &error);
    g_autofree char *reason = NULL;
    struct ucred cred = { 0 };

    if (!socket) {
        if (!g_error_matches(error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
            g_message("cannot accept a client: %s", error->message);
        return FALSE;
    }
    g_socket_set_blocking(socket, FALSE);

    OrielHvClient *client = g_new0(OrielHvClient, 1);
    client->refcount = 1;
    client->hv = hv;
    client->socket = g_steal_pointer(&socket);
    client->decoder = oriel_hv_decoder_new();
    client->output = g_string_new(NULL);
    hv->clients = g_list_prepend(hv->clients, client);
    hv->n_clients++;

    gboolean authorized = peer_is_authorized(hv, g_socket_get_fd(client->socket), &cred, &reason);
    client->uid = cred.uid;
    client->pid = cred.pid;
    if (!authorized || hv->n_clients > ORIEL_HV_MAX_CLIENTS) {
        g_autofree char *line = authorized
            ? oriel_hv_encode_error(NULL, ORIEL_HV_ERROR_GENERIC, "too many clients")
            : oriel_hv_encode_error(NULL, ORIEL_HV_ERROR_PERMISSION_DENIED, reason);
        g_message("refusing client pid %d: %s", (int)cred.pid, authorized ? "too many clients" : reason);
        client->close_after_flush = TRUE;
        client_send(client, line);
        return TRUE;
    }
    client->in_source = g_socket_create_source(client->socket, G_IO_IN | G_IO_HUP | G_IO_ERR, NULL);
    g_source_set_callback(client->in_source, G_SOURCE_FUNC(on_client_readable), client, NULL);
    g_source_attach(client->in_source, NULL);
    return TRUE;
}

/* Drains the backlog: a burst of clients is accepted in one wakeup. */
static gboolean
on_incoming(GSocket *listener, GIOCondition condition, gpointer user_data)
{
    for (guint i = 0; i < 64 && accept_one(user_data, listener); i++)
        ;
    return G_SOURCE_CONTINUE;
}

gboolean
oriel_hv_server_listen(OrielHv *hv, GError **error)
{
    g_autoptr(GSocket) listener = g_socket_new(G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_STREAM,
                                               G_SOCKET_PROTOCOL_DEFAULT, error);
    if (!listener)
        return FALSE;
    if (strlen(hv->socket_path) >= 108) {
        g_set_error(error, ORIEL_HV_ERROR, ORIEL_HV_ERROR_GENERIC,
                    "the socket path %s is longer than a Unix socket allows", hv->socket_path);
        return FALSE;
    }
    /* The lock is held: a socket file left here is a dead daemon's. */
    g_unlink(hv->socket_path);
    g_autoptr(GSocketAddress) address = g_unix_socket_address_new(hv->socket_path);
    mode_t old_umask = umask(0177);
    gboolean bound = g_socket_bind(listener, address, FALSE, error);
    umask(old_umask);
    if (!bound) {
        g_prefix_error(error, "cannot listen on %s: ", hv->socket_path);
        return FALSE;
    }
    if (hv->mode == ORIEL_MODE_SYSTEM && hv->oriel_group_known &&
        (chown(hv->socket_path, 0, hv->oriel_gid) < 0 || chmod(hv->socket_path, 0660) < 0))
        g_message("cannot open %s to the group 'oriel': %s", hv->socket_path, g_strerror(errno));
    g_socket_set_listen_backlog(listener, 128);
    if (!g_socket_listen(listener, error))
        return FALSE;
    g_socket_set_blocking(listener, FALSE);
    hv->listener = g_steal_pointer(&listener);
    hv->listener_source = g_socket_create_source(hv->listener, G_IO_IN, NULL);
    g_source_set_callback(hv->listener_source, G_SOURCE_FUNC(on_incoming), hv, NULL);
    g_source_attach(hv->listener_source, NULL);
    return TRUE;
}

void
oriel_hv_server_close(OrielHv *hv)
{
    while (hv->clients)
        client_close(hv->clients->data);
    if (hv->listener_source) {
        g_source_destroy(hv->listener_source);
        g_clear_pointer(&hv->listener_source, g_source_unref);
    }
    if (hv->listener) {
        g_socket_close(hv->listener, NULL);
        g_unlink(hv->socket_path);
        g_clear_object(&hv->listener);
    }
}
