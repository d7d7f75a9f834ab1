/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The xl.cfg keys whose values are device specs in a mini-language of their
 * own: disk (xl-disk-configuration(5)) and vif.
 */
#include "xlcfg-priv.h"

#include <string.h>

/* Specs are quoted in messages up to this many bytes. */
#define SPEC_QUOTE_MAX 80

static char *
quote_spec(const char *spec)
{
    if (strlen(spec) <= SPEC_QUOTE_MAX)
        return g_strdup(spec);
    /* Cut on a character boundary: the spec is UTF-8. */
    const char *end = g_utf8_find_prev_char(spec, spec + SPEC_QUOTE_MAX + 1);
    return g_strdup_printf("%.*s...", (int)(end - spec), spec);
}

typedef enum {
    DISK_TARGET,
    DISK_FORMAT,
    DISK_VDEV,
    DISK_ACCESS,
    DISK_POSITIONS,
} DiskPosition;

static const char *const disk_position_names[DISK_POSITIONS] = {
    "target",
    "format",
    "vdev",
    "access",
};

/* One disk spec being read; the fields are borrowed from the split spec. */
typedef struct {
    OrielXlcfgMapper *mapper;
    const OrielXlcfgValue *item;
    const char *spec;
    const char *values[DISK_POSITIONS]; /* as given; "" = default */
    gboolean given[DISK_POSITIONS];
    gboolean given_devtype;
    gboolean cdrom;
    gboolean deprecated_prefix;
    gboolean has_format_prefix;
    OrielDiskFormat prefix_format;
} DiskSpec;

static gboolean disk_fail(DiskSpec *disk, GError **error, const char *format, ...)
    G_GNUC_PRINTF(3, 4);

static gboolean
disk_fail(DiskSpec *disk, GError **error, const char *format, ...)
{
    va_list args;

    va_start(args, format);
    g_autofree char *message = g_strdup_vprintf(format, args);
    va_end(args);
    g_autofree char *quoted = quote_spec(disk->spec);
    return oriel_xlcfg_fail_at(disk->mapper, disk->item, ORIEL_XLCFG_ERROR_VALUE, error,
                               "disk: %s in '%s'", message, quoted);
}

static gboolean
disk_set(DiskSpec *disk, DiskPosition position, const char *value, GError **error)
{
    if (disk->given[position])
        return disk_fail(disk, error, "%s given twice", disk_position_names[position]);
    disk->given[position] = TRUE;
    disk->values[position] = value;
    return TRUE;
}

/*
 * xl's deprecated target prefixes: "phy:", "file:", "tap:aio:" name a Xen
 * backend (meaningless here) and "qcow2:" etc. a format.  A target written
 * this way comes from the old "prefix:target,vdev,access" syntax, so the
 * format position is not expected next.
 */
static const char *
strip_deprecated_prefixes(DiskSpec *disk, const char *target, GError **error)
{
    static const char *const backend_prefixes[] = {
        "phy:", "file:", "tap:", "tap2:", "tapdisk:", "aio:", "ioemu:",
    };
    static const char *const script_prefixes[] = { "iscsi:", "nbd:", "enbd:", "drbd:" };

    for (;;) {
        gboolean stripped = FALSE;
        for (gsize i = 0; i < G_N_ELEMENTS(script_prefixes); i++)
            if (g_str_has_prefix(target, script_prefixes[i])) {
                disk_fail(disk, error,
                          "'%s' targets need a Xen block script, which Oriel does not run",
                          script_prefixes[i]);
                return NULL;
            }
        for (gsize i = 0; i < G_N_ELEMENTS(backend_prefixes) && !stripped; i++) {
            if (g_str_has_prefix(target, backend_prefixes[i])) {
                target += strlen(backend_prefixes[i]);
                stripped = TRUE;
            }
        }
        const char *colon = strchr(target, ':');
        if (!stripped && colon) {
            g_autofree char *prefix = g_strndup(target, colon - target);
            if (oriel_disk_format_from_string(prefix, &disk->prefix_format)) {
                disk->has_format_prefix = TRUE;
                target = colon + 1;
                stripped = TRUE;
            }
        }
        if (!stripped)
            return target;
        disk->deprecated_prefix = TRUE;
    }
}

static gboolean
disk_parameter(DiskSpec *disk, char *parameter, GError **error)
{
    static const char *const ignored_flags[] = {
        "discard", "no-discard", "direct-io-safe", "trusted", "untrusted", "colo", NULL,
    };
    char *equals = strchr(parameter, '=');

    if (equals) {
        *equals = '\0';
        char *key = g_strstrip(parameter);
        char *value = g_strstrip(equals + 1);
        for (int position = DISK_FORMAT; position < DISK_POSITIONS; position++)
            if (g_str_equal(key, disk_position_names[position]))
                return disk_set(disk, position, value, error);
        if (g_str_equal(key, "devtype")) {
            if (disk->given_devtype)
                return disk_fail(disk, error, "devtype given twice");
            disk->given_devtype = TRUE;
            if (g_str_equal(value, "cdrom"))
                disk->cdrom = TRUE;
            else if (!g_str_equal(value, "disk"))
                return disk_fail(disk, error, "unknown devtype '%s' (expected disk or cdrom)",
                                 value);
            return TRUE;
        }
        oriel_xlcfg_warn(disk->mapper, disk->item->line,
                         "disk: '%s' has no meaning in Oriel; ignored", key);
        return TRUE;
    }

    char *word = g_strstrip(parameter);
    if (g_str_equal(word, "cdrom")) {
        if (disk->given_devtype)
            return disk_fail(disk, error, "devtype given twice");
        disk->given_devtype = TRUE;
        disk->cdrom = TRUE;
        return TRUE;
    }
    if (g_strv_contains(ignored_flags, word)) {
        oriel_xlcfg_warn(disk->mapper, disk->item->line,
                         "disk: '%s' has no meaning in Oriel; ignored", word);
        return TRUE;
    }

    /* A positional parameter takes the first position not yet given. */
    int position = 0;
    while (position < DISK_POSITIONS && disk->given[position])
        position++;
    if (position == DISK_POSITIONS) {
        if (word[0] == '\0')
            return TRUE; /* a trailing comma */
        return disk_fail(disk, error,
                         "unexpected parameter '%s' after target, format, vdev and access", word);
    }
    if (position == DISK_TARGET) {
        const char *target = strip_deprecated_prefixes(disk, word, error);
        if (!target)
            return FALSE;
        if (!disk_set(disk, DISK_TARGET, target, error))
            return FALSE;
        if (disk->deprecated_prefix && !disk->given[DISK_FORMAT]) {
            disk->given[DISK_FORMAT] = TRUE;
            disk->values[DISK_FORMAT] = "";
        }
        return TRUE;
    }
    return disk_set(disk, position, word, error);
}

/* Fills @result from the fields collected in @disk. */
static gboolean
disk_finish(DiskSpec *disk, OrielDiskConfig *result, GError **error)
{
    const char *format = disk->values[DISK_FORMAT];
    const char *access = disk->values[DISK_ACCESS];
    const char *target = disk->values[DISK_TARGET];
    g_autofree char *vdev = g_strdup(disk->values[DISK_VDEV] ? disk->values[DISK_VDEV] : "");

    if (disk->has_format_prefix)
        result->format = disk->prefix_format;
    if (format && format[0] != '\0') {
        if (g_str_equal(format, "empty"))
            target = NULL;
        else if (!oriel_disk_format_from_string(format, &result->format))
            return disk_fail(disk, error,
                             "unknown format '%s' (expected raw, qcow, qcow2, vhd or qed)", format);
    }
    if (access && access[0] != '\0') {
        if (g_str_equal(access, "ro") || g_str_equal(access, "r"))
            result->read_only = TRUE;
        else if (!g_str_equal(access, "rw") && !g_str_equal(access, "w"))
            return disk_fail(disk, error, "unknown access '%s' (expected ro, r, rw or w)", access);
    }
    /* The old syntax marks a CD-ROM on the vdev: "hdc:cdrom". */
    char *colon = strchr(vdev, ':');
    if (colon) {
        if (g_str_equal(colon + 1, "cdrom"))
            disk->cdrom = TRUE;
        else if (!g_str_equal(colon + 1, "disk"))
            return disk_fail(disk, error, "unknown device type '%s' after the vdev", colon + 1);
        *colon = '\0';
        disk->deprecated_prefix = TRUE;
    }
    if (vdev[0] == '\0')
        return disk_fail(disk, error, "no vdev");
    if (!disk->cdrom && (!target || target[0] == '\0'))
        return disk_fail(disk, error, "no target");

    result->vdev = g_steal_pointer(&vdev);
    result->cdrom = disk->cdrom;
    if (disk->cdrom)
        result->read_only = TRUE;
    if (target && target[0] != '\0')
        result->target = oriel_xlcfg_resolve_path(disk->mapper, target);
    if (disk->deprecated_prefix) {
        g_autofree char *quoted = quote_spec(disk->spec);
        oriel_xlcfg_warn(disk->mapper, disk->item->line,
                         "disk: deprecated syntax in '%s'; write 'target,format,vdev,access'",
                         quoted);
    }
    return TRUE;
}

static gboolean
map_disk_spec(OrielXlcfgMapper *mapper, const OrielXlcfgValue *item, GError **error)
{
    if (!oriel_xlcfg_expect_type(mapper, "disk", item, ORIEL_XLCFG_VALUE_STRING, error))
        return FALSE;

    /* Parameters are split in place in a copy; DiskSpec borrows from it. */
    g_autofree char *copy = g_strdup(item->string);
    DiskSpec disk = { .mapper = mapper, .item = item, .spec = item->string };
    char *parameter = copy;
    for (;;) {
        /* target= takes the rest of the spec, commas and all. */
        char *start = parameter;
        while (g_ascii_isspace(*start))
            start++;
        if (g_str_has_prefix(start, "target=")) {
            if (!disk_set(&disk, DISK_TARGET, start + strlen("target="), error))
                return FALSE;
            break;
        }
        char *comma = strchr(parameter, ',');
        if (comma)
            *comma = '\0';
        if (!disk_parameter(&disk, parameter, error))
            return FALSE;
        if (!comma)
            break;
        parameter = comma + 1;
    }

    g_autoptr(OrielDiskConfig) result = oriel_disk_config_new();
    if (!disk_finish(&disk, result, error))
        return FALSE;
    g_ptr_array_add(mapper->config->disks, g_steal_pointer(&result));
    g_ptr_array_add(mapper->disk_items, (gpointer)item);
    return TRUE;
}

gboolean
oriel_xlcfg_map_disk(OrielXlcfgMapper *mapper, const OrielXlcfgSetting *setting, GError **error)
{
    const OrielXlcfgValue *value = setting->value;

    if (!oriel_xlcfg_expect_type(mapper, "disk", value, ORIEL_XLCFG_VALUE_LIST, error))
        return FALSE;
    for (guint i = 0; i < value->items->len; i++)
        if (!map_disk_spec(mapper, g_ptr_array_index(value->items, i), error))
            return FALSE;
    return TRUE;
}

/* vif = [ 'mac=00:16:3e:00:00:01, model=e1000, bridge=xenbr0' ]: only the
 * guest's side (model, mac) matters here; the Xen host side is ignored. */
static gboolean
map_vif_spec(OrielXlcfgMapper *mapper, const OrielXlcfgValue *item, GError **error)
{
    if (!oriel_xlcfg_expect_type(mapper, "vif", item, ORIEL_XLCFG_VALUE_STRING, error))
        return FALSE;

    g_autoptr(OrielNicConfig) nic = oriel_nic_config_new();
    g_auto(GStrv) parameters = g_strsplit(item->string, ",", -1);
    for (char **parameter = parameters; *parameter; parameter++) {
        char *equals = strchr(*parameter, '=');
        if (!equals) {
            const char *word = g_strstrip(*parameter);
            if (word[0] != '\0')
                oriel_xlcfg_warn(mapper, item->line, "vif: '%s' is not key=value; ignored", word);
            continue;
        }
        *equals = '\0';
        const char *key = g_strstrip(*parameter);
        const char *value = g_strstrip(equals + 1);
        if (g_str_equal(key, "mac")) {
            g_free(nic->mac);
            nic->mac = g_ascii_strdown(value, -1);
        } else if (g_str_equal(key, "model")) {
            g_free(nic->model);
            /* xl passes the model to QEMU, where "virtio" is virtio-net. */
            nic->model = g_strdup(g_str_equal(value, "virtio") ? "virtio-net" : value);
        } else if (g_str_equal(key, "type")) {
            if (!g_str_equal(value, "ioemu"))
                oriel_xlcfg_warn(mapper, item->line,
                                 "vif: type '%s' ignored; every NIC is emulated", value);
        } else {
            oriel_xlcfg_warn(mapper, item->line, "vif: '%s' has no meaning in Oriel; ignored", key);
        }
    }
    g_ptr_array_add(mapper->config->nics, g_steal_pointer(&nic));
    g_ptr_array_add(mapper->nic_items, (gpointer)item);
    return TRUE;
}

gboolean
oriel_xlcfg_map_vif(OrielXlcfgMapper *mapper, const OrielXlcfgSetting *setting, GError **error)
{
    const OrielXlcfgValue *value = setting->value;

    if (!oriel_xlcfg_expect_type(mapper, "vif", value, ORIEL_XLCFG_VALUE_LIST, error))
        return FALSE;
    for (guint i = 0; i < value->items->len; i++)
        if (!map_vif_spec(mapper, g_ptr_array_index(value->items, i), error))
            return FALSE;
    return TRUE;
}
