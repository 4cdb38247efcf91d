/* encode-path: the daemon's own encode path — sender.c (staging, the
 * codec's frames, RTP packets filled to the MTU, the bounded queue, send())
 * with a codec of the table (a2dp-codecs.c) — fed
 * with the benchmark's PCM one capture period at a time, into a
 * SOCK_SEQPACKET socketpair drained by a child process. No capture device,
 * no clock: it measures the code path, e.g. under qemu-user for a board's
 * architecture, next to sbc-floor on the same machine.
 *
 *   encode-path [--codec NAME] [--config HEX] [--min-cpu S] FILE.raw
 *
 * NAME: a codec of the table (default sbc); HEX: its configuration blob
 * (default for SBC: 44.1 kHz joint stereo 16/8 loudness, bitpool 2-53;
 * other codecs need --config).
 *
 * Prints one JSON object: audio_s, cpu_s, cpu_per_audio_s, packets.
 */
#include "bench-util.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "a2dp-codec.h"
#include "sender.h"
#include "stream.h"

static struct stream_output_stats stats;
static struct sender sender;

int main(int argc, char **argv)
{
        uint8_t conf[A2DP_CODEC_BLOB_MAX] = { 0x21, 0x15, 0x02, 0x35 };
        size_t conf_len = 4;
        const struct a2dp_codec *codec = a2dp_codec_by_name("sbc");
        struct codec_encoder *enc = NULL;
        struct codec_info info;
        char err[160] = "";
        double min_cpu = 2.0, t0;
        const char *path = NULL;
        uint32_t seeds[3] = { 1, 2, 3 };
        int sv[2];
        FILE *f;
        int16_t *pcm;
        long frames;
        size_t period, pos = 0;
        uint64_t audio_frames = 0;
        pid_t child;

        for (int i = 1; i < argc; i++) {
                if (!strcmp(argv[i], "--config") && i + 1 < argc) {
                        if (bench_parse_hex(argv[++i], conf, sizeof(conf), &conf_len) < 0)
                                return 2;
                } else if (!strcmp(argv[i], "--codec") && i + 1 < argc) {
                        codec = a2dp_codec_by_name(argv[++i]);
                } else if (!strcmp(argv[i], "--min-cpu") && i + 1 < argc) {
                        min_cpu = atof(argv[++i]);
                } else {
                        path = argv[i];
                }
        }
        if (!path || !codec || codec->parse(conf, conf_len, &info, err, sizeof(err)) < 0) {
                fprintf(stderr, "usage: encode-path [--codec NAME] [--config HEX] [--min-cpu S] FILE.raw%s%s\n",
                        err[0] ? "\n" : "", err);
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
        if (codec->encoder_new(conf, conf_len, 895, &enc, err, sizeof(err)) < 0) {
                fprintf(stderr, "encode-path: %s\n", err);
                return 2;
        }
        sender_init(&sender, sv[0], 895, codec, enc, &info, &stats, seeds);
        /* what the daemon asks of the capture: one packet per period */
        period = a2dp_codec_packet_samples(codec, &info, 895);

        t0 = cpu_now();
        while (cpu_now() - t0 < min_cpu) {
                size_t n = period;
                bool changed;

                if (pos + n > (size_t)frames)
                        pos = 0;
                if (sender_push(&sender, pcm + pos * 2, n, 0) < 0)
                        return 1;
                /* blocking send through the same code path: wait for room */
                while (sender_queue_full(&sender) || sender_has_queued(&sender)) {
                        if (sender_flush(&sender, 0, &changed) != 0)
                                return 1;
                        if (sender_has_queued(&sender))
                                usleep(100);
                }
                pos += n;
                audio_frames += n;
        }
        {
                double cpu = cpu_now() - t0, audio = (double)audio_frames / info.rate;
                printf("{\"audio_s\": %.3f, \"cpu_s\": %.3f, \"cpu_per_audio_s\": %.6f, \"packets\": %llu}\n",
                       audio, cpu, cpu / audio, (unsigned long long)atomic_load(&stats.packets));
        }
        close(sv[0]);
        waitpid(child, NULL, 0);
        codec->encoder_free(enc);
        free(pcm);
        return 0;
}
