// Charger authentication at the WebSocket upgrade, as attackers and installers meet it:
// password hashes verified off the event loop (guessers do not slow other chargers down), refusals
// answered in HTTP/1.1 with the right status, unknown stations answered exactly as wrong passwords,
// and refusals throttled per address with one summary line.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import WebSocket from 'ws';
import { Daemon, freePort, scaled, tmpDir } from '../lib/daemon.js';
import { bootPayload, connectStation, sleep } from '../lib/ocpp.js';

const PW = { CPH: 'hashed-password-0001', CPP: 'plain-password-00001', CPOK: 'heartbeat-password-01' };
// A costly hash (about 0.3 s here): one check on the event loop would stall every charger.
const ITER = 2000000;
function pbkdf2Hash(password) {
  const salt = crypto.randomBytes(16);
  const key = crypto.pbkdf2Sync(password, salt, ITER, 32, 'sha256');
  return `$pbkdf2-sha256$${ITER}$${salt.toString('base64')}$${key.toString('base64')}`;
}

let dir, daemon, port, url;
before(async () => {
  dir = tmpDir('ampgate-auth-');
  port = await freePort();
  url = `ws://127.0.0.1:${port}/ocpp`;
  fs.writeFileSync(path.join(dir, 'a.conf'), `
site = { name = "auth-test"; grid = { limit_a = [100.0, 100.0, 100.0]; }; };
chargers = ( { id = "CPH"; password_hash = "${pbkdf2Hash(PW.CPH)}"; },
             { id = "CPP"; password = "${PW.CPP}"; },
             { id = "CPOK"; password = "${PW.CPOK}"; } );
ocpp = { listen = "127.0.0.1:${port}"; path = "/ocpp"; security_profile = 1; };
web = { listen = "127.0.0.1:1"; };
storage = { path = "${dir}/ampgate.db"; };
`);
  daemon = new Daemon(path.join(dir, 'a.conf'));
  await daemon.start();
});
after(() => daemon?.stop());

/** One raw upgrade from `localAddress`; resolves with the status line, headers and body text. */
function rawUpgrade({ id, password, protocol = 'ocpp1.6', localAddress = '127.0.0.1' }) {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port, localAddress }, () => {
      const auth = password === undefined ? '' : `Authorization: Basic ${Buffer.from(`${id}:${password}`).toString('base64')}\r\n`;
      s.write(`GET /ocpp/${id} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: ${crypto.randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\n` +
        `Sec-WebSocket-Protocol: ${protocol}\r\n${auth}\r\n`);
    });
    let data = Buffer.alloc(0);
    s.on('data', (d) => { data = Buffer.concat([data, d]); });
    s.on('error', reject);
    s.setTimeout(scaled(8000), () => s.destroy());
    s.on('close', () => {
      const text = data.toString('latin1');
      const [head, ...rest] = text.split('\r\n\r\n');
      resolve({ status: head.split('\r\n')[0], head, body: rest.join('\r\n\r\n'), raw: data });
    });
  });
}

/** A ws client's view of one attempt: the HTTP status it was refused with, or the close code. */
function wsAttempt(id, password) {
  return new Promise((resolve) => {
    const ws = new WebSocket(`${url}/${id}`, ['ocpp1.6'], { headers: { Authorization: `Basic ${Buffer.from(`${id}:${password}`).toString('base64')}` } });
    ws.on('unexpected-response', (req, res) => { resolve({ status: res.statusCode, auth: res.headers['www-authenticate'] }); req.destroy(); });
    ws.on('close', (code, reason) => resolve({ close: code, reason: String(reason) }));
    ws.on('error', (e) => resolve({ error: e.message }));
  });
}

test('guessing a hashed charger password does not slow other chargers down; the right one gets in', async () => {
  const ok = await connectStation({ url, id: 'CPOK', protocol: 'ocpp1.6', password: PW.CPOK });
  await ok.call('BootNotification', bootPayload('ocpp1.6'));
  // Four guessers in a worker thread (so that this thread only measures), each guess from a
  // fresh loopback address and with a fresh password.
  const worker = new Worker(`
    const { parentPort, workerData } = require('node:worker_threads');
    const net = require('node:net'), crypto = require('node:crypto');
    let stop = false, guesses = 0, n = 0;
    parentPort.on('message', () => { stop = true; });
    const once = (a) => new Promise((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port: workerData.port, localAddress: '127.0.' + (1 + a) + '.' + (1 + (n++ % 250)) }, () => {
        const auth = Buffer.from('CPH:' + crypto.randomBytes(9).toString('hex')).toString('base64');
        s.write('GET /ocpp/CPH HTTP/1.1\\r\\nHost: x\\r\\nUpgrade: websocket\\r\\nConnection: Upgrade\\r\\n' +
          'Sec-WebSocket-Key: ' + crypto.randomBytes(16).toString('base64') + '\\r\\nSec-WebSocket-Version: 13\\r\\n' +
          'Sec-WebSocket-Protocol: ocpp1.6\\r\\nAuthorization: Basic ' + auth + '\\r\\n\\r\\n');
      });
      s.on('error', () => {}); s.on('data', () => {}); s.on('close', resolve); s.setTimeout(8000, () => s.destroy());
    });
    Promise.all([0, 1, 2, 3].map(async (a) => { while (!stop) { await once(a); guesses++; await new Promise((r) => setTimeout(r, 10)); } }))
      .then(() => parentPort.postMessage(guesses));
  `, { eval: true, workerData: { port } });
  const guessed = new Promise((resolve) => worker.once('message', resolve));
  await sleep(300);
  const rtt = [];
  const t0 = Date.now();
  while (Date.now() - t0 < scaled(5000)) {
    const t = process.hrtime.bigint();
    await ok.call('Heartbeat', {});
    rtt.push(Number(process.hrtime.bigint() - t) / 1e6);
    await sleep(20);
  }
  worker.postMessage('stop');
  const guesses = await guessed;
  await worker.terminate();
  await ok.close({ force: true });
  rtt.sort((a, b) => a - b);
  const p99 = rtt[Math.floor(rtt.length * 0.99)];
  const verified = (daemon.log.match(/CPH \((::ffff:)?127\.0\.\d+\.\d+\) refused: wrong user or password/g) ?? []).length;
  console.log(`heartbeats ${rtt.length}: p50 ${rtt[rtt.length >> 1].toFixed(1)} ms, p99 ${p99.toFixed(1)} ms, max ${rtt.at(-1).toFixed(1)} ms; ${guesses} guesses, ${verified} verified`);
  assert.ok(verified >= 3, `the guesses were checked (${verified})`);
  assert.ok(p99 < 100, `heartbeat p99 ${p99.toFixed(1)} ms while guessers work`);

  // The right password: admitted on its first attempt, and again from the cache.
  for (let i = 0; i < 2; i++) {
    const cp = await connectStation({ url, id: 'CPH', protocol: 'ocpp1.6', password: PW.CPH });
    assert.equal((await cp.call('BootNotification', bootPayload('ocpp1.6'))).status, 'Accepted');
    await cp.close({ force: true });
  }
});

test('refusals answer HTTP/1.1 with the right status; an unknown station is answered as a wrong password', async () => {
  const from = '127.0.200.1';
  const bad = await rawUpgrade({ id: 'CPP', password: 'not-the-password-1', protocol: 'mqtt', localAddress: from });
  assert.match(bad.status, /^HTTP\/1\.1 400 /);

  // With hashed passwords on the site, a first wrong guess, at a known or an unknown station,
  // is checked off the loop and closed with 1008; the same guess again gets 401 at once.
  const first = [await wsAttempt('CPP', 'wrong-password-0001'), await wsAttempt('NOSUCH', 'wrong-password-0001')];
  assert.deepEqual(first[0], { close: 1008, reason: 'authorization failed' });
  assert.deepEqual(first[1], first[0]);
  const again = [await rawUpgrade({ id: 'CPP', password: 'wrong-password-0001' }), await rawUpgrade({ id: 'NOSUCH', password: 'wrong-password-0001' })];
  for (const r of again) {
    assert.match(r.status, /^HTTP\/1\.1 401 Unauthorized$/);
    assert.match(r.head, /\r\nWWW-Authenticate: Basic realm="ocpp"/i);
  }
  assert.equal(again[1].body, again[0].body);
  const none = [await rawUpgrade({ id: 'CPP' }), await rawUpgrade({ id: 'NOSUCH' })];
  assert.match(none[0].status, /^HTTP\/1\.1 401 /);
  assert.equal(none[1].status, none[0].status);
  assert.equal(none[1].body, none[0].body);
  assert.deepEqual(await wsAttempt('CPP', 'wrong-password-0001'), { status: 401, auth: 'Basic realm="ocpp"' });
});

test('refusals from one address are throttled and summarised, not logged one by one', async () => {
  const from = '127.0.201.1';
  const statuses = [];
  for (let i = 0; i < 60; i++) statuses.push((await rawUpgrade({ id: 'CPP', protocol: 'mqtt', localAddress: from })).status.split(' ')[1]);
  assert.ok(statuses.slice(0, 10).every((s) => s === '400'), statuses.join(','));
  assert.ok(statuses.filter((s) => s === '429').length >= 40, statuses.join(','));
  const lines = daemon.log.split('\n').filter((l) => l.includes(`(${from}) refused`));
  assert.ok(lines.length <= 3, lines.join('\n'));
  // A charger with good credentials behind that address still gets in; a wrong guess does not.
  const cp = await connectStation({ url, id: 'CPOK', protocol: 'ocpp1.6', password: PW.CPOK, wsOpts: { localAddress: from } });
  assert.equal((await cp.call('BootNotification', bootPayload('ocpp1.6'))).status, 'Accepted');
  await cp.close({ force: true });
  assert.match((await rawUpgrade({ id: 'CPP', password: 'wrong-password-0002', localAddress: from })).status, / 429 /);
  // Another address is not held back.
  assert.match((await rawUpgrade({ id: 'CPP', protocol: 'mqtt', localAddress: '127.0.201.2' })).status, / 400 /);
  await daemon.waitForLog(/OCPP: in the last \d+ s, \d+ more refused connections were not logged one by one and \d+ were turned away/, 15000);
});
