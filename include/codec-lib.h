/* Loading a codec's library when the codec is first used (dlopen), so that
 * a build with every codec costs an SBC stream no memory for the others.
 * The handle lives in the encoder that uses it: dlopen counts references,
 * so opening it again per encoder is cheap and no file holds global state. */
#ifndef A2DPSRC_CODEC_LIB_H
#define A2DPSRC_CODEC_LIB_H

#include <stdbool.h>
#include <stddef.h>

struct codec_sym {
        const char *name;
        void **ptr;              /* where the address goes */
};

/* Opens soname and binds every symbol. Returns the handle, or NULL with a
 * sentence in err (library missing, symbol missing). */
void *codec_lib_open(const char *soname, const struct codec_sym *syms, size_t n, char *err,
                     size_t err_len);
/* The same for a library that must stay loaded once loaded (RTLD_NODELETE):
 * libavcodec's dependencies allocate when they are loaded and lose it when
 * unloaded (12 KiB a cycle, LeakSanitizer saw it on every AAC stream), so
 * unloading it after each stream would leak without bound. */
void *codec_lib_open_resident(const char *soname, const struct codec_sym *syms, size_t n, char *err,
                              size_t err_len);
void codec_lib_close(void *handle);
/* Whether soname can be loaded at all: opened and closed again. */
bool codec_lib_present(const char *soname);
/* Whether soname is a file where the loader would look, without loading
 * it: in LD_LIBRARY_PATH, or beside a library this process has loaded
 * (libc's and libasound's directories: /lib/<triplet>, /usr/lib/<triplet>),
 * or in /usr/local/lib, /usr/lib, /lib. For a library as big as libavcodec:
 * opening and closing it leaves about 5 MiB resident (its dependencies'
 * heap and pages), which an SBC stream should not pay. */
bool codec_lib_findable(const char *soname);

#endif
