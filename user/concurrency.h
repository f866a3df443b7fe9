/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Adaptive concurrency limits: how many connections a service may have in
 * flight, learned from the latency and the failures of its calls, so that
 * the XDP program can refuse the excess at the NIC before it queues. The
 * controller feeds one sample per completed call (a probe) and publishes
 * the limit the sample leaves.
 *
 * The algorithms and their defaults are those of Netflix's concurrency-limits
 * (github.com/Netflix/concurrency-limits, concurrency-limits-core/.../limit/),
 * checked against that library's own unit tests:
 *
 *   fixed      the limit never moves.
 *   aimd       AIMDLimit: a drop multiplies the limit by backoff_ratio, a
 *              success with at least half the limit in flight adds one.
 *   vegas      VegasLimit: TCP Vegas's estimate of the queue,
 *              limit * (1 - rtt_noload / rtt), against thresholds that grow
 *              with log10(limit); rtt_noload is the minimum RTT, probed
 *              afresh every probe_multiplier * limit samples (with jitter).
 *   gradient2  Gradient2Limit: the ratio of a long-window average RTT to
 *              the last RTT, times a tolerance, scales the limit, plus a
 *              little headroom (queue_size), smoothed.
 *
 * Where Sluice departs from the library, and why (concurrency.c says more):
 *  - gradient2 backs off by backoff_ratio on a drop; the library's ignores
 *    drops and timeouts, so a backend that fails fast looks *better* to it;
 *  - a sample slower than timeout_ns is a drop for every adaptive algorithm
 *    (the library does this for aimd only);
 *  - the RTT of a dropped call (a refusal's microseconds, a timeout's
 *    seconds) is not a service time: vegas and gradient2 keep it out of
 *    their RTT baselines, and a drop always lowers vegas's limit (the
 *    library's first checks could take a fast refusal as the new rtt_noload);
 *  - every algorithm keeps to [min, max] (the library's vegas has no min).
 *
 * Pure arithmetic on the state, the sample and an injected seeded RNG (vegas's
 * probe jitter): no clock, no I/O, so tests replay exact sequences.
 */
#ifndef SLUICE_CONCURRENCY_H
#define SLUICE_CONCURRENCY_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>

enum conc_algo {
	CONC_FIXED = 0,
	CONC_AIMD,
	CONC_VEGAS,
	CONC_GRADIENT2,
	CONC_ALGO_COUNT
};

/*
 * The largest limit anyone may set: far above what one port serves, and
 * small enough that limit + headroom never loses integer precision in a
 * double or overflows the in-flight counts it is compared with.
 */
#define CONC_MAX_LIMIT 1000000u

/*
 * What an algorithm is told to do. conc_config_defaults() fills in the
 * library's defaults for an algorithm; each knob says which algorithms read it.
 */
struct conc_config {
	enum conc_algo algo;
	unsigned int initial;		/* where the limit starts */
	unsigned int min, max;		/* the limit never leaves [min, max] */
	__u64 timeout_ns;		/* aimd, vegas, gradient2: slower is a drop */
	double backoff_ratio;		/* aimd, gradient2: a drop multiplies by this */
	double smoothing;		/* vegas, gradient2: weight of the new estimate, (0, 1] */
	unsigned int probe_multiplier;	/* vegas: re-probe rtt_noload every this * limit samples */
	unsigned int long_window;	/* gradient2: samples the long RTT average spans */
	double tolerance;		/* gradient2: RTT growth, over the long average, taken as no queue */
	unsigned int queue_size;	/* gradient2: headroom added at each update */
};

/* A limit's state; fill it with conc_init(), move it with conc_update(). */
struct conc_limit {
	struct conc_config cfg;
	double estimate;		/* the limit before it is rounded down to whole connections */
	__u64 rng;			/* splitmix64 state: vegas's probe jitter */
	__u64 samples;			/* samples taken */
	__u64 drops;			/* of which drops (including those slower than timeout_ns) */
	__u64 updated_ns;		/* now_ns of the last sample */
	/* vegas */
	__u64 rtt_noload_ns;		/* the minimum RTT since the last probe; 0: none yet */
	unsigned int probe_count;	/* samples since the last probe */
	double probe_jitter;		/* in [0.5, 1): this probe period's share of the full one */
	/* gradient2 */
	double long_rtt_ns;		/* the long-window average RTT */
	unsigned int long_rtt_samples;	/* samples in it while it warms up (a plain mean) */
	double long_rtt_sum_ns;		/* their sum, while it warms up */
	__u64 last_rtt_ns;		/* the short RTT: the last good sample's */
};

/* The library's defaults for `algo` (fixed: a limit of the library's initial 20). */
void conc_config_defaults(struct conc_config *cfg, enum conc_algo algo);

/* Checks a config: bounds in order and within CONC_MAX_LIMIT, knobs in range. */
int conc_config_check(const struct conc_config *cfg, char *err, size_t err_len);

/*
 * What operators type after --concurrency:
 *   fixed:N                      a limit of N that never moves;
 *   aimd | vegas | gradient2     the library's defaults, optionally followed
 *                                by ":initial=N,min=N,max=N" (any of them).
 * Fills *cfg and returns 0, or fills err with one line and returns -1,
 * leaving *cfg as it was.
 */
int conc_parse(const char *text, struct conc_config *cfg, char *err, size_t err_len);

/* Writes a config back as conc_parse() reads it: "fixed:50", "vegas:initial=20,min=1,max=1000". */
void conc_format(const struct conc_config *cfg, char *buf, size_t len);

/* "fixed", "aimd", "vegas", "gradient2"; "unknown" for anything else. */
const char *conc_algo_name(enum conc_algo algo);

/*
 * Starts a limit at cfg->initial (brought into [min, max]). `seed` seeds the
 * RNG, so two limits with one seed make the same decisions. cfg should have
 * passed conc_config_check().
 */
void conc_init(struct conc_limit *l, const struct conc_config *cfg, __u64 seed);

/*
 * Takes one sample: a call that completed at now_ns after rtt_ns, with
 * `inflight` calls in flight when it started, which was `dropped` (failed,
 * timed out, refused). Returns the new limit in whole connections, always
 * in [min, max]. A call that did not drop but has an RTT of 0 tells nothing
 * about latency and leaves the limit as it is.
 */
unsigned int conc_update(struct conc_limit *l, __u64 now_ns, __u64 rtt_ns, unsigned int inflight,
			 bool dropped);

/* The limit now, in whole connections. */
unsigned int conc_current(const struct conc_limit *l);

#endif /* SLUICE_CONCURRENCY_H */
