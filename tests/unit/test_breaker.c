// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Unit tests for the circuit breaker (user/breaker.c) on an injected clock
 * and a seeded generator: golden sequences of calls with the exact call at
 * which it opens, goes half-open and closes; property checks of the backoff
 * and of both sliding windows against a brute-force count over every call
 * kept; the CLI's states; and the settings' checks.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "breaker.h"
#include "testing.h"

#define SEC 1000000000ull
#define MS 1000000ull
/* The controller's clock is CLOCK_MONOTONIC: never zero; start on a whole second. */
#define T0 (100 * SEC)
#define FAST (10 * MS)	/* a call well under slow_call_ms */
#define SLOW (500 * MS)	/* and one well over it */

/*
 * The defaults, spelled out, then the tests' own: a count window of 10
 * calls, at least 5 before tripping, 50% failures or 50% slow calls, slow
 * over 100 ms, 3 probes, open 1 s doubling up to 8 s, no jitter (so open
 * times are exact; the jitter has tests of its own).
 */
static struct breaker_config config(void)
{
	struct breaker_config cfg;

	breaker_config_defaults(&cfg);
	assert_int_equal(cfg.window_type, BREAKER_WINDOW_COUNT);
	assert_int_equal(cfg.window_size, 100);
	assert_int_equal(cfg.minimum_calls, 100);
	assert_int_equal(cfg.failure_rate_threshold, 50);
	assert_int_equal(cfg.slow_call_rate_threshold, 100);
	assert_int_equal(cfg.half_open_calls, 10);
	assert_int_equal(cfg.half_open_max_ms, 0);
	assert_int_equal(cfg.slow_call_ms, 1000);
	assert_int_equal(cfg.open_base_ms, 60000);
	assert_int_equal(cfg.open_max_ms, 600000);
	assert_true(cfg.open_multiplier == 1.5);
	assert_true(cfg.open_jitter == 0.5);

	cfg.window_size = 10;
	cfg.minimum_calls = 5;
	cfg.slow_call_rate_threshold = 50;
	cfg.slow_call_ms = 100;
	cfg.half_open_calls = 3;
	cfg.open_base_ms = 1000;
	cfg.open_max_ms = 8000;
	cfg.open_multiplier = 2;
	cfg.open_jitter = 0;
	return cfg;
}

static void start(struct breaker *b, const struct breaker_config *cfg)
{
	char err[256] = "";

	if (breaker_config_check(cfg, err, sizeof(err)))
		fail_msg("the test's settings are refused: %s", err);
	breaker_init(b, cfg, T0, 42);
}

/* One outcome; checks whether it changed the state and where the breaker stands after. */
#define EXPECT_RECORD(b, now, duration, failed, want_changed, want_state)                      \
	do {                                                                                    \
		__u64 now_ = (now);                                                             \
		bool changed_ = breaker_record((b), now_, (duration), (failed));                \
		if (changed_ != (want_changed) || (b)->state != (want_state))                   \
			fail_msg("line %d: %s at T0%+lld ms: got changed %d state %s, "         \
				 "want changed %d state %s",                                    \
				 __LINE__, (failed) ? "failure" : "success",                    \
				 (long long)(now_ - T0) / (long long)MS, changed_,              \
				 breaker_state_name((b)->state), (int)(want_changed),           \
				 breaker_state_name(want_state));                               \
	} while (0)

#define EXPECT_ADMIT(b, now, want)                                                              \
	do {                                                                                    \
		__u64 now_ = (now);                                                             \
		bool got_ = breaker_admit((b), now_);                                           \
		if (got_ != (want))                                                             \
			fail_msg("line %d: admit at T0%+lld ns in %s: got %d, want %d",         \
				 __LINE__, (long long)(now_ - T0),                              \
				 breaker_state_name((b)->state), got_, (int)(want));            \
	} while (0)

static void expect_rates(const struct breaker *b, __u64 now, double want_failure,
			 double want_slow, unsigned int want_calls, const char *what)
{
	double failure = -1, slow = -1;
	unsigned int calls = ~0u;

	breaker_rates(b, now, &failure, &slow, &calls);
	if (calls != want_calls || failure != want_failure || slow != want_slow)
		fail_msg("%s: got %u calls, %.2f%% failed, %.2f%% slow; want %u, %.2f%%, %.2f%%",
			 what, calls, failure, slow, want_calls, want_failure, want_slow);
}

static struct breaker_transition last_transition(const struct breaker *b)
{
	struct breaker_transition t;

	assert_int_equal(breaker_transitions(b, &t, 1), 1);
	return t;
}

/* Drives a fresh breaker open with failures; returns the time it opened. */
static __u64 open_it(struct breaker *b, const struct breaker_config *cfg)
{
	__u64 t = T0;

	start(b, cfg);
	for (unsigned int i = 0; i < cfg->minimum_calls; i++, t += MS)
		breaker_record(b, t, FAST, true);
	assert_int_equal(b->state, BREAKER_OPEN);
	return t - MS;
}

/* From open: waits out the open time and lets the whole budget of probes in. */
static __u64 to_half_open(struct breaker *b)
{
	__u64 t = b->open_until_ns;

	for (unsigned int i = 0; i < b->cfg.half_open_calls; i++)
		EXPECT_ADMIT(b, t, true);
	assert_int_equal(b->state, BREAKER_HALF_OPEN);
	return t;
}

/* ---- Closed: when it opens -------------------------------------------- */

/* A failure storm from the start: closed for 4 calls, open at the 5th, the minimum. */
static void test_failure_storm_opens_at_minimum_calls(void **unused)
{
	struct breaker_config cfg = config();
	struct breaker b;
	struct breaker_transition t;

	(void)unused;
	start(&b, &cfg);
	for (unsigned int i = 0; i < 4; i++) {
		EXPECT_RECORD(&b, T0 + i * MS, FAST, true, false, BREAKER_CLOSED);
		EXPECT_ADMIT(&b, T0 + i * MS, true);
	}
	expect_rates(&b, T0 + 4 * MS, 100, 0, 4, "four failures");
	EXPECT_RECORD(&b, T0 + 4 * MS, FAST, true, true, BREAKER_OPEN);
	EXPECT_ADMIT(&b, T0 + 4 * MS, false);

	t = last_transition(&b);
	assert_int_equal(t.at_ns, T0 + 4 * MS);
	assert_int_equal(t.from, BREAKER_CLOSED);
	assert_int_equal(t.to, BREAKER_OPEN);
	assert_int_equal(t.reason, BREAKER_REASON_FAILURE_RATE);
	assert_int_equal(t.calls, 5);
	assert_true(t.failure_rate == 100 && t.slow_rate == 0);
	assert_int_equal(b.open_until_ns, T0 + 4 * MS + 1000 * MS);
	assert_int_equal(b.trips, 1);
}

/* Below the minimum nothing trips, however bad and however long. */
static void test_not_before_minimum_calls(void **unused)
{
	struct breaker_config cfg = config();
	struct breaker b;

	(void)unused;
	cfg.minimum_calls = 10;
	start(&b, &cfg);
	for (unsigned int i = 0; i < 9; i++)
		EXPECT_RECORD(&b, T0 + i * SEC, SLOW, true, false, BREAKER_CLOSED);
	expect_rates(&b, T0 + 9 * SEC, 100, 100, 9, "nine slow failures");
	EXPECT_ADMIT(&b, T0 + 3600 * SEC, true);
	assert_false(breaker_tick(&b, T0 + 3600 * SEC));
	assert_int_equal(b.state, BREAKER_CLOSED);
	EXPECT_RECORD(&b, T0 + 3600 * SEC, FAST, true, true, BREAKER_OPEN);
}

/*
 * Five successes, then failures: 1/6 .. 4/9 stay closed, 5/10 (exactly the
 * 50% threshold) opens. 49.99% is not 50%: 99 of 200 stays closed.
 */
static void test_failure_rate_crosses_threshold(void **unused)
{
	struct breaker_config cfg = config();
	struct breaker b;
	__u64 t = T0;

	(void)unused;
	start(&b, &cfg);
	for (unsigned int i = 0; i < 5; i++, t += MS)
		EXPECT_RECORD(&b, t, FAST, false, false, BREAKER_CLOSED);
	for (unsigned int i = 0; i < 4; i++, t += MS)
		EXPECT_RECORD(&b, t, FAST, true, false, BREAKER_CLOSED);
	expect_rates(&b, t, 400.0 / 9, 0, 9, "4 of 9 failed");
	EXPECT_RECORD(&b, t, FAST, true, true, BREAKER_OPEN);
	assert_int_equal(last_transition(&b).reason, BREAKER_REASON_FAILURE_RATE);

	/* Just under: 101 successes then 99 failures fill a window of 200. */
	cfg.window_size = 200;
	cfg.minimum_calls = 200;
	start(&b, &cfg);
	for (unsigned int i = 0; i < 200; i++)
		EXPECT_RECORD(&b, T0 + i * MS, FAST, i >= 101, false, BREAKER_CLOSED);
	expect_rates(&b, T0 + SEC, 49.5, 0, 200, "99 of 200 failed");
	/* The next failure pushes out the oldest call, a success: 100 of 200. */
	EXPECT_RECORD(&b, T0 + SEC, FAST, true, true, BREAKER_OPEN);

	/* A threshold of 49%, reached by the call that completes the minimum. */
	cfg.failure_rate_threshold = 49;
	start(&b, &cfg);
	for (unsigned int i = 0; i < 199; i++)
		EXPECT_RECORD(&b, T0 + i * MS, FAST, i < 98, false, BREAKER_CLOSED);
	/* 98 of 200 = 49%: at the threshold. */
	EXPECT_RECORD(&b, T0 + SEC, FAST, false, true, BREAKER_OPEN);
}

/*
 * Slow successes trip on the slow-call rate (exactly slow_call_ms is not
 * slow; a nanosecond more is); a slow failure counts in both rates.
 */
static void test_slow_calls_trip_on_slow_rate(void **unused)
{
	struct breaker_config cfg = config();
	struct breaker b;
	__u64 t = T0;

	(void)unused;
	cfg.failure_rate_threshold = 100;
	start(&b, &cfg);
	for (unsigned int i = 0; i < 10; i++, t += MS)
		EXPECT_RECORD(&b, t, 100 * MS, false, false, BREAKER_CLOSED);
	expect_rates(&b, t, 0, 0, 10, "ten calls of exactly 100 ms");
	for (unsigned int i = 0; i < 4; i++, t += MS)
		EXPECT_RECORD(&b, t, 100 * MS + 1, false, false, BREAKER_CLOSED);
	expect_rates(&b, t, 0, 40, 10, "four slow of ten");
	EXPECT_RECORD(&b, t, 100 * MS + 1, false, true, BREAKER_OPEN);
	assert_int_equal(last_transition(&b).reason, BREAKER_REASON_SLOW_RATE);
	assert_true(last_transition(&b).slow_rate == 50);

	/* Slow failures: both rates move; the failure rate is named when both cross. */
	cfg = config();
	start(&b, &cfg);
	for (unsigned int i = 0; i < 4; i++)
		EXPECT_RECORD(&b, T0, SLOW, true, false, BREAKER_CLOSED);
	expect_rates(&b, T0, 100, 100, 4, "four slow failures");
	EXPECT_RECORD(&b, T0, SLOW, true, true, BREAKER_OPEN);
	assert_int_equal(last_transition(&b).reason, BREAKER_REASON_FAILURE_RATE);
}

/* ---- Open, half-open --------------------------------------------------- */

/* Open refuses until its open time has passed to the nanosecond, then half-open. */
static void test_open_to_half_open_after_open_time(void **unused)
{
	struct breaker_config cfg = config();
	struct breaker b;
	__u64 opened = open_it(&b, &cfg);
	struct breaker_transition t;

	(void)unused;
	assert_int_equal(b.open_until_ns, opened + 1000 * MS);
	EXPECT_ADMIT(&b, opened, false);
	EXPECT_ADMIT(&b, opened + 999 * MS, false);
	assert_false(breaker_tick(&b, opened + 1000 * MS - 1));
	EXPECT_ADMIT(&b, opened + 1000 * MS - 1, false);
	assert_int_equal(b.state, BREAKER_OPEN);
	assert_int_equal(b.refused, 3);
	/* Outcomes arriving while open (calls from before it opened) change nothing. */
	EXPECT_RECORD(&b, opened + 1, FAST, false, false, BREAKER_OPEN);

	assert_true(breaker_tick(&b, opened + 1000 * MS));
	assert_int_equal(b.state, BREAKER_HALF_OPEN);
	assert_false(breaker_tick(&b, opened + 1000 * MS));
	t = last_transition(&b);
	assert_int_equal(t.from, BREAKER_OPEN);
	assert_int_equal(t.reason, BREAKER_REASON_OPEN_TIME_PASSED);
	assert_int_equal(t.at_ns, opened + 1000 * MS);

	/* admit() moves it on its own, without a tick first. */
	open_it(&b, &cfg);
	EXPECT_ADMIT(&b, b.open_until_ns, true);
	assert_int_equal(b.state, BREAKER_HALF_OPEN);
}

/* Half-open admits exactly the budget and refuses the rest, until they are judged. */
static void test_half_open_budget(void **unused)
{
	struct breaker_config cfg = config();
	struct breaker b;
	__u64 t;

	(void)unused;
	open_it(&b, &cfg);
	t = b.open_until_ns;
	for (unsigned int i = 0; i < 3; i++)
		EXPECT_ADMIT(&b, t + i, true);
	for (unsigned int i = 0; i < 100; i++)
		EXPECT_ADMIT(&b, t + 3 + i * SEC, false);
	assert_int_equal(b.probes_admitted, 3);
	assert_int_equal(b.state, BREAKER_HALF_OPEN);
	/* 100 refused in half-open, none while open (admit was first called at open_until). */
	assert_int_equal(b.refused, 100);

	/* A budget of 1, as Hystrix has it. */
	cfg.half_open_calls = 1;
	open_it(&b, &cfg);
	EXPECT_ADMIT(&b, b.open_until_ns, true);
	EXPECT_ADMIT(&b, b.open_until_ns, false);
}

/*
 * Successful probes close it, at the last one and not before; the window
 * starts fresh, and the backoff is back at its base.
 */
static void test_half_open_success_closes(void **unused)
{
	struct breaker_config cfg = config();
	struct breaker b;
	struct breaker_transition tr;
	__u64 t;

	(void)unused;
	open_it(&b, &cfg);
	t = to_half_open(&b);
	EXPECT_RECORD(&b, t + 1, FAST, false, false, BREAKER_HALF_OPEN);
	/* One failure of three is 33%, under 50%. */
	EXPECT_RECORD(&b, t + 2, FAST, true, false, BREAKER_HALF_OPEN);
	expect_rates(&b, t + 2, 50, 0, 2, "half-open: one of two probes failed");
	EXPECT_RECORD(&b, t + 3, FAST, false, true, BREAKER_CLOSED);
	tr = last_transition(&b);
	assert_int_equal(tr.from, BREAKER_HALF_OPEN);
	assert_int_equal(tr.reason, BREAKER_REASON_PROBES_PASSED);
	assert_int_equal(tr.calls, 3);
	expect_rates(&b, t + 3, 0, 0, 0, "a fresh window after closing");
	assert_int_equal(b.backoff_ns, 0);
	assert_int_equal(b.trips, 0);
	EXPECT_ADMIT(&b, t + 4, true);

	/* The five failures from before do not count: four more do not trip, the fifth does. */
	for (unsigned int i = 0; i < 4; i++)
		EXPECT_RECORD(&b, t + 10 + i, FAST, true, false, BREAKER_CLOSED);
	EXPECT_RECORD(&b, t + 20, FAST, true, true, BREAKER_OPEN);
	/* And the open time is the base again. */
	assert_int_equal(b.open_until_ns, t + 20 + 1000 * MS);
}

/* Failing probes open it again for twice as long, then 4 s, 8 s, and 8 s (the cap). */
static void test_half_open_failure_reopens_longer(void **unused)
{
	static const __u64 want_open_ms[] = { 1000, 2000, 4000, 8000, 8000, 8000 };
	struct breaker_config cfg = config();
	struct breaker b;
	__u64 t;

	(void)unused;
	t = open_it(&b, &cfg);
	assert_int_equal(b.open_until_ns - t, want_open_ms[0] * MS);
	for (unsigned int k = 1; k < 6; k++) {
		t = to_half_open(&b);
		/* Two failures of three: 67%. The verdict waits for the third. */
		EXPECT_RECORD(&b, t + 1, FAST, true, false, BREAKER_HALF_OPEN);
		EXPECT_RECORD(&b, t + 2, FAST, true, false, BREAKER_HALF_OPEN);
		EXPECT_RECORD(&b, t + 3, FAST, false, true, BREAKER_OPEN);
		assert_int_equal(last_transition(&b).reason, BREAKER_REASON_PROBES_FAILED);
		if (b.open_until_ns - (t + 3) != want_open_ms[k] * MS)
			fail_msg("trip %u: open for %llu ms, want %llu", k + 1,
				 (unsigned long long)(b.open_until_ns - (t + 3)) / MS,
				 (unsigned long long)want_open_ms[k]);
		assert_int_equal(b.trips, k + 1);
		EXPECT_ADMIT(&b, t + 3, false);
	}

	/* Slow probes reopen it too: two of three over 100 ms. */
	t = to_half_open(&b);
	EXPECT_RECORD(&b, t, SLOW, false, false, BREAKER_HALF_OPEN);
	EXPECT_RECORD(&b, t, FAST, false, false, BREAKER_HALF_OPEN);
	EXPECT_RECORD(&b, t, SLOW, false, true, BREAKER_OPEN);
	assert_int_equal(last_transition(&b).reason, BREAKER_REASON_PROBES_FAILED);
	assert_true(last_transition(&b).slow_rate > 66 && last_transition(&b).slow_rate < 67);
}

/*
 * In half-open an outcome with no probe to account for (a call admitted
 * before it opened) is ignored; so is one past the budget.
 */
static void test_half_open_ignores_outcomes_not_of_probes(void **unused)
{
	struct breaker_config cfg = config();
	struct breaker b;
	__u64 t;

	(void)unused;
	open_it(&b, &cfg);
	t = b.open_until_ns;
	assert_true(breaker_tick(&b, t));
	for (unsigned int i = 0; i < 5; i++)
		EXPECT_RECORD(&b, t, FAST, true, false, BREAKER_HALF_OPEN);
	assert_int_equal(b.probes_done, 0);
	EXPECT_ADMIT(&b, t, true);
	EXPECT_RECORD(&b, t, FAST, false, false, BREAKER_HALF_OPEN);
	EXPECT_RECORD(&b, t, FAST, true, false, BREAKER_HALF_OPEN);	/* not admitted */
	assert_int_equal(b.probes_done, 1);
	assert_int_equal(b.probes_failed, 0);
}

/* With half_open_max_ms, probes whose outcomes never come reopen it, for longer. */
static void test_half_open_times_out(void **unused)
{
	struct breaker_config cfg = config();
	struct breaker b;
	__u64 t;

	(void)unused;
	/* Without a limit (Resilience4j's default) it waits for ever. */
	open_it(&b, &cfg);
	t = to_half_open(&b);
	assert_false(breaker_tick(&b, t + 3600 * SEC));
	EXPECT_ADMIT(&b, t + 3600 * SEC, false);
	assert_int_equal(b.state, BREAKER_HALF_OPEN);

	cfg.half_open_max_ms = 5000;
	open_it(&b, &cfg);
	t = to_half_open(&b);
	EXPECT_RECORD(&b, t, FAST, false, false, BREAKER_HALF_OPEN);
	assert_false(breaker_tick(&b, t + 5000 * MS - 1));
	assert_true(breaker_tick(&b, t + 5000 * MS));
	assert_int_equal(b.state, BREAKER_OPEN);
	assert_int_equal(last_transition(&b).reason, BREAKER_REASON_PROBES_TIMED_OUT);
	assert_int_equal(b.open_until_ns, t + 5000 * MS + 2000 * MS);
}

/* ---- Backoff: properties ----------------------------------------------- */

/* Opens again from half-open with one failed probe (a budget of 1); returns when. */
static __u64 fail_probe(struct breaker *b)
{
	__u64 t = b->open_until_ns;

	EXPECT_ADMIT(b, t, true);
	EXPECT_RECORD(b, t, FAST, true, true, BREAKER_OPEN);
	return t;
}

/*
 * Over many trips at the defaults' backoff (base 60 s, * 1.5, cap 600 s,
 * jitter 0.5) and for many seeds: the un-jittered open time never falls,
 * reaches the cap and stays there; every open time is within
 * [base * 0.5, cap * 1.5] and within its own backoff * [0.5, 1.5]; and the
 * jitter does spread them (both halves of the range are used).
 */
static void test_backoff_grows_and_caps(void **unused)
{
	struct breaker_config cfg = config();

	(void)unused;
	cfg.half_open_calls = 1;
	cfg.open_base_ms = 60000;
	cfg.open_max_ms = 600000;
	cfg.open_multiplier = 1.5;
	cfg.open_jitter = 0.5;
	for (__u64 seed = 1; seed <= 50; seed++) {
		struct breaker b;
		__u64 t = T0, prev_backoff = 0;
		unsigned int below = 0, above = 0;

		breaker_init(&b, &cfg, T0, seed);
		for (unsigned int i = 0; i < 5; i++)
			breaker_record(&b, T0, FAST, true);
		for (unsigned int trip = 1; trip <= 200; trip++) {
			__u64 open_ns = b.open_until_ns - t;

			if (b.backoff_ns < prev_backoff || b.backoff_ns > 600 * SEC)
				fail_msg("seed %llu trip %u: backoff %llu ns after %llu ns",
					 (unsigned long long)seed, trip,
					 (unsigned long long)b.backoff_ns,
					 (unsigned long long)prev_backoff);
			if (open_ns < 30 * SEC || open_ns > 900 * SEC ||
			    open_ns < b.backoff_ns / 2 || open_ns > b.backoff_ns / 2 * 3)
				fail_msg("seed %llu trip %u: open %llu ms with backoff %llu ms",
					 (unsigned long long)seed, trip,
					 (unsigned long long)open_ns / MS,
					 (unsigned long long)b.backoff_ns / MS);
			below += open_ns < b.backoff_ns;
			above += open_ns > b.backoff_ns;
			/* 60 s * 1.5^5 = 455.6 s, * 1.5^6 = 683 s: capped from the 7th trip on. */
			if (trip >= 7)
				assert_int_equal(b.backoff_ns, 600 * SEC);
			else
				assert_true(b.backoff_ns < 600 * SEC);
			prev_backoff = b.backoff_ns;
			t = fail_probe(&b);
		}
		if (below < 50 || above < 50)
			fail_msg("seed %llu: %u of 200 open times below their backoff, %u above",
				 (unsigned long long)seed, below, above);
	}
}

/* The exact un-jittered sequence at the defaults: 60, 90, 135, 202.5, 303.75, 455.625, 600 s. */
static void test_backoff_sequence_at_defaults(void **unused)
{
	static const __u64 want_ms[] = { 60000, 90000, 135000, 202500, 303750, 455625, 600000,
					 600000 };
	struct breaker_config cfg;
	struct breaker b;

	(void)unused;
	breaker_config_defaults(&cfg);
	cfg.minimum_calls = 1;
	cfg.half_open_calls = 1;
	breaker_init(&b, &cfg, T0, 7);
	breaker_record(&b, T0, FAST, true);
	for (unsigned int i = 0; i < sizeof(want_ms) / sizeof(want_ms[0]); i++) {
		if (b.backoff_ns != want_ms[i] * MS)
			fail_msg("trip %u: backoff %llu ns, want %llu ms", i + 1,
				 (unsigned long long)b.backoff_ns, (unsigned long long)want_ms[i]);
		fail_probe(&b);
	}
}

/* The same seed gives the same open times; another seed, others. */
static void test_seeded_jitter_is_reproducible(void **unused)
{
	struct breaker_config cfg = config();
	__u64 first[3][20];

	(void)unused;
	cfg.half_open_calls = 1;
	cfg.open_jitter = 0.5;
	for (unsigned int run = 0; run < 3; run++) {
		struct breaker b;

		breaker_init(&b, &cfg, T0, run == 2 ? 1234 : 99);
		for (unsigned int i = 0; i < 5; i++)
			breaker_record(&b, T0, FAST, true);
		for (unsigned int trip = 0; trip < 20; trip++) {
			first[run][trip] = b.open_until_ns - b.since_ns;
			fail_probe(&b);
		}
	}
	assert_memory_equal(first[0], first[1], sizeof(first[0]));
	for (unsigned int trip = 0; trip < 20; trip++)
		if (first[0][trip] == first[2][trip])
			fail_msg("trip %u: seeds 99 and 1234 both open for %llu ns", trip,
				 (unsigned long long)first[0][trip]);
}

/* ---- Sliding windows --------------------------------------------------- */

/* The count window holds the last 10 calls: older failures drop out one by one. */
static void test_count_window_forgets_older_calls(void **unused)
{
	struct breaker_config cfg = config();
	struct breaker b;
	__u64 t = T0;

	(void)unused;
	cfg.minimum_calls = 10;
	start(&b, &cfg);
	for (unsigned int i = 0; i < 4; i++, t += MS)
		EXPECT_RECORD(&b, t, SLOW, true, false, BREAKER_CLOSED);
	for (unsigned int i = 0; i < 6; i++, t += MS)
		EXPECT_RECORD(&b, t, FAST, false, false, BREAKER_CLOSED);
	expect_rates(&b, t, 40, 40, 10, "4 slow failures of 10");
	for (unsigned int i = 1; i <= 10; i++, t += MS) {
		double left = i < 4 ? 10.0 * (4 - i) : 0;

		EXPECT_RECORD(&b, t, FAST, false, false, BREAKER_CLOSED);
		expect_rates(&b, t, left, left, 10, "a success pushes out the oldest call");
	}
	/* Forgotten for good: four failures now are 40%, the fifth 50%. */
	for (unsigned int i = 0; i < 4; i++, t += MS)
		EXPECT_RECORD(&b, t, FAST, true, false, BREAKER_CLOSED);
	EXPECT_RECORD(&b, t, FAST, true, true, BREAKER_OPEN);
	assert_int_equal(last_transition(&b).calls, 10);
}

/*
 * The time window holds the calls of the last 10 seconds, counted in whole
 * seconds: a call at second s counts until the clock reaches second s + 10.
 */
static void test_time_window_forgets_older_calls(void **unused)
{
	struct breaker_config cfg = config();
	struct breaker b;

	(void)unused;
	cfg.window_type = BREAKER_WINDOW_TIME;
	cfg.minimum_calls = 10;
	start(&b, &cfg);
	for (unsigned int i = 0; i < 4; i++)
		EXPECT_RECORD(&b, T0 + 500 * MS, FAST, true, false, BREAKER_CLOSED);
	for (unsigned int i = 0; i < 5; i++)
		EXPECT_RECORD(&b, T0 + 9 * SEC + 900 * MS, FAST, false, false, BREAKER_CLOSED);
	expect_rates(&b, T0 + 10 * SEC - 1, 400.0 / 9, 0, 9, "the last nanosecond of second 9");
	expect_rates(&b, T0 + 10 * SEC, 0, 0, 5, "second 10: second 0 has gone");
	/* Had the four failures stayed, this one would make 5 of 10 and open. */
	EXPECT_RECORD(&b, T0 + 10 * SEC, FAST, true, false, BREAKER_CLOSED);
	expect_rates(&b, T0 + 10 * SEC, 100.0 / 6, 0, 6, "one failure of six");
	for (unsigned int i = 0; i < 3; i++)
		EXPECT_RECORD(&b, T0 + 10 * SEC + 500 * MS, FAST, true, false, BREAKER_CLOSED);
	EXPECT_RECORD(&b, T0 + 11 * SEC, FAST, true, true, BREAKER_OPEN);
	assert_int_equal(last_transition(&b).calls, 10);

	/*
	 * One call a second for seconds 0..9, odd ones failed: they leave one a
	 * second as the clock moves on, without any call, all gone at second 19.
	 * (A time window's minimum may exceed its calls: 11 never trips here.)
	 */
	cfg.minimum_calls = 11;
	start(&b, &cfg);
	for (unsigned int s = 0; s < 10; s++)
		EXPECT_RECORD(&b, T0 + s * SEC, FAST, s % 2, false, BREAKER_CLOSED);
	for (unsigned int now = 9; now <= 21; now++) {
		unsigned int calls = 0, failures = 0;

		for (unsigned int s = 0; s < 10; s++) {
			calls += s + 10 > now;
			failures += s + 10 > now && s % 2;
		}
		expect_rates(&b, T0 + now * SEC, calls ? 100.0 * failures / calls : 0, 0, calls,
			     "seconds leave one at a time");
	}
	expect_rates(&b, T0 + 18 * SEC + 999 * MS, 100, 0, 1, "second 9, the last in");
	expect_rates(&b, T0 + 19 * SEC, 0, 0, 0, "all gone");
}

/* A gap in the calls of a window or more empties it; of less, keeps what is still in it. */
static void test_time_window_gaps(void **unused)
{
	static const __u64 gaps_sec[] = { 9, 10, 11, 25, 1000000 };
	struct breaker_config cfg = config();

	(void)unused;
	cfg.window_type = BREAKER_WINDOW_TIME;
	for (size_t g = 0; g < sizeof(gaps_sec) / sizeof(gaps_sec[0]); g++) {
		__u64 t = T0 + gaps_sec[g] * SEC;
		bool kept = gaps_sec[g] < 10;
		struct breaker b;

		start(&b, &cfg);
		for (unsigned int i = 0; i < 4; i++)
			EXPECT_RECORD(&b, T0 + 999 * MS, FAST, true, false, BREAKER_CLOSED);
		expect_rates(&b, t, kept ? 100 : 0, 0, kept ? 4 : 0, "before the first call after the gap");
		EXPECT_RECORD(&b, t, FAST, true, kept, kept ? BREAKER_OPEN : BREAKER_CLOSED);
		if (!kept) {
			expect_rates(&b, t, 100, 0, 1, "after the gap");
			/* The window works on after it: four more failures open it. */
			for (unsigned int i = 0; i < 3; i++)
				EXPECT_RECORD(&b, t + i * SEC, FAST, true, false, BREAKER_CLOSED);
			EXPECT_RECORD(&b, t + 9 * SEC, FAST, true, true, BREAKER_OPEN);
		}
	}
}

/*
 * Random calls at random times (now and then a long gap), in both kinds of
 * window, checked after every call against a brute-force count over a log
 * of every call: the rates, and that it opens exactly when the log says
 * the minimum is met and a rate is at its threshold. After it opens, a
 * reset starts over with an empty log.
 */
static void test_property_windows_match_brute_force(void **unused)
{
	enum { LOG = 20000 };
	static struct {
		__u64 at;
		bool failed, slow;
	} log[LOG];

	(void)unused;
	for (__u64 seed = 1; seed <= 40; seed++) {
		struct breaker_config cfg = config();
		__u64 rng = seed, t = T0;
		unsigned int n = 0, first = 0, opens = 0;
		bool storm = false;
		struct breaker b;

		cfg.window_type = seed % 2 ? BREAKER_WINDOW_TIME : BREAKER_WINDOW_COUNT;
		cfg.window_size = 1 + test_rng_next(&rng) % 30;
		cfg.minimum_calls = 1 + test_rng_next(&rng) % cfg.window_size;
		cfg.failure_rate_threshold = 30 + test_rng_next(&rng) % 71;
		cfg.slow_call_rate_threshold = 30 + test_rng_next(&rng) % 71;
		start(&b, &cfg);
		for (int i = 0; i < LOG; i++) {
			__u64 r = test_rng_next(&rng);
			/* Calm (10% bad) and storms (90% bad) in turns, so it opens now and then. */
			bool failed, slow, changed, want_open;
			unsigned int calls = 0, failures = 0, slows = 0;
			double fr, sr;
			unsigned int got;

			if ((r >> 40) % 200 == 0)
				storm = !storm;
			failed = r % 100 < (storm ? 90u : 10u);
			slow = (r >> 8) % 100 < (storm ? 90u : 10u);

			/* Mostly a few ms apart, sometimes seconds, now and then a long gap. */
			t += (r >> 16) % 64 == 0 ? ((r >> 24) % 60) * SEC : ((r >> 24) % 400) * MS;
			log[n].at = t;
			log[n].failed = failed;
			log[n].slow = slow;
			n++;
			/* A call out of the window stays out (time only moves on): skip it for good. */
			for (unsigned int j = first; j < n; j++) {
				bool in = cfg.window_type == BREAKER_WINDOW_COUNT
						  ? j + cfg.window_size >= n
						  : log[j].at / SEC + cfg.window_size > t / SEC;

				if (!in && j == first)
					first++;
				calls += in;
				failures += in && log[j].failed;
				slows += in && log[j].slow;
			}
			want_open = calls >= cfg.minimum_calls &&
				    (failures * 100 >= cfg.failure_rate_threshold * calls ||
				     slows * 100 >= cfg.slow_call_rate_threshold * calls);

			changed = breaker_record(&b, t, slow ? SLOW : FAST, failed);
			breaker_rates(&b, t, &fr, &sr, &got);
			if (got != calls || fr != 100.0 * failures / calls ||
			    sr != 100.0 * slows / calls || changed != want_open)
				fail_msg("seed %llu call %d (%s window of %u, min %u): got %u calls, "
					 "%.2f%%/%.2f%%, opened %d; want %u calls, %u failed, %u "
					 "slow, open %d",
					 (unsigned long long)seed, i,
					 cfg.window_type == BREAKER_WINDOW_COUNT ? "count" : "time",
					 cfg.window_size, cfg.minimum_calls, got, fr, sr, changed,
					 calls, failures, slows, want_open);
			if (changed) {
				opens++;
				breaker_reset(&b, t);
				n = first = 0;
			}
		}
		if (opens < 3)
			fail_msg("seed %llu: opened only %u times; the check proves little",
				 (unsigned long long)seed, opens);
	}
}

/* ---- The CLI's states -------------------------------------------------- */

/* Forced open refuses everything, whatever the time or the outcomes, until reset. */
static void test_forced_open_until_reset(void **unused)
{
	struct breaker_config cfg = config();
	struct breaker b;

	(void)unused;
	start(&b, &cfg);
	breaker_trip(&b, T0 + SEC);
	assert_int_equal(b.state, BREAKER_FORCED_OPEN);
	assert_int_equal(last_transition(&b).reason, BREAKER_REASON_TRIPPED);
	for (__u64 t = T0 + SEC; t < T0 + 7200 * SEC; t += 60 * SEC) {
		assert_false(breaker_tick(&b, t));
		EXPECT_ADMIT(&b, t, false);
		EXPECT_RECORD(&b, t, FAST, false, false, BREAKER_FORCED_OPEN);
	}
	/* Tripping again changes nothing and logs nothing. */
	breaker_trip(&b, T0 + 7200 * SEC);
	assert_int_equal(b.transitions_total, 1);

	breaker_reset(&b, T0 + 7200 * SEC);
	assert_int_equal(b.state, BREAKER_CLOSED);
	assert_int_equal(last_transition(&b).reason, BREAKER_REASON_RESET);
	expect_rates(&b, T0 + 7200 * SEC, 0, 0, 0, "a fresh window after reset");
	EXPECT_ADMIT(&b, T0 + 7200 * SEC, true);

	/* From open, too: it does not wait for the open time, and nothing is judged. */
	open_it(&b, &cfg);
	breaker_trip(&b, T0 + SEC);
	EXPECT_ADMIT(&b, b.open_until_ns + SEC, false);
	assert_int_equal(b.state, BREAKER_FORCED_OPEN);
}

/* Disabled admits everything and never trips; a reset brings it back, closed. */
static void test_disabled_admits_everything(void **unused)
{
	struct breaker_config cfg = config();
	struct breaker b;

	(void)unused;
	open_it(&b, &cfg);
	breaker_disable(&b, T0 + SEC);
	assert_int_equal(b.state, BREAKER_DISABLED);
	assert_int_equal(last_transition(&b).from, BREAKER_OPEN);
	for (unsigned int i = 0; i < 1000; i++) {
		EXPECT_ADMIT(&b, T0 + SEC + i * MS, true);
		EXPECT_RECORD(&b, T0 + SEC + i * MS, SLOW, true, false, BREAKER_DISABLED);
	}
	assert_int_equal(b.refused, 0);
	/* The rates still show what the backend does. */
	expect_rates(&b, T0 + 2 * SEC, 100, 100, 10, "disabled, all slow failures");

	breaker_reset(&b, T0 + 2 * SEC);
	assert_int_equal(b.state, BREAKER_CLOSED);
	assert_int_equal(b.backoff_ns, 0);
	for (unsigned int i = 0; i < 4; i++)
		EXPECT_RECORD(&b, T0 + 2 * SEC, FAST, true, false, BREAKER_CLOSED);
	EXPECT_RECORD(&b, T0 + 2 * SEC, FAST, true, true, BREAKER_OPEN);
}

/* A reset from open forgets the backoff: the next trip opens for the base again. */
static void test_reset_forgets_backoff(void **unused)
{
	struct breaker_config cfg = config();
	struct breaker b;
	__u64 t;

	(void)unused;
	cfg.half_open_calls = 1;
	open_it(&b, &cfg);
	fail_probe(&b);
	t = fail_probe(&b);
	assert_int_equal(b.open_until_ns - t, 4000 * MS);
	breaker_reset(&b, t + 1);
	for (unsigned int i = 0; i < 5; i++)
		breaker_record(&b, t + 2, FAST, true);
	assert_int_equal(b.state, BREAKER_OPEN);
	assert_int_equal(b.open_until_ns - (t + 2), 1000 * MS);
}

/* ---- Transitions, names ------------------------------------------------ */

/* The ring keeps the last 8, oldest first, each one's `from` the previous one's `to`. */
static void test_transitions_ring(void **unused)
{
	struct breaker_config cfg = config();
	struct breaker_transition got[BREAKER_TRANSITIONS + 2];
	struct breaker b;
	unsigned int n;

	(void)unused;
	cfg.half_open_calls = 1;
	start(&b, &cfg);
	assert_int_equal(breaker_transitions(&b, got, BREAKER_TRANSITIONS), 0);
	open_it(&b, &cfg);
	for (unsigned int i = 0; i < 6; i++)	/* 1 + 2 * 6 = 13 transitions */
		fail_probe(&b);
	assert_int_equal(b.transitions_total, 13);
	n = breaker_transitions(&b, got, BREAKER_TRANSITIONS + 2);
	assert_int_equal(n, BREAKER_TRANSITIONS);
	for (unsigned int i = 0; i < n; i++) {
		if (i && (got[i].from != got[i - 1].to || got[i].at_ns < got[i - 1].at_ns))
			fail_msg("transition %u: %s -> %s at %llu after %s -> %s at %llu", i,
				 breaker_state_name(got[i].from), breaker_state_name(got[i].to),
				 (unsigned long long)got[i].at_ns,
				 breaker_state_name(got[i - 1].from),
				 breaker_state_name(got[i - 1].to),
				 (unsigned long long)got[i - 1].at_ns);
	}
	/* The 13th, last: half-open -> open on the failed probe. */
	assert_int_equal(got[n - 1].from, BREAKER_HALF_OPEN);
	assert_int_equal(got[n - 1].to, BREAKER_OPEN);
	assert_int_equal(got[n - 1].at_ns, b.since_ns);
	/* The 6th (the first kept): open -> half-open. */
	assert_int_equal(got[0].to, BREAKER_HALF_OPEN);
	/* Fewer asked for: the newest ones. */
	assert_int_equal(breaker_transitions(&b, got, 2), 2);
	assert_int_equal(got[0].to, BREAKER_HALF_OPEN);
	assert_int_equal(got[1].to, BREAKER_OPEN);
	assert_int_equal(got[1].at_ns, b.since_ns);
}

static void test_names(void **unused)
{
	(void)unused;
	assert_string_equal(breaker_state_name(BREAKER_CLOSED), "closed");
	assert_string_equal(breaker_state_name(BREAKER_OPEN), "open");
	assert_string_equal(breaker_state_name(BREAKER_HALF_OPEN), "half_open");
	assert_string_equal(breaker_state_name(BREAKER_FORCED_OPEN), "forced_open");
	assert_string_equal(breaker_state_name(BREAKER_DISABLED), "disabled");
	assert_string_equal(breaker_state_name((enum breaker_state)99), "unknown");
	assert_string_equal(breaker_reason_name(BREAKER_REASON_SLOW_RATE), "slow_call_rate");
	assert_string_equal(breaker_reason_name(BREAKER_REASON_PROBES_TIMED_OUT),
			    "probes_timed_out");
	assert_string_equal(breaker_reason_name((enum breaker_reason)99), "unknown");
}

/* ---- Settings ---------------------------------------------------------- */

static void expect_refused(const struct breaker_config *cfg, const char *why, const char *says)
{
	char err[256] = "";

	if (breaker_config_check(cfg, err, sizeof(err)) != -1)
		fail_msg("%s: accepted, want refused", why);
	if (!strstr(err, says))
		fail_msg("%s: error '%s' does not say '%s'", why, err, says);
	if (!err[0] || strchr(err, '\n') || err[strlen(err) - 1] == '.')
		fail_msg("%s: error '%s' is not one line without a period", why, err);
}

static void expect_accepted(const struct breaker_config *cfg, const char *why)
{
	char err[256] = "";

	if (breaker_config_check(cfg, err, sizeof(err)) != 0)
		fail_msg("%s: refused (%s), want accepted", why, err);
}

static void test_config_check(void **unused)
{
	struct breaker_config defaults, cfg;

	(void)unused;
	breaker_config_defaults(&defaults);
	expect_accepted(&defaults, "the defaults");
	cfg = config();
	expect_accepted(&cfg, "the tests' settings");

#define REFUSED(field, value, says)                                   \
	do {                                                          \
		cfg = defaults;                                       \
		cfg.field = (value);                                  \
		expect_refused(&cfg, #field " = " #value, (says));    \
	} while (0)
#define ACCEPTED(field, value)                                        \
	do {                                                          \
		cfg = defaults;                                       \
		cfg.field = (value);                                  \
		expect_accepted(&cfg, #field " = " #value);           \
	} while (0)

	REFUSED(window_type, (enum breaker_window_type)2, "window type");
	REFUSED(window_size, 0, "the window (0 calls) must be from 1 to 1000 calls");
	REFUSED(window_size, 1001, "the window (1001 calls)");
	REFUSED(minimum_calls, 0, "minimum number of calls");
	REFUSED(minimum_calls, 101,
		"the minimum number of calls (101) must not exceed the window (100 calls)");
	REFUSED(failure_rate_threshold, 0, "failure rate threshold (0%)");
	REFUSED(failure_rate_threshold, 101, "failure rate threshold (101%)");
	ACCEPTED(failure_rate_threshold, 1);
	ACCEPTED(failure_rate_threshold, 100);
	REFUSED(slow_call_rate_threshold, 0, "slow call rate threshold");
	REFUSED(slow_call_rate_threshold, 101, "slow call rate threshold");
	ACCEPTED(slow_call_rate_threshold, 1);
	REFUSED(slow_call_ms, 0, "slow call duration");
	REFUSED(half_open_calls, 0, "half-open");
	ACCEPTED(half_open_calls, 1);
	ACCEPTED(half_open_max_ms, 1);
	REFUSED(open_base_ms, 0, "open time");
	REFUSED(open_max_ms, 59999, "the maximum open time (59999 ms) must not be below the base");
	ACCEPTED(open_max_ms, 60000);
	REFUSED(open_multiplier, 0.99, "multiplier");
	REFUSED(open_multiplier, 100.5, "multiplier");
	REFUSED(open_multiplier, NAN, "multiplier");
	ACCEPTED(open_multiplier, 1.0);
	REFUSED(open_jitter, -0.01, "jitter");
	REFUSED(open_jitter, 1.0, "jitter");
	REFUSED(open_jitter, NAN, "jitter");
	ACCEPTED(open_jitter, 0.0);
	ACCEPTED(open_jitter, 0.99);

	/* A time window is in seconds, up to 600, and the minimum may exceed it. */
	defaults.window_type = BREAKER_WINDOW_TIME;
	ACCEPTED(window_size, 600);
	REFUSED(window_size, 601, "the window (601 seconds) must be from 1 to 600 seconds");
	ACCEPTED(minimum_calls, 100000);
#undef REFUSED
#undef ACCEPTED
}

/* --breaker as operators type it: over the defaults, each key checked, written back whole. */
static void test_parse_and_format(void **unused)
{
	struct breaker_config cfg, again, defaults;
	char err[256], text[192], back[192];

	(void)unused;
	breaker_config_defaults(&defaults);
	cfg = defaults;
	cfg.slow_call_ms = 250;
	assert_int_equal(breaker_parse("on", &cfg, &cfg, err, sizeof(err)), 0);
	assert_int_equal(cfg.window_size, defaults.window_size);
	assert_int_equal(cfg.open_base_ms, defaults.open_base_ms);
	assert_int_equal(cfg.slow_call_ms, 250);	/* kept: --slow-call sets it */

	assert_int_equal(breaker_parse("window=30s,min-calls=7,failure=40%,slow=80,half-open=2,"
				       "half-open-wait=3s,open=500ms,max-open=4s,multiplier=2,"
				       "jitter=0.25", &cfg, &cfg, err, sizeof(err)), 0);
	assert_int_equal(cfg.window_type, BREAKER_WINDOW_TIME);
	assert_int_equal(cfg.window_size, 30);
	assert_int_equal(cfg.minimum_calls, 7);
	assert_int_equal(cfg.failure_rate_threshold, 40);
	assert_int_equal(cfg.slow_call_rate_threshold, 80);
	assert_int_equal(cfg.half_open_calls, 2);
	assert_int_equal(cfg.half_open_max_ms, 3000);
	assert_int_equal(cfg.open_base_ms, 500);
	assert_int_equal(cfg.open_max_ms, 4000);
	assert_true(cfg.open_multiplier == 2.0);
	assert_true(cfg.open_jitter == 0.25);
	assert_int_equal(cfg.slow_call_ms, 250);

	/* What format writes, parse reads back to the same settings. */
	breaker_format(&cfg, text, sizeof(text));
	assert_string_equal(text, "window=30s,min-calls=7,failure=40,slow=80,half-open=2,"
				  "half-open-wait=3000ms,open=500ms,max-open=4000ms,multiplier=2,"
				  "jitter=0.25");
	again = defaults;
	again.slow_call_ms = 250;
	assert_int_equal(breaker_parse(text, &again, &again, err, sizeof(err)), 0);
	breaker_format(&again, back, sizeof(back));
	assert_string_equal(back, text);
	assert_memory_equal(&again, &cfg, sizeof(cfg));

	/* Keys apply over the base given, not the defaults. */
	assert_int_equal(breaker_parse("failure=30", &cfg, &again, err, sizeof(err)), 0);
	assert_int_equal(again.failure_rate_threshold, 30);
	assert_int_equal(again.open_base_ms, 500);
	assert_int_equal(again.window_size, 30);
	/* Ratios keep 4 decimals, so what is written back reads back the same. */
	assert_int_equal(breaker_parse("jitter=0.12345", &cfg, &again, err, sizeof(err)), 0);
	assert_true(again.open_jitter == 0.1235);
	breaker_format(&again, text, sizeof(text));
	assert_non_null(strstr(text, ",jitter=0.1235"));

	/* A count window under the default minimum makes the window the minimum. */
	assert_int_equal(breaker_parse("window=20", NULL, &cfg, err, sizeof(err)), 0);
	assert_int_equal(cfg.window_type, BREAKER_WINDOW_COUNT);
	assert_int_equal(cfg.minimum_calls, 20);
	/* open alone carries its cap along, max-open alone under the base lowers the base. */
	assert_int_equal(breaker_parse("open=5m", NULL, &cfg, err, sizeof(err)), 0);
	assert_int_equal(cfg.open_max_ms, 10 * 300000);
	assert_int_equal(breaker_parse("max-open=2s", NULL, &cfg, err, sizeof(err)), 0);
	assert_int_equal(cfg.open_base_ms, 2000);
	assert_int_equal(cfg.open_max_ms, 2000);
}

static void test_parse_refuses(void **unused)
{
	static const struct {
		const char *text, *error;
	} bad[] = {
		{ "", "invalid --breaker setting ''" },
		{ "off", "invalid --breaker setting 'off'" },
		{ "windows=10", "invalid --breaker setting 'windows'" },
		{ "window", "invalid --breaker setting 'window'" },
		{ "window=", "invalid --breaker setting 'window'" },
		{ "window=10,,failure=5", "invalid --breaker setting ''" },
		{ "window=10,window=20", "window given twice" },
		{ "window=0", "invalid --breaker window '0'" },
		{ "window=1001", "invalid --breaker window '1001'" },
		{ "window=601s", "invalid --breaker window '601'" },
		{ "failure=0", "invalid --breaker failure '0'" },
		{ "failure=101", "invalid --breaker failure '101'" },
		{ "open=0", "invalid --breaker open '0'" },
		{ "open=10s,max-open=5s", "must not be below the base" },
		{ "multiplier=0.5", "invalid --breaker multiplier '0.5'" },
		{ "jitter=1.5", "invalid --breaker jitter '1.5'" },
		{ "jitter=1", "expected a number from 0 to below 1" },
		{ "jitter=0.99999", "invalid --breaker jitter '0.99999'" },
		{ "jitter=abc", "invalid --breaker jitter 'abc'" },
		{ "window=10,min-calls=11", "must not exceed the window" },
	};
	char err[256];

	(void)unused;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct breaker_config cfg = { .window_size = 4242 };

		err[0] = '\0';
		if (breaker_parse(bad[i].text, NULL, &cfg, err, sizeof(err)) != -1 ||
		    !strstr(err, bad[i].error))
			fail_msg("breaker_parse(\"%s\"): got \"%s\", want \"%s\"", bad[i].text, err,
				 bad[i].error);
		assert_int_equal(cfg.window_size, 4242);	/* untouched */
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_failure_storm_opens_at_minimum_calls),
		cmocka_unit_test(test_not_before_minimum_calls),
		cmocka_unit_test(test_failure_rate_crosses_threshold),
		cmocka_unit_test(test_slow_calls_trip_on_slow_rate),
		cmocka_unit_test(test_open_to_half_open_after_open_time),
		cmocka_unit_test(test_half_open_budget),
		cmocka_unit_test(test_half_open_success_closes),
		cmocka_unit_test(test_half_open_failure_reopens_longer),
		cmocka_unit_test(test_half_open_ignores_outcomes_not_of_probes),
		cmocka_unit_test(test_half_open_times_out),
		cmocka_unit_test(test_backoff_grows_and_caps),
		cmocka_unit_test(test_backoff_sequence_at_defaults),
		cmocka_unit_test(test_seeded_jitter_is_reproducible),
		cmocka_unit_test(test_count_window_forgets_older_calls),
		cmocka_unit_test(test_time_window_forgets_older_calls),
		cmocka_unit_test(test_time_window_gaps),
		cmocka_unit_test(test_property_windows_match_brute_force),
		cmocka_unit_test(test_forced_open_until_reset),
		cmocka_unit_test(test_disabled_admits_everything),
		cmocka_unit_test(test_reset_forgets_backoff),
		cmocka_unit_test(test_transitions_ring),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_config_check),
		cmocka_unit_test(test_parse_and_format),
		cmocka_unit_test(test_parse_refuses),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
