// Descriptors: with a low open-file limit, idle web clients cannot starve chargers of
// descriptors (the last quarter is kept for chargers and uplinks), and the daemon says which
// limit it runs with.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { AMPGATED, Daemon, freePort, tmpDir } from '../lib/daemon.js';
import { bootPayload, connectStation, sleep } from '../lib/ocpp.js';

const PW = 'password-fds-000001';
let daemon, ocppPort, webPort;
const idle = [];

before(async () => {
  const dir = tmpDir('ampgate-fds-');
  [ocppPort, webPort] = [await freePort(), await freePort()];
  fs.writeFileSync(path.join(dir, 'a.conf'), `
site = { name = "fds-test"; grid = { limit_a = [100.0, 100.0, 100.0]; }; };
chargers = ( { id = "CPFD"; password = "${PW}"; } );
ocpp = { listen = "127.0.0.1:${ocppPort}"; path = "/ocpp"; security_profile = 1; };
web = { listen = "127.0.0.1:${webPort}"; };
storage = { path = "${dir}/ampgate.db"; };
`);
  daemon = new Daemon(null, { command: ['/bin/sh', '-c', `ulimit -n 64 && exec "${AMPGATED}" -c "${path.join(dir, 'a.conf')}"`] });
  await daemon.start();
});
after(async () => {
  for (const s of idle) s.destroy();
  await daemon?.stop();
});

test('100 idle web sockets under a 64-descriptor limit leave room for chargers', async () => {
  await daemon.waitForLog(/OCPP: open-file limit 64 \(was 64\)/);
  for (let i = 0; i < 100; i++) {
    const s = net.connect({ host: '127.0.0.1', port: webPort });
    s.on('error', () => {});
    idle.push(s);
  }
  await sleep(1000);
  const cp = await connectStation({ url: `ws://127.0.0.1:${ocppPort}/ocpp`, id: 'CPFD', protocol: 'ocpp1.6', password: PW });
  assert.equal((await cp.call('BootNotification', bootPayload('ocpp1.6'))).status, 'Accepted');
  await cp.close({ force: true });
  const spam = daemon.log.split('\n').filter((l) => /accept: errno 24/.test(l)).length;
  assert.ok(spam <= 2, `${spam} accept error lines`);
});
