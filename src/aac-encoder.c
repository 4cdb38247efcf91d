/* AAC's encoder: libavcodec's native AAC-LC encoder, loaded with dlopen on
 * first use (codec-lib.h), its frames framed as LATM (latm.c).
 *
 * Why a thread of its own: libavcodec 5.1 allocates on every frame. With
 * avcodec_send_frame() a refcounted frame costs an AVBufferRef per plane
 * (av_frame_ref), a frame that is not refcounted a copy of its samples;
 * avcodec_receive_packet() hands out a packet the native aac encoder
 * writes into the context's scratch buffer and libavcodec then copies into
 * a fresh AVBuffer (av_packet_make_refcounted: three allocations), since
 * this encoder has no AV_CODEC_CAP_DR1 and ignores get_encode_buffer. The
 * unit test counts seven allocations per frame on Debian 12's build. The
 * real-time thread must not allocate, so it only copies PCM into a ring and
 * takes finished AudioMuxElements from another (no locks: single producer,
 * single consumer, C11 atomics), and wakes this encoder's thread with
 * sem_post (a futex wake, which never blocks). The thread calls libavcodec
 * and may allocate at leisure. The cost is one frame of latency (the
 * element of frame n is handed out with frame n+1, AAC_DELAY_SAMPLES).
 * If the thread falls behind (a starved CPU), elements come out later; a
 * longer stall drops audio, never the stream (aac_encode). */
#include "a2dp-aac.h"

#include <errno.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libavcodec/avcodec.h>
#include <libavutil/channel_layout.h>
#include <libavutil/frame.h>
#include <libavutil/log.h>

#include "codec-lib.h"
#include "codec-sonames.h"
#include "err-text.h"
#include "latm.h"

struct lavc_api {
        const AVCodec *(*find_encoder_by_name)(const char *name);
        AVCodecContext *(*alloc_context3)(const AVCodec *codec);
        int (*open2)(AVCodecContext *ctx, const AVCodec *codec, AVDictionary **options);
        void (*free_context)(AVCodecContext **ctx);
        int (*send_frame)(AVCodecContext *ctx, const AVFrame *frame);
        int (*receive_packet)(AVCodecContext *ctx, AVPacket *pkt);
        AVPacket *(*packet_alloc)(void);
        void (*packet_free)(AVPacket **pkt);
        void (*packet_unref)(AVPacket *pkt);
};

struct lavu_api {
        AVFrame *(*frame_alloc)(void);
        void (*frame_free)(AVFrame **frame);
        int (*frame_get_buffer)(AVFrame *frame, int align);
        int (*frame_make_writable)(AVFrame *frame);
        void (*channel_layout_default)(AVChannelLayout *ch_layout, int nb_channels);
        void (*log_set_level)(int level);
};

struct aac_element {
        unsigned fed;           /* the call whose frame's hand-over made it */
        size_t len;
        uint8_t data[CODEC_MAX_FRAME];
};

struct codec_encoder {
        void *lavc, *lavu;
        struct lavc_api c;
        struct lavu_api u;
        AVCodecContext *ctx;
        AVFrame *frame;
        AVPacket *pkt;
        struct aac_params p;
        unsigned level;

        /* PCM in: the real-time thread writes pcm_head, the encoding
         * thread pcm_tail; elements out: the other way round */
        int16_t pcm[AAC_RING][AAC_FRAME_SAMPLES * 2];
        struct aac_element out[AAC_RING];
        atomic_uint pcm_head, pcm_tail, out_head, out_tail;
        /* calls to aac_encode so far, and the call each PCM frame came
         * with: counted in calls, not frames taken, the age of an element
         * includes the frames a full ring dropped after its own */
        unsigned calls;
        unsigned pcm_call[AAC_RING];
        atomic_uint bitrate;     /* what the next frame is encoded at */
        atomic_uint overruns;
        unsigned lag_frames;            /* audio thread: beyond the usual one */
        atomic_bool stop;
        atomic_int tid;          /* the encoding thread's, once it runs */
        sem_t wake;
        pthread_t thread;
        bool thread_started;
};

static int bind_libs(struct codec_encoder *e, char *err, size_t err_len)
{
        const struct codec_sym csyms[] = {
                { "avcodec_find_encoder_by_name", (void **)&e->c.find_encoder_by_name },
                { "avcodec_alloc_context3", (void **)&e->c.alloc_context3 },
                { "avcodec_open2", (void **)&e->c.open2 },
                { "avcodec_free_context", (void **)&e->c.free_context },
                { "avcodec_send_frame", (void **)&e->c.send_frame },
                { "avcodec_receive_packet", (void **)&e->c.receive_packet },
                { "av_packet_alloc", (void **)&e->c.packet_alloc },
                { "av_packet_free", (void **)&e->c.packet_free },
                { "av_packet_unref", (void **)&e->c.packet_unref },
        };
        const struct codec_sym usyms[] = {
                { "av_frame_alloc", (void **)&e->u.frame_alloc },
                { "av_frame_free", (void **)&e->u.frame_free },
                { "av_frame_get_buffer", (void **)&e->u.frame_get_buffer },
                { "av_frame_make_writable", (void **)&e->u.frame_make_writable },
                { "av_channel_layout_default", (void **)&e->u.channel_layout_default },
                { "av_log_set_level", (void **)&e->u.log_set_level },
        };

        /* resident: unloading libavcodec would leak (codec-lib.h) */
        e->lavu = codec_lib_open_resident(LAVU_SONAME, usyms, sizeof(usyms) / sizeof(usyms[0]),
                                          err, err_len);
        if (!e->lavu)
                return -ENOENT;
        e->lavc = codec_lib_open_resident(LAVC_SONAME, csyms, sizeof(csyms) / sizeof(csyms[0]),
                                          err, err_len);
        if (!e->lavc)
                return -ENOENT;
        return 0;
}

/* Not codec_lib_present(): loading libavcodec to see that it loads would
 * leave megabytes resident in a daemon that may never stream AAC. A
 * library that is there but will not load is reported by encoder_new. */
bool aac_available(void)
{
        return codec_lib_findable(LAVU_SONAME) && codec_lib_findable(LAVC_SONAME);
}

static int open_codec(struct codec_encoder *e, char *err, size_t err_len)
{
        const AVCodec *codec = e->c.find_encoder_by_name("aac");
        int ret;

        if (!codec) {
                snprintf(err, err_len, "%s has no native aac encoder", LAVC_SONAME);
                return -ENOENT;
        }
        e->ctx = e->c.alloc_context3(codec);
        e->frame = e->u.frame_alloc();
        e->pkt = e->c.packet_alloc();
        if (!e->ctx || !e->frame || !e->pkt)
                return -ENOMEM;
        e->ctx->sample_rate = (int)e->p.rate;
        e->ctx->sample_fmt = AV_SAMPLE_FMT_FLTP;
        e->u.channel_layout_default(&e->ctx->ch_layout, (int)e->p.channels);
        e->ctx->bit_rate = aac_bitrate_at(&e->p, 0);
        /* Without the QSCALE flag this is only where the rate control's
         * lambda starts: libavcodec's 120 is far from where it settles at
         * A2DP's bit rates, and the first 0.3 s of a stream came out 20-30 dB
         * worse than the rest (test steady_from_the_start) */
        e->ctx->global_quality = 60;
        /* the MPEG-2 profile turns PNS off (an MPEG-4 tool) */
        e->ctx->profile = e->p.mpeg2 ? FF_PROFILE_MPEG2_AAC_LOW : FF_PROFILE_AAC_LOW;
        ret = e->c.open2(e->ctx, codec, NULL);
        if (ret < 0) {
                snprintf(err, err_len, "libavcodec's aac encoder refuses %u Hz, %u channels, "
                         "%u bit/s (error %d)", e->p.rate, e->p.channels, e->p.bitrate, ret);
                return -EINVAL;
        }
        if (e->ctx->frame_size != (int)AAC_FRAME_SAMPLES) {
                snprintf(err, err_len, "libavcodec's aac encoder wants %d-sample frames",
                         e->ctx->frame_size);
                return -EINVAL;
        }
        e->frame->nb_samples = (int)AAC_FRAME_SAMPLES;
        e->frame->format = AV_SAMPLE_FMT_FLTP;
        e->u.channel_layout_default(&e->frame->ch_layout, (int)e->p.channels);
        if (e->u.frame_get_buffer(e->frame, 0) < 0)
                return -ENOMEM;
        return 0;
}

/* Stereo S16 into the frame's float planes (mono: the mean of the two). */
static void fill_frame(struct codec_encoder *e, const int16_t *pcm)
{
        float *l = (float *)(void *)e->frame->data[0];
        const float k = 1.0f / 32768.0f;

        if (e->p.channels == 1) {
                for (size_t i = 0; i < AAC_FRAME_SAMPLES; i++)
                        l[i] = ((float)pcm[2 * i] + (float)pcm[2 * i + 1]) * 0.5f * k;
                return;
        }
        float *r = (float *)(void *)e->frame->data[1];

        for (size_t i = 0; i < AAC_FRAME_SAMPLES; i++) {
                l[i] = (float)pcm[2 * i] * k;
                r[i] = (float)pcm[2 * i + 1] * k;
        }
}

/* Takes what libavcodec has finished and frames it; on the encoding
 * thread. */
static void drain_packets(struct codec_encoder *e, unsigned fed)
{
        while (e->c.receive_packet(e->ctx, e->pkt) == 0) {
                unsigned head = atomic_load_explicit(&e->out_head, memory_order_relaxed);
                unsigned tail = atomic_load_explicit(&e->out_tail, memory_order_acquire);
                struct aac_element *el = &e->out[head % AAC_RING];
                int n = -ENOBUFS;

                if (head - tail < AAC_RING)
                        n = latm_write_element(e->p.rate, e->p.channels, e->pkt->data,
                                               (size_t)e->pkt->size, el->data,
                                               sizeof(el->data));
                e->c.packet_unref(e->pkt);
                if (n < 0) {
                        atomic_fetch_add_explicit(&e->overruns, 1, memory_order_relaxed);
                        continue;
                }
                el->len = (size_t)n;
                el->fed = fed;
                atomic_store_explicit(&e->out_head, head + 1, memory_order_release);
        }
}

static void *encode_thread(void *arg)
{
        struct codec_encoder *e = arg;
        int64_t pts = 0;

        atomic_store(&e->tid, (int)gettid());
        for (;;) {
                while (sem_wait(&e->wake) < 0 && errno == EINTR)
                        ;
                if (atomic_load_explicit(&e->stop, memory_order_acquire))
                        break;
                for (;;) {
                        unsigned tail = atomic_load_explicit(&e->pcm_tail, memory_order_relaxed);
                        unsigned head = atomic_load_explicit(&e->pcm_head, memory_order_acquire);

                        if (tail == head)
                                break;
                        if (e->u.frame_make_writable(e->frame) < 0) {
                                atomic_fetch_add_explicit(&e->overruns, 1,
                                                          memory_order_relaxed);
                        } else {
                                fill_frame(e, e->pcm[tail % AAC_RING]);
                                e->frame->pts = pts;
                                pts += AAC_FRAME_SAMPLES;
                                /* a new bit rate applies from this frame: the
                                 * encoder reads it afresh each frame */
                                e->ctx->bit_rate = atomic_load_explicit(&e->bitrate,
                                                                        memory_order_relaxed);
                                if (e->c.send_frame(e->ctx, e->frame) < 0)
                                        atomic_fetch_add_explicit(&e->overruns, 1,
                                                                  memory_order_relaxed);
                        }
                        drain_packets(e, e->pcm_call[tail % AAC_RING]);
                        /* after the element is out: "idle" means done */
                        atomic_store_explicit(&e->pcm_tail, tail + 1, memory_order_release);
                }
        }
        return NULL;
}

void aac_encoder_free(struct codec_encoder *e)
{
        if (!e)
                return;
        if (e->thread_started) {
                atomic_store_explicit(&e->stop, true, memory_order_release);
                sem_post(&e->wake);
                pthread_join(e->thread, NULL);
        }
        sem_destroy(&e->wake);
        if (e->pkt)
                e->c.packet_free(&e->pkt);
        if (e->frame)
                e->u.frame_free(&e->frame);
        if (e->ctx)
                e->c.free_context(&e->ctx);
        codec_lib_close(e->lavc);
        codec_lib_close(e->lavu);
        free(e);
}

int aac_encoder_new(const uint8_t *config, size_t len, size_t mtu, struct codec_encoder **out,
                    char *err, size_t err_len)
{
        struct codec_encoder *e;
        int ret;

        *out = NULL;
        if (mtu <= RTP_HEADER_LEN)
                return err_text(err, err_len, "MTU %zu: no room after the RTP header", mtu);
        e = calloc(1, sizeof(*e));
        if (!e)
                return -ENOMEM;
        if (sem_init(&e->wake, 0, 0) < 0) {
                free(e);
                return -errno;
        }
        ret = aac_params_parse(config, len, &e->p, err, err_len);
        if (ret < 0)
                goto fail;
        ret = bind_libs(e, err, err_len);
        if (ret < 0)
                goto fail;
        /* libavcodec's warnings would reach the journal once per stream */
        e->u.log_set_level(AV_LOG_ERROR);
        ret = open_codec(e, err, err_len);
        if (ret < 0)
                goto fail;
        atomic_init(&e->bitrate, aac_bitrate_at(&e->p, 0));
        ret = -pthread_create(&e->thread, NULL, encode_thread, e);
        if (ret < 0) {
                snprintf(err, err_len, "cannot start the AAC encoding thread");
                goto fail;
        }
        e->thread_started = true;
        pthread_setname_np(e->thread, "a2dpsrc-aac");
        *out = e;
        return 0;
fail:
        aac_encoder_free(e);
        return ret;
}

unsigned aac_encoder_lag_samples(const struct codec_encoder *e)
{
        return e->lag_frames * AAC_FRAME_SAMPLES;
}

int aac_encoder_worker_tid(struct codec_encoder *e)
{
        for (int i = 0; i < 100 && !atomic_load(&e->tid); i++)
                usleep(1000);   /* the thread has just been created */
        return atomic_load(&e->tid);
}

/* Elements waiting beyond this many are a stall's backlog: dropped, so
 * that latency comes back near its normal once the thread runs again.
 * Four tolerate the thread being late by three frames' time (64 ms at
 * 48 kHz), at that much more latency until the stream restarts. */
#define AAC_MAX_BACKLOG 4

/* Hands out the element of an earlier frame, then hands this frame over:
 * in that order, so that the delay is the same whether the encoding thread
 * is quick or not (the element of frame n leaves with frame n + 2: one
 * frame of libavcodec's look-ahead, one of hand-off). A stalled thread
 * costs audio, never the stream: a frame the full ring cannot take is
 * dropped and 0 returned (the sender then sends nothing for it), and a
 * backlog beyond AAC_MAX_BACKLOG is dropped; both count as overruns. */
int aac_encode(struct codec_encoder *e, const int16_t *pcm, uint8_t *out, size_t out_len)
{
        unsigned head = atomic_load_explicit(&e->pcm_head, memory_order_relaxed);
        unsigned tail = atomic_load_explicit(&e->pcm_tail, memory_order_acquire);
        unsigned otail = atomic_load_explicit(&e->out_tail, memory_order_relaxed);
        unsigned ohead = atomic_load_explicit(&e->out_head, memory_order_acquire);
        unsigned now = e->calls++;
        int ret = 0;

        if (ohead - otail > AAC_MAX_BACKLOG) {
                atomic_fetch_add_explicit(&e->overruns, ohead - otail - AAC_MAX_BACKLOG,
                                          memory_order_relaxed);
                otail = ohead - AAC_MAX_BACKLOG;
        }
        if (otail != ohead) {
                const struct aac_element *el = &e->out[otail % AAC_RING];

                if (el->len > out_len) {
                        ret = -EMSGSIZE;
                } else {
                        memcpy(out, el->data, el->len);
                        ret = (int)el->len;
                        /* made when call fed handed its frame over: quick,
                         * the thread has it out by the next call */
                        e->lag_frames = now - el->fed > 1 ? now - el->fed - 1 : 0;
                }
                otail++;
        }
        atomic_store_explicit(&e->out_tail, otail, memory_order_release);
        if (head - tail >= AAC_RING) {
                /* the encoding thread has not run for AAC_RING frames */
                atomic_fetch_add_explicit(&e->overruns, 1, memory_order_relaxed);
                return ret;
        }
        memcpy(e->pcm[head % AAC_RING], pcm, sizeof(e->pcm[0]));
        e->pcm_call[head % AAC_RING] = now;
        atomic_store_explicit(&e->pcm_head, head + 1, memory_order_release);
        sem_post(&e->wake);
        return ret;
}

unsigned aac_encoder_ready(const struct codec_encoder *e)
{
        struct codec_encoder *m = (struct codec_encoder *)e;

        return atomic_load_explicit(&m->out_head, memory_order_acquire) -
               atomic_load_explicit(&m->out_tail, memory_order_acquire);
}

bool aac_encoder_idle(const struct codec_encoder *e)
{
        return atomic_load_explicit(&((struct codec_encoder *)e)->pcm_tail,
                                    memory_order_acquire) ==
               atomic_load_explicit(&((struct codec_encoder *)e)->pcm_head,
                                    memory_order_acquire);
}

size_t aac_header_len(const struct codec_encoder *e)
{
        (void)e;
        return RTP_HEADER_LEN;           /* RFC 3016: no payload header */
}

void aac_write_header(struct codec_encoder *e, struct rtp_stream *rtp, uint8_t *pkt,
                      const struct codec_packet_meta *m)
{
        (void)e;
        latm_rtp_write_header(rtp, pkt, m->timestamp,
                              m->frag == FRAG_NONE || m->frag == FRAG_LAST);
}

unsigned aac_encoder_levels(const struct codec_encoder *e)
{
        return aac_levels(&e->p);
}

void aac_set_level(struct codec_encoder *e, unsigned level)
{
        unsigned n = aac_levels(&e->p);

        e->level = level < n ? level : n - 1;
        atomic_store_explicit(&e->bitrate, aac_bitrate_at(&e->p, e->level),
                              memory_order_relaxed);
}

unsigned aac_level_bitrate(const struct codec_encoder *e, unsigned level)
{
        return aac_bitrate_at(&e->p, level);
}

unsigned aac_level_value(const struct codec_encoder *e, unsigned level)
{
        return aac_bitrate_at(&e->p, level) / 1000;
}

unsigned aac_encoder_overruns(const struct codec_encoder *e)
{
        return atomic_load_explicit(&((struct codec_encoder *)e)->overruns,
                                    memory_order_relaxed);
}
