/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* oriel-broker: the connection broker for thin clients. */
#include <locale.h>
#include <stdlib.h>

#include "broker-server.h"
#include "paths.h"

int
main(int argc, char **argv)
{
    g_autofree char *config_path = NULL;
    g_autofree char *state_dir = NULL;
    g_autofree char *cert_path = NULL;
    g_autofree char *key_path = NULL;
    g_autofree char *spice_x509_dir = NULL;
    g_autofree char *orield_socket = NULL;
    g_autofree char *listen_address = NULL;
    g_autofree char *init_tls = NULL;
    g_autofree char *hostname = NULL;
    g_autofree char *pam_service = NULL;
    gint port = 8443;
    gboolean check_config = FALSE;
    GOptionEntry entries[] = {
        { "config", 'c', 0, G_OPTION_ARG_FILENAME, &config_path, "Broker config (default CONFIG/broker.conf)", "FILE" },
        { "state-dir", 0, 0, G_OPTION_ARG_FILENAME, &state_dir, "State: database, overlays (default STATE/broker)", "DIR" },
        { "cert", 0, 0, G_OPTION_ARG_FILENAME, &cert_path, "HTTPS certificate (PEM)", "FILE" },
        { "key", 0, 0, G_OPTION_ARG_FILENAME, &key_path, "HTTPS private key (PEM)", "FILE" },
        { "spice-x509-dir", 0, 0, G_OPTION_ARG_FILENAME, &spice_x509_dir,
          "SPICE TLS dir (ca-cert.pem, server-cert.pem) for the .vv ca and host-subject", "DIR" },
        { "orield-socket", 0, 0, G_OPTION_ARG_FILENAME, &orield_socket, "orield's socket (default RUNTIME/orield.sock)",
          "PATH" },
        { "listen", 'l', 0, G_OPTION_ARG_STRING, &listen_address, "Address to listen on (default 127.0.0.1)", "ADDR" },
        { "port", 'p', 0, G_OPTION_ARG_INT, &port, "HTTPS port (default 8443; 0 picks one)", "PORT" },
        { "pam-service", 0, 0, G_OPTION_ARG_STRING, &pam_service, "PAM service (default oriel)", "NAME" },
        { "check-config", 0, 0, G_OPTION_ARG_NONE, &check_config, "Parse the config, print its pools and exit", NULL },
        { "init-tls", 0, 0, G_OPTION_ARG_FILENAME, &init_tls,
          "Create a CA and a server certificate in DIR (ca-cert.pem, ca-key.pem, server-cert.pem, server-key.pem) and exit",
          "DIR" },
        { "hostname", 0, 0, G_OPTION_ARG_STRING, &hostname, "Host name for --init-tls (default this host's)", "NAME" },
        { NULL },
    };
    g_autoptr(GOptionContext) context = g_option_context_new("- Oriel's connection broker for thin clients");
    g_autoptr(GError) error = NULL;

    setlocale(LC_ALL, "");
    g_option_context_add_main_entries(context, entries, NULL);
    if (!g_option_context_parse(context, &argc, &argv, &error)) {
        g_printerr("oriel-broker: %s\n", error->message);
        return 2;
    }
    if (argc > 1) {
        g_printerr("oriel-broker: unexpected argument '%s'\n", argv[1]);
        return 2;
    }
    if (init_tls) {
        g_autofree char *host_subject = NULL;
        if (!oriel_broker_init_tls(init_tls, hostname ? hostname : g_get_host_name(), &host_subject, &error)) {
            g_printerr("oriel-broker: --init-tls: %s\n", error->message);
            return 1;
        }
        g_print("created ca-cert.pem, ca-key.pem, server-cert.pem, server-key.pem in %s\n", init_tls);
        g_print("host-subject: %s\n", host_subject);
        return 0;
    }
    OrielMode mode = oriel_mode_default();
    if (!config_path) {
        g_autofree char *dir = oriel_paths_config_dir(mode);
        config_path = g_build_filename(dir, "broker.conf", NULL);
    }
    if (check_config) {
        g_autoptr(OrielBrokerConfig) config = oriel_broker_config_parse_file(config_path, &error);
        if (!config) {
            g_printerr("oriel-broker: %s\n", error->message);
            return 1;
        }
        for (guint i = 0; i < config->pools->len; i++) {
            const OrielBrokerPoolDef *pool = config->pools->pdata[i];
            g_print("pool %s: %u %s desktop(s) on %s\n", pool->name, pool->desktops,
                    pool->persistent ? "persistent" : "stateless", pool->golden_image);
        }
        return 0;
    }
    if (!state_dir) {
        g_autofree char *dir = oriel_paths_state_dir(mode);
        state_dir = g_build_filename(dir, "broker", NULL);
    }
    if (!cert_path || !key_path) {
        g_printerr("oriel-broker: --cert and --key are required (oriel-broker --init-tls DIR makes them)\n");
        return 2;
    }
    if (port < 0 || port > 65535) {
        g_printerr("oriel-broker: --port: expected 0 to 65535\n");
        return 2;
    }
    OrielBrokerOptions options = {
        .config_path = config_path,
        .state_dir = state_dir,
        .cert_path = cert_path,
        .key_path = key_path,
        .spice_x509_dir = spice_x509_dir,
        .orield_socket = orield_socket,
        .listen_address = listen_address ? listen_address : "127.0.0.1",
        .port = (guint)port,
        .pam_service = pam_service ? pam_service : "oriel",
    };
    if (!oriel_broker_run(&options, &error)) {
        g_printerr("oriel-broker: %s\n", error->message);
        return 1;
    }
    return 0;
}
