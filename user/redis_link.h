/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The controller's connection to Redis for fleet-wide limits (issue 7),
 * on hiredis, never blocking: a non-blocking connect to a numeric address
 * (no resolver: the controller must not wait on DNS), then one pipeline at
 * a time, written and read as poll() says the socket is ready. A pipeline
 * not answered within its timeout, a refused connect or a reply the link
 * cannot read drops the connection: the link is down, the caller falls
 * back to local limits, and the link connects again after a backoff (100 ms
 * doubling up to 5 s). hiredis 0.14 (Debian 12) has no TLS: a password
 * (AUTH) and a database (SELECT) are all a URL can ask for.
 */
#ifndef SLUICE_REDIS_LINK_H
#define SLUICE_REDIS_LINK_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include <linux/types.h>

/* redis://[:PASSWORD@]HOST[:PORT][/DB] */
struct redis_url {
	char host[64];		/* numeric IPv4 or IPv6 (given in brackets), or localhost */
	int port;		/* 6379 unless given */
	int db;			/* 0 unless given */
	char password[128];	/* "" for none */
};

/* Reads a URL. 0, or -1 with one line in err naming what is wrong. */
int redis_url_parse(const char *text, struct redis_url *out, char *err, size_t err_len);
/* Writes it back without the password: "redis://127.0.0.1:6379/0". */
void redis_url_format(const struct redis_url *url, char *buf, size_t len);

enum redis_link_state {
	REDIS_LINK_DOWN,	/* not connected; connects again at next_attempt_ns */
	REDIS_LINK_CONNECTING,	/* the connect (and AUTH, SELECT) is under way */
	REDIS_LINK_READY,	/* a pipeline may be sent */
	REDIS_LINK_BUSY,	/* a pipeline is out; its replies are coming */
};

#define REDIS_LINK_MAX_BATCH 4096	/* commands in one pipeline */

struct redisContext;
struct redisReply;

struct redis_link {
	struct redis_url url;
	struct redisContext *ctx;
	enum redis_link_state state;
	__u64 timeout_ns;		/* for a connect, and for a pipeline's replies */
	__u64 started_ns;		/* when the connect or the pipeline began */
	__u64 next_attempt_ns;		/* DOWN: when to connect again */
	__u64 backoff_ns;		/* the wait after the next failure */
	unsigned int setup;		/* AUTH and SELECT replies still due while connecting */
	bool tcp_up;			/* connecting: the TCP connect has completed */
	unsigned int sent, received;	/* the pipeline's commands, and replies in */
	bool appending;			/* between redis_link_begin() and redis_link_send() */
	struct redisReply *reply[REDIS_LINK_MAX_BATCH];
	__u64 last_latency_ns;		/* the last pipeline's round trip */
	char error[128];		/* why it last went down */
};

void redis_link_init(struct redis_link *l, const struct redis_url *url, __u64 timeout_ns);
void redis_link_close(struct redis_link *l);

/* The socket and the events to poll for; -1 when there is none (down). */
int redis_link_fd(const struct redis_link *l, short *events);
/* When the link needs a call without its socket moving: a timeout, a reconnect. */
__u64 redis_link_wakeup_ns(const struct redis_link *l);

/*
 * Moves the link on without blocking: connects when due, sends what is
 * written, reads what came, times out. Returns true when the link changed
 * state (it came up, went down, or a pipeline's replies are all in).
 */
bool redis_link_poll(struct redis_link *l, __u64 now_ns);

/* A pipeline: begin (READY only), append commands, send. 0, or -1 with errno. */
int redis_link_begin(struct redis_link *l);
int redis_link_append(struct redis_link *l, int argc, const char **argv, const size_t *argv_len);
int redis_link_send(struct redis_link *l, __u64 now_ns);

/* After a pipeline went out: whether all its replies are in, and each of them. */
bool redis_link_done(const struct redis_link *l);
const struct redisReply *redis_link_reply(const struct redis_link *l, unsigned int i);
/* Frees the replies; the link is READY for the next pipeline. */
void redis_link_release(struct redis_link *l);

#endif /* SLUICE_REDIS_LINK_H */
