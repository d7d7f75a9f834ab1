/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Fuzz target for oriel-agent's protocol library: the input is the byte
 * stream a SPICE server (or anything pretending to be it) writes into the
 * guest's virtio-serial port.  The first byte picks the piece size the
 * stream is fed in; between pieces the guest side pastes and copies, so
 * the clipboard state machine meets every order of events.  File transfers
 * land in a scratch directory emptied after each input.
 */
#include <glib.h>
#include <glib/gstdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "oriel-agent.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static guint answers;

static void
on_clipboard_data(void *opaque, uint8_t selection, uint32_t type, const uint8_t *data,
                  size_t len, int status)
{
    /* Touch the data so sanitizers see a bad pointer or length. */
    for (size_t i = 0; i < len; i++)
        answers += data[i];
    answers += selection + type + (guint)status;
}

static void
on_client_grab(void *opaque, uint8_t selection, const uint32_t *types, unsigned n_types)
{
    for (unsigned i = 0; i < n_types; i++)
        answers += types[i];
    answers += selection;
}

/* Requests for the guest's on-demand data, answered a round later. */
static unsigned guest_requests;
static uint32_t guest_request_type;

static void
on_guest_request(void *opaque, uint8_t selection, uint32_t type)
{
    guest_requests++;
    guest_request_type = type;
}

static const OrielAgentSessionOps fuzz_ops = {
    .clipboard_data = on_clipboard_data,
    .client_grab = on_client_grab,
    .guest_request = on_guest_request,
};

static char *scratch_dir;

static void
empty_dir(const char *path)
{
    g_autoptr(GDir) dir = g_dir_open(path, 0, NULL);
    const char *name;

    while (dir && (name = g_dir_read_name(dir))) {
        g_autofree char *file = g_build_filename(path, name, NULL);
        g_unlink(file);
    }
}

static void
remove_dir(void)
{
    empty_dir(scratch_dir);
    g_rmdir(scratch_dir);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{    OrielAgentSessionConfig config = {
        .max_message = 256 * 1024,
    };
    OrielAgentSession *session = NULL;
    char *status = NULL;
    size_t step, pos = 0;
    unsigned round = 0;

    if (!scratch_dir) {
        scratch_dir = g_dir_make_tmp("oriel-fuzz-agent-XXXXXX", NULL);
        g_assert(scratch_dir);
        atexit(remove_dir);
    }
    if (size < 1)
        return 0;
    step = data[0] ? data[0] : 4096;
    data++;
    size--;
    config.xfer_dir = (step & 1) ? scratch_dir : NULL;
    if (oriel_agent_session_new(&config, &fuzz_ops, NULL, &session) < 0)
        return 0;
    oriel_agent_session_connected(session);
    while (pos < size) {
        size_t n = size - pos < step ? size - pos : step;
        const uint8_t *got = NULL;
        size_t got_len = 0;
        uint8_t selection = round & 1;

        oriel_agent_session_feed(session, data + pos, n);
        pos += n;
        switch (round++ % 6) {
        case 0:
            oriel_agent_session_clipboard_get(session, selection,
                                              VD_AGENT_CLIPBOARD_UTF8_TEXT, &got, &got_len);
            break;
        case 1:
            oriel_agent_session_clipboard_set(session, selection,
                                              VD_AGENT_CLIPBOARD_UTF8_TEXT,
                                              (const uint8_t *)"guest", 5);
            break;
        case 2:
            oriel_agent_session_clipboard_release(session, selection);
            break;
        case 3: {
            /* A window system's copy: data on demand. */
            static const uint32_t types[] = {
                VD_AGENT_CLIPBOARD_UTF8_TEXT, VD_AGENT_CLIPBOARD_IMAGE_PNG,
            };

            oriel_agent_session_clipboard_grab(session, selection, types, 2);
            break;
        }
        case 4:
            if (guest_requests > 0) {
                guest_requests--;
                oriel_agent_session_clipboard_reply(session, selection,
                                                    guest_request_type,
                                                    (const uint8_t *)"x11", 3);
            }
            break;
        default:
            break;
        }
        /* What the agent would write back to the port. */
        oriel_agent_buffer_consume(oriel_agent_session_output(session),
                                   oriel_agent_session_output(session)->len);
    }
    if (oriel_agent_session_format_status(session, &status) == 0)
        free(status);
    oriel_agent_session_disconnected(session);
    oriel_agent_session_free(session);
    guest_requests = 0;
    empty_dir(scratch_dir);
    return 0;
}
