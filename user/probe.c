// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Active health probes of a service: see probe.h. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "probe.h"

#define THREAD_NETNS "/proc/thread-self/ns/net"

/* The error names the input, with control characters shown as '?' to keep it one line. */
static int parse_fail(char *err, size_t err_len, const char *text, const char *why)
{
	char shown[PROBE_MAX_PATH + 64];
	size_t i;

	for (i = 0; text[i] && i < sizeof(shown) - 1; i++)
		shown[i] = text[i] < ' ' || text[i] == 0x7f ? '?' : text[i];
	shown[i] = '\0';
	snprintf(err, err_len, "invalid probe '%s': %s", shown, why);
	errno = EINVAL;
	return -1;
}

/* "1..65535", digits only, ending at `end`. */
static int parse_port(const char *s, const char *end, __u16 *port)
{
	unsigned long v = 0;

	if (s == end || end - s > 5)
		return -1;
	for (const char *c = s; c < end; c++) {
		if (*c < '0' || *c > '9')
			return -1;
		v = v * 10 + (unsigned long)(*c - '0');
	}
	if (v == 0 || v > 65535)
		return -1;
	*port = (__u16)v;
	return 0;
}

static void set_addr4(struct probe_target *t, const struct in_addr *a, __u16 port)
{
	struct sockaddr_in *sin = (struct sockaddr_in *)&t->addr;

	memset(&t->addr, 0, sizeof(t->addr));
	sin->sin_family = AF_INET;
	sin->sin_port = htons(port);
	sin->sin_addr = *a;
	t->addr_len = sizeof(*sin);
}

/*
 * "ADDR:PORT" from s up to end (the '/' of a path or the end of the text):
 * numeric IPv4, or IPv6 in brackets.
 */
static int parse_authority(const char *text, const char *s, const char *end,
			   struct probe_target *t, char *err, size_t err_len)
{
	char addr[INET6_ADDRSTRLEN + 1];
	const char *colon, *addr_start = s, *addr_end;
	struct in6_addr a6;
	struct in_addr a4;
	bool v6 = false;
	__u16 port;

	if (s == end)
		return parse_fail(err, err_len, text, "no address");
	if (*s == '[') {
		addr_start = s + 1;
		addr_end = memchr(addr_start, ']', (size_t)(end - addr_start));
		if (!addr_end)
			return parse_fail(err, err_len, text, "no ']' after an IPv6 address");
		colon = addr_end + 1;
		v6 = true;
	} else {
		colon = memchr(s, ':', (size_t)(end - s));
		addr_end = colon ? colon : end;
		if (colon && memchr(colon + 1, ':', (size_t)(end - colon - 1)))
			return parse_fail(err, err_len, text,
					  "an IPv6 address goes in brackets ([::1]:80)");
	}
	if (!colon || colon >= end || *colon != ':')
		return parse_fail(err, err_len, text, "no port (ADDR:PORT)");
	if (parse_port(colon + 1, end, &port))
		return parse_fail(err, err_len, text, "the port is not a number in 1..65535");
	if (addr_end - addr_start <= 0 || (size_t)(addr_end - addr_start) >= sizeof(addr))
		return parse_fail(err, err_len, text,
				  "the address is not a numeric IPv4 or [IPv6] address");
	memcpy(addr, addr_start, (size_t)(addr_end - addr_start));
	addr[addr_end - addr_start] = '\0';

	if (v6 && inet_pton(AF_INET6, addr, &a6) == 1) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&t->addr;

		memset(&t->addr, 0, sizeof(t->addr));
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		sin6->sin6_addr = a6;
		t->addr_len = sizeof(*sin6);
		snprintf(t->host, sizeof(t->host), "[%s]:%u", addr, port);
		return 0;
	}
	if (!v6 && inet_pton(AF_INET, addr, &a4) == 1) {
		set_addr4(t, &a4, port);
		snprintf(t->host, sizeof(t->host), "%s:%u", addr, port);
		return 0;
	}
	return parse_fail(err, err_len, text,
			  "the address is not a numeric IPv4 or [IPv6] address (no names)");
}

int probe_target_parse(const char *text, __u16 default_port, struct probe_target *out,
		       char *err, size_t err_len)
{
	struct probe_target t = { 0 };
	const char *s, *end, *slash;

	if (!text || !*text)
		return parse_fail(err, err_len, text ? text : "", "empty (want tcp or http://ADDR:PORT/PATH)");
	end = text + strlen(text);

	if (!strcmp(text, "tcp")) {
		struct in_addr lo = { .s_addr = htonl(INADDR_LOOPBACK) };

		if (!default_port)
			return parse_fail(err, err_len, text, "the service has no port to probe");
		t.kind = PROBE_TCP;
		set_addr4(&t, &lo, default_port);
		snprintf(t.host, sizeof(t.host), "127.0.0.1:%u", default_port);
		*out = t;
		return 0;
	}
	if (!strncmp(text, "tcp://", 6)) {
		t.kind = PROBE_TCP;
		s = text + 6;
		if (parse_authority(text, s, end, &t, err, err_len))
			return -1;
		*out = t;
		return 0;
	}
	if (strncmp(text, "http://", 7))
		return parse_fail(err, err_len, text,
				  "want tcp, tcp://ADDR:PORT or http://ADDR:PORT/PATH");

	t.kind = PROBE_HTTP;
	s = text + 7;
	slash = strchr(s, '/');
	if (parse_authority(text, s, slash ? slash : end, &t, err, err_len))
		return -1;
	if (!slash) {
		strcpy(t.path, "/");
	} else {
		if ((size_t)(end - slash) >= sizeof(t.path))
			return parse_fail(err, err_len, text, "the path is too long");
		/* Anything else would let the path rewrite the request. */
		for (const char *c = slash; c < end; c++)
			if (*c <= ' ' || *c >= 0x7f)
				return parse_fail(err, err_len, text,
						  "the path has a space or a control character");
		memcpy(t.path, slash, (size_t)(end - slash) + 1);
	}
	*out = t;
	return 0;
}

void prober_init(struct prober *p)
{
	memset(p, 0, sizeof(*p));
	p->fd = -1;
	p->state = PROBER_IDLE;
}

int prober_fd(const struct prober *p)
{
	return p->state == PROBER_IDLE ? -1 : p->fd;
}

void prober_close(struct prober *p)
{
	if (p->fd >= 0)
		close(p->fd);
	p->fd = -1;
	p->state = PROBER_IDLE;
}

/* A socket created in the namespace netns_fd; the thread is back in its own either way. */
static int socket_in_netns(int family, int netns_fd)
{
	int home_fd, fd, saved_errno;

	if (netns_fd < 0)
		return socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	home_fd = open(THREAD_NETNS, O_RDONLY | O_CLOEXEC);
	if (home_fd < 0)
		return -1;
	if (setns(netns_fd, CLONE_NEWNET)) {
		saved_errno = errno;
		close(home_fd);
		errno = saved_errno;
		return -1;
	}
	fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	saved_errno = errno;
	/*
	 * Going back to a namespace the thread was allowed to be in should not
	 * fail; if it did, everything the thread did next would happen in the
	 * service's namespace, so that is the error to report.
	 */
	if (setns(home_fd, CLONE_NEWNET)) {
		saved_errno = errno;
		if (fd >= 0)
			close(fd);
		fd = -1;
	}
	close(home_fd);
	errno = saved_errno;
	return fd;
}

int prober_start(struct prober *p, const struct probe_target *t, int netns_fd, __u64 now_ns)
{
	int fd, n;

	if (p->state != PROBER_IDLE) {
		errno = EBUSY;
		return -1;
	}
	if (t->kind == PROBE_HTTP) {
		n = snprintf(p->request, sizeof(p->request), "GET %s HTTP/1.0\r\nHost: %s\r\n\r\n",
			     t->path, t->host);
		if (n < 0 || (size_t)n >= sizeof(p->request)) {
			errno = ENAMETOOLONG;
			return -1;
		}
		p->request_len = (size_t)n;
	} else {
		p->request_len = 0;
	}
	fd = socket_in_netns(t->addr.ss_family, netns_fd);
	if (fd < 0)
		return -1;

	p->fd = fd;
	p->kind = t->kind;
	p->started_ns = now_ns;
	p->sent = p->received = 0;
	p->connect_error = 0;
	p->state = PROBER_CONNECTING;
	/*
	 * A connect that fails at once leaves a closed socket, which poll()
	 * reports as POLLHUP: the controller's poll set still wakes for it.
	 */
	if (connect(fd, (const struct sockaddr *)&t->addr, t->addr_len) && errno != EINPROGRESS)
		p->connect_error = errno;
	return 0;
}

/*
 * "HTTP/1.x NNN" followed by a space or the line end. The status, or 0 when
 * the line is not an HTTP/1 status line.
 */
static int status_of(const char *line)
{
	int status;

	if (strncmp(line, "HTTP/1.", 7) || line[7] < '0' || line[7] > '9' || line[8] != ' ')
		return 0;
	for (int i = 9; i < 12; i++)
		if (line[i] < '0' || line[i] > '9')
			return 0;
	if (line[12] != ' ' && line[12] != '\r' && line[12] != '\n')
		return 0;
	status = (line[9] - '0') * 100 + (line[10] - '0') * 10 + (line[11] - '0');
	return status >= 100 ? status : 0;
}

enum step { STEP_PENDING, STEP_DONE, STEP_ERROR };

static enum step fail_with(struct probe_result *out, int error)
{
	out->failed = true;
	out->error = error;
	out->refused = error == ECONNREFUSED;
	out->timed_out = error == ETIMEDOUT;
	return STEP_DONE;
}

/* One non-blocking step of the probe; STEP_DONE fills *out except its duration. */
static enum step advance(struct prober *p, struct probe_result *out)
{
	struct pollfd pfd = { .fd = p->fd };
	int error = 0;
	socklen_t len = sizeof(error);
	ssize_t n;

	if (p->connect_error)
		return fail_with(out, p->connect_error);

	for (;;) {
		pfd.events = p->state == PROBER_READING ? POLLIN : POLLOUT;
		n = poll(&pfd, 1, 0);
		if (n < 0)
			return errno == EINTR ? STEP_PENDING : STEP_ERROR;
		if (n == 0)
			return STEP_PENDING;

		switch (p->state) {
		case PROBER_CONNECTING:
			if (getsockopt(p->fd, SOL_SOCKET, SO_ERROR, &error, &len))
				return STEP_ERROR;
			if (error)
				return fail_with(out, error);
			if (!(pfd.revents & POLLOUT))
				return fail_with(out, ECONNRESET);
			if (p->kind == PROBE_TCP)
				return STEP_DONE;
			p->state = PROBER_SENDING;
			break;
		case PROBER_SENDING:
			n = send(p->fd, p->request + p->sent, p->request_len - p->sent,
				 MSG_NOSIGNAL | MSG_DONTWAIT);
			if (n < 0) {
				if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
					return STEP_PENDING;
				return fail_with(out, errno);
			}
			p->sent += (size_t)n;
			if (p->sent == p->request_len)
				p->state = PROBER_READING;
			break;
		case PROBER_READING:
			n = recv(p->fd, p->response + p->received,
				 PROBE_MAX_RESPONSE - p->received, MSG_DONTWAIT);
			if (n < 0) {
				if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
					return STEP_PENDING;
				return fail_with(out, errno);
			}
			if (n == 0) /* closed before a whole status line */
				return fail_with(out, 0);
			p->received += (size_t)n;
			p->response[p->received] = '\0';
			if (memchr(p->response, '\n', p->received)) {
				out->http_status = status_of(p->response);
				out->failed = out->http_status < 200 || out->http_status > 399;
				return STEP_DONE;
			}
			if (p->received == PROBE_MAX_RESPONSE)
				return fail_with(out, 0);
			break;
		default:
			errno = EINVAL;
			return STEP_ERROR;
		}
	}
}

int prober_poll(struct prober *p, __u64 now_ns, __u64 timeout_ns, struct probe_result *out)
{
	struct probe_result r = { 0 };
	enum step step;
	int saved_errno;

	if (p->state == PROBER_IDLE) {
		errno = EINVAL;
		return -1;
	}
	step = advance(p, &r);
	if (step == STEP_ERROR) {
		saved_errno = errno;
		prober_close(p);
		errno = saved_errno;
		return -1;
	}
	r.duration_ns = now_ns > p->started_ns ? now_ns - p->started_ns : 0;
	if (r.duration_ns >= timeout_ns) {
		/* Pending, or a success seen too late; a failure stays what it was. */
		if (step == STEP_PENDING || !r.failed)
			r.failed = r.timed_out = true;
	} else if (step == STEP_PENDING) {
		return 0;
	}
	prober_close(p);
	*out = r;
	return 1;
}
