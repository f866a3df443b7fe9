/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * What the XDP program and userspace both see: map keys and values, the
 * outcome counters, and the limits on what a map may hold. Only fixed-width
 * types and explicit padding, with the size of every struct that crosses the
 * boundary asserted, so a layout change is a compile error on both sides.
 */
#ifndef SLUICE_H
#define SLUICE_H

#include <linux/types.h>

/*
 * An address is a family byte and 16 bytes, IPv4 in the first 4 of them and
 * the rest zero. The prefix tries match the family byte before the address,
 * so one trie holds both families and no IPv6 prefix can cover an IPv4
 * address (as ::/8 would if IPv4 were kept IPv4-mapped); only the default,
 * which matches no bits at all, covers both.
 */
#define SLUICE_ADDR_LEN 16
#define SLUICE_FAMILY_BITS 8

enum sluice_family {
	SLUICE_FAMILY_IPV4 = 4,
	SLUICE_FAMILY_IPV6 = 6,
};

/*
 * Key of the prefix tries (limits, allow list, deny list). prefixlen counts
 * the family byte: an IPv4 /N is 8+N, an IPv6 /N is 8+N, the default is 0.
 */
struct sluice_prefix_key {
	__u32 prefixlen;
	__u8 family;		/* enum sluice_family, or 0 for the default */
	__u8 addr[SLUICE_ADDR_LEN];
	__u8 pad[3];
};
_Static_assert(sizeof(struct sluice_prefix_key) == 24, "sluice_prefix_key layout");

/* Key of the per-source bucket table. */
struct sluice_source_key {
	__u8 family;		/* enum sluice_family */
	__u8 addr[SLUICE_ADDR_LEN];
	__u8 pad[3];
};
_Static_assert(sizeof(struct sluice_source_key) == 20, "sluice_source_key layout");

/* The trie key that finds the rules for one source: all of its bits. */
static inline void sluice_source_prefix(struct sluice_prefix_key *key,
					const struct sluice_source_key *src)
{
	key->prefixlen = SLUICE_FAMILY_BITS + SLUICE_ADDR_LEN * 8;
	key->family = src->family;
	__builtin_memcpy(key->addr, src->addr, SLUICE_ADDR_LEN);
	key->pad[0] = key->pad[1] = key->pad[2] = 0;
}

enum sluice_limit_flags {
	/* Sources under this prefix are not limited at all. */
	SLUICE_LIMIT_UNLIMITED = 1 << 0,
};

/*
 * A per-source limit: the value of the limits trie. The prefix of length 0
 * holds the default limit, so longest-prefix match picks an override or the default in
 * one lookup. rate and burst are what the operator set; interval and depth
 * are derived from them by sluice_limit_init() (include/token_bucket.h), the
 * one place that does it, so the data path never divides.
 */
struct sluice_limit {
	__u64 rate;		/* packets per second */
	__u64 burst;		/* packets */
	__u64 interval;		/* sluice time units (ps) one packet costs */
	__u64 depth;		/* burst * interval: the bucket's size in time */
	__u32 flags;		/* enum sluice_limit_flags */
	__u32 pad;
};
_Static_assert(sizeof(struct sluice_limit) == 40, "sluice_limit layout");

/*
 * The token bucket of one source, shared by all CPUs (see token_bucket.h for
 * why one word of state is enough). The counters let `sluice top` rank sources
 * by what was dropped; all fields are updated with atomic instructions.
 */
struct sluice_bucket {
	__u64 full_at;		/* sluice time at which the bucket is full again */
	__u64 passed;		/* packets */
	__u64 dropped;		/* packets */
};
_Static_assert(sizeof(struct sluice_bucket) == 24, "sluice_bucket layout");

/* Value of the allow and deny tries. */
struct sluice_list_entry {
	__u64 hits;		/* packets that matched this prefix */
};
_Static_assert(sizeof(struct sluice_list_entry) == 8, "sluice_list_entry layout");

/*
 * What the data path is told about the rules as a whole: the value of the
 * one-entry config array. A list marked empty is not looked up at all (an
 * LPM lookup costs about 13 ns a packet even on an empty trie). The marks
 * are derived from the lists by every sluice command that changes state, so
 * zero, the value of a fresh map, is the safe default: look everything up.
 */
enum sluice_config_flags {
	SLUICE_ALLOW_LIST_EMPTY = 1 << 0,
	SLUICE_DENY_LIST_EMPTY = 1 << 1,
};

struct sluice_config {
	__u32 flags;		/* enum sluice_config_flags */
	__u32 pad;
};
_Static_assert(sizeof(struct sluice_config) == 8, "sluice_config layout");

/*
 * Every packet ends in exactly one outcome, and each has a per-CPU counter.
 * X(enum suffix, name in stats and JSON, 1 if the packet is dropped, why)
 * The list is written once; the enum, the verdict and userspace's tables
 * all expand it.
 */
#define SLUICE_OUTCOMES(X)                                                              \
	X(PASSED, "passed", 0, "within its source's limit")                             \
	X(PASSED_UNLIMITED, "passed_unlimited", 0, "no limit applies to its source")    \
	X(PASSED_ALLOWED, "passed_allowed", 0, "source on the allow list")              \
	X(PASSED_NEIGHBOR, "passed_neighbor_discovery", 0,                              \
	  "IPv6 neighbor discovery, never limited")                                     \
	X(PASSED_NOT_IP, "passed_not_ip", 0, "not IPv4 or IPv6 (ARP, LLDP, ...)")       \
	X(PASSED_MALFORMED, "passed_malformed", 0, "truncated or malformed header")     \
	X(PASSED_FAULT, "passed_fault", 0, "sluice could not decide, so failed open")   \
	X(DROPPED_DENIED, "dropped_denied", 1, "source on the deny list")               \
	X(DROPPED_RATE, "dropped_rate", 1, "source over its rate limit")

#define SLUICE_OUTCOME_ENUM(name, key, drops, help) SLUICE_##name,
enum sluice_outcome {
	SLUICE_OUTCOMES(SLUICE_OUTCOME_ENUM)
	SLUICE_OUTCOME_COUNT
};
#undef SLUICE_OUTCOME_ENUM

/* Whether an outcome drops the packet. */
static inline int sluice_outcome_drops(enum sluice_outcome outcome)
{
#define SLUICE_OUTCOME_DROPS(name, key, drops, help) case SLUICE_##name: return drops;
	switch (outcome) {
		SLUICE_OUTCOMES(SLUICE_OUTCOME_DROPS)
	default:
		return 0;
	}
#undef SLUICE_OUTCOME_DROPS
}

/* Value of the per-CPU counters array, indexed by enum sluice_outcome. */
struct sluice_counter {
	__u64 packets;
	__u64 bytes;
};
_Static_assert(sizeof(struct sluice_counter) == 16, "sluice_counter layout");

/*
 * Map sizes. The tries are not preallocated, so their size is only a cap.
 * The bucket table is a preallocated LRU hash: a flood of spoofed sources
 * evicts the least recently seen sources, never a rule, and cannot grow
 * memory. About 100 bytes of kernel memory per entry.
 */
#define SLUICE_MAX_SOURCES (1u << 20)	/* the default; --max-sources sets another */
#define SLUICE_MIN_SOURCES_OPTION 1024u
#define SLUICE_MAX_SOURCES_OPTION (1u << 26)
#define SLUICE_MAX_PREFIXES (1u << 20)

/* Names of the pinned objects under the pin root (kernel limit: 15 chars). */
#define SLUICE_MAP_COUNTERS "counters"
#define SLUICE_MAP_BUCKETS "buckets"
#define SLUICE_MAP_LIMITS "limits"
#define SLUICE_MAP_ALLOW "allow_list"
#define SLUICE_MAP_DENY "deny_list"
#define SLUICE_MAP_CONFIG "config"
#define SLUICE_LINK_PREFIX "link_"

#endif /* SLUICE_H */
