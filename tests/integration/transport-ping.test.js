// WebSocket pings: the edge pings chargers every ocpp.ping_interval_s and the CSMS every
// upstream.ping_interval_s, and closes a link whose pong does not come, so a half-open link is
// found in seconds. Peers that answer pings (ocpp-rpc) stay connected.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket, { WebSocketServer } from 'ws';
import { scaled } from '../lib/daemon.js';
import { startEdge } from './transport-edge.js';
import { bootPayload, connectStation, sleep, until } from '../lib/ocpp.js';

const PW = 'password-ping-00001';
let daemon, url, mute;

before(async () => {
  // A CSMS that completes the upgrade and then never answers a ping (a half-open link).
  mute = new WebSocketServer({ host: '127.0.0.1', port: 0, autoPong: false, handleProtocols: (p) => [...p][0] });
  mute.pings = new Map();
  mute.opens = new Map();
  mute.on('connection', (ws, req) => {
    const id = req.url.split('/').pop();
    mute.opens.set(id, (mute.opens.get(id) ?? 0) + 1);
    ws.on('ping', () => mute.pings.set(id, (mute.pings.get(id) ?? 0) + 1));
  });
  await new Promise((resolve) => mute.on('listening', resolve));
  ({ daemon, url } = await startEdge({ name: 'ping-test', chargers: { CPGOOD: PW, CPMUTE: PW, CPDROP: PW, CPTALK: PW }, ocpp: 'ping_interval_s = 1;',
    upstream: `url = "ws://127.0.0.1:${mute.address().port}/csms"; ping_interval_s = 1; reconnect_min_ms = 200; reconnect_max_ms = 400;` }));
});
after(async () => {
  await daemon?.stop();
  for (const c of mute?.clients ?? []) c.terminate();
  await new Promise((resolve) => (mute ? mute.close(resolve) : resolve()));
});

test('a charger that does not answer pings is closed within seconds; one that does stays', async () => {
  const good = await connectStation({ url, id: 'CPGOOD', protocol: 'ocpp1.6', password: PW });
  let goodClosed = false;
  good.on('close', () => { goodClosed = true; });
  const silent = new WebSocket(`${url}/CPMUTE`, ['ocpp1.6'], {
    autoPong: false, headers: { Authorization: `Basic ${Buffer.from(`CPMUTE:${PW}`).toString('base64')}` },
  });
  let pings = 0, closedAt = 0;
  silent.on('ping', () => { pings++; });
  await new Promise((resolve, reject) => { silent.on('open', resolve); silent.on('error', reject); });
  const t0 = Date.now();
  silent.on('close', () => { closedAt = Date.now(); });
  await until(() => closedAt, { timeoutMs: scaled(6000), what: 'the edge closes the charger that does not pong' });
  assert.ok(pings >= 1, 'the edge pinged it');
  assert.ok(closedAt - t0 <= scaled(4000), `closed after ${closedAt - t0} ms`);
  await daemon.waitForLog(/charger CPMUTE: no answer to WebSocket pings for 2 s/);
  await sleep(1500);
  assert.equal(goodClosed, false, 'a charger that answers pings stays connected');
  assert.equal((await good.call('BootNotification', bootPayload('ocpp1.6'))).status, 'Accepted');
  await good.close({ force: true });
});

test('a charger that keeps talking is not pinged, and stays though it would not answer a ping', async () => {
  // Every whole message counts as hearing from the peer: pings go only to a quiet link. This
  // one never answers pings but sends a frame every 300 ms (answers to nothing, which the edge
  // drops: any frame shows the peer is there); with pings every 1 s it would be closed in 2 s.
  const ws = new WebSocket(`${url}/CPTALK`, ['ocpp1.6'], {
    autoPong: false, headers: { Authorization: `Basic ${Buffer.from(`CPTALK:${PW}`).toString('base64')}` },
  });
  let pings = 0, closed = false;
  ws.on('ping', () => { pings++; });
  ws.on('close', () => { closed = true; });
  await new Promise((resolve, reject) => { ws.on('open', resolve); ws.on('error', reject); });
  for (let i = 0; i < 12 && !closed; i++) {
    ws.send(JSON.stringify([3, `stray-${i}`, {}]));
    await sleep(300);
  }
  assert.equal(closed, false, 'a charger that talks stays connected');
  assert.equal(pings, 0, 'and is not pinged while it talks');
  // Quiet from now on: pinged within the interval, and closed since it does not answer.
  await until(() => closed, { timeoutMs: scaled(6000), what: 'the quiet charger closed for not answering pings' });
  assert.ok(pings >= 1, 'pinged once it fell quiet');
  await daemon.waitForLog(/charger CPTALK: no answer to WebSocket pings/);
});

test('a charger that answered its pings and then drops its socket is not said to have stopped answering them', async () => {
  const ws = new WebSocket(`${url}/CPDROP`, ['ocpp1.6'], {
    headers: { Authorization: `Basic ${Buffer.from(`CPDROP:${PW}`).toString('base64')}` },
  });
  let pings = 0;
  ws.on('ping', () => { pings++; });
  await new Promise((resolve, reject) => { ws.on('open', resolve); ws.on('error', reject); });
  await until(() => pings >= 4, { timeoutMs: scaled(8000), what: 'four pings answered' });
  ws.terminate(); // no close frame: power gone, cable pulled
  await daemon.waitForLog(/charger CPDROP: disconnected/);
  await sleep(300);
  assert.doesNotMatch(daemon.log, /charger CPDROP: no answer to WebSocket pings/);
});

test('an uplink whose CSMS does not answer pings is closed, logged and reopened', async () => {
  // CPGOOD's uplink went to the mute CSMS in the test above (or opens now).
  const cp = await connectStation({ url, id: 'CPGOOD', protocol: 'ocpp1.6', password: PW });
  await until(() => (mute.opens.get('CPGOOD') ?? 0) >= 2 && mute.pings.get('CPGOOD') >= 1,
    { timeoutMs: scaled(8000), what: 'the uplink pinged, dropped and reopened' });
  await daemon.waitForLog(/charger CPGOOD: uplink to the CSMS lost \(no answer to WebSocket pings for 2 s/);
  await cp.close({ force: true });
});
