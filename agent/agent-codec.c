/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * VDIChunkHeader framing and VDAgentMessage reassembly, no I/O.
 *
 * The server may interleave chunks of its own port with those of the
 * client's, so each port has its own reassembly.  A message header may
 * itself straddle chunks.  Sizes come from the host: a message larger than
 * the cap is skipped byte by byte, never allocated.
 */
#include "oriel-agent.h"

#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

enum {
    PORT_SLOTS = VDP_END_PORT,
};

typedef struct PortAssembly {
    uint8_t header_bytes[sizeof(VDAgentMessage)];
    size_t header_have;
    VDAgentMessage header;      /* host order, once header_have is full */
    uint8_t *data;
    size_t data_have;
    bool skipping;              /* dropping an invalid or oversized body */
    bool oversized;             /* reported, without data, at its end */
} PortAssembly;

struct OrielAgentCodec {
    size_t max_message;
    OrielAgentMessageFunc func;
    void *opaque;
    uint8_t chunk_bytes[sizeof(VDIChunkHeader)];
    size_t chunk_have;
    uint32_t chunk_port;
    uint32_t chunk_left;
    PortAssembly ports[PORT_SLOTS];
    uint64_t dropped;
};

int
oriel_agent_codec_new(size_t max_message, OrielAgentMessageFunc func,
                      void *opaque, OrielAgentCodec **ret_codec)
{
    OrielAgentCodec *codec = calloc(1, sizeof(*codec));

    if (!codec)
        return -ENOMEM;
    codec->max_message = max_message ? max_message
                                     : ORIEL_AGENT_DEFAULT_MAX_MESSAGE;
    codec->func = func;
    codec->opaque = opaque;
    *ret_codec = codec;
    return 0;
}

static void
assembly_reset(PortAssembly *a)
{
    free(a->data);
    memset(a, 0, sizeof(*a));
}

void
oriel_agent_codec_reset(OrielAgentCodec *codec)
{
    if (!codec)
        return;
    for (size_t i = 0; i < PORT_SLOTS; i++)
        assembly_reset(&codec->ports[i]);
    codec->chunk_have = 0;
    codec->chunk_left = 0;
}

void
oriel_agent_codec_free(OrielAgentCodec *codec)
{
    if (!codec)
        return;
    oriel_agent_codec_reset(codec);
    free(codec);
}

uint64_t
oriel_agent_codec_dropped(const OrielAgentCodec *codec)
{
    return codec->dropped;
}

static void
deliver(OrielAgentCodec *codec, uint32_t port, PortAssembly *a)
{
    static const uint8_t empty[1];

    if (!a->skipping)
        codec->func(codec->opaque, port, &a->header,
                    a->data ? a->data : empty);
    else if (a->oversized)
        codec->func(codec->opaque, port, &a->header, NULL);
    assembly_reset(a);
}

/* Feeds len bytes of one chunk's payload to the port's reassembly. */
static int
assembly_feed(OrielAgentCodec *codec, uint32_t port, const uint8_t *buf,
              size_t len)
{
    PortAssembly *a = &codec->ports[port];

    while (len > 0) {
        if (a->header_have < sizeof(a->header_bytes)) {
            size_t n = sizeof(a->header_bytes) - a->header_have;

            if (n > len)
                n = len;
            memcpy(a->header_bytes + a->header_have, buf, n);
            a->header_have += n;
            buf += n;
            len -= n;
            if (a->header_have < sizeof(a->header_bytes))
                break;
            memcpy(&a->header, a->header_bytes, sizeof(a->header));
            a->header.protocol = le32toh(a->header.protocol);
            a->header.type = le32toh(a->header.type);
            a->header.opaque = le64toh(a->header.opaque);
            a->header.size = le32toh(a->header.size);
            if (a->header.protocol != VD_AGENT_PROTOCOL ||
                a->header.size > codec->max_message) {
                a->skipping = true;
                a->oversized = a->header.protocol == VD_AGENT_PROTOCOL;
                codec->dropped++;
            } else if (a->header.size > 0) {
                a->data = malloc(a->header.size);
                if (!a->data)
                    return -ENOMEM;
            }
            if (a->header.size == 0) {
                deliver(codec, port, a);
                continue;
            }
        }

        size_t n = a->header.size - a->data_have;

        if (n > len)
            n = len;
        if (!a->skipping)
            memcpy(a->data + a->data_have, buf, n);
        a->data_have += n;
        buf += n;
        len -= n;
        if (a->data_have == a->header.size)
            deliver(codec, port, a);
    }
    return 0;
}

int
oriel_agent_codec_feed(OrielAgentCodec *codec, const uint8_t *buf, size_t len)
{
    int r;

    while (len > 0) {
        if (codec->chunk_have < sizeof(codec->chunk_bytes)) {
            size_t n = sizeof(codec->chunk_bytes) - codec->chunk_have;
            VDIChunkHeader chunk;

            if (n > len)
                n = len;
            memcpy(codec->chunk_bytes + codec->chunk_have, buf, n);
            codec->chunk_have += n;
            buf += n;
            len -= n;
            if (codec->chunk_have < sizeof(codec->chunk_bytes))
                break;
            memcpy(&chunk, codec->chunk_bytes, sizeof(chunk));
            codec->chunk_port = le32toh(chunk.port);
            codec->chunk_left = le32toh(chunk.size);
            if (codec->chunk_port != VDP_CLIENT_PORT &&
                codec->chunk_port != VDP_SERVER_PORT)
                codec->dropped++;
            if (codec->chunk_left == 0) {
                codec->chunk_have = 0;
                continue;
            }
        }

        size_t n = codec->chunk_left < len ? codec->chunk_left : len;

        if (codec->chunk_port == VDP_CLIENT_PORT ||
            codec->chunk_port == VDP_SERVER_PORT) {
            r = assembly_feed(codec, codec->chunk_port, buf, n);
            if (r < 0)
                return r;
        }
        buf += n;
        len -= n;
        codec->chunk_left -= n;
        if (codec->chunk_left == 0)
            codec->chunk_have = 0;
    }
    return 0;
}

/* ---- output ----------------------------------------------------------- */

void
oriel_agent_buffer_finish(OrielAgentBuffer *buf)
{
    if (!buf)
        return;
    free(buf->data);
    memset(buf, 0, sizeof(*buf));
}

int
oriel_agent_buffer_append(OrielAgentBuffer *buf, const void *data, size_t len)
{
    if (len == 0)
        return 0;
    if (buf->start > 0 && buf->start + buf->len + len > buf->cap) {
        memmove(buf->data, buf->data + buf->start, buf->len);
        buf->start = 0;
    }
    if (buf->len + len > buf->cap) {
        size_t cap = buf->cap ? buf->cap : 4096;
        uint8_t *data_new;

        while (cap < buf->len + len) {
            if (cap > SIZE_MAX / 2)
                return -ENOMEM;
            cap *= 2;
        }
        data_new = realloc(buf->data, cap);
        if (!data_new)
            return -ENOMEM;
        buf->data = data_new;
        buf->cap = cap;
    }
    memcpy(buf->data + buf->start + buf->len, data, len);
    buf->len += len;
    return 0;
}

void
oriel_agent_buffer_consume(OrielAgentBuffer *buf, size_t len)
{
    if (len >= buf->len) {
        buf->start = 0;
        buf->len = 0;
        /* Give back what a large transfer grew. */
        if (buf->cap > 256 * 1024) {
            free(buf->data);
            buf->data = NULL;
            buf->cap = 0;
        }
        return;
    }
    buf->start += len;
    buf->len -= len;
}

/* Appends bytes to the current chunk, opening new chunks as each fills. */
typedef struct ChunkWriter {
    OrielAgentBuffer *out;
    uint32_t port;
    size_t chunk_left;
    size_t total_left;
} ChunkWriter;

static int
chunk_write(ChunkWriter *w, const uint8_t *data, size_t len)
{
    int r;

    while (len > 0) {
        if (w->chunk_left == 0) {
            size_t size = w->total_left < ORIEL_AGENT_MAX_CHUNK_DATA
                          ? w->total_left : ORIEL_AGENT_MAX_CHUNK_DATA;
            VDIChunkHeader chunk = {
                .port = htole32(w->port),
                .size = htole32((uint32_t)size),
            };

            r = oriel_agent_buffer_append(w->out, &chunk, sizeof(chunk));
            if (r < 0)
                return r;
            w->chunk_left = size;
        }

        size_t n = w->chunk_left < len ? w->chunk_left : len;

        r = oriel_agent_buffer_append(w->out, data, n);
        if (r < 0)
            return r;
        data += n;
        len -= n;
        w->chunk_left -= n;
        w->total_left -= n;
    }
    return 0;
}

int
oriel_agent_encode_message(OrielAgentBuffer *out, uint32_t port,
                           uint32_t type, const void *head, size_t head_len,
                           const void *body, size_t body_len)
{
    size_t rollback = out->len;
    VDAgentMessage header;
    ChunkWriter w;
    int r;

    if (head_len > UINT32_MAX || body_len > UINT32_MAX - head_len)
        return -EMSGSIZE;
    header = (VDAgentMessage) {
        .protocol = htole32(VD_AGENT_PROTOCOL),
        .type = htole32(type),
        .opaque = 0,
        .size = htole32((uint32_t)(head_len + body_len)),
    };
    w = (ChunkWriter) {
        .out = out,
        .port = port,
        .total_left = sizeof(header) + head_len + body_len,
    };
    r = chunk_write(&w, (const uint8_t *)&header, sizeof(header));
    if (r < 0)
        goto out;
    r = chunk_write(&w, head, head_len);
    if (r < 0)
        goto out;
    r = chunk_write(&w, body, body_len);
out:
    if (r < 0)
        out->len = rollback;
    return r;
}
