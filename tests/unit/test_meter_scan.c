/* meter_scan against the jansson reading it replaces: for every payload the scanner accepts,
 * jansson (with duplicate keys refused, as the frame parser loads) must accept it too and
 * meter_value_of over its tree must give the same samples and transaction id; payloads jansson
 * refuses must never be accepted by the scanner. Real frames of 1.6 and 2.0.1 chargers, units
 * kW/W/kWh/Wh/A, missing phases, values as strings and as numbers, and hostile shapes. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "edge/ocpp/meter-scan.h"
#include "edge/ocpp/ocpp-frame.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* The reference: what charger-model.c read from the tree before the scanner. */
static void tree_reading(const json_t *pl, struct meter_reading *r)
{
	const json_t *id = json_object_get(pl, "transactionId"), *mv, *sv;
	size_t i, j;

	memset(r, 0, sizeof(*r));
	if (json_is_integer(id)) {
		r->has_tx = r->tx_is_int = true;
		r->tx_int = json_integer_value(id);
		snprintf(r->tx_id, sizeof(r->tx_id), "%lld", r->tx_int);
	} else if (json_is_string(id)) {
		r->has_tx = true;
		snprintf(r->tx_id, sizeof(r->tx_id), "%s", json_string_value(id));
	}
	json_array_foreach(json_object_get(pl, "meterValue"), i, mv)
		json_array_foreach(json_object_get(mv, "sampledValue"), j, sv)
			if (r->n < METER_SAMPLES_MAX)
				meter_value_of(sv, &r->s[r->n++]);
}

/* Scanner and tree agree on `payload`; returns meter_scan's verdict. */
static int check(const char *payload)
{
	struct meter_reading a, b;
	int rc = meter_scan(payload, strlen(payload), &a);
	json_t *pl = json_loadb(payload, strlen(payload), JSON_REJECT_DUPLICATES, NULL);

	if (rc == 0) {
		if (!pl)
			fail_msg("scanner accepted what jansson refuses: %s", payload);
		tree_reading(pl, &b);
		assert_int_equal(a.has_tx, b.has_tx);
		assert_int_equal(a.tx_is_int, b.tx_is_int);
		if (a.has_tx)
			assert_string_equal(a.tx_id, b.tx_id);
		assert_int_equal(a.n, b.n);
		for (size_t k = 0; k < a.n; k++) {
			assert_int_equal(a.s[k].what, b.s[k].what);
			assert_int_equal(a.s[k].phase, b.s[k].phase);
			assert_int_equal(a.s[k].kilo, b.s[k].kilo);
			assert_memory_equal(&a.s[k].value, &b.s[k].value, sizeof(double)); /* bit for bit */
		}
	}
	json_decref(pl);
	return rc;
}

static void test_real_frames_read_as_the_tree(void **state)
{
	static const char *const ok[] = {
		/* 1.6, values as strings, three phases, energy in Wh, power in W */
		"{\"connectorId\":1,\"transactionId\":42,\"meterValue\":[{\"timestamp\":\"2026-12-04T10:00:00Z\","
		"\"sampledValue\":[{\"value\":\"16.1\",\"context\":\"Sample.Periodic\",\"format\":\"Raw\","
		"\"measurand\":\"Current.Import\",\"phase\":\"L1\",\"location\":\"Outlet\",\"unit\":\"A\"},"
		"{\"value\":\"15.9\",\"measurand\":\"Current.Import\",\"phase\":\"L2\",\"unit\":\"A\"},"
		"{\"value\":\"16.0\",\"measurand\":\"Current.Import\",\"phase\":\"L3\",\"unit\":\"A\"},"
		"{\"value\":\"230.4\",\"measurand\":\"Voltage\",\"phase\":\"L1-N\",\"unit\":\"V\"},"
		"{\"value\":\"11040\",\"measurand\":\"Power.Active.Import\",\"unit\":\"W\"},"
		"{\"value\":\"12345.6\",\"measurand\":\"Energy.Active.Import.Register\",\"unit\":\"Wh\"},"
		"{\"value\":\"57\",\"measurand\":\"SoC\",\"location\":\"EV\",\"unit\":\"Percent\"}]}]}",
		/* 1.6 in kW and kWh, the energy register without a measurand (the default), no transaction */
		"{\"connectorId\":2,\"meterValue\":[{\"timestamp\":\"2026-12-04T10:00:00Z\",\"sampledValue\":["
		"{\"value\":\"7.2\",\"measurand\":\"Power.Active.Import\",\"unit\":\"kW\"},{\"value\":\"1.234\",\"unit\":\"kWh\"}]}]}",
		/* 2.0.1, numbers, unitOfMeasure with a multiplier, phase-less current (ignored) */
		"{\"evseId\":1,\"meterValue\":[{\"timestamp\":\"2026-12-04T10:00:00.000Z\",\"sampledValue\":["
		"{\"value\":31.5,\"measurand\":\"Current.Import\",\"phase\":\"L1\",\"unitOfMeasure\":{\"unit\":\"A\"}},"
		"{\"value\":31.5,\"measurand\":\"Current.Import\"},"
		"{\"value\":22.1,\"measurand\":\"Power.Active.Import\",\"unitOfMeasure\":{\"unit\":\"kW\",\"multiplier\":0}},"
		"{\"value\":3,\"measurand\":\"Power.Active.Import\",\"phase\":\"L2\",\"unitOfMeasure\":{\"unit\":\"kW\"}},"
		"{\"value\":10.5e3,\"measurand\":\"Energy.Active.Import.Register\",\"unitOfMeasure\":{\"unit\":\"Wh\"}},"
		"{\"value\":-0.0,\"measurand\":\"Energy.Active.Export.Register\"},"
		"{\"value\":80,\"measurand\":\"SoC\",\"unitOfMeasure\":{\"unit\":\"Percent\"}}]}]}",
		/* two meterValues, odd whitespace, a string transaction id, both unit forms (unit wins) */
		" { \"transactionId\" : \"tx-0001\" , \"meterValue\" : [ { \"sampledValue\" : [ { \"value\" : "
		"\"1\" , \"unit\" : \"kWh\", \"unitOfMeasure\": {\"unit\": \"Wh\"} } ] } ,\n\t{\"sampledValue\":[{\"value\":2}]} ] }\r\n",
		/* shapes the tree reads as nothing or as an empty sample */
		"{\"meterValue\":{}}",
		"{\"meterValue\":[1,\"x\",null,{\"sampledValue\":{}}]}",
		"{\"meterValue\":[{\"sampledValue\":[1,[],{},{\"measurand\":7,\"value\":true,\"unit\":1}]}]}",
		"{\"meterValue\":[{\"sampledValue\":[{\"value\":\"abc\",\"phase\":\"L4\"},{\"value\":\" 12x\",\"phase\":\"L\"}]}]}",
		"{\"meterValue\":[{\"sampledValue\":[{\"value\":5,\"unitOfMeasure\":\"kW\"},{\"value\":6,\"unitOfMeasure\":{\"unit\":2}}]}]}",
		"{\"transactionId\":1.5,\"meterValue\":[]}",
		"{\"transactionId\":null}",
		"{\"transactionId\":-0}",
		"{\"transactionId\":\"0123456789012345678901234567890123456789012345\"}",
		"{\"transactionId\":999999999999999999,\"x\":[true,false,null,{\"a\":{\"b\":[]}}],\"\":0}",
		"{}",
		"{\"meterValue\":[{\"sampledValue\":[{\"value\":1e-400},{\"value\":123456789012345678},{\"value\":0.1e1}]}]}",
		"{\"meterValue\":[{\"sampledValue\":[{\"measurand\":\"Voltage\",\"phase\":\"L3-N\",\"value\":\"229.9\"}]}],"
		"\"signedMeterValue\":{\"signedMeterData\":\"AAE=\",\"encodingMethod\":\"OCMF\"}}",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		int rc = check(ok[i]);
		if (rc != 0)
			fail_msg("scanner unsure of a plain payload (%d): %s", rc, ok[i]);
	}
}

static void test_what_the_edge_reads(void **state)
{
	struct meter_reading r;
	static const char p[] = "{\"transactionId\":42,\"meterValue\":[{\"sampledValue\":["
				"{\"value\":\"16.5\",\"measurand\":\"Current.Import\",\"phase\":\"L2\",\"unit\":\"A\"},"
				"{\"value\":7.4,\"measurand\":\"Power.Active.Import\",\"unitOfMeasure\":{\"unit\":\"kW\"}},"
				"{\"value\":\"812\"}]}]}";

	(void)state;
	assert_int_equal(meter_scan(p, strlen(p), &r), 0);
	assert_true(r.has_tx && r.tx_is_int);
	assert_string_equal(r.tx_id, "42");
	assert_int_equal(r.n, 3);
	assert_int_equal(r.s[0].what, METER_CURRENT);
	assert_int_equal(r.s[0].phase, 1);
	assert_true(r.s[0].value == 16.5);
	assert_int_equal(r.s[1].what, METER_POWER);
	assert_true(r.s[1].kilo && r.s[1].phase == -1 && r.s[1].value == 7.4);
	assert_int_equal(r.s[2].what, METER_ENERGY);
	assert_true(!r.s[2].kilo && r.s[2].value == 812);
}

/* Never "sure" of what jansson refuses; unsure (falls back) of what it cannot vouch for. */
static void test_refused_or_unsure(void **state)
{
	static const char *const bad[] = {
		"{\"meterValue\":[],\"meterValue\":[]}",                        /* duplicate key */
		"{\"meterValue\":[{\"sampledValue\":[{\"value\":1,\"value\":2}]}]}",
		"{\"a\":1,}", "{\"a\":[1,]}", "{\"a\":01}", "{\"a\":-}", "{\"a\":1.}", "{\"a\":.5}", "{\"a\":1e}",
		"{\"a\":tru}", "{\"a\":nul}", "{\"a\" 1}", "{\"a\":1", "{\"a\":1}}", "{\"a\":1} x", "[1]", "",
		"{\"a\":\"x\ty\"}",                                             /* raw control character */
		"{\"a\":\"\\u0041\"}",                                         /* escape: unsure */
		"{\"a\":\"\xc3\xa9\"}",                                         /* non-ASCII: unsure */
		"{\"a\":1e999}",                                               /* real overflow */
		"{\"a\":12345678901234567890}",                                /* integer beyond int64 */
		"{\"meterValue\":[{\"sampledValue\":[{\"value\":\"0.0000000000000000000000000000000000000000001\"}]}]}",
		"{\"a\":\"x}",
		"{'a':1}",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int rc = check(bad[i]);
		if (rc == 0)
			fail_msg("scanner sure of %s", bad[i]);
	}
}

static void test_too_many_samples(void **state)
{
	char p[8192];
	int n = snprintf(p, sizeof(p), "{\"meterValue\":[{\"sampledValue\":[");

	(void)state;
	for (int k = 0; k <= METER_SAMPLES_MAX; k++)
		n += snprintf(p + n, sizeof(p) - (size_t)n, "%s{\"value\":%d}", k ? "," : "", k);
	snprintf(p + n, sizeof(p) - (size_t)n, "]}]}");
	assert_int_equal(check(p), -E2BIG);
}

/* The frame parser leaves the tree out of a MeterValues it can scan, keeps it for one with the
 * edge's provisional (negative) 1.6 transaction id (replay.c rewrites it from the tree), and
 * gives the same tree on demand. */
static void test_frame_parser_skips_the_tree(void **state)
{
	static const char mv[] = "[2,\"m1\",\"MeterValues\",{\"transactionId\":7,\"meterValue\":[{\"sampledValue\":[{\"value\":\"1.5\"}]}]}]";
	static const char prov[] = "[2,\"m2\",\"MeterValues\",{\"transactionId\":-17,\"meterValue\":[]}]";
	static const char esc[] = "[2,\"m3\",\"MeterValues\",{\"transactionId\":7,\"x\":\"\\u0041\"}]";
	struct ocpp_frame f, full;

	(void)state;
	assert_int_equal(ocpp_frame_parse(mv, strlen(mv), &f), REJECT_NONE);
	assert_true(f.meter_scanned);
	assert_null(f.payload);
	assert_int_equal(ocpp_frame_parse_full(mv, strlen(mv), &full), REJECT_NONE);
	json_t *pl = ocpp_frame_payload(&f);
	assert_true(json_equal(pl, full.payload));
	json_decref(pl);
	ocpp_frame_fini(&full);
	ocpp_frame_fini(&f);

	assert_int_equal(ocpp_frame_parse(prov, strlen(prov), &f), REJECT_NONE);
	assert_false(f.meter_scanned);
	assert_int_equal(json_integer_value(json_object_get(f.payload, "transactionId")), -17);
	ocpp_frame_fini(&f);

	assert_int_equal(ocpp_frame_parse(esc, strlen(esc), &f), REJECT_NONE);
	assert_false(f.meter_scanned);
	assert_string_equal(json_string_value(json_object_get(f.payload, "x")), "A");
	ocpp_frame_fini(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_real_frames_read_as_the_tree),
		cmocka_unit_test(test_what_the_edge_reads),
		cmocka_unit_test(test_refused_or_unsure),
		cmocka_unit_test(test_too_many_samples),
		cmocka_unit_test(test_frame_parser_skips_the_tree),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
