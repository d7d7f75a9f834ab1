/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * CPU weight and cap of a domain's QEMU through cgroups, as xl sched-credit:
 * cgroup v2 (cpu.weight, cpu.max) when the unified hierarchy has the cpu
 * controller, else cgroup v1 (cpu.shares, cpu.cfs_quota_us).  Each QEMU gets
 * its own group, oriel/NAME.PID under the hierarchy's root, so two daemons
 * (or a quick restart) never share one.  ORIEL_CGROUP_ROOT overrides
 * /sys/fs/cgroup (tests).
 */
#include "cgroup.h"

#include <errno.h>
#include <glib/gstdio.h>
#include <string.h>

#define CPU_PERIOD_US 100000

static const char *
cgroup_root(void)
{
    const char *forced = g_getenv("ORIEL_CGROUP_ROOT");
    return forced && *forced ? forced : "/sys/fs/cgroup";
}

static gboolean
write_file(const char *dir, const char *file, const char *value, GError **error)
{
    g_autofree char *path = g_build_filename(dir, file, NULL);
    FILE *stream = fopen(path, "we");
    gboolean written = stream && fputs(value, stream) >= 0;

    if (stream && fclose(stream) != 0)
        written = FALSE;
    if (!written) {
        g_set_error(error, ORIEL_HV_ERROR, ORIEL_HV_ERROR_UNSUPPORTED, "cannot write %s: %s", path,
                    g_strerror(errno));
        return FALSE;
    }
    return TRUE;
}

/* The v2 root with the cpu controller available, or NULL. */
static char *
find_v2_root(void)
{
    const char *root = cgroup_root();
    const char *candidates[] = { "", "unified" };

    for (gsize i = 0; i < G_N_ELEMENTS(candidates); i++) {
        g_autofree char *dir = g_build_filename(root, candidates[i], NULL);
        g_autofree char *path = g_build_filename(dir, "cgroup.controllers", NULL);
        g_autofree char *controllers = NULL;
        if (!g_file_get_contents(path, &controllers, NULL, NULL))
            continue;
        g_auto(GStrv) names = g_strsplit_set(g_strstrip(controllers), " ", -1);
        if (g_strv_contains((const char *const *)names, "cpu"))
            return g_steal_pointer(&dir);
    }
    return NULL;
}

static char *
find_v1_root(void)
{
    g_autofree char *dir = g_build_filename(cgroup_root(), "cpu", NULL);
    g_autofree char *shares = g_build_filename(dir, "cpu.shares", NULL);

    return g_file_test(shares, G_FILE_TEST_EXISTS) ? g_steal_pointer(&dir) : NULL;
}

static char *
make_group(const char *root, const char *name, GPid pid, gboolean v2, GError **error)
{
    g_autofree char *parent = g_build_filename(root, "oriel", NULL);
    g_autofree char *leaf = g_strdup_printf("%s.%d", name, (int)pid);
    g_autofree char *dir = g_build_filename(parent, leaf, NULL);

    if (g_mkdir_with_parents(dir, 0755) < 0) {
        g_set_error(error, ORIEL_HV_ERROR, ORIEL_HV_ERROR_UNSUPPORTED, "cannot create the cgroup %s: %s", dir,
                    g_strerror(errno));
        return NULL;
    }
    /* v2: the cpu controller must be enabled on the way down. */
    if (v2 && (!write_file(root, "cgroup.subtree_control", "+cpu", error) ||
               !write_file(parent, "cgroup.subtree_control", "+cpu", error)))
        return NULL;
    g_autofree char *pid_text = g_strdup_printf("%d", (int)pid);
    if (!write_file(dir, "cgroup.procs", pid_text, error))
        return NULL;
    return g_steal_pointer(&dir);
}

gboolean
oriel_hv_cgroup_apply(const char *name, GPid pid, gint weight, gint cap, char **inout_path, GError **error)
{
    g_autofree char *v2_root = find_v2_root();
    g_autofree char *v1_root = v2_root ? NULL : find_v1_root();
    const char *root = v2_root ? v2_root : v1_root;

    if (!root) {
        g_set_error(error, ORIEL_HV_ERROR, ORIEL_HV_ERROR_UNSUPPORTED,
                    "no cgroup cpu controller under %s (neither v2 cpu.weight nor v1 cpu.shares)", cgroup_root());
        return FALSE;
    }
    g_autofree char *dir = *inout_path ? g_strdup(*inout_path) : make_group(root, name, pid, v2_root != NULL, error);
    if (!dir)
        return FALSE;
    g_autofree char *weight_text = NULL;
    g_autofree char *cap_text = NULL;
    if (v2_root) {
        /* xl's 256 is cgroup v2's default 100. */
        weight_text = g_strdup_printf("%d", CLAMP(weight * 100 / 256, 1, 10000));
        cap_text = cap > 0 ? g_strdup_printf("%d %d", cap * CPU_PERIOD_US / 100, CPU_PERIOD_US) : g_strdup("max");
        if (!write_file(dir, "cpu.weight", weight_text, error) || !write_file(dir, "cpu.max", cap_text, error))
            return FALSE;
    } else {
        /* xl's 256 is cgroup v1's default 1024. */
        weight_text = g_strdup_printf("%d", MAX(weight * 4, 2));
        cap_text = cap > 0 ? g_strdup_printf("%d", cap * CPU_PERIOD_US / 100) : g_strdup("-1");
        g_autofree char *period = g_strdup_printf("%d", CPU_PERIOD_US);
        if (!write_file(dir, "cpu.shares", weight_text, error) || !write_file(dir, "cpu.cfs_period_us", period, error) ||
            !write_file(dir, "cpu.cfs_quota_us", cap_text, error))
            return FALSE;
    }
    g_free(*inout_path);
    *inout_path = g_steal_pointer(&dir);
    return TRUE;
}

char *
oriel_hv_cgroup_find(const char *name, GPid pid)
{
    g_autofree char *v2_root = find_v2_root();
    g_autofree char *root = v2_root ? g_steal_pointer(&v2_root) : find_v1_root();
    g_autofree char *leaf = g_strdup_printf("%s.%d", name, (int)pid);
    g_autofree char *dir = root ? g_build_filename(root, "oriel", leaf, NULL) : NULL;

    return dir && g_file_test(dir, G_FILE_TEST_IS_DIR) ? g_steal_pointer(&dir) : NULL;
}

void
oriel_hv_cgroup_remove(const char *path)
{
    if (path && g_rmdir(path) < 0)
        g_debug("cannot remove the cgroup %s: %s", path, g_strerror(errno));
}
