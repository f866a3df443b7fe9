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
 * A packet token bucket's limit, as token_bucket.h's functions take it:
 * rate and burst as set, interval and depth derived by sluice_limit_init().
 * Rules hold the general struct sluice_rule_limit (include/algorithms.h),
 * whose packet token bucket is this one bit for bit.
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
 * Rules. A rule matches traffic and applies a limit at one of four levels,
 * and every level that has a matching rule must let a packet through:
 *   source: each source address (or group, IPv6 /64 by default) its own
 *           bucket; the longest source prefix with rules wins, so a prefix
 *           overrides the default for the sources inside it;
 *   prefix: one bucket for all the sources of a prefix (the longest that
 *           has rules), so a flood from many addresses is held as a whole;
 *   port:   rules on a destination port or range, per source or shared;
 *   global: shared buckets for the whole host.
 * A rule may also ask for a protocol and for TCP SYNs only (new
 * connections). Rules live in an array by id (1 to SLUICE_MAX_RULES - 1;
 * 0 is "none"); the level tables say which rules a prefix or port carries.
 */
/* 256k rules: room for 100k prefix overrides; the three arrays by id take about 46 MB. */
#define SLUICE_MAX_RULES (1u << 18)
#define SLUICE_RULES_PER_MATCH 4
#define SLUICE_PORT_PROTOCOLS 2		/* TCP, UDP: the port table's two halves */

enum sluice_level {
	SLUICE_LEVEL_SOURCE,
	SLUICE_LEVEL_PREFIX,
	SLUICE_LEVEL_PORT,
	SLUICE_LEVEL_GLOBAL,
	SLUICE_LEVELS
};

enum sluice_rule_flags {
	SLUICE_RULE_PER_SOURCE = 1 << 0,	/* a bucket per source group, not one shared */
	SLUICE_RULE_SYN = 1 << 1,		/* TCP SYN without ACK only: new connections */
	SLUICE_RULE_DRY_RUN = 1 << 2,		/* count what would be dropped, drop nothing */
	SLUICE_RULE_IN_USE = 1 << 3,		/* on every rule written: a zero slot is none */
	SLUICE_RULE_UNLIMITED = 1 << 4,		/* limits nothing (exempts a prefix's sources) */
	SLUICE_RULE_CLASSED = 1 << 5,		/* its class was given: it classes what it matches */
	SLUICE_RULE_FLEET = 1 << 6,		/* --scope fleet: its limit holds across hosts */
};


/* The rules a trie entry, a port or the global level carries (0: an empty slot). */
struct sluice_rule_ids {
	__u32 id[SLUICE_RULES_PER_MATCH];
};
_Static_assert(sizeof(struct sluice_rule_ids) == 16, "sluice_rule_ids layout");

/* struct sluice_rule and struct sluice_bucket: include/sluice_rule.h, beside the algorithms. */

/* Packets and bytes: the per-CPU counters' value, by outcome and by rule. */
struct sluice_counter {
	__u64 packets;
	__u64 bytes;
};
_Static_assert(sizeof(struct sluice_counter) == 16, "sluice_counter layout");

/*
 * Per rule: what it let through, dropped, and would have dropped. Shared by
 * the CPUs (atomic adds), since per-CPU copies of 256k rules' counters
 * would cost megabytes per CPU.
 */
struct sluice_rule_counters {
	struct sluice_counter passed;
	struct sluice_counter dropped;
	struct sluice_counter would_drop;
};
_Static_assert(sizeof(struct sluice_rule_counters) == 48, "sluice_rule_counters layout");

/*
 * Key of the bucket table: a per-source rule's bucket for one source group.
 * Rules that share one bucket keep it in an array by rule id instead, where
 * no flood of new sources can evict it.
 */
struct sluice_bucket_key {
	__u32 rule;
	__u8 family;
	__u8 addr[SLUICE_ADDR_LEN];		/* masked to the rule's group */
	__u8 pad[3];
};
_Static_assert(sizeof(struct sluice_bucket_key) == 24, "sluice_bucket_key layout");



/* Value of the allow and deny tries. */
struct sluice_list_entry {
	__u64 hits;		/* packets that matched this prefix */
};
_Static_assert(sizeof(struct sluice_list_entry) == 8, "sluice_list_entry layout");

/*
 * What the data path is told about the rules as a whole: the value of the
 * one-entry config array. A list or level marked empty is not looked up at
 * all (an LPM lookup costs about 13 ns a packet even on an empty trie). The marks
 * are derived from the lists by every sluice command that changes state, so
 * zero, the value of a fresh map, is the safe default: look everything up.
 */
enum sluice_config_flags {
	SLUICE_ALLOW_LIST_EMPTY = 1 << 0,
	SLUICE_DENY_LIST_EMPTY = 1 << 1,
	SLUICE_PREFIX_RULES_EMPTY = 1 << 2,	/* the prefix level has no rules */
	SLUICE_PORT_RULES_EMPTY = 1 << 3,	/* nor the port level */
};

struct sluice_config {
	__u32 flags;			/* enum sluice_config_flags */
	/*
	 * Moves on with every change to the rules or lists, so the controller
	 * knows when to read them again; the data path ignores it.
	 */
	__u32 generation;
	struct sluice_rule_ids global;	/* the rules of the global level */
};
_Static_assert(sizeof(struct sluice_config) == 24, "sluice_config layout");

/*
 * The controller (`sluice run`) and the data path. The controller stamps a
 * heartbeat on every tick; whatever it decided (shedding, refusing new
 * connections) holds only while the heartbeat is younger than the lease, so
 * a controller that dies or hangs leaves nothing blocked. Times are
 * CLOCK_MONOTONIC nanoseconds, bpf_ktime_get_ns()'s clock.
 */
struct sluice_controller {
	__u64 heartbeat_ns;	/* the last tick; 0: no controller has run */
	__u64 lease_ns;		/* how long after it the controller's decisions hold */
	__u64 started_ns;
	__u64 ticks;
	__u64 interval_ns;	/* between ticks */
	__u32 pid;
	__u32 pad;
};
_Static_assert(sizeof(struct sluice_controller) == 48, "sluice_controller layout");

/*
 * Whether the controller's decisions hold at now_ns: one runs (pid set) and
 * ticked within its lease. The data path and `sluice status` both ask this.
 * Unsigned: a heartbeat from the future (a controller in a time namespace
 * whose clock runs ahead) reads as long expired, never as fresh.
 */
static inline int sluice_controller_in_charge(const struct sluice_controller *rec, __u64 now_ns)
{
	return rec->pid && now_ns - rec->heartbeat_ns <= rec->lease_ns;
}

/*
 * Priority classes, from the first shed to the never shed. A rule given a
 * class (--class) classes what it matches; a packet's class is the highest
 * among the classed rules that match it, and normal when none does. Rules
 * without a class do not count, so a plain global limit leaves the classes
 * of more specific rules alone.
 */
enum sluice_class {
	SLUICE_CLASS_LOW,
	SLUICE_CLASS_NORMAL,
	SLUICE_CLASS_HIGH,
	SLUICE_CLASS_CRITICAL,		/* never shed */
	SLUICE_CLASSES
};

/*
 * Load shedding, as the controller sets it: at shed level `level` (0: none)
 * a packet of class c is dropped when a random 32-bit number falls below
 * drop_below[c], so drop_below = share * 2^32 (2^32 drops all). Only new
 * connections are shed: TCP SYNs and datagrams, never a segment of an
 * established connection. It holds only within the controller's lease.
 */
#define SLUICE_SHARE_ALL (1ull << 32)
struct sluice_shed {
	__u32 level;
	__u32 pad;
	__u64 drop_below[SLUICE_CLASSES];
};
_Static_assert(sizeof(struct sluice_shed) == 40, "sluice_shed layout");

/*
 * How the controller sheds (`sluice shed set`). Pressure is the greatest of
 * the CPUs' busy share and the data path's offered load against
 * `capacity_pps` (0: not set), in percent. At or above enter_pct for
 * enter_dwell_ms the shed level goes up one; at or below exit_pct for
 * exit_dwell_ms it goes down one; in between it stays (hysteresis). Level L
 * drops share_pct[L-1][class] percent of each class's new connections.
 */
#define SLUICE_MAX_SHED_LEVELS 4
struct sluice_shed_config {
	__u32 enter_pct;
	__u32 exit_pct;
	__u32 enter_dwell_ms;
	__u32 exit_dwell_ms;
	__u64 capacity_pps;
	__u8 levels;				/* how many levels are configured */
	__u8 share_pct[SLUICE_MAX_SHED_LEVELS][SLUICE_CLASSES];
	__u8 off;				/* never shed, whatever the pressure */
	__u8 pad[6];
};
_Static_assert(sizeof(struct sluice_shed_config) == 48, "sluice_shed_config layout");

/*
 * Protected services (`sluice service add`), by slot. The CLI owns the
 * config and the port index, and resets a new slot's state; from then on
 * the controller alone writes the state (what new connections meet now);
 * the data path counts what it admitted, closed and refused (service_flow).
 */
#define SLUICE_MAX_SERVICES 64
#define SLUICE_SERVICE_NAME_LEN 32
#define SLUICE_NETNS_LEN 64
#define SLUICE_PROBE_LEN 128		/* --probe as given: "tcp", "http://10.0.0.1:80/health" */
#define SLUICE_BREAKER_LEN 192		/* --breaker, written out whole (at most ~160) */
#define SLUICE_CONCURRENCY_LEN 64	/* --concurrency, written out whole (at most ~50) */

enum sluice_refuse {
	SLUICE_ADMIT,			/* let new connections in */
	SLUICE_REFUSE_RST,		/* answer a SYN with an RST from XDP */
	SLUICE_REFUSE_DROP,		/* drop the SYN: the client retries later */
};

/* What the operator set for a service's circuit breaker (`service trip|reset|disable`). */
enum sluice_breaker_mode {
	SLUICE_BREAKER_AUTO,		/* the breaker follows the probes */
	SLUICE_BREAKER_FORCE_OPEN,	/* refuse every new connection until reset */
	SLUICE_BREAKER_FORCE_OFF,	/* admit every new connection; never trip */
};

struct sluice_service {
	char name[SLUICE_SERVICE_NAME_LEN];
	char netns[SLUICE_NETNS_LEN];	/* where it listens: a name or path; "": the controller's */
	__u16 port;
	__u8 proto;			/* IPPROTO_TCP */
	__u8 refuse;			/* enum sluice_refuse: how to refuse, when it must */
	__u8 high_pct;			/* refuse from this accept-queue fill (% of backlog) */
	__u8 low_pct;			/* admit again below this one */
	__u8 in_use;
	__u8 breaker_mode;		/* enum sluice_breaker_mode */
	/* Health probes: "" for none; the breaker and an adaptive limit need them. */
	char probe[SLUICE_PROBE_LEN];
	__u32 probe_interval_ms;
	__u32 probe_timeout_ms;
	__u32 slow_call_ms;		/* a probe slower than this is a slow call */
	__u32 reset_seq;		/* `service reset` moves it on: the breaker starts afresh */
	/* user/breaker.c's breaker_format() text; "": no breaker */
	char breaker[SLUICE_BREAKER_LEN];
	/* user/concurrency.c's conc_format() text; "": no concurrency limit */
	char concurrency[SLUICE_CONCURRENCY_LEN];
};
_Static_assert(sizeof(struct sluice_service) == 504, "sluice_service layout");

/* Key of the port index: which slot protects a destination port. */
struct sluice_service_key {
	__u16 port;
	__u8 proto;
	__u8 pad;
};
_Static_assert(sizeof(struct sluice_service_key) == 4, "sluice_service_key layout");

/* How a service's circuit breaker gates new connections in the data path. */
enum sluice_breaker_gate {
	SLUICE_GATE_PASS,		/* closed or disabled: it lets them in */
	SLUICE_GATE_REFUSE,		/* open or forced open: it refuses them all */
	SLUICE_GATE_TRIAL,		/* half-open: it admits a budget of them */
};

/*
 * What the controller decided for a service; held only within its lease.
 * A new connection (a SYN) meets, in order: the breaker, the accept
 * queue's backpressure, then the concurrency limit; the first that refuses
 * answers it as `refuse` says.
 */
struct sluice_service_state {
	__u8 refuse;			/* enum sluice_refuse: RST or DROP, the service's --refuse */
	__u8 backpressure;		/* 1: its accept queue is full, refuse */
	__u8 breaker;			/* enum sluice_breaker_gate */
	__u8 pad;
	__u32 limit;			/* concurrency: admit while in flight < limit; 0: no limit */
	__u64 trial_end;		/* half-open: admit while service_flow.trials < this */
	/*
	 * In flight = inflight_base + opened - closed: the controller measures
	 * the connections through sock_diag each tick and sets the base to
	 * what the data path's counts lacked, so the data path counts the
	 * connections it admits and ends between ticks without ever writing
	 * what the controller writes.
	 */
	__s64 inflight_base;
};
_Static_assert(sizeof(struct sluice_service_state) == 24, "sluice_service_state layout");

/* Why a new connection to a service was refused. */
enum sluice_refusal {
	SLUICE_REFUSAL_NONE,
	SLUICE_REFUSAL_BREAKER,		/* its breaker is open, or half-open with no trial left */
	SLUICE_REFUSAL_BACKPRESSURE,	/* its accept queue is full */
	SLUICE_REFUSAL_CONCURRENCY,	/* its in-flight connections are at the limit */
	SLUICE_REFUSAL_COUNT
};
/* The data path bounds an index with & (SLUICE_REFUSAL_COUNT - 1). */
_Static_assert((SLUICE_REFUSAL_COUNT & (SLUICE_REFUSAL_COUNT - 1)) == 0,
	       "SLUICE_REFUSAL_COUNT must be a power of two");

/*
 * What the data path counted for a service (atomic adds); the CLI zeroes a
 * new slot, and nothing else writes them.
 */
struct sluice_service_flow {
	__u64 opened;			/* new connections (SYNs) let through to it */
	__u64 closed;			/* FINs and RSTs its clients sent it */
	__u64 trials;			/* trial slots taken in half-open (refused ones too) */
	__u64 refused[SLUICE_REFUSAL_COUNT];	/* by enum sluice_refusal; [0] unused */
};
_Static_assert(sizeof(struct sluice_service_flow) == 56, "sluice_service_flow layout");

/*
 * What the controller last knew of a service, for `sluice service show`
 * and status: written by the controller on every tick, read by the CLI.
 * Rates are in hundredths of a percent (no floating point in shared maps).
 */
#define SLUICE_REPORT_TRANSITIONS 8

struct sluice_transition_report {
	__u64 at_ns;			/* CLOCK_MONOTONIC */
	__u8 from, to;			/* enum breaker_state (user/breaker.h) */
	__u8 reason;			/* enum breaker_reason */
	__u8 pad;
	__u32 calls;			/* in the window (or the probes) that decided */
	__u32 failure_bp, slow_bp;	/* their rates */
	__u32 pad2;
};
_Static_assert(sizeof(struct sluice_transition_report) == 32, "sluice_transition_report layout");

struct sluice_service_report {
	__u64 updated_ns;		/* the tick that wrote it; 0: never */
	__u64 since_ns;			/* when the breaker entered its state */
	__u64 open_until_ns;		/* open: when it goes half-open */
	__u8 breaker;			/* enum breaker_state + 1; 0: no breaker */
	__u8 measured;			/* in_flight holds a reading */
	__u16 pad;
	__u32 trips;			/* opens since the last close */
	__u32 calls;			/* in the breaker's window */
	__u32 failure_bp, slow_bp;	/* the window's rates */
	__u32 limit;			/* the concurrency limit; 0: none */
	__u32 in_flight;		/* connections, as sock_diag last counted them */
	__u32 last_probe_us;		/* the last probe's duration */
	__u64 probes_ok, probes_failed, probes_slow;
	__u64 transitions_total;
	__u32 transitions;		/* how many of transition[] hold one, oldest first */
	__u32 pad2;
	struct sluice_transition_report transition[SLUICE_REPORT_TRANSITIONS];
};
_Static_assert(sizeof(struct sluice_service_report) == 352, "sluice_service_report layout");

/* The fleet as the controller last saw it (`sluice run --redis`), for status. */
struct sluice_fleet_report {
	__u64 updated_ns;		/* the tick that wrote it; 0: never */
	__u64 last_sync_ns;		/* CLOCK_MONOTONIC of the last answer from Redis; 0: none */
	__u64 latency_ns;		/* that answer's round trip */
	__u64 syncs, failures;
	__u32 hosts;			/* in the fleet, as last counted */
	__u32 rules;			/* fleet rules */
	__u8 on;			/* the controller runs with --redis */
	__u8 member;			/* in sync now (else falling back) */
	__u8 fallback;			/* enum fleet_fallback (user/fleet.h) */
	__u8 pad[5];
	char redis[64];			/* the URL, without its password */
};
_Static_assert(sizeof(struct sluice_fleet_report) == 120, "sluice_fleet_report layout");

/*
 * RSTs sent for refused connections, at most this many a second for the
 * host (bursts of SLUICE_RSTS_BURST): a spoofed SYN flood to a refusing
 * port must not turn the host into a reflector. Beyond it, refused SYNs
 * are dropped.
 */
#define SLUICE_RSTS_PER_SEC 10000
#define SLUICE_RSTS_BURST 1000

/*
 * Drop events: the data path samples drops into a ring buffer, at most
 * SLUICE_EVENTS_PER_SEC (bursts of SLUICE_EVENTS_BURST) for the whole host,
 * so a flood cannot swamp the buffer or its reader.
 */
#define SLUICE_EVENTS_PER_SEC 1000
#define SLUICE_EVENTS_BURST 100
#define SLUICE_EVENTS_RING_BYTES (256 * 1024)

struct sluice_event {
	__u64 time_ns;			/* CLOCK_MONOTONIC */
	struct sluice_source_key src;
	__u32 rule;			/* the rule that refused it; 0: none */
	__u32 ifindex;
	__u16 dport;			/* 0 without ports */
	__u8 outcome;			/* enum sluice_outcome */
	__u8 proto;			/* IPPROTO_* */
	__u8 class;			/* enum sluice_class */
	__u8 service;			/* the service slot + 1 for refusals; 0: none */
	__u8 refusal;			/* enum sluice_refusal, for refusals */
	__u8 pad[5];
};
_Static_assert(sizeof(struct sluice_event) == 48, "sluice_event layout");

/*
 * The drop path's host-wide buckets, the event sampler's and the RST
 * rate's, and what the sampler sent and lost: written only for a sample or
 * an RST, so a flood over their rates only reads this cache line. What the
 * sampler skipped is counted per CPU (events_skipped), for the same reason.
 */
struct sluice_events_state {
	__u64 full_at;			/* token bucket (include/token_bucket.h) */
	__u64 sent;			/* events written to the ring */
	__u64 lost;			/* sampled, but the ring was full */
	__u64 rst_full_at;		/* the RST rate's token bucket */
};
_Static_assert(sizeof(struct sluice_events_state) == 32, "sluice_events_state layout");

/*
 * Every packet ends in exactly one outcome, and each has a per-CPU counter.
 * X(enum suffix, name in stats and JSON, 1 if the packet is dropped, why)
 * The list is written once; the enum, the verdict and userspace's tables
 * all expand it.
 */
#define SLUICE_OUTCOMES(X)                                                              \
	X(PASSED, "passed", 0, "within every limit that applies")                       \
	X(PASSED_UNLIMITED, "passed_unlimited", 0, "no limit applies to its source")    \
	X(PASSED_ALLOWED, "passed_allowed", 0, "source on the allow list")              \
	X(PASSED_NEIGHBOR, "passed_neighbor_discovery", 0,                              \
	  "IPv6 neighbor discovery, never limited")                                     \
	X(PASSED_NOT_IP, "passed_not_ip", 0, "not IPv4 or IPv6 (ARP, LLDP, ...)")       \
	X(PASSED_MALFORMED, "passed_malformed", 0, "truncated or malformed header")     \
	X(PASSED_FAULT, "passed_fault", 0, "sluice could not decide, so failed open")   \
	X(PASSED_DRY_RUN, "passed_dry_run", 0, "over a dry-run rule: would have dropped") \
	X(DROPPED_DENIED, "dropped_denied", 1, "source on the deny list")               \
	X(DROPPED_RATE, "dropped_rate", 1, "source over its own limit")                 \
	X(DROPPED_PREFIX_RATE, "dropped_prefix_rate", 1, "its prefix over its shared limit") \
	X(DROPPED_PORT_RATE, "dropped_port_rate", 1, "over its destination port's limit") \
	X(DROPPED_GLOBAL_RATE, "dropped_global_rate", 1, "over the host's global limit") \
	X(DROPPED_SHED, "dropped_shed", 1, "shed under load: its class's share at the shed level") \
	X(REFUSED_RST, "refused_rst", 1,                                                \
	  "new connection refused by a service's breaker, backpressure or concurrency limit, " \
	  "answered with an RST")                                                       \
	X(REFUSED_DROP, "refused_drop", 1,                                              \
	  "new connection refused by a service's breaker, backpressure or concurrency limit, dropped")

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
#define SLUICE_MAP_RULES "rules"
#define SLUICE_MAP_SOURCE_RULES "source_rules"
#define SLUICE_MAP_PREFIX_RULES "prefix_rules"
#define SLUICE_MAP_PORT_RULES "port_rules"
#define SLUICE_MAP_RULE_STATE "rule_state"
#define SLUICE_MAP_RULE_COUNTERS "rule_counters"
#define SLUICE_MAP_ALLOW "allow_list"
#define SLUICE_MAP_DENY "deny_list"
#define SLUICE_MAP_CONFIG "config"
#define SLUICE_MAP_CONTROLLER "controller"
#define SLUICE_MAP_SHED "shed"
#define SLUICE_MAP_SHED_CONFIG "shed_config"
#define SLUICE_MAP_SERVICES "services"
#define SLUICE_MAP_SERVICE_PORTS "service_ports"
#define SLUICE_MAP_SERVICE_STATE "service_state"
#define SLUICE_MAP_SERVICE_COUNTERS "svc_counters"
#define SLUICE_MAP_SERVICE_FLOW "service_flow"
#define SLUICE_MAP_FLEET_LIMITS "fleet_limits"
#define SLUICE_MAP_FLEET_REPORT "fleet_report"
#define SLUICE_MAP_FLEET_PASSED "fleet_passed"
#define SLUICE_MAP_FLEET_KEY_SHARES "fleet_key_shares"
#define SLUICE_MAP_SERVICE_REPORT "service_report"
#define SLUICE_MAP_EVENTS "events"
#define SLUICE_MAP_EVENTS_STATE "events_state"
#define SLUICE_MAP_EVENTS_SKIPPED "events_skipped"
/* A directory, not a map: the running controller holds an flock() on it (bpffs refuses dots in names). */
#define SLUICE_CONTROLLER_LOCK "controller_lock"
#define SLUICE_LINK_PREFIX "link_"

#endif /* SLUICE_H */
