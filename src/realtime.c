/* Real-time scheduling of the daemon's threads (realtime.h). */
#include "realtime.h"

#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>

#include "daemon.h"
#include "log.h"
#include "rtkit.h"
#include "stream.h"

void realtime_setup(struct daemon *d)
{
        char err[200];
        bool rtkit = false;

        if (d->opts.rt_priority <= 0)
                return;
        d->rt_priority = d->opts.rt_priority;
        if (!d->rt_granted) {
                /* rtkit grants at most its MaxRealtimePriority */
                int r = rtkit_make_realtime(d->conn, stream_thread_id(d->stream), d->opts.rt_priority, err,
                                            sizeof(err));

                if (r > 0) {
                        d->rt_granted = rtkit = true;
                        d->rt_priority = r;
                }
        }
        if (d->rt_granted)
                log_info("the audio thread runs %s priority %d", rtkit ? "SCHED_RR (rtkit)" : "SCHED_FIFO",
                         d->rt_priority);
        else
                log_warn("real-time priority refused (no CAP_SYS_NICE or RLIMIT_RTPRIO, and %s); "
                         "the audio thread runs at normal priority", err);
}

/* A thread that works for the audio thread and runs below it starves
 * whenever the audio thread's neighbours do: AAC's encoding thread at
 * normal priority lost frames on a loaded board while the audio thread,
 * SCHED_FIFO, was on time. One below, so the audio thread still comes
 * first. */
void realtime_worker(struct daemon *d, int tid, const char *what)
{
        /* below the audio thread's priority as granted, not as asked */
        struct sched_param sp = { .sched_priority = d->rt_priority - 1 };
        char err[200];

        if (tid <= 0 || d->opts.rt_priority <= 0 || !d->rt_granted)
                return;
        if (sp.sched_priority < 1)
                sp.sched_priority = 1;
        if (sched_setscheduler(tid, SCHED_FIFO, &sp) < 0) {
                int e = errno;
                int r = rtkit_make_realtime(d->conn, tid, sp.sched_priority, err, sizeof(err));

                if (r < 0) {
                        log_warn("the %s encoding thread stays at normal priority: %s, and %s", what,
                                 strerror(e), err);
                        return;
                }
                /* rtkit grants SCHED_RR, at most its own maximum */
                log_info("the %s encoding thread runs SCHED_RR (rtkit) priority %d", what, r);
                return;
        }
        log_info("the %s encoding thread runs SCHED_FIFO priority %d", what, sp.sched_priority);
}
