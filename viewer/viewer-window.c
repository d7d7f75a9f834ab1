/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The window: menus, send keys, full screen, zoom, kiosk hotkeys. */
#define G_LOG_DOMAIN "oriel-viewer"

#include "viewer-app-priv.h"

/* ---- menus and hotkeys ---------------------------------------------- */

static void
set_window_fullscreen(gpointer window, gpointer fullscreen)
{
    if (fullscreen)
        gtk_window_fullscreen(GTK_WINDOW(window));
    else
        gtk_window_unfullscreen(GTK_WINDOW(window));
}

static void
toggle_fullscreen(ViewerApp *app)
{
    app->fullscreen = !app->fullscreen;
    /* Every display's window, each on the monitor it is on. */
    set_window_fullscreen(app->window, GINT_TO_POINTER(app->fullscreen));
    viewer_displays_foreach_window(app, set_window_fullscreen,
                                   GINT_TO_POINTER(app->fullscreen));
    /* Full screen shows only the guest, except in kiosk mode, which never
     * shows the bars. */
    if (!app->options->kiosk) {
        gtk_widget_set_visible(app->menubar, !app->fullscreen);
        gtk_widget_set_visible(app->status, !app->fullscreen);
    }
}

static void
on_fullscreen_item(GtkMenuItem *item, gpointer user_data)
{
    toggle_fullscreen(user_data);
}

static void
set_scaling(gpointer display, gpointer scaling)
{
    g_object_set(display, "scaling", GPOINTER_TO_INT(scaling), NULL);
}

static void
on_scaling_toggled(GtkCheckMenuItem *item, gpointer user_data)
{
    /* Every display, as the windows beyond the first have no menus. */
    viewer_displays_foreach_widget(user_data, set_scaling,
                                   GINT_TO_POINTER(gtk_check_menu_item_get_active(item)));
}

static void
zoom_by(ViewerApp *app, int step)
{
    int zoom = 100;

    if (!app->display)
        return;
    g_object_get(app->display, "zoom-level", &zoom, NULL);
    zoom = step ? CLAMP(zoom + step, ZOOM_MIN, ZOOM_MAX) : 100;
    g_object_set(app->display, "zoom-level", zoom, NULL);
}

static void on_zoom_in(GtkMenuItem *item, gpointer data) { zoom_by(data, ZOOM_STEP); }
static void on_zoom_out(GtkMenuItem *item, gpointer data) { zoom_by(data, -ZOOM_STEP); }
static void on_zoom_reset(GtkMenuItem *item, gpointer data) { zoom_by(data, 0); }

static void
on_screenshot_item(GtkMenuItem *item, gpointer user_data)
{
    ViewerApp *app = user_data;
    GtkFileChooserNative *chooser;
    g_autoptr(GError) error = NULL;

    chooser = gtk_file_chooser_native_new("Save screenshot", GTK_WINDOW(app->window),
                                          GTK_FILE_CHOOSER_ACTION_SAVE, "_Save", "_Cancel");
    gtk_file_chooser_set_do_overwrite_confirmation(GTK_FILE_CHOOSER(chooser), TRUE);
    gtk_file_chooser_set_current_name(GTK_FILE_CHOOSER(chooser), "screenshot.png");
    if (gtk_native_dialog_run(GTK_NATIVE_DIALOG(chooser)) == GTK_RESPONSE_ACCEPT) {
        g_autofree char *path = gtk_file_chooser_get_filename(GTK_FILE_CHOOSER(chooser));
        if (path && !viewer_save_screenshot(app, path, &error)) {
            g_autofree char *text = g_strdup_printf("Screenshot failed: %s", error->message);
            viewer_set_status(app, text);
        }
    }
    g_object_unref(chooser);
}

static void
on_quit_item(GtkMenuItem *item, gpointer user_data)
{
    viewer_quit(user_data, ORIEL_VIEWER_EXIT_OK, NULL);
}

/* The send-key menu: each item carries its key sequence. */
typedef struct {
    const char *label;
    guint keys[3];
} SendKey;

static const SendKey send_keys[] = {
    { "Ctrl+Alt+_Del", { GDK_KEY_Control_L, GDK_KEY_Alt_L, GDK_KEY_Delete } },
    { "Ctrl+Alt+_Backspace", { GDK_KEY_Control_L, GDK_KEY_Alt_L, GDK_KEY_BackSpace } },
    { "Ctrl+Alt+F_1", { GDK_KEY_Control_L, GDK_KEY_Alt_L, GDK_KEY_F1 } },
    { "Ctrl+Alt+F_2", { GDK_KEY_Control_L, GDK_KEY_Alt_L, GDK_KEY_F2 } },
    { "Ctrl+Alt+F_3", { GDK_KEY_Control_L, GDK_KEY_Alt_L, GDK_KEY_F3 } },
    { "Ctrl+Alt+F_4", { GDK_KEY_Control_L, GDK_KEY_Alt_L, GDK_KEY_F4 } },
    { "Ctrl+Alt+F_5", { GDK_KEY_Control_L, GDK_KEY_Alt_L, GDK_KEY_F5 } },
    { "Ctrl+Alt+F_6", { GDK_KEY_Control_L, GDK_KEY_Alt_L, GDK_KEY_F6 } },
    { "Ctrl+Alt+F_7", { GDK_KEY_Control_L, GDK_KEY_Alt_L, GDK_KEY_F7 } },
    { "Ctrl+Alt+F_8", { GDK_KEY_Control_L, GDK_KEY_Alt_L, GDK_KEY_F8 } },
    { "Ctrl+Alt+F_9", { GDK_KEY_Control_L, GDK_KEY_Alt_L, GDK_KEY_F9 } },
    { "Ctrl+Alt+F1_0", { GDK_KEY_Control_L, GDK_KEY_Alt_L, GDK_KEY_F10 } },
    { "Ctrl+Alt+F11", { GDK_KEY_Control_L, GDK_KEY_Alt_L, GDK_KEY_F11 } },
    { "Ctrl+Alt+F12", { GDK_KEY_Control_L, GDK_KEY_Alt_L, GDK_KEY_F12 } },
    { "_PrintScreen", { GDK_KEY_Print, 0, 0 } },
};

static void
send_key_sequence(ViewerApp *app, const SendKey *key)
{
    guint n = 0;

    if (!app->display)
        return;
    while (n < G_N_ELEMENTS(key->keys) && key->keys[n])
        n++;
    spice_display_send_keys(SPICE_DISPLAY(app->display), key->keys, (int)n,
                            SPICE_DISPLAY_KEY_EVENT_CLICK);
}

static void
on_send_key_item(GtkMenuItem *item, gpointer user_data)
{
    const SendKey *key = g_object_get_data(G_OBJECT(item), "oriel-send-key");

    send_key_sequence(user_data, key);
}

static GtkWidget *
add_item(GtkWidget *menu, const char *label, GCallback callback, ViewerApp *app,
         const char *accel)
{
    GtkWidget *item = gtk_menu_item_new_with_mnemonic(label);
    guint key = 0;
    GdkModifierType mods = 0;

    g_signal_connect(item, "activate", callback, app);
    if (accel) {
        gtk_accelerator_parse(accel, &key, &mods);
        if (key)
            gtk_widget_add_accelerator(item, "activate", app->accel_group, key, mods,
                                       GTK_ACCEL_VISIBLE);
    }
    gtk_menu_shell_append(GTK_MENU_SHELL(menu), item);
    return item;
}

static GtkWidget *
add_menu(GtkWidget *menubar, const char *label)
{
    GtkWidget *item = gtk_menu_item_new_with_mnemonic(label);
    GtkWidget *menu = gtk_menu_new();

    gtk_menu_item_set_submenu(GTK_MENU_ITEM(item), menu);
    gtk_menu_shell_append(GTK_MENU_SHELL(menubar), item);
    return menu;
}

/* A .vv hotkey overrides the default; an invalid one falls back to it. */
static char *
hotkey_accel(const char *hotkey, const char *fallback)
{
    char *accel = hotkey ? oriel_viewer_hotkey_to_accel(hotkey, NULL) : NULL;

    return accel ? accel : g_strdup(fallback);
}

static void
build_menus(ViewerApp *app)
{
    const OrielViewerConnection *connection = app->connection;
    g_autofree char *fullscreen_accel = hotkey_accel(connection->toggle_fullscreen, "F11");
    g_autofree char *zoom_in_accel = hotkey_accel(connection->zoom_in, "<Control>plus");
    g_autofree char *zoom_out_accel = hotkey_accel(connection->zoom_out, "<Control>minus");
    g_autofree char *zoom_reset_accel = hotkey_accel(connection->zoom_reset, "<Control>0");
    g_autofree char *sas_accel = hotkey_accel(connection->secure_attention, NULL);
    GtkWidget *menu;
    GtkWidget *item;

    app->menubar = gtk_menu_bar_new();

    menu = add_menu(app->menubar, "_File");
    add_item(menu, "_Screenshot...", G_CALLBACK(on_screenshot_item), app, NULL);
    add_item(menu, "_USB device selection...", G_CALLBACK(viewer_on_usb_dialog), app, NULL);
    add_item(menu, "_Quit", G_CALLBACK(on_quit_item), app, NULL);

    menu = add_menu(app->menubar, "_View");
    add_item(menu, "_Full screen", G_CALLBACK(on_fullscreen_item), app, fullscreen_accel);
    item = gtk_check_menu_item_new_with_mnemonic("_Scale display");
    gtk_check_menu_item_set_active(GTK_CHECK_MENU_ITEM(item), !app->options->no_scaling);
    g_signal_connect(item, "toggled", G_CALLBACK(on_scaling_toggled), app);
    gtk_menu_shell_append(GTK_MENU_SHELL(menu), item);
    add_item(menu, "Zoom _in", G_CALLBACK(on_zoom_in), app, zoom_in_accel);
    add_item(menu, "Zoom _out", G_CALLBACK(on_zoom_out), app, zoom_out_accel);
    add_item(menu, "_Normal size", G_CALLBACK(on_zoom_reset), app, zoom_reset_accel);

    menu = add_menu(app->menubar, "_Send key");
    for (gsize i = 0; i < G_N_ELEMENTS(send_keys); i++) {
        item = add_item(menu, send_keys[i].label, G_CALLBACK(on_send_key_item), app,
                        i == 0 ? sas_accel : NULL);
        g_object_set_data(G_OBJECT(item), "oriel-send-key", (gpointer)&send_keys[i]);
    }
}

/* Kiosk mode: no menus, only the configured hotkeys (from the .vv file). */
static gboolean
on_kiosk_key(GtkWidget *widget, GdkEventKey *event, gpointer user_data)
{
    ViewerApp *app = user_data;
    const OrielViewerConnection *connection = app->connection;
    GdkModifierType mask = gtk_accelerator_get_default_mod_mask();
    guint key = 0;
    GdkModifierType mods = 0;
    g_autofree char *accel = NULL;

    if (connection->toggle_fullscreen &&
        (accel = oriel_viewer_hotkey_to_accel(connection->toggle_fullscreen, NULL))) {
        gtk_accelerator_parse(accel, &key, &mods);
        if (key && gdk_keyval_to_lower(event->keyval) == gdk_keyval_to_lower(key) &&
            (event->state & mask) == mods) {
            toggle_fullscreen(app);
            return TRUE;
        }
    }
    g_clear_pointer(&accel, g_free);
    if (connection->secure_attention &&
        (accel = oriel_viewer_hotkey_to_accel(connection->secure_attention, NULL))) {
        gtk_accelerator_parse(accel, &key, &mods);
        if (key && gdk_keyval_to_lower(event->keyval) == gdk_keyval_to_lower(key) &&
            (event->state & mask) == mods) {
            send_key_sequence(app, &send_keys[0]);
            return TRUE;
        }
    }
    return FALSE;
}

static gboolean
on_delete(GtkWidget *widget, GdkEvent *event, gpointer user_data)
{
    viewer_quit(user_data, ORIEL_VIEWER_EXIT_OK, NULL);
    return TRUE;
}

void
viewer_build_window(ViewerApp *app)
{
    const OrielViewerOptions *options = app->options;
    const OrielViewerConnection *connection = app->connection;
    const char *title = options->title ? options->title : connection->title;
    g_autofree char *where = oriel_viewer_connection_describe(connection);
    g_autofree char *default_title = g_strdup_printf("%s - Oriel Viewer", where);

    app->window = gtk_window_new(GTK_WINDOW_TOPLEVEL);
    gtk_window_set_title(GTK_WINDOW(app->window), title ? title : default_title);
    gtk_window_set_default_size(GTK_WINDOW(app->window), 640, 480);
    app->accel_group = gtk_accel_group_new();
    gtk_window_add_accel_group(GTK_WINDOW(app->window), app->accel_group);
    g_signal_connect(app->window, "delete-event", G_CALLBACK(on_delete), app);

    app->box = gtk_box_new(GTK_ORIENTATION_VERTICAL, 0);
    gtk_container_add(GTK_CONTAINER(app->window), app->box);
    build_menus(app);
    gtk_box_pack_start(GTK_BOX(app->box), app->menubar, FALSE, FALSE, 0);
    app->status = gtk_label_new("");
    gtk_label_set_xalign(GTK_LABEL(app->status), 0.0f);
    gtk_label_set_ellipsize(GTK_LABEL(app->status), PANGO_ELLIPSIZE_END);
    gtk_widget_set_margin_start(app->status, 6);
    gtk_box_pack_end(GTK_BOX(app->box), app->status, FALSE, FALSE, 2);
    gtk_widget_show_all(app->box);

    if (options->kiosk) {
        gtk_widget_hide(app->menubar);
        g_signal_connect(app->window, "key-press-event", G_CALLBACK(on_kiosk_key), app);
    }
    if (options->kiosk || options->full_screen || connection->fullscreen == ORIEL_VIEWER_ON)
        toggle_fullscreen(app);
}


/* A display beyond the first: its own window, titled after the main one,
 * with the same accelerators (or kiosk hotkeys) and full-screen state.
 * Closing it ends the viewer, as closing the main window does. */
void
viewer_window_setup_extra(ViewerApp *app, GtkWidget *window)
{
    guint number = GPOINTER_TO_UINT(g_object_get_data(G_OBJECT(window), "oriel-display-number"));
    g_autofree char *title = g_strdup_printf("%s (display %u)",
                                             gtk_window_get_title(GTK_WINDOW(app->window)),
                                             number);

    gtk_window_set_title(GTK_WINDOW(window), title);
    gtk_window_add_accel_group(GTK_WINDOW(window), app->accel_group);
    g_signal_connect(window, "delete-event", G_CALLBACK(on_delete), app);
    if (app->options->kiosk)
        g_signal_connect(window, "key-press-event", G_CALLBACK(on_kiosk_key), app);
    if (app->fullscreen)
        gtk_window_fullscreen(GTK_WINDOW(window));
}
