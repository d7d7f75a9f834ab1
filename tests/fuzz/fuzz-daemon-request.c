/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Fuzz target for orield's request decoder (hypervisor/protocol.h): the
 * input is what a client writes to the daemon socket.  It is fed whole,
 * then in chunks of a size taken from the first byte; both runs must decode
 * the same sequence of requests and errors, and every error must encode to
 * a reply line.  The arguments of the USB disk commands also go through
 * their checks (hypervisor/usb.h), which touch no file.
 */
#include <stdint.h>
#include <string.h>

#include "protocol.h"
#include "usb.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct {
    guint count;
    guint hash;
} Seen;

/* 1 when the arguments pass, 2 when they fail with InvalidArgument, 0 otherwise. */
static guint
check_usb_arguments(const OrielHvRequest *request)
{
    g_autoptr(GError) error = NULL;
    const char *name = NULL;
    guint index = 0;
    gboolean valid;

    if (g_str_equal(request->execute, "domain-usb-attach")) {
        OrielHvUsbAttachRequest attach;
        valid = oriel_hv_usb_parse_attach(request->arguments, &attach, &error);
        if (valid)
            g_assert_true(attach.disk[0] == '/' && *attach.name);
    } else if (g_str_equal(request->execute, "domain-usb-detach")) {
        valid = oriel_hv_usb_parse_detach(request->arguments, &name, &index, &error);
        if (valid)
            g_assert_cmpuint(index, <, ORIEL_USB_ATTACH_MAX);
    } else if (g_str_equal(request->execute, "domain-usb-list")) {
        valid = oriel_hv_usb_parse_list(request->arguments, &name, &error);
    } else {
        return 0;
    }
    if (valid)
        return 1;
    g_assert_true(g_error_matches(error, ORIEL_HV_ERROR, ORIEL_HV_ERROR_INVALID_ARGUMENT));
    return 2;
}

static void
on_decoded(const OrielHvRequest *request, const GError *error, JsonNode *id, gpointer user_data)
{
    Seen *seen = user_data;

    seen->count++;
    if (request) {
        seen->hash = seen->hash * 31 + g_str_hash(request->execute) + json_object_get_size(request->arguments);
        g_autofree char *reply = oriel_hv_encode_return(request->id, NULL);
        seen->hash += (guint)strlen(reply);
        seen->hash += check_usb_arguments(request);
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
