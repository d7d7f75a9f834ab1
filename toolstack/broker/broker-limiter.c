/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Login rate limit and lock-out.  Attempts are counted per user and per
 * client address in a fixed window; consecutive failures of a user lock it
 * out for lockout_seconds.  Memory is bounded: past LIMITER_ENTRIES_MAX
 * entries, the ones with nothing left to remember are dropped, and if that
 * is not enough, new keys share one overflow entry (limited together).
 */
#include "broker.h"

#define LIMITER_ENTRIES_MAX 65536u

typedef struct {
    gint64 window_start;
    guint attempts;
    guint failures;      /* consecutive, users only */
    gint64 locked_until; /* users only */
} Entry;

struct _OrielBrokerLimiter {
    guint max_failures;
    guint lockout_seconds;
    guint limit_user;
    guint limit_address;
    guint window;
    GHashTable *entries; /* "u:NAME" / "a:ADDRESS" -> Entry */
};

OrielBrokerLimiter *
oriel_broker_limiter_new(const OrielBrokerConfig *config)
{
    OrielBrokerLimiter *limiter = g_new0(OrielBrokerLimiter, 1);

    limiter->max_failures = config->max_failures;
    limiter->lockout_seconds = config->lockout_seconds;
    limiter->limit_user = config->rate_limit_user;
    limiter->limit_address = config->rate_limit_address;
    limiter->window = config->rate_limit_window;
    limiter->entries = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, g_free);
    return limiter;
}

void
oriel_broker_limiter_free(OrielBrokerLimiter *limiter)
{
    if (!limiter)
        return;
    g_hash_table_unref(limiter->entries);
    g_free(limiter);
}

static gboolean
entry_is_idle(gpointer key, gpointer value, gpointer user_data)
{
    const Entry *entry = value;
    const gint64 *cutoff = user_data;

    return entry->window_start < cutoff[0] && entry->locked_until <= cutoff[1] && entry->failures == 0;
}

static Entry *
lookup(OrielBrokerLimiter *limiter, char kind, const char *name, gint64 now)
{
    g_autofree char *key = g_strdup_printf("%c:%s", kind, name);
    Entry *entry = g_hash_table_lookup(limiter->entries, key);

    if (entry)
        return entry;
    if (g_hash_table_size(limiter->entries) >= LIMITER_ENTRIES_MAX) {
        gint64 cutoff[2] = { now - limiter->window, now };
        g_hash_table_foreach_remove(limiter->entries, entry_is_idle, cutoff);
        if (g_hash_table_size(limiter->entries) >= LIMITER_ENTRIES_MAX) {
            g_free(key);
            key = g_strdup_printf("%c*overflow", kind);
            entry = g_hash_table_lookup(limiter->entries, key);
            if (entry)
                return entry;
        }
    }
    entry = g_new0(Entry, 1);
    entry->window_start = now;
    g_hash_table_insert(limiter->entries, g_steal_pointer(&key), entry);
    return entry;
}

/* Counts one attempt; FALSE when the window's budget is spent. */
static gboolean
count_attempt(Entry *entry, guint limit, guint window, gint64 now, guint *retry_after)
{
    if (now - entry->window_start >= window || now < entry->window_start) {
        entry->window_start = now;
        entry->attempts = 0;
    }
    if (entry->attempts >= limit) {
        *retry_after = (guint)MAX(1, entry->window_start + window - now);
        return FALSE;
    }
    entry->attempts++;
    return TRUE;
}

OrielBrokerLimit
oriel_broker_limiter_attempt(OrielBrokerLimiter *limiter, const char *user, const char *address, gint64 now,
                             guint *ret_retry_after)
{
    Entry *by_user = lookup(limiter, 'u', user, now);
    guint retry_after = 0;

    if (by_user->locked_until > now) {
        *ret_retry_after = (guint)(by_user->locked_until - now);
        return ORIEL_BROKER_LIMIT_LOCKED;
    }
    Entry *by_address = lookup(limiter, 'a', address, now);
    if (!count_attempt(by_address, limiter->limit_address, limiter->window, now, &retry_after) ||
        !count_attempt(by_user, limiter->limit_user, limiter->window, now, &retry_after)) {
        *ret_retry_after = retry_after;
        return ORIEL_BROKER_LIMIT_RATE;
    }
    return ORIEL_BROKER_LIMIT_ALLOW;
}

gboolean
oriel_broker_limiter_result(OrielBrokerLimiter *limiter, const char *user, gboolean success, gint64 now)
{
    Entry *entry = lookup(limiter, 'u', user, now);

    if (success) {
        entry->failures = 0;
        return FALSE;
    }
    if (++entry->failures < limiter->max_failures)
        return FALSE;
    entry->failures = 0;
    entry->locked_until = now + limiter->lockout_seconds;
    return TRUE;
}
