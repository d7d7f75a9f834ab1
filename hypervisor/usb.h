/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Host-side USB disks: a raw image handed to a running domain as a USB
 * mass-storage device.  Each attachment is one oriel-usbdisk helper
 * (devmodel/) serving the image over usbredir on a Unix socket in the
 * domain's runtime dir, and one usb-redir device in QEMU on a chardev that
 * connects to it (QMP chardev-add, device_add; device_del, DEVICE_DELETED,
 * chardev-remove to remove it).  Helpers run in their own session, like
 * QEMU, and the attachments are recorded in RUNTIME/domains/NAME/usb.json:
 * a restarted orield re-adopts them.  Not installed; tests and the fuzz
 * target link it through liboriel-hv.
 */
#pragma once

#include <json-glib/json-glib.h>

#include "hv-priv.h"
#include "qemu-argv.h" /* ORIEL_USB_ATTACH_MAX */

G_BEGIN_DECLS

typedef enum {
    ORIEL_HV_USB_SPEED_DEFAULT, /* super on xHCI (usbversion 3), high on EHCI */
    ORIEL_HV_USB_SPEED_HIGH,
    ORIEL_HV_USB_SPEED_SUPER,
} OrielHvUsbSpeed;

/* The arguments of domain-usb-attach, checked without touching any file. */
typedef struct {
    const char *name;  /* borrowed from the arguments */
    const char *disk;  /* absolute path, borrowed */
    gboolean read_only;
    OrielHvUsbSpeed speed;
} OrielHvUsbAttachRequest;

/*
 * Pure checks of a request's arguments (types, unknown members, lengths,
 * an absolute disk path, a known speed, an ID of the form usbN); errors are
 * ORIEL_HV_ERROR_INVALID_ARGUMENT naming the argument.
 */
gboolean oriel_hv_usb_parse_attach(JsonObject *arguments, OrielHvUsbAttachRequest *ret_request, GError **error);
gboolean oriel_hv_usb_parse_detach(JsonObject *arguments, const char **ret_name, guint *ret_index, GError **error);
gboolean oriel_hv_usb_parse_list(JsonObject *arguments, const char **ret_name, GError **error);

/*
 * Whether the mode bits of @st let a client with @uid and the groups
 * @groups (@n_groups of them) read the image, and write it unless
 * @read_only: orield may run as root for the clients of the group oriel,
 * and must not hand them an image they could not open themselves.
 */
gboolean oriel_hv_usb_mode_allows(uid_t uid, const gid_t *groups, gsize n_groups, uid_t file_uid, gid_t file_gid,
                                  mode_t file_mode, gboolean read_only);

/* The commands (commands.c's table). */
void oriel_hv_cmd_domain_usb_attach(OrielHv *hv, OrielHvCall *call, JsonObject *arguments);
void oriel_hv_cmd_domain_usb_detach(OrielHv *hv, OrielHvCall *call, JsonObject *arguments);
void oriel_hv_cmd_domain_usb_list(OrielHv *hv, OrielHvCall *call, JsonObject *arguments);

/* Hooks of the domain's lifecycle (domain.c). */
/* QEMU is gone: stop every helper, fail pending calls, forget the record. */
void oriel_hv_usb_domain_stopped(OrielHvDomain *domain);
/* QEMU is gone and orield starts a new one (a "restart" policy): keep the
 * attachments and their helpers, to be plugged in again. */
void oriel_hv_usb_domain_restarting(OrielHvDomain *domain);
/* The new QEMU's QMP is up: plug in what oriel_hv_usb_domain_restarting()
 * kept; a failed re-plug leaves that attachment failed, with the reason. */
void oriel_hv_usb_domain_started(OrielHvDomain *domain);
/* After a reattach: re-adopt the helpers of RUNTIME/domains/NAME/usb.json
 * (@qemu_running), or stop them and remove the record (QEMU is gone). */
void oriel_hv_usb_recover(OrielHvDomain *domain, gboolean qemu_running);
/* The daemon lets go of the domain: helpers keep running for the next one. */
void oriel_hv_usb_forget(OrielHvDomain *domain);

G_END_DECLS
