/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * The controller's log: one line per event on stderr. Under systemd, whose
 * journal reads stderr, each line starts with its syslog priority ("<4>"),
 * which journald turns into the entry's priority; on a terminal it starts
 * with the time and a level word instead.
 */
#ifndef SLUICE_LOG_H
#define SLUICE_LOG_H

#include <syslog.h>

/* Sees whether stderr is the journal (systemd's $JOURNAL_STREAM names it). */
void log_init(void);
/* Logs one line at a syslog priority: LOG_ERR, LOG_WARNING, LOG_NOTICE, LOG_INFO, LOG_DEBUG. */
void log_msg(int priority, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif /* SLUICE_LOG_H */
