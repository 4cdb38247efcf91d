/* capture-floor: what capturing alone costs, in-process, through the same
 * ALSA device a2dpsrcd captures from in the bench (the project's test
 * plugin), with a2dpsrcd's parameters: S16_LE stereo, non-blocking, a period
 * of one packet (896 frames at 44.1 kHz), 4 periods, avail_min = period,
 * one poll() wake-up per period, snd_pcm_readi() of what is there.  Nothing
 * is encoded or sent.
 *
 *   capture-floor -D PCM [--rate R] [--period F] [--seconds S]
 *
 * Prints one JSON object: audio_s read, cpu_s (CLOCK_PROCESS_CPUTIME_ID,
 * counted from the first period on, so opening the device and parsing the
 * ALSA configuration are not included), cpu_per_audio_s, wakeups.  With the
 * test plugin this is mostly the plugin's own work (its sine synthesis,
 * its pacing timer): a real snd-aloop capture costs a fraction of it.
 *
 *   capture-floor --wake-only [--rate R] [--period F] [--seconds S]
 *
 * The wake-up alone: a periodic timerfd at the period, one poll() and one
 * read() per period, no device.  The daemon wakes once per period for
 * capture and sending together, while capture alone and the paced floor
 * (codec-floor --paced) each hold a wake-up of their own: bench_codecs.py
 * counts this one back, so that the daemon is not credited with a wake-up
 * it never had. */
#include "bench-util.h"
#include <alsa/asoundlib.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

static double mono_now(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static int wake_only(unsigned rate, snd_pcm_uframes_t period, double seconds)
{
        long period_ns = (long)((double)period * 1e9 / rate);
        struct itimerspec its = { .it_interval = { 0, period_ns }, .it_value = { 0, period_ns } };
        int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
        unsigned long long wakeups = 0, target = (unsigned long long)(seconds * 1e9 / (double)period_ns);
        double t0;

        if (tfd < 0 || period_ns <= 0 || timerfd_settime(tfd, 0, &its, NULL) < 0)
                return 1;
        t0 = cpu_now();
        while (wakeups < target) {
                struct pollfd pfd = { .fd = tfd, .events = POLLIN };
                uint64_t exp;

                if (poll(&pfd, 1, -1) < 0 || read(tfd, &exp, sizeof(exp)) != sizeof(exp))
                        continue;
                wakeups++;
        }
        double cpu = cpu_now() - t0, audio_s = (double)wakeups * (double)period / rate;
        printf("{\"device\": null, \"period\": %lu, \"audio_s\": %.6f, \"cpu_s\": %.6f, "
               "\"cpu_per_audio_s\": %.9f, \"wakeups\": %llu}\n",
               (unsigned long)period, audio_s, cpu, audio_s > 0 ? cpu / audio_s : 0.0, wakeups);
        close(tfd);
        return 0;
}

int main(int argc, char **argv)
{
        bool wake = false;

        const char *dev = NULL;
        unsigned rate = 44100;
        snd_pcm_uframes_t period = 896, buffer;
        double seconds = 10;

        for (int i = 1; i < argc; i++) {
                if (!strcmp(argv[i], "-D") && i + 1 < argc)
                        dev = argv[++i];
                else if (!strcmp(argv[i], "--rate") && i + 1 < argc)
                        rate = (unsigned)atoi(argv[++i]);
                else if (!strcmp(argv[i], "--period") && i + 1 < argc)
                        period = (snd_pcm_uframes_t)atoi(argv[++i]);
                else if (!strcmp(argv[i], "--seconds") && i + 1 < argc)
                        seconds = atof(argv[++i]);
                else if (!strcmp(argv[i], "--wake-only"))
                        wake = true;
                else
                        goto usage;
        }
        if (wake)
                return wake_only(rate, period, seconds);
        if (!dev)
                goto usage;

        snd_pcm_t *pcm;
        snd_pcm_hw_params_t *hw;
        snd_pcm_sw_params_t *sw;
        int r;
        if ((r = snd_pcm_open(&pcm, dev, SND_PCM_STREAM_CAPTURE, SND_PCM_NONBLOCK)) < 0) {
                fprintf(stderr, "capture-floor: %s: %s\n", dev, snd_strerror(r));
                return 1;
        }
        snd_pcm_hw_params_alloca(&hw);
        snd_pcm_sw_params_alloca(&sw);
        buffer = period * 4;
        if ((r = snd_pcm_hw_params_any(pcm, hw)) < 0 ||
            (r = snd_pcm_hw_params_set_access(pcm, hw, SND_PCM_ACCESS_RW_INTERLEAVED)) < 0 ||
            (r = snd_pcm_hw_params_set_format(pcm, hw, SND_PCM_FORMAT_S16_LE)) < 0 ||
            (r = snd_pcm_hw_params_set_channels(pcm, hw, 2)) < 0 ||
            (r = snd_pcm_hw_params_set_rate(pcm, hw, rate, 0)) < 0 ||
            (r = snd_pcm_hw_params_set_period_size_near(pcm, hw, &period, NULL)) < 0 ||
            (r = snd_pcm_hw_params_set_buffer_size_near(pcm, hw, &buffer)) < 0 ||
            (r = snd_pcm_hw_params(pcm, hw)) < 0 ||
            (r = snd_pcm_sw_params_current(pcm, sw)) < 0 ||
            (r = snd_pcm_sw_params_set_avail_min(pcm, sw, period)) < 0 ||
            (r = snd_pcm_sw_params_set_start_threshold(pcm, sw, buffer * 2)) < 0 ||
            (r = snd_pcm_sw_params(pcm, sw)) < 0 || (r = snd_pcm_prepare(pcm)) < 0 ||
            (r = snd_pcm_start(pcm)) < 0) {
                fprintf(stderr, "capture-floor: %s: set-up failed: %s\n", dev, snd_strerror(r));
                return 1;
        }

        int nfds = snd_pcm_poll_descriptors_count(pcm);
        struct pollfd fds[8];
        int16_t buf[4096 * 2];
        unsigned long long frames = 0, wakeups = 0;
        double t0 = cpu_now(), w0 = mono_now(), t_end = w0 + seconds;
        if (nfds < 1 || nfds > 8)
                return 1;
        while (mono_now() < t_end) {
                unsigned short rev = 0;
                snd_pcm_poll_descriptors(pcm, fds, (unsigned)nfds);
                if (poll(fds, (nfds_t)nfds, 1000) < 0)
                        continue;
                wakeups++;
                if (snd_pcm_poll_descriptors_revents(pcm, fds, (unsigned)nfds, &rev) < 0 ||
                    !(rev & (POLLIN | POLLERR)))
                        continue;
                snd_pcm_sframes_t avail = snd_pcm_avail_update(pcm);
                if (avail < 0) {
                        snd_pcm_recover(pcm, (int)avail, 1);
                        snd_pcm_start(pcm);
                        continue;
                }
                if (avail > 4096)
                        avail = 4096;
                snd_pcm_sframes_t got = snd_pcm_readi(pcm, buf, (snd_pcm_uframes_t)avail);
                if (got > 0)
                        frames += (unsigned long long)got;
        }
        double t1 = cpu_now();
        double audio_s = (double)frames / rate;
        printf("{\"device\": \"%s\", \"period\": %lu, \"audio_s\": %.6f, \"cpu_s\": %.6f, "
               "\"cpu_per_audio_s\": %.9f, \"wakeups\": %llu}\n",
               dev, (unsigned long)period, audio_s, t1 - t0, audio_s > 0 ? (t1 - t0) / audio_s : 0.0,
               wakeups);
        snd_pcm_close(pcm);
        return 0;
usage:
        fprintf(stderr, "usage: capture-floor -D PCM | --wake-only [--rate R] [--period F] [--seconds S]\n");
        return 2;
}
