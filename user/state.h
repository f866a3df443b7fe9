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

struct sluice_bpf;

enum state_mode {
	STATE_READ,	/* the maps must exist already */
	STATE_CHANGE,	/* they must exist, and the pin root is locked */
	STATE_CREATE,	/* create them when missing, and lock the pin root */
};

struct state {
	char root[PATH_MAX];
	int lock_fd;
	int counters;
	int buckets;
	int limits;
	int allow_list;
	int deny_list;
};

/*
 * Opens the pinned maps under `root`. In STATE_CREATE mode it mounts bpffs
 * at /sys/fs/bpf if it is missing and creates the pin root and the maps.
 * On failure it fills `err` with one line and returns -1.
 */
int state_open(struct state *st, const char *root, enum state_mode mode, char *err,
	       size_t err_len);
void state_close(struct state *st);
/* Unpins the maps and removes the pin root if it is then empty (under the lock). */
void state_remove(struct state *st);

/*
 * Opens and loads the BPF object with its maps pinned under `root` (reusing
 * pinned ones). With `with_program` false only the maps are created.
 */
int state_load_object(const char *root, bool with_program, struct sluice_bpf **out, char *err,
		      size_t err_len);

/* Whether the maps are pinned under `root`: 1, 0, or -1 with errno when it cannot tell. */
int state_exists(const char *root);

/* Takes the pin root's lock; returns its fd (closing it unlocks) or -1. */
int state_lock(const char *root, char *err, size_t err_len);

/* Path of an object under the pin root. */
int state_path(char *buf, size_t len, const char *root, const char *name);

/* Explains a failed bpf() call: privileges first, since that is the usual cause. */
const char *state_strerror(int err);

#endif /* SLUICE_STATE_H */
