#include "codec-lib.h"

#include <dlfcn.h>
#include <limits.h>
#include <link.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void *lib_open(const char *soname, int flags, const struct codec_sym *syms, size_t n,
                      char *err, size_t err_len)
{
        void *h = dlopen(soname, RTLD_NOW | RTLD_LOCAL | flags);
        size_t i;

        if (!h) {
                snprintf(err, err_len, "cannot load %s: %s", soname, dlerror());
                return NULL;
        }
        for (i = 0; i < n; i++) {
                *syms[i].ptr = dlsym(h, syms[i].name);
                if (!*syms[i].ptr) {
                        snprintf(err, err_len, "%s has no %s", soname, syms[i].name);
                        dlclose(h);
                        return NULL;
                }
        }
        return h;
}

void *codec_lib_open(const char *soname, const struct codec_sym *syms, size_t n, char *err,
                     size_t err_len)
{
        return lib_open(soname, 0, syms, n, err, err_len);
}

void *codec_lib_open_resident(const char *soname, const struct codec_sym *syms, size_t n, char *err,
                              size_t err_len)
{
        return lib_open(soname, RTLD_NODELETE, syms, n, err, err_len);
}

void codec_lib_close(void *handle)
{
        if (handle)
                dlclose(handle);
}

bool codec_lib_present(const char *soname)
{
        void *h = dlopen(soname, RTLD_LAZY | RTLD_LOCAL);

        if (!h)
                return false;
        dlclose(h);
        return true;
}

/* dir (its first len bytes) holds soname */
static bool dir_has(const char *dir, size_t len, const char *soname)
{
        char path[PATH_MAX];
        int n;

        if (len == 0)
                return false;
        n = snprintf(path, sizeof(path), "%.*s/%s", (int)len, dir, soname);
        return n > 0 && (size_t)n < sizeof(path) && access(path, R_OK) == 0;
}

static int beside_loaded(struct dl_phdr_info *info, size_t size, void *soname)
{
        const char *name = info->dlpi_name, *slash;

        (void)size;
        if (!name || name[0] != '/')
                return 0;
        slash = strrchr(name, '/');
        return dir_has(name, (size_t)(slash - name), soname);
}

bool codec_lib_findable(const char *soname)
{
        static const char *const fallback[] = { "/usr/local/lib", "/usr/lib", "/lib" };
        const char *p = getenv("LD_LIBRARY_PATH");

        while (p && *p) {
                size_t len = strcspn(p, ":");

                if (dir_has(p, len, soname))
                        return true;
                p += len + (p[len] == ':');
        }
        if (dl_iterate_phdr(beside_loaded, (void *)soname))
                return true;
        for (size_t i = 0; i < sizeof(fallback) / sizeof(fallback[0]); i++)
                if (dir_has(fallback[i], strlen(fallback[i]), soname))
                        return true;
        return false;
}
