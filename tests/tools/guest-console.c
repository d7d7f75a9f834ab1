/*
 * guest-console: drive the test guest's root shell over QEMU's serial console
 * on a Unix socket (`-chardev socket,id=s0,path=SOCK,server=on,wait=off
 * -serial chardev:s0`).
 *
 *   guest-console SOCKET [--timeout SECONDS] [--wait-ready] [COMMAND]
 *
 * Waits for the socket to appear and connects, then makes sure the guest's
 * shell answers (that is what "ready" means: the ORIEL-GUEST-READY line may
 * have been printed before anyone was connected, and a serial console does
 * not replay it).  With COMMAND, runs it with `sh -c` in the guest, prints
 * exactly its output and exits with its status.
 *
 * Exit status: the command's, 0 after --wait-ready alone, 124 on timeout,
 * 125 when the console cannot be reached or closes, 2 on usage errors.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <gio/gio.h>
#include <gio/gunixsocketaddress.h>
#include <glib.h>

#define EXIT_TIMEOUT 124
#define EXIT_CONNECTION 125

/* The guest sees everything we type through busybox's line editor; keep
 * each typed line well under its 1024-byte limit. */
#define MAX_TYPED_CHUNK 384
/* A runaway command must not eat the host's memory. */
#define MAX_OUTPUT (64 * 1024 * 1024)
/* How often to ask the shell whether it is there yet.  Input typed before
 * the guest opens its serial port is lost, so the probe is repeated. */
#define PROBE_INTERVAL_MS 500
#define CONNECT_RETRY_MS 100

typedef enum {
    STATE_CONNECTING,
    STATE_PROBING,
    STATE_RUNNING,
} ConsoleState;

typedef struct {
    char *socket_path;
    char *command;
    GMainLoop *loop;
    GCancellable *cancellable;
    GFileMonitor *dir_monitor;
    gboolean connect_pending;
    gboolean retry_requested;
    char *connect_error; /* why the last attempt failed */
    guint retry_source;
    GSocketConnection *connection;
    GOutputStream *out;
    guint probe_source;
    ConsoleState state;

    /* Markers are TAG-prefixed lines the guest prints.  We type them as
     * "READY-$((0))TAG" so the console's echo of our typing never contains
     * the literal text the shell prints ("READY-0TAG"). */
    char *ready_line;
    char *begin_line;
    char *end_prefix;

    GString *pending; /* received text, \r stripped, not yet consumed */
    gboolean in_output;
    int exit_status;
    char read_buffer[4096];
} Console;

static void console_finish(Console *console, int exit_status)
{
    console->exit_status = exit_status;
    g_cancellable_cancel(console->cancellable);
    g_main_loop_quit(console->loop);
}

static gboolean console_type(Console *console, const char *text)
{
    g_autoptr(GError) error = NULL;

    /* Typed text is at most a few hundred bytes and QEMU keeps reading its
     * chardev, so a blocking write cannot stall for long. */
    if (!g_output_stream_write_all(console->out, text, strlen(text), NULL,
                                   NULL, &error)) {
        g_printerr("guest-console: writing to %s: %s\n",
                   console->socket_path, error->message);
        console_finish(console, EXIT_CONNECTION);
        return FALSE;
    }
    return TRUE;
}

static gboolean probe_cb(gpointer user_data)
{
    Console *console = user_data;
    g_autofree char *tag = g_strdup(console->ready_line + strlen("READY-0"));
    g_autofree char *probe = NULL;

    /* ^U first: it discards a half-typed line (say, the tail of a probe
     * typed while the guest was still booting), both in busybox's line
     * editor and in the tty's canonical mode.  Not ^C: that raises SIGINT,
     * and the text typed right after it races with the signal handling. */
    probe = g_strdup_printf("\025echo READY-$((0))%s\n", tag);
    console_type(console, probe);
    return G_SOURCE_CONTINUE;
}

/* Types COMMAND so that it runs as `sh -c COMMAND` whatever quoting or
 * newlines it contains: it travels base64-encoded, in chunks. */
static void send_command(Console *console)
{
    g_autofree char *encoded = g_base64_encode(
        (const guchar *)console->command, strlen(console->command));
    const char *tag = console->begin_line + strlen("BEGIN-0");
    size_t length = strlen(encoded);
    g_autofree char *run = NULL;

    if (!console_type(console, "_gc=\n"))
        return;
    for (size_t offset = 0; offset < length; offset += MAX_TYPED_CHUNK) {
        g_autofree char *chunk = g_strdup_printf(
            "_gc=${_gc}%.*s\n", MAX_TYPED_CHUNK, encoded + offset);
        if (!console_type(console, chunk))
            return;
    }
    /* stdin is /dev/null so that the command cannot swallow what we type
     * next.  The end marker starts with its own newline, which is removed
     * again, so output without a final newline is still framed. */
    run = g_strdup_printf(
        "echo BEGIN-$((0))%s; sh -c \"$(echo $_gc | base64 -d)\" </dev/null;"
        " printf '\\nEND-%%d%%s-%%d\\n' 0 %s $?\n",
        tag, tag);
    console_type(console, run);
}

/* Consumes complete lines from console->pending while looking for the
 * probe's answer. */
static void scan_probe_answer(Console *console)
{
    char *newline;

    while (console->state == STATE_PROBING &&
           (newline = strchr(console->pending->str, '\n')) != NULL) {
        size_t line_length = newline - console->pending->str;
        gboolean is_ready =
            line_length == strlen(console->ready_line) &&
            memcmp(console->pending->str, console->ready_line,
                   line_length) == 0;
        gboolean is_boot_marker =
            line_length == strlen("ORIEL-GUEST-READY") &&
            memcmp(console->pending->str, "ORIEL-GUEST-READY",
                   line_length) == 0;

        g_string_erase(console->pending, 0, line_length + 1);
        if (is_boot_marker) {
            /* The shell starts right after the marker: ask at once. */
            probe_cb(console);
        } else if (is_ready) {
            g_clear_handle_id(&console->probe_source, g_source_remove);
            if (console->command == NULL) {
                console_finish(console, EXIT_SUCCESS);
                return;
            }
            console->state = STATE_RUNNING;
            send_command(console);
        }
    }
}

static void scan_command_output(Console *console)
{
    if (!console->in_output) {
        /* Skip everything up to our begin line: prompts, echoes. */
        const char *text = console->pending->str;
        const char *found = NULL;
        size_t begin_length = strlen(console->begin_line);

        for (const char *line = text; line != NULL && *line != '\0';) {
            const char *eol = strchr(line, '\n');
            if (eol == NULL)
                break;
            if ((size_t)(eol - line) == begin_length &&
                memcmp(line, console->begin_line, begin_length) == 0) {
                found = eol + 1;
                break;
            }
            line = eol + 1;
        }
        if (found == NULL) {
            /* Keep only a possibly incomplete last line. */
            const char *last = strrchr(text, '\n');
            if (last != NULL)
                g_string_erase(console->pending, 0, last + 1 - text);
            return;
        }
        g_string_erase(console->pending, 0, found - text);
        console->in_output = TRUE;
    }

    const char *end = strstr(console->pending->str, console->end_prefix);
    if (end == NULL)
        return;
    const char *status_text = end + strlen(console->end_prefix);
    const char *eol = strchr(status_text, '\n');
    if (eol == NULL)
        return;

    g_autofree char *status_string = g_strndup(status_text, eol - status_text);
    guint64 status = 0;
    if (!g_ascii_string_to_unsigned(status_string, 10, 0, 255, &status,
                                    NULL)) {
        g_printerr("guest-console: malformed exit status '%s'\n",
                   status_string);
        console_finish(console, EXIT_CONNECTION);
        return;
    }
    fwrite(console->pending->str, 1, end - console->pending->str, stdout);
    fflush(stdout);
    console_finish(console, (int)status);
}

static void console_feed(Console *console, const char *data, size_t length)
{
    for (size_t i = 0; i < length; i++) {
        if (data[i] != '\r')
            g_string_append_c(console->pending, data[i]);
    }
    if (console->pending->len > MAX_OUTPUT) {
        g_printerr("guest-console: more than %d bytes of output\n",
                   MAX_OUTPUT);
        console_finish(console, EXIT_CONNECTION);
        return;
    }
    if (console->state == STATE_PROBING)
        scan_probe_answer(console);
    if (console->state == STATE_RUNNING)
        scan_command_output(console);
}

static void read_cb(GObject *source, GAsyncResult *result, gpointer user_data)
{
    Console *console = user_data;
    g_autoptr(GError) error = NULL;
    gssize count = g_input_stream_read_finish(G_INPUT_STREAM(source), result,
                                              &error);

    if (count < 0) {
        if (!g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
            g_printerr("guest-console: reading %s: %s\n",
                       console->socket_path, error->message);
            console_finish(console, EXIT_CONNECTION);
        }
        return;
    }
    if (count == 0) {
        g_printerr("guest-console: %s closed (did the guest stop?)\n",
                   console->socket_path);
        console_finish(console, EXIT_CONNECTION);
        return;
    }
    console_feed(console, console->read_buffer, count);
    if (g_cancellable_is_cancelled(console->cancellable))
        return;
    g_input_stream_read_async(G_INPUT_STREAM(source), console->read_buffer,
                              sizeof(console->read_buffer), G_PRIORITY_DEFAULT,
                              console->cancellable, read_cb, console);
}

static void try_connect(Console *console);

static gboolean retry_connect_cb(gpointer user_data)
{
    Console *console = user_data;

    console->retry_source = 0;
    try_connect(console);
    return G_SOURCE_REMOVE;
}

static void connect_cb(GObject *source, GAsyncResult *result,
                       gpointer user_data)
{
    Console *console = user_data;
    g_autoptr(GError) error = NULL;
    g_autoptr(GSocketConnection) connection = g_socket_client_connect_finish(
        G_SOCKET_CLIENT(source), result, &error);

    console->connect_pending = FALSE;
    if (connection == NULL) {
        if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
            return;
        g_free(console->connect_error);
        console->connect_error = g_strdup(error->message);
        /* A missing socket is announced by the directory monitor when QEMU
         * creates it, unless that happened while this attempt was in
         * flight.  A socket that exists but refuses is either between
         * QEMU's bind() and listen(), which no file event marks, or stale:
         * only a retry can tell. */
        if (console->retry_requested ||
            !g_error_matches(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND)) {
            console->retry_source =
                g_timeout_add(CONNECT_RETRY_MS, retry_connect_cb, console);
        }
        return;
    }

    g_clear_object(&console->dir_monitor);
    console->connection = g_steal_pointer(&connection);
    console->out =
        g_io_stream_get_output_stream(G_IO_STREAM(console->connection));
    console->state = STATE_PROBING;
    g_input_stream_read_async(
        g_io_stream_get_input_stream(G_IO_STREAM(console->connection)),
        console->read_buffer, sizeof(console->read_buffer), G_PRIORITY_DEFAULT,
        console->cancellable, read_cb, console);
    probe_cb(console);
    console->probe_source =
        g_timeout_add(PROBE_INTERVAL_MS, probe_cb, console);
}

static void try_connect(Console *console)
{
    g_autoptr(GSocketClient) client = NULL;
    g_autoptr(GSocketAddress) address = NULL;

    if (console->state != STATE_CONNECTING)
        return;
    if (console->connect_pending || console->retry_source != 0) {
        console->retry_requested = TRUE;
        return;
    }
    console->connect_pending = TRUE;
    console->retry_requested = FALSE;
    client = g_socket_client_new();
    address = g_unix_socket_address_new(console->socket_path);
    g_socket_client_connect_async(client, G_SOCKET_CONNECTABLE(address),
                                  console->cancellable, connect_cb, console);
}

static void dir_changed_cb(GFileMonitor *monitor, GFile *file, GFile *other,
                           GFileMonitorEvent event, gpointer user_data)
{
    Console *console = user_data;
    g_autofree char *path = g_file_get_path(file);

    if (g_strcmp0(path, console->socket_path) == 0)
        try_connect(console);
}

static gboolean timeout_cb(gpointer user_data)
{
    Console *console = user_data;

    if (console->state == STATE_CONNECTING) {
        g_printerr("guest-console: cannot connect to %s: %s\n",
                   console->socket_path,
                   console->connect_error ? console->connect_error
                                          : "timed out");
        console_finish(console, EXIT_CONNECTION);
    } else {
        g_printerr("guest-console: timed out waiting for the guest %s\n",
                   console->state == STATE_PROBING ? "shell" : "command");
        console_finish(console, EXIT_TIMEOUT);
    }
    return G_SOURCE_REMOVE;
}

int main(int argc, char **argv)
{
    int timeout_seconds = 60;
    gboolean wait_ready = FALSE;
    GOptionEntry entries[] = {
        {"timeout", 't', 0, G_OPTION_ARG_INT, &timeout_seconds,
         "Give up after SECONDS (default 60)", "SECONDS"},
        {"wait-ready", 'r', 0, G_OPTION_ARG_NONE, &wait_ready,
         "Wait until the guest's shell answers", NULL},
        G_OPTION_ENTRY_NULL,
    };
    g_autoptr(GOptionContext) context =
        g_option_context_new("SOCKET [COMMAND] - run a command in the guest");
    g_autoptr(GError) error = NULL;
    g_autoptr(GFile) socket_file = NULL;
    g_autoptr(GFile) directory = NULL;
    g_autofree char *tag = NULL;
    Console console = {.exit_status = EXIT_CONNECTION};

    g_option_context_add_main_entries(context, entries, NULL);
    if (!g_option_context_parse(context, &argc, &argv, &error)) {
        g_printerr("guest-console: %s\n", error->message);
        return 2;
    }
    if (argc < 2 || argc > 3 || timeout_seconds <= 0 ||
        (argc == 2 && !wait_ready)) {
        g_printerr("usage: guest-console SOCKET [--timeout SECONDS] "
                   "[--wait-ready] [COMMAND]\n");
        return 2;
    }

    socket_file = g_file_new_for_commandline_arg(argv[1]);
    console.socket_path = g_file_get_path(socket_file);
    console.command = argc == 3 ? g_strdup(argv[2]) : NULL;
    tag = g_strdup_printf("%08x%08x%d", g_random_int(), g_random_int(),
                          (int)getpid());
    console.ready_line = g_strdup_printf("READY-0%s", tag);
    console.begin_line = g_strdup_printf("BEGIN-0%s", tag);
    console.end_prefix = g_strdup_printf("\nEND-0%s-", tag);
    console.pending = g_string_new(NULL);
    console.loop = g_main_loop_new(NULL, FALSE);
    console.cancellable = g_cancellable_new();
    console.state = STATE_CONNECTING;

    /* Wait for QEMU to create the socket by watching its directory rather
     * than retrying on a timer. */
    directory = g_file_get_parent(socket_file);
    console.dir_monitor = g_file_monitor_directory(
        directory, G_FILE_MONITOR_NONE, NULL, &error);
    if (console.dir_monitor == NULL) {
        g_printerr("guest-console: cannot watch %s: %s\n",
                   g_file_peek_path(directory), error->message);
        return EXIT_CONNECTION;
    }
    g_signal_connect(console.dir_monitor, "changed",
                     G_CALLBACK(dir_changed_cb), &console);
    try_connect(&console);
    g_timeout_add_seconds(timeout_seconds, timeout_cb, &console);

    g_main_loop_run(console.loop);

    g_clear_handle_id(&console.probe_source, g_source_remove);
    g_clear_handle_id(&console.retry_source, g_source_remove);
    g_clear_object(&console.dir_monitor);
    g_clear_object(&console.connection);
    g_clear_object(&console.cancellable);
    g_clear_pointer(&console.loop, g_main_loop_unref);
    g_string_free(console.pending, TRUE);
    g_free(console.socket_path);
    g_free(console.command);
    g_free(console.ready_line);
    g_free(console.begin_line);
    g_free(console.end_prefix);
    g_free(console.connect_error);
    return console.exit_status;
}
