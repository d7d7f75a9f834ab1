/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of the agent's framing: chunks, reassembly, caps on sizes. */
#include <endian.h>

#include "agent-test-peer.h"

static GBytes *
pattern(gsize len)
{
    guint8 *data = g_malloc(len ? len : 1);

    for (gsize i = 0; i < len; i++)
        data[i] = (guint8)(i * 7 + 3);
    return g_bytes_new_take(data, len);
}

static void
encode(OrielAgentBuffer *buf, guint32 port, guint32 type, GBytes *body)
{
    gsize len = 0;
    const void *data = g_bytes_get_data(body, &len);

    g_assert_cmpint(oriel_agent_encode_message(buf, port, type, NULL, 0, data, len), ==, 0);
}

/* Feeds buf to a fresh codec in pieces of step bytes (0: random). */
static GPtrArray *
decode(const OrielAgentBuffer *buf, gsize step, gsize max_message)
{
    GPtrArray *out = g_ptr_array_new_with_free_func(peer_message_free);
    OrielAgentCodec *codec = NULL;
    gsize pos = 0;

    g_assert_cmpint(oriel_agent_codec_new(max_message, peer_collect, out, &codec), ==, 0);
    while (pos < buf->len) {
        gsize n = step ? step : (gsize)g_test_rand_int_range(1, 5000);

        if (n > buf->len - pos)
            n = buf->len - pos;
        g_assert_cmpint(oriel_agent_codec_feed(codec, buf->data + buf->start + pos, n), ==, 0);
        pos += n;
    }
    oriel_agent_codec_free(codec);
    return out;
}

static void
test_roundtrip_splits(void)
{
    static const gsize sizes[] = { 0, 1, 19, 2028, 2048, 2049, 10000, 70000 };
    static const gsize steps[] = { 1, 3, 8, 20, 2056, 0 };

    for (gsize i = 0; i < G_N_ELEMENTS(sizes); i++) {
        g_autoptr(GBytes) body = pattern(sizes[i]);
        OrielAgentBuffer buf = { 0 };

        encode(&buf, VDP_CLIENT_PORT, VD_AGENT_CLIPBOARD, body);
        encode(&buf, VDP_SERVER_PORT, VD_AGENT_MOUSE_STATE, body);
        for (gsize j = 0; j < G_N_ELEMENTS(steps); j++) {
            g_autoptr(GPtrArray) out = decode(&buf, steps[j], 0);
            PeerMessage *m;

            g_assert_cmpuint(out->len, ==, 2);
            m = out->pdata[0];
            g_assert_cmpuint(m->port, ==, VDP_CLIENT_PORT);
            g_assert_cmpuint(m->type, ==, VD_AGENT_CLIPBOARD);
            g_assert_true(g_bytes_equal(m->data, body));
            m = out->pdata[1];
            g_assert_cmpuint(m->port, ==, VDP_SERVER_PORT);
            g_assert_true(g_bytes_equal(m->data, body));
        }
        oriel_agent_buffer_finish(&buf);
    }
}

/* What the agent sends must fit spice-server's chunk limit. */
static void
test_chunks_bounded(void)
{
    g_autoptr(GBytes) body = pattern(9000);
    OrielAgentBuffer buf = { 0 };
    gsize pos = 0, total = 0, chunks = 0;

    encode(&buf, VDP_CLIENT_PORT, VD_AGENT_CLIPBOARD, body);
    while (pos < buf.len) {
        VDIChunkHeader chunk;

        memcpy(&chunk, buf.data + buf.start + pos, sizeof(chunk));
        g_assert_cmpuint(le32toh(chunk.port), ==, VDP_CLIENT_PORT);
        g_assert_cmpuint(le32toh(chunk.size), <=, VD_AGENT_MAX_DATA_SIZE);
        g_assert_cmpuint(le32toh(chunk.size), >, 0);
        pos += sizeof(chunk) + le32toh(chunk.size);
        total += le32toh(chunk.size);
        chunks++;
    }
    g_assert_cmpuint(pos, ==, buf.len);
    g_assert_cmpuint(total, ==, 9000 + sizeof(VDAgentMessage));
    g_assert_cmpuint(chunks, ==, 5);
    oriel_agent_buffer_finish(&buf);
}

static void
append_chunk(OrielAgentBuffer *buf, guint32 port, const void *data, gsize len)
{
    VDIChunkHeader chunk = { .port = htole32(port), .size = htole32((guint32)len) };

    g_assert_cmpint(oriel_agent_buffer_append(buf, &chunk, sizeof(chunk)), ==, 0);
    g_assert_cmpint(oriel_agent_buffer_append(buf, data, len), ==, 0);
}

static void
message_bytes(GByteArray *out, guint32 protocol, guint32 type, const void *data, guint32 len)
{
    VDAgentMessage header = {
        .protocol = htole32(protocol),
        .type = htole32(type),
        .size = htole32(len),
    };

    g_byte_array_append(out, (const guint8 *)&header, sizeof(header));
    g_byte_array_append(out, data, len);
}

/* A client message split over chunks, its header too, with a server
 * message between its chunks. */
static void
test_interleaved_ports(void)
{
    g_autoptr(GByteArray) client = g_byte_array_new();
    g_autoptr(GByteArray) server = g_byte_array_new();
    g_autoptr(GPtrArray) out = NULL;
    OrielAgentBuffer buf = { 0 };

    message_bytes(client, VD_AGENT_PROTOCOL, VD_AGENT_CLIPBOARD, "hello world", 11);
    message_bytes(server, VD_AGENT_PROTOCOL, VD_AGENT_MOUSE_STATE, "xyz", 3);
    append_chunk(&buf, VDP_CLIENT_PORT, client->data, 7);
    append_chunk(&buf, VDP_SERVER_PORT, server->data, server->len);
    append_chunk(&buf, VDP_CLIENT_PORT, client->data + 7, 0);
    append_chunk(&buf, VDP_CLIENT_PORT, client->data + 7, client->len - 7);
    out = decode(&buf, 1, 0);
    g_assert_cmpuint(out->len, ==, 2);
    g_assert_cmpuint(((PeerMessage *)out->pdata[0])->port, ==, VDP_SERVER_PORT);
    g_assert_cmpuint(((PeerMessage *)out->pdata[1])->port, ==, VDP_CLIENT_PORT);
    g_assert_cmpmem(g_bytes_get_data(((PeerMessage *)out->pdata[1])->data, NULL), 11,
                    "hello world", 11);
    oriel_agent_buffer_finish(&buf);
}

static void
test_bad_input_skipped(void)
{
    g_autoptr(GByteArray) bytes = g_byte_array_new();
    g_autoptr(GPtrArray) out = NULL;
    OrielAgentBuffer buf = { 0 };
    OrielAgentCodec *codec = NULL;
    PeerMessage *m;

    /* wrong protocol, oversized, an unknown port, then a good one */
    message_bytes(bytes, 2, VD_AGENT_CLIPBOARD, "bad", 3);
    message_bytes(bytes, VD_AGENT_PROTOCOL, VD_AGENT_CLIPBOARD, "0123456789abcdef", 16);
    append_chunk(&buf, VDP_CLIENT_PORT, bytes->data, bytes->len);
    append_chunk(&buf, 7, "garbage!", 8);
    g_byte_array_set_size(bytes, 0);
    message_bytes(bytes, VD_AGENT_PROTOCOL, VD_AGENT_REPLY, "ok", 2);
    append_chunk(&buf, VDP_CLIENT_PORT, bytes->data, bytes->len);

    out = g_ptr_array_new_with_free_func(peer_message_free);
    g_assert_cmpint(oriel_agent_codec_new(8, peer_collect, out, &codec), ==, 0);
    g_assert_cmpint(oriel_agent_codec_feed(codec, buf.data, buf.len), ==, 0);
    g_assert_cmpuint(oriel_agent_codec_dropped(codec), ==, 3);
    oriel_agent_codec_free(codec);

    /* The oversized one is reported without data; then the good one. */
    g_assert_cmpuint(out->len, ==, 2);
    m = out->pdata[0];
    g_assert_cmpuint(m->type, ==, VD_AGENT_CLIPBOARD);
    g_assert_null(m->data);
    m = out->pdata[1];
    g_assert_cmpuint(m->type, ==, VD_AGENT_REPLY);
    g_assert_cmpuint(g_bytes_get_size(m->data), ==, 2);
    oriel_agent_buffer_finish(&buf);
}

static void
test_reset_drops_partial(void)
{
    g_autoptr(GByteArray) bytes = g_byte_array_new();
    g_autoptr(GPtrArray) out = g_ptr_array_new_with_free_func(peer_message_free);
    OrielAgentBuffer buf = { 0 };
    OrielAgentCodec *codec = NULL;

    message_bytes(bytes, VD_AGENT_PROTOCOL, VD_AGENT_CLIPBOARD, "abcdef", 6);
    append_chunk(&buf, VDP_CLIENT_PORT, bytes->data, bytes->len);
    g_assert_cmpint(oriel_agent_codec_new(0, peer_collect, out, &codec), ==, 0);
    g_assert_cmpint(oriel_agent_codec_feed(codec, buf.data, buf.len - 3), ==, 0);
    oriel_agent_codec_reset(codec);
    g_assert_cmpint(oriel_agent_codec_feed(codec, buf.data, buf.len), ==, 0);
    g_assert_cmpuint(out->len, ==, 1);
    oriel_agent_codec_free(codec);
    oriel_agent_buffer_finish(&buf);
}

static void
test_buffer_fifo(void)
{
    OrielAgentBuffer buf = { 0 };
    guint8 big[5000];

    memset(big, 'x', sizeof(big));
    g_assert_cmpint(oriel_agent_buffer_append(&buf, "abc", 3), ==, 0);
    oriel_agent_buffer_consume(&buf, 1);
    g_assert_cmpint(oriel_agent_buffer_append(&buf, big, sizeof(big)), ==, 0);
    g_assert_cmpuint(buf.len, ==, 5002);
    g_assert_cmpmem(buf.data + buf.start, 2, "bc", 2);
    oriel_agent_buffer_consume(&buf, buf.len);
    g_assert_cmpuint(buf.len, ==, 0);
    oriel_agent_buffer_finish(&buf);
    oriel_agent_buffer_finish(NULL);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/agent-codec/roundtrip-splits", test_roundtrip_splits);
    g_test_add_func("/agent-codec/chunks-bounded", test_chunks_bounded);
    g_test_add_func("/agent-codec/interleaved-ports", test_interleaved_ports);
    g_test_add_func("/agent-codec/bad-input-skipped", test_bad_input_skipped);
    g_test_add_func("/agent-codec/reset-drops-partial", test_reset_drops_partial);
    g_test_add_func("/agent-codec/buffer-fifo", test_buffer_fifo);
    return g_test_run();
}
