/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * orielctl console NAME: the domain's serial console on this terminal, like
 * `xl console`.  Ctrl-] detaches.  On a terminal, stdin goes raw for the
 * session and is restored on exit.  With stdin from a pipe, its bytes are
 * sent, and after its end the output is shown until the console is quiet
 * for --linger milliseconds, so `echo cmd | orielctl console NAME` works.
 */
#include "orielctl.h"

#include <errno.h>
#include <gio/gunixsocketaddress.h>
#include <glib-unix.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#define DETACH_BYTE 0x1d /* Ctrl-] */

typedef struct {
    GMainLoop *loop;
    GSocket *socket;
    guint linger_ms;
    guint linger_id;
    gboolean input_done;
    int status;
} Console;

static gboolean
on_linger_done(gpointer user_data)
{
    Console *console = user_data;

    console->linger_id = 0;
    g_main_loop_quit(console->loop);
    return G_SOURCE_REMOVE;
}

static void
restart_linger(Console *console)
{
    if (!console->input_done)
        return;
    g_clear_handle_id(&console->linger_id, g_source_remove);
    console->linger_id = g_timeout_add(console->linger_ms, on_linger_done, console);
}

static gboolean
write_all_fd(int fd, const char *data, gsize length)
{
    while (length > 0) {
        ssize_t written = write(fd, data, length);
        if (written < 0 && errno == EINTR)
            continue;
        if (written <= 0)
            return FALSE;
        data += written;
        length -= (gsize)written;
    }
    return TRUE;
}

static gboolean
on_console_output(GSocket *socket, GIOCondition condition, gpointer user_data)
{
    Console *console = user_data;
    char buffer[4096];
    gssize received = g_socket_receive(socket, buffer, sizeof(buffer), NULL, NULL);

    if (received <= 0) {
        fprintf(stderr, "\r\norielctl console: the console closed\r\n");
        g_main_loop_quit(console->loop);
        return G_SOURCE_REMOVE;
    }
    write_all_fd(STDOUT_FILENO, buffer, (gsize)received);
    restart_linger(console);
    return G_SOURCE_CONTINUE;
}

static gboolean
on_stdin(gint fd, GIOCondition condition, gpointer user_data)
{
    Console *console = user_data;
    char buffer[4096];
    ssize_t length = read(fd, buffer, sizeof(buffer));

    if (length < 0 && errno == EINTR)
        return G_SOURCE_CONTINUE;
    if (length <= 0) {
        console->input_done = TRUE;
        restart_linger(console);
        return G_SOURCE_REMOVE;
    }
    char *detach = memchr(buffer, DETACH_BYTE, (size_t)length);
    gsize send_length = detach ? (gsize)(detach - buffer) : (gsize)length;
    if (send_length > 0 && !g_socket_send_with_blocking(console->socket, buffer, send_length, TRUE, NULL, NULL)) {
        g_main_loop_quit(console->loop);
        return G_SOURCE_REMOVE;
    }
    if (detach) {
        g_main_loop_quit(console->loop);
        return G_SOURCE_REMOVE;
    }
    return G_SOURCE_CONTINUE;
}

int
orielctl_cmd_console(int argc, char **argv)
{
    gint linger_ms = 1000;
    GOptionEntry entries[] = {
        { "linger", 'l', 0, G_OPTION_ARG_INT, &linger_ms,
          "After stdin ends, exit once the console is quiet this long (ms, default 1000)", "MS" },
        { NULL },
    };
    g_autoptr(GOptionContext) context = g_option_context_new("NAME");
    g_autoptr(GError) error = NULL;

    g_option_context_set_summary(context, "Attach to a domain's serial console; Ctrl-] detaches.");
    g_option_context_add_main_entries(context, entries, NULL);
    if (!g_option_context_parse(context, &argc, &argv, &error)) {
        fprintf(stderr, "orielctl console: %s\n", error->message);
        return ORIELCTL_EXIT_USAGE;
    }
    if (argc != 2 || linger_ms < 0) {
        fprintf(stderr, "Usage: orielctl console [--linger MS] NAME\n");
        return ORIELCTL_EXIT_USAGE;
    }
    g_autofree char *path = orielctl_console_path(argv[1]);
    if (!path)
        return ORIELCTL_EXIT_ERROR;

    g_autoptr(GSocket) socket = g_socket_new(G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_STREAM, G_SOCKET_PROTOCOL_DEFAULT,
                                             &error);
    g_autoptr(GSocketAddress) address = g_unix_socket_address_new(path);
    if (!socket || !g_socket_connect(socket, address, NULL, &error)) {
        fprintf(stderr, "orielctl console: cannot connect to %s: %s\n", path, error->message);
        return ORIELCTL_EXIT_ERROR;
    }
    g_socket_set_blocking(socket, FALSE);

    struct termios saved, raw;
    gboolean tty = isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &saved) == 0;
    if (tty) {
        raw = saved;
        cfmakeraw(&raw);
        tcsetattr(STDIN_FILENO, TCSANOW, &raw);
        fprintf(stderr, "Connected to %s's console; Ctrl-] detaches.\r\n", argv[1]);
    }

    g_autoptr(GMainLoop) loop = g_main_loop_new(NULL, FALSE);
    Console console = { .loop = loop, .socket = socket, .linger_ms = (guint)linger_ms };
    GSource *output_source = g_socket_create_source(socket, G_IO_IN | G_IO_HUP | G_IO_ERR, NULL);
    g_source_set_callback(output_source, G_SOURCE_FUNC(on_console_output), &console, NULL);
    g_source_attach(output_source, NULL);
    guint stdin_id = g_unix_fd_add(STDIN_FILENO, G_IO_IN | G_IO_HUP | G_IO_ERR, on_stdin, &console);

    g_main_loop_run(loop);

    g_source_destroy(output_source);
    g_source_unref(output_source);
    if (!console.input_done)
        g_source_remove(stdin_id);
    g_clear_handle_id(&console.linger_id, g_source_remove);
    if (tty) {
        tcsetattr(STDIN_FILENO, TCSANOW, &saved);
        fprintf(stderr, "\n");
    }
    return console.status;
}
