// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Unit tests for the controller's pure parts on a fake clock: the smoothed
 * rates (user/rates.c) and what a controller record says of its health
 * (user/controller.c).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <unistd.h>
#include <cmocka.h>

#include "controller.h"
#include "rates.h"
#include "testing.h"

#define SEC 1000000000ull
#define MS 1000000ull

#define ASSERT_NEAR(got, want, tolerance, what)                                             \
	do {                                                                                \
		double got_ = (got), want_ = (want);                                        \
		if (fabs(got_ - want_) > (tolerance))                                       \
			fail_msg("%s: got %.6f, want %.6f (+-%g)", (what), got_, want_,     \
				 (double)(tolerance));                                      \
	} while (0)

/* The first reading is a baseline; the second gives the rate it saw, unsmoothed. */
static void test_rate_first_readings(void **unused)
{
	struct rate r = {};

	(void)unused;
	rate_update(&r, 1000, 5 * SEC, RATE_TAU_NS);
	ASSERT_NEAR(r.per_second, 0, 0, "no rate from one reading");
	rate_update(&r, 1050, 5 * SEC + 50 * MS, RATE_TAU_NS);
	ASSERT_NEAR(r.per_second, 1000, 1e-9, "50 in 50ms is 1000/s");
}

/* A steady counter gives its rate whatever the tick, and however long it runs. */
static void test_rate_steady(void **unused)
{
	static const __u64 ticks_ms[] = { 10, 50, 200, 1000 };	/* whole packets per tick */

	(void)unused;
	for (size_t t = 0; t < sizeof(ticks_ms) / sizeof(ticks_ms[0]); t++) {
		struct rate r = {};
		__u64 now = 0, count = 0;

		for (int i = 0; i < 200; i++) {
			rate_update(&r, count, now, RATE_TAU_NS);
			now += ticks_ms[t] * MS;
			count += 2500 * ticks_ms[t] / 1000;	/* 2500/s */
		}
		ASSERT_NEAR(r.per_second, 2500, 1e-6, "a steady 2500/s");
	}
}

/*
 * A step from 0 to 1000/s shows 1 - e^-1 of its size after one tau and
 * 1 - e^-3 after three, the same at a 10ms and a 100ms tick: the smoothing
 * follows time, not the number of readings.
 */
static void test_rate_step_follows_time(void **unused)
{
	static const __u64 ticks_ms[] = { 10, 100 };

	(void)unused;
	for (size_t t = 0; t < 2; t++) {
		__u64 tick = ticks_ms[t] * MS, now = 0, count = 0;
		struct rate r = {};

		rate_update(&r, 0, now, RATE_TAU_NS);
		now += tick;
		rate_update(&r, 0, now, RATE_TAU_NS);	/* rated: 0/s */
		for (__u64 elapsed = 0; elapsed < 3 * RATE_TAU_NS; elapsed += tick) {
			now += tick;
			count += 1000 * ticks_ms[t] / 1000;
			rate_update(&r, count, now, RATE_TAU_NS);
			if (elapsed + tick == RATE_TAU_NS)
				ASSERT_NEAR(r.per_second, 1000 * (1 - exp(-1)), 1e-6,
					    "one tau after the step");
		}
		ASSERT_NEAR(r.per_second, 1000 * (1 - exp(-3)), 1e-6, "three taus after the step");
	}
}

/* A counter that went back (a map made anew) or a stopped clock keeps the rate. */
static void test_rate_restarts(void **unused)
{
	struct rate r = {};

	(void)unused;
	rate_update(&r, 0, 0, RATE_TAU_NS);
	rate_update(&r, 100, 100 * MS, RATE_TAU_NS);
	ASSERT_NEAR(r.per_second, 1000, 1e-9, "1000/s");
	rate_update(&r, 5, 200 * MS, RATE_TAU_NS);
	ASSERT_NEAR(r.per_second, 1000, 1e-9, "a counter that went back changes nothing");
	rate_update(&r, 900, 200 * MS, RATE_TAU_NS);
	ASSERT_NEAR(r.per_second, 1000, 1e-9, "no time passed: nothing changes");
	/* From the new baseline (5 at 200ms, then 900 at 200ms): 1000 more in 1s. */
	rate_update(&r, 1900, 1200 * MS, RATE_TAU_NS);
	ASSERT_NEAR(r.per_second, 1000, 1e-9, "counted on from the last reading");
}

static void test_controller_health(void **unused)
{
	struct sluice_controller rec = {};
	__u64 now = 100 * SEC;

	(void)unused;
	assert_int_equal(controller_health(&rec, now), CONTROLLER_NEVER_RAN);
	rec = (struct sluice_controller){ .pid = (__u32)getpid(), .started_ns = 50 * SEC,
					  .heartbeat_ns = now - 200 * MS, .lease_ns = 200 * MS };
	assert_int_equal(controller_health(&rec, now), CONTROLLER_RUNNING);
	/* This process lives: a heartbeat older than the lease is a hung controller. */
	rec.heartbeat_ns = now - 200 * MS - 1;
	assert_int_equal(controller_health(&rec, now), CONTROLLER_HUNG);
	rec.heartbeat_ns = 0;
	assert_int_equal(controller_health(&rec, now), CONTROLLER_HUNG);
	/* A heartbeat from the future (a clock ahead, in a time namespace) is none. */
	rec.heartbeat_ns = now + 1;
	assert_int_equal(controller_health(&rec, now), CONTROLLER_HUNG);
	/* No process has this pid (above pid_max's greatest value, 2^22)... */
	rec.pid = (1u << 22) + 1;
	assert_int_equal(controller_health(&rec, now), CONTROLLER_DIED);
	/* ...which counts before a heartbeat still within its lease. */
	rec.heartbeat_ns = now;
	assert_int_equal(controller_health(&rec, now), CONTROLLER_DIED);
	rec.pid = 0;
	assert_int_equal(controller_health(&rec, now), CONTROLLER_STOPPED);
	assert_string_equal(controller_health_name(CONTROLLER_HUNG), "not responding");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rate_first_readings),
		cmocka_unit_test(test_rate_steady),
		cmocka_unit_test(test_rate_step_follows_time),
		cmocka_unit_test(test_rate_restarts),
		cmocka_unit_test(test_controller_health),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
