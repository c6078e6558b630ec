/* OCPP-J frames: [2, id, action, payload] CALL, [3, id, payload] CALLRESULT,
 * [4, id, code, description, details] CALLERROR (OCPP 2.0.1 Part 4 §4; OCPP-J 1.6 §4).
 *
 * The proxy forwards the original bytes; parsing is for reading what passes and for rejecting
 * what must not pass. Limits (size, nesting depth, message id length) are checked before the
 * JSON parser sees the text, so hostile input costs little. */
#ifndef AG_OCPP_FRAME_H
#define AG_OCPP_FRAME_H

#include "edge/ocpp/meter-scan.h"

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum ocpp_version { OCPP16 = 16, OCPP201 = 201 };

enum ocpp_msg_type { OCPP_CALL = 2, OCPP_RESULT = 3, OCPP_ERROR = 4 };

#define OCPP_ID_MAX 36          /* message id: at most 36 characters */
#define OCPP_ACTION_MAX 64
#define OCPP_DEPTH_MAX 24       /* deepest OCPP payload is ~8; anything far beyond is hostile */

/* Why a frame was refused, mapped per version to the CALLERROR code the spec prescribes. */
enum ocpp_reject {
	REJECT_NONE = 0,
	REJECT_NOT_JSON,        /* 1.6 FormationViolation, 2.0.1 RpcFrameworkError (id unreadable) */
	REJECT_NOT_RPC,         /* not an array / id unreadable: RpcFrameworkError / FormationViolation */
	REJECT_BAD_TYPE,        /* unknown message type: MessageTypeNotSupported / NotSupported */
	REJECT_FORMAT,          /* CALL structure wrong (action, payload): FormatViolation / FormationViolation */
	REJECT_TOO_DEEP,        /* nesting beyond OCPP_DEPTH_MAX: FormatViolation / FormationViolation */
};

struct ocpp_frame {
	enum ocpp_msg_type type;
	char id[OCPP_ID_MAX + 1];
	char action[OCPP_ACTION_MAX + 1];       /* CALL only */
	json_t *payload;                        /* CALL, RESULT: object; ERROR: NULL; and NULL for a
						 * MeterValues CALL read by the scanner (below) */
	const char *payload_text;               /* the payload's bytes within `text` (fast path) */
	size_t payload_len;
	bool meter_scanned;                     /* a MeterValues CALL whose payload meter_scan
						 * (meter-scan.h) accepted: no tree was built; what it
						 * says is in `meter` (the tree: ocpp_frame_payload) */
	struct meter_reading meter;
	char error_code[48];                    /* ERROR only */
	json_t *root;                           /* owns payload */
	const char *text;                       /* the bytes parsed (borrowed: valid while the caller's
						 * buffer is), for splicing; NULL for a frame built here */
	size_t len;
};

/* Parse `len` bytes. On success returns REJECT_NONE and fills `f` (free with ocpp_frame_fini).
 * On refusal fills f->id with the message id if it could be read, else "-1", and f->type with
 * the type if known (a refused RESULT/ERROR gets no answer). */
enum ocpp_reject ocpp_frame_parse(const char *text, size_t len, struct ocpp_frame *f);
/* The same, always with the payload's tree (f->payload; a MeterValues is then not left to the
 * scanner): for code that compares or edits trees. */
enum ocpp_reject ocpp_frame_parse_tree(const char *text, size_t len, struct ocpp_frame *f);
/* The same, always through one jansson document of the whole frame (no fast path): the
 * reference ocpp_frame_parse is fuzzed against. f->root is then the array. */
enum ocpp_reject ocpp_frame_parse_full(const char *text, size_t len, struct ocpp_frame *f);
void ocpp_frame_fini(struct ocpp_frame *f);
/* The payload as a tree, a new reference (json_decref it): f->payload, or for a scanned
 * MeterValues its text parsed now. NULL for a CALLERROR or on ENOMEM. */
json_t *ocpp_frame_payload(const struct ocpp_frame *f);

/* Payloads parsed by ocpp_frame_parse take their nodes from free lists of fixed size classes
 * (ocpp-frame.c says why). Call once, first thing in main(), before anything uses jansson: it
 * installs jansson's allocator. Without it (tools, tests) everything is plain malloc. */
void ocpp_frame_pool_init(void);

/* The CALLERROR code for a refusal in `version`. */
const char *ocpp_reject_code(enum ocpp_reject why, enum ocpp_version version);

/* Serialise. Each returns a malloc'd NUL-terminated string (NULL on ENOMEM); payload is borrowed. */
char *ocpp_call_text(const char *id, const char *action, const json_t *payload);
/* The same around a payload already written as JSON text (`id` and `action` need no escaping:
 * the edge's own). */
char *ocpp_call_text_json(const char *id, const char *action, const char *payload_json);
char *ocpp_result_text(const char *id, const json_t *payload);
char *ocpp_error_text(const char *id, const char *code, const char *description);

/* Byte-exact rewriting. A frame the edge must change (a 1.6 transaction id, 2.0.1's offline flag)
 * keeps every other byte the charger or CSMS sent: re-serialising with jansson would change
 * numbers (230.123456789012 -> 230.1234568), spacing and key order.
 *
 * A copy of the CALL `text` (a frame ocpp_frame_parse accepted) with member `key` of the payload
 * object (or of its member object `obj_key`) set to the JSON text `value`: its value replaced, or
 * the member added first in the object when absent. A frame the byte scanner would get wrong
 * (a key written with \u escapes) is re-serialised instead. malloc'd; NULL when `text` is not a
 * CALL with such an object, `value` is not JSON, or on ENOMEM. */
char *ocpp_call_set(const char *text, size_t len, const char *obj_key, const char *key, const char *value);

/* Maximum JSON nesting depth of `text` (strings skipped); stops counting past `limit`. */
int ocpp_json_depth(const char *text, size_t len, int limit);

/* RFC 3339 UTC timestamp "2026-11-22T03:00:00.000Z" of the wall clock, for payloads. */
void ocpp_timestamp(char *out, size_t size, long long offset_s);
/* "2024-05-01T12:00:00.123Z" of epoch milliseconds into buf (>= 32 bytes). */
void ocpp_time_format(int64_t epoch_ms, char *buf, size_t size);
/* RFC 3339 date-time, any offset, optional fraction, into epoch milliseconds. 0 or -EINVAL. */
int ocpp_time_parse(const char *s, int64_t *epoch_ms);

#endif
