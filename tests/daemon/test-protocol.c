/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* orield's wire protocol without a socket: decoding, limits, encoders. */
#include <string.h>

#include "protocol.h"
#include "qmp-codec.h"

typedef struct {
    GPtrArray *commands;  /* of char *: execute, or "!Class" for an error */
    GPtrArray *ids;       /* of char *: the id as JSON, or "-" */
} Decoded;

static void
on_decoded(const OrielHvRequest *request, const GError *error, JsonNode *id, gpointer user_data)
{
    Decoded *decoded = user_data;

    if (request)
        g_ptr_array_add(decoded->commands, g_strdup(request->execute));
    else
        g_ptr_array_add(decoded->commands,
                        g_strconcat("!", oriel_hv_error_to_class((OrielHvError)error->code), NULL));
    g_ptr_array_add(decoded->ids, id ? json_to_string(id, FALSE) : g_strdup("-"));
}

static void
decoded_init(Decoded *decoded)
{
    decoded->commands = g_ptr_array_new_with_free_func(g_free);
    decoded->ids = g_ptr_array_new_with_free_func(g_free);
}

static void
decoded_clear(Decoded *decoded)
{
    g_ptr_array_unref(decoded->commands);
    g_ptr_array_unref(decoded->ids);
}

static void
feed_string(OrielHvDecoder *decoder, const char *text, Decoded *decoded)
{
    oriel_hv_decoder_feed(decoder, (const guint8 *)text, strlen(text), on_decoded, decoded);
}

static void
test_decode_request(void)
{
    g_autoptr(GError) error = NULL;
    const char *line = "{\"execute\": \"domain-start\", \"arguments\": {\"name\": \"desk\"}, \"id\": 7}";
    g_autoptr(OrielHvRequest) request = oriel_hv_request_decode(line, strlen(line), NULL, &error);

    g_assert_no_error(error);
    g_assert_cmpstr(request->execute, ==, "domain-start");
    g_assert_cmpstr(json_object_get_string_member(request->arguments, "name"), ==, "desk");
    g_assert_cmpint(json_node_get_int(request->id), ==, 7);
}

static void
test_decode_no_arguments(void)
{
    g_autoptr(GError) error = NULL;
    const char *line = "{\"execute\": \"domain-list\"}";
    g_autoptr(OrielHvRequest) request = oriel_hv_request_decode(line, strlen(line), NULL, &error);

    g_assert_no_error(error);
    g_assert_nonnull(request->arguments);
    g_assert_cmpuint(json_object_get_size(request->arguments), ==, 0);
    g_assert_null(request->id);
}

static void
expect_error(const char *line, OrielHvError code, const char *id_json)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) id = NULL;
    g_autoptr(OrielHvRequest) request = oriel_hv_request_decode(line, strlen(line), &id, &error);

    g_assert_null(request);
    g_assert_error(error, ORIEL_HV_ERROR, (gint)code);
    if (id_json) {
        g_assert_nonnull(id);
        g_autofree char *text = json_to_string(id, FALSE);
        g_assert_cmpstr(text, ==, id_json);
    } else {
        g_assert_null(id);
    }
}

static void
test_decode_errors(void)
{
    expect_error("{not json", ORIEL_HV_ERROR_PARSE, NULL);
    expect_error("[1, 2]", ORIEL_HV_ERROR_INVALID_REQUEST, NULL);
    expect_error("\"text\"", ORIEL_HV_ERROR_INVALID_REQUEST, NULL);
    expect_error("{\"id\": 3}", ORIEL_HV_ERROR_INVALID_REQUEST, "3");
    expect_error("{\"execute\": 5, \"id\": \"x\"}", ORIEL_HV_ERROR_INVALID_REQUEST, "\"x\"");
    expect_error("{\"execute\": \"a\", \"arguments\": [1], \"id\": 4}", ORIEL_HV_ERROR_INVALID_REQUEST, "4");
    expect_error("{\"execute\": \"a\", \"id\": {\"x\": 1}}", ORIEL_HV_ERROR_INVALID_REQUEST, NULL);
    expect_error("{\"execute\": \"a\", \"bogus\": 1, \"id\": 5}", ORIEL_HV_ERROR_INVALID_REQUEST, "5");
    expect_error("{\"execute\": \"\", \"id\": 6}", ORIEL_HV_ERROR_INVALID_REQUEST, "6");
    expect_error("{\"execute\": \"\xc3\x28\"}", ORIEL_HV_ERROR_PARSE, NULL);

    g_autofree char *open = g_strnfill(ORIEL_HV_MAX_DEPTH, '[');
    g_autofree char *close = g_strnfill(ORIEL_HV_MAX_DEPTH, ']');
    g_autofree char *deep_line = g_strconcat("{\"execute\": \"a\", \"arguments\": {\"x\": ", open, close,
                                             "}}", NULL);
    expect_error(deep_line, ORIEL_HV_ERROR_PARSE, NULL);
}

static void
test_decoder_splits(void)
{
    const char *stream = "{\"execute\": \"a\", \"id\": 1}\r\n\n  \n{\"execute\": \"b\", \"id\": \"two\"}\n{bad}\n";
    gsize length = strlen(stream);

    /* Any split gives the same messages. */
    for (gsize step = 1; step <= length; step++) {
        Decoded decoded;
        decoded_init(&decoded);
        g_autoptr(OrielHvDecoder) decoder = oriel_hv_decoder_new();
        for (gsize offset = 0; offset < length; offset += step)
            oriel_hv_decoder_feed(decoder, (const guint8 *)stream + offset, MIN(step, length - offset),
                                  on_decoded, &decoded);
        g_assert_cmpuint(decoded.commands->len, ==, 3);
        g_assert_cmpstr(decoded.commands->pdata[0], ==, "a");
        g_assert_cmpstr(decoded.ids->pdata[0], ==, "1");
        g_assert_cmpstr(decoded.commands->pdata[1], ==, "b");
        g_assert_cmpstr(decoded.ids->pdata[1], ==, "\"two\"");
        g_assert_cmpstr(decoded.commands->pdata[2], ==, "!ParseError");
        g_assert_cmpuint(oriel_hv_decoder_pending(decoder), ==, 0);
        decoded_clear(&decoded);
    }
}

static void
test_decoder_oversize_line(void)
{
    Decoded decoded;
    g_autoptr(OrielHvDecoder) decoder = oriel_hv_decoder_new();
    g_autofree char *big = g_strnfill(ORIEL_HV_MAX_LINE / 4, 'x');

    decoded_init(&decoded);
    feed_string(decoder, "{\"execute\": \"", &decoded);
    /* Over the limit in pieces: one TooLarge, and the buffer stays bounded. */
    for (int i = 0; i < 8; i++) {
        feed_string(decoder, big, &decoded);
        g_assert_cmpuint(oriel_hv_decoder_pending(decoder), <=, ORIEL_HV_MAX_LINE + 1);
    }
    g_assert_cmpuint(decoded.commands->len, ==, 1);
    g_assert_cmpstr(decoded.commands->pdata[0], ==, "!TooLarge");
    /* The rest of that line is skipped; the next line works. */
    feed_string(decoder, "\"}\n{\"execute\": \"after\", \"id\": 9}\n", &decoded);
    g_assert_cmpuint(decoded.commands->len, ==, 2);
    g_assert_cmpstr(decoded.commands->pdata[1], ==, "after");
    decoded_clear(&decoded);
}

static void
test_decoder_oversize_whole(void)
{
    Decoded decoded;
    g_autoptr(OrielHvDecoder) decoder = oriel_hv_decoder_new();
    gsize length = ORIEL_HV_MAX_LINE + 10;
    g_autofree char *line = g_malloc(length + 1);

    memset(line, ' ', length);
    line[length - 1] = '\n';
    line[length] = '\0';
    decoded_init(&decoded);
    feed_string(decoder, line, &decoded);
    feed_string(decoder, "{\"execute\": \"next\"}\n", &decoded);
    g_assert_cmpuint(decoded.commands->len, ==, 2);
    g_assert_cmpstr(decoded.commands->pdata[0], ==, "!TooLarge");
    g_assert_cmpstr(decoded.commands->pdata[1], ==, "next");
    decoded_clear(&decoded);
}

static JsonObject *
parse_object(const char *line)
{
    g_autoptr(JsonParser) parser = json_parser_new();
    g_autoptr(GError) error = NULL;

    /* Exactly one line. */
    g_assert_true(strchr(line, '\n') == line + strlen(line) - 1);
    json_parser_load_from_data(parser, line, -1, &error);
    g_assert_no_error(error);
    return json_object_ref(json_node_get_object(json_parser_get_root(parser)));
}

static void
test_encoders(void)
{
    g_autoptr(JsonNode) id = json_node_init_int(json_node_alloc(), 7);
    g_autofree char *ret = oriel_hv_encode_return(id, NULL);
    g_autoptr(JsonObject) ret_object = parse_object(ret);
    g_assert_true(JSON_NODE_HOLDS_OBJECT(json_object_get_member(ret_object, "return")));
    g_assert_cmpint(json_object_get_int_member(ret_object, "id"), ==, 7);

    g_autofree char *err = oriel_hv_encode_error(id, ORIEL_HV_ERROR_NOT_FOUND, "no domain named 'x'\n\"quoted\"");
    g_autoptr(JsonObject) err_object = parse_object(err);
    JsonObject *inner = json_object_get_object_member(err_object, "error");
    g_assert_cmpstr(json_object_get_string_member(inner, "class"), ==, "NotFound");
    g_assert_cmpstr(json_object_get_string_member(inner, "desc"), ==, "no domain named 'x'\n\"quoted\"");
    g_assert_cmpint(oriel_hv_error_from_class("NotFound"), ==, ORIEL_HV_ERROR_NOT_FOUND);
    g_assert_cmpint(oriel_hv_error_from_class("Bogus"), ==, ORIEL_HV_ERROR_GENERIC);

    g_autoptr(JsonObject) data = json_object_new();
    json_object_set_string_member(data, "name", "desk");
    g_autofree char *event = oriel_hv_encode_event("DOMAIN_STATE", data, 1234567890123456);
    g_autoptr(JsonObject) event_object = parse_object(event);
    g_assert_cmpstr(json_object_get_string_member(event_object, "event"), ==, "DOMAIN_STATE");
    JsonObject *timestamp = json_object_get_object_member(event_object, "timestamp");
    g_assert_cmpint(json_object_get_int_member(timestamp, "seconds"), ==, 1234567890);
    g_assert_cmpint(json_object_get_int_member(timestamp, "microseconds"), ==, 123456);

    /* A request as clients encode it (a QMP command) decodes back. */
    g_autofree char *request_line = oriel_qmp_codec_encode_command("domain-info", data, 42);
    g_autoptr(GError) error = NULL;
    g_autoptr(OrielHvRequest) request =
        oriel_hv_request_decode(request_line, strlen(request_line) - 1, NULL, &error);
    g_assert_no_error(error);
    g_assert_cmpstr(request->execute, ==, "domain-info");
    g_assert_cmpint(json_node_get_int(request->id), ==, 42);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/daemon-protocol/decode/request", test_decode_request);
    g_test_add_func("/daemon-protocol/decode/no-arguments", test_decode_no_arguments);
    g_test_add_func("/daemon-protocol/decode/errors", test_decode_errors);
    g_test_add_func("/daemon-protocol/decoder/splits", test_decoder_splits);
    g_test_add_func("/daemon-protocol/decoder/oversize-line", test_decoder_oversize_line);
    g_test_add_func("/daemon-protocol/decoder/oversize-whole", test_decoder_oversize_whole);
    g_test_add_func("/daemon-protocol/encoders", test_encoders);
    return g_test_run();
}
