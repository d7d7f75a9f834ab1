/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * oriel-usbdisk: an emulated USB mass-storage device backed by a raw image,
 * served over usbredir to QEMU's usb-redir device.
 *
 *   oriel-usbdisk (--image PATH | --image-fd N [--image-name PATH]) [--read-only]
 *                 (--listen PATH | --fd N) [--speed high|super] [--serial STR]
 *
 * QEMU connects as a chardev client (-chardev socket,id=X,path=PATH
 * -device usb-redir,chardev=X).  One connection at a time; when the peer
 * goes, the device waits for the next.  SIGTERM/SIGINT: sync the image and
 * exit 0.
 *
 * orield opens the image and the socket itself and starts the helper
 * without privileges (--image-fd, --fd): the process that parses what the
 * guest sends holds those two descriptors and no right to open anything.
 * Once they are set up, the helper also forbids itself new privileges and
 * being traced or dumped.
 */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <gio/gio.h>
#include <glib-unix.h>
#include <glib.h>

#include "usbdisk-redir.h"
#include "usbdisk-scsi.h"

#define READ_CHUNK (256 * 1024)

typedef struct {
    GMainLoop *loop;
    UsbdiskBot *bot;
    UsbdiskSpeed speed;
    char *serial;
    int image_fd;
    const char *image_path;
    int listen_fd;
    guint listen_source;

    int conn_fd;
    UsbdiskRedir *redir;
    guint conn_in_source;
    guint conn_out_source;
    guint8 *read_buf;
    int exit_status;
} Server;

static void watch_listen(Server *s);
static void update_conn_watches(Server *s);

static int
conn_write(gpointer opaque, const guint8 *data, int count)
{
    Server *s = opaque;
    ssize_t n;

    do {
        n = send(s->conn_fd, data, count, MSG_NOSIGNAL | MSG_DONTWAIT);
    } while (n < 0 && errno == EINTR);
    if (n < 0)
        return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
    return n;
}

static void
close_connection(Server *s, const char *why)
{
    g_message("usbredir peer disconnected: %s", why);
    g_clear_handle_id(&s->conn_in_source, g_source_remove);
    g_clear_handle_id(&s->conn_out_source, g_source_remove);
    g_clear_pointer(&s->redir, usbdisk_redir_free);
    if (s->conn_fd >= 0) {
        close(s->conn_fd);
        s->conn_fd = -1;
    }
    if (!usbdisk_bot_flush(s->bot))
        g_warning("%s: syncing the image failed: %s", s->image_path, g_strerror(errno));
    usbdisk_bot_bus_reset(s->bot);
    watch_listen(s);
}

static gboolean
on_conn_in(int fd, GIOCondition condition, gpointer user_data)
{
    Server *s = user_data;
    g_autoptr(GError) error = NULL;
    ssize_t n;

    do {
        n = recv(fd, s->read_buf, READ_CHUNK, MSG_DONTWAIT);
    } while (n < 0 && errno == EINTR);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return G_SOURCE_CONTINUE;
    if (n <= 0) {
        s->conn_in_source = 0;
        close_connection(s, n == 0 ? "end of stream" : g_strerror(errno));
        return G_SOURCE_REMOVE;
    }
    if (!usbdisk_redir_feed(s->redir, s->read_buf, n, &error)) {
        s->conn_in_source = 0;
        close_connection(s, error->message);
        return G_SOURCE_REMOVE;
    }
    update_conn_watches(s);
    return s->conn_in_source ? G_SOURCE_CONTINUE : G_SOURCE_REMOVE;
}

static gboolean
on_conn_out(int fd, GIOCondition condition, gpointer user_data)
{
    Server *s = user_data;
    g_autoptr(GError) error = NULL;

    if (!usbdisk_redir_flush(s->redir, &error)) {
        s->conn_out_source = 0;
        close_connection(s, error->message);
        return G_SOURCE_REMOVE;
    }
    update_conn_watches(s);
    return s->conn_out_source ? G_SOURCE_CONTINUE : G_SOURCE_REMOVE;
}

/* Waits for POLLOUT while answers are queued, and reads only what the
 * device wants: a peer that sends requests without reading the answers
 * stops being read (memory stays bounded). */
static void
update_conn_watches(Server *s)
{
    gboolean pending = usbdisk_redir_pending_output(s->redir) > 0;
    gboolean wants_input = usbdisk_redir_wants_input(s->redir);

    if (pending && !s->conn_out_source)
        s->conn_out_source = g_unix_fd_add(s->conn_fd, G_IO_OUT, on_conn_out, s);
    else if (!pending && s->conn_out_source)
        g_clear_handle_id(&s->conn_out_source, g_source_remove);

    if (wants_input && !s->conn_in_source)
        s->conn_in_source = g_unix_fd_add(s->conn_fd, G_IO_IN | G_IO_HUP | G_IO_ERR,
                                          on_conn_in, s);
    else if (!wants_input && s->conn_in_source)
        g_clear_handle_id(&s->conn_in_source, g_source_remove);
}

static gboolean
on_accept(int fd, GIOCondition condition, gpointer user_data)
{
    Server *s = user_data;
    static const UsbdiskRedirOps ops = { .write = conn_write };
    g_autoptr(GError) error = NULL;
    int conn = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

    if (conn < 0) {
        if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR && errno != ECONNABORTED)
            g_message("accept: %s", g_strerror(errno)); /* the next try may work */
        return G_SOURCE_CONTINUE;
    }
    g_message("usbredir peer connected");
    s->conn_fd = conn;
    s->redir = usbdisk_redir_new(s->bot, s->speed, s->serial, &ops, s);
    /* One peer at a time: the next waits in the backlog. */
    s->listen_source = 0;
    if (!usbdisk_redir_flush(s->redir, &error)) {
        close_connection(s, error->message);
        return G_SOURCE_REMOVE;
    }
    update_conn_watches(s);
    return G_SOURCE_REMOVE;
}

static void
watch_listen(Server *s)
{
    if (!s->listen_source)
        s->listen_source = g_unix_fd_add(s->listen_fd, G_IO_IN, on_accept, s);
}

static gboolean
on_signal(gpointer user_data)
{
    Server *s = user_data;

    g_message("stopping");
    g_main_loop_quit(s->loop);
    return G_SOURCE_CONTINUE;
}

/* Binds a Unix socket at path, mode 0600.  A socket file nobody listens on
 * is a stale one and is replaced; anything else at path is an error. */
static int
listen_on_path(const char *path, GError **error)
{
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    struct stat st;
    int fd;

    if (strlen(path) >= sizeof addr.sun_path) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_FILENAME_TOO_LONG,
                    "%s: a Unix socket path is at most %zu bytes", path,
                    sizeof addr.sun_path - 1);
        return -1;
    }
    strcpy(addr.sun_path, path);

    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            g_set_error(error, G_IO_ERROR, G_IO_ERROR_EXISTS,
                        "%s: exists and is not a socket", path);
            return -1;
        }
        int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (probe >= 0 && connect(probe, (struct sockaddr *) &addr, sizeof addr) == 0) {
            close(probe);
            g_set_error(error, G_IO_ERROR, G_IO_ERROR_ADDRESS_IN_USE,
                        "%s: another process is listening on this socket", path);
            return -1;
        }
        if (probe >= 0)
            close(probe);
        if (unlink(path) < 0 && errno != ENOENT) {
            g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno),
                        "%s: removing the stale socket: %s", path, g_strerror(errno));
            return -1;
        }
    }

    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno), "socket: %s",
                    g_strerror(errno));
        return -1;
    }
    mode_t old_mask = umask(0177);
    int r = bind(fd, (struct sockaddr *) &addr, sizeof addr);
    int saved = errno;
    umask(old_mask);
    if (r < 0 || chmod(path, 0600) < 0 || listen(fd, 4) < 0) {
        if (r == 0)
            saved = errno;
        g_set_error(error, G_IO_ERROR, g_io_error_from_errno(saved), "%s: %s", path,
                    g_strerror(saved));
        close(fd);
        return -1;
    }
    return fd;
}

static gboolean
check_listening_fd(int fd, GError **error)
{
    int accepting = 0;
    int type = 0;
    socklen_t len = sizeof accepting;
    socklen_t type_len = sizeof type;

    if (getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &accepting, &len) < 0 ||
        getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &type_len) < 0) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                    "--fd %d: not a socket: %s", fd, g_strerror(errno));
        return FALSE;
    }
    if (!accepting || type != SOCK_STREAM) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                    "--fd %d: not a listening stream socket", fd);
        return FALSE;
    }
    fcntl(fd, F_SETFD, FD_CLOEXEC);
    return TRUE;
}

/*
 * Image locking that QEMU's own (file-posix "locking") understands, so that
 * a helper and a QEMU drive, or two helpers, never write one image at once:
 * a shared OFD lock on byte 100 + P says "I use permission P", on byte
 * 200 + P "I let no one else have P".  P 0 is consistent read, 1 write.
 */
#define LOCK_PERM_BASE 100
#define LOCK_SHARED_BASE 200
#define PERM_CONSISTENT_READ 0
#define PERM_WRITE 1

static gboolean
hold_lock_byte(int fd, off_t offset)
{
    struct flock lock = {
        .l_type = F_RDLCK,
        .l_whence = SEEK_SET,
        .l_start = offset,
        .l_len = 1,
    };

    return fcntl(fd, F_OFD_SETLK, &lock) == 0;
}

/* TRUE when another open file description holds a lock on the byte. */
static gboolean
lock_byte_held(int fd, off_t offset)
{
    struct flock lock = {
        .l_type = F_WRLCK,
        .l_whence = SEEK_SET,
        .l_start = offset,
        .l_len = 1,
    };

    return fcntl(fd, F_OFD_GETLK, &lock) < 0 || lock.l_type != F_UNLCK;
}

static gboolean
lock_image(int fd, const char *path, gboolean read_only, GError **error)
{
    const char *conflict = NULL;

    /* Whatever the mode, no one else may write while the guest uses the
     * disk; read-write also needs no one else to refuse writers. */
    if (!hold_lock_byte(fd, LOCK_PERM_BASE + PERM_CONSISTENT_READ) ||
        !hold_lock_byte(fd, LOCK_SHARED_BASE + PERM_WRITE) ||
        (!read_only && !hold_lock_byte(fd, LOCK_PERM_BASE + PERM_WRITE))) {
        g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(errno),
                    "%s: locking the image: %s", path, g_strerror(errno));
        return FALSE;
    }
    if (lock_byte_held(fd, LOCK_PERM_BASE + PERM_WRITE))
        conflict = "another process writes to it";
    else if (lock_byte_held(fd, LOCK_SHARED_BASE + PERM_CONSISTENT_READ))
        conflict = "another process has it exclusively";
    else if (!read_only && lock_byte_held(fd, LOCK_SHARED_BASE + PERM_WRITE))
        conflict = "another process uses it and allows no writer";
    if (conflict) {
        g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_PERM,
                    "%s: the image is in use: %s", path, conflict);
        return FALSE;
    }
    return TRUE;
}

/* Checks the image behind @fd and locks it; the size in @size. */
static gboolean
setup_image(int fd, const char *path, gboolean read_only, guint64 *size, GError **error)
{
    struct stat st;

    if (fstat(fd, &st) < 0 || !(S_ISREG(st.st_mode) || S_ISBLK(st.st_mode))) {
        g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                    "%s: not a regular file or block device", path);
        return FALSE;
    }
    off_t end = lseek(fd, 0, SEEK_END);
    if (end < 0) {
        g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(errno), "%s: %s", path,
                    g_strerror(errno));
        return FALSE;
    }
    if (!usbdisk_image_check(path, end, error))
        return FALSE;
    if (!lock_image(fd, path, read_only, error))
        return FALSE;
    *size = end;
    return TRUE;
}

static int
open_image(const char *path, gboolean read_only, guint64 *size, GError **error)
{
    int fd = open(path, (read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC);

    if (fd < 0) {
        g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(errno), "%s: %s", path,
                    g_strerror(errno));
        return -1;
    }
    if (!setup_image(fd, path, read_only, size, error)) {
        close(fd);
        return -1;
    }
    return fd;
}

/* An image opened by the caller (orield): its access mode must allow what
 * the disk does; locked like an image opened here.  @name is for messages. */
static gboolean
adopt_image_fd(int fd, const char *name, gboolean read_only, guint64 *size, GError **error)
{
    int flags = fcntl(fd, F_GETFL);

    if (flags < 0) {
        g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(errno), "%d: %s", fd,
                    g_strerror(errno));
        return FALSE;
    }
    if ((flags & O_ACCMODE) != O_RDWR && ((flags & O_ACCMODE) != O_RDONLY || !read_only)) {
        g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                    "%d (%s): not open for %s", fd, name,
                    read_only ? "reading" : "reading and writing");
        return FALSE;
    }
    if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0 || ((flags & O_NONBLOCK) && fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) < 0)) {
        g_set_error(error, G_FILE_ERROR, g_file_error_from_errno(errno), "%d (%s): %s", fd,
                    name, g_strerror(errno));
        return FALSE;
    }
    return setup_image(fd, name, read_only, size, error);
}

/* Cheap limits once everything is open: no new privileges through exec,
 * and no tracing or core dump by a process of the same user (QEMU). */
static void
restrict_self(void)
{
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
        g_message("cannot set no_new_privs: %s", g_strerror(errno));
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
        g_message("cannot clear the dumpable flag: %s", g_strerror(errno));
}

int
main(int argc, char **argv)
{
    g_autofree char *image = NULL;
    g_autofree char *image_name = NULL;
    g_autofree char *listen_path = NULL;
    g_autofree char *speed = NULL;
    g_autofree char *serial = NULL;
    gboolean read_only = FALSE;
    int listen_fd_arg = -1;
    int image_fd_arg = -1;
    GOptionEntry entries[] = {
        { "image", 0, 0, G_OPTION_ARG_FILENAME, &image, "Raw disk image", "PATH" },
        { "image-fd", 0, 0, G_OPTION_ARG_INT, &image_fd_arg, "Raw disk image open on this fd",
          "N" },
        { "image-name", 0, 0, G_OPTION_ARG_FILENAME, &image_name,
          "The --image-fd image's path, for messages", "PATH" },
        { "read-only", 0, 0, G_OPTION_ARG_NONE, &read_only, "Write-protect the disk", NULL },
        { "listen", 0, 0, G_OPTION_ARG_FILENAME, &listen_path, "Listen on a Unix socket",
          "PATH" },
        { "fd", 0, 0, G_OPTION_ARG_INT, &listen_fd_arg, "Accept on this listening socket",
          "N" },
        { "speed", 0, 0, G_OPTION_ARG_STRING, &speed, "high (USB 2, default) or super (USB 3)",
          "SPEED" },
        { "serial", 0, 0, G_OPTION_ARG_STRING, &serial, "USB serial number", "STR" },
        { NULL },
    };
    g_autoptr(GOptionContext) context =
        g_option_context_new("- emulated USB disk served over usbredir");
    g_autoptr(GError) error = NULL;
    Server s = { .conn_fd = -1, .listen_fd = -1, .exit_status = 0 };
    guint64 size = 0;

    /* Every bulk-in answer is a buffer of up to a few hundred KiB, freed
     * right after: keep them on the heap rather than mmap/munmap and
     * page-fault them afresh for each transfer. */
    mallopt(M_MMAP_THRESHOLD, 8 * 1024 * 1024);
    mallopt(M_TRIM_THRESHOLD, 32 * 1024 * 1024);

    g_option_context_add_main_entries(context, entries, NULL);
    if (!g_option_context_parse(context, &argc, &argv, &error)) {
        g_printerr("oriel-usbdisk: %s\n", error->message);
        return 2;
    }
    if (argc > 1) {
        g_printerr("oriel-usbdisk: unexpected argument \"%s\"\n", argv[1]);
        return 2;
    }
    if ((image != NULL) == (image_fd_arg >= 0)) {
        g_printerr("oriel-usbdisk: give exactly one of --image PATH and --image-fd N\n");
        return 2;
    }
    if (image_name && image) {
        g_printerr("oriel-usbdisk: --image-name goes with --image-fd\n");
        return 2;
    }
    if (image_fd_arg >= 0 && image_fd_arg == listen_fd_arg) {
        g_printerr("oriel-usbdisk: --image-fd and --fd must differ\n");
        return 2;
    }
    if ((listen_path != NULL) == (listen_fd_arg >= 0)) {
        g_printerr("oriel-usbdisk: give exactly one of --listen PATH and --fd N\n");
        return 2;
    }
    if (!speed || g_str_equal(speed, "high")) {
        s.speed = USBDISK_SPEED_HIGH;
    } else if (g_str_equal(speed, "super")) {
        s.speed = USBDISK_SPEED_SUPER;
    } else {
        g_printerr("oriel-usbdisk: --speed \"%s\": must be high or super\n", speed);
        return 2;
    }
    if (!serial)
        serial = g_strdup("0000000000000001");
    if (!usbdisk_serial_check(serial, &error)) {
        g_printerr("oriel-usbdisk: --%s\n", error->message);
        return 2;
    }

    if (image) {
        s.image_fd = open_image(image, read_only, &size, &error);
        if (s.image_fd < 0) {
            g_printerr("oriel-usbdisk: --image %s\n", error->message);
            return 1;
        }
    } else {
        if (!image_name)
            image_name = g_strdup_printf("fd %d", image_fd_arg);
        if (!adopt_image_fd(image_fd_arg, image_name, read_only, &size, &error)) {
            g_printerr("oriel-usbdisk: --image-fd %s\n", error->message);
            return 1;
        }
        s.image_fd = image_fd_arg;
        image = g_steal_pointer(&image_name);
    }
    s.image_path = image;

    if (listen_path) {
        s.listen_fd = listen_on_path(listen_path, &error);
        if (s.listen_fd < 0) {
            g_printerr("oriel-usbdisk: --listen %s\n", error->message);
            return 1;
        }
    } else {
        if (!check_listening_fd(listen_fd_arg, &error)) {
            g_printerr("oriel-usbdisk: %s\n", error->message);
            return 1;
        }
        s.listen_fd = listen_fd_arg;
    }
    if (!g_unix_set_fd_nonblocking(s.listen_fd, TRUE, &error)) {
        g_printerr("oriel-usbdisk: %s\n", error->message);
        return 1;
    }

    restrict_self();

    s.serial = serial;
    s.bot = usbdisk_bot_new(s.image_fd, size, read_only, serial);
    s.read_buf = g_malloc(READ_CHUNK);
    s.loop = g_main_loop_new(NULL, FALSE);
    g_unix_signal_add(SIGTERM, on_signal, &s);
    g_unix_signal_add(SIGINT, on_signal, &s);
    watch_listen(&s);
    g_autofree char *where =
        listen_path ? g_strdup(listen_path) : g_strdup_printf("fd %d", s.listen_fd);
    g_message("serving %s (%" G_GUINT64_FORMAT " bytes, %s, %s speed) on %s", image, size,
              read_only ? "read-only" : "read-write",
              s.speed == USBDISK_SPEED_SUPER ? "super" : "high", where);

    g_main_loop_run(s.loop);

    if (s.redir) {
        g_autoptr(GError) flush_error = NULL;
        usbdisk_redir_flush(s.redir, &flush_error); /* best effort */
    }
    g_clear_pointer(&s.redir, usbdisk_redir_free);
    if (s.conn_fd >= 0)
        close(s.conn_fd);
    if (!usbdisk_bot_flush(s.bot)) {
        g_printerr("oriel-usbdisk: %s: syncing the image failed: %s\n", image,
                   g_strerror(errno));
        s.exit_status = 1;
    }
    if (listen_path)
        unlink(listen_path);
    close(s.listen_fd);
    close(s.image_fd);
    usbdisk_bot_free(s.bot);
    g_free(s.read_buf);
    g_main_loop_unref(s.loop);
    return s.exit_status;
}
