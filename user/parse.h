/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/*
 * Parsing and printing of what operators type: prefixes, rates with units,
 * counts and durations. Pure functions with no BPF in them, so the unit tests
 * cover them completely. Each parser fills `err` with one line that names
 * the argument, what it got and what it expected, and returns -1.
 */
#ifndef SLUICE_PARSE_H
#define SLUICE_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <linux/types.h>

#include "sluice.h"

#define SLUICE_ERR_LEN 256
/* Longest printed prefix: a full IPv6 address (INET6_ADDRSTRLEN) and "/128". */
#define SLUICE_PREFIX_STR_LEN 52

/*
 * "10.0.0.0/8", "198.18.0.1" (a /32), "2001:db8::/32", "2001:db8::1" (a
 * /128), or "default" (both families). "0.0.0.0/0" and "::/0" cover one
 * family each. Bits set after the prefix length are refused.
 */
int parse_prefix(const char *arg, const char *text, struct sluice_prefix_key *key, char *err,
		 size_t err_len);
/* Writes "default", "a.b.c.d/N" or "x::y/N". */
void format_prefix(const struct sluice_prefix_key *key, char *buf, size_t len);
/* Writes a bare address ("198.18.0.1" or "2001:db8::1"). */
void format_address(const struct sluice_source_key *src, char *buf, size_t len);
bool prefix_is_default(const struct sluice_prefix_key *key);

/* Packets per second: "500", "500pps", "10kpps", "2Mpps", "1.5kpps". */
int parse_rate(const char *arg, const char *text, __u64 *pps, char *err, size_t err_len);
/* A whole number in [min, max], with an optional k, M or G multiplier. */
int parse_count(const char *arg, const char *text, __u64 min, __u64 max, __u64 *value, char *err,
		size_t err_len);
/* A duration in milliseconds: "2" or "2s" (seconds), "500ms", "1m". */
int parse_duration_ms(const char *arg, const char *text, __u64 min_ms, __u64 max_ms, __u64 *ms,
		      char *err, size_t err_len);
/* Writes a rate as an operator would type it back: "500pps", "10kpps", "1.5Mpps". */
void format_rate(__u64 pps, char *buf, size_t len);

#endif /* SLUICE_PARSE_H */
