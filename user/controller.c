// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * sluice run: the controller. A foreground daemon that, every tick, reads
 * what the data path counted, keeps smoothed per-second rates of it,
 * decides two things from what it sees, and stamps a heartbeat that the
 * data path checks before it trusts any of those decisions:
 *  - load shedding: pressure (CPU busy time, or the offered packet rate
 *    against a set capacity) moves the shed level (user/shedding.h);
 *  - backpressure: a protected service whose accept queue passes its high
 *    water mark has new connections refused until it drains under its low
 *    one (user/service.c, read through sock_diag in user/listenq.c).
 * It serves Prometheus metrics (user/metrics.c) and can log drop events. One runs per pin root: it holds an flock() on the
 * pin root's controller_lock directory (a pinned map cannot be opened as a
 * file to lock it). SIGINT and SIGTERM stop it cleanly; SIGHUP makes it read
 * its settings from the pinned maps again, as it also does whenever a
 * sluice command changes the rules (the config's generation moves on).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>

#include <sys/resource.h>
#include <bpf/libbpf.h>

#include "cli.h"
#include "controller.h"
#include "counters.h"
#include "events.h"
#include "fleet_sync.h"
#include "guard.h"
#include "listenq.h"
#include "log.h"
#include "metrics.h"
#include "pressure.h"
#include "rates.h"
#include "rules.h"
#include "service.h"
#include "shedding.h"
#include "state.h"

#define MS 1000000ull
/* The lease in ticks unless --lease says otherwise: a few ticks late is still alive. */
#define DEFAULT_LEASE_TICKS 4
#define RULE_COUNTERS_BATCH 4096
#define DEFAULT_METRICS "127.0.0.1:9464"
/* Metrics are rebuilt at most this often: scrapes come every few seconds. */
#define METRICS_EVERY_NS 1000000000ull
/* Per-rule series in the metrics: beyond this many rules, the first by id. */
#define METRICS_MAX_RULES 1000
/* --log-events logs at most this many events a second, then a count of the rest. */
#define EVENTS_LOGGED_PER_SEC 10

/* One CPU's time, total and in softirq, in USER_HZ ticks per second. */
struct cpu_rates {
	struct rate total, softirq;
};

/* A protected service as the controller watches it. */
struct service_watch {
	struct service_entry entry;	/* as read when the services last changed */
	struct netns_probe *probe;	/* its namespace's sockets and counters */
	int netns_fd;			/* its namespace, for health probes; -1: ours */
	struct listen_queue queue;	/* as read on the last tick */
	struct service_connections conns;	/* as read on the last tick */
	struct tcp_listen_counters listen;
	struct sluice_service_flow flow;	/* as read on the last tick */
	struct rate refused_rate;	/* new connections refused per second */
	bool measured;			/* the last read found its listen sockets */
	bool refusing;			/* backpressure: what the controller decided */
	const char *failing;		/* why it could not be measured, to log once */
	__u64 reopened_ns;		/* when the probe was last opened */
	__u64 overflow_logged_ns;	/* when overflows were last logged */
	bool listen_read;		/* listen holds a reading */
	bool guarded;			/* guard holds its probes, breaker and limit */
	unsigned int limit;		/* the concurrency limit last written; 0: none holds */
	struct guard guard;
};
/*
 * A probe holds its namespace: a service restarted into a new one (a new
 * container, `ip netns del` and `add`) would read as "nothing listens" for
 * ever. While it does, the probe is opened again this often.
 */
#define PROBE_REOPEN_NS 1000000000ull

/* A rule's rates, in packets per second. */
struct rule_rates {
	struct rule_entry entry;	/* as read when the rules last changed */
	struct rate passed, dropped, would_drop;
};

struct controller {
	struct state st;
	int lock_fd;
	struct sluice_controller record;	/* as last written to the map */
	__u32 generation;			/* of the rules last read */
	__u32 pending_generation;		/* of the rules being read */
	bool rules_read;
	struct totals totals;
	struct rate outcome_packets[SLUICE_OUTCOME_COUNT];
	struct rate outcome_bytes[SLUICE_OUTCOME_COUNT];
	struct rule_rates *rules;
	size_t rule_count;
	__u32 rule_ids_end;			/* one past the highest id in use */
	struct sluice_rule_counters *rule_counters;	/* by id, up to rule_ids_end */
	const char *failing;			/* what failed on the last tick, to log once */

	/* Pressure and shedding. */
	int proc_stat_fd;
	struct rate cpu_total, cpu_idle, cpu_softirq;	/* USER_HZ ticks per second */
	struct cpu_times *cpu_times;		/* each CPU's, as last read */
	struct cpu_rates *cpu_rates;		/* each CPU's rates */
	unsigned int max_cpus;
	double cpu_busy_pct, softirq_pct, softirq_busiest_pct, offered_pps, pressure_pct;
	struct sluice_shed_config shed_cfg;
	struct shed_state shed;
	int shed_written;			/* the level last written; -1: unknown */

	/* Backpressure. */
	struct service_watch services[SLUICE_MAX_SERVICES];
	size_t service_count;

	/* Fleet-wide limits (--redis). */
	struct fleet_sync fleet;

	/* Metrics and events. */
	struct metrics_server *metrics;
	__u64 metrics_built_ns;
	struct events_totals events;
	struct ring_buffer *event_ring;		/* with --log-events */
	__u64 event_second;			/* the second events are being logged in */
	unsigned int events_logged;		/* in it */
	__u64 events_unlogged;			/* over the log's rate, in it */
	__u64 last_tick_ns;			/* how long the last tick took */
};

static int record_write(struct controller *c)
{
	__u32 zero = 0;

	return bpf_map_update_elem(c->st.controller, &zero, &c->record, BPF_ANY);
}

/*
 * Takes the pin root's controller lock without waiting: a second controller
 * must refuse at once, not queue behind the first. Returns its fd or -1.
 */
static int controller_lock(const char *root, int controller_fd, char *err, size_t err_len)
{
	struct sluice_controller rec = {};
	char path[PATH_MAX];
	int fd;

	if (state_path(path, sizeof(path), root, SLUICE_CONTROLLER_LOCK)) {
		snprintf(err, err_len, "pin root path %s is too long", root);
		return -1;
	}
	if (mkdir(path, 0700) && errno != EEXIST) {
		snprintf(err, err_len, "cannot create %s/%s: %s", root, SLUICE_CONTROLLER_LOCK,
			 state_strerror(errno));
		return -1;
	}
	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		snprintf(err, err_len, "cannot open %s/%s: %s", root, SLUICE_CONTROLLER_LOCK,
			 state_strerror(errno));
		return -1;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) == 0)
		return fd;
	if (errno == EWOULDBLOCK) {
		controller_record_read(controller_fd, &rec);
		snprintf(err, err_len, "a controller already runs for pin root %s (pid %u)", root,
			 rec.pid);
	} else {
		snprintf(err, err_len, "cannot lock %s/%s: %s", root, SLUICE_CONTROLLER_LOCK,
			 strerror(errno));
	}
	close(fd);
	return -1;
}

/* Logs a failure when it starts, not on every tick while it lasts. */
static void tick_failed(struct controller *c, const char *what)
{
	if (c->failing != what)
		log_msg(LOG_WARNING, "cannot %s: %s (will retry every tick)", what,
			state_strerror(errno));
	c->failing = what;
}

/* Finds the rates kept for rule `id`, so a re-read keeps the history of unchanged rules. */
static struct rule_rates *rule_rates_find(struct controller *c, __u32 id)
{
	for (size_t i = 0; i < c->rule_count; i++)
		if (c->rules[i].entry.id == id)
			return &c->rules[i];
	return NULL;
}

/* Reads the rules again, keeping the rates of every rule that is still there. */
static int rules_reload(struct controller *c)
{
	struct rule_entry *entries = NULL;
	struct sluice_rule_counters *counters;
	struct rule_rates *rules;
	struct rule_maps maps;
	__u32 end = 1;
	size_t count = 0;

	state_rule_maps(&c->st, &maps);
	if (rules_read(&maps, &entries, &count))
		return -1;
	rules = calloc(count ? count : 1, sizeof(*rules));
	if (!rules) {
		free(entries);
		return -1;
	}
	for (size_t i = 0; i < count; i++) {
		struct rule_rates *old = rule_rates_find(c, entries[i].id);

		/* A rule that changed its match is another rule: it starts afresh. */
		if (old && rule_same_match(&old->entry.rule, &entries[i].rule))
			rules[i] = *old;
		rules[i].entry = entries[i];
		if (entries[i].id >= end)
			end = entries[i].id + 1;
	}
	counters = calloc(end, sizeof(*counters));
	if (!counters) {
		free(rules);
		free(entries);
		return -1;
	}
	fleet_sync_rules(&c->fleet, entries, count);
	free(entries);
	free(c->rules);
	free(c->rule_counters);
	c->rules = rules;
	c->rule_count = count;
	c->rule_counters = counters;
	c->rule_ids_end = end;
	return 0;
}

/* Reads the counters of ids [0, rule_ids_end) in batches: one syscall per 4096 ids. */
static int rule_counters_read(struct controller *c)
{
	static __u32 keys[RULE_COUNTERS_BATCH];
	__u32 token = 0, start = 0;

	while (start < c->rule_ids_end) {
		LIBBPF_OPTS(bpf_map_batch_opts, opts);
		__u32 got = c->rule_ids_end - start;

		if (got > RULE_COUNTERS_BATCH)
			got = RULE_COUNTERS_BATCH;
		if (bpf_map_lookup_batch(c->st.rule_counters, start ? &token : NULL, &token, keys,
					 &c->rule_counters[start], &got, &opts) &&
		    errno != ENOENT)
			return -1;
		if (!got)
			break;
		start += got;
	}
	return 0;
}

/* Reads the shedding settings; a level above the new number of levels comes down. */
static void shed_settings_reload(struct controller *c)
{
	if (shed_config_read(c->st.shed_config, &c->shed_cfg)) {
		tick_failed(c, "read the shed settings");
		shed_config_defaults(&c->shed_cfg);
	}
}

/* Admits everything: what a slot holds when no controller decides for it. */
static int service_state_clear(struct controller *c, __u32 slot)
{
	struct sluice_service_state admit = {};

	return bpf_map_update_elem(c->st.service_state, &slot, &admit, BPF_ANY);
}

static struct service_watch *service_watch_find(struct controller *c, const struct service_entry *e)
{
	for (size_t i = 0; i < c->service_count; i++) {
		const struct sluice_service *old = &c->services[i].entry.config;

		if (c->services[i].entry.slot == e->slot && !strcmp(old->name, e->config.name) &&
		    !strcmp(old->netns, e->config.netns) && old->port == e->config.port)
			return &c->services[i];
	}
	return NULL;
}

/*
 * A service's namespace, opened for its health probes: -1 for the
 * controller's own, GUARD_NETNS_UNAVAILABLE when it cannot be opened (no
 * probe goes then: one sent from here would reach another service).
 */
static int netns_open(const char *netns)
{
	char path[SLUICE_NETNS_LEN + 16];
	int fd;

	if (!netns[0])
		return -1;
	if (netns_path(netns, path, sizeof(path)))
		return GUARD_NETNS_UNAVAILABLE;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	return fd >= 0 ? fd : GUARD_NETNS_UNAVAILABLE;
}

static void service_watch_close(struct service_watch *w)
{
	netns_probe_close(w->probe);
	if (w->netns_fd >= 0)
		close(w->netns_fd);
	if (w->guarded)
		guard_close(&w->guard);
}

/* Sets up a service's probes, breaker and limit; without them it is only watched. */
static void service_guard_init(struct service_watch *w)
{
	const struct sluice_service *svc = &w->entry.config;
	char err[SLUICE_ERR_LEN];

	w->guarded = false;
	if (!svc->probe[0] && !svc->breaker[0] && !svc->concurrency[0] &&
	    svc->breaker_mode == SLUICE_BREAKER_AUTO)
		return;
	if (guard_init(&w->guard, svc, svc->name, controller_now_ns(), controller_now_ns(), err,
		       sizeof(err))) {
		log_msg(LOG_WARNING, "service %s: %s; it has no breaker or limit", svc->name, err);
		return;
	}
	w->guarded = true;
	log_msg(LOG_INFO, "service %s: probe %s every %u ms, breaker %s%s, concurrency %s",
		svc->name, svc->probe[0] ? svc->probe : "none", svc->probe_interval_ms,
		svc->breaker[0] ? svc->breaker : "none",
		svc->breaker_mode == SLUICE_BREAKER_FORCE_OPEN ? " (tripped)" :
		svc->breaker_mode == SLUICE_BREAKER_FORCE_OFF ? " (disabled)" : "",
		svc->concurrency[0] ? svc->concurrency : "none");
}

/*
 * Reads the services again. An unchanged service keeps its probe and its
 * decisions; a new or moved one starts admitting. A service whose probes,
 * breaker or limit changed starts them afresh, all at once; one that was
 * only tripped, reset or disabled keeps its breaker's history.
 */
static void services_reload(struct controller *c)
{
	struct service_entry entries[SLUICE_MAX_SERVICES];
	static struct service_watch next[SLUICE_MAX_SERVICES];
	bool kept[SLUICE_MAX_SERVICES] = {};
	char err[SLUICE_ERR_LEN];
	size_t count;

	if (services_read(&c->st, entries, &count)) {
		tick_failed(c, "read the services");
		return;
	}
	memset(next, 0, sizeof(next));
	for (size_t i = 0; i < count; i++) {
		struct service_watch *old = service_watch_find(c, &entries[i]);
		const struct sluice_service *svc = &entries[i].config;

		if (old) {
			next[i] = *old;
			kept[old - c->services] = true;
			next[i].entry = entries[i];
			if (!next[i].guarded ||
			    !guard_same_policy(&old->entry.config, &entries[i].config)) {
				if (next[i].guarded)
					guard_close(&next[i].guard);
				service_guard_init(&next[i]);
			} else {
				guard_follow_mode(&next[i].guard, svc, controller_now_ns());
			}
			continue;
		}
		next[i].entry = entries[i];
		next[i].probe = netns_probe_open(svc->netns[0] ? svc->netns : NULL, err,
						 sizeof(err));
		next[i].netns_fd = netns_open(svc->netns);
		next[i].reopened_ns = controller_now_ns();
		if (!next[i].probe)
			log_msg(LOG_WARNING, "service %s: %s (it is admitted until it can be read)",
				svc->name, err);
		else
			log_msg(LOG_INFO, "service %s: watching tcp port %u%s%s (refuse from %u%%, "
				"admit under %u%%)", svc->name, svc->port,
				svc->netns[0] ? " in netns " : "", svc->netns, svc->high_pct,
				svc->low_pct);
		service_guard_init(&next[i]);
	}
	/*
	 * After the CLI's reset of a new slot, the controller alone writes the
	 * services' states: a service deleted or moved is admitted (the CLI
	 * already took its port out of the index; this undoes a tick that
	 * raced with it). Every kept one is written afresh on this tick.
	 */
	for (size_t i = 0; i < c->service_count; i++) {
		if (kept[i])
			continue;	/* its probe moved to next[] */
		service_state_clear(c, c->services[i].entry.slot);
		service_watch_close(&c->services[i]);
	}
	memcpy(c->services, next, sizeof(next));
	c->service_count = count;
	/* Each guard logs under the name of the entry it now sits beside. */
	for (size_t i = 0; i < count; i++)
		c->services[i].guard.name = c->services[i].entry.config.name;
}

static bool rules_changed(struct controller *c)
{
	struct sluice_config cfg;
	__u32 zero = 0;

	/* Unreadable: keep the rules as they were read; the next tick tries again. */
	if (bpf_map_lookup_elem(c->st.config, &zero, &cfg))
		return false;
	if (c->rules_read && cfg.generation == c->generation)
		return false;
	c->pending_generation = cfg.generation;
	return true;
}

/*
 * Pressure, in percent: the greatest of the CPUs' busy share, the softirq
 * share of the busiest CPU (the one a NIC queue lands on saturates first,
 * while the average over many CPUs hardly moves), and the packets offered
 * to the shedding check (what passed the rules, and what shedding dropped)
 * against the set capacity.
 */
static void pressure_update(struct controller *c, __u64 now)
{
	static const enum sluice_outcome offered[] = {
		SLUICE_PASSED, SLUICE_PASSED_UNLIMITED, SLUICE_PASSED_DRY_RUN, SLUICE_PASSED_FAULT,
		SLUICE_DROPPED_SHED,
	};
	struct cpu_times cpu;

	unsigned int cpus = 0;

	if (cpu_times_read_each(c->proc_stat_fd, &cpu, c->cpu_times, c->max_cpus, &cpus) == 0) {
		c->softirq_busiest_pct = 0;
		for (unsigned int i = 0; i < cpus; i++) {
			struct cpu_rates *r = &c->cpu_rates[i];

			rate_update(&r->total, c->cpu_times[i].total, now, RATE_TAU_NS);
			rate_update(&r->softirq, c->cpu_times[i].softirq, now, RATE_TAU_NS);
			if (r->total.per_second > 0 &&
			    100.0 * r->softirq.per_second / r->total.per_second >
				    c->softirq_busiest_pct)
				c->softirq_busiest_pct =
					100.0 * r->softirq.per_second / r->total.per_second;
		}
		rate_update(&c->cpu_total, cpu.total, now, RATE_TAU_NS);
		rate_update(&c->cpu_idle, cpu.idle, now, RATE_TAU_NS);
		rate_update(&c->cpu_softirq, cpu.softirq, now, RATE_TAU_NS);
		if (c->cpu_total.per_second > 0) {
			c->cpu_busy_pct = 100.0 * (1.0 - c->cpu_idle.per_second /
							     c->cpu_total.per_second);
			c->softirq_pct = 100.0 * c->cpu_softirq.per_second / c->cpu_total.per_second;
		}
	} else {
		tick_failed(c, "read /proc/stat");
	}
	c->offered_pps = 0;
	for (size_t i = 0; i < sizeof(offered) / sizeof(offered[0]); i++)
		c->offered_pps += c->outcome_packets[offered[i]].per_second;
	c->pressure_pct = c->cpu_busy_pct > c->softirq_busiest_pct ? c->cpu_busy_pct :
								     c->softirq_busiest_pct;
	if (c->shed_cfg.capacity_pps &&
	    100.0 * c->offered_pps / (double)c->shed_cfg.capacity_pps > c->pressure_pct)
		c->pressure_pct = 100.0 * c->offered_pps / (double)c->shed_cfg.capacity_pps;
}

static int shed_write(struct controller *c)
{
	struct sluice_shed now;
	__u32 zero = 0;

	shed_level_map(&c->shed_cfg, c->shed.level, &now);
	return bpf_map_update_elem(c->st.shed, &zero, &now, BPF_ANY);
}

static void shedding_update(struct controller *c, __u64 now, bool settings_changed)
{
	unsigned int before = c->shed.level;

	shed_update(&c->shed, &c->shed_cfg, c->pressure_pct, now);
	/* Written when the level or the shares may differ from the map's, until it takes. */
	if ((int)c->shed.level != c->shed_written || settings_changed) {
		if (shed_write(c)) {
			tick_failed(c, "write the shed level");
			c->shed_written = -1;
			return;
		}
		c->shed_written = (int)c->shed.level;
	}
	if (c->shed.level != before)
		log_msg(c->shed.level > before ? LOG_WARNING : LOG_NOTICE,
			"shed level %u -> %u: pressure %.0f%% (CPU busy %.0f%%, softirq %.0f%%, "
			"busiest CPU's softirq %.0f%%, offered %.0f pps)", before, c->shed.level,
			c->pressure_pct, c->cpu_busy_pct, c->softirq_pct, c->softirq_busiest_pct,
			c->offered_pps);
}

/*
 * Logs why a service cannot be measured when that starts, not on every
 * tick, and opens its namespace again now and then: it may be a new one.
 */
static void service_unmeasured(struct service_watch *w, const char *why)
{
	const struct sluice_service *svc = &w->entry.config;
	__u64 now = controller_now_ns();
	char err[SLUICE_ERR_LEN];
	struct netns_probe *probe;

	if (w->failing != why)
		log_msg(LOG_WARNING, "service %s: %s; it is admitted meanwhile", svc->name, why);
	w->failing = why;
	w->measured = false;
	if (now - w->reopened_ns < PROBE_REOPEN_NS)
		return;
	w->reopened_ns = now;
	probe = netns_probe_open(svc->netns[0] ? svc->netns : NULL, err, sizeof(err));
	if (!probe)
		return;
	netns_probe_close(w->probe);
	w->probe = probe;
	if (w->netns_fd >= 0)
		close(w->netns_fd);
	w->netns_fd = netns_open(svc->netns);
}

/* How often a service's namespace may be logged for overflowing listen queues. */
#define OVERFLOW_LOG_EVERY_NS (10 * 1000000000ull)

/*
 * Reads the namespace's TcpExt ListenOverflows and ListenDrops. They count
 * for every listener of the namespace, so they cannot steer one service;
 * but their growth while a service is admitting says its high water mark
 * is too high or the tick too slow for how fast its queue fills.
 */
static void listen_overflows_check(struct service_watch *w)
{
	struct tcp_listen_counters before = w->listen;
	bool compare = w->listen_read;
	__u64 now = controller_now_ns();

	if (!w->probe || tcp_listen_counters_read(w->probe, &w->listen))
		return;
	w->listen_read = true;
	if (!compare || w->listen.overflows <= before.overflows || w->refusing ||
	    now - w->overflow_logged_ns < OVERFLOW_LOG_EVERY_NS)
		return;
	w->overflow_logged_ns = now;
	log_msg(LOG_WARNING, "service %s: %llu listen queue overflows in its namespace since the "
		"last tick while admitting (queue %u of %u): lower --high or the --interval",
		w->entry.config.name, (unsigned long long)(w->listen.overflows - before.overflows),
		w->queue.queued, w->queue.backlog);
}

/*
 * Backpressure for one service: refuse new connections from the high water
 * mark of its accept queue, admit them again under the low one. A service
 * that cannot be measured is admitted: the data path fails open.
 */
static void backpressure_update(struct service_watch *w)
{
	const struct sluice_service *svc = &w->entry.config;
	bool refuse = w->refusing;
	unsigned int fill;

	if (!w->probe || listen_queue_read(w->probe, svc->port, &w->queue)) {
		service_unmeasured(w, "cannot read its listen sockets");
		refuse = false;
	} else if (w->queue.sockets == 0) {
		service_unmeasured(w, "nothing listens on its port");
		refuse = false;
	} else {
		if (w->failing)
			log_msg(LOG_NOTICE, "service %s: measured again", svc->name);
		w->failing = NULL;
		w->measured = true;
		/* The fullest socket decides: with SO_REUSEPORT it overflows first. */
		fill = (unsigned int)(100ull * w->queue.fullest_queued /
				      (w->queue.fullest_backlog ? w->queue.fullest_backlog : 1));
		if (!w->refusing && fill >= svc->high_pct)
			refuse = true;
		else if (w->refusing && fill < svc->low_pct)
			refuse = false;
	}
	listen_overflows_check(w);
	if (refuse == w->refusing)
		return;
	w->refusing = refuse;
	if (refuse)
		log_msg(LOG_WARNING, "service %s: accept queue %u of %u (%u%% or more): refusing "
			"new connections (%s)", svc->name, w->queue.queued, w->queue.backlog,
			svc->high_pct, refuse_name(svc->refuse));
	else
		log_msg(LOG_NOTICE, "service %s: accept queue %u of %u: admitting new "
			"connections again", svc->name, w->queue.queued, w->queue.backlog);
}

/*
 * One service's tick: backpressure, then its guard (probes, breaker,
 * concurrency limit), then the state the data path applies, written on
 * every tick as the in-flight base moves with each reading.
 */
static void service_update(struct controller *c, struct service_watch *w, __u64 now)
{
	const struct sluice_service *svc = &w->entry.config;
	struct sluice_service_state state = { .refuse = svc->refuse };
	struct sluice_service_report report;
	bool counted, conns_read;

	backpressure_update(w);
	state.backpressure = w->refusing;
	/* A namespace that could not be opened for probes is tried again now and then. */
	if (w->netns_fd == GUARD_NETNS_UNAVAILABLE && now - w->reopened_ns >= PROBE_REOPEN_NS) {
		w->reopened_ns = now;
		w->netns_fd = netns_open(svc->netns);
	}
	/*
	 * The data path's counts first, then the sockets: a connection
	 * admitted between the two reads is counted twice until the next
	 * tick, which errs on the side of the service.
	 */
	counted = !bpf_map_lookup_elem(c->st.service_flow, &w->entry.slot, &w->flow);
	/*
	 * Only a limit needs the connections: the read walks the kernel's
	 * whole table of established sockets, shared by every namespace
	 * (about 0.1 ms a family on an idle host, 45 ns a socket more).
	 */
	conns_read = w->guarded && w->guard.has_limit && w->measured && w->probe && counted &&
		     !service_connections_read(w->probe, svc->port, &w->conns);
	if (conns_read)
		state.inflight_base = (__s64)w->conns.in_flight -
				      (__s64)(w->flow.opened - w->flow.closed);
	else
		w->conns = (struct service_connections){};
	if (!counted)
		tick_failed(c, "read a service's connection counts");
	memset(&report, 0, sizeof(report));
	if (w->guarded) {
		/* After a failed read, w->flow holds the last one: trial_end is then a little early. */
		guard_tick(&w->guard, now, w->netns_fd, w->conns.in_flight, w->flow.trials);
		guard_gate(&w->guard, &state);
		guard_report(&w->guard, now, &report);
	}
	/* No reading of its connections this tick: no in-flight count to hold a limit against. */
	if (!conns_read)
		state.limit = 0;
	/* Written for every service, so no report outlives the guard that wrote it. */
	report.updated_ns = now;
	report.measured = conns_read;
	report.in_flight = w->conns.in_flight;
	if (bpf_map_update_elem(c->st.service_report, &w->entry.slot, &report, BPF_ANY))
		tick_failed(c, "write a service's report");
	if (bpf_map_update_elem(c->st.service_state, &w->entry.slot, &state, BPF_ANY))
		tick_failed(c, "write a service's state");
	else
		w->limit = state.limit;
}

/* CLOCK_REALTIME in nanoseconds: the fleet's windows are aligned on it, the same on every host. */
static __u64 wall_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (__u64)ts.tv_sec * 1000000000ull + (__u64)ts.tv_nsec;
}

static void metrics_build(struct controller *c, struct metrics_text *t);

/* One tick: read the counters, update the rates and decisions, stamp the heartbeat. */
static void tick(struct controller *c, bool reload)
{
	__u64 now, started = controller_now_ns();
	bool settings_changed = false;

	if (rules_changed(c) || reload) {
		/* A failed read leaves the generation behind: the next tick tries again. */
		if (rules_reload(c) == 0) {
			c->generation = c->pending_generation;
			if (c->rules_read)
				log_msg(LOG_INFO, "read %zu rules, %zu services (generation %u)",
					c->rule_count, c->service_count, c->generation);
			c->rules_read = true;
		}
		shed_settings_reload(c);
		services_reload(c);
		settings_changed = true;
	}
	now = controller_now_ns();
	if (totals_read(c->st.counters, &c->totals)) {
		tick_failed(c, "read the outcome counters");
	} else if (rule_counters_read(c)) {
		tick_failed(c, "read the rule counters");
	} else {
		for (int i = 0; i < SLUICE_OUTCOME_COUNT; i++) {
			rate_update(&c->outcome_packets[i], c->totals.outcome[i].packets, now,
				    RATE_TAU_NS);
			rate_update(&c->outcome_bytes[i], c->totals.outcome[i].bytes, now,
				    RATE_TAU_NS);
		}
		for (size_t i = 0; i < c->rule_count; i++) {
			struct rule_rates *r = &c->rules[i];

			r->entry.counters = c->rule_counters[r->entry.id];
			rate_update(&r->passed, r->entry.counters.passed.packets, now, RATE_TAU_NS);
			rate_update(&r->dropped, r->entry.counters.dropped.packets, now,
				    RATE_TAU_NS);
			rate_update(&r->would_drop, r->entry.counters.would_drop.packets, now,
				    RATE_TAU_NS);
		}
		if (c->failing)
			log_msg(LOG_NOTICE, "reading the counters again");
		c->failing = NULL;
		fleet_sync_tick(&c->fleet, c->rule_counters, c->rule_ids_end, now, wall_now_ns());
	}
	if (c->fleet.on) {
		struct sluice_fleet_report report;
		__u32 zero = 0;

		fleet_sync_report(&c->fleet, now, &report);
		if (bpf_map_update_elem(c->st.fleet_report, &zero, &report, BPF_ANY))
			tick_failed(c, "write the fleet's report");
	}
	pressure_update(c, now);
	shedding_update(c, now, settings_changed);
	for (size_t i = 0; i < c->service_count; i++) {
		struct service_watch *w = &c->services[i];

		service_update(c, w, now);
		if (bpf_map_lookup_elem(c->st.service_counters, &w->entry.slot, &w->entry.refused))
			tick_failed(c, "read a service's counters");
		else
			rate_update(&w->refused_rate, w->entry.refused.packets, now, RATE_TAU_NS);
	}
	if (events_totals_read(&c->st, &c->events))
		tick_failed(c, "read the event counters");
	if (c->metrics && now - c->metrics_built_ns >= METRICS_EVERY_NS) {
		struct metrics_text t;

		metrics_text_init(&t);
		metrics_build(c, &t);
		if (t.failed)
			log_msg(LOG_WARNING, "cannot build the metrics (out of memory): /metrics "
				"answers 500 until the next try");
		metrics_publish(c->metrics, &t);
		metrics_text_free(&t);
		c->metrics_built_ns = now;
	}
	c->record.heartbeat_ns = controller_now_ns();
	c->record.ticks++;
	if (record_write(c))
		tick_failed(c, "write the heartbeat");
	c->last_tick_ns = controller_now_ns() - started;
}

/*
 * Everything the controller decided, undone: services admit, nothing is
 * shed. At start (a killed controller may have left decisions behind, which
 * would hold again under our heartbeat) and at a clean stop.
 */
static void decisions_clear(struct controller *c)
{
	struct sluice_shed none = {};
	__u32 zero = 0;

	for (__u32 slot = 0; slot < SLUICE_MAX_SERVICES; slot++)
		service_state_clear(c, slot);
	bpf_map_update_elem(c->st.shed, &zero, &none, BPF_ANY);
	for (size_t i = 0; i < c->service_count; i++)
		c->services[i].refusing = false;
	c->shed.level = 0;
	c->shed_written = 0;
	/*
	 * Fleet shares, whoever wrote them (a controller with --redis before
	 * this one without): every fleet rule holds its own limit again.
	 */
	map_delete_all(c->st.fleet_limits);
	map_delete_all(c->st.fleet_key_shares);
	bpf_map_update_elem(c->st.fleet_report, &zero, &(struct sluice_fleet_report){}, BPF_ANY);
	fleet_sync_clear(&c->fleet);
}

/* Labels for one sample: key/value pairs ending in NULL. */
#define LABELS(...) ((const char *const[]){ __VA_ARGS__, NULL })

/* One value of a service for the metrics. */
enum service_metric { SVC_REFUSING, SVC_QUEUE, SVC_BACKLOG, SVC_REFUSED, SVC_REFUSED_RATE,
		      SVC_OVERFLOWS, SVC_DROPS, SVC_ADMITTED, SVC_IN_FLIGHT, SVC_LIMIT,
		      SVC_FAILURE_RATE, SVC_SLOW_RATE, SVC_TRANSITIONS, SVC_PROBE_SECONDS,
		      SVC_PROBES_SLOW };

static double service_metric_value(const struct service_watch *w, enum service_metric what,
				   __u64 now)
{
	const struct guard *g = w->guarded ? &w->guard : NULL;
	double failure = 0, slow = 0;

	if (g)
		breaker_rates(&g->breaker, now, &failure, &slow, NULL);
	switch (what) {
	case SVC_REFUSING: return w->refusing;
	case SVC_QUEUE: return w->queue.queued;
	case SVC_BACKLOG: return w->queue.backlog;
	case SVC_REFUSED: return (double)w->entry.refused.packets;
	case SVC_REFUSED_RATE: return w->refused_rate.per_second;
	case SVC_OVERFLOWS: return (double)w->listen.overflows;
	case SVC_DROPS: return (double)w->listen.drops;
	case SVC_ADMITTED: return (double)w->flow.opened;
	case SVC_IN_FLIGHT: return w->conns.in_flight;
	case SVC_LIMIT: return w->limit;
	case SVC_FAILURE_RATE: return failure;
	case SVC_SLOW_RATE: return slow;
	case SVC_TRANSITIONS: return g ? (double)g->breaker.transitions_total : 0;
	case SVC_PROBE_SECONDS: return g ? (double)g->last_probe_duration_ns / 1e9 : 0;
	case SVC_PROBES_SLOW: return g ? (double)g->probes_slow : 0;
	}
	return 0;
}

/* The fleet (--redis): membership, hosts, the sync's latency and age, each rule's share. */
static void fleet_metrics(const struct controller *c, struct metrics_text *t)
{
	const struct fleet_sync *f = &c->fleet;
	__u64 now = controller_now_ns();
	char id[16];

	if (!f->on)
		return;
	metrics_family(t, "sluice_fleet_in_sync", "gauge",
		       "1 while the fleet's limits are synced through Redis; 0: falling back.");
	metrics_sample(t, "sluice_fleet_in_sync", NULL, f->member);
	metrics_family(t, "sluice_fleet_hosts", "gauge", "Hosts in the fleet, as last counted.");
	metrics_sample(t, "sluice_fleet_hosts", NULL, f->hosts);
	metrics_family(t, "sluice_fleet_sync_seconds", "gauge",
		       "The round trip of the last sync with Redis.");
	metrics_sample(t, "sluice_fleet_sync_seconds", NULL, (double)f->link.last_latency_ns / 1e9);
	metrics_family(t, "sluice_fleet_last_sync_age_seconds", "gauge",
		       "How long ago Redis last answered a sync.");
	metrics_sample(t, "sluice_fleet_last_sync_age_seconds", NULL,
		       f->syncs ? (double)(now - f->last_sync_ns) / 1e9 : -1);
	metrics_family(t, "sluice_fleet_syncs_total", "counter", "Syncs with Redis, by result.");
	metrics_sample(t, "sluice_fleet_syncs_total", LABELS("result", "ok"), (double)f->syncs);
	metrics_sample(t, "sluice_fleet_syncs_total", LABELS("result", "failed"),
		       (double)f->failures);
	metrics_family(t, "sluice_fleet_rule_share", "gauge",
		       "A per-rule fleet rule's share on this host, in its units a second (0: "
		       "blocked; -1: its own limit).");
	for (size_t i = 0; i < f->count; i++) {
		const struct fleet_rule *r = &f->rules[i];

		if (r->rule.flags & SLUICE_RULE_PER_SOURCE)
			continue;
		snprintf(id, sizeof(id), "%u", r->id);
		metrics_sample(t, "sluice_fleet_rule_share", LABELS("rule", id),
			       !r->written ? -1 : r->last.blocked ? 0 : (double)r->last.limit.rate);
	}
}

/* The per-service families, each a series per service labelled by its name and port. */
static void services_metrics(const struct controller *c, struct metrics_text *t, __u64 now)
{
	static const struct {
		const char *name, *type, *help;
		enum service_metric what;
	} families[] = {
		{ "sluice_service_refusing", "gauge",
		  "1 while a service's accept queue is full and its new connections refused.",
		  SVC_REFUSING },
		{ "sluice_service_accept_queue", "gauge",
		  "Connections waiting in a service's accept queues.", SVC_QUEUE },
		{ "sluice_service_backlog", "gauge", "The capacity of a service's accept queues.",
		  SVC_BACKLOG },
		{ "sluice_service_refused_total", "counter",
		  "New connections refused, for any reason.", SVC_REFUSED },
		{ "sluice_service_refused_per_second", "gauge",
		  "New connections refused per second, smoothed.", SVC_REFUSED_RATE },
		{ "sluice_listen_overflows_total", "counter",
		  "TcpExt ListenOverflows in the namespace where a service listens.",
		  SVC_OVERFLOWS },
		{ "sluice_listen_drops_total", "counter",
		  "TcpExt ListenDrops in the namespace where a service listens.", SVC_DROPS },
		{ "sluice_service_admitted_total", "counter",
		  "New connections the data path let through to a service.", SVC_ADMITTED },
		{ "sluice_service_breaker_failure_rate_percent", "gauge",
		  "Failed calls in the breaker's window (its probes in half-open).",
		  SVC_FAILURE_RATE },
		{ "sluice_service_breaker_slow_rate_percent", "gauge",
		  "Slow calls in the breaker's window (its probes in half-open).", SVC_SLOW_RATE },
		{ "sluice_service_breaker_transitions_total", "counter",
		  "Transitions of a service's breaker.", SVC_TRANSITIONS },
		{ "sluice_service_probe_seconds", "gauge",
		  "How long a service's last health probe took.", SVC_PROBE_SECONDS },
		{ "sluice_service_probes_slow_total", "counter",
		  "A service's health probes slower than its --slow-call (ok or failed).",
		  SVC_PROBES_SLOW },
	};
	static const char *const reasons[SLUICE_REFUSAL_COUNT] = {
		[SLUICE_REFUSAL_BREAKER] = "breaker", [SLUICE_REFUSAL_BACKPRESSURE] = "backpressure",
		[SLUICE_REFUSAL_CONCURRENCY] = "concurrency",
	};
	char port[8];

	for (size_t f = 0; f < sizeof(families) / sizeof(families[0]); f++) {
		metrics_family(t, families[f].name, families[f].type, families[f].help);
		for (size_t i = 0; i < c->service_count; i++) {
			const struct service_watch *w = &c->services[i];

			snprintf(port, sizeof(port), "%u", w->entry.config.port);
			metrics_sample(t, families[f].name,
				       LABELS("service", w->entry.config.name, "port", port),
				       service_metric_value(w, families[f].what, now));
		}
	}
	/* Connections are read only for services with a limit: the others have neither series. */
	for (int f = 0; f < 2; f++) {
		metrics_family(t, f ? "sluice_service_concurrency_limit" : "sluice_service_in_flight",
			       "gauge", f ? "A service's concurrency limit as the data path holds it "
					    "(0 while its connections cannot be read)." :
					    "A service's connections being served or queued, as "
					    "sock_diag counts them.");
		for (size_t i = 0; i < c->service_count; i++) {
			const struct service_watch *w = &c->services[i];

			if (!w->guarded || !w->guard.has_limit)
				continue;
			snprintf(port, sizeof(port), "%u", w->entry.config.port);
			metrics_sample(t, f ? "sluice_service_concurrency_limit" :
					      "sluice_service_in_flight",
				       LABELS("service", w->entry.config.name, "port", port),
				       service_metric_value(w, f ? SVC_LIMIT : SVC_IN_FLIGHT, now));
		}
	}
	metrics_family(t, "sluice_service_refused_by_total", "counter",
		       "New connections refused, by the gate that refused them.");
	for (size_t i = 0; i < c->service_count; i++) {
		const struct service_watch *w = &c->services[i];

		snprintf(port, sizeof(port), "%u", w->entry.config.port);
		for (int r = SLUICE_REFUSAL_BREAKER; r < SLUICE_REFUSAL_COUNT; r++)
			metrics_sample(t, "sluice_service_refused_by_total",
				       LABELS("service", w->entry.config.name, "port", port,
					      "reason", reasons[r]),
				       (double)w->flow.refused[r]);
	}
	metrics_family(t, "sluice_service_breaker_state", "gauge",
		       "1 for the state a service's breaker is in (services with a breaker, or tripped).");
	for (size_t i = 0; i < c->service_count; i++) {
		const struct service_watch *w = &c->services[i];
		const struct breaker *b = &w->guard.breaker;

		if (!w->guarded || (!w->guard.has_breaker && b->state != BREAKER_FORCED_OPEN))
			continue;
		snprintf(port, sizeof(port), "%u", w->entry.config.port);
		for (int st = BREAKER_CLOSED; st <= BREAKER_DISABLED; st++)
			metrics_sample(t, "sluice_service_breaker_state",
				       LABELS("service", w->entry.config.name, "port", port,
					      "state", breaker_state_name((enum breaker_state)st)),
				       b->state == (enum breaker_state)st);
	}
	metrics_family(t, "sluice_service_probes_total", "counter",
		       "A service's health probes, by result.");
	for (size_t i = 0; i < c->service_count; i++) {
		const struct service_watch *w = &c->services[i];
		static const char *const results[] = { "ok", "failed" };

		if (!w->guarded || !w->guard.probing)
			continue;
		snprintf(port, sizeof(port), "%u", w->entry.config.port);
		for (int r = 0; r < 2; r++)
			metrics_sample(t, "sluice_service_probes_total",
				       LABELS("service", w->entry.config.name, "port", port,
					      "result", results[r]),
				       (double)(r ? w->guard.probes_failed : w->guard.probes_ok));
	}
}

/* A gauge of each limited rule's rate, or of its burst, labelled with its unit. */
static void rule_limit_metrics(const struct controller *c, struct metrics_text *t,
			       const char *name, const char *help, bool burst)
{
	char id[16];

	metrics_family(t, name, "gauge", help);
	for (size_t i = 0; i < c->rule_count && i < METRICS_MAX_RULES; i++) {
		const struct sluice_rule *r = &c->rules[i].entry.rule;

		if (r->flags & SLUICE_RULE_UNLIMITED)
			continue;
		snprintf(id, sizeof(id), "%u", c->rules[i].entry.id);
		metrics_sample(t, name,
			       LABELS("rule", id, "unit",
				      r->limit.unit == SLUICE_UNIT_BYTES ? "bytes" : "packets"),
			       (double)(burst ? r->limit.burst : r->limit.rate));
	}
}

static void metrics_build(struct controller *c, struct metrics_text *t)
{
	char id[16];
	struct rusage usage;

	metrics_family(t, "sluice_packets_total", "counter", "Packets by outcome.");
	for (int i = 0; i < SLUICE_OUTCOME_COUNT; i++)
		metrics_sample(t, "sluice_packets_total", LABELS("outcome", outcome_keys[i]),
			       (double)c->totals.outcome[i].packets);
	metrics_family(t, "sluice_bytes_total", "counter", "Bytes by outcome.");
	for (int i = 0; i < SLUICE_OUTCOME_COUNT; i++)
		metrics_sample(t, "sluice_bytes_total", LABELS("outcome", outcome_keys[i]),
			       (double)c->totals.outcome[i].bytes);
	metrics_family(t, "sluice_packets_per_second", "gauge",
		       "Packets per second by outcome, smoothed over about a second.");
	for (int i = 0; i < SLUICE_OUTCOME_COUNT; i++)
		metrics_sample(t, "sluice_packets_per_second", LABELS("outcome", outcome_keys[i]),
			       c->outcome_packets[i].per_second);

	metrics_family(t, "sluice_rule_packets_total", "counter",
		       "Packets each rule passed, dropped and would have dropped (dry run).");
	for (size_t i = 0; i < c->rule_count && i < METRICS_MAX_RULES; i++) {
		const struct rule_entry *e = &c->rules[i].entry;

		snprintf(id, sizeof(id), "%u", e->id);
		metrics_sample(t, "sluice_rule_packets_total", LABELS("rule", id, "verdict", "passed"),
			       (double)e->counters.passed.packets);
		metrics_sample(t, "sluice_rule_packets_total", LABELS("rule", id, "verdict", "dropped"),
			       (double)e->counters.dropped.packets);
		metrics_sample(t, "sluice_rule_packets_total",
			       LABELS("rule", id, "verdict", "would_drop"),
			       (double)e->counters.would_drop.packets);
	}
	metrics_family(t, "sluice_rule_packets_per_second", "gauge",
		       "Packets per second each rule passed and dropped, smoothed.");
	for (size_t i = 0; i < c->rule_count && i < METRICS_MAX_RULES; i++) {
		snprintf(id, sizeof(id), "%u", c->rules[i].entry.id);
		metrics_sample(t, "sluice_rule_packets_per_second",
			       LABELS("rule", id, "verdict", "passed"), c->rules[i].passed.per_second);
		metrics_sample(t, "sluice_rule_packets_per_second",
			       LABELS("rule", id, "verdict", "dropped"),
			       c->rules[i].dropped.per_second);
	}
	metrics_family(t, "sluice_rule_info", "gauge",
		       "Each rule: its level, match, limit and class (value 1).");
	for (size_t i = 0; i < c->rule_count && i < METRICS_MAX_RULES; i++) {
		const struct sluice_rule *r = &c->rules[i].entry.rule;
		char match[256], limit[128];

		snprintf(id, sizeof(id), "%u", c->rules[i].entry.id);
		rule_match_text(r, match, sizeof(match));
		rule_limit_text(r, limit, sizeof(limit));
		metrics_sample(t, "sluice_rule_info",
			       LABELS("rule", id, "level", rule_level_name(r->level), "match", match,
				      "limit", limit, "class",
				      r->flags & SLUICE_RULE_CLASSED ? class_name(r->class) : ""),
			       1);
	}
	rule_limit_metrics(c, t, "sluice_rule_rate",
			   "Each limited rule's rate, in its unit per second (packets or bytes).", false);
	rule_limit_metrics(c, t, "sluice_rule_burst",
			   "Each limited rule's burst, in its unit (packets or bytes).", true);
	metrics_family(t, "sluice_rules", "gauge", "Rules in force.");
	metrics_sample(t, "sluice_rules", NULL, (double)c->rule_count);

	metrics_family(t, "sluice_shed_level", "gauge", "The load shedding level (0: none).");
	metrics_sample(t, "sluice_shed_level", NULL, c->shed.level);
	metrics_family(t, "sluice_shed_share", "gauge",
		       "The share of each class's new connections shed at the current level.");
	for (unsigned int k = 0; k < SLUICE_CLASSES; k++)
		metrics_sample(t, "sluice_shed_share", LABELS("class", class_name(k)),
			       c->shed.level ? c->shed_cfg.share_pct[c->shed.level - 1][k] / 100.0 : 0);
	metrics_family(t, "sluice_shed_threshold_percent", "gauge",
		       "Pressure that raises (enter) and lowers (exit) the shed level.");
	metrics_sample(t, "sluice_shed_threshold_percent", LABELS("threshold", "enter"),
		       c->shed_cfg.enter_pct);
	metrics_sample(t, "sluice_shed_threshold_percent", LABELS("threshold", "exit"),
		       c->shed_cfg.exit_pct);
	metrics_family(t, "sluice_pressure_percent", "gauge",
		       "Pressure: the greater of CPU busy and offered load against capacity.");
	metrics_sample(t, "sluice_pressure_percent", NULL, c->pressure_pct);
	metrics_family(t, "sluice_cpu_busy_percent", "gauge", "CPU busy time of all CPUs, smoothed.");
	metrics_sample(t, "sluice_cpu_busy_percent", NULL, c->cpu_busy_pct);
	metrics_family(t, "sluice_cpu_softirq_percent", "gauge",
		       "CPU time in softirq (XDP and the network stack), smoothed.");
	metrics_sample(t, "sluice_cpu_softirq_percent", NULL, c->softirq_pct);
	metrics_family(t, "sluice_cpu_softirq_busiest_percent", "gauge",
		       "The softirq share of the CPU with the most, smoothed.");
	metrics_sample(t, "sluice_cpu_softirq_busiest_percent", NULL, c->softirq_busiest_pct);
	metrics_family(t, "sluice_offered_packets_per_second", "gauge",
		       "Packets offered to load shedding (passed the rules), smoothed.");
	metrics_sample(t, "sluice_offered_packets_per_second", NULL, c->offered_pps);
	metrics_family(t, "sluice_capacity_packets_per_second", "gauge",
		       "The packet rate the host is said to take (0: not set).");
	metrics_sample(t, "sluice_capacity_packets_per_second", NULL,
		       (double)c->shed_cfg.capacity_pps);

	services_metrics(c, t, controller_now_ns());
	fleet_metrics(c, t);

	metrics_family(t, "sluice_events_total", "counter",
		       "Drop events: sent to the ring, suppressed over the event rate, lost to a "
		       "full ring.");
	metrics_sample(t, "sluice_events_total", LABELS("result", "sent"), (double)c->events.sent);
	metrics_sample(t, "sluice_events_total", LABELS("result", "suppressed"),
		       (double)c->events.suppressed);
	metrics_sample(t, "sluice_events_total", LABELS("result", "lost"), (double)c->events.lost);

	metrics_family(t, "sluice_controller_ticks_total", "counter", "Controller ticks.");
	metrics_sample(t, "sluice_controller_ticks_total", NULL, (double)c->record.ticks);
	metrics_family(t, "sluice_controller_tick_seconds", "gauge", "How long the last tick took.");
	metrics_sample(t, "sluice_controller_tick_seconds", NULL, c->last_tick_ns / 1e9);
	metrics_family(t, "sluice_controller_interval_seconds", "gauge", "The controller's tick.");
	metrics_sample(t, "sluice_controller_interval_seconds", NULL, c->record.interval_ns / 1e9);
	if (getrusage(RUSAGE_SELF, &usage) == 0) {
		metrics_family(t, "sluice_controller_cpu_seconds_total", "counter",
			       "CPU time the controller used, user and system.");
		metrics_sample(t, "sluice_controller_cpu_seconds_total", NULL,
			       usage.ru_utime.tv_sec + usage.ru_utime.tv_usec / 1e6 +
				       usage.ru_stime.tv_sec + usage.ru_stime.tv_usec / 1e6);
	}
}

/*
 * --log-events: once a second has passed, the count of the events it did
 * not log. Called for each event and on every tick, so the count comes out
 * even when the drops stop.
 */
static void events_log_second(struct controller *c)
{
	__u64 second = controller_now_ns() / 1000000000ull;

	if (second == c->event_second)
		return;
	if (c->events_unlogged)
		log_msg(LOG_INFO, "drop: %llu more events in the last second (not logged)",
			(unsigned long long)c->events_unlogged);
	c->event_second = second;
	c->events_logged = 0;
	c->events_unlogged = 0;
}

/* --log-events: a line per event, at most EVENTS_LOGGED_PER_SEC a second. */
static int log_event(void *ctx, void *data, size_t size)
{
	struct controller *c = ctx;
	char line[256];

	if (size < sizeof(struct sluice_event))
		return 0;
	events_log_second(c);
	if (c->events_logged >= EVENTS_LOGGED_PER_SEC) {
		c->events_unlogged++;
		return 0;
	}
	c->events_logged++;
	event_text(data, line, sizeof(line));
	log_msg(LOG_INFO, "drop: %s", line);
	return 0;
}

/* Blocks the signals the loop reads from a signalfd, and returns that fd. */
static int signals_open(void)
{
	sigset_t mask;

	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &mask, NULL))
		return -1;
	return signalfd(-1, &mask, SFD_CLOEXEC);
}

static int timer_open(__u64 interval_ns)
{
	struct itimerspec every = {
		.it_interval = { interval_ns / 1000000000ull, interval_ns % 1000000000ull },
		.it_value = { interval_ns / 1000000000ull, interval_ns % 1000000000ull },
	};
	int fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC);

	if (fd >= 0 && timerfd_settime(fd, 0, &every, NULL)) {
		close(fd);
		return -1;
	}
	return fd;
}

/* The poll set beyond the controller's own descriptors: each outstanding health probe. */
#define RUN_FDS 3

/*
 * How long poll() may wait: until the first guard or the fleet's Redis link
 * needs the controller without its socket moving, or for ever (-1).
 */
static int poll_timeout_ms(const struct controller *c)
{
	__u64 first = UINT64_MAX, now = controller_now_ns();

	for (size_t i = 0; i < c->service_count; i++)
		if (c->services[i].guarded && guard_wakeup_ns(&c->services[i].guard) < first)
			first = guard_wakeup_ns(&c->services[i].guard);
	if (c->fleet.on && redis_link_wakeup_ns(&c->fleet.link) < first)
		first = redis_link_wakeup_ns(&c->fleet.link);
	if (first == UINT64_MAX)
		return -1;
	return first <= now ? 0 : (int)((first - now + 999999) / 1000000);
}

/* Probes due or timed out, between ticks. */
static void probes_due(struct controller *c)
{
	__u64 now = controller_now_ns();

	for (size_t i = 0; i < c->service_count; i++) {
		struct service_watch *w = &c->services[i];

		if (w->guarded && guard_wakeup_ns(&w->guard) <= now)
			guard_probe_due(&w->guard, now, w->netns_fd, w->conns.in_flight);
	}
}

static nfds_t probe_fds_set(struct controller *c, struct pollfd *fds, struct service_watch **owner)
{
	nfds_t n = 0;

	for (size_t i = 0; i < c->service_count; i++) {
		struct service_watch *w = &c->services[i];
		short events;
		int fd;

		if (!w->guarded || (fd = guard_poll_fd(&w->guard, &events)) < 0)
			continue;
		fds[n] = (struct pollfd){ .fd = fd, .events = events };
		owner[n++] = w;
	}
	return n;
}

/* Ticks until SIGINT or SIGTERM. Returns the exit status. */
static int run_loop(struct controller *c, int signal_fd, int timer_fd)
{
	struct pollfd fds[RUN_FDS + SLUICE_MAX_SERVICES + 1] = {
		{ .fd = signal_fd, .events = POLLIN },
		{ .fd = timer_fd, .events = POLLIN },
		{ .fd = c->event_ring ? ring_buffer__epoll_fd(c->event_ring) : -1, .events = POLLIN },
	};
	struct service_watch *probing[SLUICE_MAX_SERVICES];

	for (;;) {
		struct signalfd_siginfo sig;
		__u64 expirations;
		nfds_t probes = probe_fds_set(c, fds + RUN_FDS, probing), redis = 0;

		/* The fleet's Redis link: its socket (none while it is down). */
		if (c->fleet.on) {
			fds[RUN_FDS + probes].fd = redis_link_fd(&c->fleet.link,
								 &fds[RUN_FDS + probes].events);
			redis = 1;
		}
		if (poll(fds, RUN_FDS + probes + redis, poll_timeout_ms(c)) < 0) {
			if (errno == EINTR)
				continue;
			log_msg(LOG_ERR, "poll failed: %s", strerror(errno));
			return 1;
		}
		/* First, while the services are those the poll set was made from. */
		for (nfds_t i = 0; i < probes; i++)
			if (fds[RUN_FDS + i].revents)
				guard_probe_ready(&probing[i]->guard, controller_now_ns());
		probes_due(c);
		fleet_sync_poll(&c->fleet, controller_now_ns(), wall_now_ns());
		if (fds[0].revents & POLLIN &&
		    read(signal_fd, &sig, sizeof(sig)) == (ssize_t)sizeof(sig)) {
			if (sig.ssi_signo != SIGHUP) {
				log_msg(LOG_INFO, "stopping on %s", strsignal((int)sig.ssi_signo));
				return 0;
			}
			log_msg(LOG_INFO, "SIGHUP: reading the settings again");
			tick(c, true);
		}
		/* Ticks missed while busy are not made up: one tick reads all there is. */
		if (fds[1].revents & POLLIN &&
		    read(timer_fd, &expirations, sizeof(expirations)) == sizeof(expirations))
			tick(c, false);
		if (fds[2].revents & POLLIN)
			ring_buffer__consume(c->event_ring);
		if (c->event_ring)
			events_log_second(c);
	}
}

static void controller_close(struct controller *c)
{
	for (size_t i = 0; i < c->service_count; i++)
		service_watch_close(&c->services[i]);
	fleet_sync_close(&c->fleet);
	if (c->metrics)
		metrics_stop(c->metrics);
	ring_buffer__free(c->event_ring);
	if (c->proc_stat_fd >= 0)
		close(c->proc_stat_fd);
	free(c->cpu_times);
	free(c->cpu_rates);
	free(c->rules);
	free(c->rule_counters);
	state_close(&c->st);
	if (c->lock_fd >= 0)
		close(c->lock_fd);
}

int cmd_run(const struct cli *cli, int argc, char **argv)
{
	static const struct option options[] = {
		{ "interval", required_argument, NULL, 'i' },
		{ "lease", required_argument, NULL, 'l' },
		{ "metrics", required_argument, NULL, 'm' },
		{ "log-events", no_argument, NULL, 'e' },
		{ "redis", required_argument, NULL, 'r' },
		{ "fleet-fallback", required_argument, NULL, 'f' },
		{},
	};
	const char *interval_arg = NULL, *lease_arg = NULL, *metrics_arg = NULL, *log_events = NULL;
	const char *redis_arg = NULL, *fallback_arg = NULL;
	enum fleet_fallback fallback = FLEET_FALLBACK_SHARE;
	struct redis_url redis_url;
	struct controller c = { .lock_fd = -1, .proc_stat_fd = -1 };
	char err[SLUICE_ERR_LEN];
	__u64 interval_ms = 50, lease_ms;
	int opt, signal_fd = -1, timer_fd = -1, ret = 1;

	while ((opt = cli_getopt(cli, "run", argc, argv, "", options)) != -1) {
		const char **slot = opt == 'i' ? &interval_arg : opt == 'l' ? &lease_arg :
				    opt == 'm' ? &metrics_arg : opt == 'r' ? &redis_arg :
				    opt == 'f' ? &fallback_arg : &log_events;

		if (opt == -2 || cli_option_once(cli, slot, optarg ? optarg : "", opt == 'i' ?
						 "--interval" : opt == 'l' ? "--lease" :
						 opt == 'm' ? "--metrics" : opt == 'r' ? "--redis" :
						 opt == 'f' ? "--fleet-fallback" : "--log-events"))
			return 1;
	}
	if (optind != argc)
		return cli_fail(cli, "run takes no arguments besides its options");
	if (interval_arg && parse_duration_ms("--interval", interval_arg, 10, 10000, &interval_ms,
					      err, sizeof(err)))
		return cli_fail(cli, "%s", err);
	lease_ms = interval_ms * DEFAULT_LEASE_TICKS;
	/* Under two ticks, one late tick would expire every decision. */
	if (lease_arg && parse_duration_ms("--lease", lease_arg, interval_ms * 2, 600000,
					   &lease_ms, err, sizeof(err)))
		return cli_fail(cli, "%s", err);

	if (redis_arg && redis_url_parse(redis_arg, &redis_url, err, sizeof(err)))
		return cli_fail(cli, "%s", err);
	if (fallback_arg && !redis_arg)
		return cli_fail(cli, "--fleet-fallback needs --redis");
	if (fallback_arg && fleet_fallback_parse(fallback_arg, &fallback, err, sizeof(err)))
		return cli_fail(cli, "%s", err);
	if (metrics_arg && strcmp(metrics_arg, "none") != 0) {
		struct sockaddr_storage addr;
		socklen_t addr_len;

		/* Checked before the state is made: a bad option changes nothing. */
		if (metrics_parse_address(metrics_arg, &addr, &addr_len, err, sizeof(err)))
			return cli_fail(cli, "%s", err);
	}

	log_init();
	/* The controller may start before anything is configured: make the state. */
	if (state_exists(cli->pin_root) != 1) {
		if (state_create(&c.st, cli->pin_root, cli->max_sources, err, sizeof(err)))
			return cli_fail(cli, "failed to start the controller: %s", err);
		state_close(&c.st);
	}
	if (state_open(&c.st, cli->pin_root, STATE_READ, err, sizeof(err)))
		return cli_fail(cli, "failed to start the controller: %s", err);
	c.lock_fd = controller_lock(cli->pin_root, c.st.controller, err, sizeof(err));
	if (c.lock_fd < 0) {
		cli_fail(cli, "failed to start the controller: %s", err);
		goto out;
	}
	/*
	 * Signals are blocked before the metrics server starts its thread, which
	 * inherits the mask: else SIGTERM, SIGINT or SIGHUP may be delivered to
	 * that thread, where their default action ends the process.
	 */
	signal_fd = signals_open();
	if (!metrics_arg)
		metrics_arg = DEFAULT_METRICS;
	if (strcmp(metrics_arg, "none") != 0) {
		c.metrics = metrics_start(metrics_arg, err, sizeof(err));
		if (!c.metrics) {
			cli_fail(cli, "failed to start the controller: %s", err);
			goto out;
		}
	}
	if (log_events) {
		c.event_ring = ring_buffer__new(c.st.events, log_event, &c, NULL);
		if (!c.event_ring) {
			cli_fail(cli, "failed to start the controller: cannot read the event ring: %s",
				 state_strerror(errno));
			goto out;
		}
	}
	c.proc_stat_fd = open("/proc/stat", O_RDONLY | O_CLOEXEC);
	c.max_cpus = (unsigned int)sysconf(_SC_NPROCESSORS_CONF);
	c.cpu_times = calloc(c.max_cpus ? c.max_cpus : 1, sizeof(*c.cpu_times));
	c.cpu_rates = calloc(c.max_cpus ? c.max_cpus : 1, sizeof(*c.cpu_rates));
	if (!c.cpu_times || !c.cpu_rates) {
		cli_fail(cli, "failed to start the controller: out of memory");
		goto out;
	}
	timer_fd = timer_open(interval_ms * MS);
	if (signal_fd < 0 || timer_fd < 0 || c.proc_stat_fd < 0) {
		cli_fail(cli, "failed to start the controller: %s", strerror(errno));
		goto out;
	}

	if (redis_arg && fleet_sync_init(&c.fleet, &redis_url, fallback, c.st.fleet_limits,
					 c.st.fleet_passed, c.st.fleet_key_shares)) {
		cli_fail(cli, "failed to start the controller: out of memory");
		goto out;
	}
	c.record = (struct sluice_controller){
		.pid = (__u32)getpid(),
		.started_ns = controller_now_ns(),
		.interval_ns = interval_ms * MS,
		.lease_ns = lease_ms * MS,
	};
	decisions_clear(&c);
	tick(&c, true);
	log_msg(LOG_INFO, "controller started on pin root %s: a tick every %llums, lease %llums, "
		"%zu rules, %zu services", cli->pin_root, interval_ms, lease_ms, c.rule_count,
		c.service_count);
	if (c.metrics)
		log_msg(LOG_INFO, "metrics on http://%s/metrics", metrics_arg);
	ret = run_loop(&c, signal_fd, timer_fd);
	decisions_clear(&c);

	/* Stopped cleanly: whatever was decided expires now, not a lease later. */
	c.record.heartbeat_ns = 0;
	c.record.pid = 0;
	if (record_write(&c))
		log_msg(LOG_WARNING, "cannot clear the heartbeat: %s (it expires within %llums)",
			state_strerror(errno), lease_ms);
	log_msg(LOG_INFO, "controller stopped after %llu ticks", c.record.ticks);
out:
	if (signal_fd >= 0)
		close(signal_fd);
	if (timer_fd >= 0)
		close(timer_fd);
	controller_close(&c);
	return ret;
}
