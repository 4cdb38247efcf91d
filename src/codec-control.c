/* Manager1's codec controls (issue #12, docs/codecs.md):
 *  - SetCodec(s) switches the running stream to another codec through the
 *    speaker's own stream end point (remote-sep.c), at most once every
 *    SWITCH_MIN_US;
 *  - Codecs (as, saved) restricts the codecs offered within --codecs. BlueZ
 *    5.66 reads our endpoints only when we register, so a change registers
 *    them again; while a speaker streams that waits for its stream to end
 *    (registering again would close it), the endpoints Codecs removed
 *    refuse BlueZ meanwhile, and a stream on a removed codec is switched to
 *    the best codec left;
 *  - GetDevices' Codecs: what a speaker offers, from its sepN objects;
 *  - a speaker whose codec was chosen to join another at its rate
 *    (MultiOutput) gets its best codec back when it is next set up alone.
 * manager.c and manager-props.c decode the calls and come here. */
#include "codec-control.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "codec-names.h"
#include "dbus-util.h"
#include "log.h"
#include "manager-props.h"

#define ERR_NOT_SUPPORTED ERR_PREFIX "NotSupported"
#define ERR_NOT_CONNECTED ERR_PREFIX "NotConnected"
#define ERR_BUSY ERR_PREFIX "Busy"

/* one switch every 2 s: BlueZ closes and sets up the stream each time, and
 * rapid repeats have been seen to drop the A2DP profile */
#define SWITCH_MIN_US 2000000ull
#define MAX_NAMES 16

/* The codecs this a2dpsrc can send: built and their library loadable. */
static unsigned built_mask(void)
{
        unsigned m = 0;

        for (int i = 0; i < CODEC_COUNT; i++)
                if (a2dp_codecs[i] && a2dp_codecs[i]->available())
                        m |= 1u << i;
        return m;
}

unsigned codec_control_offered(const struct device *v)
{
        const struct a2dp_codec *xq = a2dp_codecs[CODEC_SBC_XQ];
        struct codec_prefs prefs = { 0 };
        unsigned m = 0;

        for (unsigned i = 0; i < v->n_seps; i++) {
                const struct remote_sep *s = &v->seps[i];
                int c = codec_identify(s->codec, s->caps, s->caps_len);

                if (c < 0 || !s->caps_len)
                        continue;
                m |= 1u << c;
                /* SBC-XQ is SBC to a speaker: one with room for it */
                if (c == CODEC_SBC && xq && xq->usable(s->caps, s->caps_len, &prefs))
                        m |= 1u << CODEC_SBC_XQ;
        }
        return m;
}

/* The speaker's first SEP codec c can be configured on. */
static const struct remote_sep *find_sep(const struct device *v, const struct a2dp_codec *c)
{
        struct codec_prefs prefs = { 0 };

        for (unsigned i = 0; v && i < v->n_seps; i++) {
                const struct remote_sep *s = &v->seps[i];

                if (s->caps_len && a2dp_codec_matches(c, s->codec, s->caps, s->caps_len) &&
                    c->usable(s->caps, s->caps_len, &prefs))
                        return s;
        }
        return NULL;
}

void codec_control_mark_rechoose(struct daemon *d, const char *address, bool on)
{
        /* saved only when it changes */
        if (state_rechoose_codec(&d->state, address) != on &&
            state_rechoose_codec_set(&d->state, address, on) == 0)
                manager_save_soon(d);
}

const char *codec_control_sep_path(const struct device *v, const struct a2dp_codec *c)
{
        const struct remote_sep *s = c ? find_sep(v, c) : NULL;

        return s ? s->path : NULL;
}

static struct adapter *adapter_of(struct daemon *d, const struct transport *t)
{
        for (struct adapter *a = d->adapters; a; a = a->next) {
                size_t n = strlen(a->path);

                if (strncmp(t->device, a->path, n) == 0 && t->device[n] == '/')
                        return a;
        }
        return NULL;
}

static void reregister_idle(struct daemon *d);

/* ---- SetCodec ------------------------------------------------------------- */

static void on_switched(struct daemon *d, int err, const char *why, void *ud)
{
        const struct a2dp_codec *c = ud;
        DBusMessage *msg = d->codec_call;

        d->codec_call = NULL;
        if (err == 0)
                log_notice("the stream is switched to %s", c->label);
        else
                log_warn("switching the stream to %s failed: %s", c->label, why ? why : "");
        if (msg) {
                if (err == 0)
                        dbus_reply_empty(d->conn, msg);
                else
                        dbus_reply_error(d->conn, msg, ERR_FAILED, "The speaker did not take %s: %s",
                                         c->label, why ? why : "no reason given");
                dbus_message_unref(msg);
        }
        reregister_idle(d);
        manager_update(d);
}

/* Why codec c cannot be used now, as a D-Bus error; NULL when it can. */
static const char *codec_refusal(struct daemon *d, const struct a2dp_codec *c, int idx, char *text,
                                 size_t len)
{
        char names[96];

        if (d->codecs_unloadable & (1u << idx)) {
                snprintf(text, len, "%s's library did not load when a stream needed it (the log says why); "
                         "restart a2dpsrcd once it is mended", codec_labels[idx]);
                return ERR_NOT_SUPPORTED;
        }
        if (!c || !c->available()) {
                snprintf(text, len, "%s is not built into this a2dpsrc, or its library is missing",
                         codec_labels[idx]);
                return ERR_NOT_SUPPORTED;
        }
        if (!(d->opts.codecs & (1u << idx))) {
                snprintf(text, len, "%s is left out by --codecs (or the codecs key of the config file)",
                         c->label);
                return ERR_NOT_SUPPORTED;
        }
        if (!(daemon_codecs(d) & (1u << idx))) {
                codec_mask_names(daemon_codecs(d), names, sizeof(names));
                snprintf(text, len, "%s is turned off: Codecs allows %s", c->label, names);
                return ERR_NOT_SUPPORTED;
        }
        return NULL;
}

/* Starts switching t to c; 0, or the D-Bus error with text. */
static const char *start_switch(struct daemon *d, struct transport *t, const struct a2dp_codec *c,
                                char *text, size_t len)
{
        struct device *dev = bluez_device_by_path(d, t->device);
        struct adapter *a = adapter_of(d, t);
        const struct remote_sep *sep = find_sep(dev, c);
        const char *name = dev && dev->name[0] ? dev->name : t->device;
        char offered[96];
        int r;

        if (!sep) {
                if (!dev || !dev->n_seps) {
                        snprintf(text, len, "BlueZ shows none of %.60s's stream end points (BlueZ 5.52 "
                                 "and later do), so its codec cannot be switched", name);
                        return ERR_NOT_SUPPORTED;
                }
                codec_mask_names(codec_control_offered(dev), offered, sizeof(offered));
                snprintf(text, len, "%.60s does not offer %s (it offers %.60s)", name, c->label,
                         offered[0] ? offered : "nothing a2dpsrc knows");
                return ERR_NOT_SUPPORTED;
        }
        if (!a || !(a->reg_mask & (1u << c->index))) {
                snprintf(text, len, "%s was turned on while a speaker streamed: it is offered from "
                         "the speaker's next connection", c->label);
                return ERR_NOT_SUPPORTED;
        }
        /* with both speakers playing the new stream must run at the
         * engine's rate (another would restart the engine under the other
         * speaker, or leave this one waiting); alone, the capture's */
        r = remote_sep_configure(d, t, sep->path, c, d->streaming && d->streaming2 ? d->engine_rate : 0,
                                 on_switched, (void *)c);
        if (r == -EBUSY) {
                snprintf(text, len, "The stream is being reconfigured; try again in a moment");
                return ERR_BUSY;
        }
        if (r == -EADDRINUSE) {
                snprintf(text, len, "The other speaker's stream is on a2dpsrc's %s endpoints (both): "
                         "%.60s cannot have %s while it plays", c->label, name, c->label);
                return ERR_BUSY;
        }
        if (r < 0) {
                snprintf(text, len, "Cannot switch to %s: %s", c->label, strerror(-r));
                return ERR_FAILED;
        }
        log_notice("switching %s from %s to %s through %s", name, t->codec->label, c->label,
                   sep->path);
        return NULL;
}

DBusHandlerResult codec_control_set_codec(struct daemon *d, DBusMessage *msg)
{
        const char *name;

        if (!dbus_message_has_signature(msg, "s") ||
            !dbus_message_get_args(msg, NULL, DBUS_TYPE_STRING, &name, DBUS_TYPE_INVALID))
                return dbus_reply_error(d->conn, msg, ERR_INVALID,
                                        "SetCodec takes one string: a codec name such as aptx");
        return codec_control_switch(d, msg, manager_output_transport(d), name);
}

DBusHandlerResult codec_control_switch(struct daemon *d, DBusMessage *msg, struct transport *t,
                                       const char *name)
{
        const char *err;
        const struct a2dp_codec *c;
        char text[256], known[96];
        uint64_t now = 0;
        int idx;

        idx = codec_index_by_name(name);
        if (idx < 0) {
                codec_known_names(known, sizeof(known));
                return dbus_reply_error(d->conn, msg, ERR_INVALID,
                                        "'%.40s' is not a codec (the codecs: %s)", name, known);
        }
        c = a2dp_codecs[idx];
        err = codec_refusal(d, c, idx, text, sizeof(text));
        if (err)
                return dbus_reply_error(d->conn, msg, err, "%s", text);
        if (!t)
                return dbus_reply_error(d->conn, msg, ERR_NOT_CONNECTED,
                                        "No speaker is connected: connect one, then switch its codec");
        /* asked for by name: a refusal learnt earlier (it may have been a
         * busy speaker's, not the codec's) is forgotten, from now on too;
         * and the codec is the user's, not to be chosen afresh */
        {
                struct device *dev = bluez_device_by_path(d, t->device);

                if (dev) {
                        codec_refusal_clear(&d->refusals, dev->address, c->index);
                        codec_control_mark_rechoose(d, dev->address, false);
                }
        }
        if (t->codec == c)
                return dbus_reply_empty(d->conn, msg);
        if (d->codec_call)
                return dbus_reply_error(d->conn, msg, ERR_IN_PROGRESS,
                                        "A codec switch is in progress; wait for it to finish");
        sd_event_now(d->event, CLOCK_MONOTONIC, &now);
        if (d->codec_switch_at && now - d->codec_switch_at < SWITCH_MIN_US) {
                uint64_t wait = SWITCH_MIN_US - (now - d->codec_switch_at);

                return dbus_reply_error(d->conn, msg, ERR_BUSY,
                                        "The codec was switched a moment ago (at most one switch "
                                        "every %llu s): try again in %.1f s",
                                        SWITCH_MIN_US / 1000000, (double)(wait + 99999) / 1e6);
        }
        err = start_switch(d, t, c, text, sizeof(text));
        if (err)
                return dbus_reply_error(d->conn, msg, err, "%s", text);
        d->codec_switch_at = now;
        d->codec_call = dbus_message_ref(msg);
        return DBUS_HANDLER_RESULT_HANDLED;
}

/* ---- Codecs --------------------------------------------------------------- */

bool codec_control_append_names(DBusMessageIter *it, unsigned mask)
{
        DBusMessageIter arr;
        bool ok = dbus_message_iter_open_container(it, DBUS_TYPE_ARRAY, "s", &arr);

        for (int i = 0; ok && i < CODEC_COUNT; i++) {
                enum a2dp_codec_index c = a2dp_codec_default_order[i];
                const char *name = codec_names[c];

                if (mask & (1u << c))
                        ok = dbus_message_iter_append_basic(&arr, DBUS_TYPE_STRING, &name);
        }
        return ok && dbus_message_iter_close_container(it, &arr);
}

unsigned codec_control_codecs(const struct daemon *d)
{
        return daemon_codecs(d) & built_mask();
}

/* The stream's codec was removed, or cannot be sent: the best other
 * codec that the speaker offers and has not refused, or NULL. */
static const struct a2dp_codec *best_left(struct daemon *d, const struct transport *t)
{
        struct device *dev = bluez_device_by_path(d, t->device);
        struct adapter *a = adapter_of(d, t);
        const struct a2dp_codec *c;

        for (unsigned i = 0; dev && a && (c = a2dp_codec_registered(i)); i++)
                if (c != t->codec && (codec_control_codecs(d) & (1u << c->index)) &&
                    (a->reg_mask & (1u << c->index)) &&
                    !codec_refusal_has(&d->refusals, dev->address, c->index) && find_sep(dev, c))
                        return c;
        return NULL;
}

/* ---- a codec chosen afresh ------------------------------------------------- */

/* A codec before t's in our order that the speaker offers, registered,
 * allowed and not learnt refused; NULL when t's is the best of them. */
static const struct a2dp_codec *better_offered(struct daemon *d, const struct transport *t)
{
        struct device *dev = bluez_device_by_path(d, t->device);
        struct adapter *a = adapter_of(d, t);
        const struct a2dp_codec *c;

        for (unsigned i = 0; dev && a && (c = a2dp_codec_registered(i)) && c != t->codec; i++)
                if ((codec_control_codecs(d) & (1u << c->index)) && (a->reg_mask & (1u << c->index)) &&
                    !codec_refusal_has(&d->refusals, dev->address, c->index) && find_sep(dev, c))
                        return c;
        return NULL;
}

static void on_rechosen(struct daemon *d, int err, const char *why, void *ud)
{
        const struct a2dp_codec *c = ud;
        struct device *dev = bluez_device_by_path(d, d->reconfig_device);

        if (err == 0)
                log_notice("the stream is on %s again", c->label);
        else if (err != -ECANCELED)
                log_warn("%s was not taken (%s): the stream stays as it was", c->label, why ? why : "");
        /* what the speaker answered stands; a stop asks again next time */
        if (dev && err != -ECANCELED)
                codec_control_mark_rechoose(d, dev->address, false);
        manager_update(d);
}

void codec_control_stream_started(struct daemon *d, struct transport *t)
{
        struct device *dev = bluez_device_by_path(d, t->device);
        const struct a2dp_codec *c;
        uint64_t now = 0;
        int r;

        /* beside another speaker its rate still rules */
        if (!dev || !state_rechoose_codec(&d->state, dev->address) || d->output2[0] ||
            strcasecmp(dev->address, d->output) != 0)
                return;
        c = better_offered(d, t);
        if (!c) {
                codec_control_mark_rechoose(d, dev->address, false);
                return;
        }
        sd_event_now(d->event, CLOCK_MONOTONIC, &now);
        if (d->reconfig_at && now - d->reconfig_at < RECONFIG_MIN_US)
                return;         /* its next stream asks */
        r = remote_sep_configure(d, t, find_sep(dev, c)->path, c, 0, on_rechosen, (void *)c);
        if (r == -EBUSY)
                return;
        if (r < 0) {
                log_warn("cannot ask %s for %s: %s", dev->address, c->label, strerror(-r));
                codec_control_mark_rechoose(d, dev->address, false);
                return;
        }
        d->reconfig_at = now;
        log_notice("%s plays alone: its %s was chosen to join another speaker's rate or while it was busy "
                   "(bluetoothd tries that first); asking for %s", dev->address, t->codec->label, c->label);
}

static bool adapter_streams(struct daemon *d, const struct adapter *a)
{
        for (struct transport *t = d->transports; t; t = t->next)
                if (adapter_of(d, t) == a)
                        return true;
        return false;
}

/* Registers again where no stream would be closed by it; not while a
 * stream is being reconfigured (its old transport goes first). */
static void reregister_idle(struct daemon *d)
{
        /* stopping: the endpoints are being unregistered for good */
        if (d->reconfig_call || d->shutting_down)
                return;
        for (struct adapter *a = d->adapters; a; a = a->next) {
                if (a->reg_mask == codec_control_codecs(d) || adapter_streams(d, a))
                        continue;
                endpoint_reregister(d, a);
        }
}

static void on_removed_switched(struct daemon *d, int err, const char *why, void *ud)
{
        const struct a2dp_codec *c = ud;
        struct transport *t = manager_output_transport(d);

        if (err == 0) {
                log_notice("the stream is on %s now", c->label);
        } else if (t && !(daemon_codecs(d) & (1u << t->codec->index))) {
                /* the stream stays on a codec turned off: it is given up,
                 * its endpoints registered again, and the speaker set up
                 * afresh (the audio plays locally meanwhile) */
                char dev[PATH_LEN];
                struct adapter *a = adapter_of(d, t);

                log_warn("cannot switch away from %s (%s): the speaker is set up again",
                         t->codec->label, why ? why : "");
                snprintf(dev, sizeof(dev), "%s", t->device);
                /* the audio thread lets go of the socket before it closes */
                output_transport_removing(d, t);
                transport_release(d, t, false);
                if (a)
                        endpoint_reregister(d, a);
                speaker_link_lost(d, dev);
        }
        reregister_idle(d);
        manager_update(d);
}

static void codecs_changed(struct daemon *d)
{
        struct transport *t = manager_output_transport(d);
        const struct a2dp_codec *c;
        int r;

        reregister_idle(d);
        if (!t || (daemon_codecs(d) & (1u << t->codec->index)))
                return;
        c = best_left(d, t);
        r = -ENOENT;
        if (c)
                r = remote_sep_configure(d, t, find_sep(bluez_device_by_path(d, t->device), c)->path,
                                         c, 0, on_removed_switched, (void *)c);
        if (r < 0)
                on_removed_switched(d, r, c ? strerror(-r) : "the speaker offers no codec left", NULL);
}

/* ---- an encoder that cannot be made ---------------------------------------- */

/* t cannot play on its codec and cannot be switched: this speaker's A2DP
 * is disconnected (its stream alone: registering our endpoints again would
 * close the other speaker's too) and connected again, where our
 * SelectConfiguration leaves the codec out; as a first or second output. */
static void reconnect_without(struct daemon *d, struct transport *t)
{
        struct device *dev = bluez_device_by_path(d, t->device);
        char path[PATH_LEN];

        snprintf(path, sizeof(path), "%s", t->device);
        log_warn("%s is connected again without %s", path, t->codec->label);
        output_transport_removing(d, t);
        transport_release(d, t, false);
        if (dev)
                bluez_device_call_arg(d, dev, "org.bluez.Device1", "DisconnectProfile", A2DP_SINK_UUID);
        speaker_link_lost(d, path);
        multi_output_stream_lost(d, path);
        manager_update(d);
}

/* The device's transport, when it is held and plays on neither output. */
static struct transport *unattached_of(struct daemon *d, const char *device)
{
        struct transport *t = transport_of_device(d, bluez_device_by_path(d, device));

        return t && t->acq != ACQ_NONE && t != d->streaming && t != d->streaming2 ? t : NULL;
}

static void on_encoder_switched(struct daemon *d, int err, const char *why, void *ud)
{
        const struct a2dp_codec *c = ud;
        struct transport *t;

        if (err == 0) {
                log_notice("the stream is on %s now", c->label);
        } else if (err != -ECANCELED && (t = unattached_of(d, d->reconfig_device))) {
                /* refused with the old stream left (bluetoothd checks
                 * before it closes anything), or our own request failed:
                 * silent on a codec it cannot play */
                log_warn("switching to %s failed (%s)", c->label, why ? why : "no reason given");
                reconnect_without(d, t);
        }
        /* a refusal that closed the stream is remote-sep.c's lost stream */
        reregister_idle(d);
        manager_update(d);
}

bool codec_control_encoder_failed(struct daemon *d, struct transport *t, int err, const char *why)
{
        struct device *dev = bluez_device_by_path(d, t->device);
        const struct a2dp_codec *c;
        unsigned bit = 1u << t->codec->index;
        int r = -ENOENT;

        /* not the encoder's: the slot taken, the thread wedged; or worth
         * another try: memory. SBC, which every sink has, is never left
         * out: its failure is reported as any attach's. */
        if (err >= 0 || err == -EBUSY || err == -ETIMEDOUT || err == -ENOMEM || t->codec->index == CODEC_SBC)
                return false;
        if (remote_sep_busy_on(d, t))
                return true;    /* its stream is being switched already */
        if (err == -ENOENT) {
                if (!(d->codecs_unloadable & bit))
                        log_err("%s cannot be sent: %s. It is offered no more until a2dpsrcd restarts",
                                t->codec->label, why);
                d->codecs_unloadable |= bit;
        } else if (dev && !codec_refusal_has(&d->refusals, dev->address, t->codec->index)) {
                log_err("%s cannot be sent to %s in the configuration it took: %s. It is not chosen for "
                        "this speaker again", t->codec->label, dev->address, why);
                codec_refusal_add(&d->refusals, dev->address, t->codec->index);
                /* ours to say, not the speaker's: no busy spell undoes it */
                codec_refusal_confirm(&d->refusals, dev->address);
        }
        c = best_left(d, t);
        /* beside the other speaker, at the engine's rate */
        if (c)
                r = remote_sep_configure(d, t, find_sep(dev, c)->path, c,
                                         d->streaming && d->streaming != t ? d->engine_rate : 0,
                                         on_encoder_switched, (void *)c);
        if (r < 0) {
                /* another speaker's request under way, no codec left, ... */
                log_warn("cannot switch %s away from %s (%s)", t->device, t->codec->label,
                         c ? strerror(-r) : "it offers no other codec left");
                reconnect_without(d, t);
                return true;
        }
        log_notice("switching %s from %s to %s", t->device, t->codec->label, c->label);
        manager_update(d);
        return true;
}

int codec_control_decode_codecs(DBusMessageIter *v, unsigned built, unsigned *mask, char *err,
                                size_t err_len)
{
        DBusMessageIter arr;
        const char *names[MAX_NAMES];
        unsigned n = 0;

        if (dbus_message_iter_get_arg_type(v) != DBUS_TYPE_ARRAY ||
            dbus_message_iter_get_element_type(v) != DBUS_TYPE_STRING) {
                snprintf(err, err_len, "Codecs is a list of codec names (as), e.g. [\"aptx\", \"sbc\"]");
                return -EINVAL;
        }
        dbus_message_iter_recurse(v, &arr);
        for (; dbus_message_iter_get_arg_type(&arr) == DBUS_TYPE_STRING; dbus_message_iter_next(&arr)) {
                if (n == MAX_NAMES) {
                        snprintf(err, err_len, "Codecs names at most %d codecs", MAX_NAMES);
                        return -EINVAL;
                }
                dbus_message_iter_get_basic(&arr, &names[n++]);
        }
        return codec_parse_names(names, n, built, mask, err, err_len);
}

int codec_control_set_codecs(struct daemon *d, DBusMessageIter *v, char *err, size_t err_len,
                             const char **err_name)
{
        unsigned mask;
        int r = codec_control_decode_codecs(v, built_mask(), &mask, err, err_len);

        *err_name = r == -ENOTSUP ? ERR_NOT_SUPPORTED : ERR_INVALID;
        if (r < 0)
                return r;
        for (int i = 0; i < CODEC_COUNT; i++) {
                if ((mask & (1u << i)) && !(d->opts.codecs & (1u << i))) {
                        snprintf(err, err_len, "%s is left out by --codecs (or the codecs key of the "
                                 "config file), which Codecs can only restrict", codec_labels[i]);
                        *err_name = ERR_NOT_SUPPORTED;
                        return -ENOTSUP;
                }
        }
        if (mask == d->state.codecs)
                return 0;
        d->state.codecs = mask;
        codec_mask_names(mask, err, err_len);
        log_notice("Codecs: %s", err);
        err[0] = '\0';
        codecs_changed(d);
        return 0;
}

/* A stream ended: registering again closes nothing now. */
static void on_transport_gone(struct adapter *a, const char *device_path, void *ud)
{
        struct daemon *d = ud;

        (void)a;
        (void)device_path;
        reregister_idle(d);
}

void codec_control_init(struct daemon *d)
{
        d->codec_listener.transport_gone = on_transport_gone;
        d->codec_listener.ud = d;
        bluez_add_listener(d, &d->codec_listener);
}

void codec_control_shutdown(struct daemon *d)
{
        if (d->codec_call) {
                dbus_reply_error(d->conn, d->codec_call, ERR_FAILED, "a2dpsrcd is stopping");
                dbus_message_unref(d->codec_call);
                d->codec_call = NULL;
        }
        bluez_remove_listener(d, &d->codec_listener);
}
