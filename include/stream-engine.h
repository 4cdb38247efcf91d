/* What the audio thread (stream.c) and its main-thread side (stream-ctl.c)
 * share: the command they exchange and the stream object itself. Not for
 * other files: they know the stream only through stream.h. */
#ifndef A2DPSRC_STREAM_ENGINE_H
#define A2DPSRC_STREAM_ENGINE_H

#include <pthread.h>

#include "cmd-ack.h"
#include "ring.h"
#include "sender.h"
#include "stream.h"

/* Frames handled per step (a whole packet of 15 frames of 128 fits); a
 * burst after a stall is taken in such steps. */
#define CHUNK_FRAMES 2048
#define MAX_POLL_FDS 8
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
        struct stream_bt_params bt;
        struct codec_encoder *enc;      /* CMD_ATTACH_BT */
        int category;            /* CMD_SET_CAPTURE */
        snd_pcm_t *capture;
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
        _Atomic unsigned gain;
        _Atomic unsigned routes;
        _Atomic bool running;
        _Atomic bool bt_attached;
        _Atomic int tid;        /* kernel thread id, for rtkit */
        bool thread_started;
        unsigned rate;
        /* set up by the main thread before ATTACH, freed by it once the
         * thread no longer uses it */
        struct codec_encoder *enc;
        const struct a2dp_codec *enc_codec;

        /* Everything below belongs to the thread while the engine runs. */
        bool active;
        struct stream_params p;
        int master;             /* category whose capture paces the thread */
        bool cap_failed[CAT_COUNT];
        bool local_failed;
        bool local_running;
        bool bt;                /* Bluetooth attached and not failed */
        bool bt_stalled;
        struct sender sender;
        int16_t cap[CAT_COUNT][CHUNK_FRAMES * 2];
        int16_t bt_mix[CHUNK_FRAMES * 2];
        int16_t local_mix[CHUNK_FRAMES * 2];
        unsigned xrun_burst;
        uint64_t last_xrun_ns;
};

/* CLOCK_MONOTONIC in nanoseconds. */
uint64_t stream_now_ns(void);
/* The audio thread's body, given the stream. */
void *stream_thread_main(void *data);

#endif
