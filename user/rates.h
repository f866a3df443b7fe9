/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Per-second rates of growing counters, smoothed by an exponentially
 * weighted moving average over time: each reading moves the rate towards
 * what was seen since the last one by 1 - e^(-dt/tau), so the smoothing
 * depends on the time covered, not on how often the counters are read.
 * Pure arithmetic on a count and a time, so tests drive it with a fake clock.
 */
#ifndef SLUICE_RATES_H
#define SLUICE_RATES_H

#include <stdbool.h>
#include <linux/types.h>

/*
 * The time constant: a step in the rate shows 63% of its size after one tau
 * and 95% after three. One second: rates are per second, and the shedding
 * controller should see a flood's onset within a second or two.
 */
#define RATE_TAU_NS 1000000000ull

struct rate {
	double per_second;	/* the smoothed rate; 0 until two readings */
	__u64 last_count;
	__u64 last_ns;
	bool primed;		/* a first reading was taken */
	bool rated;		/* and a second: per_second starts from what it saw */
};

/*
 * Takes a reading of a counter at `now_ns`. A counter that went back (its
 * map was made anew) or a clock that did not move starts over from this
 * reading, keeping the rate as it was.
 */
void rate_update(struct rate *r, __u64 count, __u64 now_ns, __u64 tau_ns);

#endif /* SLUICE_RATES_H */
