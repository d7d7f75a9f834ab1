/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Audio: spice-gtk's audio backend (GStreamer, which plays and records on
 * the client's PulseAudio) serves the playback and record channels; the
 * guest's volume and mute reach it through the same channels.  Here: the
 * backend created once per session, and the machine-readable events of
 * each stream, with the bytes the playback channel carried (what the
 * latency benchmark reports as bandwidth).
 */
#define G_LOG_DOMAIN "oriel-viewer"

#include "viewer-app-priv.h"

#define STREAM_KEY "oriel-audio-stream"

typedef struct {
    ViewerApp *app;
    gint64 started_us;
    gulong bytes_at_start;
} AudioStream;

static gulong
channel_read_bytes(SpiceChannel *channel)
{
    gulong bytes = 0;

    g_object_get(channel, "total-read-bytes", &bytes, NULL);
    return bytes;
}

static void
on_stream_start(SpiceChannel *channel, gint format, gint channels, gint rate, gpointer user_data)
{
    AudioStream *stream = user_data;
    const char *event = SPICE_IS_PLAYBACK_CHANNEL(channel) ? "playback-start" : "record-start";
    g_autofree char *detail = g_strdup_printf("%dHz,%dch", rate, channels);

    stream->started_us = g_get_monotonic_time();
    stream->bytes_at_start = channel_read_bytes(channel);
    viewer_log_event(stream->app, event, detail);
}

static void
on_stream_stop(SpiceChannel *channel, gpointer user_data)
{
    AudioStream *stream = user_data;
    g_autofree char *detail = NULL;

    if (SPICE_IS_PLAYBACK_CHANNEL(channel)) {
        gint64 elapsed_ms = (g_get_monotonic_time() - stream->started_us) / 1000;
        detail = g_strdup_printf("bytes=%lu,ms=%" G_GINT64_FORMAT,
                                 channel_read_bytes(channel) - stream->bytes_at_start, elapsed_ms);
        viewer_log_event(stream->app, "playback-stop", detail);
    } else {
        viewer_log_event(stream->app, "record-stop", NULL);
    }
}

void
viewer_audio_watch_channel(ViewerApp *app, SpiceChannel *channel)
{
    AudioStream *stream = g_new0(AudioStream, 1);

    /* Once per session: the backend then serves every audio channel. */
    if (!spice_audio_get(app->session, NULL)) {
        if (!app->told_no_audio_backend)
            g_printerr("oriel-viewer: no audio backend in spice-gtk; the session has no sound\n");
        app->told_no_audio_backend = TRUE;
    }
    stream->app = app;
    g_object_set_data_full(G_OBJECT(channel), STREAM_KEY, stream, g_free);
    if (SPICE_IS_PLAYBACK_CHANNEL(channel)) {
        g_signal_connect(channel, "playback-start", G_CALLBACK(on_stream_start), stream);
        g_signal_connect(channel, "playback-stop", G_CALLBACK(on_stream_stop), stream);
    } else {
        g_signal_connect(channel, "record-start", G_CALLBACK(on_stream_start), stream);
        g_signal_connect(channel, "record-stop", G_CALLBACK(on_stream_stop), stream);
    }
}
