/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The broker config file and the pool definition (key file and JSON). */
#include "broker.h"

#include <string.h>

G_DEFINE_QUARK(oriel-broker-server-error-quark, oriel_broker_server_error)

void
oriel_broker_pool_def_free(OrielBrokerPoolDef *pool)
{
    if (!pool)
        return;
    g_free(pool->name);
    g_free(pool->description);
    g_free(pool->golden_image);
    g_free(pool->golden_format);
    g_strfreev(pool->groups);
    g_free(pool->type);
    g_free(pool->kernel);
    g_free(pool->ramdisk);
    g_free(pool->cmdline);
    g_free(pool->spice_host);
    g_free(pool);
}

static OrielBrokerPoolDef *
pool_new(void)
{
    OrielBrokerPoolDef *pool = g_new0(OrielBrokerPoolDef, 1);

    pool->description = g_strdup("");
    pool->golden_format = g_strdup("qcow2");
    pool->desktops = 1;
    pool->memory_mib = 1024;
    pool->vcpus = 1;
    pool->groups = g_new0(char *, 1);
    pool->type = g_strdup("hvm");
    pool->spice_host = g_strdup("127.0.0.1");
    return pool;
}

gboolean
oriel_broker_user_name_is_valid(const char *name)
{
    gsize length = name ? strlen(name) : 0;

    if (length == 0 || length > ORIEL_BROKER_USER_MAX || name[0] == '-')
        return FALSE;
    for (const char *p = name; *p; p++) {
        if (!g_ascii_isalnum(*p) && *p != '.' && *p != '_' && *p != '-')
            return FALSE;
    }
    return TRUE;
}

static gboolean
pool_name_is_valid(const char *name)
{
    gsize length = name ? strlen(name) : 0;

    if (length == 0 || length > ORIEL_BROKER_POOL_NAME_MAX)
        return FALSE;
    if (!g_ascii_islower(name[0]) && !g_ascii_isdigit(name[0]))
        return FALSE;
    for (const char *p = name; *p; p++) {
        if (!g_ascii_islower(*p) && !g_ascii_isdigit(*p) && *p != '_' && *p != '-')
            return FALSE;
    }
    return TRUE;
}

static gboolean
invalid(GError **error, const char *pool, const char *format, ...) G_GNUC_PRINTF(3, 4);

static gboolean
invalid(GError **error, const char *pool, const char *format, ...)
{
    va_list args;
    va_start(args, format);
    g_autofree char *message = g_strdup_vprintf(format, args);
    va_end(args);
    g_set_error(error, ORIEL_BROKER_SERVER_ERROR, ORIEL_BROKER_SERVER_ERROR_INVALID, "pool '%s': %s", pool ? pool : "?", message);
    return FALSE;
}

static gboolean
text_is_clean(const char *text, gsize max)
{
    if (!text)
        return TRUE;
    if (strlen(text) > max || !g_utf8_validate(text, -1, NULL))
        return FALSE;
    for (const char *p = text; *p; p++) {
        if ((guchar)*p < 0x20)
            return FALSE;
    }
    return TRUE;
}

static gboolean
path_is_valid(const char *path)
{
    return path && g_path_is_absolute(path) && text_is_clean(path, ORIEL_BROKER_PATH_MAX) && !strchr(path, ',');
}

gboolean
oriel_broker_pool_def_validate(const OrielBrokerPoolDef *pool, GError **error)
{
    const char *name = pool->name;

    if (!pool_name_is_valid(name))
        return invalid(error, name, "name: expected 1 to %u of a-z, 0-9, '_' and '-', starting with a letter or digit",
                       ORIEL_BROKER_POOL_NAME_MAX);
    if (!text_is_clean(pool->description, ORIEL_BROKER_DESCRIPTION_MAX))
        return invalid(error, name, "description: at most %u bytes of UTF-8 text without control characters",
                       ORIEL_BROKER_DESCRIPTION_MAX);
    if (!pool->golden_image)
        return invalid(error, name, "golden-image: missing");
    if (!path_is_valid(pool->golden_image))
        return invalid(error, name, "golden-image: expected an absolute path without ','");
    if (!g_str_equal(pool->golden_format, "raw") && !g_str_equal(pool->golden_format, "qcow2"))
        return invalid(error, name, "golden-format: expected raw or qcow2, got '%s'", pool->golden_format);
    if (pool->desktops < 1 || pool->desktops > ORIEL_BROKER_DESKTOPS_MAX)
        return invalid(error, name, "desktops: expected 1 to %u", ORIEL_BROKER_DESKTOPS_MAX);
    if (pool->memory_mib < 32 || pool->memory_mib > 1048576)
        return invalid(error, name, "memory: expected 32 to 1048576 MiB");
    if (pool->vcpus < 1 || pool->vcpus > 128)
        return invalid(error, name, "vcpus: expected 1 to 128");
    if (g_strv_length(pool->groups) > ORIEL_BROKER_GROUPS_MAX)
        return invalid(error, name, "groups: at most %u", ORIEL_BROKER_GROUPS_MAX);
    for (char **group = pool->groups; *group; group++) {
        if (!oriel_broker_user_name_is_valid(*group))
            return invalid(error, name, "groups: '%s' is not a group name", *group);
    }
    if (!g_str_equal(pool->type, "hvm") && !g_str_equal(pool->type, "pvh"))
        return invalid(error, name, "type: expected hvm or pvh, got '%s'", pool->type);
    if (pool->kernel && !path_is_valid(pool->kernel))
        return invalid(error, name, "kernel: expected an absolute path without ','");
    if (pool->ramdisk && !path_is_valid(pool->ramdisk))
        return invalid(error, name, "ramdisk: expected an absolute path without ','");
    if ((pool->ramdisk || pool->cmdline) && !pool->kernel)
        return invalid(error, name, "ramdisk and cmdline need a kernel");
    if (pool->cmdline && (!text_is_clean(pool->cmdline, ORIEL_BROKER_DESCRIPTION_MAX) || strpbrk(pool->cmdline, "\"\\")))
        return invalid(error, name, "cmdline: at most %u bytes of text without quotes or backslashes",
                       ORIEL_BROKER_DESCRIPTION_MAX);
    if (!pool->spice_host || !*pool->spice_host || strlen(pool->spice_host) > 255 ||
        strspn(pool->spice_host, "0123456789abcdefABCDEF.:") != strlen(pool->spice_host))
        return invalid(error, name, "spice-host: expected an IPv4 or IPv6 address");
    if (pool->spice_tls_port_base != 0 &&
        (pool->spice_tls_port_base < 1024 || pool->spice_tls_port_base + pool->desktops - 1 > 65535))
        return invalid(error, name, "spice-tls-port-base: expected 1024 to 65535 (for every desktop), or 0");
    return TRUE;
}

OrielBrokerPoolDef *
oriel_broker_pool_def_copy(const OrielBrokerPoolDef *pool)
{
    OrielBrokerPoolDef *copy = g_new0(OrielBrokerPoolDef, 1);

    *copy = *pool;
    copy->name = g_strdup(pool->name);
    copy->description = g_strdup(pool->description);
    copy->golden_image = g_strdup(pool->golden_image);
    copy->golden_format = g_strdup(pool->golden_format);
    copy->groups = g_strdupv(pool->groups);
    copy->type = g_strdup(pool->type);
    copy->kernel = g_strdup(pool->kernel);
    copy->ramdisk = g_strdup(pool->ramdisk);
    copy->cmdline = g_strdup(pool->cmdline);
    copy->spice_host = g_strdup(pool->spice_host);
    return copy;
}

char *
oriel_broker_desktop_name(const OrielBrokerPoolDef *pool, guint index)
{
    return g_strdup_printf("%s-%u", pool->name, index);
}

/* ---- the key file ------------------------------------------------------------ */

static gboolean
read_uint(GKeyFile *file, const char *group, const char *key, guint min, guint max, guint *value, GError **error)
{
    g_autofree char *text = g_key_file_get_value(file, group, key, NULL);
    guint64 number = 0;

    if (!text)
        return TRUE;
    if (!g_ascii_string_to_unsigned(g_strstrip(text), 10, min, max, &number, NULL)) {
        g_set_error(error, ORIEL_BROKER_SERVER_ERROR, ORIEL_BROKER_SERVER_ERROR_INVALID, "[%s] %s: expected a number from %u to %u",
                    group, key, min, max);
        return FALSE;
    }
    *value = (guint)number;
    return TRUE;
}

static gboolean
read_string(GKeyFile *file, const char *group, const char *key, char **value, GError **error)
{
    g_autoptr(GError) local_error = NULL;
    char *text = g_key_file_get_string(file, group, key, &local_error);

    if (!text) {
        if (g_error_matches(local_error, G_KEY_FILE_ERROR, G_KEY_FILE_ERROR_KEY_NOT_FOUND))
            return TRUE;
        g_set_error(error, ORIEL_BROKER_SERVER_ERROR, ORIEL_BROKER_SERVER_ERROR_SYNTAX, "[%s] %s: %s", group, key,
                    local_error->message);
        return FALSE;
    }
    g_free(*value);
    *value = text;
    return TRUE;
}

static gboolean
check_keys(GKeyFile *file, const char *group, const char *const *known, GError **error)
{
    g_auto(GStrv) keys = g_key_file_get_keys(file, group, NULL, NULL);

    for (char **key = keys; key && *key; key++) {
        if (!g_strv_contains(known, *key)) {
            g_set_error(error, ORIEL_BROKER_SERVER_ERROR, ORIEL_BROKER_SERVER_ERROR_INVALID, "[%s]: unknown key '%s'", group, *key);
            return FALSE;
        }
    }
    return TRUE;
}

static const char *const pool_keys[] = {
    "description", "golden-image", "golden-format", "desktops", "memory", "vcpus", "persistent", "groups",
    "type", "kernel", "ramdisk", "cmdline", "spice-host", "spice-tls-port-base", NULL,
};

static OrielBrokerPoolDef *
pool_from_key_file(GKeyFile *file, const char *group, const char *name, GError **error)
{
    g_autoptr(OrielBrokerPoolDef) pool = pool_new();
    g_autofree char *persistent = NULL;

    pool->name = g_strdup(name);
    if (!check_keys(file, group, pool_keys, error) ||
        !read_string(file, group, "description", &pool->description, error) ||
        !read_string(file, group, "golden-image", &pool->golden_image, error) ||
        !read_string(file, group, "golden-format", &pool->golden_format, error) ||
        !read_uint(file, group, "desktops", 1, ORIEL_BROKER_DESKTOPS_MAX, &pool->desktops, error) ||
        !read_uint(file, group, "memory", 32, 1048576, &pool->memory_mib, error) ||
        !read_uint(file, group, "vcpus", 1, 128, &pool->vcpus, error) ||
        !read_string(file, group, "persistent", &persistent, error) ||
        !read_string(file, group, "type", &pool->type, error) ||
        !read_string(file, group, "kernel", &pool->kernel, error) ||
        !read_string(file, group, "ramdisk", &pool->ramdisk, error) ||
        !read_string(file, group, "cmdline", &pool->cmdline, error) ||
        !read_string(file, group, "spice-host", &pool->spice_host, error) ||
        !read_uint(file, group, "spice-tls-port-base", 0, 65535, &pool->spice_tls_port_base, error))
        return NULL;
    if (persistent) {
        if (g_str_equal(persistent, "true"))
            pool->persistent = TRUE;
        else if (!g_str_equal(persistent, "false")) {
            g_set_error(error, ORIEL_BROKER_SERVER_ERROR, ORIEL_BROKER_SERVER_ERROR_INVALID,
                        "[%s] persistent: expected true or false", group);
            return NULL;
        }
    }
    if (g_key_file_has_key(file, group, "groups", NULL)) {
        gsize n = 0;
        g_auto(GStrv) groups = g_key_file_get_string_list(file, group, "groups", &n, NULL);
        if (n > ORIEL_BROKER_GROUPS_MAX) {
            g_set_error(error, ORIEL_BROKER_SERVER_ERROR, ORIEL_BROKER_SERVER_ERROR_LIMIT, "[%s] groups: at most %u", group,
                        ORIEL_BROKER_GROUPS_MAX);
            return NULL;
        }
        g_strfreev(pool->groups);
        pool->groups = groups ? g_steal_pointer(&groups) : g_new0(char *, 1);
        for (char **g = pool->groups; *g; g++)
            g_strstrip(*g);
    }
    if (!oriel_broker_pool_def_validate(pool, error))
        return NULL;
    return g_steal_pointer(&pool);
}

void
oriel_broker_config_free(OrielBrokerConfig *config)
{
    if (!config)
        return;
    g_free(config->admin_group);
    if (config->pools)
        g_ptr_array_unref(config->pools);
    g_free(config);
}

OrielBrokerConfig *
oriel_broker_config_new(void)
{
    OrielBrokerConfig *config = g_new0(OrielBrokerConfig, 1);

    config->admin_group = g_strdup("oriel-admin");
    config->max_failures = 5;
    config->lockout_seconds = 300;
    config->rate_limit_user = 10;
    config->rate_limit_address = 30;
    config->rate_limit_window = 60;
    config->session_lifetime = 8 * 3600;
    config->failure_delay_ms = 1000;
    config->ticket_seconds = 60;
    config->pools = g_ptr_array_new_with_free_func((GDestroyNotify)oriel_broker_pool_def_free);
    return config;
}

static const char *const broker_keys[] = {
    "admin-group", "max-failures", "lockout-seconds", "rate-limit-user", "rate-limit-address",
    "rate-limit-window", "session-lifetime", "failure-delay-ms", "ticket-seconds", NULL,
};

static gboolean
parse_broker_group(GKeyFile *file, OrielBrokerConfig *config, GError **error)
{
    const char *group = "broker";

    if (!g_key_file_has_group(file, group))
        return TRUE;
    if (!check_keys(file, group, broker_keys, error) ||
        !read_string(file, group, "admin-group", &config->admin_group, error) ||
        !read_uint(file, group, "max-failures", 1, 1000, &config->max_failures, error) ||
        !read_uint(file, group, "lockout-seconds", 1, 7 * 86400, &config->lockout_seconds, error) ||
        !read_uint(file, group, "rate-limit-user", 1, 1000000, &config->rate_limit_user, error) ||
        !read_uint(file, group, "rate-limit-address", 1, 1000000, &config->rate_limit_address, error) ||
        !read_uint(file, group, "rate-limit-window", 1, 86400, &config->rate_limit_window, error) ||
        !read_uint(file, group, "session-lifetime", 1, 30 * 86400, &config->session_lifetime, error) ||
        !read_uint(file, group, "failure-delay-ms", 0, 10000, &config->failure_delay_ms, error) ||
        !read_uint(file, group, "ticket-seconds", 1, 3600, &config->ticket_seconds, error))
        return FALSE;
    if (!oriel_broker_user_name_is_valid(config->admin_group)) {
        g_set_error(error, ORIEL_BROKER_SERVER_ERROR, ORIEL_BROKER_SERVER_ERROR_INVALID, "[broker] admin-group: '%s' is not a group name",
                    config->admin_group);
        return FALSE;
    }
    return TRUE;
}

static gboolean
parse_config(const char *data, gsize length, OrielBrokerConfig *config, GError **error)
{
    g_autoptr(GKeyFile) file = g_key_file_new();
    g_autoptr(GError) local_error = NULL;

    if (length > ORIEL_BROKER_CONFIG_SIZE_MAX) {
        g_set_error(error, ORIEL_BROKER_SERVER_ERROR, ORIEL_BROKER_SERVER_ERROR_LIMIT, "larger than %u bytes",
                    ORIEL_BROKER_CONFIG_SIZE_MAX);
        return FALSE;
    }
    if (memchr(data, '\0', length)) {
        g_set_error(error, ORIEL_BROKER_SERVER_ERROR, ORIEL_BROKER_SERVER_ERROR_SYNTAX, "contains a NUL byte");
        return FALSE;
    }
    if (length > 0 && !g_key_file_load_from_data(file, data, length, G_KEY_FILE_NONE, &local_error)) {
        g_set_error(error, ORIEL_BROKER_SERVER_ERROR, ORIEL_BROKER_SERVER_ERROR_SYNTAX, "%s", local_error->message);
        return FALSE;
    }
    if (!parse_broker_group(file, config, error))
        return FALSE;
    g_auto(GStrv) groups = g_key_file_get_groups(file, NULL);
    for (char **group = groups; *group; group++) {
        if (g_str_equal(*group, "broker"))
            continue;
        if (!g_str_has_prefix(*group, "pool ")) {
            g_set_error(error, ORIEL_BROKER_SERVER_ERROR, ORIEL_BROKER_SERVER_ERROR_INVALID,
                        "[%s]: unknown group (expected [broker] or [pool NAME])", *group);
            return FALSE;
        }
        const char *name = *group + strlen("pool ");
        for (guint i = 0; i < config->pools->len; i++) {
            if (g_str_equal(((OrielBrokerPoolDef *)config->pools->pdata[i])->name, name)) {
                g_set_error(error, ORIEL_BROKER_SERVER_ERROR, ORIEL_BROKER_SERVER_ERROR_INVALID, "[%s]: defined twice", *group);
                return FALSE;
            }
        }
        if (config->pools->len >= ORIEL_BROKER_CONFIG_POOLS_MAX) {
            g_set_error(error, ORIEL_BROKER_SERVER_ERROR, ORIEL_BROKER_SERVER_ERROR_LIMIT, "more than %u pools",
                        ORIEL_BROKER_CONFIG_POOLS_MAX);
            return FALSE;
        }
        OrielBrokerPoolDef *pool = pool_from_key_file(file, *group, name, error);
        if (!pool)
            return FALSE;
        g_ptr_array_add(config->pools, pool);
    }
    return TRUE;
}

OrielBrokerConfig *
oriel_broker_config_parse_data(const char *data, gsize length, const char *filename, GError **error)
{
    g_autoptr(OrielBrokerConfig) config = oriel_broker_config_new();
    g_autoptr(GError) local_error = NULL;

    if (!parse_config(data, length, config, &local_error)) {
        g_set_error(error, ORIEL_BROKER_SERVER_ERROR, local_error->code, "%s: %s", filename ? filename : "<data>",
                    local_error->message);
        return NULL;
    }
    return g_steal_pointer(&config);
}

OrielBrokerConfig *
oriel_broker_config_parse_file(const char *path, GError **error)
{
    g_autofree char *data = NULL;
    gsize length = 0;
    g_autoptr(GError) local_error = NULL;
    g_autoptr(GMappedFile) mapped = g_mapped_file_new(path, FALSE, &local_error);

    if (!mapped) {
        g_set_error(error, ORIEL_BROKER_SERVER_ERROR, ORIEL_BROKER_SERVER_ERROR_IO, "%s", local_error->message);
        return NULL;
    }
    length = g_mapped_file_get_length(mapped);
    if (length > ORIEL_BROKER_CONFIG_SIZE_MAX) {
        g_set_error(error, ORIEL_BROKER_SERVER_ERROR, ORIEL_BROKER_SERVER_ERROR_LIMIT, "%s: larger than %u bytes", path,
                    ORIEL_BROKER_CONFIG_SIZE_MAX);
        return NULL;
    }
    data = g_memdup2(g_mapped_file_get_contents(mapped), length);
    return oriel_broker_config_parse_data(data, length, path, error);
}

/* ---- JSON -------------------------------------------------------------------- */

/* Parses @data as one JSON object, bounded by ORIEL_BROKER_BODY_MAX. */
static JsonObject *
parse_object(const char *data, gsize length, GError **error)
{
    g_autoptr(JsonParser) parser = json_parser_new_immutable();
    g_autoptr(GError) local_error = NULL;

    if (length > ORIEL_BROKER_BODY_MAX) {
        g_set_error(error, ORIEL_BROKER_SERVER_ERROR, ORIEL_BROKER_SERVER_ERROR_LIMIT, "body larger than %u bytes",
                    ORIEL_BROKER_BODY_MAX);
        return NULL;
    }
    if (length == 0 || memchr(data, '\0', length) || !g_utf8_validate(data, (gssize)length, NULL)) {
        g_set_error(error, ORIEL_BROKER_SERVER_ERROR, ORIEL_BROKER_SERVER_ERROR_SYNTAX, "body: expected a JSON object in UTF-8");
        return NULL;
    }
    if (!json_parser_load_from_data(parser, data, (gssize)length, &local_error)) {
        g_set_error(error, ORIEL_BROKER_SERVER_ERROR, ORIEL_BROKER_SERVER_ERROR_SYNTAX, "body: malformed JSON: %s",
                    local_error->message);
        return NULL;
    }
    JsonNode *root = json_parser_get_root(parser);
    if (!root || !JSON_NODE_HOLDS_OBJECT(root)) {
        g_set_error(error, ORIEL_BROKER_SERVER_ERROR, ORIEL_BROKER_SERVER_ERROR_SYNTAX, "body: expected a JSON object");
        return NULL;
    }
    return json_object_ref(json_node_get_object(root));
}

static gboolean
member_string(JsonObject *object, const char *name, gboolean required, gsize max, char **value, GError **error)
{
    JsonNode *node = json_object_get_member(object, name);

    if (!node) {
        if (!required)
            return TRUE;
        g_set_error(error, ORIEL_BROKER_SERVER_ERROR, ORIEL_BROKER_SERVER_ERROR_INVALID, "'%s': missing", name);
        return FALSE;
    }
    if (!JSON_NODE_HOLDS_VALUE(node) || json_node_get_value_type(node) != G_TYPE_STRING) {
        g_set_error(error, ORIEL_BROKER_SERVER_ERROR, ORIEL_BROKER_SERVER_ERROR_INVALID, "'%s': expected a string", name);
        return FALSE;
    }
    const char *text = json_node_get_string(node);
    if (strlen(text) > max) {
        g_set_error(error, ORIEL_BROKER_SERVER_ERROR, ORIEL_BROKER_SERVER_ERROR_LIMIT, "'%s': longer than %zu bytes", name, max);
        return FALSE;
    }
    g_free(*value);
    *value = g_strdup(text);
    return TRUE;
}

static gboolean
member_uint(JsonObject *object, const char *name, guint max, guint *value, GError **error)
{
    JsonNode *node = json_object_get_member(object, name);

    if (!node)
        return TRUE;
    if (!JSON_NODE_HOLDS_VALUE(node) || json_node_get_value_type(node) != G_TYPE_INT64 ||
        json_node_get_int(node) < 0 || json_node_get_int(node) > max) {
        g_set_error(error, ORIEL_BROKER_SERVER_ERROR, ORIEL_BROKER_SERVER_ERROR_INVALID, "'%s': expected an integer from 0 to %u",
                    name, max);
        return FALSE;
    }
    *value = (guint)json_node_get_int(node);
    return TRUE;
}

static gboolean
check_members(JsonObject *object, const char *const *known, GError **error)
{
    g_autoptr(GList) members = json_object_get_members(object);

    for (GList *l = members; l; l = l->next) {
        if (!g_strv_contains(known, l->data)) {
            g_set_error(error, ORIEL_BROKER_SERVER_ERROR, ORIEL_BROKER_SERVER_ERROR_INVALID, "unknown member '%s'",
                        (const char *)l->data);
            return FALSE;
        }
    }
    return TRUE;
}

gboolean
oriel_broker_parse_login(const char *data, gsize length, char **ret_user, char **ret_password, GError **error)
{
    static const char *const known[] = { "user", "password", NULL };
    g_autoptr(JsonObject) object = parse_object(data, length, error);
    g_autofree char *user = NULL;
    g_autofree char *password = NULL;

    if (!object || !check_members(object, known, error) ||
        !member_string(object, "user", TRUE, ORIEL_BROKER_USER_MAX, &user, error) ||
        !member_string(object, "password", TRUE, ORIEL_BROKER_PASSWORD_MAX, &password, error))
        return FALSE;
    if (!oriel_broker_user_name_is_valid(user)) {
        g_set_error(error, ORIEL_BROKER_SERVER_ERROR, ORIEL_BROKER_SERVER_ERROR_INVALID, "'user': not a user name");
        return FALSE;
    }
    *ret_user = g_steal_pointer(&user);
    *ret_password = g_steal_pointer(&password);
    return TRUE;
}

OrielBrokerPoolDef *
oriel_broker_pool_def_from_json(const char *data, gsize length, GError **error)
{
    static const char *const known[] = {
        "name", "description", "golden-image", "golden-format", "desktops", "memory", "vcpus", "persistent",
        "groups", "type", "kernel", "ramdisk", "cmdline", "spice-host", "spice-tls-port-base", NULL,
    };
    g_autoptr(JsonObject) object = parse_object(data, length, error);
    g_autoptr(OrielBrokerPoolDef) pool = pool_new();

    if (!object || !check_members(object, known, error) ||
        !member_string(object, "name", TRUE, ORIEL_BROKER_POOL_NAME_MAX, &pool->name, error) ||
        !member_string(object, "description", FALSE, ORIEL_BROKER_DESCRIPTION_MAX, &pool->description, error) ||
        !member_string(object, "golden-image", TRUE, ORIEL_BROKER_PATH_MAX, &pool->golden_image, error) ||
        !member_string(object, "golden-format", FALSE, 16, &pool->golden_format, error) ||
        !member_uint(object, "desktops", ORIEL_BROKER_DESKTOPS_MAX, &pool->desktops, error) ||
        !member_uint(object, "memory", 1048576, &pool->memory_mib, error) ||
        !member_uint(object, "vcpus", 128, &pool->vcpus, error) ||
        !member_string(object, "type", FALSE, 16, &pool->type, error) ||
        !member_string(object, "kernel", FALSE, ORIEL_BROKER_PATH_MAX, &pool->kernel, error) ||
        !member_string(object, "ramdisk", FALSE, ORIEL_BROKER_PATH_MAX, &pool->ramdisk, error) ||
        !member_string(object, "cmdline", FALSE, ORIEL_BROKER_DESCRIPTION_MAX, &pool->cmdline, error) ||
        !member_string(object, "spice-host", FALSE, 255, &pool->spice_host, error) ||
        !member_uint(object, "spice-tls-port-base", 65535, &pool->spice_tls_port_base, error))
        return NULL;
    JsonNode *persistent = json_object_get_member(object, "persistent");
    if (persistent) {
        if (!JSON_NODE_HOLDS_VALUE(persistent) || json_node_get_value_type(persistent) != G_TYPE_BOOLEAN) {
            g_set_error(error, ORIEL_BROKER_SERVER_ERROR, ORIEL_BROKER_SERVER_ERROR_INVALID, "'persistent': expected true or false");
            return NULL;
        }
        pool->persistent = json_node_get_boolean(persistent);
    }
    JsonNode *groups = json_object_get_member(object, "groups");
    if (groups) {
        if (!JSON_NODE_HOLDS_ARRAY(groups) || json_array_get_length(json_node_get_array(groups)) > ORIEL_BROKER_GROUPS_MAX) {
            g_set_error(error, ORIEL_BROKER_SERVER_ERROR, ORIEL_BROKER_SERVER_ERROR_INVALID,
                        "'groups': expected an array of at most %u group names", ORIEL_BROKER_GROUPS_MAX);
            return NULL;
        }
        JsonArray *array = json_node_get_array(groups);
        guint n = json_array_get_length(array);
        g_strfreev(pool->groups);
        pool->groups = g_new0(char *, n + 1);
        for (guint i = 0; i < n; i++) {
            JsonNode *element = json_array_get_element(array, i);
            if (!JSON_NODE_HOLDS_VALUE(element) || json_node_get_value_type(element) != G_TYPE_STRING) {
                g_set_error(error, ORIEL_BROKER_SERVER_ERROR, ORIEL_BROKER_SERVER_ERROR_INVALID, "'groups': expected strings");
                return NULL;
            }
            pool->groups[i] = g_strndup(json_node_get_string(element), ORIEL_BROKER_USER_MAX + 1);
        }
    }
    if (!oriel_broker_pool_def_validate(pool, error))
        return NULL;
    return g_steal_pointer(&pool);
}

JsonObject *
oriel_broker_pool_def_to_json(const OrielBrokerPoolDef *pool)
{
    JsonObject *object = json_object_new();
    JsonArray *groups = json_array_new();

    json_object_set_string_member(object, "name", pool->name);
    json_object_set_string_member(object, "description", pool->description);
    json_object_set_string_member(object, "golden-image", pool->golden_image);
    json_object_set_string_member(object, "golden-format", pool->golden_format);
    json_object_set_int_member(object, "desktops", pool->desktops);
    json_object_set_int_member(object, "memory", pool->memory_mib);
    json_object_set_int_member(object, "vcpus", pool->vcpus);
    json_object_set_boolean_member(object, "persistent", pool->persistent);
    for (char **group = pool->groups; *group; group++)
        json_array_add_string_element(groups, *group);
    json_object_set_array_member(object, "groups", groups);
    json_object_set_string_member(object, "type", pool->type);
    if (pool->kernel)
        json_object_set_string_member(object, "kernel", pool->kernel);
    if (pool->ramdisk)
        json_object_set_string_member(object, "ramdisk", pool->ramdisk);
    if (pool->cmdline)
        json_object_set_string_member(object, "cmdline", pool->cmdline);
    json_object_set_string_member(object, "spice-host", pool->spice_host);
    json_object_set_int_member(object, "spice-tls-port-base", pool->spice_tls_port_base);
    return object;
}
