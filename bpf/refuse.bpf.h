/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Refusing a TCP connection from XDP: the frame is rewritten in place into
 * the RST that answers it (RFC 9293, 3.10.7.1) and sent back out of the
 * port it came in on with XDP_TX, so the client's connect() fails at once
 * with ECONNREFUSED instead of resending its SYN for a minute or more.
 *
 * The reply is the smallest well-formed one: the frame's own Ethernet and
 * VLAN headers with the MACs swapped, a fresh IPv4 header (20 bytes, no
 * options, DF, TTL 64) or IPv6 header (hop limit 64, no extension headers),
 * and a 20-byte TCP header with no options, window 0 and no payload.
 */
#ifndef SLUICE_REFUSE_BPF_H
#define SLUICE_REFUSE_BPF_H

#include "parse.bpf.h"

/* More bits of the TCP flags byte (parse.bpf.h has SYN and ACK). */
#define SLUICE_TCP_FIN 0x01
#define SLUICE_TCP_RST 0x04

#define REFUSE_HOP_LIMIT 64
#define REFUSE_IPV4_DF 0x4000
/* The L3 header starts after Ethernet and at most SLUICE_MAX_VLAN_TAGS tags. */
#define REFUSE_MAX_L3_OFFSET (ETH_HLEN + SLUICE_MAX_VLAN_TAGS * 4)
/* Headers past a page cannot be in an XDP buffer's linear part anyway. */
#define REFUSE_MAX_L4_OFFSET 4096

/* What the reply carries after the L2 header, for each family. */
struct refuse_ipv4 {
	struct iphdr ip;
	struct tcphdr tcp;
};

struct refuse_ipv6 {
	struct ipv6hdr ip6;
	struct tcphdr tcp;
};

static __always_inline __u16 refuse_csum_fold(__u64 sum)
{
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return ~sum;
}

/*
 * RFC 1122 4.2.3.10: a SYN to a broadcast or multicast address is
 * discarded, never answered; nor is one from such an address, or the reply
 * would go to a group.
 */
static __always_inline int refuse_unicast(const struct sluice_packet *pkt)
{
	if (pkt->src.family == SLUICE_FAMILY_IPV4)
		/* 0/8 is "this host"; 224/4 multicast; 240/4 reserved and broadcast. */
		return pkt->src.addr[0] && pkt->src.addr[0] < 224 && pkt->dst[0] < 224;
	return pkt->src.addr[0] != 0xff && pkt->dst[0] != 0xff;
}

/* The TCP checksum of a 20-byte header, from its pseudo-header's addresses. */
static __always_inline __u16 refuse_tcp_checksum(__be32 *addrs, __u32 addrs_len,
						 struct tcphdr *tcp)
{
	/*
	 * The pseudo-header's other words, protocol and TCP length, sum to
	 * IPPROTO_TCP + 20 in IPv4 (00 06 00 14) and IPv6 (00 00 00 14,
	 * 00 00 00 06) alike.
	 */
	__s64 sum = bpf_csum_diff(NULL, 0, addrs, addrs_len,
				  bpf_htonl(IPPROTO_TCP + sizeof(*tcp)));

	sum = bpf_csum_diff(NULL, 0, (__be32 *)tcp, sizeof(*tcp), (__u32)sum);
	return refuse_csum_fold((__u32)sum);
}

/* A 20-byte header without options or window; the checksum is left zero. */
static __always_inline void refuse_write_tcp(struct tcphdr *tcp, __be16 sport, __be16 dport,
					     __be32 seq, __be32 ack_seq, __u8 flags)
{
	tcp->source = sport;
	tcp->dest = dport;
	tcp->seq = seq;
	tcp->ack_seq = ack_seq;
	/* Data offset 5 words, then the flags byte. */
	((__u8 *)tcp)[12] = 5 << 4;
	((__u8 *)tcp)[13] = flags;
	tcp->window = 0;
	tcp->check = 0;
	tcp->urg_ptr = 0;
}

/*
 * Rewrites the frame in place into the RST that answers it and returns
 * XDP_TX. Returns -1, the frame as it was, when the packet gets no answer:
 * not TCP with a whole 20-byte header, an RST itself (RFC 9293: never
 * answered), any fragment (the segment's length is unknown), a TCP header
 * or payload cut short of what the IP header says, or a broadcast or
 * multicast address on either side. The caller then passes or drops it.
 *
 * pkt is what sluice_parse() said about this very frame: the addresses,
 * ports and flags, and the offsets of the L3 and L4 headers.
 *
 * With ACK in the incoming segment, the RST has seq = its ack number and no
 * ACK; without, RST|ACK with seq 0 and ack = its seq + its length (payload,
 * +1 for SYN, +1 for FIN). MACs, addresses and ports are swapped.
 */
static __always_inline int refuse_with_rst(struct xdp_md *ctx, const struct sluice_packet *pkt)
{
	void *data = (void *)(long)ctx->data, *data_end = (void *)(long)ctx->data_end;
	int ipv6 = pkt->src.family == SLUICE_FAMILY_IPV6;
	__u32 l3 = pkt->l3_offset, l4 = pkt->l4_offset, ip_end, tcp_len, reply_len;
	__u32 reply_ip_len = ipv6 ? sizeof(struct ipv6hdr) : sizeof(struct iphdr);
	__u8 dst_mac[ETH_ALEN], src_mac[ETH_ALEN], tcp_flags;
	__be32 seq = 0, ack_seq = 0;
	struct refuse_ipv4 *r4;
	struct refuse_ipv6 *r6;
	struct tcphdr *tcp;
	struct ethhdr *eth;
	__be16 sport, dport;
	__u64 frame_len;

	if (pkt->l4_proto != IPPROTO_TCP || !(pkt->flags & SLUICE_PKT_HAS_PORTS) ||
	    (pkt->flags & SLUICE_PKT_FRAGMENT) || (pkt->tcp_flags & SLUICE_TCP_RST) ||
	    !refuse_unicast(pkt))
		return -1;
	/*
	 * Bounded as they are used: the compiler would otherwise check one copy
	 * of an offset and add another to the packet pointer, which the
	 * verifier rejects.
	 */
	barrier_var(l3);
	barrier_var(l4);
	if (l3 < ETH_HLEN || l3 > REFUSE_MAX_L3_OFFSET || l4 < l3 + reply_ip_len ||
	    l4 > REFUSE_MAX_L4_OFFSET)
		return -1;

	/* Everything the reply needs from the frame is read before it changes. */
	eth = data;
	tcp = data + l4;
	if ((void *)(eth + 1) > data_end || (void *)(tcp + 1) > data_end)
		return -1;
	if (ipv6) {
		r6 = data + l3;
		if ((void *)(r6 + 1) > data_end)
			return -1;
		ip_end = l3 + sizeof(r6->ip6) + bpf_ntohs(r6->ip6.payload_len);
	} else {
		r4 = data + l3;
		if ((void *)(r4 + 1) > data_end)
			return -1;
		ip_end = l3 + bpf_ntohs(r4->ip.tot_len);
	}
	frame_len = bpf_xdp_get_buff_len(ctx);
	tcp_len = tcp->doff * 4;
	if (ip_end > frame_len || ip_end < l4 + tcp_len)
		return -1;

	__builtin_memcpy(dst_mac, eth->h_dest, ETH_ALEN);
	__builtin_memcpy(src_mac, eth->h_source, ETH_ALEN);
	sport = tcp->source;
	dport = tcp->dest;
	if (pkt->tcp_flags & SLUICE_TCP_ACK) {
		seq = tcp->ack_seq;
		tcp_flags = SLUICE_TCP_RST;
	} else {
		/* The segment's length: its payload, and one each for SYN and FIN. */
		__u32 len = ip_end - l4 - tcp_len + !!(pkt->tcp_flags & SLUICE_TCP_SYN) +
			    !!(pkt->tcp_flags & SLUICE_TCP_FIN);

		ack_seq = bpf_htonl(bpf_ntohl(tcp->seq) + len);
		tcp_flags = SLUICE_TCP_RST | SLUICE_TCP_ACK;
	}

	/* Options, extension headers and payload go: the frame ends after TCP. */
	reply_len = l3 + reply_ip_len + sizeof(*tcp);
	if (reply_len != frame_len && bpf_xdp_adjust_tail(ctx, (int)reply_len - (int)frame_len))
		return -1;

	/* The adjustment invalidated every packet pointer: check again. */
	data = (void *)(long)ctx->data;
	data_end = (void *)(long)ctx->data_end;
	eth = data;
	if ((void *)(eth + 1) > data_end)
		return -1;	/* cannot happen: the frame is at least reply_len long */
	__builtin_memcpy(eth->h_dest, src_mac, ETH_ALEN);
	__builtin_memcpy(eth->h_source, dst_mac, ETH_ALEN);

	if (ipv6) {
		r6 = data + l3;
		if ((void *)(r6 + 1) > data_end)
			return -1;	/* cannot happen, as above */
		/* Version 6, traffic class and flow label 0. */
		*(__be32 *)&r6->ip6 = bpf_htonl(6 << 28);
		r6->ip6.payload_len = bpf_htons(sizeof(*tcp));
		r6->ip6.nexthdr = IPPROTO_TCP;
		r6->ip6.hop_limit = REFUSE_HOP_LIMIT;
		__builtin_memcpy(&r6->ip6.saddr, pkt->dst, sizeof(r6->ip6.saddr));
		__builtin_memcpy(&r6->ip6.daddr, pkt->src.addr, sizeof(r6->ip6.daddr));
		refuse_write_tcp(&r6->tcp, dport, sport, seq, ack_seq, tcp_flags);
		r6->tcp.check = refuse_tcp_checksum((__be32 *)&r6->ip6.saddr, 32, &r6->tcp);
	} else {
		r4 = data + l3;
		if ((void *)(r4 + 1) > data_end)
			return -1;	/* cannot happen, as above */
		/* Version 4, IHL 5, TOS 0. */
		*(__be16 *)&r4->ip = bpf_htons(0x4500);
		r4->ip.tot_len = bpf_htons(sizeof(*r4));
		r4->ip.id = 0;
		r4->ip.frag_off = bpf_htons(REFUSE_IPV4_DF);
		r4->ip.ttl = REFUSE_HOP_LIMIT;
		r4->ip.protocol = IPPROTO_TCP;
		__builtin_memcpy(&r4->ip.saddr, pkt->dst, sizeof(r4->ip.saddr));
		__builtin_memcpy(&r4->ip.daddr, pkt->src.addr, sizeof(r4->ip.daddr));
		r4->ip.check = 0;
		r4->ip.check = refuse_csum_fold(
			(__u32)bpf_csum_diff(NULL, 0, (__be32 *)&r4->ip, sizeof(r4->ip), 0));
		refuse_write_tcp(&r4->tcp, dport, sport, seq, ack_seq, tcp_flags);
		r4->tcp.check = refuse_tcp_checksum((__be32 *)&r4->ip.saddr, 8, &r4->tcp);
	}
	return XDP_TX;
}

#endif /* SLUICE_REFUSE_BPF_H */
