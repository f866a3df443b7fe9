// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Tests of the active health probes (user/probe.c) on real sockets on
 * loopback: TCP accepted, refused and unanswered (a full accept queue drops
 * SYNs), HTTP answers from a one-shot server thread, the parser's errors,
 * and a probe created in a child's network namespace (root only; it says
 * skipped without).
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <cmocka.h>

#include "netns_testing.h"
#include "testing.h"

#include "probe.h"

#define NSEC_PER_MSEC 1000000ULL
/* Loopback answers in microseconds; this only bounds a broken test. */
#define PROBE_TIMEOUT_NS (2000 * NSEC_PER_MSEC)
/* Long enough for nothing on loopback, far shorter than the 1 s SYN retransmit. */
#define SHORT_TIMEOUT_NS (300 * NSEC_PER_MSEC)
#define SERVER_WAIT_MS 3000

#define ASSERT_FLAG(got, want, what)                                                     \
	do {                                                                             \
		if ((bool)(got) != (bool)(want))                                         \
			fail_msg("%s: got %d, want %d", what, (int)(got), (int)(want));  \
	} while (0)

/* A TCP socket on 127.0.0.1, bound to an ephemeral port, listening unless backlog < 0. */
static int open_socket(int backlog, __u16 *port)
{
	struct sockaddr_in sin = { .sin_family = AF_INET,
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sin);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0 || bind(fd, (struct sockaddr *)&sin, sizeof(sin)) ||
	    (backlog >= 0 && listen(fd, backlog)) ||
	    getsockname(fd, (struct sockaddr *)&sin, &len))
		fail_msg("cannot open a socket on 127.0.0.1: %s", strerror(errno));
	*port = ntohs(sin.sin_port);
	return fd;
}

static void parse_ok(const char *text, __u16 default_port, struct probe_target *t)
{
	char err[256] = "";

	if (probe_target_parse(text, default_port, t, err, sizeof(err)))
		fail_msg("parse '%s': %s", text, err);
}

/* Runs one probe to its outcome on the real clock, in namespace netns_fd. */
static struct probe_result run_probe(const struct probe_target *t, int netns_fd,
				     __u64 timeout_ns)
{
	struct probe_result r = { 0 };
	struct prober p;
	__u64 start = now_ns();
	int ret;

	prober_init(&p);
	if (prober_fd(&p) != -1)
		fail_msg("an idle prober has fd %d, want -1", prober_fd(&p));
	if (prober_start(&p, t, netns_fd, now_ns()))
		fail_msg("prober_start: %s", strerror(errno));
	if (prober_fd(&p) < 0)
		fail_msg("an outstanding probe has no fd");
	/* Pending probes are advanced like the controller does: poll, then prober_poll. */
	while ((ret = prober_poll(&p, now_ns(), timeout_ns, &r)) == 0) {
		struct pollfd pfd = { .fd = prober_fd(&p), .events = POLLIN | POLLOUT };

		if (now_ns() - start > timeout_ns + PROBE_TIMEOUT_NS)
			fail_msg("no outcome %llu ns after the timeout",
				 (unsigned long long)PROBE_TIMEOUT_NS);
		poll(&pfd, 1, 1);
		if (pfd.revents & POLLOUT)
			usleep(500); /* connected and waiting to read: don't spin */
	}
	if (ret != 1)
		fail_msg("prober_poll: %d (%s)", ret, strerror(errno));
	if (prober_fd(&p) != -1)
		fail_msg("a prober with its outcome has fd %d, want -1", prober_fd(&p));
	return r;
}

static void test_tcp_accepted(void **state)
{
	struct probe_target t;
	struct probe_result r;
	__u16 port;
	int listener = open_socket(16, &port);

	(void)state;
	parse_ok("tcp", port, &t);
	r = run_probe(&t, -1, PROBE_TIMEOUT_NS);
	close(listener);
	ASSERT_FLAG(r.failed, false, "failed");
	ASSERT_FLAG(r.timed_out, false, "timed_out");
	ASSERT_FLAG(r.refused, false, "refused");
	if (r.duration_ns == 0 || r.duration_ns >= PROBE_TIMEOUT_NS)
		fail_msg("duration %llu ns, want in (0, %llu)", (unsigned long long)r.duration_ns,
			 (unsigned long long)PROBE_TIMEOUT_NS);
}

static void test_tcp_refused(void **state)
{
	struct probe_target t;
	struct probe_result r;
	__u16 port;
	/* Bound but not listening: the port stays ours and answers SYNs with a reset. */
	int fd = open_socket(-1, &port);
	char text[64];

	(void)state;
	snprintf(text, sizeof(text), "tcp://127.0.0.1:%u", port);
	parse_ok(text, 0, &t);
	r = run_probe(&t, -1, PROBE_TIMEOUT_NS);
	close(fd);
	ASSERT_FLAG(r.failed, true, "failed");
	ASSERT_FLAG(r.refused, true, "refused");
	ASSERT_FLAG(r.timed_out, false, "timed_out");
}

/* A listener with backlog 0 holds one connection; SYNs after it are dropped. */
static void test_tcp_timeout_on_full_queue(void **state)
{
	struct sockaddr_in sin = { .sin_family = AF_INET,
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	struct probe_target t;
	struct probe_result r;
	__u16 port;
	int listener = open_socket(0, &port), filler;

	(void)state;
	sin.sin_port = htons(port);
	filler = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (filler < 0 || connect(filler, (struct sockaddr *)&sin, sizeof(sin)))
		fail_msg("cannot fill the accept queue: %s", strerror(errno));
	parse_ok("tcp", port, &t);
	r = run_probe(&t, -1, SHORT_TIMEOUT_NS);
	close(filler);
	close(listener);
	ASSERT_FLAG(r.failed, true, "failed");
	ASSERT_FLAG(r.timed_out, true, "timed_out");
	ASSERT_FLAG(r.refused, false, "refused");
	if (r.duration_ns < SHORT_TIMEOUT_NS)
		fail_msg("timed out after %llu ns, before the timeout %llu",
			 (unsigned long long)r.duration_ns, (unsigned long long)SHORT_TIMEOUT_NS);
}

/* A server thread: accepts one connection, reads the request, answers, closes. */
struct http_server {
	int listener;
	__u16 port;
	const char *response;	/* NULL: never answers, holds the connection */
	char request[512];
	int conn;
	pthread_t thread;
};

static void *serve_one(void *arg)
{
	struct http_server *s = arg;
	struct pollfd pfd = { .fd = s->listener, .events = POLLIN };
	size_t len = 0;
	ssize_t n;

	if (poll(&pfd, 1, SERVER_WAIT_MS) != 1)
		return NULL;
	s->conn = accept4(s->listener, NULL, NULL, SOCK_CLOEXEC);
	if (s->conn < 0)
		return NULL;
	pfd.fd = s->conn;
	while (!strstr(s->request, "\r\n\r\n") && len < sizeof(s->request) - 1 &&
	       poll(&pfd, 1, SERVER_WAIT_MS) == 1) {
		n = recv(s->conn, s->request + len, sizeof(s->request) - 1 - len, 0);
		if (n <= 0)
			break;
		len += (size_t)n;
		s->request[len] = '\0';
	}
	if (s->response) {
		if (send(s->conn, s->response, strlen(s->response), MSG_NOSIGNAL) < 0)
			s->request[0] = '\0';
		close(s->conn);
		s->conn = -1;
	}
	return NULL;
}

static void server_start(struct http_server *s, const char *response)
{
	memset(s, 0, sizeof(*s));
	s->conn = -1;
	s->response = response;
	s->listener = open_socket(4, &s->port);
	if (pthread_create(&s->thread, NULL, serve_one, s))
		fail_msg("cannot start the server thread");
}

static void server_stop(struct http_server *s)
{
	/* A server that never answers is told to go by closing its listener and connection. */
	if (s->conn >= 0)
		shutdown(s->conn, SHUT_RDWR);
	pthread_join(s->thread, NULL);
	if (s->conn >= 0)
		close(s->conn);
	close(s->listener);
}

struct http_case {
	const char *name;
	const char *response;
	bool failed;
	bool timed_out;
	int status;
};

static const struct http_case http_cases[] = {
	{ "200", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", false, false, 200 },
	{ "302", "HTTP/1.0 302 Found\r\nLocation: /x\r\n\r\n", false, false, 302 },
	{ "204 with a bare LF", "HTTP/1.1 204\n\n", false, false, 204 },
	{ "503", "HTTP/1.1 503 Service Unavailable\r\n\r\n", true, false, 503 },
	{ "404", "HTTP/1.1 404 Not Found\r\n\r\n", true, false, 404 },
	{ "garbage status line", "SSH-2.0-OpenSSH_9.2\r\n", true, false, 0 },
	{ "status of two digits", "HTTP/1.1 20 OK\r\n\r\n", true, false, 0 },
	{ "closed before a status line", "HTTP/1.1 200", true, false, 0 },
	{ "closed without a word", "", true, false, 0 },
	{ "never answers", NULL, true, true, 0 },
};

static void test_http_answers(void **state)
{
	char text[128], want_request[256], what[128];

	(void)state;
	for (size_t i = 0; i < sizeof(http_cases) / sizeof(http_cases[0]); i++) {
		const struct http_case *c = &http_cases[i];
		struct http_server s;
		struct probe_target t;
		struct probe_result r;
		__u64 timeout = c->timed_out ? SHORT_TIMEOUT_NS : PROBE_TIMEOUT_NS;

		server_start(&s, c->response);
		snprintf(text, sizeof(text), "http://127.0.0.1:%u/healthz?deep=1", s.port);
		parse_ok(text, 0, &t);
		r = run_probe(&t, -1, timeout);
		server_stop(&s);

		snprintf(what, sizeof(what), "%s: failed", c->name);
		ASSERT_FLAG(r.failed, c->failed, what);
		snprintf(what, sizeof(what), "%s: timed_out", c->name);
		ASSERT_FLAG(r.timed_out, c->timed_out, what);
		snprintf(what, sizeof(what), "%s: refused", c->name);
		ASSERT_FLAG(r.refused, false, what);
		if (r.http_status != c->status)
			fail_msg("%s: http_status %d, want %d", c->name, r.http_status, c->status);
		if (r.duration_ns == 0 || (!c->timed_out && r.duration_ns >= timeout))
			fail_msg("%s: duration %llu ns, want in (0, %llu)", c->name,
				 (unsigned long long)r.duration_ns, (unsigned long long)timeout);
		snprintf(want_request, sizeof(want_request),
			 "GET /healthz?deep=1 HTTP/1.0\r\nHost: 127.0.0.1:%u\r\n\r\n", s.port);
		if (strcmp(s.request, want_request))
			fail_msg("%s: the server read '%s', want '%s'", c->name, s.request,
				 want_request);
	}
}

/* An HTTP probe over IPv6 loopback, where the machine has it. */
static void test_http_ipv6(void **state)
{
	struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6, .sin6_addr = IN6ADDR_LOOPBACK_INIT };
	socklen_t len = sizeof(sin6);
	struct http_server s = { .conn = -1, .response = "HTTP/1.1 200 OK\r\n\r\n" };
	struct probe_target t;
	struct probe_result r;
	char text[128];

	(void)state;
	s.listener = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s.listener < 0 || bind(s.listener, (struct sockaddr *)&sin6, sizeof(sin6))) {
		if (s.listener >= 0)
			close(s.listener);
		SKIP_BECAUSE("no IPv6 loopback: %s", strerror(errno));
	}
	if (listen(s.listener, 4) || getsockname(s.listener, (struct sockaddr *)&sin6, &len))
		fail_msg("cannot listen on [::1]: %s", strerror(errno));
	s.port = ntohs(sin6.sin6_port);
	if (pthread_create(&s.thread, NULL, serve_one, &s))
		fail_msg("cannot start the server thread");
	snprintf(text, sizeof(text), "http://[::1]:%u", s.port);
	parse_ok(text, 0, &t);
	r = run_probe(&t, -1, PROBE_TIMEOUT_NS);
	server_stop(&s);
	ASSERT_FLAG(r.failed, false, "failed");
	if (r.http_status != 200)
		fail_msg("http_status %d, want 200", r.http_status);
	snprintf(text, sizeof(text), "GET / HTTP/1.0\r\nHost: [::1]:%u\r\n\r\n", s.port);
	if (strcmp(s.request, text))
		fail_msg("the server read '%s', want '%s'", s.request, text);
}

/* One outstanding probe at a time; an idle prober has nothing to poll. */
static void test_one_outstanding(void **state)
{
	struct probe_target t;
	struct probe_result r;
	struct prober p;
	__u16 port;
	int listener = open_socket(4, &port);

	(void)state;
	parse_ok("tcp", port, &t);
	prober_init(&p);
	errno = 0;
	if (prober_poll(&p, now_ns(), PROBE_TIMEOUT_NS, &r) != -1 || errno != EINVAL)
		fail_msg("polling an idle prober: want -1 with EINVAL, got errno %d", errno);
	if (prober_start(&p, &t, -1, now_ns()))
		fail_msg("prober_start: %s", strerror(errno));
	errno = 0;
	if (prober_start(&p, &t, -1, now_ns()) != -1 || errno != EBUSY)
		fail_msg("a second start: want -1 with EBUSY, got errno %d", errno);
	prober_close(&p);
	if (prober_fd(&p) != -1)
		fail_msg("a closed prober has fd %d", prober_fd(&p));
	if (prober_start(&p, &t, -1, now_ns()))
		fail_msg("prober_start after close: %s", strerror(errno));
	prober_close(&p);
	close(listener);
}

/* A pending probe times out on the injected clock, without waiting for it. */
static void test_timeout_on_injected_clock(void **state)
{
	struct probe_target t;
	struct probe_result r = { 0 };
	struct prober p;
	__u16 port;
	int listener = open_socket(0, &port), filler;
	struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(port),
				   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };

	(void)state;
	filler = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (filler < 0 || connect(filler, (struct sockaddr *)&sin, sizeof(sin)))
		fail_msg("cannot fill the accept queue: %s", strerror(errno));
	parse_ok("tcp", port, &t);
	prober_init(&p);
	if (prober_start(&p, &t, -1, 1000))
		fail_msg("prober_start: %s", strerror(errno));
	if (prober_poll(&p, 1000 + 999, 1000, &r) != 0)
		fail_msg("pending before its timeout: want 0");
	if (prober_poll(&p, 1000 + 1000, 1000, &r) != 1)
		fail_msg("at its timeout: want 1");
	close(filler);
	close(listener);
	ASSERT_FLAG(r.failed, true, "failed");
	ASSERT_FLAG(r.timed_out, true, "timed_out");
	if (r.duration_ns != 1000)
		fail_msg("duration %llu, want 1000", (unsigned long long)r.duration_ns);
}

struct parse_case {
	const char *text;
	__u16 default_port;
	const char *want_err;	/* a part of the error, NULL for success */
};

static const struct parse_case parse_cases[] = {
	{ "tcp", 8080, NULL },
	{ "tcp://10.0.0.1:9000", 0, NULL },
	{ "tcp://[::1]:9000", 0, NULL },
	{ "http://127.0.0.1:80/", 0, NULL },
	{ "http://127.0.0.1:80", 0, NULL },
	{ "http://[2001:db8::1]:8080/a/b?c=d", 0, NULL },
	{ "http://host/x", 0, "no port" },
	{ "http://host:80/x", 0, "no names" },
	{ "http://127.0.0.1/x", 0, "no port" },
	{ "http://127.0.0.1:/x", 0, "port is not a number" },
	{ "http://127.0.0.1:0/x", 0, "port is not a number" },
	{ "http://127.0.0.1:65536/x", 0, "port is not a number" },
	{ "http://127.0.0.1:80x/y", 0, "port is not a number" },
	{ "http://[::1:80/x", 0, "no ']'" },
	{ "http://::1:80/x", 0, "brackets" },
	{ "http://[127.0.0.1]:80/x", 0, "no names" },
	{ "http://127.0.0.1:80/a b", 0, "space" },
	{ "http://127.0.0.1:80/a\r\nX: y", 0, "control" },
	{ "http://:80/", 0, "not a numeric" },
	{ "https://127.0.0.1:443/", 0, "want tcp" },
	{ "udp", 53, "want tcp" },
	{ "tcpx", 80, "want tcp" },
	{ "tcp", 0, "no port" },
	{ "tcp://127.0.0.1", 0, "no port" },
	{ "tcp://127.0.0.1:80/x", 0, "port is not a number" },
	{ "", 80, "empty" },
};

static void test_parse(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(parse_cases) / sizeof(parse_cases[0]); i++) {
		const struct parse_case *c = &parse_cases[i];
		struct probe_target t;
		char err[256] = "", quoted[300];
		int ret = probe_target_parse(c->text, c->default_port, &t, err, sizeof(err));

		if (!c->want_err) {
			if (ret)
				fail_msg("'%s': want success, got '%s'", c->text, err);
			continue;
		}
		if (ret != -1 || errno != EINVAL)
			fail_msg("'%s': want -1 with EINVAL, got %d", c->text, ret);
		/* Control characters are shown as '?'. */
		snprintf(quoted, sizeof(quoted), "'%s'", c->text);
		for (char *q = quoted; *q; q++)
			if (*q < ' ')
				*q = '?';
		if (!strstr(err, c->want_err) || !strstr(err, quoted) || strchr(err, '\n'))
			fail_msg("'%s': error '%s' does not name the input on one line and say '%s'",
				 c->text, err, c->want_err);
	}
}

static void test_parse_fields(void **state)
{
	const struct sockaddr_in6 *sin6;
	const struct sockaddr_in *sin;
	struct probe_target t;

	(void)state;
	parse_ok("tcp", 8080, &t);
	sin = (const struct sockaddr_in *)&t.addr;
	if (t.kind != PROBE_TCP || sin->sin_family != AF_INET || ntohs(sin->sin_port) != 8080 ||
	    sin->sin_addr.s_addr != htonl(INADDR_LOOPBACK))
		fail_msg("'tcp' on 8080: want tcp to 127.0.0.1:8080");
	parse_ok("http://[2001:db8::1]:8080", 0, &t);
	sin6 = (const struct sockaddr_in6 *)&t.addr;
	if (t.kind != PROBE_HTTP || sin6->sin6_family != AF_INET6 ||
	    ntohs(sin6->sin6_port) != 8080 || t.addr_len != sizeof(*sin6))
		fail_msg("http over IPv6: wrong kind, family or port");
	if (strcmp(t.path, "/") || strcmp(t.host, "[2001:db8::1]:8080"))
		fail_msg("http over IPv6: path '%s', host '%s'", t.path, t.host);
}

/*
 * A child listens on a port in a namespace of its own; the same port here
 * is bound without listening. A probe through the child's namespace is
 * accepted, one here is refused, and the thread ends where it started.
 */
static void test_probe_in_other_namespace(void **state)
{
	struct probe_target t;
	struct probe_result r;
	int ready[2], hold[2], netns_fd, bad_fd, here;
	char path[64], reply = 0;
	ino_t home = thread_netns_inode();
	struct prober p;
	__u16 port;
	pid_t child;

	(void)state;
	if (geteuid() != 0)
		SKIP_BECAUSE("entering another network namespace needs root");
	here = open_socket(-1, &port);
	if (pipe2(ready, O_CLOEXEC) || pipe2(hold, O_CLOEXEC))
		fail_msg("pipe: %s", strerror(errno));
	child = fork();
	if (child < 0)
		fail_msg("fork: %s", strerror(errno));
	if (child == 0) {
		struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons(port),
					   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
		int fd = -1;

		close(ready[0]);
		close(hold[1]);
		reply = 'e';
		if (!prctl(PR_SET_PDEATHSIG, SIGKILL) && !unshare(CLONE_NEWNET) &&
		    !set_loopback_up() && (fd = socket(AF_INET, SOCK_STREAM, 0)) >= 0 &&
		    !bind(fd, (struct sockaddr *)&sin, sizeof(sin)) && !listen(fd, 16))
			reply = 'r';
		if (write(ready[1], &reply, 1) != 1 || read(hold[0], &reply, 1) < 0)
			_exit(1);
		_exit(0);
	}
	close(ready[1]);
	close(hold[0]);
	if (read(ready[0], &reply, 1) != 1 || reply != 'r')
		fail_msg("the child could not listen in its own namespace");

	snprintf(path, sizeof(path), "/proc/%d/ns/net", (int)child);
	netns_fd = open(path, O_RDONLY | O_CLOEXEC);
	if (netns_fd < 0)
		fail_msg("open %s: %s", path, strerror(errno));
	parse_ok("tcp", port, &t);

	r = run_probe(&t, netns_fd, PROBE_TIMEOUT_NS);
	if (thread_netns_inode() != home)
		fail_msg("the thread was left in another network namespace");
	ASSERT_FLAG(r.failed, false, "in the child's namespace: failed");

	r = run_probe(&t, -1, PROBE_TIMEOUT_NS);
	ASSERT_FLAG(r.failed, true, "here: failed");
	ASSERT_FLAG(r.refused, true, "here: refused");

	/* Not a namespace: an error, and the thread is still home. */
	bad_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	prober_init(&p);
	errno = 0;
	if (prober_start(&p, &t, bad_fd, now_ns()) != -1 || errno != EINVAL)
		fail_msg("start in /dev/null: want -1 with EINVAL, got errno %d", errno);
	if (prober_fd(&p) != -1 || thread_netns_inode() != home)
		fail_msg("a failed start left a probe outstanding or the thread elsewhere");

	close(bad_fd);
	close(netns_fd);
	close(hold[1]);
	close(ready[0]);
	waitpid(child, NULL, 0);
	close(here);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse),
		cmocka_unit_test(test_parse_fields),
		cmocka_unit_test(test_tcp_accepted),
		cmocka_unit_test(test_tcp_refused),
		cmocka_unit_test(test_tcp_timeout_on_full_queue),
		cmocka_unit_test(test_timeout_on_injected_clock),
		cmocka_unit_test(test_one_outstanding),
		cmocka_unit_test(test_http_answers),
		cmocka_unit_test(test_http_ipv6),
		cmocka_unit_test(test_probe_in_other_namespace),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
