/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The commands of orield's protocol, one table.  Each handler checks its
 * arguments (missing or wrong-typed ones are InvalidArgument, extra ones
 * too) and answers its call exactly once, now or when the work is done.
 */
#include "hv-priv.h"

#include <glib/gstdio.h>
#include <string.h>
#include <sys/sysinfo.h>
#include <unistd.h>

#include "accel.h"
#include "oriel-build-config.h"
#include "usb.h"

#define SHUTDOWN_TIMEOUT_DEFAULT_S 60
#define SHUTDOWN_TIMEOUT_MAX_S 3600

/* ---- argument checking ------------------------------------------------------ */

typedef enum { ARG_STRING, ARG_BOOL, ARG_INT, ARG_OBJECT } ArgType;

typedef struct {
    const char *name;
    ArgType type;
    gboolean required;
} ArgSpec;

static const char *
arg_type_name(ArgType type)
{
    switch (type) {
    case ARG_STRING: return "a string";
    case ARG_BOOL: return "a boolean";
    case ARG_INT: return "an integer";
    case ARG_OBJECT: return "an object";
    }
    return "?";
}

static gboolean
arg_has_type(JsonNode *node, ArgType type)
{
    if (type == ARG_OBJECT)
        return JSON_NODE_HOLDS_OBJECT(node);
    if (!JSON_NODE_HOLDS_VALUE(node))
        return FALSE;
    GType value_type = json_node_get_value_type(node);
    switch (type) {
    case ARG_STRING: return value_type == G_TYPE_STRING;
    case ARG_BOOL: return value_type == G_TYPE_BOOLEAN;
    case ARG_INT: return value_type == G_TYPE_INT64;
    default: return FALSE;
    }
}

/* Answers the call with InvalidArgument and returns FALSE on a mismatch. */
static gboolean
check_arguments(OrielHvCall **call, JsonObject *arguments, const ArgSpec *specs, gsize n_specs)
{
    JsonObjectIter iter;
    const char *member;
    JsonNode *node;

    json_object_iter_init(&iter, arguments);
    while (json_object_iter_next(&iter, &member, &node)) {
        gsize i;
        for (i = 0; i < n_specs && !g_str_equal(specs[i].name, member); i++)
            ;
        if (i == n_specs) {
            oriel_hv_call_error(g_steal_pointer(call), ORIEL_HV_ERROR_INVALID_ARGUMENT,
                                "unknown argument '%s'", member);
            return FALSE;
        }
        if (!arg_has_type(node, specs[i].type)) {
            oriel_hv_call_error(g_steal_pointer(call), ORIEL_HV_ERROR_INVALID_ARGUMENT,
                                "argument '%s' must be %s", member, arg_type_name(specs[i].type));
            return FALSE;
        }
    }
    for (gsize i = 0; i < n_specs; i++) {
        if (specs[i].required && !json_object_has_member(arguments, specs[i].name)) {
            oriel_hv_call_error(g_steal_pointer(call), ORIEL_HV_ERROR_INVALID_ARGUMENT,
                                "missing argument '%s'", specs[i].name);
            return FALSE;
        }
    }
    return TRUE;
}

static const ArgSpec name_only[] = { { "name", ARG_STRING, TRUE } };

/* The domain the "name" argument names, or NULL after answering NotFound. */
static OrielHvDomain *
find_domain(OrielHv *hv, OrielHvCall **call, JsonObject *arguments)
{
    const char *name = json_object_get_string_member(arguments, "name");
    OrielHvDomain *domain = oriel_hv_domain_lookup(hv, name);

    if (!domain)
        oriel_hv_call_error(g_steal_pointer(call), ORIEL_HV_ERROR_NOT_FOUND, "no domain named '%s'", name);
    return domain;
}

/* Checks the arguments, then finds the domain "name" names; NULL after
 * answering the call. */
static OrielHvDomain *
named_domain(OrielHv *hv, OrielHvCall **call, JsonObject *arguments, const ArgSpec *specs, gsize n_specs)
{
    if (!check_arguments(call, arguments, specs, n_specs))
        return NULL;
    return find_domain(hv, call, arguments);
}

/* An optional duration in seconds, 1 to @max; FALSE after answering the
 * call with InvalidArgument. */
static gboolean
seconds_argument(OrielHvCall **call, JsonObject *arguments, const char *name, gint64 fallback, gint64 max,
                 guint *ret_seconds)
{
    gint64 seconds = json_object_get_int_member_with_default(arguments, name, fallback);

    if (seconds < 1 || seconds > max) {
        oriel_hv_call_error(g_steal_pointer(call), ORIEL_HV_ERROR_INVALID_ARGUMENT,
                            "%s: must be 1 to %" G_GINT64_FORMAT " seconds", name, max);
        return FALSE;
    }
    *ret_seconds = (guint)seconds;
    return TRUE;
}

static gboolean
require_state(OrielHvCall **call, OrielHvDomain *domain, const char *verb, OrielHvState a, OrielHvState b)
{
    if (domain->state == a || domain->state == b)
        return TRUE;
    oriel_hv_call_error(g_steal_pointer(call), ORIEL_HV_ERROR_INVALID_STATE, "cannot %s '%s': it is %s", verb,
                        domain->name, oriel_hv_state_to_string(domain->state));
    return FALSE;
}

static OrielDomainConfig *
config_argument(OrielHvCall **call, JsonObject *arguments)
{
    g_autoptr(GError) error = NULL;
    g_autoptr(OrielDomainConfig) config =
        oriel_domain_config_from_json(json_object_get_member(arguments, "config"), &error);

    if (!config || !oriel_domain_config_validate(config, &error) ||
        !oriel_domain_config_check_files(config, &error)) {
        oriel_hv_call_error(g_steal_pointer(call), ORIEL_HV_ERROR_INVALID_ARGUMENT, "config: %s", error->message);
        return NULL;
    }
    return g_steal_pointer(&config);
}

/* ---- definitions ------------------------------------------------------------ */

static void
cmd_domain_define(OrielHv *hv, OrielHvCall *call, JsonObject *arguments)
{
    static const ArgSpec specs[] = { { "config", ARG_OBJECT, TRUE } };
    g_autoptr(GError) error = NULL;

    if (!check_arguments(&call, arguments, specs, G_N_ELEMENTS(specs)))
        return;
    g_autoptr(OrielDomainConfig) config = config_argument(&call, arguments);
    if (!config)
        return;
    OrielHvDomain *domain = oriel_hv_domain_lookup(hv, config->name);
    if (domain && oriel_hv_domain_is_active(domain)) {
        oriel_hv_call_error(call, ORIEL_HV_ERROR_EXISTS, "domain '%s' is %s; stop it before redefining it",
                            domain->name, oriel_hv_state_to_string(domain->state));
        return;
    }
    if (!domain && g_hash_table_size(hv->domains) >= ORIEL_HV_MAX_DOMAINS) {
        oriel_hv_call_error(call, ORIEL_HV_ERROR_GENERIC, "too many domains (at most %d)", ORIEL_HV_MAX_DOMAINS);
        return;
    }
    gboolean created = domain == NULL;
    if (!domain) {
        domain = oriel_hv_domain_add(hv, g_steal_pointer(&config), TRUE);
    } else {
        oriel_domain_config_free(domain->config);
        domain->config = g_steal_pointer(&config);
        domain->persistent = TRUE;
    }
    if (!oriel_hv_domain_save(domain, &error)) {
        if (created)
            oriel_hv_domain_remove(domain);
        oriel_hv_call_propagate(call, error);
        return;
    }
    oriel_hv_domain_emit_state(domain, created ? "defined" : "redefined");
    JsonObject *reply = oriel_hv_domain_describe(domain, FALSE);
    json_object_set_boolean_member(reply, "created", created);
    oriel_hv_call_return_object(call, reply);
}

static void
cmd_domain_undefine(OrielHv *hv, OrielHvCall *call, JsonObject *arguments)
{
    g_autoptr(GError) error = NULL;

    OrielHvDomain *domain = named_domain(hv, &call, arguments, name_only, G_N_ELEMENTS(name_only));
    if (!domain)
        return;
    if (!domain->persistent) {
        oriel_hv_call_error(call, ORIEL_HV_ERROR_INVALID_STATE, "domain '%s' is not defined (it was created)",
                            domain->name);
        return;
    }
    if (!oriel_hv_domain_delete_definition(domain, &error)) {
        oriel_hv_call_propagate(call, error);
        return;
    }
    /* A running domain stays until it stops, as libvirt's undefine. */
    domain->persistent = FALSE;
    oriel_hv_domain_emit_state(domain, "undefined");
    if (!oriel_hv_domain_is_active(domain))
        oriel_hv_domain_remove(domain);
    oriel_hv_call_return_object(call, NULL);
}

static void
cmd_domain_rename(OrielHv *hv, OrielHvCall *call, JsonObject *arguments)
{
    static const ArgSpec specs[] = {
        { "name", ARG_STRING, TRUE },
        { "new-name", ARG_STRING, TRUE },
    };
    g_autoptr(GError) error = NULL;

    OrielHvDomain *domain = named_domain(hv, &call, arguments, specs, G_N_ELEMENTS(specs));
    if (!domain)
        return;
    const char *new_name = json_object_get_string_member(arguments, "new-name");
    /* QEMU's -name and the runtime dir carry the name: reattach checks it. */
    if (oriel_hv_domain_is_active(domain)) {
        oriel_hv_call_error(call, ORIEL_HV_ERROR_INVALID_STATE, "cannot rename '%s' while it is %s; stop it first",
                            domain->name, oriel_hv_state_to_string(domain->state));
        return;
    }
    if (oriel_hv_domain_lookup(hv, new_name)) {
        oriel_hv_call_error(call, ORIEL_HV_ERROR_EXISTS, "a domain named '%s' exists already", new_name);
        return;
    }
    g_autofree char *old_name = g_strdup(domain->name);
    g_autofree char *saved_name = domain->config->name;
    domain->config->name = g_strdup(new_name);
    if (!oriel_domain_config_validate(domain->config, &error)) {
        g_free(domain->config->name);
        domain->config->name = g_steal_pointer(&saved_name);
        oriel_hv_call_error(call, ORIEL_HV_ERROR_INVALID_ARGUMENT, "new-name: %s", error->message);
        return;
    }
    g_hash_table_steal(hv->domains, domain->name);
    g_free(domain->name);
    domain->name = g_strdup(new_name);
    g_hash_table_replace(hv->domains, domain->name, domain);
    if (domain->persistent) {
        g_autofree char *old_file = g_strconcat(old_name, ".json", NULL);
        g_autofree char *old_path = g_build_filename(hv->domains_config_dir, old_file, NULL);
        if (!oriel_hv_domain_save(domain, &error)) {
            oriel_hv_call_propagate(call, error);
            return;
        }
        g_unlink(old_path);
    }
    oriel_hv_domain_emit_state(domain, "renamed");
    oriel_hv_call_return_object(call, oriel_hv_domain_describe(domain, FALSE));
}

#define LOG_TAIL_MAX (64 * 1024)

static void
cmd_domain_log(OrielHv *hv, OrielHvCall *call, JsonObject *arguments)
{
    OrielHvDomain *domain = named_domain(hv, &call, arguments, name_only, G_N_ELEMENTS(name_only));
    if (!domain)
        return;
    g_autofree char *path = g_build_filename(hv->domains_runtime_dir, domain->name, "qemu.log", NULL);
    g_autofree char *contents = NULL;
    gsize length = 0;
    if (!domain->dm || !g_file_get_contents(path, &contents, &length, NULL)) {
        oriel_hv_call_error(call, ORIEL_HV_ERROR_NOT_FOUND, "'%s' has no device-model log (it is %s)", domain->name,
                            oriel_hv_state_to_string(domain->state));
        return;
    }
    const char *tail = length > LOG_TAIL_MAX ? contents + length - LOG_TAIL_MAX : contents;
    JsonObject *object = json_object_new();
    /* QEMU's log is text, but make sure of it before it goes into JSON. */
    g_autofree char *text = g_utf8_make_valid(tail, -1);
    json_object_set_string_member(object, "log", text);
    json_object_set_string_member(object, "path", path);
    oriel_hv_call_return_object(call, object);
}

/* ---- lifecycle ----------------------------------------------------------------- */

static void
cmd_domain_create(OrielHv *hv, OrielHvCall *call, JsonObject *arguments)
{
    static const ArgSpec specs[] = { { "config", ARG_OBJECT, TRUE } };

    if (!check_arguments(&call, arguments, specs, G_N_ELEMENTS(specs)))
        return;
    g_autoptr(OrielDomainConfig) config = config_argument(&call, arguments);
    if (!config)
        return;
    OrielHvDomain *domain = oriel_hv_domain_lookup(hv, config->name);
    if (domain && oriel_hv_domain_is_active(domain)) {
        oriel_hv_call_error(call, ORIEL_HV_ERROR_EXISTS, "domain '%s' is already %s", domain->name,
                            oriel_hv_state_to_string(domain->state));
        return;
    }
    if (domain) {
        /* Like xl create of a defined name: this run uses the new config. */
        oriel_domain_config_free(domain->config);
        domain->config = g_steal_pointer(&config);
    } else if (g_hash_table_size(hv->domains) >= ORIEL_HV_MAX_DOMAINS) {
        oriel_hv_call_error(call, ORIEL_HV_ERROR_GENERIC, "too many domains (at most %d)", ORIEL_HV_MAX_DOMAINS);
        return;
    } else {
        domain = oriel_hv_domain_add(hv, g_steal_pointer(&config), FALSE);
    }
    oriel_hv_domain_start(domain, call);
}

static void
cmd_domain_start(OrielHv *hv, OrielHvCall *call, JsonObject *arguments)
{
    OrielHvDomain *domain = named_domain(hv, &call, arguments, name_only, G_N_ELEMENTS(name_only));
    if (!domain || !require_state(&call, domain, "start", ORIEL_HV_STATE_SHUTOFF, ORIEL_HV_STATE_SHUTOFF))
        return;
    oriel_hv_domain_start(domain, call);
}

static gboolean
require_running(OrielHvCall **call, OrielHvDomain *domain, const char *verb)
{
    return require_state(call, domain, verb, ORIEL_HV_STATE_RUNNING, ORIEL_HV_STATE_PAUSED);
}

static void
cmd_domain_shutdown(OrielHv *hv, OrielHvCall *call, JsonObject *arguments)
{
    static const ArgSpec specs[] = {
        { "name", ARG_STRING, TRUE },
        { "wait", ARG_BOOL, FALSE },
        { "timeout", ARG_INT, FALSE },
    };
    guint timeout;

    if (!check_arguments(&call, arguments, specs, G_N_ELEMENTS(specs)) ||
        !seconds_argument(&call, arguments, "timeout", SHUTDOWN_TIMEOUT_DEFAULT_S, SHUTDOWN_TIMEOUT_MAX_S, &timeout))
        return;
    OrielHvDomain *domain = find_domain(hv, &call, arguments);
    if (!domain || !require_running(&call, domain, "shut down"))
        return;
    gboolean wait = json_object_get_boolean_member_with_default(arguments, "wait", FALSE);
    if (wait) {
        oriel_hv_domain_shutdown(domain, timeout, call);
    } else {
        oriel_hv_domain_shutdown(domain, timeout, NULL);
        oriel_hv_call_return_object(call, oriel_hv_domain_describe(domain, FALSE));
    }
}

static void
cmd_domain_destroy(OrielHv *hv, OrielHvCall *call, JsonObject *arguments)
{
    OrielHvDomain *domain = named_domain(hv, &call, arguments, name_only, G_N_ELEMENTS(name_only));
    if (!domain)
        return;
    if (!oriel_hv_domain_is_active(domain)) {
        oriel_hv_call_error(call, ORIEL_HV_ERROR_INVALID_STATE, "cannot destroy '%s': it is not running",
                            domain->name);
        return;
    }
    oriel_hv_domain_destroy(domain, call);
}

/* pause, unpause and reboot: one QMP command, in one state. */
static void
domain_qmp_in_state(OrielHv *hv, OrielHvCall *call, JsonObject *arguments, const char *verb, OrielHvState state,
                    const char *qmp_command)
{
    OrielHvDomain *domain = named_domain(hv, &call, arguments, name_only, G_N_ELEMENTS(name_only));
    if (domain && require_state(&call, domain, verb, state, state))
        oriel_hv_domain_qmp_simple(domain, qmp_command, call);
}

static void
cmd_domain_pause(OrielHv *hv, OrielHvCall *call, JsonObject *arguments)
{
    domain_qmp_in_state(hv, call, arguments, "pause", ORIEL_HV_STATE_RUNNING, "stop");
}

static void
cmd_domain_unpause(OrielHv *hv, OrielHvCall *call, JsonObject *arguments)
{
    domain_qmp_in_state(hv, call, arguments, "unpause", ORIEL_HV_STATE_PAUSED, "cont");
}

static void
cmd_domain_reboot(OrielHv *hv, OrielHvCall *call, JsonObject *arguments)
{
    /* A hard reset, as QMP system_reset: the test guest has no ACPI reboot path. */
    domain_qmp_in_state(hv, call, arguments, "reboot", ORIEL_HV_STATE_RUNNING, "system_reset");
}

static void
cmd_domain_spice_ticket(OrielHv *hv, OrielHvCall *call, JsonObject *arguments)
{
    static const ArgSpec specs[] = {
        { "name", ARG_STRING, TRUE },
        { "expires", ARG_INT, FALSE },
        { "one_time", ARG_BOOL, FALSE },
    };
    guint expires;

    if (!check_arguments(&call, arguments, specs, G_N_ELEMENTS(specs)) ||
        !seconds_argument(&call, arguments, "expires", 60, 24 * 3600, &expires))
        return;
    gboolean one_time = json_object_get_boolean_member_with_default(arguments, "one_time", FALSE);
    OrielHvDomain *domain = find_domain(hv, &call, arguments);
    if (domain && require_running(&call, domain, "issue a SPICE ticket for"))
        oriel_hv_domain_spice_ticket(domain, expires, one_time, call);
}

static void
cmd_domain_sched_credit(OrielHv *hv, OrielHvCall *call, JsonObject *arguments)
{
    static const ArgSpec specs[] = {
        { "name", ARG_STRING, TRUE },
        { "weight", ARG_INT, FALSE },
        { "cap", ARG_INT, FALSE },
    };
    g_autoptr(GError) error = NULL;

    OrielHvDomain *domain = named_domain(hv, &call, arguments, specs, G_N_ELEMENTS(specs));
    if (!domain || !require_running(&call, domain, "schedule"))
        return;
    gint64 weight = json_object_get_int_member_with_default(arguments, "weight", domain->sched_weight);
    gint64 cap = json_object_get_int_member_with_default(arguments, "cap", domain->sched_cap);
    if (weight < ORIEL_CPU_WEIGHT_MIN || weight > ORIEL_CPU_WEIGHT_MAX) {
        oriel_hv_call_error(call, ORIEL_HV_ERROR_INVALID_ARGUMENT, "weight: must be %d to %d", ORIEL_CPU_WEIGHT_MIN,
                            ORIEL_CPU_WEIGHT_MAX);
        return;
    }
    if (cap < 0 || cap > 100 * (gint64)domain->config->vcpus) {
        oriel_hv_call_error(call, ORIEL_HV_ERROR_INVALID_ARGUMENT,
                            "cap: must be 0 (none) to %u (percent of one CPU, times the vCPUs)",
                            100 * domain->config->vcpus);
        return;
    }
    gboolean change = json_object_has_member(arguments, "weight") || json_object_has_member(arguments, "cap");
    if (change && !oriel_hv_domain_set_sched(domain, (gint)weight, (gint)cap, &error)) {
        oriel_hv_call_propagate(call, error);
        return;
    }
    JsonObject *object = json_object_new();
    json_object_set_int_member(object, "weight", domain->sched_weight);
    json_object_set_int_member(object, "cap", domain->sched_cap);
    if (domain->cgroup_path)
        json_object_set_string_member(object, "cgroup", domain->cgroup_path);
    oriel_hv_call_return_object(call, object);
}

static void
cmd_domain_mem_set(OrielHv *hv, OrielHvCall *call, JsonObject *arguments)
{
    static const ArgSpec specs[] = {
        { "name", ARG_STRING, TRUE },
        { "memory", ARG_INT, TRUE },
    };

    OrielHvDomain *domain = named_domain(hv, &call, arguments, specs, G_N_ELEMENTS(specs));
    if (!domain || !require_running(&call, domain, "set the memory of"))
        return;
    gint64 memory = json_object_get_int_member(arguments, "memory");
    oriel_hv_domain_mem_set(domain, memory > 0 ? (guint64)memory : 0, call);
}

static void
cmd_domain_vcpu_pin(OrielHv *hv, OrielHvCall *call, JsonObject *arguments)
{
    static const ArgSpec specs[] = {
        { "name", ARG_STRING, TRUE },
        { "vcpu", ARG_INT, TRUE },
        { "cpus", ARG_STRING, TRUE },
    };

    if (!check_arguments(&call, arguments, specs, G_N_ELEMENTS(specs)))
        return;
    gint64 vcpu = json_object_get_int_member(arguments, "vcpu");
    if (vcpu < -1 || vcpu >= ORIEL_VCPUS_MAX) {
        oriel_hv_call_error(call, ORIEL_HV_ERROR_INVALID_ARGUMENT, "vcpu: must be a vCPU index, or -1 for all");
        return;
    }
    OrielHvDomain *domain = find_domain(hv, &call, arguments);
    if (domain && require_running(&call, domain, "pin"))
        oriel_hv_domain_vcpu_pin(domain, (gint)vcpu, json_object_get_string_member(arguments, "cpus"), call);
}

static void
cmd_domain_vcpu_set(OrielHv *hv, OrielHvCall *call, JsonObject *arguments)
{
    static const ArgSpec specs[] = {
        { "name", ARG_STRING, TRUE },
        { "vcpus", ARG_INT, TRUE },
    };

    OrielHvDomain *domain = named_domain(hv, &call, arguments, specs, G_N_ELEMENTS(specs));
    if (!domain || !require_running(&call, domain, "set the vCPUs of"))
        return;
    gint64 vcpus = json_object_get_int_member(arguments, "vcpus");
    oriel_hv_domain_vcpu_set(domain, vcpus > 0 && vcpus <= ORIEL_VCPUS_MAX ? (guint)vcpus : 0, call);
}

/* ---- queries ---------------------------------------------------------------------- */

static gint
compare_domains(gconstpointer a, gconstpointer b)
{
    const OrielHvDomain *x = *(OrielHvDomain *const *)a;
    const OrielHvDomain *y = *(OrielHvDomain *const *)b;

    return g_strcmp0(x->name, y->name);
}

static void
cmd_domain_list(OrielHv *hv, OrielHvCall *call, JsonObject *arguments)
{
    if (!check_arguments(&call, arguments, NULL, 0))
        return;
    g_autoptr(GPtrArray) domains = g_ptr_array_sized_new(g_hash_table_size(hv->domains));
    GHashTableIter iter;
    gpointer value;
    g_hash_table_iter_init(&iter, hv->domains);
    while (g_hash_table_iter_next(&iter, NULL, &value))
        g_ptr_array_add(domains, value);
    g_ptr_array_sort(domains, compare_domains);
    JsonArray *array = json_array_sized_new(domains->len);
    for (guint i = 0; i < domains->len; i++)
        json_array_add_object_element(array, oriel_hv_domain_describe(domains->pdata[i], FALSE));
    g_autoptr(JsonNode) node = json_node_new(JSON_NODE_ARRAY);
    json_node_take_array(node, array);
    oriel_hv_call_return(call, node);
}

static void
cmd_domain_info(OrielHv *hv, OrielHvCall *call, JsonObject *arguments)
{
    OrielHvDomain *domain = named_domain(hv, &call, arguments, name_only, G_N_ELEMENTS(name_only));
    if (domain)
        oriel_hv_call_return_object(call, oriel_hv_domain_describe(domain, TRUE));
}

static void
cmd_host_info(OrielHv *hv, OrielHvCall *call, JsonObject *arguments)
{
    struct sysinfo info = { 0 };
    g_autofree char *reason = NULL;

    if (!check_arguments(&call, arguments, NULL, 0))
        return;
    JsonObject *object = json_object_new();
    json_object_set_string_member(object, "host", g_get_host_name());
    json_object_set_int_member(object, "nr_cpus", sysconf(_SC_NPROCESSORS_ONLN));
    if (sysinfo(&info) == 0) {
        json_object_set_int_member(object, "total_memory", (gint64)((guint64)info.totalram * info.mem_unit >> 20));
        json_object_set_int_member(object, "free_memory", (gint64)((guint64)info.freeram * info.mem_unit >> 20));
    }
    OrielAccel accel = oriel_accel_probe(&reason);
    json_object_set_string_member(object, "accel", oriel_accel_to_string(accel));
    json_object_set_string_member(object, "accel_reason", reason);
    json_object_set_boolean_member(object, "nested_virt", accel == ORIEL_ACCEL_KVM && oriel_accel_nested_supported());
    if (hv->qemu_version)
        json_object_set_string_member(object, "qemu_version", hv->qemu_version);
    json_object_set_string_member(object, "oriel_version", ORIEL_VERSION);
    json_object_set_string_member(object, "mode", hv->mode == ORIEL_MODE_SYSTEM ? "system" : "session");
    guint running = 0;
    GHashTableIter iter;
    gpointer value;
    g_hash_table_iter_init(&iter, hv->domains);
    while (g_hash_table_iter_next(&iter, NULL, &value))
        running += ((OrielHvDomain *)value)->domid != 0;
    json_object_set_int_member(object, "domains", g_hash_table_size(hv->domains));
    json_object_set_int_member(object, "running_domains", running);
    oriel_hv_call_return_object(call, object);
}

static void
cmd_subscribe_events(OrielHv *hv, OrielHvCall *call, JsonObject *arguments)
{
    if (!check_arguments(&call, arguments, NULL, 0))
        return;
    oriel_hv_call_set_subscribed(call);
    oriel_hv_call_return_object(call, NULL);
}

static const struct {
    const char *name;
    OrielHvCommandFunc func;
} commands[] = {
    { "domain-define", cmd_domain_define },
    { "domain-undefine", cmd_domain_undefine },
    { "domain-rename", cmd_domain_rename },
    { "domain-log", cmd_domain_log },
    { "domain-create", cmd_domain_create },
    { "domain-start", cmd_domain_start },
    { "domain-shutdown", cmd_domain_shutdown },
    { "domain-reboot", cmd_domain_reboot },
    { "domain-destroy", cmd_domain_destroy },
    { "domain-pause", cmd_domain_pause },
    { "domain-unpause", cmd_domain_unpause },
    { "domain-spice-ticket", cmd_domain_spice_ticket },
    { "domain-sched-credit", cmd_domain_sched_credit },
    { "domain-mem-set", cmd_domain_mem_set },
    { "domain-vcpu-pin", cmd_domain_vcpu_pin },
    { "domain-vcpu-set", cmd_domain_vcpu_set },
    { "domain-list", cmd_domain_list },
    { "domain-info", cmd_domain_info },
    { "host-info", cmd_host_info },
    { "subscribe-events", cmd_subscribe_events },
    { "domain-usb-attach", oriel_hv_cmd_domain_usb_attach },
    { "domain-usb-list", oriel_hv_cmd_domain_usb_list },
    { "domain-usb-detach", oriel_hv_cmd_domain_usb_detach },
};

OrielHvCommandFunc
oriel_hv_command_lookup(const char *name)
{
    for (gsize i = 0; i < G_N_ELEMENTS(commands); i++) {
        if (g_str_equal(commands[i].name, name))
            return commands[i].func;
    }
    return NULL;
}
