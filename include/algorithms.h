/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The four rate-limiting algorithms, each written once: the XDP program and
 * the unit tests compile these same functions (token_bucket.h explains why).
 * A limit has a rate per second and a burst, both in one unit: packets, or
 * bytes (a packet then costs its length). Time is sluice time, picoseconds.
 *
 *   token bucket     token_bucket.h's bucket, fed a cost of units * interval.
 *   GCRA             the generic cell rate algorithm ("leaky bucket as a
 *                    meter"), virtual scheduling form. It is the token bucket
 *                    seen from the other side, and admits exactly what it does.
 *   sliding window   a count per window plus the previous window's count,
 *                    weighted by how much of it the sliding window still covers.
 *   fixed window     a count per window, reset when a new window begins.
 *
 * Every per-packet decision is pure arithmetic on words the caller read, with
 * no loop, no floating point and no division, and every sum and product is
 * bounded by what the init functions accept (the bounds are written beside
 * each one). The state of a limit is one word (token bucket, GCRA) or three
 * (windows), which CPUs update with compare-and-swap and atomic add, since
 * the LRU hash that holds per-source state cannot hold a bpf_spin_lock.
 * sluice_rule_take() at the end is that protocol, a loop of at most
 * SLUICE_ALGO_TRIES rounds, shared by BPF and the tests.
 */
#ifndef SLUICE_ALGORITHMS_H
#define SLUICE_ALGORITHMS_H

#include <linux/types.h>
#include "token_bucket.h"

enum sluice_algo {
	SLUICE_ALGO_TOKEN_BUCKET = 0,	/* the default: the burst at once, then the rate */
	SLUICE_ALGO_GCRA = 1,
	SLUICE_ALGO_SLIDING_WINDOW = 2,
	SLUICE_ALGO_FIXED_WINDOW = 3,
	SLUICE_ALGO_COUNT
};

/* Whether an algorithm keeps windows rather than a bucket: their states differ. */
SLUICE_INLINE int sluice_algo_is_window(__u8 algo)
{
	return algo == SLUICE_ALGO_SLIDING_WINDOW || algo == SLUICE_ALGO_FIXED_WINDOW;
}

enum sluice_unit {
	SLUICE_UNIT_PACKETS = 0,	/* a packet costs 1 */
	SLUICE_UNIT_BYTES = 1,		/* a packet costs its length */
	SLUICE_UNIT_COUNT
};

/*
 * Byte limits. 125 GB/s is 1 Tbit/s; its interval, 8 ps a byte, is kept with
 * a 32-bit binary fraction, so every byte rate is exact to 2^-32 ps a byte.
 * A byte burst below one full-size Ethernet frame with a VLAN tag (1500 + 18)
 * would refuse such frames forever: a packet larger than the burst never
 * passes under any algorithm (a bucket cannot hold its cost). The top burst
 * keeps units * interval_frac (units <= burst) below 2^64, and the window
 * limit below 2^32 (see sluice_sliding_window_admit()).
 */
#define SLUICE_MAX_BYTE_RATE 125000000000ULL	/* bytes per second: 1 Tbit/s */
#define SLUICE_MIN_BYTE_BURST 1518ULL		/* bytes */
#define SLUICE_MAX_BYTE_BURST 4000000000ULL	/* bytes: 4 GB, under 2^32 - 2 */

/* CAS attempts a packet makes before it passes as a fault (sluice_rule_take()). */
#define SLUICE_ALGO_TRIES 16

/*
 * How far one CPU's clock reading may lag the reading of another CPU that
 * got to the shared state first: the coarse clock a jiffy, the precise one a
 * packet's run, plus any interrupt in between. A second is far more than
 * either, and small enough to be a harmless blind spot (see below).
 */
#define SLUICE_MAX_CLOCK_LAG SLUICE_TIME_PER_SEC

/*
 * Windows shorter than this are refused: a window must outlast the clock's
 * resolution and the rounding of its length to the start word's 256 ps
 * grain (at most 0.03% here), and shorter ones make no sense for traffic.
 */
#define SLUICE_MIN_WINDOW 1000000ULL	/* 1 us */

/* Why sluice_rule_limit_init() refused a limit. */
enum sluice_rule_limit_error {
	SLUICE_RULE_LIMIT_OK = 0,
	SLUICE_RULE_LIMIT_ZERO_RATE,
	SLUICE_RULE_LIMIT_RATE_TOO_HIGH,	/* SLUICE_MAX_RATE, SLUICE_MAX_BYTE_RATE */
	SLUICE_RULE_LIMIT_ZERO_BURST,
	SLUICE_RULE_LIMIT_BURST_TOO_LOW,	/* bytes: SLUICE_MIN_BYTE_BURST */
	SLUICE_RULE_LIMIT_BURST_TOO_HIGH,	/* SLUICE_MAX_BURST, SLUICE_MAX_BYTE_BURST */
	SLUICE_RULE_LIMIT_TOO_DEEP,		/* burst / rate: SLUICE_MAX_DEPTH (53 days) */
	SLUICE_RULE_LIMIT_WINDOW_TOO_SHORT,	/* burst / rate: SLUICE_MIN_WINDOW (1 us) */
	SLUICE_RULE_LIMIT_BAD_ALGO,
	SLUICE_RULE_LIMIT_BAD_UNIT,
};

/*
 * Token bucket and GCRA: the time one unit costs, T = 1/rate, as whole ps
 * plus interval_frac / 2^32 ps; and the bucket's size in time. For packets
 * interval_frac is 0 and interval is sluice_limit_init()'s, rounded to the
 * nearest ps, so a packet limit here is bit for bit the foundation's.
 */
struct sluice_meter_params {
	__u64 interval;		/* T, whole ps per unit */
	__u32 interval_frac;	/* and the fraction of a ps, in 2^-32 ps (bytes only) */
	__u32 pad;
	__u64 depth;		/* the cost of `burst` units: the bucket's depth; tau + T */
	__u64 tau;		/* GCRA's tolerance: depth less the cost of one unit */
};
_Static_assert(sizeof(struct sluice_meter_params) == 32, "sluice_meter_params layout");

/*
 * The windows. A window lasts `length` = burst / rate and admits `limit` =
 * burst units: the burst is the window's count, and limit / length is the
 * rate. With the default burst of one second of the rate, "100 per second"
 * is a window of 1 s that admits 100, what people expect from those words; a
 * burst of 10 makes it 10 per 100 ms, and --rate 1000 --burst 60000 is 60000
 * a minute. One rule, no third knob, and the same length the token bucket
 * calls its depth.
 *
 * In bytes, the room a window has left at its end, less than the packet that
 * did not fit, is lost with it, so a window should hold many packets. The
 * sliding window feels it most, as its room opens little by little: at 3x
 * the limit with sizes of 64 to 1500 bytes it passed 5.6% under the rate
 * with 16 KB windows, 1.4% with 64 KB, 0.7% with 150 KB; the fixed window,
 * whose room later small packets fill, stayed within 0.5% at all three.
 *
 * length is rounded down to a multiple of 2^max(shift, 8): the 8 low bits of
 * the window's start word are its generation and a flag (sluice_window_roll()),
 * and length >> shift, below 2^32, is the coarse length the sliding window
 * weighs in. Rounding moves the length by under 2^-31 of itself, or 256 ps
 * (0.03% of the shortest window, 1 us); 1 s (10^12 ps, shift 8) stays exact.
 */
struct sluice_window_params {
	__u64 length;		/* sluice time a window lasts */
	__u64 limit;		/* units a window admits: the burst, below 2^32 */
	__u32 shift;		/* length >> shift < 2^32 */
	__u32 pad;
	__u64 pad2;
};
_Static_assert(sizeof(struct sluice_window_params) == 32, "sluice_window_params layout");

/* A limit, whichever its algorithm: what a rule holds. */
struct sluice_rule_limit {
	__u64 rate;		/* units per second, as set */
	__u64 burst;		/* units, as set */
	__u8 algo;		/* enum sluice_algo */
	__u8 unit;		/* enum sluice_unit */
	__u8 pad[6];
	union {
		struct sluice_meter_params meter;	/* token bucket, GCRA */
		struct sluice_window_params window;	/* sliding and fixed window */
	};
};
_Static_assert(sizeof(struct sluice_rule_limit) == 56, "sluice_rule_limit layout");

/*
 * The state of the windows (see sluice_window_roll() for the protocol):
 *   start     the sluice time the current window began, a multiple of 256,
 *             with the window's generation (mod 128) in bits 0-6 and in bit 7
 *             SLUICE_WINDOW_FOLLOWS: the window before it ended as it began.
 *   count[2]  what windows counted, in units, the current one in
 *             count[generation & 1] and the one before in the other; each
 *             tagged with its own generation in bits 57-63.
 */
struct sluice_window_state {
	__u64 start;
	__u64 count[2];
};
_Static_assert(sizeof(struct sluice_window_state) == 24, "sluice_window_state layout");

/* What one rule keeps per bucket (per source, or one per rule). */
struct sluice_rule_state {
	union {
		__u64 full_at;		/* token bucket: full again at; GCRA: TAT, the same */
		struct sluice_window_state window;
	};
};
_Static_assert(sizeof(struct sluice_rule_state) == 24, "sluice_rule_state layout");

/* ---- costs ---- */

/* Units a packet of `bytes` costs under a limit in `unit`. */
SLUICE_INLINE __u64 sluice_packet_units(__u8 unit, __u64 bytes)
{
	return unit == SLUICE_UNIT_BYTES ? bytes : 1;
}

/*
 * Sluice time `units` cost: units * T, the fraction rounded down, so any
 * packets that add up to `burst` units fit a full bucket together (each is
 * charged under 1 ps short: 0.2% of a 64-byte packet at 1 Tbit/s, nothing
 * at packet rates, whose T is whole). Past the burst the cost is depth + 1,
 * which nothing fits. Bounds: units <= burst <
 * 2^32 and interval_frac < 2^32 keep units * interval_frac below 2^64;
 * units * interval <= burst * interval <= depth <= 2^62 (init checks), so the
 * sum is below 2^62 + 2^32.
 */
SLUICE_INLINE __u64 sluice_meter_cost(const struct sluice_rule_limit *limit, __u64 units)
{
	if (units > limit->burst)
		return limit->meter.depth + 1;
	return units * limit->meter.interval + ((units * limit->meter.interval_frac) >> 32);
}

/* ---- token bucket ---- */

/*
 * token_bucket.h's take, for any unit: 1 when the packet fits, and the state
 * to store in *next_full_at either way (what sluice_bucket_take() says).
 * debt + cost <= 2^62 + 2^62 + 1: no overflow.
 */
SLUICE_INLINE int sluice_token_bucket_take(__u64 full_at, __u64 now, __u64 units,
					   const struct sluice_rule_limit *limit,
					   __u64 *next_full_at)
{
	return sluice_bucket_take(full_at, now, sluice_meter_cost(limit, units),
				  limit->meter.depth, next_full_at);
}

/* ---- GCRA ---- */

/*
 * GCRA(T, tau), virtual scheduling (ITU-T I.371, ATM Forum TM 4.0): keep the
 * theoretical arrival time TAT of the next cell. A cell arriving at t
 * conforms if TAT <= t + tau, and then TAT = max(TAT, t) + T; a cell that
 * does not conform leaves TAT alone. tau = (burst - 1) * T lets `burst`
 * cells through back to back. For a packet of n units, with increment
 * I = n * T (sluice_meter_cost()), the test is the one redis-cell uses:
 * max(TAT, t) + I - T <= t + tau, which is the textbook test when n = 1.
 *
 * Relation to the token bucket: write D = tau + T (= burst * T, the
 * bucket's depth) and take full_at = TAT. The test becomes
 * max(TAT - t, 0) + I <= D, the update TAT = t + max(TAT - t, 0) + I: the
 * token bucket's take, where max(TAT - t, 0) is its debt. So GCRA and the
 * token bucket admit exactly the same packets (the unit tests check it over
 * random arrivals); GCRA names the state by when the next packet is due,
 * the bucket by when it is full again, and they are the same time.
 *
 * Two rules of the token bucket hold here too, so that they stay the same
 * algorithm: TAT is compared modulo 2^64 (a TAT more than 2^63 ps behind t
 * reads as ahead, the 106-day blind spot of token_bucket.h), and a TAT
 * further ahead than tau + T, which only a lowered limit or that blind spot
 * make, counts as exactly tau + T ahead, and a refusal stores it so. Without
 * that, a flooder caught by a lowered limit would wait out the debt of the
 * old limit, and a stale TAT could refuse for up to 106 days.
 *
 * Bounds: ahead <= tau + T <= 2^62 and increment <= 2^62 + 1.
 */
SLUICE_INLINE int sluice_gcra_conform(__u64 tat, __u64 now, __u64 increment, __u64 emission,
				      __u64 tau, __u64 *next_tat)
{
	__u64 ahead = tat - now;	/* TAT - t, modulo 2^64 */

	/* TAT 0 is a bucket never used (see sluice_bucket_debt()): nothing is due. */
	if (tat == 0 || ahead >= SLUICE_TIME_HALF_RANGE)
		ahead = 0;			/* TAT is behind t: max(TAT, t) = t */
	else if (ahead > tau + emission)
		ahead = tau + emission;	/* a lowered limit: as far ahead as it allows */
	if (ahead + increment > tau + emission) {	/* TAT + I - T > t + tau */
		*next_tat = now + ahead;
		return 0;
	}
	*next_tat = now + ahead + increment;	/* max(TAT, t) + I */
	return 1;
}

/* GCRA with a rule's limit: T is the cost of one unit, tau = depth - T. */
SLUICE_INLINE int sluice_gcra_take(__u64 tat, __u64 now, __u64 units,
				   const struct sluice_rule_limit *limit, __u64 *next_tat)
{
	return sluice_gcra_conform(tat, now, sluice_meter_cost(limit, units),
				   limit->meter.depth - limit->meter.tau, limit->meter.tau,
				   next_tat);
}

/* ---- windows ---- */

#define SLUICE_WINDOW_GENERATION 0x7fULL	/* bits 0-6 of the start word */
#define SLUICE_WINDOW_FOLLOWS 0x80ULL		/* bit 7: the one before ended as it began */
#define SLUICE_WINDOW_TIME (~0xffULL)		/* the rest: when it began */
#define SLUICE_WINDOW_TAG_SHIFT 57		/* a count's generation: bits 57-63 */
#define SLUICE_WINDOW_COUNT ((1ULL << SLUICE_WINDOW_TAG_SHIFT) - 1)
#define SLUICE_WINDOW_HALF_GENERATIONS 64

/*
 * The start word of a new state: a window of generation 0 beginning now,
 * following nothing. With count[] zero, count[0] is its (empty) count.
 */
SLUICE_INLINE __u64 sluice_window_begin(__u64 now)
{
	return now & SLUICE_WINDOW_TIME;
}

/*
 * Windows follow one another, each `length` long, from the first packet: the
 * window after one that began at S begins at S + length, and after an idle
 * spell of a whole window or more, a new one begins at the packet that ends
 * it (so windows start at a source's first packet, as INCR + EXPIRE windows
 * in Redis do, and no division by the length is ever needed).
 *
 * The protocol (sluice_window_take() is it, in code). Per packet, with `now`:
 *  1. read start. If sluice_window_roll() says the window has ended, CAS start
 *     to the next start word and go back to 1, whether the CAS won or not.
 *  2. read the current count, count[generation & 1]. If it is tagged with an
 *     older generation (sluice_window_stale()), it is the count of the window
 *     two back: CAS it to sluice_window_fresh(), zero and tagged with this
 *     generation; any CPU does this, so none waits for another. If it is
 *     tagged with a newer one, the windows rolled twice since this CPU read
 *     start. Either way, unless it counts this window
 *     (sluice_window_current()), go back to 1.
 *  3. read the previous count (sliding window), count[generation & 1 ^ 1].
 *  4. decide on (previous, current, elapsed); on a pass, atomically add the
 *     cost to the current count.
 * A window's count is reset only by a CAS from an older tag, so a CPU that
 * read start long ago cannot wipe a newer count (generations go round in
 * 128, so that takes a CPU stalled for 63 windows between two loads), and
 * the previous window's count is never moved: it stays in its slot, tagged,
 * until the window after next.
 *
 * What remains of the races, with N CPUs deciding for one state at once:
 *  - step 4 decides, then adds: up to N - 1 other packets may be decided
 *    but not yet added, so a window can admit up to (N - 1) costs past its
 *    limit, and a sliding estimate can miss up to N - 1 costs;
 *  - an add that comes after its window ended lands in that window's slot,
 *    now the previous count (the right one), or after the slot was reset for
 *    the window after next (by then a packet that old counts for nothing);
 *  - a CPU whose clock reading is older than the start another CPU rolled to
 *    decides at elapsed 0 of the new window and counts there, so windows cut
 *    by packet timestamps can see up to N - 1 packets more;
 *  - a CPU that read start just before a roll may read the previous slot
 *    after the window after it reset it, and weigh it as 0; it is then at
 *    the end of its window (another CPU's clock passed it), where the
 *    previous count weighs lag / length of itself: a negligible error;
 *  - each CAS fails only when another CPU made progress (a roll, or one of
 *    the at most N - 1 adds in flight), so a packet retries at most about
 *    N + 2 times; SLUICE_ALGO_TRIES bounds the loop, and a packet that runs
 *    out of tries passes uncounted, as a fault.
 * Otherwise no count is lost and none is taken twice.
 *
 * Time is compared modulo 2^64. A start up to SLUICE_MAX_CLOCK_LAG ahead of
 * now is another CPU's clock reading, later than this one's: the packet is at
 * elapsed 0, and never rolls the window back. A start further ahead is stale,
 * idle more than 2^63 ps (106 days): a new window begins. The blind spot: a
 * state idle within a second short of 2^63 ps reads as current once, for at
 * most a second and a window. Lengths up to 2^62 keep 2 * length below the
 * half range.
 */
SLUICE_INLINE int sluice_window_roll(__u64 start, __u64 now, __u64 length, __u64 *next_start)
{
	__u64 begin = start & SLUICE_WINDOW_TIME;
	__u64 elapsed = now - begin;
	__u64 generation = (start + 1) & SLUICE_WINDOW_GENERATION;

	if (elapsed >= SLUICE_TIME_HALF_RANGE) {
		if (begin - now <= SLUICE_MAX_CLOCK_LAG)
			return 0;
	} else if (elapsed < length) {
		return 0;
	} else if (elapsed - length < length) {
		*next_start = (begin + length) | SLUICE_WINDOW_FOLLOWS | generation;
		return 1;
	}
	*next_start = (now & SLUICE_WINDOW_TIME) | generation;
	return 1;
}

/* How far into its window `now` is, for a start that needs no roll. */
SLUICE_INLINE __u64 sluice_window_elapsed(__u64 start, __u64 now)
{
	__u64 elapsed = now - (start & SLUICE_WINDOW_TIME);

	return elapsed >= SLUICE_TIME_HALF_RANGE ? 0 : elapsed;
}

/* Which of count[] holds the current window's count; the other holds the previous. */
SLUICE_INLINE __u32 sluice_window_slot(__u64 start)
{
	return (__u32)(start & 1);
}

/* Units a count word holds. */
SLUICE_INLINE __u64 sluice_window_count(__u64 word)
{
	return word & SLUICE_WINDOW_COUNT;
}

/* Whether the current slot's word counts the window `start` names (step 2). */
SLUICE_INLINE int sluice_window_current(__u64 start, __u64 current)
{
	return (current >> SLUICE_WINDOW_TAG_SHIFT) == (start & SLUICE_WINDOW_GENERATION);
}

/*
 * Whether it counts an older window, to be reset (step 2): 1 to 63
 * generations behind. Newer tags (1 to 64 ahead) are left alone.
 */
SLUICE_INLINE int sluice_window_stale(__u64 start, __u64 current)
{
	__u64 behind = (start - (current >> SLUICE_WINDOW_TAG_SHIFT)) & SLUICE_WINDOW_GENERATION;

	return behind && behind < SLUICE_WINDOW_HALF_GENERATIONS;
}

/* The word that resets the current slot: zero, tagged with this generation. */
SLUICE_INLINE __u64 sluice_window_fresh(__u64 start)
{
	return (start & SLUICE_WINDOW_GENERATION) << SLUICE_WINDOW_TAG_SHIFT;
}

/*
 * The previous window's count, from the other slot: what it holds if it is
 * the window just before (its generation, and this window followed it
 * directly), else 0.
 */
SLUICE_INLINE __u64 sluice_window_previous(__u64 start, __u64 other)
{
	__u64 before = (start - 1) & SLUICE_WINDOW_GENERATION;

	if (!(start & SLUICE_WINDOW_FOLLOWS) || (other >> SLUICE_WINDOW_TAG_SHIFT) != before)
		return 0;
	return sluice_window_count(other);
}

/*
 * Fixed window: a packet passes if the window's count plus its cost is
 * within the limit. Known behaviour: a window's limit is spent however it
 * likes, so a source can send `limit` at the end of one window and `limit`
 * again at the start of the next, 2x the limit within moments; over any
 * span of n windows it gets at most n + 1 limits. The sliding window exists
 * to fix that. Bounds: the comparison is written not to overflow.
 */
SLUICE_INLINE int sluice_fixed_window_admit(__u64 current, __u64 cost,
					    const struct sluice_window_params *window)
{
	return cost <= window->limit && current <= window->limit - cost;
}

/*
 * Sliding window (Cloudflare's, and Redis rate limiters'): the count over
 * the last window-length is estimated as the current window's count plus the
 * previous window's, weighted by the share of it the sliding window still
 * covers, prev * (W - elapsed) / W, that weight rounded down to whole units.
 * A packet passes if estimate + cost <= limit.
 *
 * It assumes the previous window's traffic was spread evenly. When it was
 * not, what a sliding span of W holds is bounded by the rule itself: a span
 * of length d <= W admits less than limit * (1 + d / W) + 1 unit (the unit
 * from the rounding down), against the fixed window's 2 * limit in any span
 * at all. So a burst at a window's end followed by a flood can still reach
 * nearly 2x the limit over a whole window-length, spread over it, never in a
 * moment; each aligned window admits at most the limit; and at a steady
 * flood every window admits the limit (in packets; in bytes, see
 * sluice_window_params), so the long-run rate is exact.
 *
 * No division: with W' = W >> shift and e' = elapsed >> shift (W is a
 * multiple of 2^shift, so W' is exact and rounding e down only weighs the
 * previous count a little more), floor(prev * (W' - e') / W') <= room is
 * prev * (W' - e') < (room + 1) * W'. Bounds: prev is capped at the limit
 * (a previous window over it, from races or a lowered limit, counts as
 * full), limit + 1 <= 2^32 - 1 and W' < 2^32, so both products are below 2^64.
 */
SLUICE_INLINE int sluice_sliding_window_admit(__u64 previous, __u64 current, __u64 elapsed,
					      __u64 cost,
					      const struct sluice_window_params *window)
{
	__u64 limit = window->limit, length = window->length >> window->shift;
	__u64 into = elapsed >> window->shift, left, room;

	if (cost > limit || current > limit - cost)
		return 0;
	room = limit - current - cost;
	if (previous > limit)
		previous = limit;
	left = into < length ? length - into : 0;
	return previous * left < (room + 1) * length;
}

/* ---- init ---- */

/*
 * 10^12 / rate as whole ps and a 32-bit binary fraction, rounded to nearest.
 * r < rate <= 2^37, so r << 16 < 2^53 in each long-division step.
 */
SLUICE_INLINE void sluice_interval_of(__u64 rate, __u64 *whole, __u32 *frac)
{
	__u64 q = SLUICE_TIME_PER_SEC / rate, r = SLUICE_TIME_PER_SEC % rate, hi, lo;

	r <<= 16;
	hi = r / rate;
	r = r % rate << 16;
	lo = r / rate;
	r %= rate;
	lo = (hi << 16 | lo) + (2 * r >= rate);
	if (lo >> 32) {
		q++;
		lo = 0;
	}
	*whole = q;
	*frac = (__u32)lo;
}

/* The checks every algorithm shares: rate and burst within the unit's bounds. */
SLUICE_INLINE enum sluice_rule_limit_error
sluice_rule_limit_check(__u8 algo, __u8 unit, __u64 rate, __u64 burst)
{
	int bytes = unit == SLUICE_UNIT_BYTES;

	if (algo >= SLUICE_ALGO_COUNT)
		return SLUICE_RULE_LIMIT_BAD_ALGO;
	if (unit >= SLUICE_UNIT_COUNT)
		return SLUICE_RULE_LIMIT_BAD_UNIT;
	if (rate == 0)
		return SLUICE_RULE_LIMIT_ZERO_RATE;
	if (rate > (bytes ? SLUICE_MAX_BYTE_RATE : SLUICE_MAX_RATE))
		return SLUICE_RULE_LIMIT_RATE_TOO_HIGH;
	if (burst == 0)
		return SLUICE_RULE_LIMIT_ZERO_BURST;
	if (bytes && burst < SLUICE_MIN_BYTE_BURST)
		return SLUICE_RULE_LIMIT_BURST_TOO_LOW;
	if (burst > (bytes ? SLUICE_MAX_BYTE_BURST : SLUICE_MAX_BURST))
		return SLUICE_RULE_LIMIT_BURST_TOO_HIGH;
	return SLUICE_RULE_LIMIT_OK;
}

/*
 * burst units at T = whole + frac / 2^32 ps, the fraction rounded `up` or to
 * nearest; 0 when that is over SLUICE_MAX_DEPTH. burst < 2^32 and frac <
 * 2^32 keep burst * frac below 2^64 once 2^32 - 1 is added for rounding up
 * ((2^32 - 2) * (2^32 - 1) + 2^32 - 1 < 2^64), and burst * whole is checked
 * against 2^62 before it is made.
 */
SLUICE_INLINE __u64 sluice_span_of(__u64 burst, __u64 whole, __u32 frac, int up)
{
	__u64 span;

	if (burst > SLUICE_MAX_DEPTH / whole)
		return 0;
	span = burst * whole + ((burst * frac + (up ? 0xffffffffULL : 0x80000000ULL)) >> 32);
	return span > SLUICE_MAX_DEPTH ? 0 : span;
}

SLUICE_INLINE void sluice_rule_limit_head(struct sluice_rule_limit *limit, __u8 algo, __u8 unit,
				    __u64 rate, __u64 burst)
{
	__builtin_memset(limit, 0, sizeof(*limit));
	limit->rate = rate;
	limit->burst = burst;
	limit->algo = algo;
	limit->unit = unit;
}

/* Token bucket and GCRA share their parameters. */
SLUICE_INLINE enum sluice_rule_limit_error
sluice_meter_init(struct sluice_rule_limit *limit, __u8 algo, __u8 unit, __u64 rate, __u64 burst)
{
	enum sluice_rule_limit_error error = sluice_rule_limit_check(algo, unit, rate, burst);
	__u64 whole, depth;
	__u32 frac = 0;

	if (error)
		return error;
	if (unit == SLUICE_UNIT_BYTES)
		sluice_interval_of(rate, &whole, &frac);
	else
		whole = (SLUICE_TIME_PER_SEC + rate / 2) / rate;	/* sluice_limit_init()'s */
	depth = sluice_span_of(burst, whole, frac, 1);
	if (!depth)
		return SLUICE_RULE_LIMIT_TOO_DEEP;
	sluice_rule_limit_head(limit, algo, unit, rate, burst);
	limit->meter.interval = whole;
	limit->meter.interval_frac = frac;
	limit->meter.depth = depth;
	limit->meter.tau = depth - sluice_meter_cost(limit, 1);
	return SLUICE_RULE_LIMIT_OK;
}

SLUICE_INLINE enum sluice_rule_limit_error
sluice_token_bucket_init(struct sluice_rule_limit *limit, __u8 unit, __u64 rate, __u64 burst)
{
	return sluice_meter_init(limit, SLUICE_ALGO_TOKEN_BUCKET, unit, rate, burst);
}

SLUICE_INLINE enum sluice_rule_limit_error
sluice_gcra_init(struct sluice_rule_limit *limit, __u8 unit, __u64 rate, __u64 burst)
{
	return sluice_meter_init(limit, SLUICE_ALGO_GCRA, unit, rate, burst);
}

/* Both windows: length = burst / rate to the nearest ps, then rounded down as above. */
SLUICE_INLINE enum sluice_rule_limit_error
sluice_window_init(struct sluice_rule_limit *limit, __u8 algo, __u8 unit, __u64 rate, __u64 burst)
{
	enum sluice_rule_limit_error error = sluice_rule_limit_check(algo, unit, rate, burst);
	__u64 whole, length;
	__u32 frac, shift = 0;

	if (error)
		return error;
	sluice_interval_of(rate, &whole, &frac);
	length = sluice_span_of(burst, whole, frac, 0);
	if (!length)
		return SLUICE_RULE_LIMIT_TOO_DEEP;
	if (length < SLUICE_MIN_WINDOW)
		return SLUICE_RULE_LIMIT_WINDOW_TOO_SHORT;
	/* length <= 2^62, so at most 31 steps; written as a bounded loop for BPF. */
	for (int i = 0; i < 32 && (length >> shift) >> 32; i++)
		shift++;
	length &= ~((1ULL << (shift > 8 ? shift : 8)) - 1);	/* still over 2^19 */
	sluice_rule_limit_head(limit, algo, unit, rate, burst);
	limit->window.length = length;
	limit->window.limit = burst;
	limit->window.shift = shift;
	return SLUICE_RULE_LIMIT_OK;
}

SLUICE_INLINE enum sluice_rule_limit_error
sluice_sliding_window_init(struct sluice_rule_limit *limit, __u8 unit, __u64 rate, __u64 burst)
{
	return sluice_window_init(limit, SLUICE_ALGO_SLIDING_WINDOW, unit, rate, burst);
}

SLUICE_INLINE enum sluice_rule_limit_error
sluice_fixed_window_init(struct sluice_rule_limit *limit, __u8 unit, __u64 rate, __u64 burst)
{
	return sluice_window_init(limit, SLUICE_ALGO_FIXED_WINDOW, unit, rate, burst);
}

/* Any algorithm. A refused limit is left as it was. */
SLUICE_INLINE enum sluice_rule_limit_error
sluice_rule_limit_init(struct sluice_rule_limit *limit, __u8 algo, __u8 unit, __u64 rate,
		       __u64 burst)
{
	if (sluice_algo_is_window(algo))
		return sluice_window_init(limit, algo, unit, rate, burst);
	return sluice_meter_init(limit, algo, unit, rate, burst);
}

/* ---- the shared state, as CPUs update it ---- */

/*
 * The state of a new bucket, as of `now`: a full bucket (full_at = now, never
 * 0, which would read as the future near the wrap), or an empty window
 * beginning now. A rule whose algorithm changes needs new states: a token
 * bucket's full_at read as a window's start word would be nonsense.
 */
SLUICE_INLINE void sluice_rule_state_init(struct sluice_rule_state *state,
					  const struct sluice_rule_limit *limit, __u64 now)
{
	__builtin_memset(state, 0, sizeof(*state));
	if (sluice_algo_is_window(limit->algo))
		state->window.start = sluice_window_begin(now);
	else
		state->full_at = now;
}

/*
 * Unit tests define this to interleave simulated CPUs at every access to
 * shared state; for BPF and everything else it is nothing.
 */
#ifndef SLUICE_SHARED_ACCESS
#define SLUICE_SHARED_ACCESS() do { } while (0)
#endif

SLUICE_INLINE __u64 sluice_load(const __u64 *word)
{
	SLUICE_SHARED_ACCESS();
	return *(const volatile __u64 *)word;
}

SLUICE_INLINE int sluice_cas(__u64 *word, __u64 old, __u64 new)
{
	SLUICE_SHARED_ACCESS();
	return __sync_val_compare_and_swap(word, old, new) == old;
}

SLUICE_INLINE void sluice_add(__u64 *word, __u64 value)
{
	SLUICE_SHARED_ACCESS();
	__sync_fetch_and_add(word, value);
}

enum sluice_take {
	SLUICE_TAKE_REFUSED = 0,
	SLUICE_TAKE_PASSED = 1,
	SLUICE_TAKE_GAVE_UP = 2,	/* SLUICE_ALGO_TRIES lost races: pass it, as a fault */
};

/*
 * Whether a refusal should store the state the take gave back, setting an
 * overdrawn bucket to empty as of now: only when it owes more than its depth
 * plus SLUICE_MAX_CLOCK_LAG. A bucket owes more than its depth for two
 * reasons: its limit was lowered, or this CPU read its clock before another
 * CPU that has since taken a cost. Storing now + depth in the second case
 * would move the state back by that lag and hand out the lag's worth of
 * tokens, on every such race (a jiffy's worth each time with the coarse
 * clock; the unit tests' simulated CPUs catch it). A source whose limit was
 * lowered by less than that waits out its extra debt instead: at most a
 * second. Bounds: depth + lag <= 2^62 + 2^40.
 */
SLUICE_INLINE int sluice_meter_overdrawn(__u64 seen, __u64 now, __u64 depth)
{
	__u64 ahead = seen - now;

	return ahead < SLUICE_TIME_HALF_RANGE && ahead > depth + SLUICE_MAX_CLOCK_LAG;
}

/*
 * Token bucket or GCRA: take the cost with a CAS on the one word; a CAS
 * fails only when another CPU took a cost meanwhile. A refusal stores
 * nothing, but for a bucket sluice_meter_overdrawn() says to set to empty,
 * once (no retry: another CPU's store is as good).
 */
SLUICE_INLINE enum sluice_take sluice_meter_take(__u64 *word, const struct sluice_rule_limit *limit,
						 __u64 now, __u64 units)
{
	for (int i = 0; i < SLUICE_ALGO_TRIES; i++) {
		__u64 seen = sluice_load(word), next;
		int fits = limit->algo == SLUICE_ALGO_GCRA ?
				   sluice_gcra_take(seen, now, units, limit, &next) :
				   sluice_token_bucket_take(seen, now, units, limit, &next);

		if (!fits) {
			if (sluice_meter_overdrawn(seen, now, limit->meter.depth))
				sluice_cas(word, seen, next);
			return SLUICE_TAKE_REFUSED;
		}
		if (sluice_cas(word, seen, next))
			return SLUICE_TAKE_PASSED;
	}
	return SLUICE_TAKE_GAVE_UP;
}

/* Either window: the protocol of sluice_window_roll(), step by step. */
SLUICE_INLINE enum sluice_take sluice_window_take(struct sluice_window_state *state,
						  const struct sluice_rule_limit *limit,
						  __u64 now, __u64 cost)
{
	const struct sluice_window_params *window = &limit->window;
	int sliding = limit->algo == SLUICE_ALGO_SLIDING_WINDOW;

	for (int i = 0; i < SLUICE_ALGO_TRIES; i++) {
		__u64 start = sluice_load(&state->start), next, current, previous = 0;
		__u32 slot = sluice_window_slot(start);
		int admit;

		/*
		 * A zero state is a window never used (a fresh map value): the
		 * first window begins at the first packet, as a new source's does,
		 * not at time zero. (A start of exactly 0 in use would need the
		 * clock's wrap to land on it: then it begins again, harmlessly.)
		 */
		if (start == 0 && sluice_window_begin(now) != 0) {
			sluice_cas(&state->start, 0, sluice_window_begin(now));
			continue;
		}
		if (sluice_window_roll(start, now, window->length, &next)) {
			sluice_cas(&state->start, start, next);
			continue;
		}
		current = sluice_load(&state->count[slot]);
		if (!sluice_window_current(start, current)) {
			if (sluice_window_stale(start, current))
				sluice_cas(&state->count[slot], current,
					   sluice_window_fresh(start));
			continue;
		}
		if (sliding)
			previous = sluice_window_previous(start,
							  sluice_load(&state->count[slot ^ 1]));
		current = sluice_window_count(current);
		admit = sliding ? sluice_sliding_window_admit(previous, current,
							      sluice_window_elapsed(start, now),
							      cost, window) :
				  sluice_fixed_window_admit(current, cost, window);
		if (!admit)
			return SLUICE_TAKE_REFUSED;
		sluice_add(&state->count[slot], cost);
		return SLUICE_TAKE_PASSED;
	}
	return SLUICE_TAKE_GAVE_UP;
}

/*
 * One packet of `bytes` against a rule's limit and its state, shared by all
 * CPUs: what the XDP program calls. `now` is sluice time.
 */
SLUICE_INLINE enum sluice_take sluice_rule_take(struct sluice_rule_state *state,
						const struct sluice_rule_limit *limit, __u64 now,
						__u64 bytes)
{
	__u64 units = sluice_packet_units(limit->unit, bytes);

	/*
	 * A frame larger than the burst (a jumbo frame, QinQ over a 1518-byte
	 * burst, a GSO batch) costs the whole burst: it passes from a full
	 * bucket or an empty window instead of never.
	 */
	if (units > limit->burst)
		units = limit->burst;
	if (sluice_algo_is_window(limit->algo))
		return sluice_window_take(&state->window, limit, now, units);
	return sluice_meter_take(&state->full_at, limit, now, units);
}

/*
 * Gives back what sluice_rule_take() took for a packet that a later rule
 * then refused, so that a packet dropped anyway spends no one's budget. A
 * bucket's debt shrinks by the cost (never below full); a window's current
 * count shrinks by it if it still holds that much. If the window rolled
 * between the take and the refund, the refund goes to the new window: a
 * packet's worth, once, microseconds after the edge. Tries as take does and
 * gives up quietly: a lost refund only leaves the budget spent.
 */
SLUICE_INLINE void sluice_rule_refund(struct sluice_rule_state *state,
				      const struct sluice_rule_limit *limit, __u64 now,
				      __u64 bytes)
{
	__u64 units = sluice_packet_units(limit->unit, bytes);

	if (units > limit->burst)
		units = limit->burst;	/* what take charged */
	for (int i = 0; i < SLUICE_ALGO_TRIES; i++) {
		if (sluice_algo_is_window(limit->algo)) {
			__u64 start = sluice_load(&state->window.start);
			__u32 slot = sluice_window_slot(start);
			__u64 word = sluice_load(&state->window.count[slot]);

			if (!sluice_window_current(start, word) || sluice_window_count(word) < units)
				return;
			if (sluice_cas(&state->window.count[slot], word, word - units))
				return;
		} else {
			__u64 seen = sluice_load(&state->full_at);
			__u64 cost = sluice_meter_cost(limit, units);
			__u64 debt = sluice_bucket_debt(seen, now, limit->meter.depth);

			if (!debt)
				return;
			if (sluice_cas(&state->full_at, seen, now + (debt > cost ? debt - cost : 0)))
				return;
		}
	}
}

#endif /* SLUICE_ALGORITHMS_H */
