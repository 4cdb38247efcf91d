#include "bdaddr.h"

#include <ctype.h>

bool bdaddr_valid(const char *s)
{
        for (int i = 0; i < 17; i++) {
                if (i % 3 == 2) {
                        if (s[i] != ':')
                                return false;
                } else if (!isxdigit((unsigned char)s[i])) {
                        return false;
                }
        }
        return s[17] == '\0';
}
