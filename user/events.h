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
/* The sampler's counts: sent, suppressed over the rate, lost to a full ring. */
int events_state_read(int events_state_fd, struct sluice_events_state *out);

#endif /* SLUICE_EVENTS_H */
