/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Reading the rule maps, shared by the commands that show them and by status. */
#ifndef SLUICE_RULES_H
#define SLUICE_RULES_H

#include <stddef.h>
#include <jansson.h>

#include "sluice.h"

/*
 * Every key of a prefix trie, sorted: the default first, then IPv4, then
 * IPv6, each by address and length. The caller frees *keys. Returns 0, or -1
 * with errno set.
 */
int prefix_keys(int trie_fd, struct sluice_prefix_key **keys, size_t *count);

/*
 * Parses the arguments of `limit set` (argv[0] is "set"): the prefix and its
 * limit, validated. Returns 0, or -1 with one line in `err`.
 */
int limit_parse(int argc, char **argv, struct sluice_prefix_key *key, struct sluice_limit *limit,
		char *err, size_t err_len);

/* {"prefix": "default", "unlimited": false, "rate": 100, "burst": 10} */
json_t *limit_json(const char *prefix, const struct sluice_limit *limit);
/* Every limit, in prefix_keys() order, as limit_json(); NULL with errno on failure. */
json_t *limits_collect(int limits_fd);
/* "100pps, burst 10" or "unlimited", for one entry of limits_collect(). */
const char *limit_describe(const json_t *limit);

/* Every prefix on a list: [{"prefix": "198.18.0.0/24", "hits": 12}, ...]; NULL on failure. */
json_t *list_collect(int list_fd);

#endif /* SLUICE_RULES_H */
