// Stations that are not in the configuration (issue #3): refused unless ocpp.allow_unknown, then
// held as pending (boot Pending, nothing else, nothing to the CSMS) until a site manager accepts
// or rejects them over REST; accepted ones boot through to the CSMS, get the edge's profiles and
// stay accepted across a restart; rejected ones are refused at reconnect. Real daemon, strict
// ocpp-rpc stations and CSMS.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { launchChromium, logIn } from '../lib/browser.js';
import WebSocket from 'ws';
import { AMPGATECTL, AMPGATED, Daemon, ROOT, freePort, runSync, sql, tmpDir } from '../lib/daemon.js';
import { bootPayload, connectStation, effectiveLimit, startCsms, until } from '../lib/ocpp.js';

const USERS = { manager: 'manager-pass-1', viewer: 'viewer-pass-1' };
const PW = 'bus-password-00001';
const SHOTS = path.join(ROOT, 'build/screenshots');
let csms, d, dir, conf, base, edgeUrl, ocppPort, webPort, hashes;
const open = [];

function hash(password) {
  const r = runSync(AMPGATECTL, ['passwd'], { input: `${password}\n` });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim();
}

function config({ allowUnknown, profile = 1, extraOcpp = '', chargers = `{ id = "BUS01"; password = "${PW}"; }` }) {
  return `site = { name = "pending-site"; fallback_a = 6.0; grid = { limit_a = [100.0, 100.0, 100.0]; }; };
chargers = ( ${chargers} );
ocpp = { listen = "127.0.0.1:${ocppPort}"; path = "/ocpp"; security_profile = ${profile}; call_timeout_s = 5;
  allow_unknown = ${allowUnknown}; unknown_max_a = 12.0; ${extraOcpp} };
upstream = { url = "${csms.url}"; security_profile = 1; credentials = "per-charger"; call_timeout_s = 5;
  reconnect_min_ms = 200; reconnect_max_ms = 1000; };
web = { listen = "127.0.0.1:${webPort}"; assets = "${path.join(ROOT, 'web')}";
  users = ( { name = "manager"; password_hash = "${hashes.manager}"; role = "manager"; },
            { name = "viewer"; password_hash = "${hashes.viewer}"; role = "viewer"; } ); };
storage = { path = "${dir}/ampgate.db"; };
`;
}

async function startDaemon(opts) {
  fs.writeFileSync(conf, config(opts));
  d = new Daemon(conf);
  await d.start();
}

async function login(name) {
  const r = await fetch(`${base}/api/v1/login`, { method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ name, password: USERS[name] }) });
  const body = await r.json();
  assert.equal(r.status, 200, JSON.stringify(body));
  return { cookie: r.headers.get('set-cookie').split(';')[0], csrf: body.csrf_token };
}

async function api(p, { cookie, csrf, method = 'GET' } = {}) {
  const headers = { Cookie: cookie };
  if (csrf) headers['X-CSRF-Token'] = csrf;
  const r = await fetch(`${base}${p}`, { method, headers });
  return { status: r.status, body: await r.json() };
}

/** The HTTP status of a bare upgrade (101 when let in). */
const attempt = (id, protocol = 'ocpp1.6') => new Promise((resolve) => {
  const ws = new WebSocket(`${edgeUrl}/${id}`, [protocol]);
  ws.on('open', () => { ws.close(); resolve(101); });
  ws.on('unexpected-response', (req, res) => resolve(res.statusCode));
  ws.on('error', () => resolve('error'));
});

/** A station with no password that boots again when asked (TriggerMessage BootNotification). */
async function station(id, protocol) {
  const boot = protocol === 'ocpp1.6'
    ? { ...bootPayload(protocol), chargePointSerialNumber: `SN-${id}` }
    : { ...bootPayload(protocol), chargingStation: { ...bootPayload(protocol).chargingStation, serialNumber: `SN-${id}` } };
  const cp = await connectStation({ url: edgeUrl, id, protocol, handlers: {
    TriggerMessage: (params) => {
      if (params.requestedMessage === 'BootNotification')
        setTimeout(() => cp.call('BootNotification', boot).then((r) => { cp.reboots.push(r); }, () => {}), 20);
      return { status: 'Accepted' };
    },
  } });
  cp.reboots = [];
  cp.boot = () => cp.call('BootNotification', boot);
  open.push(cp);
  return cp;
}

before(async () => {
  csms = await startCsms();
  dir = tmpDir('ampgate-pending-');
  conf = path.join(dir, 'ampgate.conf');
  [ocppPort, webPort] = [await freePort(), await freePort()];
  base = `http://127.0.0.1:${webPort}`;
  edgeUrl = `ws://127.0.0.1:${ocppPort}/ocpp`;
  hashes = { manager: hash(USERS.manager), viewer: hash(USERS.viewer) };
});

after(async () => {
  for (const cp of open) await cp.close({ force: true }).catch(() => {});
  await d?.stop();
  await csms?.close();
});

test('an unknown station is refused when ocpp.allow_unknown is false', async () => {
  await startDaemon({ allowUnknown: false });
  assert.equal(await attempt('STRANGER'), 401);
  await until(() => /charger STRANGER .* refused: unknown station id/.test(d.log), { what: 'the refusal in the log' });
  assert.deepEqual(csms.connects.filter((id) => id === 'STRANGER'), []);
  await d.stop();
});

test('allow_unknown with security profile 2 is refused by --check, in words', () => {
  const file = path.join(dir, 'profile2.conf');
  fs.writeFileSync(file, config({ allowUnknown: true, profile: 2,
    extraOcpp: `tls = { cert = "${dir}/none.pem"; key = "${dir}/none.key"; };` }));
  const r = runSync(AMPGATED, ['-c', file, '--check']);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /profile2\.conf:\d+: ocpp\.allow_unknown: not with security_profile 2: an unknown station has no password/);
});

test('with allow_unknown a station is pending: boot Pending, other calls refused, the CSMS sees nothing', async () => {
  await startDaemon({ allowUnknown: true });
  const { cookie } = await login('viewer');
  for (const [id, protocol] of [['NEW16', 'ocpp1.6'], ['NEW201', 'ocpp2.0.1'], ['ROGUE', 'ocpp1.6']]) {
    const cp = await station(id, protocol);
    const boot = await cp.boot();
    assert.equal(boot.status, 'Pending', id);
    await assert.rejects(cp.call('Heartbeat', {}), (e) => e.rpcErrorCode === 'SecurityError', id);
  }
  const { status, body } = await api('/api/v1/pending', { cookie });
  assert.equal(status, 200);
  const byId = Object.fromEntries(body.pending.map((s) => [s.id, s]));
  assert.deepEqual(Object.keys(byId).sort(), ['NEW16', 'NEW201', 'ROGUE']);
  assert.equal(byId.NEW16.vendor, 'Ampgate-Test');
  assert.equal(byId.NEW16.model, 'DC-150');
  assert.equal(byId.NEW16.serial, 'SN-NEW16');
  assert.equal(byId.NEW201.serial, 'SN-NEW201');
  assert.equal(byId.NEW201.protocol, 'ocpp2.0.1');
  assert.equal(byId.NEW16.address, '127.0.0.1');
  assert.ok(Math.abs(byId.NEW16.first_seen_ms - Date.now()) < 60000, 'first seen is now');
  assert.deepEqual(body.accepted, []);
  assert.deepEqual(csms.connects.filter((id) => id.startsWith('NEW') || id === 'ROGUE'), []);
  assert.equal(csms.received.filter((r) => r.id.startsWith('NEW')).length, 0);
  await until(() => /unknown station connected; held as pending/.test(d.log), { what: 'the pending event' });
});

test('a viewer cannot accept, nor a manager without the CSRF token', async () => {
  const viewer = await login('viewer');
  let r = await api('/api/v1/pending/NEW16/accept', { ...viewer, method: 'POST' });
  assert.equal(r.status, 403);
  assert.match(r.body.error, /viewer: only a manager may accept or reject a station/);
  const manager = await login('manager');
  r = await api('/api/v1/pending/NEW16/accept', { cookie: manager.cookie, method: 'POST' });
  assert.equal(r.status, 403);
  r = await api('/api/v1/pending/NOSUCH/accept', { ...manager, method: 'POST' });
  assert.equal(r.status, 404);
  r = await api('/api/v1/pending', { cookie: viewer.cookie });
  assert.equal(r.body.pending.length, 3, 'nothing was decided');
});

test('a manager accepts: it boots Accepted through to the CSMS and gets the edge\'s profiles', async () => {
  const manager = await login('manager');
  for (const [id, protocol] of [['NEW16', 'ocpp1.6']]) {
    const cp = open.find((c) => c.identity === id);
    const r = await api(`/api/v1/pending/${id}/accept`, { ...manager, method: 'POST' });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(r.body.pending, false);
    assert.equal(r.body.max_a, 12, 'ocpp.unknown_max_a');
    assert.equal(r.body.circuit, 'grid');
    await until(() => cp.reboots.length > 0, { what: `${id} boots again` });
    assert.equal(cp.reboots[0].status, 'Accepted', id);
    assert.equal(csms.calls('BootNotification', id).length, 1, `${id}: the CSMS saw the boot`);
    assert.ok(!csms.received.some((m) => m.id === id && m.method === 'TriggerMessage'));
    await until(() => cp.profiles.length > 0, { what: `${id} gets a profile` });
    await until(() => effectiveLimit(cp.profiles, protocol) <= 12, { what: `${id} limited to at most 12 A` });
    await cp.call('Heartbeat', {});
    assert.equal(csms.calls('Heartbeat', id).length, 1);
  }
  assert.equal(csms.failures.length, 0);
  const { body } = await api('/api/v1/pending', { cookie: manager.cookie });
  assert.deepEqual(body.pending.map((s) => s.id).sort(), ['NEW201', 'ROGUE']);
  assert.deepEqual(body.accepted.map((s) => s.id), ['NEW16']);
  const entry = body.accepted.find((s) => s.id === 'NEW16');
  assert.equal(entry.accepted_by, 'web:manager');
  assert.match(entry.config, /^\{ id = "NEW16"; circuit = "grid"; phases = 3; rotation = "L1L2L3"; min_a = 6\.0; max_a = 12\.0; priority = 1; password = "[A-Za-z0-9]{20}"; \},$/);
  // The database keeps only its hash (not in any of its files); the page goes on showing the
  // words for a while, and never to a viewer.
  const shownPw = /password = "([A-Za-z0-9]{20})"/.exec(entry.config)[1];
  const stored = sql(path.join(dir, 'ampgate.db'), "SELECT new_password FROM stations WHERE id = 'NEW16'");
  assert.match(stored, /^\$pbkdf2-sha256\$\d+\$/);
  for (const f of fs.readdirSync(dir).filter((n) => n.startsWith('ampgate.db'))) {
    assert.ok(!fs.readFileSync(path.join(dir, f)).includes(shownPw), `the words are not in ${f}`);
  }
  const again = (await api('/api/v1/pending', { cookie: manager.cookie })).body.accepted.find((s) => s.id === 'NEW16');
  assert.equal(again.config, entry.config, 'still shown to the manager');
  const viewerView = (await api('/api/v1/pending', await login('viewer'))).body.accepted.find((s) => s.id === 'NEW16');
  assert.doesNotMatch(viewerView.config, /password/, 'a viewer is not shown the password');
  // The lines the page prints are a valid entry: pasted into the file they pass --check.
  const file = path.join(dir, 'pasted.conf');
  fs.writeFileSync(file, config({ allowUnknown: false, chargers: `{ id = "BUS01"; password = "${PW}"; },\n  ${entry.config.replace(/,$/, '')}` }));
  const check = runSync(AMPGATED, ['-c', file, '--check']);
  assert.equal(check.status, 0, check.stderr);
  const events = await api('/api/v1/events?limit=50', { cookie: manager.cookie });
  assert.ok(events.body.some((e) => e.kind === 'charger.accepted' && e.subject === 'NEW16' &&
    /new station accepted by web:manager \(Ampgate-Test DC-150, serial SN-NEW16, from 127\.0\.0\.1\).*no password/.test(e.message)));
});

test('the chargers page: a manager sees the new stations, accepts one, and is shown the lines to paste', async () => {
  const browser = await launchChromium();
  try {
    const page = await browser.newPage({ viewport: { width: 1400, height: 950 } });
    const errors = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await logIn(page, base, 'manager', USERS.manager);
    await page.goto(`${base}/#chargers`);
    await page.waitForSelector('#pending-table tr[data-id="NEW201"] button.accept');
    assert.match(await page.textContent('#pending-table tr[data-id="NEW201"]'), /Ampgate-Test DC-150.*SN-NEW201.*127\.0\.0\.1/);
    assert.match(await page.textContent('#new-stations'), /connects without a password/);
    await page.click('#pending-table tr[data-id="NEW201"] button.accept');
    await page.waitForFunction(() => /id = "NEW201"/.test(document.querySelector('#accepted-config').textContent));
    assert.match(await page.textContent('#accepted-config'), /\{ id = "NEW16";.*# NEW16: accepted by web:manager/);
    fs.mkdirSync(SHOTS, { recursive: true });
    await page.screenshot({ path: path.join(SHOTS, 'new-stations.png'), fullPage: true });
    assert.deepEqual(errors, []);
  } finally {
    await browser.close();
  }
  const cp = open.find((c) => c.identity === 'NEW201');
  await until(() => cp.reboots.length > 0, { what: 'NEW201 boots again' });
  assert.equal(cp.reboots[0].status, 'Accepted');
  assert.equal(csms.calls('BootNotification', 'NEW201').length, 1);
  await until(() => cp.profiles.length > 0 && effectiveLimit(cp.profiles, 'ocpp2.0.1') <= 12, { what: 'NEW201 profile' });
});

test('a rejected station is closed and refused when it connects again', async () => {
  const manager = await login('manager');
  const cp = open.find((c) => c.identity === 'ROGUE');
  const closed = new Promise((resolve) => cp.once('close', resolve));
  const r = await api('/api/v1/pending/ROGUE/reject', { ...manager, method: 'POST' });
  assert.equal(r.status, 200, JSON.stringify(r.body));
  await closed;
  assert.equal(await attempt('ROGUE'), 403);
  await until(() => /charger ROGUE .* refused: a site manager \(web:manager\) rejected this station/.test(d.log), { what: 'refusal' });
  const { body } = await api('/api/v1/pending', { cookie: manager.cookie });
  assert.deepEqual(body.pending, []);
  assert.equal(csms.connects.filter((id) => id === 'ROGUE').length, 0);
});

test('decisions survive a restart, even with allow_unknown turned off', async () => {
  for (const cp of open.splice(0)) await cp.close({ force: true }).catch(() => {});
  await d.stop();
  await startDaemon({ allowUnknown: false });
  const cp = await station('NEW16', 'ocpp1.6');
  assert.equal((await cp.boot()).status, 'Accepted');
  assert.equal(csms.calls('BootNotification', 'NEW16').length, 2);
  await until(() => cp.profiles.length > 0, { what: 'profile after restart' });
  assert.equal(await attempt('ROGUE'), 403);
  assert.equal(await attempt('OTHER'), 401);
  const { body } = await api('/api/v1/pending', await login('viewer'));
  assert.deepEqual(body.accepted.map((s) => s.id).sort(), ['NEW16', 'NEW201']);
  assert.equal(body.accepted.find((s) => s.id === 'NEW16').serial, 'SN-NEW16');
  // After the restart the suggested password is gone from memory: the lines carry its hash, which
  // is a valid entry too (the station keeps the password the manager wrote down).
  const { body: mgr } = await api('/api/v1/pending', await login('manager'));
  const line = mgr.accepted.find((s) => s.id === 'NEW16').config;
  assert.match(line, /^\{ id = "NEW16";.* password_hash = "\$pbkdf2-sha256\$\d+\$[^"]+"; \},$/);
  const file = path.join(dir, 'pasted-hash.conf');
  fs.writeFileSync(file, config({ allowUnknown: false, chargers: `{ id = "BUS01"; password = "${PW}"; },\n  ${line.replace(/,$/, '')}` }));
  const check = runSync(AMPGATED, ['-c', file, '--check']);
  assert.equal(check.status, 0, check.stderr);
  await until(() => /2 station\(s\) accepted by a site manager have no entry in chargers: they connect without a password/.test(d.log),
    { what: 'the start-up warning' });
});
