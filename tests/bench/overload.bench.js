// Overload-to-wire benchmark (issues #6, #23): 1,000 chargers connected to ampgated, each with an EV
// and a limit; a pymodbus grid meter whose reading a script steps above the connection limit.
// Measured per round, from the daemon's log line for the overload reading (its wall-clock
// timestamp, ms):
// - to the wire: the kernel's timestamp of the last lowered SetChargingProfile leaving the daemon's
//   port, from a tcpdump capture on lo (tests/lib/wire.js; needs root). This is the figure.
// - to the receiver: when the last charger's process handled it. The chargers are bare `ws`
//   clients that only timestamp what arrives and answer Accepted (1,000 strict ocpp-rpc clients
//   validating every frame in one node process took longer than the daemon; the profiles' schema
//   validity is the integration tests' business), yet 1,000 frames arriving at once in one node
//   process still queue there, ~40 us each: this figure is the wire's plus that queue.
// - the daemon's own share, from its log line "overload answered: ... sent or queued X ms after
//   the solve that read it began".
//
// At a site the chargers are other machines; here they are 1,000 clients in this node process, which
// works ~40-100 ms through each round's frames while the daemon is still sending them. On a machine
// with two CPUs or more this process and its peers (pymodbus, tcpdump) keep to the last CPU and
// the daemon to the others (taskset), so that the chargers' work does not take the daemon's CPU
// mid-answer; overload.json says how the CPUs were shared.
//
//   node bench/overload.bench.js [OUT.json]     (from tests/, after `make`; `make bench` runs it)
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Daemon, freePort, tmpDir } from '../lib/daemon.js';
import WebSocket from 'ws';
import { until } from '../lib/ocpp.js';
import { pymodbusTcp } from '../lib/peers.js';
import { captureFrom } from '../lib/wire.js';

const N = Number(process.env.CHARGERS || 1000);
// Each round is a decrease followed by an increase: the edge takes that for a flapping limit and
// doubles the wait before the next increase (2 s, 4 s, ... up to PROFILE_RENEW_S = 60 s,
// edge/site/profiles.c), so round r waits up to min(60, 2^(r+1)) s to recover; 8 rounds take
// about 5 minutes.
const ROUNDS = Number(process.env.ROUNDS || 8);
const recoverMs = (r) => Math.min(60, 2 ** (r + 1)) * 1000 + 20000;
const LIMIT = 10000;          // per phase; room for every charger well above its minimum
const NORMAL = 1000;          // building load between rounds: every charger at 8.9 A
const OVER = 10050;           // above the limit: every charger must pause (+1 A each round)
const out = process.argv[2] || path.join('..', 'build', 'bench', 'overload.json');

// Every thread of `pid` (and what it starts later) on the CPUs `list` ("0-2", "3"); false if taskset failed.
const pin = (pid, list) => spawnSync('taskset', ['-a', '-p', '-c', list, String(pid)], { stdio: 'ignore' }).status === 0;
const last = os.cpus().length - 1;
const cpus = last > 0 && pin(process.pid, String(last))
  ? { chargers_modbus_tcpdump: String(last), ampgated: last > 1 ? `0-${last - 1}` : '0' } : { shared: true };

const dir = tmpDir();
const amps = path.join(dir, 'amps');
const setLoad = (a) => fs.writeFileSync(amps, `${a} ${a} ${a}`);
setLoad(NORMAL);
const peer = await pymodbusTcp(['--amps-file', amps]);
const port = await freePort();
const chargers = Array.from({ length: N }, (_, i) =>
  `{ id = "B${String(i).padStart(4, '0')}"; max_a = 32.0; password = "bench-password-${String(i).padStart(4, '0')}"; }`);
fs.writeFileSync(path.join(dir, 'a.conf'), `site = { name = "bench"; margin_a = 2.0; control_period_ms = 1000;
  grid = { meter = "grid"; limit_a = [${LIMIT}.0, ${LIMIT}.0, ${LIMIT}.0]; }; };
devices = ( { id = "grid"; driver = "sunspec"; role = "grid-meter"; modbus = "tcp://127.0.0.1:${peer.port}"; poll_ms = 100; } );
chargers = ( ${chargers.join(',\n')} );
ocpp = { listen = "127.0.0.1:${port}"; meter_interval_s = 0; };
web = { listen = "127.0.0.1:1"; };
storage = { path = "${dir}/a.db"; };
`);
const d = new Daemon(path.join(dir, 'a.conf'));
await d.start(20000);
if (!cpus.shared && !pin(d.proc.pid, cpus.ampgated))
  throw new Error(`taskset could not move ampgated (pid ${d.proc.pid}) to CPUs ${cpus.ampgated}`);
const capture = await captureFrom(port, dir);
const url = `ws://127.0.0.1:${port}/ocpp`;

// A station that speaks just enough OCPP-J: boot, status Charging, and Accepted to every CALL;
// it keeps the limit of the edge's dynamic profile (id 917000002) and when it arrived.
function station(i) {
  const n = String(i).padStart(4, '0');
  const v16 = i % 2 === 1;
  const auth = Buffer.from(`B${n}:bench-password-${n}`).toString('base64');
  const ws = new WebSocket(`${url}/B${n}`, [v16 ? 'ocpp1.6' : 'ocpp2.0.1'], { headers: { Authorization: `Basic ${auth}` } });
  const cp = { ws, limit: NaN, lastProfileAt: 0, pending: new Map(), seq: 0 };
  cp.call = (action, payload) => new Promise((resolve) => {
    const id = `b${cp.seq++}`;
    cp.pending.set(id, resolve);
    ws.send(JSON.stringify([2, id, action, payload]));
  });
  ws.on('message', (data) => {
    const at = Date.now();
    const m = JSON.parse(data);
    if (m[0] === 3) { cp.pending.get(m[1])?.(m[2]); cp.pending.delete(m[1]); return; }
    if (m[0] !== 2) return;
    let result = { status: 'Accepted' };
    if (m[2] === 'SetChargingProfile') {
      const prof = v16 ? m[3].csChargingProfiles : m[3].chargingProfile;
      if ((v16 ? prof.chargingProfileId : prof.id) === 917000002) {
        const sched = v16 ? prof.chargingSchedule : prof.chargingSchedule[0];
        cp.limit = sched.chargingSchedulePeriod[0].limit;
        cp.lastProfileAt = at;
      }
    } else if (m[2] === 'SetVariables') {
      result = { setVariableResult: m[3].setVariableData.map((d) => ({ attributeStatus: 'Accepted', component: d.component, variable: d.variable })) };
    }
    ws.send(JSON.stringify([3, m[1], result]));
  });
  return new Promise((resolve, reject) => {
    ws.on('error', reject);
    ws.on('open', async () => {
      await cp.call('BootNotification', v16 ? { chargePointVendor: 'Bench', chargePointModel: 'B' }
        : { reason: 'PowerUp', chargingStation: { vendorName: 'Bench', model: 'B' } });
      await cp.call('StatusNotification', v16 ? { connectorId: 1, errorCode: 'NoError', status: 'Charging' }
        : { timestamp: new Date().toISOString(), connectorStatus: 'Occupied', evseId: 1, connectorId: 1 });
      resolve(cp);
    });
  });
}

const cps = [];
const samples = [];
const firsts = [];
const sent = []; // the daemon's own share: its log line saying when the lowered profiles were sent
const windows = []; // per round: [overload line's time, the time every charger held 0 A], wall ms
// A failed round must not leave the daemon and the Modbus peer running.
const cleanup = async () => {
  for (const cp of cps) cp.ws.terminate();
  await d.stop();
  peer.proc.kill('SIGTERM');
  return capture?.stop();
};
try {
  for (let i = 0; i < N; i += 50)
    cps.push(...await Promise.all(Array.from({ length: Math.min(50, N - i) }, (_, k) => station(i + k))));
  const limit = (cp) => cp.limit;
  const all = (pred) => cps.every((cp) => pred(limit(cp)));
  await until(() => all((l) => l > 8), { timeoutMs: 60000, what: 'every charger above 8 A' });

  const logTime = (line) => {
    const m = line.match(/^(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d\.\d{3})/);
    return new Date(`${m[1]}T${m[2]}Z`).getTime();
  };
  for (let r = 0; r < ROUNDS; r++) {
    const before = d.log.length;
    // A reading of its own each round: the daemon writes a line repeated back to back only once
    // (edge/core/log.c folds repeats), so the same overload every round left rounds 2.. without
    // their line.
    setLoad(OVER + r);
    await until(() => all((l) => l === 0), { timeoutMs: 10000, what: `round ${r}: every charger paused` });
    // The chargers' profiles and the daemon's stderr come over different pipes: the log line
    // (written before the profiles go out) may reach this process after the last profile, so
    // wait for it rather than look once.
    const overloadLine = () => d.log.slice(before).split('\n').find((l) => /reads .* above its .* limit: lowering chargers now/.test(l));
    const line = await until(overloadLine, { timeoutMs: 5000, what: `round ${r}: the overload line in the daemon's log` });
    windows.push([logTime(line), Date.now()]);
    samples.push(Math.max(...cps.map((cp) => cp.lastProfileAt)) - logTime(line));
    firsts.push(Math.min(...cps.map((cp) => cp.lastProfileAt)) - logTime(line));
    const answered = await until(() => /overload answered: (\d+) chargers lowered, their profiles sent or queued ([\d.]+) ms/
      .exec(d.log.slice(before)), { timeoutMs: 5000, what: `round ${r}: the daemon's overload-answered line` });
    sent.push(Number(answered[2]));
    setLoad(NORMAL);
    await until(() => all((l) => l > 8), { timeoutMs: recoverMs(r), what: `round ${r}: recovered` });
  }
} catch (err) {
  // Which limits the chargers hold, and the daemon's last lines, say why a round did not end.
  const held = {};
  for (const cp of cps) held[cp.limit] = (held[cp.limit] ?? 0) + 1;
  console.error(`chargers by limit held: ${JSON.stringify(held)}\n${d.log.split('\n').slice(-15).join('\n')}`);
  await cleanup();
  throw err;
}
const captured = await cleanup();
// Per round, the lowered profiles (the edge's dynamic profile id at 0 A) that left the daemon's
// port between the overload line and the moment every charger held 0 A: one per charger.
const lowered = /"(?:chargingProfileId|id)":917000002,.*"limit":0(?:\.0+)?\}/;
const wire = windows.map(([t0, t1]) => {
  const ps = (captured?.packets ?? []).filter((p) => p.t_ms >= t0 && p.t_ms <= t1 && lowered.test(p.payload.toString('latin1')));
  return { ms: ps.length ? Math.max(...ps.map((p) => p.t_ms)) - t0 : NaN, chargers: new Set(ps.map((p) => p.dstPort)).size };
});
// The figure stands only if the capture saw every charger's lowered profile in every round.
const wireWhole = captured && captured.dropped === 0 && wire.every((w) => w.chargers === N);
const wireMs = wire.map((w) => Math.round(w.ms * 1000) / 1000);
// Round by round, before sorting: a wire time well above the daemon's share is a profile that
// waited behind a call in flight to that charger (one CALL at a time, docs/ARCHITECTURE.md).
const rounds = wireMs.map((ms, r) => ({ wire_ms: ms, daemon_sent_ms: sent[r], receiver_ms: samples[r] }));
wireMs.sort((a, b) => a - b);
samples.sort((a, b) => a - b);
sent.sort((a, b) => a - b);
const pctOf = (xs, p) => xs[Math.min(xs.length - 1, Math.ceil((p / 100) * xs.length) - 1)];
const pct = (p) => pctOf(samples, p);
const res = { chargers: N, rounds: ROUNDS, target_p99_ms: 25, cpus,
  overload_to_wire_ms: wireWhole ? { p50: pctOf(wireMs, 50), p99: pctOf(wireMs, 99), max: wireMs.at(-1), samples: wireMs }
    : { missing: captured ? `the capture saw ${wire.map((w) => w.chargers).join('/')} of ${N} chargers' profiles per round, `
      + `${captured.dropped} packets dropped` : 'no capture (tcpdump not installed, or not root)' },
  // When the last charger's process handled its frame: the wire's figure plus that process's queue.
  overload_to_receiver_ms: { p50: pct(50), p99: pct(99), max: samples.at(-1), samples, first_frame_ms: firsts },
  // From the solve that read the overload to the last lowered profile sent (or queued behind a
  // call in flight), by the daemon's clock: the edge's part, without the receiving process's.
  daemon_sent_ms: { p50: pctOf(sent, 50), p99: pctOf(sent, 99), samples: sent }, rounds };
fs.mkdirSync(path.dirname(out), { recursive: true });
fs.writeFileSync(out, JSON.stringify(res, null, 2));
const w = res.overload_to_wire_ms;
console.log(`overload to wire, ${N} chargers, ${ROUNDS} rounds: `
  + (wireWhole ? `p50 ${w.p50} ms, p99 ${w.p99} ms (target <= 25 ms, issue 23: ${w.p99 <= 25 ? 'met' : 'MISSED'})` : `NOT MEASURED: ${w.missing}`)
  + `; to the receiving process: p50 ${pct(50)} ms, p99 ${pct(99)} ms`
  + `; the daemon's share (solve to last profile sent): p50 ${pctOf(sent, 50)} ms, p99 ${pctOf(sent, 99)} ms`);
process.exit(0);
