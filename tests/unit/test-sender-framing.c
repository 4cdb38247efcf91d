/* The generic sender's framing with a codec of its own kind, through the
 * codec interface only: frames of varying size, an encoder holding audio
 * (look-ahead), a frame larger than a packet fragmented through the codec's
 * write_header, and a codec that groups its frames itself (packet_frames).
 * The fake codec writes a 4-byte header: frames, fragment kind, fragments
 * left, and the low byte of the timestamp. */
#include <check.h>

#include "check-main.h"
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "a2dp-codec.h"
#include "sender.h"
#include "stream.h"

#define FS 64                   /* PCM frames per codec frame */
#define HDR 4

struct codec_encoder {
        const size_t *sizes;    /* frame sizes, in turn; 0 = held */
        size_t n_sizes, next;
        unsigned group;         /* packet_frames, 0 none */
        unsigned lag;           /* lag_samples */
};

static int fake_encode(struct codec_encoder *e, const int16_t *pcm, uint8_t *out, size_t out_len)
{
        size_t len = e->sizes[e->next++ % e->n_sizes];

        if (len > out_len)
                return -ENOSPC;
        memset(out, (int)(e->next & 0xff), len);
        return (int)len;
}

static size_t fake_header_len(const struct codec_encoder *e)
{
        return HDR;
}

static void fake_write_header(struct codec_encoder *e, struct rtp_stream *rtp, uint8_t *pkt,
                              const struct codec_packet_meta *m)
{
        pkt[0] = (uint8_t)m->frames;
        pkt[1] = (uint8_t)m->frag;
        pkt[2] = (uint8_t)m->fragments_left;
        pkt[3] = (uint8_t)m->timestamp;
}

static unsigned fake_levels(const struct codec_encoder *e)
{
        return 1;
}

static void fake_set_level(struct codec_encoder *e, unsigned level)
{
}

static unsigned fake_bitrate(const struct codec_encoder *e, unsigned level)
{
        return 100 * 8 * 48000 / FS;    /* 100-byte frames */
}

static unsigned fake_packet_frames(const struct codec_encoder *e)
{
        return e->group;
}

static const struct a2dp_codec fake = {
        .name = "fake",
        .label = "Fake",
        .encode = fake_encode,
        .header_len = fake_header_len,
        .write_header = fake_write_header,
        .max_frames = 4,
        .packet_frames = fake_packet_frames,
        .can_fragment = true,
        .levels = fake_levels,
        .set_level = fake_set_level,
        .level_bitrate = fake_bitrate,
        .level_value = fake_bitrate,
};

static unsigned fake_lag_samples(const struct codec_encoder *e)
{
        return e->lag;
}

/* the same, running behind as an encoder on a thread of its own may */
static struct a2dp_codec fake_lagging;

struct rig {
        int sv[2];
        struct codec_encoder enc;
        struct stream_output_stats stats;
        struct sender s;
        int16_t pcm[FS * 2 * 16];
};

static void rig_init(struct rig *r, unsigned mtu, const size_t *sizes, size_t n)
{
        static const struct codec_info info = { .rate = 48000, .channels = 2, .frame_samples = FS };
        static const uint32_t seeds[3] = { 1, 2, 0 };

        memset(r, 0, sizeof(*r));
        ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK, 0, r->sv), 0);
        r->enc.sizes = sizes;
        r->enc.n_sizes = n;
        sender_init(&r->s, r->sv[0], mtu, &fake, &r->enc, &info, &r->stats, seeds);
}

/* One frame size, MTU 1000, an encoder lag samples behind */
static void lagging_rig_init(struct rig *r, const size_t *sizes, unsigned lag)
{
        fake_lagging = fake;
        fake_lagging.lag_samples = fake_lag_samples;
        rig_init(r, 1000, sizes, 1);
        r->s.codec = &fake_lagging;
        r->enc.lag = lag;
}

static void rig_free(struct rig *r)
{
        close(r->sv[0]);
        close(r->sv[1]);
}

static void push(struct rig *r, unsigned frames)
{
        bool changed;

        ck_assert_int_eq(sender_push(&r->s, r->pcm, (size_t)frames * FS, 0), 0);
        ck_assert_int_eq(sender_flush(&r->s, 0, &changed), 0);
}

static ssize_t next(struct rig *r, uint8_t *buf)
{
        return recv(r->sv[1], buf, 4096, MSG_DONTWAIT);
}

/* An encoder that fell behind (AAC's thread, late once) hands out an
 * earlier frame's audio: the packet's audio was captured that much
 * earlier, and two speakers' alignment counts from there. */
START_TEST(a_lagging_encoder_dates_its_packets_earlier)
{
        static const size_t sizes[] = { 80 };
        const uint64_t read_ns = 5000000000ull;
        uint64_t on_time, behind;
        struct rig r;

        rig_init(&r, 1000, sizes, 1);
        ck_assert_int_eq(sender_push(&r.s, r.pcm, FS, read_ns), 0);
        ck_assert_ptr_nonnull(r.s.building);
        on_time = r.s.building->first_ns;
        /* the frame's first sample: FS samples before the newest read */
        ck_assert_uint_eq(on_time, read_ns - (uint64_t)FS * 1000000000ull / 48000);
        rig_free(&r);

        lagging_rig_init(&r, sizes, 2 * FS);
        ck_assert_int_eq(sender_push(&r.s, r.pcm, FS, read_ns), 0);
        behind = r.s.building->first_ns;
        /* two frames more: the first sample 3 frames before the newest */
        ck_assert_uint_eq(behind, read_ns - (uint64_t)3 * FS * 1000000000ull / 48000);
        ck_assert_uint_gt(on_time, behind);
        rig_free(&r);
}
END_TEST

/* What the encoder is behind by waits on our side as much as the queue
 * does: the queue figure the Latency property adds up counts it. */
START_TEST(a_lagging_encoder_counts_in_the_queue_figure)
{
        static const size_t sizes[] = { 80 };
        const uint64_t t = 5000000000ull;
        uint32_t on_time;
        bool changed;
        struct rig r;

        rig_init(&r, 1000, sizes, 1);
        ck_assert_int_eq(sender_push(&r.s, r.pcm, 4 * FS, t), 0);
        ck_assert_int_eq(sender_flush(&r.s, t, &changed), 0);
        on_time = atomic_load(&r.stats.queue_us);
        rig_free(&r);

        lagging_rig_init(&r, sizes, 3 * FS);
        ck_assert_int_eq(sender_push(&r.s, r.pcm, 4 * FS, t), 0);
        ck_assert_int_eq(sender_flush(&r.s, t, &changed), 0);
        /* three frames of 64 at 48 kHz: 4000 us more */
        ck_assert_uint_eq(atomic_load(&r.stats.queue_us), on_time + 3 * FS * 1000000 / 48000);
        rig_free(&r);
}
END_TEST

/* 100, 100, then 300 at MTU 350: the third does not fit the first packet,
 * which leaves full with two; the 300 goes alone (another would not fit). */
START_TEST(varying_frames_close_the_packet_before_them)
{
        static const size_t sizes[] = { 100, 100, 300 };
        struct rig r;
        uint8_t buf[4096];

        rig_init(&r, 350, sizes, 3);
        push(&r, 3);
        ck_assert_int_eq(next(&r, buf), HDR + 200);
        ck_assert_uint_eq(buf[0], 2);
        ck_assert_uint_eq(buf[3], 0);                   /* timestamp of frame 0 */
        ck_assert_int_eq(next(&r, buf), HDR + 300);
        ck_assert_uint_eq(buf[0], 1);
        ck_assert_uint_eq(buf[3], 2 * FS);
        ck_assert_int_eq(next(&r, buf), -1);
        ck_assert_uint_eq(atomic_load(&r.stats.frames), 3);
        ck_assert_uint_eq(atomic_load(&r.stats.full_packets), 2);
        rig_free(&r);
}
END_TEST

/* An encoder that holds its first two frames (look-ahead): nothing is sent
 * for them and RTP time counts the frames made, from the first one. */
START_TEST(held_frames_are_not_sent)
{
        static const size_t sizes[] = { 0, 0, 80, 80, 80, 80, 80, 80 };
        struct rig r;
        uint8_t buf[4096];

        rig_init(&r, 1000, sizes, 8);
        push(&r, 6);
        ck_assert_int_eq(next(&r, buf), HDR + 4 * 80);  /* max_frames: 4 */
        ck_assert_uint_eq(buf[0], 4);
        ck_assert_uint_eq(buf[3], 0);
        ck_assert_int_eq(next(&r, buf), -1);            /* none more yet */
        push(&r, 2);
        ck_assert_int_eq(next(&r, buf), -1);            /* the open packet waits */
        ck_assert_uint_eq(atomic_load(&r.stats.frames), 4);
        rig_free(&r);
}
END_TEST

/* A 700-byte frame at MTU 254 (250 bytes a packet): three fragments, first,
 * middle, last, all at the frame's time, each saying how many follow. */
START_TEST(large_frame_is_fragmented_through_write_header)
{
        static const size_t sizes[] = { 700, 100 };
        struct rig r;
        uint8_t buf[4096];

        rig_init(&r, 254, sizes, 2);
        push(&r, 2);
        ck_assert_int_eq(next(&r, buf), 254);
        ck_assert_uint_eq(buf[1], FRAG_FIRST);
        ck_assert_uint_eq(buf[2], 2);
        ck_assert_uint_eq(buf[0], 0);
        ck_assert_int_eq(next(&r, buf), 254);
        ck_assert_uint_eq(buf[1], FRAG_MIDDLE);
        ck_assert_uint_eq(buf[2], 1);
        ck_assert_int_eq(next(&r, buf), HDR + 200);
        ck_assert_uint_eq(buf[1], FRAG_LAST);
        ck_assert_uint_eq(buf[2], 0);
        ck_assert_uint_eq(buf[3], 0);
        ck_assert_uint_eq(atomic_load(&r.stats.frames), 1);
        ck_assert_uint_eq(atomic_load(&r.stats.packets), 3);
        /* the next frame fits whole again, at the next frame's time */
        push(&r, 2);
        ck_assert_int_eq(next(&r, buf), HDR + 100);
        ck_assert_uint_eq(buf[1], FRAG_NONE);
        ck_assert_uint_eq(buf[3], FS);
        rig_free(&r);
}
END_TEST

/* A codec that groups frames itself: packets close at its count, though
 * more would fit and max_frames allows more. */
START_TEST(codec_grouping_closes_packets)
{
        static const size_t sizes[] = { 50 };
        struct rig r;
        uint8_t buf[4096];

        rig_init(&r, 1000, sizes, 1);
        r.enc.group = 3;
        push(&r, 6);
        ck_assert_int_eq(next(&r, buf), HDR + 150);
        ck_assert_uint_eq(buf[0], 3);
        ck_assert_int_eq(next(&r, buf), HDR + 150);
        ck_assert_uint_eq(sender_frames_to_packet(&r.s), 3 * FS);
        rig_free(&r);
}
END_TEST

static Suite *framing_suite(void)
{
        Suite *s = suite_create("sender-framing");
        TCase *tc = tcase_create("framing");

        tcase_add_test(tc, varying_frames_close_the_packet_before_them);
        tcase_add_test(tc, a_lagging_encoder_dates_its_packets_earlier);
        tcase_add_test(tc, a_lagging_encoder_counts_in_the_queue_figure);
        tcase_add_test(tc, held_frames_are_not_sent);
        tcase_add_test(tc, large_frame_is_fragmented_through_write_header);
        tcase_add_test(tc, codec_grouping_closes_packets);
        suite_add_tcase(s, tc);
        return s;
}

CHECK_MAIN(framing_suite)
