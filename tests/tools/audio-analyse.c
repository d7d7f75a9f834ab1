/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * audio-analyse: what is in a raw S16_LE recording, for the audio tests.
 *
 *   audio-analyse [--rate HZ] [--channels N] [--skip SECONDS] FILE
 *       prints "frequency=F rms_dbfs=L loud_seconds=S": the dominant
 *       frequency (an FFT of up to 65536 samples from the loudest stretch
 *       of the first channel, Hann window, peak refined by parabolic
 *       interpolation), the RMS level in dB relative to full scale (-120
 *       for digital silence), and how long the sound lasts (10 ms blocks
 *       louder than -40 dBFS).
 *   audio-analyse --onset DBFS [--rate HZ] [--channels N]
 *       reads standard input in 5 ms blocks and, at the first block louder
 *       than DBFS, prints "onset_ns=T" (CLOCK_REALTIME, as `date +%s%N`)
 *       and exits 0; exit 1 at end of input without one.
 *
 *   audio-analyse --generate HZ --seconds N [--rate HZ]
 *       writes N seconds of a sine at HZ (half of full scale) to standard
 *       output, mono S16_LE: the client-side microphone of the tests.
 *
 * Exit status 2 on usage errors or an unreadable or too short file.
 */
#include <complex.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <glib.h>

#define MAX_FFT (1u << 16)
#define MIN_FFT (1u << 10)
#define SILENCE_DBFS (-120.0)
#define LOUD_DBFS (-40.0)
/* A recording bigger than this is not what the tests make. */
#define MAX_FILE_BYTES (64u * 1024u * 1024u)

static double
rms_dbfs(const int16_t *samples, gsize count, guint stride)
{
    double sum = 0.0;

    if (count == 0)
        return SILENCE_DBFS;
    for (gsize i = 0; i < count; i++) {
        double v = samples[i * stride] / 32768.0;
        sum += v * v;
    }
    if (sum <= 0.0)
        return SILENCE_DBFS;
    return MAX(SILENCE_DBFS, 10.0 * log10(sum / (double)count));
}

/* In-place iterative radix-2 FFT; n is a power of two. */
static void
fft(double complex *x, gsize n)
{
    for (gsize i = 1, j = 0; i < n; i++) {
        gsize bit = n >> 1;
        for (; j & bit; bit >>= 1)
            j ^= bit;
        j ^= bit;
        if (i < j) {
            double complex t = x[i];
            x[i] = x[j];
            x[j] = t;
        }
    }
    for (gsize len = 2; len <= n; len <<= 1) {
        double complex w_len = cexp(-2.0 * I * M_PI / (double)len);
        for (gsize i = 0; i < n; i += len) {
            double complex w = 1.0;
            for (gsize k = 0; k < len / 2; k++) {
                double complex u = x[i + k], v = x[i + k + len / 2] * w;
                x[i + k] = u + v;
                x[i + k + len / 2] = u - v;
                w *= w_len;
            }
        }
    }
}

/* The dominant frequency of COUNT samples (first channel of STRIDE). */
static double
dominant_frequency(const int16_t *samples, gsize count, guint stride, guint rate)
{
    gsize n = MAX_FFT;
    g_autofree double complex *x = NULL;
    g_autofree double *magnitude = NULL;
    gsize peak = 1;

    while (n > count)
        n >>= 1;
    x = g_new(double complex, n);
    magnitude = g_new(double, n / 2);
    for (gsize i = 0; i < n; i++) {
        double hann = 0.5 - 0.5 * cos(2.0 * M_PI * (double)i / (double)(n - 1));
        x[i] = hann * samples[i * stride] / 32768.0;
    }
    fft(x, n);
    for (gsize k = 0; k < n / 2; k++)
        magnitude[k] = cabs(x[k]);
    /* Bin 0 is DC; start above it. */
    for (gsize k = 2; k < n / 2 - 1; k++)
        if (magnitude[k] > magnitude[peak])
            peak = k;
    double offset = 0.0;
    if (peak > 0 && peak < n / 2 - 1) {
        double a = log(magnitude[peak - 1] + 1e-12), b = log(magnitude[peak] + 1e-12),
               c = log(magnitude[peak + 1] + 1e-12);
        double denominator = a - 2.0 * b + c;
        if (denominator != 0.0)
            offset = 0.5 * (a - c) / denominator;
    }
    return ((double)peak + offset) * (double)rate / (double)n;
}

static int
analyse_file(const char *path, guint rate, guint channels, double skip_seconds)
{
    g_autofree char *contents = NULL;
    g_autoptr(GError) error = NULL;
    gsize length = 0;

    if (!g_file_get_contents(path, &contents, &length, &error)) {
        fprintf(stderr, "audio-analyse: %s\n", error->message);
        return 2;
    }
    if (length > MAX_FILE_BYTES) {
        fprintf(stderr, "audio-analyse: %s: %zu bytes is more than the %u this tool reads\n",
                path, length, MAX_FILE_BYTES);
        return 2;
    }
    const int16_t *samples = (const int16_t *)contents;
    gsize frames = length / (sizeof(int16_t) * channels);
    gsize skip = (gsize)(skip_seconds * rate);
    if (frames < skip + MIN_FFT) {
        fprintf(stderr, "audio-analyse: %s: %zu frames, fewer than %zu to analyse after skipping %zu\n",
                path, frames, (gsize)MIN_FFT, skip);
        return 2;
    }
    samples += skip * channels;
    frames -= skip;

    /* The loudest stretch of FFT size: a stream may start or end silent. */
    gsize window = MAX_FFT;
    while (window > frames)
        window >>= 1;
    gsize best = 0;
    double best_level = SILENCE_DBFS - 1.0;
    for (gsize start = 0; start + window <= frames; start += window / 4) {
        double level = rms_dbfs(samples + start * channels, window, channels);
        if (level > best_level) {
            best_level = level;
            best = start;
        }
    }
    double frequency = dominant_frequency(samples + best * channels, window, channels, rate);
    gsize block = MAX(1u, rate / 100u), loud_blocks = 0;
    for (gsize start = 0; start + block <= frames; start += block)
        if (rms_dbfs(samples + start * channels, block, channels) > LOUD_DBFS)
            loud_blocks++;
    printf("frequency=%.2f rms_dbfs=%.1f loud_seconds=%.2f\n", frequency, best_level,
           (double)(loud_blocks * block) / rate);
    return 0;
}

static int
watch_onset(double threshold, guint rate, guint channels)
{
    gsize block_frames = MAX(1u, rate / 200u);
    g_autofree int16_t *block = g_new(int16_t, block_frames * channels);

    for (;;) {
        gsize got = fread(block, sizeof(int16_t) * channels, block_frames, stdin);
        if (got == 0)
            return 1;
        if (rms_dbfs(block, got, channels) > threshold) {
            struct timespec now;
            clock_gettime(CLOCK_REALTIME, &now);
            printf("onset_ns=%lld%09ld\n", (long long)now.tv_sec, now.tv_nsec);
            fflush(stdout);
            return 0;
        }
    }
}

static int
generate(double frequency, double seconds, guint rate)
{
    gsize total = (gsize)(seconds * rate);
    int16_t block[1024];
    gsize done = 0;

    while (done < total) {
        gsize n = MIN(total - done, G_N_ELEMENTS(block));
        for (gsize i = 0; i < n; i++)
            block[i] = (int16_t)(16384.0 * sin(2.0 * M_PI * frequency * (double)(done + i) / rate));
        if (fwrite(block, sizeof(int16_t), n, stdout) != n)
            return 1;
        done += n;
    }
    return fflush(stdout) == 0 ? 0 : 1;
}

int
main(int argc, char **argv)
{
    gint rate = 48000, channels = 1;
    double skip = 0.0, onset = 1.0, tone = 0.0, seconds = 1.0;
    g_auto(GStrv) files = NULL;
    g_autoptr(GError) error = NULL;
    const GOptionEntry entries[] = {
        { "rate", 0, 0, G_OPTION_ARG_INT, &rate, "Sample rate (default 48000)", "HZ" },
        { "channels", 0, 0, G_OPTION_ARG_INT, &channels, "Interleaved channels (default 1)", "N" },
        { "skip", 0, 0, G_OPTION_ARG_DOUBLE, &skip, "Seconds to skip at the start", "SECONDS" },
        { "onset", 0, 0, G_OPTION_ARG_DOUBLE, &onset, "Report the first block louder than this", "DBFS" },
        { "generate", 0, 0, G_OPTION_ARG_DOUBLE, &tone, "Write a sine of this frequency", "HZ" },
        { "seconds", 0, 0, G_OPTION_ARG_DOUBLE, &seconds, "Length of --generate (default 1)", "N" },
        { G_OPTION_REMAINING, 0, 0, G_OPTION_ARG_FILENAME_ARRAY, &files, NULL, "FILE" },
        { NULL },
    };
    g_autoptr(GOptionContext) context = g_option_context_new("[FILE]");

    g_option_context_add_main_entries(context, entries, NULL);
    if (!g_option_context_parse(context, &argc, &argv, &error)) {
        fprintf(stderr, "audio-analyse: %s\n", error->message);
        return 2;
    }
    if (rate < 1000 || rate > 384000 || channels < 1 || channels > 8 || skip < 0.0 || skip > 3600.0) {
        fprintf(stderr, "audio-analyse: --rate 1000..384000, --channels 1..8, --skip 0..3600\n");
        return 2;
    }
    if (tone != 0.0) {
        if (tone < 1.0 || tone > rate / 2.0 || seconds <= 0.0 || seconds > 3600.0) {
            fprintf(stderr, "audio-analyse: --generate 1..RATE/2, --seconds 0..3600\n");
            return 2;
        }
        return generate(tone, seconds, (guint)rate);
    }
    if (onset <= 0.0) {
        if (files) {
            fprintf(stderr, "audio-analyse: --onset reads standard input, not a file\n");
            return 2;
        }
        return watch_onset(onset, (guint)rate, (guint)channels);
    }
    if (!files || !files[0] || files[1]) {
        fprintf(stderr, "audio-analyse: one FILE, or --onset DBFS (negative)\n");
        return 2;
    }
    return analyse_file(files[0], (guint)rate, (guint)channels, skip);
}
