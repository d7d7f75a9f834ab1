/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "broker-db.h"

#include <errno.h>
#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include "broker.h"

struct _OrielBrokerDb {
    sqlite3 *handle;
    char *path;
    GHashTable *statements; /* SQL text -> sqlite3_stmt, prepared once */
};

static const char schema[] =
    "PRAGMA journal_mode=WAL;"
    "PRAGMA synchronous=NORMAL;"
    "PRAGMA foreign_keys=ON;"
    "CREATE TABLE IF NOT EXISTS sessions ("
    "  token_hash TEXT PRIMARY KEY, user TEXT NOT NULL, groups TEXT NOT NULL,"
    "  created INTEGER NOT NULL, expires INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS assignments ("
    "  desktop TEXT PRIMARY KEY, pool TEXT NOT NULL, user TEXT NOT NULL, since INTEGER NOT NULL);"
    "CREATE TABLE IF NOT EXISTS pools (name TEXT PRIMARY KEY, definition TEXT NOT NULL);"
    "CREATE TABLE IF NOT EXISTS audit ("
    "  id INTEGER PRIMARY KEY AUTOINCREMENT, time INTEGER NOT NULL, event TEXT NOT NULL,"
    "  user TEXT, address TEXT, detail TEXT);"
    "CREATE TRIGGER IF NOT EXISTS audit_no_update BEFORE UPDATE ON audit"
    "  BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;"
    "CREATE TRIGGER IF NOT EXISTS audit_no_delete BEFORE DELETE ON audit"
    "  BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;";

static gboolean
sql_error(OrielBrokerDb *db, GError **error, const char *what)
{
    g_set_error(error, ORIEL_BROKER_SERVER_ERROR, ORIEL_BROKER_SERVER_ERROR_IO, "%s: %s: %s", db->path, what,
                sqlite3_errmsg(db->handle));
    return FALSE;
}

static void
statement_free(gpointer statement)
{
    sqlite3_finalize(statement);
}

/* Resets @statement (ending its read, dropping its bindings) for reuse. */
static void
statement_release(sqlite3_stmt *statement)
{
    sqlite3_reset(statement);
    sqlite3_clear_bindings(statement);
}

void
oriel_broker_db_free(OrielBrokerDb *db)
{
    if (!db)
        return;
    g_clear_pointer(&db->statements, g_hash_table_unref);
    sqlite3_close(db->handle);
    g_free(db->path);
    g_free(db);
}

OrielBrokerDb *
oriel_broker_db_open(const char *path, GError **error)
{
    g_autoptr(OrielBrokerDb) db = g_new0(OrielBrokerDb, 1);
    char *message = NULL;

    db->path = g_strdup(path);
    db->statements = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, statement_free);
    /* Session hashes and the audit log are for root's eyes: the database
     * (and the -wal and -shm files SQLite derives from it) is 0600. */
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0 || fchmod(fd, 0600) != 0) {
        g_set_error(error, ORIEL_BROKER_SERVER_ERROR, ORIEL_BROKER_SERVER_ERROR_IO, "%s: %s", path, g_strerror(errno));
        if (fd >= 0)
            close(fd);
        return NULL;
    }
    close(fd);
    if (sqlite3_open_v2(path, &db->handle, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK) {
        sql_error(db, error, "cannot open");
        return NULL;
    }
    sqlite3_busy_timeout(db->handle, 5000);
    if (sqlite3_exec(db->handle, schema, NULL, NULL, &message) != SQLITE_OK) {
        g_set_error(error, ORIEL_BROKER_SERVER_ERROR, ORIEL_BROKER_SERVER_ERROR_IO, "%s: schema: %s", path, message);
        sqlite3_free(message);
        return NULL;
    }
    return g_steal_pointer(&db);
}

/* @sql prepared: once per database, then reused (every request runs the
 * same few statements).  Hand it back with statement_release(). */
static sqlite3_stmt *
statement_get(OrielBrokerDb *db, const char *sql)
{
    sqlite3_stmt *statement = g_hash_table_lookup(db->statements, sql);

    if (statement)
        return statement;
    if (sqlite3_prepare_v3(db->handle, sql, -1, SQLITE_PREPARE_PERSISTENT, &statement, NULL) != SQLITE_OK) {
        statement_release(statement);
        return NULL;
    }
    g_hash_table_insert(db->statements, g_strdup(sql), statement);
    return statement;
}

/* Runs @sql with text parameters (NULL binds NULL); @n of them. */
static gboolean
run(OrielBrokerDb *db, GError **error, const char *sql, int n, ...)
{
    sqlite3_stmt *statement = NULL;
    va_list args;

    statement = statement_get(db, sql);
    if (!statement)
        return sql_error(db, error, "prepare");
    va_start(args, n);
    for (int i = 0; i < n; i++) {
        const char *value = va_arg(args, const char *);
        if (value)
            sqlite3_bind_text(statement, i + 1, value, -1, SQLITE_TRANSIENT);
        else
            sqlite3_bind_null(statement, i + 1);
    }
    va_end(args);
    int rc = sqlite3_step(statement);
    statement_release(statement);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW)
        return sql_error(db, error, "write");
    return TRUE;
}

gboolean
oriel_broker_db_begin(OrielBrokerDb *db, GError **error)
{
    return run(db, error, "BEGIN IMMEDIATE", 0);
}

gboolean
oriel_broker_db_commit(OrielBrokerDb *db, GError **error)
{
    return run(db, error, "COMMIT", 0);
}

void
oriel_broker_db_rollback(OrielBrokerDb *db)
{
    if (!sqlite3_get_autocommit(db->handle))
        sqlite3_exec(db->handle, "ROLLBACK", NULL, NULL, NULL);
}

gboolean
oriel_broker_db_audit(OrielBrokerDb *db, const char *event, const char *user, const char *address,
                      const char *detail, GError **error)
{
    g_autofree char *now = g_strdup_printf("%" G_GINT64_FORMAT, g_get_real_time() / G_USEC_PER_SEC);

    return run(db, error, "INSERT INTO audit (time, event, user, address, detail) VALUES (?, ?, ?, ?, ?)", 5, now,
               event, user, address, detail);
}

gboolean
oriel_broker_db_session_insert(OrielBrokerDb *db, const char *token_hash, const char *user, const char *groups_json,
                               gint64 expires, GError **error)
{
    g_autofree char *now = g_strdup_printf("%" G_GINT64_FORMAT, g_get_real_time() / G_USEC_PER_SEC);
    g_autofree char *until = g_strdup_printf("%" G_GINT64_FORMAT, expires);

    return run(db, error, "INSERT INTO sessions (token_hash, user, groups, created, expires) VALUES (?, ?, ?, ?, ?)",
               5, token_hash, user, groups_json, now, until);
}

gboolean
oriel_broker_db_session_lookup(OrielBrokerDb *db, const char *token_hash, gint64 now, char **ret_user,
                               char **ret_groups_json, gint64 *ret_expires)
{
    sqlite3_stmt *statement = NULL;
    gboolean found = FALSE;

    statement = statement_get(db, "SELECT user, groups, expires FROM sessions WHERE token_hash = ? AND expires > ?");
    if (!statement)
        return FALSE;
    sqlite3_bind_text(statement, 1, token_hash, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(statement, 2, now);
    if (sqlite3_step(statement) == SQLITE_ROW) {
        *ret_user = g_strdup((const char *)sqlite3_column_text(statement, 0));
        *ret_groups_json = g_strdup((const char *)sqlite3_column_text(statement, 1));
        *ret_expires = sqlite3_column_int64(statement, 2);
        found = TRUE;
    }
    statement_release(statement);
    return found;
}

gboolean
oriel_broker_db_user_has_session(OrielBrokerDb *db, const char *user, gint64 now)
{
    sqlite3_stmt *statement = NULL;
    gboolean found = TRUE; /* when in doubt, keep the desktop */

    statement = statement_get(db, "SELECT 1 FROM sessions WHERE user = ? AND expires > ? LIMIT 1");
    if (!statement)
        return TRUE;
    sqlite3_bind_text(statement, 1, user, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(statement, 2, now);
    int rc = sqlite3_step(statement);
    if (rc == SQLITE_DONE)
        found = FALSE;
    statement_release(statement);
    return found;
}

gboolean
oriel_broker_db_session_delete(OrielBrokerDb *db, const char *token_hash, GError **error)
{
    return run(db, error, "DELETE FROM sessions WHERE token_hash = ?", 1, token_hash);
}

gboolean
oriel_broker_db_session_purge(OrielBrokerDb *db, gint64 now, GError **error)
{
    g_autofree char *text = g_strdup_printf("%" G_GINT64_FORMAT, now);

    return run(db, error, "DELETE FROM sessions WHERE expires <= ?", 1, text);
}

char *
oriel_broker_db_assignment_of(OrielBrokerDb *db, const char *pool, const char *user)
{
    sqlite3_stmt *statement = NULL;
    char *desktop = NULL;

    statement = statement_get(db, "SELECT desktop FROM assignments WHERE pool = ? AND user = ? ORDER BY desktop");
    if (!statement)
        return NULL;
    sqlite3_bind_text(statement, 1, pool, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(statement, 2, user, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(statement) == SQLITE_ROW)
        desktop = g_strdup((const char *)sqlite3_column_text(statement, 0));
    statement_release(statement);
    return desktop;
}

GHashTable *
oriel_broker_db_assignments(OrielBrokerDb *db, const char *pool)
{
    GHashTable *table = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    sqlite3_stmt *statement = NULL;
    const char *sql = pool ? "SELECT desktop, user FROM assignments WHERE pool = ?"
                           : "SELECT desktop, user FROM assignments";

    statement = statement_get(db, sql);
    if (!statement)
        return table;
    if (pool)
        sqlite3_bind_text(statement, 1, pool, -1, SQLITE_TRANSIENT);
    while (sqlite3_step(statement) == SQLITE_ROW)
        g_hash_table_insert(table, g_strdup((const char *)sqlite3_column_text(statement, 0)),
                            g_strdup((const char *)sqlite3_column_text(statement, 1)));
    statement_release(statement);
    return table;
}

gboolean
oriel_broker_db_assign(OrielBrokerDb *db, const char *desktop, const char *pool, const char *user, gint64 now,
                       GError **error)
{
    g_autofree char *since = g_strdup_printf("%" G_GINT64_FORMAT, now);

    return run(db, error, "INSERT INTO assignments (desktop, pool, user, since) VALUES (?, ?, ?, ?)", 4, desktop, pool,
               user, since);
}

gboolean
oriel_broker_db_unassign(OrielBrokerDb *db, const char *desktop, GError **error)
{
    return run(db, error, "DELETE FROM assignments WHERE desktop = ?", 1, desktop);
}

GHashTable *
oriel_broker_db_pools(OrielBrokerDb *db, GError **error)
{
    GHashTable *table = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    sqlite3_stmt *statement = NULL;

    statement = statement_get(db, "SELECT name, definition FROM pools ORDER BY name");
    if (!statement) {
        g_hash_table_unref(table);
        sql_error(db, error, "read pools");
        return NULL;
    }
    while (sqlite3_step(statement) == SQLITE_ROW)
        g_hash_table_insert(table, g_strdup((const char *)sqlite3_column_text(statement, 0)),
                            g_strdup((const char *)sqlite3_column_text(statement, 1)));
    statement_release(statement);
    return table;
}

gboolean
oriel_broker_db_pool_insert(OrielBrokerDb *db, const char *name, const char *definition, GError **error)
{
    return run(db, error, "INSERT INTO pools (name, definition) VALUES (?, ?)", 2, name, definition);
}

gboolean
oriel_broker_db_pool_delete(OrielBrokerDb *db, const char *name, GError **error)
{
    return run(db, error, "DELETE FROM pools WHERE name = ?", 1, name);
}
