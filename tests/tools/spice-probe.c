/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* spice-probe: a real SPICE client (spice-client-glib, no GTK) for the e2e
 * tests.  It connects, waits until the display channel has a primary
 * surface and has delivered at least one update, prints one JSON line and
 * exits 0.  Every failure has its own exit code and one stderr line. */
#define G_LOG_DOMAIN "spice-probe"

#include <spice-client.h>

#include <locale.h>
#include <stdio.h>
#include <string.h>

enum {
    EXIT_PROBE_OK = 0,
    EXIT_PROBE_FAILED = 1,          /* bad usage, or connected under --expect auth-failure */
    EXIT_PROBE_AUTH = 2,
    EXIT_PROBE_CONNECT = 3,
    EXIT_PROBE_TIMEOUT = 4,
    EXIT_PROBE_CHANNEL = 5,
};

#define PROBE_RUNNING (-1)
/* A SPICE ticket is at most SPICE_MAX_PASSWORD_LENGTH (60) bytes; anything
 * much larger in a password file is a mistake, not a password. */
#define PASSWORD_FILE_MAX 4096
/* How long a clean disconnect may take before we stop waiting for it. */
#define DISCONNECT_TIMEOUT_MS 2000

typedef struct {
    /* options */
    gboolean expect_auth_failure;
    gboolean wait_agent;
    gboolean wait_nonblank;
    gboolean all_channels;          /* link every channel, as a full client does */
    gboolean holding;               /* --hold: only a drop or the end finishes */
    const char *screenshot_path;

    GMainLoop *loop;
    SpiceSession *session;
    SpiceChannel *main_channel;     /* borrowed: owned by the session */
    SpiceChannel *display_channel;  /* borrowed: the one with a primary */
    GPtrArray *channel_names;       /* unique "main", "display", ... */

    gboolean main_opened;
    gboolean have_primary;
    gint format;
    gint width;
    gint height;
    gboolean have_update;
    gboolean nonblank;
    gboolean agent_connected;

    guint timeout_source;           /* 0 once fired */
    int exit_code;                  /* PROBE_RUNNING until decided */
    char *message;                  /* the one stderr line on failure */
} Probe;

static void
probe_finish(Probe *probe, int exit_code, const char *message)
{
    if (probe->exit_code != PROBE_RUNNING)
        return;
    probe->exit_code = exit_code;
    probe->message = g_strdup(message);
    g_main_loop_quit(probe->loop);
}

static const char *
surface_format_name(gint format)
{
    switch (format) {
    case SPICE_SURFACE_FMT_1_A: return "1_A";
    case SPICE_SURFACE_FMT_8_A: return "8_A";
    case SPICE_SURFACE_FMT_16_555: return "16_555";
    case SPICE_SURFACE_FMT_16_565: return "16_565";
    case SPICE_SURFACE_FMT_32_xRGB: return "32_xRGB";
    case SPICE_SURFACE_FMT_32_ARGB: return "32_ARGB";
    default: return "unknown";
    }
}

/* Converts one pixel of a SPICE surface to 8-bit R, G, B.  The 32-bit
 * formats are little-endian xRGB, so the bytes in memory are B, G, R, X. */
static gboolean
pixel_to_rgb(gint format, const guint8 *p, guint8 rgb[3])
{
    guint16 v;

    switch (format) {
    case SPICE_SURFACE_FMT_32_xRGB:
    case SPICE_SURFACE_FMT_32_ARGB:
        rgb[0] = p[2];
        rgb[1] = p[1];
        rgb[2] = p[0];
        return TRUE;
    case SPICE_SURFACE_FMT_16_555:
        v = (guint16)(p[0] | (p[1] << 8));
        rgb[0] = (guint8)(((v >> 10) & 0x1f) * 255 / 31);
        rgb[1] = (guint8)(((v >> 5) & 0x1f) * 255 / 31);
        rgb[2] = (guint8)((v & 0x1f) * 255 / 31);
        return TRUE;
    case SPICE_SURFACE_FMT_16_565:
        v = (guint16)(p[0] | (p[1] << 8));
        rgb[0] = (guint8)(((v >> 11) & 0x1f) * 255 / 31);
        rgb[1] = (guint8)(((v >> 5) & 0x3f) * 255 / 63);
        rgb[2] = (guint8)((v & 0x1f) * 255 / 31);
        return TRUE;
    default:
        return FALSE;
    }
}

static gsize
bytes_per_pixel(gint format)
{
    switch (format) {
    case SPICE_SURFACE_FMT_32_xRGB:
    case SPICE_SURFACE_FMT_32_ARGB:
        return 4;
    case SPICE_SURFACE_FMT_16_555:
    case SPICE_SURFACE_FMT_16_565:
        return 2;
    default:
        return 0;
    }
}

/* The surface the library hands us is only trusted as far as its own
 * description: check that width, height and stride fit together. */
static gboolean
primary_is_usable(const SpiceDisplayPrimary *primary)
{
    gsize bpp = bytes_per_pixel(primary->format);

    return bpp != 0 && primary->data && primary->width > 0 &&
           primary->height > 0 && primary->stride > 0 &&
           (gsize)primary->stride >= (gsize)primary->width * bpp;
}

static gboolean
primary_is_blank(const SpiceDisplayPrimary *primary)
{
    gsize bpp = bytes_per_pixel(primary->format);
    const guint8 *first = primary->data;

    for (gint y = 0; y < primary->height; y++) {
        const guint8 *row = primary->data + (gsize)y * (gsize)primary->stride;
        for (gint x = 0; x < primary->width; x++) {
            const guint8 *p = row + (gsize)x * bpp;
            /* Ignore the padding byte of xRGB. */
            gsize n = primary->format == SPICE_SURFACE_FMT_32_xRGB ? 3 : bpp;
            if (memcmp(p, first, n) != 0)
                return FALSE;
        }
    }
    return TRUE;
}

static gboolean
write_ppm(const SpiceDisplayPrimary *primary, const char *path, GError **error)
{
    gsize bpp = bytes_per_pixel(primary->format);
    gsize row_bytes = (gsize)primary->width * 3;
    g_autoptr(GString) out = NULL;
    g_autofree guint8 *row = g_malloc(row_bytes);

    out = g_string_sized_new(32 + row_bytes * (gsize)primary->height);
    g_string_append_printf(out, "P6\n%d %d\n255\n", primary->width, primary->height);
    for (gint y = 0; y < primary->height; y++) {
        const guint8 *src = primary->data + (gsize)y * (gsize)primary->stride;
        for (gint x = 0; x < primary->width; x++)
            pixel_to_rgb(primary->format, src + (gsize)x * bpp, row + (gsize)x * 3);
        g_string_append_len(out, (const char *)row, (gssize)row_bytes);
    }
    return g_file_set_contents(path, out->str, (gssize)out->len, error);
}

static void
check_done(Probe *probe)
{
    if (probe->holding)
        return;
    if (!probe->have_primary || !probe->have_update)
        return;
    if (probe->wait_agent && !probe->agent_connected)
        return;
    if (probe->wait_nonblank && !probe->nonblank)
        return;
    probe_finish(probe, EXIT_PROBE_OK, NULL);
}

/* Maps a channel event to our exit codes; returns PROBE_RUNNING for events
 * that are not failures. */
static int
exit_code_for_event(SpiceChannelEvent event)
{
    switch (event) {
    case SPICE_CHANNEL_ERROR_AUTH:
        return EXIT_PROBE_AUTH;
    case SPICE_CHANNEL_ERROR_CONNECT:
        return EXIT_PROBE_CONNECT;
    case SPICE_CHANNEL_CLOSED:
    case SPICE_CHANNEL_ERROR_TLS:
    case SPICE_CHANNEL_ERROR_LINK:
    case SPICE_CHANNEL_ERROR_IO:
        return EXIT_PROBE_CHANNEL;
    default:
        return PROBE_RUNNING;
    }
}

static const char *
event_name(SpiceChannelEvent event)
{
    switch (event) {
    case SPICE_CHANNEL_CLOSED: return "channel closed";
    case SPICE_CHANNEL_ERROR_CONNECT: return "could not connect";
    case SPICE_CHANNEL_ERROR_TLS: return "TLS error";
    case SPICE_CHANNEL_ERROR_LINK: return "link error";
    case SPICE_CHANNEL_ERROR_AUTH: return "authentication refused";
    case SPICE_CHANNEL_ERROR_IO: return "I/O error";
    default: return "unexpected event";
    }
}

static void
on_channel_event(SpiceChannel *channel, SpiceChannelEvent event, gpointer user_data)
{
    Probe *probe = user_data;
    int code;
    gint type = 0;
    const GError *channel_error;
    g_autofree char *message = NULL;

    if (event == SPICE_CHANNEL_OPENED && SPICE_IS_MAIN_CHANNEL(channel)) {
        probe->main_opened = TRUE;
        if (probe->expect_auth_failure)
            probe_finish(probe, EXIT_PROBE_FAILED,
                         "connected, but an authentication failure was expected");
        return;
    }

    code = exit_code_for_event(event);
    if (code == PROBE_RUNNING)
        return;

    if (code == EXIT_PROBE_AUTH && probe->expect_auth_failure) {
        probe_finish(probe, EXIT_PROBE_OK, NULL);
        return;
    }

    g_object_get(channel, "channel-type", &type, NULL);
    channel_error = spice_channel_get_error(channel);
    message = g_strdup_printf("%s channel: %s%s%s", spice_channel_type_to_string(type),
                              event_name(event),
                              channel_error ? ": " : "",
                              channel_error ? channel_error->message : "");
    probe_finish(probe, code, message);
}

static void
on_primary_create(SpiceChannel *channel, gint format, gint width, gint height,
                  gint stride, gint shmid, gpointer imgdata, gpointer user_data)
{
    Probe *probe = user_data;

    g_debug("primary surface %dx%d format %d stride %d", width, height, format, stride);
    if (width <= 0 || height <= 0)
        return;
    probe->display_channel = channel;
    probe->have_primary = TRUE;
    probe->format = format;
    probe->width = width;
    probe->height = height;
    /* An update must arrive for this surface, not for an earlier one. */
    probe->have_update = FALSE;
    probe->nonblank = FALSE;
}

static void
on_primary_destroy(SpiceChannel *channel, gpointer user_data)
{
    Probe *probe = user_data;

    if (channel != probe->display_channel)
        return;
    probe->have_primary = FALSE;
    probe->display_channel = NULL;
}

static void
on_invalidate(SpiceChannel *channel, gint x, gint y, gint w, gint h, gpointer user_data)
{
    Probe *probe = user_data;
    SpiceDisplayPrimary primary;

    if (!probe->have_primary || channel != probe->display_channel)
        return;
    probe->have_update = TRUE;
    if (probe->wait_nonblank && !probe->nonblank &&
        spice_display_channel_get_primary(channel, 0, &primary) &&
        primary_is_usable(&primary))
        probe->nonblank = !primary_is_blank(&primary);
    check_done(probe);
}

static void
on_agent_notify(GObject *object, GParamSpec *pspec, gpointer user_data)
{
    Probe *probe = user_data;
    gboolean connected = FALSE;

    g_object_get(object, "agent-connected", &connected, NULL);
    probe->agent_connected = connected;
    check_done(probe);
}

static void
on_channel_new(SpiceSession *session, SpiceChannel *channel, gpointer user_data)
{
    Probe *probe = user_data;
    gint type = 0;
    const char *name;

    g_object_get(channel, "channel-type", &type, NULL);
    name = spice_channel_type_to_string(type);
    if (!g_ptr_array_find_with_equal_func(probe->channel_names, name, g_str_equal, NULL))
        g_ptr_array_add(probe->channel_names, g_strdup(name));

    if (SPICE_IS_MAIN_CHANNEL(channel)) {
        probe->main_channel = channel;
        g_signal_connect(channel, "channel-event", G_CALLBACK(on_channel_event), probe);
        g_signal_connect(channel, "notify::agent-connected",
                         G_CALLBACK(on_agent_notify), probe);
        /* The session connects the main channel itself. */
        return;
    }
    if (SPICE_IS_DISPLAY_CHANNEL(channel)) {
        g_signal_connect(channel, "channel-event", G_CALLBACK(on_channel_event), probe);
        g_signal_connect(channel, "display-primary-create",
                         G_CALLBACK(on_primary_create), probe);
        g_signal_connect(channel, "display-primary-destroy",
                         G_CALLBACK(on_primary_destroy), probe);
        g_signal_connect(channel, "display-invalidate", G_CALLBACK(on_invalidate), probe);
        spice_channel_connect(channel);
    }
    /* Other channels (inputs, cursor, audio, usbredir) stay unconnected:
     * the probe only watches the display, unless --all-channels. */
    if (probe->all_channels) {
        g_signal_connect(channel, "channel-event", G_CALLBACK(on_channel_event), probe);
        spice_channel_connect(channel);
    }
}

static gboolean
on_hold_over(gpointer user_data)
{
    Probe *probe = user_data;

    probe->timeout_source = 0;
    probe_finish(probe, EXIT_PROBE_OK, NULL);
    return G_SOURCE_REMOVE;
}

static gboolean
on_timeout(gpointer user_data)
{
    Probe *probe = user_data;
    const char *missing;

    if (!probe->main_opened)
        missing = "the main channel did not open";
    else if (!probe->have_primary)
        missing = "no primary surface";
    else if (!probe->have_update)
        missing = "no display update";
    else if (probe->wait_agent && !probe->agent_connected)
        missing = "the guest agent did not connect";
    else
        missing = "the display stayed blank";
    g_autofree char *message = g_strdup_printf("timeout: %s", missing);
    probe->timeout_source = 0;
    probe_finish(probe, EXIT_PROBE_TIMEOUT, message);
    return G_SOURCE_REMOVE;
}

static void
on_session_disconnected(SpiceSession *session, gpointer user_data)
{
    g_main_loop_quit(user_data);
}

static gboolean
on_disconnect_timeout(gpointer user_data)
{
    g_main_loop_quit(user_data);
    return G_SOURCE_REMOVE;
}

/* Disconnects and lets the library tear its channels down before the
 * session goes away, bounded so a stuck peer cannot hang the probe. */
static void
probe_disconnect(Probe *probe)
{
    gulong handler;
    guint timer;

    handler = g_signal_connect(probe->session, "disconnected",
                               G_CALLBACK(on_session_disconnected), probe->loop);
    timer = g_timeout_add(DISCONNECT_TIMEOUT_MS, on_disconnect_timeout, probe->loop);
    spice_session_disconnect(probe->session);
    g_main_loop_run(probe->loop);
    g_signal_handler_disconnect(probe->session, handler);
    g_source_remove(timer);
    g_signal_handlers_disconnect_by_data(probe->session, probe);
}

static char *
success_json(const Probe *probe, gboolean blank)
{
    GString *json = g_string_new("{");

    if (probe->expect_auth_failure) {
        g_string_append(json, "\"auth\":\"refused\"}");
        return g_string_free(json, FALSE);
    }
    g_string_append_printf(json,
                           "\"connected\":true,\"width\":%d,\"height\":%d,"
                           "\"format\":\"%s\",\"blank\":%s,\"channels\":[",
                           probe->width, probe->height, surface_format_name(probe->format),
                           blank ? "true" : "false");
    for (guint i = 0; i < probe->channel_names->len; i++)
        g_string_append_printf(json, "%s\"%s\"", i ? "," : "",
                               (const char *)probe->channel_names->pdata[i]);
    g_string_append_printf(json, "],\"agent\":%s}",
                           probe->agent_connected ? "true" : "false");
    return g_string_free(json, FALSE);
}

static gboolean
read_password_file(const char *path, char **ret_password, GError **error)
{
    g_autofree char *contents = NULL;
    gsize length = 0;

    if (!g_file_get_contents(path, &contents, &length, error))
        return FALSE;
    if (length > PASSWORD_FILE_MAX || memchr(contents, '\0', length)) {
        g_set_error(error, G_FILE_ERROR, G_FILE_ERROR_INVAL,
                    "%s: not a password file", path);
        return FALSE;
    }
    /* One trailing newline is the editor's, not the password's. */
    if (length > 0 && contents[length - 1] == '\n')
        contents[--length] = '\0';
    if (length > 0 && contents[length - 1] == '\r')
        contents[--length] = '\0';
    *ret_password = g_steal_pointer(&contents);
    return TRUE;
}

int
main(int argc, char **argv)
{
    g_autofree char *host = NULL;
    g_autofree char *port = NULL;
    g_autofree char *password = NULL;
    g_autofree char *password_file = NULL;
    g_autofree char *expect = NULL;
    g_autofree char *screenshot = NULL;
    g_autofree char *tls_port = NULL;
    g_autofree char *ca_file = NULL;
    g_autofree char *host_subject = NULL;
    gint hold_s = 0;
    gboolean all_channels = FALSE;
    gint timeout_s = 30;
    gboolean wait_agent = FALSE;
    gboolean wait_nonblank = FALSE;
    gboolean debug = FALSE;
    GOptionEntry entries[] = {
        { "host", 0, 0, G_OPTION_ARG_STRING, &host, "SPICE server host", "HOST" },
        { "port", 0, 0, G_OPTION_ARG_STRING, &port, "SPICE server port", "PORT" },
        { "password", 0, 0, G_OPTION_ARG_STRING, &password,
          "SPICE ticket (visible in ps; prefer --password-file)", "PW" },
        { "password-file", 0, 0, G_OPTION_ARG_FILENAME, &password_file,
          "read the SPICE ticket from FILE", "FILE" },
        { "timeout", 0, 0, G_OPTION_ARG_INT, &timeout_s,
          "give up after SECONDS (default 30)", "SECONDS" },
        { "expect", 0, 0, G_OPTION_ARG_STRING, &expect,
          "succeed only if authentication is refused", "auth-failure" },
        { "screenshot", 0, 0, G_OPTION_ARG_FILENAME, &screenshot,
          "write the primary surface as PPM (P6)", "FILE.ppm" },
        { "wait-agent", 0, 0, G_OPTION_ARG_NONE, &wait_agent,
          "also wait until the guest agent is connected", NULL },
        { "wait-nonblank", 0, 0, G_OPTION_ARG_NONE, &wait_nonblank,
          "also wait until the display shows more than one colour", NULL },
        { "tls-port", 0, 0, G_OPTION_ARG_STRING, &tls_port, "SPICE TLS port", "PORT" },
        { "ca-file", 0, 0, G_OPTION_ARG_FILENAME, &ca_file, "CA certificate (PEM) for TLS", "FILE" },
        { "host-subject", 0, 0, G_OPTION_ARG_STRING, &host_subject,
          "expected subject of the server's certificate", "SUBJECT" },
        { "all-channels", 0, 0, G_OPTION_ARG_NONE, &all_channels,
          "link every channel the server offers, as a full client does", NULL },
        { "hold", 0, 0, G_OPTION_ARG_INT, &hold_s,
          "after success, print the JSON line and stay connected SECONDS; "
          "fail (exit 5) if any channel drops meanwhile", "SECONDS" },
        { "debug", 0, 0, G_OPTION_ARG_NONE, &debug, "spice-gtk debug output", NULL },
        { NULL }
    };
    g_autoptr(GOptionContext) context = g_option_context_new("- probe a SPICE server");
    g_autoptr(GError) error = NULL;
    g_autoptr(GMainLoop) loop = NULL;
    g_autoptr(GPtrArray) channel_names = NULL;
    g_autofree char *json = NULL;
    Probe probe = { .exit_code = PROBE_RUNNING };
    SpiceDisplayPrimary primary;
    gboolean have_surface = FALSE;
    int exit_code;

    setlocale(LC_ALL, "");
    g_option_context_add_main_entries(context, entries, NULL);
    if (!g_option_context_parse(context, &argc, &argv, &error)) {
        g_printerr("spice-probe: %s\n", error->message);
        return EXIT_PROBE_FAILED;
    }
    if (!host || (!port && !tls_port) || argc > 1) {
        g_printerr("spice-probe: usage: spice-probe --host H --port P [options]\n");
        return EXIT_PROBE_FAILED;
    }
    if (password && password_file) {
        g_printerr("spice-probe: --password and --password-file are exclusive\n");
        return EXIT_PROBE_FAILED;
    }
    if (expect && !g_str_equal(expect, "auth-failure")) {
        g_printerr("spice-probe: --expect takes only 'auth-failure'\n");
        return EXIT_PROBE_FAILED;
    }
    if (timeout_s <= 0 || timeout_s > 24 * 3600) {
        g_printerr("spice-probe: --timeout must be between 1 and 86400 seconds\n");
        return EXIT_PROBE_FAILED;
    }
    if (password_file && !read_password_file(password_file, &password, &error)) {
        g_printerr("spice-probe: %s\n", error->message);
        return EXIT_PROBE_FAILED;
    }
    if (debug)
        spice_util_set_debug(TRUE);

    loop = g_main_loop_new(NULL, FALSE);
    channel_names = g_ptr_array_new_with_free_func(g_free);
    probe.loop = loop;
    probe.channel_names = channel_names;
    probe.expect_auth_failure = expect != NULL;
    probe.wait_agent = wait_agent;
    probe.wait_nonblank = wait_nonblank;
    probe.screenshot_path = screenshot;
    probe.all_channels = all_channels;
    if (hold_s < 0 || hold_s > 3600) {
        g_printerr("spice-probe: --hold must be between 0 and 3600 seconds\n");
        return EXIT_PROBE_FAILED;
    }

    probe.session = spice_session_new();
    g_object_set(probe.session, "host", host, "port", port, "tls-port", tls_port, NULL);
    if (ca_file)
        g_object_set(probe.session, "ca-file", ca_file, NULL);
    if (host_subject)
        g_object_set(probe.session, "cert-subject", host_subject, NULL);
    if (password)
        g_object_set(probe.session, "password", password, NULL);
    g_signal_connect(probe.session, "channel-new", G_CALLBACK(on_channel_new), &probe);

    probe.timeout_source = g_timeout_add((guint)timeout_s * 1000, on_timeout, &probe);
    if (!spice_session_connect(probe.session))
        probe_finish(&probe, EXIT_PROBE_CONNECT, "could not start the SPICE session");
    else
        g_main_loop_run(loop);
    g_clear_handle_id(&probe.timeout_source, g_source_remove);

    exit_code = probe.exit_code;
    if (exit_code == EXIT_PROBE_OK && !probe.expect_auth_failure) {
        have_surface = spice_display_channel_get_primary(probe.display_channel, 0, &primary) &&
                       primary_is_usable(&primary);
        if (!have_surface) {
            exit_code = EXIT_PROBE_CHANNEL;
            probe.message = g_strdup("the primary surface is not readable");
        }
    }
    if (exit_code == EXIT_PROBE_OK && screenshot && have_surface &&
        !write_ppm(&primary, screenshot, &error)) {
        exit_code = EXIT_PROBE_CHANNEL;
        probe.message = g_strdup_printf("screenshot: %s", error->message);
    }
    if (exit_code == EXIT_PROBE_OK) {
        json = success_json(&probe, have_surface && primary_is_blank(&primary));
        printf("%s\n", json);
        fflush(stdout);
        if (hold_s > 0 && !probe.expect_auth_failure) {
            /* Stay, watching every channel: a drop or a refused late link
             * ends the hold with its exit code. */
            probe.exit_code = PROBE_RUNNING;
            probe.holding = TRUE;
            probe.timeout_source = g_timeout_add((guint)hold_s * 1000, on_hold_over, &probe);
            g_main_loop_run(loop);
            g_clear_handle_id(&probe.timeout_source, g_source_remove);
            exit_code = probe.exit_code;
            if (exit_code != EXIT_PROBE_OK)
                g_printerr("spice-probe: during the hold: %s\n", probe.message);
            else
                printf("{\"held\":%d}\n", hold_s);
        }
    } else {
        g_printerr("spice-probe: %s\n", probe.message);
    }

    probe_disconnect(&probe);
    g_clear_object(&probe.session);
    g_free(probe.message);
    return exit_code;
}
