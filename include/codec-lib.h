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
void codec_lib_close(void *handle);
/* Whether soname can be loaded at all: opened and closed again. */
bool codec_lib_present(const char *soname);

#endif
