/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The parts of oriel-broker that do I/O: PAM and the user database
 * (broker-auth.c), TLS set-up (broker-tls.c), orield and the desktops'
 * disks (broker-host.c), and the HTTPS server (broker-server.c).
 */
#pragma once

#include <gio/gio.h>

#include "broker-db.h"
#include "broker.h"

G_BEGIN_DECLS

/* ---- broker-auth.c (blocking, thread-safe) ---- */

/* pam_authenticate + pam_acct_mgmt of @user with @password for @service. */
gboolean oriel_broker_pam_check(const char *service, const char *user, const char *password, const char *address,
                                GError **error);
/* The names of @user's groups (getgrouplist), NULL-terminated. */
char **oriel_broker_user_groups(const char *user, GError **error);

/* ---- broker-tls.c ---- */

/* Creates DIR/ca-cert.pem, ca-key.pem, server-cert.pem and server-key.pem
 * (keys 0600) for @hostname; refuses to overwrite.  Sets *@ret_host_subject
 * to the server certificate's subject as a .vv host-subject. */
gboolean oriel_broker_init_tls(const char *dir, const char *hostname, char **ret_host_subject, GError **error);
/* The subject of the PEM certificate in @path as "O=...,CN=..." */
char *oriel_broker_cert_subject(const char *path, GError **error);

/* ---- broker-host.c (blocking, thread-safe) ---- */

typedef struct _OrielBrokerHost OrielBrokerHost;

/* @socket_path: orield's socket (NULL: the default); @disk_dir: where the
 * desktops' overlays live; @x509_dir: the SPICE TLS dir, or NULL. */
OrielBrokerHost *oriel_broker_host_new(const char *socket_path, const char *disk_dir, GError **error);
void oriel_broker_host_free(OrielBrokerHost *host);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(OrielBrokerHost, oriel_broker_host_free)

/* Makes sure desktop @index of @pool has an overlay, is defined in orield
 * and runs, then issues a one-time ticket valid @expires seconds.  Returns
 * orield's ticket reply (transfer full). */
JsonObject *oriel_broker_host_connect(OrielBrokerHost *host, const OrielBrokerPoolDef *pool, guint index,
                                      guint expires, GError **error);
/* A stateless desktop's reset: stops it, and recreates its overlay. */
gboolean oriel_broker_host_reset(OrielBrokerHost *host, const OrielBrokerPoolDef *pool, guint index, GError **error);
/* A deleted pool's desktop: destroyed, undefined, overlay removed. */
gboolean oriel_broker_host_remove(OrielBrokerHost *host, const OrielBrokerPoolDef *pool, guint index, GError **error);

/* Calls @callback(desktop name, user_data) in @context for every desktop
 * that powers off by itself (not through the broker), until the host is
 * freed.  Runs a thread subscribed to orield's events. */
void oriel_broker_host_watch_poweroff(OrielBrokerHost *host, GMainContext *context,
                                      void (*callback)(const char *desktop, gpointer user_data), gpointer user_data);

/* ---- broker-server.c ---- */

typedef struct {
    const char *config_path;
    const char *state_dir;
    const char *cert_path;
    const char *key_path;
    const char *spice_x509_dir; /* ca-cert.pem and server-cert.pem for .vv TLS fields; may be NULL */
    const char *orield_socket;  /* NULL: default */
    const char *listen_address;
    guint port;
    const char *pam_service;
} OrielBrokerOptions;

/* Runs the broker until SIGTERM/SIGINT. */
gboolean oriel_broker_run(const OrielBrokerOptions *options, GError **error);

G_END_DECLS
