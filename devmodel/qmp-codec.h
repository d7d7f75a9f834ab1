/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The QMP codec: turns the byte stream QEMU's monitor sends into typed
 * messages, and commands into the bytes QEMU expects.  It does no I/O; the
 * caller feeds it whatever it read, in any split (byte by byte, or many
 * messages per read), and gets one callback per message.
 *
 * QEMU sends one JSON object per line, terminated by "\r\n".  The codec
 * splits on "\n", drops a trailing "\r" and ignores blank lines.  Everything
 * the peer sends is untrusted: a line longer than ORIEL_QMP_MAX_LINE bytes,
 * JSON nested deeper than ORIEL_QMP_MAX_DEPTH, invalid UTF-8, malformed JSON,
 * a value that is not an object, more than one value on a line, or an object
 * that is neither a greeting, a reply nor an event is an error.  After an
 * error the stream is dead: every further oriel_qmp_codec_feed() fails.
 * The codec never buffers more than ORIEL_QMP_MAX_LINE + 1 bytes.
 *
 * Ownership: see OrielQmpMessage and oriel_qmp_codec_feed().
 */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

#define ORIEL_QMP_MAX_LINE (1024 * 1024) /* bytes of one message, without "\r\n" */
#define ORIEL_QMP_MAX_DEPTH 1024         /* JSON nesting, as QEMU's own parser */

#define ORIEL_QMP_ERROR (oriel_qmp_error_quark())
GQuark oriel_qmp_error_quark(void);

/* The first five mirror QEMU's QMP error classes (qapi/error.json). */
typedef enum {
    ORIEL_QMP_ERROR_GENERIC_ERROR,     /* "GenericError" */
    ORIEL_QMP_ERROR_COMMAND_NOT_FOUND, /* "CommandNotFound" */
    ORIEL_QMP_ERROR_DEVICE_NOT_ACTIVE, /* "DeviceNotActive" */
    ORIEL_QMP_ERROR_DEVICE_NOT_FOUND,  /* "DeviceNotFound" */
    ORIEL_QMP_ERROR_KVM_MISSING_CAP,   /* "KVMMissingCap" */
    ORIEL_QMP_ERROR_UNKNOWN_CLASS,     /* an error class this code does not know */
    ORIEL_QMP_ERROR_PROTOCOL,          /* the peer sent something that is not QMP */
    ORIEL_QMP_ERROR_TIMEOUT,           /* no reply within the command's timeout */
    ORIEL_QMP_ERROR_DISCONNECTED,      /* the connection ended before the reply */
} OrielQmpError;

/* Maps a QMP error class name ("DeviceNotFound") to its code;
 * ORIEL_QMP_ERROR_UNKNOWN_CLASS for anything else, including NULL. */
OrielQmpError oriel_qmp_error_from_class(const char *error_class);

typedef enum {
    ORIEL_QMP_MESSAGE_GREETING, /* {"QMP": {"version": ..., "capabilities": [...]}} */
    ORIEL_QMP_MESSAGE_RETURN,   /* {"return": ..., "id": ...} */
    ORIEL_QMP_MESSAGE_ERROR,    /* {"error": {"class": ..., "desc": ...}, "id": ...} */
    ORIEL_QMP_MESSAGE_EVENT,    /* {"event": ..., "data": {...}, "timestamp": {...}} */
} OrielQmpMessageKind;

/*
 * One decoded message.  Only the codec creates it, and it is borrowed: the
 * struct and everything it points to live until the callback returns.  To
 * keep a piece, take a reference (json_node_ref(), json_object_ref()) or a
 * copy (g_strdup()).  Members that do not apply to the kind are NULL / 0.
 */
typedef struct {
    OrielQmpMessageKind kind;
    JsonObject *object; /* the whole message, never NULL */

    /* RETURN and ERROR.  QMP echoes any JSON value as "id"; has_id is TRUE
     * only when the message has an integer "id".  QEMU sends an ERROR
     * without id when it could not parse a command. */
    gboolean has_id;
    gint64 id;

    /* RETURN: the "return" member, any JSON type, never NULL. */
    JsonNode *return_value;

    /* ERROR: both never NULL. */
    const char *error_class; /* "GenericError", "CommandNotFound", ... */
    const char *error_desc;  /* human-readable text from QEMU */

    /* EVENT */
    const char *event;   /* "SHUTDOWN", "STOP", ...; never NULL */
    JsonObject *data;    /* the "data" member; never NULL (empty when absent) */
    gint64 timestamp_us; /* microseconds since the epoch; -1 when absent or invalid */

    /* GREETING: QEMU's version; -1 when the greeting does not say. */
    gint64 qemu_major;
    gint64 qemu_minor;
    gint64 qemu_micro;
} OrielQmpMessage;

/* Called once per decoded message, from inside oriel_qmp_codec_feed().  It
 * must not free the codec. */
typedef void (*OrielQmpCodecCallback)(const OrielQmpMessage *message, gpointer user_data);

typedef struct OrielQmpCodec OrielQmpCodec;

OrielQmpCodec *oriel_qmp_codec_new(OrielQmpCodecCallback callback, gpointer user_data);
void oriel_qmp_codec_free(OrielQmpCodec *codec); /* NULL-safe */
G_DEFINE_AUTOPTR_CLEANUP_FUNC(OrielQmpCodec, oriel_qmp_codec_free)

/*
 * Feeds @len bytes of @buf (borrowed; not kept after the call returns, need
 * not be NUL-terminated).  Complete lines are decoded and handed to the
 * callback in order before this returns; an incomplete last line is
 * buffered until the next feed.  Returns FALSE with @error set
 * (ORIEL_QMP_ERROR_PROTOCOL) on the first bad message; messages before it
 * on the same feed have already been delivered, nothing after it is.
 */
gboolean oriel_qmp_codec_feed(OrielQmpCodec *codec, const char *buf, gsize len, GError **error);

/* Bytes of an incomplete line waiting for more input. */
gsize oriel_qmp_codec_get_buffered(const OrielQmpCodec *codec);

/*
 * Encodes one command as a single line, "\n"-terminated:
 * {"execute": COMMAND, "arguments": ARGUMENTS, "id": ID}
 * @arguments may be NULL (no "arguments" member); it is borrowed, not
 * consumed.  Returns a newly allocated NUL-terminated string; free with
 * g_free().
 */
char *oriel_qmp_codec_encode_command(const char *command, JsonObject *arguments, gint64 id);

G_END_DECLS
