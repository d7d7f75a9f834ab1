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
    { "create", orielctl_cmd_create, "create -F FILE.cfg",
      "run a domain from a config file in the foreground (Ctrl-C powers it down)" },
    { "check", orielctl_cmd_check, "check FILE.cfg",
      "validate a config file and print the resolved config as JSON" },
    { "argv", orielctl_cmd_argv, "argv FILE.cfg",
      "print the QEMU command line a config file gives (secrets masked)" },
};

static void
print_usage(FILE *out)
{
    fprintf(out, "Usage: orielctl COMMAND [ARGS...]\n\nCommands:\n");
    for (gsize i = 0; i < G_N_ELEMENTS(commands); i++)
        fprintf(out, "  %-24s %s\n", commands[i].usage, commands[i].summary);
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
