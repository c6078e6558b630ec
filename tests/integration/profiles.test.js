// The edge's own charging profiles as chargers see them (issue 17): no flapping in a steady
// state, a stack level always above the CSMS's, limits and meter settings after a reconnect
// without BootNotification, and sessions closed when the charger says they are over.
// Peers: ocpp-rpc stations and CSMS in strict mode, the real daemon; a charger that does not take
// its lower limit also with the second OCPP stack (lib/interop-peers.js).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { AMPGATECTL, Daemon, freePort, runSync, sql, tmpDir } from '../lib/daemon.js';
import { bootPayload, connectStation, effectiveLimit, sleep, startCsms, TS, until } from '../lib/ocpp.js';
import { connectInteropStation } from '../lib/interop-peers.js';

const PW = 'profiles-password-1';
const DYNAMIC = 917000002;
const RENEW_S = 60; // PROFILE_RENEW_S

// chargers: [{ id, circuit }]; circuits: libconfig text.
async function edge(dir, { chargers, circuits = '', upstream = '', port = 0, web = '', site = '', callTimeoutS = 5 }) {
  port = port || await freePort();
  fs.writeFileSync(path.join(dir, 'a.conf'), `site = { name = "profiles"; margin_a = 2.0; fallback_a = 6.0; control_period_ms = 1000; ${site}
  grid = { limit_a = [200.0, 200.0, 200.0]; };
  circuits = ( ${circuits} ); };
chargers = ( ${chargers.map((c) => `{ id = "${c.id}"; ${c.circuit ? `circuit = "${c.circuit}";` : ''} max_a = 32.0; password = "${PW}"; }`).join(',\n  ')} );
ocpp = { listen = "127.0.0.1:${port}"; call_timeout_s = ${callTimeoutS}; };
${upstream}
web = { ${web || 'listen = "127.0.0.1:1";'} };
storage = { path = "${dir}/a.db"; };
`);
  const d = new Daemon(path.join(dir, 'a.conf'));
  await d.start();
  return { d, port, url: `ws://127.0.0.1:${port}/ocpp` };
}

const v16 = (protocol) => protocol === 'ocpp1.6';
const profileOf = (protocol, p) => (v16(protocol) ? p.csChargingProfiles : p.chargingProfile);
const profileId = (protocol, p) => (v16(protocol) ? profileOf(protocol, p).chargingProfileId : profileOf(protocol, p).id);
const profileLimit = (protocol, p) => {
  const s = profileOf(protocol, p).chargingSchedule;
  return (Array.isArray(s) ? s[0] : s).chargingSchedulePeriod[0].limit;
};

// A station that stamps every SetChargingProfile it gets (cp.stamped: { at, limit, stack, id }).
async function station(url, id, protocol, handlers = {}) {
  const stamped = [];
  const cp = await connectStation({ url, id, protocol, password: PW, handlers: {
    SetChargingProfile: (params) => {
      cp.profiles.push(params);
      stamped.push({ at: Date.now(), id: profileId(protocol, params), limit: profileLimit(protocol, params),
        stack: profileOf(protocol, params).stackLevel });
      return { status: 'Accepted' };
    },
    ...handlers,
  } });
  cp.stamped = stamped;
  cp.dynamic = () => stamped.filter((s) => s.id === DYNAMIC);
  return cp;
}

async function charging(cp) {
  await cp.call('BootNotification', bootPayload(cp.protocol));
  if (v16(cp.protocol)) {
    await cp.call('StatusNotification', { connectorId: 1, errorCode: 'NoError', status: 'Charging' });
    cp.tx = (await cp.call('StartTransaction', { connectorId: 1, idTag: 'TAG1', meterStart: 0, timestamp: TS() })).transactionId;
  } else {
    await cp.call('StatusNotification', { timestamp: TS(), connectorStatus: 'Occupied', evseId: 1, connectorId: 1 });
    cp.tx = `tx-${cp.protocol}-${Date.now()}`;
    await cp.call('TransactionEvent', { eventType: 'Started', timestamp: TS(), triggerReason: 'CablePluggedIn', seqNo: 0,
      transactionInfo: { transactionId: cp.tx }, evse: { id: 1, connectorId: 1 } });
  }
}

// What the EV draws per phase, as the charger reports it.
function meterValues(cp, amps) {
  const sv = ['L1', 'L2', 'L3'].map((phase) => (v16(cp.protocol)
    ? { value: amps.toFixed(1), measurand: 'Current.Import', phase, unit: 'A' }
    : { value: Number(amps.toFixed(1)), measurand: 'Current.Import', phase, unitOfMeasure: { unit: 'A' } }));
  return v16(cp.protocol)
    ? cp.call('MeterValues', { connectorId: 1, transactionId: cp.tx, meterValue: [{ timestamp: TS(), sampledValue: sv }] })
    : cp.call('MeterValues', { evseId: 1, meterValue: [{ timestamp: TS(), sampledValue: sv }] });
}

// Report a draw every 3 s: `draw(cp)` gives the amps (a fixed figure, or the limit in force).
function steadyEv(cps, draw) {
  let stop = false;
  const loop = (async () => {
    while (!stop) {
      for (const cp of cps) await meterValues(cp, draw(cp)).catch(() => {});
      await sleep(3000);
    }
  })();
  return async () => { stop = true; await loop; };
}

test('a steady EV draw below the limit: at most one SetChargingProfile per renewal period, no 18/32 A flapping', async () => {
  const dir = tmpDir('ampgate-profiles-');
  // A: the issue's case, a 32 A charger alone whose EV takes 16 A. B and C share a 50 A feeder
  // (24 A each); B's EV takes 16 A, C's takes what it is given.
  const { d, url } = await edge(dir, {
    circuits: '{ id = "solo"; limit_a = [100.0, 100.0, 100.0]; }, { id = "pair"; limit_a = [50.0, 50.0, 50.0]; }',
    chargers: [{ id: 'A', circuit: 'solo' }, { id: 'B', circuit: 'pair' }, { id: 'C', circuit: 'pair' }],
  });
  const cps = [];
  let stopEv = async () => {};
  try {
    cps.push(await station(url, 'A', 'ocpp1.6'), await station(url, 'B', 'ocpp1.6'), await station(url, 'C', 'ocpp2.0.1'));
    for (const cp of cps) await charging(cp);
    const [A, B, C] = cps;
    await until(() => cps.every((cp) => cp.dynamic().length >= 1), { timeoutMs: 8000, what: 'a dynamic profile on each' });
    stopEv = steadyEv(cps, (cp) => (cp === C ? Math.max(0, effectiveLimit(cp.profiles, cp.protocol) - 0.5) : 16));
    // The EV-limited cap (16 A + 2 A slack) settles A and B at 18 A, C gets the rest of its feeder.
    await until(() => effectiveLimit(A.profiles, A.protocol) === 18 && effectiveLimit(B.profiles, B.protocol) === 18 &&
      effectiveLimit(C.profiles, C.protocol) === 30, { timeoutMs: 15000, what: 'A and B capped at 18 A, C at 30 A' });
    await sleep(4000); // C's next meter value shows it took its 30 A
    const from = Date.now();
    const windowS = 40;
    await sleep(windowS * 1000);
    const counts = cps.map((cp) => cp.dynamic().filter((s) => s.at >= from));
    const limits = counts.map((c) => c.map((s) => s.limit));
    // Only renewals may come in a steady state: one per renewal period, at the same limit.
    for (const [i, c] of counts.entries()) {
      assert.ok(c.length <= Math.ceil(windowS / RENEW_S), `charger ${'ABC'[i]} got ${c.length} profiles in ${windowS} s: ${limits[i].join(', ')} A`);
    }
    assert.ok(limits[0].every((l) => l === 18) && limits[1].every((l) => l === 18) && limits[2].every((l) => l === 30),
      `limits in the steady state: ${JSON.stringify(limits)}`);
  } finally {
    await stopEv();
    for (const cp of cps) await cp.close({ force: true });
    await d.stop();
  }
});

test('the CSMS installs a max profile at the edge\'s stack level: the edge moves above it at once', async () => {
  const dir = tmpDir('ampgate-profiles-');
  const csms = await startCsms({ passwords: { S16: PW, S201: PW } });
  const { d, url } = await edge(dir, {
    chargers: [{ id: 'S16' }, { id: 'S201' }],
    upstream: `upstream = { url = "${csms.url}"; security_profile = 1; credentials = "forward"; call_timeout_s = 5;
  reconnect_min_ms = 200; reconnect_max_ms = 1000; };`,
  });
  const cps = [];
  try {
    cps.push(await station(url, 'S16', 'ocpp1.6'), await station(url, 'S201', 'ocpp2.0.1'));
    for (const cp of cps) await charging(cp);
    for (const cp of cps) {
      await until(() => cp.dynamic().at(-1)?.limit === 32 && csms.clients.has(cp.identity), { timeoutMs: 8000, what: `${cp.identity}: 32 A profile` });
      const edgeStack = cp.dynamic().at(-1).stack;
      const before = cp.dynamic().length;
      // 40 A at the edge's level and purpose: on the charger it replaces the edge's 32 A profile,
      // while the edge's limit stays min(CSMS 40 A, site 32 A) = 32 A: nothing else to send.
      const sched = { chargingRateUnit: 'A', chargingSchedulePeriod: [{ startPeriod: 0, limit: 40 }] };
      const r = v16(cp.protocol)
        ? await csms.clients.get(cp.identity).call('SetChargingProfile', { connectorId: 0, csChargingProfiles: {
          chargingProfileId: 77, stackLevel: edgeStack, chargingProfilePurpose: 'ChargePointMaxProfile',
          chargingProfileKind: 'Relative', chargingSchedule: sched } })
        : await csms.clients.get(cp.identity).call('SetChargingProfile', { evseId: 0, chargingProfile: {
          id: 77, stackLevel: edgeStack, chargingProfilePurpose: 'ChargingStationMaxProfile',
          chargingProfileKind: 'Relative', chargingSchedule: [{ id: 1, ...sched }] } });
      assert.equal(r.status, 'Accepted');
      const t0 = Date.now();
      // The edge's next profile (not its renewal, PROFILE_RENEW_S away) is one level above.
      await until(() => cp.dynamic().length > before, { timeoutMs: 3000, what: `${cp.identity}: the edge's profile again` });
      const next = cp.dynamic().at(-1);
      assert.ok(next.at - t0 < 3000, `${cp.identity}: ${next.at - t0} ms after the CSMS's profile`);
      assert.equal(next.stack, edgeStack + 1, `${cp.identity}: stack level above the CSMS's`);
      assert.equal(next.limit, 32, `${cp.identity}: min(CSMS 40 A, site 32 A)`);
      assert.equal(effectiveLimit(cp.profiles, cp.protocol), 32);
    }
  } finally {
    for (const cp of cps) await cp.close({ force: true });
    await d.stop();
    await csms.close();
  }
});

// A site manager's view of one charger (REST), for what the page shows.
// A 40 A feeder (38 A with the margin) for two 32 A chargers. A charges alone at 32 A; then B
// starts, and A, which has stopped answering, keeps its 32 A: B must get what is left (6 A), not
// the 19 A it would get if A had taken its share (32 + 19 = 51 A on a 40 A feeder). `second`: the
// chargers are the second OCPP stack (voltbras 1.6, extrawest 2.0.1) instead of ocpp-rpc.
async function heldDecrease(second) {
  const dir = tmpDir('ampgate-profiles-');
  const { d, url } = await edge(dir, {
    circuits: '{ id = "feeder"; limit_a = [40.0, 40.0, 40.0]; }',
    chargers: [{ id: 'HA', circuit: 'feeder' }, { id: 'HB', circuit: 'feeder' }], callTimeoutS: 30,
  });
  const cps = [];
  const acceptedA = [];   // the limits A accepted, in order
  let answerA = null;     // while set, A's SetChargingProfile waits for it
  const setProfileA = (params) => {
    const accept = () => { acceptedA.push(profileLimit('ocpp1.6', params)); return { status: 'Accepted' }; };
    if (!answerA)
      return accept();
    return new Promise((resolve) => { const prev = answerA; answerA = () => { prev(); resolve(accept()); }; });
  };
  try {
    const A = second
      ? await connectInteropStation({ protocol: 'ocpp1.6', url, id: 'HA', password: PW, handlers: { SetChargingProfile: setProfileA } })
      : await station(url, 'HA', 'ocpp1.6', { SetChargingProfile: setProfileA });
    const B = second ? await connectInteropStation({ protocol: 'ocpp2.0.1', url, id: 'HB', password: PW })
      : await station(url, 'HB', 'ocpp2.0.1');
    cps.push(A, B);
    const dynamicB = () => B.profiles.filter((p) => profileId(B.protocol, p) === DYNAMIC).map((p) => profileLimit(B.protocol, p));
    await charging(A);
    await until(() => acceptedA.at(-1) === 32, { timeoutMs: 8000, what: 'A alone at 32 A' });
    answerA = () => {};   // from now on A leaves every profile unanswered
    await charging(B);
    // First the share the solver gives while A's decrease is in flight (19 A each) ...
    await until(() => dynamicB().at(-1) === 19, { timeoutMs: 8000, what: 'B at its share, 19 A' });
    const t0 = Date.now();
    // ... then, A not having taken 19 A for 5 s, what A's 32 A leave.
    await until(() => effectiveLimit(B.profiles, B.protocol) <= 6, { timeoutMs: 12000,
      what: 'B lowered to what A, still at 32 A, leaves' });
    const heldAfter = Date.now() - t0;
    assert.ok(heldAfter >= 3000, `B was lowered ${heldAfter} ms after its share: before the 5 s grace`);
    assert.match(d.log, /charger HA: has not taken its lower limit of 19\.0 A for 5 s .*counted at 32\.0 A/);
    // A answers at last (the decrease, 19 A): B gets its share back.
    const release = answerA;
    answerA = null;
    release();
    await until(() => acceptedA.at(-1) === 19, { timeoutMs: 5000, what: 'A accepting 19 A' });
    await until(() => effectiveLimit(B.profiles, B.protocol) === 19, { timeoutMs: 15000, what: 'B back to 19 A' });
    for (const cp of cps) assert.deepEqual(cp.failures ?? [], [], `${cp.id ?? cp.identity}: schema failures`);
  } finally {
    answerA = null;
    for (const cp of cps) await cp.close({ force: true });
    await d.stop();
  }
}

for (const second of [false, true]) {
  test(`a charger that does not take its lower limit is counted at what it accepted: the others make room, and get it back once it answers (${second ? 'voltbras 1.6 and extrawest 2.0.1' : 'ocpp-rpc'} chargers)`,
    () => heldDecrease(second));
}

async function manager(webPort) {
  const base = `http://127.0.0.1:${webPort}`;
  const login = await fetch(`${base}/api/v1/login`, { method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ name: 'manager', password: 'manager-pass-1' }) });
  assert.equal(login.status, 200);
  const cookie = login.headers.get('set-cookie').split(';')[0];
  return async (id) => (await fetch(`${base}/api/v1/chargers/${id}`, { headers: { Cookie: cookie } })).json();
}

function webWithManager(webPort) {
  const r = runSync(AMPGATECTL, ['passwd'], { input: 'manager-pass-1\n' });
  assert.equal(r.status, 0, r.stderr);
  return `listen = "127.0.0.1:${webPort}"; users = ( { name = "manager"; password_hash = "${r.stdout.trim()}"; role = "manager"; } );`;
}

test('after an ampgated restart, chargers that reconnect without booting get their limit and meter settings, and their model is restored', async () => {
  const dir = tmpDir('ampgate-profiles-');
  const webPort = await freePort();
  const web = webWithManager(webPort);
  const chargers = [{ id: 'R16' }, { id: 'R201' }];
  let { d, port, url } = await edge(dir, { chargers, web });
  let cps = [];
  try {
    // Before the restart: R16 has a fault on connector 1 and a session on connector 2; R201 a session.
    const r16 = await station(url, 'R16', 'ocpp1.6');
    const r201 = await station(url, 'R201', 'ocpp2.0.1');
    cps = [r16, r201];
    await r16.call('BootNotification', bootPayload('ocpp1.6'));
    await r16.call('StatusNotification', { connectorId: 1, errorCode: 'GroundFailure', status: 'Faulted', vendorErrorCode: 'E42' });
    await r16.call('StatusNotification', { connectorId: 2, errorCode: 'NoError', status: 'Charging' });
    const tx16 = (await r16.call('StartTransaction', { connectorId: 2, idTag: 'TAG16', meterStart: 1000, timestamp: TS() })).transactionId;
    await charging(r201);
    await until(() => cps.every((cp) => cp.dynamic().length >= 1), { timeoutMs: 8000, what: 'profiles before the restart' });
    for (const cp of cps) await cp.close({ force: true });
    await d.stop();

    ({ d } = await edge(dir, { chargers, web, port }));
    // They reconnect without a BootNotification: R16 says nothing at all, R201 sends a Heartbeat.
    const t0 = Date.now();
    const again16 = await station(url, 'R16', 'ocpp1.6');
    const again201 = await station(url, 'R201', 'ocpp2.0.1');
    cps = [again16, again201];
    await again201.call('Heartbeat', {});
    for (const cp of cps) {
      await until(() => cp.stamped.some((s) => s.id === 917000001) && cp.dynamic().length >= 1 &&
        cp.received.some((r) => r.method === (v16(cp.protocol) ? 'ChangeConfiguration' : 'SetVariables')),
      { timeoutMs: 12000, what: `${cp.identity}: base and dynamic profiles and meter settings without a boot` });
    }
    assert.ok(again201.dynamic()[0].at - t0 < 4000, 'R201 (it sent a CALL): at once');
    const get = await manager(webPort);
    const s16 = await get('R16');
    const s201 = await get('R201');
    assert.notEqual(s16.limit.sent_a, null, 'R16: the page shows a limit that was sent');
    assert.notEqual(s201.limit.sent_a, null, 'R201: the page shows a limit that was sent');
    assert.deepEqual(s16.connectors.find((c) => c.id === 1), { id: 1, status: 'Faulted', error_code: 'GroundFailure' });
    assert.equal(s16.connectors.find((c) => c.id === 2)?.status, 'Charging');
    assert.deepEqual(s16.transactions.map((t) => t.id), [String(tx16)]);
    assert.deepEqual(s201.transactions.map((t) => t.id), [r201.tx]);
    assert.equal(s16.health, 'faulted', 'the fault survives the restart');
  } finally {
    for (const cp of cps) await cp.close({ force: true });
    await d.stop();
  }
});

test('stale sessions: Available with no transaction, or a reboot without resuming, closes the edge\'s record with a reason', async () => {
  const dir = tmpDir('ampgate-profiles-');
  const { d, url } = await edge(dir, { chargers: [{ id: 'T16' }, { id: 'T201' }, { id: 'K16' }] });
  const db = path.join(dir, 'a.db');
  const open = (id) => sql(db, `SELECT count(*) FROM transactions WHERE charger_id = '${id}' AND stop_ms IS NULL`);
  const reasons = (id) => sql(db, `SELECT tx_id || ':' || coalesce(stop_reason, '-') FROM transactions WHERE charger_id = '${id}' ORDER BY start_ms`);
  const cps = [];
  try {
    const [t16, t201, k16] = [await station(url, 'T16', 'ocpp1.6'), await station(url, 'T201', 'ocpp2.0.1'), await station(url, 'K16', 'ocpp1.6')];
    cps.push(t16, t201, k16);
    for (const cp of cps) await charging(cp);
    assert.equal(open('T16'), '1');
    // T16 and T201 restart: a new BootNotification, then the connector is Available (1.6) or
    // Available on EVSE 1 (2.0.1); the sessions they never stopped are over.
    await t16.call('BootNotification', bootPayload('ocpp1.6'));
    await t16.call('StatusNotification', { connectorId: 1, errorCode: 'NoError', status: 'Available' });
    await t201.call('BootNotification', bootPayload('ocpp2.0.1'));
    await t201.call('StatusNotification', { timestamp: TS(), connectorStatus: 'Available', evseId: 1, connectorId: 1 });
    // K16 restarts too but resumes its session: it stays open.
    await k16.call('BootNotification', bootPayload('ocpp1.6'));
    await k16.call('StatusNotification', { connectorId: 1, errorCode: 'NoError', status: 'Charging' });
    await until(() => open('T16') === '0' && open('T201') === '0', { timeoutMs: 3000, what: 'T16 and T201 sessions closed' });
    assert.equal(reasons('T16'), `${t16.tx}:connector Available with no transaction`);
    assert.equal(reasons('T201'), `${t201.tx}:connector Available with no transaction`);
    assert.equal(open('K16'), '1', 'a resumed session stays open');
    // A reboot whose connector comes back Faulted: the session did not resume.
    await k16.call('BootNotification', bootPayload('ocpp1.6'));
    await k16.call('StatusNotification', { connectorId: 1, errorCode: 'PowerMeterFailure', status: 'Faulted' });
    await until(() => open('K16') === '0', { timeoutMs: 3000, what: 'K16 session closed' });
    assert.equal(reasons('K16'), `${k16.tx}:charger restarted and did not resume the session`);
    // Its StopTransaction, queued in the charger, still brings the energy in.
    await k16.call('StopTransaction', { transactionId: k16.tx, meterStop: 4500, timestamp: TS(), reason: 'Reboot' });
    assert.equal(sql(db, `SELECT energy_wh || ':' || stop_reason FROM transactions WHERE charger_id = 'K16'`), '4500.0:stopped');
  } finally {
    for (const cp of cps) await cp.close({ force: true });
    await d.stop();
  }
});

test('a CSMS limit in watts is converted at the site\'s voltage (site.voltage_v), not a fixed 230 V', async () => {
  const dir = tmpDir('ampgate-profiles-');
  const csms = await startCsms({ passwords: { S16: PW } });
  const { d, url } = await edge(dir, {
    chargers: [{ id: 'S16' }],
    site: 'voltage_v = 120.0;',
    upstream: `upstream = { url = "${csms.url}"; security_profile = 1; credentials = "forward"; call_timeout_s = 5;
  reconnect_min_ms = 200; reconnect_max_ms = 1000; };`,
  });
  let cp;
  try {
    cp = await station(url, 'S16', 'ocpp1.6');
    await charging(cp);
    await until(() => cp.dynamic().at(-1)?.limit === 32 && csms.clients.has(cp.identity), { timeoutMs: 8000, what: '32 A profile' });
    const before = cp.dynamic().length;
    // 7200 W on 3 phases at 120 V is 20 A (at 230 V it would be 10.4 A).
    const r = await csms.clients.get(cp.identity).call('SetChargingProfile', { connectorId: 0, csChargingProfiles: {
      chargingProfileId: 78, stackLevel: 3, chargingProfilePurpose: 'ChargePointMaxProfile', chargingProfileKind: 'Relative',
      chargingSchedule: { chargingRateUnit: 'W', chargingSchedulePeriod: [{ startPeriod: 0, limit: 7200 }] } } });
    assert.equal(r.status, 'Accepted');
    await until(() => cp.dynamic().length > before, { timeoutMs: 3000, what: 'the edge\'s profile under the CSMS limit' });
    assert.equal(cp.dynamic().at(-1).limit, 20);
  } finally {
    await cp?.close({ force: true });
    await d.stop();
    await csms.close();
  }
});
