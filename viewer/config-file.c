/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* viewer.conf: defaults for the command-line options, same names. */
#define G_LOG_DOMAIN "oriel-viewer"

#include "oriel-viewer.h"
#include "keyfile-util.h"

#include <string.h>

#define CONFIG_GROUP "viewer"

typedef struct {
    const char *name;
    gboolean takes_value;
} ConfigOption;

/* The options a config file may set: everything but the target, the
 * password and the one-shot automation options. */
static const ConfigOption config_options[] = {
    { "full-screen", FALSE },
    { "title", TRUE },
    { "clipboard", TRUE },
    { "primary-selection", FALSE },
    { "kiosk", FALSE },
    { "kiosk-quit", TRUE },
    { "no-audio", FALSE },
    { "auto-resize", FALSE },
    { "no-scaling", FALSE },
    { "release-cursor", TRUE },
    { "usb-filter", TRUE },
    { "usb-redirect-on-connect", TRUE },
    { "reconnect-timeout", TRUE },
    { "no-auto-resize", FALSE },
    { "no-usb-autoshare", FALSE },
    { "broker", TRUE },
    { "broker-ca", TRUE },
    { "broker-pool", TRUE },
};

char **
oriel_viewer_config_to_args(const char *data, gsize length, const char *origin, GError **error)
{
    g_autoptr(GKeyFile) file = g_key_file_new();
    g_autoptr(GError) local_error = NULL;
    g_autoptr(GStrvBuilder) args = g_strv_builder_new();
    g_auto(GStrv) keys = NULL;

    if (length > ORIEL_VIEWER_VV_MAX_SIZE || memchr(data, '\0', length)) {
        g_set_error(error, ORIEL_VIEWER_ERROR, ORIEL_VIEWER_ERROR_INVALID,
                    "%s: not a viewer configuration file", origin);
        return NULL;
    }
    if (!g_key_file_load_from_data(file, data, length, G_KEY_FILE_NONE, &local_error)) {
        g_set_error(error, ORIEL_VIEWER_ERROR, ORIEL_VIEWER_ERROR_INVALID, "%s: %s", origin,
                    local_error->message);
        return NULL;
    }
    keys = g_key_file_get_keys(file, CONFIG_GROUP, NULL, NULL);
    for (char **key = keys; key && *key; key++) {
        const ConfigOption *option = NULL;
        g_autofree char *value = NULL;

        for (gsize i = 0; i < G_N_ELEMENTS(config_options); i++)
            if (g_str_equal(*key, config_options[i].name))
                option = &config_options[i];
        if (!option) {
            g_set_error(error, ORIEL_VIEWER_ERROR, ORIEL_VIEWER_ERROR_INVALID,
                        "%s: [" CONFIG_GROUP "] %s: not an option a configuration file sets",
                        origin, *key);
            return NULL;
        }
        value = oriel_viewer_keyfile_get_string(file, CONFIG_GROUP, *key, &local_error);
        if (!value) {
            g_set_error(error, ORIEL_VIEWER_ERROR, ORIEL_VIEWER_ERROR_INVALID,
                        "%s: [" CONFIG_GROUP "] %s: %s", origin, *key, local_error->message);
            return NULL;
        }
        if (option->takes_value) {
            g_autofree char *arg = g_strdup_printf("--%s=%s", *key, value);
            g_strv_builder_add(args, arg);
        } else if (g_str_equal(value, "true") || g_str_equal(value, "1")) {
            g_autofree char *arg = g_strdup_printf("--%s", *key);
            g_strv_builder_add(args, arg);
        } else if (!g_str_equal(value, "false") && !g_str_equal(value, "0")) {
            g_set_error(error, ORIEL_VIEWER_ERROR, ORIEL_VIEWER_ERROR_INVALID,
                        "%s: [" CONFIG_GROUP "] %s: \"%s\" is not true or false", origin, *key,
                        value);
            return NULL;
        }
    }
    return g_strv_builder_end(args);
}
