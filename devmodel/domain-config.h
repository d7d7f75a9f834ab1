/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The domain config model: what a desktop VM is, independent of where it
 * came from (an xl.cfg file, the daemon's JSON) and of how it runs (the QEMU
 * argv builder).  A plain struct, like libxl_domain_config: every layer above
 * devmodel/ reads it, and the parser fills it in.
 *
 * Ownership: every string and array below is owned by the config and freed
 * by oriel_domain_config_free().
 */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

#define ORIEL_DEVMODEL_ERROR (oriel_devmodel_error_quark())
GQuark oriel_devmodel_error_quark(void);

typedef enum {
    ORIEL_DEVMODEL_ERROR_INVALID,     /* a value out of range or inconsistent */
    ORIEL_DEVMODEL_ERROR_UNSUPPORTED, /* valid, but not on this host / accelerator */
    ORIEL_DEVMODEL_ERROR_NOT_FOUND,   /* a file the config names is missing */
    ORIEL_DEVMODEL_ERROR_FAILED,      /* anything else */
} OrielDevmodelError;

/* Limits enforced by validation. */
#define ORIEL_MEMORY_MIN_MIB 16u
#define ORIEL_MEMORY_MAX_MIB (4u * 1024u * 1024u) /* 4 TiB */
#define ORIEL_VCPUS_MAX 255u
#define ORIEL_CPU_WEIGHT_MIN 1
#define ORIEL_CPU_WEIGHT_MAX 65535
#define ORIEL_CPU_WEIGHT_DEFAULT 256
#define ORIEL_VIDEORAM_MAX_MIB 1024u
#define ORIEL_USBREDIR_MAX 16u
#define ORIEL_DISKS_MAX 64u
#define ORIEL_NICS_MAX 16u
#define ORIEL_NAME_MAX 64u

typedef enum {
    ORIEL_DOMAIN_TYPE_HVM, /* q35, SeaBIOS or OVMF */
    ORIEL_DOMAIN_TYPE_PVH, /* microvm, direct kernel boot */
} OrielDomainType;

typedef enum {
    ORIEL_FIRMWARE_SEABIOS, /* xl: bios, seabios */
    ORIEL_FIRMWARE_OVMF,    /* xl: uefi, ovmf */
} OrielFirmware;

typedef enum {
    ORIEL_VGA_DEFAULT, /* resolved by validation: qxl with SPICE, else stdvga */
    ORIEL_VGA_QXL,
    ORIEL_VGA_STDVGA,
    ORIEL_VGA_NONE,
} OrielVga;

typedef enum {
    ORIEL_ACTION_DESTROY,
    ORIEL_ACTION_RESTART,
    ORIEL_ACTION_PRESERVE,
} OrielLifecycleAction;

typedef enum {
    ORIEL_DISK_FORMAT_RAW,
    ORIEL_DISK_FORMAT_QCOW2,
    ORIEL_DISK_FORMAT_QCOW,
    ORIEL_DISK_FORMAT_VHD,
    ORIEL_DISK_FORMAT_QED,
} OrielDiskFormat;

typedef enum {
    ORIEL_SOUND_NONE,
    ORIEL_SOUND_HDA,
    ORIEL_SOUND_AC97,
} OrielSoundHw;

/* Where the sound card's audio goes (xl-ish key audio_backend). */
typedef enum {
    ORIEL_AUDIO_BACKEND_DEFAULT, /* resolved by validation: spice with SPICE, else none */
    ORIEL_AUDIO_BACKEND_SPICE,   /* to the SPICE client (needs spice = 1) */
    ORIEL_AUDIO_BACKEND_PA,      /* the host's PulseAudio (only without SPICE) */
    ORIEL_AUDIO_BACKEND_NONE,    /* the card exists, its sound goes nowhere */
} OrielAudioBackend;

typedef struct {
    char *target;           /* path of the image; NULL for an empty CD-ROM drive */
    OrielDiskFormat format; /* default raw */
    char *vdev;             /* xvda, hda, sdb, ...: required */
    gboolean read_only;     /* access=ro */
    gboolean cdrom;         /* devtype=cdrom (implies read_only) */
} OrielDiskConfig;

typedef struct {
    char *model; /* e1000 (default), virtio-net, rtl8139 */
    char *mac;   /* aa:bb:cc:dd:ee:ff or NULL for QEMU's default */
} OrielNicConfig;

typedef struct {
    gboolean enabled;              /* spice=1 */
    char *host;                    /* spicehost; default 127.0.0.1 */
    guint port;                    /* spiceport; 0 = pick a free one at start */
    guint tls_port;                /* spicetls_port; 0 = no TLS */
    gboolean disable_ticketing;    /* spicedisable_ticketing */
    char *password;                /* spicepasswd; never put in argv */
    gboolean agent_mouse;          /* spiceagent_mouse, default 1 */
    gboolean vdagent;              /* spicevdagent */
    gboolean clipboard_sharing;    /* spice_clipboard_sharing */
    guint usbredirection;          /* spiceusbredirection: usbredir channels */
    char *image_compression;       /* spice_image_compression or NULL */
    char *streaming_video;         /* spice_streaming_video or NULL */
    gboolean tls_only;             /* spice_tls_only: every channel must use spicetls_port */
} OrielSpiceConfig;

typedef struct {
    char *name;
    OrielDomainType type;
    guint64 memory_mib;    /* memory */
    guint64 maxmem_mib;    /* maxmem; 0 = same as memory */
    guint vcpus;           /* vcpus, default 1 */
    guint maxvcpus;        /* maxvcpus; 0 = same as vcpus */
    char *cpus;            /* cpus: affinity as written, e.g. "0-3,^1"; or NULL */
    gint cpu_weight;       /* cpu_weight, default ORIEL_CPU_WEIGHT_DEFAULT */
    gint cap;              /* cap in percent of one CPU; 0 = none */
    char *kernel;
    char *ramdisk;
    char *cmdline;         /* cmdline (or root+extra joined by the parser) */
    OrielFirmware firmware;
    char *boot;            /* boot order, e.g. "cd"; NULL = default */
    GPtrArray *disks;      /* of OrielDiskConfig *, never NULL */
    GPtrArray *nics;       /* of OrielNicConfig *, never NULL */
    OrielVga vga;
    guint videoram_mib;    /* 0 = device default */
    OrielLifecycleAction on_poweroff;
    OrielLifecycleAction on_reboot;
    OrielLifecycleAction on_crash;
    OrielSpiceConfig spice;
    OrielSoundHw soundhw;
    OrielAudioBackend audio_backend; /* audio_backend */
    gboolean usb;          /* usb=1: a USB controller */
    guint usbversion;      /* 1, 2 or 3; 0 = default (3 when usb or usbredir) */
    char *serial;          /* "unix" (default, in the runtime dir), "none" or "pty" */
    gboolean nestedhvm;
    GPtrArray *device_model_args; /* of char *, never NULL: extra QEMU args */
} OrielDomainConfig;

/* A config with every default set (type hvm, 1 vcpu, 512 MiB, ...). */
OrielDomainConfig *oriel_domain_config_new(void);
void oriel_domain_config_free(OrielDomainConfig *config);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(OrielDomainConfig, oriel_domain_config_free)

OrielDiskConfig *oriel_disk_config_new(void);
void oriel_disk_config_free(OrielDiskConfig *disk);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(OrielDiskConfig, oriel_disk_config_free)

OrielNicConfig *oriel_nic_config_new(void);
void oriel_nic_config_free(OrielNicConfig *nic);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(OrielNicConfig, oriel_nic_config_free)

/*
 * Checks ranges and consistency and resolves defaults (vga, maxmem,
 * maxvcpus, usbversion).  Pure: touches no file.  On failure the error is
 * ORIEL_DEVMODEL_ERROR_INVALID and names the key, e.g.
 * "memory: 8 MiB is below the minimum of 16 MiB".
 */
gboolean oriel_domain_config_validate(OrielDomainConfig *config, GError **error);

/* Checks that the files the config names exist (kernel, ramdisk, disks). */
gboolean oriel_domain_config_check_files(const OrielDomainConfig *config, GError **error);

/* JSON round trip.  Keys are the xl.cfg names.  to_json masks the SPICE
 * password as "********" when mask_secrets is TRUE. */
JsonNode *oriel_domain_config_to_json(const OrielDomainConfig *config, gboolean mask_secrets);
OrielDomainConfig *oriel_domain_config_from_json(JsonNode *node, GError **error);

/* Enum <-> xl.cfg names.  from_string returns FALSE for an unknown name. */
const char *oriel_domain_type_to_string(OrielDomainType type);
gboolean oriel_domain_type_from_string(const char *s, OrielDomainType *ret);
const char *oriel_firmware_to_string(OrielFirmware firmware);
gboolean oriel_firmware_from_string(const char *s, OrielFirmware *ret);
const char *oriel_vga_to_string(OrielVga vga);
gboolean oriel_vga_from_string(const char *s, OrielVga *ret);
const char *oriel_lifecycle_action_to_string(OrielLifecycleAction action);
gboolean oriel_lifecycle_action_from_string(const char *s, OrielLifecycleAction *ret);
const char *oriel_disk_format_to_string(OrielDiskFormat format);
gboolean oriel_disk_format_from_string(const char *s, OrielDiskFormat *ret);
const char *oriel_sound_hw_to_string(OrielSoundHw sound);
gboolean oriel_sound_hw_from_string(const char *s, OrielSoundHw *ret);
const char *oriel_audio_backend_to_string(OrielAudioBackend backend);
gboolean oriel_audio_backend_from_string(const char *s, OrielAudioBackend *ret);

/* TRUE for 127.0.0.0/8, ::1 and "localhost". */
gboolean oriel_host_is_loopback(const char *host);

G_END_DECLS
