/* The configuration file. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "options.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct options o;
        char err[512];
        char *text = malloc(size + 1);

        if (!text)
                return 0;
        memcpy(text, data, size);
        text[size] = '\0';
        options_defaults(&o);
        if (options_parse_config(&o, text, err, sizeof(err)) == 0) {
                for (int c = 0; c < CAT_COUNT; c++)
                        if (strlen(o.capture[c]) >= OPT_STR)
                                abort();
                if (o.rt_priority < 0 || o.rt_priority > 99)
                        abort();
        }
        free(text);
        return 0;
}
