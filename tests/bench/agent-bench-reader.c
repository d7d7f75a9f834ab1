/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The minimal reader bench-agent-transfer.sh measures oriel-agent against:
 * a guest program that opens the agent port, answers capabilities, accepts
 * every file transfer and discards its data, asks for the clipboard the
 * client last grabbed on SIGUSR1 (as the agent asks when a guest program
 * pastes) and discards it too, creating the marker file argv[2] (default
 * /tmp/reader-clip.done) when it has it, and nothing
 * else, so a SPICE transfer into it shows what SPICE and virtio-serial
 * allow.  Built static
 * with musl like the agent, sent into the guest by the agent itself.
 */
#include "oriel-agent.h"

#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct Reader {
    int fd;
    OrielAgentBuffer out;
    uint32_t id;
    uint64_t size;
    uint64_t received;
    const char *clip_marker;
    uint32_t grab_type;         /* 0: nothing grabbed */
} Reader;

static volatile sig_atomic_t paste_signal;

static void
on_paste(int sig)
{
    paste_signal = sig;
}

static void
send_status(Reader *r, uint32_t id, uint32_t result)
{
    VDAgentFileXferStatusMessage status = {
        .id = htole32(id),
        .result = htole32(result),
    };

    oriel_agent_encode_message(&r->out, VDP_CLIENT_PORT, VD_AGENT_FILE_XFER_STATUS,
                               &status, sizeof(status), NULL, 0);
}

static void
send_caps(Reader *r, bool request)
{
    struct {
        VDAgentAnnounceCapabilities head;
        uint32_t caps[VD_AGENT_CAPS_SIZE];
    } msg = { .head = { .request = htole32(request) } };

    VD_AGENT_SET_CAPABILITY(msg.caps, VD_AGENT_CAP_CLIPBOARD_BY_DEMAND);
    oriel_agent_encode_message(&r->out, VDP_CLIENT_PORT, VD_AGENT_ANNOUNCE_CAPABILITIES,
                               &msg, sizeof(msg), NULL, 0);
}

static void
on_message(void *opaque, uint32_t port, const VDAgentMessage *header, const uint8_t *data)
{
    Reader *r = opaque;
    uint32_t v;

    if (!data || header->size < 4)
        return;
    memcpy(&v, data, 4);
    switch (header->type) {
    case VD_AGENT_ANNOUNCE_CAPABILITIES:
        if (le32toh(v))
            send_caps(r, false);
        break;
    case VD_AGENT_CLIPBOARD_GRAB:
        /* No selection capability: the body is the list of types. */
        r->grab_type = v;
        break;
    case VD_AGENT_CLIPBOARD: {
        int fd = open(r->clip_marker, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

        fprintf(stderr, "agent-bench-reader: clipboard %u bytes\n",
                (unsigned)(header->size - 4));
        if (fd >= 0)
            close(fd);
        break;
    }
    case VD_AGENT_FILE_XFER_START: {
        const char *size = memmem(data, header->size, "size=", 5);

        r->id = le32toh(v);
        r->size = size ? strtoull(size + 5, NULL, 10) : 0;
        r->received = 0;
        send_status(r, r->id, VD_AGENT_FILE_XFER_STATUS_CAN_SEND_DATA);
        break;
    }
    case VD_AGENT_FILE_XFER_DATA:
        if (header->size < sizeof(VDAgentFileXferDataMessage) || le32toh(v) != r->id)
            break;
        r->received += header->size - sizeof(VDAgentFileXferDataMessage);
        if (r->received >= r->size) {
            send_status(r, r->id, VD_AGENT_FILE_XFER_STATUS_SUCCESS);
            fprintf(stderr, "agent-bench-reader: %llu bytes\n",
                    (unsigned long long)r->received);
        }
        break;
    default:
        break;
    }
}

static int
flush(Reader *r)
{
    while (r->out.len > 0) {
        ssize_t n = write(r->fd, r->out.data + r->out.start, r->out.len);

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        oriel_agent_buffer_consume(&r->out, (size_t)n);
    }
    return 0;
}

int
main(int argc, char **argv)
{
    const char *path = argc > 1 ? argv[1] : "/dev/virtio-ports/com.redhat.spice.0";
    static uint8_t buf[65536];
    OrielAgentCodec *codec = NULL;
    Reader r = {
        .fd = open(path, O_RDWR | O_CLOEXEC),
        .clip_marker = argc > 2 ? argv[2] : "/tmp/reader-clip.done",
    };

    if (r.fd < 0 || oriel_agent_codec_new(0, on_message, &r, &codec) < 0) {
        perror("agent-bench-reader");
        return 1;
    }
    /* No SA_RESTART: the signal interrupts the blocking read. */
    struct sigaction sa = { .sa_handler = on_paste };

    sigaction(SIGUSR1, &sa, NULL);
    send_caps(&r, true);
    for (;;) {
        ssize_t n;

        if (paste_signal && r.grab_type) {
            paste_signal = 0;
            oriel_agent_encode_message(&r.out, VDP_CLIENT_PORT, VD_AGENT_CLIPBOARD_REQUEST,
                                       &r.grab_type, 4, NULL, 0);
        }

        if (flush(&r) < 0)
            break;
        n = read(r.fd, buf, sizeof(buf));
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        if (oriel_agent_codec_feed(codec, buf, (size_t)n) < 0)
            break;
    }
    oriel_agent_codec_free(codec);
    oriel_agent_buffer_finish(&r.out);
    close(r.fd);
    return 0;
}
