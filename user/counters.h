/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The outcome counters as `sluice stats` and the controller read them:
 * summed over CPUs, with each outcome's name and meaning from the one list
 * in include/sluice.h.
 */
#ifndef SLUICE_COUNTERS_H
#define SLUICE_COUNTERS_H

#include "sluice.h"

extern const char *const outcome_keys[SLUICE_OUTCOME_COUNT];	/* "passed", "dropped_rate", ... */
extern const char *const outcome_help[SLUICE_OUTCOME_COUNT];

struct totals {
	struct sluice_counter outcome[SLUICE_OUTCOME_COUNT];
	struct sluice_counter passed, dropped;	/* the outcomes on each side, summed */
};

/* Reads the per-CPU outcome counters into sums. 0, or -1 with errno. */
int totals_read(int counters_fd, struct totals *t);

#endif /* SLUICE_COUNTERS_H */
