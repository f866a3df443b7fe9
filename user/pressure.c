// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* CPU time from /proc/stat (user/pressure.h). */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "pressure.h"

int cpu_times_parse(const char *text, struct cpu_times *out)
{
	unsigned long long user, nice, system, idle, iowait, irq, softirq, steal;

	/* The first line sums all CPUs: "cpu  user nice system idle iowait irq softirq steal ...". */
	if (strncmp(text, "cpu ", 4) != 0 ||
	    sscanf(text + 4, "%llu %llu %llu %llu %llu %llu %llu %llu", &user, &nice, &system, &idle,
		   &iowait, &irq, &softirq, &steal) != 8)
		return -1;
	out->total = user + nice + system + idle + iowait + irq + softirq + steal;
	out->idle = idle + iowait;
	out->softirq = softirq;
	return 0;
}

int cpu_times_read(int fd, struct cpu_times *out)
{
	/* The aggregate line comes first; a few hundred bytes hold it. */
	char buf[512];
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);

	if (n <= 0) {
		if (n == 0)
			errno = EIO;
		return -1;
	}
	buf[n] = '\0';
	if (cpu_times_parse(buf, out)) {
		errno = EPROTO;
		return -1;
	}
	return 0;
}
