// The site manager's web page, REST API, live view and /metrics, on the real daemon with a
// simulated grid meter (`sim` driver) and strict ocpp-rpc chargers, driven by headless Chromium
// (playwright-core). Screenshots of the overview and chargers pages go to build/screenshots/.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import path from 'node:path';
import { launchChromium, logIn } from '../lib/browser.js';
import parsePrometheus from 'parse-prometheus-text-format';
import WebSocket from 'ws';
import { AMPGATECTL, Daemon, ROOT, freePort, runSync, tmpDir } from '../lib/daemon.js';
import { makeCerts } from '../lib/certs.js';
import { bootPayload, connectStation, effectiveLimit, TS, until, sleep } from '../lib/ocpp.js';

const PW = 'bus-password-00001';
const USERS = { manager: 'manager-pass-1', viewer: 'viewer-pass-1' };
const METRICS_TOKEN = 'metrics-token-0123456789';
const SHOTS = path.join(ROOT, 'build/screenshots');

let d, base, dir, stations = [], browser;

function hash(password) {
  const r = runSync(AMPGATECTL, ['passwd'], { input: `${password}\n` });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim();
}

// Two buses behind a 60 A connection whose building load comes from the simulated meter: with
// policy "priority" the one with the higher priority gets its 32 A, the other what is left.
async function startSite() {
  dir = tmpDir('ampgate-web-');
  const [ocppPort, webPort] = [await freePort(), await freePort()];
  fs.writeFileSync(path.join(dir, 'web.conf'), `
site = { name = "north-depot"; policy = "priority"; margin_a = 2.0; control_period_ms = 500;
  grid = { meter = "grid"; limit_a = [60.0, 60.0, 60.0]; }; };
devices = ( { id = "grid"; driver = "sim"; role = "grid-meter"; modbus = "tcp://127.0.0.1:9"; poll_ms = 300; } );
chargers = ( { id = "BUS01"; password = "${PW}"; priority = 5; },
             { id = "BUS02"; password = "${PW}"; priority = 1; } );
ocpp = { listen = "127.0.0.1:${ocppPort}"; };
web = { listen = "127.0.0.1:${webPort}"; assets = "${path.join(ROOT, 'web')}"; metrics_token = "${METRICS_TOKEN}";
  users = ( { name = "manager"; password_hash = "${hash(USERS.manager)}"; role = "manager"; },
            { name = "viewer"; password_hash = "${hash(USERS.viewer)}"; role = "viewer"; } ); };
storage = { path = "${dir}/ampgate.db"; };
`);
  d = new Daemon(path.join(dir, 'web.conf'));
  await d.start();
  base = `http://127.0.0.1:${webPort}`;
  for (const [i, id] of ['BUS01', 'BUS02'].entries()) {
    const cp = await connectStation({ url: `ws://127.0.0.1:${ocppPort}/ocpp`, id, protocol: 'ocpp1.6', password: PW });
    await cp.call('BootNotification', bootPayload('ocpp1.6'));
    await cp.call('StatusNotification', { connectorId: 1, errorCode: 'NoError', status: 'Charging' });
    const { transactionId } = await cp.call('StartTransaction', { connectorId: 1, idTag: `DRIVER${i + 1}`, meterStart: 1000, timestamp: TS() });
    const amps = String(2 + i);
    await cp.call('MeterValues', {
      connectorId: 1,
      transactionId,
      meterValue: [{ timestamp: TS(), sampledValue: [
        ...['L1', 'L2', 'L3'].map((phase) => ({ value: amps, measurand: 'Current.Import', phase, unit: 'A' })),
        { value: String(1000 + 4200 * (i + 1)), measurand: 'Energy.Active.Import.Register', unit: 'Wh' },
        { value: String(230 * 3 * (2 + i)), measurand: 'Power.Active.Import', unit: 'W' },
      ] }],
    });
    stations.push(cp);
  }
}

/** Log in over the API; returns { cookie, csrf }. */
async function login(name, password = USERS[name]) {
  const r = await fetch(`${base}/api/v1/login`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ name, password }) });
  const body = await r.json();
  assert.equal(r.status, 200, JSON.stringify(body));
  const cookie = r.headers.get('set-cookie');
  assert.match(cookie, /^ampgate_session=[0-9a-f]{32}; Path=\/; HttpOnly; SameSite=Strict; Max-Age=\d+$/);
  return { cookie: cookie.split(';')[0], csrf: body.csrf_token, role: body.role };
}

function post(p, body, { cookie, csrf, origin } = {}) {
  const headers = { 'Content-Type': 'application/json' };
  if (cookie) headers.Cookie = cookie;
  if (csrf) headers['X-CSRF-Token'] = csrf;
  if (origin) headers.Origin = origin;
  return fetch(`${base}${p}`, { method: 'POST', headers, body: JSON.stringify(body), redirect: 'manual' });
}

const get = (p, cookie) => fetch(`${base}${p}`, { headers: cookie ? { Cookie: cookie } : {}, redirect: 'manual' });

/** Open the live view; resolves { ws } on open or { status } when the upgrade is refused. */
function openLive({ cookie, origin } = {}) {
  return new Promise((resolve) => {
    const headers = {};
    if (cookie) headers.Cookie = cookie;
    const ws = new WebSocket(`${base.replace('http', 'ws')}/api/v1/live`, 'ampgate-live', { headers, origin });
    ws.on('open', () => resolve({ ws }));
    ws.on('unexpected-response', (req, res) => resolve({ status: res.statusCode }));
    ws.on('error', (e) => resolve({ error: e.message }));
  });
}

before(async () => {
  await startSite();
  browser = await launchChromium();
});

after(async () => {
  await browser?.close();
  for (const cp of stations) await cp.close({ force: true }).catch(() => {});
  await d?.stop();
});

test('without a session only the login page, its files and the login endpoint answer', async () => {
  for (const p of ['/api/v1/site', '/api/v1/chargers', '/api/v1/chargers/BUS01', '/api/v1/devices', '/api/v1/events',
    '/api/v1/history', '/api/v1/session', '/app.js', '/nothing-here.css']) {
    const r = await get(p);
    assert.equal(r.status, 401, p);
    assert.equal((await r.json()).error, 'log in first', p);
  }
  for (const p of ['/', '/index.html']) {
    const r = await get(p);
    assert.equal(r.status, 302, p);
    assert.equal(r.headers.get('location'), '/login.html');
  }
  for (const p of ['/login.html', '/login.js', '/style.css']) assert.equal((await get(p)).status, 200, p);
  const page = await get('/login.html');
  assert.match(page.headers.get('content-security-policy'), /default-src 'self'/);
  assert.equal(page.headers.get('x-frame-options'), 'DENY');
  for (const [p, body] of [['/api/v1/chargers/BUS01/priority', { priority: 9 }], ['/api/v1/site/limit', { limit_a: 10, duration_s: 60 }], ['/api/v1/logout', {}]]) {
    assert.equal((await post(p, body)).status, 401, p);
  }
  assert.equal((await openLive()).status, 401, 'live view without a session');
  // A made-up session id is no session.
  assert.equal((await get('/api/v1/site', `ampgate_session=${'0'.repeat(32)}`)).status, 401);
  assert.equal((await get('/../../etc/passwd')).status, 401);
});

test('REST: a viewer reads everything and changes nothing; a manager changes, audited', async () => {
  const viewer = await login('viewer');
  assert.equal(viewer.role, 'viewer');
  const site = await (await get('/api/v1/site', viewer.cookie)).json();
  assert.equal(site.name, 'north-depot');
  assert.deepEqual(site.grid.limit_a, [60, 60, 60]);
  assert.equal(site.mode, 'normal');
  const chargers = await (await get('/api/v1/chargers', viewer.cookie)).json();
  assert.deepEqual(chargers.map((c) => c.id), ['BUS01', 'BUS02']);
  const one = await (await get('/api/v1/chargers/BUS01', viewer.cookie)).json();
  assert.equal(one.link, 'online');
  assert.equal(one.transactions[0].id_token, 'DRIVER1');
  const missing = await get('/api/v1/chargers/NOPE', viewer.cookie);
  assert.equal(missing.status, 404);
  assert.equal((await missing.json()).error, 'there is no charger NOPE on this site');
  const devices = await (await get('/api/v1/devices', viewer.cookie)).json();
  assert.equal(devices[0].id, 'grid');
  assert.equal(devices[0].stale, false);

  let r = await post('/api/v1/chargers/BUS02/priority', { priority: 9 }, viewer);
  assert.equal(r.status, 403);
  assert.match((await r.json()).error, /viewer is a viewer: only a manager may change/);
  r = await post('/api/v1/site/limit', { limit_a: 20, duration_s: 60 }, viewer);
  assert.equal(r.status, 403);
  assert.equal((await (await get('/api/v1/chargers/BUS02', viewer.cookie)).json()).priority, 1);

  const manager = await login('manager');
  r = await post('/api/v1/site/limit', { limit_a: 'lots' }, manager);
  assert.equal(r.status, 400);
  assert.match((await r.json()).error, /limit_a \(amps per phase/);
  r = await post('/api/v1/chargers/BUS02/priority', { priority: 12 }, manager);
  assert.equal(r.status, 400);
  r = await post('/api/v1/site/limit', { limit_a: 50, duration_s: 120 }, manager);
  assert.equal(r.status, 200);
  assert.deepEqual((await r.json()).grid.override, { limit_a: 50, remaining_s: 120, by: 'web:manager' });
  r = await post('/api/v1/site/limit', { limit_a: 0 }, manager);
  assert.equal((await r.json()).grid.override, null);
  const events = await (await get('/api/v1/events?limit=5', manager.cookie)).json();
  assert.ok(events.length <= 5);
  assert.ok(events.some((e) => e.kind === 'site.override' && /grid limited to 50.0 A per phase for 120 s by web:manager/.test(e.message)));
  assert.ok(events.some((e) => e.kind === 'web.login' && e.subject === 'manager'));
  // Filtered in the database: a date range, the least severity, one subject.
  const all = await (await get('/api/v1/events?limit=1000', manager.cookie)).json();
  const override = all.find((e) => e.kind === 'site.override');
  const t = override.time_ms;
  const around = await (await get(`/api/v1/events?limit=1000&from_ms=${t}&to_ms=${t + 1}`, manager.cookie)).json();
  assert.ok(around.length >= 1 && around.every((e) => e.time_ms === t), JSON.stringify(around));
  assert.ok(around.some((e) => e.id === override.id));
  const older = await (await get(`/api/v1/events?limit=1000&to_ms=${t}`, manager.cookie)).json();
  assert.ok(older.length >= 1 && older.every((e) => e.time_ms < t));
  const rank = { info: 0, notice: 1, warning: 2, error: 3 };
  const notices = await (await get('/api/v1/events?limit=1000&severity=notice', manager.cookie)).json();
  assert.deepEqual(notices.map((e) => e.id), all.filter((e) => rank[e.severity] >= 1).map((e) => e.id));
  assert.ok(notices.length < all.length, 'routine info events are left out');
  const mine = await (await get('/api/v1/events?limit=1000&subject=manager', manager.cookie)).json();
  assert.ok(mine.length >= 1 && mine.every((e) => e.subject === 'manager'));
  r = await get('/api/v1/events?severity=loud', manager.cookie);
  assert.equal(r.status, 400);
  assert.match((await r.json()).error, /severity must be info, notice, warning or error/);
});

test('a forged cross-site change is refused: no CSRF token, a foreign Origin, a form on another site', async () => {
  const manager = await login('manager');
  let r = await post('/api/v1/chargers/BUS01/priority', { priority: 0 }, { cookie: manager.cookie });
  assert.equal(r.status, 403);
  assert.match((await r.json()).error, /without the page's security token/);
  r = await post('/api/v1/chargers/BUS01/priority', { priority: 0 }, { ...manager, origin: 'http://evil.example' });
  assert.equal(r.status, 403);
  assert.match((await r.json()).error, /from another site's page/);
  assert.equal((await openLive({ cookie: manager.cookie, origin: 'http://evil.example' })).status, 403);

  // A real browser, logged in, visits a page on another port of the same host (same site, so
  // even SameSite=Strict sends the cookie) that auto-submits a form to the edge.
  const webPort = new URL(base).port;
  const evil = http.createServer((req, res) => {
    res.setHeader('Content-Type', 'text/html');
    res.end(`<form id=f method=POST enctype="text/plain" action="http://127.0.0.1:${webPort}/api/v1/chargers/BUS01/priority">
      <input name='{"priority":0,"x":"' value='"}'></form><script>document.getElementById('f').submit()</script>`);
  });
  await new Promise((ok) => evil.listen(0, '127.0.0.1', ok));
  const ctx = await browser.newContext();
  try {
    const page = await ctx.newPage();
    await logIn(page, base, 'manager', USERS.manager);
    const answered = page.waitForResponse((res) => res.url().endsWith('/api/v1/chargers/BUS01/priority'));
    await page.goto(`http://127.0.0.1:${evil.address().port}/`);
    const res = await answered;
    assert.equal(res.status(), 403);
    assert.match(await res.text(), /another site's page/);
  } finally {
    await ctx.close();
    evil.close();
  }
  assert.equal((await (await get('/api/v1/chargers/BUS01', manager.cookie)).json()).priority, 5, 'priority unchanged');
});

test('live view: pushes after solves, at most about once a second, closes on logout', async () => {
  const manager = await login('manager');
  const { ws } = await openLive({ cookie: manager.cookie });
  assert.ok(ws, 'live view opened');
  const msgs = [];
  ws.on('message', (m) => msgs.push(JSON.parse(m)));
  await sleep(3500);
  // control period 500 ms: ~7 solves, but at most one push a second (+ the first at once)
  assert.ok(msgs.length >= 3 && msgs.length <= 5, `${msgs.length} pushes in 3.5 s`);
  assert.equal(msgs[0].type, 'state');
  assert.equal(msgs[0].site.name, 'north-depot');
  assert.equal(msgs[0].chargers.length, 2);
  assert.ok(msgs.at(-1).site.solves > msgs[0].site.solves);
  const closed = new Promise((ok) => ws.on('close', ok));
  assert.equal((await post('/api/v1/logout', {}, manager)).status, 200);
  await closed;
  assert.equal((await get('/api/v1/site', manager.cookie)).status, 401, 'logged out');
});

test('/metrics: Prometheus text, needs the bearer token; values match the API', async () => {
  assert.equal((await get('/metrics')).status, 401, 'even from loopback once a token is configured');
  const wrong = await fetch(`${base}/metrics`, { headers: { Authorization: 'Bearer wrong-token-000000000' } });
  assert.equal(wrong.status, 401);
  const r = await fetch(`${base}/metrics`, { headers: { Authorization: `Bearer ${METRICS_TOKEN}` } });
  assert.equal(r.status, 200);
  assert.match(r.headers.get('content-type'), /^text\/plain; version=0\.0\.4/);
  const textBody = await r.text();
  assert.match(textBody, /^# HELP ampgate_grid_current_amperes /m);
  assert.match(textBody, /^# TYPE ampgate_solves_total counter$/m);
  const families = Object.fromEntries(parsePrometheus(textBody).map((f) => [f.name, f]));
  const metric = (name, labels = {}) => {
    const f = families[name];
    assert.ok(f, `${name} present`);
    const m = f.metrics.find((x) => Object.entries(labels).every(([k, v]) => x.labels?.[k] === v));
    assert.ok(m, `${name} ${JSON.stringify(labels)}`);
    return Number(m.value);
  };
  assert.equal(families.ampgate_solves_total.type, 'COUNTER');
  assert.equal(families.ampgate_grid_limit_amperes.type, 'GAUGE');
  for (const phase of ['L1', 'L2', 'L3']) {
    assert.equal(metric('ampgate_grid_limit_amperes', { phase }), 60);
    const g = metric('ampgate_grid_current_amperes', { phase });
    assert.ok(g > 0 && g < 60, `grid ${phase} ${g} A from the simulated meter`);
  }
  assert.equal(metric('ampgate_grid_measured'), 1);
  assert.equal(metric('ampgate_fallback'), 0);
  assert.ok(metric('ampgate_solves_total') > 3);
  assert.equal(metric('ampgate_charger_online', { charger: 'BUS01' }), 1);
  assert.equal(metric('ampgate_charger_charging', { charger: 'BUS02' }), 1);
  assert.equal(metric('ampgate_charger_current_amperes', { charger: 'BUS02', phase: 'L3' }), 3);
  assert.equal(metric('ampgate_charger_power_watts', { charger: 'BUS01' }), 1380);
  assert.ok(metric('ampgate_ocpp_frames_total', { direction: 'in' }) >= 8);
  assert.equal(metric('ampgate_device_stale', { device: 'grid' }), 0);
  const viewer = await login('viewer');
  const api = await (await get('/api/v1/chargers/BUS01', viewer.cookie)).json();
  const m = metric('ampgate_charger_limit_amperes', { charger: 'BUS01' });
  assert.ok(Math.abs(m - api.limit.limit_a) < 1.01, `metrics ${m} A vs API ${api.limit.limit_a} A`);
  assert.equal((await get('/metrics', viewer.cookie)).status, 200, 'a logged-in user may read metrics');
});

test('the page: log in, see the chargers, change a priority and see the allocation move, the live chart moves', async () => {
  fs.mkdirSync(SHOTS, { recursive: true });
  const ctx = await browser.newContext({ viewport: { width: 1400, height: 950 } });
  const page = await ctx.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  try {
    await page.goto(`${base}/`);
    assert.equal(new URL(page.url()).pathname, '/login.html', 'sent to the login');
    await page.fill('#name', 'manager');
    await page.fill('#password', 'not-the-password');
    await page.click('#login-button');
    await page.waitForSelector('#login-error:not([hidden])');
    assert.equal(await page.textContent('#login-error'), 'wrong user name or password');
    await page.fill('#password', USERS.manager);
    await page.click('#login-button');
    await page.waitForURL(`${base}/`);
    errors.length = 0; // the wrong password's 401 above was meant
    await page.waitForFunction(() => document.querySelector('#site-name').textContent === 'north-depot');
    await page.waitForFunction(() => document.querySelector('#live-state').textContent === 'live');
    assert.equal(await page.textContent('#mode'), 'Normal');
    assert.equal(await page.textContent('#charger-counts'), '2 charging');
    assert.match(await page.textContent('#phases'), /L1.* of 60\.0 A/);

    // The chart moves: new samples arrive and the drawing changes.
    await page.waitForFunction(() => Number(document.querySelector('#chart').dataset.samples) >= 3);
    const before1 = await page.evaluate(() => ({ n: Number(document.querySelector('#chart').dataset.samples), last: Number(document.querySelector('#chart').dataset.last), png: document.querySelector('#chart').toDataURL() }));
    await page.waitForFunction((last) => Number(document.querySelector('#chart').dataset.last) >= last + 2000, before1.last, { timeout: 8000 });
    const after1 = await page.evaluate(() => ({ n: Number(document.querySelector('#chart').dataset.samples), png: document.querySelector('#chart').toDataURL() }));
    assert.ok(after1.n > before1.n, `chart samples ${before1.n} -> ${after1.n}`);
    assert.notEqual(after1.png, before1.png, 'the chart was redrawn with new data');
    await page.screenshot({ path: path.join(SHOTS, 'overview.png'), fullPage: true });

    // Chargers: BUS01 (priority 5) gets its 32 A, BUS02 (priority 1) what the grid leaves.
    await page.click('nav a[data-tab=chargers]');
    const limitOf = (id) => page.evaluate((i) => parseFloat(document.querySelector(`#chargers-table tr[data-id="${i}"] td.limit`).textContent), id);
    const whyOf = (id) => page.textContent(`#chargers-table tr[data-id="${id}"] td.why`);
    await page.waitForFunction(() => document.querySelectorAll('#chargers-table tbody tr td.link.online').length === 2);
    await until(async () => (await limitOf('BUS01')) > (await limitOf('BUS02')), { timeoutMs: 5000, what: 'BUS01 above BUS02' });
    assert.equal(await limitOf('BUS01'), 32);
    assert.match(await whyOf('BUS01'), /At this charger's maximum \(32\.0 A\)/);
    assert.match(await whyOf('BUS02'), /the grid connection/);
    assert.match(await page.textContent('#chargers-table tr[data-id="BUS02"] td.energy'), /^8\.4 kWh$/);
    const [bus1, bus2] = stations;
    await until(() => effectiveLimit(bus1.profiles, 'ocpp1.6') > effectiveLimit(bus2.profiles, 'ocpp1.6'), { timeoutMs: 5000, what: 'BUS01 profile above BUS02' });

    await page.selectOption('#chargers-table tr[data-id="BUS02"] select', '9');
    await until(async () => (await limitOf('BUS02')) > (await limitOf('BUS01')), { timeoutMs: 5000, what: 'BUS02 above BUS01 on the page' });
    assert.equal(await limitOf('BUS02'), 32);
    assert.match(await whyOf('BUS01'), /the grid connection/);
    // ... and the chargers themselves got the new allocation as charging profiles.
    await until(() => effectiveLimit(bus2.profiles, 'ocpp1.6') > effectiveLimit(bus1.profiles, 'ocpp1.6'), { timeoutMs: 5000, what: 'BUS02 profile above BUS01' });
    assert.match(d.log, /charger\.priority BUS02: priority set to 9 by web:manager/);
    await page.screenshot({ path: path.join(SHOTS, 'chargers.png'), fullPage: true });

    await page.click('nav a[data-tab=events]');
    await page.waitForFunction(() => [...document.querySelectorAll('#events-table td')].some((td) => td.textContent === 'priority set to 9 by web:manager'));
    await page.click('nav a[data-tab=devices]');
    await page.waitForFunction(() => /reading/.test(document.querySelector('#devices-table tbody').textContent));
    assert.deepEqual(errors, [], 'no script errors on the page');
  } finally {
    await ctx.close();
  }
  for (const f of ['overview.png', 'chargers.png']) assert.ok(fs.statSync(path.join(SHOTS, f)).size > 10000, f);
});

test('HTTPS when web.tls is set: the session cookie is Secure and the Origin must be https', async () => {
  const tdir = tmpDir('ampgate-webtls-');
  const f = makeCerts(tdir);
  const port = await freePort();
  fs.writeFileSync(path.join(tdir, 'tls.conf'), `site = { name = "tls-depot"; grid = { limit_a = [100.0, 100.0, 100.0]; }; };
ocpp = { listen = "127.0.0.1:${await freePort()}"; };
web = { listen = "127.0.0.1:${port}"; assets = "${path.join(ROOT, 'web')}"; tls = { cert = "${f('server.crt')}"; key = "${f('server.key')}"; };
  users = ( { name = "manager"; password_hash = "${hash(USERS.manager)}"; role = "manager"; } ); };
storage = { path = "${tdir}/ampgate.db"; };
`);
  const td = new Daemon(path.join(tdir, 'tls.conf'));
  await td.start();
  const ca = fs.readFileSync(f('ca.crt'));
  const req = (method, p, { body, headers = {} } = {}) => new Promise((resolve, reject) => {
    const r = https.request({ host: '127.0.0.1', port, path: p, method, ca, headers: { 'Content-Type': 'application/json', ...headers } }, (res) => {
      let data = '';
      res.on('data', (c) => { data += c; });
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, body: data ? JSON.parse(data) : null }));
    });
    r.on('error', reject);
    r.end(body ? JSON.stringify(body) : undefined);
  });
  try {
    const r = await req('POST', '/api/v1/login', { body: { name: 'manager', password: USERS.manager } });
    assert.equal(r.status, 200);
    const cookie = r.headers['set-cookie'][0];
    assert.match(cookie, /; HttpOnly; SameSite=Strict; Max-Age=\d+; Secure$/);
    const auth = { Cookie: cookie.split(';')[0], 'X-CSRF-Token': r.body.csrf_token };
    assert.equal((await req('GET', '/api/v1/site', { headers: auth })).body.name, 'tls-depot');
    const plain = await req('POST', '/api/v1/site/limit', { body: { limit_a: 50, duration_s: 60 }, headers: { ...auth, Origin: `http://127.0.0.1:${port}` } });
    assert.equal(plain.status, 403, 'an http:// origin is not this https page');
    const own = await req('POST', '/api/v1/site/limit', { body: { limit_a: 50, duration_s: 60 }, headers: { ...auth, Origin: `https://127.0.0.1:${port}` } });
    assert.equal(own.status, 200);
    await assert.rejects(fetch(`http://127.0.0.1:${port}/api/v1/site`), 'no plain HTTP on the TLS port');
  } finally {
    await td.stop();
  }
});

// Last: the lock covers this test's address too, so nothing may log in after it.
test('five wrong passwords lock the user and the address for a while, in the audit log', async () => {
  const manager = await login('manager');
  for (let i = 1; i <= 4; i++) {
    const r = await post('/api/v1/login', { name: 'viewer', password: `guess-${i}` });
    assert.equal(r.status, 401);
    assert.equal((await r.json()).error, 'wrong user name or password');
  }
  const fifth = await post('/api/v1/login', { name: 'viewer', password: 'guess-5' });
  assert.equal(fifth.status, 429);
  assert.match((await fifth.json()).error, /logins are refused for 5 minutes/);
  const right = await post('/api/v1/login', { name: 'viewer', password: USERS.viewer });
  assert.equal(right.status, 429, 'even the right password waits');
  assert.match((await right.json()).error, /too many wrong passwords: logins are refused for 5 more minutes/);
  const events = await (await get('/api/v1/events', manager.cookie)).json();
  const lock = events.find((e) => e.kind === 'web.lockout');
  assert.ok(lock, 'lockout audited');
  assert.equal(lock.severity, 'warning');
  assert.match(lock.message, /5 wrong passwords in a row for user "viewer" from 127\.0\.0\.1: logins for this user and from this address refused for 5 minutes/);
  assert.equal((await get('/api/v1/site', manager.cookie)).status, 200, 'sessions already open go on');
});
