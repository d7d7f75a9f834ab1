/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A domain's CPU weight and cap through cgroups (cgroup.c). */
#pragma once

#include "hv-priv.h"

/* Puts QEMU @pid in its own group (unless *@inout_path names it already)
 * and sets xl-style @weight (256 = default) and @cap (percent of one CPU,
 * 0 = none).  Fails with ORIEL_HV_ERROR_UNSUPPORTED and the file that
 * could not be written when cgroups are not writable here. */
gboolean oriel_hv_cgroup_apply(const char *name, GPid pid, gint weight, gint cap, char **inout_path,
                               GError **error);
/* The group apply made for this QEMU, or NULL (after a daemon restart). */
char *oriel_hv_cgroup_find(const char *name, GPid pid);
/* Removes an empty group (its QEMU is gone). */
void oriel_hv_cgroup_remove(const char *path);
