// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <time.h>
#include <unistd.h>
#include <linux/magic.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "sluice.h"
#include "sluice.skel.h"
#include "rules.h"
#include "state.h"
#include "token_bucket.h"

#define BPFFS_MOUNT_POINT "/sys/fs/bpf"

/* The maps a command opens, by pinned name, and where their fd goes. */
static const struct {
	const char *name;
	size_t fd_offset;
} pinned_maps[] = {
	{ SLUICE_MAP_COUNTERS, offsetof(struct state, counters) },
	{ SLUICE_MAP_BUCKETS, offsetof(struct state, buckets) },
	{ SLUICE_MAP_RULES, offsetof(struct state, rules) },
	{ SLUICE_MAP_SOURCE_RULES, offsetof(struct state, source_rules) },
	{ SLUICE_MAP_PREFIX_RULES, offsetof(struct state, prefix_rules) },
	{ SLUICE_MAP_PORT_RULES, offsetof(struct state, port_rules) },
	{ SLUICE_MAP_RULE_STATE, offsetof(struct state, rule_state) },
	{ SLUICE_MAP_RULE_COUNTERS, offsetof(struct state, rule_counters) },
	{ SLUICE_MAP_ALLOW, offsetof(struct state, allow_list) },
	{ SLUICE_MAP_DENY, offsetof(struct state, deny_list) },
	{ SLUICE_MAP_CONFIG, offsetof(struct state, config) },
	{ SLUICE_MAP_CONTROLLER, offsetof(struct state, controller) },
	{ SLUICE_MAP_SHED, offsetof(struct state, shed) },
	{ SLUICE_MAP_SHED_CONFIG, offsetof(struct state, shed_config) },
	{ SLUICE_MAP_SERVICES, offsetof(struct state, services) },
	{ SLUICE_MAP_SERVICE_PORTS, offsetof(struct state, service_ports) },
	{ SLUICE_MAP_SERVICE_STATE, offsetof(struct state, service_state) },
	{ SLUICE_MAP_SERVICE_COUNTERS, offsetof(struct state, service_counters) },
	{ SLUICE_MAP_SERVICE_FLOW, offsetof(struct state, service_flow) },
	{ SLUICE_MAP_SERVICE_REPORT, offsetof(struct state, service_report) },
	{ SLUICE_MAP_FLEET_LIMITS, offsetof(struct state, fleet_limits) },
	{ SLUICE_MAP_FLEET_REPORT, offsetof(struct state, fleet_report) },
	{ SLUICE_MAP_FLEET_PASSED, offsetof(struct state, fleet_passed) },
	{ SLUICE_MAP_FLEET_KEY_SHARES, offsetof(struct state, fleet_key_shares) },
	{ SLUICE_MAP_EVENTS, offsetof(struct state, events) },
	{ SLUICE_MAP_EVENTS_STATE, offsetof(struct state, events_state) },
	{ SLUICE_MAP_EVENTS_SKIPPED, offsetof(struct state, events_skipped) },
};
#define PINNED_MAP_COUNT (sizeof(pinned_maps) / sizeof(pinned_maps[0]))

static int *map_fd(struct state *st, size_t i)
{
	return (int *)((char *)st + pinned_maps[i].fd_offset);
}

const char *state_strerror(int err)
{
	if (err == EPERM || err == EACCES)
		return "permission denied (sluice needs root: CAP_BPF, CAP_NET_ADMIN, CAP_SYS_ADMIN)";
	return strerror(err);
}

int state_path(char *buf, size_t len, const char *root, const char *name)
{
	int n = snprintf(buf, len, "%s/%s", root, name);

	return n < 0 || (size_t)n >= len ? -1 : 0;
}

static bool is_bpffs(const char *path)
{
	struct statfs fs;

	return statfs(path, &fs) == 0 && fs.f_type == BPF_FS_MAGIC;
}

/*
 * Makes sure the pin root is a directory on a bpf filesystem, mounting
 * bpffs at its usual place when it is missing (as `ip` and bpftool do).
 */
static int prepare_root(const char *root, char *err, size_t err_len)
{
	char parent_buf[PATH_MAX];
	const char *parent;
	struct stat sb;

	if (stat(root, &sb) == 0) {
		if (!S_ISDIR(sb.st_mode)) {
			snprintf(err, err_len, "pin root %s is not a directory", root);
			return -1;
		}
		if (!is_bpffs(root)) {
			snprintf(err, err_len,
				 "pin root %s is not on a bpf filesystem (pin roots live under %s)",
				 root, BPFFS_MOUNT_POINT);
			return -1;
		}
		return 0;
	}
	if (errno != ENOENT) {
		snprintf(err, err_len, "cannot use pin root %s: %s", root,
			 state_strerror(errno));
		return -1;
	}

	snprintf(parent_buf, sizeof(parent_buf), "%s", root);
	parent = dirname(parent_buf);
	if (strcmp(parent, BPFFS_MOUNT_POINT) == 0 && !is_bpffs(parent) &&
	    mount("bpf", BPFFS_MOUNT_POINT, "bpf", 0, "mode=0700")) {
		snprintf(err, err_len, "bpffs is not mounted at %s and mounting it failed: %s",
			 BPFFS_MOUNT_POINT, state_strerror(errno));
		return -1;
	}
	if (stat(parent, &sb)) {
		snprintf(err, err_len, "cannot create pin root %s: %s: %s", root, parent,
			 state_strerror(errno));
		return -1;
	}
	if (!is_bpffs(parent)) {
		snprintf(err, err_len,
			 "pin root %s is not on a bpf filesystem (pin roots live under %s)", root,
			 BPFFS_MOUNT_POINT);
		return -1;
	}
	if (mkdir(root, 0700) && errno != EEXIST) {
		snprintf(err, err_len, "cannot create pin root %s: %s", root,
			 state_strerror(errno));
		return -1;
	}
	return 0;
}

int state_lock(const char *root, int operation, char *err, size_t err_len)
{
	int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0) {
		snprintf(err, err_len, "cannot open pin root %s: %s", root,
			 state_strerror(errno));
		return -1;
	}
	if (flock(fd, operation)) {
		snprintf(err, err_len, "cannot lock pin root %s: %s", root, strerror(errno));
		close(fd);
		return -1;
	}
	return fd;
}

#define COARSE_CLOCK_TICKS 4

__u64 sluice_coarse_clock_min_depth(void)
{
	struct timespec tick;

	if (clock_getres(CLOCK_MONOTONIC_COARSE, &tick) || tick.tv_sec)
		return 0;
	return sluice_time_from_ns((__u64)tick.tv_nsec * COARSE_CLOCK_TICKS);
}

/* The size of the bucket table pinned under `root`, or 0 when there is none. */
static __u32 pinned_max_sources(const char *root)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);
	char path[PATH_MAX];
	int fd;

	if (state_path(path, sizeof(path), root, SLUICE_MAP_BUCKETS))
		return 0;
	fd = bpf_obj_get(path);
	if (fd < 0)
		return 0;
	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		info.max_entries = 0;
	close(fd);
	return info.max_entries;
}

/* Refuses a --max-sources that the pinned bucket table does not have. */
static int check_max_sources(const char *root, __u32 max_sources, char *err, size_t err_len)
{
	__u32 pinned = pinned_max_sources(root);

	if (max_sources && pinned && pinned != max_sources) {
		snprintf(err, err_len,
			 "the bucket table under %s holds %u sources, not %u: a new size needs a "
			 "new pin root (detach, then remove %s)",
			 root, pinned, max_sources, root);
		return -1;
	}
	return 0;
}

int state_load_object(const char *root, bool with_program, __u32 max_sources,
		      struct sluice_bpf **out, char *err, size_t err_len)
{
	struct sluice_bpf *skel;
	__u32 pinned = pinned_max_sources(root);
	char path[PATH_MAX];
	struct bpf_map *map;
	int ret;

	if (check_max_sources(root, max_sources, err, err_len))
		return -1;
	skel = sluice_bpf__open();
	if (!skel) {
		snprintf(err, err_len, "cannot open the BPF object: %s", state_strerror(errno));
		return -1;
	}
	/* An existing table keeps its size; a new one gets the one asked for. */
	bpf_map__set_max_entries(skel->maps.buckets,
				 pinned ? pinned : max_sources ? max_sources : SLUICE_MAX_SOURCES);
	bpf_object__for_each_map(map, skel->obj) {
		if (bpf_map__is_internal(map))
			continue;
		if (state_path(path, sizeof(path), root, bpf_map__name(map)) ||
		    bpf_map__set_pin_path(map, path)) {
			snprintf(err, err_len, "pin root path %s is too long", root);
			sluice_bpf__destroy(skel);
			return -1;
		}
	}
	if (!with_program)
		bpf_program__set_autoload(skel->progs.sluice_xdp, false);
	skel->rodata->coarse_clock_min_depth = sluice_coarse_clock_min_depth();

	ret = sluice_bpf__load(skel);
	if (ret) {
		if (ret == -EINVAL)
			snprintf(err, err_len,
				 "cannot load the BPF object: the maps pinned under %s may be from "
				 "another version of sluice (detach, then remove %s)",
				 root, root);
		else
			snprintf(err, err_len, "cannot load the BPF object: %s",
				 state_strerror(-ret));
		sluice_bpf__destroy(skel);
		return -1;
	}
	*out = skel;
	return 0;
}

int state_exists(const char *root)
{
	char path[PATH_MAX];

	for (size_t i = 0; i < PINNED_MAP_COUNT; i++) {
		if (state_path(path, sizeof(path), root, pinned_maps[i].name)) {
			errno = ENAMETOOLONG;
			return -1;
		}
		if (access(path, F_OK))
			return errno == ENOENT || errno == ENOTDIR ? 0 : -1;
	}
	return 1;
}

static int open_state(struct state *st, const char *root, enum state_mode mode,
		      __u32 max_sources, char *err, size_t err_len);

int state_open(struct state *st, const char *root, enum state_mode mode, char *err,
	       size_t err_len)
{
	return open_state(st, root, mode, 0, err, err_len);
}

int state_create(struct state *st, const char *root, __u32 max_sources, char *err,
		 size_t err_len)
{
	return open_state(st, root, STATE_CREATE, max_sources, err, err_len);
}

static int open_state(struct state *st, const char *root, enum state_mode mode,
		      __u32 max_sources, char *err, size_t err_len)
{
	struct sluice_bpf *skel;
	char path[PATH_MAX];
	int exists;

	memset(st, 0, sizeof(*st));
	st->lock_fd = -1;
	for (size_t i = 0; i < PINNED_MAP_COUNT; i++)
		*map_fd(st, i) = -1;
	if (snprintf(st->root, sizeof(st->root), "%s", root) >= (int)sizeof(st->root)) {
		snprintf(err, err_len, "pin root path %s is too long", root);
		return -1;
	}

	if (mode == STATE_CREATE && prepare_root(root, err, err_len))
		return -1;
	exists = state_exists(root);
	if (exists < 0) {
		snprintf(err, err_len, "cannot read pin root %s: %s", root, state_strerror(errno));
		return -1;
	}
	if (!exists && mode != STATE_CREATE) {
		snprintf(err, err_len,
			 "no sluice state under %s: attach an interface or set a limit first", root);
		return -1;
	}
	st->changing = mode == STATE_CHANGE || mode == STATE_CREATE;
	if (mode != STATE_READ) {
		st->lock_fd = state_lock(root, st->changing ? LOCK_EX : LOCK_SH, err, err_len);
		if (st->lock_fd < 0)
			return -1;
	}
	if (mode == STATE_CREATE && check_max_sources(root, max_sources, err, err_len))
		goto fail;
	/* Under the lock: another CLI may have created them meanwhile, which load reuses. */
	if (!exists) {
		if (state_load_object(root, false, max_sources, &skel, err, err_len))
			goto fail;
		sluice_bpf__destroy(skel);
	}

	for (size_t i = 0; i < PINNED_MAP_COUNT; i++) {
		state_path(path, sizeof(path), root, pinned_maps[i].name);
		*map_fd(st, i) = bpf_obj_get(path);
		if (*map_fd(st, i) < 0) {
			snprintf(err, err_len, "cannot open pinned map %s: %s", path,
				 state_strerror(errno));
			goto fail;
		}
	}
	return 0;
fail:
	state_close(st);
	return -1;
}

void state_rule_maps(const struct state *st, struct rule_maps *m)
{
	*m = (struct rule_maps){
		.rules = st->rules,
		.source_rules = st->source_rules,
		.prefix_rules = st->prefix_rules,
		.port_rules = st->port_rules,
		.rule_state = st->rule_state,
		.rule_counters = st->rule_counters,
		.config = st->config,
		.buckets = st->buckets,
	};
}

void state_remove(struct state *st)
{
	char path[PATH_MAX];

	for (size_t i = 0; i < PINNED_MAP_COUNT; i++)
		if (!state_path(path, sizeof(path), st->root, pinned_maps[i].name))
			unlink(path);
	/* A controller that ran leaves its lock directory; it is empty. */
	if (!state_path(path, sizeof(path), st->root, SLUICE_CONTROLLER_LOCK))
		rmdir(path);
	/* Fails, as it should, while anything else is pinned there. */
	rmdir(st->root);
}

static int config_read(const struct state *st, struct sluice_config *cfg)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(st->config, &zero, cfg);
}

static int config_write(const struct state *st, const struct sluice_config *cfg)
{
	__u32 zero = 0;

	return bpf_map_update_elem(st->config, &zero, cfg, BPF_ANY);
}

int map_delete_all(int fd)
{
	struct bpf_map_info info = {};
	__u32 info_len = sizeof(info);
	unsigned char key[64];

	if (bpf_obj_get_info_by_fd(fd, &info, &info_len))
		return -1;
	if (info.key_size > sizeof(key)) {
		errno = E2BIG;
		return -1;
	}
	/* Always the first key: the walk's place is gone with each delete. */
	while (bpf_map_get_next_key(fd, NULL, key) == 0)
		if (bpf_map_delete_elem(fd, key))
			return -1;
	return errno == ENOENT ? 0 : -1;
}

static bool trie_is_empty(int trie_fd)
{
	struct sluice_prefix_key key;

	return bpf_map_get_next_key(trie_fd, NULL, &key) && errno == ENOENT;
}

int state_mark_list_used(const struct state *st, int list_fd)
{
	return config_mark_used(st->config, list_fd == st->allow_list ? SLUICE_ALLOW_LIST_EMPTY :
									 SLUICE_DENY_LIST_EMPTY);
}

/* Whether no port carries a rule: one batched read of the port table. */
static bool port_rules_empty(int port_rules)
{
	static __u32 keys[8192];
	static struct sluice_rule_ids values[8192];
	__u32 token = 0, got;
	bool first = true, done = false;

	while (!done) {
		LIBBPF_OPTS(bpf_map_batch_opts, opts);

		got = 8192;
		if (bpf_map_lookup_batch(port_rules, first ? NULL : &token, &token, keys, values,
					 &got, &opts)) {
			if (errno != ENOENT)
				return false;	/* cannot tell: not empty, the safe side */
			done = true;
		}
		first = false;
		for (__u32 i = 0; i < got; i++)
			if (values[i].id[0])
				return false;
	}
	return true;
}

/*
 * The config flags as the lists and levels are now: the data path skips what
 * they mark empty. A failure leaves them cleared, the safe side.
 */
static void sync_config(const struct state *st)
{
	__u32 derived = SLUICE_ALLOW_LIST_EMPTY | SLUICE_DENY_LIST_EMPTY |
			SLUICE_PREFIX_RULES_EMPTY | SLUICE_PORT_RULES_EMPTY;
	struct sluice_config cfg;

	if (config_read(st, &cfg))
		return;
	cfg.flags &= ~derived;
	if (trie_is_empty(st->allow_list))
		cfg.flags |= SLUICE_ALLOW_LIST_EMPTY;
	if (trie_is_empty(st->deny_list))
		cfg.flags |= SLUICE_DENY_LIST_EMPTY;
	if (trie_is_empty(st->prefix_rules))
		cfg.flags |= SLUICE_PREFIX_RULES_EMPTY;
	if (port_rules_empty(st->port_rules))
		cfg.flags |= SLUICE_PORT_RULES_EMPTY;
	cfg.generation++;
	config_write(st, &cfg);
}

void state_close(struct state *st)
{
	bool maps_open = true;

	for (size_t i = 0; i < PINNED_MAP_COUNT; i++)
		maps_open &= *map_fd(st, i) >= 0;
	if (st->changing && st->lock_fd >= 0 && maps_open)
		sync_config(st);

	for (size_t i = 0; i < PINNED_MAP_COUNT; i++) {
		if (*map_fd(st, i) >= 0)
			close(*map_fd(st, i));
		*map_fd(st, i) = -1;
	}
	if (st->lock_fd >= 0)
		close(st->lock_fd);
	st->lock_fd = -1;
}
