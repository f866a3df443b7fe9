/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The pin root: where Sluice's maps and XDP links live, so that state
 * outlives every process. Commands that change state hold an flock() on it,
 * so two CLIs cannot interleave their changes.
 */
#ifndef SLUICE_STATE_H
#define SLUICE_STATE_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>

struct sluice_bpf;

enum state_mode {
	STATE_READ,	/* the maps must exist already */
	STATE_SNAPSHOT,	/* and no change runs while they are open (a shared lock) */
	STATE_CHANGE,	/* they must exist, and the pin root is locked */
	STATE_CREATE,	/* create them when missing, and lock the pin root */
};

struct state {
	char root[PATH_MAX];
	int lock_fd;
	bool changing;		/* STATE_CHANGE or STATE_CREATE: close syncs the config */
	int counters;
	int buckets;
	int rules;
	int source_rules;
	int prefix_rules;
	int port_rules;
	int rule_state;
	int rule_counters;
	int allow_list;
	int deny_list;
	int config;
	int controller;
	int shed;
	int shed_config;
	int services;
	int service_ports;
	int service_state;
	int service_counters;
	int service_flow;
	int service_report;
	int fleet_limits;
	int fleet_report;
	int fleet_passed;
	int fleet_key_shares;
	int events;
	int events_state;
	int events_skipped;
};

/* Deletes every entry of a hash map (keys of up to 64 bytes). 0, or -1 with errno. */
int map_delete_all(int fd);

struct rule_maps;
/* The maps of an open state that rules live in. */
void state_rule_maps(const struct state *st, struct rule_maps *m);

/*
 * Opens the pinned maps under `root`. In STATE_CREATE mode it mounts bpffs
 * at /sys/fs/bpf if it is missing and creates the pin root and the maps.
 * On failure it fills `err` with one line and returns -1.
 */
int state_open(struct state *st, const char *root, enum state_mode mode, char *err,
	       size_t err_len);
/*
 * state_open() in STATE_CREATE mode, with the size of a new bucket table:
 * `max_sources` sources (0: SLUICE_MAX_SOURCES). An existing table keeps its
 * size, and asking for another is an error.
 */
int state_create(struct state *st, const char *root, __u32 max_sources, char *err,
		 size_t err_len);
/*
 * Closes the maps. In STATE_CHANGE and STATE_CREATE modes it first derives
 * the config flags from the lists (which are empty), under the lock.
 */
void state_close(struct state *st);
/*
 * Marks a list as possibly holding entries before one is added, so the data
 * path never skips a list that has one. Returns 0 or -1 with errno.
 */
int state_mark_list_used(const struct state *st, int list_fd);
/* Unpins the maps and removes the pin root if it is then empty (under the lock). */
void state_remove(struct state *st);

/*
 * Opens and loads the BPF object with its maps pinned under `root` (reusing
 * pinned ones). With `with_program` false only the maps are created. A new
 * bucket table holds `max_sources` (0: the default); see state_create().
 */
int state_load_object(const char *root, bool with_program, __u32 max_sources,
		      struct sluice_bpf **out, char *err, size_t err_len);

/* Whether the maps are pinned under `root`: 1, 0, or -1 with errno when it cannot tell. */
int state_exists(const char *root);

/*
 * Takes the pin root's lock, LOCK_EX to change state or LOCK_SH to read it
 * whole; returns its fd (closing it unlocks) or -1.
 */
int state_lock(const char *root, int operation, char *err, size_t err_len);

/*
 * The depth from which a bucket may use the kernel's coarse clock: four of
 * its ticks (a jiffy, from clock_getres(CLOCK_MONOTONIC_COARSE)), so such a
 * bucket holds several ticks of refill and loses nothing to the coarse
 * clock's steps. 0 (always the precise clock) when the tick is unknown.
 * Every loader of the XDP program sets its rodata from this.
 */
__u64 sluice_coarse_clock_min_depth(void);

/* Path of an object under the pin root. */
int state_path(char *buf, size_t len, const char *root, const char *name);

/* Explains a failed bpf() call: privileges first, since that is the usual cause. */
const char *state_strerror(int err);

#endif /* SLUICE_STATE_H */
