// SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause)
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>

#include "parse.h"
#include "rules.h"

static int compare_prefix_keys(const void *a, const void *b)
{
	const struct sluice_prefix_key *x = a, *y = b;
	int by_addr = memcmp(x->addr, y->addr, sizeof(x->addr));

	/* The default has family 0, so it comes first, then IPv4 (4), then IPv6 (6). */
	if (x->family != y->family)
		return x->family < y->family ? -1 : 1;
	if (by_addr)
		return by_addr;
	return x->prefixlen < y->prefixlen ? -1 : x->prefixlen > y->prefixlen;
}

int prefix_keys(int trie_fd, struct sluice_prefix_key **keys, size_t *count)
{
	struct sluice_prefix_key key, *list = NULL, *grown;
	size_t n = 0, capacity = 0;
	void *prev = NULL;

	while (bpf_map_get_next_key(trie_fd, prev, &key) == 0) {
		if (n == capacity) {
			capacity = capacity ? capacity * 2 : 64;
			grown = realloc(list, capacity * sizeof(*list));
			if (!grown) {
				free(list);
				errno = ENOMEM;
				return -1;
			}
			list = grown;
		}
		list[n++] = key;
		prev = &list[n - 1];
	}
	if (errno != ENOENT) {
		free(list);
		return -1;
	}
	qsort(list, n, sizeof(*list), compare_prefix_keys);
	*keys = list;
	*count = n;
	return 0;
}

json_t *limit_json(const char *prefix, const struct sluice_limit *limit)
{
	if (limit->flags & SLUICE_LIMIT_UNLIMITED)
		return json_pack("{s:s, s:b}", "prefix", prefix, "unlimited", 1);
	return json_pack("{s:s, s:b, s:I, s:I}", "prefix", prefix, "unlimited", 0, "rate",
			 (json_int_t)limit->rate, "burst", (json_int_t)limit->burst);
}

json_t *limits_collect(int limits_fd)
{
	struct sluice_prefix_key *keys = NULL;
	char prefix[SLUICE_PREFIX_STR_LEN];
	struct sluice_limit limit;
	size_t count = 0;
	json_t *list;

	if (prefix_keys(limits_fd, &keys, &count))
		return NULL;
	list = json_array();
	for (size_t i = 0; i < count; i++) {
		/* A limit deleted since we listed the keys is simply not shown. */
		if (bpf_map_lookup_elem(limits_fd, &keys[i], &limit))
			continue;
		format_prefix(&keys[i], prefix, sizeof(prefix));
		json_array_append_new(list, limit_json(prefix, &limit));
	}
	free(keys);
	return list;
}

const char *limit_describe(const json_t *limit)
{
	static char text[64];
	char rate[32];

	if (json_is_true(json_object_get(limit, "unlimited")))
		return "unlimited";
	format_rate(json_integer_value(json_object_get(limit, "rate")), rate, sizeof(rate));
	snprintf(text, sizeof(text), "%s, burst %lld", rate,
		 json_integer_value(json_object_get(limit, "burst")));
	return text;
}

json_t *list_collect(int list_fd)
{
	struct sluice_prefix_key *keys = NULL;
	char prefix[SLUICE_PREFIX_STR_LEN];
	struct sluice_list_entry entry;
	size_t count = 0;
	json_t *list;

	if (prefix_keys(list_fd, &keys, &count))
		return NULL;
	list = json_array();
	for (size_t i = 0; i < count; i++) {
		if (bpf_map_lookup_elem(list_fd, &keys[i], &entry))
			continue;
		format_prefix(&keys[i], prefix, sizeof(prefix));
		json_array_append_new(list, json_pack("{s:s, s:I}", "prefix", prefix, "hits",
						      (json_int_t)entry.hits));
	}
	free(keys);
	return list;
}
