/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Fuzz target for oriel-broker's config file (key file with [broker] and
 * [pool NAME] groups): every accepted pool must pass validation and
 * survive a round trip through the admin API's JSON form.
 */
#include <glib.h>
#include <stdint.h>
#include <string.h>

#include "broker.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(OrielBrokerConfig) config =
        oriel_broker_config_parse_data((const char *)data, size, "fuzz.conf", &error);

    if ((config == NULL) == (error == NULL))
        g_error("config_parse_data: result and error disagree");
    for (guint i = 0; config && i < config->pools->len; i++) {
        const OrielBrokerPoolDef *pool = config->pools->pdata[i];
        g_autoptr(GError) pool_error = NULL;
        if (!oriel_broker_pool_def_validate(pool, &pool_error))
            g_error("an accepted pool fails validation: %s", pool_error->message);
        g_autoptr(JsonObject) object = oriel_broker_pool_def_to_json(pool);
        g_autoptr(JsonNode) node = json_node_new(JSON_NODE_OBJECT);
        json_node_set_object(node, object);
        g_autofree char *text = json_to_string(node, FALSE);
        g_autoptr(OrielBrokerPoolDef) again = oriel_broker_pool_def_from_json(text, strlen(text), &pool_error);
        if (!again)
            g_error("an accepted pool does not round-trip: %s", pool_error->message);
    }
    return 0;
}
