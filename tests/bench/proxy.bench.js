// Proxy benchmark (issues #3 and #11): 1,000 simulated stations x 1 MeterValues/s, first straight
// at a loopback CSMS (`ampgate-sim csms`), then through ampgated to the same CSMS; the latency the
// edge adds (p50/p99 of the difference), its CPU and peak RSS, the calls per second. Then a
// reconnect storm (every station connects at once; time until all are booted through the edge to
// the CSMS) and a daemon restart with all of them connected (time until all are back).
//
// Usage: node tests/bench/proxy.mjs OUT.json. AMPGATE_BENCH_STATIONS and AMPGATE_BENCH_S change
// the size and the length of each latency run. Prints a table; writes OUT.json.
//
// Key design decision: every figure comes from the peers, not from the daemon's word: round trips
// from the stations' clocks, "booted through the edge" from the CSMS's count of stations booted on
// their current connection, CPU and RSS from /proc. The share of time the daemon waited for a CPU
// (/proc/<pid>/schedstat) is reported too, because on a shared machine it explains a bad p99.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { AMPGATED, AMPGATE_SIM, Daemon, freePort, tmpDir } from '../lib/daemon.js';
import { fleetConfig } from '../lib/fleet-config.js';

const N = Number(process.env.AMPGATE_BENCH_STATIONS ?? 1000);
const RUN_S = Number(process.env.AMPGATE_BENCH_S ?? 45);
const WARMUP_S = 10;
const TARGET = { added_p99_ms: 10, rss_mb: 100, storm_s: 5 };
const PASSWORDS = 'bench-password-%04d';   // 16-40 characters, as the configuration demands
const out = process.argv[2] ?? '../build/bench/proxy.json';
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const dir = tmpDir('ampgate-bench-');

function spawnLogged(bin, args) {
  const p = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  p.log = '';
  p.stdout.on('data', (c) => { p.log += c; });
  p.stderr.on('data', (c) => { p.log += c; });
  p.exited = new Promise((r) => p.on('exit', (code, signal) => r({ code, signal })));
  return p;
}

async function waitFor(pred, ms, what) {
  const t0 = Date.now();
  for (;;) {
    const v = await pred();
    if (v) return v;
    if (Date.now() - t0 > ms) throw new Error(`bench: timeout waiting for ${what}`);
    await sleep(50);
  }
}

const readJson = (f) => { try { return JSON.parse(fs.readFileSync(f, 'utf8')); } catch { return null; } };

/** /proc figures of a process: CPU seconds, peak RSS (VmHWM), seconds waited for a CPU. */
function procStats(pid) {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const tck = 100; // USER_HZ
  const hwm = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  const [, waitNs] = fs.readFileSync(`/proc/${pid}/schedstat`, 'utf8').trim().split(/\s+/).map(Number);
  return { cpu_s: (Number(f[11]) + Number(f[12])) / tck, hwm_kb: hwm ? Number(hwm[1]) : 0, wait_s: waitNs / 1e9, at: Date.now() };
}

function configText({ ocppPort, webPort, csmsPort }) {
  return fleetConfig({ name: 'bench', dir, n: N, passwords: PASSWORDS, ocppPort, webPort, csmsPort });
}

function fleetArgs(url, extra) {
  return ['chargers', '--url', url, '--count', String(N), '--protocol', 'ocpp1.6', '--password-template', PASSWORDS,
    '--ev-at-start', '1', '--arrivals-per-hour', '0', '--dwell-s', '1000000', '--summary-s', '0', ...extra];
}

/** One latency run of RUN_S seconds; `pid` is the daemon's (sampled after the warm-up) or null. */
async function latencyRun(name, url, csmsReport, pid) {
  const report = path.join(dir, `${name}.json`);
  const fleet = spawnLogged(AMPGATE_SIM, fleetArgs(url, ['--meter-interval-s', '1', '--tick-ms', '5',
    '--warmup-s', String(WARMUP_S), '--duration-s', String(RUN_S), '--report-json', report]));
  await sleep(WARMUP_S * 1000);
  const c0 = readJson(csmsReport);
  const p0 = pid ? procStats(pid) : null;
  const t0 = Date.now();
  await sleep((RUN_S - WARMUP_S - 1) * 1000);
  const c1 = readJson(csmsReport);
  const p1 = pid ? procStats(pid) : null;
  const window_s = (Date.now() - t0) / 1000;
  const ex = await fleet.exited;
  const r = readJson(report);
  if (ex.code !== 0 || !r) throw new Error(`bench: ${name}: ampgate-sim chargers failed (${JSON.stringify(ex)}):\n${fleet.log}`);
  const mv = r.calls.MeterValues ?? {};
  const res = {
    meter_values: { sent: mv.sent, ok: mv.ok, error: mv.error, timeout: mv.timeout, p50_ms: mv.p50_ms, p99_ms: mv.p99_ms, max_ms: mv.max_ms },
    calls_per_s: (c1.calls - c0.calls) / window_s,
    booted: r.booted, reconnects: r.reconnects, sim_cpu_s: r.cpu_s,
  };
  if (p0) {
    res.ampgated = {
      cpu_pct: (100 * (p1.cpu_s - p0.cpu_s)) / ((p1.at - p0.at) / 1000),
      cpu_wait_pct: (100 * (p1.wait_s - p0.wait_s)) / ((p1.at - p0.at) / 1000),
      peak_rss_mb: p1.hwm_kb / 1024,
    };
  }
  return res;
}

async function startDaemon(cfgPath) {
  const d = new Daemon(cfgPath);
  await d.start(10000);
  return d;
}

async function main() {
  fs.mkdirSync(path.dirname(out), { recursive: true });
  const t0 = Date.now();
  const csmsReport = path.join(dir, 'csms.json');
  const csms = spawnLogged(AMPGATE_SIM, ['csms', '--listen', '127.0.0.1:0', '--expect', String(N), '--report-json', csmsReport, '-q']);
  const port = await waitFor(() => /listening on 127\.0\.0\.1:(\d+)/.exec(csms.log)?.[1], 5000, 'the CSMS');
  const csmsUrl = `ws://127.0.0.1:${port}/ocpp`;
  const [ocppPort, webPort] = [await freePort(), await freePort()];
  const cfgPath = path.join(dir, 'ampgate.conf');
  fs.writeFileSync(cfgPath, configText({ ocppPort, webPort, csmsPort: port }));
  const edgeUrl = `ws://127.0.0.1:${ocppPort}/ocpp`;
  const result = { bench: 'proxy', stations: N, run_s: RUN_S, warmup_s: WARMUP_S, targets: TARGET,
    machine: { cpus: os.cpus().length, loadavg_at_start: os.loadavg() } };

  try {
    // (a) straight at the CSMS, (b) through the edge.
    result.direct = await latencyRun('direct', csmsUrl, csmsReport, null);
    let d = await startDaemon(cfgPath);
    result.proxied = await latencyRun('proxied', edgeUrl, csmsReport, d.proc.pid);
    await d.stop();
    const a = result.direct.meter_values, b = result.proxied.meter_values;
    result.added = { p50_ms: b.p50_ms - a.p50_ms, p99_ms: b.p99_ms - a.p99_ms };

    // Reconnect storm: a fresh daemon, every station connecting at once.
    fs.rmSync(path.join(dir, 'ampgate.db'), { force: true });
    d = await startDaemon(cfgPath);
    const fullBefore = readJson(csmsReport)?.all_booted_wall_ms.length ?? 0;
    const stormReport = path.join(dir, 'storm.json');
    const fleet = spawnLogged(AMPGATE_SIM, fleetArgs(edgeUrl, ['--connect-rate', '1000000', '--meter-interval-s', '60',
      '--report-json', stormReport]));
    const stormStart = Date.now();
    const full1 = await waitFor(() => readJson(csmsReport)?.all_booted_wall_ms[fullBefore], 60000, 'the storm to be served');
    result.storm = { booted_through_edge_s: (full1 - stormStart) / 1000 };

    // Restart with every station connected: SIGTERM, start again, until all are booted again.
    await sleep(2000);
    const restartAt = Date.now();
    const stopped = await d.stop();
    d = await startDaemon(cfgPath);
    const upAt = Date.now();
    const full2 = await waitFor(() => readJson(csmsReport)?.all_booted_wall_ms[fullBefore + 1], 90000, 'every station back after the restart');
    result.restart = { stop_ms: stopped.ms, daemon_up_s: (upAt - restartAt) / 1000, all_back_s: (full2 - restartAt) / 1000 };
    fleet.kill('SIGTERM');
    await fleet.exited;
    const sr = readJson(stormReport);
    result.storm.stations_all_booted_s = sr?.time_to_all_booted_s;
    result.storm.reconnects = sr?.reconnects;
    await d.stop();
  } finally {
    csms.kill('SIGTERM');
    await csms.exited;
  }
  const c = readJson(csmsReport);
  result.csms = { cpu_s: c?.cpu_s, max_rss_kb: c?.max_rss_kb, calls: c?.calls, errors_sent: c?.errors_sent };
  result.bench_s = (Date.now() - t0) / 1000;
  fs.writeFileSync(out, `${JSON.stringify(result, null, 2)}\n`);
  fs.rmSync(dir, { recursive: true, force: true });
  printTable(result);
}

function printTable(r) {
  const ok = (v, t) => (v <= t ? 'ok' : 'MISSED');
  const f = (x, n = 2) => (typeof x === 'number' ? x.toFixed(n) : '-');
  const e = r.proxied.ampgated;
  console.log(`${r.stations} stations x 1 MeterValues/s, ${r.run_s} s per run (first ${r.warmup_s} s not timed); load average at start ${r.machine.loadavg_at_start.map((x) => x.toFixed(1)).join(' ')}`);
  console.log(`${'case'.padEnd(22)} ${'p50_ms'.padStart(8)} ${'p99_ms'.padStart(8)} ${'calls/s'.padStart(8)} ${'cpu_%'.padStart(6)} ${'rss_MB'.padStart(7)} ${'cpu_wait_%'.padStart(10)}`);
  console.log(`${'direct to CSMS'.padEnd(22)} ${f(r.direct.meter_values.p50_ms).padStart(8)} ${f(r.direct.meter_values.p99_ms).padStart(8)} ${f(r.direct.calls_per_s, 0).padStart(8)}`);
  console.log(`${'through ampgated'.padEnd(22)} ${f(r.proxied.meter_values.p50_ms).padStart(8)} ${f(r.proxied.meter_values.p99_ms).padStart(8)} ${f(r.proxied.calls_per_s, 0).padStart(8)} ${f(e.cpu_pct, 1).padStart(6)} ${f(e.peak_rss_mb, 1).padStart(7)} ${f(e.cpu_wait_pct, 1).padStart(10)}`);
  console.log(`${'added by the edge'.padEnd(22)} ${f(r.added.p50_ms).padStart(8)} ${f(r.added.p99_ms).padStart(8)}   target p99 <= ${r.targets.added_p99_ms} ms: ${ok(r.added.p99_ms, r.targets.added_p99_ms)}; RSS <= ${r.targets.rss_mb} MB: ${ok(e.peak_rss_mb, r.targets.rss_mb)}`);
  console.log(`reconnect storm: ${r.stations} stations booted through the edge to the CSMS in ${f(r.storm.booted_through_edge_s)} s (stations' view ${f(r.storm.stations_all_booted_s)} s), target <= ${r.targets.storm_s} s: ${ok(r.storm.booted_through_edge_s, r.targets.storm_s)}`);
  console.log(`daemon restart with all connected: stopped in ${r.restart.stop_ms} ms, up again after ${f(r.restart.daemon_up_s)} s, all ${r.stations} booted again after ${f(r.restart.all_back_s)} s`);
}

main().catch((err) => { console.error(err.stack ?? String(err)); process.exit(1); });
