/* Charging profiles in the fleet simulator: stack levels, purposes, validity, W to A, and the
 * EV's answer to an offered current (6 A floor, taper). Includes the modules to reach them
 * without the rest of the simulator. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tools/sim/ev.c"
#include "tools/sim/ocpp-msg.c"
#include "tools/sim/profile.c"

#define T0 1714564800000LL      /* 2024-05-01T12:00:00Z */

static void add16(struct profile_set *s, const char *json)
{
	struct charging_profile p;
	json_t *j = json_loads(json, 0, NULL);

	assert_non_null(j);
	assert_int_equal(profile_parse_16(j, 0, T0, &p), 0);
	assert_int_equal(profile_set_add(s, &p), 0);
	json_decref(j);
}

static void test_time(void **state)
{
	int64_t ms;
	char buf[40];
	(void)state;
	assert_int_equal(ocpp_time_parse("2024-05-01T12:00:00Z", &ms), 0);
	assert_true(ms == T0);
	assert_int_equal(ocpp_time_parse("2024-05-01T14:00:00.500+02:00", &ms), 0);
	assert_true(ms == T0 + 500);
	assert_int_equal(ocpp_time_parse("2024-05-01", &ms), -EINVAL);
	ocpp_time_format(T0 + 7, buf, sizeof(buf));
	assert_string_equal(buf, "2024-05-01T12:00:00.007Z");
}

static void test_stack_and_purposes(void **state)
{
	struct profile_set s = { 0 };
	(void)state;
	assert_true(profile_set_limit_a(&s, T0, 0, "", 230, 3) < 0);
	add16(&s, "{\"chargingProfileId\":1,\"stackLevel\":0,\"chargingProfilePurpose\":\"TxDefaultProfile\","
		  "\"chargingProfileKind\":\"Relative\",\"chargingSchedule\":{\"chargingRateUnit\":\"A\","
		  "\"chargingSchedulePeriod\":[{\"startPeriod\":0,\"limit\":16},{\"startPeriod\":60,\"limit\":8}]}}");
	/* No transaction: Tx(Default) profiles do not apply. */
	assert_true(profile_set_limit_a(&s, T0, 0, "", 230, 3) < 0);
	assert_true(profile_set_limit_a(&s, T0 + 10000, T0, "", 230, 3) == 16.0);
	assert_true(profile_set_limit_a(&s, T0 + 61000, T0, "", 230, 3) == 8.0);
	/* A station maximum caps it; a higher stack level of the same purpose wins. */
	add16(&s, "{\"chargingProfileId\":2,\"stackLevel\":1,\"chargingProfilePurpose\":\"ChargePointMaxProfile\","
		  "\"chargingProfileKind\":\"Absolute\",\"chargingSchedule\":{\"chargingRateUnit\":\"A\","
		  "\"startSchedule\":\"2024-05-01T12:00:00Z\",\"chargingSchedulePeriod\":[{\"startPeriod\":0,\"limit\":12}]}}");
	add16(&s, "{\"chargingProfileId\":3,\"stackLevel\":5,\"chargingProfilePurpose\":\"ChargePointMaxProfile\","
		  "\"chargingProfileKind\":\"Absolute\",\"chargingSchedule\":{\"chargingRateUnit\":\"W\",\"duration\":30,"
		  "\"startSchedule\":\"2024-05-01T12:00:00Z\",\"chargingSchedulePeriod\":[{\"startPeriod\":0,\"limit\":6900}]}}");
	/* 6900 W over 3 phases at 230 V = 10 A, for 30 s; then stack level 1 shows through. */
	assert_true(fabs(profile_set_limit_a(&s, T0 + 10000, T0, "", 230, 3) - 10.0) < 1e-9);
	assert_true(profile_set_limit_a(&s, T0 + 40000, T0, "", 230, 3) == 12.0);
	/* A TxProfile overrides the TxDefaultProfile, still under the maximum. */
	add16(&s, "{\"chargingProfileId\":4,\"stackLevel\":0,\"chargingProfilePurpose\":\"TxProfile\",\"transactionId\":7,"
		  "\"chargingProfileKind\":\"Relative\",\"chargingSchedule\":{\"chargingRateUnit\":\"A\","
		  "\"chargingSchedulePeriod\":[{\"startPeriod\":0,\"limit\":6}]}}");
	assert_true(profile_set_limit_a(&s, T0 + 40000, T0, "7", 230, 3) == 6.0);
	assert_true(profile_set_limit_a(&s, T0 + 40000, T0, "8", 230, 3) == 12.0);
	/* Same purpose + stack level replaces; clearing by purpose removes. */
	assert_int_equal(s.n, 4);
	assert_int_equal(profile_set_clear(&s, -1, -1, PP_STATION_MAX, -1), 2);
	profile_set_drop_tx(&s);
	assert_int_equal(s.n, 1);
}

static void test_ev(void **state)
{
	struct ev ev = { .capacity_wh = 50000, .soc = 0.5, .obc_limit_a = 16, .phases = 3, .taper_soc = 0.8 };
	(void)state;
	assert_true(ev_current_a(&ev, 32) == 16.0);
	assert_true(ev_current_a(&ev, 10) == 10.0);
	assert_true(ev_current_a(&ev, 5.9) == 0.0);
	ev.soc = 0.9;
	assert_true(ev_current_a(&ev, 32) < 16.0 && ev_current_a(&ev, 32) > 0.0);
	ev.soc = 0.5;
	/* 16 A x 230 V x 3 phases for one hour = 11040 Wh. */
	assert_true(fabs(ev_charge(&ev, 16, 230, 3600) - 11040.0) < 1e-6);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_time),
		cmocka_unit_test(test_stack_and_purposes),
		cmocka_unit_test(test_ev),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
