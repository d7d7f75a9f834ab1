/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * liboriel-hv: the host daemon orield as a library, so tests can link it.
 *
 * One OrielHv per mode (system or session, devmodel/paths.h).  Start-up
 * takes RUNTIME/orield.lock (a second daemon of the same mode fails with a
 * clear error), loads the domain store CONFIG/domains/NAME.json, reattaches
 * every QEMU that a previous daemon left running (RUNTIME/domains/NAME) and
 * listens on RUNTIME/orield.sock for the protocol in protocol.h.  Everything
 * runs on the thread-default GMainContext; nothing blocks it.
 *
 * Freeing the daemon closes its clients and leaves running domains running:
 * the next daemon reattaches them.
 */
#pragma once

#include <gio/gio.h>

#include "paths.h"

G_BEGIN_DECLS

typedef struct _OrielHv OrielHv;

OrielHv *oriel_hv_new(OrielMode mode);
void oriel_hv_free(OrielHv *hv);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(OrielHv, oriel_hv_free)

/*
 * The SPICE certificate directory for domains with spicetls_port
 * (ca-cert.pem, server-cert.pem, server-key.pem, as QEMU's x509-dir wants).
 * Set before start, it wins over the `spice_x509_dir` key of
 * CONFIG/orield.conf ([orield] group), which wins over
 * $ORIEL_SPICE_X509_DIR, then CONFIG/pki/spice.
 */
void oriel_hv_set_spice_x509_dir(OrielHv *hv, const char *dir);

/*
 * In system mode as root, QEMUs run as an unprivileged user: `qemu_user`
 * of CONFIG/orield.conf, else $ORIEL_QEMU_USER, else oriel-qemu (an empty
 * $ORIEL_QEMU_USER keeps root, for tests).  Start fails when that user
 * does not exist, is root or is in root's group, or cannot read the SPICE
 * TLS files.
 */
gboolean oriel_hv_start(OrielHv *hv, GError **error);

const char *oriel_hv_get_socket_path(OrielHv *hv);

G_END_DECLS
