// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The Sluice data path: one XDP program that parses, classifies, decides
 * and counts every packet, in that order:
 *   deny list -> allow list -> IPv6 neighbor discovery -> per-source limit.
 * It fails open: a packet it cannot parse, or a decision it cannot make,
 * passes and is counted.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "sluice.h"
#include "token_bucket.h"
#include "parse.bpf.h"

/*
 * Tests replace the clock: a const volatile switch, fixed before load, lets
 * the verifier drop the fake branch from the production program entirely.
 */
const volatile __u8 use_fake_clock = 0;
__u64 fake_now_ns = 0;

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, SLUICE_OUTCOME_COUNT);
	__type(key, __u32);
	__type(value, struct sluice_counter);
} counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SLUICE_MAX_SOURCES);
	__type(key, struct sluice_source_key);
	__type(value, struct sluice_bucket);
} buckets SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, SLUICE_MAX_PREFIXES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct sluice_prefix_key);
	__type(value, struct sluice_limit);
} limits SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, SLUICE_MAX_PREFIXES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct sluice_prefix_key);
	__type(value, struct sluice_list_entry);
} allow_list SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, SLUICE_MAX_PREFIXES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct sluice_prefix_key);
	__type(value, struct sluice_list_entry);
} deny_list SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sluice_config);
} config SEC(".maps");

#define READ_ONCE(x) (*(const volatile __typeof__(x) *)&(x))

/*
 * A compare-and-swap fails only when another CPU took a token meanwhile, so
 * each CPU receiving the source costs at most one retry. 16 covers 16 CPUs
 * on one source; past that the packet passes, counted as a fault.
 */
#define SLUICE_CAS_TRIES 16

/*
 * The coarse clock costs less than bpf_ktime_get_ns() (43 against 58 ns a
 * packet under BPF_PROG_RUN here) but moves in jiffies (4 ms at HZ=250): a
 * bucket shallower than a jiffy would pass only its burst per jiffy. So
 * buckets at least this deep use the coarse clock and shallower ones the
 * precise one. Set at load to a few jiffies (sluice_coarse_clock_min_depth());
 * 0 means always precise.
 */
const volatile __u64 coarse_clock_min_depth = 0;

static __always_inline __u64 sluice_now(const struct sluice_limit *limit)
{
	if (use_fake_clock)
		return sluice_time_from_ns(fake_now_ns);
	if (coarse_clock_min_depth && limit->depth >= coarse_clock_min_depth)
		return sluice_time_from_ns(bpf_ktime_get_coarse_ns());
	return sluice_time_from_ns(bpf_ktime_get_ns());
}

static __always_inline void count(enum sluice_outcome outcome, __u64 bytes)
{
	__u32 key = outcome;
	struct sluice_counter *counter = bpf_map_lookup_elem(&counters, &key);

	if (counter) {
		counter->packets++;
		counter->bytes += bytes;
	}
}

static __always_inline int on_list(void *list, const struct sluice_prefix_key *key)
{
	struct sluice_list_entry *entry = bpf_map_lookup_elem(list, key);

	if (!entry)
		return 0;
	__sync_fetch_and_add(&entry->hits, 1);
	return 1;
}

/* IPv6 neighbor discovery must not be limited, or a limited source loses its neighbors. */
static __always_inline int is_neighbor_discovery(const struct sluice_packet *pkt)
{
	/* RFC 4861: hop limit 255 proves the sender is on the link. */
	return pkt->src.family == SLUICE_FAMILY_IPV6 && pkt->l4_proto == IPPROTO_ICMPV6 &&
	       !(pkt->flags & SLUICE_PKT_LATER_FRAGMENT) && pkt->ttl == 255 &&
	       pkt->icmp_type >= 133 && pkt->icmp_type <= 137;
}

/*
 * Finds the source's bucket, creating a full one for a new source: full as
 * of `now`, since a zero full_at would read as the future in the last
 * `depth` before sluice time wraps.
 */
static __always_inline struct sluice_bucket *source_bucket(const struct sluice_source_key *key,
							   __u64 now)
{
	struct sluice_bucket fresh = { .full_at = now };
	struct sluice_bucket *bucket = bpf_map_lookup_elem(&buckets, key);

	if (bucket)
		return bucket;
	/* Another CPU may insert the same source first: then use its bucket. */
	bpf_map_update_elem(&buckets, key, &fresh, BPF_NOEXIST);
	return bpf_map_lookup_elem(&buckets, key);
}

/* Takes one packet from the source's bucket, shared by all CPUs. */
static __always_inline enum sluice_outcome limit_source(const struct sluice_packet *pkt,
							const struct sluice_limit *limit)
{
	__u64 now = sluice_now(limit);
	struct sluice_bucket *bucket = source_bucket(&pkt->src, now);

	if (!bucket)
		return SLUICE_PASSED_FAULT;
	for (int i = 0; i < SLUICE_CAS_TRIES; i++) {
		__u64 seen = READ_ONCE(bucket->full_at);
		__u64 next;

		if (!sluice_bucket_take(seen, now, limit->interval, limit->depth, &next)) {
			/* A bucket owing more than a lowered limit allows is set to empty. */
			if (next != seen)
				__sync_val_compare_and_swap(&bucket->full_at, seen, next);
			__sync_fetch_and_add(&bucket->dropped, 1);
			return SLUICE_DROPPED_RATE;
		}
		if (__sync_val_compare_and_swap(&bucket->full_at, seen, next) == seen) {
			__sync_fetch_and_add(&bucket->passed, 1);
			return SLUICE_PASSED;
		}
	}
	return SLUICE_PASSED_FAULT;
}

static __always_inline enum sluice_outcome decide(const struct sluice_packet *pkt)
{
	struct sluice_prefix_key key;
	struct sluice_limit *limit;
	__u32 zero = 0, flags = 0;
	struct sluice_config *cfg = bpf_map_lookup_elem(&config, &zero);

	if (cfg)
		flags = cfg->flags;
	sluice_source_prefix(&key, &pkt->src);
	if (!(flags & SLUICE_DENY_LIST_EMPTY) && on_list(&deny_list, &key))
		return SLUICE_DROPPED_DENIED;
	if (!(flags & SLUICE_ALLOW_LIST_EMPTY) && on_list(&allow_list, &key))
		return SLUICE_PASSED_ALLOWED;
	if (is_neighbor_discovery(pkt))
		return SLUICE_PASSED_NEIGHBOR;
	limit = bpf_map_lookup_elem(&limits, &key);
	if (!limit || (limit->flags & SLUICE_LIMIT_UNLIMITED))
		return SLUICE_PASSED_UNLIMITED;
	return limit_source(pkt, limit);
}

static __always_inline enum sluice_outcome classify(struct xdp_md *ctx)
{
	struct sluice_packet pkt = {};

	switch (sluice_parse(ctx, &pkt)) {
	case SLUICE_PARSE_OK:
		return decide(&pkt);
	case SLUICE_PARSE_NOT_IP:
		return SLUICE_PASSED_NOT_IP;
	default:
		return SLUICE_PASSED_MALFORMED;
	}
}

/* Decides, counts and returns the verdict; benchmarks wrap it in programs of their own. */
static __always_inline int sluice_verdict(struct xdp_md *ctx)
{
	enum sluice_outcome outcome = classify(ctx);

	count(outcome, ctx->data_end - ctx->data);
	return sluice_outcome_drops(outcome) ? XDP_DROP : XDP_PASS;
}

SEC("xdp")
int sluice_xdp(struct xdp_md *ctx)
{
	return sluice_verdict(ctx);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
