/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The QEMU argv builder: a pure function from a validated domain config and
 * the facts of one start (accelerator, runtime paths, the chosen SPICE port)
 * to QEMU's command line.  It touches no file and spawns nothing, so golden
 * tests cover it without QEMU.
 */
#pragma once

#include "domain-config.h"

G_BEGIN_DECLS

typedef enum {
    ORIEL_ACCEL_TCG,
    ORIEL_ACCEL_KVM,
} OrielAccel;

const char *oriel_accel_to_string(OrielAccel accel);

/* The facts of one start that are not in the config. */
typedef struct {
    const char *qemu_binary;     /* e.g. "qemu-system-x86_64" */
    OrielAccel accel;
    const char *runtime_dir;     /* per-domain runtime dir: sockets, secrets */
    guint spice_port;            /* the port to use when config->spice.port is 0 */
    int qmp_fd;                  /* a listening QMP socket to hand QEMU, or -1:
                                  * then QEMU listens on RUNTIME_DIR/qmp.sock */
    int serial_fd;               /* the same for serial = "unix", or -1: then QEMU
                                  * listens on RUNTIME_DIR/serial.sock */
    const char *ovmf_code;       /* OVMF code image (firmware = "ovmf") */
    const char *ovmf_vars;       /* this domain's writable OVMF vars copy */
    const char *spice_password_file; /* file holding the SPICE ticket, or NULL */
    const char *spice_x509_dir;  /* ca-cert.pem, server-cert.pem, server-key.pem
                                  * for spicetls_port, or NULL */
} OrielQemuArgvContext;

/*
 * Builds the argv (NULL-terminated, argv[0] = qemu_binary).  Fails with
 * ORIEL_DEVMODEL_ERROR_UNSUPPORTED for a config this accelerator cannot run
 * (nestedhvm under TCG) and ORIEL_DEVMODEL_ERROR_INVALID for a config that
 * was not validated.
 */
GStrv oriel_qemu_argv_build(const OrielDomainConfig *config,
                            const OrielQemuArgvContext *context,
                            GError **error);

/* The argv as one shell-quoted line for people to read. */
char *oriel_qemu_argv_to_string(const char *const *argv);

/* USB disks orield hot-plugs (domain-usb-attach) each take a root port. */
#define ORIEL_USB_ATTACH_MAX 8u

/*
 * The root ports of the config's USB controller (0: it has none), and the
 * first one free for hot-plugged devices: the ports before it hold the
 * usb-tablet and the spiceusbredirection channels' usb-redir devices, which
 * QEMU places in command-line order.  When the command line's devices fill
 * the ports QEMU chains a hub on and the layout is its own: 0 is returned.
 */
guint oriel_qemu_usb_root_ports(const OrielDomainConfig *config);
guint oriel_qemu_usb_first_free_port(const OrielDomainConfig *config);

G_END_DECLS
