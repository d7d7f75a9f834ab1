/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* virt-viewer .vv files: every key, delete-this-file, round trips and
 * malformed files. */
#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>

#include "oriel-viewer.h"

static const char full_vv[] =
    "# a broker's file, with everything in it\n"
    "[virt-viewer]\n"
    "type=spice\n"
    "host=desk.example\n"
    "port=5900\n"
    "tls-port=5901\n"
    "unix-path=/run/desk.sock\n"
    "username=alice\n"
    "password=t1cket\n"
    "title=Alice's desktop\n"
    "fullscreen=1\n"
    "ca=-----BEGIN CERTIFICATE-----\\nMIIB\\n-----END CERTIFICATE-----\\n\n"
    "host-subject=C=XX,O=Oriel,CN=desk.example\n"
    "tls-ciphers=DEFAULT\n"
    "secure-channels=main;inputs;display\n"
    "disable-channels=playback; record;\n"
    "proxy=http://proxy.example:3128\n"
    "enable-usbredir=1\n"
    "enable-usb-autoshare=0\n"
    "usb-filter=0x03,-1,-1,-1,0|-1,-1,-1,-1,1\n"
    "release-cursor=shift+f12\n"
    "toggle-fullscreen=shift+f11\n"
    "secure-attention=ctrl+alt+end\n"
    "zoom-in=ctrl+plus\n"
    "zoom-out=ctrl+minus\n"
    "zoom-reset=ctrl+0\n"
    "delete-this-file=1\n"
    "x-oriel-extension=ignored\n"
    "some-future-key=ignored\n"
    "\n"
    "[ovirt]\n"
    "host=engine.example\n";

static void
check_full(const OrielViewerConnection *c)
{
    const char *const secure[] = { "main", "inputs", "display", NULL };
    const char *const disabled[] = { "playback", "record", NULL };

    g_assert_cmpstr(c->host, ==, "desk.example");
    g_assert_cmpint(c->port, ==, 5900);
    g_assert_cmpint(c->tls_port, ==, 5901);
    g_assert_cmpstr(c->unix_path, ==, "/run/desk.sock");
    g_assert_cmpstr(c->username, ==, "alice");
    g_assert_cmpstr(c->password, ==, "t1cket");
    g_assert_cmpstr(c->title, ==, "Alice's desktop");
    g_assert_cmpint(c->fullscreen, ==, ORIEL_VIEWER_ON);
    g_assert_cmpstr(c->ca, ==, "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n");
    g_assert_cmpstr(c->host_subject, ==, "C=XX,O=Oriel,CN=desk.example");
    g_assert_cmpstr(c->tls_ciphers, ==, "DEFAULT");
    g_assert_true(g_strv_equal((const char *const *)c->secure_channels, secure));
    g_assert_true(g_strv_equal((const char *const *)c->disable_channels, disabled));
    g_assert_cmpstr(c->proxy, ==, "http://proxy.example:3128");
    g_assert_cmpint(c->enable_usbredir, ==, ORIEL_VIEWER_ON);
    g_assert_cmpint(c->enable_usb_autoshare, ==, ORIEL_VIEWER_OFF);
    g_assert_cmpstr(c->usb_filter, ==, "0x03,-1,-1,-1,0|-1,-1,-1,-1,1");
    g_assert_cmpstr(c->release_cursor, ==, "shift+f12");
    g_assert_cmpstr(c->toggle_fullscreen, ==, "shift+f11");
    g_assert_cmpstr(c->secure_attention, ==, "ctrl+alt+end");
    g_assert_cmpstr(c->zoom_in, ==, "ctrl+plus");
    g_assert_cmpstr(c->zoom_out, ==, "ctrl+minus");
    g_assert_cmpstr(c->zoom_reset, ==, "ctrl+0");
    g_assert_true(c->delete_this_file);
}

static void
test_every_key(void)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(OrielViewerConnection) c =
        oriel_viewer_vv_parse_data(full_vv, strlen(full_vv), &error);

    g_assert_no_error(error);
    check_full(c);
}

static void
test_minimal_defaults(void)
{
    static const char vv[] = "[virt-viewer]\ntype=spice\nhost=h\nport=5900\n";
    g_autoptr(GError) error = NULL;
    g_autoptr(OrielViewerConnection) c = oriel_viewer_vv_parse_data(vv, strlen(vv), &error);

    g_assert_no_error(error);
    g_assert_cmpstr(c->host, ==, "h");
    g_assert_cmpint(c->port, ==, 5900);
    g_assert_cmpint(c->tls_port, ==, 0);
    g_assert_cmpint(c->fullscreen, ==, ORIEL_VIEWER_UNSET);
    g_assert_cmpint(c->enable_usbredir, ==, ORIEL_VIEWER_UNSET);
    g_assert_cmpint(c->enable_usb_autoshare, ==, ORIEL_VIEWER_UNSET);
    g_assert_null(c->password);
    g_assert_null(c->secure_channels);
    g_assert_false(c->delete_this_file);
}

/* virt-viewer writes -1 for "no port" and true/false are GKeyFile's. */
static void
test_virt_viewer_spellings(void)
{
    static const char vv[] = "[virt-viewer]\ntype=spice\nhost=h\nport=-1\ntls-port=5901\n"
                             "fullscreen=true\nenable-usbredir=false\n";
    g_autoptr(GError) error = NULL;
    g_autoptr(OrielViewerConnection) c = oriel_viewer_vv_parse_data(vv, strlen(vv), &error);

    g_assert_no_error(error);
    g_assert_cmpint(c->port, ==, 0);
    g_assert_cmpint(c->tls_port, ==, 5901);
    g_assert_cmpint(c->fullscreen, ==, ORIEL_VIEWER_ON);
    g_assert_cmpint(c->enable_usbredir, ==, ORIEL_VIEWER_OFF);
}

static void
test_round_trip(void)
{
    g_autoptr(OrielViewerConnection) c =
        oriel_viewer_vv_parse_data(full_vv, strlen(full_vv), NULL);
    gsize length = 0;
    g_autofree char *written = oriel_viewer_vv_to_data(c, &length);
    g_autoptr(GError) error = NULL;
    g_autoptr(OrielViewerConnection) again =
        oriel_viewer_vv_parse_data(written, length, &error);
    g_autofree char *rewritten = NULL;

    g_assert_no_error(error);
    check_full(again);
    rewritten = oriel_viewer_vv_to_data(again, NULL);
    g_assert_cmpstr(rewritten, ==, written);
}

static void
test_delete_this_file(void)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *dir = g_dir_make_tmp("oriel-vv-XXXXXX", &error);
    g_autofree char *kept = g_build_filename(dir, "kept.vv", NULL);
    g_autofree char *deleted = g_build_filename(dir, "deleted.vv", NULL);
    static const char keep_vv[] = "[virt-viewer]\ntype=spice\nhost=h\nport=1\n";
    static const char delete_vv[] =
        "[virt-viewer]\ntype=spice\nhost=h\nport=1\npassword=once\ndelete-this-file=1\n";

    g_assert_no_error(error);
    g_assert_true(g_file_set_contents(kept, keep_vv, -1, NULL));
    g_assert_true(g_file_set_contents(deleted, delete_vv, -1, NULL));
    {
        g_autoptr(OrielViewerConnection) c = oriel_viewer_vv_load(kept, &error);
        g_assert_no_error(error);
        g_assert_false(c->delete_this_file);
        g_assert_true(g_file_test(kept, G_FILE_TEST_EXISTS));
    }
    {
        g_autoptr(OrielViewerConnection) c = oriel_viewer_vv_load(deleted, &error);
        g_assert_no_error(error);
        g_assert_true(c->delete_this_file);
        g_assert_cmpstr(c->password, ==, "once");
        g_assert_false(g_file_test(deleted, G_FILE_TEST_EXISTS));
    }
    /* A malformed file is not deleted: the user may want to look at it. */
    g_assert_true(g_file_set_contents(deleted, "[virt-viewer]\ntype=spice\ndelete-this-file=1\n",
                                      -1, NULL));
    {
        g_autoptr(OrielViewerConnection) c = oriel_viewer_vv_load(deleted, &error);
        g_assert_null(c);
        g_assert_error(error, ORIEL_VIEWER_ERROR, ORIEL_VIEWER_ERROR_INVALID);
        g_assert_nonnull(strstr(error->message, "deleted.vv"));
        g_clear_error(&error);
        g_assert_true(g_file_test(deleted, G_FILE_TEST_EXISTS));
    }
    g_assert_null(oriel_viewer_vv_load("/nonexistent/oriel.vv", &error));
    g_assert_error(error, G_FILE_ERROR, G_FILE_ERROR_NOENT);
    g_unlink(kept);
    g_unlink(deleted);
    g_rmdir(dir);
}

static void
test_malformed(void)
{
    struct {
        const char *data;
        const char *message_part;
    } bad[] = {
        { "", "no [virt-viewer] group" },
        { "host=h\n", "not a connection file" },
        { "[virt-viewer\ntype=spice\n", "not a connection file" },
        { "[other]\ntype=spice\n", "no [virt-viewer] group" },
        { "[virt-viewer]\nhost=h\nport=1\n", "type: missing" },
        { "[virt-viewer]\ntype=vnc\nhost=h\nport=1\n", "not supported" },
        { "[virt-viewer]\ntype=spice\nport=1\n", "host: missing" },
        { "[virt-viewer]\ntype=spice\nhost=h\n", "port: missing" },
        { "[virt-viewer]\ntype=spice\nhost=h\nport=70000\n", "port: \"70000\"" },
        { "[virt-viewer]\ntype=spice\nhost=h\nport=12ab\n", "port: \"12ab\"" },
        { "[virt-viewer]\ntype=spice\nhost=h\nport=1\nfullscreen=maybe\n",
          "fullscreen: \"maybe\" is not a boolean" },
        { "[virt-viewer]\ntype=spice\nhost=h\nport=1\ndelete-this-file=yes\n",
          "delete-this-file" },
        { "[virt-viewer]\ntype=spice\nhost=h\nport=1\ntitle=\xff\xfe\n", "title:" },
        { "[virt-viewer]\ntype=spice\nhost=h\nport=1\nca=bad\\escape\n", "ca:" },
        { "[virt-viewer]\ntype=spice\nhost=h\nport=1\ndelete-this-file=1\\q\n",
          "delete-this-file" },
    };

    for (gsize i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autoptr(GError) error = NULL;
        g_autoptr(OrielViewerConnection) c =
            oriel_viewer_vv_parse_data(bad[i].data, strlen(bad[i].data), &error);
        if (c)
            g_error("accepted case %zu", i);
        g_assert_nonnull(error);
        if (!strstr(error->message, bad[i].message_part))
            g_error("case %zu: \"%s\" does not mention \"%s\"", i, error->message,
                    bad[i].message_part);
    }
}

static void
test_nul_and_size(void)
{
    static const char with_nul[] = "[virt-viewer]\ntype=spice\0\nhost=h\nport=1\n";
    g_autoptr(GError) error = NULL;
    g_autofree char *huge = g_malloc0(ORIEL_VIEWER_VV_MAX_SIZE + 2);

    g_assert_null(oriel_viewer_vv_parse_data(with_nul, sizeof with_nul - 1, &error));
    g_assert_error(error, ORIEL_VIEWER_ERROR, ORIEL_VIEWER_ERROR_INVALID);
    g_clear_error(&error);
    memset(huge, '#', ORIEL_VIEWER_VV_MAX_SIZE + 1);
    g_assert_null(oriel_viewer_vv_parse_data(huge, ORIEL_VIEWER_VV_MAX_SIZE + 1, &error));
    g_assert_error(error, ORIEL_VIEWER_ERROR, ORIEL_VIEWER_ERROR_TOO_LARGE);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/viewer/vv/every-key", test_every_key);
    g_test_add_func("/viewer/vv/minimal-defaults", test_minimal_defaults);
    g_test_add_func("/viewer/vv/virt-viewer-spellings", test_virt_viewer_spellings);
    g_test_add_func("/viewer/vv/round-trip", test_round_trip);
    g_test_add_func("/viewer/vv/delete-this-file", test_delete_this_file);
    g_test_add_func("/viewer/vv/malformed", test_malformed);
    g_test_add_func("/viewer/vv/nul-and-size", test_nul_and_size);
    return g_test_run();
}
