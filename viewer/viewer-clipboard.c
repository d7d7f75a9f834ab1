/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Clipboard policy, applied to each transfer in both directions. */
#define G_LOG_DOMAIN "oriel-viewer"

#include "viewer-app-priv.h"

/* ---- clipboard policy ----------------------------------------------- */

/* These handlers run before SpiceGtkSession's (we connect first), so
 * stopping the emission keeps a blocked transfer from happening at all. */
static gboolean
clipboard_allowed(ViewerApp *app, SpiceMainChannel *main_channel, const char *signal,
                  OrielClipboardDirection direction, guint selection)
{
    gboolean *told;

    if (oriel_clipboard_allows(app->options->clipboard, app->options->primary_selection,
                               direction, selection))
        return TRUE;
    g_signal_stop_emission_by_name(main_channel, signal);
    /* Say so once per direction; PRIMARY traffic is constant and silent. */
    if (selection != ORIEL_SELECTION_CLIPBOARD)
        return FALSE;
    told = direction == ORIEL_CLIPBOARD_DIRECTION_TO_GUEST ? &app->told_to_guest_blocked
                                                           : &app->told_from_guest_blocked;
    if (!*told) {
        *told = TRUE;
        g_autofree char *text = g_strdup_printf(
            "Clipboard %s the guest blocked (--clipboard=%s)",
            direction == ORIEL_CLIPBOARD_DIRECTION_TO_GUEST ? "to" : "from",
            oriel_clipboard_policy_to_string(app->options->clipboard));
        viewer_set_status(app, text);
        viewer_log_event(app, direction == ORIEL_CLIPBOARD_DIRECTION_TO_GUEST
                           ? "clipboard-to-guest-blocked" : "clipboard-from-guest-blocked",
                  NULL);
    }
    return FALSE;
}

/* The client side: SpiceGtkSession announces a new owner of the client's
 * clipboard to the guest from GtkClipboard's owner-change.  Ours runs first
 * (connected before any SpiceGtkSession exists), so a blocked direction
 * sends not even the announcement. */
static void
client_owner_change(ViewerApp *app, GtkClipboard *clipboard, GdkEventOwnerChange *event,
                    OrielSelection selection)
{
    gboolean ours;

    if (oriel_clipboard_allows(app->options->clipboard, app->options->primary_selection,
                               ORIEL_CLIPBOARD_DIRECTION_TO_GUEST, selection))
        return;
    g_signal_stop_emission_by_name(clipboard, "owner-change");
    /* Our own window owns it when the guest's clipboard is offered here. */
    ours = event->owner && gdk_window_get_window_type(event->owner) != GDK_WINDOW_FOREIGN;
    if (selection != ORIEL_SELECTION_CLIPBOARD || ours || app->told_to_guest_blocked ||
        event->reason != GDK_OWNER_CHANGE_NEW_OWNER)
        return;
    app->told_to_guest_blocked = TRUE;
    g_autofree char *text = g_strdup_printf(
        "Clipboard to the guest blocked (--clipboard=%s)",
        oriel_clipboard_policy_to_string(app->options->clipboard));
    viewer_set_status(app, text);
    viewer_log_event(app, "clipboard-to-guest-blocked", NULL);
}

static void
on_client_clipboard_change(GtkClipboard *clipboard, GdkEvent *event, gpointer user_data)
{
    client_owner_change(user_data, clipboard, (GdkEventOwnerChange *)event,
                        ORIEL_SELECTION_CLIPBOARD);
}

static void
on_client_primary_change(GtkClipboard *clipboard, GdkEvent *event, gpointer user_data)
{
    client_owner_change(user_data, clipboard, (GdkEventOwnerChange *)event,
                        ORIEL_SELECTION_PRIMARY);
}

static gboolean
on_clipboard_grab(SpiceMainChannel *main_channel, guint selection, gpointer types,
                  guint ntypes, gpointer user_data)
{
    if (!clipboard_allowed(user_data, main_channel, "main-clipboard-selection-grab",
                           ORIEL_CLIPBOARD_DIRECTION_FROM_GUEST, selection))
        return TRUE;
    return FALSE;
}

static void
on_clipboard_data(SpiceMainChannel *main_channel, guint selection, guint type,
                  gpointer data, guint size, gpointer user_data)
{
    clipboard_allowed(user_data, main_channel, "main-clipboard-selection",
                      ORIEL_CLIPBOARD_DIRECTION_FROM_GUEST, selection);
}

static gboolean
on_clipboard_request(SpiceMainChannel *main_channel, guint selection, guint type,
                     gpointer user_data)
{
    /* Refused, the guest's request gets no data; allowed, SpiceGtkSession
     * answers it after us. */
    clipboard_allowed(user_data, main_channel, "main-clipboard-selection-request",
                      ORIEL_CLIPBOARD_DIRECTION_TO_GUEST, selection);
    return FALSE;
}

void
viewer_clipboard_watch_main(ViewerApp *app, SpiceChannel *main_channel)
{
    g_signal_connect(main_channel, "main-clipboard-selection-grab",
                     G_CALLBACK(on_clipboard_grab), app);
    g_signal_connect(main_channel, "main-clipboard-selection",
                     G_CALLBACK(on_clipboard_data), app);
    g_signal_connect(main_channel, "main-clipboard-selection-request",
                     G_CALLBACK(on_clipboard_request), app);
}

void
viewer_clipboard_watch_client(ViewerApp *app)
{
    g_signal_connect(gtk_clipboard_get(GDK_SELECTION_CLIPBOARD), "owner-change",
                     G_CALLBACK(on_client_clipboard_change), app);
    g_signal_connect(gtk_clipboard_get(GDK_SELECTION_PRIMARY), "owner-change",
                     G_CALLBACK(on_client_primary_change), app);
}

void
viewer_clipboard_unwatch_client(ViewerApp *app)
{
    g_signal_handlers_disconnect_by_data(gtk_clipboard_get(GDK_SELECTION_CLIPBOARD), app);
    g_signal_handlers_disconnect_by_data(gtk_clipboard_get(GDK_SELECTION_PRIMARY), app);
}
