// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Drop events: what the data path sampled into its ring buffer (which
 * source, which rule or service, which check), followed live by `sluice
 * events` or logged by the controller. The ring has one reader position:
 * two readers at once would each see part of the events.
 */
#include <errno.h>
#include <getopt.h>
#include <net/if.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "cli.h"
#include "controller.h"
#include "counters.h"
#include "events.h"
#include "parse.h"
#include "state.h"

static const char *proto_text(__u8 proto)
{
	switch (proto) {
	case IPPROTO_TCP:
		return "tcp";
	case IPPROTO_UDP:
		return "udp";
	case IPPROTO_ICMP:
		return "icmp";
	case IPPROTO_ICMPV6:
		return "icmpv6";
	default:
		return NULL;
	}
}

json_t *event_json(const struct sluice_event *ev)
{
	char src[SLUICE_PREFIX_STR_LEN], ifname[IF_NAMESIZE] = "";
	const char *proto = proto_text(ev->proto);
	json_t *doc;

	format_address(&ev->src, src, sizeof(src));
	if (!if_indextoname(ev->ifindex, ifname))
		snprintf(ifname, sizeof(ifname), "if%u", ev->ifindex);
	/* CLOCK_MONOTONIC, as an integer: a double's seconds would show rounding noise. */
	doc = json_pack("{s:I, s:s, s:s, s:o, s:s}", "time_ns", (json_int_t)ev->time_ns, "source", src,
			"outcome",
			ev->outcome < SLUICE_OUTCOME_COUNT ? outcome_keys[ev->outcome] : "unknown",
			"proto", proto ? json_string(proto) : json_integer(ev->proto), "class",
			class_name(ev->class));
	json_object_set_new(doc, "interface", cli_json_text(ifname));
	if (ev->dport)
		json_object_set_new(doc, "port", json_integer(ev->dport));
	if (ev->rule)
		json_object_set_new(doc, "rule", json_integer(ev->rule));
	if (ev->service)
		json_object_set_new(doc, "service_slot", json_integer(ev->service - 1));
	return doc;
}

void event_text(const struct sluice_event *ev, char *buf, size_t len)
{
	char src[SLUICE_PREFIX_STR_LEN], port[16] = "", by[32] = "", ifname[IF_NAMESIZE] = "?";
	const char *proto = proto_text(ev->proto);

	format_address(&ev->src, src, sizeof(src));
	if_indextoname(ev->ifindex, ifname);
	if (ev->dport)
		snprintf(port, sizeof(port), " to port %u", ev->dport);
	if (ev->rule)
		snprintf(by, sizeof(by), " by rule %u", ev->rule);
	else if (ev->service)
		snprintf(by, sizeof(by), " by service slot %u", ev->service - 1);
	/* "dropped_rate udp from 198.51.100.7 to port 53 on eth0 by rule 1 (class normal)" */
	snprintf(buf, len, "%s %s from %s%s on %s%s (class %s)",
		 ev->outcome < SLUICE_OUTCOME_COUNT ? outcome_keys[ev->outcome] : "unknown",
		 proto ? proto : "ip", src, port, ifname, by, class_name(ev->class));
}

int events_totals_read(const struct state *st, struct events_totals *out)
{
	int cpus = libbpf_num_possible_cpus();
	struct sluice_events_state shared;
	__u32 zero = 0;
	__u64 *skipped;

	if (cpus <= 0) {
		errno = -cpus;
		return -1;
	}
	skipped = calloc((size_t)cpus, sizeof(*skipped));
	if (!skipped)
		return -1;
	if (bpf_map_lookup_elem(st->events_state, &zero, &shared) ||
	    bpf_map_lookup_elem(st->events_skipped, &zero, skipped)) {
		free(skipped);
		return -1;
	}
	out->sent = shared.sent;
	out->lost = shared.lost;
	out->suppressed = 0;
	for (int cpu = 0; cpu < cpus; cpu++)
		out->suppressed += skipped[cpu];
	free(skipped);
	return 0;
}

/*
 * What print_event() returns once --count events are printed. Negative: with
 * libbpf 1.1, only an error stops ring_buffer__poll() (the record it was
 * called for is consumed, the ones after it are left in the ring); a
 * positive return does not stop it, and every waiting event was printed.
 */
#define EVENTS_ENOUGH (-ECANCELED)

struct follow {
	const struct cli *cli;
	long long left;		/* events still to print; -1: no end */
};

static int print_event(void *ctx, void *data, size_t size)
{
	struct follow *f = ctx;
	char line[256];

	if (size < sizeof(struct sluice_event))
		return 0;
	if (f->cli->json) {
		cli_print_json(event_json(data));
	} else {
		event_text(data, line, sizeof(line));
		printf("%.6f %s\n", ((const struct sluice_event *)data)->time_ns / 1e9, line);
	}
	fflush(stdout);
	if (f->left > 0 && --f->left == 0)
		return EVENTS_ENOUGH;
	return 0;
}

static volatile sig_atomic_t stop_events;
static void on_stop(int sig)
{
	(void)sig;
	stop_events = 1;
}

int cmd_events(const struct cli *cli, int argc, char **argv)
{
	static const struct option options[] = {
		{ "count", required_argument, NULL, 'c' },
		{ "timeout", required_argument, NULL, 't' },
		{},
	};
	const char *count_arg = NULL, *timeout_arg = NULL;
	struct follow f = { .cli = cli, .left = -1 };
	struct ring_buffer *ring = NULL;
	char err[SLUICE_ERR_LEN];
	__u64 count, timeout_ms = 0, deadline_ns = 0;
	struct state st;
	int opt, ret = 0, n;

	while ((opt = cli_getopt(cli, "events", argc, argv, "", options)) != -1) {
		if (opt == -2 || cli_option_once(cli, opt == 'c' ? &count_arg : &timeout_arg, optarg,
						 opt == 'c' ? "--count" : "--timeout"))
			return 1;
	}
	if (optind != argc)
		return cli_fail(cli, "events takes only options");
	if (count_arg) {
		if (parse_count("--count", count_arg, 1, 1000000000, &count, err, sizeof(err)))
			return cli_fail(cli, "%s", err);
		f.left = (long long)count;
	}
	if (timeout_arg && parse_duration_ms("--timeout", timeout_arg, 1, 86400000, &timeout_ms,
					     err, sizeof(err)))
		return cli_fail(cli, "%s", err);
	if (state_open(&st, cli->pin_root, STATE_READ, err, sizeof(err)))
		return cli_fail(cli, "%s", err);
	ring = ring_buffer__new(st.events, print_event, &f, NULL);
	if (!ring) {
		ret = cli_fail(cli, "cannot read the event ring: %s", state_strerror(errno));
		goto out;
	}
	signal(SIGINT, on_stop);
	signal(SIGTERM, on_stop);
	/* A deadline, not a count of polls: a poll returns early whenever events come. */
	if (timeout_ms)
		deadline_ns = controller_now_ns() + timeout_ms * 1000000ull;
	while (!stop_events) {
		n = ring_buffer__poll(ring, 100);
		if (f.left == 0)
			break;
		if (n < 0 && n != -EINTR) {
			ret = cli_fail(cli, "cannot read the event ring: %s", state_strerror(-n));
			break;
		}
		if (deadline_ns && controller_now_ns() >= deadline_ns)
			break;
	}
out:
	ring_buffer__free(ring);
	state_close(&st);
	return ret;
}
