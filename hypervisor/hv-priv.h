/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The daemon's internals, shared by its files; not installed. */
#pragma once

#include <gio/gio.h>
#include <json-glib/json-glib.h>
#include <sched.h>
#include <sys/types.h>

#include "dm-process.h"
#include "domain-config.h"
#include "hv.h"
#include "protocol.h"

G_BEGIN_DECLS

#define ORIEL_HV_MAX_CLIENTS 1024
#define ORIEL_HV_MAX_OUTPUT (4 * 1024 * 1024) /* queued bytes before a client is dropped */
#define ORIEL_HV_MAX_DOMAINS 4096
#define ORIEL_HV_MAX_DOMID 32752              /* as Xen's DOMID_FIRST_RESERVED */

typedef struct _OrielHvClient OrielHvClient;
typedef struct _OrielHvCall OrielHvCall;
typedef struct _OrielHvDomain OrielHvDomain;
typedef struct _OrielHvTicketWatch OrielHvTicketWatch;

typedef enum {
    ORIEL_HV_STATE_SHUTOFF,       /* defined, not running */
    ORIEL_HV_STATE_STARTING,      /* QEMU starting, or being reattached */
    ORIEL_HV_STATE_RUNNING,
    ORIEL_HV_STATE_PAUSED,
    ORIEL_HV_STATE_SHUTTING_DOWN, /* powerdown sent, waiting for the guest */
    ORIEL_HV_STATE_SHUTDOWN,      /* powered off, kept by on_poweroff = "preserve" */
    ORIEL_HV_STATE_CRASHED,       /* crashed, kept by on_crash = "preserve" */
} OrielHvState;

const char *oriel_hv_state_to_string(OrielHvState state);

struct _OrielHv {
    OrielMode mode;
    char *config_dir;
    char *domains_config_dir; /* CONFIG/domains */
    char *runtime_dir;
    char *domains_runtime_dir; /* RUNTIME/domains */
    char *socket_path;
    char *lock_path;
    int lock_fd;
    gboolean oriel_group_known;
    gid_t oriel_gid;
    OrielDmUser *qemu_user;  /* system mode as root: QEMUs run as it (qemu-user.c) */

    GSocket *listener;
    GSource *listener_source;
    GList *clients;          /* of OrielHvClient *, referenced */
    guint n_clients;

    GHashTable *domains;     /* name -> OrielHvDomain * (owned) */
    guint next_domid;
    char *qemu_version;      /* from `qemu --version`, filled asynchronously */
    char *spice_x509_dir;    /* ca-cert.pem, server-cert.pem, server-key.pem for spicetls_port */
    char *spice_subject;     /* server-cert.pem's subject, cached (spice-ticket.c) */
    char *spice_subject_path;
    gint64 spice_subject_stamp;
    gint64 spice_subject_size;
    GCancellable *cancellable;
};

/* server.c: clients and calls */
gboolean oriel_hv_server_listen(OrielHv *hv, GError **error);
void oriel_hv_server_close(OrielHv *hv);
void oriel_hv_emit_event(OrielHv *hv, const char *event, JsonObject *data);

void oriel_hv_call_return(OrielHvCall *call, JsonNode *value);       /* consumes the call */
void oriel_hv_call_return_object(OrielHvCall *call, JsonObject *value); /* consumes both */
void oriel_hv_call_error(OrielHvCall *call, OrielHvError code, const char *format, ...)
    G_GNUC_PRINTF(3, 4);                                             /* consumes the call */
void oriel_hv_call_propagate(OrielHvCall *call, const GError *error); /* consumes the call */
void oriel_hv_call_set_subscribed(OrielHvCall *call);
uid_t oriel_hv_call_get_uid(OrielHvCall *call); /* the client's, from SO_PEERCRED */

/* commands.c: the command table */
typedef void (*OrielHvCommandFunc)(OrielHv *hv, OrielHvCall *call, JsonObject *arguments);
OrielHvCommandFunc oriel_hv_command_lookup(const char *name);

/* domain.c: domains and their lifecycle */
struct _OrielHvDomain {
    OrielHv *hv;
    char *name;
    OrielDomainConfig *config;
    gboolean persistent;
    OrielHvState state;
    guint domid;               /* 0 while not running */
    OrielDmProcess *dm;
    guint spice_port;          /* held from the start on, so starts at once get different ones */
    gboolean spice_port_picked; /* by the daemon, not fixed by the config */
    guint start_attempts;      /* retries with another SPICE port */
    gulong qmp_event_handler;
    gint64 start_time_us;
    gboolean stop_requested;   /* shutdown or destroy: no policy applies */
    guint shutdown_timer_id;
    GList *start_waiters;      /* calls answered when the start ends */
    GList *stop_waiters;       /* calls answered when QEMU is gone */
    char *cgroup_path;         /* this QEMU's cgroup, once sched-credit made one */
    gint sched_weight;         /* xl cpu_weight in effect */
    gint sched_cap;            /* xl cap in effect (percent of one CPU, 0 = none) */
    guint restarts;            /* restarts in the current window */
    gint64 restart_window_us;
    GPtrArray *usb;            /* host-side USB disks (usb.c), or NULL */
    OrielHvTicketWatch *ticket_watch; /* the pending one-time ticket, spice-ticket.c */
};

OrielHvDomain *oriel_hv_domain_lookup(OrielHv *hv, const char *name);
OrielHvDomain *oriel_hv_domain_add(OrielHv *hv, OrielDomainConfig *config, gboolean persistent); /* takes config */
void oriel_hv_domain_free(OrielHvDomain *domain);
gboolean oriel_hv_domain_is_active(OrielHvDomain *domain);
gboolean oriel_hv_domain_save(OrielHvDomain *domain, GError **error);
gboolean oriel_hv_domain_delete_definition(OrielHvDomain *domain, GError **error);
void oriel_hv_domain_remove(OrielHvDomain *domain); /* from the table; frees */
JsonObject *oriel_hv_domain_describe(OrielHvDomain *domain, gboolean with_config);

void oriel_hv_domain_start(OrielHvDomain *domain, OrielHvCall *call);   /* call may be NULL */
void oriel_hv_domain_shutdown(OrielHvDomain *domain, guint timeout_s, OrielHvCall *wait_call);
void oriel_hv_domain_destroy(OrielHvDomain *domain, OrielHvCall *call);
void oriel_hv_domain_qmp_simple(OrielHvDomain *domain, const char *command, OrielHvCall *call);
void oriel_hv_domain_write_runtime_record(OrielHvDomain *domain);
void oriel_hv_domain_emit_state(OrielHvDomain *domain, const char *reason);

/* resources.c: scheduling, memory, pinning of a running domain */
gboolean oriel_hv_domain_set_sched(OrielHvDomain *domain, gint weight, gint cap, GError **error);
void oriel_hv_domain_mem_set(OrielHvDomain *domain, guint64 memory_mib, OrielHvCall *call);
void oriel_hv_domain_vcpu_set(OrielHvDomain *domain, guint vcpus, OrielHvCall *call);
/* @call NULL: the daemon's own (the config's cpus at start); failures are logged. */
void oriel_hv_domain_vcpu_pin(OrielHvDomain *domain, gint vcpu, const char *cpus, OrielHvCall *call);
/* Parses an xl cpu list ("all", "0-3,^1,5") into @set; FALSE when invalid. */
gboolean oriel_hv_parse_cpu_list(const char *text, cpu_set_t *set);

/* spice-ticket.c: SPICE tickets, one-time tickets, TLS details */
void oriel_hv_domain_spice_ticket(OrielHvDomain *domain, guint expires_s, gboolean one_time, OrielHvCall *call);
void oriel_hv_ticket_on_qmp_event(OrielHvDomain *domain, const char *name, JsonObject *data);
void oriel_hv_ticket_watch_reset(OrielHvDomain *domain);  /* QEMU gone: nothing pending */
void oriel_hv_ticket_watch_free(OrielHvTicketWatch *watch);
/* Tests: a pending one-time ticket without QEMU, and shorter settle times. */
void oriel_hv_ticket_watch_arm_for_test(OrielHvDomain *domain, guint settle_ms, guint settle_max_ms);
gboolean oriel_hv_ticket_watch_is_armed(OrielHvDomain *domain);

/* qemu-user.c: the unprivileged user of system-mode QEMUs */
gboolean oriel_hv_qemu_user_setup(OrielHv *hv, const char *configured, const char *config_path, GError **error);
gboolean oriel_hv_qemu_user_prepare(OrielHv *hv, GError **error); /* once the runtime dirs exist */
void oriel_hv_qemu_user_share_socket(OrielHv *hv, const char *path); /* a socket QEMU connects to */

gboolean oriel_hv_load_store(OrielHv *hv, GError **error);
void oriel_hv_recover(OrielHv *hv);

G_END_DECLS
