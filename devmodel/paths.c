/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "paths.h"

#include <unistd.h>

OrielMode
oriel_mode_default(void)
{
    return geteuid() == 0 ? ORIEL_MODE_SYSTEM : ORIEL_MODE_SESSION;
}

static char *
resolve(const char *variable, OrielMode mode, const char *system_path, const char *session_base)
{
    const char *forced = g_getenv(variable);

    if (forced && *forced)
        return g_strdup(forced);
    if (mode == ORIEL_MODE_SYSTEM)
        return g_strdup(system_path);
    return g_build_filename(session_base, "oriel", NULL);
}

char *
oriel_paths_config_dir(OrielMode mode)
{
    return resolve("ORIEL_CONFIG_DIR", mode, "/etc/oriel", g_get_user_config_dir());
}

char *
oriel_paths_state_dir(OrielMode mode)
{
    return resolve("ORIEL_STATE_DIR", mode, "/var/lib/oriel", g_get_user_data_dir());
}

char *
oriel_paths_runtime_dir(OrielMode mode)
{
    return resolve("ORIEL_RUNTIME_DIR", mode, "/run/oriel", g_get_user_runtime_dir());
}

char *
oriel_paths_domain_runtime_dir(OrielMode mode, const char *name)
{
    g_autofree char *runtime = oriel_paths_runtime_dir(mode);
    return g_build_filename(runtime, "domains", name, NULL);
}
