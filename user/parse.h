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
#include "algorithms.h"

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
/* A percentage in [min, max]: "80" or "80%". */
int parse_percent(const char *arg, const char *text, __u64 min, __u64 max, __u64 *pct, char *err,
		  size_t err_len);
/* A duration in milliseconds: "2" or "2s" (seconds), "500ms", "1m". */
int parse_duration_ms(const char *arg, const char *text, __u64 min_ms, __u64 max_ms, __u64 *ms,
		      char *err, size_t err_len);
/* Writes a rate as an operator would type it back: "500pps", "10kpps", "1.5Mpps". */
void format_rate(__u64 pps, char *buf, size_t len);

/*
 * The rate of a limit, in packets or in bytes per second, and its unit:
 *  - packets per second, whatever parse_rate() reads: 500, 500pps, 10kpps,
 *    2Mpps, 1.5kpps; a bare k, M or G multiplies packets (10M is 10 Mpps);
 *  - bits per second: bit, kbit, mbit, gbit (K, M, G capitals too), 1000-based
 *    as in tc: 100mbit is 10^8 bits, 12500000 bytes per second. The bits must
 *    come to a whole number of bytes (a multiple of 8), or it is refused;
 *  - bytes per second: B, KB (or kB), MB, GB, 1000-based: 10MB is 10^7 bytes.
 * Nothing else: "mbps", "Mb", "KiB" are refused rather than guessed at, as
 * "kbps" means kilobytes to tc and kilobits to most people.
 */
int parse_limit_rate(const char *arg, const char *text, __u64 *value, enum sluice_unit *unit,
		     char *err, size_t err_len);
/*
 * A burst in the unit of the rate it goes with. For a packet rate, a number
 * of packets as parse_count() reads it (100, 10k). For a byte rate, bytes: a
 * plain number (with k, M or G) or B, KB (kB), MB, GB, 1000-based: 1500,
 * 1500B, 64KB, 1.5MB. Bits are refused (a burst is whole packets of bytes).
 */
int parse_limit_burst(const char *arg, const char *text, enum sluice_unit unit, __u64 *value,
		      char *err, size_t err_len);
/*
 * Writes a limit's rate as an operator would type it back, parse_limit_rate()
 * reading it to the same value and unit: packets as format_rate() does; bytes
 * as bits, the way links are rated: 12500000 -> "100mbit", 1234 -> "9.872kbit".
 */
void format_limit_rate(__u64 value, enum sluice_unit unit, char *buf, size_t len);
/* A burst, read back by parse_limit_burst(): packets "100", bytes "1500B", "1.5MB". */
void format_limit_burst(__u64 value, enum sluice_unit unit, char *buf, size_t len);
/*
 * Says why sluice_rule_limit_init() refused a limit, naming --rate or
 * --burst and what was typed (rate_text, burst_text), with the bound in the
 * limit's unit.
 */
void format_limit_error(enum sluice_rule_limit_error error, enum sluice_unit unit,
			const char *rate_text, const char *burst_text, char *err, size_t err_len);
/* "token-bucket", "gcra", "sliding-window", "fixed-window". */
int parse_algo(const char *arg, const char *text, enum sluice_algo *algo, char *err,
	       size_t err_len);
const char *algo_name(enum sluice_algo algo);
/* Priority classes (enum sluice_class): "critical", "high", "normal", "low". */
int parse_class(const char *arg, const char *text, __u8 *class, char *err, size_t err_len);
const char *class_name(unsigned int class);

#endif /* SLUICE_PARSE_H */
