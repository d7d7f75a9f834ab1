/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Fuzz target for orield's request decoder (hypervisor/protocol.h): the
 * input is what a client writes to the daemon socket.  It is fed whole,
 * then in chunks of a size taken from the first byte; both runs must decode
 * the same sequence of requests and errors, and every error must encode to
 * a reply line.
 */
#include <stdint.h>
#include <string.h>

#include "protocol.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct {
    guint count;
    guint hash;
} Seen;

static void
on_decoded(const OrielHvRequest *request, const GError *error, JsonNode *id, gpointer user_data)
{
    Seen *seen = user_data;

    seen->count++;
    if (request) {
        seen->hash = seen->hash * 31 + g_str_hash(request->execute) + json_object_get_size(request->arguments);
        g_autofree char *reply = oriel_hv_encode_return(request->id, NULL);
        seen->hash += (guint)strlen(reply);
    } else {
        g_assert_nonnull(error);
        g_assert_true(error->domain == ORIEL_HV_ERROR);
        seen->hash = seen->hash * 31 + (guint)error->code;
        g_autofree char *reply = oriel_hv_encode_error(id, (OrielHvError)error->code, error->message);
        g_assert_true(g_str_has_suffix(reply, "\n"));
    }
}

static void
drop_log(const char *domain, GLogLevelFlags level, const char *message, gpointer user_data)
{
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    Seen whole = { 0 }, chunked = { 0 };

    g_log_set_default_handler(drop_log, NULL);

    g_autoptr(OrielHvDecoder) decoder = oriel_hv_decoder_new();
    oriel_hv_decoder_feed(decoder, data, size, on_decoded, &whole);
    g_assert_cmpuint(oriel_hv_decoder_pending(decoder), <=, ORIEL_HV_MAX_LINE + 1);

    gsize step = size > 0 ? (gsize)(data[0] % 17) + 1 : 1;
    g_autoptr(OrielHvDecoder) second = oriel_hv_decoder_new();
    for (gsize offset = 0; offset < size; offset += step)
        oriel_hv_decoder_feed(second, data + offset, MIN(step, size - offset), on_decoded, &chunked);
    g_assert_cmpuint(whole.count, ==, chunked.count);
    g_assert_cmpuint(whole.hash, ==, chunked.hash);
    return 0;
}
