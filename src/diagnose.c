/* The doctor's side in the daemon: events noted into the per-device
 * history as the control modules see them, the snapshot the rules read
 * (doctor.c), and Manager1.Diagnose, which returns the findings as
 * a(ssss): id, verdict, seen, fix. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "bdaddr.h"
#include "daemon.h"
#include "dbus-util.h"
#include "doctor.h"
#include "radio.h"
#include "rfkill.h"
#include "stream.h"
#include "utf8.h"

#define ERR_INVALID "org.a2dpsrc.Error.InvalidArguments"
#define ERR_NOT_FOUND "org.a2dpsrc.Error.NotFound"

/* The history's clock, CLOCK_BOOTTIME: its times are told to a person
 * ("2 h ago", "in the last 10 min"), so a system suspend counts, which
 * CLOCK_MONOTONIC leaves out; like it, it does not move with the wall
 * clock, which a board without an RTC steps at boot. The daemon's own
 * deadlines stay on CLOCK_MONOTONIC (mono_us). */
static uint64_t now_us(struct daemon *d)
{
        uint64_t now = 0;

        if (!d->event || sd_event_now(d->event, CLOCK_BOOTTIME, &now) < 0)
                return 0;
        return now;
}

static uint64_t mono_us(struct daemon *d)
{
        uint64_t now = 0;

        if (!d->event || sd_event_now(d->event, CLOCK_MONOTONIC, &now) < 0)
                return 0;
        return now;
}

static uint64_t silent_ms(struct daemon *d)
{
        uint64_t rate = d->engine_rate ? d->engine_rate : 48000;

        if (!d->stream)
                return 0;
        return atomic_load(&stream_stats(d->stream)->silent_run) * 1000 / rate;
}

void diagnose_note(struct daemon *d, const char *address, enum history_kind kind, const char *detail)
{
        uint64_t ms = silent_ms(d);

        history_record(&d->history, address, kind, now_us(d), ms > UINT32_MAX ? UINT32_MAX : (uint32_t)ms,
                       detail);
}

void diagnose_note_transport(struct daemon *d, const struct transport *t, enum history_kind kind,
                             const char *detail)
{
        struct device *dev = bluez_device_by_path(d, t->device);

        if (dev && dev->address[0])
                diagnose_note(d, dev->address, kind, detail);
}

void diagnose_seen(struct daemon *d, const struct device *dev)
{
        if (dev->has_rssi && dev->address[0])
                history_seen(&d->history, dev->address, now_us(d), dev->rssi);
}

/* ---- the snapshot ------------------------------------------------------------ */

static void fill_board(struct daemon *d, struct doctor_snapshot *s)
{
        struct adapter *a = bluez_default_adapter(d);
        struct policy_inputs in = {
                .have_adapter = a != NULL,
                .br_edr = a && a->br_edr,
                .powered = a && a->powered,
                .on_battery = d->on_battery,
        };
        struct doctor_board *b = &s->board;

        b->bluetoothd = d->bluez_owner[0] != '\0';
        b->blocker = policy_blocker(&in);
        if (a) {
                bool rf = false;
                /* PowerState needs bluetoothd -E; the kernel always knows */
                b->blocked = a->blocked || (rfkill_blocked(RFKILL_SYSFS, a->name, &rf) == 0 && rf);
        }
        snprintf(b->adapter, sizeof(b->adapter), "%s", a ? a->name : "");
        b->speaker_mode = d->state.speaker_mode;
        for (struct adapter *x = d->adapters; x; x = x->next) {
                if (!x->discovering)
                        continue;
                b->discovering = true;
                snprintf(b->adapter, sizeof(b->adapter), "%s", x->name);
                if (x == d->discovery_adapter)
                        b->our_scan = true;
        }
        if (d->streaming)
                snprintf(b->output, sizeof(b->output), "%s", d->output);
}

static void fill_audio(struct daemon *d, struct doctor_snapshot *s, struct transport *t)
{
        struct doctor_audio *a = &s->audio;
        const struct stream_stats *st = d->stream ? stream_stats(d->stream) : NULL;
        /* the one output the control plane streams to: slot 0 */
        const struct stream_output_stats *o = st ? &st->out[first_slot(d)] : NULL;
        uint64_t rate = d->engine_rate ? d->engine_rate : 48000;

        a->engine_running = d->stream && stream_running(d->stream);
        a->engine_failures = d->engine_failures;
        a->engine_rate = a->engine_running ? d->engine_rate : 0;
        snprintf(a->capture, sizeof(a->capture), "%.63s", d->opts.capture[CAT_MEDIA]);
        a->capture_rate = d->capture_rate;
        snprintf(a->stream_blocked, sizeof(a->stream_blocked), "%s", d->stream_blocked);
        a->silent_ms = silent_ms(d);
        a->media_local = d->state.routes[CAT_MEDIA] == ROUTE_LOCAL;
        for (int c = 0; c < CAT_COUNT; c++)
                if (c != CAT_MEDIA && d->state.routes[c] == ROUTE_LOCAL && d->opts.capture[c][0])
                        a->local_categories++;
        a->volume = d->state.volume;
        a->idle_suspend_s = d->state.idle_suspend;
        if (t) {
                a->avrcp_volume = t->has_volume;
                unsigned level = d->streaming == t && o ? atomic_load(&o->level) : 0;

                a->have_codec = true;
                transport_describe(t, level, a->codec_desc, sizeof(a->codec_desc));
                a->other_codec = t->codec->codec_id != A2DP_CODEC_SBC;
                a->other_rate = t->info.rate;
                if (!a->other_codec && sbc_config_parse(t->config, t->config_len, &a->sbc, NULL, 0) == 0)
                        /* what we send with, not the 250 a speaker may allow */
                        a->sbc.max_bitpool = sbc_params_working_bitpool(&a->sbc);
                a->have_offer = !a->other_codec && t->has_offered && t->offered_len == sizeof(a->offer);
                if (a->have_offer)
                        memcpy(a->offer, t->offered, sizeof(a->offer));
        }
        if (st) {
                a->bitpool_now = d->streaming == t && t && !a->other_codec ? atomic_load(&o->level_value) : 0;
                a->underruns = atomic_load(&o->congestion);
                a->dropped_ms = atomic_load(&o->dropped_frames) * 1000 / rate;
                a->stalls = atomic_load(&o->stalls);
                a->xruns = atomic_load(&st->xruns);
                a->packets = atomic_load(&o->packets);
                a->queue_us = atomic_load(&o->queue_us);
        }
        a->link_errors = d->link_errors;
        if (t && d->streaming == t && d->engine_rate) {
                a->period_us = (uint32_t)((uint64_t)d->engine_period * 1000000 / d->engine_rate);
                a->encoder_us = (uint32_t)((uint64_t)t->info.delay_samples * 1000000 / t->info.rate);
                a->speaker_us = output_speaker_delay_us(d, t, &a->speaker_source);
        }
}

static void fill_device(struct daemon *d, struct doctor_snapshot *s, const char *address,
                        struct device *dev, struct transport *t)
{
        struct doctor_device *v = &s->device;
        const struct history_event *sus, *idle;
        uint64_t mono;

        s->have_device = true;
        snprintf(v->address, sizeof(v->address), "%s", dev ? dev->address : address);
        v->ours = state_paired_contains(&d->state, v->address);
        v->is_output = strcasecmp(v->address, d->output) == 0 || strcasecmp(v->address, d->connecting) == 0;
        if (!dev)
                return;
        v->known = true;
        utf8_copy(v->name, sizeof(v->name), dev->name);
        v->paired = dev->paired;
        v->trusted = dev->trusted;
        v->connected = dev->connected;
        v->uuids_known = dev->uuids_known;
        v->profiles = dev->profiles;
        v->configured = t != NULL;
        v->streaming = t && d->streaming == t;
        if (v->is_output && d->idle_suspended && !v->streaming) {
                /* held back: for the speaker's suspend, or for silence */
                sus = history_last(s->history, HIST_SUSPENDED);
                idle = history_last(s->history, HIST_IDLE_RELEASED);
                v->suspended = sus && (!idle || sus->at_us >= idle->at_us);
                v->idle_released = !v->suspended;
                mono = mono_us(d);      /* the hold-off is the daemon's deadline */
                if (d->resume_not_before > mono)
                        v->resume_in_s = (unsigned)((d->resume_not_before - mono + 999999) / 1000000);
        }
        if (v->connected && !s->board.blocker) {
                struct adapter *a = bluez_adapter_by_path(d, dev->adapter);
                struct radio_figures rf;

                s->radio.status = radio_read(a ? a->name : "hci0", dev->address, &rf);
                s->radio.has_rssi = rf.has_rssi;
                s->radio.has_link_quality = rf.has_link_quality;
                s->radio.rssi = rf.rssi;
                s->radio.link_quality = rf.link_quality;
                s->radio.error = rf.error;
        } else {
                s->radio.status = -ENOTCONN;
        }
}

/* Fills s for address ("" the board); -ENOENT when nothing at all is
 * known about it. */
static int fill_snapshot(struct daemon *d, const char *address, struct doctor_snapshot *s)
{
        struct device *dev = NULL;
        struct transport *t = NULL;

        memset(s, 0, sizeof(*s));
        s->now_us = now_us(d);
        fill_board(d, s);
        if (address[0]) {
                dev = bluez_device_by_address(d, address);
                s->history = history_find(&d->history, address);
                if (!dev && !s->history && !state_paired_contains(&d->state, address))
                        return -ENOENT;
                t = transport_of_device(d, dev);
        } else if (d->streaming) {
                t = d->streaming;
        }
        fill_audio(d, s, t);
        if (address[0])
                fill_device(d, s, address, dev, t);
        else
                s->radio.status = -ENOTCONN;
        return 0;
}

/* ---- Manager1.Diagnose ----------------------------------------------------------- */

DBusHandlerResult diagnose_method(struct daemon *d, DBusMessage *msg)
{
        struct doctor_snapshot snap;
        struct doctor_finding findings[DOCTOR_MAX_FINDINGS];
        DBusMessage *reply;
        DBusMessageIter it, arr, st;
        const char *addr;
        size_t n;

        if (!dbus_message_has_signature(msg, "s") ||
            !dbus_message_get_args(msg, NULL, DBUS_TYPE_STRING, &addr, DBUS_TYPE_INVALID))
                return dbus_reply_error(d->conn, msg, ERR_INVALID,
                                        "Diagnose takes one string: a device address, or \"\" for the board");
        if (addr[0] && !bdaddr_valid(addr))
                return dbus_reply_error(d->conn, msg, ERR_INVALID,
                                        "'%.40s' is not a Bluetooth address (AA:BB:CC:DD:EE:FF)", addr);
        if (fill_snapshot(d, addr, &snap) < 0)
                return dbus_reply_error(d->conn, msg, ERR_NOT_FOUND,
                                        "No device %s is known; scan for it first", addr);
        n = doctor_run(&snap, findings, DOCTOR_MAX_FINDINGS);
        reply = dbus_message_new_method_return(msg);
        if (!reply)
                return DBUS_HANDLER_RESULT_NEED_MEMORY;
        dbus_message_iter_init_append(reply, &it);
        if (!dbus_message_iter_open_container(&it, DBUS_TYPE_ARRAY, "(ssss)", &arr))
                goto nomem;
        for (size_t i = 0; i < n; i++) {
                const char *id = findings[i].id, *verdict = doctor_verdict_name(findings[i].verdict);
                const char *seen = findings[i].seen, *fix = findings[i].fix;

                /* device names come from the air, cut to fit: only
                 * UTF-8 goes out */
                utf8_copy(findings[i].seen, sizeof(findings[i].seen), seen);
                if (!dbus_message_iter_open_container(&arr, DBUS_TYPE_STRUCT, NULL, &st) ||
                    !dbus_message_iter_append_basic(&st, DBUS_TYPE_STRING, &id) ||
                    !dbus_message_iter_append_basic(&st, DBUS_TYPE_STRING, &verdict) ||
                    !dbus_message_iter_append_basic(&st, DBUS_TYPE_STRING, &seen) ||
                    !dbus_message_iter_append_basic(&st, DBUS_TYPE_STRING, &fix) ||
                    !dbus_message_iter_close_container(&arr, &st))
                        goto nomem;
        }
        if (!dbus_message_iter_close_container(&it, &arr))
                goto nomem;
        return dbus_send_reply(d->conn, reply);
nomem:
        dbus_message_unref(reply);
        return DBUS_HANDLER_RESULT_NEED_MEMORY;
}
