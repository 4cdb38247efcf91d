/* The doctor's rules for a stream (see doctor.h): what plays and where,
 * how loud, whether the speaker suspends, in which codec, how late, and
 * how good the link is. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "doctor-rules.h"
#include "sbc-config.h"

static void check_silence(const struct doctor_snapshot *s, struct doctor_out *o)
{
        const struct doctor_device *v = &s->device;
        struct doctor_finding *f;

        if (v->idle_released) {
                f = add(o, "silence", DOCTOR_WARNING);
                SEEN(f, "The board plays digital silence: the speaker was released after %u s of "
                     "it (IdleSuspend) and is taken back when sound comes", s->audio.idle_suspend_s);
        } else if (v->streaming && s->audio.silent_ms >= SILENCE_WARN_MS) {
                f = add(o, "silence", DOCTOR_WARNING);
                SEEN(f, "The board has sent digital silence for %llu s: the capture gets zeros",
                     (unsigned long long)(s->audio.silent_ms / 1000));
        } else {
                f = add(o, "silence", DOCTOR_OK);
                SEEN(f, v->streaming ? "Sound is being sent" : "Not streaming: no silence to judge");
                return;
        }
        FIX(f, "Start playback on the board and check that the player plays to %s, unmuted",
            s->audio.capture);
}

static void check_routing(const struct doctor_snapshot *s, struct doctor_out *o)
{
        const struct doctor_audio *a = &s->audio;
        struct doctor_finding *f;

        if (a->media_local) {
                f = add(o, "routing", DOCTOR_PROBLEM);
                SEEN(f, "Media is routed to the board's own output, not to the speaker");
                FIX(f, "Send it to the speaker: a2dpsrcctl route media bluetooth");
        } else if (a->local_categories) {
                f = add(o, "routing", DOCTOR_OK);
                SEEN(f, "Media goes to the speaker; %u other categor%s (alerts, voice) play%s on the "
                     "board", a->local_categories, a->local_categories == 1 ? "y" : "ies",
                     a->local_categories == 1 ? "s" : "");
                FIX(f, "To send everything to the speaker: a2dpsrcctl default-output bluetooth");
        } else {
                f = add(o, "routing", DOCTOR_OK);
                SEEN(f, "Everything is routed to the speaker");
        }
}

static void check_volume(const struct doctor_snapshot *s, struct doctor_out *o)
{
        const struct doctor_audio *a = &s->audio;
        unsigned pct = a->volume * 100 / 127;
        const char *how = a->avrcp_volume ? "the speaker's own volume (AVRCP)"
                                          : "software gain on the board (the speaker has no AVRCP volume)";
        struct doctor_finding *f;

        if (a->volume == 0) {
                f = add(o, "volume", DOCTOR_PROBLEM);
                SEEN(f, "Volume is 0 (silent), set as %s", how);
                FIX(f, "Raise it: a2dpsrcctl volume 100");
        } else if (a->volume < LOW_VOLUME) {
                f = add(o, "volume", DOCTOR_WARNING);
                SEEN(f, "Volume is low: %u/127 (%u%%), set as %s", a->volume, pct, how);
                FIX(f, "Raise it: a2dpsrcctl volume 100, or press the speaker's + button");
        } else if (!a->avrcp_volume && a->volume < 127) {
                f = add(o, "volume", DOCTOR_WARNING);
                SEEN(f, "Volume %u/127 (%u%%) is software gain: the board scales the samples "
                     "down, and the speaker plays quieter than it can", a->volume, pct);
                FIX(f, "Set a2dpsrcctl volume 127 and use the speaker's own buttons");
        } else {
                f = add(o, "volume", DOCTOR_OK);
                SEEN(f, "Volume %u/127 (%u%%), set as %s", a->volume, pct, how);
        }
}

static void check_suspended(const struct doctor_snapshot *s, struct doctor_out *o)
{
        const struct history_event *ev = history_last(s->history, HIST_SUSPENDED);
        struct doctor_finding *f;
        char t[32];

        if (!s->device.suspended) {
                f = add(o, "suspended", DOCTOR_OK);
                if (ev)
                        SEEN(f, "Not suspended now (the speaker last suspended the stream %s)",
                             ago(s->now_us, ev->at_us, t, sizeof(t)));
                else
                        SEEN(f, "The speaker has not suspended the stream");
                return;
        }
        f = add(o, "suspended", DOCTOR_WARNING);
        SEEN(f, "The speaker suspended the stream%s%s; a2dpsrc starts it again in %u s when there "
             "is sound", ev ? " " : "", ev ? ago(s->now_us, ev->at_us, t, sizeof(t)) : "",
             s->device.resume_in_s);
        FIX(f, "Nothing to do if it comes back; if it keeps suspending, see the busy and "
            "auto-sleep findings");
}

static void describe_offer(const uint8_t c[4], char *buf, size_t len)
{
        static const char *const rates[] = { "48", "44.1", "32", "16" };
        static const char *const modes[] = { "joint stereo", "stereo", "dual channel", "mono" };

        buf[0] = '\0';
        for (int i = 0; i < 4; i++)
                if (c[0] & (0x10 << i))
                        cat(buf, len, "%s%s", buf[0] ? "/" : "", rates[i]);
        cat(buf, len, " kHz; ");
        for (int i = 0, first = 1; i < 4; i++)
                if (c[0] & (1 << i)) {
                        cat(buf, len, "%s%s", first ? "" : ", ", modes[i]);
                        first = 0;
                }
        cat(buf, len, "; bitpool %u-%u", c[2], c[3]);
}

static void check_codec(const struct doctor_snapshot *s, struct doctor_out *o)
{
        const struct doctor_audio *a = &s->audio;
        struct doctor_finding *f;
        char desc[96], offer[96];

        if (!a->have_codec || !s->device.configured) {
                f = add(o, "codec", DOCTOR_OK);
                SEEN(f, "No stream is configured with this speaker");
                return;
        }
        if (a->other_codec) {
                f = add(o, "codec", DOCTOR_OK);
                SEEN(f, "In use: %s; %u Hz %s", a->codec_desc, a->other_rate,
                     a->capture_rate == a->other_rate ? "is the capture's own rate"
                                                      : "was the best rate both sides have");
                return;
        }
        if (a->codec_desc[0])
                snprintf(desc, sizeof(desc), "%s", a->codec_desc);
        else
                sbc_params_describe(&a->sbc, a->bitpool_now ? a->bitpool_now : a->sbc.max_bitpool, desc,
                                    sizeof(desc));
        f = add(o, "codec", a->sbc.max_bitpool < 32 ? DOCTOR_WARNING : DOCTOR_OK);
        SEEN(f, "In use: %s. SBC is the codec every A2DP speaker must take", desc);
        if (a->have_offer) {
                describe_offer(a->offer, offer, sizeof(offer));
                cat(f->seen, sizeof(f->seen), "; the speaker offered SBC %s", offer);
        }
        cat(f->seen, sizeof(f->seen), "; %u Hz %s", a->sbc.rate,
            a->capture_rate == a->sbc.rate ? "is the capture's own rate"
                                           : "was the best rate both sides have");
        if (a->sbc.max_bitpool < 32)
                FIX(f, "The speaker allows bitpool %u at most, which sounds dull; nothing on the "
                    "board raises it, a better speaker does", a->sbc.max_bitpool);
}

static void check_latency(const struct doctor_snapshot *s, struct doctor_out *o)
{
        const struct doctor_audio *a = &s->audio;
        uint32_t total = a->period_us + a->queue_us + a->encoder_us + a->speaker_us;
        struct doctor_finding *f;

        if (!s->device.streaming) {
                f = add(o, "latency", DOCTOR_OK);
                SEEN(f, "Not streaming: no latency to measure");
                return;
        }
        f = add(o, "latency", total / 1000 > SEED_LATENCY_HIGH_MS ? DOCTOR_WARNING : DOCTOR_OK);
        SEEN(f, "%u ms in all: capture period %u ms, queue %u ms, encoder %.1f ms, speaker %s%u ms; "
             "typical Bluetooth speakers give %u-%u ms", total / 1000, a->period_us / 1000,
             a->queue_us / 1000, a->encoder_us / 1000.0,
             a->speaker_source == SPEAKER_DELAY_REPORTED ? ""
             : a->speaker_source == SPEAKER_DELAY_SET    ? "(not reported, as set) "
                                                         : "(not reported, assumed) ",
             a->speaker_us / 1000, SEED_LATENCY_LOW_MS, SEED_LATENCY_HIGH_MS);
        if (f->verdict == DOCTOR_WARNING) {
                if (a->speaker_us > total / 2)
                        FIX(f, "Most of it is the speaker's own delay: nothing on the board shortens "
                            "it; a low-latency speaker does");
                else
                        FIX(f, "Bring the speaker closer (a congested link queues audio) and keep "
                            "the board's audio player's own buffer small");
        }
}

static void check_link(const struct doctor_snapshot *s, struct doctor_out *o)
{
        const struct device_history *h = s->history;
        uint64_t from = since(s, LINK_WINDOW_US);
        unsigned stalls = history_count(h, HIST_STALL, from);
        unsigned drops = history_count(h, HIST_BITPOOL_DOWN, from);
        unsigned errors = history_count(h, HIST_LINK_ERROR, from);
        const struct history_event *bp = history_last(h, HIST_BITPOOL_DOWN);
        const struct doctor_audio *a = &s->audio;
        struct doctor_finding *f;

        if (!stalls && !drops && !errors) {
                f = add(o, "link-quality", DOCTOR_OK);
                SEEN(f, "In the last 5 min: no stall, no bitpool step down, no link error");
        } else {
                f = add(o, "link-quality", DOCTOR_WARNING);
                SEEN(f, "In the last 5 min: %u stall%s, %u bitpool step%s down%s%s%s, %u link error%s",
                     stalls, stalls == 1 ? "" : "s", drops, drops == 1 ? "" : "s",
                     drops && bp ? " (to " : "", drops && bp ? bp->detail : "", drops && bp ? ")" : "",
                     errors, errors == 1 ? "" : "s");
                FIX(f, "Bring the speaker within 1 m of the board, with no wall between, away from "
                    "Wi-Fi routers, microwaves and USB 3 ports");
        }
        cat(f->seen, sizeof(f->seen), "; since a2dpsrcd started: %llu socket underrun%s, %llu ms of "
            "audio dropped, %llu packets sent", (unsigned long long)a->underruns,
            a->underruns == 1 ? "" : "s", (unsigned long long)a->dropped_ms,
            (unsigned long long)a->packets);
}

static const char *radio_error(int err)
{
        switch (-err) {
        case ENODEV:
                return "no HCI device on this board";
        case ENOTCONN:
                return "no ACL link to the speaker";
        case EPERM:
        case EACCES:
                return "the kernel refused the HCI read";
        case EIO:
                return "the controller refuses these reads";
        case ETIMEDOUT:
                return "the controller did not answer in time";
        default:
                return "the HCI read failed";
        }
}

static void check_radio(const struct doctor_snapshot *s, struct doctor_out *o)
{
        const struct doctor_radio *r = &s->radio;
        bool weak = (r->has_rssi && r->rssi < RSSI_LOW_DB) ||
                    (r->has_link_quality && r->link_quality < LINK_QUALITY_LOW);
        struct doctor_finding *f;

        if (r->status < 0 || (!r->has_rssi && !r->has_link_quality)) {
                f = add(o, "radio", DOCTOR_OK);
                if (!s->device.connected)
                        SEEN(f, "Radio figures not available: the speaker is not connected");
                else
                        SEEN(f, "Radio figures not available: %s", radio_error(r->status ? r->status : r->error));
                return;
        }
        f = add(o, "radio", weak ? DOCTOR_WARNING : DOCTOR_OK);
        if (r->has_rssi)
                SEEN(f, "RSSI %d dB %s", r->rssi,
                     r->rssi == 0 ? "(inside the golden receive range)"
                                  : r->rssi < 0 ? "below the golden receive range" : "above the golden receive range");
        else
                SEEN(f, "RSSI not available (%s)", radio_error(r->error));
        if (r->has_link_quality)
                cat(f->seen, sizeof(f->seen), ", link quality %u/255", r->link_quality);
        else
                cat(f->seen, sizeof(f->seen), ", link quality not available (%s)", radio_error(r->error));
        if (weak)
                FIX(f, "The signal is weak: bring the speaker within 1 m of the board, with no wall "
                    "or metal between");
}

void doctor_check_stream(const struct doctor_snapshot *s, struct doctor_out *o)
{
        check_suspended(s, o);
        check_silence(s, o);
        check_routing(s, o);
        check_volume(s, o);
        check_codec(s, o);
        check_latency(s, o);
        check_link(s, o);
        check_radio(s, o);
}
