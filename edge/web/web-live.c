/* The live view: a WebSocket at /api/v1/live (subprotocol "ampgate-live") that pushes the site
 * and its chargers after solves, at most once a second, and keeps the last hour of grid, EV and
 * allocated current for the overview's chart (/api/v1/history, web-history.c, which also keeps
 * these samples by the minute for the day and week).
 *
 * Design decision: a slow browser never holds up the loop or piles up memory. Each view keeps
 * only the latest state not yet sent; a newer one replaces it. The session is checked again on
 * every push, so a logout or an expiry closes the view. */
#include "edge/core/log.h"
#include "edge/site/site.h"
#include "edge/view/state.h"
#include "edge/web/web-private.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define PUSH_MS 1000

static void sample(struct web *w, int64_t t_ms)
{
	const struct site_status *st = site_status(w->d);
	struct web_sample *s;

	if (!st)
		return;
	if (w->hist_len && t_ms / 1000 == w->hist_last_s) {
		s = &w->history[(w->hist_head + w->hist_len - 1) % WEB_HISTORY]; /* same second: newest wins */
	} else {
		if (w->hist_len < WEB_HISTORY)
			w->hist_len++;
		else
			w->hist_head = (w->hist_head + 1) % WEB_HISTORY;
		s = &w->history[(w->hist_head + w->hist_len - 1) % WEB_HISTORY];
	}
	w->hist_last_s = t_ms / 1000;
	s->t_ms = t_ms;
	s->limit_a = 0;
	for (int p = 0; p < AG_PHASES; p++) {
		s->grid_a[p] = (float)st->grid_a[p];
		s->ev_a[p] = (float)st->ev_a[p];
		s->alloc_a[p] = (float)st->allocated_a[p];
		if (st->limit_a[p] > s->limit_a)
			s->limit_a = (float)st->limit_a[p];
	}
	web_history_sample(w, t_ms, st);
}

static bool session_alive(struct web_live *v)
{
	struct web_session *s = v->session;

	return s && s->used && strcmp(s->id, v->sid) == 0 && now_ms() - s->created_ms <= WEB_SESSION_MAX_S * 1000ull;
}

static void give(struct web_live *v, const char *text, size_t len)
{
	char *m = malloc(LWS_PRE + len);

	if (!m)
		return;
	memcpy(m + LWS_PRE, text, len);
	free(v->msg);
	v->msg = m;
	v->msg_len = len;
	lws_callback_on_writable(v->wsi);
}

static char *state_text(struct web *w, int64_t t_ms)
{
	json_t *j = json_pack("{s:s, s:I, s:o, s:o}", "type", "state", "time_ms", (json_int_t)t_ms, "site",
			      state_site(w->d), "chargers", state_chargers(w->d));
	char *text = j ? json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(10)) : NULL;

	json_decref(j);
	return text;
}

static void push(struct web *w)
{
	int64_t t = wall_ms();
	char *text;

	w->pushed_ms = now_ms();
	sample(w, t);
	if (!w->live || !(text = state_text(w, t)))
		return;
	w->pushes++;
	for (struct web_live *v = w->live; v; v = v->next) {
		if (!session_alive(v)) {
			free(v->msg);
			v->msg = NULL;
			v->session = NULL;
			lws_callback_on_writable(v->wsi); /* closes it */
			continue;
		}
		v->session->seen_ms = now_ms(); /* an open view keeps its session */
		give(v, text, strlen(text));
	}
	free(text);
}

static void on_push_timer(uv_timer_t *t)
{
	struct web *w = t->data;

	if (w->d)
		push(w);
}

/* After every solve: push now, or when the second is over. */
static void on_solve(void *arg, struct ag_daemon *d)
{
	struct web *w = arg;
	uint64_t now = now_ms(), since = now - w->pushed_ms;

	(void)d;
	if (since >= PUSH_MS)
		push(w);
	else if (!uv_is_active((uv_handle_t *)&w->push_timer))
		uv_timer_start(&w->push_timer, on_push_timer, PUSH_MS - since, 0);
}

int web_live_start(struct web *w)
{
	web_history_start(w); /* logged; without it the chart has the last hour only */
	uv_timer_init(&w->d->loop, &w->push_timer);
	w->push_timer.data = w;
	w->push_timer_open = true;
	return site_subscribe(w->d, on_solve, w);
}

void web_live_stop(struct web *w)
{
	site_unsubscribe(w->d, on_solve, w);
	web_history_stop(w);
	if (w->push_timer_open) {
		uv_timer_stop(&w->push_timer);
		uv_close((uv_handle_t *)&w->push_timer, NULL);
		w->push_timer_open = false;
	}
	for (struct web_live *v = w->live; v; v = v->next) {
		free(v->msg);
		v->msg = NULL;
	}
	w->live = NULL; /* the views close with the lws context */
}

static void unlink_view(struct web *w, struct web_live *v)
{
	for (struct web_live **pp = &w->live; *pp; pp = &(*pp)->next)
		if (*pp == v) {
			*pp = v->next;
			break;
		}
}

int web_live_cb(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
	struct web *w = web_state();
	struct web_live *v = user;

	(void)in;
	switch (reason) {
	case LWS_CALLBACK_ESTABLISHED: {
		if (!w->d || !(v->session = web_session_find(w, wsi)))
			return -1;
		v->wsi = wsi;
		snprintf(v->sid, sizeof(v->sid), "%s", v->session->id);
		v->next = w->live;
		w->live = v;
		char *text = state_text(w, wall_ms()); /* the page has data at once */
		if (text)
			give(v, text, strlen(text));
		free(text);
		return 0;
	}
	case LWS_CALLBACK_SERVER_WRITEABLE:
		if (!w->d || !v->session) {
			lws_close_reason(wsi, LWS_CLOSE_STATUS_POLICY_VIOLATION, (unsigned char *)"logged out", 10);
			return -1;
		}
		if (!v->msg)
			return 0;
		if (lws_write(wsi, (unsigned char *)v->msg + LWS_PRE, v->msg_len, LWS_WRITE_TEXT) < (int)v->msg_len)
			return -1;
		free(v->msg);
		v->msg = NULL;
		return 0;
	case LWS_CALLBACK_RECEIVE:
		return len > 1024 ? -1 : 0; /* the view only listens */
	case LWS_CALLBACK_CLOSED:
		if (w->d && v->wsi)
			unlink_view(w, v);
		free(v->msg);
		v->msg = NULL;
		return 0;
	default:
		return 0;
	}
}
