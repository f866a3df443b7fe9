// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * sluice run: the controller. A foreground daemon that, every tick, reads
 * what the data path counted, keeps smoothed per-second rates of it, and
 * stamps a heartbeat that the data path checks before it trusts any of the
 * controller's decisions. One runs per pin root: it holds an flock() on the
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

#include "cli.h"
#include "controller.h"
#include "counters.h"
#include "log.h"
#include "rates.h"
#include "rules.h"
#include "state.h"

#define MS 1000000ull
/* The lease in ticks unless --lease says otherwise: a few ticks late is still alive. */
#define DEFAULT_LEASE_TICKS 4
#define RULE_COUNTERS_BATCH 4096

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
	bool rules_read;
	struct totals totals;
	struct rate outcome_packets[SLUICE_OUTCOME_COUNT];
	struct rate outcome_bytes[SLUICE_OUTCOME_COUNT];
	struct rule_rates *rules;
	size_t rule_count;
	__u32 rule_ids_end;			/* one past the highest id in use */
	struct sluice_rule_counters *rule_counters;	/* by id, up to rule_ids_end */
	const char *failing;			/* what failed on the last tick, to log once */
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

static bool rules_changed(struct controller *c)
{
	struct sluice_config cfg;
	__u32 zero = 0;

	/* Unreadable: keep the rules as they were read; the next tick tries again. */
	if (bpf_map_lookup_elem(c->st.config, &zero, &cfg))
		return false;
	if (c->rules_read && cfg.generation == c->generation)
		return false;
	c->generation = cfg.generation;
	return true;
}

/* One tick: read the counters, update the rates, stamp the heartbeat. */
static void tick(struct controller *c, bool reload)
{
	__u64 now;

	if ((rules_changed(c) || reload) && rules_reload(c) == 0) {
		if (c->rules_read)
			log_msg(LOG_INFO, "read %zu rules (generation %u)", c->rule_count,
				c->generation);
		c->rules_read = true;
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
	}
	c->record.heartbeat_ns = controller_now_ns();
	c->record.ticks++;
	if (record_write(c))
		tick_failed(c, "write the heartbeat");
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

/* Ticks until SIGINT or SIGTERM. Returns the exit status. */
static int run_loop(struct controller *c, int signal_fd, int timer_fd)
{
	struct pollfd fds[] = {
		{ .fd = signal_fd, .events = POLLIN },
		{ .fd = timer_fd, .events = POLLIN },
	};

	for (;;) {
		struct signalfd_siginfo sig;
		__u64 expirations;

		if (poll(fds, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			log_msg(LOG_ERR, "poll failed: %s", strerror(errno));
			return 1;
		}
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
	}
}

static void controller_close(struct controller *c)
{
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
		{},
	};
	const char *interval_arg = NULL, *lease_arg = NULL;
	struct controller c = { .lock_fd = -1 };
	char err[SLUICE_ERR_LEN];
	__u64 interval_ms = 50, lease_ms;
	int opt, signal_fd = -1, timer_fd = -1, ret = 1;

	while ((opt = cli_getopt(cli, "run", argc, argv, "i:l:", options)) != -1) {
		if (opt == -2 || cli_option_once(cli, opt == 'i' ? &interval_arg : &lease_arg,
						 optarg, opt == 'i' ? "--interval" : "--lease"))
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
	signal_fd = signals_open();
	timer_fd = timer_open(interval_ms * MS);
	if (signal_fd < 0 || timer_fd < 0) {
		cli_fail(cli, "failed to start the controller: %s", strerror(errno));
		goto out;
	}

	c.record = (struct sluice_controller){
		.pid = (__u32)getpid(),
		.started_ns = controller_now_ns(),
		.interval_ns = interval_ms * MS,
		.lease_ns = lease_ms * MS,
	};
	tick(&c, true);
	log_msg(LOG_INFO, "controller started on pin root %s: a tick every %llums, lease %llums, "
		"%zu rules", cli->pin_root, interval_ms, lease_ms, c.rule_count);
	ret = run_loop(&c, signal_fd, timer_fd);

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
