/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The viewer's session: connect, the display, reconnect with backoff, exit
 * codes, screenshots and the machine-readable event lines. */
#define G_LOG_DOMAIN "oriel-viewer"

#include "viewer-app-priv.h"

#include <glib-unix.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

static void session_start(ViewerApp *app);
static void session_stop(ViewerApp *app);

void
viewer_log_event(ViewerApp *app, const char *event, const char *detail)
{
    if (!app->options->events)
        return;
    /* One JSON object per line; the detail is ours, never peer text. */
    printf("{\"event\":\"%s\",\"ms\":%" G_GINT64_FORMAT "%s%s%s}\n", event,
           (g_get_monotonic_time() - app->started_us) / 1000,
           detail ? ",\"detail\":\"" : "", detail ? detail : "", detail ? "\"" : "");
    fflush(stdout);
}

void
viewer_set_status(ViewerApp *app, const char *text)
{
    gtk_label_set_text(GTK_LABEL(app->status), text);
    /* In kiosk mode the status line appears only when something is wrong. */
    if (app->options->kiosk)
        gtk_widget_set_visible(app->status, !app->connected);
    g_debug("status: %s", text);
}

void
viewer_quit(ViewerApp *app, int exit_code, const char *message)
{
    if (app->exit_code != APP_RUNNING)
        return;
    app->exit_code = exit_code;
    if (message)
        g_printerr("oriel-viewer: %s\n", message);
    g_main_loop_quit(app->loop);
}

static gboolean
on_frame_idle(gpointer user_data)
{
    ViewerApp *app = user_data;
    const OrielViewerOptions *options = app->options;
    g_autoptr(GError) error = NULL;

    app->frame_idle = 0;
    if (options->screenshot_on_connect && !app->screenshot_done) {
        app->screenshot_done = TRUE;
        if (!viewer_save_screenshot(app, options->screenshot_on_connect, &error))
            g_printerr("oriel-viewer: screenshot: %s\n", error->message);
        else
            viewer_log_event(app, "screenshot", NULL);
    }
    if (options->exit_after_frames > 0 &&
        viewer_displays_have_frames(app, (guint)options->exit_after_frames)) {
        if (options->screenshot && !viewer_save_screenshot(app, options->screenshot, &error)) {
            g_autofree char *message = g_strdup_printf("screenshot: %s", error->message);
            viewer_quit(app, ORIEL_VIEWER_EXIT_FAILURE, message);
            return G_SOURCE_REMOVE;
        }
        viewer_quit(app, ORIEL_VIEWER_EXIT_OK, NULL);
    }
    return G_SOURCE_REMOVE;
}

static gboolean
on_timeout(gpointer user_data)
{
    ViewerApp *app = user_data;

    app->timeout_source = 0;
    viewer_quit(app, ORIEL_VIEWER_EXIT_NO_FRAME,
             app->frames ? "timeout: not enough frames" : "timeout: no frame arrived");
    return G_SOURCE_REMOVE;
}

/* ---- frames --------------------------------------------------------- */

void
viewer_check_frames(ViewerApp *app)
{
    const OrielViewerOptions *options = app->options;

    if (app->frame_idle || app->exit_code != APP_RUNNING)
        return;
    if ((options->screenshot_on_connect && !app->screenshot_done && app->frames > 0) ||
        (options->exit_after_frames > 0 &&
         viewer_displays_have_frames(app, (guint)options->exit_after_frames)))
        /* After this emission, so the widgets have drawn the update too. */
        app->frame_idle = g_idle_add(on_frame_idle, app);
}

/* ---- main channel: connection state and exit codes ------------------- */

static gboolean schedule_reconnect(ViewerApp *app);

/* A refresh hook's answer: a fresh connection, or @error. */
static void
refresh_done(ViewerApp *app, OrielViewerConnection *fresh, const GError *error)
{
    if (fresh) {
        oriel_viewer_connection_free(app->refreshed);
        app->refreshed = fresh;
        app->connection = fresh;
    } else if (g_error_matches(error, ORIEL_VIEWER_ERROR, ORIEL_VIEWER_ERROR_ENDED)) {
        viewer_set_status(app, error->message);
        viewer_quit(app, ORIEL_VIEWER_EXIT_CLOSED, error->message);
        return;
    } else {
        /* Tickets are one-time: the previous one is spent.  Try again
         * later for a fresh one (a restarting desktop, a broker that
         * is briefly unreachable). */
        g_autofree char *text = g_strdup_printf("No fresh ticket yet: %s", error->message);
        viewer_set_status(app, text);
        if (!schedule_reconnect(app)) {
            g_autofree char *gave_up = g_strdup_printf(
                "the session was lost and did not come back within %d s (%s)",
                app->options->reconnect_timeout, error->message);
            viewer_quit(app, ORIEL_VIEWER_EXIT_CLOSED, gave_up);
        }
        return;
    }
    session_stop(app);
    session_start(app);
}

/* An asynchronous refresh; outlives the app when the session ends first. */
struct _ViewerRefresh {
    ViewerApp *app;                 /* NULL once the session ended */
    const OrielViewerOptions *options;
    GCancellable *cancellable;
};

static void
on_refreshed(GObject *source, GAsyncResult *result, gpointer user_data)
{
    ViewerRefresh *refresh = user_data;
    g_autoptr(GError) error = NULL;
    OrielViewerConnection *fresh = refresh->options->refresh_finish(refresh->options->refresh_data, result, &error);
    ViewerApp *app = refresh->app;

    g_object_unref(refresh->cancellable);
    g_free(refresh);
    if (!app) {
        oriel_viewer_connection_free(fresh);
        return;
    }
    app->refresh = NULL;
    if (app->exit_code != APP_RUNNING) {
        oriel_viewer_connection_free(fresh);
        return;
    }
    refresh_done(app, fresh, error);
}

/* Ends a refresh still running: its answer is dropped. */
static void
refresh_cancel(ViewerApp *app)
{
    if (!app->refresh)
        return;
    app->refresh->app = NULL;
    g_cancellable_cancel(app->refresh->cancellable);
    app->refresh = NULL;
}

static gboolean
on_reconnect(gpointer user_data)
{
    ViewerApp *app = user_data;
    const OrielViewerOptions *options = app->options;

    app->reconnect_source = 0;
    app->reconnect_attempt++;
    if (options->refresh_async) {
        if (app->refresh)
            return G_SOURCE_REMOVE; /* one at a time; its answer reconnects */
        app->refresh = g_new0(ViewerRefresh, 1);
        app->refresh->app = app;
        app->refresh->options = options;
        app->refresh->cancellable = g_cancellable_new();
        options->refresh_async(options->refresh_data, app->refresh->cancellable, on_refreshed, app->refresh);
        return G_SOURCE_REMOVE;
    }
    if (options->refresh) {
        g_autoptr(GError) error = NULL;
        OrielViewerConnection *fresh = options->refresh(options->refresh_data, &error);
        refresh_done(app, fresh, error);
        return G_SOURCE_REMOVE;
    }
    session_stop(app);
    session_start(app);
    return G_SOURCE_REMOVE;
}

/* Schedules the next attempt, or returns FALSE when time is up. */
static gboolean
schedule_reconnect(ViewerApp *app)
{
    guint delay = oriel_viewer_backoff_delay_ms(app->reconnect_attempt);
    g_autofree char *text = NULL;

    if (app->reconnect_deadline_us == 0 ||
        g_get_monotonic_time() + (gint64)delay * 1000 > app->reconnect_deadline_us)
        return FALSE;
    text = g_strdup_printf("Reconnecting (attempt %u)...", app->reconnect_attempt + 1);
    viewer_set_status(app, text);
    viewer_log_event(app, "reconnecting", NULL);
    if (!app->reconnect_source)
        app->reconnect_source = g_timeout_add(delay, on_reconnect, app);
    return TRUE;
}

static int
exit_code_for_event(SpiceChannelEvent event)
{
    switch (event) {
    case SPICE_CHANNEL_ERROR_AUTH:
        return ORIEL_VIEWER_EXIT_AUTH;
    case SPICE_CHANNEL_ERROR_CONNECT:
    case SPICE_CHANNEL_ERROR_LINK:
        return ORIEL_VIEWER_EXIT_REFUSED;
    case SPICE_CHANNEL_ERROR_TLS:
        return ORIEL_VIEWER_EXIT_TLS;
    case SPICE_CHANNEL_CLOSED:
    case SPICE_CHANNEL_ERROR_IO:
        return ORIEL_VIEWER_EXIT_CLOSED;
    default:
        return APP_RUNNING;
    }
}

static const char *
event_message(SpiceChannelEvent event)
{
    switch (event) {
    case SPICE_CHANNEL_ERROR_AUTH: return "authentication failed (wrong or expired ticket)";
    case SPICE_CHANNEL_ERROR_CONNECT: return "could not connect";
    case SPICE_CHANNEL_ERROR_LINK: return "the server refused the SPICE link";
    case SPICE_CHANNEL_ERROR_TLS:
        return "TLS failure (the server's certificate is not trusted, or the handshake failed)";
    case SPICE_CHANNEL_ERROR_IO: return "connection lost";
    case SPICE_CHANNEL_CLOSED: return "the session was closed";
    default: return "unexpected event";
    }
}

static void
on_main_event(SpiceChannel *channel, SpiceChannelEvent event, gpointer user_data)
{
    ViewerApp *app = user_data;
    const GError *channel_error;
    g_autofree char *message = NULL;
    gboolean retry;
    int code;

    if (event == SPICE_CHANNEL_OPENED) {
        app->connected = TRUE;
        app->ever_connected = TRUE;
        app->reconnect_attempt = 0;
        app->reconnect_deadline_us = 0;
        g_autofree char *where = oriel_viewer_connection_describe(app->connection);
        g_autofree char *text = g_strdup_printf("Connected to %s", where);
        viewer_set_status(app, text);
        viewer_log_event(app, "connected", NULL);
        viewer_usb_share_cd(app);
        return;
    }
    code = exit_code_for_event(event);
    if (code == APP_RUNNING)
        return;

    channel_error = spice_channel_get_error(channel);
    message = g_strdup_printf("%s%s%s", event_message(event), channel_error ? ": " : "",
                              channel_error ? channel_error->message : "");
    app->connected = FALSE;
    viewer_log_event(app, "disconnected", NULL);

    /* A refused ticket will be refused again, and so will a bad TLS setup:
     * only drops and refusals after a working session are retried. */
    retry = code == ORIEL_VIEWER_EXIT_CLOSED ||
            (code == ORIEL_VIEWER_EXIT_REFUSED && (app->ever_connected ||
             (app->options->kiosk && app->options->kiosk_quit == ORIEL_KIOSK_QUIT_NEVER)));
    if (app->options->kiosk && app->options->kiosk_quit == ORIEL_KIOSK_QUIT_ON_DISCONNECT)
        retry = FALSE;
    if (app->options->exit_after_frames > 0 && !app->ever_connected)
        retry = FALSE;
    if (retry && app->reconnect_deadline_us == 0) {
        if (app->options->kiosk && app->options->kiosk_quit == ORIEL_KIOSK_QUIT_NEVER)
            app->reconnect_deadline_us = G_MAXINT64;
        else if (app->options->reconnect_timeout > 0)
            app->reconnect_deadline_us = g_get_monotonic_time() +
                                         (gint64)app->options->reconnect_timeout * G_USEC_PER_SEC;
    }
    if (retry && schedule_reconnect(app))
        return;
    if (app->ever_connected && retry) {
        /* We were reconnecting and time is up. */
        code = ORIEL_VIEWER_EXIT_CLOSED;
        g_autofree char *gave_up = g_strdup_printf(
            "the session was lost and did not come back within %d s (%s)",
            app->options->reconnect_timeout, message);
        g_free(message);
        message = g_steal_pointer(&gave_up);
    } else if (code == ORIEL_VIEWER_EXIT_REFUSED && app->ever_connected) {
        code = ORIEL_VIEWER_EXIT_CLOSED;
    }
    viewer_set_status(app, message);
    viewer_quit(app, code, message);
}

static void
on_agent_notify(GObject *object, GParamSpec *pspec, gpointer user_data)
{
    ViewerApp *app = user_data;
    gboolean connected = FALSE;

    g_object_get(object, "agent-connected", &connected, NULL);
    if (connected && !app->agent_connected)
        viewer_log_event(app, "agent-connected", NULL);
    app->agent_connected = connected;
}

/* spice-gtk warns when a channel is disconnected in the middle of its link
 * handshake, so teardown waits (bounded) until every channel that was
 * connected has opened or failed. */
static void
on_any_channel_event(SpiceChannel *channel, SpiceChannelEvent event, gpointer user_data)
{
    ViewerApp *app = user_data;

    if (!g_object_get_data(G_OBJECT(channel), "oriel-linking"))
        return;
    g_object_set_data(G_OBJECT(channel), "oriel-linking", NULL);
    if (app->channels_linking > 0)
        app->channels_linking--;
    if (app->channels_linking == 0 && app->settle_loop)
        g_main_loop_quit(app->settle_loop);
    /* Not after the main channel alone: the others are announced later. */
    if (app->channels_linking == 0 && event == SPICE_CHANNEL_OPENED && app->display_channel)
        viewer_log_event(app, "channels-open", NULL);
}

/* The .vv disable-channels list ("playback;usbredir"); spice-gtk 0.42's
 * session has no such property, so the viewer applies it.  The main
 * channel cannot be disabled. */
static gboolean
channel_disabled(ViewerApp *app, SpiceChannel *channel)
{
    gint type = 0;
    const char *name;

    if (!app->connection->disable_channels || SPICE_IS_MAIN_CHANNEL(channel))
        return FALSE;
    g_object_get(channel, "channel-type", &type, NULL);
    name = spice_channel_type_to_string(type);
    return name && g_strv_contains((const char *const *)app->connection->disable_channels, name);
}

static void
on_channel_new(SpiceSession *session, SpiceChannel *channel, gpointer user_data)
{
    ViewerApp *app = user_data;
    gint id = 0;

    g_object_get(channel, "channel-id", &id, NULL);
    if (channel_disabled(app, channel)) {
        /* Nobody after us (the widget, SpiceGtkSession, the USB manager,
         * audio) sees it, so nobody connects it. */
        g_signal_stop_emission_by_name(session, "channel-new");
        return;
    }
    if (SPICE_IS_MAIN_CHANNEL(channel) || SPICE_IS_DISPLAY_CHANNEL(channel) ||
        SPICE_IS_INPUTS_CHANNEL(channel) || SPICE_IS_CURSOR_CHANNEL(channel) ||
        /* The USB device manager connects these when it exists. */
        (SPICE_IS_USBREDIR_CHANNEL(channel) && app->usb_manager) ||
        ((SPICE_IS_PLAYBACK_CHANNEL(channel) || SPICE_IS_RECORD_CHANNEL(channel)) &&
         !app->options->no_audio)) {
        g_object_set_data(G_OBJECT(channel), "oriel-linking", GINT_TO_POINTER(1));
        app->channels_linking++;
        g_signal_connect(channel, "channel-event", G_CALLBACK(on_any_channel_event), app);
    }
    if (SPICE_IS_MAIN_CHANNEL(channel)) {
        app->main_channel = SPICE_MAIN_CHANNEL(channel);
        g_signal_connect(channel, "channel-event", G_CALLBACK(on_main_event), app);
        g_signal_connect(channel, "notify::agent-connected", G_CALLBACK(on_agent_notify), app);
        viewer_clipboard_watch_main(app, channel);
    } else if (SPICE_IS_DISPLAY_CHANNEL(channel)) {
        if (id == 0)
            app->display_channel = channel;
        viewer_displays_watch_channel(app, channel);
    } else if (SPICE_IS_CURSOR_CHANNEL(channel)) {
        /* Each display's widget connects its own, once it exists; the
         * channel links now, so teardown never waits for one never used. */
        spice_channel_connect(channel);
    } else if (SPICE_IS_USBREDIR_CHANNEL(channel)) {
        viewer_usb_watch_channel(app, channel);
    } else if ((SPICE_IS_PLAYBACK_CHANNEL(channel) || SPICE_IS_RECORD_CHANNEL(channel)) &&
               !app->options->no_audio) {
        viewer_audio_watch_channel(app, channel);
    }
}

static void
on_channel_destroy(SpiceSession *session, SpiceChannel *channel, gpointer user_data)
{
    ViewerApp *app = user_data;

    if (SPICE_IS_DISPLAY_CHANNEL(channel))
        viewer_displays_channel_gone(app, channel);
    if (channel == app->display_channel)
        app->display_channel = NULL;
    if ((SpiceChannel *)app->main_channel == channel)
        app->main_channel = NULL;
}

/* ---- session life cycle --------------------------------------------- */

static void
session_start(ViewerApp *app)
{
    const OrielViewerConnection *connection = app->connection;
    SpiceGtkSession *gtk_session;
    g_autofree char *where = oriel_viewer_connection_describe(connection);
    g_autofree char *text = g_strdup_printf("Connecting to %s...", where);

    /* "first frame" and --exit-after-frames count per session. */
    app->frames = 0;
    app->session = spice_session_new();
    if (connection->unix_path) {
        g_object_set(app->session, "unix-path", connection->unix_path, NULL);
    } else {
        g_autofree char *port = connection->port ? g_strdup_printf("%d", connection->port) : NULL;
        g_autofree char *tls_port =
            connection->tls_port ? g_strdup_printf("%d", connection->tls_port) : NULL;
        g_object_set(app->session, "host", connection->host, "port", port,
                     "tls-port", tls_port, NULL);
    }
    if (connection->password)
        g_object_set(app->session, "password", connection->password, NULL);
    if (connection->username)
        g_object_set(app->session, "username", connection->username, NULL);
    if (connection->ca) {
        g_autoptr(GByteArray) ca = g_byte_array_new();
        g_byte_array_append(ca, (const guint8 *)connection->ca, (guint)strlen(connection->ca));
        g_object_set(app->session, "ca", ca, NULL);
    }
    if (connection->host_subject)
        g_object_set(app->session, "cert-subject", connection->host_subject, NULL);
    if (connection->tls_ciphers)
        g_object_set(app->session, "ciphers", connection->tls_ciphers, NULL);
    if (connection->secure_channels)
        g_object_set(app->session, "secure-channels", connection->secure_channels, NULL);
    if (connection->proxy)
        g_object_set(app->session, "proxy", connection->proxy, NULL);
    g_object_set(app->session,
                 "enable-audio", !app->options->no_audio,
                 "enable-usbredir", connection->enable_usbredir != ORIEL_VIEWER_OFF,
                 NULL);

    /* Ours first, so the clipboard policy sees each transfer before
     * SpiceGtkSession acts on it. */
    g_signal_connect(app->session, "channel-new", G_CALLBACK(on_channel_new), app);
    g_signal_connect(app->session, "channel-destroy", G_CALLBACK(on_channel_destroy), app);
    gtk_session = spice_gtk_session_get(app->session);
    g_object_set(gtk_session, "auto-clipboard", app->options->clipboard != ORIEL_CLIPBOARD_OFF,
                 NULL);

    viewer_usb_setup(app);
    viewer_set_status(app, text);
    if (!spice_session_connect(app->session))
        viewer_quit(app, ORIEL_VIEWER_EXIT_FAILURE, "could not start the SPICE session");
}

static void
on_session_disconnected(SpiceSession *session, gpointer user_data)
{
    g_main_loop_quit(user_data);
}

static gboolean
on_disconnect_timeout(gpointer user_data)
{
    ViewerApp *app = user_data;

    app->disconnect_timer = 0;
    g_main_loop_quit(app->disconnect_loop);
    return G_SOURCE_REMOVE;
}

static gboolean
on_settle_timeout(gpointer user_data)
{
    ViewerApp *app = user_data;

    app->settle_timer = 0;
    g_main_loop_quit(app->settle_loop);
    return G_SOURCE_REMOVE;
}

static void
session_stop(ViewerApp *app)
{
    g_autoptr(GMainLoop) loop = NULL;
    gulong handler;
    GList *channels;

    if (!app->session)
        return;
    if (app->channels_linking > 0) {
        app->settle_loop = g_main_loop_new(NULL, FALSE);
        app->settle_timer = g_timeout_add(SETTLE_TIMEOUT_MS, on_settle_timeout, app);
        g_main_loop_run(app->settle_loop);
        if (app->settle_timer)
            g_source_remove(app->settle_timer);
        app->settle_timer = 0;
        g_clear_pointer(&app->settle_loop, g_main_loop_unref);
    }
    viewer_displays_clear(app);
    g_signal_handlers_disconnect_by_data(app->session, app);
    channels = spice_session_get_channels(app->session);
    for (GList *l = channels; l; l = l->next)
        g_signal_handlers_disconnect_by_data(l->data, app);
    g_list_free(channels);
    if (app->usb_manager)
        g_signal_handlers_disconnect_by_data(app->usb_manager, app);

    /* Let the library tear its channels down, bounded so a stuck peer
     * cannot hang us. */
    loop = g_main_loop_new(NULL, FALSE);
    handler = g_signal_connect(app->session, "disconnected",
                               G_CALLBACK(on_session_disconnected), loop);
    app->disconnect_timer = g_timeout_add(DISCONNECT_TIMEOUT_MS, on_disconnect_timeout, app);
    app->disconnect_loop = loop;
    spice_session_disconnect(app->session);
    g_main_loop_run(loop);
    g_signal_handler_disconnect(app->session, handler);
    if (app->disconnect_timer)
        g_source_remove(app->disconnect_timer);
    app->disconnect_timer = 0;
    app->disconnect_loop = NULL;

    app->main_channel = NULL;
    app->display_channel = NULL;
    viewer_usb_reset(app);
    app->connected = FALSE;
    app->sized = FALSE;
    app->channels_linking = 0;
    g_clear_object(&app->session);
}

/* Broker mode's logout keys: the session ends as if the window closed. */
static gboolean
on_logout_key(GtkWidget *widget, GdkEventKey *event, gpointer user_data)
{
    ViewerApp *app = user_data;
    g_autofree char *accel = oriel_viewer_hotkey_to_accel(app->options->logout_hotkey, NULL);
    GdkModifierType mask = gtk_accelerator_get_default_mod_mask();
    guint key = 0;
    GdkModifierType mods = 0;

    if (!accel)
        return FALSE;
    gtk_accelerator_parse(accel, &key, &mods);
    if (!key || gdk_keyval_to_lower(event->keyval) != gdk_keyval_to_lower(key) || (event->state & mask) != mods)
        return FALSE;
    viewer_log_event(app, "logout", NULL);
    viewer_quit(app, ORIEL_VIEWER_EXIT_OK, NULL);
    return TRUE;
}

static gboolean
on_quit_signal(gpointer user_data)
{
    /* SIGTERM and SIGINT end the session cleanly, like closing the window. */
    viewer_quit(user_data, ORIEL_VIEWER_EXIT_OK, NULL);
    return G_SOURCE_CONTINUE;
}

int
oriel_viewer_app_run(const OrielViewerOptions *options, const OrielViewerConnection *connection)
{
    ViewerApp app = {
        .options = options,
        .connection = connection,
        .exit_code = APP_RUNNING,
        .started_us = g_get_monotonic_time(),
    };

    guint sigterm_source, sigint_source;

    app.loop = g_main_loop_new(NULL, FALSE);
    viewer_clipboard_watch_client(&app);
    sigterm_source = g_unix_signal_add(SIGTERM, on_quit_signal, &app);
    sigint_source = g_unix_signal_add(SIGINT, on_quit_signal, &app);
    viewer_build_window(&app);
    if (options->logout_hotkey)
        g_signal_connect(app.window, "key-press-event", G_CALLBACK(on_logout_key), &app);
    session_start(&app);
    gtk_widget_show(app.window);
    if (options->timeout > 0)
        app.timeout_source = g_timeout_add_seconds((guint)options->timeout, on_timeout, &app);

    if (app.exit_code == APP_RUNNING)
        g_main_loop_run(app.loop);

    if (app.timeout_source)
        g_source_remove(app.timeout_source);
    if (app.reconnect_source)
        g_source_remove(app.reconnect_source);
    refresh_cancel(&app);
    if (app.frame_idle)
        g_source_remove(app.frame_idle);
    session_stop(&app);
    g_clear_pointer(&app.displays, g_ptr_array_unref);
    viewer_clipboard_unwatch_client(&app);
    g_source_remove(sigterm_source);
    g_source_remove(sigint_source);
    gtk_widget_destroy(app.window);
    g_object_unref(app.accel_group);
    g_main_loop_unref(app.loop);
    oriel_viewer_connection_free(app.refreshed);
    return app.exit_code;
}

void
oriel_viewer_options_clear(OrielViewerOptions *options)
{
    g_free(options->title);
    g_free(options->usb_filter);
    g_free(options->usb_redirect_on_connect);
    g_free(options->share_cd);
    g_free(options->screenshot);
    g_free(options->screenshot_on_connect);
    g_free(options->release_cursor);
    g_free(options->logout_hotkey);
}
