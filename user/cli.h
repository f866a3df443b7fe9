/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * What every `sluice` command shares: the global options, the one error
 * path, JSON output, and the command functions themselves.
 */
#ifndef SLUICE_CLI_H
#define SLUICE_CLI_H

#include <stdbool.h>
#include <jansson.h>

#include "parse.h"

#define SLUICE_DEFAULT_PIN_ROOT "/sys/fs/bpf/sluice"
#define SLUICE_PIN_ROOT_ENV "SLUICE_PIN_ROOT"

struct cli {
	const char *pin_root;
	__u32 max_sources;	/* size of a new bucket table; 0: the default */
	bool json;
	bool verbose;
};

/*
 * Prints one error line and returns the exit status 1:
 * "Error: <message>" on stderr, or {"error": "<message>"} on stdout under --json.
 */
int cli_fail(const struct cli *cli, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/*
 * Prints a JSON document on stdout, one line, and frees it. Returns 0, or 1
 * when there is no document (json_pack failed).
 */
int cli_print_json(json_t *doc);
/*
 * A JSON string for text that comes from outside (interface names may be
 * any bytes): bytes that are not valid UTF-8 are written as \xNN.
 */
json_t *cli_json_text(const char *text);

/* A command: argv[0] is its own name, options follow. Returns the exit status. */
typedef int (*command_fn)(const struct cli *cli, int argc, char **argv);

struct command {
	const char *name;
	command_fn run;				/* NULL for a group */
	const char *usage;			/* the arguments after the name */
	const char *help;			/* one line */
	const struct command *subcommands;	/* a group's table */
};

/* The command tables, each ended by an entry with a NULL name. */
extern const struct command sluice_commands[];
extern const struct command limit_commands[];
extern const struct command allow_commands[];
extern const struct command deny_commands[];
extern const struct command shed_commands[];
extern const struct command service_commands[];

int cmd_attach(const struct cli *cli, int argc, char **argv);
int cmd_detach(const struct cli *cli, int argc, char **argv);
int cmd_status(const struct cli *cli, int argc, char **argv);
int cmd_stats(const struct cli *cli, int argc, char **argv);
int cmd_top(const struct cli *cli, int argc, char **argv);
int cmd_save(const struct cli *cli, int argc, char **argv);
int cmd_restore(const struct cli *cli, int argc, char **argv);
int cmd_run(const struct cli *cli, int argc, char **argv);
int cmd_events(const struct cli *cli, int argc, char **argv);

/*
 * Finds `name` in a table, accepting a unique prefix. Returns NULL and sets
 * *ambiguous when the prefix fits several.
 */
const struct command *command_find(const struct command *table, const char *name,
				   bool *ambiguous);
/*
 * Runs argv[0] from `table` (a group's subcommands run argv[1]), with the
 * errors for unknown, ambiguous and missing commands. `path` is the words
 * that led here, such as "sluice limit", for messages.
 */
int command_run(const struct cli *cli, const char *path, const struct command *table, int argc,
		char **argv);

/* Records an option's value, refusing one given twice. Returns 0, or 1 after reporting. */
int cli_option_once(const struct cli *cli, const char **slot, const char *value,
		    const char *option);

/* Parses a command's options with getopt_long, reporting errors through cli_fail. */
struct option;
int cli_getopt(const struct cli *cli, const char *command, int argc, char **argv,
	       const char *shortopts, const struct option *longopts);

#endif /* SLUICE_CLI_H */
