// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <math.h>

#include "rates.h"

void rate_update(struct rate *r, __u64 count, __u64 now_ns, __u64 tau_ns)
{
	if (r->primed && count >= r->last_count && now_ns > r->last_ns) {
		double seconds = (now_ns - r->last_ns) / 1e9;
		double seen = (count - r->last_count) / seconds;
		double weight = 1.0 - exp(-(double)(now_ns - r->last_ns) / (double)tau_ns);

		r->per_second = r->rated ? r->per_second + weight * (seen - r->per_second) : seen;
		r->rated = true;
	}
	r->last_count = count;
	r->last_ns = now_ns;
	r->primed = true;
}
