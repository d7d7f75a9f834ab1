/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* oriel-viewer: command line, then the viewer window. */
#define G_LOG_DOMAIN "oriel-viewer"

#include "oriel-build-config.h"
#include "client.h"
#include "viewer-app.h"
#include "broker-ui.h"
#include "broker-proto.h"

#include <gtk/gtk.h>
#include <locale.h>
#include <string.h>

/* A ticket is at most 60 bytes; a password file much larger is a mistake. */
#define PASSWORD_FILE_MAX 4096

static gboolean
read_password_file(const char *path, char **password, GError **error)
{
    g_autofree char *contents = NULL;
    gsize length = 0;

    if (!g_file_get_contents(path, &contents, &length, error))
        return FALSE;
    if (length > PASSWORD_FILE_MAX || memchr(contents, '\0', length)) {
        g_set_error(error, ORIEL_VIEWER_ERROR, ORIEL_VIEWER_ERROR_INVALID,
                    "%s: not a password file", path);
        return FALSE;
    }
    /* One trailing newline is the file's, not the password's. */
    if (length && contents[length - 1] == '\n')
        contents[--length] = '\0';
    if (length && contents[length - 1] == '\r')
        contents[--length] = '\0';
    *password = g_steal_pointer(&contents);
    return TRUE;
}

/* Defaults from /etc/oriel/viewer.conf then ~/.config/oriel/viewer.conf (or
 * only $ORIEL_CONFIG_DIR/viewer.conf), as arguments placed before the
 * command line's so that the command line wins. */
static char **
arguments_with_config(int argc, char **argv, GError **error)
{
    g_autoptr(GStrvBuilder) builder = g_strv_builder_new();
    g_autoptr(GPtrArray) paths = g_ptr_array_new_with_free_func(g_free);
    const char *config_dir = g_getenv("ORIEL_CONFIG_DIR");

    if (config_dir) {
        g_ptr_array_add(paths, g_build_filename(config_dir, "viewer.conf", NULL));
    } else {
        g_ptr_array_add(paths, g_strdup("/etc/oriel/viewer.conf"));
        g_ptr_array_add(paths, g_build_filename(g_get_user_config_dir(), "oriel",
                                                "viewer.conf", NULL));
    }
    g_strv_builder_add(builder, argv[0]);
    for (guint i = 0; i < paths->len; i++) {
        const char *path = paths->pdata[i];
        g_autofree char *contents = NULL;
        gsize length = 0;
        g_autoptr(GError) local_error = NULL;
        g_auto(GStrv) args = NULL;

        if (!g_file_get_contents(path, &contents, &length, &local_error)) {
            if (g_error_matches(local_error, G_FILE_ERROR, G_FILE_ERROR_NOENT))
                continue;
            g_propagate_error(error, g_steal_pointer(&local_error));
            return NULL;
        }
        args = oriel_viewer_config_to_args(contents, length, path, error);
        if (!args)
            return NULL;
        g_strv_builder_addv(builder, (const char **)args);
    }
    for (int i = 1; i < argc; i++)
        g_strv_builder_add(builder, argv[i]);
    return g_strv_builder_end(builder);
}

/* A domain of the local orield: a fresh one-time ticket valid 60 s. */
static OrielViewerConnection *
load_domain(const char *name, GError **error)
{
    g_autoptr(OrielClient) client = oriel_client_connect(NULL, error);

    if (!client) {
        g_prefix_error(error, "\"%s\" is neither a spice:// URI nor a connection file, and orield: ", name);
        return NULL;
    }
    g_autoptr(JsonObject) arguments = json_object_new();
    json_object_set_string_member(arguments, "name", name);
    json_object_set_int_member(arguments, "expires", 60);
    json_object_set_boolean_member(arguments, "one_time", TRUE);
    g_autoptr(JsonNode) reply = oriel_client_call(client, "domain-spice-ticket", arguments, error);
    if (!reply)
        return NULL;
    JsonObject *object = JSON_NODE_HOLDS_OBJECT(reply) ? json_node_get_object(reply) : NULL;
    const char *uri = object ? json_object_get_string_member_with_default(object, "uri", NULL) : NULL;
    if (!uri) {
        g_set_error(error, ORIEL_VIEWER_ERROR, ORIEL_VIEWER_ERROR_UNSUPPORTED,
                    "orield gave no SPICE address for %s", name);
        return NULL;
    }
    OrielViewerConnection *connection = oriel_viewer_connection_parse_uri(uri, error);
    if (connection && !connection->title)
        connection->title = g_strdup(name);
    return connection;
}

/* OrielViewerOptions.refresh for a domain name: a new ticket per attempt. */
static OrielViewerConnection *
refresh_domain(gpointer refresh_data, GError **error)
{
    return load_domain(refresh_data, error);
}

/* URI, .vv file (or - for stdin), else a domain name. */
static OrielViewerConnection *
load_target(const char *target, gboolean *ret_is_domain, GError **error)
{
    *ret_is_domain = FALSE;
    if (oriel_viewer_looks_like_uri(target))
        return oriel_viewer_connection_parse_uri(target, error);
    if (g_str_equal(target, "-") || g_file_test(target, G_FILE_TEST_EXISTS) ||
        g_str_has_suffix(target, ".vv"))
        return oriel_viewer_vv_load(target, error);
    *ret_is_domain = TRUE;
    return load_domain(target, error);
}

/* Thin-client mode (broker-ui.c). */
static int
run_broker(OrielViewerOptions *options, const OrielBrokerUiOptions *broker)
{
    if (!gtk_init_check(NULL, NULL)) {
        g_printerr("oriel-viewer: cannot open the display (is DISPLAY set?)\n");
        return ORIEL_VIEWER_EXIT_FAILURE;
    }
    return oriel_viewer_broker_run(options, broker);
}

int
main(int argc, char **argv)
{
    OrielViewerOptions options = {
        .clipboard = ORIEL_CLIPBOARD_BOTH,
        .primary_selection = FALSE,
        .kiosk_quit = ORIEL_KIOSK_QUIT_NEVER,
        .reconnect_timeout = 60,
        .auto_resize = TRUE,
        .usb_autoshare = TRUE,
    };
    g_autofree char *password_file = NULL;
    g_autofree char *clipboard = NULL;
    g_autofree char *kiosk_quit = NULL;
    g_auto(GStrv) targets = NULL;
    g_auto(GStrv) all_args = NULL;
    gboolean version = FALSE;
    gboolean is_domain = FALSE;
    g_autoptr(GError) error = NULL;
    g_autoptr(GOptionContext) context = NULL;
    g_autoptr(OrielViewerConnection) connection = NULL;
    OrielBrokerUiOptions broker = { NULL };
    g_autofree char *normalized = NULL;
    int status;
    const GOptionEntry entries[] = {
        { "broker", 0, 0, G_OPTION_ARG_STRING, &broker.url,
          "Thin-client mode: log in to oriel-broker at https://HOST:PORT", "URL" },
        { "broker-ca", 0, 0, G_OPTION_ARG_FILENAME, &broker.ca_file,
          "Trust the broker's certificate from this CA file (PEM)", "FILE" },
        { "broker-pool", 0, 0, G_OPTION_ARG_STRING, &broker.pool,
          "Connect to this pool without asking", "POOL" },
        { "broker-user", 0, 0, G_OPTION_ARG_STRING, &broker.user,
          "Log in as USER without the login window (with --broker-password-file)", "USER" },
        { "broker-password-file", 0, 0, G_OPTION_ARG_FILENAME, &broker.password_file,
          "Read the broker password from FILE", "FILE" },
        { "password-file", 0, 0, G_OPTION_ARG_FILENAME, &password_file,
          "Read the ticket from FILE", "FILE" },
        { "full-screen", 'f', 0, G_OPTION_ARG_NONE, &options.full_screen,
          "Open full screen (F11 toggles)", NULL },
        { "title", 't', 0, G_OPTION_ARG_STRING, &options.title, "Window title", "TITLE" },
        { "clipboard", 0, 0, G_OPTION_ARG_STRING, &clipboard,
          "Clipboard sharing: both, to-guest, from-guest or off (default both)", "POLICY" },
        { "primary-selection", 0, 0, G_OPTION_ARG_NONE, &options.primary_selection,
          "Also share the PRIMARY selection", NULL },
        { "kiosk", 'k', 0, G_OPTION_ARG_NONE, &options.kiosk,
          "Kiosk mode: full screen, no menus", NULL },
        { "kiosk-quit", 0, 0, G_OPTION_ARG_STRING, &kiosk_quit,
          "In kiosk mode: never or on-disconnect (default never)", "WHEN" },
        { "no-audio", 0, 0, G_OPTION_ARG_NONE, &options.no_audio, "Disable audio", NULL },
        { "auto-resize", 0, 0, G_OPTION_ARG_NONE, &options.auto_resize,
          "Resize the guest's displays to their windows (the default; needs the agent)", NULL },
        { "no-auto-resize", 0, G_OPTION_FLAG_REVERSE, G_OPTION_ARG_NONE, &options.auto_resize,
          "Never change the guest's display size", NULL },
        { "no-usb-autoshare", 0, G_OPTION_FLAG_REVERSE, G_OPTION_ARG_NONE,
          &options.usb_autoshare, "Do not redirect newly plugged USB devices", NULL },
        { "no-scaling", 0, 0, G_OPTION_ARG_NONE, &options.no_scaling,
          "Do not scale the guest's display to the window", NULL },
        { "release-cursor", 0, 0, G_OPTION_ARG_STRING, &options.release_cursor,
          "Keys that release the keyboard and pointer grab (default ctrl+alt)", "KEYS" },
        { "usb-filter", 0, 0, G_OPTION_ARG_STRING, &options.usb_filter,
          "usbredir rules for auto-redirecting new devices", "RULES" },
        { "usb-redirect-on-connect", 0, 0, G_OPTION_ARG_STRING,
          &options.usb_redirect_on_connect,
          "usbredir rules for devices redirected when the session starts", "RULES" },
        { "share-cd", 0, 0, G_OPTION_ARG_FILENAME, &options.share_cd,
          "Share an ISO image as a USB CD-ROM", "FILE" },
        { "reconnect-timeout", 0, 0, G_OPTION_ARG_INT, &options.reconnect_timeout,
          "Seconds to keep reconnecting after a drop (default 60, 0: never)", "SECONDS" },
        { "screenshot", 0, 0, G_OPTION_ARG_FILENAME, &options.screenshot,
          "With --exit-after-frames: save that frame as PNG", "FILE" },
        { "exit-after-frames", 0, 0, G_OPTION_ARG_INT, &options.exit_after_frames,
          "Exit 0 after N display updates", "N" },
        { "screenshot-on-connect", 0, 0, G_OPTION_ARG_FILENAME,
          &options.screenshot_on_connect, "Save the first frame as PNG", "FILE" },
        { "timeout", 0, 0, G_OPTION_ARG_INT, &options.timeout,
          "Exit 6 when the frames did not arrive within SECONDS", "SECONDS" },
        { "events", 0, 0, G_OPTION_ARG_NONE, &options.events,
          "Print machine-readable event lines (JSON) on stdout", NULL },
        { "version", 0, 0, G_OPTION_ARG_NONE, &version, "Print the version", NULL },
        { G_OPTION_REMAINING, 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &targets, NULL,
          "URI|FILE.vv|-" },
        { NULL },
    };

    setlocale(LC_ALL, "");
    context = g_option_context_new("spice://HOST:PORT | FILE.vv | -");
    g_option_context_set_summary(context,
        "Connects to a SPICE desktop: spice://host:port, spice://host?port=&tls-port=,\n"
        "spice+tls://host:port, spice+unix:///path, or a virt-viewer .vv file.\n"
        "Exit codes: 0 ok, 1 failure, 2 authentication, 3 connection refused,\n"
        "4 TLS, 5 session closed, 6 no frame in time.\n"
        "Defaults come from /etc/oriel/viewer.conf and ~/.config/oriel/viewer.conf\n"
        "([viewer] group, keys named like the long options).");
    g_option_context_add_main_entries(context, entries, NULL);
    g_option_context_add_group(context, gtk_get_option_group(FALSE));
    all_args = arguments_with_config(argc, argv, &error);
    if (!all_args) {
        g_printerr("oriel-viewer: %s\n", error->message);
        return ORIEL_VIEWER_EXIT_FAILURE;
    }
    if (!g_option_context_parse_strv(context, &all_args, &error)) {
        g_printerr("oriel-viewer: %s\n", error->message);
        return ORIEL_VIEWER_EXIT_FAILURE;
    }
    if (version) {
        g_print("oriel-viewer %s\n", ORIEL_VERSION);
        return ORIEL_VIEWER_EXIT_OK;
    }
    if (!broker.url && !broker.user && !broker.password_file && (!targets || !targets[0] || targets[1])) {
        g_printerr("oriel-viewer: expected one URI or connection file (see --help)\n");
        return ORIEL_VIEWER_EXIT_FAILURE;
    }
    if (clipboard && !oriel_clipboard_policy_parse(clipboard, &options.clipboard, &error))
        goto fail;
    if (kiosk_quit) {
        if (g_str_equal(kiosk_quit, "never"))
            options.kiosk_quit = ORIEL_KIOSK_QUIT_NEVER;
        else if (g_str_equal(kiosk_quit, "on-disconnect"))
            options.kiosk_quit = ORIEL_KIOSK_QUIT_ON_DISCONNECT;
        else {
            g_set_error(&error, ORIEL_VIEWER_ERROR, ORIEL_VIEWER_ERROR_INVALID,
                        "--kiosk-quit \"%s\": expected never or on-disconnect", kiosk_quit);
            goto fail;
        }
    }
    if (options.usb_filter && !oriel_viewer_usb_filter_validate(options.usb_filter, &error))
        goto fail;
    if (options.usb_redirect_on_connect &&
        !oriel_viewer_usb_filter_validate(options.usb_redirect_on_connect, &error))
        goto fail;
    if (options.release_cursor) {
        g_autofree char *keys = oriel_viewer_hotkey_to_grab_keys(options.release_cursor, &error);
        if (!keys)
            goto fail;
    }
    if (options.screenshot && options.exit_after_frames <= 0)
        options.exit_after_frames = 1;
    if (options.reconnect_timeout < 0 || options.timeout < 0 || options.exit_after_frames < 0) {
        g_set_error_literal(&error, ORIEL_VIEWER_ERROR, ORIEL_VIEWER_ERROR_INVALID,
                            "negative timeouts and frame counts make no sense");
        goto fail;
    }

    if (broker.url || broker.user || broker.password_file) {
        if (targets && targets[0]) {
            g_printerr("oriel-viewer: --broker takes no URI or connection file\n");
            status = ORIEL_VIEWER_EXIT_FAILURE;
        } else if (!broker.url) {
            g_printerr("oriel-viewer: --broker-user and --broker-password-file need --broker\n");
            status = ORIEL_VIEWER_EXIT_FAILURE;
        } else if ((broker.user == NULL) != (broker.password_file == NULL)) {
            g_printerr("oriel-viewer: --broker-user and --broker-password-file go together\n");
            status = ORIEL_VIEWER_EXIT_FAILURE;
        } else if (!(normalized = oriel_broker_url_normalize(broker.url, &error))) {
            g_printerr("oriel-viewer: %s\n", error->message);
            status = ORIEL_VIEWER_EXIT_FAILURE;
        } else if (password_file) {
            g_printerr("oriel-viewer: --password-file does not apply to --broker (the broker gives tickets)\n");
            status = ORIEL_VIEWER_EXIT_FAILURE;
        } else {
            status = run_broker(&options, &broker);
        }
        oriel_broker_ui_options_clear(&broker);
        oriel_viewer_options_clear(&options);
        return status;
    }
    connection = load_target(targets[0], &is_domain, &error);
    if (!connection)
        goto fail;
    if (is_domain) {
        /* Every reconnect gets its own fresh ticket. */
        options.refresh = refresh_domain;
        options.refresh_data = targets[0];
    }
    if (connection->usb_filter && !options.usb_filter &&
        !oriel_viewer_usb_filter_validate(connection->usb_filter, &error))
        goto fail;
    if (password_file) {
        g_free(connection->password);
        connection->password = NULL;
        if (!read_password_file(password_file, &connection->password, &error))
            goto fail;
    }

    if (!gtk_init_check(NULL, NULL)) {
        g_printerr("oriel-viewer: cannot open the display (is DISPLAY set?)\n");
        status = ORIEL_VIEWER_EXIT_FAILURE;
    } else {
        status = oriel_viewer_app_run(&options, connection);
    }
    oriel_viewer_options_clear(&options);
    return status;

fail:
    g_printerr("oriel-viewer: %s\n", error->message);
    oriel_broker_ui_options_clear(&broker);
    oriel_viewer_options_clear(&options);
    return ORIEL_VIEWER_EXIT_FAILURE;
}
