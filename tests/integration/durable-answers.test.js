// What the edge acknowledges to a charger is on disk before the acknowledgement leaves
// (docs/ARCHITECTURE.md; edge/core/store.h). The store commits its batch of rows once per turn of
// the loop; an answer written at once in the turn that batched a row would reach the charger
// before the row is committed. AMPGATE_TEST_SLOW_COMMIT_MS makes that commit wait 1.5 s (a slow
// disk), so the database, read the moment the answer arrives, shows whether the answer waited:
// - the edge accepting a boot with no CSMS configured ("booted" in the audit log);
// - a charger resuming without a BootNotification, answered by the edge (its "reconnected" line);
// - the edge accepting a boot while the CSMS is unreachable (outbox row and "booted");
// - the CSMS's boot accept passed on ("booted" recorded by the edge as it passes).
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { Daemon, freePort, sql, tmpDir } from '../lib/daemon.js';
import { bootPayload, connectStation, startCsms } from '../lib/ocpp.js';

const PW = { A: 'durable-password-a1', B: 'durable-password-b1' };
const SLOW = { AMPGATE_TEST_SLOW_COMMIT_MS: '1500' };

function conf(dir, port, upstream = '') {
  const chargers = Object.entries(PW).map(([id, pw]) => `{ id = "${id}"; max_a = 32.0; password = "${pw}"; }`);
  return `site = { name = "durable"; fallback_a = 6.0; grid = { limit_a = [100.0, 100.0, 100.0]; }; };
chargers = ( ${chargers.join(', ')} );
ocpp = { listen = "127.0.0.1:${port}"; path = "/ocpp"; security_profile = 1; call_timeout_s = 5; };
${upstream}
web = { listen = "127.0.0.1:1"; };
storage = { path = "${dir}/a.db"; };
`;
}

function upstream(url) {
  return `upstream = { url = "${url}"; security_profile = 1; credentials = "per-charger"; call_timeout_s = 5;
  answer_after_s = 1; reconnect_min_ms = 200; reconnect_max_ms = 1000; };`;
}

const count = (db, where) => Number(sql(db, `SELECT count(*) FROM ${where}`));
const booted = (db, id) => count(db, `events WHERE kind = 'charger' AND subject = '${id}' AND message LIKE 'booted:%'`);

async function withDaemon(dir, text, body) {
  fs.writeFileSync(path.join(dir, 'a.conf'), text);
  const d = new Daemon(path.join(dir, 'a.conf'), { env: SLOW });
  await d.start();
  try {
    await body(d);
  } finally {
    const r = await d.stop();
    assert.equal(r.code, 0);
  }
}

let csms;
after(async () => { await csms?.close(); });

test('no CSMS: the edge accepts a boot only once "booted" is committed; a resumed charger likewise', async () => {
  const dir = tmpDir();
  const port = await freePort();
  const db = path.join(dir, 'a.db');
  await withDaemon(dir, conf(dir, port), async () => {
    const url = `ws://127.0.0.1:${port}/ocpp`;
    const a = await connectStation({ url, id: 'A', protocol: 'ocpp1.6', password: PW.A });
    const res = await a.call('BootNotification', bootPayload('ocpp1.6'));
    assert.equal(res.status, 'Accepted');
    assert.equal(booted(db, 'A'), 1, 'the boot the edge accepted is on disk when the answer arrives');
    await a.close({ force: true });

    // A charger that comes back without booting (an ampgated restart) is taken as booted at its
    // first call; the edge answers that call itself.
    const b = await connectStation({ url, id: 'B', protocol: 'ocpp2.0.1', password: PW.B });
    await b.call('Heartbeat', {});
    assert.equal(count(db, `events WHERE subject = 'B' AND message LIKE 'reconnected without a BootNotification%'`), 1);
    await b.close({ force: true });
  });
});

test('CSMS unreachable: the edge accepts a boot only once the outbox row and "booted" are committed', async () => {
  const dir = tmpDir();
  const port = await freePort();
  const db = path.join(dir, 'a.db');
  await withDaemon(dir, conf(dir, port, upstream(`ws://127.0.0.1:${await freePort()}/csms`)), async () => {
    const a = await connectStation({ url: `ws://127.0.0.1:${port}/ocpp`, id: 'A', protocol: 'ocpp2.0.1', password: PW.A });
    const res = await a.call('BootNotification', bootPayload('ocpp2.0.1'));
    assert.equal(res.status, 'Accepted');
    assert.equal(count(db, `outbox WHERE charger_id = 'A' AND action = 'BootNotification'`), 1);
    assert.equal(booted(db, 'A'), 1);
    await a.close({ force: true });
  });
});

test("the CSMS's boot accept reaches the charger only once the edge's record of it is committed", async () => {
  const dir = tmpDir();
  const port = await freePort();
  const db = path.join(dir, 'a.db');
  csms = await startCsms({ passwords: PW });
  await withDaemon(dir, conf(dir, port, upstream(csms.url)), async (d) => {
    const a = await connectStation({ url: `ws://127.0.0.1:${port}/ocpp`, id: 'A', protocol: 'ocpp1.6', password: PW.A });
    const res = await a.call('BootNotification', bootPayload('ocpp1.6'));
    assert.equal(res.status, 'Accepted');
    assert.equal(csms.calls('BootNotification', 'A').length, 1, 'answered by the CSMS, not the edge');
    assert.equal(booted(db, 'A'), 1);
    assert.doesNotMatch(d.log, /the CSMS is not answering/);
    await a.close({ force: true });
  });
});
