/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* One window per guest display.  A display is a (display channel, monitor)
 * pair, numbered channel + monitor as virt-viewer does: a guest with two
 * QXL devices has displays 0 and 1 on channels 0 and 1; a guest with one
 * QXL device and two heads has monitors 0 and 1 on channel 0.  Display 0
 * lives in the main window (menus, status line); every other display gets a
 * window of its own when the guest enables it and loses it when the guest
 * disables it or its channel goes away.  Screenshots and the frame counts
 * of --exit-after-frames cover every display. */
#define G_LOG_DOMAIN "oriel-viewer"

#include "viewer-app-priv.h"

typedef struct {
    ViewerApp *app;
    SpiceChannel *channel;  /* borrowed: the session owns it */
    int channel_id;
    int monitor_id;
    guint number;
    GtkWidget *window;      /* own window; NULL for the main window's display */
    GtkWidget *widget;      /* the SpiceDisplay */
} ViewerDisplay;

#define FRAMES_KEY "oriel-frames"
#define WATCHED_KEY "oriel-display-channel"

static void
display_free(gpointer data)
{
    ViewerDisplay *display = data;
    ViewerApp *app = display->app;

    if (display->window) {
        gtk_widget_destroy(display->window);
    } else if (display->widget) {
        /* Focus leaves the widget while it can still tell its session. */
        if (gtk_widget_has_focus(display->widget))
            gtk_window_set_focus(GTK_WINDOW(app->window), NULL);
        gtk_widget_destroy(display->widget);
        if (app->display == display->widget)
            app->display = NULL;
    }
    g_free(display);
}

static GPtrArray *
displays(ViewerApp *app)
{
    if (!app->displays)
        app->displays = g_ptr_array_new_with_free_func(display_free);
    return app->displays;
}

static ViewerDisplay *
find_display(ViewerApp *app, int channel_id, int monitor_id)
{
    GPtrArray *all = displays(app);

    for (guint i = 0; i < all->len; i++) {
        ViewerDisplay *display = all->pdata[i];
        if (display->channel_id == channel_id && display->monitor_id == monitor_id)
            return display;
    }
    return NULL;
}

/* ---- the widget ------------------------------------------------------ */

static void
on_grab_changed(SpiceDisplay *display, gboolean grabbed, gpointer user_data)
{
    ViewerApp *app = user_data;

    if (grabbed && app->connected)
        viewer_set_status(app, "Input grabbed: press the release keys (default Ctrl+Alt) to release");
}

/* spice-gtk 0.42 grabs the keyboard for a display whenever the session
 * has the keyboard focus and the pointer, and asserts that this display is
 * the focused one: false with several windows (a display created, or the
 * pointer entering one, while another has the focus).  So only the focused
 * display has grab-keyboard set. */
static gboolean
on_display_focus(GtkWidget *widget, GdkEventFocus *event, gpointer user_data)
{
    g_object_set(widget, "grab-keyboard", event->in != 0, NULL);
    return FALSE;
}

GtkWidget *
viewer_create_display(ViewerApp *app, int channel_id, int monitor_id)
{
    const OrielViewerConnection *connection = app->connection;
    SpiceDisplay *display = g_object_new(SPICE_TYPE_DISPLAY, "session", app->session,
                                         "channel-id", channel_id, "monitor-id", monitor_id,
                                         "grab-keyboard", FALSE, NULL);
    g_autofree char *grab = NULL;
    const char *release = app->options->release_cursor ? app->options->release_cursor
                                                       : connection->release_cursor;

    /* resize-guest: the window's size goes to the guest as its monitor
     * config (spice-gtk sends it once the agent, or QXL's driver, can take
     * it). */
    g_object_set(display,
                 "scaling", !app->options->no_scaling,
                 "resize-guest", app->options->auto_resize,
                 "grab-mouse", TRUE,
                 NULL);
    g_signal_connect(display, "focus-in-event", G_CALLBACK(on_display_focus), NULL);
    g_signal_connect(display, "focus-out-event", G_CALLBACK(on_display_focus), NULL);
    if (release && (grab = oriel_viewer_hotkey_to_grab_keys(release, NULL))) {
        SpiceGrabSequence *sequence = spice_grab_sequence_new_from_string(grab);
        spice_display_set_grab_keys(display, sequence);
        spice_grab_sequence_free(sequence);
    }
    g_signal_connect(display, "mouse-grab", G_CALLBACK(on_grab_changed), app);
    gtk_widget_set_hexpand(GTK_WIDGET(display), TRUE);
    gtk_widget_set_vexpand(GTK_WIDGET(display), TRUE);
    return GTK_WIDGET(display);
}

/* ---- opening and closing displays ------------------------------------ */

/* The main window opens at the guest's size: the display plus the bars. */
static void
size_main_window(ViewerApp *app, int width, int height)
{
    int extra = 0;

    if (width <= 0 || height <= 0 || app->sized || app->fullscreen)
        return;
    app->sized = TRUE;
    if (gtk_widget_get_visible(app->menubar)) {
        int natural = 0;
        gtk_widget_get_preferred_height(app->menubar, NULL, &natural);
        extra += natural;
    }
    if (gtk_widget_get_visible(app->status)) {
        int natural = 0;
        guint padding = 0;
        gtk_widget_get_preferred_height(app->status, NULL, &natural);
        gtk_container_child_get(GTK_CONTAINER(app->box), app->status, "padding", &padding, NULL);
        /* Exactly the guest's size, or resize-guest would ask the guest
         * for a display a few pixels smaller. */
        extra += natural + 2 * (int)padding;
    }
    gtk_window_resize(GTK_WINDOW(app->window), width, height + extra);
}

static ViewerDisplay *
open_display(ViewerApp *app, SpiceChannel *channel, int channel_id, int monitor_id,
             int width, int height)
{
    ViewerDisplay *display = find_display(app, channel_id, monitor_id);
    g_autofree char *detail = NULL;

    if (display)
        return display;
    display = g_new0(ViewerDisplay, 1);
    display->app = app;
    display->channel = channel;
    display->channel_id = channel_id;
    display->monitor_id = monitor_id;
    display->number = (guint)(channel_id + monitor_id);
    display->widget = viewer_create_display(app, channel_id, monitor_id);
    if (channel_id == 0 && monitor_id == 0) {
        /* The widget is made once the channel has a surface, as
         * remote-viewer does: earlier, it misses the channel (still being
         * announced) or the main channel's mouse mode, and spice-gtk
         * warns. */
        app->display = display->widget;
        gtk_box_pack_start(GTK_BOX(app->box), display->widget, TRUE, TRUE, 0);
        gtk_box_reorder_child(GTK_BOX(app->box), display->widget, 1);
        gtk_widget_show(display->widget);
        gtk_widget_grab_focus(display->widget);
    } else {
        display->window = gtk_window_new(GTK_WINDOW_TOPLEVEL);
        if (width > 0 && height > 0)
            gtk_window_set_default_size(GTK_WINDOW(display->window), width, height);
        gtk_container_add(GTK_CONTAINER(display->window), display->widget);
        g_object_set_data(G_OBJECT(display->window), "oriel-display-number",
                          GUINT_TO_POINTER(display->number));
        viewer_window_setup_extra(app, display->window);
        /* spice-gtk grabs the keyboard when its widget has the focus: it
         * must be the window's focus widget before the window gets any. */
        gtk_widget_show_all(display->window);
        gtk_widget_grab_focus(display->widget);
    }
    g_ptr_array_add(displays(app), display);
    detail = g_strdup_printf("%u %dx%d", display->number, width, height);
    viewer_log_event(app, "display-opened", detail);
    viewer_check_frames(app);
    return display;
}

static void
close_display(ViewerApp *app, ViewerDisplay *display)
{
    g_autofree char *detail = g_strdup_printf("%u", display->number);

    viewer_log_event(app, "display-closed", detail);
    g_ptr_array_remove(displays(app), display);
}

/* ---- display channel signals ----------------------------------------- */

static void
on_primary_create(SpiceChannel *channel, gint format, gint width, gint height, gint stride,
                  gint shmid, gpointer imgdata, gpointer user_data)
{
    ViewerApp *app = user_data;
    int id = 0;

    g_object_get(channel, "channel-id", &id, NULL);
    /* Frames count per surface: a guest driver may go through a
     * placeholder surface (qxl's 64x64 shadow) before the real one. */
    g_object_set_data(G_OBJECT(channel), FRAMES_KEY, GUINT_TO_POINTER(0));
    if (width > 0 && height > 0) {
        g_autofree char *size = g_strdup_printf("%dx%d", width, height);
        viewer_log_event(app, "primary-surface", size);
    }
    /* Channel 0's first monitor always has the main window; the others
     * come with the guest's monitor config. */
    if (id == 0) {
        open_display(app, channel, 0, 0, width, height);
        size_main_window(app, width, height);
    }
}

static gboolean
monitor_enabled(const SpiceDisplayMonitorConfig *config)
{
    return config->width > 0 && config->height > 0;
}

static void
on_monitors(SpiceChannel *channel, GParamSpec *pspec, gpointer user_data)
{
    ViewerApp *app = user_data;
    g_autoptr(GArray) monitors = NULL;
    GPtrArray *all = displays(app);
    int channel_id = 0;

    g_object_get(channel, "channel-id", &channel_id, "monitors", &monitors, NULL);
    for (guint i = 0; monitors && i < monitors->len; i++) {
        const SpiceDisplayMonitorConfig *config =
            &g_array_index(monitors, SpiceDisplayMonitorConfig, i);
        /* spice-gtk shows monitors beyond the first only on channel 0. */
        if (!monitor_enabled(config) || (channel_id > 0 && config->id > 0) ||
            config->id > G_MAXINT / 2)
            continue;
        open_display(app, channel, channel_id, (int)config->id, (int)config->width,
                     (int)config->height);
    }
    /* Displays the guest no longer has go away, except the main one. */
    for (guint i = all->len; i > 0; i--) {
        ViewerDisplay *display = all->pdata[i - 1];
        gboolean present = FALSE;

        if (display->channel != channel || !display->window)
            continue;
        for (guint m = 0; monitors && m < monitors->len; m++) {
            const SpiceDisplayMonitorConfig *config =
                &g_array_index(monitors, SpiceDisplayMonitorConfig, m);
            if ((int)config->id == display->monitor_id && monitor_enabled(config))
                present = TRUE;
        }
        if (!present)
            close_display(app, display);
    }
    viewer_check_frames(app);
}

static void
on_invalidate(SpiceChannel *channel, gint x, gint y, gint w, gint h, gpointer user_data)
{
    ViewerApp *app = user_data;
    guint frames = GPOINTER_TO_UINT(g_object_get_data(G_OBJECT(channel), FRAMES_KEY));

    if (frames < G_MAXUINT)
        g_object_set_data(G_OBJECT(channel), FRAMES_KEY, GUINT_TO_POINTER(frames + 1));
    app->frames++;
    if (app->frames == 1)
        viewer_log_event(app, "first-frame", NULL);
    viewer_check_frames(app);
}

void
viewer_displays_watch_channel(ViewerApp *app, SpiceChannel *channel)
{
    g_object_set_data(G_OBJECT(channel), WATCHED_KEY, GINT_TO_POINTER(1));
    g_object_set_data(G_OBJECT(channel), FRAMES_KEY, GUINT_TO_POINTER(0));
    g_signal_connect(channel, "display-primary-create", G_CALLBACK(on_primary_create), app);
    g_signal_connect(channel, "display-invalidate", G_CALLBACK(on_invalidate), app);
    g_signal_connect(channel, "notify::monitors", G_CALLBACK(on_monitors), app);
    spice_channel_connect(channel);
}

void
viewer_displays_channel_gone(ViewerApp *app, SpiceChannel *channel)
{
    GPtrArray *all = displays(app);

    for (guint i = all->len; i > 0; i--) {
        ViewerDisplay *display = all->pdata[i - 1];
        if (display->channel == channel) {
            if (display->window)
                close_display(app, display);
            else
                display->channel = NULL;
        }
    }
}

void
viewer_displays_clear(ViewerApp *app)
{
    if (app->displays)
        g_ptr_array_set_size(app->displays, 0);
}

/* The channel's surface holds every monitor the guest says it shows. */
static gboolean
surface_fits_monitors(SpiceChannel *channel)
{
    SpiceDisplayPrimary primary;
    g_autoptr(GArray) monitors = NULL;

    if (!spice_display_channel_get_primary(channel, 0, &primary) || primary.width <= 0 ||
        primary.height <= 0)
        return FALSE;
    g_object_get(channel, "monitors", &monitors, NULL);
    for (guint i = 0; monitors && i < monitors->len; i++) {
        const SpiceDisplayMonitorConfig *config =
            &g_array_index(monitors, SpiceDisplayMonitorConfig, i);
        if (monitor_enabled(config) &&
            ((guint64)config->x + config->width > (guint64)primary.width ||
             (guint64)config->y + config->height > (guint64)primary.height))
            return FALSE;
    }
    return TRUE;
}

gboolean
viewer_displays_have_frames(ViewerApp *app, guint frames)
{
    GList *channels;
    guint display_channels = 0;
    gboolean ok = TRUE;

    if (!app->session)
        return FALSE;
    channels = spice_session_get_channels(app->session);
    for (GList *l = channels; l; l = l->next) {
        SpiceChannel *channel = l->data;
        gboolean shown = FALSE;

        if (!SPICE_IS_DISPLAY_CHANNEL(channel) ||
            !g_object_get_data(G_OBJECT(channel), WATCHED_KEY))
            continue;
        display_channels++;
        for (guint i = 0; app->displays && i < app->displays->len; i++)
            if (((ViewerDisplay *)app->displays->pdata[i])->channel == channel)
                shown = TRUE;
        if (!shown || !surface_fits_monitors(channel) ||
            GPOINTER_TO_UINT(g_object_get_data(G_OBJECT(channel), FRAMES_KEY)) < frames)
            ok = FALSE;
    }
    g_list_free(channels);
    return ok && display_channels > 0;
}

void
viewer_displays_foreach_widget(ViewerApp *app, GFunc func, gpointer data)
{
    for (guint i = 0; app->displays && i < app->displays->len; i++)
        func(((ViewerDisplay *)app->displays->pdata[i])->widget, data);
}

void
viewer_displays_foreach_window(ViewerApp *app, GFunc func, gpointer data)
{
    for (guint i = 0; app->displays && i < app->displays->len; i++) {
        ViewerDisplay *display = app->displays->pdata[i];
        if (display->window)
            func(display->window, data);
    }
}

/* ---- screenshots ------------------------------------------------------ */

/* The guest's surface as the server sent it (not the scaled widget), from
 * the channel's primary: 32-bit little-endian xRGB, bytes B, G, R, X.  With
 * several monitors on the channel, only @monitor_id's part of it. */
static GdkPixbuf *
primary_to_pixbuf(SpiceChannel *channel, int monitor_id, GError **error)
{
    SpiceDisplayPrimary primary;
    g_autoptr(GdkPixbuf) pixbuf = NULL;
    g_autoptr(GArray) monitors = NULL;
    int x0 = 0, y0 = 0, width, height;
    guint8 *pixels;
    int rowstride;

    if (!channel || !spice_display_channel_get_primary(channel, 0, &primary) ||
        !primary.data || primary.width <= 0 || primary.height <= 0) {
        g_set_error_literal(error, ORIEL_VIEWER_ERROR, ORIEL_VIEWER_ERROR_INVALID,
                            "no display surface to save");
        return NULL;
    }
    if ((primary.format != SPICE_SURFACE_FMT_32_xRGB &&
         primary.format != SPICE_SURFACE_FMT_32_ARGB) ||
        primary.stride < primary.width * 4) {
        g_set_error(error, ORIEL_VIEWER_ERROR, ORIEL_VIEWER_ERROR_UNSUPPORTED,
                    "cannot save surface format %d", primary.format);
        return NULL;
    }
    width = primary.width;
    height = primary.height;
    g_object_get(channel, "monitors", &monitors, NULL);
    if (monitors && monitors->len > 1) {
        for (guint i = 0; i < monitors->len; i++) {
            const SpiceDisplayMonitorConfig *config =
                &g_array_index(monitors, SpiceDisplayMonitorConfig, i);
            /* The monitor's rectangle, clamped to the surface. */
            if ((int)config->id != monitor_id || !monitor_enabled(config) ||
                config->x >= (guint)primary.width || config->y >= (guint)primary.height)
                continue;
            x0 = (int)config->x;
            y0 = (int)config->y;
            width = (int)MIN(config->width, (guint)(primary.width - x0));
            height = (int)MIN(config->height, (guint)(primary.height - y0));
        }
    }
    pixbuf = gdk_pixbuf_new(GDK_COLORSPACE_RGB, FALSE, 8, width, height);
    pixels = gdk_pixbuf_get_pixels(pixbuf);
    rowstride = gdk_pixbuf_get_rowstride(pixbuf);
    for (int y = 0; y < height; y++) {
        const guint8 *src = primary.data + (gsize)(y + y0) * (gsize)primary.stride +
                            (gsize)x0 * 4;
        guint8 *dst = pixels + (gsize)y * (gsize)rowstride;
        for (int x = 0; x < width; x++) {
            dst[3 * x] = src[4 * x + 2];
            dst[3 * x + 1] = src[4 * x + 1];
            dst[3 * x + 2] = src[4 * x];
        }
    }
    return g_steal_pointer(&pixbuf);
}

static gint
compare_numbers(gconstpointer a, gconstpointer b)
{
    const ViewerDisplay *da = *(ViewerDisplay *const *)a;
    const ViewerDisplay *db = *(ViewerDisplay *const *)b;

    return da->number < db->number ? -1 : da->number > db->number;
}

/* Display 0 to @path, display N to @path with -N before the extension. */
gboolean
viewer_save_screenshot(ViewerApp *app, const char *path, GError **error)
{
    g_autoptr(GPtrArray) sorted = g_ptr_array_new();

    for (guint i = 0; app->displays && i < app->displays->len; i++)
        if (((ViewerDisplay *)app->displays->pdata[i])->channel)
            g_ptr_array_add(sorted, app->displays->pdata[i]);
    if (sorted->len == 0) {
        g_autoptr(GdkPixbuf) pixbuf = primary_to_pixbuf(app->display_channel, 0, error);
        return pixbuf && gdk_pixbuf_save(pixbuf, path, "png", error, NULL);
    }
    g_ptr_array_sort(sorted, compare_numbers);
    for (guint i = 0; i < sorted->len; i++) {
        ViewerDisplay *display = sorted->pdata[i];
        g_autofree char *name = oriel_viewer_display_file_name(path, display->number);
        g_autoptr(GdkPixbuf) pixbuf = primary_to_pixbuf(display->channel,
                                                        display->monitor_id, error);

        if (!pixbuf || !gdk_pixbuf_save(pixbuf, name, "png", error, NULL)) {
            g_prefix_error(error, "display %u: ", display->number);
            return FALSE;
        }
    }
    return TRUE;
}
