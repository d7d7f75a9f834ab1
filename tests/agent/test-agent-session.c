/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of the agent's message handling: every message type,
 * capability negotiation, selections and grab serials, file transfers. */
#include <endian.h>
#include <errno.h>
#include <glib/gstdio.h>

#include "agent-test-peer.h"

typedef struct {
    OrielAgentSession *session;
    char *dir;                  /* file transfers */
    /* the last clipboard_data callback */
    guint answers;
    guint8 answer_selection;
    guint32 answer_type;
    GBytes *answer;
    int answer_status;
    int monitors_result;
    /* the backend's callbacks: client grabs and requests for guest data */
    guint client_grabs;
    guint8 grab_selection;
    guint grab_types;
    guint requests;
    guint32 request_type;
} Fixture;

static void
on_clipboard_data(void *opaque, uint8_t selection, uint32_t type, const uint8_t *data,
                  size_t len, int status)
{
    Fixture *f = opaque;

    f->answers++;
    f->answer_selection = selection;
    f->answer_type = type;
    g_clear_pointer(&f->answer, g_bytes_unref);
    f->answer = g_bytes_new(data, len);
    f->answer_status = status;
}

static int
on_monitors(void *opaque, const VDAgentMonitorsConfig *config, size_t size)
{
    Fixture *f = opaque;

    return f->monitors_result;
}

static void
on_client_grab(void *opaque, uint8_t selection, const uint32_t *types, unsigned n_types)
{
    Fixture *f = opaque;

    f->client_grabs++;
    f->grab_selection = selection;
    f->grab_types = n_types;
}

static void
on_guest_request(void *opaque, uint8_t selection, uint32_t type)
{
    Fixture *f = opaque;

    f->requests++;
    f->request_type = type;
}

static const OrielAgentSessionOps test_ops = {
    .clipboard_data = on_clipboard_data,
    .apply_monitors = on_monitors,
    .client_grab = on_client_grab,
    .guest_request = on_guest_request,
};

static void
fixture_setup_full(Fixture *f, gboolean xfer)
{
    OrielAgentSessionConfig config = { 0 };
    g_autoptr(GPtrArray) out = NULL;

    f->dir = g_dir_make_tmp("oriel-agent-test-XXXXXX", NULL);
    g_assert_nonnull(f->dir);
    config.xfer_dir = xfer ? f->dir : NULL;
    config.max_message = 1024 * 1024;
    g_assert_cmpint(oriel_agent_session_new(&config, &test_ops, f, &f->session), ==, 0);
    g_assert_cmpint(oriel_agent_session_connected(f->session), ==, 0);
    out = peer_take(f->session);
    g_assert_cmpuint(out->len, ==, 1);
}

static void
fixture_setup(Fixture *f, gconstpointer data)
{
    fixture_setup_full(f, TRUE);
}

static void
fixture_setup_no_xfer(Fixture *f, gconstpointer data)
{
    fixture_setup_full(f, FALSE);
}

static void
fixture_teardown(Fixture *f, gconstpointer data)
{
    g_autoptr(GDir) dir = g_dir_open(f->dir, 0, NULL);
    const char *name;

    oriel_agent_session_free(f->session);
    while (dir && (name = g_dir_read_name(dir))) {
        g_autofree char *path = g_build_filename(f->dir, name, NULL);
        g_unlink(path);
    }
    g_rmdir(f->dir);
    g_free(f->dir);
    g_clear_pointer(&f->answer, g_bytes_unref);
}

/* The client announces caps (all of ours unless told otherwise). */
static void
client_caps(Fixture *f, gboolean request, const guint *caps, gsize n)
{
    struct {
        VDAgentAnnounceCapabilities head;
        guint32 caps[VD_AGENT_CAPS_SIZE];
    } msg = { 0 };

    msg.head.request = htole32(request ? 1 : 0);
    for (gsize i = 0; i < n; i++)
        msg.caps[caps[i] / 32] |= htole32(1u << (caps[i] % 32));
    peer_send(f->session, VDP_CLIENT_PORT, VD_AGENT_ANNOUNCE_CAPABILITIES, &msg, sizeof(msg),
              NULL, 0);
}

static const guint full_caps[] = {
    VD_AGENT_CAP_MOUSE_STATE, VD_AGENT_CAP_MONITORS_CONFIG, VD_AGENT_CAP_REPLY,
    VD_AGENT_CAP_CLIPBOARD_BY_DEMAND, VD_AGENT_CAP_CLIPBOARD_SELECTION,
    VD_AGENT_CAP_FILE_XFER_DETAILED_ERRORS, VD_AGENT_CAP_CLIPBOARD_NO_RELEASE_ON_REGRAB,
    VD_AGENT_CAP_CLIPBOARD_GRAB_SERIAL, VD_AGENT_CAP_MAX_CLIPBOARD,
};

static void
client_full(Fixture *f)
{
    g_autoptr(GPtrArray) out = NULL;

    client_caps(f, FALSE, full_caps, G_N_ELEMENTS(full_caps));
    out = peer_take(f->session);
    g_assert_cmpuint(out->len, ==, 0);
}

static PeerMessage *
only_message(GPtrArray *out, guint32 type)
{
    PeerMessage *m;

    g_assert_cmpuint(out->len, ==, 1);
    m = out->pdata[0];
    g_assert_cmpuint(m->type, ==, type);
    g_assert_cmpuint(m->port, ==, VDP_CLIENT_PORT);
    return m;
}

static char *
status_text(Fixture *f)
{
    char *text = NULL;

    g_assert_cmpint(oriel_agent_session_format_status(f->session, &text), ==, 0);
    return text;
}

static void
assert_status_has(Fixture *f, const char *needle)
{
    g_autofree char *text = status_text(f);

    if (!strstr(text, needle))
        g_error("status lacks '%s':\n%s", needle, text);
}

static void
test_caps_announced_on_connect(void)
{
    OrielAgentSessionConfig config = { 0 };
    OrielAgentSession *s = NULL;
    g_autoptr(GPtrArray) out = NULL;
    PeerMessage *m;
    const guint8 *data;
    guint32 request, caps;

    g_assert_cmpint(oriel_agent_session_new(&config, NULL, NULL, &s), ==, 0);
    g_assert_cmpint(oriel_agent_session_connected(s), ==, 0);
    out = peer_take(s);
    m = only_message(out, VD_AGENT_ANNOUNCE_CAPABILITIES);
    g_assert_cmpuint(g_bytes_get_size(m->data), ==, 4 + 4 * VD_AGENT_CAPS_SIZE);
    data = g_bytes_get_data(m->data, NULL);
    memcpy(&request, data, 4);
    memcpy(&caps, data + 4, 4);
    g_assert_cmpuint(le32toh(request), ==, 1);
    caps = le32toh(caps);
    g_assert_true(caps & (1u << VD_AGENT_CAP_CLIPBOARD_BY_DEMAND));
    g_assert_true(caps & (1u << VD_AGENT_CAP_CLIPBOARD_SELECTION));
    g_assert_true(caps & (1u << VD_AGENT_CAP_MONITORS_CONFIG));
    g_assert_true(caps & (1u << VD_AGENT_CAP_GUEST_LINEEND_LF));
    /* no xfer_dir: transfers disabled, and said so */
    g_assert_true(caps & (1u << VD_AGENT_CAP_FILE_XFER_DISABLED));
    g_assert_false(caps & (1u << VD_AGENT_CAP_AUDIO_VOLUME_SYNC));
    oriel_agent_session_free(s);
}

static void
test_caps_request_answered(Fixture *f, gconstpointer data)
{
    g_autoptr(GPtrArray) out = NULL;
    PeerMessage *m;
    guint32 request;

    client_caps(f, TRUE, full_caps, G_N_ELEMENTS(full_caps));
    out = peer_take(f->session);
    m = only_message(out, VD_AGENT_ANNOUNCE_CAPABILITIES);
    memcpy(&request, g_bytes_get_data(m->data, NULL), 4);
    g_assert_cmpuint(request, ==, 0);
    g_assert_true(oriel_agent_session_has_client_cap(f->session, VD_AGENT_CAP_REPLY));
    assert_status_has(f, "negotiated-caps: mouse-state monitors-config reply clipboard-by-demand");

    /* Too short to be capabilities: dropped, no answer. */
    peer_send(f->session, VDP_CLIENT_PORT, VD_AGENT_ANNOUNCE_CAPABILITIES, "ab", 2, NULL, 0);
    g_clear_pointer(&out, g_ptr_array_unref);
    out = peer_take(f->session);
    g_assert_cmpuint(out->len, ==, 0);
    assert_status_has(f, "dropped: 1");
}

/* Client grabs, guest pastes: a REQUEST with selection header goes out,
 * the CLIPBOARD answer reaches the backend. */
static void
test_client_to_guest(Fixture *f, gconstpointer data)
{
    guint8 grab[] = { VD_AGENT_CLIPBOARD_SELECTION_PRIMARY, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0 };
    guint8 answer[] = { VD_AGENT_CLIPBOARD_SELECTION_PRIMARY, 0, 0, 0, 1, 0, 0, 0 };
    g_autoptr(GPtrArray) out = NULL;
    const guint8 *p;
    const uint8_t *got = NULL;
    size_t got_len = 0;
    PeerMessage *m;

    client_full(f);
    peer_send(f->session, VDP_CLIENT_PORT, VD_AGENT_CLIPBOARD_GRAB, grab, sizeof(grab), NULL, 0);
    assert_status_has(f, "primary: owner=client types=1 serial=1 stale-grabs=0");
    g_assert_cmpint(oriel_agent_session_clipboard_get(f->session, 1, VD_AGENT_CLIPBOARD_IMAGE_PNG,
                                                      &got, &got_len), ==, -ENOENT);
    g_assert_cmpint(oriel_agent_session_clipboard_get(f->session, 0, VD_AGENT_CLIPBOARD_UTF8_TEXT,
                                                      &got, &got_len), ==, -ENOENT);
    g_assert_cmpint(oriel_agent_session_clipboard_get(f->session, 1, VD_AGENT_CLIPBOARD_UTF8_TEXT,
                                                      &got, &got_len), ==, -EAGAIN);
    /* A second waiter does not send a second request. */
    g_assert_cmpint(oriel_agent_session_clipboard_get(f->session, 1, VD_AGENT_CLIPBOARD_UTF8_TEXT,
                                                      &got, &got_len), ==, -EAGAIN);
    out = peer_take(f->session);
    m = only_message(out, VD_AGENT_CLIPBOARD_REQUEST);
    g_assert_cmpuint(g_bytes_get_size(m->data), ==, 8);
    p = g_bytes_get_data(m->data, NULL);
    g_assert_cmpuint(p[0], ==, VD_AGENT_CLIPBOARD_SELECTION_PRIMARY);
    g_assert_cmpuint(p[4], ==, VD_AGENT_CLIPBOARD_UTF8_TEXT);

    peer_send(f->session, VDP_CLIENT_PORT, VD_AGENT_CLIPBOARD, answer, sizeof(answer),
              "h\xc3\xa9llo", 6);
    g_assert_cmpuint(f->answers, ==, 1);
    g_assert_cmpint(f->answer_status, ==, 0);
    g_assert_cmpuint(f->answer_selection, ==, 1);
    g_assert_cmpmem(g_bytes_get_data(f->answer, NULL), g_bytes_get_size(f->answer),
                    "h\xc3\xa9llo", 6);

    /* An answer nobody asked for is dropped. */
    peer_send(f->session, VDP_CLIENT_PORT, VD_AGENT_CLIPBOARD, answer, sizeof(answer), "x", 1);
    g_assert_cmpuint(f->answers, ==, 1);

    /* A release ends the client's ownership and fails waiters. */
    g_assert_cmpint(oriel_agent_session_clipboard_get(f->session, 1, VD_AGENT_CLIPBOARD_UTF8_TEXT,
                                                      &got, &got_len), ==, -EAGAIN);
    peer_send(f->session, VDP_CLIENT_PORT, VD_AGENT_CLIPBOARD_RELEASE, answer, 4, NULL, 0);
    g_assert_cmpuint(f->answers, ==, 2);
    g_assert_cmpint(f->answer_status, ==, -ENOENT);
    g_assert_cmpint(oriel_agent_session_clipboard_get(f->session, 1, VD_AGENT_CLIPBOARD_UTF8_TEXT,
                                                      &got, &got_len), ==, -ENOENT);
}

/* Without the selection capability there is no selection header, and
 * only CLIPBOARD exists. */
static void
test_no_selection_cap(Fixture *f, gconstpointer data)
{
    static const guint caps[] = { VD_AGENT_CAP_CLIPBOARD_BY_DEMAND };
    guint32 type = htole32(VD_AGENT_CLIPBOARD_UTF8_TEXT);
    g_autoptr(GPtrArray) out = NULL;
    const uint8_t *got = NULL;
    size_t got_len = 0;
    PeerMessage *m;

    client_caps(f, FALSE, caps, G_N_ELEMENTS(caps));
    peer_send(f->session, VDP_CLIENT_PORT, VD_AGENT_CLIPBOARD_GRAB, &type, 4, NULL, 0);
    g_assert_cmpint(oriel_agent_session_clipboard_get(f->session, 0, VD_AGENT_CLIPBOARD_UTF8_TEXT,
                                                      &got, &got_len), ==, -EAGAIN);
    out = peer_take(f->session);
    m = only_message(out, VD_AGENT_CLIPBOARD_REQUEST);
    g_assert_cmpuint(g_bytes_get_size(m->data), ==, 4);
    peer_send(f->session, VDP_CLIENT_PORT, VD_AGENT_CLIPBOARD, &type, 4, "abc", 3);
    g_assert_cmpuint(f->answers, ==, 1);
    g_assert_cmpuint(g_bytes_get_size(f->answer), ==, 3);

    /* PRIMARY cannot be offered to this client. */
    g_assert_cmpint(oriel_agent_session_clipboard_set(f->session, 1, VD_AGENT_CLIPBOARD_UTF8_TEXT,
                                                      (const uint8_t *)"p", 1), ==, -EOPNOTSUPP);
    g_assert_cmpint(oriel_agent_session_clipboard_set(f->session, 0, VD_AGENT_CLIPBOARD_UTF8_TEXT,
                                                      (const uint8_t *)"c", 1), ==, 0);
    g_clear_pointer(&out, g_ptr_array_unref);
    out = peer_take(f->session);
    m = only_message(out, VD_AGENT_CLIPBOARD_GRAB);
    g_assert_cmpuint(g_bytes_get_size(m->data), ==, 4);
}

/* The guest copies: a GRAB with serials; requests get the data, or an
 * empty answer of the asked type when too large or not held. */
static void
test_guest_to_client(Fixture *f, gconstpointer data)
{
    guint8 request[] = { 0, 0, 0, 0, 1, 0, 0, 0 };
    guint8 request_png[] = { 0, 0, 0, 0, 2, 0, 0, 0 };
    gint32 max = (gint32)htole32(4);
    g_autoptr(GPtrArray) out = NULL;
    const guint8 *p;
    const uint8_t *got = NULL;
    size_t got_len = 0;
    guint32 serial;
    PeerMessage *m;

    client_full(f);
    g_assert_cmpint(oriel_agent_session_clipboard_set(f->session, 0, VD_AGENT_CLIPBOARD_UTF8_TEXT,
                                                      (const uint8_t *)"guest text", 10), ==, 0);
    g_assert_cmpint(oriel_agent_session_clipboard_set(f->session, 0, VD_AGENT_CLIPBOARD_UTF8_TEXT,
                                                      (const uint8_t *)"guest text", 10), ==, 0);
    out = peer_take(f->session);
    g_assert_cmpuint(out->len, ==, 2);
    for (guint i = 0; i < 2; i++) {
        m = out->pdata[i];
        g_assert_cmpuint(m->type, ==, VD_AGENT_CLIPBOARD_GRAB);
        g_assert_cmpuint(g_bytes_get_size(m->data), ==, 12);
        p = g_bytes_get_data(m->data, NULL);
        memcpy(&serial, p + 4, 4);
        g_assert_cmpuint(le32toh(serial), ==, i);
        g_assert_cmpuint(p[8], ==, VD_AGENT_CLIPBOARD_UTF8_TEXT);
    }
    /* Guest programs read it back locally. */
    g_assert_cmpint(oriel_agent_session_clipboard_get(f->session, 0, VD_AGENT_CLIPBOARD_UTF8_TEXT,
                                                      &got, &got_len), ==, 0);
    g_assert_cmpmem(got, got_len, "guest text", 10);

    peer_send(f->session, VDP_CLIENT_PORT, VD_AGENT_CLIPBOARD_REQUEST, request, sizeof(request),
              NULL, 0);
    g_clear_pointer(&out, g_ptr_array_unref);
    out = peer_take(f->session);
    m = only_message(out, VD_AGENT_CLIPBOARD);
    g_assert_cmpuint(g_bytes_get_size(m->data), ==, 18);
    g_assert_cmpmem((const guint8 *)g_bytes_get_data(m->data, NULL) + 8, 10, "guest text", 10);

    peer_send(f->session, VDP_CLIENT_PORT, VD_AGENT_CLIPBOARD_REQUEST, request_png,
              sizeof(request_png), NULL, 0);
    g_clear_pointer(&out, g_ptr_array_unref);
    out = peer_take(f->session);
    m = only_message(out, VD_AGENT_CLIPBOARD);
    g_assert_cmpuint(g_bytes_get_size(m->data), ==, 8);
    g_assert_cmpuint(((const guint8 *)g_bytes_get_data(m->data, NULL))[4], ==, 2);

    /* MAX_CLIPBOARD 4: the 10 bytes go as an empty text answer. */
    peer_send(f->session, VDP_CLIENT_PORT, VD_AGENT_MAX_CLIPBOARD, &max, 4, NULL, 0);
    peer_send(f->session, VDP_CLIENT_PORT, VD_AGENT_CLIPBOARD_REQUEST, request, sizeof(request),
              NULL, 0);
    g_clear_pointer(&out, g_ptr_array_unref);
    out = peer_take(f->session);
    m = only_message(out, VD_AGENT_CLIPBOARD);
    g_assert_cmpuint(g_bytes_get_size(m->data), ==, 8);
    g_assert_cmpuint(((const guint8 *)g_bytes_get_data(m->data, NULL))[4], ==, 1);
    assert_status_has(f, "client-max-clipboard: 4");

    /* The guest empties it: a RELEASE with the selection. */
    g_assert_cmpint(oriel_agent_session_clipboard_release(f->session, 0), ==, 0);
    g_clear_pointer(&out, g_ptr_array_unref);
    out = peer_take(f->session);
    m = only_message(out, VD_AGENT_CLIPBOARD_RELEASE);
    g_assert_cmpuint(g_bytes_get_size(m->data), ==, 4);
}

/* A window system's copy: several types offered, data fetched on demand
 * and answered in order; the grab's end answers what is still waiting. */
static void
test_guest_on_demand(Fixture *f, gconstpointer data)
{
    const guint32 types[] = { VD_AGENT_CLIPBOARD_UTF8_TEXT, VD_AGENT_CLIPBOARD_IMAGE_PNG };
    const guint32 dup[] = { 1, 1 };
    guint8 request[] = { 0, 0, 0, 0, 1, 0, 0, 0 };
    guint8 request_bmp[] = { 0, 0, 0, 0, 3, 0, 0, 0 };
    g_autoptr(GPtrArray) out = NULL;
    const uint8_t *got = NULL;
    size_t got_len = 0;
    const guint8 *p;
    PeerMessage *m;

    client_full(f);
    g_assert_cmpint(oriel_agent_session_clipboard_grab(f->session, 0, dup, 2), ==, -EINVAL);
    g_assert_cmpint(oriel_agent_session_clipboard_grab(f->session, 0, types, 0), ==, -EINVAL);
    g_assert_cmpint(oriel_agent_session_clipboard_grab(f->session, 0, types, 2), ==, 0);
    out = peer_take(f->session);
    m = only_message(out, VD_AGENT_CLIPBOARD_GRAB);
    /* selection, serial, two types */
    g_assert_cmpuint(g_bytes_get_size(m->data), ==, 16);
    p = g_bytes_get_data(m->data, NULL);
    g_assert_cmpuint(p[8], ==, 1);
    g_assert_cmpuint(p[12], ==, 2);
    assert_status_has(f, "clipboard: owner=guest types=1,2");
    /* The data lives in the backend. */
    g_assert_cmpint(oriel_agent_session_clipboard_get(f->session, 0, 1, &got, &got_len), ==,
                    -ENOENT);

    /* A type not offered: an empty answer at once. */
    peer_send(f->session, VDP_CLIENT_PORT, VD_AGENT_CLIPBOARD_REQUEST, request_bmp,
              sizeof(request_bmp), NULL, 0);
    g_clear_pointer(&out, g_ptr_array_unref);
    out = peer_take(f->session);
    m = only_message(out, VD_AGENT_CLIPBOARD);
    g_assert_cmpuint(g_bytes_get_size(m->data), ==, 8);
    g_assert_cmpuint(f->requests, ==, 0);

    /* An offered type reaches the backend; its reply goes out. */
    peer_send(f->session, VDP_CLIENT_PORT, VD_AGENT_CLIPBOARD_REQUEST, request, sizeof(request),
              NULL, 0);
    g_assert_cmpuint(f->requests, ==, 1);
    g_assert_cmpuint(f->request_type, ==, 1);
    g_assert_cmpint(oriel_agent_session_clipboard_reply(f->session, 0, 2,
                                                        (const uint8_t *)"x", 1), ==, -ENOENT);
    g_assert_cmpint(oriel_agent_session_clipboard_reply(f->session, 0, 1,
                                                        (const uint8_t *)"from X", 6), ==, 0);
    g_assert_cmpint(oriel_agent_session_clipboard_reply(f->session, 0, 1,
                                                        (const uint8_t *)"again", 5), ==, -ENOENT);
    g_clear_pointer(&out, g_ptr_array_unref);
    out = peer_take(f->session);
    m = only_message(out, VD_AGENT_CLIPBOARD);
    g_assert_cmpmem((const guint8 *)g_bytes_get_data(m->data, NULL) + 8,
                    g_bytes_get_size(m->data) - 8, "from X", 6);

    /* A request still waiting when the client grabs: answered empty, and
     * the backend hears of the client's grab. */
    peer_send(f->session, VDP_CLIENT_PORT, VD_AGENT_CLIPBOARD_REQUEST, request, sizeof(request),
              NULL, 0);
    {
        guint8 grab[] = { 0, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0 };

        peer_send(f->session, VDP_CLIENT_PORT, VD_AGENT_CLIPBOARD_GRAB, grab, sizeof(grab),
                  NULL, 0);
    }
    g_clear_pointer(&out, g_ptr_array_unref);
    out = peer_take(f->session);
    m = only_message(out, VD_AGENT_CLIPBOARD);
    g_assert_cmpuint(g_bytes_get_size(m->data), ==, 8);
    g_assert_cmpuint(f->client_grabs, ==, 1);
    g_assert_cmpuint(f->grab_types, ==, 1);
    g_assert_cmpint(oriel_agent_session_clipboard_reply(f->session, 0, 1,
                                                        (const uint8_t *)"late", 4), ==, -ENOENT);

    /* The client goes away: its grab ends for the backend too. */
    peer_send(f->session, VDP_SERVER_PORT, VD_AGENT_CLIENT_DISCONNECTED, NULL, 0, NULL, 0);
    g_assert_cmpuint(f->client_grabs, ==, 2);
    g_assert_cmpuint(f->grab_types, ==, 0);
}

/* A guest copy made before any client arrives is offered once one does. */
static void
test_grab_before_client(Fixture *f, gconstpointer data)
{
    g_autoptr(GPtrArray) out = NULL;

    g_assert_cmpint(oriel_agent_session_clipboard_set(f->session, 0, VD_AGENT_CLIPBOARD_UTF8_TEXT,
                                                      (const uint8_t *)"early", 5), ==, -EOPNOTSUPP);
    client_caps(f, TRUE, full_caps, G_N_ELEMENTS(full_caps));
    out = peer_take(f->session);
    g_assert_cmpuint(out->len, ==, 2);
    g_assert_cmpuint(((PeerMessage *)out->pdata[0])->type, ==, VD_AGENT_ANNOUNCE_CAPABILITIES);
    g_assert_cmpuint(((PeerMessage *)out->pdata[1])->type, ==, VD_AGENT_CLIPBOARD_GRAB);
}

/* Serial rules: every grab counts; ours carry the count; a client grab
 * that crossed our last one wins, an older one is stale. */
static void
test_grab_serials(Fixture *f, gconstpointer data)
{
    guint8 grab[] = { 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0 };
    g_autoptr(GPtrArray) out = NULL;
    guint32 serial;
    PeerMessage *m;

    client_full(f);
    grab[4] = 5;
    peer_send(f->session, VDP_CLIENT_PORT, VD_AGENT_CLIPBOARD_GRAB, grab, sizeof(grab), NULL, 0);
    assert_status_has(f, "clipboard: owner=client types=1 serial=6 stale-grabs=0");
    oriel_agent_session_clipboard_set(f->session, 0, 1, (const uint8_t *)"a", 1);
    out = peer_take(f->session);
    m = only_message(out, VD_AGENT_CLIPBOARD_GRAB);
    memcpy(&serial, (const guint8 *)g_bytes_get_data(m->data, NULL) + 4, 4);
    g_assert_cmpuint(le32toh(serial), ==, 6);
    /* The client's grab 6 crossed ours (6): the client wins. */
    grab[4] = 6;
    peer_send(f->session, VDP_CLIENT_PORT, VD_AGENT_CLIPBOARD_GRAB, grab, sizeof(grab), NULL, 0);
    assert_status_has(f, "clipboard: owner=client types=1 serial=7 stale-grabs=0");
    /* We grab twice (7, 8); a client grab 7 lost to our 8. */
    oriel_agent_session_clipboard_set(f->session, 0, 1, (const uint8_t *)"b", 1);
    oriel_agent_session_clipboard_set(f->session, 0, 1, (const uint8_t *)"c", 1);
    grab[4] = 7;
    peer_send(f->session, VDP_CLIENT_PORT, VD_AGENT_CLIPBOARD_GRAB, grab, sizeof(grab), NULL, 0);
    assert_status_has(f, "clipboard: owner=guest type=1 size=1 serial=9 stale-grabs=1");
    /* A grab too short for its serial is dropped. */
    peer_send(f->session, VDP_CLIENT_PORT, VD_AGENT_CLIPBOARD_GRAB, grab, 6, NULL, 0);
    assert_status_has(f, "dropped: 1");
}

/* Waiters that gave up: the next get asks the client again. */
static void
test_request_abandoned(Fixture *f, gconstpointer data)
{
    guint8 grab[] = { 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0 };
    guint8 answer[] = { 0, 0, 0, 0, 1, 0, 0, 0 };
    g_autoptr(GPtrArray) out = NULL;
    const uint8_t *got = NULL;
    size_t got_len = 0;

    client_full(f);
    peer_send(f->session, VDP_CLIENT_PORT, VD_AGENT_CLIPBOARD_GRAB, grab, sizeof(grab), NULL, 0);
    g_assert_cmpint(oriel_agent_session_clipboard_get(f->session, 0, 1, &got, &got_len), ==,
                    -EAGAIN);
    oriel_agent_session_clipboard_abandon(f->session, 0);
    g_assert_cmpint(oriel_agent_session_clipboard_get(f->session, 0, 1, &got, &got_len), ==,
                    -EAGAIN);
    out = peer_take(f->session);
    g_assert_cmpuint(out->len, ==, 2);
    /* The first answer serves the new waiter; the second is unexpected. */
    peer_send(f->session, VDP_CLIENT_PORT, VD_AGENT_CLIPBOARD, answer, sizeof(answer), "1", 1);
    peer_send(f->session, VDP_CLIENT_PORT, VD_AGENT_CLIPBOARD, answer, sizeof(answer), "2", 1);
    g_assert_cmpuint(f->answers, ==, 1);
    assert_status_has(f, "dropped: 1");
}

static void
test_clipboard_before_caps(Fixture *f, gconstpointer data)
{
    guint32 type = htole32(1);

    peer_send(f->session, VDP_CLIENT_PORT, VD_AGENT_CLIPBOARD_GRAB, &type, 4, NULL, 0);
    assert_status_has(f, "clipboard: owner=none");
    assert_status_has(f, "dropped: 1");
}

static void
test_client_disconnected(Fixture *f, gconstpointer data)
{
    guint8 grab[] = { 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0 };
    const uint8_t *got = NULL;
    size_t got_len = 0;

    client_full(f);
    peer_send(f->session, VDP_CLIENT_PORT, VD_AGENT_CLIPBOARD_GRAB, grab, sizeof(grab), NULL, 0);
    g_assert_cmpint(oriel_agent_session_clipboard_get(f->session, 0, 1, &got, &got_len), ==,
                    -EAGAIN);
    peer_send(f->session, VDP_SERVER_PORT, VD_AGENT_CLIENT_DISCONNECTED, NULL, 0, NULL, 0);
    g_assert_cmpuint(f->answers, ==, 1);
    g_assert_cmpint(f->answer_status, ==, -ECONNRESET);
    assert_status_has(f, "client: none");
    assert_status_has(f, "clipboard: owner=none");
    assert_status_has(f, "client-disconnects: 1");
}

/* Clipboard data over the cap: skipped, and the waiter hears of it. */
static void
test_oversized_clipboard(Fixture *f, gconstpointer data)
{
    guint8 grab[] = { 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0 };
    guint8 head[] = { 0, 0, 0, 0, 1, 0, 0, 0 };
    g_autofree guint8 *big = g_malloc0(2 * 1024 * 1024);
    const uint8_t *got = NULL;
    size_t got_len = 0;

    client_full(f);
    peer_send(f->session, VDP_CLIENT_PORT, VD_AGENT_CLIPBOARD_GRAB, grab, sizeof(grab), NULL, 0);
    g_assert_cmpint(oriel_agent_session_clipboard_get(f->session, 0, 1, &got, &got_len), ==,
                    -EAGAIN);
    peer_send(f->session, VDP_CLIENT_PORT, VD_AGENT_CLIPBOARD, head, sizeof(head), big,
              2 * 1024 * 1024);
    g_assert_cmpuint(f->answers, ==, 1);
    g_assert_cmpint(f->answer_status, ==, -EMSGSIZE);
    g_assert_cmpint(oriel_agent_session_clipboard_set(f->session, 0, 1, big, 2 * 1024 * 1024),
                    ==, -EMSGSIZE);
}

static void
test_monitors_config(Fixture *f, gconstpointer data)
{
    struct {
        VDAgentMonitorsConfig head;
        VDAgentMonConfig mon[2];
    } config = {
        .head = { .num_of_monitors = htole32(2), .flags = 0 },
        .mon = {
            { .height = htole32(768), .width = htole32(1024), .depth = htole32(32) },
            { .height = htole32(600), .width = htole32(800), .depth = htole32(32),
              .x = (int32_t)htole32(1024) },
        },
    };
    VDAgentMonitorsConfig too_many = { .num_of_monitors = htole32(1000) };
    g_autoptr(GPtrArray) out = NULL;
    VDAgentReply reply;
    PeerMessage *m;

    client_full(f);
    peer_send(f->session, VDP_CLIENT_PORT, VD_AGENT_MONITORS_CONFIG, &config, sizeof(config),
              NULL, 0);
    out = peer_take(f->session);
    m = only_message(out, VD_AGENT_REPLY);
    memcpy(&reply, g_bytes_get_data(m->data, NULL), sizeof(reply));
    g_assert_cmpuint(le32toh(reply.type), ==, VD_AGENT_MONITORS_CONFIG);
    g_assert_cmpuint(le32toh(reply.error), ==, VD_AGENT_SUCCESS);
    assert_status_has(f, "monitors: 2 flags=0x0\nmonitor0: 1024x768+0+0 depth=32\n"
                      "monitor1: 800x600+1024+0 depth=32\n");

    /* Truncated, too many, or refused by the backend: an error reply. */
    peer_send(f->session, VDP_CLIENT_PORT, VD_AGENT_MONITORS_CONFIG, &config,
              sizeof(config) - 4, NULL, 0);
    peer_send(f->session, VDP_CLIENT_PORT, VD_AGENT_MONITORS_CONFIG, &too_many,
              sizeof(too_many), NULL, 0);
    f->monitors_result = -EINVAL;
    peer_send(f->session, VDP_CLIENT_PORT, VD_AGENT_MONITORS_CONFIG, &config, sizeof(config),
              NULL, 0);
    g_clear_pointer(&out, g_ptr_array_unref);
    out = peer_take(f->session);
    g_assert_cmpuint(out->len, ==, 3);
    for (guint i = 0; i < 3; i++) {
        m = out->pdata[i];
        memcpy(&reply, g_bytes_get_data(m->data, NULL), sizeof(reply));
        g_assert_cmpuint(le32toh(reply.error), ==, VD_AGENT_ERROR);
    }
    /* Too short for even the header: dropped, no reply. */
    peer_send(f->session, VDP_CLIENT_PORT, VD_AGENT_MONITORS_CONFIG, &config, 4, NULL, 0);
    g_clear_pointer(&out, g_ptr_array_unref);
    out = peer_take(f->session);
    g_assert_cmpuint(out->len, ==, 0);
}

static void
test_recorded_messages(Fixture *f, gconstpointer data)
{
    VDAgentMouseState mouse = {
        .x = htole32(10), .y = htole32(20), .buttons = htole32(VD_AGENT_LBUTTON_MASK),
        .display_id = 0,
    };
    struct __attribute__((packed)) {
        VDAgentAudioVolumeSync head;
        guint16 volume[2];
    } volume = { .head = { .is_playback = 1, .mute = 0, .nchannels = 2 },
                 .volume = { htole16(1000), htole16(2000) } };
    struct __attribute__((packed)) {
        VDAgentGraphicsDeviceInfo head;
        VDAgentDeviceDisplayInfo info;
        char address[14];
    } device = {
        .head = { .count = htole32(1) },
        .info = { .channel_id = 0, .monitor_id = 0, .device_display_id = htole32(1),
                  .device_address_len = htole32(14) },
        .address = "pci/0000/02.0",
    };
    VDAgentGraphicsDeviceInfo lying = { .count = htole32(50) };

    peer_send(f->session, VDP_SERVER_PORT, VD_AGENT_MOUSE_STATE, &mouse, sizeof(mouse), NULL, 0);
    assert_status_has(f, "mouse: x=10 y=20 buttons=0x2 display=0");
    peer_send(f->session, VDP_CLIENT_PORT, VD_AGENT_AUDIO_VOLUME_SYNC, &volume, sizeof(volume),
              NULL, 0);
    assert_status_has(f, "volume-playback: mute=0 1000 2000");
    /* nchannels beyond the message: dropped */
    volume.head.nchannels = 200;
    peer_send(f->session, VDP_CLIENT_PORT, VD_AGENT_AUDIO_VOLUME_SYNC, &volume, sizeof(volume),
              NULL, 0);
    peer_send(f->session, VDP_SERVER_PORT, VD_AGENT_GRAPHICS_DEVICE_INFO, &device,
              sizeof(device), NULL, 0);
    assert_status_has(f, "graphics-device0: channel=0 monitor=0 display=1 "
                      "address=pci/0000/02.0");
    peer_send(f->session, VDP_SERVER_PORT, VD_AGENT_GRAPHICS_DEVICE_INFO, &lying,
              sizeof(lying), NULL, 0);
    peer_send(f->session, VDP_SERVER_PORT, VD_AGENT_MOUSE_STATE, &mouse, 3, NULL, 0);
    peer_send(f->session, VDP_SERVER_PORT, 999, NULL, 0, NULL, 0);
    assert_status_has(f, "dropped: 4");
}

/* ---- file transfers --------------------------------------------------- */

static void
xfer_start(Fixture *f, guint32 id, const char *name, guint64 size)
{
    g_autofree char *keyfile = g_strdup_printf("[vdagent-file-xfer]\nname=%s\nsize=%" G_GUINT64_FORMAT
                                               "\n", name, size);
    guint32 id_le = htole32(id);

    peer_send(f->session, VDP_CLIENT_PORT, VD_AGENT_FILE_XFER_START, &id_le, 4, keyfile,
              strlen(keyfile));
}

static void
xfer_data(Fixture *f, guint32 id, const char *data, gsize len)
{
    VDAgentFileXferDataMessage head = { .id = htole32(id), .size = htole64(len) };

    peer_send(f->session, VDP_CLIENT_PORT, VD_AGENT_FILE_XFER_DATA, &head, sizeof(head), data,
              len);
}

static guint32
take_xfer_status(Fixture *f, guint32 id, gsize *ret_size)
{
    g_autoptr(GPtrArray) out = peer_take(f->session);
    VDAgentFileXferStatusMessage status;
    PeerMessage *m = only_message(out, VD_AGENT_FILE_XFER_STATUS);

    memcpy(&status, g_bytes_get_data(m->data, NULL), sizeof(status));
    g_assert_cmpuint(le32toh(status.id), ==, id);
    if (ret_size)
        *ret_size = g_bytes_get_size(m->data);
    return le32toh(status.result);
}

static void
assert_file(Fixture *f, const char *name, const char *contents)
{
    g_autofree char *path = g_build_filename(f->dir, name, NULL);
    g_autofree char *got = NULL;
    gsize len = 0;

    g_assert_true(g_file_get_contents(path, &got, &len, NULL));
    g_assert_cmpmem(got, len, contents, strlen(contents));
}

static void
assert_no_file(Fixture *f, const char *name)
{
    g_autofree char *path = g_build_filename(f->dir, name, NULL);

    g_assert_false(g_file_test(path, G_FILE_TEST_EXISTS));
}

static void
test_xfer_success(Fixture *f, gconstpointer data)
{
    client_full(f);
    xfer_start(f, 7, "notes.txt", 11);
    g_assert_cmpuint(take_xfer_status(f, 7, NULL), ==, VD_AGENT_FILE_XFER_STATUS_CAN_SEND_DATA);
    xfer_data(f, 7, "hello ", 6);
    g_assert_cmpuint(oriel_agent_session_output(f->session)->len, ==, 0);
    xfer_data(f, 7, "world", 5);
    g_assert_cmpuint(take_xfer_status(f, 7, NULL), ==, VD_AGENT_FILE_XFER_STATUS_SUCCESS);
    assert_file(f, "notes.txt", "hello world");
    assert_status_has(f, "transfers: active=0 done=1 failed=0 bytes=11");
    assert_status_has(f, "last-transfer: notes.txt");

    /* The same name again never overwrites. */
    xfer_start(f, 8, "notes.txt", 3);
    g_assert_cmpuint(take_xfer_status(f, 8, NULL), ==, VD_AGENT_FILE_XFER_STATUS_CAN_SEND_DATA);
    xfer_data(f, 8, "two", 3);
    g_assert_cmpuint(take_xfer_status(f, 8, NULL), ==, VD_AGENT_FILE_XFER_STATUS_SUCCESS);
    assert_file(f, "notes.txt", "hello world");
    assert_file(f, "notes (1).txt", "two");

    /* Path traversal lands in the directory under the last component. */
    xfer_start(f, 9, "../../x/evil", 0);
    g_assert_cmpuint(take_xfer_status(f, 9, NULL), ==, VD_AGENT_FILE_XFER_STATUS_SUCCESS);
    assert_file(f, "evil", "");
}

static void
test_xfer_cancel_and_errors(Fixture *f, gconstpointer data)
{
    VDAgentFileXferStatusMessage cancel = {
        .id = htole32(1), .result = htole32(VD_AGENT_FILE_XFER_STATUS_CANCELLED),
    };
    guint32 id_le = htole32(5);
    gsize size = 0;

    client_full(f);
    xfer_start(f, 1, "partial.bin", 100);
    g_assert_cmpuint(take_xfer_status(f, 1, NULL), ==, VD_AGENT_FILE_XFER_STATUS_CAN_SEND_DATA);
    xfer_data(f, 1, "some", 4);
    assert_file(f, "partial.bin", "some");
    peer_send(f->session, VDP_CLIENT_PORT, VD_AGENT_FILE_XFER_STATUS, &cancel, sizeof(cancel),
              NULL, 0);
    assert_no_file(f, "partial.bin");
    assert_status_has(f, "transfers: active=0 done=0 failed=1");

    /* More data than announced: an error, the file goes. */
    xfer_start(f, 2, "short.bin", 3);
    take_xfer_status(f, 2, NULL);
    xfer_data(f, 2, "toolong", 7);
    g_assert_cmpuint(take_xfer_status(f, 2, &size), ==, VD_AGENT_FILE_XFER_STATUS_ERROR);
    g_assert_cmpuint(size, ==, sizeof(VDAgentFileXferStatusMessage) +
                     sizeof(VDAgentFileXferStatusError));
    assert_no_file(f, "short.bin");

    /* Data for an unknown transfer, a bad key file, an absurd size. */
    xfer_data(f, 3, "x", 1);
    g_assert_cmpuint(take_xfer_status(f, 3, NULL), ==, VD_AGENT_FILE_XFER_STATUS_ERROR);
    peer_send(f->session, VDP_CLIENT_PORT, VD_AGENT_FILE_XFER_START, &id_le, 4, "name=x", 6);
    g_assert_cmpuint(take_xfer_status(f, 5, NULL), ==, VD_AGENT_FILE_XFER_STATUS_ERROR);
    xfer_start(f, 6, "huge", G_MAXUINT64 / 2);
    g_assert_cmpuint(take_xfer_status(f, 6, &size), ==,
                     VD_AGENT_FILE_XFER_STATUS_NOT_ENOUGH_SPACE);
    g_assert_cmpuint(size, ==, sizeof(VDAgentFileXferStatusMessage) +
                     sizeof(VDAgentFileXferStatusNotEnoughSpace));

    /* The client goes away mid-transfer: the partial file goes too. */
    xfer_start(f, 10, "gone.bin", 10);
    take_xfer_status(f, 10, NULL);
    xfer_data(f, 10, "abc", 3);
    peer_send(f->session, VDP_SERVER_PORT, VD_AGENT_CLIENT_DISCONNECTED, NULL, 0, NULL, 0);
    assert_no_file(f, "gone.bin");
}

static void
test_xfer_disabled(Fixture *f, gconstpointer data)
{
    static const guint plain_caps[] = { VD_AGENT_CAP_CLIPBOARD_BY_DEMAND };
    g_autoptr(GPtrArray) out = NULL;

    client_full(f);
    assert_status_has(f, "file-xfer-disabled");
    xfer_start(f, 1, "x", 1);
    g_assert_cmpuint(take_xfer_status(f, 1, NULL), ==, VD_AGENT_FILE_XFER_STATUS_DISABLED);
    /* Without detailed errors the client only knows CANCELLED. */
    client_caps(f, FALSE, plain_caps, G_N_ELEMENTS(plain_caps));
    out = peer_take(f->session);
    xfer_start(f, 2, "x", 1);
    g_assert_cmpuint(take_xfer_status(f, 2, NULL), ==, VD_AGENT_FILE_XFER_STATUS_CANCELLED);
}

static void
test_sanitize_names(void)
{
    static const struct {
        const char *in;
        const char *out;
    } cases[] = {
        { "report.pdf", "report.pdf" },
        { "../../etc/passwd", "passwd" },
        { "C:\\Users\\me\\doc.txt", "doc.txt" },
        { "/abs/path/", "file" },
        { "..", "file" },
        { ".hidden", "hidden" },
        { "a\nb\tc\x7f", "a_b_c_" },
        { "  spaced  ", "spaced" },
        { "", "file" },
        { "caf\xc3\xa9.txt", "caf\xc3\xa9.txt" },
    };
    char long_name[600];

    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        char *out = NULL;

        g_assert_cmpint(oriel_agent_sanitize_file_name(cases[i].in, strlen(cases[i].in), &out),
                        ==, 0);
        g_assert_cmpstr(out, ==, cases[i].out);
        free(out);
    }
    /* Long names are cut to 255 bytes, never inside a UTF-8 sequence. */
    for (gsize i = 0; i + 2 <= sizeof(long_name) - 1; i += 2)
        memcpy(long_name + i, "\xc3\xa9", 2);
    long_name[sizeof(long_name) - 1] = '\0';
    {
        char *out = NULL;

        g_assert_cmpint(oriel_agent_sanitize_file_name(long_name, strlen(long_name), &out), ==, 0);
        g_assert_cmpuint(strlen(out), ==, 254);
        g_assert_true(g_utf8_validate(out, -1, NULL));
        free(out);
    }
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
#define ADD(path, func) \
    g_test_add("/agent-session/" path, Fixture, NULL, fixture_setup, func, fixture_teardown)
    g_test_add_func("/agent-session/caps-announced-on-connect", test_caps_announced_on_connect);
    ADD("caps-request-answered", test_caps_request_answered);
    ADD("client-to-guest", test_client_to_guest);
    ADD("no-selection-cap", test_no_selection_cap);
    ADD("guest-to-client", test_guest_to_client);
    ADD("guest-on-demand", test_guest_on_demand);
    ADD("grab-before-client", test_grab_before_client);
    ADD("grab-serials", test_grab_serials);
    ADD("request-abandoned", test_request_abandoned);
    ADD("clipboard-before-caps", test_clipboard_before_caps);
    ADD("client-disconnected", test_client_disconnected);
    ADD("oversized-clipboard", test_oversized_clipboard);
    ADD("monitors-config", test_monitors_config);
    ADD("recorded-messages", test_recorded_messages);
    ADD("xfer-success", test_xfer_success);
    ADD("xfer-cancel-and-errors", test_xfer_cancel_and_errors);
    g_test_add("/agent-session/xfer-disabled", Fixture, NULL, fixture_setup_no_xfer,
               test_xfer_disabled, fixture_teardown);
    g_test_add_func("/agent-session/sanitize-names", test_sanitize_names);
#undef ADD
    return g_test_run();
}
