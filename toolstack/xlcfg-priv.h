/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The first stage of the xl.cfg parser, shared by xlcfg-syntax.c (which
 * builds it) and xlcfg.c (which maps it onto an OrielDomainConfig), and
 * used by the unit tests: a generic tree of settings with the position of
 * every value, knowing nothing of what the keys mean.
 */
#pragma once

#include <glib.h>

#include "xlcfg.h"

G_BEGIN_DECLS

typedef enum {
    ORIEL_XLCFG_VALUE_STRING,
    ORIEL_XLCFG_VALUE_NUMBER,
    ORIEL_XLCFG_VALUE_LIST,
} OrielXlcfgValueType;

typedef struct {
    OrielXlcfgValueType type;
    guint line;   /* 1-based position of the value's first character */
    guint column; /* 1-based, in bytes */
    char *string; /* STRING: unescaped, valid UTF-8, no NUL inside */
    guint64 number;
    GPtrArray *items; /* LIST: of OrielXlcfgValue *, never NULL for a list */
} OrielXlcfgValue;

typedef struct {
    char *key;
    guint line; /* position of the key */
    guint column;
    OrielXlcfgValue *value;
} OrielXlcfgSetting;

/* The settings of one file, each key once (a later '=' replaces an earlier
 * one, '+=' extends it), in the order their keys first appeared. */
typedef struct {
    char *filename;
    GPtrArray *settings;     /* of OrielXlcfgSetting * */
    GHashTable *by_key;      /* key -> OrielXlcfgSetting *, borrowed from settings */
} OrielXlcfgSettings;

void oriel_xlcfg_value_free(OrielXlcfgValue *value);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(OrielXlcfgValue, oriel_xlcfg_value_free)

void oriel_xlcfg_settings_free(OrielXlcfgSettings *settings);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(OrielXlcfgSettings, oriel_xlcfg_settings_free)

/* Parses the syntax of @length bytes at @data (not NUL-terminated) named
 * @filename in messages.  Errors are ORIEL_XLCFG_ERROR_SYNTAX or _LIMIT. */
OrielXlcfgSettings *oriel_xlcfg_settings_parse(const char *data, gsize length,
                                               const char *filename, GError **error);

/* The setting for @key, or NULL. */
const OrielXlcfgSetting *oriel_xlcfg_settings_lookup(const OrielXlcfgSettings *settings,
                                                     const char *key);

/* Sets @error to "FILENAME:LINE:COLUMN: message" in ORIEL_XLCFG_ERROR. */
void oriel_xlcfg_set_error_at(GError **error, OrielXlcfgError code, const char *filename,
                              guint line, guint column, const char *format, ...)
    G_GNUC_PRINTF(6, 7);

/* "a string", "a number", "a list": for messages. */
const char *oriel_xlcfg_value_type_describe(OrielXlcfgValueType type);

/* ---- the mapping stage, shared by xlcfg.c and xlcfg-devices.c ---- */

typedef struct {
    const OrielXlcfgSettings *settings;
    const char *filename;
    const char *base_directory; /* NULL: relative paths stay as written */
    OrielDomainConfig *config;
    GPtrArray *warnings; /* of char * */
    /* An xl key a validation message may name -> the value that set it,
     * also for keys given through an alias (bios= sets firmware, ...). */
    GHashTable *origins;
    /* The list item each disk and NIC came from, in config order. */
    GPtrArray *disk_items;
    GPtrArray *nic_items;
} OrielXlcfgMapper;

/* Adds the warning "FILENAME:LINE: message". */
void oriel_xlcfg_warn(OrielXlcfgMapper *mapper, guint line, const char *format, ...)
    G_GNUC_PRINTF(3, 4);

/* Sets @error at @value's position; returns FALSE. */
gboolean oriel_xlcfg_fail_at(OrielXlcfgMapper *mapper, const OrielXlcfgValue *value,
                                    OrielXlcfgError code, GError **error, const char *format, ...)
    G_GNUC_PRINTF(5, 6);

/* "KEY: expected a number, got a string" unless @value has @type. */
gboolean oriel_xlcfg_expect_type(OrielXlcfgMapper *mapper, const char *key,
                                        const OrielXlcfgValue *value, OrielXlcfgValueType type,
                                        GError **error);

/* @path made absolute against the config file's directory when relative. */
char *oriel_xlcfg_resolve_path(const OrielXlcfgMapper *mapper, const char *path);

gboolean oriel_xlcfg_map_disk(OrielXlcfgMapper *mapper, const OrielXlcfgSetting *setting,
                              GError **error);
gboolean oriel_xlcfg_map_vif(OrielXlcfgMapper *mapper, const OrielXlcfgSetting *setting,
                             GError **error);

G_END_DECLS
