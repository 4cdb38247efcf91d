/* Following bluetoothd on the bus: its owner, its adapters, devices and
 * transports (ObjectManager), and its restarts (NameOwnerChanged). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "dbus-util.h"
#include "doctor.h"
#include "log.h"
#include "utf8.h"

#define IFACE_ADAPTER "org.bluez.Adapter1"
#define IFACE_MEDIA "org.bluez.Media1"
#define IFACE_DEVICE "org.bluez.Device1"
#define IFACE_TRANSPORT "org.bluez.MediaTransport1"
#define IFACE_OBJMGR "org.freedesktop.DBus.ObjectManager"
#define IFACE_ENDPOINT "org.bluez.MediaEndpoint1"
#define IFACE_PROPS "org.freedesktop.DBus.Properties"

static const char *const match_rules[] = {
        "type='signal',sender='org.freedesktop.DBus',interface='org.freedesktop.DBus',"
        "member='NameOwnerChanged',arg0='org.bluez'",
        "type='signal',sender='org.bluez',interface='org.freedesktop.DBus.ObjectManager'",
        "type='signal',sender='org.bluez',interface='org.freedesktop.DBus.Properties',"
        "member='PropertiesChanged'",
};

struct adapter *bluez_adapter_by_path(struct daemon *d, const char *path)
{
        for (struct adapter *a = d->adapters; a; a = a->next)
                if (strcmp(a->path, path) == 0)
                        return a;
        return NULL;
}

struct device *bluez_device_by_path(struct daemon *d, const char *path)
{
        for (struct device *v = d->devices; v; v = v->next)
                if (strcmp(v->path, path) == 0)
                        return v;
        return NULL;
}

bool bluez_sender_is_owner(struct daemon *d, DBusMessage *msg)
{
        const char *sender = dbus_message_get_sender(msg);

        return d->bluez_owner[0] && sender && strcmp(sender, d->bluez_owner) == 0;
}

void bluez_device_call(struct daemon *d, const struct device *dev, const char *iface, const char *method)
{
        bluez_device_call_arg(d, dev, iface, method, NULL);
}

void bluez_device_call_arg(struct daemon *d, const struct device *dev, const char *iface, const char *method,
                           const char *arg)
{
        DBusMessage *m = dbus_message_new_method_call(BLUEZ_SERVICE, dev->path, iface, method);

        if (m && (!arg || dbus_message_append_args(m, DBUS_TYPE_STRING, &arg, DBUS_TYPE_INVALID))) {
                dbus_message_set_no_reply(m, TRUE);
                dbus_connection_send(d->conn, m, NULL);
        }
        if (m)
                dbus_message_unref(m);
}

void bluez_add_listener(struct daemon *d, struct bluez_listener *l)
{
        l->next = d->bluez_listeners;
        d->bluez_listeners = l;
}

void bluez_remove_listener(struct daemon *d, struct bluez_listener *l)
{
        for (struct bluez_listener **pp = &d->bluez_listeners; *pp; pp = &(*pp)->next) {
                if (*pp == l) {
                        *pp = l->next;
                        return;
                }
        }
}

static void report_media(struct daemon *d, struct adapter *a, bool added)
{
        for (struct bluez_listener *l = d->bluez_listeners; l; l = l->next) {
                if (added && l->media_added)
                        l->media_added(a, l->ud);
                else if (!added && l->media_gone)
                        l->media_gone(a, l->ud);
        }
}

void bluez_report_transport_gone(struct daemon *d, const char *device_path)
{
        struct adapter *a = NULL;

        for (struct adapter *x = d->adapters; x; x = x->next) {
                size_t n = strlen(x->path);

                if (strncmp(device_path, x->path, n) == 0 && device_path[n] == '/')
                        a = x;
        }
        for (struct bluez_listener *l = d->bluez_listeners; a && l; l = l->next)
                if (l->transport_gone)
                        l->transport_gone(a, device_path, l->ud);
}

/* ---- adapters ------------------------------------------------------------ */

static bool adapter_wanted(struct daemon *d, const char *name)
{
        return d->opts.adapter[0] == '\0' || strcmp(d->opts.adapter, name) == 0;
}

/* One we stream through: it has Media1, and --adapter names it or none */
static bool adapter_usable(struct daemon *d, const struct adapter *a)
{
        return a->has_media && adapter_wanted(d, a->name);
}

/* one property dict of an adapter being read: whether it held Class */
struct adapter_read {
        struct adapter *a;
        bool cls_read;
};

static int adapter_prop(const char *key, DBusMessageIter *v, void *ud)
{
        struct adapter_read *rd = ud;
        struct adapter *a = rd->a;
        const char *s;
        dbus_bool_t b;
        uint32_t u;

        if (strcmp(key, "Address") == 0 && dbus_variant_get_basic(v, DBUS_TYPE_STRING, &s) == 0)
                utf8_copy(a->address, sizeof(a->address), s);
        else if (strcmp(key, "Powered") == 0 && dbus_variant_get_basic(v, DBUS_TYPE_BOOLEAN, &b) == 0)
                a->powered = b;
        else if (strcmp(key, "Discovering") == 0 && dbus_variant_get_basic(v, DBUS_TYPE_BOOLEAN, &b) == 0)
                a->discovering = b;
        else if (strcmp(key, "Pairable") == 0 && dbus_variant_get_basic(v, DBUS_TYPE_BOOLEAN, &b) == 0)
                a->pairable = b;
        else if (strcmp(key, "PowerState") == 0 && dbus_variant_get_basic(v, DBUS_TYPE_STRING, &s) == 0)
                /* experimental in 5.66 (bluetoothd -E): rfkill shows here */
                a->blocked = strcmp(s, "off-blocked") == 0;
        else if (strcmp(key, "Class") == 0 && dbus_variant_get_basic(v, DBUS_TYPE_UINT32, &u) == 0) {
                a->cls = u;
                rd->cls_read = true;
        }
        return 0;
}

static struct adapter *adapter_get(struct daemon *d, const char *path)
{
        struct adapter *a = bluez_adapter_by_path(d, path);
        const char *name;

        if (a)
                return a;
        a = calloc(1, sizeof(*a));
        if (!a)
                return NULL;
        a->daemon = d;
        a->br_edr = true;
        utf8_copy(a->path, sizeof(a->path), path);
        name = strrchr(path, '/');
        utf8_copy(a->name, sizeof(a->name), name ? name + 1 : path);
        a->next = d->adapters;
        d->adapters = a;
        return a;
}

static void adapter_free(struct daemon *d, struct adapter *a)
{
        if (a->has_media)
                report_media(d, a, false);
        endpoint_adapter_gone(d, a);
        free(a);
}

static void adapter_remove(struct daemon *d, const char *path)
{
        for (struct adapter **pp = &d->adapters; *pp; pp = &(*pp)->next) {
                if (strcmp((*pp)->path, path) == 0) {
                        struct adapter *a = *pp;
                        *pp = a->next;
                        log_info("adapter %s gone", a->name);
                        adapter_free(d, a);
                        return;
                }
        }
}

/* ---- devices ------------------------------------------------------------- */

static int device_uuid(const char *uuid, void *ud)
{
        struct device *v = ud;

        v->uuids_known = true;
        v->profiles |= doctor_profile_of_uuid(uuid);
        if (strcasecmp(uuid, A2DP_SINK_UUID) == 0)
                v->audio_sink = true;
        return 0;
}

bool bluez_device_may_be_sink(const struct device *dev)
{
        /* a speaker found by inquiry may list no UUIDs until it is paired
         * (its services come from SDP then): its Class of Device says
         * whether it is audio equipment (major class 0x04, Audio/Video) */
        if (dev->uuids_known)
                return dev->audio_sink;
        return !dev->has_class || ((dev->class_of_device >> 8) & 0x1f) == 0x04;
}

static int device_prop(const char *key, DBusMessageIter *v, void *ud)
{
        struct device *dev = ud;
        const char *s;
        dbus_bool_t b;
        int16_t n;

        if (strcmp(key, "Address") == 0 && dbus_variant_get_basic(v, DBUS_TYPE_STRING, &s) == 0)
                utf8_copy(dev->address, sizeof(dev->address), s);
        else if (strcmp(key, "Alias") == 0 && dbus_variant_get_basic(v, DBUS_TYPE_STRING, &s) == 0)
                utf8_copy(dev->name, sizeof(dev->name), s);
        else if (strcmp(key, "Paired") == 0 && dbus_variant_get_basic(v, DBUS_TYPE_BOOLEAN, &b) == 0)
                dev->paired = b;
        else if (strcmp(key, "Bonded") == 0 && dbus_variant_get_basic(v, DBUS_TYPE_BOOLEAN, &b) == 0)
                dev->bonded = b;
        else if (strcmp(key, "Trusted") == 0 && dbus_variant_get_basic(v, DBUS_TYPE_BOOLEAN, &b) == 0)
                dev->trusted = b;
        else if (strcmp(key, "Connected") == 0 && dbus_variant_get_basic(v, DBUS_TYPE_BOOLEAN, &b) == 0)
                dev->connected = b;
        else if (strcmp(key, "Blocked") == 0 && dbus_variant_get_basic(v, DBUS_TYPE_BOOLEAN, &b) == 0)
                dev->blocked = b;
        else if (strcmp(key, "RSSI") == 0 && dbus_variant_get_basic(v, DBUS_TYPE_INT16, &n) == 0) {
                dev->rssi = n;
                dev->has_rssi = true;
        } else if (strcmp(key, "UUIDs") == 0) {
                /* an empty list means not resolved yet, not "none" */
                dev->audio_sink = dev->uuids_known = false;
                dev->profiles = 0;
                dbus_variant_foreach_string(v, device_uuid, dev);
        } else if (strcmp(key, "Class") == 0 &&
                   dbus_variant_get_basic(v, DBUS_TYPE_UINT32, &dev->class_of_device) == 0) {
                dev->has_class = true;
        }
        return 0;
}

int bluez_parse_adapter_props(DBusMessageIter *dict, struct adapter *a)
{
        struct adapter_read rd = { .a = a };
        int r = dbus_dict_foreach(dict, adapter_prop, &rd);

        /* BlueZ 5.66 shows an LE-only controller like any other, Media1
         * included; only its Class of Device stays 0, since a Class exists
         * only on BR/EDR. But any adapter powered off reads 0 too
         * (adapter_stop, and the kernel clears it at close), until the
         * kernel sets it again after power-on: judged on a Class read
         * while powered, the last judgement (or a guess of yes) standing
         * meanwhile, so that Bluetooth switched off says so. An LE-only
         * adapter first seen powered off is taken for BR/EDR until the
         * daemon restarts (its Class, 0, is not sent again at power-on) */
        if (a->powered && rd.cls_read)
                a->br_edr = a->cls != 0;
        return r;
}

int bluez_parse_device_props(DBusMessageIter *dict, struct device *dev)
{
        return dbus_dict_foreach(dict, device_prop, dev);
}

/* Properties BlueZ invalidated (the "as" after the changed dict): they
 * no longer exist. RSSI is dropped this way when a scan ends. */
void bluez_device_invalidated(struct device *dev, DBusMessageIter *changed)
{
        if (dbus_invalidated_has(changed, "RSSI"))
                dev->has_rssi = false;
}

static struct device *device_get(struct daemon *d, const char *path)
{
        struct device *v = bluez_device_by_path(d, path);

        if (v)
                return v;
        v = calloc(1, sizeof(*v));
        if (!v)
                return NULL;
        utf8_copy(v->path, sizeof(v->path), path);
        utf8_copy(v->adapter, sizeof(v->adapter), path);
        if (strrchr(v->adapter, '/'))
                *strrchr(v->adapter, '/') = '\0';
        v->next = d->devices;
        d->devices = v;
        return v;
}

static void device_remove(struct daemon *d, const char *path)
{
        for (struct device **pp = &d->devices; *pp; pp = &(*pp)->next) {
                if (strcmp((*pp)->path, path) == 0) {
                        struct device *v = *pp;
                        *pp = v->next;
                        free(v);
                        return;
                }
        }
}

/* ---- the speaker's stream end points ------------------------------------- */

/* "…/dev_XX/sepN" -> the device, and the entry for it (a new one when add) */
static struct remote_sep *sep_slot(struct daemon *d, const char *path, bool add, struct device **out)
{
        char dev[PATH_LEN];
        const char *slash = strrchr(path, '/');
        struct device *v;

        if (!slash || strncmp(slash, "/sep", 4) != 0 || (size_t)(slash - path) >= sizeof(dev))
                return NULL;
        snprintf(dev, sizeof(dev), "%.*s", (int)(slash - path), path);
        v = bluez_device_by_path(d, dev);
        if (!v)
                return NULL;
        *out = v;
        for (unsigned i = 0; i < v->n_seps; i++)
                if (strcmp(v->seps[i].path, path) == 0)
                        return &v->seps[i];
        if (!add || v->n_seps >= DEVICE_MAX_SEPS)
                return NULL;
        memset(&v->seps[v->n_seps], 0, sizeof(v->seps[0]));
        utf8_copy(v->seps[v->n_seps].path, sizeof(v->seps[0].path), path);
        return &v->seps[v->n_seps++];
}

static int sep_prop(const char *key, DBusMessageIter *v, void *ud)
{
        struct remote_sep *s = ud;
        const uint8_t *caps;
        int len;

        if (strcmp(key, "Codec") == 0) {
                dbus_variant_get_basic(v, DBUS_TYPE_BYTE, &s->codec);
        } else if (strcmp(key, "Capabilities") == 0) {
                s->caps_len = 0;
                if (dbus_iter_get_bytes(v, true, &caps, &len) == 0 && len > 0 &&
                    (size_t)len <= sizeof(s->caps)) {
                        memcpy(s->caps, caps, (size_t)len);
                        s->caps_len = (size_t)len;
                }
        }
        return 0;
}

static void sep_added(struct daemon *d, const char *path, DBusMessageIter *props)
{
        struct device *v;
        struct remote_sep *s = sep_slot(d, path, true, &v);

        if (s)
                dbus_dict_foreach(props, sep_prop, s);
}

static void sep_removed(struct daemon *d, const char *path)
{
        struct device *v;
        struct remote_sep *s = sep_slot(d, path, false, &v);

        if (!s)
                return;
        memmove(s, s + 1, (size_t)(v->seps + v->n_seps - (s + 1)) * sizeof(*s));
        v->n_seps--;
}

/* ---- objects ------------------------------------------------------------- */

/* One object's interfaces (a{sa{sv}}) from GetManagedObjects or
 * InterfacesAdded. */
static void object_added(struct daemon *d, const char *path, DBusMessageIter *ifaces)
{
        DBusMessageIter dict;
        bool adapter = false, media = false;
        struct adapter *a = NULL;

        if (dbus_message_iter_get_arg_type(ifaces) != DBUS_TYPE_ARRAY)
                return;
        dbus_message_iter_recurse(ifaces, &dict);
        for (; dbus_message_iter_get_arg_type(&dict) == DBUS_TYPE_DICT_ENTRY;
             dbus_message_iter_next(&dict)) {
                DBusMessageIter entry;
                const char *iface;

                dbus_message_iter_recurse(&dict, &entry);
                if (dbus_message_iter_get_arg_type(&entry) != DBUS_TYPE_STRING)
                        continue;
                dbus_message_iter_get_basic(&entry, &iface);
                dbus_message_iter_next(&entry);

                if (strcmp(iface, IFACE_ADAPTER) == 0) {
                        adapter = true;
                        a = adapter_get(d, path);
                        if (a) {
                                bluez_parse_adapter_props(&entry, a);
                                agent_adapter_appeared(d, a);
                        }
                } else if (strcmp(iface, IFACE_MEDIA) == 0) {
                        media = true;
                } else if (strcmp(iface, IFACE_DEVICE) == 0) {
                        struct device *v = device_get(d, path);
                        if (v)
                                bluez_parse_device_props(&entry, v);
                } else if (strcmp(iface, IFACE_TRANSPORT) == 0) {
                        struct transport *t = transport_by_path(d, path);
                        /* SetConfiguration usually comes first; this only
                         * fills in what changed since */
                        if (t)
                                transport_properties_changed(d, t, &entry);
                } else if (strcmp(iface, IFACE_ENDPOINT) == 0) {
                        sep_added(d, path, &entry);
                }
        }
        if (media && !adapter)
                a = bluez_adapter_by_path(d, path);
        if (media && a)
                a->has_media = true;
        if (a && adapter_usable(d, a) && a->reg == REG_NONE) {
                log_info("adapter %s (%s) has Media1", a->name, a->address);
                endpoint_register(d, a);
        }
        if (a && adapter_usable(d, a))
                report_media(d, a, true);
}

static void object_removed(struct daemon *d, const char *path, DBusMessageIter *ifaces)
{
        DBusMessageIter arr;

        if (dbus_message_iter_get_arg_type(ifaces) != DBUS_TYPE_ARRAY)
                return;
        dbus_message_iter_recurse(ifaces, &arr);
        for (; dbus_message_iter_get_arg_type(&arr) == DBUS_TYPE_STRING; dbus_message_iter_next(&arr)) {
                const char *iface;

                dbus_message_iter_get_basic(&arr, &iface);
                if (strcmp(iface, IFACE_ADAPTER) == 0) {
                        adapter_remove(d, path);
                } else if (strcmp(iface, IFACE_MEDIA) == 0) {
                        struct adapter *a = bluez_adapter_by_path(d, path);
                        if (a) {
                                if (a->has_media)
                                        report_media(d, a, false);
                                a->has_media = false;
                                endpoint_adapter_gone(d, a);
                        }
                } else if (strcmp(iface, IFACE_DEVICE) == 0) {
                        device_remove(d, path);
                } else if (strcmp(iface, IFACE_ENDPOINT) == 0) {
                        sep_removed(d, path);
                } else if (strcmp(iface, IFACE_TRANSPORT) == 0) {
                        struct transport *t = transport_by_path(d, path);
                        if (t) {
                                log_info("transport %s removed by BlueZ", path);
                                transport_remove(d, t);
                        }
                }
        }
}

static void object_seps(struct daemon *d, DBusMessageIter *obj)
{
        DBusMessageIter entry, dict;
        const char *path;

        dbus_message_iter_recurse(obj, &entry);
        if (dbus_message_iter_get_arg_type(&entry) != DBUS_TYPE_OBJECT_PATH)
                return;
        dbus_message_iter_get_basic(&entry, &path);
        if (!dbus_message_iter_next(&entry) || dbus_message_iter_get_arg_type(&entry) != DBUS_TYPE_ARRAY)
                return;
        dbus_message_iter_recurse(&entry, &dict);
        for (; dbus_message_iter_get_arg_type(&dict) == DBUS_TYPE_DICT_ENTRY;
             dbus_message_iter_next(&dict)) {
                DBusMessageIter e;
                const char *iface;

                dbus_message_iter_recurse(&dict, &e);
                if (dbus_message_iter_get_arg_type(&e) != DBUS_TYPE_STRING)
                        continue;
                dbus_message_iter_get_basic(&e, &iface);
                if (strcmp(iface, IFACE_ENDPOINT) == 0 && dbus_message_iter_next(&e))
                        sep_added(d, path, &e);
        }
}

static void on_managed_objects(DBusMessage *reply, const DBusError *err, void *ud)
{
        struct daemon *d = ud;
        DBusMessageIter it, objs;

        dbus_pending_call_unref(d->objects_call);
        d->objects_call = NULL;
        if (!reply) {
                log_err("BlueZ GetManagedObjects failed: %s", err->message);
                return;
        }
        dbus_message_iter_init(reply, &it);
        if (dbus_message_iter_get_arg_type(&it) != DBUS_TYPE_ARRAY) {
                log_err("BlueZ GetManagedObjects: unexpected reply signature %s",
                        dbus_message_get_signature(reply));
                return;
        }
        dbus_message_iter_recurse(&it, &objs);
        for (; dbus_message_iter_get_arg_type(&objs) == DBUS_TYPE_DICT_ENTRY;
             dbus_message_iter_next(&objs)) {
                DBusMessageIter entry;
                const char *path;

                dbus_message_iter_recurse(&objs, &entry);
                if (dbus_message_iter_get_arg_type(&entry) != DBUS_TYPE_OBJECT_PATH)
                        continue;
                dbus_message_iter_get_basic(&entry, &path);
                dbus_message_iter_next(&entry);
                object_added(d, path, &entry);
        }
        /* a speaker's sepN may be listed before its device: again, now
         * that every device is known (sep_added is idempotent) */
        dbus_message_iter_recurse(&it, &objs);
        for (; dbus_message_iter_get_arg_type(&objs) == DBUS_TYPE_DICT_ENTRY;
             dbus_message_iter_next(&objs))
                object_seps(d, &objs);
        if (!d->adapters)
                log_notice("BlueZ has no adapter yet; waiting for one");
        output_update_status(d);
        speaker_reconnect_soon(d);
}

static void bluez_appeared(struct daemon *d, const char *owner)
{
        DBusMessage *m;

        utf8_copy(d->bluez_owner, sizeof(d->bluez_owner), owner);
        log_info("bluetoothd is on the bus as %s", owner);
        m = dbus_message_new_method_call(BLUEZ_SERVICE, "/", IFACE_OBJMGR, "GetManagedObjects");
        dbus_call_cancel(&d->objects_call);
        if (dbus_call_async(d->conn, m, 5000, on_managed_objects, d, &d->objects_call) < 0)
                log_err("cannot ask BlueZ for its objects");
}

static void bluez_vanished(struct daemon *d)
{
        if (!d->bluez_owner[0])
                return;
        log_warn("bluetoothd left the bus; waiting for it to come back");
        d->bluez_owner[0] = '\0';
        dbus_call_cancel(&d->objects_call);
        agent_bluez_gone(d);
        discovery_bluez_gone(d);
        while (d->transports)
                transport_remove(d, d->transports);
        while (d->adapters) {
                struct adapter *a = d->adapters;
                d->adapters = a->next;
                adapter_free(d, a);
        }
        while (d->devices) {
                struct device *v = d->devices;
                d->devices = v->next;
                free(v);
        }
        output_update_status(d);
}

static void on_name_owner(DBusMessage *reply, const DBusError *err, void *ud)
{
        struct daemon *d = ud;
        const char *owner;

        dbus_pending_call_unref(d->owner_call);
        d->owner_call = NULL;
        if (!reply) {
                log_notice("bluetoothd is not running; waiting for it");
                output_update_status(d);
                return;
        }
        if (dbus_message_get_args(reply, NULL, DBUS_TYPE_STRING, &owner, DBUS_TYPE_INVALID))
                bluez_appeared(d, owner);
}

/* ---- signals ------------------------------------------------------------- */

static void handle_properties_changed(struct daemon *d, DBusMessage *msg)
{
        DBusMessageIter it;
        const char *iface, *path = dbus_message_get_path(msg);

        if (!path || !dbus_message_iter_init(msg, &it) ||
            dbus_message_iter_get_arg_type(&it) != DBUS_TYPE_STRING)
                return;
        dbus_message_iter_get_basic(&it, &iface);
        dbus_message_iter_next(&it);

        if (strcmp(iface, IFACE_TRANSPORT) == 0) {
                struct transport *t = transport_by_path(d, path);
                if (t)
                        transport_properties_changed(d, t, &it);
        } else if (strcmp(iface, IFACE_DEVICE) == 0) {
                struct device *v = bluez_device_by_path(d, path);
                if (v) {
                        bool was = v->connected, was_paired = v->paired;
                        bluez_parse_device_props(&it, v);
                        bluez_device_invalidated(v, &it);
                        if (v->paired && !was_paired)
                                agent_device_paired(d, v);
                        speaker_device_changed(d, v, was);
                }
        } else if (strcmp(iface, IFACE_ADAPTER) == 0) {
                struct adapter *a = bluez_adapter_by_path(d, path);
                if (a) {
                        bool was_powered = a->powered;

                        bluez_parse_adapter_props(&it, a);
                        output_update_status(d);
                        /* only an adapter coming up is news for the
                         * speaker; a scan starting is not */
                        if (a->powered && !was_powered)
                                speaker_reconnect_soon(d);
                }
        }
}

static DBusHandlerResult filter(DBusConnection *conn, DBusMessage *msg, void *ud)
{
        struct daemon *d = ud;

        if (dbus_message_get_type(msg) != DBUS_MESSAGE_TYPE_SIGNAL)
                return DBUS_HANDLER_RESULT_NOT_YET_HANDLED;

        if (dbus_message_is_signal(msg, DBUS_INTERFACE_DBUS, "NameOwnerChanged")) {
                const char *name, *old_owner, *new_owner;
                /* the match rule names the bus as sender, but any client may
                 * send us the same signal unicast: only the bus's counts */
                if (!dbus_message_has_sender(msg, DBUS_SERVICE_DBUS))
                        return DBUS_HANDLER_RESULT_NOT_YET_HANDLED;
                if (!dbus_message_get_args(msg, NULL, DBUS_TYPE_STRING, &name, DBUS_TYPE_STRING,
                                           &old_owner, DBUS_TYPE_STRING, &new_owner, DBUS_TYPE_INVALID))
                        return DBUS_HANDLER_RESULT_NOT_YET_HANDLED;
                if (strcmp(name, BLUEZ_SERVICE) != 0)
                        return DBUS_HANDLER_RESULT_NOT_YET_HANDLED;
                if (old_owner[0])
                        bluez_vanished(d);
                if (new_owner[0])
                        bluez_appeared(d, new_owner);
                return DBUS_HANDLER_RESULT_NOT_YET_HANDLED;
        }

        /* anything else must come from the bluetoothd we follow */
        if (!bluez_sender_is_owner(d, msg))
                return DBUS_HANDLER_RESULT_NOT_YET_HANDLED;

        if (dbus_message_is_signal(msg, IFACE_OBJMGR, "InterfacesAdded") ||
            dbus_message_is_signal(msg, IFACE_OBJMGR, "InterfacesRemoved")) {
                DBusMessageIter it;
                const char *path;
                bool added = strcmp(dbus_message_get_member(msg), "InterfacesAdded") == 0;

                if (!dbus_message_iter_init(msg, &it) ||
                    dbus_message_iter_get_arg_type(&it) != DBUS_TYPE_OBJECT_PATH)
                        return DBUS_HANDLER_RESULT_NOT_YET_HANDLED;
                dbus_message_iter_get_basic(&it, &path);
                dbus_message_iter_next(&it);
                if (added)
                        object_added(d, path, &it);
                else
                        object_removed(d, path, &it);
                output_update_status(d);
        } else if (dbus_message_is_signal(msg, IFACE_PROPS, "PropertiesChanged")) {
                handle_properties_changed(d, msg);
        }
        return DBUS_HANDLER_RESULT_NOT_YET_HANDLED;
}

int bluez_init(struct daemon *d)
{
        DBusMessage *m;
        const char *name = BLUEZ_SERVICE;

        for (size_t i = 0; i < sizeof(match_rules) / sizeof(match_rules[0]); i++)
                dbus_bus_add_match(d->conn, match_rules[i], NULL);
        if (!dbus_connection_add_filter(d->conn, filter, d, NULL))
                return -ENOMEM;
        m = dbus_message_new_method_call(DBUS_SERVICE_DBUS, DBUS_PATH_DBUS, DBUS_INTERFACE_DBUS,
                                         "GetNameOwner");
        if (!m || !dbus_message_append_args(m, DBUS_TYPE_STRING, &name, DBUS_TYPE_INVALID))
                return -ENOMEM;
        return dbus_call_async(d->conn, m, 5000, on_name_owner, d, &d->owner_call);
}

void bluez_shutdown(struct daemon *d)
{
        dbus_call_cancel(&d->owner_call);
        dbus_call_cancel(&d->objects_call);
        dbus_connection_remove_filter(d->conn, filter, d);
        while (d->adapters) {
                struct adapter *a = d->adapters;
                d->adapters = a->next;
                adapter_free(d, a);
        }
        while (d->devices) {
                struct device *v = d->devices;
                d->devices = v->next;
                free(v);
        }
}

struct adapter *bluez_default_adapter(struct daemon *d)
{
        struct adapter *best = NULL;

        /* the lowest-numbered usable adapter, so the choice is stable;
         * a powered one first: with the board's own controller switched
         * off, a dongle that is on serves */
        for (struct adapter *a = d->adapters; a; a = a->next) {
                if (!adapter_usable(d, a))
                        continue;
                if (!best || (a->powered && !best->powered) ||
                    (a->powered == best->powered && strcmp(a->name, best->name) < 0))
                        best = a;
        }
        return best;
}

bool bluez_devices_listed(struct daemon *d)
{
        if (!d->bluez_owner[0])
                return false;
        for (struct adapter *a = d->adapters; a; a = a->next)
                if (adapter_usable(d, a) && a->reg == REG_DONE)
                        return true;
        return false;
}

struct device *bluez_device_by_address(struct daemon *d, const char *address)
{
        struct adapter *a = bluez_default_adapter(d);

        /* the one connected through an adapter we use first: a speaker
         * paired on two adapters is the one its link is on, whichever
         * adapter is the default now (it follows power); then on the
         * adapter we use, then anywhere. (One bluetoothd serving other
         * controllers, e.g. check-vm's sinks, lists the speaker under
         * them too, connected to them as a source.) */
        for (struct device *v = d->devices; v; v = v->next) {
                const struct adapter *on = v->connected ? bluez_adapter_by_path(d, v->adapter) : NULL;

                if (on && adapter_usable(d, on) && strcasecmp(v->address, address) == 0)
                        return v;
        }
        for (struct device *v = d->devices; v; v = v->next)
                if (strcasecmp(v->address, address) == 0 && (!a || strcmp(v->adapter, a->path) == 0))
                        return v;
        for (struct device *v = d->devices; v; v = v->next)
                if (strcasecmp(v->address, address) == 0)
                        return v;
        return NULL;
}
