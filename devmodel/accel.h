/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The accelerator probe: KVM when the host can run an unmodified guest with
 * it, TCG otherwise.  ORIEL_ACCEL=kvm|tcg overrides the probe (tests, and
 * hosts whose /dev/kvm misreports).
 */
#pragma once

#include "qemu-argv.h"

G_BEGIN_DECLS

/* Returns the accelerator to use; ret_reason (nullable) gets one line saying
 * why, e.g. "tcg: /dev/kvm is absent". */
OrielAccel oriel_accel_probe(char **ret_reason);

/* TRUE when KVM can expose virtualization extensions to a guest (the kvm_intel
 * or kvm_amd module's "nested" parameter is on). */
gboolean oriel_accel_nested_supported(void);

G_END_DECLS
