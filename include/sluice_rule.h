/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * A rule and its buckets, as the XDP program and userspace both see them:
 * what it matches (include/sluice.h says how rules sit in levels) and its
 * limit, whichever the algorithm (include/algorithms.h).
 */
#ifndef SLUICE_RULE_H
#define SLUICE_RULE_H

#include <linux/types.h>

#include "sluice.h"
#include "algorithms.h"

struct sluice_rule {
	struct sluice_prefix_key prefix;	/* the sources it matches (length 0: all) */
	__u16 port_min;				/* destination ports, for port rules */
	__u16 port_max;
	__u8 level;				/* enum sluice_level */
	__u8 proto;				/* IPPROTO_TCP, _UDP, _ICMP (both ICMPs), 0: any */
	__u8 group_v4;				/* per-source rules: a bucket per /group_v4 */
	__u8 group_v6;				/* and per /group_v6 */
	__u32 flags;				/* enum sluice_rule_flags */
	__u8 class;				/* enum sluice_class */
	__u8 pad[3];
	struct sluice_rule_limit limit;		/* rate, burst, algorithm, unit */
};
_Static_assert(sizeof(struct sluice_rule) == 96, "sluice_rule layout");

/*
 * A fleet rule's limit on this host: its share of the fleet's budget, which
 * the controller computes from what the fleet spent (user/fleet.h) and
 * writes here, by rule id. It holds only within the controller's lease;
 * without it the rule's own limit does (each host the whole rate).
 */
#define SLUICE_MAX_FLEET_RULES 1024
/*
 * Fleet rules per source: the data path counts what each source group
 * passed (fleet_passed, an LRU of this many: a flood of distinct sources
 * evicts the coldest), the controller syncs the hot ones and gives each its
 * share of its fleet-wide budget (fleet_key_shares, by bucket key, an LRU
 * as well), as a fleet rule's share above; a group without one holds the
 * rule's own limit.
 */
#define SLUICE_MAX_FLEET_KEYS 16384
struct sluice_fleet_limit {
	struct sluice_rule_limit limit;	/* this window's share, until until_ns */
	/*
	 * From until_ns (the window's end, CLOCK_MONOTONIC) until the
	 * controller's next sync: the next window's first share, the rate over
	 * the hosts, so no share made late in a window carries into the next.
	 */
	struct sluice_rule_limit next;
	__u64 until_ns;
	__u32 blocked;			/* the fleet spent this window: drop until until_ns */
	__u32 pad;
};
_Static_assert(sizeof(struct sluice_fleet_limit) == 128, "sluice_fleet_limit layout");

/*
 * A bucket: a rule's state for one source group, or for the whole rule,
 * shared by all CPUs. The counters let `sluice top` rank sources by what was
 * dropped; all fields are updated with atomic instructions.
 */
struct sluice_bucket {
	struct sluice_rule_state state;	/* the algorithm's: full_at, TAT, or windows */
	__u64 passed;			/* packets */
	__u64 dropped;			/* packets, or would-drop for a dry-run rule */
};
_Static_assert(sizeof(struct sluice_bucket) == 40, "sluice_bucket layout");

/*
 * Whether buckets kept under limit `from` mean the same under `to`: a
 * bucket's time is no window's start, and a window's count of bytes is none
 * of packets. A bucket's debt is time, whatever the unit.
 */
static inline int sluice_limit_keeps_state(const struct sluice_rule_limit *from,
					   const struct sluice_rule_limit *to)
{
	if (sluice_algo_is_window(from->algo) != sluice_algo_is_window(to->algo))
		return 0;
	return !sluice_algo_is_window(to->algo) || from->unit == to->unit;
}

/* How far back a limit looks: a meter's depth or a window's length (sluice time). */
static inline __u64 sluice_rule_span(const struct sluice_rule_limit *limit)
{
	return sluice_algo_is_window(limit->algo) ? limit->window.length : limit->meter.depth;
}

#endif /* SLUICE_RULE_H */
