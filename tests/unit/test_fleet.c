// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Unit tests of the fleet-wide limits' arithmetic (user/fleet.c): each
 * host's share of what remains of a window's budget, the fallbacks, the
 * choice of hot keys (against a brute-force sort), and a simulated fleet of
 * hosts, each with its own token bucket, syncing with a shared counter as
 * they would through Redis: the fleet stays within the documented bound in
 * every window, and uses most of its budget when the demand is there.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "fleet.h"
#include "seeded.h"
#include "testing.h"

#define NEAR(a, b) assert_true(fabs((double)(a) - (double)(b)) < 1e-9 * (1 + fabs((double)(b))))

static void test_shares_add_up_to_what_remains(void **unused)
{
	struct fleet_window w = { .rate = 100, .window_s = 1, .elapsed_s = 0.25, .fleet_used = 40,
				  .hosts = 3 };

	(void)unused;
	/* 60 remain for 0.75 s: each of 3 hosts 20 over 0.75 s. */
	NEAR(fleet_local_rate(&w), 20 / 0.75);
	NEAR(3 * fleet_local_rate(&w) * (w.window_s - w.elapsed_s), 100 - 40);
	/* At the window's start, alone: the whole rate. */
	w = (struct fleet_window){ .rate = 100, .window_s = 1, .hosts = 1 };
	NEAR(fleet_local_rate(&w), 100);
	/* hosts 0 counts as 1. */
	w.hosts = 0;
	NEAR(fleet_local_rate(&w), 100);
	/* A longer window spreads the same rate. */
	w = (struct fleet_window){ .rate = 100, .window_s = 10, .elapsed_s = 5, .fleet_used = 500,
				   .hosts = 2 };
	NEAR(fleet_local_rate(&w), 500.0 / 2 / 5);
}

static void test_spent_budget_blocks_until_the_window_ends(void **unused)
{
	struct fleet_window w = { .rate = 100, .window_s = 1, .elapsed_s = 0.5, .fleet_used = 100,
				  .hosts = 3 };

	(void)unused;
	assert_true(fleet_local_rate(&w) == 0);
	w.fleet_used = 250;	/* over: still 0, never negative */
	assert_true(fleet_local_rate(&w) == 0);
	/* A sync at (or past) the window's end: the full rate's pace, shared. */
	w = (struct fleet_window){ .rate = 90, .window_s = 1, .elapsed_s = 1, .fleet_used = 10,
				   .hosts = 3 };
	NEAR(fleet_local_rate(&w), 30);
	w.elapsed_s = 1.5;
	NEAR(fleet_local_rate(&w), 30);
}

static void test_fallbacks(void **unused)
{
	enum fleet_fallback mode = FLEET_FALLBACK_LOCAL;
	char err[256];

	(void)unused;
	NEAR(fleet_fallback_rate(100, 4, FLEET_FALLBACK_SHARE), 25);
	NEAR(fleet_fallback_rate(100, 0, FLEET_FALLBACK_SHARE), 100);
	NEAR(fleet_fallback_rate(100, 4, FLEET_FALLBACK_LOCAL), 100);
	assert_int_equal(fleet_fallback_parse("share", &mode, err, sizeof(err)), 0);
	assert_int_equal(mode, FLEET_FALLBACK_SHARE);
	assert_int_equal(fleet_fallback_parse("local", &mode, err, sizeof(err)), 0);
	assert_int_equal(mode, FLEET_FALLBACK_LOCAL);
	assert_int_equal(fleet_fallback_parse("Share", &mode, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "invalid --fleet-fallback 'Share'"));
	assert_int_equal(mode, FLEET_FALLBACK_LOCAL);	/* untouched */
	assert_string_equal(fleet_fallback_name(FLEET_FALLBACK_SHARE), "share");
	assert_string_equal(fleet_fallback_name(FLEET_FALLBACK_LOCAL), "local");
	NEAR(fleet_overshoot_bound(100, 3, 10, 0.05, 2), 3 * 10 + 100 * 0.05 + 2);
}

static void test_hot_keys_by_heat(void **unused)
{
	const struct fleet_key keys[] = {
		{ .id = 10, .rate = 50, .limit = 100 },		/* 0.5 */
		{ .id = 11, .rate = 5, .limit = 100 },		/* 0.05: under the threshold */
		{ .id = 12, .rate = 90, .limit = 100 },		/* 0.9 */
		{ .id = 13, .rate = 30, .limit = 10 },		/* 3.0: over its limit here alone */
		{ .id = 14, .rate = 50, .limit = 100 },		/* 0.5, a tie with 10 */
		{ .id = 15, .rate = 50, .limit = 0 },		/* no limit: never */
	};
	size_t out[6];

	(void)unused;
	assert_int_equal(fleet_hot_keys(keys, 6, 0.1, 6, out), 4);
	assert_int_equal(keys[out[0]].id, 13);
	assert_int_equal(keys[out[1]].id, 12);
	assert_int_equal(keys[out[2]].id, 10);	/* the tie goes to the smaller id */
	assert_int_equal(keys[out[3]].id, 14);
	/* At most max_keys, the hottest. */
	assert_int_equal(fleet_hot_keys(keys, 6, 0.1, 2, out), 2);
	assert_int_equal(keys[out[0]].id, 13);
	assert_int_equal(keys[out[1]].id, 12);
	assert_int_equal(fleet_hot_keys(keys, 6, 0.1, 0, out), 0);
	assert_int_equal(fleet_hot_keys(keys, 0, 0.1, 6, out), 0);
	/* Threshold 0: every key with a limit. */
	assert_int_equal(fleet_hot_keys(keys, 6, 0, 6, out), 5);
}

static int by_heat_then_id(const void *a, const void *b)
{
	const struct fleet_key *x = a, *y = b;
	double hx = x->rate / x->limit, hy = y->rate / y->limit;

	if (hx != hy)
		return hx > hy ? -1 : 1;
	return x->id < y->id ? -1 : x->id > y->id;
}

/* Against a brute-force sort, on random tables with ties. */
static void test_hot_keys_match_a_sort(void **unused)
{
	enum { N = 2000 };
	static struct fleet_key keys[N], sorted[N];
	static size_t out[N];
	__u64 rng = 42;

	(void)unused;
	for (int round = 0; round < 50; round++) {
		size_t count = 1 + seeded_next(&rng) % N, max_keys = seeded_next(&rng) % 300, want = 0;
		double min_fraction = (double)(seeded_next(&rng) % 100) / 100;
		size_t got;

		for (size_t i = 0; i < count; i++) {
			keys[i].id = i;
			keys[i].rate = (double)(seeded_next(&rng) % 50);	/* ties on purpose */
			keys[i].limit = 10 + (double)(seeded_next(&rng) % 3) * 10;
		}
		for (size_t i = 0; i < count; i++)
			if (keys[i].rate / keys[i].limit >= min_fraction)
				sorted[want++] = keys[i];
		qsort(sorted, want, sizeof(sorted[0]), by_heat_then_id);
		if (want > max_keys)
			want = max_keys;
		got = fleet_hot_keys(keys, count, min_fraction, max_keys, out);
		assert_int_equal(got, want);
		for (size_t i = 0; i < got; i++)
			assert_int_equal(keys[out[i]].id, sorted[i].id);
	}
}

/*
 * A fleet of HOSTS, each a token bucket (burst BURST) whose rate the fleet
 * arithmetic sets on every sync, every SYNC_MS, staggered; a shared counter
 * per window stands for Redis (INCRBY returns the total). Each host wants
 * more than its share, unevenly. Time moves in 1 ms steps.
 */
enum { HOSTS = 3, SYNC_MS = 50, WINDOWS = 20 };
#define RATE 1000.0
#define BURST 20.0

struct sim_host {
	double rate, tokens, unsynced, demand_per_ms;
	int sync_offset_ms;
	bool joined;
};

static void simulate(struct sim_host *h, int join_ms_of_host2, double *used_per_window,
		     double demand_scale)
{
	double counter = 0;
	int window = 0;

	for (int i = 0; i < HOSTS; i++) {
		h[i].rate = RATE / HOSTS;
		h[i].tokens = BURST;
		h[i].unsynced = 0;
		h[i].sync_offset_ms = i * SYNC_MS / HOSTS;
		h[i].demand_per_ms = demand_scale * RATE / 1000 * (i == 0 ? 3 : i == 1 ? 1 : 0.5);
		h[i].joined = i != 2 || join_ms_of_host2 == 0;
	}
	for (int ms = 0; ms < WINDOWS * 1000; ms++) {
		unsigned int hosts = 0;

		if (ms / 1000 != window) {
			used_per_window[window++] = counter;
			counter = 0;	/* a new window: a new key */
		}
		if (ms == join_ms_of_host2)
			h[2].joined = true;
		for (int i = 0; i < HOSTS; i++)
			hosts += h[i].joined;
		for (int i = 0; i < HOSTS; i++) {
			struct sim_host *x = &h[i];
			double pass;

			if (!x->joined)
				continue;
			x->tokens = fmin(BURST, x->tokens + x->rate / 1000);
			pass = fmin(x->tokens, x->demand_per_ms);
			x->tokens -= pass;
			x->unsynced += pass;
			/* The counter sees a host's traffic when it syncs (and at the window's end). */
			if ((ms + x->sync_offset_ms) % SYNC_MS == 0 || ms % 1000 == 999) {
				struct fleet_window w = { .rate = RATE, .window_s = 1,
							  .elapsed_s = (ms % 1000 + 1) / 1000.0,
							  .hosts = hosts };

				counter += x->unsynced;
				x->unsynced = 0;
				w.fleet_used = counter;
				x->rate = fleet_local_rate(&w);
			}
		}
	}
	used_per_window[window] = counter;
}

static void test_simulated_fleet_stays_within_the_bound(void **unused)
{
	struct sim_host h[HOSTS];
	double used[WINDOWS + 1];
	/* Hosts in step, clocks agreed: only the buckets' bursts can overshoot. */
	double bound = RATE * 1 + fleet_overshoot_bound(RATE, HOSTS, BURST, 0, 0);

	(void)unused;
	simulate(h, 0, used, 1.0);
	for (int w = 0; w < WINDOWS; w++) {
		if (used[w] > bound + 1e-6)
			fail_msg("window %d: the fleet passed %.1f, over the bound %.1f", w, used[w],
				 bound);
		/* Demand of 4.5x the rate: the fleet uses nearly all its budget. */
		if (w > 0 && used[w] < 0.95 * RATE)
			fail_msg("window %d: the fleet passed only %.1f of %.0f", w, used[w], RATE);
	}
}

static void test_simulated_join_mid_window(void **unused)
{
	struct sim_host h[HOSTS];
	double used[WINDOWS + 1];
	/* A host joining mid-window: up to one sync interval of its share on top. */
	double late = RATE / HOSTS * SYNC_MS / 1000.0;
	double bound = RATE + fleet_overshoot_bound(RATE, HOSTS, BURST, 0, late);

	(void)unused;
	simulate(h, 5500, used, 1.0);
	for (int w = 0; w < WINDOWS; w++)
		if (used[w] > bound + 1e-6)
			fail_msg("window %d: the fleet passed %.1f, over the bound %.1f", w, used[w],
				 bound);
}

/* Each host under its share: none is held back, the fleet passes what it is asked. */
static void test_simulated_light_demand_passes(void **unused)
{
	struct sim_host h[HOSTS];
	double used[WINDOWS + 1], asked = 0.1 * RATE * (3 + 1 + 0.5);

	(void)unused;
	simulate(h, 0, used, 0.1);
	for (int w = 1; w < WINDOWS; w++)
		if (fabs(used[w] - asked) > 0.02 * asked)
			fail_msg("window %d: passed %.1f, asked %.1f", w, used[w], asked);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_shares_add_up_to_what_remains),
		cmocka_unit_test(test_spent_budget_blocks_until_the_window_ends),
		cmocka_unit_test(test_fallbacks),
		cmocka_unit_test(test_hot_keys_by_heat),
		cmocka_unit_test(test_hot_keys_match_a_sort),
		cmocka_unit_test(test_simulated_fleet_stays_within_the_bound),
		cmocka_unit_test(test_simulated_join_mid_window),
		cmocka_unit_test(test_simulated_light_demand_passes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
