// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The config map's flags as sluice_xdp reads them: a fresh (zero) config
 * looks every list up; a list marked empty is skipped, which is why every
 * sluice command derives the marks from the lists (tests/e2e/cli.sh checks
 * that side).
 */
#include "packets.h"

#define T0_NS (1000ULL * 1000000000ULL)
#define SOURCE "198.18.0.1"

/* One loaded program for the whole group: group_setup() and group_teardown(). */
SLUICE_FIXTURE_GROUP(fx);

/* Every test: SOURCE on both lists, under a default limit with room. */
static int test_setup(void **state)
{
	(void)state;
	check_failures = 0;
	if (fx.skip_reason)
		return 0;
	if (sluice_fixture_reset(&fx, T0_NS) ||
	    rule_add(&fx, "default --rate 1000 --burst 100") < 0 ||
	    list_add(fx.skel->maps.deny_list, SOURCE) || list_add(fx.skel->maps.allow_list, SOURCE)) {
		print_message("# could not preset the maps\n");
		return -1;
	}
	return 0;
}

/* Sends one frame from SOURCE and checks its verdict and the outcome it was counted under. */
static void expect_outcome(__u32 flags, __u32 verdict_want, enum sluice_outcome want)
{
	struct pkt_spec spec = { .l3 = PKT_IPV4, .src = SOURCE, .dst = "198.19.0.2",
				 .l4 = IPPROTO_UDP, .sport = 40000, .dport = 53 };
	struct sluice_counter c[SLUICE_OUTCOME_COUNT];
	__u32 verdict = ~0u;
	struct pkt pkt;

	ASSERT_OK(config_write(fx.skel->maps.config, flags), "write config flags %#x", flags);
	ASSERT_OK(pkt_build(&spec, &pkt), "build a frame");
	ASSERT_OK(xdp_run(fx.skel->progs.sluice_xdp, pkt.data, pkt.len, &verdict), "test run");
	EXPECT_VERDICT(verdict, verdict_want, "verdict with config flags %#x", flags);
	ASSERT_OK(counters_read(fx.skel->maps.counters, c), "read counters");
	EXPECT_EQ(c[want].packets, 1, "outcome %s with config flags %#x", outcome_name(want), flags);
}

static void fresh_config_looks_up_every_list(void **state)
{
	(void)state;
	if (fx.skip_reason)
		skip();
	expect_outcome(0, XDP_DROP, SLUICE_DROPPED_DENIED);
	CHECKS_DONE();
}

static void deny_list_marked_empty_is_skipped(void **state)
{
	(void)state;
	if (fx.skip_reason)
		skip();
	expect_outcome(SLUICE_DENY_LIST_EMPTY, XDP_PASS, SLUICE_PASSED_ALLOWED);
	CHECKS_DONE();
}

static void both_lists_marked_empty_are_skipped(void **state)
{
	(void)state;
	if (fx.skip_reason)
		skip();
	expect_outcome(SLUICE_DENY_LIST_EMPTY | SLUICE_ALLOW_LIST_EMPTY, XDP_PASS, SLUICE_PASSED);
	CHECKS_DONE();
}

static void allow_list_marked_empty_leaves_deny_in_force(void **state)
{
	(void)state;
	if (fx.skip_reason)
		skip();
	expect_outcome(SLUICE_ALLOW_LIST_EMPTY, XDP_DROP, SLUICE_DROPPED_DENIED);
	CHECKS_DONE();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(fresh_config_looks_up_every_list, test_setup),
		cmocka_unit_test_setup(deny_list_marked_empty_is_skipped, test_setup),
		cmocka_unit_test_setup(both_lists_marked_empty_are_skipped, test_setup),
		cmocka_unit_test_setup(allow_list_marked_empty_leaves_deny_in_force, test_setup),
	};

	return cmocka_run_group_tests_name("config", tests, group_setup, group_teardown);
}
