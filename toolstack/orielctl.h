/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* orielctl's subcommands; one table in orielctl.c lists them all. */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

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

/* cmd-domain.c: verbs served by orield */
int orielctl_cmd_list(int argc, char **argv);
int orielctl_cmd_info(int argc, char **argv);
int orielctl_cmd_dominfo(int argc, char **argv);
int orielctl_cmd_define(int argc, char **argv);
int orielctl_cmd_undefine(int argc, char **argv);
int orielctl_cmd_start(int argc, char **argv);
int orielctl_cmd_shutdown(int argc, char **argv);
int orielctl_cmd_reboot(int argc, char **argv);
int orielctl_cmd_destroy(int argc, char **argv);
int orielctl_cmd_pause(int argc, char **argv);
int orielctl_cmd_unpause(int argc, char **argv);
int orielctl_cmd_events(int argc, char **argv);
int orielctl_cmd_spice(int argc, char **argv);
int orielctl_cmd_sched_credit(int argc, char **argv);
int orielctl_cmd_mem_set(int argc, char **argv);
int orielctl_cmd_vcpu_pin(int argc, char **argv);
int orielctl_cmd_vcpu_set(int argc, char **argv);
int orielctl_cmd_rename(int argc, char **argv);
int orielctl_cmd_log(int argc, char **argv);
/* cmd-usb.c: host-side USB disks */
int orielctl_cmd_usb_attach(int argc, char **argv);
int orielctl_cmd_usb_list(int argc, char **argv);
int orielctl_cmd_usb_detach(int argc, char **argv);
/* cmd-console.c */
int orielctl_cmd_console(int argc, char **argv);
/* The serial console socket of a running domain, from orield; NULL after
 * printing the error. */
char *orielctl_console_path(const char *name);
/* create FILE.cfg without -F: the daemon starts it. */
int orielctl_create_with_daemon(const char *path);

/* cmd-common.c: shared by the verbs served by orield */
/* Connects (starting orield when it is not running) and calls @command;
 * @arguments is borrowed.  On failure prints "orielctl VERB: ..." and
 * returns NULL. */
JsonNode *orielctl_call(const char *verb, const char *command, JsonObject *arguments);
/* Parses options and wants exactly @want_args operands; on --help or an
 * error prints and returns FALSE with *ret_status set. */
gboolean orielctl_parse_options(const char *verb, const char *parameters, const char *summary,
                                GOptionEntry *entries, int *argc, char ***argv, guint want_args, int *ret_status);
/* Prints @node as pretty JSON on stdout. */
void orielctl_print_json(JsonNode *node);
/* A new {"name": NAME} object. */
JsonObject *orielctl_name_arguments(const char *name);

/* Loads FILE.cfg, printing its warnings to stderr; on failure prints the
 * one-line error and returns NULL. */
OrielDomainConfig *orielctl_load_config(const char *path);

G_END_DECLS
