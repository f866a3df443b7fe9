// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/* Fleet-wide limits, the arithmetic (user/fleet.h). */
#include <stdio.h>
#include <string.h>

#include "fleet.h"

double fleet_local_rate(const struct fleet_window *w)
{
	double budget = w->rate * w->window_s, remaining = budget - w->fleet_used;
	double left_s = w->window_s - w->elapsed_s;
	unsigned int hosts = w->hosts ? w->hosts : 1;

	if (!(remaining > 0))
		return 0;
	/*
	 * A sync at the window's very end (or a clock read past it) would
	 * divide by nothing: the remaining budget is then spent at the full
	 * rate's pace until the next window starts.
	 */
	if (!(left_s > 0))
		return w->rate / hosts;
	return remaining / hosts / left_s;
}

double fleet_fallback_rate(double rate, unsigned int hosts_last_known, enum fleet_fallback mode)
{
	if (mode == FLEET_FALLBACK_LOCAL)
		return rate;
	return rate / (hosts_last_known ? hosts_last_known : 1);
}

int fleet_fallback_parse(const char *text, enum fleet_fallback *out, char *err, size_t err_len)
{
	if (strcmp(text, "share") == 0) {
		*out = FLEET_FALLBACK_SHARE;
		return 0;
	}
	if (strcmp(text, "local") == 0) {
		*out = FLEET_FALLBACK_LOCAL;
		return 0;
	}
	snprintf(err, err_len, "invalid --fleet-fallback '%s': expected share (each host its share "
		 "of the rate) or local (each host the whole rate)", text);
	return -1;
}

const char *fleet_fallback_name(enum fleet_fallback mode)
{
	return mode == FLEET_FALLBACK_LOCAL ? "local" : "share";
}

double fleet_overshoot_bound(double rate, unsigned int hosts, double local_burst, double skew_s,
			     double late)
{
	return (hosts ? hosts : 1) * local_burst + rate * skew_s + late;
}

/* How hot a key is: its rate here as a fraction of its limit. */
static double heat(const struct fleet_key *k)
{
	return k->limit > 0 ? k->rate / k->limit : 0;
}

/* Whether key a ranks below key b: cooler, or as hot with a larger id. */
static bool colder(const struct fleet_key *a, const struct fleet_key *b)
{
	double ha = heat(a), hb = heat(b);

	return ha < hb || (ha == hb && a->id > b->id);
}

/* Restores the min-heap (coldest on top) of heap[0..n) from position i down. */
static void sift_down(const struct fleet_key *keys, size_t *heap, size_t n, size_t i)
{
	for (;;) {
		size_t least = i, l = 2 * i + 1, r = l + 1, t;

		if (l < n && colder(&keys[heap[l]], &keys[heap[least]]))
			least = l;
		if (r < n && colder(&keys[heap[r]], &keys[heap[least]]))
			least = r;
		if (least == i)
			return;
		t = heap[i];
		heap[i] = heap[least];
		heap[least] = t;
		i = least;
	}
}

size_t fleet_hot_keys(const struct fleet_key *keys, size_t count, double min_fraction,
		      size_t max_keys, size_t *out)
{
	size_t n = 0;

	if (!max_keys)
		return 0;
	/*
	 * The hottest max_keys in a min-heap of their indexes: a key hotter
	 * than the coldest kept replaces it. O(count log max_keys), so a
	 * table of a million sources costs one pass, not a sort.
	 */
	for (size_t i = 0; i < count; i++) {
		if (!(keys[i].limit > 0) || heat(&keys[i]) < min_fraction)
			continue;
		if (n < max_keys) {
			out[n++] = i;
			if (n == max_keys)
				for (size_t j = n / 2; j-- > 0;)
					sift_down(keys, out, n, j);
			continue;
		}
		if (colder(&keys[out[0]], &keys[i])) {
			out[0] = i;
			sift_down(keys, out, n, 0);
		}
	}
	if (n < max_keys)
		for (size_t j = n / 2; j-- > 0;)
			sift_down(keys, out, n, j);
	/* Hottest first: the coldest comes off the heap's top into the back, one by one. */
	for (size_t end = n; end > 1; end--) {
		size_t t = out[0];

		out[0] = out[end - 1];
		out[end - 1] = t;
		sift_down(keys, out, end - 1, 0);
	}
	return n;
}
