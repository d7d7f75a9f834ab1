/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The emulated USB disk on a usbredir connection; see usbdisk-redir.h.
 */
#include "usbdisk-redir.h"

#include <string.h>

#include <gio/gio.h>
#include <usbredirfilter.h>
#include <usbredirparser.h>

#include "oriel-build-config.h"

/* pid.codes' vendor ID for open-source projects, with its test product ID. */
#define USBDISK_VENDOR_ID 0x1209
#define USBDISK_PRODUCT_ID 0x0001
#define USBDISK_DEVICE_BCD 0x0100

#define EP_BULK_IN 0x81
#define EP_BULK_OUT 0x02
/* The usbredir endpoint index: OUT endpoints 0..15, IN endpoints 16..31. */
#define EP_INDEX(address) ((((address) & 0x80) >> 3) | ((address) & 0x0f))

#define INTERFACE_CLASS_MASS_STORAGE 0x08
#define INTERFACE_SUBCLASS_SCSI 0x06
#define INTERFACE_PROTOCOL_BULK_ONLY 0x50

/* Standard requests, descriptor types and features (USB 3.2 chapter 9). */
enum {
    REQ_GET_STATUS = 0,
    REQ_CLEAR_FEATURE = 1,
    REQ_SET_FEATURE = 3,
    REQ_SET_ADDRESS = 5,
    REQ_GET_DESCRIPTOR = 6,
    REQ_GET_CONFIGURATION = 8,
    REQ_SET_CONFIGURATION = 9,
    REQ_GET_INTERFACE = 10,
    REQ_SET_INTERFACE = 11,
    REQ_SET_SEL = 48,
    REQ_SET_ISOCH_DELAY = 49,
    /* Bulk-Only class requests */
    REQ_BOMS_RESET = 0xff,
    REQ_GET_MAX_LUN = 0xfe,
};

enum {
    DT_DEVICE = 1,
    DT_CONFIG = 2,
    DT_STRING = 3,
    DT_INTERFACE = 4,
    DT_ENDPOINT = 5,
    DT_DEVICE_QUALIFIER = 6,
    DT_BOS = 15,
    DT_DEVICE_CAPABILITY = 16,
    DT_SS_ENDPOINT_COMPANION = 48,
};

#define FEATURE_ENDPOINT_HALT 0
#define STRING_MANUFACTURER 1
#define STRING_PRODUCT 2
#define STRING_SERIAL 3

/* Large enough for any descriptor this device has (string: 2 + 2 * 126). */
#define DESCRIPTOR_MAX 256

struct UsbdiskRedir {
    struct usbredirparser *parser;
    UsbdiskBot *bot;
    UsbdiskSpeed speed;
    char serial[USBDISK_SERIAL_MAX + 1];
    UsbdiskRedirOps ops;
    gpointer opaque;

    guint8 configuration;
    gboolean connected; /* device_connect sent */

    /* Bytes fed and not parsed yet: parsing pauses while the output queue
     * is full, see usbdisk_redir_wants_input(). */
    GByteArray *input;
    gsize input_pos;
    gboolean write_failed;
};

gboolean
usbdisk_serial_check(const char *serial, GError **error)
{
    gsize len = strlen(serial);

    if (len == 0 || len > USBDISK_SERIAL_MAX) {
        g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                    "serial \"%s\": must be 1 to %d characters", serial, USBDISK_SERIAL_MAX);
        return FALSE;
    }
    for (gsize i = 0; i < len; i++) {
        if (!g_ascii_isalnum(serial[i]) && !strchr("._-", serial[i])) {
            g_set_error(error, G_OPTION_ERROR, G_OPTION_ERROR_BAD_VALUE,
                        "serial \"%s\": only letters, digits, '.', '_' and '-' are allowed",
                        serial);
            return FALSE;
        }
    }
    return TRUE;
}

/* ---- descriptors ---------------------------------------------------------- */

static void
put_le16(guint8 *p, guint16 v)
{
    p[0] = v;
    p[1] = v >> 8;
}

static gsize
device_descriptor(UsbdiskRedir *redir, guint8 *d)
{
    gboolean super = redir->speed == USBDISK_SPEED_SUPER;

    memset(d, 0, 18);
    d[0] = 18;
    d[1] = DT_DEVICE;
    put_le16(d + 2, super ? 0x0320 : 0x0200);
    d[7] = super ? 9 : 64; /* bMaxPacketSize0: 2^9 for SuperSpeed */
    put_le16(d + 8, USBDISK_VENDOR_ID);
    put_le16(d + 10, USBDISK_PRODUCT_ID);
    put_le16(d + 12, USBDISK_DEVICE_BCD);
    d[14] = STRING_MANUFACTURER;
    d[15] = STRING_PRODUCT;
    d[16] = STRING_SERIAL;
    d[17] = 1; /* bNumConfigurations */
    return 18;
}

static gsize
endpoint_descriptor(UsbdiskRedir *redir, guint8 *d, guint8 address)
{
    gboolean super = redir->speed == USBDISK_SPEED_SUPER;

    d[0] = 7;
    d[1] = DT_ENDPOINT;
    d[2] = address;
    d[3] = 0x02; /* bulk */
    put_le16(d + 4, super ? 1024 : 512);
    d[6] = 0;
    if (!super)
        return 7;
    d[7] = 6;
    d[8] = DT_SS_ENDPOINT_COMPANION;
    d[9] = 0;  /* bMaxBurst */
    d[10] = 0; /* no streams */
    put_le16(d + 11, 0);
    return 13;
}

static gsize
config_descriptor(UsbdiskRedir *redir, guint8 *d)
{
    gsize len = 9;

    memset(d, 0, 9 + 9);
    d[0] = 9;
    d[1] = DT_CONFIG;
    d[4] = 1;    /* bNumInterfaces */
    d[5] = 1;    /* bConfigurationValue */
    d[7] = 0x80; /* bus powered */
    d[8] = redir->speed == USBDISK_SPEED_SUPER ? 100 / 8 : 100 / 2; /* 100 mA */

    guint8 *i = d + len;
    i[0] = 9;
    i[1] = DT_INTERFACE;
    i[4] = 2; /* bNumEndpoints */
    i[5] = INTERFACE_CLASS_MASS_STORAGE;
    i[6] = INTERFACE_SUBCLASS_SCSI;
    i[7] = INTERFACE_PROTOCOL_BULK_ONLY;
    len += 9;
    len += endpoint_descriptor(redir, d + len, EP_BULK_IN);
    len += endpoint_descriptor(redir, d + len, EP_BULK_OUT);
    put_le16(d + 2, len);
    return len;
}

static gsize
bos_descriptor(guint8 *d)
{
    memset(d, 0, 22);
    d[0] = 5;
    d[1] = DT_BOS;
    put_le16(d + 2, 22);
    d[4] = 2; /* bNumDeviceCaps */
    /* USB 2.0 extension: no LPM */
    d[5] = 7;
    d[6] = DT_DEVICE_CAPABILITY;
    d[7] = 0x02;
    /* SuperSpeed USB device capability: full, high and super speed; no U1/U2 */
    d[12] = 10;
    d[13] = DT_DEVICE_CAPABILITY;
    d[14] = 0x03;
    put_le16(d + 16, 0x000e);
    d[18] = 1; /* bFunctionalitySupport: full speed */
    return 22;
}

static gsize
device_qualifier_descriptor(guint8 *d)
{
    memset(d, 0, 10);
    d[0] = 10;
    d[1] = DT_DEVICE_QUALIFIER;
    put_le16(d + 2, 0x0200);
    d[7] = 64;
    d[8] = 1;
    return 10;
}

static gsize
string_descriptor(UsbdiskRedir *redir, guint index, guint8 *d)
{
    const char *str;

    switch (index) {
    case 0:
        d[0] = 4;
        d[1] = DT_STRING;
        put_le16(d + 2, 0x0409); /* English (United States) */
        return 4;
    case STRING_MANUFACTURER:
        str = "Oriel";
        break;
    case STRING_PRODUCT:
        str = "Oriel USB Disk";
        break;
    case STRING_SERIAL:
        str = redir->serial;
        break;
    default:
        return 0;
    }
    gsize n = MIN(strlen(str), (DESCRIPTOR_MAX - 2) / 2);
    d[0] = 2 + 2 * n;
    d[1] = DT_STRING;
    for (gsize i = 0; i < n; i++)
        put_le16(d + 2 + 2 * i, (guchar) str[i]);
    return 2 + 2 * n;
}

/* Fills d (DESCRIPTOR_MAX bytes) with the descriptor `value` names; 0 when
 * the device has no such descriptor. */
static gsize
get_descriptor(UsbdiskRedir *redir, guint16 value, guint8 *d)
{
    guint8 type = value >> 8;
    guint8 index = value & 0xff;

    switch (type) {
    case DT_DEVICE:
        return index == 0 ? device_descriptor(redir, d) : 0;
    case DT_CONFIG:
        return index == 0 ? config_descriptor(redir, d) : 0;
    case DT_STRING:
        return string_descriptor(redir, index, d);
    case DT_BOS:
        return redir->speed == USBDISK_SPEED_SUPER && index == 0 ? bos_descriptor(d) : 0;
    case DT_DEVICE_QUALIFIER:
        return redir->speed == USBDISK_SPEED_HIGH ? device_qualifier_descriptor(d) : 0;
    default:
        return 0;
    }
}

/* ---- what the device tells the guest side --------------------------------- */

static void
send_interface_and_ep_info(UsbdiskRedir *redir)
{
    struct usb_redir_interface_info_header interfaces = { 0 };
    struct usb_redir_ep_info_header eps;
    guint16 bulk_max = redir->speed == USBDISK_SPEED_SUPER ? 1024 : 512;

    memset(&eps, 0, sizeof eps);
    memset(eps.type, usb_redir_type_invalid, sizeof eps.type);
    eps.type[EP_INDEX(0x00)] = usb_redir_type_control;
    eps.type[EP_INDEX(0x80)] = usb_redir_type_control;
    eps.max_packet_size[EP_INDEX(0x00)] = redir->speed == USBDISK_SPEED_SUPER ? 512 : 64;
    eps.max_packet_size[EP_INDEX(0x80)] = eps.max_packet_size[EP_INDEX(0x00)];
    if (redir->configuration == 1) {
        interfaces.interface_count = 1;
        interfaces.interface[0] = 0;
        interfaces.interface_class[0] = INTERFACE_CLASS_MASS_STORAGE;
        interfaces.interface_subclass[0] = INTERFACE_SUBCLASS_SCSI;
        interfaces.interface_protocol[0] = INTERFACE_PROTOCOL_BULK_ONLY;
        eps.type[EP_INDEX(EP_BULK_IN)] = usb_redir_type_bulk;
        eps.type[EP_INDEX(EP_BULK_OUT)] = usb_redir_type_bulk;
        eps.max_packet_size[EP_INDEX(EP_BULK_IN)] = bulk_max;
        eps.max_packet_size[EP_INDEX(EP_BULK_OUT)] = bulk_max;
    }
    usbredirparser_send_interface_info(redir->parser, &interfaces);
    usbredirparser_send_ep_info(redir->parser, &eps);
}

/* ---- parser callbacks ----------------------------------------------------- */

static void
on_log(void *priv, int level, const char *msg)
{
    g_debug("usbredirparser: %s", msg);
}

static gboolean
output_full(UsbdiskRedir *redir)
{
    return usbredirparser_get_bufferered_output_size(redir->parser) >= USBDISK_REDIR_OUTPUT_LIMIT;
}

static int
on_read(void *priv, uint8_t *data, int count)
{
    UsbdiskRedir *redir = priv;
    gsize n = MIN((gsize) count, redir->input->len - redir->input_pos);

    if (n == 0 || output_full(redir))
        return 0; /* "would block" */
    memcpy(data, redir->input->data + redir->input_pos, n);
    redir->input_pos += n;
    if (redir->input_pos == redir->input->len) {
        g_byte_array_set_size(redir->input, 0);
        redir->input_pos = 0;
    }
    return n;
}

static int
on_write(void *priv, uint8_t *data, int count)
{
    UsbdiskRedir *redir = priv;
    int n = redir->ops.write(redir->opaque, data, count);

    if (n < 0)
        redir->write_failed = TRUE;
    return n;
}

static void
on_hello(void *priv, struct usb_redir_hello_header *hello)
{
    UsbdiskRedir *redir = priv;
    struct usb_redir_device_connect_header connect = {
        .speed = redir->speed == USBDISK_SPEED_SUPER ? usb_redir_speed_super
                                                     : usb_redir_speed_high,
        .device_class = 0,
        .device_subclass = 0,
        .device_protocol = 0,
        .vendor_id = USBDISK_VENDOR_ID,
        .product_id = USBDISK_PRODUCT_ID,
        .device_version_bcd = USBDISK_DEVICE_BCD,
    };
    char version[sizeof hello->version + 1];

    g_strlcpy(version, hello->version, sizeof version);
    g_debug("usbdisk: peer \"%s\"", version);
    if (redir->connected)
        return; /* a second hello: the peer is confused, ignore it */
    redir->connected = TRUE;
    send_interface_and_ep_info(redir);
    usbredirparser_send_device_connect(redir->parser, &connect);
}

static void
on_reset(void *priv)
{
    UsbdiskRedir *redir = priv;

    g_debug("usbdisk: bus reset");
    usbdisk_bot_bus_reset(redir->bot);
}

static void
on_set_configuration(void *priv, uint64_t id, struct usb_redir_set_configuration_header *set)
{
    UsbdiskRedir *redir = priv;
    struct usb_redir_configuration_status_header status = {
        .status = usb_redir_success,
        .configuration = set->configuration,
    };

    if (set->configuration > 1) {
        status.status = usb_redir_stall;
        status.configuration = redir->configuration;
    } else {
        redir->configuration = set->configuration;
        usbdisk_bot_bus_reset(redir->bot); /* endpoints start afresh */
        send_interface_and_ep_info(redir);
    }
    usbredirparser_send_configuration_status(redir->parser, id, &status);
}

static void
on_get_configuration(void *priv, uint64_t id)
{
    UsbdiskRedir *redir = priv;
    struct usb_redir_configuration_status_header status = {
        .status = usb_redir_success,
        .configuration = redir->configuration,
    };

    usbredirparser_send_configuration_status(redir->parser, id, &status);
}

static void
on_set_alt_setting(void *priv, uint64_t id, struct usb_redir_set_alt_setting_header *set)
{
    UsbdiskRedir *redir = priv;
    gboolean ok = redir->configuration == 1 && set->interface == 0 && set->alt == 0;
    struct usb_redir_alt_setting_status_header status = {
        .status = ok ? usb_redir_success : usb_redir_stall,
        .interface = set->interface,
        .alt = ok ? 0 : 0xff,
    };

    usbredirparser_send_alt_setting_status(redir->parser, id, &status);
}

static void
on_get_alt_setting(void *priv, uint64_t id, struct usb_redir_get_alt_setting_header *get)
{
    UsbdiskRedir *redir = priv;
    gboolean ok = redir->configuration == 1 && get->interface == 0;
    struct usb_redir_alt_setting_status_header status = {
        .status = ok ? usb_redir_success : usb_redir_inval,
        .interface = get->interface,
        .alt = ok ? 0 : 0xff,
    };

    usbredirparser_send_alt_setting_status(redir->parser, id, &status);
}

static void
on_start_iso_stream(void *priv, uint64_t id, struct usb_redir_start_iso_stream_header *start)
{
    UsbdiskRedir *redir = priv;
    struct usb_redir_iso_stream_status_header status = {
        .status = usb_redir_inval,
        .endpoint = start->endpoint,
    };

    usbredirparser_send_iso_stream_status(redir->parser, id, &status);
}

static void
on_stop_iso_stream(void *priv, uint64_t id, struct usb_redir_stop_iso_stream_header *stop)
{
    UsbdiskRedir *redir = priv;
    struct usb_redir_iso_stream_status_header status = {
        .status = usb_redir_inval,
        .endpoint = stop->endpoint,
    };

    usbredirparser_send_iso_stream_status(redir->parser, id, &status);
}

static void
on_start_interrupt_receiving(void *priv, uint64_t id,
                             struct usb_redir_start_interrupt_receiving_header *start)
{
    UsbdiskRedir *redir = priv;
    struct usb_redir_interrupt_receiving_status_header status = {
        .status = usb_redir_inval,
        .endpoint = start->endpoint,
    };

    usbredirparser_send_interrupt_receiving_status(redir->parser, id, &status);
}

static void
on_stop_interrupt_receiving(void *priv, uint64_t id,
                            struct usb_redir_stop_interrupt_receiving_header *stop)
{
    UsbdiskRedir *redir = priv;
    struct usb_redir_interrupt_receiving_status_header status = {
        .status = usb_redir_inval,
        .endpoint = stop->endpoint,
    };

    usbredirparser_send_interrupt_receiving_status(redir->parser, id, &status);
}

static void
on_alloc_bulk_streams(void *priv, uint64_t id, struct usb_redir_alloc_bulk_streams_header *alloc)
{
    UsbdiskRedir *redir = priv;
    struct usb_redir_bulk_streams_status_header status = {
        .endpoints = alloc->endpoints,
        .no_streams = alloc->no_streams,
        .status = usb_redir_inval,
    };

    usbredirparser_send_bulk_streams_status(redir->parser, id, &status);
}

static void
on_free_bulk_streams(void *priv, uint64_t id, struct usb_redir_free_bulk_streams_header *free_streams)
{
    UsbdiskRedir *redir = priv;
    struct usb_redir_bulk_streams_status_header status = {
        .endpoints = free_streams->endpoints,
        .no_streams = 0,
        .status = usb_redir_inval,
    };

    usbredirparser_send_bulk_streams_status(redir->parser, id, &status);
}

static void
on_start_bulk_receiving(void *priv, uint64_t id,
                        struct usb_redir_start_bulk_receiving_header *start)
{
    UsbdiskRedir *redir = priv;
    struct usb_redir_bulk_receiving_status_header status = {
        .stream_id = start->stream_id,
        .endpoint = start->endpoint,
        .status = usb_redir_inval,
    };

    usbredirparser_send_bulk_receiving_status(redir->parser, id, &status);
}

static void
on_stop_bulk_receiving(void *priv, uint64_t id,
                       struct usb_redir_stop_bulk_receiving_header *stop)
{
    UsbdiskRedir *redir = priv;
    struct usb_redir_bulk_receiving_status_header status = {
        .stream_id = stop->stream_id,
        .endpoint = stop->endpoint,
        .status = usb_redir_inval,
    };

    usbredirparser_send_bulk_receiving_status(redir->parser, id, &status);
}

static void
on_cancel_data_packet(void *priv, uint64_t id)
{
    /* Every packet was answered when it arrived; the answer is on its way
     * and the peer drops it, as it does for any cancelled packet. */
    g_debug("usbdisk: cancel of packet %" G_GUINT64_FORMAT " (already answered)", (guint64) id);
}

static void
on_filter_filter(void *priv, struct usbredirfilter_rule *rules, int rules_count)
{
    usbredirfilter_free(rules);
}

static void
on_filter_reject(void *priv)
{
    g_debug("usbdisk: the peer rejected the device");
}

/* The packets below only ever travel from a usb-host to a usb-guest, and
 * the parser drops them in this direction; every callback is set anyway,
 * because the parser calls what it finds without checking for NULL. */
static void
on_no_event(void *priv)
{
}

static void
on_device_connect(void *priv, struct usb_redir_device_connect_header *h)
{
}

static void
on_interface_info(void *priv, struct usb_redir_interface_info_header *h)
{
}

static void
on_ep_info(void *priv, struct usb_redir_ep_info_header *h)
{
}

static void
on_configuration_status(void *priv, uint64_t id, struct usb_redir_configuration_status_header *h)
{
}

static void
on_alt_setting_status(void *priv, uint64_t id, struct usb_redir_alt_setting_status_header *h)
{
}

static void
on_iso_stream_status(void *priv, uint64_t id, struct usb_redir_iso_stream_status_header *h)
{
}

static void
on_interrupt_receiving_status(void *priv, uint64_t id,
                              struct usb_redir_interrupt_receiving_status_header *h)
{
}

static void
on_bulk_streams_status(void *priv, uint64_t id, struct usb_redir_bulk_streams_status_header *h)
{
}

static void
on_bulk_receiving_status(void *priv, uint64_t id,
                         struct usb_redir_bulk_receiving_status_header *h)
{
}

/* Answers a standard, class or vendor control request.  Returns the
 * usbredir status; for IN requests, fills reply (DESCRIPTOR_MAX bytes) and
 * *reply_len. */
static guint8
handle_control(UsbdiskRedir *redir, const struct usb_redir_control_packet_header *c,
               const guint8 *data, int data_len, guint8 *reply, gsize *reply_len)
{
    guint8 recipient = c->requesttype & 0x1f;
    guint8 type = (c->requesttype >> 5) & 0x03;
    gboolean in = (c->requesttype & 0x80) != 0;

    *reply_len = 0;
    if (type == 1) { /* class */
        if (recipient != 1 || c->index != 0 || redir->configuration != 1)
            return usb_redir_stall;
        if (c->request == REQ_GET_MAX_LUN && in && c->value == 0) {
            reply[0] = 0; /* one logical unit */
            *reply_len = 1;
            return usb_redir_success;
        }
        if (c->request == REQ_BOMS_RESET && !in && c->value == 0 && c->length == 0) {
            g_debug("usbdisk: bulk-only mass storage reset");
            usbdisk_bot_mass_storage_reset(redir->bot);
            return usb_redir_success;
        }
        return usb_redir_stall;
    }
    if (type != 0)
        return usb_redir_stall; /* no vendor requests */

    switch (c->request) {
    case REQ_GET_DESCRIPTOR:
        if (!in || recipient != 0)
            return usb_redir_stall;
        *reply_len = get_descriptor(redir, c->value, reply);
        return *reply_len > 0 ? usb_redir_success : usb_redir_stall;
    case REQ_GET_STATUS:
        if (!in)
            return usb_redir_stall;
        memset(reply, 0, 2);
        *reply_len = 2;
        if (recipient == 2) {
            guint8 ep = c->index & 0xff;
            if (ep == EP_BULK_IN || ep == EP_BULK_OUT)
                reply[0] = usbdisk_bot_is_halted(redir->bot, ep == EP_BULK_IN) ? 1 : 0;
            else if ((ep & 0x7f) != 0)
                return usb_redir_stall;
        }
        return usb_redir_success;
    case REQ_CLEAR_FEATURE:
    case REQ_SET_FEATURE:
        if (in)
            return usb_redir_stall;
        if (recipient == 2) {
            guint8 ep = c->index & 0xff;
            if (c->value != FEATURE_ENDPOINT_HALT)
                return usb_redir_stall;
            if (ep == EP_BULK_IN || ep == EP_BULK_OUT) {
                if (c->request == REQ_CLEAR_FEATURE)
                    usbdisk_bot_clear_halt(redir->bot, ep == EP_BULK_IN);
                else
                    usbdisk_bot_set_halt(redir->bot, ep == EP_BULK_IN);
                return usb_redir_success;
            }
            return (ep & 0x7f) == 0 ? usb_redir_success : usb_redir_stall;
        }
        /* Device and interface features (remote wakeup, U1/U2 enable,
         * function suspend) change nothing here. */
        return recipient <= 1 ? usb_redir_success : usb_redir_stall;
    case REQ_GET_CONFIGURATION:
        if (!in)
            return usb_redir_stall;
        reply[0] = redir->configuration;
        *reply_len = 1;
        return usb_redir_success;
    case REQ_GET_INTERFACE:
        if (!in || redir->configuration != 1 || c->index != 0)
            return usb_redir_stall;
        reply[0] = 0;
        *reply_len = 1;
        return usb_redir_success;
    case REQ_SET_ADDRESS:
    case REQ_SET_ISOCH_DELAY:
        return in ? usb_redir_stall : usb_redir_success;
    case REQ_SET_SEL:
        return !in && data_len == 6 ? usb_redir_success : usb_redir_stall;
    default:
        return usb_redir_stall;
    }
}

static void
on_control_packet(void *priv, uint64_t id, struct usb_redir_control_packet_header *control,
                  uint8_t *data, int data_len)
{
    UsbdiskRedir *redir = priv;
    struct usb_redir_control_packet_header reply_header = *control;
    guint8 reply[DESCRIPTOR_MAX];
    gsize reply_len = 0;
    gboolean in = (control->requesttype & 0x80) != 0;

    if ((control->endpoint & 0x7f) != 0) {
        reply_header.status = usb_redir_inval;
        reply_header.length = 0;
    } else {
        reply_header.status = handle_control(redir, control, data, data_len, reply, &reply_len);
        if (in) {
            reply_len = MIN(reply_len, (gsize) control->length);
            reply_header.length = reply_header.status == usb_redir_success ? reply_len : 0;
        } else {
            reply_header.length = reply_header.status == usb_redir_success ? data_len : 0;
            reply_len = 0;
        }
    }
    g_debug("usbdisk: control %02x %02x value %04x index %04x length %u: status %u, %u bytes",
            control->requesttype, control->request, control->value, control->index,
            control->length, reply_header.status, reply_header.length);
    if (!in || reply_header.status != usb_redir_success)
        reply_len = 0;
    usbredirparser_send_control_packet(redir->parser, id, &reply_header,
                                       reply_len ? reply : NULL, reply_len);
    if (data)
        usbredirparser_free_packet_data(redir->parser, data);
}

static void
on_bulk_packet(void *priv, uint64_t id, struct usb_redir_bulk_packet_header *bulk, uint8_t *data,
               int data_len)
{
    UsbdiskRedir *redir = priv;
    struct usb_redir_bulk_packet_header reply_header = *bulk;
    guint32 length = ((guint32) bulk->length_high << 16) | bulk->length;
    g_autofree guint8 *in_data = NULL;
    gsize done = 0;

    if (redir->configuration != 1 || bulk->stream_id != 0 ||
        (bulk->endpoint != EP_BULK_IN && bulk->endpoint != EP_BULK_OUT)) {
        reply_header.status = usb_redir_inval;
    } else if (bulk->endpoint == EP_BULK_IN) {
        reply_header.status = usbdisk_bot_bulk_in(redir->bot, length, &in_data, &done)
                                      == USBDISK_BULK_OK
                                  ? usb_redir_success
                                  : usb_redir_stall;
    } else {
        reply_header.status = usbdisk_bot_bulk_out(redir->bot, data, data_len, &done)
                                      == USBDISK_BULK_OK
                                  ? usb_redir_success
                                  : usb_redir_stall;
    }
    g_debug("usbdisk: bulk %02x id %" G_GUINT64_FORMAT " length %u: status %u, %zu bytes",
            bulk->endpoint, (guint64) id, length, reply_header.status, done);
    reply_header.length = done & 0xffff;
    reply_header.length_high = done >> 16;
    usbredirparser_send_bulk_packet(redir->parser, id, &reply_header, in_data, in_data ? done : 0);
    if (data)
        usbredirparser_free_packet_data(redir->parser, data);
}

static void
on_iso_packet(void *priv, uint64_t id, struct usb_redir_iso_packet_header *iso, uint8_t *data,
              int data_len)
{
    UsbdiskRedir *redir = priv;

    if (data)
        usbredirparser_free_packet_data(redir->parser, data);
}

static void
on_interrupt_packet(void *priv, uint64_t id, struct usb_redir_interrupt_packet_header *interrupt,
                    uint8_t *data, int data_len)
{
    UsbdiskRedir *redir = priv;
    struct usb_redir_interrupt_packet_header reply_header = *interrupt;

    reply_header.status = usb_redir_inval;
    reply_header.length = 0;
    usbredirparser_send_interrupt_packet(redir->parser, id, &reply_header, NULL, 0);
    if (data)
        usbredirparser_free_packet_data(redir->parser, data);
}

static void
on_buffered_bulk_packet(void *priv, uint64_t id,
                        struct usb_redir_buffered_bulk_packet_header *header, uint8_t *data,
                        int data_len)
{
    UsbdiskRedir *redir = priv;

    if (data)
        usbredirparser_free_packet_data(redir->parser, data);
}

/* ---- public --------------------------------------------------------------- */

UsbdiskRedir *
usbdisk_redir_new(UsbdiskBot *bot, UsbdiskSpeed speed, const char *serial,
                  const UsbdiskRedirOps *ops, gpointer opaque)
{
    UsbdiskRedir *redir = g_new0(UsbdiskRedir, 1);
    struct usbredirparser *p;
    uint32_t caps[USB_REDIR_CAPS_SIZE] = { 0 };

    redir->bot = bot;
    redir->speed = speed;
    g_strlcpy(redir->serial, serial, sizeof redir->serial);
    redir->ops = *ops;
    redir->opaque = opaque;
    redir->configuration = 1;
    redir->input = g_byte_array_new();

    p = usbredirparser_create();
    g_assert(p != NULL);
    p->priv = redir;
    p->log_func = on_log;
    p->read_func = on_read;
    p->write_func = on_write;
    p->hello_func = on_hello;
    p->reset_func = on_reset;
    p->set_configuration_func = on_set_configuration;
    p->get_configuration_func = on_get_configuration;
    p->set_alt_setting_func = on_set_alt_setting;
    p->get_alt_setting_func = on_get_alt_setting;
    p->start_iso_stream_func = on_start_iso_stream;
    p->stop_iso_stream_func = on_stop_iso_stream;
    p->start_interrupt_receiving_func = on_start_interrupt_receiving;
    p->stop_interrupt_receiving_func = on_stop_interrupt_receiving;
    p->alloc_bulk_streams_func = on_alloc_bulk_streams;
    p->free_bulk_streams_func = on_free_bulk_streams;
    p->start_bulk_receiving_func = on_start_bulk_receiving;
    p->stop_bulk_receiving_func = on_stop_bulk_receiving;
    p->cancel_data_packet_func = on_cancel_data_packet;
    p->filter_filter_func = on_filter_filter;
    p->filter_reject_func = on_filter_reject;
    p->device_disconnect_ack_func = on_no_event;
    p->device_connect_func = on_device_connect;
    p->device_disconnect_func = on_no_event;
    p->interface_info_func = on_interface_info;
    p->ep_info_func = on_ep_info;
    p->configuration_status_func = on_configuration_status;
    p->alt_setting_status_func = on_alt_setting_status;
    p->iso_stream_status_func = on_iso_stream_status;
    p->interrupt_receiving_status_func = on_interrupt_receiving_status;
    p->bulk_streams_status_func = on_bulk_streams_status;
    p->bulk_receiving_status_func = on_bulk_receiving_status;
    p->control_packet_func = on_control_packet;
    p->bulk_packet_func = on_bulk_packet;
    p->iso_packet_func = on_iso_packet;
    p->interrupt_packet_func = on_interrupt_packet;
    p->buffered_bulk_packet_func = on_buffered_bulk_packet;

    /* What QEMU needs from a usb-host to redirect to xHCI, and what it
     * uses to skip parsing work. */
    usbredirparser_caps_set_cap(caps, usb_redir_cap_connect_device_version);
    usbredirparser_caps_set_cap(caps, usb_redir_cap_filter);
    usbredirparser_caps_set_cap(caps, usb_redir_cap_device_disconnect_ack);
    usbredirparser_caps_set_cap(caps, usb_redir_cap_ep_info_max_packet_size);
    usbredirparser_caps_set_cap(caps, usb_redir_cap_64bits_ids);
    usbredirparser_caps_set_cap(caps, usb_redir_cap_32bits_bulk_length);
    usbredirparser_init(p, "oriel-usbdisk " ORIEL_VERSION, caps, USB_REDIR_CAPS_SIZE,
                        usbredirparser_fl_usb_host);
    redir->parser = p;
    return redir;
}

void
usbdisk_redir_free(UsbdiskRedir *redir)
{
    if (!redir)
        return;
    if (redir->parser)
        usbredirparser_destroy(redir->parser);
    g_byte_array_unref(redir->input);
    g_free(redir);
}

static gboolean
write_error(UsbdiskRedir *redir, GError **error)
{
    g_set_error_literal(error, G_IO_ERROR, G_IO_ERROR_BROKEN_PIPE,
                        "writing to the usbredir peer failed");
    return FALSE;
}

/* Parses what input there is, as far as the output queue allows. */
static void
parse_input(UsbdiskRedir *redir)
{
    for (;;) {
        gsize before = redir->input->len - redir->input_pos;
        int r = usbredirparser_do_read(redir->parser);

        if (r != usbredirparser_read_parse_error)
            break;
        g_debug("usbdisk: skipped a malformed usbredir packet");
        /* The parser skips the bad packet; stop if it made no progress. */
        gsize after = redir->input->len - redir->input_pos;
        if (after == 0 || after == before)
            break;
    }
}

gboolean
usbdisk_redir_feed(UsbdiskRedir *redir, const guint8 *data, gsize len, GError **error)
{
    g_byte_array_append(redir->input, data, len);
    parse_input(redir);
    if (redir->write_failed)
        return write_error(redir, error);
    if (!usbdisk_redir_flush(redir, error))
        return FALSE;
    /* The answers are out; the host's next step is likely the data-in
     * request of a READ just accepted: have its data ready. */
    usbdisk_bot_read_ahead(redir->bot);
    return TRUE;
}

gboolean
usbdisk_redir_flush(UsbdiskRedir *redir, GError **error)
{
    for (;;) {
        if (usbredirparser_has_data_to_write(redir->parser) &&
            usbredirparser_do_write(redir->parser) < 0)
            redir->write_failed = TRUE;
        if (redir->write_failed)
            return write_error(redir, error);
        /* Room again: go on with input parsing stopped at. */
        if (redir->input_pos == redir->input->len || output_full(redir))
            return TRUE;
        parse_input(redir);
    }
}

gboolean
usbdisk_redir_wants_input(UsbdiskRedir *redir)
{
    return redir->input_pos == redir->input->len && !output_full(redir);
}

guint64
usbdisk_redir_pending_output(UsbdiskRedir *redir)
{
    return usbredirparser_get_bufferered_output_size(redir->parser);
}
