// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The Sluice data path: one XDP program that parses, classifies, decides
 * and counts every packet, in that order:
 *   deny list -> allow list -> IPv6 neighbor discovery -> backpressure (new
 *   connections to a service the controller says is full) -> the rules of
 *   each level: source, prefix, port, global (include/sluice.h) -> load
 *   shedding by priority class.
 * A packet passes only if every rule that matches it lets it through; the
 * first that refuses drops it, counted against its level. It fails open: a
 * packet it cannot parse, or a decision it cannot make, passes and is counted.
 * What the controller decides (backpressure, shedding) holds only while its
 * heartbeat is within its lease, so a dead controller leaves nothing blocked.
 * Drops are sampled into a ring buffer for `sluice events`.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

#include "sluice.h"
#include "sluice_rule.h"
#include "parse.bpf.h"
#include "refuse.bpf.h"

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
	__type(key, struct sluice_bucket_key);
	__type(value, struct sluice_bucket);
} buckets SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SLUICE_MAX_RULES);
	__type(key, __u32);
	__type(value, struct sluice_rule);
} rules SEC(".maps");

/* The buckets of rules that share one: never evicted, unlike the table's. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SLUICE_MAX_RULES);
	__type(key, __u32);
	__type(value, struct sluice_bucket);
} rule_state SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SLUICE_MAX_RULES);
	__type(key, __u32);
	__type(value, struct sluice_rule_counters);
} rule_counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, SLUICE_MAX_PREFIXES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct sluice_prefix_key);
	__type(value, struct sluice_rule_ids);
} source_rules SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, SLUICE_MAX_PREFIXES);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct sluice_prefix_key);
	__type(value, struct sluice_rule_ids);
} prefix_rules SEC(".maps");

/* Destination port rules: TCP ports, then UDP ports. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SLUICE_PORT_PROTOCOLS * 65536);
	__type(key, __u32);
	__type(value, struct sluice_rule_ids);
} port_rules SEC(".maps");

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

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sluice_controller);
} controller SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sluice_shed);
} shed SEC(".maps");

/* The controller's shedding settings: kept here so that they outlive it. Not read by XDP. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sluice_shed_config);
} shed_config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SLUICE_MAX_SERVICES);
	__type(key, __u32);
	__type(value, struct sluice_service);
} services SEC(".maps");

/* Which slot protects a destination port: looked up only for TCP SYNs. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SLUICE_MAX_SERVICES);
	__type(key, struct sluice_service_key);
	__type(value, __u32);
} service_ports SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SLUICE_MAX_SERVICES);
	__type(key, __u32);
	__type(value, struct sluice_service_state);
} service_state SEC(".maps");

/* Fleet rules' local shares, by rule id: see struct sluice_fleet_limit. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SLUICE_MAX_FLEET_RULES);
	__type(key, __u32);
	__type(value, struct sluice_fleet_limit);
} fleet_limits SEC(".maps");

/* Fleet rules per source: see SLUICE_MAX_FLEET_KEYS. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SLUICE_MAX_FLEET_KEYS);
	__type(key, struct sluice_bucket_key);
	__type(value, __u64);
} fleet_passed SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, SLUICE_MAX_FLEET_KEYS);
	__type(key, struct sluice_bucket_key);
	__type(value, struct sluice_fleet_limit);
} fleet_key_shares SEC(".maps");

/* The controller's report of the fleet, for status; the data path never reads it. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sluice_fleet_report);
} fleet_report SEC(".maps");

/* New connections admitted, ended and refused, per service: see struct sluice_service_flow. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SLUICE_MAX_SERVICES);
	__type(key, __u32);
	__type(value, struct sluice_service_flow);
} service_flow SEC(".maps");

/* The controller's report of each service, for the CLI; the data path never reads it. */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SLUICE_MAX_SERVICES);
	__type(key, __u32);
	__type(value, struct sluice_service_report);
} service_report SEC(".maps");

/* New connections refused, per service (atomic adds: refusals are rare next to packets). */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SLUICE_MAX_SERVICES);
	__type(key, __u32);
	__type(value, struct sluice_counter);
} svc_counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, SLUICE_EVENTS_RING_BYTES);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct sluice_events_state);
} events_state SEC(".maps");

/* Drops not sampled, over the event rate: per CPU, as a flood's every drop counts here. */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} events_skipped SEC(".maps");

/*
 * The coarse clock costs less than bpf_ktime_get_ns() (43 against 58 ns a
 * packet under BPF_PROG_RUN here) but moves in jiffies (4 ms at HZ=250): a
 * bucket shallower than a jiffy would pass only its burst per jiffy, a
 * window shorter than one would see time stand still. So limits that look
 * back at least this far use the coarse clock and shorter ones the precise
 * one. Set at load to a few jiffies (sluice_coarse_clock_min_depth());
 * 0 means always precise.
 */
const volatile __u64 coarse_clock_min_depth = 0;

static __always_inline __u64 sluice_now(const struct sluice_rule_limit *limit)
{
	if (use_fake_clock)
		return sluice_time_from_ns(fake_now_ns);
	if (coarse_clock_min_depth && sluice_rule_span(limit) >= coarse_clock_min_depth)
		return sluice_time_from_ns(bpf_ktime_get_coarse_ns());
	return sluice_time_from_ns(bpf_ktime_get_ns());
}

/* CLOCK_MONOTONIC ns, the clock of the controller's heartbeat (a coarse one could lag it). */
static __always_inline __u64 monotonic_ns(void)
{
	return use_fake_clock ? fake_now_ns : bpf_ktime_get_ns();
}

/*
 * Whether the controller's decisions hold: it ticked within its lease. A
 * controller that stopped (pid 0), died or hangs lets them expire.
 */
static __always_inline int controller_in_charge(void)
{
	struct sluice_controller *rec;
	__u32 zero = 0;

	rec = bpf_map_lookup_elem(&controller, &zero);
	return rec && sluice_controller_in_charge(rec, monotonic_ns());
}

/*
 * Takes a token from a host-wide token bucket kept in one word (full_at),
 * shared by all CPUs with a compare-and-swap. Over the rate it only reads
 * the word, so a flood does not bounce its cache line between CPUs.
 */
static __always_inline int host_bucket_take(__u64 *full_at, __u64 now_ns, __u64 per_sec,
					    __u64 burst)
{
	__u64 interval = SLUICE_TIME_PER_SEC / per_sec, seen = *full_at, next;

	if (!sluice_bucket_take(seen, sluice_time_from_ns(now_ns), interval, interval * burst,
				&next))
		return 0;
	/* Another CPU took this token first: count it as over the rate. */
	return __sync_val_compare_and_swap(full_at, seen, next) == seen;
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
 * Finds a per-source bucket, creating a fresh one for a new source: full,
 * or an empty window, as of `now`.
 */
static __always_inline struct sluice_bucket *source_bucket(const struct sluice_bucket_key *key,
							   const struct sluice_rule_limit *limit,
							   __u64 now)
{
	struct sluice_bucket fresh = {};
	struct sluice_bucket *bucket = bpf_map_lookup_elem(&buckets, key);

	if (bucket)
		return bucket;
	sluice_rule_state_init(&fresh.state, limit, now);
	/* Another CPU may insert the same source first: then use its bucket. */
	bpf_map_update_elem(&buckets, key, &fresh, BPF_NOEXIST);
	return bpf_map_lookup_elem(&buckets, key);
}

/*
 * An address as two host-order 64-bit halves, and the mask of its first
 * `bits`: shifts instead of a loop over bytes, which keeps the verifier's
 * work small.
 */
struct addr128 {
	__u64 hi, lo;
};

static __always_inline struct addr128 addr_load(const __u8 *addr)
{
	struct addr128 a;
	__u64 hi, lo;

	__builtin_memcpy(&hi, addr, 8);
	__builtin_memcpy(&lo, addr + 8, 8);
	a.hi = bpf_be64_to_cpu(hi);
	a.lo = bpf_be64_to_cpu(lo);
	return a;
}

static __always_inline struct addr128 addr_mask(__u32 bits)
{
	struct addr128 m;

	m.hi = bits >= 64 ? ~0ULL : bits ? ~0ULL << (64 - bits) : 0;
	m.lo = bits >= 128 ? ~0ULL : bits > 64 ? ~0ULL << (128 - bits) : 0;
	return m;
}

/* Whether a source lies in a rule's prefix (the tries match it for their levels). */
static __always_inline int in_prefix(const struct sluice_prefix_key *prefix,
				     const struct sluice_source_key *src)
{
	struct addr128 p, a, m;

	if (prefix->prefixlen == 0)
		return 1;
	if (prefix->family != src->family)
		return 0;
	p = addr_load(prefix->addr);
	a = addr_load(src->addr);
	m = addr_mask(prefix->prefixlen - SLUICE_FAMILY_BITS);
	return !((p.hi ^ a.hi) & m.hi) && !((p.lo ^ a.lo) & m.lo);
}

static __always_inline int rule_matches(const struct sluice_rule *rule,
					const struct sluice_packet *pkt)
{
	int has_ports = pkt->flags & SLUICE_PKT_HAS_PORTS;

	if (rule->proto) {
		if (rule->proto == IPPROTO_ICMP) {
			if (pkt->l4_proto != IPPROTO_ICMP && pkt->l4_proto != IPPROTO_ICMPV6)
				return 0;
		} else if (rule->proto != pkt->l4_proto) {
			return 0;
		}
	}
	/* SYN without ACK: a new connection, whatever else the flags say. */
	if ((rule->flags & SLUICE_RULE_SYN) &&
	    (pkt->l4_proto != IPPROTO_TCP || !has_ports ||
	     (pkt->tcp_flags & (SLUICE_TCP_SYN | SLUICE_TCP_ACK)) != SLUICE_TCP_SYN))
		return 0;
	if (rule->level == SLUICE_LEVEL_PORT)
		return in_prefix(&rule->prefix, &pkt->src);
	return 1;
}

/* The bucket key of a per-source rule: the source masked to the rule's group. */
static __always_inline void group_key(struct sluice_bucket_key *key, __u32 id,
				      const struct sluice_rule *rule,
				      const struct sluice_source_key *src)
{
	struct addr128 a = addr_load(src->addr);
	struct addr128 m = addr_mask(src->family == SLUICE_FAMILY_IPV4 ? rule->group_v4 :
									  rule->group_v6);
	__u64 hi = bpf_cpu_to_be64(a.hi & m.hi), lo = bpf_cpu_to_be64(a.lo & m.lo);

	key->rule = id;
	key->family = src->family;
	key->pad[0] = key->pad[1] = key->pad[2] = 0;
	__builtin_memcpy(key->addr, &hi, 8);
	__builtin_memcpy(key->addr + 8, &lo, 8);
}

enum rule_verdict {
	RULE_SKIPPED,		/* does not match, or no rule */
	RULE_UNLIMITED,		/* matches and limits nothing: passes as if unlimited */
	RULE_PASSED,
	RULE_REFUSED,
	RULE_WOULD_REFUSE,	/* a dry-run rule's refusal */
	RULE_FAULT,
};
/* apply_rule() returns the verdict, and the matching rule's class + 1 above it. */
#define RULE_VERDICT_MASK 0xff
#define RULE_CLASS_SHIFT 8

static __always_inline int rule_result(enum rule_verdict verdict, const struct sluice_rule *rule)
{
	if (!(rule->flags & SLUICE_RULE_CLASSED))
		return verdict;
	return verdict | (((rule->class % SLUICE_CLASSES) + 1) << RULE_CLASS_SHIFT);
}

static __always_inline void count_rule(__u32 id, enum rule_verdict verdict, __u64 bytes)
{
	struct sluice_rule_counters *c = bpf_map_lookup_elem(&rule_counters, &id);
	struct sluice_counter *slot;

	if (!c)
		return;
	if (verdict == RULE_PASSED || verdict == RULE_UNLIMITED)
		slot = &c->passed;
	else if (verdict == RULE_REFUSED)
		slot = &c->dropped;
	else if (verdict == RULE_WOULD_REFUSE)
		slot = &c->would_drop;
	else
		return;
	__sync_fetch_and_add(&slot->packets, 1);
	__sync_fetch_and_add(&slot->bytes, bytes);
}

/*
 * A per-rule fleet rule's share of the fleet's budget on this host, while
 * the controller is in charge; NULL for any other rule, or without it (the
 * rule's own limit holds then).
 */
static __always_inline const struct sluice_fleet_limit *fleet_share(const struct sluice_rule *rule,
								    __u32 id)
{
	struct sluice_fleet_limit *share;

	if ((rule->flags & (SLUICE_RULE_FLEET | SLUICE_RULE_PER_SOURCE)) != SLUICE_RULE_FLEET)
		return NULL;	/* a per-source fleet rule's shares are its groups' */
	share = bpf_map_lookup_elem(&fleet_limits, &id);
	if (!share || !controller_in_charge())
		return NULL;
	return share;
}

/* The limit a share holds now: this window's, the next's first, or NULL while it is spent. */
static __always_inline const struct sluice_rule_limit *
share_limit(const struct sluice_fleet_limit *share)
{
	if (monotonic_ns() >= share->until_ns)
		return &share->next;
	return share->blocked ? NULL : &share->limit;
}

/* A source group's share of its fleet-wide budget, while the controller is in charge; or NULL. */
static __always_inline const struct sluice_fleet_limit *
fleet_key_share(const struct sluice_rule *rule, const struct sluice_bucket_key *key)
{
	struct sluice_fleet_limit *share;

	if (!(rule->flags & SLUICE_RULE_FLEET))
		return NULL;
	share = bpf_map_lookup_elem(&fleet_key_shares, key);
	if (!share || !controller_in_charge())
		return NULL;
	return share;
}

/* Counts what a source passed under a fleet rule, for the controller to sync. */
static __always_inline void fleet_key_count(const struct sluice_bucket_key *key, __u64 units)
{
	__u64 *passed = bpf_map_lookup_elem(&fleet_passed, key);

	if (passed) {
		__sync_fetch_and_add(passed, units);
		return;
	}
	/* A new key; if another CPU made it first, add to that one. */
	if (bpf_map_update_elem(&fleet_passed, key, &units, BPF_NOEXIST)) {
		passed = bpf_map_lookup_elem(&fleet_passed, key);
		if (passed)
			__sync_fetch_and_add(passed, units);
	}
}

/*
 * Applies one rule to a packet. A global function: the verifier checks it
 * once, not at each of its sixteen call sites.
 */
__noinline int apply_rule(__u32 id, const struct sluice_packet *pkt, __u32 bytes, __u64 *clock_ns)
{
	struct sluice_bucket_key key;
	struct sluice_bucket *bucket;
	const struct sluice_fleet_limit *share;
	const struct sluice_rule_limit *limit;
	struct sluice_rule *rule;
	enum rule_verdict verdict;
	__u64 now;
	int taken;

	if (!id || !pkt)	/* a global function's pointer may be NULL, says the verifier */
		return RULE_SKIPPED;
	rule = bpf_map_lookup_elem(&rules, &id);
	if (!rule || !(rule->flags & SLUICE_RULE_IN_USE))
		return RULE_SKIPPED;	/* an id with no rule (yet): fail open */
	if (!rule_matches(rule, pkt))
		return RULE_SKIPPED;
	if (rule->flags & SLUICE_RULE_UNLIMITED) {
		count_rule(id, RULE_UNLIMITED, bytes);
		return rule_result(RULE_UNLIMITED, rule);
	}
	share = fleet_share(rule, id);
	limit = share ? share_limit(share) : &rule->limit;
	if (!limit) {
		/* The fleet has spent the window: the rule refuses, its bucket untouched. */
		verdict = rule->flags & SLUICE_RULE_DRY_RUN ? RULE_WOULD_REFUSE : RULE_REFUSED;
		count_rule(id, verdict, bytes);
		return rule_result(verdict, rule);
	}
	now = sluice_now(limit);
	/* The time read here serves the drop's event too: a flood's drop then reads no clock again. */
	if (clock_ns)
		*clock_ns = now / SLUICE_TIME_PER_NS;
	if (rule->flags & SLUICE_RULE_PER_SOURCE) {
		group_key(&key, id, rule, &pkt->src);
		share = fleet_key_share(rule, &key);
		if (share) {
			limit = share_limit(share);
			if (!limit) {
				/* The fleet has spent this source's window: refused, its bucket untouched. */
				verdict = rule->flags & SLUICE_RULE_DRY_RUN ? RULE_WOULD_REFUSE :
									       RULE_REFUSED;
				count_rule(id, verdict, bytes);
				return rule_result(verdict, rule);
			}
			now = sluice_now(limit);
		}
		bucket = source_bucket(&key, limit, now);
	} else {
		bucket = bpf_map_lookup_elem(&rule_state, &id);
	}
	if (!bucket)
		return RULE_FAULT;
	taken = sluice_rule_take(&bucket->state, limit, now, bytes);
	if (taken == SLUICE_TAKE_GAVE_UP)
		return RULE_FAULT;
	if (taken == SLUICE_TAKE_PASSED) {
		__sync_fetch_and_add(&bucket->passed, 1);
		verdict = RULE_PASSED;
		if ((rule->flags & (SLUICE_RULE_FLEET | SLUICE_RULE_PER_SOURCE)) ==
		    (SLUICE_RULE_FLEET | SLUICE_RULE_PER_SOURCE))
			fleet_key_count(&key, sluice_packet_units(limit->unit, bytes));
	} else {
		__sync_fetch_and_add(&bucket->dropped, 1);
		verdict = rule->flags & SLUICE_RULE_DRY_RUN ? RULE_WOULD_REFUSE : RULE_REFUSED;
	}
	count_rule(id, verdict, bytes);
	return rule_result(verdict, rule);
}

/*
 * Gives back to rule `id` what it took for a packet that a later rule
 * refused: a packet dropped anyway spends no earlier rule's budget (a SYN
 * flood refused at its port must not eat its prefix's shared budget), and
 * does not count as passed there.
 */
__noinline int refund_rule(__u32 id, const struct sluice_packet *pkt, __u32 bytes)
{
	struct sluice_rule_counters *c;
	struct sluice_bucket_key key;
	struct sluice_bucket *bucket;
	const struct sluice_fleet_limit *share;
	const struct sluice_rule_limit *limit;
	struct sluice_rule *rule;

	if (!pkt)	/* a global function's pointer may be NULL, says the verifier */
		return 0;
	rule = bpf_map_lookup_elem(&rules, &id);
	if (!rule || !(rule->flags & SLUICE_RULE_IN_USE))
		return 0;
	if (rule->flags & SLUICE_RULE_PER_SOURCE) {
		group_key(&key, id, rule, &pkt->src);
		bucket = bpf_map_lookup_elem(&buckets, &key);
		share = fleet_key_share(rule, &key);
		/* What a later rule dropped was not passed: the fleet's count gives it back too. */
		if (rule->flags & SLUICE_RULE_FLEET) {
			__u64 *passed = bpf_map_lookup_elem(&fleet_passed, &key);

			if (passed)
				__sync_fetch_and_add(passed,
						     -sluice_packet_units(rule->limit.unit, bytes));
		}
	} else {
		bucket = bpf_map_lookup_elem(&rule_state, &id);
		share = fleet_share(rule, id);
	}
	if (!bucket)
		return 0;
	limit = share ? share_limit(share) : &rule->limit;
	if (!limit)
		limit = &rule->limit;
	sluice_rule_refund(&bucket->state, limit, sluice_now(limit), bytes);
	__sync_fetch_and_add(&bucket->passed, -1);
	c = bpf_map_lookup_elem(&rule_counters, &id);
	if (c) {
		__sync_fetch_and_add(&c->passed.packets, -1);
		__sync_fetch_and_add(&c->passed.bytes, -(__u64)bytes);
	}
	return 0;
}

#define SLUICE_MAX_APPLIED (SLUICE_LEVELS * SLUICE_RULES_PER_MATCH)

/* What the rules of every level say; the first level that refuses decides. */
struct evaluation {
	int applied;		/* a rule with a limit let the packet through */
	int would_refuse;	/* a dry-run rule would have dropped it */
	int fault;		/* a rule could not decide */
	__u32 refused_by;	/* the rule that refused it */
	__u32 class;		/* the highest class of the rules that matched, + 1; 0: none did */
	__u32 passed;		/* how many rules took the packet's cost, */
	__u32 passed_ids[SLUICE_MAX_APPLIED];	/* and which, to refund them on a refusal */
};

/* A later rule refused the packet: every rule that took its cost gives it back. */
static __always_inline void refund(const struct evaluation *e, const struct sluice_packet *pkt,
				   __u32 bytes)
{
	for (__u32 i = 0; i < SLUICE_MAX_APPLIED; i++) {
		if (i >= e->passed)
			break;
		refund_rule(e->passed_ids[i], pkt, bytes);
	}
}

/*
 * Applies the rules of one level: 1 when one refuses, and the packet is
 * dropped. *clock_ns gets the time the rules read.
 */
static __always_inline int apply_level(const struct sluice_rule_ids *ids,
				       const struct sluice_packet *pkt, __u32 bytes,
				       struct evaluation *e, __u64 *clock_ns)
{
	if (!ids)
		return 0;
#pragma unroll
	for (int i = 0; i < SLUICE_RULES_PER_MATCH; i++) {
		__u32 id = ids->id[i];

		if (!id)	/* slots fill from the first: the rest are empty too */
			break;
		int result = apply_rule(id, pkt, bytes, clock_ns);
		__u32 class = result >> RULE_CLASS_SHIFT;

		if (class > e->class)
			e->class = class;
		switch (result & RULE_VERDICT_MASK) {
		case RULE_REFUSED:
			e->refused_by = id;
			refund(e, pkt, bytes);
			return 1;
		case RULE_PASSED:
			e->applied = 1;
			if (e->passed < SLUICE_MAX_APPLIED)
				e->passed_ids[e->passed++] = id;
			break;
		case RULE_WOULD_REFUSE:
			e->would_refuse = 1;
			break;
		case RULE_FAULT:
			e->fault = 1;
			break;
		default:
			break;
		}
	}
	return 0;
}

static __always_inline const struct sluice_rule_ids *port_level(const struct sluice_packet *pkt)
{
	__u32 index;

	if (!(pkt->flags & SLUICE_PKT_HAS_PORTS))
		return NULL;
	if (pkt->l4_proto == IPPROTO_TCP)
		index = pkt->dport;
	else if (pkt->l4_proto == IPPROTO_UDP)
		index = 65536 + pkt->dport;
	else
		return NULL;
	return bpf_map_lookup_elem(&port_rules, &index);
}

/* A TCP SYN without ACK: a new connection, the only kind refused or shed over TCP. */
static __always_inline int is_new_connection(const struct sluice_packet *pkt)
{
	return pkt->l4_proto == IPPROTO_TCP && (pkt->flags & SLUICE_PKT_HAS_PORTS) &&
	       (pkt->tcp_flags & (SLUICE_TCP_SYN | SLUICE_TCP_ACK)) == SLUICE_TCP_SYN;
}

/* What decide() found, beyond the outcome: for refusals and events. */
struct decision {
	__u32 rule;		/* the rule that refused the packet */
	__u8 service;		/* a new connection to a service: its slot + 1 */
	__u8 refusal;		/* enum sluice_refusal: why the service refused it */
	__u8 class;		/* enum sluice_class */
	__u8 pad;
	__u64 clock_ns;		/* a time the rules read, for the event sampler; 0: none */
};

/*
 * A TCP segment from a client ending its connection to a service (FIN or
 * RST): counted so the in-flight count between the controller's reads
 * goes down as connections end. A retransmitted FIN counts twice; the
 * controller's next read sets it right.
 */
static __always_inline void count_service_close(const struct sluice_packet *pkt)
{
	struct sluice_service_key key = { .port = pkt->dport, .proto = IPPROTO_TCP };
	struct sluice_service_flow *flow;
	__u32 *slot;

	if (!(pkt->tcp_flags & (SLUICE_TCP_FIN | SLUICE_TCP_RST)))
		return;
	slot = bpf_map_lookup_elem(&service_ports, &key);
	if (!slot)
		return;
	flow = bpf_map_lookup_elem(&service_flow, slot);
	if (flow)
		__sync_fetch_and_add(&flow->closed, 1);
}

/*
 * The controller's gates on a new connection to a protected service: its
 * circuit breaker, its accept queue's backpressure and its concurrency
 * limit, in that order. Returns how to refuse it (and why, in d->refusal),
 * or SLUICE_ADMIT. Without a controller in charge every gate is open.
 */
static __always_inline __u32 service_admission(const struct sluice_packet *pkt,
					       struct decision *d)
{
	struct sluice_service_key key = { .port = pkt->dport, .proto = IPPROTO_TCP };
	struct sluice_service_state *state;
	struct sluice_service_flow *flow;
	__s64 in_flight;
	__u32 *slot;

	if (pkt->l4_proto != IPPROTO_TCP || !(pkt->flags & SLUICE_PKT_HAS_PORTS))
		return SLUICE_ADMIT;
	if (!is_new_connection(pkt)) {
		count_service_close(pkt);
		return SLUICE_ADMIT;
	}
	slot = bpf_map_lookup_elem(&service_ports, &key);
	if (!slot || *slot >= SLUICE_MAX_SERVICES)
		return SLUICE_ADMIT;
	d->service = *slot + 1;
	state = bpf_map_lookup_elem(&service_state, slot);
	flow = bpf_map_lookup_elem(&service_flow, slot);
	if (!state || !flow || !controller_in_charge())
		return SLUICE_ADMIT;
	if (state->breaker == SLUICE_GATE_REFUSE ||
	    (state->breaker == SLUICE_GATE_TRIAL &&
	     __sync_fetch_and_add(&flow->trials, 1) >= state->trial_end))
		d->refusal = SLUICE_REFUSAL_BREAKER;
	else if (state->backpressure)
		d->refusal = SLUICE_REFUSAL_BACKPRESSURE;
	else if (state->limit) {
		/*
		 * Read, not reserved: CPUs admitting at the same instant can each
		 * pass, so the limit can be overshot by one per CPU, until the
		 * next read. A reservation would cost an atomic on every SYN.
		 */
		in_flight = state->inflight_base + (__s64)(flow->opened - flow->closed);
		if (in_flight >= (__s64)state->limit)
			d->refusal = SLUICE_REFUSAL_CONCURRENCY;
	}
	if (d->refusal == SLUICE_REFUSAL_NONE)
		return SLUICE_ADMIT;
	return state->refuse == SLUICE_REFUSE_DROP ? SLUICE_REFUSE_DROP : SLUICE_REFUSE_RST;
}

/*
 * Load shedding: whether to drop a packet of `class` at the current shed
 * level. Only new work is shed: TCP SYNs and UDP datagrams. Established
 * connections are never shed to make room for new ones, nor ICMP (its
 * errors, such as Packet Too Big, keep established connections working),
 * nor other protocols (tunnels carry established traffic).
 */
static __always_inline int shed_packet(const struct sluice_packet *pkt, __u32 class)
{
	struct sluice_shed *state;
	__u32 zero = 0;

	state = bpf_map_lookup_elem(&shed, &zero);
	if (!state || !state->level || class >= SLUICE_CLASS_CRITICAL)
		return 0;
	if (!is_new_connection(pkt) && pkt->l4_proto != IPPROTO_UDP)
		return 0;
	if (state->drop_below[class & (SLUICE_CLASSES - 1)] <= bpf_get_prandom_u32())
		return 0;
	return controller_in_charge();
}

static __always_inline enum sluice_outcome decide(const struct sluice_packet *pkt, __u32 bytes,
						  struct decision *d)
{
	struct sluice_prefix_key key;
	struct evaluation e = {};
	__u32 zero = 0, flags = 0, refuse;
	struct sluice_config *cfg = bpf_map_lookup_elem(&config, &zero);
	enum sluice_outcome outcome;

	if (cfg)
		flags = cfg->flags;
	sluice_source_prefix(&key, &pkt->src);
	if (!(flags & SLUICE_DENY_LIST_EMPTY) && on_list(&deny_list, &key))
		return SLUICE_DROPPED_DENIED;
	if (!(flags & SLUICE_ALLOW_LIST_EMPTY) && on_list(&allow_list, &key))
		return SLUICE_PASSED_ALLOWED;
	if (is_neighbor_discovery(pkt))
		return SLUICE_PASSED_NEIGHBOR;

	if (apply_level(bpf_map_lookup_elem(&source_rules, &key), pkt, bytes, &e, &d->clock_ns))
		outcome = SLUICE_DROPPED_RATE;
	else if (!(flags & SLUICE_PREFIX_RULES_EMPTY) &&
		 apply_level(bpf_map_lookup_elem(&prefix_rules, &key), pkt, bytes, &e, &d->clock_ns))
		outcome = SLUICE_DROPPED_PREFIX_RATE;
	else if (!(flags & SLUICE_PORT_RULES_EMPTY) && apply_level(port_level(pkt), pkt, bytes, &e, &d->clock_ns))
		outcome = SLUICE_DROPPED_PORT_RATE;
	else if (cfg && apply_level(&cfg->global, pkt, bytes, &e, &d->clock_ns))
		outcome = SLUICE_DROPPED_GLOBAL_RATE;
	else if (e.fault)
		outcome = SLUICE_PASSED_FAULT;
	else if (e.would_refuse)
		outcome = SLUICE_PASSED_DRY_RUN;
	else
		outcome = e.applied ? SLUICE_PASSED : SLUICE_PASSED_UNLIMITED;
	d->rule = e.refused_by;
	d->class = e.class ? e.class - 1 : SLUICE_CLASS_NORMAL;
	if (sluice_outcome_drops(outcome))
		return outcome;
	/*
	 * The controller's decisions come after the rules: a SYN over its
	 * limits is dropped, never answered with an RST. What they drop
	 * spends none of the budgets the rules took for it.
	 */
	refuse = service_admission(pkt, d);
	if (refuse != SLUICE_ADMIT) {
		outcome = refuse == SLUICE_REFUSE_RST ? SLUICE_REFUSED_RST : SLUICE_REFUSED_DROP;
	} else if (shed_packet(pkt, d->class)) {
		outcome = SLUICE_DROPPED_SHED;
	} else {
		return outcome;
	}
	refund(&e, pkt, bytes);
	return outcome;
}

/*
 * Samples a drop into the event ring, within the host-wide event rate: one
 * token bucket shared by all CPUs (compare-and-swap, as the rules' buckets).
 */
static __always_inline void sample_drop(struct xdp_md *ctx, const struct sluice_packet *pkt,
					const struct decision *d, enum sluice_outcome outcome)
{
	struct sluice_events_state *st;
	struct sluice_event *ev;
	__u64 now_ns, *skipped;
	__u32 zero = 0;

	st = bpf_map_lookup_elem(&events_state, &zero);
	if (!st)
		return;
	/*
	 * A flood's every drop comes here: the time its rule read serves, or
	 * else the coarse clock (18 ns, the precise one 33). The bucket is
	 * 100 ms deep, far more than a jiffy, so either keeps its rate.
	 */
	now_ns = d->clock_ns;
	if (!now_ns)
		now_ns = use_fake_clock ? fake_now_ns : bpf_ktime_get_coarse_ns();
	if (!host_bucket_take(&st->full_at, now_ns, SLUICE_EVENTS_PER_SEC, SLUICE_EVENTS_BURST)) {
		skipped = bpf_map_lookup_elem(&events_skipped, &zero);
		if (skipped)
			(*skipped)++;
		return;
	}
	ev = bpf_ringbuf_reserve(&events, sizeof(*ev), 0);
	if (!ev) {
		__sync_fetch_and_add(&st->lost, 1);
		return;
	}
	ev->time_ns = monotonic_ns();
	ev->src = pkt->src;
	ev->rule = d->rule;
	ev->ifindex = ctx->ingress_ifindex;
	ev->dport = (pkt->flags & SLUICE_PKT_HAS_PORTS) ? pkt->dport : 0;
	ev->outcome = outcome;
	ev->proto = pkt->l4_proto;
	ev->class = d->class;
	ev->service = d->refusal ? d->service : 0;
	ev->refusal = d->refusal;
	__builtin_memset(ev->pad, 0, sizeof(ev->pad));
	bpf_ringbuf_submit(ev, 0);
	__sync_fetch_and_add(&st->sent, 1);
}

/* Whether the host's RST rate lets one more RST out (SLUICE_RSTS_PER_SEC). */
static __always_inline int rst_allowed(void)
{
	struct sluice_events_state *st;
	__u32 zero = 0;

	st = bpf_map_lookup_elem(&events_state, &zero);
	return st && host_bucket_take(&st->rst_full_at,
				      use_fake_clock ? fake_now_ns : bpf_ktime_get_coarse_ns(),
				      SLUICE_RSTS_PER_SEC, SLUICE_RSTS_BURST);
}

/* A new connection to a service: admitted, or refused (then why). */
static __always_inline void count_service(const struct decision *d, int admitted, __u64 bytes)
{
	__u32 slot = d->service - 1;
	struct sluice_service_flow *flow = bpf_map_lookup_elem(&service_flow, &slot);
	struct sluice_counter *c;

	if (!flow)
		return;
	if (admitted) {
		__sync_fetch_and_add(&flow->opened, 1);
		return;
	}
	if (d->refusal == SLUICE_REFUSAL_NONE)
		return;		/* dropped after the service admitted it (shed) */
	__sync_fetch_and_add(&flow->refused[d->refusal & (SLUICE_REFUSAL_COUNT - 1)], 1);
	c = bpf_map_lookup_elem(&svc_counters, &slot);
	if (c) {
		__sync_fetch_and_add(&c->packets, 1);
		__sync_fetch_and_add(&c->bytes, bytes);
	}
}

/* Decides, counts and returns the verdict; benchmarks wrap it in programs of their own. */
static __always_inline int sluice_verdict(struct xdp_md *ctx)
{
	struct sluice_packet pkt = {};
	struct decision d = { .class = SLUICE_CLASS_NORMAL };
	__u64 bytes = ctx->data_end - ctx->data;
	enum sluice_outcome outcome;
	int verdict;

	switch (sluice_parse(ctx, &pkt)) {
	case SLUICE_PARSE_OK:
		break;
	case SLUICE_PARSE_NOT_IP:
		count(SLUICE_PASSED_NOT_IP, bytes);
		return XDP_PASS;
	default:
		count(SLUICE_PASSED_MALFORMED, bytes);
		return XDP_PASS;
	}
	outcome = decide(&pkt, bytes, &d);
	if (!sluice_outcome_drops(outcome)) {
		if (d.service)
			count_service(&d, 1, bytes);
		count(outcome, bytes);
		return XDP_PASS;
	}
	verdict = XDP_DROP;
	if (outcome == SLUICE_REFUSED_RST) {
		/* Over the host's RST rate, or an odd SYN it cannot answer: a drop refuses too. */
		verdict = rst_allowed() ? refuse_with_rst(ctx, &pkt) : -1;
		if (verdict < 0) {
			verdict = XDP_DROP;
			outcome = SLUICE_REFUSED_DROP;
		}
	}
	/* After the RST: the event says what was done. It reads pkt, not the frame. */
	sample_drop(ctx, &pkt, &d, outcome);
	if (d.service)
		count_service(&d, 0, bytes);
	count(outcome, bytes);
	return verdict;
}

SEC("xdp")
int sluice_xdp(struct xdp_md *ctx)
{
	return sluice_verdict(ctx);
}

char LICENSE[] SEC("license") = "Dual BSD/GPL";
