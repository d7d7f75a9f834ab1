/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * OrielQmpCodec on canned byte streams.  The transcript below was recorded
 * from qemu-system-x86_64 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3), started
 * as `-M none -accel tcg -display none -nodefaults -qmp unix:...`.
 */
#include <string.h>

#include "qmp-codec.h"

static const char transcript[] =
    "{\"QMP\": {\"version\": {\"qemu\": {\"micro\": 22, \"minor\": 2, \"major\": 7}, "
    "\"package\": \"Debian 1:7.2+dfsg-7+deb12u18+b3\"}, \"capabilities\": [\"oob\"]}}\r\n"
    "{\"return\": {}, \"id\": 1}\r\n"
    "{\"return\": {\"status\": \"running\", \"singlestep\": false, \"running\": true}, \"id\": 2}\r\n"
    "{\"return\": {\"qemu\": {\"micro\": 22, \"minor\": 2, \"major\": 7}, "
    "\"package\": \"Debian 1:7.2+dfsg-7+deb12u18+b3\"}, \"id\": 3}\r\n"
    "{\"id\": 4, \"error\": {\"class\": \"CommandNotFound\", "
    "\"desc\": \"The command no-such-command has not been found\"}}\r\n"
    "{\"id\": 5, \"error\": {\"class\": \"DeviceNotFound\", \"desc\": \"Device 'nodev' not found\"}}\r\n"
    "{\"timestamp\": {\"seconds\": 1795690891, \"microseconds\": 546375}, \"event\": \"STOP\"}\r\n"
    "{\"return\": {}, \"id\": 6}\r\n"
    "{\"timestamp\": {\"seconds\": 1795690894, \"microseconds\": 551712}, \"event\": \"RESET\", "
    "\"data\": {\"guest\": false, \"reason\": \"host-qmp-system-reset\"}}\r\n"
    "{\"return\": {}, \"id\": 9}\r\n"
    "{\"id\": 2, \"error\": {\"class\": \"GenericError\", \"desc\": \"Parameter 'x' is unexpected\"}}\r\n"
    "{\"error\": {\"class\": \"GenericError\", \"desc\": \"JSON parse error, invalid keyword 'garbage'\"}}\r\n"
    "{\"timestamp\": {\"seconds\": 1795690904, \"microseconds\": 86061}, \"event\": \"SHUTDOWN\", "
    "\"data\": {\"guest\": false, \"reason\": \"host-qmp-quit\"}}\r\n"
    "{\"return\": {}, \"id\": 10}\r\n";

static const char *const transcript_summary[] = {
    "greeting 7.2.22",
    "return 1 {}",
    "return 2 {\"status\":\"running\",\"singlestep\":false,\"running\":true}",
    ("return 3 {\"qemu\":{\"micro\":22,\"minor\":2,\"major\":7},"
     "\"package\":\"Debian 1:7.2+dfsg-7+deb12u18+b3\"}"),
    "error 4 CommandNotFound: The command no-such-command has not been found",
    "error 5 DeviceNotFound: Device 'nodev' not found",
    "event STOP 1795690891546375 {}",
    "return 6 {}",
    "event RESET 1795690894551712 {\"guest\":false,\"reason\":\"host-qmp-system-reset\"}",
    "return 9 {}",
    "error 2 GenericError: Parameter 'x' is unexpected",
    "error - GenericError: JSON parse error, invalid keyword 'garbage'",
    "event SHUTDOWN 1795690904086061 {\"guest\":false,\"reason\":\"host-qmp-quit\"}",
    "return 10 {}",
};

/* Each message as one line of text, to compare whole streams at once. */
static char *
summarize(const OrielQmpMessage *message)
{
    g_autofree char *id = message->has_id ? g_strdup_printf("%" G_GINT64_FORMAT, message->id)
                                          : g_strdup("-");
    switch (message->kind) {
    case ORIEL_QMP_MESSAGE_GREETING:
        return g_strdup_printf("greeting %" G_GINT64_FORMAT ".%" G_GINT64_FORMAT
                               ".%" G_GINT64_FORMAT,
                               message->qemu_major, message->qemu_minor, message->qemu_micro);
    case ORIEL_QMP_MESSAGE_RETURN: {
        g_autofree char *json = json_to_string(message->return_value, FALSE);
        return g_strdup_printf("return %s %s", id, json);
    }
    case ORIEL_QMP_MESSAGE_ERROR:
        return g_strdup_printf("error %s %s: %s", id, message->error_class, message->error_desc);
    case ORIEL_QMP_MESSAGE_EVENT: {
        g_autoptr(JsonNode) data = json_node_init_object(json_node_alloc(), message->data);
        g_autofree char *json = json_to_string(data, FALSE);
        return g_strdup_printf("event %s %" G_GINT64_FORMAT " %s", message->event,
                               message->timestamp_us, json);
    }
    }
    g_assert_not_reached();
}

static void
collect(const OrielQmpMessage *message, gpointer user_data)
{
    GPtrArray *seen = user_data;
    g_assert_nonnull(message->object);
    g_ptr_array_add(seen, summarize(message));
}

static void
assert_summary(GPtrArray *seen, const char *const *expected, gsize n_expected)
{
    g_assert_cmpuint(seen->len, ==, n_expected);
    for (gsize i = 0; i < n_expected; i++)
        g_assert_cmpstr(g_ptr_array_index(seen, i), ==, expected[i]);
}

/* Feeds @data whole; returns the error, if any. */
static GError *
feed_all(const char *data, gsize len, GPtrArray *seen)
{
    g_autoptr(OrielQmpCodec) codec = oriel_qmp_codec_new(collect, seen);
    GError *error = NULL;
    if (oriel_qmp_codec_feed(codec, data, len, &error))
        g_assert_cmpuint(oriel_qmp_codec_get_buffered(codec), ==, 0);
    return error;
}

static void
test_greeting(void)
{
    g_autoptr(GPtrArray) seen = g_ptr_array_new_with_free_func(g_free);
    const char *end = strstr(transcript, "\r\n") + 2;
    g_autoptr(GError) error = feed_all(transcript, (gsize)(end - transcript), seen);

    g_assert_no_error(error);
    assert_summary(seen, transcript_summary, 1);
}

static void
test_whole_transcript(void)
{
    g_autoptr(GPtrArray) seen = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GError) error = feed_all(transcript, strlen(transcript), seen);

    g_assert_no_error(error);
    assert_summary(seen, transcript_summary, G_N_ELEMENTS(transcript_summary));
}

static void
drop_log(const char *domain, GLogLevelFlags level, const char *message, gpointer user_data)
{
}

static void
test_split_everywhere(void)
{
    gsize len = strlen(transcript);

    /* Thousands of messages: keep the log readable. */
    guint handler = g_log_set_handler("oriel-devmodel", G_LOG_LEVEL_DEBUG, drop_log, NULL);
    for (gsize split = 0; split <= len; split++) {
        g_autoptr(GPtrArray) seen = g_ptr_array_new_with_free_func(g_free);
        g_autoptr(OrielQmpCodec) codec = oriel_qmp_codec_new(collect, seen);
        g_autoptr(GError) error = NULL;

        g_assert_true(oriel_qmp_codec_feed(codec, transcript, split, &error));
        g_assert_true(oriel_qmp_codec_feed(codec, transcript + split, len - split, &error));
        g_assert_no_error(error);
        assert_summary(seen, transcript_summary, G_N_ELEMENTS(transcript_summary));
    }
    g_log_remove_handler("oriel-devmodel", handler);
}

static void
test_byte_by_byte(void)
{
    g_autoptr(GPtrArray) seen = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(OrielQmpCodec) codec = oriel_qmp_codec_new(collect, seen);
    g_autoptr(GError) error = NULL;

    for (const char *p = transcript; *p; p++)
        g_assert_true(oriel_qmp_codec_feed(codec, p, 1, &error));
    g_assert_no_error(error);
    assert_summary(seen, transcript_summary, G_N_ELEMENTS(transcript_summary));
}

static void
test_line_endings(void)
{
    static const char stream[] = "\r\n\n   \r\n\t\n"
                                 "{\"return\": 1, \"id\": 1}\n"
                                 "{\"return\": [true], \"id\": 2}\r\n"
                                 "\n"
                                 "  {\"return\": \"a\\nb\", \"id\": 3}  \r\n"
                                 "{\"return\": null, \"id\": \"string-id\"}\n"
                                 "{\"return\": {}, \"id\": 1.5}\n"
                                 "{\"return\": {}, \"id\": -7}\n"
                                 "{\"return\": {}}";
    static const char *const expected[] = {
        "return 1 1",
        "return 2 [true]",
        "return 3 \"a\\nb\"",
        "return - null",
        "return - {}",
        "return -7 {}",
    };
    g_autoptr(GPtrArray) seen = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(OrielQmpCodec) codec = oriel_qmp_codec_new(collect, seen);
    g_autoptr(GError) error = NULL;

    g_assert_true(oriel_qmp_codec_feed(codec, stream, strlen(stream), &error));
    g_assert_no_error(error);
    assert_summary(seen, expected, G_N_ELEMENTS(expected));
    /* The last line has no newline yet: it waits. */
    g_assert_cmpuint(oriel_qmp_codec_get_buffered(codec), ==, strlen("{\"return\": {}}"));
    g_assert_true(oriel_qmp_codec_feed(codec, "\r\n", 2, &error));
    g_assert_cmpuint(seen->len, ==, G_N_ELEMENTS(expected) + 1);
    g_assert_cmpuint(oriel_qmp_codec_get_buffered(codec), ==, 0);
}

static void
test_event_fields(void)
{
    static const char stream[] =
        /* from QEMU's qapi/ui.json */
        "{\"event\": \"SPICE_CONNECTED\", \"timestamp\": {\"seconds\": 1290688046, "
        "\"microseconds\": 388707}, \"data\": {\"server\": {\"port\": \"5920\", "
        "\"family\": \"ipv4\", \"host\": \"127.0.0.1\"}, \"client\": {\"port\": \"52873\", "
        "\"family\": \"ipv4\", \"host\": \"127.0.0.1\"}}}\r\n"
        /* no timestamp, no data */
        "{\"event\": \"X\"}\r\n"
        /* timestamps of the wrong type or out of range */
        "{\"event\": \"X\", \"timestamp\": {\"seconds\": \"1\", \"microseconds\": 0}}\r\n"
        "{\"event\": \"X\", \"timestamp\": {\"seconds\": 1, \"microseconds\": 1000000}}\r\n"
        "{\"event\": \"X\", \"timestamp\": {\"seconds\": 9223372036854775807, "
        "\"microseconds\": 0}}\r\n"
        "{\"event\": \"X\", \"timestamp\": 5}\r\n";
    static const char *const expected[] = {
        ("event SPICE_CONNECTED 1290688046388707 {\"server\":{\"port\":\"5920\",\"family\":\"ipv4\","
         "\"host\":\"127.0.0.1\"},\"client\":{\"port\":\"52873\",\"family\":\"ipv4\","
         "\"host\":\"127.0.0.1\"}}"),
        "event X -1 {}",
        "event X -1 {}",
        "event X -1 {}",
        "event X -1 {}",
        "event X -1 {}",
    };
    g_autoptr(GPtrArray) seen = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GError) error = feed_all(stream, strlen(stream), seen);

    g_assert_no_error(error);
    assert_summary(seen, expected, G_N_ELEMENTS(expected));
}

static void
test_greeting_without_version(void)
{
    static const char stream[] = "{\"QMP\": {\"capabilities\": []}}\r\n"
                                 "{\"QMP\": {\"version\": {\"qemu\": {\"major\": \"7\"}}}}\r\n";
    static const char *const expected[] = { "greeting -1.-1.-1", "greeting -1.-1.-1" };
    g_autoptr(GPtrArray) seen = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GError) error = feed_all(stream, strlen(stream), seen);

    g_assert_no_error(error);
    assert_summary(seen, expected, G_N_ELEMENTS(expected));
}

/* Each of these kills the stream; messages before it still arrive. */
static const struct {
    const char *name;
    const char *line;
    const char *message; /* a substring of the error */
} bad_lines[] = {
    { "garbage", "hello world", "not a JSON object" },
    { "array", "[1, 2, 3]", "not a JSON object" },
    { "number", "42", "not a JSON object" },
    { "string", "\"QMP\"", "not a JSON object" },
    { "null", "null", "not a JSON object" },
    { "truncated", "{\"return\": {}, \"id\": ", "Malformed QMP message" },
    { "unbalanced", "{\"return\": {}}}", "after its JSON object" },
    { "two-objects", "{\"return\": {}} {\"return\": {}}", "after its JSON object" },
    { "trailing", "{\"return\": {}} x", "after its JSON object" },
    { "no-kind", "{\"foo\": 1, \"id\": 1}", "neither a greeting, a reply nor an event" },
    { "empty-object", "{}", "neither a greeting, a reply nor an event" },
    { "two-kinds", "{\"return\": {}, \"event\": \"X\"}", "more than one kind" },
    { "greeting-not-object", "{\"QMP\": 1}", "\"QMP\" is not an object" },
    { "error-not-object", "{\"error\": \"boom\", \"id\": 1}", "\"class\" or \"desc\"" },
    { "error-class-type", "{\"error\": {\"class\": 1, \"desc\": \"x\"}}", "\"class\" or \"desc\"" },
    { "error-no-desc", "{\"error\": {\"class\": \"GenericError\"}}", "\"class\" or \"desc\"" },
    { "event-name-type", "{\"event\": 5}", "event name is not a string" },
    { "event-data-type", "{\"event\": \"STOP\", \"data\": [1]}", "\"data\" is not an object" },
    { "invalid-utf8", "{\"return\": \"\xff\xfe\"}", "not valid UTF-8" },
    { "nul-byte", "{\"return\": \"a\0b\"}", "not valid UTF-8" },
};

static void
test_bad_line(gconstpointer data)
{
    gsize i = GPOINTER_TO_SIZE(data);
    g_autoptr(GPtrArray) seen = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(OrielQmpCodec) codec = oriel_qmp_codec_new(collect, seen);
    g_autoptr(GError) error = NULL;
    g_autoptr(GError) again = NULL;
    /* Lines with an embedded NUL need their real length. */
    gsize line_len = strcmp(bad_lines[i].name, "nul-byte") == 0 ? 17 : strlen(bad_lines[i].line);
    g_autoptr(GString) stream = g_string_new("{\"return\": {}, \"id\": 1}\r\n");

    g_string_append_len(stream, bad_lines[i].line, (gssize)line_len);
    g_string_append(stream, "\r\n{\"return\": {}, \"id\": 2}\r\n");

    g_assert_false(oriel_qmp_codec_feed(codec, stream->str, stream->len, &error));
    g_assert_error(error, ORIEL_QMP_ERROR, ORIEL_QMP_ERROR_PROTOCOL);
    g_test_message("%s: %s", bad_lines[i].name, error->message);
    g_assert_nonnull(strstr(error->message, bad_lines[i].message));
    /* The reply before the bad line was delivered, the one after was not. */
    g_assert_cmpuint(seen->len, ==, 1);

    /* The stream is dead. */
    g_assert_false(oriel_qmp_codec_feed(codec, "{\"return\": {}}\r\n", 16, &again));
    g_assert_error(again, ORIEL_QMP_ERROR, ORIEL_QMP_ERROR_PROTOCOL);
    g_assert_cmpuint(seen->len, ==, 1);
}

/* A valid reply padded to exactly @len bytes, without line terminator. */
static GString *
reply_of_length(gsize len)
{
    static const char head[] = "{\"return\": \"";
    static const char tail[] = "\", \"id\": 1}";
    GString *line = g_string_sized_new(len + 2);

    g_assert_cmpuint(len, >=, strlen(head) + strlen(tail));
    g_string_append(line, head);
    while (line->len < len - strlen(tail))
        g_string_append_c(line, 'x');
    g_string_append(line, tail);
    g_assert_cmpuint(line->len, ==, len);
    return line;
}

static void
test_max_line_accepted(void)
{
    g_autoptr(GPtrArray) seen = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(OrielQmpCodec) codec = oriel_qmp_codec_new(collect, seen);
    g_autoptr(GError) error = NULL;
    g_autoptr(GString) line = reply_of_length(ORIEL_QMP_MAX_LINE);

    g_string_append(line, "\r\n");
    /* In 4 KiB reads, as from a socket. */
    for (gsize off = 0; off < line->len; off += 4096)
        g_assert_true(oriel_qmp_codec_feed(codec, line->str + off, MIN(4096, line->len - off),
                                           &error));
    g_assert_no_error(error);
    g_assert_cmpuint(seen->len, ==, 1);
    g_assert_cmpuint(oriel_qmp_codec_get_buffered(codec), ==, 0);
}

static void
test_oversize_line(void)
{
    g_autoptr(GPtrArray) seen = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(OrielQmpCodec) codec = oriel_qmp_codec_new(collect, seen);
    g_autoptr(GError) error = NULL;
    g_autoptr(GString) line = reply_of_length(ORIEL_QMP_MAX_LINE + 1);

    g_string_append(line, "\r\n");
    g_assert_false(oriel_qmp_codec_feed(codec, line->str, line->len, &error));
    g_assert_error(error, ORIEL_QMP_ERROR, ORIEL_QMP_ERROR_PROTOCOL);
    g_assert_cmpstr(error->message, ==, "QMP message exceeds 1048576 bytes");
    g_assert_cmpuint(seen->len, ==, 0);
}

/* A peer that never sends a newline is stopped once it passes the cap,
 * without buffering more than that. */
static void
test_endless_line(void)
{
    g_autoptr(GPtrArray) seen = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(OrielQmpCodec) codec = oriel_qmp_codec_new(collect, seen);
    g_autoptr(GError) error = NULL;
    char chunk[4096];
    gsize fed = 0;

    memset(chunk, ' ', sizeof(chunk));
    while (oriel_qmp_codec_feed(codec, chunk, sizeof(chunk), &error)) {
        fed += sizeof(chunk);
        g_assert_cmpuint(oriel_qmp_codec_get_buffered(codec), <=, ORIEL_QMP_MAX_LINE + 1);
        g_assert_cmpuint(fed, <=, 2 * ORIEL_QMP_MAX_LINE);
    }
    g_assert_error(error, ORIEL_QMP_ERROR, ORIEL_QMP_ERROR_PROTOCOL);
    g_assert_cmpstr(error->message, ==, "QMP message exceeds 1048576 bytes");
    g_assert_cmpuint(fed, ==, ORIEL_QMP_MAX_LINE - ORIEL_QMP_MAX_LINE % sizeof(chunk));
    g_assert_cmpuint(oriel_qmp_codec_get_buffered(codec), ==, 0);
}

static GString *
nested(guint depth)
{
    GString *line = g_string_new("{\"return\": ");
    for (guint i = 1; i < depth; i++)
        g_string_append_c(line, '[');
    for (guint i = 1; i < depth; i++)
        g_string_append_c(line, ']');
    g_string_append(line, ", \"id\": 1}\r\n");
    return line;
}

static void
test_nesting(void)
{
    g_autoptr(GPtrArray) seen = g_ptr_array_new_with_free_func(g_free);
    g_autoptr(GString) deepest = nested(ORIEL_QMP_MAX_DEPTH);
    g_autoptr(GString) too_deep = nested(ORIEL_QMP_MAX_DEPTH + 1);
    g_autoptr(GString) stack_breaker = nested(400000);
    g_autoptr(GError) error = NULL;

    error = feed_all(deepest->str, deepest->len, seen);
    g_assert_no_error(error);
    g_assert_cmpuint(seen->len, ==, 1);

    error = feed_all(too_deep->str, too_deep->len, seen);
    g_assert_error(error, ORIEL_QMP_ERROR, ORIEL_QMP_ERROR_PROTOCOL);
    g_assert_nonnull(strstr(error->message, "nests deeper than 1024"));
    g_clear_error(&error);

    error = feed_all(stack_breaker->str, stack_breaker->len, seen);
    g_assert_error(error, ORIEL_QMP_ERROR, ORIEL_QMP_ERROR_PROTOCOL);
    g_assert_cmpuint(seen->len, ==, 1);

    /* Brackets inside strings do not count. */
    g_clear_error(&error);
    g_autoptr(GString) in_string = g_string_new("{\"return\": \"");
    for (guint i = 0; i < 5000; i++)
        g_string_append(in_string, "[{\\\"");
    g_string_append(in_string, "\"}\n");
    error = feed_all(in_string->str, in_string->len, seen);
    g_assert_no_error(error);
    g_assert_cmpuint(seen->len, ==, 2);
}

static void
test_encode(void)
{
    g_autofree char *plain = oriel_qmp_codec_encode_command("query-status", NULL, 7);
    g_assert_cmpstr(plain, ==, "{\"execute\":\"query-status\",\"id\":7}\n");

    g_autoptr(JsonObject) arguments = json_object_new();
    json_object_set_string_member(arguments, "id", "usb\nredir\"0");
    json_object_set_int_member(arguments, "n", -3);
    g_autofree char *line = oriel_qmp_codec_encode_command("device_del", arguments, 42);
    g_assert_cmpstr(line, ==,
                    "{\"execute\":\"device_del\",\"arguments\":{\"id\":\"usb\\nredir\\\"0\","
                    "\"n\":-3},\"id\":42}\n");
    /* One line, and still ours: arguments are not consumed. */
    g_assert_true(strchr(line, '\n') == line + strlen(line) - 1);
    g_assert_cmpstr(json_object_get_string_member(arguments, "id"), ==, "usb\nredir\"0");
}

static void
test_error_classes(void)
{
    g_assert_cmpint(oriel_qmp_error_from_class("GenericError"), ==, ORIEL_QMP_ERROR_GENERIC_ERROR);
    g_assert_cmpint(oriel_qmp_error_from_class("CommandNotFound"), ==,
                    ORIEL_QMP_ERROR_COMMAND_NOT_FOUND);
    g_assert_cmpint(oriel_qmp_error_from_class("DeviceNotActive"), ==,
                    ORIEL_QMP_ERROR_DEVICE_NOT_ACTIVE);
    g_assert_cmpint(oriel_qmp_error_from_class("DeviceNotFound"), ==,
                    ORIEL_QMP_ERROR_DEVICE_NOT_FOUND);
    g_assert_cmpint(oriel_qmp_error_from_class("KVMMissingCap"), ==,
                    ORIEL_QMP_ERROR_KVM_MISSING_CAP);
    g_assert_cmpint(oriel_qmp_error_from_class("SomethingNew"), ==, ORIEL_QMP_ERROR_UNKNOWN_CLASS);
    g_assert_cmpint(oriel_qmp_error_from_class(NULL), ==, ORIEL_QMP_ERROR_UNKNOWN_CLASS);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

    g_test_add_func("/qmp-codec/greeting", test_greeting);
    g_test_add_func("/qmp-codec/transcript", test_whole_transcript);
    g_test_add_func("/qmp-codec/split-everywhere", test_split_everywhere);
    g_test_add_func("/qmp-codec/byte-by-byte", test_byte_by_byte);
    g_test_add_func("/qmp-codec/line-endings", test_line_endings);
    g_test_add_func("/qmp-codec/event-fields", test_event_fields);
    g_test_add_func("/qmp-codec/greeting-without-version", test_greeting_without_version);
    for (gsize i = 0; i < G_N_ELEMENTS(bad_lines); i++) {
        g_autofree char *path = g_strdup_printf("/qmp-codec/bad/%s", bad_lines[i].name);
        g_test_add_data_func(path, GSIZE_TO_POINTER(i), test_bad_line);
    }
    g_test_add_func("/qmp-codec/max-line", test_max_line_accepted);
    g_test_add_func("/qmp-codec/oversize-line", test_oversize_line);
    g_test_add_func("/qmp-codec/endless-line", test_endless_line);
    g_test_add_func("/qmp-codec/nesting", test_nesting);
    g_test_add_func("/qmp-codec/encode", test_encode);
    g_test_add_func("/qmp-codec/error-classes", test_error_classes);

    return g_test_run();
}
