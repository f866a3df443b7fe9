// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* The shed level's hysteresis and what each level drops (user/shedding.h). */
#include <stdio.h>
#include <string.h>

#include "parse.h"
#include "shedding.h"

#define MS 1000000ull

/*
 * Low goes first, all of it before normal is touched: traffic no classed
 * rule matches is normal, so the first levels shed only what an operator
 * marked low. High only at the last level; critical never.
 */
static const __u8 default_shares[SLUICE_MAX_SHED_LEVELS][SLUICE_CLASSES] = {
	/* low, normal, high, critical */
	{ 50, 0, 0, 0 },
	{ 100, 0, 0, 0 },
	{ 100, 25, 0, 0 },
	{ 100, 50, 10, 0 },
};

void shed_config_defaults(struct sluice_shed_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->enter_pct = 90;
	cfg->exit_pct = 70;
	/* A second: a burst of CPU work (a compile, a backup) does not shed at once. */
	cfg->enter_dwell_ms = 1000;
	cfg->exit_dwell_ms = 2000;
	cfg->levels = SLUICE_MAX_SHED_LEVELS;
	memcpy(cfg->share_pct, default_shares, sizeof(default_shares));
}

void shed_config_effective(const struct sluice_shed_config *stored, struct sluice_shed_config *cfg)
{
	/* A stored config always has levels: `sluice shed set` starts from the defaults. */
	if (stored->levels)
		*cfg = *stored;
	else
		shed_config_defaults(cfg);
}

int shed_config_check(const struct sluice_shed_config *cfg, char *err, size_t err_len)
{
	if (cfg->enter_pct < 1 || cfg->enter_pct > 1000) {
		snprintf(err, err_len, "the enter threshold (%u%%) must be from 1%% to 1000%%",
			 cfg->enter_pct);
		return -1;
	}
	if (cfg->exit_pct >= cfg->enter_pct) {
		snprintf(err, err_len,
			 "the exit threshold (%u%%) must be below the enter threshold (%u%%)",
			 cfg->exit_pct, cfg->enter_pct);
		return -1;
	}
	if (cfg->levels < 1 || cfg->levels > SLUICE_MAX_SHED_LEVELS) {
		snprintf(err, err_len, "levels must be from 1 to %d", SLUICE_MAX_SHED_LEVELS);
		return -1;
	}
	for (unsigned int l = 0; l < SLUICE_MAX_SHED_LEVELS; l++) {
		for (unsigned int c = 0; c < SLUICE_CLASSES; c++) {
			if (cfg->share_pct[l][c] > 100) {
				snprintf(err, err_len, "level %u: share of %s over 100%%", l + 1,
					 class_name(c));
				return -1;
			}
		}
		if (cfg->share_pct[l][SLUICE_CLASS_CRITICAL]) {
			snprintf(err, err_len, "level %u: critical traffic is never shed", l + 1);
			return -1;
		}
	}
	return 0;
}

bool shed_update(struct shed_state *s, const struct sluice_shed_config *cfg, double pressure_pct,
		 __u64 now_ns)
{
	unsigned int before = s->level;

	if (cfg->off) {
		s->level = 0;
		s->above_since = s->below_since = 0;
	} else if (s->level > cfg->levels) {
		/* Fewer levels were configured: come down to the highest at once. */
		s->level = cfg->levels;
	} else if (pressure_pct >= cfg->enter_pct) {
		s->below_since = 0;
		if (!s->above_since)
			s->above_since = now_ns;
		if (s->level < cfg->levels &&
		    now_ns - s->above_since >= (__u64)cfg->enter_dwell_ms * MS) {
			s->level++;
			s->above_since = now_ns;	/* the next step needs a dwell of its own */
		}
	} else if (pressure_pct <= cfg->exit_pct) {
		s->above_since = 0;
		if (!s->below_since)
			s->below_since = now_ns;
		if (s->level > 0 && now_ns - s->below_since >= (__u64)cfg->exit_dwell_ms * MS) {
			s->level--;
			s->below_since = now_ns;
		}
	} else {
		/* Between the thresholds: hold, and start any dwell afresh. */
		s->above_since = s->below_since = 0;
	}
	if (s->level == before)
		return false;
	s->changed_ns = now_ns;
	return true;
}

void shed_level_map(const struct sluice_shed_config *cfg, unsigned int level,
		    struct sluice_shed *out)
{
	memset(out, 0, sizeof(*out));
	if (level == 0 || level > cfg->levels || level > SLUICE_MAX_SHED_LEVELS)
		return;
	out->level = level;
	for (unsigned int c = 0; c < SLUICE_CLASS_CRITICAL; c++)
		out->drop_below[c] = SLUICE_SHARE_ALL * cfg->share_pct[level - 1][c] / 100;
}
