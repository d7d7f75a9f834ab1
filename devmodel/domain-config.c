/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "domain-config.h"

#include <arpa/inet.h>
#include <string.h>

G_DEFINE_QUARK(oriel-devmodel-error-quark, oriel_devmodel_error)

/* ---- enum names ------------------------------------------------------ */

typedef struct {
    const char *name;
    int value;
} NameValue;

static const char *
name_of(const NameValue *table, gsize n, int value)
{
    for (gsize i = 0; i < n; i++)
        if (table[i].value == value)
            return table[i].name;
    return NULL;
}

static gboolean
value_of(const NameValue *table, gsize n, const char *name, int *ret)
{
    if (!name)
        return FALSE;
    for (gsize i = 0; i < n; i++) {
        if (g_str_equal(table[i].name, name)) {
            *ret = table[i].value;
            return TRUE;
        }
    }
    return FALSE;
}

/* The first name of each value is the canonical one; later ones are xl
 * aliases accepted on input. */
#define DEFINE_ENUM_NAMES(prefix, Type, ...)                                   \
    static const NameValue prefix##_names[] = { __VA_ARGS__ };                 \
    const char *oriel_##prefix##_to_string(Type value)                         \
    {                                                                          \
        return name_of(prefix##_names, G_N_ELEMENTS(prefix##_names), value);  \
    }                                                                          \
    gboolean oriel_##prefix##_from_string(const char *s, Type *ret)            \
    {                                                                          \
        int value;                                                             \
        if (!value_of(prefix##_names, G_N_ELEMENTS(prefix##_names), s, &value)) \
            return FALSE;                                                      \
        *ret = (Type)value;                                                    \
        return TRUE;                                                           \
    }

DEFINE_ENUM_NAMES(domain_type, OrielDomainType,
                  { "hvm", ORIEL_DOMAIN_TYPE_HVM },
                  { "pvh", ORIEL_DOMAIN_TYPE_PVH })
DEFINE_ENUM_NAMES(firmware, OrielFirmware,
                  { "seabios", ORIEL_FIRMWARE_SEABIOS },
                  { "ovmf", ORIEL_FIRMWARE_OVMF },
                  { "bios", ORIEL_FIRMWARE_SEABIOS },
                  { "uefi", ORIEL_FIRMWARE_OVMF })
DEFINE_ENUM_NAMES(vga, OrielVga,
                  { "default", ORIEL_VGA_DEFAULT },
                  { "qxl", ORIEL_VGA_QXL },
                  { "stdvga", ORIEL_VGA_STDVGA },
                  { "none", ORIEL_VGA_NONE })
DEFINE_ENUM_NAMES(lifecycle_action, OrielLifecycleAction,
                  { "destroy", ORIEL_ACTION_DESTROY },
                  { "restart", ORIEL_ACTION_RESTART },
                  { "preserve", ORIEL_ACTION_PRESERVE })
DEFINE_ENUM_NAMES(disk_format, OrielDiskFormat,
                  { "raw", ORIEL_DISK_FORMAT_RAW },
                  { "qcow2", ORIEL_DISK_FORMAT_QCOW2 },
                  { "qcow", ORIEL_DISK_FORMAT_QCOW },
                  { "vhd", ORIEL_DISK_FORMAT_VHD },
                  { "qed", ORIEL_DISK_FORMAT_QED })
DEFINE_ENUM_NAMES(sound_hw, OrielSoundHw,
                  { "none", ORIEL_SOUND_NONE },
                  { "hda", ORIEL_SOUND_HDA },
                  { "ac97", ORIEL_SOUND_AC97 })
DEFINE_ENUM_NAMES(audio_backend, OrielAudioBackend,
                  { "default", ORIEL_AUDIO_BACKEND_DEFAULT },
                  { "spice", ORIEL_AUDIO_BACKEND_SPICE },
                  { "pa", ORIEL_AUDIO_BACKEND_PA },
                  { "none", ORIEL_AUDIO_BACKEND_NONE })

/* ---- construction ---------------------------------------------------- */

OrielDiskConfig *
oriel_disk_config_new(void)
{
    OrielDiskConfig *disk = g_new0(OrielDiskConfig, 1);
    disk->format = ORIEL_DISK_FORMAT_RAW;
    return disk;
}

void
oriel_disk_config_free(OrielDiskConfig *disk)
{
    if (!disk)
        return;
    g_free(disk->target);
    g_free(disk->vdev);
    g_free(disk);
}

OrielNicConfig *
oriel_nic_config_new(void)
{
    return g_new0(OrielNicConfig, 1);
}

void
oriel_nic_config_free(OrielNicConfig *nic)
{
    if (!nic)
        return;
    g_free(nic->model);
    g_free(nic->mac);
    g_free(nic);
}

OrielDomainConfig *
oriel_domain_config_new(void)
{
    OrielDomainConfig *config = g_new0(OrielDomainConfig, 1);

    config->type = ORIEL_DOMAIN_TYPE_HVM;
    config->memory_mib = 512;
    config->vcpus = 1;
    config->cpu_weight = ORIEL_CPU_WEIGHT_DEFAULT;
    config->firmware = ORIEL_FIRMWARE_SEABIOS;
    config->disks = g_ptr_array_new_with_free_func((GDestroyNotify)oriel_disk_config_free);
    config->nics = g_ptr_array_new_with_free_func((GDestroyNotify)oriel_nic_config_free);
    config->vga = ORIEL_VGA_DEFAULT;
    config->on_poweroff = ORIEL_ACTION_DESTROY;
    config->on_reboot = ORIEL_ACTION_RESTART;
    config->on_crash = ORIEL_ACTION_DESTROY;
    config->spice.agent_mouse = TRUE;
    config->soundhw = ORIEL_SOUND_NONE;
    config->device_model_args = g_ptr_array_new_with_free_func(g_free);
    return config;
}

void
oriel_domain_config_free(OrielDomainConfig *config)
{
    if (!config)
        return;
    g_free(config->name);
    g_free(config->cpus);
    g_free(config->kernel);
    g_free(config->ramdisk);
    g_free(config->cmdline);
    g_free(config->boot);
    g_clear_pointer(&config->disks, g_ptr_array_unref);
    g_clear_pointer(&config->nics, g_ptr_array_unref);
    g_free(config->spice.host);
    if (config->spice.password)
        memset(config->spice.password, 0, strlen(config->spice.password));
    g_free(config->spice.password);
    g_free(config->spice.image_compression);
    g_free(config->spice.streaming_video);
    g_free(config->serial);
    g_clear_pointer(&config->device_model_args, g_ptr_array_unref);
    g_free(config);
}

/* ---- validation ------------------------------------------------------ */

gboolean
oriel_host_is_loopback(const char *host)
{
    struct in_addr v4;
    struct in6_addr v6;

    if (!host)
        return FALSE;
    if (g_ascii_strcasecmp(host, "localhost") == 0)
        return TRUE;
    if (inet_pton(AF_INET, host, &v4) == 1)
        return (ntohl(v4.s_addr) >> 24) == 127;
    if (inet_pton(AF_INET6, host, &v6) == 1)
        return IN6_IS_ADDR_LOOPBACK(&v6);
    return FALSE;
}

static gboolean
invalid(GError **error, const char *format, ...) G_GNUC_PRINTF(2, 3);

static gboolean
invalid(GError **error, const char *format, ...)
{
    va_list args;

    va_start(args, format);
    g_autofree char *message = g_strdup_vprintf(format, args);
    va_end(args);
    g_set_error_literal(error, ORIEL_DEVMODEL_ERROR, ORIEL_DEVMODEL_ERROR_INVALID, message);
    return FALSE;
}

static gboolean
name_is_valid(const char *name)
{
    gsize length = strlen(name);

    if (length == 0 || length > ORIEL_NAME_MAX)
        return FALSE;
    if (!g_ascii_isalnum(name[0]))
        return FALSE;
    for (const char *p = name; *p; p++)
        if (!g_ascii_isalnum(*p) && *p != '-' && *p != '_' && *p != '.')
            return FALSE;
    return TRUE;
}

/* "0-3,^1,5": digits, ranges, exclusions; or "all"/"nodes:..." as xl has. */
static gboolean
cpus_is_valid(const char *cpus)
{
    if (g_str_equal(cpus, "all"))
        return TRUE;
    for (const char *p = cpus; *p; p++)
        if (!g_ascii_isdigit(*p) && *p != '-' && *p != ',' && *p != '^')
            return FALSE;
    return *cpus != '\0';
}

static gboolean
mac_is_valid(const char *mac)
{
    if (strlen(mac) != 17)
        return FALSE;
    for (int i = 0; i < 17; i++) {
        if (i % 3 == 2) {
            if (mac[i] != ':')
                return FALSE;
        } else if (!g_ascii_isxdigit(mac[i])) {
            return FALSE;
        }
    }
    /* A multicast address would not work as a NIC's own address. */
    return (g_ascii_xdigit_value(mac[1]) & 1) == 0;
}

static gboolean
vdev_is_valid(const char *vdev)
{
    static const char *const prefixes[] = { "xvd", "hd", "sd", "vd" };

    for (gsize i = 0; i < G_N_ELEMENTS(prefixes); i++) {
        gsize n = strlen(prefixes[i]);
        if (g_str_has_prefix(vdev, prefixes[i]) && vdev[n] >= 'a' && vdev[n] <= 'z') {
            for (const char *p = vdev + n + 1; *p; p++)
                if (!g_ascii_isalnum(*p))
                    return FALSE;
            return strlen(vdev) <= 16;
        }
    }
    return FALSE;
}

static gboolean
validate_disks(OrielDomainConfig *config, GError **error)
{
    if (config->disks->len > ORIEL_DISKS_MAX)
        return invalid(error, "disk: %u disks, at most %u are supported",
                       config->disks->len, ORIEL_DISKS_MAX);
    for (guint i = 0; i < config->disks->len; i++) {
        OrielDiskConfig *disk = g_ptr_array_index(config->disks, i);

        if (!disk->vdev || !vdev_is_valid(disk->vdev))
            return invalid(error, "disk: '%s' is not a virtual device name (xvda, hdc, sda, vdb ...)",
                           disk->vdev ? disk->vdev : "");
        if (!disk->target && !disk->cdrom)
            return invalid(error, "disk: %s has no target", disk->vdev);
        if (disk->cdrom)
            disk->read_only = TRUE;
        if (config->type == ORIEL_DOMAIN_TYPE_PVH && disk->cdrom)
            return invalid(error, "disk: %s: a pvh domain has no CD-ROM drive", disk->vdev);
        for (guint j = 0; j < i; j++) {
            OrielDiskConfig *other = g_ptr_array_index(config->disks, j);
            if (g_str_equal(other->vdev, disk->vdev))
                return invalid(error, "disk: %s is used twice", disk->vdev);
        }
    }
    return TRUE;
}

static gboolean
validate_spice(OrielDomainConfig *config, GError **error)
{
    OrielSpiceConfig *spice = &config->spice;

    if (!spice->enabled)
        return TRUE;
    if (!spice->host)
        spice->host = g_strdup("127.0.0.1");
    if (spice->port > 65535)
        return invalid(error, "spiceport: %u is not a TCP port", spice->port);
    if (spice->tls_port > 65535)
        return invalid(error, "spicetls_port: %u is not a TCP port", spice->tls_port);
    if (spice->port != 0 && spice->port == spice->tls_port)
        return invalid(error, "spicetls_port: %u is also spiceport", spice->tls_port);
    if (spice->tls_only && !spice->tls_port)
        return invalid(error, "spice_tls_only: needs spicetls_port");
    if (spice->disable_ticketing && spice->password)
        return invalid(error, "spicepasswd: a password is set but spicedisable_ticketing=1 turns tickets off");
    if (spice->disable_ticketing && !oriel_host_is_loopback(spice->host))
        return invalid(error, "spicedisable_ticketing: SPICE without a ticket is only allowed on loopback, "
                       "not on %s", spice->host);
    if (spice->password && (strlen(spice->password) == 0 || strlen(spice->password) > 255))
        return invalid(error, "spicepasswd: must be 1 to 255 bytes long");
    if (spice->usbredirection > ORIEL_USBREDIR_MAX)
        return invalid(error, "spiceusbredirection: %u channels, at most %u are supported",
                       spice->usbredirection, ORIEL_USBREDIR_MAX);
    if (spice->image_compression) {
        static const char *const modes[] = { "auto_glz", "auto_lz", "quic", "glz", "lz", "off" };
        if (!g_strv_contains(modes, spice->image_compression))
            return invalid(error, "spice_image_compression: '%s' is not one of auto_glz, auto_lz, quic, glz, lz, off",
                           spice->image_compression);
    }
    if (spice->streaming_video) {
        static const char *const modes[] = { "filter", "all", "off" };
        if (!g_strv_contains(modes, spice->streaming_video))
            return invalid(error, "spice_streaming_video: '%s' is not one of filter, all, off",
                           spice->streaming_video);
    }
    return TRUE;
}

/* SPICE carries the sound when it is on: a host backend would play on the
 * server, not where the user sits. */
static gboolean
validate_audio_backend(OrielDomainConfig *config, GError **error)
{
    switch (config->audio_backend) {
    case ORIEL_AUDIO_BACKEND_DEFAULT:
        config->audio_backend = config->spice.enabled ? ORIEL_AUDIO_BACKEND_SPICE : ORIEL_AUDIO_BACKEND_NONE;
        return TRUE;
    case ORIEL_AUDIO_BACKEND_SPICE:
        if (!config->spice.enabled)
            return invalid(error, "audio_backend: 'spice' needs spice = 1 (use pa or none without SPICE)");
        return TRUE;
    case ORIEL_AUDIO_BACKEND_PA:
        if (config->spice.enabled)
            return invalid(error, "audio_backend: 'pa' is for domains without SPICE; with spice = 1 "
                                  "the sound goes to the SPICE client");
        return TRUE;
    case ORIEL_AUDIO_BACKEND_NONE:
        return TRUE;
    }
    return invalid(error, "audio_backend: unknown value %d", (int)config->audio_backend);
}

gboolean
oriel_domain_config_validate(OrielDomainConfig *config, GError **error)
{
    if (!config->name)
        return invalid(error, "name: a domain needs a name");
    if (!name_is_valid(config->name))
        return invalid(error, "name: '%s' must be 1 to %u letters, digits, '-', '_' or '.', "
                       "starting with a letter or digit", config->name, ORIEL_NAME_MAX);
    if (config->memory_mib < ORIEL_MEMORY_MIN_MIB)
        return invalid(error, "memory: %" G_GUINT64_FORMAT " MiB is below the minimum of %u MiB",
                       config->memory_mib, ORIEL_MEMORY_MIN_MIB);
    if (config->memory_mib > ORIEL_MEMORY_MAX_MIB)
        return invalid(error, "memory: %" G_GUINT64_FORMAT " MiB is above the maximum of %u MiB",
                       config->memory_mib, ORIEL_MEMORY_MAX_MIB);
    if (config->maxmem_mib == 0)
        config->maxmem_mib = config->memory_mib;
    if (config->maxmem_mib < config->memory_mib)
        return invalid(error, "maxmem: %" G_GUINT64_FORMAT " MiB is below memory (%" G_GUINT64_FORMAT " MiB)",
                       config->maxmem_mib, config->memory_mib);
    if (config->maxmem_mib > ORIEL_MEMORY_MAX_MIB)
        return invalid(error, "maxmem: %" G_GUINT64_FORMAT " MiB is above the maximum of %u MiB",
                       config->maxmem_mib, ORIEL_MEMORY_MAX_MIB);
    if (config->vcpus < 1 || config->vcpus > ORIEL_VCPUS_MAX)
        return invalid(error, "vcpus: %u is out of range 1..%u", config->vcpus, ORIEL_VCPUS_MAX);
    if (config->maxvcpus == 0)
        config->maxvcpus = config->vcpus;
    if (config->maxvcpus < config->vcpus || config->maxvcpus > ORIEL_VCPUS_MAX)
        return invalid(error, "maxvcpus: %u is out of range %u..%u",
                       config->maxvcpus, config->vcpus, ORIEL_VCPUS_MAX);
    if (config->cpus && !cpus_is_valid(config->cpus))
        return invalid(error, "cpus: '%s' is not a CPU list like \"0-3,^1\"", config->cpus);
    if (config->cpu_weight < ORIEL_CPU_WEIGHT_MIN || config->cpu_weight > ORIEL_CPU_WEIGHT_MAX)
        return invalid(error, "cpu_weight: %d is out of range %d..%d",
                       config->cpu_weight, ORIEL_CPU_WEIGHT_MIN, ORIEL_CPU_WEIGHT_MAX);
    if (config->cap < 0 || config->cap > (gint)(100 * config->maxvcpus))
        return invalid(error, "cap: %d%% is out of range 0..%u%% (100 per vCPU)",
                       config->cap, 100 * config->maxvcpus);
    if (config->type == ORIEL_DOMAIN_TYPE_PVH && !config->kernel)
        return invalid(error, "kernel: a pvh domain boots a kernel directly and needs one");
    if ((config->ramdisk || config->cmdline) && !config->kernel)
        return invalid(error, "kernel: ramdisk and cmdline need a kernel");
    if (config->type == ORIEL_DOMAIN_TYPE_PVH && config->firmware == ORIEL_FIRMWARE_OVMF)
        return invalid(error, "firmware: a pvh domain boots without firmware");
    if (config->boot) {
        if (strlen(config->boot) == 0 || strlen(config->boot) > 4 ||
            strspn(config->boot, "acdn") != strlen(config->boot))
            return invalid(error, "boot: '%s' is not a boot order of a, c, d and n", config->boot);
    }
    if (!validate_disks(config, error))
        return FALSE;
    if (config->nics->len > ORIEL_NICS_MAX)
        return invalid(error, "vif: %u interfaces, at most %u are supported", config->nics->len, ORIEL_NICS_MAX);
    for (guint i = 0; i < config->nics->len; i++) {
        OrielNicConfig *nic = g_ptr_array_index(config->nics, i);
        static const char *const models[] = { "e1000", "virtio-net", "rtl8139" };

        if (!nic->model)
            nic->model = g_strdup(config->type == ORIEL_DOMAIN_TYPE_PVH ? "virtio-net" : "e1000");
        if (!g_strv_contains(models, nic->model))
            return invalid(error, "vif: model '%s' is not one of e1000, virtio-net, rtl8139", nic->model);
        if (nic->mac && !mac_is_valid(nic->mac))
            return invalid(error, "vif: mac '%s' is not a unicast address like 00:16:3e:12:34:56", nic->mac);
    }
    if (config->videoram_mib > ORIEL_VIDEORAM_MAX_MIB)
        return invalid(error, "videoram: %u MiB is above the maximum of %u MiB",
                       config->videoram_mib, ORIEL_VIDEORAM_MAX_MIB);
    if (!validate_spice(config, error))
        return FALSE;
    if (config->vga == ORIEL_VGA_DEFAULT) {
        if (config->type == ORIEL_DOMAIN_TYPE_PVH)
            config->vga = ORIEL_VGA_NONE;
        else
            config->vga = config->spice.enabled ? ORIEL_VGA_QXL : ORIEL_VGA_STDVGA;
    }
    if (config->usbversion > 3)
        return invalid(error, "usbversion: %u is not 1, 2 or 3", config->usbversion);
    if (config->usbversion == 0 && (config->usb || config->spice.usbredirection > 0))
        config->usbversion = 3;
    if (config->type == ORIEL_DOMAIN_TYPE_PVH && (config->usbversion != 0 || config->soundhw != ORIEL_SOUND_NONE))
        return invalid(error, "%s: a pvh domain has no PCI bus for USB or sound devices",
                       config->usbversion != 0 ? "usb" : "soundhw");
    if (!validate_audio_backend(config, error))
        return FALSE;
    if (!config->serial)
        config->serial = g_strdup("unix");
    if (!g_str_equal(config->serial, "unix") && !g_str_equal(config->serial, "pty") &&
        !g_str_equal(config->serial, "none"))
        return invalid(error, "serial: '%s' is not one of unix, pty, none", config->serial);
    return TRUE;
}

gboolean
oriel_domain_config_check_files(const OrielDomainConfig *config, GError **error)
{
    const char *kinds[] = { "kernel", "ramdisk" };
    const char *paths[] = { config->kernel, config->ramdisk };

    for (gsize i = 0; i < G_N_ELEMENTS(paths); i++) {
        if (paths[i] && !g_file_test(paths[i], G_FILE_TEST_IS_REGULAR)) {
            g_set_error(error, ORIEL_DEVMODEL_ERROR, ORIEL_DEVMODEL_ERROR_NOT_FOUND,
                        "%s: %s does not exist or is not a file", kinds[i], paths[i]);
            return FALSE;
        }
    }
    for (guint i = 0; i < config->disks->len; i++) {
        OrielDiskConfig *disk = g_ptr_array_index(config->disks, i);
        if (disk->target && !g_file_test(disk->target, G_FILE_TEST_EXISTS)) {
            g_set_error(error, ORIEL_DEVMODEL_ERROR, ORIEL_DEVMODEL_ERROR_NOT_FOUND,
                        "disk: %s: %s does not exist", disk->vdev, disk->target);
            return FALSE;
        }
    }
    return TRUE;
}

/* ---- JSON ------------------------------------------------------------ */

static void
set_string(JsonObject *object, const char *key, const char *value)
{
    if (value)
        json_object_set_string_member(object, key, value);
}

JsonNode *
oriel_domain_config_to_json(const OrielDomainConfig *config, gboolean mask_secrets)
{
    g_autoptr(JsonObject) object = json_object_new();
    g_autoptr(JsonArray) disks = json_array_new();
    g_autoptr(JsonArray) nics = json_array_new();
    g_autoptr(JsonArray) dm_args = json_array_new();
    const OrielSpiceConfig *spice = &config->spice;

    set_string(object, "name", config->name);
    json_object_set_string_member(object, "type", oriel_domain_type_to_string(config->type));
    json_object_set_int_member(object, "memory", config->memory_mib);
    json_object_set_int_member(object, "maxmem", config->maxmem_mib);
    json_object_set_int_member(object, "vcpus", config->vcpus);
    json_object_set_int_member(object, "maxvcpus", config->maxvcpus);
    set_string(object, "cpus", config->cpus);
    json_object_set_int_member(object, "cpu_weight", config->cpu_weight);
    json_object_set_int_member(object, "cap", config->cap);
    set_string(object, "kernel", config->kernel);
    set_string(object, "ramdisk", config->ramdisk);
    set_string(object, "cmdline", config->cmdline);
    json_object_set_string_member(object, "firmware", oriel_firmware_to_string(config->firmware));
    set_string(object, "boot", config->boot);

    for (guint i = 0; i < config->disks->len; i++) {
        OrielDiskConfig *disk = g_ptr_array_index(config->disks, i);
        JsonObject *d = json_object_new();
        set_string(d, "target", disk->target);
        json_object_set_string_member(d, "format", oriel_disk_format_to_string(disk->format));
        set_string(d, "vdev", disk->vdev);
        json_object_set_string_member(d, "access", disk->read_only ? "ro" : "rw");
        if (disk->cdrom)
            json_object_set_string_member(d, "devtype", "cdrom");
        json_array_add_object_element(disks, d);
    }
    json_object_set_array_member(object, "disk", g_steal_pointer(&disks));

    for (guint i = 0; i < config->nics->len; i++) {
        OrielNicConfig *nic = g_ptr_array_index(config->nics, i);
        JsonObject *n = json_object_new();
        set_string(n, "model", nic->model);
        set_string(n, "mac", nic->mac);
        json_array_add_object_element(nics, n);
    }
    json_object_set_array_member(object, "vif", g_steal_pointer(&nics));

    json_object_set_string_member(object, "vga", oriel_vga_to_string(config->vga));
    json_object_set_int_member(object, "videoram", config->videoram_mib);
    json_object_set_string_member(object, "on_poweroff", oriel_lifecycle_action_to_string(config->on_poweroff));
    json_object_set_string_member(object, "on_reboot", oriel_lifecycle_action_to_string(config->on_reboot));
    json_object_set_string_member(object, "on_crash", oriel_lifecycle_action_to_string(config->on_crash));

    json_object_set_boolean_member(object, "spice", spice->enabled);
    set_string(object, "spicehost", spice->host);
    json_object_set_int_member(object, "spiceport", spice->port);
    json_object_set_int_member(object, "spicetls_port", spice->tls_port);
    json_object_set_boolean_member(object, "spicedisable_ticketing", spice->disable_ticketing);
    if (spice->password)
        json_object_set_string_member(object, "spicepasswd", mask_secrets ? "********" : spice->password);
    json_object_set_boolean_member(object, "spiceagent_mouse", spice->agent_mouse);
    json_object_set_boolean_member(object, "spicevdagent", spice->vdagent);
    json_object_set_boolean_member(object, "spice_clipboard_sharing", spice->clipboard_sharing);
    json_object_set_int_member(object, "spiceusbredirection", spice->usbredirection);
    set_string(object, "spice_image_compression", spice->image_compression);
    set_string(object, "spice_streaming_video", spice->streaming_video);
    if (spice->tls_only) /* only when set: existing definitions stay byte-identical */
        json_object_set_boolean_member(object, "spice_tls_only", TRUE);

    json_object_set_string_member(object, "soundhw", oriel_sound_hw_to_string(config->soundhw));
    json_object_set_string_member(object, "audio_backend", oriel_audio_backend_to_string(config->audio_backend));
    json_object_set_boolean_member(object, "usb", config->usb);
    json_object_set_int_member(object, "usbversion", config->usbversion);
    set_string(object, "serial", config->serial);
    json_object_set_boolean_member(object, "nestedhvm", config->nestedhvm);
    for (guint i = 0; i < config->device_model_args->len; i++)
        json_array_add_string_element(dm_args, g_ptr_array_index(config->device_model_args, i));
    json_object_set_array_member(object, "device_model_args", g_steal_pointer(&dm_args));

    JsonNode *node = json_node_new(JSON_NODE_OBJECT);
    json_node_set_object(node, object);
    return node;
}

/*
 * Reading JSON back: every member is optional (defaults apply), every member
 * present must have the right type and range.  The JSON may come from a peer
 * (the daemon socket), so nothing is trusted.
 */
typedef struct {
    JsonObject *object;
    GError **error;
    gboolean failed;
} ConfigReader;

static gboolean
reader_fail(ConfigReader *reader, const char *key, const char *expected)
{
    if (!reader->failed)
        g_set_error(reader->error, ORIEL_DEVMODEL_ERROR, ORIEL_DEVMODEL_ERROR_INVALID,
                    "%s: expected %s", key, expected);
    reader->failed = TRUE;
    return FALSE;
}

static JsonNode *
reader_member(ConfigReader *reader, const char *key)
{
    if (reader->failed)
        return NULL;
    JsonNode *node = json_object_get_member(reader->object, key);
    if (node && JSON_NODE_HOLDS_NULL(node))
        return NULL;
    return node;
}

static void
read_string(ConfigReader *reader, const char *key, char **ret)
{
    JsonNode *node = reader_member(reader, key);

    if (!node)
        return;
    if (!JSON_NODE_HOLDS_VALUE(node) || json_node_get_value_type(node) != G_TYPE_STRING) {
        reader_fail(reader, key, "a string");
        return;
    }
    g_free(*ret);
    *ret = g_strdup(json_node_get_string(node));
}

static gboolean
read_integer(ConfigReader *reader, const char *key, gint64 min, gint64 max, gint64 *ret)
{
    JsonNode *node = reader_member(reader, key);

    if (!node)
        return FALSE;
    if (!JSON_NODE_HOLDS_VALUE(node) || json_node_get_value_type(node) != G_TYPE_INT64)
        return reader_fail(reader, key, "an integer");
    gint64 value = json_node_get_int(node);
    if (value < min || value > max) {
        g_autofree char *range = g_strdup_printf("an integer in %" G_GINT64_FORMAT "..%" G_GINT64_FORMAT,
                                                 min, max);
        return reader_fail(reader, key, range);
    }
    *ret = value;
    return TRUE;
}

static void
read_uint(ConfigReader *reader, const char *key, guint max, guint *ret)
{
    gint64 value;
    if (read_integer(reader, key, 0, max, &value))
        *ret = (guint)value;
}

static void
read_uint64(ConfigReader *reader, const char *key, guint64 max, guint64 *ret)
{
    gint64 value;
    if (read_integer(reader, key, 0, (gint64)max, &value))
        *ret = (guint64)value;
}

static void
read_boolean(ConfigReader *reader, const char *key, gboolean *ret)
{
    JsonNode *node = reader_member(reader, key);

    if (!node)
        return;
    if (!JSON_NODE_HOLDS_VALUE(node) || json_node_get_value_type(node) != G_TYPE_BOOLEAN) {
        reader_fail(reader, key, "true or false");
        return;
    }
    *ret = json_node_get_boolean(node);
}

/* Reads a string member through one of the *_from_string functions. */
#define READ_ENUM(reader, key, from_string, ret, expected)                    \
    do {                                                                      \
        g_autofree char *enum_name_ = NULL;                                   \
        read_string((reader), (key), &enum_name_);                            \
        if (enum_name_ && !from_string(enum_name_, (ret)))                    \
            reader_fail((reader), (key), (expected));                         \
    } while (0)

static JsonArray *
read_array(ConfigReader *reader, const char *key, guint max)
{
    JsonNode *node = reader_member(reader, key);

    if (!node)
        return NULL;
    if (!JSON_NODE_HOLDS_ARRAY(node)) {
        reader_fail(reader, key, "an array");
        return NULL;
    }
    JsonArray *array = json_node_get_array(node);
    if (json_array_get_length(array) > max) {
        g_autofree char *expected = g_strdup_printf("at most %u elements", max);
        reader_fail(reader, key, expected);
        return NULL;
    }
    return array;
}

static void
read_disks(ConfigReader *reader, OrielDomainConfig *config)
{
    JsonArray *array = read_array(reader, "disk", ORIEL_DISKS_MAX);

    for (guint i = 0; array && i < json_array_get_length(array) && !reader->failed; i++) {
        JsonNode *element = json_array_get_element(array, i);
        if (!JSON_NODE_HOLDS_OBJECT(element)) {
            reader_fail(reader, "disk", "an array of objects");
            return;
        }
        g_autoptr(OrielDiskConfig) disk = oriel_disk_config_new();
        g_autofree char *access = NULL;
        g_autofree char *devtype = NULL;
        ConfigReader sub = { json_node_get_object(element), reader->error, FALSE };

        read_string(&sub, "target", &disk->target);
        READ_ENUM(&sub, "format", oriel_disk_format_from_string, &disk->format,
                  "one of raw, qcow2, qcow, vhd, qed");
        read_string(&sub, "vdev", &disk->vdev);
        read_string(&sub, "access", &access);
        read_string(&sub, "devtype", &devtype);
        if (!sub.failed && access) {
            if (g_str_equal(access, "ro") || g_str_equal(access, "r"))
                disk->read_only = TRUE;
            else if (!g_str_equal(access, "rw") && !g_str_equal(access, "w"))
                reader_fail(&sub, "disk.access", "ro or rw");
        }
        if (!sub.failed && devtype) {
            if (g_str_equal(devtype, "cdrom"))
                disk->cdrom = TRUE;
            else if (!g_str_equal(devtype, "disk"))
                reader_fail(&sub, "disk.devtype", "cdrom or disk");
        }
        if (sub.failed) {
            reader->failed = TRUE;
            return;
        }
        g_ptr_array_add(config->disks, g_steal_pointer(&disk));
    }
}

static void
read_nics(ConfigReader *reader, OrielDomainConfig *config)
{
    JsonArray *array = read_array(reader, "vif", ORIEL_NICS_MAX);

    for (guint i = 0; array && i < json_array_get_length(array) && !reader->failed; i++) {
        JsonNode *element = json_array_get_element(array, i);
        if (!JSON_NODE_HOLDS_OBJECT(element)) {
            reader_fail(reader, "vif", "an array of objects");
            return;
        }
        g_autoptr(OrielNicConfig) nic = oriel_nic_config_new();
        ConfigReader sub = { json_node_get_object(element), reader->error, FALSE };

        read_string(&sub, "model", &nic->model);
        read_string(&sub, "mac", &nic->mac);
        if (sub.failed) {
            reader->failed = TRUE;
            return;
        }
        g_ptr_array_add(config->nics, g_steal_pointer(&nic));
    }
}

static void
read_device_model_args(ConfigReader *reader, OrielDomainConfig *config)
{
    JsonArray *array = read_array(reader, "device_model_args", 256);

    for (guint i = 0; array && i < json_array_get_length(array); i++) {
        JsonNode *element = json_array_get_element(array, i);
        if (!JSON_NODE_HOLDS_VALUE(element) || json_node_get_value_type(element) != G_TYPE_STRING) {
            reader_fail(reader, "device_model_args", "an array of strings");
            return;
        }
        g_ptr_array_add(config->device_model_args, g_strdup(json_node_get_string(element)));
    }
}

OrielDomainConfig *
oriel_domain_config_from_json(JsonNode *node, GError **error)
{
    g_autoptr(OrielDomainConfig) config = oriel_domain_config_new();
    OrielSpiceConfig *spice = &config->spice;
    gint64 number;

    if (!node || !JSON_NODE_HOLDS_OBJECT(node)) {
        g_set_error_literal(error, ORIEL_DEVMODEL_ERROR, ORIEL_DEVMODEL_ERROR_INVALID,
                            "a domain config must be a JSON object");
        return NULL;
    }
    ConfigReader reader = { json_node_get_object(node), error, FALSE };

    read_string(&reader, "name", &config->name);
    READ_ENUM(&reader, "type", oriel_domain_type_from_string, &config->type, "hvm or pvh");
    read_uint64(&reader, "memory", ORIEL_MEMORY_MAX_MIB, &config->memory_mib);
    read_uint64(&reader, "maxmem", ORIEL_MEMORY_MAX_MIB, &config->maxmem_mib);
    read_uint(&reader, "vcpus", ORIEL_VCPUS_MAX, &config->vcpus);
    read_uint(&reader, "maxvcpus", ORIEL_VCPUS_MAX, &config->maxvcpus);
    read_string(&reader, "cpus", &config->cpus);
    if (read_integer(&reader, "cpu_weight", ORIEL_CPU_WEIGHT_MIN, ORIEL_CPU_WEIGHT_MAX, &number))
        config->cpu_weight = (gint)number;
    if (read_integer(&reader, "cap", 0, 100 * ORIEL_VCPUS_MAX, &number))
        config->cap = (gint)number;
    read_string(&reader, "kernel", &config->kernel);
    read_string(&reader, "ramdisk", &config->ramdisk);
    read_string(&reader, "cmdline", &config->cmdline);
    READ_ENUM(&reader, "firmware", oriel_firmware_from_string, &config->firmware,
              "one of bios, seabios, uefi, ovmf");
    read_string(&reader, "boot", &config->boot);
    read_disks(&reader, config);
    read_nics(&reader, config);
    READ_ENUM(&reader, "vga", oriel_vga_from_string, &config->vga, "one of qxl, stdvga, none");
    read_uint(&reader, "videoram", ORIEL_VIDEORAM_MAX_MIB, &config->videoram_mib);
    READ_ENUM(&reader, "on_poweroff", oriel_lifecycle_action_from_string, &config->on_poweroff,
              "one of destroy, restart, preserve");
    READ_ENUM(&reader, "on_reboot", oriel_lifecycle_action_from_string, &config->on_reboot,
              "one of destroy, restart, preserve");
    READ_ENUM(&reader, "on_crash", oriel_lifecycle_action_from_string, &config->on_crash,
              "one of destroy, restart, preserve");
    read_boolean(&reader, "spice", &spice->enabled);
    read_string(&reader, "spicehost", &spice->host);
    read_uint(&reader, "spiceport", 65535, &spice->port);
    read_uint(&reader, "spicetls_port", 65535, &spice->tls_port);
    read_boolean(&reader, "spicedisable_ticketing", &spice->disable_ticketing);
    read_string(&reader, "spicepasswd", &spice->password);
    read_boolean(&reader, "spiceagent_mouse", &spice->agent_mouse);
    read_boolean(&reader, "spicevdagent", &spice->vdagent);
    read_boolean(&reader, "spice_clipboard_sharing", &spice->clipboard_sharing);
    read_uint(&reader, "spiceusbredirection", ORIEL_USBREDIR_MAX, &spice->usbredirection);
    read_string(&reader, "spice_image_compression", &spice->image_compression);
    read_string(&reader, "spice_streaming_video", &spice->streaming_video);
    read_boolean(&reader, "spice_tls_only", &spice->tls_only);
    READ_ENUM(&reader, "soundhw", oriel_sound_hw_from_string, &config->soundhw, "one of none, hda, ac97");
    READ_ENUM(&reader, "audio_backend", oriel_audio_backend_from_string, &config->audio_backend,
              "one of default, spice, pa, none");
    read_boolean(&reader, "usb", &config->usb);
    read_uint(&reader, "usbversion", 3, &config->usbversion);
    read_string(&reader, "serial", &config->serial);
    read_boolean(&reader, "nestedhvm", &config->nestedhvm);
    read_device_model_args(&reader, config);

    if (reader.failed)
        return NULL;
    return g_steal_pointer(&config);
}
