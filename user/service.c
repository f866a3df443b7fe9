// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * sluice service add|del|list: the local services the controller protects
 * with accept-queue backpressure. A service is a name, a TCP port, where it
 * listens (a network namespace) and its water marks; the controller refuses
 * new connections to the port from the high mark and admits them again
 * under the low one. The CLI writes the config slot and the port index; the
 * state (refusing or not) is the controller's.
 */
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>

#include "cli.h"
#include "controller.h"
#include "service.h"
#include "state.h"

#define DEFAULT_HIGH_PCT 80
#define DEFAULT_LOW_PCT 50

static int service_add(const struct cli *cli, int argc, char **argv);
static int service_del(const struct cli *cli, int argc, char **argv);
static int service_list(const struct cli *cli, int argc, char **argv);

const struct command service_commands[] = {
	{ "add", service_add,
	  "NAME --port PORT [--proto tcp] [--refuse rst|drop] [--high PCT] [--low PCT] "
	  "[--netns NAME|PATH]",
	  "protect a local service: from --high (default 80%) of its accept queue, new "
	  "connections get an RST from XDP (or are dropped); under --low (default 50%) they are "
	  "let in again. --netns: where it listens (default: where the controller runs). Adding "
	  "a name again changes it" },
	{ "del", service_del, "NAME", "stop protecting a service" },
	{ "list", service_list, "", "the services, whether each is refusing now, and what it refused" },
	{ NULL },
};

const char *refuse_name(unsigned int refuse)
{
	return refuse == SLUICE_REFUSE_DROP ? "drop" : refuse == SLUICE_REFUSE_RST ? "rst" : "admit";
}

int services_read(const struct state *st, struct service_entry out[SLUICE_MAX_SERVICES],
		  size_t *count)
{
	*count = 0;
	for (__u32 slot = 0; slot < SLUICE_MAX_SERVICES; slot++) {
		struct service_entry e = { .slot = slot };

		if (bpf_map_lookup_elem(st->services, &slot, &e.config))
			return -1;
		if (!e.config.in_use)
			continue;
		if (bpf_map_lookup_elem(st->service_state, &slot, &e.state) ||
		    bpf_map_lookup_elem(st->service_counters, &slot, &e.refused))
			return -1;
		out[(*count)++] = e;
	}
	return 0;
}

static bool valid_name(const char *name)
{
	size_t len = strlen(name);

	if (len == 0 || len >= SLUICE_SERVICE_NAME_LEN)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!(name[i] == '-' || name[i] == '_' || name[i] == '.' ||
		      (name[i] >= 'a' && name[i] <= 'z') || (name[i] >= 'A' && name[i] <= 'Z') ||
		      (name[i] >= '0' && name[i] <= '9')))
			return false;
	return true;
}

enum service_option { OPT_PORT = 1, OPT_PROTO, OPT_REFUSE, OPT_HIGH, OPT_LOW, OPT_NETNS,
		      OPT_COUNT };

static int service_add(const struct cli *cli, int argc, char **argv)
{
	static const struct option options[] = {
		{ "port", required_argument, NULL, OPT_PORT },
		{ "proto", required_argument, NULL, OPT_PROTO },
		{ "refuse", required_argument, NULL, OPT_REFUSE },
		{ "high", required_argument, NULL, OPT_HIGH },
		{ "low", required_argument, NULL, OPT_LOW },
		{ "netns", required_argument, NULL, OPT_NETNS },
		{},
	};
	static const char *const names[OPT_COUNT] = {
		[OPT_PORT] = "--port", [OPT_PROTO] = "--proto", [OPT_REFUSE] = "--refuse",
		[OPT_HIGH] = "--high", [OPT_LOW] = "--low", [OPT_NETNS] = "--netns",
	};
	struct sluice_service svc = { .proto = IPPROTO_TCP, .refuse = SLUICE_REFUSE_RST,
				      .high_pct = DEFAULT_HIGH_PCT, .low_pct = DEFAULT_LOW_PCT,
				      .in_use = 1 };
	struct service_entry existing[SLUICE_MAX_SERVICES];
	struct sluice_service_state admit = { .refuse = SLUICE_ADMIT };
	struct sluice_service_key key = {}, old_key = {};
	const char *arg[OPT_COUNT] = {}, *name;
	struct sluice_counter zero_counter = {};
	char err[SLUICE_ERR_LEN];
	__u32 slot = SLUICE_MAX_SERVICES;
	bool replaced = false;
	size_t count;
	struct state st;
	__u64 port, pct;
	int opt, ret = 0;

	while ((opt = cli_getopt(cli, "service add", argc, argv, "", options)) != -1) {
		if (opt == -2 || cli_option_once(cli, &arg[opt], optarg, names[opt]))
			return 1;
	}
	if (optind + 1 != argc)
		return cli_fail(cli, "service add takes one name: service add NAME --port PORT");
	name = argv[optind];
	if (!valid_name(name))
		return cli_fail(cli, "invalid service name '%s': 1 to %d letters, digits, '-', '_' "
			       "or '.'", name, SLUICE_SERVICE_NAME_LEN - 1);
	if (!arg[OPT_PORT])
		return cli_fail(cli, "service add needs --port PORT");
	if (parse_count("--port", arg[OPT_PORT], 1, 65535, &port, err, sizeof(err)))
		return cli_fail(cli, "%s", err);
	svc.port = (__u16)port;
	if (arg[OPT_PROTO] && strcmp(arg[OPT_PROTO], "tcp") != 0)
		return cli_fail(cli, "invalid --proto '%s': only tcp services have an accept queue",
				arg[OPT_PROTO]);
	if (arg[OPT_REFUSE]) {
		if (strcmp(arg[OPT_REFUSE], "rst") == 0)
			svc.refuse = SLUICE_REFUSE_RST;
		else if (strcmp(arg[OPT_REFUSE], "drop") == 0)
			svc.refuse = SLUICE_REFUSE_DROP;
		else
			return cli_fail(cli, "invalid --refuse '%s': expected rst or drop",
					arg[OPT_REFUSE]);
	}
	if (arg[OPT_HIGH]) {
		if (parse_percent("--high", arg[OPT_HIGH], 1, 100, &pct, err, sizeof(err)))
			return cli_fail(cli, "%s", err);
		svc.high_pct = (__u8)pct;
	}
	if (arg[OPT_LOW]) {
		if (parse_percent("--low", arg[OPT_LOW], 1, 100, &pct, err, sizeof(err)))
			return cli_fail(cli, "%s", err);
		svc.low_pct = (__u8)pct;
	}
	if (svc.low_pct >= svc.high_pct)
		return cli_fail(cli, "--low (%u%%) must be below --high (%u%%)", svc.low_pct,
				svc.high_pct);
	if (arg[OPT_NETNS]) {
		if (!*arg[OPT_NETNS] || strlen(arg[OPT_NETNS]) >= SLUICE_NETNS_LEN)
			return cli_fail(cli, "invalid --netns '%s': a name or path of 1 to %d bytes",
					arg[OPT_NETNS], SLUICE_NETNS_LEN - 1);
		strcpy(svc.netns, arg[OPT_NETNS]);
	}
	strcpy(svc.name, name);
	key.port = svc.port;
	key.proto = svc.proto;

	if (state_create(&st, cli->pin_root, cli->max_sources, err, sizeof(err)))
		return cli_fail(cli, "failed to add the service: %s", err);
	if (services_read(&st, existing, &count)) {
		ret = cli_fail(cli, "cannot read the services: %s", state_strerror(errno));
		goto out;
	}
	for (size_t i = 0; i < count; i++) {
		const struct sluice_service *e = &existing[i].config;

		if (strcmp(e->name, name) == 0) {
			slot = existing[i].slot;
			replaced = true;
			old_key.port = e->port;
			old_key.proto = e->proto;
		} else if (e->port == svc.port && e->proto == svc.proto) {
			ret = cli_fail(cli, "port %u is already service '%s'", svc.port, e->name);
			goto out;
		}
	}
	for (__u32 s = 0; !replaced && s < SLUICE_MAX_SERVICES && slot == SLUICE_MAX_SERVICES; s++) {
		bool used = false;

		for (size_t i = 0; i < count; i++)
			used |= existing[i].slot == s;
		if (!used)
			slot = s;
	}
	if (slot == SLUICE_MAX_SERVICES) {
		ret = cli_fail(cli, "no room for another service (at most %d)", SLUICE_MAX_SERVICES);
		goto out;
	}
	/*
	 * A new slot starts admitting, its counters at zero: whatever a former
	 * service left there is gone (afterwards the controller alone writes
	 * the state). Then the index that leads the data path to the slot, and
	 * the config; a failure takes back the index, so nothing is half done.
	 * A replaced service's old port leaves the index last.
	 */
	if (!replaced && (bpf_map_update_elem(st.service_state, &slot, &admit, BPF_ANY) ||
			  bpf_map_update_elem(st.service_counters, &slot, &zero_counter, BPF_ANY))) {
		ret = cli_fail(cli, "cannot write the service: %s", state_strerror(errno));
		goto out;
	}
	/* No other service has the port (checked above): whatever the index holds for it goes. */
	if (bpf_map_update_elem(st.service_ports, &key, &slot, BPF_ANY)) {
		ret = cli_fail(cli, "cannot write the service: %s", state_strerror(errno));
		goto out;
	}
	if (bpf_map_update_elem(st.services, &slot, &svc, BPF_ANY)) {
		ret = cli_fail(cli, "cannot write the service: %s", state_strerror(errno));
		if (memcmp(&old_key, &key, sizeof(key)))
			bpf_map_delete_elem(st.service_ports, &key);
		goto out;
	}
	if (replaced && memcmp(&old_key, &key, sizeof(key)))
		bpf_map_delete_elem(st.service_ports, &old_key);
out:
	state_close(&st);
	if (ret)
		return ret;
	if (cli->json)
		return cli_print_json(json_pack("{s:s, s:i, s:s, s:s, s:i, s:i, s:s, s:b}", "name",
						name, "port", svc.port, "proto", "tcp", "refuse",
						refuse_name(svc.refuse), "high_pct", svc.high_pct,
						"low_pct", svc.low_pct, "netns", svc.netns,
						"replaced", replaced));
	printf("service %s: tcp port %u%s%s, refuse with %s from %u%% of the backlog, admit under "
	       "%u%%%s\n", name, svc.port, *svc.netns ? " in netns " : "", svc.netns,
	       refuse_name(svc.refuse), svc.high_pct, svc.low_pct, replaced ? " (changed)" : "");
	return 0;
}

static int service_del(const struct cli *cli, int argc, char **argv)
{
	struct service_entry existing[SLUICE_MAX_SERVICES];
	struct sluice_service empty = {};
	struct sluice_service_state admit = { .refuse = SLUICE_ADMIT };
	char err[SLUICE_ERR_LEN];
	struct state st;
	size_t count;
	int ret = 0;
	bool found = false;

	if (argc != 2)
		return cli_fail(cli, "service del takes one name: service del NAME");
	if (state_open(&st, cli->pin_root, STATE_CHANGE, err, sizeof(err)))
		return cli_fail(cli, "failed to delete the service: %s", err);
	if (services_read(&st, existing, &count)) {
		ret = cli_fail(cli, "cannot read the services: %s", state_strerror(errno));
		goto out;
	}
	for (size_t i = 0; i < count && !found; i++) {
		const struct sluice_service *e = &existing[i].config;
		struct sluice_service_key key = { .port = e->port, .proto = e->proto };
		__u32 slot = existing[i].slot;

		if (strcmp(e->name, argv[1]))
			continue;
		found = true;
		/* The index first: from then on the data path never reaches the slot. */
		if ((bpf_map_delete_elem(st.service_ports, &key) && errno != ENOENT) ||
		    bpf_map_update_elem(st.service_state, &slot, &admit, BPF_ANY) ||
		    bpf_map_update_elem(st.services, &slot, &empty, BPF_ANY))
			ret = cli_fail(cli, "cannot delete the service: %s", state_strerror(errno));
	}
	if (!found)
		ret = cli_fail(cli, "no service '%s' (see 'sluice service list')", argv[1]);
out:
	state_close(&st);
	if (ret)
		return ret;
	if (cli->json)
		return cli_print_json(json_pack("{s:s, s:b}", "name", argv[1], "deleted", 1));
	printf("service %s: deleted\n", argv[1]);
	return 0;
}

json_t *service_json(const struct service_entry *e, bool in_charge)
{
	const struct sluice_service *s = &e->config;
	unsigned int refusing = in_charge ? e->state.refuse : SLUICE_ADMIT;

	return json_pack("{s:s, s:i, s:s, s:s, s:i, s:i, s:s, s:b, s:I}", "name", s->name, "port",
			 s->port, "proto", "tcp", "refuse", refuse_name(s->refuse), "high_pct",
			 s->high_pct, "low_pct", s->low_pct, "netns", s->netns, "refusing",
			 refusing != SLUICE_ADMIT, "refused", (json_int_t)e->refused.packets);
}

static int service_list(const struct cli *cli, int argc, char **argv)
{
	struct service_entry entries[SLUICE_MAX_SERVICES];
	char err[SLUICE_ERR_LEN];
	bool in_charge;
	struct state st;
	size_t count;
	int ret;

	(void)argv;
	if (argc > 1)
		return cli_fail(cli, "service list takes no arguments");
	if (state_open(&st, cli->pin_root, STATE_READ, err, sizeof(err)))
		return cli_fail(cli, "%s", err);
	ret = services_read(&st, entries, &count);
	in_charge = controller_running(st.controller);
	state_close(&st);
	if (ret)
		return cli_fail(cli, "cannot read the services: %s", state_strerror(errno));
	if (cli->json) {
		json_t *list = json_array();

		for (size_t i = 0; i < count; i++)
			json_array_append_new(list, service_json(&entries[i], in_charge));
		return cli_print_json(json_pack("{s:o}", "services", list));
	}
	if (count == 0) {
		printf("no services (sluice service add NAME --port PORT protects one)\n");
		return 0;
	}
	printf("%-20s %-6s %-7s %-10s %-12s %-10s %s\n", "NAME", "PORT", "REFUSE", "HIGH/LOW",
	       "NOW", "REFUSED", "NETNS");
	for (size_t i = 0; i < count; i++) {
		const struct sluice_service *s = &entries[i].config;
		char marks[16];

		snprintf(marks, sizeof(marks), "%u%%/%u%%", s->high_pct, s->low_pct);
		printf("%-20s %-6u %-7s %-10s %-12s %-10llu %s\n", s->name, s->port,
		       refuse_name(s->refuse), marks,
		       in_charge && entries[i].state.refuse != SLUICE_ADMIT ? "refusing" : "admitting",
		       (unsigned long long)entries[i].refused.packets, *s->netns ? s->netns : "-");
	}
	if (!in_charge)
		printf("(no controller runs: every service admits)\n");
	return 0;
}
