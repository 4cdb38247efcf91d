/* A scratch directory per test, removed with everything in it. */
#ifndef A2DPSRC_TMPTREE_H
#define A2DPSRC_TMPTREE_H

#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Creates /tmp/a2dpsrc-<what>-XXXXXX into dir (at least 64 bytes). */
static inline void tmptree_make(char *dir, size_t len, const char *what)
{
        snprintf(dir, len, "/tmp/a2dpsrc-%s-XXXXXX", what);
        ck_assert_ptr_nonnull(mkdtemp(dir));
}

/* Removes path and all below it, read-only directories included. */
static inline void tmptree_remove(const char *path)
{
        DIR *d = opendir(path);
        struct dirent *e;

        if (!d) {
                unlink(path);
                return;
        }
        chmod(path, 0700);
        while ((e = readdir(d))) {
                char sub[512];
                if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
                        continue;
                snprintf(sub, sizeof(sub), "%.200s/%.255s", path, e->d_name);
                tmptree_remove(sub);
        }
        closedir(d);
        rmdir(path);
}

#endif
