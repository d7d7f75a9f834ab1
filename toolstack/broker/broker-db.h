/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The broker's state in SQLite (WAL): sessions (token hashes, never the
 * tokens), desktop assignments, pools added through the admin API, and an
 * append-only audit log (triggers abort any UPDATE or DELETE on it).
 * Used from one thread (the main loop).  A request's changes go in one
 * transaction: oriel_broker_db_begin() ... _commit(), or _rollback().
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

typedef struct _OrielBrokerDb OrielBrokerDb;

OrielBrokerDb *oriel_broker_db_open(const char *path, GError **error);
void oriel_broker_db_free(OrielBrokerDb *db);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(OrielBrokerDb, oriel_broker_db_free)

gboolean oriel_broker_db_begin(OrielBrokerDb *db, GError **error);
gboolean oriel_broker_db_commit(OrielBrokerDb *db, GError **error);
void oriel_broker_db_rollback(OrielBrokerDb *db);

/* Appends to the audit log; @user, @address and @detail may be NULL. */
gboolean oriel_broker_db_audit(OrielBrokerDb *db, const char *event, const char *user, const char *address,
                               const char *detail, GError **error);

gboolean oriel_broker_db_session_insert(OrielBrokerDb *db, const char *token_hash, const char *user,
                                        const char *groups_json, gint64 expires, GError **error);
/* A live session (expires > @now): TRUE and its user and groups. */
gboolean oriel_broker_db_session_lookup(OrielBrokerDb *db, const char *token_hash, gint64 now, char **ret_user,
                                        char **ret_groups_json, gint64 *ret_expires);
/* Whether @user has a live session. */
gboolean oriel_broker_db_user_has_session(OrielBrokerDb *db, const char *user, gint64 now);
gboolean oriel_broker_db_session_delete(OrielBrokerDb *db, const char *token_hash, GError **error);
gboolean oriel_broker_db_session_purge(OrielBrokerDb *db, gint64 now, GError **error);

/* The desktop of @pool assigned to @user, or NULL. */
char *oriel_broker_db_assignment_of(OrielBrokerDb *db, const char *pool, const char *user);
/* desktop name -> user, for @pool (every pool when NULL). */
GHashTable *oriel_broker_db_assignments(OrielBrokerDb *db, const char *pool);
gboolean oriel_broker_db_assign(OrielBrokerDb *db, const char *desktop, const char *pool, const char *user,
                                gint64 now, GError **error);
gboolean oriel_broker_db_unassign(OrielBrokerDb *db, const char *desktop, GError **error);

/* Pools added through the admin API: name -> JSON definition. */
GHashTable *oriel_broker_db_pools(OrielBrokerDb *db, GError **error);
gboolean oriel_broker_db_pool_insert(OrielBrokerDb *db, const char *name, const char *definition, GError **error);
gboolean oriel_broker_db_pool_delete(OrielBrokerDb *db, const char *name, GError **error);

G_END_DECLS
