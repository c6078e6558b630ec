// The edge's own charging profiles as chargers see them (issue 17): no flapping in a steady
// state, a stack level always above the CSMS's, limits and meter settings after a reconnect
// without BootNotification, and sessions closed when the charger says they are over.
// Peers: ocpp-rpc stations and CSMS in strict mode, the real daemon.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { Daemon, freePort, sql, tmpDir } from '../lib/daemon.js';
import { bootPayload, connectStation, effectiveLimit, sleep, startCsms, TS, until } from '../lib/ocpp.js';

const PW = 'profiles-password-1';
const DYNAMIC = 917000002;
const RENEW_S = 60; // PROFILE_RENEW_S

// chargers: [{ id, circuit }]; circuits: libconfig text.
async function edge(dir, { chargers, circuits = '', upstream = '', port = 0, web = '' }) {
  port = port || await freePort();
  fs.writeFileSync(path.join(dir, 'a.conf'), `site = { name = "profiles"; margin_a = 2.0; fallback_a = 6.0; control_period_ms = 1000;
  grid = { limit_a = [200.0, 200.0, 200.0]; };
  circuits = ( ${circuits} ); };
chargers = ( ${chargers.map((c) => `{ id = "${c.id}"; ${c.circuit ? `circuit = "${c.circuit}";` : ''} max_a = 32.0; password = "${PW}"; }`).join(',\n  ')} );
ocpp = { listen = "127.0.0.1:${port}"; call_timeout_s = 5; };
${upstream}
web = { listen = "${web || '127.0.0.1:1'}"; };
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
