// The soak (issue 18, "Done when"): 1,000 simulated chargers (ampgate-sim chargers, 1.6 and
// 2.0.1 mixed, EVs arriving and leaving) through ampgated to `ampgate-sim csms` for 30 minutes
// (AMPGATE_SOAK_S), while
//   - the CSMS is killed -9 and started again on the same port at random moments,
//   - one charger stops reading its socket for 20 s every minute while the CSMS sends it 10 KB
//     calls, and sends 30 KB frames up while the CSMS stops reading its connection now and then,
//   - slowloris clients hold connections to the web and the OCPP port with a header line every 10 s.
// It asserts: the daemon ran the whole time (one process, never restarted); its RSS (VmRSS, every
// 5 s) stays under RSS_BOUND_MB with no upward trend in the last third; every transaction message
// acknowledged to a charger (StartTransaction, StopTransaction, TransactionEvent) reached the CSMS,
// and none twice. Run by `make check-long` (AMPGATE_LONG=1), not by `make check`.
//
// Key design decision: the evidence comes from the peers, not from the daemon's word: each charger
// logs what was acknowledged to it, the CSMS writes what it got with write(2) before answering (so
// a kill -9 keeps it), and the two logs are compared by the messages' content, since an edge may
// rewrite message and 1.6 transaction ids on the way.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { AMPGATE_SIM, Daemon, assertNoSanitizerReport, freePort, tmpDir } from '../lib/daemon.js';
import { fleetConfig } from '../lib/fleet-config.js';
import { SimCsms, SlowCharger, Slowloris, compareTx, sampleProcess, slope, spawnLogged } from '../lib/soak.js';

const LONG = process.env.AMPGATE_LONG === '1';
const SOAK_S = Number(process.env.AMPGATE_SOAK_S ?? 1800);
const N = Number(process.env.AMPGATE_SOAK_STATIONS ?? 1000);
const RSS_BOUND_MB = 64;        // measured: 33 MB peak over 5 min with 1,000 chargers; twice that is the bound
const TREND_MAX_MB = 4;         // RSS growth over the last third (least-squares line), at most
const SAMPLE_MS = 5000;
const PASSWORDS = 'soak-password-%04d';
const SLOW = { id: 'SLOW0001', password: 'soak-slow-password-01' };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const rand = (lo, hi) => lo + Math.random() * (hi - lo);

async function metric(webPort, name) {
  const r = await fetch(`http://127.0.0.1:${webPort}/metrics`);
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(await r.text());
  return m ? Number(m[1]) : NaN;
}

// Whatever happens, no process of this test outlives it (the daemon: tests/lib/daemon.js).
const started = [];
after(() => {
  for (const x of started) {
    const p = x.proc ?? x;    // a SimCsms holds its current process
    if (p?.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  }
});

test(`soak: ${N} chargers for ${SOAK_S} s with CSMS outages, slow peers and slowloris`, { skip: !LONG && 'AMPGATE_LONG=1 (make check-long)', timeout: (SOAK_S + 900) * 1000 }, async () => {
  const dir = tmpDir('ampgate-soak-');
  const [ocppPort, webPort, csmsPort] = [await freePort(), await freePort(), await freePort()];
  const f = (name) => path.join(dir, name);
  fs.writeFileSync(f('ampgate.conf'), fleetConfig({ name: 'soak', dir, n: N, passwords: PASSWORDS, ocppPort, webPort, csmsPort,
    extra: [`  { id = "${SLOW.id}"; password = "${SLOW.password}"; max_a = 32.0; }`] }));
  const csms = new SimCsms({ port: csmsPort, args: ['--path', '/ocpp', '--tx-log', f('csms-tx.log'), '--slow', SLOW.id,
    '--slow-every-s', '45', '--slow-for-s', '15', '--push', SLOW.id, '--report-json', f('csms.json'), '-q'] });
  await csms.up();
  started.push(csms);
  const daemon = new Daemon(f('ampgate.conf'));
  await daemon.start(30000);
  const pid = daemon.proc.pid;
  const rss = sampleProcess(pid, SAMPLE_MS);
  const edgeUrl = `ws://127.0.0.1:${ocppPort}/ocpp`;
  // About one EV a second across the fleet, ~4 min plugged in: some 1,800 transactions in 30 min.
  const fleet = spawnLogged(AMPGATE_SIM, ['chargers', '--url', edgeUrl, '--count', String(N), '--protocol', 'mix',
    '--password-template', PASSWORDS, '--seed', '18', '--ev-at-start', '0.2', '--arrivals-per-hour', '3600',
    '--dwell-s', '240', '--meter-interval-s', '60', '--connect-rate', '200', '--summary-s', '60',
    '--tx-log', f('fleet-tx.log'), '--report-json', f('fleet.json')]);
  started.push(fleet);
  const slow = new SlowCharger({ url: edgeUrl, ...SLOW });
  const lorisWeb = new Slowloris({ port: webPort, count: 40, path: '/api/v1/site' });
  const lorisOcpp = new Slowloris({ port: ocppPort, count: 40, path: '/ocpp/SIM0001', upgrade: true });
  slow.start();
  lorisWeb.start();
  lorisOcpp.start();

  const t0 = Date.now();
  const elapsed = () => (Date.now() - t0) / 1000;
  // Outages until a minute before the end: up 30..150 s (less in a short run, so that one
  // happens), down 5..45 s.
  try {
    for (;;) {
      const up = Math.min(rand(30, 150), Math.max(5, (SOAK_S - 60 - elapsed()) / 2));
      if (elapsed() + up >= SOAK_S - 60) break;
      await sleep(up * 1000);
      const down = rand(5, 45);
      const at = elapsed();
      await csms.kill();
      await sleep(down * 1000);
      await csms.up();
      csms.outages.push({ at_s: Math.round(at), down_s: Math.round(down) });
      assert.equal(daemon.exited, null, `the daemon died during the soak:\n${daemon.log.slice(-5000)}`);
    }
    await sleep(Math.max(0, SOAK_S - elapsed()) * 1000);
  } finally {
    slow.stop();
    lorisWeb.stop();
    lorisOcpp.stop();
  }
  const soakEnd_s = rss.samples.at(-1)?.t_s ?? 0;
  // The outbox replays a charger's backlog while that charger is connected (README, partition):
  // drain with the fleet still running, then stop it; what its last moments left is drained by
  // the same chargers reconnecting without EVs (no new transactions).
  const drainT0 = Date.now();
  const drained = async (ms) => {
    let rows = NaN;
    for (const t = Date.now(); Date.now() - t < ms; await sleep(1000)) {
      rows = await metric(webPort, 'ampgate_outbox_messages');
      if (rows === 0) break;
    }
    return rows;
  };
  const rowsRunning = await drained(300000);
  const drain_s = (Date.now() - drainT0) / 1000;
  fleet.kill('SIGTERM');
  const fleetExit = await fleet.exited;
  assert.equal(fleetExit.code, 0, `ampgate-sim chargers: ${JSON.stringify(fleetExit)}\n${fleet.log.slice(-3000)}`);
  assertNoSanitizerReport(fleet.log, 'ampgate-sim chargers');
  await sleep(2000);
  let rows = await drained(5000);
  const rowsAfterStop = rows;
  if (rows !== 0) {
    const again = spawnLogged(AMPGATE_SIM, ['chargers', '--url', edgeUrl, '--count', String(N), '--protocol', 'mix',
      '--password-template', PASSWORDS, '--seed', '18', '--ev-at-start', '0', '--arrivals-per-hour', '0',
      '--connect-rate', '200', '--summary-s', '0', '--tx-log', f('fleet-tx-2.log')]);
    started.push(again);
    rows = await drained(300000);
    again.kill('SIGTERM');
    await again.exited;
    fs.appendFileSync(f('fleet-tx.log'), fs.readFileSync(f('fleet-tx-2.log')));
  }
  await sleep(3000);
  rss.stop();
  assert.equal(daemon.exited, null, `the daemon died:\n${daemon.log.slice(-5000)}`);
  assert.equal(daemon.proc.pid, pid);
  assert.equal((daemon.log.match(/start: ampgated .* started/g) ?? []).length, 1, 'the daemon started once');
  await csms.stop();
  const stopped = await daemon.stop(20000);

  // ---- figures ----
  const fr = JSON.parse(fs.readFileSync(f('fleet.json'), 'utf8'));
  const cr = JSON.parse(fs.readFileSync(f('csms.json'), 'utf8'));
  const tx = compareTx(f('fleet-tx.log'), f('csms-tx.log'), csms.killed);
  const s = rss.samples;
  const maxKb = Math.max(...s.map((x) => x.rss_kb));
  const last = s.filter((x) => x.t_s >= (soakEnd_s * 2) / 3 && x.t_s <= soakEnd_s);
  const trendMb = (slope(last.map((x) => x.t_s), last.map((x) => x.rss_kb)) * (soakEnd_s / 3)) / 1024;
  // What the daemon said, by kind of line (the whole log is kept in build/soak/ampgated.log).
  const count = (re) => (daemon.log.match(re) ?? []).length;
  const daemonLog = { lines: count(/\n/g), errors: count(/ error: /g), warnings: count(/ warning: /g),
    uplink_lost: count(/uplink to the CSMS lost/g), peer_not_reading: count(/does not read what is sent to it/g) };
  const summary = {
    soak_s: SOAK_S, stations: N, rss_samples: s.length,
    rss_mb: { first: s[0].rss_kb / 1024, max: maxKb / 1024, at_end: last.at(-1)?.rss_kb / 1024, bound: RSS_BOUND_MB,
      last_third_trend: trendMb, trend_bound: TREND_MAX_MB },
    fds: { max: Math.max(...s.map((x) => x.fds)), at_end: s.at(-1).fds },
    outages: csms.outages, csms_incarnations: csms.pids.length,
    outbox_rows: { after_drain_with_fleet: rowsRunning, after_fleet_stop: rowsAfterStop, at_end: rows }, drain_s,
    tx: { acked: tx.acked, by_kind: tx.byKind, received_distinct: tx.received, lost: tx.lost.length,
      duplicated: tx.duplicated.length, replayed_after_csms_kill: tx.excused.length,
      received_not_acked: tx.unacked.length },
    fleet: { booted_once: fr.booted_once, connected_at_end: fr.connected, reconnects: fr.reconnects, boots: fr.boots,
      arrivals: fr.arrivals, calls: Object.fromEntries(Object.entries(fr.calls ?? {}).map(([k, v]) =>
        [k, { sent: v.sent, ok: v.ok, error: v.error, timeout: v.timeout, p99_ms: v.p99_ms }])) },
    csms_last: { calls: cr.calls, pushed: cr.pushed, slow_pauses: cr.slow_pauses },
    slow_charger: slow.counts, slowloris: { web: lorisWeb.counts, ocpp: lorisOcpp.counts },
    daemon_stop: stopped, daemon_log: daemonLog,
  };
  fs.mkdirSync(path.resolve('../build/soak'), { recursive: true });
  fs.writeFileSync(path.resolve('../build/soak/ampgated.log'), daemon.log);
  fs.writeFileSync(path.resolve('../build/soak/soak.json'), `${JSON.stringify({ ...summary, rss: s }, null, 1)}\n`);
  console.log(JSON.stringify(summary, null, 1));
  if (tx.lost.length || tx.duplicated.length) {
    console.log(`lost (first 20): ${tx.lost.slice(0, 20).join('\n  ')}`);
    console.log(`duplicated (first 20): ${tx.duplicated.slice(0, 20).join('\n  ')}`);
  }

  // ---- assertions ----
  assert.equal(stopped.code, 0, `the daemon's exit: ${JSON.stringify(stopped)}`);
  assert.ok(csms.outages.length >= 1, 'at least one CSMS outage happened');
  assert.ok(tx.acked >= N / 10, `transactions ran (${tx.acked} messages acknowledged)`);
  assert.equal(fr.booted_once, N, 'every charger booted');
  assert.ok(cr.pushed > 0 && slow.counts.pauses > 0 && lorisWeb.counts.opened > 0 && lorisOcpp.counts.opened > 0,
    'the slow peers and slowloris ran');
  assert.equal(rows, 0, 'the outbox drained to the CSMS');
  assert.deepEqual(tx.ackedTwice, [], 'a charger was acknowledged the same message twice');
  assert.deepEqual(tx.lost, [], 'transaction messages acknowledged to a charger never reached the CSMS');
  assert.deepEqual(tx.duplicated, [], 'transaction messages reached the CSMS more than once');
  assert.ok(maxKb / 1024 <= RSS_BOUND_MB, `RSS peaked at ${(maxKb / 1024).toFixed(1)} MB > ${RSS_BOUND_MB} MB`);
  assert.ok(trendMb <= TREND_MAX_MB, `RSS still growing in the last third: +${trendMb.toFixed(1)} MB`);
  fs.rmSync(dir, { recursive: true, force: true });
});
