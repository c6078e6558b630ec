/* `ampgate-sim csms`: a loopback CSMS for tests and benchmarks. It accepts any station id under
 * its path, speaks ocpp1.6 and ocpp2.0.1, answers every CALL at once with the minimal
 * schema-valid CALLRESULT (edge/ocpp/ocpp-answer.h, the same table the edge answers with) and counts.
 *
 * The decision to know: it must never be the bottleneck of what it measures, so it keeps no
 * per-station history, only counters, and does the least work a frame allows: one parse, one
 * answer, one write; the connection buffers are the edge's own (edge/ocpp/ws-link.h). For timing across
 * processes it records wall-clock milliseconds: the first connection, and every moment the number
 * of stations booted on their current connection reaches --expect (a reconnect storm's end).
 * For a soak it can also keep the one history that counts, --tx-log: every transaction message
 * written to the file with write(2) before it is answered, so that a kill -9 of this CSMS loses
 * no line of what it acknowledged; and play a slow peer towards one station (--slow, --push). */
#include "tools/sim/sim.h"
#include "tools/sim/ocpp-msg.h"
#include "edge/daemon.h"
#include "edge/core/lws-loop.h"
#include "edge/core/log.h"
#include "edge/core/net-addr.h"
#include "edge/ocpp/ocpp-answer.h"
#include "edge/ocpp/ocpp-frame.h"
#include "edge/ocpp/ocpp-server.h"
#include "edge/ocpp/ws-link.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <jansson.h>
#include <libwebsockets.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>
#include <uv.h>

#define CSMS_RX_MAX (1024 * 1024)
#define REPORT_MS 250
#define FULL_MAX 64             /* moments "all --expect stations booted" kept */
#define PUSH_BYTES 10000        /* --push: one DataTransfer's data, ... */
#define PUSH_PER_TICK 2         /* ...this many every REPORT_MS */

struct csms_opts {
	struct host_port listen;
	const char *path;
	const char *report_json;
	const char *tx_log;
	const char *slow_id;            /* this station's connection stops reading now and then */
	int slow_every_s, slow_for_s;
	const char *push_id;            /* this station gets DataTransfer calls it may not read */
	int heartbeat_s;
	int expect;
	int duration_s;
	bool quiet;
};

struct csms {
	struct csms_opts o;
	uv_loop_t loop;
	uv_timer_t report;
	uv_signal_t sig_int, sig_term;
	bool handles_up;
	struct lws_context *ctx;
	struct lws_vhost *vh;
	uint64_t start_ms;
	int64_t first_connect_wall_ms;
	int64_t full_wall_ms[FULL_MAX];
	int n_full;
	int connected, booted;          /* now; booted = booted on the current connection */
	uint64_t connects, boots, calls, errors_sent, rejected, results;
	json_int_t next_tx_id;
	json_t *actions;                /* action -> calls received */
	int tx_fd;                      /* --tx-log, or -1 */
	uint64_t tx_logged, pushed, slow_pauses;
	struct conn *slow, *push;
	uint64_t slow_next_ms;
	bool slow_paused;
	unsigned push_seq;
};

/* One station's connection (lws per-session data, zeroed by lws). */
struct conn {
	struct ws_link link;
	enum ocpp_version version;
	bool booted;
	char id[49];
};

static void count_action(struct csms *c, const char *action)
{
	json_t *n = json_object_get(c->actions, action);

	if (n)
		json_integer_set(n, json_integer_value(n) + 1);
	else
		json_object_set_new(c->actions, action, json_integer(1));
}

static void send_text(struct csms *c, struct conn *cn, char *text, bool error)
{
	if (text && ws_link_send(&cn->link, text, strlen(text)) == 0 && error)
		c->errors_sent++;
	free(text);
}

static void booted(struct csms *c, struct conn *cn)
{
	c->boots++;
	if (cn->booted)
		return;
	cn->booted = true;
	if (++c->booted == c->o.expect) {
		if (c->n_full < FULL_MAX)
			c->full_wall_ms[c->n_full++] = wall_ms();
		log_msg(LL_NOTICE, "csms: all %d stations booted (%.2f s after start)", c->o.expect,
			(now_ms() - c->start_ms) / 1000.0);
	}
}

/* One line "<pid>\t<station>\t<key>" per transaction message, written before the answer; the
 * pid tells a CSMS that was killed (and what it got just before) from the one after it. */
static void log_tx(struct csms *c, const struct conn *cn, const struct ocpp_frame *f)
{
	char key[128], line[256];
	int n;

	if (c->tx_fd < 0 || !ocpp_tx_key(f->action, f->payload, key, sizeof(key)))
		return;
	n = snprintf(line, sizeof(line), "%ld\t%s\t%s\n", (long)getpid(), cn->id, key);
	if (n > 0 && write(c->tx_fd, line, (size_t)(n < (int)sizeof(line) ? n : (int)sizeof(line) - 1)) < 0)
		log_msg(LL_ERROR, "csms: cannot write %s: %s", c->o.tx_log, strerror(errno));
	else
		c->tx_logged++;
}

static void on_call(struct csms *c, struct conn *cn, const struct ocpp_frame *f)
{
	char now[40];
	const char *error = NULL;
	struct ocpp_answer_ctx a = { .now = now, .boot_status = "Accepted", .heartbeat_s = c->o.heartbeat_s };
	json_t *res;

	c->calls++;
	count_action(c, f->action);
	log_tx(c, cn, f);
	ocpp_timestamp(now, sizeof(now), 0);
	if (strcmp(f->action, "StartTransaction") == 0)
		a.tx_id = ++c->next_tx_id;
	res = ocpp_answer(cn->version, f->action, f->payload, &a, &error);
	if (!res) {
		send_text(c, cn, ocpp_error_text(f->id, error, "not answered by this test CSMS"), true);
		return;
	}
	if (strcmp(f->action, "BootNotification") == 0)
		booted(c, cn);
	send_text(c, cn, ocpp_result_text(f->id, res), false);
	json_decref(res);
}

static void on_message(struct csms *c, struct conn *cn, const char *text, size_t len)
{
	struct ocpp_frame f;
	enum ocpp_reject why = ocpp_frame_parse(text, len, &f);

	if (why != REJECT_NONE) {
		c->rejected++;
		log_msg(LL_DEBUG, "csms: %s: frame refused (%s): %.*s", cn->id, ocpp_reject_code(why, cn->version),
			(int)(len > 80 ? 80 : len), text);
		if (f.type != OCPP_RESULT && f.type != OCPP_ERROR)
			send_text(c, cn, ocpp_error_text(f.id, ocpp_reject_code(why, cn->version), "malformed frame"),
				  true);
	} else if (f.type == OCPP_CALL) {
		on_call(c, cn, &f);
	} else {
		c->results++;   /* this CSMS makes no calls: nothing to match */
	}
	ocpp_frame_fini(&f);
}

static int cb_http(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
	if (reason == LWS_CALLBACK_HTTP_CONFIRM_UPGRADE) {
		struct csms *c = lws_vhost_user(lws_get_vhost(wsi));
		char uri[256] = "", protos[128] = "";
		/* lws itself drops a client offering only unknown subprotocols; one offering none
		 * would be bound to this HTTP protocol, so it is dropped here. */
		lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_GET_URI);
		if (lws_hdr_copy(wsi, protos, sizeof(protos), WSI_TOKEN_PROTOCOL) <= 0 ||
		    !ocpp_station_id(uri, c->o.path)) {
			log_msg(LL_INFO, "csms: refused %s (subprotocol \"%s\")", uri, protos);
			return -1;
		}
		return 0;
	}
	return lws_callback_http_dummy(wsi, reason, user, in, len);
}

static void established(struct csms *c, struct lws *wsi, struct conn *cn)
{
	char uri[256] = "";
	const char *id;

	lws_hdr_copy(wsi, uri, sizeof(uri), WSI_TOKEN_GET_URI);
	id = ocpp_station_id(uri, c->o.path);
	snprintf(cn->id, sizeof(cn->id), "%s", id ? id : "?");
	cn->version = lws_get_protocol(wsi)->id == 16 ? OCPP16 : OCPP201;
	ws_link_init(&cn->link, CSMS_RX_MAX);
	cn->link.wsi = wsi;
	if (!c->connects++)
		c->first_connect_wall_ms = wall_ms();
	c->connected++;
	if (c->o.slow_id && !strcmp(cn->id, c->o.slow_id)) {
		c->slow = cn;
		c->slow_paused = false;
		c->slow_next_ms = now_ms() + 1000ULL * (uint64_t)c->o.slow_every_s;
	}
	if (c->o.push_id && !strcmp(cn->id, c->o.push_id))
		c->push = cn;
	log_msg(LL_DEBUG, "csms: %s connected (%s)", cn->id, lws_get_protocol(wsi)->name);
}

static int cb_ocpp(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in, size_t len)
{
	struct csms *c = lws_vhost_user(lws_get_vhost(wsi));
	struct conn *cn = user;
	int r;

	switch (reason) {
	case LWS_CALLBACK_ESTABLISHED:
		established(c, wsi, cn);
		return 0;
	case LWS_CALLBACK_RECEIVE:
		if (!cn->link.wsi)
			return -1;
		r = ws_link_rx(&cn->link, wsi, in, len);
		if (r < 0) {
			lws_close_reason(wsi, LWS_CLOSE_STATUS_MESSAGE_TOO_LARGE, (unsigned char *)"frame too large", 15);
			return -1;
		}
		if (r == 1) {
			on_message(c, cn, cn->link.rx, cn->link.rx_len);
			ws_link_rx_done(&cn->link);
		}
		return 0;
	case LWS_CALLBACK_SERVER_WRITEABLE:
		return cn->link.wsi ? ws_link_writeable(&cn->link) : -1;
	case LWS_CALLBACK_CLOSED:
		/* Also runs for a connection refused before ESTABLISHED (link.wsi still NULL). */
		if (cn->link.wsi) {
			if (c->slow == cn)
				c->slow = NULL;
			if (c->push == cn)
				c->push = NULL;
			c->connected--;
			if (cn->booted)
				c->booted--;
			ws_link_reset(&cn->link);
		}
		return 0;
	default:
		return 0;
	}
}

static const struct lws_protocols protocols[] = {
	{ "http", cb_http, 0, 0, 0, NULL, 0 },
	{ "ocpp1.6", cb_ocpp, sizeof(struct conn), 4096, 16, NULL, 0 },
	{ "ocpp2.0.1", cb_ocpp, sizeof(struct conn), 4096, 201, NULL, 0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 },
};

static json_t *report(const struct csms *c)
{
	struct rusage ru;
	json_t *full = json_array(), *r;

	for (int i = 0; i < c->n_full; i++)
		json_array_append_new(full, json_integer(c->full_wall_ms[i]));
	getrusage(RUSAGE_SELF, &ru);
	r = json_pack("{sfsisisIsIsIsIsIsIsOsIso}", "uptime_s", (now_ms() - c->start_ms) / 1000.0, "connected",
		      c->connected, "booted", c->booted, "connects", (json_int_t)c->connects, "boots",
		      (json_int_t)c->boots, "calls", (json_int_t)c->calls, "errors_sent", (json_int_t)c->errors_sent,
		      "rejected", (json_int_t)c->rejected, "results", (json_int_t)c->results, "actions", c->actions,
		      "first_connect_wall_ms", (json_int_t)c->first_connect_wall_ms, "all_booted_wall_ms", full);
	json_object_set_new(r, "cpu_s", json_real((double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
						  (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6));
	json_object_set_new(r, "max_rss_kb", json_integer(ru.ru_maxrss));
	json_object_set_new(r, "tx_logged", json_integer((json_int_t)c->tx_logged));
	json_object_set_new(r, "pushed", json_integer((json_int_t)c->pushed));
	json_object_set_new(r, "slow_pauses", json_integer((json_int_t)c->slow_pauses));
	return r;
}

static void write_report(const struct csms *c)
{
	json_t *r;

	if (!c->o.report_json)
		return;
	r = report(c);
	if (sim_json_write_atomic(c->o.report_json, r, JSON_INDENT(1) | JSON_REAL_PRECISION(6)) < 0)
		log_msg(LL_WARN, "csms: cannot write %s: %s", c->o.report_json, strerror(errno));
	json_decref(r);
}

static void csms_stop(struct csms *c)
{
	uv_timer_stop(&c->report);
	uv_stop(&c->loop);
}

/* --slow: the station's connection stops being read for slow_for_s every slow_every_s (what a
 * CSMS stuck in a database call does); its frames wait in the socket, then in the edge. */
static void slow_step(struct csms *c, uint64_t now)
{
	if (!c->slow || now < c->slow_next_ms)
		return;
	c->slow_paused = !c->slow_paused;
	lws_rx_flow_control(c->slow->link.wsi, c->slow_paused ? 0 : 1);
	if (c->slow_paused)
		c->slow_pauses++;
	log_msg(LL_INFO, "csms: %s: %s reading", c->slow->id, c->slow_paused ? "stopped" : "resumed");
	c->slow_next_ms = now + 1000ULL * (uint64_t)(c->slow_paused ? c->o.slow_for_s : c->o.slow_every_s);
}

/* --push: DataTransfer calls of PUSH_BYTES to one station, whether it reads them or not. */
static void push_step(struct csms *c)
{
	static char data[PUSH_BYTES + 1];
	char id[24];

	if (!c->push)
		return;
	if (!data[0])
		memset(data, 'x', PUSH_BYTES);
	for (int i = 0; i < PUSH_PER_TICK; i++) {
		json_t *p = json_pack("{ssss}", "vendorId", "ampgate.soak", "data", data);
		char *text;
		snprintf(id, sizeof(id), "push-%u", c->push_seq++);
		text = ocpp_call_text(id, "DataTransfer", p);
		json_decref(p);
		if (text && ws_link_send(&c->push->link, text, strlen(text)) == 0)
			c->pushed++;
		free(text);
		if (!c->push)
			break;
	}
}

static void on_report(uv_timer_t *t)
{
	struct csms *c = t->data;

	slow_step(c, now_ms());
	push_step(c);
	write_report(c);
	if (c->o.duration_s && now_ms() - c->start_ms >= 1000ULL * (uint64_t)c->o.duration_s)
		csms_stop(c);
}

static void on_signal(uv_signal_t *h, int signum)
{
	(void)signum;
	csms_stop(h->data);
}

static int csms_setup(struct csms *c)
{
	struct lws_context_creation_info info;

	if (!(c->ctx = lws_loop_context(&c->loop, NULL)))
		return -ENOMEM;
	memset(&info, 0, sizeof(info));
	info.vhost_name = "csms";
	info.iface = c->o.listen.host[0] ? c->o.listen.host : NULL;
	info.port = c->o.listen.port;
	info.protocols = protocols;
	info.user = c;
	if (!(c->vh = lws_create_vhost(c->ctx, &info)))
		return -EADDRINUSE;
	c->start_ms = now_ms();
	uv_timer_init(&c->loop, &c->report);
	uv_signal_init(&c->loop, &c->sig_int);
	uv_signal_init(&c->loop, &c->sig_term);
	c->report.data = c->sig_int.data = c->sig_term.data = c;
	c->handles_up = true;
	uv_timer_start(&c->report, on_report, REPORT_MS, REPORT_MS);
	uv_signal_start(&c->sig_int, on_signal, SIGINT);
	uv_signal_start(&c->sig_term, on_signal, SIGTERM);
	signal(SIGPIPE, SIG_IGN);
	return 0;
}

static void csms_teardown(struct csms *c)
{
	uv_handle_t *const handles[] = { (uv_handle_t *)&c->report, (uv_handle_t *)&c->sig_int,
					 (uv_handle_t *)&c->sig_term };

	lws_loop_teardown(c->ctx, &c->loop, handles, c->handles_up ? sizeof(handles) / sizeof(handles[0]) : 0);
	uv_loop_close(&c->loop);
	json_decref(c->actions);
	if (c->tx_fd >= 0)
		close(c->tx_fd);
}

static void usage(FILE *out)
{
	fprintf(out,
		"Usage: ampgate-sim csms --listen HOST:PORT [options]\n"
		"  A loopback CSMS for tests and benchmarks: any station id under PATH, ocpp1.6 and ocpp2.0.1,\n"
		"  every CALL answered at once with the minimal valid CALLRESULT; counts what it answers.\n"
		"  --listen HOST:PORT        address to listen on; port 0 picks a free one and prints\n"
		"                            \"listening on HOST:PORT\"\n"
		"  --path PATH               URL path before the station id (default /ocpp)\n"
		"  --heartbeat-s S           interval in BootNotification answers (default 300)\n"
		"  --expect N                note the time whenever N stations are booted on their current\n"
		"                            connection (all_booted_wall_ms in the report)\n"
		"  --duration-s S            stop after S seconds (default: at SIGINT/SIGTERM)\n"
		"  --report-json FILE        counts, CPU and RSS; rewritten every %d ms and at the end\n"
		"  --tx-log FILE             append \"<pid>\\t<station>\\t<key>\" for every transaction message\n"
		"                            (Start/StopTransaction, TransactionEvent), written before answering\n"
		"  --slow ID                 station ID's connection stops being read for --slow-for-s (20)\n"
		"                            every --slow-every-s (60) seconds\n"
		"  --push ID                 send station ID %d-byte DataTransfer calls, %d every %d ms\n"
		"  -q, --quiet               warnings only\n"
		"  -v, --verbose             debug log\n",
		REPORT_MS, PUSH_BYTES, PUSH_PER_TICK, REPORT_MS);
}

static int parse_args(int argc, char **argv, struct csms_opts *o)
{
	static const struct option opts[] = {
		{ "listen", required_argument, NULL, 'l' },  { "path", required_argument, NULL, 'p' },
		{ "heartbeat-s", required_argument, NULL, 'b' }, { "expect", required_argument, NULL, 'e' },
		{ "duration-s", required_argument, NULL, 'D' },  { "report-json", required_argument, NULL, 'j' },
		{ "tx-log", required_argument, NULL, 't' },      { "slow", required_argument, NULL, 's' },
		{ "slow-every-s", required_argument, NULL, 'E' }, { "slow-for-s", required_argument, NULL, 'F' },
		{ "push", required_argument, NULL, 'P' },
		{ "quiet", no_argument, NULL, 'q' },             { "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },              { NULL, 0, NULL, 0 },
	};
	enum log_level level = LL_INFO;
	bool have_listen = false;
	char *end;
	long v;
	int ch;

	memset(o, 0, sizeof(*o));
	o->path = "/ocpp";
	o->heartbeat_s = 300;
	o->slow_every_s = 60;
	o->slow_for_s = 20;
	optind = 1;
	while ((ch = getopt_long(argc, argv, "qvh", opts, NULL)) != -1) {
		switch (ch) {
		case 'l': {
			/* host_port_parse refuses port 0, which here means "pick a free one". */
			size_t n = strlen(optarg);
			if (n > 2 && strcmp(optarg + n - 2, ":0") == 0) {
				snprintf(o->listen.host, sizeof(o->listen.host), "%.*s", (int)(n - 2), optarg);
				o->listen.port = 0;
			} else if (host_port_parse(optarg, &o->listen) < 0) {
				fprintf(stderr, "csms: --listen %s: not HOST:PORT\n", optarg);
				return 2;
			}
			have_listen = true;
			break;
		}
		case 'p': o->path = optarg; break;
		case 'j': o->report_json = optarg; break;
		case 't': o->tx_log = optarg; break;
		case 's': o->slow_id = optarg; break;
		case 'P': o->push_id = optarg; break;
		case 'q': level = LL_WARN; o->quiet = true; break;
		case 'v': level = LL_DEBUG; break;
		case 'h': usage(stdout); return 1;
		case 'b': case 'e': case 'D': case 'E': case 'F':
			v = strtol(optarg, &end, 10);
			if (end == optarg || *end || v < (ch == 'b' || ch == 'E' || ch == 'F') || v > 1000000) {
				fprintf(stderr, "csms: --%s %s: expected a whole number%s\n",
					ch == 'b' ? "heartbeat-s" : ch == 'e' ? "expect" : ch == 'D' ? "duration-s" :
					ch == 'E' ? "slow-every-s" : "slow-for-s", optarg,
					ch == 'b' || ch == 'E' || ch == 'F' ? " from 1" : "");
				return 2;
			}
			*(ch == 'b' ? &o->heartbeat_s : ch == 'e' ? &o->expect : ch == 'D' ? &o->duration_s :
			  ch == 'E' ? &o->slow_every_s : &o->slow_for_s) = (int)v;
			break;
		default: usage(stderr); return 2;
		}
	}
	if (optind < argc || !have_listen || o->path[0] != '/') {
		fprintf(stderr, optind < argc ? "csms: unexpected argument %s\n" : "csms: %s\n",
			optind < argc ? argv[optind] : !have_listen ? "--listen HOST:PORT is required" : "--path must start with /");
		usage(stderr);
		return 2;
	}
	log_init(level);
	return 0;
}

int sim_csms_main(int argc, char **argv)
{
	struct csms *c = calloc(1, sizeof(*c));
	int rc;

	if (!c || uv_loop_init(&c->loop) < 0)
		return 1;
	if ((rc = parse_args(argc, argv, &c->o)) != 0) {
		uv_loop_close(&c->loop);
		free(c);
		return rc == 1 ? 0 : rc;
	}
	c->actions = json_object();
	c->tx_fd = -1;
	if (c->o.tx_log && (c->tx_fd = open(c->o.tx_log, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644)) < 0) {
		log_msg(LL_ERROR, "csms: cannot write %s: %s", c->o.tx_log, strerror(errno));
		json_decref(c->actions);
		uv_loop_close(&c->loop);
		free(c);
		return 1;
	}
	log_hook_lws();
	if ((rc = csms_setup(c)) < 0) {
		log_msg(LL_ERROR, "csms: cannot listen on %s:%d: %s", c->o.listen.host, c->o.listen.port,
			rc == -EADDRINUSE ? "address in use or not local" : strerror(-rc));
		csms_teardown(c);
		free(c);
		return 1;
	}
	printf("listening on %s:%d\n", c->o.listen.host[0] ? c->o.listen.host : "0.0.0.0",
	       lws_get_vhost_listen_port(c->vh));
	fflush(stdout);
	log_msg(LL_NOTICE, "csms: stations connect to ws://%s:%d%s/<station id> (ocpp1.6, ocpp2.0.1)",
		c->o.listen.host[0] ? c->o.listen.host : "0.0.0.0", lws_get_vhost_listen_port(c->vh), c->o.path);
	uv_run(&c->loop, UV_RUN_DEFAULT);
	write_report(c);
	log_msg(LL_NOTICE, "csms: %llu connections, %llu boots, %llu calls answered, %llu CALLERRORs, %llu refused frames",
		(unsigned long long)c->connects, (unsigned long long)c->boots, (unsigned long long)c->calls,
		(unsigned long long)c->errors_sent, (unsigned long long)c->rejected);
	csms_teardown(c);
	free(c);
	return 0;
}
