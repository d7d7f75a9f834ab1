/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "protocol.h"

#include <string.h>

G_DEFINE_QUARK(oriel-hv-error-quark, oriel_hv_error)

static const char *const error_classes[] = {
    [ORIEL_HV_ERROR_GENERIC] = "GenericError",
    [ORIEL_HV_ERROR_PARSE] = "ParseError",
    [ORIEL_HV_ERROR_INVALID_REQUEST] = "InvalidRequest",
    [ORIEL_HV_ERROR_TOO_LARGE] = "TooLarge",
    [ORIEL_HV_ERROR_COMMAND_NOT_FOUND] = "CommandNotFound",
    [ORIEL_HV_ERROR_INVALID_ARGUMENT] = "InvalidArgument",
    [ORIEL_HV_ERROR_NOT_FOUND] = "NotFound",
    [ORIEL_HV_ERROR_EXISTS] = "Exists",
    [ORIEL_HV_ERROR_INVALID_STATE] = "InvalidState",
    [ORIEL_HV_ERROR_PERMISSION_DENIED] = "PermissionDenied",
    [ORIEL_HV_ERROR_UNSUPPORTED] = "Unsupported",
};

const char *
oriel_hv_error_to_class(OrielHvError code)
{
    if ((gsize)code < G_N_ELEMENTS(error_classes))
        return error_classes[code];
    return error_classes[ORIEL_HV_ERROR_GENERIC];
}

OrielHvError
oriel_hv_error_from_class(const char *error_class)
{
    for (gsize i = 0; error_class && i < G_N_ELEMENTS(error_classes); i++) {
        if (g_str_equal(error_classes[i], error_class))
            return (OrielHvError)i;
    }
    return ORIEL_HV_ERROR_GENERIC;
}

void
oriel_hv_request_free(OrielHvRequest *request)
{
    if (!request)
        return;
    g_free(request->execute);
    g_clear_pointer(&request->arguments, json_object_unref);
    g_clear_pointer(&request->id, json_node_unref);
    g_free(request);
}

/* JsonParser recurses: refuse deep nesting before it sees the text. */
static gboolean
nesting_is_bounded(const char *text, gsize length)
{
    gboolean in_string = FALSE;
    guint depth = 0;

    for (gsize i = 0; i < length; i++) {
        char c = text[i];
        if (in_string) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_string = FALSE;
        } else if (c == '"') {
            in_string = TRUE;
        } else if (c == '{' || c == '[') {
            if (++depth > ORIEL_HV_MAX_DEPTH)
                return FALSE;
        } else if ((c == '}' || c == ']') && depth > 0) {
            depth--;
        }
    }
    return TRUE;
}

static gboolean
id_is_usable(JsonNode *id)
{
    return JSON_NODE_HOLDS_VALUE(id) || JSON_NODE_HOLDS_NULL(id);
}

OrielHvRequest *
oriel_hv_request_decode(const char *line, gsize length, JsonNode **ret_id, GError **error)
{
    g_autoptr(JsonParser) parser = NULL;
    g_autoptr(GError) parse_error = NULL;
    JsonNode *id = NULL;

    if (length > ORIEL_HV_MAX_LINE) {
        g_set_error(error, ORIEL_HV_ERROR, ORIEL_HV_ERROR_TOO_LARGE,
                    "the request is longer than %d bytes", ORIEL_HV_MAX_LINE);
        return NULL;
    }
    if ((length > 0 && memchr(line, '\0', length)) || !g_utf8_validate(line, (gssize)length, NULL)) {
        g_set_error_literal(error, ORIEL_HV_ERROR, ORIEL_HV_ERROR_PARSE, "the request is not valid UTF-8 text");
        return NULL;
    }
    if (!nesting_is_bounded(line, length)) {
        g_set_error(error, ORIEL_HV_ERROR, ORIEL_HV_ERROR_PARSE, "the request nests deeper than %d levels",
                    ORIEL_HV_MAX_DEPTH);
        return NULL;
    }
    parser = json_parser_new_immutable();
    if (!json_parser_load_from_data(parser, line, (gssize)length, &parse_error)) {
        g_set_error(error, ORIEL_HV_ERROR, ORIEL_HV_ERROR_PARSE, "malformed JSON: %s", parse_error->message);
        return NULL;
    }
    JsonNode *root = json_parser_get_root(parser);
    if (!root || !JSON_NODE_HOLDS_OBJECT(root)) {
        g_set_error_literal(error, ORIEL_HV_ERROR, ORIEL_HV_ERROR_INVALID_REQUEST,
                            "a request must be a JSON object");
        return NULL;
    }
    JsonObject *object = json_node_get_object(root);
    id = json_object_get_member(object, "id");
    if (id && !id_is_usable(id)) {
        g_set_error_literal(error, ORIEL_HV_ERROR, ORIEL_HV_ERROR_INVALID_REQUEST,
                            "\"id\" must be a number, a string or null");
        return NULL;
    }
    if (ret_id && id)
        *ret_id = json_node_copy(id);

    JsonNode *execute = json_object_get_member(object, "execute");
    if (!execute || !JSON_NODE_HOLDS_VALUE(execute) || json_node_get_value_type(execute) != G_TYPE_STRING) {
        g_set_error_literal(error, ORIEL_HV_ERROR, ORIEL_HV_ERROR_INVALID_REQUEST,
                            "a request needs \"execute\" with a command name");
        return NULL;
    }
    const char *name = json_node_get_string(execute);
    if (!*name || strlen(name) > ORIEL_HV_MAX_COMMAND_NAME) {
        g_set_error_literal(error, ORIEL_HV_ERROR, ORIEL_HV_ERROR_INVALID_REQUEST,
                            "\"execute\" must name a command");
        return NULL;
    }
    JsonNode *arguments = json_object_get_member(object, "arguments");
    if (arguments && !JSON_NODE_HOLDS_OBJECT(arguments)) {
        g_set_error_literal(error, ORIEL_HV_ERROR, ORIEL_HV_ERROR_INVALID_REQUEST,
                            "\"arguments\" must be an object");
        return NULL;
    }
    JsonObjectIter iter;
    const char *member;
    json_object_iter_init(&iter, object);
    while (json_object_iter_next(&iter, &member, NULL)) {
        if (!g_str_equal(member, "execute") && !g_str_equal(member, "arguments") && !g_str_equal(member, "id")) {
            g_set_error(error, ORIEL_HV_ERROR, ORIEL_HV_ERROR_INVALID_REQUEST,
                        "unknown member \"%s\" in the request", member);
            return NULL;
        }
    }

    OrielHvRequest *request = g_new0(OrielHvRequest, 1);
    request->execute = g_strdup(name);
    request->arguments = arguments ? json_object_ref(json_node_get_object(arguments)) : json_object_new();
    request->id = id ? json_node_copy(id) : NULL;
    return request;
}

/* ---- the line splitter ------------------------------------------------- */

struct _OrielHvDecoder {
    GByteArray *line;
    gboolean skipping; /* inside a line that went over the limit */
};

OrielHvDecoder *
oriel_hv_decoder_new(void)
{
    OrielHvDecoder *decoder = g_new0(OrielHvDecoder, 1);
    decoder->line = g_byte_array_new();
    return decoder;
}

void
oriel_hv_decoder_free(OrielHvDecoder *decoder)
{
    if (!decoder)
        return;
    g_byte_array_unref(decoder->line);
    g_free(decoder);
}

gsize
oriel_hv_decoder_pending(OrielHvDecoder *decoder)
{
    return decoder->line->len;
}

static void
emit_line(const guint8 *data, gsize length, OrielHvDecodedFunc func, gpointer user_data)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) id = NULL;

    if (length > 0 && data[length - 1] == '\r')
        length--;
    gboolean blank = TRUE;
    for (gsize i = 0; i < length && blank; i++)
        blank = g_ascii_isspace(data[i]);
    if (blank)
        return;
    g_autoptr(OrielHvRequest) request = oriel_hv_request_decode((const char *)data, length, &id, &error);
    func(request, error, request ? request->id : id, user_data);
}

static void
emit_too_large(OrielHvDecodedFunc func, gpointer user_data)
{
    g_autoptr(GError) error = g_error_new(ORIEL_HV_ERROR, ORIEL_HV_ERROR_TOO_LARGE,
                                          "the request is longer than %d bytes", ORIEL_HV_MAX_LINE);
    func(NULL, error, NULL, user_data);
}

void
oriel_hv_decoder_feed(OrielHvDecoder *decoder, const guint8 *data, gsize length,
                      OrielHvDecodedFunc func, gpointer user_data)
{
    while (length > 0) {
        const guint8 *newline = memchr(data, '\n', length);
        gsize chunk = newline ? (gsize)(newline - data) : length;

        if (decoder->skipping) {
            if (newline)
                decoder->skipping = FALSE;
        } else if (decoder->line->len + chunk > ORIEL_HV_MAX_LINE + 1 /* a "\r" */) {
            g_byte_array_set_size(decoder->line, 0);
            emit_too_large(func, user_data);
            decoder->skipping = newline == NULL;
        } else if (newline && decoder->line->len == 0) {
            emit_line(data, chunk, func, user_data); /* the common case: no copy */
        } else {
            g_byte_array_append(decoder->line, data, (guint)chunk);
            if (newline) {
                emit_line(decoder->line->data, decoder->line->len, func, user_data);
                g_byte_array_set_size(decoder->line, 0);
            }
        }
        if (!newline)
            break;
        data += chunk + 1;
        length -= chunk + 1;
    }
}

/* ---- encoders ------------------------------------------------------------ */

static char *
to_line(JsonBuilder *builder)
{
    g_autoptr(JsonNode) root = json_builder_get_root(builder);
    g_autoptr(JsonGenerator) generator = json_generator_new();

    json_generator_set_root(generator, root);
    g_autofree char *text = json_generator_to_data(generator, NULL);
    return g_strconcat(text, "\n", NULL);
}

static void
add_id(JsonBuilder *builder, JsonNode *id)
{
    if (!id)
        return;
    json_builder_set_member_name(builder, "id");
    json_builder_add_value(builder, json_node_copy(id));
}

char *
oriel_hv_encode_return(JsonNode *id, JsonNode *value)
{
    g_autoptr(JsonBuilder) builder = json_builder_new();

    json_builder_begin_object(builder);
    json_builder_set_member_name(builder, "return");
    if (value)
        json_builder_add_value(builder, json_node_copy(value));
    else {
        json_builder_begin_object(builder);
        json_builder_end_object(builder);
    }
    add_id(builder, id);
    json_builder_end_object(builder);
    return to_line(builder);
}

char *
oriel_hv_encode_error(JsonNode *id, OrielHvError code, const char *desc)
{
    g_autoptr(JsonBuilder) builder = json_builder_new();

    json_builder_begin_object(builder);
    json_builder_set_member_name(builder, "error");
    json_builder_begin_object(builder);
    json_builder_set_member_name(builder, "class");
    json_builder_add_string_value(builder, oriel_hv_error_to_class(code));
    json_builder_set_member_name(builder, "desc");
    json_builder_add_string_value(builder, desc);
    json_builder_end_object(builder);
    add_id(builder, id);
    json_builder_end_object(builder);
    return to_line(builder);
}

char *
oriel_hv_encode_event(const char *event, JsonObject *data, gint64 timestamp_us)
{
    g_autoptr(JsonBuilder) builder = json_builder_new();
    JsonNode *data_node = json_node_new(JSON_NODE_OBJECT);

    json_node_set_object(data_node, data);
    json_builder_begin_object(builder);
    json_builder_set_member_name(builder, "event");
    json_builder_add_string_value(builder, event);
    json_builder_set_member_name(builder, "data");
    json_builder_add_value(builder, data_node);
    json_builder_set_member_name(builder, "timestamp");
    json_builder_begin_object(builder);
    json_builder_set_member_name(builder, "seconds");
    json_builder_add_int_value(builder, timestamp_us / G_USEC_PER_SEC);
    json_builder_set_member_name(builder, "microseconds");
    json_builder_add_int_value(builder, timestamp_us % G_USEC_PER_SEC);
    json_builder_end_object(builder);
    json_builder_end_object(builder);
    return to_line(builder);
}
