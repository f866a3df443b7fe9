// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Reference programs for `make bench`: what a packet costs with nothing
 * done (the floor), with Sluice's parser only, and with each clock.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "parse.bpf.h"

/* Written so the compiler cannot drop the work being measured. */
__u64 sink = 0;

SEC("xdp")
int xdp_drop_only(struct xdp_md *ctx)
{
	(void)ctx;
	return XDP_DROP;
}

SEC("xdp")
int xdp_pass_only(struct xdp_md *ctx)
{
	(void)ctx;
	return XDP_PASS;
}

SEC("xdp")
int xdp_parse_only(struct xdp_md *ctx)
{
	struct sluice_packet pkt = {};

	sink += sluice_parse(ctx, &pkt) + pkt.sport;
	return XDP_DROP;
}

SEC("xdp")
int xdp_ktime(struct xdp_md *ctx)
{
	(void)ctx;
	sink += bpf_ktime_get_ns();
	return XDP_DROP;
}

SEC("xdp")
int xdp_ktime_coarse(struct xdp_md *ctx)
{
	(void)ctx;
	sink += bpf_ktime_get_coarse_ns();
	return XDP_DROP;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
