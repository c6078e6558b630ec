/* A session's departure and energy need (edge/ocpp/charger-needs.c): the manager's values win field by
 * field, the need shrinks with what the session delivers, both end with the session, and a
 * manager's request is validated before anything changes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "edge/ocpp/charger-needs.h"
#include "edge/ocpp/ocpp-frame.h"

#include <errno.h>
#include <string.h>

static struct charger *running(void)
{
	struct charger *ch = charger_new("CP1", NULL);
	struct transaction *tx = charger_tx(ch, "7", true);

	tx->energy_wh = 1000;
	return ch;
}

static void test_ev_then_manager(void **state)
{
	struct charger *ch = running();
	struct needs_now n;
	json_t *p = json_pack("{s:i, s:{s:s, s:s, s:{s:i, s:i, s:i, s:i}}}", "evseId", 1, "chargingNeeds",
			      "requestedEnergyTransfer", "AC_three_phase", "departureTime", "2099-01-01T10:00:00Z",
			      "acChargingParameters", "energyAmount", 20000, "evMinCurrent", 6, "evMaxCurrent", 32,
			      "evMaxVoltage", 400);
	int64_t dep;

	(void)state;
	needs_now(ch, &n);
	assert_null(n.from);
	assert_true(n.need_wh < 0);
	assert_int_equal(n.departure_wall_ms, 0);

	needs_from_ev(ch, p);
	ch->tx[0].energy_wh = 6000;             /* 5 kWh delivered since the EV asked */
	needs_now(ch, &n);
	assert_string_equal(n.from, "ev");
	assert_true(n.need_wh > 14999 && n.need_wh < 15001);
	assert_int_equal(ocpp_time_parse("2099-01-01T10:00:00Z", &dep), 0);
	assert_true(n.departure_wall_ms == dep);
	assert_int_equal(needs_departure_mono_ms(&n, 5000) > 5000, 1);

	/* The manager sets only the energy: the EV's departure stays. */
	struct needs m = { .departure_wall_ms = 0, .energy_wh = 2000 };
	needs_set_manager(ch, &m);
	ch->tx[0].energy_wh = 9000;             /* 3 kWh more: more than the manager's 2 kWh */
	needs_now(ch, &n);
	assert_string_equal(n.from, "manager");
	assert_true(n.need_wh == 0);
	assert_true(n.departure_wall_ms == dep);

	assert_true(needs_end(ch));
	needs_now(ch, &n);
	assert_null(n.from);
	assert_false(needs_end(ch));
	json_decref(p);
	charger_free(ch);
}

/* The EV's own maximum current per phase (AC evMaxCurrent) is kept with its needs, a manager's
 * values leave it, it ends with the session or when that EV leaves, and it caps the station only
 * while no other EVSE charges; a DC EV's evMaxCurrent (its battery's current) is not a phase
 * current and is ignored. */
static void test_ev_max(void **state)
{
	struct charger *ch = running();
	struct needs_now n;
	char what[96];
	json_t *ac = json_pack("{s:i, s:{s:s, s:{s:i, s:i, s:i, s:i}}}", "evseId", 1, "chargingNeeds",
			       "requestedEnergyTransfer", "AC_single_phase", "acChargingParameters", "energyAmount", 9000,
			       "evMinCurrent", 6, "evMaxCurrent", 16, "evMaxVoltage", 230);
	json_t *dc = json_pack("{s:i, s:{s:s, s:{s:i, s:i}}}", "evseId", 1, "chargingNeeds", "requestedEnergyTransfer",
			       "DC", "dcChargingParameters", "evMaxCurrent", 200, "evMaxVoltage", 800);

	(void)state;
	needs_from_ev(ch, ac);
	needs_now(ch, &n);
	assert_true(n.ev_max_a == 16 && n.ev_min_a == 6);
	/* Another EVSE of the station charges: the station-wide limit must not starve it. */
	struct transaction *other = charger_tx(ch, "8", true);
	other->connector = 2;
	needs_now(ch, &n);
	assert_true(n.ev_max_a == 0);
	other->active = false;
	/* The EV on EVSE 2 leaving forgets nothing of EVSE 1's. */
	assert_false(needs_ev_left(ch, 2));
	needs_now(ch, &n);
	assert_true(n.ev_max_a == 16);
	needs_describe(&ch->ev_needs, what, sizeof(what));
	assert_string_equal(what, "no departure, 9.0 kWh, at least 6 A, at most 16 A per phase");
	struct needs m = { .departure_wall_ms = 0, .energy_wh = 2000 };
	needs_set_manager(ch, &m);
	needs_now(ch, &n);
	assert_true(n.ev_max_a == 16);
	assert_true(needs_end(ch));
	needs_now(ch, &n);
	assert_true(n.ev_max_a == 0);
	needs_from_ev(ch, ac);
	assert_true(needs_ev_left(ch, 1));
	needs_now(ch, &n);
	assert_true(n.ev_max_a == 0 && n.from == NULL);
	needs_from_ev(ch, dc);
	needs_now(ch, &n);
	assert_true(n.ev_max_a == 0);
	json_decref(ac);
	json_decref(dc);
	charger_free(ch);
}

static void test_parse(void **state)
{
	struct needs n;
	char err[200];
	json_t *o;

	(void)state;
	o = json_pack("{s:s, s:f}", "departure", "2099-01-01T10:00:00+01:00", "energy_kwh", 42.5);
	assert_int_equal(needs_parse(o, &n, err, sizeof(err)), 0);
	assert_true(n.energy_wh == 42500);
	assert_true(n.departure_wall_ms > 0);
	json_decref(o);

	o = json_pack("{s:n, s:n}", "departure", "energy_kwh");
	assert_int_equal(needs_parse(o, &n, err, sizeof(err)), 0);
	assert_int_equal(n.departure_wall_ms, 0);
	assert_true(n.energy_wh < 0);
	json_decref(o);

	static const char *const bad[] = { "{\"departure\": \"2099-13-01T00:00:00Z\"}", "{\"departure\": \"2001-01-01T00:00:00Z\"}",
					   "{\"departure\": 5}", "{\"energy_kwh\": 0}", "{\"energy_kwh\": 1001}",
					   "{\"energy_kwh\": \"10\"}", NULL };
	for (const char *const *b = bad; *b; b++) {
		o = json_loads(*b, 0, NULL);
		err[0] = '\0';
		assert_int_equal(needs_parse(o, &n, err, sizeof(err)), -EINVAL);
		assert_true(strlen(err) > 10);
		json_decref(o);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ev_then_manager),
		cmocka_unit_test(test_ev_max),
		cmocka_unit_test(test_parse),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
