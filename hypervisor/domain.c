/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Domains: the store (CONFIG/domains/NAME.json, one file per persistent
 * domain, written atomically), the runtime record of a running domain
 * (RUNTIME/domains/NAME/domain.json: its ID and config, for a restarted
 * daemon), and the lifecycle with its on_poweroff/on_reboot/on_crash
 * policies.
 */
#include "hv-priv.h"

#include "cgroup.h"
#include "usb.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>

#define RESTART_WINDOW_US (60 * G_USEC_PER_SEC)
#define RESTARTS_MAX 5 /* per window: a guest that crashes at boot is not restarted forever */

const char *
oriel_hv_state_to_string(OrielHvState state)
{
    switch (state) {
    case ORIEL_HV_STATE_SHUTOFF: return "shutoff";
    case ORIEL_HV_STATE_STARTING: return "starting";
    case ORIEL_HV_STATE_RUNNING: return "running";
    case ORIEL_HV_STATE_PAUSED: return "paused";
    case ORIEL_HV_STATE_SHUTTING_DOWN: return "shutting-down";
    case ORIEL_HV_STATE_SHUTDOWN: return "shutdown";
    case ORIEL_HV_STATE_CRASHED: return "crashed";
    }
    return "unknown";
}

OrielHvDomain *
oriel_hv_domain_lookup(OrielHv *hv, const char *name)
{
    return g_hash_table_lookup(hv->domains, name);
}

OrielHvDomain *
oriel_hv_domain_add(OrielHv *hv, OrielDomainConfig *config, gboolean persistent)
{
    OrielHvDomain *domain = g_new0(OrielHvDomain, 1);

    domain->hv = hv;
    domain->name = g_strdup(config->name);
    domain->config = config;
    domain->persistent = persistent;
    domain->state = ORIEL_HV_STATE_SHUTOFF;
    g_hash_table_replace(hv->domains, domain->name, domain);
    return domain;
}

static void
fail_calls(GList **calls, OrielHvError code, const char *message)
{
    GList *list = g_steal_pointer(calls);

    for (GList *l = list; l; l = l->next)
        oriel_hv_call_error(l->data, code, "%s", message);
    g_list_free(list);
}

static void
return_calls(GList **calls, OrielHvDomain *domain)
{
    GList *list = g_steal_pointer(calls);

    for (GList *l = list; l; l = l->next)
        oriel_hv_call_return_object(l->data, oriel_hv_domain_describe(domain, FALSE));
    g_list_free(list);
}

static void
drop_dm(OrielHvDomain *domain)
{
    if (!domain->dm)
        return;
    OrielQmpClient *qmp = oriel_dm_process_get_qmp(domain->dm);
    if (qmp && domain->qmp_event_handler)
        g_signal_handler_disconnect(qmp, domain->qmp_event_handler);
    domain->qmp_event_handler = 0;
    domain->spice_port = 0;
    oriel_hv_ticket_watch_reset(domain);
    g_clear_pointer(&domain->dm, oriel_dm_process_free);
}

void
oriel_hv_domain_free(OrielHvDomain *domain)
{
    if (!domain)
        return;
    g_clear_handle_id(&domain->shutdown_timer_id, g_source_remove);
    fail_calls(&domain->start_waiters, ORIEL_HV_ERROR_GENERIC, "the daemon is stopping");
    fail_calls(&domain->stop_waiters, ORIEL_HV_ERROR_GENERIC, "the daemon is stopping");
    /* Leaves QEMU running: the next daemon reattaches it. */
    oriel_hv_usb_forget(domain);
    drop_dm(domain);
    oriel_hv_ticket_watch_free(domain->ticket_watch);
    g_free(domain->cgroup_path);
    oriel_domain_config_free(domain->config);
    g_free(domain->name);
    g_free(domain);
}

void
oriel_hv_domain_remove(OrielHvDomain *domain)
{
    g_hash_table_remove(domain->hv->domains, domain->name);
}

gboolean
oriel_hv_domain_is_active(OrielHvDomain *domain)
{
    return domain->state != ORIEL_HV_STATE_SHUTOFF;
}

static char *
definition_path(OrielHvDomain *domain)
{
    g_autofree char *file = g_strconcat(domain->name, ".json", NULL);
    return g_build_filename(domain->hv->domains_config_dir, file, NULL);
}

static char *
runtime_dir(OrielHvDomain *domain)
{
    return g_build_filename(domain->hv->domains_runtime_dir, domain->name, NULL);
}

static char *
config_to_text(const OrielDomainConfig *config)
{
    g_autoptr(JsonNode) node = oriel_domain_config_to_json(config, FALSE);
    g_autoptr(JsonGenerator) generator = json_generator_new();

    json_generator_set_pretty(generator, TRUE);
    json_generator_set_root(generator, node);
    return json_generator_to_data(generator, NULL);
}

gboolean
oriel_hv_domain_save(OrielHvDomain *domain, GError **error)
{
    g_autofree char *path = definition_path(domain);
    g_autofree char *text = config_to_text(domain->config);

    if (g_mkdir_with_parents(domain->hv->domains_config_dir, 0700) < 0) {
        g_set_error(error, ORIEL_HV_ERROR, ORIEL_HV_ERROR_GENERIC, "cannot create %s: %s",
                    domain->hv->domains_config_dir, g_strerror(errno));
        return FALSE;
    }
    /* CONSISTENT: write a temporary file, fsync it, rename it over. */
    return g_file_set_contents_full(path, text, -1, G_FILE_SET_CONTENTS_CONSISTENT, 0600, error);
}

gboolean
oriel_hv_domain_delete_definition(OrielHvDomain *domain, GError **error)
{
    g_autofree char *path = definition_path(domain);

    if (g_unlink(path) < 0 && errno != ENOENT) {
        g_set_error(error, ORIEL_HV_ERROR, ORIEL_HV_ERROR_GENERIC, "cannot remove %s: %s", path,
                    g_strerror(errno));
        return FALSE;
    }
    return TRUE;
}

/* The runtime record: what a restarted daemon needs to reattach. */
void
oriel_hv_domain_write_runtime_record(OrielHvDomain *domain)
{
    g_autofree char *dir = runtime_dir(domain);
    g_autofree char *path = g_build_filename(dir, "domain.json", NULL);
    g_autoptr(JsonBuilder) builder = json_builder_new();
    g_autoptr(GError) error = NULL;

    json_builder_begin_object(builder);
    json_builder_set_member_name(builder, "id");
    json_builder_add_int_value(builder, domain->domid);
    json_builder_set_member_name(builder, "persistent");
    json_builder_add_boolean_value(builder, domain->persistent);
    json_builder_set_member_name(builder, "start-time");
    json_builder_add_int_value(builder, domain->start_time_us);
    json_builder_set_member_name(builder, "weight");
    json_builder_add_int_value(builder, domain->sched_weight);
    json_builder_set_member_name(builder, "cap");
    json_builder_add_int_value(builder, domain->sched_cap);
    json_builder_set_member_name(builder, "config");
    json_builder_add_value(builder, oriel_domain_config_to_json(domain->config, FALSE));
    json_builder_end_object(builder);
    g_autoptr(JsonNode) root = json_builder_get_root(builder);
    g_autofree char *text = json_to_string(root, TRUE);
    if (!g_file_set_contents_full(path, text, -1, G_FILE_SET_CONTENTS_CONSISTENT, 0600, &error))
        g_message("%s: cannot write the runtime record: %s", domain->name, error->message);
}

static void
remove_runtime_record(OrielHvDomain *domain)
{
    g_autofree char *dir = runtime_dir(domain);
    g_autofree char *path = g_build_filename(dir, "domain.json", NULL);

    g_unlink(path);
    g_rmdir(dir); /* dm-process removed its own files already */
}

static guint
allocate_domid(OrielHv *hv)
{
    for (guint tries = 0; tries < ORIEL_HV_MAX_DOMID; tries++) {
        guint domid = hv->next_domid++;
        if (hv->next_domid >= ORIEL_HV_MAX_DOMID)
            hv->next_domid = 1;
        gboolean taken = FALSE;
        GHashTableIter iter;
        gpointer value;
        g_hash_table_iter_init(&iter, hv->domains);
        while (!taken && g_hash_table_iter_next(&iter, NULL, &value))
            taken = ((OrielHvDomain *)value)->domid == domid;
        if (!taken)
            return domid;
    }
    return 0;
}

void
oriel_hv_domain_emit_state(OrielHvDomain *domain, const char *reason)
{
    JsonObject *data = json_object_new();

    json_object_set_string_member(data, "name", domain->name);
    json_object_set_int_member(data, "id", domain->domid);
    json_object_set_string_member(data, "state", oriel_hv_state_to_string(domain->state));
    json_object_set_string_member(data, "reason", reason);
    oriel_hv_emit_event(domain->hv, "DOMAIN_STATE", data);
    json_object_unref(data);
}

static void
set_state(OrielHvDomain *domain, OrielHvState state, const char *reason)
{
    if (domain->state == state)
        return;
    domain->state = state;
    oriel_hv_domain_emit_state(domain, reason);
}

/* CPU time of QEMU in seconds, like xl list's Time(s). */
static double
cpu_seconds(GPid pid)
{
    g_autofree char *path = g_strdup_printf("/proc/%d/stat", (int)pid);
    g_autofree char *text = NULL;

    if (pid <= 0 || !g_file_get_contents(path, &text, NULL, NULL))
        return 0;
    const char *after = strrchr(text, ')'); /* comm may hold spaces */
    if (!after)
        return 0;
    g_auto(GStrv) fields = g_strsplit(after + 2, " ", 16);
    if (g_strv_length(fields) < 14)
        return 0;
    /* fields[0] is field 3 (state): utime is field 14, stime field 15. */
    guint64 ticks = g_ascii_strtoull(fields[11], NULL, 10) + g_ascii_strtoull(fields[12], NULL, 10);
    return (double)ticks / (double)sysconf(_SC_CLK_TCK);
}

JsonObject *
oriel_hv_domain_describe(OrielHvDomain *domain, gboolean with_config)
{
    JsonObject *object = json_object_new();
    const OrielDomainConfig *config = domain->config;

    json_object_set_string_member(object, "name", domain->name);
    json_object_set_int_member(object, "id", domain->domid);
    json_object_set_string_member(object, "state", oriel_hv_state_to_string(domain->state));
    json_object_set_boolean_member(object, "persistent", domain->persistent);
    json_object_set_int_member(object, "memory", (gint64)config->memory_mib);
    json_object_set_int_member(object, "vcpus", config->vcpus);
    if (domain->dm && (domain->state == ORIEL_HV_STATE_RUNNING || domain->state == ORIEL_HV_STATE_PAUSED ||
                       domain->state == ORIEL_HV_STATE_SHUTTING_DOWN)) {
        GPid pid = oriel_dm_process_get_pid(domain->dm);
        g_autofree char *uri = oriel_dm_process_get_spice_uri(domain->dm);
        json_object_set_int_member(object, "pid", pid);
        json_object_set_double_member(object, "time", cpu_seconds(pid));
        if (uri)
            json_object_set_string_member(object, "spice", uri);
        g_autofree char *dir = runtime_dir(domain);
        if (config->serial && g_str_equal(config->serial, "unix")) {
            g_autofree char *serial = g_build_filename(dir, "serial.sock", NULL);
            json_object_set_string_member(object, "console", serial);
        }
        json_object_set_string_member(object, "runtime-dir", dir);
    }
    if (with_config)
        json_object_set_member(object, "config", oriel_domain_config_to_json(config, TRUE));
    return object;
}

/* ---- QEMU's end and the policies ------------------------------------------- */

static void start_dm(OrielHvDomain *domain, guint first_port);

static void
finish_stopped(OrielHvDomain *domain, const char *reason)
{
    domain->stop_requested = FALSE;
    g_clear_handle_id(&domain->shutdown_timer_id, g_source_remove);
    domain->domid = 0;
    set_state(domain, ORIEL_HV_STATE_SHUTOFF, reason);
    GList *waiters = g_steal_pointer(&domain->stop_waiters);
    for (GList *l = waiters; l; l = l->next)
        oriel_hv_call_return_object(l->data, oriel_hv_domain_describe(domain, FALSE));
    g_list_free(waiters);
    if (!domain->persistent)
        oriel_hv_domain_remove(domain);
}

static gboolean
restart_allowed(OrielHvDomain *domain)
{
    gint64 now = g_get_monotonic_time();

    if (now - domain->restart_window_us > RESTART_WINDOW_US) {
        domain->restart_window_us = now;
        domain->restarts = 0;
    }
    return ++domain->restarts <= RESTARTS_MAX;
}

static void
on_dm_exit(OrielDmProcess *dm, OrielDmEnd end, int wait_status, gpointer user_data)
{
    OrielHvDomain *domain = user_data;
    const char *reason = oriel_dm_end_to_string(end);

    g_message("domain %s (id %u): QEMU ended: %s", domain->name, domain->domid, reason);
    drop_dm(domain);
    oriel_hv_cgroup_remove(domain->cgroup_path);
    g_clear_pointer(&domain->cgroup_path, g_free);
    g_clear_handle_id(&domain->shutdown_timer_id, g_source_remove);

    OrielLifecycleAction action = ORIEL_ACTION_DESTROY;
    if (!domain->stop_requested) {
        switch (end) {
        case ORIEL_DM_END_POWEROFF: action = domain->config->on_poweroff; break;
        case ORIEL_DM_END_REBOOT: action = domain->config->on_reboot; break;
        case ORIEL_DM_END_CRASH:
        case ORIEL_DM_END_DIED: action = domain->config->on_crash; break;
        case ORIEL_DM_END_QUIT: action = ORIEL_ACTION_DESTROY; break;
        }
    }
    if (action == ORIEL_ACTION_RESTART && !restart_allowed(domain)) {
        g_message("domain %s restarted %d times within %d s; not restarting it again", domain->name,
                  RESTARTS_MAX, (int)(RESTART_WINDOW_US / G_USEC_PER_SEC));
        action = ORIEL_ACTION_DESTROY;
    }
    /* USB disks stay plugged across a restart, like in a rebooting PC. */
    if (action == ORIEL_ACTION_RESTART)
        oriel_hv_usb_domain_restarting(domain);
    else
        oriel_hv_usb_domain_stopped(domain);
    remove_runtime_record(domain);
    switch (action) {
    case ORIEL_ACTION_DESTROY:
        finish_stopped(domain, reason);
        break;
    case ORIEL_ACTION_PRESERVE:
        set_state(domain, end == ORIEL_DM_END_POWEROFF ? ORIEL_HV_STATE_SHUTDOWN : ORIEL_HV_STATE_CRASHED,
                  reason);
        break;
    case ORIEL_ACTION_RESTART:
        domain->domid = 0;
        set_state(domain, ORIEL_HV_STATE_STARTING, reason);
        start_dm(domain, 0);
        break;
    }
}

static void
on_qmp_event(OrielQmpClient *client, const char *name, JsonObject *data, gint64 timestamp_us,
             gpointer user_data)
{
    OrielHvDomain *domain = user_data;

    if (g_str_has_prefix(name, "SPICE_")) {
        oriel_hv_ticket_on_qmp_event(domain, name, data);
        return;
    }
    if (g_str_equal(name, "SHUTDOWN")) {
        /* With -no-shutdown (a "preserve" policy) QEMU stays after the
         * guest's end, stopped: finish a requested stop at once, or keep it. */
        const char *reason = json_object_get_string_member_with_default(data, "reason", "");
        gboolean stays = (g_str_equal(reason, "guest-shutdown") &&
                          domain->config->on_poweroff == ORIEL_ACTION_PRESERVE) ||
                         (g_str_equal(reason, "guest-reset") && domain->config->on_reboot == ORIEL_ACTION_PRESERVE) ||
                         (g_str_equal(reason, "guest-panic") && domain->config->on_crash == ORIEL_ACTION_PRESERVE);
        if (!stays)
            return;
        if (domain->stop_requested)
            oriel_dm_process_quit(domain->dm);
        else
            set_state(domain, g_str_equal(reason, "guest-panic") ? ORIEL_HV_STATE_CRASHED : ORIEL_HV_STATE_SHUTDOWN,
                      reason);
        return;
    }
    if (g_str_equal(name, "STOP") && domain->state == ORIEL_HV_STATE_RUNNING)
        set_state(domain, ORIEL_HV_STATE_PAUSED, "paused");
    else if (g_str_equal(name, "RESUME") && domain->state == ORIEL_HV_STATE_PAUSED)
        set_state(domain, ORIEL_HV_STATE_RUNNING, "unpaused");
}

static void
watch_dm(OrielHvDomain *domain)
{
    OrielQmpClient *qmp = oriel_dm_process_get_qmp(domain->dm);

    oriel_dm_process_set_exit_func(domain->dm, on_dm_exit, domain);
    if (qmp)
        domain->qmp_event_handler = g_signal_connect(qmp, "event", G_CALLBACK(on_qmp_event), domain);
}

static void
on_started(GObject *source, GAsyncResult *result, gpointer user_data)
{
    OrielHvDomain *domain = user_data;
    g_autoptr(GError) error = NULL;

    if (!oriel_dm_process_start_finish(domain->dm, result, &error)) {
        g_message("domain %s: start failed: %s", domain->name, error->message);
        /* Another program (not this daemon) took the port between the check
         * and QEMU's bind: try the next ones. */
        if (domain->spice_port_picked && !domain->stop_requested && domain->start_attempts < 3 &&
            strstr(error->message, "spice server")) {
            guint next = domain->spice_port + 1;
            domain->start_attempts++;
            g_clear_pointer(&domain->dm, oriel_dm_process_free);
            start_dm(domain, next);
            return;
        }
        g_clear_pointer(&domain->dm, oriel_dm_process_free);
        /* What a failed restart kept, and the runtime dir it kept. */
        oriel_hv_usb_domain_stopped(domain);
        remove_runtime_record(domain);
        domain->spice_port = 0;
        domain->domid = 0;
        domain->stop_requested = FALSE;
        fail_calls(&domain->start_waiters, ORIEL_HV_ERROR_GENERIC, error->message);
        GList *waiters = g_steal_pointer(&domain->stop_waiters);
        for (GList *l = waiters; l; l = l->next)
            oriel_hv_call_return_object(l->data, NULL);
        g_list_free(waiters);
        set_state(domain, ORIEL_HV_STATE_SHUTOFF, "start-failed");
        if (!domain->persistent)
            oriel_hv_domain_remove(domain);
        return;
    }
    domain->domid = allocate_domid(domain->hv);
    domain->start_attempts = 0;
    domain->start_time_us = g_get_real_time();
    domain->spice_port = oriel_dm_process_get_spice_port(domain->dm);
    domain->sched_weight = domain->config->cpu_weight;
    domain->sched_cap = domain->config->cap;
    if (domain->sched_weight != ORIEL_CPU_WEIGHT_DEFAULT || domain->sched_cap != 0) {
        g_autoptr(GError) sched_error = NULL;
        if (!oriel_hv_domain_set_sched(domain, domain->sched_weight, domain->sched_cap, &sched_error))
            g_message("domain %s: cpu_weight/cap not applied: %s", domain->name, sched_error->message);
    }
    /* xl's cpus = "...": every vCPU's affinity. */
    if (domain->config->cpus && !g_str_equal(domain->config->cpus, "all"))
        oriel_hv_domain_vcpu_pin(domain, -1, domain->config->cpus, NULL);
    watch_dm(domain);
    oriel_hv_domain_write_runtime_record(domain);
    set_state(domain, ORIEL_HV_STATE_RUNNING, "started");
    g_message("domain %s: running as id %u, QEMU pid %d", domain->name, domain->domid,
              (int)oriel_dm_process_get_pid(domain->dm));
    return_calls(&domain->start_waiters, domain);
    if (domain->stop_requested) /* destroyed while starting */
        oriel_dm_process_kill(domain->dm);
    else
        oriel_hv_usb_domain_started(domain);
}

static gboolean
port_is_held(OrielHv *hv, guint port)
{
    GHashTableIter iter;
    gpointer value;

    g_hash_table_iter_init(&iter, hv->domains);
    while (g_hash_table_iter_next(&iter, NULL, &value)) {
        if (((OrielHvDomain *)value)->spice_port == port)
            return TRUE;
    }
    return FALSE;
}

static gboolean
port_is_free(GInetAddress *address, guint port)
{
    g_autoptr(GSocket) socket = g_socket_new(g_inet_address_get_family(address), G_SOCKET_TYPE_STREAM,
                                             G_SOCKET_PROTOCOL_TCP, NULL);
    g_autoptr(GSocketAddress) socket_address = g_inet_socket_address_new(address, port);

    return socket && g_socket_bind(socket, socket_address, TRUE, NULL);
}

/*
 * dm-process picks a free port when the config says 0, but two starts in
 * flight at once would both see the same port free (QEMU binds it only
 * later).  The daemon knows every start in flight: it picks the port itself,
 * skipping ports its other domains hold.  0 leaves the choice to dm-process
 * (a fixed port, a host name to resolve, or nothing free here).
 */
static guint
pick_spice_port(OrielHvDomain *domain, guint first)
{
    const OrielSpiceConfig *spice = &domain->config->spice;
    g_autoptr(GInetAddress) address = NULL;

    if (!spice->enabled || spice->port != 0 || !spice->host ||
        !(address = g_inet_address_new_from_string(spice->host)))
        return 0;
    for (guint port = MAX(first, 5900); port <= 5999; port++) {
        if (port != spice->tls_port && !port_is_held(domain->hv, port) && port_is_free(address, port))
            return port;
    }
    return 0;
}

static void
start_dm(OrielHvDomain *domain, guint first_port)
{
    g_autofree char *dir = runtime_dir(domain);
    guint port = pick_spice_port(domain, first_port);

    /* dm-process copies the config: the chosen port goes into the copy only,
     * and the domain's own config keeps "any port" for its next start. */
    if (port)
        domain->config->spice.port = port;
    domain->dm = oriel_dm_process_new(domain->config, dir);
    oriel_dm_process_set_spice_x509_dir(domain->dm, domain->hv->spice_x509_dir);
    oriel_dm_process_set_user(domain->dm, domain->hv->qemu_user);
    if (port)
        domain->config->spice.port = 0;
    domain->spice_port = port ? port : domain->config->spice.port;
    domain->spice_port_picked = port != 0;
    oriel_dm_process_start_async(domain->dm, NULL, NULL, on_started, domain);
}

void
oriel_hv_domain_start(OrielHvDomain *domain, OrielHvCall *call)
{
    domain->start_attempts = 0;
    if (call)
        domain->start_waiters = g_list_append(domain->start_waiters, call);
    domain->restarts = 0;
    set_state(domain, ORIEL_HV_STATE_STARTING, "start");
    start_dm(domain, 0);
}

static gboolean
on_shutdown_timeout(gpointer user_data)
{
    OrielHvDomain *domain = user_data;

    domain->shutdown_timer_id = 0;
    g_message("domain %s did not power off in time; quitting QEMU", domain->name);
    if (domain->dm)
        oriel_dm_process_quit(domain->dm);
    return G_SOURCE_REMOVE;
}

void
oriel_hv_domain_shutdown(OrielHvDomain *domain, guint timeout_s, OrielHvCall *wait_call)
{
    OrielQmpClient *qmp = oriel_dm_process_get_qmp(domain->dm);

    domain->stop_requested = TRUE;
    if (wait_call)
        domain->stop_waiters = g_list_append(domain->stop_waiters, wait_call);
    /* A paused guest cannot see the power button. */
    if (domain->state == ORIEL_HV_STATE_PAUSED && qmp)
        oriel_qmp_client_execute_async(qmp, "cont", NULL, 30000, NULL, NULL, NULL);
    set_state(domain, ORIEL_HV_STATE_SHUTTING_DOWN, "shutdown");
    oriel_dm_process_powerdown(domain->dm);
    g_clear_handle_id(&domain->shutdown_timer_id, g_source_remove);
    domain->shutdown_timer_id = g_timeout_add_seconds(timeout_s, on_shutdown_timeout, domain);
}

void
oriel_hv_domain_destroy(OrielHvDomain *domain, OrielHvCall *call)
{
    switch (domain->state) {
    case ORIEL_HV_STATE_SHUTDOWN:
    case ORIEL_HV_STATE_CRASHED:
        if (domain->dm)
            break; /* preserved by a stopped QEMU (-no-shutdown): kill it below */
        /* Preserved after QEMU ended: nothing runs. */
        if (call)
            domain->stop_waiters = g_list_append(domain->stop_waiters, call);
        finish_stopped(domain, "destroyed");
        return;
    default:
        break;
    }
    domain->stop_requested = TRUE;
    if (call)
        domain->stop_waiters = g_list_append(domain->stop_waiters, call);
    if (domain->dm)
        oriel_dm_process_kill(domain->dm);
}

typedef struct {
    OrielHvDomain *domain; /* checked against the table on return */
    char *name;
    OrielHvCall *call;
    OrielHv *hv;
} QmpCall;

static void
on_qmp_simple_done(GObject *source, GAsyncResult *result, gpointer user_data)
{
    QmpCall *qc = user_data;
    g_autoptr(GError) error = NULL;
    g_autoptr(JsonNode) reply = oriel_qmp_client_execute_finish(ORIEL_QMP_CLIENT(source), result, &error);
    OrielHvDomain *domain = oriel_hv_domain_lookup(qc->hv, qc->name);

    if (!reply) {
        oriel_hv_call_error(qc->call, ORIEL_HV_ERROR_GENERIC, "%s: %s", qc->name, error->message);
    } else if (domain) {
        oriel_hv_call_return_object(qc->call, oriel_hv_domain_describe(domain, FALSE));
    } else {
        oriel_hv_call_return_object(qc->call, NULL);
    }
    g_free(qc->name);
    g_free(qc);
}

void
oriel_hv_domain_qmp_simple(OrielHvDomain *domain, const char *command, OrielHvCall *call)
{
    OrielQmpClient *qmp = domain->dm ? oriel_dm_process_get_qmp(domain->dm) : NULL;

    if (!qmp || oriel_qmp_client_is_closed(qmp)) {
        oriel_hv_call_error(call, ORIEL_HV_ERROR_INVALID_STATE, "%s: QMP is not connected", domain->name);
        return;
    }
    QmpCall *qc = g_new0(QmpCall, 1);
    qc->hv = domain->hv;
    qc->name = g_strdup(domain->name);
    qc->call = call;
    /* State follows QEMU's STOP / RESUME events, which come before the reply. */
    oriel_qmp_client_execute_async(qmp, command, NULL, 30000, NULL, on_qmp_simple_done, qc);
}

/* ---- the store and recovery -------------------------------------------------- */

static OrielDomainConfig *
config_from_node(JsonNode *node, GError **error)
{
    g_autoptr(OrielDomainConfig) config = oriel_domain_config_from_json(node, error);

    if (!config || !oriel_domain_config_validate(config, error))
        return NULL;
    return g_steal_pointer(&config);
}

gboolean
oriel_hv_load_store(OrielHv *hv, GError **error)
{
    g_autoptr(GError) local_error = NULL;
    g_autoptr(GDir) dir = g_dir_open(hv->domains_config_dir, 0, &local_error);
    const char *entry;

    if (!dir)
        return TRUE; /* nothing defined yet */
    while ((entry = g_dir_read_name(dir))) {
        if (!g_str_has_suffix(entry, ".json") || entry[0] == '.')
            continue;
        g_autofree char *path = g_build_filename(hv->domains_config_dir, entry, NULL);
        g_autoptr(JsonParser) parser = json_parser_new();
        g_autoptr(GError) entry_error = NULL;
        g_autoptr(OrielDomainConfig) config = NULL;
        if (json_parser_load_from_mapped_file(parser, path, &entry_error))
            config = config_from_node(json_parser_get_root(parser), &entry_error);
        if (!config) {
            g_message("skipping %s: %s", path, entry_error->message);
            continue;
        }
        g_autofree char *expected = g_strconcat(config->name, ".json", NULL);
        if (!g_str_equal(expected, entry)) {
            g_message("skipping %s: it defines '%s'", path, config->name);
            continue;
        }
        if (g_hash_table_size(hv->domains) >= ORIEL_HV_MAX_DOMAINS) {
            g_message("more than %d domains defined; skipping the rest", ORIEL_HV_MAX_DOMAINS);
            break;
        }
        oriel_hv_domain_add(hv, g_steal_pointer(&config), TRUE);
    }
    return TRUE;
}

static void
on_status_known(GObject *source, GAsyncResult *result, gpointer user_data)
{
    QmpCall *qc = user_data;
    g_autoptr(JsonNode) reply = oriel_qmp_client_execute_finish(ORIEL_QMP_CLIENT(source), result, NULL);
    OrielHvDomain *domain = oriel_hv_domain_lookup(qc->hv, qc->name);

    if (domain && domain->state == ORIEL_HV_STATE_RUNNING && reply && JSON_NODE_HOLDS_OBJECT(reply) &&
        !json_object_get_boolean_member_with_default(json_node_get_object(reply), "running", TRUE))
        set_state(domain, ORIEL_HV_STATE_PAUSED, "reattached");
    g_free(qc->name);
    g_free(qc);
}

static void
on_attached(GObject *source, GAsyncResult *result, gpointer user_data)
{
    OrielHvDomain *domain = user_data;
    g_autoptr(GError) error = NULL;

    if (!oriel_dm_process_attach_finish(domain->dm, result, &error)) {
        g_message("domain %s: cannot reattach: %s", domain->name, error->message);
        g_autofree char *dir = runtime_dir(domain);
        if (!oriel_dm_process_is_running(dir, domain->name, NULL)) {
            /* Gone while no daemon watched it: clean up after it. */
            oriel_hv_usb_recover(domain, FALSE);
            oriel_dm_process_clean_runtime_dir(domain->dm);
            remove_runtime_record(domain);
        }
        g_clear_pointer(&domain->dm, oriel_dm_process_free);
        domain->domid = 0;
        set_state(domain, ORIEL_HV_STATE_SHUTOFF, "reattach-failed");
        if (!domain->persistent)
            oriel_hv_domain_remove(domain);
        return;
    }
    watch_dm(domain);
    domain->spice_port = oriel_dm_process_get_spice_port(domain->dm);
    domain->cgroup_path = oriel_hv_cgroup_find(domain->name, oriel_dm_process_get_pid(domain->dm));
    set_state(domain, ORIEL_HV_STATE_RUNNING, "reattached");
    g_message("domain %s: reattached as id %u, QEMU pid %d", domain->name, domain->domid,
              (int)oriel_dm_process_get_pid(domain->dm));
    oriel_hv_usb_recover(domain, TRUE);
    QmpCall *qc = g_new0(QmpCall, 1);
    qc->hv = domain->hv;
    qc->name = g_strdup(domain->name);
    oriel_qmp_client_execute_async(oriel_dm_process_get_qmp(domain->dm), "query-status", NULL, 30000, NULL,
                                   on_status_known, qc);
}

static void
recover_one(OrielHv *hv, const char *name)
{
    g_autofree char *dir = g_build_filename(hv->domains_runtime_dir, name, NULL);
    g_autofree char *path = g_build_filename(dir, "domain.json", NULL);
    g_autoptr(JsonParser) parser = json_parser_new();
    g_autoptr(GError) error = NULL;

    if (!g_file_test(path, G_FILE_TEST_IS_REGULAR))
        return;
    if (!json_parser_load_from_mapped_file(parser, path, &error)) {
        g_message("%s: %s", path, error->message);
        return;
    }
    JsonNode *root = json_parser_get_root(parser);
    JsonObject *record = root && JSON_NODE_HOLDS_OBJECT(root) ? json_node_get_object(root) : NULL;
    JsonNode *config_node = record ? json_object_get_member(record, "config") : NULL;
    gint64 domid = record ? json_object_get_int_member_with_default(record, "id", 0) : 0;
    g_autoptr(OrielDomainConfig) config = config_node ? config_from_node(config_node, &error) : NULL;
    if (!config || !g_str_equal(config->name, name) || domid <= 0 || domid >= ORIEL_HV_MAX_DOMID) {
        g_message("%s: not a valid runtime record%s%s", path, error ? ": " : "", error ? error->message : "");
        return;
    }

    OrielHvDomain *domain = oriel_hv_domain_lookup(hv, name);
    if (domain) {
        /* The running config may differ from the stored definition. */
        oriel_domain_config_free(domain->config);
        domain->config = g_steal_pointer(&config);
    } else {
        domain = oriel_hv_domain_add(hv, g_steal_pointer(&config), FALSE);
    }
    domain->domid = (guint)domid;
    domain->start_time_us = json_object_get_int_member_with_default(record, "start-time", 0);
    domain->sched_weight = (gint)json_object_get_int_member_with_default(record, "weight", domain->config->cpu_weight);
    domain->sched_cap = (gint)json_object_get_int_member_with_default(record, "cap", domain->config->cap);
    if ((guint)domid >= hv->next_domid)
        hv->next_domid = (guint)domid + 1 < ORIEL_HV_MAX_DOMID ? (guint)domid + 1 : 1;
    domain->state = ORIEL_HV_STATE_STARTING;
    domain->dm = oriel_dm_process_new(domain->config, dir);
    oriel_dm_process_attach_async(domain->dm, NULL, on_attached, domain);
}

void
oriel_hv_recover(OrielHv *hv)
{
    g_autoptr(GDir) dir = g_dir_open(hv->domains_runtime_dir, 0, NULL);
    const char *entry;

    if (!dir)
        return;
    while ((entry = g_dir_read_name(dir)))
        recover_one(hv, entry);
}
