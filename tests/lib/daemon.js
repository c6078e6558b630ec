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
export const AMPGATED = path.join(ROOT, 'build/ampgated');
export const AMPGATECTL = path.join(ROOT, 'build/ampgatectl');
export const AMPGATE_SIM = path.join(ROOT, 'build/ampgate-sim');

export function tmpDir(prefix = 'ampgate-') {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** A TCP port free on 127.0.0.1 right now. */
export function freePort() {
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

/** Run ampgated (or another binary) to completion; returns { status, stdout, stderr }. */
export function runSync(bin, args, opts = {}) {
  const r = spawnSync(bin, args, { encoding: 'utf8', timeout: 20000, ...opts });
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

  signal(sig) {
    process.kill(this.proc.pid, sig);
  }

  /** SIGTERM and wait for exit; kill -9 after `timeoutMs`. Returns { code, signal, ms }. */
  async stop(timeoutMs = 5000) {
    if (this.exited) return { ...this.exited, ms: 0 };
    const t0 = Date.now();
    this.signal('SIGTERM');
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), timeoutMs);
    const r = await this.exitPromise;
    clearTimeout(timer);
    return { ...r, ms: Date.now() - t0 };
  }
}

/** Run one SQL statement with the sqlite3 CLI; returns trimmed stdout. */
export function sql(dbPath, statement) {
  const r = spawnSync('sqlite3', [dbPath, statement], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`sqlite3: ${r.stderr}`);
  return r.stdout.trim();
}
