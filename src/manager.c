/* org.a2dpsrc.Manager1 on /org/a2dpsrc: the companion app's and busctl's
 * view of speaker mode. This file only decodes calls, checks arguments and
 * encodes properties; the work is done by output.c, speaker.c, agent.c and
 * discovery.c. A rejected call never changes anything. */
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
#include "speaker-delay.h"
#include "stream.h"

static const char introspect_xml[] =
        DBUS_INTROSPECT_1_0_XML_DOCTYPE_DECL_NODE
        "<node>\n"
        " <interface name='org.a2dpsrc.Manager1'>\n"
        "  <method name='StartDiscovery'/>\n"
        "  <method name='StopDiscovery'/>\n"
        "  <method name='GetDevices'><arg name='devices' type='aa{sv}' direction='out'/></method>\n"
        "  <method name='Pair'><arg name='address' type='s' direction='in'/></method>\n"
        "  <method name='Connect'><arg name='address' type='s' direction='in'/></method>\n"
        "  <method name='Disconnect'/>\n"
        "  <method name='GetOutputs'><arg name='outputs' type='aa{sv}' direction='out'/></method>\n"
        "  <method name='DisconnectOutput'><arg name='address' type='s' direction='in'/></method>\n"
        "  <method name='SetOutputVolume'><arg name='address' type='s' direction='in'/>"
        "<arg name='volume' type='q' direction='in'/></method>\n"
        "  <method name='SetOutputCodec'><arg name='address' type='s' direction='in'/>"
        "<arg name='codec' type='s' direction='in'/></method>\n"
        "  <method name='Forget'><arg name='address' type='s' direction='in'/></method>\n"
        "  <method name='SetSbcXq'><arg name='address' type='s' direction='in'/>"
        "<arg name='allowed' type='b' direction='in'/></method>\n"
        "  <method name='SetSpeakerDelay'><arg name='address' type='s' direction='in'/>"
        "<arg name='delay_us' type='u' direction='in'/></method>\n"
        "  <method name='SetCodec'><arg name='codec' type='s' direction='in'/></method>\n"
        "  <method name='SetDefaultOutput'><arg name='output' type='s' direction='in'/></method>\n"
        "  <method name='Reset'/>\n"
        "  <method name='SetNowPlaying'><arg name='track' type='a{sv}' direction='in'/></method>\n"
        "  <method name='Diagnose'><arg name='address' type='s' direction='in'/>"
        "<arg name='findings' type='a(ssss)' direction='out'/></method>\n"
        "  <signal name='MediaKey'><arg name='key' type='s'/><arg name='device' type='s'/></signal>\n"
        "  <signal name='OutputChanged'><arg name='address' type='s'/><arg name='changed' type='a{sv}'/></signal>\n"
        "  <property name='SpeakerMode' type='b' access='readwrite'/>\n"
        "  <property name='SpeakerModeBlocker' type='s' access='read'/>\n"
        "  <property name='State' type='s' access='read'/>\n"
        "  <property name='Output' type='s' access='read'/>\n"
        "  <property name='Outputs' type='as' access='read'/>\n"
        "  <property name='Routes' type='a{ss}' access='readwrite'/>\n"
        "  <property name='Volume' type='q' access='readwrite'/>\n"
        "  <property name='AutoReconnect' type='b' access='readwrite'/>\n"
        "  <property name='MultiOutput' type='b' access='readwrite'/>\n"
        "  <property name='IdleSuspend' type='u' access='readwrite'/>\n"
        "  <property name='Codec' type='s' access='read'/>\n"
        "  <property name='Codecs' type='as' access='readwrite'/>\n"
        "  <property name='Latency' type='u' access='read'/>\n"
        "  <property name='Discovering' type='b' access='read'/>\n"
        "  <property name='PlaybackStatus' type='s' access='readwrite'/>\n"
        "  <property name='NowPlaying' type='a{sv}' access='read'/>\n"
        "  <property name='StreamBlocked' type='s' access='read'/>\n"
        "  <property name='Statistics' type='a{sv}' access='read'>\n"
        "   <annotation name='org.freedesktop.DBus.Property.EmitsChangedSignal' value='false'/>\n"
        "  </property>\n"
        " </interface>\n"
        " <interface name='org.freedesktop.DBus.Properties'>\n"
        "  <method name='Get'><arg type='s' direction='in'/><arg type='s' direction='in'/>"
        "<arg type='v' direction='out'/></method>\n"
        "  <method name='GetAll'><arg type='s' direction='in'/><arg type='a{sv}' direction='out'/></method>\n"
        "  <method name='Set'><arg type='s' direction='in'/><arg type='s' direction='in'/>"
        "<arg type='v' direction='in'/></method>\n"
        "  <signal name='PropertiesChanged'><arg type='s'/><arg type='a{sv}'/><arg type='as'/></signal>\n"
        " </interface>\n"
        " <interface name='org.freedesktop.DBus.Introspectable'>\n"
        "  <method name='Introspect'><arg type='s' direction='out'/></method>\n"
        " </interface>\n"
        " <interface name='org.freedesktop.DBus.Peer'>\n"
        "  <method name='Ping'/>\n"
        "  <method name='GetMachineId'><arg type='s' direction='out'/></method>\n"
        " </interface>\n"
        "</node>\n";

/* ---- methods ------------------------------------------------------------------ */

/* The one string argument of msg, a valid address; else replies. */
static struct device *address_arg(struct daemon *d, DBusMessage *msg, bool *replied)
{
        const char *addr;
        struct device *dev;

        *replied = true;
        /* get_args alone would ignore extra arguments: Forget(s, b) must
         * not forget anything */
        if (!dbus_message_has_signature(msg, "s") ||
            !dbus_message_get_args(msg, NULL, DBUS_TYPE_STRING, &addr, DBUS_TYPE_INVALID)) {
                dbus_reply_error(d->conn, msg, ERR_INVALID, "%s takes one string: a device address",
                                 dbus_message_get_member(msg));
                return NULL;
        }
        if (!bdaddr_valid(addr)) {
                dbus_reply_error(d->conn, msg, ERR_INVALID,
                                 "'%.40s' is not a Bluetooth address (AA:BB:CC:DD:EE:FF)", addr);
                return NULL;
        }
        dev = bluez_device_by_address(d, addr);
        if (dev) {
                *replied = false;
                return dev;
        }
        /* no device is known while bluetoothd or its controller is not
         * up yet (at boot, after a crash): "scan for it" would send the
         * user looking for a speaker that is paired */
        if (!d->bluez_owner[0])
                dbus_reply_error(d->conn, msg, ERR_NOT_AVAILABLE,
                                 "bluetoothd is not running (starting, or restarting); try again once it is");
        else if (!d->adapters)
                dbus_reply_error(d->conn, msg, policy_blocker_error(BLOCKER_NO_ADAPTER), "%s",
                                 policy_blocker_message(BLOCKER_NO_ADAPTER));
        else
                dbus_reply_error(d->conn, msg, ERR_NOT_FOUND, "No device %s is known; scan for it first",
                                 addr);
        return NULL;
}

static bool no_args(struct daemon *d, DBusMessage *msg)
{
        if (dbus_message_has_signature(msg, ""))
                return true;
        dbus_reply_error(d->conn, msg, ERR_INVALID, "%s takes no arguments", dbus_message_get_member(msg));
        return false;
}

/* "Codecs": what the speaker offers, where BlueZ shows its SEPs */
static bool append_codecs(DBusMessageIter *dict, const struct device *v)
{
        DBusMessageIter entry, var;
        const char *key = "Codecs";

        return dbus_message_iter_open_container(dict, DBUS_TYPE_DICT_ENTRY, NULL, &entry) &&
               dbus_message_iter_append_basic(&entry, DBUS_TYPE_STRING, &key) &&
               dbus_message_iter_open_container(&entry, DBUS_TYPE_VARIANT, "as", &var) &&
               codec_control_append_names(&var, codec_control_offered(v)) &&
               dbus_message_iter_close_container(&entry, &var) &&
               dbus_message_iter_close_container(dict, &entry);
}

static DBusHandlerResult get_devices(struct daemon *d, DBusMessage *msg)
{
        DBusMessage *reply = dbus_message_new_method_return(msg);
        DBusMessageIter it, arr, dict;

        if (!reply)
                return DBUS_HANDLER_RESULT_NEED_MEMORY;
        dbus_message_iter_init_append(reply, &it);
        if (!dbus_message_iter_open_container(&it, DBUS_TYPE_ARRAY, "a{sv}", &arr))
                goto nomem;
        for (struct device *v = d->devices; v; v = v->next) {
                const char *addr = v->address, *name = v->name[0] ? v->name : v->address;
                dbus_uint32_t delay = state_speaker_delay(&d->state, v->address);
                dbus_bool_t paired = v->paired, trusted = v->trusted, connected = v->connected;
                dbus_bool_t sink = v->audio_sink;
                struct adapter *a = bluez_adapter_by_path(d, v->adapter);
                /* an RSSI is news only while a scan runs; BlueZ drops it
                 * when the scan ends */
                bool rssi = v->has_rssi && a && a->discovering;

                if (!v->address[0])
                        continue;
                if (!dbus_message_iter_open_container(&arr, DBUS_TYPE_ARRAY, "{sv}", &dict) ||
                    !dbus_dict_append_basic(&dict, "Address", DBUS_TYPE_STRING, &addr) ||
                    !dbus_dict_append_basic(&dict, "Name", DBUS_TYPE_STRING, &name) ||
                    !dbus_dict_append_basic(&dict, "Paired", DBUS_TYPE_BOOLEAN, &paired) ||
                    !dbus_dict_append_basic(&dict, "Trusted", DBUS_TYPE_BOOLEAN, &trusted) ||
                    !dbus_dict_append_basic(&dict, "Connected", DBUS_TYPE_BOOLEAN, &connected) ||
                    !dbus_dict_append_basic(&dict, "AudioSink", DBUS_TYPE_BOOLEAN, &sink) ||
                    (rssi && !dbus_dict_append_basic(&dict, "RSSI", DBUS_TYPE_INT16, &v->rssi)) ||
                    (v->n_seps && !append_codecs(&dict, v)) ||
                    (delay && !dbus_dict_append_basic(&dict, "SpeakerDelayUs", DBUS_TYPE_UINT32, &delay)) ||
                    !dbus_message_iter_close_container(&arr, &dict))
                        goto nomem;
        }
        if (!dbus_message_iter_close_container(&it, &arr))
                goto nomem;
        return dbus_send_reply(d->conn, reply);
nomem:
        dbus_message_unref(reply);
        return DBUS_HANDLER_RESULT_NEED_MEMORY;
}

static const char not_sink_text[] =
        "%s offers no A2DP audio sink; it may support only headset/hands-free profiles";

static DBusHandlerResult method_pair(struct daemon *d, DBusMessage *msg)
{
        bool replied;
        struct device *dev = address_arg(d, msg, &replied);

        if (!dev)
                return DBUS_HANDLER_RESULT_HANDLED;
        if (!bluez_device_may_be_sink(dev))
                return dbus_reply_error(d->conn, msg, ERR_NOT_SINK, not_sink_text, dev->address);
        if (d->pair_call)
                return dbus_reply_error(d->conn, msg, ERR_IN_PROGRESS, "Pairing with %s is in progress",
                                        d->pairing);
        agent_pair(d, dev, msg, NULL);
        return DBUS_HANDLER_RESULT_HANDLED;
}

/* What Connect checks before connecting, now and again after pairing;
 * false when it has replied or the call waits for a connection under
 * way. */
static bool may_connect(struct daemon *d, DBusMessage *msg, const struct device *dev)
{
        enum blocker bl = manager_current_blocker(d);

        if (bl != BLOCKER_NONE) {
                dbus_reply_error(d->conn, msg, policy_blocker_error(bl), "%s", policy_blocker_message(bl));
                return false;
        }
        return !connect_join(d, dev, msg);
}

static void connect_after_pair(struct daemon *d, DBusMessage *call, const char *address,
                               const char *err_name, const char *text)
{
        struct device *dev;

        if (err_name) {
                dbus_reply_error(d->conn, call, err_name, "%s", text);
                return;
        }
        dev = bluez_device_by_address(d, address);
        if (!dev) {
                dbus_reply_error(d->conn, call, ERR_NOT_FOUND, "%s went away while pairing", address);
                return;
        }
        if (may_connect(d, call, dev))
                speaker_connect(d, dev, call);
}

static DBusHandlerResult method_connect(struct daemon *d, DBusMessage *msg)
{
        bool replied;
        struct device *dev = address_arg(d, msg, &replied);

        if (!dev)
                return DBUS_HANDLER_RESULT_HANDLED;
        if (!bluez_device_may_be_sink(dev))
                return dbus_reply_error(d->conn, msg, ERR_NOT_SINK, not_sink_text, dev->address);
        if (!may_connect(d, msg, dev))
                return DBUS_HANDLER_RESULT_HANDLED;
        /* A speaker not paired through us is paired first, as Pair does:
         * left to BlueZ, the connection would bond implicitly (general
         * bonding, the default agent asked for a PIN), neither trusted nor
         * ours, so its own reconnects are refused and Reset keeps it */
        if (!dev->paired || !state_paired_contains(&d->state, dev->address)) {
                if (connect_join_pairing(d, dev, msg))
                        return DBUS_HANDLER_RESULT_HANDLED;
                if (d->pair_call)
                        return dbus_reply_error(d->conn, msg, ERR_IN_PROGRESS,
                                                "Pairing with %s is in progress", d->pairing);
                agent_pair(d, dev, msg, connect_after_pair);
                return DBUS_HANDLER_RESULT_HANDLED;
        }
        speaker_connect(d, dev, msg);
        return DBUS_HANDLER_RESULT_HANDLED;
}

static DBusHandlerResult method_forget(struct daemon *d, DBusMessage *msg)
{
        bool replied;
        struct device *dev = address_arg(d, msg, &replied);

        if (!dev)
                return DBUS_HANDLER_RESULT_HANDLED;
        speaker_forget(d, dev, msg);
        return DBUS_HANDLER_RESULT_HANDLED;
}

const char *manager_address_args(struct daemon *d, DBusMessage *msg, const char *sig, int type, void *value,
                                 const char *usage)
{
        const char *addr;
        bool ok = dbus_message_has_signature(msg, sig) &&
                  (type == DBUS_TYPE_INVALID
                           ? dbus_message_get_args(msg, NULL, DBUS_TYPE_STRING, &addr, DBUS_TYPE_INVALID)
                           : dbus_message_get_args(msg, NULL, DBUS_TYPE_STRING, &addr, type, value,
                                                   DBUS_TYPE_INVALID));

        if (!ok) {
                dbus_reply_error(d->conn, msg, ERR_INVALID, "%s", usage);
                return NULL;
        }
        if (!bdaddr_valid(addr)) {
                dbus_reply_error(d->conn, msg, ERR_INVALID,
                                 "'%.40s' is not a Bluetooth address (AA:BB:CC:DD:EE:FF)", addr);
                return NULL;
        }
        return addr;
}

/* Some speakers take dual channel at a high bitpool badly: the per-speaker
 * opt-out of SBC-XQ, saved; it applies from the speaker's next stream set-up
 * (docs/codecs.md). */
static DBusHandlerResult method_set_sbc_xq(struct daemon *d, DBusMessage *msg)
{
        dbus_bool_t allowed;
        const char *addr = manager_address_args(d, msg, "sb", DBUS_TYPE_BOOLEAN, &allowed,
                                                "SetSbcXq takes a device address and a boolean");

        if (!addr)
                return DBUS_HANDLER_RESULT_HANDLED;
        if (state_no_xq_set(&d->state, addr, !allowed) < 0)
                return dbus_reply_error(d->conn, msg, ERR_FAILED,
                                        "SBC-XQ is already turned off for %d speakers, the most kept",
                                        STATE_MAX_PAIRED);
        log_info("SBC-XQ %s for %s", allowed ? "allowed" : "turned off", addr);
        return manager_reply_saved(d, msg);
}

/* The delay of a speaker that reports none (speaker-delay.h), saved; 0
 * goes back to the assumption. Latency and the engine follow at once. */
static DBusHandlerResult method_set_speaker_delay(struct daemon *d, DBusMessage *msg)
{
        dbus_uint32_t us;
        const char *addr = manager_address_args(d, msg, "su", DBUS_TYPE_UINT32, &us,
                                                "SetSpeakerDelay takes a device address and microseconds");

        if (!addr)
                return DBUS_HANDLER_RESULT_HANDLED;
        if (us > SPEAKER_DELAY_MAX_US)
                return dbus_reply_error(d->conn, msg, ERR_INVALID,
                                        "%u us is more than a speaker delays audio; at most %u (0: assumed)",
                                        (unsigned)us, SPEAKER_DELAY_MAX_US);
        if (state_speaker_delay_set(&d->state, addr, us) < 0)
                return dbus_reply_error(d->conn, msg, ERR_FAILED,
                                        "%d speakers have a delay set already, the most kept",
                                        STATE_MAX_PAIRED);
        output_speaker_delay_changed(d);
        if (us)
                log_info("speaker delay of %s set to %u us (used while it reports none)", addr, (unsigned)us);
        else
                log_info("speaker delay of %s back to the assumed %u us", addr, SPEAKER_DELAY_ASSUMED_US);
        return manager_reply_saved(d, msg);
}

static DBusHandlerResult method_set_default_output(struct daemon *d, DBusMessage *msg)
{
        const char *out;
        int r;

        if (!dbus_message_has_signature(msg, "s") ||
            !dbus_message_get_args(msg, NULL, DBUS_TYPE_STRING, &out, DBUS_TYPE_INVALID))
                return dbus_reply_error(d->conn, msg, ERR_INVALID,
                                        "SetDefaultOutput takes one string: bluetooth or local");
        r = route_from_name(out);
        if (r < 0)
                return dbus_reply_error(d->conn, msg, ERR_INVALID,
                                        "output must be 'bluetooth' or 'local', not '%.40s'", out);
        for (int c = 0; c < CAT_COUNT; c++)
                d->state.routes[c] = (enum route)r;
        output_routes_changed(d);
        manager_update(d);
        return manager_reply_saved(d, msg);
}

static DBusHandlerResult method_start_discovery(struct daemon *d, DBusMessage *msg)
{
        discovery_start(d, msg);
        return DBUS_HANDLER_RESULT_HANDLED;
}

static DBusHandlerResult method_stop_discovery(struct daemon *d, DBusMessage *msg)
{
        discovery_stop(d, msg);
        return DBUS_HANDLER_RESULT_HANDLED;
}

static DBusHandlerResult method_disconnect(struct daemon *d, DBusMessage *msg)
{
        speaker_disconnect(d);
        manager_update(d);
        return manager_reply_saved(d, msg);
}

static DBusHandlerResult method_reset(struct daemon *d, DBusMessage *msg)
{
        speaker_reset(d);
        manager_update(d);
        return dbus_reply_empty(d->conn, msg);
}

static DBusHandlerResult method_set_now_playing(struct daemon *d, DBusMessage *msg)
{
        DBusMessageIter it;
        char err[256];

        if (!dbus_message_has_signature(msg, "a{sv}"))
                return dbus_reply_error(d->conn, msg, ERR_INVALID,
                                        "SetNowPlaying takes one a{sv} (Title, Artist, Album: s; "
                                        "Duration, Position: x, microseconds), got '%.32s'",
                                        dbus_message_get_signature(msg));
        dbus_message_iter_init(msg, &it);
        if (player_set_now_playing(d, &it, err, sizeof(err)) < 0)
                return dbus_reply_error(d->conn, msg, ERR_INVALID, "%s", err);
        manager_update(d);
        return dbus_reply_empty(d->conn, msg);
}

/* A key from a speaker becomes MediaKey(key, device). BlueZ does not say
 * which device pressed: the output is named when it is connected through
 * the adapter whose player got the key, else the device is "". */
static void on_media_key(struct daemon *d, enum media_key key, const char *adapter_path, void *ud)
{
        struct device *dev = d->output[0] ? bluez_device_by_address(d, d->output) : NULL;
        const char *name = media_key_name(key), *addr = "";
        DBusMessage *sig;

        if (dev && dev->connected && strcmp(dev->adapter, adapter_path) == 0) {
                addr = dev->address;
                /* the key's meaning is the board's; that the speaker wants
                 * music now is ours to act on */
                if (key == MEDIA_KEY_PLAY || key == MEDIA_KEY_PLAY_PAUSE || key == MEDIA_KEY_NEXT ||
                    key == MEDIA_KEY_PREVIOUS)
                        output_speaker_wants_music(d);
        }
        sig = dbus_message_new_signal(MANAGER_PATH, MANAGER_IFACE, "MediaKey");
        if (!sig)
                return;
        if (dbus_message_append_args(sig, DBUS_TYPE_STRING, &name, DBUS_TYPE_STRING, &addr, DBUS_TYPE_INVALID))
                dbus_connection_send(d->conn, sig, NULL);
        dbus_message_unref(sig);
}

static const struct method {
        const char *name;
        bool no_args;
        DBusHandlerResult (*handle)(struct daemon *d, DBusMessage *msg);
} methods[] = {
        { "GetDevices", true, get_devices },
        { "StartDiscovery", true, method_start_discovery },
        { "StopDiscovery", true, method_stop_discovery },
        { "Pair", false, method_pair },
        { "Connect", false, method_connect },
        { "Disconnect", true, method_disconnect },
        { "GetOutputs", true, manager_get_outputs },
        { "DisconnectOutput", false, manager_disconnect_output },
        { "SetOutputVolume", false, manager_set_output_volume },
        { "SetOutputCodec", false, manager_set_output_codec },
        { "Forget", false, method_forget },
        { "SetSbcXq", false, method_set_sbc_xq },
        { "SetSpeakerDelay", false, method_set_speaker_delay },
        { "SetCodec", false, codec_control_set_codec },
        { "SetDefaultOutput", false, method_set_default_output },
        { "Reset", true, method_reset },
        { "SetNowPlaying", false, method_set_now_playing },
        { "Diagnose", false, diagnose_method },
};

static DBusHandlerResult message_handler(DBusConnection *conn, DBusMessage *msg, void *ud)
{
        struct daemon *d = ud;
        const char *iface = dbus_message_get_interface(msg);
        const char *member = dbus_message_get_member(msg);

        if (dbus_message_get_type(msg) != DBUS_MESSAGE_TYPE_METHOD_CALL || !member)
                return DBUS_HANDLER_RESULT_NOT_YET_HANDLED;

        if (dbus_message_is_method_call(msg, DBUS_INTERFACE_INTROSPECTABLE, "Introspect") ||
            (!iface && strcmp(member, "Introspect") == 0)) {
                DBusMessage *reply = dbus_message_new_method_return(msg);
                const char *xml = introspect_xml;
                if (reply && !dbus_message_append_args(reply, DBUS_TYPE_STRING, &xml, DBUS_TYPE_INVALID)) {
                        dbus_message_unref(reply);
                        reply = NULL;
                }
                return dbus_send_reply(conn, reply);
        }
        if (iface && strcmp(iface, DBUS_INTERFACE_PROPERTIES) == 0) {
                if (strcmp(member, "Get") == 0)
                        return manager_props_get(d, msg);
                if (strcmp(member, "GetAll") == 0)
                        return manager_props_get_all(d, msg);
                if (strcmp(member, "Set") == 0)
                        return manager_props_set(d, msg);
                return dbus_reply_error(conn, msg, DBUS_ERROR_UNKNOWN_METHOD, "No method %.64s", member);
        }
        if (iface && strcmp(iface, MANAGER_IFACE) != 0)
                return DBUS_HANDLER_RESULT_NOT_YET_HANDLED;   /* Peer is answered by libdbus */

        for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
                if (strcmp(member, methods[i].name) != 0)
                        continue;
                /* argument-less methods are checked here; the others
                 * check their own arguments */
                if (methods[i].no_args && !no_args(d, msg))
                        return DBUS_HANDLER_RESULT_HANDLED;
                return methods[i].handle(d, msg);
        }
        return dbus_reply_error(conn, msg, DBUS_ERROR_UNKNOWN_METHOD, "No method %.64s", member);
}

int manager_init(struct daemon *d)
{
        static const DBusObjectPathVTable vtable = { .message_function = message_handler };

        if (!dbus_connection_register_object_path(d->conn, MANAGER_PATH, &vtable, d))
                return -ENOMEM;
        player_set_key_listener(d, on_media_key, NULL);
        codec_control_init(d);
        closed_stream_init(d);
        return 0;
}

void manager_shutdown(struct daemon *d)
{
        codec_control_shutdown(d);
        closed_stream_shutdown(d);
        if (d->save_timer)
                manager_save(d);        /* a coalesced change not yet on disk */
        for (size_t i = 0; i < sizeof(d->prop_cache) / sizeof(d->prop_cache[0]); i++) {
                free(d->prop_cache[i]);
                d->prop_cache[i] = NULL;
        }
}
