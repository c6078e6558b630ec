/* Provisional 1.6 transaction ids (tx-ids.h): the table, and which frames are rewritten how,
 * every other byte of the frame kept. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "edge/ocpp/tx-ids.h"

static void test_table(void **state)
{
	struct tx_ids ids = { 0 };
	(void)state;

	assert_null(tx_ids_find(&ids, -1, 0));
	assert_non_null(tx_ids_set(&ids, -1, 0));
	assert_non_null(tx_ids_set(&ids, -2, 0));
	for (int64_t i = 3; i <= 9; i++) /* past the first growth */
		assert_non_null(tx_ids_set(&ids, -i, 0));
	assert_int_equal(ids.n, 9);
	assert_non_null(tx_ids_set(&ids, -2, 702)); /* the CSMS numbered it: updated, not added */
	assert_int_equal(ids.n, 9);
	assert_int_equal(tx_ids_find(&ids, 0, 702)->provisional, -2);
	assert_int_equal(tx_ids_find(&ids, -2, 0)->csms_id, 702);
	assert_null(tx_ids_find(&ids, 0, 703));
	tx_ids_del(&ids, -2);
	assert_null(tx_ids_find(&ids, -2, 0));
	assert_int_equal(ids.n, 8);
	assert_non_null(tx_ids_find(&ids, -9, 0)); /* the last one took its place */
	tx_ids_del(&ids, -42);                      /* unknown: nothing happens */
	assert_int_equal(ids.n, 8);
	tx_ids_free(&ids);
	assert_int_equal(ids.n, 0);
}

static void test_provisional_in(void **state)
{
	json_t *neg = json_pack("{s:i}", "transactionId", -5), *pos = json_pack("{s:i}", "transactionId", 5),
	       *str = json_pack("{s:s}", "transactionId", "-5");
	(void)state;

	assert_int_equal(tx_ids_provisional_in(neg), -5);
	assert_int_equal(tx_ids_provisional_in(pos), 0);
	assert_int_equal(tx_ids_provisional_in(str), 0);
	assert_int_equal(tx_ids_provisional_in(NULL), 0);
	json_decref(neg);
	json_decref(pos);
	json_decref(str);
}

/* tx_ids_up on `text`: its result code, the frame in *out. */
static int up(const struct tx_ids *ids, const char *text, int64_t *prov, char **out)
{
	struct ocpp_frame f;

	assert_int_equal(ocpp_frame_parse(text, strlen(text), &f), REJECT_NONE);
	int rc = tx_ids_up(ids, text, strlen(text), f.action, f.payload, prov, out);
	ocpp_frame_fini(&f);
	return rc;
}

static void test_up(void **state)
{
	struct tx_ids ids = { 0 };
	const char *stop = "[2,\"s1\",\"StopTransaction\",{\"meterStop\":1500, \"timestamp\":\"2026-01-01T00:00:00Z\","
			   "\"transactionId\":-3}]";
	const char *meter = "[2,\"m1\",\"MeterValues\",{\"connectorId\":1,\"transactionId\":-3,\"meterValue\":[]}]";
	const char *numbered = "[2,\"s2\",\"StopTransaction\",{\"meterStop\":1,\"timestamp\":\"x\",\"transactionId\":88}]";
	const char *status = "[2,\"n1\",\"StatusNotification\",{\"connectorId\":1,\"transactionId\":-3}]";
	int64_t prov;
	char *out;
	(void)state;

	tx_ids_set(&ids, -3, 0);
	assert_int_equal(up(&ids, stop, &prov, &out), -ENOENT); /* not numbered yet: cannot go */
	assert_int_equal(prov, -3);
	assert_null(out);
	tx_ids_set(&ids, -3, 1234);
	assert_int_equal(up(&ids, stop, &prov, &out), 0);
	assert_string_equal(out, "[2,\"s1\",\"StopTransaction\",{\"meterStop\":1500, \"timestamp\":\"2026-01-01T00:00:00Z\","
				 "\"transactionId\":1234}]");
	free(out);
	assert_int_equal(up(&ids, meter, &prov, &out), 0);
	assert_string_equal(out, "[2,\"m1\",\"MeterValues\",{\"connectorId\":1,\"transactionId\":1234,\"meterValue\":[]}]");
	free(out);
	assert_int_equal(up(&ids, numbered, &prov, &out), 0); /* the CSMS's own id: as it is */
	assert_int_equal(prov, 0);
	assert_null(out);
	assert_int_equal(up(&ids, status, &prov, &out), 0); /* other actions: as they are */
	assert_null(out);
	tx_ids_free(&ids);
}

static char *down(const struct tx_ids *ids, const char *text)
{
	struct ocpp_frame f;

	assert_int_equal(ocpp_frame_parse(text, strlen(text), &f), REJECT_NONE);
	char *out = tx_ids_down(ids, &f);
	ocpp_frame_fini(&f);
	return out;
}

static void test_down(void **state)
{
	struct tx_ids ids = { 0 };
	char *out;
	(void)state;

	assert_null(down(&ids, "[2,\"r1\",\"RemoteStopTransaction\",{\"transactionId\":1234}]")); /* empty table */
	tx_ids_set(&ids, -3, 1234);
	out = down(&ids, "[2,\"r1\",\"RemoteStopTransaction\",{\"transactionId\":1234}]");
	assert_string_equal(out, "[2,\"r1\",\"RemoteStopTransaction\",{\"transactionId\":-3}]");
	free(out);
	out = down(&ids, "[2,\"p1\",\"SetChargingProfile\",{\"connectorId\":1,\"csChargingProfiles\":{\"chargingProfileId\":7,"
			 "\"transactionId\":1234,\"stackLevel\":2}}]");
	assert_string_equal(out, "[2,\"p1\",\"SetChargingProfile\",{\"connectorId\":1,\"csChargingProfiles\":{"
				 "\"chargingProfileId\":7,\"transactionId\":-3,\"stackLevel\":2}}]");
	free(out);
	assert_null(down(&ids, "[2,\"r2\",\"RemoteStopTransaction\",{\"transactionId\":999}]")); /* not a mapped id */
	assert_null(down(&ids, "[2,\"r3\",\"GetConfiguration\",{\"transactionId\":1234}]"));
	tx_ids_free(&ids);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_provisional_in),
		cmocka_unit_test(test_up),
		cmocka_unit_test(test_down),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
