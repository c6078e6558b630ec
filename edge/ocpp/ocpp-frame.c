/* OCPP-J frame parsing and serialisation; see ocpp-frame.h. The parser is the first thing a
 * hostile charger reaches, so it checks cheap limits first (depth by a byte scan) and only then
 * builds a JSON tree; it never trusts lengths or types it has not checked. */
#include "edge/ocpp/ocpp-frame.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Brackets outside strings from t[i]: the deepest nesting into *max, stopping once it passes
 * `limit`; with `to_close`, returns just past the bracket that closes the first one (len when
 * it runs off the end or passes the limit). */
static size_t nesting(const char *t, size_t i, size_t len, int limit, bool to_close, int *max)
{
	int depth = 0;
	bool in_string = false;

	*max = 0;
	for (; i < len; i++) {
		char c = t[i];
		if (in_string) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_string = false;
			continue;
		}
		if (c == '"')
			in_string = true;
		else if (c == '[' || c == '{') {
			if (++depth > *max && (*max = depth) > limit)
				return len;
		} else if ((c == ']' || c == '}') && --depth == 0 && to_close)
			return i + 1;
	}
	return len;
}

int ocpp_json_depth(const char *text, size_t len, int limit)
{
	int max;

	nesting(text, 0, len, limit, false, &max);
	return max;
}

static void set_id(struct ocpp_frame *f, const json_t *id)
{
	const char *s = json_string_value(id);

	if (s && s[0] && strlen(s) <= OCPP_ID_MAX)       /* "" is no id: answer with "-1" */
		snprintf(f->id, sizeof(f->id), "%s", s);
	else
		snprintf(f->id, sizeof(f->id), "-1");
}

/* The whole frame as one jansson document: the reference the fast path below must agree with,
 * and the path for everything unusual. */
enum ocpp_reject ocpp_frame_parse_full(const char *text, size_t len, struct ocpp_frame *f)
{
	json_error_t err;
	json_t *root, *type;

	memset(f, 0, sizeof(*f));
	snprintf(f->id, sizeof(f->id), "-1");
	if (ocpp_json_depth(text, len, OCPP_DEPTH_MAX) > OCPP_DEPTH_MAX)
		return REJECT_TOO_DEEP;
	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &err);
	if (!root)
		return REJECT_NOT_JSON;
	f->root = root;
	f->text = text;
	f->len = len;
	if (!json_is_array(root) || json_array_size(root) < 3 || !json_is_integer(type = json_array_get(root, 0)))
		return REJECT_NOT_RPC;
	const json_t *id = json_array_get(root, 1);
	set_id(f, id);
	if (!json_is_string(id) || strlen(json_string_value(id)) == 0 || strlen(json_string_value(id)) > OCPP_ID_MAX)
		return REJECT_NOT_RPC;
	switch (json_integer_value(type)) {
	case OCPP_CALL: {
		f->type = OCPP_CALL;
		const char *action = json_string_value(json_array_get(root, 2));
		json_t *payload = json_array_get(root, 3);
		if (json_array_size(root) != 4 || !action || !action[0] || strlen(action) > OCPP_ACTION_MAX ||
		    !json_is_object(payload))
			return REJECT_FORMAT;
		snprintf(f->action, sizeof(f->action), "%s", action);
		f->payload = payload;
		return REJECT_NONE;
	}
	case OCPP_RESULT:
		f->type = OCPP_RESULT;
		if (json_array_size(root) != 3 || !json_is_object(json_array_get(root, 2)))
			return REJECT_FORMAT;
		f->payload = json_array_get(root, 2);
		return REJECT_NONE;
	case OCPP_ERROR: {
		f->type = OCPP_ERROR;
		const char *code = json_string_value(json_array_get(root, 2));
		if (json_array_size(root) != 5 || !code || !json_is_string(json_array_get(root, 3)) ||
		    !json_is_object(json_array_get(root, 4)))
			return REJECT_FORMAT;
		snprintf(f->error_code, sizeof(f->error_code), "%s", code);
		return REJECT_NONE;
	}
	default:
		return REJECT_BAD_TYPE;
	}
}


/* ---- the fast path: the envelope read in place ----
 * A forwarded frame needs only its type, id and action; building a jansson array and two string
 * nodes for them (and a lexer buffer) cost allocations on every frame, and with 1,000 chargers
 * glibc spent more time consolidating freed chunks than the proxy spent on anything else. The
 * scanner below accepts only the plain shape [2,"id","Action",{...}] / [3,"id",{...}] with
 * printable-ASCII id and action; anything else (escapes, other numbers, CALLERROR, odd
 * whitespace) goes to the full parser, so a refusal and its reason are always the full
 * parser's. Only the payload is parsed, from its span. */

static size_t skip_ws(const char *t, size_t i, size_t len);

/* A string of printable ASCII without escapes at t[*i] ('"'), at most `max` characters, into
 * `out`; *i moves past it. false when it is anything else. */
static bool plain_string(const char *t, size_t len, size_t *i, char *out, size_t max)
{
	size_t s = *i + 1, e = s;

	if (*i >= len || t[*i] != '"')
		return false;
	while (e < len && t[e] != '"') {
		unsigned char c = (unsigned char)t[e];
		if (c < 0x20 || c > 0x7e || c == '\\' || e - s >= max)
			return false;
		e++;
	}
	if (e >= len || e == s)
		return false;
	memcpy(out, t + s, e - s);
	out[e - s] = '\0';
	*i = e + 1;
	return true;
}

/* A ',' between elements, with whitespace around it. */
static bool comma(const char *t, size_t len, size_t *i)
{
	*i = skip_ws(t, *i, len);
	if (*i >= len || t[*i] != ',')
		return false;
	*i = skip_ws(t, *i + 1, len);
	return true;
}

/* ---- payload nodes from free lists ----
 * A MeterValues payload is ~200 small jansson allocations; glibc's per-thread cache holds 7 per
 * size, so with 1,000 chargers most of them went through _int_malloc's slow path (a quarter of
 * the daemon's CPU after the envelope stopped being parsed). While a frame's payload is parsed,
 * jansson allocates here instead: fixed size classes from one reserved address range, each
 * with a free list, no locking (the loop thread only). Everything else jansson allocates (and
 * every json_dumps string, which callers free() themselves) stays plain malloc; jansson's free
 * tells the two apart by address. Freed nodes go back to their list, never to the system: the
 * range holds at most the peak of payloads alive at once (held calls: one per charger). Off
 * under AddressSanitizer, which must see every allocation. */
#if defined(__SANITIZE_ADDRESS__)
#define NODE_POOL 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define NODE_POOL 0
#endif
#endif
#ifndef NODE_POOL
#define NODE_POOL 1
#endif

#define POOL_RESERVE ((size_t)1 << 30) /* address space only: pages are taken as used */
#define POOL_GRAIN 16                  /* size classes of 16 bytes ... */
#define POOL_LARGEST 512               /* ... up to this; larger ones are malloc'd */

struct pool {
	char *base, *next, *end;
	void *free_list[POOL_LARGEST / POOL_GRAIN + 1];
	bool on;                        /* parsing a payload: allocate here */
};
static struct pool pool;

/* The header before each node: its size class (keeps 16-byte alignment). */
struct node_head {
	size_t cls;
	size_t pad;
};

static void *pool_malloc(size_t n)
{
	size_t cls = n ? (n + POOL_GRAIN - 1) / POOL_GRAIN : 1;
	struct node_head *h;
	void *p;

	if (!pool.on || cls > POOL_LARGEST / POOL_GRAIN)
		return malloc(n);
	if ((p = pool.free_list[cls])) {
		pool.free_list[cls] = *(void **)p;
		return p;
	}
	if ((size_t)(pool.end - pool.next) < sizeof(*h) + cls * POOL_GRAIN)
		return malloc(n);      /* the reserve used up: plain nodes from here on */
	h = (struct node_head *)pool.next;
	pool.next += sizeof(*h) + cls * POOL_GRAIN;
	h->cls = cls;
	return h + 1;
}

static void pool_free(void *p)
{
	if ((char *)p >= pool.base && (char *)p < pool.end) {
		size_t cls = ((struct node_head *)p - 1)->cls;
		*(void **)p = pool.free_list[cls];
		pool.free_list[cls] = p;
	} else {
		free(p);
	}
}

void ocpp_frame_pool_init(void)
{
	void *base;

	if (!NODE_POOL || pool.base)
		return;
	base = mmap(NULL, POOL_RESERVE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (base == MAP_FAILED)
		return; /* plain malloc: slower, not wrong */
	pool.base = pool.next = base;
	pool.end = pool.base + POOL_RESERVE;
	json_set_alloc_funcs(pool_malloc, pool_free);
}

static json_t *load_payload(const char *text, size_t len)
{
	json_t *j;

	pool.on = pool.base != NULL;
	j = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
	pool.on = false;
	return j;
}

/* 1 accepted (f filled), 0 not for the fast path. */
static int frame_fast(const char *text, size_t len, struct ocpp_frame *f)
{
	size_t i = skip_ws(text, 0, len), ps, pe;
	json_t *payload;

	if (i + 1 >= len || text[i] != '[')
		return 0;
	i = skip_ws(text, i + 1, len);
	if (i + 1 >= len || (text[i] != '2' && text[i] != '3'))
		return 0;
	f->type = text[i] == '2' ? OCPP_CALL : OCPP_RESULT;
	i++;
	if (!comma(text, len, &i) || !plain_string(text, len, &i, f->id, OCPP_ID_MAX) || !comma(text, len, &i))
		return 0;
	if (f->type == OCPP_CALL &&
	    (!plain_string(text, len, &i, f->action, OCPP_ACTION_MAX) || !comma(text, len, &i)))
		return 0;
	if (i >= len || text[i] != '{')
		return 0;
	ps = i;
	/* The envelope is depth 1 and its strings hold no brackets: the frame's depth is the
	 * payload's plus one, checked here instead of by a separate scan of the whole text. */
	int depth;
	pe = nesting(text, ps, len, OCPP_DEPTH_MAX - 1, true, &depth);
	i = skip_ws(text, pe, len);
	if (i >= len || text[i] != ']' || skip_ws(text, i + 1, len) != len)
		return 0;
	f->text = text;
	f->len = len;
	f->payload_text = text + ps;
	f->payload_len = pe - ps;
	/* MeterValues, most of the traffic, without a tree when the scanner vouches for the text.
	 * A negative 1.6 transactionId is the edge's own provisional id, which replay.c rewrites
	 * from the tree: that one (rare: only after an offline start) is parsed as before. */
	if (f->type == OCPP_CALL && strcmp(f->action, "MeterValues") == 0) {
		struct meter_reading *r = &f->meter;
		if (meter_scan(f->payload_text, f->payload_len, r) == 0 && !(r->tx_is_int && r->tx_int < 0)) {
			f->meter_scanned = true;
			return 1;
		}
	}
	payload = load_payload(text + ps, pe - ps);
	if (!json_is_object(payload)) {
		json_decref(payload);
		return 0;
	}
	f->root = f->payload = payload;
	return 1;
}

enum ocpp_reject ocpp_frame_parse(const char *text, size_t len, struct ocpp_frame *f)
{
	memset(f, 0, sizeof(*f));
	if (frame_fast(text, len, f))
		return REJECT_NONE;
	return ocpp_frame_parse_full(text, len, f);
}

json_t *ocpp_frame_payload(const struct ocpp_frame *f)
{
	if (f->meter_scanned)
		return json_loadb(f->payload_text, f->payload_len, JSON_REJECT_DUPLICATES, NULL);
	return json_incref(f->payload);
}

void ocpp_frame_fini(struct ocpp_frame *f)
{
	json_decref(f->root);
	f->root = NULL;
	f->payload = NULL;
}

const char *ocpp_reject_code(enum ocpp_reject why, enum ocpp_version version)
{
	bool v16 = version == OCPP16;

	switch (why) {
	case REJECT_NOT_JSON:
	case REJECT_NOT_RPC:
		return v16 ? "FormationViolation" : "RpcFrameworkError";
	case REJECT_BAD_TYPE:
		return v16 ? "NotSupported" : "MessageTypeNotSupported";
	case REJECT_FORMAT:
	case REJECT_TOO_DEEP:
		return v16 ? "FormationViolation" : "FormatViolation";
	default:
		return "GenericError";
	}
}

/* ---- byte-exact splicing: a scanner over text jansson has already accepted ---- */

static size_t skip_ws(const char *t, size_t i, size_t len)
{
	while (i < len && (t[i] == ' ' || t[i] == '\t' || t[i] == '\r' || t[i] == '\n'))
		i++;
	return i;
}

/* The index just past the JSON value starting at `i` (len when it runs off the end). */
static size_t value_end(const char *t, size_t i, size_t len)
{
	int depth = 0;
	bool in_string = false;

	if (i < len && t[i] != '"' && t[i] != '{' && t[i] != '[') {
		while (i < len && !strchr(",]} \t\r\n", t[i]))
			i++;
		return i;
	}
	for (; i < len; i++) {
		char c = t[i];
		if (in_string) {
			if (c == '\\')
				i++;
			else if (c == '"' && (in_string = false, depth == 0))
				return i + 1;
		} else if (c == '"') {
			in_string = true;
		} else if (c == '{' || c == '[') {
			depth++;
		} else if ((c == '}' || c == ']') && --depth == 0) {
			return i + 1;
		}
	}
	return len;
}

/* The value of member `key` of the object starting at `at` ('{'): 0 and its span [*vs, *ve),
 * or -ENOENT. Keys are compared as written (OCPP's are plain ASCII). */
static int member(const char *t, size_t len, size_t at, const char *key, size_t *vs, size_t *ve)
{
	size_t klen = strlen(key), i = at + 1;

	for (;;) {
		i = skip_ws(t, i, len);
		if (i >= len || t[i] != '"')
			return -ENOENT;
		size_t ks = i + 1, ke = value_end(t, i, len) - 1;
		i = skip_ws(t, ke + 1, len);
		if (i >= len || t[i] != ':')
			return -ENOENT;
		*vs = skip_ws(t, i + 1, len);
		*ve = value_end(t, *vs, len);
		if (ke - ks == klen && memcmp(t + ks, key, klen) == 0)
			return 0;
		i = skip_ws(t, *ve, len);
		if (i >= len || t[i] != ',')
			return -ENOENT;
		i++;
	}
}

/* The span of element `index` of the array starting at `at` ('['): 0, or -ENOENT. */
static int element(const char *t, size_t len, size_t at, int index, size_t *vs, size_t *ve)
{
	size_t i = at + 1;

	for (int k = 0;; k++) {
		*vs = skip_ws(t, i, len);
		if (*vs >= len || t[*vs] == ']')
			return -ENOENT;
		*ve = value_end(t, *vs, len);
		if (k == index)
			return 0;
		i = skip_ws(t, *ve, len);
		if (i >= len || t[i] != ',')
			return -ENOENT;
		i++;
	}
}

/* `t` with [start, end) replaced by `insert` (NUL-terminated, malloc'd). */
static char *splice(const char *t, size_t len, size_t start, size_t end, const char *insert)
{
	size_t n = strlen(insert);
	char *out = malloc(len - (end - start) + n + 1);

	if (!out)
		return NULL;
	memcpy(out, t, start);
	memcpy(out + start, insert, n);
	memcpy(out + start + n, t + end, len - end);
	out[len - (end - start) + n] = '\0';
	return out;
}

static char *splice_member(const char *text, size_t len, const char *obj_key, const char *key, const char *value)
{
	size_t root = skip_ws(text, 0, len), obj, obj_end, vs, ve;
	char add[OCPP_ACTION_MAX + 64];

	if (root >= len || text[root] != '[' || element(text, len, root, 3, &obj, &obj_end) < 0 || text[obj] != '{')
		return NULL;
	if (obj_key && (member(text, len, obj, obj_key, &obj, &obj_end) < 0 || text[obj] != '{'))
		return NULL;
	if (member(text, len, obj, key, &vs, &ve) == 0)
		return splice(text, len, vs, ve, value);
	size_t first = skip_ws(text, obj + 1, len);
	if (snprintf(add, sizeof(add), "\"%s\":%s%s", key, value, first < len && text[first] == '}' ? "" : ",") >=
	    (int)sizeof(add))
		return NULL;
	return splice(text, len, obj + 1, obj + 1, add);
}

enum ocpp_reject ocpp_frame_parse_tree(const char *text, size_t len, struct ocpp_frame *f)
{
	enum ocpp_reject why = ocpp_frame_parse(text, len, f);

	if (why == REJECT_NONE && f->meter_scanned) {
		f->root = f->payload = ocpp_frame_payload(f);
		f->meter_scanned = false;
	}
	return why;
}

/* The object the member goes into, in a parsed CALL. */
static json_t *target(const struct ocpp_frame *f, const char *obj_key)
{
	json_t *o = obj_key ? json_object_get(f->payload, obj_key) : f->payload;

	return f->type == OCPP_CALL && json_is_object(o) ? o : NULL;
}

char *ocpp_call_set(const char *text, size_t len, const char *obj_key, const char *key, const char *value)
{
	struct ocpp_frame in, out;
	json_t *want = json_loads(value, JSON_DECODE_ANY, NULL), *o;
	char *spliced = NULL, *result = NULL;

	if (!want)
		return NULL;
	if (ocpp_frame_parse_tree(text, len, &in) != REJECT_NONE || !(o = target(&in, obj_key)))
		goto done;
	/* The splice is checked against the parser (by comparing trees): a key written with escapes ("transaction\u0049d")
	 * is the same member to a JSON reader but not to the byte scanner. Such a frame is
	 * re-serialised instead: correct before exact. */
	spliced = splice_member(text, len, obj_key, key, value);
	if (spliced && ocpp_frame_parse_tree(spliced, strlen(spliced), &out) == REJECT_NONE) {
		json_t *t = target(&out, obj_key);
		bool ok = t && json_equal(json_object_get(t, key), want) && json_object_size(t) ==
			  json_object_size(o) + (json_object_get(o, key) ? 0 : 1);
		ocpp_frame_fini(&out);
		if (ok) {
			result = spliced;
			spliced = NULL;
			goto done;
		}
	} else if (spliced) {
		ocpp_frame_fini(&out);
	}
	json_object_set(o, key, want);
	result = ocpp_call_text(in.id, in.action, in.payload);
done:
	ocpp_frame_fini(&in);
	json_decref(want);
	free(spliced);
	return result;
}

/* Reals with 10 significant digits: 16.1 goes out as 16.1, not 16.100000000000001 (the 1.6
 * schemas check multipleOf 0.1 on limits). */
static char *dump_array(json_t *arr)
{
	char *s = arr ? json_dumps(arr, JSON_COMPACT | JSON_REAL_PRECISION(10)) : NULL;

	json_decref(arr);
	return s;
}

char *ocpp_call_text(const char *id, const char *action, const json_t *payload)
{
	return dump_array(json_pack("[i, s, s, O]", OCPP_CALL, id, action, payload));
}

char *ocpp_call_text_json(const char *id, const char *action, const char *payload_json)
{
	char *s;

	return asprintf(&s, "[%d,\"%s\",\"%s\",%s]", OCPP_CALL, id, action, payload_json) < 0 ? NULL : s;
}

char *ocpp_result_text(const char *id, const json_t *payload)
{
	return dump_array(json_pack("[i, s, O]", OCPP_RESULT, id, payload));
}

char *ocpp_error_text(const char *id, const char *code, const char *description)
{
	return dump_array(json_pack("[i, s, s, s, {}]", OCPP_ERROR, id, code, description));
}

void ocpp_timestamp(char *out, size_t size, long long offset_s)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ocpp_time_format(((int64_t)ts.tv_sec + offset_s) * 1000 + ts.tv_nsec / 1000000, out, size);
}

void ocpp_time_format(int64_t epoch_ms, char *buf, size_t size)
{
	time_t t = (time_t)(epoch_ms / 1000);
	struct tm tm;

	gmtime_r(&t, &tm);
	snprintf(buf, size, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
		 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(epoch_ms % 1000));
}

int ocpp_time_parse(const char *s, int64_t *epoch_ms)
{
	struct tm tm;
	int n = 0, frac_ms = 0, off_min = 0;
	const char *p;

	memset(&tm, 0, sizeof(tm));
	if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
		   &tm.tm_min, &tm.tm_sec, &n) != 6 || n < 19)
		return -EINVAL;
	if (tm.tm_mon < 1 || tm.tm_mon > 12 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 ||
	    tm.tm_min > 59 || tm.tm_sec > 60 || tm.tm_hour < 0 || tm.tm_min < 0 || tm.tm_sec < 0)
		return -EINVAL;
	p = s + n;
	if (*p == '.') {
		int digits = 0;
		for (p++; *p >= '0' && *p <= '9'; p++, digits++)
			if (digits < 3)
				frac_ms = frac_ms * 10 + (*p - '0');
		for (; digits < 3; digits++)
			frac_ms *= 10;
	}
	if (*p == '+' || *p == '-') {
		int hh, mm;
		if (sscanf(p + 1, "%2d:%2d", &hh, &mm) != 2)
			return -EINVAL;
		off_min = (hh * 60 + mm) * (*p == '-' ? -1 : 1);
	} else if (*p != 'Z' && *p != 'z' && *p != '\0') {
		return -EINVAL;
	}
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	*epoch_ms = ((int64_t)timegm(&tm) - off_min * 60) * 1000 + frac_ms;
	return 0;
}
