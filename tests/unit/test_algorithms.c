// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Unit tests for include/algorithms.h, the four algorithms the XDP program
 * runs, on a fake clock (time is a number of picoseconds): exact behaviour at
 * an instant and one interval or window later, long-run rates at 3x the
 * limit in packets and in bytes, the documented edge behaviours, properties
 * over seeded random arrivals, and the shared-state protocol run by simulated
 * CPUs that interleave at every access to the shared words.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <ucontext.h>
#include <cmocka.h>

/* The simulated CPUs switch at every shared access (see "simulated CPUs" below). */
static void sim_yield(void);
#define SLUICE_SHARED_ACCESS() sim_yield()

#include "testing.h"
#include "algorithms.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define PS_PER_SEC SLUICE_TIME_PER_SEC
#define MS (PS_PER_SEC / 1000)
#define HOUR (3600 * PS_PER_SEC)

#define TB SLUICE_ALGO_TOKEN_BUCKET
#define GCRA SLUICE_ALGO_GCRA
#define SLIDING SLUICE_ALGO_SLIDING_WINDOW
#define FIXED SLUICE_ALGO_FIXED_WINDOW
#define PKT SLUICE_UNIT_PACKETS
#define BYTES SLUICE_UNIT_BYTES

static const char *const algo_names[] = { "token bucket", "gcra", "sliding window",
					  "fixed window" };

/* Fails naming the check and the limit, with actual vs expected. */
#define ASSERT_EQ(got, want, what, limit)                                                   \
	do {                                                                                \
		uint64_t got_ = (got), want_ = (want);                                      \
		if (got_ != want_)                                                          \
			fail_msg("%s (%s, %s, rate %" PRIu64 ", burst %" PRIu64 "): got %"      \
				 PRIu64 ", want %" PRIu64,                                  \
				 (what), algo_names[(limit)->algo],                         \
				 (limit)->unit ? "bytes" : "packets", (uint64_t)(limit)->rate, \
				 (uint64_t)(limit)->burst, got_, want_);                    \
	} while (0)

/* A fixed seed: every run checks the same arrivals. */
static __u64 rng_state = 0x853c49e6748fea9bULL;

static uint64_t rng(void)
{
	return test_rng_next(&rng_state);
}

static struct sluice_rule_limit make(int algo, int unit, __u64 rate, __u64 burst)
{
	struct sluice_rule_limit limit;
	enum sluice_rule_limit_error error;

	error = sluice_rule_limit_init(&limit, algo, unit, rate, burst);

	if (error != SLUICE_RULE_LIMIT_OK)
		fail_msg("sluice_rule_limit_init(%s, %d, %" PRIu64 ", %" PRIu64 ") = %d",
			 algo_names[algo], unit, (uint64_t)rate, (uint64_t)burst, error);
	return limit;
}

static struct sluice_rule_state fresh(const struct sluice_rule_limit *limit, __u64 now)
{
	struct sluice_rule_state state;

	memset(&state, 0xa5, sizeof(state));
	sluice_rule_state_init(&state, limit, now);
	return state;
}

/* One packet of `bytes` at `now`, as the XDP program offers it: 1 if it passes. */
static int offer(struct sluice_rule_state *state, const struct sluice_rule_limit *limit,
		 __u64 now, __u64 bytes)
{
	enum sluice_take take = sluice_rule_take(state, limit, now, bytes);

	if (take == SLUICE_TAKE_GAVE_UP)
		fail_msg("%s gave up with one CPU at %" PRIu64, algo_names[limit->algo],
			 (uint64_t)now);
	return take == SLUICE_TAKE_PASSED;
}

/* Offers n packets of `bytes` at one instant; returns how many passed. */
static uint64_t offer_many(struct sluice_rule_state *state, const struct sluice_rule_limit *limit,
			   __u64 now, __u64 bytes, uint64_t n)
{
	uint64_t passed = 0;

	for (uint64_t i = 0; i < n; i++)
		passed += offer(state, limit, now, bytes);
	return passed;
}

/* A packet's size in a mixed stream: 64 to 1500 bytes, a third of them full-size. */
static __u64 mixed_size(void)
{
	uint64_t r = rng();

	return r % 3 == 0 ? 1500 : 64 + (r >> 8) % (1500 - 64 + 1);
}

/* ---- init ---- */

struct init_case {
	int algo, unit;
	__u64 rate, burst;
	enum sluice_rule_limit_error want;
};

/*
 * SLUICE_MAX_DEPTH is 2^62 ps = 4611686.018 s: at 1 pps a burst of 4611686
 * fits and 4611687 does not, for the bucket's depth and a window's length
 * alike. At 1 B/s, 4611686 bytes fit.
 */
static const struct init_case init_cases[] = {
	{ TB, PKT, 0, 1, SLUICE_RULE_LIMIT_ZERO_RATE },
	{ TB, PKT, 0, 0, SLUICE_RULE_LIMIT_ZERO_RATE },
	{ TB, PKT, SLUICE_MAX_RATE + 1, 1, SLUICE_RULE_LIMIT_RATE_TOO_HIGH },
	{ TB, PKT, SLUICE_MAX_RATE, 1, SLUICE_RULE_LIMIT_OK },
	{ TB, BYTES, SLUICE_MAX_RATE + 1, 2000, SLUICE_RULE_LIMIT_OK },
	{ TB, BYTES, SLUICE_MAX_BYTE_RATE, 2000, SLUICE_RULE_LIMIT_OK },
	{ TB, BYTES, SLUICE_MAX_BYTE_RATE + 1, 2000, SLUICE_RULE_LIMIT_RATE_TOO_HIGH },
	{ TB, BYTES, UINT64_MAX, 2000, SLUICE_RULE_LIMIT_RATE_TOO_HIGH },
	{ TB, PKT, 1000, 0, SLUICE_RULE_LIMIT_ZERO_BURST },
	{ TB, BYTES, 1000, 0, SLUICE_RULE_LIMIT_ZERO_BURST },
	{ TB, PKT, 1000, 1, SLUICE_RULE_LIMIT_OK },
	{ TB, BYTES, 1000, SLUICE_MIN_BYTE_BURST - 1, SLUICE_RULE_LIMIT_BURST_TOO_LOW },
	{ TB, BYTES, 1000, SLUICE_MIN_BYTE_BURST, SLUICE_RULE_LIMIT_OK },
	{ TB, PKT, 1000, SLUICE_MAX_BURST + 1, SLUICE_RULE_LIMIT_BURST_TOO_HIGH },
	{ TB, PKT, 1000, SLUICE_MAX_BURST, SLUICE_RULE_LIMIT_OK },
	{ TB, BYTES, 1000000, SLUICE_MAX_BYTE_BURST, SLUICE_RULE_LIMIT_OK },
	{ TB, BYTES, 1000000, SLUICE_MAX_BYTE_BURST + 1, SLUICE_RULE_LIMIT_BURST_TOO_HIGH },
	{ TB, PKT, 1, 4611686, SLUICE_RULE_LIMIT_OK },
	{ TB, PKT, 1, 4611687, SLUICE_RULE_LIMIT_TOO_DEEP },
	{ TB, BYTES, 1, 4611686, SLUICE_RULE_LIMIT_OK },
	{ TB, BYTES, 1, 4611687, SLUICE_RULE_LIMIT_TOO_DEEP },
	{ TB, BYTES, SLUICE_MAX_BYTE_RATE, SLUICE_MAX_BYTE_BURST, SLUICE_RULE_LIMIT_OK },
	{ GCRA, PKT, 0, 1, SLUICE_RULE_LIMIT_ZERO_RATE },
	{ GCRA, BYTES, 1000, 1, SLUICE_RULE_LIMIT_BURST_TOO_LOW },
	{ GCRA, PKT, 1, 4611687, SLUICE_RULE_LIMIT_TOO_DEEP },
	{ GCRA, PKT, 10, 3, SLUICE_RULE_LIMIT_OK },
	{ SLIDING, PKT, 0, 1, SLUICE_RULE_LIMIT_ZERO_RATE },
	{ SLIDING, PKT, SLUICE_MAX_RATE + 1, 1, SLUICE_RULE_LIMIT_RATE_TOO_HIGH },
	{ SLIDING, PKT, 100, 0, SLUICE_RULE_LIMIT_ZERO_BURST },
	{ SLIDING, BYTES, 100000, 1517, SLUICE_RULE_LIMIT_BURST_TOO_LOW },
	{ SLIDING, BYTES, 100000, SLUICE_MAX_BYTE_BURST + 1, SLUICE_RULE_LIMIT_BURST_TOO_HIGH },
	{ SLIDING, PKT, 1, 4611686, SLUICE_RULE_LIMIT_OK },
	{ SLIDING, PKT, 1, 4611687, SLUICE_RULE_LIMIT_TOO_DEEP },
	/* Windows last 1 us at least: 1 Mpps with a burst of 1, 1 Gpps with 1000. */
	{ SLIDING, PKT, 1000000, 1, SLUICE_RULE_LIMIT_OK },
	{ SLIDING, PKT, 1000001, 1, SLUICE_RULE_LIMIT_WINDOW_TOO_SHORT },
	{ FIXED, PKT, SLUICE_MAX_RATE, 1, SLUICE_RULE_LIMIT_WINDOW_TOO_SHORT },
	{ FIXED, PKT, SLUICE_MAX_RATE, 1000, SLUICE_RULE_LIMIT_OK },
	{ SLIDING, BYTES, SLUICE_MAX_BYTE_RATE, SLUICE_MIN_BYTE_BURST,
	  SLUICE_RULE_LIMIT_WINDOW_TOO_SHORT },
	{ SLIDING, BYTES, SLUICE_MAX_BYTE_RATE, 125000, SLUICE_RULE_LIMIT_OK },
	{ SLIDING, BYTES, SLUICE_MAX_BYTE_RATE, 124999, SLUICE_RULE_LIMIT_WINDOW_TOO_SHORT },
	/* The token bucket has no such floor. */
	{ TB, PKT, SLUICE_MAX_RATE, 1, SLUICE_RULE_LIMIT_OK },
	{ FIXED, PKT, 0, 1, SLUICE_RULE_LIMIT_ZERO_RATE },
	{ FIXED, BYTES, SLUICE_MAX_BYTE_RATE + 1, 2000, SLUICE_RULE_LIMIT_RATE_TOO_HIGH },
	{ FIXED, PKT, 1000, SLUICE_MAX_BURST + 1, SLUICE_RULE_LIMIT_BURST_TOO_HIGH },
	{ FIXED, BYTES, 1, 4611687, SLUICE_RULE_LIMIT_TOO_DEEP },
	{ FIXED, PKT, 100, 100, SLUICE_RULE_LIMIT_OK },
	{ SLUICE_ALGO_COUNT, PKT, 100, 100, SLUICE_RULE_LIMIT_BAD_ALGO },
	{ 255, PKT, 100, 100, SLUICE_RULE_LIMIT_BAD_ALGO },
	{ TB, SLUICE_UNIT_COUNT, 100, 100, SLUICE_RULE_LIMIT_BAD_UNIT },
	{ FIXED, 255, 100, 100, SLUICE_RULE_LIMIT_BAD_UNIT },
};

static void test_init_validation(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(init_cases); i++) {
		const struct init_case *c = &init_cases[i];
		struct sluice_rule_limit limit, untouched;
		enum sluice_rule_limit_error got;

		memset(&limit, 0x5a, sizeof(limit));
		untouched = limit;
		got = sluice_rule_limit_init(&limit, c->algo, c->unit, c->rate, c->burst);
		if (got != c->want)
			fail_msg("case %zu: init(algo %d, unit %d, rate %" PRIu64 ", burst %" PRIu64
				 ") = %d, want %d", i, c->algo, c->unit, (uint64_t)c->rate,
				 (uint64_t)c->burst, got, c->want);
		if (got != SLUICE_RULE_LIMIT_OK) {
			if (memcmp(&limit, &untouched, sizeof(limit)) != 0)
				fail_msg("case %zu: a refused limit was written", i);
			continue;
		}
		ASSERT_EQ(limit.rate, c->rate, "rate", &limit);
		ASSERT_EQ(limit.burst, c->burst, "burst", &limit);
		ASSERT_EQ(limit.algo, c->algo, "algo", &limit);
		ASSERT_EQ(limit.unit, c->unit, "unit", &limit);
		for (size_t b = 0; b < sizeof(limit.pad); b++)
			ASSERT_EQ(limit.pad[b], 0, "padding", &limit);
		if (c->algo == SLIDING || c->algo == FIXED) {
			ASSERT_EQ(limit.window.pad | limit.window.pad2, 0, "window padding",
				  &limit);
			if (limit.window.length > SLUICE_MAX_DEPTH || limit.window.length == 0)
				fail_msg("case %zu: window length %" PRIu64, i,
					 (uint64_t)limit.window.length);
		} else {
			ASSERT_EQ(limit.meter.pad, 0, "meter padding", &limit);
			if (limit.meter.depth > SLUICE_MAX_DEPTH)
				fail_msg("case %zu: depth %" PRIu64, i,
					 (uint64_t)limit.meter.depth);
		}
	}
	/* The per-algorithm names agree with the dispatcher. */
	{
		struct sluice_rule_limit a, b;

		assert_int_equal(sluice_token_bucket_init(&a, BYTES, 12345678, 100000), 0);
		assert_int_equal(sluice_rule_limit_init(&b, TB, BYTES, 12345678, 100000), 0);
		assert_memory_equal(&a, &b, sizeof(a));
		assert_int_equal(sluice_gcra_init(&a, PKT, 1000, 10), 0);
		assert_int_equal(sluice_rule_limit_init(&b, GCRA, PKT, 1000, 10), 0);
		assert_memory_equal(&a, &b, sizeof(a));
		assert_int_equal(sluice_sliding_window_init(&a, PKT, 1000, 10), 0);
		assert_int_equal(sluice_rule_limit_init(&b, SLIDING, PKT, 1000, 10), 0);
		assert_memory_equal(&a, &b, sizeof(a));
		assert_int_equal(sluice_fixed_window_init(&a, BYTES, 1000, 2000), 0);
		assert_int_equal(sluice_rule_limit_init(&b, FIXED, BYTES, 1000, 2000), 0);
		assert_memory_equal(&a, &b, sizeof(a));
	}
}

/*
 * For packets, the token bucket and GCRA use the foundation's interval and
 * depth exactly (sluice_limit_init()), and refuse the same limits as too
 * deep: a packet limit here is the limit the foundation has always enforced.
 */
static void test_packet_meter_is_the_foundations(void **state)
{
	(void)state;
	for (int i = 0; i < 200000; i++) {
		uint64_t r = rng();
		__u64 rate = i % 3 ? 1 + r % SLUICE_MAX_RATE : 1 + r % 1000;
		__u64 burst = i % 2 ? 1 + (r >> 20) % SLUICE_MAX_BURST : 1 + (r >> 20) % 10000;
		struct sluice_limit old;
		struct sluice_rule_limit limit;
		enum sluice_limit_error want = sluice_limit_init(&old, rate, burst);
		enum sluice_rule_limit_error got =
			sluice_rule_limit_init(&limit, i % 2 ? TB : GCRA, PKT, rate, burst);

		if ((want == SLUICE_LIMIT_TOO_DEEP) != (got == SLUICE_RULE_LIMIT_TOO_DEEP) ||
		    (want == SLUICE_LIMIT_OK) != (got == SLUICE_RULE_LIMIT_OK))
			fail_msg("rate %" PRIu64 " burst %" PRIu64 ": foundation %d, rule %d",
				 (uint64_t)rate, (uint64_t)burst, want, got);
		if (got != SLUICE_RULE_LIMIT_OK)
			continue;
		ASSERT_EQ(limit.meter.interval, old.interval, "interval", &limit);
		ASSERT_EQ(limit.meter.interval_frac, 0, "interval_frac", &limit);
		ASSERT_EQ(limit.meter.depth, old.depth, "depth", &limit);
		ASSERT_EQ(sluice_meter_cost(&limit, 1), old.interval, "cost of a packet", &limit);
		ASSERT_EQ(limit.meter.tau, (burst - 1) * old.interval, "tau = (burst - 1) T",
			  &limit);
	}
}

/*
 * For bytes, T = interval + interval_frac / 2^32 is 10^12 / rate to the
 * nearest 2^-32 ps, the depth is burst * T rounded up, and the cost of any
 * packets that add up to the burst fits in it.
 */
static void test_byte_interval(void **state)
{
	static const struct {
		__u64 rate, interval;
		__u32 frac;
	} exact[] = {
		{ 12500000, 80000, 0 },			/* 100mbit */
		{ 125000000, 8000, 0 },			/* 1gbit */
		{ SLUICE_MAX_BYTE_RATE, 8, 0 },		/* 1000gbit */
		{ 3, 333333333333ULL, 1431655765 },	/* 0.333... * 2^32 = 1431655765.33 */
		{ 375000000, 2666, 2863311531U },	/* 3gbit: 2666.666... */
		{ 1, PS_PER_SEC, 0 },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(exact); i++) {
		struct sluice_rule_limit limit = make(TB, BYTES, exact[i].rate, 10000);

		ASSERT_EQ(limit.meter.interval, exact[i].interval, "interval", &limit);
		ASSERT_EQ(limit.meter.interval_frac, exact[i].frac, "interval_frac", &limit);
	}
	for (int i = 0; i < 200000; i++) {
		uint64_t r = rng();
		__u64 rate = i % 2 ? 1 + r % SLUICE_MAX_BYTE_RATE : 1 + r % 10000000;
		__u64 burst = SLUICE_MIN_BYTE_BURST +
			      (r >> 24) % (i % 3 ? 10000000 : SLUICE_MAX_BYTE_BURST);
		struct sluice_rule_limit limit;
		unsigned __int128 t, want_t = ((unsigned __int128)PS_PER_SEC << 32) / rate, span;
		unsigned __int128 rem = ((unsigned __int128)PS_PER_SEC << 32) % rate;
		__u64 units;

		if (sluice_rule_limit_init(&limit, TB, BYTES, rate, burst) != SLUICE_RULE_LIMIT_OK)
			continue;
		t = ((unsigned __int128)limit.meter.interval << 32) + limit.meter.interval_frac;
		if (2 * rem >= rate)
			want_t++;
		if (t != want_t)
			fail_msg("rate %" PRIu64 ": T is not 10^12 / rate to the nearest 2^-32 ps",
				 (uint64_t)rate);
		span = (unsigned __int128)burst * t;
		ASSERT_EQ(limit.meter.depth, (uint64_t)((span + 0xffffffffULL) >> 32), "depth",
			  &limit);
		ASSERT_EQ(limit.meter.tau, limit.meter.depth - sluice_meter_cost(&limit, 1), "tau",
			  &limit);
		/* cost(u) = floor(u * T), and nothing past the burst fits. */
		units = 1 + (r >> 7) % burst;
		ASSERT_EQ(sluice_meter_cost(&limit, units),
			  (uint64_t)(((unsigned __int128)units * t) >> 32), "cost", &limit);
		ASSERT_EQ(sluice_meter_cost(&limit, burst) <= limit.meter.depth, 1,
			  "the burst fits the depth", &limit);
		ASSERT_EQ(sluice_meter_cost(&limit, burst + 1), limit.meter.depth + 1,
			  "cost past the burst", &limit);
		ASSERT_EQ(sluice_meter_cost(&limit, UINT64_MAX), limit.meter.depth + 1,
			  "cost of an absurd packet", &limit);
	}
}

/*
 * A window lasts burst / rate (to the nearest ps, then down to a multiple of
 * 2^max(shift, 8)), admits `burst`, and length >> shift is below 2^32 with
 * shift as small as that allows.
 */
static void test_window_params(void **state)
{
	static const struct {
		int unit;
		__u64 rate, burst, length;
		__u32 shift;
	} exact[] = {
		{ PKT, 100, 100, PS_PER_SEC, 8 },		/* 100 per second: 1 s */
		{ PKT, 100, 10, 100 * MS, 5 },			/* 10 per 100 ms */
		{ PKT, 1000, 60000, 60 * PS_PER_SEC, 14 },	/* 60000 a minute */
		{ BYTES, 12500000, 12500000, PS_PER_SEC, 8 },	/* 1 s of 100mbit */
		{ PKT, 1000000, 1, 999936, 0 },			/* 1 us, down to 256 ps */
		/* 333333333333 ps, down to a multiple of 2^8 */
		{ PKT, 3, 1, 333333333248ULL, 7 },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(exact); i++) {
		for (int algo = SLIDING; algo <= FIXED; algo++) {
			struct sluice_rule_limit limit = make(algo, exact[i].unit, exact[i].rate,
							      exact[i].burst);

			ASSERT_EQ(limit.window.length, exact[i].length, "length", &limit);
			ASSERT_EQ(limit.window.limit, exact[i].burst, "limit", &limit);
			ASSERT_EQ(limit.window.shift, exact[i].shift, "shift", &limit);
		}
	}
	for (int i = 0; i < 200000; i++) {
		uint64_t r = rng();
		int unit = i % 2 ? BYTES : PKT;
		__u64 rate = 1 + r % (unit == BYTES ? SLUICE_MAX_BYTE_RATE : SLUICE_MAX_RATE);
		__u64 burst = (unit == BYTES ? SLUICE_MIN_BYTE_BURST : 1) + (r >> 30) % 100000000;
		unsigned __int128 exact_length;
		struct sluice_rule_limit limit;
		__u64 grain, length;
		__u32 shift;

		if (i % 4 == 0)
			rate = 1 + rate % 1000;	/* long windows too */
		exact_length = ((unsigned __int128)burst * PS_PER_SEC * 2 + rate) / (2 * rate);
		switch (sluice_rule_limit_init(&limit, FIXED, unit, rate, burst)) {
		case SLUICE_RULE_LIMIT_OK:
			break;
		case SLUICE_RULE_LIMIT_TOO_DEEP:
			if (exact_length <= SLUICE_MAX_DEPTH - 1)
				fail_msg("rate %" PRIu64 " burst %" PRIu64 " too deep, length %"
					 PRIu64, (uint64_t)rate, (uint64_t)burst,
					 (uint64_t)exact_length);
			continue;
		case SLUICE_RULE_LIMIT_WINDOW_TOO_SHORT:
			if (exact_length >= SLUICE_MIN_WINDOW + 1)
				fail_msg("rate %" PRIu64 " burst %" PRIu64 " too short, length %"
					 PRIu64, (uint64_t)rate, (uint64_t)burst,
					 (uint64_t)exact_length);
			continue;
		default:
			fail_msg("rate %" PRIu64 " burst %" PRIu64 " refused", (uint64_t)rate,
				 (uint64_t)burst);
			continue;
		}
		length = limit.window.length;
		shift = limit.window.shift;
		grain = 1ULL << (shift > 8 ? shift : 8);
		if (length % grain || length >> shift >> 32 || (shift && !(length >> shift >> 31)))
			fail_msg("rate %" PRIu64 " burst %" PRIu64 ": length %" PRIu64
				 " shift %u", (uint64_t)rate, (uint64_t)burst, (uint64_t)length,
				 shift);
		/* Within one grain (plus 1 ps of rounding) of burst / rate. */
		if (length > exact_length + 1 || length + grain + 1 < exact_length)
			fail_msg("rate %" PRIu64 " burst %" PRIu64 ": length %" PRIu64
				 ", burst / rate is %" PRIu64, (uint64_t)rate, (uint64_t)burst,
				 (uint64_t)length, (uint64_t)exact_length);
	}
}

/* ---- token bucket and GCRA ---- */

/*
 * Packets: a fresh bucket passes exactly the burst at one instant, then one
 * packet per interval, not a picosecond earlier; wherever the clock stands,
 * the wrap included.
 */
static void test_meter_packets_instant_and_interval(void **state)
{
	static const struct {
		__u64 rate, burst;
	} configs[] = { { 1, 1 }, { 3, 5 }, { 1000, 100 }, { 12345, 64 }, { 1000000000, 32 } };
	static const __u64 starts[] = { 0, 1000 * HOUR, UINT64_MAX - 3 };

	(void)state;
	for (int algo = TB; algo <= GCRA; algo++) {
		for (size_t i = 0; i < ARRAY_SIZE(configs); i++) {
			struct sluice_rule_limit limit = make(algo, PKT, configs[i].rate,
							      configs[i].burst);
			__u64 t = limit.meter.interval;

			for (size_t s = 0; s < ARRAY_SIZE(starts); s++) {
				__u64 now = starts[s];
				struct sluice_rule_state st = fresh(&limit, now);

				ASSERT_EQ(offer_many(&st, &limit, now, 1500, limit.burst + 10),
					  limit.burst, "passed at one instant", &limit);
				for (int k = 1; k <= 3; k++) {
					ASSERT_EQ(offer(&st, &limit, now + k * t - 1, 64), 0,
						  "1 ps before the interval", &limit);
					ASSERT_EQ(offer_many(&st, &limit, now + k * t, 64, 3), 1,
						  "at the interval", &limit);
				}
			}
		}
	}
}

/*
 * Bytes: a full bucket holds the burst in bytes, whatever sizes make it up;
 * after that a packet passes once the time its bytes cost has gone by; a
 * packet bigger than the burst never passes.
 */
static void test_meter_bytes_instant_and_interval(void **state)
{
	(void)state;
	for (int algo = TB; algo <= GCRA; algo++) {
		/* 10mbit, a burst of ten 1500-byte packets. */
		struct sluice_rule_limit limit = make(algo, BYTES, 1250000, 15000);
		__u64 now = 5 * HOUR, t1500 = 1500 * 800000ULL, t64 = 64 * 800000ULL;
		struct sluice_rule_state st = fresh(&limit, now);

		ASSERT_EQ(sluice_meter_cost(&limit, 1500), t1500, "cost of 1500 bytes", &limit);
		ASSERT_EQ(offer_many(&st, &limit, now, 1500, 10), 10, "ten full frames", &limit);
		ASSERT_EQ(offer(&st, &limit, now, 1), 0, "one byte more", &limit);
		/* Room comes back at 800000 ps a byte: 64 bytes' worth, then 1500 more. */
		ASSERT_EQ(offer(&st, &limit, now + t64 - 1, 64), 0, "64 bytes, 1 ps early", &limit);
		ASSERT_EQ(offer(&st, &limit, now + t64, 64), 1, "64 bytes on time", &limit);
		ASSERT_EQ(offer(&st, &limit, now + t64 + t1500 - 1, 1500), 0, "1500, 1 ps early",
			  &limit);
		ASSERT_EQ(offer(&st, &limit, now + t64 + t1500, 1500), 1, "1500 on time", &limit);
		/* 64-byte packets: 15000 / 64 = 234 of them fill the burst, 24 bytes left. */
		now += HOUR;
		ASSERT_EQ(offer_many(&st, &limit, now, 64, 1000), 234, "64-byte packets", &limit);
		ASSERT_EQ(offer(&st, &limit, now + 40 * 800000ULL - 1, 64), 0,
			  "40 bytes' time short of 1 ps", &limit);
		ASSERT_EQ(offer(&st, &limit, now + 40 * 800000ULL, 64), 1, "40 bytes' time",
			  &limit);
		now += HOUR;
		ASSERT_EQ(offer_many(&st, &limit, now, 1500, 9), 9, "nine full frames", &limit);
		ASSERT_EQ(offer_many(&st, &limit, now, 64, 100), 23, "and 1500 bytes in 64s",
			  &limit);
	}
	/* Bigger than the burst: it costs the whole burst, so from a full bucket only. */
	for (int algo = TB; algo <= GCRA; algo++) {
		struct sluice_rule_limit limit = make(algo, BYTES, 1000000, 1518);
		__u64 now = HOUR;
		struct sluice_rule_state st = fresh(&limit, now);

		ASSERT_EQ(offer(&st, &limit, now, 1519), 1, "a frame past the burst, full bucket",
			  &limit);
		ASSERT_EQ(offer(&st, &limit, now, 64), 0, "then nothing: it took the burst", &limit);
		ASSERT_EQ(offer(&st, &limit, now + HOUR, 9000), 1, "a jumbo frame, full bucket",
			  &limit);
		ASSERT_EQ(offer(&st, &limit, now + HOUR + PS_PER_SEC / 1000, 9000), 0,
			  "another 1 ms later: 1518 bytes take 1.5 ms to come back", &limit);
		ASSERT_EQ(offer(&st, &limit, now + 2 * HOUR, 1518), 1, "a frame of the burst",
			  &limit);
	}
}

/*
 * GCRA in its own words: T = 0.1 s (10 per second), burst 3, so tau = 0.2 s.
 * A cell conforms when TAT <= t + tau; then TAT = max(TAT, t) + T.
 */
static void test_gcra_textbook(void **state)
{
	static const struct {
		__u64 at_ms;
		int conforms;
		__u64 tat_ms;	/* after the cell */
	} cells[] = {
		{ 0, 1, 100 },		/* TAT was t: starts at max(TAT, t) = 0 */
		{ 0, 1, 200 },
		{ 0, 1, 300 },
		{ 0, 0, 300 },		/* TAT 300 > 0 + 200: refused, TAT unchanged */
		{ 99, 0, 300 },		/* 300 > 99 + 200 */
		{ 100, 1, 400 },	/* 300 <= 100 + 200 */
		{ 150, 0, 400 },
		{ 200, 1, 500 },
		{ 1000, 1, 1100 },	/* idle: TAT < t, starts again from t */
		{ 1000, 1, 1200 },
		{ 1000, 1, 1300 },
		{ 1000, 0, 1300 },
	};
	struct sluice_rule_limit limit = make(GCRA, PKT, 10, 3);
	__u64 t0 = 77 * HOUR, tat = t0;

	(void)state;
	ASSERT_EQ(limit.meter.interval, 100 * MS, "T", &limit);
	ASSERT_EQ(limit.meter.tau, 200 * MS, "tau", &limit);
	ASSERT_EQ(limit.meter.depth, 300 * MS, "tau + T", &limit);
	for (size_t i = 0; i < ARRAY_SIZE(cells); i++) {
		__u64 next, now = t0 + cells[i].at_ms * MS;
		int got = sluice_gcra_take(tat, now, 1, &limit, &next);
		char what[64];

		snprintf(what, sizeof(what), "cell %zu at %" PRIu64 " ms conforms", i,
			 (uint64_t)cells[i].at_ms);
		ASSERT_EQ(got, cells[i].conforms, what, &limit);
		/* A refusal may store max(TAT, t) for TAT; the TAT it means is the same. */
		tat = next;
		snprintf(what, sizeof(what), "TAT after cell %zu", i);
		ASSERT_EQ(tat - t0, cells[i].tat_ms * MS, what, &limit);
	}
}

/*
 * GCRA and the token bucket with equal parameters admit exactly the same
 * packets and keep exactly the same state (TAT = full_at), over random
 * arrivals in packets and in bytes, idles, floods, limits lowered and raised
 * mid-run, across the wrap.
 */
static void test_gcra_equals_token_bucket(void **state)
{
	static const struct {
		int unit;
		__u64 rate, burst;
	} limits[] = {
		{ PKT, 1, 1 }, { PKT, 10, 3 }, { PKT, 1000, 100 }, { PKT, 999500249, 7 },
		{ BYTES, 1250000, 15000 }, { BYTES, 375000000, 64000 }, { BYTES, 3, 2000 },
		{ BYTES, SLUICE_MAX_BYTE_RATE, SLUICE_MIN_BYTE_BURST },
	};
	uint64_t passes = 0, refusals = 0;

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(limits); i++) {
		for (int lap = 0; lap < 3; lap++) {
			struct sluice_rule_limit tb = make(TB, limits[i].unit, limits[i].rate,
							   limits[i].burst);
			struct sluice_rule_limit gcra = make(GCRA, limits[i].unit, limits[i].rate,
							     limits[i].burst);
			__u64 now = lap == 0 ? 0 : UINT64_MAX - 50 * tb.meter.depth;
			__u64 full_at = now, tat = now;

			for (int k = 0; k < 100000; k++) {
				uint64_t r = rng();
				__u64 bytes = mixed_size(), next_tb, next_gcra;
				int a = sluice_token_bucket_take(full_at, now, bytes, &tb, &next_tb);
				int b = sluice_gcra_take(tat, now, bytes, &gcra, &next_gcra);

				if (a != b || next_tb != next_gcra)
					fail_msg("limit %zu step %d: token bucket %d (state %" PRIu64
						 "), gcra %d (state %" PRIu64 ")", i, k, a,
						 (uint64_t)next_tb, b, (uint64_t)next_gcra);
				passes += a;
				refusals += !a;
				full_at = next_tb;
				tat = next_gcra;
				/* Now and then, change both limits alike: lower, raise. */
				if (k % 20000 == 19999) {
					__u64 burst = limits[i].unit == BYTES ?
							      SLUICE_MIN_BYTE_BURST + r % 20000 :
							      1 + r % 50;

					tb = make(TB, limits[i].unit, limits[i].rate, burst);
					gcra = make(GCRA, limits[i].unit, limits[i].rate, burst);
				}
				switch (k / 5000 % 4) {
				case 0:	/* a flood */
					now += r % 4 ? (r >> 8) % (tb.meter.interval * 64 + 1) : 0;
					break;
				case 1:	/* around the rate */
					now += (r >> 8) % (2 * sluice_meter_cost(&tb, 800) + 1);
					break;
				case 2:	/* idles, some past the depth */
					now += (r >> 8) % (2 * tb.meter.depth + 1);
					break;
				default:	/* another CPU's clock: a little behind */
					now += (r >> 8) % (tb.meter.interval * 1000 + 1);
					if (r % 8 == 0)
						now -= (r >> 16) % (tb.meter.interval + 1);
					break;
				}
			}
		}
	}
	if (passes < 1000 || refusals < 1000)
		fail_msg("%" PRIu64 " passes and %" PRIu64 " refusals: arrivals too tame", passes,
			 refusals);
}

/*
 * What a refusal stores (sluice_rule_take()): a bucket overdrawn by a
 * lowered limit, owing more than twice its new depth, is set to empty as of
 * now; one owing a little more than its depth because this CPU's clock is
 * behind another's is left alone, or the skew would become free tokens.
 */
static void test_meter_refusal_and_clock_skew(void **state)
{
	(void)state;
	for (int algo = TB; algo <= GCRA; algo++) {
		struct sluice_rule_limit limit = make(algo, PKT, 1000, 10);	/* depth 10 ms */
		__u64 depth = limit.meter.depth, now = 9 * HOUR;
		struct sluice_rule_state st;

		/* Another CPU drained it at now; this one read its clock a jiffy before. */
		st.full_at = now + depth;
		ASSERT_EQ(offer(&st, &limit, now - 4 * MS, 64), 0, "refused", &limit);
		ASSERT_EQ(st.full_at, now + depth, "a skewed refusal stores nothing", &limit);
		ASSERT_EQ(offer(&st, &limit, now, 64), 0, "no token from the skew", &limit);
		ASSERT_EQ(offer(&st, &limit, now + limit.meter.interval, 64), 1,
			  "one a whole interval later", &limit);

		/* A limit lowered from a burst of 10000 (10 s owed): empty as of now. */
		st.full_at = now + 1000 * depth;
		ASSERT_EQ(offer(&st, &limit, now, 64), 0, "overdrawn: refused", &limit);
		ASSERT_EQ(st.full_at, now + depth, "set to empty as of now", &limit);
		ASSERT_EQ(offer(&st, &limit, now + limit.meter.interval, 64), 1,
			  "refills at the new rate", &limit);

		/* A clock lagging by up to a second stores nothing... */
		st.full_at = now + depth + SLUICE_MAX_CLOCK_LAG;
		ASSERT_EQ(offer(&st, &limit, now, 64), 0, "lagging a second: refused", &limit);
		ASSERT_EQ(st.full_at, now + depth + SLUICE_MAX_CLOCK_LAG, "left alone", &limit);
		/* ...so a limit lowered by less than that is waited out. */
		ASSERT_EQ(offer(&st, &limit, now + SLUICE_MAX_CLOCK_LAG + limit.meter.interval - 1,
				64), 0, "a second and an interval later, 1 ps short", &limit);
		ASSERT_EQ(offer(&st, &limit, now + SLUICE_MAX_CLOCK_LAG + limit.meter.interval, 64),
			  1, "a second and an interval later", &limit);
		ASSERT_EQ(sluice_meter_overdrawn(now + depth + SLUICE_MAX_CLOCK_LAG + 1, now,
						 depth), 1, "just over depth + lag", &limit);
		ASSERT_EQ(sluice_meter_overdrawn(now - 1, now, depth), 0, "full", &limit);
	}
}

/* ---- windows ---- */

/*
 * Fixed window, 100 per second: exactly 100 at one instant, none more until
 * the window ends, 100 again from exactly then; and the documented boundary
 * burst, 100 in the last picosecond of one window and 100 in the first of the
 * next: 2x the limit within 1 ps.
 */
static void test_fixed_window_instant_window_and_edge(void **state)
{
	/* Not 0: a zero start word is a window never used (test_window_zero_state). */
	static const __u64 starts[] = { 256, 1000 * HOUR, UINT64_MAX - 5 * PS_PER_SEC / 2 };

	(void)state;
	for (size_t s = 0; s < ARRAY_SIZE(starts); s++) {
		struct sluice_rule_limit limit = make(FIXED, PKT, 100, 100);
		__u64 w = limit.window.length, t0 = sluice_window_begin(starts[s]);
		struct sluice_rule_state st = fresh(&limit, t0);

		ASSERT_EQ(offer_many(&st, &limit, t0, 64, 300), 100, "at one instant", &limit);
		ASSERT_EQ(offer_many(&st, &limit, t0 + w / 2, 64, 10), 0, "mid-window", &limit);
		ASSERT_EQ(offer_many(&st, &limit, t0 + w - 1, 64, 10), 0, "1 ps before its end",
			  &limit);
		ASSERT_EQ(offer_many(&st, &limit, t0 + w, 64, 300), 100, "the next window",
			  &limit);
		/* The boundary burst: idle a window, then 100 at the end, 100 at the start. */
		ASSERT_EQ(offer_many(&st, &limit, t0 + 3 * w - 1, 64, 300), 100,
			  "last ps of a window", &limit);
		ASSERT_EQ(offer_many(&st, &limit, t0 + 3 * w, 64, 300), 100,
			  "first ps of the next: 2x the limit within 1 ps", &limit);
	}
}

/* A zero state, a fresh map value, is a window never used: it begins at the first packet. */
static void test_window_zero_state(void **state)
{
	static const __u64 firsts[] = { 20 * PS_PER_SEC, 1000 * HOUR, SLUICE_TIME_HALF_RANGE + 7,
					UINT64_MAX - PS_PER_SEC / 2 };

	(void)state;
	for (size_t f = 0; f < ARRAY_SIZE(firsts); f++) {
		struct sluice_rule_limit limit = make(FIXED, PKT, 1, 60);	/* 60 per minute */
		__u64 w = limit.window.length, t1 = firsts[f];
		struct sluice_rule_state st = {};

		ASSERT_EQ(offer_many(&st, &limit, t1, 64, 100), 60, "the first packets", &limit);
		ASSERT_EQ(offer_many(&st, &limit, t1 + w / 2, 64, 10), 0,
			  "half a window after the first packet", &limit);
		ASSERT_EQ(offer_many(&st, &limit, t1 + w - PS_PER_SEC, 64, 10), 0,
			  "a second before the first window ends", &limit);
		ASSERT_EQ(offer_many(&st, &limit, t1 + w, 64, 100), 60,
			  "a window after the first packet", &limit);
	}
}

/*
 * Windows follow one another from the first packet: an idle spell under a
 * window keeps the grid; one of a whole window or more starts the next window
 * at the packet that ends it.
 */
static void test_window_alignment(void **state)
{
	(void)state;
	for (int algo = SLIDING; algo <= FIXED; algo++) {
		struct sluice_rule_limit limit = make(algo, PKT, 10, 10);
		__u64 w = limit.window.length, t0 = 7 * HOUR;
		struct sluice_rule_state st = fresh(&limit, t0);
		__u64 t1;

		ASSERT_EQ(offer_many(&st, &limit, t0, 64, 5), 5, "half the limit", &limit);
		/* 1.5 windows later: in the window [t0 + w, t0 + 2w). */
		ASSERT_EQ(st.window.start & SLUICE_WINDOW_TIME, t0, "first window", &limit);
		offer(&st, &limit, t0 + w + w / 2, 64);
		ASSERT_EQ(st.window.start & SLUICE_WINDOW_TIME, t0 + w, "kept on the grid", &limit);
		ASSERT_EQ(!!(st.window.start & SLUICE_WINDOW_FOLLOWS), 1, "follows", &limit);
		/* 2.5 windows idle: a new window begins at the packet. */
		t1 = t0 + 4 * w + w / 3 + 8;
		offer(&st, &limit, t1, 64);
		ASSERT_EQ(st.window.start & SLUICE_WINDOW_TIME, sluice_window_begin(t1),
			  "new window at the packet", &limit);
		ASSERT_EQ(!!(st.window.start & SLUICE_WINDOW_FOLLOWS), 0, "does not follow",
			  &limit);
		/* Its previous count is nothing, whatever the old slots hold. */
		ASSERT_EQ(offer_many(&st, &limit, t1, 64, 20), 9, "a full window after idling",
			  &limit);
		ASSERT_EQ(offer_many(&st, &limit, sluice_window_begin(t1) + w - 1, 64, 5), 0,
			  "until it ends", &limit);
	}
}

/*
 * Sliding window, 10 per second, worked by hand: the previous window's 10
 * weigh 10 * (W - elapsed) / W, rounded down, against the current count.
 */
static void test_sliding_window_golden(void **state)
{
	struct sluice_rule_limit limit = make(SLIDING, PKT, 10, 10);
	__u64 t0 = 3 * HOUR;
	struct sluice_rule_state st = fresh(&limit, t0);

	(void)state;
	ASSERT_EQ(offer_many(&st, &limit, t0, 64, 20), 10, "an empty previous window", &limit);
	ASSERT_EQ(offer_many(&st, &limit, t0 + 999 * MS, 64, 5), 0, "same window", &limit);
	ASSERT_EQ(offer_many(&st, &limit, t0 + 1000 * MS, 64, 5), 0, "prev 10 weighs 10",
		  &limit);
	/* 10 * 0.901 = 9.01, rounded down 9: room for 1. */
	ASSERT_EQ(offer_many(&st, &limit, t0 + 1099 * MS, 64, 5), 1, "weighs 9.01 -> 9", &limit);
	/* 10 * 0.9 = 9 exactly, current 1: nothing. */
	ASSERT_EQ(offer_many(&st, &limit, t0 + 1100 * MS, 64, 5), 0, "weighs 9, current 1",
		  &limit);
	/* 10 * 0.5 = 5, current 1: room for 4. */
	ASSERT_EQ(offer_many(&st, &limit, t0 + 1500 * MS, 64, 10), 4, "weighs 5, current 1",
		  &limit);
	/* 10 * 0.1 = 1, current 5: room for 4. */
	ASSERT_EQ(offer_many(&st, &limit, t0 + 1900 * MS, 64, 10), 4, "weighs 1, current 5",
		  &limit);
	/* 10 * 0.001 = 0.01 -> 0, current 9: room for 1. */
	ASSERT_EQ(offer_many(&st, &limit, t0 + 1999 * MS, 64, 10), 1, "weighs 0, current 9",
		  &limit);
	/* The next window: prev 10 weighs 10. */
	ASSERT_EQ(offer_many(&st, &limit, t0 + 2000 * MS, 64, 10), 0, "prev 10 again", &limit);
	/* Half way: 5 of them. */
	ASSERT_EQ(offer_many(&st, &limit, t0 + 2500 * MS, 64, 10), 5, "half way", &limit);
	/* An idle window: prev 5 in the window after, weighing 5 * 0.6 = 3 at 400 ms. */
	ASSERT_EQ(offer_many(&st, &limit, t0 + 3400 * MS, 64, 10), 7, "prev 5 weighs 3", &limit);
	/* Two windows idle: prev is the empty window, the limit is all there. */
	ASSERT_EQ(offer_many(&st, &limit, t0 + 5000 * MS, 64, 20), 10, "after an idle window",
		  &limit);
}

/*
 * What the sliding window does at an edge, against the fixed window: after a
 * burst of the limit at the very end of a window, the fixed window lets the
 * limit through again a picosecond later; the sliding window lets nothing
 * through at once and the limit again only spread over the next window. So
 * a span of one window-length can still hold nearly 2x the limit (the
 * documented bound: under limit * (1 + d / W) + 1 in a span of d), but no
 * short span can.
 */
static void test_sliding_window_edge(void **state)
{
	struct sluice_rule_limit sliding = make(SLIDING, PKT, 100, 100);
	__u64 w = sliding.window.length, t0 = 11 * HOUR, t;
	struct sluice_rule_state st = fresh(&sliding, t0);
	uint64_t in_span = 0, early = 0;

	(void)state;
	ASSERT_EQ(offer_many(&st, &sliding, t0 + w - 1, 64, 300), 100, "end of a window",
		  &sliding);
	ASSERT_EQ(offer_many(&st, &sliding, t0 + w, 64, 300), 0, "1 ps later", &sliding);
	/* A flood through the next window, one offer every ms. */
	for (t = t0 + w; t < t0 + 2 * w - 1; t += MS) {
		uint64_t passed = offer(&st, &sliding, t, 64);

		in_span += passed;
		if (t < t0 + w + w / 10)
			early += passed;
	}
	/* 100 at the edge, then 100 * elapsed / W through the window: 100 by its end. */
	if (in_span < 98 || in_span > 100)
		fail_msg("sliding window passed %" PRIu64 " in the window after the burst",
			 in_span);
	/* In the first 10% of that window: 10% of the limit, give or take one. */
	if (early > 11)
		fail_msg("sliding window passed %" PRIu64 " within W/10 of a full burst", early);
}

/* ---- long runs at 3x the limit ---- */

struct long_run {
	int unit;
	__u64 rate, burst, seconds;
};

/*
 * Offers at 3x the rate for `seconds` + 1 and counts what passed from second
 * 1 on, after the first burst or window: within 1% of rate * seconds. Offer k
 * comes at exactly k / (3 * rate) s (packets), or after its bytes' share of
 * 3x the byte rate (bytes, sizes 64..1500).
 */
static void run_at_three_times(int algo, const struct long_run *run)
{
	struct sluice_rule_limit limit = make(algo, run->unit, run->rate, run->burst);
	/* Cross the wrap half way. */
	__u64 t0 = UINT64_MAX - run->seconds * PS_PER_SEC / 2, now = t0;
	struct sluice_rule_state st = fresh(&limit, t0);
	unsigned __int128 offered = 0;	/* units offered so far, times 10^12 */
	uint64_t counted = 0, want = run->rate * run->seconds, off;

	for (;;) {
		__u64 bytes = run->unit == BYTES ? mixed_size() : 64;
		__u64 units = sluice_packet_units(run->unit, bytes);
		__u64 at = (__u64)(offered / (3 * run->rate));

		if (at >= (run->seconds + 1) * PS_PER_SEC)
			break;
		now = t0 + at;
		if (offer(&st, &limit, now, bytes) && at >= PS_PER_SEC)
			counted += units;
		offered += (unsigned __int128)units * PS_PER_SEC;
	}
	off = counted > want ? counted - want : want - counted;
	if (off * 100 > want)
		fail_msg("%s, %s, rate %" PRIu64 " burst %" PRIu64 ": %" PRIu64 " in %" PRIu64
			 " s at 3x, want %" PRIu64 " within 1%%", algo_names[algo],
			 run->unit ? "bytes" : "packets", (uint64_t)run->rate,
			 (uint64_t)run->burst, counted, (uint64_t)run->seconds, want);
}

static void test_long_run_packets(void **state)
{
	static const struct long_run runs[] = {
		{ PKT, 100, 100, 100 }, { PKT, 1000, 1000, 10 }, { PKT, 1000, 50, 10 },
		{ PKT, 12345, 12345, 10 }, { PKT, 1000000, 1000000, 3 }, { PKT, 7, 7, 300 },
	};

	(void)state;
	for (int algo = TB; algo <= FIXED; algo++)
		for (size_t i = 0; i < ARRAY_SIZE(runs); i++)
			run_at_three_times(algo, &runs[i]);
}

static void test_long_run_bytes(void **state)
{
	static const struct long_run runs[] = {
		{ BYTES, 1250000, 1250000, 10 },	/* 10mbit, 1 s of burst */
		{ BYTES, 12500000, 12500000, 10 },	/* 100mbit */
		{ BYTES, 375000000, 37500000, 3 },	/* 3gbit, 100 ms of burst */
		{ BYTES, 125000, 150000, 100 },		/* 1mbit, 1.2 s of burst */
	};

	(void)state;
	for (int algo = TB; algo <= FIXED; algo++)
		for (size_t i = 0; i < ARRAY_SIZE(runs); i++)
			run_at_three_times(algo, &runs[i]);
}

/* ---- properties ---- */

/* Arrivals that mix floods, trickles and idles, some long. */
static __u64 next_gap(int k, __u64 interval, __u64 length)
{
	uint64_t r = rng();

	switch (k / 3000 % 4) {
	case 0:
		return r % 4 ? (r >> 8) % (interval / 4 + 1) : 0;
	case 1:
		return (r >> 8) % (2 * interval + 1);
	case 2:
		return (r >> 8) % (interval / 2 + 1);
	default:
		return r % 8 ? (r >> 8) % (length / 3 + 1) : (r >> 8) % (3 * length + 1);
	}
}

/*
 * Sliding window, random arrivals: every window counts at most its limit,
 * and every span [s, t] no longer than a window (from one admitted packet to
 * another) admits less than limit * (1 + (t - s) / W) + 1 unit.
 */
static void test_sliding_window_span_property(void **state)
{
	static const struct {
		int unit;
		__u64 rate, burst;
	} limits[] = {
		{ PKT, 10, 10 }, { PKT, 100, 37 }, { PKT, 1000000, 50 },
		{ BYTES, 1250000, 20000 }, { BYTES, 375000000, 30000 },
	};
	enum { HISTORY = 4096 };
	static __u64 at[HISTORY], cost[HISTORY];

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(limits); i++) {
		struct sluice_rule_limit limit = make(SLIDING, limits[i].unit, limits[i].rate,
						      limits[i].burst);
		__u64 w = limit.window.length, l = limit.window.limit;
		__u64 interval = w / limit.burst;	/* a unit's share of the window */
		unsigned __int128 t = UINT64_MAX - 3000 * w;	/* absolute, 128-bit */
		struct sluice_rule_state st = fresh(&limit, (__u64)t);
		size_t n = 0, first = 0;
		uint64_t passes = 0, offers = 0, widest = 0;

		if (limits[i].unit == BYTES)
			interval *= 800;	/* an average packet's */
		for (int k = 0; k < 60000; k++) {
			__u64 bytes = limits[i].unit == BYTES ? mixed_size() : 64;
			__u64 units = sluice_packet_units(limits[i].unit, bytes);
			unsigned __int128 sum = 0;

			offers++;
			if (offer(&st, &limit, (__u64)t, bytes)) {
				__u32 slot = sluice_window_slot(st.window.start);

				passes++;
				if (sluice_window_count(st.window.count[slot]) > l)
					fail_msg("limit %zu: a window counted %" PRIu64 " > %" PRIu64,
						 i, (uint64_t)sluice_window_count(
							    st.window.count[slot]),
						 (uint64_t)l);
				at[n % HISTORY] = (__u64)t;
				cost[n % HISTORY] = units;
				n++;
				/* Spans from each earlier pass within W to this one. */
				while (first < n && ((__u64)t - at[first % HISTORY]) > w)
					first++;
				if (n - first > HISTORY)
					fail_msg("limit %zu: more than %d passes within a window",
						 i, HISTORY);
				for (size_t j = n; j-- > first;) {
					__u64 d = (__u64)t - at[j % HISTORY];

					sum += cost[j % HISTORY];
					/* sum < l * (1 + d / w) + 1, times w */
					if (sum * w >= (unsigned __int128)l * (w + d) + w)
						fail_msg("limit %zu: %" PRIu64 " units within %"
							 PRIu64 " ps, window %" PRIu64 " of %" PRIu64,
							 i, (uint64_t)sum, (uint64_t)d,
							 (uint64_t)w, (uint64_t)l);
					if (d * 2 >= w && sum > widest)
						widest = (uint64_t)sum;
				}
			}
			t += next_gap(k, interval, w);
		}
		if (passes == 0 || passes == offers)
			fail_msg("limit %zu: %" PRIu64 " of %" PRIu64 " passed: not a test", i,
				 passes, offers);
		if ((t >> 64) == 0)
			fail_msg("limit %zu: the run did not cross the wrap", i);
		/* The bound is worth checking: spans of half a window or more came near it. */
		if (widest * 10 < 11 * (uint64_t)l)
			fail_msg("limit %zu: the widest span held %" PRIu64 " of %" PRIu64
				 ": the arrivals never pressed the edge", i, widest, (uint64_t)l);
	}
}

/*
 * Fixed window, random arrivals: every window passes at most its limit, and
 * any span of one window-length at most twice it (the boundary burst).
 */
static void test_fixed_window_property(void **state)
{
	static const struct {
		int unit;
		__u64 rate, burst;
	} limits[] = { { PKT, 10, 10 }, { PKT, 1000000, 50 }, { BYTES, 1250000, 20000 } };

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(limits); i++) {
		struct sluice_rule_limit limit = make(FIXED, limits[i].unit, limits[i].rate,
						      limits[i].burst);
		__u64 w = limit.window.length, l = limit.window.limit;
		__u64 interval = w / limit.burst * (limits[i].unit == BYTES ? 800 : 1);
		__u64 t = UINT64_MAX - 3000 * w, begin = 0, in_window = 0;
		struct sluice_rule_state st = fresh(&limit, t);
		uint64_t passes = 0;

		for (int k = 0; k < 60000; k++) {
			__u64 bytes = limits[i].unit == BYTES ? mixed_size() : 64;

			if (offer(&st, &limit, t, bytes)) {
				__u64 b = st.window.start & SLUICE_WINDOW_TIME;

				if (b != begin || passes == 0) {
					begin = b;
					in_window = 0;
				}
				in_window += sluice_packet_units(limits[i].unit, bytes);
				if (in_window > l)
					fail_msg("limit %zu: a window passed %" PRIu64, i,
						 (uint64_t)in_window);
				if (t - b >= w)
					fail_msg("limit %zu: passed outside its window", i);
				passes++;
			}
			t += next_gap(k, interval, w);
		}
		if (passes < 1000)
			fail_msg("limit %zu: %" PRIu64 " passes", i, passes);
	}
}

/* ---- wrap and clocks ---- */

/*
 * Windows across the wrap of sluice time, a start a little ahead of `now`
 * (another CPU's clock), and a state idle past half the range (stale).
 */
static void test_window_wrap_and_clocks(void **state)
{
	(void)state;
	for (int algo = SLIDING; algo <= FIXED; algo++) {
		struct sluice_rule_limit limit = make(algo, PKT, 100, 100);
		__u64 w = limit.window.length, t0 = sluice_window_begin(UINT64_MAX - w / 2);
		struct sluice_rule_state st = fresh(&limit, t0);
		__u64 start;

		/* A window that straddles the wrap: full, and full until it ends. */
		ASSERT_EQ(offer_many(&st, &limit, t0, 64, 150), 100, "before the wrap", &limit);
		ASSERT_EQ(offer_many(&st, &limit, t0 + w - 1, 64, 5), 0,
			  "after the wrap, same window", &limit);
		assert_true(t0 + w - 1 < t0);
		/* Half way through the next window, past zero: prev 100 weighs 50. */
		ASSERT_EQ(offer_many(&st, &limit, t0 + w + w / 2, 64, 150),
			  algo == FIXED ? 100 : 50, "the window after, past the wrap", &limit);

		/* Another CPU rolled to a start 5 ps ahead of this one's clock. */
		start = st.window.start;
		ASSERT_EQ(sluice_window_elapsed(start, (start & SLUICE_WINDOW_TIME) - 5), 0,
			  "elapsed of a start ahead", &limit);
		offer(&st, &limit, (start & SLUICE_WINDOW_TIME) - 5, 64);
		ASSERT_EQ(st.window.start, start, "no roll for a clock a little behind", &limit);
		offer(&st, &limit, (start & SLUICE_WINDOW_TIME) - SLUICE_MAX_CLOCK_LAG, 64);
		ASSERT_EQ(st.window.start, start, "nor for one a second behind", &limit);

		/* Idle past half the range: the state reads as far ahead, stale. */
		t0 = st.window.start & SLUICE_WINDOW_TIME;
		{
			__u64 now = t0 + SLUICE_TIME_HALF_RANGE + 3 * w;

			ASSERT_EQ(offer_many(&st, &limit, now, 64, 150), 100,
				  "a state idle over 2^63 ps", &limit);
			ASSERT_EQ(st.window.start & SLUICE_WINDOW_TIME, sluice_window_begin(now),
				  "begins again at the packet", &limit);
		}
	}
}

/* The window words, one by one. */
static void test_window_words(void **state)
{
	const __u64 t = 256 * 4000, w = 256 * 10, tag = 1ULL << SLUICE_WINDOW_TAG_SHIFT;
	__u64 next = 0, start = sluice_window_begin(t + 255);

	(void)state;
	assert_int_equal(start, t);
	assert_int_equal(sluice_window_slot(start), 0);
	/* A zeroed count[] is a fresh count of generation 0, and no previous. */
	assert_false(sluice_window_stale(start, 0));
	assert_true(sluice_window_current(start, 0));
	assert_int_equal(sluice_window_previous(start, 0), 0);
	assert_false(sluice_window_roll(start, t + w - 1, w, &next));
	/* One length in: the next window follows, generation 1. */
	assert_true(sluice_window_roll(start, t + w, w, &next));
	assert_int_equal(next, (t + w) | SLUICE_WINDOW_FOLLOWS | 1);
	assert_int_equal(sluice_window_slot(next), 1);
	assert_int_equal(sluice_window_elapsed(next, t + w + 7), 7);
	/* Its slot holds generation 1's count only after a reset. */
	assert_true(sluice_window_stale(next, 0));
	assert_false(sluice_window_current(next, 0));
	assert_int_equal(sluice_window_fresh(next), tag);
	assert_false(sluice_window_stale(next, tag | 5));
	assert_true(sluice_window_current(next, tag | 5));
	assert_int_equal(sluice_window_count(tag | 5), 5);
	/* Its previous is generation 0's count: slot 0 tagged 0. */
	assert_int_equal(sluice_window_previous(next, 42), 42);
	assert_int_equal(sluice_window_previous(next, 2 * tag | 42), 0);
	/* Just under two lengths: still follows. At two: a new window, at the packet. */
	assert_true(sluice_window_roll(start, t + 2 * w - 1, w, &next));
	assert_int_equal(next, (t + w) | SLUICE_WINDOW_FOLLOWS | 1);
	assert_true(sluice_window_roll(start, t + 2 * w, w, &next));
	assert_int_equal(next, (t + 2 * w) | 1);
	assert_true(sluice_window_roll(start, t + 2 * w + 300, w, &next));
	assert_int_equal(next, (t + 2 * w + 256) | 1);
	assert_int_equal(sluice_window_previous(next, 42), 0);
	/* Generations go round in 128: 127 is followed by 0, whose previous is 127. */
	start = t | 127;
	assert_true(sluice_window_roll(start, t + w, w, &next));
	assert_int_equal(next, (t + w) | SLUICE_WINDOW_FOLLOWS | 0);
	assert_int_equal(sluice_window_previous(next, 127 * tag | 9), 9);
	assert_true(sluice_window_stale(next, 126 * tag | 9));
	/* Older tags, up to 63 back, are stale; newer ones, up to 64 on, are not. */
	start = t | 10;
	assert_true(sluice_window_stale(start, 8 * tag));
	assert_false(sluice_window_current(start, 8 * tag));
	assert_false(sluice_window_stale(start, 12 * tag));
	assert_false(sluice_window_current(start, 12 * tag));
	assert_true(sluice_window_stale(start, (10 - 62 + 128) * tag));
	assert_false(sluice_window_stale(start, (10 + 64) * tag));
	assert_false(sluice_window_stale(start, 10 * tag | 3));
	assert_true(sluice_window_current(start, 10 * tag | 3));
	/* A start up to a second ahead is a clock behind; more is stale. */
	assert_false(sluice_window_roll(start, t - 1, w, &next));
	assert_false(sluice_window_roll(start, t - SLUICE_MAX_CLOCK_LAG, w, &next));
	assert_true(sluice_window_roll(start, t - SLUICE_MAX_CLOCK_LAG - 1, w, &next));
	assert_int_equal(next, ((t - SLUICE_MAX_CLOCK_LAG - 1) & SLUICE_WINDOW_TIME) | 11);
	assert_int_equal(sluice_window_elapsed(start, t - 5), 0);
}

/*
 * The protocol with a CPU that read start long ago: the count it finds is
 * tagged two windows ahead of what it read, and it must not take that count
 * for a stale one and wipe it. Staged by hand: the state is two windows on,
 * with 7 counted; the CPU loads the old start word, and the real one is put
 * back (by sim_yield(), at the next shared access) before it loads a count.
 */
static struct {
	struct sluice_window_state *state;
	__u64 start;
	int accesses;
} staged;

static void test_window_cpu_behind(void **state)
{
	struct sluice_rule_limit limit = make(SLIDING, PKT, 100, 10);	/* 10 per 100 ms */
	__u64 w = limit.window.length, t = 5 * HOUR;
	struct sluice_rule_state st;

	(void)state;
	sluice_rule_state_init(&st, &limit, t);
	/* Generation 1 full; in generation 2, its 10 weigh 10. */
	assert_int_equal(offer_many(&st, &limit, t + w, 64, 20), 10);
	assert_int_equal(offer_many(&st, &limit, t + 2 * w, 64, 5), 0);
	assert_true(sluice_window_current(st.window.start, st.window.count[0]));
	/*
	 * A CPU whose clock read t + 10 loads the start of generation 0. Read
	 * with that start, count[0] (generation 2's 0) would be its current
	 * count and nothing its previous: it would pass. Read again, the start
	 * of generation 2 puts it at elapsed 0 with generation 1's 10 before it.
	 */
	staged.state = &st.window;
	staged.start = st.window.start;
	staged.accesses = 0;
	st.window.start = sluice_window_begin(t);
	assert_false(sluice_window_current(st.window.start, st.window.count[0]));
	assert_false(sluice_window_stale(st.window.start, st.window.count[0]));
	assert_int_equal(sluice_rule_take(&st, &limit, t + 10, 64), SLUICE_TAKE_REFUSED);
	assert_null(staged.state);	/* the staging ran */
	assert_int_equal(st.window.start, staged.start);
	assert_int_equal(st.window.count[0], sluice_window_fresh(staged.start));
}

/* The admission rules at their edges, and operands at their bounds. */
static void test_admit_bounds(void **state)
{
	/* The largest limit, 4e9 bytes, over a window of 4e6 s: length >> 30. */
	struct sluice_rule_limit limit = make(SLIDING, BYTES, 1000, SLUICE_MAX_BYTE_BURST);
	const struct sluice_window_params *w = &limit.window;
	__u64 l = w->limit, len = w->length;

	(void)state;
	assert_true(w->length >> w->shift < (1ULL << 32));
	assert_true(w->length >> w->shift >= (1ULL << 31));
	/* Fixed: exactly the limit, not one more; costs past it never. */
	assert_true(sluice_fixed_window_admit(l - 10, 10, w));
	assert_false(sluice_fixed_window_admit(l - 10, 11, w));
	assert_false(sluice_fixed_window_admit(0, l + 1, w));
	assert_false(sluice_fixed_window_admit(UINT64_MAX, 1, w));
	assert_false(sluice_fixed_window_admit(1, UINT64_MAX, w));
	/* Sliding with the largest operands: no overflow, the right answers. */
	assert_true(sluice_sliding_window_admit(0, l - 1, 0, 1, w));
	assert_false(sluice_sliding_window_admit(1, l - 1, 0, 1, w));
	assert_false(sluice_sliding_window_admit(l, 0, 0, 1, w));
	assert_false(sluice_sliding_window_admit(UINT64_MAX, 0, 0, 1, w));
	assert_true(sluice_sliding_window_admit(UINT64_MAX, 0, len - 1, 1, w));
	/* One coarse tick left: l / W' = 1.07 units of weight, rounded down 1. */
	assert_true(sluice_sliding_window_admit(l, l - 2, len - 1, 1, w));
	assert_false(sluice_sliding_window_admit(l, l - 1, len - 1, 1, w));
	/* Half way: prev l weighs l / 2. */
	assert_true(sluice_sliding_window_admit(l, l / 2 - 1, len / 2, 1, w));
	assert_false(sluice_sliding_window_admit(l, l / 2, len / 2, 1, w));
	/* An elapsed past the length (never given) weighs nothing rather than overflowing. */
	assert_true(sluice_sliding_window_admit(l, 0, UINT64_MAX, 1, w));
	/* A cost of the whole limit fits an empty window, one more never. */
	assert_true(sluice_sliding_window_admit(0, 0, 0, l, w));
	assert_false(sluice_sliding_window_admit(0, 0, len - 1, l + 1, w));
}

/* ---- simulated CPUs ---- */

/*
 * N CPUs run sluice_rule_take() on one state. Every access to the shared
 * words yields (SLUICE_SHARED_ACCESS), and a seeded scheduler picks which
 * CPU runs next and moves the clock on a little, so every interleaving of
 * loads, CASes and adds the protocol allows can come up; now and then a CPU
 * is interrupted for up to three windows between two accesses. Each CPU
 * reads the clock when its packet starts, so a CPU delayed mid-packet
 * decides with an old clock, as a real one can. Checked at every step: no window's count is
 * ever over its limit + (N - 1) costs; and at the end: no packet gave up,
 * buckets passed at most depth + elapsed, windows cut by clock readings at
 * most limit + 2 (N - 1) costs, and the races came up at all (some count went
 * over the limit), so the bounds were tested.
 */
enum { SIM_MAX_CPUS = 4, SIM_STACK = 128 * 1024, SIM_PACKETS = 6000 };

struct sim_cpu {
	ucontext_t context;
	int index, done;
	uint64_t stalled_until;	/* a step: interrupted until then */
	char *stack;
};

struct sim_admit {
	__u64 at, cost;		/* at: the packet's clock reading, less the run's start */
};

static struct {
	ucontext_t main;
	struct sim_cpu cpus[SIM_MAX_CPUS], *current;
	struct sluice_rule_state state;
	struct sluice_rule_limit limit;
	__u64 t0, clock, step_ps;
	uint64_t steps, stalls;
	int unit;
	uint64_t gave_up, offers;
	struct sim_admit *admits;
	size_t admitted;
	/* The scheduler's own, here since swapcontext() returns twice. */
	uint64_t worst;
	int running;
	__u64 last_start, *begin_log;
	size_t begin_log_len, begin_log_cap;
} sim;

static void sim_yield(void)
{
	struct sim_cpu *cpu = sim.current;

	if (staged.state && ++staged.accesses == 2) {
		staged.state->start = staged.start;
		staged.state = NULL;
	}
	if (cpu)
		swapcontext(&cpu->context, &sim.main);
}

static void sim_cpu_run(int index)
{
	struct sim_cpu *cpu = &sim.cpus[index];

	for (int k = 0; k < SIM_PACKETS; k++) {
		__u64 bytes = sim.unit == BYTES ? mixed_size() : 64;
		__u64 now = sim.clock;
		enum sluice_take take = sluice_rule_take(&sim.state, &sim.limit, now, bytes);

		sim.offers++;
		if (take == SLUICE_TAKE_GAVE_UP)
			sim.gave_up++;
		if (take == SLUICE_TAKE_PASSED) {
			sim.admits[sim.admitted].at = now - sim.t0;	/* across the wrap */
			sim.admits[sim.admitted].cost = sluice_packet_units(sim.unit, bytes);
			sim.admitted++;
		}
		sim_yield();	/* between packets too */
	}
	cpu->done = 1;
	sim_yield();
}

static int by_time(const void *a, const void *b)
{
	const struct sim_admit *x = a, *y = b;

	return x->at < y->at ? -1 : x->at > y->at;
}

/* Whether the state's windows changed or went over the limit, after each step. */
static void sim_observe(int algo)
{
	struct sluice_window_state *w = &sim.state.window;

	if (algo != SLIDING && algo != FIXED)
		return;
	for (int s = 0; s < 2; s++) {
		uint64_t count = sluice_window_count(w->count[s]);

		if (count > sim.limit.window.limit && count - sim.limit.window.limit > sim.worst)
			sim.worst = count - sim.limit.window.limit;
	}
	if (w->start != sim.last_start || sim.begin_log_len == 0) {
		sim.last_start = w->start;
		if (sim.begin_log_len == sim.begin_log_cap) {
			sim.begin_log_cap = sim.begin_log_cap ? 2 * sim.begin_log_cap : 1024;
			sim.begin_log = realloc(sim.begin_log,
						sim.begin_log_cap * sizeof(*sim.begin_log));
			assert_non_null(sim.begin_log);
		}
		sim.begin_log[sim.begin_log_len++] = w->start & SLUICE_WINDOW_TIME;
	}
}

/*
 * Picks CPUs at random, one shared access each. Now and then the CPU that
 * ran is interrupted for up to 3 windows (or bucket depths) of steps, with
 * whatever it read held in its registers: the other CPUs go on without it.
 */
static void sim_schedule(int ncpus, int algo)
{
	__u64 span = algo == SLIDING || algo == FIXED ? sim.limit.window.length :
							sim.limit.meter.depth;

	sim.running = ncpus;
	while (sim.running) {
		struct sim_cpu *cpu = &sim.cpus[rng() % ncpus];

		if (cpu->done)
			continue;
		sim.steps++;
		sim.clock += rng() % (2 * sim.step_ps + 1);
		if (cpu->stalled_until > sim.steps)
			continue;
		sim.current = cpu;
		swapcontext(&sim.main, &cpu->context);
		sim.current = NULL;
		if (cpu->done)
			sim.running--;
		else if (rng() % 1000 == 0) {
			cpu->stalled_until = sim.steps + rng() % (3 * span / sim.step_ps + 1);
			sim.stalls++;
		}
		sim_observe(algo);
	}
}

/* Runs one simulation; returns the largest window count seen over the limit. */
static uint64_t simulate(int algo, int unit, __u64 rate, __u64 burst, int ncpus, __u64 step_ps)
{
	uint64_t max_cost = unit == BYTES ? 1500 : 1, worst;
	__u64 t0 = UINT64_MAX - 40000 * step_ps;

	memset(&sim, 0, sizeof(sim));
	sim.limit = make(algo, unit, rate, burst);
	sim.unit = unit;
	sim.t0 = sim.clock = t0;
	sim.step_ps = step_ps;
	sim.admits = calloc((size_t)ncpus * SIM_PACKETS, sizeof(*sim.admits));
	assert_non_null(sim.admits);
	sluice_rule_state_init(&sim.state, &sim.limit, t0);
	sim_observe(algo);
	for (int i = 0; i < ncpus; i++) {
		struct sim_cpu *cpu = &sim.cpus[i];

		cpu->index = i;
		cpu->stack = malloc(SIM_STACK);
		assert_non_null(cpu->stack);
		getcontext(&cpu->context);
		cpu->context.uc_stack.ss_sp = cpu->stack;
		cpu->context.uc_stack.ss_size = SIM_STACK;
		cpu->context.uc_link = &sim.main;
		makecontext(&cpu->context, (void (*)(void))sim_cpu_run, 1, i);
	}
	sim_schedule(ncpus, algo);
	worst = sim.worst;
	for (int i = 0; i < ncpus; i++)
		free(sim.cpus[i].stack);
	if (sim.gave_up)
		fail_msg("%s, %d CPUs: %" PRIu64 " packets gave up", algo_names[algo], ncpus,
			 sim.gave_up);
	if (worst > (uint64_t)(ncpus - 1) * max_cost)
		fail_msg("%s, %d CPUs: a window counted its limit + %" PRIu64
			 ", over (N - 1) costs", algo_names[algo], ncpus, worst);
	qsort(sim.admits, sim.admitted, sizeof(*sim.admits), by_time);
	if (algo == TB || algo == GCRA) {
		/* Admitted cost never more than the depth plus the time gone by. */
		unsigned __int128 cost = 0;

		for (size_t i = 0; i < sim.admitted; i++) {
			cost += sluice_meter_cost(&sim.limit, sim.admits[i].cost);
			if (cost > (unsigned __int128)sim.limit.meter.depth + sim.admits[i].at)
				fail_msg("%s, %d CPUs, %s: passed %" PRIu64 " ps of cost by %"
					 PRIu64 " ps, over depth %" PRIu64 " + elapsed (pass %zu)",
					 algo_names[algo], ncpus, unit ? "bytes" : "packets",
					 (uint64_t)cost, (uint64_t)sim.admits[i].at,
					 (uint64_t)sim.limit.meter.depth, i);
		}
	} else {
		/* Windows cut by the starts the state went through, packets by their clock. */
		size_t b = 0;
		uint64_t in_window = 0;

		for (size_t i = 0; i < sim.admitted; i++) {
			while (b + 1 < sim.begin_log_len &&
			       sim.admits[i].at >= sim.begin_log[b + 1] - t0) {
				b++;
				in_window = 0;
			}
			in_window += sim.admits[i].cost;
			if (in_window > sim.limit.window.limit + 2 * (ncpus - 1) * max_cost)
				fail_msg("%s, %d CPUs: %" PRIu64 " in a window by the clock",
					 algo_names[algo], ncpus, in_window);
		}
		if (sim.begin_log_len < 10)
			fail_msg("%s: only %zu windows", algo_names[algo], sim.begin_log_len);
	}
	if (sim.admitted == 0 || sim.admitted == sim.offers)
		fail_msg("%s, %d CPUs: %zu of %" PRIu64 " passed: not a test", algo_names[algo],
			 ncpus, sim.admitted, sim.offers);
	if (sim.stalls < 3)
		fail_msg("%s, %d CPUs: %" PRIu64 " stalls", algo_names[algo], ncpus, sim.stalls);
	free(sim.admits);
	free(sim.begin_log);
	return worst;
}

static void test_simulated_cpus(void **state)
{
	(void)state;
	for (int algo = TB; algo <= FIXED; algo++) {
		uint64_t worst = 0;

		for (int ncpus = 1; ncpus <= SIM_MAX_CPUS; ncpus++) {
			/*
			 * Steps of ~1 ns, packets of ~5 steps on each CPU: offered
			 * at 200 Mpps per CPU, against 50 Mpps (windows of 1 us).
			 */
			uint64_t w = simulate(algo, PKT, 50000000, 50, ncpus, 1000);

			if (ncpus == 1 && w)
				fail_msg("%s: over the limit with one CPU", algo_names[algo]);
			worst = w > worst ? w : worst;
			w = simulate(algo, BYTES, 10000000000ULL, 20000, ncpus, 1000);
			if (ncpus == 1 && w)
				fail_msg("%s: over the limit with one CPU, bytes",
					 algo_names[algo]);
			worst = w > worst ? w : worst;
		}
		/* Windows: the races this bounds did happen. Buckets: none is possible. */
		if ((algo == SLIDING || algo == FIXED) && worst == 0)
			fail_msg("%s: no window ever went over its limit: the interleavings "
				 "never raced", algo_names[algo]);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_init_validation),
		cmocka_unit_test(test_packet_meter_is_the_foundations),
		cmocka_unit_test(test_byte_interval),
		cmocka_unit_test(test_window_params),
		cmocka_unit_test(test_meter_packets_instant_and_interval),
		cmocka_unit_test(test_meter_bytes_instant_and_interval),
		cmocka_unit_test(test_gcra_textbook),
		cmocka_unit_test(test_gcra_equals_token_bucket),
		cmocka_unit_test(test_meter_refusal_and_clock_skew),
		cmocka_unit_test(test_fixed_window_instant_window_and_edge),
		cmocka_unit_test(test_window_zero_state),
		cmocka_unit_test(test_window_alignment),
		cmocka_unit_test(test_sliding_window_golden),
		cmocka_unit_test(test_sliding_window_edge),
		cmocka_unit_test(test_long_run_packets),
		cmocka_unit_test(test_long_run_bytes),
		cmocka_unit_test(test_sliding_window_span_property),
		cmocka_unit_test(test_fixed_window_property),
		cmocka_unit_test(test_window_wrap_and_clocks),
		cmocka_unit_test(test_window_words),
		cmocka_unit_test(test_window_cpu_behind),
		cmocka_unit_test(test_admit_bounds),
		cmocka_unit_test(test_simulated_cpus),
	};

	return cmocka_run_group_tests_name("algorithms", tests, NULL, NULL);
}
