/* SPDX-License-Identifier: LGPL-2.1-or-later */
#define G_LOG_DOMAIN "oriel-viewer"

#include "keyfile-util.h"
#include "oriel-viewer.h"

#include <string.h>

char *
oriel_viewer_keyfile_get_string(GKeyFile *file, const char *group, const char *key,
                                GError **error)
{
    g_autofree char *raw = g_key_file_get_value(file, group, key, error);
    g_autoptr(GString) out = NULL;

    if (!raw)
        return NULL;
    if (!g_utf8_validate(raw, -1, NULL)) {
        g_set_error_literal(error, ORIEL_VIEWER_ERROR, ORIEL_VIEWER_ERROR_INVALID,
                            "the value is not UTF-8");
        return NULL;
    }
    out = g_string_sized_new(strlen(raw));
    for (const char *p = raw; *p; p++) {
        if (*p != '\\') {
            g_string_append_c(out, *p);
            continue;
        }
        p++;
        switch (*p) {
        case 's': g_string_append_c(out, ' '); break;
        case 'n': g_string_append_c(out, '\n'); break;
        case 't': g_string_append_c(out, '\t'); break;
        case 'r': g_string_append_c(out, '\r'); break;
        case '\\': g_string_append_c(out, '\\'); break;
        default:
            if (*p)
                g_set_error(error, ORIEL_VIEWER_ERROR, ORIEL_VIEWER_ERROR_INVALID,
                            "invalid escape \\%c in the value", *p);
            else
                g_set_error_literal(error, ORIEL_VIEWER_ERROR, ORIEL_VIEWER_ERROR_INVALID,
                                    "escape at the end of the value");
            return NULL;
        }
    }
    return g_string_free(g_steal_pointer(&out), FALSE);
}
