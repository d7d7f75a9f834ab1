/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * orielctl create -F: one domain in the foreground, with no daemon, like
 * `xl create -F`.  Ctrl-C (or SIGTERM) presses the guest's power button;
 * if the guest has not powered off after the shutdown timeout, or on a
 * second Ctrl-C, QEMU is told to quit.
 */
#include "orielctl.h"

#include <glib-unix.h>
#include <stdio.h>
#include <sys/wait.h>

#include "dm-process.h"
#include "paths.h"

#define DEFAULT_SHUTDOWN_TIMEOUT_S 60

/* How the guest ended, as orielctl create -F's exit status. */
enum {
    CREATE_EXIT_POWEROFF = 0, /* the guest powered off (also after Ctrl-C) */
    CREATE_EXIT_START_FAILED = 1,
    CREATE_EXIT_REBOOT = 3,   /* the guest rebooted and on_reboot = "destroy" */
    CREATE_EXIT_CRASH = 4,    /* the guest crashed */
    CREATE_EXIT_FORCED = 5,   /* QEMU quit: shutdown timeout, second Ctrl-C, host */
    CREATE_EXIT_DIED = 6,     /* QEMU exited with an error or was killed */
};

typedef struct {
    GMainLoop *loop;
    OrielDomainConfig *config;
    char *runtime_dir;
    OrielDmProcess *dm;
    guint shutdown_timeout_s;
    guint shutdown_timer_id;
    guint interrupts;
    gboolean started;
    gboolean quiet;
    char *ticket_file;
    int exit_status;
} CreateRun;

static void start_domain(CreateRun *run);

static void
on_domain_exit(OrielDmProcess *dm, OrielDmEnd end, int wait_status, gpointer user_data)
{
    CreateRun *run = user_data;

    g_clear_handle_id(&run->shutdown_timer_id, g_source_remove);
    if (!run->quiet)
        fprintf(stderr, "orielctl: domain '%s' ended: %s\n", run->config->name, oriel_dm_end_to_string(end));

    /* xl's on_poweroff / on_crash = "restart": a new QEMU, unless the user
     * asked for the end with Ctrl-C. */
    if (run->interrupts == 0 &&
        ((end == ORIEL_DM_END_POWEROFF && run->config->on_poweroff == ORIEL_ACTION_RESTART) ||
         (end == ORIEL_DM_END_CRASH && run->config->on_crash == ORIEL_ACTION_RESTART))) {
        g_clear_pointer(&run->dm, oriel_dm_process_free);
        run->started = FALSE;
        start_domain(run);
        return;
    }

    switch (end) {
    case ORIEL_DM_END_POWEROFF:
        run->exit_status = CREATE_EXIT_POWEROFF;
        break;
    case ORIEL_DM_END_REBOOT:
        run->exit_status = CREATE_EXIT_REBOOT;
        break;
    case ORIEL_DM_END_CRASH:
        run->exit_status = CREATE_EXIT_CRASH;
        break;
    case ORIEL_DM_END_QUIT:
        run->exit_status = CREATE_EXIT_FORCED;
        break;
    case ORIEL_DM_END_DIED:
        run->exit_status = CREATE_EXIT_DIED;
        break;
    }
    g_main_loop_quit(run->loop);
}

static gboolean
on_shutdown_timeout(gpointer user_data)
{
    CreateRun *run = user_data;

    run->shutdown_timer_id = 0;
    fprintf(stderr, "orielctl: the guest did not power off within %u s; quitting QEMU\n",
            run->shutdown_timeout_s);
    oriel_dm_process_quit(run->dm);
    return G_SOURCE_REMOVE;
}

static gboolean
on_interrupt(gpointer user_data)
{
    CreateRun *run = user_data;

    if (!run->started) {
        /* The guest has not booted: nothing to shut down cleanly. */
        run->interrupts++;
        return G_SOURCE_CONTINUE;
    }
    if (run->interrupts++ == 0) {
        fprintf(stderr, "orielctl: powering down '%s' (again to force)\n", run->config->name);
        oriel_dm_process_powerdown(run->dm);
        run->shutdown_timer_id = g_timeout_add_seconds(run->shutdown_timeout_s, on_shutdown_timeout, run);
    } else {
        fprintf(stderr, "orielctl: quitting QEMU\n");
        g_clear_handle_id(&run->shutdown_timer_id, g_source_remove);
        oriel_dm_process_quit(run->dm);
    }
    return G_SOURCE_CONTINUE;
}

static void
print_connection(CreateRun *run)
{
    OrielDmProcess *dm = run->dm;
    g_autofree char *uri = oriel_dm_process_get_spice_uri(dm);
    const char *ticket = oriel_dm_process_get_spice_password(dm);

    printf("Domain '%s' is running (QEMU %s, pid %d, %s).\n", run->config->name,
           oriel_dm_process_get_qemu_version(dm), (int)oriel_dm_process_get_pid(dm),
           oriel_accel_to_string(oriel_dm_process_get_accel(dm)));
    if (uri) {
        printf("SPICE URI: %s\n", uri);
        if (ticket && run->ticket_file) {
            g_autoptr(GError) error = NULL;
            if (!g_file_set_contents_full(run->ticket_file, ticket, -1, G_FILE_SET_CONTENTS_CONSISTENT,
                                          0600, &error))
                fprintf(stderr, "orielctl: %s\n", error->message);
            printf("SPICE ticket: written to %s\n", run->ticket_file);
        } else if (ticket) {
            printf("SPICE ticket: %s\n", ticket);
        }
        printf("Connect with any SPICE client, e.g.: remote-viewer %s%s\n", uri,
               ticket ? "  (enter the ticket when asked)" : "");
    } else {
        printf("No SPICE display (spice = 0).\n");
    }
    printf("Serial console: %s/serial.sock; Ctrl-C powers the guest down.\n",
           oriel_dm_process_get_runtime_dir(dm));
    fflush(stdout);
}

static void
on_started(GObject *source, GAsyncResult *result, gpointer user_data)
{
    CreateRun *run = user_data;
    g_autoptr(GError) error = NULL;

    if (!oriel_dm_process_start_finish(run->dm, result, &error)) {
        fprintf(stderr, "orielctl: %s: %s\n", run->config->name, error->message);
        run->exit_status = CREATE_EXIT_START_FAILED;
        g_main_loop_quit(run->loop);
        return;
    }
    run->started = TRUE;
    if (run->interrupts > 0) {
        fprintf(stderr, "orielctl: interrupted during start-up; quitting QEMU\n");
        oriel_dm_process_quit(run->dm);
        return;
    }
    print_connection(run);
}

static void
start_domain(CreateRun *run)
{
    OrielDmStartOptions options = { .die_with_parent = TRUE };

    run->dm = oriel_dm_process_new(run->config, run->runtime_dir);
    oriel_dm_process_set_exit_func(run->dm, on_domain_exit, run);
    oriel_dm_process_start_async(run->dm, &options, NULL, on_started, run);
}

int
orielctl_cmd_create(int argc, char **argv)
{
    gboolean foreground = FALSE;
    gboolean quiet = FALSE;
    gint timeout_s = DEFAULT_SHUTDOWN_TIMEOUT_S;
    g_autofree char *ticket_file = NULL;
    g_auto(GStrv) files = NULL;
    GOptionEntry entries[] = {
        { "foreground", 'F', 0, G_OPTION_ARG_NONE, &foreground,
          "Run in the foreground, without the daemon", NULL },
        { "shutdown-timeout", 't', 0, G_OPTION_ARG_INT, &timeout_s,
          "Seconds to wait for the guest to power off after Ctrl-C (default 60)", "SECONDS" },
        { "ticket-file", 0, 0, G_OPTION_ARG_FILENAME, &ticket_file,
          "Write the SPICE ticket to FILE (0600) instead of printing it", "FILE" },
        { "quiet", 'q', 0, G_OPTION_ARG_NONE, &quiet, "Say less", NULL },
        { G_OPTION_REMAINING, 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &files, NULL, "FILE.cfg" },
        { NULL },
    };
    g_autoptr(GOptionContext) context = g_option_context_new("FILE.cfg");
    g_autoptr(GError) error = NULL;

    g_option_context_set_summary(context,
        "Start a domain from an xl.cfg-style file through orield (which keeps it\n"
        "running), or with -F in the foreground without the daemon.\n\n"
        "Exit status with -F: "
        "0 the guest powered off, 1 the domain could not start,\n"
        "3 the guest rebooted with on_reboot=\"destroy\", 4 the guest crashed,\n"
        "5 QEMU was made to quit (shutdown timeout, second Ctrl-C),\n"
        "6 QEMU exited with an error or was killed.");
    g_option_context_add_main_entries(context, entries, NULL);
    g_option_context_set_help_enabled(context, TRUE);
    if (!g_option_context_parse(context, &argc, &argv, &error)) {
        fprintf(stderr, "orielctl create: %s\n", error->message);
        return ORIELCTL_EXIT_USAGE;
    }
    if (!files || g_strv_length(files) != 1) {
        fprintf(stderr, "Usage: orielctl create [-F] FILE.cfg\n");
        return ORIELCTL_EXIT_USAGE;
    }
    if (!foreground)
        return orielctl_create_with_daemon(files[0]);
    if (timeout_s < 1) {
        fprintf(stderr, "orielctl create: --shutdown-timeout must be at least 1 second\n");
        return ORIELCTL_EXIT_USAGE;
    }

    g_autoptr(OrielDomainConfig) config = orielctl_load_config(files[0]);
    if (!config)
        return ORIELCTL_EXIT_ERROR;

    g_autoptr(GMainLoop) loop = g_main_loop_new(NULL, FALSE);
    g_autofree char *runtime_dir = oriel_paths_domain_runtime_dir(oriel_mode_default(), config->name);
    CreateRun run = {
        .loop = loop,
        .config = config,
        .runtime_dir = runtime_dir,
        .shutdown_timeout_s = (guint)timeout_s,
        .quiet = quiet,
        .ticket_file = ticket_file,
    };
    guint sigint = g_unix_signal_add(SIGINT, on_interrupt, &run);
    guint sigterm = g_unix_signal_add(SIGTERM, on_interrupt, &run);
    guint sighup = g_unix_signal_add(SIGHUP, on_interrupt, &run);

    start_domain(&run);
    g_main_loop_run(loop);

    g_source_remove(sigint);
    g_source_remove(sigterm);
    g_source_remove(sighup);
    g_clear_handle_id(&run.shutdown_timer_id, g_source_remove);
    g_clear_pointer(&run.dm, oriel_dm_process_free);
    return run.exit_status;
}
