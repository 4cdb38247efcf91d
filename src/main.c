/* a2dpsrcd: start-up, the main loop, shutdown. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <systemd/sd-daemon.h>

#include "daemon.h"
#include "dbus-loop.h"
#include "log.h"
#include "options.h"
#include "player.h"
#include "power.h"
#include "realtime.h"
#include "stream.h"
#include "state.h"

#define CONFIG_MAX ((size_t)64 * 1024)
/* Power supplies have no change notification we can rely on everywhere;
 * a poll every two seconds costs nothing and bounds the reaction time. */
#define POWER_POLL_US 2000000ull

/* Reads the configuration file; a missing default file is fine, a missing
 * file named with --config is not. */
static int load_config(struct options *o, char *err, size_t err_len)
{
        char *text = NULL;
        FILE *f = fopen(o->config, "re");
        size_t n;
        int r = 0;

        if (!f) {
                if (errno == ENOENT && !o->config_given)
                        return 0;
                snprintf(err, err_len, "%s: %s", o->config, strerror(errno));
                return -errno;
        }
        text = malloc(CONFIG_MAX + 1);
        if (!text) {
                fclose(f);
                return -ENOMEM;
        }
        n = fread(text, 1, CONFIG_MAX + 1, f);
        if (ferror(f)) {
                snprintf(err, err_len, "%s: read error", o->config);
                r = -EIO;
        } else if (n > CONFIG_MAX) {
                snprintf(err, err_len, "%s: larger than %zu bytes", o->config, CONFIG_MAX);
                r = -EFBIG;
        } else {
                char msg[200];
                text[n] = '\0';
                if (strlen(text) != n) {
                        snprintf(err, err_len, "%s: contains a NUL byte", o->config);
                        r = -EINVAL;
                } else if (options_parse_config(o, text, msg, sizeof(msg)) < 0) {
                        snprintf(err, err_len, "%s: %s", o->config, msg);
                        r = -EINVAL;
                }
        }
        free(text);
        fclose(f);
        return r;
}

/* Restores the user's settings; a corrupt file was set aside by
 * state_load and defaults apply. */
static void load_state(struct daemon *d)
{
        char err[256] = "";
        int r = state_load(d->opts.state_dir, &d->state, err, sizeof(err));

        if (r == STATE_LOAD_CORRUPT)
                log_warn("settings in %s were unreadable (%s); set aside, using defaults",
                         d->opts.state_dir, err);
        else if (r < 0)
                log_warn("cannot read settings in %s: %s; using defaults", d->opts.state_dir,
                         err[0] ? err : strerror(-r));
        d->want_bluetooth = d->state.speaker_mode;
        log_info("speaker mode %s, last output %s", d->state.speaker_mode ? "on" : "off",
                 d->state.last_output[0] ? d->state.last_output : "none");
}

static int on_power_timer(sd_event_source *s, uint64_t usec, void *ud)
{
        struct daemon *d = ud;
        bool on_battery = false;

        if (power_read(d->opts.power_supply, &on_battery) == 0 && on_battery != d->on_battery) {
                d->on_battery = on_battery;
                log_info("the board now runs on %s", on_battery ? "battery" : "external power");
                if (on_battery && d->state.speaker_mode) {
                        log_notice("speaker mode switched off: the board runs on battery");
                        output_set_speaker_mode(d, false);
                        manager_save(d);
                }
                manager_update(d);
        }
        sd_event_source_set_time(s, usec + POWER_POLL_US);
        return 0;
}

static int on_signal(sd_event_source *s, const struct signalfd_siginfo *si, void *ud)
{
        struct daemon *d = ud;

        log_info("%s: shutting down", strsignal((int)si->ssi_signo));
        d->shutting_down = true;
        sd_notify(0, "STOPPING=1");
        return sd_event_exit(sd_event_source_get_event(s), 0);
}

/* kill -HUP is how many daemons are asked to read their configuration
 * again; ours is read at start only. By default SIGHUP would end the
 * daemon at once, with no clean-up, and systemd counts that a clean exit
 * (Restart=on-failure does not restart it): the board without its
 * speaker until the next boot. Said, and ignored. */
static int on_hangup(sd_event_source *s, const struct signalfd_siginfo *si, void *ud)
{
        log_notice("SIGHUP ignored: the configuration is read at start only; "
                   "'systemctl restart a2dpsrcd' applies a changed one");
        return 0;
}

static int on_disconnected(sd_event_source *s, void *ud)
{
        log_err("lost the system bus");
        return sd_event_exit(sd_event_source_get_event(s), 1);
}

static DBusHandlerResult bus_filter(DBusConnection *conn, DBusMessage *msg, void *ud)
{
        struct daemon *d = ud;

        const char *gone;

        if (dbus_message_is_signal(msg, DBUS_INTERFACE_LOCAL, "Disconnected"))
                sd_event_add_defer(d->event, NULL, on_disconnected, d);
        else if ((gone = connect_callers_left_bus(msg)))
                connect_join_caller_left(d, gone);
        return DBUS_HANDLER_RESULT_NOT_YET_HANDLED;
}

static int connect_bus(struct daemon *d)
{
        DBusError err;
        int r;

        dbus_error_init(&err);
        /* honours DBUS_SYSTEM_BUS_ADDRESS */
        d->conn = dbus_bus_get_private(DBUS_BUS_SYSTEM, &err);
        if (!d->conn) {
                log_err("cannot connect to the system bus: %s", err.message);
                dbus_error_free(&err);
                return -ECONNREFUSED;
        }
        dbus_connection_set_exit_on_disconnect(d->conn, FALSE);
        r = dbus_bus_request_name(d->conn, A2DPSRC_BUS_NAME, DBUS_NAME_FLAG_DO_NOT_QUEUE, &err);
        if (r != DBUS_REQUEST_NAME_REPLY_PRIMARY_OWNER) {
                log_err("cannot own %s: %s", A2DPSRC_BUS_NAME,
                        dbus_error_is_set(&err) ? err.message : "another a2dpsrcd is running");
                dbus_error_free(&err);
                return -EEXIST;
        }
        if (!dbus_connection_add_filter(d->conn, bus_filter, d, NULL))
                return -ENOMEM;
        return dbus_loop_attach(d->conn, d->event);
}

int main(int argc, char **argv)
{
        struct daemon d;
        char err[1024];
        sigset_t mask;
        int r;

        memset(&d, 0, sizeof(d));
        options_defaults(&d.opts);
        r = options_parse_args(&d.opts, argc, argv, 1, err, sizeof(err));
        if (r == 0 && (r = load_config(&d.opts, err, sizeof(err))) == 0)
                r = options_parse_args(&d.opts, argc, argv, 0, err, sizeof(err));
        if (r == 1)
                return 0;
        if (r < 0) {
                fprintf(stderr, "a2dpsrcd: %s\nTry 'a2dpsrcd --help'.\n", err);
                return 2;
        }
        log_init(d.opts.verbose);
        log_info("a2dpsrcd %s starting; capture %s", A2DPSRC_VERSION, d.opts.capture[CAT_MEDIA]);
        load_state(&d);

        r = sd_event_default(&d.event);
        if (r < 0) {
                log_err("cannot create the event loop: %s", strerror(-r));
                goto fail;
        }
        /* a file size limit (or a full quota) must fail the write, not kill
         * the daemon: the state file is written atomically and survives */
        signal(SIGXFSZ, SIG_IGN);
        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigaddset(&mask, SIGPIPE);
        sigaddset(&mask, SIGHUP);
        /* blocked before any thread starts, so only the loop sees them */
        sigprocmask(SIG_BLOCK, &mask, NULL);
        if ((r = sd_event_add_signal(d.event, NULL, SIGTERM, on_signal, &d)) < 0 ||
            (r = sd_event_add_signal(d.event, NULL, SIGINT, on_signal, &d)) < 0 ||
            (r = sd_event_add_signal(d.event, NULL, SIGHUP, on_hangup, &d)) < 0) {
                log_err("cannot watch SIGTERM/SIGINT/SIGHUP: %s", strerror(-r));
                goto fail;
        }
        /* WATCHDOG=1 at half of WatchdogSec= while the loop turns */
        sd_event_set_watchdog(d.event, true);
        {
                bool on_battery = false;
                if (power_read(d.opts.power_supply, &on_battery) == 0)
                        d.on_battery = on_battery;
                if (d.on_battery && d.state.speaker_mode) {
                        log_notice("speaker mode off: the board runs on battery");
                        d.state.speaker_mode = d.want_bluetooth = false;
                }
                r = sd_event_add_time_relative(d.event, &d.power_timer, CLOCK_MONOTONIC, POWER_POLL_US,
                                               100000, on_power_timer, &d);
                if (r < 0) {
                        log_err("cannot schedule the power supply check: %s", strerror(-r));
                        goto fail;
                }
                sd_event_source_set_enabled(d.power_timer, SD_EVENT_ON);
        }

        if ((r = output_init(&d)) < 0) {
                log_err("cannot start the audio thread: %s", strerror(-r));
                goto fail;
        }
        if (connect_bus(&d) < 0)
                goto fail;      /* connect_bus said why */
        realtime_setup(&d);
        if ((r = endpoint_export(&d)) < 0 || (r = agent_export(&d)) < 0 ||
            (r = player_init(&d)) < 0 || (r = manager_init(&d)) < 0 || (r = bluez_init(&d)) < 0) {
                log_err("D-Bus set-up failed: %s", strerror(-r));
                goto fail;
        }
        d.bus_up = true;
        service_status_update(&d);

        r = sd_event_loop(d.event);
        d.shutting_down = true;
        /* the loop is finished and takes no new sources: libdbus does its
         * own blocking I/O for the goodbyes below */
        dbus_loop_detach(d.conn);
        speaker_shutdown(&d);
        output_shutdown(&d);
        agent_shutdown(&d);
        discovery_bluez_gone(&d);
        endpoint_unregister_all(&d);
        player_shutdown(&d);
        while (d.transports)
                transport_remove(&d, d.transports);
        bluez_shutdown(&d);
        manager_shutdown(&d);
        sd_event_source_disable_unref(d.power_timer);
        dbus_connection_flush(d.conn);
        dbus_connection_close(d.conn);
        dbus_connection_unref(d.conn);
        sd_event_unref(d.event);
        /* libraries' caches too, so leak checkers see only real leaks; not
         * under a stuck audio thread, which may still be inside alsa-lib */
        dbus_shutdown();
        if (d.engine_stuck) {
                log_err("stopped with the audio thread stuck");
                return 1;
        }
        snd_config_update_free_global();
        log_info("stopped");
        return r == 0 ? 0 : 1;
fail:
        if (d.stream)
                output_shutdown(&d);
        if (d.conn) {
                dbus_connection_close(d.conn);
                dbus_connection_unref(d.conn);
        }
        sd_event_unref(d.event);
        return 1;
}
