/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "dm-process.h"

#include <errno.h>
#include <fcntl.h>
#include <gio/gunixsocketaddress.h>
#include <glib-unix.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "accel.h"
#include "dm-user.h"
#include "paths.h"

#define QMP_CHILD_FD 3
#define SERIAL_CHILD_FD 4
#define START_TIMEOUT_MS (120 * 1000)   /* TCG on a loaded 2-core machine is slow */
#define EXIT_GRACE_MS (5 * 1000)        /* QMP gone during start: wait this for the exit */
#define QUERY_TIMEOUT_MS (30 * 1000)
#define SPICE_AUTO_PORT_FIRST 5900
#define SPICE_AUTO_PORT_LAST 5999
#define TICKET_BYTES 12

struct _OrielDmProcess {
    OrielDomainConfig *config;
    char *runtime_dir;
    char *qmp_path;
    char *log_path;
    char *pid_path;
    char *password_path;
    char *serial_path;
    OrielDmUser *user;     /* QEMU runs as this user, or NULL: as this process */

    char *spice_host;
    guint spice_port;
    char *spice_password;
    char *spice_x509_dir;
    char *spice_x509_dir_forced; /* the caller's, over the environment */

    GSubprocess *subprocess;
    GPid pid;
    OrielAccel accel;
    gboolean started;
    gboolean exited;
    int wait_status;
    OrielQmpClient *qmp;
    gulong qmp_event_handler;
    char *last_shutdown_reason;

    GTask *start_task;     /* pending start, or NULL */
    GError *start_qmp_error;
    guint start_timeout_id;
    GCancellable *cancellable;

    OrielDmExitFunc exit_func;
    gpointer exit_data;

    /* Reattached to a QEMU another process started (attach_async). */
    gboolean attached;
    int pidfd;
    guint pidfd_source_id;
    GTask *attach_task;
    guint attach_timeout_id;
};

const char *
oriel_dm_end_to_string(OrielDmEnd end)
{
    switch (end) {
    case ORIEL_DM_END_POWEROFF: return "poweroff";
    case ORIEL_DM_END_REBOOT: return "reboot";
    case ORIEL_DM_END_QUIT: return "quit";
    case ORIEL_DM_END_CRASH: return "crash";
    case ORIEL_DM_END_DIED: return "died";
    }
    return "unknown";
}

OrielDmProcess *
oriel_dm_process_new(const OrielDomainConfig *config, const char *runtime_dir)
{
    OrielDmProcess *dm = g_new0(OrielDmProcess, 1);
    g_autoptr(JsonNode) node = oriel_domain_config_to_json(config, FALSE);
    g_autoptr(GError) error = NULL;

    /* A validated config survives its own JSON round trip. */
    dm->config = oriel_domain_config_from_json(node, &error);
    g_assert_no_error(error);
    if (!oriel_domain_config_validate(dm->config, &error))
        g_assert_no_error(error);
    dm->runtime_dir = g_strdup(runtime_dir);
    dm->qmp_path = g_build_filename(runtime_dir, "qmp.sock", NULL);
    dm->log_path = g_build_filename(runtime_dir, "qemu.log", NULL);
    dm->pid_path = g_build_filename(runtime_dir, "qemu.pid", NULL);
    dm->password_path = g_build_filename(runtime_dir, "spice-ticket", NULL);
    dm->serial_path = g_build_filename(runtime_dir, "serial.sock", NULL);
    dm->cancellable = g_cancellable_new();
    dm->pidfd = -1;
    return dm;
}

static void
remove_runtime_files(OrielDmProcess *dm)
{
    const char *files[] = { dm->qmp_path, dm->pid_path, dm->password_path, dm->log_path, dm->serial_path };
    g_autofree char *vars = g_build_filename(dm->runtime_dir, "OVMF_VARS.fd", NULL);

    for (gsize i = 0; i < G_N_ELEMENTS(files); i++)
        g_unlink(files[i]);
    g_unlink(vars);
    g_rmdir(dm->runtime_dir);
}

void
oriel_dm_process_free(OrielDmProcess *dm)
{
    if (!dm)
        return;
    g_cancellable_cancel(dm->cancellable);
    if (dm->qmp) {
        g_signal_handler_disconnect(dm->qmp, dm->qmp_event_handler);
        oriel_qmp_client_close(dm->qmp);
    }
    g_clear_object(&dm->qmp);
    g_clear_object(&dm->subprocess);
    g_clear_object(&dm->cancellable);
    g_clear_handle_id(&dm->start_timeout_id, g_source_remove);
    g_clear_handle_id(&dm->pidfd_source_id, g_source_remove);
    g_clear_handle_id(&dm->attach_timeout_id, g_source_remove);
    if (dm->pidfd >= 0)
        close(dm->pidfd);
    g_clear_object(&dm->attach_task); /* its callback is not called */
    g_clear_error(&dm->start_qmp_error);
    oriel_domain_config_free(dm->config);
    g_free(dm->runtime_dir);
    g_free(dm->qmp_path);
    g_free(dm->log_path);
    g_free(dm->pid_path);
    g_free(dm->password_path);
    g_free(dm->serial_path);
    oriel_dm_user_unref(dm->user);
    g_free(dm->spice_host);
    if (dm->spice_password)
        memset(dm->spice_password, 0, strlen(dm->spice_password));
    g_free(dm->spice_password);
    g_free(dm->spice_x509_dir);
    g_free(dm->spice_x509_dir_forced);
    g_free(dm->last_shutdown_reason);
    g_free(dm);
}

void
oriel_dm_process_set_spice_x509_dir(OrielDmProcess *dm, const char *dir)
{
    g_free(dm->spice_x509_dir_forced);
    dm->spice_x509_dir_forced = g_strdup(dir);
}

void
oriel_dm_process_set_user(OrielDmProcess *dm, OrielDmUser *user)
{
    oriel_dm_user_unref(dm->user);
    dm->user = oriel_dm_user_ref(user);
}

void
oriel_dm_process_set_exit_func(OrielDmProcess *dm, OrielDmExitFunc func, gpointer user_data)
{
    dm->exit_func = func;
    dm->exit_data = user_data;
}

/* ---- preparation ----------------------------------------------------- */

static GInetAddress *
resolve_host(const char *host, GError **error)
{
    GInetAddress *address = g_inet_address_new_from_string(host);

    if (address)
        return address;
    if (g_ascii_strcasecmp(host, "localhost") == 0)
        return g_inet_address_new_loopback(G_SOCKET_FAMILY_IPV4);

    g_autoptr(GResolver) resolver = g_resolver_get_default();
    GList *addresses = g_resolver_lookup_by_name(resolver, host, NULL, error);
    if (!addresses) {
        g_prefix_error(error, "spicehost: %s: ", host);
        return NULL;
    }
    address = g_object_ref(addresses->data);
    g_resolver_free_addresses(addresses);
    return address;
}

/* Binds like spice-server does (SO_REUSEADDR) to see whether it could. */
static gboolean
port_is_free(GInetAddress *address, guint port)
{
    g_autoptr(GSocket) socket = g_socket_new(g_inet_address_get_family(address), G_SOCKET_TYPE_STREAM,
                                             G_SOCKET_PROTOCOL_TCP, NULL);
    g_autoptr(GSocketAddress) socket_address = g_inet_socket_address_new(address, port);

    return socket && g_socket_bind(socket, socket_address, TRUE, NULL);
}

static gboolean
choose_spice_port(const OrielDomainConfig *config, GInetAddress *address, guint *ret_port, GError **error)
{
    const OrielSpiceConfig *spice = &config->spice;
    g_autofree char *host = g_inet_address_to_string(address);

    if (spice->tls_port && !port_is_free(address, spice->tls_port)) {
        g_set_error(error, ORIEL_DEVMODEL_ERROR, ORIEL_DEVMODEL_ERROR_FAILED,
                    "spicetls_port: %u on %s is already in use", spice->tls_port, host);
        return FALSE;
    }
    if (spice->port) {
        if (!port_is_free(address, spice->port)) {
            g_set_error(error, ORIEL_DEVMODEL_ERROR, ORIEL_DEVMODEL_ERROR_FAILED,
                        "spiceport: %u on %s is already in use", spice->port, host);
            return FALSE;
        }
        *ret_port = spice->port;
        return TRUE;
    }
    for (guint port = SPICE_AUTO_PORT_FIRST; port <= SPICE_AUTO_PORT_LAST; port++) {
        if (port != spice->tls_port && port_is_free(address, port)) {
            *ret_port = port;
            return TRUE;
        }
    }
    g_set_error(error, ORIEL_DEVMODEL_ERROR, ORIEL_DEVMODEL_ERROR_FAILED,
                "spiceport: no free port in %d..%d on %s", SPICE_AUTO_PORT_FIRST, SPICE_AUTO_PORT_LAST, host);
    return FALSE;
}

static char *
generate_ticket(GError **error)
{
    guint8 bytes[TICKET_BYTES];

    if (getrandom(bytes, sizeof(bytes), 0) != sizeof(bytes)) {
        g_set_error(error, ORIEL_DEVMODEL_ERROR, ORIEL_DEVMODEL_ERROR_FAILED,
                    "cannot generate a SPICE ticket: %s", g_strerror(errno));
        return NULL;
    }
    /* base64 without the characters a URI query would need escaped. */
    char *ticket = g_base64_encode(bytes, sizeof(bytes));
    g_strdelimit(ticket, "+", '-');
    g_strdelimit(ticket, "/", '_');
    return ticket;
}

static const char *
ovmf_code_path(void)
{
    const char *forced = g_getenv("ORIEL_OVMF_CODE");
    return forced ? forced : "/usr/share/OVMF/OVMF_CODE_4M.fd";
}

static const char *
ovmf_vars_template(void)
{
    const char *forced = g_getenv("ORIEL_OVMF_VARS");
    return forced ? forced : "/usr/share/OVMF/OVMF_VARS_4M.fd";
}

static const char *
qemu_binary(const OrielDmStartOptions *options)
{
    if (options && options->qemu_binary)
        return options->qemu_binary;
    const char *forced = g_getenv("ORIEL_QEMU");
    return forced ? forced : "qemu-system-x86_64";
}

static GStrv
build_argv(OrielDmProcess *dm, const char *binary, OrielAccel accel, int qmp_fd, int serial_fd, GError **error)
{
    g_autofree char *ovmf_vars = g_build_filename(dm->runtime_dir, "OVMF_VARS.fd", NULL);
    OrielQemuArgvContext context = {
        .qemu_binary = binary,
        .accel = accel,
        .runtime_dir = dm->runtime_dir,
        .spice_port = dm->spice_port,
        .qmp_fd = qmp_fd,
        .serial_fd = serial_fd,
        .ovmf_code = ovmf_code_path(),
        .ovmf_vars = ovmf_vars,
        .spice_password_file = dm->spice_password ? dm->password_path : NULL,
        .spice_x509_dir = dm->spice_x509_dir,
    };
    return oriel_qemu_argv_build(dm->config, &context, error);
}

/* spice-server reads these names from its x509 directory. */
static gboolean
find_spice_certificates(OrielDmProcess *dm, GError **error)
{
    static const char *const names[] = { "ca-cert.pem", "server-cert.pem", "server-key.pem" };
    const char *forced = dm->spice_x509_dir_forced ? dm->spice_x509_dir_forced : g_getenv("ORIEL_SPICE_X509_DIR");
    g_autofree char *config_dir = oriel_paths_config_dir(oriel_mode_default());
    g_autofree char *dir = forced ? g_strdup(forced) : g_build_filename(config_dir, "pki", "spice", NULL);

    for (gsize i = 0; i < G_N_ELEMENTS(names); i++) {
        g_autofree char *path = g_build_filename(dir, names[i], NULL);
        if (!g_file_test(path, G_FILE_TEST_IS_REGULAR)) {
            g_set_error(error, ORIEL_DEVMODEL_ERROR, ORIEL_DEVMODEL_ERROR_NOT_FOUND,
                        "spicetls_port: %s is missing (TLS needs ca-cert.pem, server-cert.pem and "
                        "server-key.pem in %s)", path, dir);
            return FALSE;
        }
    }
    dm->spice_x509_dir = g_steal_pointer(&dir);
    return TRUE;
}

/* Port and ticket: decided before the argv is built. */
static gboolean
choose_spice_endpoint(OrielDmProcess *dm, GError **error)
{
    OrielSpiceConfig *spice = &dm->config->spice;

    if (!spice->enabled)
        return TRUE;
    g_autoptr(GInetAddress) address = resolve_host(spice->host, error);
    if (!address || !choose_spice_port(dm->config, address, &dm->spice_port, error))
        return FALSE;
    dm->spice_host = g_strdup(spice->host);
    if (spice->tls_port && !find_spice_certificates(dm, error))
        return FALSE;
    if (!spice->disable_ticketing) {
        dm->spice_password = spice->password ? g_strdup(spice->password) : generate_ticket(error);
        if (!dm->spice_password)
            return FALSE;
    }
    return TRUE;
}

/*
 * The private runtime dir with the ticket file and the firmware vars.  With
 * a QEMU user the dir stays ours and QEMU may only enter it (group x): it
 * reads the ticket (group r) and writes its own firmware vars, and creates
 * nothing there (its sockets come as fds), so it cannot touch the pidfile
 * or the runtime record next to them.
 */
static gboolean
create_runtime_files(OrielDmProcess *dm, GError **error)
{
    if (g_mkdir_with_parents(dm->runtime_dir, 0700) < 0) {
        g_set_error(error, ORIEL_DEVMODEL_ERROR, ORIEL_DEVMODEL_ERROR_FAILED,
                    "cannot create %s: %s", dm->runtime_dir, g_strerror(errno));
        return FALSE;
    }
    if (dm->user && chown(dm->runtime_dir, (uid_t)-1, oriel_dm_user_get_gid(dm->user)) < 0) {
        g_set_error(error, ORIEL_DEVMODEL_ERROR, ORIEL_DEVMODEL_ERROR_FAILED,
                    "cannot give %s to the group of user '%s': %s", dm->runtime_dir,
                    oriel_dm_user_get_name(dm->user), g_strerror(errno));
        return FALSE;
    }
    if (g_chmod(dm->runtime_dir, dm->user ? 0710 : 0700) < 0) {
        g_set_error(error, ORIEL_DEVMODEL_ERROR, ORIEL_DEVMODEL_ERROR_FAILED,
                    "cannot make %s private: %s", dm->runtime_dir, g_strerror(errno));
        return FALSE;
    }
    if (dm->spice_password) {
        /* Created 0600 before a byte of the ticket goes in. */
        int fd = g_open(dm->password_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
        gsize length = strlen(dm->spice_password);
        gboolean shared = !dm->user || (fchown(fd, (uid_t)-1, oriel_dm_user_get_gid(dm->user)) == 0 &&
                                        fchmod(fd, 0640) == 0);
        gboolean written = fd >= 0 && shared && write(fd, dm->spice_password, length) == (gssize)length;
        if (fd >= 0)
            close(fd);
        if (!written) {
            g_set_error(error, ORIEL_DEVMODEL_ERROR, ORIEL_DEVMODEL_ERROR_FAILED,
                        "cannot write the SPICE ticket to %s: %s", dm->password_path, g_strerror(errno));
            return FALSE;
        }
    }
    if (dm->config->firmware == ORIEL_FIRMWARE_OVMF) {
        g_autofree char *vars = g_build_filename(dm->runtime_dir, "OVMF_VARS.fd", NULL);
        g_autofree char *contents = NULL;
        gsize length = 0;
        if (!g_file_get_contents(ovmf_vars_template(), &contents, &length, error) ||
            !g_file_set_contents_full(vars, contents, length, G_FILE_SET_CONTENTS_CONSISTENT, 0600, error)) {
            g_prefix_error(error, "firmware: ");
            return FALSE;
        }
        if (dm->user && chown(vars, oriel_dm_user_get_uid(dm->user), oriel_dm_user_get_gid(dm->user)) < 0) {
            g_set_error(error, ORIEL_DEVMODEL_ERROR, ORIEL_DEVMODEL_ERROR_FAILED,
                        "firmware: cannot give %s to user '%s': %s", vars, oriel_dm_user_get_name(dm->user),
                        g_strerror(errno));
            return FALSE;
        }
    }
    return TRUE;
}

/* A listening Unix socket at @path (QMP, serial), for QEMU to inherit. */
static int
listen_socket(const char *path, GError **error)
{
    struct sockaddr_un address = { .sun_family = AF_UNIX };

    if (strlen(path) >= sizeof(address.sun_path)) {
        g_set_error(error, ORIEL_DEVMODEL_ERROR, ORIEL_DEVMODEL_ERROR_FAILED,
                    "the socket path %s is longer than a Unix socket allows", path);
        return -1;
    }
    strcpy(address.sun_path, path);
    g_unlink(path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&address, sizeof(address)) < 0 || listen(fd, 1) < 0) {
        g_set_error(error, ORIEL_DEVMODEL_ERROR, ORIEL_DEVMODEL_ERROR_FAILED,
                    "cannot listen on %s: %s", path, g_strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

GStrv
oriel_dm_plan_argv(const OrielDomainConfig *config, const char *runtime_dir, GError **error)
{
    g_autoptr(OrielDmProcess) dm = oriel_dm_process_new(config, runtime_dir);
    g_autofree char *reason = NULL;

    if (!choose_spice_endpoint(dm, error))
        return NULL;
    return build_argv(dm, qemu_binary(NULL), oriel_accel_probe(&reason), -1, -1, error);
}

/* ---- start ----------------------------------------------------------- */

typedef struct {
    gboolean die_with_parent;
    const OrielDmUser *user;
} ChildSetup;

/* Between fork and exec: async-signal-safe calls only. */
static void
child_setup(gpointer user_data)
{
    const ChildSetup *setup = user_data;

    /* Its own session: a terminal's Ctrl-C goes to orielctl, which powers
     * the guest down, and QEMU outlives a daemon restart. */
    setsid();
    if (setup->user && oriel_dm_user_drop(setup->user) < 0) {
        static const char message[] = "oriel: cannot switch to the QEMU user; QEMU does not run as root\n";
        if (write(STDERR_FILENO, message, sizeof(message) - 1) < 0)
            _exit(127);
        _exit(127);
    }
    /* After the drop: a change of credentials clears the death signal. */
    if (setup->die_with_parent)
        prctl(PR_SET_PDEATHSIG, SIGTERM);
}

static void
add_access(GArray *paths, GPtrArray *owned, const char *path, int mode, char *what)
{
    OrielDmUserAccess access = { .path = path, .mode = mode, .what = what };

    g_ptr_array_add(owned, what);
    g_array_append_val(paths, access);
}

/* Everything QEMU opens by path after the drop, checked as its user first,
 * so a file it cannot open is a clear error here rather than a QEMU exit. */
static gboolean
check_user_access(OrielDmProcess *dm, GError **error)
{
    static const char *const x509_names[] = { "ca-cert.pem", "server-cert.pem", "server-key.pem" };
    const OrielDomainConfig *config = dm->config;
    g_autoptr(GArray) paths = g_array_new(FALSE, FALSE, sizeof(OrielDmUserAccess));
    g_autoptr(GPtrArray) owned = g_ptr_array_new_with_free_func(g_free);
    g_autofree char *vars = g_build_filename(dm->runtime_dir, "OVMF_VARS.fd", NULL);

    if (!dm->user)
        return TRUE;
    add_access(paths, owned, dm->runtime_dir, X_OK, g_strdup("the runtime dir"));
    if (dm->spice_password)
        add_access(paths, owned, dm->password_path, R_OK, g_strdup("the SPICE ticket"));
    if (dm->accel == ORIEL_ACCEL_KVM)
        add_access(paths, owned, "/dev/kvm", R_OK | W_OK, g_strdup("KVM"));
    if (config->firmware == ORIEL_FIRMWARE_OVMF) {
        add_access(paths, owned, ovmf_code_path(), R_OK, g_strdup("firmware"));
        add_access(paths, owned, vars, R_OK | W_OK, g_strdup("firmware"));
    }
    if (config->kernel)
        add_access(paths, owned, config->kernel, R_OK, g_strdup("kernel"));
    if (config->ramdisk)
        add_access(paths, owned, config->ramdisk, R_OK, g_strdup("ramdisk"));
    for (guint i = 0; i < config->disks->len; i++) {
        const OrielDiskConfig *disk = g_ptr_array_index(config->disks, i);
        if (disk->target)
            add_access(paths, owned, disk->target, R_OK | (disk->read_only || disk->cdrom ? 0 : W_OK),
                       g_strdup_printf("disk %s", disk->vdev));
    }
    if (config->spice.enabled && config->spice.tls_port && dm->spice_x509_dir) {
        for (gsize i = 0; i < G_N_ELEMENTS(x509_names); i++) {
            char *path = g_build_filename(dm->spice_x509_dir, x509_names[i], NULL);
            g_ptr_array_add(owned, path);
            add_access(paths, owned, path, R_OK, g_strdup("spicetls_port"));
        }
    }
    return oriel_dm_user_check_access(dm->user, (const OrielDmUserAccess *)(void *)paths->data, paths->len, error);
}

/*
 * QEMU gets a small, known environment, as libvirt gives it: nothing of the
 * caller's G_DEBUG (fatal-warnings would turn spice-server's warning about a
 * wrong ticket into a crash), G_MESSAGES_DEBUG, LD_* or locale.
 * PULSE_SERVER stays: with audio_backend = "pa" QEMU plays on the
 * PulseAudio its caller names.
 */
static GStrv
qemu_environment(void)
{
    static const char *const kept[] = { "PATH", "HOME", "USER", "LOGNAME", "TMPDIR", "XDG_RUNTIME_DIR",
                                        "PULSE_SERVER" };
    g_autoptr(GStrvBuilder) builder = g_strv_builder_new();

    for (gsize i = 0; i < G_N_ELEMENTS(kept); i++) {
        const char *value = g_getenv(kept[i]);
        if (value) {
            g_autofree char *variable = g_strdup_printf("%s=%s", kept[i], value);
            g_strv_builder_add(builder, variable);
        }
    }
    g_strv_builder_add(builder, "LC_ALL=C");
    return g_strv_builder_end(builder);
}

static char *
last_log_line(OrielDmProcess *dm)
{
    g_autofree char *contents = NULL;

    if (!g_file_get_contents(dm->log_path, &contents, NULL, NULL))
        return NULL;
    g_strchomp(contents);
    char *line = strrchr(contents, '\n');
    line = line ? line + 1 : contents;
    /* QEMU prefixes its messages with a timestamp (-msg timestamp=on). */
    char *message = strstr(line, ": ");
    if (message && g_ascii_isdigit(line[0]))
        line = message + 2;
    return *line ? g_strdup(line) : NULL;
}

static char *
describe_wait_status(int status)
{
    if (WIFEXITED(status))
        return g_strdup_printf("exit status %d", WEXITSTATUS(status));
    if (WIFSIGNALED(status))
        return g_strdup_printf("signal %s", g_strsignal(WTERMSIG(status)));
    return g_strdup_printf("wait status %d", status);
}

static void
fail_start(OrielDmProcess *dm, GError *error)
{
    g_autoptr(GTask) task = g_steal_pointer(&dm->start_task);

    g_clear_handle_id(&dm->start_timeout_id, g_source_remove);
    if (!dm->exited && dm->pid > 0)
        kill(dm->pid, SIGKILL);
    if (dm->qmp) {
        g_signal_handler_disconnect(dm->qmp, dm->qmp_event_handler);
        oriel_qmp_client_close(dm->qmp);
        g_clear_object(&dm->qmp);
    }
    /* A SIGKILLed QEMU touches none of them again. */
    remove_runtime_files(dm);
    g_task_return_error(task, error);
}

static OrielDmEnd
classify_end(OrielDmProcess *dm)
{
    const char *reason = dm->last_shutdown_reason;

    if (reason) {
        if (g_str_equal(reason, "guest-shutdown"))
            return ORIEL_DM_END_POWEROFF;
        if (g_str_equal(reason, "guest-reset"))
            return ORIEL_DM_END_REBOOT;
        if (g_str_equal(reason, "guest-panic"))
            return ORIEL_DM_END_CRASH;
        return ORIEL_DM_END_QUIT;
    }
    if (dm->attached)
        return ORIEL_DM_END_DIED; /* no wait status for a process that is not our child */
    if (WIFEXITED(dm->wait_status) && WEXITSTATUS(dm->wait_status) == 0)
        return ORIEL_DM_END_QUIT;
    return ORIEL_DM_END_DIED;
}

static void
on_wait(GObject *source, GAsyncResult *result, gpointer user_data)
{
    OrielDmProcess *dm = user_data;
    g_autoptr(GError) error = NULL;

    if (!g_subprocess_wait_finish(G_SUBPROCESS(source), result, &error)) {
        if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
            return; /* dm is being freed */
    }
    dm->exited = TRUE;
    dm->wait_status = g_subprocess_get_status(dm->subprocess);
    g_debug("QEMU %d ended: %d", (int)dm->pid, dm->wait_status);

    if (dm->start_task) {
        g_autofree char *status = describe_wait_status(dm->wait_status);
        g_autofree char *line = last_log_line(dm);
        GError *start_error = g_error_new(ORIEL_DEVMODEL_ERROR, ORIEL_DEVMODEL_ERROR_FAILED,
                                          "QEMU exited during start-up (%s)%s%s", status,
                                          line ? ": " : "", line ? line : "");
        fail_start(dm, start_error);
        return;
    }
    if (!dm->started)
        return; /* a failed start, already cleaned up */
    remove_runtime_files(dm);
    if (dm->exit_func)
        dm->exit_func(dm, classify_end(dm), dm->wait_status, dm->exit_data);
}

static void
on_qmp_event(OrielQmpClient *client, const char *name, JsonObject *data, gint64 timestamp_us,
             gpointer user_data)
{
    OrielDmProcess *dm = user_data;

    if (g_str_equal(name, "SHUTDOWN") && data && json_object_has_member(data, "reason")) {
        g_free(dm->last_shutdown_reason);
        dm->last_shutdown_reason = g_strdup(json_object_get_string_member_with_default(data, "reason", ""));
    }
}

/* QMP failed during start: QEMU is most likely exiting; its exit status and
 * log line explain more than the QMP error, so wait a moment for them. */
static gboolean
on_exit_grace_timeout(gpointer user_data)
{
    OrielDmProcess *dm = user_data;

    dm->start_timeout_id = 0;
    if (dm->start_task)
        fail_start(dm, g_steal_pointer(&dm->start_qmp_error));
    return G_SOURCE_REMOVE;
}

static void
start_qmp_failed(OrielDmProcess *dm, GError *error)
{
    if (!dm->start_task) {
        g_error_free(error);
        return;
    }
    g_clear_error(&dm->start_qmp_error);
    dm->start_qmp_error = error;
    g_clear_handle_id(&dm->start_timeout_id, g_source_remove);
    dm->start_timeout_id = g_timeout_add(EXIT_GRACE_MS, on_exit_grace_timeout, dm);
}

static void
start_succeeded(OrielDmProcess *dm)
{
    g_autoptr(GTask) task = g_steal_pointer(&dm->start_task);

    g_clear_handle_id(&dm->start_timeout_id, g_source_remove);
    g_clear_error(&dm->start_qmp_error);
    dm->started = TRUE;
    g_task_return_boolean(task, TRUE);
}

static void
on_query_spice(GObject *source, GAsyncResult *result, gpointer user_data)
{
    OrielDmProcess *dm = user_data;
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) reply = oriel_qmp_client_execute_finish(ORIEL_QMP_CLIENT(source), result, &error);

    if (!dm->start_task)
        return;
    if (!reply) {
        start_qmp_failed(dm, g_steal_pointer(&error));
        return;
    }
    JsonObject *spice = JSON_NODE_HOLDS_OBJECT(reply) ? json_node_get_object(reply) : NULL;
    if (!spice || !json_object_get_boolean_member_with_default(spice, "enabled", FALSE) ||
        (guint)json_object_get_int_member_with_default(spice, "port", 0) != dm->spice_port) {
        fail_start(dm, g_error_new(ORIEL_DEVMODEL_ERROR, ORIEL_DEVMODEL_ERROR_FAILED,
                                   "QEMU started but SPICE is not listening on port %u", dm->spice_port));
        return;
    }
    start_succeeded(dm);
}

static void
on_handshake(GObject *source, GAsyncResult *result, gpointer user_data)
{
    OrielDmProcess *dm = user_data;
    g_autoptr(GError) error = NULL;

    if (!oriel_qmp_client_handshake_finish(ORIEL_QMP_CLIENT(source), result, &error)) {
        start_qmp_failed(dm, g_steal_pointer(&error));
        return;
    }
    if (!dm->start_task)
        return;
    if (!dm->config->spice.enabled) {
        start_succeeded(dm);
        return;
    }
    oriel_qmp_client_execute_async(dm->qmp, "query-spice", NULL, QUERY_TIMEOUT_MS, dm->cancellable,
                                   on_query_spice, dm);
}

static void
on_qmp_connected(GObject *source, GAsyncResult *result, gpointer user_data)
{
    OrielDmProcess *dm = user_data;
    g_autoptr(GError) error = NULL;
    g_autoptr(GSocketConnection) connection =
        g_socket_client_connect_finish(G_SOCKET_CLIENT(source), result, &error);

    if (!connection) {
        if (!g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
            start_qmp_failed(dm, g_steal_pointer(&error));
        return;
    }
    dm->qmp = oriel_qmp_client_new(G_IO_STREAM(connection));
    dm->qmp_event_handler = g_signal_connect(dm->qmp, "event", G_CALLBACK(on_qmp_event), dm);
    oriel_qmp_client_handshake_async(dm->qmp, dm->cancellable, on_handshake, dm);
}

static gboolean
on_start_timeout(gpointer user_data)
{
    OrielDmProcess *dm = user_data;

    dm->start_timeout_id = 0;
    if (dm->start_task)
        fail_start(dm, g_error_new(ORIEL_DEVMODEL_ERROR, ORIEL_DEVMODEL_ERROR_FAILED,
                                   "QEMU did not answer on QMP within %d s", START_TIMEOUT_MS / 1000));
    return G_SOURCE_REMOVE;
}

static gboolean
check_not_running(OrielDmProcess *dm, GError **error)
{
    g_autofree char *contents = NULL;

    if (!g_file_get_contents(dm->pid_path, &contents, NULL, NULL))
        return TRUE;
    gint64 pid = g_ascii_strtoll(contents, NULL, 10);
    if (pid > 0 && kill((pid_t)pid, 0) == 0) {
        g_autofree char *cmdline_path = g_strdup_printf("/proc/%" G_GINT64_FORMAT "/cmdline", pid);
        g_autofree char *cmdline = NULL;
        gsize length = 0;
        if (g_file_get_contents(cmdline_path, &cmdline, &length, NULL) && length > 0 &&
            strstr(cmdline, "qemu") != NULL) {
            g_set_error(error, ORIEL_DEVMODEL_ERROR, ORIEL_DEVMODEL_ERROR_FAILED,
                        "domain %s is already running (QEMU pid %" G_GINT64_FORMAT ")",
                        dm->config->name, pid);
            return FALSE;
        }
    }
    return TRUE;
}

void
oriel_dm_process_start_async(OrielDmProcess *dm, const OrielDmStartOptions *options,
                             GCancellable *cancellable, GAsyncReadyCallback callback, gpointer user_data)
{
    g_autoptr(GTask) task = g_task_new(NULL, cancellable, callback, user_data);
    g_autoptr(GError) error = NULL;
    g_autofree char *reason = NULL;
    int qmp_fd = -1;
    int serial_fd = -1;
    gboolean serial_unix = g_str_equal(dm->config->serial, "unix");

    g_task_set_source_tag(task, oriel_dm_process_start_async);
    g_return_if_fail(dm->start_task == NULL && dm->subprocess == NULL);

    if (!check_not_running(dm, &error) || !oriel_domain_config_check_files(dm->config, &error)) {
        g_task_return_error(task, g_steal_pointer(&error));
        return;
    }
    dm->accel = oriel_accel_probe(&reason);
    g_auto(GStrv) argv = NULL;
    if (!choose_spice_endpoint(dm, &error) ||
        !(argv = build_argv(dm, qemu_binary(options), dm->accel, QMP_CHILD_FD, serial_unix ? SERIAL_CHILD_FD : -1,
                            &error))) {
        g_task_return_error(task, g_steal_pointer(&error));
        return;
    }
    /* The sockets are ours, listening before QEMU runs: QEMU (maybe as its
     * unprivileged user) only accepts on them. */
    if (!create_runtime_files(dm, &error) || (qmp_fd = listen_socket(dm->qmp_path, &error)) < 0 ||
        (serial_unix && (serial_fd = listen_socket(dm->serial_path, &error)) < 0) ||
        !check_user_access(dm, &error)) {
        if (qmp_fd >= 0)
            close(qmp_fd);
        if (serial_fd >= 0)
            close(serial_fd);
        remove_runtime_files(dm);
        g_task_return_error(task, g_steal_pointer(&error));
        return;
    }
    g_debug("starting %s", reason);

    g_autoptr(GSubprocessLauncher) launcher = g_subprocess_launcher_new(G_SUBPROCESS_FLAGS_STDIN_PIPE);
    g_auto(GStrv) environment = qemu_environment();
    g_subprocess_launcher_set_environ(launcher, environment);
    g_subprocess_launcher_set_stderr_file_path(launcher, dm->log_path);
    g_subprocess_launcher_set_stdout_file_path(launcher, dm->log_path);
    g_subprocess_launcher_take_fd(launcher, qmp_fd, QMP_CHILD_FD);
    if (serial_fd >= 0)
        g_subprocess_launcher_take_fd(launcher, serial_fd, SERIAL_CHILD_FD);
    ChildSetup setup = { .die_with_parent = options && options->die_with_parent, .user = dm->user };
    g_subprocess_launcher_set_child_setup(launcher, child_setup, &setup, NULL);
    dm->subprocess = g_subprocess_launcher_spawnv(launcher, (const char *const *)argv, &error);
    g_clear_object(&launcher); /* closes our copies of the listening sockets */
    if (!dm->subprocess) {
        remove_runtime_files(dm);
        g_prefix_error(&error, "cannot start QEMU: ");
        g_task_return_error(task, g_steal_pointer(&error));
        return;
    }
    dm->pid = (GPid)g_ascii_strtoll(g_subprocess_get_identifier(dm->subprocess), NULL, 10);
    g_autofree char *pid_text = g_strdup_printf("%d\n", (int)dm->pid);
    if (!g_file_set_contents_full(dm->pid_path, pid_text, -1, G_FILE_SET_CONTENTS_CONSISTENT, 0600, &error)) {
        g_debug("cannot write the pidfile: %s", error->message);
        g_clear_error(&error);
    }

    dm->start_task = g_steal_pointer(&task);
    dm->start_timeout_id = g_timeout_add(START_TIMEOUT_MS, on_start_timeout, dm);
    g_subprocess_wait_async(dm->subprocess, dm->cancellable, on_wait, dm);

    /* QEMU holds the listening socket: this connect completes from the
     * backlog at once, and the greeting comes when QEMU's loop runs. */
    g_autoptr(GSocketClient) client = g_socket_client_new();
    g_autoptr(GSocketAddress) address = g_unix_socket_address_new(dm->qmp_path);
    g_socket_client_connect_async(client, G_SOCKET_CONNECTABLE(address), dm->cancellable,
                                  on_qmp_connected, dm);
}

gboolean
oriel_dm_process_start_finish(OrielDmProcess *dm, GAsyncResult *result, GError **error)
{
    return g_task_propagate_boolean(G_TASK(result), error);
}

/* ---- running --------------------------------------------------------- */

OrielQmpClient *
oriel_dm_process_get_qmp(OrielDmProcess *dm)
{
    return dm->qmp;
}

OrielAccel
oriel_dm_process_get_accel(OrielDmProcess *dm)
{
    return dm->accel;
}

GPid
oriel_dm_process_get_pid(OrielDmProcess *dm)
{
    return dm->pid;
}

guint
oriel_dm_process_get_spice_port(OrielDmProcess *dm)
{
    return dm->spice_port;
}

const char *
oriel_dm_process_get_spice_host(OrielDmProcess *dm)
{
    return dm->spice_host;
}

const char *
oriel_dm_process_get_spice_password(OrielDmProcess *dm)
{
    return dm->spice_password;
}

char *
oriel_dm_process_get_spice_uri(OrielDmProcess *dm)
{
    if (!dm->spice_host)
        return NULL;
    if (strchr(dm->spice_host, ':'))
        return g_strdup_printf("spice://[%s]:%u", dm->spice_host, dm->spice_port);
    return g_strdup_printf("spice://%s:%u", dm->spice_host, dm->spice_port);
}

const char *
oriel_dm_process_get_runtime_dir(OrielDmProcess *dm)
{
    return dm->runtime_dir;
}

const char *
oriel_dm_process_get_qemu_version(OrielDmProcess *dm)
{
    return dm->qmp ? oriel_qmp_client_get_qemu_version(dm->qmp) : NULL;
}

static void
on_command_done(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) reply = oriel_qmp_client_execute_finish(ORIEL_QMP_CLIENT(source), result, &error);

    /* QEMU closing the connection is the expected answer to quit. */
    if (!reply && !g_error_matches(error, ORIEL_QMP_ERROR, ORIEL_QMP_ERROR_DISCONNECTED) &&
        !g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        g_debug("%s failed: %s", (const char *)user_data, error->message);
}

void
oriel_dm_process_powerdown(OrielDmProcess *dm)
{
    if (dm->qmp && !dm->exited)
        oriel_qmp_client_execute_async(dm->qmp, "system_powerdown", NULL, QUERY_TIMEOUT_MS,
                                       dm->cancellable, on_command_done, (gpointer) "system_powerdown");
}

void
oriel_dm_process_quit(OrielDmProcess *dm)
{
    if (dm->exited)
        return;
    if (dm->qmp && !oriel_qmp_client_is_closed(dm->qmp))
        oriel_qmp_client_execute_async(dm->qmp, "quit", NULL, QUERY_TIMEOUT_MS, dm->cancellable,
                                       on_command_done, (gpointer) "quit");
    else
        oriel_dm_process_kill(dm);
}

void
oriel_dm_process_kill(OrielDmProcess *dm)
{
    if (!dm->exited && dm->pid > 0)
        kill(dm->pid, SIGKILL);
}

/* ---- attach: a QEMU that outlived the process that started it ----------- */

static gboolean
cmdline_names_guest(const char *cmdline, gsize length, const char *name)
{
    g_autofree char *exact = g_strdup_printf("guest=%s", name);
    g_autofree char *prefix = g_strdup_printf("guest=%s,", name);
    gboolean after_name = FALSE;

    for (gsize i = 0; i < length; i += strlen(cmdline + i) + 1) {
        const char *arg = cmdline + i;
        if (after_name && (g_str_equal(arg, exact) || g_str_has_prefix(arg, prefix)))
            return TRUE;
        after_name = g_str_equal(arg, "-name");
    }
    return FALSE;
}

void
oriel_dm_process_clean_runtime_dir(OrielDmProcess *dm)
{
    g_return_if_fail(!dm->started || dm->exited);
    remove_runtime_files(dm);
}

gboolean
oriel_dm_process_is_running(const char *runtime_dir, const char *name, GPid *ret_pid)
{
    g_autofree char *pid_path = g_build_filename(runtime_dir, "qemu.pid", NULL);
    g_autofree char *contents = NULL;
    g_autofree char *cmdline = NULL;
    gsize length = 0;

    if (!g_file_get_contents(pid_path, &contents, NULL, NULL))
        return FALSE;
    gint64 pid = g_ascii_strtoll(contents, NULL, 10);
    if (pid <= 1 || pid > G_MAXINT)
        return FALSE;
    g_autofree char *cmdline_path = g_strdup_printf("/proc/%" G_GINT64_FORMAT "/cmdline", pid);
    /* A zombie has an empty cmdline: it is not running. */
    if (!g_file_get_contents(cmdline_path, &cmdline, &length, NULL) || length == 0 ||
        cmdline[length - 1] != '\0' || !cmdline_names_guest(cmdline, length, name))
        return FALSE;
    if (ret_pid)
        *ret_pid = (GPid)pid;
    return TRUE;
}

static void
finish_attach(OrielDmProcess *dm, GError *error)
{
    g_autoptr(GTask) task = g_steal_pointer(&dm->attach_task);

    if (!task) {
        g_clear_error(&error);
        return;
    }
    g_clear_handle_id(&dm->attach_timeout_id, g_source_remove);
    if (error) {
        if (dm->qmp) {
            g_signal_handler_disconnect(dm->qmp, dm->qmp_event_handler);
            oriel_qmp_client_close(dm->qmp);
            g_clear_object(&dm->qmp);
        }
        g_clear_handle_id(&dm->pidfd_source_id, g_source_remove);
        if (dm->pidfd >= 0)
            close(dm->pidfd);
        dm->pidfd = -1;
        dm->pid = 0;
        g_task_return_error(task, error);
        return;
    }
    dm->started = TRUE;
    g_task_return_boolean(task, TRUE);
}

static gboolean
on_pidfd_ready(int fd, GIOCondition condition, gpointer user_data)
{
    OrielDmProcess *dm = user_data;

    dm->pidfd_source_id = 0;
    close(dm->pidfd);
    dm->pidfd = -1;
    dm->exited = TRUE;
    dm->wait_status = 0;
    g_debug("QEMU %d (attached) ended", (int)dm->pid);
    if (dm->attach_task) {
        finish_attach(dm, g_error_new(ORIEL_DEVMODEL_ERROR, ORIEL_DEVMODEL_ERROR_FAILED,
                                      "QEMU of domain %s exited while reattaching", dm->config->name));
        return G_SOURCE_REMOVE;
    }
    remove_runtime_files(dm);
    if (dm->exit_func)
        dm->exit_func(dm, classify_end(dm), dm->wait_status, dm->exit_data);
    return G_SOURCE_REMOVE;
}

static gboolean
on_attach_timeout(gpointer user_data)
{
    OrielDmProcess *dm = user_data;

    dm->attach_timeout_id = 0;
    finish_attach(dm, g_error_new(ORIEL_DEVMODEL_ERROR, ORIEL_DEVMODEL_ERROR_FAILED,
                                  "QEMU of domain %s did not answer on QMP within %d s", dm->config->name,
                                  QUERY_TIMEOUT_MS / 1000));
    return G_SOURCE_REMOVE;
}

static void
on_attach_query_spice(GObject *source, GAsyncResult *result, gpointer user_data)
{
    OrielDmProcess *dm = user_data;
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) reply = oriel_qmp_client_execute_finish(ORIEL_QMP_CLIENT(source), result, &error);

    if (!dm->attach_task)
        return;
    if (!reply) {
        finish_attach(dm, g_steal_pointer(&error));
        return;
    }
    JsonObject *spice = JSON_NODE_HOLDS_OBJECT(reply) ? json_node_get_object(reply) : NULL;
    if (spice && json_object_get_boolean_member_with_default(spice, "enabled", FALSE)) {
        gint64 port = json_object_get_int_member_with_default(spice, "port", 0);
        dm->spice_port = port > 0 && port <= 65535 ? (guint)port : 0;
        dm->spice_host = g_strdup(dm->config->spice.host);
        g_autofree char *ticket = NULL;
        if (g_file_get_contents(dm->password_path, &ticket, NULL, NULL))
            dm->spice_password = g_steal_pointer(&ticket);
    }
    finish_attach(dm, NULL);
}

static void
on_attach_handshake(GObject *source, GAsyncResult *result, gpointer user_data)
{
    OrielDmProcess *dm = user_data;
    g_autoptr(GError) error = NULL;

    if (!oriel_qmp_client_handshake_finish(ORIEL_QMP_CLIENT(source), result, &error)) {
        if (!g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
            finish_attach(dm, g_steal_pointer(&error));
        return;
    }
    if (!dm->config->spice.enabled) {
        finish_attach(dm, NULL);
        return;
    }
    oriel_qmp_client_execute_async(dm->qmp, "query-spice", NULL, QUERY_TIMEOUT_MS, dm->cancellable,
                                   on_attach_query_spice, dm);
}

static void
on_attach_connected(GObject *source, GAsyncResult *result, gpointer user_data)
{
    OrielDmProcess *dm = user_data;
    g_autoptr(GError) error = NULL;
    g_autoptr(GSocketConnection) connection =
        g_socket_client_connect_finish(G_SOCKET_CLIENT(source), result, &error);

    if (!connection) {
        if (!g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED)) {
            g_prefix_error(&error, "cannot reconnect to the QMP socket of %s: ", dm->config->name);
            finish_attach(dm, g_steal_pointer(&error));
        }
        return;
    }
    dm->qmp = oriel_qmp_client_new(G_IO_STREAM(connection));
    dm->qmp_event_handler = g_signal_connect(dm->qmp, "event", G_CALLBACK(on_qmp_event), dm);
    oriel_qmp_client_handshake_async(dm->qmp, dm->cancellable, on_attach_handshake, dm);
}

void
oriel_dm_process_attach_async(OrielDmProcess *dm, GCancellable *cancellable, GAsyncReadyCallback callback,
                              gpointer user_data)
{
    g_autoptr(GTask) task = g_task_new(NULL, cancellable, callback, user_data);
    GPid pid = 0;

    g_task_set_source_tag(task, oriel_dm_process_attach_async);
    g_return_if_fail(dm->start_task == NULL && dm->subprocess == NULL && dm->attach_task == NULL &&
                     !dm->started);

    if (!oriel_dm_process_is_running(dm->runtime_dir, dm->config->name, &pid)) {
        g_task_return_new_error(task, ORIEL_DEVMODEL_ERROR, ORIEL_DEVMODEL_ERROR_NOT_FOUND,
                                "no running QEMU of domain %s in %s", dm->config->name, dm->runtime_dir);
        return;
    }
    int pidfd = (int)syscall(SYS_pidfd_open, (pid_t)pid, 0);
    if (pidfd < 0) {
        g_task_return_new_error(task, ORIEL_DEVMODEL_ERROR, ORIEL_DEVMODEL_ERROR_FAILED,
                                "cannot watch QEMU pid %d: %s", (int)pid, g_strerror(errno));
        return;
    }
    dm->attached = TRUE;
    dm->pid = pid;
    dm->pidfd = pidfd;
    dm->pidfd_source_id = g_unix_fd_add(pidfd, G_IO_IN, on_pidfd_ready, dm);
    dm->attach_task = g_steal_pointer(&task);
    dm->attach_timeout_id = g_timeout_add(QUERY_TIMEOUT_MS, on_attach_timeout, dm);

    g_autoptr(GSocketClient) client = g_socket_client_new();
    g_autoptr(GSocketAddress) address = g_unix_socket_address_new(dm->qmp_path);
    g_socket_client_connect_async(client, G_SOCKET_CONNECTABLE(address), dm->cancellable,
                                  on_attach_connected, dm);
}

gboolean
oriel_dm_process_attach_finish(OrielDmProcess *dm, GAsyncResult *result, GError **error)
{
    return g_task_propagate_boolean(G_TASK(result), error);
}
