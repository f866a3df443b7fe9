// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * httpd: an HTTP/1.0 backend with a real capacity, for the end-to-end tests
 * of the circuit breaker and the adaptive concurrency limits.
 *
 *   httpd --port P [--addr A] [--workers N] [--service-ms MS] [--spread-ms S]
 *         [--backlog N] [--control FILE] [--mode MODE]
 *
 * A fixed pool of N worker threads (default 4) shares one listening socket
 * on A:P (default 0.0.0.0; an IPv6 literal listens on IPv6 only). Each
 * worker loops: accept(), read the request up to its blank line (at most
 * 8 KiB, within 3 s), do the work, answer, close. The work is a sleep of
 * --service-ms (default 10), so the server serves at most N / service time
 * requests a second and the rest wait in the accept queue (--backlog,
 * default 128), as behind a real backend's thread pool. --spread-ms S
 * (default 0) makes each request's time uniform in [MS - S, MS + S], as a
 * real backend's varies: with every request the same length, workers that
 * start together stay in step and a queued request waits a whole service
 * time far more often than behind any real pool.
 *
 * The mode, given at start with --mode and switched at run time by writing
 * it to the control file (`echo 'slow 60' > FILE`; polled every 10 ms, an
 * empty or unchanged file changes nothing; a file that exists at start
 * overrides --mode with what it says):
 *   ok        200 after the service time
 *   fail      500 at once, no service time
 *   hang      the request is read and never answered: the worker stays busy
 *             until the mode changes away from hang, then closes the
 *             connection WITHOUT an answer (the client has given up long
 *             before; an answer then would be a lie about latency)
 *   slow MS   200 after MS instead of the service time
 * The mode applies to a request when its reading is done. A request whose
 * client has already reset the connection (loadgen resets what it gives up
 * on) is dropped then, without its service time, as servers that check for
 * an aborted client do: requests that timed out while queued behind a hang
 * do not delay the recovery. A client that gives up during the service time
 * still costs all of it. Each change is
 * logged on stderr ("httpd: mode slow 60"), so a test can wait for it. A
 * request that is incomplete, too large or not a GET/HEAD/POST line gets a
 * 400.
 *
 * Once listening it prints "httpd: listening on ADDR:PORT, N workers, S ms"
 * on stdout. SIGINT or SIGTERM stop it: work in progress is abandoned, and
 * one JSON line of counts goes to stderr:
 *   {"status_200": N, "status_400": N, "status_500": N, "hung": N,
 *    "client_gone": N, "read_timeout": N, "abandoned": N}
 * hung: closed unanswered after a hang; client_gone: the client reset or
 * closed before its request was worked on or its answer written; read_timeout: no full request
 * within 3 s; abandoned: in progress when the server stopped.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tool.h"

#define MAX_WORKERS 1024
#define MAX_REQUEST 8192
#define READ_TIMEOUT_NS (3 * NS_PER_SEC)
#define CONTROL_EVERY_NS (10 * 1000000LL)
#define SLICE_NS (10 * 1000000LL)	/* how often a waiting worker looks at stop and the mode */
#define MAX_MS 3600000.0

enum mode { MODE_OK, MODE_FAIL, MODE_HANG, MODE_SLOW };

/* The mode and slow's milliseconds in one word, so a worker reads both at once. */
static _Atomic uint64_t mode_word;

static uint64_t make_mode(enum mode m, uint32_t ms) { return (uint64_t)ms << 8 | m; }
static enum mode mode_of(uint64_t w) { return (enum mode)(w & 0xff); }
static uint32_t ms_of(uint64_t w) { return (uint32_t)(w >> 8); }

enum counter { C_200, C_400, C_500, C_HUNG, C_GONE, C_READ_TIMEOUT, C_ABANDONED, C_MAX };
static const char *const counter_names[C_MAX] = {
	"status_200", "status_400", "status_500", "hung", "client_gone", "read_timeout",
	"abandoned",
};
static _Atomic unsigned long counters[C_MAX];

static int listen_fd = -1;
static int service_ms = 10;
static int spread_ms;

/* This request's service time in ms: service_ms, spread uniformly by spread_ms. */
static long request_ms(void)
{
	static _Thread_local unsigned int seed;

	if (!spread_ms)
		return service_ms;
	if (!seed)
		seed = (unsigned int)now_ns() | 1;
	return service_ms - spread_ms + (long)(rand_r(&seed) % (unsigned int)(2 * spread_ms + 1));
}
static const char *control_path;

static void count(enum counter c)
{
	atomic_fetch_add(&counters[c], 1);
}

static bool stopping(void)
{
	return stop;
}

/* MODE as text ("ok", "fail", "hang", "slow 60") into a mode word. 0, or -1 if it is none. */
static int parse_mode(const char *text, uint64_t *w)
{
	char word[16];
	double ms;
	int used = 0;

	if (sscanf(text, " %15s %n", word, &used) != 1)
		return -1;
	text += used;
	if (!strcmp(word, "slow")) {
		char *end;

		ms = strtod(text, &end);
		if (end == text || !(ms >= 0 && ms <= MAX_MS))
			return -1;
		while (*end == ' ' || *end == '\t' || *end == '\n' || *end == '\r')
			end++;
		if (*end)
			return -1;
		*w = make_mode(MODE_SLOW, (uint32_t)ms);
		return 0;
	}
	if (*text)
		return -1;
	if (!strcmp(word, "ok"))
		*w = make_mode(MODE_OK, 0);
	else if (!strcmp(word, "fail"))
		*w = make_mode(MODE_FAIL, 0);
	else if (!strcmp(word, "hang"))
		*w = make_mode(MODE_HANG, 0);
	else
		return -1;
	return 0;
}

static void log_mode(uint64_t w)
{
	if (mode_of(w) == MODE_SLOW)
		fprintf(stderr, "httpd: mode slow %u\n", ms_of(w));
	else
		fprintf(stderr, "httpd: mode %s\n",
			mode_of(w) == MODE_OK ? "ok" : mode_of(w) == MODE_FAIL ? "fail" : "hang");
	fflush(stderr);
}

/* Re-reads the control file every 10 ms; a change of its content sets the mode. */
static void *control_loop(void *arg)
{
	char last[64] = "", text[64];
	bool missing_said = false;

	(void)arg;
	while (!stopping()) {
		int fd = open(control_path, O_RDONLY | O_CLOEXEC);
		ssize_t n = -1;

		if (fd >= 0) {
			n = read(fd, text, sizeof(text) - 1);
			close(fd);
			missing_said = false;
		} else if (!missing_said) {
			fprintf(stderr, "httpd: cannot read %s: %s (mode unchanged)\n", control_path,
				strerror(errno));
			missing_said = true;
		}
		/* Empty: caught between the truncation and the write of `echo WORD > FILE`. */
		if (n > 0) {
			text[n] = '\0';
			if (strcmp(text, last) != 0) {
				uint64_t w;

				snprintf(last, sizeof(last), "%s", text);
				if (parse_mode(text, &w) == 0) {
					atomic_store(&mode_word, w);
					log_mode(w);
				} else {
					fprintf(stderr, "httpd: ignoring control '%.*s': expected ok, fail, "
						"hang or slow MS\n", (int)strcspn(text, "\n"), text);
				}
			}
		}
		sleep_until_ns(now_ns() + CONTROL_EVERY_NS);
	}
	return NULL;
}

/* Sleeps until T, in slices that look at stop. False if the server is stopping. */
static bool work_until(int64_t t)
{
	for (;;) {
		int64_t now = now_ns();

		if (stopping())
			return false;
		if (now >= t)
			return true;
		sleep_until_ns(t - now > SLICE_NS ? now + SLICE_NS : t);
	}
}

enum read_result { READ_DONE, READ_BAD, READ_GONE, READ_TIMEOUT, READ_STOPPED };

/* Reads the request up to its blank line, within READ_TIMEOUT_NS. */
static enum read_result read_request(int fd, char *buf, size_t size)
{
	int64_t deadline = now_ns() + READ_TIMEOUT_NS;
	size_t have = 0;

	for (;;) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		ssize_t got;
		int64_t left = deadline - now_ns();

		if (stopping())
			return READ_STOPPED;
		if (left <= 0)
			return READ_TIMEOUT;
		if (poll(&p, 1, left > SLICE_NS ? (int)(SLICE_NS / 1000000) : (int)(left / 1000000) + 1) <= 0)
			continue;
		got = recv(fd, buf + have, size - 1 - have, 0);
		if (got == 0 || (got < 0 && errno != EINTR && errno != EAGAIN))
			return READ_GONE;
		if (got < 0)
			continue;
		have += (size_t)got;
		buf[have] = '\0';
		if (strstr(buf, "\r\n\r\n") || strstr(buf, "\n\n"))
			break;
		if (have == size - 1)
			return READ_BAD;
	}
	if (strncmp(buf, "GET ", 4) && strncmp(buf, "HEAD ", 5) && strncmp(buf, "POST ", 5))
		return READ_BAD;
	return READ_DONE;
}

/*
 * True if the client reset the connection while the request waited in the
 * accept queue: its request is still readable, but nobody will read an
 * answer, so no worker spends its service time on it. Only a reset counts:
 * a FIN may be a client that half-closed after sending, still reading.
 */
static bool client_gone(int fd)
{
	struct pollfd p = { .fd = fd };

	return poll(&p, 1, 0) > 0 && (p.revents & (POLLHUP | POLLERR));
}

/* Writes the whole answer. False if the client has gone (reset or closed). */
static bool answer(int fd, int status, const char *reason, const char *body)
{
	char response[256];
	int len = snprintf(response, sizeof(response),
			   "HTTP/1.0 %d %s\r\nContent-Type: text/plain\r\nContent-Length: %zu\r\n"
			   "Connection: close\r\n\r\n%s",
			   status, reason, strlen(body), body);
	int off = 0;

	while (off < len) {
		ssize_t n = send(fd, response + off, (size_t)(len - off), MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		off += (int)n;
	}
	return true;
}

static void serve(int fd)
{
	char request[MAX_REQUEST];
	uint64_t w;

	switch (read_request(fd, request, sizeof(request))) {
	case READ_DONE:
		break;
	case READ_BAD:
		count(answer(fd, 400, "Bad Request", "bad request\n") ? C_400 : C_GONE);
		return;
	case READ_GONE:
		count(C_GONE);
		return;
	case READ_TIMEOUT:
		count(C_READ_TIMEOUT);
		return;
	case READ_STOPPED:
		count(C_ABANDONED);
		return;
	}
	if (client_gone(fd)) {
		count(C_GONE);
		return;
	}
	w = atomic_load(&mode_word);
	switch (mode_of(w)) {
	case MODE_FAIL:
		count(answer(fd, 500, "Internal Server Error", "error\n") ? C_500 : C_GONE);
		return;
	case MODE_HANG:
		while (mode_of(atomic_load(&mode_word)) == MODE_HANG) {
			if (!work_until(now_ns() + SLICE_NS)) {
				count(C_ABANDONED);
				return;
			}
		}
		count(C_HUNG);
		return;
	case MODE_OK:
	case MODE_SLOW:
		if (!work_until(now_ns() + (mode_of(w) == MODE_SLOW ? (long)ms_of(w) : request_ms()) *
					     1000000LL)) {
			count(C_ABANDONED);
			return;
		}
		count(answer(fd, 200, "OK", "ok\n") ? C_200 : C_GONE);
		return;
	}
}

static void *worker_loop(void *arg)
{
	(void)arg;
	while (!stopping()) {
		int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED || errno == EMFILE ||
			    errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
				if (errno != EINTR && errno != ECONNABORTED)
					sleep_until_ns(now_ns() + SLICE_NS);
				continue;
			}
			break;	/* EINVAL: the socket was shut down, the server is stopping */
		}
		serve(fd);
		close(fd);
	}
	return NULL;
}

static void usage(void)
{
	fprintf(stderr, "usage: httpd --port P [--addr A] [--workers N] [--service-ms MS] "
			"[--spread-ms S] [--backlog N] [--control FILE] [--mode ok|fail|hang|'slow MS']\n");
	exit(2);
}

int main(int argc, char **argv)
{
	static const struct option options[] = {
		{ "port", required_argument, NULL, 'p' },
		{ "addr", required_argument, NULL, 'a' },
		{ "workers", required_argument, NULL, 'w' },
		{ "service-ms", required_argument, NULL, 's' },
		{ "spread-ms", required_argument, NULL, 'S' },
		{ "backlog", required_argument, NULL, 'b' },
		{ "control", required_argument, NULL, 'c' },
		{ "mode", required_argument, NULL, 'm' },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	static pthread_t workers[MAX_WORKERS];
	const char *addr = "0.0.0.0";
	int port = 0, nworkers = 4, backlog = 128, opt, one = 1, err;
	struct sigaction sa = { .sa_handler = on_signal };
	struct sockaddr_storage ss;
	socklen_t ss_len;
	sigset_t block, old;
	pthread_t control;
	char name[INET6_ADDRSTRLEN + 8];
	uint64_t w = make_mode(MODE_OK, 0);

	while ((opt = getopt_long(argc, argv, "", options, NULL)) != -1) {
		switch (opt) {
		case 'p': port = (int)option_number("httpd", "--port", optarg, 1, 65535, true); break;
		case 'a': addr = optarg; break;
		case 'w': nworkers = (int)option_number("httpd", "--workers", optarg, 1, MAX_WORKERS,
								  true);
			  break;
		case 's': service_ms = (int)option_number("httpd", "--service-ms", optarg, 0, MAX_MS,
							  true);
			  break;
		case 'S': spread_ms = (int)option_number("httpd", "--spread-ms", optarg, 0, MAX_MS, true);
			  break;
		case 'b': backlog = (int)option_number("httpd", "--backlog", optarg, 1, 65535, true); break;
		case 'c': control_path = optarg; break;
		case 'm':
			if (parse_mode(optarg, &w)) {
				fprintf(stderr, "httpd: invalid --mode '%s': expected ok, fail, hang or "
					"'slow MS'\n", optarg);
				return 2;
			}
			break;
		default: usage();
		}
	}
	if (optind != argc) {
		fprintf(stderr, "httpd: unexpected argument '%s'\n", argv[optind]);
		return 2;
	}
	if (!port) {
		fprintf(stderr, "httpd: --port is required\n");
		return 2;
	}
	if (spread_ms > service_ms) {
		fprintf(stderr, "httpd: invalid --spread-ms %d: more than --service-ms %d\n", spread_ms,
			service_ms);
		return 2;
	}
	if (parse_dest(addr, port, &ss, &ss_len)) {
		fprintf(stderr, "httpd: invalid --addr '%s': expected an IPv4 or IPv6 address\n", addr);
		return 2;
	}
	atomic_store(&mode_word, w);

	listen_fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (listen_fd < 0 || setsockopt(listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    (ss.ss_family == AF_INET6 &&
	     setsockopt(listen_fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one))) ||
	    bind(listen_fd, (struct sockaddr *)&ss, ss_len) || listen(listen_fd, backlog)) {
		fprintf(stderr, "httpd: cannot listen on %s port %d: %s\n", addr, port,
			strerror(errno));
		return 1;
	}

	/*
	 * Only the main thread takes SIGINT and SIGTERM (in sigsuspend below);
	 * the threads inherit the blocked mask. A client that resets cannot
	 * kill us: SIGPIPE is ignored and every send has MSG_NOSIGNAL.
	 */
	signal(SIGPIPE, SIG_IGN);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	pthread_sigmask(SIG_BLOCK, &block, &old);
	for (int i = 0; i < nworkers; i++) {
		err = pthread_create(&workers[i], NULL, worker_loop, NULL);
		if (err) {
			fprintf(stderr, "httpd: cannot start worker %d: %s\n", i, strerror(err));
			return 1;
		}
	}
	if (control_path) {
		err = pthread_create(&control, NULL, control_loop, NULL);
		if (err) {
			fprintf(stderr, "httpd: cannot start the control thread: %s\n", strerror(err));
			return 1;
		}
	}

	format_addr_port(&ss, name, sizeof(name));
	printf("httpd: listening on %s, %d workers, %d ms\n", name, nworkers, service_ms);
	fflush(stdout);

	while (!stop)
		sigsuspend(&old);

	/* Wakes the workers blocked in accept() (it then fails with EINVAL). */
	shutdown(listen_fd, SHUT_RDWR);
	for (int i = 0; i < nworkers; i++)
		pthread_join(workers[i], NULL);
	if (control_path)
		pthread_join(control, NULL);
	close(listen_fd);

	fputc('{', stderr);
	for (int c = 0; c < C_MAX; c++)
		fprintf(stderr, "%s\"%s\": %lu", c ? ", " : "", counter_names[c],
			atomic_load(&counters[c]));
	fputs("}\n", stderr);
	return 0;
}
