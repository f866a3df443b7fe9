// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "parse.h"

static int fail(char *err, size_t err_len, const char *fmt, const char *arg, const char *text)
{
	snprintf(err, err_len, fmt, arg, text);
	return -1;
}

bool prefix_is_default(const struct sluice_prefix_key *key)
{
	return key->prefixlen == 0;
}

/* Whether any bit after the first `bits` of the address is set. */
static bool has_host_bits(const __u8 addr[SLUICE_ADDR_LEN], __u32 bits)
{
	for (__u32 bit = bits; bit < SLUICE_ADDR_LEN * 8; bit++)
		if (addr[bit / 8] & (0x80 >> (bit % 8)))
			return true;
	return false;
}

int parse_prefix(const char *arg, const char *text, struct sluice_prefix_key *key, char *err,
		 size_t err_len)
{
	char host[INET6_ADDRSTRLEN];
	const char *slash = strchr(text, '/');
	size_t host_len = slash ? (size_t)(slash - text) : strlen(text);
	struct sluice_prefix_key parsed = {};
	unsigned long len;
	__u32 max_len;
	char *end;

	if (strcmp(text, "default") == 0) {
		*key = parsed;
		return 0;
	}
	if (host_len == 0 || host_len >= sizeof(host))
		return fail(err, err_len,
			    "invalid %s '%s': expected an IPv4 or IPv6 prefix such as 198.18.0.0/15",
			    arg, text);
	memcpy(host, text, host_len);
	host[host_len] = '\0';

	if (strchr(host, ':')) {
		if (inet_pton(AF_INET6, host, parsed.addr) != 1)
			return fail(err, err_len, "invalid %s '%s': not an IPv6 address", arg,
				    text);
		parsed.family = SLUICE_FAMILY_IPV6;
		max_len = 128;
	} else {
		if (inet_pton(AF_INET, host, parsed.addr) != 1)
			return fail(err, err_len, "invalid %s '%s': not an IPv4 address", arg,
				    text);
		parsed.family = SLUICE_FAMILY_IPV4;
		max_len = 32;
	}

	len = max_len;
	if (slash) {
		errno = 0;
		if (!isdigit((unsigned char)slash[1]))
			return fail(err, err_len, "invalid %s '%s': the prefix length is not a number",
				    arg, text);
		len = strtoul(slash + 1, &end, 10);
		if (*end || errno || len > max_len) {
			snprintf(err, err_len, "invalid %s '%s': the prefix length must be 0 to %u",
				 arg, text, max_len);
			return -1;
		}
	}
	if (has_host_bits(parsed.addr, len))
		return fail(err, err_len,
			    "invalid %s '%s': bits are set after the prefix length", arg, text);
	parsed.prefixlen = SLUICE_FAMILY_BITS + len;
	*key = parsed;
	return 0;
}

void format_address(const struct sluice_source_key *src, char *buf, size_t len)
{
	if (src->family == SLUICE_FAMILY_IPV4)
		inet_ntop(AF_INET, src->addr, buf, len);
	else if (src->family == SLUICE_FAMILY_IPV6)
		inet_ntop(AF_INET6, src->addr, buf, len);
	else
		snprintf(buf, len, "family-%u", src->family);
}

void format_prefix(const struct sluice_prefix_key *key, char *buf, size_t len)
{
	struct sluice_source_key addr = { .family = key->family };
	char text[INET6_ADDRSTRLEN + 16];

	if (prefix_is_default(key)) {
		snprintf(buf, len, "default");
		return;
	}
	if (key->prefixlen < SLUICE_FAMILY_BITS) {
		/* Never written by sluice: a key put in the map by other means. */
		snprintf(buf, len, "invalid-prefixlen-%u", key->prefixlen);
		return;
	}
	memcpy(addr.addr, key->addr, SLUICE_ADDR_LEN);
	format_address(&addr, text, sizeof(text));
	snprintf(buf, len, "%s/%u", text, key->prefixlen - SLUICE_FAMILY_BITS);
}

/*
 * Reads a decimal number with up to 9 fractional digits and a multiplier,
 * exactly (no floating point): "1.5" with multiplier 1000 is 1500. Returns
 * the rest of the text in *rest, or NULL if the number is malformed, does
 * not come out whole, or overflows.
 */
static const char *read_scaled(const char *text, __u64 multiplier_of(const char *unit, bool *ok),
			       __u64 *value)
{
	__u64 whole = 0, frac = 0, frac_scale = 1, multiplier;
	const char *p = text;
	bool ok;

	if (!isdigit((unsigned char)*p))
		return NULL;
	for (; isdigit((unsigned char)*p); p++) {
		__u64 digit = (__u64)(*p - '0');

		if (whole > (UINT64_MAX - digit) / 10)
			return NULL;
		whole = whole * 10 + digit;
	}
	if (*p == '.') {
		p++;
		if (!isdigit((unsigned char)*p))
			return NULL;
		for (; isdigit((unsigned char)*p); p++) {
			if (frac_scale == 1000000000ULL)
				return NULL;
			frac = frac * 10 + (__u64)(*p - '0');
			frac_scale *= 10;
		}
	}
	multiplier = multiplier_of(p, &ok);
	if (!ok)
		return NULL;
	if (whole && multiplier > UINT64_MAX / whole)
		return NULL;
	/* frac < frac_scale <= 1e9 and multiplier <= 1e9 keep this in range. */
	if (frac * multiplier % frac_scale)
		return NULL;
	if (whole * multiplier > UINT64_MAX - frac * multiplier / frac_scale)
		return NULL;
	*value = whole * multiplier + frac * multiplier / frac_scale;
	return p;
}

static __u64 rate_multiplier(const char *unit, bool *ok)
{
	static const struct {
		const char *unit;
		__u64 multiplier;
	} units[] = {
		{ "", 1 },		{ "pps", 1 },
		{ "k", 1000 },		{ "kpps", 1000 },	{ "Kpps", 1000 },
		{ "M", 1000000 },	{ "Mpps", 1000000 },
		{ "G", 1000000000 },	{ "Gpps", 1000000000 },
	};

	for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		if (strcmp(unit, units[i].unit) == 0) {
			*ok = true;
			return units[i].multiplier;
		}
	}
	*ok = false;
	return 0;
}

static __u64 count_multiplier(const char *unit, bool *ok)
{
	*ok = strcmp(unit, "") == 0 || strcmp(unit, "k") == 0 || strcmp(unit, "M") == 0 ||
	      strcmp(unit, "G") == 0;
	switch (*unit) {
	case 'k':
		return 1000;
	case 'M':
		return 1000000;
	case 'G':
		return 1000000000;
	default:
		return 1;
	}
}

int parse_rate(const char *arg, const char *text, __u64 *pps, char *err, size_t err_len)
{
	if (!read_scaled(text, rate_multiplier, pps))
		return fail(err, err_len,
			    "invalid %s '%s': expected packets per second such as 500, 500pps, "
			    "10kpps or 2Mpps",
			    arg, text);
	return 0;
}

int parse_count(const char *arg, const char *text, __u64 min, __u64 max, __u64 *value, char *err,
		size_t err_len)
{
	__u64 parsed;

	if (!read_scaled(text, count_multiplier, &parsed))
		return fail(err, err_len, "invalid %s '%s': expected a whole number", arg, text);
	if (parsed < min || parsed > max) {
		snprintf(err, err_len, "invalid %s '%s': must be from %" PRIu64 " to %" PRIu64,
			 arg, text, (uint64_t)min, (uint64_t)max);
		return -1;
	}
	*value = parsed;
	return 0;
}

static __u64 duration_multiplier(const char *unit, bool *ok)
{
	*ok = true;
	if (strcmp(unit, "") == 0 || strcmp(unit, "s") == 0)
		return 1000;
	if (strcmp(unit, "ms") == 0)
		return 1;
	if (strcmp(unit, "m") == 0)
		return 60 * 1000;
	*ok = false;
	return 0;
}

int parse_duration_ms(const char *arg, const char *text, __u64 min_ms, __u64 max_ms, __u64 *ms,
		      char *err, size_t err_len)
{
	__u64 parsed;

	if (!read_scaled(text, duration_multiplier, &parsed))
		return fail(err, err_len,
			    "invalid %s '%s': expected a duration such as 2, 2s, 500ms or 1m", arg,
			    text);
	if (parsed < min_ms || parsed > max_ms) {
		snprintf(err, err_len,
			 "invalid %s '%s': must be from %" PRIu64 "ms to %" PRIu64 "ms", arg, text,
			 (uint64_t)min_ms, (uint64_t)max_ms);
		return -1;
	}
	*ms = parsed;
	return 0;
}

struct scale {
	const char *unit;
	__u64 scale;	/* a multiple of 1000 */
};

/*
 * Writes value in the largest of `units` (largest first) that prints it
 * exactly with three decimals at most and fewer than four digits before
 * them (1234567 reads better as 1234567pps than as 1234.567kpps), the
 * largest taking any number of digits; in `base` if none does.
 */
static void format_scaled(__u64 value, const struct scale *units, size_t count, const char *base,
			  char *buf, size_t len)
{
	for (size_t i = 0; i < count; i++) {
		__u64 scale = units[i].scale;

		if (value >= scale && value % (scale / 1000) == 0 &&
		    (value / scale < 1000 || i == 0)) {
			__u64 frac = value % scale / (scale / 1000);
			int digits = 3;

			if (frac == 0) {
				snprintf(buf, len, "%" PRIu64 "%s", (uint64_t)(value / scale),
					 units[i].unit);
				return;
			}
			while (frac % 10 == 0) {
				frac /= 10;
				digits--;
			}
			snprintf(buf, len, "%" PRIu64 ".%0*" PRIu64 "%s", (uint64_t)(value / scale),
				 digits, (uint64_t)frac, units[i].unit);
			return;
		}
	}
	snprintf(buf, len, "%" PRIu64 "%s", (uint64_t)value, base);
}

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

void format_rate(__u64 pps, char *buf, size_t len)
{
	static const struct scale units[] = {
		{ "Gpps", 1000000000 }, { "Mpps", 1000000 }, { "kpps", 1000 },
	};

	format_scaled(pps, units, ARRAY_LEN(units), "pps", buf, len);
}

/* ---- limits in packets or bytes ---- */

static __u64 lookup_unit(const struct scale *units, size_t count, const char *unit, bool *ok)
{
	for (size_t i = 0; i < count; i++) {
		if (strcmp(unit, units[i].unit) == 0) {
			*ok = true;
			return units[i].scale;
		}
	}
	*ok = false;
	return 0;
}

/* Bits per second, 1000-based as tc has them. */
static __u64 bit_multiplier(const char *unit, bool *ok)
{
	static const struct scale units[] = {
		{ "bit", 1 },
		{ "kbit", 1000 },		{ "Kbit", 1000 },
		{ "mbit", 1000000 },		{ "Mbit", 1000000 },
		{ "gbit", 1000000000 },		{ "Gbit", 1000000000 },
	};

	return lookup_unit(units, ARRAY_LEN(units), unit, ok);
}

/* Bytes (per second, for rates), 1000-based. */
static __u64 byte_multiplier(const char *unit, bool *ok)
{
	static const struct scale units[] = {
		{ "B", 1 },
		{ "kB", 1000 },		{ "KB", 1000 },
		{ "MB", 1000000 },
		{ "GB", 1000000000 },
	};

	return lookup_unit(units, ARRAY_LEN(units), unit, ok);
}

/* A byte burst: bytes with a unit, or a plain number as parse_count() reads it. */
static __u64 byte_burst_multiplier(const char *unit, bool *ok)
{
	__u64 multiplier = byte_multiplier(unit, ok);

	return *ok ? multiplier : count_multiplier(unit, ok);
}

int parse_limit_rate(const char *arg, const char *text, __u64 *value, enum sluice_unit *unit,
		     char *err, size_t err_len)
{
	__u64 parsed;

	if (read_scaled(text, rate_multiplier, &parsed)) {
		*value = parsed;
		*unit = SLUICE_UNIT_PACKETS;
		return 0;
	}
	if (read_scaled(text, byte_multiplier, &parsed)) {
		*value = parsed;
		*unit = SLUICE_UNIT_BYTES;
		return 0;
	}
	if (read_scaled(text, bit_multiplier, &parsed)) {
		if (parsed % 8)
			return fail(err, err_len,
				    "invalid %s '%s': not a whole number of bytes per second "
				    "(bits must come in multiples of 8)",
				    arg, text);
		*value = parsed / 8;
		*unit = SLUICE_UNIT_BYTES;
		return 0;
	}
	return fail(err, err_len,
		    "invalid %s '%s': expected packets per second (500, 10kpps, 2Mpps), "
		    "bits per second (100mbit, 1gbit) or bytes per second (500KB, 10MB)",
		    arg, text);
}

int parse_limit_burst(const char *arg, const char *text, enum sluice_unit unit, __u64 *value,
		      char *err, size_t err_len)
{
	__u64 parsed;

	if (unit == SLUICE_UNIT_BYTES) {
		if (!read_scaled(text, byte_burst_multiplier, &parsed))
			return fail(err, err_len,
				    "invalid %s '%s': expected bytes such as 1500, 1500B, 64KB "
				    "or 1MB, as the rate is in bytes",
				    arg, text);
	} else if (!read_scaled(text, count_multiplier, &parsed)) {
		return fail(err, err_len,
			    "invalid %s '%s': expected a number of packets such as 100 or 10k, "
			    "as the rate is in packets",
			    arg, text);
	}
	*value = parsed;
	return 0;
}

static const struct scale byte_units[] = {
	{ "GB", 1000000000 }, { "MB", 1000000 }, { "KB", 1000 },
};

void format_limit_rate(__u64 value, enum sluice_unit unit, char *buf, size_t len)
{
	static const struct scale bit_units[] = {
		{ "gbit", 1000000000 }, { "mbit", 1000000 }, { "kbit", 1000 },
	};

	if (unit != SLUICE_UNIT_BYTES)
		format_rate(value, buf, len);
	else if (value <= UINT64_MAX / 8)
		format_scaled(value * 8, bit_units, ARRAY_LEN(bit_units), "bit", buf, len);
	else	/* more bits than 64 bits count: say it in bytes */
		format_scaled(value, byte_units, ARRAY_LEN(byte_units), "B", buf, len);
}

void format_limit_burst(__u64 value, enum sluice_unit unit, char *buf, size_t len)
{
	/* Frame-sized bursts read best in bytes: 1518B, not 1.518KB. */
	if (unit == SLUICE_UNIT_BYTES && value < 10000)
		snprintf(buf, len, "%" PRIu64 "B", (uint64_t)value);
	else if (unit == SLUICE_UNIT_BYTES)
		format_scaled(value, byte_units, ARRAY_LEN(byte_units), "B", buf, len);
	else
		snprintf(buf, len, "%" PRIu64, (uint64_t)value);
}

void format_limit_error(enum sluice_rule_limit_error error, enum sluice_unit unit,
			const char *rate_text, const char *burst_text, char *err, size_t err_len)
{
	bool bytes = unit == SLUICE_UNIT_BYTES;
	char bound[32];

	switch (error) {
	case SLUICE_RULE_LIMIT_ZERO_RATE:
		snprintf(err, err_len, "invalid --rate '%s': must be above zero", rate_text);
		break;
	case SLUICE_RULE_LIMIT_RATE_TOO_HIGH:
		format_limit_rate(bytes ? SLUICE_MAX_BYTE_RATE : SLUICE_MAX_RATE, unit, bound,
				  sizeof(bound));
		snprintf(err, err_len, "invalid --rate '%s': must be at most %s", rate_text, bound);
		break;
	case SLUICE_RULE_LIMIT_ZERO_BURST:
	case SLUICE_RULE_LIMIT_BURST_TOO_LOW:
		if (bytes) {
			format_limit_burst(SLUICE_MIN_BYTE_BURST, unit, bound, sizeof(bound));
			snprintf(err, err_len,
				 "invalid --burst '%s': must be at least %s, one full-size frame, "
				 "or such frames could never pass",
				 burst_text, bound);
		} else {
			snprintf(err, err_len, "invalid --burst '%s': must be at least 1",
				 burst_text);
		}
		break;
	case SLUICE_RULE_LIMIT_BURST_TOO_HIGH:
		format_limit_burst(bytes ? SLUICE_MAX_BYTE_BURST : SLUICE_MAX_BURST, unit, bound,
				   sizeof(bound));
		snprintf(err, err_len, "invalid --burst '%s': must be at most %s%s", burst_text,
			 bound, bytes ? "" : " packets");
		break;
	case SLUICE_RULE_LIMIT_TOO_DEEP:
		snprintf(err, err_len,
			 "invalid --burst '%s': at --rate %s that is over 50 days of traffic",
			 burst_text, rate_text);
		break;
	case SLUICE_RULE_LIMIT_WINDOW_TOO_SHORT:
		snprintf(err, err_len,
			 "invalid --burst '%s': at --rate %s a window (burst / rate) would last "
			 "under 1us",
			 burst_text, rate_text);
		break;
	default:
		snprintf(err, err_len, "invalid limit: unknown algorithm or unit");
	}
}

static const char *const algo_names[SLUICE_ALGO_COUNT] = {
	[SLUICE_ALGO_TOKEN_BUCKET] = "token-bucket",
	[SLUICE_ALGO_GCRA] = "gcra",
	[SLUICE_ALGO_SLIDING_WINDOW] = "sliding-window",
	[SLUICE_ALGO_FIXED_WINDOW] = "fixed-window",
};

int parse_algo(const char *arg, const char *text, enum sluice_algo *algo, char *err,
	       size_t err_len)
{
	for (int i = 0; i < SLUICE_ALGO_COUNT; i++) {
		if (strcmp(text, algo_names[i]) == 0) {
			*algo = (enum sluice_algo)i;
			return 0;
		}
	}
	return fail(err, err_len,
		    "invalid %s '%s': expected token-bucket, gcra, sliding-window or fixed-window",
		    arg, text);
}

const char *algo_name(enum sluice_algo algo)
{
	return (unsigned)algo < SLUICE_ALGO_COUNT ? algo_names[algo] : "unknown";
}

static const char *const class_names[SLUICE_CLASSES] = {
	[SLUICE_CLASS_LOW] = "low",
	[SLUICE_CLASS_NORMAL] = "normal",
	[SLUICE_CLASS_HIGH] = "high",
	[SLUICE_CLASS_CRITICAL] = "critical",
};

int parse_class(const char *arg, const char *text, __u8 *class, char *err, size_t err_len)
{
	for (int i = 0; i < SLUICE_CLASSES; i++) {
		if (strcmp(text, class_names[i]) == 0) {
			*class = (__u8)i;
			return 0;
		}
	}
	return fail(err, err_len, "invalid %s '%s': expected critical, high, normal or low", arg,
		    text);
}

const char *class_name(unsigned int class)
{
	return class < SLUICE_CLASSES ? class_names[class] : "unknown";
}

int parse_percent(const char *arg, const char *text, __u64 min, __u64 max, __u64 *pct, char *err,
		  size_t err_len)
{
	char number[16];
	size_t len = strlen(text);

	/* "80" or "80%". */
	if (len && text[len - 1] == '%')
		len--;
	if (len == 0 || len >= sizeof(number))
		return fail(err, err_len, "invalid %s '%s': expected a percentage", arg, text);
	memcpy(number, text, len);
	number[len] = '\0';
	return parse_count(arg, number, min, max, pct, err, err_len);
}
