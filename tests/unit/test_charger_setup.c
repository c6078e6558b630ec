/* What the edge asked of each charger (edge/site/charger-setup.c) is the module's own table, not
 * a field of struct charger (issue 19, "one owner per state"): a slot at the charger's index that
 * a closed socket empties and a removed charger takes with it, found by an edge call's result
 * through the daemon. No loop, no socket: the slots and the proxy's events are driven by hand. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "edge/site/charger-setup.c"

struct rig {
	struct ag_config cfg;
	struct ag_daemon d;
	struct proxy p;
	struct charger *ch[3];
};

static void rig_init(struct rig *r)
{
	memset(r, 0, sizeof(*r));
	r->d.cfg = &r->cfg;
	r->d.proxy = &r->p;
	r->p.d = &r->d;
	for (size_t i = 0; i < 3; i++) {
		char id[8];
		snprintf(id, sizeof(id), "EV%zu", i + 1);
		r->ch[i] = charger_new(id, NULL);
		r->ch[i]->proxy = &r->p;
		r->ch[i]->index = i;
		r->ch[i]->version = OCPP16;
	}
	assert_int_equal(charger_setup_start(&r->d), 0);
	assert_non_null(r->d.setup);
}

static void rig_fini(struct rig *r)
{
	charger_setup_stop(&r->d);
	assert_null(r->d.setup);
	for (size_t i = 0; i < 3; i++)
		charger_free(r->ch[i]);
}

static void asked(struct rig *r, size_t i, enum setup_state s)
{
	struct setup_slot *slot = slot_take(r->d.setup, r->ch[i]);

	assert_non_null(slot);
	slot->state = s;
}

/* A refused ChangeConfiguration of the measurand list, as a charger without SoC answers. */
static void refused(struct charger *ch)
{
	json_t *req = json_pack("{s:s, s:s}", "key", "MeterValuesSampledData", "value", SETUP_MEASURANDS);
	json_t *res = json_pack("{s:s}", "status", "Rejected");

	on_result(ch, "ChangeConfiguration", req, res, NULL);
	json_decref(req);
	json_decref(res);
}

static void test_no_slot_until_asked(void **state)
{
	struct rig r;

	(void)state;
	rig_init(&r);
	assert_int_equal(state_of(r.d.setup, r.ch[0]), SETUP_NONE);
	refused(r.ch[0]); /* a result for a charger nothing was asked of on this connection */
	assert_null(slot_find(r.d.setup, r.ch[0]));
	asked(&r, 2, SETUP_ASKED); /* the table grows to the charger's index */
	assert_int_equal(state_of(r.d.setup, r.ch[2]), SETUP_ASKED);
	assert_int_equal(state_of(r.d.setup, r.ch[1]), SETUP_NONE);
	rig_fini(&r);
}

static void test_refusal_retries_that_charger_only(void **state)
{
	struct rig r;

	(void)state;
	rig_init(&r);
	asked(&r, 0, SETUP_ASKED);
	asked(&r, 1, SETUP_ASKED);
	refused(r.ch[1]);
	assert_int_equal(state_of(r.d.setup, r.ch[1]), SETUP_RETRY);
	assert_int_equal(state_of(r.d.setup, r.ch[0]), SETUP_ASKED);
	refused(r.ch[1]); /* only the first refusal is retried */
	assert_int_equal(state_of(r.d.setup, r.ch[1]), SETUP_RETRY);
	rig_fini(&r);
}

static void test_closed_empties_the_slot(void **state)
{
	struct rig r;

	(void)state;
	rig_init(&r);
	asked(&r, 0, SETUP_DONE);
	asked(&r, 1, SETUP_DONE);
	proxy_emit(&r.p, r.ch[0], PROXY_CLOSED);
	assert_null(slot_find(r.d.setup, r.ch[0])); /* asked again on the next connection */
	assert_int_equal(state_of(r.d.setup, r.ch[1]), SETUP_DONE);
	rig_fini(&r);
}

/* proxy_del shifts the chargers after the removed one down by one and then tells PROXY_REMOVED:
 * their slots must follow, or the next charger's progress is lost and it is asked twice. */
static void test_removed_shifts_the_slots(void **state)
{
	struct rig r;

	(void)state;
	rig_init(&r);
	asked(&r, 0, SETUP_DONE);
	asked(&r, 1, SETUP_RETRY);
	asked(&r, 2, SETUP_ASKED);
	r.ch[1]->index = 0; /* as proxy_del leaves them; the removed one keeps its old index */
	r.ch[2]->index = 1;
	proxy_emit(&r.p, r.ch[0], PROXY_REMOVED);
	assert_int_equal(state_of(r.d.setup, r.ch[1]), SETUP_RETRY);
	assert_int_equal(state_of(r.d.setup, r.ch[2]), SETUP_ASKED);
	assert_null(slot_find(r.d.setup, r.ch[0]));
	rig_fini(&r);
}

/* A result that arrives once the module stopped (the proxy stops after it) finds no table. */
static void test_result_after_stop(void **state)
{
	struct rig r;

	(void)state;
	rig_init(&r);
	asked(&r, 0, SETUP_ASKED);
	charger_setup_stop(&r.d);
	refused(r.ch[0]);
	charger_setup_stop(&r.d); /* stop is safe twice */
	rig_fini(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_no_slot_until_asked),
		cmocka_unit_test(test_refusal_retries_that_charger_only),
		cmocka_unit_test(test_closed_empties_the_slot),
		cmocka_unit_test(test_removed_shifts_the_slots),
		cmocka_unit_test(test_result_after_stop),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
