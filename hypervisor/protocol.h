/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * orield's wire protocol, without I/O: one JSON object per line, QMP-like.
 *
 *   request  {"execute": "domain-start", "arguments": {"name": "d"}, "id": 7}
 *   reply    {"return": {...}, "id": 7}
 *   error    {"error": {"class": "NotFound", "desc": "..."}, "id": 7}
 *   event    {"event": "DOMAIN_STATE", "data": {...},
 *             "timestamp": {"seconds": S, "microseconds": US}}
 *
 * The decoder takes whatever bytes a client sent, in any split, and yields
 * one decoded request or one protocol error per line.  Lines are capped at
 * ORIEL_HV_MAX_LINE bytes: a longer line yields one TooLarge error and is
 * skipped up to its newline, so the connection stays usable.  The decoder
 * never buffers more than ORIEL_HV_MAX_LINE bytes.  "id" may be any JSON
 * scalar and is echoed back as it came.
 */
#pragma once

#include <glib.h>
#include <json-glib/json-glib.h>

G_BEGIN_DECLS

#define ORIEL_HV_MAX_LINE (1024 * 1024)
#define ORIEL_HV_MAX_DEPTH 64
#define ORIEL_HV_MAX_COMMAND_NAME 64

/* Error classes on the wire; the GError code in ORIEL_HV_ERROR. */
typedef enum {
    ORIEL_HV_ERROR_GENERIC,           /* "GenericError" */
    ORIEL_HV_ERROR_PARSE,             /* "ParseError": not JSON */
    ORIEL_HV_ERROR_INVALID_REQUEST,   /* "InvalidRequest": JSON, but not a request */
    ORIEL_HV_ERROR_TOO_LARGE,         /* "TooLarge": the line is over the limit */
    ORIEL_HV_ERROR_COMMAND_NOT_FOUND, /* "CommandNotFound" */
    ORIEL_HV_ERROR_INVALID_ARGUMENT,  /* "InvalidArgument": missing or wrong type */
    ORIEL_HV_ERROR_NOT_FOUND,         /* "NotFound": no such domain */
    ORIEL_HV_ERROR_EXISTS,            /* "Exists": the name is taken */
    ORIEL_HV_ERROR_INVALID_STATE,     /* "InvalidState": e.g. pausing a paused domain */
    ORIEL_HV_ERROR_PERMISSION_DENIED, /* "PermissionDenied" */
    ORIEL_HV_ERROR_UNSUPPORTED,       /* "Unsupported": not on this host */
} OrielHvError;

#define ORIEL_HV_ERROR (oriel_hv_error_quark())
GQuark oriel_hv_error_quark(void);

const char *oriel_hv_error_to_class(OrielHvError code);
/* GENERIC for an unknown class (or NULL). */
OrielHvError oriel_hv_error_from_class(const char *error_class);

typedef struct {
    char *execute;          /* the command name */
    JsonObject *arguments;  /* never NULL (empty when absent) */
    JsonNode *id;           /* NULL when absent */
} OrielHvRequest;

void oriel_hv_request_free(OrielHvRequest *request);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(OrielHvRequest, oriel_hv_request_free)

/*
 * Decodes one line (without its newline).  On failure sets @error (domain
 * ORIEL_HV_ERROR) and, when the line was a JSON object with a usable "id",
 * @ret_id (nullable) so the error reply can carry it.
 */
OrielHvRequest *oriel_hv_request_decode(const char *line, gsize length, JsonNode **ret_id,
                                        GError **error);

/*
 * Called once per line: either @request (borrowed for the call) or @error
 * and, possibly, the @id the failing line carried (borrowed, may be NULL).
 */
typedef void (*OrielHvDecodedFunc)(const OrielHvRequest *request, const GError *error,
                                   JsonNode *id, gpointer user_data);

typedef struct _OrielHvDecoder OrielHvDecoder;

OrielHvDecoder *oriel_hv_decoder_new(void);
void oriel_hv_decoder_free(OrielHvDecoder *decoder);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(OrielHvDecoder, oriel_hv_decoder_free)

/* Feeds bytes; calls @func for every complete line.  Blank lines are
 * skipped; a trailing "\r" is dropped. */
void oriel_hv_decoder_feed(OrielHvDecoder *decoder, const guint8 *data, gsize length,
                           OrielHvDecodedFunc func, gpointer user_data);
/* Bytes held for an incomplete line. */
gsize oriel_hv_decoder_pending(OrielHvDecoder *decoder);

/* Encoders: each returns one line, with its trailing "\n".  A request is
 * a QMP command on the wire: clients encode it with
 * oriel_qmp_codec_encode_command() (qmp-codec.h). */
char *oriel_hv_encode_return(JsonNode *id, JsonNode *value);
char *oriel_hv_encode_error(JsonNode *id, OrielHvError code, const char *desc);
char *oriel_hv_encode_event(const char *event, JsonObject *data, gint64 timestamp_us);

G_END_DECLS
