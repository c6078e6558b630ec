// `make demo` on a fresh machine: the simulated depot (Modbus grid meter that sees the EVs, forty
// OCPP chargers, the daemon between them) comes up and the 250 A / 170 kW connection binds, so
// the daemon's summary line shows one limit shared by many chargers, and the grid stays under it
// (an overshoot of one reading is corrected by the next).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { ROOT, freePort } from '../lib/daemon.js';

test('make demo: forty chargers share a binding grid limit', { timeout: 90000 }, async () => {
  // Free ports, so a demo or a daemon already running on this machine cannot get in the way.
  const ports = [`DEMO_OCPP_PORT=${await freePort()}`, `DEMO_WEB_PORT=${await freePort()}`, `DEMO_MODBUS_PORT=${await freePort()}`];
  const proc = spawn('make', ['-s', '-C', ROOT, 'demo', 'DEMO_ARGS=--duration-s 25', ...ports], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  proc.stdout.on('data', (d) => { out += d; });
  proc.stderr.on('data', (d) => { out += d; });
  const code = await new Promise((resolve) => proc.on('exit', resolve));
  assert.equal(code, 0, out.slice(-3000));
  assert.match(out, /all 40 stations booted/);
  const shared = [...out.matchAll(/site: 40 chargers, (\d+) with an EV; grid ([\d/]+) A of ([\d/]+) A.*bound by (grid|feeder-[ab]) (L[123]|kW): (\d+) chargers at ([\d.]+) A/g)];
  assert.ok(shared.length > 0, `no binding limit in the log:\n${out.slice(-3000)}`);
  const last = shared.at(-1);
  assert.ok(Number(last[6]) >= 10, `a limit shared by ${last[6]} chargers`);
  // The grid stays under its limit. A single reading may pass it by a little: the simulated
  // building and PV move by a few amps between two polls of the meter (drivers/sim.c), more than
  // the 2 A margin. So: no summary more than 2 % (5 A) over, and no two summaries in a row over
  // (they are at least 10 s apart, site.c; a 25 s demo logs only a few, so this is a bound on a
  // lasting overload, not a proof that each one is corrected at the next solve).
  const over = shared.map((m) => {
    const grid = m[2].split('/').map(Number);
    const limit = m[3].split('/').map(Number);
    return { line: m[0], by: Math.max(...grid.map((a, p) => a - limit[p])) };
  });
  over.forEach((o) => assert.ok(o.by <= 5, `the grid more than 5 A over its limit: ${o.line}`));
  over.slice(1).forEach((o, i) => assert.ok(o.by <= 0 || over[i].by <= 0, `the grid over its limit in two summaries in a row:\n${over[i].line}\n${o.line}`));
  assert.doesNotMatch(out, /errors [1-9]/, 'the fleet saw no call errors');
});
