/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * OrielQmpClient against a scripted fake QMP server on a socketpair.
 *
 * The replies are recorded from qemu-system-x86_64 7.2.22 (Debian
 * 1:7.2+dfsg-7+deb12u18+b3) started as `-M none -accel tcg -display none
 * -nodefaults -qmp unix:...,server=on,wait=off`; "@ID@" stands for the id of
 * the command being answered.  The SPICE_* and DEVICE_DELETED events are
 * the examples of QEMU's qapi/ui.json and qapi/qdev.json.
 */
#include <string.h>
#include <sys/socket.h>

#include "qmp-client.h"

#define GREETING                                                                           \
    "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 22, \"minor\": 2, \"major\": 7}, "     \
    "\"package\": \"Debian 1:7.2+dfsg-7+deb12u18+b3\"}, \"capabilities\": [\"oob\"]}}\r\n"
#define REPLY_EMPTY "{\"return\": {}, \"id\": @ID@}\r\n"
#define REPLY_QUERY_STATUS                                                                 \
    "{\"return\": {\"status\": \"running\", \"singlestep\": false, \"running\": true}, "   \
    "\"id\": @ID@}\r\n"
#define REPLY_QUERY_VERSION                                                                \
    "{\"return\": {\"qemu\": {\"micro\": 22, \"minor\": 2, \"major\": 7}, "                \
    "\"package\": \"Debian 1:7.2+dfsg-7+deb12u18+b3\"}, \"id\": @ID@}\r\n"
#define REPLY_COMMAND_NOT_FOUND                                                            \
    "{\"id\": @ID@, \"error\": {\"class\": \"CommandNotFound\", "                          \
    "\"desc\": \"The command no-such-command has not been found\"}}\r\n"
#define REPLY_DEVICE_NOT_FOUND                                                             \
    "{\"id\": @ID@, \"error\": {\"class\": \"DeviceNotFound\", "                           \
    "\"desc\": \"Device 'nodev' not found\"}}\r\n"
#define REPLY_GENERIC_ERROR                                                                \
    "{\"id\": @ID@, \"error\": {\"class\": \"GenericError\", "                             \
    "\"desc\": \"Parameter 'x' is unexpected\"}}\r\n"
#define EVENT_STOP                                                                         \
    "{\"timestamp\": {\"seconds\": 1795690891, \"microseconds\": 546375}, "                \
    "\"event\": \"STOP\"}\r\n"
#define EVENT_RESUME                                                                       \
    "{\"timestamp\": {\"seconds\": 1795690892, \"microseconds\": 548238}, "                \
    "\"event\": \"RESUME\"}\r\n"
#define EVENT_RESET                                                                        \
    "{\"timestamp\": {\"seconds\": 1795690894, \"microseconds\": 551712}, "                \
    "\"event\": \"RESET\", \"data\": {\"guest\": false, "                                  \
    "\"reason\": \"host-qmp-system-reset\"}}\r\n"
#define EVENT_SHUTDOWN                                                                     \
    "{\"timestamp\": {\"seconds\": 1795690904, \"microseconds\": 86061}, "                 \
    "\"event\": \"SHUTDOWN\", \"data\": {\"guest\": false, \"reason\": \"host-qmp-quit\"}}\r\n"
#define EVENT_SPICE_CONNECTED                                                              \
    "{\"event\": \"SPICE_CONNECTED\", \"timestamp\": {\"seconds\": 1290688046, "           \
    "\"microseconds\": 388707}, \"data\": {\"server\": {\"port\": \"5920\", "              \
    "\"family\": \"ipv4\", \"host\": \"127.0.0.1\"}, \"client\": {\"port\": \"52873\", "   \
    "\"family\": \"ipv4\", \"host\": \"127.0.0.1\"}}}\r\n"
#define EVENT_SPICE_INITIALIZED                                                            \
    "{\"event\": \"SPICE_INITIALIZED\", \"timestamp\": {\"seconds\": 1290688046, "         \
    "\"microseconds\": 417172}, \"data\": {\"server\": {\"auth\": \"spice\", "             \
    "\"port\": \"5921\", \"family\": \"ipv4\", \"host\": \"127.0.0.1\"}, "                 \
    "\"client\": {\"port\": \"49004\", \"family\": \"ipv4\", \"channel-type\": 3, "        \
    "\"connection-id\": 1804289383, \"host\": \"127.0.0.1\", \"channel-id\": 0, "          \
    "\"tls\": true}}}\r\n"
#define EVENT_SPICE_DISCONNECTED                                                           \
    "{\"event\": \"SPICE_DISCONNECTED\", \"timestamp\": {\"seconds\": 1290688046, "        \
    "\"microseconds\": 388707}, \"data\": {\"server\": {\"port\": \"5920\", "              \
    "\"family\": \"ipv4\", \"host\": \"127.0.0.1\"}, \"client\": {\"port\": \"52873\", "   \
    "\"family\": \"ipv4\", \"host\": \"127.0.0.1\"}}}\r\n"
#define EVENT_DEVICE_DELETED                                                               \
    "{\"event\": \"DEVICE_DELETED\", \"data\": {\"device\": \"virtio-net-pci-0\", "        \
    "\"path\": \"/machine/peripheral/virtio-net-pci-0\"}, "                                \
    "\"timestamp\": {\"seconds\": 1265044230, \"microseconds\": 450486}}\r\n"

#define TEST_DEADLINE_SECONDS 10

/* ---- the fake server ---- */

typedef struct {
    GSocket *socket;
    GSource *source;
    GString *input;
    GQueue lines; /* char *, one command each, without "\n" */
    gboolean eof;
} FakeServer;

static gboolean
fake_server_readable(GSocket *socket, GIOCondition condition, gpointer user_data)
{
    FakeServer *server = user_data;
    char buf[4096];

    for (;;) {
        g_autoptr(GError) error = NULL;
        gssize n = g_socket_receive_with_blocking(socket, buf, sizeof(buf), FALSE, NULL, &error);
        if (n < 0 && g_error_matches(error, G_IO_ERROR, G_IO_ERROR_WOULD_BLOCK))
            break;
        if (n <= 0) {
            server->eof = TRUE;
            g_clear_pointer(&server->source, g_source_unref);
            return G_SOURCE_REMOVE;
        }
        g_string_append_len(server->input, buf, n);
    }
    char *newline;
    while ((newline = memchr(server->input->str, '\n', server->input->len))) {
        gsize len = (gsize)(newline - server->input->str);
        g_queue_push_tail(&server->lines, g_strndup(server->input->str, len));
        g_string_erase(server->input, 0, (gssize)len + 1);
    }
    return G_SOURCE_CONTINUE;
}

static FakeServer *
fake_server_new(int fd)
{
    g_autoptr(GError) error = NULL;
    FakeServer *server = g_new0(FakeServer, 1);

    server->socket = g_socket_new_from_fd(fd, &error);
    g_assert_no_error(error);
    server->input = g_string_new(NULL);
    g_queue_init(&server->lines);
    server->source = g_socket_create_source(server->socket, G_IO_IN | G_IO_HUP | G_IO_ERR, NULL);
    g_source_set_callback(server->source, G_SOURCE_FUNC(fake_server_readable), server, NULL);
    g_source_attach(server->source, NULL);
    return server;
}

static void
fake_server_close(FakeServer *server)
{
    if (server->source) {
        g_source_destroy(server->source);
        g_clear_pointer(&server->source, g_source_unref);
    }
    g_socket_close(server->socket, NULL);
}

static void
fake_server_free(FakeServer *server)
{
    if (!server)
        return;
    fake_server_close(server);
    g_object_unref(server->socket);
    g_string_free(server->input, TRUE);
    g_queue_clear_full(&server->lines, g_free);
    g_free(server);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(FakeServer, fake_server_free)

/* Sends @text with every "@ID@" replaced by @id. */
static void
fake_server_send(FakeServer *server, const char *text, gint64 id)
{
    g_autoptr(GString) line = g_string_new(text);
    g_autofree char *id_text = g_strdup_printf("%" G_GINT64_FORMAT, id);
    g_autoptr(GError) error = NULL;

    g_string_replace(line, "@ID@", id_text, 0);
    gssize sent = g_socket_send_with_blocking(server->socket, line->str, line->len, TRUE, NULL,
                                              &error);
    g_assert_no_error(error);
    g_assert_cmpint(sent, ==, (gssize)line->len);
}

static gboolean
deadline_passed(gpointer user_data)
{
    g_error("test deadline of %d s passed", TEST_DEADLINE_SECONDS);
    return G_SOURCE_REMOVE;
}

/* Runs the main loop until *@flag is TRUE. */
static void
wait_for(const gboolean *flag)
{
    guint deadline = g_timeout_add_seconds(TEST_DEADLINE_SECONDS, deadline_passed, NULL);
    while (!*flag)
        g_main_context_iteration(NULL, TRUE);
    g_source_remove(deadline);
}

static gboolean
fake_server_has_line(FakeServer *server)
{
    return !g_queue_is_empty(&server->lines);
}

/* Waits for the next command; checks its name and returns its id and,
 * when @arguments is not NULL, its arguments as JSON text. */
static gint64
fake_server_expect(FakeServer *server, const char *command, char **arguments)
{
    guint deadline = g_timeout_add_seconds(TEST_DEADLINE_SECONDS, deadline_passed, NULL);
    while (!fake_server_has_line(server))
        g_main_context_iteration(NULL, TRUE);
    g_source_remove(deadline);

    g_autofree char *line = g_queue_pop_head(&server->lines);
    g_autoptr(JsonParser) parser = json_parser_new();
    g_autoptr(GError) error = NULL;
    json_parser_load_from_data(parser, line, -1, &error);
    g_assert_no_error(error);
    JsonObject *object = json_node_get_object(json_parser_get_root(parser));
    g_assert_cmpstr(json_object_get_string_member(object, "execute"), ==, command);
    if (arguments) {
        JsonNode *node = json_object_get_member(object, "arguments");
        *arguments = node ? json_to_string(node, FALSE) : NULL;
    }
    return json_object_get_int_member(object, "id");
}

/* ---- results ---- */

typedef struct {
    gboolean done;
    JsonNode *reply;
    GError *error;
    guint order; /* when it completed, see next_order */
} Result;

static guint next_order;

static void
result_clear(Result *result)
{
    g_clear_pointer(&result->reply, json_node_unref);
    g_clear_error(&result->error);
    result->done = FALSE;
}

static void
on_execute_done(GObject *source, GAsyncResult *async_result, gpointer user_data)
{
    Result *result = user_data;
    g_assert_false(result->done);
    result->reply = oriel_qmp_client_execute_finish(ORIEL_QMP_CLIENT(source), async_result,
                                                    &result->error);
    g_assert_true((result->reply == NULL) != (result->error == NULL));
    result->order = ++next_order;
    result->done = TRUE;
}

static void
on_handshake_done(GObject *source, GAsyncResult *async_result, gpointer user_data)
{
    Result *result = user_data;
    if (!oriel_qmp_client_handshake_finish(ORIEL_QMP_CLIENT(source), async_result, &result->error))
        g_assert_nonnull(result->error);
    result->done = TRUE;
}

static char *
reply_text(const Result *result)
{
    g_assert_true(result->done);
    g_assert_no_error(result->error);
    return json_to_string(result->reply, FALSE);
}

/* ---- fixture ---- */

typedef struct {
    OrielQmpClient *client;
    FakeServer *server;
    GPtrArray *events; /* "NAME timestamp data" */
    guint closed_count;
    GError *closed_reason;
} Fixture;

static void
on_event(OrielQmpClient *client, const char *name, JsonObject *data, gint64 timestamp_us,
         gpointer user_data)
{
    Fixture *fixture = user_data;
    g_autoptr(JsonNode) node = json_node_init_object(json_node_alloc(), data);
    g_autofree char *json = json_to_string(node, FALSE);
    g_ptr_array_add(fixture->events, g_strdup_printf("%s %" G_GINT64_FORMAT " %s @%u", name,
                                                     timestamp_us, json, ++next_order));
}

static void
on_closed(OrielQmpClient *client, GError *reason, gpointer user_data)
{
    Fixture *fixture = user_data;
    fixture->closed_count++;
    g_clear_error(&fixture->closed_reason);
    fixture->closed_reason = g_error_copy(reason);
}

static void
fixture_setup(Fixture *fixture, gconstpointer data)
{
    int fds[2];
    g_autoptr(GError) error = NULL;

    g_assert_cmpint(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds), ==, 0);
    g_autoptr(GSocket) socket = g_socket_new_from_fd(fds[0], &error);
    g_assert_no_error(error);
    g_autoptr(GSocketConnection) connection = g_socket_connection_factory_create_connection(socket);

    fixture->client = oriel_qmp_client_new(G_IO_STREAM(connection));
    g_object_add_weak_pointer(G_OBJECT(fixture->client), (gpointer *)&fixture->client);
    fixture->server = fake_server_new(fds[1]);
    fixture->events = g_ptr_array_new_with_free_func(g_free);
    g_signal_connect(fixture->client, "event", G_CALLBACK(on_event), fixture);
    g_signal_connect(fixture->client, "closed", G_CALLBACK(on_closed), fixture);
    next_order = 0;
}

static gboolean
set_flag(gpointer user_data)
{
    *(gboolean *)user_data = TRUE;
    return G_SOURCE_REMOVE;
}

static void
fixture_teardown(Fixture *fixture, gconstpointer data)
{
    if (fixture->client) {
        g_autoptr(OrielQmpClient) client = g_object_ref(fixture->client);
        g_object_unref(fixture->client); /* the test's reference */
        oriel_qmp_client_close(client);
    }
    /* Let in-flight reads and writes finish; then nothing may remain. */
    gboolean settled = FALSE;
    g_timeout_add(50, set_flag, &settled);
    wait_for(&settled);
    g_assert_null(fixture->client);
    g_assert_cmpuint(fixture->closed_count, ==, 1);

    /* The client closed its end of the socket. */
    if (!fixture->server->eof) {
        guint deadline = g_timeout_add_seconds(TEST_DEADLINE_SECONDS, deadline_passed, NULL);
        while (!fixture->server->eof && fixture->server->source)
            g_main_context_iteration(NULL, TRUE);
        g_source_remove(deadline);
    }
    g_clear_pointer(&fixture->server, fake_server_free);
    g_clear_pointer(&fixture->events, g_ptr_array_unref);
    g_clear_error(&fixture->closed_reason);
}

/* Greeting and qmp_capabilities, as QEMU does them. */
static void
handshake(Fixture *fixture)
{
    Result result = { 0 };

    fake_server_send(fixture->server, GREETING, 0);
    oriel_qmp_client_handshake_async(fixture->client, NULL, on_handshake_done, &result);
    gint64 id = fake_server_expect(fixture->server, "qmp_capabilities", NULL);
    g_assert_false(result.done);
    fake_server_send(fixture->server, REPLY_EMPTY, id);
    wait_for(&result.done);
    g_assert_no_error(result.error);
}

/* ---- tests ---- */

static void
test_handshake(Fixture *fixture, gconstpointer data)
{
    Result early = { 0 };

    g_assert_null(oriel_qmp_client_get_qemu_version(fixture->client));
    oriel_qmp_client_execute_async(fixture->client, "query-status", NULL, 0, NULL,
                                   on_execute_done, &early);
    wait_for(&early.done);
    g_assert_error(early.error, G_IO_ERROR, G_IO_ERROR_NOT_INITIALIZED);
    result_clear(&early);

    handshake(fixture);
    g_assert_cmpstr(oriel_qmp_client_get_qemu_version(fixture->client), ==, "7.2.22");
    g_assert_false(oriel_qmp_client_is_closed(fixture->client));

    Result status = { 0 };
    oriel_qmp_client_execute_async(fixture->client, "query-status", NULL, 0, NULL,
                                   on_execute_done, &status);
    gint64 id = fake_server_expect(fixture->server, "query-status", NULL);
    fake_server_send(fixture->server, REPLY_QUERY_STATUS, id);
    wait_for(&status.done);
    g_autofree char *text = reply_text(&status);
    g_assert_cmpstr(text, ==, "{\"status\":\"running\",\"singlestep\":false,\"running\":true}");
    result_clear(&status);
}

static void
test_out_of_order(Fixture *fixture, gconstpointer data)
{
    Result status = { 0 }, version = { 0 }, name = { 0 };

    handshake(fixture);
    oriel_qmp_client_execute_async(fixture->client, "query-status", NULL, 0, NULL,
                                   on_execute_done, &status);
    oriel_qmp_client_execute_async(fixture->client, "query-version", NULL, 0, NULL,
                                   on_execute_done, &version);
    oriel_qmp_client_execute_async(fixture->client, "query-name", NULL, 0, NULL, on_execute_done,
                                   &name);
    gint64 status_id = fake_server_expect(fixture->server, "query-status", NULL);
    gint64 version_id = fake_server_expect(fixture->server, "query-version", NULL);
    gint64 name_id = fake_server_expect(fixture->server, "query-name", NULL);
    g_assert_cmpint(status_id, !=, version_id);
    g_assert_cmpint(version_id, !=, name_id);

    /* Last first, in one write. */
    g_autoptr(GString) replies = g_string_new(NULL);
    g_autofree char *name_id_text = g_strdup_printf("%" G_GINT64_FORMAT, name_id);
    g_autofree char *status_id_text = g_strdup_printf("%" G_GINT64_FORMAT, status_id);
    g_string_append(replies, REPLY_EMPTY);
    g_string_replace(replies, "@ID@", name_id_text, 0);
    g_string_append(replies, REPLY_QUERY_STATUS);
    g_string_replace(replies, "@ID@", status_id_text, 0);
    fake_server_send(fixture->server, replies->str, 0);
    wait_for(&status.done);
    g_assert_true(name.done);
    g_assert_false(version.done);
    g_assert_cmpuint(name.order, <, status.order);
    fake_server_send(fixture->server, REPLY_QUERY_VERSION, version_id);
    wait_for(&version.done);

    g_autofree char *status_text = reply_text(&status);
    g_autofree char *version_text = reply_text(&version);
    g_autofree char *name_text = reply_text(&name);
    g_assert_cmpstr(status_text, ==,
                    "{\"status\":\"running\",\"singlestep\":false,\"running\":true}");
    g_assert_cmpstr(version_text, ==,
                    "{\"qemu\":{\"micro\":22,\"minor\":2,\"major\":7},"
                    "\"package\":\"Debian 1:7.2+dfsg-7+deb12u18+b3\"}");
    g_assert_cmpstr(name_text, ==, "{}");
    result_clear(&status);
    result_clear(&version);
    result_clear(&name);
}

static void
test_error_reply(Fixture *fixture, gconstpointer data)
{
    Result missing = { 0 }, device = { 0 }, generic = { 0 };
    g_autoptr(JsonObject) device_arguments = json_object_new();
    g_autoptr(JsonObject) bad_arguments = json_object_new();
    g_autofree char *sent_arguments = NULL;

    json_object_set_string_member(device_arguments, "id", "nodev");
    json_object_set_int_member(bad_arguments, "x", 1);
    handshake(fixture);
    oriel_qmp_client_execute_async(fixture->client, "no-such-command", NULL, 0, NULL,
                                   on_execute_done, &missing);
    oriel_qmp_client_execute_async(fixture->client, "device_del", device_arguments, 0, NULL,
                                   on_execute_done, &device);
    oriel_qmp_client_execute_async(fixture->client, "query-status", bad_arguments, 0, NULL,
                                   on_execute_done, &generic);
    /* Arguments are borrowed, not consumed. */
    g_assert_cmpstr(json_object_get_string_member(device_arguments, "id"), ==, "nodev");

    gint64 id = fake_server_expect(fixture->server, "no-such-command", NULL);
    fake_server_send(fixture->server, REPLY_COMMAND_NOT_FOUND, id);
    id = fake_server_expect(fixture->server, "device_del", &sent_arguments);
    g_assert_cmpstr(sent_arguments, ==, "{\"id\":\"nodev\"}");
    fake_server_send(fixture->server, REPLY_DEVICE_NOT_FOUND, id);
    id = fake_server_expect(fixture->server, "query-status", NULL);
    fake_server_send(fixture->server, REPLY_GENERIC_ERROR, id);
    wait_for(&generic.done);

    g_assert_error(missing.error, ORIEL_QMP_ERROR, ORIEL_QMP_ERROR_COMMAND_NOT_FOUND);
    g_assert_cmpstr(missing.error->message, ==, "The command no-such-command has not been found");
    g_assert_error(device.error, ORIEL_QMP_ERROR, ORIEL_QMP_ERROR_DEVICE_NOT_FOUND);
    g_assert_cmpstr(device.error->message, ==, "Device 'nodev' not found");
    g_assert_error(generic.error, ORIEL_QMP_ERROR, ORIEL_QMP_ERROR_GENERIC_ERROR);
    g_assert_cmpstr(generic.error->message, ==, "Parameter 'x' is unexpected");
    /* An error reply does not end the connection. */
    g_assert_false(oriel_qmp_client_is_closed(fixture->client));
    result_clear(&missing);
    result_clear(&device);
    result_clear(&generic);
}

static guint shutdown_only_count;

static void
on_shutdown_only(OrielQmpClient *client, const char *name, JsonObject *data, gint64 timestamp_us,
                 gpointer user_data)
{
    g_assert_cmpstr(name, ==, "SHUTDOWN");
    shutdown_only_count++;
}

static void
test_events(Fixture *fixture, gconstpointer data)
{
    Result stop = { 0 }, reset = { 0 };

    shutdown_only_count = 0;
    g_signal_connect(fixture->client, "event::SHUTDOWN", G_CALLBACK(on_shutdown_only), NULL);
    handshake(fixture);

    /* As recorded: the event comes before the reply of the command causing it. */
    oriel_qmp_client_execute_async(fixture->client, "stop", NULL, 0, NULL, on_execute_done, &stop);
    gint64 stop_id = fake_server_expect(fixture->server, "stop", NULL);
    fake_server_send(fixture->server, EVENT_STOP, 0);
    fake_server_send(fixture->server, REPLY_EMPTY, stop_id);
    wait_for(&stop.done);
    g_assert_no_error(stop.error);
    g_assert_cmpuint(fixture->events->len, ==, 1);
    g_assert_cmpstr(g_ptr_array_index(fixture->events, 0), ==, "STOP 1795690891546375 {} @1");
    g_assert_cmpuint(stop.order, ==, 2);

    oriel_qmp_client_execute_async(fixture->client, "system_reset", NULL, 0, NULL,
                                   on_execute_done, &reset);
    gint64 reset_id = fake_server_expect(fixture->server, "system_reset", NULL);
    fake_server_send(fixture->server,
                     EVENT_RESET EVENT_RESUME EVENT_SPICE_CONNECTED EVENT_SPICE_INITIALIZED
                         EVENT_SPICE_DISCONNECTED EVENT_DEVICE_DELETED EVENT_SHUTDOWN,
                     0);
    fake_server_send(fixture->server, REPLY_EMPTY, reset_id);
    wait_for(&reset.done);
    g_assert_no_error(reset.error);

    static const char *const names[] = {
        "STOP", "RESET", "RESUME", "SPICE_CONNECTED", "SPICE_INITIALIZED", "SPICE_DISCONNECTED",
        "DEVICE_DELETED", "SHUTDOWN",
    };
    g_assert_cmpuint(fixture->events->len, ==, G_N_ELEMENTS(names));
    for (guint i = 0; i < G_N_ELEMENTS(names); i++) {
        const char *event = g_ptr_array_index(fixture->events, i);
        g_assert_true(g_str_has_prefix(event, names[i]));
        g_assert_cmpint(event[strlen(names[i])], ==, ' ');
    }
    g_assert_cmpstr(g_ptr_array_index(fixture->events, 1), ==,
                    "RESET 1795690894551712 {\"guest\":false,\"reason\":\"host-qmp-system-reset\"} @3");
    g_assert_cmpstr(g_ptr_array_index(fixture->events, 6), ==,
                    "DEVICE_DELETED 1265044230450486 {\"device\":\"virtio-net-pci-0\","
                    "\"path\":\"/machine/peripheral/virtio-net-pci-0\"} @8");
    g_assert_cmpuint(reset.order, ==, 10);
    g_assert_cmpuint(shutdown_only_count, ==, 1);
    result_clear(&stop);
    result_clear(&reset);
}

static void
test_timeout(Fixture *fixture, gconstpointer data)
{
    Result slow = { 0 }, next = { 0 };

    handshake(fixture);
    oriel_qmp_client_execute_async(fixture->client, "query-status", NULL, 50, NULL,
                                   on_execute_done, &slow);
    gint64 slow_id = fake_server_expect(fixture->server, "query-status", NULL);
    wait_for(&slow.done);
    g_assert_error(slow.error, ORIEL_QMP_ERROR, ORIEL_QMP_ERROR_TIMEOUT);
    g_assert_cmpstr(slow.error->message, ==, "QMP command query-status timed out after 50 ms");
    g_assert_false(oriel_qmp_client_is_closed(fixture->client));

    /* The late reply is dropped quietly; the stream stays in step. */
    fake_server_send(fixture->server, REPLY_QUERY_STATUS, slow_id);
    oriel_qmp_client_execute_async(fixture->client, "query-version", NULL, 1000, NULL,
                                   on_execute_done, &next);
    gint64 next_id = fake_server_expect(fixture->server, "query-version", NULL);
    fake_server_send(fixture->server, REPLY_QUERY_VERSION, next_id);
    wait_for(&next.done);
    g_assert_no_error(next.error);
    g_assert_true(JSON_NODE_HOLDS_OBJECT(next.reply));
    g_assert_true(json_object_has_member(json_node_get_object(next.reply), "package"));
    result_clear(&slow);
    result_clear(&next);
}

static void
test_cancel(Fixture *fixture, gconstpointer data)
{
    Result cancelled = { 0 }, next = { 0 }, precancelled = { 0 };
    g_autoptr(GCancellable) cancellable = g_cancellable_new();

    handshake(fixture);
    oriel_qmp_client_execute_async(fixture->client, "query-status", NULL, 0, cancellable,
                                   on_execute_done, &cancelled);
    gint64 id = fake_server_expect(fixture->server, "query-status", NULL);
    g_cancellable_cancel(cancellable);
    wait_for(&cancelled.done);
    g_assert_error(cancelled.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
    fake_server_send(fixture->server, REPLY_QUERY_STATUS, id);

    oriel_qmp_client_execute_async(fixture->client, "query-status", NULL, 0, cancellable,
                                   on_execute_done, &precancelled);
    wait_for(&precancelled.done);
    g_assert_error(precancelled.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);

    oriel_qmp_client_execute_async(fixture->client, "query-name", NULL, 0, NULL, on_execute_done,
                                   &next);
    id = fake_server_expect(fixture->server, "query-name", NULL);
    fake_server_send(fixture->server, REPLY_EMPTY, id);
    wait_for(&next.done);
    g_assert_no_error(next.error);
    result_clear(&cancelled);
    result_clear(&precancelled);
    result_clear(&next);
}

static void
test_peer_closes(Fixture *fixture, gconstpointer data)
{
    Result results[3] = { 0 };
    Result after = { 0 };
    static const char *const commands[] = { "query-status", "stop", "query-version" };

    handshake(fixture);
    for (guint i = 0; i < G_N_ELEMENTS(results); i++)
        oriel_qmp_client_execute_async(fixture->client, commands[i], NULL, i * 10000, NULL,
                                       on_execute_done, &results[i]);
    for (guint i = 0; i < G_N_ELEMENTS(results); i++)
        fake_server_expect(fixture->server, commands[i], NULL);

    /* QEMU dies. */
    fake_server_close(fixture->server);
    wait_for(&results[2].done);
    for (guint i = 0; i < G_N_ELEMENTS(results); i++) {
        g_assert_true(results[i].done);
        g_assert_error(results[i].error, ORIEL_QMP_ERROR, ORIEL_QMP_ERROR_DISCONNECTED);
        g_assert_cmpstr(results[i].error->message, ==, "QEMU closed the QMP connection");
        g_assert_cmpuint(results[i].order, ==, i + 1);
        result_clear(&results[i]);
    }
    g_assert_cmpuint(fixture->closed_count, ==, 1);
    g_assert_error(fixture->closed_reason, ORIEL_QMP_ERROR, ORIEL_QMP_ERROR_DISCONNECTED);
    g_assert_cmpstr(fixture->closed_reason->message, ==, "QEMU closed the QMP connection");
    g_assert_true(oriel_qmp_client_is_closed(fixture->client));

    oriel_qmp_client_execute_async(fixture->client, "query-status", NULL, 0, NULL,
                                   on_execute_done, &after);
    wait_for(&after.done);
    g_assert_error(after.error, ORIEL_QMP_ERROR, ORIEL_QMP_ERROR_DISCONNECTED);
    g_assert_cmpstr(after.error->message, ==, "QEMU closed the QMP connection");
    result_clear(&after);

    /* Closing again changes nothing. */
    oriel_qmp_client_close(fixture->client);
    g_assert_cmpuint(fixture->closed_count, ==, 1);
}

static void
test_local_close(Fixture *fixture, gconstpointer data)
{
    Result pending = { 0 };

    handshake(fixture);
    oriel_qmp_client_execute_async(fixture->client, "query-status", NULL, 0, NULL,
                                   on_execute_done, &pending);
    oriel_qmp_client_close(fixture->client);
    wait_for(&pending.done);
    g_assert_error(pending.error, ORIEL_QMP_ERROR, ORIEL_QMP_ERROR_DISCONNECTED);
    g_assert_cmpuint(fixture->closed_count, ==, 1);
    result_clear(&pending);
}

static void
test_garbage(Fixture *fixture, gconstpointer data)
{
    Result pending = { 0 };

    handshake(fixture);
    oriel_qmp_client_execute_async(fixture->client, "query-status", NULL, 0, NULL,
                                   on_execute_done, &pending);
    fake_server_expect(fixture->server, "query-status", NULL);
    fake_server_send(fixture->server, "this is not QMP\r\n", 0);
    wait_for(&pending.done);
    g_assert_error(pending.error, ORIEL_QMP_ERROR, ORIEL_QMP_ERROR_DISCONNECTED);
    g_assert_cmpuint(fixture->closed_count, ==, 1);
    g_assert_error(fixture->closed_reason, ORIEL_QMP_ERROR, ORIEL_QMP_ERROR_PROTOCOL);
    g_test_message("closed: %s", fixture->closed_reason->message);
    result_clear(&pending);
}

static void
test_no_greeting(Fixture *fixture, gconstpointer data)
{
    Result result = { 0 };

    fake_server_send(fixture->server, REPLY_EMPTY, 1);
    oriel_qmp_client_handshake_async(fixture->client, NULL, on_handshake_done, &result);
    wait_for(&result.done);
    g_assert_error(result.error, ORIEL_QMP_ERROR, ORIEL_QMP_ERROR_DISCONNECTED);
    g_assert_error(fixture->closed_reason, ORIEL_QMP_ERROR, ORIEL_QMP_ERROR_PROTOCOL);
    g_assert_cmpuint(fixture->closed_count, ==, 1);
    result_clear(&result);
}

static void
test_handshake_cancelled(Fixture *fixture, gconstpointer data)
{
    Result result = { 0 };
    g_autoptr(GCancellable) cancellable = g_cancellable_new();

    /* A QEMU that never greets. */
    oriel_qmp_client_handshake_async(fixture->client, cancellable, on_handshake_done, &result);
    g_cancellable_cancel(cancellable);
    wait_for(&result.done);
    g_assert_error(result.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
    g_assert_true(oriel_qmp_client_is_closed(fixture->client));
    g_assert_cmpuint(fixture->closed_count, ==, 1);
    result_clear(&result);
}

static void
test_capabilities_refused(Fixture *fixture, gconstpointer data)
{
    Result result = { 0 };

    fake_server_send(fixture->server, GREETING, 0);
    oriel_qmp_client_handshake_async(fixture->client, NULL, on_handshake_done, &result);
    gint64 id = fake_server_expect(fixture->server, "qmp_capabilities", NULL);
    fake_server_send(fixture->server, REPLY_COMMAND_NOT_FOUND, id);
    wait_for(&result.done);
    g_assert_error(result.error, ORIEL_QMP_ERROR, ORIEL_QMP_ERROR_PROTOCOL);
    g_assert_true(oriel_qmp_client_is_closed(fixture->client));
    g_assert_cmpuint(fixture->closed_count, ==, 1);
    result_clear(&result);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

#define ADD(path, func) \
    g_test_add("/qmp-client/" path, Fixture, NULL, fixture_setup, func, fixture_teardown)
    ADD("handshake", test_handshake);
    ADD("out-of-order", test_out_of_order);
    ADD("error-reply", test_error_reply);
    ADD("events", test_events);
    ADD("timeout", test_timeout);
    ADD("cancel", test_cancel);
    ADD("peer-closes", test_peer_closes);
    ADD("local-close", test_local_close);
    ADD("garbage", test_garbage);
    ADD("no-greeting", test_no_greeting);
    ADD("handshake-cancelled", test_handshake_cancelled);
    ADD("capabilities-refused", test_capabilities_refused);
#undef ADD

    return g_test_run();
}
