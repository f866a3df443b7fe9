// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
/*
 * Unit tests for user/parse.c: what an operator types (prefixes, rates,
 * counts, durations) and what Sluice prints back. Table driven: every row
 * names its input, and a failing row says which input and what came out.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
#include <cmocka.h>

#include "parse.h"
#include "testing.h"

#define ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/* Fails the test naming the case, with actual vs expected. */
#define ASSERT_U64(got, want, what, input)                                                  \
	do {                                                                                \
		uint64_t got_ = (got), want_ = (want);                                      \
		if (got_ != want_)                                                          \
			fail_msg("%s for '%s': got %" PRIu64 ", want %" PRIu64, (what),     \
				 (input), got_, want_);                                     \
	} while (0)

#define ASSERT_STR(got, want, what, input)                                                  \
	do {                                                                                \
		const char *got_ = (got), *want_ = (want);                                  \
		if (strcmp(got_, want_) != 0)                                               \
			fail_msg("%s for '%s': got '%s', want '%s'", (what), (input), got_,  \
				 want_);                                                    \
	} while (0)

/* The error names the argument and the input first, then says what was expected. */
static void assert_error(const char *err, const char *arg, const char *text, const char *fragment)
{
	char head[SLUICE_ERR_LEN];

	snprintf(head, sizeof(head), "invalid %s '%s'", arg, text);
	if (strncmp(err, head, strlen(head)) != 0)
		fail_msg("error for '%s' does not start with \"%s\": \"%s\"", text, head, err);
	if (fragment && !strstr(err, fragment))
		fail_msg("error for '%s' does not say \"%s\": \"%s\"", text, fragment, err);
	if (strchr(err, '\n'))
		fail_msg("error for '%s' is not one line: \"%s\"", text, err);
}

/* A fixed seed makes every run check the same values. */
static __u64 rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t rng(void)
{
	return test_rng_next(&rng_state);
}

/* ---- prefixes ---- */

struct prefix_ok_case {
	const char *text;
	__u8 family;		/* SLUICE_FAMILY_IPV4 or _IPV6, or 0 for the default */
	const char *addr;	/* the address in its family's text; NULL for the default */
	__u32 prefixlen;	/* as the tries count it: 8 family bits + the length */
	const char *canonical;	/* what format_prefix prints */
};

#define V4 SLUICE_FAMILY_IPV4
#define V6 SLUICE_FAMILY_IPV6

static const struct prefix_ok_case prefix_ok_cases[] = {
	{ "10.0.0.0/8", V4, "10.0.0.0", 8 + 8, "10.0.0.0/8" },
	{ "198.18.0.0/15", V4, "198.18.0.0", 8 + 15, "198.18.0.0/15" },
	{ "198.18.0.1", V4, "198.18.0.1", 8 + 32, "198.18.0.1/32" },
	{ "198.18.0.1/32", V4, "198.18.0.1", 8 + 32, "198.18.0.1/32" },
	/* IPv4's /0 covers IPv4 sources only: it matches the family byte. */
	{ "0.0.0.0/0", V4, "0.0.0.0", 8, "0.0.0.0/0" },
	{ "255.255.255.255/32", V4, "255.255.255.255", 8 + 32, "255.255.255.255/32" },
	{ "10.0.0.128/25", V4, "10.0.0.128", 8 + 25, "10.0.0.128/25" },
	{ "10.0.0.2/31", V4, "10.0.0.2", 8 + 31, "10.0.0.2/31" },
	{ "128.0.0.0/1", V4, "128.0.0.0", 8 + 1, "128.0.0.0/1" },
	{ "10.0.0.0/08", V4, "10.0.0.0", 8 + 8, "10.0.0.0/8" },
	{ "2001:db8::/32", V6, "2001:db8::", 8 + 32, "2001:db8::/32" },
	{ "2001:DB8:0:0::/32", V6, "2001:db8::", 8 + 32, "2001:db8::/32" },
	{ "2001:db8::1", V6, "2001:db8::1", 8 + 128, "2001:db8::1/128" },
	{ "2001:db8::8000/113", V6, "2001:db8::8000", 8 + 113, "2001:db8::8000/113" },
	{ "fe80::/10", V6, "fe80::", 8 + 10, "fe80::/10" },
	{ "8000::/1", V6, "8000::", 8 + 1, "8000::/1" },
	{ "::/96", V6, "::", 8 + 96, "::/96" },
	{ "::1", V6, "::1", 8 + 128, "::1/128" },
	/* IPv6 prefixes that once covered IPv4 sources, kept IPv4-mapped, are IPv6 only. */
	{ "::/8", V6, "::", 8 + 8, "::/8" },
	{ "::/64", V6, "::", 8 + 64, "::/64" },
	{ "::ffff:0:0/96", V6, "::ffff:0:0", 8 + 96, "::ffff:0.0.0.0/96" },
	{ "::ffff:10.1.0.0/112", V6, "::ffff:10.1.0.0", 8 + 112, "::ffff:10.1.0.0/112" },
	{ "::ffff:198.18.0.1", V6, "::ffff:198.18.0.1", 8 + 128, "::ffff:198.18.0.1/128" },
	/* IPv6's /0 covers IPv6 sources only; only "default" covers both. */
	{ "::/0", V6, "::", 8, "::/0" },
	{ "default", 0, NULL, 0, "default" },
	/* The longest address text there is still fits the parser's buffer. */
	{ "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255/128", V6,
	  "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 8 + 128,
	  "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128" },
};

/* The key a case describes, padding and unused address bytes zero. */
static struct sluice_prefix_key want_key(const struct prefix_ok_case *c)
{
	struct sluice_prefix_key key;

	memset(&key, 0, sizeof(key));
	key.prefixlen = c->prefixlen;
	key.family = c->family;
	if (c->addr && inet_pton(c->family == V4 ? AF_INET : AF_INET6, c->addr, key.addr) != 1)
		fail_msg("the case for '%s' has a bad address '%s'", c->text, c->addr);
	return key;
}

static void test_parse_prefix_ok(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(prefix_ok_cases); i++) {
		const struct prefix_ok_case *c = &prefix_ok_cases[i];
		struct sluice_prefix_key key, again, want = want_key(c);
		char err[SLUICE_ERR_LEN] = "", text[SLUICE_PREFIX_STR_LEN];
		int ret;

		memset(&key, 0xa5, sizeof(key));
		ret = parse_prefix("prefix", c->text, &key, err, sizeof(err));
		if (ret != 0)
			fail_msg("parse_prefix('%s') = %d: %s", c->text, ret, err);
		ASSERT_U64(key.prefixlen, c->prefixlen, "prefixlen", c->text);
		ASSERT_U64(key.family, c->family, "family", c->text);
		if (memcmp(key.addr, want.addr, sizeof(want.addr)) != 0) {
			struct sluice_source_key got = { .family = key.family };

			memcpy(got.addr, key.addr, sizeof(got.addr));
			format_address(&got, text, sizeof(text));
			fail_msg("address for '%s': got %s, want %s", c->text, text, c->addr);
		}
		/* The whole key, padding included: it is what the tries compare. */
		if (memcmp(&key, &want, sizeof(key)) != 0)
			fail_msg("key for '%s' has stray bytes outside prefixlen, family and addr",
				 c->text);
		if (prefix_is_default(&key) != (c->prefixlen == 0))
			fail_msg("prefix_is_default for '%s' is wrong", c->text);

		/* Printing gives the canonical text, which parses back to the same key. */
		format_prefix(&key, text, sizeof(text));
		ASSERT_STR(text, c->canonical, "format_prefix", c->text);
		memset(&again, 0x5a, sizeof(again));
		ret = parse_prefix("prefix", text, &again, err, sizeof(err));
		if (ret != 0 || memcmp(&key, &again, sizeof(key)) != 0)
			fail_msg("'%s' printed as '%s' does not parse back to the same key",
				 c->text, text);
	}
}

/* IPv4 is family 4 and the address in the first 4 bytes, byte for byte, 8 added to the length. */
static void test_parse_prefix_ipv4_bytes(void **state)
{
	static const __u8 want[SLUICE_ADDR_LEN] = { 198, 18, 4, 0 };
	struct sluice_prefix_key key;
	char err[SLUICE_ERR_LEN];

	(void)state;
	memset(&key, 0xa5, sizeof(key));
	assert_int_equal(parse_prefix("prefix", "198.18.4.0/22", &key, err, sizeof(err)), 0);
	assert_int_equal(key.prefixlen, SLUICE_FAMILY_BITS + 22);
	assert_int_equal(key.family, SLUICE_FAMILY_IPV4);
	assert_memory_equal(key.addr, want, sizeof(want));
	assert_int_equal(key.pad[0] | key.pad[1] | key.pad[2], 0);
}

/*
 * The families are apart: no IPv6 prefix, ::/8 and ::ffff:0:0/96 included,
 * is an IPv4 one; each family's /0 is its family only; "default" is both.
 */
static void test_parse_prefix_families(void **state)
{
	static const struct {
		const char *text;
		__u8 family;
		__u32 prefixlen;
	} cases[] = {
		{ "::/8", SLUICE_FAMILY_IPV6, SLUICE_FAMILY_BITS + 8 },
		{ "::/64", SLUICE_FAMILY_IPV6, SLUICE_FAMILY_BITS + 64 },
		{ "::ffff:0:0/96", SLUICE_FAMILY_IPV6, SLUICE_FAMILY_BITS + 96 },
		{ "::ffff:198.18.0.1", SLUICE_FAMILY_IPV6, SLUICE_FAMILY_BITS + 128 },
		{ "0.0.0.0/0", SLUICE_FAMILY_IPV4, SLUICE_FAMILY_BITS },
		{ "::/0", SLUICE_FAMILY_IPV6, SLUICE_FAMILY_BITS },
		{ "default", 0, 0 },
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct sluice_prefix_key key;
		char err[SLUICE_ERR_LEN], text[SLUICE_PREFIX_STR_LEN];

		if (parse_prefix("prefix", cases[i].text, &key, err, sizeof(err)) != 0)
			fail_msg("parse_prefix('%s'): %s", cases[i].text, err);
		ASSERT_U64(key.family, cases[i].family, "family", cases[i].text);
		ASSERT_U64(key.prefixlen, cases[i].prefixlen, "prefixlen", cases[i].text);
		/* IPv6 prints as IPv6 text, whatever its bits spell. */
		format_prefix(&key, text, sizeof(text));
		if ((cases[i].family == SLUICE_FAMILY_IPV6) != (strchr(text, ':') != NULL))
			fail_msg("'%s' printed as '%s'", cases[i].text, text);
	}
}

struct prefix_err_case {
	const char *text;
	const char *fragment;	/* part of the message that says what was wrong */
};

static const struct prefix_err_case prefix_err_cases[] = {
	{ "", "expected an IPv4 or IPv6 prefix" },
	{ "/8", "expected an IPv4 or IPv6 prefix" },
	{ "/", "expected an IPv4 or IPv6 prefix" },
	{ "garbage", "not an IPv4 address" },
	{ "DEFAULT", "not an IPv4 address" },
	{ "default/0", "not an IPv4 address" },
	{ " 10.0.0.0/8", "not an IPv4 address" },
	{ "-10.0.0.0/8", "not an IPv4 address" },
	{ "10.0.0", "not an IPv4 address" },
	{ "10.0.0.256", "not an IPv4 address" },
	{ "10.0.0.0.0/8", "not an IPv4 address" },
	{ "2001:db8::g/32", "not an IPv6 address" },
	{ "2001:db8:::1", "not an IPv6 address" },
	{ "fe80::1%eth0", "not an IPv6 address" },
	{ "1.2.3.4/33", "must be 0 to 32" },
	{ "::/129", "must be 0 to 128" },
	{ "10.0.0.0/99999999999999999999", "must be 0 to 32" },
	/* Above 2^32: must not wrap into a small __u32. */
	{ "10.0.0.0/4294967304", "must be 0 to 32" },
	{ "::/18446744073709551616", "must be 0 to 128" },
	{ "10.0.0.0/8/8", "prefix length" },
	{ "10.0.0.0/8 ", "prefix length" },
	{ "10.0.0.0/", "prefix length is not a number" },
	{ "10.0.0.0/x", "prefix length is not a number" },
	{ "10.0.0.0/-8", "prefix length is not a number" },
	{ "10.0.0.0/+8", "prefix length is not a number" },
	{ "10.0.0.0/ 8", "prefix length is not a number" },
	{ "10.0.0.1/8", "bits are set after the prefix length" },
	{ "10.0.0.64/25", "bits are set after the prefix length" },
	{ "10.0.0.1/31", "bits are set after the prefix length" },
	{ "0.0.0.1/0", "bits are set after the prefix length" },
	{ "2001:db8::1/64", "bits are set after the prefix length" },
	{ "2001:db8::4000/113", "bits are set after the prefix length" },
	{ "1::/0", "bits are set after the prefix length" },
	/* ::ffff:0:0 has the 0xffff after bit 95. */
	{ "::ffff:10.0.0.0/95", "bits are set after the prefix length" },
	{ "::ffff:0:0/8", "bits are set after the prefix length" },
	/* The family bits are not the operator's: lengths stop at 32 and 128. */
	{ "10.0.0.0/40", "must be 0 to 32" },
	{ "::/136", "must be 0 to 128" },
};

static void test_parse_prefix_errors(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(prefix_err_cases); i++) {
		const struct prefix_err_case *c = &prefix_err_cases[i];
		struct sluice_prefix_key key;
		char err[SLUICE_ERR_LEN] = "";
		int ret = parse_prefix("--src", c->text, &key, err, sizeof(err));

		if (ret != -1)
			fail_msg("parse_prefix('%s') = %d, want -1", c->text, ret);
		assert_error(err, "--src", c->text, c->fragment);
	}
}

/* Long input: refused, and the message is cut at the buffer, still naming the argument. */
static void test_parse_prefix_long_input(void **state)
{
	char text[1024], err[SLUICE_ERR_LEN + 8];
	struct sluice_prefix_key key;
	const char *fillers[] = { "a", "1", ":" };

	(void)state;
	for (size_t f = 0; f < ARRAY_SIZE(fillers); f++) {
		memset(text, fillers[f][0], sizeof(text) - 1);
		text[sizeof(text) - 1] = '\0';
		memset(err, 'X', sizeof(err));
		if (parse_prefix("prefix", text, &key, err, SLUICE_ERR_LEN) != -1)
			fail_msg("a %zu-character run of '%s' was accepted", strlen(text),
				 fillers[f]);
		ASSERT_U64(strlen(err), SLUICE_ERR_LEN - 1, "message length", fillers[f]);
		/* Nothing written past the length the caller gave. */
		for (size_t j = SLUICE_ERR_LEN; j < sizeof(err); j++)
			if (err[j] != 'X')
				fail_msg("parse_prefix wrote past err_len at %zu", j);
		if (strncmp(err, "invalid prefix '", 16) != 0)
			fail_msg("long-input error does not name the argument: %.40s", err);
	}

	/* A valid address followed by a huge prefix length. */
	strcpy(text, "10.0.0.0/");
	memset(text + 9, '9', 500);
	text[509] = '\0';
	assert_int_equal(parse_prefix("prefix", text, &key, err, SLUICE_ERR_LEN), -1);
	assert_int_equal(strncmp(err, "invalid prefix '10.0.0.0/999", 28), 0);

	/* A host part one character longer than any address text. */
	strcpy(text, "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.2550/128");
	assert_int_equal(parse_prefix("prefix", text, &key, err, SLUICE_ERR_LEN), -1);
	assert_error(err, "prefix", text, NULL);
}

/* A short err buffer truncates the message and nothing more. */
static void test_parse_prefix_small_err_buffer(void **state)
{
	char err[32];
	struct sluice_prefix_key key;

	(void)state;
	memset(err, 'X', sizeof(err));
	assert_int_equal(parse_prefix("prefix", "garbage", &key, err, 8), -1);
	assert_string_equal(err, "invalid");
	for (size_t j = 8; j < sizeof(err); j++)
		assert_int_equal(err[j], 'X');
}

/* Random prefixes of every length, in both families, print and parse back to the same key. */
static void test_prefix_round_trip_random(void **state)
{
	(void)state;
	for (int i = 0; i < 20000; i++) {
		struct sluice_prefix_key key = {}, back;
		char text[SLUICE_PREFIX_STR_LEN], err[SLUICE_ERR_LEN];
		bool v4 = i % 2;
		__u32 bits, len;

		for (int b = 0; b < SLUICE_ADDR_LEN; b += 8) {
			uint64_t r = rng();

			memcpy(key.addr + b, &r, 8);
		}
		if (v4) {
			memset(key.addr + 4, 0, SLUICE_ADDR_LEN - 4);
			key.family = SLUICE_FAMILY_IPV4;
			len = rng() % 33;
		} else {
			key.family = SLUICE_FAMILY_IPV6;
			len = rng() % 129;
		}
		key.prefixlen = SLUICE_FAMILY_BITS + len;
		for (bits = len; bits < SLUICE_ADDR_LEN * 8; bits++)
			key.addr[bits / 8] &= ~(0x80 >> (bits % 8));

		format_prefix(&key, text, sizeof(text));
		memset(&back, 0x5a, sizeof(back));
		if (parse_prefix("prefix", text, &back, err, sizeof(err)) != 0)
			fail_msg("printed prefix '%s' does not parse: %s", text, err);
		if (memcmp(&key, &back, sizeof(key)) != 0)
			fail_msg("'%s' parses back to a different key (family %u prefixlen %u, "
				 "want family %u prefixlen %u)", text, back.family, back.prefixlen,
				 key.family, key.prefixlen);
		if (v4 == (strchr(text, ':') != NULL) || !strchr(text, '/'))
			fail_msg("%s prefix printed as '%s'", v4 ? "IPv4" : "IPv6", text);
	}
}

/* Random addresses of both families print and parse back to the same address. */
static void test_address_round_trip_random(void **state)
{
	(void)state;
	for (int i = 0; i < 20000; i++) {
		struct sluice_source_key src = {};
		struct sluice_prefix_key back;
		char text[SLUICE_PREFIX_STR_LEN], err[SLUICE_ERR_LEN];
		bool v4 = i % 2;

		for (int b = 0; b < SLUICE_ADDR_LEN; b += 8) {
			uint64_t r = rng();

			memcpy(src.addr + b, &r, 8);
		}
		/* Every fourth IPv6 address spells an IPv4 one, ::ffff:a.b.c.d. */
		if (!v4 && i % 4 == 0) {
			memset(src.addr, 0, 10);
			src.addr[10] = src.addr[11] = 0xff;
		}
		if (v4)
			memset(src.addr + 4, 0, SLUICE_ADDR_LEN - 4);
		src.family = v4 ? SLUICE_FAMILY_IPV4 : SLUICE_FAMILY_IPV6;

		format_address(&src, text, sizeof(text));
		if (strchr(text, '/') || v4 == (strchr(text, ':') != NULL))
			fail_msg("%s address printed as '%s'", v4 ? "IPv4" : "IPv6", text);
		memset(&back, 0x5a, sizeof(back));
		if (parse_prefix("prefix", text, &back, err, sizeof(err)) != 0)
			fail_msg("printed address '%s' does not parse: %s", text, err);
		ASSERT_U64(back.family, src.family, "family after printing and parsing", text);
		ASSERT_U64(back.prefixlen, SLUICE_FAMILY_BITS + (v4 ? 32 : 128),
			   "prefixlen after printing and parsing", text);
		if (memcmp(back.addr, src.addr, SLUICE_ADDR_LEN) != 0)
			fail_msg("'%s' parses back to another address", text);
	}
}

struct address_case {
	__u8 family;
	const char *addr;	/* the address in its family's text */
	const char *want;
};

static const struct address_case address_cases[] = {
	{ V4, "198.18.0.1", "198.18.0.1" },
	{ V4, "0.0.0.0", "0.0.0.0" },
	{ V4, "255.255.255.255", "255.255.255.255" },
	{ V6, "2001:db8::1", "2001:db8::1" },
	{ V6, "2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1" },
	{ V6, "::", "::" },
	{ V6, "::1", "::1" },
	/* An IPv6 source that spells an IPv4 address is printed as the IPv6 it is. */
	{ V6, "::ffff:198.18.0.1", "::ffff:198.18.0.1" },
	{ V6, "::fffe:c612:1", "::fffe:c612:1" },
	{ V6, "1::ffff:c612:1", "1::ffff:c612:1" },
};

static void test_format_address(void **state)
{
	struct sluice_source_key unknown = { .family = 9, .addr = { 198, 18, 0, 1 } };
	char text[SLUICE_PREFIX_STR_LEN];

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(address_cases); i++) {
		const struct address_case *c = &address_cases[i];
		struct sluice_source_key src = { .family = c->family };

		assert_int_equal(inet_pton(c->family == V4 ? AF_INET : AF_INET6, c->addr,
					   src.addr), 1);
		format_address(&src, text, sizeof(text));
		ASSERT_STR(text, c->want, "format_address", c->addr);
	}
	/* A key of no family Sluice knows is not passed off as an address. */
	format_address(&unknown, text, sizeof(text));
	ASSERT_STR(text, "family-9", "format_address", "family 9");
}

static void test_format_prefix_small_buffer(void **state)
{
	struct sluice_prefix_key key;
	char err[SLUICE_ERR_LEN], buf[16];

	(void)state;
	assert_int_equal(parse_prefix("prefix", "198.18.0.0/15", &key, err, sizeof(err)), 0);
	memset(buf, 'X', sizeof(buf));
	format_prefix(&key, buf, 6);
	assert_string_equal(buf, "198.1");
	for (size_t j = 6; j < sizeof(buf); j++)
		assert_int_equal(buf[j], 'X');
}

static void test_prefix_is_default(void **state)
{
	struct sluice_prefix_key key;
	char err[SLUICE_ERR_LEN];

	(void)state;
	assert_int_equal(parse_prefix("prefix", "default", &key, err, sizeof(err)), 0);
	assert_true(prefix_is_default(&key));
	/* Each family's /0 covers that family only: neither is the default. */
	assert_int_equal(parse_prefix("prefix", "::/0", &key, err, sizeof(err)), 0);
	assert_false(prefix_is_default(&key));
	assert_int_equal(parse_prefix("prefix", "0.0.0.0/0", &key, err, sizeof(err)), 0);
	assert_false(prefix_is_default(&key));
	assert_int_equal(parse_prefix("prefix", "8000::/1", &key, err, sizeof(err)), 0);
	assert_false(prefix_is_default(&key));
}

/* ---- rates ---- */

struct u64_case {
	const char *text;
	uint64_t want;
};

static const struct u64_case rate_ok_cases[] = {
	{ "500", 500 },
	{ "500pps", 500 },
	{ "10kpps", 10000 },
	{ "10Kpps", 10000 },
	{ "10k", 10000 },
	{ "2Mpps", 2000000 },
	{ "2M", 2000000 },
	{ "1Gpps", 1000000000 },
	{ "1G", 1000000000 },
	{ "1.5kpps", 1500 },
	{ "2.5Mpps", 2500000 },
	{ "1.001kpps", 1001 },
	{ "0.001kpps", 1 },
	{ "1.000000001Gpps", 1000000001 },
	{ "0.000000001Gpps", 1 },
	{ "1.500kpps", 1500 },
	{ "0", 0 },
	{ "0pps", 0 },
	{ "007", 7 },
	/* The largest value that fits, written with a fraction. */
	{ "18446744073.709551615Gpps", UINT64_MAX },
	{ "18446744073709551.615kpps", UINT64_MAX },
};

static void test_parse_rate_ok(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(rate_ok_cases); i++) {
		const struct u64_case *c = &rate_ok_cases[i];
		char err[SLUICE_ERR_LEN] = "";
		__u64 pps = 12345;
		int ret = parse_rate("--rate", c->text, &pps, err, sizeof(err));

		if (ret != 0)
			fail_msg("parse_rate('%s') = %d: %s", c->text, ret, err);
		ASSERT_U64(pps, c->want, "parse_rate", c->text);
	}
}

static const char *const rate_err_cases[] = {
	"",
	"abc",
	"pps",
	"k",
	"10xpps",
	"1.5pps",	/* not a whole number of packets */
	"1.5",
	"0.5",
	"1.0001kpps",
	"1.0000000001Gpps",	/* ten fractional digits */
	"1.0000000000Gpps",	/* whole, but more digits than are read exactly */
	"1.99999999999999999999Gpps",
	"-1",
	"+500",
	" 500",
	"500 ",
	"10 kpps",
	"1e3",
	"0x10",
	"1,000",
	"1.",
	".5",
	"1..5",
	"10mpps",	/* milli-packets make no sense */
	"10kPPS",
	"10ppsk",
	"10kk",
	"99999999999999999999",
	"18446744073709551616",
	"20000000000Gpps",
	"18446744073.709551616Gpps",
	"18446744073709551.616kpps",
	"18446744074Gpps",
};

static void test_parse_rate_errors(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(rate_err_cases); i++) {
		const char *text = rate_err_cases[i];
		char err[SLUICE_ERR_LEN] = "";
		__u64 pps = 12345;
		int ret = parse_rate("--rate", text, &pps, err, sizeof(err));

		if (ret != -1)
			fail_msg("parse_rate('%s') = %d (%" PRIu64 "), want -1", text, ret,
				 (uint64_t)pps);
		/* A refused value changes nothing. */
		ASSERT_U64(pps, 12345, "output after a refused rate", text);
		assert_error(err, "--rate", text, "expected packets per second");
	}
}

/* ---- counts ---- */

struct count_case {
	const char *text;
	uint64_t min, max;
	int ret;
	uint64_t want;		/* when ret == 0 */
	const char *fragment;	/* when ret == -1 */
};

static const struct count_case count_cases[] = {
	{ "0", 0, 10, 0, 0, NULL },
	{ "10", 0, 10, 0, 10, NULL },
	{ "1", 1, 1, 0, 1, NULL },
	{ "11", 0, 10, -1, 0, "must be from 0 to 10" },
	{ "0", 1, 10, -1, 0, "must be from 1 to 10" },
	{ "1k", 0, UINT64_MAX, 0, 1000, NULL },
	{ "2M", 0, UINT64_MAX, 0, 2000000, NULL },
	{ "3G", 0, UINT64_MAX, 0, 3000000000ULL, NULL },
	{ "1.5k", 0, UINT64_MAX, 0, 1500, NULL },
	{ "0.25M", 0, UINT64_MAX, 0, 250000, NULL },
	{ "1048576", 1, 1u << 20, 0, 1048576, NULL },
	{ "1048577", 1, 1u << 20, -1, 0, "must be from 1 to 1048576" },
	{ "1.048577M", 1, 1u << 20, -1, 0, "must be from 1 to 1048576" },
	{ "4294967295", 1, UINT32_MAX, 0, UINT32_MAX, NULL },
	{ "4294967296", 1, UINT32_MAX, -1, 0, "must be from 1 to 4294967295" },
	{ "18446744073.709551615G", 0, UINT64_MAX, 0, UINT64_MAX, NULL },
	{ "18446744073709551616", 0, UINT64_MAX, -1, 0, "expected a whole number" },
	{ "18446744073709551615", 0, UINT64_MAX, 0, UINT64_MAX, NULL },
	{ "18446744073709551610", 0, UINT64_MAX, 0, 18446744073709551610ULL, NULL },
	{ "18446744074G", 0, UINT64_MAX, -1, 0, "expected a whole number" },
	{ "1.5", 0, 10, -1, 0, "expected a whole number" },
	{ "1.0001k", 0, UINT64_MAX, -1, 0, "expected a whole number" },
	{ "", 0, 10, -1, 0, "expected a whole number" },
	{ "-1", 0, 10, -1, 0, "expected a whole number" },
	{ "abc", 0, 10, -1, 0, "expected a whole number" },
	{ "1kpps", 0, UINT64_MAX, -1, 0, "expected a whole number" },
	{ "1K", 0, UINT64_MAX, -1, 0, "expected a whole number" },
	{ "1m", 0, UINT64_MAX, -1, 0, "expected a whole number" },
	{ "1kk", 0, UINT64_MAX, -1, 0, "expected a whole number" },
	{ "1Mx", 0, UINT64_MAX, -1, 0, "expected a whole number" },
	{ "1 ", 0, 10, -1, 0, "expected a whole number" },
	{ "1e3", 0, UINT64_MAX, -1, 0, "expected a whole number" },
};

static void test_parse_count(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(count_cases); i++) {
		const struct count_case *c = &count_cases[i];
		char err[SLUICE_ERR_LEN] = "";
		__u64 value = 777;
		int ret = parse_count("--burst", c->text, c->min, c->max, &value, err, sizeof(err));

		if (ret != c->ret)
			fail_msg("parse_count('%s', %" PRIu64 "..%" PRIu64 ") = %d, want %d (%s)",
				 c->text, c->min, c->max, ret, c->ret, err);
		if (ret == 0) {
			ASSERT_U64(value, c->want, "parse_count", c->text);
		} else {
			assert_error(err, "--burst", c->text, c->fragment);
			ASSERT_U64(value, 777, "parse_count leaves the value alone on error",
				   c->text);
		}
	}
}

/* ---- durations ---- */

struct duration_case {
	const char *text;
	int ret;
	uint64_t want_ms;
	const char *fragment;
};

/* Bounds as `sluice stats --watch` uses them: 100 ms to an hour. */
#define DURATION_MIN 100
#define DURATION_MAX 3600000

static const struct duration_case duration_cases[] = {
	{ "2", 0, 2000, NULL },
	{ "2s", 0, 2000, NULL },
	{ "500ms", 0, 500, NULL },
	{ "1m", 0, 60000, NULL },
	{ "0.5", 0, 500, NULL },
	{ "0.5s", 0, 500, NULL },
	{ "1.5m", 0, 90000, NULL },
	{ "0.1", 0, 100, NULL },
	{ "100ms", 0, 100, NULL },
	{ "60m", 0, 3600000, NULL },
	{ "3600", 0, 3600000, NULL },
	{ "3600000ms", 0, 3600000, NULL },
	{ "99ms", -1, 0, "must be from 100ms to 3600000ms" },
	{ "0.099", -1, 0, "must be from 100ms to 3600000ms" },
	{ "0", -1, 0, "must be from 100ms to 3600000ms" },
	{ "3601", -1, 0, "must be from 100ms to 3600000ms" },
	{ "60.001m", -1, 0, "must be from 100ms to 3600000ms" },
	{ "3600001ms", -1, 0, "must be from 100ms to 3600000ms" },
	{ "99999999999999999", -1, 0, "expected a duration" },	/* overflows in ms */
	{ "0.0005", -1, 0, "expected a duration" },	/* half a millisecond */
	{ "1.5ms", -1, 0, "expected a duration" },
	{ "", -1, 0, "expected a duration" },
	{ "s", -1, 0, "expected a duration" },
	{ "2h", -1, 0, "expected a duration" },
	{ "2S", -1, 0, "expected a duration" },
	{ "2sec", -1, 0, "expected a duration" },
	{ "2 s", -1, 0, "expected a duration" },
	{ "-1", -1, 0, "expected a duration" },
	{ "1e3", -1, 0, "expected a duration" },
	{ "1.m", -1, 0, "expected a duration" },
};

static void test_parse_duration_ms(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(duration_cases); i++) {
		const struct duration_case *c = &duration_cases[i];
		char err[SLUICE_ERR_LEN] = "";
		__u64 ms = 777;
		int ret = parse_duration_ms("--watch", c->text, DURATION_MIN, DURATION_MAX, &ms,
					    err, sizeof(err));

		if (ret != c->ret)
			fail_msg("parse_duration_ms('%s') = %d, want %d (%s)", c->text, ret,
				 c->ret, err);
		if (ret == 0) {
			ASSERT_U64(ms, c->want_ms, "parse_duration_ms", c->text);
		} else {
			assert_error(err, "--watch", c->text, c->fragment);
			ASSERT_U64(ms, 777, "parse_duration_ms leaves the value alone on error",
				   c->text);
		}
	}
}

/* ---- printing rates ---- */

struct format_rate_case {
	uint64_t pps;
	const char *want;
};

static const struct format_rate_case format_rate_cases[] = {
	{ 0, "0pps" },
	{ 1, "1pps" },
	{ 500, "500pps" },
	{ 999, "999pps" },
	{ 1000, "1kpps" },
	{ 1001, "1.001kpps" },
	{ 1050, "1.05kpps" },
	{ 1500, "1.5kpps" },
	{ 10000, "10kpps" },
	{ 999999, "999.999kpps" },
	{ 1000000, "1Mpps" },
	{ 1500000, "1.5Mpps" },
	{ 1234000, "1.234Mpps" },
	{ 2000000, "2Mpps" },
	/* Not exact in Mpps with three decimals, and too long in kpps. */
	{ 1234567, "1234567pps" },
	{ 1000000000, "1Gpps" },
	{ 2500000000ULL, "2.5Gpps" },
	{ 1000001000, "1000001000pps" },
	{ 1000001000000ULL, "1000.001Gpps" },
};

static void test_format_rate(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(format_rate_cases); i++) {
		const struct format_rate_case *c = &format_rate_cases[i];
		char text[64], name[32];

		snprintf(name, sizeof(name), "%" PRIu64, c->pps);
		format_rate(c->pps, text, sizeof(text));
		ASSERT_STR(text, c->want, "format_rate", name);
	}
}

/*
 * What format_rate prints, parse_rate reads back to the same number, with at
 * most three decimals and no trailing zero.
 */
static void test_format_rate_round_trip(void **state)
{
	(void)state;
	for (int i = 0; i < 100000; i++) {
		uint64_t r = rng(), pps;
		char text[64], err[SLUICE_ERR_LEN], name[32];
		const char *dot;
		__u64 back = 0;

		/* Mostly operator-sized rates, some round ones, a few of any size. */
		switch (i % 4) {
		case 0: pps = r % 1000000001; break;
		case 1: pps = (r % 1000001) * 1000; break;
		case 2: pps = (r % 1001) * 1000000; break;
		default: pps = r >> (r % 64); break;
		}
		snprintf(name, sizeof(name), "%" PRIu64, pps);
		format_rate(pps, text, sizeof(text));
		if (parse_rate("--rate", text, &back, err, sizeof(err)) != 0)
			fail_msg("format_rate(%s) = '%s' does not parse: %s", name, text, err);
		ASSERT_U64(back, pps, "format_rate then parse_rate", text);
		dot = strchr(text, '.');
		if (dot) {
			size_t decimals = strspn(dot + 1, "0123456789");

			if (decimals > 3 || dot[decimals] == '0')
				fail_msg("format_rate(%s) = '%s': more decimals than needed",
					 name, text);
		}
	}
}

static void test_format_rate_small_buffer(void **state)
{
	char buf[16];

	(void)state;
	memset(buf, 'X', sizeof(buf));
	format_rate(1500, buf, 4);
	assert_string_equal(buf, "1.5");
	for (size_t j = 4; j < sizeof(buf); j++)
		assert_int_equal(buf[j], 'X');
}

/* ---- limits in packets or bytes ---- */

#define PACKETS SLUICE_UNIT_PACKETS
#define BYTES SLUICE_UNIT_BYTES

struct limit_rate_case {
	const char *text;
	uint64_t value;
	enum sluice_unit unit;
};

static const struct limit_rate_case limit_rate_ok_cases[] = {
	/* Packets: whatever parse_rate() reads, bare multipliers included. */
	{ "500", 500, PACKETS },
	{ "500pps", 500, PACKETS },
	{ "10kpps", 10000, PACKETS },
	{ "10Kpps", 10000, PACKETS },
	{ "2Mpps", 2000000, PACKETS },
	{ "1.5kpps", 1500, PACKETS },
	{ "10k", 10000, PACKETS },
	{ "10M", 10000000, PACKETS },
	{ "1G", 1000000000, PACKETS },
	{ "0", 0, PACKETS },
	/* Bits per second, 1000-based, to bytes: 100mbit is 12.5 MB/s. */
	{ "8bit", 1, BYTES },
	{ "800bit", 100, BYTES },
	{ "10kbit", 1250, BYTES },
	{ "10Kbit", 1250, BYTES },
	{ "100mbit", 12500000, BYTES },
	{ "100Mbit", 12500000, BYTES },
	{ "1gbit", 125000000, BYTES },
	{ "1Gbit", 125000000, BYTES },
	{ "2.5gbit", 312500000, BYTES },
	{ "1.5mbit", 187500, BYTES },
	{ "9.872kbit", 1234, BYTES },
	{ "0.008kbit", 1, BYTES },
	{ "1000gbit", 125000000000ULL, BYTES },
	{ "0bit", 0, BYTES },
	/* Bytes per second, 1000-based. */
	{ "1B", 1, BYTES },
	{ "1500B", 1500, BYTES },
	{ "500KB", 500000, BYTES },
	{ "500kB", 500000, BYTES },
	{ "1.234KB", 1234, BYTES },
	{ "10MB", 10000000, BYTES },
	{ "1.5MB", 1500000, BYTES },
	{ "1GB", 1000000000, BYTES },
	{ "18446744073709551615B", UINT64_MAX, BYTES },
	/* The most bits that fit, a multiple of 8. */
	{ "18446744073709551608bit", UINT64_MAX / 8, BYTES },
};

static void test_parse_limit_rate_ok(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(limit_rate_ok_cases); i++) {
		const struct limit_rate_case *c = &limit_rate_ok_cases[i];
		char err[SLUICE_ERR_LEN] = "";
		enum sluice_unit unit = SLUICE_UNIT_COUNT;
		__u64 value = 12345;
		int ret = parse_limit_rate("--rate", c->text, &value, &unit, err, sizeof(err));

		if (ret != 0)
			fail_msg("parse_limit_rate('%s') = %d: %s", c->text, ret, err);
		ASSERT_U64(value, c->value, "parse_limit_rate value", c->text);
		ASSERT_U64(unit, c->unit, "parse_limit_rate unit", c->text);
	}
}

struct error_case {
	const char *text;
	const char *fragment;	/* part of the message that says what was wrong */
};

#define EXPECTED_RATE "expected packets per second (500, 10kpps, 2Mpps), bits per second " \
		      "(100mbit, 1gbit) or bytes per second (500KB, 10MB)"
#define NOT_WHOLE_BYTES "not a whole number of bytes per second (bits must come in multiples of 8)"

static const struct error_case limit_rate_err_cases[] = {
	{ "", EXPECTED_RATE },
	{ "abc", EXPECTED_RATE },
	{ "mbit", EXPECTED_RATE },
	{ "KB", EXPECTED_RATE },
	/* Spellings that mean bits to some and bytes to others are refused, not guessed. */
	{ "10mb", EXPECTED_RATE },
	{ "10Mb", EXPECTED_RATE },
	{ "10b", EXPECTED_RATE },
	{ "10mbps", EXPECTED_RATE },
	{ "10Mbps", EXPECTED_RATE },
	{ "10kbps", EXPECTED_RATE },
	{ "10Bps", EXPECTED_RATE },
	{ "10KBps", EXPECTED_RATE },
	{ "10MB/s", EXPECTED_RATE },
	{ "10mbit/s", EXPECTED_RATE },
	/* Binary units and units not in the list. */
	{ "10KiB", EXPECTED_RATE },
	{ "10Mibit", EXPECTED_RATE },
	{ "10bits", EXPECTED_RATE },
	{ "10MBit", EXPECTED_RATE },
	{ "10GBit", EXPECTED_RATE },
	{ "1tbit", EXPECTED_RATE },
	{ "1TB", EXPECTED_RATE },
	{ "10mB", EXPECTED_RATE },
	{ "10gB", EXPECTED_RATE },
	{ "10mpps", EXPECTED_RATE },
	/* Not numbers, or not written plainly. */
	{ "10 mbit", EXPECTED_RATE },
	{ "10mbit ", EXPECTED_RATE },
	{ " 10mbit", EXPECTED_RATE },
	{ "-1mbit", EXPECTED_RATE },
	{ "+1mbit", EXPECTED_RATE },
	{ "1e3mbit", EXPECTED_RATE },
	{ "0x10B", EXPECTED_RATE },
	{ "1,000KB", EXPECTED_RATE },
	{ ".5MB", EXPECTED_RATE },
	{ "1.MB", EXPECTED_RATE },
	/* Fractions that do not come out whole in the unit itself. */
	{ "1.5bit", EXPECTED_RATE },
	{ "0.5B", EXPECTED_RATE },
	{ "1.0001KB", EXPECTED_RATE },
	{ "1.5pps", EXPECTED_RATE },
	/* Too big for 64 bits. */
	{ "18446744073709551616B", EXPECTED_RATE },
	{ "18446744073709551616bit", EXPECTED_RATE },
	{ "99999999999gbit", EXPECTED_RATE },
	{ "18446744074GB", EXPECTED_RATE },
	/* Whole bits, but not whole bytes. */
	{ "1bit", NOT_WHOLE_BYTES },
	{ "12bit", NOT_WHOLE_BYTES },
	{ "1001bit", NOT_WHOLE_BYTES },
	{ "1.5kbit", NOT_WHOLE_BYTES },
	{ "0.001kbit", NOT_WHOLE_BYTES },
	{ "1.000001mbit", NOT_WHOLE_BYTES },
	{ "18446744073709551615bit", NOT_WHOLE_BYTES },
};

static void test_parse_limit_rate_errors(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(limit_rate_err_cases); i++) {
		const struct error_case *c = &limit_rate_err_cases[i];
		char err[SLUICE_ERR_LEN] = "";
		enum sluice_unit unit = SLUICE_UNIT_COUNT;
		__u64 value = 12345;
		int ret = parse_limit_rate("--rate", c->text, &value, &unit, err, sizeof(err));

		if (ret != -1)
			fail_msg("parse_limit_rate('%s') = %d (%" PRIu64 ", unit %d), want -1",
				 c->text, ret, (uint64_t)value, unit);
		/* A refused value changes nothing. */
		ASSERT_U64(value, 12345, "value after a refused rate", c->text);
		ASSERT_U64(unit, SLUICE_UNIT_COUNT, "unit after a refused rate", c->text);
		assert_error(err, "--rate", c->text, c->fragment);
	}
}

struct limit_burst_case {
	const char *text;
	enum sluice_unit unit;	/* of the rate */
	int ret;
	uint64_t want;		/* when ret == 0 */
	const char *fragment;	/* when ret == -1 */
};

#define EXPECTED_PACKETS "expected a number of packets such as 100 or 10k, as the rate is in " \
			 "packets"
#define EXPECTED_BYTES "expected bytes such as 1500, 1500B, 64KB or 1MB, as the rate is in bytes"

static const struct limit_burst_case limit_burst_cases[] = {
	/* For a packet rate, packets, as parse_count() reads them. */
	{ "100", PACKETS, 0, 100, NULL },
	{ "10k", PACKETS, 0, 10000, NULL },
	{ "1.5k", PACKETS, 0, 1500, NULL },
	{ "2M", PACKETS, 0, 2000000, NULL },
	{ "0", PACKETS, 0, 0, NULL },
	{ "100B", PACKETS, -1, 0, EXPECTED_PACKETS },
	{ "64KB", PACKETS, -1, 0, EXPECTED_PACKETS },
	{ "1kpps", PACKETS, -1, 0, EXPECTED_PACKETS },
	{ "1mbit", PACKETS, -1, 0, EXPECTED_PACKETS },
	{ "1.5", PACKETS, -1, 0, EXPECTED_PACKETS },
	{ "", PACKETS, -1, 0, EXPECTED_PACKETS },
	{ "-1", PACKETS, -1, 0, EXPECTED_PACKETS },
	/* For a byte rate, bytes: plain (with k, M, G) or B, KB, kB, MB, GB. */
	{ "1500", BYTES, 0, 1500, NULL },
	{ "1500B", BYTES, 0, 1500, NULL },
	{ "64KB", BYTES, 0, 64000, NULL },
	{ "64kB", BYTES, 0, 64000, NULL },
	{ "64k", BYTES, 0, 64000, NULL },
	{ "1.518KB", BYTES, 0, 1518, NULL },
	{ "1MB", BYTES, 0, 1000000, NULL },
	{ "1.5MB", BYTES, 0, 1500000, NULL },
	{ "2M", BYTES, 0, 2000000, NULL },
	{ "4GB", BYTES, 0, 4000000000ULL, NULL },
	{ "18446744073709551615B", BYTES, 0, UINT64_MAX, NULL },
	{ "12000bit", BYTES, -1, 0, EXPECTED_BYTES },
	{ "1Mb", BYTES, -1, 0, EXPECTED_BYTES },
	{ "1mB", BYTES, -1, 0, EXPECTED_BYTES },
	{ "1KiB", BYTES, -1, 0, EXPECTED_BYTES },
	{ "1.5B", BYTES, -1, 0, EXPECTED_BYTES },
	{ "10 KB", BYTES, -1, 0, EXPECTED_BYTES },
	{ "100pps", BYTES, -1, 0, EXPECTED_BYTES },
	{ "", BYTES, -1, 0, EXPECTED_BYTES },
	{ "18446744073709551616", BYTES, -1, 0, EXPECTED_BYTES },
};

static void test_parse_limit_burst(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(limit_burst_cases); i++) {
		const struct limit_burst_case *c = &limit_burst_cases[i];
		char err[SLUICE_ERR_LEN] = "";
		__u64 value = 777;
		int ret = parse_limit_burst("--burst", c->text, c->unit, &value, err, sizeof(err));

		if (ret != c->ret)
			fail_msg("parse_limit_burst('%s', %s) = %d, want %d (%s)", c->text,
				 c->unit == BYTES ? "bytes" : "packets", ret, c->ret, err);
		if (ret == 0) {
			ASSERT_U64(value, c->want, "parse_limit_burst", c->text);
		} else {
			assert_error(err, "--burst", c->text, c->fragment);
			ASSERT_U64(value, 777, "parse_limit_burst leaves the value alone on error",
				   c->text);
		}
	}
}

struct format_limit_case {
	uint64_t value;
	enum sluice_unit unit;
	const char *want;
};

static const struct format_limit_case format_limit_rate_cases[] = {
	/* Bytes print as bits, the way links are rated. */
	{ 12500000, BYTES, "100mbit" },
	{ 125000000, BYTES, "1gbit" },
	{ 312500000, BYTES, "2.5gbit" },
	{ 125000000000ULL, BYTES, "1000gbit" },
	{ 187500, BYTES, "1.5mbit" },
	{ 1250, BYTES, "10kbit" },
	{ 1234, BYTES, "9.872kbit" },
	{ 125, BYTES, "1kbit" },
	{ 100, BYTES, "800bit" },
	{ 1, BYTES, "8bit" },
	{ 0, BYTES, "0bit" },
	{ 124999, BYTES, "999.992kbit" },
	/* Not exact in mbit with three decimals, and too long in kbit. */
	{ 1250001, BYTES, "10000008bit" },
	/* More bits than 64 bits hold: said in bytes. */
	{ UINT64_MAX, BYTES, "18446744073709551615B" },
	{ 4000000000000000000ULL, BYTES, "4000000000GB" },
	/* Packets print as format_rate() has them. */
	{ 1500, PACKETS, "1.5kpps" },
	{ 500, PACKETS, "500pps" },
	{ 1000000000, PACKETS, "1Gpps" },
};

static const struct format_limit_case format_limit_burst_cases[] = {
	{ 1500, BYTES, "1500B" },
	{ 1518, BYTES, "1518B" },
	{ 9999, BYTES, "9999B" },
	{ 10000, BYTES, "10KB" },
	{ 12345, BYTES, "12.345KB" },
	{ 64000, BYTES, "64KB" },
	{ 1000000, BYTES, "1MB" },
	{ 1500000, BYTES, "1.5MB" },
	{ 4000000000ULL, BYTES, "4GB" },
	{ 999, BYTES, "999B" },
	{ 1234567, BYTES, "1234567B" },
	{ 0, BYTES, "0B" },
	{ 100, PACKETS, "100" },
	{ 1500, PACKETS, "1500" },
	{ 1000000000, PACKETS, "1000000000" },
};

static void test_format_limit(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(format_limit_rate_cases); i++) {
		const struct format_limit_case *c = &format_limit_rate_cases[i];
		char text[64], name[48];

		snprintf(name, sizeof(name), "%" PRIu64 " %s", c->value,
			 c->unit == BYTES ? "bytes/s" : "pps");
		format_limit_rate(c->value, c->unit, text, sizeof(text));
		ASSERT_STR(text, c->want, "format_limit_rate", name);
	}
	for (size_t i = 0; i < ARRAY_SIZE(format_limit_burst_cases); i++) {
		const struct format_limit_case *c = &format_limit_burst_cases[i];
		char text[64], name[48];

		snprintf(name, sizeof(name), "%" PRIu64 " %s", c->value,
			 c->unit == BYTES ? "bytes" : "packets");
		format_limit_burst(c->value, c->unit, text, sizeof(text));
		ASSERT_STR(text, c->want, "format_limit_burst", name);
	}
}

/* What the formatters print, the parsers read back to the same value and unit. */
static void test_format_limit_round_trip(void **state)
{
	(void)state;
	for (int i = 0; i < 100000; i++) {
		uint64_t r = rng(), value;
		enum sluice_unit unit = i % 3 ? BYTES : PACKETS, back_unit = SLUICE_UNIT_COUNT;
		char text[64], err[SLUICE_ERR_LEN], name[48];
		__u64 back = 0;

		/* Operator-sized values, round bit rates, and any size at all. */
		switch (i % 4) {
		case 0: value = r % 125000000001ULL; break;
		case 1: value = (r % 1000001) * 125; break;	/* whole kbit */
		case 2: value = (r % 10001) * 125000; break;	/* whole mbit */
		default: value = r >> (r % 64); break;
		}
		snprintf(name, sizeof(name), "%" PRIu64 " %s", value,
			 unit == BYTES ? "bytes" : "packets");
		format_limit_rate(value, unit, text, sizeof(text));
		if (parse_limit_rate("--rate", text, &back, &back_unit, err, sizeof(err)) != 0)
			fail_msg("format_limit_rate(%s) = '%s' does not parse: %s", name, text,
				 err);
		ASSERT_U64(back, value, "format_limit_rate then parse_limit_rate", text);
		ASSERT_U64(back_unit, unit, "unit after format_limit_rate and back", text);

		format_limit_burst(value, unit, text, sizeof(text));
		back = 0;
		if (parse_limit_burst("--burst", text, unit, &back, err, sizeof(err)) != 0)
			fail_msg("format_limit_burst(%s) = '%s' does not parse: %s", name, text,
				 err);
		ASSERT_U64(back, value, "format_limit_burst then parse_limit_burst", text);
	}
}

struct limit_error_case {
	const char *rate, *burst;	/* as typed */
	const char *algo;
	const char *arg;		/* the argument the message names */
	const char *fragment;
};

/*
 * From what an operator types to what sluice_rule_limit_init() refuses and
 * the message that says why: the argument, the input, and the bound in the
 * limit's own unit.
 */
static const struct limit_error_case limit_error_cases[] = {
	{ "0", "10", "token-bucket", "--rate", "must be above zero" },
	{ "0mbit", "10KB", "gcra", "--rate", "must be above zero" },
	{ "2Gpps", "10", "token-bucket", "--rate", "must be at most 1Gpps" },
	{ "2000gbit", "1MB", "token-bucket", "--rate", "must be at most 1000gbit" },
	{ "1001gbit", "1MB", "fixed-window", "--rate", "must be at most 1000gbit" },
	{ "100", "0", "sliding-window", "--burst", "must be at least 1" },
	{ "100mbit", "0", "token-bucket", "--burst",
	  "must be at least 1518B, one full-size frame" },
	{ "100mbit", "1500B", "gcra", "--burst", "must be at least 1518B, one full-size frame" },
	{ "100", "1.000000001G", "token-bucket", "--burst", "must be at most 1000000000 packets" },
	{ "100mbit", "5GB", "fixed-window", "--burst", "must be at most 4GB" },
	{ "1", "5M", "token-bucket", "--burst", "at --rate 1 that is over 50 days of traffic" },
	{ "8bit", "5MB", "sliding-window", "--burst",
	  "at --rate 8bit that is over 50 days of traffic" },
	{ "2Mpps", "1", "fixed-window", "--burst",
	  "at --rate 2Mpps a window (burst / rate) would last under 1us" },
	{ "1000gbit", "64KB", "sliding-window", "--burst", "would last under 1us" },
};

static void test_format_limit_error(void **state)
{
	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(limit_error_cases); i++) {
		const struct limit_error_case *c = &limit_error_cases[i];
		char err[SLUICE_ERR_LEN] = "";
		struct sluice_rule_limit limit;
		enum sluice_rule_limit_error error;
		enum sluice_unit unit;
		enum sluice_algo algo;
		__u64 rate, burst;

		if (parse_limit_rate("--rate", c->rate, &rate, &unit, err, sizeof(err)) ||
		    parse_limit_burst("--burst", c->burst, unit, &burst, err, sizeof(err)) ||
		    parse_algo("--algo", c->algo, &algo, err, sizeof(err)))
			fail_msg("case %zu does not parse: %s", i, err);
		error = sluice_rule_limit_init(&limit, algo, unit, rate, burst);
		if (error == SLUICE_RULE_LIMIT_OK)
			fail_msg("--rate %s --burst %s --algo %s was accepted", c->rate, c->burst,
				 c->algo);
		format_limit_error(error, unit, c->rate, c->burst, err, sizeof(err));
		assert_error(err, c->arg, strcmp(c->arg, "--rate") ? c->burst : c->rate,
			     c->fragment);
	}
	/* Errors the CLI cannot make still say something. */
	for (int e = SLUICE_RULE_LIMIT_BAD_ALGO; e <= SLUICE_RULE_LIMIT_BAD_UNIT; e++) {
		char err[SLUICE_ERR_LEN];

		format_limit_error(e, PACKETS, "1", "1", err, sizeof(err));
		ASSERT_STR(err, "invalid limit: unknown algorithm or unit", "format_limit_error",
			   "an unknown algorithm or unit");
	}
}

static void test_parse_algo(void **state)
{
	static const struct {
		const char *text;
		enum sluice_algo algo;
	} ok[] = {
		{ "token-bucket", SLUICE_ALGO_TOKEN_BUCKET },
		{ "gcra", SLUICE_ALGO_GCRA },
		{ "sliding-window", SLUICE_ALGO_SLIDING_WINDOW },
		{ "fixed-window", SLUICE_ALGO_FIXED_WINDOW },
	};
	static const char *const bad[] = {
		"", "token_bucket", "tokenbucket", "GCRA", "leaky-bucket", "sliding", "fixed",
		"token-bucket ", "gcra2",
	};

	(void)state;
	for (size_t i = 0; i < ARRAY_SIZE(ok); i++) {
		enum sluice_algo algo = SLUICE_ALGO_COUNT;
		char err[SLUICE_ERR_LEN];

		if (parse_algo("--algo", ok[i].text, &algo, err, sizeof(err)))
			fail_msg("parse_algo('%s'): %s", ok[i].text, err);
		ASSERT_U64(algo, ok[i].algo, "parse_algo", ok[i].text);
		ASSERT_STR(algo_name(algo), ok[i].text, "algo_name", ok[i].text);
	}
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		enum sluice_algo algo = SLUICE_ALGO_COUNT;
		char err[SLUICE_ERR_LEN];

		if (parse_algo("--algo", bad[i], &algo, err, sizeof(err)) != -1)
			fail_msg("parse_algo('%s') accepted", bad[i]);
		ASSERT_U64(algo, SLUICE_ALGO_COUNT, "parse_algo leaves the value alone", bad[i]);
		assert_error(err, "--algo", bad[i],
			     "expected token-bucket, gcra, sliding-window or fixed-window");
	}
	ASSERT_STR(algo_name(SLUICE_ALGO_COUNT), "unknown", "algo_name", "SLUICE_ALGO_COUNT");
	ASSERT_STR(algo_name((enum sluice_algo)-1), "unknown", "algo_name", "-1");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_prefix_ok),
		cmocka_unit_test(test_parse_prefix_ipv4_bytes),
		cmocka_unit_test(test_parse_prefix_families),
		cmocka_unit_test(test_parse_prefix_errors),
		cmocka_unit_test(test_parse_prefix_long_input),
		cmocka_unit_test(test_parse_prefix_small_err_buffer),
		cmocka_unit_test(test_prefix_round_trip_random),
		cmocka_unit_test(test_address_round_trip_random),
		cmocka_unit_test(test_format_address),
		cmocka_unit_test(test_format_prefix_small_buffer),
		cmocka_unit_test(test_prefix_is_default),
		cmocka_unit_test(test_parse_rate_ok),
		cmocka_unit_test(test_parse_rate_errors),
		cmocka_unit_test(test_parse_count),
		cmocka_unit_test(test_parse_duration_ms),
		cmocka_unit_test(test_format_rate),
		cmocka_unit_test(test_format_rate_round_trip),
		cmocka_unit_test(test_format_rate_small_buffer),
		cmocka_unit_test(test_parse_limit_rate_ok),
		cmocka_unit_test(test_parse_limit_rate_errors),
		cmocka_unit_test(test_parse_limit_burst),
		cmocka_unit_test(test_format_limit),
		cmocka_unit_test(test_format_limit_round_trip),
		cmocka_unit_test(test_format_limit_error),
		cmocka_unit_test(test_parse_algo),
	};

	return cmocka_run_group_tests_name("parse", tests, NULL, NULL);
}
