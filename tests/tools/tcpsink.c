// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * tcpsink: a TCP server for the end-to-end tests that accepts every
 * connection and reads everything sent on it.
 *
 *   tcpsink -p PORT -d SECONDS [-r READY_FILE]
 *
 * One dual-stack listening socket on [::]:PORT (backlog 4096). It runs until
 * SECONDS elapse or SIGTERM/SIGINT, then prints one JSON line:
 *   {"accepted": N, "bytes": B, "open": O}
 * READY_FILE is created once the socket listens.
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

int main(int argc, char **argv)
{
	struct pollfd fds[MAX_CONNECTIONS + 1];
	const char *ready = NULL;
	double seconds = 0;
	unsigned long accepted = 0;
	unsigned long long bytes = 0;
	int port = 0, opt, nfds = 1, one = 1, zero = 0;
	struct sockaddr_in6 addr = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_ANY_INIT };
	struct sigaction sa = { .sa_handler = on_signal };
	int64_t end;
	char buf[65536];

	while ((opt = getopt(argc, argv, "p:d:r:")) != -1) {
		if (opt == 'p')
			port = atoi(optarg);
		else if (opt == 'd')
			seconds = atof(optarg);
		else if (opt == 'r')
			ready = optarg;
		else
			return 2;
	}
	if (port <= 0 || port > 65535 || seconds <= 0 || seconds > MAX_SECONDS) {
		fprintf(stderr, "usage: tcpsink -p PORT -d SECONDS [-r READY_FILE]\n");
		return 2;
	}
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	fds[0].fd = socket(AF_INET6, SOCK_STREAM | SOCK_NONBLOCK, 0);
	addr.sin6_port = htons(port);
	if (fds[0].fd < 0 ||
	    setsockopt(fds[0].fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    setsockopt(fds[0].fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero)) ||
	    bind(fds[0].fd, (struct sockaddr *)&addr, sizeof(addr)) || listen(fds[0].fd, 4096)) {
		perror("tcpsink: listen");
		return 1;
	}
	fds[0].events = POLLIN;
	if (ready)
		close(open(ready, O_CREAT | O_WRONLY, 0644));

	end = now_ns() + (int64_t)(seconds * NS_PER_SEC);
	while (!stop && now_ns() < end) {
		int n = poll(fds, nfds, 50);

		if (n < 0 && errno != EINTR)
			break;
		if (n <= 0)
			continue;
		if (fds[0].revents & POLLIN) {
			int fd;

			while ((fd = accept4(fds[0].fd, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
				accepted++;
				if (nfds == MAX_CONNECTIONS + 1) {
					close(fd);	/* count it, but keep no more open */
					continue;
				}
				fds[nfds].fd = fd;
				fds[nfds].events = POLLIN;
				fds[nfds].revents = 0;
				nfds++;
			}
		}
		for (int i = 1; i < nfds; i++) {
			ssize_t got;

			if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			while ((got = read(fds[i].fd, buf, sizeof(buf))) > 0)
				bytes += (unsigned long long)got;
			if (got == 0 || (got < 0 && errno != EAGAIN)) {
				close(fds[i].fd);
				fds[i] = fds[--nfds];
				i--;
			}
		}
	}
	printf("{\"accepted\": %lu, \"bytes\": %llu, \"open\": %d}\n", accepted, bytes, nfds - 1);
	return 0;
}
