// Profile churn benchmark (issue 17 item 1): how many SetChargingProfile calls the edge sends a
// charger per hour in a steady state. Four chargers on a 90 A feeder (22 A each), two 1.6 and two 2.0.1;
// one EV of each version draws a steady 16 A (EV-limited), the others take what they are given.
// After a warm-up, the edge's dynamic profiles (id 917000002) are counted for DURATION_S and
// scaled to an hour; the floor is one renewal per PROFILE_RENEW_S (60/h).
//
//   node bench/profiles.bench.js [OUT.json]     (from tests/, after `make`; `make bench` runs it)
import fs from 'node:fs';
import path from 'node:path';
import { Daemon, freePort, tmpDir } from '../lib/daemon.js';
import { bootPayload, connectStation, effectiveLimit, sleep, TS } from '../lib/ocpp.js';

const DURATION_S = Number(process.env.DURATION_S || 120);
const WARMUP_S = Number(process.env.WARMUP_S || 20);
const RENEW_S = 60; // the dynamic profile's renewal period (edge/site/profiles.c)
const out = process.argv[2] || path.join('..', 'build', 'bench', 'profiles.json');
const PW = 'bench-profiles-pw1';
const ids = [['P1', 'ocpp1.6', 16], ['P2', 'ocpp2.0.1', 16], ['P3', 'ocpp1.6', null], ['P4', 'ocpp2.0.1', null]];

const dir = tmpDir();
const port = await freePort();
fs.writeFileSync(path.join(dir, 'a.conf'), `site = { name = "bench"; margin_a = 2.0; control_period_ms = 1000;
  grid = { limit_a = [200.0, 200.0, 200.0]; }; circuits = ( { id = "feeder"; limit_a = [90.0, 90.0, 90.0]; } ); };
chargers = ( ${ids.map(([id]) => `{ id = "${id}"; circuit = "feeder"; max_a = 32.0; password = "${PW}"; }`).join(', ')} );
ocpp = { listen = "127.0.0.1:${port}"; };
web = { listen = "127.0.0.1:1"; };
storage = { path = "${dir}/a.db"; };
`);
const d = new Daemon(path.join(dir, 'a.conf'));
await d.start();
const cps = [];
let running = true;
try {
  for (const [id, protocol, amps] of ids) {
    const cp = await connectStation({ url: `ws://127.0.0.1:${port}/ocpp`, id, protocol, password: PW, handlers: {
      SetChargingProfile: (p) => { cp.profiles.push(p); cp.at.push(Date.now()); return { status: 'Accepted' }; } } });
    Object.assign(cp, { at: [], v16: protocol === 'ocpp1.6', amps, proto: protocol });
    await cp.call('BootNotification', bootPayload(protocol));
    await cp.call('StatusNotification', cp.v16 ? { connectorId: 1, errorCode: 'NoError', status: 'Charging' }
      : { timestamp: TS(), connectorStatus: 'Occupied', evseId: 1, connectorId: 1 });
    cps.push(cp);
  }
  const draw = (cp) => (cp.amps ?? Math.max(0, effectiveLimit(cp.profiles, cp.proto) - 0.5));
  const meters = (async () => {
    while (running) {
      for (const cp of cps) {
        const sv = ['L1', 'L2', 'L3'].map((phase) => (cp.v16 ? { value: draw(cp).toFixed(1), measurand: 'Current.Import', phase, unit: 'A' }
          : { value: Number(draw(cp).toFixed(1)), measurand: 'Current.Import', phase, unitOfMeasure: { unit: 'A' } }));
        await cp.call('MeterValues', cp.v16 ? { connectorId: 1, meterValue: [{ timestamp: TS(), sampledValue: sv }] }
          : { evseId: 1, meterValue: [{ timestamp: TS(), sampledValue: sv }] }).catch(() => {});
      }
      await sleep(5000);
    }
  })();
  await sleep(WARMUP_S * 1000);
  const from = Date.now();
  await sleep(DURATION_S * 1000);
  running = false;
  await meters;
  const dynamic = (cp) => cp.profiles.map((p, i) => ({ p: cp.v16 ? p.csChargingProfiles : p.chargingProfile, at: cp.at[i] }))
    .filter(({ p, at }) => (p.chargingProfileId ?? p.id) === 917000002 && at >= from).length;
  const perHour = cps.map((cp) => (dynamic(cp) * 3600) / DURATION_S);
  // "At most one profile per renewal period": the shortest gap between two dynamic profiles a
  // charger got in the steady state (the renewal timer may fire a little early or late).
  const gaps = cps.map((cp) => {
    const at = cp.profiles.map((p, i) => ({ p: cp.v16 ? p.csChargingProfiles : p.chargingProfile, at: cp.at[i] }))
      .filter(({ p, at: t }) => (p.chargingProfileId ?? p.id) === 917000002 && t >= from).map(({ at: t }) => t);
    return at.slice(1).map((t, i) => (t - at[i]) / 1000);
  });
  const result = {
    bench: 'profiles', duration_s: DURATION_S, renewal_floor_per_hour: 60,
    chargers: cps.map((cp, i) => ({ id: ids[i][0], protocol: ids[i][1], ev: cp.amps ? `steady ${cp.amps} A` : 'takes its share',
      limit_a: effectiveLimit(cp.profiles, cp.proto), profiles_per_hour: Math.round(perHour[i]),
      shortest_gap_s: gaps[i].length ? Math.min(...gaps[i]) : null })),
    max_profiles_per_charger_per_hour: Math.round(Math.max(...perHour)),
    shortest_gap_s: Math.min(...gaps.flat()),
  };
  result.target_met = result.shortest_gap_s >= 0.9 * RENEW_S;
  console.log('charger  protocol   EV               limit A  profiles/h');
  for (const c of result.chargers) console.log(`${c.id.padEnd(8)} ${c.protocol.padEnd(10)} ${c.ev.padEnd(16)} ${String(c.limit_a).padStart(7)}  ${String(c.profiles_per_hour).padStart(10)}`);
  console.log(`steady state over ${DURATION_S} s; renewal floor 60/h; worst charger ${result.max_profiles_per_charger_per_hour}/h; `
    + `shortest gap between two profiles ${result.shortest_gap_s} s (target: one per ${RENEW_S} s renewal: ${result.target_met ? 'met' : 'MISSED'})`);
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, JSON.stringify(result, null, 2));
  if (!result.target_met) process.exitCode = 1;
} finally {
  running = false;
  for (const cp of cps) await cp.close({ force: true });
  await d.stop();
}
