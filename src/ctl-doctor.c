/* a2dpsrcctl doctor: reading and printing findings (see ctl-doctor.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ctl-doctor.h"
#include "ctl-format.h"

/* Strings exactly as sent (for JSON, which escapes them itself). */
static void copy_field(DBusMessageIter *it, char *dst, size_t len)
{
        const char *s = "";

        dbus_message_iter_get_basic(it, &s);
        snprintf(dst, len, "%s", s);
}

int ctl_findings_parse(DBusMessageIter *array, struct ctl_finding **out, size_t *n)
{
        DBusMessageIter arr;
        char *sig;
        bool ok;
        size_t cap = 0;

        *out = NULL;
        *n = 0;
        sig = dbus_message_iter_get_signature(array);
        ok = sig && strcmp(sig, "a(ssss)") == 0;
        dbus_free(sig);
        if (!ok)
                return -EINVAL;
        dbus_message_iter_recurse(array, &arr);
        for (; dbus_message_iter_get_arg_type(&arr) == DBUS_TYPE_STRUCT; dbus_message_iter_next(&arr)) {
                DBusMessageIter st;
                struct ctl_finding *f;

                if (*n == cap) {
                        size_t ncap = cap ? cap * 2 : 16;
                        struct ctl_finding *p = realloc(*out, ncap * sizeof(*p));
                        if (!p) {
                                free(*out);
                                *out = NULL;
                                *n = 0;
                                return -ENOMEM;
                        }
                        *out = p;
                        cap = ncap;
                }
                f = &(*out)[(*n)++];
                dbus_message_iter_recurse(&arr, &st);
                copy_field(&st, f->id, sizeof(f->id));
                dbus_message_iter_next(&st);
                copy_field(&st, f->verdict, sizeof(f->verdict));
                dbus_message_iter_next(&st);
                copy_field(&st, f->seen, sizeof(f->seen));
                dbus_message_iter_next(&st);
                copy_field(&st, f->fix, sizeof(f->fix));
        }
        return 0;
}

bool ctl_findings_problem(const struct ctl_finding *f, size_t n)
{
        for (size_t i = 0; i < n; i++)
                if (strcmp(f[i].verdict, "problem") == 0)
                        return true;
        return false;
}

/* Control characters and terminal escapes out, as ctl_format_value does
 * for every string from the daemon. */
static void clean(const char *s, char *buf, size_t len)
{
        DBusMessage *m = dbus_message_new_signal("/", "a.b", "c");
        DBusMessageIter it;

        buf[0] = '\0';
        if (!m)
                return;
        if (dbus_message_append_args(m, DBUS_TYPE_STRING, &s, DBUS_TYPE_INVALID) &&
            dbus_message_iter_init(m, &it))
                ctl_format_value(&it, buf, len);
        dbus_message_unref(m);
}

void ctl_findings_print(FILE *f, const char *address, const struct ctl_finding *fs, size_t n)
{
        unsigned problems = 0, warnings = 0;
        size_t width = 0;

        for (size_t i = 0; i < n; i++)
                if (strlen(fs[i].id) > width)
                        width = strlen(fs[i].id);
        fprintf(f, "a2dpsrc doctor: %s\n", address[0] ? address : "the board");
        for (size_t i = 0; i < n; i++) {
                char id[64], seen[600], fix[480];
                const char *mark = "[ ok ]";

                if (strcmp(fs[i].verdict, "problem") == 0) {
                        mark = "[FAIL]";
                        problems++;
                } else if (strcmp(fs[i].verdict, "warning") == 0) {
                        mark = "[WARN]";
                        warnings++;
                }
                clean(fs[i].id, id, sizeof(id));
                clean(fs[i].seen, seen, sizeof(seen));
                clean(fs[i].fix, fix, sizeof(fix));
                fprintf(f, "%s %-*s  %s\n", mark, (int)width, id, seen);
                if (fix[0])
                        fprintf(f, "       %-*s  -> %s\n", (int)width, "", fix);
        }
        if (!problems && !warnings)
                fprintf(f, "Nothing wrong found.\n");
        else
                fprintf(f, "%u problem%s, %u warning%s.\n", problems, problems == 1 ? "" : "s", warnings,
                        warnings == 1 ? "" : "s");
}

static void json_string(FILE *f, const char *s)
{
        fputc('"', f);
        for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
                if (*p == '"' || *p == '\\')
                        fprintf(f, "\\%c", *p);
                else if (*p == '\n')
                        fputs("\\n", f);
                else if (*p < 0x20 || *p == 0x7f)
                        fprintf(f, "\\u%04x", *p);
                else
                        fputc(*p, f);   /* UTF-8, as D-Bus guarantees */
        }
        fputc('"', f);
}

void ctl_findings_json(FILE *f, const char *address, const struct ctl_finding *fs, size_t n)
{
        const char *worst = "ok";

        for (size_t i = 0; i < n; i++) {
                if (strcmp(fs[i].verdict, "problem") == 0)
                        worst = "problem";
                else if (strcmp(fs[i].verdict, "warning") == 0 && strcmp(worst, "ok") == 0)
                        worst = "warning";
        }
        fputs("{\"address\": ", f);
        json_string(f, address);
        fputs(", \"verdict\": ", f);
        json_string(f, worst);
        fputs(", \"findings\": [", f);
        for (size_t i = 0; i < n; i++) {
                fputs(i ? ", {\"id\": " : "{\"id\": ", f);
                json_string(f, fs[i].id);
                fputs(", \"verdict\": ", f);
                json_string(f, fs[i].verdict);
                fputs(", \"seen\": ", f);
                json_string(f, fs[i].seen);
                fputs(", \"fix\": ", f);
                json_string(f, fs[i].fix);
                fputs("}", f);
        }
        fputs("]}\n", f);
}
