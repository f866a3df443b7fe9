// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * tcpstall: a TCP server that stops calling accept(), for the end-to-end
 * tests of accept-queue backpressure: its queue fills as a real
 * overloaded service's does.
 *
 *   tcpstall -p PORT -b BACKLOG [-a FIRST] -d SECONDS [-r READY_FILE]
 *
 * One dual-stack socket on [::]:PORT listening with BACKLOG. It accepts the
 * FIRST connections (default 0), reading whatever they send, then stalls:
 * later connections wait in the accept queue. SIGUSR1 drains the queue and
 * keeps accepting; SIGUSR2 stalls again. Accepted connections stay open and
 * are read. At the end (SECONDS, or SIGTERM) it prints one JSON line:
 *   {"accepted": N, "bytes": B}
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tool.h"

#define MAX_CONNECTIONS 1000

static volatile sig_atomic_t accepting;

static void on_usr(int sig)
{
	accepting = sig == SIGUSR1;
}

int main(int argc, char **argv)
{
	struct pollfd fds[MAX_CONNECTIONS + 1];
	struct sockaddr_in6 addr = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_ANY_INIT };
	struct sigaction sa = { .sa_handler = on_signal }, usr = { .sa_handler = on_usr };
	unsigned long accepted = 0, first = 0;
	unsigned long long bytes = 0;
	int port = 0, backlog = -1, opt, nfds = 1, one = 1, zero = 0;
	const char *ready = NULL;
	double seconds = 0;
	char buf[65536];
	int64_t end;

	while ((opt = getopt(argc, argv, "p:b:a:d:r:")) != -1) {
		switch (opt) {
		case 'p': port = atoi(optarg); break;
		case 'b': backlog = atoi(optarg); break;
		case 'a': first = strtoul(optarg, NULL, 10); break;
		case 'd': seconds = atof(optarg); break;
		case 'r': ready = optarg; break;
		default: return 2;
		}
	}
	if (port <= 0 || port > 65535 || backlog < 0 || seconds <= 0 || seconds > MAX_SECONDS) {
		fprintf(stderr, "usage: tcpstall -p PORT -b BACKLOG [-a FIRST] -d SECONDS [-r FILE]\n");
		return 2;
	}
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGUSR1, &usr, NULL);
	sigaction(SIGUSR2, &usr, NULL);
	fds[0].fd = socket(AF_INET6, SOCK_STREAM | SOCK_NONBLOCK, 0);
	addr.sin6_port = htons(port);
	if (fds[0].fd < 0 ||
	    setsockopt(fds[0].fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    setsockopt(fds[0].fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero)) ||
	    bind(fds[0].fd, (struct sockaddr *)&addr, sizeof(addr)) || listen(fds[0].fd, backlog)) {
		perror("tcpstall: listen");
		return 1;
	}
	if (ready)
		close(open(ready, O_CREAT | O_WRONLY | O_CLOEXEC, 0644));

	end = now_ns() + (int64_t)(seconds * NS_PER_SEC);
	while (!stop && now_ns() < end) {
		bool take = accepting || accepted < first;

		/* Stalled, the listener is not polled: its queue only fills. */
		fds[0].events = take ? POLLIN : 0;
		for (int i = 1; i < nfds; i++)
			fds[i].events = POLLIN;
		if (poll(fds, nfds, 10) < 0 && errno != EINTR)
			break;
		while ((accepting || accepted < first) && nfds <= MAX_CONNECTIONS) {
			int fd = accept4(fds[0].fd, NULL, NULL, SOCK_NONBLOCK);

			if (fd < 0)
				break;
			accepted++;
			fds[nfds].fd = fd;
			fds[nfds].revents = 0;
			nfds++;
		}
		for (int i = 1; i < nfds; i++) {
			ssize_t n;

			if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			n = read(fds[i].fd, buf, sizeof(buf));
			if (n > 0) {
				bytes += (unsigned long long)n;
			} else if (n == 0 || errno != EAGAIN) {
				close(fds[i].fd);
				fds[i--] = fds[--nfds];
			}
		}
	}
	printf("{\"accepted\": %lu, \"bytes\": %llu}\n", accepted, bytes);
	return 0;
}
