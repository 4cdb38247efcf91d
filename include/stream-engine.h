/* What the audio thread (stream.c) and its main-thread side (stream-ctl.c)
 * share: the command they exchange and the stream object itself. Not for
 * other files: they know the stream only through stream.h. */
#ifndef A2DPSRC_STREAM_ENGINE_H
#define A2DPSRC_STREAM_ENGINE_H

#include <poll.h>
#include <pthread.h>

#include "align.h"
#include "cmd-ack.h"
#include "delay-line.h"
#include "ring.h"
#include "sender.h"
#include "stream.h"

/* Frames handled per step (a whole packet of 15 frames of 128 fits); a
 * burst after a stall is taken in such steps. */
#define CHUNK_FRAMES 2048
/* the command eventfd, the master capture's descriptors (up to
 * POLL_PCM_FDS), one socket per output */
#define POLL_PCM_FDS 6
#define MAX_POLL_FDS (1 + POLL_PCM_FDS + STREAM_OUTPUTS_MAX)
/* How often the thread works out the alignment again (the sender samples
 * its queue as often). */
#define ALIGN_INTERVAL_NS 200000000ull
/* A delay line's buffer: the line itself, then the delayed step it hands
 * to the sender (in one allocation). */
#define DELAY_BUF_SAMPLES ((size_t)(STREAM_ALIGN_MAX_FRAMES + CHUNK_FRAMES) * 2)
/* A speaker that takes nothing for this long has stalled: its audio plays
 * locally until it takes packets again (the sender's own threshold). */
#define STALL_NS SENDER_STALL_NS
/* How long the main loop waits for the thread to answer a command. */
#define ACK_TIMEOUT_NS 2000000000ull

enum command_type { CMD_START, CMD_STOP, CMD_ATTACH_BT, CMD_DETACH_BT, CMD_SET_CAPTURE, CMD_QUIT };

struct command {
        enum command_type type;
        uint32_t seq;           /* cmd_ack number */
        struct stream_params params;
        unsigned slot;                  /* CMD_ATTACH_BT, CMD_DETACH_BT */
        struct stream_bt_params bt;
        struct codec_encoder *enc;      /* CMD_ATTACH_BT */
        struct stream_output *out;      /* CMD_ATTACH_BT: the slot's state */
        uint32_t attach;                /* CMD_ATTACH_BT: the slot's attach count */
        /* CMD_ATTACH_BT: delay line buffers (DELAY_BUF_SAMPLES) for the
         * slots that get one now; NULL: none yet, or already given */
        int16_t *delay_buf[STREAM_OUTPUTS_MAX];
        int category;            /* CMD_SET_CAPTURE */
        snd_pcm_t *capture;
};

/* One Bluetooth output's state in the thread. Allocated by the main
 * thread at the slot's first attach and kept until stream_destroy: the
 * thread never allocates, and a daemon that never streams never pays for
 * it. */
struct stream_output {
        bool bt;                /* attached and not failed */
        uint32_t attach;        /* its attach's number, stamped on its events */
        bool stalled;
        unsigned slot;
        unsigned poll_idx;      /* its socket in this wake-up's poll set */
        bool measured;          /* its hold_us measured since the attach */
        uint32_t hold_guess;    /* hold_us until then: its packet's duration */
        uint32_t codec_us;      /* the encoder's delay */
        /* Held back to be heard in time with the other output; used (and
         * the audio copied) only once a second output has been attached,
         * so one output alone keeps today's path. */
        bool delayed;
        bool short_said;        /* STREAM_EV_ALIGN_SHORT sent since the attach */
        int16_t *delay_out;     /* the delayed step (after the line's ring) */
        struct delay_line dl;
        struct sender sender;
};

struct stream {
        pthread_t thread;
        int cmd_fd;             /* main -> thread: commands queued */
        int ev_fd;              /* thread -> main: events queued */
        int ack_fd;             /* thread -> main: a command done (wakes the waiter) */
        struct cmd_ack acks;    /* which command is done */
        /* A command went unanswered: the thread may still be inside what it
         * was given, so nothing it holds is touched or freed again, and no
         * further command is sent (main loop only). */
        bool wedged;
        struct ring cmd_ring, ev_ring;
        struct command cmd_buf[4];
        struct stream_event ev_buf[64];
        struct stream_stats stats;
        _Atomic unsigned gain[STREAM_OUTPUTS_MAX];
        _Atomic unsigned routes;
        _Atomic bool running;
        _Atomic bool bt_attached[STREAM_OUTPUTS_MAX];
        _Atomic uint32_t speaker_us[STREAM_OUTPUTS_MAX];  /* stream_set_output_delay */
        _Atomic int tid;        /* kernel thread id, for rtkit */
        bool thread_started;
        unsigned rate;
        /* Main thread: allocated by it, freed by it once the thread no
         * longer uses them (encoders: after detach, stop or quit; the
         * outputs and delay buffers: at destroy). */
        struct codec_encoder *enc[STREAM_OUTPUTS_MAX];
        const struct a2dp_codec *enc_codec[STREAM_OUTPUTS_MAX];
        /* set up by stream_prepare_bt for the next attach, not yet the
         * thread's: what it was made for */
        bool enc_prepared[STREAM_OUTPUTS_MAX];
        unsigned enc_mtu[STREAM_OUTPUTS_MAX];
        uint8_t enc_config[STREAM_OUTPUTS_MAX][A2DP_CODEC_BLOB_MAX];
        size_t enc_config_len[STREAM_OUTPUTS_MAX];
        struct stream_output *outputs[STREAM_OUTPUTS_MAX];
        /* Each slot's attaches, counted (main loop only): an event about an
         * earlier one, queued before its detach, is no longer read. */
        uint32_t attaches[STREAM_OUTPUTS_MAX];
        int16_t *delay_buf[STREAM_OUTPUTS_MAX];

        /* Everything below belongs to the thread while the engine runs. */
        bool active;
        struct stream_params p;
        int master;             /* category whose capture paces the thread */
        bool cap_failed[CAT_COUNT];
        bool local_failed;
        bool local_running;
        /* the outputs the thread was given (attached or not) */
        struct stream_output *out[STREAM_OUTPUTS_MAX];
        int16_t *dl_buf[STREAM_OUTPUTS_MAX];    /* delay buffers it was given */
        struct align align;
        uint64_t align_at_ns;   /* the alignment last worked out */
        bool align_due;         /* an output came or went: work it out now */
        /* an output came or went, or a speaker's delay changed: a far move
         * is made at once (a faded jump); a measured wait drifting is not
         * (its far moves slew, unheard) */
        bool align_jump_ok;
        int16_t cap[CAT_COUNT][CHUNK_FRAMES * 2];
        int16_t bt_mix[CHUNK_FRAMES * 2];
        int16_t local_mix[CHUNK_FRAMES * 2];
        unsigned xrun_burst;
        uint64_t last_xrun_ns;
        /* With two outputs their packets end at different places in the
         * capture periods: the thread wakes when the next packet's last
         * sample has been captured, not at the period after it, so each
         * speaker's packets leave evenly (see packet_due_ns). */
        uint64_t newest_ns;     /* when the newest frame read was captured */
        unsigned early_wakes;   /* such wake-ups since the last read */
};

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t stream_now_ns(void);
/* The audio thread's body, given the stream. */
void *stream_thread_main(void *data);

/* stream-output.c, on the thread: the Bluetooth outputs. */
void stream_emit(struct stream *s, enum stream_event_type type, int value, int category, int output);
/* STREAM_EV_LEVEL, with the value the level shows as it is set */
void stream_emit_level(struct stream *s, int output, unsigned level, unsigned level_value);
/* An output that takes audio now (attached, not failed, not stalled). */
bool stream_output_live(const struct stream_output *o);
bool stream_any_live(const struct stream *s);
/* Every output taking audio has a full queue: capture waits for a socket. */
bool stream_all_live_full(const struct stream *s);
/* PCM frames that complete the next packet of any output taking audio. */
size_t stream_frames_to_packet(const struct stream *s);
/* Packets whose ends fall anywhere in the capture's periods: two outputs
 * taking audio, or one whose packets are not the period (the engine was
 * not restarted for it: a second speaker taking over, a codec switch of
 * the first while the second played). */
bool stream_packets_off_period(const struct stream *s);
/* Hands n frames of the Bluetooth mix (NULL: no live output, nothing
 * mixed) to every attached output, each through its delay line. */
void stream_outputs_push(struct stream *s, int16_t *mix, size_t n, uint64_t read_ns);
/* Sends what each output has queued; stall, resume and level events. */
void stream_outputs_flush(struct stream *s, uint64_t t);
void stream_output_fail(struct stream *s, struct stream_output *o, int err);
void stream_output_attach(struct stream *s, const struct command *c);
void stream_output_detach(struct stream *s, unsigned slot);
/* The engine stopped: every output detached, the alignment forgotten. */
void stream_outputs_reset(struct stream *s);
/* Adds each attached output's socket to fds at *n; returns poll's timeout
 * (-1: none) for what waits in the queues (throttled: every live queue
 * full). */
int stream_outputs_poll(struct stream *s, struct pollfd *fds, unsigned *n, bool throttled);
/* A socket poll() reported broken: that output fails. */
void stream_outputs_revents(struct stream *s, const struct pollfd *fds);
/* Works out each output's delay when due (ALIGN_INTERVAL_NS, or an output
 * came or went). */
void stream_outputs_align(struct stream *s, uint64_t t);

#endif
