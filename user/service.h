/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* The protected services (user/service.c), as the CLI and the controller read them. */
#ifndef SLUICE_SERVICE_H
#define SLUICE_SERVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <jansson.h>

#include "sluice.h"

struct state;

struct service_entry {
	__u32 slot;
	struct sluice_service config;
	struct sluice_service_state state;
	struct sluice_counter refused;	/* new connections refused */
	struct sluice_service_flow flow;	/* admitted, ended, refused by reason */
	struct sluice_service_report report;	/* the controller's */
};

/* The services in use, by slot. 0, or -1 with errno. */
int services_read(const struct state *st, struct service_entry out[SLUICE_MAX_SERVICES],
		  size_t *count);
/* "rst", "drop" or "admit". */
const char *refuse_name(unsigned int refuse);
/* What new connections to a service meet now, in words: "admitting", "refusing: breaker open", ... */
const char *service_now(const struct service_entry *e, bool in_charge);
/* One service as `service list --json` shows it; in_charge: a controller runs. */
json_t *service_json(const struct service_entry *e, bool in_charge);

#endif /* SLUICE_SERVICE_H */
