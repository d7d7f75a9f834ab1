/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The one-time ticket watch (hypervisor/spice-ticket.c) fed QEMU's SPICE
 * events by hand: when it retires a ticket and when it must not.  Settle
 * times are shortened; the real QEMU runs in test-orield-tickets.sh.
 */
#include "hv-priv.h"

#define SETTLE_MS 500
#define SETTLE_MAX_MS 2500
#define CHANNEL_MAIN 1
#define CHANNEL_DISPLAY 2
#define CHANNEL_INPUTS 3

typedef struct {
    OrielHv *hv;
    OrielHvDomain *domain;
} Fixture;

static void
fixture_set_up(Fixture *f, gconstpointer data)
{
    OrielDomainConfig *config = oriel_domain_config_new();

    config->name = g_strdup("watched");
    f->hv = oriel_hv_new(ORIEL_MODE_SESSION);
    f->domain = oriel_hv_domain_add(f->hv, config, FALSE);
    oriel_hv_ticket_watch_arm_for_test(f->domain, SETTLE_MS, SETTLE_MAX_MS);
}

static void
fixture_tear_down(Fixture *f, gconstpointer data)
{
    oriel_hv_free(f->hv);
}

static gboolean
quit_loop(gpointer loop)
{
    g_main_loop_quit(loop);
    return G_SOURCE_REMOVE;
}

static void
spin(guint ms)
{
    g_autoptr(GMainLoop) loop = g_main_loop_new(NULL, FALSE);

    g_timeout_add(ms, quit_loop, loop);
    g_main_loop_run(loop);
}

/* An event as QEMU sends it; @connection_id and @type < -2^31: absent. */
static void
feed(Fixture *f, const char *name, const char *port, gint64 connection_id, gint64 type)
{
    g_autoptr(JsonObject) data = json_object_new();
    JsonObject *client = json_object_new();

    json_object_set_string_member(client, "host", "127.0.0.1");
    json_object_set_string_member(client, "port", port);
    json_object_set_string_member(client, "family", "ipv4");
    if (connection_id > G_MININT32 - 1LL)
        json_object_set_int_member(client, "connection-id", connection_id);
    if (type > G_MININT32 - 1LL)
        json_object_set_int_member(client, "channel-type", type);
    json_object_set_object_member(data, "client", client);
    oriel_hv_ticket_on_qmp_event(f->domain, name, data);
}

#define ABSENT (G_MININT32 - 2LL)

/* QEMU prints SPICE's random 32-bit connection id signed: a negative one
 * is as good as any. */
static void
test_settles_negative_id(Fixture *f, gconstpointer data)
{
    feed(f, "SPICE_CONNECTED", "40000", ABSENT, ABSENT);
    feed(f, "SPICE_INITIALIZED", "40000", -1595930678, CHANNEL_MAIN);
    feed(f, "SPICE_INITIALIZED", "40002", -1595930678, CHANNEL_DISPLAY);
    g_assert_true(oriel_hv_ticket_watch_is_armed(f->domain));
    spin(SETTLE_MS * 2);
    g_assert_false(oriel_hv_ticket_watch_is_armed(f->domain));
}

/* Each new channel of the session restarts the settle time: its later
 * channels must still link with the ticket. */
static void
test_channels_extend(Fixture *f, gconstpointer data)
{
    feed(f, "SPICE_INITIALIZED", "40000", 7, CHANNEL_MAIN);
    spin(SETTLE_MS / 2);
    feed(f, "SPICE_INITIALIZED", "40002", 7, CHANNEL_DISPLAY);
    spin(SETTLE_MS / 2);
    g_assert_true(oriel_hv_ticket_watch_is_armed(f->domain));
    spin(SETTLE_MS);
    g_assert_false(oriel_hv_ticket_watch_is_armed(f->domain));
}

/* ... but not forever. */
static void
test_settle_max(Fixture *f, gconstpointer data)
{
    feed(f, "SPICE_INITIALIZED", "40000", 7, CHANNEL_MAIN);
    for (guint elapsed = 0; elapsed < SETTLE_MAX_MS + SETTLE_MS; elapsed += SETTLE_MS / 2) {
        feed(f, "SPICE_INITIALIZED", "40002", 7, CHANNEL_INPUTS);
        spin(SETTLE_MS / 2);
    }
    g_assert_false(oriel_hv_ticket_watch_is_armed(f->domain));
}

/* Nothing happens until a main channel uses the ticket: other channels
 * (of an older session) and refused attempts do not start the clock. */
static void
test_waits_for_main(Fixture *f, gconstpointer data)
{
    feed(f, "SPICE_INITIALIZED", "40010", 99, CHANNEL_DISPLAY);
    feed(f, "SPICE_CONNECTED", "40012", ABSENT, ABSENT);
    feed(f, "SPICE_DISCONNECTED", "40012", ABSENT, ABSENT);
    feed(f, "SPICE_DISCONNECTED", "40010", ABSENT, ABSENT);
    spin(SETTLE_MS * 2);
    g_assert_true(oriel_hv_ticket_watch_is_armed(f->domain));
}

/* A second session's main channel: retired at once. */
static void
test_second_session(Fixture *f, gconstpointer data)
{
    feed(f, "SPICE_INITIALIZED", "40000", 7, CHANNEL_MAIN);
    feed(f, "SPICE_INITIALIZED", "40020", 8, CHANNEL_MAIN);
    g_assert_false(oriel_hv_ticket_watch_is_armed(f->domain));
}

/* The session's main channel closing ends the window; another address
 * closing does not. */
static void
test_disconnect(Fixture *f, gconstpointer data)
{
    feed(f, "SPICE_INITIALIZED", "40000", 7, CHANNEL_MAIN);
    feed(f, "SPICE_DISCONNECTED", "40030", ABSENT, ABSENT);
    g_assert_true(oriel_hv_ticket_watch_is_armed(f->domain));
    feed(f, "SPICE_DISCONNECTED", "40000", ABSENT, ABSENT);
    g_assert_false(oriel_hv_ticket_watch_is_armed(f->domain));
}

/* Malformed events change nothing and crash nothing. */
static void
test_malformed(Fixture *f, gconstpointer data)
{
    g_autoptr(JsonObject) empty = json_object_new();
    g_autoptr(JsonObject) odd = json_object_new();

    json_object_set_string_member(odd, "client", "not an object");
    oriel_hv_ticket_on_qmp_event(f->domain, "SPICE_INITIALIZED", NULL);
    oriel_hv_ticket_on_qmp_event(f->domain, "SPICE_INITIALIZED", empty);
    oriel_hv_ticket_on_qmp_event(f->domain, "SPICE_DISCONNECTED", odd);
    feed(f, "SPICE_INITIALIZED", "40000", ABSENT, CHANNEL_MAIN);
    feed(f, "SPICE_MIGRATE_COMPLETED", "40000", 7, CHANNEL_MAIN);
    spin(SETTLE_MS * 2);
    g_assert_true(oriel_hv_ticket_watch_is_armed(f->domain));
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
#define ADD(path, func) g_test_add(path, Fixture, NULL, fixture_set_up, func, fixture_tear_down)
    ADD("/ticket-watch/settles-negative-id", test_settles_negative_id);
    ADD("/ticket-watch/channels-extend", test_channels_extend);
    ADD("/ticket-watch/settle-max", test_settle_max);
    ADD("/ticket-watch/waits-for-main", test_waits_for_main);
    ADD("/ticket-watch/second-session", test_second_session);
    ADD("/ticket-watch/disconnect", test_disconnect);
    ADD("/ticket-watch/malformed", test_malformed);
    return g_test_run();
}
