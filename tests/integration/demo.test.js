// `make demo` on a fresh machine: the simulated depot (Modbus grid meter that sees the EVs, forty
// OCPP chargers, the daemon between them) comes up and the 250 A / 170 kW connection binds, so
// the daemon's summary line shows one limit shared by many chargers, and the grid stays under it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { ROOT } from '../lib/daemon.js';

test('make demo: forty chargers share a binding grid limit', { timeout: 90000 }, async () => {
  const proc = spawn('make', ['-s', '-C', ROOT, 'demo', 'DEMO_ARGS=--duration-s 25'], { stdio: ['ignore', 'pipe', 'pipe'] });
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
  const grid = last[2].split('/').map(Number);
  const limit = last[3].split('/').map(Number);
  grid.forEach((a, p) => assert.ok(a <= limit[p], `grid L${p + 1} ${a} A within ${limit[p]} A`));
  assert.doesNotMatch(out, /errors [1-9]/, 'the fleet saw no call errors');
});
