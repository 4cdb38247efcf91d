/* a2dpsrcctl doctor's pure half: Manager1.Diagnose's a(ssss) read into
 * findings, printed as a checklist for a person or as JSON for an app. */
#ifndef A2DPSRC_CTL_DOCTOR_H
#define A2DPSRC_CTL_DOCTOR_H

#include <dbus/dbus.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

struct ctl_finding {
        char id[32];
        char verdict[16];
        char seen[512];
        char fix[384];
};

/* The a(ssss) at array: *out is malloc'ed (free it), NULL when *n is 0.
 * -EINVAL when array is not an a(ssss); -ENOMEM. */
int ctl_findings_parse(DBusMessageIter *array, struct ctl_finding **out, size_t *n);
/* Whether any finding says "problem" (a2dpsrcctl doctor exits 1). */
bool ctl_findings_problem(const struct ctl_finding *f, size_t n);
/* The checklist; address "" for the board. Text from the air is cleaned. */
void ctl_findings_print(FILE *f, const char *address, const struct ctl_finding *fs, size_t n);
/* {"address": ..., "verdict": worst, "findings": [{id, verdict, seen, fix}...]} */
void ctl_findings_json(FILE *f, const char *address, const struct ctl_finding *fs, size_t n);

#endif
