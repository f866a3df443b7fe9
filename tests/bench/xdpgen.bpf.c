// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The flood generator's program, run by BPF_PROG_RUN in live-frames mode on
 * the sending veth: each frame is the template UDP packet with its source
 * address rotated through `sources` addresses from `first_source`, and goes
 * out with XDP_TX. The IPv4 checksum is recomputed, so the receiver's stack
 * accepts the frames wherever a configuration lets them through.
 */
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

const volatile __u32 first_source = 0;	/* host byte order */
const volatile __u32 sources = 1;

__u64 sent = 0;

static __always_inline __u16 ipv4_checksum(const struct iphdr *ip)
{
	const __u16 *word = (const __u16 *)ip;
	__u32 sum = 0;

#pragma unroll
	for (int i = 0; i < (int)sizeof(*ip) / 2; i++)
		sum += word[i];
	sum = (sum & 0xffff) + (sum >> 16);
	sum = (sum & 0xffff) + (sum >> 16);
	return ~sum;
}

SEC("xdp")
int xdpgen(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	struct iphdr *ip = data + sizeof(struct ethhdr);

	if ((void *)(ip + 1) > end)
		return XDP_ABORTED;
	ip->saddr = bpf_htonl(first_source + (__u32)(sent++ % sources));
	ip->check = 0;
	ip->check = ipv4_checksum(ip);
	return XDP_TX;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
