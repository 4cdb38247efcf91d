/* D-Bus arguments from peers: what bluetoothd sends (SetConfiguration's
 * properties, InterfacesAdded, PropertiesChanged, capability blobs) and
 * what a client sends to Manager1 (Routes, SetNowPlaying). The input either is a whole
 * marshalled message, or drives a small grammar that builds one, so the
 * fuzzer reaches the decoders with well-formed messages of any shape. */
#include <dbus/dbus.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "codec-control.h"
#include "daemon.h"
#include "dbus-util.h"
#include "now-playing.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct cursor {
        const uint8_t *p;
        size_t n;
};

static uint8_t take(struct cursor *c)
{
        if (!c->n)
                return 0;
        c->n--;
        return *c->p++;
}

static const char *const keys[] = {
        "Device", "UUID", "Codec", "Configuration", "State", "Delay", "Volume", "Endpoint",
        "Address", "Alias", "Name", "Paired", "Trusted", "Connected", "RSSI", "UUIDs",
        "Powered", "Discovering", "Class", "media", "alerts", "voice", "", "x",
        "Title", "Artist", "Album", "Duration", "Position",
};
static const char *const strings[] = {
        "", "idle", "pending", "active", "bluetooth", "local", "0000110a-0000-1000-8000-00805f9b34fb",
        "0000110b-0000-1000-8000-00805f9b34fb", "00:11:22:33:44:55", "\xc3\xa9", "media",
        "/org/bluez/hci0/dev_00_11_22_33_44_55", "tab\there", "bell\a", "\xf0\x9f\x8e\xb5",
};

static const char *pick_string(struct cursor *c)
{
        return strings[take(c) % (sizeof(strings) / sizeof(strings[0]))];
}

static bool append_value(DBusMessageIter *it, struct cursor *c, int depth);

static bool append_bytes(DBusMessageIter *it, struct cursor *c)
{
        DBusMessageIter arr;
        uint8_t buf[64];
        const uint8_t *p = buf;
        int n = take(c) % 9;

        for (int i = 0; i < n; i++)
                buf[i] = take(c);
        return dbus_message_iter_open_container(it, DBUS_TYPE_ARRAY, "y", &arr) &&
               dbus_message_iter_append_fixed_array(&arr, DBUS_TYPE_BYTE, &p, n) &&
               dbus_message_iter_close_container(it, &arr);
}

/* a{sv} with keys the decoders know and values of any type */
static bool append_dict(DBusMessageIter *it, struct cursor *c, int depth)
{
        DBusMessageIter dict;
        int n = take(c) % 8;

        if (!dbus_message_iter_open_container(it, DBUS_TYPE_ARRAY, "{sv}", &dict))
                return false;
        for (int i = 0; i < n && c->n; i++) {
                DBusMessageIter entry;
                const char *k = keys[take(c) % (sizeof(keys) / sizeof(keys[0]))];

                if (!dbus_message_iter_open_container(&dict, DBUS_TYPE_DICT_ENTRY, NULL, &entry) ||
                    !dbus_message_iter_append_basic(&entry, DBUS_TYPE_STRING, &k) ||
                    !append_value(&entry, c, depth + 1) ||
                    !dbus_message_iter_close_container(&dict, &entry))
                        return false;
        }
        return dbus_message_iter_close_container(it, &dict);
}

/* a variant of a type chosen by the input */
static bool append_value(DBusMessageIter *it, struct cursor *c, int depth)
{
        static const char *const sigs[] = { "s", "o", "y", "q", "n", "b", "u", "i", "x", "ay", "as",
                                            "a{sv}", "a{ss}" };
        const char *sig = sigs[take(c) % (depth > 2 ? 10 : sizeof(sigs) / sizeof(sigs[0]))];
        DBusMessageIter var, arr;
        bool ok;

        if (!dbus_message_iter_open_container(it, DBUS_TYPE_VARIANT, sig, &var))
                return false;
        switch (sig[0] == 'a' ? sig[1] : sig[0]) {
        case 's': {
                const char *s = pick_string(c);
                if (sig[0] == 'a') {
                        int n = take(c) % 4;
                        ok = dbus_message_iter_open_container(&var, DBUS_TYPE_ARRAY, "s", &arr);
                        for (int i = 0; ok && i < n; i++) {
                                s = pick_string(c);
                                ok = dbus_message_iter_append_basic(&arr, DBUS_TYPE_STRING, &s);
                        }
                        ok = ok && dbus_message_iter_close_container(&var, &arr);
                } else {
                        ok = dbus_message_iter_append_basic(&var, DBUS_TYPE_STRING, &s);
                }
                break;
        }
        case 'o': {
                const char *o = take(c) & 1 ? "/" : "/org/bluez/hci0/dev_00_11_22_33_44_55";
                ok = dbus_message_iter_append_basic(&var, DBUS_TYPE_OBJECT_PATH, &o);
                break;
        }
        case 'y': {
                if (sig[0] == 'a') {
                        ok = append_bytes(&var, c);
                } else {
                        uint8_t y = take(c);
                        ok = dbus_message_iter_append_basic(&var, DBUS_TYPE_BYTE, &y);
                }
                break;
        }
        case 'q': case 'n': {
                uint16_t q = (uint16_t)(take(c) << 8 | take(c));
                ok = dbus_message_iter_append_basic(&var, sig[0] == 'q' ? DBUS_TYPE_UINT16 : DBUS_TYPE_INT16, &q);
                break;
        }
        case 'b': {
                dbus_bool_t b = take(c) & 1;
                ok = dbus_message_iter_append_basic(&var, DBUS_TYPE_BOOLEAN, &b);
                break;
        }
        case 'x': {
                /* around the limits: negative, zero, small, huge */
                int64_t x = (int64_t)((uint64_t)take(c) << 56 | (uint64_t)take(c) << 24 | take(c));
                ok = dbus_message_iter_append_basic(&var, DBUS_TYPE_INT64, &x);
                break;
        }
        case 'u': case 'i': {
                uint32_t u = (uint32_t)take(c) << 24 | (uint32_t)take(c);
                ok = dbus_message_iter_append_basic(&var, sig[0] == 'u' ? DBUS_TYPE_UINT32 : DBUS_TYPE_INT32, &u);
                break;
        }
        case '{':
                if (sig[3] == 'v') {
                        ok = append_dict(&var, c, depth + 1);
                } else {
                        DBusMessageIter d2, e2;
                        int n = take(c) % 4;
                        ok = dbus_message_iter_open_container(&var, DBUS_TYPE_ARRAY, "{ss}", &d2);
                        for (int i = 0; ok && i < n; i++) {
                                const char *k = pick_string(c), *v = pick_string(c);
                                ok = dbus_message_iter_open_container(&d2, DBUS_TYPE_DICT_ENTRY, NULL, &e2) &&
                                     dbus_message_iter_append_basic(&e2, DBUS_TYPE_STRING, &k) &&
                                     dbus_message_iter_append_basic(&e2, DBUS_TYPE_STRING, &v) &&
                                     dbus_message_iter_close_container(&d2, &e2);
                        }
                        ok = ok && dbus_message_iter_close_container(&var, &d2);
                }
                break;
        default:
                ok = false;
        }
        return ok && dbus_message_iter_close_container(it, &var);
}

/* Every decoder on every argument, whatever its type: each must reject
 * what is not its own without harm. */
static void decode_all(DBusMessage *m)
{
        DBusMessageIter it;

        if (!dbus_message_iter_init(m, &it))
                return;
        do {
                struct transport t;
                struct adapter a;
                struct device dev;
                enum route routes[CAT_COUNT] = { ROUTE_BLUETOOTH, ROUTE_LOCAL, ROUTE_LOCAL };
                uint8_t config[A2DP_CODEC_BLOB_MAX];
                const uint8_t *bytes;
                int n;
                char err[256];

                memset(&t, 0, sizeof(t));
                memset(&a, 0, sizeof(a));
                memset(&dev, 0, sizeof(dev));
                if (transport_parse_properties(&it, &t, err, sizeof(err)) == 0) {
                        struct codec_info info;
                        if (!t.device[0] || !t.codec || t.info.channels != 2 || !t.info.rate ||
                            t.codec->parse(t.config, t.config_len, &info, NULL, 0) != 0)
                                abort();
                }
                transport_parse_changed(&it, &t);
                if (t.volume > 127)
                        abort();
                bluez_parse_adapter_props(&it, &a);
                bluez_parse_device_props(&it, &dev);
                bluez_device_invalidated(&dev, &it);
                if (memchr(dev.address, 0, sizeof(dev.address)) == NULL ||
                    memchr(dev.name, 0, sizeof(dev.name)) == NULL)
                        abort();
                {
                        unsigned mask = 0;

                        if (codec_control_decode_codecs(&it, (1u << CODEC_COUNT) - 1, &mask, err,
                                                        sizeof(err)) == 0 &&
                            (!(mask & (1u << CODEC_SBC)) || mask >> CODEC_COUNT))
                                abort();
                }
                if (manager_decode_routes(&it, routes, err, sizeof(err)) == 0)
                        for (int c = 0; c < CAT_COUNT; c++)
                                if (routes[c] != ROUTE_BLUETOOTH && routes[c] != ROUTE_LOCAL)
                                        abort();
                {
                        static struct now_playing np;
                        int r;

                        err[0] = '\0';
                        r = now_playing_apply(&np, &it, err, sizeof(err));

                        if (r < 0 && !err[0])
                                abort();
                        if (np.duration_us < 0 || np.position_us < 0 ||
                            (np.position_us > np.duration_us && np.position_us > 0) ||
                            !now_playing_text_valid(np.title, strlen(np.title)) ||
                            strlen(np.artist) > NOW_PLAYING_TEXT_MAX)
                                abort();
                }
                if (dbus_iter_get_bytes(&it, true, &bytes, &n) == 0)
                        for (unsigned i = 0; i < CODEC_COUNT; i++) {
                                const struct codec_prefs prefs = { .rate = 48000 };
                                if (a2dp_codecs[i])
                                        a2dp_codecs[i]->select(bytes, (size_t)n, &prefs, config,
                                                               sizeof(config), err, sizeof(err));
                        }
                /* InterfacesAdded: a{sa{sv}} */
                if (dbus_message_iter_get_arg_type(&it) == DBUS_TYPE_ARRAY &&
                    dbus_message_iter_get_element_type(&it) == DBUS_TYPE_DICT_ENTRY) {
                        DBusMessageIter dict;
                        dbus_message_iter_recurse(&it, &dict);
                        for (; dbus_message_iter_get_arg_type(&dict) == DBUS_TYPE_DICT_ENTRY;
                             dbus_message_iter_next(&dict)) {
                                DBusMessageIter entry;
                                dbus_message_iter_recurse(&dict, &entry);
                                if (!dbus_message_iter_next(&entry))
                                        continue;
                                bluez_parse_device_props(&entry, &dev);
                                bluez_parse_adapter_props(&entry, &a);
                                transport_parse_properties(&entry, &t, err, sizeof(err));
                        }
                }
        } while (dbus_message_iter_next(&it));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        DBusMessage *m = NULL;
        struct cursor c = { data, size };

        if (size >= 16 && dbus_message_demarshal_bytes_needed((const char *)data, (int)size) == (int)size)
                m = dbus_message_demarshal((const char *)data, (int)size, NULL);
        if (!m) {
                /* grammar: up to four top-level arguments */
                DBusMessageIter it;
                int args = take(&c) % 5;

                m = dbus_message_new_method_call("org.a2dpsrc", "/org/a2dpsrc", "x.y", "Z");
                if (!m)
                        return 0;
                dbus_message_iter_init_append(m, &it);
                for (int i = 0; i < args; i++) {
                        bool ok;
                        switch (take(&c) % 4) {
                        case 0: {
                                const char *o = "/org/bluez/hci0/dev_00_11_22_33_44_55/sep1/fd0";
                                ok = dbus_message_iter_append_basic(&it, DBUS_TYPE_OBJECT_PATH, &o);
                                break;
                        }
                        case 1:
                                ok = append_dict(&it, &c, 0);
                                break;
                        case 2:
                                ok = append_bytes(&it, &c);
                                break;
                        default:
                                ok = append_value(&it, &c, 0);
                                break;
                        }
                        if (!ok)
                                break;
                }
        }
        decode_all(m);
        dbus_message_unref(m);
        return 0;
}
