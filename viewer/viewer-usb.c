/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* USB redirection: the device manager, the device dialog, the shared CD. */
#define G_LOG_DOMAIN "oriel-viewer"

#include "viewer-app-priv.h"

/* ---- USB ------------------------------------------------------------ */

static SpiceUsbDeviceManager *
usb_manager(ViewerApp *app, GError **error)
{
    if (!app->usb_manager)
        app->usb_manager = spice_usb_device_manager_get(app->session, error);
    return app->usb_manager;
}

/* Auto-share: newly plugged devices that pass the filter go to the guest.
 * In a desktop session spice-gtk's auto-usbredir does it and keeps the
 * desktop from automounting them (through the session bus); with no session
 * bus there is no automounter, and the device manager does it alone (the
 * GTK session would only warn that the bus is missing). */
static void
enable_autoshare(ViewerApp *app)
{
    if (!app->usb_autoshare || !app->usb_manager)
        return;
    if (g_getenv("DBUS_SESSION_BUS_ADDRESS"))
        g_object_set(spice_gtk_session_get(app->session), "auto-usbredir", TRUE, NULL);
    else
        g_object_set(app->usb_manager, "auto-connect", TRUE, NULL);
}

static void
on_cd_connected(GObject *source, GAsyncResult *result, gpointer user_data)
{
    ViewerApp *app = user_data;
    g_autoptr(GError) error = NULL;

    if (!spice_usb_device_manager_connect_device_finish(SPICE_USB_DEVICE_MANAGER(source),
                                                         result, &error)) {
        g_autofree char *text = NULL;
        if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
            return;
        text = g_strdup_printf("Cannot share %s: %s", app->options->share_cd, error->message);
        viewer_set_status(app, text);
        g_printerr("oriel-viewer: %s\n", text);
        enable_autoshare(app);
        return;
    }
    viewer_log_event(app, "shared-cd-connected", NULL);
    /* Only now, so auto-share does not race us for the CD. */
    enable_autoshare(app);
}

/* The shared CD goes to the guest once it exists and a USB channel is up. */
static void
connect_cd(ViewerApp *app)
{
    if (!app->cd_device || !app->usbredir_open || app->cd_connecting || !app->usb_manager)
        return;
    app->cd_connecting = TRUE;
    spice_usb_device_manager_connect_device_async(app->usb_manager, app->cd_device, NULL,
                                                  on_cd_connected, app);
}

static void
on_usb_device_added(SpiceUsbDeviceManager *manager, SpiceUsbDevice *device,
                    gpointer user_data)
{
    ViewerApp *app = user_data;

    if (app->cd_device || !spice_usb_device_manager_is_device_shared_cd(manager, device))
        return;
    app->cd_device = g_boxed_copy(SPICE_TYPE_USB_DEVICE, device);
    connect_cd(app);
}

static void
on_usbredir_event(SpiceChannel *channel, SpiceChannelEvent event, gpointer user_data)
{
    ViewerApp *app = user_data;

    if (event != SPICE_CHANNEL_OPENED)
        return;
    app->usbredir_open = TRUE;
    connect_cd(app);
}

void
viewer_usb_share_cd(ViewerApp *app)
{
    g_autoptr(GError) error = NULL;
    SpiceUsbDeviceManager *manager;

    if (!app->options->share_cd || app->share_cd_done)
        return;
    app->share_cd_done = TRUE;
    manager = usb_manager(app, &error);
    if (!manager ||
        !spice_usb_device_manager_create_shared_cd_device(manager, app->options->share_cd,
                                                          &error)) {
        g_autofree char *text = g_strdup_printf("Cannot share %s: %s", app->options->share_cd,
                                                error->message);
        viewer_set_status(app, text);
        g_printerr("oriel-viewer: %s\n", text);
        return;
    }
    viewer_log_event(app, "shared-cd", NULL);
}

static void
on_usb_connect_failed(SpiceUsbDeviceManager *manager, SpiceUsbDevice *device,
                      GError *error, gpointer user_data)
{
    ViewerApp *app = user_data;
    g_autofree char *text = NULL;

    if (g_error_matches(error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        return;
    text = g_strdup_printf("USB redirection failed: %s", error->message);
    viewer_set_status(app, text);
}

void
viewer_usb_setup(ViewerApp *app)
{
    const OrielViewerOptions *options = app->options;
    const OrielViewerConnection *connection = app->connection;
    g_autoptr(GError) error = NULL;
    const char *filter = options->usb_filter ? options->usb_filter : connection->usb_filter;
    gboolean autoshare = oriel_viewer_usb_autoshare(options->usb_autoshare, connection);
    SpiceUsbDeviceManager *manager;

    /* The device manager opens libusb: only when something asks for USB. */
    if (!filter && !options->usb_redirect_on_connect && !options->share_cd && !autoshare)
        return;
    manager = usb_manager(app, &error);
    if (!manager) {
        g_autofree char *text = g_strdup_printf("USB redirection unavailable: %s",
                                                error->message);
        viewer_set_status(app, text);
        return;
    }
    g_signal_connect(manager, "auto-connect-failed", G_CALLBACK(on_usb_connect_failed), app);
    g_signal_connect(manager, "device-added", G_CALLBACK(on_usb_device_added), app);
    g_object_set(manager, "auto-connect-filter",
                 filter ? filter : ORIEL_VIEWER_DEFAULT_USB_FILTER, NULL);
    if (options->usb_redirect_on_connect)
        g_object_set(manager, "redirect-on-connect", options->usb_redirect_on_connect, NULL);
    app->usb_autoshare = autoshare;
    if (!options->share_cd)
        enable_autoshare(app);
}

void
viewer_on_usb_dialog(GtkMenuItem *item, gpointer user_data)
{
    ViewerApp *app = user_data;
    g_autoptr(GError) error = NULL;
    GtkWidget *dialog;
    GtkWidget *content;
    GtkWidget *widget;

    if (!app->session)
        return;
    if (!usb_manager(app, &error)) {
        g_autofree char *text = g_strdup_printf("USB redirection unavailable: %s",
                                                error->message);
        viewer_set_status(app, text);
        return;
    }
    dialog = gtk_dialog_new_with_buttons("USB device selection", GTK_WINDOW(app->window),
                                         GTK_DIALOG_MODAL | GTK_DIALOG_DESTROY_WITH_PARENT,
                                         "_Close", GTK_RESPONSE_CLOSE, NULL);
    content = gtk_dialog_get_content_area(GTK_DIALOG(dialog));
    widget = spice_usb_device_widget_new(app->session, NULL);
    gtk_container_set_border_width(GTK_CONTAINER(widget), 12);
    gtk_box_pack_start(GTK_BOX(content), widget, TRUE, TRUE, 0);
    gtk_widget_show_all(dialog);
    gtk_dialog_run(GTK_DIALOG(dialog));
    gtk_widget_destroy(dialog);
}

void
viewer_usb_watch_channel(ViewerApp *app, SpiceChannel *channel)
{
    g_signal_connect(channel, "channel-event", G_CALLBACK(on_usbredir_event), app);
}

void
viewer_usb_reset(ViewerApp *app)
{
    app->usb_manager = NULL;
    if (app->cd_device)
        g_boxed_free(SPICE_TYPE_USB_DEVICE, g_steal_pointer(&app->cd_device));
    app->cd_connecting = FALSE;
    app->usbredir_open = FALSE;
    app->share_cd_done = FALSE;
    app->usb_autoshare = FALSE;
}
