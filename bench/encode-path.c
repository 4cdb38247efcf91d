/* encode-path: the daemon's own encode path — sbc-sender.c (staging, SBC
 * frames, RTP packets filled to the MTU, the bounded queue, send()) — fed
 * with the benchmark's PCM one capture period at a time, into a
 * SOCK_SEQPACKET socketpair drained by a child process. No capture device,
 * no clock: it measures the code path, e.g. under qemu-user for a board's
 * architecture, next to sbc-floor on the same machine.
 *
 *   encode-path [--config HEX] [--min-cpu S] FILE.raw
 *
 * Prints one JSON object: audio_s, cpu_s, cpu_per_audio_s, packets.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sbc-config.h"
#include "sbc-sender.h"
#include "stream.h"

static double cpu_now(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
        return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int parse_hex(const char *s, uint8_t out[4])
{
        unsigned v[4];

        if (strlen(s) != 8 || sscanf(s, "%2x%2x%2x%2x", &v[0], &v[1], &v[2], &v[3]) != 4)
                return -EINVAL;
        for (int i = 0; i < 4; i++)
                out[i] = (uint8_t)v[i];
        return 0;
}

static struct stream_stats stats;
static struct sbc_sender sender;

int main(int argc, char **argv)
{
        uint8_t conf[4] = { 0x21, 0x15, 0x02, 0x35 };
        double min_cpu = 2.0, t0;
        const char *path = NULL;
        struct sbc_params p;
        uint32_t seeds[3] = { 1, 2, 3 };
        int sv[2];
        FILE *f;
        int16_t *pcm;
        long frames;
        size_t period, pos = 0;
        uint64_t audio_frames = 0;
        sbc_t sbc;
        pid_t child;

        for (int i = 1; i < argc; i++) {
                if (!strcmp(argv[i], "--config") && i + 1 < argc) {
                        if (parse_hex(argv[++i], conf) < 0)
                                return 2;
                } else if (!strcmp(argv[i], "--min-cpu") && i + 1 < argc) {
                        min_cpu = atof(argv[++i]);
                } else {
                        path = argv[i];
                }
        }
        if (!path || sbc_config_parse(conf, 4, &p, NULL, 0) < 0) {
                fprintf(stderr, "usage: encode-path [--config HEX] [--min-cpu S] FILE.raw\n");
                return 2;
        }
        f = fopen(path, "rb");
        if (!f || fseek(f, 0, SEEK_END) < 0 || (frames = ftell(f) / 4) <= 0) {
                perror(path);
                return 2;
        }
        rewind(f);
        pcm = malloc((size_t)frames * 4);
        if (!pcm || fread(pcm, 4, (size_t)frames, f) != (size_t)frames)
                return 2;
        fclose(f);

        if (socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv) < 0)
                return 2;
        child = fork();
        if (child == 0) {
                char buf[4096];
                close(sv[0]);
                while (recv(sv[1], buf, sizeof(buf), 0) > 0)
                        ;
                _exit(0);
        }
        close(sv[1]);
        if (sbc_init_a2dp(&sbc, 0, conf, 4) < 0)
                return 2;
        sbc.endian = SBC_LE;
        sbc_sender_init(&sender, sv[0], 895, &p, &sbc, &stats, seeds);
        /* what the daemon asks of the capture: one packet per period */
        period = (size_t)rtp_sbc_frames_per_packet(895, sbc_frame_length(&p, p.max_bitpool)) *
                 sbc_frame_samples(&p);

        t0 = cpu_now();
        while (cpu_now() - t0 < min_cpu) {
                size_t n = period;
                bool changed;

                if (pos + n > (size_t)frames)
                        pos = 0;
                if (sbc_sender_push(&sender, pcm + pos * 2, n, 0) < 0)
                        return 1;
                /* blocking send through the same code path: wait for room */
                while (sbc_sender_queue_full(&sender) || sbc_sender_has_queued(&sender)) {
                        if (sbc_sender_flush(&sender, 0, &changed) != 0)
                                return 1;
                        if (sbc_sender_has_queued(&sender))
                                usleep(100);
                }
                pos += n;
                audio_frames += n;
        }
        {
                double cpu = cpu_now() - t0, audio = (double)audio_frames / p.rate;
                printf("{\"audio_s\": %.3f, \"cpu_s\": %.3f, \"cpu_per_audio_s\": %.6f, \"packets\": %llu}\n",
                       audio, cpu, cpu / audio, (unsigned long long)atomic_load(&stats.packets));
        }
        close(sv[0]);
        waitpid(child, NULL, 0);
        sbc_finish(&sbc);
        free(pcm);
        return 0;
}
