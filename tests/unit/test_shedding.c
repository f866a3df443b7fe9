// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Unit tests for load shedding's pure parts (user/shedding.c) on an injected
 * clock: the shed level's hysteresis and dwell times as golden sequences of
 * exact tick times, property checks over seeded random pressure, what each
 * level tells the data path, and the settings' checks. Also the CPU times
 * that pressure is made of (user/pressure.c), from /proc/stat's text.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "pressure.h"
#include "shedding.h"
#include "testing.h"

#define SEC 1000000000ull
#define MS 1000000ull
/* The controller's clock is CLOCK_MONOTONIC: never zero, so start well past it. */
#define T0 (100 * SEC)
#define TICK (50 * MS)

/*
 * enter 90%, exit 70%, 1 s up, 2 s down, 4 levels: the defaults, spelled
 * out; then the tests' own dwell up, 500 ms, unlike the way down's.
 */
static struct sluice_shed_config config(void)
{
	struct sluice_shed_config cfg;

	shed_config_defaults(&cfg);
	assert_int_equal(cfg.enter_pct, 90);
	assert_int_equal(cfg.exit_pct, 70);
	assert_int_equal(cfg.enter_dwell_ms, 1000);
	assert_int_equal(cfg.exit_dwell_ms, 2000);
	assert_int_equal(cfg.levels, 4);
	cfg.enter_dwell_ms = 500;
	return cfg;
}

/* One reading; checks whether it moved the level and where it stands after. */
#define EXPECT_STEP(s, cfg, pressure, now, want_moved, want_level)                         \
	do {                                                                                \
		__u64 now_ = (now);                                                         \
		bool moved_ = shed_update((s), (cfg), (pressure), now_);                    \
		if (moved_ != (want_moved) || (s)->level != (unsigned int)(want_level))     \
			fail_msg("pressure %.2f%% at T0%+lld ns: got moved %d level %u, "   \
				 "want moved %d level %u",                                  \
				 (double)(pressure), (long long)(now_ - T0), moved_,         \
				 (s)->level, (int)(want_moved), (unsigned int)(want_level)); \
	} while (0)

/*
 * Feeds `pressure` every TICK from `from` up to and including `to`, and
 * returns how many times the level moved and the time of the last move.
 */
static unsigned int hold(struct shed_state *s, const struct sluice_shed_config *cfg,
			 double pressure, __u64 from, __u64 to, __u64 *last_move)
{
	unsigned int moves = 0;

	for (__u64 t = from; t <= to; t += TICK) {
		if (shed_update(s, cfg, pressure, t)) {
			moves++;
			if (last_move)
				*last_move = t;
		}
	}
	return moves;
}

/* Drives a fresh state up to `level` with pressure 100, one dwell per step; returns the time. */
static __u64 raise_to(struct shed_state *s, const struct sluice_shed_config *cfg,
		      unsigned int level)
{
	__u64 t = T0;

	*s = (struct shed_state){};
	shed_update(s, cfg, 100, t);
	for (unsigned int l = 1; l <= level; l++) {
		t += (__u64)cfg->enter_dwell_ms * MS;
		shed_update(s, cfg, 100, t);
		assert_int_equal(s->level, l);
	}
	return t;
}

/* ---- Hysteresis and dwell: golden sequences ------------------------------ */

/* Above enter for less than the dwell: nothing; exactly at it: one step, no more. */
static void test_enter_dwell_exact(void **unused)
{
	struct sluice_shed_config cfg = config();
	struct shed_state s = {};

	(void)unused;
	EXPECT_STEP(&s, &cfg, 95, T0, false, 0);
	EXPECT_STEP(&s, &cfg, 95, T0 + 250 * MS, false, 0);
	EXPECT_STEP(&s, &cfg, 95, T0 + 500 * MS - 1, false, 0);
	EXPECT_STEP(&s, &cfg, 95, T0 + 500 * MS, true, 1);
	assert_int_equal(s.changed_ns, T0 + 500 * MS);
	/* The next step counts its dwell from the last one, not from T0. */
	EXPECT_STEP(&s, &cfg, 95, T0 + 500 * MS, false, 1);
	EXPECT_STEP(&s, &cfg, 95, T0 + 1000 * MS - 1, false, 1);
	EXPECT_STEP(&s, &cfg, 95, T0 + 1000 * MS, true, 2);
	assert_int_equal(s.changed_ns, T0 + 1000 * MS);
}

/* Exactly enter counts as above it, exactly exit as below it. */
static void test_thresholds_are_inclusive(void **unused)
{
	struct sluice_shed_config cfg = config();
	struct shed_state s = {};

	(void)unused;
	EXPECT_STEP(&s, &cfg, 90, T0, false, 0);
	EXPECT_STEP(&s, &cfg, 90, T0 + 500 * MS, true, 1);
	EXPECT_STEP(&s, &cfg, 70, T0 + 600 * MS, false, 1);
	EXPECT_STEP(&s, &cfg, 70, T0 + 2600 * MS, true, 0);

	s = (struct shed_state){};
	EXPECT_STEP(&s, &cfg, 89.99, T0, false, 0);
	EXPECT_STEP(&s, &cfg, 89.99, T0 + 10 * SEC, false, 0);
	raise_to(&s, &cfg, 1);
	EXPECT_STEP(&s, &cfg, 70.01, T0 + SEC, false, 1);
	EXPECT_STEP(&s, &cfg, 70.01, T0 + 20 * SEC, false, 1);
}

/* Pressure held at 100: a step every 500 ms from T0, up to the fourth and never past it. */
static void test_golden_rise_to_the_top(void **unused)
{
	static const __u64 want_ms[] = { 500, 1000, 1500, 2000 };
	struct sluice_shed_config cfg = config();
	struct shed_state s = {};
	unsigned int moves = 0;

	(void)unused;
	for (__u64 t = T0; t <= T0 + 10 * SEC; t += TICK) {
		unsigned int before = s.level;

		if (!shed_update(&s, &cfg, 100, t))
			continue;
		if (moves >= 4)
			fail_msg("a fifth move at T0+%llu ms, to level %u",
				 (unsigned long long)(t - T0) / MS, s.level);
		assert_int_equal(t - T0, want_ms[moves] * MS);
		assert_int_equal(s.level, before + 1);
		moves++;
	}
	assert_int_equal(moves, 4);
	assert_int_equal(s.level, cfg.levels);
}

/* Below exit: one step down every exit dwell, down to 0 and not below. */
static void test_golden_fall_to_zero(void **unused)
{
	struct sluice_shed_config cfg = config();
	struct shed_state s;
	__u64 top = raise_to(&s, &cfg, 3), t;
	unsigned int moves = 0;
	__u64 want = top + TICK;	/* the first low reading starts the dwell */

	(void)unused;
	for (t = top + TICK; t <= top + 20 * SEC; t += TICK) {
		unsigned int before = s.level;

		if (!shed_update(&s, &cfg, 10, t))
			continue;
		want += 2000 * MS;
		assert_int_equal(t, want);
		assert_int_equal(s.level, before - 1);
		moves++;
	}
	assert_int_equal(moves, 3);
	assert_int_equal(s.level, 0);
	EXPECT_STEP(&s, &cfg, 0, t + 10 * SEC, false, 0);
}

/* Between the thresholds the level holds, however long, and any dwell starts afresh. */
static void test_between_thresholds_holds_and_restarts_dwell(void **unused)
{
	struct sluice_shed_config cfg = config();
	struct shed_state s = {};
	__u64 top;

	(void)unused;
	/* 450 ms above, one reading between, then above again: the dwell counts from then. */
	assert_int_equal(hold(&s, &cfg, 95, T0, T0 + 450 * MS, NULL), 0);
	EXPECT_STEP(&s, &cfg, 80, T0 + 500 * MS, false, 0);
	EXPECT_STEP(&s, &cfg, 95, T0 + 550 * MS, false, 0);
	EXPECT_STEP(&s, &cfg, 95, T0 + 1050 * MS - 1, false, 0);
	EXPECT_STEP(&s, &cfg, 95, T0 + 1050 * MS, true, 1);

	/* Held at level 2 for a minute between the thresholds. */
	top = raise_to(&s, &cfg, 2);
	assert_int_equal(hold(&s, &cfg, 80, top + TICK, top + 60 * SEC, NULL), 0);
	assert_int_equal(s.level, 2);

	/* Down: 1.95 s below exit, one reading between, then the 2 s start over. */
	top += 60 * SEC;
	assert_int_equal(hold(&s, &cfg, 50, top, top + 1950 * MS, NULL), 0);
	EXPECT_STEP(&s, &cfg, 80, top + 2000 * MS, false, 2);
	EXPECT_STEP(&s, &cfg, 50, top + 2050 * MS, false, 2);
	EXPECT_STEP(&s, &cfg, 50, top + 4050 * MS - 1, false, 2);
	EXPECT_STEP(&s, &cfg, 50, top + 4050 * MS, true, 1);
}

/*
 * Above enter in runs of 10 readings (450 ms) with a dip below it between
 * runs: never a step, for a minute. Runs of 11 (500 ms) do step: the
 * boundary, from both sides.
 */
static void test_dips_below_enter_never_raise(void **unused)
{
	struct sluice_shed_config cfg = config();

	(void)unused;
	for (unsigned int run = 10; run <= 11; run++) {
		struct shed_state s = {};
		unsigned int moves = 0, i = 0;

		for (__u64 t = T0; t < T0 + 60 * SEC; t += TICK, i++)
			moves += shed_update(&s, &cfg, i % (run + 1) == run ? 89 : 95, t);
		if (run == 10) {
			assert_int_equal(moves, 0);
			assert_int_equal(s.level, 0);
		} else {
			/* The first run reaches level 1 at its 11th reading; each later run one more. */
			assert_int_equal(moves, cfg.levels);
			assert_int_equal(s.level, cfg.levels);
		}
	}
}

/*
 * Noise around one threshold does not flap: 60 s of 50 ms ticks alternating
 * 85/95 around enter 90 never steps up; 65/75 around exit 70 at level 2
 * never steps down; and 65/95, across both, never moves either way.
 */
static void test_noise_does_not_flap(void **unused)
{
	static const struct {
		double a, b;
		unsigned int start_level;
	} cases[] = {
		{ 85, 95, 0 }, { 85, 95, 2 }, { 65, 75, 2 }, { 65, 95, 0 }, { 65, 95, 2 },
	};
	struct sluice_shed_config cfg = config();

	(void)unused;
	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		struct shed_state s;
		__u64 start = raise_to(&s, &cfg, cases[c].start_level) + TICK;
		unsigned int moves = 0, i = 0;

		for (__u64 t = start; t < start + 60 * SEC; t += TICK, i++)
			moves += shed_update(&s, &cfg, i % 2 ? cases[c].b : cases[c].a, t);
		if (moves != 0 || s.level != cases[c].start_level)
			fail_msg("%.0f/%.0f from level %u: %u moves, level %u", cases[c].a,
				 cases[c].b, cases[c].start_level, moves, s.level);
	}
}

/* `off` forces level 0 at once and holds it; turned back on, a rise takes a fresh dwell. */
static void test_off_forces_zero(void **unused)
{
	struct sluice_shed_config cfg = config();
	struct shed_state s;
	__u64 t = raise_to(&s, &cfg, 3);

	(void)unused;
	cfg.off = 1;
	EXPECT_STEP(&s, &cfg, 100, t + TICK, true, 0);
	assert_int_equal(s.changed_ns, t + TICK);
	assert_int_equal(hold(&s, &cfg, 100, t + 2 * TICK, t + 10 * SEC, NULL), 0);
	assert_int_equal(s.level, 0);
	cfg.off = 0;
	t += 20 * SEC;
	EXPECT_STEP(&s, &cfg, 100, t, false, 0);
	EXPECT_STEP(&s, &cfg, 100, t + 500 * MS - 1, false, 0);
	EXPECT_STEP(&s, &cfg, 100, t + 500 * MS, true, 1);
}

/* Fewer levels configured: the level comes down to the new top at once, whatever the pressure. */
static void test_fewer_levels_come_down_at_once(void **unused)
{
	static const double pressures[] = { 100, 80, 0 };
	struct sluice_shed_config cfg = config();

	(void)unused;
	for (size_t p = 0; p < 3; p++) {
		struct shed_state s;
		__u64 t = raise_to(&s, &cfg, 4);

		cfg.levels = 2;
		EXPECT_STEP(&s, &cfg, pressures[p], t + TICK, true, 2);
		/* And it never climbs past the new top. */
		hold(&s, &cfg, 100, t + 2 * TICK, t + 10 * SEC, NULL);
		assert_int_equal(s.level, 2);
		cfg.levels = 4;
	}
}

/* ---- Hysteresis: properties over seeded random pressure ------------------ */

/*
 * Random pressure (runs of readings near or across the thresholds) at random
 * tick lengths. Every reading is checked against the specification:
 *  - the level stays in [0, levels] and moves by at most one;
 *  - it rises only on a reading at or above enter, after pressure has been
 *    there without a break for the enter dwell, counted from the later of
 *    that run's start and the previous rise (likewise down, with exit);
 *  - and it does rise (fall) as soon as that holds, below the top (above 0).
 */
static void test_property_random_pressure(void **unused)
{
	struct sluice_shed_config cfg = config();

	(void)unused;
	for (__u64 seed = 1; seed <= 20; seed++) {
		__u64 rng = seed, t = T0, above_run = 0, below_run = 0, last_up = 0, last_down = 0;
		struct shed_state s = {};
		double pressure = 50;

		cfg.levels = 1 + seed % SLUICE_MAX_SHED_LEVELS;
		for (int i = 0; i < 20000; i++) {
			unsigned int before = s.level;
			__u64 r = test_rng_next(&rng);
			__u64 up_from, down_from;
			bool moved, may_up, may_down;

			t += (10 + r % 91) * MS;			/* 10 to 100 ms */
			if ((r >> 8) % 8 == 0)				/* now and then a new level */
				pressure = (double)((r >> 16) % 121);	/* 0 to 120 % */
			else if ((r >> 8) % 8 == 1)			/* or a blip */
				pressure += (double)((r >> 24) % 41) - 20;
			if (pressure >= cfg.enter_pct)
				above_run = above_run ? above_run : t;
			else
				above_run = 0;
			if (pressure <= cfg.exit_pct)
				below_run = below_run ? below_run : t;
			else
				below_run = 0;
			up_from = above_run > last_up ? above_run : last_up;
			down_from = below_run > last_down ? below_run : last_down;
			may_up = above_run && t - up_from >= cfg.enter_dwell_ms * MS &&
				 before < cfg.levels;
			may_down = below_run && t - down_from >= cfg.exit_dwell_ms * MS && before > 0;

			moved = shed_update(&s, &cfg, pressure, t);
			if (s.level > cfg.levels)
				fail_msg("seed %llu reading %d: level %u over %u",
					 (unsigned long long)seed, i, s.level, cfg.levels);
			if (moved != (s.level != before))
				fail_msg("seed %llu reading %d: says moved %d, level %u -> %u",
					 (unsigned long long)seed, i, moved, before, s.level);
			if (s.level != before + may_up && s.level != before - may_down)
				fail_msg("seed %llu reading %d (pressure %.0f%%): level %u -> %u, "
					 "want %u (up %d, down %d)",
					 (unsigned long long)seed, i, pressure, before, s.level,
					 before + may_up - may_down, may_up, may_down);
			if (s.level == before + 1)
				last_up = t;
			if (s.level + 1 == before)
				last_down = t;
		}
	}
}

/* ---- What each level drops --------------------------------------------- */

/* drop_below = share * 2^32 / 100: the default table, level by level. */
static void test_level_map_defaults(void **unused)
{
	static const __u64 want[SLUICE_MAX_SHED_LEVELS][SLUICE_CLASSES] = {
		/* low, normal, high, critical */
		{ 0x80000000ull, 0, 0, 0 },			/* 50 0 0 0 */
		{ SLUICE_SHARE_ALL, 0, 0, 0 },			/* 100 0 0 0 */
		{ SLUICE_SHARE_ALL, 0x40000000ull, 0, 0 },	/* 100 25 0 0 */
		{ SLUICE_SHARE_ALL, 0x80000000ull, 429496729ull, 0 },	/* 100 50 10 0 */
	};
	struct sluice_shed_config cfg = config();
	struct sluice_shed out;

	(void)unused;
	assert_int_equal(SLUICE_SHARE_ALL, 4294967296ull);
	for (unsigned int level = 1; level <= SLUICE_MAX_SHED_LEVELS; level++) {
		memset(&out, 0xa5, sizeof(out));
		shed_level_map(&cfg, level, &out);
		assert_int_equal(out.level, level);
		assert_int_equal(out.pad, 0);
		for (unsigned int c = 0; c < SLUICE_CLASSES; c++)
			if (out.drop_below[c] != want[level - 1][c])
				fail_msg("level %u class %u: drop_below %llu, want %llu", level, c,
					 (unsigned long long)out.drop_below[c],
					 (unsigned long long)want[level - 1][c]);
	}
}

/* Shares that do not divide 2^32 evenly round down; critical is 0 even when a share says not. */
static void test_level_map_exact_shares(void **unused)
{
	struct sluice_shed_config cfg = config();
	struct sluice_shed out;

	(void)unused;
	cfg.levels = 2;
	cfg.share_pct[0][SLUICE_CLASS_LOW] = 1;
	cfg.share_pct[0][SLUICE_CLASS_NORMAL] = 33;
	cfg.share_pct[0][SLUICE_CLASS_HIGH] = 99;
	cfg.share_pct[0][SLUICE_CLASS_CRITICAL] = 100;	/* refused by the check; ignored here */
	cfg.share_pct[1][SLUICE_CLASS_LOW] = 0;
	cfg.share_pct[1][SLUICE_CLASS_NORMAL] = 100;
	cfg.share_pct[1][SLUICE_CLASS_HIGH] = 100;
	cfg.share_pct[1][SLUICE_CLASS_CRITICAL] = 50;
	shed_level_map(&cfg, 1, &out);
	assert_int_equal(out.drop_below[SLUICE_CLASS_LOW], 42949672ull);	/* 42949672.96 */
	assert_int_equal(out.drop_below[SLUICE_CLASS_NORMAL], 1417339207ull);	/* .68 */
	assert_int_equal(out.drop_below[SLUICE_CLASS_HIGH], 4252017623ull);	/* .04 */
	assert_int_equal(out.drop_below[SLUICE_CLASS_CRITICAL], 0);
	shed_level_map(&cfg, 2, &out);
	assert_int_equal(out.drop_below[SLUICE_CLASS_LOW], 0);
	assert_int_equal(out.drop_below[SLUICE_CLASS_NORMAL], SLUICE_SHARE_ALL);
	assert_int_equal(out.drop_below[SLUICE_CLASS_HIGH], SLUICE_SHARE_ALL);
	assert_int_equal(out.drop_below[SLUICE_CLASS_CRITICAL], 0);
}

/* Level 0, or one past what is configured, drops nothing at all. */
static void test_level_map_out_of_range_is_zero(void **unused)
{
	static const struct sluice_shed zero;
	struct sluice_shed_config cfg = config();
	struct sluice_shed out;

	(void)unused;
	memset(cfg.share_pct, 100, sizeof(cfg.share_pct));
	for (unsigned int level = 0; level <= 6; level += 3) {	/* 0, 3 over 2 levels, 6 over 4 */
		cfg.levels = level == 3 ? 2 : 4;
		memset(&out, 0xa5, sizeof(out));
		shed_level_map(&cfg, level, &out);
		if (memcmp(&out, &zero, sizeof(out)))
			fail_msg("level %u of %u: the map is not all zero", level, cfg.levels);
	}
	/* Even a bogus stored `levels` past the maximum does not index past the table. */
	cfg.levels = 200;
	shed_level_map(&cfg, SLUICE_MAX_SHED_LEVELS + 1, &out);
	assert_memory_equal(&out, &zero, sizeof(out));
}

/* ---- Settings ---------------------------------------------------------- */

static void expect_refused(const struct sluice_shed_config *cfg, const char *why, const char *says)
{
	char err[256] = "";

	if (shed_config_check(cfg, err, sizeof(err)) != -1)
		fail_msg("%s: accepted, want refused", why);
	if (!strstr(err, says))
		fail_msg("%s: error '%s' does not say '%s'", why, err, says);
}

static void expect_accepted(const struct sluice_shed_config *cfg, const char *why)
{
	char err[256] = "";

	if (shed_config_check(cfg, err, sizeof(err)) != 0)
		fail_msg("%s: refused (%s), want accepted", why, err);
}

static void test_config_check(void **unused)
{
	struct sluice_shed_config cfg = config();

	(void)unused;
	expect_accepted(&cfg, "the defaults");

	cfg.exit_pct = cfg.enter_pct;
	expect_refused(&cfg, "exit equal to enter", "exit threshold");
	cfg.exit_pct = cfg.enter_pct + 1;
	expect_refused(&cfg, "exit above enter", "exit threshold");
	cfg.exit_pct = cfg.enter_pct - 1;
	expect_accepted(&cfg, "exit just below enter");
	cfg = config();
	cfg.enter_pct = 0;
	cfg.exit_pct = 0;
	expect_refused(&cfg, "enter 0", "threshold");
	/* Offered load against capacity may pass 100%, so enter may too, up to 1000. */
	cfg.enter_pct = 1000;
	expect_accepted(&cfg, "enter 1000%");
	cfg.enter_pct = 1001;
	expect_refused(&cfg, "enter 1001%", "threshold");

	cfg = config();
	for (unsigned int levels = 0; levels <= SLUICE_MAX_SHED_LEVELS + 1; levels++) {
		cfg.levels = levels;
		if (levels >= 1 && levels <= SLUICE_MAX_SHED_LEVELS)
			expect_accepted(&cfg, "levels in range");
		else
			expect_refused(&cfg, "levels out of range", "levels must be from 1 to 4");
	}

	for (unsigned int l = 0; l < SLUICE_MAX_SHED_LEVELS; l++) {
		for (unsigned int c = 0; c < SLUICE_CLASS_CRITICAL; c++) {
			cfg = config();
			cfg.share_pct[l][c] = 100;
			expect_accepted(&cfg, "a share of 100%");
			cfg.share_pct[l][c] = 101;
			expect_refused(&cfg, "a share of 101%", "over 100%");
		}
		/* Any share of critical, at any level, even one past `levels`. */
		cfg = config();
		cfg.levels = 1;
		cfg.share_pct[l][SLUICE_CLASS_CRITICAL] = 1;
		expect_refused(&cfg, "a share of critical", "critical traffic is never shed");
	}
}

static void test_config_effective(void **unused)
{
	struct sluice_shed_config stored = {}, cfg, defaults;

	(void)unused;
	shed_config_defaults(&defaults);
	memset(&cfg, 0xa5, sizeof(cfg));
	shed_config_effective(&stored, &cfg);
	assert_memory_equal(&cfg, &defaults, sizeof(cfg));
	assert_int_equal(cfg.share_pct[0][SLUICE_CLASS_LOW], 50);
	assert_int_equal(cfg.share_pct[3][SLUICE_CLASS_HIGH], 10);
	assert_int_equal(cfg.off, 0);
	assert_int_equal(cfg.capacity_pps, 0);

	/* A stored config is used as it is. */
	stored = defaults;
	stored.enter_pct = 80;
	stored.exit_pct = 40;
	stored.levels = 2;
	stored.capacity_pps = 1000000;
	stored.off = 1;
	shed_config_effective(&stored, &cfg);
	assert_memory_equal(&cfg, &stored, sizeof(cfg));
}

/* ---- CPU times --------------------------------------------------------- */

/* From this machine (Debian 12 VM, 2 CPUs), the intr line cut short. */
static const char proc_stat_sample[] =
	"cpu  133785 0 499140 1998758 1431 0 1910 103 0 0\n"
	"cpu0 54595 0 240955 1019902 114 0 1099 43 0 0\n"
	"cpu1 79189 0 258185 978856 1317 0 811 59 0 0\n"
	"intr 5630605 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 1 1 15 0 0 0 0 2645\n"
	"ctxt 10324272\n"
	"btime 1795901810\n"
	"processes 164218\n"
	"procs_running 3\n"
	"procs_blocked 0\n"
	"softirq 7817438 0 453532 1139 5703035 165961 0 4 751558 0 742209\n";

static void test_cpu_times_parse_sample(void **unused)
{
	struct cpu_times t = {};

	(void)unused;
	assert_int_equal(cpu_times_parse(proc_stat_sample, &t), 0);
	/* user nice system idle iowait irq softirq steal */
	assert_int_equal(t.total, 133785ull + 0 + 499140 + 1998758 + 1431 + 0 + 1910 + 103);
	assert_int_equal(t.total, 2635127ull);
	assert_int_equal(t.idle, 2000189ull);	/* idle + iowait */
	assert_int_equal(t.softirq, 1910);
}

/* guest and guest_nice are already inside user and nice: not counted twice. */
static void test_cpu_times_guest_not_counted_twice(void **unused)
{
	struct cpu_times t = {};

	(void)unused;
	assert_int_equal(cpu_times_parse("cpu  100 1 2 3 4 5 6 7 50 60\n", &t), 0);
	assert_int_equal(t.total, 128);
	assert_int_equal(t.idle, 7);
	assert_int_equal(t.softirq, 6);
	/* Old kernels stop after steal. */
	assert_int_equal(cpu_times_parse("cpu 1 2 3 4 5 6 7 8", &t), 0);
	assert_int_equal(t.total, 36);
}

static void test_cpu_times_parse_malformed(void **unused)
{
	static const char *const bad[] = {
		"",
		"cpu",
		"cpu0 54595 0 240955 1019902 114 0 1099 43 0 0\n"	/* no "cpu " line */
		"cpu1 79189 0 258185 978856 1317 0 811 59 0 0\n",
		"intr 1 2 3\nctxt 4\n",
		"cpu  133785 0 499140 1998758 1431 0 1910\n",		/* 7 fields */
		"cpu  133785 0 499140\ncpu0 1 2 3 4 5 6 7 8\n",
		"cpu  133785 0 x 1998758 1431 0 1910 103 0 0\n",
		"CPU  133785 0 499140 1998758 1431 0 1910 103 0 0\n",
	};
	struct cpu_times t;

	(void)unused;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (cpu_times_parse(bad[i], &t) != -1)
			fail_msg("parsed malformed text %zu: '%.40s'", i, bad[i]);
}

/* Each CPU's line, by its number; the aggregate and the lines after them are not CPUs. */
static void test_cpu_times_parse_each(void **unused)
{
	static const char text[] = "cpu  10 0 10 70 0 0 10 0\n"
				   "cpu0 1 0 1 7 1 0 1 0\n"
				   "cpu1 2 0 2 14 0 0 50 0\n"
				   "cpu3 3 0 3 21 0 0 3 0\n"
				   "cpu4 bad\n"
				   "intr 12345 1 2 3\n"
				   "cpu9 1 1 1 1 1 1 1 1\n";
	struct cpu_times per_cpu[8];

	(void)unused;
	memset(per_cpu, 0xa5, sizeof(per_cpu));
	assert_int_equal(cpu_times_parse_each(text, per_cpu, 8), 4);
	assert_int_equal(per_cpu[0].total, 11);
	assert_int_equal(per_cpu[0].idle, 8);
	assert_int_equal(per_cpu[0].softirq, 1);
	assert_int_equal(per_cpu[1].total, 68);
	assert_int_equal(per_cpu[1].softirq, 50);
	assert_int_equal(per_cpu[3].total, 30);
	/* cpu2 is not there (offline): its slot is left alone. */
	assert_int_equal(per_cpu[2].total, 0xa5a5a5a5a5a5a5a5ull);
	/* Only max_cpus slots are written. */
	memset(per_cpu, 0, sizeof(per_cpu));
	assert_int_equal(cpu_times_parse_each(text, per_cpu, 2), 2);
	assert_int_equal(per_cpu[3].total, 0);
	assert_int_equal(cpu_times_parse_each("intr 1\n", per_cpu, 8), 0);
}

/* Through a file descriptor, as the controller reads it: the real one, and bad ones. */
static void test_cpu_times_read(void **unused)
{
	char path[] = "/tmp/sluice-test-stat-XXXXXX";
	struct cpu_times t = {};
	int fd;

	(void)unused;
	fd = open("/proc/stat", O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(cpu_times_read(fd, &t), 0);
	assert_true(t.total > 0 && t.idle <= t.total && t.softirq <= t.total);
	close(fd);

	fd = mkstemp(path);
	assert_true(fd >= 0);
	unlink(path);
	errno = 0;
	assert_int_equal(cpu_times_read(fd, &t), -1);
	assert_int_equal(errno, EIO);			/* empty */
	assert_int_equal(write(fd, "cpu0 1 2 3 4 5 6 7 8\n", 21), 21);
	errno = 0;
	assert_int_equal(cpu_times_read(fd, &t), -1);
	assert_int_equal(errno, EPROTO);
	/* pread from 0 each time: the same fd reads afresh after the file changes. */
	assert_int_equal(pwrite(fd, "cpu  1 2 3 4 5 6 7 8\n", 21, 0), 21);
	assert_int_equal(cpu_times_read(fd, &t), 0);
	assert_int_equal(t.total, 36);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_enter_dwell_exact),
		cmocka_unit_test(test_thresholds_are_inclusive),
		cmocka_unit_test(test_golden_rise_to_the_top),
		cmocka_unit_test(test_golden_fall_to_zero),
		cmocka_unit_test(test_between_thresholds_holds_and_restarts_dwell),
		cmocka_unit_test(test_dips_below_enter_never_raise),
		cmocka_unit_test(test_noise_does_not_flap),
		cmocka_unit_test(test_off_forces_zero),
		cmocka_unit_test(test_fewer_levels_come_down_at_once),
		cmocka_unit_test(test_property_random_pressure),
		cmocka_unit_test(test_level_map_defaults),
		cmocka_unit_test(test_level_map_exact_shares),
		cmocka_unit_test(test_level_map_out_of_range_is_zero),
		cmocka_unit_test(test_config_check),
		cmocka_unit_test(test_config_effective),
		cmocka_unit_test(test_cpu_times_parse_sample),
		cmocka_unit_test(test_cpu_times_guest_not_counted_twice),
		cmocka_unit_test(test_cpu_times_parse_malformed),
		cmocka_unit_test(test_cpu_times_parse_each),
		cmocka_unit_test(test_cpu_times_read),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
