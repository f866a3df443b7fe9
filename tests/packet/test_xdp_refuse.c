// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Packet tests of refuse_with_rst() (bpf/refuse.bpf.h), through
 * refuse_wrap.bpf.c: Sluice's parser, then refuse_with_rst() on the frame.
 * One table of frames drives two groups:
 *  - "refuse": each row's frame through the wrapper. A row that is answered
 *    must come back as XDP_TX with the RST that RFC 9293 (3.10.7.1) asks
 *    for: every field of the output frame is checked against the input, and
 *    both checksums are verified with the sum written here, not the BPF
 *    code's. The RST itself, run through again, must not be answered. A row
 *    that is not answered must pass, with the frame exactly as it was.
 *  - "truncated": every cut of every answered row's frame short of its IP
 *    length is refused an answer and passes unchanged.
 */
#define _GNU_SOURCE	/* asprintf */
#include "packets.h"
#include "refuse_wrap.skel.h"

#define SRC4 "198.18.0.1"
#define DST4 "198.19.0.2"
#define SRC6 "2001:db8::1"
#define DST6 "2001:db8::2"
#define SPORT 40001
#define DPORT 443

/* TCP flags, spelled out here rather than taken from the code under test. */
#define FIN 0x01
#define SYN 0x02
#define RST 0x04
#define PSH 0x08
#define ACK 0x10

/* The reply's fixed fields. */
#define WANT_TTL 64
#define WANT_IPV4_DF 0x4000

struct refuse_case {
	const char *name;
	struct pkt_spec pkt;
	__u32 seq;		/* written into the frame's TCP header */
	__u32 ack;		/* likewise */
	__u16 padding;		/* bytes after the IP packet: Ethernet padding */
	__u16 ip_len_short;	/* the IP length says this much less than the frame holds */
	int answered;		/* 1: an RST comes back; 0: the frame passes unchanged */
	__u32 want_seq;		/* of the RST */
	__u32 want_ack;
	__u8 want_flags;
};

#define V4 .l3 = PKT_IPV4, .src = SRC4, .dst = DST4
#define V6 .l3 = PKT_IPV6, .src = SRC6, .dst = DST6
#define TCP(flags) .l4 = IPPROTO_TCP, .sport = SPORT, .dport = DPORT, .tcp_flags = (flags)
#define UDP .l4 = IPPROTO_UDP, .sport = SPORT, .dport = 53

/* Without ACK: RST|ACK, seq 0, ack = seq + length. With ACK: RST, seq = ack. */
#define ANSWER_ACK(a) .answered = 1, .want_seq = 0, .want_ack = (a), .want_flags = RST | ACK
#define ANSWER_SEQ(s) .answered = 1, .want_seq = (s), .want_ack = 0, .want_flags = RST

static const struct refuse_case cases[] = {
	/* A SYN: its length is 1 */
	{ .name = "ipv4_syn", .pkt = { V4, TCP(SYN) }, .seq = 1000, ANSWER_ACK(1001) },
	{ .name = "ipv6_syn", .pkt = { V6, TCP(SYN) }, .seq = 1000, ANSWER_ACK(1001) },
	{ .name = "ipv4_syn_seq_wraps", .pkt = { V4, TCP(SYN) }, .seq = 0xffffffff,
	  ANSWER_ACK(0) },
	{ .name = "ipv4_syn_with_tcp_options", .pkt = { V4, TCP(SYN), .tcp_doff = 10 },
	  .seq = 0x12345678, ANSWER_ACK(0x12345679) },
	{ .name = "ipv6_syn_with_tcp_options", .pkt = { V6, TCP(SYN), .tcp_doff = 15 },
	  .seq = 0x12345678, ANSWER_ACK(0x12345679) },

	/* The reply drops IPv4 options and IPv6 extension headers */
	{ .name = "ipv4_options_ihl_6_syn", .pkt = { V4, TCP(SYN), .ihl = 6 }, .seq = 7,
	  ANSWER_ACK(8) },
	{ .name = "ipv4_options_ihl_15_syn", .pkt = { V4, TCP(SYN), .ihl = 15, .tcp_doff = 8 },
	  .seq = 7, ANSWER_ACK(8) },
	{ .name = "ipv6_hop_by_hop_syn", .pkt = { V6, TCP(SYN), .ext = { PKT_HBH(0) } },
	  .seq = 1000, ANSWER_ACK(1001) },
	{ .name = "ipv6_three_extension_headers_syn",
	  .pkt = { V6, TCP(SYN), .ext = { PKT_HBH(1), PKT_RT(2), PKT_DST(0) }, .tcp_doff = 8 },
	  .seq = 1000, ANSWER_ACK(1001) },
	{ .name = "ipv6_ah_syn", .pkt = { V6, TCP(SYN), .ext = { PKT_AH(4) } }, .seq = 1000,
	  ANSWER_ACK(1001) },

	/* VLAN tags stay as they are */
	{ .name = "ipv4_vlan_syn", .pkt = { V4, TCP(SYN), .vlan = { ETH_P_8021Q } }, .seq = 1000,
	  ANSWER_ACK(1001) },
	{ .name = "ipv4_qinq_syn_with_options",
	  .pkt = { V4, TCP(SYN), .vlan = { ETH_P_8021AD, ETH_P_8021Q }, .ihl = 9, .tcp_doff = 7 },
	  .seq = 1000, ANSWER_ACK(1001) },
	{ .name = "ipv6_qinq_extension_header_syn",
	  .pkt = { V6, TCP(SYN), .vlan = { ETH_P_8021AD, ETH_P_8021Q }, .ext = { PKT_DST(3) } },
	  .seq = 1000, ANSWER_ACK(1001) },

	/* Payload counts, and FIN counts one (TCP Fast Open sends data with its SYN) */
	{ .name = "ipv4_syn_with_payload", .pkt = { V4, TCP(SYN), .tcp_doff = 8, .payload_len = 100 },
	  .seq = 5000, ANSWER_ACK(5101) },
	{ .name = "ipv6_syn_with_payload", .pkt = { V6, TCP(SYN), .payload_len = 1400 },
	  .seq = 5000, ANSWER_ACK(6401) },
	{ .name = "ipv4_syn_fin_with_payload", .pkt = { V4, TCP(SYN | FIN), .payload_len = 10 },
	  .seq = 5000, ANSWER_ACK(5012) },
	{ .name = "ipv4_fin_alone", .pkt = { V4, TCP(FIN) }, .seq = 5000, ANSWER_ACK(5001) },
	{ .name = "ipv6_bare_segment_with_payload", .pkt = { V6, TCP(PSH), .payload_len = 3 },
	  .seq = 0xfffffffe, ANSWER_ACK(1) },
	{ .name = "ipv4_no_flags_no_payload", .pkt = { V4, TCP(0) }, .seq = 42, ANSWER_ACK(42) },

	/* Ethernet padding after the IP packet is no part of the segment */
	{ .name = "ipv4_syn_padded_to_60_bytes", .pkt = { V4, TCP(SYN) }, .padding = 6,
	  .seq = 1000, ANSWER_ACK(1001) },
	{ .name = "ipv6_syn_padded", .pkt = { V6, TCP(SYN) }, .padding = 30, .seq = 1000,
	  ANSWER_ACK(1001) },

	/* With ACK, the RST takes its seq from the ack number, and has no ACK */
	{ .name = "ipv4_ack", .pkt = { V4, TCP(ACK) }, .seq = 1000, .ack = 0xdeadbeef,
	  ANSWER_SEQ(0xdeadbeef) },
	{ .name = "ipv6_psh_ack_with_payload",
	  .pkt = { V6, TCP(PSH | ACK), .payload_len = 200, .ext = { PKT_HBH(0) } }, .seq = 1000,
	  .ack = 77, ANSWER_SEQ(77) },
	{ .name = "ipv4_syn_ack", .pkt = { V4, TCP(SYN | ACK) }, .seq = 1000, .ack = 3,
	  ANSWER_SEQ(3) },
	{ .name = "ipv4_fin_ack_vlan", .pkt = { V4, TCP(FIN | ACK), .vlan = { ETH_P_8021Q } },
	  .seq = 1000, .ack = 0x80000000, ANSWER_SEQ(0x80000000) },

	/* Never answered: not TCP */
	{ .name = "ipv4_udp", .pkt = { V4, UDP } },
	{ .name = "ipv6_udp", .pkt = { V6, UDP } },
	{ .name = "ipv4_icmp", .pkt = { V4, .l4 = IPPROTO_ICMP, .icmp_type = 8 } },
	{ .name = "ipv6_icmpv6", .pkt = { V6, .l4 = IPPROTO_ICMPV6, .icmp_type = 128 } },
	{ .name = "arp", .pkt = { .l3 = PKT_ARP, .src = SRC4, .dst = DST4 } },

	/* Never answered: an RST (RFC 9293: an RST never provokes an RST) */
	{ .name = "ipv4_rst", .pkt = { V4, TCP(RST) }, .seq = 1000 },
	{ .name = "ipv6_rst_ack", .pkt = { V6, TCP(RST | ACK) }, .seq = 1000, .ack = 5 },
	{ .name = "ipv4_syn_rst", .pkt = { V4, TCP(SYN | RST) }, .seq = 1000 },

	/* Never answered: cut short of what the headers say */
	{ .name = "ipv4_tcp_header_truncated",
	  .pkt = { V4, TCP(SYN), .l4_cut = 1, .l4_keep = 19 } },
	{ .name = "ipv6_tcp_header_truncated",
	  .pkt = { V6, TCP(SYN), .l4_cut = 1, .l4_keep = 12 } },
	{ .name = "ipv4_tcp_options_truncated",
	  .pkt = { V4, TCP(SYN), .tcp_doff = 10, .l4_cut = 1, .l4_keep = 39 } },
	{ .name = "ipv4_payload_truncated",
	  .pkt = { V4, TCP(SYN), .payload_len = 100, .l4_cut = 1, .l4_keep = 119 } },
	{ .name = "ipv6_payload_truncated",
	  .pkt = { V6, TCP(SYN), .payload_len = 100, .l4_cut = 1, .l4_keep = 21 } },
	{ .name = "ipv4_ip_length_short_of_tcp_options",
	  .pkt = { V4, TCP(SYN), .tcp_doff = 10 }, .ip_len_short = 20 },
	{ .name = "ipv6_ip_length_short_of_tcp_header", .pkt = { V6, TCP(SYN) },
	  .ip_len_short = 1 },
	{ .name = "ipv6_ext_ip_length_short_of_tcp_header",
	  .pkt = { V6, TCP(SYN), .ext = { PKT_HBH(0) } }, .ip_len_short = 19 },

	/* Never answered: fragments, whose segment length is unknown */
	{ .name = "ipv4_first_fragment_syn", .pkt = { V4, TCP(SYN), .more_fragments = 1 } },
	{ .name = "ipv4_later_fragment", .pkt = { V4, TCP(SYN), .frag_offset = 3 } },
	{ .name = "ipv6_first_fragment_syn", .pkt = { V6, TCP(SYN), .ext = { PKT_FRAG(0, 1) } } },
	{ .name = "ipv6_atomic_fragment_syn", .pkt = { V6, TCP(SYN), .ext = { PKT_FRAG(0, 0) } } },

	/* Never answered: to or from a group, or from no one */
	{ .name = "ipv4_syn_to_multicast",
	  .pkt = { .l3 = PKT_IPV4, .src = SRC4, .dst = "224.0.0.1", TCP(SYN) } },
	{ .name = "ipv4_syn_to_broadcast",
	  .pkt = { .l3 = PKT_IPV4, .src = SRC4, .dst = "255.255.255.255", TCP(SYN) } },
	{ .name = "ipv4_syn_from_multicast",
	  .pkt = { .l3 = PKT_IPV4, .src = "239.1.2.3", .dst = DST4, TCP(SYN) } },
	{ .name = "ipv4_syn_from_zero",
	  .pkt = { .l3 = PKT_IPV4, .src = "0.0.0.0", .dst = DST4, TCP(SYN) } },
	{ .name = "ipv6_syn_to_multicast",
	  .pkt = { .l3 = PKT_IPV6, .src = SRC6, .dst = "ff02::1", TCP(SYN) } },
	{ .name = "ipv6_syn_from_multicast",
	  .pkt = { .l3 = PKT_IPV6, .src = "ff0e::1", .dst = DST6, TCP(SYN) } },
};

static struct refuse_wrap_bpf *skel;
static const char *skip_reason;

static int group_setup(void **state)
{
	(void)state;
	libbpf_set_print(libbpf_print_tap);
	if (geteuid() != 0) {
		skip_reason = "loading BPF programs needs root";
		return 0;
	}
	skel = refuse_wrap_bpf__open_and_load();
	if (!skel) {
		print_message("# refuse_wrap_bpf__open_and_load: %s\n", strerror(errno));
		return -1;
	}
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	refuse_wrap_bpf__destroy(skel);
	skel = NULL;
	return 0;
}

/* ---- The frame as the test knows it --------------------------------------- */

static __u16 get16(const __u8 *p)
{
	return p[0] << 8 | p[1];
}

static __u32 get32(const __u8 *p)
{
	return (__u32)get16(p) << 16 | get16(p + 2);
}

/* Where the row's IP and TCP headers start, from its spec (as pkt_build() lays them out). */
static void spec_offsets(const struct pkt_spec *s, size_t *l3, size_t *l4)
{
	*l3 = ETH_HLEN;
	for (int i = 0; i < PKT_MAX_VLAN && s->vlan[i]; i++)
		*l3 += 4;
	if (s->l3 == PKT_IPV4) {
		*l4 = *l3 + (s->ihl > 5 ? s->ihl * 4u : 20);
		return;
	}
	*l4 = *l3 + 40;
	for (int i = 0; i < PKT_MAX_EXT && s->ext[i].present; i++) {
		const struct pkt_ext *e = &s->ext[i];

		*l4 += e->type == IPPROTO_FRAGMENT ? 8 : e->type == IPPROTO_AH ? (e->len + 2) * 4u
									 : (e->len + 1) * 8u;
	}
}

/*
 * The row's frame: pkt_build()'s, with the row's seq and ack, its IP length
 * shortened, and padding after it.
 */
static void build_frame(const struct refuse_case *c, struct pkt *pkt)
{
	size_t l3, l4;

	ASSERT_OK(pkt_build(&c->pkt, pkt), "build the frame");
	spec_offsets(&c->pkt, &l3, &l4);
	if (c->pkt.l4 == IPPROTO_TCP && l4 + 12 <= pkt->len) {
		put32(pkt->data + l4 + 4, c->seq);
		put32(pkt->data + l4 + 8, c->ack);
	}
	if (c->ip_len_short && c->pkt.l3 == PKT_IPV4) {
		__u8 *ip = pkt->data + l3;

		put16(ip + 2, get16(ip + 2) - c->ip_len_short);
		put16(ip + 10, 0);
		put16(ip + 10, ipv4_checksum(ip, (ip[0] & 0xf) * 4));
	} else if (c->ip_len_short) {
		put16(pkt->data + l3 + 4, get16(pkt->data + l3 + 4) - c->ip_len_short);
	}
	if (pkt->len + c->padding > PKT_MAX_LEN)
		fail_msg("padding makes the frame too long");
	memset(pkt->data + pkt->len, 0, c->padding);
	pkt->len += c->padding;
}

/* ---- Checksums, independent of the BPF code's ------------------------------ */

/* The one's complement sum of big-endian 16-bit words, not yet folded. */
static __u32 sum16(const __u8 *p, size_t len, __u32 sum)
{
	for (size_t i = 0; i + 1 < len; i += 2)
		sum += get16(p + i);
	if (len & 1)
		sum += p[len - 1] << 8;
	return sum;
}

static __u16 fold(__u32 sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return sum;
}

/* A header that carries a correct checksum sums to 0xffff, checksum included. */
static __u16 ipv4_header_sum(const __u8 *ip)
{
	return fold(sum16(ip, 20, 0));
}

static __u16 tcp_segment_sum(const __u8 *ip, int ipv6, const __u8 *tcp, size_t tcp_len)
{
	__u32 sum = 0;

	if (ipv6)
		sum = sum16(ip + 8, 32, sum);	/* source and destination */
	else
		sum = sum16(ip + 12, 8, sum);
	sum += IPPROTO_TCP + tcp_len;		/* the rest of the pseudo-header */
	return fold(sum16(tcp, tcp_len, sum));
}

/* ---- Running ----------------------------------------------------------- */

struct run {
	__u32 verdict;
	__u8 out[PKT_MAX_LEN];
	__u32 out_len;
};

static int refuse_run(const struct pkt *in, struct run *r)
{
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = in->data, .data_size_in = in->len,
		    .data_out = r->out, .data_size_out = sizeof(r->out), .repeat = 1);
	int err = bpf_prog_test_run_opts(bpf_program__fd(skel->progs.refuse_wrap), &opts);

	if (err)
		return err;
	r->verdict = opts.retval;
	r->out_len = opts.data_size_out;
	return 0;
}

/* Not answered: the wrapper passes the frame, exactly as it came. */
static void expect_unchanged(const struct pkt *in, const struct run *r, const char *what)
{
	EXPECT_VERDICT(r->verdict, XDP_PASS, "%s: verdict", what);
	EXPECT_EQ(r->out_len, in->len, "%s: frame length", what);
	if (r->out_len == in->len)
		EXPECT_MEM_EQ(r->out, in->data, in->len, "%s: frame", what);
}

/* Every field of the RST that answers `in`, the row's frame. */
static void expect_rst(const struct refuse_case *c, const struct pkt *in, const struct run *r)
{
	int ipv6 = c->pkt.l3 == PKT_IPV6;
	size_t l3, l4, ip_len = ipv6 ? 40 : 20;
	const __u8 *ip, *in_ip, *tcp, *in_tcp;

	spec_offsets(&c->pkt, &l3, &l4);
	EXPECT_VERDICT(r->verdict, XDP_TX, "verdict");
	EXPECT_EQ(skel->bss->refuse_result, XDP_TX, "refuse_with_rst() result");
	EXPECT_EQ(r->out_len, l3 + ip_len + 20, "frame length: L2, a bare IP header and TCP");
	if (r->out_len != l3 + ip_len + 20)
		return;
	ip = r->out + l3;
	in_ip = in->data + l3;
	tcp = ip + ip_len;
	in_tcp = in->data + l4;

	EXPECT_MEM_EQ(r->out, in->data + 6, 6, "destination MAC: the source's");
	EXPECT_MEM_EQ(r->out + 6, in->data, 6, "source MAC: the destination's");
	EXPECT_MEM_EQ(r->out + 12, in->data + 12, l3 - 12, "VLAN tags and EtherType kept");

	if (ipv6) {
		EXPECT_EQ(get32(ip), 0x60000000, "version 6, traffic class 0, flow label 0");
		EXPECT_EQ(get16(ip + 4), 20, "payload length: the TCP header");
		EXPECT_EQ(ip[6], IPPROTO_TCP, "next header: TCP, no extension headers");
		EXPECT_EQ(ip[7], WANT_TTL, "hop limit");
		EXPECT_MEM_EQ(ip + 8, in_ip + 24, 16, "source: the destination's");
		EXPECT_MEM_EQ(ip + 24, in_ip + 8, 16, "destination: the source's");
	} else {
		EXPECT_EQ(ip[0], 0x45, "version 4, IHL 5: no options");
		EXPECT_EQ(ip[1], 0, "TOS");
		EXPECT_EQ(get16(ip + 2), 40, "total length");
		EXPECT_EQ(get16(ip + 4), 0, "identification");
		EXPECT_EQ(get16(ip + 6), WANT_IPV4_DF, "flags DF, fragment offset 0");
		EXPECT_EQ(ip[8], WANT_TTL, "TTL");
		EXPECT_EQ(ip[9], IPPROTO_TCP, "protocol");
		EXPECT_EQ(ipv4_header_sum(ip), 0xffff, "IPv4 header checksum verifies (%#06x)",
			  get16(ip + 10));
		EXPECT_MEM_EQ(ip + 12, in_ip + 16, 4, "source: the destination's");
		EXPECT_MEM_EQ(ip + 16, in_ip + 12, 4, "destination: the source's");
	}

	EXPECT_EQ(get16(tcp), get16(in_tcp + 2), "source port: the destination's");
	EXPECT_EQ(get16(tcp + 2), get16(in_tcp), "destination port: the source's");
	EXPECT_EQ(get16(tcp), DPORT, "source port");
	EXPECT_EQ(get16(tcp + 2), SPORT, "destination port");
	EXPECT_EQ(get32(tcp + 4), c->want_seq, "sequence number");
	EXPECT_EQ(get32(tcp + 8), c->want_ack, "acknowledgment number");
	EXPECT_EQ(tcp[12], 5 << 4, "data offset 5, reserved bits 0: no options");
	EXPECT_EQ(tcp[13], c->want_flags, "flags");
	EXPECT_EQ(get16(tcp + 14), 0, "window");
	EXPECT_EQ(get16(tcp + 18), 0, "urgent pointer");
	EXPECT_EQ(tcp_segment_sum(ip, ipv6, tcp, 20), 0xffff,
		  "TCP checksum verifies over the pseudo-header (%#06x)", get16(tcp + 16));
}

static void refuse_case_test(void **state)
{
	const struct refuse_case *c = *state;
	static struct run r, again;
	struct pkt in, rst;

	if (skip_reason)
		SKIP_BECAUSE("%s", skip_reason);
	build_frame(c, &in);
	ASSERT_OK(refuse_run(&in, &r), "test run");
	if (c->answered) {
		expect_rst(c, &in, &r);
		/* The RST is well-formed TCP to the parser, and an RST is never answered. */
		memcpy(rst.data, r.out, r.out_len);
		rst.len = r.out_len;
		ASSERT_OK(refuse_run(&rst, &again), "test run of the RST");
		EXPECT_EQ(skel->bss->parsed, 1, "the RST parses");
		EXPECT_EQ((__u32)skel->bss->refuse_result, (__u32)-1, "the RST is not answered");
		expect_unchanged(&rst, &again, "the RST run again");
	} else {
		/* Frames that parse must have met refuse_with_rst() and been declined. */
		if (skel->bss->parsed)
			EXPECT_EQ((__u32)skel->bss->refuse_result, (__u32)-1,
				  "refuse_with_rst() result");
		expect_unchanged(&in, &r, "not answered");
	}
	CHECKS_DONE();
}

/* Every cut of an answered frame short of its IP length: no answer, no change. */
static void truncated_answered_frames(void **state)
{
	static struct run r;
	unsigned long runs = 0;
	struct pkt in, cut;
	char what[128];

	(void)state;
	if (skip_reason)
		SKIP_BECAUSE("%s", skip_reason);
	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		if (!cases[i].answered)
			continue;
		build_frame(&cases[i], &in);
		for (__u32 len = ETH_HLEN; len < in.len - cases[i].padding; len++) {
			memcpy(cut.data, in.data, len);
			cut.len = len;
			snprintf(what, sizeof(what), "%s cut to %u bytes", cases[i].name, len);
			ASSERT_OK(refuse_run(&cut, &r), "test run of %s", what);
			expect_unchanged(&cut, &r, what);
			runs++;
		}
	}
	print_message("# %lu truncated frames, none answered\n", runs);
	CHECKS_DONE();
}

int main(void)
{
	const struct CMUnitTest truncated_tests[] = {
		cmocka_unit_test_setup(truncated_answered_frames, checks_reset),
	};
	size_t n = ARRAY_LEN(cases);
	struct CMUnitTest *tests = calloc(n, sizeof(*tests));
	int failed = 1;

	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!tests)
		return 1;
	for (size_t i = 0; i < n; i++)
		tests[i] = (struct CMUnitTest){ .name = cases[i].name, .test_func = refuse_case_test,
						.setup_func = checks_reset,
						.initial_state = (void *)&cases[i] };
	failed = _cmocka_run_group_tests("refuse", tests, n, group_setup, group_teardown);
	failed += cmocka_run_group_tests_name("truncated", truncated_tests, group_setup,
					      group_teardown);
	free(tests);
	return failed ? 1 : 0;
}
