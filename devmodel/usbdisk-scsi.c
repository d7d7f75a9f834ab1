/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Bulk-Only Transport and the SCSI block commands of the emulated USB disk.
 * See usbdisk-scsi.h.
 *
 * The thirteen host/device cases of BOT section 6.7 reduce to three rules
 * here.  The device decides how many bytes it means to move (Dn/Di/Do) when
 * the CBW arrives.  If that disagrees with the host's direction, or is more
 * than the host's dCBWDataTransferLength, the command ends in a phase error
 * with no data.  If it is less, the device moves what it has and then ends
 * the data stage: a short packet or a bulk-in stall for data-in, dropping
 * the surplus for data-out; dCSWDataResidue reports the difference.
 */
#include "usbdisk-scsi.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

typedef enum {
    PHASE_CBW,
    PHASE_DATA_IN,
    PHASE_DATA_OUT,
    PHASE_CSW,
} Phase;

/* Small responses (INQUIRY, MODE SENSE, ...) are built whole in here. */
#define RESPONSE_MAX 256

struct UsbdiskBot {
    int fd;
    guint64 size;
    guint64 blocks;
    gboolean read_only;
    char serial[65];

    Phase phase;
    gboolean halt_in;
    gboolean halt_out;
    gboolean need_reset; /* an invalid CBW: halts stay until Reset Recovery */

    /* The current command. */
    guint32 tag;
    guint32 host_length; /* dCBWDataTransferLength */
    guint32 host_done;   /* bytes moved on the bus for it */
    guint64 dev_length;  /* bytes the device means to move */
    guint64 dev_done;    /* of which moved (and stored for data-out) */
    UsbdiskCswStatus status;
    gboolean from_image; /* data-in from / data-out to the image at image_offset */
    guint64 image_offset;
    guint8 response[RESPONSE_MAX];

    /* Read ahead of the host's data-in request: the image bytes at
     * ahead_offset, of which ahead_pos are handed out already. */
    guint8 *ahead;
    gsize ahead_len;
    gsize ahead_pos;
    guint64 ahead_offset;

    /* Sense data of the last command that failed. */
    guint8 sense_key;
    guint8 asc;
    guint8 ascq;

    gboolean prevent_removal;
    gboolean ejected;
};

gboolean
usbdisk_image_check(const char *name, guint64 size_bytes, GError **error)
{
    if (size_bytes == 0) {
        g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL, "%s: the image is empty", name);
        return FALSE;
    }
    if (size_bytes % USBDISK_BLOCK_SIZE != 0) {
        g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                    "%s: the image size %" G_GUINT64_FORMAT
                    " is not a multiple of %d bytes",
                    name, size_bytes, USBDISK_BLOCK_SIZE);
        return FALSE;
    }
    return TRUE;
}

UsbdiskBot *
usbdisk_bot_new(int image_fd, guint64 size_bytes, gboolean read_only, const char *serial)
{
    UsbdiskBot *bot = g_new0(UsbdiskBot, 1);

    bot->fd = image_fd;
    bot->size = size_bytes;
    bot->blocks = size_bytes / USBDISK_BLOCK_SIZE;
    bot->read_only = read_only;
    g_strlcpy(bot->serial, serial ? serial : "", sizeof bot->serial);
    bot->phase = PHASE_CBW;
    return bot;
}

void
usbdisk_bot_free(UsbdiskBot *bot)
{
    if (bot)
        g_free(bot->ahead);
    g_free(bot);
}

/* ---- helpers ------------------------------------------------------------ */

static guint32
get_be16(const guint8 *p)
{
    return ((guint32) p[0] << 8) | p[1];
}

static guint32
get_be32(const guint8 *p)
{
    return ((guint32) p[0] << 24) | ((guint32) p[1] << 16) | ((guint32) p[2] << 8) | p[3];
}

static guint64
get_be64(const guint8 *p)
{
    return ((guint64) get_be32(p) << 32) | get_be32(p + 4);
}

static guint32
get_le32(const guint8 *p)
{
    return ((guint32) p[3] << 24) | ((guint32) p[2] << 16) | ((guint32) p[1] << 8) | p[0];
}

static void
put_be16(guint8 *p, guint32 v)
{
    p[0] = v >> 8;
    p[1] = v;
}

static void
put_be32(guint8 *p, guint32 v)
{
    p[0] = v >> 24;
    p[1] = v >> 16;
    p[2] = v >> 8;
    p[3] = v;
}

static void
put_be64(guint8 *p, guint64 v)
{
    put_be32(p, v >> 32);
    put_be32(p + 4, (guint32) v);
}

static void
put_le32(guint8 *p, guint32 v)
{
    p[0] = v;
    p[1] = v >> 8;
    p[2] = v >> 16;
    p[3] = v >> 24;
}

/* Copies str into a fixed-width, space-padded ASCII field. */
static void
put_padded(guint8 *p, gsize width, const char *str)
{
    gsize len = strlen(str);

    memset(p, ' ', width);
    memcpy(p, str, MIN(len, width));
}

static void
set_sense(UsbdiskBot *bot, guint8 key, guint8 asc, guint8 ascq)
{
    bot->sense_key = key;
    bot->asc = asc;
    bot->ascq = ascq;
}

static void
check_condition(UsbdiskBot *bot, guint8 key, guint8 asc, guint8 ascq)
{
    set_sense(bot, key, asc, ascq);
    bot->status = USBDISK_CSW_FAILED;
    bot->dev_length = 0;
}

static void
invalid_field(UsbdiskBot *bot)
{
    check_condition(bot, USBDISK_SENSE_ILLEGAL_REQUEST, USBDISK_ASC_INVALID_FIELD_IN_CDB, 0);
}

/* A response of len bytes, cut to the CDB's allocation length. */
static void
respond(UsbdiskBot *bot, gsize len, guint32 allocation_length)
{
    g_assert(len <= RESPONSE_MAX);
    bot->dev_length = MIN(len, allocation_length);
    bot->from_image = FALSE;
}

static gboolean
medium_present(UsbdiskBot *bot)
{
    if (bot->ejected) {
        check_condition(bot, USBDISK_SENSE_NOT_READY, USBDISK_ASC_MEDIUM_NOT_PRESENT, 0);
        return FALSE;
    }
    return TRUE;
}

/* ---- SCSI commands -------------------------------------------------------- */

static void
scsi_inquiry(UsbdiskBot *bot, const guint8 *cdb)
{
    guint8 *r = bot->response;
    guint32 allocation_length = get_be16(cdb + 3);
    gboolean evpd = cdb[1] & 0x01;
    guint8 page = cdb[2];

    memset(r, 0, RESPONSE_MAX);
    if (!evpd) {
        if (page != 0) {
            invalid_field(bot);
            return;
        }
        r[0] = 0x00; /* connected direct-access block device */
        r[1] = 0x80; /* removable medium */
        r[2] = 0x04; /* SPC-2 */
        r[3] = 0x02; /* response data format */
        r[4] = 36 - 5;
        put_padded(r + 8, 8, "Oriel");
        put_padded(r + 16, 16, "USB Disk");
        put_padded(r + 32, 4, "0.1");
        respond(bot, 36, allocation_length);
        return;
    }

    gsize serial_len = strlen(bot->serial);
    r[0] = 0x00;
    r[1] = page;
    switch (page) {
    case 0x00: /* supported VPD pages */
        r[3] = 3;
        r[4] = 0x00;
        r[5] = 0x80;
        r[6] = 0x83;
        respond(bot, 7, allocation_length);
        break;
    case 0x80: /* unit serial number */
        r[3] = serial_len;
        memcpy(r + 4, bot->serial, serial_len);
        respond(bot, 4 + serial_len, allocation_length);
        break;
    case 0x83: { /* device identification: one T10 vendor ID designator */
        guint8 *d = r + 4;
        d[0] = 0x02; /* code set: ASCII */
        d[1] = 0x01; /* association: logical unit; designator type: T10 vendor ID */
        put_padded(d + 4, 8, "Oriel");
        memcpy(d + 12, bot->serial, serial_len);
        d[3] = 8 + serial_len;
        put_be16(r + 2, 4 + d[3]);
        respond(bot, 4 + 4 + d[3], allocation_length);
        break;
    }
    default:
        invalid_field(bot);
        break;
    }
}

static void
scsi_request_sense(UsbdiskBot *bot, const guint8 *cdb)
{
    guint8 *r = bot->response;

    memset(r, 0, 18);
    r[0] = 0x70; /* current error, fixed format */
    r[2] = bot->sense_key;
    r[7] = 18 - 8;
    r[12] = bot->asc;
    r[13] = bot->ascq;
    set_sense(bot, USBDISK_SENSE_NO_SENSE, 0, 0);
    respond(bot, 18, cdb[4]);
}

static void
scsi_read_capacity_10(UsbdiskBot *bot, const guint8 *cdb)
{
    guint64 last = bot->blocks - 1;

    if (!medium_present(bot))
        return;
    put_be32(bot->response, last > G_MAXUINT32 ? G_MAXUINT32 : (guint32) last);
    put_be32(bot->response + 4, USBDISK_BLOCK_SIZE);
    respond(bot, 8, 8);
}

static void
scsi_service_action_in_16(UsbdiskBot *bot, const guint8 *cdb)
{
    guint8 *r = bot->response;

    if ((cdb[1] & 0x1f) != 0x10) { /* only READ CAPACITY(16) */
        invalid_field(bot);
        return;
    }
    if (!medium_present(bot))
        return;
    memset(r, 0, 32);
    put_be64(r, bot->blocks - 1);
    put_be32(r + 8, USBDISK_BLOCK_SIZE);
    respond(bot, 32, get_be32(cdb + 10));
}

static gsize
put_mode_pages(UsbdiskBot *bot, guint8 page, guint8 page_control, guint8 *out)
{
    if (page != 0x08 && page != 0x3f)
        return 0;
    /* Caching: write cache disabled, so the guest needs no SYNCHRONIZE
     * CACHE for its data to reach the image. */
    memset(out, 0, 20);
    out[0] = 0x08;
    out[1] = 20 - 2;
    (void) page_control; /* current, changeable (none) and default all read 0 */
    return 20;
}

static void
scsi_mode_sense(UsbdiskBot *bot, const guint8 *cdb, gboolean ten)
{
    guint8 *r = bot->response;
    guint8 page = cdb[2] & 0x3f;
    guint8 page_control = cdb[2] >> 6;
    guint8 subpage = cdb[3];
    gsize header = ten ? 8 : 4;
    gsize len;

    if (page_control == 3) {
        check_condition(bot, USBDISK_SENSE_ILLEGAL_REQUEST,
                        USBDISK_ASC_SAVING_PARAMETERS_NOT_SUPPORTED, 0);
        return;
    }
    if ((page != 0x00 && page != 0x08 && page != 0x3f) ||
        (subpage != 0 && !(page == 0x3f && subpage == 0xff))) {
        invalid_field(bot);
        return;
    }
    memset(r, 0, RESPONSE_MAX);
    len = header + put_mode_pages(bot, page, page_control, r + header);
    if (ten) {
        put_be16(r, len - 2);
        r[3] = bot->read_only ? 0x80 : 0x00; /* WP */
        respond(bot, len, get_be16(cdb + 7));
    } else {
        r[0] = len - 1;
        r[2] = bot->read_only ? 0x80 : 0x00; /* WP */
        respond(bot, len, cdb[4]);
    }
}

static void
scsi_start_stop_unit(UsbdiskBot *bot, const guint8 *cdb)
{
    gboolean load_eject = (cdb[4] & 0x02) != 0;
    gboolean start = cdb[4] & 0x01;

    if (!load_eject)
        return;
    if (start) {
        bot->ejected = FALSE;
    } else if (bot->prevent_removal) {
        check_condition(bot, USBDISK_SENSE_ILLEGAL_REQUEST,
                        USBDISK_ASC_MEDIUM_REMOVAL_PREVENTED, 0x02);
    } else {
        bot->ejected = TRUE;
    }
}

/* READ and WRITE: checks the range and sets up the transfer to the image. */
static void
scsi_read_write(UsbdiskBot *bot, guint64 lba, guint64 blocks, gboolean write)
{
    if (!medium_present(bot))
        return;
    if (lba > bot->blocks || blocks > bot->blocks - lba) {
        check_condition(bot, USBDISK_SENSE_ILLEGAL_REQUEST, USBDISK_ASC_LBA_OUT_OF_RANGE, 0);
        return;
    }
    if (write && bot->read_only) {
        check_condition(bot, USBDISK_SENSE_DATA_PROTECT, USBDISK_ASC_WRITE_PROTECTED, 0);
        return;
    }
    bot->from_image = TRUE;
    bot->image_offset = lba * USBDISK_BLOCK_SIZE;
    bot->dev_length = blocks * USBDISK_BLOCK_SIZE;
}

typedef enum {
    DIR_NONE,
    DIR_IN,
    DIR_OUT,
} Direction;

/* Runs the command's setup; returns the direction of its data stage. */
static Direction
scsi_dispatch(UsbdiskBot *bot, const guint8 *cdb)
{
    guint8 opcode = cdb[0];

    if (opcode != 0x03) /* REQUEST SENSE reports the previous command's sense */
        set_sense(bot, USBDISK_SENSE_NO_SENSE, 0, 0);

    switch (opcode) {
    case 0x00: /* TEST UNIT READY */
        medium_present(bot);
        return DIR_NONE;
    case 0x03: /* REQUEST SENSE */
        scsi_request_sense(bot, cdb);
        return DIR_IN;
    case 0x12: /* INQUIRY */
        scsi_inquiry(bot, cdb);
        return DIR_IN;
    case 0x1a: /* MODE SENSE(6) */
        scsi_mode_sense(bot, cdb, FALSE);
        return DIR_IN;
    case 0x5a: /* MODE SENSE(10) */
        scsi_mode_sense(bot, cdb, TRUE);
        return DIR_IN;
    case 0x1b: /* START STOP UNIT */
        scsi_start_stop_unit(bot, cdb);
        return DIR_NONE;
    case 0x1e: /* PREVENT ALLOW MEDIUM REMOVAL */
        bot->prevent_removal = cdb[4] & 0x01;
        return DIR_NONE;
    case 0x25: /* READ CAPACITY(10) */
        scsi_read_capacity_10(bot, cdb);
        return DIR_IN;
    case 0x9e: /* SERVICE ACTION IN(16) */
        scsi_service_action_in_16(bot, cdb);
        return DIR_IN;
    case 0x08: /* READ(6) */
    case 0x0a: { /* WRITE(6) */
        guint64 lba = ((guint64) (cdb[1] & 0x1f) << 16) | get_be16(cdb + 2);
        scsi_read_write(bot, lba, cdb[4] ? cdb[4] : 256, opcode == 0x0a);
        return opcode == 0x0a ? DIR_OUT : DIR_IN;
    }
    case 0x28: /* READ(10) */
    case 0x2a: /* WRITE(10) */
        scsi_read_write(bot, get_be32(cdb + 2), get_be16(cdb + 7), opcode == 0x2a);
        return opcode == 0x2a ? DIR_OUT : DIR_IN;
    case 0x88: /* READ(16) */
    case 0x8a: /* WRITE(16) */
        scsi_read_write(bot, get_be64(cdb + 2), get_be32(cdb + 10), opcode == 0x8a);
        return opcode == 0x8a ? DIR_OUT : DIR_IN;
    case 0x35: /* SYNCHRONIZE CACHE(10) */
    case 0x91: /* SYNCHRONIZE CACHE(16) */
        if (medium_present(bot) && !usbdisk_bot_flush(bot))
            check_condition(bot, USBDISK_SENSE_MEDIUM_ERROR, USBDISK_ASC_WRITE_ERROR, 0);
        return DIR_NONE;
    default:
        check_condition(bot, USBDISK_SENSE_ILLEGAL_REQUEST, USBDISK_ASC_INVALID_COMMAND_OPCODE, 0);
        return DIR_NONE;
    }
}

/* ---- Bulk-Only Transport -------------------------------------------------- */

static void
invalid_cbw(UsbdiskBot *bot)
{
    g_debug("usbdisk: invalid CBW, stalling until reset recovery");
    bot->halt_in = TRUE;
    bot->halt_out = TRUE;
    bot->need_reset = TRUE;
    bot->phase = PHASE_CBW;
}

static void
phase_error(UsbdiskBot *bot, gboolean host_in)
{
    bot->status = USBDISK_CSW_PHASE_ERROR;
    bot->dev_length = 0;
    if (bot->host_length == 0) {
        bot->phase = PHASE_CSW;
    } else if (host_in) {
        bot->phase = PHASE_DATA_IN; /* the first bulk-in stalls */
    } else {
        bot->halt_out = TRUE;
        bot->phase = PHASE_CSW;
    }
}

static void
drop_read_ahead(UsbdiskBot *bot)
{
    g_clear_pointer(&bot->ahead, g_free);
    bot->ahead_len = 0;
    bot->ahead_pos = 0;
}

static void
start_command(UsbdiskBot *bot, const guint8 *cbw)
{
    gboolean host_in = (cbw[12] & 0x80) != 0;
    guint8 lun = cbw[13] & 0x0f;
    const guint8 *cdb = cbw + 15;
    Direction dir;

    bot->tag = get_le32(cbw + 4);
    bot->host_length = get_le32(cbw + 8);
    bot->host_done = 0;
    bot->dev_length = 0;
    bot->dev_done = 0;
    bot->status = USBDISK_CSW_PASSED;
    bot->from_image = FALSE;
    drop_read_ahead(bot);

    if (lun != 0) {
        check_condition(bot, USBDISK_SENSE_ILLEGAL_REQUEST, USBDISK_ASC_LUN_NOT_SUPPORTED, 0);
        dir = DIR_NONE;
    } else {
        dir = scsi_dispatch(bot, cdb);
    }
    g_debug("usbdisk: CBW tag %08x opcode %02x host %s %u, device %" G_GUINT64_FORMAT
            " bytes, status %d",
            bot->tag, cdb[0], host_in ? "in" : "out", bot->host_length, bot->dev_length,
            bot->status);

    if (bot->dev_length == 0) {
        /* No device data: cases 1, 4 and 9. */
        if (bot->host_length == 0)
            bot->phase = PHASE_CSW;
        else
            bot->phase = host_in ? PHASE_DATA_IN : PHASE_DATA_OUT;
        return;
    }
    /* Cases 8 and 10 (wrong direction), 7 and 13 (host expects less). */
    if ((dir == DIR_IN) != host_in || bot->host_length == 0 ||
        bot->dev_length > bot->host_length) {
        phase_error(bot, host_in);
        return;
    }
    bot->phase = host_in ? PHASE_DATA_IN : PHASE_DATA_OUT;
}

static void
write_data_out(UsbdiskBot *bot, const guint8 *data, gsize len)
{
    if (bot->status != USBDISK_CSW_PASSED)
        return; /* an earlier chunk failed: drop the rest */
    while (len > 0) {
        ssize_t n = pwrite(bot->fd, data, len, bot->image_offset + bot->dev_done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            g_debug("usbdisk: image write at %" G_GUINT64_FORMAT " failed: %s",
                    bot->image_offset + bot->dev_done, n < 0 ? g_strerror(errno) : "no space");
            set_sense(bot, USBDISK_SENSE_MEDIUM_ERROR, USBDISK_ASC_WRITE_ERROR, 0);
            bot->status = USBDISK_CSW_FAILED;
            return;
        }
        data += n;
        len -= n;
        bot->dev_done += n;
    }
}

UsbdiskBulkStatus
usbdisk_bot_bulk_out(UsbdiskBot *bot, const guint8 *data, gsize len, gsize *accepted)
{
    if (accepted)
        *accepted = 0;
    if (bot->halt_out)
        return USBDISK_BULK_STALL;

    switch (bot->phase) {
    case PHASE_CBW:
        if (len != USBDISK_CBW_SIZE || get_le32(data) != USBDISK_CBW_SIGNATURE ||
            (data[12] & 0x7f) != 0 || (data[13] & 0xf0) != 0 || data[14] == 0 ||
            data[14] > 16) {
            invalid_cbw(bot);
            return USBDISK_BULK_STALL;
        }
        start_command(bot, data);
        break;
    case PHASE_DATA_OUT: {
        gsize host_left = bot->host_length - bot->host_done;
        gsize take = MIN(len, host_left);
        guint64 dev_left = bot->dev_length - bot->dev_done;
        gsize store = MIN((guint64) take, dev_left);

        if (store > 0) {
            guint64 done_before = bot->dev_done;
            if (bot->from_image)
                write_data_out(bot, data, store);
            /* After a failed write the rest is counted, not stored. */
            bot->dev_done = done_before + store;
        }
        bot->host_done += take;
        if (bot->host_done == bot->host_length)
            bot->phase = PHASE_CSW;
        len = take;
        break;
    }
    case PHASE_DATA_IN:
    case PHASE_CSW:
        /* The host sends while it should receive: out of sync. */
        invalid_cbw(bot);
        return USBDISK_BULK_STALL;
    }
    if (accepted)
        *accepted = len;
    return USBDISK_BULK_OK;
}

static void
read_data_in(UsbdiskBot *bot, guint8 *buf, gsize len)
{
    gsize done = 0;

    while (done < len) {
        ssize_t n = pread(bot->fd, buf + done, len - done,
                          bot->image_offset + bot->dev_done + done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            g_debug("usbdisk: image read at %" G_GUINT64_FORMAT " failed: %s",
                    bot->image_offset + bot->dev_done + done,
                    n < 0 ? g_strerror(errno) : "end of file");
            memset(buf + done, 0, len - done);
            if (bot->status == USBDISK_CSW_PASSED) {
                set_sense(bot, USBDISK_SENSE_MEDIUM_ERROR, USBDISK_ASC_UNRECOVERED_READ_ERROR, 0);
                bot->status = USBDISK_CSW_FAILED;
            }
            return;
        }
        done += n;
    }
}

/* The next N bytes of the data-in stage from the read-ahead buffer, or
 * NULL when it does not hold them (then the caller reads the image). */
static guint8 *
take_read_ahead(UsbdiskBot *bot, gsize n)
{
    guint8 *buf;

    if (!bot->ahead || bot->ahead_offset + bot->ahead_pos != bot->image_offset + bot->dev_done ||
        bot->ahead_len - bot->ahead_pos < n) {
        drop_read_ahead(bot);
        return NULL;
    }
    if (bot->ahead_pos == 0 && bot->ahead_len == n) {
        buf = g_steal_pointer(&bot->ahead);
        drop_read_ahead(bot);
        return buf;
    }
    buf = g_memdup2(bot->ahead + bot->ahead_pos, n);
    bot->ahead_pos += n;
    if (bot->ahead_pos == bot->ahead_len)
        drop_read_ahead(bot);
    return buf;
}

void
usbdisk_bot_read_ahead(UsbdiskBot *bot)
{
    if (bot->phase != PHASE_DATA_IN || !bot->from_image || bot->status != USBDISK_CSW_PASSED ||
        bot->halt_in || bot->ahead)
        return;
    guint64 dev_left = bot->dev_length - bot->dev_done;
    guint64 host_left = bot->host_length - bot->host_done;
    gsize n = MIN(MIN(dev_left, host_left), USBDISK_BOT_MAX_CHUNK);
    guint64 offset = bot->image_offset + bot->dev_done;
    gsize done = 0;

    if (n == 0)
        return;
    bot->ahead = g_malloc(n);
    while (done < n) {
        ssize_t r = pread(bot->fd, bot->ahead + done, n - done, offset + done);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            /* The request reads again and reports what goes wrong. */
            drop_read_ahead(bot);
            return;
        }
        done += r;
    }
    bot->ahead_len = n;
    bot->ahead_pos = 0;
    bot->ahead_offset = offset;
}

static guint8 *
build_csw(UsbdiskBot *bot, gsize requested, gsize *len)
{
    guint8 csw[USBDISK_CSW_SIZE];
    guint64 residue = bot->host_length - MIN(bot->dev_done, (guint64) bot->host_length);

    put_le32(csw, USBDISK_CSW_SIGNATURE);
    put_le32(csw + 4, bot->tag);
    put_le32(csw + 8, (guint32) residue);
    csw[12] = bot->status;
    *len = MIN(requested, sizeof csw);
    bot->phase = PHASE_CBW;
    return g_memdup2(csw, *len);
}

UsbdiskBulkStatus
usbdisk_bot_bulk_in(UsbdiskBot *bot, gsize requested, guint8 **data, gsize *len)
{
    *data = NULL;
    *len = 0;
    if (bot->halt_in)
        return USBDISK_BULK_STALL;
    if (requested == 0)
        return USBDISK_BULK_OK; /* a zero-length transfer moves nothing */

    switch (bot->phase) {
    case PHASE_DATA_IN: {
        guint64 dev_left = bot->dev_length - bot->dev_done;
        guint64 host_left = bot->host_length - bot->host_done;
        gsize n = MIN(MIN((guint64) requested, dev_left), MIN(host_left, USBDISK_BOT_MAX_CHUNK));

        if (n == 0) {
            /* The host wants more than the device has (cases 4, 5, 8). */
            bot->halt_in = TRUE;
            bot->phase = PHASE_CSW;
            return USBDISK_BULK_STALL;
        }
        guint8 *buf = NULL;
        if (bot->from_image)
            buf = take_read_ahead(bot, n);
        if (!buf) {
            buf = g_malloc(n);
            if (bot->from_image)
                read_data_in(bot, buf, n);
            else
                memcpy(buf, bot->response + bot->dev_done, n);
        }
        bot->dev_done += n;
        bot->host_done += n;
        /* All the host asked for, or a short packet: the data stage ends. */
        if (bot->host_done == bot->host_length || n < requested)
            bot->phase = PHASE_CSW;
        *data = buf;
        *len = n;
        return USBDISK_BULK_OK;
    }
    case PHASE_CSW:
        *data = build_csw(bot, requested, len);
        return USBDISK_BULK_OK;
    case PHASE_CBW:
    case PHASE_DATA_OUT:
        /* A real device would NAK forever; a stall lets the host recover. */
        bot->halt_in = TRUE;
        return USBDISK_BULK_STALL;
    }
    g_assert_not_reached();
}

void
usbdisk_bot_mass_storage_reset(UsbdiskBot *bot)
{
    bot->need_reset = FALSE;
    bot->phase = PHASE_CBW;
    drop_read_ahead(bot);
}

void
usbdisk_bot_bus_reset(UsbdiskBot *bot)
{
    bot->need_reset = FALSE;
    bot->halt_in = FALSE;
    bot->halt_out = FALSE;
    bot->phase = PHASE_CBW;
    drop_read_ahead(bot);
    bot->prevent_removal = FALSE;
    set_sense(bot, USBDISK_SENSE_NO_SENSE, 0, 0);
}

void
usbdisk_bot_clear_halt(UsbdiskBot *bot, gboolean in)
{
    if (bot->need_reset)
        return;
    if (in)
        bot->halt_in = FALSE;
    else
        bot->halt_out = FALSE;
}

void
usbdisk_bot_set_halt(UsbdiskBot *bot, gboolean in)
{
    if (in)
        bot->halt_in = TRUE;
    else
        bot->halt_out = TRUE;
}

gboolean
usbdisk_bot_is_halted(UsbdiskBot *bot, gboolean in)
{
    return in ? bot->halt_in : bot->halt_out;
}

gboolean
usbdisk_bot_flush(UsbdiskBot *bot)
{
    if (bot->read_only)
        return TRUE;
    while (fdatasync(bot->fd) < 0) {
        if (errno != EINTR && errno != EINVAL)
            return FALSE;
        if (errno == EINVAL)
            break; /* a file that cannot sync (memfd, pipe-like) */
    }
    return TRUE;
}
