/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The client of orield's socket (RUNTIME/orield.sock, hypervisor/protocol.h):
 * synchronous, one request at a time, for command-line tools.  Events that
 * arrive while a reply is awaited are queued for oriel_client_next_event().
 * Replies are capped at ORIEL_CLIENT_MAX_LINE bytes.
 */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

#define ORIEL_CLIENT_MAX_LINE (64 * 1024 * 1024)

#define ORIEL_CLIENT_ERROR (oriel_client_error_quark())
GQuark oriel_client_error_quark(void);

typedef enum {
    ORIEL_CLIENT_ERROR_UNREACHABLE,   /* no daemon answers on the socket */
    ORIEL_CLIENT_ERROR_PROTOCOL,      /* the daemon sent something unexpected */
    ORIEL_CLIENT_ERROR_FAILED,        /* the daemon said "GenericError" or another class */
    ORIEL_CLIENT_ERROR_NOT_FOUND,     /* "NotFound" */
    ORIEL_CLIENT_ERROR_INVALID_STATE, /* "InvalidState" */
    ORIEL_CLIENT_ERROR_INVALID_ARGUMENT, /* "InvalidArgument" */
    ORIEL_CLIENT_ERROR_EXISTS,        /* "Exists" */
    ORIEL_CLIENT_ERROR_PERMISSION_DENIED, /* "PermissionDenied" */
} OrielClientError;

typedef struct _OrielClient OrielClient;

/* RUNTIME/orield.sock of the default mode (root: system, else session). */
char *oriel_client_default_socket_path(void);

/* @socket_path NULL: the default. */
OrielClient *oriel_client_connect(const char *socket_path, GError **error);
void oriel_client_free(OrielClient *client);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(OrielClient, oriel_client_free)

/*
 * Like oriel_client_connect(NULL, ...), but when no daemon answers and the
 * mode is session (or ORIEL_AUTOSTART=1; ORIEL_AUTOSTART=0 never), starts
 * orield the way libvirt starts a session libvirtd: detached, in its own
 * session, logging to RUNTIME/orield.log; waits for its "ready" line, then
 * connects.  The binary is $ORIEL_ORIELD, else the build tree's or
 * installed orield next to this program, else "orield" from PATH.
 */
OrielClient *oriel_client_connect_or_start(GError **error);

/* Sends @command with @arguments (nullable, borrowed) and waits for its
 * reply; returns the "return" member (transfer full) or NULL with @error,
 * whose message is the daemon's "desc". */
JsonNode *oriel_client_call(OrielClient *client, const char *command, JsonObject *arguments, GError **error);

/* The next event ({"event", "data", "timestamp"}), waiting for one; NULL
 * with @error when the connection ends.  Transfer full. */
JsonObject *oriel_client_next_event(OrielClient *client, GError **error);

G_END_DECLS
