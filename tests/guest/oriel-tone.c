/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * oriel-tone: the test guest's sound check, through the kernel's ALSA PCM
 * interface directly (no alsa-lib in a busybox guest).
 *
 *   oriel-tone play FREQ_HZ SECONDS [DEVICE]    a sine on /dev/snd/pcmC0D0p
 *   oriel-tone record SECONDS FILE [DEVICE]     from /dev/snd/pcmC0D0c
 *   oriel-tone mixer on|off [CONTROL_DEVICE]    /dev/snd/controlC0
 *
 * A sound card comes up muted at volume 0 (alsactl init or a desktop's
 * mixer turn it up); `mixer on` sets every Switch control on and every
 * Volume control to its maximum, `mixer off` turns the playback switches
 * off.  The card's amplifiers are what QEMU forwards to the SPICE client
 * as the guest's volume and mute.
 *
 * Both negotiate S16_LE at 48000 Hz (else 44100 Hz), stereo (else mono).
 * play prints "oriel-tone: playing" just before its first write, which the
 * latency benchmark keys on.  record writes the first channel only, as raw
 * mono S16_LE, and prints "oriel-tone: recorded FRAMES frames at RATE Hz".
 *
 * Exit status: 0, 1 on a device error (message on stderr), 2 on usage.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <sound/asound.h>

#define PERIOD_FRAMES 1024u
#define PERIODS 4u
#define MAX_SECONDS 600
#define MAX_CHANNELS 2u

typedef struct {
    int fd;
    unsigned int rate;
    unsigned int channels;
} Pcm;

static struct snd_mask *
param_mask(struct snd_pcm_hw_params *params, int which)
{
    return &params->masks[which - SNDRV_PCM_HW_PARAM_FIRST_MASK];
}

static struct snd_interval *
param_interval(struct snd_pcm_hw_params *params, int which)
{
    return &params->intervals[which - SNDRV_PCM_HW_PARAM_FIRST_INTERVAL];
}

/* Everything allowed, as alsa-lib's snd_pcm_hw_params_any() starts. */
static void
params_any(struct snd_pcm_hw_params *params)
{
    memset(params, 0, sizeof(*params));
    for (int m = SNDRV_PCM_HW_PARAM_FIRST_MASK; m <= SNDRV_PCM_HW_PARAM_LAST_MASK; m++)
        memset(param_mask(params, m)->bits, 0xff, sizeof(param_mask(params, m)->bits));
    for (int i = SNDRV_PCM_HW_PARAM_FIRST_INTERVAL; i <= SNDRV_PCM_HW_PARAM_LAST_INTERVAL; i++) {
        param_interval(params, i)->min = 0;
        param_interval(params, i)->max = UINT32_MAX;
    }
    params->rmask = ~0u;
}

static void
mask_set_only(struct snd_pcm_hw_params *params, int which, unsigned int bit)
{
    struct snd_mask *mask = param_mask(params, which);

    memset(mask->bits, 0, sizeof(mask->bits));
    mask->bits[bit / 32] = 1u << (bit % 32);
}

static void
interval_set(struct snd_pcm_hw_params *params, int which, unsigned int value)
{
    struct snd_interval *interval = param_interval(params, which);

    interval->min = value;
    interval->max = value;
    interval->integer = 1;
}

static int
try_hw_params(int fd, unsigned int rate, unsigned int channels)
{
    struct snd_pcm_hw_params params;

    params_any(&params);
    mask_set_only(&params, SNDRV_PCM_HW_PARAM_ACCESS, SNDRV_PCM_ACCESS_RW_INTERLEAVED);
    mask_set_only(&params, SNDRV_PCM_HW_PARAM_FORMAT, SNDRV_PCM_FORMAT_S16_LE);
    mask_set_only(&params, SNDRV_PCM_HW_PARAM_SUBFORMAT, SNDRV_PCM_SUBFORMAT_STD);
    interval_set(&params, SNDRV_PCM_HW_PARAM_RATE, rate);
    interval_set(&params, SNDRV_PCM_HW_PARAM_CHANNELS, channels);
    interval_set(&params, SNDRV_PCM_HW_PARAM_PERIOD_SIZE, PERIOD_FRAMES);
    interval_set(&params, SNDRV_PCM_HW_PARAM_PERIODS, PERIODS);
    if (ioctl(fd, SNDRV_PCM_IOCTL_HW_PARAMS, &params) < 0)
        return -errno;
    return 0;
}

static int
pcm_open(const char *path, Pcm *ret_pcm)
{
    static const unsigned int rates[] = { 48000, 44100 };
    static const unsigned int channel_counts[] = { 2, 1 };
    int fd, r = -EINVAL;

    fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return -errno;
    for (size_t i = 0; i < sizeof(rates) / sizeof(rates[0]); i++) {
        for (size_t c = 0; c < sizeof(channel_counts) / sizeof(channel_counts[0]); c++) {
            r = try_hw_params(fd, rates[i], channel_counts[c]);
            if (r == 0) {
                if (ioctl(fd, SNDRV_PCM_IOCTL_PREPARE) < 0) {
                    r = -errno;
                    goto out;
                }
                ret_pcm->fd = fd;
                ret_pcm->rate = rates[i];
                ret_pcm->channels = channel_counts[c];
                return 0;
            }
        }
    }
out:
    close(fd);
    return r;
}

/* Writes all FRAMES, recovering from underruns (the host side of a
 * virtual sound card may be late) by preparing again. */
static int
pcm_write(Pcm *pcm, const int16_t *samples, unsigned long frames)
{
    while (frames > 0) {
        struct snd_xferi xfer = { .buf = (void *)samples, .frames = frames };

        if (ioctl(pcm->fd, SNDRV_PCM_IOCTL_WRITEI_FRAMES, &xfer) < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            if (errno == EPIPE && ioctl(pcm->fd, SNDRV_PCM_IOCTL_PREPARE) == 0)
                continue;
            return -errno;
        }
        samples += (unsigned long)xfer.result * pcm->channels;
        frames -= (unsigned long)xfer.result;
    }
    return 0;
}

static int
pcm_read(Pcm *pcm, int16_t *samples, unsigned long frames)
{
    while (frames > 0) {
        struct snd_xferi xfer = { .buf = samples, .frames = frames };

        if (ioctl(pcm->fd, SNDRV_PCM_IOCTL_READI_FRAMES, &xfer) < 0) {
            if (errno == EINTR || errno == EAGAIN)
                continue;
            if (errno == EPIPE && ioctl(pcm->fd, SNDRV_PCM_IOCTL_PREPARE) == 0)
                continue;
            return -errno;
        }
        samples += (unsigned long)xfer.result * pcm->channels;
        frames -= (unsigned long)xfer.result;
    }
    return 0;
}

/* Sets every Switch (on: all; off: playback only) and, when turning on,
 * every Volume to its maximum.  Other controls are left alone. */
static int
mixer(int on, const char *device)
{
    struct snd_ctl_elem_list list;
    struct snd_ctl_elem_id *ids = NULL;
    int fd, r = 0;

    fd = open(device, O_RDWR | O_CLOEXEC);
    if (fd < 0) {
        fprintf(stderr, "oriel-tone: %s: %s\n", device, strerror(errno));
        return 1;
    }
    memset(&list, 0, sizeof(list));
    if (ioctl(fd, SNDRV_CTL_IOCTL_ELEM_LIST, &list) < 0) {
        r = -errno;
        goto out;
    }
    if (list.count > 1024) {
        r = -E2BIG;
        goto out;
    }
    ids = calloc(list.count ? list.count : 1, sizeof(*ids));
    if (!ids) {
        r = -ENOMEM;
        goto out;
    }
    list.space = list.count;
    list.pids = ids;
    if (ioctl(fd, SNDRV_CTL_IOCTL_ELEM_LIST, &list) < 0) {
        r = -errno;
        goto out;
    }
    for (unsigned int i = 0; i < list.used; i++) {
        struct snd_ctl_elem_info info;
        struct snd_ctl_elem_value value;
        const char *name = (const char *)ids[i].name;
        int is_switch = strstr(name, "Switch") != NULL;
        int is_volume = strstr(name, "Volume") != NULL;

        memset(&info, 0, sizeof(info));
        info.id = ids[i];
        if (ioctl(fd, SNDRV_CTL_IOCTL_ELEM_INFO, &info) < 0)
            continue;
        if (!(info.access & SNDRV_CTL_ELEM_ACCESS_WRITE) || info.count > 128)
            continue;
        memset(&value, 0, sizeof(value));
        value.id = ids[i];
        if (info.type == SNDRV_CTL_ELEM_TYPE_BOOLEAN && is_switch) {
            if (!on && !strstr(name, "Playback"))
                continue;
            for (unsigned int c = 0; c < info.count; c++)
                value.value.integer.value[c] = on ? 1 : 0;
        } else if (info.type == SNDRV_CTL_ELEM_TYPE_INTEGER && is_volume && on) {
            for (unsigned int c = 0; c < info.count; c++)
                value.value.integer.value[c] = info.value.integer.max;
        } else {
            continue;
        }
        if (ioctl(fd, SNDRV_CTL_IOCTL_ELEM_WRITE, &value) < 0) {
            r = -errno;
            fprintf(stderr, "oriel-tone: setting '%s': %s\n", name, strerror(errno));
        }
    }
out:
    free(ids);
    close(fd);
    if (r < 0) {
        fprintf(stderr, "oriel-tone: mixer %s on %s: %s\n", on ? "on" : "off", device, strerror(-r));
        return 1;
    }
    return 0;
}

static int
parse_number(const char *s, long min, long max, long *ret_value)
{
    char *end = NULL;
    long value;

    errno = 0;
    value = strtol(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || value < min || value > max)
        return -EINVAL;
    *ret_value = value;
    return 0;
}

static int
play(long frequency, long seconds, const char *device)
{
    int16_t buffer[PERIOD_FRAMES * MAX_CHANNELS];
    Pcm pcm;
    double phase = 0.0, step;
    unsigned long total, done = 0;
    int r;

    r = pcm_open(device, &pcm);
    if (r < 0) {
        fprintf(stderr, "oriel-tone: %s: %s\n", device, strerror(-r));
        return 1;
    }
    step = 2.0 * M_PI * (double)frequency / (double)pcm.rate;
    total = (unsigned long)seconds * pcm.rate;
    printf("oriel-tone: playing %ld Hz at %u Hz, %u channels\n", frequency, pcm.rate, pcm.channels);
    fflush(stdout);
    while (done < total) {
        unsigned long n = total - done < PERIOD_FRAMES ? total - done : PERIOD_FRAMES;

        for (unsigned long f = 0; f < n; f++) {
            int16_t sample = (int16_t)(16000.0 * sin(phase));

            for (unsigned int c = 0; c < pcm.channels; c++)
                buffer[f * pcm.channels + c] = sample;
            phase += step;
            if (phase > 2.0 * M_PI)
                phase -= 2.0 * M_PI;
        }
        r = pcm_write(&pcm, buffer, n);
        if (r < 0)
            break;
        done += n;
    }
    if (r == 0 && ioctl(pcm.fd, SNDRV_PCM_IOCTL_DRAIN) < 0)
        r = -errno;
    close(pcm.fd);
    if (r < 0) {
        fprintf(stderr, "oriel-tone: writing to %s: %s\n", device, strerror(-r));
        return 1;
    }
    return 0;
}

static int
record(long seconds, const char *path, const char *device)
{
    int16_t buffer[PERIOD_FRAMES * MAX_CHANNELS];
    int16_t mono[PERIOD_FRAMES];
    Pcm pcm;
    unsigned long total, done = 0;
    int out, r;

    out = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (out < 0) {
        fprintf(stderr, "oriel-tone: %s: %s\n", path, strerror(errno));
        return 1;
    }
    r = pcm_open(device, &pcm);
    if (r < 0) {
        fprintf(stderr, "oriel-tone: %s: %s\n", device, strerror(-r));
        close(out);
        return 1;
    }
    total = (unsigned long)seconds * pcm.rate;
    while (done < total) {
        unsigned long n = total - done < PERIOD_FRAMES ? total - done : PERIOD_FRAMES;
        size_t bytes = n * sizeof(int16_t);

        r = pcm_read(&pcm, buffer, n);
        if (r < 0)
            break;
        for (unsigned long f = 0; f < n; f++)
            mono[f] = buffer[f * pcm.channels];
        if (write(out, mono, bytes) != (ssize_t)bytes) {
            r = -EIO;
            break;
        }
        done += n;
    }
    close(pcm.fd);
    if (close(out) < 0 && r == 0)
        r = -errno;
    if (r < 0) {
        fprintf(stderr, "oriel-tone: recording from %s to %s: %s\n", device, path, strerror(-r));
        return 1;
    }
    printf("oriel-tone: recorded %lu frames at %u Hz\n", done, pcm.rate);
    return 0;
}

static int
usage(void)
{
    fprintf(stderr, "usage: oriel-tone play FREQ_HZ SECONDS [DEVICE]\n"
                    "       oriel-tone record SECONDS FILE [DEVICE]\n"
                    "       oriel-tone mixer on|off [CONTROL_DEVICE]\n");
    return 2;
}

int
main(int argc, char **argv)
{
    long frequency, seconds;

    if (argc >= 4 && argc <= 5 && strcmp(argv[1], "play") == 0) {
        if (parse_number(argv[2], 20, 20000, &frequency) < 0 ||
            parse_number(argv[3], 1, MAX_SECONDS, &seconds) < 0)
            return usage();
        return play(frequency, seconds, argc == 5 ? argv[4] : "/dev/snd/pcmC0D0p");
    }
    if (argc >= 4 && argc <= 5 && strcmp(argv[1], "record") == 0) {
        if (parse_number(argv[2], 1, MAX_SECONDS, &seconds) < 0)
            return usage();
        return record(seconds, argv[3], argc == 5 ? argv[4] : "/dev/snd/pcmC0D0c");
    }
    if (argc >= 3 && argc <= 4 && strcmp(argv[1], "mixer") == 0) {
        if (strcmp(argv[2], "on") != 0 && strcmp(argv[2], "off") != 0)
            return usage();
        return mixer(strcmp(argv[2], "on") == 0, argc == 4 ? argv[3] : "/dev/snd/controlC0");
    }
    return usage();
}
