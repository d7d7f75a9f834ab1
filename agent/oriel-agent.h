/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * oriel-agent's protocol library: the SPICE VDAgent protocol of
 * <spice/vd_agent.h> without I/O.
 *
 * OrielAgentCodec splits the byte stream of the virtio-serial port into
 * VDIChunkHeader chunks and reassembles the VDAgentMessage they carry, one
 * reassembly per port (VDP_CLIENT_PORT, VDP_SERVER_PORT), with a cap on the
 * message size.  OrielAgentSession is the agent's state machine on top: it
 * negotiates capabilities, holds the guest side of the clipboard, records
 * monitor configs, mouse state and the rest, and writes file transfers into
 * a directory.  Whatever it sends is queued as encoded chunks; the caller
 * takes them with oriel_agent_session_output() and writes them to the port.
 *
 * Every function returns 0 or a negative errno and sets ret_ outputs only on
 * success.  Everything the host sends is untrusted: malformed, oversized or
 * out-of-order messages are dropped (counted in the status) and the session
 * carries on; only allocation failure is fatal.
 */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <spice/vd_agent.h>

/* Default cap on one reassembled message (clipboard data plus headers). */
#define ORIEL_AGENT_DEFAULT_MAX_MESSAGE (64u * 1024 * 1024)
/* spice-server refuses chunks from the agent larger than this. */
#define ORIEL_AGENT_MAX_CHUNK_DATA VD_AGENT_MAX_DATA_SIZE

/* ---- framing ---------------------------------------------------------- */

typedef struct OrielAgentCodec OrielAgentCodec;

/* A complete message.  header is in host byte order; data (header->size
 * bytes) stays owned by the codec and is valid during the call only.  A
 * message over the size cap is skipped and reported at its end with data
 * NULL, so that whoever waits for it can give up. */
typedef void (*OrielAgentMessageFunc)(void *opaque, uint32_t port,
                                      const VDAgentMessage *header,
                                      const uint8_t *data);

int oriel_agent_codec_new(size_t max_message, OrielAgentMessageFunc func,
                          void *opaque, OrielAgentCodec **ret_codec);
void oriel_agent_codec_free(OrielAgentCodec *codec);
/* Forget any partial chunk or message (the port was reopened). */
void oriel_agent_codec_reset(OrielAgentCodec *codec);
/* Feeds bytes read from the port.  Returns 0, or -ENOMEM. */
int oriel_agent_codec_feed(OrielAgentCodec *codec, const uint8_t *buf,
                           size_t len);
/* Messages dropped so far: bad port, bad protocol, oversized. */
uint64_t oriel_agent_codec_dropped(const OrielAgentCodec *codec);

/* A growable FIFO of bytes to write. */
typedef struct OrielAgentBuffer {
    uint8_t *data;
    size_t start;
    size_t len;
    size_t cap;
} OrielAgentBuffer;

void oriel_agent_buffer_finish(OrielAgentBuffer *buf);
int oriel_agent_buffer_append(OrielAgentBuffer *buf, const void *data,
                              size_t len);
void oriel_agent_buffer_consume(OrielAgentBuffer *buf, size_t len);

/* Encodes one message, head then body, as chunks of at most
 * ORIEL_AGENT_MAX_CHUNK_DATA bytes on port, appended to out. */
int oriel_agent_encode_message(OrielAgentBuffer *out, uint32_t port,
                               uint32_t type, const void *head,
                               size_t head_len, const void *body,
                               size_t body_len);

/* ---- file names ------------------------------------------------------- */

/* The last path component of name with control characters and '/' and
 * '\\' replaced, leading dots removed, at most 255 bytes; "file" when
 * nothing is left.  ret_name is malloc'd. */
int oriel_agent_sanitize_file_name(const char *name, size_t len,
                                   char **ret_name);

/* ---- session ---------------------------------------------------------- */

typedef struct OrielAgentSession OrielAgentSession;

enum {
    ORIEL_AGENT_SELECTION_COUNT = VD_AGENT_CLIPBOARD_SELECTION_PRIMARY + 1,
};

typedef struct OrielAgentSessionOps {
    /* Clipboard data the client sent for a request made with
     * oriel_agent_session_clipboard_get() returning -EAGAIN, or an empty
     * answer (len 0, status < 0) when it cannot come any more.  */
    void (*clipboard_data)(void *opaque, uint8_t selection, uint32_t type,
                           const uint8_t *data, size_t len, int status);
    /* A MONITORS_CONFIG to apply; returns 0 or a negative errno, which
     * decides the REPLY.  May be NULL (always success). */
    int (*apply_monitors)(void *opaque, const VDAgentMonitorsConfig *config,
                          size_t size);
    /* The client grabbed selection offering types (n_types of them), or
     * its grab ended (n_types 0: released, taken over by the guest, or the
     * client went away).  May be NULL. */
    void (*client_grab)(void *opaque, uint8_t selection,
                        const uint32_t *types, unsigned n_types);
    /* The client asks for type of a selection the guest grabbed with
     * oriel_agent_session_clipboard_grab(): the backend fetches the data
     * and answers with oriel_agent_session_clipboard_reply(), in the order
     * of the requests.  May be NULL (every request gets an empty answer). */
    void (*guest_request)(void *opaque, uint8_t selection, uint32_t type);
} OrielAgentSessionOps;

typedef struct OrielAgentSessionConfig {
    /* Where file transfers land; NULL disables them. */
    const char *xfer_dir;
    size_t max_message;          /* 0: ORIEL_AGENT_DEFAULT_MAX_MESSAGE */
    size_t max_clipboard;        /* 0: same as max_message */
    /* Announce VD_AGENT_CAP_AUDIO_VOLUME_SYNC.  Off unless a backend can
     * apply volumes: the client then starts syncing them (spice-gtk even
     * without an audio device).  Received syncs are recorded either way. */
    bool audio_volume_sync;
} OrielAgentSessionConfig;

int oriel_agent_session_new(const OrielAgentSessionConfig *config,
                            const OrielAgentSessionOps *ops, void *opaque,
                            OrielAgentSession **ret_session);
void oriel_agent_session_free(OrielAgentSession *session);

/* The port was (re)opened: forget the peer, announce our capabilities with
 * request=1. */
int oriel_agent_session_connected(OrielAgentSession *session);
/* The port closed: fail pending requests, cancel transfers. */
void oriel_agent_session_disconnected(OrielAgentSession *session);

/* Bytes read from the port. */
int oriel_agent_session_feed(OrielAgentSession *session, const uint8_t *buf,
                             size_t len);
/* Encoded bytes waiting for the port. */
OrielAgentBuffer *oriel_agent_session_output(OrielAgentSession *session);
void oriel_agent_session_count_written(OrielAgentSession *session,
                                       size_t len);

/* The guest copies: takes the grab of selection and offers type.  data is
 * copied.  -EOPNOTSUPP when the client has not announced the capability
 * (the data is still kept for guest programs). */
int oriel_agent_session_clipboard_set(OrielAgentSession *session,
                                      uint8_t selection, uint32_t type,
                                      const uint8_t *data, size_t len);
/* The guest copies, data on demand (a window system's selection): takes
 * the grab of selection offering types (at most 16; duplicates and
 * VD_AGENT_CLIPBOARD_NONE refused with -EINVAL).  Client requests then
 * reach ops->guest_request.  -EOPNOTSUPP as for clipboard_set. */
int oriel_agent_session_clipboard_grab(OrielAgentSession *session,
                                       uint8_t selection,
                                       const uint32_t *types,
                                       unsigned n_types);
/* The answer to the oldest ops->guest_request of selection: data of type
 * (len 0: the guest could not provide it), copied.  Data over the client's
 * MAX_CLIPBOARD goes as an empty answer.  -ENOENT when no request of that
 * type waits (the grab changed since). */
int oriel_agent_session_clipboard_reply(OrielAgentSession *session,
                                        uint8_t selection, uint32_t type,
                                        const uint8_t *data, size_t len);
/* The guest pastes.  0 with a pointer to the guest's own data (valid until
 * the next call changing the clipboard); -EAGAIN when a request went to the
 * client (the answer comes through ops->clipboard_data); -ENOENT when
 * nobody holds the selection or the type is not offered. */
int oriel_agent_session_clipboard_get(OrielAgentSession *session,
                                      uint8_t selection, uint32_t type,
                                      const uint8_t **ret_data,
                                      size_t *ret_len);
/* Every guest program waiting for selection gave up: forget the request
 * so the next get asks again (a late answer is then dropped). */
void oriel_agent_session_clipboard_abandon(OrielAgentSession *session,
                                           uint8_t selection);
/* The guest empties the selection it holds. */
int oriel_agent_session_clipboard_release(OrielAgentSession *session,
                                          uint8_t selection);

bool oriel_agent_session_has_client_cap(const OrielAgentSession *session,
                                        unsigned cap);
/* Messages dropped so far (malformed, oversized, unexpected). */
uint64_t oriel_agent_session_dropped(const OrielAgentSession *session);
/* A text report (key: value lines) for `oriel-agent status`; malloc'd. */
int oriel_agent_session_format_status(const OrielAgentSession *session,
                                      char **ret_text);
