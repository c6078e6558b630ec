// Peers the tests start as separate processes (a Modbus server the project did not write, socat,
// simulators): spawn, wait until they say they are ready, and kill whatever is left at the end.
import { after } from 'node:test';
import { spawn } from 'node:child_process';
import path from 'node:path';
import { ROOT, assertNoSanitizerReport, freePort, scaled } from './daemon.js';

export const PEER = path.join(ROOT, 'tests/peers/modbus_peer.py');
const started = [];   // { proc, what, log() }
after(async () => {
  for (const { proc } of started) if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM');
  // A sanitized ampgate-sim reports at exit (leaks) or aborts with a report: either fails the file.
  await Promise.all(started.map(({ proc }) => (proc.exitCode === null && proc.signalCode === null
    ? new Promise((resolve) => proc.once('close', resolve)) : null)));
  for (const h of started) assertNoSanitizerReport(h.log(), h.what);
});

/** Spawn a helper process; resolve with { proc, out } once its output matches `re`. */
export function startHelper(cmd, args, re, timeoutMs = 8000) {
  return new Promise((resolve, reject) => {
    const proc = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    started.push({ proc, what: `${path.basename(cmd)} ${args[0] ?? ''}`, log: () => out });
    const timer = setTimeout(() => reject(new Error(`${cmd} not ready:\n${out}`)), scaled(timeoutMs));
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

