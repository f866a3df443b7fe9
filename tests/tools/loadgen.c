// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * loadgen: a closed-loop HTTP/1.0 load generator, for the end-to-end tests
 * of the circuit breaker and the adaptive concurrency limits.
 *
 *   loadgen --to ADDR:PORT --duration SECONDS [--concurrency C] [--path PATH]
 *           [--timeout MS] [--retry-ms MS] [--source ADDR] [--log FILE]
 *
 * C clients (default 1), driven by one epoll loop, each in a loop: connect
 * to ADDR:PORT ([ADDR6]:PORT for IPv6), send "GET PATH HTTP/1.0" (default
 * path /) with a Host header, read the answer until the server closes,
 * close, and start the next request at once. Each request ends as one of:
 *   ok        a complete answer with a 2xx or 3xx status
 *   failed    any other status; an answer that is malformed or shorter than
 *             its Content-Length; a reset or a close after connecting; a
 *             connect that failed otherwise than refused (unreachable)
 *   refused   the connect was answered with an RST (ECONNREFUSED)
 *   timeout   not over within --timeout MS (default 5000) of its start,
 *             the connect included; its socket is then reset (SO_LINGER 0,
 *             so a long run of timeouts leaves no TIME_WAIT behind)
 * After a refused or failed connect, that client pauses --retry-ms (default
 * 1; 0 for none) before it tries again, so refusals in microseconds do not
 * spin. The answer is read up to the server's close, never cut at its
 * Content-Length, so the server closes first and keeps the TIME_WAIT: fast
 * runs (thousands of requests a second) cannot run out of client ports.
 * --source ADDR binds every connection's source address (its port is
 * still picked at connect, IP_BIND_ADDRESS_NO_PORT).
 *
 * Latency runs from the start of the connect to the end of the answer (ok,
 * failed) or to the refusal (refused). The run lasts SECONDS (fractions
 * allowed) or until SIGINT or SIGTERM; requests still in flight then are
 * abandoned (reset, so a server does not go on to serve them for a client
 * that is gone) and counted as unfinished. Then ONE JSON line on stdout:
 *   {"duration_s": 2.001, "concurrency": 2, "ok": 198, "failed": 0,
 *    "refused": 0, "timeouts": 0, "unfinished": 2, "throughput_rps": 98.9,
 *    "p50_ms": 20.2, "p90_ms": ..., "p99_ms": ..., "max_ms": ...,
 *    "failed_p50_ms": ..., "failed_p99_ms": ..., "failed_max_ms": ...,
 *    "refused_p50_us": ..., "refused_p99_us": ..., "refused_max_us": ...,
 *    "statuses": {"200": 198}, "samples_capped": false}
 * throughput_rps is ok / duration_s. Percentiles are nearest-rank over the
 * stored samples (p50_ms..max_ms over ok requests), null when there are
 * none. Each outcome stores at most 2,000,000 samples; past that a uniform
 * reservoir of them is kept (fixed seed) and "samples_capped" is true. The
 * maxima are always exact. "statuses" counts every complete answer by its
 * status code.
 *
 * --log FILE gets one line per finished request, in the order they finish:
 *   START_NS OUTCOME LATENCY_US
 * START_NS is CLOCK_MONOTONIC at the start of the connect, OUTCOME one of
 * ok, failed, refused, timeout.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tool.h"

#define MAX_CONCURRENCY 10000
#define MAX_PATH 1024
#define MAX_HEADER 4096		/* status line and headers of an answer */
#define MAX_SAMPLES 2000000	/* per outcome: 16 MB of int64 */
#define MAX_EVENTS 256

enum outcome { OK, FAILED, REFUSED, TIMEOUT, OUTCOMES };
static const char *const outcome_names[OUTCOMES] = { "ok", "failed", "refused", "timeout" };

enum state { IDLE, CONNECTING, SENDING, READING, PAUSED };

struct client {
	int fd;
	enum state state;
	int64_t started;	/* CLOCK_MONOTONIC ns at the start of the connect */
	int64_t wake;		/* the request's deadline, or the end of a pause */
	size_t sent;		/* of the request */
	size_t have;		/* bytes of the answer in head */
	size_t header_len;	/* 0 until the blank line was seen */
	uint64_t body;		/* bytes after the header */
	int status;
	int64_t content_length;	/* -1 when not given */
	char head[MAX_HEADER + 1];
};

/* Latency samples of one outcome, in ns: a reservoir past MAX_SAMPLES. */
struct samples {
	int64_t *v;
	size_t n, cap;
	uint64_t seen;
	int64_t max;
};

static struct samples samples[OUTCOMES];
static unsigned long long outcomes[OUTCOMES];
static unsigned long long statuses[600];
static uint64_t rng = 0x9e3779b97f4a7c15ull;

static struct sockaddr_storage dst, src;
static socklen_t dst_len, src_len;
static char request[MAX_PATH + 256];
static size_t request_len;
static int64_t timeout_ns = 5000 * 1000000LL, retry_ns = 1000000LL;
static int epfd;
static FILE *log_file;

static uint64_t next_random(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static void sample_add(struct samples *s, int64_t ns)
{
	s->seen++;
	if (ns > s->max)
		s->max = ns;
	if (s->n < MAX_SAMPLES) {
		if (s->n == s->cap) {
			size_t cap = s->cap ? s->cap * 2 : 4096;
			int64_t *v = realloc(s->v, cap * sizeof(*v));

			if (!v) {
				fprintf(stderr, "loadgen: out of memory for samples\n");
				exit(1);
			}
			s->v = v;
			s->cap = cap;
		}
		s->v[s->n++] = ns;
		return;
	}
	/* Algorithm R: every sample seen so far is kept with the same chance. */
	uint64_t j = next_random() % s->seen;

	if (j < MAX_SAMPLES)
		s->v[j] = ns;
}

static int compare_ns(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

/* Nearest rank: the smallest sample with at least P% of them at or below it. */
static int64_t percentile(const struct samples *s, double p)
{
	size_t rank = (size_t)ceil(p / 100.0 * (double)s->n);

	return s->v[rank ? rank - 1 : 0];
}

/* Prints ", "KEY": VALUE" with VALUE in units of DIV ns, or null without samples. */
static void print_stat(const char *key, const struct samples *s, double p, double div)
{
	if (!s->n)
		printf(", \"%s\": null", key);
	else
		printf(", \"%s\": %.3f", key, (double)(p >= 100 ? s->max : percentile(s, p)) / div);
}

/* Closes with an RST: the server sees the client give up, and no TIME_WAIT stays here. */
static void reset_close(int fd)
{
	struct linger reset = { .l_onoff = 1, .l_linger = 0 };

	setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset, sizeof(reset));
	close(fd);
}

static void finish(struct client *c, enum outcome o, int64_t now)
{
	int64_t latency = now - c->started;

	outcomes[o]++;
	if (o != TIMEOUT)
		sample_add(&samples[o], latency);
	if (log_file)
		fprintf(log_file, "%lld %s %lld\n", (long long)c->started, outcome_names[o],
			(long long)(latency / 1000));
	if (c->fd >= 0) {
		if (o == TIMEOUT)
			reset_close(c->fd);
		else
			close(c->fd);
		c->fd = -1;
	}
	c->state = IDLE;
	if ((o == REFUSED || (o == FAILED && c->sent == 0)) && retry_ns > 0) {
		c->state = PAUSED;
		c->wake = now + retry_ns;
	}
}

static void watch(struct client *c, int op, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.ptr = c };

	if (epoll_ctl(epfd, op, c->fd, &ev)) {
		fprintf(stderr, "loadgen: epoll_ctl: %s\n", strerror(errno));
		exit(1);
	}
}

/* Sends what is left of the request; then waits for the answer. */
static void send_request(struct client *c)
{
	while (c->sent < request_len) {
		ssize_t n = send(c->fd, request + c->sent, request_len - c->sent, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			if (c->state != SENDING)
				watch(c, EPOLL_CTL_MOD, EPOLLOUT);
			c->state = SENDING;
			return;
		}
		if (n <= 0) {
			c->sent = request_len;	/* connected: no pause before the next */
			finish(c, FAILED, now_ns());
			return;
		}
		c->sent += (size_t)n;
	}
	watch(c, EPOLL_CTL_MOD, EPOLLIN);
	c->state = READING;
}

static void start_request(struct client *c)
{
	int fd, one = 1;

	c->started = now_ns();
	c->wake = c->started + timeout_ns;
	c->sent = c->have = c->header_len = 0;
	c->body = 0;
	c->status = 0;
	c->content_length = -1;
	fd = socket(dst.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		fprintf(stderr, "loadgen: socket: %s\n", strerror(errno));
		exit(1);
	}
	c->fd = fd;
	if (src_len) {
		setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof(one));
		if (bind(fd, (struct sockaddr *)&src, src_len)) {
			fprintf(stderr, "loadgen: cannot bind the source address: %s\n",
				strerror(errno));
			exit(1);
		}
	}
	if (connect(fd, (struct sockaddr *)&dst, dst_len) == 0) {
		watch(c, EPOLL_CTL_ADD, EPOLLOUT);
		c->state = CONNECTING;
		send_request(c);
		return;
	}
	if (errno == EINPROGRESS) {
		watch(c, EPOLL_CTL_ADD, EPOLLOUT);
		c->state = CONNECTING;
		return;
	}
	finish(c, errno == ECONNREFUSED ? REFUSED : FAILED, now_ns());
}

/* The status line and Content-Length of a complete header. False if malformed. */
static bool parse_header(struct client *c)
{
	const char *line = c->head, *end = c->head + c->header_len;
	char *after;
	long status;

	if (strncmp(line, "HTTP/1.", 7) || !line[7] || line[8] != ' ')
		return false;
	status = strtol(line + 9, &after, 10);
	if (after != line + 12 || status < 100 || status > 599 ||
	    (*after != ' ' && *after != '\r' && *after != '\n'))
		return false;
	c->status = (int)status;
	while ((line = memchr(line, '\n', (size_t)(end - line))) && ++line < end) {
		if (!strncasecmp(line, "Content-Length:", 15)) {
			long long v = strtoll(line + 15, &after, 10);

			if (after == line + 15 || v < 0)
				return false;
			c->content_length = v;
		}
	}
	return true;
}

static void answer_done(struct client *c, int64_t now)
{
	bool complete = c->header_len && parse_header(c) &&
			(c->content_length < 0 || (uint64_t)c->content_length == c->body);

	if (!complete) {
		finish(c, FAILED, now);
		return;
	}
	statuses[c->status]++;
	finish(c, c->status >= 200 && c->status < 400 ? OK : FAILED, now);
}

static void read_answer(struct client *c)
{
	static char scratch[65536];

	for (;;) {
		ssize_t n;

		if (!c->header_len) {
			char *blank;

			n = recv(c->fd, c->head + c->have, MAX_HEADER - c->have, 0);
			if (n <= 0)
				goto no_data;
			c->have += (size_t)n;
			c->head[c->have] = '\0';
			blank = strstr(c->head, "\r\n\r\n");
			if (blank) {
				c->header_len = (size_t)(blank + 4 - c->head);
			} else if ((blank = strstr(c->head, "\n\n"))) {
				c->header_len = (size_t)(blank + 2 - c->head);
			} else if (c->have == MAX_HEADER) {
				finish(c, FAILED, now_ns());	/* a header we will not hold */
				return;
			}
			if (c->header_len)
				c->body = c->have - c->header_len;
			continue;
		}
		n = recv(c->fd, scratch, sizeof(scratch), 0);
		if (n <= 0)
			goto no_data;
		c->body += (uint64_t)n;
		continue;
no_data:
		if (n == 0) {
			answer_done(c, now_ns());
			return;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN)
			finish(c, FAILED, now_ns());	/* reset after connecting */
		return;
	}
}

static void on_event(struct client *c, uint32_t events)
{
	int error = 0;
	socklen_t len = sizeof(error);

	switch (c->state) {
	case CONNECTING:
		getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &error, &len);
		if (error) {
			finish(c, error == ECONNREFUSED ? REFUSED : FAILED, now_ns());
			return;
		}
		if (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))
			send_request(c);
		return;
	case SENDING:
		send_request(c);
		return;
	case READING:
		read_answer(c);
		return;
	case IDLE:
	case PAUSED:
		return;
	}
}

static void usage(void)
{
	fprintf(stderr, "usage: loadgen --to ADDR:PORT --duration SECONDS [--concurrency C] "
			"[--path PATH] [--timeout MS] [--retry-ms MS] [--source ADDR] [--log FILE]\n");
	exit(2);
}

static void invalid(const char *what, const char *text, const char *expected)
{
	fprintf(stderr, "loadgen: invalid %s '%s': expected %s\n", what, text, expected);
	exit(2);
}

int main(int argc, char **argv)
{
	static const struct option options[] = {
		{ "to", required_argument, NULL, 't' },
		{ "concurrency", required_argument, NULL, 'c' },
		{ "duration", required_argument, NULL, 'd' },
		{ "path", required_argument, NULL, 'P' },
		{ "timeout", required_argument, NULL, 'T' },
		{ "retry-ms", required_argument, NULL, 'r' },
		{ "source", required_argument, NULL, 's' },
		{ "log", required_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	const char *to = NULL, *path = "/", *source = NULL, *log_path = NULL;
	int concurrency = 1, opt;
	double seconds = 0;
	struct sigaction sa = { .sa_handler = on_signal };
	struct epoll_event events[MAX_EVENTS];
	struct client *clients;
	unsigned long long unfinished = 0;
	int64_t start, end, elapsed;
	struct rlimit files;
	bool capped = false;

	while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
		switch (opt) {
		case 't': to = optarg; break;
		case 'c':
			concurrency = (int)option_number("loadgen", "--concurrency", optarg, 1,
							 MAX_CONCURRENCY, true);
			break;
		case 'd':
			seconds = option_number("loadgen", "--duration", optarg, 0.001, MAX_SECONDS,
						false);
			break;
		case 'P': path = optarg; break;
		case 'T':
			timeout_ns = (int64_t)(option_number("loadgen", "--timeout", optarg, 1, 3600000,
							     false) * 1e6);
			break;
		case 'r':
			retry_ns = (int64_t)(option_number("loadgen", "--retry-ms", optarg, 0, 60000,
							   false) * 1e6);
			break;
		case 's': source = optarg; break;
		case 'l': log_path = optarg; break;
		default: usage();
		}
	}
	if (optind != argc) {
		fprintf(stderr, "loadgen: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	if (!to || !seconds) {
		fprintf(stderr, "loadgen: %s is required\n", !to ? "--to" : "--duration");
		return 2;
	}
	if (parse_addr_port(to, &dst, &dst_len))
		invalid("--to", to, "ADDR:PORT or [ADDR6]:PORT");
	if (path[0] != '/' || strlen(path) > MAX_PATH || strpbrk(path, " \t\r\n"))
		invalid("--path", path, "a path from '/', without spaces, at most 1024 bytes");
	if (source) {
		if (parse_dest(source, 0, &src, &src_len))
			invalid("--source", source, "an IPv4 or IPv6 address");
		if (src.ss_family != dst.ss_family)
			invalid("--source", source, "an address of the same family as --to");
	}
	request_len = (size_t)snprintf(request, sizeof(request),
				       "GET %s HTTP/1.0\r\nHost: %s\r\nUser-Agent: sluice-loadgen\r\n\r\n",
				       path, to);

	/* Each client holds one socket at a time. */
	if (!getrlimit(RLIMIT_NOFILE, &files) && files.rlim_cur < files.rlim_max) {
		files.rlim_cur = files.rlim_max;
		setrlimit(RLIMIT_NOFILE, &files);
	}
	if (!getrlimit(RLIMIT_NOFILE, &files) && files.rlim_cur < (rlim_t)concurrency + 16) {
		fprintf(stderr, "loadgen: --concurrency %d needs more open files than the limit %llu\n",
			concurrency, (unsigned long long)files.rlim_cur);
		return 1;
	}
	if (log_path) {
		log_file = fopen(log_path, "w");
		if (!log_file) {
			fprintf(stderr, "loadgen: cannot open %s: %s\n", log_path, strerror(errno));
			return 1;
		}
		setvbuf(log_file, NULL, _IOFBF, 1 << 20);
	}
	if (source) {
		/* Said once here rather than by every client. */
		int fd = socket(src.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);

		if (fd < 0 || bind(fd, (struct sockaddr *)&src, src_len)) {
			fprintf(stderr, "loadgen: cannot bind to %s: %s\n", source, strerror(errno));
			return 1;
		}
		close(fd);
	}
	clients = calloc((size_t)concurrency, sizeof(*clients));
	epfd = epoll_create1(EPOLL_CLOEXEC);
	if (!clients || epfd < 0) {
		fprintf(stderr, "loadgen: cannot start: %s\n", strerror(errno));
		return 1;
	}
	/* No SA_RESTART: a signal ends epoll_pwait2 with EINTR, and the loop on stop. */
	signal(SIGPIPE, SIG_IGN);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	start = now_ns();
	end = start + (int64_t)(seconds * NS_PER_SEC);
	for (int i = 0; i < concurrency; i++) {
		clients[i].fd = -1;
		start_request(&clients[i]);
	}
	while (!stop) {
		int64_t now = now_ns(), wake = end;
		struct timespec ts;
		int n;

		if (now >= end)
			break;
		for (int i = 0; i < concurrency; i++) {
			if (clients[i].state != IDLE && clients[i].wake < wake)
				wake = clients[i].wake;
		}
		wake = wake > now ? wake - now : 0;
		ts.tv_sec = wake / NS_PER_SEC;
		ts.tv_nsec = wake % NS_PER_SEC;
		n = epoll_pwait2(epfd, events, MAX_EVENTS, &ts, NULL);
		if (n < 0 && errno != EINTR) {
			fprintf(stderr, "loadgen: epoll_pwait2: %s\n", strerror(errno));
			return 1;
		}
		for (int i = 0; i < n; i++)
			on_event(events[i].data.ptr, events[i].events);
		now = now_ns();
		for (int i = 0; i < concurrency && now < end; i++) {
			struct client *c = &clients[i];

			if (c->state != IDLE && c->state != PAUSED && c->wake <= now)
				finish(c, TIMEOUT, now);
			if (c->state == IDLE || (c->state == PAUSED && c->wake <= now))
				start_request(c);
		}
	}
	elapsed = now_ns() - start;
	for (int i = 0; i < concurrency; i++) {
		if (clients[i].state != IDLE && clients[i].state != PAUSED)
			unfinished++;
		if (clients[i].fd >= 0)
			reset_close(clients[i].fd);
	}
	if (log_file && fclose(log_file)) {
		fprintf(stderr, "loadgen: cannot write %s: %s\n", log_path, strerror(errno));
		return 1;
	}

	for (int o = 0; o < OUTCOMES; o++) {
		if (samples[o].n)
			qsort(samples[o].v, samples[o].n, sizeof(int64_t), compare_ns);
		capped |= samples[o].seen > samples[o].n;
	}
	printf("{\"duration_s\": %.3f, \"concurrency\": %d, \"ok\": %llu, \"failed\": %llu, "
	       "\"refused\": %llu, \"timeouts\": %llu, \"unfinished\": %llu, \"throughput_rps\": %.1f",
	       (double)elapsed / NS_PER_SEC, concurrency, outcomes[OK], outcomes[FAILED],
	       outcomes[REFUSED], outcomes[TIMEOUT], unfinished,
	       (double)outcomes[OK] * NS_PER_SEC / (double)elapsed);
	print_stat("p50_ms", &samples[OK], 50, 1e6);
	print_stat("p90_ms", &samples[OK], 90, 1e6);
	print_stat("p99_ms", &samples[OK], 99, 1e6);
	print_stat("max_ms", &samples[OK], 100, 1e6);
	print_stat("failed_p50_ms", &samples[FAILED], 50, 1e6);
	print_stat("failed_p99_ms", &samples[FAILED], 99, 1e6);
	print_stat("failed_max_ms", &samples[FAILED], 100, 1e6);
	print_stat("refused_p50_us", &samples[REFUSED], 50, 1e3);
	print_stat("refused_p99_us", &samples[REFUSED], 99, 1e3);
	print_stat("refused_max_us", &samples[REFUSED], 100, 1e3);
	printf(", \"statuses\": {");
	for (int s = 100, first = 1; s < 600; s++) {
		if (statuses[s]) {
			printf("%s\"%d\": %llu", first ? "" : ", ", s, statuses[s]);
			first = 0;
		}
	}
	printf("}, \"samples_capped\": %s}\n", capped ? "true" : "false");
	for (int o = 0; o < OUTCOMES; o++)
		free(samples[o].v);
	free(clients);
	close(epfd);
	return 0;
}
