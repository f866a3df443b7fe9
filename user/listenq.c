// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Reads a protected service's accept queues, the connections it is serving,
 * and the TcpExt counters of connections its listeners turned away, from
 * whichever network namespace the service runs in (user/listenq.h says what
 * each number means).
 *
 * All are read through file descriptors opened once inside the target
 * namespace: a NETLINK_SOCK_DIAG socket answers for the namespace it was
 * created in, and a /proc/net file for the namespace it was opened in,
 * whichever namespace the reading thread is in later. The second was checked
 * on Linux 6.18 (and tests/unit/test_listenq.c checks it on every run): a
 * probe on a fresh namespace kept reading that namespace's ListenOverflows
 * through pread() at offset 0 after the thread had gone back, and did not
 * move when the thread's own namespace counted overflows. That is what the
 * kernel's proc code promises: single_open_net() takes the namespace of the
 * /proc/net directory the file was looked up in, and seq_read_iter() starts
 * the file afresh from that namespace whenever it is read from offset 0.
 */
#define _GNU_SOURCE
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>

#include "listenq.h"

/*
 * Netlink sizes a dump's messages to the reader's buffer, up to 32 KiB, and
 * drops what does not fit: read with the largest it will send. At about 150
 * bytes a listen socket, one message holds some 200 of them.
 */
#define DIAG_BUF_SIZE 32768
/* /proc/net/netstat was 4 KiB on Linux 6.18; the TcpExt lines come first in it. */
#define NETSTAT_BUF_SIZE 16384
/*
 * The kernel answers a dump while the reader reads it, so a reply never
 * waits; the timeout only keeps a tick from hanging on a socket gone wrong.
 */
#define DIAG_RECV_TIMEOUT_MS 1000

/*
 * /proc/net is a link to /proc/self/net, and /proc/self is the thread group
 * leader: from any other thread it shows the leader's namespace, not the one
 * this thread has just entered. /proc/thread-self/net is this thread's.
 */
#define THREAD_NETSTAT "/proc/thread-self/net/netstat"
#define THREAD_NETNS "/proc/thread-self/ns/net"
#define NETNS_RUN_DIR "/run/netns"

struct netns_probe {
	int diag_fd;		/* NETLINK_SOCK_DIAG, created in the namespace */
	int netstat_fd;		/* its /proc/net/netstat */
	__u32 seq;		/* of the last dump request */
	bool dump_unfinished;	/* a read gave up mid-dump: drain it before the next */
	char diag_buf[DIAG_BUF_SIZE] __attribute__((aligned(NLMSG_ALIGNTO)));
	char netstat_buf[NETSTAT_BUF_SIZE];
};

/* How an error message names the namespace. */
static const char *netns_name(const char *netns)
{
	return netns ? netns : "the current network namespace";
}

int netns_path(const char *netns, char *path, size_t len)
{
	int n;

	if (strchr(netns, '/'))
		n = snprintf(path, len, "%s", netns);
	else if (!*netns || !strcmp(netns, ".") || !strcmp(netns, ".."))
		return -1;
	else
		n = snprintf(path, len, "%s/%s", NETNS_RUN_DIR, netns);
	return n < 0 || (size_t)n >= len ? -1 : 0;
}

/* Opens what the probe reads, in the namespace the calling thread is in now. */
static int open_in_current_netns(struct netns_probe *p, const char *netns, char *err,
				 size_t errlen)
{
	struct timeval timeout = {
		.tv_sec = DIAG_RECV_TIMEOUT_MS / 1000,
		.tv_usec = DIAG_RECV_TIMEOUT_MS % 1000 * 1000,
	};

	p->diag_fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
	if (p->diag_fd < 0) {
		snprintf(err, errlen, "cannot open a sock_diag socket in %s: %s",
			 netns_name(netns), strerror(errno));
		return -1;
	}
	if (setsockopt(p->diag_fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout))) {
		snprintf(err, errlen, "cannot set a receive timeout on the sock_diag socket: %s",
			 strerror(errno));
		return -1;
	}
	p->netstat_fd = open(THREAD_NETSTAT, O_RDONLY | O_CLOEXEC);
	if (p->netstat_fd < 0) {
		snprintf(err, errlen, "cannot open /proc/net/netstat in %s: %s",
			 netns_name(netns), strerror(errno));
		return -1;
	}
	return 0;
}

/* Enters the namespace `netns`, keeping a descriptor on the thread's own in *home_fd. */
static int enter_netns(const char *netns, int *home_fd, char *err, size_t errlen)
{
	char path[4096];
	int target_fd, saved_errno;

	if (netns_path(netns, path, sizeof(path))) {
		snprintf(err, errlen, "invalid network namespace name '%s'", netns);
		errno = EINVAL;
		return -1;
	}
	target_fd = open(path, O_RDONLY | O_CLOEXEC);
	if (target_fd < 0) {
		if (errno == ENOENT)
			snprintf(err, errlen, "no network namespace '%s'", netns);
		else
			snprintf(err, errlen, "cannot open network namespace '%s': %s", netns,
				 strerror(errno));
		return -1;
	}
	*home_fd = open(THREAD_NETNS, O_RDONLY | O_CLOEXEC);
	if (*home_fd < 0) {
		saved_errno = errno;
		snprintf(err, errlen, "cannot open this thread's network namespace: %s",
			 strerror(errno));
		close(target_fd);
		errno = saved_errno;
		return -1;
	}
	if (setns(target_fd, CLONE_NEWNET)) {
		saved_errno = errno;
		if (errno == EINVAL)
			snprintf(err, errlen, "'%s' is not a network namespace", netns);
		else
			snprintf(err, errlen, "cannot enter network namespace '%s': %s", netns,
				 strerror(errno));
		close(target_fd);
		close(*home_fd);
		*home_fd = -1;
		errno = saved_errno;
		return -1;
	}
	close(target_fd);
	return 0;
}

struct netns_probe *netns_probe_open(const char *netns, char *err, size_t errlen)
{
	struct tcp_listen_counters counters;
	struct netns_probe *p;
	struct listen_queue queue;
	int home_fd = -1, failed, saved_errno;

	p = calloc(1, sizeof(*p));
	if (!p) {
		snprintf(err, errlen, "cannot allocate a namespace probe: %s", strerror(errno));
		return NULL;
	}
	p->diag_fd = p->netstat_fd = -1;
	if (netns && enter_netns(netns, &home_fd, err, errlen)) {
		saved_errno = errno;
		free(p);
		errno = saved_errno;
		return NULL;
	}

	failed = open_in_current_netns(p, netns, err, errlen);
	saved_errno = errno;
	/*
	 * Going back must not fail (the descriptor is this thread's own
	 * namespace, which it was allowed to be in), but if it did, the thread
	 * would go on acting in the service's namespace: say so above all else.
	 */
	if (home_fd >= 0) {
		if (setns(home_fd, CLONE_NEWNET)) {
			saved_errno = errno;
			snprintf(err, errlen,
				 "cannot return from network namespace '%s' to the original one: %s",
				 netns, strerror(errno));
			failed = -1;
		}
		close(home_fd);
	}
	if (failed)
		goto fail;

	/*
	 * Read both once, so a kernel without inet_diag or a netstat without
	 * the columns fails here rather than on every tick. Any port will do.
	 */
	if (listen_queue_read(p, 1, &queue)) {
		saved_errno = errno;
		snprintf(err, errlen, "cannot read listen sockets in %s through sock_diag: %s",
			 netns_name(netns), strerror(errno));
		goto fail;
	}
	if (tcp_listen_counters_read(p, &counters)) {
		saved_errno = errno;
		snprintf(err, errlen,
			 "cannot read TcpExt ListenOverflows and ListenDrops in %s: %s",
			 netns_name(netns), strerror(errno));
		goto fail;
	}
	return p;

fail:
	netns_probe_close(p);
	errno = saved_errno;
	return NULL;
}

void netns_probe_close(struct netns_probe *p)
{
	if (!p)
		return;
	if (p->diag_fd >= 0)
		close(p->diag_fd);
	if (p->netstat_fd >= 0)
		close(p->netstat_fd);
	free(p);
}

/*
 * A dump the kernel is still running refuses a new one (EBUSY), and it moves
 * on only as its reader reads: read what is left of an abandoned one.
 */
static void drain_unfinished_dump(struct netns_probe *p)
{
	for (;;) {
		ssize_t len = recv(p->diag_fd, p->diag_buf, sizeof(p->diag_buf), MSG_DONTWAIT);

		if (len == 0 || (len < 0 && errno != EINTR))
			break;
	}
	p->dump_unfinished = false;
}

/* What a dump hands each socket it reports, with the sum the caller adds it to. */
typedef void diag_visit_fn(const struct inet_diag_msg *sk, void *sum);

/*
 * Dumps the TCP sockets of one address family whose local port is `port`
 * and whose state is in `states` (a mask of 1 << TCP_*), handing each to
 * visit. 0, or -1 with errno.
 */
static int diag_dump(struct netns_probe *p, __u8 family, __u32 states, __u16 port,
		     diag_visit_fn *visit, void *sum)
{
	struct {
		struct nlmsghdr nlh;
		struct inet_diag_req_v2 req;
	} request = {
		.nlh = {
			.nlmsg_len = sizeof(request),
			.nlmsg_type = SOCK_DIAG_BY_FAMILY,
			.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP,
			.nlmsg_seq = ++p->seq,
		},
		.req = {
			.sdiag_family = family,
			.sdiag_protocol = IPPROTO_TCP,
			.idiag_states = states,
			/*
			 * A dump skips sockets on other local ports itself, in
			 * the listening and the established tables alike, so
			 * no bytecode filter is needed: on Linux 6.18, with
			 * 2000 connections to another port in the namespace, a
			 * dump sent the service's 4 sockets instead of all
			 * 4008, and an INET_DIAG_BC_S_EQ filter in its place
			 * sent the same 4 no faster. It still walks the whole
			 * established table (see service_connections_read),
			 * but with only TCP_LISTEN asked for, not at all.
			 */
			.id.idiag_sport = htons(port),
		},
	};
	struct sockaddr_nl kernel = { .nl_family = AF_NETLINK };
	struct iovec iov = { .iov_base = p->diag_buf, .iov_len = sizeof(p->diag_buf) };
	struct msghdr reply = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (sendto(p->diag_fd, &request, sizeof(request), 0, (struct sockaddr *)&kernel,
		   sizeof(kernel)) < 0)
		return -1;
	p->dump_unfinished = true;
	for (;;) {
		ssize_t len = recvmsg(p->diag_fd, &reply, 0);
		struct nlmsghdr *nlh;

		if (len < 0 && errno == EINTR)
			continue;
		if (len < 0)
			return -1;
		if (len == 0) {
			errno = EPROTO;
			return -1;
		}
		if (reply.msg_flags & MSG_TRUNC) {
			errno = EMSGSIZE;
			return -1;
		}
		for (nlh = (struct nlmsghdr *)p->diag_buf; NLMSG_OK(nlh, (size_t)len);
		     nlh = NLMSG_NEXT(nlh, len)) {
			const struct inet_diag_msg *sk;

			/* What an earlier, abandoned dump left behind. */
			if (nlh->nlmsg_seq != request.nlh.nlmsg_seq)
				continue;
			if (nlh->nlmsg_type == NLMSG_DONE) {
				p->dump_unfinished = false;
				/* A dump that failed part way says so here. */
				if (nlh->nlmsg_len >= NLMSG_LENGTH(sizeof(int)) &&
				    *(int *)NLMSG_DATA(nlh) < 0) {
					errno = -*(int *)NLMSG_DATA(nlh);
					return -1;
				}
				return 0;
			}
			if (nlh->nlmsg_type == NLMSG_ERROR) {
				const struct nlmsgerr *e = NLMSG_DATA(nlh);

				p->dump_unfinished = false;
				errno = nlh->nlmsg_len >= NLMSG_LENGTH(sizeof(*e)) && e->error ?
					-e->error : EPROTO;
				return -1;
			}
			if (nlh->nlmsg_type != SOCK_DIAG_BY_FAMILY ||
			    nlh->nlmsg_len < NLMSG_LENGTH(sizeof(*sk)))
				continue;
			sk = NLMSG_DATA(nlh);
			if (ntohs(sk->id.idiag_sport) == port)
				visit(sk, sum);
		}
	}
}

/*
 * Dumps both address families. An IPv6 socket that also takes IPv4 shows
 * in the AF_INET6 dump only, and so do its connections: they are IPv6
 * sockets with v4-mapped addresses.
 */
static int diag_read(struct netns_probe *p, __u32 states, __u16 port, diag_visit_fn *visit,
		     void *sum)
{
	/* No socket is on port 0, and 0 in the request would mean every port. */
	if (!port) {
		errno = EINVAL;
		return -1;
	}
	if (p->dump_unfinished)
		drain_unfinished_dump(p);
	if (diag_dump(p, AF_INET, states, port, visit, sum) ||
	    diag_dump(p, AF_INET6, states, port, visit, sum))
		return -1;
	return 0;
}

static void add_listener(const struct inet_diag_msg *sk, void *arg)
{
	struct listen_queue *sum = arg;

	if (sk->idiag_state != TCP_LISTEN)
		return;
	sum->sockets++;
	sum->queued += sk->idiag_rqueue;
	sum->backlog += sk->idiag_wqueue;
	/* queued/backlog > fullest: compared by cross-multiplying, in 64 bits. */
	if (sum->sockets == 1 ||
	    (__u64)sk->idiag_rqueue * (sum->fullest_backlog ? sum->fullest_backlog : 1) >
		    (__u64)sum->fullest_queued * (sk->idiag_wqueue ? sk->idiag_wqueue : 1)) {
		sum->fullest_queued = sk->idiag_rqueue;
		sum->fullest_backlog = sk->idiag_wqueue;
	}
}

int listen_queue_read(struct netns_probe *p, __u16 port, struct listen_queue *out)
{
	struct listen_queue sum = {};

	if (diag_read(p, 1u << TCP_LISTEN, port, add_listener, &sum))
		return -1;
	*out = sum;
	return 0;
}

static void add_connection(const struct inet_diag_msg *sk, void *arg)
{
	struct service_connections *sum = arg;

	switch (sk->idiag_state) {
	case TCP_SYN_RECV:
		sum->syn_recv++;
		break;
	case TCP_ESTABLISHED:
		sum->established++;
		break;
	case TCP_CLOSE_WAIT:
		sum->close_wait++;
		break;
	default:
		return;
	}
	sum->in_flight++;
}

/*
 * Asking for TCP_SYN_RECV gets the request sockets of handshakes under way
 * too (the kernel adds TCP_NEW_SYN_RECV and reports them as TCP_SYN_RECV).
 *
 * What a read costs is the kernel's walk of the whole established hash
 * table, once a family: every bucket, and every socket in it of any port
 * and any namespace, since namespaces share the table unless the service's
 * was made with its own (sysctl net.ipv4.tcp_child_ehash_entries in the
 * namespace that creates it). Measured on Linux 6.18 with the default
 * 262144 buckets, 2 cores: 0.25 ms a read on an idle host, 0.6 ms with 2000
 * connections (4000 sockets) on other ports, 1.9 ms with 9000; 0.011 ms in
 * a namespace with a table of its own of 1024 buckets, whatever the host had.
 */
int service_connections_read(struct netns_probe *p, __u16 port, struct service_connections *out)
{
	struct service_connections sum = {};
	__u32 states = 1u << TCP_SYN_RECV | 1u << TCP_ESTABLISHED | 1u << TCP_CLOSE_WAIT;

	if (diag_read(p, states, port, add_connection, &sum))
		return -1;
	*out = sum;
	return 0;
}

/* Reads the whole of /proc/net/netstat, from the start, as a string. */
static int netstat_read(struct netns_probe *p)
{
	size_t len = 0;

	while (len < sizeof(p->netstat_buf) - 1) {
		ssize_t n = pread(p->netstat_fd, p->netstat_buf + len,
				  sizeof(p->netstat_buf) - 1 - len, (off_t)len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			break;
		len += (size_t)n;
	}
	p->netstat_buf[len] = '\0';
	return 0;
}

/* The line that starts with `prefix`, from `from` on; NULL when there is none. */
static const char *line_starting(const char *from, const char *prefix)
{
	size_t prefix_len = strlen(prefix);

	for (const char *line = from; line && *line;) {
		const char *end = strchr(line, '\n');

		if (!strncmp(line, prefix, prefix_len))
			return end ? line : NULL;	/* a line cut short is no line */
		line = end ? end + 1 : NULL;
	}
	return NULL;
}

/* The next space-separated field at *pos on its line, or NULL at the line's end. */
static const char *next_field(const char **pos, size_t *len)
{
	const char *field = *pos, *end;

	while (*field == ' ')
		field++;
	for (end = field; *end && *end != ' ' && *end != '\n'; end++)
		;
	*pos = end;
	*len = (size_t)(end - field);
	return *len ? field : NULL;
}

int tcp_listen_counters_read(struct netns_probe *p, struct tcp_listen_counters *out)
{
	static const char prefix[] = "TcpExt:";
	const char *names, *values, *name, *value;
	struct tcp_listen_counters found = {};
	unsigned int wanted = 2;
	size_t name_len, value_len;

	if (netstat_read(p))
		return -1;
	/* "TcpExt: Name Name ...\nTcpExt: 1 2 ...\n": find the columns by name. */
	names = line_starting(p->netstat_buf, prefix);
	values = names ? line_starting(strchr(names, '\n') + 1, prefix) : NULL;
	if (!values) {
		errno = ENODATA;
		return -1;
	}
	names += sizeof(prefix) - 1;
	values += sizeof(prefix) - 1;
	while (wanted && (name = next_field(&names, &name_len))) {
		__u64 *slot = NULL;
		char *end;

		value = next_field(&values, &value_len);
		if (!value) {
			errno = EPROTO;	/* fewer values than names */
			return -1;
		}
		if (name_len == strlen("ListenOverflows") &&
		    !strncmp(name, "ListenOverflows", name_len))
			slot = &found.overflows;
		else if (name_len == strlen("ListenDrops") &&
			 !strncmp(name, "ListenDrops", name_len))
			slot = &found.drops;
		if (!slot)
			continue;
		errno = 0;
		*slot = strtoull(value, &end, 10);
		if (!isdigit((unsigned char)*value) || errno || end != value + value_len) {
			errno = EPROTO;
			return -1;
		}
		wanted--;
	}
	if (wanted) {
		errno = ENODATA;
		return -1;
	}
	*out = found;
	return 0;
}
