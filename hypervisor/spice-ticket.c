/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * SPICE tickets: domain-spice-ticket sets a fresh password with QMP
 * set_password, makes it lapse with expire_password, and answers with what
 * a client (or the broker, writing a .vv) needs: address, ports, ticket,
 * expiry and, for a TLS port, the CA and the server certificate's subject.
 *
 * One-time tickets.  spice-server checks the ticket on every channel link
 * (main, display, inputs, cursor, playback, record, usbredir...), not only
 * on the main channel, so the password cannot be replaced the moment the
 * first client's main channel is up: its other channels would be refused.
 * Instead the daemon watches QEMU's SPICE_INITIALIZED events.  The first
 * main channel initialized after the ticket was set names the session
 * (its connection-id) that used it; every further channel of that session
 * restarts a settle timer; once no channel of it has linked for
 * TICKET_SETTLE_MS (or TICKET_SETTLE_MAX_MS after its main channel at the
 * latest, or at once when it disconnects or a second session's main channel
 * shows up) the password is replaced with a random one nobody knows
 * (set_password, connected=keep): the running session stays, a second
 * connection with the same ticket is refused.
 *
 * The residual window: from the first session's main channel until the
 * rotation (the settle time after its last channel, normally a little over
 * TICKET_SETTLE_MS) someone else holding the same ticket could still link.
 * spice-server then hands the display to that second client and drops the
 * first, which the daemon sees (a second main channel) and answers by
 * rotating at once.  A channel the first client opens after the rotation
 * (a display enabled much later, a usbredir channel reconnected) is refused.
 */
#include "hv-priv.h"

#include <errno.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>

#define TICKET_BYTES 12
#define TICKET_SETTLE_MS 2000        /* quiet time after the session's last channel */
#define TICKET_SETTLE_MAX_MS 20000   /* after its main channel, at the latest */
#define QMP_TIMEOUT_MS 30000
#define SPICE_CHANNEL_TYPE_MAIN 1
#define CA_MAX_SIZE (256 * 1024)     /* a CA bundle, not a file to slurp whole */

struct _OrielHvTicketWatch {
    gboolean armed;          /* a one-time ticket is set and not yet rotated */
    guint64 generation;      /* of the last ticket set by us */
    gboolean has_session;    /* a session used it: */
    gint64 session_id;       /* its connection-id */
    char *main_address;      /* its main channel's client "host:port" */
    guint settle_id;
    guint settle_max_id;
    guint settle_ms;         /* TICKET_SETTLE_MS; shorter in unit tests */
    guint settle_max_ms;
    OrielHvDomain *domain;   /* back pointer; the watch lives and dies with it */
};

static char *
generate_ticket(GError **error)
{
    guint8 bytes[TICKET_BYTES];

    if (getrandom(bytes, sizeof(bytes), 0) != sizeof(bytes)) {
        g_set_error(error, ORIEL_HV_ERROR, ORIEL_HV_ERROR_GENERIC, "cannot generate a ticket: %s",
                    g_strerror(errno));
        return NULL;
    }
    /* URL-safe, so it can sit in a spice:// URI as it is. */
    char *ticket = g_base64_encode(bytes, sizeof(bytes));
    g_strdelimit(ticket, "+", '-');
    g_strdelimit(ticket, "/", '_');
    explicit_bzero(bytes, sizeof(bytes));
    return ticket;
}

static void
free_secret(char *secret)
{
    if (secret)
        explicit_bzero(secret, strlen(secret));
    g_free(secret);
}

static OrielHvTicketWatch *
watch_get(OrielHvDomain *domain)
{
    if (!domain->ticket_watch) {
        domain->ticket_watch = g_new0(OrielHvTicketWatch, 1);
        domain->ticket_watch->domain = domain;
        domain->ticket_watch->settle_ms = TICKET_SETTLE_MS;
        domain->ticket_watch->settle_max_ms = TICKET_SETTLE_MAX_MS;
    }
    return domain->ticket_watch;
}

static void
watch_disarm(OrielHvTicketWatch *watch)
{
    watch->armed = FALSE;
    watch->has_session = FALSE;
    watch->session_id = 0;
    g_clear_pointer(&watch->main_address, g_free);
    g_clear_handle_id(&watch->settle_id, g_source_remove);
    g_clear_handle_id(&watch->settle_max_id, g_source_remove);
}

void
oriel_hv_ticket_watch_free(OrielHvTicketWatch *watch)
{
    if (!watch)
        return;
    watch_disarm(watch);
    g_free(watch);
}

void
oriel_hv_ticket_watch_arm_for_test(OrielHvDomain *domain, guint settle_ms, guint settle_max_ms)
{
    OrielHvTicketWatch *watch = watch_get(domain);

    watch_disarm(watch);
    watch->settle_ms = settle_ms;
    watch->settle_max_ms = settle_max_ms;
    watch->armed = TRUE;
}

gboolean
oriel_hv_ticket_watch_is_armed(OrielHvDomain *domain)
{
    return domain->ticket_watch && domain->ticket_watch->armed;
}

void
oriel_hv_ticket_watch_reset(OrielHvDomain *domain)
{
    if (domain->ticket_watch)
        watch_disarm(domain->ticket_watch);
}

static OrielQmpClient *
domain_qmp(OrielHvDomain *domain)
{
    OrielQmpClient *qmp = domain->dm ? oriel_dm_process_get_qmp(domain->dm) : NULL;
    return qmp && !oriel_qmp_client_is_closed(qmp) ? qmp : NULL;
}

typedef struct {
    OrielHv *hv;
    char *name;
} RotateCall;

static void
on_rotated(GObject *source, GAsyncResult *result, gpointer user_data)
{
    RotateCall *rc = user_data;
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) reply = oriel_qmp_client_execute_finish(ORIEL_QMP_CLIENT(source), result, &error);

    if (!reply)
        g_message("domain %s: could not retire a one-time SPICE ticket: %s", rc->name, error->message);
    else
        g_debug("domain %s: one-time SPICE ticket retired", rc->name);
    g_free(rc->name);
    g_free(rc);
}

/* Replaces the password with one nobody knows; connected clients stay. */
static void
rotate(OrielHvTicketWatch *watch, const char *why)
{
    OrielHvDomain *domain = watch->domain;
    OrielQmpClient *qmp = domain_qmp(domain);
    g_autoptr(GError) error = NULL;

    watch_disarm(watch);
    g_debug("domain %s: retiring the one-time SPICE ticket (%s)", domain->name, why);
    if (!qmp)
        return;
    /* For subscribers (the broker's audit log, tests): the ticket was used. */
    JsonObject *event = json_object_new();
    json_object_set_string_member(event, "name", domain->name);
    json_object_set_string_member(event, "reason", why);
    oriel_hv_emit_event(domain->hv, "SPICE_TICKET_RETIRED", event);
    json_object_unref(event);
    char *secret = generate_ticket(&error);
    if (!secret) {
        g_message("domain %s: %s", domain->name, error->message);
        return;
    }
    RotateCall *rc = g_new0(RotateCall, 1);
    rc->hv = domain->hv;
    rc->name = g_strdup(domain->name);
    g_autoptr(JsonObject) arguments = json_object_new();
    json_object_set_string_member(arguments, "protocol", "spice");
    json_object_set_string_member(arguments, "password", secret);
    json_object_set_string_member(arguments, "connected", "keep");
    free_secret(secret);
    /* Ordered on the QMP connection: a ticket issued after this call is set
     * after it, so the rotation can never overwrite a newer ticket. */
    oriel_qmp_client_execute_async(qmp, "set_password", arguments, QMP_TIMEOUT_MS, NULL, on_rotated, rc);
}

static gboolean
on_settled(gpointer user_data)
{
    OrielHvTicketWatch *watch = user_data;

    watch->settle_id = 0;
    rotate(watch, "the session's channels are up");
    return G_SOURCE_REMOVE;
}

static gboolean
on_settle_max(gpointer user_data)
{
    OrielHvTicketWatch *watch = user_data;

    watch->settle_max_id = 0;
    rotate(watch, "the session kept linking channels");
    return G_SOURCE_REMOVE;
}

/* The event's "client" object, or NULL: the event comes from QEMU and is
 * checked like any peer input. */
static JsonObject *
event_client(JsonObject *data)
{
    JsonNode *node = data ? json_object_get_member(data, "client") : NULL;
    return node && JSON_NODE_HOLDS_OBJECT(node) ? json_node_get_object(node) : NULL;
}

/* A member of the event's "client" object: connection-id is a random
 * 32-bit number that QEMU may print negative. */
static gboolean
client_member(JsonObject *data, const char *member, gint64 *ret)
{
    JsonObject *client = event_client(data);
    JsonNode *node = client ? json_object_get_member(client, member) : NULL;

    if (!node || !JSON_NODE_HOLDS_VALUE(node) || json_node_get_value_type(node) != G_TYPE_INT64)
        return FALSE;
    *ret = json_node_get_int(node);
    return TRUE;
}

/* "host:port" of the event's client: one TCP connection, one channel. */
static char *
client_address(JsonObject *data)
{
    JsonObject *client = event_client(data);
    const char *host = client ? json_object_get_string_member_with_default(client, "host", NULL) : NULL;
    const char *port = client ? json_object_get_string_member_with_default(client, "port", NULL) : NULL;

    return host && port ? g_strdup_printf("%s:%s", host, port) : NULL;
}

/* QEMU's SPICE_INITIALIZED (a channel linked: the ticket was accepted) and
 * SPICE_DISCONNECTED, for the one-time ticket of @domain. */
void
oriel_hv_ticket_on_qmp_event(OrielHvDomain *domain, const char *name, JsonObject *data)
{
    OrielHvTicketWatch *watch = domain->ticket_watch;
    gint64 session = 0, type = 0;

    if (!watch || !watch->armed)
        return;
    gboolean initialized = g_str_equal(name, "SPICE_INITIALIZED");
    if (!initialized && !g_str_equal(name, "SPICE_DISCONNECTED"))
        return;
    gboolean has_session = client_member(data, "connection-id", &session);
    gboolean has_type = client_member(data, "channel-type", &type);

    if (!initialized) {
        /* SPICE_DISCONNECTED names only the client's address: the
         * session's main channel going away ends the window too. */
        g_autofree char *address = client_address(data);
        if (watch->main_address && address && g_str_equal(address, watch->main_address))
            rotate(watch, "the session ended");
        return;
    }
    if (!has_session || !has_type)
        return;
    if (!watch->has_session) {
        if (type != SPICE_CHANNEL_TYPE_MAIN)
            return; /* a channel of an older session (tickets are per link) */
        watch->has_session = TRUE;
        watch->session_id = session;
        watch->main_address = client_address(data);
        watch->settle_max_id = g_timeout_add(watch->settle_max_ms, on_settle_max, watch);
    } else if (session != watch->session_id) {
        if (type == SPICE_CHANNEL_TYPE_MAIN) {
            g_message("domain %s: a one-time SPICE ticket was used by a second session; retiring it",
                      domain->name);
            rotate(watch, "a second session");
        }
        return;
    }
    g_clear_handle_id(&watch->settle_id, g_source_remove);
    watch->settle_id = g_timeout_add(watch->settle_ms, on_settled, watch);
}

/* ---- TLS: the CA and the server certificate's subject ------------------------ */

/*
 * The subject as spice-gtk's host-subject wants it: the certificate's own
 * RDN order, "C=XX, O=Org, CN=host".  Read with the openssl tool, cached
 * until the certificate file changes.
 */
static char *
certificate_subject(OrielHv *hv, const char *cert_path, GError **error)
{
    struct stat st;

    if (stat(cert_path, &st) < 0) {
        g_set_error(error, ORIEL_HV_ERROR, ORIEL_HV_ERROR_GENERIC, "%s: %s", cert_path, g_strerror(errno));
        return NULL;
    }
    gint64 stamp = (gint64)st.st_mtim.tv_sec * G_USEC_PER_SEC + st.st_mtim.tv_nsec / 1000;
    if (hv->spice_subject && hv->spice_subject_stamp == stamp && hv->spice_subject_size == (gint64)st.st_size &&
        g_strcmp0(hv->spice_subject_path, cert_path) == 0)
        return g_strdup(hv->spice_subject);

    const char *argv[] = { "openssl", "x509", "-noout", "-subject", "-nameopt", "sep_comma_plus_space,utf8,-esc_msb",
                           "-in", cert_path, NULL };
    g_autofree char *out = NULL;
    g_autofree char *err = NULL;
    int status = 0;
    if (!g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, &out, &err, &status, error)) {
        g_prefix_error(error, "cannot read the subject of %s: ", cert_path);
        return NULL;
    }
    if (!g_spawn_check_wait_status(status, NULL) || !out || !g_str_has_prefix(out, "subject=")) {
        g_set_error(error, ORIEL_HV_ERROR, ORIEL_HV_ERROR_GENERIC, "cannot read the subject of %s: %s", cert_path,
                    err && *err ? g_strstrip(err) : "openssl x509 failed");
        return NULL;
    }
    char *subject = g_strstrip(out + strlen("subject="));
    if (!*subject || strlen(subject) > 1024 || !g_utf8_validate(subject, -1, NULL)) {
        g_set_error(error, ORIEL_HV_ERROR, ORIEL_HV_ERROR_GENERIC, "%s: the certificate's subject is unusable",
                    cert_path);
        return NULL;
    }
    g_free(hv->spice_subject);
    g_free(hv->spice_subject_path);
    hv->spice_subject = g_strdup(subject);
    hv->spice_subject_path = g_strdup(cert_path);
    hv->spice_subject_stamp = stamp;
    hv->spice_subject_size = (gint64)st.st_size;
    return g_strdup(subject);
}

static gboolean
add_tls_members(OrielHv *hv, JsonObject *object, GError **error)
{
    g_autofree char *ca_path = g_build_filename(hv->spice_x509_dir, "ca-cert.pem", NULL);
    g_autofree char *cert_path = g_build_filename(hv->spice_x509_dir, "server-cert.pem", NULL);
    g_autofree char *ca = NULL;
    gsize length = 0;

    if (!g_file_get_contents(ca_path, &ca, &length, error))
        return FALSE;
    if (length > CA_MAX_SIZE || memchr(ca, '\0', length) || !strstr(ca, "-----BEGIN CERTIFICATE-----")) {
        g_set_error(error, ORIEL_HV_ERROR, ORIEL_HV_ERROR_GENERIC, "%s: not a PEM CA certificate", ca_path);
        return FALSE;
    }
    g_autofree char *subject = certificate_subject(hv, cert_path, error);
    if (!subject)
        return FALSE;
    json_object_set_string_member(object, "ca_file", ca_path);
    json_object_set_string_member(object, "ca", ca);
    json_object_set_string_member(object, "host_subject", subject);
    return TRUE;
}

/* ---- domain-spice-ticket ------------------------------------------------------- */

typedef struct {
    OrielHv *hv;
    char *name;
    OrielHvCall *call;
    char *ticket;
    guint expires_s;
    gint64 expires_at;     /* unix time */
    gboolean one_time;
    guint64 generation;
    guint replies_due;     /* of set_password and expire_password */
    GError *error;         /* the first command that failed */
} TicketCall;

static void
ticket_call_free(TicketCall *tc)
{
    g_clear_error(&tc->error);
    free_secret(tc->ticket);
    g_free(tc->name);
    g_free(tc);
}

/* Both replies are in: answers the call. */
static void
ticket_call_finish(TicketCall *tc)
{
    g_autoptr(GError) error = NULL;
    OrielHvDomain *domain = oriel_hv_domain_lookup(tc->hv, tc->name);
    g_autofree char *uri = domain && domain->dm ? oriel_dm_process_get_spice_uri(domain->dm) : NULL;

    if (tc->error) {
        oriel_hv_call_error(tc->call, ORIEL_HV_ERROR_GENERIC, "%s", tc->error->message);
        ticket_call_free(tc);
        return;
    }
    if (!uri) {
        oriel_hv_call_error(tc->call, ORIEL_HV_ERROR_INVALID_STATE, "%s: stopped meanwhile", tc->name);
        ticket_call_free(tc);
        return;
    }
    const OrielSpiceConfig *spice = &domain->config->spice;
    JsonObject *object = json_object_new();
    g_autofree char *full = g_strdup_printf("%s?password=%s", uri, tc->ticket);
    json_object_set_string_member(object, "uri", full);
    json_object_set_string_member(object, "address", uri);
    json_object_set_string_member(object, "host", oriel_dm_process_get_spice_host(domain->dm));
    json_object_set_int_member(object, "port", oriel_dm_process_get_spice_port(domain->dm));
    json_object_set_int_member(object, "tls_port", spice->tls_port);
    json_object_set_string_member(object, "ticket", tc->ticket);
    json_object_set_int_member(object, "expires", tc->expires_at);
    json_object_set_int_member(object, "expires_in", tc->expires_s);
    json_object_set_boolean_member(object, "one_time", tc->one_time);
    if (spice->tls_port && !add_tls_members(tc->hv, object, &error)) {
        json_object_unref(object);
        oriel_hv_call_error(tc->call, ORIEL_HV_ERROR_GENERIC, "%s: TLS: %s", tc->name, error->message);
        ticket_call_free(tc);
        return;
    }
    oriel_hv_call_return_object(tc->call, object);
    ticket_call_free(tc);
}

static void
on_ticket_set(GObject *source, GAsyncResult *result, gpointer user_data)
{
    TicketCall *tc = user_data;
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) reply = oriel_qmp_client_execute_finish(ORIEL_QMP_CLIENT(source), result, &error);
    OrielHvDomain *domain = oriel_hv_domain_lookup(tc->hv, tc->name);

    if (!reply && !tc->error)
        tc->error = g_error_new(ORIEL_HV_ERROR, ORIEL_HV_ERROR_GENERIC, "%s: set_password: %s", tc->name,
                                error->message);
    /* Armed now, before any client can know the ticket (the caller learns
     * it once expire_password has answered too): QMP events after this
     * reply are links made with it (or with a later one). */
    if (reply && domain && domain->ticket_watch && domain->ticket_watch->generation == tc->generation &&
        tc->one_time)
        domain->ticket_watch->armed = TRUE;
    if (--tc->replies_due == 0)
        ticket_call_finish(tc);
}

static void
on_ticket_expiry_set(GObject *source, GAsyncResult *result, gpointer user_data)
{
    TicketCall *tc = user_data;
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) reply = oriel_qmp_client_execute_finish(ORIEL_QMP_CLIENT(source), result, &error);

    if (!reply && !tc->error)
        tc->error = g_error_new(ORIEL_HV_ERROR, ORIEL_HV_ERROR_GENERIC, "%s: expire_password: %s", tc->name,
                                error->message);
    if (--tc->replies_due == 0)
        ticket_call_finish(tc);
}

/*
 * A fresh ticket: set_password replaces the domain's current one (connected
 * clients stay), expire_password makes it lapse at an absolute time.  With
 * @one_time it is retired once a session has used it (see the top).
 */
void
oriel_hv_domain_spice_ticket(OrielHvDomain *domain, guint expires_s, gboolean one_time, OrielHvCall *call)
{
    OrielQmpClient *qmp = domain_qmp(domain);
    g_autoptr(GError) error = NULL;

    if (!domain->config->spice.enabled || domain->config->spice.disable_ticketing) {
        oriel_hv_call_error(call, ORIEL_HV_ERROR_INVALID_STATE, "%s: %s", domain->name,
                            domain->config->spice.enabled ? "SPICE ticketing is disabled (spicedisable_ticketing)"
                                                          : "the domain has no SPICE display");
        return;
    }
    if (!qmp) {
        oriel_hv_call_error(call, ORIEL_HV_ERROR_INVALID_STATE, "%s: QMP is not connected", domain->name);
        return;
    }
    if (domain->config->spice.tls_port && !domain->hv->spice_x509_dir) {
        oriel_hv_call_error(call, ORIEL_HV_ERROR_INVALID_STATE, "%s: spicetls_port is set but orield has no "
                            "SPICE certificate directory", domain->name);
        return;
    }
    g_autofree char *ticket = generate_ticket(&error);
    if (!ticket) {
        oriel_hv_call_propagate(call, error);
        return;
    }
    /* Whatever one-time ticket was pending is replaced by this one. */
    OrielHvTicketWatch *watch = watch_get(domain);
    watch_disarm(watch);
    watch->generation++;

    TicketCall *tc = g_new0(TicketCall, 1);
    tc->hv = domain->hv;
    tc->name = g_strdup(domain->name);
    tc->call = call;
    tc->ticket = g_steal_pointer(&ticket);
    tc->expires_s = expires_s;
    tc->expires_at = (gint64)time(NULL) + expires_s;
    tc->one_time = one_time;
    tc->generation = watch->generation;
    tc->replies_due = 2;
    g_autoptr(JsonObject) arguments = json_object_new();
    json_object_set_string_member(arguments, "protocol", "spice");
    json_object_set_string_member(arguments, "password", tc->ticket);
    g_autoptr(JsonObject) expiry = json_object_new();
    g_autofree char *time_text = g_strdup_printf("%" G_GINT64_FORMAT, tc->expires_at);
    json_object_set_string_member(expiry, "protocol", "spice");
    json_object_set_string_member(expiry, "time", time_text);
    /* Pipelined: QMP runs the commands of one connection in order, so
     * expire_password follows set_password without waiting a round trip
     * for its reply (a ticket costs QEMU's main loop two commands either
     * way; a burst of connects waited for both in turn).  Should
     * set_password fail (QMP is up and SPICE on, checked above, so hardly
     * ever), the expiry applies to the password already set: it lapses at
     * this ticket's expiry, no later than a ticket issued now. */
    oriel_qmp_client_execute_async(qmp, "set_password", arguments, QMP_TIMEOUT_MS, NULL, on_ticket_set, tc);
    oriel_qmp_client_execute_async(qmp, "expire_password", expiry, QMP_TIMEOUT_MS, NULL, on_ticket_expiry_set, tc);
}
