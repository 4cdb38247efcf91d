/* Manager1's per-speaker view of the outputs (issue #13): GetOutputs()
 * describes each speaker playing (or being connected) as an output,
 * DisconnectOutput(address) lets one of two go while the other plays on,
 * SetOutputVolume(address, volume) sets one speaker's volume and
 * SetOutputCodec(address, codec) switches one speaker's codec.
 * Decoding and encoding only; multi-output.c and speaker.c do the work. */
#include <errno.h>
#include <stdatomic.h>
#include <string.h>
#include <strings.h>

#include "codec-control.h"
#include "daemon.h"
#include "dbus-util.h"
#include "log.h"
#include "manager-props.h"
#include "speaker-delay.h"
#include "stream.h"

struct output_view {
        const char *address;
        const char *state;
        struct transport *t;
        unsigned slot;          /* the engine's */
        bool first;
        dbus_uint16_t volume;
};

static const char *first_state(struct daemon *d, struct transport *t)
{
        if (d->connecting[0])
                return "connecting";
        return t && d->streaming == t ? "streaming" : "connected";
}

static const char *second_state(struct daemon *d, struct transport *t)
{
        if (d->connecting2[0])
                return "connecting";
        return t && d->streaming2 == t ? "streaming" : "connected";
}

/* The outputs in Outputs' order: the first, then the second. */
static unsigned list_outputs(struct daemon *d, struct output_view out[2])
{
        struct device *dev = d->output[0] ? bluez_device_by_address(d, d->output) : NULL;
        unsigned n = 0;

        if (dev && (dev->connected || d->connecting[0])) {
                struct transport *t = manager_output_transport(d);

                out[n++] = (struct output_view){ d->output, first_state(d, t), t, first_slot(d), true,
                                                 d->state.volume };
        }
        if (d->output2[0]) {
                struct device *dev2 = bluez_device_by_address(d, d->output2);
                struct transport *t = transport_of_device(d, dev2);

                if (dev2 && (dev2->connected || d->connecting2[0]))
                        out[n++] = (struct output_view){ d->output2, second_state(d, t), t, second_slot(d), false,
                                                         d->volume2 };
        }
        return n;
}

/* The output speaker at addr into *o; false when it is none. */
static bool find_output(struct daemon *d, const char *addr, struct output_view *o)
{
        struct output_view outs[2];
        unsigned n = list_outputs(d, outs);

        for (unsigned i = 0; i < n; i++)
                if (strcasecmp(outs[i].address, addr) == 0) {
                        *o = outs[i];
                        return true;
                }
        return false;
}

/* A slot's counters run on across attaches (Statistics sums the first
 * speaker's streams), so each attach's start is kept; read before the
 * attach, while nothing counts on the slot. */
static void read_counts(struct daemon *d, unsigned slot, struct slot_counts *c)
{
        const struct stream_output_stats *st = &stream_stats(d->stream)->out[slot];

        c->packets = atomic_load(&st->packets);
        c->stalls = atomic_load(&st->stalls);
        c->congestion = atomic_load(&st->congestion);
        c->dropped_frames = atomic_load(&st->dropped_frames);
}

void manager_outputs_mark_attach(struct daemon *d, unsigned slot)
{
        if (slot < 2)
                read_counts(d, slot, &d->slot_base[slot]);
}

/* This speaker's stream's counters since its attach. */
static bool append_counts(struct daemon *d, DBusMessageIter *dict, unsigned slot)
{
        struct slot_counts now, *base = &d->slot_base[slot & 1u];
        uint64_t rate = d->engine_rate ? d->engine_rate : 48000;
        dbus_uint64_t packets, stalls, congestion, dropped_ms;

        read_counts(d, slot & 1u, &now);
        packets = now.packets - base->packets;
        stalls = now.stalls - base->stalls;
        congestion = now.congestion - base->congestion;
        dropped_ms = (now.dropped_frames - base->dropped_frames) * 1000 / rate;
        return dbus_dict_append_basic(dict, "Packets", DBUS_TYPE_UINT64, &packets) &&
               dbus_dict_append_basic(dict, "Stalls", DBUS_TYPE_UINT64, &stalls) &&
               dbus_dict_append_basic(dict, "Congestion", DBUS_TYPE_UINT64, &congestion) &&
               dbus_dict_append_basic(dict, "DroppedMs", DBUS_TYPE_UINT64, &dropped_ms);
}

/* What a companion app shows of an output (GetOutputs' descriptive keys,
 * and what OutputChanged compares). */
static void see_output(struct daemon *d, const struct output_view *o, struct output_seen *s)
{
        struct device *dev = bluez_device_by_address(d, o->address);

        memset(s, 0, sizeof(*s));
        snprintf(s->address, sizeof(s->address), "%s", o->address);
        snprintf(s->name, sizeof(s->name), "%s", dev && dev->name[0] ? dev->name : o->address);
        snprintf(s->state, sizeof(s->state), "%s", o->state);
        s->volume = o->volume;
        if (o->t) {
                enum speaker_delay_source src;
                const struct stream_output_stats *st = &stream_stats(d->stream)->out[o->slot];
                unsigned level = stream_bt_attached(d->stream, o->slot) ? atomic_load(&st->level) : 0;

                transport_describe(o->t, level, s->codec, sizeof(s->codec));
                s->delay = output_speaker_delay_us(d, o->t, &src);
                snprintf(s->delay_source, sizeof(s->delay_source), "%s", speaker_delay_source_name(src));
        }
}

static bool append_output(struct daemon *d, DBusMessageIter *arr, const struct output_view *o)
{
        struct output_seen seen;
        const char *name = seen.name, *codec = seen.codec, *src_name = seen.delay_source;
        DBusMessageIter dict;

        see_output(d, o, &seen);
        if (!dbus_message_iter_open_container(arr, DBUS_TYPE_ARRAY, "{sv}", &dict) ||
            !dbus_dict_append_basic(&dict, "Address", DBUS_TYPE_STRING, &o->address) ||
            !dbus_dict_append_basic(&dict, "Name", DBUS_TYPE_STRING, &name) ||
            !dbus_dict_append_basic(&dict, "State", DBUS_TYPE_STRING, &o->state) ||
            !dbus_dict_append_basic(&dict, "Volume", DBUS_TYPE_UINT16, &o->volume))
                return false;
        if (o->t) {
                const struct stream_output_stats *st = &stream_stats(d->stream)->out[o->slot];
                bool attached = stream_bt_attached(d->stream, o->slot);
                dbus_uint32_t bitrate = attached ? atomic_load(&st->bitrate) : 0;
                dbus_uint32_t cap = attached ? atomic_load(&st->cap_bps) : 0;
                dbus_uint32_t latency = attached ? output_latency_of(d, o->t, o->slot) : 0;
                dbus_uint32_t out_of_step = attached ? atomic_load(&st->align_short_us) : 0;
                dbus_uint32_t delay = seen.delay;

                if (!dbus_dict_append_basic(&dict, "Codec", DBUS_TYPE_STRING, &codec) ||
                    !dbus_dict_append_basic(&dict, "Bitrate", DBUS_TYPE_UINT32, &bitrate) ||
                    !dbus_dict_append_basic(&dict, "MaxBitrate", DBUS_TYPE_UINT32, &cap) ||
                    !dbus_dict_append_basic(&dict, "Latency", DBUS_TYPE_UINT32, &latency) ||
                    !dbus_dict_append_basic(&dict, "OutOfStepUs", DBUS_TYPE_UINT32, &out_of_step) ||
                    !dbus_dict_append_basic(&dict, "Delay", DBUS_TYPE_UINT32, &delay) ||
                    !dbus_dict_append_basic(&dict, "DelaySource", DBUS_TYPE_STRING, &src_name) ||
                    !append_counts(d, &dict, o->slot))
                        return false;
        }
        return dbus_message_iter_close_container(arr, &dict);
}

static bool append_str_if(DBusMessageIter *dict, const char *key, const char *now, const char *was)
{
        return strcmp(now, was) == 0 || dbus_dict_append_basic(dict, key, DBUS_TYPE_STRING, &now);
}

/* OutputChanged(address, a{sv}): the keys of GetOutputs that changed. */
static void signal_output(struct daemon *d, const struct output_seen *now, const struct output_seen *was)
{
        DBusMessage *sig = dbus_message_new_signal(MANAGER_PATH, MANAGER_IFACE, "OutputChanged");
        const char *addr = now->address;
        dbus_uint16_t volume = now->volume;
        dbus_uint32_t delay = now->delay;
        DBusMessageIter it, dict;

        if (!sig)
                return;
        dbus_message_iter_init_append(sig, &it);
        if (dbus_message_iter_append_basic(&it, DBUS_TYPE_STRING, &addr) &&
            dbus_message_iter_open_container(&it, DBUS_TYPE_ARRAY, "{sv}", &dict) &&
            append_str_if(&dict, "Name", now->name, was->name) &&
            append_str_if(&dict, "State", now->state, was->state) &&
            (now->volume == was->volume ||
             dbus_dict_append_basic(&dict, "Volume", DBUS_TYPE_UINT16, &volume)) &&
            append_str_if(&dict, "Codec", now->codec, was->codec) &&
            (now->delay == was->delay || dbus_dict_append_basic(&dict, "Delay", DBUS_TYPE_UINT32, &delay)) &&
            append_str_if(&dict, "DelaySource", now->delay_source, was->delay_source) &&
            dbus_message_iter_close_container(&it, &dict))
                dbus_connection_send(d->conn, sig, NULL);
        dbus_message_unref(sig);
}

void manager_outputs_signal(struct daemon *d)
{
        struct output_view outs[2];
        struct output_seen now[2] = { 0 };
        unsigned n = list_outputs(d, outs);

        for (unsigned i = 0; i < n; i++) {
                const struct output_seen *was = NULL;
                static const struct output_seen none;

                see_output(d, &outs[i], &now[i]);
                /* matched by address: the second promoted to first keeps
                 * what was said of it */
                for (unsigned j = 0; j < 2; j++)
                        if (strcasecmp(d->outputs_seen[j].address, now[i].address) == 0)
                                was = &d->outputs_seen[j];
                if (!was || memcmp(was, &now[i], sizeof(now[i])) != 0)
                        signal_output(d, &now[i], was ? was : &none);
        }
        memcpy(d->outputs_seen, now, sizeof(now));
}

DBusHandlerResult manager_get_outputs(struct daemon *d, DBusMessage *msg)
{
        struct output_view outs[2];
        unsigned n = list_outputs(d, outs);
        DBusMessage *reply = dbus_message_new_method_return(msg);
        DBusMessageIter it, arr;
        bool ok;

        if (!reply)
                return DBUS_HANDLER_RESULT_NEED_MEMORY;
        dbus_message_iter_init_append(reply, &it);
        ok = dbus_message_iter_open_container(&it, DBUS_TYPE_ARRAY, "a{sv}", &arr);
        for (unsigned i = 0; ok && i < n; i++)
                ok = append_output(d, &arr, &outs[i]);
        if (!ok || !dbus_message_iter_close_container(&it, &arr)) {
                dbus_message_unref(reply);
                return DBUS_HANDLER_RESULT_NEED_MEMORY;
        }
        return dbus_send_reply(d->conn, reply);
}

static DBusHandlerResult not_an_output(struct daemon *d, DBusMessage *msg, const char *addr)
{
        return dbus_reply_error(d->conn, msg, ERR_PREFIX "NotConnected", "%s is not an output", addr);
}

DBusHandlerResult manager_set_output_volume(struct daemon *d, DBusMessage *msg)
{
        struct output_view o;
        dbus_uint16_t volume;
        const char *addr = manager_address_args(d, msg, "sq", DBUS_TYPE_UINT16, &volume,
                                       "SetOutputVolume takes a device address and a volume (q, 0-127)");

        if (!addr)
                return DBUS_HANDLER_RESULT_HANDLED;
        if (volume > 127)
                return dbus_reply_error(d->conn, msg, ERR_INVALID, "Volume must be between 0 and 127");
        if (!find_output(d, addr, &o))
                return not_an_output(d, msg, addr);
        if (o.first) {
                /* the first's is the Volume property */
                d->state.volume = (uint8_t)volume;
                output_volume_changed(d);
                manager_update(d);
                return manager_reply_saved(d, msg);
        }
        multi_output_set_volume(d, volume);
        return dbus_reply_empty(d->conn, msg);
}

DBusHandlerResult manager_set_output_codec(struct daemon *d, DBusMessage *msg)
{
        struct output_view o;
        const char *codec;
        const char *addr = manager_address_args(d, msg, "ss", DBUS_TYPE_STRING, &codec,
                                       "SetOutputCodec takes a device address and a codec name such as aptx");

        if (!addr)
                return DBUS_HANDLER_RESULT_HANDLED;
        if (!find_output(d, addr, &o))
                return not_an_output(d, msg, addr);
        return codec_control_switch(d, msg, o.t, codec);
}

DBusHandlerResult manager_disconnect_output(struct daemon *d, DBusMessage *msg)
{
        const char *addr = manager_address_args(d, msg, "s", DBUS_TYPE_INVALID, NULL,
                                       "DisconnectOutput takes one string: a device address");
        struct output_view o;
        int r;

        if (!addr)
                return DBUS_HANDLER_RESULT_HANDLED;
        /* only what GetOutputs lists (a first speaker being reconnected is
         * no output: Disconnect() calls that off) */
        if (!find_output(d, addr, &o))
                return not_an_output(d, msg, addr);
        r = multi_output_disconnect_one(d, o.first);
        if (r == -ENOTCONN)
                speaker_disconnect(d);  /* the one output: as Disconnect() */
        manager_update(d);
        return manager_reply_saved(d, msg);
}
