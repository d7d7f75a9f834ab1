/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The oriel-broker JSON API as the viewer sees it, without I/O: parsers of
 * the broker's replies (login, desktop list, errors) and of its URL, and
 * the mapping of HTTP statuses to errors.  Everything the broker sends is
 * untrusted: sizes are capped, a token must be safe to put in a header, a
 * pool name safe to put in a URL path.
 *
 *   POST /api/login {"user","password"} -> {"token","user","groups","expires"}
 *   GET  /api/desktops -> {"pools":[{"name","description","persistent","free","assigned"}]}
 *   POST /api/desktops/POOL/connect -> a .vv document (oriel_viewer_vv_parse_data)
 *   POST /api/logout -> 204
 *   errors: {"error": "message"}
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define ORIEL_BROKER_ERROR (oriel_broker_error_quark())
GQuark oriel_broker_error_quark(void);

typedef enum {
    ORIEL_BROKER_ERROR_PROTOCOL,    /* a reply that is not what the API says */
    ORIEL_BROKER_ERROR_AUTH,        /* 401: wrong user or password, or the session ended */
    ORIEL_BROKER_ERROR_LOCKED,      /* 429: locked out or rate limited */
    ORIEL_BROKER_ERROR_FORBIDDEN,   /* 403: not this user's pool */
    ORIEL_BROKER_ERROR_NOT_FOUND,   /* 404: no such pool */
    ORIEL_BROKER_ERROR_UNAVAILABLE, /* 503 and other server errors: try later */
    ORIEL_BROKER_ERROR_NETWORK,     /* could not reach the broker */
    ORIEL_BROKER_ERROR_TLS,         /* the broker's certificate is not trusted */
    ORIEL_BROKER_ERROR_INVALID,     /* bad input of ours: URL, user name */
} OrielBrokerError;

/* Largest reply body read from the broker: a .vv with a CA is a few KiB, a
 * desktop list of ORIEL_BROKER_POOLS_MAX pools well under this. */
#define ORIEL_BROKER_REPLY_MAX (1024 * 1024)
#define ORIEL_BROKER_POOLS_MAX 1024
#define ORIEL_BROKER_TOKEN_MAX 1024
#define ORIEL_BROKER_NAME_MAX 128      /* pool and user names */
#define ORIEL_BROKER_TEXT_MAX 4096     /* descriptions and error messages */

typedef struct {
    char *token;
    char *user;
    char **groups;    /* NULL-terminated, maybe empty */
    gint64 expires;   /* unix time, 0 when not given */
} OrielBrokerLogin;

void oriel_broker_login_free(OrielBrokerLogin *login);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(OrielBrokerLogin, oriel_broker_login_free)

typedef struct {
    char *name;
    char *description;  /* "" when not given */
    gboolean persistent;
    gint64 free;        /* free desktops, -1 when not given */
    char *assigned;     /* this user's desktop in the pool, or NULL */
} OrielBrokerPool;

void oriel_broker_pool_free(OrielBrokerPool *pool);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(OrielBrokerPool, oriel_broker_pool_free)

/* https://HOST[:PORT][/] only (a password never crosses plain HTTP).
 * Returns the base without a trailing slash. */
char *oriel_broker_url_normalize(const char *url, GError **error);

/* TRUE when @name may be put in a URL path as it is: 1 to
 * ORIEL_BROKER_NAME_MAX of [A-Za-z0-9._-], not starting with a dot. */
gboolean oriel_broker_name_is_safe(const char *name);

/* The request body of POST /api/login. */
char *oriel_broker_login_request(const char *user, const char *password);

OrielBrokerLogin *oriel_broker_login_parse(const char *data, gsize length, GError **error);

/* The "pools" of GET /api/desktops, as OrielBrokerPool *. */
GPtrArray *oriel_broker_pools_parse(const char *data, gsize length, GError **error);

/* The "error" member of an error reply, or NULL when there is none. */
char *oriel_broker_error_message(const char *data, gsize length);

/*
 * The error for an HTTP reply that is not a success: the broker's message
 * when it gave one (else the status's reason), with the code for @status.
 * @what names the request ("login", "the desktop list"...).
 */
void oriel_broker_set_http_error(GError **error, const char *what, guint status, const char *reason,
                                 const char *data, gsize length);

G_END_DECLS
