// `deadline` on the real daemon with single-phase cars on 3-phase chargers (policies/deadline.c):
// an EV that has just plugged in is started at its minimum until its meter values show the phase
// it draws on, so it is then counted on that phase alone. Two strict ocpp-rpc 2.0.1 chargers share
// a 36 A connection (34 A after the margin). Charger A (wired L1-L2-L3) holds a car that is late
// for its departure: 32 A on L1. Charger B (wired L2-L3-L1) gets a single-phase car with hours to
// spare. Counted on all three phases, B's car would wait for good (L1 has 2 A left, under its 6 A
// minimum) while L2 and L3 stand idle; started at 6 A, it shows L2 and takes its 32 A there.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { Daemon, freePort, tmpDir } from '../lib/daemon.js';
import { TS, until } from '../lib/ocpp.js';
import { bootStation, startSession } from '../lib/plug-in.js';

const PW = 'deadline-phases-pass-1';
const V = 230;

// A single-phase car on charger phase L1: it draws its limit (0 under 6 A) 300 ms after each new
// one, and the charger reports its current per phase and its power every 2 s.
function singlePhaseCar(cp) {
  let draw = 0;
  let seen = NaN;
  const timers = [];
  const sample = () => cp.call('MeterValues', { evseId: 1, meterValue: [{ timestamp: TS(), sampledValue: [
    ...['L1', 'L2', 'L3'].map((phase) => ({ value: phase === 'L1' ? draw : 0, measurand: 'Current.Import', phase })),
    { value: draw * V, measurand: 'Power.Active.Import' }] }] }).catch(() => {});
  timers.push(setInterval(() => {
    const l = cp.limit();
    if (l === seen || Number.isNaN(l)) return;
    seen = l;
    timers.push(setTimeout(() => { draw = l >= 6 ? l : 0; }, 300));
  }, 50));
  sample();
  timers.push(setInterval(sample, 2000));
  return { stop: () => timers.forEach((t) => { clearInterval(t); clearTimeout(t); }), draw: () => draw };
}

const needs = (cp, departure, wh) => cp.call('NotifyEVChargingNeeds', { evseId: 1, chargingNeeds: {
  requestedEnergyTransfer: 'AC_single_phase', departureTime: departure.toISOString(),
  acChargingParameters: { energyAmount: wh, evMinCurrent: 6, evMaxCurrent: 32, evMaxVoltage: 230 } } });

test('deadline: a single-phase car that has just plugged in shows its phase at 6 A and takes its share there', async () => {
  const dir = tmpDir('ampgate-deadline-phases-');
  const port = await freePort();
  fs.writeFileSync(path.join(dir, 'a.conf'), `site = { name = "deadline-phases"; policy = "deadline"; margin_a = 2.0;
  control_period_ms = 500; grid = { limit_a = [36.0, 36.0, 36.0]; }; };
chargers = ( { id = "A"; phases = 3; password = "${PW}"; },
             { id = "B"; phases = 3; rotation = "L2L3L1"; password = "${PW}"; } );
ocpp = { listen = "127.0.0.1:${port}"; meter_interval_s = 2; };
web = { listen = "127.0.0.1:1"; };
storage = { path = "${dir}/a.db"; };
`);
  const d = new Daemon(path.join(dir, 'a.conf'));
  await d.start();
  const cars = [];
  let cps = {};
  try {
    // Both chargers online (one offline would be counted at its fallback current), A's EV first.
    for (const id of ['A', 'B']) cps[id] = await bootStation(`ws://127.0.0.1:${port}/ocpp`, id, 'ocpp2.0.1', PW);
    await cps.B.call('StatusNotification', { timestamp: TS(), connectorStatus: 'Available', evseId: 1, connectorId: 1 });
    await startSession(cps.A, 'ocpp2.0.1', 'tx-phases-a');
    cars.push(singlePhaseCar(cps.A));
    // A leaves in an hour and wants 40 kWh: 5.4 h at 32 A on one phase, late already.
    assert.equal((await needs(cps.A, new Date(Date.now() + 3600e3), 40000)).status, 'Accepted');
    await until(() => cps.A.limit() === 32 && cars[0].draw() === 32, { timeoutMs: 15000, what: 'A at 32 A' });

    await startSession(cps.B, 'ocpp2.0.1', 'tx-phases-b');
    cars.push(singlePhaseCar(cps.B));
    // B leaves in 8 h and wants 10 kWh: plenty of laxity, A goes first.
    assert.equal((await needs(cps.B, new Date(Date.now() + 8 * 3600e3), 10000)).status, 'Accepted');
    const limitsB = [];
    const watch = setInterval(() => { const l = cps.B.limit(); if (!Number.isNaN(l) && limitsB.at(-1) !== l) limitsB.push(l); }, 25);
    try {
      await until(() => cps.A.limit() === 32 && cps.B.limit() === 32, { timeoutMs: 30000,
        what: `A and B at 32 A, each on its own phase (have A ${cps.A.limit()}, B ${cps.B.limit()}; B's limits [${limitsB}])` });
    } finally {
      clearInterval(watch);
    }
    console.log(`B's limits: [${limitsB.join(', ')}]`);
    assert.ok(limitsB.includes(6), `B at its minimum while it showed its phase: [${limitsB}]`);
    // Once started it is not paused again while it shows its phase (it was: 6, 0, 6, 0 A ...).
    assert.ok(limitsB.slice(limitsB.findIndex((l) => l > 0)).every((l) => l > 0), `B never paused once started: [${limitsB}]`);
  } catch (e) {
    console.log(d.log.split('\n').slice(-40).join('\n'));
    throw e;
  } finally {
    cars.forEach((c) => c.stop());
    for (const cp of Object.values(cps)) await cp.close({ force: true });
    await d.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
