// ampgate-sim replay's yardsticks from the command line: the edf/llf references on every replay,
// --optimum beside each policy with its gap, a workplace day, and noise that changes what the
// policies are told but not what is requested.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { AMPGATE_SIM, runSync, tmpDir } from '../lib/daemon.js';

function site(dir, gridA) {
  const list = Array.from({ length: 8 }, (_, i) =>
    `{ id = "Y${i + 1}"; ${i % 4 === 3 ? `phases = 1; rotation = "L${(i % 3) + 1}";` : "phases = 3;"} max_a = 32.0; password = "yardstick-password-${i + 1}"; }`).join(',\n  ');
  const file = path.join(dir, 'site.conf');
  fs.writeFileSync(file, `site = { name = "yardsticks"; margin_a = 2.0; policy = "fair";
  grid = { limit_a = [${gridA}.0, ${gridA}.0, ${gridA}.0]; limit_kw = ${Math.round(gridA * 0.69)}.0; }; };
chargers = (\n  ${list}\n);
ocpp = { listen = "127.0.0.1:1"; };
web = { listen = "127.0.0.1:1"; };
storage = { path = "${dir}/a.db"; };
`);
  return file;
}

test('a workplace day: references and the optimum beside every policy, each below the optimum', (t) => {
  const dir = tmpDir('ampgate-yard-');
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const conf = site(dir, 60);
  const day = path.join(dir, 'day.csv');
  let r = runSync(AMPGATE_SIM, ['replay', '-c', conf, '--generate', '24', '--day', 'workplace', '--seed', '4', '--out', day]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(fs.readFileSync(day, 'utf8'), /^# A generated workplace day/);
  const json = path.join(dir, 'r.json');
  r = runSync(AMPGATE_SIM, ['replay', '-c', conf, '--sessions', day, '--policy', 'fair,deadline', '--optimum',
    '--report-json', json]);
  assert.equal(r.status, 0, r.stderr);
  const rep = JSON.parse(fs.readFileSync(json, 'utf8'));
  assert.deepEqual(rep.runs.map((x) => x.policy), ['fair', 'deadline']);
  assert.deepEqual(rep.references.map((x) => x.policy), ['edf', 'llf']);
  const opt = rep.optimum;
  assert.ok(opt.delivered_pct > 0 && opt.delivered_pct <= 100 + 1e-9);
  assert.ok(opt.variables > 0 && opt.intervals > 0);
  const all = [...rep.runs.map((x) => ({ policy: x.policy, pct: x.energy.delivered_pct })),
    ...rep.references.map((x) => ({ policy: x.policy, pct: x.delivered_pct, gap: x.gap_pct_points }))];
  for (const x of all) assert.ok(x.pct <= opt.delivered_pct + 1e-6, `${x.policy} ${x.pct} above the optimum ${opt.delivered_pct}`);
  for (const g of opt.policies) {
    const run = rep.runs.find((x) => x.policy === g.policy);
    assert.ok(Math.abs(opt.delivered_pct - run.energy.delivered_pct - g.gap_pct_points) < 1e-6);
  }
  const llf = rep.references.find((x) => x.policy === 'llf');
  assert.ok(rep.runs[1].energy.delivered_kwh >= llf.delivered_kwh - 1e-6, 'deadline at least llf');
  for (const x of rep.references) assert.equal(x.violations, 0);
  assert.match(r.stdout, /\n {2}edf\* +[\d.]+ +[\d.]+% /);
  assert.match(r.stdout, /\n {2}llf\* +[\d.]+ +[\d.]+% /);
  assert.match(r.stdout, /\n {2}optimum +[\d.]+ +[\d.]+% +\(no allocation can deliver more/);
});

test('noise: what the policy is told changes, the request does not; bad values refused', (t) => {
  const dir = tmpDir('ampgate-yard-');
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const conf = site(dir, 40);
  const day = path.join(dir, 'day.csv');
  let r = runSync(AMPGATE_SIM, ['replay', '-c', conf, '--generate', '30', '--seed', '2', '--out', day]);
  assert.equal(r.status, 0, r.stderr);
  const runs = [[], ['--departure-noise-s', '3600', '--energy-noise-pct', '20', '--seed', '9']].map((extra, i) => {
    const json = path.join(dir, `r${i}.json`);
    const x = runSync(AMPGATE_SIM, ['replay', '-c', conf, '--sessions', day, '--policy', 'deadline', '-q',
      '--report-json', json, ...extra]);
    assert.equal(x.status, 0, x.stderr);
    return JSON.parse(fs.readFileSync(json, 'utf8'));
  });
  assert.equal(runs[1].energy.requested_kwh, runs[0].energy.requested_kwh);
  assert.deepEqual(runs[1].per_session.map((s) => [s.charger, s.arrival_ms, s.departure_ms, s.requested_kwh]),
    runs[0].per_session.map((s) => [s.charger, s.arrival_ms, s.departure_ms, s.requested_kwh]));
  assert.notDeepEqual(runs[1].per_session.map((s) => s.delivered_kwh), runs[0].per_session.map((s) => s.delivered_kwh));
  r = runSync(AMPGATE_SIM, ['replay', '-c', conf, '--sessions', day, '--energy-noise-pct', '150']);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /--energy-noise-pct 150: percent, 0 \.\. 100/);
  r = runSync(AMPGATE_SIM, ['replay', '-c', conf, '--generate', '5', '--day', 'harbour']);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /--day harbour: depot or workplace/);
});

// --ev-max-told: each session's own maximum reaches the policies as a 2.0.1 EV's evMaxCurrent
// reaches the daemon. Two 32 A chargers share 40 A (38 after the margin); the car on X1 takes at
// most 10 A. Without EV feedback and untold, fair offers 19 A each and X1's unused 9 A are lost
// to X2; told, X2 gets the 28 A X1 cannot take.
test('--ev-max-told: a car\'s own maximum is offered to it and the rest to the others', (t) => {
  const dir = tmpDir('ampgate-yard-');
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const conf = path.join(dir, 'site.conf');
  fs.writeFileSync(conf, `site = { name = "evmax"; margin_a = 2.0; policy = "fair";
  grid = { limit_a = [40.0, 40.0, 40.0]; }; };
chargers = ( { id = "X1"; phases = 1; rotation = "L1"; max_a = 32.0; password = "evmax-password-1"; },
             { id = "X2"; phases = 1; rotation = "L1"; max_a = 32.0; password = "evmax-password-2"; } );
ocpp = { listen = "127.0.0.1:1"; };
web = { listen = "127.0.0.1:1"; };
storage = { path = "${dir}/a.db"; };
`);
  const day = path.join(dir, 'day.csv');
  fs.writeFileSync(day, 'charger,arrival,departure,energy_kwh,max_a,phases\n' +
    'X1,2024-05-01T08:00:00Z,2024-05-01T10:00:00Z,30,10,1\nX2,2024-05-01T08:00:00Z,2024-05-01T10:00:00Z,30,32,1\n');
  const [untold, told] = [[], ['--ev-max-told']].map((extra, i) => {
    const json = path.join(dir, `r${i}.json`);
    const x = runSync(AMPGATE_SIM, ['replay', '-c', conf, '--sessions', day, '--no-ev-feedback', '-q', '--report-json', json, ...extra]);
    assert.equal(x.status, 0, x.stderr);
    return JSON.parse(fs.readFileSync(json, 'utf8')).per_session;
  });
  // 2 h at 230 V: X1 draws its 10 A either way (4.6 kWh); X2 19 A untold (8.7 kWh), 28 A told (12.9 kWh).
  assert.ok(Math.abs(untold[0].delivered_kwh - 4.6) < 0.1 && Math.abs(told[0].delivered_kwh - 4.6) < 0.1, JSON.stringify([untold[0], told[0]]));
  assert.ok(Math.abs(untold[1].delivered_kwh - 8.74) < 0.1, JSON.stringify(untold[1]));
  assert.ok(Math.abs(told[1].delivered_kwh - 12.88) < 0.1, JSON.stringify(told[1]));
});
