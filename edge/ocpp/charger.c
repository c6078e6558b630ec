/* Charger objects; see charger.h. Plain data and small accessors: what the frames mean is read
 * in charger-model.c, what to do with them in proxy.c. */
#include "edge/ocpp/charger.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct charger *charger_new(const char *id, const struct cfg_charger *cfg)
{
	struct charger *ch = calloc(1, sizeof(*ch));

	if (!ch)
		return NULL;
	snprintf(ch->id, sizeof(ch->id), "%s", id);
	ch->cfg = cfg;
	ch->pending = cfg == NULL;
	ch->csms_max_stack = -1;
	ch->prof.sent_limit_a = -1;
	ch->prof.sent_stack = -1;
	ch->meter.soc_pct = -1;
	ch->heartbeat_s = 300;
	ch->priority_override = -1;
	ch->ev_needs.energy_wh = -1;
	ch->mgr_needs.energy_wh = -1;
	snprintf(ch->binding, sizeof(ch->binding), "not allocated yet");
	return ch;
}

void call_clear(struct call *c)
{
	json_decref(c->payload);
	free(c->text);
	memset(c, 0, sizeof(*c));
}

void charger_reset_calls(struct charger *ch)
{
	call_clear(&ch->from_charger);
	call_clear(&ch->to_charger);
	while (ch->wait_head) {
		struct call *c = ch->wait_head;
		ch->wait_head = c->next;
		call_clear(c);
		free(c);
	}
	ch->wait_tail = NULL;
}

void charger_free(struct charger *ch)
{
	if (!ch)
		return;
	charger_reset_calls(ch);
	free(ch->spare_text);
	ws_link_reset(&ch->down);
	ws_link_reset(&ch->up);
	free(ch);
}

double charger_fallback_a(const struct charger *ch, const struct ag_config *cfg)
{
	if (ch->cfg && ch->cfg->fallback_a > 0)
		return ch->cfg->fallback_a;
	return cfg->site.fallback_a;
}

bool charger_online(const struct charger *ch)
{
	return ch->down.wsi != NULL;
}

uint64_t charger_quiet_ms(const struct charger *ch, int silent_after_s)
{
	return (uint64_t)(silent_after_s > 0 ? silent_after_s : 2 * ch->heartbeat_s) * 1000;
}

bool charger_ready(const struct charger *ch, uint64_t now_ms)
{
	if (ch->pending || !charger_online(ch))
		return false;
	if (ch->booted)
		return true;
	return ch->boot_seen_ms < ch->connected_ms && now_ms >= ch->connected_ms + CHARGER_BOOT_WAIT_MS;
}

enum charger_link charger_link(const struct charger *ch, uint64_t now_ms, int silent_after_s)
{
	if (!charger_online(ch))
		return LINK_OFFLINE;
	return now_ms > ch->last_rx_ms + charger_quiet_ms(ch, silent_after_s) ? LINK_SILENT : LINK_ONLINE;
}

const char *charger_link_name(enum charger_link l)
{
	static const char *const names[] = { "offline", "silent", "online" };

	return names[l];
}

struct connector *charger_connector(struct charger *ch, int id)
{
	for (int i = 0; i < ch->n_connectors; i++)
		if (ch->connectors[i].id == id)
			return &ch->connectors[i];
	if (ch->n_connectors == CHARGER_CONNECTORS)
		return NULL;
	struct connector *c = &ch->connectors[ch->n_connectors++];
	memset(c, 0, sizeof(*c));
	c->id = id;
	return c;
}

struct transaction *charger_tx(struct charger *ch, const char *id, bool create)
{
	struct transaction *free_slot = NULL;

	for (int i = 0; i < CHARGER_TX; i++) {
		if (ch->tx[i].active && strcmp(ch->tx[i].id, id) == 0)
			return &ch->tx[i];
		if (!ch->tx[i].active && !free_slot)
			free_slot = &ch->tx[i];
	}
	if (!create || !free_slot)
		return NULL;
	memset(free_slot, 0, sizeof(*free_slot));
	free_slot->active = true;
	snprintf(free_slot->id, sizeof(free_slot->id), "%s", id);
	return free_slot;
}

int charger_active_tx(const struct charger *ch)
{
	int n = 0;

	for (int i = 0; i < CHARGER_TX; i++)
		n += ch->tx[i].active;
	return n;
}

int charger_priority(const struct charger *ch)
{
	return ch->priority_override >= 0 ? ch->priority_override : ch->cfg ? ch->cfg->priority : 1;
}
