// ampgate-sim replay from the command line: a generated day under two policies (report, JSON,
// SVG, per-session CSV, exit codes), bad input refused with file:line, and sessions read from the
// transactions table of a database the real daemon wrote while strict OCPP 1.6 stations charged.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { AMPGATE_SIM, Daemon, freePort, runSync, tmpDir } from '../lib/daemon.js';
import { bootPayload, connectStation, TS } from '../lib/ocpp.js';

const PW = 'replay-password-01';

function site(dir, { chargers = 10, port = 1, gridA = 100 } = {}) {
  const list = Array.from({ length: chargers }, (_, i) =>
    `{ id = "R${String(i + 1).padStart(2, '0')}"; max_a = 32.0; password = "${PW}"; }`).join(',\n  ');
  const file = path.join(dir, 'site.conf');
  fs.writeFileSync(file, `site = { name = "replay-test"; margin_a = 2.0; policy = "fair";
  grid = { limit_a = [${gridA}.0, ${gridA}.0, ${gridA}.0]; };
  circuits = ( { id = "feeder"; limit_a = [80.0, 80.0, 80.0]; } ); };
chargers = (\n  ${list}\n);
ocpp = { listen = "127.0.0.1:${port}"; };
web = { listen = "127.0.0.1:1"; };
storage = { path = "${dir}/a.db"; };
`);
  return file;
}

test('a generated day of 200 sessions: fair vs deadline, 0 violations, the gain reported', (t) => {
  const dir = tmpDir('ampgate-replay-');
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const conf = site(dir);
  const day = path.join(dir, 'day.csv');
  let r = runSync(AMPGATE_SIM, ['replay', '-c', conf, '--generate', '200', '--seed', '3', '--out', day]);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(fs.readFileSync(day, 'utf8').split('\n').filter((l) => /^R\d\d,/.test(l)).length, 200);

  const json = path.join(dir, 'r.json');
  r = runSync(AMPGATE_SIM, ['replay', '-c', conf, '--sessions', day, '--policy', 'fair,deadline',
    '--report-json', json, '--svg', path.join(dir, 'r.svg'), '--sessions-out', path.join(dir, 'out.csv')]);
  assert.equal(r.status, 0, r.stderr);
  const rep = JSON.parse(fs.readFileSync(json, 'utf8'));
  assert.deepEqual(rep.runs.map((x) => x.policy), ['fair', 'deadline']);
  for (const run of rep.runs) {
    assert.equal(run.violations, 0);
    assert.equal(run.sessions.total, 200);
    assert.equal(run.per_session.length, 200);
    const sum = run.per_session.reduce((a, s) => a + s.delivered_kwh, 0);
    assert.ok(Math.abs(sum - run.energy.delivered_kwh) < 1e-6, 'per-session energy adds up to the total');
    assert.ok(run.energy.delivered_kwh <= run.energy.requested_kwh + 1e-9);
    for (const n of run.nodes) for (const p of n.phases) if (p.limit_a > 0) assert.ok(p.peak_a <= p.limit_a + 1e-6);
  }
  const gain = rep.runs[1].energy.delivered_kwh - rep.runs[0].energy.delivered_kwh;
  assert.ok(gain >= 0, `deadline delivers at least as much as fair (gain ${gain} kWh)`);
  if (gain > 0) {
    assert.equal(rep.comparison.best, 'deadline');
    assert.ok(Math.abs(rep.comparison.gain_kwh - gain) < 1e-6);
    assert.match(r.stdout, new RegExp(`deadline delivers ${gain.toFixed(1)} kWh more of the requested energy than fair`));
  }
  assert.match(r.stdout, /limit violations +0 /);
  assert.match(fs.readFileSync(path.join(dir, 'r.svg'), 'utf8'), /^<svg [^]*grid limit 100 A[^]*<\/svg>\n$/);
  assert.equal(fs.readFileSync(path.join(dir, 'out.csv'), 'utf8').trim().split('\n').length, 201);
});

test('bad input: exit 2, file:line: column: message, nothing replayed', (t) => {
  const dir = tmpDir('ampgate-replay-');
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const conf = site(dir);
  const bad = path.join(dir, 'bad.csv');
  fs.writeFileSync(bad, 'charger,arrival,departure,energy_kwh\nR01,08:00,09:00,ten\n');
  let r = runSync(AMPGATE_SIM, ['replay', '-c', conf, '--sessions', bad]);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /bad\.csv:2: energy_kwh: "ten": expected a number in 0 \.\. 10000/);
  assert.equal(r.stdout, '');
  r = runSync(AMPGATE_SIM, ['replay', '-c', conf, '--sessions', bad, '--policy', 'cheapest']);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /--policy cheapest: fair, priority, deadline, cost or plan/);
});

test("sessions from the daemon's own database: finished transactions replayed, open ones left out", async (t) => {
  const dir = tmpDir('ampgate-replay-');
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }));
  const port = await freePort();
  const conf = site(dir, { chargers: 2, port });
  const d = new Daemon(conf);
  await d.start();
  const url = `ws://127.0.0.1:${port}/ocpp`;
  try {
    const stations = [];
    for (const id of ['R01', 'R02']) {
      const cp = await connectStation({ url, id, protocol: 'ocpp1.6', password: PW });
      stations.push(cp);
      await cp.call('BootNotification', bootPayload('ocpp1.6'));
      const res = await cp.call('StartTransaction', { connectorId: 1, idTag: 'BUS-1', meterStart: 1000, timestamp: TS() });
      if (id === 'R01') {
        await new Promise((r) => setTimeout(r, 1200));
        await cp.call('StopTransaction', { transactionId: res.transactionId, meterStop: 13500, timestamp: TS() });
      }
      assert.deepEqual(cp.failures, []);
    }
    for (const cp of stations) await cp.close({ force: true });
  } finally {
    await d.stop();
  }
  const json = path.join(dir, 'db.json');
  const r = runSync(AMPGATE_SIM, ['replay', '-c', conf, '--sessions', path.join(dir, 'a.db'), '--report-json', json, '-q']);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /1 transaction\(s\) without a stop time left out/);
  const rep = JSON.parse(fs.readFileSync(json, 'utf8'));
  assert.equal(rep.sessions.total, 1);
  assert.equal(rep.per_session[0].charger, 'R01');
  assert.equal(rep.energy.requested_kwh, 12.5);
  assert.ok(rep.per_session[0].departure_ms - rep.per_session[0].arrival_ms >= 1000);
  assert.ok(rep.energy.delivered_kwh > 0 && rep.energy.delivered_kwh < 12.5, 'a 1 s plug-in cannot take 12.5 kWh');
  assert.equal(rep.violations, 0);
});
