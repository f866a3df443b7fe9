/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The token bucket, written once: the XDP program and the unit tests compile
 * these same functions, so the tests run the arithmetic the kernel runs.
 *
 * A bucket of `burst` packets refilled at `rate` packets per second is kept
 * as a single number, the time at which it will be full again (`full_at`).
 * Each packet costs `interval` = 1/rate of time; the bucket holds at most
 * `depth` = burst * interval of time. At time `now` the bucket owes
 * debt = full_at - now (zero once that is in the past) and holds
 * (depth - debt) / interval tokens. A packet fits while debt + interval
 * <= depth, and taking it moves full_at to now + debt + interval.
 *
 * This is exactly a token bucket with continuous refill, but its state is one
 * 64-bit word, so CPUs share it with a compare-and-swap instead of a lock
 * (and BPF spin locks are not allowed in the LRU hash that holds buckets).
 *
 * Time is counted in picoseconds ("sluice time"), so the interval of any
 * rate up to 1 Gpps is exact to better than 1 part in 1000, and 2^64 ps wraps
 * after 213 days. The arithmetic is wrap-safe: full_at - now is taken modulo
 * 2^64, and half the range (106 days) tells the past from the future. New
 * buckets start full as of now (full_at = now), never at zero.
 *
 * A bucket owing more than its depth, which happens when its limit is
 * lowered, is read as empty, not as full: tightening a limit mid-flood does
 * not hand every flooder a fresh burst. The one blind spot: a bucket left
 * idle for over 106 days reads as empty once, for one depth of time; the LRU
 * table evicts such buckets long before.
 */
#ifndef SLUICE_TOKEN_BUCKET_H
#define SLUICE_TOKEN_BUCKET_H

#include <linux/types.h>
#include "sluice.h"

#define SLUICE_INLINE static inline __attribute__((always_inline))

#define SLUICE_TIME_PER_NS 1000ULL
#define SLUICE_TIME_PER_SEC 1000000000000ULL

#define SLUICE_MAX_RATE 1000000000ULL	/* packets per second */
#define SLUICE_MAX_BURST 1000000000ULL	/* packets */
/* Keeps debt + interval far from overflow and depth under half the wrap. */
#define SLUICE_MAX_DEPTH (1ULL << 62)	/* about 53 days of sluice time */

/* Sluice time from the kernel's monotonic clock (bpf_ktime_get_ns()). */
SLUICE_INLINE __u64 sluice_time_from_ns(__u64 ns)
{
	return ns * SLUICE_TIME_PER_NS;
}

enum sluice_limit_error {
	SLUICE_LIMIT_OK = 0,
	SLUICE_LIMIT_ZERO_RATE,
	SLUICE_LIMIT_RATE_TOO_HIGH,
	SLUICE_LIMIT_ZERO_BURST,
	SLUICE_LIMIT_BURST_TOO_HIGH,
	SLUICE_LIMIT_TOO_DEEP,
};

/* Fills in a limit of `rate` packets/s and `burst` packets, or says why not. */
SLUICE_INLINE enum sluice_limit_error
sluice_limit_init(struct sluice_limit *limit, __u64 rate, __u64 burst)
{
	__u64 interval;

	if (rate == 0)
		return SLUICE_LIMIT_ZERO_RATE;
	if (rate > SLUICE_MAX_RATE)
		return SLUICE_LIMIT_RATE_TOO_HIGH;
	if (burst == 0)
		return SLUICE_LIMIT_ZERO_BURST;
	if (burst > SLUICE_MAX_BURST)
		return SLUICE_LIMIT_BURST_TOO_HIGH;
	interval = (SLUICE_TIME_PER_SEC + rate / 2) / rate;
	if (burst > SLUICE_MAX_DEPTH / interval)
		return SLUICE_LIMIT_TOO_DEEP;

	limit->rate = rate;
	limit->burst = burst;
	limit->interval = interval;
	limit->depth = burst * interval;
	limit->flags = 0;
	limit->pad = 0;
	return SLUICE_LIMIT_OK;
}

/* Past this, full_at - now means full_at is in the past. */
#define SLUICE_TIME_HALF_RANGE (1ULL << 63)

/*
 * What the bucket owes at `now`: zero when it is full, at most `depth` when
 * empty. A state of zero is a bucket never used (a fresh map value), and
 * full: read as a time, zero would be in the future once sluice time passes
 * 2^63 (after 106 days). A bucket that was used holds zero only if it fell
 * due at the wrap's very picosecond, and then it is as good as full anyway.
 */
SLUICE_INLINE __u64 sluice_bucket_debt(__u64 full_at, __u64 now, __u64 depth)
{
	__u64 debt = full_at - now;	/* wraps when full_at is in the past */

	if (full_at == 0 || debt >= SLUICE_TIME_HALF_RANGE)
		return 0;
	return debt < depth ? debt : depth;
}

/*
 * Takes `cost` (one interval per packet) from the bucket whose state is
 * `full_at`. Returns 1 when it fits, 0 when it does not, and in both cases
 * the state to store in *next_full_at: after a refusal it owes what full_at
 * owed, unless the bucket owed more than its depth and is set to empty.
 */
SLUICE_INLINE int sluice_bucket_take(__u64 full_at, __u64 now, __u64 cost, __u64 depth,
				     __u64 *next_full_at)
{
	__u64 debt = sluice_bucket_debt(full_at, now, depth);

	if (debt + cost > depth) {
		*next_full_at = now + debt;
		return 0;
	}
	*next_full_at = now + debt + cost;
	return 1;
}

/* Whole tokens (packets) the bucket holds at `now`. */
SLUICE_INLINE __u64 sluice_bucket_tokens(__u64 full_at, __u64 now, const struct sluice_limit *limit)
{
	return (limit->depth - sluice_bucket_debt(full_at, now, limit->depth)) / limit->interval;
}

#endif /* SLUICE_TOKEN_BUCKET_H */
