// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Tests of a service's guard (user/guard.c) against a real TCP listener on
 * loopback: its probes open the breaker when the listener goes away, the
 * gates it gives the data path follow (refuse, a budget of trials, pass),
 * the operator's trip, reset and disable, the concurrency limit, and the
 * report `service show` reads. The clock is the real one: probes are real
 * connections, so each wait is bounded and generous.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <cmocka.h>

#include "guard.h"
#include "testing.h"

#define MS 1000000ull

/* A listener on 127.0.0.1 and a free port: *port is where it listens. */
static int listen_on(__u16 *port)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
				 .sin_port = htons(*port) };
	socklen_t len = sizeof(a);
	int one = 1, fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(fd, 128), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	*port = ntohs(a.sin_port);
	return fd;
}

/* A service on `port` probed over TCP every 10 ms, with these breaker and limit settings. */
static struct sluice_service service(__u16 port, const char *breaker, const char *concurrency)
{
	struct sluice_service svc = { .name = "web", .port = port, .proto = IPPROTO_TCP,
				      .refuse = SLUICE_REFUSE_RST, .in_use = 1,
				      .probe = "tcp", .probe_interval_ms = 10,
				      .probe_timeout_ms = 500, .slow_call_ms = 200 };

	snprintf(svc.breaker, sizeof(svc.breaker), "%s", breaker);
	snprintf(svc.concurrency, sizeof(svc.concurrency), "%s", concurrency);
	return svc;
}

static enum sluice_breaker_gate gate(const struct guard *g)
{
	struct sluice_service_state st = {};

	guard_gate(g, &st);
	return st.breaker;
}

/*
 * Runs the guard as the controller does: a tick every 5 ms (with in_flight
 * connections and the data path's trial count), each probe taken as soon as
 * its socket moves, and probes started when due between ticks; until
 * done(g, arg) after a tick: true, or false once `ms` have passed without it.
 */
static bool drive(struct guard *g, unsigned int ms, unsigned int in_flight, __u64 trials,
		  bool (*done)(const struct guard *g, long arg), long arg)
{
	__u64 until = now_ns() + ms * MS, next_tick = 0;

	while (now_ns() < until) {
		short events;
		int fd = guard_poll_fd(g, &events);

		if (now_ns() >= next_tick) {
			guard_tick(g, now_ns(), -1, in_flight, trials);
			next_tick = now_ns() + 5 * MS;
			if (done(g, arg))
				return true;
		}
		if (fd >= 0) {
			struct pollfd p = { .fd = fd, .events = events };

			if (poll(&p, 1, 1) > 0)
				guard_probe_ready(g, now_ns());
		} else {
			usleep(500);
		}
		/* Between ticks, as the controller's loop does: probes keep their interval. */
		if (guard_wakeup_ns(g) <= now_ns())
			guard_probe_due(g, now_ns(), -1, in_flight);
	}
	return false;
}

static bool gate_is(const struct guard *g, long want)
{
	return gate(g) == (enum sluice_breaker_gate)want;
}

static bool probes_failed_over(const struct guard *g, long failed)
{
	return g->probes_failed > (__u64)failed;
}

static bool never(const struct guard *g, long unused)
{
	(void)g;
	(void)unused;
	return false;
}

/* drive() until the gate is `want`. */
static bool run_until_gate(struct guard *g, enum sluice_breaker_gate want, __u64 trials,
			   unsigned int ms)
{
	return drive(g, ms, 0, trials, gate_is, want);
}

/* The whole cycle: closed, the listener goes, open, half-open with its trials, back, closed. */
static void test_breaker_cycle_on_a_real_listener(void **unused)
{
	struct sluice_service_state st = {};
	struct sluice_service_report r;
	struct sluice_service svc;
	struct guard g;
	char err[256];
	__u16 port = 0;
	int lfd = listen_on(&port);

	(void)unused;
	svc = service(port, "window=6,min-calls=4,half-open=2,open=100ms,max-open=1s,jitter=0", "");
	assert_int_equal(guard_init(&g, &svc, svc.name, now_ns(), 42, err, sizeof(err)), 0);
	assert_int_equal(gate(&g), SLUICE_GATE_PASS);
	/* Healthy: 300 ms of probes, all accepted, the breaker stays closed. */
	assert_false(run_until_gate(&g, SLUICE_GATE_REFUSE, 0, 300));
	assert_true(g.probes_ok >= 4);
	assert_int_equal(g.probes_failed, 0);
	assert_int_equal(g.breaker.state, BREAKER_CLOSED);

	/* The listener goes: probes are refused, and at 3 failures of the 6 (50%) it opens. */
	close(lfd);
	assert_true(run_until_gate(&g, SLUICE_GATE_REFUSE, 0, 3000));
	assert_int_equal(g.breaker.state, BREAKER_OPEN);
	assert_true(g.probes_failed >= 3);

	/* The listener comes back while it is open: open sends no probe to notice. */
	lfd = listen_on(&port);
	assert_int_equal(port, svc.port);
	/* After 100 ms, half-open: the data path's next two trial slots are admitted. */
	assert_true(run_until_gate(&g, SLUICE_GATE_TRIAL, 7000, 3000));
	guard_gate(&g, &st);
	assert_int_equal(st.trial_end, 7000 + 2);

	/* Two probes pass and it closes. */
	assert_true(run_until_gate(&g, SLUICE_GATE_PASS, 7010, 3000));
	assert_int_equal(g.breaker.state, BREAKER_CLOSED);

	guard_report(&g, now_ns(), &r);
	assert_int_equal(r.breaker, BREAKER_CLOSED + 1);
	assert_true(r.transitions >= 3);
	/* The last three: closed -> open -> half-open -> closed. */
	assert_int_equal(r.transition[r.transitions - 3].to, BREAKER_OPEN);
	assert_int_equal(r.transition[r.transitions - 2].to, BREAKER_HALF_OPEN);
	assert_int_equal(r.transition[r.transitions - 1].to, BREAKER_CLOSED);
	assert_int_equal(r.transition[r.transitions - 3].reason, BREAKER_REASON_FAILURE_RATE);
	assert_true(r.probes_failed == g.probes_failed && r.probes_ok == g.probes_ok);
	assert_int_equal(r.limit, 0);
	guard_close(&g);
	close(lfd);
}

/* Probes keep their own interval: with no tick at all, guard_probe_due() alone sends them. */
static void test_probes_between_ticks(void **unused)
{
	struct sluice_service svc;
	struct guard g;
	char err[256];
	__u16 port = 0;
	int lfd = listen_on(&port);
	__u64 until;

	(void)unused;
	svc = service(port, "", "");
	assert_int_equal(guard_init(&g, &svc, svc.name, now_ns(), 1, err, sizeof(err)), 0);
	/* Nothing outstanding, a probe due now; then every 10 ms for 200 ms. */
	assert_true(guard_wakeup_ns(&g) <= now_ns());
	for (until = now_ns() + 200 * MS; now_ns() < until;) {
		short events;
		int fd = guard_poll_fd(&g, &events);
		struct pollfd p = { .fd = fd, .events = events };

		if (fd >= 0 && poll(&p, 1, 1) > 0)
			guard_probe_ready(&g, now_ns());
		if (guard_wakeup_ns(&g) <= now_ns())
			guard_probe_due(&g, now_ns(), -1, 0);
		usleep(200);
	}
	/* 20 intervals: allow for scheduling, not for a tick's rounding. */
	assert_in_range(g.probes_ok, 15, 21);
	assert_int_equal(g.probes_failed, 0);
	/* An outstanding probe wakes the controller at its timeout. */
	if (guard_poll_fd(&g, &(short){ 0 }) >= 0)
		assert_int_equal(guard_wakeup_ns(&g), g.prober.started_ns + 500 * MS);
	/* A namespace that cannot be opened sends nothing and, closed, counts nothing. */
	for (__u64 wait = now_ns() + 1000 * MS; guard_poll_fd(&g, &(short){ 0 }) >= 0 &&
						 now_ns() < wait;)
		guard_probe_ready(&g, now_ns());
	{
		__u64 ok = g.probes_ok, failed = g.probes_failed;

		guard_probe_due(&g, now_ns() + 1000 * MS, GUARD_NETNS_UNAVAILABLE, 0);
		assert_true(guard_poll_fd(&g, &(short){ 0 }) < 0);
		assert_int_equal(g.probes_ok, ok);
		assert_int_equal(g.probes_failed, failed);
	}
	guard_close(&g);
	close(lfd);
}

/* A half-open begun between ticks (a due probe asked the breaker) still gets its trials. */
static void test_half_open_between_ticks(void **unused)
{
	struct sluice_service_state st = {};
	struct sluice_service svc;
	struct guard g;
	char err[256];
	__u16 port = 0;
	int lfd = listen_on(&port);
	__u64 until;

	(void)unused;
	svc = service(port, "window=4,min-calls=2,half-open=2,open=50ms,max-open=1s,jitter=0", "");
	assert_int_equal(guard_init(&g, &svc, svc.name, now_ns(), 1, err, sizeof(err)), 0);
	close(lfd);
	assert_true(run_until_gate(&g, SLUICE_GATE_REFUSE, 0, 3000));
	lfd = listen_on(&port);
	/* No tick now: only due probes, until one finds the open time passed. */
	for (until = now_ns() + 2000 * MS; g.breaker.state != BREAKER_HALF_OPEN && now_ns() < until;) {
		if (guard_wakeup_ns(&g) <= now_ns())
			guard_probe_due(&g, now_ns(), -1, 0);
		usleep(1000);
	}
	assert_int_equal(g.breaker.state, BREAKER_HALF_OPEN);
	guard_tick(&g, now_ns(), -1, 0, 500);
	guard_gate(&g, &st);
	assert_int_equal(st.breaker, SLUICE_GATE_TRIAL);
	assert_int_equal(st.trial_end, 500 + 2);
	/* The next tick of the same half-open keeps them. */
	guard_tick(&g, now_ns(), -1, 0, 501);
	guard_gate(&g, &st);
	if (st.breaker == SLUICE_GATE_TRIAL)
		assert_int_equal(st.trial_end, 500 + 2);
	guard_close(&g);
	close(lfd);
}

/* trip, reset and disable, as the CLI writes them into the config. */
static void test_operator_modes(void **unused)
{
	struct sluice_service svc;
	struct guard g;
	char err[256];
	__u16 port = 0;
	int lfd = listen_on(&port);

	(void)unused;
	svc = service(port, "window=4,min-calls=2,open=10s", "");
	assert_int_equal(guard_init(&g, &svc, svc.name, now_ns(), 1, err, sizeof(err)), 0);
	svc.breaker_mode = SLUICE_BREAKER_FORCE_OPEN;
	guard_follow_mode(&g, &svc, now_ns());
	assert_int_equal(g.breaker.state, BREAKER_FORCED_OPEN);
	assert_int_equal(gate(&g), SLUICE_GATE_REFUSE);
	/* Forced open stays so, and sends the service nothing: no connection waits to be accepted. */
	assert_false(run_until_gate(&g, SLUICE_GATE_PASS, 0, 200));
	assert_int_equal(g.probes_ok + g.probes_failed, 0);
	assert_int_equal(fcntl(lfd, F_SETFL, O_NONBLOCK), 0);
	assert_int_equal(accept(lfd, NULL, NULL), -1);
	assert_int_equal(errno, EAGAIN);

	svc.breaker_mode = SLUICE_BREAKER_AUTO;
	svc.reset_seq++;
	guard_follow_mode(&g, &svc, now_ns());
	assert_int_equal(g.breaker.state, BREAKER_CLOSED);
	assert_int_equal(gate(&g), SLUICE_GATE_PASS);

	/* Disabled: the listener goes, probes fail, and it still passes. */
	svc.breaker_mode = SLUICE_BREAKER_FORCE_OFF;
	guard_follow_mode(&g, &svc, now_ns());
	close(lfd);
	assert_false(run_until_gate(&g, SLUICE_GATE_REFUSE, 0, 300));
	assert_true(g.probes_failed >= 4);
	assert_int_equal(gate(&g), SLUICE_GATE_PASS);

	/* A reset with the listener still gone: auto again, and it opens on its probes. */
	svc.breaker_mode = SLUICE_BREAKER_AUTO;
	svc.reset_seq++;
	guard_follow_mode(&g, &svc, now_ns());
	assert_true(run_until_gate(&g, SLUICE_GATE_REFUSE, 0, 3000));
	guard_close(&g);
}

/* A trip is the operator's: it holds for a service without a breaker of its own too. */
static void test_trip_without_a_breaker(void **unused)
{
	struct sluice_service svc = { .name = "db", .port = 5432, .proto = IPPROTO_TCP,
				      .in_use = 1, .concurrency = "fixed:8",
				      .breaker_mode = SLUICE_BREAKER_FORCE_OPEN };
	struct sluice_service_state st = {};
	struct sluice_service_report r;
	struct guard g;
	char err[256];

	(void)unused;
	assert_int_equal(guard_init(&g, &svc, svc.name, now_ns(), 1, err, sizeof(err)), 0);
	guard_gate(&g, &st);
	assert_int_equal(st.breaker, SLUICE_GATE_REFUSE);
	assert_int_equal(st.limit, 8);
	svc.breaker_mode = SLUICE_BREAKER_AUTO;
	svc.reset_seq++;
	guard_follow_mode(&g, &svc, now_ns());
	guard_gate(&g, &st);
	assert_int_equal(st.breaker, SLUICE_GATE_PASS);
	/* Reset, it has no breaker to show again. */
	guard_report(&g, now_ns(), &r);
	assert_int_equal(r.breaker, 0);
	assert_int_equal(r.transitions, 0);
	/* Without probes nothing moves it: a fixed limit needs none. */
	guard_tick(&g, now_ns() + 1000 * MS, -1, 3, 0);
	guard_gate(&g, &st);
	assert_int_equal(st.breaker, SLUICE_GATE_PASS);
	assert_int_equal(st.limit, 8);
	guard_report(&g, now_ns(), &r);
	assert_int_equal(r.limit, 8);
	guard_close(&g);
}

/* An adaptive limit learns from the probes: AIMD grows while they pass with the limit in use. */
static void test_limit_follows_probes(void **unused)
{
	struct sluice_service_state st = {};
	struct sluice_service svc;
	unsigned int before;
	__u64 failed;
	struct guard g;
	char err[256];
	__u16 port = 0;
	int lfd = listen_on(&port);

	(void)unused;
	svc = service(port, "", "aimd:initial=10,min=2,max=50");
	assert_int_equal(guard_init(&g, &svc, svc.name, now_ns(), 1, err, sizeof(err)), 0);
	guard_gate(&g, &st);
	assert_int_equal(st.limit, 10);
	/* 8 in flight (at least half the limit) with every probe passing: +1 per probe. */
	drive(&g, 500, 8, 0, never, 0);
	guard_gate(&g, &st);
	/* +1 while 8 in flight is half the limit or more: up to 17, no further. */
	assert_true(g.probes_ok >= 7);
	assert_int_equal(st.limit, 17);
	/* The listener goes: a refused probe is a drop, and AIMD backs off (x0.9). */
	close(lfd);
	before = st.limit;
	failed = g.probes_failed;
	assert_true(drive(&g, 2000, 8, 0, probes_failed_over, (long)failed));
	guard_gate(&g, &st);
	assert_int_equal(g.probes_failed, failed + 1);
	assert_int_equal(st.limit, (unsigned int)(before * 0.9));
	guard_close(&g);
}

/* What a map can hold that the CLI would never write is refused with a reason. */
static void test_init_refuses(void **unused)
{
	static const struct {
		const char *probe, *breaker, *concurrency, *error;
	} bad[] = {
		{ "udp://1.2.3.4:5", "", "", "invalid probe" },
		{ "tcp", "window=0", "", "invalid --breaker window" },
		{ "tcp", "", "lifo", "invalid --concurrency 'lifo'" },
		{ "", "window=10", "", "needs --probe" },
		{ "", "", "vegas", "needs --probe" },
	};
	struct guard g;
	char err[256];

	(void)unused;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct sluice_service svc = { .name = "x", .port = 80, .in_use = 1 };

		snprintf(svc.probe, sizeof(svc.probe), "%s", bad[i].probe);
		snprintf(svc.breaker, sizeof(svc.breaker), "%s", bad[i].breaker);
		snprintf(svc.concurrency, sizeof(svc.concurrency), "%s", bad[i].concurrency);
		err[0] = '\0';
		if (guard_init(&g, &svc, svc.name, now_ns(), 1, err, sizeof(err)) != -1 ||
		    !strstr(err, bad[i].error))
			fail_msg("case %zu: got \"%s\", want \"%s\"", i, err, bad[i].error);
	}
}

/* Policy changes restart a guard; the operator's mode and reset do not. */
static void test_same_policy(void **unused)
{
	struct sluice_service a = service(80, "window=10", "aimd"), b = a;

	(void)unused;
	assert_true(guard_same_policy(&a, &b));
	b.breaker_mode = SLUICE_BREAKER_FORCE_OPEN;
	b.reset_seq = 7;
	assert_true(guard_same_policy(&a, &b));
	b = a;
	b.probe_interval_ms++;
	assert_false(guard_same_policy(&a, &b));
	b = a;
	snprintf(b.concurrency, sizeof(b.concurrency), "vegas");
	assert_false(guard_same_policy(&a, &b));
	b = a;
	b.slow_call_ms++;
	assert_false(guard_same_policy(&a, &b));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_breaker_cycle_on_a_real_listener),
		cmocka_unit_test(test_probes_between_ticks),
		cmocka_unit_test(test_half_open_between_ticks),
		cmocka_unit_test(test_operator_modes),
		cmocka_unit_test(test_trip_without_a_breaker),
		cmocka_unit_test(test_limit_follows_probes),
		cmocka_unit_test(test_init_refuses),
		cmocka_unit_test(test_same_policy),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
