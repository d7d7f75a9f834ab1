/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * --init-tls: a CA and a server certificate made with the openssl CLI, laid
 * out as QEMU's spice x509-dir wants it (ca-cert.pem, server-cert.pem,
 * server-key.pem), so one directory serves both the broker's HTTPS and the
 * desktops' SPICE TLS.  ECDSA P-256 keys: a handshake costs a fraction of
 * an RSA-3072 one (which dominated the broker's CPU time when 100 thin
 * clients logged in at once), at comparable strength.
 */
#include "broker-server.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>

static gboolean
openssl(GError **error, const char *const *argv)
{
    g_autofree char *err = NULL;
    int status = 0;

    if (!g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_SEARCH_PATH | G_SPAWN_STDOUT_TO_DEV_NULL, NULL, NULL, NULL,
                      &err, &status, error))
        return FALSE;
    if (!g_spawn_check_wait_status(status, NULL)) {
        g_set_error(error, ORIEL_BROKER_SERVER_ERROR, ORIEL_BROKER_SERVER_ERROR_IO, "openssl %s failed: %s", argv[1],
                    err ? g_strstrip(err) : "");
        return FALSE;
    }
    return TRUE;
}

static gboolean
hostname_is_valid(const char *hostname)
{
    gsize length = strlen(hostname);

    return length > 0 && length <= 253 && strspn(hostname, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                                           "0123456789.-") == length;
}

char *
oriel_broker_cert_subject(const char *path, GError **error)
{
    const char *argv[] = { "openssl", "x509", "-in", path, "-noout", "-subject", "-nameopt", "sep_comma_plus", NULL };
    g_autofree char *out = NULL;
    g_autofree char *err = NULL;
    int status = 0;

    if (!g_spawn_sync(NULL, (char **)argv, NULL, G_SPAWN_SEARCH_PATH, NULL, NULL, &out, &err, &status, error))
        return NULL;
    if (!g_spawn_check_wait_status(status, NULL) || !g_str_has_prefix(out, "subject=")) {
        g_set_error(error, ORIEL_BROKER_SERVER_ERROR, ORIEL_BROKER_SERVER_ERROR_IO, "%s: not a PEM certificate: %s", path,
                    err ? g_strstrip(err) : "");
        return NULL;
    }
    return g_strdup(g_strstrip(out + strlen("subject=")));
}

gboolean
oriel_broker_init_tls(const char *dir, const char *hostname, char **ret_host_subject, GError **error)
{
    static const char *const files[] = { "ca-cert.pem", "ca-key.pem", "server-cert.pem", "server-key.pem" };
    g_autofree char *ca_cert = g_build_filename(dir, "ca-cert.pem", NULL);
    g_autofree char *ca_key = g_build_filename(dir, "ca-key.pem", NULL);
    g_autofree char *cert = g_build_filename(dir, "server-cert.pem", NULL);
    g_autofree char *key = g_build_filename(dir, "server-key.pem", NULL);
    g_autofree char *csr = g_build_filename(dir, "server.csr", NULL);
    g_autofree char *ext = g_build_filename(dir, "server.ext", NULL);
    g_autofree char *serial = g_build_filename(dir, "ca-cert.srl", NULL);
    g_autofree char *subject = g_strdup_printf("/O=Oriel/CN=%s", hostname);
    g_autofree char *ca_subject = g_strdup_printf("/O=Oriel/CN=Oriel CA %s", hostname);
    g_autofree char *extensions = g_strdup_printf(
        "basicConstraints=critical,CA:FALSE\n"
        "keyUsage=critical,digitalSignature,keyEncipherment\n"
        "extendedKeyUsage=serverAuth\n"
        "subjectAltName=DNS:%s,DNS:localhost,IP:127.0.0.1,IP:::1\n",
        hostname);

    if (!hostname_is_valid(hostname)) {
        g_set_error(error, ORIEL_BROKER_SERVER_ERROR, ORIEL_BROKER_SERVER_ERROR_INVALID, "--hostname: '%s' is not a host name",
                    hostname);
        return FALSE;
    }
    if (g_mkdir_with_parents(dir, 0755) != 0) {
        g_set_error(error, ORIEL_BROKER_SERVER_ERROR, ORIEL_BROKER_SERVER_ERROR_IO, "%s: %s", dir, g_strerror(errno));
        return FALSE;
    }
    for (gsize i = 0; i < G_N_ELEMENTS(files); i++) {
        g_autofree char *path = g_build_filename(dir, files[i], NULL);
        if (g_file_test(path, G_FILE_TEST_EXISTS)) {
            g_set_error(error, ORIEL_BROKER_SERVER_ERROR, ORIEL_BROKER_SERVER_ERROR_INVALID, "%s exists; not overwriting it", path);
            return FALSE;
        }
    }
    /* Keys are created 0600 (openssl honours the umask). */
    mode_t old_umask = umask(077);
    gboolean ok =
        openssl(error, (const char *const[]){ "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                                             "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", ca_key,
                                             "-out", ca_cert, "-days", "3650", "-subj", ca_subject,
                                             "-addext", "basicConstraints=critical,CA:TRUE", "-addext",
                                             "keyUsage=critical,keyCertSign,cRLSign", NULL }) &&
        openssl(error, (const char *const[]){ "openssl", "req", "-newkey", "ec", "-pkeyopt",
                                             "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", csr,
                                             "-subj", subject, NULL }) &&
        g_file_set_contents(ext, extensions, -1, error) &&
        openssl(error, (const char *const[]){ "openssl", "x509", "-req", "-in", csr, "-CA", ca_cert, "-CAkey", ca_key,
                                             "-CAcreateserial", "-CAserial", serial, "-out", cert, "-days", "825",
                                             "-sha256", "-extfile", ext, NULL });
    umask(old_umask);
    g_unlink(csr);
    g_unlink(ext);
    if (!ok)
        return FALSE;
    /* Certificates are public; keys stay 0600. */
    g_chmod(ca_cert, 0644);
    g_chmod(cert, 0644);
    g_chmod(ca_key, 0600);
    g_chmod(key, 0600);
    char *host_subject = oriel_broker_cert_subject(cert, error);
    if (!host_subject)
        return FALSE;
    *ret_host_subject = host_subject;
    return TRUE;
}
