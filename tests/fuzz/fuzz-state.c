/* The saved-state file: whatever is on disk, including a torn write. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "state.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
        struct saved_state a, b;
        char err[256], buf[STATE_FORMAT_MAX];
        int n;

        if (state_parse((const char *)data, size, &a, err, sizeof(err)) != 0)
                return 0;
        /* anything accepted is written back and read back the same */
        n = state_format(&a, buf, sizeof(buf));
        if (n < 0)
                abort();
        if (state_parse(buf, (size_t)n, &b, err, sizeof(err)) != 0)
                abort();
        if (memcmp(&a, &b, sizeof(a)) != 0)
                abort();
        return 0;
}
