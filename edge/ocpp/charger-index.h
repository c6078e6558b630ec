/* Chargers by station id: an open-addressing hash table (linear probing, at most half full), so
 * finding the charger of a new connection, a replayed frame or a database row costs the same at
 * ten thousand stations as at ten. A walk comparing ids was most of a 9,500-station connect
 * storm's time. */
#ifndef AG_CHARGER_INDEX_H
#define AG_CHARGER_INDEX_H

#include <stddef.h>

struct charger;

struct charger_index {
	struct charger **slot;  /* cap entries, NULL where free; cap is 0 or a power of two */
	size_t cap, n;
};

/* Adds `ch` under its id (one already there is replaced). 0, or -ENOMEM with the index as it was. */
int charger_index_put(struct charger_index *ix, struct charger *ch);
/* Removes `ch` if it is the entry for its id. */
void charger_index_drop(struct charger_index *ix, const struct charger *ch);
struct charger *charger_index_find(const struct charger_index *ix, const char *id);
void charger_index_free(struct charger_index *ix);

#endif
