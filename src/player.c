/* Our AVRCP target player (BlueZ 5.66 doc/media-api.txt, RegisterPlayer;
 * profiles/audio/media.c). One org.mpris.MediaPlayer2.Player object per
 * adapter at PLAYER_ROOT/hciN, registered on that adapter's Media1.
 *
 * What bluetoothd does with it: it keeps the properties given to
 * RegisterPlayer and then follows our PropertiesChanged on the player
 * interface (it never calls Get); PlaybackStatus, Metadata and Position
 * changes become AVRCP notifications to the speaker. A speaker's PLAY,
 * PAUSE, STOP, FORWARD and BACKWARD pass-through commands become Play,
 * Pause, Stop, Next and Previous calls without a reply wanted, made only
 * when CanControl and the matching Can* were true. The registration is
 * bluetoothd's: it goes when bluetoothd stops, so it is made again each
 * time the adapter's Media1 appears. */
#include "player.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "dbus-util.h"
#include "log.h"
#include "policy.h"

#define MPRIS_IFACE "org.mpris.MediaPlayer2.Player"
#define NO_TRACK "/org/mpris/MediaPlayer2/TrackList/NoTrack"
#define ERR_NOT_SUPPORTED "org.mpris.MediaPlayer2.Error.NotSupported"
#define REG_RETRY_MAX_S 30

/* which properties to append */
enum { PROP_STATUS = 1, PROP_METADATA = 2, PROP_POSITION = 4, PROP_CAPS = 8, PROP_EVERY = 15 };

struct player_reg {
        struct player_reg *next;
        struct players *owner;
        char adapter[PATH_LEN];
        char name[32];
        char path[PATH_LEN];
        enum registration reg;
        DBusPendingCall *call;
        sd_event_source *retry;
        unsigned failures;
        bool refused;           /* BlueZ will not take it; asked again after a restart */
        bool stale;             /* changed while RegisterPlayer was in flight */
};

struct players {
        struct daemon *d;
        struct player_reg *regs;
        struct now_playing np;
        enum playback_status status;
        struct media_key_gate gate;
        player_key_fn on_key;
        void *key_ud;
        struct bluez_listener listener;
};

static const char introspect_player[] =
        DBUS_INTROSPECT_1_0_XML_DOCTYPE_DECL_NODE
        "<node>\n"
        " <interface name='org.mpris.MediaPlayer2.Player'>\n"
        "  <method name='Play'/>\n"
        "  <method name='Pause'/>\n"
        "  <method name='PlayPause'/>\n"
        "  <method name='Stop'/>\n"
        "  <method name='Next'/>\n"
        "  <method name='Previous'/>\n"
        "  <method name='Release'/>\n"
        "  <property name='PlaybackStatus' type='s' access='read'/>\n"
        "  <property name='Metadata' type='a{sv}' access='read'/>\n"
        "  <property name='Position' type='x' access='read'/>\n"
        "  <property name='CanPlay' type='b' access='read'/>\n"
        "  <property name='CanPause' type='b' access='read'/>\n"
        "  <property name='CanGoNext' type='b' access='read'/>\n"
        "  <property name='CanGoPrevious' type='b' access='read'/>\n"
        "  <property name='CanControl' type='b' access='read'/>\n"
        "  <property name='CanSeek' type='b' access='read'/>\n"
        " </interface>\n"
        " <interface name='org.freedesktop.DBus.Properties'>\n"
        "  <method name='Get'><arg type='s' direction='in'/><arg type='s' direction='in'/>"
        "<arg type='v' direction='out'/></method>\n"
        "  <method name='GetAll'><arg type='s' direction='in'/><arg type='a{sv}' direction='out'/></method>\n"
        "  <signal name='PropertiesChanged'><arg type='s'/><arg type='a{sv}'/><arg type='as'/></signal>\n"
        " </interface>\n"
        " <interface name='org.freedesktop.DBus.Introspectable'>\n"
        "  <method name='Introspect'><arg type='s' direction='out'/></method>\n"
        " </interface>\n"
        "</node>\n";

/* ---- properties ------------------------------------------------------------ */

static bool append_text(DBusMessageIter *dict, const char *key, const char *s)
{
        return !s[0] || dbus_dict_append_basic(dict, key, DBUS_TYPE_STRING, &s);
}

static bool append_metadata(struct players *p, DBusMessageIter *v)
{
        const struct now_playing *np = &p->np;
        char trackid[64];
        const char *tid = trackid, *artist = np->artist, *key = "xesam:artist";
        bool any = np->title[0] || np->artist[0] || np->album[0] || np->duration_us > 0;
        DBusMessageIter dict, entry, var, arr;

        if (any)
                snprintf(trackid, sizeof(trackid), "/org/a2dpsrc/track/%u", np->track);
        else
                snprintf(trackid, sizeof(trackid), "%s", NO_TRACK);
        if (!dbus_message_iter_open_container(v, DBUS_TYPE_ARRAY, "{sv}", &dict) ||
            !dbus_dict_append_basic(&dict, "mpris:trackid", DBUS_TYPE_OBJECT_PATH, &tid) ||
            !append_text(&dict, "xesam:title", np->title) ||
            !append_text(&dict, "xesam:album", np->album) ||
            (np->duration_us > 0 &&
             !dbus_dict_append_basic(&dict, "mpris:length", DBUS_TYPE_INT64, &np->duration_us)))
                return false;
        /* MPRIS' artist is a list; BlueZ takes its first entry */
        if (artist[0] &&
            (!dbus_message_iter_open_container(&dict, DBUS_TYPE_DICT_ENTRY, NULL, &entry) ||
             !dbus_message_iter_append_basic(&entry, DBUS_TYPE_STRING, &key) ||
             !dbus_message_iter_open_container(&entry, DBUS_TYPE_VARIANT, "as", &var) ||
             !dbus_message_iter_open_container(&var, DBUS_TYPE_ARRAY, "s", &arr) ||
             !dbus_message_iter_append_basic(&arr, DBUS_TYPE_STRING, &artist) ||
             !dbus_message_iter_close_container(&var, &arr) ||
             !dbus_message_iter_close_container(&entry, &var) ||
             !dbus_message_iter_close_container(&dict, &entry)))
                return false;
        return dbus_message_iter_close_container(v, &dict);
}

/* In this order: Metadata before Position, since BlueZ restarts the
 * position at a new track. */
static const struct {
        const char *name;
        const char *sig;
        unsigned group;
} props[] = {
        { "PlaybackStatus", "s", PROP_STATUS },
        { "Metadata", "a{sv}", PROP_METADATA },
        { "Position", "x", PROP_POSITION },
        /* BlueZ forwards a key only while these say yes */
        { "CanPlay", "b", PROP_CAPS },
        { "CanPause", "b", PROP_CAPS },
        { "CanGoNext", "b", PROP_CAPS },
        { "CanGoPrevious", "b", PROP_CAPS },
        { "CanControl", "b", PROP_CAPS },
        { "CanSeek", "b", PROP_CAPS },
};
#define N_PROPS (sizeof(props) / sizeof(props[0]))

static bool append_value(struct players *p, size_t i, DBusMessageIter *it)
{
        const char *status = playback_status_mpris(p->status);
        /* we take no seek from a speaker: BlueZ would not pass it on */
        dbus_bool_t b = strcmp(props[i].name, "CanSeek") != 0;
        DBusMessageIter var;
        bool ok;

        if (!dbus_message_iter_open_container(it, DBUS_TYPE_VARIANT, props[i].sig, &var))
                return false;
        switch (props[i].group) {
        case PROP_STATUS:
                ok = dbus_message_iter_append_basic(&var, DBUS_TYPE_STRING, &status);
                break;
        case PROP_METADATA:
                ok = append_metadata(p, &var);
                break;
        case PROP_POSITION:
                ok = dbus_message_iter_append_basic(&var, DBUS_TYPE_INT64, &p->np.position_us);
                break;
        default:
                ok = dbus_message_iter_append_basic(&var, DBUS_TYPE_BOOLEAN, &b);
                break;
        }
        return ok && dbus_message_iter_close_container(it, &var);
}

static bool append_props(struct players *p, DBusMessageIter *dict, unsigned what)
{
        for (size_t i = 0; i < N_PROPS; i++) {
                DBusMessageIter entry;

                if (!(props[i].group & what))
                        continue;
                if (!dbus_message_iter_open_container(dict, DBUS_TYPE_DICT_ENTRY, NULL, &entry) ||
                    !dbus_message_iter_append_basic(&entry, DBUS_TYPE_STRING, &props[i].name) ||
                    !append_value(p, i, &entry) || !dbus_message_iter_close_container(dict, &entry))
                        return false;
        }
        return true;
}

/* Properties for RegisterPlayer: BlueZ reads a Position it is handed as a
 * seek, and a nonzero one with no known length as the track's end. */
static unsigned register_props(const struct players *p)
{
        return PROP_STATUS | PROP_METADATA | PROP_CAPS | (p->np.position_us > 0 ? PROP_POSITION : 0);
}

static void emit_one(struct players *p, struct player_reg *r, unsigned what)
{
        const char *iface = MPRIS_IFACE;
        DBusMessage *sig = dbus_message_new_signal(r->path, DBUS_INTERFACE_PROPERTIES, "PropertiesChanged");
        DBusMessageIter it, dict, inv;

        if (!sig)
                return;
        dbus_message_iter_init_append(sig, &it);
        if (dbus_message_iter_append_basic(&it, DBUS_TYPE_STRING, &iface) &&
            dbus_message_iter_open_container(&it, DBUS_TYPE_ARRAY, "{sv}", &dict) &&
            append_props(p, &dict, what) && dbus_message_iter_close_container(&it, &dict) &&
            dbus_message_iter_open_container(&it, DBUS_TYPE_ARRAY, "s", &inv) &&
            dbus_message_iter_close_container(&it, &inv))
                dbus_connection_send(p->d->conn, sig, NULL);
        dbus_message_unref(sig);
}

static void emit_changed(struct players *p, unsigned what)
{
        for (struct player_reg *r = p->regs; r; r = r->next) {
                /* bluetoothd adds its match for our signals only while it
                 * handles RegisterPlayer, and dbus-daemon routes a signal
                 * by the matches in place when it arrives: a change made
                 * while the call is in flight is sent again once it is
                 * answered */
                if (r->reg == REG_PENDING)
                        r->stale = true;
                if (r->reg == REG_DONE)
                        emit_one(p, r, what);
        }
}

/* ---- the player object ---------------------------------------------------- */

static struct player_reg *reg_by_path(struct players *p, const char *path)
{
        for (struct player_reg *r = p->regs; r; r = r->next)
                if (strcmp(r->path, path) == 0)
                        return r;
        return NULL;
}

static uint64_t now_us(void)
{
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static DBusHandlerResult key_pressed(struct players *p, struct player_reg *r, DBusMessage *msg,
                                     enum media_key key)
{
        if (!media_key_gate_pass(&p->gate, now_us()))
                log_debug("speaker key %s through %s merged with the one before", media_key_name(key),
                          r->name);
        else {
                log_info("speaker key %s through %s", media_key_name(key), r->name);
                if (p->on_key)
                        p->on_key(p->d, key, r->adapter, p->key_ud);
        }
        return dbus_reply_empty(p->d->conn, msg);
}

static DBusHandlerResult props_call(struct players *p, DBusMessage *msg, const char *member)
{
        const char *iface, *name = NULL;
        DBusMessage *reply;
        DBusMessageIter it, dict;
        size_t i = 0;
        bool ok;

        if (strcmp(member, "Get") == 0 && dbus_message_has_signature(msg, "ss"))
                dbus_message_get_args(msg, NULL, DBUS_TYPE_STRING, &iface, DBUS_TYPE_STRING, &name,
                                      DBUS_TYPE_INVALID);
        else if (strcmp(member, "GetAll") == 0 && dbus_message_has_signature(msg, "s"))
                dbus_message_get_args(msg, NULL, DBUS_TYPE_STRING, &iface, DBUS_TYPE_INVALID);
        else if (strcmp(member, "Set") == 0)
                return dbus_reply_error(p->d->conn, msg, DBUS_ERROR_PROPERTY_READ_ONLY,
                                        "The player's properties are set through org.a2dpsrc.Manager1");
        else
                return dbus_reply_error(p->d->conn, msg, DBUS_ERROR_INVALID_ARGS, "%.64s: bad arguments",
                                        member);
        if (strcmp(iface, MPRIS_IFACE) != 0)
                return dbus_reply_error(p->d->conn, msg, DBUS_ERROR_UNKNOWN_INTERFACE,
                                        "No interface %.100s", iface);
        while (name && i < N_PROPS && strcmp(props[i].name, name) != 0)
                i++;
        if (i == N_PROPS)
                return dbus_reply_error(p->d->conn, msg, DBUS_ERROR_UNKNOWN_PROPERTY, "No property %.100s",
                                        name);
        reply = dbus_message_new_method_return(msg);
        if (!reply)
                return DBUS_HANDLER_RESULT_NEED_MEMORY;
        dbus_message_iter_init_append(reply, &it);
        if (name)
                ok = append_value(p, i, &it);
        else
                ok = dbus_message_iter_open_container(&it, DBUS_TYPE_ARRAY, "{sv}", &dict) &&
                     append_props(p, &dict, PROP_EVERY) && dbus_message_iter_close_container(&it, &dict);
        if (!ok) {
                dbus_message_unref(reply);
                return DBUS_HANDLER_RESULT_NEED_MEMORY;
        }
        return dbus_send_reply(p->d->conn, reply);
}

static DBusHandlerResult message_handler(DBusConnection *conn, DBusMessage *msg, void *ud)
{
        struct players *p = ud;
        const char *path = dbus_message_get_path(msg);
        const char *iface = dbus_message_get_interface(msg);
        const char *member = dbus_message_get_member(msg);
        struct player_reg *r;
        int key;

        if (dbus_message_get_type(msg) != DBUS_MESSAGE_TYPE_METHOD_CALL || !path || !member)
                return DBUS_HANDLER_RESULT_NOT_YET_HANDLED;
        r = reg_by_path(p, path);
        if (!r)
                return dbus_reply_error(conn, msg, DBUS_ERROR_UNKNOWN_OBJECT, "No such object %.100s", path);
        if (strcmp(member, "Introspect") == 0 && (!iface || strcmp(iface, DBUS_INTERFACE_INTROSPECTABLE) == 0)) {
                DBusMessage *reply = dbus_message_new_method_return(msg);
                const char *xml = introspect_player;

                if (reply && !dbus_message_append_args(reply, DBUS_TYPE_STRING, &xml, DBUS_TYPE_INVALID)) {
                        dbus_message_unref(reply);
                        reply = NULL;
                }
                return dbus_send_reply(conn, reply);
        }
        /* the player speaks for the speaker's buttons: only the bluetoothd
         * we registered with may press them */
        if (!bluez_sender_is_owner(p->d, msg)) {
                log_warn("refused %s on the player from %s, which is not bluetoothd", member,
                         dbus_message_get_sender(msg) ? dbus_message_get_sender(msg) : "?");
                return dbus_reply_error(conn, msg, DBUS_ERROR_ACCESS_DENIED,
                                        "Only the owner of org.bluez may call %.64s", member);
        }
        if (iface && strcmp(iface, DBUS_INTERFACE_PROPERTIES) == 0)
                return props_call(p, msg, member);
        if (iface && strcmp(iface, MPRIS_IFACE) != 0)
                return dbus_reply_error(conn, msg, DBUS_ERROR_UNKNOWN_METHOD, "No method %.64s.%.64s",
                                        iface, member);
        if (!dbus_message_has_signature(msg, ""))
                return dbus_reply_error(conn, msg, DBUS_ERROR_INVALID_ARGS, "%.64s takes no arguments",
                                        member);
        key = media_key_from_method(member);
        if (key >= 0)
                return key_pressed(p, r, msg, (enum media_key)key);
        if (strcmp(member, "Release") == 0) {
                /* BlueZ dropped the player (its adapter is going away) */
                log_notice("BlueZ released our player on %s", r->name);
                r->reg = REG_NONE;
                return dbus_reply_empty(conn, msg);
        }
        return dbus_reply_error(conn, msg, ERR_NOT_SUPPORTED, "%.64s is not supported", member);
}

/* ---- registration ------------------------------------------------------------ */

static void send_register(struct player_reg *r);

static int on_retry(sd_event_source *s, uint64_t usec, void *ud)
{
        struct player_reg *r = ud;

        sd_event_source_disable_unref(r->retry);
        r->retry = NULL;
        send_register(r);
        return 0;
}

static void schedule_retry(struct player_reg *r)
{
        unsigned delay = policy_backoff_s(r->failures, REG_RETRY_MAX_S);

        r->failures++;
        sd_event_source_disable_unref(r->retry);
        r->retry = NULL;
        if (sd_event_add_time_relative(r->owner->d->event, &r->retry, CLOCK_MONOTONIC,
                                       (uint64_t)delay * 1000000, 10000, on_retry, r) < 0)
                log_err("cannot schedule a player registration retry for %s", r->name);
}

static void on_register_reply(DBusMessage *reply, const DBusError *err, void *ud)
{
        struct player_reg *r = ud;

        dbus_pending_call_unref(r->call);
        r->call = NULL;
        if (reply || dbus_error_has_name(err, "org.bluez.Error.AlreadyExists")) {
                r->reg = REG_DONE;
                r->failures = 0;
                log_info("AVRCP player registered on %s", r->name);
                if (r->stale)
                        emit_one(r->owner, r, PROP_STATUS | PROP_METADATA | PROP_POSITION);
                r->stale = false;
                return;
        }
        r->reg = REG_NONE;
        r->stale = false;       /* the next RegisterPlayer carries every value */
        if (dbus_error_has_name(err, "org.bluez.Error.NotSupported") ||
            dbus_error_has_name(err, "org.bluez.Error.InvalidArguments")) {
                /* no AVRCP in this bluetoothd, or it will never take ours:
                 * asking again would not help */
                r->refused = true;
                log_warn("BlueZ takes no player on %s (%s: %s): the speaker's buttons will not "
                         "reach the board", r->name, err->name, err->message);
                return;
        }
        log_err("RegisterPlayer on %s failed: %s: %s", r->name, err->name, err->message);
        schedule_retry(r);
}

static void send_register(struct player_reg *r)
{
        struct players *p = r->owner;
        const char *path = r->path;
        DBusMessage *m;
        DBusMessageIter it, dict;

        if (r->reg != REG_NONE || r->refused || r->retry || !p->d->bluez_owner[0])
                return;
        m = dbus_message_new_method_call(BLUEZ_SERVICE, r->adapter, "org.bluez.Media1", "RegisterPlayer");
        if (!m)
                goto fail;
        dbus_message_iter_init_append(m, &it);
        if (!dbus_message_iter_append_basic(&it, DBUS_TYPE_OBJECT_PATH, &path) ||
            !dbus_message_iter_open_container(&it, DBUS_TYPE_ARRAY, "{sv}", &dict) ||
            !append_props(p, &dict, register_props(p)) || !dbus_message_iter_close_container(&it, &dict)) {
                dbus_message_unref(m);
                goto fail;
        }
        if (dbus_call_async(p->d->conn, m, 10000, on_register_reply, r, &r->call) < 0)
                goto fail;
        r->reg = REG_PENDING;
        return;
fail:
        log_err("cannot send RegisterPlayer to %s", r->name);
        schedule_retry(r);
}

static void reg_free(struct player_reg *r)
{
        dbus_call_cancel(&r->call);
        sd_event_source_disable_unref(r->retry);
        free(r);
}

static void on_media_added(struct adapter *a, void *ud)
{
        struct players *p = ud;
        struct player_reg *r;

        for (r = p->regs; r; r = r->next)
                if (strcmp(r->adapter, a->path) == 0)
                        break;
        if (!r) {
                r = calloc(1, sizeof(*r));
                if (!r) {
                        log_err("out of memory for the player on %s", a->name);
                        return;
                }
                r->owner = p;
                snprintf(r->adapter, sizeof(r->adapter), "%s", a->path);
                snprintf(r->name, sizeof(r->name), "%s", a->name);
                snprintf(r->path, sizeof(r->path), PLAYER_ROOT "/%s", a->name);
                r->next = p->regs;
                p->regs = r;
        }
        send_register(r);
}

static void on_media_gone(struct adapter *a, void *ud)
{
        struct players *p = ud;

        /* bluetoothd forgets the registration with the adapter (or when it
         * stops): nothing to unregister */
        for (struct player_reg **pp = &p->regs; *pp; pp = &(*pp)->next) {
                if (strcmp((*pp)->adapter, a->path) == 0) {
                        struct player_reg *r = *pp;

                        *pp = r->next;
                        reg_free(r);
                        return;
                }
        }
}

/* ---- the rest of the daemon ---------------------------------------------------- */

int player_init(struct daemon *d)
{
        static const DBusObjectPathVTable vtable = { .message_function = message_handler };
        struct players *p = calloc(1, sizeof(*p));

        if (!p)
                return -ENOMEM;
        p->d = d;
        p->status = PLAYBACK_STOPPED;
        if (!dbus_connection_register_fallback(d->conn, PLAYER_ROOT, &vtable, p)) {
                free(p);
                return -ENOMEM;
        }
        p->listener.media_added = on_media_added;
        p->listener.media_gone = on_media_gone;
        p->listener.ud = p;
        bluez_add_listener(d, &p->listener);
        d->players = p;
        return 0;
}

void player_shutdown(struct daemon *d)
{
        struct players *p = d->players;

        if (!p)
                return;
        while (p->regs) {
                struct player_reg *r = p->regs;
                const char *path = r->path;
                DBusMessage *m, *reply;

                p->regs = r->next;
                /* told at once, so the speaker's buttons stop reaching a
                 * player that is gone */
                if (r->reg == REG_DONE && d->bluez_owner[0]) {
                        m = dbus_message_new_method_call(BLUEZ_SERVICE, r->adapter, "org.bluez.Media1",
                                                         "UnregisterPlayer");
                        if (m && dbus_message_append_args(m, DBUS_TYPE_OBJECT_PATH, &path, DBUS_TYPE_INVALID)) {
                                reply = dbus_connection_send_with_reply_and_block(d->conn, m, 1000, NULL);
                                if (reply)
                                        dbus_message_unref(reply);
                        }
                        if (m)
                                dbus_message_unref(m);
                }
                reg_free(r);
        }
        bluez_remove_listener(d, &p->listener);
        dbus_connection_unregister_object_path(d->conn, PLAYER_ROOT);
        free(p);
        d->players = NULL;
}

void player_set_key_listener(struct daemon *d, player_key_fn fn, void *ud)
{
        d->players->on_key = fn;
        d->players->key_ud = ud;
}

int player_set_now_playing(struct daemon *d, DBusMessageIter *dict, char *err, size_t err_len)
{
        struct players *p = d->players;
        int r = now_playing_apply(&p->np, dict, err, err_len);

        if (r <= 0)
                return r;
        if (r & NOW_PLAYING_TRACK)
                log_info("now playing: \"%s\" by \"%s\"", p->np.title, p->np.artist);
        /* a position with a new track is sent after it, or BlueZ would
         * restart it at 0 */
        emit_changed(p, ((r & NOW_PLAYING_TRACK) ? PROP_METADATA : 0) |
                        ((r & NOW_PLAYING_POSITION) ? PROP_POSITION : 0));
        return 0;
}

void player_set_status(struct daemon *d, enum playback_status s)
{
        struct players *p = d->players;

        if (p->status == s)
                return;
        p->status = s;
        emit_changed(p, PROP_STATUS);
}

enum playback_status player_status(const struct daemon *d)
{
        return d->players->status;
}

const struct now_playing *player_now_playing(const struct daemon *d)
{
        return &d->players->np;
}
