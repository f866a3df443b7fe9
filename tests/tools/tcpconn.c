// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * tcpconn: new TCP connections at a paced rate, beside one established
 * connection that keeps sending, for the end-to-end tests of SYN limits.
 *
 *   tcpconn -t DEST -p PORT -d SECONDS -c CONNECTIONS_PER_SECOND
 *           [-s MESSAGES_PER_SECOND] [-w WAIT_MS]
 *
 * With -s, one connection is made first (its SYN before any flood) and
 * carries 64-byte messages at that rate for the whole run. Every 1/CPS
 * seconds a new non-blocking connection is started; one that is not
 * established within WAIT_MS (default 200: long before TCP would resend a
 * dropped SYN, 1 s) is closed and counted as refused. Prints one JSON line:
 *   {"attempts": N, "established": E, "stream_sent": B, "stream_errors": X}
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
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

#define MAX_PENDING 4096

struct pending {
	int fd;
	int64_t deadline;
};

static int start_connect(const struct sockaddr_storage *dst, socklen_t len)
{
	int fd = socket(dst->ss_family, SOCK_STREAM | SOCK_NONBLOCK, 0);

	if (fd < 0)
		return -1;
	if (connect(fd, (const struct sockaddr *)dst, len) && errno != EINPROGRESS) {
		close(fd);
		return -1;
	}
	return fd;
}

int main(int argc, char **argv)
{
	static struct pending pending[MAX_PENDING];
	const char *dest = NULL;
	double seconds = 0, cps = 0, mps = 0;
	int port = 0, opt, npending = 0, stream = -1;
	int64_t wait_ns = 200 * 1000000LL, start, end, next_conn, next_msg;
	unsigned long attempts = 0, established = 0, stream_errors = 0;
	unsigned long long stream_sent = 0;
	struct sockaddr_storage dst;
	struct sigaction sa = { .sa_handler = on_signal };
	socklen_t dst_len;
	char message[64];

	while ((opt = getopt(argc, argv, "t:p:d:c:s:w:")) != -1) {
		switch (opt) {
		case 't': dest = optarg; break;
		case 'p': port = atoi(optarg); break;
		case 'd': seconds = atof(optarg); break;
		case 'c': cps = atof(optarg); break;
		case 's': mps = atof(optarg); break;
		case 'w': wait_ns = atoll(optarg) * 1000000LL; break;
		default: return 2;
		}
	}
	if (!dest || port <= 0 || port > 65535 || seconds <= 0 || seconds > MAX_SECONDS ||
	    cps <= 0 || cps > 10000 || mps < 0 || mps > 100000 || wait_ns <= 0 ||
	    parse_dest(dest, port, &dst, &dst_len)) {
		fprintf(stderr, "usage: tcpconn -t DEST -p PORT -d SECONDS -c CPS [-s MPS] [-w MS]\n");
		return 2;
	}
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	memset(message, 'x', sizeof(message));

	if (mps > 0) {
		struct pollfd p;

		stream = start_connect(&dst, dst_len);
		p.fd = stream;
		p.events = POLLOUT;
		if (stream < 0 || poll(&p, 1, 2000) != 1) {
			fprintf(stderr, "tcpconn: the stream connection did not open\n");
			return 1;
		}
	}
	start = now_ns();
	end = start + (int64_t)(seconds * NS_PER_SEC);
	next_conn = next_msg = start;
	while (!stop) {
		int64_t now = now_ns(), wake = end;
		struct pollfd pfds[MAX_PENDING];

		if (now >= end)
			break;
		if (now >= next_conn && npending < MAX_PENDING) {
			int fd = start_connect(&dst, dst_len);

			attempts++;
			if (fd >= 0)
				pending[npending++] = (struct pending){ fd, now + wait_ns };
			next_conn = start + (int64_t)(attempts * NS_PER_SEC / cps);
		}
		if (stream >= 0 && now >= next_msg) {
			if (send(stream, message, sizeof(message), MSG_DONTWAIT) == sizeof(message))
				stream_sent += sizeof(message);
			else
				stream_errors++;
			next_msg += (int64_t)(NS_PER_SEC / mps);
		}
		for (int i = 0; i < npending; i++) {
			pfds[i].fd = pending[i].fd;
			pfds[i].events = POLLOUT;
			if (pending[i].deadline < wake)
				wake = pending[i].deadline;
		}
		if (next_conn < wake)
			wake = next_conn;
		if (stream >= 0 && next_msg < wake)
			wake = next_msg;
		poll(pfds, npending, wake > now ? (int)((wake - now) / 1000000) : 0);
		now = now_ns();
		for (int i = 0; i < npending; i++) {
			int error = 0;
			socklen_t len = sizeof(error);
			bool done = false;

			if (pfds[i].revents & (POLLOUT | POLLERR | POLLHUP)) {
				getsockopt(pending[i].fd, SOL_SOCKET, SO_ERROR, &error, &len);
				if (!error)
					established++;
				done = true;
			} else if (now >= pending[i].deadline) {
				done = true;	/* not established in time: refused */
			}
			if (done) {
				close(pending[i].fd);
				pending[i] = pending[--npending];
				pfds[i] = pfds[npending];
				i--;
			}
		}
	}
	for (int i = 0; i < npending; i++)
		close(pending[i].fd);
	if (stream >= 0)
		close(stream);
	printf("{\"attempts\": %lu, \"established\": %lu, \"stream_sent\": %llu, "
	       "\"stream_errors\": %lu}\n",
	       attempts, established, stream_sent, stream_errors);
	return 0;
}
