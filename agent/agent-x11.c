/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The X11 backend.  One unmapped window of ours does everything:
 *
 * Guest to client: XFIXES tells us when another X client takes CLIPBOARD or
 * PRIMARY; we ask the new owner for TARGETS and take the session's grab
 * with the VDAgent types they map to (oriel_agent_session_clipboard_grab).
 * A client request converts the selection to the best matching target into
 * a property of our window, read at once or incrementally (INCR), and goes
 * back with oriel_agent_session_clipboard_reply().
 *
 * Client to guest: a client grab makes our window the selection's owner;
 * an X client's SelectionRequest asks the client for the data (through the
 * session) and is answered when it comes, incrementally (INCR) when large.
 * The last data received is kept until the grab changes, so the several
 * conversions of one paste ask the client once.
 *
 * Everything the X server or X clients hand us is bounded like what comes
 * from the host: target lists, property sizes, the number of transfers in
 * flight, and each of them has a deadline.
 */
#include "agent-x11.h"
#include "oriel-agent.h"

#include <X11/Xatom.h>
#include <X11/Xlib.h>
#include <X11/extensions/Xfixes.h>
#include <X11/extensions/Xrandr.h>

#include <endian.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_TARGETS 256         /* read from a TARGETS reply */
#define MAX_TYPES 16
#define MAX_WAITING 32          /* X requests waiting for client data */
#define MAX_OUTGOING 4          /* INCR transfers to X clients */
#define MAX_CONVERSIONS 8       /* client requests waiting for X data */
#define X_TIMEOUT_MS 10000      /* an X client's answer or INCR step */
#define CLIENT_TIMEOUT_MS 30000 /* the SPICE client's data */
#define DEFAULT_INCR_THRESHOLD (256 * 1024)

enum {
    ATOM_CLIPBOARD,
    ATOM_TARGETS,
    ATOM_MULTIPLE,
    ATOM_INCR,
    ATOM_ATOM,
    ATOM_UTF8_STRING,
    ATOM_TEXT_PLAIN_UTF8,
    ATOM_STRING,
    ATOM_PNG,
    ATOM_BMP,
    ATOM_TIFF,
    ATOM_JPEG,
    ATOM_TARGETS_PROP_0,
    ATOM_TARGETS_PROP_1,
    ATOM_DATA_PROP_0,
    ATOM_DATA_PROP_1,
    N_ATOMS,
};

static const char *const atom_names[N_ATOMS] = {
    [ATOM_CLIPBOARD] = "CLIPBOARD",
    [ATOM_TARGETS] = "TARGETS",
    [ATOM_MULTIPLE] = "MULTIPLE",
    [ATOM_INCR] = "INCR",
    [ATOM_ATOM] = "ATOM",
    [ATOM_UTF8_STRING] = "UTF8_STRING",
    [ATOM_TEXT_PLAIN_UTF8] = "text/plain;charset=utf-8",
    [ATOM_STRING] = "STRING",
    [ATOM_PNG] = "image/png",
    [ATOM_BMP] = "image/bmp",
    [ATOM_TIFF] = "image/tiff",
    [ATOM_JPEG] = "image/jpeg",
    [ATOM_TARGETS_PROP_0] = "ORIEL_AGENT_TARGETS_CLIPBOARD",
    [ATOM_TARGETS_PROP_1] = "ORIEL_AGENT_TARGETS_PRIMARY",
    [ATOM_DATA_PROP_0] = "ORIEL_AGENT_DATA_CLIPBOARD",
    [ATOM_DATA_PROP_1] = "ORIEL_AGENT_DATA_PRIMARY",
};

/* X targets and the VDAgent type each carries, in order of preference. */
static const struct {
    unsigned atom;
    uint32_t type;
} target_map[] = {
    { ATOM_UTF8_STRING, VD_AGENT_CLIPBOARD_UTF8_TEXT },
    { ATOM_TEXT_PLAIN_UTF8, VD_AGENT_CLIPBOARD_UTF8_TEXT },
    { ATOM_STRING, VD_AGENT_CLIPBOARD_UTF8_TEXT },
    { ATOM_PNG, VD_AGENT_CLIPBOARD_IMAGE_PNG },
    { ATOM_BMP, VD_AGENT_CLIPBOARD_IMAGE_BMP },
    { ATOM_TIFF, VD_AGENT_CLIPBOARD_IMAGE_TIFF },
    { ATOM_JPEG, VD_AGENT_CLIPBOARD_IMAGE_JPG },
};
#define N_TARGET_MAP (sizeof(target_map) / sizeof(target_map[0]))

/* An X client's SelectionRequest waiting for the SPICE client's data. */
typedef struct Waiting {
    Window requestor;
    Atom property;
    Atom target;
    Time time;
    uint32_t type;
    int64_t deadline;
} Waiting;

/* Data going to an X client in INCR steps. */
typedef struct Outgoing {
    bool active;
    Window requestor;
    Atom property;
    Atom type;
    uint8_t *data;
    size_t len;
    size_t pos;
    bool finished;              /* the zero-length end was written */
    int64_t deadline;
} Outgoing;

typedef struct XSelection {
    uint8_t index;              /* VD_AGENT_CLIPBOARD_SELECTION_* */
    Atom atom;
    Atom targets_prop;
    Atom data_prop;

    /* Client to guest: our window owns the X selection. */
    bool owned;
    uint32_t client_types[MAX_TYPES];
    unsigned n_client_types;
    Waiting waiting[MAX_WAITING];
    unsigned n_waiting;
    bool client_request;        /* a request to the client is in flight */
    uint32_t client_request_type;
    bool have_cache;
    uint32_t cache_type;
    uint8_t *cache;
    size_t cache_len;

    /* Guest to client: another X client owns it. */
    bool guest_grab;            /* we took the session's grab */
    Atom guest_targets[MAX_TYPES];      /* best X target per type */
    uint32_t guest_types[MAX_TYPES];
    unsigned n_guest_types;
    bool targets_pending;
    bool targets_again;         /* the owner changed while asking */
    int64_t targets_deadline;
    uint32_t conversions[MAX_CONVERSIONS];
    unsigned n_conversions;
    bool converting;
    Atom conv_target;
    int64_t conv_deadline;
    bool incr_in;
    bool incr_overflow;
    uint8_t *in_data;
    size_t in_len;
} XSelection;

typedef struct X11Backend {
    OrielAgentBackend backend;
    OrielAgentX11Config config;
    OrielAgentSession *session;
    Display *dpy;
    Window root;
    Window win;
    int xfixes_event;
    bool have_randr;
    Atom atoms[N_ATOMS];
    XSelection sel[ORIEL_AGENT_SELECTION_COUNT];
    Outgoing outgoing[MAX_OUTGOING];
    size_t incr_threshold;
    size_t max_read;            /* longs per XGetWindowProperty */
} X11Backend;

/* X errors arrive asynchronously: the handler records them, the code that
 * cares syncs and checks. */
static int x_error_code;

static int
on_x_error(Display *dpy, XErrorEvent *event)
{
    (void)dpy;
    x_error_code = event->error_code;
    return 0;
}

static void log_x(const X11Backend *x, const char *format, ...)
    __attribute__((format(printf, 2, 3)));

static void
log_x(const X11Backend *x, const char *format, ...)
{
    va_list args;

    if (!x->config.verbose)
        return;
    fputs("oriel-agent: x11: ", stderr);
    va_start(args, format);
    vfprintf(stderr, format, args);
    va_end(args);
    fputc('\n', stderr);
}

static int64_t
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static XSelection *
selection_of_atom(X11Backend *x, Atom atom)
{
    for (unsigned i = 0; i < ORIEL_AGENT_SELECTION_COUNT; i++)
        if (x->sel[i].atom == atom)
            return &x->sel[i];
    return NULL;
}

static uint32_t
type_of_target(const X11Backend *x, Atom target)
{
    for (size_t i = 0; i < N_TARGET_MAP; i++)
        if (x->atoms[target_map[i].atom] == target)
            return target_map[i].type;
    return VD_AGENT_CLIPBOARD_NONE;
}

/* ---- text conversions ------------------------------------------------- */

/* ISO 8859-1 to UTF-8: every byte is one code point. */
static uint8_t *
latin1_to_utf8(const uint8_t *in, size_t len, size_t *ret_len)
{
    uint8_t *out = malloc(len * 2 + 1);
    size_t n = 0;

    if (!out)
        return NULL;
    for (size_t i = 0; i < len; i++) {
        if (in[i] < 0x80) {
            out[n++] = in[i];
        } else {
            out[n++] = (uint8_t)(0xc0 | (in[i] >> 6));
            out[n++] = (uint8_t)(0x80 | (in[i] & 0x3f));
        }
    }
    *ret_len = n;
    return out;
}

/* UTF-8 to ISO 8859-1: code points above U+00FF, and malformed
 * sequences, become '?'. */
static uint8_t *
utf8_to_latin1(const uint8_t *in, size_t len, size_t *ret_len)
{
    uint8_t *out = malloc(len + 1);
    size_t n = 0;

    if (!out)
        return NULL;
    for (size_t i = 0; i < len;) {
        uint8_t c = in[i];
        size_t follow;
        uint32_t cp;

        if (c < 0x80) {
            out[n++] = c;
            i++;
            continue;
        }
        if ((c & 0xe0) == 0xc0)
            follow = 1, cp = c & 0x1f;
        else if ((c & 0xf0) == 0xe0)
            follow = 2, cp = c & 0x0f;
        else if ((c & 0xf8) == 0xf0)
            follow = 3, cp = c & 0x07;
        else
            follow = 0, cp = 0x100;
        i++;
        for (size_t k = 0; k < follow; k++) {
            if (i >= len || (in[i] & 0xc0) != 0x80) {
                cp = 0x100;
                break;
            }
            cp = (cp << 6) | (in[i++] & 0x3f);
        }
        /* Overlong two-byte forms of ASCII are malformed too. */
        out[n++] = cp <= 0xff && !(follow == 1 && cp < 0x80) ? (uint8_t)cp
                                                             : '?';
    }
    *ret_len = n;
    return out;
}

/* ---- client to guest: we own the X selection -------------------------- */

static void
send_notify(X11Backend *x, Window requestor, Atom selection, Atom target,
            Atom property, Time time)
{
    XEvent ev = { 0 };

    ev.xselection.type = SelectionNotify;
    ev.xselection.display = x->dpy;
    ev.xselection.requestor = requestor;
    ev.xselection.selection = selection;
    ev.xselection.target = target;
    ev.xselection.property = property;
    ev.xselection.time = time;
    XSendEvent(x->dpy, requestor, False, NoEventMask, &ev);
}

static void
outgoing_free(X11Backend *x, Outgoing *o)
{
    if (o->active && !o->finished)
        XSelectInput(x->dpy, o->requestor, NoEventMask);
    free(o->data);
    memset(o, 0, sizeof(*o));
}

/* The data of one conversion into the requestor's property; large data
 * starts an INCR transfer.  false when nothing could be written. */
static bool
serve_data(X11Backend *x, XSelection *s, const Waiting *w,
           const uint8_t *data, size_t len)
{
    uint8_t *converted = NULL;
    Outgoing *o = NULL;

    if (w->target == x->atoms[ATOM_STRING]) {
        converted = utf8_to_latin1(data, len, &len);
        if (!converted)
            return false;
        data = converted;
    }
    if (len < x->incr_threshold) {
        XChangeProperty(x->dpy, w->requestor, w->property, w->target, 8,
                        PropModeReplace, data, (int)len);
        send_notify(x, w->requestor, s->atom, w->target, w->property,
                    w->time);
        free(converted);
        return true;
    }
    for (size_t i = 0; i < MAX_OUTGOING && !o; i++)
        if (!x->outgoing[i].active)
            o = &x->outgoing[i];
    if (!o) {
        log_x(x, "too many incremental transfers at once; refusing one");
        free(converted);
        return false;
    }
    if (!converted) {
        converted = malloc(len);
        if (!converted)
            return false;
        memcpy(converted, data, len);
    }
    *o = (Outgoing) {
        .active = true,
        .requestor = w->requestor,
        .property = w->property,
        .type = w->target,
        .data = converted,
        .len = len,
        .deadline = now_ms() + X_TIMEOUT_MS,
    };
    {
        long size = (long)len;

        /* The requestor deleting the property asks for each step. */
        XSelectInput(x->dpy, w->requestor, PropertyChangeMask);
        XChangeProperty(x->dpy, w->requestor, w->property,
                        x->atoms[ATOM_INCR], 32, PropModeReplace,
                        (unsigned char *)&size, 1);
    }
    send_notify(x, w->requestor, s->atom, w->target, w->property, w->time);
    log_x(x, "sending %zu bytes incrementally", len);
    return true;
}

static void
outgoing_step(X11Backend *x, Outgoing *o)
{
    size_t chunk = o->len - o->pos;

    if (o->finished) {
        /* The requestor took the zero-length end. */
        outgoing_free(x, o);
        return;
    }
    if (chunk > x->incr_threshold / 2)
        chunk = x->incr_threshold / 2;
    XChangeProperty(x->dpy, o->requestor, o->property, o->type, 8,
                    PropModeReplace, o->data + o->pos, (int)chunk);
    o->pos += chunk;
    if (chunk == 0) {
        /* Done: the requestor deletes this one too, but nothing more is
         * owed; stop listening to its window. */
        XSelectInput(x->dpy, o->requestor, NoEventMask);
        o->finished = true;
        outgoing_free(x, o);
        return;
    }
    o->deadline = now_ms() + X_TIMEOUT_MS;
}

static void
refuse(X11Backend *x, XSelection *s, const Waiting *w)
{
    send_notify(x, w->requestor, s->atom, w->target, None, w->time);
}

static void
clear_cache(XSelection *s)
{
    free(s->cache);
    s->cache = NULL;
    s->cache_len = 0;
    s->have_cache = false;
}

static void
fail_waiting(X11Backend *x, XSelection *s)
{
    for (unsigned i = 0; i < s->n_waiting; i++)
        refuse(x, s, &s->waiting[i]);
    s->n_waiting = 0;
}

/* Asks the client for the type the oldest waiting request wants, unless a
 * request is in flight already. */
static void
request_next(X11Backend *x, XSelection *s)
{
    while (s->n_waiting > 0 && !s->client_request) {
        uint32_t type = s->waiting[0].type;
        const uint8_t *data = NULL;
        size_t len = 0;
        int r = oriel_agent_session_clipboard_get(x->session, s->index, type,
                                                  &data, &len);

        if (r == -EAGAIN) {
            s->client_request = true;
            s->client_request_type = type;
            return;
        }
        /* Not offered any more, or an error: every waiter of the type
         * gets nothing. */
        for (unsigned i = 0; i < s->n_waiting;) {
            if (s->waiting[i].type == type) {
                if (r == 0)
                    serve_data(x, s, &s->waiting[i], data, len);
                else
                    refuse(x, s, &s->waiting[i]);
                s->waiting[i] = s->waiting[--s->n_waiting];
            } else {
                i++;
            }
        }
    }
}

static void
x11_clipboard_data(void *opaque, uint8_t selection, uint32_t type,
                   const uint8_t *data, size_t len, int status)
{
    X11Backend *x = opaque;
    XSelection *s;

    if (selection >= ORIEL_AGENT_SELECTION_COUNT)
        return;
    s = &x->sel[selection];
    s->client_request = false;
    if (!s->owned)
        return;
    if (status == 0 && len > 0) {
        uint8_t *copy = malloc(len);

        if (copy) {
            clear_cache(s);
            memcpy(copy, data, len);
            s->cache = copy;
            s->cache_len = len;
            s->cache_type = type;
            s->have_cache = true;
        }
    }
    for (unsigned i = 0; i < s->n_waiting;) {
        Waiting *w = &s->waiting[i];

        if (status < 0 || len == 0 || w->type == type) {
            if (status < 0 || len == 0 || w->type != type ||
                !serve_data(x, s, w, data, len))
                refuse(x, s, w);
            s->waiting[i] = s->waiting[--s->n_waiting];
        } else {
            i++;
        }
    }
    request_next(x, s);
    XFlush(x->dpy);
}

static void
x11_client_grab(void *opaque, uint8_t selection, const uint32_t *types,
                unsigned n_types)
{
    X11Backend *x = opaque;
    XSelection *s;
    unsigned n = 0;

    if (selection >= ORIEL_AGENT_SELECTION_COUNT)
        return;
    s = &x->sel[selection];
    clear_cache(s);
    fail_waiting(x, s);
    s->client_request = false;
    /* The guest's grab, if any, is over: the session said so. */
    s->guest_grab = false;
    s->n_guest_types = 0;
    s->n_conversions = 0;
    for (unsigned i = 0; i < n_types && n < MAX_TYPES; i++) {
        bool known = false;

        for (size_t j = 0; j < N_TARGET_MAP; j++)
            known |= target_map[j].type == types[i];
        if (known)
            s->client_types[n++] = types[i];
    }
    s->n_client_types = n;
    if (n > 0) {
        XSetSelectionOwner(x->dpy, s->atom, x->win, CurrentTime);
        s->owned = XGetSelectionOwner(x->dpy, s->atom) == x->win;
        log_x(x, "client grab of %s (%u type(s)): %s",
              s->index ? "PRIMARY" : "CLIPBOARD", n,
              s->owned ? "we own the selection" : "could not take it");
    } else if (s->owned) {
        if (XGetSelectionOwner(x->dpy, s->atom) == x->win)
            XSetSelectionOwner(x->dpy, s->atom, None, CurrentTime);
        s->owned = false;
        log_x(x, "client grab of %s ended",
              s->index ? "PRIMARY" : "CLIPBOARD");
    }
    XFlush(x->dpy);
}

static void
answer_targets(X11Backend *x, XSelection *s, const Waiting *w)
{
    Atom targets[2 + N_TARGET_MAP];
    int n = 0;

    targets[n++] = x->atoms[ATOM_TARGETS];
    for (size_t i = 0; i < N_TARGET_MAP; i++)
        for (unsigned j = 0; j < s->n_client_types; j++)
            if (target_map[i].type == s->client_types[j])
                targets[n++] = x->atoms[target_map[i].atom];
    XChangeProperty(x->dpy, w->requestor, w->property, x->atoms[ATOM_ATOM],
                    32, PropModeReplace, (unsigned char *)targets, n);
    send_notify(x, w->requestor, s->atom, w->target, w->property, w->time);
}

static void
on_selection_request(X11Backend *x, const XSelectionRequestEvent *ev)
{
    XSelection *s = selection_of_atom(x, ev->selection);
    Waiting w = {
        .requestor = ev->requestor,
        /* Obsolete clients name no property: use the target. */
        .property = ev->property != None ? ev->property : ev->target,
        .target = ev->target,
        .time = ev->time,
        .deadline = now_ms() + CLIENT_TIMEOUT_MS,
    };
    bool offered = false;

    if (!s || !s->owned || ev->owner != x->win) {
        send_notify(x, ev->requestor, ev->selection, ev->target, None,
                    ev->time);
        return;
    }
    if (ev->target == x->atoms[ATOM_TARGETS]) {
        answer_targets(x, s, &w);
        return;
    }
    w.type = type_of_target(x, ev->target);
    for (unsigned i = 0; i < s->n_client_types; i++)
        offered |= w.type != VD_AGENT_CLIPBOARD_NONE &&
                   s->client_types[i] == w.type;
    /* MULTIPLE and every target we do not carry are refused. */
    if (!offered) {
        refuse(x, s, &w);
        return;
    }
    if (s->have_cache && s->cache_type == w.type) {
        if (!serve_data(x, s, &w, s->cache, s->cache_len))
            refuse(x, s, &w);
        return;
    }
    if (s->n_waiting >= MAX_WAITING) {
        refuse(x, s, &w);
        return;
    }
    s->waiting[s->n_waiting++] = w;
    request_next(x, s);
}

/* ---- guest to client: another X client owns the selection ------------- */

static void
guest_release(X11Backend *x, XSelection *s)
{
    if (s->guest_grab)
        oriel_agent_session_clipboard_release(x->session, s->index);
    s->guest_grab = false;
    s->n_guest_types = 0;
    s->n_conversions = 0;
    s->converting = false;
    s->incr_in = false;
    free(s->in_data);
    s->in_data = NULL;
    s->in_len = 0;
}

static void
ask_targets(X11Backend *x, XSelection *s, Time time)
{
    if (s->targets_pending) {
        s->targets_again = true;
        return;
    }
    XDeleteProperty(x->dpy, x->win, s->targets_prop);
    XConvertSelection(x->dpy, s->atom, x->atoms[ATOM_TARGETS],
                      s->targets_prop, x->win, time);
    s->targets_pending = true;
    s->targets_again = false;
    s->targets_deadline = now_ms() + X_TIMEOUT_MS;
}

static void
on_owner_change(X11Backend *x, const XFixesSelectionNotifyEvent *ev)
{
    XSelection *s = selection_of_atom(x, ev->selection);

    if (!s || ev->owner == x->win)
        return;
    if (s->owned) {
        /* An X client took the selection from the SPICE client. */
        s->owned = false;
        fail_waiting(x, s);
        clear_cache(s);
    }
    if (ev->owner == None) {
        guest_release(x, s);
        return;
    }
    ask_targets(x, s, ev->selection_timestamp);
}

static void
got_targets(X11Backend *x, XSelection *s, Atom property)
{
    Atom type = None;
    int format = 0;
    unsigned long n = 0, after = 0;
    unsigned char *prop = NULL;
    uint32_t types[MAX_TYPES];
    Atom targets[MAX_TYPES];
    unsigned n_types = 0;
    int r;

    s->targets_pending = false;
    if (s->targets_again) {
        ask_targets(x, s, CurrentTime);
        return;
    }
    if (property != None &&
        XGetWindowProperty(x->dpy, x->win, property, 0, MAX_TARGETS, True,
                           AnyPropertyType, &type, &format, &n, &after,
                           &prop) == Success &&
        prop && format == 32 && (type == x->atoms[ATOM_ATOM] ||
                                 type == x->atoms[ATOM_TARGETS])) {
        const Atom *list = (const Atom *)prop;

        /* In order of our preference, the first target of each type. */
        for (size_t i = 0; i < N_TARGET_MAP; i++) {
            Atom want = x->atoms[target_map[i].atom];
            bool have_type = false;

            for (unsigned j = 0; j < n_types; j++)
                have_type |= types[j] == target_map[i].type;
            for (unsigned long j = 0; j < n && !have_type; j++) {
                if (list[j] == want) {
                    types[n_types] = target_map[i].type;
                    targets[n_types++] = want;
                    break;
                }
            }
        }
    }
    if (prop)
        XFree(prop);
    if (n_types == 0) {
        /* Nothing we can carry: the client's clipboard is not ours to
         * keep either. */
        log_x(x, "new %s owner offers no target we carry",
              s->index ? "PRIMARY" : "CLIPBOARD");
        guest_release(x, s);
        return;
    }
    s->n_conversions = 0;
    s->converting = false;
    s->incr_in = false;
    memcpy(s->guest_types, types, n_types * sizeof(types[0]));
    memcpy(s->guest_targets, targets, n_types * sizeof(targets[0]));
    s->n_guest_types = n_types;
    s->guest_grab = true;
    r = oriel_agent_session_clipboard_grab(x->session, s->index, types,
                                           n_types);
    log_x(x, "guest grab of %s with %u type(s)%s",
          s->index ? "PRIMARY" : "CLIPBOARD", n_types,
          r == -EOPNOTSUPP ? " (no client yet)" : "");
}

static void conversion_done(X11Backend *x, XSelection *s, const uint8_t *data,
                            size_t len);

static void
start_conversion(X11Backend *x, XSelection *s)
{
    while (!s->converting && s->n_conversions > 0) {
        uint32_t type = s->conversions[0];
        Atom target = None;

        for (unsigned i = 0; i < s->n_guest_types; i++)
            if (s->guest_types[i] == type)
                target = s->guest_targets[i];
        if (target == None) {
            conversion_done(x, s, NULL, 0);
            continue;
        }
        XDeleteProperty(x->dpy, x->win, s->data_prop);
        XConvertSelection(x->dpy, s->atom, target, s->data_prop, x->win,
                          CurrentTime);
        s->converting = true;
        s->conv_target = target;
        s->conv_deadline = now_ms() + X_TIMEOUT_MS;
        s->incr_in = false;
        s->incr_overflow = false;
        s->in_len = 0;
    }
}

/* The oldest conversion is over: data (NULL: failed) goes to the client. */
static void
conversion_done(X11Backend *x, XSelection *s, const uint8_t *data, size_t len)
{
    uint32_t type = s->conversions[0];
    uint8_t *converted = NULL;

    if (data && s->conv_target == x->atoms[ATOM_STRING] && s->converting) {
        converted = latin1_to_utf8(data, len, &len);
        data = converted;
    }
    oriel_agent_session_clipboard_reply(x->session, s->index, type,
                                        data, data ? len : 0);
    free(converted);
    s->n_conversions--;
    memmove(s->conversions, s->conversions + 1,
            s->n_conversions * sizeof(s->conversions[0]));
    s->converting = false;
    s->incr_in = false;
    free(s->in_data);
    s->in_data = NULL;
    s->in_len = 0;
    start_conversion(x, s);
}

static void
x11_guest_request(void *opaque, uint8_t selection, uint32_t type)
{
    X11Backend *x = opaque;
    XSelection *s;

    if (selection >= ORIEL_AGENT_SELECTION_COUNT)
        return;
    s = &x->sel[selection];
    if (!s->guest_grab || s->n_conversions >= MAX_CONVERSIONS) {
        oriel_agent_session_clipboard_reply(x->session, selection, type,
                                            NULL, 0);
        return;
    }
    s->conversions[s->n_conversions++] = type;
    start_conversion(x, s);
    XFlush(x->dpy);
}

/* Appends len bytes to the incoming data, within the clipboard cap. */
static bool
in_append(X11Backend *x, XSelection *s, const uint8_t *data, size_t len)
{
    uint8_t *grown;

    if (len > x->config.max_clipboard - s->in_len)
        return false;
    grown = realloc(s->in_data, s->in_len + len + 1);
    if (!grown)
        return false;
    memcpy(grown + s->in_len, data, len);
    s->in_data = grown;
    s->in_len += len;
    return true;
}

/* Reads and deletes our data property.  Returns the property's type, or
 * None when it is missing, too large or not 8-bit data. */
static Atom
read_data_prop(X11Backend *x, XSelection *s, unsigned char **ret_prop,
               unsigned long *ret_n)
{
    Atom type = None;
    int format = 0;
    unsigned long n = 0, after = 0;
    unsigned char *prop = NULL;

    if (XGetWindowProperty(x->dpy, x->win, s->data_prop, 0,
                           (long)x->max_read, True, AnyPropertyType, &type,
                           &format, &n, &after, &prop) != Success)
        return None;
    if (type == x->atoms[ATOM_INCR]) {
        *ret_prop = prop;
        *ret_n = 0;
        return type;
    }
    if (!prop || format != 8 || after > 0) {
        if (after > 0)
            log_x(x, "selection data over %zu bytes refused",
                  x->config.max_clipboard);
        if (prop)
            XFree(prop);
        /* A refused property is not deleted by the read: do it. */
        XDeleteProperty(x->dpy, x->win, s->data_prop);
        return None;
    }
    *ret_prop = prop;
    *ret_n = n;
    return type;
}

static void
got_data(X11Backend *x, XSelection *s, Atom property)
{
    unsigned char *prop = NULL;
    unsigned long n = 0;
    Atom type;

    if (!s->converting || s->incr_in)
        return;
    if (property == None) {
        conversion_done(x, s, NULL, 0);
        return;
    }
    type = read_data_prop(x, s, &prop, &n);
    if (type == x->atoms[ATOM_INCR]) {
        /* Deleting the property (done by the read) starts the steps. */
        if (prop)
            XFree(prop);
        s->incr_in = true;
        s->conv_deadline = now_ms() + X_TIMEOUT_MS;
        log_x(x, "receiving %s incrementally",
              s->index ? "PRIMARY" : "CLIPBOARD");
        return;
    }
    if (type == None) {
        conversion_done(x, s, NULL, 0);
        return;
    }
    conversion_done(x, s, prop, n);
    XFree(prop);
}

static void
incr_step(X11Backend *x, XSelection *s)
{
    unsigned char *prop = NULL;
    unsigned long n = 0;
    Atom type = read_data_prop(x, s, &prop, &n);

    if (type == None || type == x->atoms[ATOM_INCR]) {
        if (prop)
            XFree(prop);
        s->incr_overflow = true;
        return;
    }
    s->conv_deadline = now_ms() + X_TIMEOUT_MS;
    if (n == 0) {
        XFree(prop);
        if (s->incr_overflow)
            conversion_done(x, s, NULL, 0);
        else
            conversion_done(x, s, s->in_data ? s->in_data
                                             : (const uint8_t *)"", s->in_len);
        return;
    }
    /* Past the cap, the rest is read and dropped so the owner finishes. */
    if (!s->incr_overflow && !in_append(x, s, prop, n)) {
        log_x(x, "incremental selection data over %zu bytes refused",
              x->config.max_clipboard);
        s->incr_overflow = true;
        free(s->in_data);
        s->in_data = NULL;
        s->in_len = 0;
    }
    XFree(prop);
}

static void
on_selection_notify(X11Backend *x, const XSelectionEvent *ev)
{
    XSelection *s = selection_of_atom(x, ev->selection);

    if (!s || ev->requestor != x->win)
        return;
    if (ev->target == x->atoms[ATOM_TARGETS] && s->targets_pending)
        got_targets(x, s, ev->property);
    else if (s->converting && ev->target == s->conv_target)
        got_data(x, s, ev->property);
}

static void
on_property_notify(X11Backend *x, const XPropertyEvent *ev)
{
    if (ev->window == x->win) {
        if (ev->state != PropertyNewValue)
            return;
        for (unsigned i = 0; i < ORIEL_AGENT_SELECTION_COUNT; i++)
            if (x->sel[i].incr_in && ev->atom == x->sel[i].data_prop)
                incr_step(x, &x->sel[i]);
        return;
    }
    if (ev->state != PropertyDelete)
        return;
    for (size_t i = 0; i < MAX_OUTGOING; i++) {
        Outgoing *o = &x->outgoing[i];

        if (o->active && o->requestor == ev->window &&
            o->property == ev->atom) {
            outgoing_step(x, o);
            return;
        }
    }
}

/* ---- monitors --------------------------------------------------------- */

static RRMode
find_or_add_mode(X11Backend *x, XRRScreenResources *res, RROutput output,
                 unsigned width, unsigned height)
{
    char name[32];
    XRRModeInfo info = { 0 };
    RRMode mode;

    for (int i = 0; i < res->nmode; i++)
        if (res->modes[i].width == width && res->modes[i].height == height)
            return res->modes[i].id;
    /* A mode of that size (timings matter only on real hardware; a
     * virtual display takes any). */
    snprintf(name, sizeof(name), "%ux%u", width, height);
    info.width = width;
    info.height = height;
    info.hTotal = width;
    info.vTotal = height;
    info.dotClock = (unsigned long)width * height * 60;
    info.name = name;
    info.nameLength = (unsigned)strlen(name);
    x_error_code = 0;
    mode = XRRCreateMode(x->dpy, x->root, &info);
    if (mode != None)
        XRRAddOutputMode(x->dpy, output, mode);
    XSync(x->dpy, False);
    return x_error_code ? None : mode;
}

static int
x11_apply_monitors(void *opaque, const VDAgentMonitorsConfig *config,
                   size_t size)
{
    X11Backend *x = opaque;
    const uint8_t *raw = (const uint8_t *)config;
    uint32_t n_monitors;
    struct { unsigned w, h; int x, y; } mon[32];
    unsigned n = 0;
    unsigned width = 0, height = 0;
    int min_w, min_h, max_w, max_h;
    unsigned cur_w = 0, cur_h = 0;
    XRRScreenResources *res = NULL;
    int r = 0;

    if (!x->have_randr) {
        log_x(x, "monitors config: the X server has no RandR");
        return -EOPNOTSUPP;
    }
    /* The session checked the size against the count. */
    memcpy(&n_monitors, raw, sizeof(n_monitors));
    n_monitors = le32toh(n_monitors);
    for (uint32_t i = 0; i < n_monitors; i++) {
        VDAgentMonConfig m;

        if (sizeof(VDAgentMonitorsConfig) + (i + 1) * sizeof(m) > size)
            return -EBADMSG;
        memcpy(&m, raw + sizeof(VDAgentMonitorsConfig) + i * sizeof(m),
               sizeof(m));
        m.width = le32toh(m.width);
        m.height = le32toh(m.height);
        m.x = (int32_t)le32toh((uint32_t)m.x);
        m.y = (int32_t)le32toh((uint32_t)m.y);
        /* Sparse configs name disabled monitors with a 0x0 size. */
        if (m.width == 0 || m.height == 0)
            continue;
        if (n >= sizeof(mon) / sizeof(mon[0]) || m.width > 32768 ||
            m.height > 32768 || m.x < 0 || m.y < 0 || m.x > 32768 ||
            m.y > 32768)
            return -EINVAL;
        mon[n].w = m.width;
        mon[n].h = m.height;
        mon[n].x = n_monitors > 1 ? m.x : 0;
        mon[n].y = n_monitors > 1 ? m.y : 0;
        if ((unsigned)mon[n].x + mon[n].w > width)
            width = (unsigned)mon[n].x + mon[n].w;
        if ((unsigned)mon[n].y + mon[n].h > height)
            height = (unsigned)mon[n].y + mon[n].h;
        n++;
    }
    if (n == 0)
        return -EINVAL;
    if (XRRGetScreenSizeRange(x->dpy, x->root, &min_w, &min_h, &max_w,
                              &max_h) &&
        ((int)width < min_w || (int)height < min_h || (int)width > max_w ||
         (int)height > max_h)) {
        fprintf(stderr, "oriel-agent: monitors config %ux%u is outside the "
                "X server's screen sizes %dx%d..%dx%d\n", width, height,
                min_w, min_h, max_w, max_h);
        return -ERANGE;
    }
    res = XRRGetScreenResourcesCurrent(x->dpy, x->root);
    if (!res)
        return -EIO;
    if ((unsigned)res->ncrtc < n || (unsigned)res->noutput < n) {
        fprintf(stderr, "oriel-agent: monitors config of %u monitor(s), the "
                "X server has %d output(s)\n", n, res->noutput);
        r = -ENOSPC;
        goto out;
    }
    /* The root window's geometry is the screen's current size (Xlib's
     * DisplayWidth is the size at connection time). */
    {
        Window root_ret;
        int gx, gy;
        unsigned border, depth;

        if (!XGetGeometry(x->dpy, x->root, &root_ret, &gx, &gy, &cur_w, &cur_h,
                          &border, &depth)) {
            r = -EIO;
            goto out;
        }
    }
    x_error_code = 0;
    /* As xrandr does: CRTCs that would not fit the new screen off, the
     * screen resized, then each monitor on its CRTC, and CRTCs of monitors
     * no longer there off. */
    for (int i = 0; i < res->ncrtc; i++) {
        XRRCrtcInfo *crtc = XRRGetCrtcInfo(x->dpy, res, res->crtcs[i]);
        bool off = crtc && crtc->mode != None &&
                   ((unsigned)i >= n ||
                    crtc->x + (int)crtc->width > (int)width ||
                    crtc->y + (int)crtc->height > (int)height);

        if (off && XRRSetCrtcConfig(x->dpy, res, res->crtcs[i], CurrentTime,
                                    0, 0, None, RR_Rotate_0, NULL, 0) !=
                   RRSetConfigSuccess)
            r = -EIO;
        if (crtc)
            XRRFreeCrtcInfo(crtc);
    }
    XSync(x->dpy, False);
    if (r == 0 && !x_error_code && (width != cur_w || height != cur_h)) {
        int screen = DefaultScreen(x->dpy);
        double mm_per_px = (double)DisplayWidthMM(x->dpy, screen) /
                           DisplayWidth(x->dpy, screen);

        XRRSetScreenSize(x->dpy, x->root, (int)width, (int)height,
                         (int)(width * mm_per_px + 0.5),
                         (int)(height * mm_per_px + 0.5));
        XSync(x->dpy, False);
    }
    for (unsigned i = 0; r == 0 && !x_error_code && i < n; i++) {
        RROutput output = res->outputs[i];
        RRMode mode = find_or_add_mode(x, res, output, mon[i].w, mon[i].h);

        if (mode == None ||
            XRRSetCrtcConfig(x->dpy, res, res->crtcs[i], CurrentTime,
                             mon[i].x, mon[i].y, mode, RR_Rotate_0, &output,
                             1) != RRSetConfigSuccess)
            r = -EIO;
        XSync(x->dpy, False);
    }
    if (r == 0 && x_error_code)
        r = -EIO;
    if (r < 0)
        fprintf(stderr, "oriel-agent: the X server refused the monitors "
                "config %ux%u (X error %d)\n", width, height, x_error_code);
    else
        log_x(x, "screen now %ux%u with %u monitor(s)", width, height, n);
out:
    XRRFreeScreenResources(res);
    return r;
}

/* ---- the backend ------------------------------------------------------ */

static int
x11_start(void *opaque, OrielAgentSession *session)
{
    X11Backend *x = opaque;

    x->session = session;
    /* Whoever owns the selections now is the guest's first grab. */
    for (unsigned i = 0; i < ORIEL_AGENT_SELECTION_COUNT; i++)
        if (XGetSelectionOwner(x->dpy, x->sel[i].atom) != None)
            ask_targets(x, &x->sel[i], CurrentTime);
    XFlush(x->dpy);
    return 0;
}

static int
x11_fd(void *opaque)
{
    return ConnectionNumber(((X11Backend *)opaque)->dpy);
}

static void
expire(X11Backend *x, int64_t now, int64_t *next)
{
#define WAKE(t) do { if (*next < 0 || (t) < *next) *next = (t); } while (0)
    for (unsigned i = 0; i < ORIEL_AGENT_SELECTION_COUNT; i++) {
        XSelection *s = &x->sel[i];

        if (s->targets_pending) {
            if (now >= s->targets_deadline) {
                log_x(x, "the owner of %s did not answer TARGETS",
                      i ? "PRIMARY" : "CLIPBOARD");
                s->targets_pending = false;
                guest_release(x, s);
            } else {
                WAKE(s->targets_deadline);
            }
        }
        if (s->converting) {
            if (now >= s->conv_deadline) {
                log_x(x, "the owner of %s did not deliver the data",
                      i ? "PRIMARY" : "CLIPBOARD");
                conversion_done(x, s, NULL, 0);
            }
            if (s->converting)
                WAKE(s->conv_deadline);
        }
        for (unsigned j = 0; j < s->n_waiting;) {
            if (now >= s->waiting[j].deadline) {
                refuse(x, s, &s->waiting[j]);
                s->waiting[j] = s->waiting[--s->n_waiting];
                if (s->n_waiting == 0 && s->client_request) {
                    oriel_agent_session_clipboard_abandon(x->session, s->index);
                    s->client_request = false;
                }
            } else {
                WAKE(s->waiting[j].deadline);
                j++;
            }
        }
    }
    for (size_t i = 0; i < MAX_OUTGOING; i++) {
        Outgoing *o = &x->outgoing[i];

        if (!o->active)
            continue;
        if (now >= o->deadline) {
            log_x(x, "an incremental transfer to window 0x%lx stalled",
                  (unsigned long)o->requestor);
            outgoing_free(x, o);
        } else {
            WAKE(o->deadline);
        }
    }
#undef WAKE
}

static int
x11_dispatch(void *opaque)
{
    X11Backend *x = opaque;
    int64_t now, next = -1;

    while (XPending(x->dpy) > 0) {
        XEvent ev;

        XNextEvent(x->dpy, &ev);
        if (ev.type == x->xfixes_event + XFixesSelectionNotify) {
            on_owner_change(x, (XFixesSelectionNotifyEvent *)&ev);
            continue;
        }
        switch (ev.type) {
        case SelectionRequest:
            on_selection_request(x, &ev.xselectionrequest);
            break;
        case SelectionNotify:
            on_selection_notify(x, &ev.xselection);
            break;
        case SelectionClear: {
            XSelection *s = selection_of_atom(x, ev.xselectionclear.selection);

            /* XFIXES reports the new owner; here only what we held goes. */
            if (s && s->owned) {
                s->owned = false;
                fail_waiting(x, s);
                clear_cache(s);
            }
            break;
        }
        case PropertyNotify:
            on_property_notify(x, &ev.xproperty);
            break;
        default:
            break;
        }
    }
    now = now_ms();
    expire(x, now, &next);
    XFlush(x->dpy);
    return next < 0 ? -1 : (int)(next > now ? next - now : 0);
}

static void
x11_stop(void *opaque)
{
    X11Backend *x = opaque;

    for (unsigned i = 0; i < ORIEL_AGENT_SELECTION_COUNT; i++) {
        XSelection *s = &x->sel[i];

        fail_waiting(x, s);
        if (s->owned && XGetSelectionOwner(x->dpy, s->atom) == x->win)
            XSetSelectionOwner(x->dpy, s->atom, None, CurrentTime);
        s->owned = false;
    }
    XFlush(x->dpy);
    x->session = NULL;
}

int
oriel_agent_x11_new(const OrielAgentX11Config *config,
                    OrielAgentBackend **ret_backend)
{
    X11Backend *x;
    int event_base, error_base, major = 0, minor = 0, xfixes_major;
    long max_request;

    x = calloc(1, sizeof(*x));
    if (!x)
        return -ENOMEM;
    x->config = *config;
    x->dpy = XOpenDisplay(config->display);
    if (!x->dpy) {
        fprintf(stderr, "oriel-agent: cannot open the X display %s\n",
                config->display ? config->display
                                : getenv("DISPLAY") ? getenv("DISPLAY")
                                                    : "(no $DISPLAY)");
        free(x);
        return -ENXIO;
    }
    XSetErrorHandler(on_x_error);
    if (!XFixesQueryExtension(x->dpy, &x->xfixes_event, &error_base) ||
        !XFixesQueryVersion(x->dpy, &major, &minor) || major < 1) {
        fprintf(stderr, "oriel-agent: the X server has no XFIXES\n");
        XCloseDisplay(x->dpy);
        free(x);
        return -ENOTSUP;
    }
    xfixes_major = major;
    major = minor = 0;
    x->have_randr = XRRQueryExtension(x->dpy, &event_base, &error_base) &&
                    XRRQueryVersion(x->dpy, &major, &minor) &&
                    (major > 1 || (major == 1 && minor >= 2));
    if (XInternAtoms(x->dpy, (char **)atom_names, N_ATOMS, False,
                     x->atoms) == 0) {
        XCloseDisplay(x->dpy);
        free(x);
        return -EIO;
    }
    x->root = DefaultRootWindow(x->dpy);
    x->win = XCreateSimpleWindow(x->dpy, x->root, -1, -1, 1, 1, 0, 0, 0);
    XSelectInput(x->dpy, x->win, PropertyChangeMask);
    XStoreName(x->dpy, x->win, "oriel-agent");
    for (unsigned i = 0; i < ORIEL_AGENT_SELECTION_COUNT; i++) {
        XSelection *s = &x->sel[i];

        s->index = (uint8_t)i;
        s->atom = i == VD_AGENT_CLIPBOARD_SELECTION_CLIPBOARD
                  ? x->atoms[ATOM_CLIPBOARD] : XA_PRIMARY;
        s->targets_prop = x->atoms[ATOM_TARGETS_PROP_0 + i];
        s->data_prop = x->atoms[ATOM_DATA_PROP_0 + i];
        XFixesSelectSelectionInput(x->dpy, x->root, s->atom,
                                   XFixesSetSelectionOwnerNotifyMask |
                                   XFixesSelectionWindowDestroyNotifyMask |
                                   XFixesSelectionClientCloseNotifyMask);
    }
    /* INCR steps must fit one request; a property we read whole must too. */
    max_request = XExtendedMaxRequestSize(x->dpy);
    if (max_request == 0)
        max_request = XMaxRequestSize(x->dpy);
    x->incr_threshold = config->incr_threshold ? config->incr_threshold
                                               : DEFAULT_INCR_THRESHOLD;
    if (x->incr_threshold > (size_t)max_request * 4 - 1024)
        x->incr_threshold = (size_t)max_request * 4 - 1024;
    if (x->incr_threshold < 2)
        x->incr_threshold = 2;
    x->max_read = config->max_clipboard / 4 + 1;
    XFlush(x->dpy);
    x->backend = (OrielAgentBackend) {
        .opaque = x,
        .start = x11_start,
        .fd = x11_fd,
        .dispatch = x11_dispatch,
        .clipboard_data = x11_clipboard_data,
        .apply_monitors = x11_apply_monitors,
        .client_grab = x11_client_grab,
        .guest_request = x11_guest_request,
        .stop = x11_stop,
    };
    fprintf(stderr, "oriel-agent: X11 display %s, XFIXES %d, RandR %s\n",
            DisplayString(x->dpy), xfixes_major,
            x->have_randr ? "1.2+" : "missing (monitor configs fail)");
    *ret_backend = &x->backend;
    return 0;
}

void
oriel_agent_x11_free(OrielAgentBackend *backend)
{
    X11Backend *x;

    if (!backend)
        return;
    x = backend->opaque;
    for (unsigned i = 0; i < ORIEL_AGENT_SELECTION_COUNT; i++) {
        clear_cache(&x->sel[i]);
        free(x->sel[i].in_data);
    }
    for (size_t i = 0; i < MAX_OUTGOING; i++)
        free(x->outgoing[i].data);
    XDestroyWindow(x->dpy, x->win);
    XCloseDisplay(x->dpy);
    free(x);
}
