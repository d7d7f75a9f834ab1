/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Fuzz target for the viewer's spice:// URI parser. */
#include <glib.h>
#include <stdint.h>
#include <string.h>

#include "oriel-viewer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    g_autofree char *text = NULL;
    g_autoptr(GError) error = NULL;
    g_autoptr(OrielViewerConnection) connection = NULL;
    g_autofree char *described = NULL;

    /* A URI is a command-line string: no NUL inside, bounded. */
    if (size > 4096 || memchr(data, '\0', size))
        return 0;
    text = g_strndup((const char *)data, size);
    connection = oriel_viewer_connection_parse_uri(text, &error);
    if ((connection == NULL) == (error == NULL))
        g_error("parse_uri returned %s with %s", connection ? "a connection" : "nothing",
                error ? "an error" : "no error");
    if (!connection)
        return 0;
    /* What we accept names something to connect to. */
    if (!connection->unix_path && (!connection->host || !*connection->host ||
                                   (!connection->port && !connection->tls_port)))
        g_error("accepted \"%s\" without an address", text);
    described = oriel_viewer_connection_describe(connection);
    if (connection->password && strstr(described, connection->password) &&
        *connection->password)
        g_debug("password text also occurs in the address");
    return 0;
}
