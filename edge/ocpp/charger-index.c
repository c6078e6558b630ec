/* Chargers by station id; see charger-index.h. */
#include "edge/ocpp/charger-index.h"
#include "edge/ocpp/charger.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MIN_CAP 64

/* FNV-1a: station ids are short and often differ only in their last digits. */
static size_t hash(const char *id)
{
	uint64_t h = 14695981039346656037ull;

	for (; *id; id++)
		h = (h ^ (unsigned char)*id) * 1099511628211ull;
	return (size_t)h;
}

/* The slot holding `id`, or the free slot where it would go. The table is never full. */
static size_t probe(const struct charger_index *ix, const char *id)
{
	size_t mask = ix->cap - 1, i = hash(id) & mask;

	while (ix->slot[i] && strcmp(ix->slot[i]->id, id) != 0)
		i = (i + 1) & mask;
	return i;
}

static int grow(struct charger_index *ix)
{
	size_t cap = ix->cap ? ix->cap * 2 : MIN_CAP;
	struct charger_index bigger = { .slot = calloc(cap, sizeof(*bigger.slot)), .cap = cap };

	if (!bigger.slot)
		return -ENOMEM;
	for (size_t i = 0; i < ix->cap; i++)
		if (ix->slot[i]) {
			bigger.slot[probe(&bigger, ix->slot[i]->id)] = ix->slot[i];
			bigger.n++;
		}
	free(ix->slot);
	*ix = bigger;
	return 0;
}

int charger_index_put(struct charger_index *ix, struct charger *ch)
{
	if ((ix->n + 1) * 2 > ix->cap && grow(ix) < 0)
		return -ENOMEM;
	size_t i = probe(ix, ch->id);
	if (!ix->slot[i])
		ix->n++;
	ix->slot[i] = ch;
	return 0;
}

/* Removing from a linearly probed table: the entries after the hole that would no longer be
 * found past it move back into it (Knuth's algorithm R), so no tombstones accumulate. */
void charger_index_drop(struct charger_index *ix, const struct charger *ch)
{
	if (!ix->cap)
		return;
	size_t mask = ix->cap - 1, hole = probe(ix, ch->id);
	if (ix->slot[hole] != ch)
		return;
	ix->slot[hole] = NULL;
	ix->n--;
	for (size_t i = (hole + 1) & mask; ix->slot[i]; i = (i + 1) & mask) {
		size_t home = hash(ix->slot[i]->id) & mask;
		/* It stays if its home lies cyclically in (hole, i]. */
		if (hole <= i ? (hole < home && home <= i) : (hole < home || home <= i))
			continue;
		ix->slot[hole] = ix->slot[i];
		ix->slot[i] = NULL;
		hole = i;
	}
}

struct charger *charger_index_find(const struct charger_index *ix, const char *id)
{
	return ix->cap ? ix->slot[probe(ix, id)] : NULL;
}

void charger_index_free(struct charger_index *ix)
{
	free(ix->slot);
	*ix = (struct charger_index){ 0 };
}
