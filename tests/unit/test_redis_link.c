// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Tests of the controller's Redis connection (user/redis_link.c): URLs as
 * operators write them, and the link against a real redis-server started
 * by the test on a free loopback port: a pipeline of INCRBY and EXPIRE and
 * its replies, AUTH and SELECT, a refused connect (down, with a backoff
 * that doubles), a server that stops answering (SIGSTOP: the pipeline
 * times out and the link goes down without blocking), and coming back
 * when the server does. Needs redis-server (`make deps`); says skipped
 * without it.
 */
#define _GNU_SOURCE
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <hiredis/hiredis.h>
#include <cmocka.h>

#include "redis_link.h"
#include "testing.h"

#define MS 1000000ull

static void test_url_parse(void **unused)
{
	static const struct {
		const char *text, *host, *password;
		int port, db;
	} good[] = {
		{ "redis://127.0.0.1", "127.0.0.1", "", 6379, 0 },
		{ "redis://10.0.0.5:7000", "10.0.0.5", "", 7000, 0 },
		{ "redis://10.0.0.5:7000/3", "10.0.0.5", "", 7000, 3 },
		{ "redis://10.0.0.5/2", "10.0.0.5", "", 6379, 2 },
		{ "redis://:s3cret@10.0.0.5:7000/1", "10.0.0.5", "s3cret", 7000, 1 },
		{ "redis://[::1]:6380", "::1", "", 6380, 0 },
		{ "redis://localhost", "127.0.0.1", "", 6379, 0 },
		{ "redis://127.0.0.1/", "127.0.0.1", "", 6379, 0 },
	};
	static const struct {
		const char *text, *error;
	} bad[] = {
		{ "127.0.0.1:6379", "not a redis:// URL" },
		{ "rediss://127.0.0.1", "not a redis:// URL" },
		{ "redis://", "no host" },
		{ "redis://redis.example.com", "not a numeric IPv4 address" },
		{ "redis://127.0.0.1:0", "the port must be 1 to 65535" },
		{ "redis://127.0.0.1:65536", "the port must be 1 to 65535" },
		{ "redis://127.0.0.1:x", "the port must be 1 to 65535" },
		{ "redis://127.0.0.1/x", "the database must be a number" },
		{ "redis://user:pw@127.0.0.1", "a user name is not supported" },
		{ "redis://:@127.0.0.1", "the password is empty" },
		{ "redis://[::1", "closing ']'" },
		{ "redis://[1.2.3.4]", "not an IPv6 address" },
		{ "redis://[::1]x", "unexpected text after the host" },
	};
	char err[256], text[128];

	(void)unused;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		struct redis_url u;

		if (redis_url_parse(good[i].text, &u, err, sizeof(err)))
			fail_msg("%s: %s", good[i].text, err);
		assert_string_equal(u.host, good[i].host);
		assert_string_equal(u.password, good[i].password);
		assert_int_equal(u.port, good[i].port);
		assert_int_equal(u.db, good[i].db);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct redis_url u = { .port = 4242 };

		err[0] = '\0';
		if (redis_url_parse(bad[i].text, &u, err, sizeof(err)) != -1 ||
		    !strstr(err, bad[i].error))
			fail_msg("%s: got \"%s\", want \"%s\"", bad[i].text, err, bad[i].error);
		assert_int_equal(u.port, 4242);
	}
	{
		struct redis_url u;

		assert_int_equal(redis_url_parse("redis://:pw@[::1]:7000/2", &u, err, sizeof(err)), 0);
		redis_url_format(&u, text, sizeof(text));
		assert_string_equal(text, "redis://:***@[::1]:7000/2");
	}
}

/* ---- A redis-server of the test's own ---------------------------------- */

static pid_t server_pid;
static int server_port;

static int free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port;

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
	port = ntohs(a.sin_port);
	close(fd);
	return port;
}

/* Starts redis-server on server_port (a password if given); false when there is none. */
static bool server_start(const char *password)
{
	char port[16];
	__u64 until = now_ns() + 5000 * MS;

	snprintf(port, sizeof(port), "%d", server_port);
	server_pid = fork();
	assert_true(server_pid >= 0);
	if (server_pid == 0) {
		int null = open("/dev/null", 1);

		dup2(null, 1);
		dup2(null, 2);
		execlp("redis-server", "redis-server", "--port", port, "--bind", "127.0.0.1",
		       "--save", "", "--appendonly", "no", "--daemonize", "no",
		       password ? "--requirepass" : NULL, password, (char *)NULL);
		_exit(127);
	}
	/* Up when it answers PING. */
	while (now_ns() < until) {
		struct timeval tv = { 0, 200000 };
		redisContext *c = redisConnectWithTimeout("127.0.0.1", server_port, tv);
		int status;

		if (c && !c->err) {
			redisFree(c);
			return true;
		}
		if (c)
			redisFree(c);
		if (waitpid(server_pid, &status, WNOHANG) == server_pid) {
			server_pid = 0;
			return false;
		}
		usleep(20000);
	}
	return false;
}

static void server_stop(void)
{
	if (server_pid > 0) {
		kill(server_pid, SIGCONT);
		kill(server_pid, SIGKILL);
		waitpid(server_pid, NULL, 0);
	}
	server_pid = 0;
}

static int teardown(void **state)
{
	(void)state;
	server_stop();
	return 0;
}

/* Polls the link (as the controller's loop would) until cond(l) or ms pass. */
static bool run_until(struct redis_link *l, bool (*cond)(const struct redis_link *), unsigned ms)
{
	__u64 until = now_ns() + ms * MS;

	while (now_ns() < until) {
		short events;
		int fd = redis_link_fd(l, &events);

		if (fd >= 0) {
			struct pollfd p = { .fd = fd, .events = events };

			poll(&p, 1, 5);
		} else {
			usleep(2000);
		}
		redis_link_poll(l, now_ns());
		if (cond(l))
			return true;
	}
	return false;
}

static bool is_ready(const struct redis_link *l) { return l->state == REDIS_LINK_READY; }
static bool is_down(const struct redis_link *l) { return l->state == REDIS_LINK_DOWN; }
static bool is_done(const struct redis_link *l) { return redis_link_done(l); }

static struct redis_link link_to(const char *password, int db)
{
	struct redis_link l;
	struct redis_url u = { .host = "127.0.0.1", .port = server_port, .db = db };

	if (password)
		snprintf(u.password, sizeof(u.password), "%s", password);
	redis_link_init(&l, &u, 200 * MS);
	return l;
}

/* INCRBY KEY N then EXPIRE KEY 2 as one pipeline; the INCRBY's answer. */
static long long incr(struct redis_link *l, const char *key, const char *by)
{
	const char *incrby[] = { "INCRBY", key, by }, *expire[] = { "EXPIRE", key, "2" };
	size_t incrby_len[] = { 6, strlen(key), strlen(by) }, expire_len[] = { 6, strlen(key), 1 };
	const struct redisReply *r;
	long long total;

	assert_int_equal(redis_link_begin(l), 0);
	assert_int_equal(redis_link_append(l, 3, incrby, incrby_len), 0);
	assert_int_equal(redis_link_append(l, 3, expire, expire_len), 0);
	assert_int_equal(redis_link_send(l, now_ns()), 0);
	assert_true(run_until(l, is_done, 2000));
	r = redis_link_reply(l, 0);
	assert_non_null(r);
	assert_int_equal(r->type, REDIS_REPLY_INTEGER);
	total = r->integer;
	r = redis_link_reply(l, 1);
	assert_int_equal(r->type, REDIS_REPLY_INTEGER);
	assert_int_equal(r->integer, 1);	/* the key exists, so its expiry was set */
	assert_null(redis_link_reply(l, 2));
	redis_link_release(l);
	assert_int_equal(l->state, REDIS_LINK_READY);
	return total;
}

static void test_pipeline_and_reconnect(void **unused)
{
	struct redis_link l;
	__u64 first_backoff;

	(void)unused;
	server_port = free_port();
	if (!server_start(NULL))
		SKIP_BECAUSE("no redis-server to test against (make deps installs it)");
	l = link_to(NULL, 0);
	/* Down at first; the first poll connects. */
	assert_int_equal(l.state, REDIS_LINK_DOWN);
	assert_int_equal(redis_link_begin(&l), -1);
	assert_int_equal(errno, ENOTCONN);
	assert_true(run_until(&l, is_ready, 2000));
	assert_int_equal(incr(&l, "sluice:test", "5"), 5);
	assert_int_equal(incr(&l, "sluice:test", "7"), 12);
	assert_true(l.last_latency_ns > 0 && l.last_latency_ns < 200 * MS);

	/* The server stops answering: the pipeline times out, the link goes down at once. */
	kill(server_pid, SIGSTOP);
	{
		const char *get[] = { "GET", "sluice:test" };
		size_t get_len[] = { 3, 11 };
		__u64 sent = now_ns();

		assert_int_equal(redis_link_begin(&l), 0);
		assert_int_equal(redis_link_append(&l, 2, get, get_len), 0);
		assert_int_equal(redis_link_send(&l, sent), 0);
		assert_int_equal(redis_link_begin(&l), -1);	/* one pipeline at a time */
		assert_int_equal(errno, EBUSY);
		assert_true(run_until(&l, is_down, 2000));
		/* Within the 200 ms timeout and a poll or two, not more. */
		assert_true(now_ns() - sent < 400 * MS);
		assert_string_equal(l.error, "no reply in time");
	}
	/* Gone: connects are refused, the backoff doubles, nothing blocks. */
	server_stop();
	first_backoff = l.backoff_ns;
	{
		__u64 until = now_ns() + 1000 * MS, next = l.next_attempt_ns;
		unsigned int attempts = 0;

		/* Each failed attempt sets the time of the next one. */
		while (now_ns() < until) {
			redis_link_poll(&l, now_ns());
			if (l.next_attempt_ns != next) {
				attempts++;
				next = l.next_attempt_ns;
			}
			usleep(1000);
		}
		/* 100, 200, 400 ms...: a handful of attempts a second, not thousands. */
		assert_in_range(attempts, 1, 5);
		assert_true(l.backoff_ns > first_backoff);
	}
	/* Back: the link comes up by itself, and the counter is new. */
	assert_true(server_start(NULL));
	assert_true(run_until(&l, is_ready, 6000));
	assert_int_equal(incr(&l, "sluice:test", "1"), 1);
	redis_link_close(&l);
}

static void test_auth_and_select(void **unused)
{
	struct redis_link l;

	(void)unused;
	server_port = free_port();
	if (!server_start("pw"))
		SKIP_BECAUSE("no redis-server to test against (make deps installs it)");
	/* The right password, database 3. */
	l = link_to("pw", 3);
	assert_true(run_until(&l, is_ready, 2000));
	assert_int_equal(incr(&l, "k", "2"), 2);
	redis_link_close(&l);
	/* Database 0 does not have it. */
	l = link_to("pw", 0);
	assert_true(run_until(&l, is_ready, 2000));
	assert_int_equal(incr(&l, "k", "2"), 2);
	redis_link_close(&l);
	/* A wrong password: down, saying why. */
	l = link_to("wrong", 0);
	assert_false(run_until(&l, is_ready, 300));
	assert_int_equal(l.state, REDIS_LINK_DOWN);
	assert_non_null(strstr(l.error, "refused"));
	redis_link_close(&l);
	/* No password where one is needed: the pipeline's reply is an error, for the caller. */
	l = link_to(NULL, 0);
	assert_true(run_until(&l, is_ready, 2000));
	{
		const char *get[] = { "GET", "k" };
		size_t get_len[] = { 3, 1 };

		assert_int_equal(redis_link_begin(&l), 0);
		assert_int_equal(redis_link_append(&l, 2, get, get_len), 0);
		assert_int_equal(redis_link_send(&l, now_ns()), 0);
		assert_true(run_until(&l, is_done, 2000));
		assert_int_equal(redis_link_reply(&l, 0)->type, REDIS_REPLY_ERROR);
		redis_link_release(&l);
	}
	redis_link_close(&l);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_url_parse),
		cmocka_unit_test_teardown(test_pipeline_and_reconnect, teardown),
		cmocka_unit_test_teardown(test_auth_and_select, teardown),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
