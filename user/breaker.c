// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The circuit breaker's state machine and sliding windows (user/breaker.h). */
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "breaker.h"
#include "parse.h"
#include "seeded.h"

#define NS_PER_MS 1000000ull
#define NS_PER_SEC 1000000000ull

#define BREAKER_OUTCOME_FAILED 0x1
#define BREAKER_OUTCOME_SLOW 0x2

void breaker_config_defaults(struct breaker_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	/*
	 * Resilience4j's CircuitBreakerConfig: a count window of 100 calls, at
	 * least 100 of them before it may trip, 50% failures, 100% slow calls
	 * (only a backend that is slow every time trips on slowness alone), 10
	 * permitted calls in half-open, and no limit on waiting for them
	 * (maxWaitDurationInHalfOpenState 0).
	 */
	cfg->window_type = BREAKER_WINDOW_COUNT;
	cfg->window_size = 100;
	cfg->minimum_calls = 100;
	cfg->failure_rate_threshold = 50;
	cfg->slow_call_rate_threshold = 100;
	cfg->half_open_calls = 10;
	cfg->half_open_max_ms = 0;
	/*
	 * Resilience4j's slowCallDurationThreshold is 60 s, for calls of any
	 * kind. Ours are probes and connections to a service on the network,
	 * answered in milliseconds: one that takes a second is a thousand
	 * times late, and a client has long given up on it.
	 */
	cfg->slow_call_ms = 1000;
	/*
	 * Resilience4j stays open 60 s (waitDurationInOpenState). Its
	 * exponential random backoff multiplies by 1.5 with a randomization
	 * factor of 0.5 (IntervalFunction's DEFAULT_MULTIPLIER and
	 * DEFAULT_RANDOMIZATION_FACTOR) and has no cap unless given one; ours
	 * is 10 times the base, the ratio of Envoy's outlier detection
	 * (base_ejection_time 30 s, max_ejection_time 300 s).
	 */
	cfg->open_base_ms = 60 * 1000;
	cfg->open_max_ms = 600 * 1000;
	cfg->open_multiplier = 1.5;
	cfg->open_jitter = 0.5;
}

int breaker_config_check(const struct breaker_config *cfg, char *err, size_t err_len)
{
	unsigned int max_window;
	const char *unit;

	switch (cfg->window_type) {
	case BREAKER_WINDOW_COUNT:
		max_window = BREAKER_MAX_WINDOW_CALLS;
		unit = "calls";
		break;
	case BREAKER_WINDOW_TIME:
		max_window = BREAKER_MAX_WINDOW_SECONDS;
		unit = "seconds";
		break;
	default:
		snprintf(err, err_len, "the window type must be count or time");
		return -1;
	}
	if (cfg->window_size < 1 || cfg->window_size > max_window) {
		snprintf(err, err_len, "the window (%u %s) must be from 1 to %u %s", cfg->window_size,
			 unit, max_window, unit);
		return -1;
	}
	if (cfg->minimum_calls < 1) {
		snprintf(err, err_len, "the minimum number of calls must be at least 1");
		return -1;
	}
	/* Resilience4j quietly lowers it to the window; a setting that can never be met is refused. */
	if (cfg->window_type == BREAKER_WINDOW_COUNT && cfg->minimum_calls > cfg->window_size) {
		snprintf(err, err_len,
			 "the minimum number of calls (%u) must not exceed the window (%u calls)",
			 cfg->minimum_calls, cfg->window_size);
		return -1;
	}
	if (cfg->failure_rate_threshold < 1 || cfg->failure_rate_threshold > 100) {
		snprintf(err, err_len, "the failure rate threshold (%u%%) must be from 1%% to 100%%",
			 cfg->failure_rate_threshold);
		return -1;
	}
	if (cfg->slow_call_rate_threshold < 1 || cfg->slow_call_rate_threshold > 100) {
		snprintf(err, err_len,
			 "the slow call rate threshold (%u%%) must be from 1%% to 100%%",
			 cfg->slow_call_rate_threshold);
		return -1;
	}
	if (cfg->slow_call_ms < 1) {
		snprintf(err, err_len, "the slow call duration must be at least 1 ms");
		return -1;
	}
	if (cfg->half_open_calls < 1) {
		snprintf(err, err_len, "the number of calls in half-open must be at least 1");
		return -1;
	}
	if (cfg->open_base_ms < 1) {
		snprintf(err, err_len, "the open time must be at least 1 ms");
		return -1;
	}
	if (cfg->open_max_ms < cfg->open_base_ms) {
		snprintf(err, err_len, "the maximum open time (%u ms) must not be below the base (%u ms)",
			 cfg->open_max_ms, cfg->open_base_ms);
		return -1;
	}
	/* Written so that NaN fails too. */
	if (!(cfg->open_multiplier >= 1.0 && cfg->open_multiplier <= 100.0)) {
		snprintf(err, err_len, "the open time multiplier (%g) must be from 1 to 100",
			 cfg->open_multiplier);
		return -1;
	}
	/* Below 1, as Resilience4j has it: a factor of 1 could make the open time 0. */
	if (!(cfg->open_jitter >= 0.0 && cfg->open_jitter < 1.0)) {
		snprintf(err, err_len, "the open time jitter (%g) must be from 0 to below 1",
			 cfg->open_jitter);
		return -1;
	}
	return 0;
}

/* ---- The sliding window ------------------------------------------------ */

static unsigned int window_size(const struct breaker *b)
{
	unsigned int max = b->cfg.window_type == BREAKER_WINDOW_TIME ? BREAKER_MAX_WINDOW_SECONDS
								     : BREAKER_MAX_WINDOW_CALLS;

	/* Checked settings are in range; this keeps unchecked ones inside the arrays. */
	if (b->cfg.window_size < 1)
		return 1;
	return b->cfg.window_size < max ? b->cfg.window_size : max;
}

static void window_clear(struct breaker *b, __u64 now_ns)
{
	memset(&b->window, 0, sizeof(b->window));
	b->window.head_sec = now_ns / NS_PER_SEC;
}

static void window_evict_bucket(struct breaker_window *w, struct breaker_bucket *old)
{
	w->calls -= old->calls;
	w->failures -= old->failures;
	w->slow -= old->slow;
	*old = (struct breaker_bucket){};
}

/*
 * Brings a time window up to now_sec: the buckets of the seconds that have
 * passed since the newest one held calls that are now out of the window.
 * Each second is cleared once, so this is O(1) per call amortized; a gap of
 * a whole window or more empties it at once. A clock that went back leaves
 * the window as it is (and the call lands in the newest bucket).
 */
static void window_advance(struct breaker *b, __u64 now_sec)
{
	struct breaker_window *w = &b->window;
	unsigned int size = window_size(b);

	if (now_sec <= w->head_sec)
		return;
	if (now_sec - w->head_sec >= size) {
		memset(w->bucket, 0, size * sizeof(w->bucket[0]));
		w->calls = w->failures = w->slow = 0;
	} else {
		for (__u64 s = w->head_sec + 1; s <= now_sec; s++)
			window_evict_bucket(w, &w->bucket[s % size]);
	}
	w->head_sec = now_sec;
}

static void window_add(struct breaker *b, __u64 now_ns, bool failed, bool slow)
{
	struct breaker_window *w = &b->window;
	unsigned int size = window_size(b);

	if (b->cfg.window_type == BREAKER_WINDOW_TIME) {
		struct breaker_bucket *head;

		window_advance(b, now_ns / NS_PER_SEC);
		head = &w->bucket[w->head_sec % size];
		head->calls++;
		head->failures += failed;
		head->slow += slow;
	} else {
		__u8 *slot = &w->outcome[w->next];

		/* The ring fills from slot 0, so it holds an old call once it is full. */
		if (w->calls == size) {
			w->calls--;
			w->failures -= !!(*slot & BREAKER_OUTCOME_FAILED);
			w->slow -= !!(*slot & BREAKER_OUTCOME_SLOW);
		}
		*slot = (failed ? BREAKER_OUTCOME_FAILED : 0) | (slow ? BREAKER_OUTCOME_SLOW : 0);
		w->next = (w->next + 1) % size;
	}
	w->calls++;
	w->failures += failed;
	w->slow += slow;
}

/* The window's sums as they stand at now_ns, without moving it (for const readers). */
static void window_view(const struct breaker *b, __u64 now_ns, __u32 *calls, __u32 *failures,
			__u32 *slow)
{
	const struct breaker_window *w = &b->window;
	unsigned int size = window_size(b);
	__u64 now_sec = now_ns / NS_PER_SEC;

	*calls = w->calls;
	*failures = w->failures;
	*slow = w->slow;
	if (b->cfg.window_type != BREAKER_WINDOW_TIME || now_sec <= w->head_sec)
		return;
	if (now_sec - w->head_sec >= size) {
		*calls = *failures = *slow = 0;
		return;
	}
	for (__u64 s = w->head_sec + 1; s <= now_sec; s++) {
		const struct breaker_bucket *old = &w->bucket[s % size];

		*calls -= old->calls;
		*failures -= old->failures;
		*slow -= old->slow;
	}
}

static double percent(__u32 part, __u32 whole)
{
	return whole ? 100.0 * part / whole : 0.0;
}

/* At or over the threshold, as Resilience4j compares; in integers, so 50 of 100 is exactly 50%. */
static bool at_or_over(__u32 part, __u32 whole, __u32 threshold_pct)
{
	return whole && (__u64)part * 100 >= (__u64)threshold_pct * whole;
}

/* ---- Transitions ------------------------------------------------------- */

static void enter(struct breaker *b, __u64 now_ns, enum breaker_state to,
		  enum breaker_reason reason, __u32 calls, __u32 failures, __u32 slow)
{
	struct breaker_transition *t = &b->transition[b->transitions_total % BREAKER_TRANSITIONS];

	*t = (struct breaker_transition){
		.at_ns = now_ns,
		.from = b->state,
		.to = to,
		.reason = reason,
		.failure_rate = percent(failures, calls),
		.slow_rate = percent(slow, calls),
		.calls = calls,
	};
	b->transitions_total++;
	b->state = to;
	b->since_ns = now_ns;
}

/*
 * Open, for longer each time it opens again without having closed: the
 * first open time is open_base_ms, each later one open_multiplier times the
 * one before, capped at open_max_ms; then the jitter spreads breakers that
 * tripped together, so their probes do not arrive together. The cap comes
 * before the jitter (as in Resilience4j's backoff with a maximum), so an
 * open time is at most open_max_ms * (1 + open_jitter).
 */
static void open_again(struct breaker *b, __u64 now_ns, enum breaker_reason reason, __u32 calls,
		       __u32 failures, __u32 slow)
{
	double base_ns = (double)b->cfg.open_base_ms * NS_PER_MS;
	double max_ns = (double)b->cfg.open_max_ms * NS_PER_MS;
	double next, unit, wait;

	next = b->backoff_ns ? (double)b->backoff_ns * b->cfg.open_multiplier : base_ns;
	if (next > max_ns)
		next = max_ns;
	b->backoff_ns = (__u64)next;
	b->trips++;

	unit = seeded_unit(&b->rng);	/* [0, 1) */
	wait = (double)b->backoff_ns * (1.0 + b->cfg.open_jitter * (2.0 * unit - 1.0));
	b->open_until_ns = now_ns + (__u64)wait;
	enter(b, now_ns, BREAKER_OPEN, reason, calls, failures, slow);
}

static void half_open(struct breaker *b, __u64 now_ns)
{
	b->probes_admitted = b->probes_done = b->probes_failed = b->probes_slow = 0;
	enter(b, now_ns, BREAKER_HALF_OPEN, BREAKER_REASON_OPEN_TIME_PASSED, 0, 0, 0);
}

/* Closed with a fresh window and the backoff back at its base, as after a successful close. */
static void close_fresh(struct breaker *b, __u64 now_ns, enum breaker_reason reason, __u32 calls,
			__u32 failures, __u32 slow)
{
	window_clear(b, now_ns);
	b->backoff_ns = 0;
	b->trips = 0;
	enter(b, now_ns, BREAKER_CLOSED, reason, calls, failures, slow);
}

/* The settings of --breaker, in the order breaker_format() writes them. */
enum breaker_key { KEY_WINDOW, KEY_MIN_CALLS, KEY_FAILURE, KEY_SLOW, KEY_HALF_OPEN,
		   KEY_HALF_OPEN_WAIT, KEY_OPEN, KEY_MAX_OPEN, KEY_MULTIPLIER, KEY_JITTER,
		   KEY_COUNT };
static const char *const breaker_keys[KEY_COUNT] = {
	"window", "min-calls", "failure", "slow", "half-open", "half-open-wait", "open",
	"max-open", "multiplier", "jitter",
};

/*
 * A number in [min, max] (below max when max_open), with nothing after it,
 * for multiplier and jitter. Rounded to 4 decimals first, so that what
 * breaker_format() writes back is read back as the same number.
 */
static int parse_ratio(const char *key, const char *text, double min, double max, bool max_open,
		       double *out, char *err, size_t err_len)
{
	char *end;
	double v;

	errno = 0;
	v = round(strtod(text, &end) * 10000.0) / 10000.0 + 0.0;	/* + 0.0: no -0 */
	if (!*text || *end || errno || !(v >= min && (max_open ? v < max : v <= max))) {
		snprintf(err, err_len, "invalid --breaker %s '%s': expected a number from %g to %s%g "
			 "(4 decimals at most)", key, text, min, max_open ? "below " : "", max);
		return -1;
	}
	*out = v;
	return 0;
}

/* One KEY=VALUE of --breaker into *cfg. */
static int breaker_set(struct breaker_config *cfg, enum breaker_key key, const char *value,
		       char *err, size_t err_len)
{
	size_t len = strlen(value);
	char arg[48];
	__u64 n;

	snprintf(arg, sizeof(arg), "--breaker %s", breaker_keys[key]);
	switch (key) {
	case KEY_WINDOW:
		if (len > 1 && value[len - 1] == 's') {
			char count[32];

			if (len >= sizeof(count)) {
				snprintf(err, err_len, "invalid %s '%s'", arg, value);
				return -1;
			}
			memcpy(count, value, len - 1);
			count[len - 1] = '\0';
			if (parse_count(arg, count, 1, BREAKER_MAX_WINDOW_SECONDS, &n, err, err_len))
				return -1;
			cfg->window_type = BREAKER_WINDOW_TIME;
		} else {
			if (parse_count(arg, value, 1, BREAKER_MAX_WINDOW_CALLS, &n, err, err_len))
				return -1;
			cfg->window_type = BREAKER_WINDOW_COUNT;
		}
		cfg->window_size = (__u32)n;
		return 0;
	case KEY_MIN_CALLS:
	case KEY_HALF_OPEN:
		if (parse_count(arg, value, 1, 100000, &n, err, err_len))
			return -1;
		*(key == KEY_MIN_CALLS ? &cfg->minimum_calls : &cfg->half_open_calls) = (__u32)n;
		return 0;
	case KEY_FAILURE:
	case KEY_SLOW:
		if (parse_percent(arg, value, 1, 100, &n, err, err_len))
			return -1;
		*(key == KEY_FAILURE ? &cfg->failure_rate_threshold :
				       &cfg->slow_call_rate_threshold) = (__u32)n;
		return 0;
	case KEY_HALF_OPEN_WAIT:
		if (parse_duration_ms(arg, value, 0, 3600 * 1000, &n, err, err_len))
			return -1;
		cfg->half_open_max_ms = (__u32)n;
		return 0;
	case KEY_OPEN:
	case KEY_MAX_OPEN:
		if (parse_duration_ms(arg, value, 1, BREAKER_MAX_OPEN_MS, &n, err, err_len))
			return -1;
		*(key == KEY_OPEN ? &cfg->open_base_ms : &cfg->open_max_ms) = (__u32)n;
		return 0;
	case KEY_MULTIPLIER:
		return parse_ratio(breaker_keys[key], value, 1, 10, false, &cfg->open_multiplier, err,
				   err_len);
	case KEY_JITTER:
		return parse_ratio(breaker_keys[key], value, 0, 1, true, &cfg->open_jitter, err,
				   err_len);
	case KEY_COUNT:
		break;
	}
	return -1;
}

int breaker_parse(const char *text, const struct breaker_config *base, struct breaker_config *cfg,
		  char *err, size_t err_len)
{
	struct breaker_config parsed;
	bool seen[KEY_COUNT] = {};
	char buf[256], reason[256], *rest = buf, *opt;

	if (strlen(text) >= sizeof(buf)) {
		snprintf(err, err_len, "invalid --breaker: longer than %zu characters",
			 sizeof(buf) - 1);
		return -1;
	}
	strcpy(buf, text);
	if (base)
		parsed = *base;
	else
		breaker_config_defaults(&parsed);
	if (strcmp(text, "on") == 0)
		rest = NULL;
	/* strsep, not strtok: "failure=50,,slow=80" is a typo to point out, not to skip. */
	while (rest && (opt = strsep(&rest, ",")) != NULL) {
		char *eq = strchr(opt, '=');
		int key;

		if (eq)
			*eq = '\0';
		for (key = 0; key < KEY_COUNT && strcmp(opt, breaker_keys[key]) != 0; key++)
			;
		if (key == KEY_COUNT || !eq || !eq[1]) {
			snprintf(err, err_len, "invalid --breaker setting '%s': expected on, or "
				 "KEY=VALUE with KEY one of window, min-calls, failure, slow, "
				 "half-open, half-open-wait, open, max-open, multiplier, jitter", opt);
			return -1;
		}
		if (seen[key]) {
			snprintf(err, err_len, "invalid --breaker: %s given twice", breaker_keys[key]);
			return -1;
		}
		seen[key] = true;
		if (breaker_set(&parsed, (enum breaker_key)key, eq + 1, err, err_len))
			return -1;
	}
	/*
	 * One of the two open times given alone carries the other along where
	 * the default would contradict it: open=5m keeps its cap at 10x,
	 * max-open under the default base lowers the base to it.
	 */
	if (seen[KEY_OPEN] && !seen[KEY_MAX_OPEN])
		parsed.open_max_ms = parsed.open_base_ms > BREAKER_MAX_OPEN_MS / 10 ?
					     BREAKER_MAX_OPEN_MS : parsed.open_base_ms * 10;
	if (seen[KEY_MAX_OPEN] && !seen[KEY_OPEN] && parsed.open_base_ms > parsed.open_max_ms)
		parsed.open_base_ms = parsed.open_max_ms;
	/* A count window under the default minimum of calls: the window is the minimum. */
	if (seen[KEY_WINDOW] && !seen[KEY_MIN_CALLS] && parsed.window_type == BREAKER_WINDOW_COUNT &&
	    parsed.minimum_calls > parsed.window_size)
		parsed.minimum_calls = parsed.window_size;
	if (breaker_config_check(&parsed, reason, sizeof(reason))) {
		snprintf(err, err_len, "invalid --breaker '%s': %s", text, reason);
		return -1;
	}
	*cfg = parsed;
	return 0;
}

void breaker_format(const struct breaker_config *cfg, char *buf, size_t len)
{
	snprintf(buf, len,
		 "window=%u%s,min-calls=%u,failure=%u,slow=%u,half-open=%u,half-open-wait=%ums,"
		 "open=%ums,max-open=%ums,multiplier=%g,jitter=%g",
		 cfg->window_size, cfg->window_type == BREAKER_WINDOW_TIME ? "s" : "",
		 cfg->minimum_calls, cfg->failure_rate_threshold, cfg->slow_call_rate_threshold,
		 cfg->half_open_calls, cfg->half_open_max_ms, cfg->open_base_ms, cfg->open_max_ms,
		 cfg->open_multiplier, cfg->open_jitter);
}

void breaker_init(struct breaker *b, const struct breaker_config *cfg, __u64 now_ns, __u64 seed)
{
	memset(b, 0, sizeof(*b));
	b->cfg = *cfg;
	b->state = BREAKER_CLOSED;
	b->since_ns = now_ns;
	b->rng = seed;
	window_clear(b, now_ns);
}

bool breaker_tick(struct breaker *b, __u64 now_ns)
{
	switch (b->state) {
	case BREAKER_OPEN:
		if (now_ns < b->open_until_ns)
			return false;
		half_open(b, now_ns);
		return true;
	case BREAKER_HALF_OPEN:
		/* A probe whose outcome never comes must not hold the breaker half-open for ever. */
		if (!b->cfg.half_open_max_ms ||
		    now_ns < b->since_ns + (__u64)b->cfg.half_open_max_ms * NS_PER_MS)
			return false;
		open_again(b, now_ns, BREAKER_REASON_PROBES_TIMED_OUT, b->probes_done,
			   b->probes_failed, b->probes_slow);
		return true;
	default:
		return false;
	}
}

bool breaker_admit(struct breaker *b, __u64 now_ns)
{
	bool admit;

	breaker_tick(b, now_ns);
	switch (b->state) {
	case BREAKER_CLOSED:
	case BREAKER_DISABLED:
		admit = true;
		break;
	case BREAKER_HALF_OPEN:
		admit = b->probes_admitted < b->cfg.half_open_calls;
		b->probes_admitted += admit;
		break;
	default:
		admit = false;
		break;
	}
	b->refused += !admit;
	return admit;
}

/* Half-open: the probe's outcome, and once every probe in the budget is in, the verdict. */
static bool judge_probe(struct breaker *b, __u64 now_ns, bool failed, bool slow)
{
	const struct breaker_config *cfg = &b->cfg;

	/* An outcome of a call from before the breaker went half-open is not a probe's. */
	if (b->probes_done >= b->probes_admitted)
		return false;
	b->probes_done++;
	b->probes_failed += failed;
	b->probes_slow += slow;
	if (b->probes_done < cfg->half_open_calls)
		return false;
	if (at_or_over(b->probes_failed, b->probes_done, cfg->failure_rate_threshold) ||
	    at_or_over(b->probes_slow, b->probes_done, cfg->slow_call_rate_threshold))
		open_again(b, now_ns, BREAKER_REASON_PROBES_FAILED, b->probes_done,
			   b->probes_failed, b->probes_slow);
	else
		close_fresh(b, now_ns, BREAKER_REASON_PROBES_PASSED, b->probes_done,
			    b->probes_failed, b->probes_slow);
	return true;
}

bool breaker_record(struct breaker *b, __u64 now_ns, __u64 duration_ns, bool failed)
{
	const struct breaker_config *cfg = &b->cfg;
	/* Longer than the threshold, not equal to it, as Resilience4j counts a slow call. */
	bool slow = duration_ns > (__u64)cfg->slow_call_ms * NS_PER_MS;
	struct breaker_window *w = &b->window;

	if (b->state == BREAKER_HALF_OPEN)
		return judge_probe(b, now_ns, failed, slow);
	window_add(b, now_ns, failed, slow);
	if (b->state != BREAKER_CLOSED || w->calls < cfg->minimum_calls)
		return false;
	if (at_or_over(w->failures, w->calls, cfg->failure_rate_threshold))
		open_again(b, now_ns, BREAKER_REASON_FAILURE_RATE, w->calls, w->failures, w->slow);
	else if (at_or_over(w->slow, w->calls, cfg->slow_call_rate_threshold))
		open_again(b, now_ns, BREAKER_REASON_SLOW_RATE, w->calls, w->failures, w->slow);
	else
		return false;
	return true;
}

void breaker_trip(struct breaker *b, __u64 now_ns)
{
	const struct breaker_window *w = &b->window;

	if (b->state != BREAKER_FORCED_OPEN)
		enter(b, now_ns, BREAKER_FORCED_OPEN, BREAKER_REASON_TRIPPED, w->calls, w->failures,
		      w->slow);
}

void breaker_reset(struct breaker *b, __u64 now_ns)
{
	const struct breaker_window *w = &b->window;

	/* Even from closed: a reset always starts a fresh window, and says so in the log. */
	close_fresh(b, now_ns, BREAKER_REASON_RESET, w->calls, w->failures, w->slow);
}

void breaker_disable(struct breaker *b, __u64 now_ns)
{
	const struct breaker_window *w = &b->window;

	if (b->state != BREAKER_DISABLED)
		enter(b, now_ns, BREAKER_DISABLED, BREAKER_REASON_DISABLED, w->calls, w->failures,
		      w->slow);
}

const char *breaker_state_name(enum breaker_state s)
{
	switch (s) {
	case BREAKER_CLOSED:
		return "closed";
	case BREAKER_OPEN:
		return "open";
	case BREAKER_HALF_OPEN:
		return "half_open";
	case BREAKER_FORCED_OPEN:
		return "forced_open";
	case BREAKER_DISABLED:
		return "disabled";
	}
	return "unknown";
}

const char *breaker_reason_name(enum breaker_reason r)
{
	switch (r) {
	case BREAKER_REASON_FAILURE_RATE:
		return "failure_rate";
	case BREAKER_REASON_SLOW_RATE:
		return "slow_call_rate";
	case BREAKER_REASON_OPEN_TIME_PASSED:
		return "open_time_passed";
	case BREAKER_REASON_PROBES_PASSED:
		return "probes_passed";
	case BREAKER_REASON_PROBES_FAILED:
		return "probes_failed";
	case BREAKER_REASON_PROBES_TIMED_OUT:
		return "probes_timed_out";
	case BREAKER_REASON_TRIPPED:
		return "tripped";
	case BREAKER_REASON_RESET:
		return "reset";
	case BREAKER_REASON_DISABLED:
		return "disabled";
	}
	return "unknown";
}

void breaker_rates(const struct breaker *b, __u64 now_ns, double *failure_rate, double *slow_rate,
		   unsigned int *calls)
{
	__u32 n, failures, slow;

	if (b->state == BREAKER_HALF_OPEN) {
		n = b->probes_done;
		failures = b->probes_failed;
		slow = b->probes_slow;
	} else {
		window_view(b, now_ns, &n, &failures, &slow);
	}
	if (failure_rate)
		*failure_rate = percent(failures, n);
	if (slow_rate)
		*slow_rate = percent(slow, n);
	if (calls)
		*calls = n;
}

unsigned int breaker_transitions(const struct breaker *b, struct breaker_transition *out,
				 unsigned int max)
{
	__u64 kept = b->transitions_total < BREAKER_TRANSITIONS ? b->transitions_total
								: BREAKER_TRANSITIONS;
	__u64 first = b->transitions_total - kept;
	unsigned int n = 0;

	/* The newest ones when max is below what is kept, still oldest first. */
	if (kept > max)
		first = b->transitions_total - max;
	for (__u64 i = first; i < b->transitions_total; i++)
		out[n++] = b->transition[i % BREAKER_TRANSITIONS];
	return n;
}
