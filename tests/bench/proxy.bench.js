// Proxy benchmark (issues #3, #11 and #23): 1,000 simulated stations x 1 MeterValues/s, first
// straight at a loopback CSMS (`ampgate-sim csms`), then through the Node relay a team would write
// instead (tests/bench/node-relay.mjs: `ws`, one upstream socket per charger, nothing else), then
// through ampgated, all in one run on the same load: the latency each middle box adds (p50/p99 of
// the difference), its CPU per forwarded frame (a MeterValues call up and its result down are two
// frames), their ratio, peak RSS, the calls per second. Then a reconnect storm (every station
// connects at once; time until all are booted through the edge to the CSMS) and a daemon restart
// with all of them connected (time until all are back).
//
// Usage: node tests/bench/proxy.bench.js OUT.json. Environment:
//   AMPGATE_BENCH_STATIONS  stations (default 1000)
//   AMPGATE_BENCH_WARMUP_S  start of each latency run left out of the figures: the connect phase
//                           (default 10, or N / 250 s above 2,500 stations, whose boot takes ~25 s
//                           at 9,500; a run whose stations were not all booted by then says so)
//   AMPGATE_BENCH_S         length of each latency run (default the warm-up + 35)
//   AMPGATE_BENCH_METER_S   MeterValues interval of each station (default 1)
//   AMPGATE_BENCH_SIM_PROCS simulator processes the stations are split over (default 1)
//   AMPGATE_BENCH_RELAY=0   leave the Node relay out
//   AMPGATE_BENCH_LATENCY=0 leave the latency runs out (storm and restart only)
//   AMPGATE_BENCH_STORMS    reconnect storm + restart runs, one fresh daemon each (default 1;
//                           issue 23 wants its targets met in 3 consecutive runs)
// The scale run (issue 23: 10,000 stations x 1 message / 10 s; ~4 min):
//   AMPGATE_BENCH_STATIONS=10000 AMPGATE_BENCH_METER_S=10 AMPGATE_BENCH_SIM_PROCS=4 \
//     node tests/bench/proxy.bench.js ../build/bench/proxy-10000.json
// Prints a table; writes OUT.json.
//
// Key design decision: every figure comes from the peers, not from the daemon's word: round trips
// from the stations' clocks, "booted through the edge" from the CSMS's count of stations booted on
// their current connection, CPU and RSS from /proc. The share of time the daemon waited for a CPU
// (/proc/<pid>/schedstat) is reported too, because on a shared machine it explains a bad p99.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fleetConfig } from '../lib/fleet-config.js';
import { AMPGATED, AMPGATE_SIM, Daemon, freePort, tmpDir } from '../lib/daemon.js';

const N = Number(process.env.AMPGATE_BENCH_STATIONS ?? 1000);
const WARMUP_S = Number(process.env.AMPGATE_BENCH_WARMUP_S ?? Math.max(10, Math.ceil(N / 250)));
const RUN_S = Number(process.env.AMPGATE_BENCH_S ?? WARMUP_S + 35);
const METER_S = Number(process.env.AMPGATE_BENCH_METER_S ?? 1);
const PROCS = Math.max(1, Number(process.env.AMPGATE_BENCH_SIM_PROCS ?? 1));
const RELAY = process.env.AMPGATE_BENCH_RELAY !== '0';
const LATENCY = process.env.AMPGATE_BENCH_LATENCY !== '0';
const STORMS = Math.max(1, Number(process.env.AMPGATE_BENCH_STORMS ?? 1));
// Issue 23's targets; the 10,000-station run has its own.
const TARGET = N > 1000 ? { added_p99_ms: 10, rss_mb: 300, storm_s: 5 }
  : { added_p99_ms: 2, rss_mb: 50, storm_s: 1, stop_ms: 300, cpu_ratio: 0.25 };
// 16-40 characters, as the configuration demands, and none it warns about: 10,000 warnings made
// the test harness's log matching (whole log per chunk) take longer than the start timeout.
const PASSWORDS = 'Kx7q9wLm-%04d-zR2mVt8p';
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

/** /proc figures of a process: CPU seconds (and of them in the kernel), peak RSS (VmHWM), seconds waited for a CPU. */
function procStats(pid) {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const tck = 100; // USER_HZ
  const hwm = /VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  const [, waitNs] = fs.readFileSync(`/proc/${pid}/schedstat`, 'utf8').trim().split(/\s+/).map(Number);
  return { cpu_s: (Number(f[11]) + Number(f[12])) / tck, sys_s: Number(f[12]) / tck, hwm_kb: hwm ? Number(hwm[1]) : 0, wait_s: waitNs / 1e9, at: Date.now() };
}

// With several simulator processes each numbers its stations from 1: process k's are
// P<k>SIM0001... (one process keeps the plain SIM0001...).
const PER_PROC = Math.ceil(N / PROCS);
const idPrefix = (k) => (PROCS > 1 ? `P${k}` : '');
const procCount = (k) => Math.min(PER_PROC, N - k * PER_PROC);

function configText({ ocppPort, webPort, csmsPort }) {
  const groups = Array.from({ length: PROCS }, (_, k) => ({ prefix: idPrefix(k), n: procCount(k) }));
  return fleetConfig({ name: 'bench', dir, n: N, passwords: PASSWORDS, ocppPort, webPort, csmsPort, groups });
}

function fleetArgs(url, extra, k = 0) {
  return ['chargers', '--url', url, '--count', String(procCount(k)), '--protocol', 'ocpp1.6',
    '--id-template', `${idPrefix(k)}SIM%04d`, '--password-template', `${idPrefix(k)}${PASSWORDS}`,
    '--ev-at-start', '1', '--arrivals-per-hour', '0', '--dwell-s', '1000000', '--summary-s', '0', ...extra];
}

/** The fleet as PROCS simulator processes; `extra(k)` gives process k's own options. */
function spawnFleet(url, extra) {
  const procs = [];
  for (let k = 0; k < PROCS; k++) procs.push(spawnLogged(AMPGATE_SIM, fleetArgs(url, extra(k), k)));
  return procs;
}

/** Reports of several processes as one: counts added, percentiles the worst (an upper bound). */
function mergeReports(rs) {
  const mv = rs.map((r) => r.calls?.MeterValues ?? {});
  const sum = (k) => mv.reduce((a, m) => a + (m[k] ?? 0), 0);
  const max = (k) => Math.max(...mv.map((m) => m[k] ?? 0));
  return {
    calls: { MeterValues: { sent: sum('sent'), ok: sum('ok'), error: sum('error'), timeout: sum('timeout'),
      p50_ms: rs.length === 1 ? mv[0].p50_ms : max('p50_ms'), p99_ms: rs.length === 1 ? mv[0].p99_ms : max('p99_ms'),
      max_ms: max('max_ms') } },
    booted: rs.reduce((a, r) => a + (r.booted ?? 0), 0),
    reconnects: rs.reduce((a, r) => a + (r.reconnects ?? 0), 0),
    cpu_s: rs.reduce((a, r) => a + (r.cpu_s ?? 0), 0),
    // -1: some process never had all of its stations booted.
    time_to_all_booted_s: rs.some((r) => !(r.time_to_all_booted_s >= 0)) ? -1
      : Math.max(...rs.map((r) => r.time_to_all_booted_s)),
  };
}

/** One latency run of RUN_S seconds; `pid` is the daemon's (sampled after the warm-up) or null. */
async function latencyRun(name, url, csmsReport, pid) {
  const report = (k) => path.join(dir, `${name}-${k}.json`);
  const fleet = spawnFleet(url, (k) => ['--meter-interval-s', String(METER_S), '--tick-ms', '5',
    '--warmup-s', String(WARMUP_S), '--duration-s', String(RUN_S), '--report-json', report(k)]);
  await sleep(WARMUP_S * 1000);
  const c0 = readJson(csmsReport);
  const p0 = pid ? procStats(pid) : null;
  const t0 = Date.now();
  await sleep((RUN_S - WARMUP_S - 1) * 1000);
  const c1 = readJson(csmsReport);
  const p1 = pid ? procStats(pid) : null;
  const window_s = (Date.now() - t0) / 1000;
  const rs = [];
  for (let k = 0; k < PROCS; k++) {
    const ex = await fleet[k].exited;
    const rk = readJson(report(k));
    if (ex.code !== 0 || !rk) throw new Error(`bench: ${name}: ampgate-sim chargers failed (${JSON.stringify(ex)}):\n${fleet[k].log}`);
    rs.push(rk);
  }
  const r = mergeReports(rs);
  const mv = r.calls.MeterValues ?? {};
  const res = {
    meter_values: { sent: mv.sent, ok: mv.ok, error: mv.error, timeout: mv.timeout, p50_ms: mv.p50_ms, p99_ms: mv.p99_ms, max_ms: mv.max_ms },
    calls_per_s: (c1.calls - c0.calls) / window_s,
    csms_calls: c1.calls - c0.calls,
    booted: r.booted, reconnects: r.reconnects, sim_cpu_s: r.cpu_s,
    // Latency while stations still connect is the connect phase's, not the steady load's.
    time_to_all_booted_s: r.time_to_all_booted_s, warmup_covered_boot: r.time_to_all_booted_s >= 0 && r.time_to_all_booted_s <= WARMUP_S,
  };
  if (p0) {
    res.middle = {
      cpu_pct: (100 * (p1.cpu_s - p0.cpu_s)) / ((p1.at - p0.at) / 1000),
      cpu_wait_pct: (100 * (p1.wait_s - p0.wait_s)) / ((p1.at - p0.at) / 1000),
      peak_rss_mb: p1.hwm_kb / 1024,
      // Every call the CSMS saw went through the middle box, and its answer came back: 2 frames.
      cpu_us_per_frame: (1e6 * (p1.cpu_s - p0.cpu_s)) / (2 * (c1.calls - c0.calls)),
      // Of it, in the kernel (the socket calls; on loopback a send also runs the receiving side's TCP).
      kernel_us_per_frame: (1e6 * (p1.sys_s - p0.sys_s)) / (2 * (c1.calls - c0.calls)),
    };
  }
  return res;
}

async function startDaemon(cfgPath) {
  const d = new Daemon(cfgPath);
  await d.start(10000);
  return d;
}

async function stormAndRestart(result, cfgPath, edgeUrl, csmsReport) {
  fs.rmSync(path.join(dir, 'ampgate.db'), { force: true });
  let d = await startDaemon(cfgPath);
  const fleet = [];
  try {
    const fullBefore = readJson(csmsReport)?.all_booted_wall_ms.length ?? 0;
    const stormReport = (k) => path.join(dir, `storm-${k}.json`);
    fleet.push(...spawnFleet(edgeUrl, (k) => ['--connect-rate', '1000000', '--meter-interval-s', '60',
      '--report-json', stormReport(k)]));
    const stormStart = Date.now();
    const full1 = await waitFor(() => readJson(csmsReport)?.all_booted_wall_ms[fullBefore], 60000, 'the storm to be served');
    result.storm = { booted_through_edge_s: (full1 - stormStart) / 1000 };

    // Restart with every station connected: SIGTERM, start again, until all are booted again.
    await sleep(2000);
    const restartAt = Date.now();
    const stopped = await d.stop();
    // Where the stop's time went, from the daemon's own stamps: SIGTERM seen, last line written
    // (a spread between runs is then the daemon's or the machine's, not the harness's).
    const stamps = d.log.split('\n').map((l) => /^(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d\.\d{3}) /.exec(l))
      .filter(Boolean).map((m) => new Date(`${m[1]}T${m[2]}`).getTime());
    const sigLine = d.log.split('\n').find((l) => /received SIGTERM, stopping/.test(l));
    const sigAt = sigLine ? new Date(sigLine.slice(0, 23).replace(' ', 'T')).getTime() : NaN;
    const stopLog = { signal_seen_ms: sigAt - restartAt, last_line_ms: stamps.at(-1) - restartAt };
    d = await startDaemon(cfgPath);
    const upAt = Date.now();
    const full2 = await waitFor(() => readJson(csmsReport)?.all_booted_wall_ms[fullBefore + 1], 90000, 'every station back after the restart');
    result.restart = { stop_ms: stopped.ms, stop_log: stopLog, daemon_up_s: (upAt - restartAt) / 1000, all_back_s: (full2 - restartAt) / 1000 };
  } catch (err) {
    // The bench's directory goes with it: keep what explains a storm not served.
    const csmsNow = readJson(csmsReport);
    result.storm = { ...result.storm, csms_booted_at_failure: csmsNow?.booted ?? null };
    fs.writeFileSync(`${out}.daemon.log`, d.log.length > 4_000_000 ? `${d.log.slice(0, 3_000_000)}\n[...]\n${d.log.slice(-1_000_000)}` : d.log);
    if (fleet[0]) fs.writeFileSync(`${out}.stations.log`, fleet[0].log.slice(0, 3_000_000));
    throw err;
  } finally {
    for (const f of fleet) f.kill('SIGTERM');
    for (const f of fleet) await f.exited;   // each writes its report as it exits
    await d.stop();
  }
  const srs = fleet.map((f, k) => readJson(path.join(dir, `storm-${k}.json`)));
  const sr = srs.every(Boolean) ? mergeReports(srs) : null;
  result.storm.stations_all_booted_s = sr?.time_to_all_booted_s;
  result.storm.reconnects = sr?.reconnects;
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
    if (LATENCY) await latencyRuns(result, csmsUrl, csmsReport, cfgPath, edgeUrl);
    // Reconnect storms: a fresh daemon each, every station connecting at once. A storm not served
    // in time is recorded as such: the latency figures still count.
    result.storms = [];
    for (let k = 0; k < STORMS; k++) {
      const run = {};
      await stormAndRestart(run, cfgPath, edgeUrl, csmsReport).catch((err) => {
        run.storm = { ...run.storm, error: String(err.message ?? err) };
      });
      result.storms.push(run);
    }
    result.storm = result.storms[0].storm;
    result.restart = result.storms[0].restart;
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

/** (a) straight at the CSMS, (b) through the Node relay, (c) through the edge. */
async function latencyRuns(result, csmsUrl, csmsReport, cfgPath, edgeUrl) {
  result.direct = await latencyRun('direct', csmsUrl, csmsReport, null);
  const a = result.direct.meter_values;
  if (RELAY) {
    const relay = spawnLogged(process.execPath, [path.join(path.dirname(new URL(import.meta.url).pathname), 'node-relay.mjs'),
      '--listen', '127.0.0.1:0', '--upstream', csmsUrl]);
    const relayPort = await waitFor(() => /listening on 127\.0\.0\.1:(\d+)/.exec(relay.log)?.[1], 5000, 'the Node relay');
    result.node_relay = await latencyRun('relay', `ws://127.0.0.1:${relayPort}/ocpp`, csmsReport, relay.pid);
    relay.kill('SIGTERM');
    await relay.exited;
    const r = result.node_relay.meter_values;
    result.node_relay.added = { p50_ms: r.p50_ms - a.p50_ms, p99_ms: r.p99_ms - a.p99_ms };
  }
  let d = await startDaemon(cfgPath);
  result.proxied = await latencyRun('proxied', edgeUrl, csmsReport, d.proc.pid);
  result.proxied.ampgated = result.proxied.middle;
  await d.stop();
  const b = result.proxied.meter_values;
  result.added = { p50_ms: b.p50_ms - a.p50_ms, p99_ms: b.p99_ms - a.p99_ms };
  // "Added" is the difference of two runs' p99s. When the run without the edge is itself over
  // the target (the machine was busy) or the difference is negative, it says nothing about the
  // edge: one 9,500-station run had 25.3 ms direct and 19.3 ms through the edge.
  result.added.conclusive = a.p99_ms <= TARGET.added_p99_ms && result.added.p99_ms >= 0;
  result.stations_dropped = N - result.proxied.booted;
  if (RELAY) {
    result.cpu_per_frame_us = { ampgated: result.proxied.middle.cpu_us_per_frame,
      node_relay: result.node_relay.middle.cpu_us_per_frame };
    result.cpu_per_frame_us.ratio = result.cpu_per_frame_us.ampgated / result.cpu_per_frame_us.node_relay;
    // Both forward each frame with one receive and one send on its own socket, so the kernel's
    // part is a cost they share: the ratio ampgated would have if its own code took no time at
    // all, and the ratio of the two processes' own (user-space) time.
    const e = result.proxied.middle, n = result.node_relay.middle;
    Object.assign(result.cpu_per_frame_us, {
      ampgated_kernel: e.kernel_us_per_frame, node_relay_kernel: n.kernel_us_per_frame,
      ratio_if_no_user_time: e.kernel_us_per_frame / n.cpu_us_per_frame,
      user_ratio: (e.cpu_us_per_frame - e.kernel_us_per_frame) / (n.cpu_us_per_frame - n.kernel_us_per_frame),
    });
  }
}

function printTable(r) {
  const ok = (v, t) => (v <= t ? 'ok' : 'MISSED');
  const f = (x, n = 2) => (typeof x === 'number' ? x.toFixed(n) : '-');
  console.log(`${r.stations} stations x 1 MeterValues / ${METER_S} s, ${r.run_s} s per run (first ${r.warmup_s} s not timed); load average at start ${r.machine.loadavg_at_start.map((x) => x.toFixed(1)).join(' ')}`);
  if (r.proxied) {
    const e = r.proxied.middle;
    console.log(`${'case'.padEnd(22)} ${'p50_ms'.padStart(8)} ${'p99_ms'.padStart(8)} ${'calls/s'.padStart(8)} ${'cpu_%'.padStart(6)} ${'rss_MB'.padStart(7)} ${'cpu_wait_%'.padStart(10)}`);
    console.log(`${'direct to CSMS'.padEnd(22)} ${f(r.direct.meter_values.p50_ms).padStart(8)} ${f(r.direct.meter_values.p99_ms).padStart(8)} ${f(r.direct.calls_per_s, 0).padStart(8)}`);
    if (r.node_relay) {
      const n = r.node_relay;
      console.log(`${'through Node relay'.padEnd(22)} ${f(n.meter_values.p50_ms).padStart(8)} ${f(n.meter_values.p99_ms).padStart(8)} ${f(n.calls_per_s, 0).padStart(8)} ${f(n.middle.cpu_pct, 1).padStart(6)} ${f(n.middle.peak_rss_mb, 1).padStart(7)} ${f(n.middle.cpu_wait_pct, 1).padStart(10)}`);
      console.log(`${'added by Node relay'.padEnd(22)} ${f(n.added.p50_ms).padStart(8)} ${f(n.added.p99_ms).padStart(8)}`);
    }
    console.log(`${'through ampgated'.padEnd(22)} ${f(r.proxied.meter_values.p50_ms).padStart(8)} ${f(r.proxied.meter_values.p99_ms).padStart(8)} ${f(r.proxied.calls_per_s, 0).padStart(8)} ${f(e.cpu_pct, 1).padStart(6)} ${f(e.peak_rss_mb, 1).padStart(7)} ${f(e.cpu_wait_pct, 1).padStart(10)}`);
    console.log(`${'added by the edge'.padEnd(22)} ${f(r.added.p50_ms).padStart(8)} ${f(r.added.p99_ms).padStart(8)}   target p99 <= ${r.targets.added_p99_ms} ms: ${r.added.conclusive ? ok(r.added.p99_ms, r.targets.added_p99_ms) : 'INCONCLUSIVE (the direct run\'s own p99 is over the target, or above the edge\'s: run again on a quiet machine)'}; RSS <= ${r.targets.rss_mb} MB: ${ok(e.peak_rss_mb, r.targets.rss_mb)}`);
    if (r.cpu_per_frame_us) {
      const c = r.cpu_per_frame_us;
      console.log(`CPU per forwarded frame: ampgated ${f(c.ampgated, 1)} us, Node relay ${f(c.node_relay, 1)} us, ratio ${f(c.ratio, 3)}` +
        (r.targets.cpu_ratio ? ` (target <= ${r.targets.cpu_ratio}: ${ok(c.ratio, r.targets.cpu_ratio)})` : ''));
      console.log(`  of which in the kernel: ampgated ${f(c.ampgated_kernel, 1)} us, Node relay ${f(c.node_relay_kernel, 1)} us; `
        + `ratio if ampgated's own code took no time ${f(c.ratio_if_no_user_time, 3)}; user-space time ratio ${f(c.user_ratio, 3)}`);
    }
    console.log(`stations that did not stay booted through ampgated: ${r.stations_dropped}`);
    for (const [name, run] of [['direct', r.direct], ['Node relay', r.node_relay], ['ampgated', r.proxied]])
      if (run && !run.warmup_covered_boot)
        console.log(`NOTE: ${name}: the last station booted ${f(run.time_to_all_booted_s, 1)} s in, after the ${r.warmup_s} s warm-up: its latency includes the connect phase (set AMPGATE_BENCH_WARMUP_S)`);
  }
  r.storms.forEach(({ storm, restart }, k) => {
    const run = r.storms.length > 1 ? ` (run ${k + 1} of ${r.storms.length})` : '';
    if (storm?.error) {
      console.log(`reconnect storm${run}: ${storm.error}`);
      return;
    }
    console.log(`reconnect storm${run}: ${r.stations} stations booted through the edge to the CSMS in ${f(storm.booted_through_edge_s)} s (stations' view ${f(storm.stations_all_booted_s)} s), target <= ${r.targets.storm_s} s: ${ok(storm.booted_through_edge_s, r.targets.storm_s)}`);
    const sl = restart.stop_log;
    console.log(`daemon restart with all connected${run}: stopped in ${restart.stop_ms} ms${r.targets.stop_ms ? ` (target <= ${r.targets.stop_ms}: ${ok(restart.stop_ms, r.targets.stop_ms)})` : ''} (daemon's log: SIGTERM seen at ${sl?.signal_seen_ms} ms, last line at ${sl?.last_line_ms} ms), up again after ${f(restart.daemon_up_s)} s, all ${r.stations} booted again after ${f(restart.all_back_s)} s`);
  });
}

main().catch((err) => { console.error(err.stack ?? String(err)); process.exit(1); });
