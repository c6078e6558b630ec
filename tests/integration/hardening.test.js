// Issue 18 against the real daemon: the login lockout cannot be pushed out by other traffic, the
// HTTP framing and cookie parsing are strict, a manager's numbers are range-checked, and the
// database is not readable by everyone whatever the umask.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import path from 'node:path';
import { AMPGATECTL, Daemon, freePort, runSync, siteConfig, tmpDir } from '../lib/daemon.js';

const USERS = { manager: 'manager-pass-1', operator: 'operator-pass-1' };
let d, dir, webPort, base;

function hash(password) {
  const r = runSync(AMPGATECTL, ['passwd'], { input: `${password}\n` });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim();
}

before(async () => {
  dir = tmpDir('ampgate-hardening-');
  webPort = await freePort();
  const cfg = path.join(dir, 'ampgate.conf');
  fs.writeFileSync(cfg, siteConfig({ dir, ocppPort: await freePort(), webPort }).replace(/web = \{[^\n]*\n/, `
web = { listen = "127.0.0.1:${webPort}";
  users = ( { name = "manager"; password_hash = "${hash(USERS.manager)}"; role = "manager"; },
            { name = "operator"; password_hash = "${hash(USERS.operator)}"; role = "manager"; } ); };
`));
  // The daemon runs with the most permissive umask there is; its files must still be private.
  const old = process.umask(0);
  d = new Daemon(cfg);
  try {
    await d.start();
  } finally {
    process.umask(old);
  }
  base = `http://127.0.0.1:${webPort}`;
});

after(async () => {
  await d?.stop();
});

/** POST /api/v1/login from the loopback address `from` (any of 127/8); { status, body }. */
function loginFrom(from, name, password) {
  const body = JSON.stringify({ name, password });
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port: webPort, path: '/api/v1/login', method: 'POST', localAddress: from,
      headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) } }, (res) => {
      let text = '';
      res.on('data', (c) => { text += c; });
      res.on('end', () => resolve({ status: res.statusCode, body: JSON.parse(text), cookie: res.headers['set-cookie']?.[0] }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** As loginFrom, waiting while the edge answers 503 (two password checks already running). */
async function loginRetry(from, name, password) {
  for (;;) {
    const r = await loginFrom(from, name, password);
    if (r.status !== 503) return r;
    await new Promise((res) => setTimeout(res, 50));
  }
}

/** Send raw bytes; resolves with what came back once the edge closes (or after 5 s). */
function raw(text) {
  return new Promise((resolve, reject) => {
    const s = net.connect(webPort, '127.0.0.1');
    let got = '';
    s.on('data', (c) => { got += c; });
    s.on('end', () => resolve(got));
    s.on('close', () => resolve(got));
    s.on('error', reject);
    s.setTimeout(5000, () => { s.destroy(); resolve(got); });
    s.write(text); // no half-close: lws would drop a request whose answer is still being worked out
  });
}

async function manager() {
  const r = await loginRetry('127.0.0.1', 'manager', USERS.manager);
  assert.equal(r.status, 200, JSON.stringify(r.body));
  return { cookie: r.cookie.split(';')[0], csrf: r.body.csrf_token };
}

test('the database and its journal are created 0640 even under umask 000', () => {
  const files = fs.readdirSync(dir).filter((f) => f.startsWith('ampgate.db'));
  assert.ok(files.includes('ampgate.db'), files.join(','));
  for (const f of files) assert.equal((fs.statSync(path.join(dir, f)).mode & 0o777).toString(8), '640', f);
});

test('a temporary limit is range-checked: 1e308 and above the connection are refused in words, the site still answers', async () => {
  const { cookie, csrf } = await manager();
  const setLimit = (limit_a) => fetch(`${base}/api/v1/site/limit`, { method: 'POST',
    headers: { 'Content-Type': 'application/json', Cookie: cookie, 'X-CSRF-Token': csrf },
    body: `{"limit_a": ${limit_a}, "duration_s": 60}` });
  for (const big of ['1e308', '100.5', '250']) {
    const r = await setLimit(big);
    const body = await r.json();
    assert.equal(r.status, 400, `${big}: ${JSON.stringify(body)}`);
    assert.match(body.error, /is above the configured grid limit of 100\.0 A per phase; a temporary limit can only lower it \(no effect above 100\.0 A\)/);
  }
  const site = await fetch(`${base}/api/v1/site`, { headers: { Cookie: cookie } });
  assert.equal(site.status, 200, 'the site still reads after the refused limits');
  assert.equal((await setLimit('40')).status, 200, 'a limit below the connection is taken');
  assert.equal((await fetch(`${base}/api/v1/site`, { headers: { Cookie: cookie } })).status, 200);
});

test('only a cookie named exactly ampgate_session is a session', async () => {
  const { cookie } = await manager();
  const sid = cookie.split('=')[1];
  const get = (c) => fetch(`${base}/api/v1/session`, { headers: { Cookie: c } });
  assert.equal((await get(`xampgate_session=${sid}`)).status, 401, 'a longer name ending in ours');
  assert.equal((await get(`theme=dark; xampgate_session=${sid}`)).status, 401);
  assert.equal((await get(`theme=dark; ampgate_session=${sid}`)).status, 200, 'ours among others');
  assert.equal((await get(`ampgate_session=${sid}`)).status, 200);
});

test('ambiguous body framing is refused with 400', async () => {
  const body = '{"name":"manager","password":"x"}';
  const req = (headers) => `POST /api/v1/login HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n${headers}\r\n${body}`;
  const cases = {
    'duplicate Content-Length': `Content-Length: ${body.length}\r\nContent-Length: ${body.length}\r\n`,
    'Content-Length with a sign': `Content-Length: +${body.length}\r\n`,
    'Transfer-Encoding: xchunked': `Transfer-Encoding: xchunked\r\nContent-Length: ${body.length}\r\n`,
    'Transfer-Encoding and Content-Length': `Transfer-Encoding: chunked\r\nContent-Length: ${body.length}\r\n`,
  };
  for (const [what, headers] of Object.entries(cases)) {
    const answer = await raw(req(headers));
    assert.match(answer, /^HTTP\/1\.1 400 /, `${what}: ${answer.slice(0, 200)}`);
  }
  // The same request framed once and plainly reaches the login (wrong password: 401).
  const answer = await raw(req(`Content-Length: ${body.length}\r\nConnection: close\r\n`));
  assert.match(answer, /^HTTP\/1\.1 401 /, answer.slice(0, 200));
});

// The bypass of issue 18: four guesses, then failures from 70 fresh addresses, each for a name
// that is no user, used to push the user's counter out of the shared table.
test('failures from many fresh addresses do not reset a user\'s wrong-password count', async () => {
  for (let i = 0; i < 4; i++) {
    const r = await loginRetry(`127.0.0.${10 + i}`, 'operator', `wrong-${i}`);
    assert.equal(r.status, 401, JSON.stringify(r.body));
  }
  const spray = [];
  for (let i = 0; i < 70; i++) spray.push(`127.0.1.${i + 1}`);
  for (let i = 0; i < spray.length; i += 2) {
    const rs = await Promise.all(spray.slice(i, i + 2).map((a, k) => loginRetry(a, `nobody${i + k}`, 'guess')));
    for (const r of rs) assert.equal(r.status, 401);
  }
  const fifth = await loginRetry('127.0.0.20', 'operator', 'wrong-4');
  assert.equal(fifth.status, 429, `the fifth wrong password for operator locks it: ${JSON.stringify(fifth.body)}`);
  const right = await loginRetry('127.0.0.21', 'operator', USERS.operator);
  assert.equal(right.status, 429, 'even the right password waits, from any address');
  assert.match(right.body.error, /too many wrong passwords/);
  // Another user is not locked by it.
  assert.equal((await loginRetry('127.0.0.22', 'manager', USERS.manager)).status, 200);
});
