/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Active health probes of a protected service (`--probe tcp`,
 * `--probe http://ADDR:PORT/PATH`), run by the controller from its tick:
 * nothing here blocks. A probe is a non-blocking connect, and for HTTP one
 * "GET PATH HTTP/1.0" and the status line of the answer; its outcome (failed
 * or not, and how long it took) is a call for the breaker and a latency
 * sample for the concurrency limit. Whether a call was slow is theirs to
 * judge from duration_ns.
 *
 * The service may live in another network namespace: the probe's socket is
 * created inside it (the thread enters it for the socket() call only, as
 * listenq.c does), and a socket stays in the namespace it was created in.
 */
#ifndef SLUICE_PROBE_H
#define SLUICE_PROBE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>
#include <linux/types.h>

/* The longest PATH of an HTTP probe, so a prober is one fixed-size struct. */
#define PROBE_MAX_PATH 256
/*
 * What is read of an HTTP answer looking for its status line. A status
 * line is about 20 bytes; a server that sends 512 without a line end is
 * not answering HTTP.
 */
#define PROBE_MAX_RESPONSE 512

enum probe_kind {
	PROBE_TCP,	/* the connection is accepted */
	PROBE_HTTP,	/* and a GET is answered with 2xx or 3xx */
};

struct probe_target {
	enum probe_kind kind;
	struct sockaddr_storage addr;
	socklen_t addr_len;
	char host[64];			/* Host header: "127.0.0.1:80", "[::1]:80" */
	char path[PROBE_MAX_PATH];	/* HTTP only: "/" when none was given */
};

/*
 * Reads a probe as the operator gives it:
 *  - "tcp": a connect to 127.0.0.1 on default_port (the service's port);
 *  - "tcp://ADDR:PORT": a connect to that address;
 *  - "http://ADDR:PORT[/PATH]": a GET of PATH ("/" without one).
 * ADDR is a numeric IPv4 address or an IPv6 one in brackets (no DNS: the
 * controller must not block on a resolver); PORT is 1..65535 and required;
 * PATH is printable ASCII without spaces. 0, or -1 with errno EINVAL and
 * one line in err naming the input ("invalid probe 'udp': ...").
 */
int probe_target_parse(const char *text, __u16 default_port, struct probe_target *out,
		       char *err, size_t err_len);

struct probe_result {
	bool failed;		/* refused, reset, timed out, not 2xx/3xx, not HTTP */
	bool timed_out;		/* no outcome within timeout_ns */
	bool refused;		/* the connect was answered with a reset */
	int http_status;	/* the status of an HTTP answer, 0 without one */
	int error;		/* the socket error of a failed connect/send/recv, or 0 */
	__u64 duration_ns;	/* from prober_start() to the poll that saw the outcome */
};

enum prober_state {
	PROBER_IDLE,
	PROBER_CONNECTING,
	PROBER_SENDING,
	PROBER_READING,
};

/*
 * One outstanding probe at a time for one target. Embedded by its owner
 * (no allocation); set up with prober_init(). Not for two threads at once.
 */
struct prober {
	int fd;
	enum prober_state state;
	enum probe_kind kind;
	int connect_error;	/* a connect that failed at once, reported by the next poll */
	__u64 started_ns;
	size_t request_len, sent, received;
	char request[PROBE_MAX_PATH + 128];
	char response[PROBE_MAX_RESPONSE + 1];
};

void prober_init(struct prober *p);

/*
 * Starts a probe of t: a non-blocking socket and connect (and for HTTP the
 * request, sent once connected, by prober_poll()). netns_fd is -1 for the
 * calling thread's network namespace, or a descriptor of another one
 * (/proc/PID/ns/net, /run/netns/NAME) to create the socket in: the thread
 * enters it for socket() and goes back before this returns, also on error
 * (needs CAP_SYS_ADMIN). A connect the kernel fails at once (refused,
 * unreachable) is not an error here: it is the outcome the next
 * prober_poll() returns. 0, or -1 with errno: EBUSY while a probe is
 * outstanding, else what socket()/setns() said; nothing is outstanding then.
 */
int prober_start(struct prober *p, const struct probe_target *t, int netns_fd, __u64 now_ns);

/*
 * Advances the outstanding probe without blocking (poll() with timeout 0 on
 * its socket). Returns 1 with the outcome in *out (the prober is idle
 * again), 0 while it is pending, -1 with errno on an internal error (EINVAL
 * when nothing is outstanding; the prober is idle after any error).
 * Anything not decided within timeout_ns of the start is a failure with
 * timed_out, and so is a success first seen later than that (a failure
 * seen late stays as it was): the duration is what the controller observed,
 * so a late tick cannot report a success slower than the timeout.
 */
int prober_poll(struct prober *p, __u64 now_ns, __u64 timeout_ns, struct probe_result *out);

/* Abandons the outstanding probe, if any; the prober stays usable. */
void prober_close(struct prober *p);

/* The socket of the outstanding probe for the controller's poll set; -1 when idle. */
int prober_fd(const struct prober *p);

#endif /* SLUICE_PROBE_H */
