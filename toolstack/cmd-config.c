/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* orielctl check / argv: what a config file means, without running it. */
#include "orielctl.h"

#include <stdio.h>

#include "dm-process.h"
#include "paths.h"

static gboolean
parse_one_file_argument(int argc, char **argv, const char *usage, const char **ret_path)
{
    if (argc == 2 && (g_str_equal(argv[1], "--help") || g_str_equal(argv[1], "-h"))) {
        printf("Usage: orielctl %s\n", usage);
        exit(ORIELCTL_EXIT_OK);
    }
    if (argc != 2 || argv[1][0] == '-') {
        fprintf(stderr, "Usage: orielctl %s\n", usage);
        return FALSE;
    }
    *ret_path = argv[1];
    return TRUE;
}

int
orielctl_cmd_check(int argc, char **argv)
{
    const char *path;

    if (!parse_one_file_argument(argc, argv, "check FILE.cfg", &path))
        return ORIELCTL_EXIT_USAGE;
    g_autoptr(OrielDomainConfig) config = orielctl_load_config(path);
    if (!config)
        return ORIELCTL_EXIT_ERROR;

    g_autoptr(JsonNode) node = oriel_domain_config_to_json(config, TRUE);
    g_autoptr(JsonGenerator) generator = json_generator_new();
    json_generator_set_pretty(generator, TRUE);
    json_generator_set_root(generator, node);
    g_autofree char *text = json_generator_to_data(generator, NULL);
    printf("%s\n", text);
    return ORIELCTL_EXIT_OK;
}

int
orielctl_cmd_argv(int argc, char **argv)
{
    const char *path;
    g_autoptr(GError) error = NULL;

    if (!parse_one_file_argument(argc, argv, "argv FILE.cfg", &path))
        return ORIELCTL_EXIT_USAGE;
    g_autoptr(OrielDomainConfig) config = orielctl_load_config(path);
    if (!config)
        return ORIELCTL_EXIT_ERROR;

    g_autofree char *runtime_dir = oriel_paths_domain_runtime_dir(oriel_mode_default(), config->name);
    g_auto(GStrv) qemu_argv = oriel_dm_plan_argv(config, runtime_dir, &error);
    if (!qemu_argv) {
        fprintf(stderr, "%s: %s\n", path, error->message);
        return ORIELCTL_EXIT_ERROR;
    }
    g_autofree char *line = oriel_qemu_argv_to_string((const char *const *)qemu_argv);
    printf("%s\n", line);
    return ORIELCTL_EXIT_OK;
}
