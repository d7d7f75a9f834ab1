/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The desktops on this host: qcow2 overlays on the pool's golden image,
 * defined, started and ticketed in orield through liboriel's client.
 * Called from worker threads: each call borrows an orield connection from
 * a small pool and holds the desktop's lock while it works on it.
 */
#include "broker-server.h"

#include <errno.h>
#include <gio/gunixsocketaddress.h>
#include <glib/gstdio.h>
#include <string.h>

#include "client.h"
#include "xlcfg.h"

#define CLIENTS_IDLE_MAX 32

typedef struct {
    GMutex lock;          /* held while it is defined, started, reset */
    gint broker_stop;     /* the broker stops it: its shutoff is not a power-off */
    gint running;         /* seen running and not stopped since: tickets need no lock */
} Desktop;

struct _OrielBrokerHost {
    char *socket_path;
    char *disk_dir;
    GMutex lock;           /* desktops, idle clients */
    GHashTable *desktops;  /* name -> Desktop */
    GPtrArray *idle;       /* OrielClient * */
    gint one_time;         /* orield accepts "one_time": 1 yes, 0 unknown, -1 no */
    GThread *watcher;
    GCancellable *cancellable; /* stops the watcher */
    GMainContext *context;
    void (*callback)(const char *desktop, gpointer user_data);
    gpointer user_data;
};

static void
desktop_free(Desktop *desktop)
{
    g_mutex_clear(&desktop->lock);
    g_free(desktop);
}

OrielBrokerHost *
oriel_broker_host_new(const char *socket_path, const char *disk_dir, GError **error)
{
    if (g_mkdir_with_parents(disk_dir, 0700) != 0) {
        g_set_error(error, ORIEL_BROKER_SERVER_ERROR, ORIEL_BROKER_SERVER_ERROR_IO, "%s: %s", disk_dir, g_strerror(errno));
        return NULL;
    }
    OrielBrokerHost *host = g_new0(OrielBrokerHost, 1);
    host->socket_path = socket_path ? g_strdup(socket_path) : oriel_client_default_socket_path();
    host->disk_dir = g_strdup(disk_dir);
    g_mutex_init(&host->lock);
    host->desktops = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, (GDestroyNotify)desktop_free);
    host->idle = g_ptr_array_new_with_free_func((GDestroyNotify)oriel_client_free);
    host->cancellable = g_cancellable_new();
    return host;
}

void
oriel_broker_host_free(OrielBrokerHost *host)
{
    if (!host)
        return;
    g_cancellable_cancel(host->cancellable);
    if (host->watcher)
        g_thread_join(host->watcher);
    g_object_unref(host->cancellable);
    if (host->context)
        g_main_context_unref(host->context);
    g_ptr_array_unref(host->idle);
    g_hash_table_unref(host->desktops);
    g_mutex_clear(&host->lock);
    g_free(host->socket_path);
    g_free(host->disk_dir);
    g_free(host);
}

/* Desktops are never removed from the table while the host lives. */
static Desktop *
desktop_get(OrielBrokerHost *host, const char *name)
{
    g_mutex_lock(&host->lock);
    Desktop *desktop = g_hash_table_lookup(host->desktops, name);
    if (!desktop) {
        desktop = g_new0(Desktop, 1);
        g_mutex_init(&desktop->lock);
        g_hash_table_insert(host->desktops, g_strdup(name), desktop);
    }
    g_mutex_unlock(&host->lock);
    return desktop;
}

static Desktop *
desktop_lock(OrielBrokerHost *host, const char *name)
{
    Desktop *desktop = desktop_get(host, name);

    g_mutex_lock(&desktop->lock);
    return desktop;
}

static OrielClient *
client_get(OrielBrokerHost *host, GError **error)
{
    g_mutex_lock(&host->lock);
    OrielClient *client = host->idle->len ? g_ptr_array_steal_index_fast(host->idle, host->idle->len - 1) : NULL;
    g_mutex_unlock(&host->lock);
    return client ? client : oriel_client_connect(host->socket_path, error);
}

/* Returns @client to the pool, unless the call failed at the connection. */
static void
client_put(OrielBrokerHost *host, OrielClient *client, const GError *call_error)
{
    if (call_error && (g_error_matches(call_error, ORIEL_CLIENT_ERROR, ORIEL_CLIENT_ERROR_UNREACHABLE) ||
                       g_error_matches(call_error, ORIEL_CLIENT_ERROR, ORIEL_CLIENT_ERROR_PROTOCOL) ||
                       call_error->domain != ORIEL_CLIENT_ERROR)) {
        oriel_client_free(client);
        return;
    }
    g_mutex_lock(&host->lock);
    if (host->idle->len < CLIENTS_IDLE_MAX) {
        g_ptr_array_add(host->idle, client);
        client = NULL;
    }
    g_mutex_unlock(&host->lock);
    oriel_client_free(client);
}

static JsonNode *
call(OrielBrokerHost *host, const char *command, JsonObject *arguments, GError **error)
{
    g_autoptr(GError) local_error = NULL;
    OrielClient *client = client_get(host, error);

    if (!client)
        return NULL;
    JsonNode *reply = oriel_client_call(client, command, arguments, &local_error);
    client_put(host, client, local_error);
    if (!reply)
        g_propagate_error(error, g_steal_pointer(&local_error));
    return reply;
}

static JsonObject *
name_arguments(const char *name)
{
    JsonObject *arguments = json_object_new();
    json_object_set_string_member(arguments, "name", name);
    return arguments;
}

static char *
overlay_path(OrielBrokerHost *host, const char *name)
{
    g_autofree char *file = g_strconcat(name, ".qcow2", NULL);
    return g_build_filename(host->disk_dir, file, NULL);
}

/* A fresh overlay on the golden image (replacing @path atomically). */
static gboolean
create_overlay(const OrielBrokerPoolDef *pool, const char *path, GError **error)
{
    g_autofree char *temporary = g_strconcat(path, ".new", NULL);
    const char *argv[] = { "qemu-img", "create", "-q", "-f", "qcow2", "-b", pool->golden_image, "-F",
                           pool->golden_format, temporary, NULL };
    g_autofree char *err = NULL;
    int status = 0;

    g_unlink(temporary);
    if (!g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_SEARCH_PATH | G_SPAWN_STDOUT_TO_DEV_NULL, NULL, NULL, NULL,
                      &err, &status, error))
        return FALSE;
    if (!g_spawn_check_wait_status(status, NULL)) {
        g_set_error(error, ORIEL_BROKER_SERVER_ERROR, ORIEL_BROKER_SERVER_ERROR_IO, "qemu-img create %s on %s: %s", path,
                    pool->golden_image, err ? g_strstrip(err) : "failed");
        g_unlink(temporary);
        return FALSE;
    }
    if (g_rename(temporary, path) != 0) {
        g_set_error(error, ORIEL_BROKER_SERVER_ERROR, ORIEL_BROKER_SERVER_ERROR_IO, "%s: %s", path, g_strerror(errno));
        return FALSE;
    }
    return TRUE;
}

/* The desktop's domain config, through the xl.cfg parser (one validation). */
static JsonNode *
desktop_config(const OrielBrokerPoolDef *pool, guint index, const char *name, const char *disk, GError **error)
{
    g_autoptr(GString) text = g_string_new(NULL);

    g_string_append_printf(text, "name = \"%s\"\ntype = \"%s\"\nmemory = %u\nvcpus = %u\n", name, pool->type,
                           pool->memory_mib, pool->vcpus);
    if (pool->kernel)
        g_string_append_printf(text, "kernel = \"%s\"\n", pool->kernel);
    if (pool->ramdisk)
        g_string_append_printf(text, "ramdisk = \"%s\"\n", pool->ramdisk);
    if (pool->cmdline)
        g_string_append_printf(text, "cmdline = \"%s\"\n", pool->cmdline);
    g_string_append_printf(text, "disk = [ '%s,qcow2,xvda,rw' ]\n", disk);
    g_string_append_printf(text, "spice = 1\nspicehost = \"%s\"\n", pool->spice_host);
    if (pool->spice_tls_port_base)
        g_string_append_printf(text, "spicetls_port = %u\n", pool->spice_tls_port_base + index - 1);
    g_autoptr(OrielDomainConfig) config = oriel_xlcfg_parse_data(text->str, text->len, name, NULL, error);
    if (!config)
        return NULL;
    return oriel_domain_config_to_json(config, FALSE);
}

/* The domain's state in orield, or NULL when it is not defined. */
static char *
domain_state(OrielBrokerHost *host, const char *name, GError **error)
{
    g_autoptr(JsonObject) arguments = name_arguments(name);
    g_autoptr(GError) local_error = NULL;
    g_autoptr(JsonNode) reply = call(host, "domain-info", arguments, &local_error);

    if (!reply) {
        if (!g_error_matches(local_error, ORIEL_CLIENT_ERROR, ORIEL_CLIENT_ERROR_NOT_FOUND))
            g_propagate_error(error, g_steal_pointer(&local_error));
        return NULL;
    }
    if (!JSON_NODE_HOLDS_OBJECT(reply))
        return g_strdup("unknown");
    return g_strdup(json_object_get_string_member_with_default(json_node_get_object(reply), "state", "unknown"));
}

static gboolean
ensure_defined(OrielBrokerHost *host, const OrielBrokerPoolDef *pool, guint index, const char *name, char **ret_state,
               GError **error)
{
    g_autoptr(GError) local_error = NULL;
    g_autofree char *state = domain_state(host, name, &local_error);
    g_autofree char *disk = overlay_path(host, name);

    if (local_error) {
        g_propagate_error(error, g_steal_pointer(&local_error));
        return FALSE;
    }
    if (!g_file_test(disk, G_FILE_TEST_EXISTS) && !create_overlay(pool, disk, error))
        return FALSE;
    if (!state) {
        g_autoptr(JsonObject) arguments = json_object_new();
        JsonNode *config = desktop_config(pool, index, name, disk, error);
        if (!config)
            return FALSE;
        json_object_set_member(arguments, "config", config);
        g_autoptr(JsonNode) reply = call(host, "domain-define", arguments, error);
        if (!reply)
            return FALSE;
        state = g_strdup("shutoff");
    }
    *ret_state = g_steal_pointer(&state);
    return TRUE;
}

static JsonObject *
issue_ticket(OrielBrokerHost *host, const char *name, guint expires, GError **error)
{
    g_autoptr(GError) local_error = NULL;

    for (int attempt = 0; attempt < 2; attempt++) {
        g_autoptr(JsonObject) arguments = name_arguments(name);
        json_object_set_int_member(arguments, "expires", expires);
        gboolean one_time = g_atomic_int_get(&host->one_time) >= 0;
        if (one_time)
            json_object_set_boolean_member(arguments, "one_time", TRUE);
        g_clear_error(&local_error);
        g_autoptr(JsonNode) reply = call(host, "domain-spice-ticket", arguments, &local_error);
        if (reply && JSON_NODE_HOLDS_OBJECT(reply)) {
            if (one_time)
                g_atomic_int_set(&host->one_time, 1);
            return json_object_ref(json_node_get_object(reply));
        }
        /* An orield without one-time tickets rejects the argument: the
         * ticket then still expires, it is just not single-use. */
        if (one_time && g_atomic_int_get(&host->one_time) == 0 && local_error &&
            g_error_matches(local_error, ORIEL_CLIENT_ERROR, ORIEL_CLIENT_ERROR_INVALID_ARGUMENT) &&
            strstr(local_error->message, "one_time")) {
            g_atomic_int_set(&host->one_time, -1);
            continue;
        }
        break;
    }
    if (local_error)
        g_propagate_error(error, g_steal_pointer(&local_error));
    else
        g_set_error(error, ORIEL_BROKER_SERVER_ERROR, ORIEL_BROKER_SERVER_ERROR_SYNTAX, "%s: unexpected ticket reply", name);
    return NULL;
}

JsonObject *
oriel_broker_host_connect(OrielBrokerHost *host, const OrielBrokerPoolDef *pool, guint index, guint expires,
                          GError **error)
{
    g_autofree char *name = oriel_broker_desktop_name(pool, index);
    Desktop *desktop = desktop_get(host, name);
    g_autofree char *state = NULL;
    JsonObject *ticket = NULL;

    /* The common case, a running desktop: one call to orield, no lock (a
     * newer ticket replaces an older one either way). */
    if (g_atomic_int_get(&desktop->running)) {
        g_autoptr(GError) local_error = NULL;
        ticket = issue_ticket(host, name, expires, &local_error);
        if (ticket)
            return ticket;
        if (!g_error_matches(local_error, ORIEL_CLIENT_ERROR, ORIEL_CLIENT_ERROR_INVALID_STATE) &&
            !g_error_matches(local_error, ORIEL_CLIENT_ERROR, ORIEL_CLIENT_ERROR_NOT_FOUND)) {
            g_propagate_error(error, g_steal_pointer(&local_error));
            return NULL;
        }
        g_atomic_int_set(&desktop->running, FALSE);
    }
    g_mutex_lock(&desktop->lock);
    if (!ensure_defined(host, pool, index, name, &state, error))
        goto out;
    if (g_str_equal(state, "shutdown") || g_str_equal(state, "crashed")) {
        g_autoptr(JsonObject) arguments = name_arguments(name);
        g_autoptr(JsonNode) reply = call(host, "domain-destroy", arguments, error);
        if (!reply)
            goto out;
        g_free(state);
        state = g_strdup("shutoff");
    }
    if (g_str_equal(state, "shutoff")) {
        g_autoptr(JsonObject) arguments = name_arguments(name);
        g_autoptr(JsonNode) reply = call(host, "domain-start", arguments, error);
        if (!reply)
            goto out;
    } else if (g_str_equal(state, "paused")) {
        g_autoptr(JsonObject) arguments = name_arguments(name);
        g_autoptr(JsonNode) reply = call(host, "domain-unpause", arguments, error);
        if (!reply)
            goto out;
    } else if (!g_str_equal(state, "running")) {
        g_set_error(error, ORIEL_BROKER_SERVER_ERROR, ORIEL_BROKER_SERVER_ERROR_INVALID, "desktop %s is %s; try again shortly",
                    name, state);
        goto out;
    }
    ticket = issue_ticket(host, name, expires, error);
    if (ticket)
        g_atomic_int_set(&desktop->running, TRUE);
out:
    g_mutex_unlock(&desktop->lock);
    return ticket;
}

/* Stops @name if it runs; its shutoff event is then not a power-off. */
static gboolean
stop_desktop(OrielBrokerHost *host, Desktop *desktop, const char *name, gboolean *ret_defined, GError **error)
{
    g_autoptr(GError) local_error = NULL;
    g_autofree char *state = domain_state(host, name, &local_error);

    if (local_error) {
        g_propagate_error(error, g_steal_pointer(&local_error));
        return FALSE;
    }
    *ret_defined = state != NULL;
    g_atomic_int_set(&desktop->running, FALSE);
    if (!state || g_str_equal(state, "shutoff"))
        return TRUE;
    g_autoptr(JsonObject) arguments = name_arguments(name);
    g_atomic_int_set(&desktop->broker_stop, TRUE);
    g_autoptr(JsonNode) reply = call(host, "domain-destroy", arguments, error);
    if (!reply) {
        g_atomic_int_set(&desktop->broker_stop, FALSE);
        return FALSE;
    }
    return TRUE;
}

gboolean
oriel_broker_host_reset(OrielBrokerHost *host, const OrielBrokerPoolDef *pool, guint index, GError **error)
{
    g_autofree char *name = oriel_broker_desktop_name(pool, index);
    g_autofree char *disk = overlay_path(host, name);
    Desktop *desktop = desktop_lock(host, name);
    gboolean defined = FALSE;
    gboolean ok = stop_desktop(host, desktop, name, &defined, error) && create_overlay(pool, disk, error);

    g_mutex_unlock(&desktop->lock);
    return ok;
}

gboolean
oriel_broker_host_remove(OrielBrokerHost *host, const OrielBrokerPoolDef *pool, guint index, GError **error)
{
    g_autofree char *name = oriel_broker_desktop_name(pool, index);
    g_autofree char *disk = overlay_path(host, name);
    Desktop *desktop = desktop_lock(host, name);
    gboolean defined = FALSE;
    gboolean ok = stop_desktop(host, desktop, name, &defined, error);

    if (ok && defined) {
        g_autoptr(JsonObject) arguments = name_arguments(name);
        g_autoptr(JsonNode) reply = call(host, "domain-undefine", arguments, error);
        ok = reply != NULL;
    }
    if (ok && g_unlink(disk) != 0 && errno != ENOENT) {
        g_set_error(error, ORIEL_BROKER_SERVER_ERROR, ORIEL_BROKER_SERVER_ERROR_IO, "%s: %s", disk, g_strerror(errno));
        ok = FALSE;
    }
    g_mutex_unlock(&desktop->lock);
    return ok;
}

/* ---- power-off events ----------------------------------------------------------- */

typedef struct {
    OrielBrokerHost *host;
    char *desktop;
} PowerOff;

static gboolean
deliver_poweroff(gpointer data)
{
    PowerOff *event = data;

    event->host->callback(event->desktop, event->host->user_data);
    return G_SOURCE_REMOVE;
}

static void
poweroff_free(gpointer data)
{
    PowerOff *event = data;
    g_free(event->desktop);
    g_free(event);
}

static void
handle_event(OrielBrokerHost *host, JsonObject *event)
{
    const char *kind = json_object_get_string_member_with_default(event, "event", "");
    JsonObject *data = json_object_has_member(event, "data") ? json_object_get_object_member(event, "data") : NULL;

    if (!g_str_equal(kind, "DOMAIN_STATE") || !data)
        return;
    const char *name = json_object_get_string_member_with_default(data, "name", NULL);
    const char *state = json_object_get_string_member_with_default(data, "state", "");
    const char *reason = json_object_get_string_member_with_default(data, "reason", "");
    /* Definitions emit the state too: they are no power-off. */
    static const char *const not_a_stop[] = { "defined", "redefined", "undefined", "renamed", NULL };
    if (!name || (!g_str_equal(state, "shutoff") && !g_str_equal(state, "shutdown") && !g_str_equal(state, "crashed")) ||
        g_strv_contains(not_a_stop, reason))
        return;
    g_mutex_lock(&host->lock);
    Desktop *desktop = g_hash_table_lookup(host->desktops, name);
    g_mutex_unlock(&host->lock);
    if (desktop)
        g_atomic_int_set(&desktop->running, FALSE);
    if (desktop && g_atomic_int_compare_and_exchange(&desktop->broker_stop, TRUE, FALSE))
        return;
    PowerOff *poweroff = g_new0(PowerOff, 1);
    poweroff->host = host;
    poweroff->desktop = g_strdup(name);
    g_main_context_invoke_full(host->context, G_PRIORITY_DEFAULT, deliver_poweroff, poweroff, poweroff_free);
}

/* One line from orield, parsed; NULL at the end of the connection. */
static JsonObject *
read_event(GDataInputStream *input, GCancellable *cancellable, GError **error)
{
    while (TRUE) {
        gsize length = 0;
        g_autofree char *line = g_data_input_stream_read_line(input, &length, cancellable, error);
        if (!line)
            return NULL;
        g_autoptr(JsonParser) parser = json_parser_new_immutable();
        if (!json_parser_load_from_data(parser, line, (gssize)length, NULL))
            continue;
        JsonNode *root = json_parser_get_root(parser);
        if (root && JSON_NODE_HOLDS_OBJECT(root))
            return json_object_ref(json_node_get_object(root));
    }
}

/* Its own connection (not an OrielClient): a cancellable read lets the
 * broker stop it at exit. */
static gpointer
watch_thread(gpointer data)
{
    OrielBrokerHost *host = data;
    static const char subscribe[] = "{\"execute\": \"subscribe-events\", \"id\": 1}\n";

    while (!g_cancellable_is_cancelled(host->cancellable)) {
        g_autoptr(GError) error = NULL;
        g_autoptr(GSocketClient) socket_client = g_socket_client_new();
        g_autoptr(GSocketAddress) address = g_unix_socket_address_new(host->socket_path);
        g_autoptr(GSocketConnection) connection =
            g_socket_client_connect(socket_client, G_SOCKET_CONNECTABLE(address), host->cancellable, &error);
        if (connection && g_output_stream_write_all(g_io_stream_get_output_stream(G_IO_STREAM(connection)), subscribe,
                                                    strlen(subscribe), NULL, host->cancellable, &error)) {
            g_autoptr(GDataInputStream) input =
                g_data_input_stream_new(g_io_stream_get_input_stream(G_IO_STREAM(connection)));
            while (TRUE) {
                g_autoptr(JsonObject) event = read_event(input, host->cancellable, &error);
                if (!event)
                    break;
                handle_event(host, event);
            }
        }
        g_debug("orield events: %s; reconnecting", error ? error->message : "closed");
        /* orield restarts are rare: retry once a second, without spinning. */
        if (!g_cancellable_is_cancelled(host->cancellable))
            g_usleep(G_USEC_PER_SEC);
    }
    return NULL;
}

void
oriel_broker_host_watch_poweroff(OrielBrokerHost *host, GMainContext *context,
                                 void (*callback)(const char *desktop, gpointer user_data), gpointer user_data)
{
    host->context = g_main_context_ref(context);
    host->callback = callback;
    host->user_data = user_data;
    host->watcher = g_thread_new("orield-events", watch_thread, host);
}
