/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The controller as others see it: `sluice status` asks whether one runs
 * and what it is doing, from the record it stamps on every tick
 * (user/heartbeat.c; the controller itself is user/controller.c).
 */
#ifndef SLUICE_CONTROLLER_H
#define SLUICE_CONTROLLER_H

#include <stdbool.h>
#include <jansson.h>
#include <linux/types.h>

#include "sluice.h"

/* CLOCK_MONOTONIC in nanoseconds: the clock of heartbeats, and of bpf_ktime_get_ns(). */
__u64 controller_now_ns(void);
/* Reads the controller record from its map. 0, or -1 with errno. */
int controller_record_read(int controller_fd, struct sluice_controller *rec);

/* What the controller record says now. */
enum controller_health {
	CONTROLLER_NEVER_RAN,	/* no controller has run on this pin root */
	CONTROLLER_STOPPED,	/* one stopped cleanly */
	CONTROLLER_RUNNING,	/* its heartbeat is within the lease */
	CONTROLLER_HUNG,	/* its process lives, but its heartbeat is older than the lease */
	CONTROLLER_DIED,	/* its process is gone without stopping cleanly */
};

/* The health the record shows at `now_ns` (CLOCK_MONOTONIC). */
enum controller_health controller_health(const struct sluice_controller *rec, __u64 now_ns);
const char *controller_health_name(enum controller_health health);
/* Whether a controller is in charge now: its decisions hold. */
bool controller_running(int controller_fd);

/*
 * The controller of an open state as `status --json` shows it:
 * {"state": "running", "pid": ..., "interval_ms": ..., ...}; NULL on failure.
 */
json_t *controller_status(int controller_fd);
/* Prints controller_status()'s document as status's lines. */
void controller_status_print(const json_t *status);

#endif /* SLUICE_CONTROLLER_H */
