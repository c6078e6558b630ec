// Close frames through the edge: a charger's close code and reason reach the CSMS, the CSMS's
// reach the charger in partition strict mode, and on SIGTERM both sides get 1001 (going away),
// never 1006 (no close frame).
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import rpc from 'ocpp-rpc';
import { Daemon, freePort, tmpDir } from '../lib/daemon.js';
import { bootPayload, connectStation, defaultAnswer, PROTOCOLS, until } from '../lib/ocpp.js';

const PW = 'password-close-0001';
const stops = [];
after(async () => { for (const s of stops.reverse()) await s(); });

async function csmsRecordingCloses() {
  const server = new rpc.RPCServer({ protocols: PROTOCOLS, strictMode: true, pingIntervalMs: 0 });
  const csms = { clients: new Map(), closes: new Map() };
  server.on('client', (c) => {
    csms.clients.set(c.identity, c);
    c.on('close', ({ code, reason }) => csms.closes.set(c.identity, { code, reason: String(reason) }));
    c.handle(({ method, params }) => defaultAnswer(c.protocol, method, params));
  });
  const http = await server.listen(0, '127.0.0.1');
  csms.url = `ws://127.0.0.1:${http.address().port}/csms`;
  stops.push(() => server.close({ force: true }));
  return csms;
}

async function edge(csmsUrl, partition) {
  const dir = tmpDir('ampgate-close-');
  const port = await freePort();
  fs.writeFileSync(path.join(dir, 'a.conf'), `
site = { name = "close-test"; grid = { limit_a = [100.0, 100.0, 100.0]; }; };
chargers = ( { id = "CPA"; password = "${PW}"; }, { id = "CPB"; password = "${PW}"; } );
ocpp = { listen = "127.0.0.1:${port}"; path = "/ocpp"; security_profile = 1; };
upstream = { url = "${csmsUrl}"; security_profile = 1; partition = "${partition}"; reconnect_min_ms = 200; reconnect_max_ms = 400; };
web = { listen = "127.0.0.1:1"; };
storage = { path = "${dir}/ampgate.db"; };
`);
  const d = new Daemon(path.join(dir, 'a.conf'));
  await d.start();
  stops.push(() => d.stop());
  return { d, url: `ws://127.0.0.1:${port}/ocpp` };
}

async function station(url, id) {
  const cp = await connectStation({ url, id, protocol: 'ocpp1.6', password: PW });
  cp.closed = null;
  cp.on('close', ({ code, reason }) => { cp.closed = { code, reason: String(reason) }; });
  await cp.call('BootNotification', bootPayload('ocpp1.6'));
  return cp;
}

test("a charger's close code and reason reach the CSMS; on SIGTERM both sides get 1001", async () => {
  const csms = await csmsRecordingCloses();
  const { d, url } = await edge(csms.url, 'autonomous');
  const a = await station(url, 'CPA');
  await a.close({ code: 1000, reason: 'maintenance' });
  await until(() => csms.closes.has('CPA'), { what: 'the CSMS sees CPA close' });
  assert.deepEqual(csms.closes.get('CPA'), { code: 1000, reason: 'maintenance' });

  const b = await station(url, 'CPB');
  await d.stop();
  await until(() => b.closed && csms.closes.has('CPB'), { what: 'both sides of CPB closed' });
  assert.equal(b.closed.code, 1001);
  assert.equal(csms.closes.get('CPB').code, 1001);
});

test('in partition strict mode the charger gets the close frame the CSMS sent, not 1006', async () => {
  const csms = await csmsRecordingCloses();
  const { url } = await edge(csms.url, 'strict');
  const a = await station(url, 'CPA');
  await csms.clients.get('CPA').close({ code: 4001, reason: 'service restart' });
  await until(() => a.closed, { what: 'the charger closed' });
  assert.deepEqual(a.closed, { code: 4001, reason: 'service restart' });
});
