// Per-link queues are bounded: a CSMS flooding a charger that does not read makes the edge stop
// reading from the CSMS (TCP backpressure) instead of queueing in memory; the daemon's RSS stays
// bounded.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import WebSocket, { WebSocketServer } from 'ws';
import { scaled } from '../lib/daemon.js';
import { startEdge } from './transport-edge.js';
import { sleep, until } from '../lib/ocpp.js';

const PW = 'password-queue-0001';
let daemon, port, csms, timers = [];

// What RSS measures here is the daemon's own buffering. Under `make check-asan`, ASan keeps freed
// memory in a quarantine (256 MB by default) to catch use after free, and every 30 KB frame freed
// would count; a 1 MB quarantine (still catching a use right after a free) leaves the buffering.
const env = process.env.ASAN_OPTIONS ? { ASAN_OPTIONS: `${process.env.ASAN_OPTIONS}:quarantine_size_mb=1` } : {};

function rssKb(pid) {
  return Number(/VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);
}

before(async () => {
  // A CSMS that, once CPSLOW's uplink opens, sends it 200 calls of 10 KB a second.
  csms = new WebSocketServer({ host: '127.0.0.1', port: 0, handleProtocols: (p) => [...p][0] });
  csms.sent = 0;
  csms.on('connection', (ws, req) => {
    if (!req.url.endsWith('/CPSLOW')) return;
    const data = 'x'.repeat(10000);
    let n = 0;
    const t = setInterval(() => {
      for (let i = 0; i < 20 && ws.readyState === 1; i++) {
        ws.send(JSON.stringify([2, `flood-${n++}`, 'DataTransfer', { vendorId: 'flood', data }]));
        csms.sent++;
      }
    }, 100);
    timers.push(t);
    ws.on('close', () => clearInterval(t));
    ws.on('error', () => {});
  });
  await new Promise((resolve) => csms.on('listening', resolve));
  ({ daemon, port } = await startEdge({ name: 'queue-test', chargers: { CPSLOW: PW }, env, ocpp: 'call_timeout_s = 600;',
    upstream: `url = "ws://127.0.0.1:${csms.address().port}/csms"; ping_interval_s = 0;` }));
});
after(async () => {
  for (const t of timers) clearInterval(t);
  await daemon?.stop();
  for (const c of csms?.clients ?? []) c.terminate();
  await new Promise((resolve) => (csms ? csms.close(resolve) : resolve()));
});

test('a CSMS flooding a charger that does not read: the edge applies backpressure, RSS stays bounded', async () => {
  // A charger that completes the upgrade and then never reads its socket.
  const s = net.connect({ host: '127.0.0.1', port });
  await new Promise((resolve) => s.on('connect', resolve));
  s.write(`GET /ocpp/CPSLOW HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
    `Sec-WebSocket-Key: ${crypto.randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n` +
    `Sec-WebSocket-Protocol: ocpp1.6\r\nAuthorization: Basic ${Buffer.from(`CPSLOW:${PW}`).toString('base64')}\r\n\r\n`);
  await new Promise((resolve) => s.once('data', resolve));
  s.pause();
  s.on('error', () => {});
  await until(() => csms.sent > 0, { what: 'the flood starts' });
  await sleep(scaled(1500));
  const before = rssKb(daemon.proc.pid);
  const sent0 = csms.sent;
  await sleep(scaled(12000));
  const grown = rssKb(daemon.proc.pid) - before;
  const sentMb = ((csms.sent - sent0) * 10000) / 1e6;
  console.log(`CSMS sent ${sentMb.toFixed(0)} MB to a charger that does not read; daemon RSS grew ${(grown / 1024).toFixed(1)} MB`);
  assert.ok(sentMb >= 20, `the flood ran (${sentMb} MB)`);
  assert.ok(grown < 12 * 1024, `RSS grew ${grown} kB`);
  s.destroy();
});

test('a CSMS that stops reading while a charger sends 30 KB frames: RSS stays bounded', async () => {
  // A CSMS that completes the upgrade for CPSEND and then never reads its socket.
  const stuck = net.createServer((s) => {
    s.on('error', () => {});
    s.once('data', (req) => {
      const key = /Sec-WebSocket-Key: (\S+)/i.exec(String(req))[1];
      const accept = crypto.createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
      s.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Accept: ${accept}\r\nSec-WebSocket-Protocol: ocpp1.6\r\n\r\n`);
      s.pause();
    });
  });
  await new Promise((resolve) => stuck.listen(0, '127.0.0.1', resolve));
  const edge = await startEdge({ name: 'queue-up', chargers: { CPSEND: PW }, env, ocpp: 'call_timeout_s = 600;',
    upstream: `url = "ws://127.0.0.1:${stuck.address().port}/csms"; ping_interval_s = 0; call_timeout_s = 600;` });
  try {
    const ws = new WebSocket(`${edge.url}/CPSEND`, ['ocpp1.6'], { headers: { Authorization: `Basic ${Buffer.from(`CPSEND:${PW}`).toString('base64')}` } });
    await new Promise((resolve, reject) => { ws.on('open', resolve); ws.on('error', reject); });
    ws.on('error', () => {});
    await until(() => /CPSEND: uplink to the CSMS open/.test(edge.daemon.log), { what: 'the uplink opens' });
    const before = rssKb(edge.daemon.proc.pid);
    const data = 'y'.repeat(30000);
    let n = 0;
    const t0 = Date.now();
    while (Date.now() - t0 < scaled(10000)) {
      for (let i = 0; i < 10; i++) ws.send(JSON.stringify([2, `up-${n++}`, 'DataTransfer', { vendorId: 'flood', data }]));
      await sleep(100);
    }
    const grown = rssKb(edge.daemon.proc.pid) - before;
    console.log(`charger sent ${(n * 30000 / 1e6).toFixed(0)} MB to a CSMS that does not read; daemon RSS grew ${(grown / 1024).toFixed(1)} MB`);
    assert.ok(grown < 12 * 1024, `RSS grew ${grown} kB`);
    ws.terminate();
  } finally {
    await edge.daemon.stop();
    stuck.close();
  }
});
