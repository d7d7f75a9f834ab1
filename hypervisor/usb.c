/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Host-side USB disks (usb.h): domain-usb-attach, -list and -detach.
 *
 * An attachment lives through these states:
 *   attaching  helper spawned, chardev-add and device_add in flight
 *   attached   the guest sees the disk
 *   detaching  device_del sent, waiting for DEVICE_DELETED, then
 *              chardev-remove and the helper's exit
 *   failed     the helper died; it is restarted once on the same socket
 *              (the chardev reconnects by itself), then left failed; or a
 *              re-plug failed.  The reason is in usb-list.
 * When orield replaces the domain's QEMU (a "restart" policy), the
 * attachments stay, like a USB stick in a rebooting PC: their helpers keep
 * running (and keep the image locked), and once the new QEMU's QMP is up
 * each is plugged into it again (attaching, then attached) on its port.
 * Each attachment is reference counted: QMP replies, timers and process
 * watches hold a reference, and an attachment whose domain let go of it
 * (domain == NULL) ignores whatever still arrives.
 */
#include "usb.h"

#include <errno.h>
#include <fcntl.h>
#include <glib-unix.h>
#include <glib/gstdio.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "qemu-argv.h"

#define USB_QMP_TIMEOUT_MS (30 * 1000)
#define USB_DELETE_TIMEOUT_S 15     /* device_del to DEVICE_DELETED */
#define USB_HELPER_STOP_TIMEOUT_S 5 /* SIGTERM to exit, then SIGKILL */
#define USB_DISK_PATH_MAX 4000
#define USB_RECORD_MAX (64 * 1024)
#define USB_HELPER_FD 3       /* the listening socket */
#define USB_HELPER_IMAGE_FD 4 /* the image, opened by orield */

typedef enum {
    USB_ATTACHING,
    USB_ATTACHED,
    USB_DETACHING,
    USB_FAILED,
} UsbState;

typedef struct {
    gint refs;
    OrielHvDomain *domain; /* NULL once the domain let go of it */
    guint index;           /* usbN */
    char *id;              /* "usbN" */
    char *qemu_id;         /* "oriel-usbN": the chardev's and the device's */
    char *disk;
    dev_t disk_dev;
    ino_t disk_ino;
    gboolean read_only;
    OrielHvUsbSpeed speed;
    guint port;
    char *socket_path;
    char *log_path;
    UsbState state;
    gboolean restarted;
    gboolean replugging;    /* attaching again into a restarted QEMU */
    char *failure;          /* why it is failed, or NULL */

    GPid pid;               /* the helper, 0 when none */
    guint64 pid_start;      /* /proc/PID/stat starttime, against PID reuse */
    gboolean pid_is_child;  /* spawned by this daemon: reaped by a child watch */
    guint watch_id;         /* child watch or pidfd source */
    int pidfd;
    gboolean helper_stopping;

    OrielHvCall *call;      /* the pending attach or detach */
    gboolean chardev_added;
    OrielQmpClient *qmp;    /* referenced while waiting for DEVICE_DELETED */
    gulong deleted_handler;
    guint timeout_id;
} UsbAttachment;

static UsbAttachment *
attachment_ref(UsbAttachment *att)
{
    att->refs++;
    return att;
}

static void
attachment_unref(UsbAttachment *att)
{
    if (!att || --att->refs > 0)
        return;
    g_assert(att->call == NULL && att->timeout_id == 0 && att->qmp == NULL);
    g_free(att->id);
    g_free(att->qemu_id);
    g_free(att->disk);
    g_free(att->socket_path);
    g_free(att->log_path);
    g_free(att->failure);
    g_free(att);
}

static const char *
state_to_string(UsbState state)
{
    switch (state) {
    case USB_ATTACHING: return "attaching";
    case USB_ATTACHED: return "attached";
    case USB_DETACHING: return "detaching";
    case USB_FAILED: return "failed";
    }
    return "unknown";
}

static const char *
speed_to_string(OrielHvUsbSpeed speed)
{
    return speed == ORIEL_HV_USB_SPEED_SUPER ? "super" : "high";
}

/* ---- argument checks (pure) --------------------------------------------------- */

typedef enum { USB_ARG_STRING, USB_ARG_BOOL } UsbArgType;

typedef struct {
    const char *name;
    UsbArgType type;
    gboolean required;
} UsbArgSpec;

static gboolean
invalid(GError **error, const char *format, ...) G_GNUC_PRINTF(2, 3);

static gboolean
invalid(GError **error, const char *format, ...)
{
    va_list args;

    va_start(args, format);
    g_autofree char *message = g_strdup_vprintf(format, args);
    va_end(args);
    g_set_error_literal(error, ORIEL_HV_ERROR, ORIEL_HV_ERROR_INVALID_ARGUMENT, message);
    return FALSE;
}

static gboolean
check_members(JsonObject *arguments, const UsbArgSpec *specs, gsize n_specs, GError **error)
{
    JsonObjectIter iter;
    const char *member;
    JsonNode *node;

    if (!arguments)
        return invalid(error, "missing argument '%s'", specs[0].name);
    json_object_iter_init(&iter, arguments);
    while (json_object_iter_next(&iter, &member, &node)) {
        gsize i;
        for (i = 0; i < n_specs && !g_str_equal(specs[i].name, member); i++)
            ;
        if (i == n_specs)
            return invalid(error, "unknown argument '%s'", member);
        GType want = specs[i].type == USB_ARG_STRING ? G_TYPE_STRING : G_TYPE_BOOLEAN;
        if (!JSON_NODE_HOLDS_VALUE(node) || json_node_get_value_type(node) != want)
            return invalid(error, "argument '%s' must be %s", member,
                           specs[i].type == USB_ARG_STRING ? "a string" : "a boolean");
    }
    for (gsize i = 0; i < n_specs; i++) {
        if (specs[i].required && !json_object_has_member(arguments, specs[i].name))
            return invalid(error, "missing argument '%s'", specs[i].name);
    }
    return TRUE;
}

static gboolean
check_name(const char *name, GError **error)
{
    /* The domain table decides whether it exists; only bound it here. */
    if (!*name || strlen(name) > 256)
        return invalid(error, "name: must be 1 to 256 characters");
    return TRUE;
}

gboolean
oriel_hv_usb_parse_attach(JsonObject *arguments, OrielHvUsbAttachRequest *ret_request, GError **error)
{
    static const UsbArgSpec specs[] = {
        { "name", USB_ARG_STRING, TRUE },
        { "disk", USB_ARG_STRING, TRUE },
        { "read_only", USB_ARG_BOOL, FALSE },
        { "speed", USB_ARG_STRING, FALSE },
    };
    OrielHvUsbAttachRequest request = { 0 };

    if (!check_members(arguments, specs, G_N_ELEMENTS(specs), error))
        return FALSE;
    request.name = json_object_get_string_member(arguments, "name");
    request.disk = json_object_get_string_member(arguments, "disk");
    request.read_only = json_object_get_boolean_member_with_default(arguments, "read_only", FALSE);
    const char *speed = json_object_get_string_member_with_default(arguments, "speed", NULL);
    if (!check_name(request.name, error))
        return FALSE;
    gsize length = strlen(request.disk);
    if (length == 0 || length > USB_DISK_PATH_MAX)
        return invalid(error, "disk: the path must be 1 to %d bytes", USB_DISK_PATH_MAX);
    if (request.disk[0] != '/')
        return invalid(error, "disk: '%s' is not an absolute path", request.disk);
    if (!g_utf8_validate(request.disk, -1, NULL))
        return invalid(error, "disk: the path is not valid UTF-8");
    if (!speed)
        request.speed = ORIEL_HV_USB_SPEED_DEFAULT;
    else if (g_str_equal(speed, "high"))
        request.speed = ORIEL_HV_USB_SPEED_HIGH;
    else if (g_str_equal(speed, "super"))
        request.speed = ORIEL_HV_USB_SPEED_SUPER;
    else
        return invalid(error, "speed: '%.32s' is not 'high' or 'super'", speed);
    *ret_request = request;
    return TRUE;
}

static gboolean
parse_id(const char *id, guint *ret_index)
{
    guint64 index = 0;

    if (!g_str_has_prefix(id, "usb") || !g_ascii_isdigit(id[3]) || (id[3] == '0' && id[4] != '\0') ||
        !g_ascii_string_to_unsigned(id + 3, 10, 0, ORIEL_USB_ATTACH_MAX - 1, &index, NULL))
        return FALSE;
    *ret_index = (guint)index;
    return TRUE;
}

gboolean
oriel_hv_usb_parse_detach(JsonObject *arguments, const char **ret_name, guint *ret_index, GError **error)
{
    static const UsbArgSpec specs[] = {
        { "name", USB_ARG_STRING, TRUE },
        { "id", USB_ARG_STRING, TRUE },
    };
    guint index = 0;

    if (!check_members(arguments, specs, G_N_ELEMENTS(specs), error))
        return FALSE;
    const char *name = json_object_get_string_member(arguments, "name");
    const char *id = json_object_get_string_member(arguments, "id");
    if (!check_name(name, error))
        return FALSE;
    if (!parse_id(id, &index))
        return invalid(error, "id: '%.32s' is not an attachment ID (usb0 to usb%u)", id, ORIEL_USB_ATTACH_MAX - 1);
    *ret_name = name;
    *ret_index = index;
    return TRUE;
}

gboolean
oriel_hv_usb_parse_list(JsonObject *arguments, const char **ret_name, GError **error)
{
    static const UsbArgSpec specs[] = { { "name", USB_ARG_STRING, TRUE } };

    if (!check_members(arguments, specs, G_N_ELEMENTS(specs), error))
        return FALSE;
    const char *name = json_object_get_string_member(arguments, "name");
    if (!check_name(name, error))
        return FALSE;
    *ret_name = name;
    return TRUE;
}

/* ---- the record ----------------------------------------------------------------- */

static char *
domain_runtime_dir(OrielHvDomain *domain)
{
    return g_build_filename(domain->hv->domains_runtime_dir, domain->name, NULL);
}

static char *
record_path(OrielHvDomain *domain)
{
    g_autofree char *dir = domain_runtime_dir(domain);
    return g_build_filename(dir, "usb.json", NULL);
}

static JsonObject *
describe(UsbAttachment *att)
{
    JsonObject *object = json_object_new();

    json_object_set_string_member(object, "id", att->id);
    json_object_set_string_member(object, "disk", att->disk);
    json_object_set_boolean_member(object, "read_only", att->read_only);
    json_object_set_string_member(object, "speed", speed_to_string(att->speed));
    json_object_set_string_member(object, "state", state_to_string(att->state));
    json_object_set_string_member(object, "bus", "usb.0");
    json_object_set_int_member(object, "port", att->port);
    if (att->pid > 0)
        json_object_set_int_member(object, "pid", att->pid);
    if (att->state == USB_FAILED && att->failure)
        json_object_set_string_member(object, "reason", att->failure);
    return object;
}

/* Rewrites usb.json from the attachments (removes it when there is none). */
static void
save_record(OrielHvDomain *domain)
{
    g_autofree char *path = record_path(domain);
    g_autoptr(GError) error = NULL;

    if (!domain->usb || domain->usb->len == 0) {
        g_unlink(path);
        return;
    }
    JsonArray *array = json_array_new();
    for (guint i = 0; i < domain->usb->len; i++) {
        UsbAttachment *att = domain->usb->pdata[i];
        JsonObject *object = describe(att);
        json_object_set_int_member(object, "pid-start", (gint64)att->pid_start);
        json_object_set_boolean_member(object, "restarted", att->restarted);
        json_array_add_object_element(array, object);
    }
    JsonObject *root = json_object_new();
    json_object_set_array_member(root, "attachments", array);
    g_autoptr(JsonNode) node = json_node_init_object(json_node_alloc(), root);
    json_object_unref(root);
    g_autofree char *text = json_to_string(node, TRUE);
    if (!g_file_set_contents_full(path, text, -1, G_FILE_SET_CONTENTS_CONSISTENT, 0600, &error))
        g_message("domain %s: cannot record its USB disks: %s", domain->name, error->message);
}

/* ---- helper processes ------------------------------------------------------------ */

static char *
find_helper(void)
{
    const char *forced = g_getenv("ORIEL_USBDISK");
    g_autofree char *self = g_file_read_link("/proc/self/exe", NULL);
    g_autofree char *dir = self ? g_path_get_dirname(self) : NULL;

    if (forced && *forced)
        return g_strdup(forced);
    if (dir) {
        /* build/hypervisor/orield -> build/devmodel/oriel-usbdisk; sbin/ -> libexec/ */
        const char *relatives[] = { "../devmodel/oriel-usbdisk", "../libexec/oriel-usbdisk", "oriel-usbdisk" };
        for (gsize i = 0; i < G_N_ELEMENTS(relatives); i++) {
            g_autofree char *path = g_build_filename(dir, relatives[i], NULL);
            if (g_file_test(path, G_FILE_TEST_IS_EXECUTABLE))
                return g_steal_pointer(&path);
        }
    }
    char *path = g_find_program_in_path("oriel-usbdisk");
    return path ? path : g_strdup("oriel-usbdisk");
}

/* starttime (field 22) of /proc/PID/stat; 0 when the process is gone. */
static guint64
process_start_time(GPid pid)
{
    g_autofree char *path = g_strdup_printf("/proc/%d/stat", (int)pid);
    g_autofree char *text = NULL;

    if (pid <= 1 || !g_file_get_contents(path, &text, NULL, NULL))
        return 0;
    const char *after = strrchr(text, ')');
    if (!after || after[1] != ' ')
        return 0;
    g_auto(GStrv) fields = g_strsplit(after + 2, " ", 22);
    /* fields[0] is field 3 (state); starttime is field 22. */
    if (g_strv_length(fields) < 20 || fields[0][0] == 'Z')
        return 0;
    return g_ascii_strtoull(fields[19], NULL, 10);
}

static void helper_ended(UsbAttachment *att);

static void
on_child_exit(GPid pid, gint wait_status, gpointer user_data)
{
    UsbAttachment *att = user_data;

    g_spawn_close_pid(pid);
    if (att->pid != pid)
        return; /* an earlier helper of a restarted attachment */
    att->watch_id = 0;
    if (att->domain && !att->helper_stopping)
        g_message("domain %s: USB disk %s: helper %d ended (%s %d)", att->domain->name, att->id, (int)pid,
                  WIFSIGNALED(wait_status) ? "signal" : "status",
                  WIFSIGNALED(wait_status) ? WTERMSIG(wait_status) : WEXITSTATUS(wait_status));
    helper_ended(att);
}

static gboolean
on_pidfd_ready(int fd, GIOCondition condition, gpointer user_data)
{
    UsbAttachment *att = user_data;

    att->watch_id = 0;
    close(att->pidfd);
    att->pidfd = -1;
    if (att->domain && !att->helper_stopping)
        g_message("domain %s: USB disk %s: helper %d (adopted) ended", att->domain->name, att->id,
                  (int)att->pid);
    helper_ended(att);
    return G_SOURCE_REMOVE;
}

/* Stops watching the helper; a child of this daemon is still reaped. */
static void
unwatch_helper(UsbAttachment *att)
{
    if (att->pid_is_child) {
        /* The child watch stays to reap it; it only drops its reference. */
        att->pid = 0;
        return;
    }
    g_clear_handle_id(&att->watch_id, g_source_remove);
    if (att->pidfd >= 0)
        close(att->pidfd);
    att->pidfd = -1;
    att->pid = 0;
}

static void
watch_helper(UsbAttachment *att, GPid pid, gboolean is_child)
{
    att->pid = pid;
    att->pid_is_child = is_child;
    att->helper_stopping = FALSE;
    if (is_child) {
        att->watch_id = g_child_watch_add_full(G_PRIORITY_DEFAULT, pid, on_child_exit, attachment_ref(att),
                                               (GDestroyNotify)attachment_unref);
        return;
    }
    att->pidfd = (int)syscall(SYS_pidfd_open, (pid_t)pid, 0);
    if (att->pidfd < 0) {
        g_message("USB disk %s: cannot watch helper %d: %s", att->id, (int)pid, g_strerror(errno));
        return;
    }
    att->watch_id = g_unix_fd_add_full(G_PRIORITY_DEFAULT, att->pidfd, G_IO_IN, on_pidfd_ready,
                                       attachment_ref(att), (GDestroyNotify)attachment_unref);
}

/* A listening socket for the helper to inherit; -1 with @error. */
static int
listen_socket(const char *path, GError **error)
{
    struct sockaddr_un address = { .sun_family = AF_UNIX };

    if (strlen(path) >= sizeof(address.sun_path)) {
        g_set_error(error, ORIEL_HV_ERROR, ORIEL_HV_ERROR_GENERIC,
                    "the USB socket path %s is longer than a Unix socket allows", path);
        return -1;
    }
    strcpy(address.sun_path, path);
    g_unlink(path);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&address, sizeof(address)) < 0 || listen(fd, 1) < 0) {
        g_set_error(error, ORIEL_HV_ERROR, ORIEL_HV_ERROR_GENERIC, "cannot listen on %s: %s", path,
                    g_strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

/* Between fork and exec: async-signal-safe calls only. */
static void
helper_child_setup(gpointer user_data)
{
    const OrielDmUser *user = user_data;

    /* Its own session, as QEMU: it outlives a daemon restart. */
    setsid();
    /* The helper parses what the guest sends: never as root.  It needs no
     * right of its own, orield passes it the image and the socket. */
    if (user && oriel_dm_user_drop(user) < 0) {
        static const char message[] = "oriel: cannot switch to the QEMU user; the USB disk helper does not run as root\n";
        if (write(STDERR_FILENO, message, sizeof(message) - 1) < 0)
            _exit(127);
        _exit(127);
    }
}

/* Opens the image for the helper, with the rights the attach checked; the
 * file at the path must still be the one checked (or, recovered from the
 * record, the one recorded).  -1 with @error. */
static int
open_image(UsbAttachment *att, GError **error)
{
    struct stat st;
    int fd = g_open(att->disk, (att->read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);

    if (fd < 0) {
        g_set_error(error, ORIEL_HV_ERROR, ORIEL_HV_ERROR_GENERIC, "cannot open %s: %s", att->disk,
                    g_strerror(errno));
        return -1;
    }
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
        ((att->disk_dev || att->disk_ino) && (st.st_dev != att->disk_dev || st.st_ino != att->disk_ino))) {
        g_set_error(error, ORIEL_HV_ERROR, ORIEL_HV_ERROR_GENERIC,
                    "%s is no longer the image that was attached", att->disk);
        close(fd);
        return -1;
    }
    att->disk_dev = st.st_dev;
    att->disk_ino = st.st_ino;
    return fd; /* the helper clears O_NONBLOCK (no open blocks on a FIFO here) */
}

static gboolean
spawn_helper(UsbAttachment *att, GError **error)
{
    g_autofree char *binary = find_helper();
    g_autofree char *serial = g_strdup_printf("ORIEL-%s-%s", att->domain->name, att->id);
    g_autofree char *fd_text = g_strdup_printf("%d", USB_HELPER_FD);
    g_autofree char *image_fd_text = g_strdup_printf("%d", USB_HELPER_IMAGE_FD);
    g_autoptr(GStrvBuilder) builder = g_strv_builder_new();
    OrielDmUser *user = att->domain->hv->qemu_user;
    GPid pid = 0;

    /* USB serial numbers are short: keep what fits. */
    if (strlen(serial) > 60)
        serial[60] = '\0';
    g_strv_builder_add_many(builder, binary, "--image-fd", image_fd_text, "--image-name", att->disk, "--fd",
                            fd_text, "--speed", speed_to_string(att->speed), "--serial", serial, NULL);
    if (att->read_only)
        g_strv_builder_add(builder, "--read-only");
    g_auto(GStrv) argv = g_strv_builder_end(builder);
    /* The helper reads guest-controlled data: a GLib warning must not abort it. */
    g_auto(GStrv) environment = g_environ_unsetenv(g_get_environ(), "G_DEBUG");

    int image_fd = open_image(att, error);
    if (image_fd < 0)
        return FALSE;
    int listen_fd = listen_socket(att->socket_path, error);
    if (listen_fd < 0) {
        close(image_fd);
        return FALSE;
    }
    oriel_hv_qemu_user_share_socket(att->domain->hv, att->socket_path); /* QEMU connects to it */
    int log_fd = g_open(att->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (log_fd < 0) {
        g_set_error(error, ORIEL_HV_ERROR, ORIEL_HV_ERROR_GENERIC, "cannot open %s: %s", att->log_path,
                    g_strerror(errno));
        close(listen_fd);
        close(image_fd);
        g_unlink(att->socket_path);
        return FALSE;
    }
    int source_fds[] = { listen_fd, image_fd };
    int target_fds[] = { USB_HELPER_FD, USB_HELPER_IMAGE_FD };
    gboolean spawned = g_spawn_async_with_pipes_and_fds(
        NULL, (const char *const *)argv, (const char *const *)environment,
        G_SPAWN_DO_NOT_REAP_CHILD | G_SPAWN_STDIN_FROM_DEV_NULL, helper_child_setup, user, -1, log_fd, log_fd,
        source_fds, target_fds, G_N_ELEMENTS(source_fds), &pid, NULL, NULL, NULL, error);
    /* The helper's copy alone holds the image's locks from here on. */
    close(image_fd);
    close(listen_fd);
    close(log_fd);
    if (!spawned) {
        g_prefix_error(error, "cannot start the USB disk helper %s: ", binary);
        g_unlink(att->socket_path);
        return FALSE;
    }
    att->pid_start = process_start_time(pid);
    watch_helper(att, pid, TRUE);
    g_debug("domain %s: USB disk %s: helper %d serves %s", att->domain->name, att->id, (int)pid, att->disk);
    return TRUE;
}

/* SIGTERM; SIGKILL if it lingers.  Its end comes through helper_ended(). */
static gboolean
on_helper_stop_timeout(gpointer user_data)
{
    UsbAttachment *att = user_data;

    att->timeout_id = 0;
    if (att->pid > 0) {
        g_message("USB disk %s: helper %d ignored SIGTERM; killing it", att->id, (int)att->pid);
        kill(att->pid, SIGKILL);
    }
    return G_SOURCE_REMOVE;
}

static void
stop_helper(UsbAttachment *att, gboolean wait)
{
    if (att->pid <= 0)
        return;
    att->helper_stopping = TRUE;
    kill(att->pid, SIGTERM);
    if (wait) {
        g_clear_handle_id(&att->timeout_id, g_source_remove);
        att->timeout_id = g_timeout_add_seconds_full(G_PRIORITY_DEFAULT, USB_HELPER_STOP_TIMEOUT_S,
                                                     on_helper_stop_timeout, attachment_ref(att),
                                                     (GDestroyNotify)attachment_unref);
    } else {
        unwatch_helper(att);
    }
}

/* ---- the domain's list ------------------------------------------------------------ */

static UsbAttachment *
find_attachment(OrielHvDomain *domain, guint index)
{
    for (guint i = 0; domain->usb && i < domain->usb->len; i++) {
        UsbAttachment *att = domain->usb->pdata[i];
        if (att->index == index)
            return att;
    }
    return NULL;
}

/* Takes the attachment out of its domain's list (the list's reference). */
static void
remove_attachment(UsbAttachment *att)
{
    OrielHvDomain *domain = att->domain;

    if (!domain)
        return;
    g_clear_handle_id(&att->timeout_id, g_source_remove);
    g_unlink(att->socket_path);
    g_unlink(att->log_path);
    att->domain = NULL;
    g_ptr_array_remove(domain->usb, att); /* unrefs */
    save_record(domain);
}

static void
clear_qmp_wait(UsbAttachment *att)
{
    if (att->qmp) {
        g_clear_signal_handler(&att->deleted_handler, att->qmp);
        g_clear_object(&att->qmp);
    }
}

/* Answers the pending call, if any. */
static void
answer_error(UsbAttachment *att, OrielHvError code, const char *format, ...) G_GNUC_PRINTF(3, 4);

static void
answer_error(UsbAttachment *att, OrielHvError code, const char *format, ...)
{
    va_list args;

    if (!att->call)
        return;
    va_start(args, format);
    g_autofree char *message = g_strdup_vprintf(format, args);
    va_end(args);
    oriel_hv_call_error(g_steal_pointer(&att->call), code, "%s", message);
}

/* ---- attach ----------------------------------------------------------------------- */

static OrielQmpClient *
domain_qmp(OrielHvDomain *domain)
{
    OrielQmpClient *qmp = domain && domain->dm ? oriel_dm_process_get_qmp(domain->dm) : NULL;
    return qmp && !oriel_qmp_client_is_closed(qmp) ? qmp : NULL;
}

static void
qmp_forget_done(GObject *source, GAsyncResult *result, gpointer user_data)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) reply = oriel_qmp_client_execute_finish(ORIEL_QMP_CLIENT(source), result, &error);

    if (!reply)
        g_debug("%s: %s", (const char *)user_data, error->message);
}

static void
qmp_remove_quietly(OrielQmpClient *qmp, const char *command, const char *key, const char *id)
{
    g_autoptr(JsonObject) arguments = json_object_new();

    json_object_set_string_member(arguments, key, id);
    oriel_qmp_client_execute_async(qmp, command, arguments, USB_QMP_TIMEOUT_MS, NULL, qmp_forget_done,
                                   (gpointer)command);
}

/* An attach that failed after the helper started: undo what was done. */
static void
abandon_attach(UsbAttachment *att, const char *step, const GError *error)
{
    OrielQmpClient *qmp = domain_qmp(att->domain);

    if (att->domain)
        g_message("domain %s: USB disk %s: %s failed: %s", att->domain->name, att->id, step, error->message);
    answer_error(att, ORIEL_HV_ERROR_GENERIC, "%s: %s", step, error->message);
    if (qmp && att->chardev_added)
        qmp_remove_quietly(qmp, "chardev-remove", "id", att->qemu_id);
    att->chardev_added = FALSE;
    stop_helper(att, FALSE);
    remove_attachment(att);
}

/* A re-plug into a restarted QEMU failed: the attachment stays, failed
 * with the reason, its helper stopped (the image is free again). */
static void
replug_failed(UsbAttachment *att, const char *step, const GError *error)
{
    OrielQmpClient *qmp = domain_qmp(att->domain);

    g_free(att->failure);
    att->failure = g_strdup_printf("re-plug into the restarted QEMU: %s: %s", step, error->message);
    g_message("domain %s: USB disk %s: %s", att->domain->name, att->id, att->failure);
    if (qmp && att->chardev_added)
        qmp_remove_quietly(qmp, "chardev-remove", "id", att->qemu_id);
    att->chardev_added = FALSE;
    att->replugging = FALSE;
    att->state = USB_FAILED;
    stop_helper(att, FALSE);
    save_record(att->domain);
}

/* The attach goes on: the reply is from the QMP of the domain's current QEMU
 * (a re-plug's replies from a QEMU that ended since are stale). */
static gboolean
attach_goes_on(UsbAttachment *att, GObject *source)
{
    if (!att->domain || att->state != USB_ATTACHING)
        return FALSE;
    return !att->replugging ||
           (att->domain->dm && source == (GObject *)oriel_dm_process_get_qmp(att->domain->dm));
}

static void
on_device_added(GObject *source, GAsyncResult *result, gpointer user_data)
{
    UsbAttachment *att = user_data;
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) reply = oriel_qmp_client_execute_finish(ORIEL_QMP_CLIENT(source), result, &error);

    if (attach_goes_on(att, source)) {
        if (!reply && att->replugging) {
            replug_failed(att, "device_add", error);
        } else if (!reply) {
            abandon_attach(att, "device_add", error);
        } else {
            att->state = USB_ATTACHED;
            save_record(att->domain);
            g_message("domain %s: USB disk %s %s: %s%s on port %u", att->domain->name, att->id,
                      att->replugging ? "plugged into the new QEMU" : "attached", att->disk,
                      att->read_only ? " (read-only)" : "", att->port);
            att->replugging = FALSE;
            if (att->call)
                oriel_hv_call_return_object(g_steal_pointer(&att->call), describe(att));
        }
    }
    attachment_unref(att);
}

static void
on_chardev_added(GObject *source, GAsyncResult *result, gpointer user_data)
{
    UsbAttachment *att = user_data;
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) reply = oriel_qmp_client_execute_finish(ORIEL_QMP_CLIENT(source), result, &error);

    if (attach_goes_on(att, source)) {
        if (!reply && att->replugging) {
            replug_failed(att, "chardev-add", error);
        } else if (!reply) {
            abandon_attach(att, "chardev-add", error);
        } else {
            att->chardev_added = TRUE;
            g_autoptr(JsonObject) arguments = json_object_new();
            g_autofree char *port = g_strdup_printf("%u", att->port);
            json_object_set_string_member(arguments, "driver", "usb-redir");
            json_object_set_string_member(arguments, "id", att->qemu_id);
            json_object_set_string_member(arguments, "chardev", att->qemu_id);
            json_object_set_string_member(arguments, "bus", "usb.0");
            json_object_set_string_member(arguments, "port", port);
            oriel_qmp_client_execute_async(ORIEL_QMP_CLIENT(source), "device_add", arguments, USB_QMP_TIMEOUT_MS,
                                           NULL, on_device_added, attachment_ref(att));
        }
    }
    attachment_unref(att);
}

static void
add_chardev(UsbAttachment *att, OrielQmpClient *qmp)
{
    g_autoptr(JsonObject) arguments = json_object_new();
    JsonObject *backend = json_object_new();
    JsonObject *data = json_object_new();
    JsonObject *addr = json_object_new();
    JsonObject *addr_data = json_object_new();

    json_object_set_string_member(addr_data, "path", att->socket_path);
    json_object_set_string_member(addr, "type", "unix");
    json_object_set_object_member(addr, "data", addr_data);
    json_object_set_object_member(data, "addr", addr);
    json_object_set_boolean_member(data, "server", FALSE);
    /* A restarted helper listens on the same path: QEMU reconnects to it. */
    json_object_set_int_member(data, "reconnect", 1);
    json_object_set_string_member(backend, "type", "socket");
    json_object_set_object_member(backend, "data", data);
    json_object_set_string_member(arguments, "id", att->qemu_id);
    json_object_set_object_member(arguments, "backend", backend);
    oriel_qmp_client_execute_async(qmp, "chardev-add", arguments, USB_QMP_TIMEOUT_MS, NULL, on_chardev_added,
                                   attachment_ref(att));
}

/* The image's checks; @ret_stat filled on success. */
static gboolean
check_image(const char *path, gboolean read_only, struct stat *ret_stat, GError **error)
{
    struct stat st;

    int fd = g_open(path, (read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
    if (fd < 0) {
        int saved = errno;
        if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
            saved = EISDIR;
        g_set_error(error, ORIEL_HV_ERROR,
                    saved == ENOENT ? ORIEL_HV_ERROR_NOT_FOUND
                    : saved == EACCES || saved == EPERM || saved == EROFS ? ORIEL_HV_ERROR_PERMISSION_DENIED
                                                                            : ORIEL_HV_ERROR_INVALID_ARGUMENT,
                    "disk: cannot open %s %s: %s", path, read_only ? "for reading" : "for reading and writing",
                    g_strerror(saved));
        return FALSE;
    }
    int fstat_result = fstat(fd, &st);
    close(fd);
    if (fstat_result < 0 || !S_ISREG(st.st_mode)) {
        g_set_error(error, ORIEL_HV_ERROR, ORIEL_HV_ERROR_INVALID_ARGUMENT, "disk: %s is not a regular file",
                    path);
        return FALSE;
    }
    if (st.st_size <= 0 || st.st_size % 512 != 0) {
        g_set_error(error, ORIEL_HV_ERROR, ORIEL_HV_ERROR_INVALID_ARGUMENT,
                    "disk: %s is %" G_GINT64_FORMAT " bytes, not a non-zero multiple of 512 (a raw image)", path,
                    (gint64)st.st_size);
        return FALSE;
    }
    *ret_stat = st;
    return TRUE;
}

gboolean
oriel_hv_usb_mode_allows(uid_t uid, const gid_t *groups, gsize n_groups, uid_t file_uid, gid_t file_gid,
                         mode_t file_mode, gboolean read_only)
{
    mode_t read_bit = S_IROTH, write_bit = S_IWOTH;

    if (uid == 0)
        return TRUE;
    if (file_uid == uid) {
        read_bit = S_IRUSR;
        write_bit = S_IWUSR;
    } else {
        for (gsize i = 0; i < n_groups; i++) {
            if (groups[i] == file_gid) {
                read_bit = S_IRGRP;
                write_bit = S_IWGRP;
                break;
            }
        }
    }
    return (file_mode & read_bit) && (read_only || (file_mode & write_bit));
}

/* The client behind @uid may open the image itself (see oriel_hv_usb_mode_allows). */
static gboolean
client_may_open(uid_t uid, const char *path, const struct stat *st, gboolean read_only, GError **error)
{
    struct passwd entry, *result = NULL;
    char buffer[4096];
    gid_t groups[256];
    int n_groups = G_N_ELEMENTS(groups);

    if (uid == 0 || uid == geteuid())
        return TRUE; /* it could open the file with the daemon's rights anyway */
    if (getpwuid_r(uid, &entry, buffer, sizeof(buffer), &result) != 0 || !result ||
        getgrouplist(result->pw_name, result->pw_gid, groups, &n_groups) < 0)
        n_groups = 0; /* an unknown user, or too many groups: its uid alone counts */
    if (oriel_hv_usb_mode_allows(uid, groups, (gsize)n_groups, st->st_uid, st->st_gid, st->st_mode, read_only))
        return TRUE;
    g_set_error(error, ORIEL_HV_ERROR, ORIEL_HV_ERROR_PERMISSION_DENIED,
                "disk: uid %u may not %s %s", (unsigned)uid, read_only ? "read" : "read and write", path);
    return FALSE;
}

/* The image is attached read-write anywhere, or read-only anywhere while @read_only is FALSE. */
static const char *
image_conflict(OrielHv *hv, const struct stat *st, gboolean read_only)
{
    GHashTableIter iter;
    gpointer value;

    g_hash_table_iter_init(&iter, hv->domains);
    while (g_hash_table_iter_next(&iter, NULL, &value)) {
        OrielHvDomain *other = value;
        for (guint i = 0; other->usb && i < other->usb->len; i++) {
            UsbAttachment *att = other->usb->pdata[i];
            if (att->disk_dev == st->st_dev && att->disk_ino == st->st_ino && (!att->read_only || !read_only))
                return other->name;
        }
    }
    return NULL;
}

static guint
free_port(OrielHvDomain *domain)
{
    guint first = oriel_qemu_usb_first_free_port(domain->config);
    guint ports = oriel_qemu_usb_root_ports(domain->config);

    for (guint port = first; first > 0 && port <= ports; port++) {
        gboolean taken = FALSE;
        for (guint i = 0; domain->usb && i < domain->usb->len && !taken; i++)
            taken = ((UsbAttachment *)domain->usb->pdata[i])->port == port;
        if (!taken)
            return port;
    }
    return 0;
}

void
oriel_hv_cmd_domain_usb_attach(OrielHv *hv, OrielHvCall *call, JsonObject *arguments)
{
    OrielHvUsbAttachRequest request;
    g_autoptr(GError) error = NULL;
    struct stat st;

    if (!oriel_hv_usb_parse_attach(arguments, &request, &error)) {
        oriel_hv_call_propagate(call, error);
        return;
    }
    OrielHvDomain *domain = oriel_hv_domain_lookup(hv, request.name);
    if (!domain) {
        oriel_hv_call_error(call, ORIEL_HV_ERROR_NOT_FOUND, "no domain named '%s'", request.name);
        return;
    }
    if (domain->state != ORIEL_HV_STATE_RUNNING && domain->state != ORIEL_HV_STATE_PAUSED) {
        oriel_hv_call_error(call, ORIEL_HV_ERROR_INVALID_STATE, "cannot attach a USB disk to '%s': it is %s",
                            domain->name, oriel_hv_state_to_string(domain->state));
        return;
    }
    const OrielDomainConfig *config = domain->config;
    guint ports = oriel_qemu_usb_root_ports(config);
    if (ports == 0) {
        oriel_hv_call_error(call, ORIEL_HV_ERROR_INVALID_STATE,
                            "'%s' has no USB controller: set usb = 1 (or spiceusbredirection) in its config",
                            domain->name);
        return;
    }
    if (config->usbversion < 2) {
        oriel_hv_call_error(call, ORIEL_HV_ERROR_UNSUPPORTED,
                            "'%s' has a USB 1 controller (usbversion = 1), too slow for a USB disk; use "
                            "usbversion = 2 or 3", domain->name);
        return;
    }
    OrielHvUsbSpeed speed = request.speed;
    if (speed == ORIEL_HV_USB_SPEED_DEFAULT)
        speed = config->usbversion == 3 ? ORIEL_HV_USB_SPEED_SUPER : ORIEL_HV_USB_SPEED_HIGH;
    if (speed == ORIEL_HV_USB_SPEED_SUPER && config->usbversion != 3) {
        oriel_hv_call_error(call, ORIEL_HV_ERROR_INVALID_ARGUMENT,
                            "speed: super-speed needs a USB 3 controller ('%s' has usbversion = %u)", domain->name,
                            config->usbversion);
        return;
    }
    if (!check_image(request.disk, request.read_only, &st, &error) ||
        !client_may_open(oriel_hv_call_get_uid(call), request.disk, &st, request.read_only, &error)) {
        oriel_hv_call_propagate(call, error);
        return;
    }
    const char *holder = image_conflict(hv, &st, request.read_only);
    if (holder) {
        oriel_hv_call_error(call, ORIEL_HV_ERROR_EXISTS, "disk: %s is already attached to '%s'%s", request.disk,
                            holder, request.read_only ? " read-write" : "");
        return;
    }
    guint index = 0;
    while (index < ORIEL_USB_ATTACH_MAX && find_attachment(domain, index))
        index++;
    if (index == ORIEL_USB_ATTACH_MAX) {
        oriel_hv_call_error(call, ORIEL_HV_ERROR_GENERIC, "'%s' has %u USB disks already, the most it can have",
                            domain->name, ORIEL_USB_ATTACH_MAX);
        return;
    }
    guint port = free_port(domain);
    if (port == 0) {
        oriel_hv_call_error(call, ORIEL_HV_ERROR_GENERIC,
                            "'%s' has no free USB port: its controller's %u ports hold the usb-tablet, the %u "
                            "spiceusbredirection channels and %u USB disks", domain->name, ports,
                            config->spice.enabled ? config->spice.usbredirection : 0,
                            domain->usb ? domain->usb->len : 0);
        return;
    }
    OrielQmpClient *qmp = domain_qmp(domain);
    if (!qmp) {
        oriel_hv_call_error(call, ORIEL_HV_ERROR_INVALID_STATE, "%s: QMP is not connected", domain->name);
        return;
    }

    UsbAttachment *att = g_new0(UsbAttachment, 1);
    g_autofree char *dir = domain_runtime_dir(domain);
    att->refs = 1;
    att->domain = domain;
    att->index = index;
    att->id = g_strdup_printf("usb%u", index);
    att->qemu_id = g_strdup_printf("oriel-usb%u", index);
    att->disk = g_strdup(request.disk);
    att->disk_dev = st.st_dev;
    att->disk_ino = st.st_ino;
    att->read_only = request.read_only;
    att->speed = speed;
    att->port = port;
    att->pidfd = -1;
    att->socket_path = g_strdup_printf("%s/%s.sock", dir, att->id);
    att->log_path = g_strdup_printf("%s/%s.log", dir, att->id);
    att->state = USB_ATTACHING;
    if (!domain->usb)
        domain->usb = g_ptr_array_new_with_free_func((GDestroyNotify)attachment_unref);
    g_ptr_array_add(domain->usb, att);
    if (!spawn_helper(att, &error)) {
        remove_attachment(att);
        oriel_hv_call_propagate(call, error);
        return;
    }
    save_record(domain);
    att->call = call;
    add_chardev(att, qmp);
}

/* ---- detach ----------------------------------------------------------------------- */

static void
finish_detach(UsbAttachment *att)
{
    OrielHvDomain *domain = att->domain;

    if (domain)
        g_message("domain %s: USB disk %s detached", domain->name, att->id);
    if (att->call) {
        JsonObject *reply = describe(att);
        json_object_set_string_member(reply, "state", "detached");
        oriel_hv_call_return_object(g_steal_pointer(&att->call), reply);
    }
    remove_attachment(att);
}

/* The helper is gone (exit seen by its watch). */
static void
helper_ended(UsbAttachment *att)
{
    g_autoptr(GError) error = NULL;

    att->pid = 0;
    if (!att->domain)
        return;
    if (att->state == USB_DETACHING && att->helper_stopping) {
        g_clear_handle_id(&att->timeout_id, g_source_remove);
        finish_detach(att);
        return;
    }
    if (att->helper_stopping)
        return;
    if (att->state == USB_ATTACHING && !att->replugging) {
        g_set_error(&error, ORIEL_HV_ERROR, ORIEL_HV_ERROR_GENERIC, "the helper exited at once (see %s)",
                    att->log_path);
        abandon_attach(att, "oriel-usbdisk", error);
        return;
    }
    if (att->state != USB_ATTACHED && att->state != USB_ATTACHING)
        return;
    /* Attached, or waiting to be plugged into a restarted QEMU. */
    UsbState state = att->state;
    att->state = USB_FAILED;
    g_clear_pointer(&att->failure, g_free);
    if (!att->restarted) {
        /* Once: a helper that keeps dying is left failed. */
        att->restarted = TRUE;
        if (spawn_helper(att, &error)) {
            att->state = state;
            g_message("domain %s: USB disk %s: helper restarted as %d", att->domain->name, att->id, (int)att->pid);
        } else {
            att->failure = g_strdup_printf("its helper ended and did not start again: %s", error->message);
        }
    } else {
        att->failure = g_strdup_printf("its helper ended twice (see %s)", att->log_path);
    }
    if (att->failure) {
        att->replugging = FALSE;
        g_message("domain %s: USB disk %s failed: %s", att->domain->name, att->id, att->failure);
    }
    save_record(att->domain);
}

/* Detach's last step: the helper's exit (helper_ended) finishes it. */
static void
stop_helper_then_finish(UsbAttachment *att)
{
    if (att->pid > 0)
        stop_helper(att, TRUE);
    else
        finish_detach(att);
}

static void
on_chardev_removed(GObject *source, GAsyncResult *result, gpointer user_data)
{
    UsbAttachment *att = user_data;
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) reply = oriel_qmp_client_execute_finish(ORIEL_QMP_CLIENT(source), result, &error);

    if (att->domain && att->state == USB_DETACHING) {
        /* usb-redir deletes its chardev when it goes: "not found" is the usual answer. */
        if (!reply && !strstr(error->message, "not found"))
            g_message("domain %s: USB disk %s: chardev-remove: %s", att->domain->name, att->id, error->message);
        att->chardev_added = FALSE;
        stop_helper_then_finish(att);
    }
    attachment_unref(att);
}

static void
device_gone(UsbAttachment *att)
{
    OrielQmpClient *qmp = att->qmp ? g_object_ref(att->qmp) : NULL;

    clear_qmp_wait(att);
    g_clear_handle_id(&att->timeout_id, g_source_remove);
    if (!qmp || oriel_qmp_client_is_closed(qmp)) {
        g_clear_object(&qmp);
        stop_helper_then_finish(att);
        return;
    }
    g_autoptr(JsonObject) arguments = json_object_new();
    json_object_set_string_member(arguments, "id", att->qemu_id);
    oriel_qmp_client_execute_async(qmp, "chardev-remove", arguments, USB_QMP_TIMEOUT_MS, NULL, on_chardev_removed,
                                   attachment_ref(att));
    g_object_unref(qmp);
}

static void
on_device_deleted(OrielQmpClient *client, const char *name, JsonObject *data, gint64 timestamp_us,
                  gpointer user_data)
{
    UsbAttachment *att = user_data;
    const char *device = json_object_get_string_member_with_default(data, "device", NULL);

    if (att->domain && att->state == USB_DETACHING && g_strcmp0(device, att->qemu_id) == 0)
        device_gone(att);
}

static gboolean
on_delete_timeout(gpointer user_data)
{
    UsbAttachment *att = user_data;

    att->timeout_id = 0;
    clear_qmp_wait(att);
    if (att->domain) {
        att->state = USB_ATTACHED;
        answer_error(att, ORIEL_HV_ERROR_GENERIC, "QEMU did not remove %s within %d s", att->id,
                     USB_DELETE_TIMEOUT_S);
    }
    return G_SOURCE_REMOVE;
}

static void
on_device_del_sent(GObject *source, GAsyncResult *result, gpointer user_data)
{
    UsbAttachment *att = user_data;
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) reply = oriel_qmp_client_execute_finish(ORIEL_QMP_CLIENT(source), result, &error);

    if (att->domain && att->state == USB_DETACHING && att->qmp && !reply) {
        /* Not there (a failed attach, or QEMU lost it): nothing to wait for. */
        if (g_error_matches(error, ORIEL_QMP_ERROR, ORIEL_QMP_ERROR_DEVICE_NOT_FOUND) ||
            strstr(error->message, "not found")) {
            device_gone(att);
        } else {
            g_clear_handle_id(&att->timeout_id, g_source_remove);
            clear_qmp_wait(att);
            att->state = USB_ATTACHED;
            answer_error(att, ORIEL_HV_ERROR_GENERIC, "device_del: %s", error->message);
        }
    }
    attachment_unref(att);
}

void
oriel_hv_cmd_domain_usb_detach(OrielHv *hv, OrielHvCall *call, JsonObject *arguments)
{
    g_autoptr(GError) error = NULL;
    const char *name = NULL;
    guint index = 0;

    if (!oriel_hv_usb_parse_detach(arguments, &name, &index, &error)) {
        oriel_hv_call_propagate(call, error);
        return;
    }
    OrielHvDomain *domain = oriel_hv_domain_lookup(hv, name);
    if (!domain) {
        oriel_hv_call_error(call, ORIEL_HV_ERROR_NOT_FOUND, "no domain named '%s'", name);
        return;
    }
    UsbAttachment *att = find_attachment(domain, index);
    if (!att) {
        oriel_hv_call_error(call, ORIEL_HV_ERROR_NOT_FOUND, "'%s' has no USB disk usb%u", domain->name, index);
        return;
    }
    if (att->state == USB_ATTACHING || att->state == USB_DETACHING) {
        oriel_hv_call_error(call, ORIEL_HV_ERROR_INVALID_STATE, "USB disk %s of '%s' is %s", att->id,
                            domain->name, state_to_string(att->state));
        return;
    }
    OrielQmpClient *qmp = domain_qmp(domain);
    if (!qmp) {
        oriel_hv_call_error(call, ORIEL_HV_ERROR_INVALID_STATE, "%s: QMP is not connected", domain->name);
        return;
    }
    att->state = USB_DETACHING;
    att->call = call;
    save_record(domain);
    /* DEVICE_DELETED may come before device_del's reply: listen first. */
    att->qmp = g_object_ref(qmp);
    att->deleted_handler = g_signal_connect(qmp, "event::DEVICE_DELETED", G_CALLBACK(on_device_deleted), att);
    att->timeout_id = g_timeout_add_seconds_full(G_PRIORITY_DEFAULT, USB_DELETE_TIMEOUT_S, on_delete_timeout,
                                                 attachment_ref(att), (GDestroyNotify)attachment_unref);
    g_autoptr(JsonObject) qmp_arguments = json_object_new();
    json_object_set_string_member(qmp_arguments, "id", att->qemu_id);
    oriel_qmp_client_execute_async(qmp, "device_del", qmp_arguments, USB_QMP_TIMEOUT_MS, NULL, on_device_del_sent,
                                   attachment_ref(att));
}

/* ---- list ------------------------------------------------------------------------- */

void
oriel_hv_cmd_domain_usb_list(OrielHv *hv, OrielHvCall *call, JsonObject *arguments)
{
    g_autoptr(GError) error = NULL;
    const char *name = NULL;

    if (!oriel_hv_usb_parse_list(arguments, &name, &error)) {
        oriel_hv_call_propagate(call, error);
        return;
    }
    OrielHvDomain *domain = oriel_hv_domain_lookup(hv, name);
    if (!domain) {
        oriel_hv_call_error(call, ORIEL_HV_ERROR_NOT_FOUND, "no domain named '%s'", name);
        return;
    }
    g_autoptr(GPtrArray) sorted = g_ptr_array_new();
    for (guint index = 0; index < ORIEL_USB_ATTACH_MAX; index++) {
        UsbAttachment *att = find_attachment(domain, index);
        if (att)
            g_ptr_array_add(sorted, att);
    }
    JsonArray *array = json_array_sized_new(sorted->len);
    for (guint i = 0; i < sorted->len; i++)
        json_array_add_object_element(array, describe(sorted->pdata[i]));
    g_autoptr(JsonNode) node = json_node_new(JSON_NODE_ARRAY);
    json_node_take_array(node, array);
    oriel_hv_call_return(call, node);
}

/* ---- lifecycle hooks ---------------------------------------------------------------- */

/* Lets go of every attachment; @stop_helpers: SIGTERM them too. */
static void
release_all(OrielHvDomain *domain, gboolean stop_helpers, const char *why)
{
    g_autoptr(GPtrArray) list = g_steal_pointer(&domain->usb);

    if (!list)
        return;
    for (guint i = 0; i < list->len; i++) {
        UsbAttachment *att = list->pdata[i];
        clear_qmp_wait(att);
        g_clear_handle_id(&att->timeout_id, g_source_remove);
        answer_error(att, ORIEL_HV_ERROR_GENERIC, "%s", why);
        if (stop_helpers) {
            stop_helper(att, FALSE);
            g_unlink(att->socket_path);
            g_unlink(att->log_path);
        } else {
            unwatch_helper(att);
        }
        att->domain = NULL;
    }
}

void
oriel_hv_usb_domain_stopped(OrielHvDomain *domain)
{
    g_autofree char *path = record_path(domain);

    if (domain->usb && domain->usb->len > 0)
        g_message("domain %s: stopping its %u USB disk helper(s)", domain->name, domain->usb->len);
    release_all(domain, TRUE, "the domain stopped");
    g_unlink(path);
}

void
oriel_hv_usb_domain_restarting(OrielHvDomain *domain)
{
    g_autoptr(GPtrArray) list = NULL;
    guint kept = 0;

    if (!domain->usb)
        return;
    /* A copy: an attach in flight leaves the list. */
    list = g_ptr_array_new_with_free_func((GDestroyNotify)attachment_unref);
    for (guint i = 0; i < domain->usb->len; i++)
        g_ptr_array_add(list, attachment_ref(domain->usb->pdata[i]));
    for (guint i = 0; i < list->len; i++) {
        UsbAttachment *att = list->pdata[i];
        if (!att->domain)
            continue;
        att->chardev_added = FALSE; /* the chardev went with QEMU */
        switch (att->state) {
        case USB_ATTACHING:
            if (att->replugging) {
                kept++; /* plugged into the next QEMU instead */
                break;
            }
            answer_error(att, ORIEL_HV_ERROR_GENERIC, "the domain's QEMU restarted during the attach");
            stop_helper(att, FALSE);
            remove_attachment(att);
            break;
        case USB_DETACHING:
            /* Nothing left in QEMU to remove: the helper's end finishes it. */
            if (!att->helper_stopping) {
                clear_qmp_wait(att);
                g_clear_handle_id(&att->timeout_id, g_source_remove);
                stop_helper_then_finish(att);
            }
            break;
        case USB_ATTACHED:
            att->state = USB_ATTACHING;
            att->replugging = TRUE;
            kept++;
            break;
        case USB_FAILED:
            kept++; /* stays failed, and can be detached */
            break;
        }
    }
    if (kept > 0)
        g_message("domain %s: keeping its %u USB disk(s) for the new QEMU", domain->name, kept);
    if (domain->usb && domain->usb->len == 0)
        g_clear_pointer(&domain->usb, g_ptr_array_unref);
    save_record(domain);
}

void
oriel_hv_usb_domain_started(OrielHvDomain *domain)
{
    OrielQmpClient *qmp = domain_qmp(domain);

    for (guint i = 0; domain->usb && i < domain->usb->len; i++) {
        UsbAttachment *att = domain->usb->pdata[i];
        if (att->state != USB_ATTACHING || !att->replugging)
            continue;
        if (!qmp) {
            g_autoptr(GError) error = g_error_new_literal(ORIEL_HV_ERROR, ORIEL_HV_ERROR_GENERIC,
                                                          "QMP is not connected");
            replug_failed(att, "chardev-add", error);
            continue;
        }
        add_chardev(att, qmp);
    }
}

void
oriel_hv_usb_forget(OrielHvDomain *domain)
{
    release_all(domain, FALSE, "the daemon is stopping");
}

/* The helper @pid still runs and is the one recorded. */
static gboolean
helper_matches(GPid pid, guint64 start, const char *disk)
{
    g_autofree char *path = g_strdup_printf("/proc/%d/cmdline", (int)pid);
    g_autofree char *cmdline = NULL;
    gsize length = 0;

    if (pid <= 1 || start == 0 || process_start_time(pid) != start)
        return FALSE;
    if (!g_file_get_contents(path, &cmdline, &length, NULL) || length == 0)
        return FALSE;
    for (gsize i = 0; i + 1 < length; i += strlen(cmdline + i) + 1) {
        /* --image-name, or --image from a daemon before the helper ran unprivileged */
        if ((g_str_equal(cmdline + i, "--image-name") || g_str_equal(cmdline + i, "--image")) &&
            i + strlen(cmdline + i) + 1 < length)
            return g_str_equal(cmdline + i + strlen(cmdline + i) + 1, disk);
    }
    return FALSE;
}

static UsbAttachment *
attachment_from_record(OrielHvDomain *domain, JsonObject *object, GError **error)
{
    const char *id = json_object_get_string_member_with_default(object, "id", "");
    const char *disk = json_object_get_string_member_with_default(object, "disk", "");
    const char *speed = json_object_get_string_member_with_default(object, "speed", "high");
    const char *state = json_object_get_string_member_with_default(object, "state", "");
    gint64 port = json_object_get_int_member_with_default(object, "port", 0);
    gint64 pid = json_object_get_int_member_with_default(object, "pid", 0);
    guint index = 0;
    struct stat st = { 0 };

    gboolean valid = FALSE;

    if (!parse_id(id, &index) || find_attachment(domain, index))
        invalid(error, "id '%.32s' is not valid or repeated", id);
    else if (disk[0] != '/' || strlen(disk) > USB_DISK_PATH_MAX)
        invalid(error, "%s: the disk path is not valid", id);
    else if (port < 1 || port > (gint64)oriel_qemu_usb_root_ports(domain->config))
        invalid(error, "%s: port %" G_GINT64_FORMAT " is not valid", id, port);
    else if (pid < 0 || pid > G_MAXINT)
        invalid(error, "%s: pid %" G_GINT64_FORMAT " is not valid", id, pid);
    else
        valid = TRUE;
    if (!valid)
        return NULL;

    UsbAttachment *att = g_new0(UsbAttachment, 1);
    g_autofree char *dir = domain_runtime_dir(domain);
    att->refs = 1;
    att->domain = domain;
    att->index = index;
    att->id = g_strdup(id);
    att->qemu_id = g_strdup_printf("oriel-%s", id);
    att->disk = g_strdup(disk);
    if (stat(disk, &st) == 0) {
        att->disk_dev = st.st_dev;
        att->disk_ino = st.st_ino;
    }
    att->read_only = json_object_get_boolean_member_with_default(object, "read_only", TRUE);
    att->speed = g_str_equal(speed, "super") ? ORIEL_HV_USB_SPEED_SUPER : ORIEL_HV_USB_SPEED_HIGH;
    att->port = (guint)port;
    att->restarted = json_object_get_boolean_member_with_default(object, "restarted", FALSE);
    const char *reason = json_object_get_string_member_with_default(object, "reason", NULL);
    if (reason && strlen(reason) <= USB_DISK_PATH_MAX + 200 && g_utf8_validate(reason, -1, NULL))
        att->failure = g_strdup(reason);
    att->pidfd = -1;
    att->socket_path = g_strdup_printf("%s/%s.sock", dir, id);
    att->log_path = g_strdup_printf("%s/%s.log", dir, id);
    att->state = g_str_equal(state, "attached") ? USB_ATTACHED
                 : g_str_equal(state, "failed") ? USB_FAILED
                                                : USB_DETACHING; /* an attach or detach was cut short */
    att->pid = (GPid)pid;
    att->pid_start = (guint64)json_object_get_int_member_with_default(object, "pid-start", 0);
    return att;
}

void
oriel_hv_usb_recover(OrielHvDomain *domain, gboolean qemu_running)
{
    g_autofree char *path = record_path(domain);
    g_autoptr(JsonParser) parser = json_parser_new();
    g_autoptr(GError) error = NULL;
    g_autofree char *text = NULL;
    gsize length = 0;

    if (!g_file_get_contents(path, &text, &length, NULL))
        return;
    if (length > USB_RECORD_MAX || !json_parser_load_from_data(parser, text, (gssize)length, &error)) {
        g_message("%s: %s", path, error ? error->message : "too large");
        g_unlink(path);
        return;
    }
    JsonNode *root = json_parser_get_root(parser);
    JsonObject *record = root && JSON_NODE_HOLDS_OBJECT(root) ? json_node_get_object(root) : NULL;
    JsonNode *list_node = record ? json_object_get_member(record, "attachments") : NULL;
    JsonArray *list = list_node && JSON_NODE_HOLDS_ARRAY(list_node) ? json_node_get_array(list_node) : NULL;
    guint count = list ? MIN(json_array_get_length(list), ORIEL_USB_ATTACH_MAX) : 0;
    OrielQmpClient *qmp = qemu_running ? domain_qmp(domain) : NULL;

    if (!domain->usb)
        domain->usb = g_ptr_array_new_with_free_func((GDestroyNotify)attachment_unref);
    for (guint i = 0; i < count; i++) {
        JsonNode *element = json_array_get_element(list, i);
        g_autoptr(GError) entry_error = NULL;
        UsbAttachment *att = JSON_NODE_HOLDS_OBJECT(element)
            ? attachment_from_record(domain, json_node_get_object(element), &entry_error)
            : NULL;
        if (!att) {
            g_message("%s: skipping entry %u: %s", path, i, entry_error ? entry_error->message : "not an object");
            continue;
        }
        gboolean alive = att->pid > 0 && helper_matches(att->pid, att->pid_start, att->disk);
        if (!alive)
            att->pid = 0;
        g_ptr_array_add(domain->usb, att);
        if (!qemu_running || att->state == USB_DETACHING) {
            /* QEMU is gone, or an attach or detach was cut short: undo it all. */
            if (qmp) {
                qmp_remove_quietly(qmp, "device_del", "id", att->qemu_id);
                qmp_remove_quietly(qmp, "chardev-remove", "id", att->qemu_id);
            }
            if (alive)
                kill(att->pid, SIGTERM);
            att->pid = 0;
            g_message("domain %s: USB disk %s dropped after the restart", domain->name, att->id);
            remove_attachment(att);
            continue;
        }
        if (alive) {
            watch_helper(att, att->pid, FALSE);
            g_message("domain %s: USB disk %s re-adopted (helper %d)", domain->name, att->id, (int)att->pid);
        } else if (att->state == USB_ATTACHED) {
            g_message("domain %s: USB disk %s: its helper ended while no daemon ran", domain->name, att->id);
            helper_ended(att);
        }
    }
    if (domain->usb->len == 0)
        g_clear_pointer(&domain->usb, g_ptr_array_unref);
    if (!qemu_running)
        g_unlink(path);
    else
        save_record(domain);
}
