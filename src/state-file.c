/* The saved state on disk: read with a corrupt file set aside, written
 * atomically (include/state.h). The text itself is state.c's. */
#include "state.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define STATE_TMP STATE_FILE ".tmp"


static void set_err(char *err, size_t err_len, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t err_len, const char *fmt, ...)
{
        va_list ap;

        if (!err || !err_len)
                return;
        va_start(ap, fmt);
        vsnprintf(err, err_len, fmt, ap);
        va_end(ap);
}

/* Reads up to cap bytes; *len == cap means the file may be longer. */
static int read_upto(int fd, char *buf, size_t cap, size_t *len)
{
        size_t got = 0;

        while (got < cap) {
                ssize_t n = read(fd, buf + got, cap - got);
                if (n < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (n == 0)
                        break;
                got += (size_t)n;
        }
        *len = got;
        return 0;
}

/* Renames the bad file to a name not in use, so an earlier corrupt copy is
 * never overwritten either. */
static int set_aside(int dfd, char *name, size_t name_len)
{
        long long now = (long long)time(NULL);

        for (int i = 0; i < 100; i++) {
                if (i == 0)
                        snprintf(name, name_len, STATE_FILE ".corrupt-%lld", now);
                else
                        snprintf(name, name_len, STATE_FILE ".corrupt-%lld.%d", now, i);
                if (faccessat(dfd, name, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
                        continue;
                if (renameat(dfd, STATE_FILE, dfd, name) < 0)
                        return -errno;
                fsync(dfd);     /* best effort: the rename is what matters now */
                return 0;
        }
        return -EEXIST;
}

int state_load(const char *dir, struct saved_state *out, char *err, size_t err_len)
{
        char msg[256], aside[64];
        struct stat st;
        char *buf = NULL;
        size_t len = 0;
        int dfd, fd = -1, r;

        state_defaults(out);
        set_err(err, err_len, "%s", "");
        dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0) {
                r = -errno;
                if (r == -ENOENT)
                        return 0;       /* nothing saved yet */
                set_err(err, err_len, "%s: %s", dir, strerror(-r));
                return r;
        }
        /* an interrupted save: state itself is still the last good copy */
        unlinkat(dfd, STATE_TMP, 0);

        /* O_NONBLOCK: a FIFO planted under our name must not hang us */
        fd = openat(dfd, STATE_FILE, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0) {
                r = -errno;
                if (r == -ENOENT) {
                        r = 0;
                        goto out;
                }
                set_err(err, err_len, "%s/" STATE_FILE ": %s", dir, strerror(-r));
                goto out;
        }
        if (fstat(fd, &st) < 0) {
                r = -errno;
                set_err(err, err_len, "%s/" STATE_FILE ": %s", dir, strerror(-r));
                goto out;
        }
        if (!S_ISREG(st.st_mode)) {
                snprintf(msg, sizeof(msg), "not a regular file");
                goto corrupt;
        }
        buf = malloc(STATE_MAX_FILE + 1);
        if (!buf) {
                r = -ENOMEM;
                goto out;
        }
        r = read_upto(fd, buf, STATE_MAX_FILE + 1, &len);
        if (r < 0) {
                /* maybe a bad sector, maybe passing: not proof of corruption */
                set_err(err, err_len, "%s/" STATE_FILE ": %s", dir, strerror(-r));
                goto out;
        }
        if (len > STATE_MAX_FILE) {
                snprintf(msg, sizeof(msg), "larger than %zu KiB", STATE_MAX_FILE / 1024);
                goto corrupt;
        }
        if (state_parse(buf, len, out, msg, sizeof(msg)) == 0) {
                r = 0;
                goto out;
        }

corrupt:
        state_defaults(out);
        r = set_aside(dfd, aside, sizeof(aside));
        if (r < 0)
                set_err(err, err_len, "%s/" STATE_FILE ": %s; could not move it aside: %s",
                        dir, msg, strerror(-r));
        else
                set_err(err, err_len, "%s/" STATE_FILE ": %s; moved to %s", dir, msg, aside);
        r = STATE_LOAD_CORRUPT;
out:
        free(buf);
        if (fd >= 0)
                close(fd);
        close(dfd);
        return r;
}

static int write_all(int fd, const char *p, size_t n)
{
        while (n) {
                ssize_t w = write(fd, p, n);
                if (w < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                p += w;
                n -= (size_t)w;
        }
        return 0;
}

int state_save(const char *dir, const struct saved_state *s)
{
        char text[STATE_FORMAT_MAX];
        int dfd, fd, r, n;

        n = state_format(s, text, sizeof(text));
        if (n < 0)
                return n;
        dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0)
                return -errno;
        /* a fresh inode: an old tmp file may have another mode or owner */
        unlinkat(dfd, STATE_TMP, 0);
        fd = openat(dfd, STATE_TMP, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
        if (fd < 0) {
                r = -errno;     /* not ours: nothing to remove */
                goto out;
        }
        r = write_all(fd, text, (size_t)n);
        if (r == 0 && fsync(fd) < 0)
                r = -errno;
        /* some file systems report write-back errors only here */
        if (close(fd) < 0 && r == 0)
                r = -errno;
        if (r < 0)
                goto fail;
        if (renameat(dfd, STATE_TMP, dfd, STATE_FILE) < 0) {
                r = -errno;
                goto fail;
        }
        /* makes the rename itself durable; EINVAL: the file system cannot */
        if (fsync(dfd) < 0 && errno != EINVAL)
                r = -errno;
        goto out;

fail:
        unlinkat(dfd, STATE_TMP, 0);
out:
        close(dfd);
        return r;
}
