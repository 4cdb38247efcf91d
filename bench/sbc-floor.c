/* sbc-floor: the CPU floor of an SBC A2DP source — libsbc encoding the
 * benchmark's PCM in a tight loop, nothing else (no capture, no RTP, no
 * socket, no D-Bus).  The daemon's CPU per audio-second is compared with
 * this figure, measured in the same run on the same machine.
 *
 *   sbc-floor [--config HEX] [--bitpool N] [--min-cpu S | --audio-seconds S | --paced S]
 *             [--mtu N] FILE.raw
 *
 * FILE.raw: S16_LE interleaved stereo at the configuration's rate.
 * --config: the 4 A2DP SBC codec information bytes, as hex (default
 *           21150235: 44.1 kHz, joint stereo, 16 blocks, 8 subbands,
 *           loudness, bitpool 2..53); sbc_init_a2dp() is set up from them,
 *           exactly as a2dpsrcd does.
 * --bitpool: the bitpool used (default: the configuration's maximum).
 * --min-cpu: encode the file over and over until this much process CPU time
 *           has been spent (default 2 s), for a stable timing.
 * --audio-seconds: encode exactly this much audio (wrapping around the
 *           file) and stop; for instruction counts under callgrind.
 * --paced:  the floor of any real-time A2DP source on this kernel: for this
 *           many seconds, wake once per packet on a periodic timerfd (no
 *           capture device), encode as many frames as fit --mtu (default
 *           895), prepend the 13 bytes of RTP + SBC payload header, send()
 *           the packet on a SOCK_SEQPACKET socketpair whose other end a child
 *           process reads (as the BlueZ double's speaker does).  Only this
 *           process's CPU is counted.  In a VM the wake-up and the send cost
 *           far more than the encoding: that is what this figure shows.
 *
 * Prints one JSON object: audio_s encoded, cpu_s (CLOCK_PROCESS_CPUTIME_ID),
 * rusage user/sys, cpu_per_audio_s, frames, frame_len, and a checksum of the
 * output (so the work cannot be optimised away and runs can be compared).
 */
#include "bench-util.h"
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <sbc/sbc.h>

static int parse_hex(const char *s, uint8_t out[4])
{
        if (strlen(s) != 8)
                return -1;
        for (int i = 0; i < 4; i++) {
                char b[3] = { s[2 * i], s[2 * i + 1], 0 };
                char *end;
                out[i] = (uint8_t)strtoul(b, &end, 16);
                if (*end)
                        return -1;
        }
        return 0;
}

static unsigned rate_of(uint8_t b0)
{
        switch (b0 & 0xf0) {
        case 0x80: return 16000;
        case 0x40: return 32000;
        case 0x20: return 44100;
        case 0x10: return 48000;
        }
        return 0;
}

/* One wake-up per packet: timerfd, encode, send. */
static int run_paced(sbc_t *sbc, const uint8_t *pcm, size_t frames_in_file, size_t codesize,
                     size_t frame_len, unsigned samples_per_frame, unsigned rate, unsigned mtu,
                     double seconds, const uint8_t conf[4])
{
        int sv[2];
        unsigned fpp = (unsigned)((mtu - 13) / frame_len);
        if (fpp == 0 || fpp > 15)
                fpp = fpp ? 15 : 1;
        if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
                return 1;
        pid_t child = fork();
        if (child == 0) {               /* the speaker: read until EOF */
                uint8_t buf[4096];
                close(sv[0]);
                while (recv(sv[1], buf, sizeof(buf), 0) > 0)
                        ;
                _exit(0);
        }
        close(sv[1]);
        int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
        uint64_t period_ns = (uint64_t)fpp * samples_per_frame * 1000000000ull / rate;
        struct itimerspec its = {
                .it_interval = { (time_t)(period_ns / 1000000000ull), (long)(period_ns % 1000000000ull) },
                .it_value = { (time_t)(period_ns / 1000000000ull), (long)(period_ns % 1000000000ull) },
        };
        timerfd_settime(tfd, 0, &its, NULL);
        uint64_t packets_target = (uint64_t)(seconds * 1e9 / (double)period_ns), packets = 0;
        size_t pos = 0;
        uint8_t pkt[4096];
        uint16_t seq = 0;
        uint32_t ts = 0;
        struct rusage ru0, ru1;
        getrusage(RUSAGE_SELF, &ru0);
        double t0 = cpu_now();
        while (packets < packets_target) {
                struct pollfd pfd = { .fd = tfd, .events = POLLIN };
                uint64_t exp;
                if (poll(&pfd, 1, -1) < 0 || read(tfd, &exp, sizeof(exp)) != sizeof(exp))
                        continue;
                size_t len = 13;
                for (unsigned f = 0; f < fpp; f++) {
                        ssize_t written = 0;
                        sbc_encode(sbc, pcm + pos * codesize, codesize, pkt + len, sizeof(pkt) - len, &written);
                        len += (size_t)written;
                        pos = (pos + 1) % frames_in_file;
                }
                pkt[0] = 0x80;
                pkt[1] = 96;
                pkt[2] = (uint8_t)(seq >> 8);
                pkt[3] = (uint8_t)seq;
                memcpy(pkt + 4, &ts, 4);
                memset(pkt + 8, 0, 4);
                pkt[12] = (uint8_t)fpp;
                seq++;
                ts += fpp * samples_per_frame;
                if (send(sv[0], pkt, len, MSG_NOSIGNAL) < 0)
                        return 1;
                packets++;
        }
        double t1 = cpu_now();
        getrusage(RUSAGE_SELF, &ru1);
        close(sv[0]);
        waitpid(child, NULL, 0);
        double audio_s = (double)packets * fpp * samples_per_frame / rate;
        printf("{\"mode\": \"paced\", \"config\": \"%02x%02x%02x%02x\", \"frames_per_packet\": %u, "
               "\"packets\": %llu, \"audio_s\": %.6f, \"cpu_s\": %.6f, \"cpu_per_audio_s\": %.9f, "
               "\"voluntary_switches\": %ld, \"involuntary_switches\": %ld, \"rusage_user_s\": %.6f, "
               "\"rusage_sys_s\": %.6f}\n",
               conf[0], conf[1], conf[2], conf[3], fpp, (unsigned long long)packets, audio_s, t1 - t0,
               (t1 - t0) / audio_s, ru1.ru_nvcsw - ru0.ru_nvcsw, ru1.ru_nivcsw - ru0.ru_nivcsw,
               (ru1.ru_utime.tv_sec - ru0.ru_utime.tv_sec) + (ru1.ru_utime.tv_usec - ru0.ru_utime.tv_usec) / 1e6,
               (ru1.ru_stime.tv_sec - ru0.ru_stime.tv_sec) + (ru1.ru_stime.tv_usec - ru0.ru_stime.tv_usec) / 1e6);
        return 0;
}

int main(int argc, char **argv)
{
        uint8_t conf[4] = { 0x21, 0x15, 0x02, 0x35 };
        const char *path = NULL;
        double min_cpu = 2.0, audio_seconds = 0, paced = 0;
        int bitpool = -1;
        unsigned mtu = 895;

        for (int i = 1; i < argc; i++) {
                if (!strcmp(argv[i], "--config") && i + 1 < argc) {
                        if (parse_hex(argv[++i], conf) < 0)
                                goto usage;
                } else if (!strcmp(argv[i], "--bitpool") && i + 1 < argc) {
                        bitpool = atoi(argv[++i]);
                } else if (!strcmp(argv[i], "--min-cpu") && i + 1 < argc) {
                        min_cpu = atof(argv[++i]);
                } else if (!strcmp(argv[i], "--audio-seconds") && i + 1 < argc) {
                        audio_seconds = atof(argv[++i]);
                } else if (!strcmp(argv[i], "--paced") && i + 1 < argc) {
                        paced = atof(argv[++i]);
                } else if (!strcmp(argv[i], "--mtu") && i + 1 < argc) {
                        mtu = (unsigned)atoi(argv[++i]);
                } else if (argv[i][0] == '-' || path) {
                        goto usage;
                } else {
                        path = argv[i];
                }
        }
        if (!path)
                goto usage;

        unsigned rate = rate_of(conf[0]);
        unsigned channels = (conf[0] & 0x08) ? 1 : 2;
        if (!rate || channels != 2) {
                fprintf(stderr, "sbc-floor: only stereo configurations (got %02x)\n", conf[0]);
                return 2;
        }

        FILE *f = fopen(path, "rb");
        struct stat st;
        if (!f || fstat(fileno(f), &st) < 0) {
                fprintf(stderr, "sbc-floor: %s: %s\n", path, strerror(errno));
                return 2;
        }
        size_t size = (size_t)st.st_size;
        uint8_t *pcm = malloc(size ? size : 1);
        if (!pcm || fread(pcm, 1, size, f) != size) {
                fprintf(stderr, "sbc-floor: cannot read %s\n", path);
                return 2;
        }
        fclose(f);

        sbc_t sbc;
        if (sbc_init_a2dp(&sbc, 0, conf, sizeof(conf)) < 0) {
                fprintf(stderr, "sbc-floor: libsbc refused configuration %02x%02x%02x%02x\n",
                        conf[0], conf[1], conf[2], conf[3]);
                return 2;
        }
        sbc.endian = SBC_LE;
        /* sbc_init_a2dp() leaves libsbc's default bitpool; a2dpsrcd (and
         * every A2DP source) encodes at the configuration's maximum */
        sbc.bitpool = (uint8_t)(bitpool > 0 ? bitpool : conf[3]);

        size_t codesize = sbc_get_codesize(&sbc);
        size_t frame_len = sbc_get_frame_length(&sbc);
        size_t samples_per_frame = codesize / (2 * channels);
        size_t frames_in_file = size / codesize;
        if (frames_in_file == 0) {
                fprintf(stderr, "sbc-floor: %s holds less than one SBC frame of audio\n", path);
                return 2;
        }
        if (paced > 0)
                return run_paced(&sbc, pcm, frames_in_file, codesize, frame_len,
                                 (unsigned)samples_per_frame, rate, mtu, paced, conf);
        uint64_t target_frames = audio_seconds > 0
                ? (uint64_t)(audio_seconds * rate / samples_per_frame + 0.5) : 0;

        uint8_t out[1024];
        uint64_t frames = 0, checksum = 0;
        struct rusage ru0, ru1;
        getrusage(RUSAGE_SELF, &ru0);
        double t0 = cpu_now(), t1 = t0;

        for (;;) {
                for (size_t i = 0; i < frames_in_file; i++) {
                        ssize_t written = 0;
                        ssize_t used = sbc_encode(&sbc, pcm + i * codesize, codesize, out,
                                                  sizeof(out), &written);
                        if (used != (ssize_t)codesize || written <= 0) {
                                fprintf(stderr, "sbc-floor: sbc_encode failed at frame %zu\n", i);
                                return 1;
                        }
                        checksum = checksum * 31 + out[written - 1] + out[written / 2];
                        frames++;
                        if (target_frames && frames >= target_frames)
                                goto done;
                }
                if (!target_frames) {
                        t1 = cpu_now();
                        if (t1 - t0 >= min_cpu)
                                break;
                }
        }
done:
        t1 = cpu_now();
        getrusage(RUSAGE_SELF, &ru1);
        double audio_s = (double)frames * samples_per_frame / rate;
        double user = (ru1.ru_utime.tv_sec - ru0.ru_utime.tv_sec) +
                      (ru1.ru_utime.tv_usec - ru0.ru_utime.tv_usec) / 1e6;
        double sys = (ru1.ru_stime.tv_sec - ru0.ru_stime.tv_sec) +
                     (ru1.ru_stime.tv_usec - ru0.ru_stime.tv_usec) / 1e6;
        printf("{\"config\": \"%02x%02x%02x%02x\", \"rate\": %u, \"bitpool\": %u, "
               "\"frame_len\": %zu, \"frames\": %llu, \"audio_s\": %.6f, \"cpu_s\": %.6f, "
               "\"rusage_user_s\": %.6f, \"rusage_sys_s\": %.6f, \"cpu_per_audio_s\": %.9f, "
               "\"implementation\": \"%s\", \"checksum\": %llu}\n",
               conf[0], conf[1], conf[2], conf[3], rate, sbc.bitpool, frame_len,
               (unsigned long long)frames, audio_s, t1 - t0, user, sys, (t1 - t0) / audio_s,
               sbc_get_implementation_info(&sbc), (unsigned long long)checksum);
        sbc_finish(&sbc);
        free(pcm);
        return 0;
usage:
        fprintf(stderr, "usage: sbc-floor [--config HEX8] [--bitpool N] [--min-cpu S | --audio-seconds S |\n"
                        "                 --paced S] [--mtu N] FILE.raw\n");
        return 2;
}
