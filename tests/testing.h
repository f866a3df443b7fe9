/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* What the C test suites share. */
#ifndef SLUICE_TESTING_H
#define SLUICE_TESTING_H

#include <time.h>
#include <linux/types.h>

#include "seeded.h"

/* CLOCK_MONOTONIC in nanoseconds: the controller's clock, for tests on the real one. */
static inline __u64 now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__u64)ts.tv_sec * 1000000000ull + (__u64)ts.tv_nsec;
}

/*
 * The controller's seeded generator, so a property test checks the same
 * values on every run and a failure can be replayed from its seed.
 */
static inline __u64 test_rng_next(__u64 *state)
{
	return seeded_next(state);
}

/* Skips a cmocka test, saying why (cmocka.h before this header). */
#define SKIP_BECAUSE(...)                                                               \
	do {                                                                             \
		print_message("# skipped: ");                                            \
		print_message(__VA_ARGS__);                                              \
		print_message("\n");                                                     \
		skip();                                                                  \
	} while (0)

#endif /* SLUICE_TESTING_H */
