/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The viewer's reading of oriel-broker replies (broker-proto.h): login,
 * desktop list, errors, URLs, and every bound on what the broker sends. */
#include <glib.h>
#include <string.h>

#include "broker-proto.h"

#define PARSE_LOGIN(text, error) oriel_broker_login_parse((text), strlen(text), (error))
#define PARSE_POOLS(text, error) oriel_broker_pools_parse((text), strlen(text), (error))

static void
test_login(void)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(OrielBrokerLogin) login = PARSE_LOGIN(
        "{\"token\":\"abc.DEF-123_x\",\"user\":\"alice\",\"groups\":[\"staff\",\"oriel-users\"],"
        "\"expires\":1795700000,\"extra\":{\"ignored\":true}}", &error);

    g_assert_no_error(error);
    g_assert_cmpstr(login->token, ==, "abc.DEF-123_x");
    g_assert_cmpstr(login->user, ==, "alice");
    g_assert_cmpuint(g_strv_length(login->groups), ==, 2);
    g_assert_cmpstr(login->groups[1], ==, "oriel-users");
    g_assert_cmpint(login->expires, ==, 1795700000);

    /* Only the token is required. */
    g_autoptr(OrielBrokerLogin) minimal = PARSE_LOGIN("{\"token\":\"t\"}", &error);
    g_assert_no_error(error);
    g_assert_null(minimal->user);
    g_assert_cmpuint(g_strv_length(minimal->groups), ==, 0);
    g_assert_cmpint(minimal->expires, ==, 0);
}

static void
test_login_bad(void)
{
    static const char *const bad[] = {
        "",
        "not json",
        "[]",
        "{}",                                            /* no token */
        "{\"token\":\"\"}",                              /* empty token */
        "{\"token\":42}",
        "{\"token\":\"a b\"}",                           /* a header cannot carry it */
        "{\"token\":\"a\\r\\nX-Evil: 1\"}",              /* header injection */
        "{\"token\":\"t\",\"groups\":\"staff\"}",
        "{\"token\":\"t\",\"groups\":[1]}",
        "{\"token\":\"t\",\"expires\":\"soon\"}",
        "{\"token\":\"t\",\"user\":[\"alice\"]}",
    };

    for (gsize i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autoptr(GError) error = NULL;
        g_autoptr(OrielBrokerLogin) login = PARSE_LOGIN(bad[i], &error);
        g_assert_null(login);
        g_assert_error(error, ORIEL_BROKER_ERROR, ORIEL_BROKER_ERROR_PROTOCOL);
    }
    /* Not text at all. */
    g_autoptr(GError) error = NULL;
    g_assert_null(oriel_broker_login_parse("{\"token\":\"t\"}\0", 14, &error));
    g_assert_error(error, ORIEL_BROKER_ERROR, ORIEL_BROKER_ERROR_PROTOCOL);
    g_clear_error(&error);
    g_assert_null(oriel_broker_login_parse("{\"token\":\"\xff\"}", 12, &error));
    g_assert_error(error, ORIEL_BROKER_ERROR, ORIEL_BROKER_ERROR_PROTOCOL);
}

static void
test_login_bounds(void)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *long_token = g_strnfill(ORIEL_BROKER_TOKEN_MAX + 1, 'a');
    g_autofree char *text = g_strdup_printf("{\"token\":\"%s\"}", long_token);

    g_assert_null(PARSE_LOGIN(text, &error));
    g_assert_error(error, ORIEL_BROKER_ERROR, ORIEL_BROKER_ERROR_PROTOCOL);
    g_clear_error(&error);

    /* A reply past the cap is refused before it is parsed. */
    g_autofree char *huge = g_malloc(ORIEL_BROKER_REPLY_MAX + 2);
    memset(huge, ' ', ORIEL_BROKER_REPLY_MAX + 1);
    huge[ORIEL_BROKER_REPLY_MAX + 1] = '\0';
    memcpy(huge, "{\"token\":\"t\"}", 13);
    g_assert_null(oriel_broker_login_parse(huge, ORIEL_BROKER_REPLY_MAX + 1, &error));
    g_assert_error(error, ORIEL_BROKER_ERROR, ORIEL_BROKER_ERROR_PROTOCOL);
    g_assert_nonnull(strstr(error->message, "too large"));
}

static void
test_pools(void)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GPtrArray) pools = PARSE_POOLS(
        "{\"pools\":[{\"name\":\"office\",\"description\":\"Office desktops\",\"persistent\":true,"
        "\"free\":3,\"assigned\":\"office-2\"},"
        "{\"name\":\"lab.x_1-b\",\"persistent\":false,\"free\":0,\"assigned\":null},"
        "{\"name\":\"kiosk\",\"assigned\":true}]}", &error);

    g_assert_no_error(error);
    g_assert_cmpuint(pools->len, ==, 3);
    OrielBrokerPool *office = pools->pdata[0], *lab = pools->pdata[1], *kiosk = pools->pdata[2];
    g_assert_cmpstr(office->name, ==, "office");
    g_assert_cmpstr(office->description, ==, "Office desktops");
    g_assert_true(office->persistent);
    g_assert_cmpint(office->free, ==, 3);
    g_assert_cmpstr(office->assigned, ==, "office-2");
    g_assert_cmpstr(lab->description, ==, "");
    g_assert_false(lab->persistent);
    g_assert_cmpint(lab->free, ==, 0);
    g_assert_null(lab->assigned);
    g_assert_cmpint(kiosk->free, ==, -1);
    g_assert_nonnull(kiosk->assigned);

    g_autoptr(GPtrArray) none = PARSE_POOLS("{\"pools\":[]}", &error);
    g_assert_no_error(error);
    g_assert_cmpuint(none->len, ==, 0);
}

static void
test_pools_bad(void)
{
    static const char *const bad[] = {
        "{}",
        "{\"pools\":{}}",
        "{\"pools\":[1]}",
        "{\"pools\":[{}]}",
        "{\"pools\":[{\"name\":\"../admin\"}]}",        /* goes into a URL path */
        "{\"pools\":[{\"name\":\"a/b\"}]}",
        "{\"pools\":[{\"name\":\".hidden\"}]}",
        "{\"pools\":[{\"name\":\"a b\"}]}",
        "{\"pools\":[{\"name\":\"\"}]}",
        "{\"pools\":[{\"name\":\"p\",\"persistent\":\"yes\"}]}",
        "{\"pools\":[{\"name\":\"p\",\"free\":\"3\"}]}",
        "{\"pools\":[{\"name\":\"p\",\"assigned\":7}]}",
        "{\"pools\":[{\"name\":\"p\",\"description\":[]}]}",
    };

    for (gsize i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autoptr(GError) error = NULL;
        g_autoptr(GPtrArray) pools = PARSE_POOLS(bad[i], &error);
        if (pools)
            g_error("accepted: %s", bad[i]);
        g_assert_error(error, ORIEL_BROKER_ERROR, ORIEL_BROKER_ERROR_PROTOCOL);
    }

    /* More pools than the cap. */
    g_autoptr(GString) many = g_string_new("{\"pools\":[");
    for (int i = 0; i <= ORIEL_BROKER_POOLS_MAX; i++)
        g_string_append_printf(many, "%s{\"name\":\"p%d\"}", i ? "," : "", i);
    g_string_append(many, "]}");
    g_autoptr(GError) error = NULL;
    g_assert_null(oriel_broker_pools_parse(many->str, many->len, &error));
    g_assert_error(error, ORIEL_BROKER_ERROR, ORIEL_BROKER_ERROR_PROTOCOL);
}

static void
test_errors(void)
{
    g_autofree char *message = oriel_broker_error_message("{\"error\":\"wrong user or password\"}", 34);
    g_assert_cmpstr(message, ==, "wrong user or password");
    g_assert_null(oriel_broker_error_message("", 0));
    g_assert_null(oriel_broker_error_message("<html>", 6));
    g_assert_null(oriel_broker_error_message("{\"error\":5}", 11));

    /* Control characters from the peer never reach the terminal. */
    g_autofree char *escaped = oriel_broker_error_message("{\"error\":\"a\\u001b[2Jb\\nc\"}", 26);
    g_assert_cmpstr(escaped, ==, "a [2Jb c");

    static const struct {
        guint status;
        OrielBrokerError code;
    } cases[] = {
        { 401, ORIEL_BROKER_ERROR_AUTH },
        { 403, ORIEL_BROKER_ERROR_FORBIDDEN },
        { 404, ORIEL_BROKER_ERROR_NOT_FOUND },
        { 429, ORIEL_BROKER_ERROR_LOCKED },
        { 503, ORIEL_BROKER_ERROR_UNAVAILABLE },
        { 500, ORIEL_BROKER_ERROR_UNAVAILABLE },
        { 400, ORIEL_BROKER_ERROR_PROTOCOL },
    };
    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autoptr(GError) error = NULL;
        oriel_broker_set_http_error(&error, "login", cases[i].status, "Reason", "{\"error\":\"told\"}", 16);
        g_assert_error(error, ORIEL_BROKER_ERROR, (gint)cases[i].code);
        g_autofree char *expected = g_strdup_printf("login: told (HTTP %u)", cases[i].status);
        g_assert_cmpstr(error->message, ==, expected);
    }
    g_autoptr(GError) error = NULL;
    oriel_broker_set_http_error(&error, "the desktop list", 502, "Bad Gateway", "<html>", 6);
    g_assert_cmpstr(error->message, ==, "the desktop list: Bad Gateway (HTTP 502)");
}

static void
test_urls(void)
{
    static const struct {
        const char *in, *out;
    } good[] = {
        { "https://broker.example", "https://broker.example" },
        { "https://broker.example/", "https://broker.example" },
        { "https://127.0.0.1:8443", "https://127.0.0.1:8443" },
        { "HTTPS://broker.example:443/", "https://broker.example:443" },
        { "https://[::1]:8443", "https://[::1]:8443" },
    };
    static const char *const bad[] = {
        "", "http://broker.example", "broker.example", "https://", "https://user:pw@broker.example",
        "https://broker.example/api", "https://broker.example/?x=1", "https://broker.example/#f",
        "spice://broker.example",
    };

    for (gsize i = 0; i < G_N_ELEMENTS(good); i++) {
        g_autoptr(GError) error = NULL;
        g_autofree char *url = oriel_broker_url_normalize(good[i].in, &error);
        g_assert_no_error(error);
        g_assert_cmpstr(url, ==, good[i].out);
    }
    for (gsize i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autoptr(GError) error = NULL;
        g_autofree char *url = oriel_broker_url_normalize(bad[i], &error);
        if (url)
            g_error("accepted: %s", bad[i]);
        g_assert_error(error, ORIEL_BROKER_ERROR, ORIEL_BROKER_ERROR_INVALID);
    }
}

static void
test_login_request(void)
{
    g_autofree char *body = oriel_broker_login_request("al\"ice", "p\\w\n\"x");
    g_assert_cmpstr(body, ==, "{\"user\":\"al\\\"ice\",\"password\":\"p\\\\w\\n\\\"x\"}");
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/broker/login", test_login);
    g_test_add_func("/broker/login-bad", test_login_bad);
    g_test_add_func("/broker/login-bounds", test_login_bounds);
    g_test_add_func("/broker/pools", test_pools);
    g_test_add_func("/broker/pools-bad", test_pools_bad);
    g_test_add_func("/broker/errors", test_errors);
    g_test_add_func("/broker/urls", test_urls);
    g_test_add_func("/broker/login-request", test_login_request);
    return g_test_run();
}
