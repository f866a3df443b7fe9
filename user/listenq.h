/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The controller's view of a protected local service's sockets: for
 * accept-queue backpressure, how full its listeners' accept queues are
 * (inet_diag over NETLINK_SOCK_DIAG) and how many connections the kernel
 * turned away because a queue was full (TcpExt ListenOverflows and
 * ListenDrops); for the adaptive concurrency limit, how many connections it
 * is serving (inet_diag again). The service may run in another network
 * namespace than the controller, so all of them are read through a probe
 * opened once inside that namespace and read on every tick.
 */
#ifndef SLUICE_LISTENQ_H
#define SLUICE_LISTENQ_H

#include <stddef.h>
#include <linux/types.h>

/*
 * A handle on one network namespace's sockets and counters, opened once,
 * read every tick (50 ms): no allocation or opening per read. Not for use by
 * two threads at once (it holds one netlink socket and one buffer).
 */
struct netns_probe;

/*
 * netns: NULL for the calling thread's own namespace, a name under
 * /run/netns (as `ip netns add` makes them), or a path with a '/' such as
 * /proc/PID/ns/net. The calling thread enters that namespace for the time it
 * takes to open a NETLINK_SOCK_DIAG socket and its /proc/net/netstat, then
 * goes back: both stay bound to the target namespace. Needs CAP_SYS_ADMIN
 * for another namespace. Returns NULL with errno and one line in err
 * ("no network namespace 'x'", ...) on failure; the thread is back in its
 * own namespace either way.
 */
/*
 * The file of a namespace: a path as given (with a '/'), or a name under
 * /run/netns. 0, or -1 for "", "." and ".." or a path longer than len.
 */
int netns_path(const char *netns, char *path, size_t len);

struct netns_probe *netns_probe_open(const char *netns, char *err, size_t errlen);
void netns_probe_close(struct netns_probe *p);

/*
 * The listen sockets on one port, IPv4 and IPv6 together (a service may
 * listen on both, or with SO_REUSEPORT on several sockets). A dual-stack
 * IPv6 socket ([::] without IPV6_V6ONLY) counts once.
 */
struct listen_queue {
	unsigned int sockets;	/* listen sockets found on the port */
	unsigned int queued;	/* connections waiting in their accept queues (sum of idiag_rqueue) */
	/* their accept-queue capacity: the sum of idiag_wqueue, the backlog as the kernel clamped it */
	unsigned int backlog;
	/*
	 * The fullest socket's queue and backlog: with SO_REUSEPORT each socket
	 * has its own queue, and one can overflow while the sums look fine.
	 */
	unsigned int fullest_queued;
	unsigned int fullest_backlog;
};

/*
 * Reads the TCP listen sockets bound to local port `port` (host order) in the
 * probe's namespace. The kernel holds backlog + 1 connections per socket
 * before it turns more away, so queued can exceed backlog by `sockets`.
 * 0 on success (sockets may be 0: nothing listens), -1 with errno on failure.
 */
int listen_queue_read(struct netns_probe *p, __u16 port, struct listen_queue *out);

/* The connections a service is serving or about to serve on local port `port`. */
struct service_connections {
	unsigned int syn_recv;     /* handshakes not finished (request sockets) */
	unsigned int established;  /* ESTABLISHED, including those waiting in accept queues */
	unsigned int close_wait;   /* the client closed, the server has not yet */
	unsigned int in_flight;    /* the sum of the three: what the concurrency limit is compared with */
};

/*
 * Reads the TCP connections whose local port is `port` (host order) in the
 * probe's namespace, IPv4 and IPv6 together; an IPv4 connection to a
 * dual-stack IPv6 listener counts once. Connections the server has closed
 * (FIN_WAIT, LAST_ACK, TIME_WAIT, ...) are not counted, nor are listeners.
 * Its cost grows with every TCP socket on the host, not only the service's
 * (user/listenq.c says how much). 0 on success, -1 with errno on failure
 * (EINVAL for port 0).
 */
int service_connections_read(struct netns_probe *p, __u16 port, struct service_connections *out);

/*
 * The namespace's TcpExt counters of connections refused at listen sockets.
 * ListenOverflows counts those turned away because an accept queue was full;
 * ListenDrops counts those plus every other drop at a listener (no memory,
 * no route for the SYN-ACK, ...), so drops >= overflows. Both only grow.
 */
struct tcp_listen_counters {
	__u64 overflows;	/* TcpExt ListenOverflows */
	__u64 drops;		/* TcpExt ListenDrops */
};

/* Reads them from the probe's namespace. 0, or -1 with errno. */
int tcp_listen_counters_read(struct netns_probe *p, struct tcp_listen_counters *out);

#endif /* SLUICE_LISTENQ_H */
