/* Pairing: our org.bluez.Agent1 (NoInputNoOutput, as speakers are) and
 * the Pair flow behind Manager1.Pair and Manager1.Connect.
 *
 * The agent exists in BlueZ only while a pairing of ours runs. bluetoothd
 * 5.66 makes the first registered agent the default one, and a default
 * agent makes it set the controller's IO capability and make every
 * adapter bondable: the kernel then accepts a stranger's Just-Works
 * pairing without asking any agent, and the default agent stands in the
 * way of other programs' pairings (a phone's numeric comparison).
 * Device1.Pair asks the caller's own agent, so registering around our Pair
 * is enough. For the same reason the adapter is made Pairable only for the
 * length of our Pair (without it the kernel forces a no-bonding pairing and
 * keeps no key) and set back after; a bond anyone else makes through that
 * window is removed. The agent says yes only to the device the user asked
 * to pair, while that pairing runs, and authorizes only audio services. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "dbus-util.h"
#include "log.h"

#define AGENT_PATH "/org/a2dpsrc/agent"
#define AGENT_CAPABILITY "NoInputNoOutput"
#define ERR_PREFIX "org.a2dpsrc.Error."
#define ERR_REJECTED "org.bluez.Error.Rejected"
#define PAIR_TIMEOUT_MS 60000

static const char introspect_xml[] =
        DBUS_INTROSPECT_1_0_XML_DOCTYPE_DECL_NODE
        "<node>\n"
        " <interface name='org.bluez.Agent1'>\n"
        "  <method name='Release'/>\n"
        "  <method name='RequestPinCode'><arg type='o' direction='in'/><arg type='s' direction='out'/></method>\n"
        "  <method name='DisplayPinCode'><arg type='o' direction='in'/><arg type='s' direction='in'/></method>\n"
        "  <method name='RequestPasskey'><arg type='o' direction='in'/><arg type='u' direction='out'/></method>\n"
        "  <method name='DisplayPasskey'><arg type='o' direction='in'/><arg type='u' direction='in'/>"
        "<arg type='q' direction='in'/></method>\n"
        "  <method name='RequestConfirmation'><arg type='o' direction='in'/><arg type='u' direction='in'/></method>\n"
        "  <method name='RequestAuthorization'><arg type='o' direction='in'/></method>\n"
        "  <method name='AuthorizeService'><arg type='o' direction='in'/><arg type='s' direction='in'/></method>\n"
        "  <method name='Cancel'/>\n"
        " </interface>\n"
        " <interface name='org.freedesktop.DBus.Introspectable'>\n"
        "  <method name='Introspect'><arg type='s' direction='out'/></method>\n"
        " </interface>\n"
        "</node>\n";

/* Whether the device at path is the one the user is pairing now. */
static bool is_pairing_target(struct daemon *d, const char *path)
{
        struct device *dev = bluez_device_by_path(d, path);

        return d->pairing[0] && dev && strcasecmp(dev->address, d->pairing) == 0;
}

/* What a speaker brings up towards a source: A2DP (the signalling
 * channel is authorized as "Advanced Audio", 0000110d) and AVRCP. */
static bool speaker_service(const char *uuid)
{
        static const char *const allowed[] = {
                A2DP_SOURCE_UUID, A2DP_SINK_UUID,
                "0000110d-0000-1000-8000-00805f9b34fb",   /* Advanced Audio (AVDTP) */
                "0000110c-0000-1000-8000-00805f9b34fb",   /* AVRCP target */
                "0000110e-0000-1000-8000-00805f9b34fb",   /* AVRCP */
                "0000110f-0000-1000-8000-00805f9b34fb",   /* AVRCP controller */
        };

        for (size_t i = 0; i < sizeof(allowed) / sizeof(allowed[0]); i++)
                if (strcasecmp(uuid, allowed[i]) == 0)
                        return true;
        return false;
}

static DBusHandlerResult reply_basic(struct daemon *d, DBusMessage *msg, int type, const void *v)
{
        DBusMessage *reply = dbus_message_new_method_return(msg);

        if (reply && !dbus_message_append_args(reply, type, v, DBUS_TYPE_INVALID)) {
                dbus_message_unref(reply);
                reply = NULL;
        }
        return dbus_send_reply(d->conn, reply);
}

static DBusHandlerResult agent_call(struct daemon *d, DBusMessage *msg, const char *member)
{
        const char *path = NULL, *str = NULL;
        uint32_t u = 0;
        uint16_t q = 0;

        if (strcmp(member, "Release") == 0 || strcmp(member, "Cancel") == 0) {
                if (!dbus_message_has_signature(msg, ""))
                        goto bad_args;
                if (member[0] == 'R') {
                        log_notice("BlueZ released our pairing agent");
                        d->agent_reg = REG_NONE;
                } else {
                        log_info("BlueZ cancelled the agent request");
                }
                return dbus_reply_empty(d->conn, msg);
        }
        if (strcmp(member, "RequestPinCode") == 0) {
                const char *pin = "0000";   /* what legacy speakers use */
                if (!dbus_message_get_args(msg, NULL, DBUS_TYPE_OBJECT_PATH, &path, DBUS_TYPE_INVALID))
                        goto bad_args;
                if (!is_pairing_target(d, path))
                        goto reject;
                return reply_basic(d, msg, DBUS_TYPE_STRING, &pin);
        }
        if (strcmp(member, "RequestPasskey") == 0) {
                uint32_t zero = 0;
                if (!dbus_message_get_args(msg, NULL, DBUS_TYPE_OBJECT_PATH, &path, DBUS_TYPE_INVALID))
                        goto bad_args;
                if (!is_pairing_target(d, path))
                        goto reject;
                return reply_basic(d, msg, DBUS_TYPE_UINT32, &zero);
        }
        if (strcmp(member, "DisplayPinCode") == 0) {
                if (!dbus_message_get_args(msg, NULL, DBUS_TYPE_OBJECT_PATH, &path, DBUS_TYPE_STRING, &str,
                                           DBUS_TYPE_INVALID))
                        goto bad_args;
                if (!is_pairing_target(d, path))
                        goto reject;
                log_info("PIN for %s: %s", d->pairing, str);
                return dbus_reply_empty(d->conn, msg);
        }
        if (strcmp(member, "DisplayPasskey") == 0) {
                if (!dbus_message_get_args(msg, NULL, DBUS_TYPE_OBJECT_PATH, &path, DBUS_TYPE_UINT32, &u,
                                           DBUS_TYPE_UINT16, &q, DBUS_TYPE_INVALID))
                        goto bad_args;
                return dbus_reply_empty(d->conn, msg);
        }
        if (strcmp(member, "RequestConfirmation") == 0) {
                if (!dbus_message_get_args(msg, NULL, DBUS_TYPE_OBJECT_PATH, &path, DBUS_TYPE_UINT32, &u,
                                           DBUS_TYPE_INVALID))
                        goto bad_args;
                if (!is_pairing_target(d, path))
                        goto reject;
                log_info("confirming passkey %06u for %s", u, d->pairing);
                return dbus_reply_empty(d->conn, msg);
        }
        if (strcmp(member, "RequestAuthorization") == 0) {
                if (!dbus_message_get_args(msg, NULL, DBUS_TYPE_OBJECT_PATH, &path, DBUS_TYPE_INVALID))
                        goto bad_args;
                if (!is_pairing_target(d, path))
                        goto reject;
                return dbus_reply_empty(d->conn, msg);
        }
        if (strcmp(member, "AuthorizeService") == 0) {
                struct device *dev;
                if (!dbus_message_get_args(msg, NULL, DBUS_TYPE_OBJECT_PATH, &path, DBUS_TYPE_STRING, &str,
                                           DBUS_TYPE_INVALID))
                        goto bad_args;
                dev = bluez_device_by_path(d, path);
                /* a speaker we paired may bring up its audio profiles,
                 * and nothing else */
                if (speaker_service(str) && (is_pairing_target(d, path) ||
                    (dev && state_paired_contains(&d->state, dev->address))))
                        return dbus_reply_empty(d->conn, msg);
                goto reject;
        }
        return dbus_reply_error(d->conn, msg, DBUS_ERROR_UNKNOWN_METHOD, "No method %.64s", member);
bad_args:
        return dbus_reply_error(d->conn, msg, "org.bluez.Error.InvalidArguments",
                                "%s: wrong arguments '%s'", member, dbus_message_get_signature(msg));
reject:
        log_warn("rejected unsolicited %s for %s", member, path ? path : "?");
        return dbus_reply_error(d->conn, msg, ERR_REJECTED, "a2dpsrc is not pairing with this device");
}

static DBusHandlerResult message_handler(DBusConnection *conn, DBusMessage *msg, void *ud)
{
        struct daemon *d = ud;
        const char *iface = dbus_message_get_interface(msg);
        const char *member = dbus_message_get_member(msg);

        if (dbus_message_get_type(msg) != DBUS_MESSAGE_TYPE_METHOD_CALL || !member)
                return DBUS_HANDLER_RESULT_NOT_YET_HANDLED;
        if (strcmp(member, "Introspect") == 0 &&
            (!iface || strcmp(iface, DBUS_INTERFACE_INTROSPECTABLE) == 0)) {
                const char *xml = introspect_xml;
                return reply_basic(d, msg, DBUS_TYPE_STRING, &xml);
        }
        if (!bluez_sender_is_owner(d, msg))
                return dbus_reply_error(conn, msg, DBUS_ERROR_ACCESS_DENIED,
                                        "Only the owner of org.bluez may call the agent");
        if (iface && strcmp(iface, "org.bluez.Agent1") != 0)
                return dbus_reply_error(conn, msg, DBUS_ERROR_UNKNOWN_METHOD, "No method %.64s.%.64s",
                                        iface, member);
        return agent_call(d, msg, member);
}

int agent_export(struct daemon *d)
{
        static const DBusObjectPathVTable vtable = { .message_function = message_handler };

        if (!dbus_connection_register_object_path(d->conn, AGENT_PATH, &vtable, d))
                return -ENOMEM;
        return 0;
}

/* ---- registration ------------------------------------------------------------- */

static void set_pairable(struct daemon *d, const char *adapter, bool on, dbus_reply_cb cb);

static void on_unregistered(DBusMessage *reply, const DBusError *err, void *ud)
{
        if (!reply && !dbus_error_has_name(err, "org.bluez.Error.DoesNotExist"))
                log_warn("UnregisterAgent failed: %s", err->message);
}

/* Our agent exists in BlueZ only while a pairing of ours runs: bluetoothd
 * 5.66 makes the first registered agent the default one (agent_create),
 * and a default agent makes every adapter bondable. */
static void unregister_agent(struct daemon *d)
{
        const char *path = AGENT_PATH;
        DBusMessage *m;

        if (d->agent_reg == REG_NONE || !d->bluez_owner[0]) {
                d->agent_reg = REG_NONE;
                return;
        }
        d->agent_reg = REG_NONE;
        m = dbus_message_new_method_call(BLUEZ_SERVICE, "/org/bluez", "org.bluez.AgentManager1",
                                         "UnregisterAgent");
        if (m && !dbus_message_append_args(m, DBUS_TYPE_OBJECT_PATH, &path, DBUS_TYPE_INVALID)) {
                dbus_message_unref(m);
                m = NULL;
        }
        dbus_call_async(d->conn, m, 5000, on_unregistered, d, NULL);
}

void agent_adapter_appeared(struct daemon *d, const struct adapter *a)
{
        /* bluetoothd went away while a pairing of ours had made the
         * adapter pairable: the kernel still is (5.66 only ever turns it
         * on at start). Shut once the adapter is there: 5.66 takes its
         * name before it reads its controllers, so a Set sent when the
         * name came met no object */
        if (d->pairable_adapter[0] && !d->pair_call && strcmp(a->path, d->pairable_adapter) == 0) {
                log_info("closing the pairing window left open on %s", a->name);
                set_pairable(d, d->pairable_adapter, false, NULL);
                d->pairable_adapter[0] = '\0';
        }
}

static void on_pairable_off(DBusMessage *reply, const DBusError *err, void *ud)
{
        if (!reply)
                log_warn("cannot make the adapter non-pairable again: %s", err->message);
}

/* Adapter1.Pairable (mgmt Set Bondable). Turning it on is awaited
 * (d->pair_pending, cb); turning it off is not. */
static void set_pairable(struct daemon *d, const char *adapter, bool on, dbus_reply_cb cb)
{
        dbus_bool_t v = on;
        DBusMessage *m = dbus_new_set_property(BLUEZ_SERVICE, adapter, "org.bluez.Adapter1", "Pairable",
                                               DBUS_TYPE_BOOLEAN, &v);

        if (dbus_call_async(d->conn, m, 5000, cb ? cb : on_pairable_off, d,
                            cb ? &d->pair_pending : NULL) < 0 && cb)
                cb(NULL, &(DBusError){ .name = DBUS_ERROR_NO_MEMORY, .message = "cannot send" }, d);
}

static void finish_pair(struct daemon *d, const char *err_name, const char *text)
{
        DBusMessage *call = d->pair_call;
        agent_pair_done_fn done = d->pair_done;
        char addr[sizeof(d->pairing)];

        snprintf(addr, sizeof(addr), "%s", d->pairing);
        if (d->pair_called_off) {
                done = NULL;
                err_name = ERR_PREFIX "Failed";
                text = "cancelled by Disconnect";
        }
        d->pair_call = NULL;
        d->pair_done = NULL;
        d->pair_called_off = false;
        d->pairing[0] = '\0';
        /* not pairable a moment longer than our pairing needs */
        if (d->pairable_adapter[0] && d->bluez_owner[0]) {
                set_pairable(d, d->pairable_adapter, false, NULL);
                snprintf(d->window_adapter, sizeof(d->window_adapter), "%s", d->pairable_adapter);
                snprintf(d->window_target, sizeof(d->window_target), "%s", addr);
                sd_event_now(d->event, CLOCK_MONOTONIC, &d->window_closed_us);
                d->pairable_adapter[0] = '\0';
        }
        unregister_agent(d);
        if (!call)
                return;
        if (done) {
                /* the Connects that joined go the first one's way: they
                 * join its connection, or get its answer */
                DBusMessage *joined[CONNECT_CALLERS_MAX];
                unsigned n = connect_callers_take(d->conn, &d->pair_joined, joined);

                done(d, call, addr, err_name, text);
                for (unsigned i = 0; i < n; i++) {
                        done(d, joined[i], addr, err_name, text);
                        dbus_message_unref(joined[i]);
                }
        } else {
                connect_callers_finish(d->conn, &d->pair_joined, err_name, text);
                if (err_name)
                        dbus_reply_error(d->conn, call, err_name, "%s", text);
                else
                        dbus_reply_empty(d->conn, call);
        }
        dbus_message_unref(call);
}

void agent_bluez_gone(struct daemon *d)
{
        dbus_call_cancel(&d->pair_pending);
        d->agent_reg = REG_NONE;
        if (d->pair_call)
                finish_pair(d, ERR_PREFIX "Failed", "bluetoothd went away during pairing");
}

void agent_shutdown(struct daemon *d)
{
        /* a pairing under way ends: the agent goes, the adapter is made
         * non-pairable again (main flushes these before leaving) */
        dbus_call_cancel(&d->pair_pending);
        if (d->pair_call)
                finish_pair(d, ERR_PREFIX "Failed", "a2dpsrcd is stopping");
        unregister_agent(d);
}

/* ---- pairing -------------------------------------------------------------------- */

static void trust(struct daemon *d, const char *path)
{
        dbus_bool_t yes = TRUE;
        DBusMessage *m = dbus_new_set_property(BLUEZ_SERVICE, path, "org.bluez.Device1", "Trusted",
                                               DBUS_TYPE_BOOLEAN, &yes);

        if (!m)
                return;
        /* trusted, the speaker may reconnect without asking */
        dbus_message_set_no_reply(m, TRUE);
        dbus_connection_send(d->conn, m, NULL);
        dbus_message_unref(m);
}

static void paired(struct daemon *d, struct device *dev)
{
        log_info("paired with %s (%s)", dev->address, dev->name);
        trust(d, dev->path);
        if (!state_paired_contains(&d->state, dev->address) &&
            state_paired_add(&d->state, dev->address) == -ENOSPC) {
                /* the oldest of ours makes room: a reset still forgets the rest */
                state_paired_remove(&d->state, d->state.paired[0]);
                state_paired_add(&d->state, dev->address);
        }
        manager_save(d);
        finish_pair(d, NULL, NULL);
}

static void on_pair_reply(DBusMessage *reply, const DBusError *err, void *ud)
{
        struct daemon *d = ud;
        struct device *dev = bluez_device_by_address(d, d->pairing);
        char text[256];
        const char *name = ERR_PREFIX "Failed";

        dbus_pending_call_unref(d->pair_pending);
        d->pair_pending = NULL;
        if (reply || dbus_error_has_name(err, "org.bluez.Error.AlreadyExists")) {
                if (dev) {
                        paired(d, dev);
                } else {
                        finish_pair(d, ERR_PREFIX "NotFound", "the device went away while pairing");
                }
                manager_update(d);
                return;
        }
        if (dbus_error_has_name(err, "org.bluez.Error.AuthenticationFailed") ||
            dbus_error_has_name(err, "org.bluez.Error.AuthenticationRejected") ||
            dbus_error_has_name(err, "org.bluez.Error.AuthenticationCanceled")) {
                name = ERR_PREFIX "AuthenticationFailed";
                snprintf(text, sizeof(text), "pairing with %s failed: %s", d->pairing,
                         err->message ? err->message : "authentication failed");
        } else if (dbus_error_has_name(err, "org.bluez.Error.AuthenticationTimeout") ||
                   dbus_error_has_name(err, "org.bluez.Error.ConnectionAttemptFailed") ||
                   dbus_error_has_name(err, DBUS_ERROR_NO_REPLY)) {
                name = ERR_PREFIX "Timeout";
                snprintf(text, sizeof(text), "%s did not answer; put it in pairing mode and retry",
                         d->pairing);
        } else if (dbus_error_has_name(err, "org.bluez.Error.InProgress")) {
                name = ERR_PREFIX "InProgress";
                snprintf(text, sizeof(text), "BlueZ is already pairing with %s", d->pairing);
        } else {
                snprintf(text, sizeof(text), "pairing with %s failed: %s", d->pairing,
                         err->message ? err->message : err->name);
        }
        log_warn("%s", text);
        finish_pair(d, name, text);
}

static void on_stranger_removed(DBusMessage *reply, const DBusError *err, void *ud)
{
        if (!reply)
                log_err("removing a stranger's bond failed: %s", err->message);
}

/* The kernel checks that the adapter is bondable when a pairing starts,
 * not when it ends: a stranger's pairing begun in our window completes
 * after we closed it. A bond completing this soon after, while nobody has
 * made the adapter pairable again, came through our window. */
#define WINDOW_LATE_US 30000000ull

static bool through_closed_window(struct daemon *d, const struct device *dev)
{
        struct adapter *a = bluez_adapter_by_path(d, dev->adapter);
        uint64_t now = 0;

        if (!d->window_adapter[0] || strcmp(dev->adapter, d->window_adapter) != 0 || !a || a->pairable ||
            strcasecmp(dev->address, d->window_target) == 0)
                return false;
        sd_event_now(d->event, CLOCK_MONOTONIC, &now);
        return now - d->window_closed_us < WINDOW_LATE_US;
}

void agent_device_paired(struct daemon *d, struct device *dev)
{
        const char *path = dev->path;
        bool open = d->pairable_adapter[0] && strcmp(dev->adapter, d->pairable_adapter) == 0;
        DBusMessage *m;

        /* only through a window we opened: then nobody else meant the
         * board to take bonds */
        if ((!open && !through_closed_window(d, dev)) || strcasecmp(dev->address, d->pairing) == 0 ||
            state_paired_contains(&d->state, dev->address))
                return;
        log_warn("%s bonded with the board through the window our pairing with %s opened; "
                 "removing that bond", dev->address, open ? d->pairing : d->window_target);
        m = dbus_message_new_method_call(BLUEZ_SERVICE, dev->adapter, "org.bluez.Adapter1", "RemoveDevice");
        if (m && !dbus_message_append_args(m, DBUS_TYPE_OBJECT_PATH, &path, DBUS_TYPE_INVALID)) {
                dbus_message_unref(m);
                m = NULL;
        }
        dbus_call_async(d->conn, m, 10000, on_stranger_removed, d, NULL);
}

static void send_pair(struct daemon *d)
{
        struct device *dev = bluez_device_by_address(d, d->pairing);
        DBusMessage *m;

        if (d->pair_called_off) {
                finish_pair(d, NULL, NULL);
                return;
        }
        if (!dev) {
                finish_pair(d, ERR_PREFIX "NotFound", "the device went away while pairing");
                return;
        }
        m = dbus_message_new_method_call(BLUEZ_SERVICE, dev->path, "org.bluez.Device1", "Pair");
        if (dbus_call_async(d->conn, m, PAIR_TIMEOUT_MS, on_pair_reply, d, &d->pair_pending) < 0) {
                finish_pair(d, ERR_PREFIX "Failed", "cannot reach bluetoothd");
                return;
        }
        log_info("pairing with %s", dev->address);
}

static void on_pairable_on(DBusMessage *reply, const DBusError *err, void *ud)
{
        struct daemon *d = ud;

        if (d->pair_pending)
                dbus_pending_call_unref(d->pair_pending);
        d->pair_pending = NULL;
        if (!reply) {
                /* the pairing may still work, but the kernel will not keep
                 * the key of a speaker that does not ask for bonding */
                log_warn("cannot make %s pairable for the pairing: %s", d->pairable_adapter,
                         err->message);
                d->pairable_adapter[0] = '\0';
        }
        send_pair(d);
}

static void on_register_reply(DBusMessage *reply, const DBusError *err, void *ud)
{
        struct daemon *d = ud;
        char text[256];

        dbus_pending_call_unref(d->pair_pending);
        d->pair_pending = NULL;
        if (!reply && !dbus_error_has_name(err, "org.bluez.Error.AlreadyExists")) {
                d->agent_reg = REG_NONE;
                snprintf(text, sizeof(text), "BlueZ refused our pairing agent: %s", err->message);
                log_err("%s", text);
                finish_pair(d, ERR_PREFIX "Failed", text);
                return;
        }
        d->agent_reg = REG_DONE;
        /* BlueZ makes the adapter bondable for its first agent; Pairable is
         * set all the same, for when another agent is the default one */
        if (d->pairable_adapter[0]) {
                set_pairable(d, d->pairable_adapter, true, on_pairable_on);
                return;
        }
        send_pair(d);
}

void agent_call_off_connect(struct daemon *d)
{
        struct device *dev = bluez_device_by_address(d, d->pairing);

        if (!d->pair_call || !d->pair_done || d->pair_called_off)
                return;
        d->pair_called_off = true;
        /* Once the key is stored (Bonded: 5.66 says it at once, Paired
         * only after the service search that comes before the Pair's
         * reply), CancelPairing finds no bonding under way and has the
         * kernel drop the key of a bond bluetoothd still lists: the bond
         * stays and only the connection is called off. Not sent yet,
         * BlueZ says DoesNotExist and send_pair stops. */
        if (dev && !dev->paired && !dev->bonded) {
                bluez_device_call(d, dev, "org.bluez.Device1", "CancelPairing");
                log_info("cancelling the pairing with %s", d->pairing);
        }
}

void agent_pair(struct daemon *d, struct device *dev, DBusMessage *call, agent_pair_done_fn done)
{
        struct adapter *a = bluez_adapter_by_path(d, dev->adapter);
        const char *path = AGENT_PATH, *cap = AGENT_CAPABILITY;
        DBusMessage *m;

        d->pair_call = dbus_message_ref(call);
        d->pair_done = done;
        snprintf(d->pairing, sizeof(d->pairing), "%s", dev->address);
        if (dev->paired) {
                paired(d, dev);
                return;
        }
        /* we open the window only if it was shut: closed again after */
        if (a && !a->pairable)
                snprintf(d->pairable_adapter, sizeof(d->pairable_adapter), "%s", a->path);
        m = dbus_message_new_method_call(BLUEZ_SERVICE, "/org/bluez", "org.bluez.AgentManager1",
                                         "RegisterAgent");
        if (m && !dbus_message_append_args(m, DBUS_TYPE_OBJECT_PATH, &path, DBUS_TYPE_STRING, &cap,
                                           DBUS_TYPE_INVALID)) {
                dbus_message_unref(m);
                m = NULL;
        }
        if (dbus_call_async(d->conn, m, 5000, on_register_reply, d, &d->pair_pending) < 0) {
                finish_pair(d, ERR_PREFIX "Failed", "cannot reach bluetoothd");
                return;
        }
        d->agent_reg = REG_PENDING;
}
