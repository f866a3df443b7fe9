// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Packet tests of the XDP program, in the style of the kernel's
 * prog_tests/xdp.c. One table of frames drives three groups:
 *  - "xdp": each row sets source-level rules (as `sluice limit set` does)
 *    and lists, sends its frame one or more times through sluice_xdp, and
 *    checks the last verdict, every outcome counter's packet and byte
 *    deltas, the rules' counters, the source's bucket and list hits;
 *  - "parser": each row's frame through parse_probe.bpf.c, which runs only
 *    bpf/parse.bpf.h, checking every field the parser reports;
 *  - "fuzz": seeded random frames, and every truncation of every row's
 *    frame, under rules of every level: the verdict is always PASS or DROP,
 *    exactly one outcome counts each frame, and the parser's output is
 *    self-consistent.
 */
#define _GNU_SOURCE	/* asprintf */
#include "packets.h"
#include "testing.h"
#include "parse_probe.h"
#include "parse_probe.skel.h"

#define SRC4 "198.18.0.1"
#define DST4 "198.19.0.2"
#define SRC6 "2001:db8::1"
/* An IPv6 source that spells SRC4: Sluice must not take it for SRC4. */
#define SRC6_MAPPED "::ffff:198.18.0.1"
#define DST6 "2001:db8::2"

/* The fake clock every row starts at: far from zero, nothing special. */
#define T0_NS (1000ULL * 1000000000ULL)

/* The default limit of most rows: the third packet at one instant is dropped. */
#define DEFAULT_RATE 1000
#define DEFAULT_BURST 2

#define PRESET_RULES 4

struct preset {
	const char *rules[PRESET_RULES];	/* `limit set` arguments, in order; ends at NULL */
	const char *allow[2];
	const char *deny[2];
	int empty_bucket;		/* the source's bucket starts empty under rules[0] */
};

struct delta {
	enum sluice_outcome outcome;
	__u32 packets;			/* 0 ends the list */
};

enum bucket_state { BUCKET_UNCHECKED, BUCKET_ABSENT, BUCKET_PRESENT };

/*
 * The bucket of the row's source under the source-level rule that the
 * source_rules trie gives it; absent means the table holds no bucket at all.
 */
struct bucket_expect {
	enum bucket_state state;
	__u64 passed;
	__u64 dropped;
	__u64 debt_ps;			/* if nonzero: full_at - now after the last packet */
};

struct parse_expect {
	__u32 result;			/* enum probe_parse_result */
	__u8 family;			/* enum sluice_family of the source */
	__u8 l4;
	__u8 flags;			/* enum probe_flags, exactly */
	__u16 sport;
	__u16 dport;
	__u8 tcp_flags;
	__u8 icmp_type;
	__u8 vlan_tags;
};

struct xdp_case {
	const char *name;
	struct pkt_spec pkt;
	struct preset preset;
	__u32 verdict;			/* of the last packet */
	struct delta deltas[3];		/* the frame is sent as many times as these add up to */
	struct bucket_expect bucket;	/* of pkt.src */
	__u64 deny_hits;		/* of preset.deny[0], if any */
	__u64 allow_hits;		/* of preset.allow[0], if any */
	struct parse_expect parse;
};

/* Frames */
#define V4(s) .l3 = PKT_IPV4, .src = (s), .dst = DST4
#define V6(s) .l3 = PKT_IPV6, .src = (s), .dst = DST6
#define UDP .l4 = IPPROTO_UDP, .sport = 40000, .dport = 53
#define TCP .l4 = IPPROTO_TCP, .sport = 40001, .dport = 443, .tcp_flags = 0x02
#define ICMP_ECHO .l4 = IPPROTO_ICMP, .icmp_type = 8
#define ICMP6(type) .l4 = IPPROTO_ICMPV6, .icmp_type = (type)

/* What the parser must say about them */
#define P4 .result = PROBE_PARSE_OK, .family = SLUICE_FAMILY_IPV4
#define P6 .result = PROBE_PARSE_OK, .family = SLUICE_FAMILY_IPV6
#define P_UDP .l4 = IPPROTO_UDP, .sport = 40000, .dport = 53
#define P_TCP .l4 = IPPROTO_TCP, .sport = 40001, .dport = 443, .tcp_flags = 0x02
#define P_MALFORMED .result = PROBE_PARSE_MALFORMED
#define P_NOT_IP .result = PROBE_PARSE_NOT_IP
#define F_FRAG PROBE_FRAGMENT
#define F_LATER PROBE_LATER_FRAGMENT
#define F_PORTS PROBE_HAS_PORTS
#define F_TRUNC PROBE_L4_TRUNCATED

/* Map state: rules as `sluice limit set` takes them */
#define STR(x) #x
#define XSTR(x) STR(x)
#define LIMIT(p, r, b) p " --rate " XSTR(r) " --burst " XSTR(b)
#define UNLIMITED(p) p " --rate unlimited"
#define DEFAULT_LIMIT LIMIT("default", DEFAULT_RATE, DEFAULT_BURST)
#define LIMITED { .rules = { DEFAULT_LIMIT } }
#define LIMITED_EMPTY { .rules = { DEFAULT_LIMIT }, .empty_bucket = 1 }
/* The default inside a /16 inside a /24 inside a /32, each more generous. */
#define OVERRIDES_V4                                                                    \
	{ .rules = { LIMIT("default", 10, 1), LIMIT("198.18.0.0/16", 100, 5),           \
		     LIMIT("198.18.1.0/24", 1000, 50), UNLIMITED("198.18.1.7/32") } }
#define OVERRIDES_V6                                                                    \
	{ .rules = { LIMIT("default", 10, 1), LIMIT("2001:db8:1::/48", 1000, 4),         \
		     UNLIMITED("2001:db8:1:2::/64") } }
/* Each family's /0 inside the default, which covers both. */
#define FAMILY_DEFAULTS                                                                 \
	{ .rules = { LIMIT("default", 10, 1), LIMIT("0.0.0.0/0", 100, 5),               \
		     LIMIT("::/0", 1000, 4) } }
/* An IPv4 override, and one for the IPv6 sources that spell an IPv4 address. */
#define OVERRIDES_V4_MAPPED                                                             \
	{ .rules = { LIMIT("default", 10, 1), LIMIT("198.18.0.0/24", 1000, 50),         \
		     LIMIT("::ffff:0:0/96", 1000, 4) } }

/* Expectations */
#define ONE(o) { { (o), 1 } }
#define OVER_BY_ONE { { SLUICE_PASSED, DEFAULT_BURST }, { SLUICE_DROPPED_RATE, 1 } }
#define BUCKET(p, d) { .state = BUCKET_PRESENT, .passed = (p), .dropped = (d) }
#define NO_BUCKET { .state = BUCKET_ABSENT }

#define IPV4_OPTIONS_ROW(n)                                                             \
	{ .name = "ipv4_udp_ihl_" #n "_within_limit", .pkt = { V4(SRC4), UDP, .ihl = n },  \
	  .preset = LIMITED, .verdict = XDP_PASS, .deltas = ONE(SLUICE_PASSED),          \
	  .bucket = BUCKET(1, 0), .parse = { P4, P_UDP, .flags = F_PORTS } }

/* Nine extension headers: one more than the parser walks. */
#define NINE_EXT                                                                        \
	PKT_HBH(0), PKT_DST(0), PKT_DST(0), PKT_DST(0), PKT_DST(0), PKT_DST(0), PKT_DST(0), \
		PKT_DST(0), PKT_DST(0)

static const struct xdp_case cases[] = {
	/* IPv4 under a default limit */
	{ .name = "ipv4_udp_within_limit", .pkt = { V4(SRC4), UDP }, .preset = LIMITED,
	  .verdict = XDP_PASS, .deltas = ONE(SLUICE_PASSED), .bucket = BUCKET(1, 0),
	  .parse = { P4, P_UDP, .flags = F_PORTS } },
	{ .name = "ipv4_tcp_within_limit", .pkt = { V4(SRC4), TCP }, .preset = LIMITED,
	  .verdict = XDP_PASS, .deltas = ONE(SLUICE_PASSED), .bucket = BUCKET(1, 0),
	  .parse = { P4, P_TCP, .flags = F_PORTS } },
	{ .name = "ipv4_icmp_within_limit", .pkt = { V4(SRC4), ICMP_ECHO }, .preset = LIMITED,
	  .verdict = XDP_PASS, .deltas = ONE(SLUICE_PASSED), .bucket = BUCKET(1, 0),
	  .parse = { P4, .l4 = IPPROTO_ICMP, .icmp_type = 8 } },
	{ .name = "ipv4_udp_over_limit", .pkt = { V4(SRC4), UDP }, .preset = LIMITED,
	  .verdict = XDP_DROP, .deltas = OVER_BY_ONE, .bucket = BUCKET(2, 1),
	  .parse = { P4, P_UDP, .flags = F_PORTS } },
	{ .name = "ipv4_tcp_over_limit", .pkt = { V4(SRC4), TCP }, .preset = LIMITED,
	  .verdict = XDP_DROP, .deltas = OVER_BY_ONE, .bucket = BUCKET(2, 1),
	  .parse = { P4, P_TCP, .flags = F_PORTS } },
	{ .name = "ipv4_icmp_empty_bucket", .pkt = { V4(SRC4), ICMP_ECHO },
	  .preset = LIMITED_EMPTY, .verdict = XDP_DROP, .deltas = ONE(SLUICE_DROPPED_RATE),
	  .bucket = BUCKET(0, 1), .parse = { P4, .l4 = IPPROTO_ICMP, .icmp_type = 8 } },
	{ .name = "ipv4_icmp_type_133_ttl_255_is_limited",
	  .pkt = { V4(SRC4), .l4 = IPPROTO_ICMP, .icmp_type = 133, .ttl = 255 },
	  .preset = LIMITED_EMPTY, .verdict = XDP_DROP, .deltas = ONE(SLUICE_DROPPED_RATE),
	  .bucket = BUCKET(0, 1), .parse = { P4, .l4 = IPPROTO_ICMP, .icmp_type = 133 } },

	/* IPv4 options: every IHL from 6 to 15 */
	IPV4_OPTIONS_ROW(6), IPV4_OPTIONS_ROW(7), IPV4_OPTIONS_ROW(8), IPV4_OPTIONS_ROW(9),
	IPV4_OPTIONS_ROW(10), IPV4_OPTIONS_ROW(11), IPV4_OPTIONS_ROW(12), IPV4_OPTIONS_ROW(13),
	IPV4_OPTIONS_ROW(14), IPV4_OPTIONS_ROW(15),
	{ .name = "ipv4_tcp_ihl_15_empty_bucket", .pkt = { V4(SRC4), TCP, .ihl = 15 },
	  .preset = LIMITED_EMPTY, .verdict = XDP_DROP, .deltas = ONE(SLUICE_DROPPED_RATE),
	  .bucket = BUCKET(0, 1), .parse = { P4, P_TCP, .flags = F_PORTS } },

	/* Broken IPv4 headers fail open, limit nothing and create no bucket */
	{ .name = "ipv4_ihl_4_malformed", .pkt = { V4(SRC4), UDP, .ihl = 4 },
	  .preset = LIMITED, .verdict = XDP_PASS, .deltas = ONE(SLUICE_PASSED_MALFORMED),
	  .bucket = NO_BUCKET, .parse = { P_MALFORMED } },
	{ .name = "ipv4_ihl_1_malformed_even_with_empty_bucket",
	  .pkt = { V4(SRC4), UDP, .ihl = 1 }, .preset = LIMITED_EMPTY,
	  .verdict = XDP_PASS, .deltas = ONE(SLUICE_PASSED_MALFORMED), .bucket = BUCKET(0, 0),
	  .parse = { P_MALFORMED } },
	{ .name = "ipv4_version_6_in_ipv4_ethertype", .pkt = { V4(SRC4), UDP, .version = 6 },
	  .preset = LIMITED, .verdict = XDP_PASS, .deltas = ONE(SLUICE_PASSED_MALFORMED),
	  .bucket = NO_BUCKET, .parse = { P_MALFORMED } },
	{ .name = "ipv4_header_truncated", .pkt = { V4(SRC4), UDP, .cut = ETH_HLEN + 19 },
	  .preset = LIMITED, .verdict = XDP_PASS, .deltas = ONE(SLUICE_PASSED_MALFORMED),
	  .bucket = NO_BUCKET, .parse = { P_MALFORMED } },
	{ .name = "ipv4_options_truncated",
	  .pkt = { V4(SRC4), UDP, .ihl = 15, .cut = ETH_HLEN + 59 }, .preset = LIMITED_EMPTY,
	  .verdict = XDP_PASS, .deltas = ONE(SLUICE_PASSED_MALFORMED), .bucket = BUCKET(0, 0),
	  .parse = { P_MALFORMED } },

	/* A truncated L4 header still has a known source, so it is limited */
	{ .name = "ipv4_udp_truncated_within_limit",
	  .pkt = { V4(SRC4), UDP, .l4_cut = 1, .l4_keep = 4 }, .preset = LIMITED,
	  .verdict = XDP_PASS, .deltas = ONE(SLUICE_PASSED), .bucket = BUCKET(1, 0),
	  .parse = { P4, .l4 = IPPROTO_UDP, .flags = F_TRUNC } },
	{ .name = "ipv4_udp_truncated_over_limit",
	  .pkt = { V4(SRC4), UDP, .l4_cut = 1, .l4_keep = 4 }, .preset = LIMITED,
	  .verdict = XDP_DROP, .deltas = OVER_BY_ONE, .bucket = BUCKET(2, 1),
	  .parse = { P4, .l4 = IPPROTO_UDP, .flags = F_TRUNC } },
	{ .name = "ipv4_udp_header_absent_empty_bucket",
	  .pkt = { V4(SRC4), UDP, .l4_cut = 1, .l4_keep = 0 }, .preset = LIMITED_EMPTY,
	  .verdict = XDP_DROP, .deltas = ONE(SLUICE_DROPPED_RATE), .bucket = BUCKET(0, 1),
	  .parse = { P4, .l4 = IPPROTO_UDP, .flags = F_TRUNC } },
	{ .name = "ipv4_tcp_truncated_empty_bucket",
	  .pkt = { V4(SRC4), TCP, .l4_cut = 1, .l4_keep = 19 }, .preset = LIMITED_EMPTY,
	  .verdict = XDP_DROP, .deltas = ONE(SLUICE_DROPPED_RATE), .bucket = BUCKET(0, 1),
	  .parse = { P4, .l4 = IPPROTO_TCP, .flags = F_TRUNC } },
	{ .name = "ipv4_tcp_doff_4_empty_bucket", .pkt = { V4(SRC4), TCP, .tcp_doff = 4 },
	  .preset = LIMITED_EMPTY, .verdict = XDP_DROP, .deltas = ONE(SLUICE_DROPPED_RATE),
	  .bucket = BUCKET(0, 1), .parse = { P4, .l4 = IPPROTO_TCP, .flags = F_TRUNC } },
	{ .name = "ipv4_icmp_one_byte_empty_bucket",
	  .pkt = { V4(SRC4), ICMP_ECHO, .l4_cut = 1, .l4_keep = 1 }, .preset = LIMITED_EMPTY,
	  .verdict = XDP_DROP, .deltas = ONE(SLUICE_DROPPED_RATE), .bucket = BUCKET(0, 1),
	  .parse = { P4, .l4 = IPPROTO_ICMP, .flags = F_TRUNC } },
	{ .name = "ipv4_icmp_type_and_code_only",
	  .pkt = { V4(SRC4), ICMP_ECHO, .l4_cut = 1, .l4_keep = 2 }, .preset = LIMITED,
	  .verdict = XDP_PASS, .deltas = ONE(SLUICE_PASSED), .bucket = BUCKET(1, 0),
	  .parse = { P4, .l4 = IPPROTO_ICMP, .icmp_type = 8 } },

	/* IPv4 fragments: limited by source, ports only in the first */
	{ .name = "ipv4_first_fragment_within_limit",
	  .pkt = { V4(SRC4), UDP, .more_fragments = 1, .payload_len = 32 }, .preset = LIMITED,
	  .verdict = XDP_PASS, .deltas = ONE(SLUICE_PASSED), .bucket = BUCKET(1, 0),
	  .parse = { P4, P_UDP, .flags = F_FRAG | F_PORTS } },
	{ .name = "ipv4_first_fragment_over_limit",
	  .pkt = { V4(SRC4), UDP, .more_fragments = 1, .payload_len = 32 }, .preset = LIMITED,
	  .verdict = XDP_DROP, .deltas = OVER_BY_ONE, .bucket = BUCKET(2, 1),
	  .parse = { P4, P_UDP, .flags = F_FRAG | F_PORTS } },
	{ .name = "ipv4_later_fragment_within_limit",
	  .pkt = { V4(SRC4), UDP, .frag_offset = 185, .more_fragments = 1, .payload_len = 32 },
	  .preset = LIMITED, .verdict = XDP_PASS, .deltas = ONE(SLUICE_PASSED),
	  .bucket = BUCKET(1, 0), .parse = { P4, .l4 = IPPROTO_UDP, .flags = F_FRAG | F_LATER } },
	{ .name = "ipv4_later_fragment_over_limit",
	  .pkt = { V4(SRC4), UDP, .frag_offset = 185, .more_fragments = 1, .payload_len = 32 },
	  .preset = LIMITED, .verdict = XDP_DROP, .deltas = OVER_BY_ONE, .bucket = BUCKET(2, 1),
	  .parse = { P4, .l4 = IPPROTO_UDP, .flags = F_FRAG | F_LATER } },
	{ .name = "ipv4_last_fragment_empty_bucket",
	  .pkt = { V4(SRC4), TCP, .frag_offset = 370, .payload_len = 16 },
	  .preset = LIMITED_EMPTY, .verdict = XDP_DROP, .deltas = ONE(SLUICE_DROPPED_RATE),
	  .bucket = BUCKET(0, 1), .parse = { P4, .l4 = IPPROTO_TCP, .flags = F_FRAG | F_LATER } },
	{ .name = "ipv4_dont_fragment_is_not_a_fragment",
	  .pkt = { V4(SRC4), TCP, .dont_fragment = 1 }, .preset = LIMITED,
	  .verdict = XDP_PASS, .deltas = ONE(SLUICE_PASSED), .bucket = BUCKET(1, 0),
	  .parse = { P4, P_TCP, .flags = F_PORTS } },

	/* IPv6 and its extension headers */
	{ .name = "ipv6_udp_within_limit", .pkt = { V6(SRC6), UDP }, .preset = LIMITED,
	  .verdict = XDP_PASS, .deltas = ONE(SLUICE_PASSED), .bucket = BUCKET(1, 0),
	  .parse = { P6, P_UDP, .flags = F_PORTS } },
	{ .name = "ipv6_tcp_over_limit", .pkt = { V6(SRC6), TCP }, .preset = LIMITED,
	  .verdict = XDP_DROP, .deltas = OVER_BY_ONE, .bucket = BUCKET(2, 1),
	  .parse = { P6, P_TCP, .flags = F_PORTS } },
	{ .name = "ipv6_icmpv6_echo_over_limit", .pkt = { V6(SRC6), ICMP6(128) },
	  .preset = LIMITED, .verdict = XDP_DROP, .deltas = OVER_BY_ONE, .bucket = BUCKET(2, 1),
	  .parse = { P6, .l4 = IPPROTO_ICMPV6, .icmp_type = 128 } },
	{ .name = "ipv6_hbh_rt_dst_first_fragment_within_limit",
	  .pkt = { V6(SRC6), UDP, .payload_len = 16,
		   .ext = { PKT_HBH(0), PKT_RT(2), PKT_DST(1), PKT_FRAG(0, 1) } },
	  .preset = LIMITED, .verdict = XDP_PASS, .deltas = ONE(SLUICE_PASSED),
	  .bucket = BUCKET(1, 0), .parse = { P6, P_UDP, .flags = F_FRAG | F_PORTS } },
	{ .name = "ipv6_hbh_rt_dst_first_fragment_over_limit",
	  .pkt = { V6(SRC6), UDP, .payload_len = 16,
		   .ext = { PKT_HBH(0), PKT_RT(2), PKT_DST(1), PKT_FRAG(0, 1) } },
	  .preset = LIMITED, .verdict = XDP_DROP, .deltas = OVER_BY_ONE, .bucket = BUCKET(2, 1),
	  .parse = { P6, P_UDP, .flags = F_FRAG | F_PORTS } },
	{ .name = "ipv6_hbh_dst_later_fragment_within_limit",
	  .pkt = { V6(SRC6), UDP, .payload_len = 32,
		   .ext = { PKT_HBH(0), PKT_DST(0), PKT_FRAG(100, 1) } },
	  .preset = LIMITED, .verdict = XDP_PASS, .deltas = ONE(SLUICE_PASSED),
	  .bucket = BUCKET(1, 0), .parse = { P6, .l4 = IPPROTO_UDP, .flags = F_FRAG | F_LATER } },
	{ .name = "ipv6_hbh_dst_later_fragment_over_limit",
	  .pkt = { V6(SRC6), UDP, .payload_len = 32,
		   .ext = { PKT_HBH(0), PKT_DST(0), PKT_FRAG(100, 1) } },
	  .preset = LIMITED, .verdict = XDP_DROP, .deltas = OVER_BY_ONE, .bucket = BUCKET(2, 1),
	  .parse = { P6, .l4 = IPPROTO_UDP, .flags = F_FRAG | F_LATER } },
	{ .name = "ipv6_first_fragment_then_dst_opts_tcp",
	  .pkt = { V6(SRC6), TCP, .ext = { PKT_FRAG(0, 1), PKT_DST(1) } },
	  .preset = LIMITED, .verdict = XDP_PASS, .deltas = ONE(SLUICE_PASSED),
	  .bucket = BUCKET(1, 0), .parse = { P6, P_TCP, .flags = F_FRAG | F_PORTS } },
	/*
	 * RFC 8200 4.5: a Destination Options header may sit in the fragmentable
	 * part, so every fragment's Fragment header may say Next Header 60. In a
	 * later fragment what follows is payload, not a header.
	 */
	{ .name = "ipv6_later_fragment_next_header_dst_opts_over_limit",
	  .pkt = { V6(SRC6), .l4 = IPPROTO_DSTOPTS, .payload_len = 64, .payload_fill = 0xff,
		   .ext = { PKT_FRAG(100, 1) } },
	  .preset = LIMITED_EMPTY, .verdict = XDP_DROP, .deltas = ONE(SLUICE_DROPPED_RATE),
	  .bucket = BUCKET(0, 1),
	  .parse = { P6, .l4 = IPPROTO_DSTOPTS, .flags = F_FRAG | F_LATER } },
	{ .name = "ipv6_hbh_ah_tcp_within_limit",
	  .pkt = { V6(SRC6), TCP, .ext = { PKT_HBH(0), PKT_AH(4) } }, .preset = LIMITED,
	  .verdict = XDP_PASS, .deltas = ONE(SLUICE_PASSED), .bucket = BUCKET(1, 0),
	  .parse = { P6, P_TCP, .flags = F_PORTS } },
	{ .name = "ipv6_eight_ext_headers_udp",
	  .pkt = { V6(SRC6), UDP,
		   .ext = { PKT_HBH(0), PKT_DST(0), PKT_RT(0), PKT_DST(0), PKT_DST(1), PKT_DST(0),
			    PKT_AH(1), PKT_DST(0) } },
	  .preset = LIMITED, .verdict = XDP_PASS, .deltas = ONE(SLUICE_PASSED),
	  .bucket = BUCKET(1, 0), .parse = { P6, P_UDP, .flags = F_PORTS } },
	{ .name = "ipv6_nine_ext_headers_within_limit",
	  .pkt = { V6(SRC6), UDP, .ext = { NINE_EXT } }, .preset = LIMITED,
	  .verdict = XDP_PASS, .deltas = ONE(SLUICE_PASSED), .bucket = BUCKET(1, 0),
	  .parse = { P6, .l4 = IPPROTO_DSTOPTS, .flags = F_TRUNC } },
	{ .name = "ipv6_nine_ext_headers_over_limit",
	  .pkt = { V6(SRC6), UDP, .ext = { NINE_EXT } }, .preset = LIMITED,
	  .verdict = XDP_DROP, .deltas = OVER_BY_ONE, .bucket = BUCKET(2, 1),
	  .parse = { P6, .l4 = IPPROTO_DSTOPTS, .flags = F_TRUNC } },
	{ .name = "ipv6_twenty_ext_headers_empty_bucket",
	  .pkt = { V6(SRC6), TCP,
		   .ext = { NINE_EXT, PKT_FRAG(0, 1), PKT_RT(0), PKT_DST(0), PKT_DST(0),
			    PKT_DST(0), PKT_DST(0), PKT_DST(0), PKT_DST(0), PKT_DST(0),
			    PKT_DST(0), PKT_DST(0) } },
	  .preset = LIMITED_EMPTY, .verdict = XDP_DROP, .deltas = ONE(SLUICE_DROPPED_RATE),
	  .bucket = BUCKET(0, 1), .parse = { P6, .l4 = IPPROTO_DSTOPTS, .flags = F_TRUNC } },
	{ .name = "ipv6_routing_header_truncated",
	  .pkt = { V6(SRC6), UDP, .ext = { PKT_HBH(0), PKT_RT(4) }, .cut = ETH_HLEN + 40 + 8 + 20 },
	  .preset = LIMITED_EMPTY, .verdict = XDP_PASS, .deltas = ONE(SLUICE_PASSED_MALFORMED),
	  .bucket = BUCKET(0, 0), .parse = { P_MALFORMED } },
	{ .name = "ipv6_hbh_cut_after_one_byte",
	  .pkt = { V6(SRC6), UDP, .ext = { PKT_HBH(0) }, .cut = ETH_HLEN + 40 + 1 },
	  .preset = LIMITED, .verdict = XDP_PASS, .deltas = ONE(SLUICE_PASSED_MALFORMED),
	  .bucket = NO_BUCKET, .parse = { P_MALFORMED } },
	{ .name = "ipv6_fragment_header_truncated",
	  .pkt = { V6(SRC6), UDP, .ext = { PKT_FRAG(0, 1) }, .cut = ETH_HLEN + 40 + 7 },
	  .preset = LIMITED, .verdict = XDP_PASS, .deltas = ONE(SLUICE_PASSED_MALFORMED),
	  .bucket = NO_BUCKET, .parse = { P_MALFORMED } },
	{ .name = "ipv6_ah_truncated",
	  .pkt = { V6(SRC6), TCP, .ext = { PKT_AH(4) }, .cut = ETH_HLEN + 40 + 20 },
	  .preset = LIMITED, .verdict = XDP_PASS, .deltas = ONE(SLUICE_PASSED_MALFORMED),
	  .bucket = NO_BUCKET, .parse = { P_MALFORMED } },
	{ .name = "ipv6_header_truncated", .pkt = { V6(SRC6), UDP, .cut = ETH_HLEN + 39 },
	  .preset = LIMITED, .verdict = XDP_PASS, .deltas = ONE(SLUICE_PASSED_MALFORMED),
	  .bucket = NO_BUCKET, .parse = { P_MALFORMED } },
	{ .name = "ipv6_version_4_in_ipv6_ethertype", .pkt = { V6(SRC6), UDP, .version = 4 },
	  .preset = LIMITED, .verdict = XDP_PASS, .deltas = ONE(SLUICE_PASSED_MALFORMED),
	  .bucket = NO_BUCKET, .parse = { P_MALFORMED } },
	{ .name = "ipv6_udp_truncated_empty_bucket",
	  .pkt = { V6(SRC6), UDP, .ext = { PKT_DST(0) }, .l4_cut = 1, .l4_keep = 6 },
	  .preset = LIMITED_EMPTY, .verdict = XDP_DROP, .deltas = ONE(SLUICE_DROPPED_RATE),
	  .bucket = BUCKET(0, 1), .parse = { P6, .l4 = IPPROTO_UDP, .flags = F_TRUNC } },

	/* VLAN tags */
	{ .name = "vlan_8021q_ipv4_udp_within_limit",
	  .pkt = { V4(SRC4), UDP, .vlan = { ETH_P_8021Q } }, .preset = LIMITED,
	  .verdict = XDP_PASS, .deltas = ONE(SLUICE_PASSED), .bucket = BUCKET(1, 0),
	  .parse = { P4, P_UDP, .flags = F_PORTS, .vlan_tags = 1 } },
	{ .name = "vlan_8021q_ipv4_udp_over_limit",
	  .pkt = { V4(SRC4), UDP, .vlan = { ETH_P_8021Q } }, .preset = LIMITED,
	  .verdict = XDP_DROP, .deltas = OVER_BY_ONE, .bucket = BUCKET(2, 1),
	  .parse = { P4, P_UDP, .flags = F_PORTS, .vlan_tags = 1 } },
	{ .name = "qinq_8021ad_8021q_ipv4_tcp_within_limit",
	  .pkt = { V4(SRC4), TCP, .vlan = { ETH_P_8021AD, ETH_P_8021Q } }, .preset = LIMITED,
	  .verdict = XDP_PASS, .deltas = ONE(SLUICE_PASSED), .bucket = BUCKET(1, 0),
	  .parse = { P4, P_TCP, .flags = F_PORTS, .vlan_tags = 2 } },
	{ .name = "qinq_8021ad_8021q_ipv6_udp_over_limit",
	  .pkt = { V6(SRC6), UDP, .vlan = { ETH_P_8021AD, ETH_P_8021Q } }, .preset = LIMITED,
	  .verdict = XDP_DROP, .deltas = OVER_BY_ONE, .bucket = BUCKET(2, 1),
	  .parse = { P6, P_UDP, .flags = F_PORTS, .vlan_tags = 2 } },
	{ .name = "vlan_three_tags_not_ip_even_with_empty_bucket",
	  .pkt = { V4(SRC4), UDP, .vlan = { ETH_P_8021AD, ETH_P_8021Q, ETH_P_8021Q } },
	  .preset = LIMITED_EMPTY, .verdict = XDP_PASS, .deltas = ONE(SLUICE_PASSED_NOT_IP),
	  .bucket = BUCKET(0, 0), .parse = { P_NOT_IP, .vlan_tags = 2 } },
	{ .name = "vlan_8021q_arp", .pkt = { .l3 = PKT_ARP, .src = SRC4, .dst = DST4,
					     .vlan = { ETH_P_8021Q } },
	  .preset = LIMITED, .verdict = XDP_PASS, .deltas = ONE(SLUICE_PASSED_NOT_IP),
	  .bucket = NO_BUCKET, .parse = { P_NOT_IP, .vlan_tags = 1 } },
	{ .name = "vlan_tag_truncated", .pkt = { V4(SRC4), UDP, .vlan = { ETH_P_8021Q },
						 .cut = ETH_HLEN + 2 },
	  .preset = LIMITED, .verdict = XDP_PASS, .deltas = ONE(SLUICE_PASSED_MALFORMED),
	  .bucket = NO_BUCKET, .parse = { P_MALFORMED } },
	{ .name = "qinq_inner_tag_truncated",
	  .pkt = { V4(SRC4), UDP, .vlan = { ETH_P_8021AD, ETH_P_8021Q }, .cut = ETH_HLEN + 5 },
	  .preset = LIMITED, .verdict = XDP_PASS, .deltas = ONE(SLUICE_PASSED_MALFORMED),
	  .bucket = NO_BUCKET, .parse = { P_MALFORMED, .vlan_tags = 1 } },

	/* Not IP */
	{ .name = "arp_request", .pkt = { .l3 = PKT_ARP, .src = SRC4, .dst = DST4 },
	  .preset = LIMITED, .verdict = XDP_PASS, .deltas = ONE(SLUICE_PASSED_NOT_IP),
	  .bucket = NO_BUCKET, .parse = { P_NOT_IP } },
	{ .name = "lldp", .pkt = { .l3 = PKT_OTHER, .ethertype = 0x88cc, .payload_len = 46 },
	  .preset = LIMITED, .verdict = XDP_PASS, .deltas = ONE(SLUICE_PASSED_NOT_IP),
	  .parse = { P_NOT_IP } },
	{ .name = "ethernet_header_only_arp", .pkt = { .l3 = PKT_OTHER, .ethertype = ETH_P_ARP },
	  .preset = LIMITED, .verdict = XDP_PASS, .deltas = ONE(SLUICE_PASSED_NOT_IP),
	  .parse = { P_NOT_IP } },
	{ .name = "ethernet_header_only_ipv4", .pkt = { .l3 = PKT_OTHER, .ethertype = ETH_P_IP },
	  .preset = LIMITED, .verdict = XDP_PASS, .deltas = ONE(SLUICE_PASSED_MALFORMED),
	  .parse = { P_MALFORMED } },
	{ .name = "ethernet_header_only_ipv6",
	  .pkt = { .l3 = PKT_OTHER, .ethertype = ETH_P_IPV6 }, .preset = LIMITED,
	  .verdict = XDP_PASS, .deltas = ONE(SLUICE_PASSED_MALFORMED), .parse = { P_MALFORMED } },
	/*
	 * No rows for frames under ETH_HLEN (14) bytes: BPF_PROG_RUN refuses
	 * them (EINVAL), as drivers never hand XDP one. The parser's first
	 * bounds check covers them all the same.
	 */
	{ .name = "garbage_all_ones", .pkt = { .l3 = PKT_RAW, .raw_len = 64, .fill = 0xff },
	  .preset = LIMITED, .verdict = XDP_PASS, .deltas = ONE(SLUICE_PASSED_NOT_IP),
	  .parse = { P_NOT_IP } },
	{ .name = "garbage_all_zeros", .pkt = { .l3 = PKT_RAW, .raw_len = 64, .fill = 0 },
	  .preset = LIMITED, .verdict = XDP_PASS, .deltas = ONE(SLUICE_PASSED_NOT_IP),
	  .parse = { P_NOT_IP } },
	{ .name = "garbage_after_ipv4_ethertype",
	  .pkt = { .l3 = PKT_RAW, .raw_len = 48,
		   .raw = "\x5a\x17\xc3\x09\x88\x21\xfe\x01\x7d\x44\x90\x3b\x08\x00"
			  "\x9c\x31\xe7\x02\x5b\xd8\x66\x0f\xa4\x13\x70\xcc\x2e\x81"
			  "\x47\xb9\x05\xf2\x38\x6d\x91\x1a\xee\x54\x03\xc7\x29\x8f"
			  "\x60\xb2\x4e\x15\xda\x77" },
	  .preset = LIMITED, .verdict = XDP_PASS, .deltas = ONE(SLUICE_PASSED_MALFORMED),
	  .parse = { P_MALFORMED } },
	{ .name = "garbage_after_ipv6_ethertype",
	  .pkt = { .l3 = PKT_RAW, .raw_len = 64,
		   .raw = "\xc1\x0e\x72\xab\x39\x58\x04\xf6\x9d\x23\x6a\xb0\x86\xdd"
			  "\x45\x88\x13\xe9\x2c\x71\xfa\x06\x5d\x90\x3e\xc4\x17\xab"
			  "\x62\x0d\xf3\x48\x95\x21\x7c\xb6\x0a\xe5\x53\x8e\x19\xd2"
			  "\x67\x34\xcb\x0f\xa9\x76\x12\xe4\x4b\x98\x3d\xf0\x26\x81"
			  "\x5e\xc9\x07\xba\x63\x1c\xd5\x40" },
	  .preset = LIMITED, .verdict = XDP_PASS, .deltas = ONE(SLUICE_PASSED_MALFORMED),
	  .parse = { P_MALFORMED } },

	/* IPv6 neighbor discovery is never limited, but only with hop limit 255 */
	{ .name = "nd_solicitation_hop_255_empty_bucket",
	  .pkt = { V6(SRC6), ICMP6(135), .ttl = 255 }, .preset = LIMITED_EMPTY,
	  .verdict = XDP_PASS, .deltas = ONE(SLUICE_PASSED_NEIGHBOR), .bucket = BUCKET(0, 0),
	  .parse = { P6, .l4 = IPPROTO_ICMPV6, .icmp_type = 135 } },
	{ .name = "nd_router_solicitation_hop_255_empty_bucket",
	  .pkt = { V6(SRC6), ICMP6(133), .ttl = 255 }, .preset = LIMITED_EMPTY,
	  .verdict = XDP_PASS, .deltas = ONE(SLUICE_PASSED_NEIGHBOR), .bucket = BUCKET(0, 0),
	  .parse = { P6, .l4 = IPPROTO_ICMPV6, .icmp_type = 133 } },
	{ .name = "nd_redirect_hop_255_empty_bucket",
	  .pkt = { V6(SRC6), ICMP6(137), .ttl = 255 }, .preset = LIMITED_EMPTY,
	  .verdict = XDP_PASS, .deltas = ONE(SLUICE_PASSED_NEIGHBOR), .bucket = BUCKET(0, 0),
	  .parse = { P6, .l4 = IPPROTO_ICMPV6, .icmp_type = 137 } },
	{ .name = "nd_solicitation_hop_255_sent_three_times",
	  .pkt = { V6(SRC6), ICMP6(135), .ttl = 255 }, .preset = LIMITED,
	  .verdict = XDP_PASS, .deltas = { { SLUICE_PASSED_NEIGHBOR, 3 } }, .bucket = NO_BUCKET,
	  .parse = { P6, .l4 = IPPROTO_ICMPV6, .icmp_type = 135 } },
	{ .name = "nd_solicitation_without_any_limit",
	  .pkt = { V6(SRC6), ICMP6(135), .ttl = 255 }, .verdict = XDP_PASS,
	  .deltas = ONE(SLUICE_PASSED_NEIGHBOR), .bucket = NO_BUCKET,
	  .parse = { P6, .l4 = IPPROTO_ICMPV6, .icmp_type = 135 } },
	{ .name = "nd_solicitation_after_hbh_hop_255",
	  .pkt = { V6(SRC6), ICMP6(135), .ttl = 255, .ext = { PKT_HBH(0) } },
	  .preset = LIMITED_EMPTY, .verdict = XDP_PASS, .deltas = ONE(SLUICE_PASSED_NEIGHBOR),
	  .bucket = BUCKET(0, 0), .parse = { P6, .l4 = IPPROTO_ICMPV6, .icmp_type = 135 } },
	{ .name = "nd_solicitation_hop_64_is_limited",
	  .pkt = { V6(SRC6), ICMP6(135), .ttl = 64 }, .preset = LIMITED_EMPTY,
	  .verdict = XDP_DROP, .deltas = ONE(SLUICE_DROPPED_RATE), .bucket = BUCKET(0, 1),
	  .parse = { P6, .l4 = IPPROTO_ICMPV6, .icmp_type = 135 } },
	{ .name = "icmpv6_type_132_hop_255_is_limited",
	  .pkt = { V6(SRC6), ICMP6(132), .ttl = 255 }, .preset = LIMITED_EMPTY,
	  .verdict = XDP_DROP, .deltas = ONE(SLUICE_DROPPED_RATE), .bucket = BUCKET(0, 1),
	  .parse = { P6, .l4 = IPPROTO_ICMPV6, .icmp_type = 132 } },
	{ .name = "icmpv6_type_138_hop_255_is_limited",
	  .pkt = { V6(SRC6), ICMP6(138), .ttl = 255 }, .preset = LIMITED_EMPTY,
	  .verdict = XDP_DROP, .deltas = ONE(SLUICE_DROPPED_RATE), .bucket = BUCKET(0, 1),
	  .parse = { P6, .l4 = IPPROTO_ICMPV6, .icmp_type = 138 } },
	/* Its payload starts with 135: only a parser that read it as ICMPv6 would see ND. */
	{ .name = "nd_type_in_later_fragment_is_limited",
	  .pkt = { V6(SRC6), ICMP6(135), .ttl = 255, .ext = { PKT_FRAG(3, 0) },
		   .payload_len = 24, .payload_fill = 135 },
	  .preset = LIMITED_EMPTY, .verdict = XDP_DROP, .deltas = ONE(SLUICE_DROPPED_RATE),
	  .bucket = BUCKET(0, 1), .parse = { P6, .l4 = IPPROTO_ICMPV6, .flags = F_FRAG | F_LATER } },
	{ .name = "nd_solicitation_icmpv6_truncated_is_limited",
	  .pkt = { V6(SRC6), ICMP6(135), .ttl = 255, .l4_cut = 1, .l4_keep = 1 },
	  .preset = LIMITED_EMPTY, .verdict = XDP_DROP, .deltas = ONE(SLUICE_DROPPED_RATE),
	  .bucket = BUCKET(0, 1), .parse = { P6, .l4 = IPPROTO_ICMPV6, .flags = F_TRUNC } },

	/* Deny and allow lists */
	{ .name = "deny_ipv4_prefix",
	  .pkt = { V4(SRC4), UDP },
	  .preset = { .rules = { DEFAULT_LIMIT }, .deny = { "198.18.0.0/24" } },
	  .verdict = XDP_DROP, .deltas = ONE(SLUICE_DROPPED_DENIED), .bucket = NO_BUCKET,
	  .deny_hits = 1, .parse = { P4, P_UDP, .flags = F_PORTS } },
	{ .name = "deny_ipv6_prefix_three_times",
	  .pkt = { V6(SRC6), TCP },
	  .preset = { .rules = { DEFAULT_LIMIT }, .deny = { "2001:db8::/64" } },
	  .verdict = XDP_DROP, .deltas = { { SLUICE_DROPPED_DENIED, 3 } }, .bucket = NO_BUCKET,
	  .deny_hits = 3, .parse = { P6, P_TCP, .flags = F_PORTS } },
	{ .name = "deny_without_any_limit",
	  .pkt = { V4(SRC4), UDP }, .preset = { .deny = { "198.18.0.1/32" } },
	  .verdict = XDP_DROP, .deltas = ONE(SLUICE_DROPPED_DENIED), .bucket = NO_BUCKET,
	  .deny_hits = 1, .parse = { P4, P_UDP, .flags = F_PORTS } },
	{ .name = "deny_other_prefix_does_not_match",
	  .pkt = { V4(SRC4), UDP },
	  .preset = { .rules = { DEFAULT_LIMIT }, .deny = { "198.18.9.0/24" } },
	  .verdict = XDP_PASS, .deltas = ONE(SLUICE_PASSED), .bucket = BUCKET(1, 0),
	  .deny_hits = 0, .parse = { P4, P_UDP, .flags = F_PORTS } },
	{ .name = "deny_ipv4_later_fragment",
	  .pkt = { V4(SRC4), UDP, .frag_offset = 8, .payload_len = 16 },
	  .preset = { .rules = { DEFAULT_LIMIT }, .deny = { "198.18.0.0/15" } },
	  .verdict = XDP_DROP, .deltas = ONE(SLUICE_DROPPED_DENIED), .bucket = NO_BUCKET,
	  .deny_hits = 1, .parse = { P4, .l4 = IPPROTO_UDP, .flags = F_FRAG | F_LATER } },
	{ .name = "deny_beats_neighbor_discovery",
	  .pkt = { V6(SRC6), ICMP6(135), .ttl = 255 },
	  .preset = { .rules = { DEFAULT_LIMIT }, .deny = { "2001:db8::/32" } },
	  .verdict = XDP_DROP, .deltas = ONE(SLUICE_DROPPED_DENIED), .bucket = NO_BUCKET,
	  .deny_hits = 1, .parse = { P6, .l4 = IPPROTO_ICMPV6, .icmp_type = 135 } },
	{ .name = "deny_not_consulted_for_malformed_ipv4",
	  .pkt = { V4(SRC4), UDP, .ihl = 4 },
	  .preset = { .rules = { DEFAULT_LIMIT }, .deny = { "198.18.0.0/24" } },
	  .verdict = XDP_PASS, .deltas = ONE(SLUICE_PASSED_MALFORMED), .bucket = NO_BUCKET,
	  .deny_hits = 0, .parse = { P_MALFORMED } },
	{ .name = "allow_ipv4_prefix_with_empty_bucket",
	  .pkt = { V4(SRC4), UDP },
	  .preset = { .rules = { DEFAULT_LIMIT }, .allow = { "198.18.0.0/24" }, .empty_bucket = 1 },
	  .verdict = XDP_PASS, .deltas = ONE(SLUICE_PASSED_ALLOWED), .bucket = BUCKET(0, 0),
	  .allow_hits = 1, .parse = { P4, P_UDP, .flags = F_PORTS } },
	{ .name = "allow_ipv6_prefix_beyond_burst",
	  .pkt = { V6(SRC6), UDP },
	  .preset = { .rules = { DEFAULT_LIMIT }, .allow = { "2001:db8::/48" } },
	  .verdict = XDP_PASS, .deltas = { { SLUICE_PASSED_ALLOWED, 5 } }, .bucket = NO_BUCKET,
	  .allow_hits = 5, .parse = { P6, P_UDP, .flags = F_PORTS } },
	{ .name = "deny_wins_over_allow",
	  .pkt = { V4(SRC4), UDP },
	  .preset = { .rules = { DEFAULT_LIMIT }, .allow = { "198.18.0.0/16" },
		      .deny = { "198.18.0.1/32" } },
	  .verdict = XDP_DROP, .deltas = ONE(SLUICE_DROPPED_DENIED), .bucket = NO_BUCKET,
	  .deny_hits = 1, .allow_hits = 0, .parse = { P4, P_UDP, .flags = F_PORTS } },

	/* A list entry covers its own family only: no IPv6 prefix covers an IPv4 source */
	{ .name = "deny_ipv6_slash_8_spares_ipv4_within_limit", .pkt = { V4(SRC4), UDP },
	  .preset = { .rules = { DEFAULT_LIMIT }, .deny = { "::/8" } },
	  .verdict = XDP_PASS, .deltas = ONE(SLUICE_PASSED), .bucket = BUCKET(1, 0),
	  .deny_hits = 0, .parse = { P4, P_UDP, .flags = F_PORTS } },
	{ .name = "deny_ipv6_slash_8_spares_ipv4_over_limit", .pkt = { V4(SRC4), UDP },
	  .preset = { .rules = { DEFAULT_LIMIT }, .deny = { "::/8" } },
	  .verdict = XDP_DROP, .deltas = OVER_BY_ONE, .bucket = BUCKET(2, 1),
	  .deny_hits = 0, .parse = { P4, P_UDP, .flags = F_PORTS } },
	{ .name = "deny_ipv6_slash_8_drops_ipv6_loopback", .pkt = { V6("::1"), UDP },
	  .preset = { .rules = { DEFAULT_LIMIT }, .deny = { "::/8" } },
	  .verdict = XDP_DROP, .deltas = ONE(SLUICE_DROPPED_DENIED), .bucket = NO_BUCKET,
	  .deny_hits = 1, .parse = { P6, P_UDP, .flags = F_PORTS } },
	{ .name = "deny_v4_mapped_prefix_spares_ipv4", .pkt = { V4(SRC4), UDP },
	  .preset = { .rules = { DEFAULT_LIMIT }, .deny = { "::ffff:0:0/96" } },
	  .verdict = XDP_PASS, .deltas = ONE(SLUICE_PASSED), .bucket = BUCKET(1, 0),
	  .deny_hits = 0, .parse = { P4, P_UDP, .flags = F_PORTS } },
	{ .name = "deny_v4_mapped_prefix_drops_v4_mapped_ipv6", .pkt = { V6(SRC6_MAPPED), UDP },
	  .preset = { .rules = { DEFAULT_LIMIT }, .deny = { "::ffff:0:0/96" } },
	  .verdict = XDP_DROP, .deltas = ONE(SLUICE_DROPPED_DENIED), .bucket = NO_BUCKET,
	  .deny_hits = 1, .parse = { P6, P_UDP, .flags = F_PORTS } },
	{ .name = "deny_ipv4_prefix_spares_v4_mapped_ipv6", .pkt = { V6(SRC6_MAPPED), UDP },
	  .preset = { .rules = { DEFAULT_LIMIT }, .deny = { "198.18.0.0/24" } },
	  .verdict = XDP_PASS, .deltas = ONE(SLUICE_PASSED), .bucket = BUCKET(1, 0),
	  .deny_hits = 0, .parse = { P6, P_UDP, .flags = F_PORTS } },
	{ .name = "deny_ipv4_slash_0_spares_ipv6", .pkt = { V6(SRC6), UDP },
	  .preset = { .rules = { DEFAULT_LIMIT }, .deny = { "0.0.0.0/0" } },
	  .verdict = XDP_PASS, .deltas = ONE(SLUICE_PASSED), .bucket = BUCKET(1, 0),
	  .deny_hits = 0, .parse = { P6, P_UDP, .flags = F_PORTS } },
	{ .name = "deny_ipv4_slash_0_drops_ipv4", .pkt = { V4(SRC4), UDP },
	  .preset = { .rules = { DEFAULT_LIMIT }, .deny = { "0.0.0.0/0" } },
	  .verdict = XDP_DROP, .deltas = ONE(SLUICE_DROPPED_DENIED), .bucket = NO_BUCKET,
	  .deny_hits = 1, .parse = { P4, P_UDP, .flags = F_PORTS } },
	{ .name = "allow_ipv6_slash_0_does_not_allow_ipv4", .pkt = { V4(SRC4), UDP },
	  .preset = { .rules = { DEFAULT_LIMIT }, .allow = { "::/0" }, .empty_bucket = 1 },
	  .verdict = XDP_DROP, .deltas = ONE(SLUICE_DROPPED_RATE), .bucket = BUCKET(0, 1),
	  .allow_hits = 0, .parse = { P4, P_UDP, .flags = F_PORTS } },

	/* Longest prefix match picks the limit; the bucket's debt shows which */
	{ .name = "override_slash_24_inside_slash_16", .pkt = { V4("198.18.1.9"), UDP },
	  .preset = OVERRIDES_V4, .verdict = XDP_DROP,
	  .deltas = { { SLUICE_PASSED, 50 }, { SLUICE_DROPPED_RATE, 1 } },
	  .bucket = { BUCKET_PRESENT, 50, 1, 50 * (SLUICE_TIME_PER_SEC / 1000) },
	  .parse = { P4, P_UDP, .flags = F_PORTS } },
	{ .name = "override_slash_16_inside_default", .pkt = { V4("198.18.2.9"), UDP },
	  .preset = OVERRIDES_V4, .verdict = XDP_DROP,
	  .deltas = { { SLUICE_PASSED, 5 }, { SLUICE_DROPPED_RATE, 1 } },
	  .bucket = { BUCKET_PRESENT, 5, 1, 5 * (SLUICE_TIME_PER_SEC / 100) },
	  .parse = { P4, P_UDP, .flags = F_PORTS } },
	{ .name = "override_outside_uses_default", .pkt = { V4("198.19.0.9"), UDP },
	  .preset = OVERRIDES_V4, .verdict = XDP_DROP,
	  .deltas = { { SLUICE_PASSED, 1 }, { SLUICE_DROPPED_RATE, 1 } },
	  .bucket = { BUCKET_PRESENT, 1, 1, SLUICE_TIME_PER_SEC / 10 },
	  .parse = { P4, P_UDP, .flags = F_PORTS } },
	{ .name = "override_slash_32_unlimited", .pkt = { V4("198.18.1.7"), UDP },
	  .preset = OVERRIDES_V4, .verdict = XDP_PASS,
	  .deltas = { { SLUICE_PASSED_UNLIMITED, 60 } }, .bucket = NO_BUCKET,
	  .parse = { P4, P_UDP, .flags = F_PORTS } },
	{ .name = "override_ipv6_slash_48", .pkt = { V6("2001:db8:1::5"), UDP },
	  .preset = OVERRIDES_V6, .verdict = XDP_DROP,
	  .deltas = { { SLUICE_PASSED, 4 }, { SLUICE_DROPPED_RATE, 1 } },
	  .bucket = { BUCKET_PRESENT, 4, 1, 4 * (SLUICE_TIME_PER_SEC / 1000) },
	  .parse = { P6, P_UDP, .flags = F_PORTS } },
	{ .name = "override_ipv6_outside_uses_default", .pkt = { V6("2001:db8:2::5"), UDP },
	  .preset = OVERRIDES_V6, .verdict = XDP_DROP,
	  .deltas = { { SLUICE_PASSED, 1 }, { SLUICE_DROPPED_RATE, 1 } },
	  .bucket = { BUCKET_PRESENT, 1, 1, SLUICE_TIME_PER_SEC / 10 },
	  .parse = { P6, P_UDP, .flags = F_PORTS } },
	{ .name = "override_ipv6_slash_64_unlimited", .pkt = { V6("2001:db8:1:2::5"), UDP },
	  .preset = OVERRIDES_V6, .verdict = XDP_PASS,
	  .deltas = { { SLUICE_PASSED_UNLIMITED, 10 } }, .bucket = NO_BUCKET,
	  .parse = { P6, P_UDP, .flags = F_PORTS } },
	{ .name = "ipv4_override_only_leaves_ipv6_unlimited", .pkt = { V6(SRC6), UDP },
	  .preset = { .rules = { LIMIT("198.18.0.0/15", 1000, 1) } }, .verdict = XDP_PASS,
	  .deltas = { { SLUICE_PASSED_UNLIMITED, 3 } }, .bucket = NO_BUCKET,
	  .parse = { P6, P_UDP, .flags = F_PORTS } },
	{ .name = "ipv4_override_only_limits_ipv4", .pkt = { V4(SRC4), UDP },
	  .preset = { .rules = { LIMIT("198.18.0.0/15", 1000, 1) } }, .verdict = XDP_DROP,
	  .deltas = { { SLUICE_PASSED, 1 }, { SLUICE_DROPPED_RATE, 2 } }, .bucket = BUCKET(1, 2),
	  .parse = { P4, P_UDP, .flags = F_PORTS } },
	{ .name = "no_limit_ipv4_unlimited_no_bucket", .pkt = { V4(SRC4), UDP },
	  .verdict = XDP_PASS, .deltas = { { SLUICE_PASSED_UNLIMITED, 5 } }, .bucket = NO_BUCKET,
	  .parse = { P4, P_UDP, .flags = F_PORTS } },
	{ .name = "no_limit_ipv6_unlimited_no_bucket", .pkt = { V6(SRC6), TCP },
	  .verdict = XDP_PASS, .deltas = { { SLUICE_PASSED_UNLIMITED, 5 } }, .bucket = NO_BUCKET,
	  .parse = { P6, P_TCP, .flags = F_PORTS } },
	{ .name = "default_unlimited_no_bucket", .pkt = { V4(SRC4), UDP },
	  .preset = { .rules = { UNLIMITED("default") } }, .verdict = XDP_PASS,
	  .deltas = { { SLUICE_PASSED_UNLIMITED, 5 } }, .bucket = NO_BUCKET,
	  .parse = { P4, P_UDP, .flags = F_PORTS } },

	/* "0.0.0.0/0" covers IPv4 only and "::/0" IPv6 only; both beat "default" */
	{ .name = "ipv4_slash_0_beats_default", .pkt = { V4(SRC4), UDP },
	  .preset = FAMILY_DEFAULTS, .verdict = XDP_DROP,
	  .deltas = { { SLUICE_PASSED, 5 }, { SLUICE_DROPPED_RATE, 1 } },
	  .bucket = { BUCKET_PRESENT, 5, 1, 5 * (SLUICE_TIME_PER_SEC / 100) },
	  .parse = { P4, P_UDP, .flags = F_PORTS } },
	{ .name = "ipv6_slash_0_beats_default", .pkt = { V6(SRC6), UDP },
	  .preset = FAMILY_DEFAULTS, .verdict = XDP_DROP,
	  .deltas = { { SLUICE_PASSED, 4 }, { SLUICE_DROPPED_RATE, 1 } },
	  .bucket = { BUCKET_PRESENT, 4, 1, 4 * (SLUICE_TIME_PER_SEC / 1000) },
	  .parse = { P6, P_UDP, .flags = F_PORTS } },
	{ .name = "ipv4_slash_0_leaves_ipv6_to_default", .pkt = { V6(SRC6), UDP },
	  .preset = { .rules = { LIMIT("default", 10, 1), LIMIT("0.0.0.0/0", 100, 5) } },
	  .verdict = XDP_DROP, .deltas = { { SLUICE_PASSED, 1 }, { SLUICE_DROPPED_RATE, 1 } },
	  .bucket = { BUCKET_PRESENT, 1, 1, SLUICE_TIME_PER_SEC / 10 },
	  .parse = { P6, P_UDP, .flags = F_PORTS } },
	{ .name = "ipv6_slash_0_leaves_ipv4_to_default", .pkt = { V4(SRC4), UDP },
	  .preset = { .rules = { LIMIT("default", 10, 1), LIMIT("::/0", 1000, 4) } },
	  .verdict = XDP_DROP, .deltas = { { SLUICE_PASSED, 1 }, { SLUICE_DROPPED_RATE, 1 } },
	  .bucket = { BUCKET_PRESENT, 1, 1, SLUICE_TIME_PER_SEC / 10 },
	  .parse = { P4, P_UDP, .flags = F_PORTS } },
	{ .name = "ipv4_slash_0_only_leaves_ipv6_unlimited", .pkt = { V6(SRC6), UDP },
	  .preset = { .rules = { LIMIT("0.0.0.0/0", 100, 1) } }, .verdict = XDP_PASS,
	  .deltas = { { SLUICE_PASSED_UNLIMITED, 3 } }, .bucket = NO_BUCKET,
	  .parse = { P6, P_UDP, .flags = F_PORTS } },
	{ .name = "ipv6_slash_0_only_leaves_ipv4_unlimited", .pkt = { V4(SRC4), UDP },
	  .preset = { .rules = { LIMIT("::/0", 100, 1) } }, .verdict = XDP_PASS,
	  .deltas = { { SLUICE_PASSED_UNLIMITED, 3 } }, .bucket = NO_BUCKET,
	  .parse = { P4, P_UDP, .flags = F_PORTS } },

	/* An IPv6 source that spells an IPv4 address is IPv6: IPv4 rules never apply */
	{ .name = "v4_mapped_ipv6_ignores_ipv4_override", .pkt = { V6(SRC6_MAPPED), UDP },
	  .preset = { .rules = { LIMIT("default", 10, 1), LIMIT("198.18.0.0/24", 1000, 50) } },
	  .verdict = XDP_DROP, .deltas = { { SLUICE_PASSED, 1 }, { SLUICE_DROPPED_RATE, 1 } },
	  .bucket = { BUCKET_PRESENT, 1, 1, SLUICE_TIME_PER_SEC / 10 },
	  .parse = { P6, P_UDP, .flags = F_PORTS } },
	{ .name = "v4_mapped_ipv6_uses_ipv6_override", .pkt = { V6(SRC6_MAPPED), UDP },
	  .preset = OVERRIDES_V4_MAPPED, .verdict = XDP_DROP,
	  .deltas = { { SLUICE_PASSED, 4 }, { SLUICE_DROPPED_RATE, 1 } },
	  .bucket = { BUCKET_PRESENT, 4, 1, 4 * (SLUICE_TIME_PER_SEC / 1000) },
	  .parse = { P6, P_UDP, .flags = F_PORTS } },
	{ .name = "ipv4_uses_ipv4_override_not_v4_mapped_one", .pkt = { V4(SRC4), UDP },
	  .preset = OVERRIDES_V4_MAPPED, .verdict = XDP_DROP,
	  .deltas = { { SLUICE_PASSED, 50 }, { SLUICE_DROPPED_RATE, 1 } },
	  .bucket = { BUCKET_PRESENT, 50, 1, 50 * (SLUICE_TIME_PER_SEC / 1000) },
	  .parse = { P4, P_UDP, .flags = F_PORTS } },
	{ .name = "v4_mapped_ipv6_under_ipv6_slash_0", .pkt = { V6(SRC6_MAPPED), UDP },
	  .preset = FAMILY_DEFAULTS, .verdict = XDP_DROP,
	  .deltas = { { SLUICE_PASSED, 4 }, { SLUICE_DROPPED_RATE, 1 } },
	  .bucket = { BUCKET_PRESENT, 4, 1, 4 * (SLUICE_TIME_PER_SEC / 1000) },
	  .parse = { P6, P_UDP, .flags = F_PORTS } },
};

static struct sluice_fixture fx;
static struct parse_probe_bpf *probe;

static int group_setup(void **state)
{
	(void)state;
	if (sluice_fixture_setup(&fx))
		return -1;
	if (fx.skip_reason)
		return 0;
	probe = parse_probe_bpf__open_and_load();
	if (!probe) {
		print_message("# parse_probe_bpf__open_and_load: %s\n", strerror(errno));
		return -1;
	}
	return 0;
}

static int group_teardown(void **state)
{
	(void)state;
	parse_probe_bpf__destroy(probe);
	probe = NULL;
	sluice_fixture_teardown(&fx);
	return 0;
}

/* Sets the row's rules (their ids in ids[], 0 after the last) and lists. */
static int preset_apply(const struct preset *preset, const char *src, __u32 ids[PRESET_RULES])
{
	struct sluice_bpf *skel = fx.skel;
	int err, first;

	memset(ids, 0, PRESET_RULES * sizeof(ids[0]));
	for (size_t i = 0; i < PRESET_RULES && preset->rules[i]; i++) {
		int id = rule_add(&fx, preset->rules[i]);

		if (id < 0)
			return id;
		ids[i] = id;
	}
	first = ids[0];
	for (size_t i = 0; i < ARRAY_LEN(preset->allow) && preset->allow[i]; i++)
		if ((err = list_add(skel->maps.allow_list, preset->allow[i])))
			return err;
	for (size_t i = 0; i < ARRAY_LEN(preset->deny) && preset->deny[i]; i++)
		if ((err = list_add(skel->maps.deny_list, preset->deny[i])))
			return err;
	if (preset->empty_bucket) {
		struct sluice_bucket bucket = {};
		struct sluice_rule rule;

		if (!src || !first || (err = rule_read(&fx, first, &rule)))
			return src && first ? err : -EINVAL;
		/* Owing a whole bucket's depth is an empty bucket. */
		bucket.state.full_at = sluice_fake_now(&fx) + rule.limit.meter.depth;
		return bucket_write(&fx, first, src, &bucket);
	}
	return 0;
}

/*
 * Every rule here is a source-level one that matches every packet, so a
 * packet that reaches the rules meets one rule at most, and the rules'
 * counters together must say what the outcome counters say: passed and
 * dropped_rate, and passed_unlimited too when a rule (an unlimited one)
 * covers the source. No rule runs dry.
 */
static void expect_rule_counters(const __u32 *ids, size_t n, const __u32 *want_packets,
				 const char *src, __u32 len)
{
	struct sluice_rule_counters sum = {}, c;
	__u64 passed = want_packets[SLUICE_PASSED];

	if (src && source_rule_first(&fx, src))
		passed += want_packets[SLUICE_PASSED_UNLIMITED];
	for (size_t i = 0; i < n && ids[i]; i++) {
		ASSERT_OK(rule_counters_read(&fx, ids[i], &c), "counters of rule %u", ids[i]);
		sum.passed.packets += c.passed.packets;
		sum.passed.bytes += c.passed.bytes;
		sum.dropped.packets += c.dropped.packets;
		sum.dropped.bytes += c.dropped.bytes;
		sum.would_drop.packets += c.would_drop.packets;
	}
	EXPECT_EQ(sum.passed.packets, passed, "rules' passed packets, all rules together");
	EXPECT_EQ(sum.passed.bytes, passed * len, "rules' passed bytes, all rules together");
	EXPECT_EQ(sum.dropped.packets, want_packets[SLUICE_DROPPED_RATE],
		  "rules' dropped packets, all rules together (the dropped_rate outcome)");
	EXPECT_EQ(sum.dropped.bytes, (__u64)want_packets[SLUICE_DROPPED_RATE] * len,
		  "rules' dropped bytes, all rules together");
	EXPECT_EQ(sum.would_drop.packets, 0, "rules' would_drop packets, all rules together");
}

static void skip_short_frame(int err, __u32 len)
{
	if (err == -EINVAL && len < ETH_HLEN)
		SKIP_BECAUSE("the kernel refuses XDP test runs of frames under %d bytes "
			     "(EINVAL for this %u-byte one), so no XDP program ever sees one",
			     ETH_HLEN, len);
}

static void xdp_case_test(void **state)
{
	const struct xdp_case *c = *state;
	struct sluice_counter before[SLUICE_OUTCOME_COUNT], after[SLUICE_OUTCOME_COUNT];
	__u32 want_packets[SLUICE_OUTCOME_COUNT] = {}, sends = 0, verdict = ~0u;
	__u32 ids[PRESET_RULES];
	struct sluice_bucket bucket;
	struct pkt pkt;
	int err;

	if (fx.skip_reason)
		SKIP_BECAUSE("%s", fx.skip_reason);
	ASSERT_OK(pkt_build(&c->pkt, &pkt), "build the frame");
	ASSERT_OK(sluice_fixture_reset(&fx, T0_NS), "reset the maps");
	ASSERT_OK(preset_apply(&c->preset, c->pkt.src, ids), "preset the maps");
	for (size_t i = 0; i < ARRAY_LEN(c->deltas) && c->deltas[i].packets; i++) {
		want_packets[c->deltas[i].outcome] += c->deltas[i].packets;
		sends += c->deltas[i].packets;
	}
	ASSERT_OK(counters_read(fx.skel->maps.counters, before), "read counters before");
	for (__u32 i = 0; i < sends; i++) {
		err = xdp_run(fx.skel->progs.sluice_xdp, pkt.data, pkt.len, &verdict);
		skip_short_frame(err, pkt.len);
		ASSERT_OK(err, "test run of send %u of %u", i + 1, sends);
	}
	ASSERT_OK(counters_read(fx.skel->maps.counters, after), "read counters after");

	EXPECT_VERDICT(verdict, c->verdict, "verdict of send %u", sends);
	for (int o = 0; o < SLUICE_OUTCOME_COUNT; o++) {
		EXPECT_EQ(after[o].packets - before[o].packets, want_packets[o],
			  "%s packets delta", outcome_name(o));
		EXPECT_EQ(after[o].bytes - before[o].bytes, (__u64)want_packets[o] * pkt.len,
			  "%s bytes delta (%u-byte frame)", outcome_name(o), pkt.len);
	}

	expect_rule_counters(ids, PRESET_RULES, want_packets,
			     c->pkt.l3 == PKT_IPV4 || c->pkt.l3 == PKT_IPV6 ? c->pkt.src : NULL,
			     pkt.len);
	if (c->bucket.state == BUCKET_ABSENT) {
		size_t buckets = ~(size_t)0;

		ASSERT_OK(buckets_count(&fx, 0, &buckets), "count the buckets");
		EXPECT_EQ(buckets, 0, "buckets in the table (none for %s, nor any other)",
			  c->pkt.src);
	} else if (c->bucket.state == BUCKET_PRESENT) {
		__u32 rule = source_rule_first(&fx, c->pkt.src);

		if (!rule) {
			print_message("# no source-level rule covers %s\n", c->pkt.src);
			fail();
		}
		ASSERT_OK(bucket_read(&fx, rule, c->pkt.src, &bucket),
			  "bucket of %s under rule %u: lookup", c->pkt.src, rule);
		EXPECT_EQ(bucket.passed, c->bucket.passed, "bucket of %s: passed", c->pkt.src);
		EXPECT_EQ(bucket.dropped, c->bucket.dropped, "bucket of %s: dropped", c->pkt.src);
		if (c->bucket.debt_ps)
			EXPECT_EQ(bucket.state.full_at - sluice_fake_now(&fx), c->bucket.debt_ps,
				  "bucket of %s: full_at - now (ps)", c->pkt.src);
	}
	if (c->preset.deny[0]) {
		__u64 hits = ~0ull;

		ASSERT_OK(list_hits(fx.skel->maps.deny_list, c->preset.deny[0], &hits),
			  "read deny list entry");
		EXPECT_EQ(hits, c->deny_hits, "deny list hits of %s", c->preset.deny[0]);
	}
	if (c->preset.allow[0]) {
		__u64 hits = ~0ull;

		ASSERT_OK(list_hits(fx.skel->maps.allow_list, c->preset.allow[0], &hits),
			  "read allow list entry");
		EXPECT_EQ(hits, c->allow_hits, "allow list hits of %s", c->preset.allow[0]);
	}
	CHECKS_DONE();
}

/* Runs the parser alone on a frame; returns 0 or -errno. */
static int probe_run(const struct pkt *pkt, struct parse_probe_out *out)
{
	__u32 runs = probe->bss->probe_out.runs, verdict;
	int err = xdp_run(probe->progs.parse_probe, pkt->data, pkt->len, &verdict);

	if (err)
		return err;
	*out = probe->bss->probe_out;
	if (verdict != XDP_PASS || out->runs != runs + 1)
		return -EPROTO;
	return 0;
}

#define PARSE_RESULTS "1 ok, 2 not IP, 3 malformed"
#define PARSE_FLAGS "1 fragment, 2 later fragment, 4 has ports, 8 L4 truncated"

static void parse_case_test(void **state)
{
	const struct xdp_case *c = *state;
	const struct parse_expect *want = &c->parse;
	static const __u8 zero_pad[3];
	struct sluice_source_key src = {}, dst = {};
	struct parse_probe_out out;
	struct pkt pkt;
	int err;

	if (fx.skip_reason)
		SKIP_BECAUSE("%s", fx.skip_reason);
	if (!want->result) {
		print_message("# the row does not say what the parser must report\n");
		fail();
	}
	ASSERT_OK(pkt_build(&c->pkt, &pkt), "build the frame");
	err = probe_run(&pkt, &out);
	skip_short_frame(err, pkt.len);
	ASSERT_OK(err, "run the parse probe");

	EXPECT_EQ(out.result, want->result, "parse result (" PARSE_RESULTS ")");
	EXPECT_EQ(out.vlan_tags, want->vlan_tags, "vlan_tags");
	if (want->result == PROBE_PARSE_OK) {
		EXPECT_EQ(out.family, want->family, "src.family");
		EXPECT_EQ(out.l4_proto, want->l4, "l4_proto");
		EXPECT_EQ(out.flags, want->flags, "flags (" PARSE_FLAGS ")");
		EXPECT_EQ(out.sport, want->sport, "sport");
		EXPECT_EQ(out.dport, want->dport, "dport");
		EXPECT_EQ(out.tcp_flags, want->tcp_flags, "tcp_flags");
		EXPECT_EQ(out.icmp_type, want->icmp_type, "icmp_type");
		EXPECT_EQ(out.ttl, c->pkt.ttl ? c->pkt.ttl : PKT_DEFAULT_TTL, "ttl");
		ASSERT_OK(source_key(c->pkt.src, &src), "the row's source %s", c->pkt.src);
		ASSERT_OK(source_key(c->pkt.dst, &dst), "the row's destination %s", c->pkt.dst);
		EXPECT_EQ(out.family, src.family, "src.family is the family of %s", c->pkt.src);
		EXPECT_MEM_EQ(out.src, src.addr, SLUICE_ADDR_LEN, "src.addr");
		EXPECT_MEM_EQ(out.src_pad, zero_pad, sizeof(zero_pad), "src.pad");
		EXPECT_MEM_EQ(out.dst, dst.addr, SLUICE_ADDR_LEN, "dst");
	}
	CHECKS_DONE();
}

/* ---- Fuzz -------------------------------------------------------------- */

#define FUZZ_FRAMES 20000
#define FUZZ_SEED 0x51c3cafef00dULL

static __u32 rng_below(__u64 *state, __u32 n)
{
	return test_rng_next(state) % n;
}

struct fuzz_run {
	struct sluice_counter counters[SLUICE_OUTCOME_COUNT];
	unsigned long frames;
	unsigned long outcomes[SLUICE_OUTCOME_COUNT];
};

static void print_frame(const struct pkt *pkt)
{
	print_message("# frame (%u bytes): ", pkt->len);
	print_hex(pkt->data, pkt->len);
	print_message("\n");
}

/*
 * Runs one frame through Sluice and the probe and checks what must hold for
 * any frame. Stops the test at the first frame that breaks it.
 */
static void fuzz_check(struct fuzz_run *run, const struct pkt *pkt, const char *what)
{
	struct sluice_counter now[SLUICE_OUTCOME_COUNT];
	struct parse_probe_out out;
	__u64 packets = 0, bytes = 0;
	int outcome = -1, dropped;
	__u32 verdict = ~0u;

	EXPECT_EQ(xdp_run(fx.skel->progs.sluice_xdp, pkt->data, pkt->len, &verdict), 0,
		  "%s: sluice_xdp test run error", what);
	EXPECT_EQ(counters_read(fx.skel->maps.counters, now), 0, "%s: read counters", what);
	for (int o = 0; o < SLUICE_OUTCOME_COUNT; o++) {
		packets += now[o].packets - run->counters[o].packets;
		bytes += now[o].bytes - run->counters[o].bytes;
		if (now[o].packets != run->counters[o].packets)
			outcome = o;
	}
	memcpy(run->counters, now, sizeof(now));
	run->frames++;
	if (outcome >= 0)
		run->outcomes[outcome]++;
	if (verdict != XDP_PASS && verdict != XDP_DROP)
		EXPECT_VERDICT(verdict, XDP_PASS, "%s: verdict (XDP_PASS or XDP_DROP)", what);
	EXPECT_EQ(packets, 1, "%s: all outcome counters' packets delta", what);
	EXPECT_EQ(bytes, pkt->len, "%s: all outcome counters' bytes delta", what);
	dropped = outcome >= 0 && sluice_outcome_drops(outcome);
	EXPECT_EQ(verdict == XDP_DROP, dropped, "%s: XDP_DROP exactly when the outcome (%s) drops",
		  what, outcome_name(outcome));

	EXPECT_EQ(probe_run(pkt, &out), 0, "%s: parse probe run error", what);
	EXPECT_EQ(out.result >= PROBE_PARSE_OK && out.result <= PROBE_PARSE_MALFORMED, 1,
		  "%s: parse result %u is known", what, out.result);
	EXPECT_EQ(out.result == PROBE_PARSE_NOT_IP, outcome == SLUICE_PASSED_NOT_IP,
		  "%s: parser says not IP exactly when the outcome (%s) is passed_not_ip", what,
		  outcome_name(outcome));
	EXPECT_EQ(out.result == PROBE_PARSE_MALFORMED, outcome == SLUICE_PASSED_MALFORMED,
		  "%s: parser says malformed exactly when the outcome (%s) is passed_malformed",
		  what, outcome_name(outcome));
	EXPECT_EQ(out.vlan_tags <= 2, 1, "%s: at most 2 VLAN tags (%u)", what, out.vlan_tags);
	EXPECT_EQ(out.flags & PROBE_UNKNOWN_FLAG, 0, "%s: unknown flags", what);
	if (out.result == PROBE_PARSE_OK) {
		static const __u8 zeros[SLUICE_ADDR_LEN];

		EXPECT_EQ(out.family == SLUICE_FAMILY_IPV4 || out.family == SLUICE_FAMILY_IPV6, 1,
			  "%s: src.family %u is IPv4 or IPv6", what, out.family);
		EXPECT_MEM_EQ(out.src_pad, zeros, sizeof(out.src_pad), "%s: src.pad", what);
		/* The lists hold one family each (fuzz_setup): neither covers the other. */
		if (out.family == SLUICE_FAMILY_IPV6)
			EXPECT_EQ(outcome == SLUICE_DROPPED_DENIED, 0,
				  "%s: an IPv6 source denied by the IPv4-only deny list", what);
		if (out.family == SLUICE_FAMILY_IPV4)
			EXPECT_EQ(outcome == SLUICE_PASSED_ALLOWED, 0,
				  "%s: an IPv4 source allowed by the IPv6-only allow list", what);
		/* IPv4 fills the first 4 bytes; the bucket key needs the rest zero. */
		if (out.family == SLUICE_FAMILY_IPV4) {
			EXPECT_MEM_EQ(out.src + 4, zeros, SLUICE_ADDR_LEN - 4,
				      "%s: src.addr after an IPv4 address", what);
			EXPECT_MEM_EQ(out.dst + 4, zeros, SLUICE_ADDR_LEN - 4,
				      "%s: dst after an IPv4 address", what);
		}
		if (out.flags & PROBE_LATER_FRAGMENT) {
			EXPECT_EQ(out.flags & PROBE_FRAGMENT, PROBE_FRAGMENT,
				  "%s: a later fragment is a fragment", what);
			EXPECT_EQ(out.flags & PROBE_HAS_PORTS, 0,
				  "%s: a later fragment has no ports", what);
		}
		if (out.flags & PROBE_HAS_PORTS) {
			EXPECT_EQ(out.l4_proto == IPPROTO_TCP || out.l4_proto == IPPROTO_UDP, 1,
				  "%s: ports only for TCP or UDP (l4_proto %u)", what,
				  out.l4_proto);
			EXPECT_EQ(out.flags & PROBE_L4_TRUNCATED, 0,
				  "%s: ports only from a whole L4 header", what);
		}
	}
	if (check_failures)
		print_frame(pkt);
	CHECKS_DONE();
}

/* The deny list holds an IPv4 prefix only, the allow list an IPv6 one: fuzz_check relies on it. */
static int fuzz_setup(void)
{
	/* Rules of every level, so random frames go through every match as well. */
	static const char *const rules[] = {
		LIMIT("default", DEFAULT_RATE, DEFAULT_BURST),
		LIMIT("198.18.1.0/24", 1000, 50),
		UNLIMITED("198.18.2.0/24"),
		"198.18.0.0/16 --per rule --syn --rate 1 --burst 1",
		"default --proto udp --port 0-32767 --rate 100 --burst 2",
		"default --proto tcp --port 32768-65535 --per rule --rate 1 --burst 1 --dry-run",
		"default --proto icmp --per rule --rate 100 --burst 2",
	};
	struct sluice_bpf *skel = fx.skel;
	int err;

	err = sluice_fixture_reset(&fx, T0_NS);
	for (size_t i = 0; i < ARRAY_LEN(rules) && !err; i++)
		err = rule_add(&fx, rules[i]) < 0 ? -EINVAL : 0;
	err = err ? err : list_add(skel->maps.deny_list, "198.18.3.0/24");
	err = err ? err : list_add(skel->maps.allow_list, "2001:db8:1::/48");
	return err;
}

static const __u16 fuzz_ethertypes[] = { ETH_P_IP, ETH_P_IPV6, ETH_P_8021Q, ETH_P_8021AD,
					 ETH_P_ARP };
static const __u8 fuzz_ext_types[] = { IPPROTO_HOPOPTS, IPPROTO_ROUTING, IPPROTO_DSTOPTS,
				       IPPROTO_AH, IPPROTO_FRAGMENT };
static const __u8 fuzz_l4[] = { IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMP, IPPROTO_ICMPV6,
				IPPROTO_NONE, IPPROTO_ESP, IPPROTO_DSTOPTS, IPPROTO_GRE };

static void fuzz_random_bytes(__u64 *rng, __u8 *data, __u32 len)
{
	for (__u32 i = 0; i < len; i++)
		data[i] = test_rng_next(rng);
}

/* Random IPv4 or IPv6 built from random parts: deep header chains, odd fields. */
static void fuzz_spec(__u64 *rng, struct pkt_spec *spec)
{
	/*
	 * IPv4: limited by the default, by a /24, unlimited, denied. IPv6: limited,
	 * allowed, and the IPv6 spelling of a denied IPv4 address (not denied).
	 */
	static const char *const sources4[] = { SRC4, "198.18.1.3", "198.18.2.3", "198.18.3.3" };
	static const char *const sources6[] = { SRC6, "2001:db8:1::3", "::ffff:198.18.3.3" };
	int v6 = rng_below(rng, 2), ntags = rng_below(rng, 4);

	memset(spec, 0, sizeof(*spec));
	spec->l3 = v6 ? PKT_IPV6 : PKT_IPV4;
	spec->src = v6 ? sources6[rng_below(rng, ARRAY_LEN(sources6))] :
			 sources4[rng_below(rng, ARRAY_LEN(sources4))];
	spec->dst = v6 ? DST6 : DST4;
	for (int i = 0; i < ntags; i++)
		spec->vlan[i] = rng_below(rng, 2) ? ETH_P_8021Q : ETH_P_8021AD;
	spec->ttl = rng_below(rng, 2) ? 255 : 1 + rng_below(rng, 254);
	if (v6) {
		int n = rng_below(rng, 14);

		for (int i = 0; i < n; i++) {
			__u8 type = fuzz_ext_types[rng_below(rng, ARRAY_LEN(fuzz_ext_types))];

			spec->ext[i] = (struct pkt_ext){ .present = 1, .type = type,
							      .len = rng_below(rng, 4),
							      .offset = rng_below(rng, 3) ? 0 : rng_below(rng, 8000),
							      .more = rng_below(rng, 2) };
		}
		spec->l4 = rng_below(rng, 4) ? fuzz_l4[rng_below(rng, ARRAY_LEN(fuzz_l4))] :
					       (__u8)test_rng_next(rng);
	} else {
		spec->ihl = rng_below(rng, 4) ? 5 + rng_below(rng, 11) : rng_below(rng, 16);
		spec->frag_offset = rng_below(rng, 3) ? 0 : rng_below(rng, 8192);
		spec->more_fragments = rng_below(rng, 2);
		spec->l4 = fuzz_l4[rng_below(rng, ARRAY_LEN(fuzz_l4))];
	}
	spec->sport = test_rng_next(rng);
	spec->dport = test_rng_next(rng);
	spec->tcp_flags = test_rng_next(rng);
	spec->tcp_doff = rng_below(rng, 16);
	spec->icmp_type = rng_below(rng, 2) ? 128 + rng_below(rng, 12) : (__u8)test_rng_next(rng);
	spec->payload_len = rng_below(rng, 64);
	if (rng_below(rng, 2)) {
		spec->l4_cut = 1;
		spec->l4_keep = rng_below(rng, 24);
	}
}

/* One random frame of at least ETH_HLEN bytes (the kernel refuses shorter ones). */
static void fuzz_frame(__u64 *rng, struct pkt *pkt)
{
	struct pkt_spec spec;
	__u32 max;

	switch (rng_below(rng, 4)) {
	case 0:	/* bytes, nothing else */
		pkt->len = ETH_HLEN + rng_below(rng, rng_below(rng, 8) ? 200 : 1500);
		fuzz_random_bytes(rng, pkt->data, pkt->len);
		break;
	case 1:	/* random bytes behind real EtherTypes and IP versions */
		pkt->len = ETH_HLEN + rng_below(rng, 200);
		fuzz_random_bytes(rng, pkt->data, pkt->len);
		for (__u32 off = 12; off + 2 <= pkt->len; off += 4) {
			__u16 type = fuzz_ethertypes[rng_below(rng, ARRAY_LEN(fuzz_ethertypes))];

			put16(pkt->data + off, type);
			if (type != ETH_P_8021Q && type != ETH_P_8021AD) {
				if (off + 2 < pkt->len && (type == ETH_P_IP || type == ETH_P_IPV6))
					pkt->data[off + 2] = (type == ETH_P_IP ? 0x40 : 0x60) |
							     (pkt->data[off + 2] & 0x0f);
				break;
			}
		}
		break;
	case 2:	/* a table frame with a few bytes changed, maybe cut */
		do {
			spec = cases[rng_below(rng, ARRAY_LEN(cases))].pkt;
		} while (spec.l3 == PKT_RAW);
		if (pkt_build(&spec, pkt) || pkt->len < ETH_HLEN) {
			pkt->len = ETH_HLEN;
			memset(pkt->data, 0, ETH_HLEN);
			break;
		}
		max = pkt->len < 96 ? pkt->len : 96;
		for (__u32 n = 1 + rng_below(rng, 6); n; n--)
			pkt->data[rng_below(rng, max)] = test_rng_next(rng);
		if (rng_below(rng, 2))
			pkt->len = ETH_HLEN + rng_below(rng, pkt->len - ETH_HLEN + 1);
		break;
	default:
		fuzz_spec(rng, &spec);
		/* Every random spec is a valid one: a frame it cannot build fails the test. */
		EXPECT_EQ(pkt_build(&spec, pkt), 0, "build a random spec from %s", spec.src);
		if (pkt->len < ETH_HLEN) {
			pkt->len = ETH_HLEN;
			memset(pkt->data, 0, ETH_HLEN);
		}
		break;
	}
}

static void print_outcomes(const struct fuzz_run *run)
{
	print_message("# %lu frames:", run->frames);
	for (int o = 0; o < SLUICE_OUTCOME_COUNT; o++)
		print_message(" %s %lu", outcome_name(o), run->outcomes[o]);
	print_message("\n");
}

static void fuzz_random_frames(void **state)
{
	const char *env = getenv("SLUICE_FUZZ_SEED");
	__u64 seed = env ? strtoull(env, NULL, 0) : FUZZ_SEED, rng = seed;
	struct fuzz_run run = {};
	struct pkt pkt;
	char what[64];

	(void)state;
	if (fx.skip_reason)
		SKIP_BECAUSE("%s", fx.skip_reason);
	print_message("# fuzz seed %#llx (SLUICE_FUZZ_SEED=... replays another)\n",
		      (unsigned long long)seed);
	ASSERT_OK(fuzz_setup(), "preset the maps");
	ASSERT_OK(counters_read(fx.skel->maps.counters, run.counters), "read counters");
	for (int i = 0; i < FUZZ_FRAMES; i++) {
		fuzz_frame(&rng, &pkt);
		/* Time moves too, so buckets refill and full ones drop. */
		fx.skel->bss->fake_now_ns += rng_below(&rng, 4) * 250000;
		snprintf(what, sizeof(what), "random frame %d", i);
		fuzz_check(&run, &pkt, what);
	}
	print_outcomes(&run);
	/* A fuzzer that never reaches past the parser proves little. */
	EXPECT_EQ(run.outcomes[SLUICE_PASSED] > 0, 1, "some random frames passed their limit");
	EXPECT_EQ(run.outcomes[SLUICE_DROPPED_RATE] > 0, 1, "some random frames were dropped");
	EXPECT_EQ(run.outcomes[SLUICE_DROPPED_PREFIX_RATE] > 0, 1,
		  "some random frames dropped at the prefix level");
	EXPECT_EQ(run.outcomes[SLUICE_DROPPED_PORT_RATE] > 0, 1,
		  "some random frames dropped at the port level");
	EXPECT_EQ(run.outcomes[SLUICE_DROPPED_GLOBAL_RATE] > 0, 1,
		  "some random frames dropped at the global level");
	EXPECT_EQ(run.outcomes[SLUICE_PASSED_DRY_RUN] > 0, 1,
		  "some random frames passed a dry-run rule that would drop them");
	EXPECT_EQ(run.outcomes[SLUICE_PASSED_MALFORMED] > 0, 1, "some random frames malformed");
	EXPECT_EQ(run.outcomes[SLUICE_DROPPED_DENIED] > 0, 1, "some random frames denied");
	EXPECT_EQ(run.outcomes[SLUICE_PASSED_ALLOWED] > 0, 1, "some random frames allowed");
	CHECKS_DONE();
}

static void fuzz_truncated_table_frames(void **state)
{
	struct fuzz_run run = {};
	struct pkt full, cut;
	char what[160];

	(void)state;
	if (fx.skip_reason)
		SKIP_BECAUSE("%s", fx.skip_reason);
	ASSERT_OK(fuzz_setup(), "preset the maps");
	ASSERT_OK(counters_read(fx.skel->maps.counters, run.counters), "read counters");
	for (size_t i = 0; i < ARRAY_LEN(cases); i++) {
		if (cases[i].pkt.l3 == PKT_RAW)
			continue;
		ASSERT_OK(pkt_build(&cases[i].pkt, &full), "build %s", cases[i].name);
		for (__u32 len = ETH_HLEN; len <= full.len; len++) {
			cut = full;
			cut.len = len;
			snprintf(what, sizeof(what), "%s cut to %u bytes", cases[i].name, len);
			fuzz_check(&run, &cut, what);
		}
	}
	print_outcomes(&run);
	CHECKS_DONE();
}

static int run_table(const char *group, CMUnitTestFunction test, const char *prefix)
{
	size_t n = ARRAY_LEN(cases);
	struct CMUnitTest *tests = calloc(n, sizeof(*tests));
	char **names = calloc(n, sizeof(*names));
	int failed = -1;

	if (!tests || !names)
		goto cleanup;
	for (size_t i = 0; i < n; i++) {
		if (asprintf(&names[i], "%s%s", prefix, cases[i].name) < 0) {
			names[i] = NULL;
			goto cleanup;
		}
		tests[i] = (struct CMUnitTest){ .name = names[i], .test_func = test,
						.setup_func = checks_reset,
						.initial_state = (void *)&cases[i] };
	}
	failed = _cmocka_run_group_tests(group, tests, n, group_setup, group_teardown);
cleanup:
	for (size_t i = 0; names && i < n; i++)
		free(names[i]);
	free(names);
	free(tests);
	return failed;
}

int main(void)
{
	const struct CMUnitTest fuzz_tests[] = {
		cmocka_unit_test_setup(fuzz_random_frames, checks_reset),
		cmocka_unit_test_setup(fuzz_truncated_table_frames, checks_reset),
	};
	int failed = 0;

	/* Line-buffered, so libbpf's and our messages stay in order with cmocka's. */
	setvbuf(stdout, NULL, _IOLBF, 0);
	failed += run_table("xdp", xdp_case_test, "");
	failed += run_table("parser", parse_case_test, "parse_");
	failed += cmocka_run_group_tests_name("fuzz", fuzz_tests, group_setup, group_teardown);
	return failed ? 1 : 0;
}
