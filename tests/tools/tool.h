/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* What the traffic tools share: a monotonic clock and a stop flag for signals. */
#ifndef SLUICE_TOOL_H
#define SLUICE_TOOL_H

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#define NS_PER_SEC 1000000000LL
#define MAX_SECONDS 3600.0	/* no tool runs longer */

/* Set by SIGINT and SIGTERM; the tools' loops end on it. */
static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static inline int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * NS_PER_SEC + ts.tv_nsec;
}

#endif /* SLUICE_TOOL_H */
