/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Clipboard policy, hotkeys, USB filters, backoff. */
#include <glib.h>
#include <string.h>

#include "oriel-viewer.h"

static void
test_clipboard_parse(void)
{
    static const char *const names[] = { "both", "to-guest", "from-guest", "off" };
    OrielClipboardPolicy policy;
    g_autoptr(GError) error = NULL;

    for (gsize i = 0; i < G_N_ELEMENTS(names); i++) {
        g_assert_true(oriel_clipboard_policy_parse(names[i], &policy, NULL));
        g_assert_cmpint(policy, ==, (int)i);
        g_assert_cmpstr(oriel_clipboard_policy_to_string(policy), ==, names[i]);
    }
    g_assert_false(oriel_clipboard_policy_parse("sideways", &policy, &error));
    g_assert_error(error, ORIEL_VIEWER_ERROR, ORIEL_VIEWER_ERROR_INVALID);
}

/* Each policy blocks exactly the direction it names, for every selection. */
static void
test_clipboard_matrix(void)
{
    const OrielClipboardDirection to = ORIEL_CLIPBOARD_DIRECTION_TO_GUEST;
    const OrielClipboardDirection from = ORIEL_CLIPBOARD_DIRECTION_FROM_GUEST;
    struct {
        OrielClipboardPolicy policy;
        gboolean to_guest, from_guest;
    } cases[] = {
        { ORIEL_CLIPBOARD_BOTH, TRUE, TRUE },
        { ORIEL_CLIPBOARD_TO_GUEST, TRUE, FALSE },
        { ORIEL_CLIPBOARD_FROM_GUEST, FALSE, TRUE },
        { ORIEL_CLIPBOARD_OFF, FALSE, FALSE },
    };

    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        OrielClipboardPolicy p = cases[i].policy;
        /* CLIPBOARD: as the policy says, whatever the primary setting. */
        for (int primary = 0; primary <= 1; primary++) {
            g_assert_cmpint(oriel_clipboard_allows(p, primary, to, ORIEL_SELECTION_CLIPBOARD),
                            ==, cases[i].to_guest);
            g_assert_cmpint(oriel_clipboard_allows(p, primary, from, ORIEL_SELECTION_CLIPBOARD),
                            ==, cases[i].from_guest);
        }
        /* PRIMARY: only when enabled, then as the policy says. */
        g_assert_false(oriel_clipboard_allows(p, FALSE, to, ORIEL_SELECTION_PRIMARY));
        g_assert_false(oriel_clipboard_allows(p, FALSE, from, ORIEL_SELECTION_PRIMARY));
        g_assert_cmpint(oriel_clipboard_allows(p, TRUE, to, ORIEL_SELECTION_PRIMARY), ==,
                        cases[i].to_guest);
        g_assert_cmpint(oriel_clipboard_allows(p, TRUE, from, ORIEL_SELECTION_PRIMARY), ==,
                        cases[i].from_guest);
        /* SECONDARY and unknown selections from the peer: never. */
        g_assert_false(oriel_clipboard_allows(p, TRUE, to, ORIEL_SELECTION_SECONDARY));
        g_assert_false(oriel_clipboard_allows(p, TRUE, from, 77));
    }
}

static void
test_hotkeys(void)
{
    struct {
        const char *hotkey, *accel, *grab;
    } good[] = {
        { "shift+f11", "<Shift>F11", "Shift_L+F11" },
        { "ctrl+alt+del", "<Control><Alt>Delete", "Control_L+Alt_L+Delete" },
        { "ctrl+alt+end", "<Control><Alt>End", "Control_L+Alt_L+End" },
        { "F11", "F11", "F11" },
        { "ctrl+shift+R", "<Control><Shift>r", "Control_L+Shift_L+r" },
        { "super+1", "<Super>1", "Super_L+1" },
    };

    for (gsize i = 0; i < G_N_ELEMENTS(good); i++) {
        g_autofree char *accel = oriel_viewer_hotkey_to_accel(good[i].hotkey, NULL);
        g_autofree char *grab = oriel_viewer_hotkey_to_grab_keys(good[i].hotkey, NULL);
        g_assert_cmpstr(accel, ==, good[i].accel);
        g_assert_cmpstr(grab, ==, good[i].grab);
    }

    /* Modifiers alone: a grab sequence (the default ctrl+alt), not an
     * accelerator. */
    {
        g_autoptr(GError) error = NULL;
        g_autofree char *grab = oriel_viewer_hotkey_to_grab_keys("ctrl+alt", NULL);
        g_autofree char *accel = oriel_viewer_hotkey_to_accel("ctrl+alt", &error);
        g_assert_cmpstr(grab, ==, "Control_L+Alt_L");
        g_assert_null(accel);
        g_assert_error(error, ORIEL_VIEWER_ERROR, ORIEL_VIEWER_ERROR_INVALID);
    }

    static const char *const bad[] = { "", "ctrl+", "f11+ctrl", "ctrl+bogus", "f99", "+", "a+b" };
    for (gsize i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autoptr(GError) error = NULL;
        g_autofree char *accel = oriel_viewer_hotkey_to_accel(bad[i], &error);
        if (accel)
            g_error("accepted hotkey \"%s\"", bad[i]);
        g_assert_error(error, ORIEL_VIEWER_ERROR, ORIEL_VIEWER_ERROR_INVALID);
    }
}

static void
test_usb_filter(void)
{
    g_autoptr(GError) error = NULL;

    g_assert_true(oriel_viewer_usb_filter_validate(ORIEL_VIEWER_DEFAULT_USB_FILTER, NULL));
    g_assert_true(oriel_viewer_usb_filter_validate("0x08,0x0781,0x5567,-1,1|-1,-1,-1,-1,0",
                                                   NULL));
    g_assert_false(oriel_viewer_usb_filter_validate("", NULL));
    g_assert_false(oriel_viewer_usb_filter_validate("0x03,-1,-1", NULL));
    g_assert_false(oriel_viewer_usb_filter_validate("nonsense", &error));
    g_assert_error(error, ORIEL_VIEWER_ERROR, ORIEL_VIEWER_ERROR_INVALID);
}

static void
test_backoff(void)
{
    guint previous = 0;

    g_assert_cmpuint(oriel_viewer_backoff_delay_ms(0), ==, 250);
    for (guint attempt = 0; attempt < 100; attempt++) {
        guint delay = oriel_viewer_backoff_delay_ms(attempt);
        g_assert_cmpuint(delay, >=, previous);
        g_assert_cmpuint(delay, <=, 4000);
        previous = delay;
    }
    g_assert_cmpuint(oriel_viewer_backoff_delay_ms(G_MAXUINT), ==, 4000);
}

static void
test_config_file(void)
{
    static const char good[] = "# defaults\n[viewer]\nclipboard = to-guest\nkiosk = true\n"
                               "no-audio = false\nreconnect-timeout=5\n[other]\nx=1\n";
    const char *const want[] = { "--clipboard=to-guest", "--kiosk", "--reconnect-timeout=5",
                                 NULL };
    g_autoptr(GError) error = NULL;
    g_auto(GStrv) args = oriel_viewer_config_to_args(good, strlen(good), "viewer.conf", &error);

    g_assert_no_error(error);
    g_assert_true(g_strv_equal((const char *const *)args, want));

    g_clear_pointer(&args, g_strfreev);
    args = oriel_viewer_config_to_args("", 0, "empty.conf", &error);
    g_assert_no_error(error);
    g_assert_cmpuint(g_strv_length(args), ==, 0);

    static const char *const bad[] = {
        "[viewer]\npassword-file = /x\n",     /* not settable from a file */
        "[viewer]\nkiosk = maybe\n",
        "[viewer\n",
        "[viewer]\ntitle = bad\\escape\nkiosk = true\n",  /* a string and an error */
    };
    for (gsize i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_auto(GStrv) none = oriel_viewer_config_to_args(bad[i], strlen(bad[i]), "bad.conf",
                                                          &error);
        g_assert_null(none);
        g_assert_error(error, ORIEL_VIEWER_ERROR, ORIEL_VIEWER_ERROR_INVALID);
        g_assert_nonnull(strstr(error->message, "bad.conf"));
        g_clear_error(&error);
    }
}

static void
test_display_file_name(void)
{
    static const struct {
        const char *path;
        guint display;
        const char *want;
    } cases[] = {
        { "shot.png", 0, "shot.png" },
        { "shot.png", 1, "shot-1.png" },
        { "/tmp/a.b/shot.png", 12, "/tmp/a.b/shot-12.png" },
        { "/tmp/a.b/shot", 2, "/tmp/a.b/shot-2" },
        { ".hidden", 1, ".hidden-1" },
        { "dir/", 3, "dir/-3" },
    };

    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autofree char *got = oriel_viewer_display_file_name(cases[i].path, cases[i].display);
        g_assert_cmpstr(got, ==, cases[i].want);
    }
}

static void
test_config_no_options(void)
{
    static const char data[] = "[viewer]\nno-auto-resize = true\nno-usb-autoshare = 1\n";
    const char *const want[] = { "--no-auto-resize", "--no-usb-autoshare", NULL };
    g_autoptr(GError) error = NULL;
    g_auto(GStrv) args = oriel_viewer_config_to_args(data, strlen(data), "viewer.conf", &error);

    g_assert_no_error(error);
    g_assert_true(g_strv_equal((const char *const *)args, want));
}

static void
test_usb_autoshare(void)
{
    g_autoptr(OrielViewerConnection) connection = oriel_viewer_connection_new();

    /* Unset in the file: on, as remote-viewer. */
    g_assert_true(oriel_viewer_usb_autoshare(TRUE, connection));
    g_assert_false(oriel_viewer_usb_autoshare(FALSE, connection));
    connection->enable_usb_autoshare = ORIEL_VIEWER_ON;
    g_assert_true(oriel_viewer_usb_autoshare(TRUE, connection));
    g_assert_false(oriel_viewer_usb_autoshare(FALSE, connection));
    connection->enable_usb_autoshare = ORIEL_VIEWER_OFF;
    g_assert_false(oriel_viewer_usb_autoshare(TRUE, connection));
    connection->enable_usb_autoshare = ORIEL_VIEWER_UNSET;
    connection->enable_usbredir = ORIEL_VIEWER_OFF;
    g_assert_false(oriel_viewer_usb_autoshare(TRUE, connection));
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/viewer/clipboard/parse", test_clipboard_parse);
    g_test_add_func("/viewer/clipboard/matrix", test_clipboard_matrix);
    g_test_add_func("/viewer/hotkeys", test_hotkeys);
    g_test_add_func("/viewer/usb-filter", test_usb_filter);
    g_test_add_func("/viewer/backoff", test_backoff);
    g_test_add_func("/viewer/config-file", test_config_file);
    g_test_add_func("/viewer/config-file/no-options", test_config_no_options);
    g_test_add_func("/viewer/display-file-name", test_display_file_name);
    g_test_add_func("/viewer/usb-autoshare", test_usb_autoshare);
    return g_test_run();
}
