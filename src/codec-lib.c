#include "codec-lib.h"

#include <dlfcn.h>
#include <stdio.h>

void *codec_lib_open(const char *soname, const struct codec_sym *syms, size_t n, char *err,
                     size_t err_len)
{
        void *h = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
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
