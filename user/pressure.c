// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* CPU time from /proc/stat (user/pressure.h). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pressure.h"

/* One line's fields after its name: "user nice system idle iowait irq softirq steal ...". */
static int cpu_line_parse(const char *fields, struct cpu_times *out)
{
	unsigned long long user, nice, system, idle, iowait, irq, softirq, steal;

	if (sscanf(fields, "%llu %llu %llu %llu %llu %llu %llu %llu", &user, &nice, &system, &idle,
		   &iowait, &irq, &softirq, &steal) != 8)
		return -1;
	out->total = user + nice + system + idle + iowait + irq + softirq + steal;
	out->idle = idle + iowait;
	out->softirq = softirq;
	return 0;
}

int cpu_times_parse(const char *text, struct cpu_times *out)
{
	/* The first line sums all CPUs. */
	if (strncmp(text, "cpu ", 4) != 0)
		return -1;
	return cpu_line_parse(text + 4, out);
}

unsigned int cpu_times_parse_each(const char *text, struct cpu_times *per_cpu,
				  unsigned int max_cpus)
{
	unsigned int end = 0;

	for (const char *line = text; line && *line; line = strchr(line, '\n')) {
		char *after;
		unsigned long n;

		if (*line == '\n')
			line++;
		/* The cpuN lines follow the aggregate; the first other line ends them. */
		if (strncmp(line, "cpu", 3) != 0)
			break;
		if (line[3] == ' ')
			continue;
		n = strtoul(line + 3, &after, 10);
		if (after == line + 3 || *after != ' ' || n >= max_cpus ||
		    cpu_line_parse(after, &per_cpu[n]))
			continue;
		if (n + 1 > end)
			end = (unsigned int)n + 1;
	}
	return end;
}

/* /proc/stat of up to a few thousand CPUs; read whole, each tick. */
static char stat_buf[1 << 18];

static int stat_read(int fd)
{
	ssize_t n = pread(fd, stat_buf, sizeof(stat_buf) - 1, 0);

	if (n <= 0) {
		if (n == 0)
			errno = EIO;
		return -1;
	}
	stat_buf[n] = '\0';
	return 0;
}

int cpu_times_read(int fd, struct cpu_times *out)
{
	if (stat_read(fd))
		return -1;
	if (cpu_times_parse(stat_buf, out)) {
		errno = EPROTO;
		return -1;
	}
	return 0;
}

int cpu_times_read_each(int fd, struct cpu_times *out, struct cpu_times *per_cpu,
			unsigned int max_cpus, unsigned int *cpus)
{
	if (cpu_times_read(fd, out))
		return -1;
	*cpus = cpu_times_parse_each(stat_buf, per_cpu, max_cpus);
	return 0;
}
