/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Rules in the maps: finding, writing, attaching to their level, removing
 * and reading them back. The one place that knows how a rule is laid out
 * across the rules array and the level tables, used by `sluice limit`,
 * restore, status, the tests and the benchmarks.
 */
#ifndef SLUICE_RULES_H
#define SLUICE_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>

#include "sluice.h"
#include "sluice_rule.h"

/* The maps a rule lives in (fds). */
struct rule_maps {
	int rules;
	int source_rules;
	int prefix_rules;
	int port_rules;
	int rule_state;
	int rule_counters;
	int config;
	int buckets;
};

/* A rule as read back, with its id and counters. */
struct rule_entry {
	__u32 id;
	struct sluice_rule rule;
	struct sluice_rule_counters counters;
};

/* Source groups of per-source rules unless asked otherwise: one host owns an IPv6 /64. */
#define SLUICE_DEFAULT_GROUP_V4 32
#define SLUICE_DEFAULT_GROUP_V6 64

/*
 * Whether two rules match the same traffic in the same way (level, prefix,
 * protocol, ports, SYN, scope): setting one replaces the other.
 */
bool rule_same_match(const struct sluice_rule *a, const struct sluice_rule *b);
/* Orders rules for display: by level, then prefix, protocol, ports. */
int rule_compare(const struct sluice_rule *a, const struct sluice_rule *b);

/* Every rule in the maps, sorted with rule_compare(). Returns 0, or -1 with errno. */
int rules_read(const struct rule_maps *m, struct rule_entry **entries, size_t *count);

/*
 * Writes a rule: in place of the rule that matches the same (keeping its id,
 * buckets and counters), or as a new one under a free id, attached to its
 * level. *id gets the id, *replaced whether one was there. 0 or -1 with err.
 */
int rule_set(const struct rule_maps *m, const struct sluice_rule *rule, __u32 *id, bool *replaced,
	     char *err, size_t err_len);
/* Removes the rule that matches the same as `match`. 0, or -1 with err (ENOENT: none). */
int rule_del(const struct rule_maps *m, const struct sluice_rule *match, char *err,
	     size_t err_len);

/*
 * Clears an "empty" flag of the config map (enum sluice_config_flags) before
 * something is added there, so the data path never skips what holds an
 * entry. 0, or -1 with errno.
 */
int config_mark_used(int config_fd, __u32 empty_flag);

/* The lower steps, for restore, which works from one snapshot of all rules. */
int rule_write(const struct rule_maps *m, __u32 id, const struct sluice_rule *rule);
int rule_attach(const struct rule_maps *m, __u32 id, const struct sluice_rule *rule, char *err,
		size_t err_len);
int rule_detach(const struct rule_maps *m, __u32 id, const struct sluice_rule *rule);
/* Empties a slot: the rule, its shared bucket and its counters. */
int rule_clear(const struct rule_maps *m, __u32 id);
/* Deletes the per-source buckets of the rules marked in `ids`, a bitmap by id. */
int rule_purge_buckets(const struct rule_maps *m, const unsigned char *ids);
/* The first id from `from` that no rule in `entries` uses, or 0 if none is free. */
__u32 rule_free_id(const struct rule_entry *entries, size_t count, __u32 from);

/*
 * Parses the arguments of `limit set` or `limit del` (argv[0] is the verb):
 * the prefix and the options into a rule. With `with_limit` the limit
 * options are read and required; without, they are refused. 0, or -1 with
 * one line in `err`.
 */
int rule_parse(int argc, char **argv, bool with_limit, struct sluice_rule *rule, char *err,
	       size_t err_len);
/* The command that makes a rule, as `limit list`, save and restore write it. */
void rule_command(const struct sluice_rule *rule, char *buf, size_t len);
/* What a rule matches, briefly: "default", "198.18.0.0/24 tcp port 80 syn". */
void rule_match_text(const struct sluice_rule *rule, char *buf, size_t len);
/* "source", "prefix", "port" or "global". */
const char *rule_level_name(__u8 level);
/* "100pps, burst 10" or "unlimited". */
void rule_limit_text(const struct sluice_rule *rule, char *buf, size_t len);
/* A rule as `limit list --json` shows it. */
json_t *rule_json(const struct rule_entry *entry);

/*
 * Every key of a prefix trie, sorted: the default first, then IPv4, then
 * IPv6, each by address and length. The caller frees *keys. Returns 0, or -1
 * with errno set.
 */
int prefix_keys(int trie_fd, struct sluice_prefix_key **keys, size_t *count);
/* Every prefix on a list: [{"prefix": "198.18.0.0/24", "hits": 12}, ...]; NULL on failure. */
json_t *list_collect(int list_fd);

#endif /* SLUICE_RULES_H */
