/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The circuit breaker of a protected service, as the controller runs it:
 * outcomes of calls (probes, judged connections) go into a sliding window,
 * and when too many of them fail or are slow the breaker opens, so the XDP
 * program refuses new connections at once instead of letting clients wait
 * on a backend that cannot answer. After an open time it lets a budget of
 * probe calls through (half-open) and closes or opens again on their result.
 *
 * The semantics are Resilience4j's CircuitBreaker (states, count and time
 * windows, minimum number of calls, failure- and slow-call-rate thresholds,
 * permitted calls in half-open), with its open time grown by exponential
 * backoff with jitter as its IntervalFunction.ofExponentialRandomBackoff
 * does, capped. Pure arithmetic on a state, a time and a seeded generator:
 * no I/O, no allocation, so tests drive it on a fake clock.
 */
#ifndef SLUICE_BREAKER_H
#define SLUICE_BREAKER_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>

/* Bounds on the window, so a breaker is one fixed-size struct (about 8 KiB). */
#define BREAKER_MAX_WINDOW_CALLS 1000
#define BREAKER_MAX_WINDOW_SECONDS 600
/* The longest open time --breaker takes: a day. */
#define BREAKER_MAX_OPEN_MS (24u * 3600 * 1000)
/* How many transitions `sluice service show` can list. */
#define BREAKER_TRANSITIONS 8

enum breaker_state {
	BREAKER_CLOSED,		/* calls go; their outcomes are judged over the window */
	BREAKER_OPEN,		/* calls are refused until the open time has passed */
	BREAKER_HALF_OPEN,	/* a budget of probe calls goes; their outcomes decide */
	BREAKER_FORCED_OPEN,	/* `sluice service trip`: refused until reset */
	BREAKER_DISABLED,	/* `sluice service disable`: every call goes, never trips */
};

enum breaker_window_type {
	BREAKER_WINDOW_COUNT,	/* the last window_size calls */
	BREAKER_WINDOW_TIME,	/* the calls of the last window_size seconds */
};

/* Why a transition happened. */
enum breaker_reason {
	BREAKER_REASON_FAILURE_RATE,	/* closed -> open: failure rate at or over its threshold */
	BREAKER_REASON_SLOW_RATE,	/* closed -> open: slow-call rate at or over its threshold */
	BREAKER_REASON_OPEN_TIME_PASSED,	/* open -> half-open */
	BREAKER_REASON_PROBES_PASSED,	/* half-open -> closed */
	BREAKER_REASON_PROBES_FAILED,	/* half-open -> open: failure or slow rate of the probes */
	BREAKER_REASON_PROBES_TIMED_OUT,	/* half-open -> open: outcomes did not come in time */
	BREAKER_REASON_TRIPPED,		/* from the CLI, to forced open */
	BREAKER_REASON_RESET,		/* from the CLI, to closed with a fresh window */
	BREAKER_REASON_DISABLED,	/* from the CLI, to disabled */
};

/* The settings; breaker_config_defaults() says where each default comes from. */
struct breaker_config {
	enum breaker_window_type window_type;
	__u32 window_size;		/* calls, or seconds */
	__u32 minimum_calls;		/* in the window before it may trip */
	__u32 failure_rate_threshold;	/* percent, 1..100: trips at or over it */
	__u32 slow_call_rate_threshold;	/* percent, 1..100: trips at or over it */
	__u32 slow_call_ms;		/* a call that took longer is slow */
	__u32 half_open_calls;		/* probes admitted in half-open, then judged */
	__u32 half_open_max_ms;		/* 0: wait for every probe's outcome, however long */
	__u32 open_base_ms;		/* open time after the first trip, before jitter */
	__u32 open_max_ms;		/* cap on the open time, before jitter */
	double open_multiplier;		/* each further trip without a close: open time * this */
	double open_jitter;		/* open time * a uniform factor in [1 - this, 1 + this] */
};

/* A transition, for `sluice service show` and the log. */
struct breaker_transition {
	__u64 at_ns;
	enum breaker_state from, to;
	enum breaker_reason reason;
	/* The window (or the probes, leaving half-open) when it happened. */
	double failure_rate, slow_rate;	/* percent */
	unsigned int calls;
};

/* One second of a time window. */
struct breaker_bucket {
	__u32 calls, failures, slow;
};

/*
 * The sliding window with running sums, so recording a call and reading
 * the rates are O(1) whatever its size (Resilience4j's subtract-on-evict).
 */
struct breaker_window {
	__u32 calls, failures, slow;	/* over the whole window */
	__u32 next;			/* count: the slot the next call goes to */
	__u64 head_sec;			/* time: the second the newest bucket holds */
	union {
		__u8 outcome[BREAKER_MAX_WINDOW_CALLS];	/* BREAKER_OUTCOME_* bits */
		struct breaker_bucket bucket[BREAKER_MAX_WINDOW_SECONDS];
	};
};

struct breaker {
	struct breaker_config cfg;
	enum breaker_state state;
	__u64 since_ns;			/* when it entered the state */
	struct breaker_window window;	/* closed: the calls being judged */

	/* Open: until when, and the backoff it came from. */
	__u64 open_until_ns;
	__u64 backoff_ns;		/* the open time before jitter; 0: no trip since a close */
	unsigned int trips;		/* opens since the last close */

	/* Half-open: the probes admitted, and what became of them. */
	__u32 probes_admitted, probes_done, probes_failed, probes_slow;

	__u64 rng;			/* splitmix64 state, from the seed */
	__u64 refused;			/* calls refused, ever: for metrics */
	__u64 transitions_total;	/* ever; the ring keeps the last BREAKER_TRANSITIONS */
	struct breaker_transition transition[BREAKER_TRANSITIONS];
};

/* Resilience4j's defaults where they fit a breaker fed by network probes. */
void breaker_config_defaults(struct breaker_config *cfg);
/* Checks settings; 0, or -1 with a one-line reason in err. */
int breaker_config_check(const struct breaker_config *cfg, char *err, size_t err_len);

/*
 * What operators type after --breaker: "on", or "key=value,..." over `base`
 * (NULL: the defaults of breaker_config_defaults()), any of
 *   window=N (the last N calls) or window=Ns (the calls of the last N seconds),
 *   min-calls=N, failure=PCT, slow=PCT, half-open=N, half-open-wait=DURATION,
 *   open=DURATION, max-open=DURATION, multiplier=X (1..10), jitter=X (0..<1).
 * The slow call duration is not among them (it is base's): the service's
 * --slow-call sets it, as it also judges probes without a breaker. Fills
 * *cfg and returns 0, or -1 with one line in err and *cfg unchanged.
 */
int breaker_parse(const char *text, const struct breaker_config *base, struct breaker_config *cfg,
		  char *err, size_t err_len);
/* Writes every setting but slow_call_ms back as breaker_parse() reads it. */
void breaker_format(const struct breaker_config *cfg, char *buf, size_t len);

/* A closed breaker with an empty window. cfg must pass breaker_config_check(). */
void breaker_init(struct breaker *b, const struct breaker_config *cfg, __u64 now_ns, __u64 seed);

/*
 * Moves on with time alone: open goes to half-open once its open time has
 * passed, and half-open goes back to open if its probes' outcomes have not
 * all come within half_open_max_ms. Returns true when the state changed.
 */
bool breaker_tick(struct breaker *b, __u64 now_ns);
/*
 * Whether a new call may go now (after breaker_tick()). Half-open admits
 * half_open_calls and refuses the rest until they are judged.
 */
bool breaker_admit(struct breaker *b, __u64 now_ns);
/*
 * The outcome of a call that was admitted: failed, and slow when it took
 * longer than slow_call_ms (a call can be both). Returns true when the
 * state changed. In half-open an outcome with no admitted probe left to
 * account for is ignored; open, forced open and disabled keep the window
 * up to date for the rates but never change state on an outcome.
 */
bool breaker_record(struct breaker *b, __u64 now_ns, __u64 duration_ns, bool failed);

/* From the CLI: forced open until reset; closed with a fresh window; always admit. */
void breaker_trip(struct breaker *b, __u64 now_ns);
void breaker_reset(struct breaker *b, __u64 now_ns);
void breaker_disable(struct breaker *b, __u64 now_ns);

const char *breaker_state_name(enum breaker_state s);
const char *breaker_reason_name(enum breaker_reason r);

/*
 * Rates in percent and the number of calls they are over, for status and
 * metrics: the probes so far in half-open, else the window at now_ns. Any
 * pointer may be NULL. No calls: rates 0.
 */
void breaker_rates(const struct breaker *b, __u64 now_ns, double *failure_rate, double *slow_rate,
		   unsigned int *calls);

/* Copies up to max of the last transitions, oldest first; returns how many. */
unsigned int breaker_transitions(const struct breaker *b, struct breaker_transition *out,
				 unsigned int max);

#endif /* SLUICE_BREAKER_H */
