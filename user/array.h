/* SPDX-License-Identifier: (GPL-2.0-only OR BSD-2-Clause) */
/* Growing arrays: the one realloc pattern the CLI needs. */
#ifndef SLUICE_ARRAY_H
#define SLUICE_ARRAY_H

#include <errno.h>
#include <stdlib.h>

/*
 * Room for one more element in `items`, which holds `count` of `size` bytes
 * in room for *capacity: returns `items` itself while there is room, else
 * the array grown to twice the room. NULL with errno = ENOMEM when it cannot
 * grow, and `items` is then left as it was, for the caller to free.
 */
static inline void *array_reserve(void *items, size_t *capacity, size_t count, size_t size)
{
	size_t more;
	void *grown;

	if (count < *capacity)
		return items;
	more = *capacity ? *capacity * 2 : 64;
	grown = realloc(items, more * size);
	if (!grown) {
		errno = ENOMEM;
		return NULL;
	}
	*capacity = more;
	return grown;
}

#endif /* SLUICE_ARRAY_H */
