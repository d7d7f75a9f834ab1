/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The mass-storage function of the emulated USB disk: USB Mass Storage
 * Bulk-Only Transport (BOT, "usbmassbulk_10") carrying a small SCSI block
 * device (SPC/SBC subset) backed by a raw image file.
 *
 * No I/O besides pread/pwrite/fdatasync on the image fd the caller owns.
 * The engine sees the two bulk endpoints as calls: usbdisk_bot_bulk_out()
 * for what the host sends, usbdisk_bot_bulk_in() for what it asks for.
 * Every byte comes from the guest and is untrusted: a malformed CBW stalls
 * both endpoints until Reset Recovery, a bad command completes with CHECK
 * CONDITION and sense data, an LBA outside the image never reaches the
 * image, and no allocation depends on a guest length beyond
 * USBDISK_BOT_MAX_CHUNK.
 */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define USBDISK_BLOCK_SIZE 512
#define USBDISK_CBW_SIZE 31
#define USBDISK_CSW_SIZE 13
#define USBDISK_CBW_SIGNATURE 0x43425355u /* "USBC" little-endian */
#define USBDISK_CSW_SIGNATURE 0x53425355u /* "USBS" little-endian */
/* The most one bulk-in call produces, whatever the host asks for. */
#define USBDISK_BOT_MAX_CHUNK (4 * 1024 * 1024)

/* CSW bCSWStatus */
typedef enum {
    USBDISK_CSW_PASSED = 0,
    USBDISK_CSW_FAILED = 1,
    USBDISK_CSW_PHASE_ERROR = 2,
} UsbdiskCswStatus;

/* SCSI sense keys and the additional sense codes the device reports. */
typedef enum {
    USBDISK_SENSE_NO_SENSE = 0x0,
    USBDISK_SENSE_NOT_READY = 0x2,
    USBDISK_SENSE_MEDIUM_ERROR = 0x3,
    USBDISK_SENSE_ILLEGAL_REQUEST = 0x5,
    USBDISK_SENSE_DATA_PROTECT = 0x7,
} UsbdiskSenseKey;

#define USBDISK_ASC_WRITE_ERROR 0x0c
#define USBDISK_ASC_UNRECOVERED_READ_ERROR 0x11
#define USBDISK_ASC_INVALID_COMMAND_OPCODE 0x20
#define USBDISK_ASC_LBA_OUT_OF_RANGE 0x21
#define USBDISK_ASC_INVALID_FIELD_IN_CDB 0x24
#define USBDISK_ASC_LUN_NOT_SUPPORTED 0x25
#define USBDISK_ASC_WRITE_PROTECTED 0x27
#define USBDISK_ASC_SAVING_PARAMETERS_NOT_SUPPORTED 0x39
#define USBDISK_ASC_MEDIUM_NOT_PRESENT 0x3a
#define USBDISK_ASC_MEDIUM_REMOVAL_PREVENTED 0x53 /* ASCQ 0x02 */

/* What the host sees on a bulk endpoint. */
typedef enum {
    USBDISK_BULK_OK,
    USBDISK_BULK_STALL, /* the endpoint is (now) halted */
} UsbdiskBulkStatus;

typedef struct UsbdiskBot UsbdiskBot;

/*
 * image_fd: borrowed, must stay open until usbdisk_bot_free(); size_bytes a
 * positive multiple of USBDISK_BLOCK_SIZE (checked by the caller, see
 * usbdisk_image_check()).  serial: ASCII, reported in VPD page 0x80.
 */
UsbdiskBot *usbdisk_bot_new(int image_fd, guint64 size_bytes, gboolean read_only,
                            const char *serial);
void usbdisk_bot_free(UsbdiskBot *bot);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(UsbdiskBot, usbdisk_bot_free)

/*
 * Checks that an image of size_bytes can back a disk: not empty, a whole
 * number of 512-byte blocks.  name is used in the error message.
 */
gboolean usbdisk_image_check(const char *name, guint64 size_bytes, GError **error);

/*
 * One bulk-out transfer (CBW or data-out) of len bytes.  *accepted (may be
 * NULL) gets how many bytes the device took; on a stall, 0.
 */
UsbdiskBulkStatus usbdisk_bot_bulk_out(UsbdiskBot *bot, const guint8 *data, gsize len,
                                       gsize *accepted);

/*
 * One bulk-in transfer: the host asks for up to `requested` bytes.  On OK,
 * *data is a new buffer of *len bytes (possibly 0; *len < requested is a
 * short packet) to free with g_free(); on a stall *data is NULL, *len 0.
 */
UsbdiskBulkStatus usbdisk_bot_bulk_in(UsbdiskBot *bot, gsize requested, guint8 **data,
                                      gsize *len);

/* Bulk-Only Mass Storage Reset (class request 0xff): ends any command;
 * halts stay until the host clears them. */
void usbdisk_bot_mass_storage_reset(UsbdiskBot *bot);
/* USB bus reset: the whole function back to its initial state. */
void usbdisk_bot_bus_reset(UsbdiskBot *bot);

/* Reads the image data the current command's data-in stage will send next,
 * so that it is ready when the host asks: call it while waiting for the
 * host (after the CBW's answer went out).  Does nothing in other phases. */
void usbdisk_bot_read_ahead(UsbdiskBot *bot);

/* CLEAR_FEATURE / SET_FEATURE(ENDPOINT_HALT) on the bulk-in (in=TRUE) or
 * bulk-out endpoint.  A halt caused by an invalid CBW cannot be cleared
 * before a Bulk-Only Mass Storage Reset. */
void usbdisk_bot_clear_halt(UsbdiskBot *bot, gboolean in);
void usbdisk_bot_set_halt(UsbdiskBot *bot, gboolean in);
gboolean usbdisk_bot_is_halted(UsbdiskBot *bot, gboolean in);

/* fdatasync()s the image when it is writable; FALSE with errno set on
 * failure. */
gboolean usbdisk_bot_flush(UsbdiskBot *bot);

G_END_DECLS
