/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The xl.cfg parser: reads an xl-style domain config file into the domain
 * config model of devmodel/domain-config.h, so that an administrator's
 * existing xl.cfg for a desktop VM loads with at most warnings.
 *
 * Syntax (a subset of xl.cfg(5) that every real file uses):
 *
 *   # a comment to the end of the line
 *   name = "desktop"; memory = 4096      # ';' or a newline ends a statement
 *   disk = [ '/img/a.qcow2,qcow2,xvda,rw',
 *            ',,hdc,cdrom', ]             # trailing commas allowed
 *   extra = "quiet"
 *   extra += " splash"                    # += concatenates strings ...
 *   device_model_args += [ "-no-hpet" ]   # ... and appends to lists
 *
 * Values are strings ('single' or "double" quoted, with the C escapes
 * \n \t \r \\ \" \' \xHH and \ooo), unsigned numbers (decimal, octal with
 * a leading 0, hex with 0x) and lists, which may nest.  A key given twice
 * keeps its last value, like xl.  Everything taken from the file is bounded:
 * the file (1 MiB), list nesting (16), list length (1024 items) and string
 * length (64 KiB).
 *
 * Errors are in the ORIEL_XLCFG_ERROR domain and their message reads
 * "FILE:LINE:COL: message" (1-based line and byte column of the offending
 * token or value), e.g. "desktop.cfg:3:10: memory: expected a number, got a
 * string".  Errors with no position in the file (it cannot be read, it is
 * too large, a check of the whole config failed) read "FILE: message".
 *
 * Warnings never stop parsing: unknown keys ("FILE:LINE: unknown key 'foo'
 * ignored"), xl keys with no meaning here (vnc, acpi, ...), deprecated
 * spellings (builder=, stdvga=1, ...) and xl values mapped to the nearest
 * Oriel one.  The library never prints them; they are handed to the caller.
 */
#pragma once

#include <glib.h>

#include "domain-config.h"

G_BEGIN_DECLS

#define ORIEL_XLCFG_ERROR (oriel_xlcfg_error_quark())
GQuark oriel_xlcfg_error_quark(void);

typedef enum {
    ORIEL_XLCFG_ERROR_IO,      /* the file cannot be read */
    ORIEL_XLCFG_ERROR_SYNTAX,  /* not xl.cfg syntax: bad token, string, escape, NUL byte */
    ORIEL_XLCFG_ERROR_LIMIT,   /* a bound exceeded: file size, nesting, list length, string length */
    ORIEL_XLCFG_ERROR_TYPE,    /* a value of the wrong type, e.g. a string for memory */
    ORIEL_XLCFG_ERROR_VALUE,   /* a value of the right type that the key does not accept */
    ORIEL_XLCFG_ERROR_INVALID, /* the resulting config fails oriel_domain_config_validate() */
} OrielXlcfgError;

#define ORIEL_XLCFG_FILE_SIZE_MAX (1024u * 1024u)
#define ORIEL_XLCFG_NESTING_MAX 16u
#define ORIEL_XLCFG_LIST_LENGTH_MAX 1024u
#define ORIEL_XLCFG_STRING_LENGTH_MAX (64u * 1024u)

/*
 * Reads and parses the xl.cfg file at @path, then validates the result with
 * oriel_domain_config_validate().  Relative paths in kernel, ramdisk and
 * disk targets are resolved against the directory that holds @path (made
 * absolute), as an administrator reading the file would expect.
 *
 * On success returns a new config and, when @ret_warnings is not NULL, sets
 * it to a new array (possibly empty) of warning strings, each
 * "FILE:LINE: message", owned by the caller and freed with the array.  On
 * failure returns NULL, sets @error and leaves *@ret_warnings untouched.
 */
OrielDomainConfig *oriel_xlcfg_parse_file(const char *path, GPtrArray **ret_warnings,
                                          GError **error);

/*
 * Like oriel_xlcfg_parse_file() on @length bytes at @data, which need not
 * be NUL-terminated (a NUL byte inside is an error).  @filename only names
 * the input in messages (NULL reads "<data>"); relative paths are kept as
 * written, since there is no directory to resolve them against.
 */
OrielDomainConfig *oriel_xlcfg_parse_data(const char *data, gsize length, const char *filename,
                                          GPtrArray **ret_warnings, GError **error);

G_END_DECLS
