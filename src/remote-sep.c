/* The speaker's own stream end points (org.bluez.MediaEndpoint1 on
 * …/dev_XX/sepN, BlueZ >= 5.52): reconfiguring a running stream to another
 * configuration: the capture's own rate (output.c), or another codec
 * through another of the speaker's SEPs (codec-control.c). BlueZ closes the
 * stream (ClearConfiguration of the old transport) and configures the pair
 * again (SetConfiguration with a new transport, no SelectConfiguration).
 * One request at a time; the callers rate-limit (rapid repeats have been
 * seen to drop the A2DP profile). */
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
static void device_lost_stream(struct daemon *d, const char *device)
{
        for (struct transport *t = d->transports; t; t = t->next)
                if (strcmp(t->device, device) == 0)
                        return;
        speaker_link_lost(d, device);
        multi_output_stream_lost(d, device);
}

/* The request is over: its caller hears how (err 0: configured). */
static void finish(struct daemon *d, int err, const char *why)
{
        remote_sep_done_fn done = d->reconfig_done;

        d->reconfig_done = NULL;
        if (done)
                done(d, err, why, d->reconfig_ud);
}

static void on_set_reply(DBusMessage *reply, const DBusError *err, void *ud)
{
        struct daemon *d = ud;
        char device[sizeof(d->reconfig_device)];

        dbus_pending_call_unref(d->reconfig_call);
        d->reconfig_call = NULL;
        /* the caller, told first, may start another request */
        memcpy(device, d->reconfig_device, sizeof(device));
        if (reply) {
                log_info("%s reconfigured at %u Hz (%s)", d->reconfig_sep, d->reconfig_rate,
                         d->reconfig_codec->label);
                finish(d, 0, NULL);
                return;
        }
        log_warn("reconfiguring %s (%s) failed: %s", d->reconfig_sep, d->reconfig_codec->label,
                 err->message ? err->message : err->name);
        finish(d, -EIO, err->message ? err->message : err->name);
        device_lost_stream(d, device);
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
        /* a codec switch takes the capture's rate where it can */
        struct codec_prefs prefs = { .rate = d->reconfig_rate ? d->reconfig_rate : d->capture_rate };
        struct codec_info info;
        const struct a2dp_codec *c = d->reconfig_codec;
        char why[160] = "";
        int len, n;

        dbus_pending_call_unref(d->reconfig_call);
        d->reconfig_call = NULL;
        if (!reply) {
                log_warn("cannot read the capabilities of %s: %s", d->reconfig_sep,
                         err->message ? err->message : err->name);
                finish(d, -EIO, err->message ? err->message : err->name);
                return;
        }
        if (!dbus_message_iter_init(reply, &it) || dbus_iter_get_bytes(&it, true, &caps, &len) < 0) {
                log_warn("%s: Capabilities is not a byte array", d->reconfig_sep);
                finish(d, -EINVAL, "the speaker's capabilities are not a byte array");
                return;
        }
        prefs.no_xq = false;    /* the stream is SBC-XQ already, or the user asked for it */
        n = c->select(caps, (size_t)len, &prefs, config, sizeof(config), why, sizeof(why));
        if (n <= 0 || c->parse(config, (size_t)n, &info, why, sizeof(why)) < 0) {
                log_warn("%s: %s", d->reconfig_sep, why[0] ? why : "no configuration");
                finish(d, -ENOTSUP, why[0] ? why : "no configuration fits the speaker's capabilities");
                return;
        }
        if (d->reconfig_rate && info.rate != d->reconfig_rate) {
                log_info("%s does not take %u Hz in %s", d->reconfig_sep, d->reconfig_rate, c->label);
                finish(d, -ENOTSUP, "the speaker does not take the rate");
                return;
        }
        log_notice("reconfiguring %s: %s at %u Hz", d->reconfig_sep, c->label, info.rate);
        d->reconfig_rate = info.rate;   /* from here on: the rate asked */
        if (send_set(d, config, (size_t)n) < 0) {
                log_err("cannot send SetConfiguration to %s", d->reconfig_sep);
                finish(d, -ENOMEM, "cannot send SetConfiguration");
        }
}

int remote_sep_configure(struct daemon *d, const struct transport *t, const char *sep,
                         const struct a2dp_codec *c, unsigned rate, remote_sep_done_fn done, void *ud)
{
        const char *iface = IFACE_ENDPOINT, *prop = "Capabilities";
        size_t devlen = strlen(t->device);
        struct adapter *owner = NULL;
        const char *slash;
        DBusMessage *m;

        if (d->reconfig_call)
                return -EBUSY;
        if (!sep) {
                /* …/dev_XX/sepN/fdM: the stream's remote SEP is the parent */
                slash = strrchr(t->path, '/');
                if (strncmp(t->path, t->device, devlen) != 0 ||
                    strncmp(t->path + devlen, "/sep", 4) != 0 || !slash || slash <= t->path + devlen ||
                    (size_t)(slash - t->path) >= sizeof(d->reconfig_sep))
                        return -ENOENT;
                snprintf(d->reconfig_sep, sizeof(d->reconfig_sep), "%.*s", (int)(slash - t->path),
                         t->path);
        } else {
                if (strncmp(sep, t->device, devlen) != 0 || strncmp(sep + devlen, "/sep", 4) != 0 ||
                    strlen(sep) >= sizeof(d->reconfig_sep))
                        return -ENOENT;
                snprintf(d->reconfig_sep, sizeof(d->reconfig_sep), "%s", sep);
        }
        for (struct adapter *a = d->adapters; a; a = a->next) {
                size_t n = strlen(a->path);
                if (strncmp(t->device, a->path, n) == 0 && t->device[n] == '/')
                        owner = a;
        }
        if (!owner || owner->reg != REG_DONE)
                return -ENOENT;
        if (endpoint_path_idle(d, owner, c, t, d->reconfig_endpoint, sizeof(d->reconfig_endpoint)) < 0)
                return -EADDRINUSE;     /* the other speaker has both of c's */
        snprintf(d->reconfig_device, sizeof(d->reconfig_device), "%s", t->device);
        d->reconfig_codec = c;
        d->reconfig_rate = rate;
        m = dbus_message_new_method_call(BLUEZ_SERVICE, d->reconfig_sep, DBUS_INTERFACE_PROPERTIES,
                                         "Get");
        if (!m || !dbus_message_append_args(m, DBUS_TYPE_STRING, &iface, DBUS_TYPE_STRING, &prop,
                                            DBUS_TYPE_INVALID)) {
                if (m)
                        dbus_message_unref(m);
                return -ENOMEM;
        }
        d->reconfig_done = done;
        d->reconfig_ud = ud;
        return dbus_call_async(d->conn, m, 5000, on_caps_reply, d, &d->reconfig_call);
}

int remote_sep_reconfigure(struct daemon *d, const struct transport *t, unsigned rate)
{
        return remote_sep_configure(d, t, NULL, t->codec, rate, NULL, NULL);
}

bool remote_sep_busy_for(const struct daemon *d, const char *device_path)
{
        return d->reconfig_call && strcmp(device_path, d->reconfig_device) == 0;
}

bool remote_sep_busy_on(const struct daemon *d, const struct transport *t)
{
        return remote_sep_busy_for(d, t->device);
}

void remote_sep_cancel(struct daemon *d)
{
        dbus_call_cancel(&d->reconfig_call);
        finish(d, -ECANCELED, "the stream was stopped");
}
