/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Fleet-wide limits, the controller's side (`sluice run --redis URL`): each
 * tick it pushes what each `--scope fleet` rule passed here since the last
 * push into the rule's counter for the current window in Redis, one
 * pipeline for every rule (INCRBY answers with the fleet's total; EXPIRE
 * lets old windows go), with this host's heartbeat in the fleet's set of
 * hosts (ZADD, ZREMRANGEBYSCORE, ZCARD: the hosts seen in the last 3
 * windows). From the answers (user/fleet.h) it writes each rule's share
 * for the rest of the window into fleet_limits, which the data path holds
 * within the controller's lease: Redis is never on the packet path.
 *
 * Windows are 1 s, aligned on the wall clock, keyed by the rule's match
 * ("sluice:fleet:<match>:<window>"): hosts whose rules match the same
 * traffic share a budget. While Redis cannot be reached the shares fall
 * back (--fleet-fallback share: the rate over the hosts last counted;
 * local: the whole rate), which is logged once and shown in status and
 * metrics; when it answers again the host rejoins. Nothing waits on Redis:
 * the link is polled with the controller's other descriptors.
 */
#ifndef SLUICE_FLEET_SYNC_H
#define SLUICE_FLEET_SYNC_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>

#include "fleet.h"
#include "redis_link.h"
#include "rules.h"
#include "sluice.h"

#define FLEET_WINDOW_S 1
#define FLEET_KEY_LEN 192

struct fleet_rule {
	__u32 id;
	struct sluice_rule rule;
	char key[FLEET_KEY_LEN];	/* "sluice:fleet:<match>", the window appended */
	__u64 counted;			/* the rule's passed units pushed so far (or in flight) */
	__u64 in_flight;		/* of which in the pipeline out now */
	struct sluice_fleet_limit last;	/* the share last written */
	bool written;			/* last holds what fleet_limits has for it */
};

/* A source group of a per-source fleet rule, as the controller follows it. */
struct fleet_key_state {
	struct sluice_bucket_key key;
	__u64 seen;			/* fleet_passed as last read */
	__u64 counted;			/* of it, pushed to Redis (or in flight) */
	__u64 in_flight;
	double rate;			/* units a second here, between the last two reads */
	__u64 generation;		/* the read that last saw it */
	__u64 shared_window;		/* the window its share was written in */
	bool has_share;
	bool picked;			/* among the hot ones of the last read */
	bool used;
};

/*
 * At most this many source groups go to Redis in one sync: the hottest
 * (user/fleet.h), whatever a flood of sources does. With 50 ms ticks,
 * 10,240 keys a second.
 */
#define FLEET_MAX_SYNCED_KEYS 512
#define FLEET_KEY_TABLE (2 * SLUICE_MAX_FLEET_KEYS)

struct fleet_sync {
	bool on;
	struct redis_link link;
	enum fleet_fallback fallback;
	char host[96];			/* this controller in the fleet's set: "hostname:pid" */
	struct fleet_rule rules[SLUICE_MAX_FLEET_RULES];
	size_t count;
	__u64 batch_window;		/* the window the pipeline out is for */
	size_t batch_rules[SLUICE_MAX_FLEET_RULES];	/* the per-rule rules in it, in order */
	size_t batch_nrules;
	size_t batch_keys[FLEET_MAX_SYNCED_KEYS];	/* the source groups in it (table slots) */
	size_t batch_nkeys;
	/* Per-source fleet rules: the groups followed, and scratch for reading them. */
	struct fleet_key_state *keys;	/* FLEET_KEY_TABLE slots, open addressing */
	size_t keys_used;
	__u64 keys_generation, keys_read_ns;
	struct sluice_bucket_key *read_keys;
	__u64 *read_values;
	struct fleet_key *candidates;
	size_t *hot;
	size_t *candidate_slot;
	int fleet_passed_fd, fleet_key_shares_fd;
	unsigned int hosts;		/* as last counted; 0: never */
	bool member;			/* the last sync succeeded and the link is up */
	bool fallback_logged;
	bool error_logged;		/* Redis answered with an error; logged until it answers well */
	__u64 last_sync_ns;		/* CLOCK_MONOTONIC of the last sync's answer; 0: never */
	__u64 syncs, failures;
	int fleet_limits_fd;
};

/* Sets up an unconnected fleet: the link connects on the first poll. */
int fleet_sync_init(struct fleet_sync *f, const struct redis_url *url, enum fleet_fallback fallback,
		    int fleet_limits_fd, int fleet_passed_fd, int fleet_key_shares_fd);
void fleet_sync_close(struct fleet_sync *f);

/* The fleet rules among the rules read; a rule kept keeps what it pushed. */
void fleet_sync_rules(struct fleet_sync *f, const struct rule_entry *rules, size_t count);

/*
 * One tick, with the rules' counters as read on it (by id): takes the answer
 * of the last pipeline if it is in (writing shares), sends the next, and
 * falls back when the link is down or the last answer is older than
 * 3 windows. now_ns is CLOCK_MONOTONIC, wall_ns CLOCK_REALTIME.
 */
void fleet_sync_tick(struct fleet_sync *f, const struct sluice_rule_counters *counters,
		     size_t counters_len, __u64 now_ns, __u64 wall_ns);

/* Between ticks, when the link's socket moved or it is due: takes an answer as soon as it is in. */
void fleet_sync_poll(struct fleet_sync *f, __u64 now_ns, __u64 wall_ns);

/* What `sluice status` shows of the fleet. */
void fleet_sync_report(const struct fleet_sync *f, __u64 now_ns, struct sluice_fleet_report *r);

/* Forgets the shares written (the caller empties the maps): at start and at a clean stop. */
void fleet_sync_clear(struct fleet_sync *f);

#endif /* SLUICE_FLEET_SYNC_H */
