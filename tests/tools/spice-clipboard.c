/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* spice-clipboard: a real SPICE client (spice-client-glib's SpiceMainChannel,
 * no GTK) that drives the guest agent for the e2e tests and benchmarks.
 * It connects, waits for the agent and its capabilities, then does one
 * thing:
 *
 *   --grab FILE      takes the client's clipboard grab offering FILE's
 *                    contents and serves the guest's requests; with --run,
 *                    exits with the command's status once it ends
 *   --receive FILE   waits for the guest to grab (after starting --run),
 *                    requests the data and writes it to FILE
 *   --send-file PATH copies PATH into the guest (file transfer)
 *   --monitor WxH    sends a monitors config with one WxH monitor, then
 *                    runs --run
 *
 * Exit codes: 0 ok, 1 failed (the message on stderr), 2 usage, 3 could not
 * connect, 4 timeout. */
#define G_LOG_DOMAIN "spice-clipboard"

#include <spice-client.h>
#include <spice/vd_agent.h>

#include <locale.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>

enum {
    EXIT_OK = 0,
    EXIT_FAILED = 1,
    EXIT_USAGE = 2,
    EXIT_CONNECT = 3,
    EXIT_TIMEOUT = 4,
};

#define RUNNING (-1)
#define PASSWORD_FILE_MAX 4096

typedef struct {
    /* options */
    guint selection;
    guint32 type;
    char *grab_path;
    char *receive_path;
    char *send_file;
    char *monitor;
    char *run;

    GMainLoop *loop;
    SpiceSession *session;
    SpiceMainChannel *main;
    GBytes *grab_data;
    gboolean started;
    gboolean requested;
    guint requests_served;
    gint64 start_us;
    gint64 action_us;
    int exit_code;
    char *message;
} Tool;

static void
tool_finish(Tool *tool, int exit_code, const char *message)
{
    if (tool->exit_code != RUNNING)
        return;
    tool->exit_code = exit_code;
    tool->message = g_strdup(message);
    g_main_loop_quit(tool->loop);
}

static void
on_child_exit(GPid pid, gint status, gpointer user_data)
{
    Tool *tool = user_data;
    g_autoptr(GError) error = NULL;

    g_spawn_close_pid(pid);
    if (g_spawn_check_wait_status(status, &error)) {
        /* --receive keeps waiting for the data the command put there. */
        if (!tool->receive_path)
            tool_finish(tool, EXIT_OK, NULL);
        return;
    }
    g_autofree char *message = g_strdup_printf("--run command: %s", error->message);
    tool_finish(tool, EXIT_FAILED, message);
}

static void
run_command(Tool *tool)
{
    const char *argv[] = { "/bin/sh", "-c", tool->run, NULL };
    g_autoptr(GError) error = NULL;
    GPid pid;

    if (!tool->run) {
        if (!tool->receive_path && !tool->grab_path)
            tool_finish(tool, EXIT_OK, NULL);
        return;
    }
    if (!g_spawn_async(NULL, (char **)argv, NULL,
                       G_SPAWN_DO_NOT_REAP_CHILD, NULL, NULL, &pid, &error)) {
        tool_finish(tool, EXIT_FAILED, error->message);
        return;
    }
    g_child_watch_add(pid, on_child_exit, tool);
}

static void
on_file_copy_done(GObject *source, GAsyncResult *result, gpointer user_data)
{
    Tool *tool = user_data;
    g_autoptr(GError) error = NULL;

    if (!spice_main_channel_file_copy_finish(SPICE_MAIN_CHANNEL(source), result, &error)) {
        g_autofree char *message = g_strdup_printf("file copy: %s", error->message);
        tool_finish(tool, EXIT_FAILED, message);
        return;
    }
    tool_finish(tool, EXIT_OK, NULL);
}

static void
start_action(Tool *tool)
{
    tool->started = TRUE;
    tool->action_us = g_get_monotonic_time();
    if (tool->grab_path) {
        guint32 types[] = { tool->type };

        spice_main_channel_clipboard_selection_grab(tool->main, tool->selection, types, 1);
        run_command(tool);
    } else if (tool->receive_path) {
        run_command(tool);
    } else if (tool->send_file) {
        GFile *files[] = { g_file_new_for_path(tool->send_file), NULL };

        spice_main_channel_file_copy_async(tool->main, files, G_FILE_COPY_NONE, NULL,
                                           NULL, NULL, on_file_copy_done, tool);
        g_object_unref(files[0]);
    } else if (tool->monitor) {
        int width = 0, height = 0;

        if (sscanf(tool->monitor, "%dx%d", &width, &height) != 2 ||
            width <= 0 || height <= 0) {
            tool_finish(tool, EXIT_USAGE, "--monitor wants WIDTHxHEIGHT");
            return;
        }
        spice_main_channel_update_display_enabled(tool->main, 0, TRUE, FALSE);
        spice_main_channel_update_display(tool->main, 0, 0, 0, width, height, FALSE);
        if (!spice_main_channel_send_monitor_config(tool->main)) {
            tool_finish(tool, EXIT_FAILED, "the monitors config was not sent");
            return;
        }
        run_command(tool);
    }
}

static void
on_agent_update(SpiceMainChannel *main, gpointer user_data)
{
    Tool *tool = user_data;
    gboolean connected = FALSE;

    g_object_get(main, "agent-connected", &connected, NULL);
    if (tool->started || !connected ||
        !spice_main_channel_agent_test_capability(main, VD_AGENT_CAP_CLIPBOARD_BY_DEMAND))
        return;
    start_action(tool);
}

static gboolean
on_selection_request(SpiceMainChannel *main, guint selection, guint type, gpointer user_data)
{
    Tool *tool = user_data;
    gsize size = 0;
    const guchar *data;

    if (!tool->grab_data || selection != tool->selection || type != tool->type)
        return FALSE;
    data = g_bytes_get_data(tool->grab_data, &size);
    spice_main_channel_clipboard_selection_notify(main, selection, type, data, size);
    tool->requests_served++;
    return TRUE;
}

static gboolean
on_selection_grab(SpiceMainChannel *main, guint selection, gpointer types, guint ntypes,
                  gpointer user_data)
{
    Tool *tool = user_data;
    const guint32 *t = types;

    if (!tool->receive_path || selection != tool->selection || tool->requested)
        return TRUE;
    for (guint i = 0; i < ntypes; i++) {
        if (t[i] == tool->type) {
            tool->requested = TRUE;
            spice_main_channel_clipboard_selection_request(main, selection, tool->type);
            break;
        }
    }
    return TRUE;
}

static void
on_selection_data(SpiceMainChannel *main, guint selection, guint type, gpointer data,
                  guint size, gpointer user_data)
{
    Tool *tool = user_data;
    g_autoptr(GError) error = NULL;

    if (!tool->receive_path || !tool->requested || selection != tool->selection)
        return;
    if (type != tool->type) {
        tool_finish(tool, EXIT_FAILED, "the guest answered with another type");
        return;
    }
    if (!g_file_set_contents(tool->receive_path, data, size, &error)) {
        tool_finish(tool, EXIT_FAILED, error->message);
        return;
    }
    tool_finish(tool, EXIT_OK, NULL);
}

static void
on_channel_event(SpiceChannel *channel, SpiceChannelEvent event, gpointer user_data)
{
    Tool *tool = user_data;

    switch (event) {
    case SPICE_CHANNEL_OPENED:
        return;
    case SPICE_CHANNEL_ERROR_CONNECT:
    case SPICE_CHANNEL_ERROR_AUTH:
        tool_finish(tool, EXIT_CONNECT, "could not connect to the SPICE server");
        return;
    default:
        tool_finish(tool, EXIT_FAILED, "the main channel closed");
        return;
    }
}

static void
on_channel_new(SpiceSession *session, SpiceChannel *channel, gpointer user_data)
{
    Tool *tool = user_data;

    if (!SPICE_IS_MAIN_CHANNEL(channel)) {
        /* Display, inputs, cursor: not needed for the agent. */
        return;
    }
    tool->main = SPICE_MAIN_CHANNEL(channel);
    g_signal_connect(channel, "channel-event", G_CALLBACK(on_channel_event), tool);
    g_signal_connect(channel, "main-agent-update", G_CALLBACK(on_agent_update), tool);
    g_signal_connect(channel, "main-clipboard-selection-request",
                     G_CALLBACK(on_selection_request), tool);
    g_signal_connect(channel, "main-clipboard-selection-grab",
                     G_CALLBACK(on_selection_grab), tool);
    g_signal_connect(channel, "main-clipboard-selection", G_CALLBACK(on_selection_data), tool);
}

static gboolean
on_timeout(gpointer user_data)
{
    Tool *tool = user_data;

    tool_finish(tool, EXIT_TIMEOUT,
                tool->started ? "timeout: the action did not complete"
                              : "timeout: the guest agent did not connect");
    return G_SOURCE_REMOVE;
}

static guint disconnect_timer;

static gboolean
on_disconnect_timeout(gpointer user_data)
{
    disconnect_timer = 0;
    g_main_loop_quit(user_data);
    return G_SOURCE_REMOVE;
}

static void
on_disconnected(SpiceSession *session, gpointer user_data)
{
    g_main_loop_quit(user_data);
}

int
main(int argc, char **argv)
{
    g_autofree char *host = NULL;
    g_autofree char *port = NULL;
    g_autofree char *password_file = NULL;
    g_autofree char *selection = NULL;
    g_autofree char *type = NULL;
    int timeout = 60;
    Tool tool = { .exit_code = RUNNING };
    GOptionEntry entries[] = {
        { "host", 0, 0, G_OPTION_ARG_STRING, &host, "SPICE host", "HOST" },
        { "port", 0, 0, G_OPTION_ARG_STRING, &port, "SPICE port", "PORT" },
        { "password-file", 0, 0, G_OPTION_ARG_FILENAME, &password_file, "ticket file", "FILE" },
        { "timeout", 0, 0, G_OPTION_ARG_INT, &timeout, "give up after S seconds", "S" },
        { "selection", 0, 0, G_OPTION_ARG_STRING, &selection, "clipboard or primary", "SEL" },
        { "type", 0, 0, G_OPTION_ARG_STRING, &type, "text or png", "TYPE" },
        { "grab", 0, 0, G_OPTION_ARG_FILENAME, &tool.grab_path, "offer FILE to the guest", "FILE" },
        { "receive", 0, 0, G_OPTION_ARG_FILENAME, &tool.receive_path, "write the guest's data to FILE", "FILE" },
        { "send-file", 0, 0, G_OPTION_ARG_FILENAME, &tool.send_file, "copy PATH into the guest", "PATH" },
        { "monitor", 0, 0, G_OPTION_ARG_STRING, &tool.monitor, "send a WxH monitors config", "WxH" },
        { "run", 0, 0, G_OPTION_ARG_STRING, &tool.run, "shell command to run once the agent is there", "CMD" },
        { NULL },
    };
    g_autoptr(GOptionContext) context = NULL;
    g_autoptr(GError) error = NULL;
    int actions;
    guint timer;

    setlocale(LC_ALL, "");
    context = g_option_context_new("- drive the SPICE guest agent");
    g_option_context_add_main_entries(context, entries, NULL);
    if (!g_option_context_parse(context, &argc, &argv, &error)) {
        fprintf(stderr, "spice-clipboard: %s\n", error->message);
        return EXIT_USAGE;
    }
    actions = !!tool.grab_path + !!tool.receive_path + !!tool.send_file + !!tool.monitor;
    if (!port || actions != 1 || timeout <= 0) {
        fprintf(stderr, "spice-clipboard: need --port and exactly one of --grab, --receive, "
                "--send-file, --monitor\n");
        return EXIT_USAGE;
    }
    tool.selection = VD_AGENT_CLIPBOARD_SELECTION_CLIPBOARD;
    if (selection && strcmp(selection, "primary") == 0)
        tool.selection = VD_AGENT_CLIPBOARD_SELECTION_PRIMARY;
    else if (selection && strcmp(selection, "clipboard") != 0) {
        fprintf(stderr, "spice-clipboard: --selection is clipboard or primary\n");
        return EXIT_USAGE;
    }
    tool.type = VD_AGENT_CLIPBOARD_UTF8_TEXT;
    if (type && strcmp(type, "png") == 0)
        tool.type = VD_AGENT_CLIPBOARD_IMAGE_PNG;
    else if (type && strcmp(type, "text") != 0) {
        fprintf(stderr, "spice-clipboard: --type is text or png\n");
        return EXIT_USAGE;
    }
    if (tool.grab_path) {
        g_autofree char *contents = NULL;
        gsize length = 0;

        if (!g_file_get_contents(tool.grab_path, &contents, &length, &error)) {
            fprintf(stderr, "spice-clipboard: %s\n", error->message);
            return EXIT_USAGE;
        }
        tool.grab_data = g_bytes_new_take(g_steal_pointer(&contents), length);
    }

    tool.loop = g_main_loop_new(NULL, FALSE);
    tool.session = spice_session_new();
    /* Only the main channel matters; no audio, which would also try to sync
     * volumes through GStreamer. */
    g_object_set(tool.session, "host", host ? host : "127.0.0.1", "port", port,
                 "enable-audio", FALSE, "enable-usbredir", FALSE, NULL);
    if (password_file) {
        g_autofree char *password = NULL;
        gsize length = 0;

        if (!g_file_get_contents(password_file, &password, &length, &error) ||
            length > PASSWORD_FILE_MAX) {
            fprintf(stderr, "spice-clipboard: cannot read the password file\n");
            return EXIT_USAGE;
        }
        g_strchomp(password);
        g_object_set(tool.session, "password", password, NULL);
    }
    g_signal_connect(tool.session, "channel-new", G_CALLBACK(on_channel_new), &tool);
    tool.start_us = g_get_monotonic_time();
    timer = g_timeout_add_seconds((guint)timeout, on_timeout, &tool);
    if (!spice_session_connect(tool.session)) {
        fprintf(stderr, "spice-clipboard: could not start connecting\n");
        return EXIT_CONNECT;
    }
    g_main_loop_run(tool.loop);
    g_source_remove_by_user_data(&tool);
    (void)timer;

    if (tool.exit_code == EXIT_OK)
        printf("{\"ok\":true,\"requests_served\":%u,\"action_ms\":%.1f}\n",
               tool.requests_served,
               (g_get_monotonic_time() - tool.action_us) / 1000.0);
    else
        fprintf(stderr, "spice-clipboard: %s\n", tool.message);

    /* A clean disconnect, bounded. */
    {
        gulong handler = g_signal_connect(tool.session, "disconnected",
                                          G_CALLBACK(on_disconnected), tool.loop);
        disconnect_timer = g_timeout_add(2000, on_disconnect_timeout, tool.loop);
        spice_session_disconnect(tool.session);
        g_main_loop_run(tool.loop);
        g_signal_handler_disconnect(tool.session, handler);
        if (disconnect_timer)
            g_source_remove(disconnect_timer);
    }
    g_signal_handlers_disconnect_by_data(tool.session, &tool);
    g_object_unref(tool.session);
    g_main_loop_unref(tool.loop);
    if (tool.grab_data)
        g_bytes_unref(tool.grab_data);
    g_free(tool.message);
    g_free(tool.grab_path);
    g_free(tool.receive_path);
    g_free(tool.send_file);
    g_free(tool.monitor);
    g_free(tool.run);
    return tool.exit_code;
}
