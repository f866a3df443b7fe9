// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The control plane at scale: how long 100k source-level rules (one per
 * prefix) take to load (batch updates of the rules array and the
 * source_rules trie), how long the commands an operator runs take over them
 * (`limit list`) and over a full 1M-entry bucket table (`top`, `stats`), and
 * the kernel memory each tracked source and each rule costs.
 *
 * The commands are the real CLI, started as processes with their output
 * going to /dev/null and timed from spawn to exit, since that is what an
 * operator waits for. The maps live under a pin root of this run's own,
 * removed at exit, also after a failure or a signal. Figures, not tests:
 * nothing here asserts a time, but every result is checked for being right.
 *
 *   bench_control [-q] [-s SLUICE] [-j FILE]
 */
#define _GNU_SOURCE	/* O_TMPFILE */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdarg.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/mount.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <linux/magic.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <jansson.h>

#include "sluice.h"
#include "token_bucket.h"
#include "parse.h"
#include "rules.h"
#include "state.h"
#include "testing.h"

extern char **environ;

#define RULES 100000
#define SOURCES SLUICE_MAX_SOURCES
#define TOP_ROWS 20
#define BPFFS "/sys/fs/bpf"
/* Keeps each update syscall's buffers small; the count of calls hardly matters. */
#define FILL_BATCH 65536

static const char *sluice_path = "build/sluice";
static char pin_root[PATH_MAX];
/* The pin root, open once it exists: cleanup empties it through this fd. */
static int pin_root_fd = -1;

/*
 * Removes the pin root and whatever is pinned in it. Async-signal-safe
 * (getdents64, unlinkat, rmdir), so the signal handlers call it too.
 */
static void remove_pin_root(void)
{
	char buf[4096];
	long n;

	if (pin_root_fd < 0)
		return;
	/* Unlinking while listing may skip names: list again until nothing is left. */
	for (int pass = 0; pass < 8; pass++) {
		bool removed = false;

		lseek(pin_root_fd, 0, SEEK_SET);
		while ((n = syscall(SYS_getdents64, pin_root_fd, buf, sizeof(buf))) > 0) {
			for (long off = 0; off < n;) {
				/* struct linux_dirent64: ino, off, reclen, type, name */
				unsigned short reclen;
				const char *name = buf + off + 19;

				memcpy(&reclen, buf + off + 16, sizeof(reclen));
				if (strcmp(name, ".") && strcmp(name, "..") &&
				    unlinkat(pin_root_fd, name, 0) == 0)
					removed = true;
				off += reclen;
			}
		}
		if (!removed)
			break;
	}
	close(pin_root_fd);
	pin_root_fd = -1;
	rmdir(pin_root);
}

static void on_signal(int sig)
{
	remove_pin_root();
	signal(sig, SIG_DFL);
	raise(sig);
}

static void fail(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void fail(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fprintf(stderr, "Error: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	exit(1);	/* atexit removes the pin root */
}

static void progress(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void progress(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "  ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
}

static double now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int compare_doubles(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double median(double *samples, int n)
{
	qsort(samples, n, sizeof(*samples), compare_doubles);
	return n % 2 ? samples[n / 2] : (samples[n / 2 - 1] + samples[n / 2]) / 2;
}

static void *xcalloc(size_t n, size_t size)
{
	void *p = calloc(n, size);

	if (!p)
		fail("out of memory (%zu x %zu bytes)", n, size);
	return p;
}

/* A pin root no one else uses: mkdir fails on a name that exists. */
static void make_pin_root(void)
{
	struct statfs fs;

	if (statfs(BPFFS, &fs) || fs.f_type != BPF_FS_MAGIC) {
		if (mount("bpf", BPFFS, "bpf", 0, "mode=0700"))
			fail("bpffs is not mounted at %s and mounting it failed: %s", BPFFS,
			     strerror(errno));
	}
	snprintf(pin_root, sizeof(pin_root), "%s/sluice-bench-control-%d", BPFFS, (int)getpid());
	if (mkdir(pin_root, 0700))
		fail("cannot create pin root %s: %s", pin_root, strerror(errno));
	pin_root_fd = open(pin_root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (pin_root_fd < 0) {
		rmdir(pin_root);
		fail("cannot open pin root %s: %s", pin_root, strerror(errno));
	}
	atexit(remove_pin_root);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGHUP, on_signal);
}

/*
 * A set of distinct keys stored in a caller's array, by index: open
 * addressing over FNV-1a, so drawing 1M random keys without repeats is cheap.
 */
struct keyset {
	__u32 *slots;		/* index + 1; 0 is empty */
	size_t mask;
	const __u8 *keys;
	size_t key_size;
};

static void keyset_init(struct keyset *set, const void *keys, size_t key_size, size_t max)
{
	size_t cap = 1;

	while (cap < 2 * max)
		cap <<= 1;
	set->slots = xcalloc(cap, sizeof(*set->slots));
	set->mask = cap - 1;
	set->keys = keys;
	set->key_size = key_size;
}

/* Adds keys[index] unless an equal key is in the set; returns whether it was added. */
static bool keyset_add(struct keyset *set, __u32 index)
{
	const __u8 *key = set->keys + (size_t)index * set->key_size;
	__u64 h = 0xcbf29ce484222325ULL;

	for (size_t i = 0; i < set->key_size; i++)
		h = (h ^ key[i]) * 0x100000001b3ULL;
	for (size_t slot = h & set->mask;; slot = (slot + 1) & set->mask) {
		__u32 held = set->slots[slot];

		if (!held) {
			set->slots[slot] = index + 1;
			return true;
		}
		if (!memcmp(set->keys + (size_t)(held - 1) * set->key_size, key, set->key_size))
			return false;
	}
}

static void random_bytes(__u64 *rng, __u8 *out, size_t len)
{
	for (size_t i = 0; i < len; i += 8) {
		__u64 r = test_rng_next(rng);

		memcpy(out + i, &r, len - i < 8 ? len - i : 8);
	}
}

/*
 * A random prefix of one family with no bits set past its length (the CLI
 * refuses those), checked by a round trip through the CLI's own parser.
 */
static void random_prefix(__u64 *rng, bool v6, struct sluice_prefix_key *key)
{
	unsigned int len = v6 ? 16 + test_rng_next(rng) % 113 : 8 + test_rng_next(rng) % 25;
	char text[SLUICE_PREFIX_STR_LEN], err[SLUICE_ERR_LEN];
	struct sluice_prefix_key parsed;

	memset(key, 0, sizeof(*key));
	key->family = v6 ? SLUICE_FAMILY_IPV6 : SLUICE_FAMILY_IPV4;
	key->prefixlen = SLUICE_FAMILY_BITS + len;
	random_bytes(rng, key->addr, v6 ? 16 : 4);
	for (unsigned int byte = 0; byte < SLUICE_ADDR_LEN; byte++) {
		if (byte * 8 >= len)
			key->addr[byte] = 0;
		else if (byte * 8 + 8 > len)
			key->addr[byte] &= (__u8)(0xff << (8 - (len - byte * 8)));
	}
	format_prefix(key, text, sizeof(text));
	if (parse_prefix("bench prefix", text, &parsed, err, sizeof(err)))
		fail("generated prefix %s: %s", text, err);
	if (memcmp(&parsed, key, sizeof(*key)))
		fail("generated prefix %s is not keyed as the CLI keys it", text);
}

/*
 * A source-level rule on `prefix` as `sluice limit set` makes it, from its
 * command line: rates from 1pps to 10Mpps, bursts up to two seconds of rate,
 * a few unlimited.
 */
static void random_rule(__u64 *rng, const struct sluice_prefix_key *prefix,
			struct sluice_rule *rule)
{
	__u64 rate = 1 + test_rng_next(rng) % 10000000, burst = 1 + test_rng_next(rng) % (2 * rate);
	char text[SLUICE_PREFIX_STR_LEN], rate_arg[24], burst_arg[24], err[SLUICE_ERR_LEN];
	char *argv[] = { "set", text, "--rate", rate_arg, "--burst", burst_arg, NULL };
	int argc = 6;

	format_prefix(prefix, text, sizeof(text));
	snprintf(rate_arg, sizeof(rate_arg), "%llu", (unsigned long long)rate);
	snprintf(burst_arg, sizeof(burst_arg), "%llu", (unsigned long long)burst);
	if (test_rng_next(rng) % 20 == 0) {
		snprintf(rate_arg, sizeof(rate_arg), "unlimited");
		argc = 4;
		argv[4] = NULL;
	}
	if (rule_parse(argc, argv, true, rule, err, sizeof(err)))
		fail("generated rule for %s is invalid: %s", text, err);
	if (rule->level != SLUICE_LEVEL_SOURCE || memcmp(&rule->prefix, prefix, sizeof(*prefix)))
		fail("generated rule for %s is not a source-level rule on it", text);
	/* What rule_write() stores: the data path takes a slot without this for empty. */
	rule->flags |= SLUICE_RULE_IN_USE;
}

/* The map's memory as the kernel estimates it (the "memlock:" line of its fdinfo). */
static unsigned long long map_memlock(int fd)
{
	unsigned long long bytes;
	char path[64], line[256];
	bool found = false;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = fopen(path, "r");
	if (!f)
		fail("cannot read %s: %s", path, strerror(errno));
	while (!found && fgets(line, sizeof(line), f))
		found = sscanf(line, "memlock: %llu", &bytes) == 1;
	fclose(f);
	if (!found)
		fail("%s has no memlock line: cannot measure map memory on this kernel", path);
	return bytes;
}

static struct bpf_map_info map_info(int fd, const char *name)
{
	struct bpf_map_info info = {};
	__u32 len = sizeof(info);

	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		fail("cannot read the %s map's info: %s", name, strerror(errno));
	return info;
}

/* Whether the map holds no key at all. */
static bool map_empty(int fd)
{
	__u8 key[64];

	if (bpf_map_get_next_key(fd, NULL, key) == 0)
		return false;
	if (errno != ENOENT)
		fail("cannot iterate a map: %s", strerror(errno));
	return true;
}

/*
 * Runs `sluice --pin-root ROOT ARGS... --json` with stdout on `out_fd`, or on
 * /dev/null when it is -1. Returns the wall time from spawn to exit; an exit
 * status other than 0 is a failure, reported with what the command printed.
 */
static double run_sluice(const char *const *args, int out_fd);

static int capture_file(void)
{
	int fd = open("/tmp", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);

	if (fd < 0)
		fail("cannot create a temporary file in /tmp: %s", strerror(errno));
	return fd;
}

static void describe_command(const char *const *args, char *buf, size_t len)
{
	int n = snprintf(buf, len, "sluice");

	for (int i = 0; args[i] && n >= 0 && (size_t)n < len; i++)
		n += snprintf(buf + n, len - n, " %s", args[i]);
}

static double spawn_and_wait(const char *const *args, int out_fd, int *status)
{
	const char *argv[16] = { sluice_path, "--pin-root", pin_root };
	posix_spawn_file_actions_t actions;
	int argc = 3, err;
	double start;
	pid_t pid;

	for (int i = 0; args[i]; i++) {
		if (argc >= 14)
			fail("too many arguments for sluice");
		argv[argc++] = args[i];
	}
	argv[argc++] = "--json";
	argv[argc] = NULL;

	posix_spawn_file_actions_init(&actions);
	if (out_fd >= 0)
		posix_spawn_file_actions_adddup2(&actions, out_fd, STDOUT_FILENO);
	else
		posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY,
						 0);
	start = now_seconds();
	err = posix_spawn(&pid, sluice_path, &actions, NULL, (char *const *)argv, environ);
	posix_spawn_file_actions_destroy(&actions);
	if (err)
		fail("cannot run %s: %s", sluice_path, strerror(err));
	while (waitpid(pid, status, 0) < 0) {
		if (errno != EINTR)
			fail("waitpid: %s", strerror(errno));
	}
	return now_seconds() - start;
}

static double run_sluice(const char *const *args, int out_fd)
{
	char command[256], output[512] = "";
	double seconds;
	int status;
	ssize_t n;

	seconds = spawn_and_wait(args, out_fd, &status);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return seconds;

	/* Under --json the error went to stdout: run again to show it. */
	describe_command(args, command, sizeof(command));
	out_fd = capture_file();
	spawn_and_wait(args, out_fd, &status);
	n = pread(out_fd, output, sizeof(output) - 1, 0);
	output[n > 0 ? n : 0] = '\0';
	output[strcspn(output, "\n")] = '\0';
	fail("'%s --json' failed (%s %d): %s", command,
	     WIFEXITED(status) ? "exit status" : "signal",
	     WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status), output);
}

/* Runs the command once with its output captured and parses that as JSON. */
static json_t *sluice_json(const char *const *args)
{
	char command[256];
	json_error_t error;
	int fd = capture_file();
	struct stat sb;
	json_t *doc;
	char *text;

	run_sluice(args, fd);
	/* Read whole: json_loadfd() reads one byte per system call, seconds for 8 MB. */
	if (fstat(fd, &sb))
		fail("cannot stat the captured output: %s", strerror(errno));
	text = xcalloc(1, sb.st_size + 1);
	if (pread(fd, text, sb.st_size, 0) != sb.st_size)
		fail("cannot read the captured output: %s", strerror(errno));
	close(fd);
	doc = json_loadb(text, sb.st_size, 0, &error);
	free(text);
	if (!doc) {
		describe_command(args, command, sizeof(command));
		fail("'%s --json' printed invalid JSON: %s (line %d)", command, error.text,
		     error.line);
	}
	return doc;
}

/* Median wall time of `runs` runs of the command, output to /dev/null. */
static double time_sluice(const char *const *args, int runs)
{
	double samples[16];

	for (int i = 0; i < runs; i++)
		samples[i] = run_sluice(args, -1);
	return median(samples, runs);
}

/* How the rules were loaded: batch updates or one update each, per map. */
struct load_method {
	bool rules_batch, trie_batch;
};

/* "batch", "single", or which map took which. */
static const char *load_method_name(const struct load_method *how)
{
	if (how->rules_batch && how->trie_batch)
		return "batch";
	if (!how->rules_batch && !how->trie_batch)
		return "single";
	return how->rules_batch ? "rules array batch, source_rules trie single" :
				  "rules array single, source_rules trie batch";
}

/*
 * Writes n keys and values with batch updates, or one update each (with
 * `single_flags`) where the map has none; returns whether it batched.
 */
static bool update_all(int fd, const char *what, const void *keys, size_t key_size,
		       const void *values, size_t value_size, size_t n, bool batch,
		       __u64 single_flags)
{
	/* Batch updates take no BPF_NOEXIST (elem_flags is for BPF_F_LOCK only). */
	LIBBPF_OPTS(bpf_map_batch_opts, opts);
	__u32 count = n;
	int ret;

	if (batch) {
		ret = bpf_map_update_batch(fd, keys, values, &count, &opts);
		if (ret == 0 && count == n)
			return true;
		/* -ENOTSUPP (524) is what the kernel says for a map type without batch ops. */
		if (ret != -EOPNOTSUPP && ret != -524)
			fail("batch update of %zu entries of %s failed (%u done): %s", n, what,
			     count, strerror(ret ? -ret : EIO));
		progress("%s has no batch updates on this kernel (%s): one update per rule", what,
			 ret == -524 ? "ENOTSUPP" : strerror(-ret));
	}
	for (size_t i = 0; i < n; i++) {
		if (bpf_map_update_elem(fd, (const __u8 *)keys + i * key_size,
					(const __u8 *)values + i * value_size, single_flags))
			fail("update %zu of %zu in %s failed: %s", i, n, what, strerror(errno));
	}
	return false;
}

/*
 * Loads the rules as restore loads a snapshot: written to the rules array
 * under their ids, then attached to their prefixes in the source_rules trie
 * (the data path never meets an id without its rule). Returns the seconds
 * it took. A map found without batch updates is loaded one by one after.
 */
static double load_rules(const struct rule_maps *maps, const __u32 *ids,
			 const struct sluice_rule *rules, const struct sluice_prefix_key *keys,
			 const struct sluice_rule_ids *attached, size_t n, struct load_method *how)
{
	double start = now_seconds();

	how->rules_batch = update_all(maps->rules, "the rules array", ids, sizeof(*ids), rules,
				      sizeof(*rules), n, how->rules_batch, BPF_ANY);
	how->trie_batch = update_all(maps->source_rules, "the source_rules trie", keys,
				     sizeof(*keys), attached, sizeof(*attached), n, how->trie_batch,
				     BPF_NOEXIST);
	return now_seconds() - start;
}

/* Detaches and clears every rule, as `limit del` would, but in batches. */
static void empty_rules(const struct rule_maps *maps, const __u32 *ids,
			const struct sluice_prefix_key *keys, size_t n)
{
	LIBBPF_OPTS(bpf_map_batch_opts, opts);
	struct sluice_rule *zeros = xcalloc(n, sizeof(*zeros));
	__u32 count = n;

	if (bpf_map_delete_batch(maps->source_rules, keys, &count, &opts)) {
		for (size_t i = 0; i < n; i++) {
			if (bpf_map_delete_elem(maps->source_rules, &keys[i]) && errno != ENOENT)
				fail("cannot detach rule %u: %s", ids[i], strerror(errno));
		}
	}
	if (!map_empty(maps->source_rules))
		fail("the source_rules trie is not empty after detaching every rule");
	count = n;
	if (bpf_map_update_batch(maps->rules, ids, zeros, &count, &opts))
		fail("cannot clear the rules array: %s", strerror(errno));
	free(zeros);
}

/* Every rule reads back as it was written, and its prefix carries its id. */
static void check_rules(const struct rule_maps *maps, const __u32 *ids,
			const struct sluice_rule *rules, const struct sluice_prefix_key *keys,
			size_t n)
{
	char text[SLUICE_PREFIX_STR_LEN];
	struct sluice_rule_ids attached;
	struct sluice_rule got;

	for (size_t i = 0; i < n; i++) {
		format_prefix(&keys[i], text, sizeof(text));
		if (bpf_map_lookup_elem(maps->rules, &ids[i], &got) ||
		    memcmp(&got, &rules[i], sizeof(got)))
			fail("rule %u (%s) does not read back as loaded", ids[i], text);
		if (bpf_map_lookup_elem(maps->source_rules, &keys[i], &attached) ||
		    attached.id[0] != ids[i] || attached.id[1] || attached.id[2] || attached.id[3])
			fail("source_rules %s does not carry rule %u alone", text, ids[i]);
	}
}

/* `limit list --json` shows every rule, and one of them with its id and limit. */
static void check_limit_list(const __u32 *ids, const struct sluice_rule *rules, size_t n)
{
	static const char *const args[] = { "limit", "list", NULL };
	json_t *doc = sluice_json(args), *list = json_object_get(doc, "limits"), *entry;
	char want[SLUICE_PREFIX_STR_LEN];
	size_t pick = 0, i;
	bool found = false;

	if (!json_is_array(list) || json_array_size(list) != n)
		fail("limit list --json shows %zu limits, want %zu", json_array_size(list), n);
	/* A limited rule (most are): its rate and burst must come through. */
	while (pick < n && (rules[pick].flags & SLUICE_RULE_UNLIMITED))
		pick++;
	if (pick == n)
		fail("no generated rule has a rate");
	format_prefix(&rules[pick].prefix, want, sizeof(want));
	json_array_foreach(list, i, entry) {
		if (strcmp(json_string_value(json_object_get(entry, "prefix")) ?: "", want))
			continue;
		found = json_integer_value(json_object_get(entry, "id")) == (json_int_t)ids[pick] &&
			!strcmp(json_string_value(json_object_get(entry, "level")) ?: "", "source") &&
			json_integer_value(json_object_get(entry, "rate")) ==
				(json_int_t)rules[pick].limit.rate &&
			json_integer_value(json_object_get(entry, "burst")) ==
				(json_int_t)rules[pick].limit.burst;
		break;
	}
	if (!found)
		fail("limit list --json does not show %s as source rule %u with the limit that "
		     "was loaded", want, ids[pick]);
	json_decref(doc);
}

struct rules_result {
	double load_seconds, list_seconds, bytes_per_rule, trie_bytes_per_rule;
	double slot_bytes;	/* what each of the SLUICE_MAX_RULES slots costs, used or not */
	struct load_method how;
};

/* The memory of the arrays by rule id, which take their size whether slots are used or not. */
static unsigned long long rule_arrays_memlock(const struct state *st)
{
	return map_memlock(st->rules) + map_memlock(st->rule_state) +
	       map_memlock(st->rule_counters);
}

static struct rules_result bench_rules(const struct state *st, int runs)
{
	static const char *const list_args[] = { "limit", "list", NULL };
	struct sluice_prefix_key *keys = xcalloc(RULES, sizeof(*keys));
	struct sluice_rule *rules = xcalloc(RULES, sizeof(*rules));
	struct sluice_rule_ids *attached = xcalloc(RULES, sizeof(*attached));
	__u32 *ids = xcalloc(RULES, sizeof(*ids));
	struct bpf_map_info trie = map_info(st->source_rules, "source_rules");
	struct bpf_map_info array = map_info(st->rules, "rules");
	struct rules_result r = { .how = { true, true } };
	unsigned long long empty, full = 0;
	struct rule_maps maps;
	struct keyset set;
	double samples[16];
	__u64 rng = 0x51c3;

	state_rule_maps(st, &maps);
	if (trie.type != BPF_MAP_TYPE_LPM_TRIE || trie.key_size != sizeof(*keys) ||
	    trie.value_size != sizeof(*attached) || trie.max_entries < RULES)
		fail("the source_rules map is not an LPM trie of %zu-byte keys and %zu-byte "
		     "values with room for %d prefixes", sizeof(*keys), sizeof(*attached), RULES);
	if (array.type != BPF_MAP_TYPE_ARRAY || array.value_size != sizeof(*rules) ||
	    array.max_entries <= RULES)
		fail("the rules map is not an array of %zu-byte rules with room for %d",
		     sizeof(*rules), RULES);
	if (!map_empty(st->source_rules))
		fail("the source_rules trie of a new pin root is not empty");

	/* Half IPv4, half IPv6, in random order, no prefix twice; ids 1..RULES as rule_set() gives them. */
	keyset_init(&set, keys, sizeof(*keys), RULES);
	for (__u32 i = 0; i < RULES;) {
		random_prefix(&rng, test_rng_next(&rng) & 1, &keys[i]);
		if (!keyset_add(&set, i))
			continue;
		random_rule(&rng, &keys[i], &rules[i]);
		ids[i] = i + 1;
		attached[i] = (struct sluice_rule_ids){ .id = { i + 1 } };
		i++;
	}
	free(set.slots);

	empty = map_memlock(st->source_rules);
	for (int run = 0; run < runs; run++) {
		if (run)
			empty_rules(&maps, ids, keys, RULES);
		samples[run] = load_rules(&maps, ids, rules, keys, attached, RULES, &r.how);
		progress("load %d source-level rules (rules array: %s, source_rules trie: %s), "
			 "run %d/%d: %.3f s", RULES, r.how.rules_batch ? "batch" : "single",
			 r.how.trie_batch ? "batch" : "single", run + 1, runs, samples[run]);
		if (run == 0) {
			check_rules(&maps, ids, rules, keys, RULES);
			full = map_memlock(st->source_rules);
		}
	}
	r.load_seconds = median(samples, runs);
	r.trie_bytes_per_rule = (double)(full - empty) / RULES;
	r.slot_bytes = (double)rule_arrays_memlock(st) / SLUICE_MAX_RULES;
	r.bytes_per_rule = r.trie_bytes_per_rule + r.slot_bytes;
	progress("source_rules trie: memlock %llu bytes empty, %llu with %d prefixes; the arrays "
		 "by rule id: %llu bytes for %u slots, used or not", empty, full, RULES,
		 rule_arrays_memlock(st), SLUICE_MAX_RULES);

	check_limit_list(ids, rules, RULES);
	r.list_seconds = time_sluice(list_args, runs);
	progress("sluice limit list --json over %d rules: %.3f s", RULES, r.list_seconds);
	free(keys);
	free(rules);
	free(attached);
	free(ids);
	return r;
}

struct sources_result {
	double fill_seconds, read_seconds, top_seconds, stats_seconds, bytes_per_source;
	size_t tracked;
};

/* Orders bucket indexes as `sluice top` does: most drops first, then most passed. */
static bool ranks_above(const struct sluice_bucket *x, const struct sluice_bucket *y)
{
	return x->dropped != y->dropped ? x->dropped > y->dropped : x->passed > y->passed;
}

/* Reads the whole bucket table in batches, as `sluice top` does; returns the count. */
static size_t read_buckets(int fd, __u32 max_entries)
{
	struct sluice_bucket_key *keys = xcalloc(max_entries, sizeof(*keys));
	struct sluice_bucket *values = xcalloc(max_entries, sizeof(*values));
	__u32 token[4], n;
	void *in_batch = NULL;
	size_t total = 0;

	while (total < max_entries) {
		LIBBPF_OPTS(bpf_map_batch_opts, opts);

		n = max_entries - total;
		if (bpf_map_lookup_batch(fd, in_batch, token, keys + total, values + total, &n,
					 &opts)) {
			total += n;
			if (errno == ENOENT)
				break;
			fail("batch lookup of the bucket table failed after %zu entries: %s",
			     total, strerror(errno));
		}
		total += n;
		in_batch = token;
	}
	free(keys);
	free(values);
	return total;
}

/*
 * How `top` names a bucket's source: the address, with the rule's group
 * length when the group is wider than one address (IPv6 /64 by default).
 * Every rule here has the default groups.
 */
static void bucket_source_text(const struct sluice_bucket_key *key, char *buf, size_t len)
{
	struct sluice_source_key src = { .family = key->family };
	char addr[SLUICE_PREFIX_STR_LEN];

	memcpy(src.addr, key->addr, sizeof(src.addr));
	format_address(&src, addr, sizeof(addr));
	if (key->family == SLUICE_FAMILY_IPV6 && SLUICE_DEFAULT_GROUP_V6 < 128)
		snprintf(buf, len, "%s/%u", addr, SLUICE_DEFAULT_GROUP_V6);
	else if (key->family == SLUICE_FAMILY_IPV4 && SLUICE_DEFAULT_GROUP_V4 < 32)
		snprintf(buf, len, "%s/%u", addr, SLUICE_DEFAULT_GROUP_V4);
	else
		snprintf(buf, len, "%s", addr);
}

/* `top -n 20 --json` lists the heaviest sources, in order, with their rule and counters. */
static void check_top(const struct sluice_bucket_key *keys, const struct sluice_bucket *values,
		      const __u32 *expected, size_t tracked)
{
	static const char *const args[] = { "top", "-n", "20", NULL };
	json_t *doc = sluice_json(args), *list = json_object_get(doc, "sources"), *row;
	char want[SLUICE_PREFIX_STR_LEN + 8];
	const char *got;

	if (json_integer_value(json_object_get(doc, "tracked_sources")) != (json_int_t)tracked)
		fail("top --json says %lld sources are tracked, the bucket table holds %zu",
		     json_integer_value(json_object_get(doc, "tracked_sources")), tracked);
	if (!json_is_array(list) || json_array_size(list) != TOP_ROWS)
		fail("top -n %d --json shows %zu sources", TOP_ROWS, json_array_size(list));
	for (size_t i = 0; i < TOP_ROWS; i++) {
		const struct sluice_bucket *b = &values[expected[i]];

		row = json_array_get(list, i);
		got = json_string_value(json_object_get(row, "source")) ?: "(none)";
		bucket_source_text(&keys[expected[i]], want, sizeof(want));
		if (strcmp(got, want) ||
		    json_integer_value(json_object_get(row, "rule")) !=
			    (json_int_t)keys[expected[i]].rule ||
		    json_integer_value(json_object_get(row, "dropped")) != (json_int_t)b->dropped ||
		    json_integer_value(json_object_get(row, "passed")) != (json_int_t)b->passed)
			fail("top --json row %zu is %s under rule %lld with %lld dropped, want %s "
			     "under rule %u with %llu%s", i + 1, got,
			     json_integer_value(json_object_get(row, "rule")),
			     json_integer_value(json_object_get(row, "dropped")), want,
			     keys[expected[i]].rule, (unsigned long long)b->dropped,
			     i == 0 ? " (the source given the most drops)" : "");
	}
	json_decref(doc);
}

static void check_stats(void)
{
	static const char *const args[] = { "stats", NULL };
	json_t *doc = sluice_json(args);

	if (!json_is_object(json_object_get(doc, "outcomes")) ||
	    !json_is_integer(json_object_get(json_object_get(doc, "dropped"), "packets")))
		fail("stats --json has no outcomes or dropped packets");
	json_decref(doc);
}

static struct sources_result bench_sources(int buckets_fd, int runs)
{
	static const char *const top_args[] = { "top", "-n", "20", NULL };
	static const char *const stats_args[] = { "stats", NULL };
	struct bpf_map_info info = map_info(buckets_fd, "buckets");
	struct sluice_bucket_key *keys;
	struct sluice_bucket *values;
	struct sources_result r = {};
	__u32 expected[TOP_ROWS + 1];
	size_t ranked = 0, heavy = SOURCES / 2;
	__u64 rng = 0x50c5, now;
	struct timespec ts;
	struct keyset set;
	double samples[16], start;

	if (info.type != BPF_MAP_TYPE_LRU_HASH || info.key_size != sizeof(*keys) ||
	    info.value_size != sizeof(*values) || info.max_entries != SOURCES)
		fail("the buckets map is not an LRU hash of %zu-byte keys and %zu-byte values "
		     "with %u entries", sizeof(*keys), sizeof(*values), SOURCES);
	if (info.map_flags & BPF_F_NO_PREALLOC)
		fail("the buckets map is not preallocated: memory per source would not be fixed");

	keys = xcalloc(SOURCES, sizeof(*keys));
	values = xcalloc(SOURCES, sizeof(*values));
	clock_gettime(CLOCK_MONOTONIC, &ts);
	now = sluice_time_from_ns((__u64)ts.tv_sec * 1000000000ULL + ts.tv_nsec);

	/*
	 * Half IPv4, half IPv6 (a /64: the group of bench_rules()' rules, which
	 * are still loaded), each under one of those rules. Half the sources
	 * dropped nothing; the rest have distinct drop counts (the index in the
	 * low bits), so the top 20 has one right order. One source in the middle
	 * of the fill gets the most drops.
	 */
	keyset_init(&set, keys, sizeof(*keys), SOURCES);
	for (__u32 i = 0; i < SOURCES;) {
		bool v6 = test_rng_next(&rng) & 1;

		memset(&keys[i], 0, sizeof(keys[i]));
		keys[i].rule = 1 + test_rng_next(&rng) % RULES;
		keys[i].family = v6 ? SLUICE_FAMILY_IPV6 : SLUICE_FAMILY_IPV4;
		random_bytes(&rng, keys[i].addr, v6 ? SLUICE_DEFAULT_GROUP_V6 / 8 : 4);
		if (!keyset_add(&set, i))
			continue;
		values[i].state.full_at = now - test_rng_next(&rng) % SLUICE_TIME_PER_SEC;
		values[i].passed = test_rng_next(&rng) % 1000000000;
		values[i].dropped = test_rng_next(&rng) & 1 ?
			(test_rng_next(&rng) % 1000000) << 20 | i : 0;
		if (i == heavy)
			values[i].dropped = (1000000ULL << 20) | i;
		i++;
	}
	free(set.slots);

	/* The expected top 20, by insertion into a short sorted list. */
	for (__u32 i = 0; i < SOURCES; i++) {
		size_t at = ranked;

		while (at > 0 && ranks_above(&values[i], &values[expected[at - 1]]))
			at--;
		if (at >= TOP_ROWS)
			continue;
		memmove(&expected[at + 1], &expected[at], (ranked - at) * sizeof(expected[0]));
		expected[at] = i;
		if (ranked < TOP_ROWS)
			ranked++;
	}
	if (expected[0] != heavy)
		fail("the heaviest source is not the one given the most drops");

	start = now_seconds();
	for (size_t done = 0; done < SOURCES;) {
		LIBBPF_OPTS(bpf_map_batch_opts, opts);
		__u32 n = SOURCES - done < FILL_BATCH ? SOURCES - done : FILL_BATCH;

		if (bpf_map_update_batch(buckets_fd, keys + done, values + done, &n, &opts))
			fail("batch update of the bucket table stopped after %zu entries: %s",
			     done + n, strerror(errno));
		done += n;
	}
	r.fill_seconds = now_seconds() - start;

	start = now_seconds();
	r.tracked = read_buckets(buckets_fd, info.max_entries);
	r.read_seconds = now_seconds() - start;
	progress("filled the bucket table with %u sources in %.3f s; it holds %zu "
		 "(batch read in-process: %.3f s)", SOURCES, r.fill_seconds, r.tracked,
		 r.read_seconds);
	/* An LRU table may evict a little before it is full; the top 20 must have stayed. */
	if (r.tracked < SOURCES * 0.99)
		fail("the bucket table holds %zu sources after %u were written", r.tracked,
		     SOURCES);
	for (size_t i = 0; i < TOP_ROWS; i++) {
		struct sluice_bucket got;
		char addr[SLUICE_PREFIX_STR_LEN + 8];

		if (bpf_map_lookup_elem(buckets_fd, &keys[expected[i]], &got)) {
			bucket_source_text(&keys[expected[i]], addr, sizeof(addr));
			fail("source %s was evicted from the bucket table while filling it", addr);
		}
	}

	check_top(keys, values, expected, r.tracked);
	r.top_seconds = time_sluice(top_args, runs);
	progress("sluice top -n %d --json over %zu sources: %.3f s", TOP_ROWS, r.tracked,
		 r.top_seconds);
	check_stats();
	for (int i = 0; i < runs; i++)
		samples[i] = run_sluice(stats_args, -1);
	r.stats_seconds = median(samples, runs);
	progress("sluice stats --json: %.3f s", r.stats_seconds);

	/* Preallocated: the memory is the same empty or full, fixed per entry. */
	r.bytes_per_source = (double)map_memlock(buckets_fd) / info.max_entries;
	free(keys);
	free(values);
	return r;
}

static void usage(FILE *out)
{
	fprintf(out, "Usage: bench_control [-q] [-s SLUICE] [-j FILE]\n"
		     "  -q         quick: one run of each measurement instead of three\n"
		     "  -s SLUICE  the sluice binary to time (default: build/sluice)\n"
		     "  -j FILE    also write the figures as JSON to FILE\n");
}

int main(int argc, char **argv)
{
	const char *json_path = NULL;
	struct rules_result rules;
	struct sources_result sources;
	const char *method;
	char err[SLUICE_ERR_LEN];
	struct state st;
	int opt, runs = 3;
	double start = now_seconds();
	json_t *doc;

	while ((opt = getopt(argc, argv, "qs:j:h")) != -1) {
		switch (opt) {
		case 'q':
			runs = 1;
			break;
		case 's':
			sluice_path = optarg;
			break;
		case 'j':
			json_path = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 1;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 1;
	}
	if (geteuid() != 0)
		fail("bench_control creates BPF maps and needs root");
	if (access(sluice_path, X_OK))
		fail("cannot run %s: %s (build it with make, or name it with -s)", sluice_path,
		     strerror(errno));

	make_pin_root();
	if (state_open(&st, pin_root, STATE_CREATE, err, sizeof(err)))
		fail("%s", err);
	/*
	 * The CLI commands timed below lock the pin root themselves (limit list
	 * takes a shared lock): holding ours would make them wait for ever. The
	 * pin root is this run's alone.
	 */
	if (flock(st.lock_fd, LOCK_UN))
		fail("cannot unlock %s: %s", pin_root, strerror(errno));
	progress("pin root %s, %d run%s of each", pin_root, runs, runs > 1 ? "s" : "");

	rules = bench_rules(&st, runs);
	sources = bench_sources(st.buckets, runs);
	state_close(&st);

	method = load_method_name(&rules.how);
	printf("%-44s %12s %10s\n", "CONTROL PLANE", "MEDIAN", "TARGET");
	printf("%-44s %10.3f s %10s\n",
	       !strcmp(method, "batch") ? "load 100k source rules (batch update)" :
	       !strcmp(method, "single") ? "load 100k source rules (one by one)" :
					   "load 100k source rules (partly batched)",
	       rules.load_seconds, "< 1 s");
	printf("%-44s %10.3f s %10s\n", "sluice limit list --json (100k rules)",
	       rules.list_seconds, "");
	printf("%-44s %10.3f s %10s\n", "sluice top -n 20 --json (1M sources)",
	       sources.top_seconds, "< 1 s");
	printf("%-44s %10.3f s %10s\n", "sluice stats --json (1M sources)", sources.stats_seconds,
	       "< 1 s");
	printf("%-44s %10.3f s %10s\n", "  batch read of 1M buckets, in-process",
	       sources.read_seconds, "");
	printf("%-44s %10.0f B %10s\n", "kernel memory per tracked source",
	       sources.bytes_per_source, "");
	printf("%-44s %10.0f B %10s\n", "kernel memory per rule", rules.bytes_per_rule, "");
	printf("%-44s %10.0f B %10s\n", "  its source_rules trie entry", rules.trie_bytes_per_rule,
	       "");
	printf("%-44s %10.0f B %10s\n", "  its slot in the arrays by id (preallocated)",
	       rules.slot_bytes, "");

	if (json_path) {
		doc = json_pack("{s:f, s:s, s:s, s:s, s:s, s:f, s:f, s:f, s:f, s:f, s:f, s:f, s:f, "
				"s:f, s:i, s:I, s:i}",
				"rules_load_seconds", rules.load_seconds, "rules_load_method", method,
				"rules_array_load_method", rules.how.rules_batch ? "batch" : "single",
				"source_rules_load_method", rules.how.trie_batch ? "batch" : "single",
				"rule_level", "source", "limit_list_seconds",
				rules.list_seconds, "top_1m_seconds", sources.top_seconds,
				"stats_seconds", sources.stats_seconds, "bytes_per_source",
				sources.bytes_per_source, "bytes_per_rule", rules.bytes_per_rule,
				"bytes_per_rule_trie", rules.trie_bytes_per_rule,
				"bytes_per_rule_slot", rules.slot_bytes,
				"bucket_fill_seconds", sources.fill_seconds,
				"bucket_read_seconds", sources.read_seconds, "rules", RULES,
				"tracked_sources", (json_int_t)sources.tracked, "runs", runs);
		if (!doc || json_dump_file(doc, json_path, JSON_INDENT(2)))
			fail("cannot write %s: %s", json_path, strerror(errno));
		json_decref(doc);
	}
	progress("done in %.1f s", now_seconds() - start);
	return 0;
}
