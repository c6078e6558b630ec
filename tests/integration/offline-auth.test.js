// Offline authorization (issue 18 item 11) in the real daemon, between strict ocpp-rpc chargers
// (1.6 and 2.0.1) and a strict ocpp-rpc CSMS. Online, the CSMS accepts TOKEN-A, blocks TOKEN-X
// and sends each charger a local list (Full: TOKEN-B and TOKEN-E; then Differential: TOKEN-E
// removed). Then the CSMS goes away: under auth.offline = known only A and B are accepted, C (never
// seen) and E (removed) get 1.6 Invalid / 2.0.1 Unknown, X stays Blocked; every decision is in the
// audit log. A restart keeps list and cache; under "all" C is accepted too (X still Blocked), and
// when the CSMS is back the edge flags C, naming charger and token. A site manager's EV needs
// survive a restart.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { AMPGATECTL, AMPGATED, Daemon, ROOT, freePort, runSync, sql, tmpDir } from '../lib/daemon.js';
import { bootPayload, connectStation, startCsms, TS, until } from '../lib/ocpp.js';

const PW = 'offline-auth-pass-01';
const STATIONS = { CP16: 'ocpp1.6', CP201: 'ocpp2.0.1' };
const PASSWORDS = Object.fromEntries(Object.keys(STATIONS).map((id) => [id, PW]));
const v16 = (id) => STATIONS[id] === 'ocpp1.6';
const refusal = (id) => (v16(id) ? 'Invalid' : 'Unknown');

function writeConfig(dir, [ocppPort, webPort], csmsUrl, offline) {
  const file = path.join(dir, 'a.conf');
  fs.writeFileSync(file, `site = { name = "offline-auth"; grid = { limit_a = [100.0, 100.0, 100.0]; }; };
chargers = ( ${Object.keys(STATIONS).map((id) => `{ id = "${id}"; password = "${PW}"; }`).join(', ')} );
ocpp = { listen = "127.0.0.1:${ocppPort}"; security_profile = 1; call_timeout_s = 5; };
upstream = { url = "${csmsUrl}"; security_profile = 1; credentials = "per-charger"; call_timeout_s = 5;
  reconnect_min_ms = 200; reconnect_max_ms = 500; };
web = { listen = "127.0.0.1:${webPort}"; };
storage = { path = "${dir}/a.db"; };
${offline ? `auth = { offline = "${offline}"; cache_days = 30; };` : ''}
`);
  return file;
}

const HANDLERS = {
  SendLocalList: () => ({ status: 'Accepted' }),
};

async function connectAll(url) {
  const cps = {};
  for (const [id, protocol] of Object.entries(STATIONS)) {
    cps[id] = await connectStation({ url, id, protocol, password: PW, handlers: HANDLERS });
    const boot = await cps[id].call('BootNotification', bootPayload(protocol));
    assert.equal(boot.status, 'Accepted');
  }
  return cps;
}

/** The status the charger is given for `token` by Authorize. */
async function authorize(cp, id, token) {
  const r = await cp.call('Authorize', v16(id) ? { idTag: token } : { idToken: { idToken: token, type: 'ISO14443' } });
  return v16(id) ? r.idTagInfo.status : r.idTokenInfo.status;
}

/** The status the charger is given for `token` when it starts a transaction with it. */
async function start(cp, id, token, n) {
  if (v16(id)) {
    const r = await cp.call('StartTransaction', { connectorId: 1, idTag: token, meterStart: 1000 * n, timestamp: TS() });
    return r.idTagInfo.status;
  }
  const r = await cp.call('TransactionEvent', { eventType: 'Started', timestamp: TS(), triggerReason: 'Authorized', seqNo: 0,
    transactionInfo: { transactionId: `tx-offline-${n}`, chargingState: 'Charging' }, evse: { id: 1, connectorId: 1 },
    idToken: { idToken: token, type: 'ISO14443' } });
  return r.idTokenInfo.status;
}

function localList(id, version, type, entries) {
  return v16(id)
    ? { listVersion: version, updateType: type,
      localAuthorizationList: entries.map(([t, s]) => (s ? { idTag: t, idTagInfo: { status: s } } : { idTag: t })) }
    : { versionNumber: version, updateType: type,
      localAuthorizationList: entries.map(([t, s]) => (s ? { idToken: { idToken: t, type: 'ISO14443' }, idTokenInfo: { status: s } }
        : { idToken: { idToken: t, type: 'ISO14443' } })) };
}

const authEvents = (db, id) => sql(db, `SELECT severity || ' ' || message FROM events WHERE kind = 'auth' AND subject = '${id}' ORDER BY id`);

test('offline: local list and cache per charger under known, all; kept across restarts; unknown tokens flagged when the CSMS is back', async () => {
  const dir = tmpDir('ampgate-offline-auth-');
  const db = path.join(dir, 'a.db');
  const ports = [await freePort(), await freePort()];
  const url = `ws://127.0.0.1:${ports[0]}/ocpp`;
  const csms = await startCsms({ passwords: PASSWORDS, handlers: {
    Authorize: (p, client) => {
      const token = client.protocol === 'ocpp1.6' ? p.idTag : p.idToken.idToken;
      const status = token === 'TOKEN-X' ? 'Blocked' : 'Accepted';
      return client.protocol === 'ocpp1.6' ? { idTagInfo: { status } } : { idTokenInfo: { status } };
    },
  } });
  let d = new Daemon(writeConfig(dir, ports, csms.url));
  let cps = {};
  let csms2 = null;
  try {
    await d.start();
    cps = await connectAll(url);
    await until(() => Object.keys(STATIONS).every((id) => csms.clients.has(id)), { what: 'both uplinks open' });

    // Online: the CSMS answers, the edge learns.
    for (const id of Object.keys(STATIONS)) {
      assert.equal(await authorize(cps[id], id, 'TOKEN-A'), 'Accepted');
      assert.equal(await authorize(cps[id], id, 'TOKEN-X'), 'Blocked');
      const client = csms.clients.get(id);
      assert.deepEqual(await client.call('SendLocalList', localList(id, 7, 'Full', [['TOKEN-B', 'Accepted'], ['TOKEN-E', 'Accepted']])),
        { status: 'Accepted' });
      assert.deepEqual(await client.call('SendLocalList', localList(id, 8, 'Differential', [['TOKEN-E', null]])),
        { status: 'Accepted' });
    }
    assert.equal(csms.calls('Authorize').length, 4, 'online, the CSMS answered every Authorize');

    // Partition.
    await csms.close();
    for (const id of Object.keys(STATIONS)) await d.waitForLog(new RegExp(`charger ${id}: uplink to the CSMS lost`));
    for (const id of Object.keys(STATIONS)) {
      assert.equal(await authorize(cps[id], id, 'TOKEN-A'), 'Accepted', `${id}: A, accepted online, is in the cache`);
      assert.equal(await authorize(cps[id], id, 'TOKEN-B'), 'Accepted', `${id}: B is in the local list`);
      assert.equal(await authorize(cps[id], id, 'TOKEN-C'), refusal(id), `${id}: C is unknown`);
      assert.equal(await authorize(cps[id], id, 'TOKEN-E'), refusal(id), `${id}: E was removed from the list`);
      assert.equal(await authorize(cps[id], id, 'TOKEN-X'), 'Blocked', `${id}: X the CSMS blocked`);
      assert.equal(await start(cps[id], id, 'TOKEN-C', 1), refusal(id), `${id}: a transaction with C is refused`);
      const events = authEvents(db, id);
      assert.match(events, /warning Authorize: id token TOKEN-C refused \((Invalid|Unknown)\) while the CSMS cannot answer: it is not in the charger's local list.*auth.offline = known/);
      assert.match(events, /info Authorize: id token TOKEN-B accepted while the CSMS cannot answer \(local list of the edge says Accepted\)/);
      assert.match(events, /info Authorize: id token TOKEN-A accepted while the CSMS cannot answer \(cache of the edge says Accepted\)/);
    }
    assert.equal(sql(db, 'SELECT group_concat(charger_id || \' \' || version) FROM auth_list_version ORDER BY charger_id'), 'CP16 8,CP201 8');

    // Restart (still no CSMS), now under "all": list and cache are still there.
    for (const cp of Object.values(cps)) await cp.close({ force: true });
    cps = {};
    await d.stop();
    d = new Daemon(writeConfig(dir, ports, csms.url, 'all'));
    await d.start();
    cps = await connectAll(url);
    for (const id of Object.keys(STATIONS)) {
      await d.waitForLog(new RegExp(`charger ${id}: uplink to the CSMS not reachable`));
      assert.equal(await authorize(cps[id], id, 'TOKEN-A'), 'Accepted', `${id}: the cache survived the restart`);
      assert.equal(await authorize(cps[id], id, 'TOKEN-B'), 'Accepted', `${id}: the list survived the restart`);
      assert.equal(await authorize(cps[id], id, 'TOKEN-X'), 'Blocked', `${id}: blocked stays blocked under "all"`);
      assert.equal(await authorize(cps[id], id, 'TOKEN-C'), 'Accepted', `${id}: C is accepted under "all"`);
      assert.equal(await start(cps[id], id, 'TOKEN-C', 2), 'Accepted');
      assert.match(authEvents(db, id), /warning Authorize: id token TOKEN-C accepted while the CSMS cannot answer, although the edge does not know it \(auth.offline = all\)/);
    }
    assert.equal(sql(db, "SELECT count(*) FROM auth_offline WHERE flagged_ms IS NULL AND id_token = 'TOKEN-C'"), '4');

    // The CSMS is back (at a new address, so: restart): C is flagged once per charger.
    for (const cp of Object.values(cps)) await cp.close({ force: true });
    cps = {};
    await d.stop();
    csms2 = await startCsms({ passwords: PASSWORDS });
    d = new Daemon(writeConfig(dir, ports, csms2.url, 'all'));
    await d.start();
    cps = await connectAll(url);
    for (const id of Object.keys(STATIONS)) {
      await d.waitForLog(new RegExp(`auth ${id}: the CSMS is back: id token TOKEN-C was accepted offline without being known \\(2 times since .*: (Authorize,StartTransaction|Authorize,TransactionEvent)\\)`), 10000);
      // The log line comes first; the audit row and the flag follow in the same turn of the loop.
      await until(() => /warning the CSMS is back: id token TOKEN-C was accepted offline/.test(authEvents(db, id)),
        { what: `${id}: the flag in the audit log` });
    }
    await until(() => sql(db, "SELECT count(*) FROM auth_offline WHERE flagged_ms IS NULL") === '0', { what: 'all flagged' });
    assert.doesNotMatch(d.log, /TOKEN-[ABX] was accepted offline without being known/);
    // Online again, once the backlog is delivered: the CSMS answers, not the edge.
    await d.waitForLog(/outbox CP16: replay finished/, 10000);
    assert.equal(await authorize(cps.CP16, 'CP16', 'TOKEN-F'), 'Accepted');
    assert.equal(csms2.calls('Authorize', 'CP16').filter((c) => c.params.idTag === 'TOKEN-F').length, 1);
    assert.doesNotMatch(authEvents(db, 'CP16'), /TOKEN-F/, 'the CSMS answered F, not the edge');
  } finally {
    for (const cp of Object.values(cps)) await cp.close({ force: true });
    await d.stop();
    await csms2?.close();
  }
});

test('--check validates the auth keys, naming file:line', () => {
  const f = path.join(tmpDir('ampgate-auth-check-'), 'bad.conf');
  fs.writeFileSync(f, 'site = { name = "x"; grid = { limit_a = 100.0; }; };\nauth = { offline = "sometimes";\n  cache_days = -1; };\n');
  const r = runSync(AMPGATED, ['-c', f, '--check']);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /bad\.conf:2: auth\.offline: "sometimes" is not one of: known, all, none/);
  assert.match(r.stderr, /bad\.conf:3: auth\.cache_days: -1 days is out of range \(0 \.\. 3650 days\)/);
  const k = runSync(AMPGATED, ['--keys']);
  assert.match(k.stdout, /^auth\.offline .*\(default "known"\)$/m);
});

const USERS = { manager: 'offline-auth-manager' };
function hash(password) {
  const r = runSync(AMPGATECTL, ['passwd'], { input: `${password}\n` });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim();
}

test('a site manager\'s departure and energy need survive a restart of ampgated during the session', async () => {
  const dir = tmpDir('ampgate-needs-restart-');
  const [ocppPort, webPort] = [await freePort(), await freePort()];
  const file = path.join(dir, 'a.conf');
  fs.writeFileSync(file, `site = { name = "needs-restart"; policy = "deadline"; grid = { limit_a = [40.0, 40.0, 40.0]; }; };
chargers = ( { id = "BUS16"; password = "${PW}"; } );
ocpp = { listen = "127.0.0.1:${ocppPort}"; };
web = { listen = "127.0.0.1:${webPort}"; assets = "${path.join(ROOT, 'web')}";
  users = ( { name = "manager"; password_hash = "${hash(USERS.manager)}"; role = "manager"; } ); };
storage = { path = "${dir}/a.db"; };
`);
  const base = `http://127.0.0.1:${webPort}`;
  const login = async () => {
    const r = await fetch(`${base}/api/v1/login`, { method: 'POST', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ name: 'manager', password: USERS.manager }) });
    assert.equal(r.status, 200);
    return { cookie: r.headers.get('set-cookie').split(';')[0], csrf: (await r.json()).csrf_token };
  };
  const charger = async (m) => (await fetch(`${base}/api/v1/chargers/BUS16`, { headers: { Cookie: m.cookie } })).json();
  let d = new Daemon(file);
  let cp = null;
  try {
    await d.start();
    cp = await connectStation({ url: `ws://127.0.0.1:${ocppPort}/ocpp`, id: 'BUS16', protocol: 'ocpp1.6', password: PW });
    await cp.call('BootNotification', bootPayload('ocpp1.6'));
    await cp.call('StartTransaction', { connectorId: 1, idTag: 'DRIVER16', meterStart: 0, timestamp: TS() });
    let m = await login();
    const departure = new Date(Date.now() + 3 * 3600e3).toISOString();
    const r = await fetch(`${base}/api/v1/chargers/BUS16/needs`, { method: 'POST',
      headers: { 'Content-Type': 'application/json', Cookie: m.cookie, 'X-CSRF-Token': m.csrf },
      body: JSON.stringify({ departure, energy_kwh: 42 }) });
    assert.equal(r.status, 200, await r.text());
    await cp.close({ force: true });
    cp = null;
    await d.stop();

    d = new Daemon(file);
    await d.start();
    m = await login();
    const after = await charger(m);
    assert.equal(after.needs_from, 'manager', JSON.stringify(after));
    assert.equal(Date.parse(after.departure), Date.parse(departure));
    assert.equal(after.energy_need_kwh, 42);
    assert.match(d.log, /charger BUS16: departure .*, 42.0 kWh, set by a site manager, still in force after the restart/);

    // The session ends: the needs go, also from the database.
    cp = await connectStation({ url: `ws://127.0.0.1:${ocppPort}/ocpp`, id: 'BUS16', protocol: 'ocpp1.6', password: PW });
    await cp.call('BootNotification', bootPayload('ocpp1.6'));
    const txId = Number(sql(path.join(dir, 'a.db'), 'SELECT tx_id FROM transactions WHERE stop_ms IS NULL'));
    await cp.call('StopTransaction', { transactionId: txId, meterStop: 5000, timestamp: TS() });
    await until(async () => (await charger(m)).needs_from === null, { what: 'needs cleared with the session' });
    assert.equal(sql(path.join(dir, 'a.db'), 'SELECT count(*) FROM charger_needs'), '0');
  } finally {
    await cp?.close({ force: true });
    await d.stop();
  }
});
