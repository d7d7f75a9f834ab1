/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* orielctl's subcommands; one table in orielctl.c lists them all. */
#pragma once

#include <glib.h>

#include "xlcfg.h"

G_BEGIN_DECLS

/* Exit statuses every subcommand shares. */
enum {
    ORIELCTL_EXIT_OK = 0,
    ORIELCTL_EXIT_ERROR = 1, /* bad config, bad usage, start failed */
    ORIELCTL_EXIT_USAGE = 2,
};

int orielctl_cmd_check(int argc, char **argv);
int orielctl_cmd_argv(int argc, char **argv);
int orielctl_cmd_create(int argc, char **argv);

/* Loads FILE.cfg, printing its warnings to stderr; on failure prints the
 * one-line error and returns NULL. */
OrielDomainConfig *orielctl_load_config(const char *path);

G_END_DECLS
