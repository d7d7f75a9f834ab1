/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Fuzz target for OrielQmpCodec: the input is a QMP byte stream as QEMU
 * (or anything pretending to be it) would send it.  It is fed whole, then
 * in chunks of a size taken from the first byte, then byte by byte (for
 * small inputs), and the three runs must decode the same messages.
 */
#include <stdint.h>
#include <string.h>

#include "qmp-codec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct {
    guint count;
    guint hash;
} Seen;

static void
on_message(const OrielQmpMessage *message, gpointer user_data)
{
    Seen *seen = user_data;

    /* Touch what a user would read, so sanitizers see any bad pointer. */
    seen->count++;
    seen->hash = seen->hash * 31 + (guint)message->kind;
    switch (message->kind) {
    case ORIEL_QMP_MESSAGE_GREETING:
        seen->hash += (guint)message->qemu_major + (guint)message->qemu_minor +
                      (guint)message->qemu_micro;
        break;
    case ORIEL_QMP_MESSAGE_RETURN:
        seen->hash += (guint)json_node_get_node_type(message->return_value) + (guint)message->id;
        break;
    case ORIEL_QMP_MESSAGE_ERROR:
        seen->hash += g_str_hash(message->error_class) + g_str_hash(message->error_desc);
        seen->hash += (guint)oriel_qmp_error_from_class(message->error_class);
        break;
    case ORIEL_QMP_MESSAGE_EVENT:
        seen->hash += g_str_hash(message->event) + json_object_get_size(message->data);
        seen->hash += (guint)message->timestamp_us;
        break;
    }
}

static void
drop_log(const char *domain, GLogLevelFlags level, const char *message, gpointer user_data)
{
}

/* Feeds @data in chunks of @chunk bytes; returns what was decoded. */
static Seen
run(const uint8_t *data, size_t size, size_t chunk)
{
    Seen seen = { 0 };
    g_autoptr(OrielQmpCodec) codec = oriel_qmp_codec_new(on_message, &seen);

    for (size_t off = 0; off < size; off += chunk) {
        g_autoptr(GError) error = NULL;
        if (!oriel_qmp_codec_feed(codec, (const char *)data + off, MIN(chunk, size - off),
                                  &error)) {
            g_assert_nonnull(error);
            break;
        }
        g_assert_cmpuint(oriel_qmp_codec_get_buffered(codec), <=, ORIEL_QMP_MAX_LINE + 1);
    }
    return seen;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static gboolean initialized;

    if (!initialized) {
        /* Raw traffic is logged at debug level; keep the fuzzer quiet. */
        g_log_set_handler("oriel-devmodel", G_LOG_LEVEL_DEBUG, drop_log, NULL);
        initialized = TRUE;
    }

    Seen whole = run(data, size, size ? size : 1);
    Seen chunked = run(data, size, size ? (size_t)data[0] % 64 + 1 : 1);
    g_assert_cmpuint(whole.count, ==, chunked.count);
    g_assert_cmpuint(whole.hash, ==, chunked.hash);
    if (size <= 4096) {
        Seen bytes = run(data, size, 1);
        g_assert_cmpuint(whole.count, ==, bytes.count);
        g_assert_cmpuint(whole.hash, ==, bytes.hash);
    }
    return 0;
}
