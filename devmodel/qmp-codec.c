/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * QMP codec: line splitting, bounded JSON decoding and message
 * classification.  No I/O; see qmp-codec.h.
 */
#include "qmp-codec.h"

#include <string.h>

/* A buffer that grew past this for one long line is released afterwards. */
#define LINE_BUFFER_KEEP (64 * 1024)
/* Longer messages are cut short in the debug log. */
#define DEBUG_LINE_MAX 4096

struct OrielQmpCodec {
    OrielQmpCodecCallback callback;
    gpointer user_data;
    JsonParser *parser;
    char *pending; /* an incomplete line, at most ORIEL_QMP_MAX_LINE + 1 bytes */
    gsize pending_len;
    gsize pending_size;
    GError *failure; /* set once the stream is dead */
};

G_DEFINE_QUARK(oriel-qmp-error-quark, oriel_qmp_error)

static const struct {
    const char *name;
    OrielQmpError code;
} error_classes[] = {
    { "GenericError", ORIEL_QMP_ERROR_GENERIC_ERROR },
    { "CommandNotFound", ORIEL_QMP_ERROR_COMMAND_NOT_FOUND },
    { "DeviceNotActive", ORIEL_QMP_ERROR_DEVICE_NOT_ACTIVE },
    { "DeviceNotFound", ORIEL_QMP_ERROR_DEVICE_NOT_FOUND },
    { "KVMMissingCap", ORIEL_QMP_ERROR_KVM_MISSING_CAP },
};

OrielQmpError
oriel_qmp_error_from_class(const char *error_class)
{
    if (!error_class)
        return ORIEL_QMP_ERROR_UNKNOWN_CLASS;
    for (gsize i = 0; i < G_N_ELEMENTS(error_classes); i++) {
        if (strcmp(error_classes[i].name, error_class) == 0)
            return error_classes[i].code;
    }
    return ORIEL_QMP_ERROR_UNKNOWN_CLASS;
}

OrielQmpCodec *
oriel_qmp_codec_new(OrielQmpCodecCallback callback, gpointer user_data)
{
    g_return_val_if_fail(callback != NULL, NULL);

    OrielQmpCodec *codec = g_new0(OrielQmpCodec, 1);
    codec->callback = callback;
    codec->user_data = user_data;
    codec->parser = json_parser_new_immutable();
    return codec;
}

void
oriel_qmp_codec_free(OrielQmpCodec *codec)
{
    if (!codec)
        return;
    g_clear_object(&codec->parser);
    g_free(codec->pending);
    g_clear_error(&codec->failure);
    g_free(codec);
}

gsize
oriel_qmp_codec_get_buffered(const OrielQmpCodec *codec)
{
    g_return_val_if_fail(codec != NULL, 0);
    return codec->pending_len;
}

/* Typed accessors that never warn on a member of the wrong type: the
 * peer chooses the types, and json-glib's getters g_critical on a mismatch. */
static JsonObject *
member_object(JsonObject *object, const char *name)
{
    JsonNode *node = json_object_get_member(object, name);
    return node && JSON_NODE_HOLDS_OBJECT(node) ? json_node_get_object(node) : NULL;
}

static const char *
member_string(JsonObject *object, const char *name)
{
    JsonNode *node = json_object_get_member(object, name);
    if (!node || !JSON_NODE_HOLDS_VALUE(node) || json_node_get_value_type(node) != G_TYPE_STRING)
        return NULL;
    return json_node_get_string(node);
}

static gboolean
member_int(JsonObject *object, const char *name, gint64 *value)
{
    JsonNode *node = json_object_get_member(object, name);
    if (!node || !JSON_NODE_HOLDS_VALUE(node) ||
        json_node_get_value_type(node) != G_TYPE_INT64)
        return FALSE;
    *value = json_node_get_int(node);
    return TRUE;
}

static gboolean
is_json_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/*
 * json-glib parses recursively without a depth limit (a line of a few
 * hundred thousand "[" overflows the stack) and silently accepts trailing
 * values, so check both before handing it the line.
 */
static gboolean
check_structure(const char *line, gsize len, GError **error)
{
    gsize i = 0;
    guint depth = 0;
    gboolean in_string = FALSE, escaped = FALSE, done = FALSE;

    while (i < len && is_json_space(line[i]))
        i++;
    if (i == len || line[i] != '{') {
        g_set_error_literal(error, ORIEL_QMP_ERROR, ORIEL_QMP_ERROR_PROTOCOL,
                            "QMP message is not a JSON object");
        return FALSE;
    }
    for (; i < len; i++) {
        char c = line[i];
        if (in_string) {
            if (escaped)
                escaped = FALSE;
            else if (c == '\\')
                escaped = TRUE;
            else if (c == '"')
                in_string = FALSE;
            continue;
        }
        if (done) {
            if (!is_json_space(c)) {
                g_set_error_literal(error, ORIEL_QMP_ERROR, ORIEL_QMP_ERROR_PROTOCOL,
                                    "QMP message has data after its JSON object");
                return FALSE;
            }
            continue;
        }
        switch (c) {
        case '"':
            in_string = TRUE;
            break;
        case '{':
        case '[':
            if (++depth > ORIEL_QMP_MAX_DEPTH) {
                g_set_error(error, ORIEL_QMP_ERROR, ORIEL_QMP_ERROR_PROTOCOL,
                            "QMP message nests deeper than %d levels", ORIEL_QMP_MAX_DEPTH);
                return FALSE;
            }
            break;
        case '}':
        case ']':
            /* Unbalanced brackets are left for the parser to report. */
            if (depth > 0 && --depth == 0)
                done = TRUE;
            break;
        default:
            break;
        }
    }
    return TRUE;
}

static gboolean
decode_greeting(JsonObject *root, OrielQmpMessage *message, GError **error)
{
    JsonObject *qmp = member_object(root, "QMP");
    if (!qmp) {
        g_set_error_literal(error, ORIEL_QMP_ERROR, ORIEL_QMP_ERROR_PROTOCOL,
                            "QMP greeting: \"QMP\" is not an object");
        return FALSE;
    }
    JsonObject *version = member_object(qmp, "version");
    JsonObject *qemu = version ? member_object(version, "qemu") : NULL;
    gint64 major, minor, micro;
    if (qemu && member_int(qemu, "major", &major) && member_int(qemu, "minor", &minor) &&
        member_int(qemu, "micro", &micro) && major >= 0 && minor >= 0 && micro >= 0) {
        message->qemu_major = major;
        message->qemu_minor = minor;
        message->qemu_micro = micro;
    }
    return TRUE;
}

static gboolean
decode_error(JsonObject *root, OrielQmpMessage *message, GError **error)
{
    JsonObject *qmp_error = member_object(root, "error");
    const char *error_class = qmp_error ? member_string(qmp_error, "class") : NULL;
    const char *error_desc = qmp_error ? member_string(qmp_error, "desc") : NULL;
    if (!error_class || !error_desc) {
        g_set_error_literal(error, ORIEL_QMP_ERROR, ORIEL_QMP_ERROR_PROTOCOL,
                            "QMP error reply lacks a \"class\" or \"desc\" string");
        return FALSE;
    }
    message->error_class = error_class;
    message->error_desc = error_desc;
    return TRUE;
}

static gint64
decode_timestamp(JsonObject *root)
{
    JsonObject *timestamp = member_object(root, "timestamp");
    gint64 seconds, microseconds;

    if (!timestamp || !member_int(timestamp, "seconds", &seconds) ||
        !member_int(timestamp, "microseconds", &microseconds))
        return -1;
    if (seconds < 0 || seconds > G_MAXINT64 / G_USEC_PER_SEC - 1 || microseconds < 0 ||
        microseconds >= G_USEC_PER_SEC)
        return -1;
    return seconds * G_USEC_PER_SEC + microseconds;
}

static gboolean
decode_line(OrielQmpCodec *codec, const char *line, gsize len, GError **error)
{
    g_autoptr(GError) parse_error = NULL;
    g_autoptr(JsonObject) empty_data = NULL;
    OrielQmpMessage message = {
        .timestamp_us = -1,
        .qemu_major = -1,
        .qemu_minor = -1,
        .qemu_micro = -1,
    };

    if (!g_utf8_validate_len(line, len, NULL)) {
        g_set_error_literal(error, ORIEL_QMP_ERROR, ORIEL_QMP_ERROR_PROTOCOL,
                            "QMP message is not valid UTF-8");
        return FALSE;
    }
    if (len <= DEBUG_LINE_MAX) {
        g_debug("QMP <<< %.*s", (int)len, line);
    } else {
        const char *cut = g_utf8_find_prev_char(line, line + DEBUG_LINE_MAX + 1);
        g_debug("QMP <<< %.*s... (%" G_GSIZE_FORMAT " bytes)", (int)(cut - line), line, len);
    }
    if (!check_structure(line, len, error))
        return FALSE;
    if (!json_parser_load_from_data(codec->parser, line, (gssize)len, &parse_error)) {
        g_set_error(error, ORIEL_QMP_ERROR, ORIEL_QMP_ERROR_PROTOCOL,
                    "Malformed QMP message: %s", parse_error->message);
        return FALSE;
    }
    g_autoptr(JsonNode) root = json_parser_steal_root(codec->parser);
    if (!root || !JSON_NODE_HOLDS_OBJECT(root)) {
        g_set_error_literal(error, ORIEL_QMP_ERROR, ORIEL_QMP_ERROR_PROTOCOL,
                            "QMP message is not a JSON object");
        return FALSE;
    }
    JsonObject *object = json_node_get_object(root);
    message.object = object;

    guint kinds = 0;
    if (json_object_has_member(object, "QMP")) {
        message.kind = ORIEL_QMP_MESSAGE_GREETING;
        kinds++;
    }
    if (json_object_has_member(object, "return")) {
        message.kind = ORIEL_QMP_MESSAGE_RETURN;
        kinds++;
    }
    if (json_object_has_member(object, "error")) {
        message.kind = ORIEL_QMP_MESSAGE_ERROR;
        kinds++;
    }
    if (json_object_has_member(object, "event")) {
        message.kind = ORIEL_QMP_MESSAGE_EVENT;
        kinds++;
    }
    if (kinds != 1) {
        g_set_error_literal(error, ORIEL_QMP_ERROR, ORIEL_QMP_ERROR_PROTOCOL,
                            kinds == 0 ? "QMP message is neither a greeting, a reply nor an event"
                                       : "QMP message is of more than one kind");
        return FALSE;
    }

    switch (message.kind) {
    case ORIEL_QMP_MESSAGE_GREETING:
        if (!decode_greeting(object, &message, error))
            return FALSE;
        break;
    case ORIEL_QMP_MESSAGE_RETURN:
        message.return_value = json_object_get_member(object, "return");
        message.has_id = member_int(object, "id", &message.id);
        break;
    case ORIEL_QMP_MESSAGE_ERROR:
        if (!decode_error(object, &message, error))
            return FALSE;
        message.has_id = member_int(object, "id", &message.id);
        break;
    case ORIEL_QMP_MESSAGE_EVENT:
        message.event = member_string(object, "event");
        if (!message.event) {
            g_set_error_literal(error, ORIEL_QMP_ERROR, ORIEL_QMP_ERROR_PROTOCOL,
                                "QMP event name is not a string");
            return FALSE;
        }
        if (json_object_has_member(object, "data")) {
            message.data = member_object(object, "data");
            if (!message.data) {
                g_set_error(error, ORIEL_QMP_ERROR, ORIEL_QMP_ERROR_PROTOCOL,
                            "QMP event %s: \"data\" is not an object", message.event);
                return FALSE;
            }
        } else {
            empty_data = json_object_new();
            message.data = empty_data;
        }
        message.timestamp_us = decode_timestamp(object);
        break;
    }

    codec->callback(&message, codec->user_data);
    return TRUE;
}

static gboolean
line_is_blank(const char *line, gsize len)
{
    for (gsize i = 0; i < len; i++) {
        if (!is_json_space(line[i]))
            return FALSE;
    }
    return TRUE;
}

static gboolean
process_line(OrielQmpCodec *codec, const char *line, gsize len, GError **error)
{
    if (len > 0 && line[len - 1] == '\r')
        len--;
    if (len > ORIEL_QMP_MAX_LINE) {
        g_set_error(error, ORIEL_QMP_ERROR, ORIEL_QMP_ERROR_PROTOCOL,
                    "QMP message exceeds %d bytes", ORIEL_QMP_MAX_LINE);
        return FALSE;
    }
    if (line_is_blank(line, len))
        return TRUE;
    return decode_line(codec, line, len, error);
}

/* The caller has checked that the result stays within ORIEL_QMP_MAX_LINE + 1. */
static void
append_pending(OrielQmpCodec *codec, const char *data, gsize len)
{
    if (codec->pending_len + len > codec->pending_size) {
        gsize size = MAX(codec->pending_size, 256);
        while (size < codec->pending_len + len)
            size *= 2;
        size = MIN(size, (gsize)ORIEL_QMP_MAX_LINE + 1);
        codec->pending = g_realloc(codec->pending, size);
        codec->pending_size = size;
    }
    memcpy(codec->pending + codec->pending_len, data, len);
    codec->pending_len += len;
}

static void
reset_pending(OrielQmpCodec *codec)
{
    codec->pending_len = 0;
    if (codec->pending_size > LINE_BUFFER_KEEP) {
        g_clear_pointer(&codec->pending, g_free);
        codec->pending_size = 0;
    }
}

static gboolean
fail(OrielQmpCodec *codec, GError *failure, GError **error)
{
    codec->failure = g_error_copy(failure);
    g_clear_pointer(&codec->pending, g_free);
    codec->pending_len = codec->pending_size = 0;
    g_propagate_error(error, failure);
    return FALSE;
}

gboolean
oriel_qmp_codec_feed(OrielQmpCodec *codec, const char *buf, gsize len, GError **error)
{
    g_return_val_if_fail(codec != NULL, FALSE);
    g_return_val_if_fail(buf != NULL || len == 0, FALSE);
    g_return_val_if_fail(error == NULL || *error == NULL, FALSE);

    if (codec->failure) {
        g_set_error(error, ORIEL_QMP_ERROR, ORIEL_QMP_ERROR_PROTOCOL,
                    "QMP stream already failed: %s", codec->failure->message);
        return FALSE;
    }

    const char *p = buf;
    const char *end = buf + len;
    while (p < end) {
        const char *newline = memchr(p, '\n', (gsize)(end - p));
        gsize segment = (gsize)((newline ? newline : end) - p);
        GError *line_error = NULL;

        /* A line may carry one "\r" beyond the limit before its "\n". */
        if (segment > (gsize)ORIEL_QMP_MAX_LINE + 1 - codec->pending_len) {
            g_set_error(&line_error, ORIEL_QMP_ERROR, ORIEL_QMP_ERROR_PROTOCOL,
                        "QMP message exceeds %d bytes", ORIEL_QMP_MAX_LINE);
            return fail(codec, line_error, error);
        }
        if (!newline) {
            append_pending(codec, p, segment);
            break;
        }

        gboolean ok;
        if (codec->pending_len == 0) {
            ok = process_line(codec, p, segment, &line_error);
        } else {
            append_pending(codec, p, segment);
            ok = process_line(codec, codec->pending, codec->pending_len, &line_error);
            reset_pending(codec);
        }
        if (!ok)
            return fail(codec, line_error, error);
        p = newline + 1;
    }
    return TRUE;
}

char *
oriel_qmp_codec_encode_command(const char *command, JsonObject *arguments, gint64 id)
{
    g_return_val_if_fail(command != NULL, NULL);

    g_autoptr(JsonBuilder) builder = json_builder_new();
    json_builder_begin_object(builder);
    json_builder_set_member_name(builder, "execute");
    json_builder_add_string_value(builder, command);
    if (arguments) {
        JsonNode *node = json_node_init_object(json_node_alloc(), arguments);
        json_builder_set_member_name(builder, "arguments");
        json_builder_add_value(builder, node); /* takes the node */
    }
    json_builder_set_member_name(builder, "id");
    json_builder_add_int_value(builder, id);
    json_builder_end_object(builder);

    g_autoptr(JsonNode) root = json_builder_get_root(builder);
    g_autoptr(JsonGenerator) generator = json_generator_new();
    json_generator_set_root(generator, root);
    /* Not pretty-printed: strings escape their newlines, so this is one line. */
    g_autofree char *json = json_generator_to_data(generator, NULL);
    return g_strconcat(json, "\n", NULL);
}
