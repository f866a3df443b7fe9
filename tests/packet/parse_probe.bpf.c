// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Runs Sluice's parser, and nothing else, on a frame and leaves what it
 * learned in probe_out for the packet tests to read. Always XDP_PASS.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "parse.bpf.h"
#include "parse_probe.h"

struct parse_probe_out probe_out;

_Static_assert(sizeof(probe_out.src) == sizeof(((struct sluice_packet *)0)->src.addr), "src");
_Static_assert(sizeof(probe_out.src_pad) == sizeof(((struct sluice_packet *)0)->src.pad), "pad");
_Static_assert(sizeof(probe_out.dst) == sizeof(((struct sluice_packet *)0)->dst), "dst");

static __always_inline __u32 probe_result(enum sluice_parse_result result)
{
	switch (result) {
	case SLUICE_PARSE_OK:
		return PROBE_PARSE_OK;
	case SLUICE_PARSE_NOT_IP:
		return PROBE_PARSE_NOT_IP;
	case SLUICE_PARSE_MALFORMED:
		return PROBE_PARSE_MALFORMED;
	default:
		return PROBE_PARSE_UNKNOWN;
	}
}

static __always_inline __u8 probe_flags(__u8 flags)
{
	__u8 known = SLUICE_PKT_FRAGMENT | SLUICE_PKT_LATER_FRAGMENT | SLUICE_PKT_HAS_PORTS |
		     SLUICE_PKT_L4_TRUNCATED;
	__u8 out = 0;

	if (flags & SLUICE_PKT_FRAGMENT)
		out |= PROBE_FRAGMENT;
	if (flags & SLUICE_PKT_LATER_FRAGMENT)
		out |= PROBE_LATER_FRAGMENT;
	if (flags & SLUICE_PKT_HAS_PORTS)
		out |= PROBE_HAS_PORTS;
	if (flags & SLUICE_PKT_L4_TRUNCATED)
		out |= PROBE_L4_TRUNCATED;
	if (flags & ~known)
		out |= PROBE_UNKNOWN_FLAG;
	return out;
}

SEC("xdp")
int parse_probe(struct xdp_md *ctx)
{
	struct sluice_packet pkt = {};
	enum sluice_parse_result result = sluice_parse(ctx, &pkt);

	__builtin_memcpy(probe_out.src, pkt.src.addr, sizeof(probe_out.src));
	__builtin_memcpy(probe_out.dst, pkt.dst, sizeof(probe_out.dst));
	probe_out.result = probe_result(result);
	probe_out.runs++;
	probe_out.family = pkt.src.family;
	__builtin_memcpy(probe_out.src_pad, pkt.src.pad, sizeof(probe_out.src_pad));
	probe_out.sport = pkt.sport;
	probe_out.dport = pkt.dport;
	probe_out.l4_proto = pkt.l4_proto;
	probe_out.flags = probe_flags(pkt.flags);
	probe_out.tcp_flags = pkt.tcp_flags;
	probe_out.icmp_type = pkt.icmp_type;
	probe_out.ttl = pkt.ttl;
	probe_out.vlan_tags = pkt.vlan_tags;
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
