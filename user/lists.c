// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * sluice allow|deny add|del|list: prefixes whose sources are never limited,
 * or always dropped. The deny list is checked first, so deny wins.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <bpf/bpf.h>

#include "cli.h"
#include "parse.h"
#include "rules.h"
#include "state.h"

enum list_kind { ALLOW, DENY };

static const char *const list_names[] = { [ALLOW] = "allow", [DENY] = "deny" };

static int list_fd(const struct state *st, enum list_kind kind)
{
	return kind == ALLOW ? st->allow_list : st->deny_list;
}

static int list_change(const struct cli *cli, enum list_kind kind, bool add, int argc,
		       char **argv)
{
	const char *name = list_names[kind], *verb = add ? "add" : "del";
	char err[SLUICE_ERR_LEN], prefix[SLUICE_PREFIX_STR_LEN];
	struct sluice_list_entry entry = {};
	struct sluice_prefix_key key;
	bool changed = true;
	struct state st;
	int ret = 0;

	if (argc != 2 || argv[1][0] == '-')
		return cli_fail(cli, "%s %s takes one prefix: sluice %s %s PREFIX", name, verb,
				name, verb);
	if (parse_prefix("prefix", argv[1], &key, err, sizeof(err)))
		return cli_fail(cli, "%s", err);
	format_prefix(&key, prefix, sizeof(prefix));
	if (add ? state_create(&st, cli->pin_root, cli->max_sources, err, sizeof(err))
		: state_open(&st, cli->pin_root, STATE_CHANGE, err, sizeof(err)))
		return cli_fail(cli, "failed to change the %s list: %s", name, err);

	if (add) {
		/* Adding twice keeps the first entry and its hit count. */
		if (state_mark_list_used(&st, list_fd(&st, kind))) {
			ret = cli_fail(cli, "failed to add %s to the %s list: %s", prefix, name,
				       state_strerror(errno));
		} else if (bpf_map_update_elem(list_fd(&st, kind), &key, &entry, BPF_NOEXIST)) {
			if (errno == EEXIST)
				changed = false;
			else
				ret = cli_fail(cli, "failed to add %s to the %s list: %s", prefix,
					       name, state_strerror(errno));
		}
	} else if (bpf_map_delete_elem(list_fd(&st, kind), &key)) {
		if (errno == ENOENT)
			ret = cli_fail(cli, "%s is not on the %s list", prefix, name);
		else
			ret = cli_fail(cli, "failed to delete %s from the %s list: %s", prefix,
				       name, state_strerror(errno));
	}
	state_close(&st);
	if (ret)
		return ret;
	if (cli->json)
		return cli_print_json(json_pack("{s:s, s:s, s:s, s:b}", "list", name, "prefix",
						prefix, "action", add ? "added" : "deleted",
						"changed", changed));
	printf("%s %s: %s%s\n", name, prefix, add ? "added" : "deleted",
	       changed ? "" : " (it was already there)");
	return 0;
}

static int list_show(const struct cli *cli, enum list_kind kind, int argc, char **argv)
{
	char err[SLUICE_ERR_LEN];
	json_t *list, *entry;
	struct state st;
	size_t i;

	(void)argv;
	if (argc > 1)
		return cli_fail(cli, "%s list takes no arguments", list_names[kind]);
	if (state_open(&st, cli->pin_root, STATE_READ, err, sizeof(err)))
		return cli_fail(cli, "%s", err);
	list = list_collect(list_fd(&st, kind));
	state_close(&st);
	if (!list)
		return cli_fail(cli, "cannot read the %s list: %s", list_names[kind],
				state_strerror(errno));
	if (cli->json)
		return cli_print_json(json_pack("{s:s, s:o}", "list", list_names[kind],
						"prefixes", list));
	if (json_array_size(list) == 0)
		printf("the %s list is empty\n", list_names[kind]);
	else
		printf("%-44s %s\n", "PREFIX", "HITS");
	json_array_foreach(list, i, entry)
		printf("%-44s %lld\n", json_string_value(json_object_get(entry, "prefix")),
		       json_integer_value(json_object_get(entry, "hits")));
	json_decref(list);
	return 0;
}

static int allow_add(const struct cli *cli, int argc, char **argv)
{
	return list_change(cli, ALLOW, true, argc, argv);
}

static int allow_del(const struct cli *cli, int argc, char **argv)
{
	return list_change(cli, ALLOW, false, argc, argv);
}

static int allow_list(const struct cli *cli, int argc, char **argv)
{
	return list_show(cli, ALLOW, argc, argv);
}

static int deny_add(const struct cli *cli, int argc, char **argv)
{
	return list_change(cli, DENY, true, argc, argv);
}

static int deny_del(const struct cli *cli, int argc, char **argv)
{
	return list_change(cli, DENY, false, argc, argv);
}

static int deny_list(const struct cli *cli, int argc, char **argv)
{
	return list_show(cli, DENY, argc, argv);
}

const struct command allow_commands[] = {
	{ "add", allow_add, "PREFIX", "never limit sources in PREFIX (the deny list still wins)" },
	{ "del", allow_del, "PREFIX", "remove PREFIX from the allow list" },
	{ "list", allow_list, "", "show the allow list with hits per prefix" },
	{ NULL },
};

const struct command deny_commands[] = {
	{ "add", deny_add, "PREFIX", "drop every packet from sources in PREFIX" },
	{ "del", deny_del, "PREFIX", "remove PREFIX from the deny list" },
	{ "list", deny_list, "", "show the deny list with hits per prefix" },
	{ NULL },
};
