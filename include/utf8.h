/* Text that goes out on D-Bus must be UTF-8: libdbus aborts the process
 * that appends anything else. Names come from the air (a speaker's own
 * name, up to 248 bytes) and from files, and are kept in fixed buffers, so
 * a copy cut to fit must end between characters. Pure, no I/O. */
#ifndef A2DPSRC_UTF8_H
#define A2DPSRC_UTF8_H

#include <stddef.h>

/* Length of the UTF-8 sequence at s as D-Bus takes it (no overlong form,
 * no surrogate, nothing past U+10FFFF, no noncharacter, which older
 * libdbus refuses too); 0 when it is none. Reads no further than a byte
 * that ends the sequence early (the NUL included). */
size_t utf8_seq(const unsigned char *s);

/* Copies src into dst (len bytes, its NUL included) as text D-Bus takes:
 * whole characters only, cut between characters where it does not fit, a
 * byte that begins no character given as '?'. dst may be src (cleaned in
 * place). len 0 writes nothing. */
void utf8_copy(char *dst, size_t len, const char *src);

#endif
