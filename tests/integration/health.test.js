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

function config(dir, ocppPort, { ids, csmsUrl, health, web = 'listen = "127.0.0.1:1";' }) {
  const chargers = ids.map((id) => `{ id = "${id}"; max_a = 32.0; password = "${pw(id)}"; }`).join(',\n  ');
  const upstream = csmsUrl ? `upstream = { url = "${csmsUrl}"; security_profile = 1; credentials = "per-charger";
  call_timeout_s = 2; reconnect_min_ms = 200; reconnect_max_ms = 1000; };` : '';
  return `site = { name = "health-test"; fallback_a = 6.0; grid = { limit_a = [200.0, 200.0, 200.0]; }; };
chargers = (
  ${chargers}
);
ocpp = { listen = "127.0.0.1:${ocppPort}"; path = "/ocpp"; security_profile = 1; call_timeout_s = 2; };
${upstream}
web = { ${web} };
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
 * sends after accepting a Reset; `slowStart` how long it takes to start the session the CSMS
 * asks for (then it answers).
 */
async function station(url, protocol, id, { fresh, afterReset, slowStart } = {}) {
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
  if (slowStart) { // a remote start takes `slowStart` ms: the session starts, then the answer
    const begin = () => (v16(protocol)
      ? cp.call('StartTransaction', { connectorId: 1, idTag: 'BUS-11', meterStart: 0, timestamp: TS() })
      : cp.call('TransactionEvent', { eventType: 'Started', timestamp: TS(), triggerReason: 'RemoteStart', seqNo: 0,
        transactionInfo: { transactionId: `TX-${id}`, remoteStartId: 1 }, evse: { id: 1, connectorId: 1 },
        idToken: { idToken: 'BUS-11', type: 'ISO14443' } }));
    own.RemoteStartTransaction = own.RequestStartTransaction = () => sleep(slowStart).then(begin).then(() => ({ status: 'Accepted' }));
  }
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
  const names = ['FLT', 'TX', 'HEAL', 'BUSY', 'CR', 'SIL', 'PFLT', 'PSIL'];
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

  test('never while the CSMS has a call outstanding: a remote start the CSMS sent meanwhile is not cut by a reset', async () => {
    await Promise.all(PROTOCOLS.map(async ([protocol, s]) => {
      const id = `BUSY${s}`;
      // The charger confirms the trigger but sends no fresh status (its next heartbeat is what
      // the edge hears), and takes 1.5 s to start the session the CSMS asks for.
      const cp = await station(url, protocol, id, { slowStart: 1500 });
      try {
        await cp.call('StatusNotification', faulted(protocol));
        await until(() => cp.edgeCalls.find((c) => c.method === 'TriggerMessage'), { what: `${id}: confirmation` });
        const start = v16(protocol)
          ? csms.clients.get(id).call('RemoteStartTransaction', { idTag: 'BUS-11', connectorId: 1 })
          : csms.clients.get(id).call('RequestStartTransaction', { idToken: { idToken: 'BUS-11', type: 'ISO14443' }, remoteStartId: 1, evseId: 1 });
        assert.equal((await start).status, 'Accepted');
        await sleep(3000); // reset_backoff_s and faulted_reset_s three times over
        assert.deepEqual(cp.edgeCalls.filter((c) => c.method === 'Reset'), [], `${id}: no reset reached a charger whose session the CSMS started`);
      } finally {
        cp.close({ force: true });
      }
    }));
  });

  test("a Reset from the CSMS passes through and starts the edge's ladder afresh", async () => {
    await Promise.all(PROTOCOLS.map(async ([protocol, s]) => {
      const id = `CR${s}`;
      const cp = await station(url, protocol, id, { fresh: () => faulted(protocol) });
      try {
        await cp.call('StatusNotification', faulted(protocol));
        await until(() => cp.edgeCalls.some((c) => c.method === 'Reset'), { what: `${id}: the edge's first reset` });
        const csmsType = v16(protocol) ? 'Hard' : 'Immediate';
        assert.deepEqual(await csms.clients.get(id).call('Reset', { type: csmsType }), { status: 'Accepted' });
        const tCsms = Date.now();
        await until(() => healthEvents(db, id, '%healing ladder starts again%'), { what: `${id}: ladder restarted` });
        const second = await until(() => cp.edgeCalls.filter((c) => c.method === 'TriggerMessage')[1], { what: `${id}: a new confirmation` });
        assert.ok(second.at - tCsms >= 900, `${id}: the fresh ladder waits faulted_reset_s again`);
        await until(() => cp.edgeCalls.filter((c) => c.method === 'Reset').length >= 3, { what: `${id}: soft reset 1 again` });
        const soft = v16(protocol) ? 'Soft' : 'OnIdle';
        assert.deepEqual(cp.edgeCalls.filter((c) => c.method === 'Reset').slice(0, 3).map((c) => c.params.type), [soft, csmsType, soft]);
        // The event is committed with the loop's batch, which may be after the Reset left.
        await until(() => healthEvents(db, id, '%soft reset 1 of 2%').split('\n').length === 2, { what: `${id}: soft reset 1 twice in the audit log` });
      } finally {
        cp.close({ force: true });
      }
    }));
  });

  test('a socket that stays open but stops answering is closed; the charger is healthy again when it comes back', async () => {
    await Promise.all(PROTOCOLS.map(([p, s]) => silent(db, url, p, `SIL${s}`)));
    noEdgeCallReachedTheCsms(csms, ['FLT16', 'FLT201', 'TX16', 'TX201', 'HEAL16', 'HEAL201', 'BUSY16', 'BUSY201', 'CR16', 'CR201', 'SIL16', 'SIL201']);
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

describe('the daily cap', () => {
  test('never more than max_resets_per_day resets in 24 h, counted across a restart', async () => {
    const dir = tmpDir();
    const db = path.join(dir, 'ampgate.db');
    const port = await freePort();
    const url = `ws://127.0.0.1:${port}/ocpp`;
    const ids = PROTOCOLS.map(([, s]) => `CAP${s}`);
    const conf = path.join(dir, 'a.conf');
    fs.writeFileSync(conf, config(dir, port, { ids,
      health: 'heal = true; faulted_reset_s = 1; reset_backoff_s = 1; max_soft_resets = 2; max_resets_per_day = 2; silent_after_s = 3;' }));
    const faultedStation = async (protocol, id) => {
      const cp = await station(url, protocol, id, { fresh: () => faulted(protocol) });
      await cp.call('StatusNotification', faulted(protocol));
      return cp;
    };
    let daemon = new Daemon(conf);
    await daemon.start();
    try {
      const cps = await Promise.all(PROTOCOLS.map(([p, s]) => faultedStation(p, `CAP${s}`)));
      for (const [i, id] of ids.entries()) {
        const alert = await until(() => healthEvents(db, id, '%send a technician%'), { timeoutMs: 15000, stepMs: 100, what: `${id}: cap alert` });
        assert.match(alert, new RegExp(`charger ${id} is still Faulted \\(.*\\) after 2 soft resets; it had 2 remote resets in the last 24 h, the most health.max_resets_per_day allows: send a technician`));
        assert.deepEqual(cps[i].edgeCalls.filter((c) => c.method === 'Reset').map((c) => c.params.type),
          v16(PROTOCOLS[i][0]) ? ['Soft', 'Soft'] : ['OnIdle', 'OnIdle'], `${id}: no hard reset beyond the cap`);
      }
      cps.forEach((cp) => cp.close({ force: true }));
      await daemon.stop();

      // A restart does not give the charger a fresh allowance.
      daemon = new Daemon(conf);
      await daemon.start();
      const again = await Promise.all(PROTOCOLS.map(([p, s]) => faultedStation(p, `CAP${s}`)));
      for (const id of ids) {
        const alerts = await until(() => { const a = healthEvents(db, id, '%send a technician%').split('\n'); return a.length === 2 && a; },
          { timeoutMs: 10000, what: `${id}: second cap alert` });
        assert.match(alerts[1], new RegExp(`charger ${id} is Faulted \\(.*\\); it had 2 remote resets in the last 24 h`));
      }
      await sleep(1500);
      for (const cp of again) {
        assert.deepEqual(cp.edgeCalls.filter((c) => c.method === 'Reset'), [], 'no reset after the restart: the cap is reached');
        cp.close({ force: true });
      }
    } finally {
      await daemon.stop();
    }
  });
});

// Stations without heartbeats (a real one may send one every few minutes), on a daemon that
// does not call them silent for 10 min: the only frames the edge hears are the ones the ladder
// asks for, so when they arrive decides what the ladder does.
describe('the ladder times its steps from its own calls, not from what else the charger sends', () => {
  let daemon, dir, db, url;
  const ids = ['NOSTAT16', 'NOSTAT201', 'FAST16', 'FAST201'];
  before(async () => {
    dir = tmpDir();
    db = path.join(dir, 'ampgate.db');
    const port = await freePort();
    url = `ws://127.0.0.1:${port}/ocpp`;
    fs.writeFileSync(path.join(dir, 'a.conf'), config(dir, port, { ids,
      health: 'heal = true; faulted_reset_s = 1; reset_backoff_s = 1; max_soft_resets = 2; max_resets_per_day = 10; silent_after_s = 600;' }));
    daemon = new Daemon(path.join(dir, 'a.conf'));
    await daemon.start();
  });
  after(async () => {
    await daemon?.stop();
  });

  /** A faulted station that answers the edge's calls; `onTrigger(cp)` is what it does after
   * accepting a TriggerMessage. Its calls from the edge are in `cp.edgeCalls` with their time. */
  async function quiet(protocol, id, onTrigger) {
    let cp;
    const edgeCalls = [];
    const handlers = {
      TriggerMessage: (params) => { edgeCalls.push({ method: 'TriggerMessage', params, at: Date.now() }); setImmediate(() => onTrigger(cp)); return { status: 'Accepted' }; },
      Reset: (params) => { edgeCalls.push({ method: 'Reset', params, at: Date.now() }); return { status: 'Accepted' }; },
    };
    cp = await connectStation({ url, id, protocol, password: pw(id), handlers });
    cp.edgeCalls = edgeCalls;
    assert.equal((await cp.call('BootNotification', bootPayload(protocol))).status, 'Accepted');
    if (!v16(protocol)) await cp.call('NotifyEvent', problem());
    await cp.call('StatusNotification', faulted(protocol));
    return cp;
  }
  const resets = (cp) => cp.edgeCalls.filter((c) => c.method === 'Reset');

  test("a charger that accepts the status request but sends no status: the reset's answer does not cut the backoff", async () => {
    await Promise.all(PROTOCOLS.map(async ([protocol, s]) => {
      const id = `NOSTAT${s}`;
      const cp = await quiet(protocol, id, () => {});
      try {
        // The edge waits 5 s for the status, then goes on: soft, soft, hard, reset_backoff_s (1 s) apart.
        await until(() => resets(cp).length >= 3, { timeoutMs: 15000, what: `${id}: three resets` });
        const r = resets(cp);
        for (let i = 1; i < r.length; i++) {
          const gap = r[i].at - r[i - 1].at;
          assert.ok(gap >= 950, `${id}: reset ${i + 1} ${gap} ms after reset ${i} (reset_backoff_s = 1)`);
        }
      } finally {
        cp.close({ force: true });
      }
    }));
  });

  test('a status sent at once after the answer to the status request counts as fresh: no 5 s wait', async () => {
    await Promise.all(PROTOCOLS.map(async ([protocol, s]) => {
      const id = `FAST${s}`;
      const cp = await quiet(protocol, id, (me) => me.call('StatusNotification', faulted(protocol)).catch(() => {}));
      try {
        await until(() => resets(cp).length >= 1, { timeoutMs: 10000, what: `${id}: first reset` });
        const trigger = cp.edgeCalls.find((c) => c.method === 'TriggerMessage');
        const after = resets(cp)[0].at - trigger.at;
        assert.ok(after < 2000, `${id}: first reset ${after} ms after the status request (the status came with its answer)`);
      } finally {
        cp.close({ force: true });
      }
    }));
  });
});

/** Run `ampgatectl report ... --json`, return the parsed document (asserting exit 0). */
function report(args) {
  const r = runSync(AMPGATECTL, ['report', ...args, '--json']);
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout);
}
const at = (ms) => `@${(ms / 1000).toFixed(3)}`;
const STATES = ['available', 'charging', 'occupied', 'faulted', 'unavailable', 'silent', 'offline'];
const USABLE = ['available', 'charging', 'occupied'];

function assertFigures(got, want, tolS, what) {
  for (const s of STATES) {
    assert.ok(Math.abs(got.seconds[s] - want[s]) <= (tolS[s] ?? tolS.default),
      `${what}: ${s} ${got.seconds[s]} s, expected ${want[s].toFixed(3)} s`);
  }
  const observed = STATES.reduce((a, s) => a + want[s], 0);
  const usable = USABLE.reduce((a, s) => a + want[s], 0);
  assert.ok(Math.abs(got.availability_pct - (100 * usable) / observed) < 1.5, `${what}: availability ${got.availability_pct}`);
  assert.ok(Math.abs(got.utilisation_pct - (100 * (want.charging + want.occupied)) / observed) < 1.5, `${what}: utilisation ${got.utilisation_pct}`);
}

describe('availability and utilisation', () => {
  let dir, conf, url;
  const ids = PROTOCOLS.map(([, s]) => `DAY${s}`);
  before(async () => {
    dir = tmpDir();
    const port = await freePort();
    url = `ws://127.0.0.1:${port}/ocpp`;
    conf = path.join(dir, 'a.conf');
    // No CSMS (the edge answers at once) and no healing: the script decides every state.
    fs.writeFileSync(conf, config(dir, port, { ids, health: 'heal = false; silent_after_s = 2;' }));
  });

  // One charger's scripted stretch: the marks are when its frames left it.
  async function scriptedDay(protocol, id) {
    const cp = await station(url, protocol, id);
    const send = async (action, params) => {
      await cp.call(action, params);
      return cp.sent.filter((c) => c.action === action).at(-1).at;
    };
    const tx = (eventType, seqNo, extra) => ({ eventType, timestamp: TS(), triggerReason: 'Authorized', seqNo,
      transactionInfo: { transactionId: `TX-${id}` }, ...extra });
    const m = {};
    m.A = await send('StatusNotification', status(protocol, 'Available'));
    await sleep(2000);
    if (v16(protocol)) {
      m.C = await send('StatusNotification', status(protocol, 'Charging'));
    } else {
      m.C = await send('TransactionEvent', tx('Started', 0, { evse: { id: 1, connectorId: 1 }, idToken: { idToken: 'BUS-9', type: 'ISO14443' } }));
      await send('StatusNotification', status(protocol, 'Occupied'));
    }
    await sleep(3000);
    m.O = v16(protocol) ? await send('StatusNotification', status(protocol, 'SuspendedEV')) : await send('TransactionEvent', tx('Ended', 1, {}));
    await sleep(1000);
    m.F = await send('StatusNotification', faulted(protocol));
    await sleep(2000);
    cp.mute(); // from its last frame on it says nothing: unavailable, then silent 2 s later
    m.U = await send('StatusNotification', status(protocol, 'Unavailable'));
    await sleep(2000 + 1500);
    m.X = Date.now();
    await cp.close({ force: true });
    return m;
  }

  test('a scripted day: seconds in each state, to the second, across a restart, from ampgatectl report', async () => {
    let daemon = new Daemon(conf);
    await daemon.start();
    const marks = await Promise.all(PROTOCOLS.map(([p, s]) => scriptedDay(p, `DAY${s}`)));
    await sleep(1500);
    const E = Date.now();
    await daemon.stop();

    const want = marks.map((m) => ({
      available: (m.C - m.A) / 1000, charging: (m.O - m.C) / 1000, occupied: (m.F - m.O) / 1000,
      faulted: (m.U - m.F) / 1000, unavailable: 2, silent: (m.X - m.U - 2000) / 1000, offline: (E - m.X) / 1000,
    }));
    const A = Math.min(...marks.map((m) => m.A));
    for (const [i, id] of ids.entries()) {
      const doc = report(['-c', conf, '--from', at(marks[i].A), '--to', at(E)]);
      const got = doc.chargers.find((c) => c.id === id);
      assertFigures(got, want[i], { default: 0.3 }, `${id} first run`);
      assert.equal(got.faults, 1);
      assert.deepEqual(got.faults_by_code, v16(PROTOCOLS[i][0]) ? { GroundFailure: 1 } : { Faulted: 1 });
      assert.equal(got.soft_resets + got.hard_resets + got.disconnects + got.technician_alerts, 0, 'heal = false: no action');
      assert.equal(got.sessions, v16(PROTOCOLS[i][0]) ? 0 : 1);
    }

    // The figures survive a restart: a second run adds to the same history; the time ampgated
    // was down is in no state.
    await sleep(1000); // ampgated is down for a second at least
    daemon = new Daemon(conf);
    const S = Date.now();
    await daemon.start();
    const S2 = Date.now();
    const second = await Promise.all(PROTOCOLS.map(async ([p, s]) => {
      const R = Date.now();
      const cp = await station(url, p, `DAY${s}`);
      await cp.call('StatusNotification', status(p, 'Available'));
      return { R, cp };
    }));
    await sleep(1500);
    const E2 = Date.now();
    await daemon.stop();
    second.forEach(({ cp }) => cp.close({ force: true }));
    for (const [i, id] of ids.entries()) {
      const { R } = second[i];
      const w = { ...want[i], available: want[i].available + (E2 - R) / 1000, offline: want[i].offline + (R - S) / 1000 };
      const doc = report(['-c', conf, '--from', at(marks[i].A), '--to', at(E2)]);
      const got = doc.chargers.find((c) => c.id === id);
      assertFigures(got, w, { default: 0.3, offline: 0.3 + (S2 - S) / 1000 }, `${id} across the restart`);
      assert.ok(got.observed_s < (E2 - marks[i].A) / 1000 - 0.7, 'the second ampgated was down is not observed');
      assert.equal(got.faults, 1);
    }
    // The table and the CSV carry the same chargers.
    const csv = path.join(dir, 'report.csv');
    const r = runSync(AMPGATECTL, ['report', '-c', conf, '--from', at(A), '--to', at(E2), '--csv', csv]);
    assert.equal(r.status, 0, r.stderr);
    for (const id of ids) assert.match(r.stdout, new RegExp(`^${id} `, 'm'));
    assert.match(r.stdout, /^Faults by code:\n  DAY16: GroundFailure 1\n  DAY201: Faulted 1$/m);
    const rows = fs.readFileSync(csv, 'utf8').trim().split('\n');
    assert.equal(rows[0].split(',')[0], 'charger');
    assert.deepEqual(rows.slice(1).map((l) => l.split(',')[0]), ids);
  });

  test("REST: a charger's health now and its last 24 h, and the health field of the charger", async () => {
    const rdir = tmpDir();
    const [ocppPort, webPort] = [await freePort(), await freePort()];
    const r = runSync(AMPGATECTL, ['passwd'], { input: 'manager-pass-1\n' });
    assert.equal(r.status, 0, r.stderr);
    const rconf = path.join(rdir, 'a.conf');
    fs.writeFileSync(rconf, config(rdir, ocppPort, { ids: ['REST16'], health: 'heal = false; silent_after_s = 3;',
      web: `listen = "127.0.0.1:${webPort}"; users = ( { name = "manager"; password_hash = "${r.stdout.trim()}"; role = "manager"; } );` }));
    const daemon = new Daemon(rconf);
    await daemon.start();
    const base = `http://127.0.0.1:${webPort}`;
    const cp = await station(`ws://127.0.0.1:${ocppPort}/ocpp`, 'ocpp1.6', 'REST16');
    try {
      await cp.call('StatusNotification', status('ocpp1.6', 'Available'));
      await sleep(1000);
      await cp.call('StatusNotification', faulted('ocpp1.6'));
      const F = cp.sentAt('StatusNotification', (p) => p.status === 'Faulted');
      await sleep(1000);
      const login = await fetch(`${base}/api/v1/login`, { method: 'POST', headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ name: 'manager', password: 'manager-pass-1' }) });
      assert.equal(login.status, 200);
      const cookie = login.headers.get('set-cookie').split(';')[0];
      const get = async (p) => { const res = await fetch(`${base}${p}`, { headers: { Cookie: cookie } }); return { status: res.status, body: await res.json() }; };
      const t = Date.now();
      const { status: st, body: h } = await get('/api/v1/chargers/REST16/health');
      assert.equal(st, 200);
      assert.equal(h.state, 'faulted');
      assert.equal(h.detail, 'connector 1: GroundFailure, vendor code E-GF-17');
      assert.ok(Math.abs(h.since_ms - F) < 300, `since ${h.since_ms} vs fault sent at ${F}`);
      assert.deepEqual(h.healing, { faulted: true, soft_resets: 0, hard_reset: false, technician_alert: false, silent_socket_closed: false });
      assert.equal(h.last_24h.faults, 1);
      assert.deepEqual(h.last_24h.faults_by_code, { GroundFailure: 1 });
      assert.ok(Math.abs(h.last_24h.seconds.faulted - (t - F) / 1000) < 0.5, `faulted ${h.last_24h.seconds.faulted} s up to now`);
      assert.ok(h.last_24h.availability_pct > 0 && h.last_24h.availability_pct < 100);
      assert.equal(h.last_30d.faults, 1);
      assert.equal((await get('/api/v1/chargers/REST16')).body.health, 'faulted');
      assert.equal((await get('/api/v1/chargers/NOPE/health')).status, 404);
      const metrics = await (await fetch(`${base}/metrics`, { headers: { Cookie: cookie } })).text();
      assert.match(metrics, /^ampgate_charger_faulted\{charger="REST16"\} 1$/m);
      assert.match(metrics, /^ampgate_charger_usable\{charger="REST16"\} 0$/m);
    } finally {
      cp.close({ force: true });
      await daemon.stop();
    }
  });

  test('ampgatectl report on a generated history gives the figures computed here from the same rows', () => {
    const db = path.join(dir, 'ampgate.db'); // made by the daemon of the test above
    let seed = 20261122;
    const rnd = () => { seed = (seed * 1103515245 + 12345) % 2147483648; return seed / 2147483648; };
    const pick = (a) => a[Math.floor(rnd() * a.length)];
    const day = 86400000;
    const base = Math.floor(Date.now() / day) * day - 3 * day; // midnight UTC three days ago
    const gen = ['GEN1', 'GEN2', 'GEN3'];
    const rows = [], actions = [], sessions = [];
    for (const id of gen) {
      let t = base - 2 * 3600000 + Math.floor(rnd() * 600000);
      while (t < base + 26 * 3600000) {
        const len = 1000 + Math.floor(rnd() * 2 * 3600000);
        const state = pick([...STATES, 'available', 'charging', 'faulted']);
        const code = state === 'faulted' ? pick(['GroundFailure', 'OverVoltage', 'E-17', null]) : null;
        rows.push({ id, state, code, start: t, end: t + len });
        t += len + (rnd() < 0.1 ? Math.floor(rnd() * 1800000) : 0); // now and then ampgated was down
      }
      for (let k = 0; k < 12; k++) {
        actions.push({ id, time: base - 3600000 + Math.floor(rnd() * 26 * 3600000),
          action: pick(['soft reset', 'hard reset', 'disconnect', 'technician']), healed: pick([0, 1, null]) });
        sessions.push({ id, tx: `T${k}`, start: base - 3600000 + Math.floor(rnd() * 26 * 3600000), wh: Math.floor(rnd() * 80000) });
      }
    }
    const q = (v) => (v === null ? 'NULL' : typeof v === 'number' ? v : `'${v}'`);
    sql(db, ['BEGIN;',
      ...rows.map((r) => `INSERT INTO health_states (charger_id, state, code, start_ms, end_ms, open) VALUES (${q(r.id)}, ${q(r.state)}, ${q(r.code)}, ${r.start}, ${r.end}, 0);`),
      ...actions.map((a) => `INSERT INTO health_actions (time_ms, charger_id, action, healed) VALUES (${a.time}, ${q(a.id)}, ${q(a.action)}, ${q(a.healed)});`),
      ...sessions.map((s) => `INSERT INTO transactions (charger_id, tx_id, connector, start_ms, energy_wh) VALUES (${q(s.id)}, ${q(s.tx)}, 1, ${s.start}, ${s.wh});`),
      'COMMIT;'].join('\n'));

    const expected = (id, from, to) => {
      const mine = rows.filter((r) => r.id === id).sort((a, b) => a.start - b.start);
      const seconds = Object.fromEntries(STATES.map((s) => [s, 0]));
      let faults = 0;
      const byCode = {};
      mine.forEach((r, i) => {
        const a = Math.max(r.start, from), b = Math.min(r.end, to);
        if (b > a) seconds[r.state] += (b - a) / 1000;
        if (r.state === 'faulted' && r.start >= from && r.start < to && (i === 0 || mine[i - 1].state !== 'faulted')) {
          faults++;
          byCode[r.code ?? 'Faulted'] = (byCode[r.code ?? 'Faulted'] ?? 0) + 1;
        }
      });
      const acts = actions.filter((a) => a.id === id && a.time >= from && a.time < to);
      const count = (name) => acts.filter((a) => a.action === name).length;
      const tx = sessions.filter((s) => s.id === id && s.start >= from && s.start < to);
      const observed = STATES.reduce((a, s) => a + seconds[s], 0);
      return { seconds, observed, faults, byCode, soft: count('soft reset'), hard: count('hard reset'),
        healed: acts.filter((a) => (a.action === 'soft reset' || a.action === 'hard reset') && a.healed === 1).length,
        disconnects: count('disconnect'), technician: count('technician'), sessions: tx.length,
        kwh: tx.reduce((a, s) => a + s.wh, 0) / 1000,
        availability: (100 * USABLE.reduce((a, s) => a + seconds[s], 0)) / observed,
        utilisation: (100 * (seconds.charging + seconds.occupied)) / observed };
    };
    const windows = [
      [new Date(base).toISOString(), new Date(base + day).toISOString(), base, base + day],
      [at(base + 5 * 3600000 + 123), at(base + 17 * 3600000 + 456), base + 5 * 3600000 + 123, base + 17 * 3600000 + 456],
    ];
    for (const [fromArg, toArg, from, to] of windows) {
      const doc = report(['--db', db, '--from', fromArg, '--to', toArg]);
      assert.equal(doc.from_ms, from);
      assert.equal(doc.to_ms, to);
      for (const id of gen) {
        const got = doc.chargers.find((c) => c.id === id);
        const want = expected(id, from, to);
        assert.ok(got, `${id} in the report`);
        for (const s of STATES) assert.ok(Math.abs(got.seconds[s] - want.seconds[s]) < 0.0005, `${id} ${s}: ${got.seconds[s]} vs ${want.seconds[s]}`);
        assert.ok(Math.abs(got.observed_s - want.observed) < 0.001);
        assert.ok(Math.abs(got.availability_pct - want.availability) < 1e-6, `${id} availability`);
        assert.ok(Math.abs(got.utilisation_pct - want.utilisation) < 1e-6, `${id} utilisation`);
        assert.deepEqual([got.faults, got.soft_resets, got.hard_resets, got.healed, got.disconnects, got.technician_alerts, got.sessions],
          [want.faults, want.soft, want.hard, want.healed, want.disconnects, want.technician, want.sessions], `${id} counts`);
        assert.ok(Math.abs(got.energy_kwh - want.kwh) < 1e-6);
        assert.deepEqual(got.faults_by_code, want.byCode, `${id} faults by code`);
      }
      assert.ok(!doc.chargers.some((c) => c.id.startsWith('DAY')), 'chargers with no history in the window are not listed');
    }

    // Bad input: a clear error and a usage exit code; a missing database is named.
    let r = runSync(AMPGATECTL, ['report', '--db', db, '--from', 'yesterday-ish']);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /--from "yesterday-ish" is not a date or time/);
    r = runSync(AMPGATECTL, ['report', '--db', db, '--from', '2026-01-02', '--to', '2026-01-01']);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /--from must be before --to/);
    r = runSync(AMPGATECTL, ['report', '--db', path.join(dir, 'nothing-here.db')]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /cannot open the database .*nothing-here\.db/);
  });
});
