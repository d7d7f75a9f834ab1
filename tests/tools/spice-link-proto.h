/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The SPICE link handshake, as a codec: it builds a link request and parses
 * a link reply from bytes.  It does no I/O; spice-link owns the socket. */
#pragma once

#include <glib.h>

#include <spice/protocol.h>

/* A link reply is a SpiceLinkReply (178 bytes) plus a few capability
 * words; anything past this from a peer is refused, not allocated. */
#define SPICE_LINK_REPLY_MAX_SIZE 4096
#define SPICE_LINK_HEADER_SIZE ((gsize)sizeof(SpiceLinkHeader))

#define SPICE_LINK_PROTO_ERROR (spice_link_proto_error_quark())
GQuark spice_link_proto_error_quark(void);

typedef enum {
    SPICE_LINK_PROTO_ERROR_MAGIC,    /* not a SPICE server */
    SPICE_LINK_PROTO_ERROR_VERSION,  /* a major version we do not speak */
    SPICE_LINK_PROTO_ERROR_SIZE,     /* a length that does not fit */
} SpiceLinkProtoError;

typedef struct {
    guint32 error;            /* SPICE_LINK_ERR_*; 0 is SPICE_LINK_ERR_OK */
    guint32 minor_version;
    guint32 num_common_caps;
    guint32 num_channel_caps;
    guint32 common_caps;      /* the first common capability word, or 0 */
} SpiceLinkReplyInfo;

/* Returns the link request (header + SpiceLinkMess + one common caps word:
 * auth selection, SPICE ticket auth, mini header) for a new session
 * (connection_id 0) on the given channel.  Caller owns the bytes. */
GBytes *spice_link_request_new(guint8 channel_type, guint8 channel_id);

/* Parses the SPICE_LINK_HEADER_SIZE bytes of a reply header.  On success
 * stores the size of the body that follows, at most
 * SPICE_LINK_REPLY_MAX_SIZE and at least sizeof(SpiceLinkReply), and the
 * server's minor version. */
gboolean spice_link_reply_header_parse(const guint8 *data, gsize len,
                                       guint32 *ret_body_size,
                                       guint32 *ret_minor_version,
                                       GError **error);

/* Parses a reply body of exactly the size the header announced.
 * ret->minor_version is left to the caller. */
gboolean spice_link_reply_body_parse(const guint8 *data, gsize len,
                                     SpiceLinkReplyInfo *ret, GError **error);
