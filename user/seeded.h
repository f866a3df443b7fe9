/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * A small seeded generator (splitmix64) for the controller's jitter: the
 * same seed gives the same numbers on every platform, so tests replay exact
 * sequences. Not for anything secret.
 */
#ifndef SLUICE_SEEDED_H
#define SLUICE_SEEDED_H

#include <linux/types.h>

static inline __u64 seeded_next(__u64 *state)
{
	__u64 z = (*state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Uniform in [0, 1): the top 53 bits, as many as a double holds. */
static inline double seeded_unit(__u64 *state)
{
	return (double)(seeded_next(state) >> 11) * 0x1.0p-53;
}

#endif /* SLUICE_SEEDED_H */
