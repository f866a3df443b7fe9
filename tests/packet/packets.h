/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The packet tests' toolkit:
 *  - a frame builder driven by a declarative struct pkt_spec: Ethernet, VLAN
 *    tags, IPv4 with options and fragment fields, IPv6 with a chain of
 *    extension headers, TCP/UDP/ICMP/ICMPv6, and cuts anywhere;
 *  - soft checks that name what they check and print actual against
 *    expected, and hard ones that end the test;
 *  - helpers that run a frame through an XDP program with
 *    bpf_prog_test_run_opts and read or preset Sluice's maps, rules set
 *    through user/rules.h as `sluice limit set` sets them;
 *  - a fixture that loads Sluice on the fake clock, or says why it cannot.
 */
#ifndef SLUICE_TEST_PACKETS_H
#define SLUICE_TEST_PACKETS_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/in6.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "sluice.h"
#include "testing.h"
#include "token_bucket.h"
#include "parse.h"
#include "rules.h"
#include "sluice.skel.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* ---- Checks ------------------------------------------------------------ */

/* Soft checks record a failure and go on, so one run shows every mismatch. */
static int check_failures __attribute__((unused));

#define EXPECT_EQ(got, want, ...)                                                       \
	do {                                                                             \
		unsigned long long got_ = (unsigned long long)(got);                     \
		unsigned long long want_ = (unsigned long long)(want);                   \
		if (got_ != want_) {                                                     \
			print_message("# %s:%d: ", __FILE__, __LINE__);                  \
			print_message(__VA_ARGS__);                                      \
			print_message(": got %llu, want %llu\n", got_, want_);           \
			check_failures++;                                                \
		}                                                                        \
	} while (0)

#define EXPECT_MEM_EQ(got, want, len, ...)                                              \
	do {                                                                             \
		if (memcmp((got), (want), (len))) {                                      \
			print_message("# %s:%d: ", __FILE__, __LINE__);                  \
			print_message(__VA_ARGS__);                                      \
			print_message(": got ");                                         \
			print_hex((got), (len));                                         \
			print_message(", want ");                                        \
			print_hex((want), (len));                                        \
			print_message("\n");                                             \
			check_failures++;                                                \
		}                                                                        \
	} while (0)

/* Ends the test at once when a step that later checks rely on fails. */
#define ASSERT_OK(err, ...)                                                             \
	do {                                                                             \
		int err_ = (err);                                                        \
		if (err_) {                                                              \
			print_message("# %s:%d: ", __FILE__, __LINE__);                  \
			print_message(__VA_ARGS__);                                      \
			print_message(": error %d (%s), want 0\n", err_, strerror(-err_)); \
			fail();                                                          \
		}                                                                        \
	} while (0)

/* Fails the test if any soft check failed since the last call. */
#define CHECKS_DONE()                                                                   \
	do {                                                                             \
		int failures_ = check_failures;                                          \
		check_failures = 0;                                                      \
		if (failures_) {                                                         \
			print_message("# %d check(s) failed\n", failures_);              \
			fail();                                                          \
		}                                                                        \
	} while (0)

/* A cmocka setup: a test that ended at a hard check leaves no soft failures behind. */
static inline int checks_reset(void **state)
{
	(void)state;
	check_failures = 0;
	return 0;
}

static inline void print_hex(const void *data, size_t len)
{
	const __u8 *bytes = data;

	for (size_t i = 0; i < len; i++)
		print_message("%02x", bytes[i]);
}

static inline const char *outcome_name(unsigned int outcome)
{
#define PKT_OUTCOME_NAME(name, key, drops, help) [SLUICE_##name] = key,
	static const char *const names[SLUICE_OUTCOME_COUNT] = {
		SLUICE_OUTCOMES(PKT_OUTCOME_NAME)
	};
#undef PKT_OUTCOME_NAME
	return outcome < SLUICE_OUTCOME_COUNT ? names[outcome] : "?";
}

static inline const char *verdict_name(__u32 verdict)
{
	static const char *const names[] = { "XDP_ABORTED", "XDP_DROP", "XDP_PASS", "XDP_TX",
					     "XDP_REDIRECT" };

	return verdict < ARRAY_LEN(names) ? names[verdict] : "?";
}

#define EXPECT_VERDICT(got, want, ...)                                                  \
	do {                                                                             \
		__u32 gotv_ = (got), wantv_ = (want);                                    \
		if (gotv_ != wantv_) {                                                   \
			print_message("# %s:%d: ", __FILE__, __LINE__);                  \
			print_message(__VA_ARGS__);                                      \
			print_message(": got %s, want %s\n", verdict_name(gotv_),        \
				      verdict_name(wantv_));                             \
			check_failures++;                                                \
		}                                                                        \
	} while (0)

/* ---- Addresses --------------------------------------------------------- */

/*
 * Text to Sluice's keys through parse_prefix() (user/parse.c), so the tests
 * read "198.18.0.0/24", "::ffff:198.18.0.1" or "default" exactly as the CLI
 * does, host-bit check included. Each returns 0, or -EINVAL and says why.
 */
static inline int prefix_key(const char *text, struct sluice_prefix_key *key)
{
	char err[SLUICE_ERR_LEN];

	if (parse_prefix("prefix", text, key, err, sizeof(err))) {
		print_message("# %s\n", err);
		return -EINVAL;
	}
	return 0;
}

/* One address (no prefix length, or the full one) as the bucket table keys it. */
static inline int source_key(const char *text, struct sluice_source_key *src)
{
	struct sluice_prefix_key key;

	if (prefix_key(text, &key))
		return -EINVAL;
	if (key.prefixlen != SLUICE_FAMILY_BITS + (key.family == SLUICE_FAMILY_IPV4 ? 32 : 128)) {
		print_message("# '%s' is not one IPv4 or IPv6 address\n", text);
		return -EINVAL;
	}
	memset(src, 0, sizeof(*src));
	src->family = key.family;
	memcpy(src->addr, key.addr, SLUICE_ADDR_LEN);
	return 0;
}

/* ---- Frame builder ----------------------------------------------------- */

#define PKT_MAX_LEN 2048
#define PKT_MAX_VLAN 4
#define PKT_MAX_EXT 24
#define PKT_DEFAULT_TTL 64

enum pkt_l3 {
	PKT_IPV4 = 1,
	PKT_IPV6,
	PKT_ARP,
	PKT_OTHER,		/* .ethertype, then the payload */
	PKT_RAW,		/* the frame is .raw (or .raw_len bytes of .fill), nothing else */
};

/* One IPv6 extension header. */
struct pkt_ext {
	__u8 present;
	__u8 type;		/* IPPROTO_HOPOPTS, _ROUTING, _DSTOPTS, _AH or _FRAGMENT */
	__u8 len;		/* its length field: 8-octet units after the first 8 (AH: 4-octet units less 2) */
	__u16 offset;		/* fragment offset, in 8-octet units */
	__u8 more;		/* the M (more fragments) flag */
};

#define PKT_HBH(n) { .present = 1, .type = IPPROTO_HOPOPTS, .len = (n) }
#define PKT_RT(n) { .present = 1, .type = IPPROTO_ROUTING, .len = (n) }
#define PKT_DST(n) { .present = 1, .type = IPPROTO_DSTOPTS, .len = (n) }
#define PKT_AH(n) { .present = 1, .type = IPPROTO_AH, .len = (n) }
#define PKT_FRAG(off, m) { .present = 1, .type = IPPROTO_FRAGMENT, .offset = (off), .more = (m) }

struct pkt_spec {
	enum pkt_l3 l3;
	__u16 vlan[PKT_MAX_VLAN];	/* TPIDs of the tags, outermost first; 0 ends the list */
	__u16 ethertype;		/* PKT_OTHER only */
	const char *src;
	const char *dst;
	__u8 ttl;			/* TTL or hop limit; 0 means PKT_DEFAULT_TTL */
	__u8 version;			/* 0: 4 or 6, whichever is right */

	/* IPv4 */
	__u8 ihl;			/* 0 means 5; 6..15 add NOP options; under 5 still writes 20 bytes */
	__u16 frag_offset;		/* 8-octet units */
	__u8 more_fragments;
	__u8 dont_fragment;

	/* IPv6 */
	struct pkt_ext ext[PKT_MAX_EXT];

	/* Upper layer: not written in a later fragment, whose payload starts there instead. */
	__u8 l4;			/* IPPROTO_* (also the last Next Header) */
	__u16 sport;
	__u16 dport;
	__u8 tcp_flags;
	__u8 tcp_doff;			/* 0 means 5 */
	__u8 icmp_type;
	__u16 payload_len;
	__u8 payload_fill;		/* 0: a counting pattern from 0x12 */

	/* Cuts */
	__u8 l4_cut;			/* keep only l4_keep bytes from where the L4 header starts */
	__u16 l4_keep;
	__u16 cut;			/* nonzero: cut the frame to this many bytes */

	/* PKT_RAW */
	const char *raw;
	__u16 raw_len;
	__u8 fill;
};

struct pkt {
	__u8 data[PKT_MAX_LEN];
	__u32 len;
};

static inline void put16(__u8 *p, __u16 v)
{
	p[0] = v >> 8;
	p[1] = v & 0xff;
}

static inline void put32(__u8 *p, __u32 v)
{
	put16(p, v >> 16);
	put16(p + 2, v & 0xffff);
}

static inline __u16 ipv4_checksum(const __u8 *header, size_t len)
{
	__u32 sum = 0;

	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (header[i] << 8) | header[i + 1];
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return ~sum & 0xffff;
}

static inline int pkt_is_later_fragment(const struct pkt_spec *s)
{
	if (s->l3 == PKT_IPV4)
		return s->frag_offset != 0;
	for (int i = 0; i < PKT_MAX_EXT && s->ext[i].present; i++)
		if (s->ext[i].type == IPPROTO_FRAGMENT && s->ext[i].offset)
			return 1;
	return 0;
}

/* Writes one extension header at p, returns its length. */
static inline size_t pkt_put_ext(__u8 *p, const struct pkt_ext *ext, __u8 next)
{
	size_t len;

	p[0] = next;
	switch (ext->type) {
	case IPPROTO_FRAGMENT:
		put16(p + 2, (__u16)(ext->offset << 3) | (ext->more ? 1 : 0));
		put32(p + 4, 0x5eed0001);	/* identification */
		return 8;
	case IPPROTO_AH:
		len = (ext->len + 2) * 4;
		p[1] = ext->len;
		put32(p + 4, 0x100);		/* SPI */
		put32(p + 8, 1);		/* sequence number; the ICV stays zero */
		return len;
	default:
		len = (ext->len + 1) * 8;
		p[1] = ext->len;
		if (ext->type == IPPROTO_ROUTING) {
			p[2] = 4;		/* segment routing; segments left 0 */
		} else {
			p[2] = 1;		/* one PadN option fills the header */
			p[3] = len - 4;
		}
		return len;
	}
}

/* Builds the frame that s describes; returns 0, or -EINVAL for a bad spec. */
static inline int pkt_build(const struct pkt_spec *s, struct pkt *p)
{
	static const __u8 macs[12] = { 0x02, 0, 0, 0, 0, 0x02, 0x02, 0, 0, 0, 0, 0x01 };
	struct sluice_source_key src = {}, dst = {};
	__u8 *d = p->data;
	size_t off, l3, l4, ip_header_len = 0;
	int later = pkt_is_later_fragment(s);
	__u16 ethertype;

	memset(p, 0, sizeof(*p));
	if (s->l3 == PKT_RAW) {
		if (s->raw)
			memcpy(d, s->raw, s->raw_len);
		else
			memset(d, s->fill, s->raw_len);
		p->len = s->raw_len;
		return 0;
	}
	if (s->l3 == PKT_IPV4 || s->l3 == PKT_IPV6 || s->l3 == PKT_ARP) {
		__u8 family = s->l3 == PKT_IPV6 ? SLUICE_FAMILY_IPV6 : SLUICE_FAMILY_IPV4;

		if (!s->src || !s->dst || source_key(s->src, &src) || source_key(s->dst, &dst) ||
		    src.family != family || dst.family != family)
			return -EINVAL;
	}
	switch (s->l3) {
	case PKT_IPV4:
	case PKT_ARP:
		ethertype = s->l3 == PKT_IPV4 ? ETH_P_IP : ETH_P_ARP;
		break;
	case PKT_IPV6:
		ethertype = ETH_P_IPV6;
		break;
	case PKT_OTHER:
		ethertype = s->ethertype;
		break;
	default:
		return -EINVAL;
	}

	memcpy(d, macs, sizeof(macs));
	off = sizeof(macs);
	for (int i = 0; i < PKT_MAX_VLAN && s->vlan[i]; i++) {
		put16(d + off, s->vlan[i]);
		put16(d + off + 2, 100 + i);	/* TCI: priority 0, VLAN ID 100, 101, ... */
		off += 4;
	}
	put16(d + off, ethertype);
	off += 2;
	l3 = off;

	if (s->l3 == PKT_IPV4) {
		__u8 ihl = s->ihl ? s->ihl : 5;

		ip_header_len = ihl < 5 ? 20 : ihl * 4u;
		d[l3] = (s->version ? s->version : 4) << 4 | ihl;
		put16(d + l3 + 4, 0x1234);	/* identification */
		put16(d + l3 + 6, (s->dont_fragment ? 0x4000 : 0) |
				  (s->more_fragments ? 0x2000 : 0) | (s->frag_offset & 0x1fff));
		d[l3 + 8] = s->ttl ? s->ttl : PKT_DEFAULT_TTL;
		d[l3 + 9] = s->l4;
		memcpy(d + l3 + 12, src.addr, 4);
		memcpy(d + l3 + 16, dst.addr, 4);
		memset(d + l3 + 20, 1, ip_header_len - 20);	/* NOP options */
		off += ip_header_len;
	} else if (s->l3 == PKT_IPV6) {
		int n = 0;

		while (n < PKT_MAX_EXT && s->ext[n].present)
			n++;
		d[l3] = (s->version ? s->version : 6) << 4;
		d[l3 + 6] = n ? s->ext[0].type : s->l4;
		d[l3 + 7] = s->ttl ? s->ttl : PKT_DEFAULT_TTL;
		memcpy(d + l3 + 8, src.addr, 16);
		memcpy(d + l3 + 24, dst.addr, 16);
		off += 40;
		for (int i = 0; i < n; i++)
			off += pkt_put_ext(d + off, &s->ext[i], i + 1 < n ? s->ext[i + 1].type : s->l4);
	} else if (s->l3 == PKT_ARP) {
		put16(d + off, 1);		/* Ethernet */
		put16(d + off + 2, ETH_P_IP);
		d[off + 4] = 6;
		d[off + 5] = 4;
		put16(d + off + 6, 1);		/* request */
		memcpy(d + off + 8, macs + 6, 6);
		memcpy(d + off + 14, src.addr, 4);
		memcpy(d + off + 24, dst.addr, 4);
		off += 28;
	}
	l4 = off;

	if ((s->l3 == PKT_IPV4 || s->l3 == PKT_IPV6) && !later) {
		switch (s->l4) {
		case IPPROTO_TCP: {
			__u8 doff = s->tcp_doff ? s->tcp_doff : 5;

			put16(d + off, s->sport);
			put16(d + off + 2, s->dport);
			put32(d + off + 4, 1000);	/* sequence number */
			d[off + 12] = doff << 4;
			d[off + 13] = s->tcp_flags;
			put16(d + off + 14, 65535);	/* window */
			off += doff > 5 ? doff * 4u : 20;
			break;
		}
		case IPPROTO_UDP:
			put16(d + off, s->sport);
			put16(d + off + 2, s->dport);
			off += 8;			/* the length is filled in below */
			break;
		case IPPROTO_ICMP:
		case IPPROTO_ICMPV6:
			d[off] = s->icmp_type;
			put32(d + off + 4, 0x00010001);	/* identifier and sequence, or reserved */
			off += 8;
			/* Neighbor solicitation, advertisement and redirect carry a target. */
			if (s->l4 == IPPROTO_ICMPV6 && s->icmp_type >= 135 && s->icmp_type <= 137) {
				memcpy(d + off, dst.addr, 16);
				off += 16;
			}
			break;
		default:
			break;
		}
	}
	for (size_t i = 0; i < s->payload_len; i++)
		d[off + i] = s->payload_fill ? s->payload_fill : (__u8)(0x12 + i);
	off += s->payload_len;
	if (off > PKT_MAX_LEN)
		return -EINVAL;

	/* Lengths and checksum describe the whole packet, before any cut. */
	if (s->l3 == PKT_IPV4) {
		put16(d + l3 + 2, off - l3);
		put16(d + l3 + 10, ipv4_checksum(d + l3, ip_header_len));
	} else if (s->l3 == PKT_IPV6) {
		put16(d + l3 + 4, off - l3 - 40);
	}
	if (s->l4 == IPPROTO_UDP && !later && (s->l3 == PKT_IPV4 || s->l3 == PKT_IPV6))
		put16(d + l4 + 4, off - l4);

	p->len = off;
	if (s->l4_cut && l4 + s->l4_keep < p->len)
		p->len = l4 + s->l4_keep;
	if (s->cut && s->cut < p->len)
		p->len = s->cut;
	return 0;
}

/* ---- Running frames ---------------------------------------------------- */

/* Runs one frame through an XDP program; returns 0 or -errno (EINVAL under 14 bytes). */
static inline int xdp_run(const struct bpf_program *prog, const void *frame, __u32 len,
			  __u32 *verdict)
{
	LIBBPF_OPTS(bpf_test_run_opts, opts, .data_in = frame, .data_size_in = len, .repeat = 1);
	int err = bpf_prog_test_run_opts(bpf_program__fd(prog), &opts);

	if (err)
		return err;
	*verdict = opts.retval;
	return 0;
}

/* ---- Maps -------------------------------------------------------------- */

/* The outcome counters, summed over all possible CPUs. */
static inline int counters_read(const struct bpf_map *counters,
				struct sluice_counter sum[SLUICE_OUTCOME_COUNT])
{
	int ncpus = libbpf_num_possible_cpus();
	struct sluice_counter *percpu;
	int err = 0;

	if (ncpus < 1)
		return ncpus;
	percpu = calloc(ncpus, sizeof(*percpu));
	if (!percpu)
		return -ENOMEM;
	for (__u32 key = 0; key < SLUICE_OUTCOME_COUNT; key++) {
		err = bpf_map__lookup_elem(counters, &key, sizeof(key), percpu,
					   ncpus * sizeof(*percpu), 0);
		if (err)
			break;
		sum[key] = (struct sluice_counter){};
		for (int cpu = 0; cpu < ncpus; cpu++) {
			sum[key].packets += percpu[cpu].packets;
			sum[key].bytes += percpu[cpu].bytes;
		}
	}
	free(percpu);
	return err;
}

/* An outcome and how many packets ended in it. */
struct count {
	enum sluice_outcome outcome;
	__u64 packets;
};

/*
 * The outcome counters of `counters` since the test began: these, and
 * every other one zero. EXPECT_OUTCOMES({ SLUICE_PASSED, 2 }, ...) checks
 * those of the test's fixture, `fx`.
 */
#define EXPECT_OUTCOMES(...)                                                            \
	expect_outcomes(fx.skel->maps.counters, (const struct count[]){ __VA_ARGS__, { 0, 0 } })

static inline void expect_outcomes(const struct bpf_map *counters, const struct count *want)
{
	struct sluice_counter c[SLUICE_OUTCOME_COUNT];
	__u64 expected[SLUICE_OUTCOME_COUNT] = {};

	for (; want->packets; want++)
		expected[want->outcome] += want->packets;
	ASSERT_OK(counters_read(counters, c), "read the outcome counters");
	for (int o = 0; o < SLUICE_OUTCOME_COUNT; o++)
		EXPECT_EQ(c[o].packets, expected[o], "outcome %s: packets", outcome_name(o));
}

/* One outcome's counter on one CPU. */
static inline int counter_read_cpu(const struct bpf_map *counters, __u32 outcome, int cpu,
				   struct sluice_counter *out)
{
	int ncpus = libbpf_num_possible_cpus();
	struct sluice_counter *percpu;
	int err;

	if (cpu < 0 || cpu >= ncpus)
		return -EINVAL;
	percpu = calloc(ncpus, sizeof(*percpu));
	if (!percpu)
		return -ENOMEM;
	err = bpf_map__lookup_elem(counters, &outcome, sizeof(outcome), percpu,
				   ncpus * sizeof(*percpu), 0);
	if (!err)
		*out = percpu[cpu];
	free(percpu);
	return err;
}

static inline int counters_zero(const struct bpf_map *counters)
{
	int ncpus = libbpf_num_possible_cpus();
	struct sluice_counter *zeros;
	int err = 0;

	if (ncpus < 1)
		return ncpus;
	zeros = calloc(ncpus, sizeof(*zeros));
	if (!zeros)
		return -ENOMEM;
	for (__u32 key = 0; key < SLUICE_OUTCOME_COUNT && !err; key++)
		err = bpf_map__update_elem(counters, &key, sizeof(key), zeros,
					   ncpus * sizeof(*zeros), BPF_ANY);
	free(zeros);
	return err;
}

/*
 * Deletes every entry. Keys are collected first, in one walk: starting each
 * walk over from NULL would rescan the bucket table's million slots per key.
 */
static inline int map_clear(const struct bpf_map *map)
{
	size_t key_size = bpf_map__key_size(map), count = 0, cap = 64;
	__u8 *keys = malloc(cap * key_size), *prev = NULL;
	int err = 0;

	if (!keys)
		return -ENOMEM;
	for (;;) {
		if (count == cap) {
			__u8 *more = realloc(keys, 2 * cap * key_size);

			if (!more) {
				err = -ENOMEM;
				goto cleanup;
			}
			keys = more;
			cap *= 2;
		}
		prev = count ? keys + (count - 1) * key_size : NULL;
		err = bpf_map__get_next_key(map, prev, keys + count * key_size, key_size);
		if (err == -ENOENT)
			break;
		if (err)
			goto cleanup;
		count++;
	}
	err = 0;
	for (size_t i = 0; i < count && !err; i++) {
		err = bpf_map__delete_elem(map, keys + i * key_size, key_size, 0);
		if (err == -ENOENT)
			err = 0;
	}
cleanup:
	free(keys);
	return err;
}

/* Adds a prefix to the allow or deny list with zero hits. */
static inline int list_add(const struct bpf_map *list, const char *prefix)
{
	struct sluice_prefix_key key;
	struct sluice_list_entry entry = {};

	if (prefix_key(prefix, &key))
		return -EINVAL;
	return bpf_map__update_elem(list, &key, sizeof(key), &entry, sizeof(entry), BPF_ANY);
}

static inline int list_hits(const struct bpf_map *list, const char *prefix, __u64 *hits)
{
	struct sluice_prefix_key key;
	struct sluice_list_entry entry;
	int err;

	if (prefix_key(prefix, &key))
		return -EINVAL;
	err = bpf_map__lookup_elem(list, &key, sizeof(key), &entry, sizeof(entry), 0);
	if (!err)
		*hits = entry.hits;
	return err;
}

/* ---- Fixture ----------------------------------------------------------- */

struct sluice_fixture {
	struct sluice_bpf *skel;
	const char *skip_reason;	/* set when the machine cannot run the tests */
};

static inline int libbpf_print_tap(enum libbpf_print_level level, const char *format,
				   va_list args)
{
	char line[1024];

	if (level == LIBBPF_DEBUG)
		return 0;
	vsnprintf(line, sizeof(line), format, args);
	print_message("# libbpf: %s", line);
	return 0;
}

/* Opens Sluice, switches it to the fake clock and loads it, maps unpinned. */
static inline int sluice_fixture_setup(struct sluice_fixture *fx)
{
	int err;

	memset(fx, 0, sizeof(*fx));
	libbpf_set_print(libbpf_print_tap);
	if (geteuid() != 0) {
		fx->skip_reason = "loading BPF programs needs root";
		return 0;
	}
	fx->skel = sluice_bpf__open();
	if (!fx->skel) {
		print_message("# sluice_bpf__open: %s\n", strerror(errno));
		return -1;
	}
	fx->skel->rodata->use_fake_clock = 1;
	err = sluice_bpf__load(fx->skel);
	if (err) {
		print_message("# sluice_bpf__load: %s\n", strerror(-err));
		sluice_bpf__destroy(fx->skel);
		fx->skel = NULL;
		return -1;
	}
	return 0;
}

static inline void sluice_fixture_teardown(struct sluice_fixture *fx)
{
	sluice_bpf__destroy(fx->skel);
	fx->skel = NULL;
}

/* The map fds user/rules.h works on, from the fixture's skeleton. */
static inline struct rule_maps fixture_rule_maps(const struct sluice_fixture *fx)
{
	const struct sluice_bpf *skel = fx->skel;

	return (struct rule_maps){
		.rules = bpf_map__fd(skel->maps.rules),
		.source_rules = bpf_map__fd(skel->maps.source_rules),
		.prefix_rules = bpf_map__fd(skel->maps.prefix_rules),
		.port_rules = bpf_map__fd(skel->maps.port_rules),
		.rule_state = bpf_map__fd(skel->maps.rule_state),
		.rule_counters = bpf_map__fd(skel->maps.rule_counters),
		.config = bpf_map__fd(skel->maps.config),
		.buckets = bpf_map__fd(skel->maps.buckets),
	};
}

/* The config map's one value. */
static inline int config_read(const struct bpf_map *config, struct sluice_config *cfg)
{
	__u32 zero = 0;

	return bpf_map__lookup_elem(config, &zero, sizeof(zero), cfg, sizeof(*cfg), 0);
}

/*
 * Sets the flags of the config map (0: every list is looked up, as in a
 * fresh map), keeping the global rules it carries.
 */
static inline int config_write(const struct bpf_map *config, __u32 flags)
{
	struct sluice_config cfg;
	__u32 zero = 0;
	int err = config_read(config, &cfg);

	if (err)
		return err;
	cfg.flags = flags;
	return bpf_map__update_elem(config, &zero, sizeof(zero), &cfg, sizeof(cfg), BPF_ANY);
}

/*
 * Zeroes every slot of an array map with batch updates: arrays have no
 * delete, and the rules' arrays hold 256k slots, too many for one update
 * each.
 */
static inline int array_zero(const struct bpf_map *map)
{
	enum { CHUNK = 8192 };
	__u32 entries = bpf_map__max_entries(map), *keys;
	size_t value_size = bpf_map__value_size(map);
	void *zeros;
	int err = 0;

	keys = calloc(CHUNK, sizeof(*keys));
	zeros = calloc(CHUNK, value_size);
	if (!keys || !zeros) {
		err = -ENOMEM;
		goto cleanup;
	}
	for (__u32 first = 0; first < entries && !err; first += CHUNK) {
		LIBBPF_OPTS(bpf_map_batch_opts, opts);
		__u32 count = entries - first < CHUNK ? entries - first : CHUNK;

		for (__u32 i = 0; i < count; i++)
			keys[i] = first + i;
		err = bpf_map_update_batch(bpf_map__fd(map), keys, zeros, &count, &opts);
	}
cleanup:
	free(keys);
	free(zeros);
	return err;
}

/*
 * A test file's fixture and cmocka's group setup and teardown for it: the
 * program is loaded once per group, and each test resets the maps.
 */
#define SLUICE_FIXTURE_GROUP(fx)                                                          \
	static struct sluice_fixture fx;                                                  \
	static int group_setup(void **state)                                              \
	{                                                                                 \
		(void)state;                                                              \
		return sluice_fixture_setup(&fx);                                         \
	}                                                                                 \
	static int group_teardown(void **state)                                           \
	{                                                                                 \
		(void)state;                                                              \
		sluice_fixture_teardown(&fx);                                             \
		return 0;                                                                 \
	}

/* Empties every map and sets the fake clock, so each test starts alike. */
static inline int sluice_fixture_reset(struct sluice_fixture *fx, __u64 now_ns)
{
	struct sluice_bpf *skel = fx->skel;
	struct sluice_config cfg = {};
	__u32 zero = 0;
	int err;

	err = map_clear(skel->maps.buckets);
	err = err ? err : map_clear(skel->maps.source_rules);
	err = err ? err : map_clear(skel->maps.prefix_rules);
	err = err ? err : array_zero(skel->maps.port_rules);
	err = err ? err : array_zero(skel->maps.rules);
	err = err ? err : array_zero(skel->maps.rule_state);
	err = err ? err : array_zero(skel->maps.rule_counters);
	err = err ? err : map_clear(skel->maps.allow_list);
	err = err ? err : map_clear(skel->maps.deny_list);
	err = err ? err : counters_zero(skel->maps.counters);
	err = err ? err : bpf_map__update_elem(skel->maps.config, &zero, sizeof(zero), &cfg,
					       sizeof(cfg), BPF_ANY);
	skel->bss->fake_now_ns = now_ns;
	return err;
}

/* Sluice time (picoseconds) of the fake clock, as the program computes it. */
static inline __u64 sluice_fake_now(const struct sluice_fixture *fx)
{
	return sluice_time_from_ns(fx->skel->bss->fake_now_ns);
}

/* ---- Rules ------------------------------------------------------------- */

#define RULE_MAX_WORDS 24

/*
 * Parses the words of a `limit set` (with_limit) or `limit del` command,
 * "default --rate 100 --burst 10" say, through rule_parse() as the CLI does.
 * 0, or -EINVAL with the parser's message in err.
 */
static inline int rule_from_words(const char *words, bool with_limit, struct sluice_rule *rule,
				  char *err, size_t err_len)
{
	char buf[512], *argv[RULE_MAX_WORDS + 2], *save = NULL;
	int argc = 0;

	if (strlen(words) >= sizeof(buf)) {
		snprintf(err, err_len, "rule words too long: %.64s...", words);
		return -EINVAL;
	}
	strcpy(buf, words);
	argv[argc++] = with_limit ? "set" : "del";
	for (char *w = strtok_r(buf, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
		if (argc > RULE_MAX_WORDS) {
			snprintf(err, err_len, "too many words: %.64s...", words);
			return -EINVAL;
		}
		argv[argc++] = w;
	}
	argv[argc] = NULL;
	return rule_parse(argc, argv, with_limit, rule, err, err_len) ? -EINVAL : 0;
}

/*
 * `limit set WORDS` through rule_set(): 0 with the rule's id (and whether
 * it replaced one), or -errno with rule_set()'s message in err.
 */
static inline int rule_try(const struct sluice_fixture *fx, const char *words, __u32 *id,
			   bool *replaced, char *err, size_t err_len)
{
	struct rule_maps maps = fixture_rule_maps(fx);
	struct sluice_rule rule;
	bool was = false;
	__u32 got = 0;
	int ret = rule_from_words(words, true, &rule, err, err_len);

	if (ret)
		return ret;
	errno = 0;
	if (rule_set(&maps, &rule, &got, &was, err, err_len))
		return errno ? -errno : -EIO;
	if (id)
		*id = got;
	if (replaced)
		*replaced = was;
	return 0;
}

/* `limit set WORDS`: the rule's id (1 or more), or -errno after saying why. */
static inline int rule_add(const struct sluice_fixture *fx, const char *words)
{
	char err[SLUICE_ERR_LEN];
	__u32 id;
	int ret = rule_try(fx, words, &id, NULL, err, sizeof(err));

	if (ret) {
		print_message("# limit set %s: %s\n", words, err);
		return ret;
	}
	return (int)id;
}

/* `limit del WORDS`: 0, or -errno after saying why. */
static inline int rule_remove(const struct sluice_fixture *fx, const char *words)
{
	struct rule_maps maps = fixture_rule_maps(fx);
	char err[SLUICE_ERR_LEN];
	struct sluice_rule match;
	int ret = rule_from_words(words, false, &match, err, sizeof(err));

	if (!ret) {
		errno = 0;
		if (rule_del(&maps, &match, err, sizeof(err)))
			ret = errno ? -errno : -EIO;
	}
	if (ret)
		print_message("# limit del %s: %s\n", words, err);
	return ret;
}

/* The rule under an id as the maps hold it (flags 0 when the slot is empty). */
static inline int rule_read(const struct sluice_fixture *fx, __u32 id, struct sluice_rule *rule)
{
	return bpf_map__lookup_elem(fx->skel->maps.rules, &id, sizeof(id), rule, sizeof(*rule), 0);
}

static inline int rule_counters_read(const struct sluice_fixture *fx, __u32 id,
				     struct sluice_rule_counters *c)
{
	return bpf_map__lookup_elem(fx->skel->maps.rule_counters, &id, sizeof(id), c, sizeof(*c),
				    0);
}

/* The bucket of a rule that shares one (--per rule). */
static inline int rule_state_read(const struct sluice_fixture *fx, __u32 id,
				  struct sluice_bucket *bucket)
{
	return bpf_map__lookup_elem(fx->skel->maps.rule_state, &id, sizeof(id), bucket,
				    sizeof(*bucket), 0);
}

/*
 * The bucket key of a source under a per-source rule, built as the program
 * builds it: the rule's id, the family, the address masked to the rule's
 * group (group_v4 or group_v6 bits), the rest zero.
 */
static inline int bucket_key(const struct sluice_fixture *fx, __u32 rule_id, const char *addr,
			     struct sluice_bucket_key *key)
{
	struct sluice_source_key src;
	struct sluice_rule rule;
	unsigned int bits;
	int err;

	if (source_key(addr, &src))
		return -EINVAL;
	err = rule_read(fx, rule_id, &rule);
	if (err)
		return err;
	if (!(rule.flags & SLUICE_RULE_IN_USE)) {
		print_message("# no rule has id %u\n", rule_id);
		return -ENOENT;
	}
	bits = src.family == SLUICE_FAMILY_IPV4 ? rule.group_v4 : rule.group_v6;
	memset(key, 0, sizeof(*key));
	key->rule = rule_id;
	key->family = src.family;
	for (unsigned int i = 0; i < SLUICE_ADDR_LEN; i++) {
		unsigned int keep = bits > i * 8 ? bits - i * 8 : 0;

		key->addr[i] = keep >= 8 ? src.addr[i] : src.addr[i] & (__u8)(0xff << (8 - keep));
	}
	return 0;
}

/* A source's bucket under a per-source rule; -ENOENT when it has none. */
static inline int bucket_read(const struct sluice_fixture *fx, __u32 rule_id, const char *addr,
			      struct sluice_bucket *bucket)
{
	struct sluice_bucket_key key;
	int err = bucket_key(fx, rule_id, addr, &key);

	if (err)
		return err;
	return bpf_map__lookup_elem(fx->skel->maps.buckets, &key, sizeof(key), bucket,
				    sizeof(*bucket), 0);
}

static inline int bucket_write(const struct sluice_fixture *fx, __u32 rule_id, const char *addr,
			       const struct sluice_bucket *bucket)
{
	struct sluice_bucket_key key;
	int err = bucket_key(fx, rule_id, addr, &key);

	if (err)
		return err;
	return bpf_map__update_elem(fx->skel->maps.buckets, &key, sizeof(key), bucket,
				    sizeof(*bucket), BPF_ANY);
}

/* How many buckets the bucket table holds under a rule (0: under every rule). */
static inline int buckets_count(const struct sluice_fixture *fx, __u32 rule_id, size_t *count)
{
	const struct bpf_map *map = fx->skel->maps.buckets;
	struct sluice_bucket_key key, next;
	void *prev = NULL;
	int err;

	*count = 0;
	while (!(err = bpf_map__get_next_key(map, prev, &next, sizeof(next)))) {
		if (!rule_id || next.rule == rule_id)
			(*count)++;
		key = next;
		prev = &key;
	}
	return err == -ENOENT ? 0 : err;
}

/*
 * The ids the source level gives a source: the longest prefix in the
 * source_rules trie that covers it, as the program looks it up. -ENOENT
 * when no prefix does.
 */
static inline int source_rule_ids(const struct sluice_fixture *fx, const char *addr,
				  struct sluice_rule_ids *ids)
{
	struct sluice_source_key src;
	struct sluice_prefix_key key;

	if (source_key(addr, &src))
		return -EINVAL;
	sluice_source_prefix(&key, &src);
	return bpf_map__lookup_elem(fx->skel->maps.source_rules, &key, sizeof(key), ids,
				    sizeof(*ids), 0);
}

/* The first rule the source level gives a source, or 0 if none. */
static inline __u32 source_rule_first(const struct sluice_fixture *fx, const char *addr)
{
	struct sluice_rule_ids ids;

	if (source_rule_ids(fx, addr, &ids))
		return 0;
	for (int i = 0; i < SLUICE_RULES_PER_MATCH; i++)
		if (ids.id[i])
			return ids.id[i];
	return 0;
}

/* The ids the port table carries for a protocol (IPPROTO_TCP or _UDP) and port. */
static inline int port_rule_ids(const struct sluice_fixture *fx, __u8 proto, __u16 port,
				struct sluice_rule_ids *ids)
{
	__u32 index = (proto == IPPROTO_UDP ? 65536 : 0) + port;

	return bpf_map__lookup_elem(fx->skel->maps.port_rules, &index, sizeof(index), ids,
				    sizeof(*ids), 0);
}

/* Whether a rule set carries an id. */
static inline int ids_have(const struct sluice_rule_ids *ids, __u32 id)
{
	for (int i = 0; i < SLUICE_RULES_PER_MATCH; i++)
		if (id && ids->id[i] == id)
			return 1;
	return 0;
}

#endif /* SLUICE_TEST_PACKETS_H */
