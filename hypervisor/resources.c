/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Resources of a running domain, xl-style: sched-credit (cgroup cpu weight
 * and cap, cgroup.c), mem-set (the virtio balloon's target) and vcpu-pin
 * (affinity of the vCPU threads QMP query-cpus-fast names).
 */
#include "hv-priv.h"

#include <errno.h>
#include <stdarg.h>
#include <string.h>

#include "cgroup.h"

#define QMP_TIMEOUT_MS 30000

gboolean
oriel_hv_domain_set_sched(OrielHvDomain *domain, gint weight, gint cap, GError **error)
{
    GPid pid = domain->dm ? oriel_dm_process_get_pid(domain->dm) : 0;

    if (pid <= 0) {
        g_set_error(error, ORIEL_HV_ERROR, ORIEL_HV_ERROR_INVALID_STATE, "%s is not running", domain->name);
        return FALSE;
    }
    if (!oriel_hv_cgroup_apply(domain->name, pid, weight, cap, &domain->cgroup_path, error))
        return FALSE;
    domain->sched_weight = weight;
    domain->sched_cap = cap;
    oriel_hv_domain_write_runtime_record(domain);
    return TRUE;
}

/* ---- calls that wait for QMP --------------------------------------------------- */

/* Answers @call, or logs when the daemon acts on its own (call NULL). */
static void G_GNUC_PRINTF(3, 4)
fail_call(OrielHvCall *call, OrielHvError code, const char *format, ...)
{
    va_list args;
    va_start(args, format);
    g_autofree char *message = g_strdup_vprintf(format, args);
    va_end(args);

    if (call)
        oriel_hv_call_error(call, code, "%s", message);
    else
        g_message("%s", message);
}

typedef struct {
    OrielHv *hv;
    char *name;
    OrielHvCall *call;
    gint vcpu;
    cpu_set_t cpus;
    guint64 memory_mib;
} ResourceCall;

static ResourceCall *
resource_call_new(OrielHvDomain *domain, OrielHvCall *call)
{
    ResourceCall *rc = g_new0(ResourceCall, 1);
    rc->hv = domain->hv;
    rc->name = g_strdup(domain->name);
    rc->call = call;
    return rc;
}

static void
resource_call_free(ResourceCall *rc)
{
    g_free(rc->name);
    g_free(rc);
}

static OrielQmpClient *
connected_qmp(OrielHvDomain *domain, OrielHvCall *call)
{
    OrielQmpClient *qmp = domain->dm ? oriel_dm_process_get_qmp(domain->dm) : NULL;

    if (!qmp || oriel_qmp_client_is_closed(qmp)) {
        fail_call(call, ORIEL_HV_ERROR_INVALID_STATE, "%s: QMP is not connected", domain->name);
        return NULL;
    }
    return qmp;
}

static void
on_balloon_done(GObject *source, GAsyncResult *result, gpointer user_data)
{
    ResourceCall *rc = user_data;
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) reply = oriel_qmp_client_execute_finish(ORIEL_QMP_CLIENT(source), result, &error);

    if (!reply) {
        oriel_hv_call_error(rc->call, ORIEL_HV_ERROR_UNSUPPORTED, "%s: %s (mem-set needs maxmem > memory)",
                            rc->name, error->message);
    } else {
        JsonObject *object = json_object_new();
        json_object_set_int_member(object, "target", (gint64)rc->memory_mib);
        oriel_hv_call_return_object(rc->call, object);
    }
    resource_call_free(rc);
}

void
oriel_hv_domain_mem_set(OrielHvDomain *domain, guint64 memory_mib, OrielHvCall *call)
{
    const OrielDomainConfig *config = domain->config;
    guint64 maxmem = config->maxmem_mib ? config->maxmem_mib : config->memory_mib;

    if (maxmem <= config->memory_mib) {
        oriel_hv_call_error(call, ORIEL_HV_ERROR_UNSUPPORTED,
                            "%s has no balloon: mem-set needs maxmem > memory in its config", domain->name);
        return;
    }
    if (memory_mib < ORIEL_MEMORY_MIN_MIB || memory_mib > maxmem) {
        oriel_hv_call_error(call, ORIEL_HV_ERROR_INVALID_ARGUMENT, "memory: %" G_GUINT64_FORMAT
                            " MiB is outside %u..%" G_GUINT64_FORMAT " MiB", memory_mib, ORIEL_MEMORY_MIN_MIB, maxmem);
        return;
    }
    OrielQmpClient *qmp = connected_qmp(domain, call);
    if (!qmp)
        return;
    ResourceCall *rc = resource_call_new(domain, call);
    rc->memory_mib = memory_mib;
    g_autoptr(JsonObject) arguments = json_object_new();
    json_object_set_int_member(arguments, "value", (gint64)(memory_mib << 20));
    oriel_qmp_client_execute_async(qmp, "balloon", arguments, QMP_TIMEOUT_MS, NULL, on_balloon_done, rc);
}

/* ---- vcpu-pin ------------------------------------------------------------------- */

gboolean
oriel_hv_parse_cpu_list(const char *text, cpu_set_t *set)
{
    g_auto(GStrv) items = g_strsplit(text, ",", -1);
    gboolean any = FALSE;

    CPU_ZERO(set);
    if (g_str_equal(text, "all")) {
        long online = sysconf(_SC_NPROCESSORS_ONLN);
        for (long cpu = 0; cpu < online && cpu < CPU_SETSIZE; cpu++)
            CPU_SET(cpu, set);
        return online > 0;
    }
    for (gsize i = 0; items[i]; i++) {
        const char *item = items[i];
        gboolean exclude = item[0] == '^';
        guint64 first = 0, last = 0;
        char *end = NULL;

        if (exclude)
            item++;
        if (!g_ascii_isdigit(item[0]))
            return FALSE;
        first = g_ascii_strtoull(item, &end, 10);
        last = first;
        if (*end == '-' && !exclude) {
            if (!g_ascii_isdigit(end[1]))
                return FALSE;
            last = g_ascii_strtoull(end + 1, &end, 10);
        }
        if (*end != '\0' || first > last || last >= CPU_SETSIZE)
            return FALSE;
        for (guint64 cpu = first; cpu <= last; cpu++) {
            if (exclude)
                CPU_CLR(cpu, set);
            else
                CPU_SET(cpu, set);
        }
        any = any || !exclude;
    }
    return any && CPU_COUNT(set) > 0;
}

static void
on_cpus_known(GObject *source, GAsyncResult *result, gpointer user_data)
{
    ResourceCall *rc = user_data;
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) reply = oriel_qmp_client_execute_finish(ORIEL_QMP_CLIENT(source), result, &error);
    JsonArray *cpus = reply && JSON_NODE_HOLDS_ARRAY(reply) ? json_node_get_array(reply) : NULL;
    guint pinned = 0;

    if (!cpus) {
        fail_call(rc->call, ORIEL_HV_ERROR_GENERIC, "%s: query-cpus-fast: %s", rc->name,
                            error ? error->message : "not a list");
        resource_call_free(rc);
        return;
    }
    JsonArray *threads = json_array_new();
    for (guint i = 0; i < json_array_get_length(cpus); i++) {
        JsonObject *cpu = json_array_get_object_element(cpus, i);
        gint64 index = cpu ? json_object_get_int_member_with_default(cpu, "cpu-index", -1) : -1;
        gint64 thread = cpu ? json_object_get_int_member_with_default(cpu, "thread-id", 0) : 0;
        if (index < 0 || thread <= 0 || (rc->vcpu >= 0 && index != rc->vcpu))
            continue;
        if (sched_setaffinity((pid_t)thread, sizeof(rc->cpus), &rc->cpus) < 0) {
            fail_call(rc->call, ORIEL_HV_ERROR_INVALID_ARGUMENT, "%s: cannot pin vCPU %" G_GINT64_FORMAT
                                " (thread %" G_GINT64_FORMAT "): %s", rc->name, index, thread, g_strerror(errno));
            json_array_unref(threads);
            resource_call_free(rc);
            return;
        }
        json_array_add_int_element(threads, thread);
        pinned++;
    }
    if (pinned == 0) {
        json_array_unref(threads);
        fail_call(rc->call, ORIEL_HV_ERROR_NOT_FOUND, "%s has no vCPU %d", rc->name, rc->vcpu);
    } else if (!rc->call) {
        json_array_unref(threads);
    } else {
        JsonObject *object = json_object_new();
        json_object_set_array_member(object, "threads", threads);
        oriel_hv_call_return_object(rc->call, object);
    }
    resource_call_free(rc);
}

void
oriel_hv_domain_vcpu_pin(OrielHvDomain *domain, gint vcpu, const char *cpus, OrielHvCall *call)
{
    cpu_set_t set;

    if (!oriel_hv_parse_cpu_list(cpus, &set)) {
        fail_call(call, ORIEL_HV_ERROR_INVALID_ARGUMENT,
                            "cpus: '%s' is not a CPU list like \"all\", \"0-3\" or \"0-3,^1\"", cpus);
        return;
    }
    OrielQmpClient *qmp = connected_qmp(domain, call);
    if (!qmp)
        return;
    ResourceCall *rc = resource_call_new(domain, call);
    rc->vcpu = vcpu;
    rc->cpus = set;
    oriel_qmp_client_execute_async(qmp, "query-cpus-fast", NULL, QMP_TIMEOUT_MS, NULL, on_cpus_known, rc);
}

/* ---- vcpu-set: CPU hot-plug on q35 ---------------------------------------------- */

typedef struct {
    OrielHv *hv;
    char *name;
    OrielHvCall *call;
    guint target;
    guint pending;   /* device_add / device_del replies still to come */
    GString *failures;
} VcpuSetCall;

static void
vcpu_set_free(VcpuSetCall *vc)
{
    g_string_free(vc->failures, TRUE);
    g_free(vc->name);
    g_free(vc);
}

static void
vcpu_set_finish(VcpuSetCall *vc)
{
    if (vc->failures->len > 0) {
        oriel_hv_call_error(vc->call, ORIEL_HV_ERROR_GENERIC, "%s: %s", vc->name, vc->failures->str);
    } else {
        JsonObject *object = json_object_new();
        json_object_set_int_member(object, "vcpus", vc->target);
        oriel_hv_call_return_object(vc->call, object);
    }
    vcpu_set_free(vc);
}

static void
on_vcpu_device_done(GObject *source, GAsyncResult *result, gpointer user_data)
{
    VcpuSetCall *vc = user_data;
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) reply = oriel_qmp_client_execute_finish(ORIEL_QMP_CLIENT(source), result, &error);

    if (!reply)
        g_string_append_printf(vc->failures, "%s%s", vc->failures->len ? "; " : "", error->message);
    if (--vc->pending == 0)
        vcpu_set_finish(vc);
}

/* Hot-plugged by us: /machine/peripheral/oriel-vcpu-...; boot CPUs are not. */
static gboolean
is_ours(JsonObject *cpu)
{
    const char *path = json_object_get_string_member_with_default(cpu, "qom-path", NULL);
    return path && g_str_has_prefix(path, "/machine/peripheral/oriel-vcpu-");
}

static void
on_hotpluggable_cpus(GObject *source, GAsyncResult *result, gpointer user_data)
{
    VcpuSetCall *vc = user_data;
    OrielQmpClient *qmp = ORIEL_QMP_CLIENT(source);
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) reply = oriel_qmp_client_execute_finish(qmp, result, &error);
    JsonArray *cpus = reply && JSON_NODE_HOLDS_ARRAY(reply) ? json_node_get_array(reply) : NULL;

    if (!cpus) {
        oriel_hv_call_error(vc->call, ORIEL_HV_ERROR_UNSUPPORTED, "%s: this machine cannot hot-plug vCPUs (%s)",
                            vc->name, error ? error->message : "no list");
        vcpu_set_free(vc);
        return;
    }
    guint length = json_array_get_length(cpus), plugged = 0;
    for (guint i = 0; i < length; i++) {
        JsonObject *cpu = json_array_get_object_element(cpus, i);
        plugged += cpu && json_object_has_member(cpu, "qom-path");
    }
    /* QEMU lists the highest slots first: plug from the end, unplug from the start. */
    vc->pending = 1; /* held while the commands go out */
    for (guint k = 0; k < length && plugged != vc->target; k++) {
        gboolean adding = vc->target > plugged;
        JsonObject *cpu = json_array_get_object_element(cpus, adding ? length - 1 - k : k);
        JsonObject *props = cpu ? json_object_get_object_member(cpu, "props") : NULL;
        if (!props)
            continue;
        g_autoptr(JsonObject) arguments = json_object_new();
        if (adding && !json_object_has_member(cpu, "qom-path")) {
            g_autofree char *id = g_strdup_printf("oriel-vcpu-%" G_GINT64_FORMAT "-%" G_GINT64_FORMAT "-%" G_GINT64_FORMAT,
                                                  json_object_get_int_member_with_default(props, "socket-id", 0),
                                                  json_object_get_int_member_with_default(props, "core-id", 0),
                                                  json_object_get_int_member_with_default(props, "thread-id", 0));
            json_object_set_string_member(arguments, "driver", json_object_get_string_member_with_default(cpu, "type", ""));
            json_object_set_string_member(arguments, "id", id);
            JsonObjectIter iter;
            const char *member;
            JsonNode *value;
            json_object_iter_init(&iter, props);
            while (json_object_iter_next(&iter, &member, &value))
                json_object_set_member(arguments, member, json_node_copy(value));
            vc->pending++;
            plugged++;
            oriel_qmp_client_execute_async(qmp, "device_add", arguments, QMP_TIMEOUT_MS, NULL, on_vcpu_device_done, vc);
        } else if (!adding && is_ours(cpu)) {
            const char *path = json_object_get_string_member(cpu, "qom-path");
            json_object_set_string_member(arguments, "id", strrchr(path, '/') + 1);
            vc->pending++;
            plugged--;
            oriel_qmp_client_execute_async(qmp, "device_del", arguments, QMP_TIMEOUT_MS, NULL, on_vcpu_device_done, vc);
        }
    }
    if (plugged != vc->target)
        g_string_append_printf(vc->failures, "%s%u vCPUs are left: only vCPUs plugged by vcpu-set can be removed",
                               vc->failures->len ? "; " : "", plugged);
    if (--vc->pending == 0)
        vcpu_set_finish(vc);
}

void
oriel_hv_domain_vcpu_set(OrielHvDomain *domain, guint vcpus, OrielHvCall *call)
{
    const OrielDomainConfig *config = domain->config;
    guint maxvcpus = config->maxvcpus ? config->maxvcpus : config->vcpus;

    if (config->type == ORIEL_DOMAIN_TYPE_PVH) {
        oriel_hv_call_error(call, ORIEL_HV_ERROR_UNSUPPORTED,
                            "%s: the microvm machine (type = \"pvh\") cannot hot-plug vCPUs", domain->name);
        return;
    }
    if (vcpus < 1 || vcpus > maxvcpus) {
        oriel_hv_call_error(call, ORIEL_HV_ERROR_INVALID_ARGUMENT, "vcpus: must be 1 to %u (maxvcpus)", maxvcpus);
        return;
    }
    OrielQmpClient *qmp = connected_qmp(domain, call);
    if (!qmp)
        return;
    VcpuSetCall *vc = g_new0(VcpuSetCall, 1);
    vc->hv = domain->hv;
    vc->name = g_strdup(domain->name);
    vc->call = call;
    vc->target = vcpus;
    vc->failures = g_string_new(NULL);
    oriel_qmp_client_execute_async(qmp, "query-hotpluggable-cpus", NULL, QMP_TIMEOUT_MS, NULL, on_hotpluggable_cpus,
                                   vc);
}
