// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * sluice shed set|show: the load shedding settings the controller follows
 * (user/shedding.h says how), kept in the pinned shed_config map so that
 * they outlive any controller; and the level it has set now.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>

#include "cli.h"
#include "controller.h"
#include "shedding.h"
#include "state.h"

static int shed_set(const struct cli *cli, int argc, char **argv);
static int shed_show(const struct cli *cli, int argc, char **argv);

const struct command shed_commands[] = {
	{ "set", shed_set,
	  "[--on|--off] [--enter PCT] [--exit PCT] [--enter-dwell DURATION] [--exit-dwell DURATION] "
	  "[--capacity RATE|none] [--levels N] [--level N --share CLASS=PCT[,CLASS=PCT...]]",
	  "when to shed and how much: pressure (CPU busy %, the busiest CPU's softirq %, "
	  "or offered packets against --capacity) at or over --enter for --enter-dwell raises the level, at or under --exit "
	  "for --exit-dwell lowers it; --level N --share says what level N drops of each class "
	  "(low, normal, high; critical is never shed); --off: never shed" },
	{ "show", shed_show, "", "the settings, and the level the controller has set now" },
	{ NULL },
};

int shed_config_read(int fd, struct sluice_shed_config *cfg)
{
	struct sluice_shed_config stored;
	__u32 zero = 0;

	if (bpf_map_lookup_elem(fd, &zero, &stored))
		return -1;
	shed_config_effective(&stored, cfg);
	return 0;
}

/* "low=100,normal=25": the shares of one level, the classes not named keep theirs. */
static int parse_shares(const char *text, __u8 shares[SLUICE_CLASSES], char *err, size_t err_len)
{
	char copy[128], *save = NULL, *item;
	__u64 pct;
	__u8 class;

	if (strlen(text) >= sizeof(copy) || !*text) {
		snprintf(err, err_len, "invalid --share '%s': expected CLASS=PCT[,CLASS=PCT...]", text);
		return -1;
	}
	strcpy(copy, text);
	for (item = strtok_r(copy, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(item, '=');

		if (!eq) {
			snprintf(err, err_len, "invalid --share '%s': expected CLASS=PCT", item);
			return -1;
		}
		*eq = '\0';
		if (parse_class("--share", item, &class, err, err_len) ||
		    parse_count("--share", eq + 1, 0, 100, &pct, err, err_len))
			return -1;
		if (class == SLUICE_CLASS_CRITICAL && pct) {
			snprintf(err, err_len, "invalid --share: critical traffic is never shed");
			return -1;
		}
		shares[class] = (__u8)pct;
	}
	return 0;
}

enum shed_option { OPT_ON = 1, OPT_OFF, OPT_ENTER, OPT_EXIT, OPT_ENTER_DWELL, OPT_EXIT_DWELL, OPT_CAPACITY,
		   OPT_LEVELS, OPT_LEVEL, OPT_SHARE, OPT_COUNT };

static int shed_set(const struct cli *cli, int argc, char **argv)
{
	static const struct option options[] = {
		{ "on", no_argument, NULL, OPT_ON },
		{ "off", no_argument, NULL, OPT_OFF },
		{ "enter", required_argument, NULL, OPT_ENTER },
		{ "exit", required_argument, NULL, OPT_EXIT },
		{ "enter-dwell", required_argument, NULL, OPT_ENTER_DWELL },
		{ "exit-dwell", required_argument, NULL, OPT_EXIT_DWELL },
		{ "capacity", required_argument, NULL, OPT_CAPACITY },
		{ "levels", required_argument, NULL, OPT_LEVELS },
		{ "level", required_argument, NULL, OPT_LEVEL },
		{ "share", required_argument, NULL, OPT_SHARE },
		{},
	};
	static const char *const names[OPT_COUNT] = {
		[OPT_ON] = "--on", [OPT_OFF] = "--off", [OPT_ENTER] = "--enter", [OPT_EXIT] = "--exit",
		[OPT_ENTER_DWELL] = "--enter-dwell", [OPT_EXIT_DWELL] = "--exit-dwell",
		[OPT_CAPACITY] = "--capacity", [OPT_LEVELS] = "--levels", [OPT_LEVEL] = "--level",
		[OPT_SHARE] = "--share",
	};
	const char *arg[OPT_COUNT] = {};
	struct sluice_shed_config cfg;
	char err[SLUICE_ERR_LEN];
	struct state st;
	__u64 value, level = 0;
	__u32 zero = 0;
	int opt, ret = 0;

	while ((opt = cli_getopt(cli, "shed set", argc, argv, "", options)) != -1) {
		if (opt == -2 || cli_option_once(cli, &arg[opt], optarg ? optarg : "", names[opt]))
			return 1;
	}
	if (optind != argc)
		return cli_fail(cli, "shed set takes only options");
	if (arg[OPT_ON] && arg[OPT_OFF])
		return cli_fail(cli, "--on and --off contradict each other");
	if (!!arg[OPT_LEVEL] != !!arg[OPT_SHARE])
		return cli_fail(cli, "--level and --share go together: --level N --share CLASS=PCT");
	for (opt = 1; opt < OPT_COUNT && !arg[opt]; opt++)
		;
	if (opt == OPT_COUNT)
		return cli_fail(cli, "shed set needs something to set (see 'sluice help shed')");

	if (state_create(&st, cli->pin_root, cli->max_sources, err, sizeof(err)))
		return cli_fail(cli, "failed to set shedding: %s", err);
	if (shed_config_read(st.shed_config, &cfg)) {
		ret = cli_fail(cli, "cannot read the shed settings: %s", state_strerror(errno));
		goto out;
	}
#define PARSE(check) do { if (check) { ret = cli_fail(cli, "%s", err); goto out; } } while (0)
	if (arg[OPT_ON] || arg[OPT_OFF])
		cfg.off = arg[OPT_OFF] != NULL;
	if (arg[OPT_ENTER]) {
		PARSE(parse_percent("--enter", arg[OPT_ENTER], 1, 1000, &value, err, sizeof(err)));
		cfg.enter_pct = (__u32)value;
	}
	if (arg[OPT_EXIT]) {
		PARSE(parse_percent("--exit", arg[OPT_EXIT], 1, 1000, &value, err, sizeof(err)));
		cfg.exit_pct = (__u32)value;
	}
	if (arg[OPT_ENTER_DWELL]) {
		PARSE(parse_duration_ms("--enter-dwell", arg[OPT_ENTER_DWELL], 0, 3600000, &value,
					err, sizeof(err)));
		cfg.enter_dwell_ms = (__u32)value;
	}
	if (arg[OPT_EXIT_DWELL]) {
		PARSE(parse_duration_ms("--exit-dwell", arg[OPT_EXIT_DWELL], 0, 3600000, &value,
					err, sizeof(err)));
		cfg.exit_dwell_ms = (__u32)value;
	}
	if (arg[OPT_CAPACITY] && strcmp(arg[OPT_CAPACITY], "none") == 0)
		cfg.capacity_pps = 0;
	else if (arg[OPT_CAPACITY])
		PARSE(parse_rate("--capacity", arg[OPT_CAPACITY], &cfg.capacity_pps, err,
				 sizeof(err)));
	if (arg[OPT_LEVELS]) {
		PARSE(parse_count("--levels", arg[OPT_LEVELS], 1, SLUICE_MAX_SHED_LEVELS, &value,
				  err, sizeof(err)));
		cfg.levels = (__u8)value;
	}
	if (arg[OPT_LEVEL]) {
		PARSE(parse_count("--level", arg[OPT_LEVEL], 1, cfg.levels, &level, err,
				  sizeof(err)));
		PARSE(parse_shares(arg[OPT_SHARE], cfg.share_pct[level - 1], err, sizeof(err)));
	}
	PARSE(shed_config_check(&cfg, err, sizeof(err)));
#undef PARSE
	if (bpf_map_update_elem(st.shed_config, &zero, &cfg, BPF_ANY)) {
		ret = cli_fail(cli, "cannot write the shed settings: %s", state_strerror(errno));
		goto out;
	}
out:
	state_close(&st);
	if (ret)
		return ret;
	if (cli->json)
		return cli_print_json(shed_config_json(&cfg));
	shed_config_print(&cfg);
	return 0;
}

json_t *shed_config_json(const struct sluice_shed_config *cfg)
{
	json_t *levels = json_array();

	for (unsigned int l = 0; l < cfg->levels; l++) {
		json_t *shares = json_object();

		for (unsigned int c = 0; c < SLUICE_CLASSES; c++)
			json_object_set_new(shares, class_name(c), json_integer(cfg->share_pct[l][c]));
		json_array_append_new(levels, shares);
	}
	return json_pack("{s:b, s:i, s:i, s:i, s:i, s:I, s:o}", "on", !cfg->off, "enter_pct", cfg->enter_pct, "exit_pct",
			 cfg->exit_pct, "enter_dwell_ms", cfg->enter_dwell_ms, "exit_dwell_ms",
			 cfg->exit_dwell_ms, "capacity_pps", (json_int_t)cfg->capacity_pps,
			 "levels", levels);
}

void shed_config_print(const struct sluice_shed_config *cfg)
{
	char capacity[32] = "none (CPU only)";

	if (cfg->capacity_pps)
		format_rate(cfg->capacity_pps, capacity, sizeof(capacity));
	printf("shed: %senter at %u%% for %ums, exit at %u%% for %ums, capacity %s\n",
	       cfg->off ? "OFF (never sheds); " : "", cfg->enter_pct, cfg->enter_dwell_ms, cfg->exit_pct, cfg->exit_dwell_ms, capacity);
	for (unsigned int l = 0; l < cfg->levels; l++)
		printf("  level %u drops: low %u%%, normal %u%%, high %u%%, critical 0%%\n", l + 1,
		       cfg->share_pct[l][SLUICE_CLASS_LOW], cfg->share_pct[l][SLUICE_CLASS_NORMAL],
		       cfg->share_pct[l][SLUICE_CLASS_HIGH]);
}

json_t *shed_level_json(int shed_fd, bool in_charge)
{
	struct sluice_shed now = {};
	__u32 zero = 0;

	if (bpf_map_lookup_elem(shed_fd, &zero, &now))
		return NULL;
	/* Without a live controller the data path ignores the level: say what holds. */
	return json_pack("{s:i, s:i}", "level", in_charge ? now.level : 0, "set_by_controller",
			 now.level);
}

static int shed_show(const struct cli *cli, int argc, char **argv)
{
	struct sluice_shed_config cfg;
	char err[SLUICE_ERR_LEN];
	json_t *level = NULL;
	struct state st;
	bool in_charge;

	(void)argv;
	if (argc > 1)
		return cli_fail(cli, "shed show takes no arguments");
	if (state_open(&st, cli->pin_root, STATE_READ, err, sizeof(err)))
		return cli_fail(cli, "%s", err);
	in_charge = controller_running(st.controller);
	if (shed_config_read(st.shed_config, &cfg) == 0)
		level = shed_level_json(st.shed, in_charge);
	state_close(&st);
	if (!level)
		return cli_fail(cli, "cannot read the shed settings: %s", state_strerror(errno));
	if (cli->json) {
		json_t *doc = shed_config_json(&cfg);

		json_object_set_new(doc, "now", level);
		return cli_print_json(doc);
	}
	shed_config_print(&cfg);
	printf("now: level %lld%s\n", json_integer_value(json_object_get(level, "level")),
	       in_charge ? "" : " (no controller runs: nothing is shed)");
	json_decref(level);
	return 0;
}
