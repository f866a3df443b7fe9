// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * tcpprobe: new TCP connections one at a time, each timed, for the
 * end-to-end tests of backpressure: was it established, refused (an RST:
 * ECONNREFUSED) or neither within WAIT_MS (a dropped SYN), and how long it
 * took to find out.
 *
 *   tcpprobe -t DEST -p PORT -n ATTEMPTS [-i INTERVAL_MS] [-w WAIT_MS] [-s]
 *
 * Established connections stay open (they fill the server's accept queue).
 * With -s, one connection is made first and sends 64 bytes every 10 ms
 * throughout: an established connection that must never be disturbed.
 * Prints one JSON line per attempt, then a summary:
 *   {"i": 3, "wall_us": W, "result": "refused", "latency_us": L}
 *   {"established": E, "refused": R, "timeout": T, "stream_sent": B, "stream_errors": X}
 * wall_us is CLOCK_REALTIME when the attempt started, to match log times.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tool.h"

#define MAX_ATTEMPTS 1000
#define STREAM_EVERY_NS (10 * 1000000LL)

static int64_t wall_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

struct stream {
	int fd;
	int64_t next;
	unsigned long long sent;
	unsigned long errors;
};

static void stream_send(struct stream *s)
{
	static const char message[64];

	if (s->fd < 0 || now_ns() < s->next)
		return;
	if (send(s->fd, message, sizeof(message), MSG_DONTWAIT | MSG_NOSIGNAL) ==
	    (ssize_t)sizeof(message))
		s->sent += sizeof(message);
	else
		s->errors++;
	s->next += STREAM_EVERY_NS;
}

/* Waits up to wait_ns for a connection's outcome, keeping the stream going. */
static const char *attempt(int fd, int64_t wait_ns, struct stream *s)
{
	int64_t deadline = now_ns() + wait_ns;

	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLOUT };
		int error = 0;
		socklen_t len = sizeof(error);

		if (poll(&p, 1, 1) > 0) {
			getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len);
			return !error ? "established" :
			       error == ECONNREFUSED ? "refused" : "error";
		}
		stream_send(s);
		if (now_ns() >= deadline || stop)
			return "timeout";
	}
}

int main(int argc, char **argv)
{
	static int open_fds[MAX_ATTEMPTS];
	struct stream stream = { .fd = -1 };
	const char *dest = NULL, *result;
	unsigned long established = 0, refused = 0, timeouts = 0;
	int port = 0, attempts = 0, interval_ms = 0, opt, nopen = 0;
	int64_t wait_ns = 1000 * 1000000LL;
	struct sockaddr_storage dst;
	bool with_stream = false;
	socklen_t dst_len;

	while ((opt = getopt(argc, argv, "t:p:n:i:w:s")) != -1) {
		switch (opt) {
		case 't': dest = optarg; break;
		case 'p': port = atoi(optarg); break;
		case 'n': attempts = atoi(optarg); break;
		case 'i': interval_ms = atoi(optarg); break;
		case 'w': wait_ns = atoll(optarg) * 1000000LL; break;
		case 's': with_stream = true; break;
		default: return 2;
		}
	}
	if (!dest || port <= 0 || port > 65535 || attempts <= 0 || attempts > MAX_ATTEMPTS ||
	    interval_ms < 0 || wait_ns <= 0 || parse_dest(dest, port, &dst, &dst_len)) {
		fprintf(stderr, "usage: tcpprobe -t DEST -p PORT -n ATTEMPTS [-i MS] [-w MS] [-s]\n");
		return 2;
	}
	signal(SIGTERM, on_signal);
	signal(SIGINT, on_signal);
	if (with_stream) {
		stream.fd = socket(dst.ss_family, SOCK_STREAM | SOCK_NONBLOCK, 0);
		if (stream.fd < 0 ||
		    (connect(stream.fd, (struct sockaddr *)&dst, dst_len) && errno != EINPROGRESS) ||
		    strcmp(attempt(stream.fd, wait_ns, &stream), "established") != 0) {
			fprintf(stderr, "tcpprobe: the stream connection did not open\n");
			return 1;
		}
		stream.next = now_ns();
	}
	for (int i = 0; i < attempts && !stop; i++) {
		int64_t started = now_ns(), wall = wall_us(), pause_until;
		int fd = socket(dst.ss_family, SOCK_STREAM | SOCK_NONBLOCK, 0);

		if (fd < 0 || (connect(fd, (struct sockaddr *)&dst, dst_len) && errno != EINPROGRESS)) {
			perror("tcpprobe: connect");
			return 1;
		}
		result = attempt(fd, wait_ns, &stream);
		printf("{\"i\": %d, \"wall_us\": %lld, \"result\": \"%s\", \"latency_us\": %lld}\n", i,
		       (long long)wall, result, (long long)((now_ns() - started) / 1000));
		fflush(stdout);
		if (strcmp(result, "established") == 0) {
			established++;
			open_fds[nopen++] = fd;
		} else {
			refused += strcmp(result, "refused") == 0;
			timeouts += strcmp(result, "timeout") == 0;
			close(fd);
		}
		pause_until = now_ns() + interval_ms * 1000000LL;
		while (now_ns() < pause_until && !stop) {
			stream_send(&stream);
			usleep(1000);
		}
	}
	stream_send(&stream);
	printf("{\"established\": %lu, \"refused\": %lu, \"timeout\": %lu, \"stream_sent\": %llu, "
	       "\"stream_errors\": %lu}\n",
	       established, refused, timeouts, stream.sent, stream.errors);
	for (int i = 0; i < nopen; i++)
		close(open_fds[i]);
	if (stream.fd >= 0)
		close(stream.fd);
	return 0;
}
