/* The daemon's shared state: what BlueZ has (adapters, devices,
 * transports), what we registered, and the audio path. One instance,
 * owned by main(); every module works on it from the main loop. */
#ifndef A2DPSRC_DAEMON_H
#define A2DPSRC_DAEMON_H

#include <alsa/asoundlib.h>
#include <dbus/dbus.h>
#include <stdbool.h>
#include <stdint.h>
#include <systemd/sd-event.h>

#include "a2dp-codec.h"
#include "codec-refusal.h"
#include "connect-busy.h"
#include "connect-calloff.h"
#include "connect-callers.h"
#include "lost-speaker.h"
#include "history.h"
#include "log.h"
#include "options.h"
#include "policy.h"
#include "state.h"

#define BLUEZ_SERVICE "org.bluez"
#define A2DP_SOURCE_UUID "0000110a-0000-1000-8000-00805f9b34fb"
#define A2DP_SINK_UUID "0000110b-0000-1000-8000-00805f9b34fb"
#define A2DPSRC_BUS_NAME "org.a2dpsrc"
#define A2DPSRC_APP_ROOT "/org/a2dpsrc/bluez"
#define PATH_LEN 192
/* Manager1.StreamBlocked reasons */
#define BLOCKED_CAPTURE_UNAVAILABLE "capture-unavailable"
#define BLOCKED_CAPTURE_NO_DATA "capture-no-data"
#define BLOCKED_NO_PRODUCER "capture-no-producer"

enum registration { REG_NONE, REG_PENDING, REG_DONE };

struct daemon;

/* Called instead of replying to call when a pairing of ours ends: err_name
 * is NULL on success; the callee replies to call (agent.c). */
typedef void (*agent_pair_done_fn)(struct daemon *d, DBusMessage *call, const char *address,
                                   const char *err_name, const char *text);

struct adapter {
        struct adapter *next;
        struct daemon *daemon;
        char path[PATH_LEN];
        char name[32];           /* hciN */
        char address[18];
        bool powered;
        bool discovering;
        bool pairable;           /* bondable: the kernel accepts new bonds */
        bool br_edr;             /* can do classic audio (see bluez.c) */
        uint32_t cls;            /* its Class of Device as last read */
        bool blocked;            /* rfkill: PowerState off-blocked (bluetoothd -E) */
        bool has_media;          /* org.bluez.Media1 present */
        enum registration reg;
        DBusPendingCall *reg_call;
        sd_event_source *reg_retry;
        unsigned reg_failures;
        unsigned reg_mask;       /* the codecs BlueZ last read our endpoints of */
        /* the spare endpoints (MultiOutput): a second application, so
         * that adding or removing them closes no stream (endpoint.c) */
        enum registration spare_reg;
        DBusPendingCall *spare_call;
};

#define DEVICE_MAX_SEPS 12

struct remote_sep {
        char path[PATH_LEN];
        uint8_t codec;           /* A2DP codec type */
        uint8_t caps[A2DP_CODEC_BLOB_MAX];
        size_t caps_len;         /* 0: Capabilities not known (or too long) */
};

struct device {
        struct device *next;
        char path[PATH_LEN];
        char address[18];
        char adapter[PATH_LEN];  /* the adapter's object path */
        char name[128];
        bool paired, trusted, connected;
        bool blocked;            /* Device1.Blocked */
        bool bonded;             /* its key stored (said before Paired, see agent.c) */
        bool audio_sink;         /* UUIDs list the A2DP sink */
        bool uuids_known;        /* UUIDs resolved (not empty) */
        unsigned profiles;       /* enum doctor_profile bits of the UUIDs */
        bool has_class;
        uint32_t class_of_device;
        bool has_rssi;
        int16_t rssi;
        /* the speaker's stream end points as BlueZ shows them
         * (MediaEndpoint1 on …/sepN, 5.52 and later): what it offers */
        struct remote_sep seps[DEVICE_MAX_SEPS];
        unsigned n_seps;
};

enum transport_state { TRANSPORT_IDLE, TRANSPORT_PENDING, TRANSPORT_ACTIVE };
enum acquire_state { ACQ_NONE, ACQ_REQUESTED, ACQ_HELD };

struct transport {
        struct transport *next;
        struct daemon *daemon;
        char path[PATH_LEN];
        char device[PATH_LEN];
        const struct a2dp_codec *codec;  /* the endpoint's it was configured on */
        bool spare;                      /* on a spare endpoint (MultiOutput) */
        uint8_t config[A2DP_CODEC_BLOB_MAX];
        size_t config_len;
        struct codec_info info;          /* codec->parse of config */
        uint8_t offered[A2DP_CODEC_BLOB_MAX];  /* the speaker's capabilities */
        size_t offered_len;
        bool has_offered;
        enum transport_state state;
        bool state_announced;             /* the last PropertiesChanged carried State */
        bool has_delay, has_volume;
        uint16_t delay;          /* 1/10 ms, as BlueZ reports it */
        uint16_t volume;         /* 0-127 */
        bool volume_changed;     /* by the last PropertiesChanged */
        bool volume_appeared;    /* AVRCP came up: Volume is new */
        bool volume_answer;      /* ... and it answered a write of ours */
        uint8_t volume_answered; /* that write's value (Volume: the step it took) */
        uint8_t volume_asked[8]; /* values written, not answered yet, oldest first */
        unsigned volume_asked_n;
        uint64_t volume_asked_at; /* when the last of them was written */
        enum acquire_state acq;
        bool release_on_reply;   /* released while its Acquire or TryAcquire was in flight */
        bool rate_asked;         /* the speaker was asked for the engine's rate */
        DBusPendingCall *call;
        sd_event_source *acquire_timer;  /* next Acquire attempt */
        unsigned acquire_failures;
        int fd;
        uint16_t read_mtu, write_mtu;
};

struct stream;
struct players;
/* remote-sep.c: the end of a reconfiguration (err 0: the speaker took it;
 * else a negative errno and a sentence) */
typedef void (*remote_sep_done_fn)(struct daemon *d, int err, const char *why, void *ud);

/* What bluez.c reports to the modules that follow adapters (player.c). */
struct bluez_listener {
        struct bluez_listener *next;
        /* Media1 is usable on a (bluetoothd is up, the adapter is one we
         * use); may be repeated for the same adapter */
        void (*media_added)(struct adapter *a, void *ud);
        /* a's Media1 went away, or a is about to be freed */
        void (*media_gone)(struct adapter *a, void *ud);
        /* a transport of a's, of the device at device_path, went away
         * (transport.c) */
        void (*transport_gone)(struct adapter *a, const char *device_path, void *ud);
        void *ud;
};

struct daemon {
        sd_event *event;
        DBusConnection *conn;
        struct options opts;
        bool rt_granted;
        int rt_priority;                 /* the audio thread's, once granted */

        char bluez_owner[64];    /* unique name of org.bluez, "" when gone */
        DBusPendingCall *owner_call, *objects_call;
        struct adapter *adapters;
        struct device *devices;
        struct transport *transports;
        struct bluez_listener *bluez_listeners;

        /* the AVRCP player: the speaker's buttons, what plays (player.c) */
        struct players *players;

        /* audio path */
        bool want_bluetooth;     /* speaker mode: a Bluetooth output is wanted */
        struct stream *stream;
        sd_event_source *stream_events;
        struct transport *streaming;   /* transport the audio thread writes to */
        /* the engine's output slot of the first speaker, the second on the
         * other: 0 until a second that plays is made the one output (it
         * keeps its slot, its encoder and its queue) */
        unsigned first_slot;
        /* each slot's counters as its last attach found them: GetOutputs
         * counts a speaker's stream from there (manager-outputs.c) */
        struct slot_counts {
                uint64_t packets, stalls, congestion, dropped_frames;
        } slot_base[2];
        int level_logged;              /* the audio thread's quality level, as last logged */
        unsigned level_value_logged;   /* and what it showed (0: none since the stream began) */
        bool rate_control_noted;       /* a codec's missing rate controller was logged */
        snd_pcm_t *capture[CAT_COUNT];
        snd_pcm_t *local;
        unsigned engine_rate;
        unsigned capture_rate;   /* the capture's own rate, the board's choice; 0 unknown */
        /* why nothing streams to a connected speaker: "" none, else
         * "<reason>: <sentence>" (Manager1.StreamBlocked) */
        char stream_blocked[320];
        sd_event_source *capture_watch;  /* does the capture deliver? */
        /* snd-aloop: whether the producer plays into the capture's cable */
        snd_ctl_t *producer_ctl;
        snd_ctl_elem_value_t *producer_value;
        sd_event_source *producer_io, *producer_timer;
        bool producer_known, producer_playing;
        /* the producer's substream in procfs, and an underrun it is given
         * time to recover from (capture-health.c) */
        char producer_status[96];
        sd_event_source *producer_xrun;
        uint64_t producer_xrun_since;
        unsigned capture_period;         /* frames, as the captures run */
        sd_event_source *capture_retry[CAT_COUNT];  /* reopening a failed secondary */
        unsigned capture_retries[CAT_COUNT];
        uint64_t capture_failures;       /* captures that failed beyond recovery */
        /* reconfiguring the speaker's stream at the capture's rate */
        DBusPendingCall *reconfig_call;
        char reconfig_sep[PATH_LEN];
        char reconfig_device[PATH_LEN];
        remote_sep_done_fn reconfig_done;        /* who asked, told at the end */
        void *reconfig_ud;
        char reconfig_endpoint[PATH_LEN + 64];
        const struct a2dp_codec *reconfig_codec;
        unsigned reconfig_rate;
        uint64_t reconfig_at;            /* CLOCK_MONOTONIC us of the last request */
/* at most one reconfiguration of a speaker's stream this often: rapid
 * repeats have been seen to drop the A2DP profile */
#define RECONFIG_MIN_US 5000000ull
        /* Manager1.SetCodec waiting for the speaker, and when the last
         * switch was asked (codec-control.c) */
        DBusMessage *codec_call;
        uint64_t codec_switch_at;
        struct bluez_listener codec_listener;
        /* closed-stream.c: streams a connected speaker closed, first and
         * second output's */
        struct bluez_listener closed_listener;
        sd_event_source *closed_check;
        struct close_history closes[2];
        uint64_t watch_frames, watch_moved_at;
        bool capture_converting; /* the engine's rate is not the capture's: converted */
        unsigned engine_period;  /* frames, as asked of the capture */
        sd_event_source *engine_retry;
        unsigned engine_failures;
        /* per category, the capture's failure last logged: the same one
         * again is debug until the capture delivers (capture-health.c) */
        char capture_said[CAT_COUNT][192];
        bool engine_stuck;       /* the audio thread stopped answering: see output.c */
        bool local_warned;
        uint64_t link_errors;
        /* the doctor's: events per device (history.h), and the
         * capabilities of the last SelectConfiguration, with the codec it
         * asked */
        struct history history;
        uint8_t offered_caps[A2DP_CODEC_BLOB_MAX];
        size_t offered_caps_len;
        const struct a2dp_codec *offered_codec;
        bool have_offered_caps;

        /* speaker mode and the one Bluetooth output */
        struct saved_state state;        /* the user's settings, as saved */
        sd_event_source *save_timer;     /* a coalesced write, or a failed one's retry, is due */
        unsigned save_failures;          /* writes failed in a row (a full or read-only disk) */
        int save_err_said;               /* their error, logged once: -errno */
        bool on_battery;
        sd_event_source *power_timer;
        char output[18];                 /* address of the output device, "" none */
        char connecting[18];             /* address being connected, "" none */
        /* the codec our last SelectConfiguration chose, and for whom: a
         * connection failing before its SetConfiguration came means the
         * speaker refused it (codec-refusal.h; endpoint.c, speaker.c) */
        const struct a2dp_codec *chosen_codec;
        char chosen_for[18];             /* "" when it may be for several */
        bool chosen_unnamed;             /* no connection of ours asked */
        uint64_t chosen_at;              /* CLOCK_MONOTONIC us */
        struct codec_refusals refusals;
        /* codecs whose library did not load when a stream needed their
         * encoder (it was findable when we offered them): left out until
         * a2dpsrcd restarts (codec-control.c) */
        unsigned codecs_unloadable;
        struct connect_callers connect_calls;   /* Manager1.Connect waiting for d->connecting */
        DBusPendingCall *connect_pending;
        /* what connect_pending is (speaker.c): the previous output being
         * disconnected, or ConnectProfile to connect_inflight */
        enum { CONNECT_NONE, CONNECT_DROP_OLD, CONNECT_PROFILE } connect_pending_kind;
        char connect_inflight[18];
        struct calloff calloff;          /* connect_inflight called off */
        /* d->connecting refused InProgress: bluetoothd's own reconnect
         * (or another client) connects it; asked again */
        struct connect_busy connect_busy;
        /* the second speaker (MultiOutput, multi-output.c): engine slot 1 */
        char output2[18];                /* its address, "" none */
        uint8_t volume2;                 /* its volume, 0..127 (the first's is state.volume) */
        char connecting2[18];            /* its ConnectProfile under way */
        /* whose ConnectProfile is in flight, wanted still or called off
         * (its reply then sends the speaker away) */
        char connect2_inflight[18];
        bool output2_newer;              /* connected after the first: kept
                                          * when MultiOutput goes off */
        struct transport *streaming2;    /* its transport on the other slot */
        struct connect_callers connect2_calls;  /* Manager1.Connect waiting for it */
        DBusPendingCall *connect2_pending;
        struct calloff calloff2;         /* connect2_inflight called off */
        struct connect_busy connect2_busy;      /* connecting2 refused InProgress */
        /* a second speaker whose link dropped: reconnected with backoff
         * while the first plays (AutoReconnect) */
        char lost2[18];
        sd_event_source *reconnect2_timer;
        sd_event_source *rate_retry;     /* asking the second for the engine's rate again */
        unsigned reconnect2_attempt;
        char reconnect2_said[256];       /* as reconnect_said, for lost2 */
        sd_event_source *reconnect_timer;
        bool reconnect_after_socket_error; /* that timer: speaker_link_lost's */
        unsigned reconnect_attempt;
        /* the automatic reconnect's failure last logged: the same again
         * (a speaker off for hours, paged every 60 s) is debug until one
         * connects (speaker.c) */
        char reconnect_said[256];
        uint64_t reconnects;
        bool user_disconnected;          /* no auto-reconnect after Disconnect() */
        struct lost_speaker lost;        /* the output lost, bluetoothd maybe paging it */
        sd_event_source *idle_timer;
        bool idle_suspended;             /* released for silence; sound takes it back */
        /* the speaker suspended the stream (AVDTP SUSPEND): taken back when
         * there is sound, not before resume_not_before (CLOCK_MONOTONIC
         * us); the hold-off doubles when the speaker keeps suspending */
        uint64_t resume_not_before, resumed_at;
        unsigned resume_holdoff_ms;
        /* the device (path) whose suspend that is: another speaker's
         * transport starts clean. "" while released for silence */
        char holdoff_device[PATH_LEN];

        /* pairing and discovery */
        DBusMessage *pair_call;          /* Manager1.Pair waiting for BlueZ */
        DBusPendingCall *pair_pending;
        char pairing[18];                /* address the agent may accept, "" none */
        agent_pair_done_fn pair_done;    /* Manager1.Connect waiting on Pair */
        struct connect_callers pair_joined;     /* more Connects of d->pairing */
        bool pair_called_off;            /* that Connect called off (Disconnect) */
        char pairable_adapter[PATH_LEN]; /* made Pairable for our pairing, "" none */
        /* the last such window, closed: a bond begun through it may
         * complete after (agent.c) */
        char window_adapter[PATH_LEN];
        char window_target[18];
        uint64_t window_closed_us;
        enum registration agent_reg;     /* only while pairing (agent.c) */
        struct adapter *discovery_adapter;    /* our scan runs there, NULL none */
        sd_event_source *discovery_timer;     /* the scan's time limit */

        /* Manager1 PropertiesChanged bookkeeping */
        char *prop_cache[20];
        /* each output as last signalled (OutputChanged, manager-outputs.c) */
        struct output_seen {
                char address[18];
                char name[128];
                char state[16];
                uint16_t volume;
                char codec[96];
                uint32_t delay;
                char delay_source[12];
        } outputs_seen[2];

        bool bus_up;                     /* name taken, objects exported */
        bool ready_sent;
        /* the STATUS= last sent: sent again only when it changes (each
         * notification is a blocking send to systemd's socket) */
        char status_sent[512];
        bool shutting_down;
};

/* The engine's output slots of the first and the second speaker. */
static inline unsigned first_slot(const struct daemon *d)
{
        return d->first_slot;
}

static inline unsigned second_slot(const struct daemon *d)
{
        return 1u - d->first_slot;
}

/* The codecs offered: --codecs (the ceiling), restricted by
 * Manager1.Codecs (saved; 0 = no restriction), less those whose library
 * would not load. */
static inline unsigned daemon_codecs(const struct daemon *d)
{
        return d->opts.codecs & (d->state.codecs ? d->state.codecs : ~0u) & ~d->codecs_unloadable;
}

/* bluez.c: following org.bluez on the bus */
int bluez_init(struct daemon *d);
void bluez_shutdown(struct daemon *d);
struct adapter *bluez_adapter_by_path(struct daemon *d, const char *path);
struct device *bluez_device_by_path(struct daemon *d, const char *path);
bool bluez_sender_is_owner(struct daemon *d, DBusMessage *msg);
void bluez_add_listener(struct daemon *d, struct bluez_listener *l);
/* iface.method() on dev, no arguments, reply not awaited (Disconnect). */
void bluez_device_call(struct daemon *d, const struct device *dev, const char *iface, const char *method);
/* The same with one string argument (arg NULL: none), no reply asked. */
void bluez_device_call_arg(struct daemon *d, const struct device *dev, const char *iface, const char *method,
                           const char *arg);
void bluez_remove_listener(struct daemon *d, struct bluez_listener *l);
/* transport.c: a transport of the device at device_path went away */
void bluez_report_transport_gone(struct daemon *d, const char *device_path);

/* endpoint.c: our MediaEndpoint1 and its application root */
int endpoint_export(struct daemon *d);
void endpoint_register(struct daemon *d, struct adapter *a);
void endpoint_adapter_gone(struct daemon *d, struct adapter *a);
void endpoint_unregister_all(struct daemon *d);
/* Unregisters a's endpoints and registers them again (Codecs changed). */
void endpoint_reregister(struct daemon *d, struct adapter *a);
/* Our endpoint's object path for codec c on adapter a. */
void endpoint_path(const struct adapter *a, const struct a2dp_codec *c, char *buf, size_t len);
/* a's endpoint of c that no stream but except's uses (the usual one, else
 * the spare): 0, or -EBUSY when both carry another speaker's stream. */
int endpoint_path_idle(struct daemon *d, const struct adapter *a, const struct a2dp_codec *c,
                       const struct transport *except, char *buf, size_t len);
/* MultiOutput changed, or a stream on a spare endpoint ended: the spares
 * are registered where the mode is on, and unregistered where it is off
 * once no stream uses them. */
void endpoint_spares_update(struct daemon *d);

/* transport.c: org.bluez.MediaTransport1 */
struct transport *transport_by_path(struct daemon *d, const char *path);
/* dev's transport (the first, BlueZ gives an A2DP sink one), NULL if none
 * or dev is NULL. */
struct transport *transport_of_device(struct daemon *d, const struct device *dev);
/* codec, spare: the endpoint's the speaker configured. */
int transport_create(struct daemon *d, const char *path, const struct a2dp_codec *codec, bool spare,
                     DBusMessageIter *props, char *err, size_t err_len);
/* "SBC 44100 Hz joint-stereo 16/8 loudness bitpool 53" at quality level. */
void transport_describe(const struct transport *t, unsigned level, char *buf, size_t len);
void transport_remove(struct daemon *d, struct transport *t);
void transport_properties_changed(struct daemon *d, struct transport *t, DBusMessageIter *changed);
int transport_acquire(struct daemon *d, struct transport *t);
void transport_release(struct daemon *d, struct transport *t, bool wait);
void transport_set_volume(struct daemon *d, struct transport *t, uint16_t volume);

/* Decoders of what peers send, free of side effects (also fuzzed).
 * t->codec: the endpoint's codec, or NULL to take it from Codec (and the
 * vendor header) through the table. */
int transport_parse_properties(DBusMessageIter *props, struct transport *t, char *err, size_t err_len);
void transport_parse_changed(DBusMessageIter *changed, struct transport *t);
int bluez_parse_adapter_props(DBusMessageIter *dict, struct adapter *a);
int bluez_parse_device_props(DBusMessageIter *dict, struct device *dev);
void bluez_device_invalidated(struct device *dev, DBusMessageIter *changed);
int manager_decode_routes(DBusMessageIter *v, enum route routes[CAT_COUNT], char *err, size_t err_len);

/* adapter selection shared by the control modules */
struct adapter *bluez_default_adapter(struct daemon *d);
struct device *bluez_device_by_address(struct daemon *d, const char *address);
/* BlueZ lists every device it has: it is on the bus, and an adapter we use
 * has our endpoints registered (it exported that adapter's devices first) */
bool bluez_devices_listed(struct daemon *d);
/* An A2DP sink, or not known yet and audio equipment by its class. */
bool bluez_device_may_be_sink(const struct device *dev);

/* output.c: when and how audio goes to the Bluetooth output */
int output_init(struct daemon *d);
void output_shutdown(struct daemon *d);
void output_transport_added(struct daemon *d, struct transport *t);
void output_transport_changed(struct daemon *d, struct transport *t);
void output_transport_removing(struct daemon *d, struct transport *t);
void output_acquired(struct daemon *d, struct transport *t);
/* by_bluez: BlueZ refused (the speaker may accept later); else what it
 * gave was unusable */
void output_acquire_failed(struct daemon *d, struct transport *t, const char *error, bool by_bluez);
/* The output speaker pressed a key asking for music: what holds its stream
 * back for its own sake ends (output-acquire.c). */
void output_speaker_wants_music(struct daemon *d);
void output_update_status(struct daemon *d);
/* service-status.c: systemd's READY=1 and STATUS= line */
void service_status_update(struct daemon *d);
/* The audio thread left a command unanswered (stream_wedged): reported once,
 * recovery handed to systemd's watchdog (docs/reliability.md). */
void output_engine_stuck(struct daemon *d);
void output_set_speaker_mode(struct daemon *d, bool on);
void output_routes_changed(struct daemon *d);
void output_volume_changed(struct daemon *d);
void output_idle_suspend_changed(struct daemon *d);
uint32_t output_latency_us(struct daemon *d);
/* t's on engine slot (0 the first speaker, 1 the second): capture to ear */
uint32_t output_latency_of(struct daemon *d, const struct transport *t, unsigned slot);
/* The speaker's own share of t's latency: its reported Delay, else the
 * delay its user set (SetSpeakerDelay), else the assumption
 * (speaker-delay.h); *source (may be NULL) says which. */
enum speaker_delay_source;
uint32_t output_speaker_delay_us(struct daemon *d, const struct transport *t,
                                 enum speaker_delay_source *source);
void output_speaker_delay_changed(struct daemon *d);
/* The engine cannot hold the output on slot back as far as the other
 * speaker's longer path asks (STREAM_EV_ALIGN_SHORT): said once. */
void output_align_short(struct daemon *d, unsigned slot, uint32_t short_us);

/* remote-sep.c: reconfiguring the speaker's stream at another rate */
/* Reconfigures t's stream through the speaker's SEP sep (NULL: the
 * stream's own) with our endpoint of codec c, a configuration chosen by c
 * within the SEP's Capabilities; rate: the rate it must have (0: any, the
 * capture's preferred). done (may be NULL) hears the outcome once, unless
 * this returns an error. */
int remote_sep_configure(struct daemon *d, const struct transport *t, const char *sep,
                         const struct a2dp_codec *c, unsigned rate, remote_sep_done_fn done, void *ud);
int remote_sep_reconfigure(struct daemon *d, const struct transport *t, unsigned rate);
/* Whether a reconfiguration of t's speaker is in flight (BlueZ closes its
 * stream on the way). */
bool remote_sep_busy_on(const struct daemon *d, const struct transport *t);
/* The same for the device at device_path (its transport may be gone). */
bool remote_sep_busy_for(const struct daemon *d, const char *device_path);
void remote_sep_cancel(struct daemon *d);

/* output.c, for capture-health.c */
void output_detach(struct daemon *d);
/* t's stream closed by BlueZ for a reconfiguration we asked for: let go
 * of (detached, released) and true; false when it is no such stream. */
bool output_reconfiguring(struct daemon *d, struct transport *t);
/* The second speaker, playing, is the one output from now on, where it plays. */
void output_take_over(struct daemon *d);
void output_maybe_acquire(struct daemon *d, struct transport *t);
/* t's stream, the first's or the second's, let go of: detached, then
 * released (its socket closed) */
void output_let_go(struct daemon *d, struct transport *t);

/* output-idle.c: given back after silence, or held off after the
 * speaker's own suspend */
int output_idle_init(struct daemon *d);
void output_idle_shutdown(struct daemon *d);
void output_idle_watch_update(struct daemon *d);
void output_forget_holdoff(struct daemon *d);
void output_hold_off_after_suspend(struct daemon *d, struct transport *t);
void output_engine_resume(struct daemon *d);
void output_engine_stop(struct daemon *d);

/* capture-health.c: a speaker is never held silent (Manager1.StreamBlocked) */
void output_block_stream(struct daemon *d, const char *reason, const char *detail);
void output_unblock_stream(struct daemon *d);
bool output_blocked_for(const struct daemon *d, const char *reason);
void capture_watch_update(struct daemon *d);
void output_producer_changed(struct daemon *d, bool playing);
bool capture_health_producer_plays(struct daemon *d);
void capture_health_say(struct daemon *d, int category, enum log_level level, const char *text);
int capture_health_init(struct daemon *d);
void capture_health_shutdown(struct daemon *d);

/* producer-watch.c: snd-aloop's producer side */
int producer_watch_start(struct daemon *d, const char *capture);
void producer_watch_stop(struct daemon *d);
/* What the producer's substream is doing (aloop-status.h's enum). */
int producer_watch_sub_state(struct daemon *d);

/* capture-retry.c: reopening a failed secondary capture while the engine runs */
void capture_retry_schedule(struct daemon *d, int category);
void capture_retry_cancel(struct daemon *d);

/* manager.c: org.a2dpsrc.Manager1 */
int manager_init(struct daemon *d);
void manager_shutdown(struct daemon *d);
/* Emits PropertiesChanged for whatever changed since the last call. */
void manager_update(struct daemon *d);
/* OutputChanged(address, changed) for each output whose name, state,
 * volume, codec or delay changed since last said (manager_update). */
void manager_outputs_signal(struct daemon *d);
/* manager-outputs.c: a speaker's stream is about to be attached on slot;
 * its counters in GetOutputs start here. */
void manager_outputs_mark_attach(struct daemon *d, unsigned slot);
/* Saves the settings; returns a negative errno and logs on failure. */
int manager_save(struct daemon *d);
/* For changes that come in bursts (the speaker's volume button): one write
 * a second at most, the last one flushed by manager_shutdown(). */
void manager_save_soon(struct daemon *d);
/* Categories routed to Bluetooth, as the audio thread's bit mask. */
unsigned manager_route_mask(struct daemon *d);

/* speaker.c: connecting, disconnecting and reconnecting the output */
/* BlueZ's ConnectProfile error as ours: its name, and text for a user. */
const char *speaker_connect_error(const DBusError *err, const char *addr, char *text, size_t len);
void speaker_connect(struct daemon *d, struct device *dev, DBusMessage *call);
void speaker_disconnect(struct daemon *d);
/* The connection waiting (d->connecting) goes ahead once nothing it must
 * wait for is under way: a previous output or a called-off connection
 * being disconnected, a lost speaker being let go (lost-speaker.c). */
void speaker_connect_when_free(struct daemon *d);
void speaker_forget(struct daemon *d, struct device *dev, DBusMessage *call);
/* connect-join.c: a Connect while one a caller asked for runs joins it
 * when it is dev's (connect-callers.h), else is refused InProgress. True
 * when call is answered or waiting; false: nothing asked for is under way. */
bool connect_join(struct daemon *d, const struct device *dev, DBusMessage *call);
/* A Connect of dev, which a Connect is pairing first, waits for that
 * pairing and then goes its way; true when call is answered or waiting,
 * false when no Connect pairs dev. */
bool connect_join_pairing(struct daemon *d, const struct device *dev, DBusMessage *call);
/* The bus name left: its Connect calls waiting are dropped unanswered. */
void connect_join_caller_left(struct daemon *d, const char *name);
void speaker_transport_configured(struct daemon *d, struct transport *t);
/* Whether t belongs to the output device (or the one being connected). */
bool speaker_transport_is_output(struct daemon *d, struct transport *t);
void speaker_link_lost(struct daemon *d, const char *device_path);
void speaker_device_changed(struct daemon *d, struct device *dev, bool was_connected);
void speaker_reconnect_soon(struct daemon *d);
/* speaker-refusal.c: what a speaker's failed connection (after our
 * SelectConfiguration chose its codec; unnamed: a connection not ours)
 * says of its codecs; true when it is to be connected again at once with
 * its next codec. */
bool speaker_refusal_learn(struct daemon *d, const char *addr, bool unnamed);
/* The speaker took a configuration: not busy (codec-refusal.h). */
void speaker_refusal_configured(struct daemon *d, const char *addr);
/* Our endpoints are registered on an adapter: a reconnection that waited
 * for them goes ahead. */
void speaker_endpoints_registered(struct daemon *d);
void speaker_reset(struct daemon *d);
bool speaker_reconnect_wanted(struct daemon *d);
bool speaker_reconnect_pending(const struct daemon *d);
bool speaker_reconnect_after_socket_error(const struct daemon *d);
/* The output is connected again (or its stream set up) in delay_s. */
void speaker_set_up_again(struct daemon *d, unsigned delay_s);
void speaker_shutdown(struct daemon *d);
/* speaker-reconnect.c: the reconnect timer of the (first) output; in
 * delay_ms, at the next backoff step, or none */
void speaker_reconnect_in(struct daemon *d, unsigned delay_ms);
void speaker_reconnect_backoff(struct daemon *d);
void speaker_reconnect_cancel(struct daemon *d);

/* closed-stream.c: a speaker that closes its stream while connected */
void closed_stream_init(struct daemon *d);
void closed_stream_check_soon(struct daemon *d);
void closed_stream_shutdown(struct daemon *d);

/* multi-output.c: the second speaker (MultiOutput) on engine slot 1 */
struct stream_event;
/* Connect(dev) with MultiOutput on while another speaker plays: dev is
 * made the second output, or refused; true when handled (call replied or
 * kept). False: the usual one-output path. */
bool multi_output_connect(struct daemon *d, struct device *dev, DBusMessage *call);
/* t is the second speaker's. */
bool multi_output_is_second(struct daemon *d, const struct transport *t);
/* multi-output-reconnect.c: a lost second speaker (d->lost2) reconnected
 * at the next backoff step, its timer stopped, or forgotten */
bool multi_output_reconnect_wanted(struct daemon *d);
void multi_output_reconnect_backoff(struct daemon *d);
void multi_output_reconnect_cancel(struct daemon *d);
void multi_output_forget_lost(struct daemon *d);
/* The second speaker is connected. */
bool multi_output_connected(struct daemon *d);
void multi_output_maybe_acquire(struct daemon *d, struct transport *t);
void multi_output_acquired(struct daemon *d, struct transport *t);
void multi_output_resume(struct daemon *d);
void multi_output_detach(struct daemon *d);
void multi_output_transport_removing(struct daemon *d, struct transport *t);
void multi_output_event(struct daemon *d, const struct stream_event *ev);
/* BlueZ closed the second speaker's stream for a reconfiguration that
 * failed (remote-sep.c), its link up: it is set up again as after a
 * lost link. */
void multi_output_stream_lost(struct daemon *d, const char *device_path);
/* true: dev is the second speaker (handled). */
bool multi_output_device_changed(struct daemon *d, struct device *dev, bool was_connected);
/* Disconnect(): the second speaker goes too. */
void multi_output_disconnect(struct daemon *d);
/* The first output or the second goes, the other plays on alone: 0;
 * -ENOTCONN when it is the one output (no second: the caller disconnects
 * it as Disconnect() does). */
int multi_output_disconnect_one(struct daemon *d, bool first_one);
/* The second speaker's volume (0..127): on the speaker by AVRCP where it
 * has it, else as its own software gain; -ENOENT when there is none. */
int multi_output_set_volume(struct daemon *d, unsigned volume);
/* Its transport changed volume (its buttons) or gained AVRCP volume. */
void multi_output_transport_volume(struct daemon *d, struct transport *t);
/* dev configured a stream by itself while another speaker plays: with
 * MultiOutput on and no second, it becomes the second (true). */
bool multi_output_adopt(struct daemon *d, struct device *dev);
/* With MultiOutput on, another speaker playing and no second, dev would
 * be taken as the second. */
bool multi_output_takes(struct daemon *d, const struct device *dev);
/* dev is being configured, its connection as the second output called
 * off while in flight: its reply sends it away. */
bool multi_output_called_off(struct daemon *d, const struct device *dev);
/* An adapter came up (speaker_reconnect_soon): a lost second speaker is
 * tried again afresh. */
void multi_output_reconnect_soon(struct daemon *d);
/* Forget(address) of the second output, or of the second lost: it goes,
 * and is not reconnected (true); false when it is neither. */
bool multi_output_forget(struct daemon *d, const char *address);
/* Manager1.MultiOutput; off keeps the speaker connected last. */
int multi_output_set(struct daemon *d, bool on);
void multi_output_shutdown(struct daemon *d);

/* diagnose.c: the doctor's view of the daemon. The control modules note
 * what happens to a device into its history; Manager1.Diagnose reads it. */
void diagnose_note(struct daemon *d, const char *address, enum history_kind kind, const char *detail);
void diagnose_note_transport(struct daemon *d, const struct transport *t, enum history_kind kind,
                             const char *detail);
/* A scan reports dev (its RSSI): when it was last seen. */
void diagnose_seen(struct daemon *d, const struct device *dev);
DBusHandlerResult diagnose_method(struct daemon *d, DBusMessage *msg);

/* agent.c: our org.bluez.Agent1 and pairing */
int agent_export(struct daemon *d);
/* An adapter appeared (bluetoothd back): a pairing window of ours that
 * bluetoothd's crash left open on it is shut. */
void agent_adapter_appeared(struct daemon *d, const struct adapter *a);
void agent_bluez_gone(struct daemon *d);
/* Pairs and trusts dev and remembers it as ours; replies to call, or
 * hands it to done (may be NULL). */
void agent_pair(struct daemon *d, struct device *dev, DBusMessage *call, agent_pair_done_fn done);
/* Disconnect calls off a Connect still pairing: the pairing is cancelled
 * and the Connect answered Failed when it ends, whatever its outcome. */
void agent_call_off_connect(struct daemon *d);
void agent_shutdown(struct daemon *d);
/* dev became Paired (bluez.c): a bond made through the window our own
 * pairing opened, by anyone else, is undone. */
void agent_device_paired(struct daemon *d, struct device *dev);

/* discovery.c: a bounded BR/EDR scan on behalf of Manager1's callers */
int discovery_start(struct daemon *d, DBusMessage *call);
int discovery_stop(struct daemon *d, DBusMessage *call);
void discovery_streaming_started(struct daemon *d);
/* Forgets the scan (bluetoothd gone, or the daemon stopping). */
void discovery_bluez_gone(struct daemon *d);

#endif
