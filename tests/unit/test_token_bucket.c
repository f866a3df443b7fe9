// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Unit tests for include/token_bucket.h, the arithmetic the XDP program runs,
 * on a fake clock: time is just a number of picoseconds. Golden sequences
 * worked out by hand, exact limits derived from the constants, and property
 * checks over long simulated runs with a seeded PRNG.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "testing.h"
#include "token_bucket.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define PS_PER_SEC SLUICE_TIME_PER_SEC
#define HOUR (3600 * PS_PER_SEC)

/* Fails naming the check and the limit, with actual vs expected. */
#define ASSERT_EQ(got, want, what, rate, burst)                                              \
	do {                                                                                \
		uint64_t got_ = (got), want_ = (want);                                      \
		if (got_ != want_)                                                          \
			fail_msg("%s (rate %" PRIu64 ", burst %" PRIu64 "): got %" PRIu64       \
				 ", want %" PRIu64,                                         \
				 (what), (uint64_t)(rate), (uint64_t)(burst), got_, want_);  \
	} while (0)

/* A fixed seed: every run checks the same arrivals. */
static __u64 rng_state = 0x2545f4914f6cdd1dULL;

static uint64_t rng(void)
{
	return test_rng_next(&rng_state);
}

static struct sluice_limit make_limit(__u64 rate, __u64 burst)
{
	struct sluice_limit limit;
	enum sluice_limit_error error = sluice_limit_init(&limit, rate, burst);

	if (error != SLUICE_LIMIT_OK)
		fail_msg("sluice_limit_init(%" PRIu64 ", %" PRIu64 ") = %d", (uint64_t)rate,
			 (uint64_t)burst, error);
	return limit;
}

/*
 * One packet offered at `now`, as the XDP program offers it: 1 if it passes.
 * The program stores the state take() returns after a refusal too (it writes
 * it only when it changed, which is the same thing).
 */
static int offer(__u64 *full_at, __u64 now, const struct sluice_limit *limit)
{
	__u64 next;
	int passed = sluice_bucket_take(*full_at, now, limit->interval, limit->depth, &next);

	*full_at = next;
	return passed;
}

/* Offers `n` packets at one instant; returns how many passed. */
static uint64_t offer_many(__u64 *full_at, __u64 now, const struct sluice_limit *limit,
			   uint64_t n)
{
	uint64_t passed = 0;

	for (uint64_t i = 0; i < n; i++)
		passed += offer(full_at, now, limit);
	return passed;
}

/* ---- sluice_limit_init ---- */

struct init_case {
	__u64 rate, burst;
	enum sluice_limit_error want;
};

/*
 * SLUICE_MAX_DEPTH is 2^62 = 4611686018427387904 ps. At 1 pps (interval
 * 10^12 ps) that allows 4611686 packets of burst. A burst of 10^9 fits once
 * the interval is at most 2^62 / 10^9 = 4611686018 ps: rate 216 has
 * 4629629630 ps (too deep), rate 217 has 4608294931 ps (fits).
 */
static const struct init_case init_cases[] = {
	{ 0, 1, SLUICE_LIMIT_ZERO_RATE },
	{ 0, 0, SLUICE_LIMIT_ZERO_RATE },
	{ SLUICE_MAX_RATE + 1, 1, SLUICE_LIMIT_RATE_TOO_HIGH },
	{ UINT64_MAX, 1, SLUICE_LIMIT_RATE_TOO_HIGH },
	{ 1000, 0, SLUICE_LIMIT_ZERO_BURST },
	{ 1000, SLUICE_MAX_BURST + 1, SLUICE_LIMIT_BURST_TOO_HIGH },
	{ 1000, UINT64_MAX, SLUICE_LIMIT_BURST_TOO_HIGH },
	{ 1, 1000000000, SLUICE_LIMIT_TOO_DEEP },
	{ 1, 4611687, SLUICE_LIMIT_TOO_DEEP },
	{ 1, 4611686, SLUICE_LIMIT_OK },
	{ 216, 1000000000, SLUICE_LIMIT_TOO_DEEP },
	{ 217, 1000000000, SLUICE_LIMIT_OK },
	{ 1, 1, SLUICE_LIMIT_OK },
	{ SLUICE_MAX_RATE, 1, SLUICE_LIMIT_OK },
	{ SLUICE_MAX_RATE, SLUICE_MAX_BURST, SLUICE_LIMIT_OK },
	{ 1000, SLUICE_MAX_BURST, SLUICE_LIMIT_OK },
};

static void test_limit_init_validation(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(init_cases); i++) {
		const struct init_case *c = &init_cases[i];
		struct sluice_limit limit, untouched;
		enum sluice_limit_error got;

		memset(&limit, 0xa5, sizeof(limit));
		untouched = limit;
		got = sluice_limit_init(&limit, c->rate, c->burst);
		ASSERT_EQ(got, c->want, "sluice_limit_init result", c->rate, c->burst);
		if (got != SLUICE_LIMIT_OK) {
			if (memcmp(&limit, &untouched, sizeof(limit)) != 0)
				fail_msg("refused limit (rate %" PRIu64 ", burst %" PRIu64
					 ") was written", (uint64_t)c->rate, (uint64_t)c->burst);
			continue;
		}
		/* What was accepted fits the depth the header promises. */
		if (limit.depth > SLUICE_MAX_DEPTH)
			fail_msg("depth %" PRIu64 " over SLUICE_MAX_DEPTH", (uint64_t)limit.depth);
		ASSERT_EQ(limit.depth, (unsigned __int128)c->burst * limit.interval, "depth",
			  c->rate, c->burst);
	}
}

struct interval_case {
	__u64 rate;
	__u64 interval;	/* 10^12 / rate, rounded to nearest */
};

static const struct interval_case interval_cases[] = {
	{ 1, 1000000000000ULL },
	{ 3, 333333333333ULL },
	{ 7, 142857142857ULL },
	{ 100, 10000000000ULL },
	{ 999, 1001001001ULL },
	{ 1000, 1000000000ULL },
	{ 12345, 81004455ULL },		/* 81004455.245 */
	{ 1000000, 1000000ULL },
	{ 3000000, 333333ULL },
	{ 999500249, 1001ULL },		/* 1000.5005: rounds up */
	{ 999500250, 1000ULL },		/* 1000.4997: rounds down */
	{ 1000000000, 1000ULL },
};

static void test_limit_init_fields(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(interval_cases); i++) {
		const struct interval_case *c = &interval_cases[i];
		struct sluice_limit limit;

		memset(&limit, 0xff, sizeof(limit));
		assert_int_equal(sluice_limit_init(&limit, c->rate, 10), SLUICE_LIMIT_OK);
		ASSERT_EQ(limit.interval, c->interval, "interval", c->rate, 10);
		ASSERT_EQ(limit.rate, c->rate, "rate", c->rate, 10);
		ASSERT_EQ(limit.burst, 10, "burst", c->rate, 10);
		ASSERT_EQ(limit.depth, 10 * c->interval, "depth", c->rate, 10);
		ASSERT_EQ(limit.flags, 0, "flags", c->rate, 10);
		ASSERT_EQ(limit.pad, 0, "pad", c->rate, 10);
	}
}

/*
 * For every rate, the interval is the nearest whole ps to 1/rate, so the rate
 * the bucket really enforces is within 1 part in 1000 of the one asked for
 * (the header's promise; worst near 1 Gpps, where the interval is ~1000 ps).
 */
static void test_limit_interval_accuracy(void **state)
{
	(void)state;
	for (int i = 0; i < 200000; i++) {
		uint64_t r = rng();
		__u64 rate = i < 1000 ? SLUICE_MAX_RATE - (__u64)i :
			     i % 2 ? 1 + r % SLUICE_MAX_RATE : 1 + r % 100000;
		struct sluice_limit limit = make_limit(rate, 1);
		/* |interval * rate - 10^12| <= rate / 2 is "rounded to nearest". */
		__int128 error = (__int128)limit.interval * rate - (__int128)PS_PER_SEC;

		if (error < 0)
			error = -error;
		if (2 * error > (__int128)rate)
			fail_msg("rate %" PRIu64 ": interval %" PRIu64 " is not 1/rate rounded",
				 (uint64_t)rate, (uint64_t)limit.interval);
		/* relative error error / 10^12 below 1/1000 */
		if (error * 1000 >= (__int128)PS_PER_SEC)
			fail_msg("rate %" PRIu64 ": interval %" PRIu64 " is off by 1/1000 or more",
				 (uint64_t)rate, (uint64_t)limit.interval);
	}
}

/* ---- the bucket on a fake clock ---- */

/* Worked by hand: 2 pps (interval 0.5 s), burst 2 (depth 1 s). */
static void test_golden_sequence(void **state)
{
	static const struct {
		uint64_t at_ms;
		int passes;
		uint64_t tokens_after;
	} steps[] = {
		{ 0, 1, 1 },	{ 0, 1, 0 },	{ 0, 0, 0 },	/* burst, then refused */
		{ 250, 0, 0 },			/* half a token */
		{ 499, 0, 0 },
		{ 500, 1, 0 },	{ 500, 0, 0 },	/* one token per interval */
		{ 1499, 1, 0 },			/* held 1.998 tokens: one whole */
		{ 1500, 1, 0 },			/* and the 0.998 left is 1 by now */
		{ 1999, 0, 0 },
		{ 2000, 1, 0 },	{ 2000, 0, 0 },
		{ 4000, 1, 1 },	{ 4000, 1, 0 },	{ 4000, 0, 0 },	/* refill capped at 2 */
	};
	struct sluice_limit limit = make_limit(2, 2);
	__u64 full_at = 0;

	(void)state;
	assert_int_equal(limit.interval, PS_PER_SEC / 2);
	for (size_t i = 0; i < ARRAY_SIZE(steps); i++) {
		__u64 now = steps[i].at_ms * (PS_PER_SEC / 1000);
		char what[64];

		snprintf(what, sizeof(what), "step %zu at %" PRIu64 " ms passes", i,
			 steps[i].at_ms);
		ASSERT_EQ(offer(&full_at, now, &limit), steps[i].passes, what, 2, 2);
		snprintf(what, sizeof(what), "step %zu at %" PRIu64 " ms tokens", i,
			 steps[i].at_ms);
		ASSERT_EQ(sluice_bucket_tokens(full_at, now, &limit), steps[i].tokens_after, what,
			  2, 2);
	}
}

static const struct {
	__u64 rate, burst;
} configs[] = {
	{ 1, 1 }, { 2, 2 }, { 3, 5 }, { 7, 1 }, { 1000, 1 }, { 1000, 100 }, { 12345, 64 },
	{ 1000000, 1000 }, { 1000000000, 1 }, { 1000000000, 32 }, { 217, 1000000 },
};

/* Start times: the epoch, mid-range, and just before the clock wraps. */
static const __u64 starts[] = { 0, 1000 * HOUR, UINT64_MAX - 3 };

/*
 * A fresh bucket (full_at = now, as the XDP program creates it) passes
 * exactly `burst`, wherever the clock stands, the last moments before the
 * wrap included.
 */
static void test_fresh_bucket_passes_burst(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(configs); i++) {
		struct sluice_limit limit = make_limit(configs[i].rate, configs[i].burst);

		for (size_t s = 0; s < ARRAY_SIZE(starts); s++) {
			__u64 now = starts[s], full_at = now;

			ASSERT_EQ(sluice_bucket_tokens(full_at, now, &limit), limit.burst,
				  "tokens of a fresh bucket", limit.rate, limit.burst);
			ASSERT_EQ(offer_many(&full_at, now, &limit, limit.burst + 10),
				  limit.burst, "passed at one instant", limit.rate, limit.burst);
			ASSERT_EQ(sluice_bucket_tokens(full_at, now, &limit), 0,
				  "tokens after the burst", limit.rate, limit.burst);
			ASSERT_EQ(sluice_bucket_debt(full_at, now, limit.depth), limit.depth,
				  "debt after the burst", limit.rate, limit.burst);
		}
	}
}

/* An empty bucket gives one packet per interval: not a picosecond earlier. */
static void test_one_packet_per_interval(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(configs); i++) {
		struct sluice_limit limit = make_limit(configs[i].rate, configs[i].burst);

		for (size_t s = 0; s < ARRAY_SIZE(starts); s++) {
			__u64 t0 = starts[s], full_at = t0 + limit.depth;	/* empty at t0 */

			ASSERT_EQ(offer(&full_at, t0, &limit), 0, "offer when empty",
				  limit.rate, limit.burst);
			for (int k = 1; k <= 5; k++) {
				__u64 due = t0 + (__u64)k * limit.interval;

				ASSERT_EQ(offer(&full_at, due - 1, &limit), 0,
					  "offer 1 ps before the token", limit.rate, limit.burst);
				ASSERT_EQ(offer(&full_at, due, &limit), 1,
					  "offer when the token is due", limit.rate, limit.burst);
				ASSERT_EQ(offer(&full_at, due, &limit), 0,
					  "second offer at the same instant", limit.rate,
					  limit.burst);
			}
		}
	}
}

/*
 * Offered at 3x the rate for T seconds, the bucket passes rate * T + burst.
 * Offer k comes at exactly k / (3 * rate) s, rounded down to the ps: with a
 * gap rounded once and repeated, a burst-1 bucket would see its token come
 * 1 ps after the third offer every time and pass one packet in four offers,
 * not in three (correct, but not the rate being tested here).
 */
static void test_long_run_at_three_times_rate(void **state)
{
	static const struct {
		__u64 rate, burst, seconds;
	} runs[] = {
		{ 1, 1, 3600 }, { 3, 10, 1000 }, { 1000, 1, 10 }, { 1000, 50, 10 },
		{ 12345, 100, 10 }, { 1000000, 1000, 2 },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(runs); i++) {
		__u64 rate = runs[i].rate, burst = runs[i].burst;
		struct sluice_limit limit = make_limit(rate, burst);
		/* Idle a second before the wrap, so the run crosses it too. */
		__u64 t0 = UINT64_MAX - PS_PER_SEC, full_at = t0 - HOUR;
		uint64_t offers = 3 * rate * runs[i].seconds, passed = 0, want;

		for (uint64_t k = 0; k < offers; k++) {
			__u64 at = (__u64)((unsigned __int128)k * PS_PER_SEC / (3 * rate));

			passed += offer(&full_at, t0 + at, &limit);
		}
		want = rate * runs[i].seconds + burst;
		if (passed + 1 < want || passed > want + 1)
			fail_msg("rate %" PRIu64 " burst %" PRIu64 " for %" PRIu64
				 " s at 3x: passed %" PRIu64 ", want %" PRIu64 " +- 1",
				 (uint64_t)rate, (uint64_t)burst, (uint64_t)runs[i].seconds,
				 (uint64_t)passed, (uint64_t)want);
	}
}

/* Traffic at or below the rate always passes, even from an empty bucket. */
static void test_below_rate_always_passes(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(configs); i++) {
		struct sluice_limit limit = make_limit(configs[i].rate, configs[i].burst);

		for (size_t s = 0; s < ARRAY_SIZE(starts); s++) {
			__u64 now = starts[s], full_at = now;	/* full_at = now: full */

			offer_many(&full_at, now, &limit, limit.burst);	/* drain it */
			for (int k = 0; k < 20000; k++) {
				now += limit.interval + rng() % (limit.interval + 1);
				if (!offer(&full_at, now, &limit))
					fail_msg("rate %" PRIu64 ": packet %d below the rate refused",
						 (uint64_t)limit.rate, k);
			}
		}
	}
}

/* However long a bucket idles, it holds `burst` and no more. */
static void test_refill_capped_at_burst(void **state)
{
	static const __u64 idles[] = { HOUR, 24 * HOUR, 40 * 24 * HOUR };

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(configs); i++) {
		struct sluice_limit limit = make_limit(configs[i].rate, configs[i].burst);

		for (size_t d = 0; d < ARRAY_SIZE(idles); d++) {
			__u64 t0 = 1000 * HOUR, full_at = t0 + limit.depth;	/* empty */
			__u64 now = t0 + idles[d];

			if (idles[d] < limit.depth)
				continue;
			ASSERT_EQ(sluice_bucket_tokens(full_at, now, &limit), limit.burst,
				  "tokens after idling", limit.rate, limit.burst);
			ASSERT_EQ(offer_many(&full_at, now, &limit, limit.burst + 5), limit.burst,
				  "passed after idling", limit.rate, limit.burst);
		}
	}
}

/*
 * A refused take reports 0 and gives back the state it was handed: a refusal
 * costs nothing, and the XDP program, which stores only a changed state,
 * writes nothing.
 */
static void test_refused_take_leaves_state(void **state)
{
	struct sluice_limit limit = make_limit(1000, 4);
	__u64 now = 5 * PS_PER_SEC, full_at = now + limit.depth, next = 0xdeadbeefULL;

	(void)state;
	assert_int_equal(sluice_bucket_take(full_at, now, limit.interval, limit.depth, &next), 0);
	assert_int_equal(next, full_at);
	/* One ps short of a token: still refused, the state still as it was. */
	now += limit.interval - 1;
	next = 0xdeadbeefULL;
	assert_int_equal(sluice_bucket_take(full_at, now, limit.interval, limit.depth, &next), 0);
	assert_int_equal(next, full_at);
	/* The refusals cost nothing: at the interval the token is there. */
	now += 1;
	assert_int_equal(sluice_bucket_take(full_at, now, limit.interval, limit.depth, &next), 1);
	assert_int_equal(next, full_at + limit.interval);
	/*
	 * A cost bigger than the whole bucket never fits, even when full, and
	 * the state it gives back is still a full bucket. (With full_at in the
	 * past that state is `now`, full as of now, rather than full_at itself;
	 * sluice_limit_init never makes such a cost, so the program never sees it.)
	 */
	next = 0xdeadbeefULL;
	assert_int_equal(sluice_bucket_take(0, now, limit.depth + 1, limit.depth, &next), 0);
	assert_int_equal(sluice_bucket_debt(next, now, limit.depth), 0);
	assert_int_equal(sluice_bucket_take(0, now, limit.depth, limit.depth, &next), 1);
	assert_int_equal(next, now + limit.depth);
}

/*
 * A bucket that owes more than its depth (its limit was lowered) is empty:
 * refused, and the state take() gives back is the bucket set to empty under
 * the limit it now has, now + depth, not the old debt nor a full bucket.
 */
static void test_refusal_normalizes_overdrawn_bucket(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(configs); i++) {
		struct sluice_limit limit = make_limit(configs[i].rate, configs[i].burst);

		for (size_t s = 0; s < ARRAY_SIZE(starts); s++) {
			__u64 now = starts[s], next = 0xdeadbeefULL;
			/* One ps over the depth, twice it, and as far ahead as reads as ahead. */
			const __u64 owed[] = { limit.depth + 1, 2 * limit.depth,
					       SLUICE_TIME_HALF_RANGE - 1 };

			for (size_t o = 0; o < ARRAY_SIZE(owed); o++) {
				__u64 full_at = now + owed[o];

				ASSERT_EQ(sluice_bucket_debt(full_at, now, limit.depth),
					  limit.depth, "debt of an overdrawn bucket", limit.rate,
					  limit.burst);
				ASSERT_EQ(sluice_bucket_tokens(full_at, now, &limit), 0,
					  "tokens of an overdrawn bucket", limit.rate, limit.burst);
				ASSERT_EQ(sluice_bucket_take(full_at, now, limit.interval,
							     limit.depth, &next), 0,
					  "take from an overdrawn bucket", limit.rate, limit.burst);
				ASSERT_EQ(next, now + limit.depth, "state after the refusal",
					  limit.rate, limit.burst);
			}
		}
	}
}

/*
 * Lowering a limit: a bucket drained under rate 100 burst 1000 (it owes
 * 10 s) is evaluated under rate 100 burst 10 (depth 100 ms). It is empty,
 * not full, and refills at the new rate from there.
 */
static void test_lowered_limit_gives_empty_bucket(void **state)
{
	struct sluice_limit before = make_limit(100, 1000), after = make_limit(100, 10);

	(void)state;
	for (size_t s = 0; s < ARRAY_SIZE(starts); s++) {
		__u64 now = starts[s], full_at = now;

		ASSERT_EQ(offer_many(&full_at, now, &before, 1000 + 5), 1000,
			  "passed draining under the old limit", 100, 1000);
		ASSERT_EQ(full_at - now, before.depth, "debt after draining", 100, 1000);

		ASSERT_EQ(sluice_bucket_debt(full_at, now, after.depth), after.depth,
			  "debt under the lowered limit", 100, 10);
		ASSERT_EQ(sluice_bucket_tokens(full_at, now, &after), 0,
			  "tokens under the lowered limit", 100, 10);
		ASSERT_EQ(offer(&full_at, now, &after), 0, "offer under the lowered limit", 100,
			  10);
		ASSERT_EQ(full_at - now, after.depth, "state after the refusal: empty", 100, 10);
		ASSERT_EQ(offer_many(&full_at, now + after.interval - 1, &after, 3), 0,
			  "offers 1 ps short of the new interval", 100, 10);
		ASSERT_EQ(offer_many(&full_at, now + after.interval, &after, 3), 1,
			  "offers at the new interval", 100, 10);
		now += after.interval + after.depth;
		ASSERT_EQ(offer_many(&full_at, now, &after, 10 + 5), 10,
			  "passed a new depth later", 100, 10);
	}
}

/*
 * full_at - now is read modulo 2^64, half the range ahead or behind. A
 * bucket full for up to 2^63 ps (106 days) is full; one full for longer
 * reads as owing, so as empty, once: it refuses for one depth, then passes
 * as any bucket. The LRU table evicts such buckets long before; this pins
 * down what happens if one survives.
 */
/* A zero state, what a fresh map value holds, is a full bucket whatever the clock says. */
static void test_zero_state_is_fresh(void **state)
{
	static const __u64 nows[] = { 1, 1000 * HOUR, SLUICE_TIME_HALF_RANGE,
				      SLUICE_TIME_HALF_RANGE + 1, UINT64_MAX - 1 };

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(configs); i++) {
		struct sluice_limit limit = make_limit(configs[i].rate, configs[i].burst);

		for (size_t n = 0; n < ARRAY_SIZE(nows); n++) {
			__u64 full_at = 0;

			ASSERT_EQ(sluice_bucket_tokens(full_at, nows[n], &limit), limit.burst,
				  "tokens of a zero state", limit.rate, limit.burst);
			ASSERT_EQ(offer_many(&full_at, nows[n], &limit, limit.burst + 3), limit.burst,
				  "passed from a zero state", limit.rate, limit.burst);
		}
	}
}

static void test_idle_half_the_range(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(configs); i++) {
		struct sluice_limit limit = make_limit(configs[i].rate, configs[i].burst);

		for (size_t s = 0; s < ARRAY_SIZE(starts); s++) {
			__u64 full = starts[s], full_at, now;

			/* A state of 0 is a bucket never used: test_zero_state_is_fresh. */
			if (full == 0)
				continue;
			/* Just under half the range, and exactly half: full. */
			for (__u64 idle = SLUICE_TIME_HALF_RANGE - 1;
			     idle <= SLUICE_TIME_HALF_RANGE; idle++) {
				full_at = full;
				now = full + idle;
				ASSERT_EQ(sluice_bucket_tokens(full_at, now, &limit), limit.burst,
					  "tokens after idling 2^63 ps or less", limit.rate,
					  limit.burst);
				ASSERT_EQ(offer_many(&full_at, now, &limit, limit.burst + 3),
					  limit.burst, "passed after idling 2^63 ps or less",
					  limit.rate, limit.burst);
			}

			/* Just over: empty once, stored as empty, full a depth later. */
			full_at = full;
			now = full + SLUICE_TIME_HALF_RANGE + 1;
			ASSERT_EQ(sluice_bucket_tokens(full_at, now, &limit), 0,
				  "tokens after idling 2^63 + 1 ps", limit.rate, limit.burst);
			ASSERT_EQ(offer(&full_at, now, &limit), 0, "offer after idling 2^63 + 1 ps",
				  limit.rate, limit.burst);
			ASSERT_EQ(full_at - now, limit.depth, "state after that refusal",
				  limit.rate, limit.burst);
			ASSERT_EQ(offer(&full_at, now + limit.interval - 1, &limit), 0,
				  "offer 1 ps before the first token", limit.rate, limit.burst);
			ASSERT_EQ(offer(&full_at, now + limit.interval, &limit), 1,
				  "offer at the first token", limit.rate, limit.burst);
			now += limit.interval + limit.depth;
			ASSERT_EQ(sluice_bucket_tokens(full_at, now, &limit), limit.burst,
				  "tokens a depth later", limit.rate, limit.burst);
			ASSERT_EQ(offer_many(&full_at, now, &limit, limit.burst + 3), limit.burst,
				  "passed a depth later", limit.rate, limit.burst);
		}
	}
}

struct debt_case {
	const char *name;
	__u64 full_at, now, depth, want;
};

static const struct debt_case debt_cases[] = {
	{ "full at now", 1000, 1000, 500, 0 },
	{ "full in the past", 1000, 5000, 500, 0 },
	{ "owes part", 1300, 1000, 500, 300 },
	{ "owes the whole depth", 1500, 1000, 500, 500 },
	/* A bucket owing more than its depth (a lowered limit) is empty, not full. */
	{ "one past the depth reads as empty", 1501, 1000, 500, 500 },
	{ "twice the depth reads as empty", 2000, 1000, 500, 500 },
	{ "2^63 - 1 ahead reads as empty", 1000 + (1ULL << 63) - 1, 1000, 500, 500 },
	{ "2^63 ahead is 2^63 behind: full", 1000 + (1ULL << 63), 1000, 500, 0 },
	{ "2^63 + 1 ahead is behind: full", 1000 + (1ULL << 63) + 1, 1000, 500, 0 },
	{ "2^63 + 1 behind reads as ahead: empty", 1000, 1000 + (1ULL << 63) + 1, 500, 500 },
	{ "fresh at time 0", 0, 0, 500, 0 },
	{ "fresh later", 0, 123456789, 500, 0 },
	{ "full_at before the wrap, now after", UINT64_MAX - 100, 200, 500, 0 },
	{ "owes across the wrap", 100, UINT64_MAX - 99, 500, 200 },
	{ "owes up to the last ps", UINT64_MAX, UINT64_MAX - 500, 500, 500 },
	{ "max depth owed", (1ULL << 62) + 7, 7, 1ULL << 62, 1ULL << 62 },
	{ "max depth, full 2^62 ps ago", 0, 1ULL << 62, 1ULL << 62, 0 },
};

static void test_debt(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(debt_cases); i++) {
		const struct debt_case *c = &debt_cases[i];
		__u64 got = sluice_bucket_debt(c->full_at, c->now, c->depth);

		if (got != c->want)
			fail_msg("debt, %s: got %" PRIu64 ", want %" PRIu64, c->name,
				 (uint64_t)got, (uint64_t)c->want);
	}
}

/* The clock wraps after 2^64 ps (213 days): buckets must not notice. */
static void test_wrap(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(configs); i++) {
		struct sluice_limit limit = make_limit(configs[i].rate, configs[i].burst);
		__u64 t0 = UINT64_MAX - limit.interval / 2, full_at, now;

		/* Used just before the wrap, idle an hour into the next lap: full. */
		full_at = t0 + limit.depth;
		now = t0 + HOUR + limit.depth;
		assert_true(now < t0);
		ASSERT_EQ(sluice_bucket_tokens(full_at, now, &limit), limit.burst,
			  "tokens after idling across the wrap", limit.rate, limit.burst);
		ASSERT_EQ(offer_many(&full_at, now, &limit, limit.burst + 3), limit.burst,
			  "passed after idling across the wrap", limit.rate, limit.burst);

		/* Drained just before the wrap: its debt carries across. */
		full_at = t0;
		ASSERT_EQ(offer_many(&full_at, t0, &limit, limit.burst + 3), limit.burst,
			  "passed just before the wrap", limit.rate, limit.burst);
		ASSERT_EQ(full_at, t0 + limit.depth, "full_at after draining", limit.rate,
			  limit.burst);
		now = t0 + limit.interval;	/* past zero */
		assert_true(now < t0);
		ASSERT_EQ(sluice_bucket_debt(full_at, now, limit.depth),
			  limit.depth - limit.interval, "debt across the wrap", limit.rate,
			  limit.burst);
		ASSERT_EQ(sluice_bucket_tokens(full_at, now, &limit), 1,
			  "tokens one interval after the wrap", limit.rate, limit.burst);
		ASSERT_EQ(offer(&full_at, now - 1, &limit), 0, "offer 1 ps early across the wrap",
			  limit.rate, limit.burst);
		ASSERT_EQ(offer_many(&full_at, now, &limit, 3), 1,
			  "passed one interval after the wrap", limit.rate, limit.burst);
		/* Full again exactly `depth` after the last packet. */
		now += limit.depth - 1;
		ASSERT_EQ(sluice_bucket_tokens(full_at, now, &limit), limit.burst - 1,
			  "tokens 1 ps before full", limit.rate, limit.burst);
		now += 1;
		ASSERT_EQ(sluice_bucket_tokens(full_at, now, &limit), limit.burst,
			  "tokens when full", limit.rate, limit.burst);
	}
}

/*
 * Back-to-back offers at twice the rate for one simulated second pass the
 * burst plus the rate, within 0.1% (the interval's rounding) and one packet.
 * The burst is below the rate, or 2 * rate offers would not be enough to
 * empty the bucket and see its rate.
 * Offer k comes at exactly k / (2 * rate) s, rounded down to the ps, so the
 * offers span the whole second however the gap rounds.
 */
static void test_accuracy_one_second(void **state)
{
	static const struct {
		__u64 rate, burst;
	} runs[] = {
		{ 1, 1 }, { 7, 3 }, { 100, 1 }, { 999, 10 }, { 1000, 1 }, { 12345, 10 },
		{ 1000000, 1 }, { 2000000, 10 }, { 3000000, 1 },
		{ 999500249, 10 },	/* the worst rounding of the interval: 1000.5 ps */
		{ 1000000000, 1 },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(runs); i++) {
		__u64 rate = runs[i].rate, burst = runs[i].burst;
		struct sluice_limit limit = make_limit(rate, burst);
		__u64 t0 = 7 * HOUR, full_at = 0, step = PS_PER_SEC / (2 * rate);
		__u64 step_rem = PS_PER_SEC % (2 * rate), now = t0, rem = 0;
		uint64_t passed = 0, offers = 2 * rate, off;

		for (uint64_t k = 0; k < offers; k++) {
			passed += offer(&full_at, now, &limit);
			now += step;
			rem += step_rem;
			if (rem >= 2 * rate) {
				rem -= 2 * rate;
				now++;
			}
		}
		ASSERT_EQ(now - t0, PS_PER_SEC, "time the offers spanned", rate, burst);
		off = passed - burst > rate ? passed - burst - rate : rate - (passed - burst);
		if (passed < burst || off > rate / 1000 + 1)
			fail_msg("rate %" PRIu64 " burst %" PRIu64 ": passed %" PRIu64
				 " in 1 s at 2x, want %" PRIu64 " within 0.1%% + 1",
				 (uint64_t)rate, (uint64_t)burst, passed, (uint64_t)(rate + burst));
	}
}

/*
 * Random arrivals, idle spells and bursts, across the wrap. Checked at every
 * packet:
 *  - take passes exactly when sluice_bucket_tokens() says a token is there;
 *  - the bucket never holds more than `burst`;
 *  - over every window [i-th pass, j-th pass], passes * interval <= depth +
 *    elapsed, that is passes <= burst + elapsed / interval. The bound is
 *    in the interval, the rate the bucket really enforces: burst + rate *
 *    elapsed + 1 would fail over long runs at rates whose interval rounds
 *    down (999500250 pps enforces 10^12 / 1000 ps, 0.05% more).
 */
static void test_property_random_arrivals(void **state)
{
	/* Shallow enough that a spell of floods empties them. */
	static const struct {
		__u64 rate, burst;
	} limits[] = {
		{ 1, 1 }, { 2, 2 }, { 3, 5 }, { 7, 1 }, { 217, 1000 }, { 1000, 100 },
		{ 12345, 64 }, { 1000000, 1000 }, { 999500249, 3 }, { 1000000000, 32 },
	};
	/* From the epoch, and far enough before the wrap to cross it (long idles too). */
	static const __u64 origins[] = { 0, UINT64_MAX - 100 * HOUR, UINT64_MAX - PS_PER_SEC };

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(limits); i++) {
		struct sluice_limit limit = make_limit(limits[i].rate, limits[i].burst);

		for (size_t s = 0; s < ARRAY_SIZE(origins); s++) {
			/* Absolute time in 128 bits; the bucket sees it mod 2^64. */
			unsigned __int128 t = origins[s];
			__int128 min_f = 0;	/* min over earlier passes of k*interval - t_k */
			__u64 full_at = origins[s];	/* full */
			int wraps = 0;
			uint64_t passes = 0, offers = 0;

			for (int k = 0; k < 200000; k++) {
				uint64_t r = rng();
				__u64 now = (__u64)t, tokens;
				int passed;

				tokens = sluice_bucket_tokens(full_at, now, &limit);
				if (tokens > limit.burst)
					fail_msg("rate %" PRIu64 ": %" PRIu64 " tokens, burst %" PRIu64,
						 (uint64_t)limit.rate, (uint64_t)tokens,
						 (uint64_t)limit.burst);
				passed = offer(&full_at, now, &limit);
				offers++;
				if (passed != (tokens >= 1))
					fail_msg("rate %" PRIu64 ": take %s with %" PRIu64 " tokens",
						 (uint64_t)limit.rate, passed ? "passed" : "refused",
						 (uint64_t)tokens);
				if (passed) {
					__int128 f = (__int128)passes * limit.interval - (__int128)t;

					/* A window from an earlier pass (or this one) to this one. */
					if (passes == 0 || f < min_f)
						min_f = f;
					if (f - min_f + (__int128)limit.interval > (__int128)limit.depth)
						fail_msg("rate %" PRIu64 " burst %" PRIu64
							 ": a window passed more than burst + "
							 "elapsed / interval",
							 (uint64_t)limit.rate, (uint64_t)limit.burst);
					passes++;
				}
				/* Spells of 4000 arrivals: floods, 2x the rate, near it, idling. */
				switch (k / 4000 % 4) {
				case 0:
					t += r % 4 ? (r >> 8) % (limit.interval / 8 + 1) : 0;
					break;
				case 1:
					t += (r >> 8) % (limit.interval + 1);
					break;
				case 2:
					t += (r >> 8) % (2 * limit.interval + 1);
					break;
				default:
					t += r % 4 ? (r >> 8) % (2 * limit.depth + 1) :
						     (r >> 8) % (HOUR + 1);
					break;
				}
				wraps = (int)(t >> 64);
			}
			if (s > 0 && wraps == 0)
				fail_msg("rate %" PRIu64 ": the run did not cross the wrap",
					 (uint64_t)limit.rate);
			if (passes == 0 || passes == offers)
				fail_msg("rate %" PRIu64 ": %" PRIu64 " of %" PRIu64
					 " passed: the arrivals did not exercise the limit",
					 (uint64_t)limit.rate, passes, offers);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_limit_init_validation),
		cmocka_unit_test(test_limit_init_fields),
		cmocka_unit_test(test_limit_interval_accuracy),
		cmocka_unit_test(test_golden_sequence),
		cmocka_unit_test(test_fresh_bucket_passes_burst),
		cmocka_unit_test(test_one_packet_per_interval),
		cmocka_unit_test(test_long_run_at_three_times_rate),
		cmocka_unit_test(test_below_rate_always_passes),
		cmocka_unit_test(test_refill_capped_at_burst),
		cmocka_unit_test(test_refused_take_leaves_state),
		cmocka_unit_test(test_refusal_normalizes_overdrawn_bucket),
		cmocka_unit_test(test_lowered_limit_gives_empty_bucket),
		cmocka_unit_test(test_zero_state_is_fresh),
		cmocka_unit_test(test_idle_half_the_range),
		cmocka_unit_test(test_debt),
		cmocka_unit_test(test_wrap),
		cmocka_unit_test(test_accuracy_one_second),
		cmocka_unit_test(test_property_random_arrivals),
	};

	return cmocka_run_group_tests_name("token_bucket", tests, NULL, NULL);
}
