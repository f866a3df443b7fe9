// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Tests of the controller's view of a service's sockets (user/listenq.c) on
 * real sockets: accept queues, overflow counters and the connections in
 * flight, on loopback in this network namespace, and through a probe on the
 * namespace of a child process that listens on the same port. What a queue
 * holds is checked against the listener's own TCP_INFO, which the kernel
 * fills from the same fields but by another path; that a connection is in a
 * state that must not count (FIN_WAIT2, TIME_WAIT) or one that must
 * (SYN_RECV) is checked in /proc/net/tcp and tcp6, a third path. The
 * namespace tests need root and say skipped without it.
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
#include <netinet/tcp.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <cmocka.h>

#include "netns_testing.h"
#include "testing.h"

#include "listenq.h"

#define MAX_FDS 64
/* Past the kernel's queue limit (backlog + 1) of a backlog-1 listener. */
#define OVERFLOW_CLIENTS 3
/* Loopback handshakes finish as connect() returns; waits only cover a late softirq. */
#define SETTLE_MS 2000
#define CHILD_REPLY_MS 5000

/* The listener a child process keeps in its own namespace on the test's port. */
#define CHILD_BACKLOG 4
#define CHILD_QUEUED 2

/* The clients of one service in the connection tests. */
#define CONNECTIONS 3
/*
 * The measure of a read on a busy host: connections on another port, each
 * two sockets in the kernel's established table, and how many reads.
 */
#define BUSY_CONNECTIONS 2000

#define ASSERT_QUEUE(got, want_sockets, want_queued, want_backlog, what)                 \
	do {                                                                             \
		const struct listen_queue got_ = (got);                                  \
		if (got_.sockets != (want_sockets) || got_.queued != (want_queued) ||    \
		    got_.backlog != (want_backlog))                                      \
			fail_msg("%s: got sockets %u queued %u backlog %u, "             \
				 "want %u %u %u", (what), got_.sockets, got_.queued,     \
				 got_.backlog, (want_sockets), (want_queued),            \
				 (want_backlog));                                        \
	} while (0)

#define ASSERT_CONNECTIONS(got, want_syn_recv, want_established, want_close_wait, what)  \
	do {                                                                             \
		const struct service_connections got_ = (got);                           \
		const unsigned int want_[3] = { (want_syn_recv), (want_established),     \
						(want_close_wait) };                     \
		if (got_.syn_recv != want_[0] || got_.established != want_[1] ||        \
		    got_.close_wait != want_[2] ||                                       \
		    got_.in_flight != want_[0] + want_[1] + want_[2])                    \
			fail_msg("%s: got syn_recv %u established %u close_wait %u "     \
				 "in_flight %u, want %u %u %u %u", (what), got_.syn_recv, \
				 got_.established, got_.close_wait, got_.in_flight,      \
				 want_[0], want_[1], want_[2],                           \
				 want_[0] + want_[1] + want_[2]);                        \
	} while (0)

/* Everything a test makes, so teardown removes it however the test ended. */
struct fixture {
	int fds[MAX_FDS];
	unsigned int nfds;
	struct netns_probe *probes[3];
	pid_t child;
	int to_child, from_child;	/* one byte a command, one byte a reply */
	char mounted[64];		/* a namespace bound under /run/netns */
	bool made_run_netns;
	struct rlimit nofile;		/* as it was, when a test changed it */
	bool changed_nofile;
	int *bulk;			/* the many sockets of the busy-host measure */
	unsigned int nbulk;
	int home_netns;			/* this thread's namespace, while a test is out of it */
};

static int setup(void **state)
{
	struct fixture *fx = calloc(1, sizeof(*fx));

	if (!fx)
		return -1;
	fx->to_child = fx->from_child = fx->home_netns = -1;
	*state = fx;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *fx = *state;

	if (fx->home_netns >= 0) {
		if (setns(fx->home_netns, CLONE_NEWNET))
			fprintf(stderr, "cannot return to the test's network namespace: %s\n",
				strerror(errno));
		close(fx->home_netns);
	}
	for (unsigned int i = 0; i < fx->nfds; i++)
		close(fx->fds[i]);
	for (unsigned int i = 0; i < fx->nbulk; i++)
		close(fx->bulk[i]);
	free(fx->bulk);
	if (fx->changed_nofile)
		setrlimit(RLIMIT_NOFILE, &fx->nofile);
	for (size_t i = 0; i < sizeof(fx->probes) / sizeof(fx->probes[0]); i++)
		netns_probe_close(fx->probes[i]);
	if (fx->mounted[0]) {
		umount2(fx->mounted, MNT_DETACH);
		unlink(fx->mounted);
	}
	if (fx->made_run_netns)
		rmdir("/run/netns");
	if (fx->to_child >= 0)
		close(fx->to_child);
	if (fx->from_child >= 0)
		close(fx->from_child);
	if (fx->child > 0) {
		kill(fx->child, SIGKILL);
		waitpid(fx->child, NULL, 0);
	}
	free(fx);
	return 0;
}

/* Keeps a descriptor for teardown to close; fails the test if it is not one. */
static int keep(struct fixture *fx, int fd, const char *what)
{
	if (fd < 0)
		fail_msg("%s: %s", what, strerror(errno));
	if (fx->nfds == MAX_FDS) {
		close(fd);
		fail_msg("%s: the fixture holds only %d descriptors", what, MAX_FDS);
	}
	fx->fds[fx->nfds++] = fd;
	return fd;
}

/* Closes a descriptor that keep() holds, before teardown would. */
static void release(struct fixture *fx, int fd)
{
	for (unsigned int i = 0; i < fx->nfds; i++) {
		if (fx->fds[i] == fd) {
			close(fd);
			fx->fds[i] = fx->fds[--fx->nfds];
			return;
		}
	}
	fail_msg("descriptor %d is not the fixture's", fd);
}

static void sleep_ms(long ms)
{
	struct timespec t = { .tv_sec = ms / 1000, .tv_nsec = ms % 1000 * 1000000L };

	nanosleep(&t, NULL);
}

static socklen_t loopback(int family, __u16 port, struct sockaddr_storage *ss)
{
	memset(ss, 0, sizeof(*ss));
	if (family == AF_INET6) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

		sin6->sin6_family = AF_INET6;
		sin6->sin6_addr = in6addr_loopback;
		sin6->sin6_port = htons(port);
		return sizeof(*sin6);
	}
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;

	sin->sin_family = AF_INET;
	sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin->sin_port = htons(port);
	return sizeof(*sin);
}

/*
 * The helpers below return -1 with errno rather than assert, because the
 * child process runs them too, where a failed assertion cannot report.
 */

/* A TCP listener on loopback; port 0 picks one, *bound says which. */
static int open_listener(int family, __u16 port, int backlog, bool reuseport, __u16 *bound)
{
	struct sockaddr_storage ss;
	socklen_t len = loopback(family, port, &ss);
	int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0), on = 1, saved_errno;

	if (fd < 0)
		return -1;
	if ((family == AF_INET6 &&
	     setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof(on))) ||
	    (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof(on))) ||
	    bind(fd, (struct sockaddr *)&ss, len) || listen(fd, backlog) ||
	    getsockname(fd, (struct sockaddr *)&ss, &len))
		goto fail;
	if (bound)
		*bound = ntohs(family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port :
						    ((struct sockaddr_in *)&ss)->sin_port);
	return fd;
fail:
	saved_errno = errno;
	close(fd);
	errno = saved_errno;
	return -1;
}

/* An IPv6 listener that takes IPv4 too: on ::ffff:127.0.0.1, not [::], to stay on loopback. */
static int open_v4_mapped_listener(int backlog, __u16 *bound)
{
	struct sockaddr_in6 mapped = { .sin6_family = AF_INET6 };
	socklen_t len = sizeof(mapped);
	int fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0), off = 0, saved_errno;

	if (fd < 0)
		return -1;
	if (inet_pton(AF_INET6, "::ffff:127.0.0.1", &mapped.sin6_addr) != 1) {
		errno = EINVAL;
		goto fail;
	}
	if (setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off)) ||
	    bind(fd, (struct sockaddr *)&mapped, sizeof(mapped)) || listen(fd, backlog) ||
	    getsockname(fd, (struct sockaddr *)&mapped, &len))
		goto fail;
	*bound = ntohs(mapped.sin6_port);
	return fd;
fail:
	saved_errno = errno;
	close(fd);
	errno = saved_errno;
	return -1;
}

/* A client connecting to loopback `port`; a nonblocking one does not wait for the handshake. */
static int open_client(int family, __u16 port, bool nonblocking)
{
	struct sockaddr_storage ss;
	socklen_t len = loopback(family, port, &ss);
	int fd = socket(family, SOCK_STREAM | SOCK_CLOEXEC | (nonblocking ? SOCK_NONBLOCK : 0), 0);
	int saved_errno;

	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&ss, len) && !(nonblocking && errno == EINPROGRESS)) {
		saved_errno = errno;
		close(fd);
		errno = saved_errno;
		return -1;
	}
	return fd;
}

/* The listener's accept queue as TCP_INFO tells it: tcpi_unacked on a listener. */
static int accept_queue_length(int listener)
{
	struct tcp_info info;
	socklen_t len = sizeof(info);

	if (getsockopt(listener, IPPROTO_TCP, TCP_INFO, &info, &len))
		return -1;
	return (int)info.tcpi_unacked;
}

/* Waits until the listener's accept queue holds `want` connections. */
static int settle_accept_queue(int listener, int want)
{
	for (int waited = 0; waited < SETTLE_MS; waited++) {
		int now = accept_queue_length(listener);

		if (now < 0 || now == want)
			return now < 0 ? -1 : 0;
		sleep_ms(1);
	}
	errno = ETIMEDOUT;
	return -1;
}

/* A socket's TCP state (TCP_ESTABLISHED, ...), as TCP_INFO tells it; -1 on failure. */
static int tcp_state(int fd)
{
	struct tcp_info info;
	socklen_t len = sizeof(info);

	if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len))
		return -1;
	return info.tcpi_state;
}

/* Waits until the socket is in TCP state `want`: a FIN or an ACK is on its way. */
static int settle_tcp_state(int fd, int want)
{
	for (int waited = 0; waited < SETTLE_MS; waited++) {
		int now = tcp_state(fd);

		if (now < 0 || now == want)
			return now < 0 ? -1 : 0;
		sleep_ms(1);
	}
	errno = ETIMEDOUT;
	return -1;
}

/*
 * Fills a backlog-1 listener to the kernel's limit (2), then connects
 * OVERFLOW_CLIENTS more, whose SYNs it turns away. fds[] gets every socket
 * made, -1 where none was; 0 or -1.
 */
static int overflow_accept_queue(int fds[3 + OVERFLOW_CLIENTS])
{
	__u16 port;

	for (int i = 0; i < 3 + OVERFLOW_CLIENTS; i++)
		fds[i] = -1;
	fds[0] = open_listener(AF_INET, 0, 1, false, &port);
	if (fds[0] < 0)
		return -1;
	for (int i = 1; i < 3; i++)
		if ((fds[i] = open_client(AF_INET, port, true)) < 0)
			return -1;
	if (settle_accept_queue(fds[0], 2))
		return -1;
	for (int i = 3; i < 3 + OVERFLOW_CLIENTS; i++)
		if ((fds[i] = open_client(AF_INET, port, true)) < 0)
			return -1;
	return 0;
}

static struct netns_probe *probe_open(struct fixture *fx, const char *netns)
{
	char err[256] = "";
	size_t slot = 0;

	while (fx->probes[slot])
		slot++;
	fx->probes[slot] = netns_probe_open(netns, err, sizeof(err));
	if (!fx->probes[slot])
		fail_msg("open a probe on %s: %s", netns ? netns : "this namespace", err);
	return fx->probes[slot];
}

static struct listen_queue queue_read(struct netns_probe *p, __u16 port)
{
	struct listen_queue q;

	if (listen_queue_read(p, port, &q))
		fail_msg("read the listen sockets on port %u: %s", port, strerror(errno));
	return q;
}

static struct service_connections connections_read(struct netns_probe *p, __u16 port)
{
	struct service_connections c;

	if (service_connections_read(p, port, &c))
		fail_msg("read the connections on port %u: %s", port, strerror(errno));
	return c;
}

/*
 * The sockets with local port `port` in TCP state `state` in this thread's
 * namespace, IPv4 and IPv6, as /proc/net/tcp and tcp6 list them: "sl
 * local_address:port rem_address:port st ...", all in hex. Request sockets
 * show as SYN_RECV, and TIME_WAIT sockets by their substate.
 */
static unsigned int proc_net_tcp_count(__u16 port, int state)
{
	static const char *const files[] = { "/proc/thread-self/net/tcp",
					      "/proc/thread-self/net/tcp6" };
	unsigned int count = 0;
	char line[512];

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		FILE *f = fopen(files[i], "re");

		if (!f)
			fail_msg("open %s: %s", files[i], strerror(errno));
		while (fgets(line, sizeof(line), f)) {
			unsigned int local_port, st;

			if (sscanf(line, " %*u: %*[0-9A-Fa-f]:%x %*[0-9A-Fa-f]:%*x %x", &local_port,
				   &st) == 2 &&
			    local_port == port && (int)st == state)
				count++;
		}
		fclose(f);
	}
	return count;
}

/* Waits until /proc/net/tcp{,6} lists `want` sockets on `port` in `state`; returns the count. */
static unsigned int settle_proc_net_tcp(__u16 port, int state, unsigned int want)
{
	unsigned int now = proc_net_tcp_count(port, state);

	for (int waited = 0; now != want && waited < SETTLE_MS; waited++) {
		sleep_ms(1);
		now = proc_net_tcp_count(port, state);
	}
	return now;
}

static struct tcp_listen_counters counters_read(struct netns_probe *p)
{
	struct tcp_listen_counters c;

	if (tcp_listen_counters_read(p, &c))
		fail_msg("read the TcpExt listen counters: %s", strerror(errno));
	return c;
}

/*
 * Waits until ListenOverflows has grown by `by` since `before` and returns
 * the counters then: the SYNs are turned away in a softirq, which is almost
 * always over before connect() returns.
 */
static struct tcp_listen_counters overflows_grown(struct netns_probe *p,
						  struct tcp_listen_counters before, __u64 by)
{
	struct tcp_listen_counters now = counters_read(p);

	for (int waited = 0; now.overflows - before.overflows < by && waited < SETTLE_MS;
	     waited++) {
		sleep_ms(1);
		now = counters_read(p);
	}
	return now;
}

/* One listener on 127.0.0.1: what waits in its queue, what accept() takes out. */
static void test_queue_counts_waiting_connections(void **state)
{
	struct fixture *fx = *state;
	struct netns_probe *p = probe_open(fx, NULL);
	__u16 port;
	int listener = keep(fx, open_listener(AF_INET, 0, 8, false, &port), "listen on 127.0.0.1");

	ASSERT_QUEUE(queue_read(p, port), 1u, 0u, 8u, "a listener nobody connected to");
	for (int i = 0; i < 3; i++)
		keep(fx, open_client(AF_INET, port, false), "connect a client");
	if (settle_accept_queue(listener, 3))
		fail_msg("the accept queue never held the 3 clients (TCP_INFO says %d)",
			 accept_queue_length(listener));
	ASSERT_QUEUE(queue_read(p, port), 1u, 3u, 8u, "3 clients not accepted");
	keep(fx, accept4(listener, NULL, NULL, SOCK_CLOEXEC), "accept one");
	ASSERT_QUEUE(queue_read(p, port), 1u, 2u, 8u, "one of 3 accepted");
}

/* IPv4 and IPv6 listeners on one port are one service: their queues and connections add up. */
static void test_ipv4_and_ipv6_add_up(void **state)
{
	struct fixture *fx = *state;
	struct netns_probe *p = probe_open(fx, NULL);
	__u16 port;
	int v4 = keep(fx, open_listener(AF_INET, 0, 8, false, &port), "listen on 127.0.0.1");
	int v6 = open_listener(AF_INET6, port, 5, false, NULL);

	if (v6 < 0 && (errno == EAFNOSUPPORT || errno == EADDRNOTAVAIL))
		SKIP_BECAUSE("no IPv6 loopback here (%s)", strerror(errno));
	keep(fx, v6, "listen on [::1] on the same port");
	for (int i = 0; i < 2; i++)
		keep(fx, open_client(AF_INET, port, false), "connect an IPv4 client");
	keep(fx, open_client(AF_INET6, port, false), "connect an IPv6 client");
	if (settle_accept_queue(v4, 2) || settle_accept_queue(v6, 1))
		fail_msg("the accept queues never held 2 and 1 (TCP_INFO says %d and %d)",
			 accept_queue_length(v4), accept_queue_length(v6));
	ASSERT_QUEUE(queue_read(p, port), 2u, 3u, 13u, "127.0.0.1 (8, 2 waiting) + [::1] (5, 1)");
	ASSERT_CONNECTIONS(connections_read(p, port), 0u, 3u, 0u,
			   "2 clients of 127.0.0.1 and 1 of [::1]");
}

/*
 * An IPv6 socket that takes IPv4 too is one listener, not two, and its
 * IPv4 clients are one connection each: the server's end is an IPv6
 * socket with a v4-mapped address, which /proc/net/tcp6 lists and the
 * AF_INET dump does not.
 */
static void test_dual_stack_listener_counts_once(void **state)
{
	struct fixture *fx = *state;
	struct netns_probe *p = probe_open(fx, NULL);
	__u16 port = 0;
	int fd = open_v4_mapped_listener(3, &port);
	unsigned int listed;

	if (fd < 0)
		fail_msg("listen on ::ffff:127.0.0.1: %s", strerror(errno));
	keep(fx, fd, "listen on ::ffff:127.0.0.1");
	keep(fx, open_client(AF_INET, port, false), "connect over IPv4");
	if (settle_accept_queue(fd, 1))
		fail_msg("the accept queue never held its client");
	ASSERT_QUEUE(queue_read(p, port), 1u, 1u, 3u, "an IPv6 socket with an IPv4 client");
	listed = proc_net_tcp_count(port, TCP_ESTABLISHED);
	if (listed != 1)
		fail_msg("/proc/net/tcp{,6} lists %u connections on port %u, want 1", listed, port);
	ASSERT_CONNECTIONS(connections_read(p, port), 0u, 1u, 0u,
			   "an IPv4 client of an IPv6 socket");
}

/* SO_REUSEPORT listeners on one port are counted one by one. */
static void test_reuseport_listeners_add_up(void **state)
{
	struct fixture *fx = *state;
	struct netns_probe *p = probe_open(fx, NULL);
	__u16 port;

	keep(fx, open_listener(AF_INET, 0, 4, true, &port), "listen with SO_REUSEPORT");
	keep(fx, open_listener(AF_INET, port, 6, true, NULL), "listen again on the same port");
	keep(fx, open_listener(AF_INET, port, 10, true, NULL), "and a third time");
	ASSERT_QUEUE(queue_read(p, port), 3u, 0u, 20u, "three listeners with backlogs 4, 6 and 10");
}

/* A port nobody listens on has no sockets, however busy the ports next to it are. */
static void test_port_nothing_listens_on(void **state)
{
	struct fixture *fx = *state;
	struct netns_probe *p = probe_open(fx, NULL);
	struct sockaddr_in any = { .sin_family = AF_INET };
	socklen_t len = sizeof(any);
	__u16 busy;
	int listener = keep(fx, open_listener(AF_INET, 0, 8, false, &busy), "listen");
	/* Bound but not listening: the port is ours, so nothing else can listen on it. */
	int idle = keep(fx, socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), "open a socket");
	struct service_connections c;
	struct listen_queue q;

	if (bind(idle, (struct sockaddr *)&any, sizeof(any)) ||
	    getsockname(idle, (struct sockaddr *)&any, &len))
		fail_msg("reserve a port: %s", strerror(errno));
	keep(fx, open_client(AF_INET, busy, false), "connect to the busy port");
	if (settle_accept_queue(listener, 1))
		fail_msg("the busy port's queue never held its client");
	ASSERT_QUEUE(queue_read(p, ntohs(any.sin_port)), 0u, 0u, 0u, "a port nothing listens on");
	ASSERT_QUEUE(queue_read(p, busy), 1u, 1u, 8u, "the busy port next to it");
	ASSERT_CONNECTIONS(connections_read(p, ntohs(any.sin_port)), 0u, 0u, 0u,
			   "connections on a port nothing listens on");
	ASSERT_CONNECTIONS(connections_read(p, busy), 0u, 1u, 0u, "the busy port's connection");
	errno = 0;
	assert_int_equal(listen_queue_read(p, 0, &q), -1);
	assert_int_equal(errno, EINVAL);
	errno = 0;
	assert_int_equal(service_connections_read(p, 0, &c), -1);
	assert_int_equal(errno, EINVAL);
}

/*
 * A full accept queue turns SYNs away and counts them. The kernel holds
 * backlog + 1 connections, so a backlog-1 listener shows 2 queued.
 */
static void test_overflows_are_counted(void **state)
{
	struct fixture *fx = *state;
	struct netns_probe *p = probe_open(fx, NULL);
	struct tcp_listen_counters before = counters_read(p), after;
	int fds[3 + OVERFLOW_CLIENTS], failed = overflow_accept_queue(fds);
	struct sockaddr_in addr;
	socklen_t len = sizeof(addr);

	for (int i = 0; i < 3 + OVERFLOW_CLIENTS; i++)
		if (fds[i] >= 0)
			keep(fx, fds[i], "a socket of the overflow");
	if (failed)
		fail_msg("overflow an accept queue: %s", strerror(errno));
	if (getsockname(fds[0], (struct sockaddr *)&addr, &len))
		fail_msg("getsockname: %s", strerror(errno));
	ASSERT_QUEUE(queue_read(p, ntohs(addr.sin_port)), 1u, 2u, 1u, "a full backlog-1 listener");
	after = overflows_grown(p, before, OVERFLOW_CLIENTS);
	if (after.overflows - before.overflows < OVERFLOW_CLIENTS)
		fail_msg("ListenOverflows grew by %llu, want at least %d",
			 (unsigned long long)(after.overflows - before.overflows), OVERFLOW_CLIENTS);
	/* Every overflow is also a drop. */
	if (after.drops - before.drops < after.overflows - before.overflows)
		fail_msg("ListenDrops grew by %llu, less than ListenOverflows' %llu",
			 (unsigned long long)(after.drops - before.drops),
			 (unsigned long long)(after.overflows - before.overflows));
}

/*
 * Half closes each client (shutdown SHUT_WR): the server's end goes to
 * CLOSE_WAIT, which the client sees as FIN_WAIT2 once the server has
 * acknowledged the FIN. 0 or -1.
 */
static int close_clients(const int *clients, int n)
{
	for (int i = 0; i < n; i++)
		if (shutdown(clients[i], SHUT_WR))
			return -1;
	for (int i = 0; i < n; i++)
		if (settle_tcp_state(clients[i], TCP_FIN_WAIT2))
			return -1;
	return 0;
}

/* What the child does on a command: 'o' overflows a queue, 'c' closes its clients. */
static char child_command(char command, const int *clients)
{
	int fds[3 + OVERFLOW_CLIENTS];

	if (command == 'o')
		return overflow_accept_queue(fds) ? 'e' : 'd';
	if (command == 'c')
		return close_clients(clients, CHILD_QUEUED) ? 'e' : 'd';
	return 'e';
}

/*
 * The child: in a namespace of its own, listens on `port` with CHILD_QUEUED
 * clients waiting, says 'r', then on each command ('o', 'c': see
 * child_command) says 'd'; 'e' on failure. It ends when the parent closes
 * its end or dies.
 */
static void __attribute__((noreturn)) child_main(__u16 port, int commands, int replies)
{
	int listener, clients[CHILD_QUEUED];
	char command, reply = 'r';

	if (prctl(PR_SET_PDEATHSIG, SIGKILL) || unshare(CLONE_NEWNET) || set_loopback_up())
		reply = 'e';
	listener = reply == 'r' ? open_listener(AF_INET, port, CHILD_BACKLOG, false, NULL) : -1;
	if (listener < 0)
		reply = 'e';
	for (int i = 0; i < CHILD_QUEUED && reply == 'r'; i++)
		if ((clients[i] = open_client(AF_INET, port, false)) < 0)
			reply = 'e';
	if (reply == 'r' && settle_accept_queue(listener, CHILD_QUEUED))
		reply = 'e';
	while (write(replies, &reply, 1) == 1 && reply != 'e' && read(commands, &command, 1) == 1)
		reply = child_command(command, clients);
	_exit(0);
}

/* Starts the child, listening on `port` in its namespace, and waits for it to be ready. */
static void start_child(struct fixture *fx, __u16 port)
{
	int commands[2], replies[2];

	if (pipe2(commands, O_CLOEXEC) || pipe2(replies, O_CLOEXEC))
		fail_msg("pipe: %s", strerror(errno));
	fx->child = fork();
	if (fx->child < 0)
		fail_msg("fork: %s", strerror(errno));
	if (fx->child == 0) {
		close(commands[1]);
		close(replies[0]);
		child_main(port, commands[0], replies[1]);
	}
	close(commands[0]);
	close(replies[1]);
	fx->to_child = commands[1];
	fx->from_child = replies[0];
}

/* Sends the child a command (0 for none) and checks its reply. */
static void child_says(struct fixture *fx, char command, char want, const char *what)
{
	struct pollfd pfd = { .fd = fx->from_child, .events = POLLIN };
	char reply = 0;

	if (command && write(fx->to_child, &command, 1) != 1)
		fail_msg("%s: cannot write to the child: %s", what, strerror(errno));
	if (poll(&pfd, 1, CHILD_REPLY_MS) != 1 || read(fx->from_child, &reply, 1) != 1)
		fail_msg("%s: the child did not answer", what);
	if (reply != want)
		fail_msg("%s: the child said '%c', want '%c'", what, reply, want);
}

static void skip_unless_root(void)
{
	if (geteuid() != 0)
		SKIP_BECAUSE("entering another network namespace needs root");
}

struct threaded_open {
	const char *netns;
	struct netns_probe *probe;
	char err[256];
};

static void *open_in_thread(void *arg)
{
	struct threaded_open *t = arg;

	t->probe = netns_probe_open(t->netns, t->err, sizeof(t->err));
	return NULL;
}

/*
 * A probe on a child's namespace sees the child's listener and counters,
 * not this namespace's on the same port, and keeps doing so after the
 * thread that opened it is back home, whichever thread that was.
 */
static void test_probe_reads_other_namespace(void **state)
{
	struct fixture *fx = *state;
	struct tcp_listen_counters child_before, child_after, home_before, home_after;
	struct threaded_open threaded = { .err = "" };
	char child_netns[64];
	ino_t home = thread_netns_inode();
	struct netns_probe *mine, *theirs;
	pthread_t thread;
	int fds[3 + OVERFLOW_CLIENTS], failed;
	__u16 port;
	int listener;

	skip_unless_root();
	mine = probe_open(fx, NULL);
	listener = keep(fx, open_listener(AF_INET, 0, 7, false, &port), "listen on 127.0.0.1");
	keep(fx, open_client(AF_INET, port, false), "connect a client");
	if (settle_accept_queue(listener, 1))
		fail_msg("the accept queue never held its client");
	start_child(fx, port);
	child_says(fx, 0, 'r', "start listening in a new namespace");
	snprintf(child_netns, sizeof(child_netns), "/proc/%d/ns/net", (int)fx->child);

	theirs = probe_open(fx, child_netns);
	assert_true(thread_netns_inode() == home);
	/* Opened from another thread, where /proc/self/net is not that thread's. */
	threaded.netns = child_netns;
	failed = pthread_create(&thread, NULL, open_in_thread, &threaded);
	if (failed || (failed = pthread_join(thread, NULL)))
		fail_msg("run a thread: %s", strerror(failed));
	fx->probes[2] = threaded.probe;
	if (!threaded.probe)
		fail_msg("open a probe from a second thread: %s", threaded.err);

	ASSERT_QUEUE(queue_read(mine, port), 1u, 1u, 7u, "this namespace's listener");
	ASSERT_QUEUE(queue_read(theirs, port), 1u, (unsigned int)CHILD_QUEUED,
		     (unsigned int)CHILD_BACKLOG, "the child's listener on the same port");
	ASSERT_QUEUE(queue_read(threaded.probe, port), 1u, (unsigned int)CHILD_QUEUED,
		     (unsigned int)CHILD_BACKLOG, "the child's listener, probe opened by a thread");

	/* Overflows here are not the child's... */
	child_before = counters_read(theirs);
	assert_int_equal(child_before.overflows, 0);	/* a new namespace starts from 0 */
	home_before = counters_read(mine);
	failed = overflow_accept_queue(fds);
	for (int i = 0; i < 3 + OVERFLOW_CLIENTS; i++)
		if (fds[i] >= 0)
			keep(fx, fds[i], "a socket of the overflow");
	if (failed)
		fail_msg("overflow an accept queue here: %s", strerror(errno));
	home_after = overflows_grown(mine, home_before, OVERFLOW_CLIENTS);
	if (home_after.overflows - home_before.overflows < OVERFLOW_CLIENTS)
		fail_msg("ListenOverflows here grew by %llu, want at least %d",
			 (unsigned long long)(home_after.overflows - home_before.overflows),
			 OVERFLOW_CLIENTS);
	child_after = counters_read(theirs);
	assert_int_equal(child_after.overflows, child_before.overflows);
	assert_int_equal(counters_read(threaded.probe).overflows, child_before.overflows);

	/* ...and the child's are. */
	child_says(fx, 'o', 'd', "overflow a queue in the child's namespace");
	child_after = overflows_grown(theirs, child_before, OVERFLOW_CLIENTS);
	if (child_after.overflows - child_before.overflows < OVERFLOW_CLIENTS)
		fail_msg("the child's ListenOverflows grew by %llu, want at least %d",
			 (unsigned long long)(child_after.overflows - child_before.overflows),
			 OVERFLOW_CLIENTS);
	if (counters_read(threaded.probe).overflows < child_before.overflows + OVERFLOW_CLIENTS)
		fail_msg("the probe a thread opened missed the child's overflows");
	assert_true(thread_netns_inode() == home);
}

/* A namespace named under /run/netns, as `ip netns add` or `ip netns attach` make them. */
static void test_probe_by_name(void **state)
{
	struct fixture *fx = *state;
	char name[32], child_netns[64];
	struct netns_probe *p;
	int fd;
	__u16 port;

	skip_unless_root();
	/* The child takes a port that is free here; in its namespace every port is. */
	keep(fx, open_listener(AF_INET, 0, 1, false, &port), "pick a port");
	start_child(fx, port);
	child_says(fx, 0, 'r', "start listening in a new namespace");
	snprintf(child_netns, sizeof(child_netns), "/proc/%d/ns/net", (int)fx->child);
	snprintf(name, sizeof(name), "sluice-test-%d", (int)getpid());
	if (mkdir("/run/netns", 0755) == 0)
		fx->made_run_netns = true;
	else if (errno != EEXIST)
		fail_msg("mkdir /run/netns: %s", strerror(errno));
	snprintf(fx->mounted, sizeof(fx->mounted), "/run/netns/%s", name);
	fd = open(fx->mounted, O_RDONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0444);
	if (fd < 0) {
		fx->mounted[0] = '\0';	/* not ours to remove */
		fail_msg("create /run/netns/%s: %s", name, strerror(errno));
	}
	close(fd);
	if (mount(child_netns, fx->mounted, NULL, MS_BIND, NULL))
		fail_msg("bind %s to %s: %s", child_netns, fx->mounted, strerror(errno));

	p = probe_open(fx, name);
	ASSERT_QUEUE(queue_read(p, port), 1u, (unsigned int)CHILD_QUEUED,
		     (unsigned int)CHILD_BACKLOG, "the child's listener, by name");
}

/* Each way of naming no usable namespace gets one line that says which, and no move. */
static void test_probe_open_errors(void **state)
{
	char missing[64], want[128], err[256];
	ino_t home = thread_netns_inode();
	struct {
		const char *netns;
		int errno_want;
		const char *format;
	} cases[] = {
		{ missing, ENOENT, "no network namespace '%s'" },
		{ "/proc/self/ns/uts", EINVAL, "'%s' is not a network namespace" },
		{ "/proc/self/ns/no-such-namespace", ENOENT, "no network namespace '%s'" },
		{ "..", EINVAL, "invalid network namespace name '%s'" },
		{ "", EINVAL, "invalid network namespace name '%s'" },
	};

	(void)state;
	snprintf(missing, sizeof(missing), "sluice-no-such-netns-%d", (int)getpid());
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct netns_probe *p;

		strcpy(err, "");
		errno = 0;
		p = netns_probe_open(cases[i].netns, err, sizeof(err));
		if (p) {
			netns_probe_close(p);
			fail_msg("a probe opened on '%s'", cases[i].netns);
		}
		snprintf(want, sizeof(want), cases[i].format, cases[i].netns);
		if (errno != cases[i].errno_want || strcmp(err, want))
			fail_msg("'%s': got \"%s\" (%s), want \"%s\" (%s)", cases[i].netns, err,
				 strerror(errno), want, strerror(cases[i].errno_want));
		assert_true(thread_netns_inode() == home);
	}
}

/*
 * A failure after entering the target namespace still brings the thread
 * back. With two descriptors left, the probe opens the target namespace and
 * its own, enters, closes the target's, makes its socket in that one, and
 * finds none left for /proc/net/netstat.
 */
static void test_failed_open_returns_home(void **state)
{
	struct fixture *fx = *state;
	char child_netns[64], err[256] = "";
	ino_t home = thread_netns_inode();
	struct netns_probe *p;
	struct rlimit low;
	int spare[3], open_errno;
	__u16 port;

	skip_unless_root();
	keep(fx, open_listener(AF_INET, 0, 1, false, &port), "pick a port");
	start_child(fx, port);
	child_says(fx, 0, 'r', "start listening in a new namespace");
	snprintf(child_netns, sizeof(child_netns), "/proc/%d/ns/net", (int)fx->child);

	/* Everything below the third free descriptor is taken but the first two. */
	for (int i = 0; i < 3; i++)
		if ((spare[i] = dup(0)) < 0)
			fail_msg("dup: %s", strerror(errno));
	for (int i = 0; i < 3; i++)
		close(spare[i]);
	if (getrlimit(RLIMIT_NOFILE, &fx->nofile))
		fail_msg("getrlimit: %s", strerror(errno));
	low = (struct rlimit){ .rlim_cur = (rlim_t)spare[2], .rlim_max = fx->nofile.rlim_max };
	if (setrlimit(RLIMIT_NOFILE, &low))
		fail_msg("setrlimit: %s", strerror(errno));
	fx->changed_nofile = true;
	p = netns_probe_open(child_netns, err, sizeof(err));
	open_errno = errno;
	setrlimit(RLIMIT_NOFILE, &fx->nofile);
	fx->changed_nofile = false;
	if (p) {
		netns_probe_close(p);
		fail_msg("a probe opened with no descriptors left for it");
	}
	if (open_errno != EMFILE || !strstr(err, "/proc/net/netstat"))
		fail_msg("got \"%s\" (%s), want no /proc/net/netstat for EMFILE", err,
			 strerror(open_errno));
	assert_true(thread_netns_inode() == home);
}

/*
 * The life of CONNECTIONS connections to a service on loopback, while as
 * many to another port stay open: they count from the handshake until the
 * server has closed them, whichever side closes first, and only on their
 * own port.
 */
static void connections_live_and_die(struct fixture *fx, int family)
{
	struct netns_probe *p = probe_open(fx, NULL);
	int clients[CONNECTIONS], servers[CONNECTIONS], listener, elsewhere;
	unsigned int listed;
	__u16 port, other;

	listener = open_listener(family, 0, 8, false, &port);
	if (listener < 0 && family == AF_INET6 && (errno == EAFNOSUPPORT || errno == EADDRNOTAVAIL))
		SKIP_BECAUSE("no IPv6 loopback here (%s)", strerror(errno));
	keep(fx, listener, "listen");
	elsewhere = keep(fx, open_listener(family, 0, 8, false, &other), "listen on another port");
	for (int i = 0; i < CONNECTIONS; i++)
		keep(fx, open_client(family, other, false), "connect to the other port");
	ASSERT_CONNECTIONS(connections_read(p, port), 0u, 0u, 0u, "a listener nobody connected to");

	for (int i = 0; i < CONNECTIONS; i++)
		clients[i] = keep(fx, open_client(family, port, false), "connect a client");
	if (settle_accept_queue(listener, CONNECTIONS) ||
	    settle_accept_queue(elsewhere, CONNECTIONS))
		fail_msg("the accept queues never held their %d clients (TCP_INFO says %d and %d)",
			 CONNECTIONS, accept_queue_length(listener),
			 accept_queue_length(elsewhere));
	ASSERT_CONNECTIONS(connections_read(p, port), 0u, CONNECTIONS, 0u,
			   "clients waiting in the accept queue");
	ASSERT_CONNECTIONS(connections_read(p, other), 0u, CONNECTIONS, 0u,
			   "the other port's clients, counted apart");

	for (int i = 0; i < CONNECTIONS; i++)
		servers[i] = keep(fx, accept4(listener, NULL, NULL, SOCK_CLOEXEC), "accept");
	ASSERT_CONNECTIONS(connections_read(p, port), 0u, CONNECTIONS, 0u, "clients accepted");

	if (close_clients(clients, CONNECTIONS))
		fail_msg("close the clients: %s", strerror(errno));
	ASSERT_CONNECTIONS(connections_read(p, port), 0u, 0u, CONNECTIONS,
			   "clients closed, the server not yet");
	/* The server's end goes to LAST_ACK in close() itself. */
	for (int i = 0; i < CONNECTIONS; i++)
		release(fx, servers[i]);
	ASSERT_CONNECTIONS(connections_read(p, port), 0u, 0u, 0u, "the server closed them too");

	/* Now the server closes first: FIN_WAIT2 for it, then TIME_WAIT once the client closes. */
	for (int i = 0; i < CONNECTIONS; i++)
		clients[i] = keep(fx, open_client(family, port, false), "connect a client again");
	for (int i = 0; i < CONNECTIONS; i++)
		servers[i] = keep(fx, accept4(listener, NULL, NULL, SOCK_CLOEXEC), "accept again");
	ASSERT_CONNECTIONS(connections_read(p, port), 0u, CONNECTIONS, 0u, "new clients accepted");
	for (int i = 0; i < CONNECTIONS; i++)
		release(fx, servers[i]);
	for (int i = 0; i < CONNECTIONS; i++)
		if (settle_tcp_state(clients[i], TCP_CLOSE_WAIT))
			fail_msg("a client never saw the server close (state %d)",
				 tcp_state(clients[i]));
	listed = settle_proc_net_tcp(port, TCP_FIN_WAIT2, CONNECTIONS);
	if (listed != CONNECTIONS)
		fail_msg("/proc/net/tcp{,6} lists %u sockets in FIN_WAIT2 on port %u, want %d",
			 listed, port, CONNECTIONS);
	ASSERT_CONNECTIONS(connections_read(p, port), 0u, 0u, 0u, "the server closed first");
	for (int i = 0; i < CONNECTIONS; i++)
		if (shutdown(clients[i], SHUT_WR))
			fail_msg("close a client: %s", strerror(errno));
	listed = settle_proc_net_tcp(port, TCP_TIME_WAIT, CONNECTIONS);
	if (listed != CONNECTIONS)
		fail_msg("/proc/net/tcp{,6} lists %u sockets in TIME_WAIT on port %u, want %d",
			 listed, port, CONNECTIONS);
	ASSERT_CONNECTIONS(connections_read(p, port), 0u, 0u, 0u, "connections in TIME_WAIT");
	ASSERT_CONNECTIONS(connections_read(p, other), 0u, CONNECTIONS, 0u,
			   "the other port's clients, through all of it");
}

static void test_connections_ipv4(void **state)
{
	connections_live_and_die(*state, AF_INET);
}

static void test_connections_ipv6(void **state)
{
	connections_live_and_die(*state, AF_INET6);
}

/*
 * A handshake the server has not finished counts as syn_recv. With
 * TCP_DEFER_ACCEPT the server keeps a connection as a request socket, and
 * drops the client's ACK, until data comes; the client sees it established.
 */
static void test_connections_handshake_under_way(void **state)
{
	struct fixture *fx = *state;
	struct netns_probe *p = probe_open(fx, NULL);
	int defer_s = 30, listener, client;
	unsigned int listed;
	__u16 port;

	listener = keep(fx, open_listener(AF_INET, 0, 8, false, &port), "listen on 127.0.0.1");
	if (setsockopt(listener, IPPROTO_TCP, TCP_DEFER_ACCEPT, &defer_s, sizeof(defer_s)))
		fail_msg("set TCP_DEFER_ACCEPT: %s", strerror(errno));
	client = keep(fx, open_client(AF_INET, port, false), "connect a client");
	listed = settle_proc_net_tcp(port, TCP_SYN_RECV, 1);
	if (listed != 1)
		fail_msg("/proc/net/tcp lists %u sockets in SYN_RECV on port %u, want 1", listed,
			 port);
	ASSERT_CONNECTIONS(connections_read(p, port), 1u, 0u, 0u, "a handshake held back");
	if (send(client, "x", 1, MSG_NOSIGNAL) != 1)
		fail_msg("send a byte: %s", strerror(errno));
	if (settle_accept_queue(listener, 1))
		fail_msg("the accept queue never held the client (TCP_INFO says %d)",
			 accept_queue_length(listener));
	ASSERT_CONNECTIONS(connections_read(p, port), 0u, 1u, 0u, "the same connection with data");
}

/*
 * A probe on a child's namespace counts the child's connections, not this
 * namespace's on the same port, and sees them change there.
 */
static void test_connections_in_other_namespace(void **state)
{
	struct fixture *fx = *state;
	struct netns_probe *mine, *theirs;
	char child_netns[64];
	int listener;
	__u16 port;

	skip_unless_root();
	mine = probe_open(fx, NULL);
	listener = keep(fx, open_listener(AF_INET, 0, 8, false, &port), "listen on 127.0.0.1");
	for (int i = 0; i < CONNECTIONS; i++)
		keep(fx, open_client(AF_INET, port, false), "connect a client");
	if (settle_accept_queue(listener, CONNECTIONS))
		fail_msg("the accept queue never held its clients");
	start_child(fx, port);
	child_says(fx, 0, 'r', "start listening in a new namespace");
	snprintf(child_netns, sizeof(child_netns), "/proc/%d/ns/net", (int)fx->child);
	theirs = probe_open(fx, child_netns);

	ASSERT_CONNECTIONS(connections_read(mine, port), 0u, CONNECTIONS, 0u,
			   "this namespace's clients");
	ASSERT_CONNECTIONS(connections_read(theirs, port), 0u, CHILD_QUEUED, 0u,
			   "the child's clients on the same port");
	child_says(fx, 'c', 'd', "close the clients in the child's namespace");
	ASSERT_CONNECTIONS(connections_read(theirs, port), 0u, 0u, CHILD_QUEUED,
			   "the child's clients closed");
	ASSERT_CONNECTIONS(connections_read(mine, port), 0u, CONNECTIONS, 0u,
			   "this namespace's clients, still open");
}

/*
 * A service among BUSY_CONNECTIONS connections to another port counts its
 * own alone, and the busy port's, read over many netlink messages, add up.
 * The connections live in a namespace of the test's own, which the thread
 * leaves once they are made.
 */
static void test_connections_among_many(void **state)
{
	struct fixture *fx = *state;
	const rlim_t needed = 2 * BUSY_CONNECTIONS + 256;
	struct netns_probe *p;
	int busy, listener;
	__u16 busy_port, port;

	skip_unless_root();
	if (getrlimit(RLIMIT_NOFILE, &fx->nofile))
		fail_msg("getrlimit: %s", strerror(errno));
	if (fx->nofile.rlim_cur < needed) {
		struct rlimit raised = { .rlim_cur = needed, .rlim_max = fx->nofile.rlim_max };

		if (fx->nofile.rlim_max < needed)
			SKIP_BECAUSE("%llu descriptors needed, the limit is %llu",
				     (unsigned long long)needed,
				     (unsigned long long)fx->nofile.rlim_max);
		if (setrlimit(RLIMIT_NOFILE, &raised))
			fail_msg("setrlimit: %s", strerror(errno));
		fx->changed_nofile = true;
	}
	fx->bulk = calloc(2 * BUSY_CONNECTIONS, sizeof(*fx->bulk));
	if (!fx->bulk)
		fail_msg("calloc: %s", strerror(errno));
	fx->home_netns = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
	if (fx->home_netns < 0)
		fail_msg("open this thread's namespace: %s", strerror(errno));
	if (unshare(CLONE_NEWNET) || set_loopback_up())
		fail_msg("make a network namespace: %s", strerror(errno));

	busy = keep(fx, open_listener(AF_INET, 0, 64, false, &busy_port),
		    "listen on the busy port");
	for (int i = 0; i < BUSY_CONNECTIONS; i++) {
		/* Reset at close, so they leave no TIME_WAIT behind for the next run to walk. */
		const struct linger reset = { .l_onoff = 1, .l_linger = 0 };
		int client = open_client(AF_INET, busy_port, false), server;

		if (client < 0)
			fail_msg("connect client %d to the busy port: %s", i, strerror(errno));
		fx->bulk[fx->nbulk++] = client;
		if (setsockopt(client, SOL_SOCKET, SO_LINGER, &reset, sizeof(reset)))
			fail_msg("set SO_LINGER: %s", strerror(errno));
		server = accept4(busy, NULL, NULL, SOCK_CLOEXEC);
		if (server < 0)
			fail_msg("accept client %d: %s", i, strerror(errno));
		fx->bulk[fx->nbulk++] = server;
	}
	listener = keep(fx, open_listener(AF_INET, 0, 8, false, &port), "listen on 127.0.0.1");
	for (int i = 0; i < CONNECTIONS; i++)
		keep(fx, open_client(AF_INET, port, false), "connect a client");
	if (settle_accept_queue(listener, CONNECTIONS))
		fail_msg("the accept queue never held its clients");
	p = probe_open(fx, NULL);
	if (setns(fx->home_netns, CLONE_NEWNET))
		fail_msg("return to the test's namespace: %s", strerror(errno));
	close(fx->home_netns);
	fx->home_netns = -1;

	ASSERT_CONNECTIONS(connections_read(p, port), 0u, CONNECTIONS, 0u,
			   "a service among many connections to another port");
	ASSERT_CONNECTIONS(connections_read(p, busy_port), 0u, BUSY_CONNECTIONS, 0u,
			   "the busy port, read over many netlink messages");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_queue_counts_waiting_connections, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_ipv4_and_ipv6_add_up, setup, teardown),
		cmocka_unit_test_setup_teardown(test_dual_stack_listener_counts_once, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_reuseport_listeners_add_up, setup, teardown),
		cmocka_unit_test_setup_teardown(test_port_nothing_listens_on, setup, teardown),
		cmocka_unit_test_setup_teardown(test_overflows_are_counted, setup, teardown),
		cmocka_unit_test_setup_teardown(test_probe_reads_other_namespace, setup, teardown),
		cmocka_unit_test_setup_teardown(test_probe_by_name, setup, teardown),
		cmocka_unit_test(test_probe_open_errors),
		cmocka_unit_test_setup_teardown(test_failed_open_returns_home, setup, teardown),
		cmocka_unit_test_setup_teardown(test_connections_ipv4, setup, teardown),
		cmocka_unit_test_setup_teardown(test_connections_ipv6, setup, teardown),
		cmocka_unit_test_setup_teardown(test_connections_handshake_under_way, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_connections_in_other_namespace, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_connections_among_many, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
