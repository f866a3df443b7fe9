// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * sluice: the command line. Global options may stand anywhere:
 *   --pin-root DIR (or $SLUICE_PIN_ROOT), --json, --verbose, and
 *   --max-sources N, the size of the bucket table when a pin root is new.
 * Commands come from one table; the help text lives there once.
 */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/libbpf.h>

#include "cli.h"

static int cmd_help(const struct cli *cli, int argc, char **argv);
static int cmd_version(const struct cli *cli, int argc, char **argv);

const struct command sluice_commands[] = {
	{ "attach", cmd_attach, "IFACE [--mode auto|native|generic]",
	  "attach the limiter to an interface (native XDP where the driver has it)" },
	{ "detach", cmd_detach, "IFACE", "detach the limiter from an interface" },
	{ "status", cmd_status, "", "show attachments and the configuration in force" },
	{ "limit", NULL, "set|del|list ...",
	  "rate limit rules: per source, per prefix, per port or for the host", limit_commands },
	{ "allow", NULL, "add|del|list [PREFIX]", "sources that are never limited",
	  allow_commands },
	{ "deny", NULL, "add|del|list [PREFIX]", "sources whose packets are always dropped",
	  deny_commands },
	{ "stats", cmd_stats, "[--watch SECONDS [--count N]]",
	  "packets and bytes by outcome: what passed, what was dropped and why" },
	{ "top", cmd_top, "[-n N]", "the sources with the most drops" },
	{ "save", cmd_save, "", "print the whole rule set as the commands that make it" },
	{ "restore", cmd_restore, "FILE|-",
	  "make the rule set exactly what FILE says: all of it, or nothing and the first bad "
	  "line" },
	{ "events", cmd_events, "[--count N] [--timeout DURATION]",
	  "follow the drops the data path samples (at most 1000/s): source, rule, check" },
	{ "shed", NULL, "set|show ...", "load shedding by priority class under pressure",
	  shed_commands },
	{ "service", NULL, "add|del|list ...",
	  "local services protected by accept-queue backpressure", service_commands },
	{ "run", cmd_run, "[--interval DURATION] [--lease DURATION] [--metrics ADDR:PORT|none] "
	  "[--log-events]",
	  "run the controller in the foreground: rates, metrics, shedding, backpressure, "
	  "heartbeat (one per pin root)" },
	{ "help", cmd_help, "[COMMAND]", "show the commands, or one command in full" },
	{ "version", cmd_version, "", "show the version of sluice and libbpf" },
	{ NULL },
};

int cli_fail(const struct cli *cli, const char *fmt, ...)
{
	char message[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	if (cli->json) {
		cli_print_json(json_pack("{s:o}", "error", cli_json_text(message)));
	} else {
		fprintf(stderr, "Error: %s\n", message);
	}
	return 1;
}

json_t *cli_json_text(const char *text)
{
	json_t *string = json_string(text);
	char *escaped, *out;

	if (string)
		return string;
	escaped = malloc(strlen(text) * 4 + 1);
	if (!escaped)
		return NULL;
	out = escaped;
	for (const unsigned char *in = (const unsigned char *)text; *in; in++) {
		if (*in >= 0x20 && *in < 0x7f)
			*out++ = (char)*in;
		else
			out += sprintf(out, "\\x%02x", *in);
	}
	*out = '\0';
	string = json_string(escaped);
	free(escaped);
	return string;
}

int cli_print_json(json_t *doc)
{
	if (!doc) {
		fputs("{\"error\":\"cannot encode the output as JSON\"}\n", stdout);
		return 1;
	}
	json_dumpf(doc, stdout, JSON_COMPACT);
	fputc('\n', stdout);
	fflush(stdout);
	json_decref(doc);
	return 0;
}

const struct command *command_find(const struct command *table, const char *name,
				   bool *ambiguous)
{
	const struct command *found = NULL;
	size_t len = strlen(name);

	*ambiguous = false;
	for (const struct command *c = table; c->name; c++) {
		if (strcmp(c->name, name) == 0)
			return c;
		if (len && strncmp(c->name, name, len) == 0) {
			if (found)
				*ambiguous = true;
			found = c;
		}
	}
	return *ambiguous ? NULL : found;
}

int command_run(const struct cli *cli, const char *path, const struct command *table, int argc,
		char **argv)
{
	const struct command *c;
	char subpath[128];
	bool ambiguous;

	if (argc < 1)
		return cli_fail(cli, "%s needs a command (see 'sluice help%s')", path,
				strchr(path, ' ') ? strchr(path, ' ') : "");
	c = command_find(table, argv[0], &ambiguous);
	if (!c)
		return cli_fail(cli, "%s command '%s' in %s (see 'sluice help%s')",
				ambiguous ? "ambiguous" : "unknown", argv[0], path,
				strchr(path, ' ') ? strchr(path, ' ') : "");
	if (c->subcommands) {
		snprintf(subpath, sizeof(subpath), "%s %s", path, c->name);
		return command_run(cli, subpath, c->subcommands, argc - 1, argv + 1);
	}
	optind = 0;	/* a fresh getopt scan for each command */
	opterr = 0;	/* cli_getopt reports errors itself */
	return c->run(cli, argc, argv);
}

int cli_getopt(const struct cli *cli, const char *command, int argc, char **argv,
	       const char *shortopts, const struct option *longopts)
{
	char opts[64];
	int opt;

	/* A leading ':' makes getopt tell a missing value from an unknown option. */
	snprintf(opts, sizeof(opts), ":%s", shortopts);
	opt = getopt_long(argc, argv, opts, longopts, NULL);

	if (opt == '?') {
		cli_fail(cli, "%s: invalid option '%s' (see 'sluice help %s')", command,
			 argv[optind - 1], command);
		return -2;
	}
	if (opt == ':') {
		cli_fail(cli, "%s: option '%s' needs a value", command, argv[optind - 1]);
		return -2;
	}
	return opt;
}

int cli_option_once(const struct cli *cli, const char **slot, const char *value,
		    const char *option)
{
	if (*slot)
		return cli_fail(cli, "option '%s' given twice", option);
	*slot = value;
	return 0;
}

static json_t *command_json(const struct command *c)
{
	json_t *doc = json_pack("{s:s, s:s, s:s}", "name", c->name, "usage", c->usage, "help",
				c->help);

	if (c->subcommands) {
		json_t *subs = json_array();

		for (const struct command *s = c->subcommands; s->name; s++)
			json_array_append_new(subs, command_json(s));
		json_object_set_new(doc, "subcommands", subs);
	}
	return doc;
}

static void print_command(const char *prefix, const struct command *c)
{
	printf("  %s%s %s\n      %s\n", prefix, c->name, c->usage, c->help);
}

static int cmd_help(const struct cli *cli, int argc, char **argv)
{
	const struct command *c = NULL;
	bool ambiguous;

	if (argc > 2)
		return cli_fail(cli, "help takes at most one command");
	if (argc == 2) {
		c = command_find(sluice_commands, argv[1], &ambiguous);
		if (!c)
			return cli_fail(cli, "%s command '%s' (see 'sluice help')",
					ambiguous ? "ambiguous" : "unknown", argv[1]);
	}
	if (cli->json) {
		json_t *list = json_array();

		for (const struct command *t = c ? c : sluice_commands; t->name; t++) {
			json_array_append_new(list, command_json(t));
			if (c)
				break;
		}
		return cli_print_json(json_pack("{s:o}", "commands", list));
	}
	if (c) {
		char prefix[64];

		printf("sluice %s %s\n    %s\n", c->name, c->usage, c->help);
		snprintf(prefix, sizeof(prefix), "sluice %s ", c->name);
		if (c->subcommands) {
			printf("\n");
			for (const struct command *s = c->subcommands; s->name; s++)
				print_command(prefix, s);
		}
		return 0;
	}
	printf("Usage: sluice [--pin-root DIR] [--json] [--verbose] [--max-sources N] COMMAND [ARGS]\n\n"
	       "Sluice rate-limits traffic per source address with XDP, at the NIC.\n"
	       "State is pinned under the pin root (default %s, or $%s).\n"
	       "--max-sources sizes the table of tracked sources of a new pin root\n"
	       "(default %u; about 112 bytes each, and a table sized to the sources\n"
	       "actually seen is faster).\n\n"
	       "Commands (a unique prefix will do):\n",
	       SLUICE_DEFAULT_PIN_ROOT, SLUICE_PIN_ROOT_ENV, SLUICE_MAX_SOURCES);
	for (const struct command *t = sluice_commands; t->name; t++)
		print_command("", t);
	return 0;
}

static int cmd_version(const struct cli *cli, int argc, char **argv)
{
	char libbpf[32];

	(void)argv;
	if (argc > 1)
		return cli_fail(cli, "version takes no arguments");
	snprintf(libbpf, sizeof(libbpf), "%u.%u", libbpf_major_version(),
		 libbpf_minor_version());
	if (cli->json)
		return cli_print_json(
			json_pack("{s:s, s:s}", "version", SLUICE_VERSION, "libbpf", libbpf));
	printf("sluice %s (libbpf %s)\n", SLUICE_VERSION, libbpf);
	return 0;
}

static int print_libbpf(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	(void)level;
	return vfprintf(stderr, fmt, ap);
}

/*
 * Takes the global options out of argv wherever they stand, so that both
 * `sluice --json stats` and `sluice stats --json` work. Returns the new argc,
 * or -1 after reporting an error.
 */
static int take_global_options(struct cli *cli, int argc, char **argv)
{
	char err[SLUICE_ERR_LEN];
	__u64 max_sources;
	int out = 1;

	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i];

		if (strcmp(arg, "--") == 0) {
			while (i < argc)
				argv[out++] = argv[i++];
			break;
		}
		if (strcmp(arg, "--json") == 0 || strcmp(arg, "-j") == 0) {
			cli->json = true;
		} else if (strcmp(arg, "--verbose") == 0) {
			cli->verbose = true;
		} else if (strcmp(arg, "--pin-root") == 0) {
			if (++i == argc) {
				cli_fail(cli, "option '--pin-root' needs a directory");
				return -1;
			}
			cli->pin_root = argv[i];
		} else if (strncmp(arg, "--pin-root=", 11) == 0) {
			cli->pin_root = arg + 11;
		} else if (strcmp(arg, "--max-sources") == 0) {
			if (++i == argc) {
				cli_fail(cli, "option '--max-sources' needs a number");
				return -1;
			}
			if (parse_count("--max-sources", argv[i], SLUICE_MIN_SOURCES_OPTION,
					SLUICE_MAX_SOURCES_OPTION, &max_sources, err, sizeof(err))) {
				cli_fail(cli, "%s", err);
				return -1;
			}
			cli->max_sources = max_sources;
		} else {
			argv[out++] = argv[i];
		}
	}
	argv[out] = NULL;
	if (!cli->pin_root[0] || cli->pin_root[0] != '/') {
		cli_fail(cli, "invalid --pin-root '%s': expected an absolute directory",
			 cli->pin_root);
		return -1;
	}
	return out;
}

int main(int argc, char **argv)
{
	struct cli cli = { .pin_root = getenv(SLUICE_PIN_ROOT_ENV) };

	if (!cli.pin_root || !cli.pin_root[0])
		cli.pin_root = SLUICE_DEFAULT_PIN_ROOT;
	argc = take_global_options(&cli, argc, argv);
	if (argc < 0)
		return 1;
	libbpf_set_print(cli.verbose ? print_libbpf : NULL);

	if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)
		return cmd_help(&cli, 1, argv);
	if (strcmp(argv[1], "--version") == 0)
		return cmd_version(&cli, 1, argv);
	/* `sluice limit set -h` shows the help of `limit`, whatever else is on the line. */
	for (int i = 2; i < argc; i++) {
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			char *help_argv[] = { argv[0], argv[1], NULL };

			return cmd_help(&cli, 2, help_argv);
		}
	}
	return command_run(&cli, "sluice", sluice_commands, argc - 1, argv + 1);
}
