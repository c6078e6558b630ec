// Peers for the soak (tests/long/soak.test.js): a CSMS process that can be killed and restarted on
// its port, a slow charger, slowloris clients, an RSS sampler, and the comparison of what the
// chargers were acknowledged with what the CSMS received.
import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import WebSocket from 'ws';
import { AMPGATE_SIM, assertNoSanitizerReport } from './daemon.js';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Start a program, keep its output (the last 200 KB) and a promise of its exit. */
export function spawnLogged(bin, args) {
  const p = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  p.log = '';
  const keep = (c) => { p.log = (p.log + c).slice(-200000); };
  p.stdout.on('data', keep);
  p.stderr.on('data', keep);
  p.exited = new Promise((r) => p.on('exit', (code, signal) => r({ code, signal })));
  return p;
}

/** `ampgate-sim csms` on a fixed port, killed with SIGKILL and started again on the same port;
 *  every incarnation appends to the same --tx-log. `pids` lists the incarnations in order and
 *  `killed` the ones that died by kill -9 (their last lines may not have been answered). */
export class SimCsms {
  constructor({ port, args }) {
    this.port = port;
    this.args = args;
    this.proc = null;
    this.pids = [];
    this.killed = new Set();
    this.outages = [];
  }

  async up(timeoutMs = 15000) {
    const t0 = Date.now();
    for (;;) {
      const p = spawnLogged(AMPGATE_SIM, ['csms', '--listen', `127.0.0.1:${this.port}`, ...this.args]);
      const ok = await Promise.race([
        p.exited.then(() => false),
        (async () => { while (!/listening on/.test(p.log)) await sleep(20); return true; })(),
      ]);
      if (ok) {
        this.proc = p;
        this.pids.push(p.pid);
        return;
      }
      // The port may still be held by the killed one's sockets for a moment.
      if (Date.now() - t0 > timeoutMs) throw new Error(`the CSMS does not start on port ${this.port}:\n${p.log}`);
      await sleep(250);
    }
  }

  /** kill -9: no goodbye to the edge, unanswered calls lost on the way. */
  async kill() {
    const p = this.proc;
    this.proc = null;
    this.killed.add(p.pid);
    p.kill('SIGKILL');
    await p.exited;
  }

  async stop() {
    const p = this.proc;
    this.proc = null;
    if (!p) return;
    p.kill('SIGTERM');
    const r = await p.exited;
    assertNoSanitizerReport(p.log, 'ampgate-sim csms');
    if (r.code !== 0) throw new Error(`the CSMS exited with ${JSON.stringify(r)}:\n${p.log}`);
  }
}

/** A 1.6 charger that stops reading its socket for `pauseMs` every `everyMs`, while it sends
 *  30 KB DataTransfer calls without waiting for their answers; it answers what reaches it and
 *  reconnects when the edge closes it (which the edge may do to a stuck peer). */
export class SlowCharger {
  constructor({ url, id, password, everyMs = 60000, pauseMs = 20000 }) {
    Object.assign(this, { url, id, password, everyMs, pauseMs });
    this.stopped = false;
    this.counts = { connects: 0, closes: 0, pauses: 0, sent: 0, results: 0, callsAnswered: 0 };
    this.timers = [];
  }

  start() {
    this.connect();
    const data = 'y'.repeat(30000);
    this.timers.push(setInterval(() => {
      if (this.ws?.readyState !== WebSocket.OPEN || this.ws.bufferedAmount > 1e6) return;
      this.ws.send(JSON.stringify([2, `dt-${this.counts.sent++}`, 'DataTransfer', { vendorId: 'ampgate.soak', data }]));
    }, 200));
    this.timers.push(setInterval(() => {
      const s = this.ws?._socket;
      if (!s) return;
      this.counts.pauses++;
      s.pause();
      setTimeout(() => s.resume(), this.pauseMs);
    }, this.everyMs));
  }

  connect() {
    if (this.stopped) return;
    const auth = Buffer.from(`${this.id}:${this.password}`).toString('base64');
    const ws = new WebSocket(`${this.url}/${this.id}`, ['ocpp1.6'], { headers: { Authorization: `Basic ${auth}` } });
    this.ws = ws;
    ws.on('open', () => {
      this.counts.connects++;
      ws.send(JSON.stringify([2, 'boot', 'BootNotification', { chargePointVendor: 'Ampgate', chargePointModel: 'Slow' }]));
    });
    ws.on('message', (buf) => {
      let m;
      try { m = JSON.parse(buf); } catch { return; }
      if (m[0] === 3) this.counts.results++;
      else if (m[0] === 2) {
        this.counts.callsAnswered++;
        ws.send(JSON.stringify([3, m[1], m[2] === 'DataTransfer' ? { status: 'Accepted' } : {}]));
      }
    });
    ws.on('error', () => {});
    ws.on('close', () => {
      this.counts.closes++;
      if (!this.stopped) setTimeout(() => this.connect(), 2000);
    });
  }

  stop() {
    this.stopped = true;
    for (const t of this.timers) clearInterval(t);
    this.ws?.terminate();
  }
}

/** `count` connections to host:port that send an HTTP request one header line every `lineMs`
 *  and never finish it (slowloris); a connection the server closes is opened again. `upgrade`
 *  makes it a WebSocket upgrade to `path` (the OCPP port). */
export class Slowloris {
  constructor({ port, count, lineMs = 10000, path = '/', upgrade = false }) {
    Object.assign(this, { port, count, lineMs, path, upgrade });
    this.socks = new Set();
    this.stopped = false;
    this.counts = { opened: 0, closedByServer: 0, lines: 0, errors: 0 };
  }

  start() {
    for (let i = 0; i < this.count; i++) this.open();
    this.timer = setInterval(() => {
      for (const s of this.socks) {
        s.write(`X-Slow-${this.counts.lines++}: ${crypto.randomBytes(4).toString('hex')}\r\n`);
      }
    }, this.lineMs);
  }

  open() {
    if (this.stopped) return;
    const s = net.connect({ host: '127.0.0.1', port: this.port });
    this.socks.add(s);
    s.on('connect', () => {
      this.counts.opened++;
      s.write(`GET ${this.path} HTTP/1.1\r\nHost: 127.0.0.1\r\n` + (this.upgrade
        ? `Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n` +
          `Sec-WebSocket-Key: ${crypto.randomBytes(16).toString('base64')}\r\nSec-WebSocket-Protocol: ocpp1.6\r\n`
        : ''));
    });
    s.on('data', () => {});
    s.on('error', () => { this.counts.errors++; });
    s.on('close', () => {
      this.socks.delete(s);
      if (this.stopped) return;
      this.counts.closedByServer++;
      setTimeout(() => this.open(), 1000);
    });
  }

  stop() {
    this.stopped = true;
    clearInterval(this.timer);
    for (const s of this.socks) s.destroy();
  }
}

/** VmRSS and open descriptors of `pid` every `everyMs`: [{ t_s, rss_kb, fds }]. */
export function sampleProcess(pid, everyMs) {
  const t0 = Date.now();
  const samples = [];
  const take = () => {
    try {
      const rss = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
      samples.push({ t_s: (Date.now() - t0) / 1000, rss_kb: Number(rss[1]), fds: fs.readdirSync(`/proc/${pid}/fd`).length });
    } catch { /* gone: the test sees it */ }
  };
  take();
  const timer = setInterval(take, everyMs);
  return { samples, stop: () => clearInterval(timer) };
}

/** Least-squares slope (units per second) of `ys` over `ts`. */
export function slope(ts, ys) {
  const n = ts.length;
  const mt = ts.reduce((a, b) => a + b, 0) / n, my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0, den = 0;
  for (let i = 0; i < n; i++) {
    num += (ts[i] - mt) * (ys[i] - my);
    den += (ts[i] - mt) ** 2;
  }
  return den ? num / den : 0;
}

/** Compare the chargers' log of acknowledged transaction messages ("<station>\t<key>") with the
 *  CSMS's log of received ones ("<pid>\t<station>\t<key>", all incarnations in order).
 *  Exactly once is the bar; the one excused repeat is a message the CSMS logged as the very last
 *  one of that station before it was killed -9 (it may have died before its answer left), seen
 *  again from the next incarnation: the edge could not know it had arrived. */
export function compareTx(fleetLog, csmsLog, killedPids) {
  const acked = new Map();
  const ackedTwice = [];
  for (const line of fs.readFileSync(fleetLog, 'utf8').split('\n')) {
    if (!line) continue;
    if (acked.has(line)) ackedTwice.push(line);
    acked.set(line, true);
  }
  const seen = new Map();    // station\tkey -> [pid, ...]
  const lastOfStation = new Map();   // pid\tstation -> key of its last line in that incarnation
  for (const line of fs.readFileSync(csmsLog, 'utf8').split('\n')) {
    if (!line) continue;
    const [pid, station, key] = line.split('\t');
    const k = `${station}\t${key}`;
    if (!seen.has(k)) seen.set(k, []);
    seen.get(k).push(pid);
    lastOfStation.set(`${pid}\t${station}`, key);
  }
  const lost = [], duplicated = [], excused = [], unacked = [];
  for (const k of acked.keys()) if (!seen.has(k)) lost.push(k);
  // Every message the CSMS got more than once counts, acknowledged to its charger or not (a
  // charger that gave up waiting still sent it once).
  for (const [k, pids] of seen) {
    if (!acked.has(k)) unacked.push(`${k} x${pids.length}`);
    if (pids.length === 1) continue;
    const [station, key] = k.split('\t');
    const repeatOk = pids.length === 2 && pids[0] !== pids[1] && killedPids.has(Number(pids[0])) &&
      lastOfStation.get(`${pids[0]}\t${station}`) === key;
    (repeatOk ? excused : duplicated).push(`${k} x${pids.length} (CSMS pids ${pids.join(',')})`);
  }
  const byKind = {};
  for (const k of acked.keys()) {
    const kind = k.split('\t')[1].split('|')[0];
    byKind[kind] = (byKind[kind] ?? 0) + 1;
  }
  return { acked: acked.size, byKind, received: seen.size, lost, duplicated, excused, unacked, ackedTwice };
}
