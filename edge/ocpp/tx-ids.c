/* Provisional transaction ids; see tx-ids.h. */
#include "edge/ocpp/tx-ids.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct tx_map *tx_ids_find(const struct tx_ids *ids, int64_t provisional, int64_t csms_id)
{
	for (size_t i = 0; ids && i < ids->n; i++)
		if ((provisional && ids->maps[i].provisional == provisional) ||
		    (csms_id && ids->maps[i].csms_id == csms_id))
			return &ids->maps[i];
	return NULL;
}

struct tx_map *tx_ids_set(struct tx_ids *ids, int64_t provisional, int64_t csms_id)
{
	struct tx_map *m = tx_ids_find(ids, provisional, 0);

	if (!m) {
		if (ids->n == ids->cap) {
			size_t cap = ids->cap ? ids->cap * 2 : 4;
			struct tx_map *grown = realloc(ids->maps, cap * sizeof(*grown));
			if (!grown)
				return NULL;
			ids->maps = grown;
			ids->cap = cap;
		}
		m = &ids->maps[ids->n++];
		m->provisional = provisional;
	}
	m->csms_id = csms_id;
	return m;
}

void tx_ids_del(struct tx_ids *ids, int64_t provisional)
{
	struct tx_map *m = tx_ids_find(ids, provisional, 0);

	if (m)
		*m = ids->maps[--ids->n];
}

void tx_ids_free(struct tx_ids *ids)
{
	free(ids->maps);
	memset(ids, 0, sizeof(*ids));
}

int64_t tx_ids_provisional_in(const json_t *payload)
{
	const json_t *id = json_object_get(payload, "transactionId");

	return json_is_integer(id) && json_integer_value(id) < 0 ? json_integer_value(id) : 0;
}

/* `text` with `transactionId` of `obj_key` (or of the payload when NULL) set to `id`. */
static char *with_tx_id(const char *text, size_t len, const char *obj_key, int64_t id)
{
	char value[24];

	snprintf(value, sizeof(value), "%lld", (long long)id);
	return ocpp_call_set(text, len, obj_key, "transactionId", value);
}

int tx_ids_up(const struct tx_ids *ids, const char *text, size_t len, const char *action, const json_t *payload,
	      int64_t *provisional, char **out)
{
	const struct tx_map *m;

	*out = NULL;
	*provisional = 0;
	if (strcmp(action, "StopTransaction") != 0 && strcmp(action, "MeterValues") != 0)
		return 0;
	if (!(*provisional = tx_ids_provisional_in(payload)))
		return 0;
	if (!(m = tx_ids_find(ids, *provisional, 0)) || !m->csms_id)
		return -ENOENT;
	*out = with_tx_id(text, len, NULL, m->csms_id);
	return 0;
}

char *tx_ids_down(const struct tx_ids *ids, const struct ocpp_frame *f)
{
	const char *obj_key;
	const json_t *id;
	const struct tx_map *m;

	if (!ids->n || !f->text)
		return NULL;
	if (strcmp(f->action, "RemoteStopTransaction") == 0)
		obj_key = NULL;
	else if (strcmp(f->action, "SetChargingProfile") == 0)
		obj_key = "csChargingProfiles";
	else
		return NULL;
	id = json_object_get(obj_key ? json_object_get(f->payload, obj_key) : f->payload, "transactionId");
	if (!json_is_integer(id) || json_integer_value(id) <= 0 || !(m = tx_ids_find(ids, 0, json_integer_value(id))))
		return NULL;
	return with_tx_id(f->text, f->len, obj_key, m->provisional);
}
