// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * attach, detach, status. The XDP attachment is a bpf_link pinned under the
 * pin root, so the limiter keeps running after the CLI exits and detaching
 * is removing that link.
 *
 * Interface names and indexes are per network namespace, and one pin root
 * may serve several namespaces, so a link made outside the host's namespace
 * carries that namespace in its pin name: link_eth0 in the host's,
 * link_eth0@netns4026532281 elsewhere (the namespace's inode number).
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <net/if.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <linux/if_link.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "cli.h"
#include "controller.h"
#include "fleet.h"
#include "service.h"
#include "shedding.h"
#include "rules.h"
#include "sluice.skel.h"
#include "state.h"

static const struct {
	const char *name;
	__u32 flags;
} xdp_modes[] = {
	/* auto: the kernel picks native where the driver supports it. */
	{ "auto", 0 },
	{ "native", XDP_FLAGS_DRV_MODE },
	{ "generic", XDP_FLAGS_SKB_MODE },
};

#define NETNS_TAG_LEN 32

/* "" in the host's network namespace (PID 1's), "netns<inode>" in any other. */
static void netns_tag(char tag[NETNS_TAG_LEN])
{
	struct stat self, host;

	tag[0] = '\0';
	if (stat("/proc/self/ns/net", &self))
		return;
	if (stat("/proc/1/ns/net", &host) == 0 && host.st_ino == self.st_ino &&
	    host.st_dev == self.st_dev)
		return;
	snprintf(tag, NETNS_TAG_LEN, "netns%llu", (unsigned long long)self.st_ino);
}

/* A pinned XDP link and what the kernel says of it. */
struct pinned_link {
	char path[PATH_MAX];
	bool pinned;
	__u32 ifindex;		/* 0 once its interface is gone: the link is dead */
	__u32 prog_id;
	__u32 link_id;
	int error;		/* errno when the pin exists but cannot be read */
};

static int link_pin_path(char *buf, size_t len, const char *root, const char *ifname,
			 const char *tag)
{
	char name[IF_NAMESIZE + NETNS_TAG_LEN + sizeof(SLUICE_LINK_PREFIX) + 1];

	snprintf(name, sizeof(name), "%s%s%s%s", SLUICE_LINK_PREFIX, ifname, tag[0] ? "@" : "",
		 tag);
	return state_path(buf, len, root, name);
}

static void read_link(const char *path, struct pinned_link *link)
{
	struct bpf_link_info info = {};
	__u32 len = sizeof(info);
	int fd;

	memset(link, 0, sizeof(*link));
	snprintf(link->path, sizeof(link->path), "%s", path);
	fd = bpf_obj_get(path);
	if (fd < 0) {
		if (errno != ENOENT) {
			link->pinned = true;
			link->error = errno;
		}
		return;
	}
	link->pinned = true;
	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		link->error = errno;
	else if (info.type != BPF_LINK_TYPE_XDP)
		link->error = EINVAL;
	close(fd);
	if (link->error)
		return;
	link->ifindex = info.xdp.ifindex;
	link->prog_id = info.prog_id;
	link->link_id = info.id;
}

/* The pinned link for IFACE in this network namespace. */
static int find_link(const char *root, const char *ifname, struct pinned_link *link)
{
	char tag[NETNS_TAG_LEN], path[PATH_MAX];

	netns_tag(tag);
	if (link_pin_path(path, sizeof(path), root, ifname, tag))
		return -1;
	read_link(path, link);
	return 0;
}

/* Whether the link's program is the one on interface `ifindex` of this namespace. */
static bool link_is_on(const struct pinned_link *link, __u32 ifindex)
{
	LIBBPF_OPTS(bpf_xdp_query_opts, query);

	if (!link->ifindex || link->ifindex != ifindex || bpf_xdp_query(ifindex, 0, &query))
		return false;
	return query.prog_id == link->prog_id || query.drv_prog_id == link->prog_id ||
	       query.skb_prog_id == link->prog_id;
}

/* What an interface index is called here now, for messages. */
static const char *current_ifname(__u32 ifindex)
{
	static char text[IF_NAMESIZE + 32];
	char name[IF_NAMESIZE];

	if (if_indextoname(ifindex, name))
		snprintf(text, sizeof(text), "%s", name);
	else
		snprintf(text, sizeof(text), "ifindex %u, not in this namespace", ifindex);
	return text;
}

static const char *attach_mode_name(__u32 ifindex)
{
	LIBBPF_OPTS(bpf_xdp_query_opts, query);

	if (bpf_xdp_query(ifindex, 0, &query))
		return "unknown";
	switch (query.attach_mode) {
	case XDP_ATTACHED_DRV:
		return "native";
	case XDP_ATTACHED_SKB:
		return "generic";
	case XDP_ATTACHED_HW:
		return "offload";
	case XDP_ATTACHED_NONE:
		return "none";
	default:
		return "multi";
	}
}

static int attach_error(const struct cli *cli, const char *ifname, const char *mode, int err)
{
	switch (err) {
	case EBUSY:
	case EEXIST:
		return cli_fail(cli,
				"failed to attach to %s: it already has an XDP program, from "
				"another tool or another sluice pin root (see 'ip link show %s')",
				ifname, ifname);
	case EOPNOTSUPP:
		return cli_fail(cli,
				"failed to attach to %s: XDP in %s mode is not supported by its "
				"driver (try --mode generic)",
				ifname, mode);
	default:
		return cli_fail(cli, "failed to attach to %s: %s", ifname, state_strerror(err));
	}
}

static int report_attached(const struct cli *cli, const char *ifname, __u32 ifindex, bool already)
{
	const char *mode = attach_mode_name(ifindex);

	if (cli->json)
		return cli_print_json(json_pack("{s:o, s:i, s:s, s:b}", "interface",
						cli_json_text(ifname), "ifindex", (int)ifindex,
						"mode", mode, "already_attached", already));
	printf("%s %s (%s mode)\n", already ? "already attached to" : "attached to", ifname,
	       mode);
	return 0;
}

/*
 * Decides what to do with a link already pinned for the interface: 1 when it
 * is attached there as asked (nothing to do), 0 when there is none or it was
 * dead and has been removed, -1 after reporting why attaching cannot go on.
 */
static int settle_existing_link(const struct cli *cli, const struct pinned_link *link,
				const char *ifname, __u32 ifindex, const char *mode)
{
	const char *current;

	if (!link->pinned)
		return 0;
	if (link->error) {
		cli_fail(cli, "failed to attach to %s: cannot read %s: %s", ifname, link->path,
			 state_strerror(link->error));
		return -1;
	}
	if (link_is_on(link, ifindex)) {
		current = attach_mode_name(ifindex);
		if (strcmp(mode, "auto") != 0 && strcmp(mode, current) != 0) {
			cli_fail(cli,
				 "sluice is already attached to %s in %s mode: detach it first to "
				 "attach in %s mode",
				 ifname, current, mode);
			return -1;
		}
		return 1;
	}
	if (link->ifindex) {
		/* Alive but elsewhere: the interface was renamed or moved away. */
		cli_fail(cli,
			 "failed to attach to %s: sluice is still attached to the interface "
			 "first named %s, now %s; run 'sluice detach %s' first",
			 ifname, ifname, current_ifname(link->ifindex), ifname);
		return -1;
	}
	/* Its interface is gone, and the link with it. */
	unlink(link->path);
	return 0;
}

int cmd_attach(const struct cli *cli, int argc, char **argv)
{
	static const struct option options[] = {
		{ "mode", required_argument, NULL, 'm' },
		{},
	};
	const char *mode = NULL, *ifname;
	__u32 mode_flags = 0, ifindex;
	char err[SLUICE_ERR_LEN];
	struct sluice_bpf *skel = NULL;
	struct pinned_link link;
	struct state st;
	bool known_mode = false, fresh_state;
	int opt, link_fd, settled, ret = 1;

	while ((opt = cli_getopt(cli, "attach", argc, argv, "m:", options)) != -1) {
		if (opt == -2 || cli_option_once(cli, &mode, optarg, "--mode"))
			return 1;
	}
	if (!mode)
		mode = "auto";
	for (size_t i = 0; i < sizeof(xdp_modes) / sizeof(xdp_modes[0]); i++) {
		if (strcmp(mode, xdp_modes[i].name) == 0) {
			mode_flags = xdp_modes[i].flags;
			known_mode = true;
		}
	}
	if (!known_mode)
		return cli_fail(cli, "invalid --mode '%s': expected auto, native or generic", mode);
	if (optind + 1 != argc)
		return cli_fail(cli, "attach takes one interface: sluice attach IFACE");
	ifname = argv[optind];
	if (strlen(ifname) >= IF_NAMESIZE || !(ifindex = if_nametoindex(ifname)))
		return cli_fail(cli, "failed to attach to %s: no such interface", ifname);

	/* A failed attach must leave nothing behind, not even the state it created. */
	fresh_state = state_exists(cli->pin_root) == 0;
	if (state_create(&st, cli->pin_root, cli->max_sources, err, sizeof(err)))
		return cli_fail(cli, "failed to attach to %s: %s", ifname, err);
	if (find_link(cli->pin_root, ifname, &link)) {
		cli_fail(cli, "pin root path %s is too long", cli->pin_root);
		goto out;
	}
	settled = settle_existing_link(cli, &link, ifname, ifindex, mode);
	if (settled < 0)
		goto out;
	if (settled > 0) {
		ret = report_attached(cli, ifname, ifindex, true);
		goto out;
	}

	if (state_load_object(cli->pin_root, true, cli->max_sources, &skel, err, sizeof(err))) {
		cli_fail(cli, "failed to attach to %s: %s", ifname, err);
		goto out;
	}
	LIBBPF_OPTS(bpf_link_create_opts, link_opts, .flags = mode_flags);
	link_fd = bpf_link_create(bpf_program__fd(skel->progs.sluice_xdp), ifindex, BPF_XDP,
				  &link_opts);
	if (link_fd < 0) {
		attach_error(cli, ifname, mode, errno);
		goto out;
	}
	if (bpf_obj_pin(link_fd, link.path)) {
		/* Closing the only reference detaches: nothing is left half-done. */
		cli_fail(cli, "failed to attach to %s: cannot pin its link at %s: %s", ifname,
			 link.path, state_strerror(errno));
		close(link_fd);
		goto out;
	}
	close(link_fd);
	ret = report_attached(cli, ifname, ifindex, false);
out:
	sluice_bpf__destroy(skel);
	if (ret && fresh_state)
		state_remove(&st);
	state_close(&st);
	return ret;
}

int cmd_detach(const struct cli *cli, int argc, char **argv)
{
	char err[SLUICE_ERR_LEN];
	struct pinned_link link;
	const char *ifname;
	int lock_fd, link_fd, ret = 1;

	if (argc != 2 || argv[1][0] == '-')
		return cli_fail(cli, "detach takes one interface: sluice detach IFACE");
	ifname = argv[1];
	if (strlen(ifname) >= IF_NAMESIZE)
		return cli_fail(cli, "failed to detach from %s: no such interface", ifname);
	if (access(cli->pin_root, F_OK) && errno == ENOENT)
		return cli_fail(cli, "sluice is not attached to %s (no pin root %s)", ifname,
				cli->pin_root);
	lock_fd = state_lock(cli->pin_root, LOCK_EX, err, sizeof(err));
	if (lock_fd < 0)
		return cli_fail(cli, "failed to detach from %s: %s", ifname, err);

	if (find_link(cli->pin_root, ifname, &link)) {
		cli_fail(cli, "pin root path %s is too long", cli->pin_root);
		goto out;
	}
	if (!link.pinned) {
		cli_fail(cli, "sluice is not attached to %s (no link %s)", ifname, link.path);
		goto out;
	}
	/*
	 * Detach the link explicitly rather than only unpinning it, so that the
	 * program leaves the interface even if some process holds the link open.
	 * The pin name is this namespace's, so the link is ours to remove even
	 * if its interface has since been renamed; a link whose interface is
	 * gone is already detached.
	 */
	link_fd = bpf_obj_get(link.path);
	if (link_fd < 0) {
		cli_fail(cli, "failed to detach from %s: cannot open %s: %s", ifname, link.path,
			 state_strerror(errno));
		goto out;
	}
	if (bpf_link_detach(link_fd) && errno != ENOLINK) {
		cli_fail(cli, "failed to detach from %s: %s", ifname, state_strerror(errno));
		close(link_fd);
		goto out;
	}
	close(link_fd);
	if (unlink(link.path)) {
		cli_fail(cli, "detached from %s but cannot remove %s: %s", ifname, link.path,
			 strerror(errno));
		goto out;
	}
	if (cli->json)
		cli_print_json(json_pack("{s:o, s:b}", "interface", cli_json_text(ifname),
					 "detached", 1));
	else if (link.ifindex && if_nametoindex(ifname) != link.ifindex)
		printf("detached from %s (now %s)\n", ifname, current_ifname(link.ifindex));
	else
		printf("detached from %s\n", ifname);
	ret = 0;
out:
	close(lock_fd);
	return ret;
}

/* One pinned link, as status reports it, from its pin name "link_IFACE[@TAG]". */
static json_t *attachment_json(const char *root, const char *pin_name, const char *here_tag)
{
	char ifname[IF_NAMESIZE + NETNS_TAG_LEN + 1], path[PATH_MAX], current[IF_NAMESIZE];
	const char *tag = "";
	struct pinned_link link;
	char *at;
	bool here;

	snprintf(ifname, sizeof(ifname), "%s", pin_name + strlen(SLUICE_LINK_PREFIX));
	at = strchr(ifname, '@');
	if (at) {
		*at = '\0';
		tag = at + 1;
	}
	if (state_path(path, sizeof(path), root, pin_name))
		return NULL;
	read_link(path, &link);
	if (link.error)
		return json_pack("{s:o, s:s, s:b, s:s}", "interface", cli_json_text(ifname), "netns",
				 tag[0] ? tag : "host", "attached", 0, "problem",
				 state_strerror(link.error));
	/* Pinned from this namespace: the link follows its interface through renames. */
	here = strcmp(tag, here_tag) == 0 && link.ifindex &&
	       if_indextoname(link.ifindex, current) && link_is_on(&link, link.ifindex);
	return json_pack("{s:o, s:o, s:s, s:i, s:b, s:b, s:s, s:i, s:i}", "interface",
			 cli_json_text(ifname), "current_interface",
			 here ? cli_json_text(current) : json_null(), "netns",
			 tag[0] ? tag : "host", "ifindex", (int)link.ifindex, "attached",
			 link.ifindex != 0, "in_this_netns", here, "mode",
			 here ? attach_mode_name(link.ifindex) : "unknown", "prog_id",
			 (int)link.prog_id, "link_id", (int)link.link_id);
}

/* Every pinned link, or NULL with errno when the pin root cannot be read. */
static json_t *collect_attachments(const char *root)
{
	char here_tag[NETNS_TAG_LEN];
	struct dirent *entry;
	json_t *list;
	DIR *dir = opendir(root);

	if (!dir)
		return errno == ENOENT ? json_array() : NULL;
	netns_tag(here_tag);
	list = json_array();
	while ((entry = readdir(dir))) {
		json_t *item;

		if (strncmp(entry->d_name, SLUICE_LINK_PREFIX, strlen(SLUICE_LINK_PREFIX)))
			continue;
		item = attachment_json(root, entry->d_name, here_tag);
		if (item)
			json_array_append_new(list, item);
	}
	closedir(dir);
	return list;
}

/* The configuration in force, in brief: the default limit and how many rules of each kind. */
static json_t *config_summary(const struct state *st)
{
	json_t *allow = list_collect(st->allow_list), *deny = list_collect(st->deny_list);
	json_t *default_limit = json_null(), *by_level = json_object(), *summary = NULL;
	struct rule_entry *entries = NULL;
	struct bpf_map_info buckets = {};
	__u32 info_len = sizeof(buckets);
	size_t levels[SLUICE_LEVELS] = {}, count = 0;
	struct rule_maps maps;

	state_rule_maps(st, &maps);
	if (!allow || !deny || rules_read(&maps, &entries, &count) ||
	    bpf_obj_get_info_by_fd(st->buckets, &buckets, &info_len))
		goto out;
	for (size_t i = 0; i < count; i++) {
		const struct sluice_rule *r = &entries[i].rule;

		levels[r->level % SLUICE_LEVELS]++;
		/* The plain per-source default: what every source gets unless told otherwise. */
		if (r->level == SLUICE_LEVEL_SOURCE && prefix_is_default(&r->prefix) && !r->proto &&
		    json_is_null(default_limit))
			default_limit = rule_json(&entries[i]);
	}
	for (int level = 0; level < SLUICE_LEVELS; level++)
		json_object_set_new(by_level, rule_level_name(level),
				    json_integer((json_int_t)levels[level]));
	summary = json_pack("{s:O, s:I, s:O, s:I, s:I, s:I}", "default_limit", default_limit,
			    "rules", (json_int_t)count, "rules_by_level", by_level,
			    "allow_prefixes", (json_int_t)json_array_size(allow), "deny_prefixes",
			    (json_int_t)json_array_size(deny), "max_sources",
			    (json_int_t)buckets.max_entries);
out:
	free(entries);
	json_decref(default_limit);
	json_decref(by_level);
	json_decref(allow);
	json_decref(deny);
	return summary;
}

static void config_summary_print(const json_t *config)
{
	const json_t *default_limit = json_object_get(config, "default_limit");
	const json_t *by_level = json_object_get(config, "rules_by_level");

	if (json_is_null(default_limit))
		printf("default:     no limit per source\n");
	else if (json_is_true(json_object_get(default_limit, "unlimited")))
		printf("default:     unlimited\n");
	else
		printf("default:     %lldpps per source, burst %lld\n",
		       json_integer_value(json_object_get(default_limit, "rate")),
		       json_integer_value(json_object_get(default_limit, "burst")));
	printf("rules:       %lld (source %lld, prefix %lld, port %lld, global %lld)\n",
	       json_integer_value(json_object_get(config, "rules")),
	       json_integer_value(json_object_get(by_level, "source")),
	       json_integer_value(json_object_get(by_level, "prefix")),
	       json_integer_value(json_object_get(by_level, "port")),
	       json_integer_value(json_object_get(by_level, "global")));
	printf("allow list:  %lld prefixes\n",
	       json_integer_value(json_object_get(config, "allow_prefixes")));
	printf("deny list:   %lld prefixes\n",
	       json_integer_value(json_object_get(config, "deny_prefixes")));
	printf("sources:     up to %lld tracked (--max-sources of a new pin root)\n",
	       json_integer_value(json_object_get(config, "max_sources")));
}

/*
 * The fleet (`sluice run --redis`): whether this host is in sync, with how
 * many hosts, when it last heard from Redis. null without a controller that
 * runs with --redis.
 */
static json_t *fleet_json(const struct state *st, bool in_charge)
{
	struct sluice_fleet_report r;
	__u32 zero = 0;
	__u64 now = controller_now_ns();

	if (!in_charge || bpf_map_lookup_elem(st->fleet_report, &zero, &r) || !r.on)
		return json_null();
	r.redis[sizeof(r.redis) - 1] = '\0';
	return json_pack("{s:s, s:b, s:i, s:i, s:s, s:o, s:f, s:I, s:I}", "redis", r.redis,
			 "in_sync", r.member, "hosts", r.hosts, "rules", r.rules, "fallback",
			 fleet_fallback_name((enum fleet_fallback)r.fallback), "last_sync_ago_s",
			 r.last_sync_ns ? json_real(now > r.last_sync_ns ?
						   (double)(now - r.last_sync_ns) / 1e9 : 0) :
					  json_null(),
			 "sync_latency_ms", (double)r.latency_ns / 1e6, "syncs", (json_int_t)r.syncs,
			 "failures", (json_int_t)r.failures);
}

/*
 * What the controller is doing: the shed level and settings, and each
 * service with whether it is refusing. Levels and refusals hold only while
 * a controller runs, so without one they show as none.
 */
static json_t *decisions_summary(const struct state *st, bool in_charge)
{
	struct service_entry services[SLUICE_MAX_SERVICES];
	struct sluice_shed_config cfg;
	json_t *shed, *level, *list;
	size_t count;

	if (shed_config_read(st->shed_config, &cfg) || services_read(st, services, &count))
		return NULL;
	level = shed_level_json(st->shed, in_charge);
	if (!level)
		return NULL;
	shed = shed_config_json(&cfg);
	json_object_set_new(shed, "level", json_incref(json_object_get(level, "level")));
	json_decref(level);
	list = json_array();
	for (size_t i = 0; i < count; i++)
		json_array_append_new(list, service_json(&services[i], in_charge));
	return json_pack("{s:o, s:o, s:o}", "shed", shed, "services", list, "fleet",
			 fleet_json(st, in_charge));
}

static void fleet_print(const json_t *fleet)
{
	const json_t *ago = json_object_get(fleet, "last_sync_ago_s");
	char last[64] = "never synced";

	if (json_is_real(ago))
		snprintf(last, sizeof(last), "last sync %.0f ms ago", json_real_value(ago) * 1000);
	if (json_is_true(json_object_get(fleet, "in_sync")))
		printf("fleet:       in sync through %s: %lld hosts, %lld fleet rules; %s (round "
		       "trip %.2f ms)\n", json_string_value(json_object_get(fleet, "redis")),
		       json_integer_value(json_object_get(fleet, "hosts")),
		       json_integer_value(json_object_get(fleet, "rules")), last,
		       json_real_value(json_object_get(fleet, "sync_latency_ms")));
	else
		printf("fleet:       OUT OF SYNC with %s: each host holds %s; %s\n",
		       json_string_value(json_object_get(fleet, "redis")),
		       strcmp(json_string_value(json_object_get(fleet, "fallback")), "local") == 0 ?
			       "the whole rate" : "its share", last);
}

static void decisions_print(const json_t *decisions)
{
	const json_t *shed = json_object_get(decisions, "shed"), *svc;
	size_t i;

	if (!json_is_true(json_object_get(shed, "on")))
		printf("shedding:    off\n");
	else
		printf("shedding:    level %lld of %zu (up at %lld%% pressure, down at %lld%%)\n",
		       json_integer_value(json_object_get(shed, "level")),
		       json_array_size(json_object_get(shed, "levels")),
		       json_integer_value(json_object_get(shed, "enter_pct")),
		       json_integer_value(json_object_get(shed, "exit_pct")));
	if (json_is_object(json_object_get(decisions, "fleet")))
		fleet_print(json_object_get(decisions, "fleet"));
	json_array_foreach(json_object_get(decisions, "services"), i, svc)
		printf("service:     %s (tcp port %lld): %s, %lld refused\n",
		       json_string_value(json_object_get(svc, "name")),
		       json_integer_value(json_object_get(svc, "port")),
		       json_string_value(json_object_get(svc, "now")),
		       json_integer_value(json_object_get(svc, "refused")));
}

int cmd_status(const struct cli *cli, int argc, char **argv)
{
	char err[SLUICE_ERR_LEN];
	json_t *doc, *attachments, *config = NULL, *controller = NULL, *decisions = NULL;
	struct state st;
	size_t i;
	json_t *item;

	(void)argv;
	if (argc > 1)
		return cli_fail(cli, "status takes no arguments");
	attachments = collect_attachments(cli->pin_root);
	if (!attachments || state_exists(cli->pin_root) < 0)
		return cli_fail(cli, "cannot read pin root %s: %s", cli->pin_root,
				state_strerror(errno));
	if (state_open(&st, cli->pin_root, STATE_READ, err, sizeof(err)) == 0) {
		config = config_summary(&st);
		controller = controller_status(st.controller);
		if (controller)
			decisions = decisions_summary(
				&st, json_is_true(json_object_get(controller, "running")));
		state_close(&st);
		if (!config || !controller || !decisions) {
			json_decref(config);
			json_decref(controller);
			json_decref(decisions);
			json_decref(attachments);
			return cli_fail(cli, "cannot read the configuration: %s",
					state_strerror(errno));
		}
	}
	doc = json_pack("{s:s, s:o, s:b, s:o, s:o, s:o}", "pin_root", cli->pin_root, "attachments",
			attachments, "configured", config != NULL, "config",
			config ? config : json_null(), "controller",
			controller ? controller : json_null(), "decisions",
			decisions ? decisions : json_null());
	if (cli->json)
		return cli_print_json(doc);

	printf("pin root:    %s%s\n", cli->pin_root, config ? "" : " (nothing configured)");
	if (json_array_size(attachments) == 0)
		printf("attached:    nowhere\n");
	json_array_foreach(attachments, i, item) {
		const char *name = json_string_value(json_object_get(item, "interface"));
		const char *now = json_string_value(json_object_get(item, "current_interface"));
		bool renamed = now && strcmp(name, now) != 0;

		if (json_is_true(json_object_get(item, "in_this_netns")))
			printf("attached:    %s%s%s (%s mode, ifindex %lld, program %lld)\n", name,
			       renamed ? ", now named " : "", renamed ? now : "",
			       json_string_value(json_object_get(item, "mode")),
			       json_integer_value(json_object_get(item, "ifindex")),
			       json_integer_value(json_object_get(item, "prog_id")));
		else if (json_is_true(json_object_get(item, "attached")))
			printf("attached:    %s in network namespace %s (program %lld)\n",
			       json_string_value(json_object_get(item, "interface")),
			       json_string_value(json_object_get(item, "netns")),
			       json_integer_value(json_object_get(item, "prog_id")));
		else
			printf("stale link:  %s (interface gone; 'sluice detach %s' removes it)\n",
			       json_string_value(json_object_get(item, "interface")),
			       json_string_value(json_object_get(item, "interface")));
	}
	if (config)
		config_summary_print(config);
	if (controller)
		controller_status_print(controller);
	if (decisions)
		decisions_print(decisions);
	json_decref(doc);
	return 0;
}
