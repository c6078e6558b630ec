/* What the proxy reads of the frames that pass: a charger session and its CSMS's traffic as a
 * script, fed through proxy_from_charger / proxy_from_csms, so the parsed frames reach the
 * charger model (boot data, connectors, transactions, meter values, the CSMS's limits), the
 * edge's local answers (local-answer.c), the edge's profile calls and their results (profiles.c).
 *
 * Input: a first line of flags (its first byte & 7: 1 = OCPP 2.0.1, 2 = the uplink is open so
 * frames are forwarded, otherwise the edge answers; 4 = an unknown station held as pending), then
 * one frame per line: '<' + frame from the CSMS, '>' + frame from the charger (any other
 * first character: the whole line from the charger). After every frame the edge's profile tick
 * runs, so its own calls ("ampgate-00000001", ...) go out and their answers can come back.
 *
 * The WebSockets are stand-ins: ws_link_send only queues (lws_partial_buffered says lws still
 * holds data, so nothing is written at once, and lws_callback_on_writable is stubbed below), the
 * store is an in-memory SQLite database. */
#include "tests/fuzz/fuzz.h"
#include "edge/ocpp/charger-model.h"
#include "edge/daemon.h"
#include "edge/site/profiles.h"
#include "edge/ocpp/proxy.h"

static struct ag_daemon daemon_ctx;
static struct proxy proxy_ctx;
static int fake_wsi;

FUZZ_LWS_QUEUE_ONLY

static const char config_text[] =
	"site = { name = \"fuzz\"; fallback_a = 6.0; grid = { limit_a = [100.0, 100.0, 100.0]; }; };\n"
	"chargers = ( { id = \"CP1\"; phases = 3; max_a = 32.0; password = \"password-cp1-0001\"; } );\n"
	"ocpp = { security_profile = 1; };\n";

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_quiet_log();
	daemon_ctx.cfg = fuzz_load_config(config_text, sizeof(config_text) - 1, stderr);
	daemon_ctx.store = store_open(":memory:");
	if (!daemon_ctx.cfg || !daemon_ctx.store)
		abort();
	proxy_ctx.d = &daemon_ctx;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *text = (const char *)data, *end = text + size;
	unsigned flags = size ? data[0] & 7 : 0;
	struct charger *ch = charger_new("CP1", flags & 4 ? NULL : &daemon_ctx.cfg->chargers[0]);

	if (!ch)
		abort();
	ws_link_init(&ch->down, 65536);
	ws_link_init(&ch->up, 65536);
	ch->proxy = &proxy_ctx;
	ch->version = flags & 1 ? OCPP201 : OCPP16;
	ch->up_state = flags & 2 ? UP_OPEN : UP_NONE;
	ch->down.wsi = (struct lws *)&fake_wsi;
	ch->up.wsi = flags & 2 ? (struct lws *)&fake_wsi : NULL;
	ch->limit_a = profiles_fallback_a(&proxy_ctx, ch);

	const char *line = memchr(text, '\n', size);
	while (line && line < end) {
		line++;
		const char *nl = memchr(line, '\n', (size_t)(end - line));
		const char *stop = nl ? nl : end;
		if (line == stop)
			; /* an empty line (the file's last newline) is no frame */
		else if (line[0] == '<')
			proxy_from_csms(&proxy_ctx, ch, line + 1, (size_t)(stop - line - 1));
		else if (line[0] == '>')
			proxy_from_charger(&proxy_ctx, ch, line + 1, (size_t)(stop - line - 1));
		else
			proxy_from_charger(&proxy_ctx, ch, line, (size_t)(stop - line));
		ch->limit_a = 16.0;
		profiles_tick(&proxy_ctx, ch, now_ms());
		line = nl;
	}
	charger_free(ch);
	sqlite3_exec(store_db(daemon_ctx.store), "DELETE FROM events; DELETE FROM transactions;", NULL, NULL, NULL);
	return 0;
}
