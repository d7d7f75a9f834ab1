/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* File names of per-display screenshots. */
#include "oriel-viewer.h"

#include <string.h>

char *
oriel_viewer_display_file_name(const char *path, guint display)
{
    const char *base;
    const char *dot;

    g_return_val_if_fail(path != NULL, NULL);
    if (display == 0)
        return g_strdup(path);
    /* The suffix goes before the extension of the file name, never into a
     * directory name: shot.png -> shot-1.png, dir.d/shot -> dir.d/shot-1. */
    base = strrchr(path, '/');
    base = base ? base + 1 : path;
    dot = strrchr(base, '.');
    if (!dot || dot == base)
        return g_strdup_printf("%s-%u", path, display);
    return g_strdup_printf("%.*s-%u%s", (int)(dot - path), path, display, dot);
}
