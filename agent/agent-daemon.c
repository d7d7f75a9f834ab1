/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The daemon's I/O: one poll loop over the virtio-serial port, the control
 * socket and its connections.
 *
 * The port: virtio-serial reports POLLHUP while no host side is attached
 * (no SPICE server reading it, QEMU's chardev closed).  Then the port is
 * closed and reopened a second later: the kernel offers no event for the
 * host attaching, so this is the one timed retry (spice-vdagentd does the
 * same).  Each open renegotiates from scratch.
 *
 * Backpressure: while the output queued for the port is over a limit, the
 * port is not read, so a host that asks for large clipboards faster than
 * it reads them cannot grow the queue without bound.
 */
#include "agent-daemon.h"
#include "oriel-agent.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define MAX_CONNECTIONS 32
#define HEADER_MAX 128
#define REOPEN_DELAY_MS 1000
#define REQUEST_TIMEOUT_MS 30000
#define READ_SIZE (256 * 1024)

typedef enum {
    CONN_HEADER,
    CONN_BODY,
    CONN_WAIT_GRAB,     /* for someone to offer the type (get --wait) */
    CONN_WAIT,          /* for the client's clipboard data */
    CONN_WRITE,
} ConnState;

typedef struct Connection {
    int fd;
    ConnState state;
    char header[HEADER_MAX];
    size_t header_len;
    uint8_t selection;
    uint32_t type;
    uint8_t *body;
    size_t body_len;
    size_t body_have;
    OrielAgentBuffer out;
    int64_t deadline;
} Connection;

typedef struct Daemon {
    const OrielAgentDaemonConfig *config;
    OrielAgentSession *session;
    int port_fd;
    int64_t reopen_at;
    int listen_fd;
    Connection conns[MAX_CONNECTIONS];
    size_t out_limit;
    uint64_t dropped_logged;
    uint8_t *read_buf;
} Daemon;

static volatile sig_atomic_t quit_signal;

static void retry_waiting_gets(Daemon *d);

static void
on_signal(int sig)
{
    quit_signal = sig;
}

static void log_msg(const char *format, ...) __attribute__((format(printf, 1, 2)));

static void
log_msg(const char *format, ...)
{
    va_list args;

    fputs("oriel-agent: ", stderr);
    va_start(args, format);
    vfprintf(stderr, format, args);
    va_end(args);
    fputc('\n', stderr);
}

static int64_t
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- the port --------------------------------------------------------- */

/* /dev/virtio-ports/NAME, or the vport whose sysfs name matches. */
static int
find_port(char *path, size_t size)
{
    DIR *dir;
    struct dirent *entry;
    int r = -ENOENT;

    snprintf(path, size, "/dev/virtio-ports/%s", ORIEL_AGENT_PORT_NAME);
    if (access(path, F_OK) == 0)
        return 0;
    dir = opendir("/sys/class/virtio-ports");
    if (!dir)
        return -ENOENT;
    while ((entry = readdir(dir))) {
        char name_path[PATH_MAX];
        char name[64] = "";
        FILE *f;

        if (entry->d_name[0] == '.')
            continue;
        snprintf(name_path, sizeof(name_path),
                 "/sys/class/virtio-ports/%s/name", entry->d_name);
        f = fopen(name_path, "re");
        if (!f)
            continue;
        if (fgets(name, sizeof(name), f))
            name[strcspn(name, "\n")] = '\0';
        fclose(f);
        if (strcmp(name, ORIEL_AGENT_PORT_NAME) == 0) {
            snprintf(path, size, "/dev/%s", entry->d_name);
            r = 0;
            break;
        }
    }
    closedir(dir);
    return r;
}

static void
port_close(Daemon *d, const char *why)
{
    if (d->port_fd < 0)
        return;
    if (d->config->verbose)
        log_msg("port closed (%s)", why);
    close(d->port_fd);
    d->port_fd = -1;
    oriel_agent_session_disconnected(d->session);
    d->reopen_at = now_ms() + REOPEN_DELAY_MS;
}

static void
port_open(Daemon *d)
{
    char path[PATH_MAX];
    struct pollfd pfd;
    int fd;

    if (d->config->port_path)
        snprintf(path, sizeof(path), "%s", d->config->port_path);
    else if (find_port(path, sizeof(path)) < 0)
        goto retry;
    fd = open(path, O_RDWR | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        goto retry;
    pfd = (struct pollfd) { .fd = fd, .events = POLLIN };
    if (poll(&pfd, 1, 0) == 1 && (pfd.revents & POLLHUP) &&
        !(pfd.revents & POLLIN)) {
        /* No host side yet. */
        close(fd);
        goto retry;
    }
    d->port_fd = fd;
    if (d->config->verbose)
        log_msg("port %s open", path);
    if (oriel_agent_session_connected(d->session) < 0)
        port_close(d, "out of memory");
    return;
retry:
    d->reopen_at = now_ms() + REOPEN_DELAY_MS;
}

/* virtio-serial hands out one 4 KiB buffer per read(): drain what is there
 * before feeding the codec and going back to poll, which halves the system
 * calls of a large transfer. */
static void
port_read(Daemon *d)
{
    const char *error = NULL;
    size_t have = 0;
    uint64_t dropped;

    while (have < READ_SIZE) {
        ssize_t n = read(d->port_fd, d->read_buf + have, READ_SIZE - have);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            break;
        if (n <= 0) {
            error = n == 0 ? "end of file" : strerror(errno);
            break;
        }
        have += (size_t)n;
    }
    if (have > 0 &&
        oriel_agent_session_feed(d->session, d->read_buf, have) < 0)
        error = "out of memory";
    if (error) {
        port_close(d, error);
        return;
    }
    retry_waiting_gets(d);
    /* One line per read that dropped something, not one per message. */
    dropped = oriel_agent_session_dropped(d->session);
    if (dropped > d->dropped_logged) {
        log_msg("dropped %llu malformed or unexpected message(s)",
                (unsigned long long)(dropped - d->dropped_logged));
        d->dropped_logged = dropped;
    }
}

static void
port_write(Daemon *d)
{
    OrielAgentBuffer *out = oriel_agent_session_output(d->session);

    while (out->len > 0) {
        ssize_t n = write(d->port_fd, out->data + out->start, out->len);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return;
        if (n <= 0) {
            port_close(d, strerror(errno));
            return;
        }
        oriel_agent_session_count_written(d->session, (size_t)n);
        oriel_agent_buffer_consume(out, (size_t)n);
    }
}

/* ---- control connections ---------------------------------------------- */

static void
conn_close(Connection *c)
{
    if (c->fd >= 0)
        close(c->fd);
    free(c->body);
    oriel_agent_buffer_finish(&c->out);
    memset(c, 0, sizeof(*c));
    c->fd = -1;
}

static void
conn_reply(Connection *c, int status, const uint8_t *data, size_t len)
{
    char line[64];
    int n;

    if (status == -ENOENT)
        n = snprintf(line, sizeof(line), "error nothing of that type in the selection\n");
    else if (status < 0)
        n = snprintf(line, sizeof(line), "error %s\n", strerror(-status));
    else
        n = snprintf(line, sizeof(line), "ok %zu\n", len);
    oriel_agent_buffer_consume(&c->out, c->out.len);
    if (oriel_agent_buffer_append(&c->out, line, (size_t)n) < 0 ||
        (status >= 0 && oriel_agent_buffer_append(&c->out, data, len) < 0)) {
        conn_close(c);
        return;
    }
    c->state = CONN_WRITE;
}

static void
on_clipboard_data(void *opaque, uint8_t selection, uint32_t type,
                  const uint8_t *data, size_t len, int status)
{
    Daemon *d = opaque;

    for (size_t i = 0; i < MAX_CONNECTIONS; i++) {
        Connection *c = &d->conns[i];

        if (c->fd < 0 || c->state != CONN_WAIT || c->selection != selection)
            continue;
        if (status == 0 && type != c->type)
            conn_reply(c, -ENOENT, NULL, 0);
        else
            conn_reply(c, status, data, len);
    }
    if (d->config->backend && d->config->backend->clipboard_data)
        d->config->backend->clipboard_data(d->config->backend->opaque,
                                           selection, type, data, len,
                                           status);
}

/* The rest of the session's callbacks only concern the backend. */
static int
on_apply_monitors(void *opaque, const VDAgentMonitorsConfig *config,
                  size_t size)
{
    const OrielAgentBackend *b = ((Daemon *)opaque)->config->backend;

    return b && b->apply_monitors ? b->apply_monitors(b->opaque, config, size)
                                  : 0;
}

static void
on_client_grab(void *opaque, uint8_t selection, const uint32_t *types,
               unsigned n_types)
{
    const OrielAgentBackend *b = ((Daemon *)opaque)->config->backend;

    if (b && b->client_grab)
        b->client_grab(b->opaque, selection, types, n_types);
}

static void
on_guest_request(void *opaque, uint8_t selection, uint32_t type)
{
    Daemon *d = opaque;
    const OrielAgentBackend *b = d->config->backend;

    if (b && b->guest_request)
        b->guest_request(b->opaque, selection, type);
    else
        oriel_agent_session_clipboard_reply(d->session, selection, type,
                                            NULL, 0);
}

static bool
selection_has_waiters(const Daemon *d, uint8_t selection)
{
    for (size_t i = 0; i < MAX_CONNECTIONS; i++)
        if (d->conns[i].fd >= 0 && d->conns[i].state == CONN_WAIT &&
            d->conns[i].selection == selection)
            return true;
    return false;
}

static void
conn_get(Daemon *d, Connection *c)
{
    const uint8_t *data = NULL;
    size_t len = 0;
    int r = oriel_agent_session_clipboard_get(d->session, c->selection,
                                              c->type, &data, &len);

    if (r == -EAGAIN) {
        c->state = CONN_WAIT;
        c->deadline = now_ms() + REQUEST_TIMEOUT_MS;
        return;
    }
    /* get --wait: nobody offers the type yet; try again on each message
     * from the host until the deadline. */
    if (r == -ENOENT && c->state == CONN_WAIT_GRAB)
        return;
    conn_reply(c, r, data, len);
}

static void
retry_waiting_gets(Daemon *d)
{
    for (size_t i = 0; i < MAX_CONNECTIONS; i++)
        if (d->conns[i].fd >= 0 && d->conns[i].state == CONN_WAIT_GRAB)
            conn_get(d, &d->conns[i]);
}

static void
conn_set(Daemon *d, Connection *c)
{
    int r = oriel_agent_session_clipboard_set(d->session, c->selection,
                                              c->type, c->body, c->body_len);

    /* Kept for guest programs even when no client can hear of it. */
    if (r == -EOPNOTSUPP)
        r = 0;
    conn_reply(c, r, NULL, 0);
    retry_waiting_gets(d);
}

static void
conn_header(Daemon *d, Connection *c)
{
    unsigned selection = 0, type = 0, wait_ms = 0;
    unsigned long long len = 0;
    char *status = NULL;
    int r;

    if (strcmp(c->header, "status") == 0) {
        r = oriel_agent_session_format_status(d->session, &status);
        conn_reply(c, r, (const uint8_t *)status, status ? strlen(status) : 0);
        free(status);
        return;
    }
    if (sscanf(c->header, "get %u %u %u", &selection, &type, &wait_ms) >= 2) {
        c->selection = (uint8_t)selection;
        c->type = type;
        if (selection >= ORIEL_AGENT_SELECTION_COUNT ||
            wait_ms > REQUEST_TIMEOUT_MS) {
            conn_reply(c, -EINVAL, NULL, 0);
            return;
        }
        if (wait_ms > 0) {
            c->state = CONN_WAIT_GRAB;
            c->deadline = now_ms() + wait_ms;
        }
        conn_get(d, c);
        return;
    }
    if (sscanf(c->header, "release %u", &selection) == 1) {
        r = selection < ORIEL_AGENT_SELECTION_COUNT
            ? oriel_agent_session_clipboard_release(d->session,
                                                    (uint8_t)selection)
            : -EINVAL;
        conn_reply(c, r, NULL, 0);
        return;
    }
    if (sscanf(c->header, "set %u %u %llu", &selection, &type, &len) == 3) {
        if (selection >= ORIEL_AGENT_SELECTION_COUNT) {
            conn_reply(c, -EINVAL, NULL, 0);
            return;
        }
        if (len > d->config->max_clipboard) {
            conn_reply(c, -EMSGSIZE, NULL, 0);
            return;
        }
        c->selection = (uint8_t)selection;
        c->type = type;
        c->body_len = (size_t)len;
        c->body_have = 0;
        c->body = malloc(c->body_len ? c->body_len : 1);
        if (!c->body) {
            conn_reply(c, -ENOMEM, NULL, 0);
            return;
        }
        c->state = CONN_BODY;
        if (c->body_len == 0)
            conn_set(d, c);
        return;
    }
    conn_reply(c, -EINVAL, NULL, 0);
}

static void
conn_read(Daemon *d, Connection *c)
{
    uint8_t buf[4096];
    ssize_t n = read(c->fd, buf, sizeof(buf));
    size_t pos = 0;

    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return;
    if (n <= 0) {
        bool waited = c->state == CONN_WAIT;
        uint8_t selection = c->selection;

        conn_close(c);
        if (waited && !selection_has_waiters(d, selection))
            oriel_agent_session_clipboard_abandon(d->session, selection);
        return;
    }
    while (pos < (size_t)n && c->fd >= 0) {
        if (c->state == CONN_HEADER) {
            char ch = (char)buf[pos++];

            if (ch == '\n') {
                c->header[c->header_len] = '\0';
                conn_header(d, c);
                continue;
            }
            if (c->header_len + 1 >= sizeof(c->header)) {
                conn_reply(c, -EINVAL, NULL, 0);
                return;
            }
            c->header[c->header_len++] = ch;
        } else if (c->state == CONN_BODY) {
            size_t take = c->body_len - c->body_have;

            if (take > (size_t)n - pos)
                take = (size_t)n - pos;
            memcpy(c->body + c->body_have, buf + pos, take);
            c->body_have += take;
            pos += take;
            if (c->body_have == c->body_len)
                conn_set(d, c);
        } else {
            /* One request per connection: anything more is ignored. */
            return;
        }
    }
}

static void
conn_write(Connection *c)
{
    while (c->out.len > 0) {
        ssize_t n = send(c->fd, c->out.data + c->out.start, c->out.len,
                         MSG_NOSIGNAL);

        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN)
            return;
        if (n <= 0) {
            conn_close(c);
            return;
        }
        oriel_agent_buffer_consume(&c->out, (size_t)n);
    }
    conn_close(c);
}

static void
accept_connection(Daemon *d)
{
    int fd = accept4(d->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

    if (fd < 0)
        return;
    for (size_t i = 0; i < MAX_CONNECTIONS; i++) {
        if (d->conns[i].fd < 0) {
            d->conns[i].fd = fd;
            d->conns[i].state = CONN_HEADER;
            d->conns[i].deadline = now_ms() + REQUEST_TIMEOUT_MS;
            return;
        }
    }
    close(fd);
}

static int
listen_socket(const char *path, int *ret_fd)
{
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    int fd;
    int r;

    if (strlen(path) >= sizeof(addr.sun_path))
        return -ENAMETOOLONG;
    memcpy(addr.sun_path, path, strlen(path) + 1);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -errno;
    unlink(path);
    if (bind(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0 ||
        chmod(path, 0600) < 0 || listen(fd, 16) < 0) {
        r = -errno;
        close(fd);
        return r;
    }
    *ret_fd = fd;
    return 0;
}

/* ---- the loop --------------------------------------------------------- */

int
oriel_agent_daemon_run(const OrielAgentDaemonConfig *config)
{
    static const OrielAgentSessionOps ops = {
        .clipboard_data = on_clipboard_data,
        .apply_monitors = on_apply_monitors,
        .client_grab = on_client_grab,
        .guest_request = on_guest_request,
    };
    const OrielAgentBackend *backend = config->backend;
    bool backend_started = false;
    OrielAgentSessionConfig session_config = {
        .xfer_dir = config->xfer_dir,
        .max_clipboard = config->max_clipboard,
        .max_message = config->max_clipboard + 4096,
        .audio_volume_sync = config->audio_volume_sync,
    };
    struct pollfd pfds[3 + MAX_CONNECTIONS];
    struct sigaction sa = { .sa_handler = on_signal };
    Daemon d = {
        .config = config,
        .port_fd = -1,
        .listen_fd = -1,
        .out_limit = config->max_clipboard + 64 * 1024,
    };
    int r;

    for (size_t i = 0; i < MAX_CONNECTIONS; i++)
        d.conns[i].fd = -1;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    d.read_buf = malloc(READ_SIZE);
    if (!d.read_buf) {
        r = -ENOMEM;
        goto out;
    }
    r = oriel_agent_session_new(&session_config, &ops, &d, &d.session);
    if (r < 0)
        goto out;
    r = listen_socket(config->socket_path, &d.listen_fd);
    if (r < 0) {
        log_msg("cannot listen on %s: %s", config->socket_path,
                strerror(-r));
        goto out;
    }
    if (backend && backend->start) {
        r = backend->start(backend->opaque, d.session);
        if (r < 0) {
            log_msg("cannot start the backend: %s", strerror(-r));
            goto out;
        }
    }
    backend_started = true;
    log_msg("running; control socket %s, files into %s", config->socket_path,
            config->xfer_dir ? config->xfer_dir : "(disabled)");
    port_open(&d);

    while (!quit_signal) {
        OrielAgentBuffer *out = oriel_agent_session_output(d.session);
        int64_t now = now_ms();
        int64_t wake = -1;
        nfds_t n = 0;
        int port_index = -1;
        int listen_index;
        int backend_index = -1;
        int conn_index[MAX_CONNECTIONS];

        if (d.port_fd >= 0) {
            short events = 0;

            if (out->len < d.out_limit)
                events |= POLLIN;
            if (out->len > 0)
                events |= POLLOUT;
            port_index = (int)n;
            pfds[n++] = (struct pollfd) { .fd = d.port_fd, .events = events };
        } else {
            wake = d.reopen_at;
        }
        listen_index = (int)n;
        pfds[n++] = (struct pollfd) { .fd = d.listen_fd, .events = POLLIN };
        if (backend) {
            int fd = backend->fd ? backend->fd(backend->opaque) : -1;
            int backend_wake = backend->dispatch
                               ? backend->dispatch(backend->opaque) : -1;

            if (backend_wake >= 0 && (wake < 0 || now + backend_wake < wake))
                wake = now + backend_wake;
            if (fd >= 0) {
                backend_index = (int)n;
                pfds[n++] = (struct pollfd) { .fd = fd, .events = POLLIN };
            }
            /* What dispatching queued for the port. */
            if (port_index >= 0 && out->len > 0)
                pfds[port_index].events |= POLLOUT;
        }
        for (size_t i = 0; i < MAX_CONNECTIONS; i++) {
            Connection *c = &d.conns[i];

            conn_index[i] = -1;
            if (c->fd < 0)
                continue;
            if (c->state != CONN_WRITE && now >= c->deadline) {
                bool waited = c->state == CONN_WAIT;
                uint8_t selection = c->selection;

                conn_reply(c, c->state == CONN_WAIT_GRAB ? -ENOENT : -ETIMEDOUT,
                           NULL, 0);
                if (waited && !selection_has_waiters(&d, selection))
                    oriel_agent_session_clipboard_abandon(d.session,
                                                          selection);
            }
            if (c->fd < 0)
                continue;
            if (c->state != CONN_WRITE &&
                (wake < 0 || c->deadline < wake))
                wake = c->deadline;
            conn_index[i] = (int)n;
            pfds[n++] = (struct pollfd) {
                .fd = c->fd,
                .events = c->state == CONN_WRITE ? POLLOUT : POLLIN,
            };
        }
        r = poll(pfds, n, wake < 0 ? -1 : (int)(wake > now ? wake - now : 0));
        if (r < 0 && errno != EINTR) {
            r = -errno;
            goto out;
        }
        r = 0;
        if (port_index >= 0) {
            short revents = pfds[port_index].revents;

            if (revents & POLLIN)
                port_read(&d);
            else if (revents & (POLLHUP | POLLERR))
                port_close(&d, "hang-up");
            if (d.port_fd >= 0 && (revents & POLLOUT))
                port_write(&d);
        } else if (now_ms() >= d.reopen_at) {
            port_open(&d);
        }
        if (pfds[listen_index].revents & POLLIN)
            accept_connection(&d);
        if (backend_index >= 0 && (pfds[backend_index].revents & POLLIN) &&
            backend->dispatch)
            backend->dispatch(backend->opaque);
        for (size_t i = 0; i < MAX_CONNECTIONS; i++) {
            Connection *c = &d.conns[i];

            if (conn_index[i] < 0 || c->fd < 0)
                continue;
            if (pfds[conn_index[i]].revents & (POLLIN | POLLHUP | POLLERR)) {
                if (c->state == CONN_WRITE)
                    conn_write(c);
                else
                    conn_read(&d, c);
            }
            if (c->fd >= 0 && c->state == CONN_WRITE)
                conn_write(c);
        }
        /* Replies that requests just queued go out now, not a poll later. */
        if (d.port_fd >= 0 && oriel_agent_session_output(d.session)->len)
            port_write(&d);
    }
    log_msg("exiting on signal %d", (int)quit_signal);
out:
    if (backend_started && backend && backend->stop)
        backend->stop(backend->opaque);
    for (size_t i = 0; i < MAX_CONNECTIONS; i++)
        if (d.conns[i].fd >= 0)
            conn_close(&d.conns[i]);
    if (d.listen_fd >= 0) {
        close(d.listen_fd);
        unlink(config->socket_path);
    }
    if (d.port_fd >= 0)
        close(d.port_fd);
    oriel_agent_session_free(d.session);
    free(d.read_buf);
    return r;
}
