// The uplink to the CSMS comes back whatever way it failed: a CSMS that accepts TCP and never
// answers the WebSocket upgrade, one that answers garbage HTTP, one that refuses the upgrade.
// Every failure is logged in words (charger id, URL, what to check) and retried with the backoff;
// once a healthy CSMS listens on the same port the uplink opens and the site page says so.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import rpc from 'ocpp-rpc';
import { AMPGATECTL, Daemon, freePort, runSync, scaled, tmpDir } from '../lib/daemon.js';
import { bootPayload, connectStation, defaultAnswer, PROTOCOLS, until } from '../lib/ocpp.js';

const PW = 'password-uplink-0001';
const USER_PW = 'uplink-test-manager-pw';
let dir, daemon, csmsPort, edgeUrl, webBase, cp;

/** A TCP server on csmsPort that misbehaves as `answer(socket)` says; counts connections. */
function badCsms(answer) {
  const srv = net.createServer((s) => {
    srv.connections++;
    s.on('error', () => {});
    answer(s);
  });
  srv.connections = 0;
  srv.sockets = new Set();
  srv.on('connection', (s) => { srv.sockets.add(s); s.on('close', () => srv.sockets.delete(s)); });
  return new Promise((resolve) => srv.listen(csmsPort, '127.0.0.1', () => resolve(srv)));
}
function closeServer(srv) {
  for (const s of srv.sockets) s.destroy();
  return new Promise((resolve) => srv.close(resolve));
}

let cookie;
async function siteConnected() {
  if (cookie) return (await (await fetch(`${webBase}/api/v1/site`, { headers: { Cookie: cookie } })).json()).uplink.connected;
  const login = await fetch(`${webBase}/api/v1/login`, { method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ name: 'manager', password: USER_PW }) });
  assert.equal(login.status, 200);
  cookie = login.headers.get('set-cookie').split(';')[0];
  return (await (await fetch(`${webBase}/api/v1/site`, { headers: { Cookie: cookie } })).json()).uplink.connected;
}

before(async () => {
  dir = tmpDir('ampgate-uplink-');
  const [ocppPort, webPort] = [await freePort(), await freePort()];
  csmsPort = await freePort();
  edgeUrl = `ws://127.0.0.1:${ocppPort}/ocpp`;
  webBase = `http://127.0.0.1:${webPort}`;
  const r = runSync(AMPGATECTL, ['passwd'], { input: `${USER_PW}\n` });
  assert.equal(r.status, 0, r.stderr);
  fs.writeFileSync(path.join(dir, 'a.conf'), `
site = { name = "uplink-test"; grid = { limit_a = [100.0, 100.0, 100.0]; }; };
chargers = ( { id = "CPU1"; max_a = 32.0; password = "${PW}"; } );
ocpp = { listen = "127.0.0.1:${ocppPort}"; path = "/ocpp"; security_profile = 1; };
upstream = { url = "ws://127.0.0.1:${csmsPort}/csms"; security_profile = 1; call_timeout_s = 5;
  reconnect_min_ms = 200; reconnect_max_ms = 800; connect_timeout_s = 2; };
web = { listen = "127.0.0.1:${webPort}";
  users = ( { name = "manager"; password_hash = "${r.stdout.trim()}"; role = "manager"; } ); };
storage = { path = "${dir}/ampgate.db"; };
`);
  daemon = new Daemon(path.join(dir, 'a.conf'));
  await daemon.start();
});
after(async () => {
  await cp?.close({ force: true });
  await daemon?.stop();
});

test('an uplink that failed at any stage is logged and retried until a healthy CSMS answers', async () => {
  // 1. Accepts TCP, never answers the upgrade.
  let bad = await badCsms(() => {});
  cp = await connectStation({ url: edgeUrl, id: 'CPU1', protocol: 'ocpp1.6', password: PW });
  await until(() => bad.connections >= 2, { timeoutMs: scaled(9000), what: 'a second attempt at a silent CSMS' });
  await daemon.waitForLog(/charger CPU1: uplink to the CSMS not reachable \(ws:\/\/127\.0\.0\.1:\d+\/csms\/CPU1: no answer to the WebSocket upgrade within 2 s/);
  await closeServer(bad);

  // 2. Answers garbage HTTP.
  bad = await badCsms((s) => s.once('data', () => s.end('garbage\r\n\r\n')));
  await until(() => bad.connections >= 2, { timeoutMs: scaled(6000), what: 'a second attempt at a garbage CSMS' });
  await closeServer(bad);

  // 3. Refuses the upgrade with an HTTP error.
  bad = await badCsms((s) => s.once('data', () => s.end('HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\n\r\n')));
  await until(() => bad.connections >= 2, { timeoutMs: scaled(6000), what: 'a second attempt at a refusing CSMS' });
  await closeServer(bad);
  assert.equal(await siteConnected(), 0);

  // 4. A healthy CSMS on the same port: the uplink opens without the charger reconnecting.
  const server = new rpc.RPCServer({ protocols: PROTOCOLS, strictMode: true, pingIntervalMs: 0 });
  const got = [];
  server.on('client', (c) => c.handle(({ method, params }) => { got.push(method); return defaultAnswer(c.protocol, method, params); }));
  await server.listen(csmsPort, '127.0.0.1');
  try {
    await until(async () => (await siteConnected()) === 1, { timeoutMs: scaled(6000), stepMs: 200, what: 'uplink connected' });
    await cp.call('BootNotification', bootPayload('ocpp1.6'));
    assert.deepEqual(got, ['BootNotification']);
  } finally {
    await server.close({ force: true });
  }
  const lines = daemon.log.split('\n').filter((l) => /CPU1: uplink to the CSMS not reachable/.test(l));
  assert.ok(lines.some((l) => /not a WebSocket upgrade|the connection ended during the WebSocket upgrade/.test(l)), lines.join('\n'));
  assert.ok(lines.some((l) => /503/.test(l)), lines.join('\n'));
});
