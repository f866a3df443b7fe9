// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * sluice service add|del|list|show|trip|reset|disable: the local services
 * the controller protects. A service is a name, a TCP port, where it listens
 * (a network namespace), its accept queue's water marks (backpressure), and
 * optionally health probes that feed a circuit breaker and an adaptive
 * concurrency limit (user/guard.h). The CLI writes the config slot and the
 * port index, each in one map update; the state (what new connections
 * meet) is the controller's, and so is the report `show` reads.
 */
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>

#include "breaker.h"
#include "cli.h"
#include "concurrency.h"
#include "controller.h"
#include "guard.h"
#include "listenq.h"
#include "probe.h"
#include "service.h"
#include "state.h"

#define DEFAULT_HIGH_PCT 80
#define DEFAULT_LOW_PCT 50

static int service_add(const struct cli *cli, int argc, char **argv);
static int service_del(const struct cli *cli, int argc, char **argv);
static int service_list(const struct cli *cli, int argc, char **argv);
static int service_show(const struct cli *cli, int argc, char **argv);
static int service_trip(const struct cli *cli, int argc, char **argv);
static int service_reset(const struct cli *cli, int argc, char **argv);
static int service_disable(const struct cli *cli, int argc, char **argv);

const struct command service_commands[] = {
	{ "add", service_add,
	  "NAME --port PORT [--proto tcp] [--refuse rst|drop] [--high PCT] [--low PCT] "
	  "[--netns NAME|PATH] [--probe tcp|tcp://ADDR:PORT|http://ADDR:PORT/PATH] "
	  "[--probe-interval D] [--probe-timeout D] [--slow-call D] [--breaker on|off|KEY=VALUE,...] "
	  "[--concurrency none|fixed:N|aimd|vegas|gradient2[:initial=N,min=N,max=N]]",
	  "protect a local service: from --high (default 80%) of its accept queue, new "
	  "connections get an RST from XDP (or are dropped); under --low (default 50%) they are "
	  "let in again. --netns: where it listens (default: where the controller runs). "
	  "--probe (every 200ms, timeout 2s; slower than --slow-call 1s is slow) feeds a circuit "
	  "breaker (on with a probe: " GUARD_DEFAULT_BREAKER "; keys window=N|Ns, min-calls, "
	  "failure, slow, half-open, half-open-wait, open, max-open, multiplier, jitter) that "
	  "refuses new connections while open, and an adaptive --concurrency limit on the "
	  "service's connections in flight. Adding a name again changes it" },
	{ "del", service_del, "NAME", "stop protecting a service" },
	{ "list", service_list, "",
	  "the services, what each refuses now and why, and what it refused" },
	{ "show", service_show, "NAME",
	  "one service: its breaker, rates, limit, in-flight connections, probes and recent "
	  "transitions" },
	{ "trip", service_trip, "NAME", "force a service's breaker open until reset" },
	{ "reset", service_reset, "NAME",
	  "close a service's breaker with a fresh window (undoes trip and disable)" },
	{ "disable", service_disable, "NAME", "a service's breaker admits everything, never trips" },
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
		    bpf_map_lookup_elem(st->service_counters, &slot, &e.refused) ||
		    bpf_map_lookup_elem(st->service_flow, &slot, &e.flow) ||
		    bpf_map_lookup_elem(st->service_report, &slot, &e.report))
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

/*
 * --breaker into svc->breaker: its keys over GUARD_DEFAULT_BREAKER (a
 * breaker for probes), checked against the probes that feed it, written out
 * whole. 0, or -1 with one line in err.
 */
static int breaker_option(const char *text, struct sluice_service *svc, char *err, size_t err_len)
{
	__u64 probes_in_half_open, probes_in_window;
	struct breaker_config base, cfg;

	breaker_config_defaults(&base);
	base.slow_call_ms = svc->slow_call_ms;
	if (breaker_parse(GUARD_DEFAULT_BREAKER, &base, &base, err, err_len) ||
	    breaker_parse(text ? text : "on", &base, &cfg, err, err_len))
		return -1;
	/* Half-open's probes go one an interval: its wait must let them all be judged. */
	probes_in_half_open = (__u64)(cfg.half_open_calls - 1) * svc->probe_interval_ms +
			      svc->probe_timeout_ms;
	if (cfg.half_open_max_ms && cfg.half_open_max_ms < probes_in_half_open) {
		snprintf(err, err_len, "invalid --breaker half-open-wait=%ums: its %u probes, one "
			 "every %u ms, can take %llu ms", cfg.half_open_max_ms, cfg.half_open_calls,
			 svc->probe_interval_ms, (unsigned long long)probes_in_half_open);
		return -1;
	}
	/*
	 * A time window must be able to hold its minimum of calls: it counts
	 * whole seconds and the one under way, so at the least window - 1 of them.
	 */
	probes_in_window = (__u64)(cfg.window_size - 1) * 1000 / svc->probe_interval_ms;
	if (cfg.window_type == BREAKER_WINDOW_TIME && cfg.minimum_calls > probes_in_window) {
		snprintf(err, err_len, "invalid --breaker: min-calls=%u is more than a %us window "
			 "surely holds (%llu probes, one every %u ms)", cfg.minimum_calls, cfg.window_size,
			 (unsigned long long)probes_in_window, svc->probe_interval_ms);
		return -1;
	}
	breaker_format(&cfg, svc->breaker, sizeof(svc->breaker));
	if (strlen(svc->breaker) >= sizeof(svc->breaker) - 1) {
		snprintf(err, err_len, "invalid --breaker: its settings do not fit in %zu characters",
			 sizeof(svc->breaker) - 2);
		return -1;
	}
	return 0;
}

enum service_option { OPT_PORT = 1, OPT_PROTO, OPT_REFUSE, OPT_HIGH, OPT_LOW, OPT_NETNS,
		      OPT_PROBE, OPT_PROBE_INTERVAL, OPT_PROBE_TIMEOUT, OPT_SLOW_CALL, OPT_BREAKER,
		      OPT_CONCURRENCY, OPT_COUNT };

/*
 * The probes, breaker and limit of `service add` into *svc, each checked and
 * written out whole as the controller will read it. 0, or -1 with one line in err.
 */
static int guard_options(const char *const arg[OPT_COUNT], struct sluice_service *svc, char *err,
			 size_t err_len)
{
	bool breaker_off = arg[OPT_BREAKER] && strcmp(arg[OPT_BREAKER], "off") == 0;
	struct conc_config ccfg;
	struct probe_target target;
	__u64 ms;

	svc->probe_interval_ms = GUARD_PROBE_INTERVAL_MS;
	svc->probe_timeout_ms = GUARD_PROBE_TIMEOUT_MS;
	svc->slow_call_ms = GUARD_SLOW_CALL_MS;
	if (arg[OPT_PROBE]) {
		if (strlen(arg[OPT_PROBE]) >= SLUICE_PROBE_LEN) {
			snprintf(err, err_len, "invalid --probe: longer than %d characters",
				 SLUICE_PROBE_LEN - 1);
			return -1;
		}
		if (probe_target_parse(arg[OPT_PROBE], svc->port, &target, err, err_len))
			return -1;
		strcpy(svc->probe, arg[OPT_PROBE]);
	}
	if ((arg[OPT_PROBE_INTERVAL] || arg[OPT_PROBE_TIMEOUT] || arg[OPT_SLOW_CALL]) &&
	    !arg[OPT_PROBE]) {
		snprintf(err, err_len, "--probe-interval, --probe-timeout and --slow-call need --probe");
		return -1;
	}
	if (arg[OPT_PROBE_INTERVAL]) {
		if (parse_duration_ms("--probe-interval", arg[OPT_PROBE_INTERVAL], 10, 3600 * 1000,
				      &ms, err, err_len))
			return -1;
		svc->probe_interval_ms = (__u32)ms;
	}
	if (arg[OPT_PROBE_TIMEOUT]) {
		if (parse_duration_ms("--probe-timeout", arg[OPT_PROBE_TIMEOUT], 1, 600 * 1000, &ms,
				      err, err_len))
			return -1;
		svc->probe_timeout_ms = (__u32)ms;
	}
	/* Unless given, a slow call is under the timeout: half of it, when that is under 1 s. */
	if (!arg[OPT_SLOW_CALL] && svc->slow_call_ms >= svc->probe_timeout_ms)
		svc->slow_call_ms = svc->probe_timeout_ms / 2 ? svc->probe_timeout_ms / 2 : 1;
	if (arg[OPT_SLOW_CALL]) {
		if (parse_duration_ms("--slow-call", arg[OPT_SLOW_CALL], 1, 600 * 1000, &ms, err,
				      err_len))
			return -1;
		svc->slow_call_ms = (__u32)ms;
	}
	if (svc->slow_call_ms >= svc->probe_timeout_ms) {
		snprintf(err, err_len, "--slow-call (%u ms) must be under --probe-timeout (%u ms): a "
			 "probe that takes the timeout has failed", svc->slow_call_ms,
			 svc->probe_timeout_ms);
		return -1;
	}
	/* With a probe, a breaker unless told otherwise; without one, nothing would feed it. */
	if (arg[OPT_BREAKER] && !breaker_off && !arg[OPT_PROBE]) {
		snprintf(err, err_len, "--breaker needs --probe: the probes are the calls it judges");
		return -1;
	}
	if (arg[OPT_PROBE] && !breaker_off && breaker_option(arg[OPT_BREAKER], svc, err, err_len))
		return -1;
	if (arg[OPT_CONCURRENCY] && strcmp(arg[OPT_CONCURRENCY], "none") != 0) {
		if (conc_parse(arg[OPT_CONCURRENCY], &ccfg, err, err_len))
			return -1;
		if (ccfg.algo != CONC_FIXED && !arg[OPT_PROBE]) {
			snprintf(err, err_len, "--concurrency %s needs --probe: its latency samples "
				 "are the probes'", conc_algo_name(ccfg.algo));
			return -1;
		}
		conc_format(&ccfg, svc->concurrency, sizeof(svc->concurrency));
	}
	return 0;
}

static int service_add(const struct cli *cli, int argc, char **argv)
{
	static const struct option options[] = {
		{ "port", required_argument, NULL, OPT_PORT },
		{ "proto", required_argument, NULL, OPT_PROTO },
		{ "refuse", required_argument, NULL, OPT_REFUSE },
		{ "high", required_argument, NULL, OPT_HIGH },
		{ "low", required_argument, NULL, OPT_LOW },
		{ "netns", required_argument, NULL, OPT_NETNS },
		{ "probe", required_argument, NULL, OPT_PROBE },
		{ "probe-interval", required_argument, NULL, OPT_PROBE_INTERVAL },
		{ "probe-timeout", required_argument, NULL, OPT_PROBE_TIMEOUT },
		{ "slow-call", required_argument, NULL, OPT_SLOW_CALL },
		{ "breaker", required_argument, NULL, OPT_BREAKER },
		{ "concurrency", required_argument, NULL, OPT_CONCURRENCY },
		{},
	};
	static const char *const names[OPT_COUNT] = {
		[OPT_PORT] = "--port", [OPT_PROTO] = "--proto", [OPT_REFUSE] = "--refuse",
		[OPT_HIGH] = "--high", [OPT_LOW] = "--low", [OPT_NETNS] = "--netns",
		[OPT_PROBE] = "--probe", [OPT_PROBE_INTERVAL] = "--probe-interval",
		[OPT_PROBE_TIMEOUT] = "--probe-timeout", [OPT_SLOW_CALL] = "--slow-call",
		[OPT_BREAKER] = "--breaker", [OPT_CONCURRENCY] = "--concurrency",
	};
	struct sluice_service svc = { .proto = IPPROTO_TCP, .refuse = SLUICE_REFUSE_RST,
				      .high_pct = DEFAULT_HIGH_PCT, .low_pct = DEFAULT_LOW_PCT,
				      .in_use = 1 };
	struct service_entry existing[SLUICE_MAX_SERVICES];
	struct sluice_service_state admit = {};
	struct sluice_service_flow zero_flow = {};
	struct sluice_service_report no_report = {};
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
		char path[SLUICE_NETNS_LEN + 16];

		if (strlen(arg[OPT_NETNS]) >= SLUICE_NETNS_LEN ||
		    netns_path(arg[OPT_NETNS], path, sizeof(path)))
			return cli_fail(cli, "invalid --netns '%s': a name (not . or ..) or a path, of "
					"1 to %d bytes", arg[OPT_NETNS], SLUICE_NETNS_LEN - 1);
		strcpy(svc.netns, arg[OPT_NETNS]);
	}
	if (guard_options(arg, &svc, err, sizeof(err)))
		return cli_fail(cli, "%s", err);
	/* What the controller will make of it, so nothing stored is refused there. */
	{
		struct guard check;

		if (guard_init(&check, &svc, name, 1, 1, err, sizeof(err)))
			return cli_fail(cli, "the controller would refuse these settings: %s", err);
		guard_close(&check);
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
			/* A trip or a disable is the operator's, not the config's: it stays. */
			svc.breaker_mode = e->breaker_mode;
			svc.reset_seq = e->reset_seq;
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
			  bpf_map_update_elem(st.service_counters, &slot, &zero_counter, BPF_ANY) ||
			  bpf_map_update_elem(st.service_flow, &slot, &zero_flow, BPF_ANY) ||
			  bpf_map_update_elem(st.service_report, &slot, &no_report, BPF_ANY))) {
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
		return cli_print_json(json_pack(
			"{s:s, s:i, s:s, s:s, s:i, s:i, s:s, s:b, s:s?, s:s?, s:s?}", "name", name,
			"port", svc.port, "proto", "tcp", "refuse", refuse_name(svc.refuse),
			"high_pct", svc.high_pct, "low_pct", svc.low_pct, "netns", svc.netns,
			"replaced", replaced, "probe", svc.probe[0] ? svc.probe : NULL,
			"breaker_config", svc.breaker[0] ? svc.breaker : NULL, "concurrency",
			svc.concurrency[0] ? svc.concurrency : NULL));
	printf("service %s: tcp port %u%s%s, refuse with %s from %u%% of the backlog, admit under "
	       "%u%%%s\n", name, svc.port, *svc.netns ? " in netns " : "", svc.netns,
	       refuse_name(svc.refuse), svc.high_pct, svc.low_pct, replaced ? " (changed)" : "");
	if (svc.probe[0])
		printf("  probe %s every %u ms (timeout %u ms, slow over %u ms)\n  breaker %s\n",
		       svc.probe, svc.probe_interval_ms, svc.probe_timeout_ms, svc.slow_call_ms,
		       svc.breaker[0] ? svc.breaker : "off");
	if (svc.concurrency[0])
		printf("  concurrency %s\n", svc.concurrency);
	return 0;
}

static int service_del(const struct cli *cli, int argc, char **argv)
{
	struct service_entry existing[SLUICE_MAX_SERVICES];
	struct sluice_service empty = {};
	struct sluice_service_state admit = {};
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

static const char *mode_name(unsigned int mode)
{
	return mode == SLUICE_BREAKER_FORCE_OPEN ? "tripped" :
	       mode == SLUICE_BREAKER_FORCE_OFF ? "disabled" : "auto";
}

const char *service_now(const struct service_entry *e, bool in_charge)
{
	if (!in_charge)
		return "admitting";
	if (e->state.breaker == SLUICE_GATE_REFUSE)
		return "refusing: breaker open";
	if (e->state.backpressure)
		return "refusing: accept queue full";
	if (e->state.breaker == SLUICE_GATE_TRIAL)
		return "trials: breaker half-open";
	if (e->state.limit)
		return "admitting under its limit";
	return "admitting";
}

/* The breaker's state as the controller reported it, or NULL for none. */
static const char *report_breaker(const struct sluice_service_report *r)
{
	return r->breaker ? breaker_state_name((enum breaker_state)(r->breaker - 1)) : NULL;
}

static json_t *transitions_json(const struct sluice_service_report *r, __u64 now)
{
	json_t *list = json_array();

	for (__u32 i = 0; i < r->transitions && i < SLUICE_REPORT_TRANSITIONS; i++) {
		const struct sluice_transition_report *t = &r->transition[i];

		json_array_append_new(list, json_pack(
			"{s:f, s:s, s:s, s:s, s:i, s:f, s:f}", "ago_s",
			now > t->at_ns ? (double)(now - t->at_ns) / 1e9 : 0.0, "from",
			breaker_state_name((enum breaker_state)t->from), "to",
			breaker_state_name((enum breaker_state)t->to), "reason",
			breaker_reason_name((enum breaker_reason)t->reason), "calls", t->calls,
			"failure_rate", t->failure_bp / 100.0, "slow_rate", t->slow_bp / 100.0));
	}
	return list;
}

json_t *service_json(const struct service_entry *e, bool in_charge)
{
	const struct sluice_service *s = &e->config;
	const struct sluice_service_report *r = &e->report;
	const char *breaker = report_breaker(r);
	bool reported = in_charge && r->updated_ns;
	json_t *doc;

	doc = json_pack("{s:s, s:i, s:s, s:s, s:i, s:i, s:s, s:b, s:s, s:I}", "name", s->name,
			"port", s->port, "proto", "tcp", "refuse", refuse_name(s->refuse),
			"high_pct", s->high_pct, "low_pct", s->low_pct, "netns", s->netns,
			"refusing", in_charge && (e->state.backpressure ||
						  e->state.breaker == SLUICE_GATE_REFUSE),
			"now", service_now(e, in_charge), "refused", (json_int_t)e->refused.packets);
	json_object_set_new(doc, "refused_by", json_pack(
		"{s:I, s:I, s:I}", "breaker", (json_int_t)e->flow.refused[SLUICE_REFUSAL_BREAKER],
		"backpressure", (json_int_t)e->flow.refused[SLUICE_REFUSAL_BACKPRESSURE],
		"concurrency", (json_int_t)e->flow.refused[SLUICE_REFUSAL_CONCURRENCY]));
	json_object_set_new(doc, "admitted", json_integer((json_int_t)e->flow.opened));
	json_object_set_new(doc, "probe", s->probe[0] ? json_string(s->probe) : json_null());
	if (s->probe[0]) {
		json_object_set_new(doc, "probe_interval_ms", json_integer(s->probe_interval_ms));
		json_object_set_new(doc, "probe_timeout_ms", json_integer(s->probe_timeout_ms));
		json_object_set_new(doc, "slow_call_ms", json_integer(s->slow_call_ms));
	}
	json_object_set_new(doc, "breaker_config",
			    s->breaker[0] ? json_string(s->breaker) : json_null());
	json_object_set_new(doc, "concurrency",
			    s->concurrency[0] ? json_string(s->concurrency) : json_null());
	json_object_set_new(doc, "breaker_mode", json_string(mode_name(s->breaker_mode)));
	/* What only a running controller knows. */
	json_object_set_new(doc, "breaker", reported && breaker ? json_string(breaker) : json_null());
	json_object_set_new(doc, "limit", in_charge && e->state.limit ?
					   json_integer(e->state.limit) : json_null());
	json_object_set_new(doc, "in_flight",
			    reported && r->measured ? json_integer(r->in_flight) : json_null());
	/* A breaker's state and a probe's counts, for services that have them. */
	if (reported && s->probe[0])
		json_object_set_new(doc, "probes", json_pack(
			"{s:I, s:I, s:I, s:f}", "ok", (json_int_t)r->probes_ok, "failed",
			(json_int_t)r->probes_failed, "slow", (json_int_t)r->probes_slow, "last_ms",
			r->last_probe_us / 1000.0));
	if (reported && breaker) {
		__u64 now = controller_now_ns();

		json_object_set_new(doc, "window", json_pack(
			"{s:i, s:f, s:f}", "calls", r->calls, "failure_rate", r->failure_bp / 100.0,
			"slow_rate", r->slow_bp / 100.0));
		json_object_set_new(doc, "trips", json_integer(r->trips));
		json_object_set_new(doc, "state_for_s", json_real(now > r->since_ns ?
					(double)(now - r->since_ns) / 1e9 : 0.0));
		if (r->open_until_ns)
			json_object_set_new(doc, "half_open_in_s", json_real(
				r->open_until_ns > now ? (double)(r->open_until_ns - now) / 1e9 : 0.0));
		json_object_set_new(doc, "transitions_total",
				    json_integer((json_int_t)r->transitions_total));
		json_object_set_new(doc, "transitions", transitions_json(r, now));
	}
	return doc;
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
	printf("%-16s %-6s %-27s %-12s %-7s %-9s %-10s %s\n", "NAME", "PORT", "NOW", "BREAKER",
	       "LIMIT", "INFLIGHT", "REFUSED", "NETNS");
	for (size_t i = 0; i < count; i++) {
		const struct service_entry *e = &entries[i];
		const char *breaker = report_breaker(&e->report);
		bool reported = in_charge && e->report.updated_ns;
		char limit[16] = "-", in_flight[16] = "-";

		if (in_charge && e->state.limit)
			snprintf(limit, sizeof(limit), "%u", e->state.limit);
		if (reported && e->report.measured)
			snprintf(in_flight, sizeof(in_flight), "%u", e->report.in_flight);
		printf("%-16s %-6u %-27s %-12s %-7s %-9s %-10llu %s\n", e->config.name,
		       e->config.port, service_now(e, in_charge),
		       reported && breaker ? breaker : "-", limit, in_flight,
		       (unsigned long long)e->refused.packets,
		       *e->config.netns ? e->config.netns : "-");
	}
	if (!in_charge)
		printf("(no controller runs: every service admits)\n");
	return 0;
}

/* Reads the services and finds one by name; -1 after saying why. */
static int service_find(const struct cli *cli, struct state *st, const char *name,
			struct service_entry *out)
{
	struct service_entry entries[SLUICE_MAX_SERVICES];
	size_t count;

	if (services_read(st, entries, &count)) {
		cli_fail(cli, "cannot read the services: %s", state_strerror(errno));
		return -1;
	}
	for (size_t i = 0; i < count; i++) {
		if (strcmp(entries[i].config.name, name) == 0) {
			*out = entries[i];
			return 0;
		}
	}
	cli_fail(cli, "no service '%s' (see 'sluice service list')", name);
	return -1;
}

/* `service show`'s lines, from the document `show --json` prints. */
static void service_print(const struct service_entry *e, const json_t *doc, bool in_charge)
{
	const struct sluice_service *s = &e->config;
	const json_t *t, *w = json_object_get(doc, "window"), *p = json_object_get(doc, "probes");
	const json_t *in_flight = json_object_get(doc, "in_flight"), *limit = json_object_get(doc, "limit");
	size_t i;

	printf("service:      %s, tcp port %u%s%s\n", s->name, s->port, *s->netns ? " in netns " : "",
	       s->netns);
	printf("now:          %s%s\n", service_now(e, in_charge),
	       in_charge ? "" : " (no controller runs: every service admits)");
	printf("backpressure: refuse with %s from %u%% of the backlog, admit under %u%%\n",
	       refuse_name(s->refuse), s->high_pct, s->low_pct);
	if (s->probe[0])
		printf("probe:        %s every %u ms, timeout %u ms, slow over %u ms\n", s->probe,
		       s->probe_interval_ms, s->probe_timeout_ms, s->slow_call_ms);
	else
		printf("probe:        none\n");
	printf("breaker:      %s%s%s\n", s->breaker[0] ? s->breaker : "none",
	       s->breaker_mode != SLUICE_BREAKER_AUTO ? "; " : "",
	       s->breaker_mode != SLUICE_BREAKER_AUTO ? mode_name(s->breaker_mode) : "");
	printf("concurrency:  %s\n", s->concurrency[0] ? s->concurrency : "none");
	if (w) {
		printf("state:        breaker %s for %.1f s, %lld trips; window %lld calls, %.1f%% "
		       "failed, %.1f%% slow\n",
		       json_is_string(json_object_get(doc, "breaker")) ?
			       json_string_value(json_object_get(doc, "breaker")) : "none",
		       json_real_value(json_object_get(doc, "state_for_s")),
		       json_integer_value(json_object_get(doc, "trips")),
		       json_integer_value(json_object_get(w, "calls")),
		       json_real_value(json_object_get(w, "failure_rate")),
		       json_real_value(json_object_get(w, "slow_rate")));
		if (json_object_get(doc, "half_open_in_s"))
			printf("              half-open in %.1f s\n",
			       json_real_value(json_object_get(doc, "half_open_in_s")));
	}
	if (p) {
		printf("probes:       %lld ok, %lld failed, %lld slow; the last took %.1f ms\n",
		       json_integer_value(json_object_get(p, "ok")),
		       json_integer_value(json_object_get(p, "failed")),
		       json_integer_value(json_object_get(p, "slow")),
		       json_real_value(json_object_get(p, "last_ms")));
	}
	printf("connections:  ");
	if (json_is_integer(in_flight))
		printf("%lld in flight", json_integer_value(in_flight));
	else
		printf("in flight unknown");
	if (json_is_integer(limit))
		printf(", limit %lld", json_integer_value(limit));
	printf("; %llu admitted\n", (unsigned long long)e->flow.opened);
	printf("refused:      %llu (breaker %llu, backpressure %llu, concurrency %llu)\n",
	       (unsigned long long)e->refused.packets,
	       (unsigned long long)e->flow.refused[SLUICE_REFUSAL_BREAKER],
	       (unsigned long long)e->flow.refused[SLUICE_REFUSAL_BACKPRESSURE],
	       (unsigned long long)e->flow.refused[SLUICE_REFUSAL_CONCURRENCY]);
	json_array_foreach(json_object_get(doc, "transitions"), i, t)
		printf("%s %.1f s ago: %s -> %s (%s; %lld calls, %.1f%% failed, %.1f%% slow)\n",
		       i == 0 ? "transitions: " : "             ",
		       json_real_value(json_object_get(t, "ago_s")),
		       json_string_value(json_object_get(t, "from")),
		       json_string_value(json_object_get(t, "to")),
		       json_string_value(json_object_get(t, "reason")),
		       json_integer_value(json_object_get(t, "calls")),
		       json_real_value(json_object_get(t, "failure_rate")),
		       json_real_value(json_object_get(t, "slow_rate")));
}

static int service_show(const struct cli *cli, int argc, char **argv)
{
	struct service_entry e;
	char err[SLUICE_ERR_LEN];
	bool in_charge;
	struct state st;
	json_t *doc;
	int ret;

	if (argc != 2)
		return cli_fail(cli, "service show takes one name: service show NAME");
	if (state_open(&st, cli->pin_root, STATE_READ, err, sizeof(err)))
		return cli_fail(cli, "%s", err);
	ret = service_find(cli, &st, argv[1], &e);
	in_charge = controller_running(st.controller);
	state_close(&st);
	if (ret)
		return 1;
	doc = service_json(&e, in_charge);
	if (cli->json)
		return cli_print_json(doc);
	service_print(&e, doc, in_charge);
	json_decref(doc);
	return 0;
}

/*
 * trip, reset and disable: the operator's mode in the service's config, one
 * map update that the controller follows on its next tick. The mode stays
 * in the config, so a restarted controller still honours a trip.
 */
static int service_set_mode(const struct cli *cli, int argc, char **argv,
			    enum sluice_breaker_mode mode, const char *verb, const char *done)
{
	struct service_entry e;
	char err[SLUICE_ERR_LEN];
	struct state st;
	int ret = 0;

	if (argc != 2)
		return cli_fail(cli, "service %s takes one name: service %s NAME", verb, verb);
	if (state_open(&st, cli->pin_root, STATE_CHANGE, err, sizeof(err)))
		return cli_fail(cli, "failed to %s the service: %s", verb, err);
	if (service_find(cli, &st, argv[1], &e)) {
		state_close(&st);
		return 1;
	}
	e.config.breaker_mode = (__u8)mode;
	if (mode == SLUICE_BREAKER_AUTO)
		e.config.reset_seq++;
	if (bpf_map_update_elem(st.services, &e.slot, &e.config, BPF_ANY))
		ret = cli_fail(cli, "cannot %s the service: %s", verb, state_strerror(errno));
	state_close(&st);
	if (ret)
		return ret;
	if (cli->json)
		return cli_print_json(json_pack("{s:s, s:s}", "name", argv[1], "breaker_mode",
						mode_name(mode)));
	printf("service %s: %s\n", argv[1], done);
	return 0;
}

static int service_trip(const struct cli *cli, int argc, char **argv)
{
	return service_set_mode(cli, argc, argv, SLUICE_BREAKER_FORCE_OPEN, "trip",
				"breaker forced open: new connections are refused until "
				"'sluice service reset'");
}

static int service_reset(const struct cli *cli, int argc, char **argv)
{
	return service_set_mode(cli, argc, argv, SLUICE_BREAKER_AUTO, "reset",
				"breaker closed with a fresh window");
}

static int service_disable(const struct cli *cli, int argc, char **argv)
{
	return service_set_mode(cli, argc, argv, SLUICE_BREAKER_FORCE_OFF, "disable",
				"breaker disabled: it admits every new connection until "
				"'sluice service reset'");
}
