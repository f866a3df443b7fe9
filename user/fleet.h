/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Fleet-wide limits (`--scope fleet`, issue 7), the arithmetic: how much of
 * a fleet rule's budget this host may spend, from what the whole fleet has
 * spent, and which keys are worth syncing. Pure: no clock, no I/O, no
 * Redis, so tests replay exact sequences and simulate whole fleets. The
 * controller's sync (user/fleet_sync.c) feeds it and writes the local rates
 * it returns as shares the data path enforces: Redis is never on the
 * packet path.
 *
 * Budgets are per window of `window_s` seconds aligned on the wall clock:
 * every host computes the same window index, floor(unix time / window_s),
 * so hosts need nothing from each other but Redis's counter for the
 * window. On each sync a host adds what it passed since its last sync to
 * the window's counter (INCRBY answers with the fleet's total) and sets its
 * local rate for the rest of the window to its share of what remains:
 *
 *     remaining  = max(0, rate * window_s - fleet_used)
 *     local_rate = remaining / hosts / (window_s - elapsed_s)
 *
 * so a key the fleet has spent is blocked locally until its window ends.
 *
 * The error bound: over one window the fleet passes at most
 *
 *     rate * window_s  +  hosts * local_burst  +  rate * skew_s  +  late
 *
 * where local_burst is what a host's bucket holds when its rate drops
 * (each host can spend it once more after the fleet's budget is gone; a
 * share's burst scales with its rate, so late in a window, when a share is
 * fast, it can reach the rule's whole burst),
 * skew_s the clocks' disagreement (a host counts into a window early or
 * late by that much), and `late` the shares of hosts that joined during the
 * window before the others counted them (each at most its share of what
 * remained for one sync interval). Between syncs nothing is lost: a host
 * spends at most its share, and the shares add up to what remains, whatever
 * the others did meanwhile. fleet_overshoot_bound() computes the bound.
 */
#ifndef SLUICE_FLEET_H
#define SLUICE_FLEET_H

#include <stdbool.h>
#include <stddef.h>

/* What one sync knows of a fleet rule. */
struct fleet_window {
	double rate;		/* the rule's fleet-wide rate, units a second (> 0) */
	double window_s;	/* the budget window, seconds (> 0) */
	double elapsed_s;	/* how far into the window the sync is, in [0, window_s) */
	double fleet_used;	/* what the whole fleet has passed in this window, Redis's total */
	unsigned int hosts;	/* hosts active in the fleet, this one included (0 counts as 1) */
};

/*
 * The rate this host may pass for the rest of the window: its share of the
 * budget that remains, spread over the time that remains. 0 once the fleet
 * has spent the window's budget.
 */
double fleet_local_rate(const struct fleet_window *w);

/* When Redis cannot be reached (`--fleet-fallback`). */
enum fleet_fallback {
	FLEET_FALLBACK_SHARE,	/* each host its share: rate / the hosts last known */
	FLEET_FALLBACK_LOCAL,	/* each host the whole rate, as if it were alone */
};

/* The local rate while Redis is away, from the last count of hosts (0 counts as 1). */
double fleet_fallback_rate(double rate, unsigned int hosts_last_known, enum fleet_fallback mode);

/* Reads "share" or "local". 0, or -1 with one line in err. */
int fleet_fallback_parse(const char *text, enum fleet_fallback *out, char *err, size_t err_len);
const char *fleet_fallback_name(enum fleet_fallback mode);

/* The most the fleet can pass in one window beyond rate * window_s (see above). */
double fleet_overshoot_bound(double rate, unsigned int hosts, double local_burst, double skew_s,
			     double late);

/*
 * A key (a source, a prefix, a whole rule) a host could sync: its local rate
 * now and the limit it is held to. Keys of a flood of distinct sources must
 * not flood Redis: only hot keys are synced, at most a bound per sync.
 */
struct fleet_key {
	unsigned long long id;	/* the caller's: an index into its own table */
	double rate;		/* what it passes here, units a second */
	double limit;		/* its fleet-wide rate */
};

/*
 * Picks the keys worth syncing: those passing at least `min_fraction` of
 * their limit here, the hottest first by their fraction of the limit (ties
 * by id, so the choice is stable), at most `max_keys` of them. A key under
 * 1 / hosts of its limit on every host cannot put the fleet over it, so
 * min_fraction = 1 / hosts skips only keys that are safe; max_keys bounds
 * what one sync sends, whatever a flood of sources does. Writes their
 * indexes in `keys` to out[] (room for max_keys) and returns how many.
 */
size_t fleet_hot_keys(const struct fleet_key *keys, size_t count, double min_fraction,
		      size_t max_keys, size_t *out);

#endif /* SLUICE_FLEET_H */
