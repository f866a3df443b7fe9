// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "counters.h"

#define SLUICE_OUTCOME_KEY(name, key, drops, help) key,
const char *const outcome_keys[SLUICE_OUTCOME_COUNT] = { SLUICE_OUTCOMES(SLUICE_OUTCOME_KEY) };
#undef SLUICE_OUTCOME_KEY
#define SLUICE_OUTCOME_HELP(name, key, drops, help) help,
const char *const outcome_help[SLUICE_OUTCOME_COUNT] = { SLUICE_OUTCOMES(SLUICE_OUTCOME_HELP) };
#undef SLUICE_OUTCOME_HELP

int totals_read(int counters_fd, struct totals *t)
{
	int cpus = libbpf_num_possible_cpus();
	struct sluice_counter *per_cpu;

	if (cpus < 0) {
		errno = -cpus;
		return -1;
	}
	per_cpu = calloc(cpus, sizeof(*per_cpu));
	if (!per_cpu)
		return -1;
	memset(t, 0, sizeof(*t));
	for (__u32 key = 0; key < SLUICE_OUTCOME_COUNT; key++) {
		struct sluice_counter *sum = &t->outcome[key];
		struct sluice_counter *side;

		if (bpf_map_lookup_elem(counters_fd, &key, per_cpu)) {
			free(per_cpu);
			return -1;
		}
		for (int cpu = 0; cpu < cpus; cpu++) {
			sum->packets += per_cpu[cpu].packets;
			sum->bytes += per_cpu[cpu].bytes;
		}
		side = sluice_outcome_drops(key) ? &t->dropped : &t->passed;
		side->packets += sum->packets;
		side->bytes += sum->bytes;
	}
	free(per_cpu);
	return 0;
}

