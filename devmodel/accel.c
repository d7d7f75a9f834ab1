/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "accel.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

/*
 * /dev/kvm can exist without hardware virtualization: a PVM ("kvm-pvm")
 * host module runs only guests built for it, and an unmodified guest would
 * hang.  So KVM is used only when the CPU also advertises VMX or SVM.
 */
static gboolean
cpu_has_virtualization(void)
{
    g_autofree char *cpuinfo = NULL;

    if (!g_file_get_contents("/proc/cpuinfo", &cpuinfo, NULL, NULL))
        return FALSE;
    for (char *line = cpuinfo; line && *line;) {
        char *end = strchr(line, '\n');
        if (end)
            *end = '\0';
        if (g_str_has_prefix(line, "flags")) {
            g_auto(GStrv) flags = g_strsplit_set(line, " \t", -1);
            return g_strv_contains((const char *const *)flags, "vmx") ||
                   g_strv_contains((const char *const *)flags, "svm");
        }
        line = end ? end + 1 : NULL;
    }
    return FALSE;
}

static gboolean
kvm_usable(char **ret_reason)
{
    /* The cheap check first: most hosts without VMX/SVM stop here. */
    if (!cpu_has_virtualization()) {
        *ret_reason = g_strdup(g_file_test("/dev/kvm", G_FILE_TEST_EXISTS)
                                   ? "tcg: /dev/kvm exists but the CPU has no VMX/SVM (a PVM host cannot run ordinary guests)"
                                   : "tcg: the CPU has no VMX/SVM");
        return FALSE;
    }
    int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        *ret_reason = g_strdup_printf("tcg: /dev/kvm: %s", g_strerror(errno));
        return FALSE;
    }
    int version = ioctl(fd, KVM_GET_API_VERSION, 0);
    int vm = version == KVM_API_VERSION ? ioctl(fd, KVM_CREATE_VM, 0) : -1;
    close(fd);
    if (version != KVM_API_VERSION) {
        *ret_reason = g_strdup_printf("tcg: /dev/kvm speaks API %d, not %d", version, KVM_API_VERSION);
        return FALSE;
    }
    if (vm < 0) {
        *ret_reason = g_strdup("tcg: /dev/kvm cannot create a VM");
        return FALSE;
    }
    close(vm);
    *ret_reason = g_strdup("kvm: /dev/kvm is usable");
    return TRUE;
}

OrielAccel
oriel_accel_probe(char **ret_reason)
{
    g_autofree char *reason = NULL;
    const char *forced = g_getenv("ORIEL_ACCEL");
    OrielAccel accel;

    if (forced && g_str_equal(forced, "kvm")) {
        accel = ORIEL_ACCEL_KVM;
        reason = g_strdup("kvm: forced by ORIEL_ACCEL");
    } else if (forced && g_str_equal(forced, "tcg")) {
        accel = ORIEL_ACCEL_TCG;
        reason = g_strdup("tcg: forced by ORIEL_ACCEL");
    } else {
        accel = kvm_usable(&reason) ? ORIEL_ACCEL_KVM : ORIEL_ACCEL_TCG;
    }
    g_debug("accelerator %s", reason);
    if (ret_reason)
        *ret_reason = g_steal_pointer(&reason);
    return accel;
}

gboolean
oriel_accel_nested_supported(void)
{
    static const char *const params[] = {
        "/sys/module/kvm_intel/parameters/nested",
        "/sys/module/kvm_amd/parameters/nested",
    };

    for (gsize i = 0; i < G_N_ELEMENTS(params); i++) {
        g_autofree char *value = NULL;
        if (g_file_get_contents(params[i], &value, NULL, NULL))
            return value[0] == 'Y' || value[0] == 'y' || value[0] == '1';
    }
    return FALSE;
}
