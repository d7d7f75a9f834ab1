/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit tests of the emulated USB disk's Bulk-Only Transport and SCSI
 * commands (devmodel/usbdisk-scsi.c), on a small image in a temporary file,
 * driven as the host's usb-storage driver drives it: CBW, data stage, CSW.
 */
#include <errno.h>
#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "usbdisk-scsi.h"

#define IMAGE_BLOCKS 64
#define IMAGE_SIZE (IMAGE_BLOCKS * USBDISK_BLOCK_SIZE)

typedef struct {
    int fd;
    char *path;
    UsbdiskBot *bot;
    guint32 tag;
} Fixture;

static guint8
pattern_byte(guint64 offset)
{
    return (guint8) (offset * 7 + (offset >> 9));
}

static void
fixture_open(Fixture *f, gboolean read_only)
{
    g_autoptr(GError) error = NULL;
    g_autofree guint8 *data = g_malloc(IMAGE_SIZE);

    f->fd = g_file_open_tmp("usbdisk-XXXXXX", &f->path, &error);
    g_assert_no_error(error);
    for (guint64 i = 0; i < IMAGE_SIZE; i++)
        data[i] = pattern_byte(i);
    g_assert_cmpint(pwrite(f->fd, data, IMAGE_SIZE, 0), ==, IMAGE_SIZE);
    f->bot = usbdisk_bot_new(f->fd, IMAGE_SIZE, read_only, "SERIAL123");
}

static void
fixture_setup_rw(Fixture *f, gconstpointer data)
{
    fixture_open(f, FALSE);
}

static void
fixture_setup_ro(Fixture *f, gconstpointer data)
{
    fixture_open(f, TRUE);
}

static void
fixture_teardown(Fixture *f, gconstpointer data)
{
    usbdisk_bot_free(f->bot);
    close(f->fd);
    g_unlink(f->path);
    g_free(f->path);
}

static void
put_le32(guint8 *p, guint32 v)
{
    p[0] = v;
    p[1] = v >> 8;
    p[2] = v >> 16;
    p[3] = v >> 24;
}

static guint32
get_le32(const guint8 *p)
{
    return p[0] | (p[1] << 8) | (p[2] << 16) | ((guint32) p[3] << 24);
}

static void
build_cbw(guint8 *cbw, guint32 tag, gboolean in, guint32 length, const guint8 *cdb, gsize cdb_len)
{
    memset(cbw, 0, USBDISK_CBW_SIZE);
    put_le32(cbw, USBDISK_CBW_SIGNATURE);
    put_le32(cbw + 4, tag);
    put_le32(cbw + 8, length);
    cbw[12] = in ? 0x80 : 0x00;
    cbw[14] = cdb_len;
    memcpy(cbw + 15, cdb, cdb_len);
}

static void
send_cbw(Fixture *f, gboolean in, guint32 length, const guint8 *cdb, gsize cdb_len)
{
    guint8 cbw[USBDISK_CBW_SIZE];
    gsize accepted = 0;

    build_cbw(cbw, ++f->tag, in, length, cdb, cdb_len);
    g_assert_cmpint(usbdisk_bot_bulk_out(f->bot, cbw, sizeof cbw, &accepted), ==,
                    USBDISK_BULK_OK);
    g_assert_cmpuint(accepted, ==, USBDISK_CBW_SIZE);
}

/* One bulk-in; returns the data (g_free) or NULL on a stall. */
static guint8 *
bulk_in(Fixture *f, gsize requested, gsize *len)
{
    guint8 *data = NULL;
    UsbdiskBulkStatus st = usbdisk_bot_bulk_in(f->bot, requested, &data, len);

    if (st == USBDISK_BULK_STALL) {
        g_assert_null(data);
        return NULL;
    }
    if (*len == 0) {
        g_free(data);
        return g_malloc0(1);
    }
    return data;
}

/* Reads the CSW; checks signature and tag, returns status and residue. */
static void
read_csw(Fixture *f, guint8 *status, guint32 *residue)
{
    gsize len = 0;
    g_autofree guint8 *csw = bulk_in(f, USBDISK_CSW_SIZE, &len);

    g_assert_nonnull(csw);
    g_assert_cmpuint(len, ==, USBDISK_CSW_SIZE);
    g_assert_cmphex(get_le32(csw), ==, USBDISK_CSW_SIGNATURE);
    g_assert_cmpuint(get_le32(csw + 4), ==, f->tag);
    *residue = get_le32(csw + 8);
    *status = csw[12];
}

static void
expect_csw(Fixture *f, guint8 status, guint32 residue)
{
    guint8 got_status;
    guint32 got_residue;

    read_csw(f, &got_status, &got_residue);
    g_assert_cmpuint(got_status, ==, status);
    g_assert_cmpuint(got_residue, ==, residue);
}

/* A data-in command as Linux runs it: the whole data stage in one request,
 * then the CSW (after clearing a stall).  Returns the data. */
static guint8 *
run_in(Fixture *f, const guint8 *cdb, gsize cdb_len, guint32 length, gsize *len)
{
    guint8 *data;

    send_cbw(f, TRUE, length, cdb, cdb_len);
    data = bulk_in(f, length, len);
    if (!data) {
        *len = 0;
        g_assert_true(usbdisk_bot_is_halted(f->bot, TRUE));
        usbdisk_bot_clear_halt(f->bot, TRUE);
    }
    return data;
}

static void
run_none(Fixture *f, const guint8 *cdb, gsize cdb_len)
{
    send_cbw(f, FALSE, 0, cdb, cdb_len);
}

static void
request_sense(Fixture *f, guint8 *key, guint8 *asc, guint8 *ascq)
{
    const guint8 cdb[6] = { 0x03, 0, 0, 0, 18, 0 };
    gsize len = 0;
    g_autofree guint8 *sense = run_in(f, cdb, sizeof cdb, 18, &len);

    g_assert_nonnull(sense);
    g_assert_cmpuint(len, ==, 18);
    g_assert_cmphex(sense[0], ==, 0x70);
    g_assert_cmpuint(sense[7], ==, 10);
    expect_csw(f, USBDISK_CSW_PASSED, 0);
    *key = sense[2] & 0x0f;
    *asc = sense[12];
    *ascq = sense[13];
}

static void
expect_sense(Fixture *f, guint8 key, guint8 asc, guint8 ascq)
{
    guint8 k, a, q;

    request_sense(f, &k, &a, &q);
    g_assert_cmphex(k, ==, key);
    g_assert_cmphex(a, ==, asc);
    g_assert_cmphex(q, ==, ascq);
}

static void
read10_cdb(guint8 *cdb, guint8 opcode, guint32 lba, guint16 blocks)
{
    memset(cdb, 0, 10);
    cdb[0] = opcode;
    cdb[2] = lba >> 24;
    cdb[3] = lba >> 16;
    cdb[4] = lba >> 8;
    cdb[5] = lba;
    cdb[7] = blocks >> 8;
    cdb[8] = blocks;
}

static void
read16_cdb(guint8 *cdb, guint8 opcode, guint64 lba, guint32 blocks)
{
    memset(cdb, 0, 16);
    cdb[0] = opcode;
    for (int i = 0; i < 8; i++)
        cdb[2 + i] = lba >> (56 - 8 * i);
    for (int i = 0; i < 4; i++)
        cdb[10 + i] = blocks >> (24 - 8 * i);
}

static void
assert_image_pattern(const guint8 *data, guint64 offset, gsize len)
{
    for (gsize i = 0; i < len; i++) {
        if (data[i] != pattern_byte(offset + i))
            g_error("byte %" G_GUINT64_FORMAT ": got %02x, expected %02x", offset + i, data[i],
                    pattern_byte(offset + i));
    }
}

/* ---- tests ---------------------------------------------------------------- */

static void
test_inquiry(Fixture *f, gconstpointer unused)
{
    const guint8 cdb[6] = { 0x12, 0, 0, 0, 36, 0 };
    gsize len = 0;
    g_autofree guint8 *r = run_in(f, cdb, sizeof cdb, 36, &len);

    g_assert_cmpuint(len, ==, 36);
    g_assert_cmphex(r[0], ==, 0x00); /* direct access */
    g_assert_cmphex(r[1], ==, 0x80); /* removable */
    g_assert_cmpmem(r + 8, 8, "Oriel   ", 8);
    g_assert_cmpmem(r + 16, 16, "USB Disk        ", 16);
    expect_csw(f, USBDISK_CSW_PASSED, 0);
}

static void
test_inquiry_short_residue(Fixture *f, gconstpointer unused)
{
    /* The host offers 96 bytes, the device has 36: a short packet ends
     * the data stage and the CSW reports 60 bytes not transferred. */
    const guint8 cdb[6] = { 0x12, 0, 0, 0, 96, 0 };
    gsize len = 0;
    g_autofree guint8 *r = run_in(f, cdb, sizeof cdb, 96, &len);

    g_assert_cmpuint(len, ==, 36);
    expect_csw(f, USBDISK_CSW_PASSED, 60);

    /* An allocation length shorter than the response cuts it. */
    const guint8 cdb5[6] = { 0x12, 0, 0, 0, 5, 0 };
    g_autofree guint8 *r5 = run_in(f, cdb5, sizeof cdb5, 5, &len);
    g_assert_cmpuint(len, ==, 5);
    expect_csw(f, USBDISK_CSW_PASSED, 0);
}

static void
test_inquiry_vpd(Fixture *f, gconstpointer unused)
{
    gsize len = 0;
    const guint8 pages[6] = { 0x12, 0x01, 0x00, 0, 255, 0 };
    g_autofree guint8 *r = run_in(f, pages, sizeof pages, 255, &len);
    g_assert_cmpuint(len, ==, 7);
    g_assert_cmpmem(r + 4, 3, "\x00\x80\x83", 3);
    expect_csw(f, USBDISK_CSW_PASSED, 248);

    const guint8 serial[6] = { 0x12, 0x01, 0x80, 0, 255, 0 };
    g_autofree guint8 *s = run_in(f, serial, sizeof serial, 255, &len);
    g_assert_cmpuint(len, ==, 4 + 9);
    g_assert_cmpmem(s + 4, 9, "SERIAL123", 9);
    expect_csw(f, USBDISK_CSW_PASSED, 255 - 13);

    const guint8 ident[6] = { 0x12, 0x01, 0x83, 0, 255, 0 };
    g_autofree guint8 *d = run_in(f, ident, sizeof ident, 255, &len);
    g_assert_cmpuint(len, ==, 4 + 4 + 8 + 9);
    g_assert_cmphex(d[5] & 0x0f, ==, 0x01); /* T10 vendor ID */
    g_assert_cmpmem(d + 8, 17, "Oriel   SERIAL123", 17);
    expect_csw(f, USBDISK_CSW_PASSED, 255 - len);

    /* An unknown page, and a page code without EVPD. */
    const guint8 bad[6] = { 0x12, 0x01, 0x42, 0, 255, 0 };
    g_autofree guint8 *b = run_in(f, bad, sizeof bad, 255, &len);
    g_assert_null(b);
    expect_csw(f, USBDISK_CSW_FAILED, 255);
    expect_sense(f, USBDISK_SENSE_ILLEGAL_REQUEST, USBDISK_ASC_INVALID_FIELD_IN_CDB, 0);

    const guint8 no_evpd[6] = { 0x12, 0x00, 0x80, 0, 255, 0 };
    g_autofree guint8 *n = run_in(f, no_evpd, sizeof no_evpd, 255, &len);
    g_assert_null(n);
    expect_csw(f, USBDISK_CSW_FAILED, 255);
    expect_sense(f, USBDISK_SENSE_ILLEGAL_REQUEST, USBDISK_ASC_INVALID_FIELD_IN_CDB, 0);
}

static void
test_test_unit_ready(Fixture *f, gconstpointer unused)
{
    const guint8 cdb[6] = { 0x00 };

    run_none(f, cdb, sizeof cdb);
    expect_csw(f, USBDISK_CSW_PASSED, 0);
    expect_sense(f, USBDISK_SENSE_NO_SENSE, 0, 0);
}

static void
test_invalid_opcode(Fixture *f, gconstpointer unused)
{
    const guint8 cdb[12] = { 0xa0 }; /* REPORT LUNS */

    run_none(f, cdb, sizeof cdb);
    expect_csw(f, USBDISK_CSW_FAILED, 0);
    expect_sense(f, USBDISK_SENSE_ILLEGAL_REQUEST, USBDISK_ASC_INVALID_COMMAND_OPCODE, 0);
    /* REQUEST SENSE consumed it. */
    expect_sense(f, USBDISK_SENSE_NO_SENSE, 0, 0);

    /* With a data stage the host expected: the bulk-in stalls, and the
     * residue is everything. */
    gsize len = 0;
    const guint8 vendor[10] = { 0xc5 };
    g_autofree guint8 *r = run_in(f, vendor, sizeof vendor, 512, &len);
    g_assert_null(r);
    expect_csw(f, USBDISK_CSW_FAILED, 512);
    expect_sense(f, USBDISK_SENSE_ILLEGAL_REQUEST, USBDISK_ASC_INVALID_COMMAND_OPCODE, 0);
}

static void
test_read_capacity(Fixture *f, gconstpointer unused)
{
    const guint8 cdb10[10] = { 0x25 };
    gsize len = 0;
    g_autofree guint8 *r10 = run_in(f, cdb10, sizeof cdb10, 8, &len);

    g_assert_cmpuint(len, ==, 8);
    g_assert_cmpmem(r10, 8, "\x00\x00\x00\x3f\x00\x00\x02\x00", 8);
    expect_csw(f, USBDISK_CSW_PASSED, 0);

    const guint8 cdb16[16] = { 0x9e, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 32 };
    g_autofree guint8 *r16 = run_in(f, cdb16, sizeof cdb16, 32, &len);
    g_assert_cmpuint(len, ==, 32);
    g_assert_cmpmem(r16, 12, "\0\0\0\0\0\0\0\x3f\x00\x00\x02\x00", 12);
    expect_csw(f, USBDISK_CSW_PASSED, 0);

    /* Another service action of the same opcode is refused. */
    const guint8 other[16] = { 0x9e, 0x11, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 32 };
    g_autofree guint8 *o = run_in(f, other, sizeof other, 32, &len);
    g_assert_null(o);
    expect_csw(f, USBDISK_CSW_FAILED, 32);
    expect_sense(f, USBDISK_SENSE_ILLEGAL_REQUEST, USBDISK_ASC_INVALID_FIELD_IN_CDB, 0);
}

static void
test_read(Fixture *f, gconstpointer unused)
{
    guint8 cdb[16];
    gsize len = 0;

    read10_cdb(cdb, 0x28, 3, 5);
    g_autofree guint8 *r10 = run_in(f, cdb, 10, 5 * 512, &len);
    g_assert_cmpuint(len, ==, 5 * 512);
    assert_image_pattern(r10, 3 * 512, len);
    expect_csw(f, USBDISK_CSW_PASSED, 0);

    read16_cdb(cdb, 0x88, IMAGE_BLOCKS - 2, 2);
    g_autofree guint8 *r16 = run_in(f, cdb, 16, 2 * 512, &len);
    g_assert_cmpuint(len, ==, 1024);
    assert_image_pattern(r16, (IMAGE_BLOCKS - 2) * 512, len);
    expect_csw(f, USBDISK_CSW_PASSED, 0);

    const guint8 read6[6] = { 0x08, 0, 0, 7, 1, 0 };
    g_autofree guint8 *r6 = run_in(f, read6, 6, 512, &len);
    g_assert_cmpuint(len, ==, 512);
    assert_image_pattern(r6, 7 * 512, len);
    expect_csw(f, USBDISK_CSW_PASSED, 0);

    /* Zero blocks: no data stage. */
    read10_cdb(cdb, 0x28, 0, 0);
    run_none(f, cdb, 10);
    expect_csw(f, USBDISK_CSW_PASSED, 0);
}

static void
test_read_chunked(Fixture *f, gconstpointer unused)
{
    /* The whole disk in one command, fetched 1000 bytes at a time (not a
     * block multiple) as a host with small buffers would. */
    guint8 cdb[10];
    g_autofree guint8 *all = g_malloc(IMAGE_SIZE);
    gsize got = 0;

    read10_cdb(cdb, 0x28, 0, IMAGE_BLOCKS);
    send_cbw(f, TRUE, IMAGE_SIZE, cdb, sizeof cdb);
    while (got < IMAGE_SIZE) {
        gsize len = 0;
        g_autofree guint8 *part = bulk_in(f, 1000, &len);
        g_assert_nonnull(part);
        g_assert_cmpuint(len, ==, MIN(1000, IMAGE_SIZE - got));
        memcpy(all + got, part, len);
        got += len;
    }
    assert_image_pattern(all, 0, IMAGE_SIZE);
    expect_csw(f, USBDISK_CSW_PASSED, 0);
}

static void
test_read_ahead(Fixture *f, gconstpointer unused)
{
    /* Read ahead after the CBW, as the helper does while the host takes
     * the CBW's answer: the data stage then carries the same bytes, whole
     * or in pieces, and a new command never gets the old command's data. */
    guint8 cdb[10];
    gsize len = 0;

    read10_cdb(cdb, 0x28, 4, 8);
    send_cbw(f, TRUE, 8 * 512, cdb, sizeof cdb);
    usbdisk_bot_read_ahead(f->bot);
    usbdisk_bot_read_ahead(f->bot); /* a second call changes nothing */
    g_autofree guint8 *whole = bulk_in(f, 8 * 512, &len);
    g_assert_cmpuint(len, ==, 8 * 512);
    assert_image_pattern(whole, 4 * 512, len);
    expect_csw(f, USBDISK_CSW_PASSED, 0);

    read10_cdb(cdb, 0x28, 10, 4);
    send_cbw(f, TRUE, 4 * 512, cdb, sizeof cdb);
    usbdisk_bot_read_ahead(f->bot);
    g_autofree guint8 *first = bulk_in(f, 700, &len);
    g_assert_cmpuint(len, ==, 700);
    assert_image_pattern(first, 10 * 512, len);
    g_autofree guint8 *rest = bulk_in(f, 4 * 512, &len);
    g_assert_cmpuint(len, ==, 4 * 512 - 700);
    assert_image_pattern(rest, 10 * 512 + 700, len);
    expect_csw(f, USBDISK_CSW_PASSED, 0);

    /* Read ahead, then a reset and another READ elsewhere: the image's
     * bytes for the new range, not the read-ahead ones. */
    read10_cdb(cdb, 0x28, 20, 2);
    send_cbw(f, TRUE, 1024, cdb, sizeof cdb);
    usbdisk_bot_read_ahead(f->bot);
    usbdisk_bot_mass_storage_reset(f->bot);
    read10_cdb(cdb, 0x28, 30, 2);
    send_cbw(f, TRUE, 1024, cdb, sizeof cdb);
    g_autofree guint8 *other = bulk_in(f, 1024, &len);
    g_assert_cmpuint(len, ==, 1024);
    assert_image_pattern(other, 30 * 512, len);
    expect_csw(f, USBDISK_CSW_PASSED, 0);

    /* Outside a data-in stage it does nothing. */
    usbdisk_bot_read_ahead(f->bot);
    const guint8 tur[6] = { 0 };
    run_none(f, tur, sizeof tur);
    usbdisk_bot_read_ahead(f->bot);
    expect_csw(f, USBDISK_CSW_PASSED, 0);
}

static void
test_read_huge_request(Fixture *f, gconstpointer unused)
{
    /* A bulk-in asking for far more than the command has gets exactly the
     * command's data: the device never sizes a buffer from the request. */
    guint8 cdb[10];
    gsize len = 0;

    read10_cdb(cdb, 0x28, 0, 2);
    send_cbw(f, TRUE, 1024, cdb, sizeof cdb);
    /* A zero-length request moves nothing and ends nothing. */
    g_autofree guint8 *none = bulk_in(f, 0, &len);
    g_assert_nonnull(none);
    g_assert_cmpuint(len, ==, 0);
    g_autofree guint8 *r = bulk_in(f, G_MAXSIZE, &len);
    g_assert_cmpuint(len, ==, 1024);
    expect_csw(f, USBDISK_CSW_PASSED, 0);
}

static void
test_read_host_expects_more(Fixture *f, gconstpointer unused)
{
    guint8 cdb[10];
    gsize len = 0;

    /* Case 5 (Hi > Di), host asks for everything at once: short packet. */
    read10_cdb(cdb, 0x28, 0, 1);
    g_autofree guint8 *r = run_in(f, cdb, sizeof cdb, 1024, &len);
    g_assert_cmpuint(len, ==, 512);
    expect_csw(f, USBDISK_CSW_PASSED, 512);

    /* Same, host asks block by block: the device's data ends on a packet
     * boundary, so the next bulk-in stalls. */
    send_cbw(f, TRUE, 1024, cdb, sizeof cdb);
    g_autofree guint8 *first = bulk_in(f, 512, &len);
    g_assert_cmpuint(len, ==, 512);
    g_assert_null(bulk_in(f, 512, &len));
    usbdisk_bot_clear_halt(f->bot, TRUE);
    expect_csw(f, USBDISK_CSW_PASSED, 512);
}

static void
test_phase_error(Fixture *f, gconstpointer unused)
{
    guint8 cdb[10];
    gsize len = 0;

    /* Case 7 (Hi < Di): two blocks, but the host reads one. */
    read10_cdb(cdb, 0x28, 0, 2);
    g_autofree guint8 *r = run_in(f, cdb, sizeof cdb, 512, &len);
    g_assert_null(r);
    expect_csw(f, USBDISK_CSW_PHASE_ERROR, 512);

    /* Case 10 (Ho <> Di): a READ the host thinks is a data-out. */
    send_cbw(f, FALSE, 512, cdb, sizeof cdb);
    g_assert_true(usbdisk_bot_is_halted(f->bot, FALSE));
    usbdisk_bot_clear_halt(f->bot, FALSE);
    expect_csw(f, USBDISK_CSW_PHASE_ERROR, 512);

    /* Case 2/3 (Hn < Di/Do): a READ without a data stage. */
    send_cbw(f, TRUE, 0, cdb, sizeof cdb);
    expect_csw(f, USBDISK_CSW_PHASE_ERROR, 0);
}

static void
test_lba_out_of_range(Fixture *f, gconstpointer unused)
{
    guint8 cdb[16];
    gsize len = 0;

    /* One block past the end. */
    read10_cdb(cdb, 0x28, IMAGE_BLOCKS - 1, 2);
    g_autofree guint8 *r = run_in(f, cdb, 10, 1024, &len);
    g_assert_null(r);
    expect_csw(f, USBDISK_CSW_FAILED, 1024);
    expect_sense(f, USBDISK_SENSE_ILLEGAL_REQUEST, USBDISK_ASC_LBA_OUT_OF_RANGE, 0);

    /* An LBA whose sum with the length wraps around 64 bits. */
    read16_cdb(cdb, 0x88, G_MAXUINT64, 2);
    g_autofree guint8 *w = run_in(f, cdb, 16, 1024, &len);
    g_assert_null(w);
    expect_csw(f, USBDISK_CSW_FAILED, 1024);
    expect_sense(f, USBDISK_SENSE_ILLEGAL_REQUEST, USBDISK_ASC_LBA_OUT_OF_RANGE, 0);

    /* A write past the end: the data is taken and dropped, the image is
     * unchanged. */
    guint8 block[512];
    gsize accepted = 0;
    memset(block, 0xee, sizeof block);
    read16_cdb(cdb, 0x8a, IMAGE_BLOCKS, 1);
    send_cbw(f, FALSE, 512, cdb, 16);
    g_assert_cmpint(usbdisk_bot_bulk_out(f->bot, block, sizeof block, &accepted), ==,
                    USBDISK_BULK_OK);
    expect_csw(f, USBDISK_CSW_FAILED, 512);
    expect_sense(f, USBDISK_SENSE_ILLEGAL_REQUEST, USBDISK_ASC_LBA_OUT_OF_RANGE, 0);
    struct stat st;
    g_assert_cmpint(fstat(f->fd, &st), ==, 0);
    g_assert_cmpint(st.st_size, ==, IMAGE_SIZE);
}

static void
test_write(Fixture *f, gconstpointer unused)
{
    guint8 cdb[16];
    guint8 data[1536];
    guint8 back[1536];
    gsize accepted = 0;

    for (gsize i = 0; i < sizeof data; i++)
        data[i] = i ^ 0x5a;
    read10_cdb(cdb, 0x2a, 10, 3);
    send_cbw(f, FALSE, sizeof data, cdb, 10);
    /* In two uneven pieces. */
    g_assert_cmpint(usbdisk_bot_bulk_out(f->bot, data, 700, &accepted), ==, USBDISK_BULK_OK);
    g_assert_cmpuint(accepted, ==, 700);
    g_assert_cmpint(usbdisk_bot_bulk_out(f->bot, data + 700, sizeof data - 700, &accepted), ==,
                    USBDISK_BULK_OK);
    expect_csw(f, USBDISK_CSW_PASSED, 0);
    g_assert_cmpint(pread(f->fd, back, sizeof back, 10 * 512), ==, sizeof back);
    g_assert_cmpmem(back, sizeof back, data, sizeof data);
    /* The neighbours are untouched. */
    g_assert_cmpint(pread(f->fd, back, 512, 9 * 512), ==, 512);
    assert_image_pattern(back, 9 * 512, 512);
    g_assert_cmpint(pread(f->fd, back, 512, 13 * 512), ==, 512);
    assert_image_pattern(back, 13 * 512, 512);

    /* WRITE(16) of the last block, then SYNCHRONIZE CACHE. */
    read16_cdb(cdb, 0x8a, IMAGE_BLOCKS - 1, 1);
    send_cbw(f, FALSE, 512, cdb, 16);
    g_assert_cmpint(usbdisk_bot_bulk_out(f->bot, data, 512, &accepted), ==, USBDISK_BULK_OK);
    expect_csw(f, USBDISK_CSW_PASSED, 0);
    g_assert_cmpint(pread(f->fd, back, 512, (IMAGE_BLOCKS - 1) * 512), ==, 512);
    g_assert_cmpmem(back, 512, data, 512);

    const guint8 sync[10] = { 0x35 };
    run_none(f, sync, sizeof sync);
    expect_csw(f, USBDISK_CSW_PASSED, 0);

    /* Case 11 (Ho > Do): one block written, the surplus dropped. */
    read10_cdb(cdb, 0x2a, 20, 1);
    send_cbw(f, FALSE, 1024, cdb, 10);
    g_assert_cmpint(usbdisk_bot_bulk_out(f->bot, data, 1024, &accepted), ==, USBDISK_BULK_OK);
    expect_csw(f, USBDISK_CSW_PASSED, 512);
    g_assert_cmpint(pread(f->fd, back, 512, 21 * 512), ==, 512);
    assert_image_pattern(back, 21 * 512, 512);
}

static void
test_write_read_only(Fixture *f, gconstpointer unused)
{
    guint8 cdb[10];
    guint8 data[512];
    guint8 back[512];
    gsize accepted = 0;

    memset(data, 0xab, sizeof data);
    read10_cdb(cdb, 0x2a, 0, 1);
    send_cbw(f, FALSE, 512, cdb, sizeof cdb);
    g_assert_cmpint(usbdisk_bot_bulk_out(f->bot, data, sizeof data, &accepted), ==,
                    USBDISK_BULK_OK);
    expect_csw(f, USBDISK_CSW_FAILED, 512);
    expect_sense(f, USBDISK_SENSE_DATA_PROTECT, USBDISK_ASC_WRITE_PROTECTED, 0);
    g_assert_cmpint(pread(f->fd, back, 512, 0), ==, 512);
    assert_image_pattern(back, 0, 512);
}

static void
check_mode_sense(Fixture *f, gboolean expect_wp)
{
    gsize len = 0;
    const guint8 six[6] = { 0x1a, 0, 0x3f, 0, 192, 0 };
    g_autofree guint8 *r6 = run_in(f, six, sizeof six, 192, &len);

    g_assert_cmpuint(len, ==, 4 + 20);
    g_assert_cmpuint(r6[0], ==, len - 1);
    g_assert_cmphex(r6[2] & 0x80, ==, expect_wp ? 0x80 : 0);
    g_assert_cmphex(r6[4], ==, 0x08); /* caching page */
    expect_csw(f, USBDISK_CSW_PASSED, 192 - len);

    const guint8 ten[10] = { 0x5a, 0, 0x08, 0, 0, 0, 0, 0, 255, 0 };
    g_autofree guint8 *r10 = run_in(f, ten, sizeof ten, 255, &len);
    g_assert_cmpuint(len, ==, 8 + 20);
    g_assert_cmphex(r10[3] & 0x80, ==, expect_wp ? 0x80 : 0);
    expect_csw(f, USBDISK_CSW_PASSED, 255 - len);

    /* Header only, as some hosts ask. */
    const guint8 header[6] = { 0x1a, 0, 0x3f, 0, 4, 0 };
    g_autofree guint8 *h = run_in(f, header, sizeof header, 4, &len);
    g_assert_cmpuint(len, ==, 4);
    g_assert_cmphex(h[2] & 0x80, ==, expect_wp ? 0x80 : 0);
    expect_csw(f, USBDISK_CSW_PASSED, 0);
}

static void
test_mode_sense_rw(Fixture *f, gconstpointer unused)
{
    gsize len = 0;

    check_mode_sense(f, FALSE);

    const guint8 unknown[6] = { 0x1a, 0, 0x19, 0, 192, 0 };
    g_autofree guint8 *u = run_in(f, unknown, sizeof unknown, 192, &len);
    g_assert_null(u);
    expect_csw(f, USBDISK_CSW_FAILED, 192);
    expect_sense(f, USBDISK_SENSE_ILLEGAL_REQUEST, USBDISK_ASC_INVALID_FIELD_IN_CDB, 0);

    const guint8 saved[6] = { 0x1a, 0, 0xc8, 0, 192, 0 };
    g_autofree guint8 *s = run_in(f, saved, sizeof saved, 192, &len);
    g_assert_null(s);
    expect_csw(f, USBDISK_CSW_FAILED, 192);
    expect_sense(f, USBDISK_SENSE_ILLEGAL_REQUEST, USBDISK_ASC_SAVING_PARAMETERS_NOT_SUPPORTED, 0);
}

static void
test_mode_sense_ro(Fixture *f, gconstpointer unused)
{
    check_mode_sense(f, TRUE);
}

static void
test_removal(Fixture *f, gconstpointer unused)
{
    const guint8 prevent[6] = { 0x1e, 0, 0, 0, 1, 0 };
    const guint8 allow[6] = { 0x1e, 0, 0, 0, 0, 0 };
    const guint8 eject[6] = { 0x1b, 0, 0, 0, 0x02, 0 };
    const guint8 load[6] = { 0x1b, 0, 0, 0, 0x03, 0 };
    const guint8 tur[6] = { 0x00 };
    guint8 cdb[10];
    gsize len = 0;

    run_none(f, prevent, sizeof prevent);
    expect_csw(f, USBDISK_CSW_PASSED, 0);
    run_none(f, eject, sizeof eject);
    expect_csw(f, USBDISK_CSW_FAILED, 0);
    expect_sense(f, USBDISK_SENSE_ILLEGAL_REQUEST, USBDISK_ASC_MEDIUM_REMOVAL_PREVENTED, 0x02);

    run_none(f, allow, sizeof allow);
    expect_csw(f, USBDISK_CSW_PASSED, 0);
    run_none(f, eject, sizeof eject);
    expect_csw(f, USBDISK_CSW_PASSED, 0);
    run_none(f, tur, sizeof tur);
    expect_csw(f, USBDISK_CSW_FAILED, 0);
    expect_sense(f, USBDISK_SENSE_NOT_READY, USBDISK_ASC_MEDIUM_NOT_PRESENT, 0);
    read10_cdb(cdb, 0x28, 0, 1);
    g_autofree guint8 *r = run_in(f, cdb, sizeof cdb, 512, &len);
    g_assert_null(r);
    expect_csw(f, USBDISK_CSW_FAILED, 512);
    expect_sense(f, USBDISK_SENSE_NOT_READY, USBDISK_ASC_MEDIUM_NOT_PRESENT, 0);

    run_none(f, load, sizeof load);
    expect_csw(f, USBDISK_CSW_PASSED, 0);
    run_none(f, tur, sizeof tur);
    expect_csw(f, USBDISK_CSW_PASSED, 0);
}

static void
test_bad_lun(Fixture *f, gconstpointer unused)
{
    guint8 cbw[USBDISK_CBW_SIZE];
    const guint8 tur[6] = { 0x00 };

    build_cbw(cbw, ++f->tag, FALSE, 0, tur, sizeof tur);
    cbw[13] = 1;
    g_assert_cmpint(usbdisk_bot_bulk_out(f->bot, cbw, sizeof cbw, NULL), ==, USBDISK_BULK_OK);
    expect_csw(f, USBDISK_CSW_FAILED, 0);
    expect_sense(f, USBDISK_SENSE_ILLEGAL_REQUEST, USBDISK_ASC_LUN_NOT_SUPPORTED, 0);
}

/* An invalid CBW stalls both endpoints; only Reset Recovery (class reset,
 * then clearing both halts) brings the device back. */
static void
check_reset_recovery(Fixture *f, const guint8 *cbw, gsize len)
{
    const guint8 tur[6] = { 0x00 };
    gsize got = 0;
    guint8 *data = NULL;

    g_assert_cmpint(usbdisk_bot_bulk_out(f->bot, cbw, len, NULL), ==, USBDISK_BULK_STALL);
    g_assert_true(usbdisk_bot_is_halted(f->bot, TRUE));
    g_assert_true(usbdisk_bot_is_halted(f->bot, FALSE));
    /* Clearing the halts alone does not help. */
    usbdisk_bot_clear_halt(f->bot, TRUE);
    usbdisk_bot_clear_halt(f->bot, FALSE);
    g_assert_cmpint(usbdisk_bot_bulk_in(f->bot, 13, &data, &got), ==, USBDISK_BULK_STALL);
    g_assert_cmpint(usbdisk_bot_bulk_out(f->bot, cbw, len, NULL), ==, USBDISK_BULK_STALL);

    usbdisk_bot_mass_storage_reset(f->bot);
    g_assert_true(usbdisk_bot_is_halted(f->bot, TRUE));
    usbdisk_bot_clear_halt(f->bot, TRUE);
    usbdisk_bot_clear_halt(f->bot, FALSE);
    g_assert_false(usbdisk_bot_is_halted(f->bot, TRUE));
    g_assert_false(usbdisk_bot_is_halted(f->bot, FALSE));
    run_none(f, tur, sizeof tur);
    expect_csw(f, USBDISK_CSW_PASSED, 0);
}

static void
test_bad_cbw(Fixture *f, gconstpointer unused)
{
    const guint8 tur[6] = { 0x00 };
    guint8 cbw[USBDISK_CBW_SIZE + 1] = { 0 };

    build_cbw(cbw, 1, FALSE, 0, tur, sizeof tur);
    cbw[0] = 'X'; /* signature */
    check_reset_recovery(f, cbw, USBDISK_CBW_SIZE);

    build_cbw(cbw, 2, FALSE, 0, tur, sizeof tur);
    check_reset_recovery(f, cbw, USBDISK_CBW_SIZE - 1); /* short */
    check_reset_recovery(f, cbw, USBDISK_CBW_SIZE + 1); /* long */

    build_cbw(cbw, 3, FALSE, 0, tur, sizeof tur);
    cbw[14] = 17; /* bCBWCBLength */
    check_reset_recovery(f, cbw, USBDISK_CBW_SIZE);
    cbw[14] = 0;
    check_reset_recovery(f, cbw, USBDISK_CBW_SIZE);

    build_cbw(cbw, 4, FALSE, 0, tur, sizeof tur);
    cbw[12] = 0x01; /* reserved flag bits */
    check_reset_recovery(f, cbw, USBDISK_CBW_SIZE);
}

static void
test_out_of_sequence(Fixture *f, gconstpointer unused)
{
    const guint8 tur[6] = { 0x00 };
    guint8 *data = NULL;
    gsize len = 0;
    guint8 cbw[USBDISK_CBW_SIZE];

    /* A bulk-in while the device waits for a CBW stalls; clearing the halt
     * is enough. */
    g_assert_cmpint(usbdisk_bot_bulk_in(f->bot, 13, &data, &len), ==, USBDISK_BULK_STALL);
    usbdisk_bot_clear_halt(f->bot, TRUE);
    run_none(f, tur, sizeof tur);
    /* A CBW while the CSW is pending: out of step, reset recovery. */
    build_cbw(cbw, 99, FALSE, 0, tur, sizeof tur);
    check_reset_recovery(f, cbw, sizeof cbw);
}

static void
test_bus_reset(Fixture *f, gconstpointer unused)
{
    guint8 cbw[USBDISK_CBW_SIZE] = { 0 };
    const guint8 tur[6] = { 0x00 };

    g_assert_cmpint(usbdisk_bot_bulk_out(f->bot, cbw, sizeof cbw, NULL), ==, USBDISK_BULK_STALL);
    usbdisk_bot_bus_reset(f->bot);
    g_assert_false(usbdisk_bot_is_halted(f->bot, TRUE));
    run_none(f, tur, sizeof tur);
    expect_csw(f, USBDISK_CSW_PASSED, 0);
}

static void
test_image_check(void)
{
    g_autoptr(GError) error = NULL;

    g_assert_true(usbdisk_image_check("a.img", 512, &error));
    g_assert_no_error(error);
    g_assert_false(usbdisk_image_check("b.img", 1000, &error));
    g_assert_nonnull(strstr(error->message, "b.img"));
    g_assert_nonnull(strstr(error->message, "multiple of 512"));
    g_clear_error(&error);
    g_assert_false(usbdisk_image_check("c.img", 0, &error));
    g_assert_nonnull(strstr(error->message, "empty"));
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

#define ADD(name, setup, fn) \
    g_test_add("/usbdisk-scsi/" name, Fixture, NULL, setup, fn, fixture_teardown)
    ADD("inquiry", fixture_setup_rw, test_inquiry);
    ADD("inquiry-short-residue", fixture_setup_rw, test_inquiry_short_residue);
    ADD("inquiry-vpd", fixture_setup_rw, test_inquiry_vpd);
    ADD("test-unit-ready", fixture_setup_rw, test_test_unit_ready);
    ADD("invalid-opcode", fixture_setup_rw, test_invalid_opcode);
    ADD("read-capacity", fixture_setup_rw, test_read_capacity);
    ADD("read", fixture_setup_rw, test_read);
    ADD("read-chunked", fixture_setup_rw, test_read_chunked);
    ADD("read-ahead", fixture_setup_rw, test_read_ahead);
    ADD("read-huge-request", fixture_setup_rw, test_read_huge_request);
    ADD("read-host-expects-more", fixture_setup_rw, test_read_host_expects_more);
    ADD("phase-error", fixture_setup_rw, test_phase_error);
    ADD("lba-out-of-range", fixture_setup_rw, test_lba_out_of_range);
    ADD("write", fixture_setup_rw, test_write);
    ADD("write-read-only", fixture_setup_ro, test_write_read_only);
    ADD("mode-sense-rw", fixture_setup_rw, test_mode_sense_rw);
    ADD("mode-sense-ro", fixture_setup_ro, test_mode_sense_ro);
    ADD("removal", fixture_setup_rw, test_removal);
    ADD("bad-lun", fixture_setup_rw, test_bad_lun);
    ADD("bad-cbw", fixture_setup_rw, test_bad_cbw);
    ADD("out-of-sequence", fixture_setup_rw, test_out_of_sequence);
    ADD("bus-reset", fixture_setup_rw, test_bus_reset);
#undef ADD
    g_test_add_func("/usbdisk-scsi/image-check", test_image_check);
    return g_test_run();
}
