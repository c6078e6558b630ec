// Charger health end to end, OCPP 1.6J and 2.0.1, strict ocpp-rpc chargers and CSMS: the remote
// healing ladder on its configured timings (soft resets, one hard reset, then a technician alert
// and nothing more), never during a transaction, never seen by the CSMS; a silent socket closed
// and healthy again when the charger comes back; the same while the CSMS is unreachable; the
// availability figures of a scripted day to the second, across a restart; and `ampgatectl
// report` against figures computed here from a generated history.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { AMPGATECTL, Daemon, freePort, runSync, sql, tmpDir } from '../lib/daemon.js';
import { bootPayload, connectStation, sleep, startCsms, TS, until } from '../lib/ocpp.js';

const PROTOCOLS = [['ocpp1.6', '16'], ['ocpp2.0.1', '201']];
const pw = (id) => `pw-${id}-0123456789`;
const HEARTBEAT_MS = 1000; // the test stations heartbeat like real ones, so only a muted one falls silent

function config(dir, ocppPort, { ids, csmsUrl, health }) {
  const chargers = ids.map((id) => `{ id = "${id}"; max_a = 32.0; password = "${pw(id)}"; }`).join(',\n  ');
  const upstream = csmsUrl ? `upstream = { url = "${csmsUrl}"; security_profile = 1; credentials = "per-charger";
  call_timeout_s = 2; reconnect_min_ms = 200; reconnect_max_ms = 1000; };` : '';
  return `site = { name = "health-test"; fallback_a = 6.0; grid = { limit_a = [200.0, 200.0, 200.0]; }; };
chargers = (
  ${chargers}
);
ocpp = { listen = "127.0.0.1:${ocppPort}"; path = "/ocpp"; security_profile = 1; call_timeout_s = 2; };
${upstream}
web = { listen = "127.0.0.1:1"; };
health = { ${health} };
storage = { path = "${dir}/ampgate.db"; };
`;
}

const v16 = (protocol) => protocol === 'ocpp1.6';
const status = (protocol, s, extra = {}) => (v16(protocol)
  ? { connectorId: 1, errorCode: 'NoError', status: s, ...extra }
  : { timestamp: TS(), connectorStatus: s, evseId: 1, connectorId: 1 });
const faulted = (protocol) => (v16(protocol)
  ? status(protocol, 'Faulted', { errorCode: 'GroundFailure', vendorErrorCode: 'E-GF-17' })
  : status(protocol, 'Faulted'));
// 2.0.1 tells what is wrong with NotifyEvent: the Problem variable and the vendor's techCode.
const problem = () => ({ generatedAt: TS(), seqNo: 0, eventData: [{ eventId: 1, timestamp: TS(), trigger: 'Delta',
  actualValue: 'true', techCode: 'E-GF-17', eventNotificationType: 'HardWiredNotification',
  component: { name: 'Connector', evse: { id: 1, connectorId: 1 } }, variable: { name: 'Problem' } }] });

/**
 * A strict station that records the edge's calls with their arrival time, heartbeats every
 * second, and can be muted (answers nothing, sends nothing, socket left open). `fresh()` is the
 * status it sends when asked for one (TriggerMessage StatusNotification); `afterReset()` what it
 * sends after accepting a Reset.
 */
async function station(url, protocol, id, { fresh, afterReset } = {}) {
  const calls = [];
  const mute = { on: false };
  let cp = null;
  const later = (fn) => setTimeout(() => { if (!mute.on && cp) fn().catch(() => {}); }, 20);
  const own = {
    Reset: (params) => {
      calls.push({ method: 'Reset', params, at: Date.now() });
      if (afterReset) later(afterReset);
      return { status: 'Accepted' };
    },
    TriggerMessage: (params) => {
      calls.push({ method: 'TriggerMessage', params, at: Date.now() });
      if (params.requestedMessage === 'StatusNotification' && fresh) later(() => cp.call('StatusNotification', fresh()));
      if (params.requestedMessage === 'Heartbeat') later(() => cp.call('Heartbeat', {}));
      return { status: 'Accepted' };
    },
  };
  const handlers = new Proxy(own, { get: (t, m) => (mute.on ? () => new Promise(() => {}) : t[m]) });
  cp = await connectStation({ url, id, protocol, password: pw(id), handlers });
  cp.edgeCalls = calls;
  // When each of its own CALLs actually left (ocpp-rpc sends one at a time, so a call may wait
  // behind a heartbeat the edge answers slowly while the CSMS is unreachable).
  cp.sent = [];
  cp.on('message', ({ message, outbound }) => {
    const m = JSON.parse(String(message));
    if (outbound && m[0] === 2) cp.sent.push({ action: m[2], params: m[3], at: Date.now() });
  });
  cp.sentAt = (action, pred = () => true) => cp.sent.find((c) => c.action === action && pred(c.params))?.at;
  cp.mute = () => { mute.on = true; clearInterval(cp.heartbeat); };
  cp.heartbeat = setInterval(() => { if (!mute.on) cp.call('Heartbeat', {}).catch(() => {}); }, HEARTBEAT_MS);
  cp.on('close', () => clearInterval(cp.heartbeat));
  assert.equal((await cp.call('BootNotification', bootPayload(protocol))).status, 'Accepted');
  await until(() => cp.profiles.length >= 2, { timeoutMs: 8000, what: `${id}: the edge's profiles` });
  return cp;
}

const healthEvents = (db, id, like) =>
  sql(db, `SELECT time_ms || '|' || message FROM events WHERE kind = 'health' AND subject = '${id}' AND message LIKE '${like}' ORDER BY id`);

/** Faulted with no transaction: confirm, soft, soft, hard, technician, then nothing more. */
async function ladder(db, url, protocol, id) {
  const cp = await station(url, protocol, id, { fresh: () => faulted(protocol) });
  try {
    if (!v16(protocol)) await cp.call('NotifyEvent', problem());
    await cp.call('StatusNotification', faulted(protocol));
    const t0 = cp.sentAt('StatusNotification', (p) => (p.status ?? p.connectorStatus) === 'Faulted');
    const alert = await until(() => healthEvents(db, id, '%send a technician%'),
      { timeoutMs: 20000, stepMs: 100, what: `${id}: technician alert` });
    await sleep(2500); // then nothing more
    const triggers = cp.edgeCalls.filter((c) => c.method === 'TriggerMessage');
    const resets = cp.edgeCalls.filter((c) => c.method === 'Reset');
    assert.deepEqual(resets.map((r) => r.params.type), v16(protocol) ? ['Soft', 'Soft', 'Hard'] : ['OnIdle', 'OnIdle', 'Immediate']);
    assert.equal(triggers.length, 1, `${id}: one status confirmation, no heartbeat probe`);
    assert.equal(triggers[0].params.requestedMessage, 'StatusNotification');
    const confirmAfter = triggers[0].at - t0;
    assert.ok(confirmAfter >= 950 && confirmAfter < 1900, `${id}: confirmation ${confirmAfter} ms after the fault (faulted_reset_s = 1)`);
    assert.ok(resets[0].at - triggers[0].at < 2000, `${id}: first reset ${resets[0].at - triggers[0].at} ms after the confirmation`);
    for (let i = 1; i < resets.length; i++) {
      const gap = resets[i].at - resets[i - 1].at;
      assert.ok(gap >= 950 && gap < 1900, `${id}: reset ${i + 1} ${gap} ms after reset ${i} (reset_backoff_s = 1)`);
    }
    const [alertMs, message] = alert.split('|');
    assert.ok(Number(alertMs) - resets[2].at >= 900, `${id}: the alert waits reset_backoff_s after the hard reset`);
    const codes = v16(protocol) ? 'GroundFailure, vendor code E-GF-17' : 'vendor code E-GF-17';
    assert.equal(message, `charger ${id} is still Faulted (${codes}) after 2 soft resets and a hard reset: send a technician`);
    assert.deepEqual(sql(db, `SELECT action || ',' || ifnull(answer, '') || ',' || ifnull(healed, '') FROM health_actions
      WHERE charger_id = '${id}' ORDER BY id`).split('\n'),
    ['soft reset,Accepted,0', 'soft reset,Accepted,0', 'hard reset,Accepted,0', 'technician,,']);
    assert.deepEqual(cp.failures, []);
  } finally {
    cp.close({ force: true });
  }
}

/** A socket that stays open but carries nothing: probed, closed, and healthy again on return. */
async function silent(db, url, protocol, id) {
  const cp = await station(url, protocol, id);
  const closed = new Promise((resolve) => cp.once('close', resolve));
  cp.mute();
  const tMute = Date.now();
  await Promise.race([closed, sleep(15000).then(() => { throw new Error(`${id}: the edge never closed the silent socket`); })]);
  const took = Date.now() - tMute;
  assert.ok(took >= 3000 + 2000 - 300, `${id}: closed after ${took} ms: silent_after_s 3 + a heartbeat request unanswered for call_timeout_s 2`);
  assert.ok(healthEvents(db, id, '%is silent: socket open but nothing heard%'), `${id}: silence in the audit log`);
  assert.match(healthEvents(db, id, '%stopped answering%'), /the edge closes its socket so it reconnects/);
  assert.ok(sql(db, `SELECT count(*) FROM health_states WHERE charger_id = '${id}' AND state = 'silent'`) >= 1);
  const probe = cp.edgeCalls.filter((c) => c.method === 'TriggerMessage');
  assert.deepEqual(probe, [], 'a muted station records nothing: it never answered');

  const back = await station(url, protocol, id); // it reconnects and talks
  try {
    await back.call('StatusNotification', status(protocol, 'Available'));
    await until(() => healthEvents(db, id, '%talking again after the edge closed%'), { what: `${id}: back and talking` });
    await until(() => sql(db, `SELECT state FROM health_states WHERE charger_id = '${id}' AND open = 1`) === 'available',
      { what: `${id}: available again` });
    assert.equal(sql(db, `SELECT action || ',' || healed FROM health_actions WHERE charger_id = '${id}'`), 'disconnect,1');
  } finally {
    back.close({ force: true });
  }
}

function noEdgeCallReachedTheCsms(csms, ids) {
  for (const id of ids) {
    const leaked = csms.frames.filter((f) => f.id === id && /ampgate-|"Reset"|TriggerMessage/.test(f.message));
    assert.deepEqual(leaked, [], `${id}: no edge call or its result reaches the CSMS`);
    assert.deepEqual(csms.calls('Reset', id), []);
    assert.deepEqual(csms.calls('TriggerMessage', id), []);
  }
  assert.deepEqual(csms.failures, []);
}

describe('remote healing', () => {
  const names = ['FLT', 'TX', 'HEAL', 'SIL', 'PFLT', 'PSIL'];
  const ids = names.flatMap((n) => PROTOCOLS.map(([, s]) => `${n}${s}`));
  let csms, daemon, dir, db, url;
  before(async () => {
    dir = tmpDir();
    db = path.join(dir, 'ampgate.db');
    csms = await startCsms({ passwords: Object.fromEntries(ids.map((id) => [id, pw(id)])) });
    const port = await freePort();
    url = `ws://127.0.0.1:${port}/ocpp`;
    fs.writeFileSync(path.join(dir, 'a.conf'), config(dir, port, {
      ids, csmsUrl: csms.url,
      health: 'heal = true; faulted_reset_s = 1; reset_backoff_s = 1; max_soft_resets = 2; max_resets_per_day = 10; silent_after_s = 3;',
    }));
    daemon = new Daemon(path.join(dir, 'a.conf'));
    await daemon.start();
  });
  after(async () => {
    await daemon?.stop();
    await csms?.close();
    if (process.env.HEALTH_LOG) fs.writeFileSync(process.env.HEALTH_LOG, daemon.log);
  });

  test('faulted with no transaction: confirmation, 2 soft resets, 1 hard reset, a technician alert, then nothing', async () => {
    await Promise.all(PROTOCOLS.map(([p, s]) => ladder(db, url, p, `FLT${s}`)));
    noEdgeCallReachedTheCsms(csms, ['FLT16', 'FLT201']);
  });

  test('faulted during a transaction: never reset; the wait starts when the session ends', async () => {
    await Promise.all(PROTOCOLS.map(async ([protocol, s]) => {
      const id = `TX${s}`;
      const cp = await station(url, protocol, id, { fresh: () => faulted(protocol) });
      try {
        let stop;
        if (v16(protocol)) {
          const { transactionId } = await cp.call('StartTransaction', { connectorId: 1, idTag: 'BUS-7', meterStart: 0, timestamp: TS() });
          await cp.call('StatusNotification', status(protocol, 'Charging'));
          stop = () => cp.call('StopTransaction', { transactionId, meterStop: 500, timestamp: TS() });
        } else {
          const ev = (eventType, seqNo, extra) => ({ eventType, timestamp: TS(), triggerReason: 'Authorized', seqNo,
            transactionInfo: { transactionId: `TX-${id}` }, ...extra });
          await cp.call('TransactionEvent', ev('Started', 0, { evse: { id: 1, connectorId: 1 }, idToken: { idToken: 'BUS-7', type: 'ISO14443' } }));
          stop = () => cp.call('TransactionEvent', ev('Ended', 1, {}));
        }
        await cp.call('StatusNotification', faulted(protocol));
        await sleep(4000); // faulted_reset_s is 1: four times over
        assert.deepEqual(cp.edgeCalls, [], `${id}: nothing sent to a charger with a running transaction`);
        const tEnd = Date.now();
        await stop();
        const trigger = await until(() => cp.edgeCalls.find((c) => c.method === 'TriggerMessage'), { what: `${id}: ladder after the session` });
        assert.ok(trigger.at - tEnd >= 950, `${id}: the ladder waits faulted_reset_s after the session ended`);
      } finally {
        cp.close({ force: true });
      }
    }));
  });

  test('a charger that recovers after a soft reset stops the ladder, and the reset counts as healed', async () => {
    await Promise.all(PROTOCOLS.map(async ([protocol, s]) => {
      const id = `HEAL${s}`;
      let cp;
      cp = await station(url, protocol, id, {
        fresh: () => faulted(protocol),
        afterReset: () => cp.call('StatusNotification', status(protocol, 'Available')),
      });
      try {
        await cp.call('StatusNotification', faulted(protocol));
        await until(() => healthEvents(db, id, '%healed remotely%'), { timeoutMs: 8000, what: `${id}: healed` });
        await sleep(2500);
        assert.deepEqual(cp.edgeCalls.filter((c) => c.method === 'Reset').map((c) => c.params.type), [v16(protocol) ? 'Soft' : 'OnIdle']);
        assert.equal(sql(db, `SELECT action || ',' || healed FROM health_actions WHERE charger_id = '${id}'`), 'soft reset,1');
        assert.match(healthEvents(db, id, '%healed remotely%'), new RegExp(`charger ${id} recovered \\(available\\) after soft reset 1`));
      } finally {
        cp.close({ force: true });
      }
    }));
  });

  test('a socket that stays open but stops answering is closed; the charger is healthy again when it comes back', async () => {
    await Promise.all(PROTOCOLS.map(([p, s]) => silent(db, url, p, `SIL${s}`)));
    noEdgeCallReachedTheCsms(csms, ['FLT16', 'FLT201', 'TX16', 'TX201', 'HEAL16', 'HEAL201', 'SIL16', 'SIL201']);
  });

  describe('during a partition (CSMS unreachable)', () => {
    before(async () => {
      await csms.close();
    });

    test('the ladder runs the same: soft, soft, hard, technician', async () => {
      await Promise.all(PROTOCOLS.map(([p, s]) => ladder(db, url, p, `PFLT${s}`)));
      assert.match(daemon.log, /charger PFLT16: uplink to the CSMS not reachable/);
    });

    test('a silent socket is closed and the charger healthy again when it comes back', async () => {
      await Promise.all(PROTOCOLS.map(([p, s]) => silent(db, url, p, `PSIL${s}`)));
    });
  });
});
