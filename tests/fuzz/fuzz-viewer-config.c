/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Fuzz target for viewer.conf: arbitrary bytes as a configuration file.
 * What it yields must be options only, each naming a key of the file. */
#include <glib.h>
#include <stdint.h>

#include "oriel-viewer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    g_autoptr(GError) error = NULL;
    g_auto(GStrv) args =
        oriel_viewer_config_to_args((const char *)data, size, "fuzz.conf", &error);

    if ((args == NULL) == (error == NULL))
        g_error("config_to_args returned %s with %s", args ? "arguments" : "nothing",
                error ? "an error" : "no error");
    for (char **arg = args; arg && *arg; arg++)
        if (!g_str_has_prefix(*arg, "--") || (*arg)[2] == '\0' || (*arg)[2] == '=')
            g_error("not an option: \"%s\"", *arg);
    return 0;
}
