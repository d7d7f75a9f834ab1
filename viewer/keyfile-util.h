/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Private to liboriel-viewer: reading key file strings safely. */
#pragma once

#include <glib.h>

/* Like g_key_file_get_string(), but with our own unescaping: GLib's sets a
 * GError over another one for a value with several bad escapes (a warning,
 * fatal in the tests), and returns a string along with an error for one.
 * Escapes: \s \n \t \r \\; anything else is an error, as is invalid UTF-8. */
char *oriel_viewer_keyfile_get_string(GKeyFile *file, const char *group, const char *key,
                                      GError **error);
