/* Chargers by station id (charger-index.h): every charger found after growth and after removals
 * in any order, so backward-shift deletion never loses an entry that probed past the hole. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>

#include "edge/ocpp/charger-index.h"
#include "edge/ocpp/charger.h"

#define N 3000

static struct charger *chargers[N];

static int setup(void **state)
{
	char id[32];
	(void)state;

	for (int i = 0; i < N; i++) {
		snprintf(id, sizeof(id), "CP%04d", i);
		chargers[i] = charger_new(id, NULL);
	}
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	for (int i = 0; i < N; i++)
		charger_free(chargers[i]);
	return 0;
}

static void assert_holds(const struct charger_index *ix, const bool *in)
{
	for (int i = 0; i < N; i++) {
		struct charger *found = charger_index_find(ix, chargers[i]->id);
		if (in[i])
			assert_ptr_equal(found, chargers[i]);
		else
			assert_null(found);
	}
}

static void test_put_find_drop(void **state)
{
	struct charger_index ix = { 0 };
	bool in[N] = { false };
	(void)state;

	assert_null(charger_index_find(&ix, "CP0000")); /* empty: no table yet */
	for (int i = 0; i < N; i++) {
		assert_int_equal(charger_index_put(&ix, chargers[i]), 0);
		in[i] = true;
	}
	assert_int_equal(ix.n, N);
	assert_true(ix.cap >= 2 * N);
	assert_holds(&ix, in);
	assert_null(charger_index_find(&ix, "CP"));
	assert_null(charger_index_find(&ix, "CP00001"));

	/* Removals in a scattered order, checking every id after each batch: an entry displaced
	 * by a collision must move back into the hole or it is lost. */
	srand(7);
	for (int round = 0; round < 6; round++) {
		for (int k = 0; k < N / 8; k++) {
			int i = rand() % N;
			charger_index_drop(&ix, chargers[i]);
			in[i] = false;
		}
		assert_holds(&ix, in);
	}
	size_t left = 0;
	for (int i = 0; i < N; i++)
		left += in[i];
	assert_int_equal(ix.n, left);

	/* Put back: found again, the count follows; a second put of the same id replaces. */
	for (int i = 0; i < N; i++)
		if (!in[i]) {
			assert_int_equal(charger_index_put(&ix, chargers[i]), 0);
			in[i] = true;
		}
	assert_int_equal(charger_index_put(&ix, chargers[5]), 0);
	assert_int_equal(ix.n, N);
	assert_holds(&ix, in);
	charger_index_free(&ix);
	assert_null(charger_index_find(&ix, "CP0001"));
}

/* Dropping a charger that is not the entry for its id (another struct with the same id) leaves
 * the entry alone. */
static void test_drop_other(void **state)
{
	struct charger_index ix = { 0 };
	struct charger *twin = charger_new("CP0001", NULL);
	(void)state;

	assert_int_equal(charger_index_put(&ix, chargers[1]), 0);
	charger_index_drop(&ix, twin);
	assert_ptr_equal(charger_index_find(&ix, "CP0001"), chargers[1]);
	charger_free(twin);
	charger_index_free(&ix);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_put_find_drop),
		cmocka_unit_test(test_drop_other),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
