/* The real-time audio thread: ALSA capture -> codec -> RTP -> transport.
 *
 * The main loop owns every resource and hands them over with a command
 * through a lock-free ring and an eventfd; the thread never allocates,
 * never takes a lock the main loop holds, never touches D-Bus. It reports
 * back through a second ring and eventfd (errors, xrun bursts), and keeps
 * its counters in atomics the main loop reads. */
#ifndef A2DPSRC_STREAM_H
#define A2DPSRC_STREAM_H

#include <alsa/asoundlib.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "a2dp-codec.h"
#include "options.h"

struct stream;

/* The engine: captures (one per category) mixed to the Bluetooth outputs
 * and/or the local output. Every resource stays owned by the caller. */
struct stream_params {
        snd_pcm_t *capture[CAT_COUNT];   /* configured, not started; NULL = absent */
        snd_pcm_t *local;                /* playback, configured; NULL = none */
        unsigned rate;
        unsigned period_frames;          /* capture period */
};

/* Bluetooth outputs (speakers) the engine carries at once, each in its
 * slot (0 .. STREAM_OUTPUTS_MAX - 1). One capture and one mix feed them
 * all; each has its own delay line, encoder, queue and socket, and the
 * delay lines hold back the output with the shorter path to the ear so
 * that every speaker presents a sample at the same moment (issue #13,
 * docs/multi-output.md). With one output nothing is held back. */
#define STREAM_OUTPUTS_MAX 2
/* The most one output is held back: 500 ms at 48 kHz (the delay lines
 * hold frames: 250 ms at 96 kHz). */
#define STREAM_ALIGN_MAX_FRAMES 24000u

/* A Bluetooth output, attached while a transport is held. */
struct stream_bt_params {
        int fd;                          /* transport socket, non-blocking */
        unsigned write_mtu;
        const struct a2dp_codec *codec;
        uint8_t config[A2DP_CODEC_BLOB_MAX];
        size_t config_len;
        struct codec_info info;          /* codec->parse of config */
};

enum stream_event_type {
        /* per output (ev.output): the other output is not disturbed, and
         * audio moves local only when no Bluetooth output takes it */
        STREAM_EV_LINK_ERROR,      /* value = errno; the output has stopped */
        STREAM_EV_STALLED,         /* the speaker stopped taking audio */
        STREAM_EV_RESUMED,         /* it takes audio again */
        STREAM_EV_CAPTURE_ERROR,   /* value = ALSA error recover couldn't fix; category */
        STREAM_EV_LOCAL_ERROR,     /* value = ALSA error on the local output */
        STREAM_EV_XRUN_BURST,      /* value = xruns in the burst (logged once per burst) */
        STREAM_EV_LEVEL,           /* value = an output's new quality level (0 best) after congestion
                                    * or recovery; level_value = what it shows */
        STREAM_EV_ALIGN_SHORT,     /* value = us an output is to be held back beyond what its
                                    * delay line holds (STREAM_ALIGN_MAX_FRAMES): the two
                                    * speakers are heard that far apart; sent as it starts */
};

struct stream_event {
        enum stream_event_type type;
        int value;
        int category;
        int output;              /* the output slot (link error, stalled, resumed, level); -1 otherwise */
        uint32_t attach;         /* which attach of the slot it is about (stream_next_event's filter) */
        /* STREAM_EV_LEVEL: the level's value (bitpool, kbit/s) as it was
         * set; the output's stats may show a later one by the time the
         * main loop reads the event (LDAC's ABR steps twice within 5 ms) */
        unsigned level_value;
};

#define STREAM_LATENCY_BUCKETS 256   /* 0.5 ms buckets up to 128 ms */
#define STREAM_LATENCY_BUCKET_US 500

/* One Bluetooth output's counters (a slot's, kept across attaches). */
struct stream_output_stats {
        _Atomic uint64_t packets;
        _Atomic uint64_t bytes;
        _Atomic uint64_t frames;             /* codec frames sent */
        _Atomic uint64_t full_packets;       /* packets carrying as many frames as fit */
        _Atomic uint64_t congestion;         /* EAGAIN or socket queue over the bound */
        _Atomic uint64_t dropped_frames;     /* PCM frames dropped to bound latency */
        _Atomic uint32_t level;              /* quality level in use, 0 = best */
        _Atomic uint32_t level_value;        /* what it means: SBC's bitpool, else kbit/s */
        _Atomic uint32_t bitrate;            /* bit/s at that level */
        _Atomic uint32_t cap_bps;            /* the most it may use, two sharing the air (0: none) */
        _Atomic uint32_t latency_max_us;
        _Atomic uint32_t latency_hist[STREAM_LATENCY_BUCKETS];
        _Atomic uint32_t queue_us;           /* audio queued in our packet queue + socket */
        /* capture to the link: the mean wait of packets' first sample
         * from its capture to send(), and what the socket held ahead */
        _Atomic uint32_t hold_us;
        _Atomic uint32_t align_us;           /* held back to be heard in time with the other output */
        _Atomic uint32_t align_short_us;     /* what it should be held back more than its line holds */
        _Atomic uint64_t stalls;             /* times the speaker stopped taking audio */
        _Atomic uint64_t bt_frames;          /* PCM frames handed to the encoder */
};

struct stream_stats {
        struct stream_output_stats out[STREAM_OUTPUTS_MAX];
        _Atomic uint64_t xruns;              /* capture overruns recovered */
        _Atomic uint64_t wakeups;
        _Atomic uint64_t local_frames;       /* frames played on the local output */
        _Atomic uint64_t local_underruns;
        _Atomic uint64_t local_dropped;      /* frames the local output had no room for */
        _Atomic uint64_t capture_frames;     /* frames read from the master capture */
        _Atomic uint64_t silent_run;         /* frames of silence in a row on Bluetooth-routed captures */
};

/* Creates the thread (SCHED_FIFO at rt_priority when > 0 and permitted;
 * *rt_granted tells). */
int stream_create(struct stream **out, int rt_priority, bool *rt_granted);
void stream_destroy(struct stream *s);
/* The audio thread's kernel id (for rtkit). */
int stream_thread_id(struct stream *s);

/* Every command below waits up to 2 s for the thread. One that is not
 * answered in time (-ETIMEDOUT) leaves the stream wedged for good: the
 * thread may still be inside what it holds, so what the command would have
 * handed back (captures, local output, transport socket) stays the
 * thread's and must never be closed or freed, later commands fail at once,
 * and stream_destroy() leaves everything to the process's end. */
bool stream_wedged(struct stream *s);

/* Hands the captures and local output to the thread and starts capture. */
int stream_start(struct stream *s, const struct stream_params *p);
/* Takes every resource back (Bluetooth too); returns when the thread no
 * longer uses them. */
int stream_stop(struct stream *s);
bool stream_running(struct stream *s);
unsigned stream_rate(struct stream *s);

/* Starts sending to Bluetooth on output slot (the engine must run at the
 * codec's rate): sets up the codec's encoder here, on the main thread, and
 * hands it to the thread; the slot's state (and, once two outputs are
 * attached, the delay lines) is allocated here too. err says why it
 * failed. -EBUSY: the slot is attached already. */
int stream_attach_bt(struct stream *s, unsigned slot, const struct stream_bt_params *bt, char *err,
                     size_t err_len);
/* Sets up the encoder the next stream_attach_bt of the slot with the same
 * codec, configuration and MTU will take, before the engine is started for
 * it: an encoder can take tens of milliseconds to open (AAC loads
 * libavcodec), and what the capture gave meanwhile would be lost to the
 * speaker. The engine need not run. */
int stream_prepare_bt(struct stream *s, unsigned slot, const struct stream_bt_params *bt, char *err,
                      size_t err_len);
/* Frees the slot's prepared encoder when no attach took it (an AAC one
 * holds a thread and libavcodec). */
void stream_drop_prepared(struct stream *s, unsigned slot);
/* The slot's encoder's own thread (its codec's worker_tid), 0 if none.
 * Main thread. */
int stream_encoder_worker_tid(struct stream *s, unsigned slot);
/* Whether the slot's encoder's codec has a rate controller of its own in
 * charge (LDAC with libldacBT_abr), not the sender's steps. */
bool stream_encoder_rate_control(struct stream *s, unsigned slot);
/* Stops sending on slot; its socket is the caller's again when this
 * returns. The other output goes on without a gap. */
int stream_detach_bt(struct stream *s, unsigned slot);
bool stream_bt_attached(struct stream *s, unsigned slot);
/* What the speaker on slot adds before it plays a sample: its reported
 * Delay (MediaTransport1), or the offset set for a speaker that reports
 * none, in microseconds. May change while streaming; the alignment follows
 * it without a click. 0 until set. */
void stream_set_output_delay(struct stream *s, unsigned slot, uint32_t us);

/* Hands a secondary (non-master) category a new capture, configured at
 * the engine's rate and period, not started; the one it had is the
 * caller's again when this returns. The master capture is changed only by
 * a restart. */
int stream_set_capture(struct stream *s, int category, snd_pcm_t *pcm);

/* Which categories go to Bluetooth while an output is attached and healthy: bit
 * (1 << category). The rest, and everything otherwise, plays locally. */
void stream_set_routes(struct stream *s, unsigned bt_mask);
/* Software gain of one Bluetooth output, 0..127 (127 = unity): each
 * speaker its own volume (AVRCP absolute volume, where the speaker has
 * it, is set on the speaker instead and this stays at unity). */
void stream_set_gain(struct stream *s, unsigned slot, unsigned gain);

/* Readable when events are queued; drain with stream_next_event. */
int stream_event_fd(struct stream *s);
bool stream_next_event(struct stream *s, struct stream_event *ev);

const struct stream_stats *stream_stats(struct stream *s);
/* Latency percentile (0-100) in microseconds from an output's histogram. */
uint32_t stream_latency_percentile(const struct stream_output_stats *st, unsigned pct);

#endif
