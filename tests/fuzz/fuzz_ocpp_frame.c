/* OCPP-J frame parser: the first code a hostile charger or CSMS reaches. Any bytes go to
 * ocpp_frame_parse; besides "no crash, no leak, no UB" it checks the contract:
 * - the depth scan agrees with the parser's refusal,
 * - a refused frame still carries a usable id ("-1" or the message id, NUL-terminated),
 * - an accepted frame re-serialises with ocpp_*_text and parses back to the same frame
 *   (the edge forwards and answers with that serialiser). */
#include "tests/fuzz/fuzz.h"
#include "edge/ocpp-frame.h"

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
	fuzz_check(ocpp_frame_parse(text, strlen(text), &back) == REJECT_NONE, "a serialised frame parses");
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ocpp_frame f;
	const char *text = (const char *)data;
	int depth = ocpp_json_depth(text, size, OCPP_DEPTH_MAX);
	enum ocpp_reject why = ocpp_frame_parse(text, size, &f);

	fuzz_check(memchr(f.id, 0, sizeof(f.id)) != NULL && f.id[0], "the id is a non-empty string");
	fuzz_check((depth > OCPP_DEPTH_MAX) == (why == REJECT_TOO_DEEP), "depth scan and parser agree");
	fuzz_check(ocpp_reject_code(why, OCPP16) && ocpp_reject_code(why, OCPP201), "every refusal has a code");
	if (why == REJECT_NONE) {
		fuzz_check(f.type == OCPP_ERROR ? f.payload == NULL : json_is_object(f.payload), "payload per type");
		fuzz_check(f.type != OCPP_CALL || f.action[0], "a CALL has an action");
		round_trip(&f);
	}
	ocpp_frame_fini(&f);
	return 0;
}
