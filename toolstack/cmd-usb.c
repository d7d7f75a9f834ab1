/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * orielctl's host-side USB disk verbs, served by orield (hypervisor/usb.h):
 *   usb-attach NAME --disk IMG [--ro] [--speed high|super]
 *   usb-list NAME [--json]
 *   usb-detach NAME ID
 */
#include "orielctl.h"

#include <stdio.h>
#include <string.h>


static void
print_attachment(JsonObject *object)
{
    gint64 port = json_object_get_int_member_with_default(object, "port", 0);
    g_autofree char *where = port > 0 ? g_strdup_printf("%s-%" G_GINT64_FORMAT,
                                                        json_object_get_string_member_with_default(object, "bus", "?"),
                                                        port)
                                      : g_strdup("-");

    const char *reason = json_object_get_string_member_with_default(object, "reason", NULL);

    printf("%-6s %-10s %-3s %-6s %-9s %s%s%s%s\n", json_object_get_string_member_with_default(object, "id", "?"),
           json_object_get_string_member_with_default(object, "state", "?"),
           json_object_get_boolean_member_with_default(object, "read_only", FALSE) ? "ro" : "rw",
           json_object_get_string_member_with_default(object, "speed", "?"), where,
           json_object_get_string_member_with_default(object, "disk", "?"), reason ? " (" : "",
           reason ? reason : "", reason ? ")" : "");
}

int
orielctl_cmd_usb_attach(int argc, char **argv)
{
    g_autofree char *disk = NULL;
    g_autofree char *speed = NULL;
    gboolean read_only = FALSE;
    GOptionEntry entries[] = {
        { "disk", 'd', 0, G_OPTION_ARG_FILENAME, &disk, "Raw disk image to attach", "IMG" },
        { "ro", 'r', 0, G_OPTION_ARG_NONE, &read_only, "Attach it read-only (write-protected)", NULL },
        { "speed", 's', 0, G_OPTION_ARG_STRING, &speed, "high (USB 2) or super (USB 3; the default on xHCI)",
          "SPEED" },
        { NULL },
    };
    int status;

    if (!orielctl_parse_options("usb-attach", "NAME --disk IMG",
                                "Attach a raw disk image to a running domain as a USB disk.", entries, &argc, &argv, 1,
                                &status))
        return status;
    if (!disk) {
        fprintf(stderr, "orielctl usb-attach: --disk IMG is required\n");
        return ORIELCTL_EXIT_USAGE;
    }
    if (speed && !g_str_equal(speed, "high") && !g_str_equal(speed, "super")) {
        fprintf(stderr, "orielctl usb-attach: --speed: '%s' is not 'high' or 'super'\n", speed);
        return ORIELCTL_EXIT_USAGE;
    }
    /* orield has its own working directory. */
    g_autofree char *cwd = g_get_current_dir();
    g_autofree char *absolute = g_canonicalize_filename(disk, cwd);
    g_autoptr(JsonObject) arguments = orielctl_name_arguments(argv[1]);
    json_object_set_string_member(arguments, "disk", absolute);
    if (read_only)
        json_object_set_boolean_member(arguments, "read_only", TRUE);
    if (speed)
        json_object_set_string_member(arguments, "speed", speed);
    g_autoptr(JsonNode) reply = orielctl_call("usb-attach", "domain-usb-attach", arguments);
    if (!reply)
        return ORIELCTL_EXIT_ERROR;
    JsonObject *object = JSON_NODE_HOLDS_OBJECT(reply) ? json_node_get_object(reply) : NULL;
    if (!object) {
        fprintf(stderr, "orielctl usb-attach: orield's reply is not an object\n");
        return ORIELCTL_EXIT_ERROR;
    }
    /* The ID alone, for scripts: `id=$(orielctl usb-attach ...)`. */
    printf("%s\n", json_object_get_string_member_with_default(object, "id", "?"));
    return ORIELCTL_EXIT_OK;
}

int
orielctl_cmd_usb_list(int argc, char **argv)
{
    gboolean json = FALSE;
    GOptionEntry entries[] = {
        { "json", 'j', 0, G_OPTION_ARG_NONE, &json, "Print JSON", NULL },
        { NULL },
    };
    int status;

    if (!orielctl_parse_options("usb-list", "NAME", "List the USB disks attached to a domain.", entries, &argc, &argv,
                                1, &status))
        return status;
    g_autoptr(JsonObject) arguments = orielctl_name_arguments(argv[1]);
    g_autoptr(JsonNode) reply = orielctl_call("usb-list", "domain-usb-list", arguments);
    if (!reply)
        return ORIELCTL_EXIT_ERROR;
    if (json) {
        orielctl_print_json(reply);
        return ORIELCTL_EXIT_OK;
    }
    if (!JSON_NODE_HOLDS_ARRAY(reply)) {
        fprintf(stderr, "orielctl usb-list: orield's reply is not a list\n");
        return ORIELCTL_EXIT_ERROR;
    }
    printf("%-6s %-10s %-3s %-6s %-9s %s\n", "ID", "State", "RO", "Speed", "Port", "Disk");
    JsonArray *array = json_node_get_array(reply);
    for (guint i = 0; i < json_array_get_length(array); i++) {
        JsonObject *object = json_array_get_object_element(array, i);
        if (object)
            print_attachment(object);
    }
    return ORIELCTL_EXIT_OK;
}

int
orielctl_cmd_usb_detach(int argc, char **argv)
{
    int status;

    if (!orielctl_parse_options("usb-detach", "NAME ID", "Detach a USB disk (usb-list shows the IDs).", NULL, &argc,
                                &argv, 2, &status))
        return status;
    g_autoptr(JsonObject) arguments = orielctl_name_arguments(argv[1]);
    json_object_set_string_member(arguments, "id", argv[2]);
    g_autoptr(JsonNode) reply = orielctl_call("usb-detach", "domain-usb-detach", arguments);
    return reply ? ORIELCTL_EXIT_OK : ORIELCTL_EXIT_ERROR;
}
