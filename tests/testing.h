/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* What the C test suites share. */
#ifndef SLUICE_TESTING_H
#define SLUICE_TESTING_H

#include <linux/types.h>

/*
 * splitmix64: a small seeded generator, so a property test checks the same
 * values on every run and a failure can be replayed from its seed.
 */
static inline __u64 test_rng_next(__u64 *state)
{
	__u64 z = (*state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
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
