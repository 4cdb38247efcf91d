/* Manager1's properties: their values read from the daemon's objects,
 * Get/GetAll/Set with each setter's checks, PropertiesChanged for what
 * changed since the last look, and saving the settings (at once for the
 * API, coalesced for the speaker's volume button). */
#include <errno.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec-control.h"
#include "daemon.h"
#include "dbus-util.h"
#include "log.h"
#include "manager-props.h"
#include "player.h"
#include "policy.h"
#include "stream.h"

/* ---- property values ------------------------------------------------------ */

enum blocker manager_current_blocker(struct daemon *d)
{
        struct adapter *a = bluez_default_adapter(d);
        struct policy_inputs in = {
                .have_adapter = a != NULL,
                .br_edr = a && a->br_edr,
                .powered = a && a->powered,
                .on_battery = d->on_battery,
        };

        return policy_blocker(&in);
}

struct transport *manager_output_transport(struct daemon *d)
{
        struct device *dev;

        if (d->streaming)
                return d->streaming;
        if (!d->output[0] || !(dev = bluez_device_by_address(d, d->output)))
                return NULL;
        return transport_of_device(d, dev);
}

static const char *current_state(struct daemon *d)
{
        return policy_state_name(policy_state(d->state.speaker_mode, d->connecting[0] != 0,
                                              manager_output_transport(d) != NULL, d->streaming != NULL));
}

static void current_codec(struct daemon *d, char *buf, size_t len)
{
        struct transport *t = manager_output_transport(d);
        unsigned level = 0;

        buf[0] = '\0';
        if (!t)
                return;
        if (d->streaming == t)
                level = atomic_load(&stream_stats(d->stream)->out[first_slot(d)].level);
        transport_describe(t, level, buf, len);
}

static unsigned route_mask(const struct saved_state *s)
{
        unsigned mask = 0;

        for (int c = 0; c < CAT_COUNT; c++)
                if (s->routes[c] == ROUTE_BLUETOOTH)
                        mask |= 1u << c;
        return mask;
}

typedef bool (*prop_get_fn)(struct daemon *d, DBusMessageIter *var);

static bool get_basic(DBusMessageIter *var, int type, const void *v)
{
        return dbus_message_iter_append_basic(var, type, v);
}

static bool get_speaker_mode(struct daemon *d, DBusMessageIter *v)
{
        dbus_bool_t b = d->state.speaker_mode;
        return get_basic(v, DBUS_TYPE_BOOLEAN, &b);
}

static bool get_blocker(struct daemon *d, DBusMessageIter *v)
{
        const char *s = policy_blocker_name(manager_current_blocker(d));
        return get_basic(v, DBUS_TYPE_STRING, &s);
}

static bool get_state(struct daemon *d, DBusMessageIter *v)
{
        const char *s = current_state(d);
        return get_basic(v, DBUS_TYPE_STRING, &s);
}

static bool get_output(struct daemon *d, DBusMessageIter *v)
{
        const char *s = d->output;
        return get_basic(v, DBUS_TYPE_STRING, &s);
}

/* The connected speakers that are outputs: the one, and with MultiOutput
 * the second (multi-output.c). */
static bool get_outputs(struct daemon *d, DBusMessageIter *v)
{
        struct device *dev = d->output[0] ? bluez_device_by_address(d, d->output) : NULL;
        const char *addr = d->output, *addr2 = d->output2;
        DBusMessageIter arr;

        return dbus_message_iter_open_container(v, DBUS_TYPE_ARRAY, "s", &arr) &&
               (!dev || !dev->connected || dbus_message_iter_append_basic(&arr, DBUS_TYPE_STRING, &addr)) &&
               (!multi_output_connected(d) || d->connecting2[0] ||
                dbus_message_iter_append_basic(&arr, DBUS_TYPE_STRING, &addr2)) &&
               dbus_message_iter_close_container(v, &arr);
}

static bool get_routes(struct daemon *d, DBusMessageIter *v)
{
        DBusMessageIter arr, entry;

        if (!dbus_message_iter_open_container(v, DBUS_TYPE_ARRAY, "{ss}", &arr))
                return false;
        for (int c = 0; c < CAT_COUNT; c++) {
                const char *k = audio_category_name((enum audio_category)c);
                const char *val = route_name(d->state.routes[c]);
                if (!dbus_message_iter_open_container(&arr, DBUS_TYPE_DICT_ENTRY, NULL, &entry) ||
                    !dbus_message_iter_append_basic(&entry, DBUS_TYPE_STRING, &k) ||
                    !dbus_message_iter_append_basic(&entry, DBUS_TYPE_STRING, &val) ||
                    !dbus_message_iter_close_container(&arr, &entry))
                        return false;
        }
        return dbus_message_iter_close_container(v, &arr);
}

static bool get_volume(struct daemon *d, DBusMessageIter *v)
{
        uint16_t q = d->state.volume;
        return get_basic(v, DBUS_TYPE_UINT16, &q);
}

static bool get_auto_reconnect(struct daemon *d, DBusMessageIter *v)
{
        dbus_bool_t b = d->state.auto_reconnect;
        return get_basic(v, DBUS_TYPE_BOOLEAN, &b);
}

static bool get_multi_output(struct daemon *d, DBusMessageIter *v)
{
        dbus_bool_t b = d->state.multi_output;
        return get_basic(v, DBUS_TYPE_BOOLEAN, &b);
}

static bool get_idle_suspend(struct daemon *d, DBusMessageIter *v)
{
        uint32_t u = d->state.idle_suspend;
        return get_basic(v, DBUS_TYPE_UINT32, &u);
}

static bool get_codec(struct daemon *d, DBusMessageIter *v)
{
        char buf[96];
        const char *s = buf;

        current_codec(d, buf, sizeof(buf));
        return get_basic(v, DBUS_TYPE_STRING, &s);
}

static bool get_codecs(struct daemon *d, DBusMessageIter *v)
{
        return codec_control_append_names(v, codec_control_codecs(d));
}

static bool get_stream_blocked(struct daemon *d, DBusMessageIter *v)
{
        const char *s = d->stream_blocked;
        return get_basic(v, DBUS_TYPE_STRING, &s);
}

static bool get_latency(struct daemon *d, DBusMessageIter *v)
{
        uint32_t u = output_latency_us(d);
        return get_basic(v, DBUS_TYPE_UINT32, &u);
}

static bool get_discovering(struct daemon *d, DBusMessageIter *v)
{
        dbus_bool_t b = FALSE;

        /* the scan's adapter may have been unplugged (and freed) since: only
         * one still in the list is looked at */
        for (struct adapter *a = d->adapters; a; a = a->next)
                if (a == d->discovery_adapter)
                        b = a->discovering;
        return get_basic(v, DBUS_TYPE_BOOLEAN, &b);
}

static bool get_statistics(struct daemon *d, DBusMessageIter *v)
{
        const struct stream_stats *st = stream_stats(d->stream);
        /* the one output the control plane streams to: slot 0 */
        const struct stream_output_stats *o = &st->out[first_slot(d)];
        DBusMessageIter dict;
        uint64_t rate = d->engine_rate ? d->engine_rate : 48000;
        uint64_t packets = atomic_load(&o->packets), full = atomic_load(&o->full_packets);
        uint64_t bytes = atomic_load(&o->bytes), frames = atomic_load(&o->frames);
        uint64_t xruns = atomic_load(&st->xruns), congestion = atomic_load(&o->congestion);
        uint64_t dropped_ms = atomic_load(&o->dropped_frames) * 1000 / rate;
        uint64_t local_underruns = atomic_load(&st->local_underruns);
        uint64_t stalls = atomic_load(&o->stalls), wakeups = atomic_load(&st->wakeups);
        uint64_t capture = atomic_load(&st->capture_frames), local = atomic_load(&st->local_frames);
        uint64_t bt = atomic_load(&o->bt_frames);
        uint32_t p50 = stream_latency_percentile(o, 50), p99 = stream_latency_percentile(o, 99);
        uint32_t lmax = atomic_load(&o->latency_max_us), level_value = atomic_load(&o->level_value);
        uint32_t kbps = atomic_load(&o->bitrate) / 1000;
        struct transport *t = d->streaming ? d->streaming : manager_output_transport(d);
        /* Bitpool keeps its meaning: SBC's (and SBC-XQ's) bitpool, 0 for
         * other codecs; Kbps is the quality level of any codec */
        uint32_t bitpool = t && t->codec->codec_id == A2DP_CODEC_SBC ? level_value : 0;
        uint32_t queue = atomic_load(&o->queue_us);
        /* the main loop's heap in use (the audio thread never allocates):
         * a leak shows in it byte for byte, where RSS also carries the
         * allocator's fragmentation */
        struct mallinfo2 mi = mallinfo2();
        uint64_t heap = (uint64_t)mi.uordblks + (uint64_t)mi.hblkhd;
        dbus_bool_t stuck = d->engine_stuck;

        return dbus_message_iter_open_container(v, DBUS_TYPE_ARRAY, "{sv}", &dict) &&
               dbus_dict_append_basic(&dict, "Packets", DBUS_TYPE_UINT64, &packets) &&
               dbus_dict_append_basic(&dict, "FullPackets", DBUS_TYPE_UINT64, &full) &&
               dbus_dict_append_basic(&dict, "Bytes", DBUS_TYPE_UINT64, &bytes) &&
               dbus_dict_append_basic(&dict, "SbcFrames", DBUS_TYPE_UINT64, &frames) &&
               dbus_dict_append_basic(&dict, "Underruns", DBUS_TYPE_UINT64, &congestion) &&
               dbus_dict_append_basic(&dict, "LocalUnderruns", DBUS_TYPE_UINT64, &local_underruns) &&
               dbus_dict_append_basic(&dict, "CaptureXruns", DBUS_TYPE_UINT64, &xruns) &&
               dbus_dict_append_basic(&dict, "DroppedMs", DBUS_TYPE_UINT64, &dropped_ms) &&
               dbus_dict_append_basic(&dict, "Stalls", DBUS_TYPE_UINT64, &stalls) &&
               dbus_dict_append_basic(&dict, "Reconnects", DBUS_TYPE_UINT64, &d->reconnects) &&
               dbus_dict_append_basic(&dict, "LinkErrors", DBUS_TYPE_UINT64, &d->link_errors) &&
               dbus_dict_append_basic(&dict, "CaptureFailures", DBUS_TYPE_UINT64, &d->capture_failures) &&
               dbus_dict_append_basic(&dict, "Wakeups", DBUS_TYPE_UINT64, &wakeups) &&
               dbus_dict_append_basic(&dict, "CapturedFrames", DBUS_TYPE_UINT64, &capture) &&
               dbus_dict_append_basic(&dict, "BluetoothFrames", DBUS_TYPE_UINT64, &bt) &&
               dbus_dict_append_basic(&dict, "LocalFrames", DBUS_TYPE_UINT64, &local) &&
               dbus_dict_append_basic(&dict, "HeapBytes", DBUS_TYPE_UINT64, &heap) &&
               dbus_dict_append_basic(&dict, "Bitpool", DBUS_TYPE_UINT32, &bitpool) &&
               dbus_dict_append_basic(&dict, "Kbps", DBUS_TYPE_UINT32, &kbps) &&
               dbus_dict_append_basic(&dict, "QueueUs", DBUS_TYPE_UINT32, &queue) &&
               dbus_dict_append_basic(&dict, "LatencyP50Us", DBUS_TYPE_UINT32, &p50) &&
               dbus_dict_append_basic(&dict, "LatencyP99Us", DBUS_TYPE_UINT32, &p99) &&
               dbus_dict_append_basic(&dict, "LatencyMaxUs", DBUS_TYPE_UINT32, &lmax) &&
               dbus_dict_append_basic(&dict, "EngineStuck", DBUS_TYPE_BOOLEAN, &stuck) &&
               dbus_message_iter_close_container(v, &dict);
}

static bool get_playback_status(struct daemon *d, DBusMessageIter *v)
{
        const char *s = playback_status_name(player_status(d));
        return get_basic(v, DBUS_TYPE_STRING, &s);
}

static bool get_now_playing(struct daemon *d, DBusMessageIter *v)
{
        const struct now_playing *np = player_now_playing(d);
        const char *title = np->title, *artist = np->artist, *album = np->album;
        DBusMessageIter dict;

        return dbus_message_iter_open_container(v, DBUS_TYPE_ARRAY, "{sv}", &dict) &&
               dbus_dict_append_basic(&dict, "Title", DBUS_TYPE_STRING, &title) &&
               dbus_dict_append_basic(&dict, "Artist", DBUS_TYPE_STRING, &artist) &&
               dbus_dict_append_basic(&dict, "Album", DBUS_TYPE_STRING, &album) &&
               dbus_dict_append_basic(&dict, "Duration", DBUS_TYPE_INT64, &np->duration_us) &&
               dbus_dict_append_basic(&dict, "Position", DBUS_TYPE_INT64, &np->position_us) &&
               dbus_message_iter_close_container(v, &dict);
}

/* ---- property writes -------------------------------------------------------- */

struct set_error {
        const char *name;
        char text[256];
};

static int set_fail(struct set_error *e, const char *name, const char *text)
{
        e->name = name;
        snprintf(e->text, sizeof(e->text), "%s", text);
        return -EINVAL;
}

static int set_speaker_mode(struct daemon *d, DBusMessageIter *v, struct set_error *e)
{
        dbus_bool_t b;
        enum blocker bl;

        if (dbus_variant_get_basic(v, DBUS_TYPE_BOOLEAN, &b) < 0)
                return set_fail(e, ERR_INVALID, "SpeakerMode is a boolean (b)");
        bl = manager_current_blocker(d);
        if (b && bl != BLOCKER_NONE)
                return set_fail(e, policy_blocker_error(bl), policy_blocker_message(bl));
        output_set_speaker_mode(d, b);
        return 0;
}

int manager_decode_routes(DBusMessageIter *v, enum route routes[CAT_COUNT], char *err, size_t err_len)
{
        DBusMessageIter arr;
        enum route out[CAT_COUNT];
        char *sig = NULL;
        bool typed;

        /* the iterator's signature is a copy of ours to free */
        typed = dbus_message_iter_get_arg_type(v) == DBUS_TYPE_ARRAY &&
                dbus_message_iter_get_element_type(v) == DBUS_TYPE_DICT_ENTRY &&
                (sig = dbus_message_iter_get_signature(v)) && strcmp(sig, "a{ss}") == 0;
        dbus_free(sig);
        if (!typed) {
                snprintf(err, err_len, "Routes is a{ss}: category -> bluetooth|local");
                return -EINVAL;
        }
        memcpy(out, routes, sizeof(out));
        dbus_message_iter_recurse(v, &arr);
        for (; dbus_message_iter_get_arg_type(&arr) == DBUS_TYPE_DICT_ENTRY; dbus_message_iter_next(&arr)) {
                DBusMessageIter entry;
                const char *cat, *route;
                int c, r;

                dbus_message_iter_recurse(&arr, &entry);
                dbus_message_iter_get_basic(&entry, &cat);
                dbus_message_iter_next(&entry);
                dbus_message_iter_get_basic(&entry, &route);
                c = audio_category_from_name(cat);
                if (c < 0) {
                        snprintf(err, err_len, "unknown category '%.64s' (media, alerts, voice)", cat);
                        return -EINVAL;
                }
                r = route_from_name(route);
                if (r < 0) {
                        snprintf(err, err_len, "route for %s must be 'bluetooth' or 'local', not '%.64s'",
                                 cat, route);
                        return -EINVAL;
                }
                out[c] = (enum route)r;
        }
        /* all or nothing: a refused entry leaves every route as it was */
        memcpy(routes, out, sizeof(out));
        return 0;
}

static int set_routes(struct daemon *d, DBusMessageIter *v, struct set_error *e)
{
        if (manager_decode_routes(v, d->state.routes, e->text, sizeof(e->text)) < 0) {
                e->name = ERR_INVALID;
                return -EINVAL;
        }
        output_routes_changed(d);
        return 0;
}

static int set_volume(struct daemon *d, DBusMessageIter *v, struct set_error *e)
{
        uint16_t q;

        if (dbus_variant_get_basic(v, DBUS_TYPE_UINT16, &q) < 0)
                return set_fail(e, ERR_INVALID, "Volume is a uint16 (q) from 0 to 127");
        if (q > 127)
                return set_fail(e, ERR_INVALID, "Volume must be between 0 and 127");
        d->state.volume = (uint8_t)q;
        output_volume_changed(d);
        /* one volume for the speakers: the second follows (each its own
         * with SetOutputVolume) */
        multi_output_set_volume(d, q);
        return 0;
}

static int set_auto_reconnect(struct daemon *d, DBusMessageIter *v, struct set_error *e)
{
        bool was = d->state.auto_reconnect;
        dbus_bool_t b;

        if (dbus_variant_get_basic(v, DBUS_TYPE_BOOLEAN, &b) < 0)
                return set_fail(e, ERR_INVALID, "AutoReconnect is a boolean (b)");
        d->state.auto_reconnect = b;
        /* turned on is news; written again unchanged (an app applying
         * its settings) is not, or each write would page the speaker
         * and undo the backoff */
        if (b && !was)
                speaker_reconnect_soon(d);
        return 0;
}

static int set_multi_output(struct daemon *d, DBusMessageIter *v, struct set_error *e)
{
        dbus_bool_t b;

        if (dbus_variant_get_basic(v, DBUS_TYPE_BOOLEAN, &b) < 0)
                return set_fail(e, ERR_INVALID, "MultiOutput is a boolean (b)");
        return multi_output_set(d, b);
}

static int set_idle_suspend(struct daemon *d, DBusMessageIter *v, struct set_error *e)
{
        uint32_t u;

        if (dbus_variant_get_basic(v, DBUS_TYPE_UINT32, &u) < 0)
                return set_fail(e, ERR_INVALID, "IdleSuspend is a uint32 (u), seconds");
        if (u > STATE_IDLE_SUSPEND_MAX)
                return set_fail(e, ERR_INVALID, "IdleSuspend is at most 86400 seconds (a day)");
        _Static_assert(STATE_IDLE_SUSPEND_MAX == 86400, "the refusal names it");
        d->state.idle_suspend = u;
        output_idle_suspend_changed(d);
        return 0;
}

static int set_playback_status(struct daemon *d, DBusMessageIter *v, struct set_error *e)
{
        const char *s;
        int st;

        if (dbus_variant_get_basic(v, DBUS_TYPE_STRING, &s) < 0)
                return set_fail(e, ERR_INVALID, "PlaybackStatus is a string (s): playing, paused or stopped");
        st = playback_status_from_name(s);
        if (st < 0)
                return set_fail(e, ERR_INVALID, "PlaybackStatus must be playing, paused or stopped");
        player_set_status(d, (enum playback_status)st);
        return 0;
}

static int set_codecs(struct daemon *d, DBusMessageIter *v, struct set_error *e)
{
        return codec_control_set_codecs(d, v, e->text, sizeof(e->text), &e->name);
}

typedef int (*prop_set_fn)(struct daemon *d, DBusMessageIter *var, struct set_error *e);

static const struct property {
        const char *name;
        const char *sig;
        prop_get_fn get;
        prop_set_fn set;
        bool emits;             /* PropertiesChanged on change */
} properties[] = {
        { "SpeakerMode", "b", get_speaker_mode, set_speaker_mode, true },
        { "SpeakerModeBlocker", "s", get_blocker, NULL, true },
        { "State", "s", get_state, NULL, true },
        { "Output", "s", get_output, NULL, true },
        { "Outputs", "as", get_outputs, NULL, true },
        { "Routes", "a{ss}", get_routes, set_routes, true },
        { "Volume", "q", get_volume, set_volume, true },
        { "AutoReconnect", "b", get_auto_reconnect, set_auto_reconnect, true },
        { "MultiOutput", "b", get_multi_output, set_multi_output, true },
        { "IdleSuspend", "u", get_idle_suspend, set_idle_suspend, true },
        { "Codec", "s", get_codec, NULL, true },
        { "Codecs", "as", get_codecs, set_codecs, true },
        { "Latency", "u", get_latency, NULL, true },
        { "StreamBlocked", "s", get_stream_blocked, NULL, true },
        { "Discovering", "b", get_discovering, NULL, true },
        { "PlaybackStatus", "s", get_playback_status, set_playback_status, true },
        { "NowPlaying", "a{sv}", get_now_playing, NULL, true },
        { "Statistics", "a{sv}", get_statistics, NULL, false },
};
#define N_PROPS (sizeof(properties) / sizeof(properties[0]))

static const struct property *find_property(const char *name)
{
        for (size_t i = 0; i < N_PROPS; i++)
                if (strcmp(properties[i].name, name) == 0)
                        return &properties[i];
        return NULL;
}

static bool append_variant(struct daemon *d, DBusMessageIter *it, const struct property *p)
{
        DBusMessageIter var;

        return dbus_message_iter_open_container(it, DBUS_TYPE_VARIANT, p->sig, &var) &&
               p->get(d, &var) && dbus_message_iter_close_container(it, &var);
}

static bool append_entry(struct daemon *d, DBusMessageIter *dict, const struct property *p)
{
        DBusMessageIter entry;

        return dbus_message_iter_open_container(dict, DBUS_TYPE_DICT_ENTRY, NULL, &entry) &&
               dbus_message_iter_append_basic(&entry, DBUS_TYPE_STRING, &p->name) &&
               append_variant(d, &entry, p) && dbus_message_iter_close_container(dict, &entry);
}

/* ---- PropertiesChanged ------------------------------------------------------ */

/* A property's value, marshalled, as the key for "did it change". */
static char *value_key(struct daemon *d, const struct property *p)
{
        DBusMessage *m = dbus_message_new_signal(MANAGER_PATH, MANAGER_IFACE, "X");
        DBusMessageIter it;
        char *buf = NULL;
        int len = 0;

        if (!m)
                return NULL;
        /* a fixed serial makes equal values marshal to equal bytes */
        dbus_message_set_serial(m, 1);
        dbus_message_iter_init_append(m, &it);
        if (append_variant(d, &it, p) && dbus_message_marshal(m, &buf, &len)) {
                char *copy = malloc((size_t)len + sizeof(int));
                if (copy) {
                        memcpy(copy, &len, sizeof(int));
                        memcpy(copy + sizeof(int), buf, (size_t)len);
                }
                dbus_free(buf);
                buf = copy;
        }
        dbus_message_unref(m);
        return buf;
}

static bool same_key(const char *a, const char *b)
{
        int la, lb;

        if (!a || !b)
                return false;
        memcpy(&la, a, sizeof(int));
        memcpy(&lb, b, sizeof(int));
        return la == lb && memcmp(a + sizeof(int), b + sizeof(int), (size_t)la) == 0;
}

void manager_update(struct daemon *d)
{
        DBusMessage *sig;
        DBusMessageIter it, dict, inv;
        const char *iface = MANAGER_IFACE;
        bool any = false;

        if (!d->conn || !d->stream)
                return;
        sig = dbus_message_new_signal(MANAGER_PATH, DBUS_INTERFACE_PROPERTIES, "PropertiesChanged");
        if (!sig)
                return;
        dbus_message_iter_init_append(sig, &it);
        if (!dbus_message_iter_append_basic(&it, DBUS_TYPE_STRING, &iface) ||
            !dbus_message_iter_open_container(&it, DBUS_TYPE_ARRAY, "{sv}", &dict))
                goto out;
        for (size_t i = 0; i < N_PROPS && i < sizeof(d->prop_cache) / sizeof(d->prop_cache[0]); i++) {
                char *key;

                if (!properties[i].emits)
                        continue;
                key = value_key(d, &properties[i]);
                if (!key || same_key(key, d->prop_cache[i])) {
                        free(key);
                        continue;
                }
                free(d->prop_cache[i]);
                d->prop_cache[i] = key;
                if (!append_entry(d, &dict, &properties[i]))
                        goto out;
                any = true;
        }
        if (!dbus_message_iter_close_container(&it, &dict) ||
            !dbus_message_iter_open_container(&it, DBUS_TYPE_ARRAY, "s", &inv) ||
            !dbus_message_iter_close_container(&it, &inv))
                goto out;
        if (any)
                dbus_connection_send(d->conn, sig, NULL);
out:
        dbus_message_unref(sig);
        manager_outputs_signal(d);
}

/* Every write of the settings costs two fsyncs (the file, then the rename
 * in its directory): on a board's flash, a burst of changes is one write. */
#define SAVE_DELAY_US 1000000ull
/* A full disk is often passing (a log rotated, the journal vacuumed): a
 * failed write is tried again, 1 s doubling to this, until it is on disk */
#define SAVE_RETRY_MAX_S 60

static int on_save_timer(sd_event_source *s, uint64_t usec, void *ud);

int manager_save(struct daemon *d)
{
        unsigned s;
        int r;

        /* this write covers whatever was waiting */
        sd_event_source_disable_unref(d->save_timer);
        d->save_timer = NULL;
        r = state_save(d->opts.state_dir, &d->state);
        if (r == 0) {
                if (d->save_failures)
                        log_notice("settings saved in %s again", d->opts.state_dir);
                d->save_failures = 0;
                d->save_err_said = 0;
                return 0;
        }
        /* said once; the retries failing alike are no news */
        if (r != d->save_err_said)
                log_err("saving settings in %s failed: %s; the previous settings stay on disk, "
                        "and the write is tried again until it succeeds",
                        d->opts.state_dir, strerror(-r));
        else
                log_debug("saving settings in %s failed again: %s", d->opts.state_dir,
                          strerror(-r));
        d->save_err_said = r;
        s = policy_backoff_s(d->save_failures, SAVE_RETRY_MAX_S);
        if (d->save_failures < 16)
                d->save_failures++;
        if (!d->shutting_down &&
            sd_event_add_time_relative(d->event, &d->save_timer, CLOCK_MONOTONIC,
                                       (uint64_t)s * 1000000, 100000, on_save_timer, d) < 0)
                d->save_timer = NULL;
        return r;
}

static int on_save_timer(sd_event_source *s, uint64_t usec, void *ud)
{
        manager_save(ud);
        return 0;
}

void manager_save_soon(struct daemon *d)
{
        if (d->save_timer) {
                /* a retry may be a minute away: a new change is written
                 * as soon as any */
                if (d->save_failures)
                        sd_event_source_set_time_relative(d->save_timer, SAVE_DELAY_US);
                return;         /* the write already due takes this change too */
        }
        if (sd_event_add_time_relative(d->event, &d->save_timer, CLOCK_MONOTONIC, SAVE_DELAY_US,
                                       100000, on_save_timer, d) < 0)
                manager_save(d);
}

/* The change is made; whether it survives a restart depends on the disk.
 * A settings file that cannot be written (full, read-only) is reported,
 * and the previous file stays as it was. */
DBusHandlerResult manager_reply_saved(struct daemon *d, DBusMessage *msg)
{
        int r = manager_save(d);

        if (r < 0)
                return dbus_reply_error(d->conn, msg, ERR_FAILED,
                                        "The change applies now but could not be saved in %s (%s); "
                                        "it is written when the disk takes it, and lost if the "
                                        "daemon stops before",
                                        d->opts.state_dir, strerror(-r));
        return dbus_reply_empty(d->conn, msg);
}

/* ---- Properties interface --------------------------------------------------- */

DBusHandlerResult manager_props_get(struct daemon *d, DBusMessage *msg)
{
        const char *iface, *name;
        const struct property *p;
        DBusMessage *reply;
        DBusMessageIter it;

        if (!dbus_message_has_signature(msg, "ss") ||
            !dbus_message_get_args(msg, NULL, DBUS_TYPE_STRING, &iface, DBUS_TYPE_STRING, &name,
                                   DBUS_TYPE_INVALID))
                return dbus_reply_error(d->conn, msg, DBUS_ERROR_INVALID_ARGS, "Get takes (s, s)");
        if (strcmp(iface, MANAGER_IFACE) != 0)
                return dbus_reply_error(d->conn, msg, DBUS_ERROR_UNKNOWN_INTERFACE,
                                        "No interface %.100s", iface);
        p = find_property(name);
        if (!p)
                return dbus_reply_error(d->conn, msg, DBUS_ERROR_UNKNOWN_PROPERTY,
                                        "No property %.100s", name);
        reply = dbus_message_new_method_return(msg);
        if (!reply)
                return DBUS_HANDLER_RESULT_NEED_MEMORY;
        dbus_message_iter_init_append(reply, &it);
        if (!append_variant(d, &it, p)) {
                dbus_message_unref(reply);
                return DBUS_HANDLER_RESULT_NEED_MEMORY;
        }
        return dbus_send_reply(d->conn, reply);
}

DBusHandlerResult manager_props_get_all(struct daemon *d, DBusMessage *msg)
{
        const char *iface;
        DBusMessage *reply;
        DBusMessageIter it, dict;

        if (!dbus_message_has_signature(msg, "s") ||
            !dbus_message_get_args(msg, NULL, DBUS_TYPE_STRING, &iface, DBUS_TYPE_INVALID))
                return dbus_reply_error(d->conn, msg, DBUS_ERROR_INVALID_ARGS, "GetAll takes (s)");
        reply = dbus_message_new_method_return(msg);
        if (!reply)
                return DBUS_HANDLER_RESULT_NEED_MEMORY;
        dbus_message_iter_init_append(reply, &it);
        if (!dbus_message_iter_open_container(&it, DBUS_TYPE_ARRAY, "{sv}", &dict))
                goto nomem;
        /* other interfaces of ours have no properties: an empty dict */
        if (strcmp(iface, MANAGER_IFACE) == 0)
                for (size_t i = 0; i < N_PROPS; i++)
                        if (!append_entry(d, &dict, &properties[i]))
                                goto nomem;
        if (!dbus_message_iter_close_container(&it, &dict))
                goto nomem;
        return dbus_send_reply(d->conn, reply);
nomem:
        dbus_message_unref(reply);
        return DBUS_HANDLER_RESULT_NEED_MEMORY;
}

DBusHandlerResult manager_props_set(struct daemon *d, DBusMessage *msg)
{
        DBusMessageIter it, var;
        const char *iface, *name;
        const struct property *p;
        struct set_error e = { 0 };

        if (!dbus_message_has_signature(msg, "ssv"))
                return dbus_reply_error(d->conn, msg, DBUS_ERROR_INVALID_ARGS, "Set takes (s, s, v)");
        dbus_message_iter_init(msg, &it);
        dbus_message_iter_get_basic(&it, &iface);
        dbus_message_iter_next(&it);
        dbus_message_iter_get_basic(&it, &name);
        dbus_message_iter_next(&it);
        dbus_message_iter_recurse(&it, &var);
        if (strcmp(iface, MANAGER_IFACE) != 0)
                return dbus_reply_error(d->conn, msg, DBUS_ERROR_UNKNOWN_INTERFACE,
                                        "No interface %.100s", iface);
        p = find_property(name);
        if (!p)
                return dbus_reply_error(d->conn, msg, DBUS_ERROR_UNKNOWN_PROPERTY,
                                        "No property %.100s", name);
        if (!p->set)
                return dbus_reply_error(d->conn, msg, DBUS_ERROR_PROPERTY_READ_ONLY,
                                        "%s is read-only", p->name);
        if (p->set(d, &var, &e) < 0)
                return dbus_reply_error(d->conn, msg, e.name, "%s", e.text);
        manager_update(d);
        /* what plays is no setting to save */
        if (p->set == set_playback_status)
                return dbus_reply_empty(d->conn, msg);
        return manager_reply_saved(d, msg);
}

unsigned manager_route_mask(struct daemon *d)
{
        return route_mask(&d->state);
}

