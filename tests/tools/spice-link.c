/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* spice-link: sends a SPICE link request for the main channel and reads the
 * server's link reply, without spice-client-glib.  For the benchmark: "SPICE
 * answers" means a real link reply, not a TCP accept.
 *
 *   spice-link --host H --port P                    one attempt
 *   spice-link --host H --port P --wait-ms T        retry until answered
 *   spice-link --host H --port P --wait-ms T -- COMMAND ARGS...
 *       exec COMMAND, time the link reply from just before exec, then stop
 *       COMMAND's process group and report its exit status. */
#define G_LOG_DOMAIN "spice-link"

#include "spice-link-proto.h"

#include <gio/gio.h>

#include <errno.h>
#include <fcntl.h>
#include <locale.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum {
    EXIT_LINK_OK = 0,
    EXIT_LINK_USAGE = 1,
    EXIT_LINK_REFUSED_BY_SERVER = 2,   /* a link reply with a non-zero error */
    EXIT_LINK_CONNECT = 3,
    EXIT_LINK_TIMEOUT = 4,
    EXIT_LINK_PROTOCOL = 5,
    EXIT_LINK_COMMAND = 6,             /* COMMAND did not exec or exited first */
    EXIT_LINK_INTERRUPTED = 130,
};

/* A measuring tool polls where production code must not (STYLE.md rule 12):
 * QEMU gives us no event for "SPICE is listening", so between refused
 * connects we wait this long, woken early if the command exits. */
#define RETRY_DELAY_MS 2
#define SINGLE_ATTEMPT_TIMEOUT_MS 5000
#define STOP_TIMEOUT_MS_DEFAULT 10000

typedef enum {
    ATTEMPT_ANSWERED,
    ATTEMPT_REFUSED,      /* ECONNREFUSED: nobody listens yet */
    ATTEMPT_TIMEOUT,
    ATTEMPT_INTERRUPTED,  /* the command exited, or we got SIGINT/SIGTERM */
    ATTEMPT_FAILED,
} AttemptResult;

typedef struct {
    struct addrinfo *addresses;
    int signal_fd;        /* SIGCHLD, SIGINT, SIGTERM; -1 if unused */
    pid_t child;          /* 0 without a command */
    gboolean child_exited;
    int child_status;
    gboolean interrupted; /* SIGINT/SIGTERM to us */
} Linker;

static gint64
now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (gint64)ts.tv_sec * G_USEC_PER_SEC + ts.tv_nsec / 1000;
}

/* Remaining milliseconds until deadline, rounded up, clamped to >= 0. */
static int
remaining_ms(gint64 deadline_us)
{
    gint64 left = deadline_us - now_us();

    if (left <= 0)
        return 0;
    return (int)MIN((left + 999) / 1000, G_MAXINT);
}

/* Drains the signal fd; notes a child exit or an interrupt. */
static void
linker_read_signals(Linker *linker)
{
    struct signalfd_siginfo info;

    while (read(linker->signal_fd, &info, sizeof(info)) == (ssize_t)sizeof(info)) {
        if (info.ssi_signo == SIGINT || info.ssi_signo == SIGTERM)
            linker->interrupted = TRUE;
    }
    if (linker->child > 0 && !linker->child_exited &&
        waitpid(linker->child, &linker->child_status, WNOHANG) == linker->child)
        linker->child_exited = TRUE;
}

static gboolean
linker_should_stop(const Linker *linker)
{
    return linker->interrupted || linker->child_exited;
}

/* Waits for fd to become ready for events, the deadline, or a signal. */
static AttemptResult
linker_wait_fd(Linker *linker, int fd, short events, gint64 deadline_us)
{
    for (;;) {
        struct pollfd fds[2] = {
            { .fd = fd, .events = events },
            { .fd = linker->signal_fd, .events = POLLIN },
        };
        int n = poll(fds, linker->signal_fd >= 0 ? 2 : 1, remaining_ms(deadline_us));

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return ATTEMPT_FAILED;
        if (fds[1].revents) {
            linker_read_signals(linker);
            if (linker_should_stop(linker))
                return ATTEMPT_INTERRUPTED;
        }
        if (fds[0].revents)
            return ATTEMPT_ANSWERED;
        if (n == 0)
            return ATTEMPT_TIMEOUT;
    }
}

static AttemptResult
read_exactly(Linker *linker, int fd, guint8 *buf, gsize len, gint64 deadline_us,
             GError **error)
{
    gsize done = 0;

    while (done < len) {
        AttemptResult r;
        ssize_t n = recv(fd, buf + done, len - done, 0);

        if (n > 0) {
            done += (gsize)n;
            continue;
        }
        if (n == 0) {
            g_set_error(error, G_IO_ERROR, G_IO_ERROR_CONNECTION_CLOSED,
                        "connection closed after %" G_GSIZE_FORMAT " of %" G_GSIZE_FORMAT
                        " bytes of the link reply", done, len);
            return ATTEMPT_FAILED;
        }
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN) {
            g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno),
                        "reading the link reply: %s", g_strerror(errno));
            return ATTEMPT_FAILED;
        }
        r = linker_wait_fd(linker, fd, POLLIN, deadline_us);
        if (r != ATTEMPT_ANSWERED)
            return r;
    }
    return ATTEMPT_ANSWERED;
}

static AttemptResult
write_all(Linker *linker, int fd, const guint8 *buf, gsize len, gint64 deadline_us,
          GError **error)
{
    gsize done = 0;

    while (done < len) {
        AttemptResult r;
        ssize_t n = send(fd, buf + done, len - done, MSG_NOSIGNAL);

        if (n >= 0) {
            done += (gsize)n;
            continue;
        }
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN) {
            g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno),
                        "sending the link request: %s", g_strerror(errno));
            return ATTEMPT_FAILED;
        }
        r = linker_wait_fd(linker, fd, POLLOUT, deadline_us);
        if (r != ATTEMPT_ANSWERED)
            return r;
    }
    return ATTEMPT_ANSWERED;
}

static AttemptResult
connect_one(Linker *linker, const struct addrinfo *ai, int *ret_fd, gint64 deadline_us,
            GError **error)
{
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                    ai->ai_protocol);
    int so_error = 0;
    socklen_t so_len = sizeof(so_error);
    AttemptResult r;

    if (fd < 0) {
        g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno), "socket: %s",
                    g_strerror(errno));
        return ATTEMPT_FAILED;
    }
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
        *ret_fd = fd;
        return ATTEMPT_ANSWERED;
    }
    if (errno == EINPROGRESS) {
        r = linker_wait_fd(linker, fd, POLLOUT, deadline_us);
        if (r != ATTEMPT_ANSWERED) {
            close(fd);
            return r;
        }
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &so_error, &so_len) < 0)
            so_error = errno;
        errno = so_error;
    }
    if (errno == 0) {
        *ret_fd = fd;
        return ATTEMPT_ANSWERED;
    }
    so_error = errno;
    close(fd);
    if (so_error == ECONNREFUSED)
        return ATTEMPT_REFUSED;
    g_set_error(error, G_IO_ERROR, g_io_error_from_errno(so_error), "connect: %s",
                g_strerror(so_error));
    return ATTEMPT_FAILED;
}

/* One link handshake on one address. */
static AttemptResult
link_once(Linker *linker, const struct addrinfo *ai, gint64 deadline_us,
          SpiceLinkReplyInfo *ret_reply, GError **error)
{
    g_autoptr(GBytes) request = spice_link_request_new(SPICE_CHANNEL_MAIN, 0);
    guint8 header[SPICE_LINK_HEADER_SIZE];
    g_autofree guint8 *body = NULL;
    guint32 body_size = 0;
    guint32 minor = 0;
    gsize request_len = 0;
    const guint8 *request_data = g_bytes_get_data(request, &request_len);
    SpiceLinkReplyInfo reply = { 0 };
    AttemptResult r;
    int fd = -1;

    r = connect_one(linker, ai, &fd, deadline_us, error);
    if (r != ATTEMPT_ANSWERED)
        return r;
    r = write_all(linker, fd, request_data, request_len, deadline_us, error);
    if (r == ATTEMPT_ANSWERED)
        r = read_exactly(linker, fd, header, sizeof(header), deadline_us, error);
    if (r == ATTEMPT_ANSWERED &&
        !spice_link_reply_header_parse(header, sizeof(header), &body_size, &minor, error))
        r = ATTEMPT_FAILED;
    if (r == ATTEMPT_ANSWERED) {
        body = g_malloc(body_size);   /* bounded by the header parser */
        r = read_exactly(linker, fd, body, body_size, deadline_us, error);
    }
    if (r == ATTEMPT_ANSWERED && !spice_link_reply_body_parse(body, body_size, &reply, error))
        r = ATTEMPT_FAILED;
    close(fd);
    if (r != ATTEMPT_ANSWERED)
        return r;
    reply.minor_version = minor;
    *ret_reply = reply;
    return ATTEMPT_ANSWERED;
}

/* Tries every address once; refused only if all of them refused. */
static AttemptResult
link_attempt(Linker *linker, gint64 deadline_us, SpiceLinkReplyInfo *ret_reply,
             GError **error)
{
    AttemptResult result = ATTEMPT_REFUSED;

    for (const struct addrinfo *ai = linker->addresses; ai; ai = ai->ai_next) {
        g_autoptr(GError) local_error = NULL;
        AttemptResult r = link_once(linker, ai, deadline_us, ret_reply, &local_error);

        if (r == ATTEMPT_ANSWERED || r == ATTEMPT_TIMEOUT || r == ATTEMPT_INTERRUPTED)
            return r;
        if (r == ATTEMPT_FAILED) {
            result = r;
            g_clear_error(error);
            g_propagate_error(error, g_steal_pointer(&local_error));
        }
    }
    return result;
}

/* The retry loop: the one place in Oriel where retrying a refused connect
 * is right, because measuring when the port starts answering is the point. */
static AttemptResult
link_wait(Linker *linker, gint64 deadline_us, SpiceLinkReplyInfo *ret_reply, GError **error)
{
    for (;;) {
        AttemptResult r;

        g_clear_error(error);
        r = link_attempt(linker, deadline_us, ret_reply, error);
        if (r != ATTEMPT_REFUSED)
            return r;
        if (remaining_ms(deadline_us) == 0)
            return ATTEMPT_TIMEOUT;
        if (linker->signal_fd >= 0) {
            struct pollfd pfd = { .fd = linker->signal_fd, .events = POLLIN };
            if (poll(&pfd, 1, MIN(RETRY_DELAY_MS, remaining_ms(deadline_us))) > 0) {
                linker_read_signals(linker);
                if (linker_should_stop(linker))
                    return ATTEMPT_INTERRUPTED;
            }
        } else {
            g_usleep(RETRY_DELAY_MS * 1000);
        }
    }
}

/* ---- the command --------------------------------------------------------- */

/* Between fork and exec only async-signal-safe calls.  The child reports
 * the time just before exec (and errno if exec fails) through a CLOEXEC
 * pipe: EOF after the timestamp means exec succeeded. */
static G_GNUC_NORETURN void
child_exec(char **argv, int report_fd, int null_fd, gboolean quiet,
           const sigset_t *old_mask)
{
    gint64 t;
    int saved_errno;

    setpgid(0, 0);
    /* A shell that started us in the background left SIGINT ignored, and
     * an ignored signal survives exec: --stop-signal INT must still work. */
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    sigprocmask(SIG_SETMASK, old_mask, NULL);
    dup2(null_fd, STDIN_FILENO);
    if (quiet) {
        dup2(null_fd, STDOUT_FILENO);
        dup2(null_fd, STDERR_FILENO);
    }
    t = now_us();
    if (write(report_fd, &t, sizeof(t)) != (ssize_t)sizeof(t))
        _exit(127);
    execvp(argv[0], argv);
    saved_errno = errno;
    if (write(report_fd, &saved_errno, sizeof(saved_errno)) < 0)
        _exit(127);
    _exit(127);
}

static gboolean
spawn_command(Linker *linker, char **argv, gboolean quiet, const sigset_t *old_mask,
              gint64 *ret_exec_us, GError **error)
{
    int report[2];
    int null_fd;
    pid_t pid;
    gint64 exec_us = 0;
    int exec_errno = 0;
    ssize_t n;

    null_fd = open("/dev/null", O_RDWR | O_CLOEXEC);
    if (null_fd < 0 || pipe2(report, O_CLOEXEC) < 0) {
        g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno), "%s",
                    g_strerror(errno));
        if (null_fd >= 0)
            close(null_fd);
        return FALSE;
    }
    pid = fork();
    if (pid == 0)
        child_exec(argv, report[1], null_fd, quiet, old_mask);
    close(report[1]);
    close(null_fd);
    if (pid < 0) {
        g_set_error(error, G_IO_ERROR, g_io_error_from_errno(errno), "fork: %s",
                    g_strerror(errno));
        close(report[0]);
        return FALSE;
    }
    /* Also from here, so the group exists whichever side runs first. */
    setpgid(pid, pid);
    linker->child = pid;

    do
        n = read(report[0], &exec_us, sizeof(exec_us));
    while (n < 0 && errno == EINTR);
    if (n == (ssize_t)sizeof(exec_us)) {
        do
            n = read(report[0], &exec_errno, sizeof(exec_errno));
        while (n < 0 && errno == EINTR);
    }
    close(report[0]);
    if (n != 0 || exec_us == 0) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_FAILED, "cannot run %s: %s", argv[0],
                    exec_errno ? g_strerror(exec_errno) : "exec failed");
        return FALSE;
    }
    *ret_exec_us = exec_us;
    return TRUE;
}

static int
exit_status_number(int status)
{
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    if (WIFSIGNALED(status))
        return 128 + WTERMSIG(status);
    return -1;
}

/* Reaps every process of the command's group that is our child (we are a
 * subreaper, so orphans of the group come to us) until none is left or the
 * deadline passes.  Returns TRUE if the group is gone. */
static gboolean
reap_group(Linker *linker, gint64 deadline_us)
{
    for (;;) {
        int status = 0;
        pid_t pid = waitpid(-linker->child, &status, WNOHANG);

        if (pid == linker->child) {
            linker->child_exited = TRUE;
            linker->child_status = status;
        }
        if (pid > 0)
            continue;
        if (pid < 0 && errno == EINTR)
            continue;
        if (pid < 0)
            return TRUE;    /* ECHILD: nothing of the group is left */
        if (remaining_ms(deadline_us) == 0)
            return FALSE;
        struct pollfd pfd = { .fd = linker->signal_fd, .events = POLLIN };
        if (poll(&pfd, 1, remaining_ms(deadline_us)) > 0)
            linker_read_signals(linker);
    }
}

/* Signals the whole group, waits (bounded) for it, then SIGKILLs it. */
static void
stop_command(Linker *linker, int stop_signal, int stop_timeout_ms)
{
    pid_t group = linker->child;

    kill(-group, stop_signal);
    if (!reap_group(linker, now_us() + (gint64)stop_timeout_ms * 1000)) {
        g_printerr("spice-link: the command did not stop within %d ms; killing it\n",
                   stop_timeout_ms);
        kill(-group, SIGKILL);
        reap_group(linker, G_MAXINT64);
    }
}

/* ---- main ---------------------------------------------------------------- */

static gboolean
resolve(const char *host, const char *port, struct addrinfo **ret, GError **error)
{
    struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
    int rc = getaddrinfo(host, port, &hints, ret);

    if (rc != 0) {
        g_set_error(error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND, "%s:%s: %s", host, port,
                    gai_strerror(rc));
        return FALSE;
    }
    return TRUE;
}

static gboolean
parse_stop_signal(const char *name, int *ret)
{
    if (!name || g_str_equal(name, "TERM") || g_str_equal(name, "SIGTERM"))
        *ret = SIGTERM;
    else if (g_str_equal(name, "INT") || g_str_equal(name, "SIGINT"))
        *ret = SIGINT;
    else
        return FALSE;
    return TRUE;
}

int
main(int argc, char **argv)
{
    g_autofree char *host = NULL;
    g_autofree char *port = NULL;
    g_autofree char *stop_signal_name = NULL;
    g_autofree char *child_output = NULL;
    gint wait_ms = -1;
    gint stop_timeout_ms = STOP_TIMEOUT_MS_DEFAULT;
    GOptionEntry entries[] = {
        { "host", 0, 0, G_OPTION_ARG_STRING, &host, "SPICE server host", "HOST" },
        { "port", 0, 0, G_OPTION_ARG_STRING, &port, "SPICE server port", "PORT" },
        { "wait-ms", 0, 0, G_OPTION_ARG_INT, &wait_ms,
          "retry refused connects until a link reply or TIMEOUT_MS", "TIMEOUT_MS" },
        { "wait", 0, 0, G_OPTION_ARG_INT, &wait_ms, "same as --wait-ms", "TIMEOUT_MS" },
        { "stop-signal", 0, 0, G_OPTION_ARG_STRING, &stop_signal_name,
          "signal that stops COMMAND's process group: TERM (default) or INT", "SIG" },
        { "stop-timeout-ms", 0, 0, G_OPTION_ARG_INT, &stop_timeout_ms,
          "SIGKILL COMMAND's group if it has not exited after MS (default 10000)", "MS" },
        { "child-output", 0, 0, G_OPTION_ARG_STRING, &child_output,
          "COMMAND's stdout/stderr: null (default) or inherit", "null|inherit" },
        { NULL }
    };
    g_autoptr(GOptionContext) context =
        g_option_context_new("[-- COMMAND ARGS...] - time a SPICE link reply");
    g_autoptr(GError) error = NULL;
    Linker linker = { .signal_fd = -1 };
    SpiceLinkReplyInfo reply = { 0 };
    sigset_t mask, old_mask;
    gint64 start_us = now_us();
    gint64 deadline_us;
    gboolean quiet = TRUE;
    int stop_signal = SIGTERM;
    char **command = NULL;
    AttemptResult r;
    int exit_code;

    setlocale(LC_ALL, "");
    /* Split at the first "--" ourselves: GOption keeps or drops it
     * depending on what follows, and COMMAND's options are not ours. */
    for (int i = 1; i < argc; i++) {
        if (g_str_equal(argv[i], "--")) {
            command = argv + i + 1;
            argv[i] = NULL;
            argc = i;
            break;
        }
    }
    g_option_context_add_main_entries(context, entries, NULL);
    if (!g_option_context_parse(context, &argc, &argv, &error)) {
        g_printerr("spice-link: %s\n", error->message);
        return EXIT_LINK_USAGE;
    }
    if (argc > 1) {
        g_printerr("spice-link: unexpected argument '%s' (put COMMAND after --)\n", argv[1]);
        return EXIT_LINK_USAGE;
    }
    if (!host || !port) {
        g_printerr("spice-link: --host and --port are required\n");
        return EXIT_LINK_USAGE;
    }
    if (command && (!command[0] || wait_ms < 0)) {
        g_printerr("spice-link: a COMMAND needs --wait-ms and a program to run\n");
        return EXIT_LINK_USAGE;
    }
    if (!parse_stop_signal(stop_signal_name, &stop_signal)) {
        g_printerr("spice-link: --stop-signal takes INT or TERM\n");
        return EXIT_LINK_USAGE;
    }
    if (child_output && g_str_equal(child_output, "inherit"))
        quiet = FALSE;
    else if (child_output && !g_str_equal(child_output, "null")) {
        g_printerr("spice-link: --child-output takes null or inherit\n");
        return EXIT_LINK_USAGE;
    }
    if (stop_timeout_ms < 0) {
        g_printerr("spice-link: --stop-timeout-ms must not be negative\n");
        return EXIT_LINK_USAGE;
    }
    if (!resolve(host, port, &linker.addresses, &error)) {
        g_printerr("spice-link: %s\n", error->message);
        return EXIT_LINK_CONNECT;
    }

    if (command) {
        /* Signals arrive through a signalfd so every wait can also notice
         * the command exiting or the user interrupting us. */
        sigemptyset(&mask);
        sigaddset(&mask, SIGCHLD);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGTERM);
        sigprocmask(SIG_BLOCK, &mask, &old_mask);
        linker.signal_fd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
        prctl(PR_SET_CHILD_SUBREAPER, 1);
        if (linker.signal_fd < 0 ||
            !spawn_command(&linker, command, quiet, &old_mask, &start_us, &error)) {
            if (!error)
                g_set_error(&error, G_IO_ERROR, g_io_error_from_errno(errno),
                            "signalfd: %s", g_strerror(errno));
            g_printerr("spice-link: %s\n", error->message);
            if (linker.child > 0)
                reap_group(&linker, G_MAXINT64);
            freeaddrinfo(linker.addresses);
            return EXIT_LINK_COMMAND;
        }
    }

    deadline_us = start_us + (gint64)(wait_ms >= 0 ? wait_ms : SINGLE_ATTEMPT_TIMEOUT_MS) * 1000;
    if (wait_ms >= 0)
        r = link_wait(&linker, deadline_us, &reply, &error);
    else
        r = link_attempt(&linker, deadline_us, &reply, &error);

    switch (r) {
    case ATTEMPT_ANSWERED:
        printf("link-reply-ms=%.1f\nlink-error=%u\n", (double)(now_us() - start_us) / 1000.0,
               reply.error);
        fflush(stdout);
        exit_code = reply.error == SPICE_LINK_ERR_OK ? EXIT_LINK_OK
                                                     : EXIT_LINK_REFUSED_BY_SERVER;
        if (exit_code != EXIT_LINK_OK)
            g_printerr("spice-link: the server answered with link error %u\n", reply.error);
        break;
    case ATTEMPT_REFUSED:
        g_printerr("spice-link: %s:%s: connection refused\n", host, port);
        exit_code = EXIT_LINK_CONNECT;
        break;
    case ATTEMPT_TIMEOUT:
        g_printerr("spice-link: no link reply from %s:%s within %d ms\n", host, port,
                   wait_ms >= 0 ? wait_ms : SINGLE_ATTEMPT_TIMEOUT_MS);
        exit_code = EXIT_LINK_TIMEOUT;
        break;
    case ATTEMPT_INTERRUPTED:
        if (linker.interrupted) {
            g_printerr("spice-link: interrupted\n");
            exit_code = EXIT_LINK_INTERRUPTED;
        } else {
            g_printerr("spice-link: the command exited before SPICE answered\n");
            exit_code = EXIT_LINK_COMMAND;
        }
        break;
    case ATTEMPT_FAILED:
    default:
        g_printerr("spice-link: %s:%s: %s\n", host, port,
                   error ? error->message : "link failed");
        exit_code = EXIT_LINK_PROTOCOL;
        break;
    }

    if (linker.child > 0) {
        stop_command(&linker, stop_signal, stop_timeout_ms);
        printf("exit-status=%d\n", exit_status_number(linker.child_status));
        fflush(stdout);
        close(linker.signal_fd);
    }
    freeaddrinfo(linker.addresses);
    return exit_code;
}
