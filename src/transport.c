/* org.bluez.MediaTransport1: the configured A2DP stream to one speaker.
 * Created by SetConfiguration, acquired for a socket when audio goes to
 * Bluetooth, released when it stops, removed by ClearConfiguration or
 * InterfacesRemoved. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "daemon.h"
#include "dbus-util.h"
#include "log.h"

#define IFACE_TRANSPORT "org.bluez.MediaTransport1"

/* How long an answer to our SetAbsoluteVolume is awaited: a round trip
 * is some 10 to 300 ms */
#define VOLUME_ANSWER_US 2000000ull
/* A speaker with fewer steps than AVRCP's 128 answers with the step it
 * took: within half a step of 16-step speakers' 8, truncating or not */
#define VOLUME_ROUNDING 7

/* On a first connect 5.66's Acquire waits for AVDTP OPEN and then START,
 * each allowed avdtp.c's REQ_TIMEOUT of 6 s: both, with a margin */
#define ACQUIRE_TIMEOUT_MS 20000

struct transport *transport_by_path(struct daemon *d, const char *path)
{
        for (struct transport *t = d->transports; t; t = t->next)
                if (strcmp(t->path, path) == 0)
                        return t;
        return NULL;
}

struct transport *transport_of_device(struct daemon *d, const struct device *dev)
{
        if (!dev)
                return NULL;
        for (struct transport *t = d->transports; t; t = t->next)
                if (strcmp(t->device, dev->path) == 0)
                        return t;
        return NULL;
}

static int parse_state(const char *s, enum transport_state *out)
{
        if (strcmp(s, "idle") == 0)
                *out = TRANSPORT_IDLE;
        else if (strcmp(s, "pending") == 0)
                *out = TRANSPORT_PENDING;
        else if (strcmp(s, "active") == 0)
                *out = TRANSPORT_ACTIVE;
        else
                return -EINVAL;
        return 0;
}

struct config_parse {
        struct transport *t;
        bool have_config, have_codec, have_uuid;
        uint8_t codec_id;
        char *err;
        size_t err_len;
};

static int config_prop(const char *key, DBusMessageIter *v, void *ud)
{
        struct config_parse *cp = ud;
        struct transport *t = cp->t;
        const char *s;
        uint8_t y;
        uint16_t q;

        if (strcmp(key, "Device") == 0) {
                if (dbus_variant_get_basic(v, DBUS_TYPE_OBJECT_PATH, &s) < 0)
                        goto bad;
                snprintf(t->device, sizeof(t->device), "%s", s);
        } else if (strcmp(key, "UUID") == 0) {
                if (dbus_variant_get_basic(v, DBUS_TYPE_STRING, &s) < 0)
                        goto bad;
                /* BlueZ reports the local endpoint's UUID: ours, the source */
                if (strcasecmp(s, A2DP_SOURCE_UUID) != 0) {
                        snprintf(cp->err, cp->err_len, "UUID %s is not the A2DP source", s);
                        return -EINVAL;
                }
                cp->have_uuid = true;
        } else if (strcmp(key, "Codec") == 0) {
                if (dbus_variant_get_basic(v, DBUS_TYPE_BYTE, &y) < 0)
                        goto bad;
                cp->codec_id = y;
                cp->have_codec = true;
        } else if (strcmp(key, "Configuration") == 0) {
                const uint8_t *b;
                int n;
                if (dbus_iter_get_bytes(v, false, &b, &n) < 0)
                        goto bad;
                if (n <= 0 || (size_t)n > sizeof(t->config)) {
                        snprintf(cp->err, cp->err_len, "configuration: %d bytes, at most %zu taken", n,
                                 sizeof(t->config));
                        return -EINVAL;
                }
                memcpy(t->config, b, (size_t)n);
                t->config_len = (size_t)n;
                cp->have_config = true;
        } else if (strcmp(key, "State") == 0) {
                if (dbus_variant_get_basic(v, DBUS_TYPE_STRING, &s) < 0 || parse_state(s, &t->state) < 0)
                        goto bad;
        } else if (strcmp(key, "Delay") == 0) {
                if (dbus_variant_get_basic(v, DBUS_TYPE_UINT16, &q) < 0)
                        goto bad;
                t->delay = q;
                t->has_delay = true;
        } else if (strcmp(key, "Volume") == 0) {
                if (dbus_variant_get_basic(v, DBUS_TYPE_UINT16, &q) < 0 || q > 127)
                        goto bad;
                t->volume = q;
                t->has_volume = true;
        }
        /* other properties (Endpoint, Links, ...) are not ours to judge */
        return 0;
bad:
        snprintf(cp->err, cp->err_len, "property %s has the wrong type or value", key);
        return -EINVAL;
}

int transport_parse_properties(DBusMessageIter *props, struct transport *t, char *err, size_t err_len)
{
        struct config_parse cp = { .t = t, .err = err, .err_len = err_len };

        err[0] = '\0';
        if (dbus_dict_foreach(props, config_prop, &cp) < 0) {
                if (!err[0])
                        snprintf(err, err_len, "properties are not a{sv}");
                return -EINVAL;
        }
        if (!cp.have_config || !t->device[0]) {
                snprintf(err, err_len, "missing %s", !cp.have_config ? "Configuration" : "Device");
                return -EINVAL;
        }
        /* Codec and UUID are optional in the call; the endpoint tells the
         * codec, and a Codec that is not its own is refused */
        if (!t->codec && cp.have_codec)
                for (unsigned i = 0; !t->codec && i < CODEC_COUNT; i++)
                        if (a2dp_codec_matches(a2dp_codecs[i], cp.codec_id, t->config, t->config_len))
                                t->codec = a2dp_codecs[i];
        if (!t->codec && !cp.have_codec)
                t->codec = a2dp_codecs[CODEC_SBC];
        if (!t->codec || (cp.have_codec &&
                          !a2dp_codec_matches(t->codec, cp.codec_id, t->config, t->config_len))) {
                snprintf(err, err_len, "codec 0x%02x is not %s", cp.codec_id,
                         t->codec ? t->codec->label : "a codec a2dpsrc has");
                return -EINVAL;
        }
        return t->codec->parse(t->config, t->config_len, &t->info, err, err_len) < 0 ? -EINVAL : 0;
}

void transport_describe(const struct transport *t, unsigned level, char *buf, size_t len)
{
        t->codec->describe(t->config, t->config_len, level, buf, len);
}

int transport_create(struct daemon *d, const char *path, const struct a2dp_codec *codec, bool spare,
                     DBusMessageIter *props, char *err, size_t err_len)
{
        struct transport *t;

        if (strlen(path) >= PATH_LEN) {
                snprintf(err, err_len, "transport path too long");
                return -EINVAL;
        }
        if (transport_by_path(d, path)) {
                snprintf(err, err_len, "transport %s is already configured", path);
                return -EEXIST;
        }
        t = calloc(1, sizeof(*t));
        if (!t) {
                snprintf(err, err_len, "out of memory");
                return -ENOMEM;
        }
        t->fd = -1;
        t->daemon = d;
        snprintf(t->path, sizeof(t->path), "%s", path);
        t->codec = codec;
        t->spare = spare;       /* before anyone hears of it */
        if (transport_parse_properties(props, t, err, err_len) < 0)
                goto fail;
        t->next = d->transports;
        d->transports = t;
        /* bluetoothd 5.66 asks SelectConfiguration with the speaker's
         * capabilities right before this SetConfiguration; a speaker that
         * configures the stream itself sends none */
        if (d->have_offered_caps && d->offered_codec == codec) {
                memcpy(t->offered, d->offered_caps, d->offered_caps_len);
                t->offered_len = d->offered_caps_len;
                t->has_offered = true;
        }
        d->have_offered_caps = false;
        {
                char desc[96];
                transport_describe(t, 0, desc, sizeof(desc));
                log_info("transport %s configured: %s%s%s", path, desc,
                         t->has_volume ? ", absolute volume" : "", t->spare ? " (on a spare endpoint)" : "");
        }
        speaker_transport_configured(d, t);
        output_transport_added(d, t);
        return 0;
fail:
        free(t);
        return -EINVAL;
}

static void close_fd(struct transport *t)
{
        if (t->fd >= 0 && close(t->fd) < 0)
                log_warn("closing transport socket: %s", strerror(errno));
        t->fd = -1;
}

void transport_remove(struct daemon *d, struct transport *t)
{
        char device[PATH_LEN];

        snprintf(device, sizeof(device), "%s", t->device);
        output_transport_removing(d, t);
        sd_event_source_disable_unref(t->acquire_timer);
        t->acquire_timer = NULL;
        dbus_call_cancel(&t->call);
        close_fd(t);
        for (struct transport **pp = &d->transports; *pp; pp = &(*pp)->next) {
                if (*pp == t) {
                        *pp = t->next;
                        break;
                }
        }
        free(t);
        bluez_report_transport_gone(d, device);
}

static int changed_prop(const char *key, DBusMessageIter *v, void *ud)
{
        struct transport *t = ud;
        const char *s;
        uint16_t q;

        if (strcmp(key, "State") == 0 && dbus_variant_get_basic(v, DBUS_TYPE_STRING, &s) == 0) {
                enum transport_state st;
                if (parse_state(s, &st) == 0) {
                        t->state = st;
                        t->state_announced = true;
                }
        } else if (strcmp(key, "Delay") == 0 && dbus_variant_get_basic(v, DBUS_TYPE_UINT16, &q) == 0) {
                t->delay = q;
                t->has_delay = true;
        } else if (strcmp(key, "Volume") == 0 && dbus_variant_get_basic(v, DBUS_TYPE_UINT16, &q) == 0 &&
                   q <= 127) {
                t->volume_appeared |= !t->has_volume;
                t->volume = q;
                t->has_volume = true;
                t->volume_changed = true;
        }
        return 0;
}

void transport_parse_changed(DBusMessageIter *changed, struct transport *t)
{
        dbus_dict_foreach(changed, changed_prop, t);
}

/* Where v is among the volumes we asked the speaker for that it has not
 * answered yet, oldest first; -1 if not there. A speaker answers
 * SetAbsoluteVolume within a round trip: older writes are forgotten. */
static int volume_asked(struct daemon *d, struct transport *t, uint16_t v)
{
        uint64_t now = 0;

        sd_event_now(d->event, CLOCK_MONOTONIC, &now);
        if (now - t->volume_asked_at > VOLUME_ANSWER_US)
                t->volume_asked_n = 0;
        for (unsigned i = t->volume_asked_n; i-- > 0;)
                if (t->volume_asked[i] == v)
                        return (int)i;
        return -1;
}

/* The write of ours that the speaker's report v answers: the nearest to
 * it, the newer of two as near (v itself, or the step the speaker took
 * for it: it rounds to its steps); -1 if none is near. */
static int volume_answered(struct daemon *d, struct transport *t, uint16_t v)
{
        int best = -1, best_diff = VOLUME_ROUNDING + 1;

        (void)volume_asked(d, t, v);    /* forgets writes too old to be answered */
        for (unsigned j = t->volume_asked_n; j-- > 0;) {
                int diff = abs((int)t->volume_asked[j] - (int)v);

                if (diff < best_diff) {
                        best = (int)j;
                        best_diff = diff;
                }
        }
        return best;
}

void transport_properties_changed(struct daemon *d, struct transport *t, DBusMessageIter *changed)
{
        enum transport_state before = t->state;

        t->state_announced = false;
        transport_parse_changed(changed, t);
        /* 5.66 changes Volume when the speaker answers our write as well
         * as when its buttons move: an answer is no button. One to a write
         * superseded since arrives after the newer was asked (and a newer
         * equal to the Volume shown then was never sent at all): taken for
         * a button it pulled our volume back to the older value */
        if (t->volume_changed && !t->volume_appeared) {
                int i = volume_answered(d, t, t->volume);
                unsigned left = i < 0 ? 0 : t->volume_asked_n - (unsigned)i - 1;

                /* answers come in order, and gdbus sends those read in one
                 * main-loop turn as one change: the older are in it. The
                 * speaker moving on (its buttons) ends the wait for all */
                if (i >= 0)
                        t->volume_answered = t->volume_asked[i];
                memmove(t->volume_asked, t->volume_asked + t->volume_asked_n - left, left);
                t->volume_asked_n = left;
                if (i >= 0) {
                        t->volume_changed = false;
                        t->volume_answer = true;
                }
        }
        /* 5.66 has Delay only while it is not 0: a report of 0 takes it
         * away, and the speaker is one that reports none */
        if (dbus_invalidated_has(changed, "Delay")) {
                t->has_delay = false;
                t->delay = 0;
        }
        if (t->state != before)
                log_debug("transport %s state %d -> %d", t->path, before, t->state);
        output_transport_changed(d, t);
}

/* What an Acquire gave, or may still give, is given back: BlueZ keeps us
 * as the owner of a started stream, and every later Acquire would be
 * NotAuthorized. fd -1: no answer in time (NoReply); the START may still
 * complete and make us the owner, and 5.66's Release cancels a request
 * still pending or suspends the stream it started. */
static void give_back(struct daemon *d, struct transport *t, int fd)
{
        t->fd = fd;
        t->acq = ACQ_HELD;
        transport_release(d, t, false);
}

/* An Acquire that succeeded with a socket we cannot use */
static void refuse_acquired(struct daemon *d, struct transport *t, int fd, const char *why)
{
        give_back(d, t, fd);
        output_acquire_failed(d, t, why, false);
}

/* Socket set-up for low, bounded latency: a send buffer of a few packets
 * (what sits in the kernel is latency we cannot take back) and the audio
 * priority class, as BlueZ peers use. The sender sizes the buffer in
 * packets once it knows what one costs (sender.c). */
static void tune_socket(int fd, unsigned write_mtu)
{
        int sndbuf = (int)write_mtu * 3;
        int prio = 6;

        if (setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf)) < 0)
                log_warn("SO_SNDBUF on the transport: %s", strerror(errno));
        if (setsockopt(fd, SOL_SOCKET, SO_PRIORITY, &prio, sizeof(prio)) < 0)
                log_warn("SO_PRIORITY on the transport: %s", strerror(errno));
}

static void on_acquire_reply(DBusMessage *reply, const DBusError *err, void *ud)
{
        struct transport *t = ud;
        struct daemon *d = t->daemon;
        int fd = -1, flags;
        uint16_t read_mtu = 0, write_mtu = 0;
        DBusError derr;

        dbus_pending_call_unref(t->call);
        t->call = NULL;
        if (t->release_on_reply) {
                /* no longer wanted: what BlueZ gave is given back */
                t->release_on_reply = false;
                t->acq = ACQ_NONE;
                if (reply && dbus_message_get_args(reply, NULL, DBUS_TYPE_UNIX_FD, &fd,
                                                   DBUS_TYPE_INVALID))
                        give_back(d, t, fd);
                else if (!reply && dbus_error_has_name(err, DBUS_ERROR_NO_REPLY))
                        give_back(d, t, -1);
                return;
        }
        if (!reply) {
                t->acq = ACQ_NONE;
                if (dbus_error_has_name(err, DBUS_ERROR_NO_REPLY))
                        give_back(d, t, -1);
                output_acquire_failed(d, t, err->message ? err->message : err->name, true);
                return;
        }
        dbus_error_init(&derr);
        if (!dbus_message_get_args(reply, &derr, DBUS_TYPE_UNIX_FD, &fd, DBUS_TYPE_UINT16, &read_mtu,
                                   DBUS_TYPE_UINT16, &write_mtu, DBUS_TYPE_INVALID)) {
                t->acq = ACQ_NONE;
                log_err("Acquire %s: unexpected reply (%s): %s", t->path,
                        dbus_message_get_signature(reply), derr.message);
                dbus_error_free(&derr);
                output_acquire_failed(d, t, "malformed Acquire reply", false);
                return;
        }
        close_fd(t);
        if (write_mtu <= 13) {
                /* BlueZ started the stream and counts us as its owner: give
                 * it back, or every later Acquire is NotAuthorized */
                refuse_acquired(d, t, fd, "write MTU too small for A2DP");
                return;
        }
        flags = fcntl(fd, F_GETFL);
        if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0 ||
            fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
                log_err("transport socket flags: %s", strerror(errno));
                refuse_acquired(d, t, fd, "bad transport socket");
                return;
        }
        tune_socket(fd, write_mtu);
        t->fd = fd;
        t->read_mtu = read_mtu;
        t->write_mtu = write_mtu;
        t->acq = ACQ_HELD;
        log_info("acquired %s: fd %d, MTU read %u write %u", t->path, fd, read_mtu, write_mtu);
        output_acquired(d, t);
}

int transport_acquire(struct daemon *d, struct transport *t)
{
        /* TryAcquire only works while the speaker has started the stream;
         * otherwise Acquire asks BlueZ to start it */
        const char *method = t->state == TRANSPORT_PENDING ? "TryAcquire" : "Acquire";
        DBusMessage *m;
        int r;

        if (t->acq == ACQ_REQUESTED && t->release_on_reply) {
                t->release_on_reply = false;    /* wanted again after all */
                return 0;
        }
        if (t->acq != ACQ_NONE)
                return 0;
        dbus_call_cancel(&t->call);    /* a Release still in flight needs no answer */
        m = dbus_message_new_method_call(BLUEZ_SERVICE, t->path, IFACE_TRANSPORT, method);
        r = dbus_call_async(d->conn, m, ACQUIRE_TIMEOUT_MS, on_acquire_reply, t, &t->call);
        if (r < 0)
                return r;
        t->acq = ACQ_REQUESTED;
        log_debug("%s %s", method, t->path);
        return 0;
}

static void on_release_reply(DBusMessage *reply, const DBusError *err, void *ud)
{
        struct transport *t = ud;

        dbus_pending_call_unref(t->call);
        t->call = NULL;
        if (!reply)
                log_debug("Release %s: %s", t->path, err->message);
}

void transport_release(struct daemon *d, struct transport *t, bool wait)
{
        DBusMessage *m;

        if (t->acq == ACQ_NONE)
                return;
        if (t->acq == ACQ_REQUESTED && !wait) {
                /* BlueZ 5.66 answers Release InProgress while a TryAcquire
                 * is pending, and then completes it; a pending Acquire it
                 * cancels, which aborts the stream (a2dp_cancel with no
                 * other caller waiting: avdtp_abort), and the speaker must
                 * be connected again. Wait for either, and give it back */
                t->release_on_reply = true;
                return;
        }
        dbus_call_cancel(&t->call);
        close_fd(t);
        t->acq = ACQ_NONE;
        m = dbus_message_new_method_call(BLUEZ_SERVICE, t->path, IFACE_TRANSPORT, "Release");
        if (!m)
                return;
        if (wait) {
                /* shutting down: no main loop will run to see the reply */
                DBusError err;
                DBusMessage *reply;

                dbus_error_init(&err);
                reply = dbus_connection_send_with_reply_and_block(d->conn, m, 1000, &err);
                dbus_message_unref(m);
                if (reply)
                        dbus_message_unref(reply);
                else
                        log_warn("Release %s: %s", t->path, err.message);
                dbus_error_free(&err);
                return;
        }
        if (dbus_call_async(d->conn, m, 5000, on_release_reply, t, &t->call) < 0)
                log_warn("cannot send Release for %s", t->path);
}

static void on_volume_reply(DBusMessage *reply, const DBusError *err, void *ud)
{
        if (!reply)
                log_warn("setting the speaker's volume failed: %s", err->message);
}

void transport_set_volume(struct daemon *d, struct transport *t, uint16_t volume)
{
        DBusMessage *m;

        if (volume > 127)
                return;
        if (t->volume_asked_n && volume_asked(d, t, volume) == (int)t->volume_asked_n - 1)
                return;         /* asked last already: its answer is on the way */
        m = dbus_new_set_property(BLUEZ_SERVICE, t->path, IFACE_TRANSPORT, "Volume", DBUS_TYPE_UINT16,
                                  &volume);
        /* the reply carries nothing we wait on; the transport's
         * PropertiesChanged confirms the new volume */
        if (!m || dbus_call_async(d->conn, m, 5000, on_volume_reply, NULL, NULL) < 0) {
                log_warn("cannot send the volume to %s", t->path);
                return;
        }
        if (t->volume_asked_n == sizeof(t->volume_asked)) {
                memmove(t->volume_asked, t->volume_asked + 1, sizeof(t->volume_asked) - 1);
                t->volume_asked_n--;
        }
        t->volume_asked[t->volume_asked_n++] = (uint8_t)volume;
        sd_event_now(d->event, CLOCK_MONOTONIC, &t->volume_asked_at);
}
