/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The emulated USB disk as a usbredir device: the usb-host side of a
 * usbredir connection (the role usbredirhost plays for a real device),
 * built on libusbredirparser.  It answers QEMU's usb-redir device (the
 * usb-guest side) with a device and configuration descriptors, standard and
 * class control requests, and hands bulk transfers to the Bulk-Only
 * Transport engine of usbdisk-scsi.h.
 *
 * No I/O of its own: the caller feeds the bytes it read from the peer with
 * usbdisk_redir_feed() and the device writes through ops->write.  Every
 * request is answered at once, in order, so there is never a transfer in
 * flight to cancel.  Everything the peer sends is untrusted; the parser
 * bounds packets, this file bounds every length before use.
 */
#pragma once

#include <glib.h>

#include "usbdisk-scsi.h"

G_BEGIN_DECLS

typedef enum {
    USBDISK_SPEED_HIGH,  /* USB 2.0: 512-byte bulk packets */
    USBDISK_SPEED_SUPER, /* USB 3.x: 1024-byte bulk packets, BOS */
} UsbdiskSpeed;

typedef struct {
    /* Writes count bytes to the peer: returns how many were written, 0 when
     * it would block (the parser keeps the rest queued), -1 on error. */
    int (*write)(gpointer opaque, const guint8 *data, int count);
} UsbdiskRedirOps;

typedef struct UsbdiskRedir UsbdiskRedir;

/* bot: borrowed, outlives the device.  serial: the USB serial-number string
 * (ASCII, at most USBDISK_SERIAL_MAX characters, see usbdisk_serial_check). */
UsbdiskRedir *usbdisk_redir_new(UsbdiskBot *bot, UsbdiskSpeed speed, const char *serial,
                                const UsbdiskRedirOps *ops, gpointer opaque);
void usbdisk_redir_free(UsbdiskRedir *redir);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(UsbdiskRedir, usbdisk_redir_free)

#define USBDISK_SERIAL_MAX 64
/* A serial is 1..USBDISK_SERIAL_MAX characters of [0-9A-Za-z._-]. */
gboolean usbdisk_serial_check(const char *serial, GError **error);

/* Answers queued for a peer that does not read them stop the parsing of
 * further requests at about this many bytes (plus one answer, at most
 * USBDISK_BOT_MAX_CHUNK).  libusbredirparser caps one incoming packet at
 * 128 MiB. */
#define USBDISK_REDIR_OUTPUT_LIMIT (8 * 1024 * 1024)

/*
 * Takes len bytes from the peer and answers every complete packet, as far
 * as the output limit allows; the rest waits inside (feed only while
 * usbdisk_redir_wants_input()).  FALSE only when writing to the peer
 * failed (ops->write returned -1); a malformed packet is skipped (the
 * parser resynchronises on its length).
 */
gboolean usbdisk_redir_feed(UsbdiskRedir *redir, const guint8 *data, gsize len, GError **error);

/* Writes queued output through ops->write, then parses input held back by
 * the output limit; FALSE when ops->write failed. */
gboolean usbdisk_redir_flush(UsbdiskRedir *redir, GError **error);
/* TRUE when all input is parsed and the output queue is below the limit. */
gboolean usbdisk_redir_wants_input(UsbdiskRedir *redir);
/* Bytes queued for the peer and not yet written. */
guint64 usbdisk_redir_pending_output(UsbdiskRedir *redir);

G_END_DECLS
