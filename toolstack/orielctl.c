/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* orielctl: the xl-style command line of Oriel. */
#include "orielctl.h"

#include <locale.h>
#include <stdio.h>
#include <string.h>

#include "oriel-build-config.h"

typedef struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *usage;
    const char *summary;
} OrielctlCommand;

static const OrielctlCommand commands[] = {
    { "create", orielctl_cmd_create, "create [-F] FILE.cfg",
      "start a domain from a config file (through orield; -F: in the foreground, no daemon)" },
    { "define", orielctl_cmd_define, "define FILE.cfg", "define (or redefine) a domain in orield's store" },
    { "undefine", orielctl_cmd_undefine, "undefine NAME", "remove a domain's definition" },
    { "start", orielctl_cmd_start, "start NAME", "start a defined domain" },
    { "list", orielctl_cmd_list, "list [--json]", "list domains (like xl list)" },
    { "dominfo", orielctl_cmd_dominfo, "dominfo NAME", "describe one domain as JSON" },
    { "info", orielctl_cmd_info, "info [--json]", "describe the host (like xl info)" },
    { "shutdown", orielctl_cmd_shutdown, "shutdown [-w] [-t S] NAME", "power a domain down (ACPI)" },
    { "reboot", orielctl_cmd_reboot, "reboot NAME", "reset a domain" },
    { "destroy", orielctl_cmd_destroy, "destroy NAME", "stop a domain at once" },
    { "pause", orielctl_cmd_pause, "pause NAME", "pause a domain" },
    { "unpause", orielctl_cmd_unpause, "unpause NAME", "resume a paused domain" },
    { "rename", orielctl_cmd_rename, "rename NAME NEW-NAME", "rename a stopped domain" },
    { "log", orielctl_cmd_log, "log NAME", "print the end of a running domain's QEMU log" },
    { "console", orielctl_cmd_console, "console NAME", "attach to a domain's serial console (Ctrl-] detaches)" },
    { "spice", orielctl_cmd_spice, "spice [-e S] NAME", "print a spice:// URI with a fresh one-time ticket" },
    { "sched-credit", orielctl_cmd_sched_credit, "sched-credit [-w W] [-c CAP] NAME",
      "show or set a domain's CPU weight and cap" },
    { "mem-set", orielctl_cmd_mem_set, "mem-set NAME SIZE", "set a domain's balloon target" },
    { "vcpu-pin", orielctl_cmd_vcpu_pin, "vcpu-pin NAME VCPU|all CPUS", "pin vCPUs to host CPUs" },
    { "vcpu-set", orielctl_cmd_vcpu_set, "vcpu-set NAME VCPUS", "hot-plug or unplug vCPUs (hvm)" },
    { "events", orielctl_cmd_events, "events", "follow orield's event stream" },
    { "check", orielctl_cmd_check, "check FILE.cfg",
      "validate a config file and print the resolved config as JSON" },
    { "argv", orielctl_cmd_argv, "argv FILE.cfg",
      "print the QEMU command line a config file gives (secrets masked)" },
    { "usb-attach", orielctl_cmd_usb_attach, "usb-attach NAME --disk IMG [--ro]",
      "attach a raw disk image to a domain as a USB disk" },
    { "usb-list", orielctl_cmd_usb_list, "usb-list NAME [--json]", "list a domain's USB disks" },
    { "usb-detach", orielctl_cmd_usb_detach, "usb-detach NAME ID", "detach a USB disk" },
};

static void
print_usage(FILE *out)
{
    fprintf(out, "Usage: orielctl COMMAND [ARGS...]\n\nCommands:\n");
    for (gsize i = 0; i < G_N_ELEMENTS(commands); i++)
        fprintf(out, "  %-36s %s\n", commands[i].usage, commands[i].summary);
    fprintf(out, "\n  orielctl COMMAND --help  shows a command's options\n");
}

OrielDomainConfig *
orielctl_load_config(const char *path)
{
    g_autoptr(GPtrArray) warnings = NULL;
    g_autoptr(GError) error = NULL;
    g_autoptr(OrielDomainConfig) config = oriel_xlcfg_parse_file(path, &warnings, &error);

    if (!config) {
        fprintf(stderr, "%s\n", error->message);
        return NULL;
    }
    for (guint i = 0; i < warnings->len; i++)
        fprintf(stderr, "warning: %s\n", (const char *)g_ptr_array_index(warnings, i));
    return g_steal_pointer(&config);
}

int
main(int argc, char **argv)
{
    setlocale(LC_ALL, "");
    if (argc < 2 || g_str_equal(argv[1], "--help") || g_str_equal(argv[1], "-h") ||
        g_str_equal(argv[1], "help")) {
        print_usage(argc < 2 ? stderr : stdout);
        return argc < 2 ? ORIELCTL_EXIT_USAGE : ORIELCTL_EXIT_OK;
    }
    if (g_str_equal(argv[1], "--version")) {
        printf("orielctl %s\n", ORIEL_VERSION);
        return ORIELCTL_EXIT_OK;
    }
    for (gsize i = 0; i < G_N_ELEMENTS(commands); i++) {
        if (g_str_equal(argv[1], commands[i].name))
            return commands[i].run(argc - 1, argv + 1);
    }
    fprintf(stderr, "orielctl: unknown command '%s'\n\n", argv[1]);
    print_usage(stderr);
    return ORIELCTL_EXIT_USAGE;
}
