/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The host's CPU time from /proc/stat, for the controller's pressure: how
 * busy the CPUs are, and how much of it is softirq (where XDP and the
 * network stack run).
 */
#ifndef SLUICE_PRESSURE_H
#define SLUICE_PRESSURE_H

#include <linux/types.h>

/* Cumulative CPU time of all CPUs, in USER_HZ ticks. */
struct cpu_times {
	__u64 total;
	__u64 idle;		/* idle and iowait: time the CPUs had nothing to run */
	__u64 softirq;
};

/* Parses the aggregate "cpu " line of /proc/stat's text. 0, or -1 if it is not there. */
int cpu_times_parse(const char *stat_text, struct cpu_times *out);
/*
 * Parses the "cpuN" lines: each CPU's times at per_cpu[N], for N below
 * max_cpus. Returns one past the highest N seen (0: none).
 */
unsigned int cpu_times_parse_each(const char *stat_text, struct cpu_times *per_cpu,
				  unsigned int max_cpus);
/*
 * Reads /proc/stat through an fd kept open (pread from 0): the aggregate,
 * and with per_cpu each CPU's (*cpus: one past the highest). 0, or -1 with
 * errno.
 */
int cpu_times_read(int proc_stat_fd, struct cpu_times *out);
int cpu_times_read_each(int proc_stat_fd, struct cpu_times *out, struct cpu_times *per_cpu,
			unsigned int max_cpus, unsigned int *cpus);

#endif /* SLUICE_PRESSURE_H */
