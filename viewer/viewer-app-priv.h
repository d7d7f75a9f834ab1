/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The viewer's shared state, for the files of the GTK side only. */
#pragma once

#include "viewer-app.h"

#include <gtk/gtk.h>
#include <spice-client-gtk.h>

#define APP_RUNNING (-1)
/* How long a clean disconnect may take at exit. */
#define DISCONNECT_TIMEOUT_MS 2000
/* How long teardown waits for channels still linking (a loaded server can
 * take seconds). */
#define SETTLE_TIMEOUT_MS 5000
#define ZOOM_MIN 10
#define ZOOM_MAX 400
#define ZOOM_STEP 10

/* An asynchronous refresh running (viewer-app.c). */
typedef struct _ViewerRefresh ViewerRefresh;

typedef struct {
    const OrielViewerOptions *options;
    const OrielViewerConnection *connection;
    OrielViewerConnection *refreshed;  /* owned; connection points here once set */
    GMainLoop *loop;
    gint64 started_us;

    GtkWidget *window;
    GtkWidget *box;
    GtkWidget *menubar;
    GtkWidget *status;
    GtkWidget *display;             /* SpiceDisplay, owned by box */
    GtkAccelGroup *accel_group;
    gboolean fullscreen;

    SpiceSession *session;          /* owned */
    SpiceMainChannel *main_channel; /* borrowed from the session */
    SpiceChannel *display_channel;  /* borrowed: display channel 0 */
    SpiceUsbDeviceManager *usb_manager; /* borrowed from the session */

    guint channels_linking;         /* connected, no open or error yet */
    GMainLoop *settle_loop;         /* while waiting for them at teardown */
    guint settle_timer;
    GMainLoop *disconnect_loop;     /* while the session disconnects */
    guint disconnect_timer;

    gboolean ever_connected;
    gboolean connected;
    gboolean sized;                 /* window sized to the guest once */
    guint frames;
    gboolean screenshot_done;
    gboolean agent_connected;
    gboolean share_cd_done;
    SpiceUsbDevice *cd_device;      /* owned: the shared CD, once it exists */
    gboolean cd_connecting;
    gboolean usbredir_open;
    gboolean usb_autoshare;         /* auto-share this session's new devices */
    gboolean told_to_guest_blocked;
    gboolean told_from_guest_blocked;
    gboolean told_no_audio_backend;

    guint reconnect_attempt;
    gint64 reconnect_deadline_us;   /* 0: none, G_MAXINT64: forever */
    guint reconnect_source;
    ViewerRefresh *refresh;         /* an asynchronous refresh running */
    guint timeout_source;

    GPtrArray *displays;            /* ViewerDisplay: one window each */
    guint frame_idle;               /* the frame checks, once scheduled */

    int exit_code;
} ViewerApp;

/* viewer-app.c */
void viewer_log_event(ViewerApp *app, const char *event, const char *detail);
void viewer_set_status(ViewerApp *app, const char *text);
void viewer_quit(ViewerApp *app, int exit_code, const char *message);
gboolean viewer_save_screenshot(ViewerApp *app, const char *path, GError **error);

/* viewer-window.c: the window, menus and hotkeys */
void viewer_build_window(ViewerApp *app);
/* The window of a display beyond the first: same hotkeys, same full screen. */
void viewer_window_setup_extra(ViewerApp *app, GtkWidget *window);

/* viewer-displays.c: one window per guest display (channel and monitor) */
GtkWidget *viewer_create_display(ViewerApp *app, int channel_id, int monitor_id);
void viewer_displays_watch_channel(ViewerApp *app, SpiceChannel *channel);
void viewer_displays_channel_gone(ViewerApp *app, SpiceChannel *channel);
void viewer_displays_clear(ViewerApp *app);
/* Every display channel has a display and at least @frames updates. */
gboolean viewer_displays_have_frames(ViewerApp *app, guint frames);
/* Calls @func on each display's window but the main one. */
void viewer_displays_foreach_window(ViewerApp *app, GFunc func, gpointer data);
/* Calls @func on each display's SpiceDisplay. */
void viewer_displays_foreach_widget(ViewerApp *app, GFunc func, gpointer data);
/* viewer-app.c: after a display update or a new display */
void viewer_check_frames(ViewerApp *app);

/* viewer-clipboard.c: the clipboard policy on each transfer */
void viewer_clipboard_watch_main(ViewerApp *app, SpiceChannel *main_channel);
void viewer_clipboard_watch_client(ViewerApp *app);
void viewer_clipboard_unwatch_client(ViewerApp *app);

/* viewer-audio.c: the audio backend and the audio channels' events */
void viewer_audio_watch_channel(ViewerApp *app, SpiceChannel *channel);

/* viewer-usb.c: USB redirection and the shared CD */
void viewer_usb_setup(ViewerApp *app);
void viewer_usb_share_cd(ViewerApp *app);
void viewer_usb_watch_channel(ViewerApp *app, SpiceChannel *channel);
void viewer_usb_reset(ViewerApp *app);
void viewer_on_usb_dialog(GtkMenuItem *item, gpointer user_data);
