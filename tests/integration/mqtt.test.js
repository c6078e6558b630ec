// MQTT against a real mosquitto broker (password file, ACL, TLS), checked with mqtt.js clients:
// retained state for late subscribers, the last will on kill -9, the limit command within one
// control period and its expiry, invalid and unauthenticated commands changing nothing, and a
// broker outage that load management does not notice.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import mqtt from 'mqtt';
import { AMPGATED, Daemon, freePort, runSync, sql, tmpDir } from '../lib/daemon.js';
import { makeCerts } from '../lib/certs.js';
import { startBroker } from '../lib/mosquitto.js';
import { bootPayload, connectStation, effectiveLimit, sleep, TS, until } from '../lib/ocpp.js';

const PW = 'mqtt-charger-pass-01';
const SITE = 'depot-mqtt';
const BASE = `ampgate/${SITE}`;
const USERS = { ampgate: 'daemon-secret-1', manager: 'manager-secret-1' };
// The daemon writes its state, reads commands and answers them; a manager reads everything and
// writes commands; anonymous clients are named nowhere, so they can do nothing.
const ACL = `user ampgate
topic write ${BASE}/status
topic write ${BASE}/site
topic write ${BASE}/charger/#
topic write ${BASE}/device/#
topic read ${BASE}/cmd/limit
topic read ${BASE}/cmd/charger/+/priority
topic write ${BASE}/cmd/limit/result
topic write ${BASE}/cmd/charger/+/priority/result
topic write homeassistant/#
topic write moved/${SITE}/#

user manager
topic read moved/${SITE}/#
topic read ${BASE}/#
topic read homeassistant/#
topic write ${BASE}/cmd/#
`;
const LONG = !!process.env.AMPGATE_LONG;
const PROTOS = { A: 'ocpp1.6', B: 'ocpp2.0.1', C: 'ocpp1.6' };

async function edge(dir, broker, { mqttExtra = '', tlsCa = null } = {}) {
  const port = await freePort();
  fs.writeFileSync(path.join(dir, 'a.conf'), `site = { name = "${SITE}"; margin_a = 2.0; control_period_ms = 1000;
  grid = { meter = "grid"; limit_a = [100.0, 100.0, 100.0]; }; };
devices = ( { id = "grid"; driver = "sim"; role = "grid-meter"; modbus = "tcp://127.0.0.1:9"; poll_ms = 500; } );
chargers = ( { id = "A"; password = "${PW}"; }, { id = "B"; password = "${PW}"; }, { id = "C"; password = "${PW}"; } );
ocpp = { listen = "127.0.0.1:${port}"; };
web = { listen = "127.0.0.1:1"; };
storage = { path = "${dir}/a.db"; };
mqtt = { enabled = true; host = "127.0.0.1"; port = ${broker.port}; prefix = "ampgate";
  username = "ampgate"; password = "${USERS.ampgate}"; keepalive_s = 5; reconnect_max_s = 2;
  ${tlsCa ? `tls = true; ca = "${tlsCa}";` : ''} ${mqttExtra} };
`);
  const d = new Daemon(path.join(dir, 'a.conf'));
  await d.start();
  return { d, url: `ws://127.0.0.1:${port}/ocpp`, db: path.join(dir, 'a.db') };
}

async function plugIn(url, id) {
  const protocol = PROTOS[id];
  const cp = await connectStation({ url, id, protocol, password: PW });
  await cp.call('BootNotification', bootPayload(protocol));
  await cp.call('StatusNotification', protocol === 'ocpp1.6'
    ? { connectorId: 1, errorCode: 'NoError', status: 'Charging' }
    : { timestamp: TS(), connectorStatus: 'Occupied', evseId: 1, connectorId: 1 });
  cp.limit = () => (cp.profiles.length >= 2 ? effectiveLimit(cp.profiles, protocol) : NaN);
  return cp;
}

/** An mqtt.js client that keeps every message it gets: `last(topic)` and `waitFor(topic, pred)`. */
async function client(broker, { user = null, tls = null } = {}) {
  const opts = { protocolVersion: 4, reconnectPeriod: 0, connectTimeout: 5000, clean: true };
  if (user) Object.assign(opts, { username: user, password: USERS[user] ?? 'wrong-password' });
  if (tls) Object.assign(opts, { ca: fs.readFileSync(tls.ca), rejectUnauthorized: true });
  const c = await mqtt.connectAsync(`${tls ? 'mqtts' : 'mqtt'}://127.0.0.1:${broker.port}`, opts);
  c.got = [];
  c.on('message', (topic, payload, packet) => c.got.push({ topic, text: payload.toString(), retain: packet.retain, at: Date.now() }));
  c.last = (topic) => c.got.filter((m) => m.topic === topic).at(-1);
  c.json = (topic) => JSON.parse(c.last(topic)?.text ?? 'null');
  c.waitFor = (topic, pred = () => true, opts2 = {}) =>
    until(() => c.got.find((m) => m.topic === topic && pred(m, safeJson(m.text))), { what: `${topic}`, timeoutMs: 8000, ...opts2 });
  return c;
}

const safeJson = (t) => { try { return JSON.parse(t); } catch { return null; } };

async function withSite(fn, { chargers = ['A', 'B'], mqttExtra } = {}) {
  const dir = tmpDir('ampgate-mqtt-');
  const broker = await startBroker({ dir, users: USERS, acl: ACL });
  const e = await edge(dir, broker, { mqttExtra });
  const cps = {};
  const clients = [];
  try {
    await e.d.waitForLog(/mqtt: connected to the broker 127\.0\.0\.1:\d+ as ampgate/, 8000);
    for (const id of chargers) cps[id] = await plugIn(e.url, id);
    for (const id of chargers) await until(() => cps[id].limit() === 32, { timeoutMs: 8000, what: `charger ${id} at 32 A` });
    const mk = async (o) => { const c = await client(broker, o); clients.push(c); return c; };
    await fn({ ...e, broker, cps, client: mk, dir });
  } catch (err) {
    console.log(e.d.log.split('\n').slice(-40).join('\n'));
    console.log(broker.log.split('\n').slice(-40).join('\n'));
    throw err;
  } finally {
    for (const c of clients) await c.endAsync(true).catch(() => {});
    for (const cp of Object.values(cps)) await cp.close({ force: true }).catch(() => {});
    await e.d.stop();
    await broker.stop();
  }
}

/** Publish a command as `c` and wait for the answer on its /result topic. */
async function command(c, topic, payload) {
  const t = `${BASE}/cmd/${topic}`;
  const before = c.got.length;
  await c.subscribeAsync(`${t}/result`, { qos: 1 });
  await c.publishAsync(t, typeof payload === 'string' ? payload : JSON.stringify(payload), { qos: 1 });
  const m = await until(() => c.got.slice(before).find((x) => x.topic === `${t}/result`), { what: `answer on ${t}/result` });
  return JSON.parse(m.text);
}

test('a late subscriber gets the retained status, site, charger and device state and the Home Assistant discovery', async () => {
  await withSite(async ({ client }) => {
    await sleep(1200); // the state after both chargers got their limits has been published
    const m = await client({ user: 'manager' });
    await m.subscribeAsync([`${BASE}/#`, 'homeassistant/#'], { qos: 1 });
    await m.waitFor(`${BASE}/status`, (x) => x.retain && x.text === 'online');
    const site = (await m.waitFor(`${BASE}/site`, (x) => x.retain)).text;
    const s = JSON.parse(site);
    assert.equal(s.name, SITE);
    assert.equal(s.mode, 'normal');
    assert.equal(s.grid.measured, true, 'the sim grid meter is read');
    assert.ok(s.grid.current_a.every((a) => typeof a === 'number' && a > 0), `grid current ${s.grid.current_a}`);
    assert.deepEqual(s.grid.limit_a, [100, 100, 100]);
    assert.equal(s.chargers.online, 2);
    assert.equal(s.solves, undefined, 'no per-solve counter in a retained payload');
    const a = JSON.parse((await m.waitFor(`${BASE}/charger/A`, (x) => x.retain)).text);
    assert.equal(a.id, 'A');
    assert.equal(a.link, 'online');
    assert.equal(a.limit.limit_a, 32);
    assert.equal(a.priority, 1);
    const g = JSON.parse((await m.waitFor(`${BASE}/device/grid`, (x) => x.retain)).text);
    assert.equal(g.role, 'grid-meter');
    assert.equal(g.stale, false);
    assert.equal(typeof g.reading.current_l1, 'number');
    const disc = JSON.parse((await m.waitFor('homeassistant/sensor/ampgate_depot-mqtt/grid_current_l1/config', (x) => x.retain)).text);
    assert.equal(disc.state_topic, `${BASE}/site`);
    assert.equal(disc.availability_topic, `${BASE}/status`);
    assert.equal(disc.unit_of_measurement, 'A');
    assert.match(disc.value_template, /grid\.current_a\[0\]/);
    const lim = JSON.parse((await m.waitFor('homeassistant/sensor/ampgate_depot-mqtt/charger_B_limit/config')).text);
    assert.equal(lim.state_topic, `${BASE}/charger/B`);
    const num = JSON.parse((await m.waitFor('homeassistant/number/ampgate_depot-mqtt/site_limit/config')).text);
    assert.equal(num.command_topic, `${BASE}/cmd/limit`);
    // Charger C is configured but never connected: retained too, as offline at its fallback.
    const c = JSON.parse((await m.waitFor(`${BASE}/charger/C`)).text);
    assert.equal(c.link, 'offline');

    // An anonymous client may connect (the broker allows it) but the ACL shows it nothing.
    const anon = await client();
    await anon.subscribeAsync('#', { qos: 0 });
    await sleep(1500);
    assert.deepEqual(anon.got, [], 'anonymous client received nothing');
  });
});

test('a limit command lowers every charger within one control period and expires on time', async () => {
  await withSite(async ({ client, cps, db }) => {
    const m = await client({ user: 'manager' });
    await m.subscribeAsync(`${BASE}/site`, { qos: 1 });
    const t = `${BASE}/cmd/limit`;
    await m.subscribeAsync(`${t}/result`, { qos: 1 });
    const t0 = Date.now();
    await m.publishAsync(t, JSON.stringify({ limit_a: 40, duration_s: 3, id: 'curtail-1' }), { qos: 1 });
    // (40 A - 2 A margin - the building's load from the grid meter) shared by two EVs: < 19 A each.
    await until(() => cps.A.limit() <= 19 && cps.B.limit() <= 19, { timeoutMs: 3000, stepMs: 10, what: 'both lowered' });
    const lowered = Date.now() - t0;
    console.log(`limit command -> both chargers lowered: ${lowered} ms`);
    assert.ok(lowered < 1000, `chargers lowered ${lowered} ms after the command (control period 1000 ms)`);
    const ans = JSON.parse((await m.waitFor(`${t}/result`)).text);
    assert.deepEqual(ans, { ok: true, id: 'curtail-1' });
    const site = (await m.waitFor(`${BASE}/site`, (x, j) => j?.grid?.override)).text;
    const s = JSON.parse(site);
    assert.deepEqual(s.grid.limit_a, [40, 40, 40]);
    assert.equal(s.grid.override.limit_a, 40);
    assert.equal(s.grid.override.by, 'mqtt');
    assert.match(s.grid.override.expires, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    const building = Math.max(...s.grid.current_a) - Math.max(...s.grid.ev_a);
    assert.ok(cps.A.limit() + cps.B.limit() <= 40 - 2 - building + 0.5, 'within the temporary limit');

    // Expiry: back to 32 A after 3 s, within one control period more.
    await until(() => cps.A.limit() === 32 && cps.B.limit() === 32, { timeoutMs: 6000, stepMs: 20, what: 'limits restored' });
    const restored = Date.now() - t0;
    console.log(`3 s limit -> chargers restored after ${restored} ms`);
    assert.ok(restored >= 2900 && restored <= 3000 + 1000 + 300, `restored ${restored} ms after a 3 s limit`);
    await m.waitFor(`${BASE}/site`, (x, j) => j && j.grid.override === null && j.grid.limit_a[0] === 100 && x.at > t0 + 2900);
    assert.match(sql(db, "select message from events where kind = 'site.override'"), /grid limited to 40\.0 A per phase for 3 s by mqtt/);
  });
});

test('invalid commands get an error answer and change nothing; a valid priority command is applied', async () => {
  await withSite(async ({ client, cps, db }) => {
    const m = await client({ user: 'manager' });
    const bad = [
      ['limit', '{"limit_a": 20, "duration_s": 60', /JSON object/],
      ['limit', '[20, 60]', /JSON object/],
      ['limit', { limit_a: 'twenty', duration_s: 60 }, /limit_a must be a number/],
      ['limit', { limit_a: -5, duration_s: 60 }, /limit_a must be a number/],
      ['limit', { limit_a: 20 }, /duration_s must be a whole number/],
      ['limit', { limit_a: 20, duration_s: 100000 }, /duration_s must be/],
      ['limit', { limit_a: 20, duration_s: 1.5 }, /duration_s must be/],
      ['limit', { limit_a: 250, duration_s: 60 }, /above the configured grid limit of 100\.0 A/],
      ['limit', { limit_a: 20, duration_s: 60, phase: 1 }, /unknown key "phase"/],
      ['charger/A/priority', { priority: 12 }, /priority must be a whole number from 0 to 9/],
      ['charger/A/priority', { priority: '5' }, /priority must be/],
      ['charger/NOPE/priority', { priority: 5 }, /no charger "NOPE"/],
    ];
    for (const [topic, payload, re] of bad) {
      const a = await command(m, topic, payload);
      assert.equal(a.ok, false, `${topic} ${JSON.stringify(payload)} refused`);
      assert.match(a.error, re);
    }
    await sleep(1200); // a control period: nothing may have moved
    assert.equal(cps.A.limit(), 32);
    assert.equal(cps.B.limit(), 32);
    await m.subscribeAsync(`${BASE}/#`, { qos: 1 });
    const s = JSON.parse((await m.waitFor(`${BASE}/site`)).text);
    assert.equal(s.grid.override, null);
    assert.deepEqual(s.grid.limit_a, [100, 100, 100]);
    assert.equal(JSON.parse((await m.waitFor(`${BASE}/charger/A`)).text).priority, 1);
    assert.equal(sql(db, "select count(*) from events where kind = 'site.override'"), '0');
    assert.equal(Number(sql(db, "select count(*) from events where kind = 'mqtt.command'")), bad.length);

    assert.deepEqual(await command(m, 'charger/A/priority', { priority: 5, id: 9 }), { ok: true, id: 9 });
    await m.waitFor(`${BASE}/charger/A`, (x, j) => j?.priority === 5);
    assert.match(sql(db, "select message from events where kind = 'charger.priority'"), /priority set to 5 by mqtt/);
    assert.deepEqual(await command(m, 'charger/A/priority', { priority: null }), { ok: true });
    await m.waitFor(`${BASE}/charger/A`, (x, j) => j?.priority === 1 && x.at > Date.now() - 3000);
  });
});

test('an unauthenticated client cannot command, and a wrong password cannot connect', async () => {
  await withSite(async ({ client, cps, broker, db }) => {
    const watcher = await client({ user: 'manager' });
    await watcher.subscribeAsync(`${BASE}/cmd/#`, { qos: 1 });
    const anon = await client();
    await anon.publishAsync(`${BASE}/cmd/limit`, JSON.stringify({ limit_a: 10, duration_s: 60 }), { qos: 1 });
    await anon.publishAsync(`${BASE}/cmd/charger/A/priority`, JSON.stringify({ priority: 9 }), { qos: 1 });
    await sleep(2000);
    assert.equal(cps.A.limit(), 32);
    assert.equal(cps.B.limit(), 32);
    assert.deepEqual(watcher.got.map((x) => x.topic), [], 'the broker dropped the commands: no command, no answer');
    assert.equal(sql(db, "select count(*) from events where kind in ('site.override', 'charger.priority', 'mqtt.command')"), '0');
    await assert.rejects(client({ user: 'intruder' }), /Not authorized|Bad username or password|refused/i);
    await assert.rejects(mqtt.connectAsync(`mqtt://127.0.0.1:${broker.port}`,
      { username: 'manager', password: 'guess', reconnectPeriod: 0, protocolVersion: 4 }), /Not authorized|Bad username or password|refused/i);
  });
});

test('the last will says offline when ampgated is killed with -9', async () => {
  const dir = tmpDir('ampgate-mqtt-');
  const broker = await startBroker({ dir, users: USERS, acl: ACL });
  const e = await edge(dir, broker);
  let m;
  try {
    await e.d.waitForLog(/mqtt: connected to the broker/, 8000);
    m = await client(broker, { user: 'manager' });
    await m.subscribeAsync(`${BASE}/status`, { qos: 1 });
    await m.waitFor(`${BASE}/status`, (x) => x.text === 'online');
    const t0 = Date.now();
    e.d.proc.kill('SIGKILL');
    await e.d.exitPromise;
    const off = await m.waitFor(`${BASE}/status`, (x) => x.text === 'offline', { timeoutMs: 10000 });
    assert.ok(off.at - t0 < 8000, `offline after ${off.at - t0} ms (keepalive 5 s)`);
    // Retained: a client arriving later learns it too.
    const late = await client(broker, { user: 'manager' });
    await late.subscribeAsync(`${BASE}/status`, { qos: 1 });
    await late.waitFor(`${BASE}/status`, (x) => x.retain && x.text === 'offline');
    await late.endAsync(true);
  } finally {
    await m?.endAsync(true);
    await e.d.stop();
    await broker.stop();
  }
});

test(`broker down for ${LONG ? 'a minute' : '12 s'}: load management goes on, the daemon reconnects and republishes`, { timeout: LONG ? 180000 : 90000 }, async () => {
  await withSite(async ({ d, url, cps, broker, client: mk }) => {
    const outageMs = LONG ? 60000 : 12000;
    await broker.stop();
    await d.waitForLog(/lost the MQTT broker 127\.0\.0\.1:\d+ .*load management is not affected/, 5000);
    const t0 = Date.now();
    // While the broker is away a third EV arrives: the solver shares the grid among three at once.
    cps.C = await plugIn(url, 'C');
    await until(() => cps.C.limit() > 6 && cps.A.limit() < 32 && cps.B.limit() < 32,
      { timeoutMs: 5000, what: 'three chargers share the grid without the broker' });
    const shared = [cps.A.limit(), cps.B.limit(), cps.C.limit()];
    await sleep(Math.max(0, outageMs - (Date.now() - t0)));
    assert.ok([cps.A, cps.B, cps.C].every((cp) => cp.limit() > 0), `still under load management: ${shared}`);
    assert.equal((d.log.match(/lost the MQTT broker|no connection to the broker/g) || []).length, 1, 'the outage is logged once');

    await broker.start(); // a fresh broker on the same port: nothing retained until the daemon republishes
    await d.waitForLog(/mqtt: connected to the MQTT broker 127\.0\.0\.1:\d+ as ampgate; state republished/, 10000);
    // A subscriber that comes before the daemon's republication gets it live (retain flag
    // clear, MQTT 3.1.1 §3.3.1.3); one that comes after gets it retained. Wait for it live
    // first, then check it is retained with a second subscriber.
    const live = await mk({ user: 'manager' });
    await live.subscribeAsync(`${BASE}/#`, { qos: 1 });
    for (const t of ['status', 'charger/C', 'site', 'device/grid']) await live.waitFor(`${BASE}/${t}`);
    await live.endAsync(true);
    const m = await mk({ user: 'manager' });
    await m.subscribeAsync(`${BASE}/#`, { qos: 1 });
    await m.waitFor(`${BASE}/status`, (x) => x.retain && x.text === 'online');
    const c = JSON.parse((await m.waitFor(`${BASE}/charger/C`, (x) => x.retain)).text);
    assert.equal(c.link, 'online');
    assert.ok(c.limit.limit_a > 6, `charger C's limit ${c.limit.limit_a} A is published`);
    const s = JSON.parse((await m.waitFor(`${BASE}/site`, (x) => x.retain)).text);
    assert.equal(s.chargers.online, 3);
    await m.waitFor(`${BASE}/device/grid`, (x) => x.retain);
  });
});

test('a reload that moves the prefix says offline on the old topics and online on the new', async () => {
  await withSite(async ({ d, client, dir }) => {
    const m = await client({ user: 'manager' });
    await m.subscribeAsync([`${BASE}/status`, `moved/${SITE}/#`], { qos: 1 });
    await m.waitFor(`${BASE}/status`, (x) => x.text === 'online');
    const conf = path.join(dir, 'a.conf');
    fs.writeFileSync(conf, fs.readFileSync(conf, 'utf8').replace('prefix = "ampgate";', 'prefix = "moved";'));
    d.signal('SIGHUP');
    await d.waitForLog(/config: mqtt\.prefix: "ampgate" -> "moved"/);
    await m.waitFor(`${BASE}/status`, (x) => x.text === 'offline');
    await m.waitFor(`moved/${SITE}/status`, (x) => x.text === 'online');
    assert.equal(JSON.parse((await m.waitFor(`moved/${SITE}/charger/A`)).text).limit.limit_a, 32);
  });
});

test('TLS: the daemon verifies the broker against mqtt.ca; a broker it cannot verify is refused', async () => {
  const dir = tmpDir('ampgate-mqtt-tls-');
  const f = makeCerts(dir);
  const other = tmpDir('ampgate-mqtt-ca-');
  const g = makeCerts(other);
  const broker = await startBroker({ dir, users: USERS, acl: ACL, tls: { cert: f('server.crt'), key: f('server.key') } });
  let e;
  let m;
  try {
    e = await edge(dir, broker, { tlsCa: f('ca.crt') });
    await e.d.waitForLog(/mqtt: connected to the broker 127\.0\.0\.1:\d+ as ampgate/, 8000);
    m = await client(broker, { user: 'manager', tls: { ca: f('ca.crt') } });
    await m.subscribeAsync(`${BASE}/site`, { qos: 1 });
    assert.equal(JSON.parse((await m.waitFor(`${BASE}/site`, (x) => x.retain)).text).name, SITE);
    await e.d.stop();

    fs.mkdirSync(path.join(dir, 'b'));
    e = await edge(path.join(dir, 'b'), broker, { tlsCa: g('ca.crt') });
    await e.d.waitForLog(/mqtt: no connection to the broker 127\.0\.0\.1:\d+ \(.*\); retrying/, 8000);
    await sleep(1500);
    assert.doesNotMatch(e.d.log, /mqtt: connected/);
    assert.equal(e.d.exited, null, 'the daemon runs on without MQTT');
  } finally {
    await m?.endAsync(true);
    await e?.d.stop();
    await broker.stop();
  }
});

test('--check: MQTT credentials, the CA file and names that cannot be topic levels', () => {
  const dir = tmpDir();
  const conf = path.join(dir, 'a.conf');
  fs.writeFileSync(conf, `site = { name = "a/b"; grid = { limit_a = 100.0; }; };
chargers = ( { id = "CP+1"; password = "${PW}"; } );
storage = { path = "${dir}/a.db"; };
mqtt = { enabled = true; username = "ampgate"; tls = true; ca = "${dir}/missing-ca.pem"; prefix = "ampgate/#"; };
`);
  const r = runSync(AMPGATED, ['-c', conf, '--check']);
  assert.equal(r.status, 1);
  assert.match(r.stderr, /a\.conf:\d+: mqtt\.password: mqtt\.username "ampgate" is set but no password/);
  assert.match(r.stderr, /a\.conf:\d+: mqtt\.ca: cannot read the CA file ".*missing-ca\.pem"/);
  assert.match(r.stderr, /a\.conf:\d+: mqtt\.prefix: "ampgate\/#" cannot hold '\+' or '#'/);
  assert.match(r.stderr, /a\.conf:1: site\.name: site name "a\/b" cannot be used in MQTT topics/);
  assert.match(r.stderr, /a\.conf:2: chargers\[0\]\.id: charger id "CP\+1" cannot be used in MQTT topics/);
});
