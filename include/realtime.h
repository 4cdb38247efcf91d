/* Real-time scheduling of the daemon's threads: the audio thread at
 * --rt-priority, and an encoder's own thread (AAC's) just below it. */
#ifndef A2DPSRC_REALTIME_H
#define A2DPSRC_REALTIME_H

struct daemon;

/* The audio thread, SCHED_FIFO at --rt-priority when asked for: granted
 * at thread creation (CAP_SYS_NICE or RLIMIT_RTPRIO), else through rtkit,
 * else one warning. Sets d->rt_granted. */
void realtime_setup(struct daemon *d);

/* Thread tid (0: none), an encoder's own thread working for the audio
 * thread (what: the codec's label, for the log): SCHED_FIFO one below the
 * audio thread's priority (at least 1) when the audio thread is
 * real-time, directly or else through rtkit; a refusal is logged. Main
 * thread. */
void realtime_worker(struct daemon *d, int tid, const char *what);

#endif
