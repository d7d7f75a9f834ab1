/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Audio: the playback and record channels on the client's PulseAudio.
 *
 * spice-gtk 0.42's own backend (GStreamer) sets its playback pipeline to
 * READY the moment the guest stops a stream, which throws away what is
 * still buffered (a one-second tone measured 0.79-0.86 s with
 * remote-viewer), and applies the guest's volume and mute only to a
 * pipeline that exists already (a muted guest's first sound plays at full
 * volume).  So the viewer plays and records with
 * libpulse itself: a playback stream per guest stream that drains to its
 * end, a record stream whose fragments go to the record channel, and the
 * guest's volume and mute applied to each.  When no PulseAudio answers,
 * spice-gtk's backend takes over.
 *
 * One ViewerAudio per SpiceSession, freed with it.  It also logs the
 * machine-readable stream events, with the bytes the playback channel
 * carried (what the latency benchmark reports as bandwidth).
 */
#define G_LOG_DOMAIN "oriel-viewer"

#include "viewer-app-priv.h"

#include <pulse/glib-mainloop.h>
#include <pulse/pulseaudio.h>

#define AUDIO_KEY "oriel-audio"
/* Guest audio queued while the PulseAudio stream is being set up. */
#define PENDING_MAX_BYTES (2u * 48000u * 2u * 2u)
/* Target buffering on the client side. */
#define PLAYBACK_TARGET_MS 100u
#define RECORD_FRAGMENT_MS 20u
#define DELAY_REPORT_US G_USEC_PER_SEC

typedef struct {
    ViewerApp *app;
    SpiceSession *session;           /* borrowed: we live as its data */
    pa_glib_mainloop *mainloop;
    pa_context *context;
    gboolean failed;                 /* no PulseAudio: spice-gtk's backend took over */

    SpiceChannel *playback;          /* weak */
    SpiceChannel *record;            /* weak */

    pa_stream *play_stream;
    pa_sample_spec play_spec;
    GByteArray *play_pending;        /* data that came before the stream was ready */
    gboolean playing;                /* between playback-start and -stop */
    gint64 play_started_us;
    gulong play_bytes_at_start;
    gint64 delay_reported_us;

    pa_stream *record_stream;
    pa_sample_spec record_spec;
    gboolean recording;
} ViewerAudio;

static gboolean
context_ready(ViewerAudio *audio)
{
    return !audio->failed && audio->context && pa_context_get_state(audio->context) == PA_CONTEXT_READY;
}

static gulong
channel_read_bytes(SpiceChannel *channel)
{
    gulong bytes = 0;

    g_object_get(channel, "total-read-bytes", &bytes, NULL);
    return bytes;
}

/* The guest's volume (0..65535 per channel) and mute of a SPICE channel. */
static void
guest_volume(SpiceChannel *channel, const pa_sample_spec *spec, pa_cvolume *ret_volume,
             gboolean *ret_mute)
{
    guint16 *volume = NULL; /* the channel's own array: a pointer property */
    guint nchannels = 0;
    gboolean mute = FALSE;

    g_object_get(channel, "volume", &volume, "nchannels", &nchannels, "mute", &mute, NULL);
    pa_cvolume_init(ret_volume);
    ret_volume->channels = spec->channels;
    for (guint i = 0; i < spec->channels; i++) {
        /* Until the guest says otherwise, full volume. */
        guint16 v = volume && nchannels > 0 ? volume[MIN(i, nchannels - 1)] : G_MAXUINT16;
        ret_volume->values[i] = (pa_volume_t)((guint64)v * PA_VOLUME_NORM / G_MAXUINT16);
    }
    *ret_mute = mute;
}

/* Sets STREAM's volume and mute in PulseAudio to the guest's. */
static void
apply_guest_volume(ViewerAudio *audio, SpiceChannel *channel, pa_stream *stream)
{
    uint32_t index = pa_stream_get_index(stream);
    pa_operation *volume_op, *mute_op;
    pa_cvolume volume;
    gboolean mute;

    guest_volume(channel, pa_stream_get_sample_spec(stream), &volume, &mute);
    g_debug("%s: guest volume %u, mute %d", SPICE_IS_PLAYBACK_CHANNEL(channel) ? "playback" : "record",
            pa_cvolume_max(&volume), mute);
    if (SPICE_IS_PLAYBACK_CHANNEL(channel)) {
        volume_op = pa_context_set_sink_input_volume(audio->context, index, &volume, NULL, NULL);
        mute_op = pa_context_set_sink_input_mute(audio->context, index, mute, NULL, NULL);
    } else {
        volume_op = pa_context_set_source_output_volume(audio->context, index, &volume, NULL, NULL);
        mute_op = pa_context_set_source_output_mute(audio->context, index, mute, NULL, NULL);
    }
    if (volume_op)
        pa_operation_unref(volume_op);
    if (mute_op)
        pa_operation_unref(mute_op);
}

/* ---- playback ------------------------------------------------------- */

static void
play_stream_drop(ViewerAudio *audio)
{
    if (!audio->play_stream)
        return;
    g_debug("playback: stream closed");
    pa_stream_set_state_callback(audio->play_stream, NULL, NULL);
    pa_stream_disconnect(audio->play_stream);
    pa_stream_unref(audio->play_stream);
    audio->play_stream = NULL;
}

static void
play_write(ViewerAudio *audio, const void *data, gsize size)
{
    if (audio->play_stream && pa_stream_get_state(audio->play_stream) == PA_STREAM_READY) {
        if (pa_stream_write(audio->play_stream, data, size, NULL, 0, PA_SEEK_RELATIVE) < 0)
            g_debug("playback: %s", pa_strerror(pa_context_errno(audio->context)));
        return;
    }
    /* Bounded: a stream that never gets ready must not eat memory. */
    if (audio->play_pending->len + size <= PENDING_MAX_BYTES)
        g_byte_array_append(audio->play_pending, data, (guint)size);
}

static void
report_delay(ViewerAudio *audio)
{
    pa_usec_t latency = 0;
    int negative = 0;
    gint64 now = g_get_monotonic_time();

    if (!audio->playback || !audio->play_stream ||
        pa_stream_get_state(audio->play_stream) != PA_STREAM_READY ||
        now - audio->delay_reported_us < DELAY_REPORT_US ||
        pa_stream_get_latency(audio->play_stream, &latency, &negative) < 0)
        return;
    audio->delay_reported_us = now;
    /* For lip sync: the server delays video by what we buffer. */
    spice_playback_channel_set_delay(SPICE_PLAYBACK_CHANNEL(audio->playback),
                                     negative ? 0 : (guint32)(latency / 1000));
}

static void
on_play_stream_state(pa_stream *stream, void *user_data)
{
    ViewerAudio *audio = user_data;

    switch (pa_stream_get_state(stream)) {
    case PA_STREAM_READY:
        g_debug("playback: stream ready, %u bytes pending", audio->play_pending->len);
        if (audio->play_pending->len > 0) {
            pa_stream_write(stream, audio->play_pending->data, audio->play_pending->len, NULL, 0,
                            PA_SEEK_RELATIVE);
            g_byte_array_set_size(audio->play_pending, 0);
        }
        break;
    case PA_STREAM_FAILED:
        g_printerr("oriel-viewer: audio playback: %s\n", pa_strerror(pa_context_errno(audio->context)));
        play_stream_drop(audio);
        break;
    default:
        break;
    }
}

static void
play_stream_create(ViewerAudio *audio)
{
    pa_buffer_attr attr = {
        .maxlength = (uint32_t)-1,
        .tlength = (uint32_t)pa_usec_to_bytes(PLAYBACK_TARGET_MS * PA_USEC_PER_MSEC, &audio->play_spec),
        .prebuf = (uint32_t)-1,
        .minreq = (uint32_t)-1,
        .fragsize = (uint32_t)-1,
    };
    pa_cvolume volume;
    gboolean mute;
    pa_stream_flags_t flags = PA_STREAM_ADJUST_LATENCY | PA_STREAM_INTERPOLATE_TIMING |
                              PA_STREAM_AUTO_TIMING_UPDATE;

    guest_volume(audio->playback, &audio->play_spec, &volume, &mute);
    flags |= mute ? PA_STREAM_START_MUTED : PA_STREAM_START_UNMUTED;
    audio->play_stream = pa_stream_new(audio->context, "Guest playback", &audio->play_spec, NULL);
    if (!audio->play_stream) {
        g_printerr("oriel-viewer: audio playback: %s\n", pa_strerror(pa_context_errno(audio->context)));
        return;
    }
    pa_stream_set_state_callback(audio->play_stream, on_play_stream_state, audio);
    if (pa_stream_connect_playback(audio->play_stream, NULL, &attr, flags, &volume, NULL) < 0) {
        g_printerr("oriel-viewer: audio playback: %s\n", pa_strerror(pa_context_errno(audio->context)));
        play_stream_drop(audio);
    }
}

static void
on_drained(pa_stream *stream, int success, void *user_data)
{
    ViewerAudio *audio = user_data;

    g_debug("playback: drained (%s)", audio->playing ? "playing again" : "idle");
    /* The guest may have started again meanwhile: then the stream lives on. */
    if (stream == audio->play_stream && !audio->playing)
        play_stream_drop(audio);
}

static void
on_playback_start(SpicePlaybackChannel *channel, gint format, gint channels, gint rate,
                  gpointer user_data)
{
    ViewerAudio *audio = user_data;
    g_autofree char *detail = g_strdup_printf("%dHz,%dch", rate, channels);

    audio->playing = TRUE;
    audio->play_started_us = g_get_monotonic_time();
    audio->play_bytes_at_start = channel_read_bytes(SPICE_CHANNEL(channel));
    viewer_log_event(audio->app, "playback-start", detail);
    if (audio->failed)
        return;
    if (format != SPICE_AUDIO_FMT_S16 || channels < 1 || (guint)channels > PA_CHANNELS_MAX || rate < 1 ||
        (guint)rate > PA_RATE_MAX) {
        g_printerr("oriel-viewer: audio playback: unsupported format %d, %d channels, %d Hz\n",
                   format, channels, rate);
        audio->playing = FALSE;
        play_stream_drop(audio);
        return;
    }
    pa_sample_spec spec = { .format = PA_SAMPLE_S16LE, .rate = (uint32_t)rate, .channels = (uint8_t)channels };
    /* A stream still draining the previous sound is reused when it fits. */
    if (audio->play_stream && !pa_sample_spec_equal(&spec, &audio->play_spec))
        play_stream_drop(audio);
    audio->play_spec = spec;
    g_byte_array_set_size(audio->play_pending, 0);
    if (audio->play_stream)
        g_debug("playback: reusing the stream");
    else if (context_ready(audio))
        play_stream_create(audio);
}

static void
on_playback_data(SpicePlaybackChannel *channel, gpointer data, gint size, gpointer user_data)
{
    ViewerAudio *audio = user_data;

    if (audio->failed || size <= 0 || !audio->playing)
        return;
    play_write(audio, data, (gsize)size);
    report_delay(audio);
}

static void
on_playback_stop(SpicePlaybackChannel *channel, gpointer user_data)
{
    ViewerAudio *audio = user_data;
    g_autofree char *detail = g_strdup_printf(
        "bytes=%lu,ms=%" G_GINT64_FORMAT,
        channel_read_bytes(SPICE_CHANNEL(channel)) - audio->play_bytes_at_start,
        (g_get_monotonic_time() - audio->play_started_us) / 1000);

    /* spice-gtk also signals a stop when the channel resets while idle. */
    if (!audio->playing)
        return;
    audio->playing = FALSE;
    viewer_log_event(audio->app, "playback-stop", detail);
    if (!audio->play_stream)
        return;
    if (pa_stream_get_state(audio->play_stream) != PA_STREAM_READY) {
        play_stream_drop(audio);
        return;
    }
    /* Let what is buffered play out. */
    pa_operation *operation = pa_stream_drain(audio->play_stream, on_drained, audio);
    if (operation)
        pa_operation_unref(operation);
    else
        play_stream_drop(audio);
}

/* ---- record --------------------------------------------------------- */

static void
record_stream_drop(ViewerAudio *audio)
{
    if (!audio->record_stream)
        return;
    pa_stream_set_state_callback(audio->record_stream, NULL, NULL);
    pa_stream_set_read_callback(audio->record_stream, NULL, NULL);
    pa_stream_disconnect(audio->record_stream);
    pa_stream_unref(audio->record_stream);
    audio->record_stream = NULL;
}

static void
on_record_read(pa_stream *stream, size_t nbytes, void *user_data)
{
    ViewerAudio *audio = user_data;
    const void *data = NULL;
    size_t size = 0;

    while (pa_stream_readable_size(stream) > 0) {
        if (pa_stream_peek(stream, &data, &size) < 0 || size == 0)
            return;
        /* A hole (data NULL) is lost input: nothing to send. */
        if (data && audio->record && audio->recording)
            spice_record_channel_send_data(SPICE_RECORD_CHANNEL(audio->record), (gpointer)data,
                                           size, 0);
        pa_stream_drop(stream);
    }
}

static void
on_record_stream_state(pa_stream *stream, void *user_data)
{
    ViewerAudio *audio = user_data;

    if (pa_stream_get_state(stream) == PA_STREAM_READY && audio->record) {
        /* The guest's capture volume and mute scale what it hears. */
        apply_guest_volume(audio, audio->record, stream);
    } else if (pa_stream_get_state(stream) == PA_STREAM_FAILED) {
        g_printerr("oriel-viewer: audio record: %s\n", pa_strerror(pa_context_errno(audio->context)));
        record_stream_drop(audio);
    }
}

static void
record_stream_create(ViewerAudio *audio)
{
    pa_buffer_attr attr = {
        .maxlength = (uint32_t)-1,
        .fragsize = (uint32_t)pa_usec_to_bytes(RECORD_FRAGMENT_MS * PA_USEC_PER_MSEC, &audio->record_spec),
    };
    audio->record_stream = pa_stream_new(audio->context, "Guest record", &audio->record_spec, NULL);
    if (!audio->record_stream) {
        g_printerr("oriel-viewer: audio record: %s\n", pa_strerror(pa_context_errno(audio->context)));
        return;
    }
    pa_stream_set_state_callback(audio->record_stream, on_record_stream_state, audio);
    pa_stream_set_read_callback(audio->record_stream, on_record_read, audio);
    if (pa_stream_connect_record(audio->record_stream, NULL, &attr, PA_STREAM_ADJUST_LATENCY) < 0) {
        g_printerr("oriel-viewer: audio record: %s\n", pa_strerror(pa_context_errno(audio->context)));
        record_stream_drop(audio);
    }
}

static void
on_record_start(SpiceRecordChannel *channel, gint format, gint channels, gint rate, gpointer user_data)
{
    ViewerAudio *audio = user_data;
    g_autofree char *detail = g_strdup_printf("%dHz,%dch", rate, channels);

    audio->recording = TRUE;
    viewer_log_event(audio->app, "record-start", detail);
    if (audio->failed)
        return;
    if (format != SPICE_AUDIO_FMT_S16 || channels < 1 || (guint)channels > PA_CHANNELS_MAX || rate < 1 ||
        (guint)rate > PA_RATE_MAX) {
        g_printerr("oriel-viewer: audio record: unsupported format %d, %d channels, %d Hz\n",
                   format, channels, rate);
        audio->recording = FALSE;
        record_stream_drop(audio);
        return;
    }
    record_stream_drop(audio);
    audio->record_spec = (pa_sample_spec){ .format = PA_SAMPLE_S16LE, .rate = (uint32_t)rate,
                                           .channels = (uint8_t)channels };
    if (context_ready(audio))
        record_stream_create(audio);
}

static void
on_record_stop(SpiceRecordChannel *channel, gpointer user_data)
{
    ViewerAudio *audio = user_data;

    if (!audio->recording)
        return;
    audio->recording = FALSE;
    viewer_log_event(audio->app, "record-stop", NULL);
    record_stream_drop(audio);
}

/* ---- volume and mute ------------------------------------------------- */

static void
on_guest_volume(GObject *object, GParamSpec *pspec, gpointer user_data)
{
    ViewerAudio *audio = user_data;
    SpiceChannel *channel = SPICE_CHANNEL(object);
    pa_stream *stream = SPICE_IS_PLAYBACK_CHANNEL(channel) ? audio->play_stream : audio->record_stream;

    if (audio->failed || !stream || pa_stream_get_state(stream) != PA_STREAM_READY)
        return;
    apply_guest_volume(audio, channel, stream);
}

/* ---- the PulseAudio connection ---------------------------------------- */

static void
fall_back_to_spice_gtk(ViewerAudio *audio)
{
    if (audio->failed)
        return;
    audio->failed = TRUE;
    play_stream_drop(audio);
    record_stream_drop(audio);
    /* spice-gtk's backend connects itself to the session's audio channels. */
    if (!spice_audio_get(audio->session, NULL) && !audio->app->told_no_audio_backend) {
        audio->app->told_no_audio_backend = TRUE;
        g_printerr("oriel-viewer: no audio backend; the session has no sound\n");
    }
}

static void
on_context_state(pa_context *context, void *user_data)
{
    ViewerAudio *audio = user_data;

    switch (pa_context_get_state(context)) {
    case PA_CONTEXT_READY:
        g_debug("audio: connected to PulseAudio %s", pa_context_get_server(context));
        /* A stream the guest started while we connected. */
        if (audio->playing && !audio->play_stream && audio->play_spec.rate > 0)
            play_stream_create(audio);
        if (audio->recording && !audio->record_stream && audio->record_spec.rate > 0)
            record_stream_create(audio);
        break;
    case PA_CONTEXT_FAILED:
    case PA_CONTEXT_TERMINATED:
        g_debug("audio: PulseAudio: %s", pa_strerror(pa_context_errno(context)));
        fall_back_to_spice_gtk(audio);
        break;
    default:
        break;
    }
}

static void
viewer_audio_free(gpointer data)
{
    ViewerAudio *audio = data;

    if (audio->playback) {
        g_signal_handlers_disconnect_by_data(audio->playback, audio);
        g_object_remove_weak_pointer(G_OBJECT(audio->playback), (gpointer *)&audio->playback);
    }
    if (audio->record) {
        g_signal_handlers_disconnect_by_data(audio->record, audio);
        g_object_remove_weak_pointer(G_OBJECT(audio->record), (gpointer *)&audio->record);
    }
    play_stream_drop(audio);
    record_stream_drop(audio);
    if (audio->context) {
        pa_context_set_state_callback(audio->context, NULL, NULL);
        pa_context_disconnect(audio->context);
        pa_context_unref(audio->context);
    }
    if (audio->mainloop)
        pa_glib_mainloop_free(audio->mainloop);
    g_byte_array_unref(audio->play_pending);
    g_free(audio);
}

static ViewerAudio *
viewer_audio_get(ViewerApp *app, SpiceSession *session)
{
    ViewerAudio *audio = g_object_get_data(G_OBJECT(session), AUDIO_KEY);
    pa_proplist *props;

    if (audio)
        return audio;
    audio = g_new0(ViewerAudio, 1);
    audio->app = app;
    audio->session = session;
    audio->play_pending = g_byte_array_new();
    g_object_set_data_full(G_OBJECT(session), AUDIO_KEY, audio, viewer_audio_free);

    audio->mainloop = pa_glib_mainloop_new(NULL);
    props = pa_proplist_new();
    pa_proplist_sets(props, PA_PROP_APPLICATION_NAME, "oriel-viewer");
    pa_proplist_sets(props, PA_PROP_APPLICATION_ID, "org.oriel.Viewer");
    pa_proplist_sets(props, PA_PROP_MEDIA_ROLE, "game"); /* a remote desktop: low latency */
    audio->context = pa_context_new_with_proplist(pa_glib_mainloop_get_api(audio->mainloop),
                                                  "oriel-viewer", props);
    pa_proplist_free(props);
    if (!audio->context) {
        fall_back_to_spice_gtk(audio);
        return audio;
    }
    pa_context_set_state_callback(audio->context, on_context_state, audio);
    /* A viewer does not start a sound server of its own. */
    if (pa_context_connect(audio->context, NULL, PA_CONTEXT_NOAUTOSPAWN, NULL) < 0)
        fall_back_to_spice_gtk(audio);
    return audio;
}

void
viewer_audio_watch_channel(ViewerApp *app, SpiceChannel *channel)
{
    ViewerAudio *audio = viewer_audio_get(app, app->session);

    if (SPICE_IS_PLAYBACK_CHANNEL(channel)) {
        if (audio->playback)
            return;
        audio->playback = channel;
        g_object_add_weak_pointer(G_OBJECT(channel), (gpointer *)&audio->playback);
        g_signal_connect(channel, "playback-start", G_CALLBACK(on_playback_start), audio);
        g_signal_connect(channel, "playback-data", G_CALLBACK(on_playback_data), audio);
        g_signal_connect(channel, "playback-stop", G_CALLBACK(on_playback_stop), audio);
    } else {
        if (audio->record)
            return;
        audio->record = channel;
        g_object_add_weak_pointer(G_OBJECT(channel), (gpointer *)&audio->record);
        g_signal_connect(channel, "record-start", G_CALLBACK(on_record_start), audio);
        g_signal_connect(channel, "record-stop", G_CALLBACK(on_record_stop), audio);
    }
    g_signal_connect(channel, "notify::volume", G_CALLBACK(on_guest_volume), audio);
    g_signal_connect(channel, "notify::mute", G_CALLBACK(on_guest_volume), audio);
    /* Ours to connect, as an audio backend does (spice-gtk's, once it has
     * taken over, connects the channels it serves itself). */
    if (!audio->failed)
        spice_channel_connect(channel);
}
