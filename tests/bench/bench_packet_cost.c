// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Per-packet cost of the data path, from BPF_PROG_RUN: the kernel runs a
 * program `repeat` times on one frame and reports the mean ns per run. Each
 * figure is the median of `runs` such runs, set beside the floor (a program
 * that only returns XDP_DROP) and beside Sluice's parser alone.
 *
 *   bench_packet_cost [-r REPEAT] [-n RUNS] [-q] [-j FILE]
 *
 * -q (quick, for `make bench QUICK=1`) takes fewer repeats and runs; -r and -n
 * still override it. Every Sluice case sets its rules as `sluice limit set`
 * does (user/rules.h) so the repeated frame takes the path it is named for,
 * and is checked afterwards against the outcome counters, the bucket table
 * and the rules' counters: a case that took another path ends the bench with
 * an error instead of timing the wrong thing under its name.
 *
 * Cases that need another source for every packet run behind a program that
 * rewrites the frame's source first (tests/bench/sluice_wrap.bpf.c). The
 * rewrite alone is timed too, and those cases are also given net of it:
 * their time less what the rewrite costs above the floor, so the net figure
 * compares with the other Sluice rows, which all include the floor.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <jansson.h>

#include "sluice.skel.h"
#include "rules.h"
#include "state.h"
#include "baseline.skel.h"
#include "sluice_wrap.skel.h"
#include "token_bucket.h"
#include "parse.h"
#include "../testing.h"

#define DEFAULT_REPEAT 2000000
#define DEFAULT_RUNS 5
/* On the 2-core VM the whole quick run takes ~10 s, the default ~35 s. */
#define QUICK_REPEAT 100000
#define QUICK_RUNS 5
#define MAX_RUNS 64
#define MAX_CASES 32

#define VLAN_ID 100
#define PAYLOAD_LEN 18		/* an untagged IPv4 UDP frame is then the 60-byte minimum */

/*
 * Sources of the rewriting programs: 10.0.0.0/8 holds the 16M of the largest
 * case. These frames never leave BPF_PROG_RUN.
 */
#define WRAP_FIRST_SOURCE 0x0a000000u
/* The insert case starts every run on a fresh table, and fills at most a quarter of it. */
#define INSERT_MAX_REPEAT (SLUICE_MAX_SOURCES / 4)
/* Untimed packets before a churn case: 4 per source of the 1M case reach 98% of them. */
#define CHURN_WARMUP (4u << 20)
/* A reference program's table: it never touches it, so it need not take 100 MB. */
#define REFERENCE_TABLE_SIZE 1024

/* Source-level rules, each on its own prefix, that the override is found among. */
#define OVERRIDE_PREFIXES 100000
#define PREFIX_SEED 0x5eedULL
#define OVERRIDE_PREFIX "198.18.4.0/24"
#define OVERRIDE_SOURCE "198.18.4.1"

struct packet {
	__u8 data[128];
	__u32 len;
};

struct result {
	const char *id;
	const char *name;
	__u32 repeat;
	int runs;
	double ns, min_ns, max_ns;
	double net_ns;		/* net of the source rewrite, or < 0 */
	json_t *extra;		/* what else the case learned, or NULL */
};

struct bench {
	__u32 repeat;
	int runs;
	bool quick;
	double floor_ns, parse_ns;	/* 0 until measured */
	struct result results[MAX_CASES];
	int n;
	json_t *prefix_load;
};

/*
 * Ends the bench. Every BPF object dies with the process's file descriptors,
 * so there is nothing to tear down first.
 */
static void __attribute__((noreturn, format(printf, 1, 2))) die(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "Error: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	exit(1);
}

#define fail_path(name, fmt, ...) die("case '%s' did not take its path: " fmt, name, __VA_ARGS__)

static double now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* ---- Frames ------------------------------------------------------------ */

static void put(struct packet *p, const void *bytes, size_t len)
{
	memcpy(p->data + p->len, bytes, len);
	p->len += len;
}

/* A UDP frame from `src` (IPv4 or IPv6) to the bench's address, with one 802.1Q tag if `vlan`. */
static struct packet udp_packet(const char *src, bool vlan)
{
	bool ipv6 = strchr(src, ':');
	__u16 proto = ipv6 ? ETH_P_IPV6 : ETH_P_IP;
	struct ethhdr eth = { .h_proto = htons(vlan ? ETH_P_8021Q : proto) };
	struct udphdr udp = {
		.source = htons(40000),
		.dest = htons(9),
		.len = htons(sizeof(udp) + PAYLOAD_LEN),
	};
	struct packet p = {};
	int ok;

	put(&p, &eth, sizeof(eth));
	if (vlan) {
		__be16 tag[2] = { htons(VLAN_ID), htons(proto) };

		put(&p, tag, sizeof(tag));
	}
	if (ipv6) {
		struct ipv6hdr ip6 = {
			.version = 6,
			.payload_len = htons(sizeof(udp) + PAYLOAD_LEN),
			.nexthdr = IPPROTO_UDP,
			.hop_limit = 64,
		};

		ok = inet_pton(AF_INET6, src, &ip6.saddr) == 1 &&
		     inet_pton(AF_INET6, "2001:db8::2", &ip6.daddr) == 1;
		put(&p, &ip6, sizeof(ip6));
	} else {
		struct iphdr ip = {
			.version = 4,
			.ihl = 5,
			.ttl = 64,
			.protocol = IPPROTO_UDP,
			.tot_len = htons(sizeof(ip) + sizeof(udp) + PAYLOAD_LEN),
		};

		ok = inet_pton(AF_INET, src, &ip.saddr) == 1 &&
		     inet_pton(AF_INET, "198.18.0.2", &ip.daddr) == 1;
		put(&p, &ip, sizeof(ip));
	}
	if (!ok)
		die("bad bench address %s", src);
	put(&p, &udp, sizeof(udp));
	p.len += PAYLOAD_LEN;	/* zeros */
	return p;
}

/* An untagged IPv4 TCP segment from src to port 8080: a SYN, or a FIN with its ACK. */
static struct packet tcp_packet(const char *src, bool syn)
{
	struct ethhdr eth = { .h_proto = htons(ETH_P_IP) };
	struct tcphdr tcp = { .source = htons(40000), .dest = htons(8080), .doff = 5,
			      .window = htons(65535) };
	struct iphdr ip = { .version = 4, .ihl = 5, .ttl = 64, .protocol = IPPROTO_TCP,
			    .tot_len = htons(sizeof(ip) + sizeof(tcp)) };
	struct packet p = {};

	tcp.syn = syn;
	tcp.fin = !syn;
	tcp.ack = !syn;
	if (inet_pton(AF_INET, src, &ip.saddr) != 1 ||
	    inet_pton(AF_INET, "198.18.0.2", &ip.daddr) != 1)
		die("bad bench address %s", src);
	put(&p, &eth, sizeof(eth));
	put(&p, &ip, sizeof(ip));
	put(&p, &tcp, sizeof(tcp));
	p.len += 6;	/* to the 60-byte minimum */
	return p;
}

/* ---- Timing and the table ----------------------------------------------- */

static const char *verdict_name(__u32 verdict)
{
	static const char *const names[] = { "XDP_ABORTED", "XDP_DROP", "XDP_PASS", "XDP_TX",
					     "XDP_REDIRECT" };

	return verdict < sizeof(names) / sizeof(names[0]) ? names[verdict] : "?";
}

/* One BPF_PROG_RUN of `repeat` packets: the kernel's mean ns per packet. */
static double run_once(const char *name, int prog_fd, const struct packet *pkt, __u32 repeat,
		       __u32 want_verdict)
{
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = pkt->data, .data_size_in = pkt->len,
		    .repeat = repeat);
	int err = bpf_prog_test_run_opts(prog_fd, &opts);

	if (err)
		die("BPF_PROG_RUN failed for '%s': %s", name, strerror(-err));
	if (opts.retval != want_verdict)
		fail_path(name, "verdict %s, want %s", verdict_name(opts.retval),
			  verdict_name(want_verdict));
	return opts.duration;
}

static int compare_doubles(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double round2(double x)
{
	return (double)(long long)(x * 100 + (x < 0 ? -0.5 : 0.5)) / 100;
}

static void print_row(const struct bench *b, const char *name, double ns)
{
	printf("%-46s %9.1f %8.2f %8.2f\n", name, ns, ns / b->floor_ns, ns / b->parse_ns);
	fflush(stdout);
}

/* Records a case from its samples (sorted here) and prints it once the references are known. */
static struct result *record(struct bench *b, const char *id, const char *name, double *samples,
			     int runs, __u32 repeat)
{
	struct result *r;

	if (b->n == MAX_CASES)
		die("too many bench cases");
	r = &b->results[b->n++];
	qsort(samples, runs, sizeof(double), compare_doubles);
	*r = (struct result){ .id = id, .name = name, .repeat = repeat, .runs = runs,
			      .ns = samples[runs / 2], .min_ns = samples[0],
			      .max_ns = samples[runs - 1], .net_ns = -1 };
	if (b->parse_ns > 0)
		print_row(b, name, r->ns);
	return r;
}

/* Median of the bench's runs of one program on one frame. */
static struct result *time_case(struct bench *b, const char *id, const char *name, int prog_fd,
				const struct packet *pkt, __u32 want_verdict)
{
	double samples[MAX_RUNS];

	for (int i = 0; i < b->runs; i++)
		samples[i] = run_once(name, prog_fd, pkt, b->repeat, want_verdict);
	return record(b, id, name, samples, b->runs, b->repeat);
}

/*
 * The case's time less what the source rewrite costs above the floor. A
 * rewrite timed under the floor is noise (the kernel reports whole ns): 0.
 */
static void add_net(const struct bench *b, struct result *r, double rewrite_ns)
{
	r->net_ns = r->ns - (rewrite_ns > b->floor_ns ? rewrite_ns - b->floor_ns : 0);
	print_row(b, "  net of the source rewrite", r->net_ns);
}

/* ---- Sluice's maps ------------------------------------------------------ */

/* The maps every case sets and checks, whichever object (sluice or sluice_wrap) holds them. */
struct sluice_maps {
	const struct bpf_map *counters, *buckets, *rules, *source_rules, *prefix_rules,
		*port_rules, *rule_state, *rule_counters, *config;
};

#define SLUICE_MAPS(skel)                                                               \
	((struct sluice_maps){ (skel)->maps.counters, (skel)->maps.buckets, (skel)->maps.rules, \
			       (skel)->maps.source_rules, (skel)->maps.prefix_rules,     \
			       (skel)->maps.port_rules, (skel)->maps.rule_state,         \
			       (skel)->maps.rule_counters, (skel)->maps.config })

static struct rule_maps rule_maps_of(const struct sluice_maps *m)
{
	return (struct rule_maps){
		.rules = bpf_map__fd(m->rules),
		.source_rules = bpf_map__fd(m->source_rules),
		.prefix_rules = bpf_map__fd(m->prefix_rules),
		.port_rules = bpf_map__fd(m->port_rules),
		.rule_state = bpf_map__fd(m->rule_state),
		.rule_counters = bpf_map__fd(m->rule_counters),
		.config = bpf_map__fd(m->config),
		.buckets = bpf_map__fd(m->buckets),
	};
}

static void prefix_or_die(const char *text, struct sluice_prefix_key *key)
{
	char err[SLUICE_ERR_LEN];

	if (parse_prefix("bench prefix", text, key, err, sizeof(err)))
		die("%s", err);
}

/* A limit that always has room, and one that has none after its first packet. */
#define ROOMY "--rate 1000000000 --burst 1000000000"
#define STRICT "--rate 1 --burst 1"
/*
 * The same in bytes: 1 Tbit/s with the largest burst (4 GB, 32 ms of it),
 * which no run here comes near; and 8 kbit/s (1000 bytes a second) with the
 * least burst, one full-size frame, which the bench's 60-byte frames drain
 * in 25 packets and which then lets one through every 60 ms.
 */
#define ROOMY_BYTES "--rate 1000gbit --burst 4GB"
#define STRICT_BYTES "--rate 8kbit --burst 1518B"

/* The rule of a `limit set` command line ("198.18.1.0/24 --rate 1"), parsed as the CLI does. */
static struct sluice_rule rule_or_die(const char *words)
{
	char buf[256], *argv[16] = { "set" }, *save = NULL, err[SLUICE_ERR_LEN];
	struct sluice_rule rule;
	int argc = 1;

	snprintf(buf, sizeof(buf), "%s", words);
	for (char *w = strtok_r(buf, " ", &save); w && argc < 15; w = strtok_r(NULL, " ", &save))
		argv[argc++] = w;
	if (rule_parse(argc, argv, true, &rule, err, sizeof(err)))
		die("bad bench rule '%s': %s", words, err);
	return rule;
}

/* `sluice limit set WORDS` on the object's maps; returns the rule's id. */
static __u32 set_rule(const struct sluice_maps *m, const char *words)
{
	struct rule_maps maps = rule_maps_of(m);
	struct sluice_rule rule = rule_or_die(words);
	char err[SLUICE_ERR_LEN];
	bool replaced;
	__u32 id;

	if (rule_set(&maps, &rule, &id, &replaced, err, sizeof(err)))
		die("cannot set the rule '%s': %s", words, err);
	return id;
}

#define OUTCOME_KEY(name, key, drops, help) key,
static const char *const outcome_names[] = { SLUICE_OUTCOMES(OUTCOME_KEY) };
#undef OUTCOME_KEY

struct outcomes {
	__u64 packets[SLUICE_OUTCOME_COUNT];
};

/* The outcome counters, summed over all CPUs. */
static struct outcomes read_outcomes(const struct sluice_maps *m)
{
	int ncpus = libbpf_num_possible_cpus();
	struct sluice_counter percpu[ncpus > 0 ? ncpus : 1];
	struct outcomes out = {};

	if (ncpus < 1)
		die("cannot count the CPUs: %s", strerror(-ncpus));
	for (__u32 key = 0; key < SLUICE_OUTCOME_COUNT; key++) {
		int err = bpf_map__lookup_elem(m->counters, &key, sizeof(key), percpu,
					       sizeof(percpu), 0);

		if (err)
			die("cannot read the outcome counters: %s", strerror(-err));
		for (int cpu = 0; cpu < ncpus; cpu++)
			out.packets[key] += percpu[cpu].packets;
	}
	return out;
}

/*
 * Checks that the case's `packets` all ended in `want`, but for at most
 * `others` (a drop case lets a token through each second).
 */
static void expect_outcome(const char *name, const struct outcomes *before,
			   const struct outcomes *after, enum sluice_outcome want, __u64 packets,
			   __u64 others)
{
	char counted[512] = "";
	size_t used = 0;
	__u64 total = 0, got = after->packets[want] - before->packets[want];

	for (int i = 0; i < SLUICE_OUTCOME_COUNT; i++) {
		__u64 delta = after->packets[i] - before->packets[i];

		total += delta;
		if (delta && used < sizeof(counted))
			used += snprintf(counted + used, sizeof(counted) - used, "%s%s %llu",
					 used ? ", " : "", outcome_names[i],
					 (unsigned long long)delta);
	}
	if (total != packets || got + others < packets)
		fail_path(name, "%llu of %llu packets ended %s, want %s (counted: %s)",
			  (unsigned long long)got, (unsigned long long)packets, outcome_names[want],
			  others ? "nearly all" : "all", used ? counted : "nothing");
}

/*
 * The bucket of one source under a per-source rule, keyed as the data path
 * keys it (the address masked to the rule's group), or false if it has none.
 */
static bool bucket_of(const struct sluice_maps *m, __u32 rule_id, const char *addr,
		      struct sluice_bucket *bucket)
{
	struct sluice_bucket_key key = { .rule = rule_id };
	struct sluice_prefix_key prefix;
	struct sluice_rule rule;
	unsigned int bits;

	if (bpf_map__lookup_elem(m->rules, &rule_id, sizeof(rule_id), &rule, sizeof(rule), 0) ||
	    !(rule.flags & SLUICE_RULE_IN_USE))
		die("no rule has id %u", rule_id);
	prefix_or_die(addr, &prefix);
	bits = prefix.family == SLUICE_FAMILY_IPV4 ? rule.group_v4 : rule.group_v6;
	key.family = prefix.family;
	for (unsigned int i = 0; i < SLUICE_ADDR_LEN; i++) {
		unsigned int keep = bits > i * 8 ? bits - i * 8 : 0;

		key.addr[i] = keep >= 8 ? prefix.addr[i] : prefix.addr[i] & (__u8)(0xff << (8 - keep));
	}
	return !bpf_map__lookup_elem(m->buckets, &key, sizeof(key), bucket, sizeof(*bucket), 0);
}

/* Checks that the source's bucket under a rule counted `passed` and `dropped` packets. */
static void expect_bucket(const char *name, const struct sluice_maps *m, __u32 rule_id,
			  const char *addr, __u64 passed, __u64 dropped)
{
	struct sluice_bucket bucket;

	if (!bucket_of(m, rule_id, addr, &bucket))
		fail_path(name, "%s has no bucket under rule %u", addr, rule_id);
	if (bucket.passed != passed || bucket.dropped != dropped)
		fail_path(name, "bucket of %s passed %llu and dropped %llu, want %llu and %llu",
			  addr, (unsigned long long)bucket.passed,
			  (unsigned long long)bucket.dropped, (unsigned long long)passed,
			  (unsigned long long)dropped);
}

/* Checks what a rule's counters say it passed (at least `passed`: some cases run it before). */
static void expect_rule_passed(const char *name, const struct sluice_maps *m, __u32 rule_id,
			       __u64 passed)
{
	struct sluice_rule_counters c;

	if (bpf_map__lookup_elem(m->rule_counters, &rule_id, sizeof(rule_id), &c, sizeof(c), 0))
		die("cannot read the counters of rule %u: %s", rule_id, strerror(errno));
	if (c.passed.packets != passed || c.dropped.packets || c.would_drop.packets)
		fail_path(name, "rule %u counted %llu passed, %llu dropped, %llu would drop; "
			  "want %llu passed", rule_id, (unsigned long long)c.passed.packets,
			  (unsigned long long)c.dropped.packets,
			  (unsigned long long)c.would_drop.packets, (unsigned long long)passed);
}

/* Checks that a rule holds the algorithm and unit its case is named for. */
static void expect_limit(const char *name, const struct sluice_maps *m, __u32 rule_id,
			 enum sluice_algo algo, enum sluice_unit unit)
{
	struct sluice_rule rule;

	if (bpf_map__lookup_elem(m->rules, &rule_id, sizeof(rule_id), &rule, sizeof(rule), 0))
		die("cannot read rule %u: %s", rule_id, strerror(errno));
	if (rule.limit.algo != algo || rule.limit.unit != unit)
		fail_path(name, "rule %u has algorithm %s in %s, want %s in %s", rule_id,
			  algo_name(rule.limit.algo), rule.limit.unit ? "bytes" : "packets",
			  algo_name(algo), unit ? "bytes" : "packets");
}

/*
 * Checks a source's bucket after a case: it counted `passed` and `dropped`
 * packets, but for at most `others` passed instead of dropped (a drop case
 * lets a packet through now and then), and its state is its algorithm's: a
 * meter's full_at or TAT set, or a window whose current count is tagged
 * with the window's generation and within the limit, and counts the last
 * packet if `last_passed` (a window may have begun during the run, so it
 * need not count them all).
 */
static void expect_bucket_state(const char *name, const struct sluice_maps *m, __u32 rule_id,
				const char *addr, __u64 passed, __u64 dropped, __u64 others,
				bool last_passed)
{
	struct sluice_bucket bucket;
	struct sluice_rule rule;

	if (bpf_map__lookup_elem(m->rules, &rule_id, sizeof(rule_id), &rule, sizeof(rule), 0))
		die("cannot read rule %u: %s", rule_id, strerror(errno));
	if (!bucket_of(m, rule_id, addr, &bucket))
		fail_path(name, "%s has no bucket under rule %u", addr, rule_id);
	if (bucket.passed + bucket.dropped != passed + dropped || bucket.passed < passed ||
	    bucket.passed > passed + others)
		fail_path(name, "bucket of %s passed %llu and dropped %llu, want %llu and %llu "
			  "(or up to %llu more passed)", addr, (unsigned long long)bucket.passed,
			  (unsigned long long)bucket.dropped, (unsigned long long)passed,
			  (unsigned long long)dropped, (unsigned long long)others);
	if (sluice_algo_is_window(rule.limit.algo)) {
		const struct sluice_window_state *w = &bucket.state.window;
		__u64 current = w->count[sluice_window_slot(w->start)];
		__u64 count = sluice_window_count(current);

		if (!sluice_window_current(w->start, current) || count > rule.limit.window.limit ||
		    (last_passed && !count))
			fail_path(name, "the window state of %s is not a current window within "
				  "its limit%s (start %#llx, count %#llx)", addr,
				  last_passed ? " that counts the last packet" : "",
				  (unsigned long long)w->start, (unsigned long long)current);
	} else if (!bucket.state.full_at) {
		fail_path(name, "the %s state of %s was never set", algo_name(rule.limit.algo),
			  addr);
	}
}

struct table_scan {
	__u64 entries;
	__u64 passed;		/* packets counted in the buckets still in the table */
};

/* Walks the bucket table in batches: one lookup per key would take seconds at 1M. */
static struct table_scan scan_buckets(const struct sluice_maps *m)
{
	enum { CHUNK = 65536 };
	struct sluice_bucket_key *keys = calloc(CHUNK, sizeof(*keys));
	struct sluice_bucket *values = calloc(CHUNK, sizeof(*values));
	/* The hash table's batch position is a bucket index; the size of a key covers it. */
	struct sluice_bucket_key in_batch, out_batch;
	struct table_scan scan = {};
	int fd = bpf_map__fd(m->buckets);
	bool first = true;
	int err;

	if (!keys || !values)
		die("out of memory");
	do {
		__u32 count = CHUNK;

		err = bpf_map_lookup_batch(fd, first ? NULL : &in_batch, &out_batch, keys, values,
					   &count, NULL);
		if (err && err != -ENOENT)
			die("cannot read the bucket table: %s", strerror(-err));
		for (__u32 i = 0; i < count; i++)
			scan.passed += values[i].passed;
		scan.entries += count;
		in_batch = out_batch;
		first = false;
	} while (!err);
	free(keys);
	free(values);
	return scan;
}

/*
 * The config a sluice command leaves when the allow and deny lists and the
 * prefix and port levels are empty, as in every case here (global rules kept).
 */
static void mark_lists_empty(struct bpf_map *config)
{
	struct sluice_config cfg;
	__u32 zero = 0;

	if (bpf_map__lookup_elem(config, &zero, sizeof(zero), &cfg, sizeof(cfg), 0))
		die("cannot read the config map: %s", strerror(errno));
	cfg.flags = SLUICE_ALLOW_LIST_EMPTY | SLUICE_DENY_LIST_EMPTY | SLUICE_PREFIX_RULES_EMPTY |
		    SLUICE_PORT_RULES_EMPTY;
	if (bpf_map__update_elem(config, &zero, sizeof(zero), &cfg, sizeof(cfg), BPF_ANY))
		die("cannot write the config map: %s", strerror(errno));
}

/* Opens the wrapper object with only the named programs to load, its table `table_size` long. */
static struct sluice_wrap_bpf *load_wrap(__u32 source_mask, __u32 table_size,
					 const char *const *keep)
{
	struct sluice_wrap_bpf *skel = sluice_wrap_bpf__open();
	struct bpf_program *prog;
	int err;

	if (!skel)
		die("cannot open the wrapper object: %s", strerror(errno));
	skel->rodata->coarse_clock_min_depth = sluice_coarse_clock_min_depth();
	skel->rodata->first_source = WRAP_FIRST_SOURCE;
	skel->rodata->source_mask = source_mask;
	bpf_object__for_each_program(prog, skel->obj) {
		bool wanted = false;

		for (const char *const *name = keep; *name; name++)
			wanted |= !strcmp(bpf_program__name(prog), *name);
		bpf_program__set_autoload(prog, wanted);
	}
	err = bpf_map__set_max_entries(skel->maps.buckets, table_size);
	err = err ? err : sluice_wrap_bpf__load(skel);
	if (err)
		die("cannot load the wrapper object: %s", strerror(-err));
	mark_lists_empty(skel->maps.config);
	return skel;
}

/* Loads Sluice as `sluice attach` leaves it: the clock set up for this machine, no lists. */
static struct sluice_bpf *load_sluice(void)
{
	struct sluice_bpf *skel = sluice_bpf__open();

	if (!skel)
		return NULL;
	skel->rodata->coarse_clock_min_depth = sluice_coarse_clock_min_depth();
	if (sluice_bpf__load(skel)) {
		sluice_bpf__destroy(skel);
		return NULL;
	}
	mark_lists_empty(skel->maps.config);
	return skel;
}

/* ---- The cases ---------------------------------------------------------- */

/* Floor, parser, clocks and the source rewrites: what Sluice's figures are read against. */
static void time_references(struct bench *b, double *rewrite_next_ns, double *rewrite_random_ns)
{
	static const char *const rewrites[] = { "xdp_new_rw", "xdp_rand_rw", NULL };
	struct packet v4 = udp_packet("198.18.1.1", false), v6 = udp_packet("2001:db8:1::1", false),
		      vlan = udp_packet("198.18.1.1", true);
	struct baseline_bpf *base = baseline_bpf__open_and_load();
	struct sluice_wrap_bpf *wrap;
	struct result *floor, *parse;

	if (!base)
		die("cannot load the BPF programs: %s (root needed)", strerror(errno));
	floor = time_case(b, "floor", "floor: return XDP_DROP",
			  bpf_program__fd(base->progs.xdp_drop_only), &v4, XDP_DROP);
	parse = time_case(b, "parse", "parse to L4 only",
			  bpf_program__fd(base->progs.xdp_parse_only), &v4, XDP_DROP);
	b->floor_ns = floor->ns;
	b->parse_ns = parse->ns;
	if (b->floor_ns <= 0 || b->parse_ns <= 0)
		die("the floor or the parser took 0 ns: raise the repeat count");
	printf("%-46s %9s %8s %8s\n", "CASE", "NS/PACKET", "X FLOOR", "X PARSE");
	print_row(b, floor->name, floor->ns);
	print_row(b, parse->name, parse->ns);

	time_case(b, "parse_ipv6", "parse to L4 only, IPv6",
		  bpf_program__fd(base->progs.xdp_parse_only), &v6, XDP_DROP);
	time_case(b, "parse_vlan", "parse to L4 only, VLAN-tagged",
		  bpf_program__fd(base->progs.xdp_parse_only), &vlan, XDP_DROP);
	time_case(b, "ktime", "bpf_ktime_get_ns", bpf_program__fd(base->progs.xdp_ktime), &v4,
		  XDP_DROP);
	time_case(b, "ktime_coarse", "bpf_ktime_get_coarse_ns",
		  bpf_program__fd(base->progs.xdp_ktime_coarse), &v4, XDP_DROP);
	baseline_bpf__destroy(base);

	/* The mask's value costs nothing: it is loaded and applied alike for 1M or 16M. */
	wrap = load_wrap((1u << 20) - 1, REFERENCE_TABLE_SIZE, rewrites);
	*rewrite_next_ns = time_case(b, "rewrite_next", "rewrite only: next source",
				     bpf_program__fd(wrap->progs.xdp_new_rw), &v4, XDP_DROP)->ns;
	*rewrite_random_ns = time_case(b, "rewrite_random", "rewrite only: random source",
				       bpf_program__fd(wrap->progs.xdp_rand_rw), &v4,
				       XDP_DROP)->ns;
	sluice_wrap_bpf__destroy(wrap);
}

/* One case on Sluice's own program: times it, then checks every packet ended in `want`. */
static void time_sluice(struct bench *b, const char *id, const char *name, int prog_fd,
			const struct sluice_maps *m, const struct packet *pkt,
			enum sluice_outcome want, __u64 others)
{
	struct outcomes before = read_outcomes(m), after;

	time_case(b, id, name, prog_fd, pkt, sluice_outcome_drops(want) ? XDP_DROP : XDP_PASS);
	after = read_outcomes(m);
	expect_outcome(name, &before, &after, want, (__u64)b->runs * b->repeat, others);
}

/*
 * The other algorithms beside the token bucket rows: for each, a tracked
 * source under a roomy limit (every packet passes) and one under a strict
 * one (its burst passes untimed, then nearly every packet drops: the
 * windows let one through per second, as the bucket does); and the token
 * bucket in bytes, each packet costing its 60 bytes. Every rule is on its
 * own /24 in the same object as the token bucket rows, and each case is
 * checked afterwards: the outcome of every packet, the rule's algorithm and
 * unit, and the source's bucket (its counts and its state's form).
 */
static const struct algorithm_case {
	const char *id, *name, *limit, *src;
	enum sluice_algo algo;
	enum sluice_unit unit;
	int drops;		/* a strict limit: drained untimed, then timed dropping */
} algorithm_cases[] = {
	{ "gcra_pass", "sluice: gcra, tracked source, pass", "198.18.10.0/24 " ROOMY " --algo gcra",
	  "198.18.10.1", SLUICE_ALGO_GCRA, SLUICE_UNIT_PACKETS, 0 },
	{ "gcra_drop", "sluice: gcra, tracked source, drop", "198.18.11.0/24 " STRICT " --algo gcra",
	  "198.18.11.1", SLUICE_ALGO_GCRA, SLUICE_UNIT_PACKETS, 1 },
	{ "sliding_pass", "sluice: sliding window, tracked source, pass",
	  "198.18.12.0/24 " ROOMY " --algo sliding-window", "198.18.12.1",
	  SLUICE_ALGO_SLIDING_WINDOW, SLUICE_UNIT_PACKETS, 0 },
	{ "sliding_drop", "sluice: sliding window, tracked source, drop",
	  "198.18.13.0/24 " STRICT " --algo sliding-window", "198.18.13.1",
	  SLUICE_ALGO_SLIDING_WINDOW, SLUICE_UNIT_PACKETS, 1 },
	{ "fixed_pass", "sluice: fixed window, tracked source, pass",
	  "198.18.14.0/24 " ROOMY " --algo fixed-window", "198.18.14.1",
	  SLUICE_ALGO_FIXED_WINDOW, SLUICE_UNIT_PACKETS, 0 },
	{ "fixed_drop", "sluice: fixed window, tracked source, drop",
	  "198.18.15.0/24 " STRICT " --algo fixed-window", "198.18.15.1",
	  SLUICE_ALGO_FIXED_WINDOW, SLUICE_UNIT_PACKETS, 1 },
	{ "bytes_pass", "sluice: token bucket in bytes, pass", "198.18.16.0/24 " ROOMY_BYTES,
	  "198.18.16.1", SLUICE_ALGO_TOKEN_BUCKET, SLUICE_UNIT_BYTES, 0 },
	{ "bytes_drop", "sluice: token bucket in bytes, drop", "198.18.17.0/24 " STRICT_BYTES,
	  "198.18.17.1", SLUICE_ALGO_TOKEN_BUCKET, SLUICE_UNIT_BYTES, 1 },
};

static void time_algorithms(struct bench *b, const struct sluice_maps *m, int fd)
{
	__u64 packets = (__u64)b->runs * b->repeat;

	for (size_t i = 0; i < sizeof(algorithm_cases) / sizeof(algorithm_cases[0]); i++) {
		const struct algorithm_case *c = &algorithm_cases[i];
		struct packet pkt = udp_packet(c->src, false);
		__u32 id = set_rule(m, c->limit);
		/* What the strict limit's burst holds: 1 packet, or 25 of 60 bytes. */
		__u32 burst = c->unit == SLUICE_UNIT_BYTES ? SLUICE_MIN_BYTE_BURST / pkt.len : 1;
		/* A strict limit lets a packet through now and then (1 a second, or 1 a 60 ms). */
		__u64 others = c->drops ? packets / 100 : 0;
		struct outcomes before, after;

		expect_limit(c->name, m, id, c->algo, c->unit);
		if (c->drops) {
			/* The burst passes and the packet after it drops, untimed. */
			before = read_outcomes(m);
			run_once(c->name, fd, &pkt, burst + 1, XDP_DROP);
			after = read_outcomes(m);
			if (after.packets[SLUICE_PASSED] - before.packets[SLUICE_PASSED] != burst)
				fail_path(c->name, "%llu of the first %u packets passed, want %u",
					  (unsigned long long)(after.packets[SLUICE_PASSED] -
							       before.packets[SLUICE_PASSED]),
					  burst + 1, burst);
		}
		time_sluice(b, c->id, c->name, fd, m, &pkt,
			    c->drops ? SLUICE_DROPPED_RATE : SLUICE_PASSED, others);
		if (c->drops)
			expect_bucket_state(c->name, m, id, c->src, burst, 1 + packets, others,
					    false);
		else
			expect_bucket_state(c->name, m, id, c->src, packets, 0, 0, true);
	}
}

/* Tracked sources (IPv4, IPv6, VLAN-tagged) passing and dropping, and a source with no limit. */
static void time_tracked(struct bench *b)
{
	struct packet pass = udp_packet("198.18.1.1", false), drop = udp_packet("198.18.2.1", false),
		      unlimited = udp_packet("198.18.3.1", false),
		      ipv6 = udp_packet("2001:db8:1::1", false), vlan = udp_packet("198.18.1.2", true);
	struct sluice_bpf *skel = load_sluice();
	__u64 packets = (__u64)b->runs * b->repeat;
	__u32 roomy_v4, strict_v4, unlimited_v4, roomy_v6;
	struct sluice_maps m;
	int fd;

	if (!skel)
		die("cannot load sluice: %s", strerror(errno));
	m = SLUICE_MAPS(skel);
	fd = bpf_program__fd(skel->progs.sluice_xdp);
	roomy_v4 = set_rule(&m, "198.18.1.0/24 " ROOMY);
	strict_v4 = set_rule(&m, "198.18.2.0/24 " STRICT);
	unlimited_v4 = set_rule(&m, "198.18.3.0/24 --rate unlimited");
	roomy_v6 = set_rule(&m, "2001:db8:1::/48 " ROOMY);

	time_sluice(b, "no_limit", "sluice: no limit applies", fd, &m, &unlimited,
		    SLUICE_PASSED_UNLIMITED, 0);
	if (scan_buckets(&m).entries)
		fail_path("sluice: no limit applies", "%s", "an unlimited source got a bucket");
	expect_rule_passed("sluice: no limit applies", &m, unlimited_v4, packets);
	time_sluice(b, "tracked_pass", "sluice: tracked source, pass", fd, &m, &pass,
		    SLUICE_PASSED, 0);
	expect_bucket("sluice: tracked source, pass", &m, roomy_v4, "198.18.1.1", packets, 0);
	expect_bucket_state("sluice: tracked source, pass", &m, roomy_v4, "198.18.1.1", packets,
			    0, 0, true);

	/* The first packet takes the one token; a token comes back each second. */
	run_once("sluice: tracked source, drop", fd, &drop, 1, XDP_PASS);
	time_sluice(b, "tracked_drop", "sluice: tracked source, drop", fd, &m, &drop,
		    SLUICE_DROPPED_RATE, packets / 100);
	expect_bucket_state("sluice: tracked source, drop", &m, strict_v4, "198.18.2.1", 1,
			    packets, packets / 100, false);
	time_algorithms(b, &m, fd);

	time_sluice(b, "ipv6_pass", "sluice: IPv6 tracked source, pass", fd, &m, &ipv6,
		    SLUICE_PASSED, 0);
	expect_bucket("sluice: IPv6 tracked source, pass", &m, roomy_v6, "2001:db8:1::1", packets,
		      0);
	time_sluice(b, "vlan_pass", "sluice: VLAN-tagged, tracked source, pass", fd, &m, &vlan,
		    SLUICE_PASSED, 0);
	expect_bucket("sluice: VLAN-tagged, tracked source, pass", &m, roomy_v4, "198.18.1.2",
		      packets, 0);
	expect_rule_passed("sluice: VLAN-tagged, tracked source, pass", &m, roomy_v4, 2 * packets);
	sluice_bpf__destroy(skel);
}

/*
 * New connections to a protected service (port 8080, slot 0) with a
 * controller in charge: a SYN under its concurrency limit (admitted and
 * counted), a SYN its open breaker refuses (dropped: the RST path is
 * rate-limited to 10,000 a second and would time that instead), and a
 * client's FIN (counted as a connection ending). No rule applies to the
 * source, so the rows compare with "no limit applies".
 */
static void time_services(struct bench *b)
{
	struct packet syn = tcp_packet("198.18.3.1", true), fin = tcp_packet("198.18.3.1", false);
	struct sluice_service_key key = { .port = 8080, .proto = IPPROTO_TCP };
	struct sluice_service_state admit = { .refuse = SLUICE_REFUSE_DROP, .limit = 1u << 30 },
				    open = { .refuse = SLUICE_REFUSE_DROP,
					     .breaker = SLUICE_GATE_REFUSE };
	struct sluice_service_flow flow;
	struct sluice_bpf *skel = load_sluice();
	struct sluice_controller rec = { .pid = (__u32)getpid(), .lease_ns = 3600ull * 1000000000ull };
	__u64 packets = (__u64)b->runs * b->repeat;
	__u32 zero = 0, slot = 0;
	struct timespec ts;
	struct sluice_maps m;
	int fd;

	if (!skel)
		die("cannot load sluice: %s", strerror(errno));
	m = SLUICE_MAPS(skel);
	fd = bpf_program__fd(skel->progs.sluice_xdp);
	clock_gettime(CLOCK_MONOTONIC, &ts);
	rec.heartbeat_ns = (__u64)ts.tv_sec * 1000000000ull + (__u64)ts.tv_nsec;
	if (bpf_map__update_elem(skel->maps.controller, &zero, sizeof(zero), &rec, sizeof(rec), 0) ||
	    bpf_map__update_elem(skel->maps.service_ports, &key, sizeof(key), &slot, sizeof(slot),
				 BPF_ANY) ||
	    bpf_map__update_elem(skel->maps.service_state, &slot, sizeof(slot), &admit,
				 sizeof(admit), 0))
		die("cannot set up the service: %s", strerror(errno));
	time_sluice(b, "service_syn_admit", "sluice: SYN to a service, under its limit", fd, &m,
		    &syn, SLUICE_PASSED_UNLIMITED, 0);
	time_sluice(b, "service_fin", "sluice: client FIN to a service", fd, &m, &fin,
		    SLUICE_PASSED_UNLIMITED, 0);
	if (bpf_map__update_elem(skel->maps.service_state, &slot, sizeof(slot), &open,
				 sizeof(open), 0))
		die("cannot open the breaker: %s", strerror(errno));
	time_sluice(b, "service_syn_refuse", "sluice: SYN to a service, breaker open", fd, &m, &syn,
		    SLUICE_REFUSED_DROP, 0);
	if (bpf_map__lookup_elem(skel->maps.service_flow, &slot, sizeof(slot), &flow, sizeof(flow),
				 0))
		die("cannot read the service's counts: %s", strerror(errno));
	/* Every packet counted where it belongs (the warm-up runs too: at least). */
	if (flow.opened < packets || flow.closed < packets ||
	    flow.refused[SLUICE_REFUSAL_BREAKER] < packets)
		fail_path("sluice: services", "opened %llu, closed %llu, refused %llu: want %llu each",
			  (unsigned long long)flow.opened, (unsigned long long)flow.closed,
			  (unsigned long long)flow.refused[SLUICE_REFUSAL_BREAKER],
			  (unsigned long long)packets);
	sluice_bpf__destroy(skel);
}

static int compare_keys(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(struct sluice_prefix_key));
}

/*
 * `count` distinct random prefixes, half IPv4 /16../32 and half IPv6
 * /32../64, as text through parse_prefix() so they are keyed as the CLI keys
 * them. None falls in 198.18.0.0/15 or 2001:db8::/32, where the override and
 * the bench's sources are.
 */
static struct sluice_prefix_key *random_prefixes(__u32 count)
{
	struct sluice_prefix_key *keys = calloc(count, sizeof(*keys));
	__u64 rng = PREFIX_SEED;
	__u32 n = 0;

	if (!keys)
		die("out of memory");
	while (n < count) {
		__u32 before = n;

		while (n < count) {
			char text[SLUICE_PREFIX_STR_LEN], host[INET6_ADDRSTRLEN];
			__u64 r = test_rng_next(&rng);
			unsigned int len;

			if (n % 2 == 0) {
				__u32 addr;

				len = 16 + (r >> 59) % 17;
				addr = (__u32)r & (0xffffffffu << (32 - len));
				if (addr >> 17 == 0xc6120000u >> 17)
					continue;
				addr = htonl(addr);
				inet_ntop(AF_INET, &addr, host, sizeof(host));
			} else {
				__u8 addr[16] = {};
				__u64 top;

				len = 32 + (r % 33);
				top = test_rng_next(&rng) & (~0ULL << (64 - len));
				if (top >> 32 == 0x20010db8)
					continue;
				for (int i = 0; i < 8; i++)
					addr[i] = top >> (56 - 8 * i);
				inet_ntop(AF_INET6, addr, host, sizeof(host));
			}
			snprintf(text, sizeof(text), "%s/%u", host, len);
			prefix_or_die(text, &keys[n++]);
		}
		/* Keep the distinct ones, and draw again for the repeats. */
		qsort(keys, n, sizeof(*keys), compare_keys);
		n = 0;
		for (__u32 i = 0; i < count; i++)
			if (i == 0 || compare_keys(&keys[i], &keys[n - 1]))
				keys[n++] = keys[i];
		if (n == before)
			die("cannot draw %u distinct prefixes", count);
	}
	return keys;
}

/*
 * Writes n keys and values with batch updates, or one update each where the
 * map has no batch operations; returns whether it batched.
 */
static bool update_all(const struct bpf_map *map, const char *what, const void *keys,
		       const void *values, __u32 n)
{
	size_t key_size = bpf_map__key_size(map), value_size = bpf_map__value_size(map);
	__u32 count = n;
	int err = bpf_map_update_batch(bpf_map__fd(map), keys, values, &count, NULL);

	if (!err && count == n)
		return true;
	if (err != -EOPNOTSUPP && err != -524 /* the kernel's ENOTSUPP: no batch operations */)
		die("cannot load %u entries into %s (%u loaded): %s", n, what, count,
		    strerror(err ? -err : EIO));
	for (count = 0; count < n; count++) {
		err = bpf_map__update_elem(map, (const char *)keys + count * key_size, key_size,
					   (const char *)values + count * value_size, value_size,
					   BPF_ANY);
		if (err)
			die("cannot load %u entries into %s (%u loaded): %s", n, what, count,
			    strerror(-err));
	}
	return false;
}

/*
 * A source under an override among 100k source-level rules, each on its own
 * prefix, and a default. The rules are loaded as restore loads a snapshot:
 * written to the rules array under ids 1..100k, then attached to their
 * prefixes in the source_rules trie, each with batch updates (rule_set()
 * reads every rule to find a free id, so 100k of them one by one would take
 * hours). The default and the override go through rule_set(), as `sluice
 * limit set` does. Only the packets are timed, not the load.
 */
static void time_prefix_override(struct bench *b)
{
	const char *name = "sluice: override among 100k prefixes, pass";
	struct packet pkt = udp_packet(OVERRIDE_SOURCE, false);
	struct sluice_bpf *skel = load_sluice();
	struct sluice_prefix_key *keys = random_prefixes(OVERRIDE_PREFIXES);
	struct sluice_rule strict = rule_or_die("default " STRICT);
	struct sluice_rule *rules = calloc(OVERRIDE_PREFIXES, sizeof(*rules));
	struct sluice_rule_ids *ids = calloc(OVERRIDE_PREFIXES, sizeof(*ids));
	__u32 *rule_ids = calloc(OVERRIDE_PREFIXES, sizeof(*rule_ids)), override;
	bool rules_batched, trie_batched;
	struct rule_entry *entries;
	struct sluice_maps m;
	double start, seconds;
	size_t count;
	int ipv4 = 0;

	if (!skel)
		die("cannot load sluice: %s", strerror(errno));
	if (!rules || !ids || !rule_ids)
		die("out of memory");
	m = SLUICE_MAPS(skel);
	/*
	 * Every rule but the override drops after one packet, so a packet that
	 * met any other rule would show up as dropped.
	 */
	for (__u32 i = 0; i < OVERRIDE_PREFIXES; i++) {
		rule_ids[i] = i + 1;
		rules[i] = strict;
		rules[i].prefix = keys[i];
		rules[i].flags |= SLUICE_RULE_IN_USE;
		ids[i] = (struct sluice_rule_ids){ .id = { i + 1 } };
		ipv4 += keys[i].family == SLUICE_FAMILY_IPV4;
	}
	start = now_seconds();
	/* Written before attached: the data path never meets an id without its rule. */
	rules_batched = update_all(m.rules, "the rules array", rule_ids, rules, OVERRIDE_PREFIXES);
	trie_batched = update_all(m.source_rules, "the source_rules trie", keys, ids,
				  OVERRIDE_PREFIXES);
	seconds = now_seconds() - start;
	b->prefix_load = json_pack("{s:i, s:i, s:i, s:s, s:b, s:b, s:b, s:f}", "prefixes",
				   OVERRIDE_PREFIXES, "ipv4", ipv4, "ipv6", OVERRIDE_PREFIXES - ipv4,
				   "level", "source", "batch", rules_batched && trie_batched,
				   "rules_batch", rules_batched, "source_rules_batch", trie_batched,
				   "seconds", round2(seconds * 1000) / 1000);
	set_rule(&m, "default " STRICT);
	override = set_rule(&m, OVERRIDE_PREFIX " " ROOMY);
	/* The library reads back what was batch-loaded, and the override took a free id. */
	if (rules_read(&(struct rule_maps){ .rules = bpf_map__fd(m.rules),
					    .rule_counters = bpf_map__fd(m.rule_counters) },
		       &entries, &count))
		die("cannot read the rules back: %s", strerror(errno));
	free(entries);
	if (count != OVERRIDE_PREFIXES + 2 || override <= OVERRIDE_PREFIXES)
		fail_path(name, "%zu rules read back, the override has id %u; want %d and an id "
			  "over %d", count, override, OVERRIDE_PREFIXES + 2, OVERRIDE_PREFIXES);
	free(keys);
	free(rules);
	free(ids);
	free(rule_ids);

	time_sluice(b, "prefix_override", name, bpf_program__fd(skel->progs.sluice_xdp), &m, &pkt,
		    SLUICE_PASSED, 0);
	expect_bucket(name, &m, override, OVERRIDE_SOURCE, (__u64)b->runs * b->repeat, 0);
	expect_rule_passed(name, &m, override, (__u64)b->runs * b->repeat);
	sluice_bpf__destroy(skel);
}

/*
 * First-sight inserts: a new source for every packet, into a table that is
 * empty at the start of every run (reloaded, since one run fills a quarter).
 */
static __u32 insert_repeat(const struct bench *b)
{
	return b->repeat < INSERT_MAX_REPEAT ? b->repeat : INSERT_MAX_REPEAT;
}

static void time_insert(struct bench *b, double rewrite_ns)
{
	static const char *const progs[] = { "xdp_new_src", NULL };
	const char *name = "sluice: new source per packet (insert)";
	__u32 repeat = insert_repeat(b);
	struct packet pkt = udp_packet("10.0.0.0", false);
	double samples[MAX_RUNS];
	struct result *r;

	for (int i = 0; i < b->runs; i++) {
		struct sluice_wrap_bpf *skel = load_wrap(0, SLUICE_MAX_SOURCES, progs);
		struct sluice_maps m = SLUICE_MAPS(skel);
		struct outcomes before, after;
		struct table_scan scan;

		set_rule(&m, "default " ROOMY);
		before = read_outcomes(&m);
		samples[i] = run_once(name, bpf_program__fd(skel->progs.xdp_new_src), &pkt, repeat,
				      XDP_PASS);
		after = read_outcomes(&m);
		expect_outcome(name, &before, &after, SLUICE_PASSED, repeat, 0);
		scan = scan_buckets(&m);
		if (skel->bss->next_source != repeat || scan.entries != repeat ||
		    scan.passed != repeat)
			fail_path(name, "%u sources sent, %llu buckets created, %llu packets in them; want %u of each",
				  skel->bss->next_source, (unsigned long long)scan.entries,
				  (unsigned long long)scan.passed, repeat);
		sluice_wrap_bpf__destroy(skel);
	}
	r = record(b, "insert", name, samples, b->runs, repeat);
	add_net(b, r, rewrite_ns);
	r->extra = json_pack("{s:i}", "buckets_created_per_run", repeat);
}

/*
 * A flood from 2^sources_log2 random sources into a warm table of
 * SLUICE_MAX_SOURCES: at 1M most lookups find their bucket, at 16M most
 * evict the least recently used one.
 */
static void time_churn(struct bench *b, const char *id, const char *name, int sources_log2,
		       double rewrite_ns)
{
	static const char *const progs[] = { "xdp_rand_src", NULL };
	struct sluice_wrap_bpf *skel = load_wrap((1u << sources_log2) - 1, SLUICE_MAX_SOURCES, progs);
	struct sluice_maps m = SLUICE_MAPS(skel);
	int fd = bpf_program__fd(skel->progs.xdp_rand_src);
	struct packet pkt = udp_packet("10.0.0.0", false);
	__u64 sources = 1ull << sources_log2, packets;
	struct outcomes before, after;
	struct table_scan scan;
	double hit_rate, evicted_share;
	struct result *r;

	set_rule(&m, "default " ROOMY);
	before = read_outcomes(&m);
	run_once(name, fd, &pkt, CHURN_WARMUP, XDP_PASS);
	r = time_case(b, id, name, fd, &pkt, XDP_PASS);
	add_net(b, r, rewrite_ns);
	after = read_outcomes(&m);
	packets = CHURN_WARMUP + (__u64)b->runs * b->repeat;
	expect_outcome(name, &before, &after, SLUICE_PASSED, packets, 0);

	/*
	 * Sources are drawn uniformly, so a lookup finds its bucket about as
	 * often as the table holds a given source; packets counted in
	 * buckets that are gone show how much the table evicted.
	 */
	scan = scan_buckets(&m);
	hit_rate = (double)scan.entries / sources;
	evicted_share = 1 - (double)scan.passed / packets;
	printf("  table: %llu of %u entries, ~%.1f%% hits, %.1f%% of packets evicted\n",
	       (unsigned long long)scan.entries, SLUICE_MAX_SOURCES, 100 * hit_rate,
	       100 * evicted_share);
	r->extra = json_pack("{s:I, s:I, s:I, s:I, s:f, s:f}", "sources", (json_int_t)sources,
			     "table_size", (json_int_t)SLUICE_MAX_SOURCES, "warmup_packets",
			     (json_int_t)CHURN_WARMUP, "tracked_after", (json_int_t)scan.entries,
			     "estimated_hit_rate", round2(hit_rate * 100) / 100,
			     "evicted_packet_share", round2(evicted_share * 100) / 100);
	/* The table must be nearly full, and evicting only when sources outnumber its entries. */
	if (scan.entries < SLUICE_MAX_SOURCES * 0.9)
		fail_path(name, "the table holds %llu of %u entries after %llu packets",
			  (unsigned long long)scan.entries, SLUICE_MAX_SOURCES,
			  (unsigned long long)packets);
	if ((sources > SLUICE_MAX_SOURCES) != (evicted_share > 0.5))
		fail_path(name, "%.1f%% of packets are in evicted buckets with %llu sources",
			  100 * evicted_share, (unsigned long long)sources);
	sluice_wrap_bpf__destroy(skel);
}

/* ---- Output and main ---------------------------------------------------- */

static void write_json(const struct bench *b, const char *path)
{
	json_t *cases = json_array();
	json_t *root = json_pack("{s:i, s:i, s:b, s:o}", "repeat", (int)b->repeat, "runs", b->runs,
				 "quick", b->quick, "cases", cases);

	if (!root)
		die("out of memory");
	for (int i = 0; i < b->n; i++) {
		const struct result *r = &b->results[i];
		json_t *c = json_pack("{s:s, s:s, s:f, s:f, s:f, s:f, s:f, s:i, s:i}", "id", r->id,
				      "name", r->name, "ns_per_packet", r->ns, "ratio_to_floor",
				      round2(r->ns / b->floor_ns), "ratio_to_parse",
				      round2(r->ns / b->parse_ns), "min_ns", r->min_ns, "max_ns",
				      r->max_ns, "repeat", (int)r->repeat, "runs", r->runs);

		if (r->net_ns >= 0) {
			json_object_set_new(c, "net_of_rewrite_ns", json_real(round2(r->net_ns)));
			json_object_set_new(c, "net_ratio_to_floor",
					    json_real(round2(r->net_ns / b->floor_ns)));
			json_object_set_new(c, "net_ratio_to_parse",
					    json_real(round2(r->net_ns / b->parse_ns)));
		}
		if (r->extra)
			json_object_update(c, r->extra);
		json_array_append_new(cases, c);
	}
	if (b->prefix_load)
		json_object_set(root, "prefix_load", b->prefix_load);
	if (json_dump_file(root, path, JSON_INDENT(2) | JSON_REAL_PRECISION(10)))
		die("cannot write %s: %s", path, strerror(errno));
	json_decref(root);
}

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: bench_packet_cost [-r REPEAT] [-n RUNS] [-q] [-j FILE]\n"
		"  -r, --repeat N  packets per BPF_PROG_RUN (default %d, quick %d)\n"
		"  -n, --runs N    runs per case, the median is reported (default %d, quick %d)\n"
		"  -q, --quick     fewer repeats and runs, for make bench QUICK=1\n"
		"  -j, --json FILE also write the results as JSON\n",
		DEFAULT_REPEAT, QUICK_REPEAT, DEFAULT_RUNS, QUICK_RUNS);
}

int main(int argc, char **argv)
{
	static const struct option options[] = {
		{ "repeat", required_argument, NULL, 'r' },
		{ "runs", required_argument, NULL, 'n' },
		{ "quick", no_argument, NULL, 'q' },
		{ "json", required_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{}
	};
	static struct bench b;
	const char *json_path = NULL, *repeat_arg = NULL, *runs_arg = NULL;
	double rewrite_next_ns, rewrite_random_ns, start = now_seconds();
	char err[SLUICE_ERR_LEN];
	__u64 value;
	int opt;

	while ((opt = getopt_long(argc, argv, "r:n:qj:h", options, NULL)) != -1) {
		switch (opt) {
		case 'r':
			repeat_arg = optarg;
			break;
		case 'n':
			runs_arg = optarg;
			break;
		case 'q':
			b.quick = true;
			break;
		case 'j':
			json_path = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 1;
		}
	}
	if (optind < argc) {
		usage(stderr);
		return 1;
	}
	b.repeat = b.quick ? QUICK_REPEAT : DEFAULT_REPEAT;
	b.runs = b.quick ? QUICK_RUNS : DEFAULT_RUNS;
	if (repeat_arg) {
		if (parse_count("--repeat", repeat_arg, 1, 1000000000, &value, err, sizeof(err)))
			die("%s", err);
		b.repeat = value;
	}
	if (runs_arg) {
		if (parse_count("--runs", runs_arg, 1, MAX_RUNS, &value, err, sizeof(err)))
			die("%s", err);
		b.runs = value;
	}

	time_references(&b, &rewrite_next_ns, &rewrite_random_ns);
	time_tracked(&b);
	time_services(&b);
	time_prefix_override(&b);
	time_insert(&b, rewrite_next_ns);
	time_churn(&b, "churn_1m", "sluice: random sources over 1M (LRU churn)", 20,
		   rewrite_random_ns);
	time_churn(&b, "churn_16m", "sluice: random sources over 16M (eviction)", 24,
		   rewrite_random_ns);

	printf("repeat %u, runs %d; insert: %u per run on a fresh table; churn: %u untimed first\n",
	       b.repeat, b.runs, insert_repeat(&b), CHURN_WARMUP);
	if (b.prefix_load)
		printf("%d source-level rules loaded in %.3f s (rules array %s, source_rules trie "
		       "%s)\n", OVERRIDE_PREFIXES,
		       json_real_value(json_object_get(b.prefix_load, "seconds")),
		       json_is_true(json_object_get(b.prefix_load, "rules_batch")) ?
			       "with bpf_map_update_batch" : "one by one (no batch support)",
		       json_is_true(json_object_get(b.prefix_load, "source_rules_batch")) ?
			       "with bpf_map_update_batch" : "one by one (no batch support)");
	printf("done in %.1f s\n", now_seconds() - start);
	if (json_path)
		write_json(&b, json_path);
	return 0;
}
