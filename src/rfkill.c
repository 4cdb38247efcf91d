/* rfkill state of a Bluetooth controller (see rfkill.h). */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "rfkill.h"

/* The first line of dir/name/file, without its newline; "" when unreadable. */
static void read_line(const char *dir, const char *name, const char *file, char *buf, size_t len)
{
        char path[512];
        FILE *f;

        buf[0] = '\0';
        snprintf(path, sizeof(path), "%s/%s/%s", dir, name, file);
        f = fopen(path, "re");
        if (!f)
                return;
        if (!fgets(buf, (int)len, f))
                buf[0] = '\0';
        fclose(f);
        buf[strcspn(buf, "\r\n")] = '\0';
}

int rfkill_blocked(const char *dir, const char *hci, bool *blocked)
{
        DIR *d = opendir(dir);
        struct dirent *e;
        int r = -ENOENT;

        *blocked = false;
        if (!d)
                return -ENOENT;
        while ((e = readdir(d))) {
                char type[32], name[64], soft[8], hard[8];

                if (e->d_name[0] == '.')
                        continue;
                read_line(dir, e->d_name, "type", type, sizeof(type));
                read_line(dir, e->d_name, "name", name, sizeof(name));
                if (strcmp(type, "bluetooth") != 0 || strcmp(name, hci) != 0)
                        continue;
                read_line(dir, e->d_name, "soft", soft, sizeof(soft));
                read_line(dir, e->d_name, "hard", hard, sizeof(hard));
                *blocked = strcmp(soft, "1") == 0 || strcmp(hard, "1") == 0;
                r = 0;
                break;
        }
        closedir(d);
        return r;
}
