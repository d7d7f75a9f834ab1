/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What every orielctl verb served by orield shares: option parsing, one call
 * to orield, printing its reply. */
#include "orielctl.h"

#include <stdio.h>

#include "client.h"

JsonNode *
orielctl_call(const char *verb, const char *command, JsonObject *arguments)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(OrielClient) client = oriel_client_connect_or_start(&error);
    JsonNode *reply = client ? oriel_client_call(client, command, arguments, &error) : NULL;

    if (!reply)
        fprintf(stderr, "orielctl %s: %s\n", verb, error->message);
    return reply;
}

gboolean
orielctl_parse_options(const char *verb, const char *parameters, const char *summary, GOptionEntry *entries,
                       int *argc, char ***argv, guint want_args, int *ret_status)
{
    g_autoptr(GOptionContext) context = g_option_context_new(parameters);
    g_autoptr(GError) error = NULL;

    g_option_context_set_summary(context, summary);
    if (entries)
        g_option_context_add_main_entries(context, entries, NULL);
    if (!g_option_context_parse(context, argc, argv, &error)) {
        fprintf(stderr, "orielctl %s: %s\n", verb, error->message);
        *ret_status = ORIELCTL_EXIT_USAGE;
        return FALSE;
    }
    if ((guint)*argc != want_args + 1) {
        fprintf(stderr, "Usage: orielctl %s %s\n", verb, parameters);
        *ret_status = ORIELCTL_EXIT_USAGE;
        return FALSE;
    }
    return TRUE;
}

void
orielctl_print_json(JsonNode *node)
{
    g_autofree char *text = json_to_string(node, TRUE);
    printf("%s\n", text);
}

JsonObject *
orielctl_name_arguments(const char *name)
{
    JsonObject *arguments = json_object_new();
    json_object_set_string_member(arguments, "name", name);
    return arguments;
}
