// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * udpflood: a paced UDP sender for the end-to-end tests.
 *
 *   udpflood -t DEST [-t DEST6] -p PORT -d SECONDS [-n COUNT] [-l BYTES]
 *            [-b BURST] SRC:RATE...
 *
 * Each SRC:RATE is one flow: a socket bound to the source address SRC
 * (IPv4 or IPv6, which must be on a local interface; for IPv6 the last ':'
 * separates the rate) sending RATE packets per second to DEST:PORT, where
 * DEST is the destination of the flow's family (give -t once per family).
 *
 * Packet k of a flow is due at start + k / RATE (absolute deadlines, slept
 * to with clock_nanosleep(TIMER_ABSTIME), so pacing does not drift). A flow
 * that falls behind catches up in bursts of at most BURST packets (default
 * 2) and skips the deadlines it missed beyond that, so no window of any
 * length carries more than RATE * window + BURST packets: a sender that
 * was descheduled never floods to make up. Skipped deadlines are reported.
 *
 * Every flow stops after SECONDS, or after COUNT packets, or on SIGINT or
 * SIGTERM, and then one JSON line per flow goes to stdout:
 *   {"source": "198.18.0.1", "rate": 400, "sent": 2400, "failed": 0, "skipped": 0}
 * "sent" counts datagrams the kernel accepted. IP_RECVERR is on, so a
 * datagram the local device dropped (a full veth ring) fails with ENOBUFS
 * and is counted in "failed", never in "sent".
 *
 * The payload is "sluice-test SRC SEQ", padded to BYTES (default 64).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "tool.h"

#define MAX_FLOWS 256
#define MAX_RATE 1000000.0		/* packets per second, per flow */
#define MIN_PAYLOAD 32
#define MAX_PAYLOAD 1400
#define BIND_RETRY_NS 3000000000LL	/* an IPv6 address may still be tentative */

struct flow {
	struct sockaddr_storage src;
	socklen_t src_len;
	char name[INET6_ADDRSTRLEN];
	double rate;
	int fd;
	uint64_t k;		/* index of the next deadline */
	uint64_t sent, failed, skipped;
	bool done;
};


static void usage(void)
{
	fprintf(stderr,
		"usage: udpflood -t DEST [-t DEST6] -p PORT -d SECONDS [-n COUNT] [-l BYTES] "
		"[-b BURST] SRC:RATE...\n");
	exit(2);
}

static void die(const char *fmt, const char *arg)
{
	fprintf(stderr, "udpflood: ");
	fprintf(stderr, fmt, arg);
	fputc('\n', stderr);
	exit(1);
}

/* Parses an address without a port into a sockaddr. */
static int parse_addr(const char *text, struct sockaddr_storage *ss, socklen_t *len)
{
	struct sockaddr_in *v4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6 *v6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	if (inet_pton(AF_INET, text, &v4->sin_addr) == 1) {
		v4->sin_family = AF_INET;
		*len = sizeof(*v4);
		return 0;
	}
	if (inet_pton(AF_INET6, text, &v6->sin6_addr) == 1) {
		v6->sin6_family = AF_INET6;
		*len = sizeof(*v6);
		return 0;
	}
	return -1;
}

static void addr_name(const struct sockaddr_storage *ss, char *buf, size_t len)
{
	if (ss->ss_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)ss)->sin_addr, buf, len);
	else
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)ss)->sin6_addr, buf, len);
}

static void parse_flow(const char *arg, struct flow *f)
{
	char addr[INET6_ADDRSTRLEN + 8];
	const char *colon = strrchr(arg, ':');
	size_t n;

	if (!colon || colon == arg || (n = (size_t)(colon - arg)) >= sizeof(addr))
		die("invalid flow '%s': expected SRC:RATE", arg);
	memcpy(addr, arg, n);
	addr[n] = '\0';
	if (parse_addr(addr, &f->src, &f->src_len))
		die("invalid flow '%s': the source is not an IPv4 or IPv6 address", arg);
	f->rate = option_number("udpflood", "rate", colon + 1, 0.001, MAX_RATE, false);
	addr_name(&f->src, f->name, sizeof(f->name));
	f->fd = -1;
}

/* A socket bound to the flow's source; retries while an IPv6 address is tentative. */
static void open_flow(struct flow *f)
{
	int64_t give_up = now_ns() + BIND_RETRY_NS;
	int one = 1, family = f->src.ss_family;

	f->fd = socket(family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (f->fd < 0)
		die("socket: %s", strerror(errno));
	/* Local drops (ENOBUFS) are reported to us instead of hidden. */
	if (family == AF_INET)
		setsockopt(f->fd, IPPROTO_IP, IP_RECVERR, &one, sizeof(one));
	else
		setsockopt(f->fd, IPPROTO_IPV6, IPV6_RECVERR, &one, sizeof(one));
	while (bind(f->fd, (struct sockaddr *)&f->src, f->src_len)) {
		if (errno != EADDRNOTAVAIL || now_ns() > give_up) {
			fprintf(stderr, "udpflood: cannot bind to %s: %s\n", f->name,
				strerror(errno));
			exit(1);
		}
		usleep(10000);
	}
}

static int64_t deadline(const struct flow *f, int64_t start)
{
	return start + (int64_t)((double)f->k * NS_PER_SEC / f->rate);
}

static void send_one(struct flow *f, const struct sockaddr_storage *dst, socklen_t dst_len,
		     char *payload, size_t len)
{
	char err_buf[256];
	int n = snprintf(payload, len, "sluice-test %s %llu ", f->name,
			 (unsigned long long)f->sent);

	if (n > 0 && (size_t)n < len)
		memset(payload + n, '.', len - (size_t)n);
	if (sendto(f->fd, payload, len, 0, (const struct sockaddr *)dst, dst_len) == (ssize_t)len) {
		f->sent++;
		return;
	}
	f->failed++;
	/* An ICMP error may be queued under IP_RECVERR: drain it so it doesn't pile up. */
	while (recv(f->fd, err_buf, sizeof(err_buf), MSG_ERRQUEUE | MSG_DONTWAIT) >= 0)
		;
}

int main(int argc, char **argv)
{
	struct sockaddr_storage dst4 = {}, dst6 = {};
	socklen_t dst4_len = 0, dst6_len = 0;
	double seconds = 0, burst = 2, count = 0;
	static struct flow flows[MAX_FLOWS];
	char payload[MAX_PAYLOAD];
	size_t payload_len = 64;
	int nflows = 0, opt, port = 0;
	int64_t start, end;
	struct sigaction sa = { .sa_handler = on_signal };

	while ((opt = getopt(argc, argv, "t:p:d:n:l:b:")) != -1) {
		struct sockaddr_storage ss;
		socklen_t len;

		switch (opt) {
		case 't':
			if (parse_addr(optarg, &ss, &len))
				die("invalid destination '%s'", optarg);
			if ((ss.ss_family == AF_INET && dst4_len) ||
			    (ss.ss_family == AF_INET6 && dst6_len))
				die("'-t %s': one destination per address family", optarg);
			if (ss.ss_family == AF_INET) {
				dst4 = ss;
				dst4_len = len;
			} else {
				dst6 = ss;
				dst6_len = len;
			}
			break;
		case 'p':
			port = (int)option_number("udpflood", "port", optarg, 1, 65535, false);
			break;
		case 'd':
			seconds = option_number("udpflood", "duration", optarg, 0.001, MAX_SECONDS, false);
			break;
		case 'n':
			count = option_number("udpflood", "count", optarg, 1, 1e12, false);
			break;
		case 'l':
			payload_len = (size_t)option_number("udpflood", "length", optarg, MIN_PAYLOAD,
							    MAX_PAYLOAD, false);
			break;
		case 'b':
			burst = option_number("udpflood", "burst", optarg, 1, 1000, false);
			break;
		default:
			usage();
		}
	}
	if (!port || seconds <= 0 || optind == argc || argc - optind > MAX_FLOWS)
		usage();
	((struct sockaddr_in *)&dst4)->sin_port = htons(port);
	((struct sockaddr_in6 *)&dst6)->sin6_port = htons(port);

	for (int i = optind; i < argc; i++) {
		struct flow *f = &flows[nflows++];

		parse_flow(argv[i], f);
		if ((f->src.ss_family == AF_INET && !dst4_len) ||
		    (f->src.ss_family == AF_INET6 && !dst6_len))
			die("flow '%s' has no destination of its family (-t)", argv[i]);
		open_flow(f);
	}

	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	start = now_ns() + 1000000;	/* every flow starts on the same deadline */
	end = start + (int64_t)(seconds * NS_PER_SEC);
	while (!stop) {
		int64_t now = now_ns(), wake = end;
		bool active = false;

		for (int i = 0; i < nflows; i++) {
			struct flow *f = &flows[i];
			int64_t due = deadline(f, start);
			uint64_t late;

			if (f->done)
				continue;
			if (due <= now) {
				/* Deadlines already passed, this one included. */
				late = (uint64_t)((double)(now - due) * f->rate / NS_PER_SEC) + 1;
				if (late > burst) {
					f->skipped += late - (uint64_t)burst;
					f->k += late - (uint64_t)burst;
				}
			}
			while ((due = deadline(f, start)) <= now && due < end &&
			       (!count || f->sent + f->failed < count)) {
				send_one(f, f->src.ss_family == AF_INET ? &dst4 : &dst6,
					 f->src.ss_family == AF_INET ? dst4_len : dst6_len,
					 payload, payload_len);
				f->k++;
			}
			if (due >= end || (count && f->sent + f->failed >= count)) {
				f->done = true;
				continue;
			}
			active = true;
			if (due < wake)
				wake = due;
		}
		if (!active)
			break;
		struct timespec ts = { wake / NS_PER_SEC, wake % NS_PER_SEC };

		/* EINTR (a signal) ends the loop through `stop`. */
		clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
	}

	for (int i = 0; i < nflows; i++) {
		struct flow *f = &flows[i];

		printf("{\"source\": \"%s\", \"rate\": %.15g, \"sent\": %llu, \"failed\": %llu, "
		       "\"skipped\": %llu}\n",
		       f->name, f->rate, (unsigned long long)f->sent,
		       (unsigned long long)f->failed, (unsigned long long)f->skipped);
		close(f->fd);
	}
	return 0;
}
