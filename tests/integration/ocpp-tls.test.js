// OCPP security profiles 2 (TLS + Basic) and 3 (mutual TLS, station id = certificate CN) on the
// charger side, with a test CA.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { Daemon, freePort, tmpDir } from '../lib/daemon.js';
import { makeCerts } from '../lib/certs.js';
import { bootPayload, connectStation } from '../lib/ocpp.js';

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
