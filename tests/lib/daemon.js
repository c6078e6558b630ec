// Start the real ampgated for a test: a temporary state folder, free loopback ports, a config
// written from a template, readiness seen in its log, and a stop by PID.
import { after } from 'node:test';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
// AMPGATE_BIN_DIR points the tests at other builds of the three programs (`make check-asan`
// uses build/asan); AMPGATE_TIME_SCALE stretches the waits below (and timeouts tests take from
// scaled()) for builds that run several times slower, without loosening any assertion.
export const BIN_DIR = process.env.AMPGATE_BIN_DIR || path.join(ROOT, 'build');
export const AMPGATED = path.join(BIN_DIR, 'ampgated');
export const AMPGATECTL = path.join(BIN_DIR, 'ampgatectl');
export const AMPGATE_SIM = path.join(BIN_DIR, 'ampgate-sim');
export const TIME_SCALE = Number(process.env.AMPGATE_TIME_SCALE) || 1;

/** `ms` stretched by AMPGATE_TIME_SCALE. */
export function scaled(ms) {
  return Math.round(ms * TIME_SCALE);
}

const SANITIZER_REPORT = /ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:/;

/** Throw if `text` (a program's output) holds an ASan, LSan or UBSan report. */
export function assertNoSanitizerReport(text, what = 'program') {
  const m = SANITIZER_REPORT.exec(text ?? '');
  if (m) {
    const from = text.lastIndexOf('\n', Math.max(0, m.index - 1)) + 1;
    throw new Error(`${what}: sanitizer report:\n${text.slice(from, from + 6000)}`);
  }
}

export function tmpDir(prefix = 'ampgate-') {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** A TCP port free on 127.0.0.1 right now. */
// The kernel may give the port it just freed to the next listen(0): two calls in a row once both
// returned 39629, and the web page could not listen beside the OCPP server. A port is handed out
// once per test process.
const portsGiven = new Set();

function kernelPort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

export async function freePort() {
  for (;;) {
    const port = await kernelPort();
    if (!portsGiven.has(port)) {
      portsGiven.add(port);
      return port;
    }
  }
}

/** Run ampgated (or another binary) to completion; returns { status, stdout, stderr }. */
export function runSync(bin, args, opts = {}) {
  const r = spawnSync(bin, args, { encoding: 'utf8', ...opts, timeout: scaled(opts.timeout ?? 20000) });
  assertNoSanitizerReport(`${r.stdout}\n${r.stderr}`, `${path.basename(bin)} ${args.join(' ')}`);
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** A minimal valid site; `extra` is appended (libconfig text). */
export function siteConfig({ dir, ocppPort = 0, webPort = 0, extra = '', site = '' }) {
  return `site = { name = "test-site"; grid = { limit_a = [100.0, 100.0, 100.0]; }; ${site} };
ocpp = { listen = "127.0.0.1:${ocppPort || 1}"; path = "/ocpp"; security_profile = 1; };
web = { listen = "127.0.0.1:${webPort || 1}"; };
storage = { path = "${dir}/ampgate.db"; };
${extra}
`;
}

// A test that fails before it stops its daemon must not leave it running: the test file would
// never end (its pipes keep node alive) and the whole run would hang until CI's time limit.
const running = new Set();
after(() => {
  for (const p of running) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
});

export class Daemon {
  /** `command`: the whole argv to run instead of build/ampgated -c FILE (e.g. a packaged daemon
   *  inside a chroot); readiness and stopping work the same. */
  constructor(configPath, { args = [], env = {}, command = null } = {}) {
    this.configPath = configPath;
    this.args = args;
    this.env = env;
    this.command = command ?? [AMPGATED, '-c', configPath, ...args];
    this.log = '';
    this.exited = null;
    this.waiters = [];
  }

  /** Start and resolve once the daemon logs that it started (rejects on early exit/timeout). */
  start(timeoutMs = 5000) {
    timeoutMs = scaled(timeoutMs);
    this.proc = spawn(this.command[0], this.command.slice(1), {
      env: { ...process.env, ...this.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    running.add(this.proc);
    this.proc.on('exit', () => running.delete(this.proc));
    const onData = (chunk) => {
      this.log += chunk.toString();
      this.waiters = this.waiters.filter((w) => !w.check());
    };
    this.proc.stdout.on('data', onData);
    this.proc.stderr.on('data', onData);
    this.exitPromise = new Promise((resolve) => {
      this.proc.on('exit', (code, signal) => {
        this.exited = { code, signal };
        resolve(this.exited);
      });
    });
    return this.waitForLog(/start: ampgated .* started/, timeoutMs);
  }

  /** Resolve when the log matches `re` (searching the whole log so far). */
  waitForLog(re, timeoutMs = 5000) {
    timeoutMs = scaled(timeoutMs);
    return new Promise((resolve, reject) => {
      const w = {
        check: () => {
          const m = this.log.match(re);
          if (m) {
            clearTimeout(w.timer);
            resolve(m);
            return true;
          }
          if (this.exited) {
            clearTimeout(w.timer);
            reject(new Error(`ampgated exited (${JSON.stringify(this.exited)}) before ${re}:\n${this.log}`));
            return true;
          }
          return false;
        },
      };
      w.timer = setTimeout(() => {
        this.waiters = this.waiters.filter((x) => x !== w);
        reject(new Error(`timeout waiting for ${re} in log:\n${this.log}`));
      }, timeoutMs);
      if (!w.check()) this.waiters.push(w);
      this.exitPromise?.then(() => { this.waiters = this.waiters.filter((x) => !x.check()); });
    });
  }

  /** The time (ms since the epoch) the daemon stamped on the first log line matching `re`:
   *  what the daemon did when, independent of how fast the test saw it. */
  logTimeMs(re) {
    const line = this.log.split('\n').find((l) => re.test(l));
    const m = line && /^(\d{4}-\d\d-\d\d) (\d\d:\d\d:\d\d\.\d{3}) /.exec(line);
    if (!m) throw new Error(`no stamped log line matches ${re}:\n${this.log}`);
    return new Date(`${m[1]}T${m[2]}`).getTime();
  }

  signal(sig) {
    process.kill(this.proc.pid, sig);
  }

  /** SIGTERM and wait for exit; kill -9 after `timeoutMs`. Returns { code, signal, ms }.
   *  Throws if the daemon's output holds a sanitizer report (a sanitized build reports leaks
   *  at exit, so this is where they show). */
  async stop(timeoutMs = 5000) {
    if (this.exited) {
      await this.drained();
      assertNoSanitizerReport(this.log, 'ampgated');
      return { ...this.exited, ms: 0 };
    }
    const t0 = Date.now();
    try {
      this.signal('SIGTERM');
    } catch (e) {
      // Gone already, its exit not yet seen by node: wait for that below instead of throwing
      // (a throw here left the file's other peers running and hung the whole suite).
      if (e.code !== 'ESRCH') throw e;
    }
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), scaled(timeoutMs));
    const r = await this.exitPromise;
    clearTimeout(timer);
    await this.drained();
    assertNoSanitizerReport(this.log, 'ampgated');
    return { ...r, ms: Date.now() - t0 };
  }

  /** Resolve once stdout and stderr are closed, so the log holds all the process wrote. */
  drained() {
    const closed = (s) => (s.readableEnded || s.destroyed ? Promise.resolve()
      : new Promise((resolve) => s.once('close', resolve)));
    return Promise.all([closed(this.proc.stdout), closed(this.proc.stderr)]);
  }
}

/** Run one SQL statement with the sqlite3 CLI; returns trimmed stdout. */
export function sql(dbPath, statement) {
  const r = spawnSync('sqlite3', [dbPath, statement], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`sqlite3: ${r.stderr}`);
  return r.stdout.trim();
}
