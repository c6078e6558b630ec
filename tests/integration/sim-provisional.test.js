// `make demo` runs without a CSMS: the edge answers StartTransaction itself with a provisional
// (negative) 1.6 transaction id. Any integer is a valid transactionId; only idTagInfo.status says
// whether the start was refused. The simulated 1.6 chargers must charge under such an id (issue 17.9:
// they took a negative id as a refusal and sat in Finishing with 0 Wh while the page said charging).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { AMPGATE_SIM, Daemon, assertNoSanitizerReport, freePort, scaled, siteConfig, sql, tmpDir } from '../lib/daemon.js';

test('no CSMS: simulated 1.6 chargers charge under the edge\'s provisional transaction ids', { timeout: 60000 }, async (t) => {
  const dir = tmpDir('ampgate-simprov-');
  const ocppPort = await freePort();
  const chargers = [1, 2, 3].map((i) => `{ id = "SIM000${i}"; max_a = 32.0; password = "sim-password-000${i}"; }`).join(',\n  ');
  const conf = path.join(dir, 'ampgate.conf');
  fs.writeFileSync(conf, siteConfig({ dir, ocppPort, webPort: await freePort(), extra: `chargers = (\n  ${chargers}\n);` }));
  const daemon = new Daemon(conf);
  await daemon.start();
  t.after(() => daemon.stop());

  const report = path.join(dir, 'report.json');
  const sim = spawn(AMPGATE_SIM, ['chargers', '--url', `ws://127.0.0.1:${ocppPort}/ocpp`, '--count', '3', '--protocol', 'ocpp1.6',
    '--password-template', 'sim-password-%04d', '--seed', '3', '--ev-at-start', '1', '--meter-interval-s', '1',
    '--reaction-delay-ms', '200', '--duration-s', '8', '--summary-s', '4', '--report-json', report], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  sim.stdout.on('data', (c) => { log += c; });
  sim.stderr.on('data', (c) => { log += c; });
  const timer = setTimeout(() => sim.kill('SIGKILL'), scaled(30000));
  const code = await new Promise((resolve) => sim.on('close', resolve));
  clearTimeout(timer);
  assertNoSanitizerReport(log, 'ampgate-sim chargers');
  assert.equal(code, 0, log);
  const r = JSON.parse(fs.readFileSync(report, 'utf8'));
  // The edge handed out provisional ids (no CSMS) and the stations charged under them.
  const ids = sql(path.join(dir, 'ampgate.db'), 'SELECT tx_id FROM transactions').split('\n').filter(Boolean);
  assert.ok(ids.length >= 3 && ids.every((id) => Number(id) < 0), `provisional ids at the edge: ${ids}`);
  assert.ok(r.charging >= 3, `stations charging at the end: ${r.charging}\n${log}`);
  assert.ok(r.energy_kwh > 0, `energy delivered: ${r.energy_kwh} kWh`);
  assert.equal(r.all.error, 0, JSON.stringify(r.calls));
});
