/* OCPP-J frame parser: the first code a hostile charger or CSMS reaches. Any bytes go to
 * ocpp_frame_parse; besides "no crash, no leak, no UB" it checks the contract:
 * - the depth scan agrees with the parser's refusal,
 * - a refused frame still carries a usable id ("-1" or the message id, NUL-terminated),
 * - an accepted frame re-serialises with ocpp_*_text and parses back to the same frame
 *   (the edge forwards and answers with that serialiser),
 * - a CALL rewritten by ocpp_call_set parses to the same frame with only that member changed,
 * - the fast path (the envelope read in place, only the payload parsed) gives exactly what the
 *   full parser of the whole document gives: verdict, type, id, action, error code, payload
 *   (for a MeterValues read by the scanner without a tree: the tree of its payload text). */
#include "tests/fuzz/fuzz.h"
#include "edge/ocpp/ocpp-frame.h"

#include <stdio.h>

FUZZ_DEFAULT_INIT

static void round_trip(const struct ocpp_frame *f)
{
	struct ocpp_frame back;
	char *text = NULL;

	switch (f->type) {
	case OCPP_CALL: text = ocpp_call_text(f->id, f->action, f->payload); break;
	case OCPP_RESULT: text = ocpp_result_text(f->id, f->payload); break;
	case OCPP_ERROR: text = ocpp_error_text(f->id, f->error_code, "x"); break;
	}
	fuzz_check(text != NULL, "an accepted frame serialises");
	fuzz_check(ocpp_frame_parse_tree(text, strlen(text), &back) == REJECT_NONE, "a serialised frame parses");
	fuzz_check(back.type == f->type && strcmp(back.id, f->id) == 0 && strcmp(back.action, f->action) == 0 &&
		      strcmp(back.error_code, f->error_code) == 0,
	      "round trip keeps type, id, action, error code");
	if (f->type != OCPP_ERROR) {
		/* Reals go out with 10 significant digits: compare at that precision. */
		size_t flags = JSON_COMPACT | JSON_SORT_KEYS | JSON_REAL_PRECISION(10);
		char *a = json_dumps(f->payload, flags), *b = json_dumps(back.payload, flags);
		fuzz_check(a && b && strcmp(a, b) == 0, "round trip keeps the payload");
		free(a);
		free(b);
	}
	ocpp_frame_fini(&back);
	free(text);
}

/* ocpp_call_set on an accepted CALL: the result parses to the same frame with only the member
 * set (the replay's and the proxy's rewrite of a transaction id or the offline flag). */
static void rewrite(const char *text, size_t size, const struct ocpp_frame *f)
{
	static const char *const objs[] = { NULL, "csChargingProfiles" };

	for (size_t i = 0; i < 2; i++) {
		json_t *o = objs[i] ? json_object_get(f->payload, objs[i]) : f->payload;
		char *out = ocpp_call_set(text, size, objs[i], "transactionId", "-12345");
		struct ocpp_frame back;
		fuzz_check((out != NULL) == json_is_object(o), "a CALL with the object is rewritten");
		if (!out)
			continue;
		fuzz_check(ocpp_frame_parse_tree(out, strlen(out), &back) == REJECT_NONE, "a rewritten frame parses");
		json_t *want = json_deep_copy(f->payload);
		json_object_set_new(objs[i] ? json_object_get(want, objs[i]) : want, "transactionId", json_integer(-12345));
		fuzz_check(strcmp(back.id, f->id) == 0 && strcmp(back.action, f->action) == 0 && json_equal(back.payload, want),
			   "only the member changed");
		json_decref(want);
		ocpp_frame_fini(&back);
		free(out);
	}
}

static void same_as_full(const char *text, size_t size, const struct ocpp_frame *f, enum ocpp_reject why)
{
	struct ocpp_frame full;
	enum ocpp_reject want = ocpp_frame_parse_full(text, size, &full);

	fuzz_check(why == want, "fast and full parser give the same verdict");
	fuzz_check(f->type == full.type && strcmp(f->id, full.id) == 0 && strcmp(f->action, full.action) == 0 &&
			   strcmp(f->error_code, full.error_code) == 0,
		   "fast and full parser read the same type, id, action, error code");
	fuzz_check((f->payload == NULL) == (full.payload == NULL) && (!f->payload || json_equal(f->payload, full.payload)),
		   "fast and full parser read the same payload");
	ocpp_frame_fini(&full);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ocpp_frame f;
	const char *text = (const char *)data;
	int depth = ocpp_json_depth(text, size, OCPP_DEPTH_MAX);
	enum ocpp_reject why = ocpp_frame_parse(text, size, &f);

	fuzz_check(memchr(f.id, 0, sizeof(f.id)) != NULL && f.id[0], "the id is a non-empty string");
	fuzz_check((depth > OCPP_DEPTH_MAX) == (why == REJECT_TOO_DEEP), "depth scan and parser agree");
	if (f.meter_scanned) {
		/* A MeterValues the scanner read (fuzz_meter_scan checks its reading): the checks
		 * below look at its tree, which the frame then owns. */
		fuzz_check(why == REJECT_NONE && !f.payload, "a scanned MeterValues is accepted, without a tree");
		f.root = f.payload = ocpp_frame_payload(&f);
		fuzz_check(f.payload != NULL, "what the scanner vouched for, jansson parses");
	}
	same_as_full(text, size, &f, why);
	fuzz_check(ocpp_reject_code(why, OCPP16) && ocpp_reject_code(why, OCPP201), "every refusal has a code");
	if (why == REJECT_NONE) {
		fuzz_check(f.type == OCPP_ERROR ? f.payload == NULL : json_is_object(f.payload), "payload per type");
		fuzz_check(f.type != OCPP_CALL || f.action[0], "a CALL has an action");
		round_trip(&f);
		if (f.type == OCPP_CALL)
			rewrite(text, size, &f);
	}
	ocpp_frame_fini(&f);
	return 0;
}
