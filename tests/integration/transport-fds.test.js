// Descriptors: with a low open-file limit, idle web clients cannot starve chargers of
// descriptors (the last quarter is kept for chargers and uplinks), and the daemon says which
// limit it runs with. Chargers alone using up the descriptors make the OCPP port stop accepting
// (lws 4.1's own listener spun on accept() EMFILE at 100 % CPU) until some are free again.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { AMPGATED, Daemon, freePort, scaled, tmpDir } from '../lib/daemon.js';
import rpc from 'ocpp-rpc';
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

/** utime + stime of a process, in seconds. */
function cpuSeconds(pid) {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / 100; /* fields 14 and 15, in clock ticks (USER_HZ 100) */
}

/** A charger's connection, or null when it is not answered within `ms` (the attempt is dropped). */
async function tryStation(url, id, password, ms = scaled(3000)) {
  const cp = new rpc.RPCClient({
    endpoint: url, identity: id, protocols: ['ocpp1.6'], strictMode: true, password,
    reconnect: false, callTimeoutMs: 5000, pingIntervalMs: 0,
  });
  let timer;
  const ok = await Promise.race([
    cp.connect().then(() => true, () => false),
    new Promise((resolve) => { timer = setTimeout(() => resolve(false), ms); }),
  ]);
  clearTimeout(timer);
  if (!ok) {
    await cp.close({ force: true }).catch(() => {});
    return null;
  }
  return cp;
}

test('chargers using up every descriptor: the OCPP port waits instead of spinning, the rest keeps working', async (t) => {
  const dir = tmpDir('ampgate-fds-full-');
  const [op, wp] = [await freePort(), await freePort()];
  const ids = Array.from({ length: 130 }, (_, i) => `CPFULL${String(i).padStart(3, '0')}`);
  const pw = (id) => `password-${id}-fds`;
  fs.writeFileSync(path.join(dir, 'a.conf'), `
site = { name = "fds-full"; grid = { limit_a = [100.0, 100.0, 100.0]; }; };
chargers = ( ${ids.map((id) => `{ id = "${id}"; password = "${pw(id)}"; }`).join(',\n')} );
ocpp = { listen = "127.0.0.1:${op}"; path = "/ocpp"; security_profile = 1; };
web = { listen = "127.0.0.1:${wp}"; };
storage = { path = "${dir}/ampgate.db"; };
`);
  // A soft limit below the hard one, as a shell or an old unit gives: the daemon raises it.
  const d = new Daemon(null, { command: ['/bin/sh', '-c',
    `ulimit -Sn 64 && ulimit -Hn 128 && exec "${AMPGATED}" -c "${path.join(dir, 'a.conf')}"`] });
  await d.start();
  const url = `ws://127.0.0.1:${op}/ocpp`;
  const cps = [];
  let waiting;
  try {
    await d.waitForLog(/OCPP: open-file limit 128 \(was 64\)/);
    let next = 0;
    for (; next < ids.length; next++) {
      const cp = await tryStation(url, ids[next], pw(ids[next]));
      if (!cp) break;
      cps.push(cp);
      assert.equal((await cp.call('BootNotification', bootPayload('ocpp1.6'))).status, 'Accepted');
    }
    // More than the soft limit the daemon started with: lws sized its table after the raise.
    assert.ok(cps.length > 64 && next < ids.length, `${cps.length} chargers connected of ${ids.length}`);
    // The room the start-up line promised: two descriptors per charger with its uplink, so
    // twice as many of these (no CSMS here, one each), less what the daemon itself holds open.
    const room = Number(/room for about (\d+) chargers with uplinks/.exec(d.log)?.[1]);
    assert.ok(cps.length <= 2 * room && cps.length >= 2 * room - 24,
      `the log promised room for ${room} chargers with uplinks; ${cps.length} without uplinks fitted`);
    // One more waits in the listen queue while the edge is out of descriptors.
    waiting = net.connect({ host: '127.0.0.1', port: op });
    waiting.on('error', () => {});
    await sleep(300);

    const cpu0 = cpuSeconds(d.proc.pid);
    await sleep(5000);
    const cpu = cpuSeconds(d.proc.pid) - cpu0;
    t.diagnostic(`${cps.length} chargers connected; daemon CPU over 5 s with one waiting: ${cpu.toFixed(2)} s`);
    assert.ok(cpu < 1.0, `the daemon used ${cpu.toFixed(2)} s of CPU in 5 s with chargers waiting`);
    const full = d.log.split('\n').filter((l) =>
      /cannot accept more chargers: \d+ of 128 file descriptors in use; raise LimitNOFILE in the unit/.test(l));
    assert.equal(full.length, 1, `the 'cannot accept' line ${full.length} times:\n${d.log.slice(-3000)}`);
    t.diagnostic(full[0]);
    const spam = d.log.split('\n').filter((l) => /accept: errno 24/.test(l)).length;
    assert.ok(spam <= 2, `${spam} accept error lines`);

    // Chargers already in still get answers; the page still answers.
    for (const cp of [cps[0], cps[cps.length - 1]])
      assert.ok((await cp.call('Heartbeat', {})).currentTime);
    const page = await fetch(`http://127.0.0.1:${wp}/metrics`, { signal: AbortSignal.timeout(5000) });
    assert.equal(page.status, 200);
    assert.match(await page.text(), /ampgate_/);

    // Some chargers leave: a new one gets in.
    waiting.destroy();
    for (const cp of cps.splice(0, 3)) await cp.close({ force: true });
    const cp = await tryStation(url, ids[next], pw(ids[next]), scaled(5000));
    assert.ok(cp, `charger ${ids[next]} not accepted after 3 chargers left`);
    cps.push(cp);
    assert.equal((await cp.call('BootNotification', bootPayload('ocpp1.6'))).status, 'Accepted');
    await d.waitForLog(/accepting chargers again: \d+ of 128 file descriptors in use/);
  } finally {
    waiting?.destroy();
    for (const cp of cps) await cp.close({ force: true }).catch(() => {});
    await d.stop();
  }
});
