/* Our A2DP source endpoints (org.bluez.MediaEndpoint1), one per codec and
 * adapter, each adapter's under its own application root that BlueZ reads
 * through ObjectManager.GetManagedObjects when we call
 * Media1.RegisterApplication. GetManagedObjects lists them in the fixed
 * registration order (a2dp_codec_registered): bluetoothd 5.66 registers
 * them in that order and, for a speaker, tries its local endpoints in that
 * order (the LastUsed pair first), each with the first of the speaker's
 * SEPs of the same codec, moving to the next when SelectConfiguration
 * fails. docs/codecs.md.
 *
 * With MultiOutput on, a spare endpoint per codec follows (…/spare/
 * a2dp_source_<codec>_2, same order): bluetoothd gives a second speaker the
 * next idle endpoint of the codec (docs/multi-output.md). They are a second
 * application, registered after the first: the order holds, and turning
 * the mode on or off closes no stream on the usual endpoints. Off, nothing
 * more is offered than before (some speakers fail when offered too many,
 * BlueZ #1037). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec-control.h"
#include "daemon.h"
#include "dbus-util.h"
#include "log.h"

#define IFACE_ENDPOINT "org.bluez.MediaEndpoint1"
#define IFACE_OBJMGR "org.freedesktop.DBus.ObjectManager"
#define ENDPOINT_PREFIX "a2dp_source_"
#define SPARE_DIR "spare"
#define SPARE_SUFFIX "_2"
#define ERR_INVALID "org.bluez.Error.InvalidArguments"
#define ERR_REJECTED "org.bluez.Error.Rejected"

#define REG_RETRY_MAX_S 30

static const char introspect_root_head[] =
        DBUS_INTROSPECT_1_0_XML_DOCTYPE_DECL_NODE
        "<node>\n"
        " <interface name='org.freedesktop.DBus.ObjectManager'>\n"
        "  <method name='GetManagedObjects'><arg type='a{oa{sa{sv}}}' direction='out'/></method>\n"
        "  <signal name='InterfacesAdded'><arg type='o'/><arg type='a{sa{sv}}'/></signal>\n"
        "  <signal name='InterfacesRemoved'><arg type='o'/><arg type='as'/></signal>\n"
        " </interface>\n"
        " <interface name='org.freedesktop.DBus.Introspectable'>\n"
        "  <method name='Introspect'><arg type='s' direction='out'/></method>\n"
        " </interface>\n";

static const char introspect_endpoint[] =
        DBUS_INTROSPECT_1_0_XML_DOCTYPE_DECL_NODE
        "<node>\n"
        " <interface name='org.bluez.MediaEndpoint1'>\n"
        "  <method name='SelectConfiguration'><arg name='capabilities' type='ay' direction='in'/>"
        "<arg name='configuration' type='ay' direction='out'/></method>\n"
        "  <method name='SetConfiguration'><arg name='transport' type='o' direction='in'/>"
        "<arg name='properties' type='a{sv}' direction='in'/></method>\n"
        "  <method name='ClearConfiguration'><arg name='transport' type='o' direction='in'/></method>\n"
        "  <method name='Release'/>\n"
        "  <property name='UUID' type='s' access='read'/>\n"
        "  <property name='Codec' type='y' access='read'/>\n"
        "  <property name='Capabilities' type='ay' access='read'/>\n"
        "  <property name='DelayReporting' type='b' access='read'/>\n"
        " </interface>\n"
        " <interface name='org.freedesktop.DBus.Introspectable'>\n"
        "  <method name='Introspect'><arg type='s' direction='out'/></method>\n"
        " </interface>\n"
        "</node>\n";

static void root_path(const struct adapter *a, bool spare, char *buf, size_t len)
{
        snprintf(buf, len, A2DPSRC_APP_ROOT "/%s%s", a->name, spare ? "/" SPARE_DIR : "");
}

/* "a2dp_source_sbc_xq" (object path elements take no '-'), the spare's
 * "a2dp_source_sbc_xq_2" */
static void leaf(const struct a2dp_codec *c, bool spare, char *buf, size_t len)
{
        snprintf(buf, len, ENDPOINT_PREFIX "%s%s", c->name, spare ? SPARE_SUFFIX : "");
        for (char *p = buf; *p; p++)
                if (*p == '-')
                        *p = '_';
}

static void path_of(const struct adapter *a, const struct a2dp_codec *c, bool spare, char *buf,
                    size_t len)
{
        char l[64], root[PATH_LEN];

        leaf(c, spare, l, sizeof(l));
        root_path(a, spare, root, sizeof(root));
        snprintf(buf, len, "%s/%s", root, l);
}

void endpoint_path(const struct adapter *a, const struct a2dp_codec *c, char *buf, size_t len)
{
        path_of(a, c, false, buf, len);
}

/* Whether a stream other than except's is on a's endpoint of c (usual or
 * spare). */
static bool endpoint_busy(struct daemon *d, const struct adapter *a, const struct a2dp_codec *c, bool spare,
                          const struct transport *except)
{
        size_t n = strlen(a->path);

        for (struct transport *t = d->transports; t; t = t->next)
                if (t != except && t->codec == c && t->spare == spare && strncmp(t->device, a->path, n) == 0 &&
                    t->device[n] == '/')
                        return true;
        return false;
}

int endpoint_path_idle(struct daemon *d, const struct adapter *a, const struct a2dp_codec *c,
                       const struct transport *except, char *buf, size_t len)
{
        /* bluetoothd 5.66 gives one local endpoint one stream: another
         * speaker's stream on the usual one leaves the spare */
        if (!endpoint_busy(d, a, c, false, except)) {
                path_of(a, c, false, buf, len);
                return 0;
        }
        if (a->spare_reg == REG_DONE && !endpoint_busy(d, a, c, true, except)) {
                path_of(a, c, true, buf, len);
                return 0;
        }
        return -EBUSY;
}

/* The codecs of mask with an endpoint, in registration order: built and
 * their library there. */
static const struct a2dp_codec *registered_in(unsigned mask, unsigned n)
{
        for (unsigned i = 0;; i++) {
                const struct a2dp_codec *c = a2dp_codec_registered(i);

                if (!c || ((mask & (1u << c->index)) && c->available() && n-- == 0))
                        return c;
        }
}

/* Why a codec registered is not offered now (daemon_codecs). */
static const char *codec_off_why(const struct daemon *d, const struct a2dp_codec *codec)
{
        return (d->codecs_unloadable & (1u << codec->index)) ? "not sent: its library did not load"
                                                              : "turned off (Codecs)";
}

/* What we register: --codecs, restricted by Manager1.Codecs. */
static const struct a2dp_codec *registered(const struct daemon *d, unsigned n)
{
        return registered_in(daemon_codecs(d), n);
}

/* "/org/a2dpsrc/bluez/hciN/a2dp_source_sbc" -> adapter hciN and its codec
 * (NULL for the root), or NULL; *spare: the path is the spares' root or
 * one of them ("/org/a2dpsrc/bluez/hciN/spare/a2dp_source_sbc_2") */
static struct adapter *adapter_for_path(struct daemon *d, const char *path,
                                        const struct a2dp_codec **codec, bool *spare)
{
        size_t rootlen = strlen(A2DPSRC_APP_ROOT);
        const char *name, *slash;

        if (strncmp(path, A2DPSRC_APP_ROOT "/", rootlen + 1) != 0)
                return NULL;
        name = path + rootlen + 1;
        slash = strchr(name, '/');
        *codec = NULL;
        *spare = false;
        if (slash && strncmp(slash + 1, SPARE_DIR, strlen(SPARE_DIR)) == 0 &&
            (slash[1 + strlen(SPARE_DIR)] == '\0' || slash[1 + strlen(SPARE_DIR)] == '/')) {
                *spare = true;
                slash = strchr(slash + 1, '/');
        }
        if (slash) {
                const struct a2dp_codec *c;
                char l[64];

                /* every codec --codecs allows: an endpoint Codecs has just
                 * removed stays BlueZ's until we register again, and its
                 * transport must still be cleared */
                for (unsigned i = 0; (c = registered_in(d->opts.codecs, i)) && !*codec; i++) {
                        leaf(c, *spare, l, sizeof(l));
                        if (strcmp(slash + 1, l) == 0)
                                *codec = c;
                }
                if (!*codec)
                        return NULL;
        }
        for (struct adapter *a = d->adapters; a; a = a->next) {
                size_t n = strlen(a->name);
                if (strncmp(name, a->name, n) == 0 && (name[n] == '\0' || name[n] == '/'))
                        return a;
        }
        return NULL;
}

static bool append_endpoint_props(DBusMessageIter *dict, const struct a2dp_codec *c)
{
        const char *uuid = A2DP_SOURCE_UUID;
        uint8_t codec = c->codec_id;
        dbus_bool_t delay = TRUE;
        uint8_t caps[A2DP_CODEC_BLOB_MAX];
        size_t n = c->capabilities(caps, sizeof(caps));

        /* vendor codecs (0xff) carry their vendor and codec ids in the
         * blob itself; bluetoothd 5.66 reads no Vendor property for them */
        return dbus_dict_append_basic(dict, "UUID", DBUS_TYPE_STRING, &uuid) &&
               dbus_dict_append_basic(dict, "Codec", DBUS_TYPE_BYTE, &codec) &&
               dbus_dict_append_bytes(dict, "Capabilities", caps, (int)n) &&
               dbus_dict_append_basic(dict, "DelayReporting", DBUS_TYPE_BOOLEAN, &delay);
}

static bool append_endpoint(DBusMessageIter *objs, const struct adapter *a, const struct a2dp_codec *c,
                            bool spare)
{
        DBusMessageIter obj, ifaces, iface, props;
        char path[PATH_LEN + 64], *p = path;
        const char *name = IFACE_ENDPOINT;

        path_of(a, c, spare, path, sizeof(path));
        return dbus_message_iter_open_container(objs, DBUS_TYPE_DICT_ENTRY, NULL, &obj) &&
               dbus_message_iter_append_basic(&obj, DBUS_TYPE_OBJECT_PATH, &p) &&
               dbus_message_iter_open_container(&obj, DBUS_TYPE_ARRAY, "{sa{sv}}", &ifaces) &&
               dbus_message_iter_open_container(&ifaces, DBUS_TYPE_DICT_ENTRY, NULL, &iface) &&
               dbus_message_iter_append_basic(&iface, DBUS_TYPE_STRING, &name) &&
               dbus_message_iter_open_container(&iface, DBUS_TYPE_ARRAY, "{sv}", &props) &&
               append_endpoint_props(&props, c) &&
               dbus_message_iter_close_container(&iface, &props) &&
               dbus_message_iter_close_container(&ifaces, &iface) &&
               dbus_message_iter_close_container(&obj, &ifaces) &&
               dbus_message_iter_close_container(objs, &obj);
}

static DBusHandlerResult get_managed_objects(struct daemon *d, DBusMessage *msg, struct adapter *a,
                                             bool spare)
{
        DBusMessage *reply = dbus_message_new_method_return(msg);
        DBusMessageIter it, objs;
        const struct a2dp_codec *c;
        bool ok;

        if (!reply)
                return DBUS_HANDLER_RESULT_NEED_MEMORY;
        dbus_message_iter_init_append(reply, &it);
        ok = dbus_message_iter_open_container(&it, DBUS_TYPE_ARRAY, "{oa{sa{sv}}}", &objs);
        /* bluetoothd registers the endpoints in the order it reads them */
        if (!spare)
                a->reg_mask = 0;
        for (unsigned i = 0; ok && (c = registered(d, i)); i++) {
                ok = append_endpoint(&objs, a, c, spare);
                if (!spare)
                        a->reg_mask |= 1u << c->index;
        }
        if (!ok || !dbus_message_iter_close_container(&it, &objs)) {
                dbus_message_unref(reply);
                return DBUS_HANDLER_RESULT_NEED_MEMORY;
        }
        return dbus_send_reply(d->conn, reply);
}

#define SELECT_CANDIDATES 4

/* SelectConfiguration does not say which speaker asks. Ours when a
 * connection of ours is under way and its link is up (*ours); otherwise
 * (the speaker connecting by itself, another client, bluetoothd's policy)
 * one of the paired devices connected without a stream that are, as far
 * as BlueZ knows, A2DP sinks. Their addresses (the first max) in who[];
 * returns how many there are. */
static unsigned selection_candidates(struct daemon *d, const char **who, unsigned max, bool *ours)
{
        const char *mine[2] = { d->connecting, d->connecting2 };
        unsigned n = 0;

        /* ours: the first output's, or the second's (MultiOutput). Not
         * one still paging: bluetoothd asks only after AVDTP discovery on
         * the speaker's link, so that selection is another speaker's, and
         * a page timeout would be learnt as a refusal of its codec */
        for (unsigned i = 0; i < 2; i++) {
                const struct device *dev = mine[i][0] ? bluez_device_by_address(d, mine[i]) : NULL;

                if (dev && dev->connected) {
                        if (n < max)
                                who[n] = mine[i];
                        n++;
                }
        }
        *ours = n > 0;
        if (n)
                return n;
        for (struct device *dev = d->devices; dev; dev = dev->next) {
                bool streaming = false;

                /* a phone connected to the board is no candidate */
                if (!dev->connected || !dev->paired || (dev->uuids_known && !dev->audio_sink))
                        continue;
                for (struct transport *t = d->transports; t; t = t->next)
                        streaming |= strcmp(t->device, dev->path) == 0;
                if (!streaming && n < max)
                        who[n] = dev->address;
                n += !streaming;
        }
        return n;
}

/* With MultiOutput on and a speaker playing, a stream that joins plays
 * from the same engine, at its rate (the first speaker's: the capture's
 * when that speaker takes it); with the first set up but released (idle
 * suspend), at the rate its stream comes back at: 0 when no rate is
 * imposed. */
static unsigned joining_rate(struct daemon *d)
{
        struct device *first;
        struct transport *t;

        if (!d->state.multi_output)
                return 0;
        if (d->streaming || d->streaming2)
                return d->engine_rate;
        first = d->output[0] ? bluez_device_by_address(d, d->output) : NULL;
        t = first ? transport_of_device(d, first) : NULL;
        return t ? t->info.rate : 0;
}

/* What the chooser is asked for: the capture's own rate, the board's
 * choice, when the speaker takes it (nothing to convert); --rate only when
 * the board leaves the choice open. The opt-out of SBC-XQ holds when any
 * speaker the selection may be for has it. */
static void select_prefs(struct daemon *d, const char *const *who, unsigned n, struct codec_prefs *p)
{
        p->rate = d->capture_rate ? d->capture_rate : d->opts.rate;
        if (joining_rate(d))
                p->rate = joining_rate(d);
        p->no_xq = false;
        for (unsigned i = 0; i < n && !p->no_xq; i++)
                p->no_xq = state_no_xq(&d->state, who[i]);
}

static DBusHandlerResult select_configuration(struct daemon *d, DBusMessage *msg,
                                              const struct a2dp_codec *codec)
{
        DBusMessageIter it, arr;
        const uint8_t *caps;
        int len, n;
        uint8_t config[A2DP_CODEC_BLOB_MAX];
        const uint8_t *cp = config;
        struct codec_prefs prefs = { 0 };
        struct codec_info info;
        char err[160], hex[2 * A2DP_CODEC_BLOB_MAX + 1];
        const char *who[SELECT_CANDIDATES];
        unsigned n_who;
        bool ours;
        DBusMessage *reply;

        if (!dbus_message_iter_init(msg, &it) ||
            dbus_iter_get_bytes(&it, false, &caps, &len) < 0 || dbus_message_iter_next(&it))
                return dbus_reply_error(d->conn, msg, ERR_INVALID,
                                        "SelectConfiguration takes one byte array (ay), got '%s'",
                                        dbus_message_get_signature(msg));
        if (!(daemon_codecs(d) & (1u << codec->index)))
                return dbus_reply_error(d->conn, msg, ERR_INVALID, "%s is %s", codec->label,
                                        codec_off_why(d, codec));
        n_who = selection_candidates(d, who, SELECT_CANDIDATES, &ours);
        if (n_who > SELECT_CANDIDATES)
                n_who = SELECT_CANDIDATES;
        select_prefs(d, who, n_who, &prefs);
        err[0] = '\0';
        for (unsigned i = 0; i < n_who && !err[0]; i++)
                if (codec_refusal_has(&d->refusals, who[i], codec->index))
                        snprintf(err, sizeof(err), "%s refused %s when it was configured: its next codec "
                                 "is tried", who[i], codec->label);
        if (err[0]) {
                n = -EINVAL;
        } else {
                n = codec->select(caps, (size_t)len, &prefs, config, sizeof(config), err, sizeof(err));
        }
        if (n > 0 && codec->index != CODEC_SBC && joining_rate(d) &&
            (codec->parse(config, (size_t)n, &info, err, sizeof(err)) < 0 || info.rate != joining_rate(d))) {
                /* a joining speaker at another rate would wait (nothing
                 * converts a second time): its next codec is tried, down to
                 * SBC, which every sink takes at 44.1 and 48 kHz (A2DP
                 * 1.3, 4.3.2), and which waits only on a sink that breaks
                 * that rule */
                if (!err[0])
                        snprintf(err, sizeof(err), "%s offers no %u Hz, the rate the other speaker plays "
                                 "at: its next codec is tried", codec->label, joining_rate(d));
                n = -EINVAL;
                /* bluetoothd tries the pair it ends on first next time
                 * (LastUsed): alone, its codec is chosen afresh */
                if (n_who == 1)
                        codec_control_mark_rechoose(d, who[0], true);
        }
        if (n <= 0) {
                /* bluetoothd 5.66 then tries its next local endpoint */
                log_warn("SelectConfiguration (%s) refused: %s", codec->label,
                         err[0] ? err : "no configuration");
                return dbus_reply_error(d->conn, msg, ERR_INVALID, "%s",
                                        err[0] ? err : "no configuration");
        }
        if ((size_t)len <= sizeof(d->offered_caps)) {
                memcpy(d->offered_caps, caps, (size_t)len);
                d->offered_caps_len = (size_t)len;
                d->offered_codec = codec;
                d->have_offered_caps = true;
        }
        for (size_t i = 0; i < (size_t)n; i++)
                snprintf(hex + 2 * i, 3, "%02x", config[i]);
        log_info("SelectConfiguration (%s): %s", codec->label, hex);
        /* a connection we did not make is learnt from only when it can be
         * for one device alone (speaker.c unnamed_refusal) */
        d->chosen_codec = codec;
        snprintf(d->chosen_for, sizeof(d->chosen_for), "%s", n_who == 1 ? who[0] : "");
        d->chosen_unnamed = !ours;
        if (sd_event_now(d->event, CLOCK_MONOTONIC, &d->chosen_at) < 0)
                d->chosen_at = 0;
        reply = dbus_message_new_method_return(msg);
        if (!reply)
                return DBUS_HANDLER_RESULT_NEED_MEMORY;
        dbus_message_iter_init_append(reply, &it);
        if (!dbus_message_iter_open_container(&it, DBUS_TYPE_ARRAY, "y", &arr) ||
            !dbus_message_iter_append_fixed_array(&arr, DBUS_TYPE_BYTE, &cp, n) ||
            !dbus_message_iter_close_container(&it, &arr)) {
                dbus_message_unref(reply);
                return DBUS_HANDLER_RESULT_NEED_MEMORY;
        }
        return dbus_send_reply(d->conn, reply);
}

static DBusHandlerResult set_configuration(struct daemon *d, DBusMessage *msg,
                                           const struct a2dp_codec *codec, bool spare)
{
        DBusMessageIter it;
        const char *path;
        char err[200];

        if (!dbus_message_has_signature(msg, "oa{sv}"))
                return dbus_reply_error(d->conn, msg, ERR_INVALID,
                                        "SetConfiguration takes (o, a{sv}), got '%s'",
                                        dbus_message_get_signature(msg));
        dbus_message_iter_init(msg, &it);
        dbus_message_iter_get_basic(&it, &path);
        dbus_message_iter_next(&it);
        d->chosen_codec = NULL;         /* configured: nothing was refused */
        if (!(daemon_codecs(d) & (1u << codec->index))) {
                log_warn("SetConfiguration %s refused: %s is %s", path, codec->label, codec_off_why(d, codec));
                return dbus_reply_error(d->conn, msg, ERR_INVALID, "%s is %s", codec->label,
                                        codec_off_why(d, codec));
        }
        if (transport_create(d, path, codec, spare, &it, err, sizeof(err)) < 0) {
                log_warn("SetConfiguration %s refused: %s", path, err);
                return dbus_reply_error(d->conn, msg, ERR_INVALID, "%s", err);
        }
        return dbus_reply_empty(d->conn, msg);
}

static DBusHandlerResult clear_configuration(struct daemon *d, DBusMessage *msg)
{
        const char *path;
        struct transport *t;

        if (!dbus_message_has_signature(msg, "o") ||
            !dbus_message_get_args(msg, NULL, DBUS_TYPE_OBJECT_PATH, &path, DBUS_TYPE_INVALID))
                return dbus_reply_error(d->conn, msg, ERR_INVALID,
                                        "ClearConfiguration takes (o), got '%s'",
                                        dbus_message_get_signature(msg));
        t = transport_by_path(d, path);
        if (t) {
                bool spare = t->spare;

                log_info("ClearConfiguration %s", path);
                transport_remove(d, t);
                /* the mode went off while this stream held a spare */
                if (spare)
                        endpoint_spares_update(d);
        }
        /* an unknown transport is already clear: nothing to refuse */
        return dbus_reply_empty(d->conn, msg);
}

static DBusHandlerResult endpoint_release(struct daemon *d, DBusMessage *msg, struct adapter *a,
                                         bool spare)
{
        log_notice("BlueZ released our %sendpoint on %s", spare ? "spare " : "", a->name);
        /* our own UnregisterApplication (Codecs changed) releases them
         * too: its reply registers them again */
        if (spare && !a->spare_call)
                a->spare_reg = REG_NONE;
        else if (!spare && !a->reg_call)
                a->reg = REG_NONE;
        return dbus_reply_empty(d->conn, msg);
}

static DBusHandlerResult message_handler(DBusConnection *conn, DBusMessage *msg, void *ud)
{
        struct daemon *d = ud;
        const char *path = dbus_message_get_path(msg);
        const char *iface = dbus_message_get_interface(msg);
        const char *member = dbus_message_get_member(msg);
        const struct a2dp_codec *codec = NULL;
        struct adapter *a;
        bool spare;

        if (dbus_message_get_type(msg) != DBUS_MESSAGE_TYPE_METHOD_CALL || !path || !member)
                return DBUS_HANDLER_RESULT_NOT_YET_HANDLED;
        a = adapter_for_path(d, path, &codec, &spare);
        if (!a)
                return dbus_reply_error(conn, msg, DBUS_ERROR_UNKNOWN_OBJECT, "No such object %s", path);

        if (strcmp(member, "Introspect") == 0 &&
            (!iface || strcmp(iface, DBUS_INTERFACE_INTROSPECTABLE) == 0)) {
                char root[sizeof(introspect_root_head) + 64 * (size_t)CODEC_COUNT + 48];
                const char *xml = codec ? introspect_endpoint : root;
                DBusMessage *reply;
                const struct a2dp_codec *c;
                size_t used;

                used = (size_t)snprintf(root, sizeof(root), "%s", introspect_root_head);
                for (unsigned i = 0; (c = registered(d, i)) && used < sizeof(root); i++) {
                        char l[64];

                        leaf(c, spare, l, sizeof(l));
                        used += (size_t)snprintf(root + used, sizeof(root) - used, " <node name='%s'/>\n", l);
                }
                if (!spare && d->state.multi_output && used < sizeof(root))
                        used += (size_t)snprintf(root + used, sizeof(root) - used,
                                                 " <node name='" SPARE_DIR "'/>\n");
                if (used < sizeof(root))
                        snprintf(root + used, sizeof(root) - used, "</node>\n");
                reply = dbus_message_new_method_return(msg);
                if (reply && !dbus_message_append_args(reply, DBUS_TYPE_STRING, &xml, DBUS_TYPE_INVALID)) {
                        dbus_message_unref(reply);
                        reply = NULL;
                }
                return dbus_send_reply(conn, reply);
        }

        /* Only the bluetoothd we registered with may configure us. */
        if (!bluez_sender_is_owner(d, msg))
                return dbus_reply_error(conn, msg, DBUS_ERROR_ACCESS_DENIED,
                                        "Only the owner of org.bluez may call %s", member);

        if (!codec) {
                if (strcmp(member, "GetManagedObjects") == 0 &&
                    (!iface || strcmp(iface, IFACE_OBJMGR) == 0))
                        return get_managed_objects(d, msg, a, spare);
                return dbus_reply_error(conn, msg, DBUS_ERROR_UNKNOWN_METHOD, "No method %s", member);
        }
        if (iface && strcmp(iface, IFACE_ENDPOINT) != 0)
                return dbus_reply_error(conn, msg, DBUS_ERROR_UNKNOWN_METHOD, "No method %s.%s",
                                        iface, member);
        if (strcmp(member, "SelectConfiguration") == 0)
                return select_configuration(d, msg, codec);
        if (strcmp(member, "SetConfiguration") == 0)
                return set_configuration(d, msg, codec, spare);
        if (strcmp(member, "ClearConfiguration") == 0)
                return clear_configuration(d, msg);
        if (strcmp(member, "Release") == 0)
                return dbus_message_has_signature(msg, "") ? endpoint_release(d, msg, a, spare)
                       : dbus_reply_error(conn, msg, ERR_INVALID, "Release takes no arguments");
        return dbus_reply_error(conn, msg, DBUS_ERROR_UNKNOWN_METHOD, "No method %s", member);
}

int endpoint_export(struct daemon *d)
{
        static const DBusObjectPathVTable vtable = { .message_function = message_handler };

        if (!dbus_connection_register_fallback(d->conn, A2DPSRC_APP_ROOT, &vtable, d))
                return -ENOMEM;
        return 0;
}

/* ---- registration ---------------------------------------------------------- */

static int on_retry(sd_event_source *s, uint64_t usec, void *ud);

static void schedule_retry(struct daemon *d, struct adapter *a)
{
        unsigned delay = policy_backoff_s(a->reg_failures, REG_RETRY_MAX_S);

        a->reg_failures++;
        sd_event_source_disable_unref(a->reg_retry);
        a->reg_retry = NULL;
        if (sd_event_add_time_relative(d->event, &a->reg_retry, CLOCK_MONOTONIC,
                                       (uint64_t)delay * 1000000, 10000, on_retry, a) < 0)
                log_err("cannot schedule registration retry for %s", a->name);
}

/* Media1.RegisterApplication (with no options) or UnregisterApplication
 * of a's usual or spare application; NULL when out of memory. */
static DBusMessage *app_call(const struct adapter *a, bool spare, const char *member)
{
        char root[PATH_LEN + 32];
        const char *rp = root;
        DBusMessage *m;
        DBusMessageIter it, opts;

        root_path(a, spare, root, sizeof(root));
        m = dbus_message_new_method_call(BLUEZ_SERVICE, a->path, "org.bluez.Media1", member);
        if (!m)
                return NULL;
        dbus_message_iter_init_append(m, &it);
        if (!dbus_message_iter_append_basic(&it, DBUS_TYPE_OBJECT_PATH, &rp) ||
            (strcmp(member, "RegisterApplication") == 0 &&
             (!dbus_message_iter_open_container(&it, DBUS_TYPE_ARRAY, "{sv}", &opts) ||
              !dbus_message_iter_close_container(&it, &opts)))) {
                dbus_message_unref(m);
                return NULL;
        }
        return m;
}

static void on_register_reply(DBusMessage *reply, const DBusError *err, void *ud)
{
        struct adapter *a = ud;
        struct daemon *d = a->daemon;

        dbus_pending_call_unref(a->reg_call);
        a->reg_call = NULL;
        if (!reply) {
                a->reg = REG_NONE;
                log_err("RegisterApplication on %s failed: %s: %s", a->name, err->name, err->message);
                schedule_retry(d, a);
                output_update_status(d);
                return;
        }
        a->reg = REG_DONE;
        a->reg_failures = 0;
        {
                char names[128] = "";
                const struct a2dp_codec *c;

                for (unsigned i = 0; (c = registered(d, i)); i++)
                        snprintf(names + strlen(names), sizeof(names) - strlen(names), "%s%s",
                                 i ? ", " : "", c->label);
                log_info("A2DP source endpoints registered on %s: %s", a->name, names);
        }
        output_update_status(d);
        /* the spares follow the usual endpoints, in BlueZ's order too */
        endpoint_spares_update(d);
        speaker_endpoints_registered(d);
}

void endpoint_register(struct daemon *d, struct adapter *a)
{
        DBusMessage *m;

        if (a->reg != REG_NONE || !d->bluez_owner[0])
                return;
        m = app_call(a, false, "RegisterApplication");
        /* BlueZ answers after it has read our objects back */
        if (!m || dbus_call_async(d->conn, m, 10000, on_register_reply, a, &a->reg_call) < 0)
                goto fail;
        a->reg = REG_PENDING;
        return;
fail:
        log_err("cannot send RegisterApplication to %s", a->name);
        schedule_retry(d, a);
}

static int on_retry(sd_event_source *s, uint64_t usec, void *ud)
{
        struct adapter *a = ud;

        sd_event_source_disable_unref(a->reg_retry);
        a->reg_retry = NULL;
        endpoint_register(a->daemon, a);
        return 0;
}

void endpoint_adapter_gone(struct daemon *d, struct adapter *a)
{
        dbus_call_cancel(&a->spare_call);
        a->spare_reg = REG_NONE;
        dbus_call_cancel(&a->reg_call);
        sd_event_source_disable_unref(a->reg_retry);
        a->reg_retry = NULL;
        a->reg = REG_NONE;
}

static void on_unregister_reply(DBusMessage *reply, const DBusError *err, void *ud)
{
        struct adapter *a = ud;

        dbus_pending_call_unref(a->reg_call);
        a->reg_call = NULL;
        if (!reply)
                log_warn("UnregisterApplication on %s: %s", a->name, err->message);
        a->reg = REG_NONE;
        endpoint_register(a->daemon, a);
}

/* Manager1.Codecs changed: BlueZ 5.66 reads our endpoints only when we
 * register, so the application is unregistered and registered again, in
 * the fixed order, with the codecs now allowed. An adapter whose
 * registration is in flight is left alone: it may have read the old list,
 * and the next change or restart sets it right. */
void endpoint_reregister(struct daemon *d, struct adapter *a)
{
        DBusMessage *m;

        if (a->reg != REG_DONE || !d->bluez_owner[0])
                return;
        m = app_call(a, false, "UnregisterApplication");
        /* dbus_call_async takes m, even when it fails */
        if (dbus_call_async(d->conn, m, 5000, on_unregister_reply, a, &a->reg_call) < 0) {
                log_err("cannot send UnregisterApplication to %s", a->name);
                return;
        }
        log_info("registering the endpoints of %s again (Codecs changed)", a->name);
        a->reg = REG_PENDING;
        /* the spares go too, and come back after the usual ones */
        endpoint_spares_update(d);
}

/* ---- the spare endpoints (MultiOutput) ------------------------------------ */

static void spares_update_adapter(struct daemon *d, struct adapter *a);

static void on_spare_reply(DBusMessage *reply, const DBusError *err, void *ud)
{
        struct adapter *a = ud;
        bool registering = a->spare_reg == REG_PENDING;

        dbus_pending_call_unref(a->spare_call);
        a->spare_call = NULL;
        if (!reply)
                log_warn("%s (spare endpoints) on %s: %s: %s",
                         registering ? "RegisterApplication" : "UnregisterApplication", a->name,
                         err->name, err->message);
        else
                log_info("spare A2DP source endpoints %s on %s", registering ? "registered" : "unregistered",
                         a->name);
        /* a failed registration is tried again at the next change of the
         * mode or registration of the usual endpoints */
        a->spare_reg = registering && reply ? REG_DONE : REG_NONE;
        /* the mode may have changed meanwhile */
        spares_update_adapter(a->daemon, a);
}

/* A stream of one of a's speakers on a spare: unregistering would close it. */
static bool spares_in_use(const struct daemon *d, const struct adapter *a)
{
        size_t n = strlen(a->path);

        for (const struct transport *t = d->transports; t; t = t->next)
                if (t->spare && strncmp(t->device, a->path, n) == 0 && t->device[n] == '/')
                        return true;
        return false;
}

static void spares_update_adapter(struct daemon *d, struct adapter *a)
{
        bool want = d->state.multi_output && a->reg == REG_DONE;
        const char *member;
        DBusMessage *m;

        /* one call at a time: its reply looks again */
        if (a->spare_call || !d->bluez_owner[0] || d->shutting_down)
                return;
        if (want && a->spare_reg == REG_NONE)
                member = "RegisterApplication";
        else if (!want && a->spare_reg == REG_DONE && !spares_in_use(d, a))
                member = "UnregisterApplication";
        else
                return;
        m = app_call(a, true, member);
        /* dbus_call_async takes m, even when it fails */
        if (!m || dbus_call_async(d->conn, m, 10000, on_spare_reply, a, &a->spare_call) < 0) {
                log_err("cannot send %s (spare endpoints) to %s", member, a->name);
                return;
        }
        /* REG_PENDING while registering, REG_DONE while unregistering:
         * on_spare_reply tells the two apart */
        if (want)
                a->spare_reg = REG_PENDING;
}

void endpoint_spares_update(struct daemon *d)
{
        for (struct adapter *a = d->adapters; a; a = a->next)
                spares_update_adapter(d, a);
}

/* On shutdown: tell BlueZ, and wait briefly, so the SDP record goes at
 * once rather than when BlueZ notices we left. */
void endpoint_unregister_all(struct daemon *d)
{
        for (struct adapter *a = d->adapters; a; a = a->next) {
                for (int spare = 1; spare >= 0; spare--) {
                        enum registration *reg = spare ? &a->spare_reg : &a->reg;
                        DBusMessage *m, *reply;

                        if (*reg != REG_DONE)
                                continue;
                        m = app_call(a, spare, "UnregisterApplication");
                        if (!m)
                                continue;
                        reply = dbus_connection_send_with_reply_and_block(d->conn, m, 1000, NULL);
                        dbus_message_unref(m);
                        if (reply)
                                dbus_message_unref(reply);
                        *reg = REG_NONE;
                }
        }
}
