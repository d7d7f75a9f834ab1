/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* orield: the Oriel host daemon.  All of it is in liboriel-hv (hv.h). */
#include <fcntl.h>
#include <glib-unix.h>
#include <locale.h>
#include <signal.h>
#include <stdio.h>
#include <unistd.h>

#include "hv.h"
#include "oriel-build-config.h"

static gboolean
on_quit_signal(gpointer user_data)
{
    g_main_loop_quit(user_data);
    return G_SOURCE_CONTINUE;
}

int
main(int argc, char **argv)
{
    gboolean system_mode = FALSE, session_mode = FALSE, verbose = FALSE, version = FALSE;
    g_autofree char *spice_x509_dir = NULL;
    GOptionEntry entries[] = {
        { "system", 0, 0, G_OPTION_ARG_NONE, &system_mode, "System mode (/etc/oriel, /run/oriel; root)", NULL },
        { "session", 0, 0, G_OPTION_ARG_NONE, &session_mode, "Session mode (XDG dirs; any user)", NULL },
        { "spice-x509-dir", 0, 0, G_OPTION_ARG_FILENAME, &spice_x509_dir,
          "SPICE TLS certificates (ca-cert.pem, server-cert.pem, server-key.pem); overrides orield.conf", "DIR" },
        { "verbose", 'v', 0, G_OPTION_ARG_NONE, &verbose, "Log debug messages", NULL },
        { "version", 0, 0, G_OPTION_ARG_NONE, &version, "Print the version", NULL },
        { NULL },
    };
    g_autoptr(GOptionContext) context = g_option_context_new(NULL);
    g_autoptr(GError) error = NULL;

    setlocale(LC_ALL, "");
    signal(SIGPIPE, SIG_IGN); /* a client gone mid-reply is an error return, not death */
    g_option_context_set_summary(context,
        "The Oriel host daemon: owns the domains of one mode and serves orielctl on\n"
        "RUNTIME/orield.sock.  Domains keep running when it stops; the next orield\n"
        "reattaches them.  ORIEL_CONFIG_DIR and ORIEL_RUNTIME_DIR override the dirs.");
    g_option_context_add_main_entries(context, entries, NULL);
    if (!g_option_context_parse(context, &argc, &argv, &error)) {
        fprintf(stderr, "orield: %s\n", error->message);
        return 2;
    }
    if (version) {
        printf("orield %s\n", ORIEL_VERSION);
        return 0;
    }
    if (system_mode && session_mode) {
        fprintf(stderr, "orield: --system and --session exclude each other\n");
        return 2;
    }
    if (verbose)
        g_log_set_debug_enabled(TRUE);
    OrielMode mode = system_mode ? ORIEL_MODE_SYSTEM : session_mode ? ORIEL_MODE_SESSION : oriel_mode_default();

    g_autoptr(GMainLoop) loop = g_main_loop_new(NULL, FALSE);
    g_autoptr(OrielHv) hv = oriel_hv_new(mode);
    if (spice_x509_dir)
        oriel_hv_set_spice_x509_dir(hv, spice_x509_dir);
    if (!oriel_hv_start(hv, &error)) {
        fprintf(stderr, "orield: %s\n", error->message);
        return 1;
    }
    /* One line on stdout once clients can connect: scripts wait for it. */
    printf("orield: ready on %s\n", oriel_hv_get_socket_path(hv));
    fflush(stdout);
    /* Whoever waited for that line may be gone (orielctl starting a session
     * daemon): nothing more goes to stdout. */
    int null_fd = open("/dev/null", O_WRONLY | O_CLOEXEC);
    if (null_fd >= 0) {
        dup2(null_fd, STDOUT_FILENO);
        close(null_fd);
    }
    guint sigterm = g_unix_signal_add(SIGTERM, on_quit_signal, loop);
    guint sigint = g_unix_signal_add(SIGINT, on_quit_signal, loop);
    g_main_loop_run(loop);
    g_source_remove(sigterm);
    g_source_remove(sigint);
    return 0;
}
