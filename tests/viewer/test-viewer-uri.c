/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* spice:// URIs: every accepted form, and the refusals. */
#include <glib.h>

#include "oriel-viewer.h"

static void
test_plain(void)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(OrielViewerConnection) c =
        oriel_viewer_connection_parse_uri("spice://127.0.0.1:5900", &error);

    g_assert_no_error(error);
    g_assert_cmpstr(c->host, ==, "127.0.0.1");
    g_assert_cmpint(c->port, ==, 5900);
    g_assert_cmpint(c->tls_port, ==, 0);
    g_assert_null(c->password);
    g_assert_null(c->unix_path);
}

static void
test_query(void)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(OrielViewerConnection) c = oriel_viewer_connection_parse_uri(
        "spice://desk.example?port=5901&tls-port=5902&password=s%20cret", &error);

    g_assert_no_error(error);
    g_assert_cmpstr(c->host, ==, "desk.example");
    g_assert_cmpint(c->port, ==, 5901);
    g_assert_cmpint(c->tls_port, ==, 5902);
    g_assert_cmpstr(c->password, ==, "s cret");
}

static void
test_tls_only(void)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(OrielViewerConnection) c =
        oriel_viewer_connection_parse_uri("spice+tls://[::1]:5910", &error);
    g_autofree char *described = NULL;

    g_assert_no_error(error);
    g_assert_cmpstr(c->host, ==, "::1");
    g_assert_cmpint(c->port, ==, 0);
    g_assert_cmpint(c->tls_port, ==, 5910);
    described = oriel_viewer_connection_describe(c);
    g_assert_cmpstr(described, ==, "spice+tls://[::1]:5910");
}

static void
test_unix(void)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(OrielViewerConnection) c =
        oriel_viewer_connection_parse_uri("spice+unix:///run/oriel/desk.sock", &error);
    g_autofree char *described = NULL;

    g_assert_no_error(error);
    g_assert_cmpstr(c->unix_path, ==, "/run/oriel/desk.sock");
    g_assert_null(c->host);
    described = oriel_viewer_connection_describe(c);
    g_assert_cmpstr(described, ==, "spice+unix:///run/oriel/desk.sock");
}

static void
test_describe_hides_password(void)
{
    g_autoptr(OrielViewerConnection) c =
        oriel_viewer_connection_parse_uri("spice://h?port=1&password=topsecret", NULL);
    g_autofree char *described = oriel_viewer_connection_describe(c);

    g_assert_cmpstr(described, ==, "spice://h:1");
}

static void
test_invalid(void)
{
    static const char *const bad[] = {
        "spice://",                        /* no host */
        "spice://host",                    /* no port */
        "spice://host:0",
        "spice://host:65536",
        "spice://host?port=abc",
        "spice://host?port=5900&bogus=1",  /* unknown parameter */
        "spice://user@host:5900",          /* no user part */
        "spice://host:5900/path",
        "spice://host:5900#frag",
        "vnc://host:5900",                 /* unsupported scheme */
        "spice+unix://host/path",          /* host in a unix URI */
        "spice+unix://",                   /* no path */
        "not a uri",
    };

    for (gsize i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autoptr(GError) error = NULL;
        g_autoptr(OrielViewerConnection) c = oriel_viewer_connection_parse_uri(bad[i], &error);
        if (c || !error)
            g_error("accepted \"%s\"", bad[i]);
        g_assert_true(error->domain == ORIEL_VIEWER_ERROR);
        g_assert_nonnull(error->message);
    }
}

static void
test_looks_like_uri(void)
{
    g_assert_true(oriel_viewer_looks_like_uri("spice://h:1"));
    g_assert_true(oriel_viewer_looks_like_uri("spice+tls://h:1"));
    g_assert_true(oriel_viewer_looks_like_uri("spice+unix:///p"));
    g_assert_false(oriel_viewer_looks_like_uri("desk.vv"));
    g_assert_false(oriel_viewer_looks_like_uri("-"));
    g_assert_false(oriel_viewer_looks_like_uri("my-desktop"));
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/viewer/uri/plain", test_plain);
    g_test_add_func("/viewer/uri/query", test_query);
    g_test_add_func("/viewer/uri/tls-only", test_tls_only);
    g_test_add_func("/viewer/uri/unix", test_unix);
    g_test_add_func("/viewer/uri/describe-hides-password", test_describe_hides_password);
    g_test_add_func("/viewer/uri/invalid", test_invalid);
    g_test_add_func("/viewer/uri/looks-like-uri", test_looks_like_uri);
    return g_test_run();
}
