/* UTF-8 as D-Bus takes it (utf8.h). */
#include "utf8.h"

#include <stdbool.h>
#include <string.h>

size_t utf8_seq(const unsigned char *s)
{
        unsigned c = s[0], len, cp;

        if (c < 0x80)
                return 1;
        if (c >= 0xc2 && c <= 0xdf)
                len = 2, cp = c & 0x1f;
        else if (c >= 0xe0 && c <= 0xef)
                len = 3, cp = c & 0x0f;
        else if (c >= 0xf0 && c <= 0xf4)
                len = 4, cp = c & 0x07;
        else
                return 0;
        for (unsigned i = 1; i < len; i++) {
                if ((s[i] & 0xc0) != 0x80)
                        return 0;
                cp = cp << 6 | (s[i] & 0x3f);
        }
        if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
            (cp >= 0xd800 && cp <= 0xdfff) || (cp >= 0xfdd0 && cp <= 0xfdef) ||
            (cp & 0xfffe) == 0xfffe)
                return 0;
        return len;
}

/* A lead byte whose continuation bytes run into the end of s: a
 * character that an earlier cut split, dropped rather than shown as '?' */
static bool cut_at_end(const unsigned char *s)
{
        size_t i = 1;

        if (s[0] < 0xc2 || s[0] > 0xf4)
                return false;
        while ((s[i] & 0xc0) == 0x80)
                i++;
        return s[i] == '\0' && i < (s[0] >= 0xf0 ? 4u : s[0] >= 0xe0 ? 3u : 2u);
}

void utf8_copy(char *dst, size_t len, const char *src)
{
        size_t i = 0, j = 0;

        if (len == 0)
                return;
        /* j never passes i: a character is written no longer than read */
        while (src[i]) {
                size_t k = utf8_seq((const unsigned char *)src + i);

                if (j + (k ? k : 1) >= len || (!k && cut_at_end((const unsigned char *)src + i)))
                        break;
                if (k) {
                        memmove(dst + j, src + i, k);
                        j += k;
                        i += k;
                } else {
                        dst[j++] = '?';
                        i++;
                }
        }
        dst[j] = '\0';
}
