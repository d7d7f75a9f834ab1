/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The domain config model: defaults, validation of every limit, JSON. */
#include "domain-config.h"

#include <string.h>

static OrielDomainConfig *
minimal_config(void)
{
    OrielDomainConfig *config = oriel_domain_config_new();
    config->name = g_strdup("desk1");
    return config;
}

static void
add_disk(OrielDomainConfig *config, const char *target, const char *vdev, gboolean cdrom)
{
    OrielDiskConfig *disk = oriel_disk_config_new();
    disk->target = g_strdup(target);
    disk->vdev = g_strdup(vdev);
    disk->cdrom = cdrom;
    g_ptr_array_add(config->disks, disk);
}

static void
test_defaults(void)
{
    g_autoptr(OrielDomainConfig) config = minimal_config();
    g_autoptr(GError) error = NULL;

    g_assert_true(oriel_domain_config_validate(config, &error));
    g_assert_no_error(error);
    g_assert_cmpint(config->type, ==, ORIEL_DOMAIN_TYPE_HVM);
    g_assert_cmpuint(config->memory_mib, ==, 512);
    g_assert_cmpuint(config->maxmem_mib, ==, 512);
    g_assert_cmpuint(config->vcpus, ==, 1);
    g_assert_cmpuint(config->maxvcpus, ==, 1);
    g_assert_cmpint(config->cpu_weight, ==, 256);
    g_assert_cmpint(config->vga, ==, ORIEL_VGA_STDVGA);
    g_assert_cmpstr(config->serial, ==, "unix");
    g_assert_cmpint(config->on_reboot, ==, ORIEL_ACTION_RESTART);
    g_assert_cmpuint(config->usbversion, ==, 0);
}

static void
test_spice_defaults(void)
{
    g_autoptr(OrielDomainConfig) config = minimal_config();
    g_autoptr(GError) error = NULL;

    config->spice.enabled = TRUE;
    config->spice.usbredirection = 2;
    g_assert_true(oriel_domain_config_validate(config, &error));
    g_assert_cmpstr(config->spice.host, ==, "127.0.0.1");
    g_assert_cmpint(config->vga, ==, ORIEL_VGA_QXL);
    g_assert_cmpuint(config->usbversion, ==, 3);
    g_assert_true(config->spice.agent_mouse);
}

typedef struct {
    const char *description;
    void (*mutate)(OrielDomainConfig *config);
    const char *message_prefix;
} InvalidCase;

static void no_name(OrielDomainConfig *c) { g_clear_pointer(&c->name, g_free); }
static void bad_name(OrielDomainConfig *c) { g_free(c->name); c->name = g_strdup("../etc"); }
static void low_memory(OrielDomainConfig *c) { c->memory_mib = 8; }
static void high_memory(OrielDomainConfig *c) { c->memory_mib = 8ull * 1024 * 1024; }
static void low_maxmem(OrielDomainConfig *c) { c->memory_mib = 512; c->maxmem_mib = 256; }
static void zero_vcpus(OrielDomainConfig *c) { c->vcpus = 0; }
static void many_vcpus(OrielDomainConfig *c) { c->vcpus = 1000; }
static void low_maxvcpus(OrielDomainConfig *c) { c->vcpus = 4; c->maxvcpus = 2; }
static void bad_cpus(OrielDomainConfig *c) { c->cpus = g_strdup("0-3;rm"); }
static void bad_weight(OrielDomainConfig *c) { c->cpu_weight = 0; }
static void bad_cap(OrielDomainConfig *c) { c->cap = 250; }
static void pvh_no_kernel(OrielDomainConfig *c) { c->type = ORIEL_DOMAIN_TYPE_PVH; }
static void ramdisk_no_kernel(OrielDomainConfig *c) { c->ramdisk = g_strdup("/boot/initrd"); }
static void bad_boot(OrielDomainConfig *c) { c->boot = g_strdup("cx"); }
static void bad_vdev(OrielDomainConfig *c) { add_disk(c, "/img", "floppy", FALSE); }
static void twice_vdev(OrielDomainConfig *c) { add_disk(c, "/a", "xvda", FALSE); add_disk(c, "/b", "xvda", FALSE); }
static void no_target(OrielDomainConfig *c) { add_disk(c, NULL, "xvda", FALSE); }
static void bad_mac(OrielDomainConfig *c)
{
    OrielNicConfig *nic = oriel_nic_config_new();
    nic->mac = g_strdup("01:00:5e:00:00:01");
    g_ptr_array_add(c->nics, nic);
}
static void bad_model(OrielDomainConfig *c)
{
    OrielNicConfig *nic = oriel_nic_config_new();
    nic->model = g_strdup("ne2k");
    g_ptr_array_add(c->nics, nic);
}
static void password_without_tickets(OrielDomainConfig *c)
{
    c->spice.enabled = TRUE;
    c->spice.disable_ticketing = TRUE;
    c->spice.password = g_strdup("secret");
}
static void no_tickets_off_loopback(OrielDomainConfig *c)
{
    c->spice.enabled = TRUE;
    c->spice.host = g_strdup("0.0.0.0");
    c->spice.disable_ticketing = TRUE;
}
static void bad_port(OrielDomainConfig *c) { c->spice.enabled = TRUE; c->spice.port = 70000; }
static void many_usbredir(OrielDomainConfig *c) { c->spice.enabled = TRUE; c->spice.usbredirection = 99; }
static void bad_compression(OrielDomainConfig *c)
{
    c->spice.enabled = TRUE;
    c->spice.image_compression = g_strdup("zip");
}
static void bad_usbversion(OrielDomainConfig *c) { c->usbversion = 4; }
static void pvh_sound(OrielDomainConfig *c)
{
    c->type = ORIEL_DOMAIN_TYPE_PVH;
    c->kernel = g_strdup("/boot/vmlinuz");
    c->soundhw = ORIEL_SOUND_HDA;
}
static void audio_pa_with_spice(OrielDomainConfig *c)
{
    c->spice.enabled = TRUE;
    c->soundhw = ORIEL_SOUND_HDA;
    c->audio_backend = ORIEL_AUDIO_BACKEND_PA;
}
static void audio_spice_without_spice(OrielDomainConfig *c)
{
    c->soundhw = ORIEL_SOUND_HDA;
    c->audio_backend = ORIEL_AUDIO_BACKEND_SPICE;
}
static void bad_serial(OrielDomainConfig *c) { c->serial = g_strdup("tcp"); }
static void big_videoram(OrielDomainConfig *c) { c->videoram_mib = 4096; }

static const InvalidCase invalid_cases[] = {
    { "no-name", no_name, "name:" },
    { "bad-name", bad_name, "name:" },
    { "low-memory", low_memory, "memory: 8 MiB is below" },
    { "high-memory", high_memory, "memory:" },
    { "low-maxmem", low_maxmem, "maxmem:" },
    { "zero-vcpus", zero_vcpus, "vcpus:" },
    { "many-vcpus", many_vcpus, "vcpus: 1000" },
    { "low-maxvcpus", low_maxvcpus, "maxvcpus:" },
    { "bad-cpus", bad_cpus, "cpus:" },
    { "bad-weight", bad_weight, "cpu_weight:" },
    { "bad-cap", bad_cap, "cap:" },
    { "pvh-no-kernel", pvh_no_kernel, "kernel:" },
    { "ramdisk-no-kernel", ramdisk_no_kernel, "kernel:" },
    { "bad-boot", bad_boot, "boot:" },
    { "bad-vdev", bad_vdev, "disk:" },
    { "twice-vdev", twice_vdev, "disk: xvda is used twice" },
    { "no-target", no_target, "disk:" },
    { "bad-mac", bad_mac, "vif:" },
    { "bad-model", bad_model, "vif:" },
    { "password-without-tickets", password_without_tickets, "spicepasswd:" },
    { "no-tickets-off-loopback", no_tickets_off_loopback, "spicedisable_ticketing:" },
    { "bad-port", bad_port, "spiceport:" },
    { "many-usbredir", many_usbredir, "spiceusbredirection:" },
    { "bad-compression", bad_compression, "spice_image_compression:" },
    { "bad-usbversion", bad_usbversion, "usbversion:" },
    { "pvh-sound", pvh_sound, "soundhw:" },
    { "audio-pa-with-spice", audio_pa_with_spice, "audio_backend: 'pa' is for domains without SPICE" },
    { "audio-spice-without-spice", audio_spice_without_spice, "audio_backend: 'spice' needs spice = 1" },
    { "bad-serial", bad_serial, "serial:" },
    { "big-videoram", big_videoram, "videoram:" },
};

static void
test_invalid(gconstpointer data)
{
    const InvalidCase *c = data;
    g_autoptr(OrielDomainConfig) config = minimal_config();
    g_autoptr(GError) error = NULL;

    c->mutate(config);
    g_assert_false(oriel_domain_config_validate(config, &error));
    g_assert_error(error, ORIEL_DEVMODEL_ERROR, ORIEL_DEVMODEL_ERROR_INVALID);
    if (!g_str_has_prefix(error->message, c->message_prefix))
        g_error("%s: message '%s' does not start with '%s'", c->description, error->message,
                c->message_prefix);
}

static void
test_loopback(void)
{
    g_assert_true(oriel_host_is_loopback("127.0.0.1"));
    g_assert_true(oriel_host_is_loopback("127.1.2.3"));
    g_assert_true(oriel_host_is_loopback("::1"));
    g_assert_true(oriel_host_is_loopback("localhost"));
    g_assert_false(oriel_host_is_loopback("0.0.0.0"));
    g_assert_false(oriel_host_is_loopback("192.168.1.1"));
    g_assert_false(oriel_host_is_loopback("::"));
    g_assert_false(oriel_host_is_loopback("example.org"));
    g_assert_false(oriel_host_is_loopback(NULL));
}

static void
test_check_files(void)
{
    g_autoptr(OrielDomainConfig) config = minimal_config();
    g_autoptr(GError) error = NULL;

    config->kernel = g_strdup("/nonexistent/vmlinuz");
    g_assert_false(oriel_domain_config_check_files(config, &error));
    g_assert_error(error, ORIEL_DEVMODEL_ERROR, ORIEL_DEVMODEL_ERROR_NOT_FOUND);
    g_assert_nonnull(strstr(error->message, "/nonexistent/vmlinuz"));
    g_clear_error(&error);

    g_free(config->kernel);
    config->kernel = g_strdup("/proc/self/exe");
    add_disk(config, "/nonexistent/disk.img", "xvda", FALSE);
    g_assert_false(oriel_domain_config_check_files(config, &error));
    g_assert_nonnull(strstr(error->message, "disk: xvda"));
}

static char *
to_json_string(const OrielDomainConfig *config, gboolean mask)
{
    g_autoptr(JsonNode) node = oriel_domain_config_to_json(config, mask);
    return json_to_string(node, FALSE);
}

static void
test_json_round_trip(void)
{
    g_autoptr(OrielDomainConfig) config = minimal_config();
    g_autoptr(GError) error = NULL;

    config->type = ORIEL_DOMAIN_TYPE_HVM;
    config->memory_mib = 1024;
    config->maxmem_mib = 2048;
    config->vcpus = 2;
    config->maxvcpus = 4;
    config->cpus = g_strdup("0-1");
    config->cap = 150;
    config->kernel = g_strdup("/boot/vmlinuz");
    config->cmdline = g_strdup("console=ttyS0 quiet");
    config->firmware = ORIEL_FIRMWARE_OVMF;
    config->boot = g_strdup("dc");
    add_disk(config, "/img/a.qcow2", "xvda", FALSE);
    ((OrielDiskConfig *)config->disks->pdata[0])->format = ORIEL_DISK_FORMAT_QCOW2;
    add_disk(config, "/img/install.iso", "hdc", TRUE);
    OrielNicConfig *nic = oriel_nic_config_new();
    nic->model = g_strdup("virtio-net");
    nic->mac = g_strdup("00:16:3e:00:00:01");
    g_ptr_array_add(config->nics, nic);
    config->spice.enabled = TRUE;
    config->spice.port = 5930;
    config->spice.password = g_strdup("s3cret");
    config->spice.vdagent = TRUE;
    config->spice.clipboard_sharing = TRUE;
    config->spice.usbredirection = 4;
    config->spice.image_compression = g_strdup("auto_glz");
    config->soundhw = ORIEL_SOUND_HDA;
    config->on_crash = ORIEL_ACTION_PRESERVE;
    g_ptr_array_add(config->device_model_args, g_strdup("-rtc"));
    g_ptr_array_add(config->device_model_args, g_strdup("base=localtime"));
    g_assert_true(oriel_domain_config_validate(config, &error));

    g_autofree char *first = to_json_string(config, FALSE);
    g_autoptr(JsonNode) node = json_from_string(first, &error);
    g_assert_no_error(error);
    g_autoptr(OrielDomainConfig) copy = oriel_domain_config_from_json(node, &error);
    g_assert_no_error(error);
    g_assert_nonnull(copy);
    g_assert_true(oriel_domain_config_validate(copy, &error));
    g_autofree char *second = to_json_string(copy, FALSE);
    g_assert_cmpstr(first, ==, second);
    g_assert_cmpstr(copy->spice.password, ==, "s3cret");
    g_assert_true(((OrielDiskConfig *)copy->disks->pdata[1])->cdrom);

    g_autofree char *masked = to_json_string(config, TRUE);
    g_assert_null(strstr(masked, "s3cret"));
    g_assert_nonnull(strstr(masked, "\"spicepasswd\":\"********\""));
}

/* audio_backend: default resolves to spice with SPICE, else none; pa
 * survives the JSON round trip; an unknown name is refused. */
static void
test_audio_backend(void)
{
    g_autoptr(OrielDomainConfig) with_spice = minimal_config();
    g_autoptr(OrielDomainConfig) without_spice = minimal_config();
    g_autoptr(OrielDomainConfig) pa = minimal_config();
    g_autoptr(GError) error = NULL;

    with_spice->spice.enabled = TRUE;
    with_spice->soundhw = ORIEL_SOUND_HDA;
    g_assert_true(oriel_domain_config_validate(with_spice, &error));
    g_assert_cmpint(with_spice->audio_backend, ==, ORIEL_AUDIO_BACKEND_SPICE);
    without_spice->soundhw = ORIEL_SOUND_AC97;
    g_assert_true(oriel_domain_config_validate(without_spice, &error));
    g_assert_cmpint(without_spice->audio_backend, ==, ORIEL_AUDIO_BACKEND_NONE);

    pa->soundhw = ORIEL_SOUND_HDA;
    pa->audio_backend = ORIEL_AUDIO_BACKEND_PA;
    g_assert_true(oriel_domain_config_validate(pa, &error));
    g_autofree char *text = to_json_string(pa, FALSE);
    g_assert_nonnull(strstr(text, "\"audio_backend\":\"pa\""));
    g_autoptr(JsonNode) node = json_from_string(text, &error);
    g_assert_no_error(error);
    g_autoptr(OrielDomainConfig) copy = oriel_domain_config_from_json(node, &error);
    g_assert_no_error(error);
    g_assert_cmpint(copy->audio_backend, ==, ORIEL_AUDIO_BACKEND_PA);

    g_autoptr(JsonNode) bad = json_from_string("{\"audio_backend\": \"alsa\"}", &error);
    g_assert_no_error(error);
    g_autoptr(OrielDomainConfig) refused = oriel_domain_config_from_json(bad, &error);
    g_assert_null(refused);
    g_assert_error(error, ORIEL_DEVMODEL_ERROR, ORIEL_DEVMODEL_ERROR_INVALID);
    g_assert_true(g_str_has_prefix(error->message, "audio_backend: expected one of default, spice, pa, none"));
}

static void
test_json_invalid(void)
{
    static const struct {
        const char *json;
        const char *message_prefix;
    } cases[] = {
        { "[]", "a domain config must be a JSON object" },
        { "{\"memory\": \"512\"}", "memory: expected an integer" },
        { "{\"memory\": -1}", "memory: expected an integer in" },
        { "{\"vcpus\": 1e3}", "vcpus: expected an integer" },
        { "{\"type\": \"pv\"}", "type: expected hvm or pvh" },
        { "{\"spice\": 1}", "spice: expected true or false" },
        { "{\"disk\": [\"/img\"]}", "disk: expected an array of objects" },
        { "{\"disk\": [{\"vdev\": \"xvda\", \"access\": \"rx\"}]}", "disk.access: expected ro or rw" },
        { "{\"vif\": {}}", "vif: expected an array" },
        { "{\"device_model_args\": [1]}", "device_model_args: expected an array of strings" },
        { "{\"spiceusbredirection\": 100}", "spiceusbredirection: expected an integer in 0..16" },
    };

    for (gsize i = 0; i < G_N_ELEMENTS(cases); i++) {
        g_autoptr(GError) error = NULL;
        g_autoptr(JsonNode) node = json_from_string(cases[i].json, &error);
        g_assert_no_error(error);
        g_autoptr(OrielDomainConfig) config = oriel_domain_config_from_json(node, &error);
        g_assert_null(config);
        g_assert_error(error, ORIEL_DEVMODEL_ERROR, ORIEL_DEVMODEL_ERROR_INVALID);
        if (!g_str_has_prefix(error->message, cases[i].message_prefix))
            g_error("%s: '%s' does not start with '%s'", cases[i].json, error->message,
                    cases[i].message_prefix);
    }
}

static void
test_enum_names(void)
{
    OrielFirmware firmware;
    OrielDomainType type;

    g_assert_true(oriel_firmware_from_string("uefi", &firmware));
    g_assert_cmpint(firmware, ==, ORIEL_FIRMWARE_OVMF);
    g_assert_true(oriel_firmware_from_string("bios", &firmware));
    g_assert_cmpint(firmware, ==, ORIEL_FIRMWARE_SEABIOS);
    g_assert_cmpstr(oriel_firmware_to_string(ORIEL_FIRMWARE_OVMF), ==, "ovmf");
    g_assert_false(oriel_domain_type_from_string("pv", &type));
    g_assert_false(oriel_domain_type_from_string(NULL, &type));
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/domain-config/defaults", test_defaults);
    g_test_add_func("/domain-config/spice-defaults", test_spice_defaults);
    for (gsize i = 0; i < G_N_ELEMENTS(invalid_cases); i++) {
        g_autofree char *path = g_strdup_printf("/domain-config/invalid/%s", invalid_cases[i].description);
        g_test_add_data_func(path, &invalid_cases[i], test_invalid);
    }
    g_test_add_func("/domain-config/loopback", test_loopback);
    g_test_add_func("/domain-config/check-files", test_check_files);
    g_test_add_func("/domain-config/json-round-trip", test_json_round_trip);
    g_test_add_func("/domain-config/json-invalid", test_json_invalid);
    g_test_add_func("/domain-config/audio-backend", test_audio_backend);
    g_test_add_func("/domain-config/enum-names", test_enum_names);
    return g_test_run();
}
