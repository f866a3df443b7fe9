// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * sluice save and sluice restore: the whole rule set (limits, allow list,
 * deny list) as the commands that make it, and back.
 *
 * restore makes the rule set what the file says, all or nothing: every line
 * is parsed and checked before any map is touched (the first bad line is
 * reported by number), and if the kernel refuses a change half-way, the
 * changes already made are undone. Sources' buckets are never touched, so
 * traffic within its limits keeps flowing while rules are replaced.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>

#include "cli.h"
#include "parse.h"
#include "rules.h"
#include "state.h"

#define RULESET_MAX_LINE 4096
#define RULESET_MAX_WORDS 16
#define RULESET_MAX_BYTES (64u << 20)

enum rule_kind { RULE_LIMIT, RULE_ALLOW, RULE_DENY, RULE_KINDS };

static const char *const rule_commands[RULE_KINDS] = {
	[RULE_LIMIT] = "limit set", [RULE_ALLOW] = "allow add", [RULE_DENY] = "deny add",
};

/* One rule of a rule set: a prefix on a list, or a prefix and its limit. */
struct rule {
	enum rule_kind kind;
	struct sluice_prefix_key key;
	struct sluice_limit limit;	/* RULE_LIMIT only */
	unsigned int line;		/* where restore read it; 0 for the maps' own */
};

struct ruleset {
	struct rule *rules;
	size_t count, capacity;
};

static int ruleset_add(struct ruleset *set, const struct rule *rule)
{
	if (set->count == set->capacity) {
		size_t capacity = set->capacity ? set->capacity * 2 : 256;
		struct rule *grown = realloc(set->rules, capacity * sizeof(*grown));

		if (!grown)
			return -1;
		set->rules = grown;
		set->capacity = capacity;
	}
	set->rules[set->count++] = *rule;
	return 0;
}

static int by_kind_and_key(const void *a, const void *b)
{
	const struct rule *x = a, *y = b;

	if (x->kind != y->kind)
		return x->kind < y->kind ? -1 : 1;
	return memcmp(&x->key, &y->key, sizeof(x->key));
}

/* The rule set in force: every map entry, in the order save prints them. */
static int ruleset_read(const struct state *st, struct ruleset *set)
{
	const int fds[RULE_KINDS] = { st->limits, st->allow_list, st->deny_list };

	for (int kind = 0; kind < RULE_KINDS; kind++) {
		struct sluice_prefix_key *keys = NULL;
		size_t count = 0;

		if (prefix_keys(fds[kind], &keys, &count))
			return -1;
		for (size_t i = 0; i < count; i++) {
			struct rule rule = { .kind = kind, .key = keys[i] };

			/* An entry deleted since its key was listed is simply not there. */
			if (kind == RULE_LIMIT && bpf_map_lookup_elem(fds[kind], &keys[i], &rule.limit))
				continue;
			if (ruleset_add(set, &rule)) {
				free(keys);
				return -1;
			}
		}
		free(keys);
	}
	return 0;
}

/* The command that makes a rule, as save prints it and restore reads it. */
static void rule_command(const struct rule *rule, char *buf, size_t len)
{
	char prefix[SLUICE_PREFIX_STR_LEN], rate[32];

	format_prefix(&rule->key, prefix, sizeof(prefix));
	if (rule->kind != RULE_LIMIT) {
		snprintf(buf, len, "%s %s", rule_commands[rule->kind], prefix);
	} else if (rule->limit.flags & SLUICE_LIMIT_UNLIMITED) {
		snprintf(buf, len, "limit set %s --rate unlimited", prefix);
	} else {
		format_rate(rule->limit.rate, rate, sizeof(rate));
		snprintf(buf, len, "limit set %s --rate %s --burst %llu", prefix, rate,
			 (unsigned long long)rule->limit.burst);
	}
}

int cmd_save(const struct cli *cli, int argc, char **argv)
{
	struct ruleset set = {};
	char err[SLUICE_ERR_LEN], line[256];
	json_t *commands;
	struct state st;
	int ret;

	(void)argv;
	if (argc > 1)
		return cli_fail(cli, "save takes no arguments");
	if (state_open(&st, cli->pin_root, STATE_READ, err, sizeof(err)))
		return cli_fail(cli, "%s", err);
	ret = ruleset_read(&st, &set);
	state_close(&st);
	if (ret) {
		free(set.rules);
		return cli_fail(cli, "cannot read the rules: %s", state_strerror(errno));
	}
	commands = json_array();
	for (size_t i = 0; i < set.count; i++) {
		rule_command(&set.rules[i], line, sizeof(line));
		json_array_append_new(commands, json_string(line));
	}
	free(set.rules);
	if (cli->json)
		return cli_print_json(json_pack("{s:o}", "commands", commands));
	printf("# sluice rule set: 'sluice restore FILE' makes the rules exactly these\n");
	for (size_t i = 0; i < json_array_size(commands); i++)
		printf("%s\n", json_string_value(json_array_get(commands, i)));
	json_decref(commands);
	return 0;
}

/* Splits a line into words at blanks, after cutting a '#' comment. Returns the count. */
static int split_words(char *line, char **words, int max, char *err, size_t err_len)
{
	char *comment = strchr(line, '#'), *save = NULL, *word;
	int count = 0;

	if (comment)
		*comment = '\0';
	for (word = strtok_r(line, " \t\r\n", &save); word; word = strtok_r(NULL, " \t\r\n", &save)) {
		if (count == max) {
			snprintf(err, err_len, "more than %d words", max);
			return -1;
		}
		words[count++] = word;
	}
	return count;
}

/* Parses one line of a rule set; 0 with no rule for a blank or comment line. */
static int parse_rule_line(char *text, struct rule *rule, bool *found, char *err, size_t err_len)
{
	char *words[RULESET_MAX_WORDS + 1];
	int count = split_words(text, words, RULESET_MAX_WORDS, err, err_len);

	*found = false;
	if (count <= 0)
		return count;
	words[count] = NULL;
	memset(rule, 0, sizeof(*rule));
	if (count >= 2 && strcmp(words[0], "limit") == 0 && strcmp(words[1], "set") == 0) {
		rule->kind = RULE_LIMIT;
		if (limit_parse(count - 1, words + 1, &rule->key, &rule->limit, err, err_len))
			return -1;
	} else if (count >= 2 && strcmp(words[1], "add") == 0 &&
		   (strcmp(words[0], "allow") == 0 || strcmp(words[0], "deny") == 0)) {
		rule->kind = words[0][0] == 'a' ? RULE_ALLOW : RULE_DENY;
		if (count != 3) {
			snprintf(err, err_len, "%s add takes one prefix", words[0]);
			return -1;
		}
		if (parse_prefix("prefix", words[2], &rule->key, err, err_len))
			return -1;
	} else {
		snprintf(err, err_len, "expected 'limit set', 'allow add' or 'deny add', not '%s%s%s'",
			 words[0], count > 1 ? " " : "", count > 1 ? words[1] : "");
		return -1;
	}
	*found = true;
	return 0;
}

/* Reads a whole rule set; on a bad line, says which and why. */
static int ruleset_parse(FILE *in, const char *name, struct ruleset *set, char *err,
			 size_t err_len)
{
	char line[RULESET_MAX_LINE + 2], why[SLUICE_ERR_LEN];
	unsigned int number = 0;
	size_t bytes = 0;

	while (fgets(line, sizeof(line), in)) {
		struct rule rule;
		bool found;

		number++;
		bytes += strlen(line);
		if (bytes > RULESET_MAX_BYTES) {
			snprintf(err, err_len, "%.256s: larger than %u MiB", name, RULESET_MAX_BYTES >> 20);
			return -1;
		}
		if (!strchr(line, '\n') && !feof(in)) {
			snprintf(err, err_len, "%.256s:%u: longer than %d characters", name, number,
				 RULESET_MAX_LINE);
			return -1;
		}
		if (parse_rule_line(line, &rule, &found, why, sizeof(why))) {
			snprintf(err, err_len, "%.256s:%u: %s", name, number, why);
			return -1;
		}
		rule.line = number;
		if (found && ruleset_add(set, &rule)) {
			snprintf(err, err_len, "%.256s: %s", name, strerror(errno));
			return -1;
		}
	}
	if (ferror(in)) {
		snprintf(err, err_len, "cannot read %.256s: %s", name, strerror(errno));
		return -1;
	}
	return 0;
}

/* A prefix set twice for the same kind of rule is an error at its second line. */
static int ruleset_check_duplicates(struct ruleset *set, const char *name, char *err,
				    size_t err_len)
{
	const struct rule *first = NULL, *second = NULL;
	char prefix[SLUICE_PREFIX_STR_LEN];

	qsort(set->rules, set->count, sizeof(*set->rules), by_kind_and_key);
	for (size_t i = 1; i < set->count; i++) {
		const struct rule *a = &set->rules[i - 1], *b = &set->rules[i];
		const struct rule *later = a->line > b->line ? a : b;

		if (by_kind_and_key(a, b) == 0 && (!second || later->line < second->line)) {
			second = later;
			first = later == a ? b : a;
		}
	}
	if (!second)
		return 0;
	format_prefix(&second->key, prefix, sizeof(prefix));
	snprintf(err, err_len, "%.256s:%u: %s %s is already on line %u", name, second->line,
		 rule_commands[second->kind], prefix, first->line);
	return -1;
}

/* One change to a map, and what undoes it. */
struct change {
	int fd;
	struct sluice_prefix_key key;
	bool had_old;				/* the key was there before */
	union {
		struct sluice_limit limit;
		struct sluice_list_entry entry;
	} old;
};

static const struct rule *find_rule(const struct ruleset *set, const struct rule *like)
{
	return bsearch(like, set->rules, set->count, sizeof(*set->rules), by_kind_and_key);
}

/* Undoes changes in reverse, so the maps are as they were before restore began. */
static void undo(const struct change *changes, size_t count)
{
	while (count--) {
		const struct change *c = &changes[count];

		if (c->had_old)
			bpf_map_update_elem(c->fd, &c->key, &c->old, BPF_ANY);
		else
			bpf_map_delete_elem(c->fd, &c->key);
	}
}

/*
 * Makes the maps hold exactly `want` (sorted). Stricter changes go first
 * (deny additions, then limits), looser ones last (allow additions, then
 * removals), so while restore runs, traffic is never let through that
 * neither the old rules nor the new would let through. Counts what it did.
 */
static int ruleset_apply(const struct state *st, const struct ruleset *have,
			 const struct ruleset *want, size_t counts[3], char *err, size_t err_len)
{
	static const struct {
		enum rule_kind kind;
		bool removal;
	} order[] = {
		{ RULE_DENY, false }, { RULE_LIMIT, false }, { RULE_ALLOW, false },
		{ RULE_ALLOW, true },  { RULE_DENY, true },  { RULE_LIMIT, true },
	};
	const int fds[RULE_KINDS] = { st->limits, st->allow_list, st->deny_list };
	struct change *changes = calloc(have->count + want->count + 1, sizeof(*changes));
	size_t done = 0;

	if (!changes) {
		snprintf(err, err_len, "%s", strerror(ENOMEM));
		return -1;
	}
	for (size_t step = 0; step < sizeof(order) / sizeof(order[0]); step++) {
		const struct ruleset *from = order[step].removal ? have : want;

		for (size_t i = 0; i < from->count; i++) {
			const struct rule *rule = &from->rules[i], *old = find_rule(have, rule);
			struct change *c = &changes[done];
			struct sluice_list_entry fresh = {};
			int fd = fds[rule->kind], ret;

			if (rule->kind != order[step].kind)
				continue;
			c->fd = fd;
			c->key = rule->key;
			if (order[step].removal) {
				if (find_rule(want, rule))
					continue;
				c->had_old = true;
				if (bpf_map_lookup_elem(fd, &rule->key, &c->old))
					continue;	/* gone already */
				ret = bpf_map_delete_elem(fd, &rule->key);
				counts[2]++;
			} else if (rule->kind == RULE_LIMIT) {
				if (old && !memcmp(&old->limit, &rule->limit, sizeof(rule->limit)))
					continue;
				c->had_old = old && !bpf_map_lookup_elem(fd, &rule->key, &c->old);
				ret = bpf_map_update_elem(fd, &rule->key, &rule->limit, BPF_ANY);
				counts[old ? 1 : 0]++;
			} else {
				if (old)
					continue;	/* kept as it is, hit count and all */
				if (state_mark_list_used(st, fd)) {
					ret = -1;
				} else {
					ret = bpf_map_update_elem(fd, &rule->key, &fresh, BPF_NOEXIST);
					if (ret && errno == EEXIST)
						continue;
				}
				counts[0]++;
			}
			if (ret) {
				char command[256];

				rule_command(rule, command, sizeof(command));
				snprintf(err, err_len, "%s '%s' failed: %s; nothing was changed",
					 order[step].removal ? "removing" : "applying", command,
					 state_strerror(errno));
				undo(changes, done);
				free(changes);
				return -1;
			}
			done++;
		}
	}
	free(changes);
	return 0;
}

int cmd_restore(const struct cli *cli, int argc, char **argv)
{
	struct ruleset want = {}, have = {};
	char err[4 * SLUICE_ERR_LEN];	/* a file name, a line number and why */
	size_t counts[3] = {};	/* added, changed, removed */
	const char *name;
	struct state st;
	FILE *in;
	int ret = 1;

	if (argc != 2)
		return cli_fail(cli, "restore takes one file: sluice restore FILE (or - for stdin)");
	name = strcmp(argv[1], "-") == 0 ? "stdin" : argv[1];
	in = strcmp(argv[1], "-") == 0 ? stdin : fopen(argv[1], "r");
	if (!in)
		return cli_fail(cli, "cannot open %s: %s", argv[1], strerror(errno));
	ret = ruleset_parse(in, name, &want, err, sizeof(err));
	if (in != stdin)
		fclose(in);
	if (ret || ruleset_check_duplicates(&want, name, err, sizeof(err))) {
		free(want.rules);
		return cli_fail(cli, "%s; nothing was changed", err);
	}

	ret = 1;
	if (state_create(&st, cli->pin_root, cli->max_sources, err, sizeof(err))) {
		cli_fail(cli, "failed to restore: %s", err);
		goto out;
	}
	if (ruleset_read(&st, &have)) {
		cli_fail(cli, "failed to restore: cannot read the rules: %s; nothing was changed",
			 state_strerror(errno));
	} else {
		qsort(have.rules, have.count, sizeof(*have.rules), by_kind_and_key);
		if (ruleset_apply(&st, &have, &want, counts, err, sizeof(err)))
			cli_fail(cli, "failed to restore: %s", err);
		else
			ret = 0;
	}
	state_close(&st);
	if (ret)
		goto out;
	if (cli->json)
		cli_print_json(json_pack("{s:I, s:I, s:I, s:I}", "rules", (json_int_t)want.count,
					 "added", (json_int_t)counts[0], "changed",
					 (json_int_t)counts[1], "removed", (json_int_t)counts[2]));
	else
		printf("restored %zu rules: %zu added, %zu changed, %zu removed\n", want.count,
		       counts[0], counts[1], counts[2]);
out:
	free(want.rules);
	free(have.rules);
	return ret;
}

