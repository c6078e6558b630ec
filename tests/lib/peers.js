// Peers the tests start as separate processes (a Modbus server the project did not write, socat,
// simulators): spawn, wait until they say they are ready, and kill whatever is left at the end.
import { after } from 'node:test';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { ROOT, freePort } from './daemon.js';

export const PEER = path.join(ROOT, 'tests/peers/modbus_peer.py');
const started = [];
after(() => {
  for (const p of started) if (p.exitCode === null && p.signalCode === null) p.kill('SIGTERM');
});

/** Spawn a helper process; resolve with { proc, out } once its output matches `re`. */
export function startHelper(cmd, args, re, timeoutMs = 8000) {
  return new Promise((resolve, reject) => {
    const proc = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    started.push(proc);
    let out = '';
    const timer = setTimeout(() => reject(new Error(`${cmd} not ready:\n${out}`)), timeoutMs);
    const onData = (d) => {
      out += d.toString();
      const m = out.match(re);
      if (m) {
        clearTimeout(timer);
        resolve({ proc, out, match: m });
      }
    };
    proc.stdout.on('data', onData);
    proc.stderr.on('data', onData);
    proc.on('exit', (code) => { clearTimeout(timer); reject(new Error(`${cmd} exited ${code}:\n${out}`)); });
  });
}

export async function pymodbusTcp(extra = []) {
  const port = await freePort();
  const h = await startHelper('/usr/bin/python3', [PEER, '--tcp', String(port), ...extra], /ready/);
  return { ...h, port };
}

