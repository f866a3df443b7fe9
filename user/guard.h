/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * A protected service's guard, as the controller runs it on every tick: its
 * health probes (user/probe.h) feed its circuit breaker (user/breaker.h) and
 * its adaptive concurrency limit (user/concurrency.h), and what those decide
 * becomes the gates the XDP program applies to new connections
 * (struct sluice_service_state): refuse them all while the breaker is open,
 * a budget of trials while it is half-open, and only as many as keep the
 * service's in-flight connections under the limit.
 *
 * A probe slower than --slow-call is a slow call for the breaker and a drop
 * for an adaptive limit (the library's own timeout is 5 s, far past where
 * a service's callers have given up).
 *
 * The probes are the only calls the breaker judges: the data path cannot
 * see how a client's request ended, and a probe queues behind the clients'
 * requests, so it takes as long as theirs do. In half-open the XDP program
 * admits half_open_calls new connections and the controller judges as many
 * probes sent beside them.
 */
#ifndef SLUICE_GUARD_H
#define SLUICE_GUARD_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>

#include "breaker.h"
#include "concurrency.h"
#include "probe.h"
#include "sluice.h"

/*
 * The netns_fd when the service's namespace cannot be opened: no probe goes
 * (one sent from elsewhere would reach another service).
 */
#define GUARD_NETNS_UNAVAILABLE (-2)

/* Defaults of a service's probes (`sluice service add --probe ...`). */
#define GUARD_PROBE_INTERVAL_MS 200
#define GUARD_PROBE_TIMEOUT_MS 2000
#define GUARD_SLOW_CALL_MS 1000

/*
 * The breaker of a service with probes and no --breaker: Resilience4j's
 * thresholds over a window that probes fill in seconds, not minutes (at a
 * probe every 200 ms, 20 calls are 4 s and 10 of them 2 s), open 5 s at
 * first. Resilience4j's own 100 calls would take 20 s to trip.
 */
#define GUARD_DEFAULT_BREAKER "window=20,min-calls=10,open=5s,max-open=60s"

struct guard {
	const char *name;		/* the service's, for the log */

	/* From the service's config. */
	bool probing;
	struct probe_target target;
	__u64 probe_interval_ns, probe_timeout_ns, slow_ns;
	bool has_breaker;
	struct breaker breaker;
	bool has_limit;
	struct conc_limit limit;
	enum sluice_breaker_mode mode;	/* the operator's, as last followed */
	__u32 reset_seq;		/* the config's, as last followed */

	/* The probes. */
	struct prober prober;
	bool probe_error_logged;	/* a probe could not be started; logged once */
	__u64 next_probe_ns;
	unsigned int in_flight_at_probe;	/* the service's connections when it started */
	__u64 probes_ok, probes_failed, probes_slow;
	__u64 last_probe_duration_ns;

	/* The half-open trials: the data path admits while its count < trial_end. */
	__u64 trial_end;
	__u64 trials_counted_since;	/* the half-open (its since_ns) trial_end was set for */
	__u64 transitions_logged;	/* the breaker's transitions_total, as last logged */
};

/*
 * Sets up the guard of `svc` (whose strings the CLI checked; checked again
 * here, as a map can hold anything). 0, or -1 with one line in err: the
 * service then has no guard. `name` must outlive the guard.
 */
int guard_init(struct guard *g, const struct sluice_service *svc, const char *name,
	       __u64 now_ns, __u64 seed, char *err, size_t err_len);
void guard_close(struct guard *g);

/* Whether two configs give the same guard, but for the operator's mode and reset. */
bool guard_same_policy(const struct sluice_service *a, const struct sluice_service *b);

/* Follows `service trip|reset|disable`: the config's mode and reset count. */
void guard_follow_mode(struct guard *g, const struct sluice_service *svc, __u64 now_ns);

/*
 * One tick: takes the outcome of the outstanding probe (into the breaker
 * and the limit), moves the breaker on with time, and starts the next probe
 * when one is due and the breaker lets it go. in_flight is the service's
 * connections now; trials the data path's count of half-open trial slots
 * (service_flow.trials); netns_fd where to probe from (-1: here). Logs
 * every transition of the breaker.
 */
void guard_tick(struct guard *g, __u64 now_ns, int netns_fd, unsigned int in_flight,
		__u64 trials);

/*
 * When the guard next needs the controller, between ticks too: a probe is
 * due, or the outstanding one times out (UINT64_MAX: never). Probes keep
 * their own interval, not the tick's.
 */
__u64 guard_wakeup_ns(const struct guard *g);
/* At or after guard_wakeup_ns(): times out the outstanding probe, starts the next. */
void guard_probe_due(struct guard *g, __u64 now_ns, int netns_fd, unsigned int in_flight);

/*
 * The outstanding probe's socket and the poll() events it waits for, so the
 * controller wakes when it moves instead of at the next tick (a probe's
 * duration is a latency sample: a tick's delay would be noise in it).
 * Returns -1 when no probe is outstanding.
 */
int guard_poll_fd(const struct guard *g, short *events);
/* The probe's socket is ready: takes its outcome now if it has one. */
void guard_probe_ready(struct guard *g, __u64 now_ns);

/* The gates for the data path: breaker, trial_end and limit of *state. */
void guard_gate(const struct guard *g, struct sluice_service_state *state);

/* What `service show` reads: the breaker, the limit and the probes. */
void guard_report(const struct guard *g, __u64 now_ns, struct sluice_service_report *r);

#endif /* SLUICE_GUARD_H */
