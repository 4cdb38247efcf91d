/* rss-floor: the resident memory a process has from loading a2dpsrcd's
 * shared libraries (libdbus-1, libasound, libsbc, libsystemd, libbluetooth and what they
 * pull in) and nothing else. VmHWM counts every page of a library that was
 * touched, shared with every other process or not, so the daemon's peak
 * RSS is this floor plus its own share; make bench prints both.
 *
 *   rss-floor [--codec NAME]
 *
 * --codec NAME: also the libraries that codec loads when first used
 * (include/codec-sonames.h), with dlopen(RTLD_NOW | RTLD_LOCAL) as
 * codec-lib.c does: that codec's library floor. sbc and sbc-xq load none;
 * a codec left out of the build is an error (exit 2).
 *
 * Linked with --no-as-needed so that every library the daemon links is
 * loaded and relocated as it is in the daemon. Prints one JSON object. */
#include <dlfcn.h>
#include <stdio.h>
#include <string.h>

#include "codec-sonames.h"

struct codec_libs {
        const char *codec;
        const char *sonames[3];
};

static const struct codec_libs codec_libs[] = {
        { "sbc", { NULL } },
        { "sbc-xq", { NULL } },
#ifdef WITH_APTX
        { "aptx", { APTX_SONAME, NULL } },
        { "aptx-hd", { APTX_SONAME, NULL } },
#endif
#ifdef WITH_AAC
        { "aac", { LAVU_SONAME, LAVC_SONAME, NULL } },
#endif
#ifdef WITH_LDAC
        { "ldac", { LDAC_SONAME, NULL } },
#endif
};

static const struct codec_libs *find_codec(const char *name)
{
        for (size_t i = 0; i < sizeof(codec_libs) / sizeof(codec_libs[0]); i++)
                if (strcmp(codec_libs[i].codec, name) == 0)
                        return &codec_libs[i];
        return NULL;
}

/* Both figures from one read of the file: reading twice would count the
 * first read's buffers in the second figure only. */
int main(int argc, char **argv)
{
        static char text[8192];
        const struct codec_libs *c = NULL;
        long hwm = -1, rss = -1;
        FILE *f;
        size_t n;
        const char *p;

        if (argc == 3 && strcmp(argv[1], "--codec") == 0) {
                c = find_codec(argv[2]);
                if (!c) {
                        fprintf(stderr, "rss-floor: no codec %s in this build\n", argv[2]);
                        return 2;
                }
        } else if (argc != 1) {
                fprintf(stderr, "usage: rss-floor [--codec NAME]\n");
                return 2;
        }
        for (size_t i = 0; c && c->sonames[i]; i++)
                if (!dlopen(c->sonames[i], RTLD_NOW | RTLD_LOCAL)) {
                        fprintf(stderr, "rss-floor: %s\n", dlerror());
                        return 1;
                }
        f = fopen("/proc/self/status", "re");
        n = f ? fread(text, 1, sizeof(text) - 1, f) : 0;
        if (f)
                fclose(f);
        text[n] = '\0';
        if ((p = strstr(text, "\nVmHWM:")))
                sscanf(p + 7, "%ld", &hwm);
        if ((p = strstr(text, "\nVmRSS:")))
                sscanf(p + 7, "%ld", &rss);
        if (hwm < 0 || rss < 0) {
                fprintf(stderr, "rss-floor: cannot read /proc/self/status\n");
                return 1;
        }
        printf("{\"codec\": \"%s\", \"peak_rss_kib\": %ld, \"rss_kib\": %ld}\n", c ? c->codec : "",
               hwm, rss);
        return 0;
}
