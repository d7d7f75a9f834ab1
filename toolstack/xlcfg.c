/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The second stage of the xl.cfg parser: maps the generic settings tree
 * (xlcfg-syntax.c) onto an OrielDomainConfig, one handler per xl key, then
 * validates the result and points any validation error back at the file.
 */
#include "xlcfg-priv.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

G_DEFINE_QUARK(oriel-xlcfg-error-quark, oriel_xlcfg_error)

typedef gboolean (*KeyHandler)(OrielXlcfgMapper *mapper, const OrielXlcfgSetting *setting,
                               GError **error);

static void
mapper_clear(OrielXlcfgMapper *mapper)
{
    g_clear_pointer(&mapper->warnings, g_ptr_array_unref);
    g_clear_pointer(&mapper->origins, g_hash_table_unref);
    g_clear_pointer(&mapper->disk_items, g_ptr_array_unref);
    g_clear_pointer(&mapper->nic_items, g_ptr_array_unref);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(OrielXlcfgMapper, mapper_clear)

/* ---- helpers ---------------------------------------------------------- */

void
oriel_xlcfg_warn(OrielXlcfgMapper *mapper, guint line, const char *format, ...)
{
    va_list args;

    va_start(args, format);
    g_autofree char *message = g_strdup_vprintf(format, args);
    va_end(args);
    g_ptr_array_add(mapper->warnings,
                    g_strdup_printf("%s:%u: %s", mapper->filename, line, message));
}

gboolean
oriel_xlcfg_fail_at(OrielXlcfgMapper *mapper, const OrielXlcfgValue *value, OrielXlcfgError code,
                    GError **error, const char *format, ...)
{
    va_list args;

    va_start(args, format);
    g_autofree char *message = g_strdup_vprintf(format, args);
    va_end(args);
    oriel_xlcfg_set_error_at(error, code, mapper->filename, value->line, value->column, "%s",
                             message);
    return FALSE;
}

static void
record_origin(OrielXlcfgMapper *mapper, const char *key, const OrielXlcfgValue *value)
{
    g_hash_table_replace(mapper->origins, (gpointer)key, (gpointer)value);
}

gboolean
oriel_xlcfg_expect_type(OrielXlcfgMapper *mapper, const char *key, const OrielXlcfgValue *value,
                        OrielXlcfgValueType type, GError **error)
{
    if (value->type == type)
        return TRUE;
    return oriel_xlcfg_fail_at(
        mapper, value, ORIEL_XLCFG_ERROR_TYPE, error, "%s: expected %s, got %s", key,
        oriel_xlcfg_value_type_describe(type), oriel_xlcfg_value_type_describe(value->type));
}

static gboolean
get_number(OrielXlcfgMapper *mapper, const OrielXlcfgSetting *setting, guint64 max, guint64 *ret,
           GError **error)
{
    const OrielXlcfgValue *value = setting->value;

    if (!oriel_xlcfg_expect_type(mapper, setting->key, value, ORIEL_XLCFG_VALUE_NUMBER, error))
        return FALSE;
    if (value->number > max)
        return oriel_xlcfg_fail_at(mapper, value, ORIEL_XLCFG_ERROR_VALUE, error,
                                   "%s: %" G_GUINT64_FORMAT
                                   " is out of range (at most %" G_GUINT64_FORMAT ")",
                                   setting->key, value->number, max);
    *ret = value->number;
    return TRUE;
}

static gboolean
get_uint(OrielXlcfgMapper *mapper, const OrielXlcfgSetting *setting, guint *ret, GError **error)
{
    guint64 number = 0;

    if (!get_number(mapper, setting, G_MAXUINT, &number, error))
        return FALSE;
    *ret = (guint)number;
    return TRUE;
}

static gboolean
get_int(OrielXlcfgMapper *mapper, const OrielXlcfgSetting *setting, gint *ret, GError **error)
{
    guint64 number = 0;

    if (!get_number(mapper, setting, G_MAXINT, &number, error))
        return FALSE;
    *ret = (gint)number;
    return TRUE;
}

/* xl booleans are the numbers 0 and 1; anything else is likely a typo. */
static gboolean
get_boolean(OrielXlcfgMapper *mapper, const OrielXlcfgSetting *setting, gboolean *ret,
            GError **error)
{
    const OrielXlcfgValue *value = setting->value;

    if (value->type != ORIEL_XLCFG_VALUE_NUMBER)
        return oriel_xlcfg_fail_at(mapper, value, ORIEL_XLCFG_ERROR_TYPE, error,
                                   "%s: expected 0 or 1, got %s", setting->key,
                                   oriel_xlcfg_value_type_describe(value->type));
    if (value->number > 1)
        return oriel_xlcfg_fail_at(mapper, value, ORIEL_XLCFG_ERROR_VALUE, error,
                                   "%s: expected 0 or 1, got %" G_GUINT64_FORMAT, setting->key,
                                   value->number);
    *ret = value->number == 1;
    return TRUE;
}

static gboolean
get_string(OrielXlcfgMapper *mapper, const OrielXlcfgSetting *setting, const char **ret,
           GError **error)
{
    if (!oriel_xlcfg_expect_type(mapper, setting->key, setting->value, ORIEL_XLCFG_VALUE_STRING,
                                 error))
        return FALSE;
    *ret = setting->value->string;
    return TRUE;
}

static gboolean
set_string(OrielXlcfgMapper *mapper, const OrielXlcfgSetting *setting, char **field, GError **error)
{
    const char *string = NULL;

    if (!get_string(mapper, setting, &string, error))
        return FALSE;
    g_free(*field);
    *field = g_strdup(string);
    return TRUE;
}

/* Relative paths are relative to the config file, as for xl. */
char *
oriel_xlcfg_resolve_path(const OrielXlcfgMapper *mapper, const char *path)
{
    if (mapper->base_directory && path[0] != '\0' && !g_path_is_absolute(path))
        return g_canonicalize_filename(path, mapper->base_directory);
    return g_strdup(path);
}

static gboolean
set_path(OrielXlcfgMapper *mapper, const OrielXlcfgSetting *setting, char **field, GError **error)
{
    const char *path = NULL;

    if (!get_string(mapper, setting, &path, error))
        return FALSE;
    g_free(*field);
    *field = oriel_xlcfg_resolve_path(mapper, path);
    return TRUE;
}

static gboolean
unknown_value(OrielXlcfgMapper *mapper, const OrielXlcfgSetting *setting, const char *value,
              const char *expected, GError **error)
{
    return oriel_xlcfg_fail_at(mapper, setting->value, ORIEL_XLCFG_ERROR_VALUE, error,
                               "%s: unknown value '%s' (expected %s)", setting->key, value,
                               expected);
}

/* ---- scalar keys ------------------------------------------------------ */

static gboolean
map_name(OrielXlcfgMapper *mapper, const OrielXlcfgSetting *setting, GError **error)
{
    return set_string(mapper, setting, &mapper->config->name, error);
}

static gboolean
parse_domain_type(OrielXlcfgMapper *mapper, const OrielXlcfgSetting *setting, GError **error)
{
    const char *type = NULL;

    if (!get_string(mapper, setting, &type, error))
        return FALSE;
    if (g_str_equal(type, "pv"))
        return oriel_xlcfg_fail_at(mapper, setting->value, ORIEL_XLCFG_ERROR_VALUE, error,
                                   "%s: PV guests need Xen; use type = \"pvh\" or \"hvm\"",
                                   setting->key);
    if (!oriel_domain_type_from_string(type, &mapper->config->type))
        return unknown_value(mapper, setting, type, "hvm or pvh", error);
    return TRUE;
}

static gboolean
map_type(OrielXlcfgMapper *mapper, const OrielXlcfgSetting *setting, GError **error)
{
    return parse_domain_type(mapper, setting, error);
}

/* xl's older spelling of type: builder="hvm", builder="generic" (PV). */
static gboolean
map_builder(OrielXlcfgMapper *mapper, const OrielXlcfgSetting *setting, GError **error)
{
    const char *builder = NULL;

    if (!get_string(mapper, setting, &builder, error))
        return FALSE;
    if (oriel_xlcfg_settings_lookup(mapper->settings, "type")) {
        oriel_xlcfg_warn(mapper, setting->line, "builder: deprecated and overridden by type");
        return TRUE;
    }
    if (g_str_equal(builder, "generic") || g_str_equal(builder, "linux"))
        return oriel_xlcfg_fail_at(
            mapper, setting->value, ORIEL_XLCFG_ERROR_VALUE, error,
            "builder: '%s' builds a PV guest, which needs Xen; use type = \"pvh\" or \"hvm\"",
            builder);
    if (!parse_domain_type(mapper, setting, error))
        return FALSE;
    oriel_xlcfg_warn(mapper, setting->line, "builder: deprecated; write type = \"%s\"", builder);
    record_origin(mapper, "type", setting->value);
    return TRUE;
}

static gboolean
map_memory(OrielXlcfgMapper *mapper, const OrielXlcfgSetting *setting, GError **error)
{
    return get_number(mapper, setting, G_MAXUINT64, &mapper->config->memory_mib, error);
}

static gboolean
map_maxmem(OrielXlcfgMapper *mapper, const OrielXlcfgSetting *setting, GError **error)
{
    return get_number(mapper, setting, G_MAXUINT64, &mapper->config->maxmem_mib, error);
}

static gboolean
map_vcpus(OrielXlcfgMapper *mapper, const OrielXlcfgSetting *setting, GError **error)
{
    return get_uint(mapper, setting, &mapper->config->vcpus, error);
}

static gboolean
map_maxvcpus(OrielXlcfgMapper *mapper, const OrielXlcfgSetting *setting, GError **error)
{
    return get_uint(mapper, setting, &mapper->config->maxvcpus, error);
}

/* Appends the comma-separated entries of @text to @entries, without the
 * blanks xl tolerates around them. */
static void
split_cpu_entries(const char *text, GPtrArray *entries)
{
    g_auto(GStrv) parts = g_strsplit(text, ",", -1);

    for (char **part = parts; *part; part++) {
        g_autofree char *entry = g_strdup(*part);
        g_strstrip(entry);
        if (entry[0] != '\0')
            g_ptr_array_add(entries, g_steal_pointer(&entry));
    }
}

/*
 * cpus = "0-3,^1" or, as xl also allows, a list: ["2", "3"] or [2, 3].
 * xl reads a list as one CPU set per vCPU; Oriel pins the domain as a
 * whole, so a list becomes the union of its entries, with a warning.
 */
static gboolean
map_cpus(OrielXlcfgMapper *mapper, const OrielXlcfgSetting *setting, GError **error)
{
    const OrielXlcfgValue *value = setting->value;
    g_autoptr(GPtrArray) entries = g_ptr_array_new_with_free_func(g_free);

    if (value->type == ORIEL_XLCFG_VALUE_STRING) {
        split_cpu_entries(value->string, entries);
    } else if (value->type == ORIEL_XLCFG_VALUE_LIST) {
        for (guint i = 0; i < value->items->len; i++) {
            const OrielXlcfgValue *item = g_ptr_array_index(value->items, i);
            if (item->type == ORIEL_XLCFG_VALUE_NUMBER)
                g_ptr_array_add(entries, g_strdup_printf("%" G_GUINT64_FORMAT, item->number));
            else if (item->type == ORIEL_XLCFG_VALUE_STRING)
                split_cpu_entries(item->string, entries);
            else
                return oriel_xlcfg_fail_at(
                    mapper, item, ORIEL_XLCFG_ERROR_TYPE, error,
                    "cpus: expected a string or a number in the list, got a list");
        }
        if (value->items->len > 1)
            oriel_xlcfg_warn(
                mapper, setting->line,
                "cpus: per-vCPU affinity lists are merged into one CPU set for the whole domain");
    } else {
        return oriel_xlcfg_fail_at(mapper, value, ORIEL_XLCFG_ERROR_TYPE, error,
                                   "cpus: expected a string or a list, got a number");
    }

    for (guint i = 0; i < entries->len; i++) {
        const char *entry = g_ptr_array_index(entries, i);
        if (g_str_has_prefix(entry, "node:") || g_str_has_prefix(entry, "nodes:")) {
            oriel_xlcfg_warn(mapper, setting->line,
                             "cpus: NUMA node affinity is not supported; ignored");
            g_clear_pointer(&mapper->config->cpus, g_free);
            return TRUE;
        }
    }
    g_clear_pointer(&mapper->config->cpus, g_free);
    if (entries->len > 0) {
        g_ptr_array_add(entries, NULL);
        mapper->config->cpus = g_strjoinv(",", (char **)entries->pdata);
    }
    return TRUE;
}

static gboolean
map_cpu_weight(OrielXlcfgMapper *mapper, const OrielXlcfgSetting *setting, GError **error)
{
    return get_int(mapper, setting, &mapper->config->cpu_weight, error);
}

static gboolean
map_cap(OrielXlcfgMapper *mapper, const OrielXlcfgSetting *setting, GError **error)
{
    return get_int(mapper, setting, &mapper->config->cap, error);
}

static gboolean
map_kernel(OrielXlcfgMapper *mapper, const OrielXlcfgSetting *setting, GError **error)
{
    return set_path(mapper, setting, &mapper->config->kernel, error);
}

static gboolean
map_ramdisk(OrielXlcfgMapper *mapper, const OrielXlcfgSetting *setting, GError **error)
{
    return set_path(mapper, setting, &mapper->config->ramdisk, error);
}

static gboolean
map_cmdline(OrielXlcfgMapper *mapper, const OrielXlcfgSetting *setting, GError **error)
{
    return set_string(mapper, setting, &mapper->config->cmdline, error);
}

/* root and extra are only type-checked here; finish_mapping() joins them
 * once every key is known, since cmdline overrides them. */
static gboolean
map_root_or_extra(OrielXlcfgMapper *mapper, const OrielXlcfgSetting *setting, GError **error)
{
    const char *ignored = NULL;

    return get_string(mapper, setting, &ignored, error);
}

static gboolean
map_firmware(OrielXlcfgMapper *mapper, const OrielXlcfgSetting *setting, GError **error)
{
    const char *firmware = NULL;

    if (!get_string(mapper, setting, &firmware, error))
        return FALSE;
    if (!oriel_firmware_from_string(firmware, &mapper->config->firmware))
        return unknown_value(mapper, setting, firmware, "bios, seabios, uefi or ovmf", error);
    return TRUE;
}

/* xl's bios= (rombios, seabios, ovmf) chooses the firmware of HVM guests. */
static gboolean
map_bios(OrielXlcfgMapper *mapper, const OrielXlcfgSetting *setting, GError **error)
{
    const char *bios = NULL;

    if (!get_string(mapper, setting, &bios, error))
        return FALSE;
    if (oriel_xlcfg_settings_lookup(mapper->settings, "firmware")) {
        oriel_xlcfg_warn(mapper, setting->line, "bios: overridden by firmware");
        return TRUE;
    }
    if (g_str_equal(bios, "rombios")) {
        oriel_xlcfg_warn(mapper, setting->line, "bios: rombios is not available; using seabios");
        mapper->config->firmware = ORIEL_FIRMWARE_SEABIOS;
    } else if (g_str_equal(bios, "seabios") || g_str_equal(bios, "ovmf")) {
        oriel_firmware_from_string(bios, &mapper->config->firmware);
    } else {
        return unknown_value(mapper, setting, bios, "rombios, seabios or ovmf", error);
    }
    record_origin(mapper, "firmware", setting->value);
    return TRUE;
}

static gboolean
map_boot(OrielXlcfgMapper *mapper, const OrielXlcfgSetting *setting, GError **error)
{
    return set_string(mapper, setting, &mapper->config->boot, error);
}

static gboolean
map_vga(OrielXlcfgMapper *mapper, const OrielXlcfgSetting *setting, GError **error)
{
    const char *vga = NULL;

    if (!get_string(mapper, setting, &vga, error))
        return FALSE;
    if (g_str_equal(vga, "cirrus")) {
        oriel_xlcfg_warn(mapper, setting->line, "vga: cirrus is not emulated; using stdvga");
        mapper->config->vga = ORIEL_VGA_STDVGA;
        return TRUE;
    }
    if (!oriel_vga_from_string(vga, &mapper->config->vga))
        return unknown_value(mapper, setting, vga, "stdvga, qxl, none or cirrus", error);
    return TRUE;
}

/* xl's legacy stdvga=1, from before vga= existed. */
static gboolean
map_stdvga(OrielXlcfgMapper *mapper, const OrielXlcfgSetting *setting, GError **error)
{
    gboolean stdvga = FALSE;

    if (!get_boolean(mapper, setting, &stdvga, error))
        return FALSE;
    if (oriel_xlcfg_settings_lookup(mapper->settings, "vga")) {
        oriel_xlcfg_warn(mapper, setting->line, "stdvga: deprecated and overridden by vga");
        return TRUE;
    }
    oriel_xlcfg_warn(mapper, setting->line, "stdvga: deprecated; use vga instead");
    if (stdvga) {
        mapper->config->vga = ORIEL_VGA_STDVGA;
        record_origin(mapper, "vga", setting->value);
    }
    return TRUE;
}

static gboolean
map_videoram(OrielXlcfgMapper *mapper, const OrielXlcfgSetting *setting, GError **error)
{
    return get_uint(mapper, setting, &mapper->config->videoram_mib, error);
}

/* xl's other actions, mapped to the nearest one Oriel has. */
static const struct {
    const char *xl_name;
    OrielLifecycleAction action;
} lifecycle_aliases[] = {
    { "rename-restart", ORIEL_ACTION_RESTART },
    { "coredump-destroy", ORIEL_ACTION_DESTROY },
    { "coredump-restart", ORIEL_ACTION_RESTART },
    { "soft-reset", ORIEL_ACTION_RESTART },
};

static gboolean
map_lifecycle(OrielXlcfgMapper *mapper, const OrielXlcfgSetting *setting,
              OrielLifecycleAction *field, GError **error)
{
    const char *action = NULL;

    if (!get_string(mapper, setting, &action, error))
        return FALSE;
    if (oriel_lifecycle_action_from_string(action, field))
        return TRUE;
    for (gsize i = 0; i < G_N_ELEMENTS(lifecycle_aliases); i++) {
        if (g_str_equal(action, lifecycle_aliases[i].xl_name)) {
            *field = lifecycle_aliases[i].action;
            oriel_xlcfg_warn(mapper, setting->line, "%s: '%s' is not supported; using '%s'",
                             setting->key, action, oriel_lifecycle_action_to_string(*field));
            return TRUE;
        }
    }
    return unknown_value(mapper, setting, action, "destroy, restart or preserve", error);
}

static gboolean
map_on_poweroff(OrielXlcfgMapper *mapper, const OrielXlcfgSetting *setting, GError **error)
{
    return map_lifecycle(mapper, setting, &mapper->config->on_poweroff, error);
}

static gboolean
map_on_reboot(OrielXlcfgMapper *mapper, const OrielXlcfgSetting *setting, GError **error)
{
    return map_lifecycle(mapper, setting, &mapper->config->on_reboot, error);
}

static gboolean
map_on_crash(OrielXlcfgMapper *mapper, const OrielXlcfgSetting *setting, GError **error)
{
    return map_lifecycle(mapper, setting, &mapper->config->on_crash, error);
}

/* ---- SPICE ------------------------------------------------------------ */

static gboolean
map_spice(OrielXlcfgMapper *mapper, const OrielXlcfgSetting *setting, GError **error)
{
    return get_boolean(mapper, setting, &mapper->config->spice.enabled, error);
}

static gboolean
map_spicehost(OrielXlcfgMapper *mapper, const OrielXlcfgSetting *setting, GError **error)
{
    return set_string(mapper, setting, &mapper->config->spice.host, error);
}

static gboolean
map_spiceport(OrielXlcfgMapper *mapper, const OrielXlcfgSetting *setting, GError **error)
{
    return get_uint(mapper, setting, &mapper->config->spice.port, error);
}

static gboolean
map_spicetls_port(OrielXlcfgMapper *mapper, const OrielXlcfgSetting *setting, GError **error)
{
    return get_uint(mapper, setting, &mapper->config->spice.tls_port, error);
}

static gboolean
map_spicedisable_ticketing(OrielXlcfgMapper *mapper, const OrielXlcfgSetting *setting,
                           GError **error)
{
    return get_boolean(mapper, setting, &mapper->config->spice.disable_ticketing, error);
}

static gboolean
map_spicepasswd(OrielXlcfgMapper *mapper, const OrielXlcfgSetting *setting, GError **error)
{
    return set_string(mapper, setting, &mapper->config->spice.password, error);
}

static gboolean
map_spiceagent_mouse(OrielXlcfgMapper *mapper, const OrielXlcfgSetting *setting, GError **error)
{
    return get_boolean(mapper, setting, &mapper->config->spice.agent_mouse, error);
}

static gboolean
map_spicevdagent(OrielXlcfgMapper *mapper, const OrielXlcfgSetting *setting, GError **error)
{
    return get_boolean(mapper, setting, &mapper->config->spice.vdagent, error);
}

static gboolean
map_spice_tls_only(OrielXlcfgMapper *mapper, const OrielXlcfgSetting *setting, GError **error)
{
    return get_boolean(mapper, setting, &mapper->config->spice.tls_only, error);
}

static gboolean
map_spice_clipboard_sharing(OrielXlcfgMapper *mapper, const OrielXlcfgSetting *setting,
                            GError **error)
{
    return get_boolean(mapper, setting, &mapper->config->spice.clipboard_sharing, error);
}

static gboolean
map_spiceusbredirection(OrielXlcfgMapper *mapper, const OrielXlcfgSetting *setting, GError **error)
{
    return get_uint(mapper, setting, &mapper->config->spice.usbredirection, error);
}

static gboolean
map_spice_image_compression(OrielXlcfgMapper *mapper, const OrielXlcfgSetting *setting,
                            GError **error)
{
    return set_string(mapper, setting, &mapper->config->spice.image_compression, error);
}

static gboolean
map_spice_streaming_video(OrielXlcfgMapper *mapper, const OrielXlcfgSetting *setting,
                          GError **error)
{
    return set_string(mapper, setting, &mapper->config->spice.streaming_video, error);
}

/* ---- other devices ---------------------------------------------------- */

static gboolean
map_soundhw(OrielXlcfgMapper *mapper, const OrielXlcfgSetting *setting, GError **error)
{
    /* Older QEMU sound cards xl configs still name; hda serves them all. */
    static const char *const legacy_cards[] = {
        "sb16", "es1370", "cs4231a", "gus", "adlib", "pcspk", "all", NULL,
    };
    const char *soundhw = NULL;

    if (!get_string(mapper, setting, &soundhw, error))
        return FALSE;
    if (oriel_sound_hw_from_string(soundhw, &mapper->config->soundhw))
        return TRUE;
    if (g_strv_contains(legacy_cards, soundhw)) {
        oriel_xlcfg_warn(mapper, setting->line, "soundhw: '%s' is not emulated; using hda",
                         soundhw);
        mapper->config->soundhw = ORIEL_SOUND_HDA;
        return TRUE;
    }
    return unknown_value(mapper, setting, soundhw, "hda or ac97", error);
}

static gboolean
map_audio_backend(OrielXlcfgMapper *mapper, const OrielXlcfgSetting *setting, GError **error)
{
    const char *backend = NULL;

    if (!get_string(mapper, setting, &backend, error))
        return FALSE;
    if (oriel_audio_backend_from_string(backend, &mapper->config->audio_backend))
        return TRUE;
    return unknown_value(mapper, setting, backend, "default, spice, pa or none", error);
}

static gboolean
map_usb(OrielXlcfgMapper *mapper, const OrielXlcfgSetting *setting, GError **error)
{
    return get_boolean(mapper, setting, &mapper->config->usb, error);
}

static gboolean
map_usbversion(OrielXlcfgMapper *mapper, const OrielXlcfgSetting *setting, GError **error)
{
    return get_uint(mapper, setting, &mapper->config->usbversion, error);
}

static gboolean
map_nestedhvm(OrielXlcfgMapper *mapper, const OrielXlcfgSetting *setting, GError **error)
{
    return get_boolean(mapper, setting, &mapper->config->nestedhvm, error);
}

/*
 * serial = "pty", "unix" or "none".  xl also takes a QEMU character device
 * ("file:/tmp/log", "tcp:...") or a list of them; those load with a
 * warning and the default, so that an existing xl.cfg still starts.
 */
static gboolean
map_serial(OrielXlcfgMapper *mapper, const OrielXlcfgSetting *setting, GError **error)
{
    static const char *const kinds[] = { "pty", "unix", "none", NULL };
    const OrielXlcfgValue *value = setting->value;

    if (value->type == ORIEL_XLCFG_VALUE_LIST) {
        if (value->items->len == 0)
            return TRUE;
        if (value->items->len > 1)
            oriel_xlcfg_warn(mapper, setting->line, "serial: only the first serial port is used");
        value = g_ptr_array_index(value->items, 0);
    }
    if (!oriel_xlcfg_expect_type(mapper, "serial", value, ORIEL_XLCFG_VALUE_STRING, error))
        return FALSE;
    if (!g_strv_contains(kinds, value->string)) {
        oriel_xlcfg_warn(mapper, setting->line,
                         "serial: '%s' is not supported (pty, unix or none); using unix",
                         value->string);
        return TRUE;
    }
    g_free(mapper->config->serial);
    mapper->config->serial = g_strdup(value->string);
    return TRUE;
}

/* device_model_args (and xl's device_model_args_hvm): extra QEMU args. */
static gboolean
map_device_model_args(OrielXlcfgMapper *mapper, const OrielXlcfgSetting *setting, GError **error)
{
    const OrielXlcfgValue *value = setting->value;

    if (!oriel_xlcfg_expect_type(mapper, setting->key, value, ORIEL_XLCFG_VALUE_LIST, error))
        return FALSE;
    for (guint i = 0; i < value->items->len; i++) {
        const OrielXlcfgValue *item = g_ptr_array_index(value->items, i);
        if (!oriel_xlcfg_expect_type(mapper, setting->key, item, ORIEL_XLCFG_VALUE_STRING, error))
            return FALSE;
        g_ptr_array_add(mapper->config->device_model_args, g_strdup(item->string));
    }
    record_origin(mapper, "device_model_args", value);
    return TRUE;
}

static gboolean
map_vnc(OrielXlcfgMapper *mapper, const OrielXlcfgSetting *setting, GError **error)
{
    const OrielXlcfgValue *value = setting->value;

    if (value->type == ORIEL_XLCFG_VALUE_NUMBER && value->number != 0)
        oriel_xlcfg_warn(mapper, setting->line,
                         "vnc: ignored; SPICE is Oriel's display (set spice = 1)");
    else
        oriel_xlcfg_warn(mapper, setting->line, "vnc: ignored; SPICE is Oriel's display");
    return TRUE;
}

/* ---- the key table ---------------------------------------------------- */

static const struct {
    const char *key;
    KeyHandler handler;
} key_handlers[] = {
    { "name", map_name },
    { "type", map_type },
    { "builder", map_builder },
    { "memory", map_memory },
    { "maxmem", map_maxmem },
    { "vcpus", map_vcpus },
    { "maxvcpus", map_maxvcpus },
    { "cpus", map_cpus },
    { "cpu_weight", map_cpu_weight },
    { "cap", map_cap },
    { "kernel", map_kernel },
    { "ramdisk", map_ramdisk },
    { "cmdline", map_cmdline },
    { "root", map_root_or_extra },
    { "extra", map_root_or_extra },
    { "firmware", map_firmware },
    { "bios", map_bios },
    { "boot", map_boot },
    { "disk", oriel_xlcfg_map_disk },
    { "vif", oriel_xlcfg_map_vif },
    { "vga", map_vga },
    { "stdvga", map_stdvga },
    { "videoram", map_videoram },
    { "on_poweroff", map_on_poweroff },
    { "on_reboot", map_on_reboot },
    { "on_crash", map_on_crash },
    { "spice", map_spice },
    { "spicehost", map_spicehost },
    { "spiceport", map_spiceport },
    { "spicetls_port", map_spicetls_port },
    { "spicedisable_ticketing", map_spicedisable_ticketing },
    { "spicepasswd", map_spicepasswd },
    { "spiceagent_mouse", map_spiceagent_mouse },
    { "spicevdagent", map_spicevdagent },
    { "spice_clipboard_sharing", map_spice_clipboard_sharing },
    { "spiceusbredirection", map_spiceusbredirection },
    { "spice_image_compression", map_spice_image_compression },
    { "spice_streaming_video", map_spice_streaming_video },
    { "spice_tls_only", map_spice_tls_only },
    { "soundhw", map_soundhw },
    { "audio_backend", map_audio_backend },
    { "usb", map_usb },
    { "usbversion", map_usbversion },
    { "serial", map_serial },
    { "nestedhvm", map_nestedhvm },
    { "device_model_args", map_device_model_args },
    { "device_model_args_hvm", map_device_model_args },
    { "vnc", map_vnc },
};

/*
 * xl keys that real desktop configs carry but that mean nothing on QEMU
 * with SPICE (or are decided by Oriel itself): they load with a warning,
 * so that an existing xl.cfg works unchanged.
 */
static const struct {
    const char *key;
    const char *reason;
} ignored_keys[] = {
    { "acpi", "ACPI is always on" },
    { "acpi_s3", NULL },
    { "acpi_s4", NULL },
    { "apic", "the APIC is always on" },
    { "pae", "PAE is always on" },
    { "hap", "the accelerator decides" },
    { "nx", NULL },
    { "hpet", NULL },
    { "viridian", NULL },
    { "localtime", NULL },
    { "rtc_timeoffset", NULL },
    { "timer_mode", NULL },
    { "tsc_mode", NULL },
    { "shadow_memory", "the accelerator decides" },
    { "xen_platform_pci", "there is no Xen platform device" },
    { "device_model_version", "Oriel runs its own QEMU" },
    { "device_model_override", "Oriel runs its own QEMU" },
    { "device_model_stubdomain_override", "Oriel runs its own QEMU" },
    { "device_model_user", "Oriel runs its own QEMU" },
    { "device_model_args_pv", "there are no PV guests" },
    { "bootloader", "there are no PV guests" },
    { "sdl", "SPICE is Oriel's display" },
    { "vnclisten", "SPICE is Oriel's display" },
    { "vncdisplay", "SPICE is Oriel's display" },
    { "vncunused", "SPICE is Oriel's display" },
    { "vncpasswd", "SPICE is Oriel's display" },
    { "vncconsole", "SPICE is Oriel's display" },
    { "vfb", "SPICE is Oriel's display" },
    { "nographic", "SPICE is Oriel's display" },
    { "opengl", NULL },
    { "keymap", "the SPICE client sends scancodes" },
    { "usbdevice", "the SPICE agent mouse and USB redirection replace emulated devices" },
    { "on_watchdog", NULL },
    { "on_soft_reset", NULL },
    { "uuid", "Oriel assigns one" },
    { "pool", NULL },
    { "seclabel", NULL },
    { "cpus_soft", NULL },
    { "gfx_passthru", NULL },
    { "pci", "PCI passthrough is not supported" },
    { "e820_host", NULL },
    { "claim_mode", NULL },
    { "max_grant_frames", NULL },
    { "max_maptrack_frames", NULL },
    { "vpmu", NULL },
    { "altp2m", NULL },
};

static KeyHandler
find_handler(const char *key)
{
    for (gsize i = 0; i < G_N_ELEMENTS(key_handlers); i++)
        if (g_str_equal(key_handlers[i].key, key))
            return key_handlers[i].handler;
    return NULL;
}

static gboolean
warn_if_ignored(OrielXlcfgMapper *mapper, const OrielXlcfgSetting *setting)
{
    for (gsize i = 0; i < G_N_ELEMENTS(ignored_keys); i++) {
        if (!g_str_equal(ignored_keys[i].key, setting->key))
            continue;
        if (ignored_keys[i].reason)
            oriel_xlcfg_warn(mapper, setting->line, "%s: ignored; %s", setting->key,
                             ignored_keys[i].reason);
        else
            oriel_xlcfg_warn(mapper, setting->line, "%s: has no meaning in Oriel; ignored",
                             setting->key);
        return TRUE;
    }
    return FALSE;
}

/* xl's kernel command line when cmdline is absent: "root=ROOT EXTRA". */
static void
finish_mapping(OrielXlcfgMapper *mapper)
{
    const OrielXlcfgSetting *root = oriel_xlcfg_settings_lookup(mapper->settings, "root");
    const OrielXlcfgSetting *extra = oriel_xlcfg_settings_lookup(mapper->settings, "extra");

    if (!root && !extra)
        return;
    if (oriel_xlcfg_settings_lookup(mapper->settings, "cmdline")) {
        oriel_xlcfg_warn(mapper, (root ? root : extra)->line, "%s: overridden by cmdline",
                         root ? "root" : "extra");
        return;
    }
    g_autoptr(GString) cmdline = g_string_new(NULL);
    if (root)
        g_string_append_printf(cmdline, "root=%s", root->value->string);
    if (root && extra)
        g_string_append_c(cmdline, ' ');
    if (extra)
        g_string_append(cmdline, extra->value->string);
    g_free(mapper->config->cmdline);
    mapper->config->cmdline = g_string_free(g_steal_pointer(&cmdline), FALSE);
    record_origin(mapper, "cmdline", (root ? root : extra)->value);
}

/* ---- validation errors ------------------------------------------------ */

/* TRUE when @word appears in @message as a whole word. */
static gboolean
message_names(const char *message, const char *word)
{
    gsize length = strlen(word);

    if (length == 0)
        return FALSE;
    for (const char *p = strstr(message, word); p; p = strstr(p + 1, word)) {
        gboolean starts = p == message || !g_ascii_isalnum(p[-1]);
        gboolean ends = !g_ascii_isalnum(p[length]);
        if (starts && ends)
            return TRUE;
    }
    return FALSE;
}

/* The disk or vif item a validation message is about: the last one whose
 * vdev (disks) or model or MAC (NICs) the message quotes, since a clash is
 * the later entry's fault. */
static const OrielXlcfgValue *
find_device_item(const OrielXlcfgMapper *mapper, const char *key, const char *message)
{
    const OrielDomainConfig *config = mapper->config;

    if (g_str_equal(key, "disk")) {
        for (guint i = MIN(config->disks->len, mapper->disk_items->len); i-- > 0;) {
            const OrielDiskConfig *disk = g_ptr_array_index(config->disks, i);
            if (disk->vdev && message_names(message + strlen("disk:"), disk->vdev))
                return g_ptr_array_index(mapper->disk_items, i);
        }
    } else if (g_str_equal(key, "vif")) {
        for (guint i = MIN(config->nics->len, mapper->nic_items->len); i-- > 0;) {
            const OrielNicConfig *nic = g_ptr_array_index(config->nics, i);
            if ((nic->mac && message_names(message, nic->mac)) ||
                (nic->model && message_names(message, nic->model)))
                return g_ptr_array_index(mapper->nic_items, i);
        }
    }
    return NULL;
}

/* Validation messages start with the xl key they are about ("memory: 8 MiB
 * is below ..."): point at that key's value when the file set it. */
static void
set_validation_error(const OrielXlcfgMapper *mapper, const GError *validation_error, GError **error)
{
    const char *message = validation_error->message;
    gsize key_length = 0;

    while (g_ascii_isalnum(message[key_length]) || message[key_length] == '_')
        key_length++;
    if (key_length > 0 && message[key_length] == ':') {
        g_autofree char *key = g_strndup(message, key_length);
        const OrielXlcfgValue *value = find_device_item(mapper, key, message);
        if (!value)
            value = g_hash_table_lookup(mapper->origins, key);
        if (value) {
            oriel_xlcfg_set_error_at(error, ORIEL_XLCFG_ERROR_INVALID, mapper->filename,
                                     value->line, value->column, "%s", message);
            return;
        }
    }
    g_set_error(error, ORIEL_XLCFG_ERROR, ORIEL_XLCFG_ERROR_INVALID, "%s: %s", mapper->filename,
                message);
}

/* ---- entry points ----------------------------------------------------- */

static OrielDomainConfig *
parse_data_in(const char *data, gsize length, const char *filename, const char *base_directory,
              GPtrArray **ret_warnings, GError **error)
{
    if (!filename)
        filename = "<data>";
    g_autoptr(OrielXlcfgSettings) settings =
        oriel_xlcfg_settings_parse(data, length, filename, error);
    if (!settings)
        return NULL;

    g_autoptr(OrielDomainConfig) config = oriel_domain_config_new();
    g_auto(OrielXlcfgMapper) mapper = {
        .settings = settings,
        .filename = filename,
        .base_directory = base_directory,
        .config = config,
        .warnings = g_ptr_array_new_with_free_func(g_free),
        .origins = g_hash_table_new(g_str_hash, g_str_equal),
        .disk_items = g_ptr_array_new(),
        .nic_items = g_ptr_array_new(),
    };

    for (guint i = 0; i < settings->settings->len; i++) {
        const OrielXlcfgSetting *setting = g_ptr_array_index(settings->settings, i);
        KeyHandler handler = find_handler(setting->key);

        if (!handler) {
            if (!warn_if_ignored(&mapper, setting))
                oriel_xlcfg_warn(&mapper, setting->line, "unknown key '%s' ignored", setting->key);
            continue;
        }
        record_origin(&mapper, setting->key, setting->value);
        if (!handler(&mapper, setting, error))
            return NULL;
    }
    finish_mapping(&mapper);

    g_autoptr(GError) validation_error = NULL;
    if (!oriel_domain_config_validate(config, &validation_error)) {
        set_validation_error(&mapper, validation_error, error);
        return NULL;
    }
    if (ret_warnings)
        *ret_warnings = g_steal_pointer(&mapper.warnings);
    return g_steal_pointer(&config);
}

OrielDomainConfig *
oriel_xlcfg_parse_data(const char *data, gsize length, const char *filename,
                       GPtrArray **ret_warnings, GError **error)
{
    return parse_data_in(data, length, filename, NULL, ret_warnings, error);
}

/* Reads at most one byte past the limit, so a huge file costs no memory. */
static char *
read_bounded(const char *path, gsize *ret_length, GError **error)
{
    g_autofree char *buffer = g_malloc(ORIEL_XLCFG_FILE_SIZE_MAX + 1);
    FILE *file = fopen(path, "rb");
    gsize length;

    if (!file) {
        int saved_errno = errno;
        g_set_error(error, ORIEL_XLCFG_ERROR, ORIEL_XLCFG_ERROR_IO, "%s: cannot open: %s", path,
                    g_strerror(saved_errno));
        return NULL;
    }
    length = fread(buffer, 1, ORIEL_XLCFG_FILE_SIZE_MAX + 1, file);
    if (ferror(file)) {
        int saved_errno = errno;
        fclose(file);
        g_set_error(error, ORIEL_XLCFG_ERROR, ORIEL_XLCFG_ERROR_IO, "%s: cannot read: %s", path,
                    g_strerror(saved_errno));
        return NULL;
    }
    fclose(file);
    if (length > ORIEL_XLCFG_FILE_SIZE_MAX) {
        g_set_error(error, ORIEL_XLCFG_ERROR, ORIEL_XLCFG_ERROR_LIMIT,
                    "%s: file too large (more than %u bytes)", path, ORIEL_XLCFG_FILE_SIZE_MAX);
        return NULL;
    }
    *ret_length = length;
    return g_steal_pointer(&buffer);
}

OrielDomainConfig *
oriel_xlcfg_parse_file(const char *path, GPtrArray **ret_warnings, GError **error)
{
    gsize length = 0;
    g_autofree char *data = read_bounded(path, &length, error);

    if (!data)
        return NULL;
    g_autofree char *absolute = g_canonicalize_filename(path, NULL);
    g_autofree char *directory = g_path_get_dirname(absolute);
    return parse_data_in(data, length, path, directory, ret_warnings, error);
}
