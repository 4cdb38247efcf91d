/* Manager1's per-speaker view of the outputs (issue #13): GetOutputs()
 * describes each speaker playing (or being connected) as an output, and
 * DisconnectOutput(address) lets one of two go while the other plays on.
 * Decoding and encoding only; multi-output.c and speaker.c do the work. */
#include <errno.h>
#include <stdatomic.h>
#include <string.h>

#include "bdaddr.h"
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
        unsigned slot;
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

                out[n++] = (struct output_view){ d->output, first_state(d, t), t, 0 };
        }
        if (d->output2[0]) {
                struct device *dev2 = bluez_device_by_address(d, d->output2);
                struct transport *t = transport_of_device(d, dev2);

                if (dev2 && (dev2->connected || d->connecting2[0]))
                        out[n++] = (struct output_view){ d->output2, second_state(d, t), t, 1 };
        }
        return n;
}

static bool append_output(struct daemon *d, DBusMessageIter *arr, const struct output_view *o)
{
        struct device *dev = bluez_device_by_address(d, o->address);
        const char *name = dev && dev->name[0] ? dev->name : o->address;
        DBusMessageIter dict;
        char codec[96] = "", *codec_p = codec;

        if (!dbus_message_iter_open_container(arr, DBUS_TYPE_ARRAY, "{sv}", &dict) ||
            !dbus_dict_append_basic(&dict, "Address", DBUS_TYPE_STRING, &o->address) ||
            !dbus_dict_append_basic(&dict, "Name", DBUS_TYPE_STRING, &name) ||
            !dbus_dict_append_basic(&dict, "State", DBUS_TYPE_STRING, &o->state))
                return false;
        if (o->t) {
                enum speaker_delay_source src;
                dbus_uint32_t delay = output_speaker_delay_us(d, o->t, &src);
                const char *src_name = speaker_delay_source_name(src);
                const struct stream_output_stats *st = &stream_stats(d->stream)->out[o->slot];
                bool attached = stream_bt_attached(d->stream, o->slot);
                unsigned level = attached ? atomic_load(&st->level) : 0;
                dbus_uint32_t bitrate = attached ? atomic_load(&st->bitrate) : 0;
                dbus_uint32_t cap = attached ? atomic_load(&st->cap_bps) : 0;

                transport_describe(o->t, level, codec, sizeof(codec));
                if (!dbus_dict_append_basic(&dict, "Codec", DBUS_TYPE_STRING, &codec_p) ||
                    !dbus_dict_append_basic(&dict, "Bitrate", DBUS_TYPE_UINT32, &bitrate) ||
                    !dbus_dict_append_basic(&dict, "MaxBitrate", DBUS_TYPE_UINT32, &cap) ||
                    !dbus_dict_append_basic(&dict, "Delay", DBUS_TYPE_UINT32, &delay) ||
                    !dbus_dict_append_basic(&dict, "DelaySource", DBUS_TYPE_STRING, &src_name))
                        return false;
        }
        return dbus_message_iter_close_container(arr, &dict);
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

DBusHandlerResult manager_disconnect_output(struct daemon *d, DBusMessage *msg)
{
        const char *addr;
        int r;

        if (!dbus_message_has_signature(msg, "s") ||
            !dbus_message_get_args(msg, NULL, DBUS_TYPE_STRING, &addr, DBUS_TYPE_INVALID))
                return dbus_reply_error(d->conn, msg, ERR_INVALID,
                                        "DisconnectOutput takes one string: a device address");
        if (!bdaddr_valid(addr))
                return dbus_reply_error(d->conn, msg, ERR_INVALID,
                                        "'%.40s' is not a Bluetooth address (AA:BB:CC:DD:EE:FF)", addr);
        r = multi_output_disconnect_one(d, addr);
        if (r == -ENOENT)
                return dbus_reply_error(d->conn, msg, ERR_PREFIX "NotConnected", "%s is not an output", addr);
        if (r == -ENOTCONN)
                speaker_disconnect(d);  /* the one output: as Disconnect() */
        manager_update(d);
        return manager_reply_saved(d, msg);
}
