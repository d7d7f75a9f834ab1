/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * oriel-agent: the daemon (default) and the commands guest programs use to
 * reach its clipboard and status over the control socket.
 */
#include "agent-daemon.h"
#include "oriel-agent.h"
#ifdef ORIEL_AGENT_X11
#include "agent-x11.h"
#endif

#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

typedef struct Command {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *usage;
} Command;

static const char *
socket_path(void)
{
    const char *path = getenv("ORIEL_AGENT_SOCKET");
#ifdef ORIEL_AGENT_X11
    /* The X11 agent runs in the user's session, which cannot write /run. */
    static char session_path[108];
    const char *runtime = getenv("XDG_RUNTIME_DIR");

    if (!(path && *path) && runtime && *runtime &&
        (size_t)snprintf(session_path, sizeof(session_path),
                         "%s/oriel-agent.sock", runtime) <
        sizeof(session_path))
        return session_path;
#endif

    return path && *path ? path : ORIEL_AGENT_DEFAULT_SOCKET;
}

static int
parse_size(const char *text, size_t *ret_size)
{
    char *end = NULL;
    unsigned long long v;

    errno = 0;
    v = strtoull(text, &end, 10);
    if (errno || end == text || text[0] == '-')
        return -EINVAL;
    if (*end == 'K' || *end == 'k')
        v *= 1024, end++;
    else if (*end == 'M' || *end == 'm')
        v *= 1024 * 1024, end++;
    if (*end != '\0' || v == 0 || v > (1ull << 30))
        return -EINVAL;
    *ret_size = (size_t)v;
    return 0;
}

static int
cmd_daemon(int argc, char **argv)
{
    static const struct option options[] = {
        { "port", required_argument, NULL, 'p' },
        { "socket", required_argument, NULL, 's' },
        { "xfer-dir", required_argument, NULL, 'x' },
        { "no-xfer", no_argument, NULL, 'n' },
        { "max-clipboard", required_argument, NULL, 'm' },
        { "audio-volume-sync", no_argument, NULL, 'a' },
        { "verbose", no_argument, NULL, 'v' },
        { 0 },
    };
    const char *xfer_env = getenv("ORIEL_AGENT_XFER_DIR");
    OrielAgentDaemonConfig config = {
        .socket_path = socket_path(),
        .xfer_dir = xfer_env && *xfer_env ? xfer_env
                                          : ORIEL_AGENT_DEFAULT_XFER_DIR,
        .max_clipboard = 32 * 1024 * 1024,
    };
    int opt;

    while ((opt = getopt_long(argc, argv, "v", options, NULL)) != -1) {
        switch (opt) {
        case 'p':
            config.port_path = optarg;
            break;
        case 's':
            config.socket_path = optarg;
            break;
        case 'x':
            config.xfer_dir = optarg;
            break;
        case 'n':
            config.xfer_dir = NULL;
            break;
        case 'm':
            if (parse_size(optarg, &config.max_clipboard) < 0) {
                fprintf(stderr, "oriel-agent: bad --max-clipboard '%s'\n",
                        optarg);
                return 2;
            }
            break;
        case 'a':
            config.audio_volume_sync = true;
            break;
        case 'v':
            config.verbose = true;
            break;
        default:
            return 2;
        }
    }
#ifdef ORIEL_AGENT_X11
    {
        OrielAgentX11Config x11_config = {
            .max_clipboard = config.max_clipboard,
            .verbose = config.verbose,
        };
        OrielAgentBackend *backend = NULL;
        int r;

        if (oriel_agent_x11_new(&x11_config, &backend) < 0)
            return 1;
        config.backend = backend;
        r = oriel_agent_daemon_run(&config);
        oriel_agent_x11_free(backend);
        return r < 0 ? 1 : 0;
    }
#else
    return oriel_agent_daemon_run(&config) < 0 ? 1 : 0;
#endif
}

/* ---- control socket client -------------------------------------------- */

static int
write_all(int fd, const void *data, size_t len)
{
    const uint8_t *p = data;

    while (len > 0) {
        ssize_t n = send(fd, p, len, MSG_NOSIGNAL);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -errno;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Sends header and body, copies the reply's data to out (stdout).  Returns
 * the process exit status. */
static int
request(const char *header, const uint8_t *body, size_t body_len, FILE *out)
{
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    const char *path = socket_path();
    char line[256];
    size_t line_len = 0;
    unsigned long long len = 0;
    uint8_t buf[65536];
    int status = 1;
    int fd;

    if (strlen(path) >= sizeof(addr.sun_path)) {
        fprintf(stderr, "oriel-agent: socket path too long\n");
        return 1;
    }
    memcpy(addr.sun_path, path, strlen(path) + 1);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
        fprintf(stderr, "oriel-agent: cannot reach the agent at %s: %s\n",
                path, strerror(errno));
        goto out;
    }
    if (write_all(fd, header, strlen(header)) < 0 ||
        write_all(fd, body, body_len) < 0) {
        fprintf(stderr, "oriel-agent: sending the request: %s\n",
                strerror(errno));
        goto out;
    }
    /* The reply line, byte by byte: it is short. */
    while (line_len + 1 < sizeof(line)) {
        ssize_t n = read(fd, line + line_len, 1);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            fprintf(stderr, "oriel-agent: the agent closed the connection\n");
            goto out;
        }
        if (line[line_len] == '\n')
            break;
        line_len++;
    }
    line[line_len] = '\0';
    if (strncmp(line, "error ", 6) == 0) {
        fprintf(stderr, "oriel-agent: %s\n", line + 6);
        goto out;
    }
    if (sscanf(line, "ok %llu", &len) != 1) {
        fprintf(stderr, "oriel-agent: bad reply '%s'\n", line);
        goto out;
    }
    while (len > 0) {
        ssize_t n = read(fd, buf, len < sizeof(buf) ? len : sizeof(buf));

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            fprintf(stderr, "oriel-agent: short reply\n");
            goto out;
        }
        if (fwrite(buf, 1, (size_t)n, out) != (size_t)n) {
            fprintf(stderr, "oriel-agent: writing the output failed\n");
            goto out;
        }
        len -= (unsigned long long)n;
    }
    status = fflush(out) == 0 ? 0 : 1;
out:
    if (fd >= 0)
        close(fd);
    return status;
}

typedef struct ClipOptions {
    unsigned selection;
    unsigned type;
    unsigned wait_ms;
} ClipOptions;

static int
parse_clip_options(int argc, char **argv, ClipOptions *ret)
{
    static const struct option options[] = {
        { "selection", required_argument, NULL, 's' },
        { "type", required_argument, NULL, 't' },
        { "wait", required_argument, NULL, 'w' },
        { 0 },
    };
    ClipOptions o = {
        .selection = VD_AGENT_CLIPBOARD_SELECTION_CLIPBOARD,
        .type = VD_AGENT_CLIPBOARD_UTF8_TEXT,
    };
    int opt;

    while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
        switch (opt) {
        case 's':
            if (strcmp(optarg, "clipboard") == 0)
                o.selection = VD_AGENT_CLIPBOARD_SELECTION_CLIPBOARD;
            else if (strcmp(optarg, "primary") == 0)
                o.selection = VD_AGENT_CLIPBOARD_SELECTION_PRIMARY;
            else
                return -EINVAL;
            break;
        case 't':
            if (strcmp(optarg, "text") == 0)
                o.type = VD_AGENT_CLIPBOARD_UTF8_TEXT;
            else if (strcmp(optarg, "png") == 0)
                o.type = VD_AGENT_CLIPBOARD_IMAGE_PNG;
            else
                return -EINVAL;
            break;
        case 'w': {
            char *end = NULL;
            unsigned long seconds = strtoul(optarg, &end, 10);

            if (end == optarg || *end != '\0' || seconds > 30)
                return -EINVAL;
            o.wait_ms = (unsigned)seconds * 1000;
            break;
        }
        default:
            return -EINVAL;
        }
    }
    if (optind != argc)
        return -EINVAL;
    *ret = o;
    return 0;
}

static int
clip_get(const ClipOptions *o)
{
    char header[64];

    snprintf(header, sizeof(header), "get %u %u %u\n", o->selection, o->type,
             o->wait_ms);
    return request(header, NULL, 0, stdout);
}

static int
clip_set(const ClipOptions *o)
{
    uint8_t *data = NULL;
    size_t len = 0, cap = 0;
    char header[96];
    int status = 1;

    for (;;) {
        size_t n;

        if (len == cap) {
            size_t cap_new = cap ? cap * 2 : 65536;
            uint8_t *grown;

            if (cap_new > (1u << 30)) {
                fprintf(stderr, "oriel-agent: input too large\n");
                goto out;
            }
            grown = realloc(data, cap_new);
            if (!grown) {
                fprintf(stderr, "oriel-agent: out of memory\n");
                goto out;
            }
            data = grown;
            cap = cap_new;
        }
        n = fread(data + len, 1, cap - len, stdin);
        len += n;
        if (n == 0) {
            if (ferror(stdin)) {
                fprintf(stderr, "oriel-agent: reading stdin failed\n");
                goto out;
            }
            break;
        }
    }
    snprintf(header, sizeof(header), "set %u %u %zu\n", o->selection,
             o->type, len);
    status = request(header, data, len, stdout);
out:
    free(data);
    return status;
}

static int
clip_release(const ClipOptions *o)
{
    char header[64];

    snprintf(header, sizeof(header), "release %u\n", o->selection);
    return request(header, NULL, 0, stdout);
}

typedef struct ClipCommand {
    const char *name;
    int (*run)(const ClipOptions *o);
    const char *usage;
} ClipCommand;

static const ClipCommand clip_commands[] = {
    { "get", clip_get,
      "clip get [--selection clipboard|primary] [--type text|png] [--wait SECONDS]" },
    { "set", clip_set,
      "clip set [--selection clipboard|primary] [--type text|png] < DATA" },
    { "release", clip_release, "clip release [--selection clipboard|primary]" },
};

static int
cmd_clip(int argc, char **argv)
{
    const ClipCommand *command = NULL;
    ClipOptions o;

    for (size_t i = 0; argc >= 2 && i < sizeof(clip_commands) / sizeof(*clip_commands); i++)
        if (strcmp(argv[1], clip_commands[i].name) == 0)
            command = &clip_commands[i];
    if (!command) {
        fprintf(stderr, "usage: oriel-agent clip get|set|release ...\n");
        return 2;
    }
    if (parse_clip_options(argc - 1, argv + 1, &o) < 0) {
        fprintf(stderr, "usage: oriel-agent %s\n", command->usage);
        return 2;
    }
    return command->run(&o);
}

static int
cmd_status(int argc, char **argv)
{
    if (argc != 1) {
        fprintf(stderr, "usage: oriel-agent status\n");
        return 2;
    }
    return request("status\n", NULL, 0, stdout);
}

static const Command commands[] = {
    { "daemon", cmd_daemon,
      "[daemon] [--port PATH] [--socket PATH] [--xfer-dir DIR | --no-xfer]"
      " [--max-clipboard BYTES] [--audio-volume-sync] [--verbose]" },
    { "clip", cmd_clip, "clip get|set|release [--selection clipboard|primary]"
      " [--type text|png] [--wait SECONDS]" },
    { "status", cmd_status, "status" },
};

static void
usage(FILE *f)
{
    fprintf(f, "usage:\n");
    for (size_t i = 0; i < sizeof(commands) / sizeof(*commands); i++)
        fprintf(f, "  oriel-agent %s\n", commands[i].usage);
    fprintf(f, "The control socket is $ORIEL_AGENT_SOCKET or %s.\n",
            ORIEL_AGENT_DEFAULT_SOCKET);
}

int
main(int argc, char **argv)
{
    if (argc >= 2 && (strcmp(argv[1], "--help") == 0 ||
                      strcmp(argv[1], "-h") == 0)) {
        usage(stdout);
        return 0;
    }
    /* No command, or only options: the daemon. */
    if (argc < 2 || argv[1][0] == '-')
        return cmd_daemon(argc, argv);
    for (size_t i = 0; i < sizeof(commands) / sizeof(*commands); i++)
        if (strcmp(argv[1], commands[i].name) == 0)
            return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "oriel-agent: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 2;
}
