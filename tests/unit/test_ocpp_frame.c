/* Byte-exact splicing (ocpp_call_set): a rewritten frame differs from the one received only in
 * the member the edge sets; values of every shape are skipped correctly (strings with escaped
 * quotes and brackets, nested objects, exponents), absent members are added, an escaped key falls
 * back to re-serialising, and frames without the object asked for are left alone. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "edge/ocpp/ocpp-frame.h"

static void expect_set(const char *in, const char *obj_key, const char *key, const char *value, const char *want)
{
	struct ocpp_frame f;
	char *out;

	assert_int_equal(ocpp_frame_parse(in, strlen(in), &f), REJECT_NONE);
	ocpp_frame_fini(&f);
	out = ocpp_call_set(in, strlen(in), obj_key, key, value);
	if (!want) {
		assert_null(out);
		return;
	}
	assert_non_null(out);
	assert_string_equal(out, want);
	assert_int_equal(ocpp_frame_parse(out, strlen(out), &f), REJECT_NONE);
	ocpp_frame_fini(&f);
	free(out);
}

static void test_replace_keeps_every_other_byte(void **state)
{
	(void)state;
	expect_set("[2 ,\"a\",\"MeterValues\", { \"s\":\"x\\\"}],{\" , \"n\":{\"transactionId\":5},\"v\":2.30123456789012e2,"
		   "\"transactionId\" :\t-17 ,\"z\":[1,[2,{}]]}]",
		   NULL, "transactionId", "8101",
		   "[2 ,\"a\",\"MeterValues\", { \"s\":\"x\\\"}],{\" , \"n\":{\"transactionId\":5},\"v\":2.30123456789012e2,"
		   "\"transactionId\" :\t8101 ,\"z\":[1,[2,{}]]}]");
	/* the member of a nested object */
	expect_set("[2,\"b\",\"SetChargingProfile\",{\"connectorId\":1,\"csChargingProfiles\":{ \"transactionId\" : 42 ,\"x\":0.1}}]",
		   "csChargingProfiles", "transactionId", "-3",
		   "[2,\"b\",\"SetChargingProfile\",{\"connectorId\":1,\"csChargingProfiles\":{ \"transactionId\" : -3 ,\"x\":0.1}}]");
	expect_set("[2,\"c\",\"TransactionEvent\",{\"offline\" : false}]", NULL, "offline", "true",
		   "[2,\"c\",\"TransactionEvent\",{\"offline\" : true}]");
}

static void test_absent_member_added_first(void **state)
{
	(void)state;
	expect_set("[2,\"d\",\"TransactionEvent\",{  \"seqNo\":0,\"v\":230.123456789012}]", NULL, "offline", "true",
		   "[2,\"d\",\"TransactionEvent\",{\"offline\":true,  \"seqNo\":0,\"v\":230.123456789012}]");
	expect_set("[2,\"e\",\"X\",{ }]", NULL, "offline", "true", "[2,\"e\",\"X\",{\"offline\":true }]");
	/* a key that only appears inside a string or a nested object is not the member */
	expect_set("[2,\"f\",\"X\",{\"k\":\"\\\"offline\\\":false\",\"o\":{\"offline\":false}}]", NULL, "offline", "true",
		   "[2,\"f\",\"X\",{\"offline\":true,\"k\":\"\\\"offline\\\":false\",\"o\":{\"offline\":false}}]");
}

/* A key written with escapes is the same member to a JSON reader: the splice would add a
 * duplicate, so the frame is re-serialised instead (correct before exact). */
static void test_escaped_key_falls_back(void **state)
{
	(void)state;
	expect_set("[2,\"j\",\"X\",{\"transaction\\u0049d\" : -5, \"v\":1}]", NULL, "transactionId", "9",
		   "[2,\"j\",\"X\",{\"transactionId\":9,\"v\":1}]");
}

static void test_no_such_object(void **state)
{
	(void)state;
	expect_set("[2,\"g\",\"SetChargingProfile\",{\"connectorId\":1}]", "csChargingProfiles", "transactionId", "1", NULL);
	expect_set("[2,\"h\",\"SetChargingProfile\",{\"csChargingProfiles\":[1]}]", "csChargingProfiles", "transactionId", "1",
		   NULL);
	expect_set("[3,\"i\",{\"a\":1}]", NULL, "a", "2", NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_replace_keeps_every_other_byte),
		cmocka_unit_test(test_absent_member_added_first),
		cmocka_unit_test(test_escaped_key_falls_back),
		cmocka_unit_test(test_no_such_object),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
