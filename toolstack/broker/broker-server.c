/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The HTTPS JSON API of oriel-broker on libsoup 3.  The main loop owns the
 * database, the pools and the limiter; PAM and orield calls run in worker
 * thread pools (auth and desktops apart, so slow logins never queue
 * connects) and report back to the main loop, which then answers the
 * paused request.
 */
#include "broker-server.h"

#include <errno.h>
#include <glib-unix.h>
#include <glib/gstdio.h>
#include <libsoup/soup.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <unistd.h>

#define STATUS_TOO_MANY_REQUESTS 429 /* RFC 6585; libsoup has no name for it */
#define AUTH_THREADS 2
#define DESKTOP_THREADS 32

typedef struct {
    const OrielBrokerOptions *options;
    OrielBrokerConfig *config;
    GHashTable *pools;        /* name -> OrielBrokerPoolDef * (owned) */
    GHashTable *config_pools; /* names of the pools from the config file */
    GHashTable *resetting;    /* desktop names with a reset in flight */
    OrielBrokerDb *db;
    OrielBrokerLimiter *limiter;
    OrielBrokerHost *host;
    SoupServer *server;
    GMainLoop *loop;
    GThreadPool *auth_pool;
    GThreadPool *desktop_pool;
    char *ca_pem;
    char *host_subject;
} Broker;

/* ---- jobs: work in a thread, completion in the main loop ----------------------- */

typedef struct {
    SoupServerMessage *msg; /* logout waiting for its resets, or NULL */
    guint pending;
} ResetGroup;

typedef struct Job Job;
struct Job {
    Broker *broker;
    SoupServerMessage *msg; /* paused; NULL for background work */
    gint64 started_us;
    void (*work)(Job *job);  /* in a worker thread */
    void (*done)(Job *job);  /* in the main loop */
    /* inputs */
    char *user;
    char *password;
    char *address;
    char *host_header;
    OrielBrokerPoolDef *pool;   /* a copy */
    guint index;
    gboolean new_assignment;
    ResetGroup *group;       /* logout: the resets it waits for */
    /* outputs */
    gboolean ok;
    GError *error;
    char **groups;
    JsonObject *ticket;
};

static void
job_free(Job *job)
{
    g_clear_object(&job->msg);
    g_free(job->user);
    if (job->password) {
        explicit_bzero(job->password, strlen(job->password));
        g_free(job->password);
    }
    g_free(job->address);
    g_free(job->host_header);
    oriel_broker_pool_def_free(job->pool);
    g_clear_error(&job->error);
    g_strfreev(job->groups);
    if (job->ticket)
        json_object_unref(job->ticket);
    g_free(job);
}

static gboolean
job_finish(gpointer data)
{
    Job *job = data;

    job->done(job);
    job_free(job);
    return G_SOURCE_REMOVE;
}

static void
job_run(gpointer data, gpointer user_data)
{
    Job *job = data;

    job->work(job);
    g_main_context_invoke(NULL, job_finish, job);
}

/* Password hashing is CPU-bound: at a lower priority than the main loop
 * and the desktop threads, a burst of logins cannot hold connects up. */
static void
auth_job_run(gpointer data, gpointer user_data)
{
    static GPrivate niced;
    Job *job = data;

    if (!g_private_get(&niced)) {
        if (setpriority(PRIO_PROCESS, (id_t)gettid(), 10) != 0)
            g_debug("auth thread priority: %s", g_strerror(errno));
        g_private_set(&niced, GINT_TO_POINTER(1));
    }
    job->work(job);
    g_main_context_invoke(NULL, job_finish, job);
}

static Job *
job_new(Broker *broker, SoupServerMessage *msg)
{
    Job *job = g_new0(Job, 1);

    job->broker = broker;
    job->started_us = g_get_monotonic_time();
    if (msg) {
        job->msg = g_object_ref(msg);
        soup_server_message_pause(msg);
    }
    return job;
}

/* ---- responses ----------------------------------------------------------------- */

static void
respond_json(SoupServerMessage *msg, guint status, JsonObject *object)
{
    g_autoptr(JsonNode) node = json_node_new(JSON_NODE_OBJECT);
    json_node_set_object(node, object);
    g_autofree char *text = json_to_string(node, FALSE);

    soup_server_message_set_status(msg, status, NULL);
    soup_server_message_set_response(msg, "application/json", SOUP_MEMORY_COPY, text, strlen(text));
}

static void
respond_error(SoupServerMessage *msg, guint status, const char *format, ...) G_GNUC_PRINTF(3, 4);

static void
respond_error(SoupServerMessage *msg, guint status, const char *format, ...)
{
    va_list args;
    va_start(args, format);
    g_autofree char *message = g_strdup_vprintf(format, args);
    va_end(args);
    g_autoptr(JsonObject) object = json_object_new();

    json_object_set_string_member(object, "error", message);
    respond_json(msg, status, object);
}

static void
respond_no_content(SoupServerMessage *msg)
{
    soup_server_message_set_status(msg, SOUP_STATUS_NO_CONTENT, NULL);
}

static gint64
now_s(void)
{
    return g_get_real_time() / G_USEC_PER_SEC;
}

static void
audit(Broker *broker, const char *event, const char *user, const char *address, const char *detail)
{
    g_autoptr(GError) error = NULL;

    if (!oriel_broker_db_audit(broker->db, event, user, address, detail, &error))
        g_printerr("oriel-broker: audit log: %s\n", error->message);
}

/* ---- sessions ------------------------------------------------------------------ */

typedef struct {
    char *token_hash;
    char *user;
    char **groups;
    gint64 expires;
} Session;

static void
session_free(Session *session)
{
    if (!session)
        return;
    g_free(session->token_hash);
    g_free(session->user);
    g_strfreev(session->groups);
    g_free(session);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC(Session, session_free)

static char *
hash_token(const char *token)
{
    return g_compute_checksum_for_string(G_CHECKSUM_SHA256, token, -1);
}

static char *
request_token(SoupServerMessage *msg)
{
    SoupMessageHeaders *headers = soup_server_message_get_request_headers(msg);
    const char *authorization = soup_message_headers_get_one(headers, "Authorization");

    if (authorization && g_ascii_strncasecmp(authorization, "Bearer ", 7) == 0)
        return g_strstrip(g_strdup(authorization + 7));
    const char *cookie = soup_message_headers_get_list(headers, "Cookie");
    if (!cookie)
        return NULL;
    GHashTable *cookies = soup_header_parse_semi_param_list(cookie);
    char *token = g_strdup(g_hash_table_lookup(cookies, "oriel_session"));
    soup_header_free_param_list(cookies);
    return token;
}

/* The request's live session, or NULL after answering 401. */
static Session *
authenticate(Broker *broker, SoupServerMessage *msg)
{
    g_autofree char *token = request_token(msg);
    g_autoptr(Session) session = g_new0(Session, 1);
    g_autofree char *groups = NULL;

    if (!token || !*token) {
        respond_error(msg, SOUP_STATUS_UNAUTHORIZED, "not logged in: send the session cookie or a Bearer token");
        return NULL;
    }
    if (strlen(token) != 64) {
        respond_error(msg, SOUP_STATUS_UNAUTHORIZED, "the session token is invalid or expired; log in again");
        return NULL;
    }
    session->token_hash = hash_token(token);
    if (!oriel_broker_db_session_lookup(broker->db, session->token_hash, now_s(), &session->user, &groups,
                                        &session->expires)) {
        respond_error(msg, SOUP_STATUS_UNAUTHORIZED, "the session token is invalid or expired; log in again");
        return NULL;
    }
    session->groups = g_strsplit(groups, ";", -1);
    return g_steal_pointer(&session);
}

static gboolean
in_any_group(char **user_groups, char **wanted)
{
    for (char **group = wanted; *group; group++) {
        if (g_strv_contains((const char *const *)user_groups, *group))
            return TRUE;
    }
    return FALSE;
}

/* ---- login ----------------------------------------------------------------------- */

static void
login_work(Job *job)
{
    job->ok = oriel_broker_pam_check(job->broker->options->pam_service, job->user, job->password, job->address,
                                     &job->error);
    if (job->ok) {
        job->groups = oriel_broker_user_groups(job->user, &job->error);
        job->ok = job->groups != NULL;
    }
}

static gboolean
unpause_later(gpointer data)
{
    SoupServerMessage *msg = data;

    soup_server_message_unpause(msg);
    g_object_unref(msg);
    return G_SOURCE_REMOVE;
}

static gboolean
login_succeeded(Job *job)
{
    Broker *broker = job->broker;
    guint8 random[32];
    g_autoptr(GError) error = NULL;

    if (getrandom(random, sizeof(random), 0) != sizeof(random)) {
        respond_error(job->msg, SOUP_STATUS_INTERNAL_SERVER_ERROR, "no randomness for a session token");
        return FALSE;
    }
    g_autoptr(GString) token = g_string_sized_new(64);
    for (gsize i = 0; i < sizeof(random); i++)
        g_string_append_printf(token, "%02x", random[i]);
    explicit_bzero(random, sizeof(random));
    g_autofree char *token_hash = hash_token(token->str);
    g_autofree char *groups = g_strjoinv(";", job->groups);
    gint64 expires = now_s() + broker->config->session_lifetime;

    if (!oriel_broker_db_begin(broker->db, &error) || !oriel_broker_db_session_purge(broker->db, now_s(), &error) ||
        !oriel_broker_db_session_insert(broker->db, token_hash, job->user, groups, expires, &error) ||
        !oriel_broker_db_audit(broker->db, "login", job->user, job->address, NULL, &error) ||
        !oriel_broker_db_commit(broker->db, &error)) {
        oriel_broker_db_rollback(broker->db);
        g_printerr("oriel-broker: login of %s: %s\n", job->user, error->message);
        respond_error(job->msg, SOUP_STATUS_INTERNAL_SERVER_ERROR, "the broker cannot record the session");
        return FALSE;
    }
    g_autoptr(JsonObject) object = json_object_new();
    JsonArray *array = json_array_new();
    for (char **group = job->groups; *group; group++)
        json_array_add_string_element(array, *group);
    json_object_set_string_member(object, "token", token->str);
    json_object_set_string_member(object, "user", job->user);
    json_object_set_array_member(object, "groups", array);
    json_object_set_int_member(object, "expires", expires);
    g_autofree char *cookie = g_strdup_printf("oriel_session=%s; HttpOnly; Secure; SameSite=Strict; Path=/; Max-Age=%u",
                                              token->str, broker->config->session_lifetime);
    soup_message_headers_append(soup_server_message_get_response_headers(job->msg), "Set-Cookie", cookie);
    respond_json(job->msg, SOUP_STATUS_OK, object);
    return TRUE;
}

static void
login_done(Job *job)
{
    Broker *broker = job->broker;
    gboolean locked = oriel_broker_limiter_result(broker->limiter, job->user, job->ok, now_s());

    if (job->ok && login_succeeded(job)) {
        soup_server_message_unpause(job->msg);
        return;
    }
    if (!job->ok) {
        g_autoptr(GError) error = NULL;
        if (!oriel_broker_db_begin(broker->db, &error) ||
            !oriel_broker_db_audit(broker->db, "login-failed", job->user, job->address, job->error->message, &error) ||
            (locked && !oriel_broker_db_audit(broker->db, "lockout", job->user, job->address, NULL, &error)) ||
            !oriel_broker_db_commit(broker->db, &error)) {
            oriel_broker_db_rollback(broker->db);
            g_printerr("oriel-broker: audit log: %s\n", error->message);
        }
        respond_error(job->msg, SOUP_STATUS_UNAUTHORIZED, "wrong user name or password");
    }
    /* Every failure answers after the same delay, whatever PAM took. */
    gint64 elapsed_ms = (g_get_monotonic_time() - job->started_us) / 1000;
    gint64 wait_ms = job->ok ? 0 : MAX(0, (gint64)broker->config->failure_delay_ms - elapsed_ms);
    g_timeout_add((guint)wait_ms, unpause_later, g_object_ref(job->msg));
}

static void
handle_login(Broker *broker, SoupServerMessage *msg, SoupMessageBody *body)
{
    g_autoptr(GError) error = NULL;
    g_autofree char *user = NULL;
    g_autofree char *password = NULL;
    const char *address = soup_server_message_get_remote_host(msg);
    guint retry_after = 0;

    if (!oriel_broker_parse_login(body->data, (gsize)body->length, &user, &password, &error)) {
        respond_error(msg, SOUP_STATUS_BAD_REQUEST, "%s", error->message);
        return;
    }
    switch (oriel_broker_limiter_attempt(broker->limiter, user, address ? address : "?", now_s(), &retry_after)) {
    case ORIEL_BROKER_LIMIT_ALLOW:
        break;
    case ORIEL_BROKER_LIMIT_RATE:
    case ORIEL_BROKER_LIMIT_LOCKED: {
        g_autofree char *seconds = g_strdup_printf("%u", retry_after);
        soup_message_headers_replace(soup_server_message_get_response_headers(msg), "Retry-After", seconds);
        respond_error(msg, STATUS_TOO_MANY_REQUESTS, "too many login attempts; try again in %u seconds",
                      retry_after);
        explicit_bzero(password, strlen(password));
        return;
    }
    }
    Job *job = job_new(broker, msg);
    job->user = g_steal_pointer(&user);
    job->password = g_steal_pointer(&password);
    job->address = g_strdup(address);
    job->work = login_work;
    job->done = login_done;
    g_thread_pool_push(broker->auth_pool, job, NULL);
}

/* ---- desktops ---------------------------------------------------------------------- */

/* Parses "POOL-N" of a desktop of a known pool. */
static OrielBrokerPoolDef *
desktop_pool(Broker *broker, const char *desktop, guint *ret_index)
{
    const char *dash = strrchr(desktop, '-');
    guint64 index = 0;

    if (!dash || !g_ascii_string_to_unsigned(dash + 1, 10, 1, ORIEL_BROKER_DESKTOPS_MAX, &index, NULL))
        return NULL;
    g_autofree char *name = g_strndup(desktop, dash - desktop);
    OrielBrokerPoolDef *pool = g_hash_table_lookup(broker->pools, name);
    if (!pool || index > pool->desktops)
        return NULL;
    *ret_index = (guint)index;
    return pool;
}

static guint
free_desktops(Broker *broker, const OrielBrokerPoolDef *pool, GHashTable *assignments, guint *ret_first_free)
{
    guint free_count = 0;

    *ret_first_free = 0;
    for (guint i = 1; i <= pool->desktops; i++) {
        g_autofree char *name = oriel_broker_desktop_name(pool, i);
        if (g_hash_table_contains(assignments, name) || g_hash_table_contains(broker->resetting, name))
            continue;
        if (!*ret_first_free)
            *ret_first_free = i;
        free_count++;
    }
    return free_count;
}

static void
handle_desktops(Broker *broker, SoupServerMessage *msg, Session *session)
{
    g_autoptr(JsonObject) object = json_object_new();
    JsonArray *array = json_array_new();
    g_autoptr(GList) names = g_list_sort(g_hash_table_get_keys(broker->pools), (GCompareFunc)strcmp);

    for (GList *l = names; l; l = l->next) {
        OrielBrokerPoolDef *pool = g_hash_table_lookup(broker->pools, l->data);
        if (!in_any_group(session->groups, pool->groups))
            continue;
        g_autoptr(GHashTable) assignments = oriel_broker_db_assignments(broker->db, pool->name);
        g_autofree char *assigned = oriel_broker_db_assignment_of(broker->db, pool->name, session->user);
        guint first = 0;
        JsonObject *entry = json_object_new();
        json_object_set_string_member(entry, "name", pool->name);
        json_object_set_string_member(entry, "description", pool->description);
        json_object_set_boolean_member(entry, "persistent", pool->persistent);
        json_object_set_int_member(entry, "free", free_desktops(broker, pool, assignments, &first));
        if (assigned)
            json_object_set_string_member(entry, "assigned", assigned);
        else
            json_object_set_null_member(entry, "assigned");
        json_array_add_object_element(array, entry);
    }
    json_object_set_array_member(object, "pools", array);
    respond_json(msg, SOUP_STATUS_OK, object);
}

static void
connect_work(Job *job)
{
    job->ticket = oriel_broker_host_connect(job->broker->host, job->pool, job->index,
                                            job->broker->config->ticket_seconds, &job->error);
}

/* The host a client should dial: the listen address unless it is a
 * wildcard, then the host the client named in its request (a name or an
 * address, nothing else). */
static char *
client_host(const char *listen_host, const char *host_header)
{
    g_autofree char *host = NULL;

    if ((!g_str_equal(listen_host, "0.0.0.0") && !g_str_equal(listen_host, "::")) || !host_header)
        return g_strdup(listen_host);
    if (host_header[0] == '[') {
        const char *close = strchr(host_header, ']');
        host = close ? g_strndup(host_header + 1, close - host_header - 1) : NULL;
    } else {
        host = g_strndup(host_header, strcspn(host_header, ":"));
    }
    if (!host || !*host || strlen(host) > 253 ||
        strspn(host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-:") != strlen(host))
        return g_strdup(listen_host);
    return g_steal_pointer(&host);
}

static void
connect_done(Job *job)
{
    Broker *broker = job->broker;
    g_autofree char *name = oriel_broker_desktop_name(job->pool, job->index);
    g_auto(OrielBrokerTicket) ticket = { 0 };
    g_autoptr(GError) error = NULL;

    if (!job->ticket || !oriel_broker_parse_ticket_reply(job->ticket, &ticket, &error)) {
        if (job->new_assignment) {
            g_autoptr(GError) unassign_error = NULL;
            if (!oriel_broker_db_unassign(broker->db, name, &unassign_error))
                g_printerr("oriel-broker: %s: %s\n", name, unassign_error->message);
        }
        const char *why = job->error ? job->error->message : error->message;
        g_printerr("oriel-broker: connect %s to %s: %s\n", job->user, name, why);
        respond_error(job->msg, SOUP_STATUS_SERVICE_UNAVAILABLE, "desktop %s cannot be started: %s", name, why);
        soup_server_message_unpause(job->msg);
        return;
    }
    guint tls_port = ticket.tls_port;
    if (!tls_port && job->pool->spice_tls_port_base)
        tls_port = job->pool->spice_tls_port_base + job->index - 1;
    /* orield's CA and subject for its x509 dir, else the broker's --spice-x509-dir. */
    const char *ca = ticket.ca_pem ? ticket.ca_pem : broker->ca_pem;
    const char *host_subject = ticket.ca_pem ? ticket.host_subject : broker->host_subject;
    if (!ca)
        tls_port = 0;
    g_autofree char *dial = client_host(ticket.host, job->host_header);
    g_autofree char *title = g_strdup_printf("%s (%s)", job->pool->description[0] ? job->pool->description
                                                                                   : job->pool->name, name);
    OrielBrokerVv vv = {
        .host = dial,
        .port = ticket.port,
        .tls_port = tls_port,
        .password = ticket.ticket,
        .title = title,
        .ca_pem = ca,
        .host_subject = host_subject,
    };
    g_autofree char *document = oriel_broker_vv_build(&vv, &error);
    if (!document) {
        respond_error(job->msg, SOUP_STATUS_INTERNAL_SERVER_ERROR, "%s", error->message);
        soup_server_message_unpause(job->msg);
        return;
    }
    audit(broker, "connect", job->user, job->address, name);
    soup_server_message_set_status(job->msg, SOUP_STATUS_OK, NULL);
    soup_server_message_set_response(job->msg, "application/x-virt-viewer", SOUP_MEMORY_COPY, document,
                                     strlen(document));
    explicit_bzero(document, strlen(document));
    soup_server_message_unpause(job->msg);
}

static void
handle_connect(Broker *broker, SoupServerMessage *msg, Session *session, const char *pool_name)
{
    OrielBrokerPoolDef *pool = g_hash_table_lookup(broker->pools, pool_name);
    g_autoptr(GError) error = NULL;
    guint index = 0;
    gboolean new_assignment = FALSE;

    if (!pool) {
        respond_error(msg, SOUP_STATUS_NOT_FOUND, "no pool named '%s'", pool_name);
        return;
    }
    if (!in_any_group(session->groups, pool->groups)) {
        respond_error(msg, SOUP_STATUS_FORBIDDEN, "user '%s' is not in a group allowed to use pool '%s'", session->user,
                      pool->name);
        return;
    }
    g_autofree char *assigned = oriel_broker_db_assignment_of(broker->db, pool->name, session->user);
    if (assigned) {
        if (!desktop_pool(broker, assigned, &index) || g_hash_table_contains(broker->resetting, assigned)) {
            respond_error(msg, SOUP_STATUS_SERVICE_UNAVAILABLE, "desktop %s is being reset; try again shortly",
                          assigned);
            return;
        }
    } else {
        g_autoptr(GHashTable) assignments = oriel_broker_db_assignments(broker->db, pool->name);
        if (!free_desktops(broker, pool, assignments, &index)) {
            respond_error(msg, SOUP_STATUS_SERVICE_UNAVAILABLE, "pool '%s' has no free desktop", pool->name);
            return;
        }
        g_autofree char *name = oriel_broker_desktop_name(pool, index);
        if (!oriel_broker_db_assign(broker->db, name, pool->name, session->user, now_s(), &error)) {
            respond_error(msg, SOUP_STATUS_INTERNAL_SERVER_ERROR, "cannot assign %s: %s", name, error->message);
            return;
        }
        new_assignment = TRUE;
    }
    Job *job = job_new(broker, msg);
    job->user = g_strdup(session->user);
    job->address = g_strdup(soup_server_message_get_remote_host(msg));
    job->host_header = g_strdup(soup_message_headers_get_one(soup_server_message_get_request_headers(msg), "Host"));
    job->pool = oriel_broker_pool_def_copy(pool);
    job->index = index;
    job->new_assignment = new_assignment;
    job->work = connect_work;
    job->done = connect_done;
    g_thread_pool_push(broker->desktop_pool, job, NULL);
}

/* ---- resets (logout, power-off) ------------------------------------------------------ */

static void
reset_work(Job *job)
{
    job->ok = oriel_broker_host_reset(job->broker->host, job->pool, job->index, &job->error);
}

static void
reset_done(Job *job)
{
    Broker *broker = job->broker;
    g_autofree char *name = oriel_broker_desktop_name(job->pool, job->index);
    g_autoptr(GError) error = NULL;
    ResetGroup *group = job->group;

    g_hash_table_remove(broker->resetting, name);
    if (!job->ok) {
        /* Kept assigned: nobody gets a desktop whose old state may linger. */
        g_printerr("oriel-broker: reset of %s: %s\n", name, job->error->message);
    } else if (!oriel_broker_db_begin(broker->db, &error) || !oriel_broker_db_unassign(broker->db, name, &error) ||
               !oriel_broker_db_audit(broker->db, "reset", job->user, NULL, name, &error) ||
               !oriel_broker_db_commit(broker->db, &error)) {
        oriel_broker_db_rollback(broker->db);
        g_printerr("oriel-broker: reset of %s: %s\n", name, error->message);
    }
    if (group && --group->pending == 0) {
        if (group->msg) {
            soup_server_message_unpause(group->msg);
            g_object_unref(group->msg);
        }
        g_free(group);
    }
}

static void
start_reset(Broker *broker, OrielBrokerPoolDef *pool, guint index, const char *user, ResetGroup *group)
{
    Job *job = job_new(broker, NULL);
    g_autofree char *name = oriel_broker_desktop_name(pool, index);

    g_hash_table_add(broker->resetting, g_steal_pointer(&name));
    job->pool = oriel_broker_pool_def_copy(pool);
    job->index = index;
    job->user = g_strdup(user);
    job->work = reset_work;
    job->done = reset_done;
    if (group) {
        group->pending++;
        job->group = group;
    }
    g_thread_pool_push(broker->desktop_pool, job, NULL);
}

static void
on_poweroff(const char *desktop, gpointer user_data)
{
    Broker *broker = user_data;
    guint index = 0;
    OrielBrokerPoolDef *pool = desktop_pool(broker, desktop, &index);

    if (!pool || pool->persistent || g_hash_table_contains(broker->resetting, desktop))
        return;
    g_autoptr(GHashTable) assignments = oriel_broker_db_assignments(broker->db, pool->name);
    start_reset(broker, pool, index, g_hash_table_lookup(assignments, desktop), NULL);
}

/* A stateless desktop belongs to a session: once its user has no live
 * session left (they expired without a logout), it is reset like at logout. */
static gboolean
sweep_orphans(gpointer data)
{
    Broker *broker = data;
    g_autoptr(GHashTable) assignments = oriel_broker_db_assignments(broker->db, NULL);
    GHashTableIter iter;
    gpointer desktop, user;

    g_hash_table_iter_init(&iter, assignments);
    while (g_hash_table_iter_next(&iter, &desktop, &user)) {
        guint index = 0;
        OrielBrokerPoolDef *pool = desktop_pool(broker, desktop, &index);
        if (!pool || pool->persistent || g_hash_table_contains(broker->resetting, desktop) ||
            oriel_broker_db_user_has_session(broker->db, user, now_s()))
            continue;
        start_reset(broker, pool, index, user, NULL);
    }
    return G_SOURCE_CONTINUE;
}

static void
handle_logout(Broker *broker, SoupServerMessage *msg, Session *session)
{
    g_autoptr(GError) error = NULL;
    const char *address = soup_server_message_get_remote_host(msg);

    if (!oriel_broker_db_begin(broker->db, &error) ||
        !oriel_broker_db_session_delete(broker->db, session->token_hash, &error) ||
        !oriel_broker_db_audit(broker->db, "logout", session->user, address, NULL, &error) ||
        !oriel_broker_db_commit(broker->db, &error)) {
        oriel_broker_db_rollback(broker->db);
        respond_error(msg, SOUP_STATUS_INTERNAL_SERVER_ERROR, "cannot end the session: %s", error->message);
        return;
    }
    soup_message_headers_append(soup_server_message_get_response_headers(msg), "Set-Cookie",
                                "oriel_session=; HttpOnly; Secure; SameSite=Strict; Path=/; Max-Age=0");
    respond_no_content(msg);
    /* The user's stateless desktops are reset before the answer. */
    g_autoptr(GHashTable) assignments = oriel_broker_db_assignments(broker->db, NULL);
    ResetGroup *group = g_new0(ResetGroup, 1);
    GHashTableIter iter;
    gpointer desktop, user;
    g_hash_table_iter_init(&iter, assignments);
    while (g_hash_table_iter_next(&iter, &desktop, &user)) {
        guint index = 0;
        OrielBrokerPoolDef *pool = desktop_pool(broker, desktop, &index);
        if (!g_str_equal(user, session->user) || !pool || pool->persistent ||
            g_hash_table_contains(broker->resetting, desktop))
            continue;
        start_reset(broker, pool, index, session->user, group);
    }
    if (group->pending == 0) {
        g_free(group);
        return;
    }
    group->msg = g_object_ref(msg);
    soup_server_message_pause(msg);
}

/* ---- admin ---------------------------------------------------------------------------- */

static void
handle_admin_list(Broker *broker, SoupServerMessage *msg)
{
    g_autoptr(JsonObject) object = json_object_new();
    JsonArray *array = json_array_new();
    g_autoptr(GList) names = g_list_sort(g_hash_table_get_keys(broker->pools), (GCompareFunc)strcmp);

    for (GList *l = names; l; l = l->next) {
        JsonObject *entry = oriel_broker_pool_def_to_json(g_hash_table_lookup(broker->pools, l->data));
        json_object_set_string_member(entry, "source",
                                      g_hash_table_contains(broker->config_pools, l->data) ? "config" : "admin");
        json_array_add_object_element(array, entry);
    }
    json_object_set_array_member(object, "pools", array);
    respond_json(msg, SOUP_STATUS_OK, object);
}

static void
handle_admin_add(Broker *broker, SoupServerMessage *msg, Session *session, SoupMessageBody *body)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(OrielBrokerPoolDef) pool = oriel_broker_pool_def_from_json(body->data, (gsize)body->length, &error);

    if (!pool) {
        respond_error(msg, SOUP_STATUS_BAD_REQUEST, "%s", error->message);
        return;
    }
    if (g_hash_table_contains(broker->pools, pool->name)) {
        respond_error(msg, SOUP_STATUS_CONFLICT, "a pool named '%s' exists", pool->name);
        return;
    }
    if (g_hash_table_size(broker->pools) >= ORIEL_BROKER_CONFIG_POOLS_MAX) {
        respond_error(msg, SOUP_STATUS_CONFLICT, "at most %u pools", ORIEL_BROKER_CONFIG_POOLS_MAX);
        return;
    }
    g_autoptr(JsonObject) object = oriel_broker_pool_def_to_json(pool);
    g_autoptr(JsonNode) node = json_node_new(JSON_NODE_OBJECT);
    json_node_set_object(node, object);
    g_autofree char *definition = json_to_string(node, FALSE);
    if (!oriel_broker_db_begin(broker->db, &error) ||
        !oriel_broker_db_pool_insert(broker->db, pool->name, definition, &error) ||
        !oriel_broker_db_audit(broker->db, "admin-pool-add", session->user, soup_server_message_get_remote_host(msg),
                               pool->name, &error) ||
        !oriel_broker_db_commit(broker->db, &error)) {
        oriel_broker_db_rollback(broker->db);
        respond_error(msg, SOUP_STATUS_INTERNAL_SERVER_ERROR, "cannot store pool '%s': %s", pool->name, error->message);
        return;
    }
    respond_json(msg, SOUP_STATUS_CREATED, object);
    char *key = g_strdup(pool->name);
    g_hash_table_insert(broker->pools, key, g_steal_pointer(&pool));
}

static void
remove_work(Job *job)
{
    for (guint i = 1; i <= job->pool->desktops; i++) {
        g_autoptr(GError) error = NULL;
        if (!oriel_broker_host_remove(job->broker->host, job->pool, i, &error))
            g_printerr("oriel-broker: pool %s: %s\n", job->pool->name, error->message);
    }
}

static void
remove_done(Job *job)
{
    soup_server_message_unpause(job->msg);
}

static void
handle_admin_delete(Broker *broker, SoupServerMessage *msg, Session *session, const char *name)
{
    g_autoptr(GError) error = NULL;
    OrielBrokerPoolDef *pool = g_hash_table_lookup(broker->pools, name);

    if (!pool) {
        respond_error(msg, SOUP_STATUS_NOT_FOUND, "no pool named '%s'", name);
        return;
    }
    if (g_hash_table_contains(broker->config_pools, name)) {
        respond_error(msg, SOUP_STATUS_CONFLICT, "pool '%s' is defined in %s; remove it there", name,
                      broker->options->config_path);
        return;
    }
    for (guint i = 1; i <= pool->desktops; i++) {
        g_autofree char *desktop = oriel_broker_desktop_name(pool, i);
        if (g_hash_table_contains(broker->resetting, desktop)) {
            respond_error(msg, SOUP_STATUS_CONFLICT, "desktop %s is being reset; try again shortly", desktop);
            return;
        }
    }
    g_autoptr(GHashTable) assignments = oriel_broker_db_assignments(broker->db, name);
    gboolean ok = oriel_broker_db_begin(broker->db, &error);
    GHashTableIter iter;
    gpointer desktop;
    g_hash_table_iter_init(&iter, assignments);
    while (ok && g_hash_table_iter_next(&iter, &desktop, NULL))
        ok = oriel_broker_db_unassign(broker->db, desktop, &error);
    if (!ok || !oriel_broker_db_pool_delete(broker->db, name, &error) ||
        !oriel_broker_db_audit(broker->db, "admin-pool-delete", session->user,
                               soup_server_message_get_remote_host(msg), name, &error) ||
        !oriel_broker_db_commit(broker->db, &error)) {
        oriel_broker_db_rollback(broker->db);
        respond_error(msg, SOUP_STATUS_INTERNAL_SERVER_ERROR, "cannot delete pool '%s': %s", name, error->message);
        return;
    }
    respond_no_content(msg);
    Job *job = job_new(broker, msg);
    job->pool = oriel_broker_pool_def_copy(pool);
    job->work = remove_work;
    job->done = remove_done;
    g_hash_table_remove(broker->pools, name);
    g_thread_pool_push(broker->desktop_pool, job, NULL);
}

/* ---- routing ---------------------------------------------------------------------------- */

/* Whether the request's method is @method; *@matched records any match. */
static gboolean
method_is(SoupServerMessage *msg, const char *method, gboolean *matched)
{
    gboolean match = g_str_equal(soup_server_message_get_method(msg), method);

    *matched = *matched || match;
    return match;
}

static void
handle_request(SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query, gpointer data)
{
    Broker *broker = data;
    SoupMessageBody *body = soup_server_message_get_request_body(msg);
    gboolean method_matched = FALSE;

    soup_message_headers_replace(soup_server_message_get_response_headers(msg), "Cache-Control", "no-store");
    if (body->length > ORIEL_BROKER_BODY_MAX) {
        respond_error(msg, SOUP_STATUS_REQUEST_ENTITY_TOO_LARGE, "request body larger than %u bytes",
                      ORIEL_BROKER_BODY_MAX);
        return;
    }
    if (g_str_equal(path, "/api/login")) {
        if (method_is(msg, "POST", &method_matched))
            handle_login(broker, msg, body);
        else
            respond_error(msg, SOUP_STATUS_METHOD_NOT_ALLOWED, "%s accepts POST only", path);
        return;
    }
    static const char prefix[] = "/api/desktops/";
    static const char suffix[] = "/connect";
    gsize length = strlen(path);
    gboolean connect_path = g_str_has_prefix(path, prefix) && g_str_has_suffix(path, suffix) &&
                            length > sizeof(prefix) - 1 + sizeof(suffix) - 1;
    static const char admin_prefix[] = "/api/admin/pools/";
    const char *admin_name = g_str_has_prefix(path, admin_prefix) ? path + sizeof(admin_prefix) - 1 : NULL;
    gboolean admin_pool_path = admin_name && *admin_name && !strchr(admin_name, '/');
    if (!g_str_equal(path, "/api/desktops") && !g_str_equal(path, "/api/logout") && !connect_path &&
        !g_str_equal(path, "/api/admin/pools") && !admin_pool_path) {
        respond_error(msg, SOUP_STATUS_NOT_FOUND, "no such API: %s", path);
        return;
    }
    g_autoptr(Session) session = authenticate(broker, msg);
    if (!session)
        return;
    if (g_str_equal(path, "/api/desktops")) {
        if (method_is(msg, "GET", &method_matched))
            handle_desktops(broker, msg, session);
    } else if (g_str_equal(path, "/api/logout")) {
        if (method_is(msg, "POST", &method_matched))
            handle_logout(broker, msg, session);
    } else if (connect_path) {
        if (method_is(msg, "POST", &method_matched)) {
            g_autofree char *pool = g_strndup(path + sizeof(prefix) - 1, length - (sizeof(prefix) - 1) - (sizeof(suffix) - 1));
            handle_connect(broker, msg, session, pool);
        }
    } else if (!g_strv_contains((const char *const *)session->groups, broker->config->admin_group)) {
        respond_error(msg, SOUP_STATUS_FORBIDDEN, "administration needs membership of group '%s'",
                      broker->config->admin_group);
        return;
    } else if (admin_pool_path) {
        if (method_is(msg, "DELETE", &method_matched))
            handle_admin_delete(broker, msg, session, admin_name);
    } else {
        if (method_is(msg, "GET", &method_matched))
            handle_admin_list(broker, msg);
        else if (method_is(msg, "POST", &method_matched))
            handle_admin_add(broker, msg, session, body);
    }
    if (!method_matched)
        respond_error(msg, SOUP_STATUS_METHOD_NOT_ALLOWED, "%s does not accept %s", path,
                      soup_server_message_get_method(msg));
}

/* Refuses an oversized body before reading it. */
static void
on_got_headers(SoupServerMessage *msg, gpointer data)
{
    SoupMessageHeaders *headers = soup_server_message_get_request_headers(msg);
    SoupEncoding encoding = soup_message_headers_get_encoding(headers);

    if (encoding == SOUP_ENCODING_CONTENT_LENGTH &&
        soup_message_headers_get_content_length(headers) > ORIEL_BROKER_BODY_MAX)
        respond_error(msg, SOUP_STATUS_REQUEST_ENTITY_TOO_LARGE, "request body larger than %u bytes",
                      ORIEL_BROKER_BODY_MAX);
    else if (encoding == SOUP_ENCODING_CHUNKED)
        respond_error(msg, SOUP_STATUS_LENGTH_REQUIRED, "request bodies need a Content-Length");
}

static void
on_request_started(SoupServer *server, SoupServerMessage *msg, gpointer data)
{
    g_signal_connect(msg, "got-headers", G_CALLBACK(on_got_headers), NULL);
}

/* ---- set-up ---------------------------------------------------------------------------- */

static gboolean
on_signal(gpointer data)
{
    g_main_loop_quit(data);
    return G_SOURCE_CONTINUE;
}

static gboolean
load_pools(Broker *broker, GError **error)
{
    for (guint i = 0; i < broker->config->pools->len; i++) {
        OrielBrokerPoolDef *pool = broker->config->pools->pdata[i];
        g_hash_table_insert(broker->pools, g_strdup(pool->name), oriel_broker_pool_def_copy(pool));
        g_hash_table_add(broker->config_pools, g_strdup(pool->name));
    }
    g_autoptr(GHashTable) stored = oriel_broker_db_pools(broker->db, error);
    if (!stored)
        return FALSE;
    GHashTableIter iter;
    gpointer name, definition;
    g_hash_table_iter_init(&iter, stored);
    while (g_hash_table_iter_next(&iter, &name, &definition)) {
        g_autoptr(GError) local_error = NULL;
        OrielBrokerPoolDef *pool = oriel_broker_pool_def_from_json(definition, strlen(definition), &local_error);
        if (!pool || g_hash_table_contains(broker->pools, name)) {
            g_printerr("oriel-broker: stored pool '%s' ignored: %s\n", (const char *)name,
                       pool ? "a pool of the config file has its name" : local_error->message);
            oriel_broker_pool_def_free(pool);
            continue;
        }
        g_hash_table_insert(broker->pools, g_strdup(name), pool);
    }
    return TRUE;
}

static gboolean
load_spice_tls(Broker *broker, GError **error)
{
    const char *dir = broker->options->spice_x509_dir;

    if (!dir)
        return TRUE;
    g_autofree char *ca = g_build_filename(dir, "ca-cert.pem", NULL);
    g_autofree char *cert = g_build_filename(dir, "server-cert.pem", NULL);
    if (!g_file_get_contents(ca, &broker->ca_pem, NULL, error))
        return FALSE;
    broker->host_subject = oriel_broker_cert_subject(cert, error);
    return broker->host_subject != NULL;
}

static void
broker_finish(Broker *broker)
{
    if (broker->auth_pool)
        g_thread_pool_free(broker->auth_pool, FALSE, TRUE);
    if (broker->desktop_pool)
        g_thread_pool_free(broker->desktop_pool, FALSE, TRUE);
    /* Jobs finished in the pools report to the main loop: let them. */
    while (g_main_context_iteration(NULL, FALSE))
        ;
    g_clear_object(&broker->server);
    oriel_broker_host_free(broker->host);
    oriel_broker_limiter_free(broker->limiter);
    oriel_broker_db_free(broker->db);
    g_clear_pointer(&broker->pools, g_hash_table_unref);
    g_clear_pointer(&broker->config_pools, g_hash_table_unref);
    g_clear_pointer(&broker->resetting, g_hash_table_unref);
    oriel_broker_config_free(broker->config);
    g_clear_pointer(&broker->loop, g_main_loop_unref);
    g_free(broker->ca_pem);
    g_free(broker->host_subject);
}

static gboolean
broker_serve(Broker *broker, const OrielBrokerOptions *options, GError **error)
{
    broker->config = oriel_broker_config_parse_file(options->config_path, error);
    if (!broker->config)
        return FALSE;
    if (g_mkdir_with_parents(options->state_dir, 0700) != 0) {
        g_set_error(error, ORIEL_BROKER_SERVER_ERROR, ORIEL_BROKER_SERVER_ERROR_IO, "%s: %s", options->state_dir, g_strerror(errno));
        return FALSE;
    }
    g_autofree char *db_path = g_build_filename(options->state_dir, "broker.db", NULL);
    g_autofree char *disk_dir = g_build_filename(options->state_dir, "desktops", NULL);
    broker->db = oriel_broker_db_open(db_path, error);
    if (!broker->db)
        return FALSE;
    broker->pools = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, (GDestroyNotify)oriel_broker_pool_def_free);
    broker->config_pools = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    broker->resetting = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    if (!load_pools(broker, error) || !load_spice_tls(broker, error))
        return FALSE;
    broker->limiter = oriel_broker_limiter_new(broker->config);
    broker->host = oriel_broker_host_new(options->orield_socket, disk_dir, error);
    if (!broker->host)
        return FALSE;
    g_autoptr(GTlsCertificate) certificate = g_tls_certificate_new_from_files(options->cert_path, options->key_path,
                                                                            error);
    if (!certificate)
        return FALSE;
    broker->auth_pool = g_thread_pool_new(auth_job_run, NULL, AUTH_THREADS, FALSE, error);
    /* Exclusive: its threads start now and stay, so a burst of connects
     * after a quiet spell does not first spawn them (thread creation,
     * fresh stacks and malloc arenas on the main loop's time). */
    broker->desktop_pool = broker->auth_pool ? g_thread_pool_new(job_run, NULL, DESKTOP_THREADS, TRUE, error) : NULL;
    if (!broker->desktop_pool)
        return FALSE;
    broker->server = soup_server_new("tls-certificate", certificate, "server-header", "oriel-broker", NULL);
    soup_server_add_handler(broker->server, NULL, handle_request, broker, NULL);
    g_signal_connect(broker->server, "request-started", G_CALLBACK(on_request_started), NULL);
    g_autoptr(GInetAddress) inet = g_inet_address_new_from_string(options->listen_address);
    if (!inet) {
        g_set_error(error, ORIEL_BROKER_SERVER_ERROR, ORIEL_BROKER_SERVER_ERROR_INVALID, "--listen: '%s' is not an IP address",
                    options->listen_address);
        return FALSE;
    }
    g_autoptr(GSocketAddress) address = g_inet_socket_address_new(inet, (guint16)options->port);
    if (!soup_server_listen(broker->server, address, SOUP_SERVER_LISTEN_HTTPS, error))
        return FALSE;
    GSList *uris = soup_server_get_uris(broker->server);
    guint port = uris ? (guint)g_uri_get_port(uris->data) : options->port;
    g_slist_free_full(uris, (GDestroyNotify)g_uri_unref);
    broker->loop = g_main_loop_new(NULL, FALSE);
    oriel_broker_host_watch_poweroff(broker->host, g_main_context_default(), on_poweroff, broker);
    guint sweep = g_timeout_add_seconds(CLAMP(broker->config->session_lifetime / 2, 1, 60), sweep_orphans, broker);
    guint term = g_unix_signal_add(SIGTERM, on_signal, broker->loop);
    guint interrupt = g_unix_signal_add(SIGINT, on_signal, broker->loop);
    g_print("oriel-broker: listening on https://%s:%u\n", options->listen_address, port);
    fflush(stdout);
    g_main_loop_run(broker->loop);
    g_source_remove(sweep);
    g_source_remove(term);
    g_source_remove(interrupt);
    return TRUE;
}

gboolean
oriel_broker_run(const OrielBrokerOptions *options, GError **error)
{
    Broker broker = { .options = options };
    gboolean ok = broker_serve(&broker, options, error);

    broker_finish(&broker);
    return ok;
}
