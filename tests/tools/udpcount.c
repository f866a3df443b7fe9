// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * udpcount: counts UDP datagrams per source address, for the end-to-end tests.
 *
 *   udpcount -p PORT -d SECONDS [-b RCVBUF] [-r READY_FILE]
 *
 * One dual-stack socket on [::]:PORT takes IPv4 (as IPv4-mapped addresses,
 * printed in dotted form) and IPv6. It counts until SECONDS elapse or
 * SIGTERM/SIGINT arrive, then reads what is still queued and prints one
 * JSON line:
 *   {"sources": {"198.18.0.1": 1240, "2001:db8::10": 1240}, "total": 2480,
 *    "socket_drops": 0}
 * "socket_drops" is what the kernel dropped on this socket (a full receive
 * buffer): a test that trusts the counts checks that it is 0.
 *
 * The receive buffer is RCVBUF bytes (default 32 MiB, forced past rmem_max
 * when root), which holds seconds of traffic at a few thousand packets per
 * second; datagrams are read 64 at a time with recvmmsg. Once the socket is
 * bound, READY_FILE (if given) is created, so a test can wait for it.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <linux/sock_diag.h>

#include "tool.h"

#define BATCH 64
#define SLOTS 65536		/* distinct sources counted; more go to "other" */

struct slot {
	struct in6_addr addr;
	uint64_t count;
	bool used;
};

static struct slot table[SLOTS];
static size_t used_order[SLOTS], nused;
static uint64_t total, other;

static void count(const struct in6_addr *addr)
{
	uint32_t h = 2166136261u;	/* FNV-1a */

	for (size_t i = 0; i < sizeof(*addr); i++)
		h = (h ^ addr->s6_addr[i]) * 16777619u;
	total++;
	for (size_t probe = 0; probe < SLOTS; probe++) {
		struct slot *s = &table[(h + probe) % SLOTS];

		if (!s->used) {
			if (nused >= SLOTS / 2)
				break;	/* keep probes short: the rest is "other" */
			s->used = true;
			s->addr = *addr;
			used_order[nused++] = (h + probe) % SLOTS;
		}
		if (memcmp(&s->addr, addr, sizeof(*addr)) == 0) {
			s->count++;
			return;
		}
	}
	other++;
}

/* Reads what is queued without waiting; returns datagrams read, or -1 on error. */
static int drain(int fd)
{
	struct sockaddr_in6 from[BATCH];
	struct mmsghdr msgs[BATCH];
	struct iovec iov[BATCH];
	static char bufs[BATCH][2048];
	int n;

	memset(msgs, 0, sizeof(msgs));
	for (int i = 0; i < BATCH; i++) {
		iov[i].iov_base = bufs[i];
		iov[i].iov_len = sizeof(bufs[i]);
		msgs[i].msg_hdr.msg_iov = &iov[i];
		msgs[i].msg_hdr.msg_iovlen = 1;
		msgs[i].msg_hdr.msg_name = &from[i];
		msgs[i].msg_hdr.msg_namelen = sizeof(from[i]);
	}
	n = recvmmsg(fd, msgs, BATCH, MSG_DONTWAIT, NULL);
	if (n < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -1;
	for (int i = 0; i < n; i++)
		count(&from[i].sin6_addr);
	return n;
}

static void print_result(int fd)
{
	char name[INET6_ADDRSTRLEN];
	uint32_t meminfo[SK_MEMINFO_VARS] = {};
	socklen_t len = sizeof(meminfo);
	long long drops = -1;

	if (getsockopt(fd, SOL_SOCKET, SO_MEMINFO, meminfo, &len) == 0 &&
	    len > SK_MEMINFO_DROPS * sizeof(uint32_t))
		drops = meminfo[SK_MEMINFO_DROPS];

	printf("{\"sources\": {");
	for (size_t i = 0; i < nused; i++) {
		const struct slot *s = &table[used_order[i]];

		if (IN6_IS_ADDR_V4MAPPED(&s->addr))
			inet_ntop(AF_INET, &s->addr.s6_addr[12], name, sizeof(name));
		else
			inet_ntop(AF_INET6, &s->addr, name, sizeof(name));
		printf("%s\"%s\": %llu", i ? ", " : "", name, (unsigned long long)s->count);
	}
	printf("}, \"total\": %llu, \"other\": %llu, \"socket_drops\": %lld}\n",
	       (unsigned long long)total, (unsigned long long)other, drops);
	fflush(stdout);
}

int main(int argc, char **argv)
{
	struct sockaddr_in6 addr = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_ANY_INIT };
	struct sigaction sa = { .sa_handler = on_signal };	/* no SA_RESTART */
	const char *ready_file = NULL;
	int port = 0, rcvbuf = 32 << 20, zero = 0, fd, opt;
	double seconds = 0;
	sigset_t blocked, during_poll;
	int64_t end;
	char *rest;

	while ((opt = getopt(argc, argv, "p:d:b:r:")) != -1) {
		switch (opt) {
		case 'p':
			port = (int)strtol(optarg, &rest, 10);
			if (*rest || port < 1 || port > 65535)
				port = 0;
			break;
		case 'd':
			seconds = strtod(optarg, &rest);
			if (*rest || !(seconds > 0 && seconds <= MAX_SECONDS))
				seconds = 0;
			break;
		case 'b':
			rcvbuf = (int)strtol(optarg, &rest, 10);
			if (*rest || rcvbuf < 4096)
				rcvbuf = 0;
			break;
		case 'r':
			ready_file = optarg;
			break;
		default:
			port = 0;
		}
	}
	if (!port || !seconds || !rcvbuf || optind != argc) {
		fprintf(stderr, "usage: udpcount -p PORT -d SECONDS [-b RCVBUF] [-r READY_FILE]\n");
		return 2;
	}

	fd = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		perror("udpcount: socket");
		return 1;
	}
	setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf)))
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	addr.sin6_port = htons(port);
	if (bind(fd, (struct sockaddr *)&addr, sizeof(addr))) {
		fprintf(stderr, "udpcount: cannot bind to port %d: %s\n", port, strerror(errno));
		return 1;
	}

	/* Signals are blocked except inside ppoll, so none is lost between checks. */
	sigemptyset(&blocked);
	sigaddset(&blocked, SIGINT);
	sigaddset(&blocked, SIGTERM);
	sigprocmask(SIG_BLOCK, &blocked, &during_poll);
	sigdelset(&during_poll, SIGINT);
	sigdelset(&during_poll, SIGTERM);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	if (ready_file) {
		int ready = open(ready_file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

		if (ready < 0) {
			fprintf(stderr, "udpcount: cannot create %s: %s\n", ready_file,
				strerror(errno));
			return 1;
		}
		close(ready);
	}

	end = now_ns() + (int64_t)(seconds * NS_PER_SEC);
	while (!stop) {
		int64_t left = end - now_ns();
		struct timespec timeout = { left / NS_PER_SEC, left % NS_PER_SEC };
		struct pollfd pfd = { .fd = fd, .events = POLLIN };

		if (left <= 0)
			break;
		if (ppoll(&pfd, 1, &timeout, &during_poll) < 0 && errno != EINTR) {
			perror("udpcount: ppoll");
			return 1;
		}
		while (drain(fd) == BATCH)
			;
	}
	/* What arrived before the end is still queued: count it too. */
	while (drain(fd) > 0)
		;
	print_result(fd);
	close(fd);
	return 0;
}
