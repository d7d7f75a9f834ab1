/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Fuzz target for the xl.cfg parser: arbitrary bytes as a config file,
 * through both stages (syntax, mapping) and validation.  Every result,
 * warning and error is freed so that leaks show up.
 */
#include <glib.h>
#include <stdint.h>

#include "xlcfg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(GPtrArray) warnings = NULL;
    g_autoptr(OrielDomainConfig) config =
        oriel_xlcfg_parse_data((const char *)data, size, "fuzz.cfg", &warnings, &error);

    /* Exactly one of a config or an error, never both; warnings only
     * with a config. */
    if ((config == NULL) == (error == NULL))
        g_error("parse_data returned %s with %s", config ? "a config" : "no config",
                error ? "an error" : "no error");
    if (!config && warnings)
        g_error("warnings returned with an error");
    return 0;
}
