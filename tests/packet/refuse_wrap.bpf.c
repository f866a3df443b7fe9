// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Sluice's parser, then refuse_with_rst() on every frame it parses: the
 * packet tests run frames through it with BPF_PROG_RUN, and the end-to-end
 * test attaches it to a veth so that a real TCP client meets its RSTs.
 * A frame that gets no RST passes. What the parser and refuse_with_rst()
 * returned for the last frame is left in .bss, so a test can tell "not
 * answered" from "not parsed".
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "parse.bpf.h"
#include "refuse.bpf.h"

__u32 parsed = 0;		/* 1: the parser said SLUICE_PARSE_OK */
int refuse_result = 0;		/* XDP_TX or -1; 0 when the parser failed */

SEC("xdp")
int refuse_wrap(struct xdp_md *ctx)
{
	struct sluice_packet pkt = {};

	parsed = sluice_parse(ctx, &pkt) == SLUICE_PARSE_OK;
	refuse_result = 0;
	if (!parsed)
		return XDP_PASS;
	refuse_result = refuse_with_rst(ctx, &pkt);
	return refuse_result < 0 ? XDP_PASS : refuse_result;
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
