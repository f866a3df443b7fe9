// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * sluice limit set|del|list: the rules. A rule matches a source prefix
 * (or `default`), optionally a protocol, destination ports and TCP SYNs,
 * and limits it per source or shared (--per rule); its level follows from
 * that (include/sluice.h). Setting a rule that matches what another does
 * replaces it in place, so its buckets and counters carry on.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "parse.h"
#include "rules.h"
#include "state.h"

static int limit_set(const struct cli *cli, int argc, char **argv);
static int limit_del(const struct cli *cli, int argc, char **argv);
static int limit_list(const struct cli *cli, int argc, char **argv);

const struct command limit_commands[] = {
	{ "set", limit_set,
	  "default|PREFIX [--per source|rule] [--proto tcp|udp|icmp] [--port P[-Q]] [--syn] "
	  "--rate RATE|unlimited [--burst N] [--algo ALGO] [--ipv4-group N] [--ipv6-group N] "
	  "[--class CLASS] [--dry-run] [--scope local|fleet]",
	  "limit what matches: each source its own bucket (IPv6 per /64), or one shared "
	  "(--per rule); RATE in packets/s (500, 10kpps, 2Mpps) or bits or bytes/s (100mbit, "
	  "12.5MB), the burst in packets or bytes (default: one second of RATE); ALGO "
	  "token-bucket (default), gcra, sliding-window or fixed-window; CLASS critical, high, "
	  "normal or low: who is shed first under load (a packet no classed rule matches is "
	  "normal); --scope fleet: one budget (per rule, or per source) for every host whose controller "
	  "shares a Redis server (sluice run --redis)" },
	{ "del", limit_del, "default|PREFIX [--per source|rule] [--proto P] [--port P[-Q]] [--syn]",
	  "remove the rule that matches this" },
	{ "list", limit_list, "", "show every rule with what it passed, dropped and would drop" },
	{ NULL },
};

static int limit_set(const struct cli *cli, int argc, char **argv)
{
	char err[SLUICE_ERR_LEN], text[256];
	struct sluice_rule rule;
	struct rule_entry entry = {};
	struct rule_maps maps;
	struct state st;
	bool replaced;
	__u32 id;
	int ret = 0;

	if (rule_parse(argc, argv, true, &rule, err, sizeof(err)))
		return cli_fail(cli, "%s", err);
	if (state_create(&st, cli->pin_root, cli->max_sources, err, sizeof(err)))
		return cli_fail(cli, "failed to set the limit: %s", err);
	state_rule_maps(&st, &maps);
	if (rule_set(&maps, &rule, &id, &replaced, err, sizeof(err)))
		ret = cli_fail(cli, "failed to set the limit: %s", err);
	state_close(&st);
	if (ret)
		return ret;

	entry.id = id;
	entry.rule = rule;
	if (cli->json) {
		json_t *doc = rule_json(&entry);

		json_object_set_new(doc, "replaced", json_boolean(replaced));
		return cli_print_json(doc);
	}
	rule_match_text(&rule, text, sizeof(text));
	printf("limit %s: ", text);
	rule_limit_text(&rule, text, sizeof(text));
	printf("%s%s\n", text, replaced ? " (replaced)" : "");
	return 0;
}

static int limit_del(const struct cli *cli, int argc, char **argv)
{
	char err[SLUICE_ERR_LEN], text[256];
	struct sluice_rule match;
	struct rule_maps maps;
	struct state st;
	int ret = 0;

	if (rule_parse(argc, argv, false, &match, err, sizeof(err)))
		return cli_fail(cli, "%s", err);
	if (state_open(&st, cli->pin_root, STATE_CHANGE, err, sizeof(err)))
		return cli_fail(cli, "failed to delete the limit: %s", err);
	state_rule_maps(&st, &maps);
	if (rule_del(&maps, &match, err, sizeof(err)))
		ret = cli_fail(cli, "%s", err);
	state_close(&st);
	if (ret)
		return ret;
	rule_match_text(&match, text, sizeof(text));
	if (cli->json)
		return cli_print_json(json_pack("{s:s, s:b}", "match", text, "deleted", 1));
	printf("limit %s: deleted\n", text);
	return 0;
}

static int limit_list(const struct cli *cli, int argc, char **argv)
{
	char err[SLUICE_ERR_LEN], match[256], limit[128];
	struct rule_entry *entries = NULL;
	struct rule_maps maps;
	size_t count = 0;
	struct state st;
	json_t *list;
	int ret;

	(void)argv;
	if (argc > 1)
		return cli_fail(cli, "limit list takes no arguments");
	if (state_open(&st, cli->pin_root, STATE_SNAPSHOT, err, sizeof(err)))
		return cli_fail(cli, "%s", err);
	state_rule_maps(&st, &maps);
	ret = rules_read(&maps, &entries, &count);
	state_close(&st);
	if (ret)
		return cli_fail(cli, "cannot read the limits: %s", state_strerror(errno));
	if (cli->json) {
		list = json_array();
		for (size_t i = 0; i < count; i++)
			json_array_append_new(list, rule_json(&entries[i]));
		free(entries);
		return cli_print_json(json_pack("{s:o}", "limits", list));
	}
	if (count == 0)
		printf("no limits: every source passes unlimited\n");
	else
		printf("%-6s %-7s %-36s %-38s %12s %12s %12s\n", "ID", "LEVEL", "MATCH", "LIMIT",
		       "PASSED", "DROPPED", "WOULD-DROP");
	for (size_t i = 0; i < count; i++) {
		const struct rule_entry *e = &entries[i];

		rule_match_text(&e->rule, match, sizeof(match));
		rule_limit_text(&e->rule, limit, sizeof(limit));
		printf("%-6u %-7s %-36s %-38s %12llu %12llu %12llu\n", e->id,
		       rule_level_name(e->rule.level), match, limit,
		       (unsigned long long)e->counters.passed.packets,
		       (unsigned long long)e->counters.dropped.packets,
		       (unsigned long long)e->counters.would_drop.packets);
	}
	free(entries);
	return 0;
}
