/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Unit tests of liboriel-broker: config, request bodies, .vv, limiter. */
#include <string.h>

#include "broker.h"

static const char good_config[] =
    "[broker]\n"
    "admin-group = admins\n"
    "max-failures = 3\n"
    "[pool office]\n"
    "description = Office desktops\n"
    "golden-image = /img/office.qcow2\n"
    "desktops = 4\n"
    "memory = 2048\n"
    "persistent = true\n"
    "groups = staff;interns\n"
    "[pool kiosk]\n"
    "golden-image = /img/kiosk.raw\n"
    "golden-format = raw\n"
    "groups = public\n";

static void
test_config_good(void)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(OrielBrokerConfig) config =
        oriel_broker_config_parse_data(good_config, strlen(good_config), "broker.conf", &error);

    g_assert_no_error(error);
    g_assert_cmpstr(config->admin_group, ==, "admins");
    g_assert_cmpuint(config->max_failures, ==, 3);
    g_assert_cmpuint(config->lockout_seconds, ==, 300);
    g_assert_cmpuint(config->pools->len, ==, 2);
    OrielBrokerPoolDef *office = config->pools->pdata[0];
    g_assert_cmpstr(office->name, ==, "office");
    g_assert_cmpuint(office->desktops, ==, 4);
    g_assert_cmpuint(office->memory_mib, ==, 2048);
    g_assert_true(office->persistent);
    g_assert_cmpuint(g_strv_length(office->groups), ==, 2);
    g_assert_cmpstr(office->groups[1], ==, "interns");
    OrielBrokerPoolDef *kiosk = config->pools->pdata[1];
    g_assert_false(kiosk->persistent);
    g_assert_cmpstr(kiosk->golden_format, ==, "raw");
    g_autofree char *name = oriel_broker_desktop_name(kiosk, 3);
    g_assert_cmpstr(name, ==, "kiosk-3");
}

static void
expect_config_error(const char *text, const char *message)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(OrielBrokerConfig) config = oriel_broker_config_parse_data(text, strlen(text), "b.conf", &error);

    g_assert_null(config);
    g_assert_nonnull(error);
    if (!strstr(error->message, message))
        g_error("expected '%s' in '%s'", message, error->message);
}

static void
test_config_bad(void)
{
    expect_config_error("[pool x]\ngolden-image = /a\ndesktop = 3\n", "b.conf: [pool x]: unknown key 'desktop'");
    expect_config_error("[pool x]\n", "pool 'x': golden-image: missing");
    expect_config_error("[pool x]\ngolden-image = rel/a\n", "golden-image: expected an absolute path");
    expect_config_error("[pool x]\ngolden-image = /a\ndesktops = 0\n", "desktops: expected a number from 1 to 256");
    expect_config_error("[pool x]\ngolden-image = /a\npersistent = yes\n", "persistent: expected true or false");
    expect_config_error("[pool X]\ngolden-image = /a\n", "name: expected");
    expect_config_error("[pools x]\n", "[pools x]: unknown group");
    expect_config_error("[pool x]\ngolden-image = /a\ngroups = ok;bad group\n", "groups: 'bad group'");
    expect_config_error("[pool x]\ngolden-image = /a\ncmdline = a\"b\nkernel = /k\n", "cmdline");
    expect_config_error("[broker]\nmax-failures = -1\n", "max-failures");
    expect_config_error("not a key file", "b.conf:");
}

static void
test_pool_json(void)
{
    static const char json[] = "{\"name\": \"lab\", \"golden-image\": \"/img/lab.qcow2\", \"desktops\": 2,"
                               " \"persistent\": true, \"groups\": [\"staff\"]}";
    g_autoptr(GError) error = NULL;
    g_autoptr(OrielBrokerPoolDef) pool = oriel_broker_pool_def_from_json(json, strlen(json), &error);

    g_assert_no_error(error);
    g_assert_cmpuint(pool->desktops, ==, 2);
    g_assert_true(pool->persistent);
    g_autoptr(JsonObject) object = oriel_broker_pool_def_to_json(pool);
    g_autoptr(JsonNode) node = json_node_new(JSON_NODE_OBJECT);
    json_node_set_object(node, object);
    g_autofree char *text = json_to_string(node, FALSE);
    g_autoptr(OrielBrokerPoolDef) again = oriel_broker_pool_def_from_json(text, strlen(text), &error);
    g_assert_no_error(error);
    g_assert_cmpstr(again->groups[0], ==, "staff");

    static const char *const bad[] = {
        "{\"name\": \"lab\"}",
        "{\"name\": \"lab\", \"golden-image\": \"/a\", \"desktops\": \"2\"}",
        "{\"name\": \"lab\", \"golden-image\": \"/a\", \"groups\": \"staff\"}",
        "{\"name\": \"lab\", \"golden-image\": \"/a\", \"color\": 1}",
        "{\"name\": \"lab\", \"golden-image\": \"/a\", \"desktops\": 1e9}",
        "[]",
        "",
    };
    for (gsize i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autoptr(GError) bad_error = NULL;
        g_autoptr(OrielBrokerPoolDef) bad_pool = oriel_broker_pool_def_from_json(bad[i], strlen(bad[i]), &bad_error);
        g_assert_null(bad_pool);
        g_assert_nonnull(bad_error);
    }
}

static void
test_login_body(void)
{
    g_autofree char *user = NULL;
    g_autofree char *password = NULL;
    g_autoptr(GError) error = NULL;
    static const char good[] = "{\"user\": \"alice\", \"password\": \"s3cr\\u00e9t\"}";

    g_assert_true(oriel_broker_parse_login(good, strlen(good), &user, &password, &error));
    g_assert_cmpstr(user, ==, "alice");
    g_assert_cmpstr(password, ==, "s3cr\xc3\xa9t");

    static const char *const bad[] = {
        "{\"user\": \"alice\"}",
        "{\"user\": \"-alice\", \"password\": \"x\"}",
        "{\"user\": \"al ice\", \"password\": \"x\"}",
        "{\"user\": 1, \"password\": \"x\"}",
        "{\"user\": \"alice\", \"password\": \"x\", \"x\": 1}",
        "{\"user\": \"alice\", \"password\": \"x\"",
        "\"alice\"",
    };
    for (gsize i = 0; i < G_N_ELEMENTS(bad); i++) {
        g_autofree char *u = NULL;
        g_autofree char *p = NULL;
        g_autoptr(GError) bad_error = NULL;
        g_assert_false(oriel_broker_parse_login(bad[i], strlen(bad[i]), &u, &p, &bad_error));
        g_assert_nonnull(bad_error);
        g_assert_null(u);
    }
    g_autofree char *big = g_strnfill(ORIEL_BROKER_BODY_MAX + 1, ' ');
    g_autofree char *u = NULL;
    g_autofree char *p = NULL;
    g_autoptr(GError) big_error = NULL;
    g_assert_false(oriel_broker_parse_login(big, strlen(big), &u, &p, &big_error));
    g_assert_error(big_error, ORIEL_BROKER_SERVER_ERROR, ORIEL_BROKER_SERVER_ERROR_LIMIT);
}

static void
test_vv(void)
{
    OrielBrokerVv vv = {
        .host = "desk.example",
        .port = 5900,
        .tls_port = 5901,
        .password = "ticket",
        .title = "Office (office-1)",
        .ca_pem = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        .host_subject = "O=Oriel,CN=desk.example",
    };
    g_autoptr(GError) error = NULL;
    g_autofree char *text = oriel_broker_vv_build(&vv, &error);
    g_autoptr(GKeyFile) file = g_key_file_new();

    g_assert_no_error(error);
    g_assert_true(g_str_has_prefix(text, "[virt-viewer]\n"));
    g_assert_nonnull(strstr(text, "ca=-----BEGIN CERTIFICATE-----\\nAAAA\\n-----END CERTIFICATE-----\\n\n"));
    g_assert_true(g_key_file_load_from_data(file, text, -1, G_KEY_FILE_NONE, &error));
    g_assert_cmpint(g_key_file_get_integer(file, "virt-viewer", "tls-port", NULL), ==, 5901);
    g_assert_cmpint(g_key_file_get_integer(file, "virt-viewer", "delete-this-file", NULL), ==, 1);
    g_autofree char *secure = g_key_file_get_string(file, "virt-viewer", "secure-channels", NULL);
    g_assert_cmpstr(secure, ==, "all");
    g_autofree char *ca = g_key_file_get_string(file, "virt-viewer", "ca", NULL);
    g_assert_cmpstr(ca, ==, vv.ca_pem);

    OrielBrokerVv plain = { .host = "127.0.0.1", .port = 5900, .password = "t" };
    g_autofree char *plain_text = oriel_broker_vv_build(&plain, &error);
    g_assert_null(strstr(plain_text, "tls-port"));
    g_assert_null(strstr(plain_text, "secure-channels"));
}

static void
test_ticket_reply(void)
{
    g_autoptr(GError) error = NULL;

    /* An orield before one-time tickets: the address only. */
    g_autoptr(JsonObject) old = json_object_new();
    g_auto(OrielBrokerTicket) old_ticket = { 0 };
    json_object_set_string_member(old, "uri", "spice://127.0.0.1:5901?password=abc");
    json_object_set_string_member(old, "address", "spice://127.0.0.1:5901");
    json_object_set_string_member(old, "ticket", "abc");
    json_object_set_int_member(old, "expires", 60);
    g_assert_true(oriel_broker_parse_ticket_reply(old, &old_ticket, &error));
    g_assert_cmpstr(old_ticket.host, ==, "127.0.0.1");
    g_assert_cmpuint(old_ticket.port, ==, 5901);
    g_assert_cmpuint(old_ticket.tls_port, ==, 0);
    g_assert_null(old_ticket.ca_pem);

    /* Host and ports as members, TLS details included. */
    g_autoptr(JsonObject) tls = json_object_new();
    g_auto(OrielBrokerTicket) tls_ticket = { 0 };
    json_object_set_string_member(tls, "address", "spice://[::1]:5902");
    json_object_set_string_member(tls, "host", "::1");
    json_object_set_int_member(tls, "port", 0);
    json_object_set_int_member(tls, "tls_port", 5903);
    json_object_set_string_member(tls, "ticket", "x");
    json_object_set_string_member(tls, "ca", "PEM");
    json_object_set_string_member(tls, "host_subject", "O=Oriel,CN=h");
    g_assert_true(oriel_broker_parse_ticket_reply(tls, &tls_ticket, &error));
    g_assert_cmpstr(tls_ticket.host, ==, "::1");
    g_assert_cmpuint(tls_ticket.port, ==, 0);
    g_assert_cmpuint(tls_ticket.tls_port, ==, 5903);
    g_assert_cmpstr(tls_ticket.host_subject, ==, "O=Oriel,CN=h");

    static const char *const bad_addresses[] = { "spice://host", "spice://host:0", "vnc://h:1", "spice://[::1:5" };
    for (gsize i = 0; i < G_N_ELEMENTS(bad_addresses); i++) {
        g_autoptr(JsonObject) bad = json_object_new();
        g_auto(OrielBrokerTicket) bad_ticket = { 0 };
        g_autoptr(GError) bad_error = NULL;
        json_object_set_string_member(bad, "address", bad_addresses[i]);
        json_object_set_string_member(bad, "ticket", "x");
        g_assert_false(oriel_broker_parse_ticket_reply(bad, &bad_ticket, &bad_error));
        g_assert_null(bad_ticket.host);
    }
}

static void
test_limiter(void)
{
    g_autoptr(OrielBrokerConfig) config = oriel_broker_config_new();
    config->max_failures = 3;
    config->lockout_seconds = 100;
    config->rate_limit_user = 5;
    config->rate_limit_address = 8;
    config->rate_limit_window = 60;
    g_autoptr(OrielBrokerLimiter) limiter = oriel_broker_limiter_new(config);
    guint retry = 0;

    /* Three failures lock the user out for 100 s; others are not affected. */
    for (int i = 0; i < 3; i++) {
        g_assert_cmpint(oriel_broker_limiter_attempt(limiter, "bob", "10.0.0.1", 1000, &retry), ==,
                        ORIEL_BROKER_LIMIT_ALLOW);
        g_assert_cmpint(oriel_broker_limiter_result(limiter, "bob", FALSE, 1000), ==, i == 2);
    }
    g_assert_cmpint(oriel_broker_limiter_attempt(limiter, "bob", "10.0.0.2", 1010, &retry), ==,
                    ORIEL_BROKER_LIMIT_LOCKED);
    g_assert_cmpuint(retry, ==, 90);
    g_assert_cmpint(oriel_broker_limiter_attempt(limiter, "carol", "10.0.0.2", 1010, &retry), ==,
                    ORIEL_BROKER_LIMIT_ALLOW);
    g_assert_cmpint(oriel_broker_limiter_attempt(limiter, "bob", "10.0.0.2", 1100, &retry), ==,
                    ORIEL_BROKER_LIMIT_ALLOW);

    /* A success resets the failure count. */
    oriel_broker_limiter_result(limiter, "carol", FALSE, 1010);
    oriel_broker_limiter_result(limiter, "carol", FALSE, 1010);
    oriel_broker_limiter_result(limiter, "carol", TRUE, 1010);
    g_assert_false(oriel_broker_limiter_result(limiter, "carol", FALSE, 1010));

    /* Per address: 8 attempts a minute, whoever the user. */
    for (int i = 0; i < 8; i++) {
        g_autofree char *user = g_strdup_printf("u%d", i);
        g_assert_cmpint(oriel_broker_limiter_attempt(limiter, user, "10.0.0.9", 2000, &retry), ==,
                        ORIEL_BROKER_LIMIT_ALLOW);
    }
    g_assert_cmpint(oriel_broker_limiter_attempt(limiter, "u9", "10.0.0.9", 2030, &retry), ==,
                    ORIEL_BROKER_LIMIT_RATE);
    g_assert_cmpuint(retry, ==, 30);
    g_assert_cmpint(oriel_broker_limiter_attempt(limiter, "u9", "10.0.0.9", 2060, &retry), ==,
                    ORIEL_BROKER_LIMIT_ALLOW);

    /* Per user: 5 a minute, whatever the address. */
    for (int i = 0; i < 5; i++) {
        g_autofree char *address = g_strdup_printf("10.1.0.%d", i);
        g_assert_cmpint(oriel_broker_limiter_attempt(limiter, "dave", address, 3000, &retry), ==,
                        ORIEL_BROKER_LIMIT_ALLOW);
    }
    g_assert_cmpint(oriel_broker_limiter_attempt(limiter, "dave", "10.1.0.99", 3001, &retry), ==,
                    ORIEL_BROKER_LIMIT_RATE);
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/broker/config/good", test_config_good);
    g_test_add_func("/broker/config/bad", test_config_bad);
    g_test_add_func("/broker/pool-json", test_pool_json);
    g_test_add_func("/broker/login-body", test_login_body);
    g_test_add_func("/broker/vv", test_vv);
    g_test_add_func("/broker/ticket-reply", test_ticket_reply);
    g_test_add_func("/broker/limiter", test_limiter);
    return g_test_run();
}
