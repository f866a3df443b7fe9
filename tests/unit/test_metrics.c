// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Unit tests for user/metrics.c: the exposition text (escaping, numbers, a
 * whole document byte for byte), the --metrics address, and a live server on
 * loopback, asked with a small HTTP client of our own over a socket, so
 * what is checked is the bytes on the wire.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "testing.h"

#include "metrics.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))
#define CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"
/* However slow the machine, a loopback reply takes less; a hung server fails, not hangs. */
#define REPLY_TIMEOUT_SECONDS 5

#define ASSERT_STR(got, want, what)                                                         \
	do {                                                                                \
		const char *got_ = (got), *want_ = (want);                                  \
		if (strcmp(got_, want_) != 0)                                               \
			fail_msg("%s: got\n\"%s\"\nwant\n\"%s\"", (what), got_, want_);     \
	} while (0)

#define ASSERT_INT(got, want, what)                                                         \
	do {                                                                                \
		long long got_ = (got), want_ = (want);                                     \
		if (got_ != want_)                                                          \
			fail_msg("%s: got %lld, want %lld", (what), got_, want_);           \
	} while (0)

/* The text built so far, "" before anything is written. */
static const char *text_of(const struct metrics_text *t)
{
	return t->buf ? t->buf : "";
}

static void test_help_escaping(void **unused)
{
	struct metrics_text t;

	(void)unused;
	metrics_text_init(&t);
	metrics_family(&t, "sluice_x_total", "counter", "a \\ b\nc \"quoted\"");
	/* Backslash and newline are escaped in help; double quotes are not. */
	ASSERT_STR(text_of(&t),
		   "# HELP sluice_x_total a \\\\ b\\nc \"quoted\"\n"
		   "# TYPE sluice_x_total counter\n",
		   "help with a backslash, a newline and quotes");
	assert_false(t.failed);
	metrics_text_free(&t);
	assert_null(t.buf);
	ASSERT_INT(t.len, 0, "length after free");
}

static void test_label_escaping(void **unused)
{
	struct metrics_text t;

	(void)unused;
	metrics_text_init(&t);
	metrics_sample(&t, "sluice_y", (const char *[]){ "path", "C:\\dir\n\"x\"", NULL }, 1);
	metrics_sample(&t, "sluice_y", (const char *[]){ "a", "", "b", "plain", NULL }, 2);
	metrics_sample(&t, "sluice_y", (const char *[]){ NULL }, 3);
	metrics_sample(&t, "sluice_y", NULL, 4);
	ASSERT_STR(text_of(&t),
		   "sluice_y{path=\"C:\\\\dir\\n\\\"x\\\"\"} 1\n"
		   "sluice_y{a=\"\",b=\"plain\"} 2\n"
		   "sluice_y 3\n"
		   "sluice_y 4\n",
		   "label values escaped, empty label lists left out");
	assert_false(t.failed);
	metrics_text_free(&t);
}

/* A key without a value is the caller's bug: the text fails rather than lies. */
static void test_label_without_value_fails(void **unused)
{
	struct metrics_text t;

	(void)unused;
	metrics_text_init(&t);
	metrics_sample(&t, "sluice_y", (const char *[]){ "a", "1", "orphan", NULL }, 1);
	assert_true(t.failed);
	metrics_sample(&t, "sluice_z", NULL, 1);
	assert_null(strstr(text_of(&t), "sluice_z"));	/* nothing more is written */
	metrics_text_free(&t);
	assert_false(t.failed);
}

static void test_number_formatting(void **unused)
{
	static const struct {
		double value;
		const char *want;
	} cases[] = {
		{ 0, "0" },
		{ -0.0, "0" },
		{ 1, "1" },
		{ -5, "-5" },
		{ 4294967295.0, "4294967295" },
		{ 4294967297.0, "4294967297" },			/* 2^32 + 1 */
		{ 123456789012345.0, "123456789012345" },	/* %g would say 1.23457e+14 */
		{ 9007199254740991.0, "9007199254740991" },	/* 2^53 - 1 */
		{ 9007199254740992.0, "9007199254740992" },	/* 2^53 */
		{ 0x1p62, "4611686018427387904" },
		{ 0x1p64, "1.8446744073709552e+19" },		/* past 2^63: exponent */
		{ 0.5, "0.5" },
		{ 0.1, "0.1" },
		{ 2.5e-9, "2.5e-09" },
		{ 1234.5678, "1234.5678" },
		{ 1.0 / 3.0, "0.3333333333333333" },
		{ NAN, "NaN" },
		{ INFINITY, "+Inf" },
		{ -INFINITY, "-Inf" },
	};
	char got[METRICS_VALUE_LEN], what[64];

	(void)unused;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		metrics_format_value(cases[i].value, got, sizeof(got));
		snprintf(what, sizeof(what), "value %s", cases[i].want);
		ASSERT_STR(got, cases[i].want, what);
		if (!isnan(cases[i].value) && strtod(got, NULL) != cases[i].value)
			fail_msg("'%s' does not read back as the value it was printed from", got);
	}
}

/* A document as the controller writes one, byte for byte. */
static void test_document(void **unused)
{
	struct metrics_text t;

	(void)unused;
	metrics_text_init(&t);
	metrics_family(&t, "sluice_packets_total", "counter", "Packets seen, by outcome.");
	metrics_sample(&t, "sluice_packets_total", (const char *[]){ "outcome", "passed", NULL },
		       8589934597.0);
	metrics_sample(&t, "sluice_packets_total", (const char *[]){ "outcome", "dropped", NULL },
		       0);
	metrics_family(&t, "sluice_rate_packets", "gauge", "Smoothed packets per second.");
	metrics_sample(&t, "sluice_rate_packets", (const char *[]){ "rule", "10.0.0.0/8", NULL },
		       1500.25);
	metrics_family(&t, "sluice_up", "gauge", "1 while the controller runs.");
	metrics_sample(&t, "sluice_up", NULL, 1);
	ASSERT_STR(text_of(&t),
		   "# HELP sluice_packets_total Packets seen, by outcome.\n"
		   "# TYPE sluice_packets_total counter\n"
		   "sluice_packets_total{outcome=\"passed\"} 8589934597\n"
		   "sluice_packets_total{outcome=\"dropped\"} 0\n"
		   "# HELP sluice_rate_packets Smoothed packets per second.\n"
		   "# TYPE sluice_rate_packets gauge\n"
		   "sluice_rate_packets{rule=\"10.0.0.0/8\"} 1500.25\n"
		   "# HELP sluice_up 1 while the controller runs.\n"
		   "# TYPE sluice_up gauge\n"
		   "sluice_up 1\n",
		   "the document");
	ASSERT_INT(t.len, strlen(text_of(&t)), "length kept with the text");
	assert_false(t.failed);
	metrics_text_free(&t);
}

/* A text far past the first allocation grows and stays whole. */
static void test_text_grows(void **unused)
{
	char name[32], want_last[64];
	struct metrics_text t;
	size_t lines = 0;

	(void)unused;
	metrics_text_init(&t);
	for (int i = 0; i < 20000; i++) {
		snprintf(name, sizeof(name), "sluice_m%d", i);
		metrics_sample(&t, name, NULL, i);
	}
	assert_false(t.failed);
	for (size_t i = 0; i < t.len; i++)
		lines += t.buf[i] == '\n';
	ASSERT_INT(lines, 20000, "lines");
	snprintf(want_last, sizeof(want_last), "sluice_m19999 19999\n");
	ASSERT_STR(t.buf + t.len - strlen(want_last), want_last, "the last line");
	metrics_text_free(&t);
}

static void assert_address_error(const char *err, const char *input, const char *fragment)
{
	char head[METRICS_ERR_LEN];

	snprintf(head, sizeof(head), "invalid --metrics '%s': ", input);
	if (strncmp(err, head, strlen(head)) != 0)
		fail_msg("error for '%s' does not start with \"%s\": \"%s\"", input, head, err);
	if (!strstr(err, fragment))
		fail_msg("error for '%s' does not say \"%s\": \"%s\"", input, fragment, err);
	if (strchr(err, '\n'))
		fail_msg("error for '%s' is not one line: \"%s\"", input, err);
}

static void test_address_errors(void **unused)
{
	static const struct {
		const char *input, *fragment;
	} cases[] = {
		{ "", "expected ADDR:PORT" },
		{ "9464", "expected ADDR:PORT" },
		{ "127.0.0.1", "expected ADDR:PORT" },
		{ "127.0.0.1:", "the port is missing" },
		{ ":9464", "the address is missing" },
		{ "127.0.0.1:65536", "from 0 to 65535" },
		{ "127.0.0.1:99999999999999999999", "from 0 to 65535" },
		{ "127.0.0.1:-1", "from 0 to 65535" },
		{ "127.0.0.1:+80", "from 0 to 65535" },
		{ "127.0.0.1:80x", "from 0 to 65535" },
		{ "127.0.0.1:80 ", "from 0 to 65535" },
		{ "127.0.0.1:http", "from 0 to 65535" },
		{ "127.0.0.256:9464", "'127.0.0.256' is not an IPv4 address" },
		{ "127.1:9464", "'127.1' is not an IPv4 address" },
		{ " 127.0.0.1:9464", "' 127.0.0.1' is not an IPv4 address" },
		{ "localhost:9464", "'localhost' is not an IPv4 address" },
		{ "1.2.3.4.5.6.7.8.9.10.11.12.13.14.15.16.17.18.19.20:1", "not an IPv4 address" },
		{ "::1:9464", "an IPv6 address goes in brackets" },
		{ "[::1]", "expected ':PORT' after the ']'" },
		{ "[::1]9464", "expected ':PORT' after the ']'" },
		{ "[::1]:", "the port is missing" },
		{ "[::1:9464", "no closing ']'" },
		{ "[]:9464", "the address is missing" },
		{ "[127.0.0.1]:9464", "'127.0.0.1' is not an IPv6 address" },
		{ "[::1]:9464]", "from 0 to 65535" },
		{ "[fe80::1%lo]:9464", "'fe80::1%lo' is not an IPv6 address" },
		{ "[::g]:9464", "'::g' is not an IPv6 address" },
	};
	char err[METRICS_ERR_LEN];

	(void)unused;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct metrics_server *server;

		err[0] = '\0';
		server = metrics_start(cases[i].input, err, sizeof(err));
		if (server) {
			metrics_stop(server);
			fail_msg("'%s' was accepted", cases[i].input);
		}
		assert_address_error(err, cases[i].input, cases[i].fragment);
	}
	err[0] = '\0';
	assert_null(metrics_start(NULL, err, sizeof(err)));
	assert_address_error(err, "", "expected ADDR:PORT");
}

static void test_address_parsing(void **unused)
{
	static const struct {
		const char *input, *address;
		int family;
		unsigned int port;
	} cases[] = {
		{ "127.0.0.1:9464", "127.0.0.1", AF_INET, 9464 },
		{ "0.0.0.0:0", "0.0.0.0", AF_INET, 0 },
		{ "10.1.2.3:65535", "10.1.2.3", AF_INET, 65535 },
		{ "127.0.0.1:09464", "127.0.0.1", AF_INET, 9464 },
		{ "[::1]:9464", "::1", AF_INET6, 9464 },
		{ "[::]:80", "::", AF_INET6, 80 },
		{ "[2001:db8::7]:1", "2001:db8::7", AF_INET6, 1 },
	};
	char err[METRICS_ERR_LEN], got[INET6_ADDRSTRLEN];

	(void)unused;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct sockaddr_storage addr;
		socklen_t len = 0;
		unsigned int port;

		if (metrics_parse_address(cases[i].input, &addr, &len, err, sizeof(err)))
			fail_msg("'%s' refused: %s", cases[i].input, err);
		ASSERT_INT(addr.ss_family, cases[i].family, cases[i].input);
		if (addr.ss_family == AF_INET) {
			const struct sockaddr_in *in = (const struct sockaddr_in *)&addr;

			ASSERT_INT(len, sizeof(*in), "IPv4 address length");
			inet_ntop(AF_INET, &in->sin_addr, got, sizeof(got));
			port = ntohs(in->sin_port);
		} else {
			const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&addr;

			ASSERT_INT(len, sizeof(*in6), "IPv6 address length");
			inet_ntop(AF_INET6, &in6->sin6_addr, got, sizeof(got));
			port = ntohs(in6->sin6_port);
		}
		ASSERT_STR(got, cases[i].address, cases[i].input);
		ASSERT_INT(port, cases[i].port, cases[i].input);
	}
}

/* A socket listening on loopback on a free port; -1 if the family has no loopback here. */
static int listen_on_loopback(int family, unsigned int *port)
{
	struct sockaddr_storage addr = {};
	socklen_t len;
	int fd;

	if (family == AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)&addr;

		in->sin_family = AF_INET;
		in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		len = sizeof(*in);
	} else {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&addr;

		in6->sin6_family = AF_INET6;
		in6->sin6_addr = in6addr_loopback;
		len = sizeof(*in6);
	}
	fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (bind(fd, (struct sockaddr *)&addr, len) || listen(fd, 1) ||
	    getsockname(fd, (struct sockaddr *)&addr, &len)) {
		close(fd);
		return -1;
	}
	*port = ntohs(family == AF_INET ? ((struct sockaddr_in *)&addr)->sin_port
					: ((struct sockaddr_in6 *)&addr)->sin6_port);
	return fd;
}

static void test_address_in_use(void **unused)
{
	char input[64], err[METRICS_ERR_LEN], want[METRICS_ERR_LEN];
	struct metrics_server *server;
	unsigned int port;
	int taken;

	(void)unused;
	taken = listen_on_loopback(AF_INET, &port);
	assert_true(taken >= 0);
	snprintf(input, sizeof(input), "127.0.0.1:%u", port);
	server = metrics_start(input, err, sizeof(err));
	close(taken);
	if (server) {
		metrics_stop(server);
		fail_msg("listened on %s, where another socket listens", input);
	}
	snprintf(want, sizeof(want), "cannot listen on %s: %s", input, strerror(EADDRINUSE));
	ASSERT_STR(err, want, "the error");
}

/* What came back for one request, parsed. */
struct http_reply {
	int status;
	char content_type[128];
	char allow[64];
	long content_length;	/* -1 without the header */
	char *body;		/* NUL-terminated, body_len bytes before it */
	size_t body_len;
};

static void http_reply_free(struct http_reply *reply)
{
	free(reply->body);
	reply->body = NULL;
}

static void copy_header(char *dst, size_t len, const char *value, const char *end)
{
	size_t n = (size_t)(end - value);

	if (n >= len)
		n = len - 1;
	memcpy(dst, value, n);
	dst[n] = '\0';
}

/* Splits a raw reply into status, the headers the tests look at, and body. */
static int http_parse(char *raw, size_t raw_len, struct http_reply *reply)
{
	char *headers_end = strstr(raw, "\r\n\r\n"), *line;

	*reply = (struct http_reply){ .content_length = -1 };
	if (!headers_end || sscanf(raw, "HTTP/1.1 %d ", &reply->status) != 1)
		return -1;
	for (line = strstr(raw, "\r\n") + 2; line < headers_end; line = strstr(line, "\r\n") + 2) {
		char *colon = strchr(line, ':'), *end = strstr(line, "\r\n"), *value;

		if (!colon || colon > end)
			return -1;
		for (value = colon + 1; *value == ' '; value++)
			;
		if (!strncasecmp(line, "Content-Type:", 13))
			copy_header(reply->content_type, sizeof(reply->content_type), value, end);
		else if (!strncasecmp(line, "Allow:", 6))
			copy_header(reply->allow, sizeof(reply->allow), value, end);
		else if (!strncasecmp(line, "Content-Length:", 15))
			reply->content_length = strtol(value, NULL, 10);
	}
	reply->body_len = raw_len - (size_t)(headers_end + 4 - raw);
	reply->body = malloc(reply->body_len + 1);
	if (!reply->body)
		return -1;
	memcpy(reply->body, headers_end + 4, reply->body_len);
	reply->body[reply->body_len] = '\0';
	return 0;
}

/*
 * Sends `request` to the loopback address of `family` on `port` and reads the
 * reply until the server closes the connection (requests say
 * "Connection: close"). 0, or -1 with what went wrong in `why`.
 */
static int http_exchange(int family, unsigned int port, const char *request,
			 struct http_reply *reply, char *why, size_t why_len)
{
	struct timeval timeout = { .tv_sec = REPLY_TIMEOUT_SECONDS };
	struct sockaddr_storage addr = {};
	size_t raw_len = 0, raw_cap = 1 << 16, sent = 0;
	char *raw = NULL;
	socklen_t len;
	int fd, ret = -1;

	if (family == AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)&addr;

		*in = (struct sockaddr_in){ .sin_family = AF_INET, .sin_port = htons(port),
					    .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
		len = sizeof(*in);
	} else {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&addr;

		*in6 = (struct sockaddr_in6){ .sin6_family = AF_INET6, .sin6_port = htons(port),
					      .sin6_addr = in6addr_loopback };
		len = sizeof(*in6);
	}
	fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout)) ||
	    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout)) ||
	    connect(fd, (struct sockaddr *)&addr, len)) {
		snprintf(why, why_len, "connect: %s", strerror(errno));
		goto out;
	}
	while (sent < strlen(request)) {
		ssize_t n = send(fd, request + sent, strlen(request) - sent, MSG_NOSIGNAL);

		if (n <= 0) {
			snprintf(why, why_len, "send: %s", strerror(errno));
			goto out;
		}
		sent += (size_t)n;
	}
	raw = malloc(raw_cap);
	for (;;) {
		ssize_t n;

		if (!raw) {
			snprintf(why, why_len, "out of memory");
			goto out;
		}
		n = recv(fd, raw + raw_len, raw_cap - raw_len - 1, 0);
		if (n < 0) {
			snprintf(why, why_len, "recv after %zu bytes: %s", raw_len,
				 strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		raw_len += (size_t)n;
		if (raw_cap - raw_len < 2) {
			char *grown = realloc(raw, raw_cap * 2);

			if (!grown)
				free(raw);
			raw = grown;
			raw_cap *= 2;
		}
	}
	raw[raw_len] = '\0';
	if (http_parse(raw, raw_len, reply)) {
		snprintf(why, why_len, "not an HTTP/1.1 reply: \"%.80s\"", raw);
		goto out;
	}
	ret = 0;
out:
	free(raw);
	if (fd >= 0)
		close(fd);
	return ret;
}

/* Sends "METHOD PATH" and fails the test if no reply came. */
static void http_ask(int family, unsigned int port, const char *method, const char *path,
		     struct http_reply *reply)
{
	char request[256], why[256];

	snprintf(request, sizeof(request),
		 "%s %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n", method, path);
	if (http_exchange(family, port, request, reply, why, sizeof(why)))
		fail_msg("%s %s on port %u: %s", method, path, port, why);
}

/* GET /metrics answers 200 with the content type and exactly `body`. */
static void assert_serves(int family, unsigned int port, const char *body)
{
	struct http_reply reply;

	http_ask(family, port, "GET", "/metrics", &reply);
	ASSERT_INT(reply.status, 200, "GET /metrics status");
	ASSERT_STR(reply.content_type, CONTENT_TYPE, "GET /metrics content type");
	ASSERT_INT(reply.content_length, strlen(body), "GET /metrics content length");
	ASSERT_INT(reply.body_len, strlen(body), "GET /metrics body length");
	ASSERT_STR(reply.body, body, "GET /metrics body");
	http_reply_free(&reply);
}

static void publish_string(struct metrics_server *server, const char *body)
{
	struct metrics_text t;

	metrics_text_init(&t);
	if (*body) {
		t.buf = strdup(body);
		assert_non_null(t.buf);
		t.len = t.cap = strlen(body);
	}
	metrics_publish(server, &t);
	/* Taken over: empty and ready for the next document. */
	assert_null(t.buf);
	ASSERT_INT(t.len, 0, "text length after publish");
	assert_false(t.failed);
}

static void test_live_server(void **unused)
{
	static const char *const not_found[] = { "/metric", "/metrics/", "/metricsx",
						 "/x/metrics" };
	static const char *const refused[] = { "POST", "PUT", "DELETE", "OPTIONS", "PATCH" };
	const char *first = "# HELP a_total A.\n# TYPE a_total counter\na_total 1\n";
	const char *second = "b 2\n";
	char err[METRICS_ERR_LEN], input[64], why[256];
	struct metrics_server *server;
	struct http_reply reply;
	struct metrics_text t;
	unsigned int port;

	(void)unused;
	server = metrics_start("127.0.0.1:0", err, sizeof(err));
	if (!server)
		fail_msg("metrics_start: %s", err);
	port = metrics_port(server);
	assert_true(port > 0 && port <= 65535);

	http_ask(AF_INET, port, "GET", "/metrics", &reply);
	ASSERT_INT(reply.status, 503, "GET /metrics before the first publish");
	http_reply_free(&reply);

	publish_string(server, first);
	assert_serves(AF_INET, port, first);
	publish_string(server, second);
	assert_serves(AF_INET, port, second);

	/* HEAD: the GET's headers, its length included, and no body. */
	http_ask(AF_INET, port, "HEAD", "/metrics", &reply);
	ASSERT_INT(reply.status, 200, "HEAD /metrics status");
	ASSERT_STR(reply.content_type, CONTENT_TYPE, "HEAD /metrics content type");
	ASSERT_INT(reply.content_length, strlen(second), "HEAD /metrics content length");
	ASSERT_INT(reply.body_len, 0, "HEAD /metrics body length");
	http_reply_free(&reply);

	http_ask(AF_INET, port, "GET", "/", &reply);
	ASSERT_INT(reply.status, 200, "GET / status");
	if (!strstr(reply.body, "/metrics"))
		fail_msg("GET / does not point at /metrics: \"%s\"", reply.body);
	http_reply_free(&reply);

	for (size_t i = 0; i < ARRAY_SIZE(not_found); i++) {
		http_ask(AF_INET, port, "GET", not_found[i], &reply);
		ASSERT_INT(reply.status, 404, not_found[i]);
		http_reply_free(&reply);
	}
	/* The query string is not part of the path. */
	assert_serves(AF_INET, port, second);
	http_ask(AF_INET, port, "GET", "/metrics?name[]=x", &reply);
	ASSERT_INT(reply.status, 200, "GET /metrics with a query");
	http_reply_free(&reply);

	for (size_t i = 0; i < ARRAY_SIZE(refused); i++) {
		http_ask(AF_INET, port, refused[i], "/metrics", &reply);
		ASSERT_INT(reply.status, 405, refused[i]);
		ASSERT_STR(reply.allow, "GET, HEAD", "Allow of a 405");
		http_reply_free(&reply);
	}
	/* A POST with a body is refused as well, and the server still answers after it. */
	if (http_exchange(AF_INET, port,
			  "POST /metrics HTTP/1.1\r\nHost: localhost\r\nContent-Length: 5\r\n"
			  "Connection: close\r\n\r\nhello",
			  &reply, why, sizeof(why)))
		fail_msg("POST with a body: %s", why);
	ASSERT_INT(reply.status, 405, "POST with a body");
	http_reply_free(&reply);
	assert_serves(AF_INET, port, second);

	/* An empty document is served as one; a failed text gives 500, not the stale one. */
	publish_string(server, "");
	assert_serves(AF_INET, port, "");
	metrics_text_init(&t);
	metrics_sample(&t, "c", (const char *[]){ "orphan", NULL }, 1);
	assert_true(t.failed);
	metrics_publish(server, &t);
	assert_null(t.buf);
	assert_false(t.failed);
	http_ask(AF_INET, port, "GET", "/metrics", &reply);
	ASSERT_INT(reply.status, 500, "GET /metrics after a failed text");
	http_reply_free(&reply);
	metrics_text_init(&t);
	metrics_sample(&t, "d", NULL, 4);
	metrics_publish(server, &t);
	assert_serves(AF_INET, port, "d 4\n");

	/* Stopping closes the socket: the port can be listened on again at once. */
	metrics_stop(server);
	snprintf(input, sizeof(input), "127.0.0.1:%u", port);
	server = metrics_start(input, err, sizeof(err));
	if (!server)
		fail_msg("listening again on %s after stop: %s", input, err);
	ASSERT_INT(metrics_port(server), port, "the port asked for");
	metrics_stop(server);
}

static bool have_ipv6_loopback(void)
{
	unsigned int port;
	int fd = listen_on_loopback(AF_INET6, &port);

	if (fd < 0)
		return false;
	close(fd);
	return true;
}

/* True if something accepts a connection at ip:port. */
static bool answers_at(int family, const char *ip, unsigned int port)
{
	struct sockaddr_storage addr = {};
	socklen_t len;
	int fd;
	bool connected;

	if (family == AF_INET) {
		struct sockaddr_in *in = (struct sockaddr_in *)&addr;

		in->sin_family = AF_INET;
		in->sin_port = htons(port);
		inet_pton(AF_INET, ip, &in->sin_addr);
		len = sizeof(*in);
	} else {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&addr;

		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons(port);
		inet_pton(AF_INET6, ip, &in6->sin6_addr);
		len = sizeof(*in6);
	}
	fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(fd >= 0);
	connected = connect(fd, (struct sockaddr *)&addr, len) == 0;
	close(fd);
	return connected;
}

/*
 * The endpoint listens on the address it is given and no other: not on
 * 127.0.0.2 (loopback too, on Linux) nor on [::1] when told 127.0.0.1.
 */
static void test_listens_only_where_told(void **unused)
{
	char err[METRICS_ERR_LEN];
	struct metrics_server *server;
	unsigned int port;

	(void)unused;
	server = metrics_start("127.0.0.1:0", err, sizeof(err));
	if (!server)
		fail_msg("metrics_start 127.0.0.1:0: %s", err);
	port = metrics_port(server);
	assert_true(answers_at(AF_INET, "127.0.0.1", port));
	if (answers_at(AF_INET, "127.0.0.2", port))
		fail_msg("127.0.0.2:%u answered though only 127.0.0.1 was asked for", port);
	if (have_ipv6_loopback() && answers_at(AF_INET6, "::1", port))
		fail_msg("[::1]:%u answered though only 127.0.0.1 was asked for", port);
	metrics_stop(server);
}

static void test_live_server_ipv6(void **unused)
{
	char err[METRICS_ERR_LEN];
	struct metrics_server *server;
	struct http_reply reply;
	unsigned int port;

	(void)unused;
	if (!have_ipv6_loopback())
		SKIP_BECAUSE("no IPv6 loopback here (::1 cannot be listened on)");

	server = metrics_start("[::1]:0", err, sizeof(err));
	if (!server)
		fail_msg("metrics_start [::1]:0: %s", err);
	port = metrics_port(server);
	assert_true(port > 0);
	http_ask(AF_INET6, port, "GET", "/metrics", &reply);
	ASSERT_INT(reply.status, 503, "GET /metrics on ::1 before publish");
	http_reply_free(&reply);
	publish_string(server, "v6 1\n");
	assert_serves(AF_INET6, port, "v6 1\n");
	/* That address only: IPv4 loopback on the same port is not it. */
	if (answers_at(AF_INET, "127.0.0.1", port))
		fail_msg("127.0.0.1:%u answered though only [::1] was asked for", port);
	metrics_stop(server);

	/* "[::]" takes IPv4 too. */
	server = metrics_start("[::]:0", err, sizeof(err));
	if (!server)
		fail_msg("metrics_start [::]:0: %s", err);
	port = metrics_port(server);
	publish_string(server, "both 2\n");
	assert_serves(AF_INET6, port, "both 2\n");
	assert_serves(AF_INET, port, "both 2\n");
	metrics_stop(server);
}

/* The threads of this process, by id, into tids; how many. */
static size_t list_threads(pid_t *tids, size_t max)
{
	struct dirent *entry;
	size_t count = 0;
	DIR *dir = opendir("/proc/self/task");

	assert_non_null(dir);
	while ((entry = readdir(dir)) && count < max)
		if (entry->d_name[0] != '.')
			tids[count++] = (pid_t)atoi(entry->d_name);
	closedir(dir);
	return count;
}

/* The signals thread `tid` blocks, from SigBlk in its status. */
static unsigned long long blocked_signals(pid_t tid)
{
	unsigned long long mask = 0;
	char path[64], line[256];
	bool found = false;
	FILE *status;

	snprintf(path, sizeof(path), "/proc/self/task/%d/status", (int)tid);
	status = fopen(path, "r");
	assert_non_null(status);
	while (fgets(line, sizeof(line), status))
		if (sscanf(line, "SigBlk: %llx", &mask) == 1)
			found = true;
	fclose(status);
	if (!found)
		fail_msg("no SigBlk in %s", path);
	return mask;
}

/*
 * The server's thread blocks every signal even when its caller blocks none,
 * so a SIGTERM meant for the controller's signalfd never lands on it; the
 * caller's own mask is left as it was.
 */
static void test_server_thread_blocks_signals(void **unused)
{
	static const int controller_signals[] = { SIGTERM, SIGINT, SIGHUP, SIGPIPE };
	pid_t before[64], after[64];
	size_t before_count, after_count, new_threads = 0;
	char err[METRICS_ERR_LEN];
	struct metrics_server *server;
	struct http_reply reply;
	sigset_t none, mine;

	(void)unused;
	sigemptyset(&none);
	assert_int_equal(pthread_sigmask(SIG_SETMASK, &none, NULL), 0);
	before_count = list_threads(before, ARRAY_SIZE(before));
	server = metrics_start("127.0.0.1:0", err, sizeof(err));
	if (!server)
		fail_msg("metrics_start: %s", err);
	/*
	 * A thread starts with every signal blocked until it runs its start
	 * routine (glibc's pthread_create does this): once it has answered a
	 * request, its mask is the one it keeps.
	 */
	http_ask(AF_INET, metrics_port(server), "GET", "/", &reply);
	ASSERT_INT(reply.status, 200, "GET / status");
	http_reply_free(&reply);
	after_count = list_threads(after, ARRAY_SIZE(after));
	for (size_t i = 0; i < after_count; i++) {
		bool old = false;
		unsigned long long mask;

		for (size_t j = 0; j < before_count; j++)
			old |= after[i] == before[j];
		if (old)
			continue;
		new_threads++;
		mask = blocked_signals(after[i]);
		for (size_t k = 0; k < ARRAY_SIZE(controller_signals); k++)
			if (!(mask & (1ull << (controller_signals[k] - 1))))
				fail_msg("the server's thread %d does not block %s (SigBlk %llx)",
					 (int)after[i], strsignal(controller_signals[k]), mask);
	}
	if (new_threads == 0)
		fail_msg("metrics_start started no thread");
	assert_int_equal(pthread_sigmask(SIG_SETMASK, NULL, &mine), 0);
	for (size_t k = 0; k < ARRAY_SIZE(controller_signals); k++)
		if (sigismember(&mine, controller_signals[k]))
			fail_msg("metrics_start left %s blocked in its caller",
				 strsignal(controller_signals[k]));
	metrics_stop(server);
}

/*
 * While one thread publishes documents as fast as it can, every scrape gets
 * one of them whole (its lines all from the same document, as many as that
 * one has, and the length the headers said), and never an older one than
 * the last scrape got.
 */
struct publisher {
	struct metrics_server *server;
	atomic_bool stop;
	atomic_uint published;	/* documents 0 to published - 1 are out */
};

/* Document k: 100 + k % 50 lines, each labelled doc="k". */
static void build_document(struct metrics_text *t, unsigned int k)
{
	char name[64], id[16];

	snprintf(id, sizeof(id), "%u", k);
	for (unsigned int i = 0; i < 100 + k % 50; i++) {
		snprintf(name, sizeof(name), "sluice_line_%u", i);
		metrics_sample(t, name, (const char *[]){ "doc", id, NULL }, k);
	}
}

static void *publish_loop(void *arg)
{
	struct publisher *p = arg;
	struct metrics_text t;

	metrics_text_init(&t);
	while (!atomic_load(&p->stop)) {
		unsigned int k = atomic_load(&p->published);

		build_document(&t, k);
		metrics_publish(p->server, &t);
		atomic_store(&p->published, k + 1);
		/* A publisher that never yields starves the scrapes on a busy machine. */
		sched_yield();
	}
	return NULL;
}

/*
 * Waits, without sleeping, until a document after number `seen` is out, so
 * that every scrape races a publisher that has moved on. False if it has
 * not within a few seconds.
 */
static bool wait_for_publish_after(struct publisher *p, unsigned int seen)
{
	struct timespec start, now;

	clock_gettime(CLOCK_MONOTONIC, &start);
	while (atomic_load(&p->published) <= seen + 1) {
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (now.tv_sec - start.tv_sec > REPLY_TIMEOUT_SECONDS)
			return false;
		sched_yield();
	}
	return true;
}

/* Scrapes once; "" if the reply is one whole published document newer than *last_k. */
static void check_scrape(unsigned int port, unsigned int *last_k, char *problem, size_t len)
{
	struct http_reply reply;
	struct metrics_text want;
	char *label, why[200];
	unsigned int k;

	problem[0] = '\0';
	if (http_exchange(AF_INET, port,
			  "GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n",
			  &reply, why, sizeof(why))) {
		snprintf(problem, len, "GET /metrics: %s", why);
		return;
	}
	label = strstr(reply.body, "doc=\"");
	metrics_text_init(&want);
	if (reply.status != 200)
		snprintf(problem, len, "status %d", reply.status);
	else if (reply.content_length < 0 || (size_t)reply.content_length != reply.body_len)
		snprintf(problem, len, "Content-Length %ld for a %zu-byte body",
			 reply.content_length, reply.body_len);
	else if (!label || sscanf(label, "doc=\"%u\"", &k) != 1)
		snprintf(problem, len, "no document number in \"%.80s\"", reply.body);
	else if (build_document(&want, k), strcmp(reply.body, want.buf))
		snprintf(problem, len, "not document %u as published (%zu bytes, want %zu)", k,
			 reply.body_len, want.len);
	else if (k <= *last_k)
		snprintf(problem, len, "document %u after document %u", k, *last_k);
	else
		*last_k = k;
	metrics_text_free(&want);
	http_reply_free(&reply);
}

static void test_scrape_sees_one_whole_document(void **unused)
{
	struct publisher p = {};
	char err[METRICS_ERR_LEN], problem[256] = "";
	struct metrics_text first;
	unsigned int port, last_k = 0;
	pthread_t thread;
	int scrape;

	(void)unused;
	p.server = metrics_start("127.0.0.1:0", err, sizeof(err));
	if (!p.server)
		fail_msg("metrics_start: %s", err);
	port = metrics_port(p.server);
	metrics_text_init(&first);
	build_document(&first, 0);
	metrics_publish(p.server, &first);
	atomic_store(&p.published, 1);
	assert_int_equal(pthread_create(&thread, NULL, publish_loop, &p), 0);

	for (scrape = 0; scrape < 300 && !problem[0]; scrape++) {
		if (!wait_for_publish_after(&p, last_k))
			snprintf(problem, sizeof(problem), "the publisher stopped at document %u",
				 atomic_load(&p.published) - 1);
		else
			check_scrape(port, &last_k, problem, sizeof(problem));
	}
	atomic_store(&p.stop, true);
	pthread_join(thread, NULL);
	metrics_stop(p.server);
	if (problem[0])
		fail_msg("scrape %d: %s", scrape - 1, problem);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_help_escaping),
		cmocka_unit_test(test_label_escaping),
		cmocka_unit_test(test_label_without_value_fails),
		cmocka_unit_test(test_number_formatting),
		cmocka_unit_test(test_document),
		cmocka_unit_test(test_text_grows),
		cmocka_unit_test(test_address_errors),
		cmocka_unit_test(test_address_parsing),
		cmocka_unit_test(test_address_in_use),
		cmocka_unit_test(test_live_server),
		cmocka_unit_test(test_listens_only_where_told),
		cmocka_unit_test(test_live_server_ipv6),
		cmocka_unit_test(test_server_thread_blocks_signals),
		cmocka_unit_test(test_scrape_sees_one_whole_document),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
