/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "client.h"

#include <errno.h>
#include <gio/gunixsocketaddress.h>
#include <string.h>
#include <unistd.h>

#include "paths.h"
#include "qmp-codec.h"

G_DEFINE_QUARK(oriel-client-error-quark, oriel_client_error)

struct _OrielClient {
    GSocketConnection *connection;
    GByteArray *buffer; /* bytes received, not yet split into lines */
    GQueue events;      /* of JsonObject * */
    gint64 next_id;
};

char *
oriel_client_default_socket_path(void)
{
    g_autofree char *runtime = oriel_paths_runtime_dir(oriel_mode_default());
    return g_build_filename(runtime, "orield.sock", NULL);
}

OrielClient *
oriel_client_connect(const char *socket_path, GError **error)
{
    g_autofree char *default_path = socket_path ? NULL : oriel_client_default_socket_path();
    const char *path = socket_path ? socket_path : default_path;
    g_autoptr(GSocketClient) socket_client = g_socket_client_new();
    g_autoptr(GSocketAddress) address = g_unix_socket_address_new(path);
    g_autoptr(GError) local_error = NULL;
    GSocketConnection *connection = g_socket_client_connect(socket_client, G_SOCKET_CONNECTABLE(address), NULL,
                                                            &local_error);

    if (!connection) {
        g_set_error(error, ORIEL_CLIENT_ERROR, ORIEL_CLIENT_ERROR_UNREACHABLE,
                    "cannot reach orield at %s (is it running?): %s", path, local_error->message);
        return NULL;
    }
    OrielClient *client = g_new0(OrielClient, 1);
    client->connection = connection;
    client->buffer = g_byte_array_new();
    g_queue_init(&client->events);
    client->next_id = 1;
    return client;
}

static gboolean
autostart_wanted(void)
{
    const char *forced = g_getenv("ORIEL_AUTOSTART");

    if (forced && *forced)
        return g_str_equal(forced, "1");
    return oriel_mode_default() == ORIEL_MODE_SESSION;
}

static char *
find_orield(void)
{
    const char *forced = g_getenv("ORIEL_ORIELD");
    g_autofree char *self = g_file_read_link("/proc/self/exe", NULL);
    g_autofree char *dir = self ? g_path_get_dirname(self) : NULL;

    if (forced && *forced)
        return g_strdup(forced);
    if (dir) {
        /* build/toolstack/orielctl -> build/hypervisor/orield; bin/ -> sbin/ */
        const char *relatives[] = { "../hypervisor/orield", "../sbin/orield", "orield" };
        for (gsize i = 0; i < G_N_ELEMENTS(relatives); i++) {
            g_autofree char *path = g_build_filename(dir, relatives[i], NULL);
            if (g_file_test(path, G_FILE_TEST_IS_EXECUTABLE))
                return g_steal_pointer(&path);
        }
    }
    char *path = g_find_program_in_path("orield");
    return path ? path : g_strdup("orield");
}

static void
detach_child(gpointer user_data)
{
    setsid();
}

static gboolean
start_daemon(GError **error)
{
    g_autofree char *binary = find_orield();
    g_autofree char *runtime = oriel_paths_runtime_dir(oriel_mode_default());
    g_autofree char *log = g_build_filename(runtime, "orield.log", NULL);
    g_autoptr(GSubprocessLauncher) launcher = g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_STDOUT_PIPE);

    if (g_mkdir_with_parents(runtime, 0700) < 0) {
        g_set_error(error, ORIEL_CLIENT_ERROR, ORIEL_CLIENT_ERROR_UNREACHABLE, "cannot create %s: %s", runtime,
                    g_strerror(errno));
        return FALSE;
    }
    g_subprocess_launcher_set_stderr_file_path(launcher, log);
    g_subprocess_launcher_set_child_setup(launcher, detach_child, NULL, NULL);
    g_autoptr(GSubprocess) process = g_subprocess_launcher_spawn(launcher, error, binary, NULL);
    if (!process) {
        g_prefix_error(error, "cannot start orield (%s): ", binary);
        return FALSE;
    }
    /* orield says one line once it serves, or exits: no polling. */
    g_autoptr(GDataInputStream) out = g_data_input_stream_new(g_subprocess_get_stdout_pipe(process));
    g_autofree char *line = g_data_input_stream_read_line(out, NULL, NULL, NULL);
    if (!line || !g_str_has_prefix(line, "orield: ready")) {
        g_set_error(error, ORIEL_CLIENT_ERROR, ORIEL_CLIENT_ERROR_UNREACHABLE,
                    "orield (%s) did not start; see %s", binary, log);
        return FALSE;
    }
    return TRUE;
}

OrielClient *
oriel_client_connect_or_start(GError **error)
{
    g_autoptr(GError) local_error = NULL;
    OrielClient *client = oriel_client_connect(NULL, &local_error);

    if (client || !autostart_wanted()) {
        if (!client)
            g_propagate_error(error, g_steal_pointer(&local_error));
        return client;
    }
    if (!start_daemon(error))
        return NULL;
    return oriel_client_connect(NULL, error);
}

void
oriel_client_free(OrielClient *client)
{
    if (!client)
        return;
    g_io_stream_close(G_IO_STREAM(client->connection), NULL, NULL);
    g_object_unref(client->connection);
    g_byte_array_unref(client->buffer);
    g_queue_clear_full(&client->events, (GDestroyNotify)json_object_unref);
    g_free(client);
}

static OrielClientError
code_from_class(const char *error_class)
{
    static const struct {
        const char *name;
        OrielClientError code;
    } classes[] = {
        { "NotFound", ORIEL_CLIENT_ERROR_NOT_FOUND },
        { "InvalidState", ORIEL_CLIENT_ERROR_INVALID_STATE },
        { "InvalidArgument", ORIEL_CLIENT_ERROR_INVALID_ARGUMENT },
        { "Exists", ORIEL_CLIENT_ERROR_EXISTS },
        { "PermissionDenied", ORIEL_CLIENT_ERROR_PERMISSION_DENIED },
    };

    for (gsize i = 0; error_class && i < G_N_ELEMENTS(classes); i++) {
        if (g_str_equal(classes[i].name, error_class))
            return classes[i].code;
    }
    return ORIEL_CLIENT_ERROR_FAILED;
}

/* Reads until one whole line is buffered; returns it parsed as an object. */
static JsonObject *
read_message(OrielClient *client, GError **error)
{
    GInputStream *input = g_io_stream_get_input_stream(G_IO_STREAM(client->connection));

    for (;;) {
        guint8 *newline = client->buffer->len ? memchr(client->buffer->data, '\n', client->buffer->len) : NULL;
        if (newline) {
            gsize length = (gsize)(newline - client->buffer->data);
            g_autoptr(JsonParser) parser = json_parser_new();
            g_autoptr(GError) parse_error = NULL;
            gboolean parsed = json_parser_load_from_data(parser, (const char *)client->buffer->data,
                                                         (gssize)length, &parse_error);
            g_byte_array_remove_range(client->buffer, 0, (guint)length + 1);
            JsonNode *root = parsed ? json_parser_get_root(parser) : NULL;
            if (!root || !JSON_NODE_HOLDS_OBJECT(root)) {
                g_set_error(error, ORIEL_CLIENT_ERROR, ORIEL_CLIENT_ERROR_PROTOCOL,
                            "orield sent something that is not a JSON object%s%s", parse_error ? ": " : "",
                            parse_error ? parse_error->message : "");
                return NULL;
            }
            return json_object_ref(json_node_get_object(root));
        }
        if (client->buffer->len > ORIEL_CLIENT_MAX_LINE) {
            g_set_error(error, ORIEL_CLIENT_ERROR, ORIEL_CLIENT_ERROR_PROTOCOL,
                        "orield sent a reply over %d bytes", ORIEL_CLIENT_MAX_LINE);
            return NULL;
        }
        guint8 chunk[65536];
        g_autoptr(GError) read_error = NULL;
        gssize received = g_input_stream_read(input, chunk, sizeof(chunk), NULL, &read_error);
        if (received <= 0) {
            g_set_error(error, ORIEL_CLIENT_ERROR, ORIEL_CLIENT_ERROR_UNREACHABLE, "orield closed the connection%s%s",
                        read_error ? ": " : "", read_error ? read_error->message : "");
            return NULL;
        }
        g_byte_array_append(client->buffer, chunk, (guint)received);
    }
}

static gboolean
error_from_reply(JsonObject *message, GError **error)
{
    JsonNode *error_node = json_object_get_member(message, "error");

    if (!error_node)
        return FALSE;
    JsonObject *object = JSON_NODE_HOLDS_OBJECT(error_node) ? json_node_get_object(error_node) : NULL;
    const char *error_class = object ? json_object_get_string_member_with_default(object, "class", NULL) : NULL;
    const char *desc = object ? json_object_get_string_member_with_default(object, "desc", NULL) : NULL;
    g_set_error_literal(error, ORIEL_CLIENT_ERROR, code_from_class(error_class),
                        desc ? desc : "orield reported an error without a description");
    return TRUE;
}

JsonNode *
oriel_client_call(OrielClient *client, const char *command, JsonObject *arguments, GError **error)
{
    gint64 id = client->next_id++;
    GOutputStream *output = g_io_stream_get_output_stream(G_IO_STREAM(client->connection));
    g_autoptr(GError) write_error = NULL;
    /* orield's requests are QMP commands on the wire. */
    g_autofree char *line = oriel_qmp_codec_encode_command(command, arguments, id);

    if (!g_output_stream_write_all(output, line, strlen(line), NULL, NULL, &write_error)) {
        g_set_error(error, ORIEL_CLIENT_ERROR, ORIEL_CLIENT_ERROR_UNREACHABLE, "cannot send to orield: %s",
                    write_error->message);
        return NULL;
    }

    for (;;) {
        g_autoptr(JsonObject) message = read_message(client, error);
        if (!message)
            return NULL;
        if (json_object_has_member(message, "event")) {
            g_queue_push_tail(&client->events, g_steal_pointer(&message));
            continue;
        }
        JsonNode *id_node = json_object_get_member(message, "id");
        if (id_node && JSON_NODE_HOLDS_VALUE(id_node) && json_node_get_value_type(id_node) == G_TYPE_INT64 &&
            json_node_get_int(id_node) != id)
            continue; /* a reply to an earlier call given up on */
        if (error_from_reply(message, error))
            return NULL;
        JsonNode *value = json_object_get_member(message, "return");
        if (!value) {
            g_set_error_literal(error, ORIEL_CLIENT_ERROR, ORIEL_CLIENT_ERROR_PROTOCOL,
                                "orield's reply has neither \"return\" nor \"error\"");
            return NULL;
        }
        return json_node_copy(value);
    }
}

JsonObject *
oriel_client_next_event(OrielClient *client, GError **error)
{
    if (!g_queue_is_empty(&client->events))
        return g_queue_pop_head(&client->events);
    for (;;) {
        g_autoptr(JsonObject) message = read_message(client, error);
        if (!message)
            return NULL;
        if (json_object_has_member(message, "event"))
            return g_steal_pointer(&message);
        if (error_from_reply(message, error))
            return NULL;
    }
}
