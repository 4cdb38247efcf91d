/* codec-floor: the CPU floor of one codec of the table (a2dp-codecs.c) —
 * the codec object's own encoder (encoder_new, encode) over the benchmark's
 * PCM, nothing else; what sbc-floor is to libsbc, for every codec.  The
 * daemon's CPU per audio-second for that codec is compared with this figure,
 * measured in the same run.
 *
 *   codec-floor --list
 *   codec-floor --codec NAME --config HEX [--mtu N] [--min-cpu S | --paced S] FILE.raw
 *
 * FILE.raw: S16_LE interleaved stereo (the rate is the configuration's; the
 *           cost per sample does not depend on what the samples are meant
 *           to be played at).
 * --config: the configuration blob the daemon set on the transport (bench.py
 *           reads it from the double), as hex.
 * --min-cpu: encode the file over and over until this much process CPU
 *           time (every thread: AAC encodes on a thread of its own) has
 *           been spent (default 2 s).
 * --paced:  for this many seconds, wake once per packet on a periodic
 *           timerfd, encode the frames of one packet (a2dp_codec_packet_samples
 *           for --mtu, default 895), write the codec's header and send() the
 *           packet on a SOCK_SEQPACKET socketpair a child process drains: the
 *           least a real-time source of this codec costs on this kernel.
 *
 * Prints one JSON object: codec, mode, audio_s, cpu_s, cpu_per_audio_s,
 * frames, bytes (encoded), bytes_per_audio_s, and a checksum of the output.
 */
#include "bench-util.h"
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "a2dp-codec.h"
#ifdef WITH_AAC
#include "a2dp-aac.h"
#endif

struct floor_run {
        const struct a2dp_codec *codec;
        struct codec_encoder *enc;
        struct codec_info info;
        const int16_t *pcm;
        size_t codec_frames;     /* codec frames in the file */
        size_t pos;
        uint64_t frames, bytes, checksum;
        uint8_t out[CODEC_MAX_FRAME];
};

static void nap(void)
{
        struct timespec ts = { 0, 20000 };

        nanosleep(&ts, NULL);
}

/* Whether the codec still works on what it was handed (AAC encodes on a
 * thread of its own, and drops frames when it falls behind by more than a
 * few: a tight loop must wait for it, or it would measure dropped frames). */
static bool busy(const struct floor_run *r)
{
#ifdef WITH_AAC
        if (r->codec->index == CODEC_AAC)
                return !aac_encoder_idle(r->enc);
#endif
        (void)r;
        return false;
}

/* One codec frame of the file into dst (at most CODEC_MAX_FRAME bytes);
 * returns its length (0 while the encoder holds audio back) or < 0. */
static int encode_one(struct floor_run *r, uint8_t *dst, size_t room)
{
        const int16_t *pcm = r->pcm + r->pos * r->info.frame_samples * 2;
        int n;

        /* waiting sleeps: only the encoding itself is on the clock */
        while ((n = r->codec->encode(r->enc, pcm, dst, room)) == -ENOBUFS)
                nap();
        while (busy(r))
                nap();
        if (n < 0)
                return n;
        r->pos = (r->pos + 1) % r->codec_frames;
        r->frames++;
        r->bytes += (uint64_t)n;
        if (n > 0)
                r->checksum = r->checksum * 31 + dst[n - 1] + dst[n / 2];
        return n;
}

static int run_tight(struct floor_run *r, double min_cpu, double *cpu)
{
        double t0 = cpu_now();

        do {
                for (int i = 0; i < 256; i++)
                        if (encode_one(r, r->out, sizeof(r->out)) < 0)
                                return -1;
        } while (cpu_now() - t0 < min_cpu);
        *cpu = cpu_now() - t0;
        return 0;
}

/* One wake-up per packet: timerfd, encode, header, send. */
static int run_paced(struct floor_run *r, size_t mtu, double seconds, double *cpu)
{
        unsigned samples = a2dp_codec_packet_samples(r->codec, &r->info, mtu);
        unsigned fpp = samples / r->info.frame_samples;
        uint64_t period_ns = (uint64_t)samples * 1000000000ull / r->info.rate;
        struct itimerspec its = {
                .it_interval = { (time_t)(period_ns / 1000000000ull), (long)(period_ns % 1000000000ull) },
                .it_value = { (time_t)(period_ns / 1000000000ull), (long)(period_ns % 1000000000ull) },
        };
        uint64_t target = (uint64_t)(seconds * 1e9 / (double)period_ns), packets = 0;
        static uint8_t pkt[CODEC_MAX_FRAME * 2];
        struct rtp_stream rtp;
        int sv[2], tfd;
        pid_t child;
        double t0;

        if (fpp == 0 || socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
                return -1;
        child = fork();
        if (child == 0) {                /* the speaker: read until EOF */
                static uint8_t buf[CODEC_MAX_FRAME * 2];

                close(sv[0]);
                while (recv(sv[1], buf, sizeof(buf), 0) > 0)
                        ;
                _exit(0);
        }
        close(sv[1]);
        tfd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);
        if (tfd < 0 || timerfd_settime(tfd, 0, &its, NULL) < 0)
                return -1;
        rtp_stream_init(&rtp, 1, 1, 0);
        t0 = cpu_now();
        while (packets < target) {
                struct pollfd pfd = { .fd = tfd, .events = POLLIN };
                struct codec_packet_meta m = { .timestamp = rtp.timestamp, .frames = fpp };
                size_t hdr = r->codec->header_len(r->enc), len = hdr;
                uint64_t exp;

                if (poll(&pfd, 1, -1) < 0 || read(tfd, &exp, sizeof(exp)) != sizeof(exp))
                        continue;
                for (unsigned f = 0; f < fpp; f++) {
                        int n = encode_one(r, pkt + len, sizeof(pkt) - len);

                        if (n < 0)
                                return -1;
                        len += (size_t)n;
                }
                r->codec->write_header(r->enc, &rtp, pkt, &m);
                rtp.timestamp += samples;
                if (send(sv[0], pkt, len, MSG_NOSIGNAL) < 0)
                        return -1;
                packets++;
        }
        *cpu = cpu_now() - t0;
        close(sv[0]);
        close(tfd);
        waitpid(child, NULL, 0);
        return 0;
}

int main(int argc, char **argv)
{
        const struct a2dp_codec *codec = NULL;
        uint8_t conf[A2DP_CODEC_BLOB_MAX];
        size_t conf_len = 0, mtu = 895;
        const char *path = NULL, *conf_hex = NULL;
        double min_cpu = 2.0, paced = 0, cpu = 0, audio_s;
        char err[160] = "";
        struct floor_run *r;
        int16_t *pcm;
        long frames;
        FILE *f;
        int ret;

        if (argc == 2 && !strcmp(argv[1], "--list")) {     /* the codecs of this build */
                for (unsigned i = 0; i < CODEC_COUNT; i++)
                        if (a2dp_codecs[i])
                                printf("%s\n", a2dp_codecs[i]->name);
                return 0;
        }
        for (int i = 1; i < argc; i++) {
                if (!strcmp(argv[i], "--codec") && i + 1 < argc)
                        codec = a2dp_codec_by_name(argv[++i]);
                else if (!strcmp(argv[i], "--config") && i + 1 < argc)
                        conf_hex = argv[++i];
                else if (!strcmp(argv[i], "--mtu") && i + 1 < argc)
                        mtu = (size_t)atoi(argv[++i]);
                else if (!strcmp(argv[i], "--min-cpu") && i + 1 < argc)
                        min_cpu = atof(argv[++i]);
                else if (!strcmp(argv[i], "--paced") && i + 1 < argc)
                        paced = atof(argv[++i]);
                else if (argv[i][0] == '-' || path)
                        goto usage;
                else
                        path = argv[i];
        }
        r = calloc(1, sizeof(*r));
        if (!path || !codec || !conf_hex || !r ||
            bench_parse_hex(conf_hex, conf, sizeof(conf), &conf_len) < 0)
                goto usage;
        if (codec->parse(conf, conf_len, &r->info, err, sizeof(err)) < 0) {
                fprintf(stderr, "codec-floor: %s: %s\n", codec->name, err);
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
        r->codec = codec;
        r->pcm = pcm;
        r->codec_frames = (size_t)frames / r->info.frame_samples;
        if (r->codec_frames == 0) {
                fprintf(stderr, "codec-floor: %s holds less than one frame\n", path);
                return 2;
        }
        if (codec->encoder_new(conf, conf_len, mtu, &r->enc, err, sizeof(err)) < 0) {
                fprintf(stderr, "codec-floor: %s: %s\n", codec->name, err);
                return 2;
        }
        ret = paced > 0 ? run_paced(r, mtu, paced, &cpu) : run_tight(r, min_cpu, &cpu);
        if (ret < 0) {
                fprintf(stderr, "codec-floor: %s: encoding failed\n", codec->name);
                return 1;
        }
        audio_s = (double)r->frames * r->info.frame_samples / r->info.rate;
        printf("{\"codec\": \"%s\", \"mode\": \"%s\", \"config\": \"%s\", \"rate\": %u, "
               "\"frame_samples\": %u, \"frames\": %llu, \"audio_s\": %.6f, \"cpu_s\": %.6f, "
               "\"cpu_per_audio_s\": %.9f, \"bytes\": %llu, \"bytes_per_audio_s\": %.1f, "
               "\"checksum\": %llu}\n",
               codec->name, paced > 0 ? "paced" : "tight", conf_hex, r->info.rate,
               r->info.frame_samples, (unsigned long long)r->frames, audio_s, cpu, cpu / audio_s,
               (unsigned long long)r->bytes, (double)r->bytes / audio_s,
               (unsigned long long)r->checksum);
        codec->encoder_free(r->enc);
        free(pcm);
        free(r);
        return 0;
usage:
        fprintf(stderr, "usage: codec-floor --codec NAME --config HEX [--mtu N] [--min-cpu S | --paced S] "
                        "FILE.raw\n");
        return 2;
}
