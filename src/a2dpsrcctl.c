/* a2dpsrcctl: the command line over a2dpsrcd's org.a2dpsrc.Manager1.
 * Arguments are checked (ctl-format.c) before anything touches the bus, so a
 * typo never reaches the daemon. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <dbus/dbus.h>

#include "ctl-bus.h"
#include "ctl-doctor.h"
#include "ctl-format.h"
#include "dbus-util.h"

static volatile sig_atomic_t interrupted;

static void on_interrupt(int sig)
{
        (void)sig;
        interrupted = 1;
}

/* ---- commands ----------------------------------------------------------- */

static int cmd_status(const struct ctl *c)
{
        DBusMessage *m = dbus_message_new_method_call(CTL_BUS_NAME, CTL_PATH, PROPERTIES_IFACE, "GetAll");
        const char *iface = CTL_IFACE;
        DBusMessage *reply;
        DBusMessageIter it;
        int r = CTL_EXIT_OK;

        if (m && !dbus_message_append_args(m, DBUS_TYPE_STRING, &iface, DBUS_TYPE_INVALID)) {
                dbus_message_unref(m);
                return ctl_out_of_memory();
        }
        reply = ctl_call(c, m);
        if (!reply)
                return CTL_EXIT_FAILED;
        if (!dbus_message_iter_init(reply, &it) || ctl_print_properties(stdout, &it) < 0) {
                fprintf(stderr, "a2dpsrcctl: a2dpsrcd sent malformed properties\n");
                r = CTL_EXIT_FAILED;
        }
        dbus_message_unref(reply);
        return r;
}

/* GetDevices; *devs is malloc'ed. */
static int get_devices(const struct ctl *c, struct ctl_device **devs, size_t *n)
{
        DBusMessage *reply = ctl_call(c, ctl_method("GetDevices"));
        DBusMessageIter it;
        int r;

        *devs = NULL;
        *n = 0;
        if (!reply)
                return CTL_EXIT_FAILED;
        if (!dbus_message_iter_init(reply, &it) ||
            strcmp(dbus_message_get_signature(reply), "aa{sv}") != 0) {
                fprintf(stderr, "a2dpsrcctl: a2dpsrcd sent a malformed device list\n");
                dbus_message_unref(reply);
                return CTL_EXIT_FAILED;
        }
        r = ctl_devices_parse(&it, devs, n);
        dbus_message_unref(reply);
        if (r < 0)
                return ctl_out_of_memory();
        return CTL_EXIT_OK;
}

static void print_device(const char *prefix, const struct ctl_device *d)
{
        char line[256];

        ctl_device_format(d, line, sizeof(line));
        printf("%s%s\n", prefix, line);
}

static int cmd_devices(const struct ctl *c)
{
        struct ctl_device *devs;
        size_t n;
        int r = get_devices(c, &devs, &n);

        if (r != CTL_EXIT_OK)
                return r;
        for (size_t i = 0; i < n; i++)
                print_device("", &devs[i]);
        if (n == 0)
                fprintf(stderr, "no devices known (a2dpsrcctl scan looks for some)\n");
        free(devs);
        return CTL_EXIT_OK;
}

static bool seen(char (*list)[18], size_t n, const char *addr)
{
        for (size_t i = 0; i < n; i++)
                if (strcmp(list[i], addr) == 0)
                        return true;
        return false;
}

static int cmd_scan(const struct ctl *c)
{
        struct sigaction sa = { .sa_handler = on_interrupt }, old_int, old_term;
        char (*known)[18] = NULL;
        size_t n_known = 0, cap = 0;
        struct ctl_device *devs;
        bool failed = false;
        size_t n;
        int r;

        r = ctl_call_simple(c, "StartDiscovery", NULL);
        if (r != CTL_EXIT_OK)
                return r;
        /* Ctrl-C ends the scan early, but discovery must still be stopped;
         * a second one (SA_RESETHAND) kills as usual */
        sa.sa_flags = SA_RESETHAND;
        sigemptyset(&sa.sa_mask);
        sigaction(SIGINT, NULL, &old_int);
        sigaction(SIGTERM, NULL, &old_term);
        /* an ignored signal stays ignored (nohup, background jobs) */
        if (old_int.sa_handler != SIG_IGN)
                sigaction(SIGINT, &sa, NULL);
        if (old_term.sa_handler != SIG_IGN)
                sigaction(SIGTERM, &sa, NULL);
        printf("Scanning for %lu s...\n", (unsigned long)c->args->number);
        fflush(stdout);

        for (uint32_t t = 0; t <= c->args->number && !interrupted; t++) {
                if (t > 0) {
                        struct timespec second = { 1, 0 };
                        /* EINTR on a signal: the loop condition sees it */
                        nanosleep(&second, NULL);
                        if (interrupted)
                                break;
                }
                failed = get_devices(c, &devs, &n) != CTL_EXIT_OK;
                if (failed)
                        break;
                for (size_t i = 0; i < n; i++) {
                        if (seen(known, n_known, devs[i].address))
                                continue;
                        if (n_known == cap) {
                                size_t ncap = cap ? cap * 2 : 32;
                                char (*nk)[18] = realloc(known, ncap * sizeof(*nk));
                                if (!nk)
                                        break;
                                known = nk;
                                cap = ncap;
                        }
                        memcpy(known[n_known++], devs[i].address, 18);
                        /* those known before the scan are in the list below */
                        if (t > 0)
                                print_device("found: ", &devs[i]);
                }
                free(devs);
                fflush(stdout);
        }
        free(known);

        r = ctl_call_simple(c, "StopDiscovery", NULL);
        sigaction(SIGINT, &old_int, NULL);
        sigaction(SIGTERM, &old_term, NULL);
        if (failed || r != CTL_EXIT_OK)
                return CTL_EXIT_FAILED;
        printf("\n");
        return cmd_devices(c);
}

/* Manager1.GetOutputs(), one speaker a line ("none" when empty). */
static int cmd_outputs(const struct ctl *c)
{
        DBusMessage *reply = ctl_call(c, ctl_method("GetOutputs"));
        DBusMessageIter it, arr;
        unsigned n = 0;

        if (!reply)
                return CTL_EXIT_FAILED;
        if (!dbus_message_iter_init(reply, &it) || strcmp(dbus_message_get_signature(reply), "aa{sv}") != 0) {
                dbus_message_unref(reply);
                fprintf(stderr, "a2dpsrcctl: a2dpsrcd sent a malformed output list\n");
                return CTL_EXIT_FAILED;
        }
        dbus_message_iter_recurse(&it, &arr);
        for (; dbus_message_iter_get_arg_type(&arr) == DBUS_TYPE_ARRAY; dbus_message_iter_next(&arr)) {
                struct ctl_output o;
                char line[320];

                if (ctl_output_parse(&arr, &o) < 0)
                        continue;
                ctl_output_format(&o, line, sizeof(line));
                printf("%s\n", line);
                n++;
        }
        if (!n)
                printf("none\n");
        dbus_message_unref(reply);
        return CTL_EXIT_OK;
}

static int cmd_route(const struct ctl *c)
{
        DBusMessage *reply, *m;
        DBusMessageIter value, dict, it, var, out;
        bool done = false;
        int r;

        /* read, change one entry, write back: entries this client does not
         * know are kept as they are */
        r = ctl_get_property(c, "Routes", &reply, &value);
        if (r != CTL_EXIT_OK)
                return r;
        if (dbus_message_iter_get_arg_type(&value) != DBUS_TYPE_ARRAY ||
            dbus_message_iter_get_element_type(&value) != DBUS_TYPE_DICT_ENTRY) {
                fprintf(stderr, "a2dpsrcctl: a2dpsrcd sent malformed Routes\n");
                dbus_message_unref(reply);
                return CTL_EXIT_FAILED;
        }
        m = ctl_set_property_begin("Routes", "a{ss}", &it, &var);
        if (!m || !dbus_message_iter_open_container(&var, DBUS_TYPE_ARRAY, "{ss}", &out))
                goto oom;
        dbus_message_iter_recurse(&value, &dict);
        for (; dbus_message_iter_get_arg_type(&dict) == DBUS_TYPE_DICT_ENTRY;
             dbus_message_iter_next(&dict)) {
                DBusMessageIter e, entry;
                const char *k, *v;

                dbus_message_iter_recurse(&dict, &e);
                if (dbus_message_iter_get_arg_type(&e) != DBUS_TYPE_STRING)
                        continue;
                dbus_message_iter_get_basic(&e, &k);
                if (!dbus_message_iter_next(&e) || dbus_message_iter_get_arg_type(&e) != DBUS_TYPE_STRING)
                        continue;
                dbus_message_iter_get_basic(&e, &v);
                if (strcmp(k, c->args->category) == 0) {
                        v = c->args->target;
                        done = true;
                }
                if (!dbus_message_iter_open_container(&out, DBUS_TYPE_DICT_ENTRY, NULL, &entry) ||
                    !dbus_message_iter_append_basic(&entry, DBUS_TYPE_STRING, &k) ||
                    !dbus_message_iter_append_basic(&entry, DBUS_TYPE_STRING, &v) ||
                    !dbus_message_iter_close_container(&out, &entry))
                        goto oom;
        }
        if (!done) {
                DBusMessageIter entry;
                const char *k = c->args->category, *v = c->args->target;

                if (!dbus_message_iter_open_container(&out, DBUS_TYPE_DICT_ENTRY, NULL, &entry) ||
                    !dbus_message_iter_append_basic(&entry, DBUS_TYPE_STRING, &k) ||
                    !dbus_message_iter_append_basic(&entry, DBUS_TYPE_STRING, &v) ||
                    !dbus_message_iter_close_container(&out, &entry))
                        goto oom;
        }
        dbus_message_unref(reply);
        if (!dbus_message_iter_close_container(&var, &out)) {
                dbus_message_unref(m);
                return ctl_out_of_memory();
        }
        return ctl_set_property_send(c, m, &it, &var);

oom:
        /* libdbus frees a message with open containers fine */
        if (m)
                dbus_message_unref(m);
        dbus_message_unref(reply);
        return ctl_out_of_memory();
}

static int cmd_now_playing(const struct ctl *c)
{
        static const char *const keys[] = { "Title", "Artist", "Album" };
        const struct ctl_args *a = c->args;
        DBusMessage *m = ctl_method("SetNowPlaying");
        DBusMessageIter it, dict;
        int64_t duration = (int64_t)a->number * 1000000;
        bool ok;

        if (!m)
                return ctl_out_of_memory();
        dbus_message_iter_init_append(m, &it);
        ok = dbus_message_iter_open_container(&it, DBUS_TYPE_ARRAY, "{sv}", &dict);
        for (size_t i = 0; ok && i < sizeof(keys) / sizeof(keys[0]); i++)
                ok = dbus_dict_append_basic(&dict, keys[i], DBUS_TYPE_STRING, &a->text[i]);
        ok = ok && dbus_dict_append_basic(&dict, "Duration", DBUS_TYPE_INT64, &duration) &&
             dbus_message_iter_close_container(&it, &dict);
        if (!ok) {
                dbus_message_unref(m);
                return ctl_out_of_memory();
        }
        return ctl_call_empty(c, m);
}

/* ---- monitor ------------------------------------------------------------ */

static void timestamp(char *buf, size_t len)
{
        struct timespec ts;
        struct tm tm;
        size_t n;

        clock_gettime(CLOCK_REALTIME, &ts);
        localtime_r(&ts.tv_sec, &tm);
        n = strftime(buf, len, "%H:%M:%S", &tm);
        snprintf(buf + n, len - n, ".%03ld", ts.tv_nsec / 1000000);
}

/* One entry of an a{sv} of changes: "<prefix>Key: value" */
static int print_entry(const char *key, DBusMessageIter *value, void *prefix)
{
        ctl_print_property(stdout, prefix, key, value);
        return 0;
}

static void print_changes(const struct ctl *c, DBusMessage *msg)
{
        DBusMessageIter it, inv;
        const char *iface;
        char prefix[32];

        if (!dbus_message_iter_init(msg, &it) ||
            dbus_message_iter_get_arg_type(&it) != DBUS_TYPE_STRING)
                return;
        dbus_message_iter_get_basic(&it, &iface);
        if (strcmp(iface, CTL_IFACE) != 0 || !dbus_message_iter_next(&it) ||
            dbus_message_iter_get_arg_type(&it) != DBUS_TYPE_ARRAY ||
            dbus_message_iter_get_element_type(&it) != DBUS_TYPE_DICT_ENTRY)
                return;
        timestamp(prefix, sizeof(prefix));
        /* "HH:MM:SS.mmm " before each property */
        snprintf(prefix + strlen(prefix), sizeof(prefix) - strlen(prefix), " ");
        dbus_dict_foreach(&it, print_entry, prefix);
        /* invalidated: changed without the value; ask for it */
        if (!dbus_message_iter_next(&it) || dbus_message_iter_get_arg_type(&it) != DBUS_TYPE_ARRAY ||
            dbus_message_iter_get_element_type(&it) != DBUS_TYPE_STRING)
                goto out;
        dbus_message_iter_recurse(&it, &inv);
        for (; dbus_message_iter_get_arg_type(&inv) == DBUS_TYPE_STRING; dbus_message_iter_next(&inv)) {
                DBusMessage *reply;
                DBusMessageIter value;
                const char *name;

                dbus_message_iter_get_basic(&inv, &name);
                if (ctl_get_property(c, name, &reply, &value) != CTL_EXIT_OK)
                        continue;
                ctl_print_property(stdout, prefix, name, &value);
                dbus_message_unref(reply);
        }
out:
        fflush(stdout);
}

/* OutputChanged(address, changed): "HH:MM:SS.mmm ADDRESS Key: value" each */
static void print_output_change(DBusMessage *msg)
{
        DBusMessageIter it;
        const char *addr;
        char prefix[64], address[18];

        if (!dbus_message_iter_init(msg, &it) || dbus_message_iter_get_arg_type(&it) != DBUS_TYPE_STRING)
                return;
        dbus_message_iter_get_basic(&it, &addr);
        if (ctl_parse_address(addr, address) < 0 || !dbus_message_iter_next(&it) ||
            dbus_message_iter_get_arg_type(&it) != DBUS_TYPE_ARRAY ||
            dbus_message_iter_get_element_type(&it) != DBUS_TYPE_DICT_ENTRY)
                return;
        timestamp(prefix, sizeof(prefix));
        snprintf(prefix + strlen(prefix), sizeof(prefix) - strlen(prefix), " %s ", address);
        dbus_dict_foreach(&it, print_entry, prefix);
        fflush(stdout);
}

static DBusHandlerResult on_signal(DBusConnection *conn, DBusMessage *msg, void *data)
{
        const struct ctl *c = data;
        char prefix[32];

        if (dbus_message_is_signal(msg, PROPERTIES_IFACE, "PropertiesChanged") &&
            dbus_message_has_path(msg, CTL_PATH)) {
                print_changes(c, msg);
        } else if (dbus_message_is_signal(msg, CTL_IFACE, "MediaKey") && dbus_message_has_path(msg, CTL_PATH)) {
                const char *key, *device;
                char line[160];

                if (!dbus_message_get_args(msg, NULL, DBUS_TYPE_STRING, &key, DBUS_TYPE_STRING, &device,
                                           DBUS_TYPE_INVALID))
                        return DBUS_HANDLER_RESULT_NOT_YET_HANDLED;
                timestamp(prefix, sizeof(prefix));
                ctl_format_media_key(key, device, line, sizeof(line));
                printf("%s %s\n", prefix, line);
                fflush(stdout);
        } else if (dbus_message_is_signal(msg, CTL_IFACE, "OutputChanged") &&
                   dbus_message_has_path(msg, CTL_PATH)) {
                print_output_change(msg);
        } else if (dbus_message_is_signal(msg, DBUS_INTERFACE_DBUS, "NameOwnerChanged")) {
                const char *name, *old_owner, *new_owner;

                if (!dbus_message_get_args(msg, NULL, DBUS_TYPE_STRING, &name,
                                           DBUS_TYPE_STRING, &old_owner, DBUS_TYPE_STRING,
                                           &new_owner, DBUS_TYPE_INVALID) ||
                    strcmp(name, CTL_BUS_NAME) != 0)
                        return DBUS_HANDLER_RESULT_NOT_YET_HANDLED;
                timestamp(prefix, sizeof(prefix));
                printf("%s %s\n", prefix, *new_owner ? "a2dpsrcd started" : "a2dpsrcd stopped");
                fflush(stdout);
        }
        return DBUS_HANDLER_RESULT_NOT_YET_HANDLED;
}

static int cmd_monitor(struct ctl *c)
{
        static const char *const rules[] = {
                "type='signal',sender='" CTL_BUS_NAME "',path='" CTL_PATH "',"
                "interface='" PROPERTIES_IFACE "',member='PropertiesChanged',"
                "arg0='" CTL_IFACE "'",
                "type='signal',sender='" DBUS_SERVICE_DBUS "',interface='" DBUS_INTERFACE_DBUS "',"
                "member='NameOwnerChanged',arg0='" CTL_BUS_NAME "'",
                "type='signal',sender='" CTL_BUS_NAME "',path='" CTL_PATH "',interface='" CTL_IFACE "',"
                "member='MediaKey'",
                "type='signal',sender='" CTL_BUS_NAME "',path='" CTL_PATH "',interface='" CTL_IFACE "',"
                "member='OutputChanged'",
        };
        DBusMessage *reply;
        DBusMessageIter value;
        DBusError e;
        int r;

        dbus_error_init(&e);
        for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++) {
                dbus_bus_add_match(c->conn, rules[i], &e);
                if (dbus_error_is_set(&e)) {
                        r = ctl_report(c, &e);
                        dbus_error_free(&e);
                        return r;
                }
        }
        if (!dbus_connection_add_filter(c->conn, on_signal, c, NULL))
                return ctl_out_of_memory();
        /* subscribed first, then checked: no change falls in between; this
         * also starts the daemon when the bus can */
        r = ctl_get_property(c, "State", &reply, &value);
        if (r != CTL_EXIT_OK)
                return r;
        dbus_message_unref(reply);
        /* SIGINT ends us: the bus drops our match rules with the connection */
        while (dbus_connection_read_write_dispatch(c->conn, -1))
                ;
        fprintf(stderr, "a2dpsrcctl: lost the connection to the system bus\n");
        return CTL_EXIT_FAILED;
}

/* Manager1.Diagnose: the checklist, or JSON; 1 when a problem was found. */
static int cmd_doctor(const struct ctl *c)
{
        DBusMessage *m = ctl_method("Diagnose"), *reply;
        const char *addr = c->args->address;
        struct ctl_finding *fs;
        DBusMessageIter it;
        size_t n;
        int r;

        if (m && !dbus_message_append_args(m, DBUS_TYPE_STRING, &addr, DBUS_TYPE_INVALID)) {
                dbus_message_unref(m);
                return ctl_out_of_memory();
        }
        reply = ctl_call(c, m);
        if (!reply)
                return CTL_EXIT_FAILED;
        r = dbus_message_iter_init(reply, &it) ? ctl_findings_parse(&it, &fs, &n) : -EINVAL;
        dbus_message_unref(reply);
        if (r < 0) {
                fprintf(stderr, "a2dpsrcctl: a2dpsrcd sent malformed findings\n");
                return CTL_EXIT_FAILED;
        }
        if (c->args->json)
                ctl_findings_json(stdout, addr, fs, n);
        else
                ctl_findings_print(stdout, addr, fs, n);
        r = ctl_findings_problem(fs, n) ? CTL_EXIT_FAILED : CTL_EXIT_OK;
        free(fs);
        return r;
}

/* ---- main --------------------------------------------------------------- */

static int run(struct ctl *c)
{
        const struct ctl_args *a = c->args;
        dbus_bool_t b = a->flag;
        dbus_uint16_t q = (dbus_uint16_t)a->number;
        dbus_uint32_t u = a->number;

        switch (a->command) {
        case CTL_STATUS:
                return cmd_status(c);
        case CTL_SPEAKER_MODE:
                return ctl_set_basic(c, "SpeakerMode", DBUS_TYPE_BOOLEAN, &b);
        case CTL_SCAN:
                return cmd_scan(c);
        case CTL_DEVICES:
                return cmd_devices(c);
        case CTL_PAIR:
                return ctl_call_simple(c, "Pair", a->address);
        case CTL_CONNECT:
                return ctl_call_simple(c, "Connect", a->address);
        case CTL_DISCONNECT:
                if (a->address[0])
                        return ctl_call_simple(c, "DisconnectOutput", a->address);
                return ctl_call_simple(c, "Disconnect", NULL);
        case CTL_FORGET:
                return ctl_call_simple(c, "Forget", a->address);
        case CTL_ROUTE:
                return cmd_route(c);
        case CTL_DEFAULT_OUTPUT:
                return ctl_call_simple(c, "SetDefaultOutput", a->target);
        case CTL_VOLUME:
                if (a->address[0])
                        return ctl_call_address_and(c, "SetOutputVolume", DBUS_TYPE_UINT16, &q);
                return ctl_set_basic(c, "Volume", DBUS_TYPE_UINT16, &q);
        case CTL_AUTO_RECONNECT:
                return ctl_set_basic(c, "AutoReconnect", DBUS_TYPE_BOOLEAN, &b);
        case CTL_IDLE_SUSPEND:
                return ctl_set_basic(c, "IdleSuspend", DBUS_TYPE_UINT32, &u);
        case CTL_MULTI_OUTPUT:
                return ctl_set_basic(c, "MultiOutput", DBUS_TYPE_BOOLEAN, &b);
        case CTL_OUTPUTS:
                return cmd_outputs(c);
        case CTL_RESET:
                return ctl_call_simple(c, "Reset", NULL);
        case CTL_MONITOR:
                return cmd_monitor(c);
        case CTL_PLAYBACK_STATUS: {
                const char *s = a->target;
                return ctl_set_basic(c, "PlaybackStatus", DBUS_TYPE_STRING, &s);
        }
        case CTL_NOW_PLAYING:
                return cmd_now_playing(c);
        case CTL_DOCTOR:
                return cmd_doctor(c);
        case CTL_CODEC:
                return ctl_cmd_codec(c);
        case CTL_CODECS:
                return ctl_cmd_codecs(c);
        case CTL_SBC_XQ:
                return ctl_call_address_and(c, "SetSbcXq", DBUS_TYPE_BOOLEAN, &b);
        case CTL_SPEAKER_DELAY:
                /* milliseconds here, microseconds on the bus */
                u = a->number * 1000;
                return ctl_call_address_and(c, "SetSpeakerDelay", DBUS_TYPE_UINT32, &u);
        }
        return CTL_EXIT_FAILED;
}

int main(int argc, char **argv)
{
        struct ctl_args args;
        struct ctl c = { NULL, &args };
        char err[256];
        DBusError e;
        int r;

        r = ctl_parse_args(argc, argv, &args, stdout, err, sizeof(err));
        if (r > 0)
                return CTL_EXIT_OK;
        if (r < 0) {
                fprintf(stderr, "a2dpsrcctl: %s\nTry 'a2dpsrcctl --help'.\n", err);
                return CTL_EXIT_USAGE;
        }

        /* libdbus reads DBUS_SYSTEM_BUS_ADDRESS itself */
        dbus_error_init(&e);
        c.conn = dbus_bus_get_private(DBUS_BUS_SYSTEM, &e);
        if (!c.conn) {
                fprintf(stderr, "a2dpsrcctl: cannot connect to the system bus: %s\n", e.message);
                dbus_error_free(&e);
                return CTL_EXIT_FAILED;
        }
        /* report a lost bus ourselves rather than have libdbus _exit() */
        dbus_connection_set_exit_on_disconnect(c.conn, FALSE);
        r = run(&c);
        dbus_connection_close(c.conn);
        dbus_connection_unref(c.conn);
        return r;
}
