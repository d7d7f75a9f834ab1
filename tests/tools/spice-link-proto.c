/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "spice-link-proto.h"

#include <stddef.h>
#include <string.h>

G_DEFINE_QUARK(spice-link-proto-error-quark, spice_link_proto_error)

/* SPICE puts every integer on the wire little-endian. */
static guint32
read_le32(const guint8 *p)
{
    return (guint32)p[0] | (guint32)p[1] << 8 | (guint32)p[2] << 16 | (guint32)p[3] << 24;
}

static void
write_le32(guint8 *p, guint32 v)
{
    p[0] = (guint8)v;
    p[1] = (guint8)(v >> 8);
    p[2] = (guint8)(v >> 16);
    p[3] = (guint8)(v >> 24);
}

GBytes *
spice_link_request_new(guint8 channel_type, guint8 channel_id)
{
    const gsize mess_size = sizeof(SpiceLinkMess) + sizeof(guint32);
    const gsize total = SPICE_LINK_HEADER_SIZE + mess_size;
    guint8 *buf = g_malloc0(total);
    guint8 *mess = buf + SPICE_LINK_HEADER_SIZE;
    guint32 caps = 1u << SPICE_COMMON_CAP_PROTOCOL_AUTH_SELECTION |
                   1u << SPICE_COMMON_CAP_AUTH_SPICE |
                   1u << SPICE_COMMON_CAP_MINI_HEADER;

    write_le32(buf + offsetof(SpiceLinkHeader, magic), SPICE_MAGIC);
    write_le32(buf + offsetof(SpiceLinkHeader, major_version), SPICE_VERSION_MAJOR);
    write_le32(buf + offsetof(SpiceLinkHeader, minor_version), SPICE_VERSION_MINOR);
    write_le32(buf + offsetof(SpiceLinkHeader, size), (guint32)mess_size);

    write_le32(mess + offsetof(SpiceLinkMess, connection_id), 0);
    mess[offsetof(SpiceLinkMess, channel_type)] = channel_type;
    mess[offsetof(SpiceLinkMess, channel_id)] = channel_id;
    write_le32(mess + offsetof(SpiceLinkMess, num_common_caps), 1);
    write_le32(mess + offsetof(SpiceLinkMess, num_channel_caps), 0);
    write_le32(mess + offsetof(SpiceLinkMess, caps_offset), sizeof(SpiceLinkMess));
    write_le32(mess + sizeof(SpiceLinkMess), caps);

    return g_bytes_new_take(buf, total);
}

gboolean
spice_link_reply_header_parse(const guint8 *data, gsize len, guint32 *ret_body_size,
                              guint32 *ret_minor_version, GError **error)
{
    guint32 magic, major, minor, size;

    if (len != SPICE_LINK_HEADER_SIZE) {
        g_set_error(error, SPICE_LINK_PROTO_ERROR, SPICE_LINK_PROTO_ERROR_SIZE,
                    "link header is %" G_GSIZE_FORMAT " bytes, not %" G_GSIZE_FORMAT,
                    len, SPICE_LINK_HEADER_SIZE);
        return FALSE;
    }
    magic = read_le32(data + offsetof(SpiceLinkHeader, magic));
    major = read_le32(data + offsetof(SpiceLinkHeader, major_version));
    minor = read_le32(data + offsetof(SpiceLinkHeader, minor_version));
    size = read_le32(data + offsetof(SpiceLinkHeader, size));
    if (magic != SPICE_MAGIC) {
        g_set_error(error, SPICE_LINK_PROTO_ERROR, SPICE_LINK_PROTO_ERROR_MAGIC,
                    "bad magic 0x%08x in link reply", magic);
        return FALSE;
    }
    if (major != SPICE_VERSION_MAJOR) {
        g_set_error(error, SPICE_LINK_PROTO_ERROR, SPICE_LINK_PROTO_ERROR_VERSION,
                    "server speaks SPICE %u.%u, not %u.x", major, minor,
                    SPICE_VERSION_MAJOR);
        return FALSE;
    }
    if (size < sizeof(SpiceLinkReply) || size > SPICE_LINK_REPLY_MAX_SIZE) {
        g_set_error(error, SPICE_LINK_PROTO_ERROR, SPICE_LINK_PROTO_ERROR_SIZE,
                    "link reply size %u is outside [%" G_GSIZE_FORMAT ", %d]", size,
                    sizeof(SpiceLinkReply), SPICE_LINK_REPLY_MAX_SIZE);
        return FALSE;
    }
    *ret_body_size = size;
    *ret_minor_version = minor;
    return TRUE;
}

gboolean
spice_link_reply_body_parse(const guint8 *data, gsize len, SpiceLinkReplyInfo *ret,
                            GError **error)
{
    guint32 n_common, n_channel, caps_offset;
    guint64 caps_end;

    if (len < sizeof(SpiceLinkReply) || len > SPICE_LINK_REPLY_MAX_SIZE) {
        g_set_error(error, SPICE_LINK_PROTO_ERROR, SPICE_LINK_PROTO_ERROR_SIZE,
                    "link reply body of %" G_GSIZE_FORMAT " bytes", len);
        return FALSE;
    }
    n_common = read_le32(data + offsetof(SpiceLinkReply, num_common_caps));
    n_channel = read_le32(data + offsetof(SpiceLinkReply, num_channel_caps));
    caps_offset = read_le32(data + offsetof(SpiceLinkReply, caps_offset));
    /* 64-bit sums: the counts come from the peer and may be huge. */
    caps_end = (guint64)caps_offset + ((guint64)n_common + n_channel) * sizeof(guint32);
    if (caps_offset < sizeof(SpiceLinkReply) || caps_end > len) {
        g_set_error(error, SPICE_LINK_PROTO_ERROR, SPICE_LINK_PROTO_ERROR_SIZE,
                    "link reply capabilities (offset %u, %u + %u words) exceed its %"
                    G_GSIZE_FORMAT " bytes", caps_offset, n_common, n_channel, len);
        return FALSE;
    }
    ret->error = read_le32(data + offsetof(SpiceLinkReply, error));
    ret->num_common_caps = n_common;
    ret->num_channel_caps = n_channel;
    ret->common_caps = n_common > 0 ? read_le32(data + caps_offset) : 0;
    return TRUE;
}
