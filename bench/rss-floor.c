/* rss-floor: the resident memory a process has from loading a2dpsrcd's
 * shared libraries (libdbus-1, libasound, libsbc, libsystemd, libbluetooth and what they
 * pull in) and nothing else. VmHWM counts every page of a library that was
 * touched, shared with every other process or not, so the daemon's peak
 * RSS is this floor plus its own share; make bench prints both.
 *
 * Linked with --no-as-needed so that every library the daemon links is
 * loaded and relocated as it is in the daemon. Prints one JSON object. */
#include <stdio.h>
#include <string.h>

/* Both figures from one read of the file: reading twice would count the
 * first read's buffers in the second figure only. */
int main(void)
{
        static char text[8192];
        long hwm = -1, rss = -1;
        FILE *f = fopen("/proc/self/status", "re");
        size_t n = f ? fread(text, 1, sizeof(text) - 1, f) : 0;
        const char *p;

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
        printf("{\"peak_rss_kib\": %ld, \"rss_kib\": %ld}\n", hwm, rss);
        return 0;
}
