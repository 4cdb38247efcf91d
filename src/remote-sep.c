/* The speaker's own stream end point (org.bluez.MediaEndpoint1 on
 * …/dev_XX/sepN, BlueZ >= 5.52): reconfiguring a running stream to another
 * configuration, here the capture's own rate. BlueZ closes the stream
 * (ClearConfiguration of the old transport) and configures the pair again
 * (SetConfiguration with a new transport, no SelectConfiguration). One
 * request at a time; the caller rate-limits (rapid repeats have been seen
 * to drop the A2DP profile). */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "daemon.h"
#include "dbus-util.h"
#include "log.h"

#define IFACE_ENDPOINT "org.bluez.MediaEndpoint1"

/* BlueZ 5.66 closes the running stream before it configures the new one
 * (a2dp_reconfig) and reopens nothing when that fails: the speaker stays
 * connected with no stream. Once the device has no transport left, it is
 * brought back as after a lost link; a refusal that closed nothing leaves
 * the old transport, and the stream goes on. */
static void device_lost_stream(struct daemon *d)
{
        char dev[PATH_LEN];
        char *slash;
        size_t len;

        snprintf(dev, sizeof(dev), "%s", d->reconfig_sep);
        slash = strrchr(dev, '/');
        if (!slash)
                return;
        *slash = '\0';
        len = strlen(dev);
        for (struct transport *t = d->transports; t; t = t->next)
                if (strncmp(t->path, dev, len) == 0 && t->path[len] == '/')
                        return;
        speaker_link_lost(d, dev);
}

static void on_set_reply(DBusMessage *reply, const DBusError *err, void *ud)
{
        struct daemon *d = ud;

        dbus_pending_call_unref(d->reconfig_call);
        d->reconfig_call = NULL;
        if (reply) {
                log_info("%s reconfigured at %u Hz", d->reconfig_sep, d->reconfig_rate);
                return;
        }
        log_warn("reconfiguring %s at %u Hz failed: %s", d->reconfig_sep, d->reconfig_rate,
                 err->message ? err->message : err->name);
        device_lost_stream(d);
}

static int send_set(struct daemon *d, const uint8_t *config, size_t len)
{
        DBusMessage *m = dbus_message_new_method_call(BLUEZ_SERVICE, d->reconfig_sep,
                                                      IFACE_ENDPOINT, "SetConfiguration");
        const char *ep = d->reconfig_endpoint;
        DBusMessageIter it, dict;

        if (!m)
                return -ENOMEM;
        dbus_message_iter_init_append(m, &it);
        if (!dbus_message_iter_append_basic(&it, DBUS_TYPE_OBJECT_PATH, &ep) ||
            !dbus_message_iter_open_container(&it, DBUS_TYPE_ARRAY, "{sv}", &dict) ||
            !dbus_dict_append_bytes(&dict, "Capabilities", config, (int)len) ||
            !dbus_message_iter_close_container(&it, &dict)) {
                dbus_message_unref(m);
                return -ENOMEM;
        }
        /* BlueZ answers once the new stream is configured */
        return dbus_call_async(d->conn, m, 10000, on_set_reply, d, &d->reconfig_call);
}

static void on_caps_reply(DBusMessage *reply, const DBusError *err, void *ud)
{
        struct daemon *d = ud;
        DBusMessageIter it;
        const uint8_t *caps;
        uint8_t config[A2DP_CODEC_BLOB_MAX];
        struct codec_prefs prefs = { .rate = d->reconfig_rate };
        struct codec_info info;
        const struct a2dp_codec *c = d->reconfig_codec;
        char why[160] = "";
        int len, n;

        dbus_pending_call_unref(d->reconfig_call);
        d->reconfig_call = NULL;
        if (!reply) {
                log_warn("cannot read the capabilities of %s: %s", d->reconfig_sep,
                         err->message ? err->message : err->name);
                return;
        }
        if (!dbus_message_iter_init(reply, &it) || dbus_iter_get_bytes(&it, true, &caps, &len) < 0) {
                log_warn("%s: Capabilities is not a byte array", d->reconfig_sep);
                return;
        }
        prefs.no_xq = false;    /* the stream is SBC-XQ already, or another codec */
        n = c->select(caps, (size_t)len, &prefs, config, sizeof(config), why, sizeof(why));
        if (n <= 0 || c->parse(config, (size_t)n, &info, why, sizeof(why)) < 0) {
                log_warn("%s: %s", d->reconfig_sep, why[0] ? why : "no configuration");
                return;
        }
        if (info.rate != d->reconfig_rate) {
                log_info("the speaker does not take %u Hz: the capture stays converted",
                         d->reconfig_rate);
                return;
        }
        log_notice("reconfiguring %s at the capture's own rate, %u Hz", d->reconfig_sep,
                   d->reconfig_rate);
        if (send_set(d, config, (size_t)n) < 0)
                log_err("cannot send SetConfiguration to %s", d->reconfig_sep);
}

int remote_sep_reconfigure(struct daemon *d, const struct transport *t, unsigned rate)
{
        const char *iface = IFACE_ENDPOINT, *prop = "Capabilities";
        size_t devlen = strlen(t->device);
        struct adapter *owner = NULL;
        const char *slash;
        DBusMessage *m;

        if (d->reconfig_call)
                return -EBUSY;
        /* …/dev_XX/sepN/fdM: the stream's remote SEP is the parent */
        slash = strrchr(t->path, '/');
        if (strncmp(t->path, t->device, devlen) != 0 || strncmp(t->path + devlen, "/sep", 4) != 0 ||
            !slash || slash <= t->path + devlen || (size_t)(slash - t->path) >= sizeof(d->reconfig_sep))
                return -ENOENT;
        for (struct adapter *a = d->adapters; a; a = a->next) {
                size_t n = strlen(a->path);
                if (strncmp(t->device, a->path, n) == 0 && t->device[n] == '/')
                        owner = a;
        }
        if (!owner || owner->reg != REG_DONE)
                return -ENOENT;
        snprintf(d->reconfig_sep, sizeof(d->reconfig_sep), "%.*s", (int)(slash - t->path), t->path);
        endpoint_path(owner, t->codec, d->reconfig_endpoint, sizeof(d->reconfig_endpoint));
        d->reconfig_codec = t->codec;
        d->reconfig_rate = rate;
        m = dbus_message_new_method_call(BLUEZ_SERVICE, d->reconfig_sep, DBUS_INTERFACE_PROPERTIES,
                                         "Get");
        if (!m || !dbus_message_append_args(m, DBUS_TYPE_STRING, &iface, DBUS_TYPE_STRING, &prop,
                                            DBUS_TYPE_INVALID)) {
                if (m)
                        dbus_message_unref(m);
                return -ENOMEM;
        }
        return dbus_call_async(d->conn, m, 5000, on_caps_reply, d, &d->reconfig_call);
}

void remote_sep_cancel(struct daemon *d)
{
        dbus_call_cancel(&d->reconfig_call);
}
