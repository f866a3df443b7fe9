// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "array.h"
#include "parse.h"
#include "rules.h"
#include "token_bucket.h"

static const char *const level_names[SLUICE_LEVELS] = {
	[SLUICE_LEVEL_SOURCE] = "source",
	[SLUICE_LEVEL_PREFIX] = "prefix",
	[SLUICE_LEVEL_PORT] = "port",
	[SLUICE_LEVEL_GLOBAL] = "global",
};

#define MATCH_FLAGS (SLUICE_RULE_PER_SOURCE | SLUICE_RULE_SYN)
#define READ_BATCH 8192

static int compare_prefix_keys(const void *a, const void *b)
{
	const struct sluice_prefix_key *x = a, *y = b;
	int by_addr = memcmp(x->addr, y->addr, sizeof(x->addr));

	/* The default has family 0, so it comes first, then IPv4 (4), then IPv6 (6). */
	if (x->family != y->family)
		return x->family < y->family ? -1 : 1;
	if (by_addr)
		return by_addr;
	return x->prefixlen < y->prefixlen ? -1 : x->prefixlen > y->prefixlen;
}

bool rule_same_match(const struct sluice_rule *a, const struct sluice_rule *b)
{
	return a->level == b->level && !memcmp(&a->prefix, &b->prefix, sizeof(a->prefix)) &&
	       a->proto == b->proto && a->port_min == b->port_min && a->port_max == b->port_max &&
	       (a->flags & MATCH_FLAGS) == (b->flags & MATCH_FLAGS);
}

int rule_compare(const struct sluice_rule *a, const struct sluice_rule *b)
{
	int by_prefix;

	if (a->level != b->level)
		return a->level < b->level ? -1 : 1;
	by_prefix = compare_prefix_keys(&a->prefix, &b->prefix);
	if (by_prefix)
		return by_prefix;
	if (a->proto != b->proto)
		return a->proto < b->proto ? -1 : 1;
	if (a->port_min != b->port_min)
		return a->port_min < b->port_min ? -1 : 1;
	if (a->port_max != b->port_max)
		return a->port_max < b->port_max ? -1 : 1;
	return (int)(a->flags & MATCH_FLAGS) - (int)(b->flags & MATCH_FLAGS);
}

static int entry_compare(const void *a, const void *b)
{
	return rule_compare(&((const struct rule_entry *)a)->rule,
			    &((const struct rule_entry *)b)->rule);
}

int rules_read(const struct rule_maps *m, struct rule_entry **entries, size_t *count)
{
	static __u32 keys[READ_BATCH];
	static struct sluice_rule values[READ_BATCH];
	struct rule_entry *list = NULL, *grown;
	size_t n = 0, capacity = 0;
	__u32 token = 0, got;
	bool first = true, done = false;

	while (!done) {
		LIBBPF_OPTS(bpf_map_batch_opts, opts);

		got = READ_BATCH;
		if (bpf_map_lookup_batch(m->rules, first ? NULL : &token, &token, keys, values, &got,
					 &opts)) {
			if (errno != ENOENT) {
				free(list);
				return -1;
			}
			done = true;
		}
		first = false;
		for (__u32 i = 0; i < got; i++) {
			struct rule_entry *e;

			if (!(values[i].flags & SLUICE_RULE_IN_USE))
				continue;
			grown = array_reserve(list, &capacity, n, sizeof(*list));
			if (!grown) {
				free(list);
				return -1;
			}
			list = grown;
			e = &list[n++];
			e->id = keys[i];
			e->rule = values[i];
			if (bpf_map_lookup_elem(m->rule_counters, &e->id, &e->counters))
				memset(&e->counters, 0, sizeof(e->counters));
		}
	}
	qsort(list, n, sizeof(*list), entry_compare);
	*entries = list;
	*count = n;
	return 0;
}

__u32 rule_free_id(const struct rule_entry *entries, size_t count, __u32 from)
{
	unsigned char *used = calloc(SLUICE_MAX_RULES, 1);
	__u32 id;

	if (!used)
		return 0;
	for (size_t i = 0; i < count; i++)
		used[entries[i].id] = 1;
	for (id = from ? from : 1; id < SLUICE_MAX_RULES && used[id]; id++)
		;
	free(used);
	return id < SLUICE_MAX_RULES ? id : 0;
}

int rule_write(const struct rule_maps *m, __u32 id, const struct sluice_rule *rule)
{
	struct sluice_rule stored = *rule;

	stored.flags |= SLUICE_RULE_IN_USE;
	/*
	 * An array element is copied in place, not swapped: a packet racing
	 * this write may see some fields old and some new for one decision.
	 * Replacing keeps the match, so that is a limit between the old and the
	 * new one, for nanoseconds; rules are never torn across matches.
	 */
	return bpf_map_update_elem(m->rules, &id, &stored, BPF_ANY);
}

/*
 * The rule ids of exactly `key` in a trie (not of a shorter prefix that a
 * lookup would also find): the entry's rules all carry its prefix.
 */
static int trie_ids(const struct rule_maps *m, int trie, const struct sluice_prefix_key *key,
		    struct sluice_rule_ids *ids)
{
	struct sluice_rule rule;

	memset(ids, 0, sizeof(*ids));
	if (bpf_map_lookup_elem(trie, key, ids))
		return errno == ENOENT ? 0 : -1;
	for (int i = 0; i < SLUICE_RULES_PER_MATCH; i++) {
		if (!ids->id[i])
			continue;
		if (bpf_map_lookup_elem(m->rules, &ids->id[i], &rule))
			return -1;
		if (memcmp(&rule.prefix, key, sizeof(*key)))
			memset(ids, 0, sizeof(*ids));	/* a shorter prefix's entry */
		return 0;
	}
	memset(ids, 0, sizeof(*ids));
	return 0;
}

static bool ids_add(struct sluice_rule_ids *ids, __u32 id)
{
	for (int i = 0; i < SLUICE_RULES_PER_MATCH; i++)
		if (ids->id[i] == id)
			return true;
	for (int i = 0; i < SLUICE_RULES_PER_MATCH; i++) {
		if (!ids->id[i]) {
			ids->id[i] = id;
			return true;
		}
	}
	return false;
}

/* Removes an id, keeping the others first: the data path stops at the first empty slot. */
static bool ids_remove(struct sluice_rule_ids *ids, __u32 id)
{
	struct sluice_rule_ids kept = {};
	int n = 0;

	for (int i = 0; i < SLUICE_RULES_PER_MATCH; i++)
		if (ids->id[i] && ids->id[i] != id)
			kept.id[n++] = ids->id[i];
	*ids = kept;
	return n > 0;
}

/* The port table's indexes of a port rule's protocols. */
static int port_tables(const struct sluice_rule *rule, __u32 base[SLUICE_PORT_PROTOCOLS])
{
	int n = 0;

	if (rule->proto == 0 || rule->proto == IPPROTO_TCP)
		base[n++] = 0;
	if (rule->proto == 0 || rule->proto == IPPROTO_UDP)
		base[n++] = 65536;
	return n;
}

static int trie_of(const struct rule_maps *m, const struct sluice_rule *rule)
{
	return rule->level == SLUICE_LEVEL_SOURCE ? m->source_rules : m->prefix_rules;
}

int rule_detach(const struct rule_maps *m, __u32 id, const struct sluice_rule *rule)
{
	struct sluice_rule_ids ids;
	struct sluice_config cfg;
	__u32 base[SLUICE_PORT_PROTOCOLS], zero = 0;
	int tables, err = 0;

	switch (rule->level) {
	case SLUICE_LEVEL_SOURCE:
	case SLUICE_LEVEL_PREFIX:
		if (trie_ids(m, trie_of(m, rule), &rule->prefix, &ids))
			return -1;
		if (ids_remove(&ids, id))
			return bpf_map_update_elem(trie_of(m, rule), &rule->prefix, &ids, BPF_ANY);
		if (bpf_map_delete_elem(trie_of(m, rule), &rule->prefix) && errno != ENOENT)
			return -1;
		return 0;
	case SLUICE_LEVEL_PORT:
		tables = port_tables(rule, base);
		for (int t = 0; t < tables; t++) {
			for (__u32 port = rule->port_min; port <= rule->port_max; port++) {
				__u32 index = base[t] + port;

				if (bpf_map_lookup_elem(m->port_rules, &index, &ids)) {
					err = -1;
					continue;
				}
				ids_remove(&ids, id);
				if (bpf_map_update_elem(m->port_rules, &index, &ids, BPF_ANY))
					err = -1;
			}
		}
		return err;
	default:
		if (bpf_map_lookup_elem(m->config, &zero, &cfg))
			return -1;
		ids_remove(&cfg.global, id);
		return bpf_map_update_elem(m->config, &zero, &cfg, BPF_ANY);
	}
}

int config_mark_used(int config_fd, __u32 empty_flag)
{
	struct sluice_config cfg;
	__u32 zero = 0;

	if (bpf_map_lookup_elem(config_fd, &zero, &cfg))
		return -1;
	if (!(cfg.flags & empty_flag))
		return 0;
	cfg.flags &= ~empty_flag;
	return bpf_map_update_elem(config_fd, &zero, &cfg, BPF_ANY);
}

int rule_attach(const struct rule_maps *m, __u32 id, const struct sluice_rule *rule, char *err,
		size_t err_len)
{
	char match[128];
	struct sluice_rule_ids ids;
	struct sluice_config cfg;
	__u32 base[SLUICE_PORT_PROTOCOLS], zero = 0;
	int tables;

	rule_match_text(rule, match, sizeof(match));
	if ((rule->level == SLUICE_LEVEL_PREFIX &&
	     config_mark_used(m->config, SLUICE_PREFIX_RULES_EMPTY)) ||
	    (rule->level == SLUICE_LEVEL_PORT && config_mark_used(m->config, SLUICE_PORT_RULES_EMPTY)))
		goto failed;
	switch (rule->level) {
	case SLUICE_LEVEL_SOURCE:
	case SLUICE_LEVEL_PREFIX:
		if (trie_ids(m, trie_of(m, rule), &rule->prefix, &ids))
			goto failed;
		if (!ids_add(&ids, id))
			goto full;
		if (bpf_map_update_elem(trie_of(m, rule), &rule->prefix, &ids, BPF_ANY))
			goto failed;
		return 0;
	case SLUICE_LEVEL_PORT:
		tables = port_tables(rule, base);
		for (int t = 0; t < tables; t++) {
			for (__u32 port = rule->port_min; port <= rule->port_max; port++) {
				__u32 index = base[t] + port;

				if (bpf_map_lookup_elem(m->port_rules, &index, &ids))
					goto undo_ports;
				if (!ids_add(&ids, id)) {
					rule_detach(m, id, rule);
					goto full;
				}
				if (bpf_map_update_elem(m->port_rules, &index, &ids, BPF_ANY))
					goto undo_ports;
			}
		}
		return 0;
	default:
		if (bpf_map_lookup_elem(m->config, &zero, &cfg))
			goto failed;
		if (!ids_add(&cfg.global, id))
			goto full;
		if (bpf_map_update_elem(m->config, &zero, &cfg, BPF_ANY))
			goto failed;
		return 0;
	}
undo_ports:
	rule_detach(m, id, rule);
failed:
	snprintf(err, err_len, "cannot attach the rule for %s: %s", match, strerror(errno));
	return -1;
full:
	snprintf(err, err_len, "%s already has %d rules at the %s level, the most it can carry",
		 match, SLUICE_RULES_PER_MATCH, level_names[rule->level]);
	errno = ENOSPC;
	return -1;
}

int rule_purge_buckets(const struct rule_maps *m, const unsigned char *ids)
{
	static struct sluice_bucket_key keys[READ_BATCH];
	static struct sluice_bucket values[READ_BATCH];
	struct sluice_bucket_key *doomed = NULL, *grown;
	size_t n = 0, capacity = 0;
	__u32 token[4], got;
	bool first = true, done = false;
	int err = 0;

	while (!done) {
		LIBBPF_OPTS(bpf_map_batch_opts, opts);

		got = READ_BATCH;
		if (bpf_map_lookup_batch(m->buckets, first ? NULL : token, token, keys, values, &got,
					 &opts)) {
			if (errno != ENOENT) {
				err = -1;
				break;
			}
			done = true;
		}
		first = false;
		for (__u32 i = 0; i < got; i++) {
			if (keys[i].rule >= SLUICE_MAX_RULES || !ids[keys[i].rule])
				continue;
			grown = array_reserve(doomed, &capacity, n, sizeof(*doomed));
			if (!grown) {
				err = -1;
				done = true;
				break;
			}
			doomed = grown;
			doomed[n++] = keys[i];
		}
	}
	for (size_t i = 0; i < n; i++)
		bpf_map_delete_elem(m->buckets, &doomed[i]);
	free(doomed);
	return err;
}

int rule_clear(const struct rule_maps *m, __u32 id)
{
	struct sluice_rule_counters counters = {};
	struct sluice_bucket bucket = {};	/* a zero state is a fresh, full bucket */
	struct sluice_rule empty = {};

	if (bpf_map_update_elem(m->rules, &id, &empty, BPF_ANY) ||
	    bpf_map_update_elem(m->rule_state, &id, &bucket, BPF_ANY) ||
	    bpf_map_update_elem(m->rule_counters, &id, &counters, BPF_ANY))
		return -1;
	return 0;
}

/* A rule's buckets, shared and per source, as new; its counters go on. */
static int rule_reset_state(const struct rule_maps *m, __u32 id)
{
	struct sluice_bucket bucket = {};	/* a zero state is a fresh one */
	unsigned char *ids = calloc(SLUICE_MAX_RULES, 1);
	int err;

	if (!ids)
		return -1;
	ids[id] = 1;
	err = bpf_map_update_elem(m->rule_state, &id, &bucket, BPF_ANY) ||
	      rule_purge_buckets(m, ids);
	free(ids);
	return err ? -1 : 0;
}

/* rule_clear() and rule_purge_buckets() for one rule. */
static int rule_clear_all(const struct rule_maps *m, __u32 id)
{
	return rule_clear(m, id) || rule_reset_state(m, id) ? -1 : 0;
}

/*
 * Puts `rule` under a fresh id in place of `old_id`, whose state the new
 * limit cannot use: both apply for a moment (the stricter of the two), then
 * the old one goes with its buckets. The counters go on under the new id.
 */
static int rule_swap(const struct rule_maps *m, __u32 old_id, const struct sluice_rule *old,
		     __u32 new_id, const struct sluice_rule *rule, char *err, size_t err_len)
{
	struct sluice_rule_counters counters;

	if (rule_clear_all(m, new_id)) {
		snprintf(err, err_len, "cannot clear rule %u: %s", new_id, strerror(errno));
		return -1;
	}
	if (!bpf_map_lookup_elem(m->rule_counters, &old_id, &counters))
		bpf_map_update_elem(m->rule_counters, &new_id, &counters, BPF_ANY);
	if (rule_write(m, new_id, rule) || rule_attach(m, new_id, rule, err, err_len)) {
		if (errno == ENOSPC)
			snprintf(err + strlen(err), err_len - strlen(err),
				 " (changing its algorithm or unit needs a free slot: delete the "
				 "rule, then set it again)");
		rule_clear(m, new_id);
		return -1;
	}
	if (rule_detach(m, old_id, old) || rule_clear_all(m, old_id)) {
		snprintf(err, err_len, "cannot remove the old rule %u: %s", old_id, strerror(errno));
		return -1;
	}
	return 0;
}

int rule_set(const struct rule_maps *m, const struct sluice_rule *rule, __u32 *id, bool *replaced,
	     char *err, size_t err_len)
{
	struct rule_entry *entries = NULL;
	struct sluice_rule old;
	size_t count = 0;
	__u32 new_id;
	int ret;

	*replaced = false;
	*id = 0;
	if (rules_read(m, &entries, &count)) {
		snprintf(err, err_len, "cannot read the rules: %s", strerror(errno));
		return -1;
	}
	for (size_t i = 0; i < count && !*id; i++) {
		if (rule_same_match(&entries[i].rule, rule)) {
			*id = entries[i].id;
			old = entries[i].rule;
			*replaced = true;
		}
	}
	new_id = rule_free_id(entries, count, 1);
	free(entries);
	if (*replaced && !sluice_limit_keeps_state(&old.limit, &rule->limit)) {
		if (!new_id) {
			snprintf(err, err_len, "no room for another rule (there are %u)",
				 SLUICE_MAX_RULES - 1);
			return -1;
		}
		ret = rule_swap(m, *id, &old, new_id, rule, err, err_len);
		*id = new_id;
		return ret;
	}
	if (!*id)
		*id = new_id;
	if (!*id) {
		snprintf(err, err_len, "no room for another rule (there are %u)",
			 SLUICE_MAX_RULES - 1);
		return -1;
	}
	/* A new rule starts with fresh state: nothing left of a rule that had its id. */
	if (!*replaced && rule_clear_all(m, *id)) {
		snprintf(err, err_len, "cannot clear rule %u: %s", *id, strerror(errno));
		return -1;
	}
	if (rule_write(m, *id, rule)) {
		snprintf(err, err_len, "cannot write rule %u: %s", *id, strerror(errno));
		return -1;
	}
	/*
	 * Written before attached: the data path never meets an id without its
	 * rule. Attached on a replace too (it is idempotent), in case an earlier
	 * command failed half-way and left the rule written but not attached.
	 */
	if (rule_attach(m, *id, rule, err, err_len)) {
		if (!*replaced)
			rule_clear(m, *id);
		return -1;
	}
	return 0;
}

int rule_del(const struct rule_maps *m, const struct sluice_rule *match, char *err,
	     size_t err_len)
{
	struct rule_entry *entries = NULL;
	struct sluice_rule found;
	char text[128];
	size_t count = 0;
	__u32 id = 0;

	if (rules_read(m, &entries, &count)) {
		snprintf(err, err_len, "cannot read the rules: %s", strerror(errno));
		return -1;
	}
	for (size_t i = 0; i < count && !id; i++) {
		if (rule_same_match(&entries[i].rule, match)) {
			id = entries[i].id;
			found = entries[i].rule;
		}
	}
	free(entries);
	rule_match_text(match, text, sizeof(text));
	if (!id) {
		snprintf(err, err_len, "no limit is set for %s", text);
		errno = ENOENT;
		return -1;
	}
	/* Detached before cleared: the data path never meets an id without its rule. */
	if (rule_detach(m, id, &found) || rule_clear_all(m, id)) {
		snprintf(err, err_len, "cannot delete the rule for %s: %s", text, strerror(errno));
		return -1;
	}
	return 0;
}

static const struct {
	const char *name;
	__u8 proto;
} protocols[] = {
	{ "tcp", IPPROTO_TCP },
	{ "udp", IPPROTO_UDP },
	{ "icmp", IPPROTO_ICMP },	/* ICMP and ICMPv6 alike */
};

static const char *proto_name(__u8 proto)
{
	for (size_t i = 0; i < sizeof(protocols) / sizeof(protocols[0]); i++)
		if (protocols[i].proto == proto)
			return protocols[i].name;
	return NULL;
}

static int parse_ports(const char *text, struct sluice_rule *rule, char *err, size_t err_len)
{
	const char *dash = strchr(text, '-');
	char low[16];
	__u64 min, max;

	if (dash && (size_t)(dash - text) < sizeof(low)) {
		memcpy(low, text, dash - text);
		low[dash - text] = '\0';
		if (parse_count("--port", low, 0, 65535, &min, err, err_len) ||
		    parse_count("--port", dash + 1, 0, 65535, &max, err, err_len))
			return -1;
	} else if (dash || parse_count("--port", text, 0, 65535, &min, err, err_len)) {
		if (dash)
			snprintf(err, err_len, "invalid --port '%s': expected PORT or LOW-HIGH", text);
		return -1;
	} else {
		max = min;
	}
	if (min > max) {
		snprintf(err, err_len, "invalid --port '%s': the range ends before it starts", text);
		return -1;
	}
	rule->port_min = (__u16)min;
	rule->port_max = (__u16)max;
	return 0;
}

enum rule_option { OPT_RATE = 1, OPT_BURST, OPT_PER, OPT_PROTO, OPT_PORT, OPT_SYN, OPT_DRY_RUN,
		   OPT_GROUP_V4, OPT_GROUP_V6, OPT_ALGO, OPT_CLASS, OPT_SCOPE, OPT_COUNT };

static const char *const option_names[OPT_COUNT] = {
	[OPT_RATE] = "--rate", [OPT_BURST] = "--burst", [OPT_PER] = "--per",
	[OPT_PROTO] = "--proto", [OPT_PORT] = "--port", [OPT_SYN] = "--syn",
	[OPT_DRY_RUN] = "--dry-run", [OPT_GROUP_V4] = "--ipv4-group",
	[OPT_GROUP_V6] = "--ipv6-group", [OPT_ALGO] = "--algo", [OPT_CLASS] = "--class",
	[OPT_SCOPE] = "--scope",
};

/* Options that say what a rule matches; the others say what it does. */
static bool is_match_option(int opt)
{
	return opt == OPT_PER || opt == OPT_PROTO || opt == OPT_PORT || opt == OPT_SYN;
}

int rule_parse(int argc, char **argv, bool with_limit, struct sluice_rule *out, char *err,
	       size_t err_len)
{
	static const struct option options[] = {
		{ "rate", required_argument, NULL, OPT_RATE },
		{ "burst", required_argument, NULL, OPT_BURST },
		{ "per", required_argument, NULL, OPT_PER },
		{ "proto", required_argument, NULL, OPT_PROTO },
		{ "port", required_argument, NULL, OPT_PORT },
		{ "syn", no_argument, NULL, OPT_SYN },
		{ "dry-run", no_argument, NULL, OPT_DRY_RUN },
		{ "ipv4-group", required_argument, NULL, OPT_GROUP_V4 },
		{ "ipv6-group", required_argument, NULL, OPT_GROUP_V6 },
		{ "algo", required_argument, NULL, OPT_ALGO },
		{ "class", required_argument, NULL, OPT_CLASS },
		{ "scope", required_argument, NULL, OPT_SCOPE },
		{},
	};
	const char *arg[OPT_COUNT] = {}, *verb = argv[0];
	enum sluice_algo algo = SLUICE_ALGO_TOKEN_BUCKET;
	enum sluice_rule_limit_error error;
	struct sluice_rule rule = {};
	enum sluice_unit unit;
	__u64 rate, burst, group;
	bool per_source = true;
	int opt;

	optind = 0;	/* a fresh scan: restore parses many lines */
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":", options, NULL)) != -1) {
		if (opt == '?' || opt == ':') {
			snprintf(err, err_len, "limit %s: %s option '%s'", verb,
				 opt == '?' ? "invalid" : "a value is missing after the",
				 argv[optind - 1]);
			return -1;
		}
		if (arg[opt]) {
			snprintf(err, err_len, "option '%s' given twice", option_names[opt]);
			return -1;
		}
		if (!with_limit && !is_match_option(opt)) {
			snprintf(err, err_len, "limit %s takes only what the rule matches, not '%s'",
				 verb, option_names[opt]);
			return -1;
		}
		arg[opt] = optarg ? optarg : "";
	}
	if (optind + 1 != argc) {
		snprintf(err, err_len, "limit %s takes one prefix: limit %s default|PREFIX [OPTIONS]",
			 verb, verb);
		return -1;
	}
	if (parse_prefix("prefix", argv[optind], &rule.prefix, err, err_len))
		return -1;

	/* What it matches. */
	if (arg[OPT_PER]) {
		if (strcmp(arg[OPT_PER], "source") && strcmp(arg[OPT_PER], "rule")) {
			snprintf(err, err_len, "invalid --per '%s': expected source or rule",
				 arg[OPT_PER]);
			return -1;
		}
		per_source = strcmp(arg[OPT_PER], "source") == 0;
	}
	if (arg[OPT_PROTO]) {
		for (size_t i = 0; i < sizeof(protocols) / sizeof(protocols[0]); i++)
			if (strcmp(arg[OPT_PROTO], protocols[i].name) == 0)
				rule.proto = protocols[i].proto;
		if (!rule.proto) {
			snprintf(err, err_len, "invalid --proto '%s': expected tcp, udp or icmp",
				 arg[OPT_PROTO]);
			return -1;
		}
	}
	if (arg[OPT_SYN]) {
		if (rule.proto && rule.proto != IPPROTO_TCP) {
			snprintf(err, err_len, "--syn matches TCP only, not --proto %s",
				 arg[OPT_PROTO]);
			return -1;
		}
		rule.proto = IPPROTO_TCP;
		rule.flags |= SLUICE_RULE_SYN;
	}
	if (arg[OPT_PORT]) {
		if (rule.proto == IPPROTO_ICMP) {
			snprintf(err, err_len, "--port needs --proto tcp or udp (ICMP has no ports)");
			return -1;
		}
		if (parse_ports(arg[OPT_PORT], &rule, err, err_len))
			return -1;
		rule.level = SLUICE_LEVEL_PORT;
	} else if (!per_source) {
		rule.level = prefix_is_default(&rule.prefix) ? SLUICE_LEVEL_GLOBAL :
							       SLUICE_LEVEL_PREFIX;
	} else {
		rule.level = SLUICE_LEVEL_SOURCE;
	}
	if (per_source)
		rule.flags |= SLUICE_RULE_PER_SOURCE;
	if (!with_limit) {
		*out = rule;
		return 0;
	}

	/* What it does. */
	rule.group_v4 = SLUICE_DEFAULT_GROUP_V4;
	rule.group_v6 = SLUICE_DEFAULT_GROUP_V6;
	if ((arg[OPT_GROUP_V4] || arg[OPT_GROUP_V6]) && !per_source) {
		snprintf(err, err_len, "--ipv4-group and --ipv6-group apply to --per source rules");
		return -1;
	}
	if (arg[OPT_GROUP_V4]) {
		if (parse_count("--ipv4-group", arg[OPT_GROUP_V4], 1, 32, &group, err, err_len))
			return -1;
		rule.group_v4 = (__u8)group;
	}
	if (arg[OPT_GROUP_V6]) {
		if (parse_count("--ipv6-group", arg[OPT_GROUP_V6], 1, 128, &group, err, err_len))
			return -1;
		rule.group_v6 = (__u8)group;
	}
	if (arg[OPT_DRY_RUN])
		rule.flags |= SLUICE_RULE_DRY_RUN;
	if (arg[OPT_SCOPE] && strcmp(arg[OPT_SCOPE], "local") != 0) {
		if (strcmp(arg[OPT_SCOPE], "fleet") != 0) {
			snprintf(err, err_len, "invalid --scope '%s': expected local or fleet",
				 arg[OPT_SCOPE]);
			return -1;
		}
		rule.flags |= SLUICE_RULE_FLEET;
	}
	if (arg[OPT_CLASS]) {
		if (parse_class("--class", arg[OPT_CLASS], &rule.class, err, err_len))
			return -1;
		rule.flags |= SLUICE_RULE_CLASSED;
	}
	if (!arg[OPT_RATE]) {
		snprintf(err, err_len, "limit %s needs --rate RATE (or --rate unlimited)", verb);
		return -1;
	}
	if (strcmp(arg[OPT_RATE], "unlimited") == 0) {
		if (arg[OPT_BURST] || arg[OPT_ALGO]) {
			snprintf(err, err_len, "%s does not apply to --rate unlimited",
				 arg[OPT_BURST] ? "--burst" : "--algo");
			return -1;
		}
		rule.flags |= SLUICE_RULE_UNLIMITED;
		*out = rule;
		return 0;
	}
	if (arg[OPT_ALGO] && parse_algo("--algo", arg[OPT_ALGO], &algo, err, err_len))
		return -1;
	if (parse_limit_rate("--rate", arg[OPT_RATE], &rate, &unit, err, err_len))
		return -1;
	/* By default one second of the rate, and at least a full frame's bytes. */
	burst = rate;
	if (unit == SLUICE_UNIT_BYTES && burst < SLUICE_MIN_BYTE_BURST)
		burst = SLUICE_MIN_BYTE_BURST;
	if (arg[OPT_BURST] &&
	    parse_limit_burst("--burst", arg[OPT_BURST], unit, &burst, err, err_len))
		return -1;
	error = sluice_rule_limit_init(&rule.limit, algo, unit, rate, burst);
	if (error) {
		format_limit_error(error, unit, arg[OPT_RATE],
				   arg[OPT_BURST] ? arg[OPT_BURST] : arg[OPT_RATE], err, err_len);
		return -1;
	}
	*out = rule;
	return 0;
}

void rule_match_text(const struct sluice_rule *rule, char *buf, size_t len)
{
	char prefix[SLUICE_PREFIX_STR_LEN];
	const char *proto = proto_name(rule->proto);
	int n;

	format_prefix(&rule->prefix, prefix, sizeof(prefix));
	n = snprintf(buf, len, "%s", prefix);
	if (proto && !(rule->flags & SLUICE_RULE_SYN))
		n += snprintf(buf + n, len > (size_t)n ? len - n : 0, " %s", proto);
	if (rule->level == SLUICE_LEVEL_PORT && rule->port_min == rule->port_max)
		n += snprintf(buf + n, len > (size_t)n ? len - n : 0, " port %u", rule->port_min);
	else if (rule->level == SLUICE_LEVEL_PORT)
		n += snprintf(buf + n, len > (size_t)n ? len - n : 0, " ports %u-%u",
			      rule->port_min, rule->port_max);
	if (rule->flags & SLUICE_RULE_SYN)
		n += snprintf(buf + n, len > (size_t)n ? len - n : 0, " tcp syn");
	if (!(rule->flags & SLUICE_RULE_PER_SOURCE))
		snprintf(buf + n, len > (size_t)n ? len - n : 0, " (shared)");
}

const char *rule_level_name(__u8 level)
{
	return level < SLUICE_LEVELS ? level_names[level] : "unknown";
}

void rule_limit_text(const struct sluice_rule *rule, char *buf, size_t len)
{
	char rate[32], burst[32];

	char class[24] = "";

	if (rule->flags & SLUICE_RULE_CLASSED)
		snprintf(class, sizeof(class), ", class %s", class_name(rule->class));
	if (rule->flags & SLUICE_RULE_UNLIMITED) {
		snprintf(buf, len, "unlimited%s", class);
		return;
	}
	format_limit_rate(rule->limit.rate, rule->limit.unit, rate, sizeof(rate));
	format_limit_burst(rule->limit.burst, rule->limit.unit, burst, sizeof(burst));
	snprintf(buf, len, "%s, burst %s%s%s%s%s%s", rate, burst,
		 rule->limit.algo ? ", " : "", rule->limit.algo ? algo_name(rule->limit.algo) : "",
		 class, rule->flags & SLUICE_RULE_DRY_RUN ? " (dry run)" : "",
		 rule->flags & SLUICE_RULE_FLEET ? " (fleet)" : "");
}

void rule_command(const struct sluice_rule *rule, char *buf, size_t len)
{
	char prefix[SLUICE_PREFIX_STR_LEN], rate[32], burst[32];
	const char *proto = proto_name(rule->proto);
	int n;

#define APPEND(...) (n += snprintf(buf + n, len > (size_t)n ? len - n : 0, __VA_ARGS__))
	format_prefix(&rule->prefix, prefix, sizeof(prefix));
	n = snprintf(buf, len, "limit set %s", prefix);
	if (!(rule->flags & SLUICE_RULE_PER_SOURCE))
		APPEND(" --per rule");
	if (rule->flags & SLUICE_RULE_SYN)
		APPEND(" --syn");
	else if (proto)
		APPEND(" --proto %s", proto);
	if (rule->level == SLUICE_LEVEL_PORT && rule->port_min == rule->port_max)
		APPEND(" --port %u", rule->port_min);
	else if (rule->level == SLUICE_LEVEL_PORT)
		APPEND(" --port %u-%u", rule->port_min, rule->port_max);
	if (rule->flags & SLUICE_RULE_UNLIMITED) {
		APPEND(" --rate unlimited");
	} else {
		format_limit_rate(rule->limit.rate, rule->limit.unit, rate, sizeof(rate));
		format_limit_burst(rule->limit.burst, rule->limit.unit, burst, sizeof(burst));
		APPEND(" --rate %s --burst %s", rate, burst);
		if (rule->limit.algo != SLUICE_ALGO_TOKEN_BUCKET)
			APPEND(" --algo %s", algo_name(rule->limit.algo));
	}
	if ((rule->flags & SLUICE_RULE_PER_SOURCE) && rule->group_v4 != SLUICE_DEFAULT_GROUP_V4)
		APPEND(" --ipv4-group %u", rule->group_v4);
	if ((rule->flags & SLUICE_RULE_PER_SOURCE) && rule->group_v6 != SLUICE_DEFAULT_GROUP_V6)
		APPEND(" --ipv6-group %u", rule->group_v6);
	if (rule->flags & SLUICE_RULE_CLASSED)
		APPEND(" --class %s", class_name(rule->class));
	if (rule->flags & SLUICE_RULE_DRY_RUN)
		APPEND(" --dry-run");
	if (rule->flags & SLUICE_RULE_FLEET)
		APPEND(" --scope fleet");
#undef APPEND
}

static json_t *counter_json(const struct sluice_counter *c)
{
	return json_pack("{s:I, s:I}", "packets", (json_int_t)c->packets, "bytes",
			 (json_int_t)c->bytes);
}

json_t *rule_json(const struct rule_entry *e)
{
	const struct sluice_rule *r = &e->rule;
	char prefix[SLUICE_PREFIX_STR_LEN];
	const char *proto = proto_name(r->proto);
	json_t *doc;

	format_prefix(&r->prefix, prefix, sizeof(prefix));
	doc = json_pack("{s:I, s:s, s:s, s:s, s:o, s:o, s:b, s:b, s:b, s:o, s:o, s:o}", "id",
			(json_int_t)e->id, "level", level_names[r->level], "prefix", prefix, "per",
			r->flags & SLUICE_RULE_PER_SOURCE ? "source" : "rule", "proto",
			proto ? json_string(proto) : json_null(), "ports",
			r->level == SLUICE_LEVEL_PORT ? json_pack("[i, i]", r->port_min, r->port_max)
						      : json_null(),
			"syn", (r->flags & SLUICE_RULE_SYN) != 0, "dry_run",
			(r->flags & SLUICE_RULE_DRY_RUN) != 0, "unlimited",
			(r->flags & SLUICE_RULE_UNLIMITED) != 0, "passed",
			counter_json(&e->counters.passed), "dropped",
			counter_json(&e->counters.dropped), "would_drop",
			counter_json(&e->counters.would_drop));
	json_object_set_new(doc, "class", r->flags & SLUICE_RULE_CLASSED ?
						  json_string(class_name(r->class)) : json_null());
	json_object_set_new(doc, "scope", json_string(r->flags & SLUICE_RULE_FLEET ? "fleet" :
											"local"));
	if (!(r->flags & SLUICE_RULE_UNLIMITED)) {
		json_object_set_new(doc, "rate", json_integer((json_int_t)r->limit.rate));
		json_object_set_new(doc, "burst", json_integer((json_int_t)r->limit.burst));
		json_object_set_new(doc, "unit", json_string(r->limit.unit == SLUICE_UNIT_BYTES ?
								     "bytes" : "packets"));
		json_object_set_new(doc, "algo", json_string(algo_name(r->limit.algo)));
	}
	if (r->flags & SLUICE_RULE_PER_SOURCE) {
		json_object_set_new(doc, "ipv4_group", json_integer(r->group_v4));
		json_object_set_new(doc, "ipv6_group", json_integer(r->group_v6));
	}
	return doc;
}

int prefix_keys(int trie_fd, struct sluice_prefix_key **keys, size_t *count)
{
	struct sluice_prefix_key key, *list = NULL, *grown;
	size_t n = 0, capacity = 0;
	void *prev = NULL;

	while (bpf_map_get_next_key(trie_fd, prev, &key) == 0) {
		grown = array_reserve(list, &capacity, n, sizeof(*list));
		if (!grown) {
			free(list);
			return -1;
		}
		list = grown;
		list[n++] = key;
		prev = &list[n - 1];
	}
	if (errno != ENOENT) {
		free(list);
		return -1;
	}
	qsort(list, n, sizeof(*list), compare_prefix_keys);
	*keys = list;
	*count = n;
	return 0;
}

json_t *list_collect(int list_fd)
{
	struct sluice_prefix_key *keys = NULL;
	char prefix[SLUICE_PREFIX_STR_LEN];
	struct sluice_list_entry entry;
	size_t count = 0;
	json_t *list;

	if (prefix_keys(list_fd, &keys, &count))
		return NULL;
	list = json_array();
	for (size_t i = 0; i < count; i++) {
		if (bpf_map_lookup_elem(list_fd, &keys[i], &entry))
			continue;
		format_prefix(&keys[i], prefix, sizeof(prefix));
		json_array_append_new(list, json_pack("{s:s, s:I}", "prefix", prefix, "hits",
						      (json_int_t)entry.hits));
	}
	free(keys);
	return list;
}
