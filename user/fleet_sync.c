// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Fleet-wide limits, the controller's side (user/fleet_sync.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <hiredis/hiredis.h>

#include "fleet_sync.h"
#include "log.h"

#define NS_PER_SEC 1000000000ull
#define FLEET_HOSTS_KEY "sluice:fleet:hosts"
/* A host counts while it synced within this many windows. */
#define FLEET_HOST_WINDOWS 3
/* Redis's answer must come within this; later, the link is down and shares fall back. */
#define FLEET_TIMEOUT_NS (250 * 1000000ull)

void fleet_sync_init(struct fleet_sync *f, const struct redis_url *url, enum fleet_fallback fallback,
		     int fleet_limits_fd)
{
	char name[64] = "host";

	memset(f, 0, sizeof(*f));
	f->on = true;
	f->fallback = fallback;
	f->fleet_limits_fd = fleet_limits_fd;
	redis_link_init(&f->link, url, FLEET_TIMEOUT_NS);
	gethostname(name, sizeof(name) - 1);
	snprintf(f->host, sizeof(f->host), "%s:%d", name, (int)getpid());
}

void fleet_sync_close(struct fleet_sync *f)
{
	if (f->on)
		redis_link_close(&f->link);
}

/* The units a rule's limit counts in: packets or bytes. */
static __u64 passed_units(const struct sluice_rule *rule, const struct sluice_rule_counters *c)
{
	return rule->limit.unit == SLUICE_UNIT_BYTES ? c->passed.bytes : c->passed.packets;
}

void fleet_sync_rules(struct fleet_sync *f, const struct rule_entry *rules, size_t count)
{
	static struct fleet_rule next[SLUICE_MAX_FLEET_RULES];
	size_t n = 0;

	if (!f->on)
		return;
	for (size_t i = 0; i < count && n < SLUICE_MAX_FLEET_RULES; i++) {
		const struct rule_entry *e = &rules[i];
		struct fleet_rule *r = &next[n];
		char match[128];

		if (!(e->rule.flags & SLUICE_RULE_FLEET) || (e->rule.flags & SLUICE_RULE_UNLIMITED))
			continue;
		memset(r, 0, sizeof(*r));
		r->id = e->id;
		r->rule = e->rule;
		r->share = -1;
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
				r->share = -1;	/* the limit may have changed: written afresh */
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
	/* A pipeline out was built for the old list: its answer is dropped. */
	if (f->link.state == REDIS_LINK_BUSY)
		redis_link_close(&f->link);
	memcpy(f->rules, next, n * sizeof(next[0]));
	f->count = n;
}

/*
 * Writes a rule's share: `rate` for this host, its burst as long in time as
 * the rule's own (so a switch between them never strands a deficit); or,
 * when the rate is 0, blocked until blocked_until_ns (the window's end).
 * Written only when it changed.
 */
static void share_write(struct fleet_sync *f, struct fleet_rule *r, double rate,
			__u64 blocked_until_ns)
{
	const struct sluice_rule_limit *own = &r->rule.limit;
	struct sluice_fleet_limit share = {};
	__u64 units, burst;

	/* Never more than the rule allows one host. */
	if (rate > (double)own->rate)
		rate = (double)own->rate;
	if (rate < 1) {
		if (r->blocked && r->blocked_window == f->batch_window)
			return;
		/*
		 * Blocked to the window's end; then the next window's first share
		 * (the rate over the hosts, before anyone spent it) until the
		 * next answer, so no time of the new window is lost waiting.
		 */
		rate = (double)own->rate / (f->hosts ? f->hosts : 1);
		share.blocked_until_ns = blocked_until_ns;
	}
	units = rate < 1 ? 1 : (__u64)rate;
	if (!share.blocked_until_ns && r->share >= 0 && !r->blocked && (__u64)r->share == units)
		return;
	/*
	 * The burst scales with the rate, so it lasts as long as the rule's:
	 * the bucket's state is a time, and a shorter burst would strand a
	 * deficit at every change of the share. The rate's cap (the rule's
	 * own) caps it at the rule's burst: the bound of user/fleet.h.
	 */
	burst = (__u64)((double)own->burst * (double)units / (double)own->rate);
	if (!burst)
		burst = 1;
	if (sluice_rule_limit_init(&share.limit, own->algo, own->unit, units, burst)) {
		log_msg(LOG_WARNING, "fleet: cannot make a limit of %llu for %s",
			(unsigned long long)units, r->key);
		return;
	}
	if (bpf_map_update_elem(f->fleet_limits_fd, &r->id, &share, BPF_ANY)) {
		log_msg(LOG_WARNING, "fleet: cannot write the share of %s: %s", r->key,
			strerror(errno));
		return;
	}
	r->blocked = share.blocked_until_ns != 0;
	r->blocked_window = f->batch_window;
	r->share = r->blocked ? 0 : (double)units;
}

/* The pipeline's answer is in: the fleet's totals and hosts, into shares. */
static void answer_take(struct fleet_sync *f, __u64 now_ns, __u64 wall_ns)
{
	const struct redisReply *hosts = redis_link_reply(&f->link, (unsigned int)(2 * f->count + 2));
	double elapsed = (double)(wall_ns % (FLEET_WINDOW_S * NS_PER_SEC)) / NS_PER_SEC;
	bool same_window = wall_ns / (FLEET_WINDOW_S * NS_PER_SEC) == f->batch_window;

	if (!hosts || hosts->type != REDIS_REPLY_INTEGER) {
		f->failures++;
		log_msg(LOG_WARNING, "fleet: Redis answered with an error: %s",
			hosts && hosts->type == REDIS_REPLY_ERROR ? hosts->str : "not a count");
		for (size_t i = 0; i < f->count; i++)
			f->rules[i].counted -= f->rules[i].in_flight;
		redis_link_release(&f->link);
		return;
	}
	f->hosts = hosts->integer > 0 ? (unsigned int)hosts->integer : 1;
	for (size_t i = 0; i < f->count; i++) {
		const struct redisReply *total = redis_link_reply(&f->link, (unsigned int)(2 * i));
		struct fleet_rule *r = &f->rules[i];
		struct fleet_window w = { .rate = (double)r->rule.limit.rate,
					  .window_s = FLEET_WINDOW_S, .hosts = f->hosts,
					  .elapsed_s = same_window ? elapsed : 0 };

		r->in_flight = 0;
		if (!total || total->type != REDIS_REPLY_INTEGER)
			continue;
		/* An answer for a window gone by says nothing of the new one: a fresh budget. */
		w.fleet_used = same_window ? (double)total->integer : 0;
		share_write(f, r, fleet_local_rate(&w),
			    now_ns + (__u64)((FLEET_WINDOW_S - w.elapsed_s) * NS_PER_SEC));
	}
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

/* One pipeline: each rule's INCRBY and EXPIRE, then this host's heartbeat and the count. */
static void batch_send(struct fleet_sync *f, const struct sluice_rule_counters *counters,
		       size_t counters_len, __u64 now_ns, __u64 wall_ns)
{
	char key[FLEET_KEY_LEN + 24], delta[24], score[24], oldest[32], ttl[16];
	const char *argv[4];
	size_t len[4];
	__u64 window = wall_ns / (FLEET_WINDOW_S * NS_PER_SEC);

	if (redis_link_begin(&f->link))
		return;
	snprintf(ttl, sizeof(ttl), "%d", 2 * FLEET_WINDOW_S + 1);
	for (size_t i = 0; i < f->count; i++) {
		struct fleet_rule *r = &f->rules[i];
		__u64 now_units = r->id < counters_len ? passed_units(&r->rule, &counters[r->id]) :
							 r->counted;

		/* Counters only grow; a rule written afresh may restart them. */
		r->in_flight = now_units > r->counted ? now_units - r->counted : 0;
		r->counted += r->in_flight;
		snprintf(key, sizeof(key), "%s:%llu", r->key, (unsigned long long)window);
		snprintf(delta, sizeof(delta), "%llu", (unsigned long long)r->in_flight);
		argv[0] = "INCRBY", argv[1] = key, argv[2] = delta;
		len[0] = 6, len[1] = strlen(key), len[2] = strlen(delta);
		redis_link_append(&f->link, 3, argv, len);
		argv[0] = "EXPIRE", argv[2] = ttl;
		len[0] = 6, len[2] = strlen(ttl);
		redis_link_append(&f->link, 3, argv, len);
	}
	snprintf(score, sizeof(score), "%llu", (unsigned long long)(wall_ns / 1000000));
	snprintf(oldest, sizeof(oldest), "(%llu",
		 (unsigned long long)(wall_ns / 1000000 - FLEET_HOST_WINDOWS * FLEET_WINDOW_S * 1000));
	argv[0] = "ZADD", argv[1] = FLEET_HOSTS_KEY, argv[2] = score, argv[3] = f->host;
	len[0] = 4, len[1] = strlen(FLEET_HOSTS_KEY), len[2] = strlen(score), len[3] = strlen(f->host);
	redis_link_append(&f->link, 4, argv, len);
	argv[0] = "ZREMRANGEBYSCORE", argv[2] = "-inf", argv[3] = oldest;
	len[0] = 16, len[2] = 4, len[3] = strlen(oldest);
	redis_link_append(&f->link, 4, argv, len);
	argv[0] = "ZCARD";
	len[0] = 5;
	redis_link_append(&f->link, 2, argv, len);
	f->batch_window = window;
	if (redis_link_send(&f->link, now_ns))
		for (size_t i = 0; i < f->count; i++)
			f->rules[i].counted -= f->rules[i].in_flight;
}

/* Redis is away: every rule its fallback share, said once. */
static void fall_back(struct fleet_sync *f)
{
	for (size_t i = 0; i < f->count; i++) {
		struct fleet_rule *r = &f->rules[i];

		if (f->fallback == FLEET_FALLBACK_LOCAL) {
			/* No share: the rule's own limit holds, the whole rate. */
			bpf_map_delete_elem(f->fleet_limits_fd, &r->id);
			r->share = -1;
			r->blocked = false;
		} else {
			double rate = fleet_fallback_rate((double)r->rule.limit.rate, f->hosts,
							  FLEET_FALLBACK_SHARE);

			share_write(f, r, rate, 0);
		}
	}
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
	if (!f->on)
		return;
	redis_link_poll(&f->link, now_ns);
	if (redis_link_done(&f->link))
		answer_take(f, now_ns, wall_ns);
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
	if (f->link.state == REDIS_LINK_DOWN) {
		for (size_t i = 0; i < f->count; i++) {
			f->rules[i].counted -= f->rules[i].in_flight;
			f->rules[i].in_flight = 0;
		}
		f->failures += f->member;
	}
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
	if (!f->on)
		return;
	for (size_t i = 0; i < f->count; i++) {
		bpf_map_delete_elem(f->fleet_limits_fd, &f->rules[i].id);
		f->rules[i].share = -1;
		f->rules[i].blocked = false;
	}
}
