/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Fuzz target for the emulated USB disk (devmodel/usbdisk-*.c), on a 64 KiB
 * image in a memfd.  The first byte picks the mode:
 *
 *  - even: the rest is a usbredir byte stream from the usb-guest side
 *    (QEMU's usb-redir, or anything pretending to be it), fed to the device
 *    in chunks whose sizes come from the second byte;
 *  - odd: the rest is a script of bulk-endpoint operations on the Bulk-Only
 *    Transport engine directly (CBWs with arbitrary CDBs, data-out,
 *    bulk-in of any length, halts and resets).
 *
 * Afterwards the image must still be exactly 64 KiB: no write may land
 * outside it.
 */
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "usbdisk-redir.h"
#include "usbdisk-scsi.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define IMAGE_SIZE (64 * 1024)

/* What the target reads of the device's answers ends up here, so the
 * reads are not optimised away. */
static volatile guint fuzz_sink;

static void
drop_log(const char *domain, GLogLevelFlags level, const char *message, gpointer user_data)
{
}

static int
discard_write(gpointer opaque, const guint8 *data, int count)
{
    guint *hash = opaque;

    /* Touch the output, so sanitizers see a bad buffer. */
    for (int i = 0; i < count; i += 64)
        *hash = *hash * 31 + data[i];
    fuzz_sink = *hash;
    return count;
}

static void
fuzz_redir(UsbdiskBot *bot, const uint8_t *data, size_t size)
{
    static const UsbdiskRedirOps ops = { .write = discard_write };
    guint hash = 0;
    gsize chunk;
    g_autoptr(UsbdiskRedir) redir = NULL;

    if (size == 0)
        return;
    chunk = data[0] ? data[0] : 4096;
    data++;
    size--;
    redir = usbdisk_redir_new(bot, (chunk & 1) ? USBDISK_SPEED_SUPER : USBDISK_SPEED_HIGH,
                              "FUZZ0001", &ops, &hash);
    while (size > 0) {
        gsize n = MIN(chunk, size);
        if (!usbdisk_redir_feed(redir, data, n, NULL))
            break;
        data += n;
        size -= n;
    }
}

static guint32
take_u32(const uint8_t **data, size_t *size)
{
    guint32 v = 0;

    for (int i = 0; i < 4 && *size > 0; i++) {
        v = (v << 8) | **data;
        (*data)++;
        (*size)--;
    }
    return v;
}

static void
fuzz_bot(UsbdiskBot *bot, const uint8_t *data, size_t size)
{
    guint hash = 0;

    while (size > 0) {
        guint8 op = *data++;
        size--;
        switch (op % 7) {
        case 0: { /* raw bulk-out: length byte, then bytes */
            gsize n = size > 0 ? MIN((gsize) data[0], size - 1) : 0;
            if (size > 0) {
                data++;
                size--;
            }
            usbdisk_bot_bulk_out(bot, data, n, NULL);
            data += n;
            size -= n;
            break;
        }
        case 1: { /* a well-formed CBW around fuzz bytes */
            guint8 cbw[USBDISK_CBW_SIZE] = { 0x55, 0x53, 0x42, 0x43 };
            guint32 length = take_u32(&data, &size) & 0x3ffff;
            gsize n = MIN((gsize) 19, size); /* flags, LUN, CB length, CDB */
            cbw[8] = length;
            cbw[9] = length >> 8;
            cbw[10] = length >> 16;
            cbw[14] = 16;
            memcpy(cbw + 12, data, n);
            if (n > 0)
                cbw[12] &= 0x80;
            if (n > 1)
                cbw[13] &= 0x0f;
            if (n > 2)
                cbw[14] = (cbw[14] % 16) + 1;
            data += n;
            size -= n;
            usbdisk_bot_bulk_out(bot, cbw, sizeof cbw, NULL);
            break;
        }
        case 2: { /* bulk-in of any size */
            guint8 *in = NULL;
            gsize len = 0;
            guint32 requested = take_u32(&data, &size);
            if (usbdisk_bot_bulk_in(bot, requested, &in, &len) == USBDISK_BULK_OK) {
                g_assert(len <= requested && len <= USBDISK_BOT_MAX_CHUNK);
                for (gsize i = 0; i < len; i += 512)
                    hash += in[i];
            }
            g_free(in);
            break;
        }
        case 3: /* data-out of zeros, up to 64 KiB */
        {
            static const guint8 zeros[64 * 1024];
            guint32 n = take_u32(&data, &size) % sizeof zeros;
            usbdisk_bot_bulk_out(bot, zeros, n, NULL);
            break;
        }
        case 4:
            usbdisk_bot_clear_halt(bot, op & 0x80);
            break;
        case 5:
            usbdisk_bot_mass_storage_reset(bot);
            break;
        case 6:
            usbdisk_bot_bus_reset(bot);
            break;
        }
    }
    fuzz_sink = hash;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static gboolean initialized;
    struct stat st;
    int fd;

    if (!initialized) {
        g_log_set_default_handler(drop_log, NULL);
        initialized = TRUE;
    }
    if (size == 0)
        return 0;

    fd = memfd_create("usbdisk-fuzz", MFD_CLOEXEC);
    g_assert(fd >= 0);
    g_assert(ftruncate(fd, IMAGE_SIZE) == 0);
    {
        g_autoptr(UsbdiskBot) bot = usbdisk_bot_new(fd, IMAGE_SIZE, data[0] & 2, "FUZZ0001");
        if (data[0] & 1)
            fuzz_bot(bot, data + 1, size - 1);
        else
            fuzz_redir(bot, data + 1, size - 1);
    }
    g_assert(fstat(fd, &st) == 0);
    g_assert(st.st_size == IMAGE_SIZE);
    close(fd);
    return 0;
}
