// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Fleet-wide limits, the controller's side (user/fleet_sync.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <hiredis/hiredis.h>

#include "fleet_sync.h"
#include "log.h"
#include "state.h"

#define NS_PER_SEC 1000000000ull
#define FLEET_HOSTS_KEY "sluice:fleet:hosts"
/* A host counts while it synced within this many windows. */
#define FLEET_HOST_WINDOWS 3
/* Redis's answer must come within this; later, the link is down and shares fall back. */
#define FLEET_TIMEOUT_NS (250 * 1000000ull)

int fleet_sync_init(struct fleet_sync *f, const struct redis_url *url, enum fleet_fallback fallback,
		    int fleet_limits_fd, int fleet_passed_fd, int fleet_key_shares_fd)
{
	char name[64] = "host";

	memset(f, 0, sizeof(*f));
	f->fallback = fallback;
	f->fleet_limits_fd = fleet_limits_fd;
	f->fleet_passed_fd = fleet_passed_fd;
	f->fleet_key_shares_fd = fleet_key_shares_fd;
	f->keys = calloc(FLEET_KEY_TABLE, sizeof(*f->keys));
	f->read_keys = calloc(SLUICE_MAX_FLEET_KEYS, sizeof(*f->read_keys));
	f->read_values = calloc(SLUICE_MAX_FLEET_KEYS, sizeof(*f->read_values));
	f->candidates = calloc(SLUICE_MAX_FLEET_KEYS, sizeof(*f->candidates));
	f->candidate_slot = calloc(SLUICE_MAX_FLEET_KEYS, sizeof(*f->candidate_slot));
	f->hot = calloc(FLEET_MAX_SYNCED_KEYS, sizeof(*f->hot));
	if (!f->keys || !f->read_keys || !f->read_values || !f->candidates || !f->candidate_slot ||
	    !f->hot) {
		fleet_sync_close(f);
		errno = ENOMEM;
		return -1;
	}
	f->on = true;
	redis_link_init(&f->link, url, FLEET_TIMEOUT_NS);
	gethostname(name, sizeof(name) - 1);
	snprintf(f->host, sizeof(f->host), "%s:%d", name, (int)getpid());
	return 0;
}

void fleet_sync_close(struct fleet_sync *f)
{
	if (f->on)
		redis_link_close(&f->link);
	free(f->keys);
	free(f->read_keys);
	free(f->read_values);
	free(f->candidates);
	free(f->candidate_slot);
	free(f->hot);
	f->keys = NULL;
	f->read_keys = NULL;
	f->read_values = NULL;
	f->candidates = NULL;
	f->candidate_slot = NULL;
	f->hot = NULL;
	f->on = false;
}

/* ---- Per-source fleet rules: the source groups followed -------------------- */

static size_t key_hash(const struct sluice_bucket_key *key)
{
	const unsigned char *p = (const unsigned char *)key;
	__u64 h = 1469598103934665603ull;	/* FNV-1a */

	for (size_t i = 0; i < sizeof(*key); i++)
		h = (h ^ p[i]) * 1099511628211ull;
	return (size_t)h;
}

/* The slot of a key, made if new; NULL when the table is full. */
static struct fleet_key_state *key_slot(struct fleet_sync *f, const struct sluice_bucket_key *key)
{
	for (size_t i = 0, s = key_hash(key) % FLEET_KEY_TABLE; i < FLEET_KEY_TABLE;
	     i++, s = (s + 1) % FLEET_KEY_TABLE) {
		struct fleet_key_state *k = &f->keys[s];

		if (!k->used) {
			memset(k, 0, sizeof(*k));
			k->used = true;
			k->key = *key;
			f->keys_used++;
			return k;
		}
		if (!memcmp(&k->key, key, sizeof(*key)))
			return k;
	}
	return NULL;
}

/* Forgets the groups the last reads did not see (the LRU evicted them), keeping the table sparse. */
static void keys_compact(struct fleet_sync *f)
{
	static struct fleet_key_state kept[SLUICE_MAX_FLEET_KEYS];
	size_t n = 0;

	if (f->keys_used < FLEET_KEY_TABLE / 2)
		return;
	for (size_t s = 0; s < FLEET_KEY_TABLE; s++)
		if (f->keys[s].used && f->keys[s].generation + 1 >= f->keys_generation &&
		    n < SLUICE_MAX_FLEET_KEYS)
			kept[n++] = f->keys[s];
	memset(f->keys, 0, FLEET_KEY_TABLE * sizeof(*f->keys));
	f->keys_used = 0;
	for (size_t i = 0; i < n; i++) {
		struct fleet_key_state *k = key_slot(f, &kept[i].key);

		if (k)
			*k = kept[i];
	}
}

/* The fleet rule of an id, or NULL. */
static const struct fleet_rule *rule_of(const struct fleet_sync *f, __u32 id)
{
	for (size_t i = 0; i < f->count; i++)
		if (f->rules[i].id == id)
			return &f->rules[i];
	return NULL;
}

/*
 * Reads what each source group passed (one batch read of fleet_passed) and
 * picks the hot ones to sync: at least half of 1/hosts of their rule's rate
 * here (cooler ones, on every host, cannot put the fleet over), the hottest
 * FLEET_MAX_SYNCED_KEYS. Returns how many, their slots in f->hot.
 */
static size_t keys_pick(struct fleet_sync *f, __u64 now_ns, __u64 window)
{
	double dt = f->keys_read_ns ? (double)(now_ns - f->keys_read_ns) / NS_PER_SEC : 0;
	__u32 count = SLUICE_MAX_FLEET_KEYS;
	size_t n = 0, hot;
	__u64 batch = 0;
	int err;

	keys_compact(f);
	f->keys_generation++;
	f->keys_read_ns = now_ns;
	err = bpf_map_lookup_batch(f->fleet_passed_fd, NULL, &batch, f->read_keys, f->read_values,
				   &count, NULL);
	if (err && errno != ENOENT)
		return 0;
	for (__u32 i = 0; i < count; i++) {
		struct fleet_key_state *k = key_slot(f, &f->read_keys[i]);
		const struct fleet_rule *r = rule_of(f, f->read_keys[i].rule);
		__u64 value = f->read_values[i];

		if (!k || !r)
			continue;
		/* New to the table: what it passed before is history, not this window's. */
		if (k->generation == 0)
			k->seen = k->counted = value;
		/* Evicted and made again: it counts from zero. */
		if (value < k->seen)
			k->seen = k->counted = 0;
		k->rate = dt > 0 && k->generation + 1 == f->keys_generation ?
				  (double)(value - k->seen) / dt : 0;
		k->seen = value;
		k->generation = f->keys_generation;
		/* A share from a window gone by, not renewed since (it went cold): its own limit again. */
		if (k->has_share && k->shared_window + 1 < window) {
			bpf_map_delete_elem(f->fleet_key_shares_fd, &k->key);
			k->has_share = false;
		}
		if (value <= k->counted)
			continue;
		f->candidates[n] = (struct fleet_key){ .id = n, .rate = k->rate,
						       .limit = (double)r->rule.limit.rate };
		f->candidate_slot[n++] = (size_t)(k - f->keys);
	}
	/*
	 * Half of 1/hosts, not 1/hosts: a group held to its share passes about
	 * 1/hosts of its limit here, and must stay synced, or its counts would
	 * reach Redis late, in a later window's budget.
	 */
	hot = fleet_hot_keys(f->candidates, n, 0.5 / (f->hosts ? f->hosts : 1),
			     FLEET_MAX_SYNCED_KEYS, f->hot);
	for (size_t i = 0; i < hot; i++)
		f->hot[i] = f->candidate_slot[f->hot[i]];
	/*
	 * A group not picked is under half its share here: what it passed is
	 * not carried to a later sync, where it would land in a later window.
	 */
	for (size_t i = 0; i < n; i++)
		f->keys[f->candidate_slot[i]].picked = false;
	for (size_t i = 0; i < hot; i++)
		f->keys[f->hot[i]].picked = true;
	for (size_t i = 0; i < n; i++) {
		struct fleet_key_state *k = &f->keys[f->candidate_slot[i]];

		if (!k->picked)
			k->counted = k->seen;
	}
	return hot;
}

/* The units a rule's limit counts in: packets or bytes. */
static __u64 passed_units(const struct sluice_rule *rule, const struct sluice_rule_counters *c)
{
	return rule->limit.unit == SLUICE_UNIT_BYTES ? c->passed.bytes : c->passed.packets;
}

static void in_flight_return(struct fleet_sync *f);

void fleet_sync_rules(struct fleet_sync *f, const struct rule_entry *rules, size_t count)
{
	static struct fleet_rule next[SLUICE_MAX_FLEET_RULES];
	size_t n = 0;

	if (!f->on)
		return;
	/* A pipeline out was built for the old list: its answer is dropped, its counts go again. */
	if (f->link.state == REDIS_LINK_BUSY) {
		in_flight_return(f);
		redis_link_close(&f->link);
	}
	for (size_t i = 0; i < count && n < SLUICE_MAX_FLEET_RULES; i++) {
		const struct rule_entry *e = &rules[i];
		struct fleet_rule *r = &next[n];
		char match[128];

		if (!(e->rule.flags & SLUICE_RULE_FLEET) || (e->rule.flags & SLUICE_RULE_UNLIMITED))
			continue;
		memset(r, 0, sizeof(*r));
		r->id = e->id;
		r->rule = e->rule;
		/* What it passed before it joined the fleet is not the fleet's. */
		r->counted = passed_units(&e->rule, &e->counters);
		rule_match_text(&e->rule, match, sizeof(match));
		for (char *p = match; *p; p++)
			if (*p == ' ')
				*p = '_';
		snprintf(r->key, sizeof(r->key), "sluice:fleet:%s", match);
		for (size_t k = 0; k < f->count; k++) {
			const struct fleet_rule *old = &f->rules[k];

			if (old->id == r->id && rule_same_match(&old->rule, &r->rule) &&
			    old->rule.limit.unit == r->rule.limit.unit) {
				r->counted = old->counted;
				r->written = false;	/* the limit may have changed: written afresh */
			}
		}
		n++;
	}
	/* Rules no longer in the fleet lose their shares. */
	for (size_t k = 0; k < f->count; k++) {
		bool kept = false;

		for (size_t i = 0; i < n; i++)
			kept |= next[i].id == f->rules[k].id;
		if (!kept)
			bpf_map_delete_elem(f->fleet_limits_fd, &f->rules[k].id);
	}
	memcpy(f->rules, next, n * sizeof(next[0]));
	f->count = n;
}

/*
 * A limit of `rate` units a second (at least 1, at most the rule's own), its
 * burst as long in time as the rule's: the bucket's state is a time, and a
 * shorter burst would strand a deficit at every change of the share; the
 * rate's cap caps it at the rule's burst (the bound of user/fleet.h).
 */
static int limit_of(const struct sluice_rule_limit *own, double rate, struct sluice_rule_limit *out)
{
	__u64 units, burst;

	if (rate > (double)own->rate)
		rate = (double)own->rate;
	units = rate < 1 ? 1 : (__u64)rate;
	burst = (__u64)((double)own->burst * (double)units / (double)own->rate);
	if (!burst)
		burst = 1;
	if (own->unit == SLUICE_UNIT_BYTES && burst < SLUICE_MIN_BYTE_BURST)
		burst = SLUICE_MIN_BYTE_BURST;	/* a full frame, as the CLI asks of any byte rule */
	return sluice_rule_limit_init(out, own->algo, own->unit, units, burst) ? -1 : 0;
}

/*
 * A share of `own` for the rest of the window (until until_ns): `rate`, or
 * blocked when the fleet has spent the window (rate 0: a small share is
 * at least 1 unit a second); after it, the next window's first share (the
 * rate over the hosts, before anyone spent it) until the next answer.
 * 0, or -1 if no limit can be made.
 */
static int share_build(const struct sluice_rule_limit *own, double rate, unsigned int hosts,
		       __u64 until_ns, struct sluice_fleet_limit *out)
{
	memset(out, 0, sizeof(*out));
	out->until_ns = until_ns;
	out->blocked = rate <= 0;
	if (limit_of(own, (double)own->rate / (hosts ? hosts : 1), &out->next))
		return -1;
	if (out->blocked) {
		out->limit = out->next;
		return 0;
	}
	return limit_of(own, rate, &out->limit);
}

/* Whether two shares hold the same, their window's end within a millisecond. */
static bool share_same(const struct sluice_fleet_limit *a, const struct sluice_fleet_limit *b)
{
	__u64 d = a->until_ns > b->until_ns ? a->until_ns - b->until_ns : b->until_ns - a->until_ns;

	return a->blocked == b->blocked && a->limit.rate == b->limit.rate &&
	       a->next.rate == b->next.rate && d < 1000000;
}

/* Writes a per-rule fleet rule's share, when it changed. */
static void share_write(struct fleet_sync *f, struct fleet_rule *r, double rate, __u64 until_ns)
{
	struct sluice_fleet_limit share;

	if (share_build(&r->rule.limit, rate, f->hosts, until_ns, &share)) {
		/* Its own limit rather than a share gone stale. */
		log_msg(LOG_WARNING, "fleet: cannot make a share of %.0f for %s", rate, r->key);
		bpf_map_delete_elem(f->fleet_limits_fd, &r->id);
		r->written = false;
		return;
	}
	if (r->written && share_same(&share, &r->last))
		return;
	if (bpf_map_update_elem(f->fleet_limits_fd, &r->id, &share, BPF_ANY)) {
		log_msg(LOG_WARNING, "fleet: cannot write the share of %s: %s", r->key,
			strerror(errno));
		return;
	}
	r->last = share;
	r->written = true;
}

/* The pipeline out is lost: what it carried goes in the next one. */
static void in_flight_return(struct fleet_sync *f)
{
	for (size_t i = 0; i < f->count; i++) {
		f->rules[i].counted -= f->rules[i].in_flight;
		f->rules[i].in_flight = 0;
	}
	for (size_t i = 0; i < f->batch_nkeys; i++) {
		struct fleet_key_state *k = &f->keys[f->batch_keys[i]];

		k->counted -= k->in_flight;
		k->in_flight = 0;
	}
	f->batch_nkeys = 0;
}

/* The pipeline's answer is in: the fleet's totals and hosts, into shares. */
static void answer_take(struct fleet_sync *f, __u64 now_ns, __u64 wall_ns)
{
	unsigned int keys_at = (unsigned int)(2 * f->batch_nrules);
	const struct redisReply *hosts =
		redis_link_reply(&f->link, (unsigned int)(2 * (f->batch_nrules + f->batch_nkeys) + 2));
	double elapsed = (double)(wall_ns % (FLEET_WINDOW_S * NS_PER_SEC)) / NS_PER_SEC;
	bool same_window = wall_ns / (FLEET_WINDOW_S * NS_PER_SEC) == f->batch_window;
	__u64 window_end_ns = now_ns + (__u64)((FLEET_WINDOW_S - elapsed) * NS_PER_SEC);

	/*
	 * Any error (out of memory, a read-only replica, no AUTH) fails the
	 * whole sync: nothing of it is believed, its counts go again, and if
	 * it lasts the fleet falls back as when Redis is away.
	 */
	for (unsigned int i = 0; i < f->link.received; i++) {
		const struct redisReply *r = redis_link_reply(&f->link, i);

		if (r->type == REDIS_REPLY_ERROR) {
			hosts = r;
			break;
		}
	}
	if (!hosts || hosts->type != REDIS_REPLY_INTEGER) {
		f->failures++;
		if (!f->error_logged)
			log_msg(LOG_WARNING, "fleet: Redis answered with an error: %s",
				hosts && hosts->type == REDIS_REPLY_ERROR ? hosts->str :
									   "not a count");
		f->error_logged = true;
		in_flight_return(f);
		redis_link_release(&f->link);
		return;
	}
	f->error_logged = false;
	f->hosts = hosts->integer > 0 ? (unsigned int)hosts->integer : 1;
	for (size_t i = 0; i < f->batch_nrules; i++) {
		const struct redisReply *total = redis_link_reply(&f->link, (unsigned int)(2 * i));
		struct fleet_rule *r = &f->rules[f->batch_rules[i]];
		struct fleet_window w = { .rate = (double)r->rule.limit.rate,
					  .window_s = FLEET_WINDOW_S, .hosts = f->hosts,
					  .elapsed_s = same_window ? elapsed : 0 };

		r->in_flight = 0;
		if (!total || total->type != REDIS_REPLY_INTEGER)
			continue;
		/* An answer for a window gone by says nothing of the new one: a fresh budget. */
		w.fleet_used = same_window ? (double)total->integer : 0;
		share_write(f, r, fleet_local_rate(&w), window_end_ns);
	}
	/* Each hot source group its share, as a per-rule rule's. */
	for (size_t i = 0; i < f->batch_nkeys; i++) {
		const struct redisReply *total =
			redis_link_reply(&f->link, keys_at + (unsigned int)(2 * i));
		struct fleet_key_state *k = &f->keys[f->batch_keys[i]];
		const struct fleet_rule *r = rule_of(f, k->key.rule);
		struct sluice_fleet_limit share;
		struct fleet_window w = { .window_s = FLEET_WINDOW_S, .hosts = f->hosts,
					  .elapsed_s = same_window ? elapsed : 0 };

		k->in_flight = 0;
		if (!r || !total || total->type != REDIS_REPLY_INTEGER)
			continue;
		w.rate = (double)r->rule.limit.rate;
		w.fleet_used = same_window ? (double)total->integer : 0;
		if (share_build(&r->rule.limit, fleet_local_rate(&w), f->hosts, window_end_ns,
				&share) ||
		    bpf_map_update_elem(f->fleet_key_shares_fd, &k->key, &share, BPF_ANY))
			continue;
		k->shared_window = f->batch_window;
		k->has_share = true;
	}
	f->batch_nkeys = 0;
	redis_link_release(&f->link);
	f->syncs++;
	f->last_sync_ns = now_ns;
	if (!f->member) {
		char url[128];

		redis_url_format(&f->link.url, url, sizeof(url));
		log_msg(LOG_NOTICE, "fleet: in sync through %s: %u hosts, %zu fleet rules", url,
			f->hosts, f->count);
	}
	f->member = true;
	f->fallback_logged = false;
}

/* A source group as its Redis key: "<rule key>:<address>". */
static void key_name(const struct fleet_rule *r, const struct sluice_bucket_key *key, char *buf,
		     size_t len)
{
	char addr[INET6_ADDRSTRLEN] = "?";

	inet_ntop(key->family == SLUICE_FAMILY_IPV4 ? AF_INET : AF_INET6, key->addr, addr,
		  sizeof(addr));
	snprintf(buf, len, "%s:%s", r->key, addr);
}

/* Appends INCRBY KEY:WINDOW DELTA and EXPIRE KEY:WINDOW TTL; false if it could not. */
static bool append_count(struct fleet_sync *f, const char *key, __u64 window, __u64 delta)
{
	char name[FLEET_KEY_LEN + 80], by[24], ttl[16];
	const char *argv[3] = { "INCRBY", name, by };
	size_t len[3];

	snprintf(name, sizeof(name), "%s:%llu", key, (unsigned long long)window);
	snprintf(by, sizeof(by), "%llu", (unsigned long long)delta);
	snprintf(ttl, sizeof(ttl), "%d", 2 * FLEET_WINDOW_S + 1);
	len[0] = 6, len[1] = strlen(name), len[2] = strlen(by);
	if (redis_link_append(&f->link, 3, argv, len))
		return false;
	argv[0] = "EXPIRE", argv[2] = ttl;
	len[2] = strlen(ttl);
	return redis_link_append(&f->link, 3, argv, len) == 0;
}

/*
 * One pipeline: each per-rule fleet rule's count, each hot source group's,
 * then this host's heartbeat in the fleet's set and the set's size.
 */
static void batch_send(struct fleet_sync *f, const struct sluice_rule_counters *counters,
		       size_t counters_len, __u64 now_ns, __u64 wall_ns)
{
	char score[24], oldest[32], name[FLEET_KEY_LEN + 64];
	const char *argv[4];
	size_t len[4], hot;
	__u64 window = wall_ns / (FLEET_WINDOW_S * NS_PER_SEC);
	bool ok = true;

	if (redis_link_begin(&f->link))
		return;
	f->batch_nrules = 0;
	for (size_t i = 0; i < f->count; i++) {
		struct fleet_rule *r = &f->rules[i];
		__u64 now_units;

		if (r->rule.flags & SLUICE_RULE_PER_SOURCE)
			continue;
		now_units = r->id < counters_len ? passed_units(&r->rule, &counters[r->id]) :
						   r->counted;
		/* Counters only grow; a rule written afresh may restart them. */
		r->in_flight = now_units > r->counted ? now_units - r->counted : 0;
		r->counted += r->in_flight;
		f->batch_rules[f->batch_nrules++] = i;
		ok &= append_count(f, r->key, window, r->in_flight);
	}
	hot = keys_pick(f, now_ns, window);
	f->batch_nkeys = 0;
	for (size_t i = 0; i < hot; i++) {
		struct fleet_key_state *k = &f->keys[f->hot[i]];
		const struct fleet_rule *r = rule_of(f, k->key.rule);

		if (!r)
			continue;
		k->in_flight = k->seen - k->counted;
		k->counted = k->seen;
		f->batch_keys[f->batch_nkeys++] = f->hot[i];
		key_name(r, &k->key, name, sizeof(name));
		ok &= append_count(f, name, window, k->in_flight);
	}
	snprintf(score, sizeof(score), "%llu", (unsigned long long)(wall_ns / 1000000));
	snprintf(oldest, sizeof(oldest), "(%llu",
		 (unsigned long long)(wall_ns / 1000000 - FLEET_HOST_WINDOWS * FLEET_WINDOW_S * 1000));
	argv[0] = "ZADD", argv[1] = FLEET_HOSTS_KEY, argv[2] = score, argv[3] = f->host;
	len[0] = 4, len[1] = strlen(FLEET_HOSTS_KEY), len[2] = strlen(score), len[3] = strlen(f->host);
	ok &= redis_link_append(&f->link, 4, argv, len) == 0;
	argv[0] = "ZREMRANGEBYSCORE", argv[2] = "-inf", argv[3] = oldest;
	len[0] = 16, len[2] = 4, len[3] = strlen(oldest);
	ok &= redis_link_append(&f->link, 4, argv, len) == 0;
	argv[0] = "ZCARD";
	len[0] = 5;
	ok &= redis_link_append(&f->link, 2, argv, len) == 0;
	f->batch_window = window;
	/* A command short (out of memory) would shift every answer: the pipeline goes whole or not at all. */
	if (!ok || redis_link_send(&f->link, now_ns)) {
		in_flight_return(f);
		redis_link_close(&f->link);
	}
}

/* Deletes every source group's share (they hold the rule's own limit then). */
static void keys_shares_clear(struct fleet_sync *f)
{
	map_delete_all(f->fleet_key_shares_fd);
	for (size_t s = 0; s < FLEET_KEY_TABLE; s++)
		f->keys[s].has_share = false;
}

/* Redis is away: every rule its fallback share, said once. */
static void fall_back(struct fleet_sync *f)
{
	for (size_t i = 0; i < f->count; i++) {
		struct fleet_rule *r = &f->rules[i];

		/* A per-source rule has no share: each host holds its own limit per source. */
		if (r->rule.flags & SLUICE_RULE_PER_SOURCE)
			continue;
		if (f->fallback == FLEET_FALLBACK_LOCAL) {
			/* No share: the rule's own limit holds, the whole rate. */
			if (r->written)
				bpf_map_delete_elem(f->fleet_limits_fd, &r->id);
			r->written = false;
		} else {
			double rate = fleet_fallback_rate((double)r->rule.limit.rate, f->hosts,
							  FLEET_FALLBACK_SHARE);

			share_write(f, r, rate, UINT64_MAX);	/* no window: it holds until Redis is back */
		}
	}
	/* Source groups: their shares go, each host its own limit per source. */
	if (!f->fallback_logged)
		keys_shares_clear(f);
	if (!f->fallback_logged)
		log_msg(LOG_WARNING, "fleet: Redis is unreachable (%s): each host holds %s",
			f->link.error[0] ? f->link.error : "no answer",
			f->fallback == FLEET_FALLBACK_LOCAL ? "the whole rate of each fleet rule" :
							      "its share of each fleet rule");
	f->fallback_logged = true;
	f->member = false;
}

void fleet_sync_poll(struct fleet_sync *f, __u64 now_ns, __u64 wall_ns)
{
	bool was_busy = f->link.state == REDIS_LINK_BUSY;

	if (!f->on)
		return;
	redis_link_poll(&f->link, now_ns);
	if (redis_link_done(&f->link))
		answer_take(f, now_ns, wall_ns);
	/* The pipeline out is lost with the connection: its counts go in the next one. */
	else if (was_busy && f->link.state != REDIS_LINK_BUSY) {
		in_flight_return(f);
		f->failures++;
	}
}

void fleet_sync_tick(struct fleet_sync *f, const struct sluice_rule_counters *counters,
		     size_t counters_len, __u64 now_ns, __u64 wall_ns)
{
	if (!f->on)
		return;
	/* The first tick starts the clock: no answer is missing before the link had a chance. */
	if (!f->last_sync_ns)
		f->last_sync_ns = now_ns;
	fleet_sync_poll(f, now_ns, wall_ns);
	if (f->link.state == REDIS_LINK_READY)
		batch_send(f, counters, counters_len, now_ns, wall_ns);
	/* Down, or no answer for 3 windows: the fleet is out of reach. */
	if ((f->link.state == REDIS_LINK_DOWN && f->link.error[0]) ||
	    now_ns - f->last_sync_ns > FLEET_HOST_WINDOWS * FLEET_WINDOW_S * NS_PER_SEC)
		fall_back(f);
}

void fleet_sync_report(const struct fleet_sync *f, __u64 now_ns, struct sluice_fleet_report *r)
{
	memset(r, 0, sizeof(*r));
	r->updated_ns = now_ns;
	if (!f->on)
		return;
	r->on = 1;
	r->member = f->member;
	r->fallback = (__u8)f->fallback;
	r->hosts = f->hosts;
	r->rules = (__u32)f->count;
	r->syncs = f->syncs;
	r->failures = f->failures;
	r->last_sync_ns = f->syncs ? f->last_sync_ns : 0;
	r->latency_ns = f->link.last_latency_ns;
	redis_url_format(&f->link.url, r->redis, sizeof(r->redis));
}

void fleet_sync_clear(struct fleet_sync *f)
{
	for (size_t i = 0; i < f->count; i++)
		f->rules[i].written = false;
	if (f->keys)
		for (size_t s = 0; s < FLEET_KEY_TABLE; s++)
			f->keys[s].has_share = false;
}
