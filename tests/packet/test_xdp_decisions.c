// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * What the controller decides, as sluice_xdp carries it out, on the fake
 * clock (monotonic_ns(), the lease's and the event sampler's clock, is
 * fake_now_ns here):
 *  - backpressure: a TCP SYN (without ACK) to a service the controller says
 *    is full is refused, by drop or RST, counted per outcome and per
 *    service; every segment of an established connection passes;
 *  - the other gates on a new connection: the circuit breaker (open, and
 *    half-open with its trial budget) and the concurrency limit, in the
 *    order breaker, backpressure, limit, after the rules and only within
 *    the lease; what the data path counts for the controller in
 *    service_flow (opened, closed, trials, refused by reason);
 *  - the lease: a controller that stopped (pid 0) or whose heartbeat is
 *    older than its lease decides nothing; the boundary from both sides;
 *  - the allow list goes before backpressure and shedding;
 *  - shedding by class: the class of a packet is the highest of the rules
 *    that match it (normal when none does), critical is never shed, nor an
 *    established TCP segment; a share drops about that share;
 *  - drop events in the ring buffer, and the sampler's burst and rate.
 */
#include "packets.h"

#define T0_NS (1000ULL * 1000000000ULL)
#define MS_NS 1000000ULL
#define LEASE_NS (200 * MS_NS)

#define SRC4 "198.18.0.1"
#define SRC4_B "198.18.0.2"		/* in SRC4's /24 */
#define SRC4_OUT "198.18.1.1"		/* outside it */
#define SRC6 "2001:db8:1::1"
#define DST4 "198.19.0.2"
#define DST6 "2001:db8::2"

#define SVC_SLOT 3
#define SVC_PORT 8080

#define MAX_EVENTS 512

/* The events one drain of the ring buffer found. */
struct event_log {
	struct sluice_event ev[MAX_EVENTS];
	size_t count;
	size_t bad_size;	/* records of another size than struct sluice_event */
};

static struct sluice_fixture fx;

#include "program_io.h"
static struct ring_buffer *ring;
static struct event_log events;

static int on_event(void *ctx, void *data, size_t size)
{
	struct event_log *log = ctx;

	if (size != sizeof(struct sluice_event)) {
		log->bad_size++;
		return 0;
	}
	if (log->count < MAX_EVENTS)
		memcpy(&log->ev[log->count], data, sizeof(struct sluice_event));
	log->count++;
	return 0;
}

/* Reads every event the ring holds into `events` (and forgets the ones read before). */
static int events_drain(void)
{
	int n;

	events.count = events.bad_size = 0;
	n = ring_buffer__consume(ring);
	return n < 0 ? n : 0;
}

static int group_setup(void **state)
{
	(void)state;
	if (sluice_fixture_setup(&fx))
		return -1;
	if (fx.skip_reason)
		return 0;
	ring = ring_buffer__new(bpf_map__fd(fx.skel->maps.events), on_event, &events, NULL);
	if (!ring) {
		print_message("# ring_buffer__new: %s\n", strerror(errno));
		return -1;
	}
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	ring_buffer__free(ring);
	ring = NULL;
	sluice_fixture_teardown(&fx);
	return 0;
}

static int write_one(const struct bpf_map *map, __u32 key, const void *value, size_t size)
{
	return bpf_map__update_elem(map, &key, sizeof(key), value, size, BPF_ANY);
}

/* A controller that ticked at `heartbeat_ns` and holds its decisions for `lease_ns`. */
static int controller_set(__u32 pid, __u64 heartbeat_ns, __u64 lease_ns)
{
	struct sluice_controller rec = { .heartbeat_ns = heartbeat_ns, .lease_ns = lease_ns,
					 .started_ns = T0_NS - 10 * MS_NS, .ticks = 1,
					 .interval_ns = 50 * MS_NS, .pid = pid };

	return write_one(fx.skel->maps.controller, 0, &rec, sizeof(rec));
}

/* Zeroes the per-CPU count of drops the sampler skipped. */
static int events_skipped_zero(void)
{
	int cpus = libbpf_num_possible_cpus();
	__u64 zeros[cpus > 0 ? cpus : 1];
	__u32 zero = 0;

	if (cpus <= 0)
		return cpus;
	memset(zeros, 0, sizeof(zeros));
	return bpf_map__update_elem(fx.skel->maps.events_skipped, &zero, sizeof(zero), zeros,
				    sizeof(zeros), 0);
}

/* Every test starts from empty maps, no controller, no shedding, an empty ring, the clock at T0. */
static int test_setup(void **state)
{
	struct sluice_events_state es = {};
	struct sluice_controller rec = {};
	struct sluice_shed sh = {};
	int err;

	(void)state;
	check_failures = 0;
	if (fx.skip_reason)
		return 0;
	err = sluice_fixture_reset(&fx, T0_NS);
	err = err ? err : write_one(fx.skel->maps.controller, 0, &rec, sizeof(rec));
	err = err ? err : write_one(fx.skel->maps.shed, 0, &sh, sizeof(sh));
	err = err ? err : write_one(fx.skel->maps.events_state, 0, &es, sizeof(es));
	err = err ? err : events_skipped_zero();
	err = err ? err : array_zero(fx.skel->maps.services);
	err = err ? err : array_zero(fx.skel->maps.service_state);
	err = err ? err : array_zero(fx.skel->maps.svc_counters);
	err = err ? err : array_zero(fx.skel->maps.service_flow);
	err = err ? err : map_clear(fx.skel->maps.service_ports);
	err = err ? err : map_clear(fx.skel->maps.fleet_limits);
	err = err ? err : map_clear(fx.skel->maps.fleet_key_shares);
	err = err ? err : map_clear(fx.skel->maps.fleet_passed);
	err = err ? err : events_drain();
	if (err) {
		print_message("# could not reset the maps: %s\n", strerror(-err));
		return -1;
	}
	return 0;
}

/* ---- Preset state ------------------------------------------------------- */

/* A TCP service in `slot` on `port`, as `sluice service add` and the controller leave it. */
static void service_set(__u32 slot, __u16 port, enum sluice_refuse refuse)
{
	struct sluice_service svc = { .name = "web", .port = port, .proto = IPPROTO_TCP,
				      .refuse = SLUICE_REFUSE_DROP, .high_pct = 90, .low_pct = 50,
				      .in_use = 1 };
	struct sluice_service_key key = { .port = port, .proto = IPPROTO_TCP };
	/* ADMIT: the service is watched but not refusing; else backpressure refuses that way. */
	struct sluice_service_state st = {
		.refuse = refuse == SLUICE_ADMIT ? SLUICE_REFUSE_RST : refuse,
		.backpressure = refuse != SLUICE_ADMIT,
	};

	ASSERT_OK(write_one(fx.skel->maps.services, slot, &svc, sizeof(svc)), "services[%u]", slot);
	ASSERT_OK(bpf_map__update_elem(fx.skel->maps.service_ports, &key, sizeof(key), &slot,
				       sizeof(slot), BPF_ANY),
		  "service_ports tcp %u", port);
	ASSERT_OK(write_one(fx.skel->maps.service_state, slot, &st, sizeof(st)),
		  "service_state[%u]", slot);
}

/* The controller in charge now, refusing new connections to SVC_PORT the given way. */
static void refusing(enum sluice_refuse refuse)
{
	ASSERT_OK(controller_set(4242, T0_NS, LEASE_NS), "write the controller record");
	service_set(SVC_SLOT, SVC_PORT, refuse);
}

/* What the controller decided for SVC_SLOT now: its breaker, backpressure and limit. */
static void gates_set(const struct sluice_service_state *st)
{
	ASSERT_OK(write_one(fx.skel->maps.service_state, SVC_SLOT, st, sizeof(*st)),
		  "service_state[%u]", SVC_SLOT);
}

/* The controller in charge now, with these gates on new connections to SVC_PORT. */
static void gated(const struct sluice_service_state *st)
{
	ASSERT_OK(controller_set(4242, T0_NS, LEASE_NS), "write the controller record");
	service_set(SVC_SLOT, SVC_PORT, SLUICE_ADMIT);
	gates_set(st);
}

/* Shed level `level` dropping these shares (drop_below) of low, normal, high, critical. */
static void shed_set(__u32 level, __u64 low, __u64 normal, __u64 high, __u64 critical)
{
	struct sluice_shed sh = { .level = level,
				  .drop_below = { low, normal, high, critical } };

	ASSERT_OK(write_one(fx.skel->maps.shed, 0, &sh, sizeof(sh)), "write the shed map");
}

/* Shedding in force: the controller in charge, level 1 with these shares. */
static void shedding(__u64 low, __u64 normal, __u64 high, __u64 critical)
{
	ASSERT_OK(controller_set(4242, T0_NS, LEASE_NS), "write the controller record");
	shed_set(1, low, normal, high, critical);
}

/* ---- Expectations ------------------------------------------------------- */

/* The service counters: `packets` (and `bytes`) in slot, zero in every other. */
static void expect_service_counts(__u32 slot, __u64 packets, __u64 bytes)
{
	for (__u32 s = 0; s < SLUICE_MAX_SERVICES; s++) {
		struct sluice_counter c;

		ASSERT_OK(bpf_map__lookup_elem(fx.skel->maps.svc_counters, &s, sizeof(s), &c,
					       sizeof(c), 0),
			  "svc_counters[%u]", s);
		EXPECT_EQ(c.packets, s == slot ? packets : 0, "svc_counters[%u]: packets", s);
		EXPECT_EQ(c.bytes, s == slot ? bytes : 0, "svc_counters[%u]: bytes", s);
	}
}

/* What the data path counted for the services: `want` in SVC_SLOT, zero in every other. */
static __attribute__((format(printf, 2, 3))) void
expect_flow(const struct sluice_service_flow *want, const char *what, ...)
{
	static const struct sluice_service_flow none;
	char name[200];
	va_list args;

	va_start(args, what);
	vsnprintf(name, sizeof(name), what, args);
	va_end(args);
	for (__u32 s = 0; s < SLUICE_MAX_SERVICES; s++) {
		const struct sluice_service_flow *w = s == SVC_SLOT ? want : &none;
		struct sluice_service_flow f;

		ASSERT_OK(bpf_map__lookup_elem(fx.skel->maps.service_flow, &s, sizeof(s), &f,
					       sizeof(f), 0),
			  "service_flow[%u]", s);
		EXPECT_EQ(f.opened, w->opened, "%s: service_flow[%u].opened", name, s);
		EXPECT_EQ(f.closed, w->closed, "%s: service_flow[%u].closed", name, s);
		EXPECT_EQ(f.trials, w->trials, "%s: service_flow[%u].trials", name, s);
		EXPECT_EQ(f.refused[SLUICE_REFUSAL_NONE], 0, "%s: service_flow[%u].refused[none]",
			  name, s);
		EXPECT_EQ(f.refused[SLUICE_REFUSAL_BREAKER], w->refused[SLUICE_REFUSAL_BREAKER],
			  "%s: service_flow[%u].refused[breaker]", name, s);
		EXPECT_EQ(f.refused[SLUICE_REFUSAL_BACKPRESSURE],
			  w->refused[SLUICE_REFUSAL_BACKPRESSURE],
			  "%s: service_flow[%u].refused[backpressure]", name, s);
		EXPECT_EQ(f.refused[SLUICE_REFUSAL_CONCURRENCY],
			  w->refused[SLUICE_REFUSAL_CONCURRENCY],
			  "%s: service_flow[%u].refused[concurrency]", name, s);
	}
}

/* The sampler's counts: sent and lost from events_state, suppressed summed over CPUs. */
struct sampler_counts {
	__u64 sent, suppressed, lost;
};

static struct sampler_counts events_state_now(void)
{
	int cpus = libbpf_num_possible_cpus();
	struct sluice_events_state es = {};
	struct sampler_counts counts = {};
	__u64 skipped[cpus > 0 ? cpus : 1];
	__u32 zero = 0;

	ASSERT_OK(bpf_map__lookup_elem(fx.skel->maps.events_state, &zero, sizeof(zero), &es,
				       sizeof(es), 0),
		  "read events_state");
	ASSERT_OK(bpf_map__lookup_elem(fx.skel->maps.events_skipped, &zero, sizeof(zero), skipped,
				       sizeof(skipped), 0),
		  "read events_skipped");
	counts.sent = es.sent;
	counts.lost = es.lost;
	for (int cpu = 0; cpu < cpus; cpu++)
		counts.suppressed += skipped[cpu];
	return counts;
}

/* Drains the ring and checks how many events it held. */
static void expect_events(size_t n)
{
	ASSERT_OK(events_drain(), "consume the event ring");
	EXPECT_EQ(events.bad_size, 0, "event records of the wrong size");
	EXPECT_EQ(events.count, n, "events in the ring");
}

struct event_want {
	const char *src;
	enum sluice_outcome outcome;
	__u32 rule;
	__u16 dport;
	__u8 proto;
	__u8 class;
	__u8 service;
	__u8 refusal;		/* enum sluice_refusal */
};

static void expect_event(size_t i, const struct event_want *w)
{
	const struct sluice_event *ev = &events.ev[i];
	static const __u8 zero_pad[sizeof(ev->pad)];
	struct sluice_source_key src;

	if (i >= events.count || i >= MAX_EVENTS) {
		print_message("# no event %zu (the ring held %zu)\n", i, events.count);
		check_failures++;
		return;
	}
	ASSERT_OK(source_key(w->src, &src), "source %s", w->src);
	EXPECT_MEM_EQ(&ev->src, &src, sizeof(src), "event %zu: source (want %s)", i, w->src);
	EXPECT_EQ(ev->outcome, w->outcome, "event %zu: outcome (want %s, got %s)", i,
		  outcome_name(w->outcome), outcome_name(ev->outcome));
	EXPECT_EQ(ev->rule, w->rule, "event %zu: rule", i);
	EXPECT_EQ(ev->dport, w->dport, "event %zu: dport", i);
	EXPECT_EQ(ev->proto, w->proto, "event %zu: proto", i);
	EXPECT_EQ(ev->class, w->class, "event %zu: class", i);
	EXPECT_EQ(ev->service, w->service, "event %zu: service (slot + 1)", i);
	EXPECT_EQ(ev->refusal, w->refusal, "event %zu: refusal", i);
	EXPECT_EQ(ev->time_ns, fx.skel->bss->fake_now_ns, "event %zu: time_ns (the fake clock)", i);
	EXPECT_MEM_EQ(ev->pad, zero_pad, sizeof(zero_pad), "event %zu: padding", i);
}

/* ---- Backpressure ------------------------------------------------------- */

static void refuse_drop_drops_a_syn(void **state)
{
	struct sent s;

	(void)state;
	SKIP_UNLESS_READY();
	refusing(SLUICE_REFUSE_DROP);
	s = send_n(tcp_to(SRC4, SVC_PORT, TCP_SYN), 1);
	EXPECT_EQ(s.dropped, 1, "a SYN to a refusing service: dropped");
	/* SYN with ECN negotiation is still a new connection. */
	s = send_n(tcp_to(SRC6, SVC_PORT, TCP_SYN | TCP_ECE | TCP_CWR), 1);
	EXPECT_EQ(s.dropped, 1, "an ECN SYN from %s: dropped", SRC6);
	EXPECT_OUTCOMES({ SLUICE_REFUSED_DROP, 2 });
	expect_service_counts(SVC_SLOT, 2,
			      send_n(tcp_to(SRC4, SVC_PORT, TCP_ACK), 0).len +
				      send_n(tcp_to(SRC6, SVC_PORT, TCP_ACK), 0).len);
	CHECKS_DONE();
}

/*
 * SLUICE_REFUSE_RST answers the SYN with an RST (XDP_TX) once the RST
 * writer exists; until then bpf/refuse.bpf.h's stub gives up and the SYN is
 * dropped instead, as refused_drop. Either is a refusal, but the verdict
 * and the outcome must agree. The RST frame itself is tested elsewhere.
 */
static void refuse_rst_answers_or_falls_back_to_drop(void **state)
{
	struct sent s;

	(void)state;
	SKIP_UNLESS_READY();
	refusing(SLUICE_REFUSE_RST);
	s = send_n(tcp_to(SRC4, SVC_PORT, TCP_SYN), 1);
	/* The RST frame itself is tested field by field in test_xdp_refuse. */
	EXPECT_EQ(s.tx, 1, "a SYN to a service refusing with RST: answered with XDP_TX");
	EXPECT_OUTCOMES({ SLUICE_REFUSED_RST, 1 });
	expect_service_counts(SVC_SLOT, 1, s.len);
	CHECKS_DONE();
}

/*
 * The host sends at most SLUICE_RSTS_BURST RSTs at once, then
 * SLUICE_RSTS_PER_SEC: beyond, refused SYNs are dropped, so a spoofed SYN
 * flood cannot make a reflector of it.
 */
static void rsts_are_rate_limited(void **state)
{
	struct sent s;

	(void)state;
	SKIP_UNLESS_READY();
	_Static_assert(SLUICE_RSTS_BURST == 1000 && SLUICE_RSTS_PER_SEC == 10000,
		       "the counts below assume a burst of 1000 and 10000/s");
	refusing(SLUICE_REFUSE_RST);
	s = send_n(tcp_to(SRC4, SVC_PORT, TCP_SYN), 1100);
	EXPECT_EQ(s.tx, 1000, "the burst is answered");
	EXPECT_EQ(s.dropped, 100, "the rest dropped");
	fx.skel->bss->fake_now_ns += 10 * MS_NS;
	ASSERT_OK(controller_set(4242, fx.skel->bss->fake_now_ns, LEASE_NS), "a new heartbeat");
	s = send_n(tcp_to(SRC4, SVC_PORT, TCP_SYN), 150);
	EXPECT_EQ(s.tx, 100, "10 ms later, 100 more");
	EXPECT_OUTCOMES({ SLUICE_REFUSED_RST, 1100 }, { SLUICE_REFUSED_DROP, 150 });
	CHECKS_DONE();
}

/*
 * Refusal comes after the rules: a SYN over its limit is dropped by its
 * rule, not answered; one within it is refused and gives its token back.
 */
static void rules_decide_before_refusal(void **state)
{
	(void)state;
	SKIP_UNLESS_READY();
	add("default --rate 1 --burst 2");
	refusing(SLUICE_REFUSE_RST);
	EXPECT_EQ(send_n(tcp_to(SRC4, SVC_PORT, TCP_SYN), 5).tx, 5, "5 SYNs to a refusing port: RSTs");
	/* Refused SYNs spent nothing: the burst of 2 is all there once it admits. */
	refusing(SLUICE_ADMIT);
	expect_sent(send_n(tcp_to(SRC4, SVC_PORT, TCP_SYN), 3), 2, 1, "the burst is still whole");
	EXPECT_OUTCOMES({ SLUICE_REFUSED_RST, 5 }, { SLUICE_PASSED, 2 },
			{ SLUICE_DROPPED_RATE, 1 });
	/* Over its limit, a SYN is the rule's drop, even while the port refuses. */
	refusing(SLUICE_REFUSE_RST);
	expect_sent(send_n(tcp_to(SRC4, SVC_PORT, TCP_SYN), 1), 0, 1, "one more SYN");
	EXPECT_OUTCOMES({ SLUICE_REFUSED_RST, 5 }, { SLUICE_PASSED, 2 },
			{ SLUICE_DROPPED_RATE, 2 });
	CHECKS_DONE();
}

/*
 * A fleet rule holds its share of the fleet's budget while the controller
 * is in charge, refuses everything while the fleet has spent the window,
 * and falls back to its own limit when the lease runs out.
 */
static void fleet_share_holds_within_the_lease(void **state)
{
	struct sluice_fleet_limit share = {};
	__u32 id;

	(void)state;
	SKIP_UNLESS_READY();
	id = add("default --per rule --rate 1000 --burst 1000 --scope fleet");
	/* A third of it: 333/s, its burst as long in time (333), for this window; then 100/s. */
	ASSERT_OK(sluice_token_bucket_init(&share.limit, SLUICE_UNIT_PACKETS, 333, 333) ? -1 : 0,
		  "a share of 333/s");
	ASSERT_OK(sluice_token_bucket_init(&share.next, SLUICE_UNIT_PACKETS, 100, 100) ? -1 : 0,
		  "the next window's first share, 100/s");
	share.until_ns = fx.skel->bss->fake_now_ns + 10000 * MS_NS;
	ASSERT_OK(bpf_map__update_elem(fx.skel->maps.fleet_limits, &id, sizeof(id), &share,
				       sizeof(share), BPF_ANY),
		  "fleet_limits[%u]", id);
	/* No controller: the share is not in force; the rule's own 1000. */
	expect_sent(send_n(udp_to(SRC4, 53), 600), 600, 0, "no controller: its own burst of 1000");
	fx.skel->bss->fake_now_ns += 2000 * MS_NS;	/* full again */
	ASSERT_OK(controller_set(4242, fx.skel->bss->fake_now_ns, LEASE_NS), "in charge");
	expect_sent(send_n(udp_to(SRC4, 53), 600), 333, 267, "in charge: the share's burst of 333");
	/* The fleet spent the window: everything is the rule's drop. */
	share.blocked = 1;
	share.until_ns = fx.skel->bss->fake_now_ns + 3000 * MS_NS;
	ASSERT_OK(bpf_map__update_elem(fx.skel->maps.fleet_limits, &id, sizeof(id), &share,
				       sizeof(share), BPF_ANY),
		  "block fleet_limits[%u]", id);
	fx.skel->bss->fake_now_ns += 2000 * MS_NS;
	ASSERT_OK(controller_set(4242, fx.skel->bss->fake_now_ns, LEASE_NS), "a new heartbeat");
	expect_sent(send_n(udp_to(SRC4, 53), 10), 0, 10, "blocked: all dropped");
	/* The window ends: the next window's first share, until the controller's next answer. */
	fx.skel->bss->fake_now_ns += 3000 * MS_NS;
	ASSERT_OK(controller_set(4242, fx.skel->bss->fake_now_ns, LEASE_NS), "a new heartbeat");
	expect_sent(send_n(udp_to(SRC4, 53), 150), 100, 50, "the window over: the next share's 100");
	/* The lease runs out: the rule's own limit again. */
	fx.skel->bss->fake_now_ns += LEASE_NS + 2000 * MS_NS;
	expect_sent(send_n(udp_to(SRC4, 53), 1100), 1000, 100, "no lease: its own burst of 1000");
	EXPECT_OUTCOMES({ SLUICE_PASSED, 600 + 333 + 100 + 1000 },
			{ SLUICE_DROPPED_GLOBAL_RATE, 267 + 10 + 50 + 100 });
	CHECKS_DONE();
}

/*
 * A per-source fleet rule: the data path counts what each source group
 * passed, for the controller; a group with a share holds it within the
 * lease (blocked while the fleet has spent its window), the others and
 * every group without a controller the rule's own limit.
 */
static void fleet_source_shares(void **state)
{
	struct sluice_bucket_key key = { .family = SLUICE_FAMILY_IPV4 };
	struct sluice_fleet_limit share = {};
	__u64 passed = 0;
	__u32 id;

	(void)state;
	SKIP_UNLESS_READY();
	id = add("default --rate 1000 --burst 1000 --scope fleet");
	key.rule = id;
	ASSERT_OK(inet_pton(AF_INET, SRC4, key.addr) == 1 ? 0 : -1, "the source group's key");
	ASSERT_OK(sluice_token_bucket_init(&share.limit, SLUICE_UNIT_PACKETS, 333, 333) ? -1 : 0,
		  "a share of 333/s");
	share.next = share.limit;
	share.until_ns = fx.skel->bss->fake_now_ns + 10000 * MS_NS;
	ASSERT_OK(bpf_map__update_elem(fx.skel->maps.fleet_key_shares, &key, sizeof(key), &share,
				       sizeof(share), BPF_ANY),
		  "fleet_key_shares[%s]", SRC4);
	/* No controller: its own 1000; counted for the controller all the same. */
	expect_sent(send_n(udp_to(SRC4, 53), 600), 600, 0, "no controller: its own burst");
	ASSERT_OK(bpf_map__lookup_elem(fx.skel->maps.fleet_passed, &key, sizeof(key), &passed,
				       sizeof(passed), 0),
		  "fleet_passed[%s]", SRC4);
	EXPECT_EQ(passed, 600, "fleet_passed counts what the source passed");
	fx.skel->bss->fake_now_ns += 2000 * MS_NS;
	ASSERT_OK(controller_set(4242, fx.skel->bss->fake_now_ns, LEASE_NS), "in charge");
	expect_sent(send_n(udp_to(SRC4, 53), 600), 333, 267, "in charge: the group's share of 333");
	/* Another group of the same rule has no share: its own limit. */
	expect_sent(send_n(udp_to(SRC4_OUT, 53), 600), 600, 0, "a group without a share");
	share.blocked = 1;
	share.until_ns = fx.skel->bss->fake_now_ns + 3000 * MS_NS;
	ASSERT_OK(bpf_map__update_elem(fx.skel->maps.fleet_key_shares, &key, sizeof(key), &share,
				       sizeof(share), BPF_ANY),
		  "block fleet_key_shares[%s]", SRC4);
	expect_sent(send_n(udp_to(SRC4, 53), 10), 0, 10, "blocked: all dropped");
	fx.skel->bss->fake_now_ns += 2000 * MS_NS;	/* the lease ran out, the bucket full again */
	expect_sent(send_n(udp_to(SRC4, 53), 1100), 1000, 100, "no lease: its own burst of 1000");
	ASSERT_OK(bpf_map__lookup_elem(fx.skel->maps.fleet_passed, &key, sizeof(key), &passed,
				       sizeof(passed), 0),
		  "fleet_passed[%s] again", SRC4);
	EXPECT_EQ(passed, 600 + 333 + 1000, "fleet_passed counts only what passed");
	CHECKS_DONE();
}

/* A refused service never touches a segment of an established connection. */
static void established_segments_pass_a_refusing_service(void **state)
{
	static const __u8 flags[] = { TCP_SYN | TCP_ACK, TCP_ACK, TCP_ACK | TCP_PSH,
				      TCP_FIN | TCP_ACK, TCP_RST, TCP_RST | TCP_ACK, 0 };

	(void)state;
	SKIP_UNLESS_READY();
	refusing(SLUICE_REFUSE_DROP);
	for (size_t i = 0; i < ARRAY_LEN(flags); i++) {
		struct pkt_spec spec = tcp_to(SRC4, SVC_PORT, flags[i]);

		spec.payload_len = flags[i] & TCP_PSH ? 100 : 0;
		EXPECT_VERDICT(send_one(spec), XDP_PASS, "tcp flags %#x to the refusing port",
			       flags[i]);
	}
	EXPECT_OUTCOMES({ SLUICE_PASSED_UNLIMITED, ARRAY_LEN(flags) });
	expect_service_counts(SVC_SLOT, 0, 0);
	CHECKS_DONE();
}

static void other_ports_udp_and_admit_pass(void **state)
{
	(void)state;
	SKIP_UNLESS_READY();
	refusing(SLUICE_REFUSE_DROP);
	EXPECT_VERDICT(send_one(tcp_to(SRC4, SVC_PORT + 1, TCP_SYN)), XDP_PASS,
		       "a SYN to another port");
	EXPECT_VERDICT(send_one(udp_to(SRC4, SVC_PORT)), XDP_PASS,
		       "UDP to the port of a TCP service");
	service_set(SVC_SLOT, SVC_PORT, SLUICE_ADMIT);
	EXPECT_VERDICT(send_one(tcp_to(SRC4, SVC_PORT, TCP_SYN)), XDP_PASS,
		       "a SYN to an admitting service");
	EXPECT_OUTCOMES({ SLUICE_PASSED_UNLIMITED, 3 });
	expect_service_counts(SVC_SLOT, 0, 0);
	CHECKS_DONE();
}

/* Two services: each port refuses by its own state and counts in its own slot. */
static void each_service_its_own_state_and_counter(void **state)
{
	struct sluice_counter c;
	__u32 slot = 0;

	(void)state;
	SKIP_UNLESS_READY();
	refusing(SLUICE_REFUSE_DROP);
	service_set(0, 443, SLUICE_ADMIT);
	EXPECT_VERDICT(send_one(tcp_to(SRC4, 443, TCP_SYN)), XDP_PASS, "a SYN to 443 (admit)");
	EXPECT_VERDICT(send_one(tcp_to(SRC4, SVC_PORT, TCP_SYN)), XDP_DROP, "a SYN to %u",
		       SVC_PORT);
	service_set(0, 443, SLUICE_REFUSE_DROP);
	EXPECT_VERDICT(send_one(tcp_to(SRC4, 443, TCP_SYN)), XDP_DROP, "a SYN to 443 (refuse)");
	ASSERT_OK(bpf_map__lookup_elem(fx.skel->maps.svc_counters, &slot, sizeof(slot), &c,
				       sizeof(c), 0),
		  "svc_counters[0]");
	EXPECT_EQ(c.packets, 1, "svc_counters[0]: packets");
	slot = SVC_SLOT;
	ASSERT_OK(bpf_map__lookup_elem(fx.skel->maps.svc_counters, &slot, sizeof(slot), &c,
				       sizeof(c), 0),
		  "svc_counters[%u]", SVC_SLOT);
	EXPECT_EQ(c.packets, 1, "svc_counters[%u]: packets", SVC_SLOT);
	EXPECT_OUTCOMES({ SLUICE_PASSED_UNLIMITED, 1 }, { SLUICE_REFUSED_DROP, 2 });
	CHECKS_DONE();
}

/* ---- Service gates -------------------------------------------------------- */

/*
 * An open breaker refuses every new connection, the way the service's
 * refuse says, and only those: established segments to the port and SYNs
 * to other ports pass.
 */
static void open_breaker_refuses_new_connections(void **state)
{
	struct pkt_spec push = tcp_to(SRC4, SVC_PORT, TCP_PSH | TCP_ACK);
	struct sent rst, drop;

	(void)state;
	SKIP_UNLESS_READY();
	gated(&(struct sluice_service_state){ .refuse = SLUICE_REFUSE_RST,
					      .breaker = SLUICE_GATE_REFUSE });
	rst = send_n(tcp_to(SRC4, SVC_PORT, TCP_SYN), 3);
	EXPECT_EQ(rst.tx, 3, "SYNs to an open breaker refusing by RST: answered with XDP_TX");
	push.payload_len = 100;
	EXPECT_VERDICT(send_one(tcp_to(SRC4, SVC_PORT, TCP_ACK)), XDP_PASS, "an ACK to the port");
	EXPECT_VERDICT(send_one(push), XDP_PASS, "a PSH/ACK with data to the port");
	EXPECT_VERDICT(send_one(tcp_to(SRC4, SVC_PORT + 1, TCP_SYN)), XDP_PASS,
		       "a SYN to another port");
	expect_flow(&(struct sluice_service_flow){ .refused[SLUICE_REFUSAL_BREAKER] = 3 },
		    "3 SYNs refused by RST");

	gates_set(&(struct sluice_service_state){ .refuse = SLUICE_REFUSE_DROP,
						  .breaker = SLUICE_GATE_REFUSE });
	drop = send_n(tcp_to(SRC6, SVC_PORT, TCP_SYN), 2);
	expect_sent(drop, 0, 2, "SYNs from %s to an open breaker refusing by drop", SRC6);
	expect_flow(&(struct sluice_service_flow){ .refused[SLUICE_REFUSAL_BREAKER] = 5 },
		    "and 2 dropped");
	EXPECT_OUTCOMES({ SLUICE_REFUSED_RST, 3 }, { SLUICE_REFUSED_DROP, 2 },
			{ SLUICE_PASSED_UNLIMITED, 3 });
	expect_service_counts(SVC_SLOT, 5, 3 * rst.len + 2 * drop.len);
	CHECKS_DONE();
}

/*
 * Half-open, the breaker admits SYNs while service_flow.trials is below
 * trial_end: the controller sets it to the trials counted so far plus its
 * budget. Every SYN that meets the gate takes a trial, refused ones too;
 * other segments take none. A higher trial_end admits more.
 */
static void half_open_breaker_admits_its_trials(void **state)
{
	const __u64 trials_now = 7;
	struct sluice_service_state st = { .refuse = SLUICE_REFUSE_DROP,
					   .breaker = SLUICE_GATE_TRIAL,
					   .trial_end = trials_now + 3 };
	struct sent s;

	(void)state;
	SKIP_UNLESS_READY();
	gated(&st);
	ASSERT_OK(write_one(fx.skel->maps.service_flow, SVC_SLOT,
			    &(struct sluice_service_flow){ .trials = trials_now },
			    sizeof(struct sluice_service_flow)),
		  "service_flow[%u]: %llu trials taken before", SVC_SLOT,
		  (unsigned long long)trials_now);
	s = send_n(tcp_to(SRC4, SVC_PORT, TCP_SYN), 5);
	expect_sent(s, 3, 2, "5 SYNs against 3 trials");
	expect_sent(send_n(tcp_to(SRC4, SVC_PORT, TCP_ACK), 4), 4, 0, "ACKs to the port");
	expect_flow(&(struct sluice_service_flow){ .opened = 3, .trials = trials_now + 5,
						   .refused[SLUICE_REFUSAL_BREAKER] = 2 },
		    "3 trials admitted");

	st.trial_end = trials_now + 5 + 2;
	gates_set(&st);
	expect_sent(send_n(tcp_to(SRC6, SVC_PORT, TCP_SYN), 4), 2, 2, "2 more trials, 4 SYNs");
	expect_flow(&(struct sluice_service_flow){ .opened = 5, .trials = trials_now + 9,
						   .refused[SLUICE_REFUSAL_BREAKER] = 4 },
		    "after trial_end went up by 2");
	EXPECT_OUTCOMES({ SLUICE_PASSED_UNLIMITED, 3 + 4 + 2 }, { SLUICE_REFUSED_DROP, 4 });
	expect_service_counts(SVC_SLOT, 4, 2 * s.len + 2 * send_n(tcp_to(SRC6, 1, TCP_SYN), 0).len);
	CHECKS_DONE();
}

/*
 * The gates in order: the breaker, backpressure, then the limit. The first
 * that refuses gives the reason; with every gate shut it is the breaker's,
 * half-open without a trial left too.
 */
static void breaker_then_backpressure_then_limit(void **state)
{
	static const struct {
		const char *what;
		struct sluice_service_state st;
		enum sluice_refusal why;
	} gates[] = {
		{ "open breaker, backpressure, over the limit",
		  { .breaker = SLUICE_GATE_REFUSE, .backpressure = 1, .limit = 1,
		    .inflight_base = 5 },
		  SLUICE_REFUSAL_BREAKER },
		{ "half-open breaker with no trial left, backpressure, over the limit",
		  { .breaker = SLUICE_GATE_TRIAL, .trial_end = 0, .backpressure = 1, .limit = 1,
		    .inflight_base = 5 },
		  SLUICE_REFUSAL_BREAKER },
		{ "closed breaker, backpressure, over the limit",
		  { .breaker = SLUICE_GATE_PASS, .backpressure = 1, .limit = 1,
		    .inflight_base = 5 },
		  SLUICE_REFUSAL_BACKPRESSURE },
		{ "closed breaker, no backpressure, over the limit",
		  { .breaker = SLUICE_GATE_PASS, .limit = 1, .inflight_base = 5 },
		  SLUICE_REFUSAL_CONCURRENCY },
	};
	struct sluice_service_flow want = {};

	(void)state;
	SKIP_UNLESS_READY();
	gated(&(struct sluice_service_state){});
	for (size_t i = 0; i < ARRAY_LEN(gates); i++) {
		struct sluice_service_state st = gates[i].st;

		st.refuse = SLUICE_REFUSE_DROP;
		gates_set(&st);
		EXPECT_VERDICT(send_one(tcp_to(SRC4, SVC_PORT, TCP_SYN)), XDP_DROP, "a SYN: %s",
			       gates[i].what);
		want.refused[gates[i].why]++;
		want.trials += st.breaker == SLUICE_GATE_TRIAL;
		expect_flow(&want, "%s", gates[i].what);
	}
	EXPECT_OUTCOMES({ SLUICE_REFUSED_DROP, ARRAY_LEN(gates) });
	CHECKS_DONE();
}

/*
 * The concurrency limit admits while inflight_base + opened - closed is
 * below it: a client's FIN or RST to the port makes room for one more, a
 * negative base (the controller found the counts too high) for as many
 * more. A limit of 0 is no limit.
 */
static void concurrency_limit_admits_while_below_it(void **state)
{
	struct sluice_service_state st = { .refuse = SLUICE_REFUSE_DROP, .limit = 5 };
	struct sent s;

	(void)state;
	SKIP_UNLESS_READY();
	gated(&st);
	s = send_n(tcp_to(SRC4, SVC_PORT, TCP_SYN), 6);
	expect_sent(s, 5, 1, "6 SYNs against a limit of 5");
	expect_flow(&(struct sluice_service_flow){ .opened = 5,
						   .refused[SLUICE_REFUSAL_CONCURRENCY] = 1 },
		    "5 in flight");

	EXPECT_VERDICT(send_one(tcp_to(SRC4, SVC_PORT, TCP_FIN | TCP_ACK)), XDP_PASS,
		       "a client's FIN");
	expect_sent(send_n(tcp_to(SRC4, SVC_PORT, TCP_SYN), 2), 1, 1, "2 SYNs after a FIN");
	EXPECT_VERDICT(send_one(tcp_to(SRC6, SVC_PORT, TCP_RST)), XDP_PASS, "a client's RST");
	expect_sent(send_n(tcp_to(SRC4, SVC_PORT, TCP_SYN), 2), 1, 1, "2 SYNs after an RST");
	expect_flow(&(struct sluice_service_flow){ .opened = 7, .closed = 2,
						   .refused[SLUICE_REFUSAL_CONCURRENCY] = 3 },
		    "2 closed, 2 more opened");

	/* The controller counted 2 fewer in flight than opened - closed says. */
	st.inflight_base = -2;
	gates_set(&st);
	expect_sent(send_n(tcp_to(SRC4, SVC_PORT, TCP_SYN), 3), 2, 1, "3 SYNs with a base of -2");
	expect_flow(&(struct sluice_service_flow){ .opened = 9, .closed = 2,
						   .refused[SLUICE_REFUSAL_CONCURRENCY] = 4 },
		    "after a base of -2");

	st.limit = 0;
	gates_set(&st);
	expect_sent(send_n(tcp_to(SRC4, SVC_PORT, TCP_SYN), 20), 20, 0, "20 SYNs with limit 0");
	expect_flow(&(struct sluice_service_flow){ .opened = 29, .closed = 2,
						   .refused[SLUICE_REFUSAL_CONCURRENCY] = 4 },
		    "after limit 0");
	EXPECT_OUTCOMES({ SLUICE_PASSED_UNLIMITED, 29 + 2 }, { SLUICE_REFUSED_DROP, 4 });
	expect_service_counts(SVC_SLOT, 4, 4 * s.len);
	CHECKS_DONE();
}

/*
 * With the lease expired every gate is open, and what it admits is still
 * counted as opened (so the limit counts it once the controller is back).
 * A fresh heartbeat shuts each gate again: the gates were live.
 */
static void gates_open_when_the_lease_expires(void **state)
{
	static const struct {
		const char *what;
		struct sluice_service_state st;
	} gates[] = {
		{ "open breaker", { .breaker = SLUICE_GATE_REFUSE } },
		{ "half-open breaker with no trial left",
		  { .breaker = SLUICE_GATE_TRIAL, .trial_end = 0 } },
		{ "limit 1", { .limit = 1 } },
	};

	(void)state;
	SKIP_UNLESS_READY();
	gated(&(struct sluice_service_state){});
	for (size_t i = 0; i < ARRAY_LEN(gates); i++) {
		struct sluice_service_state st = gates[i].st;

		st.refuse = SLUICE_REFUSE_DROP;
		gates_set(&st);
		ASSERT_OK(controller_set(4242, T0_NS - LEASE_NS - 1, LEASE_NS),
			  "a heartbeat 1 ns older than the lease");
		expect_sent(send_n(tcp_to(SRC4, SVC_PORT, TCP_SYN), 3), 3, 0,
			    "%s, lease expired", gates[i].what);
		ASSERT_OK(controller_set(4242, T0_NS, LEASE_NS), "a fresh heartbeat");
		expect_sent(send_n(tcp_to(SRC4, SVC_PORT, TCP_SYN), 1), 0, 1,
			    "%s, controller in charge", gates[i].what);
	}
	/* A gate that does not hold takes no trial: only the SYN in charge took one. */
	expect_flow(&(struct sluice_service_flow){ .opened = 9, .trials = 1,
						   .refused[SLUICE_REFUSAL_BREAKER] = 2,
						   .refused[SLUICE_REFUSAL_CONCURRENCY] = 1 },
		    "9 admitted without a lease, 3 refused with one");
	EXPECT_OUTCOMES({ SLUICE_PASSED_UNLIMITED, 9 }, { SLUICE_REFUSED_DROP, 3 });
	CHECKS_DONE();
}

/*
 * The rules come before the gates: a SYN over its rule is the rule's drop,
 * neither opened nor refused by the service nor a trial, whatever its
 * gates say, and its event names no service.
 */
static void rules_decide_before_service_gates(void **state)
{
	struct sluice_service_state st = { .refuse = SLUICE_REFUSE_RST, .limit = 10 };
	__u32 id;

	(void)state;
	SKIP_UNLESS_READY();
	id = add("default --rate 1 --burst 2");
	gated(&st);
	expect_sent(send_n(tcp_to(SRC4, SVC_PORT, TCP_SYN), 3), 2, 1, "3 SYNs, a burst of 2");
	st.breaker = SLUICE_GATE_REFUSE;
	gates_set(&st);
	expect_sent(send_n(tcp_to(SRC4, SVC_PORT, TCP_SYN), 1), 0, 1,
		    "over the rule, breaker open");
	st.breaker = SLUICE_GATE_TRIAL;
	st.trial_end = 1;
	gates_set(&st);
	expect_sent(send_n(tcp_to(SRC4, SVC_PORT, TCP_SYN), 1), 0, 1,
		    "over the rule, breaker half-open");
	expect_flow(&(struct sluice_service_flow){ .opened = 2 }, "2 opened, 3 over the rule");
	EXPECT_OUTCOMES({ SLUICE_PASSED, 2 }, { SLUICE_DROPPED_RATE, 3 });
	expect_service_counts(SVC_SLOT, 0, 0);
	expect_events(3);
	for (size_t i = 0; i < 3; i++)
		expect_event(i, &(struct event_want){ .src = SRC4, .outcome = SLUICE_DROPPED_RATE,
						      .rule = id, .dport = SVC_PORT,
						      .proto = IPPROTO_TCP,
						      .class = SLUICE_CLASS_NORMAL });
	CHECKS_DONE();
}

/*
 * Only new connections to a service's port are counted: a SYN/ACK takes no
 * trial and opens nothing, a SYN to a port with no service touches no
 * slot's counts, nor a FIN to it, nor UDP.
 */
static void only_new_connections_to_a_service_count(void **state)
{
	(void)state;
	SKIP_UNLESS_READY();
	gated(&(struct sluice_service_state){ .refuse = SLUICE_REFUSE_DROP,
					      .breaker = SLUICE_GATE_TRIAL, .trial_end = 0 });
	expect_sent(send_n(tcp_to(SRC4, SVC_PORT, TCP_SYN | TCP_ACK), 3), 3, 0,
		    "SYN/ACKs to the port");
	expect_sent(send_n(tcp_to(SRC4, SVC_PORT + 1, TCP_SYN), 3), 3, 0,
		    "SYNs to a port with no service");
	expect_sent(send_n(tcp_to(SRC4, SVC_PORT + 1, TCP_FIN | TCP_ACK), 2), 2, 0,
		    "FINs to a port with no service");
	expect_sent(send_n(udp_to(SRC4, SVC_PORT), 2), 2, 0, "UDP to the port");
	expect_flow(&(struct sluice_service_flow){}, "nothing counted");
	/* The same gate refuses a SYN: the passes above were not an open gate's. */
	expect_sent(send_n(tcp_to(SRC4, SVC_PORT, TCP_SYN), 1), 0, 1, "a SYN to the port");
	expect_flow(&(struct sluice_service_flow){ .trials = 1,
						   .refused[SLUICE_REFUSAL_BREAKER] = 1 },
		    "the SYN to the port");
	EXPECT_OUTCOMES({ SLUICE_PASSED_UNLIMITED, 10 }, { SLUICE_REFUSED_DROP, 1 });
	CHECKS_DONE();
}

/* ---- The lease ----------------------------------------------------------- */

/*
 * The controller's decisions hold while now - heartbeat <= lease: at
 * exactly heartbeat + lease a SYN is still refused, one nanosecond later
 * it passes. A heartbeat in the future (another CPU's clock read) holds.
 */
static void refusal_holds_to_the_lease_boundary(void **state)
{
	static const struct {
		__u64 now;
		__u32 verdict;
	} at[] = {
		/*
		 * A heartbeat from the future (a controller whose clock runs
		 * ahead, in a time namespace) is no heartbeat at all.
		 */
		{ T0_NS - 5 * MS_NS, XDP_PASS },
		{ T0_NS, XDP_DROP },
		{ T0_NS + LEASE_NS - 1, XDP_DROP },
		{ T0_NS + LEASE_NS, XDP_DROP },
		{ T0_NS + LEASE_NS + 1, XDP_PASS },
		{ T0_NS + 60 * 1000 * MS_NS, XDP_PASS },
	};

	(void)state;
	SKIP_UNLESS_READY();
	refusing(SLUICE_REFUSE_DROP);
	for (size_t i = 0; i < ARRAY_LEN(at); i++) {
		fx.skel->bss->fake_now_ns = at[i].now;
		EXPECT_VERDICT(send_one(tcp_to(SRC4, SVC_PORT, TCP_SYN)), at[i].verdict,
			       "a SYN at heartbeat %+lld ns (lease %llu ns)",
			       (long long)(at[i].now - T0_NS), LEASE_NS);
	}
	EXPECT_OUTCOMES({ SLUICE_REFUSED_DROP, 3 }, { SLUICE_PASSED_UNLIMITED, 3 });
	expect_service_counts(SVC_SLOT, 3, 3 * send_n(tcp_to(SRC4, 1, TCP_SYN), 0).len);
	/* A fresh heartbeat puts the controller back in charge. */
	ASSERT_OK(controller_set(4242, fx.skel->bss->fake_now_ns, LEASE_NS), "a new heartbeat");
	EXPECT_VERDICT(send_one(tcp_to(SRC4, SVC_PORT, TCP_SYN)), XDP_DROP,
		       "a SYN after a new heartbeat");
	CHECKS_DONE();
}

/* A controller that stopped (pid 0), or none ever, decides nothing. */
static void stopped_controller_refuses_nothing(void **state)
{
	(void)state;
	SKIP_UNLESS_READY();
	refusing(SLUICE_REFUSE_DROP);
	ASSERT_OK(controller_set(0, T0_NS, LEASE_NS), "controller with pid 0");
	EXPECT_VERDICT(send_one(tcp_to(SRC4, SVC_PORT, TCP_SYN)), XDP_PASS,
		       "a SYN with a stopped controller");
	ASSERT_OK(write_one(fx.skel->maps.controller, 0, &(struct sluice_controller){},
			    sizeof(struct sluice_controller)),
		  "zero the controller record");
	EXPECT_VERDICT(send_one(tcp_to(SRC4, SVC_PORT, TCP_SYN)), XDP_PASS,
		       "a SYN with no controller ever");
	EXPECT_OUTCOMES({ SLUICE_PASSED_UNLIMITED, 2 });
	expect_service_counts(SVC_SLOT, 0, 0);
	CHECKS_DONE();
}

/* ---- The allow list ------------------------------------------------------ */

/* A source on the allow list is neither refused nor shed; one off it is both. */
static void allow_list_goes_before_refusal_and_shedding(void **state)
{
	(void)state;
	SKIP_UNLESS_READY();
	refusing(SLUICE_REFUSE_DROP);
	ASSERT_OK(list_add(fx.skel->maps.allow_list, "198.18.0.0/24"), "allow 198.18.0.0/24");
	EXPECT_VERDICT(send_one(tcp_to(SRC4, SVC_PORT, TCP_SYN)), XDP_PASS,
		       "a SYN from an allowed source");
	EXPECT_VERDICT(send_one(tcp_to(SRC4_OUT, SVC_PORT, TCP_SYN)), XDP_DROP,
		       "a SYN from a source off the list");
	shed_set(1, SLUICE_SHARE_ALL, SLUICE_SHARE_ALL, SLUICE_SHARE_ALL, 0);
	EXPECT_VERDICT(send_one(udp_to(SRC4, 53)), XDP_PASS, "UDP from an allowed source");
	EXPECT_VERDICT(send_one(udp_to(SRC4_OUT, 53)), XDP_DROP, "UDP from a source off the list");
	EXPECT_OUTCOMES({ SLUICE_PASSED_ALLOWED, 2 }, { SLUICE_REFUSED_DROP, 1 },
			{ SLUICE_DROPPED_SHED, 1 });
	expect_service_counts(SVC_SLOT, 1, send_n(tcp_to(SRC4, 1, TCP_SYN), 0).len);
	CHECKS_DONE();
}

/* ---- Shedding ------------------------------------------------------------ */

/*
 * Class low at level 1 dropping all of low: its datagrams and SYNs go, its
 * established segments stay.
 */
static void shed_low_class_new_connections(void **state)
{
	(void)state;
	SKIP_UNLESS_READY();
	add("198.18.0.0/24 --rate 100000 --burst 100000 --class low");
	shedding(SLUICE_SHARE_ALL, 0, 0, 0);
	expect_sent(send_n(udp_to(SRC4, 53), 20), 0, 20, "UDP of class low");
	expect_sent(send_n(tcp_to(SRC4_B, 80, TCP_SYN), 20), 0, 20, "SYNs of class low");
	expect_sent(send_n(tcp_to(SRC4, 80, TCP_ACK), 10), 10, 0, "ACKs of class low");
	expect_sent(send_n(tcp_to(SRC4, 80, TCP_SYN | TCP_ACK), 5), 5, 0, "SYN|ACKs of class low");
	expect_sent(send_n(udp_to(SRC4_OUT, 53), 10), 10, 0, "UDP outside the rule (normal)");
	EXPECT_OUTCOMES({ SLUICE_DROPPED_SHED, 40 }, { SLUICE_PASSED, 15 },
			{ SLUICE_PASSED_UNLIMITED, 10 });
	CHECKS_DONE();
}

/* ICMP (its errors keep connections working) and other protocols are never shed. */
static void icmp_is_never_shed(void **state)
{
	struct pkt_spec icmp = udp_to(SRC4, 0);

	(void)state;
	SKIP_UNLESS_READY();
	add("default --rate unlimited --class low");
	shedding(SLUICE_SHARE_ALL, SLUICE_SHARE_ALL, SLUICE_SHARE_ALL, 0);
	icmp.l4 = IPPROTO_ICMP;
	icmp.icmp_type = 3;	/* destination unreachable: fragmentation needed */
	expect_sent(send_n(icmp, 10), 10, 0, "ICMP of class low");
	expect_sent(send_n(udp_to(SRC4, 53), 10), 0, 10, "UDP of class low");
	CHECKS_DONE();
}

/* A rule without --class does not class what it matches: the low class stands. */
static void unclassed_rules_do_not_count(void **state)
{
	(void)state;
	SKIP_UNLESS_READY();
	add("198.18.0.0/24 --rate unlimited --class low");
	add("default --per rule --rate 1000000 --burst 1000000");
	shedding(SLUICE_SHARE_ALL, 0, 0, 0);
	expect_sent(send_n(udp_to(SRC4, 53), 10), 0, 10, "low, under an unclassed global limit");
	expect_sent(send_n(udp_to(SRC4_OUT, 53), 10), 10, 0, "only the unclassed rule: normal");
	CHECKS_DONE();
}

/* Critical is never shed, even with its drop_below written into the map. */
static void critical_is_never_shed(void **state)
{
	(void)state;
	SKIP_UNLESS_READY();
	add("198.18.0.0/24 --rate unlimited --class critical");
	shedding(SLUICE_SHARE_ALL, SLUICE_SHARE_ALL, SLUICE_SHARE_ALL, SLUICE_SHARE_ALL);
	expect_sent(send_n(udp_to(SRC4, 53), 20), 20, 0, "UDP of class critical");
	expect_sent(send_n(tcp_to(SRC4, 80, TCP_SYN), 20), 20, 0, "SYNs of class critical");
	/* The same map sheds the others: the passes above are the class's doing. */
	expect_sent(send_n(udp_to(SRC4_OUT, 53), 5), 0, 5, "UDP of class normal");
	EXPECT_OUTCOMES({ SLUICE_PASSED_UNLIMITED, 40 }, { SLUICE_DROPPED_SHED, 5 });
	CHECKS_DONE();
}

/* A packet no rule matches is class normal; a rule that does not match it lends no class. */
static void no_matching_rule_is_class_normal(void **state)
{
	(void)state;
	SKIP_UNLESS_READY();
	/* A TCP-only global rule of class critical: no class of UDP's. */
	add("default --per rule --proto tcp --rate 100000 --burst 100000 --class critical");
	shedding(SLUICE_SHARE_ALL, 0, SLUICE_SHARE_ALL, 0);
	expect_sent(send_n(udp_to(SRC4, 53), 10), 10, 0, "unmatched UDP, low and high shed");
	shed_set(1, 0, SLUICE_SHARE_ALL, 0, 0);
	expect_sent(send_n(udp_to(SRC4, 53), 10), 0, 10, "unmatched UDP, normal shed");
	expect_sent(send_n(tcp_to(SRC4, 80, TCP_SYN), 10), 10, 0, "SYNs under the critical rule");
	EXPECT_OUTCOMES({ SLUICE_PASSED_UNLIMITED, 10 }, { SLUICE_DROPPED_SHED, 10 },
			{ SLUICE_PASSED, 10 });
	CHECKS_DONE();
}

/* Rules of two classes match: the packet takes the higher, whichever level has which. */
static void highest_class_of_matching_rules(void **state)
{
	(void)state;
	SKIP_UNLESS_READY();
	add("198.18.0.0/24 --rate 100000 --burst 100000 --class low");
	add("default --per rule --proto udp --rate 100000 --burst 100000 --class high");
	add("198.18.1.0/24 --rate 100000 --burst 100000 --class high");
	add("default --per rule --proto tcp --rate 100000 --burst 100000 --class low");
	shedding(SLUICE_SHARE_ALL, SLUICE_SHARE_ALL, 0, 0);
	expect_sent(send_n(udp_to(SRC4, 53), 10), 10, 0, "UDP: source rule low, global high");
	expect_sent(send_n(tcp_to(SRC4_OUT, 80, TCP_SYN), 10), 10, 0,
		    "SYNs: source rule high, global low");
	/* Only low: a SYN from SRC4 (source low, global tcp low) is shed. */
	expect_sent(send_n(tcp_to(SRC4, 80, TCP_SYN), 10), 0, 10, "SYNs: low at both levels");
	shed_set(1, 0, 0, SLUICE_SHARE_ALL, 0);
	expect_sent(send_n(udp_to(SRC4, 53), 10), 0, 10, "UDP of class high, high shed");
	expect_sent(send_n(tcp_to(SRC4_OUT, 80, TCP_SYN), 10), 0, 10,
		    "SYNs of class high, high shed");
	EXPECT_OUTCOMES({ SLUICE_PASSED, 20 }, { SLUICE_DROPPED_SHED, 30 });
	CHECKS_DONE();
}

/*
 * drop_below at half of 2^32 drops about half: 4000 datagrams give a count
 * with a standard deviation of about 32, so 45% to 55% is over 6 of them
 * either side.
 */
static void half_share_drops_about_half(void **state)
{
	const __u32 n = 4000;
	struct sent s;

	(void)state;
	SKIP_UNLESS_READY();
	shedding(0, SLUICE_SHARE_ALL / 2, 0, 0);
	s = send_n(udp_to(SRC4, 53), n);
	if (s.dropped < n * 45 / 100 || s.dropped > n * 55 / 100) {
		print_message("# %u of %u dropped at a 50%% share, want 45%% to 55%%\n", s.dropped,
			      n);
		check_failures++;
	}
	EXPECT_EQ(s.passed + s.dropped, n, "every datagram passed or dropped");
	EXPECT_OUTCOMES({ SLUICE_DROPPED_SHED, s.dropped }, { SLUICE_PASSED_UNLIMITED, s.passed });
	/* A quarter drops about a quarter: the share is read, not just tested for zero. */
	ASSERT_OK(counters_zero(fx.skel->maps.counters), "zero the counters");
	shed_set(1, 0, SLUICE_SHARE_ALL / 4, 0, 0);
	s = send_n(udp_to(SRC4, 53), n);
	if (s.dropped < n * 20 / 100 || s.dropped > n * 30 / 100) {
		print_message("# %u of %u dropped at a 25%% share, want 20%% to 30%%\n", s.dropped,
			      n);
		check_failures++;
	}
	CHECKS_DONE();
}

/* Shedding holds only within the lease, and only at a level above 0. */
static void shedding_stops_with_the_lease_and_at_level_0(void **state)
{
	(void)state;
	SKIP_UNLESS_READY();
	shedding(SLUICE_SHARE_ALL, SLUICE_SHARE_ALL, SLUICE_SHARE_ALL, 0);
	fx.skel->bss->fake_now_ns = T0_NS + LEASE_NS;
	expect_sent(send_n(udp_to(SRC4, 53), 5), 0, 5, "at the end of the lease");
	fx.skel->bss->fake_now_ns = T0_NS + LEASE_NS + 1;
	expect_sent(send_n(udp_to(SRC4, 53), 5), 5, 0, "past the lease");
	fx.skel->bss->fake_now_ns = T0_NS;
	ASSERT_OK(controller_set(0, T0_NS, LEASE_NS), "controller with pid 0");
	expect_sent(send_n(udp_to(SRC4, 53), 5), 5, 0, "a stopped controller");
	ASSERT_OK(controller_set(4242, T0_NS, LEASE_NS), "the controller back");
	shed_set(0, SLUICE_SHARE_ALL, SLUICE_SHARE_ALL, SLUICE_SHARE_ALL, SLUICE_SHARE_ALL);
	expect_sent(send_n(udp_to(SRC4, 53), 5), 5, 0, "level 0");
	EXPECT_OUTCOMES({ SLUICE_DROPPED_SHED, 5 }, { SLUICE_PASSED_UNLIMITED, 15 });
	CHECKS_DONE();
}

/* A packet a rule drops is counted as that rule's drop, not as shed too. */
static void rule_drops_are_not_counted_as_shed(void **state)
{
	__u32 id;

	(void)state;
	SKIP_UNLESS_READY();
	id = add("default --rate 1000 --burst 2 --class low");
	shedding(0, 0, 0, 0);
	expect_sent(send_n(udp_to(SRC4, 53), 2), 2, 0, "the burst, nothing shed");
	shed_set(1, SLUICE_SHARE_ALL, SLUICE_SHARE_ALL, SLUICE_SHARE_ALL, 0);
	expect_sent(send_n(udp_to(SRC4, 53), 3), 0, 3, "3 more over the burst, everything shed");
	EXPECT_OUTCOMES({ SLUICE_PASSED, 2 }, { SLUICE_DROPPED_RATE, 3 });
	expect_events(3);
	for (size_t i = 0; i < 3; i++)
		expect_event(i, &(struct event_want){ .src = SRC4, .outcome = SLUICE_DROPPED_RATE,
						      .rule = id, .dport = 53,
						      .proto = IPPROTO_UDP,
						      .class = SLUICE_CLASS_LOW });
	CHECKS_DONE();
}

/*
 * A shed packet spends no rule's budget: with everything shed, a source
 * over a burst of 2 still has its whole burst once shedding stops.
 */
static void shed_packets_give_back_their_tokens(void **state)
{
	(void)state;
	SKIP_UNLESS_READY();
	add("default --rate 1 --burst 2 --class low");
	shedding(SLUICE_SHARE_ALL, 0, 0, 0);
	expect_sent(send_n(udp_to(SRC4, 53), 10), 0, 10, "10 shed");
	shed_set(0, 0, 0, 0, 0);
	expect_sent(send_n(udp_to(SRC4, 53), 3), 2, 1, "the whole burst is still there");
	EXPECT_OUTCOMES({ SLUICE_DROPPED_SHED, 10 }, { SLUICE_PASSED, 2 },
			{ SLUICE_DROPPED_RATE, 1 });
	CHECKS_DONE();
}

/* ---- Events --------------------------------------------------------------- */

static void events_of_refusals(void **state)
{
	(void)state;
	SKIP_UNLESS_READY();
	refusing(SLUICE_REFUSE_DROP);
	send_n(tcp_to(SRC4, SVC_PORT, TCP_SYN), 1);
	send_n(tcp_to(SRC6, SVC_PORT, TCP_SYN), 1);
	send_n(tcp_to(SRC4, SVC_PORT, TCP_ACK), 3);	/* passes: no event */
	expect_events(2);
	expect_event(0, &(struct event_want){ .src = SRC4, .outcome = SLUICE_REFUSED_DROP,
					      .dport = SVC_PORT, .proto = IPPROTO_TCP,
					      .class = SLUICE_CLASS_NORMAL,
					      .service = SVC_SLOT + 1,
					      .refusal = SLUICE_REFUSAL_BACKPRESSURE });
	expect_event(1, &(struct event_want){ .src = SRC6, .outcome = SLUICE_REFUSED_DROP,
					      .dport = SVC_PORT, .proto = IPPROTO_TCP,
					      .class = SLUICE_CLASS_NORMAL,
					      .service = SVC_SLOT + 1,
					      .refusal = SLUICE_REFUSAL_BACKPRESSURE });

	CHECKS_DONE();
}

/*
 * A refusal by RST: the event says what was done, as the outcome counter
 * does. With bpf/refuse.bpf.h's stub (or any SYN the RST writer cannot
 * answer) the SYN is dropped and counted refused_drop, so its event must
 * say refused_drop too, not refused_rst.
 */
static void rst_refusal_event_says_what_was_done(void **state)
{
	enum sluice_outcome done;
	struct sent s;

	(void)state;
	SKIP_UNLESS_READY();
	refusing(SLUICE_REFUSE_RST);
	s = send_n(tcp_to(SRC4, SVC_PORT, TCP_SYN), 1);
	done = s.tx ? SLUICE_REFUSED_RST : SLUICE_REFUSED_DROP;
	EXPECT_OUTCOMES({ done, 1 });
	expect_events(1);
	expect_event(0, &(struct event_want){ .src = SRC4, .outcome = done, .dport = SVC_PORT,
					      .proto = IPPROTO_TCP,
					      .class = SLUICE_CLASS_NORMAL,
					      .service = SVC_SLOT + 1,
					      .refusal = SLUICE_REFUSAL_BACKPRESSURE });
	CHECKS_DONE();
}

/*
 * An event of a refusal names the service (its slot + 1, so slot 0 is not
 * "none") and why it was refused, whichever gate refused it.
 */
static void events_say_which_service_refused_and_why(void **state)
{
	(void)state;
	SKIP_UNLESS_READY();
	gated(&(struct sluice_service_state){ .refuse = SLUICE_REFUSE_DROP,
					      .breaker = SLUICE_GATE_REFUSE });
	service_set(0, 443, SLUICE_REFUSE_DROP);
	send_n(tcp_to(SRC4, SVC_PORT, TCP_SYN), 1);
	send_n(tcp_to(SRC6, 443, TCP_SYN), 1);
	gates_set(&(struct sluice_service_state){ .refuse = SLUICE_REFUSE_RST, .limit = 1,
						  .inflight_base = 1 });
	EXPECT_EQ(send_n(tcp_to(SRC4_B, SVC_PORT, TCP_SYN), 1).tx, 1,
		  "a SYN over the limit, refused by RST");
	gates_set(&(struct sluice_service_state){ .refuse = SLUICE_REFUSE_RST });
	send_n(tcp_to(SRC4, SVC_PORT, TCP_SYN), 2);	/* admitted: no event */
	EXPECT_OUTCOMES({ SLUICE_REFUSED_DROP, 2 }, { SLUICE_REFUSED_RST, 1 },
			{ SLUICE_PASSED_UNLIMITED, 2 });
	expect_events(3);
	expect_event(0, &(struct event_want){ .src = SRC4, .outcome = SLUICE_REFUSED_DROP,
					      .dport = SVC_PORT, .proto = IPPROTO_TCP,
					      .class = SLUICE_CLASS_NORMAL,
					      .service = SVC_SLOT + 1,
					      .refusal = SLUICE_REFUSAL_BREAKER });
	expect_event(1, &(struct event_want){ .src = SRC6, .outcome = SLUICE_REFUSED_DROP,
					      .dport = 443, .proto = IPPROTO_TCP,
					      .class = SLUICE_CLASS_NORMAL, .service = 1,
					      .refusal = SLUICE_REFUSAL_BACKPRESSURE });
	expect_event(2, &(struct event_want){ .src = SRC4_B, .outcome = SLUICE_REFUSED_RST,
					      .dport = SVC_PORT, .proto = IPPROTO_TCP,
					      .class = SLUICE_CLASS_NORMAL,
					      .service = SVC_SLOT + 1,
					      .refusal = SLUICE_REFUSAL_CONCURRENCY });
	CHECKS_DONE();
}

static void events_of_rule_drops_and_shedding(void **state)
{
	__u32 id;

	(void)state;
	SKIP_UNLESS_READY();
	id = add("198.18.0.0/24 --proto udp --rate 1000 --burst 1 --class high");
	add("2001:db8:1::/48 --rate 100000 --burst 100000 --class low");
	shedding(SLUICE_SHARE_ALL, 0, 0, 0);
	send_n(udp_to(SRC4, 5353), 2);			/* the second over the burst */
	send_n(udp_to(SRC6, 53), 1);			/* shed: class low */
	send_n(tcp_to(SRC6, 22, TCP_SYN), 1);		/* shed too */
	ASSERT_OK(list_add(fx.skel->maps.deny_list, SRC4_OUT), "deny %s", SRC4_OUT);
	send_n(tcp_to(SRC4_OUT, 443, TCP_ACK), 1);	/* denied */
	EXPECT_OUTCOMES({ SLUICE_PASSED, 1 }, { SLUICE_DROPPED_RATE, 1 },
			{ SLUICE_DROPPED_SHED, 2 }, { SLUICE_DROPPED_DENIED, 1 });
	expect_events(4);
	expect_event(0, &(struct event_want){ .src = SRC4, .outcome = SLUICE_DROPPED_RATE,
					      .rule = id, .dport = 5353, .proto = IPPROTO_UDP,
					      .class = SLUICE_CLASS_HIGH });
	expect_event(1, &(struct event_want){ .src = SRC6, .outcome = SLUICE_DROPPED_SHED,
					      .dport = 53, .proto = IPPROTO_UDP,
					      .class = SLUICE_CLASS_LOW });
	expect_event(2, &(struct event_want){ .src = SRC6, .outcome = SLUICE_DROPPED_SHED,
					      .dport = 22, .proto = IPPROTO_TCP,
					      .class = SLUICE_CLASS_LOW });
	expect_event(3, &(struct event_want){ .src = SRC4_OUT, .outcome = SLUICE_DROPPED_DENIED,
					      .dport = 443, .proto = IPPROTO_TCP,
					      .class = SLUICE_CLASS_NORMAL });
	CHECKS_DONE();
}

/* The interface a packet came in on (BPF_PROG_RUN's ingress_ifindex: the loopback here). */
static void events_say_the_interface(void **state)
{
	struct pkt_spec spec = tcp_to(SRC4, SVC_PORT, TCP_SYN);
	struct xdp_md ctx = { .ingress_ifindex = 1 };
	struct pkt pkt;

	(void)state;
	SKIP_UNLESS_READY();
	refusing(SLUICE_REFUSE_DROP);
	ASSERT_OK(pkt_build(&spec, &pkt), "build a SYN");
	/* The kernel wants the context's data_end to be the frame's length. */
	ctx.data_end = pkt.len;
	{
		LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = pkt.data, .data_size_in = pkt.len,
			    .ctx_in = &ctx, .ctx_size_in = sizeof(ctx), .repeat = 1);

		ASSERT_OK(bpf_prog_test_run_opts(bpf_program__fd(fx.skel->progs.sluice_xdp), &opts),
			  "test run on ifindex 1");
		EXPECT_VERDICT(opts.retval, XDP_DROP, "a refused SYN on ifindex 1");
	}
	expect_events(1);
	EXPECT_EQ(events.ev[0].ifindex, 1, "event: ifindex");
	CHECKS_DONE();
}

/*
 * The sampler: a burst of SLUICE_EVENTS_BURST, then SLUICE_EVENTS_PER_SEC.
 * With the clock frozen 300 drops give exactly the burst; 10 ms later, 10
 * more; the rest are counted as suppressed.
 */
static void sampler_burst_then_rate(void **state)
{
	struct sampler_counts es;

	(void)state;
	SKIP_UNLESS_READY();
	_Static_assert(SLUICE_EVENTS_BURST == 100 && SLUICE_EVENTS_PER_SEC == 1000,
		       "the counts below assume a burst of 100 and 1000/s");
	refusing(SLUICE_REFUSE_DROP);
	expect_sent(send_n(tcp_to(SRC4, SVC_PORT, TCP_SYN), 300), 0, 300, "300 refused SYNs");
	expect_events(SLUICE_EVENTS_BURST);
	es = events_state_now();
	EXPECT_EQ(es.sent, 100, "events_state.sent");
	EXPECT_EQ(es.suppressed, 200, "events_state.suppressed");
	EXPECT_EQ(es.lost, 0, "events_state.lost");

	fx.skel->bss->fake_now_ns += 10 * MS_NS;
	ASSERT_OK(controller_set(4242, fx.skel->bss->fake_now_ns, LEASE_NS), "a new heartbeat");
	expect_sent(send_n(tcp_to(SRC4, SVC_PORT, TCP_SYN), 50), 0, 50, "50 more, 10 ms later");
	expect_events(10);
	expect_event(9, &(struct event_want){ .src = SRC4, .outcome = SLUICE_REFUSED_DROP,
					      .dport = SVC_PORT, .proto = IPPROTO_TCP,
					      .class = SLUICE_CLASS_NORMAL,
					      .service = SVC_SLOT + 1,
					      .refusal = SLUICE_REFUSAL_BACKPRESSURE });
	es = events_state_now();
	EXPECT_EQ(es.sent, 110, "events_state.sent after 10 ms");
	EXPECT_EQ(es.suppressed, 240, "events_state.suppressed after 10 ms");
	EXPECT_OUTCOMES({ SLUICE_REFUSED_DROP, 350 });

	/* Passes are not drops: they neither sample nor count as suppressed. */
	fx.skel->bss->fake_now_ns += 1000 * MS_NS;
	send_n(udp_to(SRC4, 53), 20);
	expect_events(0);
	es = events_state_now();
	EXPECT_EQ(es.sent + es.suppressed, 350, "events_state after 20 passes");
	CHECKS_DONE();
}

/* ---- Main ------------------------------------------------------------------ */

#define TEST(f) cmocka_unit_test_setup(f, test_setup)

int main(void)
{
	const struct CMUnitTest tests[] = {
		TEST(refuse_drop_drops_a_syn),
		TEST(refuse_rst_answers_or_falls_back_to_drop),
		TEST(established_segments_pass_a_refusing_service),
		TEST(other_ports_udp_and_admit_pass),
		TEST(each_service_its_own_state_and_counter),
		TEST(open_breaker_refuses_new_connections),
		TEST(half_open_breaker_admits_its_trials),
		TEST(breaker_then_backpressure_then_limit),
		TEST(concurrency_limit_admits_while_below_it),
		TEST(gates_open_when_the_lease_expires),
		TEST(rules_decide_before_service_gates),
		TEST(only_new_connections_to_a_service_count),
		TEST(refusal_holds_to_the_lease_boundary),
		TEST(stopped_controller_refuses_nothing),
		TEST(allow_list_goes_before_refusal_and_shedding),
		TEST(shed_low_class_new_connections),
		TEST(critical_is_never_shed),
		TEST(no_matching_rule_is_class_normal),
		TEST(highest_class_of_matching_rules),
		TEST(half_share_drops_about_half),
		TEST(shedding_stops_with_the_lease_and_at_level_0),
		TEST(rule_drops_are_not_counted_as_shed),
		TEST(rsts_are_rate_limited),
		TEST(rules_decide_before_refusal),
		TEST(fleet_share_holds_within_the_lease),
		TEST(fleet_source_shares),
		TEST(icmp_is_never_shed),
		TEST(unclassed_rules_do_not_count),
		TEST(shed_packets_give_back_their_tokens),
		TEST(events_of_refusals),
		TEST(rst_refusal_event_says_what_was_done),
		TEST(events_say_which_service_refused_and_why),
		TEST(events_of_rule_drops_and_shedding),
		TEST(events_say_the_interface),
		TEST(sampler_burst_then_rate),
	};

	setvbuf(stdout, NULL, _IOLBF, 0);
	return cmocka_run_group_tests_name("decisions", tests, group_setup, group_teardown) ? 1
											   : 0;
}
