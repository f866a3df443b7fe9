// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Sluice behind a source rewrite, for bench_packet_cost: BPF_PROG_RUN repeats
 * one frame, so these programs give every repetition another IPv4 source
 * before Sluice sees it. The *_rw programs do the same rewrite and return, so
 * the bench can take the rewrite's cost out of Sluice's.
 *
 * This object has its own copy of Sluice's maps (and of sluice_xdp), into
 * which the bench sets its rules with rule_set() (user/rules.h), as on
 * Sluice's own. The frame must be untagged IPv4; anything else is
 * XDP_ABORTED, which the bench sees as packets that Sluice never counted.
 */
#include "sluice.bpf.c"

const volatile __u32 first_source = 0;	/* host byte order */
/* Random sources are first_source + (random & source_mask): 2^k - 1 for 2^k sources. */
const volatile __u32 source_mask = 0;

/* New sources are first_source + next_source++; BPF_PROG_RUN runs on one CPU. */
__u32 next_source = 0;

static __always_inline int set_source(struct xdp_md *ctx, __u32 source)
{
	void *data = (void *)(long)ctx->data, *end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	struct iphdr *ip = data + sizeof(*eth);

	if ((void *)(ip + 1) > end || eth->h_proto != bpf_htons(ETH_P_IP))
		return -1;
	ip->saddr = bpf_htonl(first_source + source);
	return 0;
}

SEC("xdp")
int xdp_new_src(struct xdp_md *ctx)
{
	if (set_source(ctx, next_source++))
		return XDP_ABORTED;
	return sluice_verdict(ctx);
}

SEC("xdp")
int xdp_new_rw(struct xdp_md *ctx)
{
	if (set_source(ctx, next_source++))
		return XDP_ABORTED;
	return XDP_DROP;
}

SEC("xdp")
int xdp_rand_src(struct xdp_md *ctx)
{
	if (set_source(ctx, bpf_get_prandom_u32() & source_mask))
		return XDP_ABORTED;
	return sluice_verdict(ctx);
}

SEC("xdp")
int xdp_rand_rw(struct xdp_md *ctx)
{
	if (set_source(ctx, bpf_get_prandom_u32() & source_mask))
		return XDP_ABORTED;
	return XDP_DROP;
}
