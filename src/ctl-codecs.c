/* a2dpsrcctl's codec commands: codec [NAME] and codecs [LIST|all] (sbc-xq
 * ADDRESS on|off is one call, in a2dpsrcctl.c). */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "ctl-bus.h"

/* codec [NAME]: the stream's codec, or SetCodec */
int ctl_cmd_codec(const struct ctl *c)
{
        DBusMessage *reply;
        DBusMessageIter v;
        const char *s;

        if (c->args->text[0] && c->args->address[0])
                return ctl_call_address_and(c, "SetOutputCodec", DBUS_TYPE_STRING, &c->args->text[0]);
        if (c->args->text[0])
                return ctl_call_simple(c, "SetCodec", c->args->text[0]);
        if (ctl_get_property(c, "Codec", &reply, &v) != CTL_EXIT_OK)
                return CTL_EXIT_FAILED;
        if (dbus_message_iter_get_arg_type(&v) != DBUS_TYPE_STRING) {
                dbus_message_unref(reply);
                fprintf(stderr, "a2dpsrcctl: a2dpsrcd sent a malformed Codec\n");
                return CTL_EXIT_FAILED;
        }
        dbus_message_iter_get_basic(&v, &s);
        printf("%s\n", s[0] ? s : "none (no speaker connected)");
        dbus_message_unref(reply);
        return CTL_EXIT_OK;
}

/* Every codec, best first, and how a2dpsrcd names it in its refusals. */
static const char *const all_codecs[][2] = {
        { "ldac", "LDAC" }, { "aptx-hd", "aptX HD" }, { "aptx", "aptX" },
        { "aac", "AAC" }, { "sbc-xq", "SBC-XQ" }, { "sbc", "SBC" },
};
#define N_CODECS (sizeof(all_codecs) / sizeof(all_codecs[0]))

static DBusMessage *codecs_set_message(const char *const *names, size_t n)
{
        DBusMessageIter it, var, arr;
        DBusMessage *m = ctl_set_property_begin("Codecs", "as", &it, &var);
        bool ok = m && dbus_message_iter_open_container(&var, DBUS_TYPE_ARRAY, "s", &arr);

        for (size_t i = 0; ok && i < n; i++)
                ok = dbus_message_iter_append_basic(&arr, DBUS_TYPE_STRING, &names[i]);
        ok = ok && dbus_message_iter_close_container(&var, &arr) &&
             dbus_message_iter_close_container(&it, &var);
        if (!ok && m) {
                dbus_message_unref(m);
                m = NULL;
        }
        return m;
}

/* codecs all: every codec this a2dpsrcd allows. Only it knows which are
 * built and what --codecs leaves out: a codec it refuses as not supported
 * (its sentence starts with the codec's label) is left out and the rest
 * asked again. */
static int codecs_all(const struct ctl *c)
{
        const char *names[N_CODECS];
        size_t n = N_CODECS;

        for (size_t i = 0; i < N_CODECS; i++)
                names[i] = all_codecs[i][0];
        for (;;) {
                DBusMessage *m = codecs_set_message(names, n), *reply;
                DBusError e;
                size_t drop = n;

                if (!m)
                        return ctl_out_of_memory();
                dbus_error_init(&e);
                reply = dbus_connection_send_with_reply_and_block(c->conn, m, c->args->timeout_ms, &e);
                dbus_message_unref(m);
                if (reply) {
                        dbus_message_unref(reply);
                        return CTL_EXIT_OK;
                }
                if (e.name && strcmp(e.name, "org.a2dpsrc.Error.NotSupported") == 0 && e.message)
                        for (size_t i = 0; i < n && drop == n; i++) {
                                const char *label = NULL;

                                for (size_t k = 0; k < N_CODECS; k++)
                                        if (strcmp(all_codecs[k][0], names[i]) == 0)
                                                label = all_codecs[k][1];
                                if (label && strncmp(e.message, label, strlen(label)) == 0 &&
                                    e.message[strlen(label)] == ' ')
                                        drop = i;
                        }
                if (drop == n || strcmp(names[drop], "sbc") == 0) {
                        ctl_report(c, &e);
                        dbus_error_free(&e);
                        return CTL_EXIT_FAILED;
                }
                dbus_error_free(&e);
                memmove(&names[drop], &names[drop + 1], (n - drop - 1) * sizeof(names[0]));
                n--;
        }
}

/* codecs [LIST|all]: Codecs, shown or set ("aptx,sbc") */
int ctl_cmd_codecs(const struct ctl *c)
{
        const char *list = c->args->text[0];
        const char *names[16];
        char buf[160], shown[256];
        size_t n = 0;
        DBusMessage *reply;
        DBusMessageIter v;

        if (!list) {
                if (ctl_get_property(c, "Codecs", &reply, &v) != CTL_EXIT_OK)
                        return CTL_EXIT_FAILED;
                ctl_format_value(&v, shown, sizeof(shown));
                printf("%s\n", shown);
                dbus_message_unref(reply);
                return CTL_EXIT_OK;
        }
        if (strcmp(list, "all") == 0)
                return codecs_all(c);
        snprintf(buf, sizeof(buf), "%s", list);
        for (char *save = NULL, *tok = strtok_r(buf, ", ", &save); tok && n < 16;
             tok = strtok_r(NULL, ", ", &save))
                names[n++] = tok;
        return ctl_call_empty(c, codecs_set_message(names, n));
}
