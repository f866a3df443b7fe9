// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * sluice stats: packets and bytes by outcome, summed over CPUs, optionally
 * redrawn with per-second rates. sluice top: the sources with the most
 * drops, read from the bucket table in batches.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "cli.h"
#include "counters.h"
#include "parse.h"
#include "state.h"
#include "sluice_rule.h"

static json_t *counter_json(const struct sluice_counter *now, const struct sluice_counter *before,
			    double seconds)
{
	json_t *doc = json_pack("{s:I, s:I}", "packets", (json_int_t)now->packets, "bytes",
				(json_int_t)now->bytes);

	if (before && seconds > 0) {
		json_object_set_new(doc, "packets_per_second",
				    json_real((now->packets - before->packets) / seconds));
		json_object_set_new(doc, "bytes_per_second",
				    json_real((now->bytes - before->bytes) / seconds));
	}
	return doc;
}

static json_t *totals_json(const struct totals *now, const struct totals *before, double seconds)
{
	json_t *outcomes = json_object();

	for (int i = 0; i < SLUICE_OUTCOME_COUNT; i++)
		json_object_set_new(outcomes, outcome_keys[i],
				    counter_json(&now->outcome[i],
						 before ? &before->outcome[i] : NULL, seconds));
	return json_pack("{s:o, s:o, s:o}", "outcomes", outcomes, "passed",
			 counter_json(&now->passed, before ? &before->passed : NULL, seconds),
			 "dropped",
			 counter_json(&now->dropped, before ? &before->dropped : NULL, seconds));
}

static void print_row(const char *name, const struct sluice_counter *now,
		      const struct sluice_counter *before, double seconds, const char *why)
{
	printf("%-26s %14llu %16llu", name, (unsigned long long)now->packets,
	       (unsigned long long)now->bytes);
	if (before)
		printf(" %12.0f", seconds > 0 ? (now->packets - before->packets) / seconds : 0.0);
	printf("   %s\n", why);
}

static void print_totals(const struct totals *now, const struct totals *before, double seconds)
{
	printf("%-26s %14s %16s%s   %s\n", "OUTCOME", "PACKETS", "BYTES",
	       before ? "        PKT/S" : "", "WHY");
	for (int i = 0; i < SLUICE_OUTCOME_COUNT; i++)
		print_row(outcome_keys[i], &now->outcome[i], before ? &before->outcome[i] : NULL,
			  seconds, outcome_help[i]);
	print_row("total passed", &now->passed, before ? &before->passed : NULL, seconds, "");
	print_row("total dropped", &now->dropped, before ? &before->dropped : NULL, seconds, "");
}

static volatile sig_atomic_t stop_watching;

static void on_signal(int sig)
{
	(void)sig;
	stop_watching = 1;
}

static double monotonic_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Redraws every interval until interrupted or `count` rounds are shown. */
static int watch(const struct cli *cli, int counters_fd, __u64 interval_ms, __u64 count)
{
	struct totals before, now;
	double then = monotonic_seconds(), seconds;
	bool redraw = !cli->json && isatty(STDOUT_FILENO);

	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	if (totals_read(counters_fd, &before))
		return cli_fail(cli, "cannot read the counters: %s", state_strerror(errno));
	for (__u64 round = 0; !stop_watching && (count == 0 || round < count); round++) {
		struct timespec pause = { interval_ms / 1000, interval_ms % 1000 * 1000000 };

		/* A signal cuts the pause short; the loop then ends. */
		nanosleep(&pause, NULL);
		if (stop_watching)
			break;
		if (totals_read(counters_fd, &now))
			return cli_fail(cli, "cannot read the counters: %s", state_strerror(errno));
		seconds = monotonic_seconds() - then;
		if (cli->json) {
			json_t *doc = totals_json(&now, &before, seconds);

			json_object_set_new(doc, "interval_seconds", json_real(seconds));
			cli_print_json(doc);
		} else {
			if (redraw)
				printf("\033[H\033[2J");
			printf("every %.1fs, rates over the last %.2fs\n\n", interval_ms / 1000.0,
			       seconds);
			print_totals(&now, &before, seconds);
			if (!redraw)
				printf("\n");
			fflush(stdout);
		}
		before = now;
		then += seconds;
	}
	return 0;
}

int cmd_stats(const struct cli *cli, int argc, char **argv)
{
	static const struct option options[] = {
		{ "watch", required_argument, NULL, 'w' },
		{ "count", required_argument, NULL, 'c' },
		{},
	};
	const char *watch_arg = NULL, *count_arg = NULL;
	__u64 interval_ms = 0, count = 0;
	char err[SLUICE_ERR_LEN];
	struct totals totals;
	struct state st;
	int opt, ret = 0;

	while ((opt = cli_getopt(cli, "stats", argc, argv, "w:c:", options)) != -1) {
		if (opt == -2 || cli_option_once(cli, opt == 'w' ? &watch_arg : &count_arg, optarg,
						 opt == 'w' ? "--watch" : "--count"))
			return 1;
	}
	if (watch_arg && parse_duration_ms("--watch", watch_arg, 100, 3600 * 1000, &interval_ms,
					   err, sizeof(err)))
		return cli_fail(cli, "%s", err);
	if (count_arg && parse_count("--count", count_arg, 1, UINT32_MAX, &count, err, sizeof(err)))
		return cli_fail(cli, "%s", err);
	if (optind != argc)
		return cli_fail(cli, "stats takes no arguments besides --watch and --count");
	if (count && !interval_ms)
		return cli_fail(cli, "--count goes with --watch");
	if (state_open(&st, cli->pin_root, STATE_READ, err, sizeof(err)))
		return cli_fail(cli, "%s", err);

	if (interval_ms) {
		ret = watch(cli, st.counters, interval_ms, count);
	} else if (totals_read(st.counters, &totals)) {
		ret = cli_fail(cli, "cannot read the counters: %s", state_strerror(errno));
	} else if (cli->json) {
		cli_print_json(totals_json(&totals, NULL, 0));
	} else {
		print_totals(&totals, NULL, 0);
	}
	state_close(&st);
	return ret;
}

/* A per-source bucket: one source (group) under one rule. */
struct source {
	struct sluice_bucket_key key;
	struct sluice_bucket bucket;
};

/* The order of `top`: most drops first, then most passed, then by address. */
static int by_drops(const void *a, const void *b)
{
	const struct sluice_bucket *x = &((const struct source *)a)->bucket;
	const struct sluice_bucket *y = &((const struct source *)b)->bucket;

	if (x->dropped != y->dropped)
		return x->dropped < y->dropped ? 1 : -1;
	if (x->passed != y->passed)
		return x->passed < y->passed ? 1 : -1;
	return memcmp(a, b, sizeof(struct sluice_bucket_key));
}

/*
 * The best `capacity` sources seen so far, in a heap whose root is the one
 * that ranks last: a million sources cost a million cheap comparisons, not a
 * sort, and memory for the rows shown only.
 */
struct top_sources {
	struct source *heap;
	size_t size, capacity, seen;
};

static void swap_sources(struct source *a, struct source *b)
{
	struct source t = *a;

	*a = *b;
	*b = t;
}

static void top_offer(struct top_sources *top, const struct source *s)
{
	struct source *h = top->heap;
	size_t i;

	top->seen++;
	if (top->size < top->capacity) {
		i = top->size++;
		h[i] = *s;
		while (i > 0 && by_drops(&h[i], &h[(i - 1) / 2]) > 0) {
			swap_sources(&h[i], &h[(i - 1) / 2]);
			i = (i - 1) / 2;
		}
		return;
	}
	if (by_drops(s, &h[0]) >= 0)
		return;
	h[0] = *s;
	for (i = 0;;) {
		size_t last = i, left = 2 * i + 1, right = left + 1;

		if (left < top->size && by_drops(&h[left], &h[last]) > 0)
			last = left;
		if (right < top->size && by_drops(&h[right], &h[last]) > 0)
			last = right;
		if (last == i)
			break;
		swap_sources(&h[i], &h[last]);
		i = last;
	}
}

#define TOP_BATCH 8192

/* Reads the whole bucket table in batches, keeping the best `rows` sources, sorted. */
static int read_top_sources(int buckets_fd, struct top_sources *top, size_t rows)
{
	static struct sluice_bucket_key keys[TOP_BATCH];
	static struct sluice_bucket values[TOP_BATCH];
	__u32 batch_token[4], n;
	void *in_batch = NULL;
	bool done = false;

	memset(top, 0, sizeof(*top));
	top->capacity = rows;
	top->heap = calloc(rows, sizeof(*top->heap));
	if (!top->heap)
		return -1;
	while (!done) {
		LIBBPF_OPTS(bpf_map_batch_opts, opts);

		n = TOP_BATCH;
		if (bpf_map_lookup_batch(buckets_fd, in_batch, batch_token, keys, values, &n,
					 &opts)) {
			if (errno != ENOENT) {
				free(top->heap);
				return -1;
			}
			done = true;	/* the last batch, possibly with entries */
		}
		for (__u32 i = 0; i < n; i++) {
			struct source s = { .key = keys[i], .bucket = values[i] };

			top_offer(top, &s);
		}
		in_batch = batch_token;
	}
	qsort(top->heap, top->size, sizeof(*top->heap), by_drops);
	return 0;
}

static __u64 sluice_time_now(void)
{
	struct timespec ts;

	/* bpf_ktime_get_ns() is CLOCK_MONOTONIC. */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return sluice_time_from_ns((__u64)ts.tv_sec * 1000000000ULL + ts.tv_nsec);
}

/*
 * One row of `top`: the source as its rule groups it ("198.18.0.1", or
 * "2001:db8:1::/64" for an IPv6 /64), the rule, and the tokens left under
 * the rule's limit as it is now.
 */
static json_t *source_json(int rules_fd, const struct source *s, __u64 now)
{
	struct sluice_source_key src = { .family = s->key.family };
	char addr[SLUICE_PREFIX_STR_LEN], text[SLUICE_PREFIX_STR_LEN + 8];
	struct sluice_rule rule;
	json_t *tokens = json_null();
	unsigned int group = 0, full;

	memcpy(src.addr, s->key.addr, SLUICE_ADDR_LEN);
	format_address(&src, addr, sizeof(addr));
	full = src.family == SLUICE_FAMILY_IPV4 ? 32 : 128;
	if (!bpf_map_lookup_elem(rules_fd, &s->key.rule, &rule) &&
	    (rule.flags & SLUICE_RULE_IN_USE)) {
		const struct sluice_meter_params *meter = &rule.limit.meter;

		group = src.family == SLUICE_FAMILY_IPV4 ? rule.group_v4 : rule.group_v6;
		/* What is left, in the limit's unit: buckets only; a window just counts. */
		if (!(rule.flags & SLUICE_RULE_UNLIMITED) && !sluice_algo_is_window(rule.limit.algo) &&
		    meter->interval)
			tokens = json_integer(
				(meter->depth - sluice_bucket_debt(s->bucket.state.full_at, now,
								   meter->depth)) /
				meter->interval);
	}
	if (group && group < full)
		snprintf(text, sizeof(text), "%s/%u", addr, group);
	else
		snprintf(text, sizeof(text), "%s", addr);
	return json_pack("{s:s, s:I, s:I, s:I, s:o}", "source", text, "rule",
			 (json_int_t)s->key.rule, "passed", (json_int_t)s->bucket.passed,
			 "dropped", (json_int_t)s->bucket.dropped, "tokens", tokens);
}

int cmd_top(const struct cli *cli, int argc, char **argv)
{
	static const struct option options[] = {
		{ "count", required_argument, NULL, 'n' },
		{},
	};
	char err[SLUICE_ERR_LEN];
	const char *count_arg = NULL;
	struct top_sources top;
	struct source *sources;
	size_t count = 0, shown;
	__u64 rows = 10, now;
	json_t *list;
	struct state st;
	int opt;

	while ((opt = cli_getopt(cli, "top", argc, argv, "n:", options)) != -1) {
		if (opt == -2 || cli_option_once(cli, &count_arg, optarg, "-n"))
			return 1;
	}
	if (count_arg &&
	    parse_count("-n", count_arg, 1, SLUICE_MAX_SOURCES, &rows, err, sizeof(err)))
		return cli_fail(cli, "%s", err);
	if (optind != argc)
		return cli_fail(cli, "top takes no arguments besides -n N");
	if (state_open(&st, cli->pin_root, STATE_READ, err, sizeof(err)))
		return cli_fail(cli, "%s", err);
	if (read_top_sources(st.buckets, &top, rows)) {
		state_close(&st);
		return cli_fail(cli, "cannot read the bucket table: %s", state_strerror(errno));
	}
	sources = top.heap;
	count = top.seen;
	shown = top.size;
	now = sluice_time_now();

	list = json_array();
	for (size_t i = 0; i < shown; i++)
		json_array_append_new(list, source_json(st.rules, &sources[i], now));
	state_close(&st);
	free(sources);

	if (cli->json)
		return cli_print_json(json_pack("{s:I, s:o}", "tracked_sources",
						(json_int_t)count, "sources", list));
	printf("%zu buckets tracked (a source has one per per-source rule it meets)\n", count);
	if (shown)
		printf("%-44s %6s %14s %14s %10s\n", "SOURCE", "RULE", "DROPPED", "PASSED", "TOKENS");
	for (size_t i = 0; i < shown; i++) {
		json_t *s = json_array_get(list, i), *tokens = json_object_get(s, "tokens");

		printf("%-44s %6lld %14lld %14lld ", json_string_value(json_object_get(s, "source")),
		       json_integer_value(json_object_get(s, "rule")),
		       json_integer_value(json_object_get(s, "dropped")),
		       json_integer_value(json_object_get(s, "passed")));
		if (json_is_null(tokens))
			printf("%10s\n", "-");
		else
			printf("%10lld\n", json_integer_value(tokens));
	}
	json_decref(list);
	return 0;
}
