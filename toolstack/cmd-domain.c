/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * orielctl's verbs that go through orield: list, info, define, undefine,
 * create (without -F), start, shutdown, reboot, destroy, pause, unpause,
 * events.  Each prints one clear line and exits non-zero on any error the
 * daemon reports (missing domain, wrong state) or when it is unreachable.
 */
#include "orielctl.h"

#include <stdio.h>
#include <string.h>

#include "client.h"

static int
report(const char *verb, const GError *error)
{
    fprintf(stderr, "orielctl %s: %s\n", verb, error->message);
    return ORIELCTL_EXIT_ERROR;
}

/* ---- list and info ------------------------------------------------------------ */

int
orielctl_cmd_list(int argc, char **argv)
{
    gboolean json = FALSE;
    GOptionEntry entries[] = {
        { "json", 'j', 0, G_OPTION_ARG_NONE, &json, "Print JSON", NULL },
        { NULL },
    };
    int status;

    if (!orielctl_parse_options("list", "", "List domains, like xl list.", entries, &argc, &argv, 0, &status))
        return status;
    g_autoptr(JsonNode) reply = orielctl_call("list", "domain-list", NULL);
    if (!reply)
        return ORIELCTL_EXIT_ERROR;
    if (json) {
        orielctl_print_json(reply);
        return ORIELCTL_EXIT_OK;
    }
    if (!JSON_NODE_HOLDS_ARRAY(reply)) {
        fprintf(stderr, "orielctl list: orield's reply is not a list\n");
        return ORIELCTL_EXIT_ERROR;
    }
    printf("%-32s %5s %6s %5s %-13s %8s  %s\n", "Name", "ID", "Mem", "VCPUs", "State", "Time(s)", "SPICE");
    JsonArray *array = json_node_get_array(reply);
    for (guint i = 0; i < json_array_get_length(array); i++) {
        JsonObject *domain = json_array_get_object_element(array, i);
        if (!domain)
            continue;
        gint64 id = json_object_get_int_member_with_default(domain, "id", 0);
        g_autofree char *id_text = id > 0 ? g_strdup_printf("%" G_GINT64_FORMAT, id) : g_strdup("-");
        g_autofree char *time_text = json_object_has_member(domain, "time")
            ? g_strdup_printf("%.1f", json_object_get_double_member_with_default(domain, "time", 0))
            : g_strdup("-");
        printf("%-32s %5s %6" G_GINT64_FORMAT " %5" G_GINT64_FORMAT " %-13s %8s  %s\n",
               json_object_get_string_member_with_default(domain, "name", "?"), id_text,
               json_object_get_int_member_with_default(domain, "memory", 0),
               json_object_get_int_member_with_default(domain, "vcpus", 0),
               json_object_get_string_member_with_default(domain, "state", "?"), time_text,
               json_object_get_string_member_with_default(domain, "spice", "-"));
    }
    return ORIELCTL_EXIT_OK;
}

int
orielctl_cmd_info(int argc, char **argv)
{
    gboolean json = FALSE;
    GOptionEntry entries[] = {
        { "json", 'j', 0, G_OPTION_ARG_NONE, &json, "Print JSON", NULL },
        { NULL },
    };
    int status;

    if (!orielctl_parse_options("info", "", "Describe the host, like xl info.", entries, &argc, &argv, 0, &status))
        return status;
    g_autoptr(JsonNode) reply = orielctl_call("info", "host-info", NULL);
    if (!reply)
        return ORIELCTL_EXIT_ERROR;
    if (json || !JSON_NODE_HOLDS_OBJECT(reply)) {
        orielctl_print_json(reply);
        return ORIELCTL_EXIT_OK;
    }
    /* xl info's order; anything newer after. */
    static const char *const order[] = { "host", "nr_cpus", "total_memory", "free_memory", "accel", "accel_reason",
                                         "nested_virt", "qemu_version", "oriel_version", "mode", "domains",
                                         "running_domains" };
    JsonObject *object = json_node_get_object(reply);
    GList *members = json_object_get_members(object);
    for (gsize i = G_N_ELEMENTS(order); i > 0; i--)
        members = g_list_prepend(members, (gpointer)order[i - 1]);
    g_autoptr(GHashTable) printed = g_hash_table_new(g_str_hash, g_str_equal);
    for (GList *l = members; l; l = l->next) {
        const char *member = l->data;
        JsonNode *value = json_object_get_member(object, member);
        if (!value || !g_hash_table_add(printed, (gpointer)member))
            continue;
        g_autofree char *text = JSON_NODE_HOLDS_VALUE(value) && json_node_get_value_type(value) == G_TYPE_STRING
            ? g_strdup(json_node_get_string(value))
            : json_to_string(value, FALSE);
        printf("%-24s: %s\n", member, text);
    }
    g_list_free(members);
    return ORIELCTL_EXIT_OK;
}

int
orielctl_cmd_dominfo(int argc, char **argv)
{
    int status;

    if (!orielctl_parse_options("dominfo", "NAME", "Describe one domain as JSON.", NULL, &argc, &argv, 1, &status))
        return status;
    g_autoptr(JsonObject) arguments = orielctl_name_arguments(argv[1]);
    g_autoptr(JsonNode) reply = orielctl_call("dominfo", "domain-info", arguments);
    if (!reply)
        return ORIELCTL_EXIT_ERROR;
    orielctl_print_json(reply);
    return ORIELCTL_EXIT_OK;
}

/* ---- definitions and starts ----------------------------------------------------- */

static JsonObject *
config_arguments(const char *path)
{
    g_autoptr(OrielDomainConfig) config = orielctl_load_config(path);

    if (!config)
        return NULL;
    JsonObject *arguments = json_object_new();
    json_object_set_member(arguments, "config", oriel_domain_config_to_json(config, FALSE));
    return arguments;
}

int
orielctl_cmd_define(int argc, char **argv)
{
    int status;

    if (!orielctl_parse_options("define", "FILE.cfg", "Define (or redefine) a domain from a config file.", NULL, &argc,
                                &argv, 1, &status))
        return status;
    JsonObject *arguments = config_arguments(argv[1]);
    if (!arguments)
        return ORIELCTL_EXIT_ERROR;
    g_autoptr(JsonNode) reply = orielctl_call("define", "domain-define", arguments);
    json_object_unref(arguments);
    if (!reply)
        return ORIELCTL_EXIT_ERROR;
    JsonObject *object = JSON_NODE_HOLDS_OBJECT(reply) ? json_node_get_object(reply) : NULL;
    printf("Domain '%s' %s.\n", object ? json_object_get_string_member_with_default(object, "name", "?") : "?",
           object && json_object_get_boolean_member_with_default(object, "created", TRUE) ? "defined" : "redefined");
    return ORIELCTL_EXIT_OK;
}

static void
print_started(JsonNode *reply)
{
    JsonObject *object = JSON_NODE_HOLDS_OBJECT(reply) ? json_node_get_object(reply) : NULL;

    if (!object)
        return;
    printf("Domain '%s' is running as id %" G_GINT64_FORMAT ".\n",
           json_object_get_string_member_with_default(object, "name", "?"),
           json_object_get_int_member_with_default(object, "id", 0));
    if (json_object_has_member(object, "spice"))
        printf("SPICE URI: %s\n", json_object_get_string_member_with_default(object, "spice", ""));
    if (json_object_has_member(object, "console"))
        printf("Serial console: %s\n", json_object_get_string_member_with_default(object, "console", ""));
}

int
orielctl_create_with_daemon(const char *path)
{
    JsonObject *arguments = config_arguments(path);

    if (!arguments)
        return ORIELCTL_EXIT_ERROR;
    g_autoptr(JsonNode) reply = orielctl_call("create", "domain-create", arguments);
    json_object_unref(arguments);
    if (!reply)
        return ORIELCTL_EXIT_ERROR;
    print_started(reply);
    return ORIELCTL_EXIT_OK;
}

/* A verb of the form `VERB NAME` mapping to one daemon command. */
static int
simple_verb(const char *verb, const char *command, const char *summary, const char *done, int argc, char **argv)
{
    int status;

    if (!orielctl_parse_options(verb, "NAME", summary, NULL, &argc, &argv, 1, &status))
        return status;
    JsonObject *arguments = orielctl_name_arguments(argv[1]);
    g_autoptr(JsonNode) reply = orielctl_call(verb, command, arguments);
    json_object_unref(arguments);
    if (!reply)
        return ORIELCTL_EXIT_ERROR;
    if (g_str_equal(verb, "start"))
        print_started(reply);
    else if (done)
        printf("Domain '%s' %s.\n", argv[1], done);
    return ORIELCTL_EXIT_OK;
}

int
orielctl_cmd_undefine(int argc, char **argv)
{
    return simple_verb("undefine", "domain-undefine", "Remove a domain's definition (a running domain keeps running).",
                       "undefined", argc, argv);
}

int
orielctl_cmd_start(int argc, char **argv)
{
    return simple_verb("start", "domain-start", "Start a defined domain.", NULL, argc, argv);
}

int
orielctl_cmd_reboot(int argc, char **argv)
{
    return simple_verb("reboot", "domain-reboot", "Reset a running domain.", "reset", argc, argv);
}

int
orielctl_cmd_destroy(int argc, char **argv)
{
    return simple_verb("destroy", "domain-destroy", "Stop a domain at once (its QEMU is killed).", "destroyed",
                       argc, argv);
}

int
orielctl_cmd_pause(int argc, char **argv)
{
    return simple_verb("pause", "domain-pause", "Pause a running domain's vCPUs.", "paused", argc, argv);
}

int
orielctl_cmd_unpause(int argc, char **argv)
{
    return simple_verb("unpause", "domain-unpause", "Resume a paused domain.", "unpaused", argc, argv);
}

int
orielctl_cmd_shutdown(int argc, char **argv)
{
    gboolean wait = FALSE;
    gint timeout_s = 60;
    GOptionEntry entries[] = {
        { "wait", 'w', 0, G_OPTION_ARG_NONE, &wait, "Wait until the domain has stopped", NULL },
        { "timeout", 't', 0, G_OPTION_ARG_INT, &timeout_s,
          "Seconds the guest gets to power off before QEMU is stopped (default 60)", "SECONDS" },
        { NULL },
    };
    int status;

    if (!orielctl_parse_options("shutdown", "NAME", "Press the domain's power button (ACPI); stop it after a timeout.",
                                entries, &argc, &argv, 1, &status))
        return status;
    JsonObject *arguments = orielctl_name_arguments(argv[1]);
    json_object_set_boolean_member(arguments, "wait", wait);
    json_object_set_int_member(arguments, "timeout", timeout_s);
    g_autoptr(JsonNode) reply = orielctl_call("shutdown", "domain-shutdown", arguments);
    json_object_unref(arguments);
    if (!reply)
        return ORIELCTL_EXIT_ERROR;
    printf("Domain '%s' %s.\n", argv[1], wait ? "has shut down" : "is shutting down");
    return ORIELCTL_EXIT_OK;
}

int
orielctl_cmd_events(int argc, char **argv)
{
    g_autoptr(GError) error = NULL;
    int status;

    if (!orielctl_parse_options("events", "", "Follow orield's event stream (one JSON object per line).", NULL, &argc,
                                &argv, 0, &status))
        return status;
    g_autoptr(OrielClient) client = oriel_client_connect_or_start(&error);
    g_autoptr(JsonNode) reply = client ? oriel_client_call(client, "subscribe-events", NULL, &error) : NULL;
    if (!reply)
        return report("events", error);
    for (;;) {
        g_autoptr(JsonObject) event = oriel_client_next_event(client, &error);
        if (!event)
            return report("events", error);
        g_autoptr(JsonNode) node = json_node_new(JSON_NODE_OBJECT);
        json_node_set_object(node, event);
        g_autofree char *text = json_to_string(node, FALSE);
        printf("%s\n", text);
        fflush(stdout);
    }
}

int
orielctl_cmd_spice(int argc, char **argv)
{
    gint expires = 60;
    gboolean one_time = FALSE, json = FALSE;
    GOptionEntry entries[] = {
        { "expires", 'e', 0, G_OPTION_ARG_INT, &expires, "Seconds the ticket is valid (default 60)", "SECONDS" },
        { "one-time", 0, 0, G_OPTION_ARG_NONE, &one_time,
          "The ticket serves one client session; a second connection with it is refused", NULL },
        { "json", 0, 0, G_OPTION_ARG_NONE, &json,
          "Print orield's whole reply (ports, ticket, expiry, TLS CA and subject) as JSON", NULL },
        { NULL },
    };
    int status;

    if (!orielctl_parse_options("spice", "NAME", "Print a spice:// URI with a fresh one-time ticket.", entries, &argc,
                                &argv, 1, &status))
        return status;
    JsonObject *arguments = orielctl_name_arguments(argv[1]);
    json_object_set_int_member(arguments, "expires", expires);
    if (one_time)
        json_object_set_boolean_member(arguments, "one_time", TRUE);
    g_autoptr(JsonNode) reply = orielctl_call("spice", "domain-spice-ticket", arguments);
    json_object_unref(arguments);
    if (!reply)
        return ORIELCTL_EXIT_ERROR;
    if (json) {
        orielctl_print_json(reply);
        return ORIELCTL_EXIT_OK;
    }
    JsonObject *object = JSON_NODE_HOLDS_OBJECT(reply) ? json_node_get_object(reply) : NULL;
    printf("%s\n", object ? json_object_get_string_member_with_default(object, "uri", "") : "");
    return ORIELCTL_EXIT_OK;
}

/* The serial console's socket path of a running domain, or NULL after
 * printing why. */
char *
orielctl_console_path(const char *name)
{
    JsonObject *arguments = orielctl_name_arguments(name);
    g_autoptr(JsonNode) reply = orielctl_call("console", "domain-info", arguments);
    json_object_unref(arguments);
    if (!reply)
        return NULL;
    JsonObject *object = JSON_NODE_HOLDS_OBJECT(reply) ? json_node_get_object(reply) : NULL;
    const char *path = object ? json_object_get_string_member_with_default(object, "console", NULL) : NULL;
    if (!path) {
        fprintf(stderr, "orielctl console: '%s' has no serial console (not running, or serial is not \"unix\")\n",
                name);
        return NULL;
    }
    return g_strdup(path);
}

/* ---- resources ------------------------------------------------------------------ */

int
orielctl_cmd_sched_credit(int argc, char **argv)
{
    gint weight = -1, cap = -1;
    GOptionEntry entries[] = {
        { "weight", 'w', 0, G_OPTION_ARG_INT, &weight, "CPU weight (1..65535, default 256)", "WEIGHT" },
        { "cap", 'c', 0, G_OPTION_ARG_INT, &cap, "CPU cap in percent of one CPU (0 = none)", "CAP" },
        { NULL },
    };
    int status;

    if (!orielctl_parse_options("sched-credit", "NAME", "Show or set a domain's CPU weight and cap (cgroups).", entries,
                                &argc, &argv, 1, &status))
        return status;
    JsonObject *arguments = orielctl_name_arguments(argv[1]);
    if (weight != -1)
        json_object_set_int_member(arguments, "weight", weight);
    if (cap != -1)
        json_object_set_int_member(arguments, "cap", cap);
    g_autoptr(JsonNode) reply = orielctl_call("sched-credit", "domain-sched-credit", arguments);
    json_object_unref(arguments);
    if (!reply)
        return ORIELCTL_EXIT_ERROR;
    JsonObject *object = JSON_NODE_HOLDS_OBJECT(reply) ? json_node_get_object(reply) : NULL;
    if (object) {
        printf("%-32s %6s %4s\n", "Name", "Weight", "Cap");
        printf("%-32s %6" G_GINT64_FORMAT " %4" G_GINT64_FORMAT "\n", argv[1],
               json_object_get_int_member_with_default(object, "weight", 0),
               json_object_get_int_member_with_default(object, "cap", 0));
    }
    return ORIELCTL_EXIT_OK;
}

/* "512", "512m", "1g": MiB. */
static gboolean
parse_size_mib(const char *text, gint64 *ret)
{
    char *end = NULL;
    guint64 value = g_ascii_strtoull(text, &end, 10);

    if (end == text || value > G_MAXINT32)
        return FALSE;
    if (g_ascii_strcasecmp(end, "g") == 0 || g_ascii_strcasecmp(end, "gb") == 0)
        value *= 1024;
    else if (*end && g_ascii_strcasecmp(end, "m") != 0 && g_ascii_strcasecmp(end, "mb") != 0)
        return FALSE;
    *ret = (gint64)value;
    return TRUE;
}

int
orielctl_cmd_mem_set(int argc, char **argv)
{
    int status;
    gint64 memory = 0;

    if (!orielctl_parse_options("mem-set", "NAME SIZE", "Set a domain's balloon target (SIZE in MiB, or with m/g).",
                                NULL, &argc, &argv, 2, &status))
        return status;
    if (!parse_size_mib(argv[2], &memory)) {
        fprintf(stderr, "orielctl mem-set: '%s' is not a size like 512, 512m or 1g\n", argv[2]);
        return ORIELCTL_EXIT_USAGE;
    }
    JsonObject *arguments = orielctl_name_arguments(argv[1]);
    json_object_set_int_member(arguments, "memory", memory);
    g_autoptr(JsonNode) reply = orielctl_call("mem-set", "domain-mem-set", arguments);
    json_object_unref(arguments);
    if (!reply)
        return ORIELCTL_EXIT_ERROR;
    printf("Domain '%s': memory target %" G_GINT64_FORMAT " MiB.\n", argv[1], memory);
    return ORIELCTL_EXIT_OK;
}

int
orielctl_cmd_vcpu_pin(int argc, char **argv)
{
    int status;

    if (!orielctl_parse_options("vcpu-pin", "NAME VCPU|all CPUS",
                                "Pin a domain's vCPU threads to host CPUs (e.g. 0-1,^0).", NULL, &argc, &argv, 3,
                                &status))
        return status;
    gint64 vcpu = -1;
    if (!g_str_equal(argv[2], "all") && !g_ascii_string_to_signed(argv[2], 10, 0, 254, &vcpu, NULL)) {
        fprintf(stderr, "orielctl vcpu-pin: '%s' is not a vCPU number or 'all'\n", argv[2]);
        return ORIELCTL_EXIT_USAGE;
    }
    JsonObject *arguments = orielctl_name_arguments(argv[1]);
    json_object_set_int_member(arguments, "vcpu", vcpu);
    json_object_set_string_member(arguments, "cpus", argv[3]);
    g_autoptr(JsonNode) reply = orielctl_call("vcpu-pin", "domain-vcpu-pin", arguments);
    json_object_unref(arguments);
    if (!reply)
        return ORIELCTL_EXIT_ERROR;
    printf("Domain '%s': vCPU %s pinned to %s.\n", argv[1], argv[2], argv[3]);
    return ORIELCTL_EXIT_OK;
}

int
orielctl_cmd_rename(int argc, char **argv)
{
    int status;

    if (!orielctl_parse_options("rename", "NAME NEW-NAME", "Rename a stopped domain.", NULL, &argc, &argv, 2, &status))
        return status;
    JsonObject *arguments = orielctl_name_arguments(argv[1]);
    json_object_set_string_member(arguments, "new-name", argv[2]);
    g_autoptr(JsonNode) reply = orielctl_call("rename", "domain-rename", arguments);
    json_object_unref(arguments);
    if (!reply)
        return ORIELCTL_EXIT_ERROR;
    printf("Domain '%s' renamed to '%s'.\n", argv[1], argv[2]);
    return ORIELCTL_EXIT_OK;
}

int
orielctl_cmd_log(int argc, char **argv)
{
    int status;

    if (!orielctl_parse_options("log", "NAME", "Print the end of a running domain's device-model (QEMU) log.", NULL,
                                &argc, &argv, 1, &status))
        return status;
    JsonObject *arguments = orielctl_name_arguments(argv[1]);
    g_autoptr(JsonNode) reply = orielctl_call("log", "domain-log", arguments);
    json_object_unref(arguments);
    if (!reply)
        return ORIELCTL_EXIT_ERROR;
    JsonObject *object = JSON_NODE_HOLDS_OBJECT(reply) ? json_node_get_object(reply) : NULL;
    fputs(object ? json_object_get_string_member_with_default(object, "log", "") : "", stdout);
    return ORIELCTL_EXIT_OK;
}

int
orielctl_cmd_vcpu_set(int argc, char **argv)
{
    int status;
    gint64 vcpus = 0;

    if (!orielctl_parse_options("vcpu-set", "NAME VCPUS", "Hot-plug or unplug vCPUs (up to maxvcpus; hvm only).", NULL,
                                &argc, &argv, 2, &status))
        return status;
    if (!g_ascii_string_to_signed(argv[2], 10, 1, 255, &vcpus, NULL)) {
        fprintf(stderr, "orielctl vcpu-set: '%s' is not a vCPU count (1-255)\n", argv[2]);
        return ORIELCTL_EXIT_USAGE;
    }
    JsonObject *arguments = orielctl_name_arguments(argv[1]);
    json_object_set_int_member(arguments, "vcpus", vcpus);
    g_autoptr(JsonNode) reply = orielctl_call("vcpu-set", "domain-vcpu-set", arguments);
    json_object_unref(arguments);
    if (!reply)
        return ORIELCTL_EXIT_ERROR;
    printf("Domain '%s': %" G_GINT64_FORMAT " vCPUs.\n", argv[1], vcpus);
    return ORIELCTL_EXIT_OK;
}
