/* The parser's fast path (issue 23): a plain CALL or CALLRESULT costs only its payload's
 * allocations (no array, id or action nodes), and every frame, plain or not, reads exactly as
 * the full parser of the whole document reads it.
 *
 * Byte-exact splicing (ocpp_call_set): a rewritten frame differs from the one received only in
 * the member the edge sets; values of every shape are skipped correctly (strings with escaped
 * quotes and brackets, nested objects, exponents), absent members are added, an escaped key falls
 * back to re-serialising, and frames without the object asked for are left alone. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdbool.h>
#include <stdio.h>
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
	/* a plain MeterValues, which the parser reads without a tree once its id is the CSMS's */
	expect_set("[2,\"d\", \"MeterValues\",{\"connectorId\" : 1,  \"transactionId\" :  -17 ,\"meterValue\":[ ]}]", NULL,
		   "transactionId", "8101",
		   "[2,\"d\", \"MeterValues\",{\"connectorId\" : 1,  \"transactionId\" :  8101 ,\"meterValue\":[ ]}]");
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

/* Allocations jansson makes, counted through its allocator hooks. */
static int n_allocs;

static void *counting_malloc(size_t n)
{
	n_allocs++;
	return malloc(n);
}

static int allocs_of_parse(const char *text, bool full)
{
	struct ocpp_frame f;

	n_allocs = 0;
	json_set_alloc_funcs(counting_malloc, free);
	if (full)
		assert_int_equal(ocpp_frame_parse_full(text, strlen(text), &f), REJECT_NONE);
	else
		assert_int_equal(ocpp_frame_parse(text, strlen(text), &f), REJECT_NONE);
	ocpp_frame_fini(&f);
	json_set_alloc_funcs(malloc, free);
	return n_allocs;
}

static int allocs_of_payload(const char *payload)
{
	n_allocs = 0;
	json_set_alloc_funcs(counting_malloc, free);
	json_t *j = json_loads(payload, 0, NULL);
	assert_non_null(j);
	json_decref(j);
	json_set_alloc_funcs(malloc, free);
	return n_allocs;
}

static void test_forwarded_frame_costs_only_its_payload(void **state)
{
	static const char payload[] = "{\"connectorId\":1,\"transactionId\":7,\"meterValue\":[{\"timestamp\":"
				      "\"2026-12-04T10:00:00Z\",\"sampledValue\":[{\"value\":\"16.0\",\"measurand\":"
				      "\"Current.Import\",\"phase\":\"L1\",\"unit\":\"A\"}]}]}";
	static const char status[] = "{\"connectorId\":1,\"errorCode\":\"NoError\",\"status\":\"Charging\"}";
	char call[1024], result[128];

	(void)state;
	snprintf(call, sizeof(call), "[2,\"1234\",\"MeterValues\",%s]", payload);
	/* MeterValues, most of the traffic, is read by the scanner: no allocation at all */
	assert_int_equal(allocs_of_parse(call, false), 0);
	snprintf(call, sizeof(call), "[2,\"1234\",\"StatusNotification\",%s]", status);
	assert_int_equal(allocs_of_parse(call, false), allocs_of_payload(status));
	snprintf(result, sizeof(result), "[3, \"1234\", {}]");
	assert_int_equal(allocs_of_parse(result, false), allocs_of_payload("{}"));
	/* what the fast path saves: the envelope's nodes and the lexer's buffer */
	assert_true(allocs_of_parse(call, true) > allocs_of_payload(status));
}

static void expect_same_as_full(const char *text)
{
	struct ocpp_frame a, b;
	enum ocpp_reject ra = ocpp_frame_parse(text, strlen(text), &a);
	enum ocpp_reject rb = ocpp_frame_parse_full(text, strlen(text), &b);

	assert_int_equal(ra, rb);
	assert_int_equal(a.type, b.type);
	assert_string_equal(a.id, b.id);
	assert_string_equal(a.action, b.action);
	assert_string_equal(a.error_code, b.error_code);
	json_t *pa = ocpp_frame_payload(&a);
	assert_true((pa == NULL) == (b.payload == NULL));
	if (pa)
		assert_true(json_equal(pa, b.payload));
	json_decref(pa);
	ocpp_frame_fini(&a);
	ocpp_frame_fini(&b);
}

static void test_fast_path_reads_as_the_full_parser(void **state)
{
	static const char *const frames[] = {
		"[2,\"a\",\"Heartbeat\",{}]",
		" [ 2 ,\t\"a\" ,\r\n\"Heartbeat\" , { } ] ",
		"[3,\"a\",{\"currentTime\":\"x\"}]",
		"[2,\"a\\u0041\",\"Heartbeat\",{}]",              /* escaped id: the full parser's */
		"[2,\"a\",\"Heart\\u0062eat\",{}]",
		"[2.0,\"a\",\"Heartbeat\",{}]",                    /* not an integer type */
		"[2,\"a\",\"Heartbeat\",{}] x",                    /* trailing bytes */
		"[2,\"a\",\"Heartbeat\",{}]]",
		"[2,\"a\",\"Heartbeat\",{\"k\":1,\"k\":2}]",          /* duplicate key */
		"[2,\"a\",\"Heartbeat\",{\"k\":}]",                  /* payload not JSON */
		"[2,\"a\",\"Heartbeat\",[]]",                      /* payload not an object */
		"[2,\"a\",\"Heartbeat\",{},{}]",                   /* one element too many */
		"[3,\"a\",{},1]",
		"[2,\"\",\"Heartbeat\",{}]",                       /* empty id */
		"[2,\"0123456789012345678901234567890123456\",\"Heartbeat\",{}]", /* 37 characters */
		"[2,\"012345678901234567890123456789012345\",\"Heartbeat\",{}]",  /* 36 */
		"[2,\"a\",\"\",{}]",
		"[2,\"a\xc3\xa9\",\"Heartbeat\",{}]",                 /* non-ASCII id */
		"[4,\"a\",\"NotSupported\",\"\",{}]",
		"[5,\"a\",{}]",
		"[2,\"a\",\"Heartbeat\",{\"s\":\"}]\"}]",
		"[2,\"a\",\"Heartbeat\",{\"s\":\"\\\"}\"}]",
		"[2,\"a\",\"Heartbeat\",{\"n\":1e999}]",
		"[2,\"a\",\"Heartbeat\",{}",
		"[2,\"a\",\"Heartbeat\",",
		"[3,\"a\"",
		"[2,\"a\",\"MeterValues\",{\"meterValue\":[{\"sampledValue\":[{\"value\":\"1\"}]}]}]",
		"[2,\"a\",\"MeterValues\",{\"meterValue\":[],\"meterValue\":[]}]",     /* duplicate key */
		"[2,\"a\",\"MeterValues\",{\"meterValue\":[1,]}]",
		"[2,\"a\",\"MeterValues\",{\"transactionId\":-5}]",
		"[2,\"a\",\"MeterValues\",{\"v\":\"\\u00e9\"}]",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(frames) / sizeof(frames[0]); i++)
		expect_same_as_full(frames[i]);
	/* nesting just within the limit and one beyond (the fast path checks it in its own pass) */
	for (int depth = OCPP_DEPTH_MAX - 1; depth <= OCPP_DEPTH_MAX + 1; depth++) {
		char deep[256];
		int n = snprintf(deep, sizeof(deep), "[2,\"a\",\"X\",{\"k\":");
		for (int d = 2; d < depth; d++)
			n += snprintf(deep + n, sizeof(deep) - (size_t)n, "[");
		for (int d = 2; d < depth; d++)
			n += snprintf(deep + n, sizeof(deep) - (size_t)n, "]");
		snprintf(deep + n, sizeof(deep) - (size_t)n, "}]");
		assert_int_equal(ocpp_json_depth(deep, strlen(deep), 100), depth);
		expect_same_as_full(deep);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_replace_keeps_every_other_byte),
		cmocka_unit_test(test_absent_member_added_first),
		cmocka_unit_test(test_escaped_key_falls_back),
		cmocka_unit_test(test_no_such_object),
		cmocka_unit_test(test_forwarded_frame_costs_only_its_payload),
		cmocka_unit_test(test_fast_path_reads_as_the_full_parser),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
