// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The token bucket as sluice_xdp runs it, on the fake clock: exactly `burst`
 * packets at one instant, exactly one more per 1/rate, never more than
 * `burst` after idling, one bucket per source (an IPv6 source that spells an
 * IPv4 address included) or per source group (an IPv6 /64 by default,
 * --ipv4-group and --ipv6-group set others), a lowered limit that leaves a
 * drained source empty, the same at every clock value (a bucket idle past half the clock's
 * range reads empty once), and one bucket shared by every CPU (the limit is
 * per host, not per CPU).
 */
#define _GNU_SOURCE	/* sched_setaffinity, CPU_SET */
#include <pthread.h>
#include <sched.h>

#include "packets.h"

#define RATE 1000			/* packets per second: one every 1 ms */
#define BURST 5
#define INTERVAL_NS (1000000000ULL / RATE)
#define T0_NS (1000ULL * 1000000000ULL)

/* The first fake_now_ns at which sluice time (ns * 1000, in 64 bits) has wrapped. */
#define WRAP_NS (UINT64_MAX / SLUICE_TIME_PER_NS + 1)

#define STR(x) #x
#define XSTR(x) STR(x)
#define DEFAULT_RULE "default --rate " XSTR(RATE) " --burst " XSTR(BURST)

#define DST4 "198.19.0.2"
#define DST6 "2001:db8::2"

/* One loaded program for the whole group: group_setup() and group_teardown(). */
SLUICE_FIXTURE_GROUP(fx);

#include "program_io.h"
/* The id of DEFAULT_RULE, which every test starts with. */
static __u32 default_rule;

/* Every test starts from empty maps, the clock at T0 and the default limit RATE/BURST. */
static int test_setup(void **state)
{
	int id;

	(void)state;
	check_failures = 0;
	if (fx.skip_reason)
		return 0;
	if (sluice_fixture_reset(&fx, T0_NS) || (id = rule_add(&fx, DEFAULT_RULE)) <= 0) {
		print_message("# could not reset the maps\n");
		return -1;
	}
	default_rule = id;
	return 0;
}

/* Sets a rule that must replace the default one, keeping its id and buckets. */
static void replace_default(const char *words)
{
	char err[SLUICE_ERR_LEN] = "";
	bool replaced = false;
	__u32 id = 0;

	ASSERT_OK(rule_try(&fx, words, &id, &replaced, err, sizeof(err)), "limit set %s: %s",
		  words, err);
	EXPECT_EQ(replaced, 1, "limit set %s replaced the default rule", words);
	EXPECT_EQ(id, default_rule, "limit set %s: the default rule's id", words);
}

/* A UDP frame from src, as the tests send them. */
static void build_udp(const char *src, struct pkt *pkt)
{
	struct pkt_spec spec = udp_to(src, 53);

	ASSERT_OK(pkt_build(&spec, pkt), "build a frame from %s", src);
}

/* Sends n frames from src at the current fake time and counts the verdicts. */
static struct sent send_from(const char *src, __u32 n)
{
	return send_n(udp_to(src, 53), n);
}

/*
 * The source's bucket, under the source-level rule that covers it, counts
 * what its packets' verdicts said.
 */
static void expect_bucket(const char *src, __u64 passed, __u64 dropped)
{
	__u32 rule = source_rule_first(&fx, src);
	struct sluice_bucket bucket;

	ASSERT_OK(rule ? 0 : -ENOENT, "the source-level rule of %s", src);
	ASSERT_OK(bucket_read(&fx, rule, src, &bucket), "bucket of %s under rule %u", src, rule);
	EXPECT_EQ(bucket.passed, passed, "bucket of %s: passed", src);
	EXPECT_EQ(bucket.dropped, dropped, "bucket of %s: dropped", src);
}

static void expect_counters(__u64 passed, __u64 dropped, __u64 fault)
{
	struct sluice_counter c[SLUICE_OUTCOME_COUNT];

	ASSERT_OK(counters_read(fx.skel->maps.counters, c), "read counters");
	EXPECT_EQ(c[SLUICE_PASSED].packets, passed, "counter passed");
	EXPECT_EQ(c[SLUICE_DROPPED_RATE].packets, dropped, "counter dropped_rate");
	EXPECT_EQ(c[SLUICE_PASSED_FAULT].packets, fault, "counter passed_fault");
}

static void burst_passes_at_one_instant(void **state)
{
	(void)state;
	SKIP_UNLESS_READY();
	expect_sent(send_from("198.18.0.1", BURST), BURST, 0, "the first BURST frames");
	expect_sent(send_from("198.18.0.1", 1), 0, 1, "the frame after BURST");
	expect_bucket("198.18.0.1", BURST, 1);
	expect_counters(BURST, 1, 0);
	CHECKS_DONE();
}

static void one_interval_refills_one_packet(void **state)
{
	(void)state;
	SKIP_UNLESS_READY();
	send_from("198.18.0.1", BURST + 1);
	fx.skel->bss->fake_now_ns += INTERVAL_NS - 1;
	expect_sent(send_from("198.18.0.1", 1), 0, 1, "1 ns short of 1/rate");
	fx.skel->bss->fake_now_ns += 1;
	expect_sent(send_from("198.18.0.1", 3), 1, 2, "exactly 1/rate later");
	fx.skel->bss->fake_now_ns += 3 * INTERVAL_NS;
	expect_sent(send_from("198.18.0.1", 4), 3, 1, "3/rate later");
	expect_bucket("198.18.0.1", BURST + 4, 5);
	expect_counters(BURST + 4, 5, 0);
	CHECKS_DONE();
}

static void idle_refills_only_to_burst(void **state)
{
	(void)state;
	SKIP_UNLESS_READY();
	send_from("198.18.0.1", BURST + 1);
	fx.skel->bss->fake_now_ns += 10ULL * 1000000000ULL;
	expect_sent(send_from("198.18.0.1", BURST + 1), BURST, 1, "after 10 s idle");
	expect_bucket("198.18.0.1", 2 * BURST, 2);
	CHECKS_DONE();
}

/* Two packets a millisecond at 1000 packets/s: one in two passes, for a full second. */
static void sustained_rate_is_exact(void **state)
{
	struct sent total = {}, sent;

	(void)state;
	SKIP_UNLESS_READY();
	replace_default("default --rate " XSTR(RATE) " --burst 1");
	for (int ms = 0; ms < 1000; ms++) {
		sent = send_from("198.18.0.1", 2);
		total.passed += sent.passed;
		total.dropped += sent.dropped;
		fx.skel->bss->fake_now_ns += INTERVAL_NS;
	}
	expect_sent(total, 1000, 1000, "2000 frames over 1 s at 1000/s");
	expect_bucket("198.18.0.1", 1000, 1000);
	CHECKS_DONE();
}

/* IPv6 sources in different /64s: a /64 shares one bucket (the next test). */
static void sources_have_separate_buckets(void **state)
{
	static const char *const sources[] = { "198.18.0.1", "198.18.0.2", "2001:db8:1::1",
					       "2001:db8:2::1", "::ffff:198.18.0.1" };
	size_t buckets = 0;

	(void)state;
	SKIP_UNLESS_READY();
	expect_sent(send_from(sources[0], BURST + 3), BURST, 3, "%s", sources[0]);
	for (size_t i = 1; i < ARRAY_LEN(sources); i++)
		expect_sent(send_from(sources[i], BURST + 1), BURST, 1,
			    "%s after %s emptied its bucket", sources[i], sources[0]);
	expect_bucket(sources[0], BURST, 3);
	for (size_t i = 1; i < ARRAY_LEN(sources); i++)
		expect_bucket(sources[i], BURST, 1);
	expect_counters(ARRAY_LEN(sources) * BURST, 3 + ARRAY_LEN(sources) - 1, 0);
	ASSERT_OK(buckets_count(&fx, 0, &buckets), "count the buckets");
	EXPECT_EQ(buckets, ARRAY_LEN(sources), "buckets in the table");
	CHECKS_DONE();
}

/*
 * One host owns an IPv6 /64, so by default sources in one /64 share a
 * bucket; a source in another /64 (here in the same /48) has its own.
 */
static void ipv6_sources_share_a_bucket_per_64(void **state)
{
	const char *a = "2001:db8:1::1", *b = "2001:db8:1::ffff:2", *other = "2001:db8:1:1::1";
	struct sluice_bucket_key key_a, key_b;
	struct sluice_bucket bucket;
	size_t buckets = 0;

	(void)state;
	SKIP_UNLESS_READY();
	expect_sent(send_from(a, BURST - 1), BURST - 1, 0, "%s", a);
	expect_sent(send_from(b, 2), 1, 1, "%s after %s took %d of the /64's %d", b, a, BURST - 1,
		    BURST);
	expect_sent(send_from(a, 1), 0, 1, "%s after %s took the last token", a, b);
	expect_sent(send_from(other, BURST + 1), BURST, 1, "%s, in another /64", other);

	ASSERT_OK(bucket_key(&fx, default_rule, a, &key_a), "bucket key of %s", a);
	ASSERT_OK(bucket_key(&fx, default_rule, b, &key_b), "bucket key of %s", b);
	EXPECT_MEM_EQ(&key_a, &key_b, sizeof(key_a), "bucket keys of %s and %s", a, b);
	ASSERT_OK(bucket_read(&fx, default_rule, b, &bucket), "bucket of %s", b);
	EXPECT_EQ(bucket.passed, BURST, "bucket of 2001:db8:1::/64: passed");
	EXPECT_EQ(bucket.dropped, 2, "bucket of 2001:db8:1::/64: dropped");
	expect_bucket(other, BURST, 1);
	ASSERT_OK(buckets_count(&fx, 0, &buckets), "count the buckets");
	EXPECT_EQ(buckets, 2, "buckets in the table: one per /64");
	expect_counters(2 * BURST, 3, 0);
	CHECKS_DONE();
}

/* --ipv6-group 128 gives every IPv6 address its own bucket, even within one /64. */
static void ipv6_group_128_separates_sources_in_a_64(void **state)
{
	static const char *const sources[] = { "2001:db8:1::1", "2001:db8:1::ffff:2",
					       "2001:db8:1:1::1" };
	size_t buckets = 0;

	(void)state;
	SKIP_UNLESS_READY();
	replace_default(DEFAULT_RULE " --ipv6-group 128");
	for (size_t i = 0; i < ARRAY_LEN(sources); i++)
		expect_sent(send_from(sources[i], BURST + 1), BURST, 1, "%s", sources[i]);
	for (size_t i = 0; i < ARRAY_LEN(sources); i++)
		expect_bucket(sources[i], BURST, 1);
	ASSERT_OK(buckets_count(&fx, 0, &buckets), "count the buckets");
	EXPECT_EQ(buckets, ARRAY_LEN(sources), "buckets in the table: one per address");
	CHECKS_DONE();
}

/* --ipv4-group 24 makes a /24 one source; IPv4's default is one bucket per address. */
static void ipv4_group_24_shares_a_bucket_per_24(void **state)
{
	size_t buckets = 0;

	(void)state;
	SKIP_UNLESS_READY();
	replace_default(DEFAULT_RULE " --ipv4-group 24");
	expect_sent(send_from("198.18.0.1", BURST - 2), BURST - 2, 0, "198.18.0.1");
	expect_sent(send_from("198.18.0.254", 3), 2, 1, "198.18.0.254, in the same /24");
	expect_sent(send_from("198.18.1.1", BURST + 1), BURST, 1, "198.18.1.1, in another /24");
	expect_bucket("198.18.0.77", BURST, 1);
	expect_bucket("198.18.1.1", BURST, 1);
	ASSERT_OK(buckets_count(&fx, 0, &buckets), "count the buckets");
	EXPECT_EQ(buckets, 2, "buckets in the table: one per /24");
	CHECKS_DONE();
}

/*
 * An IPv6 source written ::ffff:198.18.0.1 is not the IPv4 source
 * 198.18.0.1: it has its own bucket, under IPv6's limit (here the default),
 * not under the IPv4 /24 that covers 198.18.0.1. The keys the program
 * wrote are looked up byte by byte: rule, family, IPv4 in the first 4
 * bytes. The default here groups IPv6 by /128, so the IPv6 key holds the
 * whole address (a /64 would keep none of its bits: ::ffff:0:0/96 is in ::/64).
 */
static void v4_mapped_ipv6_source_is_not_the_ipv4_source(void **state)
{
	struct sluice_bucket_key v4 = { .family = SLUICE_FAMILY_IPV4, .addr = { 198, 18, 0, 1 } };
	struct sluice_bucket_key v6 = { .family = SLUICE_FAMILY_IPV6,
					.addr = { [10] = 0xff, 0xff, 198, 18, 0, 1 } };
	struct sluice_bucket bucket;
	int v4_rule;

	(void)state;
	SKIP_UNLESS_READY();
	replace_default(DEFAULT_RULE " --ipv6-group 128");
	v4_rule = rule_add(&fx, "198.18.0.0/24 --rate " XSTR(RATE) " --burst 10");
	ASSERT_OK(v4_rule < 0 ? v4_rule : 0, "set the IPv4 /24 limit (burst 2 * BURST)");
	v4.rule = v4_rule;
	v6.rule = default_rule;
	expect_sent(send_from("198.18.0.1", 2 * BURST + 1), 2 * BURST, 1,
		    "IPv4 198.18.0.1 under its /24 (burst %d)", 2 * BURST);
	expect_sent(send_from("::ffff:198.18.0.1", BURST + 1), BURST, 1,
		    "IPv6 ::ffff:198.18.0.1 after 198.18.0.1 emptied its bucket, under the "
		    "default (burst %d)", BURST);
	fx.skel->bss->fake_now_ns += INTERVAL_NS;
	expect_sent(send_from("198.18.0.1", 2), 1, 1, "IPv4 198.18.0.1 1/rate later");
	expect_sent(send_from("::ffff:198.18.0.1", 2), 1, 1, "IPv6 ::ffff:198.18.0.1 1/rate later");
	expect_bucket("198.18.0.1", 2 * BURST + 1, 2);
	expect_bucket("::ffff:198.18.0.1", BURST + 1, 2);
	expect_counters(3 * BURST + 2, 4, 0);

	ASSERT_OK(bpf_map__lookup_elem(fx.skel->maps.buckets, &v4, sizeof(v4), &bucket,
				       sizeof(bucket), 0),
		  "bucket under the key {rule %u, 4, 198.18.0.1}", v4.rule);
	EXPECT_EQ(bucket.passed, 2 * BURST + 1,
		  "bucket under the key {rule %u, 4, 198.18.0.1}: passed", v4.rule);
	ASSERT_OK(bpf_map__lookup_elem(fx.skel->maps.buckets, &v6, sizeof(v6), &bucket,
				       sizeof(bucket), 0),
		  "bucket under the key {rule %u, 6, ::ffff:198.18.0.1}", v6.rule);
	EXPECT_EQ(bucket.passed, BURST + 1,
		  "bucket under the key {rule %u, 6, ::ffff:198.18.0.1}: passed", v6.rule);
	CHECKS_DONE();
}

/*
 * Lowering a limit while a source's bucket is drained leaves the source
 * dropped: the bucket owes more than the new depth, which reads as empty and
 * is stored as empty under the new limit (full_at = now + new depth), then
 * refills at the new rate. Reading it as full would hand a flooder a fresh
 * burst the moment the operator tightens its limit.
 */
static void lowered_limit_keeps_drained_source_dropped(void **state)
{
	const __u64 rate = 100, old_burst = 1000, new_burst = 10;
	const __u64 interval_ns = 1000000000ULL / rate;
	const __u64 old_depth = old_burst * interval_ns * SLUICE_TIME_PER_NS;
	const __u64 new_depth = new_burst * interval_ns * SLUICE_TIME_PER_NS;
	struct sluice_bucket bucket;

	(void)state;
	SKIP_UNLESS_READY();
	replace_default("default --rate 100 --burst 1000");
	expect_sent(send_from("198.18.0.1", old_burst + 1), old_burst, 1,
		    "draining under burst %llu", (unsigned long long)old_burst);
	ASSERT_OK(bucket_read(&fx, default_rule, "198.18.0.1", &bucket), "read the bucket");
	EXPECT_EQ(bucket.state.full_at - sluice_fake_now(&fx), old_depth,
		  "full_at - now after draining (ps)");

	/* Replaced in place: the same rule id, so the drained bucket carries on. */
	replace_default("default --rate 100 --burst 10");
	expect_sent(send_from("198.18.0.1", new_burst + 1), 0, new_burst + 1,
		    "the drained source under burst %llu", (unsigned long long)new_burst);
	ASSERT_OK(bucket_read(&fx, default_rule, "198.18.0.1", &bucket), "read the bucket");
	EXPECT_EQ(bucket.state.full_at - sluice_fake_now(&fx), new_depth,
		  "full_at - now after the first refusal under the new limit (ps)");
	/* A source that was not drained gets the new burst, no more. */
	expect_sent(send_from("198.18.0.2", new_burst + 1), new_burst, 1,
		    "a fresh source under burst %llu", (unsigned long long)new_burst);

	/* It refills from empty at the new rate: one packet per interval. */
	fx.skel->bss->fake_now_ns += interval_ns - 1;
	expect_sent(send_from("198.18.0.1", 1), 0, 1, "1 ns short of 1/rate after lowering");
	fx.skel->bss->fake_now_ns += 1;
	expect_sent(send_from("198.18.0.1", 2), 1, 1, "1/rate after lowering");
	fx.skel->bss->fake_now_ns += new_burst * interval_ns;
	expect_sent(send_from("198.18.0.1", new_burst + 1), new_burst, 1,
		    "a new depth after that");
	expect_bucket("198.18.0.1", old_burst + 1 + new_burst, 1 + (new_burst + 1) + 1 + 1 + 1);
	CHECKS_DONE();
}

/*
 * The one blind spot of the wrap-safe clock: a bucket full for more than
 * half the range of sluice time (2^63 ps, 106 days) reads as empty, once,
 * for one depth; up to 2^63 ps it reads full. The fake clock counts ns, so
 * the idle times are the nearest ns on either side of 2^63 ps.
 */
static void idle_past_half_the_clock_reads_empty_once(void **state)
{
	/* 2^63 ps less 808 ps, and 2^63 ps and 192 ps */
	const __u64 under_ns = SLUICE_TIME_HALF_RANGE / SLUICE_TIME_PER_NS;
	const __u64 over_ns = under_ns + 1;
	const __u64 depth = BURST * INTERVAL_NS * SLUICE_TIME_PER_NS;
	struct sluice_bucket bucket;
	__u64 full_ns;

	(void)state;
	SKIP_UNLESS_READY();
	expect_sent(send_from("198.18.0.1", BURST), BURST, 0, "drain 198.18.0.1");
	expect_sent(send_from("198.18.0.2", BURST), BURST, 0, "drain 198.18.0.2");
	full_ns = T0_NS + BURST * INTERVAL_NS;	/* when both are full again */

	fx.skel->bss->fake_now_ns = full_ns + under_ns;
	expect_sent(send_from("198.18.0.1", BURST + 1), BURST, 1,
		    "full for 2^63 ps less 808 ps");

	fx.skel->bss->fake_now_ns = full_ns + over_ns;
	expect_sent(send_from("198.18.0.2", 1), 0, 1, "full for 2^63 ps and 192 ps");
	ASSERT_OK(bucket_read(&fx, default_rule, "198.18.0.2", &bucket), "read the bucket");
	EXPECT_EQ(bucket.state.full_at - sluice_fake_now(&fx), depth,
		  "full_at - now after the refusal (ps): stored as empty");
	fx.skel->bss->fake_now_ns += INTERVAL_NS;
	expect_sent(send_from("198.18.0.2", 2), 1, 1, "1/rate later");
	fx.skel->bss->fake_now_ns += BURST * INTERVAL_NS;
	expect_sent(send_from("198.18.0.2", BURST + 1), BURST, 1, "a depth later: recovered");
	CHECKS_DONE();
}

/*
 * A source never seen before gets its whole burst, whatever the clock says,
 * including just before sluice time wraps (2^64 ps, 213 days of uptime).
 */
static void new_source_gets_full_burst_at_any_clock_value(void **state)
{
	static const __u64 times_ns[] = {
		0, 1, T0_NS, 1ULL << 52, WRAP_NS - 1000000000ULL,
		WRAP_NS - 2500000, WRAP_NS - 1, WRAP_NS, WRAP_NS + 1,
	};
	char src[32];

	(void)state;
	SKIP_UNLESS_READY();
	for (size_t i = 0; i < ARRAY_LEN(times_ns); i++) {
		snprintf(src, sizeof(src), "198.18.7.%zu", i + 1);
		fx.skel->bss->fake_now_ns = times_ns[i];
		expect_sent(send_from(src, BURST + 1), BURST, 1,
			    "new source %s at fake_now_ns %llu (sluice time %llu ps)", src,
			    (unsigned long long)times_ns[i],
			    (unsigned long long)sluice_fake_now(&fx));
	}
	CHECKS_DONE();
}

/* A bucket emptied just before sluice time wraps refills exactly across the wrap. */
static void refill_is_exact_across_clock_wrap(void **state)
{
	(void)state;
	SKIP_UNLESS_READY();
	/* Created 1 s before the wrap, where a new bucket is plainly full. */
	fx.skel->bss->fake_now_ns = WRAP_NS - 1000000000ULL;
	expect_sent(send_from("198.18.0.1", 1), 1, 0, "1 s before the wrap");
	fx.skel->bss->fake_now_ns = WRAP_NS - 2 * INTERVAL_NS;
	expect_sent(send_from("198.18.0.1", BURST + 1), BURST, 1, "2 ms before the wrap");
	for (int i = 0; i < 4; i++) {
		fx.skel->bss->fake_now_ns += INTERVAL_NS;
		expect_sent(send_from("198.18.0.1", 2), 1, 1, "%d ms after emptying, at %+lld ns "
			    "from the wrap", i + 1,
			    (long long)(fx.skel->bss->fake_now_ns - WRAP_NS));
	}
	fx.skel->bss->fake_now_ns += 10ULL * 1000000000ULL;
	expect_sent(send_from("198.18.0.1", BURST + 1), BURST, 1, "10 s after the wrap");
	expect_bucket("198.18.0.1", 1 + BURST + 4 + BURST, 1 + 4 + 1);
	CHECKS_DONE();
}

/* ---- CPUs -------------------------------------------------------------- */

/* The first two CPUs this process may run on; -1 if there are fewer. */
static int two_cpus(int cpus[2], cpu_set_t *original)
{
	int found = 0;

	if (sched_getaffinity(0, sizeof(*original), original))
		return -1;
	for (int cpu = 0; cpu < CPU_SETSIZE && found < 2; cpu++)
		if (CPU_ISSET(cpu, original))
			cpus[found++] = cpu;
	return found == 2 ? 0 : -1;
}

static int pin_to(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return sched_setaffinity(0, sizeof(set), &set) ? -errno : 0;
}

/* Packets with one outcome that ran on one CPU. */
static __u64 outcome_on_cpu(__u32 outcome, int cpu)
{
	struct sluice_counter c = {};

	ASSERT_OK(counter_read_cpu(fx.skel->maps.counters, outcome, cpu, &c),
		  "read counter %s on CPU %d", outcome_name(outcome), cpu);
	return c.packets;
}

/* Packets of every outcome that ran on one CPU. */
static __u64 packets_on_cpu(int cpu)
{
	__u64 total = 0;

	for (__u32 o = 0; o < SLUICE_OUTCOME_COUNT; o++)
		total += outcome_on_cpu(o, cpu);
	return total;
}

/* Whether the kernel runs XDP test runs on a chosen CPU; an ARP frame touches no bucket. */
static int xdp_runs_on_cpu(int cpu)
{
	struct pkt_spec spec = { .l3 = PKT_ARP, .src = "198.18.0.1", .dst = "198.19.0.2" };
	struct pkt pkt;
	int err;

	if (pkt_build(&spec, &pkt))
		return -EINVAL;
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = pkt.data, .data_size_in = pkt.len,
		    .flags = BPF_F_TEST_RUN_ON_CPU, .cpu = cpu);
	err = bpf_prog_test_run_opts(bpf_program__fd(fx.skel->progs.sluice_xdp), &opts);
	return err ? err : counters_zero(fx.skel->maps.counters);
}

/*
 * BPF_F_TEST_RUN_ON_CPU is refused for XDP (EINVAL on 6.18), so the test
 * moves itself: frame i runs on CPU i % 2. A per-CPU bucket would pass
 * 2 * BURST; the shared one passes the first BURST and nothing after.
 */
static void bucket_shared_by_alternating_cpus(void **state)
{
	int cpus[2], on[2] = {};
	cpu_set_t original;
	struct pkt pkt;
	__u32 verdict = ~0u;

	(void)state;
	SKIP_UNLESS_READY();
	if (two_cpus(cpus, &original))
		SKIP_BECAUSE("needs two CPUs to run on");
	print_message("# XDP test run with BPF_F_TEST_RUN_ON_CPU: %s; moving the thread instead\n",
		      strerror(-xdp_runs_on_cpu(cpus[1])));
	build_udp("198.18.0.1", &pkt);
	for (int i = 0; i < 4 * BURST; i++) {
		int err = pin_to(cpus[i % 2]);

		if (!err && sched_getcpu() != cpus[i % 2])
			err = -EAGAIN;
		if (err) {
			sched_setaffinity(0, sizeof(original), &original);
			ASSERT_OK(err, "move to CPU %d", cpus[i % 2]);
		}
		on[i % 2]++;
		err = xdp_run(fx.skel->progs.sluice_xdp, pkt.data, pkt.len, &verdict);
		if (err) {
			sched_setaffinity(0, sizeof(original), &original);
			ASSERT_OK(err, "test run on CPU %d", cpus[i % 2]);
		}
		EXPECT_VERDICT(verdict, i < BURST ? XDP_PASS : XDP_DROP, "frame %d, on CPU %d", i,
			       cpus[i % 2]);
	}
	sched_setaffinity(0, sizeof(original), &original);
	for (int i = 0; i < 2; i++)
		EXPECT_EQ(packets_on_cpu(cpus[i]), on[i], "packets counted on CPU %d", cpus[i]);
	expect_bucket("198.18.0.1", BURST, 3 * BURST);
	expect_counters(BURST, 3 * BURST, 0);
	CHECKS_DONE();
}

#define RACE_BURST 1000
#define RACE_CALLS 20
#define RACE_REPEAT 500		/* frames per test run: the kernel loops, so CPUs collide */

struct racer {
	pthread_barrier_t *start;
	const struct pkt *pkt;
	int cpu;
	int err;
};

static void *race(void *arg)
{
	struct racer *r = arg;
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = r->pkt->data,
		    .data_size_in = r->pkt->len, .repeat = RACE_REPEAT);

	r->err = pin_to(r->cpu);
	pthread_barrier_wait(r->start);
	for (int i = 0; i < RACE_CALLS && !r->err; i++) {
		r->err = bpf_prog_test_run_opts(bpf_program__fd(fx.skel->progs.sluice_xdp), &opts);
		if (!r->err && opts.retval != XDP_PASS && opts.retval != XDP_DROP)
			r->err = -EPROTO;
	}
	return NULL;
}

/* Two CPUs at once, one source, one instant: together they pass exactly the burst. */
static void bucket_shared_by_racing_cpus(void **state)
{
	const __u64 per_cpu = (__u64)RACE_CALLS * RACE_REPEAT;
	struct sluice_counter c[SLUICE_OUTCOME_COUNT];
	struct racer racers[2] = {};
	pthread_barrier_t start;
	pthread_t threads[2];
	struct sluice_bucket bucket;
	cpu_set_t original;
	int cpus[2];
	struct pkt pkt;

	(void)state;
	SKIP_UNLESS_READY();
	if (two_cpus(cpus, &original))
		SKIP_BECAUSE("needs two CPUs to run on");
	replace_default("default --rate " XSTR(RATE) " --burst " XSTR(RACE_BURST));
	build_udp("198.18.0.1", &pkt);
	ASSERT_OK(-pthread_barrier_init(&start, NULL, 2), "barrier");
	for (int i = 0; i < 2; i++) {
		racers[i] = (struct racer){ .start = &start, .pkt = &pkt, .cpu = cpus[i] };
		ASSERT_OK(-pthread_create(&threads[i], NULL, race, &racers[i]), "start thread %d", i);
	}
	for (int i = 0; i < 2; i++)
		pthread_join(threads[i], NULL);
	pthread_barrier_destroy(&start);
	for (int i = 0; i < 2; i++)
		ASSERT_OK(racers[i].err, "test runs on CPU %d", cpus[i]);

	ASSERT_OK(counters_read(fx.skel->maps.counters, c), "read counters");
	print_message("# %llu frames on each of CPUs %d and %d: passed %llu (%llu + %llu), "
		      "dropped_rate %llu, passed_fault %llu\n", (unsigned long long)per_cpu,
		      cpus[0], cpus[1], (unsigned long long)c[SLUICE_PASSED].packets,
		      (unsigned long long)outcome_on_cpu(SLUICE_PASSED, cpus[0]),
		      (unsigned long long)outcome_on_cpu(SLUICE_PASSED, cpus[1]),
		      (unsigned long long)c[SLUICE_DROPPED_RATE].packets,
		      (unsigned long long)c[SLUICE_PASSED_FAULT].packets);
	EXPECT_EQ(c[SLUICE_PASSED].packets, RACE_BURST, "passed, from both CPUs together");
	/* Each CPU costs the other at most one retry: SLUICE_CAS_TRIES is never used up. */
	EXPECT_EQ(c[SLUICE_PASSED_FAULT].packets, 0, "passed_fault (compare-and-swap retries "
		  "used up)");
	EXPECT_EQ(c[SLUICE_PASSED].packets + c[SLUICE_DROPPED_RATE].packets +
			  c[SLUICE_PASSED_FAULT].packets, 2 * per_cpu,
		  "passed + dropped_rate + passed_fault");
	for (int i = 0; i < 2; i++)
		EXPECT_EQ(packets_on_cpu(cpus[i]), per_cpu, "packets counted on CPU %d", cpus[i]);
	ASSERT_OK(bucket_read(&fx, default_rule, "198.18.0.1", &bucket), "read the bucket");
	EXPECT_EQ(bucket.passed, RACE_BURST, "bucket passed");
	EXPECT_EQ(bucket.dropped, c[SLUICE_DROPPED_RATE].packets, "bucket dropped");
	CHECKS_DONE();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(burst_passes_at_one_instant, test_setup),
		cmocka_unit_test_setup(one_interval_refills_one_packet, test_setup),
		cmocka_unit_test_setup(idle_refills_only_to_burst, test_setup),
		cmocka_unit_test_setup(sustained_rate_is_exact, test_setup),
		cmocka_unit_test_setup(sources_have_separate_buckets, test_setup),
		cmocka_unit_test_setup(ipv6_sources_share_a_bucket_per_64, test_setup),
		cmocka_unit_test_setup(ipv6_group_128_separates_sources_in_a_64, test_setup),
		cmocka_unit_test_setup(ipv4_group_24_shares_a_bucket_per_24, test_setup),
		cmocka_unit_test_setup(v4_mapped_ipv6_source_is_not_the_ipv4_source, test_setup),
		cmocka_unit_test_setup(lowered_limit_keeps_drained_source_dropped, test_setup),
		cmocka_unit_test_setup(idle_past_half_the_clock_reads_empty_once, test_setup),
		cmocka_unit_test_setup(new_source_gets_full_burst_at_any_clock_value, test_setup),
		cmocka_unit_test_setup(refill_is_exact_across_clock_wrap, test_setup),
		cmocka_unit_test_setup(bucket_shared_by_alternating_cpus, test_setup),
		cmocka_unit_test_setup(bucket_shared_by_racing_cpus, test_setup),
	};

	setvbuf(stdout, NULL, _IOLBF, 0);
	return cmocka_run_group_tests_name("bucket", tests, group_setup, group_teardown) ? 1 : 0;
}
