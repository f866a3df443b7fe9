// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* A protected service's probes, circuit breaker and concurrency limit (user/guard.h). */
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "guard.h"
#include "log.h"
#include "parse.h"

#define NS_PER_MS 1000000ull

static void mode_apply(struct guard *g, const struct sluice_service *svc, __u64 now_ns);

int guard_init(struct guard *g, const struct sluice_service *svc, const char *name,
	       __u64 now_ns, __u64 seed, char *err, size_t err_len)
{
	struct breaker_config bcfg;
	struct conc_config ccfg;

	memset(g, 0, sizeof(*g));
	g->name = name;
	prober_init(&g->prober);
	g->slow_ns = (__u64)(svc->slow_call_ms ? svc->slow_call_ms : GUARD_SLOW_CALL_MS) *
		     NS_PER_MS;
	if (svc->probe[0]) {
		if (probe_target_parse(svc->probe, svc->port, &g->target, err, err_len))
			return -1;
		g->probing = true;
		g->probe_interval_ns = (__u64)(svc->probe_interval_ms ? svc->probe_interval_ms :
					       GUARD_PROBE_INTERVAL_MS) * NS_PER_MS;
		g->probe_timeout_ns = (__u64)(svc->probe_timeout_ms ? svc->probe_timeout_ms :
					      GUARD_PROBE_TIMEOUT_MS) * NS_PER_MS;
		g->next_probe_ns = now_ns;
	}
	breaker_config_defaults(&bcfg);
	bcfg.slow_call_ms = (__u32)(g->slow_ns / NS_PER_MS);
	/* Without a breaker of its own it never trips, but `service trip` still forces it open. */
	if (svc->breaker[0]) {
		if (breaker_parse(svc->breaker, &bcfg, &bcfg, err, err_len))
			return -1;
		g->has_breaker = true;
	}
	breaker_init(&g->breaker, &bcfg, now_ns, seed);
	if (!g->has_breaker)
		breaker_disable(&g->breaker, now_ns);
	if (svc->concurrency[0]) {
		if (conc_parse(svc->concurrency, &ccfg, err, err_len))
			return -1;
		/*
		 * The library's timeout (5 s for AIMD) is where a call failed its
		 * caller; the operator said where that is for this service: a
		 * probe slower than --slow-call is a drop for the limit, as it is
		 * a slow call for the breaker.
		 */
		ccfg.timeout_ns = g->slow_ns;
		g->has_limit = true;
		conc_init(&g->limit, &ccfg, seed ^ 0x5eed);
	}
	if ((g->has_breaker || (g->has_limit && ccfg.algo != CONC_FIXED)) && !g->probing) {
		snprintf(err, err_len, "a breaker or an adaptive limit needs --probe");
		return -1;
	}
	/* The operator's mode as it stands, logged by the caller's own line, not as a transition. */
	g->mode = SLUICE_BREAKER_AUTO;
	g->reset_seq = svc->reset_seq;
	mode_apply(g, svc, now_ns);
	g->transitions_logged = g->breaker.transitions_total;
	return 0;
}

void guard_close(struct guard *g)
{
	prober_close(&g->prober);
}

bool guard_same_policy(const struct sluice_service *a, const struct sluice_service *b)
{
	return !strcmp(a->probe, b->probe) && !strcmp(a->breaker, b->breaker) &&
	       !strcmp(a->concurrency, b->concurrency) &&
	       a->probe_interval_ms == b->probe_interval_ms &&
	       a->probe_timeout_ms == b->probe_timeout_ms && a->slow_call_ms == b->slow_call_ms;
}

/* Logs the breaker's transitions since the last call. */
static void log_transitions(struct guard *g)
{
	struct breaker_transition t[BREAKER_TRANSITIONS];
	unsigned int n = breaker_transitions(&g->breaker, t, BREAKER_TRANSITIONS);
	__u64 fresh = g->breaker.transitions_total - g->transitions_logged;

	if (fresh > n) {
		log_msg(LOG_WARNING, "service %s: %llu breaker transitions not logged",
			g->name, (unsigned long long)(fresh - n));
		fresh = n;
	}
	for (unsigned int i = n - (unsigned int)fresh; i < n; i++)
		log_msg(t[i].to == BREAKER_OPEN || t[i].to == BREAKER_FORCED_OPEN ? LOG_WARNING :
										       LOG_NOTICE,
			"service %s: breaker %s -> %s (%s; %u calls, %.0f%% failed, %.0f%% slow)%s",
			g->name, breaker_state_name(t[i].from), breaker_state_name(t[i].to),
			breaker_reason_name(t[i].reason), t[i].calls, t[i].failure_rate,
			t[i].slow_rate,
			t[i].to == BREAKER_OPEN || t[i].to == BREAKER_FORCED_OPEN ?
				": refusing new connections" :
			t[i].to == BREAKER_HALF_OPEN ? ": admitting trials" : "");
	g->transitions_logged = g->breaker.transitions_total;
}

/* The config's mode and reset count into the breaker. */
static void mode_apply(struct guard *g, const struct sluice_service *svc, __u64 now_ns)
{
	enum sluice_breaker_mode mode = svc->breaker_mode;

	if (svc->reset_seq != g->reset_seq || (mode != g->mode && mode == SLUICE_BREAKER_AUTO)) {
		breaker_reset(&g->breaker, now_ns);
		if (!g->has_breaker)
			breaker_disable(&g->breaker, now_ns);
	}
	if (mode != g->mode && mode == SLUICE_BREAKER_FORCE_OPEN)
		breaker_trip(&g->breaker, now_ns);
	else if (mode != g->mode && mode == SLUICE_BREAKER_FORCE_OFF)
		breaker_disable(&g->breaker, now_ns);
	g->mode = mode;
	g->reset_seq = svc->reset_seq;
}

void guard_follow_mode(struct guard *g, const struct sluice_service *svc, __u64 now_ns)
{
	mode_apply(g, svc, now_ns);
	log_transitions(g);
}

/* A probe's outcome into the breaker and the limit. */
static void probe_judge(struct guard *g, __u64 now_ns, __u64 duration_ns, bool failed)
{
	bool slow = duration_ns > g->slow_ns;

	g->probes_ok += !failed;
	g->probes_failed += failed;
	g->probes_slow += slow;
	g->last_probe_duration_ns = duration_ns;
	breaker_record(&g->breaker, now_ns, duration_ns, failed);
	if (g->has_limit)
		conc_update(&g->limit, now_ns, duration_ns, g->in_flight_at_probe, failed);
}

/*
 * A probe lost to sluice's own fault (no socket, no namespace, a poll
 * error), not the service's: it counts for nothing, except in half-open,
 * which admitted it and waits for its outcome. There it fails, so the
 * breaker opens again rather than stay half-open for ever.
 */
static void probe_lost(struct guard *g, __u64 now_ns, __u64 duration_ns, const char *why)
{
	if (!g->probe_error_logged)
		log_msg(LOG_WARNING, "service %s: cannot probe it: %s", g->name, why);
	g->probe_error_logged = true;
	if (g->breaker.state != BREAKER_HALF_OPEN)
		return;
	g->probes_failed++;
	breaker_record(&g->breaker, now_ns, duration_ns, true);
}

/* The outstanding probe's outcome, if it has one (a timeout is one). */
static void probe_collect(struct guard *g, __u64 now_ns)
{
	struct probe_result r;

	if (prober_fd(&g->prober) < 0)
		return;
	switch (prober_poll(&g->prober, now_ns, g->probe_timeout_ns, &r)) {
	case 0:
		return;
	case 1:
		g->probe_error_logged = false;
		probe_judge(g, now_ns, r.duration_ns, r.failed);
		return;
	default:
		probe_lost(g, now_ns, now_ns - g->prober.started_ns, strerror(errno));
	}
}

/* Starts a probe when one is due and the breaker lets a call go. */
static void probe_start(struct guard *g, __u64 now_ns, int netns_fd, unsigned int in_flight)
{
	if (!g->probing || prober_fd(&g->prober) >= 0 || now_ns < g->next_probe_ns)
		return;
	g->next_probe_ns = now_ns + g->probe_interval_ns;
	/* Open sends nothing to the service: the breaker is asked first. */
	if (!breaker_admit(&g->breaker, now_ns))
		return;
	g->in_flight_at_probe = in_flight;
	if (netns_fd == GUARD_NETNS_UNAVAILABLE)
		probe_lost(g, now_ns, 0, "its network namespace cannot be opened");
	else if (prober_start(&g->prober, &g->target, netns_fd, now_ns))
		probe_lost(g, now_ns, 0, strerror(errno));
}

__u64 guard_wakeup_ns(const struct guard *g)
{
	if (!g->probing)
		return UINT64_MAX;
	if (prober_fd(&g->prober) >= 0)
		return g->prober.started_ns + g->probe_timeout_ns;
	return g->next_probe_ns;
}

void guard_probe_due(struct guard *g, __u64 now_ns, int netns_fd, unsigned int in_flight)
{
	probe_collect(g, now_ns);
	probe_start(g, now_ns, netns_fd, in_flight);
}

int guard_poll_fd(const struct guard *g, short *events)
{
	*events = g->prober.state == PROBER_READING ? POLLIN : POLLOUT;
	return prober_fd(&g->prober);
}

void guard_probe_ready(struct guard *g, __u64 now_ns)
{
	probe_collect(g, now_ns);
}

void guard_tick(struct guard *g, __u64 now_ns, int netns_fd, unsigned int in_flight,
		__u64 trials)
{
	probe_collect(g, now_ns);
	breaker_tick(&g->breaker, now_ns);
	/*
	 * A half-open the trials were not yet counted for (it may have begun
	 * between ticks, when a due probe asked the breaker): the next
	 * half_open_calls trial slots are admitted.
	 */
	if (g->breaker.state == BREAKER_HALF_OPEN && g->trials_counted_since != g->breaker.since_ns) {
		g->trial_end = trials + g->breaker.cfg.half_open_calls;
		g->trials_counted_since = g->breaker.since_ns;
	}
	probe_start(g, now_ns, netns_fd, in_flight);
	log_transitions(g);
}

void guard_gate(const struct guard *g, struct sluice_service_state *state)
{
	state->breaker = SLUICE_GATE_PASS;
	state->trial_end = 0;
	switch (g->breaker.state) {
	case BREAKER_OPEN:
	case BREAKER_FORCED_OPEN:
		state->breaker = SLUICE_GATE_REFUSE;
		break;
	case BREAKER_HALF_OPEN:
		state->breaker = SLUICE_GATE_TRIAL;
		state->trial_end = g->trial_end;
		break;
	case BREAKER_CLOSED:
	case BREAKER_DISABLED:
		break;
	}
	state->limit = g->has_limit ? conc_current(&g->limit) : 0;
}

/* A rate in percent as hundredths of a percent. */
static __u32 basis_points(double pct)
{
	return (__u32)(pct * 100.0 + 0.5);
}

void guard_report(const struct guard *g, __u64 now_ns, struct sluice_service_report *r)
{
	struct breaker_transition t[BREAKER_TRANSITIONS];
	const struct breaker *b = &g->breaker;
	double failure, slow;
	unsigned int calls, n;

	memset(r, 0, sizeof(*r));
	r->updated_ns = now_ns;
	r->limit = g->has_limit ? conc_current(&g->limit) : 0;
	r->last_probe_us = (__u32)(g->last_probe_duration_ns / 1000);
	r->probes_ok = g->probes_ok;
	r->probes_failed = g->probes_failed;
	r->probes_slow = g->probes_slow;
	/* A service without a breaker of its own has one only while the operator trips it. */
	if (!g->has_breaker && b->state != BREAKER_FORCED_OPEN)
		return;
	r->breaker = (__u8)(b->state + 1);
	r->since_ns = b->since_ns;
	r->open_until_ns = b->state == BREAKER_OPEN ? b->open_until_ns : 0;
	r->trips = b->trips;
	breaker_rates(b, now_ns, &failure, &slow, &calls);
	r->calls = calls;
	r->failure_bp = basis_points(failure);
	r->slow_bp = basis_points(slow);
	r->transitions_total = b->transitions_total;
	n = breaker_transitions(b, t, BREAKER_TRANSITIONS);
	if (n > SLUICE_REPORT_TRANSITIONS)
		n = SLUICE_REPORT_TRANSITIONS;
	r->transitions = n;
	for (unsigned int i = 0; i < n; i++) {
		r->transition[i].at_ns = t[i].at_ns;
		r->transition[i].from = (__u8)t[i].from;
		r->transition[i].to = (__u8)t[i].to;
		r->transition[i].reason = (__u8)t[i].reason;
		r->transition[i].calls = t[i].calls;
		r->transition[i].failure_bp = basis_points(t[i].failure_rate);
		r->transition[i].slow_bp = basis_points(t[i].slow_rate);
	}
}
