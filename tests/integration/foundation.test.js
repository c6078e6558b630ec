// Foundation: --check and its file:line errors, start/stop timing, SIGHUP reload with a bad and
// a good file, the audit log and database integrity, and the systemd unit.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { AMPGATED, Daemon, ROOT, freePort, runSync, siteConfig, sql, tmpDir } from '../lib/daemon.js';

test('the shipped and demo configurations are valid', () => {
  for (const f of ['etc/ampgate.conf', 'etc/demo.conf']) {
    const r = runSync(AMPGATED, ['-c', path.join(ROOT, f), '--check']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /valid/);
  }
});

test('--version and --keys', () => {
  const v = runSync(AMPGATED, ['--version']);
  assert.equal(v.status, 0);
  assert.equal(v.stdout.trim(), `ampgated ${fs.readFileSync(path.join(ROOT, 'VERSION'), 'utf8').trim()}`);
  const k = runSync(AMPGATED, ['--keys']);
  assert.match(k.stdout, /^site\.margin_a +current kept free below every limit \[0 \.\. 100 A\] \(default 2\)$/m);
});

// Each broken file: the mistake on a known line, and the message we expect there.
const broken = [
  ['misspelt key', 'site = { name = "x";\n  grid = { limit_a = 100.0; };\n  margn_a = 2.0; };\n',
    /:3: site\.margn_a: unknown key \(did you mean "margin_a"\?\)/],
  ['value out of range', 'site = { name = "x";\n  grid = { limit_a = 100.0; };\n  voltage_v = 1000.0; };\n',
    /:3: site\.voltage_v: 1000 V is out of range \(100 \.\. 500 V\)/],
  ['charger on an unknown circuit',
    'site = { name = "x"; grid = { limit_a = 100.0; }; };\nchargers = ( { id = "CP1";\n  password = "0123456789abcdef";\n  circuit = "feeder-z"; } );\n',
    /:4: chargers\[0\]\.circuit: charger CP1: unknown circuit "feeder-z"/],
];

for (const [name, text, re] of broken) {
  test(`--check rejects a ${name} naming file:line`, () => {
    const dir = tmpDir();
    const f = path.join(dir, 'bad.conf');
    fs.writeFileSync(f, text);
    const r = runSync(AMPGATED, ['-c', f, '--check']);
    assert.equal(r.status, 1);
    assert.match(r.stderr, new RegExp(f.replace(/[.*+?^${}()|[\]\\]/g, '\\$&') + re.source));
  });
}

test('starts within 2 s, stops on SIGTERM within 2 s with exit 0, database intact', async () => {
  const dir = tmpDir();
  const conf = path.join(dir, 'a.conf');
  fs.writeFileSync(conf, siteConfig({ dir, ocppPort: await freePort(), webPort: await freePort() }));
  const d = new Daemon(conf);
  const t0 = Date.now();
  await d.start(2000);
  assert.ok(Date.now() - t0 < 2000, 'ready within 2 s');
  const r = await d.stop();
  assert.equal(r.code, 0, d.log);
  assert.ok(r.ms < 2000, `stopped in ${r.ms} ms`);
  const db = path.join(dir, 'ampgate.db');
  assert.equal(sql(db, 'PRAGMA integrity_check'), 'ok');
  assert.equal(sql(db, 'PRAGMA journal_mode'), 'wal');
  assert.equal(sql(db, "SELECT group_concat(kind, ',') FROM (SELECT kind FROM events ORDER BY id)"), 'start,stop');
});

test('SIGINT stops too', async () => {
  const dir = tmpDir();
  const conf = path.join(dir, 'a.conf');
  fs.writeFileSync(conf, siteConfig({ dir, ocppPort: await freePort(), webPort: await freePort() }));
  const d = new Daemon(conf);
  await d.start();
  d.signal('SIGINT');
  const r = await d.exitPromise;
  assert.equal(r.code, 0);
});

test('SIGHUP: a broken file is refused and logged, a good one applied', async () => {
  const dir = tmpDir();
  const conf = path.join(dir, 'a.conf');
  const ports = { ocppPort: await freePort(), webPort: await freePort() };
  fs.writeFileSync(conf, siteConfig({ dir, ...ports, site: 'margin_a = 2.0;' }));
  const d = new Daemon(conf);
  await d.start();

  fs.writeFileSync(conf, siteConfig({ dir, ...ports, site: 'margin_a = 2.0; control_perod_ms = 10;' }));
  d.signal('SIGHUP');
  await d.waitForLog(/site\.control_perod_ms: unknown key/);
  await d.waitForLog(/reload of .* failed; still running on the previous configuration/);
  assert.equal(d.exited, null, 'still running');

  fs.writeFileSync(conf, siteConfig({ dir, ...ports, site: 'margin_a = 3.5;' }));
  d.signal('SIGHUP');
  await d.waitForLog(/config: site\.margin_a: 2 -> 3\.5/);
  await d.waitForLog(/configuration reloaded/);
  const r = await d.stop();
  assert.equal(r.code, 0);
  const kinds = sql(path.join(dir, 'ampgate.db'),
    "SELECT group_concat(severity || ':' || kind, ',') FROM (SELECT * FROM events ORDER BY id)");
  assert.equal(kinds, 'notice:start,error:config,notice:config,notice:stop');
});

test('an unwritable database stops start-up with a clear error', async () => {
  const dir = tmpDir();
  const conf = path.join(dir, 'a.conf');
  fs.writeFileSync(conf, siteConfig({ dir: '/proc/nonexistent', ocppPort: await freePort(), webPort: await freePort() }));
  const r = runSync(AMPGATED, ['-c', conf], { timeout: 5000 });
  assert.equal(r.status, 1);
  assert.match(r.stderr, /database \/proc\/nonexistent\/ampgate\.db: cannot open/);
});

test('systemd-analyze verify is clean on the unit', () => {
  const dir = tmpDir();
  const unit = fs.readFileSync(path.join(ROOT, 'systemd/ampgated.service'), 'utf8')
    .replaceAll('/usr/sbin/ampgated', AMPGATED);
  fs.writeFileSync(path.join(dir, 'ampgated.service'), unit);
  const r = runSync('systemd-analyze', ['verify', path.join(dir, 'ampgated.service')]);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stderr.trim(), '');
});
