// OCPP security profiles 2 (TLS + Basic) and 3 (mutual TLS, station id = certificate CN) on the
// charger side and towards the CSMS, with a test CA.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { Daemon, freePort, tmpDir } from '../lib/daemon.js';
import { makeCerts } from '../lib/certs.js';
import { bootPayload, connectStation, startCsms, until } from '../lib/ocpp.js';

const PW = 'tls-password-00001';

async function startEdge(dir, file, profile) {
  const port = await freePort();
  fs.writeFileSync(path.join(dir, 'edge.conf'), `site = { name = "tls"; grid = { limit_a = 100.0; }; };
chargers = ( { id = "CP-A"; password = "${PW}"; }, { id = "CP-B"; password = "${PW}"; } );
ocpp = { listen = "127.0.0.1:${port}"; security_profile = ${profile};
  tls = { cert = "${file('server.crt')}"; key = "${file('server.key')}"; ca = "${file('ca.crt')}"; }; };
web = { listen = "127.0.0.1:1"; };
storage = { path = "${dir}/p${profile}.db"; };
`);
  const d = new Daemon(path.join(dir, 'edge.conf'));
  await d.start();
  return { d, url: `wss://127.0.0.1:${port}/ocpp` };
}

test('profile 2: TLS with Basic auth, verified against the test CA', async () => {
  const dir = tmpDir();
  const file = makeCerts(dir);
  const { d, url } = await startEdge(dir, file, 2);
  try {
    const ca = fs.readFileSync(file('ca.crt'));
    const cp = await connectStation({ url, id: 'CP-A', protocol: 'ocpp1.6', password: PW, wsOpts: { ca } });
    assert.equal((await cp.call('BootNotification', bootPayload('ocpp1.6'))).status, 'Accepted');
    await cp.close({ force: true });
    await assert.rejects(connectStation({ url, id: 'CP-A', protocol: 'ocpp1.6', password: 'wrong-password-000', wsOpts: { ca } }),
      (e) => e.code === 401);
    await assert.rejects(connectStation({ url, id: 'CP-A', protocol: 'ocpp1.6', password: PW }), 'untrusted without the CA');
  } finally {
    await d.stop();
  }
});

test('profile 3: mutual TLS; a certificate for another station is refused', async () => {
  const dir = tmpDir();
  const file = makeCerts(dir, ['CP-A', 'CP-B']);
  const { d, url } = await startEdge(dir, file, 3);
  try {
    const tls = (cn) => ({ ca: fs.readFileSync(file('ca.crt')), cert: fs.readFileSync(file(`client-${cn}.crt`)), key: fs.readFileSync(file(`client-${cn}.key`)) });
    const cp = await connectStation({ url, id: 'CP-A', protocol: 'ocpp2.0.1', wsOpts: tls('CP-A') });
    assert.equal((await cp.call('BootNotification', bootPayload('ocpp2.0.1'))).status, 'Accepted');
    await cp.close({ force: true });
    await assert.rejects(connectStation({ url, id: 'CP-A', protocol: 'ocpp2.0.1', wsOpts: tls('CP-B') }), (e) => e.code === 403);
    await assert.rejects(connectStation({ url, id: 'CP-A', protocol: 'ocpp2.0.1', wsOpts: { ca: tls('CP-A').ca } }), 'no client certificate');
    assert.match(d.log, /charger CP-A .* refused: its client certificate is for "CP-B"/);
  } finally {
    await d.stop();
  }
});

/** An edge on plain ws towards chargers, with the CSMS upstream over TLS. */
async function upstreamEdge(dir, csmsUrl, upstream) {
  const port = await freePort();
  fs.writeFileSync(path.join(dir, 'up.conf'), `site = { name = "tls-up"; grid = { limit_a = 100.0; }; };
chargers = ( { id = "CP-A"; password = "${PW}"; } );
ocpp = { listen = "127.0.0.1:${port}"; security_profile = 1; };
upstream = { url = "${csmsUrl}"; credentials = "per-charger"; reconnect_min_ms = 200; reconnect_max_ms = 500;
  call_timeout_s = 2; ${upstream} };
web = { listen = "127.0.0.1:1"; };
storage = { path = "${dir}/up.db"; };
`);
  const d = new Daemon(path.join(dir, 'up.conf'));
  await d.start();
  return { d, url: `ws://127.0.0.1:${port}/ocpp` };
}

test('upstream profile 2: the CSMS certificate is verified against upstream.tls.ca; an untrusted one is refused', async () => {
  const dir = tmpDir();
  const file = makeCerts(dir);
  const other = makeCerts(tmpDir());
  const tls = { cert: fs.readFileSync(file('server.crt')), key: fs.readFileSync(file('server.key')) };
  const csms = await startCsms({ passwords: { 'CP-A': PW }, tls });
  try {
    const good = await upstreamEdge(dir, csms.url, `security_profile = 2; tls = { ca = "${file('ca.crt')}"; };`);
    try {
      const cp = await connectStation({ url: good.url, id: 'CP-A', protocol: 'ocpp1.6', password: PW });
      await until(() => csms.clients.has('CP-A'), { what: 'the edge connected to the CSMS over TLS' });
      assert.equal((await cp.call('BootNotification', bootPayload('ocpp1.6'))).status, 'Accepted');
      assert.equal(csms.calls('BootNotification', 'CP-A').length, 1, 'the boot went through the TLS uplink');
      await cp.close({ force: true });
    } finally {
      await good.d.stop();
    }
    csms.clients.clear();
    const bad = await upstreamEdge(dir, csms.url, `security_profile = 2; tls = { ca = "${other('ca.crt')}"; };`);
    try {
      const cp = await connectStation({ url: bad.url, id: 'CP-A', protocol: 'ocpp1.6', password: PW });
      // The edge answers the charger itself while it cannot trust the CSMS, and says why.
      assert.equal((await cp.call('BootNotification', bootPayload('ocpp1.6'))).status, 'Accepted');
      await bad.d.waitForLog(/charger CP-A: uplink to the CSMS not reachable \(wss:\/\/127\.0\.0\.1:\d+\/csms\/CP-A: TLS handshake failed: is the CSMS certificate signed by upstream.tls.ca/, 8000);
      assert.equal(csms.clients.has('CP-A'), false, 'no connection to a CSMS the edge cannot verify');
      await cp.close({ force: true });
    } finally {
      await bad.d.stop();
    }
  } finally {
    await csms.close();
  }
});

test('upstream profile 3: the edge presents its client certificate to the CSMS', async () => {
  const dir = tmpDir();
  const file = makeCerts(dir, ['CP-A']);
  const tls = { cert: fs.readFileSync(file('server.crt')), key: fs.readFileSync(file('server.key')),
    ca: fs.readFileSync(file('ca.crt')), requestCert: true };
  const csms = await startCsms({ tls });
  try {
    const e = await upstreamEdge(dir, csms.url,
      `security_profile = 3; tls = { ca = "${file('ca.crt')}"; cert = "${file('client-CP-A.crt')}"; key = "${file('client-CP-A.key')}"; };`);
    try {
      const cp = await connectStation({ url: e.url, id: 'CP-A', protocol: 'ocpp2.0.1', password: PW });
      await until(() => csms.clients.has('CP-A'), { what: 'mutual TLS uplink' });
      assert.equal((await cp.call('BootNotification', bootPayload('ocpp2.0.1'))).status, 'Accepted');
      assert.equal(csms.calls('BootNotification', 'CP-A').length, 1);
      assert.deepEqual(csms.clientCerts, ['CP-A']);
      await cp.close({ force: true });
    } finally {
      await e.d.stop();
    }
  } finally {
    await csms.close();
  }
});
