/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The device model for real: QEMU under TCG (KVM where usable) boots the
 * test guest from an xl.cfg, and the test talks QMP to it, reads the guest's
 * serial console, powers it down and kills it.
 */
#include <errno.h>
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "dm-process.h"
#include "xlcfg.h"

typedef struct {
    GMainLoop *loop;
    char *tmpdir;
    char *runtime_dir;
    OrielDmProcess *dm;
    gboolean started;
    GError *start_error;
    gboolean ended;
    OrielDmEnd end;
    int wait_status;
    guint timeout_id;
} Fixture;

static const char *
guest_dir(void)
{
    const char *dir = g_getenv("ORIEL_GUEST_DIR");
    if (!dir)
        g_error("ORIEL_GUEST_DIR is not set: run this test through meson test");
    return dir;
}

static char *
guest_config_text(const char *extra)
{
    return g_strdup_printf("name = \"it-desk\"\n"
                           "type = \"hvm\"\n"
                           "memory = 256\n"
                           "kernel = \"%s/vmlinux\"\n"
                           "ramdisk = \"%s/initramfs.cpio.gz\"\n"
                           "cmdline = \"console=ttyS0 quiet\"\n"
                           "spice = 1\n"
                           "spicehost = \"127.0.0.1\"\n"
                           "spicevdagent = 1\n"
                           "%s\n",
                           guest_dir(), guest_dir(), extra ? extra : "");
}

static OrielDomainConfig *
load_config(const char *extra)
{
    g_autofree char *text = guest_config_text(extra);
    g_autoptr(GError) error = NULL;
    OrielDomainConfig *config = oriel_xlcfg_parse_data(text, strlen(text), "it-desk.cfg", NULL, &error);

    g_assert_no_error(error);
    return config;
}

static gboolean
on_test_timeout(gpointer user_data)
{
    g_error("integration test timed out");
    return G_SOURCE_REMOVE;
}

static void
fixture_setup(Fixture *f, gconstpointer data)
{
    g_autoptr(GError) error = NULL;

    f->loop = g_main_loop_new(NULL, FALSE);
    /* Short: Unix socket paths must fit in 107 bytes. */
    f->tmpdir = g_dir_make_tmp("oriel-it-XXXXXX", &error);
    g_assert_no_error(error);
    f->runtime_dir = g_build_filename(f->tmpdir, "d", NULL);
    f->timeout_id = g_timeout_add_seconds(240, on_test_timeout, NULL);
}

static void
fixture_teardown(Fixture *f, gconstpointer data)
{
    if (f->dm && f->started && !f->ended)
        oriel_dm_process_kill(f->dm);
    g_clear_pointer(&f->dm, oriel_dm_process_free);
    g_clear_error(&f->start_error);
    g_clear_handle_id(&f->timeout_id, g_source_remove);
    g_rmdir(f->runtime_dir);
    g_rmdir(f->tmpdir);
    g_free(f->runtime_dir);
    g_free(f->tmpdir);
    g_main_loop_unref(f->loop);
}

static void
on_exit_cb(OrielDmProcess *dm, OrielDmEnd end, int wait_status, gpointer user_data)
{
    Fixture *f = user_data;

    f->ended = TRUE;
    f->end = end;
    f->wait_status = wait_status;
    g_main_loop_quit(f->loop);
}

static void
on_started(GObject *source, GAsyncResult *result, gpointer user_data)
{
    Fixture *f = user_data;

    f->started = oriel_dm_process_start_finish(f->dm, result, &f->start_error);
    g_main_loop_quit(f->loop);
}

static gboolean
start(Fixture *f, const OrielDomainConfig *config)
{
    f->dm = oriel_dm_process_new(config, f->runtime_dir);
    oriel_dm_process_set_exit_func(f->dm, on_exit_cb, f);
    oriel_dm_process_start_async(f->dm, NULL, NULL, on_started, f);
    g_main_loop_run(f->loop);
    return f->started;
}

static void
wait_for_end(Fixture *f)
{
    while (!f->ended)
        g_main_loop_run(f->loop);
}

typedef struct {
    Fixture *f;
    JsonNode *reply;
    GError *error;
    gboolean done;
} Call;

static void
on_call_done(GObject *source, GAsyncResult *result, gpointer user_data)
{
    Call *call = user_data;

    call->reply = oriel_qmp_client_execute_finish(ORIEL_QMP_CLIENT(source), result, &call->error);
    call->done = TRUE;
    g_main_loop_quit(call->f->loop);
}

static JsonObject *
qmp_call(Fixture *f, const char *command)
{
    Call call = { .f = f };

    oriel_qmp_client_execute_async(oriel_dm_process_get_qmp(f->dm), command, NULL, 30000, NULL,
                                   on_call_done, &call);
    while (!call.done)
        g_main_loop_run(f->loop);
    g_assert_no_error(call.error);
    g_assert_true(JSON_NODE_HOLDS_OBJECT(call.reply));
    JsonObject *object = json_object_ref(json_node_get_object(call.reply));
    json_node_unref(call.reply);
    return object;
}

/* Runs COMMAND in the guest's root shell through its serial console. */
static char *
guest_run(Fixture *f, const char *command)
{
    g_autofree char *serial = g_build_filename(f->runtime_dir, "serial.sock", NULL);
    g_autofree char *tool = g_build_filename(g_getenv("ORIEL_BUILD_DIR"), "tests", "tools", "guest-console", NULL);
    const char *argv[] = { tool, serial, "--timeout", "180", "--wait-ready", command, NULL };
    g_autofree char *out = NULL;
    g_autofree char *err = NULL;
    g_autoptr(GError) error = NULL;
    int status = 0;

    g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_DEFAULT, NULL, NULL, &out, &err, &status, &error);
    g_assert_no_error(error);
    if (!g_spawn_check_wait_status(status, &error))
        g_error("guest-console '%s' failed: %s; stderr: %s", command, error->message, err);
    return g_steal_pointer(&out);
}

static void
test_start_query_console_powerdown(Fixture *f, gconstpointer data)
{
    g_autoptr(OrielDomainConfig) config = load_config("spicedisable_ticketing = 1");

    if (!start(f, config))
        g_error("start failed: %s", f->start_error->message);

    GPid pid = oriel_dm_process_get_pid(f->dm);
    g_assert_cmpint(pid, >, 0);
    g_assert_nonnull(oriel_dm_process_get_qemu_version(f->dm));

    g_autoptr(JsonObject) status = qmp_call(f, "query-status");
    g_assert_true(json_object_get_boolean_member(status, "running"));
    g_assert_cmpstr(json_object_get_string_member(status, "status"), ==, "running");

    g_autoptr(JsonObject) spice = qmp_call(f, "query-spice");
    g_assert_true(json_object_get_boolean_member(spice, "enabled"));
    g_assert_cmpstr(json_object_get_string_member(spice, "host"), ==, "127.0.0.1");
    g_assert_cmpint(json_object_get_int_member(spice, "port"), ==, oriel_dm_process_get_spice_port(f->dm));
    g_assert_cmpstr(json_object_get_string_member(spice, "auth"), ==, "none");

    g_autofree char *ports = guest_run(f, "cat /sys/class/virtio-ports/*/name");
    g_assert_nonnull(strstr(ports, "com.redhat.spice.0"));

    oriel_dm_process_powerdown(f->dm);
    wait_for_end(f);
    g_assert_cmpint(f->end, ==, ORIEL_DM_END_POWEROFF);
    g_assert_true(WIFEXITED(f->wait_status));
    g_assert_cmpint(WEXITSTATUS(f->wait_status), ==, 0);
    g_assert_cmpint(kill(pid, 0), ==, -1);
    g_assert_false(g_file_test(f->runtime_dir, G_FILE_TEST_EXISTS));
}

static void
test_guest_panic_is_a_crash(Fixture *f, gconstpointer data)
{
    g_autoptr(OrielDomainConfig) config = load_config("spicedisable_ticketing = 1\non_crash = \"destroy\"");

    if (!start(f, config))
        g_error("start failed: %s", f->start_error->message);
    g_autofree char *modules = guest_run(f, "grep -c pvpanic /proc/modules");
    g_assert_cmpint(atoi(modules), >=, 1);

    /* The console never answers this one: the kernel panics. */
    g_autofree char *serial = g_build_filename(f->runtime_dir, "serial.sock", NULL);
    g_autofree char *tool = g_build_filename(g_getenv("ORIEL_BUILD_DIR"), "tests", "tools", "guest-console", NULL);
    const char *argv[] = { tool, serial, "--timeout", "60", "echo c > /proc/sysrq-trigger", NULL };
    g_autoptr(GError) error = NULL;
    g_autoptr(GSubprocess) console = g_subprocess_newv(argv, G_SUBPROCESS_FLAGS_STDOUT_SILENCE |
                                                       G_SUBPROCESS_FLAGS_STDERR_SILENCE, &error);
    g_assert_no_error(error);

    wait_for_end(f);
    g_assert_cmpint(f->end, ==, ORIEL_DM_END_CRASH);
    g_subprocess_force_exit(console);
}

static void
test_password_set_through_secret(Fixture *f, gconstpointer data)
{
    g_autoptr(OrielDomainConfig) config = load_config("spicepasswd = \"it-ticket-123\"");

    if (!start(f, config))
        g_error("start failed: %s", f->start_error->message);
    g_assert_cmpstr(oriel_dm_process_get_spice_password(f->dm), ==, "it-ticket-123");

    /* The ticket is in no argv QEMU shows the host. */
    g_autofree char *cmdline_path = g_strdup_printf("/proc/%d/cmdline", (int)oriel_dm_process_get_pid(f->dm));
    g_autofree char *cmdline = NULL;
    gsize length = 0;
    g_assert_true(g_file_get_contents(cmdline_path, &cmdline, &length, NULL));
    for (gsize i = 0; i < length; i++)
        if (cmdline[i] == '\0')
            cmdline[i] = ' ';
    g_assert_null(strstr(cmdline, "it-ticket-123"));
    g_assert_nonnull(strstr(cmdline, "password-secret="));

    g_autoptr(JsonObject) spice = qmp_call(f, "query-spice");
    g_assert_cmpstr(json_object_get_string_member(spice, "auth"), ==, "spice");

    oriel_dm_process_quit(f->dm);
    wait_for_end(f);
    g_assert_cmpint(f->end, ==, ORIEL_DM_END_QUIT);
}

static void
test_kill_fails_pending_commands(Fixture *f, gconstpointer data)
{
    g_autoptr(OrielDomainConfig) config = load_config("spicedisable_ticketing = 1");
    Call calls[3] = { { .f = f }, { .f = f }, { .f = f } };

    if (!start(f, config))
        g_error("start failed: %s", f->start_error->message);
    GPid pid = oriel_dm_process_get_pid(f->dm);

    /* Stopped, QEMU cannot answer: the commands stay pending until it dies. */
    g_assert_cmpint(kill(pid, SIGSTOP), ==, 0);
    for (gsize i = 0; i < G_N_ELEMENTS(calls); i++)
        oriel_qmp_client_execute_async(oriel_dm_process_get_qmp(f->dm), "query-status", NULL, 0, NULL,
                                       on_call_done, &calls[i]);
    g_assert_cmpint(kill(pid, SIGKILL), ==, 0);

    for (gsize i = 0; i < G_N_ELEMENTS(calls); i++) {
        while (!calls[i].done)
            g_main_loop_run(f->loop);
        g_assert_null(calls[i].reply);
        g_assert_error(calls[i].error, ORIEL_QMP_ERROR, ORIEL_QMP_ERROR_DISCONNECTED);
        g_clear_error(&calls[i].error);
    }
    wait_for_end(f);
    g_assert_cmpint(f->end, ==, ORIEL_DM_END_DIED);
    g_assert_true(WIFSIGNALED(f->wait_status));
    g_assert_cmpint(WTERMSIG(f->wait_status), ==, SIGKILL);
    g_assert_false(g_file_test(f->runtime_dir, G_FILE_TEST_EXISTS));
}

static void
assert_start_fails(Fixture *f, const OrielDomainConfig *config, const char *expected)
{
    g_assert_false(start(f, config));
    g_assert_nonnull(f->start_error);
    if (!strstr(f->start_error->message, expected))
        g_error("start error '%s' does not mention '%s'", f->start_error->message, expected);
    g_assert_null(strchr(f->start_error->message, '\n'));
    /* Nothing left behind: no runtime dir, no socket. */
    g_assert_false(g_file_test(f->runtime_dir, G_FILE_TEST_EXISTS));
}

static void
test_spice_port_in_use(Fixture *f, gconstpointer data)
{
    g_autoptr(GSocket) socket = g_socket_new(G_SOCKET_FAMILY_IPV4, G_SOCKET_TYPE_STREAM,
                                             G_SOCKET_PROTOCOL_TCP, NULL);
    g_autoptr(GInetAddress) loopback = g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4);
    g_autoptr(GSocketAddress) any_port = g_inet_socket_address_new(loopback, 0);
    g_autoptr(GError) error = NULL;

    g_assert_true(g_socket_bind(socket, any_port, TRUE, &error));
    g_assert_true(g_socket_listen(socket, &error));
    g_autoptr(GSocketAddress) bound = g_socket_get_local_address(socket, &error);
    guint port = g_inet_socket_address_get_port(G_INET_SOCKET_ADDRESS(bound));
    g_autofree char *extra = g_strdup_printf("spicedisable_ticketing = 1\nspiceport = %u", port);
    g_autoptr(OrielDomainConfig) config = load_config(extra);
    g_autofree char *expected = g_strdup_printf("spiceport: %u on 127.0.0.1 is already in use", port);

    assert_start_fails(f, config, expected);
}

static void
test_qemu_exits_early(Fixture *f, gconstpointer data)
{
    g_autoptr(OrielDomainConfig) config =
        load_config("spicedisable_ticketing = 1\ndevice_model_args = [ \"-device\", \"no-such-device\" ]");

    assert_start_fails(f, config, "QEMU exited during start-up (exit status 1)");
    g_assert_nonnull(strstr(f->start_error->message, "no-such-device"));
}

static void
test_qemu_missing(Fixture *f, gconstpointer data)
{
    g_autoptr(OrielDomainConfig) config = load_config("spicedisable_ticketing = 1");

    g_setenv("ORIEL_QEMU", "/nonexistent/qemu-system-x86_64", TRUE);
    assert_start_fails(f, config, "cannot start QEMU");
    g_unsetenv("ORIEL_QEMU");
}

static void
test_missing_kernel(Fixture *f, gconstpointer data)
{
    g_autoptr(OrielDomainConfig) config = load_config("spicedisable_ticketing = 1");

    g_free(config->kernel);
    config->kernel = g_strdup("/nonexistent/vmlinuz");
    assert_start_fails(f, config, "kernel: /nonexistent/vmlinuz does not exist");
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
#define ADD(path, func) g_test_add("/integration/dm-process/" path, Fixture, NULL, fixture_setup, func, fixture_teardown)
    ADD("start-query-console-powerdown", test_start_query_console_powerdown);
    ADD("password-through-secret", test_password_set_through_secret);
    ADD("guest-panic-is-a-crash", test_guest_panic_is_a_crash);
    ADD("kill-fails-pending-commands", test_kill_fails_pending_commands);
    ADD("spice-port-in-use", test_spice_port_in_use);
    ADD("qemu-exits-early", test_qemu_exits_early);
    ADD("qemu-missing", test_qemu_missing);
    ADD("missing-kernel", test_missing_kernel);
#undef ADD
    return g_test_run();
}
