/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * liboriel-broker: the pure parts of oriel-broker, linked by the broker, its
 * unit tests and its fuzz targets.  Nothing here does I/O beyond reading a
 * file the caller names:
 *
 *  - the broker config (key file: a [broker] group, one [pool NAME] group
 *    per desktop pool) and the pool definition in JSON (admin API);
 *  - the JSON bodies of requests (login);
 *  - the .vv document handed to clients;
 *  - the login rate limiter and lock-out, with time supplied by the caller.
 *
 * Every input is bounded: the config file (1 MiB), request bodies
 * (ORIEL_BROKER_BODY_MAX), names, groups and strings (see the _MAX values).
 * Errors are in the ORIEL_BROKER_SERVER_ERROR domain and name the offending input.
 */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

#define ORIEL_BROKER_SERVER_ERROR (oriel_broker_server_error_quark())
GQuark oriel_broker_server_error_quark(void);

typedef enum {
    ORIEL_BROKER_SERVER_ERROR_IO,      /* a file cannot be read */
    ORIEL_BROKER_SERVER_ERROR_SYNTAX,  /* not a key file / not JSON / wrong shape */
    ORIEL_BROKER_SERVER_ERROR_INVALID, /* a value out of range or of the wrong kind */
    ORIEL_BROKER_SERVER_ERROR_LIMIT,   /* a size bound exceeded */
} OrielBrokerServerError;

#define ORIEL_BROKER_CONFIG_SIZE_MAX (1024u * 1024u)
#define ORIEL_BROKER_BODY_MAX (64u * 1024u)
#define ORIEL_BROKER_CONFIG_POOLS_MAX 256u
#define ORIEL_BROKER_DESKTOPS_MAX 256u
#define ORIEL_BROKER_GROUPS_MAX 64u
#define ORIEL_BROKER_POOL_NAME_MAX 32u      /* pool names */
#define ORIEL_BROKER_USER_MAX 64u      /* user and group names */
#define ORIEL_BROKER_PASSWORD_MAX 512u
#define ORIEL_BROKER_DESCRIPTION_MAX 1024u    /* descriptions */
#define ORIEL_BROKER_PATH_MAX 4096u

typedef struct {
    char *name;             /* [a-z0-9][a-z0-9_-]* up to ORIEL_BROKER_POOL_NAME_MAX */
    char *description;      /* may be empty */
    char *golden_image;     /* absolute path */
    char *golden_format;    /* "raw" or "qcow2" */
    guint desktops;         /* 1 .. ORIEL_BROKER_DESKTOPS_MAX */
    guint memory_mib;       /* 32 .. 1048576 */
    guint vcpus;            /* 1 .. 128 */
    gboolean persistent;    /* persistent: overlay and owner kept */
    char **groups;          /* NULL-terminated; who may use the pool */
    char *type;             /* "hvm" or "pvh" */
    char *kernel;           /* direct boot (absolute paths) or NULL */
    char *ramdisk;
    char *cmdline;
    char *spice_host;       /* SPICE listen address, default 127.0.0.1 */
    guint spice_tls_port_base; /* desktop N gets base + N - 1; 0: no TLS */
} OrielBrokerPoolDef;

void oriel_broker_pool_def_free(OrielBrokerPoolDef *pool);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(OrielBrokerPoolDef, oriel_broker_pool_def_free)

OrielBrokerPoolDef *oriel_broker_pool_def_copy(const OrielBrokerPoolDef *pool);

/* Checks every field against its bound; the message names the pool and key. */
gboolean oriel_broker_pool_def_validate(const OrielBrokerPoolDef *pool, GError **error);

/* The pool definition in JSON: the config file's keys as members
 * ("name", "description", "golden-image", "golden-format", "desktops",
 * "memory", "vcpus", "persistent", "groups" (array), "type", "kernel",
 * "ramdisk", "cmdline", "spice-host", "spice-tls-port-base").  Unknown
 * members are an error; the result is validated. */
OrielBrokerPoolDef *oriel_broker_pool_def_from_json(const char *data, gsize length, GError **error);
JsonObject *oriel_broker_pool_def_to_json(const OrielBrokerPoolDef *pool);

/* The name of desktop @index (1-based) of @pool: "POOL-INDEX". */
char *oriel_broker_desktop_name(const OrielBrokerPoolDef *pool, guint index);

typedef struct {
    char *admin_group;          /* admin-group, default "oriel-admin" */
    guint max_failures;         /* failures before lock-out, default 5 */
    guint lockout_seconds;      /* default 300 */
    guint rate_limit_user;      /* login attempts per window per user, default 10 */
    guint rate_limit_address;   /* per client address, default 30 */
    guint rate_limit_window;    /* seconds, default 60 */
    guint session_lifetime;     /* seconds, default 28800 */
    guint failure_delay_ms;     /* every failed login answers after this, default 1000 */
    guint ticket_seconds;       /* a SPICE ticket's validity, default 60 */
    GPtrArray *pools;           /* of OrielBrokerPoolDef *, owned */
} OrielBrokerConfig;

void oriel_broker_config_free(OrielBrokerConfig *config);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(OrielBrokerConfig, oriel_broker_config_free)

/* A config with the defaults and no pool. */
OrielBrokerConfig *oriel_broker_config_new(void);

/*
 * Parses a key-file config:
 *
 *   [broker]
 *   admin-group = oriel-admin
 *   max-failures = 5
 *   ...
 *   [pool office]
 *   description = Office desktops
 *   golden-image = /var/lib/oriel/images/office.qcow2
 *   desktops = 4
 *   groups = staff;interns
 *
 * Unknown groups and keys are errors (a typo must not silently open a pool).
 * @filename names the input in messages ("FILE: [pool x] key: message").
 */
OrielBrokerConfig *oriel_broker_config_parse_data(const char *data, gsize length, const char *filename,
                                                  GError **error);
OrielBrokerConfig *oriel_broker_config_parse_file(const char *path, GError **error);

/* The body of POST /api/login: {"user": "...", "password": "..."}, exactly. */
gboolean oriel_broker_parse_login(const char *data, gsize length, char **ret_user, char **ret_password,
                                  GError **error);

/* A user or group name as the system accepts it: [A-Za-z0-9._-], not
 * starting with '-', 1 .. ORIEL_BROKER_USER_MAX bytes. */
gboolean oriel_broker_user_name_is_valid(const char *name);

typedef struct {
    const char *host;
    guint port;              /* 0: none */
    guint tls_port;          /* 0: none */
    const char *password;    /* the one-time ticket */
    const char *title;
    const char *ca_pem;      /* with tls_port */
    const char *host_subject;
} OrielBrokerVv;

/* A virt-viewer connection file ([virt-viewer], type=spice, ...). */
char *oriel_broker_vv_build(const OrielBrokerVv *vv, GError **error);

typedef struct {
    char *host;
    guint port;          /* 0: none */
    guint tls_port;      /* 0: none */
    char *ticket;
    char *ca_pem;        /* with a TLS port, when orield sends it; else NULL */
    char *host_subject;  /* likewise */
} OrielBrokerTicket;

/* orield's domain-spice-ticket reply: "host", "port", "tls_port" (or, from
 * an older orield, "address"/"uri" spice://HOST:PORT), "ticket", and with
 * TLS "ca" and "host_subject".  Fills @ret_ticket on success; free its
 * members with oriel_broker_ticket_clear(). */
gboolean oriel_broker_parse_ticket_reply(JsonObject *reply, OrielBrokerTicket *ret_ticket, GError **error);
void oriel_broker_ticket_clear(OrielBrokerTicket *ticket);
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(OrielBrokerTicket, oriel_broker_ticket_clear)

/* ---- login rate limit and lock-out ------------------------------------------- */

typedef enum {
    ORIEL_BROKER_LIMIT_ALLOW,
    ORIEL_BROKER_LIMIT_RATE,   /* too many attempts in the window */
    ORIEL_BROKER_LIMIT_LOCKED, /* locked out after repeated failures */
} OrielBrokerLimit;

typedef struct _OrielBrokerLimiter OrielBrokerLimiter;

OrielBrokerLimiter *oriel_broker_limiter_new(const OrielBrokerConfig *config);
void oriel_broker_limiter_free(OrielBrokerLimiter *limiter);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(OrielBrokerLimiter, oriel_broker_limiter_free)

/* Counts an attempt of @user from @address at @now (seconds) and says
 * whether it may go on; when not, *@ret_retry_after is the seconds to wait. */
OrielBrokerLimit oriel_broker_limiter_attempt(OrielBrokerLimiter *limiter, const char *user, const char *address,
                                              gint64 now, guint *ret_retry_after);

/* The outcome of an allowed attempt.  Returns TRUE when this failure
 * locked @user out. */
gboolean oriel_broker_limiter_result(OrielBrokerLimiter *limiter, const char *user, gboolean success, gint64 now);

G_END_DECLS
