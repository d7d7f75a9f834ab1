/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The agent's message handling: capability negotiation, the clipboard with
 * selections and grab serials, monitor configs, and the messages that are
 * only recorded.  No I/O besides the file transfers' directory: replies are
 * queued as encoded chunks in session->out.
 */
#include "oriel-agent.h"
#include "agent-file-xfer.h"

#include <endian.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_GRAB_TYPES 16
#define MAX_MONITORS 32
#define MAX_PENDING_REQUESTS 64
#define MAX_VOLUME_CHANNELS 8
#define MAX_DISPLAY_INFO 8
#define MAX_GUEST_REQUESTS 8

typedef enum {
    OWNER_NONE,
    OWNER_GUEST,
    OWNER_CLIENT,
} Owner;

typedef struct Selection {
    Owner owner;
    /* OWNER_GUEST: what guest programs copied */
    uint32_t guest_type;
    uint8_t *guest_data;
    size_t guest_len;
    /* OWNER_GUEST with data on demand (clipboard_grab): the types offered,
     * and the client's requests the backend has yet to answer, oldest
     * first. */
    bool guest_lazy;
    uint32_t guest_types[MAX_GRAB_TYPES];
    unsigned n_guest_types;
    uint32_t guest_requests[MAX_GUEST_REQUESTS][2];   /* type, port */
    unsigned n_guest_requests;
    /* OWNER_CLIENT: what the client offers */
    uint32_t client_types[MAX_GRAB_TYPES];
    unsigned n_client_types;
    unsigned pending_requests;
    /* Grabs of this selection so far, both sides (GRAB_SERIAL). */
    uint32_t serial;
    uint64_t grabs_discarded;
} Selection;

typedef struct DisplayInfo {
    uint32_t channel_id;
    uint32_t monitor_id;
    uint32_t device_display_id;
    char address[64];
} DisplayInfo;

struct OrielAgentSession {
    OrielAgentCodec *codec;
    OrielAgentFileXfer *xfer;
    const OrielAgentSessionOps *ops;
    void *opaque;
    size_t max_clipboard;
    OrielAgentBuffer out;

    bool connected;
    bool client_caps_received;
    uint32_t our_caps[VD_AGENT_CAPS_SIZE];
    uint32_t client_caps[VD_AGENT_CAPS_SIZE];
    int32_t client_max_clipboard;       /* -1: no limit announced */

    Selection selections[ORIEL_AGENT_SELECTION_COUNT];

    bool have_monitors;
    uint32_t monitors_flags;
    uint32_t n_monitors;
    VDAgentMonConfig monitors[MAX_MONITORS];
    uint64_t monitors_configs;

    bool have_mouse;
    VDAgentMouseState mouse;

    bool have_volume[2];
    uint8_t volume_mute[2];
    uint8_t volume_channels[2];
    uint16_t volume[2][MAX_VOLUME_CHANNELS];

    uint32_t n_display_info;
    DisplayInfo display_info[MAX_DISPLAY_INFO];

    uint64_t client_disconnects;
    uint64_t messages_in;
    uint64_t messages_out;
    uint64_t bytes_in;
    uint64_t bytes_out;
    uint64_t dropped;
    uint64_t by_type_in[VD_AGENT_END_MESSAGE];
};

static bool
caps_has(const uint32_t *caps, unsigned cap)
{
    return VD_AGENT_HAS_CAPABILITY(caps, VD_AGENT_CAPS_SIZE, cap);
}

static bool
negotiated(const OrielAgentSession *s, unsigned cap)
{
    return caps_has(s->our_caps, cap) && caps_has(s->client_caps, cap);
}

bool
oriel_agent_session_has_client_cap(const OrielAgentSession *s, unsigned cap)
{
    return s->client_caps_received && caps_has(s->client_caps, cap);
}

uint64_t
oriel_agent_session_dropped(const OrielAgentSession *s)
{
    return s->dropped + oriel_agent_codec_dropped(s->codec);
}

static void
handle_message(void *opaque, uint32_t port, const VDAgentMessage *header,
               const uint8_t *data);

int
oriel_agent_session_new(const OrielAgentSessionConfig *config,
                        const OrielAgentSessionOps *ops, void *opaque,
                        OrielAgentSession **ret_session)
{
    static const unsigned caps[] = {
        VD_AGENT_CAP_MOUSE_STATE,
        VD_AGENT_CAP_MONITORS_CONFIG,
        VD_AGENT_CAP_REPLY,
        VD_AGENT_CAP_CLIPBOARD_BY_DEMAND,
        VD_AGENT_CAP_CLIPBOARD_SELECTION,
        VD_AGENT_CAP_SPARSE_MONITORS_CONFIG,
        VD_AGENT_CAP_GUEST_LINEEND_LF,
        VD_AGENT_CAP_MAX_CLIPBOARD,
        VD_AGENT_CAP_MONITORS_CONFIG_POSITION,
        VD_AGENT_CAP_FILE_XFER_DETAILED_ERRORS,
        VD_AGENT_CAP_GRAPHICS_DEVICE_INFO,
        VD_AGENT_CAP_CLIPBOARD_NO_RELEASE_ON_REGRAB,
        VD_AGENT_CAP_CLIPBOARD_GRAB_SERIAL,
    };
    OrielAgentSession *s = calloc(1, sizeof(*s));
    size_t max_message;
    int r;

    if (!s)
        return -ENOMEM;
    max_message = config->max_message ? config->max_message
                                      : ORIEL_AGENT_DEFAULT_MAX_MESSAGE;
    r = oriel_agent_codec_new(max_message, handle_message, s, &s->codec);
    if (r < 0)
        goto out;
    r = oriel_agent_file_xfer_new(config->xfer_dir, &s->xfer);
    if (r < 0)
        goto out;
    s->ops = ops;
    s->opaque = opaque;
    s->max_clipboard = config->max_clipboard ? config->max_clipboard
                                             : max_message;
    s->client_max_clipboard = -1;
    for (size_t i = 0; i < sizeof(caps) / sizeof(caps[0]); i++)
        VD_AGENT_SET_CAPABILITY(s->our_caps, caps[i]);
    if (!config->xfer_dir)
        VD_AGENT_SET_CAPABILITY(s->our_caps, VD_AGENT_CAP_FILE_XFER_DISABLED);
    if (config->audio_volume_sync)
        VD_AGENT_SET_CAPABILITY(s->our_caps, VD_AGENT_CAP_AUDIO_VOLUME_SYNC);
    *ret_session = s;
    s = NULL;
out:
    oriel_agent_session_free(s);
    return r;
}

static int send_clipboard(OrielAgentSession *s, uint32_t port,
                          uint8_t selection, uint32_t type,
                          const uint8_t *data, size_t len);

static void
selection_clear_guest(Selection *sel)
{
    free(sel->guest_data);
    sel->guest_data = NULL;
    sel->guest_len = 0;
    sel->guest_type = VD_AGENT_CLIPBOARD_NONE;
    sel->guest_lazy = false;
    sel->n_guest_types = 0;
    sel->n_guest_requests = 0;
}

/* The guest's grab ends: the client's requests still waiting for the
 * backend get empty answers, so that it does not wait for them. */
static void
selection_end_guest(OrielAgentSession *s, uint8_t selection)
{
    Selection *sel = &s->selections[selection];

    if (s->connected)
        for (unsigned i = 0; i < sel->n_guest_requests; i++)
            send_clipboard(s, sel->guest_requests[i][1], selection,
                           sel->guest_requests[i][0], NULL, 0);
    selection_clear_guest(sel);
}

static void
notify_client_grab(OrielAgentSession *s, uint8_t selection)
{
    const Selection *sel = &s->selections[selection];

    if (s->ops && s->ops->client_grab)
        s->ops->client_grab(s->opaque, selection, sel->client_types,
                            sel->owner == OWNER_CLIENT ? sel->n_client_types
                                                       : 0);
}

/* Answers every pending request of a selection with nothing. */
static void
selection_fail_pending(OrielAgentSession *s, uint8_t selection, int status)
{
    Selection *sel = &s->selections[selection];

    if (sel->pending_requests == 0)
        return;
    sel->pending_requests = 0;
    if (s->ops && s->ops->clipboard_data)
        s->ops->clipboard_data(s->opaque, selection, VD_AGENT_CLIPBOARD_NONE,
                               NULL, 0, status);
}

void
oriel_agent_session_free(OrielAgentSession *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < ORIEL_AGENT_SELECTION_COUNT; i++)
        selection_clear_guest(&s->selections[i]);
    oriel_agent_codec_free(s->codec);
    oriel_agent_file_xfer_free(s->xfer);
    oriel_agent_buffer_finish(&s->out);
    free(s);
}

static int
send_message(OrielAgentSession *s, uint32_t port, uint32_t type,
             const void *head, size_t head_len, const void *body,
             size_t body_len)
{
    int r = oriel_agent_encode_message(&s->out, port, type, head, head_len,
                                       body, body_len);

    if (r == 0)
        s->messages_out++;
    return r;
}

static int
send_capabilities(OrielAgentSession *s, bool request)
{
    struct {
        VDAgentAnnounceCapabilities head;
        uint32_t caps[VD_AGENT_CAPS_SIZE];
    } msg;

    msg.head.request = htole32(request ? 1 : 0);
    for (size_t i = 0; i < VD_AGENT_CAPS_SIZE; i++)
        msg.caps[i] = htole32(s->our_caps[i]);
    return send_message(s, VDP_CLIENT_PORT,
                        VD_AGENT_ANNOUNCE_CAPABILITIES, &msg, sizeof(msg),
                        NULL, 0);
}

/* The selection header of clipboard messages, present only when both
 * sides announced VD_AGENT_CAP_CLIPBOARD_SELECTION. */
static size_t
selection_header(const OrielAgentSession *s, uint8_t selection,
                 uint8_t header[4])
{
    if (!negotiated(s, VD_AGENT_CAP_CLIPBOARD_SELECTION))
        return 0;
    header[0] = selection;
    header[1] = header[2] = header[3] = 0;
    return 4;
}

static int
send_grab(OrielAgentSession *s, uint8_t selection)
{
    Selection *sel = &s->selections[selection];
    uint8_t head[12];
    size_t head_len = selection_header(s, selection, head);
    uint32_t types[MAX_GRAB_TYPES];
    unsigned n_types = 0;

    if (sel->guest_lazy)
        for (unsigned i = 0; i < sel->n_guest_types; i++)
            types[n_types++] = htole32(sel->guest_types[i]);
    else
        types[n_types++] = htole32(sel->guest_type);

    if (!negotiated(s, VD_AGENT_CAP_CLIPBOARD_BY_DEMAND))
        return -EOPNOTSUPP;
    if (selection != VD_AGENT_CLIPBOARD_SELECTION_CLIPBOARD &&
        !negotiated(s, VD_AGENT_CAP_CLIPBOARD_SELECTION))
        return -EOPNOTSUPP;
    /* Both sides count every grab of the selection, theirs and ours, and
     * number each new grab with the count.  spice-gtk drops a grab whose
     * serial is not its count: when two grabs cross on the wire, both
     * carry the same serial, the client drops ours and ours keeps theirs
     * (see handle_grab), so the client wins the tie on both sides. */
    if (negotiated(s, VD_AGENT_CAP_CLIPBOARD_GRAB_SERIAL)) {
        uint32_t serial = htole32(sel->serial++);

        memcpy(head + head_len, &serial, 4);
        head_len += 4;
    }
    return send_message(s, VDP_CLIENT_PORT, VD_AGENT_CLIPBOARD_GRAB, head,
                        head_len, types, n_types * sizeof(types[0]));
}

static int
send_clipboard(OrielAgentSession *s, uint32_t port, uint8_t selection,
               uint32_t type, const uint8_t *data, size_t len)
{
    uint8_t head[8];
    size_t head_len = selection_header(s, selection, head);
    uint32_t type_le = htole32(type);

    memcpy(head + head_len, &type_le, 4);
    head_len += 4;
    return send_message(s, port, VD_AGENT_CLIPBOARD, head, head_len, data,
                        len);
}

int
oriel_agent_session_connected(OrielAgentSession *s)
{
    oriel_agent_session_disconnected(s);
    s->connected = true;
    return send_capabilities(s, true);
}

/* The client went away: its grabs, requests and transfers go with it. */
static void
forget_client(OrielAgentSession *s)
{
    for (uint8_t i = 0; i < ORIEL_AGENT_SELECTION_COUNT; i++) {
        Selection *sel = &s->selections[i];

        selection_fail_pending(s, i, -ECONNRESET);
        /* The client's requests go with it. */
        sel->n_guest_requests = 0;
        if (sel->owner == OWNER_CLIENT) {
            sel->owner = OWNER_NONE;
            notify_client_grab(s, i);
        }
        sel->n_client_types = 0;
        sel->serial = 0;
    }
    oriel_agent_file_xfer_cancel_all(s->xfer);
    s->client_caps_received = false;
    memset(s->client_caps, 0, sizeof(s->client_caps));
    s->client_max_clipboard = -1;
}

void
oriel_agent_session_disconnected(OrielAgentSession *s)
{
    forget_client(s);
    oriel_agent_codec_reset(s->codec);
    oriel_agent_buffer_consume(&s->out, s->out.len);
    s->connected = false;
}

OrielAgentBuffer *
oriel_agent_session_output(OrielAgentSession *s)
{
    return &s->out;
}

void
oriel_agent_session_count_written(OrielAgentSession *s, size_t len)
{
    s->bytes_out += len;
}

int
oriel_agent_session_feed(OrielAgentSession *s, const uint8_t *buf, size_t len)
{
    s->bytes_in += len;
    return oriel_agent_codec_feed(s->codec, buf, len);
}

/* ---- incoming messages ------------------------------------------------ */

static uint32_t
read_le32(const uint8_t *p)
{
    uint32_t v;

    memcpy(&v, p, sizeof(v));
    return le32toh(v);
}

static void
handle_capabilities(OrielAgentSession *s, const uint8_t *data, size_t size)
{
    size_t n;
    bool first;

    if (size < sizeof(VDAgentAnnounceCapabilities)) {
        s->dropped++;
        return;
    }
    n = VD_AGENT_CAPS_SIZE_FROM_MSG_SIZE(size);
    if (n > VD_AGENT_CAPS_SIZE)
        n = VD_AGENT_CAPS_SIZE;
    first = !s->client_caps_received;
    memset(s->client_caps, 0, sizeof(s->client_caps));
    for (size_t i = 0; i < n; i++)
        s->client_caps[i] = read_le32(data + 4 + 4 * i);
    s->client_caps_received = true;
    if (read_le32(data))
        send_capabilities(s, false);
    /* A client that arrives after the guest copied learns of the grab. */
    if (first)
        for (uint8_t i = 0; i < ORIEL_AGENT_SELECTION_COUNT; i++)
            if (s->selections[i].owner == OWNER_GUEST)
                send_grab(s, i);
}

/* Strips the selection header of a clipboard message; false when the
 * message is too short or names a selection we do not handle. */
static bool
take_selection(OrielAgentSession *s, const uint8_t **data, size_t *size,
               uint8_t *ret_selection)
{
    uint8_t selection = VD_AGENT_CLIPBOARD_SELECTION_CLIPBOARD;

    if (negotiated(s, VD_AGENT_CAP_CLIPBOARD_SELECTION)) {
        if (*size < 4)
            return false;
        selection = (*data)[0];
        *data += 4;
        *size -= 4;
    }
    if (selection >= ORIEL_AGENT_SELECTION_COUNT)
        return false;
    *ret_selection = selection;
    return true;
}

static void
handle_grab(OrielAgentSession *s, const uint8_t *data, size_t size)
{
    uint8_t selection;
    Selection *sel;
    size_t n;

    if (!take_selection(s, &data, &size, &selection))
        goto drop;
    sel = &s->selections[selection];
    if (negotiated(s, VD_AGENT_CAP_CLIPBOARD_GRAB_SERIAL)) {
        uint32_t serial;

        if (size < 4)
            goto drop;
        serial = read_le32(data);
        data += 4;
        size -= 4;
        /* serial == count - 1 crossed our last grab: the client wins.
         * Anything older lost to a grab of ours it has not seen yet. */
        if ((uint64_t)serial + 1 < sel->serial) {
            sel->grabs_discarded++;
            return;
        }
        sel->serial = serial + 1;
    }
    if (size % 4 != 0)
        goto drop;
    n = size / 4;
    if (n > MAX_GRAB_TYPES)
        n = MAX_GRAB_TYPES;
    if (sel->owner == OWNER_GUEST)
        selection_end_guest(s, selection);
    sel->owner = OWNER_CLIENT;
    sel->n_client_types = (unsigned)n;
    for (size_t i = 0; i < n; i++)
        sel->client_types[i] = read_le32(data + 4 * i);
    notify_client_grab(s, selection);
    return;
drop:
    s->dropped++;
}

static void
handle_request(OrielAgentSession *s, uint32_t port, const uint8_t *data,
               size_t size)
{
    uint8_t selection;
    Selection *sel;
    uint32_t type;

    if (!take_selection(s, &data, &size, &selection) ||
        size < sizeof(VDAgentClipboardRequest)) {
        s->dropped++;
        return;
    }
    sel = &s->selections[selection];
    type = read_le32(data);
    if (sel->owner == OWNER_GUEST && sel->guest_lazy) {
        bool offered = false;

        for (unsigned i = 0; i < sel->n_guest_types; i++)
            offered |= sel->guest_types[i] == type;
        /* The backend answers in order; more requests than it can hold
         * at once, or none to ask, get an empty answer now. */
        if (!offered || !s->ops || !s->ops->guest_request ||
            sel->n_guest_requests >= MAX_GUEST_REQUESTS) {
            send_clipboard(s, port, selection, type, NULL, 0);
            return;
        }
        sel->guest_requests[sel->n_guest_requests][0] = type;
        sel->guest_requests[sel->n_guest_requests][1] = port;
        sel->n_guest_requests++;
        s->ops->guest_request(s->opaque, selection, type);
        return;
    }
    /* Data too large for the client goes as an empty answer of the type
     * asked, as does a request for something we do not hold. */
    if (sel->owner != OWNER_GUEST || sel->guest_type != type ||
        (s->client_max_clipboard >= 0 &&
         sel->guest_len > (size_t)s->client_max_clipboard)) {
        send_clipboard(s, port, selection, type, NULL, 0);
        return;
    }
    send_clipboard(s, port, selection, type, sel->guest_data, sel->guest_len);
}

static void
handle_clipboard(OrielAgentSession *s, const uint8_t *data, size_t size)
{
    uint8_t selection;
    Selection *sel;
    uint32_t type;

    if (!take_selection(s, &data, &size, &selection) || size < 4) {
        s->dropped++;
        return;
    }
    sel = &s->selections[selection];
    type = read_le32(data);
    if (sel->pending_requests == 0) {
        /* Nobody asked: out of order. */
        s->dropped++;
        return;
    }
    sel->pending_requests = 0;
    if (s->ops && s->ops->clipboard_data)
        s->ops->clipboard_data(s->opaque, selection, type, data + 4,
                               size - 4, 0);
}

static void
handle_release(OrielAgentSession *s, const uint8_t *data, size_t size)
{
    uint8_t selection;
    Selection *sel;

    if (!take_selection(s, &data, &size, &selection)) {
        s->dropped++;
        return;
    }
    sel = &s->selections[selection];
    if (sel->owner != OWNER_CLIENT)
        return;
    sel->owner = OWNER_NONE;
    sel->n_client_types = 0;
    selection_fail_pending(s, selection, -ENOENT);
    notify_client_grab(s, selection);
}

static void
handle_monitors(OrielAgentSession *s, uint32_t port, const uint8_t *data,
                size_t size)
{
    VDAgentMonitorsConfig config;
    VDAgentReply reply = {
        .type = htole32(VD_AGENT_MONITORS_CONFIG),
        .error = htole32(VD_AGENT_SUCCESS),
    };
    size_t need;
    int r = 0;

    if (size < sizeof(config)) {
        s->dropped++;
        return;
    }
    memcpy(&config, data, sizeof(config));
    config.num_of_monitors = le32toh(config.num_of_monitors);
    config.flags = le32toh(config.flags);
    need = sizeof(config);
    if (config.num_of_monitors > MAX_MONITORS) {
        r = -E2BIG;
        goto reply;
    }
    need += config.num_of_monitors * sizeof(VDAgentMonConfig);
    if (config.flags & VD_AGENT_CONFIG_MONITORS_FLAG_PHYSICAL_SIZE)
        need += config.num_of_monitors * sizeof(VDAgentMonitorMM);
    if (size < need) {
        r = -EBADMSG;
        goto reply;
    }
    s->have_monitors = true;
    s->monitors_configs++;
    s->monitors_flags = config.flags;
    s->n_monitors = config.num_of_monitors;
    for (uint32_t i = 0; i < config.num_of_monitors; i++) {
        VDAgentMonConfig *m = &s->monitors[i];

        memcpy(m, data + sizeof(config) + i * sizeof(*m), sizeof(*m));
        m->height = le32toh(m->height);
        m->width = le32toh(m->width);
        m->depth = le32toh(m->depth);
        m->x = (int32_t)le32toh((uint32_t)m->x);
        m->y = (int32_t)le32toh((uint32_t)m->y);
    }
    if (s->ops && s->ops->apply_monitors)
        r = s->ops->apply_monitors(s->opaque,
                                   (const VDAgentMonitorsConfig *)data, size);
reply:
    if (r < 0) {
        s->dropped++;
        reply.error = htole32(VD_AGENT_ERROR);
    }
    send_message(s, port, VD_AGENT_REPLY, &reply, sizeof(reply), NULL, 0);
}

static void
handle_mouse(OrielAgentSession *s, const uint8_t *data, size_t size)
{
    VDAgentMouseState m;

    if (size < sizeof(m)) {
        s->dropped++;
        return;
    }
    memcpy(&m, data, sizeof(m));
    s->mouse.x = le32toh(m.x);
    s->mouse.y = le32toh(m.y);
    s->mouse.buttons = le32toh(m.buttons);
    s->mouse.display_id = m.display_id;
    s->have_mouse = true;
}

static void
handle_max_clipboard(OrielAgentSession *s, const uint8_t *data, size_t size)
{
    VDAgentMaxClipboard m;

    if (size < sizeof(m)) {
        s->dropped++;
        return;
    }
    memcpy(&m, data, sizeof(m));
    s->client_max_clipboard = (int32_t)le32toh((uint32_t)m.max);
}

static void
handle_volume(OrielAgentSession *s, const uint8_t *data, size_t size)
{
    VDAgentAudioVolumeSync v;
    unsigned index;

    if (size < sizeof(v)) {
        s->dropped++;
        return;
    }
    memcpy(&v, data, sizeof(v));
    if (size < sizeof(v) + (size_t)v.nchannels * sizeof(uint16_t)) {
        s->dropped++;
        return;
    }
    index = v.is_playback ? 1 : 0;
    s->have_volume[index] = true;
    s->volume_mute[index] = v.mute;
    s->volume_channels[index] = v.nchannels;
    for (unsigned i = 0; i < v.nchannels && i < MAX_VOLUME_CHANNELS; i++) {
        uint16_t vol;

        memcpy(&vol, data + sizeof(v) + 2 * i, 2);
        s->volume[index][i] = le16toh(vol);
    }
}

static void
handle_device_info(OrielAgentSession *s, const uint8_t *data, size_t size)
{
    VDAgentGraphicsDeviceInfo info;
    size_t pos = sizeof(info);
    uint32_t kept = 0;

    if (size < sizeof(info)) {
        s->dropped++;
        return;
    }
    memcpy(&info, data, sizeof(info));
    info.count = le32toh(info.count);
    for (uint32_t i = 0; i < info.count; i++) {
        VDAgentDeviceDisplayInfo d;
        size_t len;

        if (size - pos < sizeof(d)) {
            s->dropped++;
            return;
        }
        memcpy(&d, data + pos, sizeof(d));
        pos += sizeof(d);
        len = le32toh(d.device_address_len);
        if (size - pos < len) {
            s->dropped++;
            return;
        }
        if (kept < MAX_DISPLAY_INFO) {
            DisplayInfo *out = &s->display_info[kept++];
            size_t copy = len < sizeof(out->address) - 1
                          ? len : sizeof(out->address) - 1;

            out->channel_id = le32toh(d.channel_id);
            out->monitor_id = le32toh(d.monitor_id);
            out->device_display_id = le32toh(d.device_display_id);
            memcpy(out->address, data + pos, copy);
            out->address[copy] = '\0';
            for (size_t j = 0; j < copy; j++)
                if ((unsigned char)out->address[j] < 0x20)
                    out->address[j] = out->address[j] ? '?' : '\0';
        }
        pos += len;
    }
    s->n_display_info = kept;
}

static void
send_xfer_status(OrielAgentSession *s, uint32_t port, uint32_t id,
                 const OrielAgentXferReply *reply)
{
    VDAgentFileXferStatusMessage head = {
        .id = htole32(id),
        .result = htole32(reply->status),
    };
    bool detailed = negotiated(s, VD_AGENT_CAP_FILE_XFER_DETAILED_ERRORS);

    if (!reply->send)
        return;
    switch (reply->status) {
    case VD_AGENT_FILE_XFER_STATUS_NOT_ENOUGH_SPACE:
        if (detailed) {
            VDAgentFileXferStatusNotEnoughSpace space = {
                .disk_free_space = htole64(reply->free_space),
            };

            send_message(s, port, VD_AGENT_FILE_XFER_STATUS, &head,
                         sizeof(head), &space, sizeof(space));
            return;
        }
        head.result = htole32(VD_AGENT_FILE_XFER_STATUS_ERROR);
        break;
    case VD_AGENT_FILE_XFER_STATUS_ERROR:
        if (detailed) {
            VDAgentFileXferStatusError error = {
                .error_type = VD_AGENT_FILE_XFER_STATUS_ERROR_GLIB_IO,
                .error_code = htole32(reply->io_error),
            };

            send_message(s, port, VD_AGENT_FILE_XFER_STATUS, &head,
                         sizeof(head), &error, sizeof(error));
            return;
        }
        break;
    case VD_AGENT_FILE_XFER_STATUS_DISABLED:
        if (!detailed)
            head.result = htole32(VD_AGENT_FILE_XFER_STATUS_CANCELLED);
        break;
    default:
        break;
    }
    send_message(s, port, VD_AGENT_FILE_XFER_STATUS, &head, sizeof(head),
                 NULL, 0);
}

static void
handle_xfer(OrielAgentSession *s, uint32_t port, uint32_t type,
            const uint8_t *data, size_t size)
{
    OrielAgentXferReply reply;
    uint32_t id;

    if (size < sizeof(uint32_t)) {
        s->dropped++;
        return;
    }
    id = read_le32(data);
    switch (type) {
    case VD_AGENT_FILE_XFER_START:
        oriel_agent_file_xfer_start(s->xfer, id, data + 4, size - 4, &reply);
        break;
    case VD_AGENT_FILE_XFER_DATA: {
        VDAgentFileXferDataMessage head;

        if (size < sizeof(head)) {
            s->dropped++;
            return;
        }
        memcpy(&head, data, sizeof(head));
        if (le64toh(head.size) != size - sizeof(head)) {
            s->dropped++;
            oriel_agent_file_xfer_cancel(s->xfer, id);
            reply = (OrielAgentXferReply) {
                .send = true,
                .status = VD_AGENT_FILE_XFER_STATUS_ERROR,
                .io_error = 13, /* G_IO_ERROR_INVALID_ARGUMENT */
            };
            break;
        }
        oriel_agent_file_xfer_data(s->xfer, id, data + sizeof(head),
                                   size - sizeof(head), &reply);
        break;
    }
    default: /* VD_AGENT_FILE_XFER_STATUS from the client */
        if (size < sizeof(VDAgentFileXferStatusMessage)) {
            s->dropped++;
            return;
        }
        if (read_le32(data + 4) != VD_AGENT_FILE_XFER_STATUS_CAN_SEND_DATA)
            oriel_agent_file_xfer_cancel(s->xfer, id);
        return;
    }
    send_xfer_status(s, port, id, &reply);
}

static void
handle_message(void *opaque, uint32_t port, const VDAgentMessage *header,
               const uint8_t *data)
{
    OrielAgentSession *s = opaque;
    size_t size = header->size;

    s->messages_in++;
    if (header->type < VD_AGENT_END_MESSAGE)
        s->by_type_in[header->type]++;
    if (!data) {
        /* Over the size cap: whoever waited for clipboard data gets none. */
        if (header->type == VD_AGENT_CLIPBOARD)
            for (uint8_t i = 0; i < ORIEL_AGENT_SELECTION_COUNT; i++)
                selection_fail_pending(s, i, -EMSGSIZE);
        return;
    }
    /* Before the client announced itself, only negotiation, and what the
     * server itself sends, make sense. */
    switch (header->type) {
    case VD_AGENT_ANNOUNCE_CAPABILITIES:
        handle_capabilities(s, data, size);
        return;
    case VD_AGENT_MOUSE_STATE:
        handle_mouse(s, data, size);
        return;
    case VD_AGENT_CLIENT_DISCONNECTED:
        s->client_disconnects++;
        forget_client(s);
        return;
    case VD_AGENT_GRAPHICS_DEVICE_INFO:
        handle_device_info(s, data, size);
        return;
    case VD_AGENT_MONITORS_CONFIG:
        handle_monitors(s, port, data, size);
        return;
    case VD_AGENT_AUDIO_VOLUME_SYNC:
        handle_volume(s, data, size);
        return;
    case VD_AGENT_MAX_CLIPBOARD:
        handle_max_clipboard(s, data, size);
        return;
    case VD_AGENT_DISPLAY_CONFIG:
        return;
    case VD_AGENT_FILE_XFER_START:
    case VD_AGENT_FILE_XFER_DATA:
    case VD_AGENT_FILE_XFER_STATUS:
        handle_xfer(s, port, header->type, data, size);
        return;
    default:
        break;
    }
    /* Clipboard messages need the client's capabilities to be parsed. */
    if (!s->client_caps_received) {
        s->dropped++;
        return;
    }
    switch (header->type) {
    case VD_AGENT_CLIPBOARD_GRAB:
        handle_grab(s, data, size);
        break;
    case VD_AGENT_CLIPBOARD_REQUEST:
        handle_request(s, port, data, size);
        break;
    case VD_AGENT_CLIPBOARD:
        handle_clipboard(s, data, size);
        break;
    case VD_AGENT_CLIPBOARD_RELEASE:
        handle_release(s, data, size);
        break;
    default:
        s->dropped++;
        break;
    }
}

/* ---- the guest's side of the clipboard -------------------------------- */

int
oriel_agent_session_clipboard_set(OrielAgentSession *s, uint8_t selection,
                                  uint32_t type, const uint8_t *data,
                                  size_t len)
{
    Selection *sel;
    uint8_t *copy = NULL;

    if (selection >= ORIEL_AGENT_SELECTION_COUNT ||
        type == VD_AGENT_CLIPBOARD_NONE || type >= 0x10000)
        return -EINVAL;
    if (len > s->max_clipboard)
        return -EMSGSIZE;
    if (len > 0) {
        copy = malloc(len);
        if (!copy)
            return -ENOMEM;
        memcpy(copy, data, len);
    }
    sel = &s->selections[selection];
    selection_end_guest(s, selection);
    selection_fail_pending(s, selection, -ECANCELED);
    sel->owner = OWNER_GUEST;
    sel->guest_type = type;
    sel->guest_data = copy;
    sel->guest_len = len;
    sel->n_client_types = 0;
    if (!s->connected || !s->client_caps_received)
        return -EOPNOTSUPP;
    return send_grab(s, selection);
}

int
oriel_agent_session_clipboard_grab(OrielAgentSession *s, uint8_t selection,
                                   const uint32_t *types, unsigned n_types)
{
    Selection *sel;

    if (selection >= ORIEL_AGENT_SELECTION_COUNT || n_types == 0 ||
        n_types > MAX_GRAB_TYPES)
        return -EINVAL;
    for (unsigned i = 0; i < n_types; i++) {
        if (types[i] == VD_AGENT_CLIPBOARD_NONE || types[i] >= 0x10000)
            return -EINVAL;
        for (unsigned j = 0; j < i; j++)
            if (types[j] == types[i])
                return -EINVAL;
    }
    sel = &s->selections[selection];
    selection_end_guest(s, selection);
    selection_fail_pending(s, selection, -ECANCELED);
    sel->owner = OWNER_GUEST;
    sel->guest_lazy = true;
    memcpy(sel->guest_types, types, n_types * sizeof(types[0]));
    sel->n_guest_types = n_types;
    sel->n_client_types = 0;
    if (!s->connected || !s->client_caps_received)
        return -EOPNOTSUPP;
    return send_grab(s, selection);
}

int
oriel_agent_session_clipboard_reply(OrielAgentSession *s, uint8_t selection,
                                    uint32_t type, const uint8_t *data,
                                    size_t len)
{
    Selection *sel;
    uint32_t port;

    if (selection >= ORIEL_AGENT_SELECTION_COUNT)
        return -EINVAL;
    sel = &s->selections[selection];
    if (sel->n_guest_requests == 0 || sel->guest_requests[0][0] != type)
        return -ENOENT;
    port = sel->guest_requests[0][1];
    sel->n_guest_requests--;
    memmove(sel->guest_requests[0], sel->guest_requests[1],
            sel->n_guest_requests * sizeof(sel->guest_requests[0]));
    if (len > s->max_clipboard ||
        (s->client_max_clipboard >= 0 &&
         len > (size_t)s->client_max_clipboard))
        len = 0;
    return send_clipboard(s, port, selection, type, len ? data : NULL, len);
}

int
oriel_agent_session_clipboard_get(OrielAgentSession *s, uint8_t selection,
                                  uint32_t type, const uint8_t **ret_data,
                                  size_t *ret_len)
{
    uint8_t head[8];
    size_t head_len;
    uint32_t type_le = htole32(type);
    Selection *sel;
    bool offered = false;
    int r;

    if (selection >= ORIEL_AGENT_SELECTION_COUNT)
        return -EINVAL;
    sel = &s->selections[selection];
    if (sel->owner == OWNER_GUEST) {
        /* Data on demand lives in the backend, not here. */
        if (sel->guest_lazy || sel->guest_type != type)
            return -ENOENT;
        *ret_data = sel->guest_data;
        *ret_len = sel->guest_len;
        return 0;
    }
    if (sel->owner != OWNER_CLIENT || !s->connected)
        return -ENOENT;
    for (unsigned i = 0; i < sel->n_client_types; i++)
        offered |= sel->client_types[i] == type;
    if (!offered)
        return -ENOENT;
    if (sel->pending_requests >= MAX_PENDING_REQUESTS)
        return -EBUSY;
    if (sel->pending_requests > 0) {
        /* One request answers every waiter of the selection. */
        return -EAGAIN;
    }
    head_len = selection_header(s, selection, head);
    memcpy(head + head_len, &type_le, 4);
    head_len += 4;
    r = send_message(s, VDP_CLIENT_PORT, VD_AGENT_CLIPBOARD_REQUEST, head,
                     head_len, NULL, 0);
    if (r < 0)
        return r;
    sel->pending_requests++;
    return -EAGAIN;
}

void
oriel_agent_session_clipboard_abandon(OrielAgentSession *s, uint8_t selection)
{
    if (selection < ORIEL_AGENT_SELECTION_COUNT)
        s->selections[selection].pending_requests = 0;
}

int
oriel_agent_session_clipboard_release(OrielAgentSession *s, uint8_t selection)
{
    Selection *sel;
    uint8_t head[4];
    size_t head_len;

    if (selection >= ORIEL_AGENT_SELECTION_COUNT)
        return -EINVAL;
    sel = &s->selections[selection];
    if (sel->owner != OWNER_GUEST)
        return 0;
    selection_end_guest(s, selection);
    sel->owner = OWNER_NONE;
    if (!s->connected || !s->client_caps_received ||
        !negotiated(s, VD_AGENT_CAP_CLIPBOARD_BY_DEMAND))
        return 0;
    if (selection != VD_AGENT_CLIPBOARD_SELECTION_CLIPBOARD &&
        !negotiated(s, VD_AGENT_CAP_CLIPBOARD_SELECTION))
        return 0;
    head_len = selection_header(s, selection, head);
    return send_message(s, VDP_CLIENT_PORT, VD_AGENT_CLIPBOARD_RELEASE, head,
                        head_len, NULL, 0);
}

/* ---- status ----------------------------------------------------------- */

typedef struct Text {
    char *data;
    size_t len;
    size_t cap;
    bool failed;
} Text;

static void text_printf(Text *t, const char *format, ...)
    __attribute__((format(printf, 2, 3)));

static void
text_printf(Text *t, const char *format, ...)
{
    va_list args;
    int n;

    if (t->failed)
        return;
    for (;;) {
        va_start(args, format);
        n = vsnprintf(t->data ? t->data + t->len : NULL,
                      t->data ? t->cap - t->len : 0, format, args);
        va_end(args);
        if (n < 0) {
            t->failed = true;
            return;
        }
        if (t->data && (size_t)n < t->cap - t->len) {
            t->len += (size_t)n;
            return;
        }
        size_t cap = (t->cap ? t->cap * 2 : 1024) + (size_t)n;
        char *data = realloc(t->data, cap);

        if (!data) {
            t->failed = true;
            return;
        }
        t->data = data;
        t->cap = cap;
    }
}

static const char *const cap_names[] = {
    [VD_AGENT_CAP_MOUSE_STATE] = "mouse-state",
    [VD_AGENT_CAP_MONITORS_CONFIG] = "monitors-config",
    [VD_AGENT_CAP_REPLY] = "reply",
    [VD_AGENT_CAP_CLIPBOARD] = "clipboard",
    [VD_AGENT_CAP_DISPLAY_CONFIG] = "display-config",
    [VD_AGENT_CAP_CLIPBOARD_BY_DEMAND] = "clipboard-by-demand",
    [VD_AGENT_CAP_CLIPBOARD_SELECTION] = "clipboard-selection",
    [VD_AGENT_CAP_SPARSE_MONITORS_CONFIG] = "sparse-monitors-config",
    [VD_AGENT_CAP_GUEST_LINEEND_LF] = "guest-lineend-lf",
    [VD_AGENT_CAP_GUEST_LINEEND_CRLF] = "guest-lineend-crlf",
    [VD_AGENT_CAP_MAX_CLIPBOARD] = "max-clipboard",
    [VD_AGENT_CAP_AUDIO_VOLUME_SYNC] = "audio-volume-sync",
    [VD_AGENT_CAP_MONITORS_CONFIG_POSITION] = "monitors-config-position",
    [VD_AGENT_CAP_FILE_XFER_DISABLED] = "file-xfer-disabled",
    [VD_AGENT_CAP_FILE_XFER_DETAILED_ERRORS] = "file-xfer-detailed-errors",
    [VD_AGENT_CAP_GRAPHICS_DEVICE_INFO] = "graphics-device-info",
    [VD_AGENT_CAP_CLIPBOARD_NO_RELEASE_ON_REGRAB] =
        "clipboard-no-release-on-regrab",
    [VD_AGENT_CAP_CLIPBOARD_GRAB_SERIAL] = "clipboard-grab-serial",
};

static void
text_caps(Text *t, const char *key, const uint32_t *caps, bool both,
          const OrielAgentSession *s)
{
    text_printf(t, "%s:", key);
    for (unsigned i = 0; i < VD_AGENT_END_CAP; i++) {
        bool on = both ? negotiated(s, i) : caps_has(caps, i);

        if (on && i < sizeof(cap_names) / sizeof(cap_names[0]) &&
            cap_names[i])
            text_printf(t, " %s", cap_names[i]);
    }
    text_printf(t, "\n");
}

int
oriel_agent_session_format_status(const OrielAgentSession *s, char **ret_text)
{
    static const char *const owners[] = { "none", "guest", "client" };
    static const char *const selection_names[] = { "clipboard", "primary" };
    OrielAgentXferStats xfer;
    Text t = { 0 };

    text_printf(&t, "port: %s\n", s->connected ? "open" : "closed");
    text_printf(&t, "client: %s\n",
                s->client_caps_received ? "connected" : "none");
    text_caps(&t, "agent-caps", s->our_caps, false, s);
    if (s->client_caps_received) {
        text_caps(&t, "client-caps", s->client_caps, false, s);
        text_caps(&t, "negotiated-caps", NULL, true, s);
    }
    text_printf(&t, "client-max-clipboard: %" PRId32 "\n",
                s->client_max_clipboard);
    for (unsigned i = 0; i < ORIEL_AGENT_SELECTION_COUNT; i++) {
        const Selection *sel = &s->selections[i];

        text_printf(&t, "%s: owner=%s", selection_names[i],
                    owners[sel->owner]);
        if (sel->owner == OWNER_GUEST && sel->guest_lazy) {
            text_printf(&t, " types=");
            for (unsigned j = 0; j < sel->n_guest_types; j++)
                text_printf(&t, "%s%" PRIu32, j ? "," : "",
                            sel->guest_types[j]);
        } else if (sel->owner == OWNER_GUEST) {
            text_printf(&t, " type=%" PRIu32 " size=%zu", sel->guest_type,
                        sel->guest_len);
        }
        if (sel->owner == OWNER_CLIENT) {
            text_printf(&t, " types=");
            for (unsigned j = 0; j < sel->n_client_types; j++)
                text_printf(&t, "%s%" PRIu32, j ? "," : "",
                            sel->client_types[j]);
        }
        text_printf(&t, " serial=%" PRIu32 " stale-grabs=%" PRIu64 "\n",
                    sel->serial, sel->grabs_discarded);
    }
    text_printf(&t, "monitors-configs: %" PRIu64 "\n", s->monitors_configs);
    if (s->have_monitors) {
        text_printf(&t, "monitors: %" PRIu32 " flags=0x%" PRIx32 "\n",
                    s->n_monitors, s->monitors_flags);
        /* Sparse configs list disabled monitors as 0x0: skip them. */
        for (uint32_t i = 0; i < s->n_monitors; i++)
            if (s->monitors[i].width && s->monitors[i].height)
                text_printf(&t, "monitor%" PRIu32 ": %" PRIu32 "x%" PRIu32
                            "%+" PRId32 "%+" PRId32 " depth=%" PRIu32 "\n", i,
                            s->monitors[i].width, s->monitors[i].height,
                            s->monitors[i].x, s->monitors[i].y,
                            s->monitors[i].depth);
    }
    if (s->have_mouse)
        text_printf(&t, "mouse: x=%" PRIu32 " y=%" PRIu32 " buttons=0x%"
                    PRIx32 " display=%u\n", s->mouse.x, s->mouse.y,
                    s->mouse.buttons, s->mouse.display_id);
    for (unsigned i = 0; i < 2; i++) {
        if (!s->have_volume[i])
            continue;
        text_printf(&t, "volume-%s: mute=%u", i ? "playback" : "record",
                    s->volume_mute[i]);
        for (unsigned j = 0;
             j < s->volume_channels[i] && j < MAX_VOLUME_CHANNELS; j++)
            text_printf(&t, " %u", s->volume[i][j]);
        text_printf(&t, "\n");
    }
    text_printf(&t, "graphics-devices: %" PRIu32 "\n", s->n_display_info);
    for (uint32_t i = 0; i < s->n_display_info; i++)
        text_printf(&t, "graphics-device%" PRIu32 ": channel=%" PRIu32
                    " monitor=%" PRIu32 " display=%" PRIu32 " address=%s\n",
                    i, s->display_info[i].channel_id,
                    s->display_info[i].monitor_id,
                    s->display_info[i].device_display_id,
                    s->display_info[i].address);
    oriel_agent_file_xfer_stats(s->xfer, &xfer);
    text_printf(&t, "file-xfer: %s\n",
                oriel_agent_file_xfer_enabled(s->xfer) ? "enabled"
                                                       : "disabled");
    text_printf(&t, "transfers: active=%u done=%" PRIu64 " failed=%" PRIu64
                " bytes=%" PRIu64 "\n", xfer.active, xfer.done, xfer.failed,
                xfer.bytes);
    if (xfer.last_name[0])
        text_printf(&t, "last-transfer: %s\n", xfer.last_name);
    text_printf(&t, "client-disconnects: %" PRIu64 "\n",
                s->client_disconnects);
    text_printf(&t, "messages-in: %" PRIu64 "\n", s->messages_in);
    text_printf(&t, "messages-out: %" PRIu64 "\n", s->messages_out);
    text_printf(&t, "bytes-in: %" PRIu64 "\n", s->bytes_in);
    text_printf(&t, "bytes-out: %" PRIu64 "\n", s->bytes_out);
    text_printf(&t, "dropped: %" PRIu64 "\n", oriel_agent_session_dropped(s));
    if (t.failed) {
        free(t.data);
        return -ENOMEM;
    }
    *ret_text = t.data;
    return 0;
}
