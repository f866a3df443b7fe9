/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Drop events from the data path's ring buffer (user/events.c). */
#ifndef SLUICE_EVENTS_H
#define SLUICE_EVENTS_H

#include <stddef.h>
#include <jansson.h>

#include "sluice.h"

/* One event as `sluice events --json` prints it. */
json_t *event_json(const struct sluice_event *ev);
/* One event in words: "dropped_rate tcp from 198.18.0.1 to tcp port 80 on eth0 by rule 3 ...". */
void event_text(const struct sluice_event *ev, char *buf, size_t len);
struct state;
/* What the sampler did with the drops it saw. */
struct events_totals {
	__u64 sent;		/* written to the ring */
	__u64 suppressed;	/* over the event rate: not sampled */
	__u64 lost;		/* sampled, but the ring was full */
};
/* Reads them from an open state. 0, or -1 with errno. */
int events_totals_read(const struct state *st, struct events_totals *out);

#endif /* SLUICE_EVENTS_H */
