/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Domain config -> QEMU argv.  One static function per concern, each
 * appending to the same GPtrArray, in a fixed order so the output is
 * deterministic (golden tests in tests/data/argv/).
 *
 * Every option below was checked against QEMU 7.2 (Debian 12):
 * `-device NAME,help`, `-machine microvm,help`, `-spice help`, and by
 * starting QEMU with generated command lines.
 *
 * Choices worth knowing:
 *  - TCG: no `thread=multi`.  QEMU already runs multi-threaded TCG by default
 *    when the host's memory model is strong enough for the guest's (x86 on
 *    x86), and forcing it elsewhere only trades a warning for subtle bugs.
 *  - CPU: `host` under KVM, `max` under TCG.  nestedhvm=1 under KVM keeps
 *    `-cpu host`, which exposes vmx/svm exactly when the host's kvm_intel or
 *    kvm_amd module has nested=1; nestedhvm=0 hides both (`vmx=off,svm=off`)
 *    so the flag means the same on every host.
 *  - Boot order: xl's `boot` letters become `bootindex` properties (c: first
 *    hard disk, d: first CD-ROM, n: first NIC) and no `-boot order=`.  OVMF
 *    reads only bootindex, SeaBIOS prefers it, and QEMU leaves mixing the two
 *    unspecified.
 *  - maxmem > memory: QEMU starts with `memory` and gets a virtio balloon, so
 *    orield can move the target below it; no hotplug slots.
 *  - Lifecycle: on_poweroff=preserve adds -no-shutdown; on_reboot=destroy
 *    adds -no-reboot; on_reboot=preserve adds both (QEMU then stops on a guest
 *    reboot, and orield tells a poweroff from a reboot by the SHUTDOWN
 *    event's reason).  hvm guests get a pvpanic device, so a guest crash
 *    ends QEMU (on_crash destroy/restart) or pauses it (preserve).
 *  - pvh (microvm): pit=off only under KVM (see add_machine).
 *  - pvh (microvm) has no PCI: virtio-*-device (virtio-mmio) only.  A vga of
 *    qxl or stdvga becomes virtio-gpu-device (SPICE shows it; QEMU prints a
 *    harmless "Setting device address of a display device: Not a PCI device"
 *    at start), vga none gives no display device and SPICE still serves the
 *    agent channel.  NIC models other than virtio-net are refused.
 *  - SPICE: no password file and no disable-ticketing means ticketing on and
 *    no ticket yet; orield sets one per connection with QMP set_password.
 *    Clipboard sharing maps to disable-copy-paste; agent file transfer stays
 *    on (it is not clipboard sharing).  tls-port comes with the context's x509
 *    directory (ca-cert.pem, server-cert.pem, server-key.pem); without
 *    certificates QEMU refuses to start.
 *  - OVMF: pflash0/pflash1 suit the non-secure-boot images (OVMF_CODE_4M.fd);
 *    the secboot ones also need smm=on and a secure pflash, not done here.
 *  - USB: usb-redir devices take a port only when a device is redirected, so
 *    QEMU starts with more channels than ports.  qemu-xhci gets enough ports
 *    (up to its 15 per speed), plus ORIEL_USB_ATTACH_MAX for orield's
 *    hot-plugged USB disks; a USB 2 controller has 6 ports and a USB 1
 *    controller 2, which caps concurrent redirections there.  usb=1 adds a
 *    usb-tablet, the absolute pointer a desktop wants.
 */
#include "qemu-argv.h"

#include <string.h>

/* xHCI's limit per speed (qemu-xhci's p2 and p3). */
#define XHCI_PORTS_MAX 15u
#define XHCI_PORTS_DEFAULT 4u
/* q35's built-in AHCI controller: ports ide.0 .. ide.5. */
#define AHCI_PORTS 6u

typedef struct {
    const OrielDomainConfig *config;
    const OrielQemuArgvContext *context;
    GPtrArray *argv;
    gboolean microvm; /* pvh: virtio-mmio devices, no PCI */
} ArgvBuilder;

const char *
oriel_accel_to_string(OrielAccel accel)
{
    switch (accel) {
    case ORIEL_ACCEL_TCG:
        return "tcg";
    case ORIEL_ACCEL_KVM:
        return "kvm";
    }
    return NULL;
}

/* ---- helpers ---------------------------------------------------------- */

static void
add(ArgvBuilder *b, const char *arg)
{
    g_ptr_array_add(b->argv, g_strdup(arg));
}

static void
add_printf(ArgvBuilder *b, const char *format, ...) G_GNUC_PRINTF(2, 3);

static void
add_printf(ArgvBuilder *b, const char *format, ...)
{
    va_list args;

    va_start(args, format);
    g_ptr_array_add(b->argv, g_strdup_vprintf(format, args));
    va_end(args);
}

/* QEMU's key=value,... option syntax escapes a comma in a value as ",,". */
static char *
escape_value(const char *value)
{
    g_autoptr(GString) escaped = g_string_sized_new(strlen(value));

    for (const char *p = value; *p; p++) {
        if (*p == ',')
            g_string_append_c(escaped, ',');
        g_string_append_c(escaped, *p);
    }
    return g_string_free(g_steal_pointer(&escaped), FALSE);
}

static gboolean
fail(GError **error, OrielDevmodelError code, const char *format, ...) G_GNUC_PRINTF(3, 4);

static gboolean
fail(GError **error, OrielDevmodelError code, const char *format, ...)
{
    va_list args;

    va_start(args, format);
    g_autofree char *message = g_strdup_vprintf(format, args);
    va_end(args);
    g_set_error_literal(error, ORIEL_DEVMODEL_ERROR, code, message);
    return FALSE;
}

/* The next power of two >= value, clamped to [min, max] (both powers of two). */
static guint
pow2_clamp(guint value, guint min, guint max)
{
    guint result = min;

    while (result < value && result < max)
        result <<= 1;
    return result;
}

/* The defaults oriel_domain_config_validate() resolves; finding one
 * unresolved means the config skipped validation. */
static gboolean
check_validated(const OrielDomainConfig *config, GError **error)
{
    const char *what = NULL;

    if (!config->name)
        what = "name is unset";
    else if (config->vga == ORIEL_VGA_DEFAULT)
        what = "vga is still 'default'";
    else if (config->memory_mib < ORIEL_MEMORY_MIN_MIB || config->maxmem_mib < config->memory_mib)
        what = "memory/maxmem are unresolved";
    else if (config->vcpus < 1 || config->maxvcpus < config->vcpus)
        what = "vcpus/maxvcpus are unresolved";
    else if (!config->serial)
        what = "serial is unset";
    else if ((config->usb || config->spice.usbredirection > 0) && config->usbversion == 0)
        what = "usbversion is unresolved";
    else if (config->spice.enabled && !config->spice.host)
        what = "spicehost is unset";
    else if (config->type == ORIEL_DOMAIN_TYPE_PVH && !config->kernel)
        what = "a pvh domain has no kernel";

    for (guint i = 0; !what && i < config->nics->len; i++) {
        const OrielNicConfig *nic = g_ptr_array_index(config->nics, i);
        if (!nic->model)
            what = "a vif has no model";
    }
    for (guint i = 0; !what && i < config->disks->len; i++) {
        const OrielDiskConfig *disk = g_ptr_array_index(config->disks, i);
        if (!disk->vdev)
            what = "a disk has no vdev";
    }
    if (what)
        return fail(error, ORIEL_DEVMODEL_ERROR_INVALID, "the domain config was not validated: %s", what);
    return TRUE;
}

/* ---- always ----------------------------------------------------------- */

static gboolean
add_base(ArgvBuilder *b, GError **error)
{
    g_autofree char *name = escape_value(b->config->name);

    add(b, b->context->qemu_binary);
    add(b, "-name");
    add_printf(b, "guest=%s,debug-threads=on", name);
    add(b, "-nodefaults");
    add(b, "-no-user-config");
    add(b, "-sandbox");
    add(b, "on,obsolete=deny,elevateprivileges=deny,spawn=deny,resourcecontrol=deny");
    add(b, "-msg");
    add(b, "timestamp=on");
    add(b, "-display");
    add(b, "none"); /* SPICE is the display */
    return TRUE;
}

/* ---- machine, firmware, kernel ------------------------------------------ */

static gboolean
add_machine(ArgvBuilder *b, GError **error)
{
    const OrielDomainConfig *config = b->config;
    const OrielQemuArgvContext *context = b->context;

    if (b->microvm) {
        /* isa-serial stays on for the serial console; acpi=on gives the
         * guest a power button, so system_powerdown works.  The PIT goes
         * only under KVM: with TCG there is no kvm-clock, and a Linux guest
         * without a PIT cannot calibrate its TSC and hangs early in boot. */
        add(b, "-machine");
        add_printf(b, "microvm,x-option-roms=off,pit=%s,pic=off,rtc=on,isa-serial=%s,acpi=on",
                   context->accel == ORIEL_ACCEL_KVM ? "off" : "on",
                   g_str_equal(config->serial, "none") ? "off" : "on");
    } else if (config->firmware == ORIEL_FIRMWARE_OVMF) {
        if (!context->ovmf_code || !context->ovmf_vars)
            return fail(error, ORIEL_DEVMODEL_ERROR_INVALID,
                        "firmware: ovmf needs the OVMF code image and this domain's vars copy");
        g_autofree char *code = escape_value(context->ovmf_code);
        g_autofree char *vars = escape_value(context->ovmf_vars);

        add(b, "-blockdev");
        add_printf(b, "node-name=ovmf-code,driver=file,filename=%s,read-only=on", code);
        add(b, "-blockdev");
        add_printf(b, "node-name=ovmf-vars,driver=file,filename=%s", vars);
        add(b, "-machine");
        add(b, "q35,vmport=off,pflash0=ovmf-code,pflash1=ovmf-vars");
    } else {
        add(b, "-machine");
        add(b, "q35,vmport=off"); /* SeaBIOS: QEMU's default firmware */
    }
    add(b, "-accel");
    add(b, oriel_accel_to_string(context->accel));

    if (config->kernel) {
        add(b, "-kernel");
        add(b, config->kernel);
    }
    if (config->ramdisk) {
        add(b, "-initrd");
        add(b, config->ramdisk);
    }
    if (config->cmdline) {
        add(b, "-append");
        add(b, config->cmdline);
    }
    return TRUE;
}

/* ---- CPU and memory ------------------------------------------------------ */

static gboolean
add_cpu_memory(ArgvBuilder *b, GError **error)
{
    const OrielDomainConfig *config = b->config;
    gboolean kvm = b->context->accel == ORIEL_ACCEL_KVM;

    if (config->nestedhvm && !kvm)
        return fail(error, ORIEL_DEVMODEL_ERROR_UNSUPPORTED,
                    "nestedhvm: nested virtualization needs KVM; this host runs TCG");
    add(b, "-cpu");
    if (config->nestedhvm)
        add(b, "host");
    else if (kvm)
        add(b, "host,vmx=off,svm=off");
    else
        /* TCG's "max" offers 5-level paging, under which static glibc
         * programs (the test guest's busybox among them) abort at start-up;
         * four levels are also cheaper to emulate. */
        add(b, "max,la57=off,vmx=off,svm=off");

    add(b, "-m");
    add_printf(b, "size=%" G_GUINT64_FORMAT "M", config->memory_mib);
    add(b, "-smp");
    add_printf(b, "%u,maxcpus=%u", config->vcpus, config->maxvcpus);
    if (config->maxmem_mib > config->memory_mib) {
        add(b, "-device");
        add_printf(b, "%s,id=balloon0", b->microvm ? "virtio-balloon-device" : "virtio-balloon-pci");
    }
    return TRUE;
}

/* ---- lifecycle ------------------------------------------------------------ */

static gboolean
add_lifecycle(ArgvBuilder *b, GError **error)
{
    const OrielDomainConfig *config = b->config;

    if (config->on_poweroff == ORIEL_ACTION_PRESERVE || config->on_reboot == ORIEL_ACTION_PRESERVE)
        add(b, "-no-shutdown");
    if (config->on_reboot != ORIEL_ACTION_RESTART)
        add(b, "-no-reboot");
    if (!b->microvm) {
        /* A guest panic reaches QEMU through pvpanic: "shutdown" ends QEMU
         * with a SHUTDOWN event of reason guest-panic, so on_crash applies;
         * "pause" keeps the crashed guest for inspection. */
        add(b, "-device");
        add(b, "pvpanic");
        add(b, "-action");
        add(b, config->on_crash == ORIEL_ACTION_PRESERVE ? "panic=pause" : "panic=shutdown");
    }
    return TRUE;
}

/* ---- QMP and serial ------------------------------------------------------- */

static gboolean
add_chardevs(ArgvBuilder *b, GError **error)
{
    const OrielDomainConfig *config = b->config;
    const OrielQemuArgvContext *context = b->context;
    g_autofree char *runtime_dir = context->runtime_dir ? escape_value(context->runtime_dir) : NULL;
    gboolean serial_unix = g_str_equal(config->serial, "unix");

    if (!runtime_dir && (context->qmp_fd < 0 || (serial_unix && context->serial_fd < 0)))
        return fail(error, ORIEL_DEVMODEL_ERROR_INVALID, "the start context has no runtime directory");

    add(b, "-chardev");
    if (context->qmp_fd >= 0)
        add_printf(b, "socket,id=qmp,fd=%d,server=on,wait=off", context->qmp_fd);
    else
        add_printf(b, "socket,id=qmp,path=%s/qmp.sock,server=on,wait=off", runtime_dir);
    add(b, "-mon");
    add(b, "chardev=qmp,mode=control");

    if (serial_unix) {
        add(b, "-chardev");
        if (context->serial_fd >= 0)
            add_printf(b, "socket,id=serial0,fd=%d,server=on,wait=off", context->serial_fd);
        else
            add_printf(b, "socket,id=serial0,path=%s/serial.sock,server=on,wait=off", runtime_dir);
    } else if (g_str_equal(config->serial, "pty")) {
        add(b, "-chardev");
        add(b, "pty,id=serial0");
    } else if (g_str_equal(config->serial, "none")) {
        return TRUE;
    } else {
        return fail(error, ORIEL_DEVMODEL_ERROR_INVALID, "serial: '%s' is not one of unix, pty, none",
                    config->serial);
    }
    add(b, "-serial");
    add(b, "chardev:serial0");
    return TRUE;
}

/* ---- display device ------------------------------------------------------- */

static gboolean
add_display(ArgvBuilder *b, GError **error)
{
    const OrielDomainConfig *config = b->config;
    guint videoram = config->videoram_mib;

    if (config->vga == ORIEL_VGA_NONE)
        return TRUE;
    add(b, "-device");
    if (b->microvm) {
        /* No PCI, so neither QXL nor VGA; videoram does not apply. */
        add(b, "virtio-gpu-device,id=video0");
    } else if (config->vga == ORIEL_VGA_QXL) {
        if (videoram == 0) {
            add(b, "qxl-vga,id=video0");
        } else {
            /* videoram sizes the framebuffer (vgamem, QEMU rounds it to a
             * power of two and caps it at 256 MiB); the command ring
             * (ram_size) and surfaces (vram_size) BARs get twice that, never
             * below QEMU's 64 MiB default. */
            guint vgamem = pow2_clamp(videoram, 16, 256);
            guint bar = MAX(64u, 2 * vgamem);
            add_printf(b, "qxl-vga,id=video0,ram_size_mb=%u,vram_size_mb=%u,vgamem_mb=%u",
                       bar, bar, vgamem);
        }
    } else if (config->vga == ORIEL_VGA_STDVGA) {
        if (videoram == 0)
            add(b, "VGA,id=video0");
        else
            add_printf(b, "VGA,id=video0,vgamem_mb=%u", pow2_clamp(videoram, 4, 512));
    } else {
        return fail(error, ORIEL_DEVMODEL_ERROR_INVALID, "vga: unknown value %d", (int)config->vga);
    }
    return TRUE;
}

/* ---- SPICE ---------------------------------------------------------------- */

static void
add_virtio_serial(ArgvBuilder *b)
{
    add(b, "-device");
    add_printf(b, "%s,id=virtio-serial0", b->microvm ? "virtio-serial-device" : "virtio-serial-pci");
}

static gboolean
add_spice(ArgvBuilder *b, GError **error)
{
    const OrielSpiceConfig *spice = &b->config->spice;
    const OrielQemuArgvContext *context = b->context;
    guint port = spice->port != 0 ? spice->port : context->spice_port;

    if (!spice->enabled)
        return TRUE;
    if (port == 0 || port > 65535)
        return fail(error, ORIEL_DEVMODEL_ERROR_INVALID,
                    "spiceport: no port was chosen for this start");

    g_autofree char *host = escape_value(spice->host);
    g_autoptr(GString) options = g_string_new(NULL);

    g_string_append_printf(options, "addr=%s,port=%u", host, port);
    if (spice->tls_port != 0) {
        if (!context->spice_x509_dir)
            return fail(error, ORIEL_DEVMODEL_ERROR_INVALID,
                        "spicetls_port: TLS needs a certificate directory");
        g_autofree char *x509_dir = escape_value(context->spice_x509_dir);
        g_string_append_printf(options, ",tls-port=%u,x509-dir=%s", spice->tls_port, x509_dir);
        /* spice-server refuses every channel on the plain port (the client
         * is told to use TLS). */
        if (spice->tls_only)
            g_string_append(options, ",tls-channel=default");
    }
    if (spice->disable_ticketing) {
        g_string_append(options, ",disable-ticketing=on");
    } else if (context->spice_password_file) {
        /* The ticket reaches QEMU through a file, never through argv. */
        g_autofree char *file = escape_value(context->spice_password_file);
        add(b, "-object");
        add_printf(b, "secret,id=spice-password,file=%s,format=raw", file);
        g_string_append(options, ",password-secret=spice-password");
    }
    if (spice->image_compression)
        g_string_append_printf(options, ",image-compression=%s", spice->image_compression);
    if (spice->streaming_video)
        g_string_append_printf(options, ",streaming-video=%s", spice->streaming_video);
    g_string_append_printf(options, ",agent-mouse=%s", spice->agent_mouse ? "on" : "off");
    if (!spice->clipboard_sharing)
        g_string_append(options, ",disable-copy-paste=on");
    g_string_append(options, ",seamless-migration=on");
    add(b, "-spice");
    add(b, options->str);

    if (spice->vdagent) {
        add_virtio_serial(b);
        add(b, "-chardev");
        add(b, "spicevmc,id=vdagent,name=vdagent");
        add(b, "-device");
        add(b, "virtserialport,bus=virtio-serial0.0,chardev=vdagent,name=com.redhat.spice.0");
    }
    return TRUE;
}

/* ---- USB ---------------------------------------------------------------- */

static guint
usb_command_line_devices(const OrielDomainConfig *config)
{
    guint redirections = config->spice.enabled ? config->spice.usbredirection : 0;
    return redirections + (config->usb ? 1 : 0);
}

guint
oriel_qemu_usb_root_ports(const OrielDomainConfig *config)
{
    guint devices = usb_command_line_devices(config);

    if (devices == 0 || config->type == ORIEL_DOMAIN_TYPE_PVH)
        return 0;
    switch (config->usbversion) {
    case 3: return CLAMP(devices + ORIEL_USB_ATTACH_MAX, XHCI_PORTS_DEFAULT, XHCI_PORTS_MAX);
    case 2: return 6;
    case 1: return 2;
    default: return 0;
    }
}

guint
oriel_qemu_usb_first_free_port(const OrielDomainConfig *config)
{
    guint ports = oriel_qemu_usb_root_ports(config);
    guint devices = usb_command_line_devices(config);

    /* QEMU adds a hub when a device claims the last free port. */
    return devices < ports ? devices + 1 : 0;
}

static gboolean
add_usb(ArgvBuilder *b, GError **error)
{
    const OrielDomainConfig *config = b->config;
    guint redirections = config->spice.enabled ? config->spice.usbredirection : 0;
    guint devices = redirections + (config->usb ? 1 : 0);

    if (devices == 0)
        return TRUE;
    if (b->microvm)
        return fail(error, ORIEL_DEVMODEL_ERROR_UNSUPPORTED,
                    "%s: a pvh (microvm) domain has no PCI bus for a USB controller",
                    config->usb ? "usb" : "spiceusbredirection");

    switch (config->usbversion) {
    case 3: {
        /* Room for orield's hot-plugged USB disks too. */
        guint ports = oriel_qemu_usb_root_ports(config);
        add(b, "-device");
        add_printf(b, "qemu-xhci,id=usb,p2=%u,p3=%u", ports, ports);
        break;
    }
    case 2:
        /* EHCI with its three UHCI companions in one slot, as on real ICH9
         * boards: guests hand full- and low-speed devices to the companions
         * only when they share the EHCI's slot. */
        add(b, "-device");
        add(b, "ich9-usb-ehci1,id=usb,addr=1d.7,multifunction=on");
        for (guint i = 0; i < 3; i++) {
            add(b, "-device");
            add_printf(b, "ich9-usb-uhci%u,masterbus=usb.0,firstport=%u,addr=1d.%u%s",
                       i + 1, 2 * i, i, i == 0 ? ",multifunction=on" : "");
        }
        break;
    case 1:
        add(b, "-device");
        add(b, "piix3-usb-uhci,id=usb");
        break;
    default:
        return fail(error, ORIEL_DEVMODEL_ERROR_INVALID, "usbversion: %u is not 1, 2 or 3",
                    config->usbversion);
    }

    if (config->usb) {
        add(b, "-device");
        add(b, "usb-tablet,id=tablet0,bus=usb.0");
    }
    for (guint i = 0; i < redirections; i++) {
        add(b, "-chardev");
        add_printf(b, "spicevmc,id=usbredirchardev%u,name=usbredir", i);
        add(b, "-device");
        add_printf(b, "usb-redir,chardev=usbredirchardev%u,id=usbredirdev%u,bus=usb.0", i, i);
    }
    return TRUE;
}

/* ---- audio ---------------------------------------------------------------- */

static gboolean
add_audio(ArgvBuilder *b, GError **error)
{
    const OrielDomainConfig *config = b->config;

    if (config->soundhw == ORIEL_SOUND_NONE)
        return TRUE;
    if (b->microvm)
        return fail(error, ORIEL_DEVMODEL_ERROR_UNSUPPORTED,
                    "soundhw: a pvh (microvm) domain has no PCI bus for a sound card");

    add(b, "-audiodev");
    switch (config->audio_backend) {
    case ORIEL_AUDIO_BACKEND_SPICE:
        add(b, "spice,id=audio0");
        break;
    case ORIEL_AUDIO_BACKEND_PA:
        add(b, "pa,id=audio0");
        break;
    case ORIEL_AUDIO_BACKEND_NONE:
        add(b, "none,id=audio0");
        break;
    default:
        /* An unvalidated config: what validation would have chosen. */
        add(b, config->spice.enabled ? "spice,id=audio0" : "none,id=audio0");
        break;
    }
    switch (config->soundhw) {
    case ORIEL_SOUND_HDA:
        add(b, "-device");
        add(b, "intel-hda,id=sound0");
        add(b, "-device");
        add(b, "hda-duplex,bus=sound0.0,audiodev=audio0");
        break;
    case ORIEL_SOUND_AC97:
        add(b, "-device");
        add(b, "AC97,id=sound0,audiodev=audio0");
        break;
    default:
        return fail(error, ORIEL_DEVMODEL_ERROR_INVALID, "soundhw: unknown value %d", (int)config->soundhw);
    }
    return TRUE;
}

/* ---- boot order ------------------------------------------------------------ */

typedef struct {
    int hard_disk; /* bootindex of the first hard disk, 0 = none */
    int cdrom;     /* of the first CD-ROM */
    int network;   /* of the first NIC */
} BootIndexes;

/* xl's boot letters in order: c hard disk, d CD-ROM, n network.  Letters
 * without a matching device are skipped; a (floppy) has no device here. */
static BootIndexes
boot_indexes(const OrielDomainConfig *config)
{
    BootIndexes indexes = { 0, 0, 0 };
    int next = 1;

    if (!config->boot || config->type == ORIEL_DOMAIN_TYPE_PVH)
        return indexes;
    for (const char *p = config->boot; *p; p++) {
        int *slot = *p == 'c' ? &indexes.hard_disk : *p == 'd' ? &indexes.cdrom
                  : *p == 'n' ? &indexes.network : NULL;
        if (slot && *slot == 0)
            *slot = next++;
    }
    return indexes;
}

/* ---- disks ---------------------------------------------------------------- */

static const char *
disk_format_driver(OrielDiskFormat format)
{
    switch (format) {
    case ORIEL_DISK_FORMAT_RAW:
        return "raw";
    case ORIEL_DISK_FORMAT_QCOW2:
        return "qcow2";
    case ORIEL_DISK_FORMAT_QCOW:
        return "qcow";
    case ORIEL_DISK_FORMAT_VHD:
        return "vpc";
    case ORIEL_DISK_FORMAT_QED:
        return "qed";
    }
    return NULL;
}

/* xvd* and vd* are virtio disks; hd* and sd* sit on AHCI ports, one per
 * letter (hda and sda are both port 0), so a guest sees the same disk at the
 * same port whatever the order of the disk list. */
static gboolean
disk_is_virtio(const OrielDiskConfig *disk)
{
    return !disk->cdrom && (g_str_has_prefix(disk->vdev, "xvd") || g_str_has_prefix(disk->vdev, "vd"));
}

static gboolean
disk_ahci_port(const OrielDiskConfig *disk, guint *ret_port, GError **error)
{
    /* Validation guarantees "<prefix><letter>..." with a prefix of xvd, vd,
     * hd or sd. */
    const char *letter = disk->vdev + (g_str_has_prefix(disk->vdev, "xvd") ? 3 : 2);

    if (*letter < 'a' || *letter >= 'a' + (char)AHCI_PORTS || letter[1] != '\0')
        return fail(error, ORIEL_DEVMODEL_ERROR_UNSUPPORTED,
                    "disk: %s: the q35 AHCI controller has %u ports, for vdevs ending in a to %c",
                    disk->vdev, AHCI_PORTS, 'a' + AHCI_PORTS - 1);
    *ret_port = (guint)(*letter - 'a');
    return TRUE;
}

static void
add_disk_backend(ArgvBuilder *b, const OrielDiskConfig *disk)
{
    g_autofree char *target = escape_value(disk->target);
    const char *read_only = disk->read_only || disk->cdrom ? ",read-only=on" : "";

    add(b, "-blockdev");
    add_printf(b, "driver=file,node-name=%s-file,filename=%s%s", disk->vdev, target, read_only);
    add(b, "-blockdev");
    add_printf(b, "driver=%s,node-name=%s-format,file=%s-file%s",
               disk_format_driver(disk->format), disk->vdev, disk->vdev, read_only);
}

static gboolean
add_disks(ArgvBuilder *b, GError **error)
{
    const OrielDomainConfig *config = b->config;
    BootIndexes boot = boot_indexes(config);
    const char *ahci_users[AHCI_PORTS] = { NULL };

    for (guint i = 0; i < config->disks->len; i++) {
        const OrielDiskConfig *disk = g_ptr_array_index(config->disks, i);
        g_autoptr(GString) device = g_string_new(NULL);
        int bootindex = 0;

        if (!disk_format_driver(disk->format))
            return fail(error, ORIEL_DEVMODEL_ERROR_INVALID, "disk: %s: unknown format %d",
                        disk->vdev, (int)disk->format);
        if (disk->cdrom) {
            bootindex = boot.cdrom;
            boot.cdrom = 0;
        } else {
            bootindex = boot.hard_disk;
            boot.hard_disk = 0;
        }

        if (b->microvm) {
            if (disk->cdrom || !disk->target)
                return fail(error, ORIEL_DEVMODEL_ERROR_UNSUPPORTED,
                            "disk: %s: a pvh (microvm) domain has no CD-ROM drive", disk->vdev);
            g_string_append(device, "virtio-blk-device");
        } else if (disk_is_virtio(disk)) {
            g_string_append(device, "virtio-blk-pci");
        } else {
            guint port = 0;
            if (!disk_ahci_port(disk, &port, error))
                return FALSE;
            if (ahci_users[port])
                return fail(error, ORIEL_DEVMODEL_ERROR_UNSUPPORTED,
                            "disk: %s and %s would share AHCI port %u", ahci_users[port], disk->vdev, port);
            ahci_users[port] = disk->vdev;
            g_string_append_printf(device, "%s,bus=ide.%u", disk->cdrom ? "ide-cd" : "ide-hd", port);
        }

        if (disk->target) {
            add_disk_backend(b, disk);
            g_string_append_printf(device, ",drive=%s-format", disk->vdev);
        }
        g_string_append_printf(device, ",id=disk-%s", disk->vdev);
        if (bootindex > 0)
            g_string_append_printf(device, ",bootindex=%d", bootindex);
        add(b, "-device");
        add(b, device->str);
    }
    return TRUE;
}

/* ---- NICs ---------------------------------------------------------------- */

static gboolean
add_nics(ArgvBuilder *b, GError **error)
{
    const OrielDomainConfig *config = b->config;
    BootIndexes boot = boot_indexes(config);

    for (guint i = 0; i < config->nics->len; i++) {
        const OrielNicConfig *nic = g_ptr_array_index(config->nics, i);
        g_autoptr(GString) device = g_string_new(NULL);
        const char *model;

        if (g_str_equal(nic->model, "virtio-net"))
            model = b->microvm ? "virtio-net-device" : "virtio-net-pci";
        else if (b->microvm)
            return fail(error, ORIEL_DEVMODEL_ERROR_UNSUPPORTED,
                        "vif: model '%s' needs PCI; a pvh (microvm) domain has only virtio-net",
                        nic->model);
        else if (g_str_equal(nic->model, "e1000") || g_str_equal(nic->model, "rtl8139"))
            model = nic->model;
        else
            return fail(error, ORIEL_DEVMODEL_ERROR_INVALID,
                        "vif: model '%s' is not one of e1000, virtio-net, rtl8139", nic->model);

        g_string_append_printf(device, "%s,netdev=net%u,id=nic%u", model, i, i);
        if (nic->mac)
            g_string_append_printf(device, ",mac=%s", nic->mac);
        if (i == 0 && boot.network > 0)
            g_string_append_printf(device, ",bootindex=%d", boot.network);
        add(b, "-netdev");
        add_printf(b, "user,id=net%u", i);
        add(b, "-device");
        add(b, device->str);
    }
    return TRUE;
}

/* ---- extra arguments -------------------------------------------------------- */

static gboolean
add_device_model_args(ArgvBuilder *b, GError **error)
{
    for (guint i = 0; i < b->config->device_model_args->len; i++)
        add(b, g_ptr_array_index(b->config->device_model_args, i));
    return TRUE;
}

/* ---- public ---------------------------------------------------------------- */

typedef gboolean (*ArgvSection)(ArgvBuilder *b, GError **error);

GStrv
oriel_qemu_argv_build(const OrielDomainConfig *config,
                      const OrielQemuArgvContext *context,
                      GError **error)
{
    /* The order of the command line; PCI slots are given out in it. */
    static const ArgvSection sections[] = {
        add_base,
        add_machine,
        add_cpu_memory,
        add_lifecycle,
        add_chardevs,
        add_display,
        add_spice,
        add_usb,
        add_audio,
        add_disks,
        add_nics,
        add_device_model_args,
    };
    g_autoptr(GPtrArray) argv = g_ptr_array_new_with_free_func(g_free);

    g_return_val_if_fail(config != NULL, NULL);
    g_return_val_if_fail(context != NULL, NULL);
    g_return_val_if_fail(error == NULL || *error == NULL, NULL);

    if (!context->qemu_binary) {
        fail(error, ORIEL_DEVMODEL_ERROR_INVALID, "the start context names no QEMU binary");
        return NULL;
    }
    if (!check_validated(config, error))
        return NULL;

    ArgvBuilder builder = {
        .config = config,
        .context = context,
        .argv = argv,
        .microvm = config->type == ORIEL_DOMAIN_TYPE_PVH,
    };
    for (gsize i = 0; i < G_N_ELEMENTS(sections); i++)
        if (!sections[i](&builder, error))
            return NULL;

    g_ptr_array_add(argv, NULL);
    return (GStrv)g_ptr_array_free(g_steal_pointer(&argv), FALSE);
}

/* Characters that need no quoting in a POSIX shell. */
static gboolean
arg_is_shell_safe(const char *arg)
{
    if (*arg == '\0')
        return FALSE;
    for (const char *p = arg; *p; p++)
        if (!g_ascii_isalnum(*p) && !strchr("-_=.,:/@%+", *p))
            return FALSE;
    return TRUE;
}

char *
oriel_qemu_argv_to_string(const char *const *argv)
{
    g_autoptr(GString) line = g_string_new(NULL);

    for (gsize i = 0; argv && argv[i]; i++) {
        if (i > 0)
            g_string_append_c(line, ' ');
        if (arg_is_shell_safe(argv[i])) {
            g_string_append(line, argv[i]);
        } else {
            g_autofree char *quoted = g_shell_quote(argv[i]);
            g_string_append(line, quoted);
        }
    }
    return g_string_free(g_steal_pointer(&line), FALSE);
}
