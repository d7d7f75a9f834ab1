/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The GTK side of oriel-viewer: one window, one SPICE session. */
#pragma once

#include "oriel-viewer.h"

#include <gio/gio.h>

typedef enum {
    ORIEL_KIOSK_QUIT_NEVER,
    ORIEL_KIOSK_QUIT_ON_DISCONNECT,
} OrielKioskQuit;

typedef struct {
    gboolean full_screen;
    char *title;
    OrielClipboardPolicy clipboard;
    gboolean primary_selection;
    gboolean kiosk;
    OrielKioskQuit kiosk_quit;
    gboolean no_audio;
    gboolean auto_resize;         /* resize-guest; default on */
    gboolean usb_autoshare;       /* new USB devices (filtered); default on */
    gboolean no_scaling;
    char *usb_filter;
    char *usb_redirect_on_connect;
    char *share_cd;
    char *screenshot;             /* --screenshot, with --exit-after-frames */
    int exit_after_frames;
    char *screenshot_on_connect;  /* first frame, then keep running */
    int timeout;                  /* seconds until a frame must have come */
    int reconnect_timeout;        /* seconds of retrying after a drop */
    char *release_cursor;         /* virt-viewer hotkey syntax */
    gboolean events;              /* machine-readable event lines on stdout */
    /* Before each reconnect attempt, when set: a fresh connection (a new
     * one-time ticket from orield or a broker).  NULL with error set keeps
     * the previous one. */
    OrielViewerConnection *(*refresh)(gpointer refresh_data, GError **error);
    /* The same without blocking the windows (used instead when set):
     * @callback gets the result for refresh_finish; ending the session
     * cancels @cancellable. */
    void (*refresh_async)(gpointer refresh_data, GCancellable *cancellable, GAsyncReadyCallback callback,
                          gpointer user_data);
    OrielViewerConnection *(*refresh_finish)(gpointer refresh_data, GAsyncResult *result, GError **error);
    gpointer refresh_data;
    /* Broker mode: keys (virt-viewer syntax) that end the session like
     * closing the window, also in kiosk mode; NULL: none. */
    char *logout_hotkey;
} OrielViewerOptions;

void oriel_viewer_options_clear(OrielViewerOptions *options);

/* Runs the viewer until the session ends; returns an OrielViewerExit.
 * Takes ownership of nothing. */
int oriel_viewer_app_run(const OrielViewerOptions *options,
                         const OrielViewerConnection *connection);
