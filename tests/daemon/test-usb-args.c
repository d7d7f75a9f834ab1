/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The argument checks of orield's USB disk commands (hypervisor/usb.h):
 * what domain-usb-attach, -detach and -list accept and the errors that
 * name the bad argument.  No daemon, no file is touched.
 */
#include <string.h>

#include "usb.h"

static JsonObject *
object_from(const char *text)
{
    g_autoptr(JsonParser) parser = json_parser_new();
    g_autoptr(GError) error = NULL;

    g_assert_true(json_parser_load_from_data(parser, text, -1, &error));
    g_assert_no_error(error);
    return json_object_ref(json_node_get_object(json_parser_get_root(parser)));
}

static void
test_attach_valid(void)
{
    g_autoptr(JsonObject) arguments =
        object_from("{\"name\": \"desk\", \"disk\": \"/srv/a.img\", \"read_only\": true, \"speed\": \"high\"}");
    OrielHvUsbAttachRequest request;
    g_autoptr(GError) error = NULL;

    g_assert_true(oriel_hv_usb_parse_attach(arguments, &request, &error));
    g_assert_cmpstr(request.name, ==, "desk");
    g_assert_cmpstr(request.disk, ==, "/srv/a.img");
    g_assert_true(request.read_only);
    g_assert_cmpint(request.speed, ==, ORIEL_HV_USB_SPEED_HIGH);

    g_autoptr(JsonObject) minimal = object_from("{\"name\": \"desk\", \"disk\": \"/a\"}");
    g_assert_true(oriel_hv_usb_parse_attach(minimal, &request, &error));
    g_assert_false(request.read_only);
    g_assert_cmpint(request.speed, ==, ORIEL_HV_USB_SPEED_DEFAULT);
}

static const struct {
    const char *arguments;
    const char *message;
} attach_invalid[] = {
    { "{\"name\": \"desk\"}", "missing argument 'disk'" },
    { "{\"disk\": \"/a\"}", "missing argument 'name'" },
    { "{\"name\": \"desk\", \"disk\": \"a.img\"}", "disk: 'a.img' is not an absolute path" },
    { "{\"name\": \"desk\", \"disk\": \"\"}", "disk: the path must be" },
    { "{\"name\": \"desk\", \"disk\": \"/a\", \"speed\": \"full\"}", "speed: 'full' is not 'high' or 'super'" },
    { "{\"name\": \"desk\", \"disk\": \"/a\", \"read_only\": 1}", "argument 'read_only' must be a boolean" },
    { "{\"name\": \"desk\", \"disk\": 5}", "argument 'disk' must be a string" },
    { "{\"name\": \"desk\", \"disk\": \"/a\", \"bus\": \"usb.1\"}", "unknown argument 'bus'" },
    { "{\"name\": \"\", \"disk\": \"/a\"}", "name: must be 1 to 256 characters" },
};

static void
test_attach_invalid(void)
{
    for (gsize i = 0; i < G_N_ELEMENTS(attach_invalid); i++) {
        g_autoptr(JsonObject) arguments = object_from(attach_invalid[i].arguments);
        OrielHvUsbAttachRequest request;
        g_autoptr(GError) error = NULL;

        g_assert_false(oriel_hv_usb_parse_attach(arguments, &request, &error));
        g_assert_error(error, ORIEL_HV_ERROR, ORIEL_HV_ERROR_INVALID_ARGUMENT);
        if (!g_str_has_prefix(error->message, attach_invalid[i].message))
            g_error("%s: '%s', expected '%s'", attach_invalid[i].arguments, error->message,
                    attach_invalid[i].message);
    }
    /* Over the length bound. */
    g_autofree char *long_path = g_strnfill(5000, 'a');
    long_path[0] = '/';
    g_autoptr(JsonObject) arguments = json_object_new();
    json_object_set_string_member(arguments, "name", "desk");
    json_object_set_string_member(arguments, "disk", long_path);
    OrielHvUsbAttachRequest request;
    g_autoptr(GError) error = NULL;
    g_assert_false(oriel_hv_usb_parse_attach(arguments, &request, &error));
    g_assert_error(error, ORIEL_HV_ERROR, ORIEL_HV_ERROR_INVALID_ARGUMENT);
}

static void
test_detach_ids(void)
{
    static const char *const valid[] = { "usb0", "usb1", "usb7" };
    static const char *const invalid[] = { "usb8", "usb", "usb01", "usb-1", "usb1x", "USB1", "usb99999999999", "" };

    for (gsize i = 0; i < G_N_ELEMENTS(valid); i++) {
        g_autoptr(JsonObject) arguments = json_object_new();
        g_autoptr(GError) error = NULL;
        const char *name = NULL;
        guint index = 99;
        json_object_set_string_member(arguments, "name", "desk");
        json_object_set_string_member(arguments, "id", valid[i]);
        g_assert_true(oriel_hv_usb_parse_detach(arguments, &name, &index, &error));
        g_assert_cmpstr(name, ==, "desk");
        g_assert_cmpuint(index, ==, (guint)(valid[i][3] - '0'));
    }
    for (gsize i = 0; i < G_N_ELEMENTS(invalid); i++) {
        g_autoptr(JsonObject) arguments = json_object_new();
        g_autoptr(GError) error = NULL;
        const char *name = NULL;
        guint index = 0;
        json_object_set_string_member(arguments, "name", "desk");
        json_object_set_string_member(arguments, "id", invalid[i]);
        g_assert_false(oriel_hv_usb_parse_detach(arguments, &name, &index, &error));
        g_assert_error(error, ORIEL_HV_ERROR, ORIEL_HV_ERROR_INVALID_ARGUMENT);
        g_assert_nonnull(strstr(error->message, "is not an attachment ID"));
    }
}

static void
test_list(void)
{
    g_autoptr(JsonObject) good = object_from("{\"name\": \"desk\"}");
    g_autoptr(JsonObject) extra = object_from("{\"name\": \"desk\", \"all\": true}");
    g_autoptr(JsonObject) empty = object_from("{}");
    g_autoptr(GError) error = NULL;
    const char *name = NULL;

    g_assert_true(oriel_hv_usb_parse_list(good, &name, &error));
    g_assert_cmpstr(name, ==, "desk");
    g_assert_false(oriel_hv_usb_parse_list(extra, &name, &error));
    g_assert_error(error, ORIEL_HV_ERROR, ORIEL_HV_ERROR_INVALID_ARGUMENT);
    g_clear_error(&error);
    g_assert_false(oriel_hv_usb_parse_list(empty, &name, &error));
    g_assert_error(error, ORIEL_HV_ERROR, ORIEL_HV_ERROR_INVALID_ARGUMENT);
}

static void
test_mode_allows(void)
{
    const gid_t groups[] = { 100, 1001 };

    /* Owner bits for the owner, group bits for a member, other bits for the rest. */
    g_assert_true(oriel_hv_usb_mode_allows(1000, groups, 2, 1000, 0, 0600, FALSE));
    g_assert_false(oriel_hv_usb_mode_allows(1000, groups, 2, 1000, 0, 0400, FALSE));
    g_assert_true(oriel_hv_usb_mode_allows(1000, groups, 2, 1000, 0, 0400, TRUE));
    g_assert_false(oriel_hv_usb_mode_allows(1000, groups, 2, 1000, 1001, 0060, TRUE)); /* owner bits rule */
    g_assert_true(oriel_hv_usb_mode_allows(1000, groups, 2, 0, 1001, 0640, TRUE));
    g_assert_false(oriel_hv_usb_mode_allows(1000, groups, 2, 0, 1001, 0640, FALSE));
    g_assert_true(oriel_hv_usb_mode_allows(1000, groups, 2, 0, 1001, 0660, FALSE));
    g_assert_false(oriel_hv_usb_mode_allows(1000, groups, 2, 0, 0, 0640, TRUE)); /* /etc/shadow-like */
    g_assert_true(oriel_hv_usb_mode_allows(1000, groups, 2, 0, 0, 0644, TRUE));
    g_assert_false(oriel_hv_usb_mode_allows(1000, groups, 2, 0, 0, 0644, FALSE));
    g_assert_true(oriel_hv_usb_mode_allows(1000, NULL, 0, 0, 0, 0666, FALSE));
    g_assert_true(oriel_hv_usb_mode_allows(0, NULL, 0, 5, 5, 0000, FALSE));
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/usb-args/attach-valid", test_attach_valid);
    g_test_add_func("/usb-args/attach-invalid", test_attach_invalid);
    g_test_add_func("/usb-args/detach-ids", test_detach_ids);
    g_test_add_func("/usb-args/list", test_list);
    g_test_add_func("/usb-args/mode-allows", test_mode_allows);
    return g_test_run();
}
