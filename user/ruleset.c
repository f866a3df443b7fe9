// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * sluice save and sluice restore: the whole rule set (limits, allow list,
 * deny list) as the commands that make it, and back.
 *
 * restore makes the rule set what the file says, all or nothing: every line
 * is parsed and checked before any map is touched (the first bad line is
 * reported by number), and if the kernel refuses a change half-way, the
 * changes already made are undone. The buckets of rules that stay are never
 * touched, so traffic within its limits keeps flowing while rules are
 * replaced; a rule whose algorithm family or window unit changes moves to a
 * new id with fresh buckets (the old ones would mean nothing under it).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>

#include "array.h"
#include "cli.h"
#include "parse.h"
#include "rules.h"
#include "state.h"

#define RULESET_MAX_LINE 4096
#define RULESET_MAX_WORDS 32
#define RULESET_MAX_BYTES (64u << 20)

enum item_kind { ITEM_LIMIT, ITEM_ALLOW, ITEM_DENY, ITEM_KINDS };

static const char *const item_commands[ITEM_KINDS] = {
	[ITEM_LIMIT] = "limit set", [ITEM_ALLOW] = "allow add", [ITEM_DENY] = "deny add",
};

/* One thing a rule set holds: a rule, or a prefix on a list. */
struct item {
	enum item_kind kind;
	struct sluice_prefix_key key;	/* lists */
	struct sluice_rule rule;	/* limits */
	__u32 id;			/* a rule read from the maps */
	unsigned int line;		/* where restore read it */
};

struct ruleset {
	struct item *items;
	size_t count, capacity;
};

static int ruleset_add(struct ruleset *set, const struct item *item)
{
	struct item *grown = array_reserve(set->items, &set->capacity, set->count,
					   sizeof(*set->items));

	if (!grown)
		return -1;
	set->items = grown;
	set->items[set->count++] = *item;
	return 0;
}

/* By kind, then by what a rule matches or a list's prefix: equal means the same rule. */
static int by_identity(const void *a, const void *b)
{
	const struct item *x = a, *y = b;

	if (x->kind != y->kind)
		return x->kind < y->kind ? -1 : 1;
	if (x->kind == ITEM_LIMIT)
		return rule_compare(&x->rule, &y->rule);
	return memcmp(&x->key, &y->key, sizeof(x->key));
}

/* The rule set in force, in the order save prints it. */
static int ruleset_read(const struct state *st, struct ruleset *set)
{
	const int lists[ITEM_KINDS] = { [ITEM_ALLOW] = st->allow_list, [ITEM_DENY] = st->deny_list };
	struct rule_entry *entries = NULL;
	struct rule_maps maps;
	size_t count = 0;

	state_rule_maps(st, &maps);
	if (rules_read(&maps, &entries, &count))
		return -1;
	for (size_t i = 0; i < count; i++) {
		struct item item = { .kind = ITEM_LIMIT, .rule = entries[i].rule,
				     .id = entries[i].id };

		if (ruleset_add(set, &item)) {
			free(entries);
			return -1;
		}
	}
	free(entries);
	for (int kind = ITEM_ALLOW; kind < ITEM_KINDS; kind++) {
		struct sluice_prefix_key *keys = NULL;

		if (prefix_keys(lists[kind], &keys, &count))
			return -1;
		for (size_t i = 0; i < count; i++) {
			struct item item = { .kind = kind, .key = keys[i] };

			if (ruleset_add(set, &item)) {
				free(keys);
				return -1;
			}
		}
		free(keys);
	}
	return 0;
}

/* The command that makes an item, as save prints it and restore reads it. */
static void item_command(const struct item *item, char *buf, size_t len)
{
	char prefix[SLUICE_PREFIX_STR_LEN];

	if (item->kind == ITEM_LIMIT) {
		rule_command(&item->rule, buf, len);
		return;
	}
	format_prefix(&item->key, prefix, sizeof(prefix));
	snprintf(buf, len, "%s %s", item_commands[item->kind], prefix);
}

int cmd_save(const struct cli *cli, int argc, char **argv)
{
	struct ruleset set = {};
	char err[SLUICE_ERR_LEN], line[512];
	json_t *commands;
	struct state st;
	int ret;

	(void)argv;
	if (argc > 1)
		return cli_fail(cli, "save takes no arguments");
	/* A shared lock: no restore half-way through what is read. */
	if (state_open(&st, cli->pin_root, STATE_SNAPSHOT, err, sizeof(err)))
		return cli_fail(cli, "%s", err);
	ret = ruleset_read(&st, &set);
	state_close(&st);
	if (ret) {
		free(set.items);
		return cli_fail(cli, "cannot read the rules: %s", state_strerror(errno));
	}
	commands = json_array();
	for (size_t i = 0; i < set.count; i++) {
		item_command(&set.items[i], line, sizeof(line));
		json_array_append_new(commands, json_string(line));
	}
	free(set.items);
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

/* Parses one line of a rule set; 0 with no item for a blank or comment line. */
static int parse_line(char *text, struct item *item, bool *found, char *err, size_t err_len)
{
	char *words[RULESET_MAX_WORDS + 1];
	int count = split_words(text, words, RULESET_MAX_WORDS, err, err_len);

	*found = false;
	if (count <= 0)
		return count;
	words[count] = NULL;
	memset(item, 0, sizeof(*item));
	if (count >= 2 && strcmp(words[0], "limit") == 0 && strcmp(words[1], "set") == 0) {
		item->kind = ITEM_LIMIT;
		if (rule_parse(count - 1, words + 1, true, &item->rule, err, err_len))
			return -1;
	} else if (count >= 2 && strcmp(words[1], "add") == 0 &&
		   (strcmp(words[0], "allow") == 0 || strcmp(words[0], "deny") == 0)) {
		item->kind = words[0][0] == 'a' ? ITEM_ALLOW : ITEM_DENY;
		if (count != 3) {
			snprintf(err, err_len, "%s add takes one prefix", words[0]);
			return -1;
		}
		if (parse_prefix("prefix", words[2], &item->key, err, err_len))
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
		struct item item;
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
		if (parse_line(line, &item, &found, why, sizeof(why))) {
			snprintf(err, err_len, "%.256s:%u: %s", name, number, why);
			return -1;
		}
		item.line = number;
		if (found && ruleset_add(set, &item)) {
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

/* A rule or prefix given twice is an error at its second line. */
static int ruleset_check_duplicates(struct ruleset *set, const char *name, char *err,
				    size_t err_len)
{
	const struct item *first = NULL, *second = NULL;
	char command[512];

	qsort(set->items, set->count, sizeof(*set->items), by_identity);
	for (size_t i = 1; i < set->count; i++) {
		const struct item *a = &set->items[i - 1], *b = &set->items[i];
		const struct item *later = a->line > b->line ? a : b;

		if (by_identity(a, b) == 0 && (!second || later->line < second->line)) {
			second = later;
			first = later == a ? b : a;
		}
	}
	if (!second)
		return 0;
	item_command(second, command, sizeof(command));
	snprintf(err, err_len, "%.256s:%u: '%.300s' matches what line %u already does", name,
		 second->line, command, first->line);
	return -1;
}

/* One change made by restore, and what undoes it. */
struct change {
	enum item_kind kind;
	bool removal;
	struct item item;	/* what was added or removed */
	bool had_old;		/* a rule changed in place: `old` was there */
	struct sluice_rule old;
	struct sluice_list_entry old_entry;
};

static const struct item *find_item(const struct ruleset *set, const struct item *like)
{
	return bsearch(like, set->items, set->count, sizeof(*set->items), by_identity);
}

static int list_fd_of(const struct state *st, enum item_kind kind)
{
	return kind == ITEM_ALLOW ? st->allow_list : st->deny_list;
}

/* Undoes changes in reverse, so the maps are as they were before restore began. */
static void undo(const struct state *st, const struct rule_maps *maps,
		 const struct change *changes, size_t count)
{
	char ignored[SLUICE_ERR_LEN];

	while (count--) {
		const struct change *c = &changes[count];
		const struct item *it = &c->item;

		if (it->kind != ITEM_LIMIT && c->removal)
			bpf_map_update_elem(list_fd_of(st, it->kind), &it->key, &c->old_entry, BPF_ANY);
		else if (it->kind != ITEM_LIMIT)
			bpf_map_delete_elem(list_fd_of(st, it->kind), &it->key);
		else if (c->removal && !rule_write(maps, it->id, &it->rule))
			rule_attach(maps, it->id, &it->rule, ignored, sizeof(ignored));
		else if (c->had_old)
			rule_write(maps, it->id, &c->old);
		else if (!c->removal && !rule_detach(maps, it->id, &it->rule))
			rule_clear(maps, it->id);
	}
}

/* Applies one change; 0, or -1 with errno. */
static int apply_change(const struct state *st, const struct rule_maps *maps, struct change *c,
			char *err, size_t err_len)
{
	struct item *it = &c->item;
	struct sluice_list_entry fresh = {};
	int fd;

	if (it->kind != ITEM_LIMIT) {
		fd = list_fd_of(st, it->kind);
		if (c->removal) {
			if (bpf_map_lookup_elem(fd, &it->key, &c->old_entry))
				return 0;	/* gone already */
			return bpf_map_delete_elem(fd, &it->key);
		}
		if (state_mark_list_used(st, fd))
			return -1;
		if (bpf_map_update_elem(fd, &it->key, &fresh, BPF_NOEXIST) && errno != EEXIST)
			return -1;
		return 0;
	}
	if (c->removal) {
		/* Detached before cleared: the data path never meets an id without its rule. */
		return rule_detach(maps, it->id, &it->rule) || rule_clear(maps, it->id) ? -1 : 0;
	}
	if (c->had_old)
		return rule_write(maps, it->id, &it->rule);
	if (rule_clear(maps, it->id) || rule_write(maps, it->id, &it->rule))
		return -1;
	return rule_attach(maps, it->id, &it->rule, err, err_len);
}

/*
 * Makes the maps hold exactly `want` (sorted). Stricter changes go first
 * (deny additions, then rules), looser ones last (allow additions, then
 * removals), which keeps what passes meanwhile close to the stricter of the
 * old and new sets; it is not exact (a new, longer prefix takes its sources
 * from a shorter one's rules as soon as its first rule is attached). Counts
 * what it did.
 */
static int ruleset_apply(const struct state *st, const struct ruleset *have,
			 struct ruleset *want, size_t counts[3], char *err, size_t err_len)
{
	static const struct {
		enum item_kind kind;
		bool removal;
	} order[] = {
		{ ITEM_DENY, false }, { ITEM_LIMIT, false }, { ITEM_ALLOW, false },
		{ ITEM_ALLOW, true },  { ITEM_DENY, true },  { ITEM_LIMIT, true },
	};
	struct change *changes = calloc(have->count + want->count + 1, sizeof(*changes));
	unsigned char *removed = calloc(SLUICE_MAX_RULES, 1);
	unsigned char *used = calloc(SLUICE_MAX_RULES, 1);
	unsigned char *swapped = calloc(SLUICE_MAX_RULES, 1);	/* replaced under a new id */
	size_t done = 0;
	struct rule_maps maps;
	__u32 next_id = 1;

	state_rule_maps(st, &maps);
	if (!changes || !removed || !used || !swapped) {
		snprintf(err, err_len, "%s", strerror(ENOMEM));
		goto fail_early;
	}
	/* The ids in use, so that new rules get free ones. */
	for (size_t i = 0; i < have->count; i++)
		if (have->items[i].kind == ITEM_LIMIT)
			used[have->items[i].id] = 1;

	for (size_t step = 0; step < sizeof(order) / sizeof(order[0]); step++) {
		const struct ruleset *from = order[step].removal ? have : want;

		for (size_t i = 0; i < from->count; i++) {
			const struct item *it = &from->items[i], *old = find_item(have, it);
			struct change *c = &changes[done];
			char command[512], why[SLUICE_ERR_LEN] = "";

			if (it->kind != order[step].kind)
				continue;
			memset(c, 0, sizeof(*c));
			c->item = *it;
			c->removal = order[step].removal;
			if (c->removal) {
				/* Gone from the file, or replaced under a new id. */
				if (find_item(want, it) &&
				    !(it->kind == ITEM_LIMIT && swapped[it->id]))
					continue;
			} else if (old && it->kind != ITEM_LIMIT) {
				continue;	/* kept as it is, hit count and all */
			} else if (old && sluice_limit_keeps_state(&old->rule.limit, &it->rule.limit)) {
				struct sluice_rule stored = it->rule;

				stored.flags |= SLUICE_RULE_IN_USE;
				if (!memcmp(&stored, &old->rule, sizeof(stored)))
					continue;
				c->had_old = true;
				c->old = old->rule;
				c->item.id = old->id;
			} else if (it->kind == ITEM_LIMIT) {
				/*
				 * New, or changed so that its buckets would mean nothing
				 * under the new limit: a new id, the old one removed with
				 * the other removals (both apply meanwhile, the stricter).
				 */
				while (next_id < SLUICE_MAX_RULES && used[next_id])
					next_id++;
				if (next_id == SLUICE_MAX_RULES) {
					snprintf(err, err_len, "no room for another rule");
					goto fail;
				}
				c->item.id = next_id;
				used[next_id] = 1;
				if (old)
					swapped[old->id] = 1;
			}
			if (apply_change(st, &maps, c, why, sizeof(why))) {
				item_command(it, command, sizeof(command));
				snprintf(err, err_len, "%s '%.300s' failed: %s; nothing was changed",
					 c->removal ? "removing" : "applying", command,
					 why[0] ? why : state_strerror(errno));
				goto fail;
			}
			if (c->removal && it->kind == ITEM_LIMIT)
				removed[it->id] = 1;
			counts[c->removal ? 2 : c->had_old ? 1 : 0]++;
			done++;
		}
	}
	/* Removed rules' per-source buckets go last, once, after nothing can fail. */
	if (rule_purge_buckets(&maps, removed))
		fprintf(stderr, "warning: the removed rules' buckets could not all be deleted: %s\n",
			strerror(errno));
	free(changes);
	free(removed);
	free(used);
	free(swapped);
	return 0;
fail:
	undo(st, &maps, changes, done);
fail_early:
	free(changes);
	free(removed);
	free(used);
	free(swapped);
	return -1;
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
		free(want.items);
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
		qsort(have.items, have.count, sizeof(*have.items), by_identity);
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
	free(want.items);
	free(have.items);
	return ret;
}

