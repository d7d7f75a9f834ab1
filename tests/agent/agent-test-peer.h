/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A fake SPICE side for the agent's unit tests: encodes what the client or
 * server sends into the session, and decodes what the session queued.
 */
#pragma once

#include <glib.h>
#include <string.h>

#include "oriel-agent.h"

typedef struct {
    guint32 port;
    guint32 type;
    GBytes *data;
} PeerMessage;

static inline void
peer_message_free(gpointer p)
{
    PeerMessage *m = p;

    g_bytes_unref(m->data);
    g_free(m);
}

static inline void
peer_collect(void *opaque, uint32_t port, const VDAgentMessage *header,
             const uint8_t *data)
{
    GPtrArray *out = opaque;
    PeerMessage *m = g_new0(PeerMessage, 1);

    m->port = port;
    m->type = header->type;
    m->data = data ? g_bytes_new(data, header->size) : NULL;
    g_ptr_array_add(out, m);
}

/* Encodes a message and feeds it to the session. */
static inline void
peer_send(OrielAgentSession *s, guint32 port, guint32 type, const void *head,
          gsize head_len, const void *body, gsize body_len)
{
    OrielAgentBuffer buf = { 0 };

    g_assert_cmpint(oriel_agent_encode_message(&buf, port, type, head, head_len,
                                               body, body_len), ==, 0);
    g_assert_cmpint(oriel_agent_session_feed(s, buf.data + buf.start, buf.len), ==, 0);
    oriel_agent_buffer_finish(&buf);
}

/* Decodes and empties the session's output. */
static inline GPtrArray *
peer_take(OrielAgentSession *s)
{
    GPtrArray *out = g_ptr_array_new_with_free_func(peer_message_free);
    OrielAgentBuffer *buf = oriel_agent_session_output(s);
    OrielAgentCodec *codec = NULL;

    g_assert_cmpint(oriel_agent_codec_new(0, peer_collect, out, &codec), ==, 0);
    g_assert_cmpint(oriel_agent_codec_feed(codec, buf->data ? buf->data + buf->start : NULL,
                                           buf->len), ==, 0);
    oriel_agent_buffer_consume(buf, buf->len);
    oriel_agent_codec_free(codec);
    return out;
}
