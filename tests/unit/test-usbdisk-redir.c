/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Unit tests of the emulated USB disk's usbredir side
 * (devmodel/usbdisk-redir.c), against a usb-guest peer built on the real
 * libusbredirparser, as QEMU's usb-redir is: the connect sequence, the
 * descriptors at high and super speed, control requests, and one SCSI
 * command over the bulk endpoints.
 */
#include <glib.h>
#include <glib/gstdio.h>
#include <string.h>
#include <unistd.h>
#include <usbredirparser.h>

#include "usbdisk-redir.h"
#include "usbdisk-scsi.h"

#define IMAGE_SIZE (64 * 1024 * 1024) /* sparse */

typedef struct {
    GByteArray *to_device; /* the guest parser's output */
    GByteArray *to_guest;  /* the device's output */
    gsize to_guest_read;

    gboolean got_connect;
    struct usb_redir_device_connect_header connect;
    gboolean got_interface_info;
    struct usb_redir_interface_info_header interfaces;
    gboolean got_ep_info;
    struct usb_redir_ep_info_header eps;

    guint configuration_status_count;
    struct usb_redir_configuration_status_header configuration_status;

    /* the last control / bulk reply */
    guint64 reply_id;
    struct usb_redir_control_packet_header control;
    struct usb_redir_bulk_packet_header bulk;
    guint8 reply_data[4096];
    int reply_len;
    guint bulk_count;

    gboolean blocked; /* the guest side does not read: writes would block */
} Peer;

typedef struct {
    int fd;
    char *path;
    UsbdiskBot *bot;
    UsbdiskRedir *redir;
    struct usbredirparser *guest;
    Peer peer;
    guint64 next_id;
} Fixture;

/* ---- the guest-side peer -------------------------------------------------- */

static int
guest_read(void *priv, uint8_t *data, int count)
{
    Peer *peer = priv;
    gsize n = MIN((gsize) count, peer->to_guest->len - peer->to_guest_read);

    memcpy(data, peer->to_guest->data + peer->to_guest_read, n);
    peer->to_guest_read += n;
    return n;
}

static int
guest_write(void *priv, uint8_t *data, int count)
{
    Peer *peer = priv;

    g_byte_array_append(peer->to_device, data, count);
    return count;
}

static void
guest_log(void *priv, int level, const char *msg)
{
    if (level <= usbredirparser_warning)
        g_test_message("guest parser: %s", msg);
}

static void
guest_device_connect(void *priv, struct usb_redir_device_connect_header *connect)
{
    Peer *peer = priv;

    peer->got_connect = TRUE;
    peer->connect = *connect;
}

static void
guest_interface_info(void *priv, struct usb_redir_interface_info_header *info)
{
    Peer *peer = priv;

    /* The first arrives before device_connect: QEMU checks interfaces
     * against its filter when the device connects. */
    if (!peer->got_interface_info)
        g_assert_false(peer->got_connect);
    peer->got_interface_info = TRUE;
    peer->interfaces = *info;
}

static void
guest_ep_info(void *priv, struct usb_redir_ep_info_header *info)
{
    Peer *peer = priv;

    peer->got_ep_info = TRUE;
    peer->eps = *info;
}

static void
guest_configuration_status(void *priv, uint64_t id,
                           struct usb_redir_configuration_status_header *status)
{
    Peer *peer = priv;

    peer->configuration_status_count++;
    peer->configuration_status = *status;
    peer->reply_id = id;
}

static void
guest_control_packet(void *priv, uint64_t id, struct usb_redir_control_packet_header *control,
                     uint8_t *data, int data_len)
{
    Peer *peer = priv;

    peer->reply_id = id;
    peer->control = *control;
    g_assert_cmpint(data_len, <=, (int) sizeof peer->reply_data);
    if (data_len > 0)
        memcpy(peer->reply_data, data, data_len);
    peer->reply_len = data_len;
    free(data);
}

static void
guest_bulk_packet(void *priv, uint64_t id, struct usb_redir_bulk_packet_header *bulk,
                  uint8_t *data, int data_len)
{
    Peer *peer = priv;

    peer->reply_id = id;
    peer->bulk = *bulk;
    peer->bulk_count++;
    if (data_len > 0)
        memcpy(peer->reply_data, data, MIN((gsize) data_len, sizeof peer->reply_data));
    peer->reply_len = data_len;
    free(data);
}

static int
device_write(gpointer opaque, const guint8 *data, int count)
{
    Peer *peer = opaque;

    if (peer->blocked)
        return 0;
    g_byte_array_append(peer->to_guest, data, count);
    return count;
}

/* Moves bytes both ways until neither side has anything to say. */
static void
pump(Fixture *f)
{
    for (int round = 0; round < 16; round++) {
        g_autoptr(GError) error = NULL;
        gboolean moved = FALSE;

        if (usbredirparser_has_data_to_write(f->guest))
            usbredirparser_do_write(f->guest);
        if (f->peer.to_device->len > 0) {
            g_autoptr(GByteArray) chunk = f->peer.to_device;
            f->peer.to_device = g_byte_array_new();
            g_assert_true(usbdisk_redir_feed(f->redir, chunk->data, chunk->len, &error));
            g_assert_no_error(error);
            moved = TRUE;
        }
        if (f->peer.to_guest_read < f->peer.to_guest->len) {
            g_assert_cmpint(usbredirparser_do_read(f->guest), ==, 0);
            moved = TRUE;
        }
        if (!moved && !usbredirparser_has_data_to_write(f->guest))
            return;
    }
    g_assert_not_reached();
}

static void
fixture_setup(Fixture *f, UsbdiskSpeed speed)
{
    static const UsbdiskRedirOps ops = { .write = device_write };
    g_autoptr(GError) error = NULL;
    uint32_t caps[USB_REDIR_CAPS_SIZE] = { 0 };

    f->fd = g_file_open_tmp("usbdisk-redir-XXXXXX", &f->path, &error);
    g_assert_no_error(error);
    g_assert_cmpint(ftruncate(f->fd, IMAGE_SIZE), ==, 0);
    g_assert_cmpint(pwrite(f->fd, "BOOTSECTOR", 10, 0), ==, 10);
    f->bot = usbdisk_bot_new(f->fd, IMAGE_SIZE, FALSE, "TESTSERIAL");
    f->peer.to_device = g_byte_array_new();
    f->peer.to_guest = g_byte_array_new();
    f->redir = usbdisk_redir_new(f->bot, speed, "TESTSERIAL", &ops, &f->peer);

    /* The capabilities QEMU 7.2's usb-redir announces. */
    f->guest = usbredirparser_create();
    f->guest->priv = &f->peer;
    f->guest->log_func = guest_log;
    f->guest->read_func = guest_read;
    f->guest->write_func = guest_write;
    f->guest->device_connect_func = guest_device_connect;
    f->guest->interface_info_func = guest_interface_info;
    f->guest->ep_info_func = guest_ep_info;
    f->guest->configuration_status_func = guest_configuration_status;
    f->guest->control_packet_func = guest_control_packet;
    f->guest->bulk_packet_func = guest_bulk_packet;
    usbredirparser_caps_set_cap(caps, usb_redir_cap_connect_device_version);
    usbredirparser_caps_set_cap(caps, usb_redir_cap_filter);
    usbredirparser_caps_set_cap(caps, usb_redir_cap_ep_info_max_packet_size);
    usbredirparser_caps_set_cap(caps, usb_redir_cap_64bits_ids);
    usbredirparser_caps_set_cap(caps, usb_redir_cap_32bits_bulk_length);
    usbredirparser_init(f->guest, "test usb-guest", caps, USB_REDIR_CAPS_SIZE, 0);
    f->next_id = 1;

    g_assert_true(usbdisk_redir_flush(f->redir, &error));
    pump(f);
}

static void
fixture_setup_high(Fixture *f, gconstpointer data)
{
    fixture_setup(f, USBDISK_SPEED_HIGH);
}

static void
fixture_setup_super(Fixture *f, gconstpointer data)
{
    fixture_setup(f, USBDISK_SPEED_SUPER);
}

static void
fixture_teardown(Fixture *f, gconstpointer data)
{
    usbredirparser_destroy(f->guest);
    usbdisk_redir_free(f->redir);
    usbdisk_bot_free(f->bot);
    g_byte_array_unref(f->peer.to_device);
    g_byte_array_unref(f->peer.to_guest);
    close(f->fd);
    g_unlink(f->path);
    g_free(f->path);
}

/* Sends a control request; returns the reply's status. */
static guint8
control(Fixture *f, guint8 requesttype, guint8 request, guint16 value, guint16 index,
        guint16 length, const guint8 *out_data)
{
    struct usb_redir_control_packet_header c = {
        .endpoint = requesttype & 0x80,
        .request = request,
        .requesttype = requesttype,
        .value = value,
        .index = index,
        .length = length,
    };
    guint64 id = f->next_id++;

    f->peer.reply_id = 0;
    usbredirparser_send_control_packet(f->guest, id, &c, (guint8 *) out_data,
                                       (requesttype & 0x80) ? 0 : length);
    pump(f);
    g_assert_cmpuint(f->peer.reply_id, ==, id);
    return f->peer.control.status;
}

static guint8
bulk(Fixture *f, guint8 endpoint, const guint8 *data, guint32 length)
{
    struct usb_redir_bulk_packet_header b = {
        .endpoint = endpoint,
        .length = length & 0xffff,
        .length_high = length >> 16,
    };
    guint64 id = f->next_id++;

    f->peer.reply_id = 0;
    usbredirparser_send_bulk_packet(f->guest, id, &b, (guint8 *) data,
                                    (endpoint & 0x80) ? 0 : length);
    pump(f);
    g_assert_cmpuint(f->peer.reply_id, ==, id);
    return f->peer.bulk.status;
}

static guint16
le16(const guint8 *p)
{
    return p[0] | (p[1] << 8);
}

/* ---- tests ---------------------------------------------------------------- */

static void
test_connect_high(Fixture *f, gconstpointer unused)
{
    g_assert_true(f->peer.got_connect);
    g_assert_cmpuint(f->peer.connect.speed, ==, usb_redir_speed_high);
    g_assert_cmphex(f->peer.connect.vendor_id, ==, 0x1209);
    g_assert_true(f->peer.got_interface_info);
    g_assert_cmpuint(f->peer.interfaces.interface_count, ==, 1);
    g_assert_cmphex(f->peer.interfaces.interface_class[0], ==, 0x08);
    g_assert_cmphex(f->peer.interfaces.interface_subclass[0], ==, 0x06);
    g_assert_cmphex(f->peer.interfaces.interface_protocol[0], ==, 0x50);
    g_assert_true(f->peer.got_ep_info);
    g_assert_cmpuint(f->peer.eps.type[0], ==, usb_redir_type_control);
    g_assert_cmpuint(f->peer.eps.type[2], ==, usb_redir_type_bulk);      /* 0x02 */
    g_assert_cmpuint(f->peer.eps.type[16 + 1], ==, usb_redir_type_bulk); /* 0x81 */
    g_assert_cmpuint(f->peer.eps.type[1], ==, usb_redir_type_invalid);
    g_assert_cmpuint(f->peer.eps.max_packet_size[2], ==, 512);
    g_assert_cmpuint(f->peer.eps.max_packet_size[17], ==, 512);
}

static void
test_descriptors_high(Fixture *f, gconstpointer unused)
{
    const guint8 *d = f->peer.reply_data;

    g_assert_cmpuint(control(f, 0x80, 6, 0x0100, 0, 64, NULL), ==, usb_redir_success);
    g_assert_cmpint(f->peer.reply_len, ==, 18);
    g_assert_cmphex(le16(d + 2), ==, 0x0200);
    g_assert_cmpuint(d[7], ==, 64);

    /* The first 9 bytes, then the whole configuration. */
    g_assert_cmpuint(control(f, 0x80, 6, 0x0200, 0, 9, NULL), ==, usb_redir_success);
    g_assert_cmpint(f->peer.reply_len, ==, 9);
    g_assert_cmpuint(le16(d + 2), ==, 9 + 9 + 7 + 7);
    g_assert_cmpuint(control(f, 0x80, 6, 0x0200, 0, 255, NULL), ==, usb_redir_success);
    g_assert_cmpint(f->peer.reply_len, ==, 32);
    g_assert_cmphex(d[9 + 5], ==, 0x08);
    g_assert_cmphex(d[18 + 2], ==, 0x81);
    g_assert_cmpuint(le16(d + 18 + 4), ==, 512);
    g_assert_cmphex(d[25 + 2], ==, 0x02);

    /* Strings: language list, then the serial in UTF-16LE. */
    g_assert_cmpuint(control(f, 0x80, 6, 0x0300, 0, 255, NULL), ==, usb_redir_success);
    g_assert_cmpmem(d, 4, "\x04\x03\x09\x04", 4);
    g_assert_cmpuint(control(f, 0x80, 6, 0x0303, 0x0409, 255, NULL), ==, usb_redir_success);
    g_assert_cmpint(f->peer.reply_len, ==, 2 + 2 * 10);
    g_assert_cmpmem(d + 2, 4, "T\0E\0", 4);

    /* A high-speed device has a device qualifier and no BOS. */
    g_assert_cmpuint(control(f, 0x80, 6, 0x0600, 0, 10, NULL), ==, usb_redir_success);
    g_assert_cmpuint(control(f, 0x80, 6, 0x0f00, 0, 5, NULL), ==, usb_redir_stall);
    g_assert_cmpuint(control(f, 0x80, 6, 0x0304, 0x0409, 255, NULL), ==, usb_redir_stall);
    g_assert_cmpuint(control(f, 0x80, 6, 0x0201, 0, 255, NULL), ==, usb_redir_stall);
}

static void
test_descriptors_super(Fixture *f, gconstpointer unused)
{
    const guint8 *d = f->peer.reply_data;

    g_assert_cmpuint(f->peer.connect.speed, ==, usb_redir_speed_super);
    g_assert_cmpuint(f->peer.eps.max_packet_size[17], ==, 1024);
    g_assert_cmpuint(control(f, 0x80, 6, 0x0100, 0, 18, NULL), ==, usb_redir_success);
    g_assert_cmphex(le16(d + 2), >=, 0x0300);
    g_assert_cmpuint(d[7], ==, 9);
    g_assert_cmpuint(control(f, 0x80, 6, 0x0200, 0, 255, NULL), ==, usb_redir_success);
    g_assert_cmpint(f->peer.reply_len, ==, 9 + 9 + 2 * (7 + 6));
    g_assert_cmpuint(le16(d + 18 + 4), ==, 1024);
    g_assert_cmpuint(d[25 + 1], ==, 48); /* SuperSpeed endpoint companion */
    g_assert_cmpuint(control(f, 0x80, 6, 0x0f00, 0, 255, NULL), ==, usb_redir_success);
    g_assert_cmpint(f->peer.reply_len, ==, le16(d + 2));
    g_assert_cmpuint(d[4], ==, 2);
    g_assert_cmpuint(d[5 + 7 + 2], ==, 0x03); /* SuperSpeed USB device capability */
}

static void
test_requests(Fixture *f, gconstpointer unused)
{
    const guint8 sel[6] = { 0 };

    g_assert_cmpuint(control(f, 0xa1, 0xfe, 0, 0, 1, NULL), ==, usb_redir_success);
    g_assert_cmpint(f->peer.reply_len, ==, 1);
    g_assert_cmpuint(f->peer.reply_data[0], ==, 0);
    g_assert_cmpuint(control(f, 0x21, 0xff, 0, 0, 0, NULL), ==, usb_redir_success);
    g_assert_cmpuint(control(f, 0x80, 0, 0, 0, 2, NULL), ==, usb_redir_success);
    g_assert_cmpuint(control(f, 0x82, 0, 0, 0x81, 2, NULL), ==, usb_redir_success);
    g_assert_cmpuint(f->peer.reply_data[0], ==, 0);
    g_assert_cmpuint(control(f, 0x00, 48, 0, 0, 6, sel), ==, usb_redir_success);
    /* Unknown requests, vendor requests, other interfaces and endpoints. */
    g_assert_cmpuint(control(f, 0xc0, 1, 0, 0, 4, NULL), ==, usb_redir_stall);
    g_assert_cmpuint(control(f, 0xa1, 0xfe, 0, 1, 1, NULL), ==, usb_redir_stall);
    g_assert_cmpuint(control(f, 0x80, 0x42, 0, 0, 4, NULL), ==, usb_redir_stall);
    g_assert_cmpuint(control(f, 0x02, 1, 0, 0x85, 0, NULL), ==, usb_redir_stall);

    /* SET_CONFIGURATION goes through its own packet. */
    struct usb_redir_set_configuration_header set = { .configuration = 1 };
    usbredirparser_send_set_configuration(f->guest, 77, &set);
    pump(f);
    g_assert_cmpuint(f->peer.configuration_status_count, ==, 1);
    g_assert_cmpuint(f->peer.configuration_status.status, ==, usb_redir_success);
    g_assert_cmpuint(f->peer.configuration_status.configuration, ==, 1);
    set.configuration = 7;
    usbredirparser_send_set_configuration(f->guest, 78, &set);
    pump(f);
    g_assert_cmpuint(f->peer.configuration_status.status, ==, usb_redir_stall);
}

static void
test_bulk_command(Fixture *f, gconstpointer unused)
{
    guint8 cbw[31] = { 'U', 'S', 'B', 'C', 7, 0, 0, 0, 0, 2, 0, 0, 0x80, 0, 10, 0x28 };

    cbw[15 + 8] = 1; /* READ(10) of block 0 */
    g_assert_cmpuint(bulk(f, 0x02, cbw, sizeof cbw), ==, usb_redir_success);
    g_assert_cmpuint(f->peer.bulk.length, ==, 31);
    g_assert_cmpuint(bulk(f, 0x81, NULL, 512), ==, usb_redir_success);
    g_assert_cmpint(f->peer.reply_len, ==, 512);
    g_assert_cmpuint(f->peer.bulk.length | (f->peer.bulk.length_high << 16), ==, 512);
    g_assert_cmpmem(f->peer.reply_data, 10, "BOOTSECTOR", 10);
    g_assert_cmpuint(bulk(f, 0x81, NULL, 13), ==, usb_redir_success);
    g_assert_cmpint(f->peer.reply_len, ==, 13);
    g_assert_cmpmem(f->peer.reply_data, 4, "USBS", 4);
    g_assert_cmpuint(f->peer.reply_data[4], ==, 7);
    g_assert_cmpuint(f->peer.reply_data[12], ==, 0);

    /* A bad CBW stalls; GET_STATUS shows the halt; reset recovery clears it. */
    g_assert_cmpuint(bulk(f, 0x02, cbw, 30), ==, usb_redir_stall);
    g_assert_cmpuint(control(f, 0x82, 0, 0, 0x81, 2, NULL), ==, usb_redir_success);
    g_assert_cmpuint(f->peer.reply_data[0], ==, 1);
    g_assert_cmpuint(control(f, 0x21, 0xff, 0, 0, 0, NULL), ==, usb_redir_success);
    g_assert_cmpuint(control(f, 0x02, 1, 0, 0x81, 0, NULL), ==, usb_redir_success);
    g_assert_cmpuint(control(f, 0x02, 1, 0, 0x02, 0, NULL), ==, usb_redir_success);
    g_assert_cmpuint(bulk(f, 0x02, cbw, sizeof cbw), ==, usb_redir_success);

    /* An endpoint the device does not have. */
    g_assert_cmpuint(bulk(f, 0x83, NULL, 512), ==, usb_redir_inval);
}

static void
test_backpressure(Fixture *f, gconstpointer unused)
{
    /* READ(10) of 65535 blocks (32 MiB), then 32 bulk-in requests of
     * 1 MiB sent at once, while the guest side reads nothing. */
    guint8 cbw[31] = { 'U', 'S', 'B', 'C', 9, 0, 0, 0, 0x00, 0xfe, 0xff, 0x01, 0x80, 0, 10, 0x28 };
    g_autoptr(GError) error = NULL;

    cbw[15 + 7] = 0xff;
    cbw[15 + 8] = 0xff;
    g_assert_cmpuint(bulk(f, 0x02, cbw, sizeof cbw), ==, usb_redir_success);
    f->peer.blocked = TRUE;
    f->peer.bulk_count = 0;
    for (int i = 0; i < 32; i++) {
        struct usb_redir_bulk_packet_header b = { .endpoint = 0x81, .length_high = 0x10 };
        usbredirparser_send_bulk_packet(f->guest, f->next_id++, &b, NULL, 0);
    }
    usbredirparser_do_write(f->guest);
    g_assert_true(usbdisk_redir_feed(f->redir, f->peer.to_device->data, f->peer.to_device->len,
                                     &error));
    g_byte_array_set_size(f->peer.to_device, 0);

    guint64 queued = usbdisk_redir_pending_output(f->redir);
    g_test_message("queued %" G_GUINT64_FORMAT " bytes", queued);
    g_assert_cmpuint(queued, >=, USBDISK_REDIR_OUTPUT_LIMIT);
    g_assert_cmpuint(queued, <=, USBDISK_REDIR_OUTPUT_LIMIT + 2 * 1024 * 1024);
    g_assert_false(usbdisk_redir_wants_input(f->redir));

    /* The guest side reads again: every request gets its answer. */
    f->peer.blocked = FALSE;
    while (!usbdisk_redir_wants_input(f->redir) || usbdisk_redir_pending_output(f->redir)) {
        g_assert_true(usbdisk_redir_flush(f->redir, &error));
        g_assert_cmpint(usbredirparser_do_read(f->guest), ==, 0);
    }
    g_assert_cmpint(usbredirparser_do_read(f->guest), ==, 0);
    g_assert_cmpuint(f->peer.bulk_count, ==, 32);
    g_assert_cmpuint(f->peer.bulk.status, ==, usb_redir_success);
}

static void
test_serial_check(void)
{
    g_autoptr(GError) error = NULL;

    g_assert_true(usbdisk_serial_check("ABC-123_x.y", &error));
    g_assert_false(usbdisk_serial_check("", &error));
    g_clear_error(&error);
    g_assert_false(usbdisk_serial_check("has space", &error));
    g_assert_nonnull(strstr(error->message, "has space"));
    g_clear_error(&error);
    g_autofree char *long_serial = g_strnfill(USBDISK_SERIAL_MAX + 1, 'A');
    g_assert_false(usbdisk_serial_check(long_serial, &error));
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

#define ADD(name, setup, fn) \
    g_test_add("/usbdisk-redir/" name, Fixture, NULL, setup, fn, fixture_teardown)
    ADD("connect-high", fixture_setup_high, test_connect_high);
    ADD("descriptors-high", fixture_setup_high, test_descriptors_high);
    ADD("descriptors-super", fixture_setup_super, test_descriptors_super);
    ADD("requests", fixture_setup_high, test_requests);
    ADD("bulk-command", fixture_setup_high, test_bulk_command);
    ADD("backpressure", fixture_setup_high, test_backpressure);
#undef ADD
    g_test_add_func("/usbdisk-redir/serial-check", test_serial_check);
    return g_test_run();
}
