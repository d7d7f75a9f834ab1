/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Fuzz target for the bodies oriel-broker parses from the network: the
 * login object and the admin API's pool definition.  The first byte picks
 * the parser, the rest is the body.  A parsed pool must survive a round
 * trip through its JSON form.
 */
#include <glib.h>
#include <stdint.h>
#include <string.h>

#include "broker.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    const char *body = (const char *)data + 1;
    gsize length = size - 1;
    g_autoptr(GError) error = NULL;

    if (data[0] & 1) {
        g_autofree char *user = NULL;
        g_autofree char *password = NULL;
        gboolean ok = oriel_broker_parse_login(body, length, &user, &password, &error);
        if (ok != (error == NULL) || ok != (user != NULL))
            g_error("parse_login: result and error disagree");
        if (ok && !oriel_broker_user_name_is_valid(user))
            g_error("parse_login accepted an invalid user name");
        return 0;
    }
    g_autoptr(OrielBrokerPoolDef) pool = oriel_broker_pool_def_from_json(body, length, &error);
    if ((pool == NULL) == (error == NULL))
        g_error("pool_from_json: result and error disagree");
    if (pool) {
        g_autoptr(JsonObject) object = oriel_broker_pool_def_to_json(pool);
        g_autoptr(JsonNode) node = json_node_new(JSON_NODE_OBJECT);
        json_node_set_object(node, object);
        g_autofree char *text = json_to_string(node, FALSE);
        g_autoptr(GError) again_error = NULL;
        g_autoptr(OrielBrokerPoolDef) again = oriel_broker_pool_def_from_json(text, strlen(text), &again_error);
        if (!again)
            g_error("a valid pool does not round-trip: %s", again_error->message);
    }
    return 0;
}
