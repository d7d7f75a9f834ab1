/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Golden tests of the QEMU argv builder: each case builds a config in C,
 * validates it, builds the argv and compares it with
 * tests/data/argv/NAME.args (one argument per line).  ORIEL_TEST_REGENERATE=1
 * rewrites the golden files instead.
 */
#include <string.h>

#include "qemu-argv.h"

#define TEST_PASSWORD "s3cret-Ticket-42"

typedef void (*CaseSetup)(OrielDomainConfig *config, OrielQemuArgvContext *context);

typedef struct {
    const char *name;
    CaseSetup setup;
} ArgvCase;

static OrielQemuArgvContext
test_context(void)
{
    OrielQemuArgvContext context = {
        .qemu_binary = "qemu-system-x86_64",
        .accel = ORIEL_ACCEL_TCG,
        .runtime_dir = "/run/oriel/test",
        .spice_port = 5930,
        .qmp_fd = -1,
        .serial_fd = -1,
        .ovmf_code = NULL,
        .ovmf_vars = NULL,
        .spice_password_file = NULL,
    };
    return context;
}

static void
add_disk(OrielDomainConfig *config, const char *target, OrielDiskFormat format,
         const char *vdev, gboolean read_only, gboolean cdrom)
{
    OrielDiskConfig *disk = oriel_disk_config_new();

    disk->target = g_strdup(target);
    disk->format = format;
    disk->vdev = g_strdup(vdev);
    disk->read_only = read_only;
    disk->cdrom = cdrom;
    g_ptr_array_add(config->disks, disk);
}

static void
add_nic(OrielDomainConfig *config, const char *model, const char *mac)
{
    OrielNicConfig *nic = oriel_nic_config_new();

    nic->model = g_strdup(model);
    nic->mac = g_strdup(mac);
    g_ptr_array_add(config->nics, nic);
}

static void
enable_spice(OrielDomainConfig *config)
{
    config->spice.enabled = TRUE;
    config->spice.password = g_strdup(TEST_PASSWORD);
}

/* ---- cases -------------------------------------------------------------- */

static void
setup_minimal_hvm(OrielDomainConfig *config, OrielQemuArgvContext *context)
{
}

static void
setup_hvm_desktop(OrielDomainConfig *config, OrielQemuArgvContext *context)
{
    config->memory_mib = 4096;
    config->vcpus = 2;
    config->boot = g_strdup("dc");
    enable_spice(config);
    config->spice.vdagent = TRUE;
    config->spice.clipboard_sharing = TRUE;
    config->spice.usbredirection = 3;
    config->spice.image_compression = g_strdup("auto_glz");
    config->spice.streaming_video = g_strdup("filter");
    config->videoram_mib = 64;
    config->usb = TRUE;
    config->usbversion = 3;
    config->soundhw = ORIEL_SOUND_HDA;
    add_disk(config, "/var/lib/oriel/images/desktop.qcow2", ORIEL_DISK_FORMAT_QCOW2, "xvda", FALSE, FALSE);
    add_disk(config, "/var/lib/oriel/iso/debian 12, netinst.iso", ORIEL_DISK_FORMAT_RAW, "hdc", TRUE, TRUE);
    add_nic(config, "virtio-net", "00:16:3e:12:34:56");
}

static void
setup_usb2(OrielDomainConfig *config, OrielQemuArgvContext *context)
{
    enable_spice(config);
    config->spice.usbredirection = 2;
    config->usb = TRUE;
    config->usbversion = 2;
}

static void
setup_usb1(OrielDomainConfig *config, OrielQemuArgvContext *context)
{
    enable_spice(config);
    config->spice.usbredirection = 1;
    config->usb = TRUE;
    config->usbversion = 1;
}

static void
setup_ovmf(OrielDomainConfig *config, OrielQemuArgvContext *context)
{
    config->firmware = ORIEL_FIRMWARE_OVMF;
    config->boot = g_strdup("c");
    add_disk(config, "/var/lib/oriel/images/efi.img", ORIEL_DISK_FORMAT_RAW, "sda", FALSE, FALSE);
    add_disk(config, NULL, ORIEL_DISK_FORMAT_RAW, "sdb", TRUE, TRUE);
    context->ovmf_code = "/usr/share/OVMF/OVMF_CODE_4M.fd";
    context->ovmf_vars = "/var/lib/oriel/nvram/ovmf_VARS.fd";
}

static void
setup_pvh(OrielDomainConfig *config, OrielQemuArgvContext *context)
{
    config->type = ORIEL_DOMAIN_TYPE_PVH;
    config->memory_mib = 256;
    config->vcpus = 2;
    config->maxvcpus = 4;
    config->kernel = g_strdup("/var/lib/oriel/boot/vmlinuz");
    config->ramdisk = g_strdup("/var/lib/oriel/boot/initrd.img");
    config->cmdline = g_strdup("console=ttyS0 root=/dev/vda ro");
    config->serial = g_strdup("pty");
    enable_spice(config);
    config->spice.vdagent = TRUE;
    config->spice.disable_ticketing = TRUE;
    g_clear_pointer(&config->spice.password, g_free);
    add_disk(config, "/var/lib/oriel/images/root.img", ORIEL_DISK_FORMAT_RAW, "xvda", FALSE, FALSE);
    add_nic(config, NULL, NULL);
}

/* A pvh domain asking for a display gets virtio-gpu-device: no PCI for QXL. */
static void
setup_pvh_display(OrielDomainConfig *config, OrielQemuArgvContext *context)
{
    config->type = ORIEL_DOMAIN_TYPE_PVH;
    config->kernel = g_strdup("/var/lib/oriel/boot/vmlinuz");
    config->vga = ORIEL_VGA_QXL;
    config->maxmem_mib = 1024;
    enable_spice(config);
    config->spice.vdagent = TRUE;
}

static void
setup_kvm(OrielDomainConfig *config, OrielQemuArgvContext *context)
{
    config->nestedhvm = TRUE;
    context->accel = ORIEL_ACCEL_KVM;
    context->qmp_fd = 3;
    context->serial_fd = 4;
}

static void
setup_kvm_no_nested(OrielDomainConfig *config, OrielQemuArgvContext *context)
{
    context->accel = ORIEL_ACCEL_KVM;
}

static void
setup_password_file(OrielDomainConfig *config, OrielQemuArgvContext *context)
{
    enable_spice(config);
    config->spice.host = g_strdup("192.0.2.10");
    config->spice.port = 5999;
    config->spice.tls_port = 5998;
    config->spice.agent_mouse = FALSE;
    context->spice_password_file = "/run/oriel/test/spice-password";
    context->spice_x509_dir = "/etc/oriel/pki/spice";
}

/* spice_tls_only: the plain port stays, but every channel must use TLS. */
static void
setup_tls_only(OrielDomainConfig *config, OrielQemuArgvContext *context)
{
    setup_password_file(config, context);
    config->spice.tls_only = TRUE;
}

static void
setup_disable_ticketing(OrielDomainConfig *config, OrielQemuArgvContext *context)
{
    config->spice.enabled = TRUE;
    config->spice.disable_ticketing = TRUE;
    /* Ignored: without a ticket there is nothing to check it against. */
    context->spice_password_file = "/run/oriel/test/spice-password";
}

static void
setup_stdvga(OrielDomainConfig *config, OrielQemuArgvContext *context)
{
    config->vga = ORIEL_VGA_STDVGA;
    config->videoram_mib = 24;
    config->soundhw = ORIEL_SOUND_AC97;
    add_nic(config, "e1000", NULL);
    add_nic(config, "rtl8139", "00:16:3e:00:00:02");
    config->boot = g_strdup("n");
}

/* No SPICE: the sound card plays on the host's PulseAudio. */
static void
setup_audio_pa(OrielDomainConfig *config, OrielQemuArgvContext *context)
{
    config->soundhw = ORIEL_SOUND_HDA;
    config->audio_backend = ORIEL_AUDIO_BACKEND_PA;
}

static void
setup_vga_none(OrielDomainConfig *config, OrielQemuArgvContext *context)
{
    config->vga = ORIEL_VGA_NONE;
    config->serial = g_strdup("none");
}

static void
setup_maxmem_balloon(OrielDomainConfig *config, OrielQemuArgvContext *context)
{
    config->memory_mib = 1024;
    config->maxmem_mib = 2048;
}

static void
setup_lifecycle(OrielDomainConfig *config, OrielQemuArgvContext *context)
{
    config->on_poweroff = ORIEL_ACTION_PRESERVE;
    config->on_reboot = ORIEL_ACTION_DESTROY;
}

static void
setup_device_model_args(OrielDomainConfig *config, OrielQemuArgvContext *context)
{
    g_ptr_array_add(config->device_model_args, g_strdup("-global"));
    g_ptr_array_add(config->device_model_args, g_strdup("ICH9-LPC.disable_s3=1"));
    g_ptr_array_add(config->device_model_args, g_strdup("-rtc"));
    g_ptr_array_add(config->device_model_args, g_strdup("base=localtime"));
}

static const ArgvCase argv_cases[] = {
    { "minimal-hvm", setup_minimal_hvm },
    { "hvm-desktop", setup_hvm_desktop },
    { "usb2", setup_usb2 },
    { "usb1", setup_usb1 },
    { "ovmf", setup_ovmf },
    { "pvh", setup_pvh },
    { "pvh-display", setup_pvh_display },
    { "kvm", setup_kvm },
    { "kvm-no-nested", setup_kvm_no_nested },
    { "password-file", setup_password_file },
    { "disable-ticketing", setup_disable_ticketing },
    { "tls-only", setup_tls_only },
    { "stdvga", setup_stdvga },
    { "vga-none", setup_vga_none },
    { "audio-pa", setup_audio_pa },
    { "maxmem-balloon", setup_maxmem_balloon },
    { "lifecycle", setup_lifecycle },
    { "device-model-args", setup_device_model_args },
};

/* ---- golden files -------------------------------------------------------- */

static char *
golden_path(const char *name)
{
    const char *source_dir = g_getenv("ORIEL_SOURCE_DIR");
    g_autofree char *file = g_strconcat(name, ".args", NULL);

    if (!source_dir)
        g_error("ORIEL_SOURCE_DIR is not set; run the tests with `meson test`");
    return g_build_filename(source_dir, "tests", "data", "argv", file, NULL);
}

static void
check_golden(const char *name, const char *const *argv)
{
    g_autofree char *path = golden_path(name);
    g_autoptr(GString) actual = g_string_new(NULL);
    g_autofree char *expected = NULL;
    g_autoptr(GError) error = NULL;

    for (gsize i = 0; argv[i]; i++) {
        g_assert_null(strchr(argv[i], '\n'));
        g_string_append_printf(actual, "%s\n", argv[i]);
    }
    if (g_strcmp0(g_getenv("ORIEL_TEST_REGENERATE"), "1") == 0) {
        g_file_set_contents(path, actual->str, -1, &error);
        g_assert_no_error(error);
        return;
    }
    g_file_get_contents(path, &expected, NULL, &error);
    g_assert_no_error(error);
    g_assert_cmpstr(actual->str, ==, expected);
}

static GStrv
build_case(const ArgvCase *argv_case, GError **error)
{
    g_autoptr(OrielDomainConfig) config = oriel_domain_config_new();
    OrielQemuArgvContext context = test_context();
    g_autoptr(GError) validate_error = NULL;

    config->name = g_strdup(argv_case->name);
    argv_case->setup(config, &context);
    oriel_domain_config_validate(config, &validate_error);
    g_assert_no_error(validate_error);
    return oriel_qemu_argv_build(config, &context, error);
}

static void
test_golden(gconstpointer data)
{
    const ArgvCase *argv_case = data;
    g_autoptr(GError) error = NULL;
    g_auto(GStrv) argv = build_case(argv_case, &error);

    g_assert_no_error(error);
    g_assert_nonnull(argv);
    g_assert_cmpstr(argv[0], ==, "qemu-system-x86_64");
    check_golden(argv_case->name, (const char *const *)argv);
}

/* ---- assertions beyond the goldens ---------------------------------------- */

static void
test_password_never_in_argv(void)
{
    for (gsize i = 0; i < G_N_ELEMENTS(argv_cases); i++) {
        g_autoptr(GError) error = NULL;
        g_auto(GStrv) argv = build_case(&argv_cases[i], &error);

        g_assert_no_error(error);
        for (gsize j = 0; argv[j]; j++)
            g_assert_null(strstr(argv[j], TEST_PASSWORD));
    }
}

static void
test_password_file_is_a_secret_object(void)
{
    g_autoptr(GError) error = NULL;
    g_auto(GStrv) argv = build_case(&(ArgvCase){ "password-file", setup_password_file }, &error);

    g_assert_no_error(error);
    g_assert_true(g_strv_contains((const char *const *)argv,
                                  "secret,id=spice-password,file=/run/oriel/test/spice-password,format=raw"));
}

static void
test_nested_under_tcg_is_unsupported(void)
{
    g_autoptr(OrielDomainConfig) config = oriel_domain_config_new();
    OrielQemuArgvContext context = test_context();
    g_autoptr(GError) error = NULL;

    config->name = g_strdup("nested");
    config->nestedhvm = TRUE;
    g_assert_true(oriel_domain_config_validate(config, NULL));
    g_auto(GStrv) argv = oriel_qemu_argv_build(config, &context, &error);
    g_assert_null(argv);
    g_assert_error(error, ORIEL_DEVMODEL_ERROR, ORIEL_DEVMODEL_ERROR_UNSUPPORTED);
    g_assert_cmpstr(error->message, ==, "nestedhvm: nested virtualization needs KVM; this host runs TCG");
}

static void
test_tls_needs_certificates(void)
{
    g_autoptr(OrielDomainConfig) config = oriel_domain_config_new();
    OrielQemuArgvContext context = test_context();
    g_autoptr(GError) error = NULL;

    config->name = g_strdup("tls");
    enable_spice(config);
    config->spice.tls_port = 5931;
    g_assert_true(oriel_domain_config_validate(config, NULL));
    g_auto(GStrv) argv = oriel_qemu_argv_build(config, &context, &error);
    g_assert_null(argv);
    g_assert_error(error, ORIEL_DEVMODEL_ERROR, ORIEL_DEVMODEL_ERROR_INVALID);
    g_assert_cmpstr(error->message, ==, "spicetls_port: TLS needs a certificate directory");
}

static void
test_unvalidated_is_invalid(void)
{
    g_autoptr(OrielDomainConfig) config = oriel_domain_config_new();
    OrielQemuArgvContext context = test_context();
    g_autoptr(GError) error = NULL;

    config->name = g_strdup("unvalidated");
    g_auto(GStrv) argv = oriel_qemu_argv_build(config, &context, &error);
    g_assert_null(argv);
    g_assert_error(error, ORIEL_DEVMODEL_ERROR, ORIEL_DEVMODEL_ERROR_INVALID);
    g_assert_nonnull(strstr(error->message, "not validated"));
}

static void
test_pvh_e1000_is_unsupported(void)
{
    g_autoptr(OrielDomainConfig) config = oriel_domain_config_new();
    OrielQemuArgvContext context = test_context();
    g_autoptr(GError) error = NULL;

    config->name = g_strdup("pvh-e1000");
    config->type = ORIEL_DOMAIN_TYPE_PVH;
    config->kernel = g_strdup("/boot/vmlinuz");
    add_nic(config, "e1000", NULL);
    g_assert_true(oriel_domain_config_validate(config, NULL));
    g_auto(GStrv) argv = oriel_qemu_argv_build(config, &context, &error);
    g_assert_null(argv);
    g_assert_error(error, ORIEL_DEVMODEL_ERROR, ORIEL_DEVMODEL_ERROR_UNSUPPORTED);
    g_assert_true(g_str_has_prefix(error->message, "vif: "));
}

static void
test_ahci_port_clash_is_unsupported(void)
{
    g_autoptr(OrielDomainConfig) config = oriel_domain_config_new();
    OrielQemuArgvContext context = test_context();
    g_autoptr(GError) error = NULL;

    config->name = g_strdup("clash");
    add_disk(config, "/a.img", ORIEL_DISK_FORMAT_RAW, "hda", FALSE, FALSE);
    add_disk(config, "/b.img", ORIEL_DISK_FORMAT_RAW, "sda", FALSE, FALSE);
    g_assert_true(oriel_domain_config_validate(config, NULL));
    g_auto(GStrv) argv = oriel_qemu_argv_build(config, &context, &error);
    g_assert_null(argv);
    g_assert_error(error, ORIEL_DEVMODEL_ERROR, ORIEL_DEVMODEL_ERROR_UNSUPPORTED);
    g_assert_cmpstr(error->message, ==, "disk: hda and sda would share AHCI port 0");
}

static void
test_ahci_port_out_of_range_is_unsupported(void)
{
    g_autoptr(OrielDomainConfig) config = oriel_domain_config_new();
    OrielQemuArgvContext context = test_context();
    g_autoptr(GError) error = NULL;

    config->name = g_strdup("far");
    add_disk(config, "/g.img", ORIEL_DISK_FORMAT_RAW, "sdg", FALSE, FALSE);
    g_assert_true(oriel_domain_config_validate(config, NULL));
    g_auto(GStrv) argv = oriel_qemu_argv_build(config, &context, &error);
    g_assert_null(argv);
    g_assert_error(error, ORIEL_DEVMODEL_ERROR, ORIEL_DEVMODEL_ERROR_UNSUPPORTED);
    g_assert_true(g_str_has_prefix(error->message, "disk: sdg: "));
}

static void
test_ovmf_without_images_is_invalid(void)
{
    g_autoptr(OrielDomainConfig) config = oriel_domain_config_new();
    OrielQemuArgvContext context = test_context();
    g_autoptr(GError) error = NULL;

    config->name = g_strdup("efi");
    config->firmware = ORIEL_FIRMWARE_OVMF;
    g_assert_true(oriel_domain_config_validate(config, NULL));
    g_auto(GStrv) argv = oriel_qemu_argv_build(config, &context, &error);
    g_assert_null(argv);
    g_assert_error(error, ORIEL_DEVMODEL_ERROR, ORIEL_DEVMODEL_ERROR_INVALID);
}

static void
test_commas_are_escaped(void)
{
    g_autoptr(GError) error = NULL;
    g_auto(GStrv) argv = build_case(&(ArgvCase){ "hvm-desktop", setup_hvm_desktop }, &error);

    g_assert_no_error(error);
    g_assert_true(g_strv_contains((const char *const *)argv,
                                  "driver=file,node-name=hdc-file,"
                                  "filename=/var/lib/oriel/iso/debian 12,, netinst.iso,read-only=on"));
}

static void
test_to_string(void)
{
    const char *const argv[] = {
        "qemu-system-x86_64", "-name", "guest=a,debug-threads=on",
        "-append", "console=ttyS0 root=/dev/vda", "-x", "it's", "", NULL,
    };
    g_autofree char *line = oriel_qemu_argv_to_string(argv);

    g_assert_cmpstr(line, ==,
                    "qemu-system-x86_64 -name guest=a,debug-threads=on "
                    "-append 'console=ttyS0 root=/dev/vda' -x 'it'\\''s' ''");
}

int
main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

    for (gsize i = 0; i < G_N_ELEMENTS(argv_cases); i++) {
        g_autofree char *path = g_strdup_printf("/qemu-argv/golden/%s", argv_cases[i].name);
        g_test_add_data_func(path, &argv_cases[i], test_golden);
    }
    g_test_add_func("/qemu-argv/password-never-in-argv", test_password_never_in_argv);
    g_test_add_func("/qemu-argv/password-file-is-a-secret-object", test_password_file_is_a_secret_object);
    g_test_add_func("/qemu-argv/nested-under-tcg-is-unsupported", test_nested_under_tcg_is_unsupported);
    g_test_add_func("/qemu-argv/tls-needs-certificates", test_tls_needs_certificates);
    g_test_add_func("/qemu-argv/unvalidated-is-invalid", test_unvalidated_is_invalid);
    g_test_add_func("/qemu-argv/pvh-e1000-is-unsupported", test_pvh_e1000_is_unsupported);
    g_test_add_func("/qemu-argv/ahci-port-clash-is-unsupported", test_ahci_port_clash_is_unsupported);
    g_test_add_func("/qemu-argv/ahci-port-out-of-range-is-unsupported",
                    test_ahci_port_out_of_range_is_unsupported);
    g_test_add_func("/qemu-argv/ovmf-without-images-is-invalid", test_ovmf_without_images_is_invalid);
    g_test_add_func("/qemu-argv/commas-are-escaped", test_commas_are_escaped);
    g_test_add_func("/qemu-argv/to-string", test_to_string);
    return g_test_run();
}
