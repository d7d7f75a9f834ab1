/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The domain config's JSON reader, which will take configs from the daemon
 * socket: any bytes either parse into a config that validates or re-reads
 * identically, or fail with an error; nothing crashes or leaks. */
#include <stdint.h>

#include "domain-config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    g_autoptr(JsonParser) parser = json_parser_new();
    g_autoptr(GError) error = NULL;

    if (size > 64 * 1024)
        return 0;
    if (!json_parser_load_from_data(parser, (const char *)data, (gssize)size, &error))
        return 0;
    g_autoptr(OrielDomainConfig) config = oriel_domain_config_from_json(json_parser_get_root(parser), &error);
    if (!config || !oriel_domain_config_validate(config, &error))
        return 0;

    /* A valid config survives its own round trip unchanged. */
    g_autoptr(JsonNode) first = oriel_domain_config_to_json(config, FALSE);
    g_autoptr(OrielDomainConfig) copy = oriel_domain_config_from_json(first, &error);
    if (!copy || !oriel_domain_config_validate(copy, &error))
        __builtin_trap();
    g_autoptr(JsonNode) second = oriel_domain_config_to_json(copy, FALSE);
    if (!json_node_equal(first, second))
        __builtin_trap();
    return 0;
}
