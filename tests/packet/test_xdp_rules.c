// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The rule model as sluice_xdp runs it, on the fake clock, with rules set
 * through user/rules.h exactly as `sluice limit set` sets them:
 *  - each level (source, prefix, port, global) refuses on its own, counted
 *    under its outcome and in the refusing rule's counters, and a packet
 *    must pass every level that has a rule for it;
 *  - the levels run source -> prefix -> port -> global, and a refusal stops
 *    there: later levels neither see nor charge the packet;
 *  - what a rule matches: --proto (ICMP meaning ICMP and ICMPv6), --syn
 *    (SYN without ACK only), port ranges and their edges, a port rule's
 *    source prefix;
 *  - --dry-run, --rate unlimited overrides, replacing and deleting rules,
 *    and the four rules one match can carry per level.
 */
#include "packets.h"

#define T0_NS (1000ULL * 1000000000ULL)
#define INTERVAL_NS 1000000ULL		/* of the 1000/s rules most tests use */

#define SRC4 "198.18.0.1"
#define SRC4_B "198.18.0.2"		/* in SRC4's /24 */
#define SRC4_OUT "198.18.1.1"		/* outside it */
#define SRC6 "2001:db8:1::1"
#define DST4 "198.19.0.2"
#define DST6 "2001:db8::2"

/* One loaded program for the whole group: group_setup() and group_teardown(). */
SLUICE_FIXTURE_GROUP(fx);

#include "program_io.h"

/* Every test starts from empty maps (no rule at all) and the clock at T0. */
static int test_setup(void **state)
{
	(void)state;
	check_failures = 0;
	if (fx.skip_reason)
		return 0;
	if (sluice_fixture_reset(&fx, T0_NS)) {
		print_message("# could not reset the maps\n");
		return -1;
	}
	return 0;
}

/* ---- Frames ------------------------------------------------------------ */

/* An echo request: ICMP from an IPv4 source, ICMPv6 from an IPv6 one. */
static struct pkt_spec echo_from(const char *src)
{
	return (struct pkt_spec){ .l3 = is_v6(src) ? PKT_IPV6 : PKT_IPV4, .src = src,
				  .dst = is_v6(src) ? DST6 : DST4,
				  .l4 = is_v6(src) ? IPPROTO_ICMPV6 : IPPROTO_ICMP,
				  .icmp_type = is_v6(src) ? 128 : 8 };
}

/* ---- Expectations ------------------------------------------------------- */


/* A rule's counters, in packets. */
static void expect_rule(__u32 id, __u64 passed, __u64 dropped, __u64 would_drop)
{
	struct sluice_rule_counters c;

	ASSERT_OK(rule_counters_read(&fx, id, &c), "counters of rule %u", id);
	EXPECT_EQ(c.passed.packets, passed, "rule %u: passed packets", id);
	EXPECT_EQ(c.dropped.packets, dropped, "rule %u: dropped packets", id);
	EXPECT_EQ(c.would_drop.packets, would_drop, "rule %u: would_drop packets", id);
}

/* The one bucket of a rule that shares one. */
static void expect_state(__u32 id, __u64 passed, __u64 dropped)
{
	struct sluice_bucket b;

	ASSERT_OK(rule_state_read(&fx, id, &b), "shared bucket of rule %u", id);
	EXPECT_EQ(b.passed, passed, "shared bucket of rule %u: passed", id);
	EXPECT_EQ(b.dropped, dropped, "shared bucket of rule %u: dropped", id);
}

/* A source's bucket under a per-source rule. */
static void expect_bucket(__u32 id, const char *src, __u64 passed, __u64 dropped)
{
	struct sluice_bucket b;

	ASSERT_OK(bucket_read(&fx, id, src, &b), "bucket of %s under rule %u", src, id);
	EXPECT_EQ(b.passed, passed, "bucket of %s under rule %u: passed", src, id);
	EXPECT_EQ(b.dropped, dropped, "bucket of %s under rule %u: dropped", src, id);
}

static void expect_buckets(__u32 id, size_t want)
{
	size_t n = ~(size_t)0;

	ASSERT_OK(buckets_count(&fx, id, &n), "count the buckets");
	if (id)
		EXPECT_EQ(n, want, "buckets under rule %u", id);
	else
		EXPECT_EQ(n, want, "buckets under every rule");
}

static void expect_level(__u32 id, enum sluice_level level, __u32 flags)
{
	struct sluice_rule rule;

	ASSERT_OK(rule_read(&fx, id, &rule), "read rule %u", id);
	EXPECT_EQ(rule.level, level, "rule %u: level (0 source, 1 prefix, 2 port, 3 global)", id);
	EXPECT_EQ(rule.flags & flags, flags, "rule %u: flags %#x", id, flags);
}

/* The ids on a trie's exact entry for `prefix`; -ENOENT when it has none. */
static int trie_entry(const struct bpf_map *trie, const char *prefix, struct sluice_rule_ids *ids)
{
	struct sluice_prefix_key key;

	if (prefix_key(prefix, &key))
		return -EINVAL;
	return bpf_map__lookup_elem(trie, &key, sizeof(key), ids, sizeof(*ids), 0);
}

static struct sluice_config config_now(void)
{
	struct sluice_config cfg = {};

	ASSERT_OK(config_read(fx.skel->maps.config, &cfg), "read the config map");
	return cfg;
}

static size_t rule_count(void)
{
	struct rule_maps maps = fixture_rule_maps(&fx);
	struct rule_entry *entries = NULL;
	size_t count = 0;

	ASSERT_OK(rules_read(&maps, &entries, &count) ? -errno : 0, "read the rules");
	free(entries);
	return count;
}

/* ---- Each level refuses on its own, and every level must pass ----------- */

static void source_level_refusal_is_dropped_rate(void **state)
{
	struct sluice_rule_counters c;
	__u32 id;
	struct sent s;

	(void)state;
	SKIP_UNLESS_READY();
	id = add("default --rate 1000 --burst 2");
	expect_level(id, SLUICE_LEVEL_SOURCE, SLUICE_RULE_PER_SOURCE | SLUICE_RULE_IN_USE);
	s = send_n(udp_to(SRC4, 53), 3);
	expect_sent(s, 2, 1, "3 frames from %s under burst 2", SRC4);
	EXPECT_OUTCOMES({ SLUICE_PASSED, 2 }, { SLUICE_DROPPED_RATE, 1 });
	expect_rule(id, 2, 1, 0);
	ASSERT_OK(rule_counters_read(&fx, id, &c), "counters of rule %u", id);
	EXPECT_EQ(c.passed.bytes, 2ULL * s.len, "rule %u: passed bytes", id);
	EXPECT_EQ(c.dropped.bytes, 1ULL * s.len, "rule %u: dropped bytes", id);
	expect_bucket(id, SRC4, 2, 1);
	/* A per-source rule keeps no shared bucket. */
	expect_state(id, 0, 0);
	CHECKS_DONE();
}

/* Two sources each under their own limit, over their /24's shared one. */
static void prefix_level_refuses_sources_under_their_own_limit(void **state)
{
	struct sluice_rule_ids ids;
	__u32 source, prefix;

	(void)state;
	SKIP_UNLESS_READY();
	source = add("default --rate 1000 --burst 10");
	prefix = add("198.18.0.0/24 --per rule --rate 1000 --burst 3");
	expect_level(prefix, SLUICE_LEVEL_PREFIX, SLUICE_RULE_IN_USE);
	ASSERT_OK(trie_entry(fx.skel->maps.prefix_rules, "198.18.0.0/24", &ids),
		  "prefix_rules entry of 198.18.0.0/24");
	EXPECT_EQ(ids_have(&ids, prefix), 1, "prefix_rules 198.18.0.0/24 carries rule %u", prefix);

	expect_sent(send_n(udp_to(SRC4, 53), 2), 2, 0, "%s", SRC4);
	expect_sent(send_n(udp_to(SRC4_B, 53), 2), 1, 1, "%s: the /24's third and fourth",
		    SRC4_B);
	expect_sent(send_n(udp_to(SRC4_OUT, 53), 3), 3, 0, "%s, outside the /24", SRC4_OUT);
	EXPECT_OUTCOMES({ SLUICE_PASSED, 6 }, { SLUICE_DROPPED_PREFIX_RATE, 1 });
	/*
	 * The source level let all four through, each source under its own
	 * limit, and took back the cost of the one the /24 refused.
	 */
	expect_bucket(source, SRC4, 2, 0);
	expect_bucket(source, SRC4_B, 1, 0);
	expect_rule(source, 6, 0, 0);
	expect_rule(prefix, 3, 1, 0);
	expect_state(prefix, 3, 1);
	expect_buckets(prefix, 0);
	CHECKS_DONE();
}

static void port_level_refuses_over_its_port(void **state)
{
	__u32 source, port;
	struct sluice_rule_ids ids;

	(void)state;
	SKIP_UNLESS_READY();
	source = add("default --rate 1000 --burst 10");
	port = add("default --proto tcp --port 80 --per rule --rate 1000 --burst 2");
	expect_level(port, SLUICE_LEVEL_PORT, SLUICE_RULE_IN_USE);
	ASSERT_OK(port_rule_ids(&fx, IPPROTO_TCP, 80, &ids), "port_rules of tcp 80");
	EXPECT_EQ(ids_have(&ids, port), 1, "port_rules tcp 80 carries rule %u", port);

	expect_sent(send_n(tcp_to(SRC4, 80, TCP_SYN), 2), 2, 0, "%s to tcp 80", SRC4);
	expect_sent(send_n(tcp_to(SRC6, 80, TCP_SYN), 1), 0, 1, "%s to tcp 80, third to the port",
		    SRC6);
	expect_sent(send_n(udp_to(SRC4_B, 80), 2), 2, 0, "%s to udp 80", SRC4_B);
	expect_sent(send_n(tcp_to(SRC4_B, 81, TCP_SYN), 2), 2, 0, "%s to tcp 81", SRC4_B);
	EXPECT_OUTCOMES({ SLUICE_PASSED, 6 }, { SLUICE_DROPPED_PORT_RATE, 1 });
	/* The port refused SRC6's SYN: the source level gave its cost back. */
	expect_bucket(source, SRC6, 0, 0);
	expect_rule(source, 6, 0, 0);
	expect_rule(port, 2, 1, 0);
	expect_state(port, 2, 1);
	CHECKS_DONE();
}

/* A port rule is per source unless --per rule: each source its own bucket on the port. */
static void port_rule_per_source_buckets(void **state)
{
	__u32 port;

	(void)state;
	SKIP_UNLESS_READY();
	port = add("default --proto udp --port 53 --rate 1000 --burst 1");
	expect_level(port, SLUICE_LEVEL_PORT, SLUICE_RULE_PER_SOURCE);
	expect_sent(send_n(udp_to(SRC4, 53), 2), 1, 1, "%s to udp 53", SRC4);
	expect_sent(send_n(udp_to(SRC4_B, 53), 2), 1, 1, "%s to udp 53", SRC4_B);
	EXPECT_OUTCOMES({ SLUICE_PASSED, 2 }, { SLUICE_DROPPED_PORT_RATE, 2 });
	expect_bucket(port, SRC4, 1, 1);
	expect_bucket(port, SRC4_B, 1, 1);
	expect_buckets(0, 2);
	expect_rule(port, 2, 2, 0);
	CHECKS_DONE();
}

static void global_level_refuses_over_the_host_limit(void **state)
{
	struct sluice_config cfg;
	__u32 source, global;

	(void)state;
	SKIP_UNLESS_READY();
	source = add("default --rate 1000 --burst 10");
	global = add("default --per rule --rate 1000 --burst 3");
	expect_level(global, SLUICE_LEVEL_GLOBAL, SLUICE_RULE_IN_USE);
	cfg = config_now();
	EXPECT_EQ(ids_have(&cfg.global, global), 1, "config.global carries rule %u", global);

	expect_sent(send_n(udp_to(SRC4, 53), 1), 1, 0, "%s", SRC4);
	expect_sent(send_n(tcp_to(SRC6, 443, TCP_ACK), 1), 1, 0, "%s", SRC6);
	expect_sent(send_n(echo_from(SRC4_OUT), 2), 1, 1, "%s: the host's third and fourth",
		    SRC4_OUT);
	EXPECT_OUTCOMES({ SLUICE_PASSED, 3 }, { SLUICE_DROPPED_GLOBAL_RATE, 1 });
	/* The host refused the fourth: the source level gave its cost back. */
	expect_bucket(source, SRC4_OUT, 1, 0);
	expect_rule(source, 3, 0, 0);
	expect_rule(global, 3, 1, 0);
	expect_state(global, 3, 1);
	CHECKS_DONE();
}

/*
 * A flood refused at a later level spends nothing of an earlier level's
 * budget: SYNs over their port's limit give back what they took from their
 * /24's shared limit, so other traffic from the /24 still gets through.
 */
static void refused_packets_spend_no_earlier_budget(void **state)
{
	__u32 prefix, port;

	(void)state;
	SKIP_UNLESS_READY();
	prefix = add("198.18.0.0/24 --per rule --rate 1 --burst 20");
	port = add("default --port 80 --syn --per rule --rate 1 --burst 10");
	expect_sent(send_n(tcp_to(SRC4, 80, TCP_SYN), 200), 10, 190, "200 SYNs to port 80");
	expect_sent(send_n(tcp_to(SRC4_B, 22, TCP_ACK), 10), 10, 0,
		    "then 10 packets of an established connection from the same /24");
	expect_rule(prefix, 20, 0, 0);
	expect_rule(port, 10, 190, 0);
	expect_state(prefix, 20, 0);
	EXPECT_OUTCOMES({ SLUICE_PASSED, 20 }, { SLUICE_DROPPED_PORT_RATE, 190 });
	CHECKS_DONE();
}

/* ---- Order: a refusal stops the packet where it is ----------------------- */

struct order_case {
	const char *name;
	enum sluice_level refusing;
	enum sluice_outcome outcome;
};

static const struct order_case order_cases[] = {
	{ "source", SLUICE_LEVEL_SOURCE, SLUICE_DROPPED_RATE },
	{ "prefix", SLUICE_LEVEL_PREFIX, SLUICE_DROPPED_PREFIX_RATE },
	{ "port", SLUICE_LEVEL_PORT, SLUICE_DROPPED_PORT_RATE },
	{ "global", SLUICE_LEVEL_GLOBAL, SLUICE_DROPPED_GLOBAL_RATE },
};

/*
 * A rule on every level for the same frames, each roomy but the refusing
 * one (burst 1). Four frames: the first passes every level; the next three
 * pass the levels before the refusing one, are refused there, and never
 * reach the levels after it. The levels before give back what the refused
 * three cost them: every level but the refusing one counts one packet and
 * holds one token less, not four.
 */
static void refusal_spares_later_levels(void **state)
{
	const struct order_case *c = *state;
	static const char *const rules[SLUICE_LEVELS] = {
		[SLUICE_LEVEL_SOURCE] = "default --rate 1000 --burst %u",
		[SLUICE_LEVEL_PREFIX] = "198.18.0.0/24 --per rule --rate 1000 --burst %u",
		[SLUICE_LEVEL_PORT] = "default --proto udp --port 53 --per rule --rate 1000 "
				      "--burst %u",
		[SLUICE_LEVEL_GLOBAL] = "default --per rule --rate 1000 --burst %u",
	};
	const unsigned int roomy = 100;
	__u32 ids[SLUICE_LEVELS];
	char words[128];
	struct sluice_bucket b;

	SKIP_UNLESS_READY();
	for (int l = 0; l < SLUICE_LEVELS; l++) {
		snprintf(words, sizeof(words), rules[l], l == (int)c->refusing ? 1 : roomy);
		ids[l] = add(words);
		expect_level(ids[l], l, SLUICE_RULE_IN_USE);
	}
	expect_sent(send_n(udp_to(SRC4, 53), 4), 1, 3, "4 frames, the %s level refusing", c->name);
	EXPECT_OUTCOMES({ SLUICE_PASSED, 1 }, { c->outcome, 3 });
	for (int l = 0; l < SLUICE_LEVELS; l++) {
		__u64 passed = 1;
		__u64 dropped = l == (int)c->refusing ? 3 : 0;

		expect_rule(ids[l], passed, dropped, 0);
		if (l == SLUICE_LEVEL_SOURCE) {
			expect_bucket(ids[l], SRC4, passed, dropped);
			ASSERT_OK(bucket_read(&fx, ids[l], SRC4, &b), "source bucket");
		} else {
			expect_state(ids[l], passed, dropped);
			ASSERT_OK(rule_state_read(&fx, ids[l], &b), "shared bucket");
		}
		/* Tokens taken: full_at moved one interval per packet passed, from now. */
		EXPECT_EQ(b.state.full_at - sluice_fake_now(&fx),
			  passed * INTERVAL_NS * SLUICE_TIME_PER_NS,
			  "level %d rule %u: full_at - now (ps), %llu token(s) taken", l, ids[l],
			  (unsigned long long)passed);
	}
	CHECKS_DONE();
}

/* The first fake_now_ns at which sluice time (ns * 1000, in 64 bits) has wrapped. */
#define WRAP_NS (UINT64_MAX / SLUICE_TIME_PER_NS + 1)
#define HALF_NS (SLUICE_TIME_HALF_RANGE / SLUICE_TIME_PER_NS)

/*
 * A new shared rule gets its whole burst whatever the clock says, as a new
 * source does (test_xdp_bucket.c): 106 days of uptime put sluice time past
 * half its range, and 213 days wrap it.
 */
static void new_shared_rule_gets_full_burst_at_any_clock_value(void **state)
{
	static const __u64 times_ns[] = {
		0, 1, T0_NS, 1ULL << 52, HALF_NS - 1000000000ULL, HALF_NS + 1000000000ULL,
		WRAP_NS - 1000000000ULL, WRAP_NS - 2500000, WRAP_NS - 1, WRAP_NS, WRAP_NS + 1,
	};

	(void)state;
	SKIP_UNLESS_READY();
	for (size_t i = 0; i < ARRAY_LEN(times_ns); i++) {
		ASSERT_OK(sluice_fixture_reset(&fx, times_ns[i]), "reset the maps");
		add("default --per rule --rate 1000 --burst 5");
		expect_sent(send_n(udp_to(SRC4, 53), 6), 5, 1,
			    "a new global rule, burst 5, at fake_now_ns %llu (sluice time %llu ps)",
			    (unsigned long long)times_ns[i],
			    (unsigned long long)sluice_fake_now(&fx));
	}
	CHECKS_DONE();
}

/* ---- What a rule matches ------------------------------------------------ */

/* A UDP rule leaves TCP and ICMP alone: no bucket, no count. */
static void proto_udp_rule_ignores_tcp_and_icmp(void **state)
{
	__u32 id;

	(void)state;
	SKIP_UNLESS_READY();
	id = add("default --proto udp --rate 1000 --burst 1");
	expect_sent(send_n(tcp_to(SRC4, 53, TCP_SYN), 3), 3, 0, "tcp from %s", SRC4);
	expect_sent(send_n(echo_from(SRC4), 2), 2, 0, "icmp from %s", SRC4);
	EXPECT_OUTCOMES({ SLUICE_PASSED_UNLIMITED, 5 });
	expect_rule(id, 0, 0, 0);
	expect_buckets(0, 0);
	expect_sent(send_n(udp_to(SRC4, 53), 2), 1, 1, "udp from %s", SRC4);
	EXPECT_OUTCOMES({ SLUICE_PASSED_UNLIMITED, 5 }, { SLUICE_PASSED, 1 },
			{ SLUICE_DROPPED_RATE, 1 });
	expect_rule(id, 1, 1, 0);
	CHECKS_DONE();
}

/* --syn is a TCP SYN without ACK, whatever else is set: new connections only. */
static void syn_rule_matches_syn_without_ack_only(void **state)
{
	static const __u8 untouched[] = { TCP_SYN | TCP_ACK, TCP_ACK, TCP_RST, TCP_RST | TCP_ACK,
					  TCP_FIN | TCP_ACK, 0, TCP_SYN | TCP_ACK | TCP_ECE };
	struct pkt_spec truncated = tcp_to(SRC4, 443, TCP_SYN);
	struct sluice_rule rule;
	__u64 unlimited = 0;
	__u32 id;

	(void)state;
	SKIP_UNLESS_READY();
	id = add("default --syn --rate 1000 --burst 1");
	ASSERT_OK(rule_read(&fx, id, &rule), "read the rule");
	EXPECT_EQ(rule.proto, IPPROTO_TCP, "--syn rule: proto");
	EXPECT_EQ(rule.flags & SLUICE_RULE_SYN, SLUICE_RULE_SYN, "--syn rule: flags");

	for (size_t i = 0; i < ARRAY_LEN(untouched); i++) {
		expect_sent(send_n(tcp_to(SRC4, 443, untouched[i]), 3), 3, 0,
			    "tcp flags %#x from %s", untouched[i], SRC4);
		unlimited += 3;
	}
	expect_sent(send_n(udp_to(SRC4, 443), 2), 2, 0, "udp from %s", SRC4);
	expect_sent(send_n(echo_from(SRC4), 2), 2, 0, "icmp from %s", SRC4);
	/* A SYN whose header was cut has no flags to read: not a SYN to the rule. */
	truncated.l4_cut = 1;
	truncated.l4_keep = 12;
	expect_sent(send_n(truncated, 2), 2, 0, "a cut TCP header from %s", SRC4);
	unlimited += 6;
	EXPECT_OUTCOMES({ SLUICE_PASSED_UNLIMITED, unlimited });
	expect_rule(id, 0, 0, 0);
	expect_buckets(0, 0);

	expect_sent(send_n(tcp_to(SRC4, 443, TCP_SYN), 2), 1, 1, "SYN from %s", SRC4);
	expect_sent(send_n(tcp_to(SRC4, 443, TCP_SYN | TCP_ECE | TCP_CWR), 1), 0, 1,
		    "SYN with ECE and CWR from %s", SRC4);
	expect_sent(send_n(tcp_to(SRC4, 443, TCP_SYN | TCP_FIN), 1), 0, 1,
		    "SYN with FIN from %s", SRC4);
	expect_sent(send_n(tcp_to(SRC6, 443, TCP_SYN), 2), 1, 1, "SYN from %s", SRC6);
	EXPECT_OUTCOMES({ SLUICE_PASSED_UNLIMITED, unlimited }, { SLUICE_PASSED, 2 },
			{ SLUICE_DROPPED_RATE, 4 });
	expect_rule(id, 2, 4, 0);
	expect_bucket(id, SRC4, 1, 3);
	expect_bucket(id, SRC6, 1, 1);
	CHECKS_DONE();
}

/* A range covers its edges and nothing past them; no protocol means TCP and UDP. */
static void port_range_inside_outside_and_edges(void **state)
{
	static const __u16 inside[] = { 1000, 1001, 1500, 1999, 2000 };
	static const __u16 outside[] = { 0, 999, 2001, 65535 };
	struct sluice_rule_ids ids;
	__u32 range, any, zero;

	(void)state;
	SKIP_UNLESS_READY();
	range = add("default --proto tcp --port 1000-2000 --per rule --rate 1000 --burst 100");
	for (size_t i = 0; i < ARRAY_LEN(inside); i++) {
		ASSERT_OK(port_rule_ids(&fx, IPPROTO_TCP, inside[i], &ids), "tcp %u", inside[i]);
		EXPECT_EQ(ids_have(&ids, range), 1, "port_rules tcp %u carries rule %u", inside[i],
			  range);
		ASSERT_OK(port_rule_ids(&fx, IPPROTO_UDP, inside[i], &ids), "udp %u", inside[i]);
		EXPECT_EQ(ids_have(&ids, range), 0, "port_rules udp %u carries tcp rule %u",
			  inside[i], range);
		expect_sent(send_n(tcp_to(SRC4, inside[i], TCP_SYN), 1), 1, 0, "tcp %u", inside[i]);
	}
	EXPECT_OUTCOMES({ SLUICE_PASSED, ARRAY_LEN(inside) });
	for (size_t i = 0; i < ARRAY_LEN(outside); i++) {
		ASSERT_OK(port_rule_ids(&fx, IPPROTO_TCP, outside[i], &ids), "tcp %u", outside[i]);
		EXPECT_EQ(ids_have(&ids, range), 0, "port_rules tcp %u carries rule %u",
			  outside[i], range);
		expect_sent(send_n(tcp_to(SRC4, outside[i], TCP_SYN), 1), 1, 0, "tcp %u",
			    outside[i]);
	}
	expect_sent(send_n(udp_to(SRC4, 1500), 1), 1, 0, "udp 1500");
	EXPECT_OUTCOMES({ SLUICE_PASSED, ARRAY_LEN(inside) },
			{ SLUICE_PASSED_UNLIMITED, ARRAY_LEN(outside) + 1 });
	expect_rule(range, ARRAY_LEN(inside), 0, 0);
	expect_state(range, ARRAY_LEN(inside), 0);

	/* The last port and port 0, with no protocol: one shared bucket over TCP and UDP. */
	any = add("default --port 65535 --per rule --rate 1000 --burst 1");
	zero = add("default --proto udp --port 0 --rate 1000 --burst 1");
	expect_sent(send_n(tcp_to(SRC4, 65535, TCP_ACK), 1), 1, 0, "tcp 65535");
	expect_sent(send_n(udp_to(SRC4, 65535), 1), 0, 1, "udp 65535, after tcp 65535");
	expect_sent(send_n(udp_to(SRC4, 65534), 2), 2, 0, "udp 65534");
	expect_sent(send_n(udp_to(SRC4, 0), 2), 1, 1, "udp 0");
	expect_sent(send_n(tcp_to(SRC4, 0, TCP_SYN), 2), 2, 0, "tcp 0 (the rule on 0 is udp)");
	expect_rule(any, 1, 1, 0);
	expect_rule(zero, 1, 1, 0);
	CHECKS_DONE();
}

/* A port rule for a source prefix applies to the sources inside it only. */
static void port_rule_with_source_prefix(void **state)
{
	__u32 v4, v6;

	(void)state;
	SKIP_UNLESS_READY();
	v4 = add("198.18.0.0/24 --proto udp --port 53 --per rule --rate 1000 --burst 1");
	v6 = add("2001:db8:1::/48 --proto udp --port 53 --rate 1000 --burst 1");
	expect_level(v4, SLUICE_LEVEL_PORT, SLUICE_RULE_IN_USE);
	expect_sent(send_n(udp_to(SRC4, 53), 1), 1, 0, "%s, inside 198.18.0.0/24", SRC4);
	expect_sent(send_n(udp_to(SRC4_B, 53), 1), 0, 1, "%s, inside and sharing", SRC4_B);
	expect_sent(send_n(udp_to(SRC4_OUT, 53), 2), 2, 0, "%s, outside", SRC4_OUT);
	expect_sent(send_n(udp_to("::ffff:198.18.0.1", 53), 2), 2, 0,
		    "::ffff:198.18.0.1, IPv6 spelling an address inside the IPv4 prefix");
	expect_sent(send_n(udp_to(SRC6, 53), 2), 1, 1, "%s, inside 2001:db8:1::/48", SRC6);
	expect_sent(send_n(udp_to("2001:db8:2::1", 53), 2), 2, 0, "2001:db8:2::1, outside");
	EXPECT_OUTCOMES({ SLUICE_PASSED, 2 }, { SLUICE_PASSED_UNLIMITED, 6 },
			{ SLUICE_DROPPED_PORT_RATE, 2 });
	expect_rule(v4, 1, 1, 0);
	expect_rule(v6, 1, 1, 0);
	expect_bucket(v6, SRC6, 1, 1);
	CHECKS_DONE();
}

/* --proto icmp matches ICMP from IPv4 sources and ICMPv6 from IPv6 ones. */
static void icmp_rule_matches_icmp_and_icmpv6(void **state)
{
	struct pkt_spec nd = echo_from(SRC6);
	__u32 id;

	(void)state;
	SKIP_UNLESS_READY();
	id = add("default --proto icmp --rate 1000 --burst 1");
	expect_sent(send_n(echo_from(SRC4), 2), 1, 1, "icmp echo from %s", SRC4);
	expect_sent(send_n(echo_from(SRC6), 2), 1, 1, "icmpv6 echo from %s", SRC6);
	expect_sent(send_n(udp_to(SRC4_B, 53), 2), 2, 0, "udp from %s", SRC4_B);
	expect_sent(send_n(tcp_to(SRC4_B, 80, TCP_SYN), 2), 2, 0, "tcp from %s", SRC4_B);
	/* Neighbor discovery is never limited, over the ICMP rule or not. */
	nd.icmp_type = 135;
	nd.ttl = 255;
	expect_sent(send_n(nd, 2), 2, 0, "neighbor solicitation from %s", SRC6);
	EXPECT_OUTCOMES({ SLUICE_PASSED, 2 }, { SLUICE_DROPPED_RATE, 2 },
			{ SLUICE_PASSED_UNLIMITED, 4 }, { SLUICE_PASSED_NEIGHBOR, 2 });
	expect_rule(id, 2, 2, 0);
	expect_bucket(id, SRC4, 1, 1);
	expect_bucket(id, SRC6, 1, 1);
	CHECKS_DONE();
}

/* ---- Dry run, unlimited ------------------------------------------------- */

/*
 * A dry-run rule passes what it would drop, counted as would_drop and as
 * the passed_dry_run outcome, and takes no token for it: after one
 * interval exactly one packet fits again.
 */
static void dry_run_passes_and_counts_would_drop(void **state)
{
	struct sluice_bucket b;
	__u32 id;

	(void)state;
	SKIP_UNLESS_READY();
	id = add("default --rate 1000 --burst 1 --dry-run");
	expect_level(id, SLUICE_LEVEL_SOURCE, SLUICE_RULE_DRY_RUN);
	expect_sent(send_n(udp_to(SRC4, 53), 3), 3, 0, "3 frames over a dry-run burst of 1");
	EXPECT_OUTCOMES({ SLUICE_PASSED, 1 }, { SLUICE_PASSED_DRY_RUN, 2 });
	expect_rule(id, 1, 0, 2);
	expect_bucket(id, SRC4, 1, 2);
	ASSERT_OK(bucket_read(&fx, id, SRC4, &b), "bucket of %s", SRC4);
	EXPECT_EQ(b.state.full_at - sluice_fake_now(&fx), INTERVAL_NS * SLUICE_TIME_PER_NS,
		  "full_at - now (ps): one token taken, none for the would-drops");
	fx.skel->bss->fake_now_ns += INTERVAL_NS;
	expect_sent(send_n(udp_to(SRC4, 53), 2), 2, 0, "one interval later");
	EXPECT_OUTCOMES({ SLUICE_PASSED, 2 }, { SLUICE_PASSED_DRY_RUN, 3 });
	expect_rule(id, 2, 0, 3);
	CHECKS_DONE();
}

/* A dry run goes on to the later levels, and their real refusal is the outcome. */
static void dry_run_then_a_real_refusal_drops(void **state)
{
	__u32 dry, global;

	(void)state;
	SKIP_UNLESS_READY();
	dry = add("default --rate 1000 --burst 1 --dry-run");
	global = add("default --per rule --rate 1000 --burst 2");
	expect_sent(send_n(udp_to(SRC4, 53), 3), 2, 1, "3 frames");
	EXPECT_OUTCOMES({ SLUICE_PASSED, 1 }, { SLUICE_PASSED_DRY_RUN, 1 },
			{ SLUICE_DROPPED_GLOBAL_RATE, 1 });
	expect_rule(dry, 1, 0, 2);
	expect_rule(global, 2, 1, 0);
	expect_state(global, 2, 1);
	CHECKS_DONE();
}

/* A real refusal first: the dry-run rule after it never sees the packet. */
static void real_refusal_before_a_dry_run(void **state)
{
	__u32 source, dry;

	(void)state;
	SKIP_UNLESS_READY();
	source = add("default --rate 1000 --burst 1");
	dry = add("default --per rule --rate 1000 --burst 1 --dry-run");
	expect_sent(send_n(udp_to(SRC4, 53), 3), 1, 2, "3 frames");
	EXPECT_OUTCOMES({ SLUICE_PASSED, 1 }, { SLUICE_DROPPED_RATE, 2 });
	expect_rule(source, 1, 2, 0);
	expect_rule(dry, 1, 0, 0);
	expect_state(dry, 1, 0);
	CHECKS_DONE();
}

/*
 * --rate unlimited on a prefix at the source level overrides the default
 * there: no bucket, passed_unlimited. Other levels still apply to it.
 */
static void unlimited_prefix_overrides_the_default(void **state)
{
	__u32 def, unlimited, global;

	(void)state;
	SKIP_UNLESS_READY();
	def = add("default --rate 1000 --burst 1");
	unlimited = add("198.18.0.0/24 --rate unlimited");
	expect_level(unlimited, SLUICE_LEVEL_SOURCE, SLUICE_RULE_IN_USE);
	expect_sent(send_n(udp_to(SRC4, 53), 5), 5, 0, "%s, inside the unlimited /24", SRC4);
	expect_sent(send_n(udp_to(SRC4_OUT, 53), 2), 1, 1, "%s, under the default", SRC4_OUT);
	EXPECT_OUTCOMES({ SLUICE_PASSED_UNLIMITED, 5 }, { SLUICE_PASSED, 1 },
			{ SLUICE_DROPPED_RATE, 1 });
	expect_buckets(unlimited, 0);
	expect_buckets(def, 1);
	expect_rule(def, 1, 1, 0);
	/* What an unlimited rule lets through it counts as passed. */
	expect_rule(unlimited, 5, 0, 0);

	global = add("default --per rule --rate 1000 --burst 2");
	expect_sent(send_n(udp_to(SRC4, 53), 3), 2, 1, "%s under a global limit", SRC4);
	EXPECT_OUTCOMES({ SLUICE_PASSED_UNLIMITED, 5 }, { SLUICE_PASSED, 3 },
			{ SLUICE_DROPPED_RATE, 1 }, { SLUICE_DROPPED_GLOBAL_RATE, 1 });
	expect_rule(global, 2, 1, 0);
	CHECKS_DONE();
}

/* ---- Replace and delete ------------------------------------------------- */

static void replace(const char *words, __u32 want_id)
{
	char err[SLUICE_ERR_LEN] = "";
	bool replaced = false;
	__u32 id = 0;

	ASSERT_OK(rule_try(&fx, words, &id, &replaced, err, sizeof(err)), "limit set %s: %s",
		  words, err);
	EXPECT_EQ(replaced, 1, "limit set %s replaced a rule", words);
	EXPECT_EQ(id, want_id, "limit set %s: the replaced rule's id", words);
}

/* Same match, new limit: the same id, bucket and counters, the new limit at once. */
static void replacing_a_rule_keeps_id_bucket_and_counters(void **state)
{
	struct sluice_rule_ids ids;
	struct sluice_rule rule;
	__u32 source, shared, udp;
	int on_entry = 0;

	(void)state;
	SKIP_UNLESS_READY();
	source = add("default --rate 1000 --burst 5");
	shared = add("198.18.0.0/24 --per rule --rate 1000 --burst 3");
	expect_sent(send_n(udp_to(SRC4, 53), 3), 3, 0, "3 frames");

	replace("default --rate 1000 --burst 4", source);
	replace("198.18.0.0/24 --per rule --rate 1000 --burst 5", shared);
	EXPECT_EQ(rule_count(), 2, "rules after replacing both");
	ASSERT_OK(rule_read(&fx, source, &rule), "read rule %u", source);
	EXPECT_EQ(rule.limit.burst, 4, "rule %u: the new burst", source);
	ASSERT_OK(trie_entry(fx.skel->maps.source_rules, "default", &ids), "source default");
	for (int i = 0; i < SLUICE_RULES_PER_MATCH; i++)
		on_entry += ids.id[i] == source;
	EXPECT_EQ(on_entry, 1, "rule %u on the default's source entry, once", source);
	expect_rule(source, 3, 0, 0);
	expect_bucket(source, SRC4, 3, 0);
	expect_state(shared, 3, 0);

	/* The source owes 3 of its new 4; the /24 has 2 of its new 5 left. */
	expect_sent(send_n(udp_to(SRC4, 53), 2), 1, 1, "%s under burst 4", SRC4);
	expect_sent(send_n(udp_to(SRC4_B, 53), 2), 1, 1, "%s, the /24's 5th and 6th", SRC4_B);
	/* The /24 refused SRC4_B's second: the source level took its cost back. */
	expect_rule(source, 5, 1, 0);
	expect_bucket(source, SRC4, 4, 1);
	expect_state(shared, 5, 1);
	EXPECT_OUTCOMES({ SLUICE_PASSED, 5 }, { SLUICE_DROPPED_RATE, 1 },
			{ SLUICE_DROPPED_PREFIX_RATE, 1 });

	/* --dry-run is what a rule does, not what it matches: a replacement too. */
	replace("default --rate 1000 --burst 4 --dry-run", source);
	/* Another protocol is another match: a new rule beside it. */
	udp = add("default --proto udp --rate 1000 --burst 4");
	EXPECT_EQ(udp != source && udp != shared, 1, "a udp rule on default has its own id (%u)",
		  udp);
	ASSERT_OK(trie_entry(fx.skel->maps.source_rules, "default", &ids), "source default");
	EXPECT_EQ(ids_have(&ids, source) && ids_have(&ids, udp), 1,
		  "the default's source entry carries rules %u and %u", source, udp);
	CHECKS_DONE();
}

/*
 * Deleting a rule takes it off its level's table (the entry itself when it
 * was the last), deletes its per-source buckets and clears its slot; the
 * other rules and their buckets stay.
 */
static void deleting_a_rule_removes_its_references_and_buckets(void **state)
{
	struct rule_maps maps;
	struct sluice_rule_ids ids;
	struct sluice_rule rule, match;
	struct sluice_config cfg;
	__u32 source, udp, prefix, port, global;
	char err[SLUICE_ERR_LEN];

	(void)state;
	SKIP_UNLESS_READY();
	maps = fixture_rule_maps(&fx);
	source = add("default --rate 1000 --burst 5");
	udp = add("default --proto udp --rate 1000 --burst 5");
	prefix = add("198.18.0.0/24 --per rule --rate 1000 --burst 5");
	port = add("default --proto udp --port 50-60 --rate 1000 --burst 5");
	global = add("default --per rule --rate 1000 --burst 5");
	send_n(udp_to(SRC4, 53), 1);
	send_n(udp_to(SRC4_B, 53), 1);
	expect_buckets(source, 2);
	expect_buckets(udp, 2);
	expect_buckets(port, 2);
	expect_rule(global, 2, 0, 0);
	EXPECT_OUTCOMES({ SLUICE_PASSED, 2 });

	ASSERT_OK(rule_remove(&fx, "default --proto udp"), "delete the udp rule");
	ASSERT_OK(trie_entry(fx.skel->maps.source_rules, "default", &ids), "source default");
	EXPECT_EQ(ids_have(&ids, udp), 0, "the default's source entry carries deleted rule %u",
		  udp);
	EXPECT_EQ(ids_have(&ids, source), 1, "the default's source entry carries rule %u",
		  source);
	expect_buckets(udp, 0);
	expect_buckets(source, 2);
	ASSERT_OK(rule_read(&fx, udp, &rule), "read slot %u", udp);
	EXPECT_EQ(rule.flags, 0, "slot %u: flags after delete", udp);
	expect_rule(udp, 0, 0, 0);

	ASSERT_OK(rule_remove(&fx, "default --proto udp --port 50-60"), "delete the port rule");
	for (__u16 p = 50; p <= 60; p += 5) {
		ASSERT_OK(port_rule_ids(&fx, IPPROTO_UDP, p, &ids), "udp %u", p);
		EXPECT_EQ(ids_have(&ids, port), 0, "port_rules udp %u carries deleted rule %u", p,
			  port);
	}
	expect_buckets(port, 0);

	ASSERT_OK(rule_remove(&fx, "198.18.0.0/24 --per rule"), "delete the prefix rule");
	EXPECT_EQ(trie_entry(fx.skel->maps.prefix_rules, "198.18.0.0/24", &ids), -ENOENT,
		  "prefix_rules entry of 198.18.0.0/24 after its last rule went (lookup error)");
	expect_state(prefix, 0, 0);

	ASSERT_OK(rule_remove(&fx, "default --per rule"), "delete the global rule");
	cfg = config_now();
	EXPECT_EQ(ids_have(&cfg.global, global), 0, "config.global carries deleted rule %u",
		  global);
	expect_rule(global, 0, 0, 0);
	expect_state(global, 0, 0);

	ASSERT_OK(rule_remove(&fx, "default"), "delete the source rule");
	EXPECT_EQ(trie_entry(fx.skel->maps.source_rules, "default", &ids), -ENOENT,
		  "source_rules entry of default after its last rule went (lookup error)");
	expect_buckets(0, 0);
	EXPECT_EQ(rule_count(), 0, "rules left");

	expect_sent(send_n(udp_to(SRC4, 53), 3), 3, 0, "after every rule went");
	EXPECT_OUTCOMES({ SLUICE_PASSED, 2 }, { SLUICE_PASSED_UNLIMITED, 3 });
	expect_buckets(0, 0);
	ASSERT_OK(rule_from_words("default", false, &match, err, sizeof(err)), "%s", err);
	errno = 0;
	EXPECT_EQ(rule_del(&maps, &match, err, sizeof(err)), -1, "deleting a rule twice");
	EXPECT_EQ(errno, ENOENT, "deleting a rule twice: errno");
	/* A new rule may take a deleted one's id, but nothing of its state. */
	source = add("default --rate 1000 --burst 5");
	expect_rule(source, 0, 0, 0);
	expect_state(source, 0, 0);
	CHECKS_DONE();
}

/* ---- Four rules per match and level ------------------------------------- */

/* Sets four rules, then a fifth that must be refused and leave nothing behind. */
static void expect_four_then_refused(const char *const four[4], const char *fifth,
				     const char *level)
{
	char err[SLUICE_ERR_LEN] = "", want[64];
	size_t before;
	__u32 id = 0;
	int ret;

	for (int i = 0; i < 4; i++)
		add(four[i]);
	before = rule_count();
	ret = rule_try(&fx, fifth, &id, NULL, err, sizeof(err));
	EXPECT_EQ(-ret, ENOSPC, "limit set %s, a fifth at the %s level: error (ENOSPC %d)", fifth,
		  level, ENOSPC);
	snprintf(want, sizeof(want), "already has 4 rules at the %s level", level);
	if (!strstr(err, want)) {
		print_message("# limit set %s: error '%s' does not say '%s'\n", fifth, err, want);
		check_failures++;
	}
	EXPECT_EQ(rule_count(), before, "rules after the refused fifth");
	/* Setting one of the four again replaces it: not a fifth. */
	ret = rule_try(&fx, four[3], &id, NULL, err, sizeof(err));
	EXPECT_EQ(ret, 0, "limit set %s again (a replacement) with four rules there", four[3]);
}

static void four_rules_per_source_prefix_then_refused(void **state)
{
	static const char *const four[4] = {
		"198.18.0.0/24 --proto tcp --rate 1000 --burst 10",
		"198.18.0.0/24 --syn --rate 1000 --burst 1",
		"198.18.0.0/24 --proto udp --rate 1000 --burst 10",
		"198.18.0.0/24 --proto icmp --rate 1000 --burst 10",
	};
	struct sluice_rule_ids ids;
	int carried = 0;

	(void)state;
	SKIP_UNLESS_READY();
	expect_four_then_refused(four, "198.18.0.0/24 --rate 1000 --burst 10", "source");
	ASSERT_OK(trie_entry(fx.skel->maps.source_rules, "198.18.0.0/24", &ids), "source entry");
	for (int i = 0; i < SLUICE_RULES_PER_MATCH; i++)
		carried += ids.id[i] != 0;
	EXPECT_EQ(carried, 4, "rules on the source entry of 198.18.0.0/24");
	/* Both TCP rules apply to a SYN: the second SYN passes the first, not --syn's burst 1. */
	expect_sent(send_n(tcp_to(SRC4, 80, TCP_SYN), 2), 1, 1, "SYNs from %s", SRC4);
	expect_sent(send_n(tcp_to(SRC4, 80, TCP_ACK), 2), 2, 0, "ACKs from %s", SRC4);
	EXPECT_OUTCOMES({ SLUICE_PASSED, 3 }, { SLUICE_DROPPED_RATE, 1 });
	CHECKS_DONE();
}

static void four_rules_per_prefix_then_refused(void **state)
{
	static const char *const four[4] = {
		"198.18.0.0/24 --per rule --rate 1000 --burst 10",
		"198.18.0.0/24 --per rule --proto tcp --rate 1000 --burst 10",
		"198.18.0.0/24 --per rule --proto udp --rate 1000 --burst 10",
		"198.18.0.0/24 --per rule --syn --rate 1000 --burst 10",
	};

	(void)state;
	SKIP_UNLESS_READY();
	expect_four_then_refused(four, "198.18.0.0/24 --per rule --proto icmp --rate 1000",
				 "prefix");
	CHECKS_DONE();
}

/* A range that would be the fifth on one of its ports is refused on all of them. */
static void four_rules_per_port_then_refused(void **state)
{
	static const char *const four[4] = {
		"default --proto tcp --port 80 --rate 1000 --burst 10",
		"default --proto tcp --port 80 --per rule --rate 1000 --burst 10",
		"default --syn --port 80 --rate 1000 --burst 10",
		"198.18.0.0/24 --proto tcp --port 80 --rate 1000 --burst 10",
	};
	struct sluice_rule_ids ids;
	int carried = 0;

	(void)state;
	SKIP_UNLESS_READY();
	expect_four_then_refused(four, "198.18.1.0/24 --proto tcp --port 78-80 --rate 1000",
				 "port");
	for (__u16 p = 78; p <= 79; p++) {
		ASSERT_OK(port_rule_ids(&fx, IPPROTO_TCP, p, &ids), "tcp %u", p);
		for (int i = 0; i < SLUICE_RULES_PER_MATCH; i++)
			carried += ids.id[i] != 0;
	}
	EXPECT_EQ(carried, 0, "rules left on tcp 78 and 79 by the refused range");
	CHECKS_DONE();
}

static void four_global_rules_then_refused(void **state)
{
	static const char *const four[4] = {
		"default --per rule --rate 1000 --burst 10",
		"default --per rule --proto tcp --rate 1000 --burst 10",
		"default --per rule --proto udp --rate 1000 --burst 10",
		"default --per rule --proto icmp --rate 1000 --burst 10",
	};

	(void)state;
	SKIP_UNLESS_READY();
	expect_four_then_refused(four, "default --per rule --syn --rate 1000", "global");
	CHECKS_DONE();
}

#define TEST(f) cmocka_unit_test_setup(f, test_setup)
#define ORDER_TEST(i, level)                                                            \
	{ .name = "refusal_at_" level "_level_spares_later_levels",                    \
	  .test_func = refusal_spares_later_levels, .setup_func = test_setup,           \
	  .initial_state = (void *)&order_cases[i] }

int main(void)
{
	const struct CMUnitTest tests[] = {
		TEST(source_level_refusal_is_dropped_rate),
		TEST(prefix_level_refuses_sources_under_their_own_limit),
		TEST(port_level_refuses_over_its_port),
		TEST(port_rule_per_source_buckets),
		TEST(global_level_refuses_over_the_host_limit),
		TEST(refused_packets_spend_no_earlier_budget),
		ORDER_TEST(0, "source"),
		ORDER_TEST(1, "prefix"),
		ORDER_TEST(2, "port"),
		ORDER_TEST(3, "global"),
		TEST(new_shared_rule_gets_full_burst_at_any_clock_value),
		TEST(proto_udp_rule_ignores_tcp_and_icmp),
		TEST(syn_rule_matches_syn_without_ack_only),
		TEST(port_range_inside_outside_and_edges),
		TEST(port_rule_with_source_prefix),
		TEST(icmp_rule_matches_icmp_and_icmpv6),
		TEST(dry_run_passes_and_counts_would_drop),
		TEST(dry_run_then_a_real_refusal_drops),
		TEST(real_refusal_before_a_dry_run),
		TEST(unlimited_prefix_overrides_the_default),
		TEST(replacing_a_rule_keeps_id_bucket_and_counters),
		TEST(deleting_a_rule_removes_its_references_and_buckets),
		TEST(four_rules_per_source_prefix_then_refused),
		TEST(four_rules_per_prefix_then_refused),
		TEST(four_rules_per_port_then_refused),
		TEST(four_global_rules_then_refused),
	};

	setvbuf(stdout, NULL, _IOLBF, 0);
	return cmocka_run_group_tests_name("rules", tests, group_setup, group_teardown) ? 1 : 0;
}
