// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The adaptive concurrency limits (user/concurrency.h). Each algorithm
 * follows the Java of Netflix's concurrency-limits, whose files and commits
 * are named where their formulas are used, so a reader can hold the two
 * side by side; the places where Sluice does otherwise say so and why.
 */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "concurrency.h"
#include "seeded.h"
#include "parse.h"

#define SEC 1000000000ull

/*
 * Defaults, from the library's builders:
 *  - AIMDLimit.java (commit 784c960): initialLimit 20, minLimit 20,
 *    maxLimit 200, backoffRatio 0.9 (it must be in [0.5, 1)), timeout 5 s;
 *  - VegasLimit.java (commits 7989055, 141214d): initialLimit 20,
 *    maxConcurrency 1000, smoothing 1.0, probeMultiplier 30; no minimum
 *    but the 1 it clamps to;
 *  - Gradient2Limit.java (commit f2528de): initialLimit 20, minLimit 20,
 *    maxConcurrency 200, smoothing 0.2, queueSize 4, longWindow 600,
 *    rttTolerance 1.5 (it must be >= 1.0).
 * The 5 s timeout and the 0.9 backoff are AIMD's; Sluice gives them to
 * the other adaptive algorithms too (see conc_update()).
 */
#define DEFAULT_INITIAL 20
#define DEFAULT_TIMEOUT_NS (5 * SEC)
#define DEFAULT_BACKOFF_RATIO 0.9

/* ExpAvgMeasurement(longWindow, 10) in Gradient2Limit: a plain mean of the first 10 samples. */
#define LONG_RTT_WARMUP 10
/* Gradient2Limit (f2528de): past twice the short RTT, the long RTT decays by 5% a sample. */
#define LONG_RTT_DRIFT 2.0
#define LONG_RTT_DECAY 0.95
/* Gradient2Limit: the gradient may halve the limit at most, and never raise it. */
#define MIN_GRADIENT 0.5

/* Uniform in [0.5, 1): VegasLimit's ThreadLocalRandom.nextDouble(0.5, 1), seeded. */
static double probe_jitter(__u64 *rng)
{
	return 0.5 + 0.5 * seeded_unit(rng);
}

static double clamp(double x, double lo, double hi)
{
	return x < lo ? lo : x > hi ? hi : x;
}

/*
 * Log10RootIntFunction: floor(log10(n)), but at least 1. The library's
 * Vegas thresholds and steps are multiples of it, and use the limit
 * truncated to an int, as here.
 */
static int log10_at_least_1(unsigned int n)
{
	int digits = 0;

	while (n >= 10) {
		n /= 10;
		digits++;
	}
	return digits ? digits : 1;
}

const char *conc_algo_name(enum conc_algo algo)
{
	switch (algo) {
	case CONC_FIXED:
		return "fixed";
	case CONC_AIMD:
		return "aimd";
	case CONC_VEGAS:
		return "vegas";
	case CONC_GRADIENT2:
		return "gradient2";
	default:
		return "unknown";
	}
}

void conc_config_defaults(struct conc_config *cfg, enum conc_algo algo)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->algo = algo;
	cfg->initial = DEFAULT_INITIAL;
	cfg->timeout_ns = DEFAULT_TIMEOUT_NS;
	cfg->backoff_ratio = DEFAULT_BACKOFF_RATIO;
	switch (algo) {
	case CONC_AIMD:
		cfg->min = 20;
		cfg->max = 200;
		break;
	case CONC_VEGAS:
		cfg->min = 1;
		cfg->max = 1000;
		cfg->smoothing = 1.0;
		cfg->probe_multiplier = 30;
		break;
	case CONC_GRADIENT2:
		cfg->min = 20;
		cfg->max = 200;
		cfg->smoothing = 0.2;
		cfg->long_window = 600;
		cfg->tolerance = 1.5;
		cfg->queue_size = 4;
		break;
	default:
		cfg->min = cfg->max = cfg->initial;
		break;
	}
}

int conc_config_check(const struct conc_config *cfg, char *err, size_t err_len)
{
	if (cfg->algo < CONC_FIXED || cfg->algo >= CONC_ALGO_COUNT) {
		snprintf(err, err_len, "unknown concurrency algorithm %d", (int)cfg->algo);
		return -1;
	}
	/* A limit of 0 admits nothing: refusing everything is the breaker's job. */
	if (cfg->min < 1 || cfg->max > CONC_MAX_LIMIT || cfg->min > cfg->max) {
		snprintf(err, err_len, "%s: min %u and max %u must be in order, from 1 to %u",
			 conc_algo_name(cfg->algo), cfg->min, cfg->max, CONC_MAX_LIMIT);
		return -1;
	}
	if (cfg->initial < cfg->min || cfg->initial > cfg->max) {
		snprintf(err, err_len, "%s: initial %u must be from min %u to max %u",
			 conc_algo_name(cfg->algo), cfg->initial, cfg->min, cfg->max);
		return -1;
	}
	if (cfg->algo == CONC_FIXED)
		return 0;
	if (cfg->timeout_ns == 0) {
		snprintf(err, err_len, "%s: the timeout must be above 0", conc_algo_name(cfg->algo));
		return -1;
	}
	switch (cfg->algo) {
	case CONC_AIMD:
		/* AIMDLimit's own precondition: below 0.5 one drop halves the limit, 1 never backs off. */
		if (!(cfg->backoff_ratio >= 0.5 && cfg->backoff_ratio < 1.0)) {
			snprintf(err, err_len, "aimd: backoff ratio %g must be from 0.5 to under 1",
				 cfg->backoff_ratio);
			return -1;
		}
		break;
	case CONC_VEGAS:
		if (!(cfg->smoothing > 0 && cfg->smoothing <= 1.0) || cfg->probe_multiplier < 1) {
			snprintf(err, err_len,
				 "vegas: smoothing %g must be in (0, 1] and the probe multiplier %u at least 1",
				 cfg->smoothing, cfg->probe_multiplier);
			return -1;
		}
		break;
	case CONC_GRADIENT2:
		/* 1.0 is allowed: it ignores drops, as the library does, for comparison. */
		if (!(cfg->backoff_ratio >= 0.5 && cfg->backoff_ratio <= 1.0)) {
			snprintf(err, err_len, "gradient2: backoff ratio %g must be from 0.5 to 1",
				 cfg->backoff_ratio);
			return -1;
		}
		if (!(cfg->smoothing > 0 && cfg->smoothing <= 1.0) || !(cfg->tolerance >= 1.0) ||
		    !(cfg->tolerance <= 100.0) || cfg->long_window < 1 ||
		    cfg->queue_size > CONC_MAX_LIMIT) {
			snprintf(err, err_len,
				 "gradient2: smoothing %g must be in (0, 1], tolerance %g from 1 to 100, "
				 "the long window %u at least 1 and the queue size %u at most %u",
				 cfg->smoothing, cfg->tolerance, cfg->long_window, cfg->queue_size,
				 CONC_MAX_LIMIT);
			return -1;
		}
		break;
	default:
		break;
	}
	return 0;
}

/* Reads "initial=N,min=N,max=N" (any of them, once each) into cfg. */
static int parse_bounds(char *opts, struct conc_config *cfg, char *err, size_t err_len)
{
	static const char *const keys[] = { "initial", "min", "max" };
	unsigned int *fields[] = { &cfg->initial, &cfg->min, &cfg->max };
	bool seen[3] = { false, false, false };
	char *opt;

	if (*opts == '\0') {
		snprintf(err, err_len,
			 "invalid --concurrency: nothing after ':' (expected initial=N, min=N, max=N)");
		return -1;
	}
	/* strsep, not strtok: "min=1,,max=9" is a typo to point out, not to skip. */
	while ((opt = strsep(&opts, ",")) != NULL) {
		char *eq = strchr(opt, '=');
		char arg[32];
		__u64 value;
		size_t k;

		if (eq)
			*eq = '\0';
		for (k = 0; k < 3 && strcmp(opt, keys[k]) != 0; k++)
			;
		if (k == 3 || !eq) {
			snprintf(err, err_len,
				 "invalid --concurrency setting '%s': expected initial=N, min=N or max=N",
				 opt);
			return -1;
		}
		if (seen[k]) {
			snprintf(err, err_len, "invalid --concurrency: %s given twice", keys[k]);
			return -1;
		}
		seen[k] = true;
		snprintf(arg, sizeof(arg), "--concurrency %s", keys[k]);
		if (parse_count(arg, eq + 1, 1, CONC_MAX_LIMIT, &value, err, err_len))
			return -1;
		*fields[k] = (unsigned int)value;
	}
	return 0;
}

int conc_parse(const char *text, struct conc_config *cfg, char *err, size_t err_len)
{
	struct conc_config parsed;
	char buf[128], *opts;
	enum conc_algo algo;

	if (strlen(text) >= sizeof(buf)) {
		snprintf(err, err_len, "invalid --concurrency: longer than %zu characters",
			 sizeof(buf) - 1);
		return -1;
	}
	strcpy(buf, text);
	opts = strchr(buf, ':');
	if (opts)
		*opts++ = '\0';
	for (algo = CONC_FIXED; algo < CONC_ALGO_COUNT; algo++)
		if (strcmp(buf, conc_algo_name(algo)) == 0)
			break;
	if (algo == CONC_ALGO_COUNT) {
		snprintf(err, err_len,
			 "invalid --concurrency '%s': expected fixed:N, aimd, vegas or gradient2", text);
		return -1;
	}
	conc_config_defaults(&parsed, algo);
	if (algo == CONC_FIXED) {
		__u64 n;

		if (!opts) {
			snprintf(err, err_len, "invalid --concurrency 'fixed': expected fixed:N");
			return -1;
		}
		if (parse_count("--concurrency fixed:N", opts, 1, CONC_MAX_LIMIT, &n, err, err_len))
			return -1;
		parsed.initial = parsed.min = parsed.max = (unsigned int)n;
	} else if (opts && parse_bounds(opts, &parsed, err, err_len)) {
		return -1;
	}
	if (conc_config_check(&parsed, err, err_len))
		return -1;
	*cfg = parsed;
	return 0;
}

void conc_format(const struct conc_config *cfg, char *buf, size_t len)
{
	if (cfg->algo == CONC_FIXED)
		snprintf(buf, len, "fixed:%u", cfg->initial);
	else
		snprintf(buf, len, "%s:initial=%u,min=%u,max=%u", conc_algo_name(cfg->algo),
			 cfg->initial, cfg->min, cfg->max);
}

void conc_init(struct conc_limit *l, const struct conc_config *cfg, __u64 seed)
{
	memset(l, 0, sizeof(*l));
	l->cfg = *cfg;
	l->estimate = clamp(cfg->initial, cfg->min, cfg->max);
	l->rng = seed;
	l->probe_jitter = probe_jitter(&l->rng);
}

unsigned int conc_current(const struct conc_limit *l)
{
	return (unsigned int)clamp(floor(l->estimate), l->cfg.min, l->cfg.max);
}

/*
 * AIMDLimit._update() (784c960), on the limit as a whole number: a drop
 * takes it to floor(limit * backoff_ratio), a success adds one if at least
 * half the limit was in flight (otherwise the service is not using what it
 * has, and success says nothing about more), then into [min, max].
 */
static void aimd_update(struct conc_limit *l, unsigned int inflight, bool dropped)
{
	double limit = l->estimate;	/* whole: it starts whole, and every step keeps it so */

	if (dropped)
		limit = floor(limit * l->cfg.backoff_ratio);
	else if (2.0 * inflight >= limit)
		limit += 1;
	l->estimate = clamp(limit, l->cfg.min, l->cfg.max);
}

/* VegasLimit: the step, into [min, max], then smoothed toward it. */
static void vegas_move_to(struct conc_limit *l, double target)
{
	target = clamp(target, l->cfg.min, l->cfg.max);
	l->estimate = (1 - l->cfg.smoothing) * l->estimate + l->cfg.smoothing * target;
}

/*
 * VegasLimit._update() and updateEstimatedLimit() (7989055). The queue is
 * limit * (1 - rtt_noload / rtt), rounded up. With L = log10 of the limit
 * (at least 1): a queue of at most L grows the limit by 6L (no queueing:
 * grow fast), under 3L by L, over 6L shrinks it by L, and between 3L and
 * 6L holds. A drop shrinks it by L, the library's decrease function.
 *
 * Sluice differs on drops: the library first counts the sample toward a
 * probe and checks it for a new minimum RTT, so a refusal returning in
 * microseconds would become rtt_noload (and every later sample would look
 * queued) and its drop would go unpunished. Here a drop always shrinks the
 * limit and never touches rtt_noload; a probe that falls due on a drop
 * waits for the next good sample.
 */
static void vegas_update(struct conc_limit *l, __u64 rtt_ns, unsigned int inflight, bool dropped)
{
	int queue, log10_limit;

	l->probe_count++;
	if (dropped) {
		vegas_move_to(l, l->estimate - log10_at_least_1((unsigned int)l->estimate));
		return;
	}
	/*
	 * Now and then forget rtt_noload and take this sample as the new one:
	 * a minimum only ever falls, and a service that got slower for good
	 * (a new version, a busier disk) would otherwise look queued forever.
	 * The jitter keeps many limits from probing at once.
	 */
	if (l->probe_jitter * l->cfg.probe_multiplier * l->estimate <= l->probe_count) {
		l->probe_jitter = probe_jitter(&l->rng);
		l->probe_count = 0;
		l->rtt_noload_ns = rtt_ns;
		return;
	}
	if (l->rtt_noload_ns == 0 || rtt_ns < l->rtt_noload_ns) {
		l->rtt_noload_ns = rtt_ns;
		return;
	}
	/* App-limited: with under half the limit in use, low latency proves nothing about more. */
	if (2.0 * inflight < l->estimate)
		return;

	queue = (int)ceil(l->estimate * (1 - (double)l->rtt_noload_ns / (double)rtt_ns));
	log10_limit = log10_at_least_1((unsigned int)l->estimate);
	if (queue <= log10_limit)			/* threshold */
		vegas_move_to(l, l->estimate + 6 * log10_limit);	/* + beta */
	else if (queue < 3 * log10_limit)		/* alpha */
		vegas_move_to(l, l->estimate + log10_limit);		/* increase */
	else if (queue > 6 * log10_limit)		/* beta */
		vegas_move_to(l, l->estimate - log10_limit);		/* decrease */
}

/*
 * ExpAvgMeasurement.add(): the mean of the first samples, then an EWMA of
 * weight 2 / (window + 1). The mean is sum / count, recomputed from the
 * sum, so a drift decay during warm-up lasts one sample only: as in the
 * library, whose sequences the tests replay.
 */
static double long_rtt_add(struct conc_limit *l, double rtt)
{
	if (l->long_rtt_samples < LONG_RTT_WARMUP) {
		l->long_rtt_samples++;
		l->long_rtt_sum_ns += rtt;
		l->long_rtt_ns = l->long_rtt_sum_ns / l->long_rtt_samples;
	} else {
		double factor = 2.0 / (l->cfg.long_window + 1.0);

		l->long_rtt_ns = l->long_rtt_ns * (1 - factor) + rtt * factor;
	}
	return l->long_rtt_ns;
}

/*
 * Gradient2Limit._update() (f2528de), with one addition. The gradient
 * tolerance * longRtt / shortRtt, kept in [0.5, 1], scales the limit, and
 * queue_size is added as headroom to grow into; the result is smoothed.
 * The long RTT is an average (not a minimum) over long_window samples, and
 * decays by 5% a sample while it is over twice the short RTT, so that it
 * comes back down soon after a long overload instead of keeping the
 * gradient at 1 and the limit growing.
 *
 * The addition: the library ignores didDrop, and a call that fails fast
 * (a refusal, a 5xx from a backend that has given up) has a short RTT, so a
 * failing backend made its limit *grow*. Here a drop (a failure, or a call
 * slower than the timeout) multiplies the limit by backoff_ratio at once,
 * as AIMD does, unsmoothed: a failure is a clear signal, not noise to
 * average. Its RTT stays out of both averages, as it is not a service
 * time. A backoff ratio of 1 restores the library's behaviour.
 */
static void gradient2_update(struct conc_limit *l, __u64 rtt_ns, unsigned int inflight,
			     bool dropped)
{
	double short_rtt = (double)rtt_ns, long_rtt, gradient, target;

	if (dropped) {
		l->estimate = clamp(l->estimate * l->cfg.backoff_ratio, l->cfg.min, l->cfg.max);
		return;
	}
	l->last_rtt_ns = rtt_ns;
	long_rtt = long_rtt_add(l, short_rtt);
	if (long_rtt / short_rtt > LONG_RTT_DRIFT)
		l->long_rtt_ns *= LONG_RTT_DECAY;	/* for the next sample: this one uses long_rtt */

	if (inflight < l->estimate / 2)
		return;	/* app-limited, as in vegas */

	gradient = clamp(l->cfg.tolerance * long_rtt / short_rtt, MIN_GRADIENT, 1.0);
	target = l->estimate * gradient + l->cfg.queue_size;
	target = l->estimate * (1 - l->cfg.smoothing) + target * l->cfg.smoothing;
	l->estimate = clamp(target, l->cfg.min, l->cfg.max);
}

unsigned int conc_update(struct conc_limit *l, __u64 now_ns, __u64 rtt_ns, unsigned int inflight,
			 bool dropped)
{
	l->samples++;
	l->updated_ns = now_ns;
	if (l->cfg.algo == CONC_FIXED)
		return conc_current(l);
	/*
	 * AIMDLimit's rule, for every adaptive algorithm: a call that took
	 * longer than the timeout failed its caller whatever it returned.
	 */
	if (rtt_ns > l->cfg.timeout_ns)
		dropped = true;
	if (dropped)
		l->drops++;
	else if (rtt_ns == 0)
		return conc_current(l);	/* no latency to learn from (the library refuses it) */

	switch (l->cfg.algo) {
	case CONC_AIMD:
		aimd_update(l, inflight, dropped);
		break;
	case CONC_VEGAS:
		vegas_update(l, rtt_ns, inflight, dropped);
		break;
	case CONC_GRADIENT2:
		gradient2_update(l, rtt_ns, inflight, dropped);
		break;
	default:
		break;
	}
	return conc_current(l);
}
