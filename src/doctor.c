/* The doctor's rules (see doctor.h). Each check looks at the snapshot and
 * adds one finding; the words are for the person holding the speaker. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "doctor-rules.h"

const char *doctor_verdict_name(enum doctor_verdict v)
{
        switch (v) {
        case DOCTOR_OK:
                return "ok";
        case DOCTOR_WARNING:
                return "warning";
        case DOCTOR_PROBLEM:
                return "problem";
        }
        return "?";
}

enum doctor_verdict doctor_worst(const struct doctor_finding *f, size_t n)
{
        enum doctor_verdict w = DOCTOR_OK;

        for (size_t i = 0; i < n; i++)
                if (f[i].verdict > w)
                        w = f[i].verdict;
        return w;
}

unsigned doctor_profile_of_uuid(const char *uuid)
{
        static const struct {
                const char *prefix;
                unsigned bit;
        } known[] = {
                { "0000110b", PROF_A2DP_SINK }, { "0000110a", PROF_A2DP_SOURCE },
                { "0000110e", PROF_AVRCP }, { "0000110c", PROF_AVRCP }, { "0000110f", PROF_AVRCP },
                { "00001108", PROF_HSP }, { "00001112", PROF_HSP }, { "00001131", PROF_HSP },
                { "0000111e", PROF_HFP }, { "0000111f", PROF_HFP },
                /* neither audio nor anything a person would name here */
                { "00001200", 0 }, { "00001800", 0 }, { "00001801", 0 },
        };

        if (!uuid)
                return 0;
        for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
                if (strncasecmp(uuid, known[i].prefix, 8) == 0)
                        return known[i].bit;
        return PROF_OTHER;
}

static void profile_list(unsigned p, char *buf, size_t len)
{
        static const struct {
                unsigned bit;
                const char *name;
        } names[] = {
                { PROF_A2DP_SINK, "audio sink (A2DP)" }, { PROF_A2DP_SOURCE, "audio source (A2DP)" },
                { PROF_AVRCP, "remote control (AVRCP)" }, { PROF_HSP, "headset (HSP)" },
                { PROF_HFP, "hands-free (HFP)" }, { PROF_OTHER, "other services" },
        };

        buf[0] = '\0';
        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
                if (p & names[i].bit)
                        cat(buf, len, "%s%s", buf[0] ? ", " : "", names[i].name);
        if (!buf[0])
                snprintf(buf, len, "no audio profile");
}

/* ---- the board ------------------------------------------------------------ */

static void check_bluetoothd(const struct doctor_snapshot *s, struct doctor_out *o)
{
        struct doctor_finding *f;

        if (s->board.bluetoothd) {
                f = add(o, "bluetoothd", DOCTOR_OK);
                SEEN(f, "bluetoothd is running");
                return;
        }
        f = add(o, "bluetoothd", DOCTOR_PROBLEM);
        SEEN(f, "bluetoothd is not running: nothing Bluetooth works without it");
        FIX(f, "Start it: systemctl start bluetooth");
}

static void check_speaker_mode(const struct doctor_snapshot *s, struct doctor_out *o)
{
        const struct doctor_board *b = &s->board;
        struct doctor_finding *f;

        if (!b->bluetoothd)
                return;         /* said by the bluetoothd finding */
        switch (b->blocker) {
        case BLOCKER_NO_ADAPTER:
                f = add(o, "speaker-mode", DOCTOR_PROBLEM);
                SEEN(f, "No Bluetooth adapter a2dpsrc may use is present");
                FIX(f, "Plug in or enable the board's Bluetooth controller; `bluetoothctl list` must show it");
                return;
        case BLOCKER_NO_BR_EDR:
                f = add(o, "speaker-mode", DOCTOR_PROBLEM);
                SEEN(f, "%s is Bluetooth Low Energy only: it has no classic (BR/EDR) radio, "
                     "which A2DP audio needs", b->adapter);
                FIX(f, "Use a controller with Bluetooth Classic (BR/EDR); an LE-only chip cannot send audio");
                return;
        case BLOCKER_ADAPTER_OFF:
                f = add(o, "speaker-mode", DOCTOR_PROBLEM);
                if (b->blocked) {
                        SEEN(f, "%s is blocked by rfkill (airplane mode or a radio switch)", b->adapter);
                        FIX(f, "Unblock it: rfkill unblock bluetooth");
                } else {
                        SEEN(f, "%s is powered off", b->adapter);
                        FIX(f, "Power it on: bluetoothctl power on");
                }
                return;
        case BLOCKER_ON_BATTERY:
                f = add(o, "speaker-mode", DOCTOR_PROBLEM);
                SEEN(f, "The board runs on its battery: speaker mode is kept off to save it");
                FIX(f, "Plug the board into mains power; speaker mode comes back by itself");
                return;
        case BLOCKER_NONE:
                break;
        }
        if (!b->speaker_mode) {
                f = add(o, "speaker-mode", DOCTOR_WARNING);
                SEEN(f, "Speaker mode is off: audio plays on the board only");
                FIX(f, "Turn it on: a2dpsrcctl speaker-mode on");
                return;
        }
        f = add(o, "speaker-mode", DOCTOR_OK);
        SEEN(f, "Speaker mode is on, on %s", b->adapter);
}

static void check_capture(const struct doctor_snapshot *s, struct doctor_out *o)
{
        const struct doctor_audio *a = &s->audio;
        struct doctor_finding *f;

        if (strncmp(a->stream_blocked, "capture-no-producer:", 20) == 0) {
                /* the capture is fine: nothing plays into the loopback */
                f = add(o, "capture", DOCTOR_WARNING);
                SEEN(f, "Nothing plays into the board's loopback, so nothing streams (%s)",
                     a->stream_blocked);
                FIX(f, "Start playback on the board; the player must play to the loopback's "
                    "other end (hw:Loopback,0)");
                return;
        }
        if (strncmp(a->stream_blocked, "capture-", 8) == 0) {
                f = add(o, "capture", DOCTOR_PROBLEM);
                SEEN(f, "Nothing streams: %s", a->stream_blocked);
        } else if (!a->engine_running) {
                f = add(o, "capture", DOCTOR_PROBLEM);
                SEEN(f, "The capture %s cannot be opened (%u attempt%s so far)", a->capture,
                     a->engine_failures, a->engine_failures == 1 ? "" : "s");
        } else {
                f = add(o, "capture", DOCTOR_OK);
                SEEN(f, "The capture %s runs at %u Hz", a->capture, a->engine_rate);
                if (a->xruns)
                        cat(f->seen, sizeof(f->seen), "; %llu overrun%s recovered",
                            (unsigned long long)a->xruns, a->xruns == 1 ? "" : "s");
                return;
        }
        FIX(f, "Check that the board's audio goes to %s: the snd-aloop module is loaded "
            "(modprobe snd-aloop) and the player plays to its other end", a->capture);
}

static void check_capture_rate(const struct doctor_snapshot *s, struct doctor_out *o)
{
        const struct doctor_audio *a = &s->audio;
        struct doctor_finding *f;

        if (strstr(a->stream_blocked, "rate")) {
                f = add(o, "capture-rate", DOCTOR_PROBLEM);
                SEEN(f, "Nothing streams: %s", a->stream_blocked);
                FIX(f, "Have the player play at %u Hz, the rate the speaker takes",
                    !a->have_codec ? 48000 : a->other_codec ? a->other_rate : a->sbc.rate);
                return;
        }
        if (a->capture_rate && a->engine_rate && a->capture_rate != a->engine_rate) {
                f = add(o, "capture-rate", DOCTOR_WARNING);
                SEEN(f, "The capture delivers %u Hz, the speaker's stream runs at %u Hz: "
                     "a2dpsrc converts", a->capture_rate, a->engine_rate);
                FIX(f, "For the best sound have the player play at %u Hz", a->engine_rate);
                return;
        }
        if (!a->engine_running)
                return;
        f = add(o, "capture-rate", DOCTOR_OK);
        SEEN(f, "The capture and the stream both run at %u Hz", a->engine_rate);
}

static void check_scan(const struct doctor_snapshot *s, struct doctor_out *o)
{
        const struct doctor_board *b = &s->board;
        bool streaming = s->have_device ? s->device.streaming : b->output[0] != '\0';
        struct doctor_finding *f;

        if (!b->bluetoothd)
                return;
        if (!b->discovering) {
                f = add(o, "scan", DOCTOR_OK);
                SEEN(f, "No scan is running");
                return;
        }
        if (!streaming) {
                f = add(o, "scan", DOCTOR_OK);
                SEEN(f, "A scan runs on %s; nothing streams meanwhile", b->adapter);
                return;
        }
        f = add(o, "scan", DOCTOR_WARNING);
        SEEN(f, "A scan runs on %s while audio streams: inquiry takes radio time from the "
             "speaker, and the sound stutters", b->adapter);
        if (b->our_scan)
                FIX(f, "Stop it: busctl call org.a2dpsrc /org/a2dpsrc org.a2dpsrc.Manager1 StopDiscovery");
        else
                FIX(f, "Stop the scan another program started (bluetoothctl scan off, or close the "
                    "phone app or settings page that searches)");
}

/* ---- one device --------------------------------------------------------------- */

static void check_known(const struct doctor_snapshot *s, struct doctor_out *o)
{
        const struct doctor_device *v = &s->device;
        struct doctor_finding *f;

        if (!v->known) {
                f = add(o, "device-known", DOCTOR_PROBLEM);
                SEEN(f, "bluetoothd does not know %s any more%s", v->address,
                     v->ours ? ", though it was paired through a2dpsrc (removed, or "
                               "bluetoothd's storage was reset)" : "");
                FIX(f, "Put the speaker in pairing mode, then: a2dpsrcctl scan; a2dpsrcctl connect %s",
                    v->address);
                return;
        }
        f = add(o, "device-known", DOCTOR_OK);
        SEEN(f, "%s (%s): %s, %s, %s", v->name[0] ? v->name : v->address, v->address,
             v->paired ? "paired" : "not paired", v->trusted ? "trusted" : "not trusted",
             v->connected ? "connected" : "not connected");
}

static bool is_page_timeout(const char *detail)
{
        return strstr(detail, "page-timeout") || strstr(detail, "Page Timeout") ||
               strstr(detail, "Host is down") || strstr(detail, "did not answer");
}

static void check_range(const struct doctor_snapshot *s, struct doctor_out *o)
{
        const struct device_history *h = s->history;
        const struct history_event *fail = NULL, *conn = history_last(h, HIST_CONNECTED);
        uint64_t from = since(s, RECENT_US);
        unsigned pages = 0;
        struct doctor_finding *f;
        char t1[32], t2[32];

        for (unsigned i = 0; h && i < h->count; i++) {
                const struct history_event *ev = history_event_at(h, i);
                if (ev->kind == HIST_CONNECT_FAILED && ev->at_us >= from && is_page_timeout(ev->detail) &&
                    (!conn || ev->at_us > conn->at_us)) {
                        pages++;
                        fail = ev;
                }
        }
        if (s->device.connected || !fail) {
                f = add(o, "in-range", DOCTOR_OK);
                if (s->device.connected)
                        SEEN(f, "Connected: the speaker answers");
                else
                        SEEN(f, "No unanswered connection attempt recorded");
                return;
        }
        f = add(o, "in-range", DOCTOR_PROBLEM);
        SEEN(f, "%s did not answer %u connection attempt%s in the last 10 min (last %s); %s%s",
             s->device.address, pages, pages == 1 ? "" : "s", ago(s->now_us, fail->at_us, t1, sizeof(t1)),
             conn ? "last connected " : "not connected since a2dpsrcd started",
             conn ? ago(s->now_us, conn->at_us, t2, sizeof(t2)) : "");
        if (h && h->seen && h->seen_at_us > fail->at_us)
                cat(f->seen, sizeof(f->seen), "; a scan found it since (%s, %d dBm): it is near now, "
                    "or it was off then", ago(s->now_us, h->seen_at_us, t1, sizeof(t1)),
                    h->seen_rssi);
        else if (h && h->seen)
                cat(f->seen, sizeof(f->seen), "; last found by a scan %s (%d dBm)",
                    ago(s->now_us, h->seen_at_us, t1, sizeof(t1)), h->seen_rssi);
        else
                cat(f->seen, sizeof(f->seen), "; no scan has found it since a2dpsrcd started");
        FIX(f, "Switch the speaker on and bring it within a few metres of the board (1 m is best), "
            "then: a2dpsrcctl connect %s", s->device.address);
}

static void check_sink(const struct doctor_snapshot *s, struct doctor_out *o)
{
        const struct doctor_device *v = &s->device;
        const struct history_event *ev = history_last(s->history, HIST_CONNECT_FAILED);
        bool refused = ev && strstr(ev->detail, "profile-unavailable");
        struct doctor_finding *f;
        char list[160];

        if (!v->known)
                return;
        profile_list(v->profiles, list, sizeof(list));
        if (!v->uuids_known && !refused) {
                f = add(o, "a2dp-sink", DOCTOR_WARNING);
                SEEN(f, "%s has not told its services yet", v->address);
                FIX(f, "Put it in pairing mode and connect it once: a2dpsrcctl connect %s", v->address);
                return;
        }
        if (!(v->profiles & PROF_A2DP_SINK) || refused) {
                f = add(o, "a2dp-sink", DOCTOR_PROBLEM);
                SEEN(f, "%s offers no A2DP audio sink%s; it offers: %s", v->address,
                     refused ? " (it refused the audio connection)" : "", list);
                FIX(f, "This device cannot play music from a2dpsrc (headset-only devices cannot); "
                    "use a speaker that lists the A2DP audio sink");
                return;
        }
        f = add(o, "a2dp-sink", DOCTOR_OK);
        SEEN(f, "It offers %s", list);
}

static bool is_auth_failure(const char *detail)
{
        return strstr(detail, "refused") || strstr(detail, "Authentication") ||
               strstr(detail, "key-missing") || strstr(detail, "auth");
}

static void check_bond(const struct doctor_snapshot *s, struct doctor_out *o)
{
        const struct doctor_device *v = &s->device;
        const struct device_history *h = s->history;
        const struct history_event *conn = history_last(h, HIST_CONNECTED), *last = NULL;
        unsigned n = 0;
        struct doctor_finding *f;
        char t[32];

        if (!v->known)
                return;
        for (unsigned i = 0; h && i < h->count; i++) {
                const struct history_event *ev = history_event_at(h, i);
                if (ev->kind == HIST_CONNECT_FAILED && is_auth_failure(ev->detail) &&
                    (!conn || ev->at_us > conn->at_us)) {
                        n++;
                        last = ev;
                }
        }
        /* the link may still be up a moment after the refusal */
        if (v->paired && last && !v->configured) {
                f = add(o, "bond", DOCTOR_PROBLEM);
                SEEN(f, "%s answered but refused the board %u time%s (last %s: %s) although they are "
                     "paired: the speaker has forgotten the pairing", v->address, n, n == 1 ? "" : "s",
                     ago(s->now_us, last->at_us, t, sizeof(t)), last->detail);
                FIX(f, "Pair again: a2dpsrcctl forget %s, put the speaker in pairing mode, then "
                    "a2dpsrcctl connect %s", v->address, v->address);
                return;
        }
        f = add(o, "bond", DOCTOR_OK);
        if (v->paired)
                SEEN(f, "Paired%s; no refused connection since the last success",
                     v->trusted ? " and trusted" : "");
        else
                SEEN(f, "Not paired yet: a2dpsrcctl connect pairs it first");
}

static void check_busy(const struct doctor_snapshot *s, struct doctor_out *o)
{
        const struct device_history *h = s->history;
        uint64_t from = since(s, RECENT_US);
        const struct history_event *last_refusal = NULL, *last_snatch = NULL;
        unsigned refusals = 0, snatches = 0;
        struct doctor_finding *f;
        char t[32];

        for (unsigned i = 0; h && i < h->count; i++) {
                const struct history_event *ev = history_event_at(h, i);
                if (ev->at_us < from)
                        continue;
                if (ev->kind == HIST_ACQUIRE_FAILED) {
                        refusals++;
                        last_refusal = ev;
                } else if (ev->kind == HIST_SUSPENDED && ev->silent_ms < SILENCE_WARN_MS) {
                        snatches++;     /* suspended while we were playing sound */
                        last_snatch = ev;
                }
        }
        if (!refusals && !snatches) {
                f = add(o, "busy", DOCTOR_OK);
                SEEN(f, "The speaker has not refused or interrupted the stream in the last 10 min");
                return;
        }
        f = add(o, "busy", DOCTOR_WARNING);
        f->seen[0] = '\0';
        if (refusals)
                cat(f->seen, sizeof(f->seen), "It refused to start the stream %u time%s in the last "
                    "10 min (last %s: %s)", refusals, refusals == 1 ? "" : "s",
                    ago(s->now_us, last_refusal->at_us, t, sizeof(t)), last_refusal->detail);
        if (snatches)
                cat(f->seen, sizeof(f->seen), "%s suspended the stream %u time%s while audio played "
                    "(last %s)", refusals ? "; it" : "It", snatches, snatches == 1 ? "" : "s",
                    ago(s->now_us, last_snatch->at_us, t, sizeof(t)));
        cat(f->seen, sizeof(f->seen), ": it is busy with another source, such as a phone");
        FIX(f, "Stop playback on the other device or disconnect it from the speaker; a2dpsrc takes "
            "the speaker back when it is free");
}

static void check_auto_sleep(const struct doctor_snapshot *s, struct doctor_out *o)
{
        const struct device_history *h = s->history;
        uint32_t lo = UINT32_MAX, hi = 0;
        const struct history_event *last = NULL;
        unsigned n = 0;
        struct doctor_finding *f;
        char t[32];

        /* suspends or disconnects that came after seconds of silence */
        for (unsigned i = 0; h && i < h->count; i++) {
                const struct history_event *ev = history_event_at(h, i);
                if ((ev->kind != HIST_SUSPENDED && ev->kind != HIST_DISCONNECTED) ||
                    ev->silent_ms < SLEEP_MIN_SILENCE_MS)
                        continue;
                n++;
                last = ev;
                lo = ev->silent_ms < lo ? ev->silent_ms : lo;
                hi = ev->silent_ms > hi ? ev->silent_ms : hi;
        }
        /* the same time each time (within 10 %, at least 3 s): a timer in
         * the speaker, not chance */
        if (n >= 2 && hi - lo <= (hi / 10 > 3000 ? hi / 10 : 3000)) {
                unsigned after = (lo + hi) / 2000;

                f = add(o, "auto-sleep", DOCTOR_WARNING);
                SEEN(f, "The speaker went to sleep %u times, each about %u s after the audio stopped "
                     "(last %s): its auto-off timer", n, after, ago(s->now_us, last->at_us, t, sizeof(t)));
                if (s->audio.idle_suspend_s && s->audio.idle_suspend_s < after)
                        FIX(f, "Turn off the speaker's auto-off (auto-sleep) in its app or manual; "
                            "IdleSuspend (%u s) already releases it first", s->audio.idle_suspend_s);
                else
                        FIX(f, "Turn off the speaker's auto-off (auto-sleep) in its app or manual, or "
                            "let a2dpsrc release it first: a2dpsrcctl idle-suspend %u",
                            after > 10 ? after - 10 : 5);
                return;
        }
        f = add(o, "auto-sleep", DOCTOR_OK);
        if (n == 1)
                SEEN(f, "The speaker suspended or disconnected once after %u s of silence (%s); "
                     "no pattern yet", last->silent_ms / 1000, ago(s->now_us, last->at_us, t, sizeof(t)));
        else
                SEEN(f, "No repeated sleep after silence");
}

/* Connected but no sound: each cause apart. */
size_t doctor_run(const struct doctor_snapshot *s, struct doctor_finding *out, size_t max)
{
        struct doctor_out o = { .f = out, .max = max };

        check_bluetoothd(s, &o);
        check_speaker_mode(s, &o);
        check_capture(s, &o);
        check_capture_rate(s, &o);
        if (!s->have_device) {
                check_scan(s, &o);
                return o.n;
        }
        check_known(s, &o);
        check_sink(s, &o);
        check_range(s, &o);
        check_bond(s, &o);
        check_busy(s, &o);
        check_auto_sleep(s, &o);
        doctor_check_stream(s, &o);
        check_scan(s, &o);
        return o.n;
}
