// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * The controller record: what `sluice run` stamps on every tick, and what
 * `sluice status` makes of it.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <bpf/bpf.h>

#include "controller.h"

__u64 controller_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (__u64)ts.tv_sec * 1000000000ull + (__u64)ts.tv_nsec;
}

int controller_record_read(int controller_fd, struct sluice_controller *rec)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(controller_fd, &zero, rec);
}

enum controller_health controller_health(const struct sluice_controller *rec, __u64 now_ns)
{
	if (!rec->pid)
		return rec->started_ns ? CONTROLLER_STOPPED : CONTROLLER_NEVER_RAN;
	/*
	 * Asked first: a killed controller's last heartbeat stays fresh for a
	 * lease. (From another PID namespace its pid means nothing here: run
	 * status where the controller runs.)
	 */
	if (kill((pid_t)rec->pid, 0) && errno == ESRCH)
		return CONTROLLER_DIED;
	if (sluice_controller_in_charge(rec, now_ns))
		return CONTROLLER_RUNNING;
	return CONTROLLER_HUNG;
}

const char *controller_health_name(enum controller_health health)
{
	static const char *const names[] = {
		[CONTROLLER_NEVER_RAN] = "never ran",
		[CONTROLLER_STOPPED] = "stopped",
		[CONTROLLER_RUNNING] = "running",
		[CONTROLLER_HUNG] = "not responding",
		[CONTROLLER_DIED] = "died",
	};

	return names[health];
}

bool controller_running(int controller_fd)
{
	struct sluice_controller rec;

	return controller_record_read(controller_fd, &rec) == 0 &&
	       controller_health(&rec, controller_now_ns()) == CONTROLLER_RUNNING;
}

json_t *controller_status(int controller_fd)
{
	struct sluice_controller rec;
	__u64 now = controller_now_ns();
	enum controller_health health;
	json_t *doc;

	if (controller_record_read(controller_fd, &rec))
		return NULL;
	health = controller_health(&rec, now);
	doc = json_pack("{s:s, s:b}", "state", controller_health_name(health), "running",
			health == CONTROLLER_RUNNING);
	if (health == CONTROLLER_NEVER_RAN || health == CONTROLLER_STOPPED)
		return doc;
	json_object_set_new(doc, "pid", json_integer(rec.pid));
	json_object_set_new(doc, "interval_ms", json_real(rec.interval_ns / 1e6));
	json_object_set_new(doc, "lease_ms", json_real(rec.lease_ns / 1e6));
	json_object_set_new(doc, "ticks", json_integer((json_int_t)rec.ticks));
	json_object_set_new(doc, "uptime_seconds", json_real((now - rec.started_ns) / 1e9));
	json_object_set_new(doc, "heartbeat_age_ms", json_real((now - rec.heartbeat_ns) / 1e6));
	return doc;
}

void controller_status_print(const json_t *status)
{
	const char *state = json_string_value(json_object_get(status, "state"));
	double age = json_real_value(json_object_get(status, "heartbeat_age_ms"));

	if (!json_object_get(status, "pid")) {
		printf("controller:  %s%s\n", state,
		       strcmp(state, "never ran") == 0 ? " ('sluice run' starts one)" : "");
		return;
	}
	if (json_is_true(json_object_get(status, "running")))
		printf("controller:  running (pid %lld, a tick every %.0fms, up %.0fs, last tick "
		       "%.0fms ago)\n",
		       json_integer_value(json_object_get(status, "pid")),
		       json_real_value(json_object_get(status, "interval_ms")),
		       json_real_value(json_object_get(status, "uptime_seconds")), age);
	else
		printf("controller:  %s (pid %lld, no heartbeat for %.1fs: its decisions %s)\n",
		       state, json_integer_value(json_object_get(status, "pid")), age / 1000,
		       age < json_real_value(json_object_get(status, "lease_ms")) ?
			       "expire within its lease" : "have expired");
}
