#include "dbus-loop.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

/* libdbus hands out a read watch and a write watch on the same socket, and
 * epoll takes each fd once: one event source per fd serves every watch on
 * it, armed for the union of what the enabled ones wait for. A write watch
 * that never fired would hold a message larger than the socket's buffer
 * until some other message pushed it out. */
#define WATCHES_PER_FD 4

struct fd_watch {
        int fd;
        sd_event_source *source;
        DBusWatch *watches[WATCHES_PER_FD];
        unsigned n;
        struct fd_watch *next;
};

struct loop {
        sd_event *event;
        sd_event_source *dispatch;
        DBusConnection *conn;
        struct fd_watch *fds;
};

static dbus_int32_t loop_slot = -1;

static struct fd_watch *fd_watch_find(struct loop *l, int fd)
{
        for (struct fd_watch *f = l->fds; f; f = f->next)
                if (f->fd == fd)
                        return f;
        return NULL;
}

static uint32_t watch_events(DBusWatch *w)
{
        unsigned flags = dbus_watch_get_flags(w);
        uint32_t ev = 0;

        if (!dbus_watch_get_enabled(w))
                return 0;
        if (flags & DBUS_WATCH_READABLE)
                ev |= EPOLLIN;
        if (flags & DBUS_WATCH_WRITABLE)
                ev |= EPOLLOUT;
        return ev;
}

/* Arms the fd's source for what its enabled watches wait for. */
static void fd_watch_update(struct fd_watch *f)
{
        uint32_t ev = 0;

        for (unsigned i = 0; i < f->n; i++)
                ev |= watch_events(f->watches[i]);
        if (ev)
                sd_event_source_set_io_events(f->source, ev);
        sd_event_source_set_enabled(f->source, ev ? SD_EVENT_ON : SD_EVENT_OFF);
}

static int on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata)
{
        struct loop *l = userdata;
        unsigned cond = 0;

        if (revents & EPOLLIN)
                cond |= DBUS_WATCH_READABLE;
        if (revents & EPOLLOUT)
                cond |= DBUS_WATCH_WRITABLE;
        if (revents & EPOLLHUP)
                cond |= DBUS_WATCH_HANGUP;
        if (revents & EPOLLERR)
                cond |= DBUS_WATCH_ERROR;
        /* each enabled watch gets what it asked for (and hang-ups, errors);
         * a handler may add or remove watches, so the fd is looked up again
         * each time (one skipped this turn is level-triggered: next turn) */
        for (unsigned i = 0; i < WATCHES_PER_FD; i++) {
                struct fd_watch *f = fd_watch_find(l, fd);
                DBusWatch *w;
                unsigned want;

                if (!f || i >= f->n)
                        break;
                w = f->watches[i];
                if (!dbus_watch_get_enabled(w))
                        continue;
                want = cond & (dbus_watch_get_flags(w) | DBUS_WATCH_HANGUP | DBUS_WATCH_ERROR);
                if (want)
                        dbus_watch_handle(w, want);
        }
        return 0;
}

static dbus_bool_t add_watch(DBusWatch *w, void *data)
{
        struct loop *l = data;
        int fd = dbus_watch_get_unix_fd(w);
        struct fd_watch *f = fd_watch_find(l, fd);
        int r;

        if (!f) {
                f = calloc(1, sizeof(*f));
                if (!f)
                        return FALSE;
                f->fd = fd;
                r = sd_event_add_io(l->event, &f->source, fd, 0, on_io, l);
                if (r < 0) {
                        log_err("D-Bus watch: %s", strerror(-r));
                        free(f);
                        return FALSE;
                }
                f->next = l->fds;
                l->fds = f;
        }
        if (f->n == WATCHES_PER_FD) {
                log_err("D-Bus watch: more than %d watches on fd %d", WATCHES_PER_FD, fd);
                return FALSE;
        }
        f->watches[f->n++] = w;
        fd_watch_update(f);
        return TRUE;
}

static void remove_watch(DBusWatch *w, void *data)
{
        struct loop *l = data;
        struct fd_watch **p, *f;

        for (p = &l->fds; (f = *p); p = &f->next) {
                for (unsigned i = 0; i < f->n; i++) {
                        if (f->watches[i] != w)
                                continue;
                        f->watches[i] = f->watches[--f->n];
                        if (f->n) {
                                fd_watch_update(f);
                        } else {
                                *p = f->next;
                                sd_event_source_disable_unref(f->source);
                                free(f);
                        }
                        return;
                }
        }
}

static void toggle_watch(DBusWatch *w, void *data)
{
        struct fd_watch *f = fd_watch_find(data, dbus_watch_get_unix_fd(w));

        if (f)
                fd_watch_update(f);
}

static int on_timeout(sd_event_source *s, uint64_t usec, void *userdata)
{
        DBusTimeout *t = userdata;
        uint64_t now;

        dbus_timeout_handle(t);
        /* libdbus timeouts repeat until removed or disabled */
        if (dbus_timeout_get_enabled(t) && sd_event_now(sd_event_source_get_event(s),
                                                        CLOCK_MONOTONIC, &now) >= 0) {
                sd_event_source_set_time(s, now + (uint64_t)dbus_timeout_get_interval(t) * 1000);
                sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
        }
        return 0;
}

static int arm_timeout(sd_event *e, DBusTimeout *t, sd_event_source **s)
{
        uint64_t usec = (uint64_t)dbus_timeout_get_interval(t) * 1000;

        return sd_event_add_time_relative(e, s, CLOCK_MONOTONIC, usec, 1000, on_timeout, t);
}

static dbus_bool_t add_timeout(DBusTimeout *t, void *data)
{
        struct loop *l = data;
        sd_event_source *s = NULL;

        if (dbus_timeout_get_enabled(t) && arm_timeout(l->event, t, &s) < 0)
                return FALSE;
        dbus_timeout_set_data(t, s, NULL);
        return TRUE;
}

static void remove_timeout(DBusTimeout *t, void *data)
{
        sd_event_source *s = dbus_timeout_get_data(t);

        if (s)
                sd_event_source_disable_unref(s);
        dbus_timeout_set_data(t, NULL, NULL);
}

static void toggle_timeout(DBusTimeout *t, void *data)
{
        remove_timeout(t, data);
        if (!add_timeout(t, data))
                log_err("D-Bus timeout could not be re-armed");
}

static int on_dispatch(sd_event_source *s, void *userdata)
{
        struct loop *l = userdata;

        /* one message per iteration keeps other sources (signals, timers)
         * from starving behind a flood of calls */
        dbus_connection_ref(l->conn);
        dbus_connection_dispatch(l->conn);
        if (dbus_connection_get_dispatch_status(l->conn) != DBUS_DISPATCH_DATA_REMAINS)
                sd_event_source_set_enabled(s, SD_EVENT_OFF);
        dbus_connection_unref(l->conn);
        return 0;
}

static void dispatch_status(DBusConnection *conn, DBusDispatchStatus status, void *data)
{
        struct loop *l = data;

        if (status == DBUS_DISPATCH_DATA_REMAINS)
                sd_event_source_set_enabled(l->dispatch, SD_EVENT_ON);
}

static void loop_free(void *data)
{
        struct loop *l = data;

        sd_event_source_disable_unref(l->dispatch);
        sd_event_unref(l->event);
        free(l);
}

int dbus_loop_attach(DBusConnection *conn, sd_event *event)
{
        struct loop *l;
        int r;

        if (!dbus_connection_allocate_data_slot(&loop_slot))
                return -ENOMEM;
        l = calloc(1, sizeof(*l));
        if (!l)
                return -ENOMEM;
        l->event = sd_event_ref(event);
        l->conn = conn;
        r = sd_event_add_defer(event, &l->dispatch, on_dispatch, l);
        if (r < 0)
                goto fail;
        sd_event_source_set_enabled(l->dispatch, SD_EVENT_ON);
        if (!dbus_connection_set_data(conn, loop_slot, l, loop_free)) {
                r = -ENOMEM;
                goto fail;
        }
        dbus_connection_set_dispatch_status_function(conn, dispatch_status, l, NULL);
        if (!dbus_connection_set_watch_functions(conn, add_watch, remove_watch, toggle_watch, l, NULL) ||
            !dbus_connection_set_timeout_functions(conn, add_timeout, remove_timeout, toggle_timeout, l, NULL))
                return -ENOMEM;
        return 0;
fail:
        sd_event_source_disable_unref(l->dispatch);
        sd_event_unref(l->event);
        free(l);
        return r;
}

void dbus_loop_detach(DBusConnection *conn)
{
        dbus_connection_set_watch_functions(conn, NULL, NULL, NULL, NULL, NULL);
        dbus_connection_set_timeout_functions(conn, NULL, NULL, NULL, NULL, NULL);
        dbus_connection_set_dispatch_status_function(conn, NULL, NULL, NULL);
        dbus_connection_set_data(conn, loop_slot, NULL, NULL);
}
