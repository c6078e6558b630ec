/* Charging profile store and evaluation. The decision to know: a profile whose schedule has
 * not started, has run past its duration or is outside validFrom/validTo does not exist for
 * the evaluation, so the next lower stack level of that purpose shows through, as OCPP says. */
#include "tools/sim/profile.h"
#include "tools/sim/ocpp-msg.h"

#include <errno.h>
#include <math.h>
#include <string.h>

int profile_purpose_parse(const char *s)
{
	if (!s)
		return -1;
	if (!strcmp(s, "ChargePointMaxProfile") || !strcmp(s, "ChargingStationMaxProfile"))
		return PP_STATION_MAX;
	if (!strcmp(s, "TxDefaultProfile"))
		return PP_TX_DEFAULT;
	if (!strcmp(s, "TxProfile"))
		return PP_TX;
	return -1;
}

static int64_t time_field(json_t *o, const char *key)
{
	int64_t ms = 0;
	const char *s = json_string_value(json_object_get(o, key));

	if (s && ocpp_time_parse(s, &ms) < 0)
		return -1;
	return ms;
}

/* The fields 1.6 and 2.0.1 share, once the schedule object has been found. */
static int parse_common(json_t *prof, json_t *sched, int connector, int64_t now_ms,
			struct charging_profile *out)
{
	const char *kind = json_string_value(json_object_get(prof, "chargingProfileKind"));
	const char *rec = json_string_value(json_object_get(prof, "recurrencyKind"));
	const char *unit = json_string_value(json_object_get(sched, "chargingRateUnit"));
	json_t *periods = json_object_get(sched, "chargingSchedulePeriod");
	int purpose = profile_purpose_parse(json_string_value(json_object_get(prof, "chargingProfilePurpose")));
	size_t i;
	json_t *per;

	memset(out, 0, sizeof(*out));
	if (purpose < 0 || !kind || !unit || !json_is_array(periods) || json_array_size(periods) == 0 ||
	    json_array_size(periods) > PROFILE_MAX_PERIODS)
		return -EINVAL;
	out->purpose = (enum profile_purpose)purpose;
	out->kind = !strcmp(kind, "Relative") ? PK_RELATIVE : !strcmp(kind, "Recurring") ? PK_RECURRING : PK_ABSOLUTE;
	out->weekly = rec && !strcmp(rec, "Weekly");
	out->unit_w = !strcmp(unit, "W");
	out->connector = connector;
	out->stack_level = (int)json_integer_value(json_object_get(prof, "stackLevel"));
	out->received_ms = now_ms;
	out->valid_from_ms = time_field(prof, "validFrom");
	out->valid_to_ms = time_field(prof, "validTo");
	out->start_ms = time_field(sched, "startSchedule");
	out->duration_s = (int32_t)json_integer_value(json_object_get(sched, "duration"));
	if (out->valid_from_ms < 0 || out->valid_to_ms < 0 || out->start_ms < 0 || out->stack_level < 0 ||
	    out->stack_level > PROFILE_MAX_STACK)
		return -EINVAL;
	json_array_foreach(periods, i, per) {
		struct profile_period *pp = &out->periods[i];
		pp->start_s = (int32_t)json_integer_value(json_object_get(per, "startPeriod"));
		pp->limit = json_number_value(json_object_get(per, "limit"));
		pp->phases = (int)json_integer_value(json_object_get(per, "numberPhases"));
		if ((i == 0 && pp->start_s != 0) || (i > 0 && pp->start_s <= out->periods[i - 1].start_s) ||
		    pp->limit < 0)
			return -EINVAL;
	}
	out->n_periods = (int)json_array_size(periods);
	return 0;
}

int profile_parse_16(json_t *cs, int connector, int64_t now_ms, struct charging_profile *out)
{
	json_t *tx = json_object_get(cs, "transactionId");
	int rc = parse_common(cs, json_object_get(cs, "chargingSchedule"), connector, now_ms, out);

	if (rc < 0)
		return rc;
	out->id = (int)json_integer_value(json_object_get(cs, "chargingProfileId"));
	if (json_is_integer(tx))
		snprintf(out->tx_id, sizeof(out->tx_id), "%lld", (long long)json_integer_value(tx));
	return 0;
}

int profile_parse_201(json_t *cp, int evse, int64_t now_ms, struct charging_profile *out)
{
	const char *tx = json_string_value(json_object_get(cp, "transactionId"));
	/* A station may pick one of up to three schedules (ISO 15118); an AC station uses the first. */
	int rc = parse_common(cp, json_array_get(json_object_get(cp, "chargingSchedule"), 0), evse, now_ms, out);

	if (rc < 0)
		return rc;
	out->id = (int)json_integer_value(json_object_get(cp, "id"));
	if (tx)
		snprintf(out->tx_id, sizeof(out->tx_id), "%s", tx);
	return 0;
}

int profile_set_add(struct profile_set *s, const struct charging_profile *p)
{
	for (int i = 0; i < s->n; i++) {
		struct charging_profile *q = &s->p[i];
		if (q->id == p->id ||
		    (q->purpose == p->purpose && q->stack_level == p->stack_level && q->connector == p->connector)) {
			*q = *p;
			return 0;
		}
	}
	if (s->n == PROFILE_MAX)
		return -ENOSPC;
	s->p[s->n++] = *p;
	return 0;
}

int profile_set_clear(struct profile_set *s, int id, int connector, int purpose, int stack_level)
{
	int removed = 0;

	for (int i = 0; i < s->n;) {
		const struct charging_profile *q = &s->p[i];
		if ((id < 0 || q->id == id) && (connector < 0 || q->connector == connector) &&
		    (purpose < 0 || (int)q->purpose == purpose) && (stack_level < 0 || q->stack_level == stack_level)) {
			s->p[i] = s->p[--s->n];
			removed++;
		} else {
			i++;
		}
	}
	return removed;
}

void profile_set_drop_tx(struct profile_set *s)
{
	profile_set_clear(s, -1, -1, PP_TX, -1);
}

/* The period in force, or NULL when the profile is not active at `now_ms`. */
static const struct profile_period *active_period(const struct charging_profile *p, int64_t now_ms,
						  int64_t tx_start_ms)
{
	int64_t start_ms, elapsed_s;
	const struct profile_period *cur = NULL;

	if ((p->valid_from_ms && now_ms < p->valid_from_ms) || (p->valid_to_ms && now_ms >= p->valid_to_ms))
		return NULL;
	if (p->kind == PK_RELATIVE)
		start_ms = tx_start_ms ? tx_start_ms : now_ms;
	else
		start_ms = p->start_ms ? p->start_ms : p->received_ms;
	if (now_ms < start_ms)
		return NULL;
	elapsed_s = (now_ms - start_ms) / 1000;
	if (p->kind == PK_RECURRING)
		elapsed_s %= p->weekly ? 7 * 86400 : 86400;
	if (p->duration_s > 0 && elapsed_s >= p->duration_s)
		return NULL;
	for (int i = 0; i < p->n_periods && p->periods[i].start_s <= elapsed_s; i++)
		cur = &p->periods[i];
	return cur;
}

double profile_set_limit_a(const struct profile_set *s, int64_t now_ms, int64_t tx_start_ms,
			   const char *tx_id, double voltage_v, int phases)
{
	double by_purpose[PP_COUNT] = { -1, -1, -1 };
	int best_level[PP_COUNT] = { -1, -1, -1 };
	double limit;

	for (int i = 0; i < s->n; i++) {
		const struct charging_profile *p = &s->p[i];
		const struct profile_period *per;

		if (p->purpose != PP_STATION_MAX && !tx_start_ms)
			continue;       /* Tx(Default) profiles shape transactions only */
		if (p->purpose == PP_TX && p->tx_id[0] && strcmp(p->tx_id, tx_id) != 0)
			continue;
		if (p->stack_level <= best_level[p->purpose] || !(per = active_period(p, now_ms, tx_start_ms)))
			continue;
		best_level[p->purpose] = p->stack_level;
		by_purpose[p->purpose] = p->unit_w ? per->limit / (voltage_v * (phases > 0 ? phases : 1)) : per->limit;
	}
	limit = by_purpose[PP_TX] >= 0 ? by_purpose[PP_TX] : by_purpose[PP_TX_DEFAULT];
	if (by_purpose[PP_STATION_MAX] >= 0 && (limit < 0 || by_purpose[PP_STATION_MAX] < limit))
		limit = by_purpose[PP_STATION_MAX];
	return limit;
}
