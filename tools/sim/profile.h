/* Charging profiles installed on a simulated station, and the limit they add up to.
 *
 * One table serves OCPP 1.6 and 2.0.1: the purposes map one to one (ChargePointMaxProfile =
 * ChargingStationMaxProfile), connectorId/evseId 0 means the whole station. Times are wall-clock
 * epoch milliseconds, because profiles name absolute times. */
#ifndef AG_SIM_PROFILE_H
#define AG_SIM_PROFILE_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#define PROFILE_MAX 8           /* installed at once; more is Rejected */
#define PROFILE_MAX_PERIODS 24
#define PROFILE_MAX_STACK 50    /* ChargeProfileMaxStackLevel we advertise */

enum profile_purpose { PP_STATION_MAX, PP_TX_DEFAULT, PP_TX, PP_COUNT };
enum profile_kind { PK_ABSOLUTE, PK_RELATIVE, PK_RECURRING };

struct profile_period {
	int32_t start_s;
	double limit;           /* A per phase, or W for the whole station (unit_w) */
	int phases;             /* 0 = not given */
};

struct charging_profile {
	int id;
	int connector;          /* 0 = station */
	int stack_level;
	enum profile_purpose purpose;
	enum profile_kind kind;
	bool weekly;            /* recurring: weekly, else daily */
	bool unit_w;
	int64_t valid_from_ms, valid_to_ms;     /* 0 = open */
	int64_t start_ms;       /* startSchedule; 0 = none (then: time of receipt) */
	int64_t received_ms;
	int32_t duration_s;     /* 0 = unbounded */
	char tx_id[40];         /* TxProfile: the transaction it belongs to ("" = any) */
	int n_periods;
	struct profile_period periods[PROFILE_MAX_PERIODS];
};

struct profile_set {
	int n;
	struct charging_profile p[PROFILE_MAX];
};

/* "ChargePointMaxProfile"/"ChargingStationMaxProfile", "TxDefaultProfile", "TxProfile";
 * -1 for anything else. */
int profile_purpose_parse(const char *s);
/* Parse a 1.6 csChargingProfiles / 2.0.1 chargingProfile object. 0 or -EINVAL (something the
 * schema allows but we cannot follow, e.g. a period list out of order). */
int profile_parse_16(json_t *cs, int connector, int64_t now_ms, struct charging_profile *out);
int profile_parse_201(json_t *cp, int evse, int64_t now_ms, struct charging_profile *out);

/* Install, replacing a profile with the same id or the same purpose + stack level + connector
 * (OCPP 1.6 §3.13.2, 2.0.1 K01.FR.05). 0 or -ENOSPC. */
int profile_set_add(struct profile_set *s, const struct charging_profile *p);
/* Remove matching profiles; a negative criterion matches anything. Returns how many went. */
int profile_set_clear(struct profile_set *s, int id, int connector, int purpose, int stack_level);
/* Remove every TxProfile (the transaction ended). */
void profile_set_drop_tx(struct profile_set *s);

/* The per-phase current limit in force at `now_ms`: the highest-stack-level active profile of
 * each purpose, TxProfile overriding TxDefaultProfile, capped by the station maximum. Watts are
 * turned into amps with `voltage_v` and the EV's `phases`. `tx_start_ms` is 0 without a
 * transaction; `tx_id` "" likewise. Returns a negative value when no profile applies. */
double profile_set_limit_a(const struct profile_set *s, int64_t now_ms, int64_t tx_start_ms,
			   const char *tx_id, double voltage_v, int phases);

#endif
