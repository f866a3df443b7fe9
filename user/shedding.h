/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Load shedding, as the controller decides it: the shed level follows
 * pressure with hysteresis and dwell times, so it never flaps. Pure
 * arithmetic on pressure and time, so tests drive it with a fake clock.
 * struct sluice_shed_config (include/sluice.h) holds the settings.
 */
#ifndef SLUICE_SHEDDING_H
#define SLUICE_SHEDDING_H

#include <stdbool.h>
#include <jansson.h>
#include <linux/types.h>

#include "sluice.h"

/* Where the level stands, and since when pressure has been past a threshold. */
struct shed_state {
	unsigned int level;	/* 0: not shedding */
	__u64 above_since;	/* pressure at or above enter since then; 0: it is not */
	__u64 below_since;	/* at or below exit since then; 0: it is not */
	__u64 changed_ns;	/* when the level last moved */
};

/* The settings a fresh pin root has (a zeroed map value reads as these). */
void shed_config_defaults(struct sluice_shed_config *cfg);
/* The settings as stored, or the defaults where none were ever set. */
void shed_config_effective(const struct sluice_shed_config *stored, struct sluice_shed_config *cfg);
/* Checks settings: thresholds in order, shares in 0..100, critical never shed. */
int shed_config_check(const struct sluice_shed_config *cfg, char *err, size_t err_len);

/*
 * Takes a pressure reading (percent) at now_ns. Returns true when the level
 * moved. The level goes up one step after pressure has stayed at or above
 * enter_pct for enter_dwell_ms, and down one after it has stayed at or below
 * exit_pct for exit_dwell_ms; each step needs a fresh dwell. Between the
 * thresholds it holds.
 */
bool shed_update(struct shed_state *s, const struct sluice_shed_config *cfg, double pressure_pct,
		 __u64 now_ns);

/* The data path's view of a level: what share of each class to drop. */
void shed_level_map(const struct sluice_shed_config *cfg, unsigned int level,
		    struct sluice_shed *out);

/* The settings in the shed_config map (user/shed.c), or the defaults. 0, or -1 with errno. */
int shed_config_read(int shed_config_fd, struct sluice_shed_config *cfg);
json_t *shed_config_json(const struct sluice_shed_config *cfg);
void shed_config_print(const struct sluice_shed_config *cfg);
/* {"level": N, "set_by_controller": M}: the level that holds now, and the one last set. */
json_t *shed_level_json(int shed_fd, bool in_charge);

#endif /* SLUICE_SHEDDING_H */
