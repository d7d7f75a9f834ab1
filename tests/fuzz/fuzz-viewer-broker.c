/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Fuzz target for the viewer's reading of oriel-broker replies: arbitrary
 * bytes as a login reply, a desktop list and an error body.  Whatever is
 * accepted must hold to the documented bounds: a token a header can carry,
 * pool names safe in a URL path, error text without control characters.
 */
#include <glib.h>
#include <stdint.h>
#include <string.h>

#include "broker-proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *text = (const char *)data;
    g_autoptr(GError) error = NULL;

    g_autoptr(OrielBrokerLogin) login = oriel_broker_login_parse(text, size, &error);
    if ((login == NULL) == (error == NULL))
        g_error("login_parse: result and error disagree");
    if (login) {
        gsize length = strlen(login->token);
        if (length == 0 || length > ORIEL_BROKER_TOKEN_MAX)
            g_error("token of %zu bytes accepted", length);
        for (gsize i = 0; i < length; i++) {
            if (login->token[i] <= ' ' || login->token[i] >= 0x7f)
                g_error("token with byte 0x%02x accepted", (guint8)login->token[i]);
        }
    }
    g_clear_error(&error);

    g_autoptr(GPtrArray) pools = oriel_broker_pools_parse(text, size, &error);
    if ((pools == NULL) == (error == NULL))
        g_error("pools_parse: result and error disagree");
    if (pools) {
        if (pools->len > ORIEL_BROKER_POOLS_MAX)
            g_error("%u pools accepted", pools->len);
        for (guint i = 0; i < pools->len; i++) {
            const OrielBrokerPool *pool = pools->pdata[i];
            if (!oriel_broker_name_is_safe(pool->name))
                g_error("unsafe pool name accepted");
            if (!pool->description || strlen(pool->description) > ORIEL_BROKER_TEXT_MAX)
                g_error("description out of bounds");
        }
    }

    g_autofree char *message = oriel_broker_error_message(text, size);
    if (message) {
        if (!g_utf8_validate(message, -1, NULL))
            g_error("error message is not UTF-8");
        for (const char *p = message; *p; p++) {
            if ((guchar)*p < ' ' || *p == 0x7f)
                g_error("control character in an error message");
        }
    }
    g_autoptr(GError) http_error = NULL;
    oriel_broker_set_http_error(&http_error, "fuzz", 401, "Unauthorized", text, size);
    g_assert(http_error != NULL);
    return 0;
}
