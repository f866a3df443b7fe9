// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The controller's non-blocking connection to Redis (user/redis_link.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <hiredis/hiredis.h>
#include <hiredis/sds.h>

#include "redis_link.h"

#define MS 1000000ull
#define BACKOFF_FIRST_NS (100 * MS)
#define BACKOFF_MAX_NS (5000 * MS)

static int url_fail(char *err, size_t err_len, const char *text, const char *why)
{
	snprintf(err, err_len, "invalid --redis '%s': %s (expected "
		 "redis://[:PASSWORD@]HOST[:PORT][/DB], HOST a numeric address)", text, why);
	return -1;
}

/* A whole number in [min, max] from s up to end. */
static int number_in(const char *s, const char *end, long min, long max, int *out)
{
	long v = 0;

	if (s == end || end - s > 7)
		return -1;
	for (const char *p = s; p < end; p++) {
		if (*p < '0' || *p > '9')
			return -1;
		v = v * 10 + (*p - '0');
	}
	if (v < min || v > max)
		return -1;
	*out = (int)v;
	return 0;
}

int redis_url_parse(const char *text, struct redis_url *out, char *err, size_t err_len)
{
	static const char scheme[] = "redis://";
	struct redis_url url = { .port = 6379 };
	const char *s = text, *at, *host_end, *slash;
	unsigned char addr[sizeof(struct in6_addr)];

	if (strncmp(s, scheme, sizeof(scheme) - 1) != 0)
		return url_fail(err, err_len, text, "not a redis:// URL (no TLS: rediss:// is not "
				"supported by hiredis 0.14)");
	s += sizeof(scheme) - 1;
	slash = strchr(s, '/');
	at = strchr(s, '@');
	if (at && (!slash || at < slash)) {
		if (*s != ':')
			return url_fail(err, err_len, text, "a user name is not supported: give "
					":PASSWORD@");
		if ((size_t)(at - s - 1) >= sizeof(url.password) || at - s - 1 == 0)
			return url_fail(err, err_len, text, "the password is empty or too long");
		memcpy(url.password, s + 1, (size_t)(at - s - 1));
		s = at + 1;
	}
	if (!slash)
		slash = s + strlen(s);
	if (*s == '[') {
		host_end = memchr(s, ']', (size_t)(slash - s));
		if (!host_end || (size_t)(host_end - s - 1) >= sizeof(url.host))
			return url_fail(err, err_len, text, "an IPv6 address needs its closing ']'");
		memcpy(url.host, s + 1, (size_t)(host_end - s - 1));
		if (inet_pton(AF_INET6, url.host, addr) != 1)
			return url_fail(err, err_len, text, "not an IPv6 address");
		s = host_end + 1;
	} else {
		host_end = memchr(s, ':', (size_t)(slash - s));
		if (!host_end)
			host_end = slash;
		if (host_end == s || (size_t)(host_end - s) >= sizeof(url.host))
			return url_fail(err, err_len, text, "no host");
		memcpy(url.host, s, (size_t)(host_end - s));
		if (strcmp(url.host, "localhost") == 0)
			strcpy(url.host, "127.0.0.1");
		if (inet_pton(AF_INET, url.host, addr) != 1)
			return url_fail(err, err_len, text, "the host is not a numeric IPv4 address "
					"(the controller does not wait on DNS)");
		s = host_end;
	}
	if (*s == ':') {
		if (number_in(s + 1, slash, 1, 65535, &url.port))
			return url_fail(err, err_len, text, "the port must be 1 to 65535");
		s = slash;
	}
	if (s != slash)
		return url_fail(err, err_len, text, "unexpected text after the host");
	if (*slash == '/' && slash[1] && number_in(slash + 1, slash + strlen(slash), 0, 100000,
						    &url.db))
		return url_fail(err, err_len, text, "the database must be a number");
	*out = url;
	return 0;
}

void redis_url_format(const struct redis_url *url, char *buf, size_t len)
{
	bool v6 = strchr(url->host, ':') != NULL;

	snprintf(buf, len, "redis://%s%s%s%s:%d/%d", url->password[0] ? ":***@" : "",
		 v6 ? "[" : "", url->host, v6 ? "]" : "", url->port, url->db);
}

void redis_link_init(struct redis_link *l, const struct redis_url *url, __u64 timeout_ns)
{
	memset(l, 0, sizeof(*l));
	l->url = *url;
	l->timeout_ns = timeout_ns;
	l->backoff_ns = BACKOFF_FIRST_NS;
	l->state = REDIS_LINK_DOWN;
}

static void replies_free(struct redis_link *l)
{
	for (unsigned int i = 0; i < l->received; i++)
		freeReplyObject(l->reply[i]);
	l->sent = l->received = 0;
	l->appending = false;
}

/* Drops the connection; the next attempt waits for the backoff, which doubles. */
static void link_down(struct redis_link *l, __u64 now_ns, const char *why)
{
	snprintf(l->error, sizeof(l->error), "%s", why);
	replies_free(l);
	if (l->ctx)
		redisFree(l->ctx);
	l->ctx = NULL;
	l->state = REDIS_LINK_DOWN;
	l->next_attempt_ns = now_ns + l->backoff_ns;
	l->backoff_ns = l->backoff_ns * 2 > BACKOFF_MAX_NS ? BACKOFF_MAX_NS : l->backoff_ns * 2;
}

void redis_link_close(struct redis_link *l)
{
	replies_free(l);
	if (l->ctx)
		redisFree(l->ctx);
	l->ctx = NULL;
	l->state = REDIS_LINK_DOWN;
}

/* Starts a connect, with AUTH and SELECT queued behind it. */
static void link_connect(struct redis_link *l, __u64 now_ns)
{
	l->ctx = redisConnectNonBlock(l->url.host, l->url.port);
	if (!l->ctx || l->ctx->err) {
		link_down(l, now_ns, l->ctx ? l->ctx->errstr : "out of memory");
		return;
	}
	l->setup = 0;
	if (l->url.password[0]) {
		redisAppendCommand(l->ctx, "AUTH %s", l->url.password);
		l->setup++;
	}
	if (l->url.db) {
		redisAppendCommand(l->ctx, "SELECT %d", l->url.db);
		l->setup++;
	}
	l->state = REDIS_LINK_CONNECTING;
	l->tcp_up = false;
	l->started_ns = now_ns;
}

int redis_link_fd(const struct redis_link *l, short *events)
{
	if (!l->ctx || l->state == REDIS_LINK_DOWN)
		return -1;
	*events = POLLIN;
	/*
	 * The connect under way, or commands not all written: wait until it
	 * can write. Not otherwise: a connected socket is always writable,
	 * and poll() would spin while AUTH's answer is awaited.
	 */
	if ((l->state == REDIS_LINK_CONNECTING && !l->tcp_up) ||
	    (l->ctx->obuf && sdslen(l->ctx->obuf)))
		*events |= POLLOUT;
	return l->ctx->fd;
}

__u64 redis_link_wakeup_ns(const struct redis_link *l)
{
	switch (l->state) {
	case REDIS_LINK_DOWN:
		return l->next_attempt_ns;
	case REDIS_LINK_CONNECTING:
	case REDIS_LINK_BUSY:
		return l->started_ns + l->timeout_ns;
	case REDIS_LINK_READY:
		break;
	}
	return UINT64_MAX;
}

/* Takes the replies that are complete: the connect's first, then the pipeline's. */
static int take_replies(struct redis_link *l, __u64 now_ns)
{
	void *r;

	for (;;) {
		if (redisGetReplyFromReader(l->ctx, &r) != REDIS_OK) {
			link_down(l, now_ns, l->ctx->errstr[0] ? l->ctx->errstr : "unreadable reply");
			return -1;
		}
		if (!r)
			return 0;
		if (l->setup) {
			struct redisReply *reply = r;
			char why[128];

			l->setup--;
			if (reply->type == REDIS_REPLY_ERROR) {
				snprintf(why, sizeof(why), "%s refused: %s",
					 l->url.password[0] && !l->url.db ? "AUTH" : "AUTH or SELECT",
					 reply->str);
				freeReplyObject(reply);
				link_down(l, now_ns, why);
				return -1;
			}
			freeReplyObject(reply);
			continue;
		}
		if (l->state != REDIS_LINK_BUSY || l->received >= l->sent) {
			freeReplyObject(r);
			link_down(l, now_ns, "a reply nobody asked for");
			return -1;
		}
		l->reply[l->received++] = r;
	}
}

bool redis_link_poll(struct redis_link *l, __u64 now_ns)
{
	enum redis_link_state before = l->state;
	bool was_done = redis_link_done(l);
	struct pollfd p;
	int done = 0;

	if (l->state == REDIS_LINK_DOWN) {
		if (now_ns >= l->next_attempt_ns)
			link_connect(l, now_ns);
		return l->state != before;
	}
	p = (struct pollfd){ .fd = l->ctx->fd, .events = POLLIN | POLLOUT };
	if (poll(&p, 1, 0) < 0)
		return false;
	if (l->state == REDIS_LINK_CONNECTING && (p.revents & (POLLOUT | POLLERR | POLLHUP))) {
		int soerr = 0;
		socklen_t len = sizeof(soerr);

		if (getsockopt(l->ctx->fd, SOL_SOCKET, SO_ERROR, &soerr, &len) || soerr) {
			link_down(l, now_ns, strerror(soerr ? soerr : errno));
			return true;
		}
		l->tcp_up = true;
	}
	if ((p.revents & POLLOUT) && redisBufferWrite(l->ctx, &done) != REDIS_OK) {
		link_down(l, now_ns, l->ctx->errstr);
		return true;
	}
	if ((p.revents & (POLLIN | POLLHUP | POLLERR)) && redisBufferRead(l->ctx) != REDIS_OK) {
		link_down(l, now_ns, l->ctx->errstr[0] ? l->ctx->errstr : "connection closed");
		return true;
	}
	if (take_replies(l, now_ns))
		return true;
	if (l->state == REDIS_LINK_CONNECTING && !l->setup && l->tcp_up) {
		l->state = REDIS_LINK_READY;
		l->backoff_ns = BACKOFF_FIRST_NS;
		l->error[0] = '\0';
	}
	if (redis_link_done(l) && !was_done)
		l->last_latency_ns = now_ns - l->started_ns;
	if ((l->state == REDIS_LINK_CONNECTING || (l->state == REDIS_LINK_BUSY &&
						    !redis_link_done(l))) &&
	    now_ns - l->started_ns > l->timeout_ns) {
		link_down(l, now_ns, l->state == REDIS_LINK_CONNECTING ? "connect timed out" :
									  "no reply in time");
		return true;
	}
	return l->state != before || redis_link_done(l) != was_done;
}

int redis_link_begin(struct redis_link *l)
{
	if (l->state != REDIS_LINK_READY || l->appending) {
		errno = l->state == REDIS_LINK_DOWN ? ENOTCONN : EBUSY;
		return -1;
	}
	l->appending = true;
	l->sent = l->received = 0;
	return 0;
}

int redis_link_append(struct redis_link *l, int argc, const char **argv, const size_t *argv_len)
{
	if (!l->appending || l->sent >= REDIS_LINK_MAX_BATCH) {
		errno = l->appending ? E2BIG : EINVAL;
		return -1;
	}
	if (redisAppendCommandArgv(l->ctx, argc, argv, argv_len) != REDIS_OK) {
		errno = ENOMEM;
		return -1;
	}
	l->sent++;
	return 0;
}

int redis_link_send(struct redis_link *l, __u64 now_ns)
{
	int done = 0;

	if (!l->appending) {
		errno = EINVAL;
		return -1;
	}
	l->appending = false;
	l->state = REDIS_LINK_BUSY;
	l->started_ns = now_ns;
	/* Whatever fits goes now; redis_link_poll() writes the rest as the socket drains. */
	if (redisBufferWrite(l->ctx, &done) != REDIS_OK) {
		link_down(l, now_ns, l->ctx->errstr);
		errno = ECONNRESET;
		return -1;
	}
	return 0;
}

bool redis_link_done(const struct redis_link *l)
{
	return l->state == REDIS_LINK_BUSY && l->received == l->sent;
}

const struct redisReply *redis_link_reply(const struct redis_link *l, unsigned int i)
{
	return i < l->received ? l->reply[i] : NULL;
}

void redis_link_release(struct redis_link *l)
{
	replies_free(l);
	if (l->state == REDIS_LINK_BUSY)
		l->state = REDIS_LINK_READY;
}
