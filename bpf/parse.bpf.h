/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Packet parsing for the XDP program, with a bounds-checked cursor: every
 * header is taken through cursor_take(), which checks it against the end of
 * the frame, so no read can leave the packet.
 *
 * Ethernet, up to two VLAN tags (802.1Q, 802.1ad), IPv4 with options and
 * fragments, IPv6 with a bounded walk of extension headers and fragments,
 * then TCP, UDP, ICMP and ICMPv6. A non-first fragment has no L4 header.
 */
#ifndef SLUICE_PARSE_BPF_H
#define SLUICE_PARSE_BPF_H

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/in6.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/tcp.h>
#include <linux/udp.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#include "sluice.h"

#define SLUICE_MAX_VLAN_TAGS 2
/* Real traffic carries two or three; more is an evasion attempt. */
#define SLUICE_MAX_IPV6_EXT_HEADERS 8

#define IPV4_FRAG_OFFSET_MASK 0x1fff
#define IPV4_MORE_FRAGMENTS 0x2000
#define IPV6_FRAG_OFFSET_MASK 0xfff8
#define IPV6_MORE_FRAGMENTS 0x0001
/* Bits of the TCP flags byte (struct sluice_packet's tcp_flags). */
#define SLUICE_TCP_SYN 0x02
#define SLUICE_TCP_ACK 0x10

enum sluice_parse_result {
	SLUICE_PARSE_OK,
	SLUICE_PARSE_NOT_IP,		/* not IPv4 or IPv6: nothing to limit */
	SLUICE_PARSE_MALFORMED,		/* claims to be IP but its header is broken */
};

enum sluice_packet_flags {
	SLUICE_PKT_FRAGMENT = 1 << 0,		/* any fragment, first or not */
	SLUICE_PKT_LATER_FRAGMENT = 1 << 1,	/* not the first: no L4 header */
	SLUICE_PKT_HAS_PORTS = 1 << 2,		/* sport and dport are valid */
	SLUICE_PKT_L4_TRUNCATED = 1 << 3,	/* the L4 header did not fit */
};

/* What the parser learned. Ports are in host byte order. */
struct sluice_packet {
	struct sluice_source_key src;	/* family and address: the bucket key as it is */
	__u8 dst[SLUICE_ADDR_LEN];	/* IPv4 in the first 4 bytes */
	__u8 l4_proto;			/* IPPROTO_* of the upper layer */
	__u8 flags;			/* enum sluice_packet_flags */
	__u16 sport;
	__u16 dport;
	__u8 tcp_flags;			/* the flags byte of the TCP header */
	__u8 icmp_type;
	__u8 ttl;			/* IPv4 TTL or IPv6 hop limit */
	__u8 vlan_tags;
	/*
	 * Where the IP header and the L4 header (a later fragment's payload)
	 * start, in bytes from the frame's first: for code that rewrites the
	 * frame (bpf/refuse.bpf.h). l4_offset is 0 when the walk of IPv6
	 * extension headers gave up.
	 */
	__u16 l3_offset;
	__u16 l4_offset;
};

struct cursor {
	void *pos;
	void *end;
};

static __always_inline void *cursor_take(struct cursor *c, __u32 len)
{
	void *start = c->pos;

	if (start + len > c->end)
		return NULL;
	c->pos = start + len;
	return start;
}

/* The first 4 bytes of any VLAN tag after the outer EtherType. */
struct vlan_tag {
	__be16 tci;
	__be16 encapsulated_proto;
};

static __always_inline int parse_ethernet(struct cursor *c, struct sluice_packet *pkt)
{
	struct ethhdr *eth = cursor_take(c, sizeof(*eth));
	struct vlan_tag *tag;
	__u16 proto;

	if (!eth)
		return -1;
	proto = bpf_ntohs(eth->h_proto);
#pragma unroll
	for (int i = 0; i < SLUICE_MAX_VLAN_TAGS; i++) {
		if (proto != ETH_P_8021Q && proto != ETH_P_8021AD)
			break;
		tag = cursor_take(c, sizeof(*tag));
		if (!tag)
			return -1;
		proto = bpf_ntohs(tag->encapsulated_proto);
		pkt->vlan_tags++;
	}
	pkt->l3_offset = c->pos - (void *)eth;
	return proto;
}

/* Reads ports, flags and types of the L4 header at the cursor, if it fits. */
static __always_inline void parse_l4(struct cursor *c, struct sluice_packet *pkt)
{
	if (pkt->flags & SLUICE_PKT_LATER_FRAGMENT)
		return;

	switch (pkt->l4_proto) {
	case IPPROTO_TCP: {
		struct tcphdr *tcp = cursor_take(c, sizeof(*tcp));

		if (!tcp || tcp->doff < 5)
			break;
		pkt->sport = bpf_ntohs(tcp->source);
		pkt->dport = bpf_ntohs(tcp->dest);
		/* The flags byte follows data offset and reserved bits. */
		pkt->tcp_flags = ((__u8 *)tcp)[13];
		pkt->flags |= SLUICE_PKT_HAS_PORTS;
		return;
	}
	case IPPROTO_UDP: {
		struct udphdr *udp = cursor_take(c, sizeof(*udp));

		if (!udp)
			break;
		pkt->sport = bpf_ntohs(udp->source);
		pkt->dport = bpf_ntohs(udp->dest);
		pkt->flags |= SLUICE_PKT_HAS_PORTS;
		return;
	}
	case IPPROTO_ICMP:
	case IPPROTO_ICMPV6: {
		/* Type and code are all we need, and all both families share. */
		__u8 *type = cursor_take(c, 2);

		if (!type)
			break;
		pkt->icmp_type = type[0];
		return;
	}
	default:
		return;
	}
	pkt->flags |= SLUICE_PKT_L4_TRUNCATED;
}

static __always_inline enum sluice_parse_result parse_ipv4(struct cursor *c,
							    struct sluice_packet *pkt)
{
	struct iphdr *ip = cursor_take(c, sizeof(*ip));
	__u32 options_len;
	__u16 frag;

	if (!ip || ip->version != 4 || ip->ihl < 5)
		return SLUICE_PARSE_MALFORMED;
	options_len = ip->ihl * 4 - sizeof(*ip);
	if (options_len && !cursor_take(c, options_len))
		return SLUICE_PARSE_MALFORMED;

	pkt->src.family = SLUICE_FAMILY_IPV4;
	pkt->l4_proto = ip->protocol;
	pkt->ttl = ip->ttl;
	/* The rest of the 16 bytes stays zero: the caller zeroes *pkt. */
	__builtin_memcpy(pkt->src.addr, &ip->saddr, 4);
	__builtin_memcpy(pkt->dst, &ip->daddr, 4);
	frag = bpf_ntohs(ip->frag_off);
	if (frag & (IPV4_FRAG_OFFSET_MASK | IPV4_MORE_FRAGMENTS))
		pkt->flags |= SLUICE_PKT_FRAGMENT;
	if (frag & IPV4_FRAG_OFFSET_MASK)
		pkt->flags |= SLUICE_PKT_LATER_FRAGMENT;
	pkt->l4_offset = pkt->l3_offset + ip->ihl * 4;
	parse_l4(c, pkt);
	return SLUICE_PARSE_OK;
}

/* The two bytes that start every extension header but the fragment header's length. */
struct ipv6_ext_header {
	__u8 next_header;
	__u8 length;
};

static __always_inline int is_ipv6_ext_header(__u8 next)
{
	return next == IPPROTO_HOPOPTS || next == IPPROTO_ROUTING || next == IPPROTO_DSTOPTS ||
	       next == IPPROTO_AH || next == IPPROTO_FRAGMENT;
}

struct ipv6_fragment_header {
	__u8 next_header;
	__u8 reserved;
	__be16 offset_and_flags;
	__be32 identification;
};

static __always_inline enum sluice_parse_result parse_ipv6(struct cursor *c,
							    struct sluice_packet *pkt)
{
	struct ipv6hdr *ip6 = cursor_take(c, sizeof(*ip6));
	__u8 next;

	if (!ip6 || ip6->version != 6)
		return SLUICE_PARSE_MALFORMED;
	pkt->src.family = SLUICE_FAMILY_IPV6;
	pkt->ttl = ip6->hop_limit;
	__builtin_memcpy(pkt->src.addr, &ip6->saddr, SLUICE_ADDR_LEN);
	__builtin_memcpy(pkt->dst, &ip6->daddr, SLUICE_ADDR_LEN);
	next = ip6->nexthdr;

	/* One pass per extension header, and one more for the header after the last. */
	for (int i = 0; i <= SLUICE_MAX_IPV6_EXT_HEADERS; i++) {
		struct ipv6_ext_header *ext;
		struct ipv6_fragment_header *frag;
		__u32 len;

		if (i == SLUICE_MAX_IPV6_EXT_HEADERS && is_ipv6_ext_header(next))
			break;
		switch (next) {
		case IPPROTO_HOPOPTS:
		case IPPROTO_ROUTING:
		case IPPROTO_DSTOPTS:
			ext = cursor_take(c, sizeof(*ext));
			if (!ext)
				return SLUICE_PARSE_MALFORMED;
			len = (ext->length + 1) * 8 - sizeof(*ext);
			break;
		case IPPROTO_AH:
			/* AH counts its length in 4-byte words, less two. */
			ext = cursor_take(c, sizeof(*ext));
			if (!ext)
				return SLUICE_PARSE_MALFORMED;
			len = (ext->length + 2) * 4 - sizeof(*ext);
			break;
		case IPPROTO_FRAGMENT:
			frag = cursor_take(c, sizeof(*frag));
			if (!frag)
				return SLUICE_PARSE_MALFORMED;
			pkt->flags |= SLUICE_PKT_FRAGMENT;
			next = frag->next_header;
			if (bpf_ntohs(frag->offset_and_flags) & IPV6_FRAG_OFFSET_MASK) {
				/* What follows is the middle of a payload, not headers. */
				pkt->flags |= SLUICE_PKT_LATER_FRAGMENT;
				pkt->l4_proto = next;
				pkt->l4_offset = pkt->l3_offset + (c->pos - (void *)ip6);
				return SLUICE_PARSE_OK;
			}
			continue;
		default:
			/* An upper-layer header, ESP or "no next header". */
			pkt->l4_proto = next;
			pkt->l4_offset = pkt->l3_offset + (c->pos - (void *)ip6);
			parse_l4(c, pkt);
			return SLUICE_PARSE_OK;
		}
		if (!cursor_take(c, len))
			return SLUICE_PARSE_MALFORMED;
		next = ext->next_header;
	}
	/* Too many extension headers to walk: the source is known, L4 is not. */
	pkt->l4_proto = next;
	pkt->flags |= SLUICE_PKT_L4_TRUNCATED;
	return SLUICE_PARSE_OK;
}

/* Parses the frame into *pkt, which the caller has zeroed. */
static __always_inline enum sluice_parse_result sluice_parse(struct xdp_md *ctx,
							      struct sluice_packet *pkt)
{
	struct cursor c = {
		.pos = (void *)(long)ctx->data,
		.end = (void *)(long)ctx->data_end,
	};
	int proto = parse_ethernet(&c, pkt);

	if (proto < 0)
		return SLUICE_PARSE_MALFORMED;
	if (proto == ETH_P_IP)
		return parse_ipv4(&c, pkt);
	if (proto == ETH_P_IPV6)
		return parse_ipv6(&c, pkt);
	return SLUICE_PARSE_NOT_IP;
}

#endif /* SLUICE_PARSE_BPF_H */
