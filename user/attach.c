// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * attach, detach, status. The XDP attachment is a bpf_link pinned as
 * <pin root>/link_<IFACE>, so the limiter keeps running after the CLI exits
 * and detaching is removing that link.
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <linux/if_link.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "cli.h"
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

static int link_path(char *buf, size_t len, const char *root, const char *ifname)
{
	char name[IF_NAMESIZE + sizeof(SLUICE_LINK_PREFIX)];

	snprintf(name, sizeof(name), "%s%s", SLUICE_LINK_PREFIX, ifname);
	return state_path(buf, len, root, name);
}

/* The interface a pinned XDP link is attached to: 0 once its interface is gone. */
static int link_ifindex(int link_fd, __u32 *ifindex, __u32 *prog_id, __u32 *link_id)
{
	struct bpf_link_info info = {};
	__u32 len = sizeof(info);

	if (bpf_obj_get_info_by_fd(link_fd, &info, &len))
		return -1;
	if (info.type != BPF_LINK_TYPE_XDP) {
		errno = EINVAL;
		return -1;
	}
	*ifindex = info.xdp.ifindex;
	if (prog_id)
		*prog_id = info.prog_id;
	if (link_id)
		*link_id = info.id;
	return 0;
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
				"failed to attach to %s: it already has an XDP program that "
				"sluice did not attach (see 'ip link show %s')",
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
		return cli_print_json(json_pack("{s:s, s:i, s:s, s:b}", "interface", ifname,
						"ifindex", (int)ifindex, "mode", mode,
						"already_attached", already));
	printf("%s %s (%s mode)\n", already ? "already attached to" : "attached to", ifname,
	       mode);
	return 0;
}

int cmd_attach(const struct cli *cli, int argc, char **argv)
{
	static const struct option options[] = {
		{ "mode", required_argument, NULL, 'm' },
		{},
	};
	const char *mode = "auto", *ifname;
	__u32 mode_flags = 0, ifindex, pinned_ifindex;
	char err[SLUICE_ERR_LEN], path[PATH_MAX];
	struct sluice_bpf *skel = NULL;
	struct state st;
	bool known_mode = false;
	int opt, link_fd, ret = 1;

	while ((opt = cli_getopt(cli, "attach", argc, argv, "m:", options)) != -1) {
		if (opt == -2)
			return 1;
		mode = optarg;
	}
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

	if (state_open(&st, cli->pin_root, STATE_WRITE, err, sizeof(err)))
		return cli_fail(cli, "failed to attach to %s: %s", ifname, err);
	if (link_path(path, sizeof(path), cli->pin_root, ifname)) {
		cli_fail(cli, "pin root path %s is too long", cli->pin_root);
		goto out;
	}

	link_fd = bpf_obj_get(path);
	if (link_fd >= 0) {
		bool attached_here = !link_ifindex(link_fd, &pinned_ifindex, NULL, NULL) &&
				     pinned_ifindex == ifindex;

		close(link_fd);
		if (attached_here) {
			ret = report_attached(cli, ifname, ifindex, true);
			goto out;
		}
		/* The interface went away or was replaced: the old link is dead. */
		unlink(path);
	}

	if (state_load_object(cli->pin_root, true, &skel, err, sizeof(err))) {
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
	if (bpf_obj_pin(link_fd, path)) {
		/* Closing the only reference detaches: nothing is left half-done. */
		cli_fail(cli, "failed to attach to %s: cannot pin its link at %s: %s", ifname,
			 path, state_strerror(errno));
		close(link_fd);
		goto out;
	}
	close(link_fd);
	ret = report_attached(cli, ifname, ifindex, false);
out:
	sluice_bpf__destroy(skel);
	state_close(&st);
	return ret;
}

int cmd_detach(const struct cli *cli, int argc, char **argv)
{
	char err[SLUICE_ERR_LEN], path[PATH_MAX];
	const char *ifname;
	int lock_fd, link_fd, ret = 1;

	if (argc != 2 || argv[1][0] == '-')
		return cli_fail(cli, "detach takes one interface: sluice detach IFACE");
	ifname = argv[1];
	if (strlen(ifname) >= IF_NAMESIZE)
		return cli_fail(cli, "failed to detach from %s: no such interface", ifname);
	if (link_path(path, sizeof(path), cli->pin_root, ifname))
		return cli_fail(cli, "pin root path %s is too long", cli->pin_root);

	if (access(path, F_OK)) {
		if (errno == ENOENT)
			return cli_fail(cli, "sluice is not attached to %s (no link %s)", ifname,
					path);
		return cli_fail(cli, "failed to detach from %s: %s", ifname,
				state_strerror(errno));
	}
	lock_fd = state_lock(cli->pin_root, err, sizeof(err));
	if (lock_fd < 0)
		return cli_fail(cli, "failed to detach from %s: %s", ifname, err);

	/*
	 * Detach the link explicitly rather than only unpinning it, so that the
	 * program leaves the interface even if some process holds the link open.
	 * A link whose interface is gone is already detached.
	 */
	link_fd = bpf_obj_get(path);
	if (link_fd < 0) {
		cli_fail(cli, "failed to detach from %s: cannot open %s: %s", ifname, path,
			 state_strerror(errno));
		goto out;
	}
	if (bpf_link_detach(link_fd) && errno != ENOLINK) {
		cli_fail(cli, "failed to detach from %s: %s", ifname, state_strerror(errno));
		close(link_fd);
		goto out;
	}
	close(link_fd);
	if (unlink(path)) {
		cli_fail(cli, "detached from %s but cannot remove %s: %s", ifname, path,
			 strerror(errno));
		goto out;
	}
	if (cli->json)
		cli_print_json(json_pack("{s:s, s:b}", "interface", ifname, "detached", 1));
	else
		printf("detached from %s\n", ifname);
	ret = 0;
out:
	close(lock_fd);
	return ret;
}

/*
 * One pinned link, as status reports it. The link knows only an ifindex, and
 * that is per network namespace: when the pinned name does not resolve to it
 * here, the link was made from another namespace and its mode is unknown.
 */
static json_t *attachment_json(const char *root, const char *pin_name)
{
	const char *ifname = pin_name + strlen(SLUICE_LINK_PREFIX);
	__u32 ifindex = 0, prog_id = 0, link_id = 0;
	char path[PATH_MAX];
	bool here;
	int fd;

	if (state_path(path, sizeof(path), root, pin_name))
		return NULL;
	fd = bpf_obj_get(path);
	if (fd < 0 || link_ifindex(fd, &ifindex, &prog_id, &link_id)) {
		if (fd >= 0)
			close(fd);
		return json_pack("{s:s, s:b, s:s}", "interface", ifname, "attached", 0, "problem",
				 state_strerror(errno));
	}
	close(fd);
	here = ifindex && if_nametoindex(ifname) == ifindex;
	return json_pack("{s:s, s:i, s:b, s:b, s:s, s:i, s:i}", "interface", ifname, "ifindex",
			 (int)ifindex, "attached", ifindex != 0, "in_this_netns", here, "mode",
			 here ? attach_mode_name(ifindex) : "unknown", "prog_id", (int)prog_id,
			 "link_id", (int)link_id);
}

static json_t *collect_attachments(const char *root)
{
	json_t *list = json_array();
	struct dirent *entry;
	DIR *dir = opendir(root);

	if (!dir)
		return list;
	while ((entry = readdir(dir))) {
		json_t *item;

		if (strncmp(entry->d_name, SLUICE_LINK_PREFIX, strlen(SLUICE_LINK_PREFIX)))
			continue;
		item = attachment_json(root, entry->d_name);
		if (item)
			json_array_append_new(list, item);
	}
	closedir(dir);
	return list;
}

/* The configuration in force, in brief: the default limit and how many rules of each kind. */
static json_t *config_summary(const struct state *st)
{
	json_t *limits = limits_collect(st->limits), *default_limit = json_null();
	size_t overrides = json_array_size(limits), i;
	json_t *limit;

	json_array_foreach(limits, i, limit) {
		if (strcmp(json_string_value(json_object_get(limit, "prefix")), "default") == 0) {
			default_limit = json_incref(limit);
			overrides--;
		}
	}
	json_decref(limits);
	return json_pack("{s:o, s:I, s:I, s:I}", "default_limit", default_limit,
			 "limit_overrides", (json_int_t)overrides, "allow_prefixes",
			 (json_int_t)list_count(st->allow_list), "deny_prefixes",
			 (json_int_t)list_count(st->deny_list));
}

static void config_summary_print(const json_t *config)
{
	const json_t *default_limit = json_object_get(config, "default_limit");

	if (json_is_null(default_limit))
		printf("default:     no limit\n");
	else
		printf("default:     %s\n", limit_describe(default_limit));
	printf("overrides:   %lld prefixes\n",
	       json_integer_value(json_object_get(config, "limit_overrides")));
	printf("allow list:  %lld prefixes\n",
	       json_integer_value(json_object_get(config, "allow_prefixes")));
	printf("deny list:   %lld prefixes\n",
	       json_integer_value(json_object_get(config, "deny_prefixes")));
}

int cmd_status(const struct cli *cli, int argc, char **argv)
{
	char err[SLUICE_ERR_LEN];
	json_t *doc, *attachments, *config = NULL;
	struct state st;
	size_t i;
	json_t *item;

	(void)argv;
	if (argc > 1)
		return cli_fail(cli, "status takes no arguments");
	attachments = collect_attachments(cli->pin_root);
	if (state_open(&st, cli->pin_root, STATE_READ, err, sizeof(err)) == 0) {
		config = config_summary(&st);
		state_close(&st);
	}
	doc = json_pack("{s:s, s:o, s:b, s:o}", "pin_root", cli->pin_root, "attachments",
			attachments, "configured", config != NULL, "config",
			config ? config : json_null());
	if (cli->json)
		return cli_print_json(doc);

	printf("pin root:    %s%s\n", cli->pin_root, config ? "" : " (nothing configured)");
	if (json_array_size(attachments) == 0)
		printf("attached:    nowhere\n");
	json_array_foreach(attachments, i, item) {
		if (json_is_true(json_object_get(item, "attached")))
			printf("attached:    %s (%s mode, ifindex %lld, program %lld)%s\n",
			       json_string_value(json_object_get(item, "interface")),
			       json_string_value(json_object_get(item, "mode")),
			       json_integer_value(json_object_get(item, "ifindex")),
			       json_integer_value(json_object_get(item, "prog_id")),
			       json_is_true(json_object_get(item, "in_this_netns"))
				       ? ""
				       : ", in another network namespace");
		else
			printf("stale link:  %s (interface gone; 'sluice detach %s' removes it)\n",
			       json_string_value(json_object_get(item, "interface")),
			       json_string_value(json_object_get(item, "interface")));
	}
	if (config)
		config_summary_print(config);
	json_decref(doc);
	return 0;
}
