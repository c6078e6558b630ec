// Start and reload are all-or-nothing (issue 19 item 4). A reload refused by a later module leaves
// the running configuration whole: the chargers keep their limits and nothing points into the
// refused file (run under the ASan build to see a use after free). A module that fails at start
// makes the daemon exit cleanly: exit code 1, a log line naming the module, every module already
// started stopped again.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { Daemon, freePort, tmpDir } from '../lib/daemon.js';
import { bootPayload, connectStation, effectiveLimit, until } from '../lib/ocpp.js';

const PW = 'lifecycle-password-01';

function conf(dir, port, gridA) {
  return `site = { name = "lifecycle"; margin_a = 2.0; fallback_a = 6.0; control_period_ms = 300;
  grid = { limit_a = [${gridA}.0, ${gridA}.0, ${gridA}.0]; };
  circuits = ( { id = "feeder-a"; limit_a = [100.0, 100.0, 100.0]; } ); };
chargers = ( { id = "A"; circuit = "feeder-a"; password = "${PW}"; } );
ocpp = { listen = "127.0.0.1:${port}"; };
web = { listen = "127.0.0.1:1"; };
storage = { path = "${dir}/a.db"; };
`;
}

test('a reload refused by the last module changes nothing: old limits stay, nothing dangles', async () => {
  const dir = tmpDir();
  const file = path.join(dir, 'a.conf');
  const port = await freePort();
  fs.writeFileSync(file, conf(dir, port, 20));
  const d = new Daemon(file, { env: { AMPGATE_TEST_REFUSE_RELOAD: 'web' } });
  await d.start();
  try {
    const cp = await connectStation({ url: `ws://127.0.0.1:${port}/ocpp`, id: 'A', protocol: 'ocpp1.6', password: PW });
    await cp.call('BootNotification', bootPayload('ocpp1.6'));
    await cp.call('StatusNotification', { connectorId: 1, errorCode: 'NoError', status: 'Charging' });
    await until(() => Math.abs(effectiveLimit(cp.profiles, 'ocpp1.6') - 18) < 0.11, { what: 'A at 20 - 2 = 18 A' });

    fs.writeFileSync(file, conf(dir, port, 10));
    d.signal('SIGHUP');
    await d.waitForLog(/reload refused by web .*; still running on the previous configuration/);
    // Several control periods and a charger frame on the old configuration: the limit stays.
    await new Promise((r) => setTimeout(r, 1500));
    await cp.call('StatusNotification', { connectorId: 1, errorCode: 'NoError', status: 'Charging' });
    await new Promise((r) => setTimeout(r, 600));
    assert.equal(effectiveLimit(cp.profiles, 'ocpp1.6'), 18);
    assert.doesNotMatch(d.log, /configuration reloaded/);
    assert.doesNotMatch(d.log, /site\.grid\.limit_a/, 'no module applied the refused file');
    await cp.close({ force: true });
  } finally {
    const r = await d.stop();
    assert.equal(r.code, 0);
  }
});

for (const module of ['store', 'lws', 'devices', 'proxy', 'profiles', 'setup', 'site', 'health', 'mqtt', 'web']) {
  test(`a failure at the start of ${module} stops the daemon cleanly, naming it`, async () => {
    const dir = tmpDir();
    const file = path.join(dir, 'a.conf');
    fs.writeFileSync(file, conf(dir, await freePort(), 20));
    const d = new Daemon(file, { env: { AMPGATE_TEST_FAIL_START: module } });
    await assert.rejects(d.start(), /exited/);
    const r = await d.stop(); // throws on a sanitizer report
    assert.equal(r.code, 1);
    assert.match(d.log, new RegExp(`cannot start ${module}: `));
    assert.doesNotMatch(d.log, /start: ampgated .* started/);
  });
}

test('the proxy failing part-way (its OCPP port taken) is unwound with the modules before it', async () => {
  const dir = tmpDir();
  const file = path.join(dir, 'a.conf');
  const port = await freePort();
  const busy = net.createServer();
  await new Promise((resolve) => busy.listen(port, '127.0.0.1', resolve));
  try {
    fs.writeFileSync(file, conf(dir, port, 20));
    const d = new Daemon(file);
    await assert.rejects(d.start(), /exited/);
    const r = await d.stop(); // a leak of the half-started proxy is a sanitizer report here
    assert.equal(r.code, 1);
    assert.match(d.log, /cannot start proxy: /);
  } finally {
    busy.close();
  }
});
