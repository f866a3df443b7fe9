/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * What the packet tests that run the whole sluice program on a fixture
 * share: frames to a destination, sending them and counting the verdicts,
 * and setting rules. Include it after packets.h, the fixture `fx`
 * (SLUICE_FIXTURE_GROUP) and the destinations DST4 and DST6.
 */
#ifndef SLUICE_PROGRAM_IO_H
#define SLUICE_PROGRAM_IO_H

#include <stdarg.h>
#include <string.h>

#include "packets.h"

/* Bits of the TCP flags byte. */
#define TCP_FIN 0x01
#define TCP_SYN 0x02
#define TCP_RST 0x04
#define TCP_PSH 0x08
#define TCP_ACK 0x10
#define TCP_ECE 0x40
#define TCP_CWR 0x80

#define SKIP_UNLESS_READY()                                                             \
	do {                                                                             \
		if (fx.skip_reason)                                                      \
			SKIP_BECAUSE("%s", fx.skip_reason);                              \
	} while (0)

static inline int is_v6(const char *src)
{
	return strchr(src, ':') != NULL;
}

static inline struct pkt_spec udp_to(const char *src, __u16 dport)
{
	return (struct pkt_spec){ .l3 = is_v6(src) ? PKT_IPV6 : PKT_IPV4, .src = src,
				  .dst = is_v6(src) ? DST6 : DST4, .l4 = IPPROTO_UDP,
				  .sport = 40000, .dport = dport };
}

static inline struct pkt_spec tcp_to(const char *src, __u16 dport, __u8 flags)
{
	return (struct pkt_spec){ .l3 = is_v6(src) ? PKT_IPV6 : PKT_IPV4, .src = src,
				  .dst = is_v6(src) ? DST6 : DST4, .l4 = IPPROTO_TCP,
				  .sport = 40001, .dport = dport, .tcp_flags = flags };
}

struct sent {
	__u32 passed;
	__u32 dropped;
	__u32 tx;
	__u32 len;		/* of the frame */
};

/* Sends a frame n times at the current fake time and counts the verdicts. */
static inline struct sent send_n(struct pkt_spec spec, __u32 n)
{
	struct sent sent = {};
	struct pkt pkt;
	__u32 verdict = ~0u;

	ASSERT_OK(pkt_build(&spec, &pkt), "build a frame from %s", spec.src);
	sent.len = pkt.len;
	for (__u32 i = 0; i < n; i++) {
		/* A fresh copy each time: an XDP_TX may have rewritten the last one. */
		struct pkt copy = pkt;

		ASSERT_OK(xdp_run(fx.skel->progs.sluice_xdp, copy.data, copy.len, &verdict),
			  "test run of a frame from %s", spec.src);
		if (verdict == XDP_PASS)
			sent.passed++;
		else if (verdict == XDP_DROP)
			sent.dropped++;
		else if (verdict == XDP_TX)
			sent.tx++;
		else
			EXPECT_VERDICT(verdict, XDP_PASS, "verdict of a frame from %s", spec.src);
	}
	return sent;
}

/* One frame: its verdict. */
static inline __u32 send_one(struct pkt_spec spec)
{
	struct sent s = send_n(spec, 1);

	return s.passed ? XDP_PASS : s.dropped ? XDP_DROP : s.tx ? XDP_TX : ~0u;
}

/* How many passed and were dropped; none may have been sent back. */
static inline __attribute__((format(printf, 4, 5))) void
expect_sent(struct sent got, __u32 passed, __u32 dropped, const char *what, ...)
{
	char name[200];
	va_list args;

	va_start(args, what);
	vsnprintf(name, sizeof(name), what, args);
	va_end(args);
	EXPECT_EQ(got.passed, passed, "%s: passed", name);
	EXPECT_EQ(got.dropped, dropped, "%s: dropped", name);
	EXPECT_EQ(got.tx, 0, "%s: sent back (XDP_TX)", name);
}

/* Sets a rule and returns its id; the test ends if it cannot be set. */
static inline __u32 add(const char *words)
{
	int id = rule_add(&fx, words);

	ASSERT_OK(id < 0 ? id : 0, "limit set %s", words);
	return id;
}

#endif /* SLUICE_PROGRAM_IO_H */
