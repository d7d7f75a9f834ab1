/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* liboriel-viewer: the viewer's pure helpers, linkable without GTK.
 *
 * - connection descriptions from spice:// URIs and virt-viewer .vv files
 *   (read and written);
 * - the clipboard policy applied to each transfer;
 * - hotkey strings (virt-viewer syntax) to GTK accelerators and grab
 *   sequences;
 * - usbredir filter validation, reconnect backoff, exit codes.
 *
 * No function here does I/O except oriel_viewer_vv_load(), which reads the
 * file (or stdin) and honours delete-this-file. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define ORIEL_VIEWER_ERROR (oriel_viewer_error_quark())
GQuark oriel_viewer_error_quark(void);

typedef enum {
    ORIEL_VIEWER_ERROR_INVALID,     /* malformed URI, file or option */
    ORIEL_VIEWER_ERROR_UNSUPPORTED, /* valid, but not something we connect to */
    ORIEL_VIEWER_ERROR_TOO_LARGE,
    ORIEL_VIEWER_ERROR_ENDED,       /* a refresh hook: the session is over, stop reconnecting */
} OrielViewerError;

/* Exit codes of oriel-viewer; stable, scripts and tests rely on them. */
typedef enum {
    ORIEL_VIEWER_EXIT_OK = 0,
    ORIEL_VIEWER_EXIT_FAILURE = 1,   /* usage, bad input, anything else */
    ORIEL_VIEWER_EXIT_AUTH = 2,      /* ticket refused */
    ORIEL_VIEWER_EXIT_REFUSED = 3,   /* could not connect */
    ORIEL_VIEWER_EXIT_TLS = 4,       /* TLS handshake or verification failed */
    ORIEL_VIEWER_EXIT_CLOSED = 5,    /* the session closed and was not resumed */
    ORIEL_VIEWER_EXIT_NO_FRAME = 6,  /* --exit-after-frames: no frame in time */
} OrielViewerExit;

/* Largest .vv file or password file we read: a .vv with a CA bundle is a few
 * KiB; anything near this is not a connection file. */
#define ORIEL_VIEWER_VV_MAX_SIZE (1024 * 1024)

/* Tri-state for settings a .vv file may or may not give. */
typedef enum {
    ORIEL_VIEWER_UNSET = -1,
    ORIEL_VIEWER_OFF = 0,
    ORIEL_VIEWER_ON = 1,
} OrielViewerTristate;

/* Where and how to connect.  A plain settings record: every string is owned
 * and NULL when not given; ports are 0 when not given. */
typedef struct {
    char *host;
    int port;
    int tls_port;
    char *unix_path;
    char *username;
    char *password;
    char *title;
    OrielViewerTristate fullscreen;
    char *ca;                  /* PEM text */
    char *host_subject;
    char *tls_ciphers;
    char **secure_channels;    /* NULL or a NULL-terminated list */
    char **disable_channels;
    char *proxy;
    OrielViewerTristate enable_usbredir;
    OrielViewerTristate enable_usb_autoshare;
    char *usb_filter;
    char *release_cursor;      /* hotkeys, virt-viewer syntax: "shift+f12" */
    char *toggle_fullscreen;
    char *secure_attention;
    char *zoom_in;
    char *zoom_out;
    char *zoom_reset;
    gboolean delete_this_file;
} OrielViewerConnection;

OrielViewerConnection *oriel_viewer_connection_new(void);
void oriel_viewer_connection_free(OrielViewerConnection *connection);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(OrielViewerConnection, oriel_viewer_connection_free)

/* TRUE when @text should be read as a URI rather than a file name. */
gboolean oriel_viewer_looks_like_uri(const char *text);

/* spice://host:port, spice://host?port=P&tls-port=T&password=X,
 * spice+tls://host:port, spice+unix:///path.  IPv6 hosts in brackets. */
OrielViewerConnection *oriel_viewer_connection_parse_uri(const char *uri, GError **error);

/* A short description for status lines and logs, never with the password. */
char *oriel_viewer_connection_describe(const OrielViewerConnection *connection);

/* Parses the [virt-viewer] group of a .vv file.  Unknown keys, x- keys and
 * other groups are ignored. */
OrielViewerConnection *oriel_viewer_vv_parse_data(const char *data, gsize length,
                                                  GError **error);

/* Reads @path ("-" is stdin) and parses it; removes the file afterwards when
 * it says delete-this-file=1 (never stdin). */
OrielViewerConnection *oriel_viewer_vv_load(const char *path, GError **error);

/* Writes @connection as a .vv file; the result parses back to the same
 * settings. */
char *oriel_viewer_vv_to_data(const OrielViewerConnection *connection, gsize *length);

/* Clipboard policy, applied per transfer. */
typedef enum {
    ORIEL_CLIPBOARD_BOTH,
    ORIEL_CLIPBOARD_TO_GUEST,
    ORIEL_CLIPBOARD_FROM_GUEST,
    ORIEL_CLIPBOARD_OFF,
} OrielClipboardPolicy;

typedef enum {
    ORIEL_CLIPBOARD_DIRECTION_TO_GUEST,
    ORIEL_CLIPBOARD_DIRECTION_FROM_GUEST,
} OrielClipboardDirection;

/* Same numbering as VD_AGENT_CLIPBOARD_SELECTION_*. */
typedef enum {
    ORIEL_SELECTION_CLIPBOARD = 0,
    ORIEL_SELECTION_PRIMARY = 1,
    ORIEL_SELECTION_SECONDARY = 2,
} OrielSelection;

gboolean oriel_clipboard_policy_parse(const char *text, OrielClipboardPolicy *policy,
                                      GError **error);
const char *oriel_clipboard_policy_to_string(OrielClipboardPolicy policy);
/* Whether a transfer of @selection in @direction may happen.  PRIMARY only
 * with @primary_enabled; SECONDARY never. */
gboolean oriel_clipboard_allows(OrielClipboardPolicy policy, gboolean primary_enabled,
                                OrielClipboardDirection direction, guint selection);

/* "ctrl+alt+f11" -> "<Control><Alt>F11" (gtk_accelerator_parse syntax). */
char *oriel_viewer_hotkey_to_accel(const char *hotkey, GError **error);
/* "ctrl+alt" -> "Control_L+Alt_L" (spice_grab_sequence_new_from_string). */
char *oriel_viewer_hotkey_to_grab_keys(const char *hotkey, GError **error);

/* usbredir filter rules "class,vendor,product,version,allow|...". */
#define ORIEL_VIEWER_DEFAULT_USB_FILTER "0x03,-1,-1,-1,0|-1,-1,-1,-1,1"
gboolean oriel_viewer_usb_filter_validate(const char *rules, GError **error);

/* viewer.conf: a [viewer] group whose keys are long option names
 * ("clipboard = to-guest", "kiosk = true").  Returns the equivalent
 * command-line arguments, to go before the real ones so that those win.
 * Unknown keys are an error naming @origin. */
char **oriel_viewer_config_to_args(const char *data, gsize length, const char *origin,
                                   GError **error);

/* Delay before reconnect attempt @attempt (0-based): 250 ms doubling up to
 * 4 s. */
guint oriel_viewer_backoff_delay_ms(guint attempt);

/* Where display @display's screenshot goes: @path itself for display 0,
 * else @path with -N before the file name's extension (shot.png ->
 * shot-1.png; shot -> shot-1). */
char *oriel_viewer_display_file_name(const char *path, guint display);

/* Whether newly plugged USB devices are redirected (filtered by the usb
 * filter): on unless --no-usb-autoshare (@command_line FALSE), the file's
 * enable-usb-autoshare=0 or enable-usbredir=0, as remote-viewer. */
gboolean oriel_viewer_usb_autoshare(gboolean command_line,
                                    const OrielViewerConnection *connection);

G_END_DECLS
