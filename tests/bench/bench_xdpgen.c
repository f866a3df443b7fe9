// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * bench_xdpgen: floods out of a veth with the kernel's BPF_PROG_RUN
 * live-frames mode, the fastest generator on these machines (the kernel has
 * no pktgen). Run it in the sender's network namespace, pinned to a CPU.
 *
 *   bench_xdpgen -i IFACE -m DST_MAC -d DST_IP -s SOURCES -t SECONDS
 *
 * Frames are 60-byte UDP packets from SOURCES addresses starting at
 * 198.18.0.0. Each BPF_PROG_RUN call sends `repeat` frames; a call pays an
 * RCU grace period, so calls are long (about half a second of frames).
 * Prints one JSON line: {"frames": N, "seconds": S, "frames_per_second": R}.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <linux/if_ether.h>
#include <linux/ip.h>
#include <linux/udp.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "xdpgen.skel.h"

#define FIRST_SOURCE 0xc6120000u	/* 198.18.0.0 */
#define FRAMES_PER_CALL 2000000u

struct frame {
	struct ethhdr eth;
	struct iphdr ip;
	struct udphdr udp;
	__u8 payload[18];	/* to the 60-byte minimum frame */
} __attribute__((packed));

static double now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int parse_mac(const char *text, __u8 mac[ETH_ALEN])
{
	unsigned int b[ETH_ALEN];

	if (sscanf(text, "%x:%x:%x:%x:%x:%x", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5]) != 6)
		return -1;
	for (int i = 0; i < ETH_ALEN; i++)
		mac[i] = (__u8)b[i];
	return 0;
}

int main(int argc, char **argv)
{
	const char *ifname = NULL, *dst_mac = NULL, *dst_ip = NULL;
	double seconds = 1, start, elapsed;
	struct frame frame = {};
	struct xdpgen_bpf *skel;
	unsigned long sources = 1;
	__u64 frames = 0;
	int opt, ifindex;

	while ((opt = getopt(argc, argv, "i:m:d:s:t:")) != -1) {
		switch (opt) {
		case 'i': ifname = optarg; break;
		case 'm': dst_mac = optarg; break;
		case 'd': dst_ip = optarg; break;
		case 's': sources = strtoul(optarg, NULL, 10); break;
		case 't': seconds = atof(optarg); break;
		default: return 2;
		}
	}
	if (!ifname || !dst_mac || !dst_ip || sources == 0 || sources > 65536 || seconds <= 0 ||
	    seconds > 600) {
		fprintf(stderr, "usage: bench_xdpgen -i IFACE -m DST_MAC -d DST_IP -s SOURCES(1..65536) "
				"-t SECONDS\n");
		return 2;
	}
	ifindex = if_nametoindex(ifname);
	if (!ifindex || parse_mac(dst_mac, frame.eth.h_dest) ||
	    inet_pton(AF_INET, dst_ip, &frame.ip.daddr) != 1) {
		fprintf(stderr, "Error: bad interface, MAC or address\n");
		return 1;
	}
	frame.eth.h_source[0] = 0x02;	/* locally administered */
	frame.eth.h_proto = htons(ETH_P_IP);
	frame.ip.version = 4;
	frame.ip.ihl = 5;
	frame.ip.ttl = 64;
	frame.ip.protocol = IPPROTO_UDP;
	frame.ip.tot_len = htons(sizeof(frame) - sizeof(frame.eth));
	frame.udp.source = htons(40000);
	frame.udp.dest = htons(9);
	frame.udp.len = htons(sizeof(frame.udp) + sizeof(frame.payload));

	skel = xdpgen_bpf__open();
	if (!skel) {
		fprintf(stderr, "Error: cannot open the generator: %s\n", strerror(errno));
		return 1;
	}
	skel->rodata->first_source = FIRST_SOURCE;
	skel->rodata->sources = sources;
	if (xdpgen_bpf__load(skel)) {
		fprintf(stderr, "Error: cannot load the generator: %s\n", strerror(errno));
		xdpgen_bpf__destroy(skel);
		return 1;
	}

	start = now_seconds();
	do {
		struct xdp_md ctx = { .data_end = sizeof(frame), .ingress_ifindex = ifindex };
		LIBBPF_OPTS(bpf_test_run_opts, run, .data_in = &frame, .data_size_in = sizeof(frame),
			    .ctx_in = &ctx, .ctx_size_in = sizeof(ctx), .repeat = FRAMES_PER_CALL,
			    .flags = BPF_F_TEST_XDP_LIVE_FRAMES);

		if (bpf_prog_test_run_opts(bpf_program__fd(skel->progs.xdpgen), &run)) {
			fprintf(stderr, "Error: BPF_PROG_RUN live frames failed: %s\n",
				strerror(errno));
			xdpgen_bpf__destroy(skel);
			return 1;
		}
		frames += FRAMES_PER_CALL;
		elapsed = now_seconds() - start;
	} while (elapsed < seconds);

	printf("{\"frames\": %llu, \"seconds\": %.3f, \"frames_per_second\": %.0f}\n",
	       (unsigned long long)frames, elapsed, frames / elapsed);
	xdpgen_bpf__destroy(skel);
	return 0;
}
