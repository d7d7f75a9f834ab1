/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Fuzz target for the viewer's .vv parser: arbitrary bytes as a connection
 * file.  A parsed file is written back and must parse again to a file that
 * writes identically; every hotkey and USB filter it carries goes through
 * the converters the viewer applies to them.
 */
#include <glib.h>
#include <stdint.h>

#include "oriel-viewer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_hotkey(const char *hotkey)
{
    g_autofree char *accel = NULL;
    g_autofree char *grab = NULL;

    if (!hotkey)
        return;
    accel = oriel_viewer_hotkey_to_accel(hotkey, NULL);
    grab = oriel_viewer_hotkey_to_grab_keys(hotkey, NULL);
    /* Every valid accelerator is also a valid grab sequence. */
    if (accel && !grab)
        g_error("hotkey \"%s\": accelerator without grab sequence", hotkey);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(OrielViewerConnection) connection =
        oriel_viewer_vv_parse_data((const char *)data, size, &error);
    g_autoptr(OrielViewerConnection) again = NULL;
    g_autofree char *written = NULL;
    g_autofree char *rewritten = NULL;
    g_autofree char *described = NULL;
    gsize length = 0;

    if ((connection == NULL) == (error == NULL))
        g_error("parse_data returned %s with %s", connection ? "a connection" : "nothing",
                error ? "an error" : "no error");
    if (!connection)
        return 0;

    described = oriel_viewer_connection_describe(connection);
    check_hotkey(connection->release_cursor);
    check_hotkey(connection->toggle_fullscreen);
    check_hotkey(connection->secure_attention);
    check_hotkey(connection->zoom_in);
    check_hotkey(connection->zoom_out);
    check_hotkey(connection->zoom_reset);
    if (connection->usb_filter)
        oriel_viewer_usb_filter_validate(connection->usb_filter, NULL);

    written = oriel_viewer_vv_to_data(connection, &length);
    again = oriel_viewer_vv_parse_data(written, length, &error);
    if (!again)
        g_error("written file does not parse: %s\n%s", error->message, written);
    rewritten = oriel_viewer_vv_to_data(again, NULL);
    if (g_strcmp0(written, rewritten) != 0)
        g_error("round trip differs:\n%s\n---\n%s", written, rewritten);
    return 0;
}
