/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * What parse_probe.bpf.c reports about one frame: the parser's result and
 * struct sluice_packet, restated in fixed-width fields that userspace can
 * read from the probe's .bss. The probe copies each field by name, so a
 * renamed field in bpf/parse.bpf.h breaks the probe's build instead of
 * silently changing what the tests read.
 */
#ifndef SLUICE_TEST_PARSE_PROBE_H
#define SLUICE_TEST_PARSE_PROBE_H

#include <linux/types.h>

/* Starts at 1 so that a table row that forgot its expectation is caught. */
enum probe_parse_result {
	PROBE_PARSE_OK = 1,
	PROBE_PARSE_NOT_IP,
	PROBE_PARSE_MALFORMED,
	PROBE_PARSE_UNKNOWN,		/* a result the probe does not know */
};

/* enum sluice_packet_flags, bit by bit. */
enum probe_flags {
	PROBE_FRAGMENT = 1 << 0,
	PROBE_LATER_FRAGMENT = 1 << 1,
	PROBE_HAS_PORTS = 1 << 2,
	PROBE_L4_TRUNCATED = 1 << 3,
	PROBE_UNKNOWN_FLAG = 1 << 7,	/* a flag the probe does not know */
};

struct parse_probe_out {
	__u8 src[16];			/* src.addr: IPv4 in the first 4 bytes */
	__u8 dst[16];			/* IPv4 in the first 4 bytes */
	__u32 result;			/* enum probe_parse_result */
	__u32 runs;			/* how many frames the probe has parsed */
	__u16 sport;
	__u16 dport;
	__u8 family;			/* src.family: SLUICE_FAMILY_IPV4 or _IPV6 */
	__u8 src_pad[3];		/* src.pad: part of the bucket key, so zero */
	__u8 l4_proto;
	__u8 flags;			/* enum probe_flags */
	__u8 tcp_flags;
	__u8 icmp_type;
	__u8 ttl;
	__u8 vlan_tags;
	__u8 pad[2];
};
_Static_assert(sizeof(struct parse_probe_out) == 56, "parse_probe_out layout");

#endif /* SLUICE_TEST_PARSE_PROBE_H */
