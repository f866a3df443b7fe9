// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Per-packet cost of the data path, from BPF_PROG_RUN: the kernel runs the
 * program `repeat` times on one packet and reports the mean ns per run. Each
 * case presets the maps so that the repeated packet takes the intended path;
 * the reported figure is the median of several such runs.
 *
 *   bench_packet_cost [--repeat N] [--runs N] [--json FILE]
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/udp.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "sluice.skel.h"
#include "baseline.skel.h"
#include "token_bucket.h"
#include "parse.h"

struct frame {
	struct ethhdr eth;
	struct iphdr ip;
	struct udphdr udp;
	__u8 payload[18];
} __attribute__((packed));

static struct frame udp_frame(const char *src)
{
	struct frame f = {};

	f.eth.h_proto = htons(ETH_P_IP);
	f.ip.version = 4;
	f.ip.ihl = 5;
	f.ip.ttl = 64;
	f.ip.protocol = IPPROTO_UDP;
	f.ip.tot_len = htons(sizeof(f) - sizeof(f.eth));
	inet_pton(AF_INET, src, &f.ip.saddr);
	inet_pton(AF_INET, "198.18.0.2", &f.ip.daddr);
	f.udp.source = htons(40000);
	f.udp.dest = htons(9);
	f.udp.len = htons(sizeof(f.udp) + sizeof(f.payload));
	return f;
}

static int compare_doubles(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* Median ns/packet over `runs` runs of `repeat` packets, or -1. */
static double measure(int prog_fd, const struct frame *f, int repeat, int runs)
{
	double samples[64];

	for (int i = 0; i < runs && i < 64; i++) {
		LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = f, .data_size_in = sizeof(*f),
			    .repeat = repeat);

		if (bpf_prog_test_run_opts(prog_fd, &opts)) {
			fprintf(stderr, "Error: BPF_PROG_RUN failed: %s\n", strerror(errno));
			return -1;
		}
		samples[i] = opts.duration;
	}
	qsort(samples, runs, sizeof(double), compare_doubles);
	return samples[runs / 2];
}

/* Sets a prefix's limit, keyed as the CLI keys it; any failure ends the bench. */
static void set_limit(struct sluice_bpf *skel, const char *prefix, __u64 rate, __u64 burst,
		      bool unlimited)
{
	struct sluice_limit limit = { .flags = SLUICE_LIMIT_UNLIMITED };
	struct sluice_prefix_key key;
	char err[SLUICE_ERR_LEN];
	int ret;

	if (parse_prefix("bench prefix", prefix, &key, err, sizeof(err))) {
		fprintf(stderr, "Error: %s\n", err);
		exit(1);
	}
	if (!unlimited && sluice_limit_init(&limit, rate, burst)) {
		fprintf(stderr, "Error: bad bench limit for %s\n", prefix);
		exit(1);
	}
	ret = bpf_map__update_elem(skel->maps.limits, &key, sizeof(key), &limit, sizeof(limit),
				   BPF_ANY);
	if (ret) {
		fprintf(stderr, "Error: cannot set the limit of %s: %s\n", prefix, strerror(-ret));
		exit(1);
	}
}

/*
 * Whether the source's packets took the path the bench meant: a bucket that
 * passed, one that dropped, or no bucket at all (no limit applied).
 */
static bool took_path(struct sluice_bpf *skel, const char *addr, int want_passed,
		      int want_dropped, bool want_bucket)
{
	struct sluice_source_key key = {};
	struct sluice_prefix_key prefix;
	struct sluice_bucket bucket;
	char err[SLUICE_ERR_LEN];
	bool found;

	if (parse_prefix("bench source", addr, &prefix, err, sizeof(err)))
		return false;
	key.family = prefix.family;
	memcpy(key.addr, prefix.addr, sizeof(key.addr));
	found = !bpf_map__lookup_elem(skel->maps.buckets, &key, sizeof(key), &bucket,
				      sizeof(bucket), 0);
	if (!want_bucket)
		return !found;
	return found && (bucket.passed > 0) == want_passed && (bucket.dropped > 0) == want_dropped;
}

int main(int argc, char **argv)
{
	int repeat = 2000000, runs = 5, opt;
	const char *json_path = NULL;
	struct sluice_bpf *skel;
	struct baseline_bpf *base;
	struct frame pass = udp_frame("198.18.1.1"), drop = udp_frame("198.18.2.1"),
		     unlimited = udp_frame("198.18.3.1");
	struct {
		const char *name;
		int prog_fd;
		const struct frame *frame;
		double ns;
	} cases[7];
	int n = 0;
	FILE *json;

	while ((opt = getopt(argc, argv, "r:n:j:")) != -1) {
		if (opt == 'r')
			repeat = atoi(optarg);
		else if (opt == 'n')
			runs = atoi(optarg);
		else if (opt == 'j')
			json_path = optarg;
		else
			return 1;
	}
	if (repeat <= 0 || runs <= 0 || runs > 64) {
		fprintf(stderr, "Error: invalid -r or -n\n");
		return 1;
	}

	skel = sluice_bpf__open_and_load();
	base = baseline_bpf__open_and_load();
	if (!skel || !base) {
		fprintf(stderr, "Error: cannot load the BPF programs: %s (root needed)\n",
			strerror(errno));
		return 1;
	}
	/* A limit that always has room, one that never does, and no limit. */
	set_limit(skel, "198.18.1.0/24", SLUICE_MAX_RATE, SLUICE_MAX_BURST, false);
	set_limit(skel, "198.18.2.0/24", 1, 1, false);
	set_limit(skel, "198.18.3.0/24", 0, 0, true);

	cases[n++] = (typeof(cases[0])){ "floor: return XDP_DROP",
					 bpf_program__fd(base->progs.xdp_drop_only), &pass };
	cases[n++] = (typeof(cases[0])){ "parse to L4 only",
					 bpf_program__fd(base->progs.xdp_parse_only), &pass };
	cases[n++] = (typeof(cases[0])){ "bpf_ktime_get_ns",
					 bpf_program__fd(base->progs.xdp_ktime), &pass };
	cases[n++] = (typeof(cases[0])){ "bpf_ktime_get_coarse_ns",
					 bpf_program__fd(base->progs.xdp_ktime_coarse), &pass };
	cases[n++] = (typeof(cases[0])){ "sluice: no limit applies",
					 bpf_program__fd(skel->progs.sluice_xdp), &unlimited };
	cases[n++] = (typeof(cases[0])){ "sluice: tracked source, pass",
					 bpf_program__fd(skel->progs.sluice_xdp), &pass };
	cases[n++] = (typeof(cases[0])){ "sluice: tracked source, drop",
					 bpf_program__fd(skel->progs.sluice_xdp), &drop };

	printf("%-34s %10s %10s\n", "CASE", "NS/PACKET", "X FLOOR");
	for (int i = 0; i < n; i++) {
		cases[i].ns = measure(cases[i].prog_fd, cases[i].frame, repeat, runs);
		if (cases[i].ns < 0)
			return 1;
		printf("%-34s %10.1f %10.2f\n", cases[i].name, cases[i].ns,
		       cases[0].ns > 0 ? cases[i].ns / cases[0].ns : 0);
	}
	/* A preset that missed its source would time another path under this one's name. */
	if (!took_path(skel, "198.18.1.1", 1, 0, true) ||
	    !took_path(skel, "198.18.2.1", 1, 1, true) ||
	    !took_path(skel, "198.18.3.1", 0, 0, false)) {
		fprintf(stderr, "Error: a sluice case did not take the path it is named for\n");
		return 1;
	}
	if (json_path) {
		json = fopen(json_path, "w");
		if (!json) {
			fprintf(stderr, "Error: cannot write %s: %s\n", json_path, strerror(errno));
			return 1;
		}
		fprintf(json, "{\"repeat\": %d, \"runs\": %d, \"cases\": [", repeat, runs);
		for (int i = 0; i < n; i++)
			fprintf(json, "%s{\"name\": \"%s\", \"ns_per_packet\": %.2f}", i ? ", " : "",
				cases[i].name, cases[i].ns);
		fprintf(json, "]}\n");
		fclose(json);
	}
	sluice_bpf__destroy(skel);
	baseline_bpf__destroy(base);
	return 0;
}
