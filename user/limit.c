// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * sluice limit set|del|list: per-source limits. The default limit is the
 * prefix ::/0 of the limits trie; a longer prefix overrides it for the
 * sources inside, so the data path finds either with one lookup.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>
#include <bpf/bpf.h>

#include "cli.h"
#include "parse.h"
#include "rules.h"
#include "state.h"
#include "token_bucket.h"

static int limit_set(const struct cli *cli, int argc, char **argv);
static int limit_del(const struct cli *cli, int argc, char **argv);
static int limit_list(const struct cli *cli, int argc, char **argv);

const struct command limit_commands[] = {
	{ "set", limit_set, "default|PREFIX --rate RATE|unlimited [--burst N]",
	  "limit each source (in PREFIX) to RATE packets/s (500, 10kpps, 2Mpps) with a burst "
	  "of N packets (default: one second of RATE)" },
	{ "del", limit_del, "default|PREFIX", "remove a limit" },
	{ "list", limit_list, "", "show the default limit and the per-prefix overrides" },
	{ NULL },
};

/* Says why sluice_limit_init() refused a limit, naming the argument. */
static void limit_error(enum sluice_limit_error error, const char *rate, const char *burst,
			char *err, size_t err_len)
{
	switch (error) {
	case SLUICE_LIMIT_ZERO_RATE:
		snprintf(err, err_len, "invalid --rate '%s': must be above zero", rate);
		break;
	case SLUICE_LIMIT_RATE_TOO_HIGH:
		snprintf(err, err_len, "invalid --rate '%s': at most %llupps", rate,
			 SLUICE_MAX_RATE);
		break;
	case SLUICE_LIMIT_ZERO_BURST:
		snprintf(err, err_len, "invalid --burst '%s': must be at least 1", burst);
		break;
	case SLUICE_LIMIT_BURST_TOO_HIGH:
		snprintf(err, err_len, "invalid --burst '%s': at most %llu packets", burst,
			 SLUICE_MAX_BURST);
		break;
	case SLUICE_LIMIT_TOO_DEEP:
		snprintf(err, err_len,
			 "invalid --burst '%s': at --rate %s it would take over 50 days to refill",
			 burst, rate);
		break;
	default:
		snprintf(err, err_len, "invalid limit");
	}
}

int limit_parse(int argc, char **argv, struct sluice_prefix_key *key, struct sluice_limit *limit,
		char *err, size_t err_len)
{
	static const struct option options[] = {
		{ "rate", required_argument, NULL, 'r' },
		{ "burst", required_argument, NULL, 'b' },
		{},
	};
	const char *rate_arg = NULL, *burst_arg = NULL;
	enum sluice_limit_error error;
	struct sluice_limit parsed = {};
	__u64 rate = 0, burst;
	int opt;

	optind = 0;	/* a fresh scan: restore parses many lines */
	opterr = 0;
	while ((opt = getopt_long(argc, argv, ":r:b:", options, NULL)) != -1) {
		const char **slot = opt == 'r' ? &rate_arg : &burst_arg;

		if (opt == '?' || opt == ':') {
			snprintf(err, err_len, "limit set: %s option '%s'",
				 opt == '?' ? "invalid" : "a value is missing after the",
				 argv[optind - 1]);
			return -1;
		}
		if (*slot) {
			snprintf(err, err_len, "option '%s' given twice",
				 opt == 'r' ? "--rate" : "--burst");
			return -1;
		}
		*slot = optarg;
	}
	if (optind + 1 != argc) {
		snprintf(err, err_len, "limit set takes one prefix: limit set default|PREFIX "
				       "--rate RATE [--burst N]");
		return -1;
	}
	if (parse_prefix("prefix", argv[optind], key, err, err_len))
		return -1;
	if (!rate_arg) {
		snprintf(err, err_len, "limit set needs --rate RATE (or --rate unlimited)");
		return -1;
	}
	if (strcmp(rate_arg, "unlimited") == 0) {
		if (burst_arg) {
			snprintf(err, err_len, "--burst does not apply to --rate unlimited");
			return -1;
		}
		parsed.flags = SLUICE_LIMIT_UNLIMITED;
		*limit = parsed;
		return 0;
	}
	if (parse_rate("--rate", rate_arg, &rate, err, err_len))
		return -1;
	burst = rate;
	if (burst_arg && parse_count("--burst", burst_arg, 0, UINT64_MAX, &burst, err, err_len))
		return -1;
	error = sluice_limit_init(&parsed, rate, burst);
	if (error) {
		limit_error(error, rate_arg, burst_arg ? burst_arg : rate_arg, err, err_len);
		return -1;
	}
	*limit = parsed;
	return 0;
}

static int limit_set(const struct cli *cli, int argc, char **argv)
{
	char err[SLUICE_ERR_LEN], prefix[SLUICE_PREFIX_STR_LEN];
	struct sluice_prefix_key key;
	struct sluice_limit limit;
	json_t *doc;
	struct state st;
	int ret;

	if (limit_parse(argc, argv, &key, &limit, err, sizeof(err)))
		return cli_fail(cli, "%s", err);

	if (state_create(&st, cli->pin_root, cli->max_sources, err, sizeof(err)))
		return cli_fail(cli, "failed to set the limit: %s", err);
	/* One element update: the data path sees the old limit or the new, never a mix. */
	ret = bpf_map_update_elem(st.limits, &key, &limit, BPF_ANY);
	if (ret)
		ret = cli_fail(cli, "failed to set the limit: %s", state_strerror(errno));
	state_close(&st);
	if (ret)
		return ret;

	format_prefix(&key, prefix, sizeof(prefix));
	doc = limit_json(prefix, &limit);
	if (cli->json)
		return cli_print_json(doc);
	printf("limit %s: %s\n", prefix, limit_describe(doc));
	json_decref(doc);
	return 0;
}

static int limit_del(const struct cli *cli, int argc, char **argv)
{
	char err[SLUICE_ERR_LEN], prefix[SLUICE_PREFIX_STR_LEN];
	struct sluice_prefix_key key;
	struct state st;
	int ret = 0;

	if (argc != 2 || argv[1][0] == '-')
		return cli_fail(cli, "limit del takes one prefix: sluice limit del default|PREFIX");
	if (parse_prefix("prefix", argv[1], &key, err, sizeof(err)))
		return cli_fail(cli, "%s", err);
	format_prefix(&key, prefix, sizeof(prefix));
	if (state_open(&st, cli->pin_root, STATE_CHANGE, err, sizeof(err)))
		return cli_fail(cli, "failed to delete the limit: %s", err);
	if (bpf_map_delete_elem(st.limits, &key)) {
		if (errno == ENOENT)
			ret = cli_fail(cli, "no limit is set for %s", prefix);
		else
			ret = cli_fail(cli, "failed to delete the limit for %s: %s", prefix,
				       state_strerror(errno));
	}
	state_close(&st);
	if (ret)
		return ret;
	if (cli->json)
		return cli_print_json(json_pack("{s:s, s:b}", "prefix", prefix, "deleted", 1));
	printf("limit %s: deleted\n", prefix);
	return 0;
}

static int limit_list(const struct cli *cli, int argc, char **argv)
{
	char err[SLUICE_ERR_LEN];
	json_t *limits, *limit;
	struct state st;
	size_t i;

	(void)argv;
	if (argc > 1)
		return cli_fail(cli, "limit list takes no arguments");
	if (state_open(&st, cli->pin_root, STATE_READ, err, sizeof(err)))
		return cli_fail(cli, "%s", err);
	limits = limits_collect(st.limits);
	state_close(&st);
	if (!limits)
		return cli_fail(cli, "cannot read the limits: %s", state_strerror(errno));
	if (cli->json)
		return cli_print_json(json_pack("{s:o}", "limits", limits));

	if (json_array_size(limits) == 0)
		printf("no limits: every source passes unlimited\n");
	else
		printf("%-44s %s\n", "PREFIX", "LIMIT PER SOURCE");
	json_array_foreach(limits, i, limit)
		printf("%-44s %s\n", json_string_value(json_object_get(limit, "prefix")),
		       limit_describe(limit));
	json_decref(limits);
	return 0;
}
