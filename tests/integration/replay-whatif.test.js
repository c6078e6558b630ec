// ampgate-sim replay's storage what-if from the command line: a day computed by hand (one EV
// drawing 40.02 kW flat for an hour) replayed with a 20 kW / 50 kWh battery held at 30 kW and
// with 10 kW of PV from a modbus-format profile; the report in text and JSON, the flags in
// --help, and wrong combinations refused with exit code 2.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { AMPGATE_SIM, runSync, tmpDir } from '../lib/daemon.js';

function files(dir) {
  const conf = path.join(dir, 'site.conf');
  fs.writeFileSync(conf, `site = { name = "whatif"; voltage_v = 230.0; control_period_ms = 1000; margin_a = 0.0;
  policy = "fair"; grid = { limit_a = [200.0, 200.0, 200.0]; }; };
chargers = ( { id = "CP1"; phases = 3; min_a = 6.0; max_a = 58.0; password = "whatif-7Kq2mZ9vXw4pLr8T"; } );
ocpp = { listen = "127.0.0.1:1"; };
web = { listen = "127.0.0.1:1"; };
storage = { path = "${dir}/a.db"; };
`, { mode: 0o600 });
  const day = path.join(dir, 'day.csv');
  fs.writeFileSync(day, 'charger,arrival,departure,energy_kwh,max_a,phases,battery_kwh,arrival_soc_pct\nCP1,10:00,11:00,45,58,3,500,10\n');
  const pv = path.join(dir, 'pv.txt');
  fs.writeFileSync(pv, '# seconds from 00:00 UTC, watts\n0 10000\n86400 10000\n');
  return { conf, day, pv };
}

test('a 20 kW / 50 kWh battery at a 30 kW target, then 10 kW of PV: the figures computed by hand, text and JSON', (t) => {
  const dir = tmpDir('ampgate-whatif-');
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const { conf, day, pv } = files(dir);
  const json = path.join(dir, 'r.json');
  let r = runSync(AMPGATE_SIM, ['replay', '-c', conf, '--sessions', day, '--battery-kwh', '50', '--battery-kw', '20',
    '--peak-kw', '30', '--report-json', json]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /a 50 kWh \/ 20 kW battery \(SoC 100 % at the start, reserve 20 %, 95 % efficient each way, recharge any\)/);
  assert.match(r.stdout, /peak target 30\.0 kW: as asked/);
  assert.match(r.stdout, /grid peak, 15-min mean +40\.0 +30\.0 +-10\.0 +kW/);
  assert.match(r.stdout, /battery discharged +0\.0 +10\.0 +\+10\.0 +kWh/);
  const w = JSON.parse(fs.readFileSync(json, 'utf8')).whatif;
  // The battery leads the EV's start in the same step (the solve's raise): 30.00 kW from the
  // first second, instantaneous peak included, 10.02 kW x 1 h discharged.
  assert.ok(Math.abs(w.with.demand_peak_kw - 30) < 1e-3, `${w.with.demand_peak_kw}`);
  assert.ok(Math.abs(w.with.grid_peak_kw - 30) < 1e-3, `${w.with.grid_peak_kw}`);
  assert.ok(Math.abs(w.without.demand_peak_kw - 40.02) < 1e-6);
  assert.ok(Math.abs(w.with.battery_discharged_kwh - 10.02) < 1e-3);
  assert.ok(Math.abs(w.battery.soc_end_pct - 100 * (50 - 10.02 / 0.95) / 50) < 0.01);
  assert.equal(w.with.ev_delivered_kwh.toFixed(2), '40.02');
  assert.equal(w.without.ev_delivered_kwh.toFixed(2), '40.02');
  assert.equal(w.with.violations, 0);
  assert.equal(w.battery.peak_target_auto, false);

  r = runSync(AMPGATE_SIM, ['replay', '-c', conf, '--sessions', day, '--pv', pv, '--report-json', json]);
  assert.equal(r.status, 0, r.stderr);
  const p = JSON.parse(fs.readFileSync(json, 'utf8')).whatif;
  assert.equal(p.battery, undefined);
  assert.ok(Math.abs(p.with.pv_kwh - 10) < 1e-6);
  assert.ok(Math.abs(p.with.grid_peak_kw - 30.02) < 1e-6);
  assert.ok(Math.abs(p.with.import_kwh - 30.02) < 1e-6);
  assert.match(r.stdout, /PV produced +0\.0 +10\.0 +\+10\.0 +kWh/);
});

test('--help names the what-if flags; a battery needs both sizes; a bad PV profile is refused with its line', (t) => {
  const dir = tmpDir('ampgate-whatif-');
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const { conf, day } = files(dir);
  const help = runSync(AMPGATE_SIM, ['replay', '--help']);
  assert.equal(help.status, 0);
  for (const flag of ['--battery-kwh E', '--battery-kw P', '--battery-soc-pct S', '--peak-kw K', '--recharge pv|any|off', '--pv FILE'])
    assert.ok(help.stdout.includes(flag), flag);
  let r = runSync(AMPGATE_SIM, ['replay', '-c', conf, '--sessions', day, '--battery-kwh', '50']);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /a what-if battery needs both --battery-kwh and --battery-kw/);
  r = runSync(AMPGATE_SIM, ['replay', '-c', conf, '--sessions', day, '--peak-kw', '30']);
  assert.equal(r.status, 2);
  const bad = path.join(dir, 'bad.txt');
  fs.writeFileSync(bad, '0 100\n10 oops\n');
  r = runSync(AMPGATE_SIM, ['replay', '-c', conf, '--sessions', day, '--pv', bad]);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /bad\.txt:2: want "SECONDS WATTS", seconds ascending/);
});
