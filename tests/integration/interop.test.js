// The edge between two OCPP stacks we did not write and that are not ocpp-rpc: charger ->
// ampgated -> CSMS with @voltbras/ts-ocpp on both sides in 1.6J and @extrawest/node-ts-ocpp on
// both sides in 2.0.1 (tests/lib/interop-peers.js), each with its schema validation on and its
// own default timeouts. A frame either library refuses shows up as a failure on that side.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { Daemon, freePort, siteConfig, tmpDir } from '../lib/daemon.js';
import { bootPayload, sleep, stationAnswer, TS, until } from '../lib/ocpp.js';
import { connectInteropStation, startInteropCsms } from '../lib/interop-peers.js';

// A reading with more digits than a double printed with %g keeps (defect 17.5 rounded it on replay).
const VOLTAGE = { value: 230.123456789012, measurand: 'Voltage', phase: 'L1-N', unitOfMeasure: { unit: 'V' } };
const pw = (id) => `password-${id.toLowerCase()}-0001`;

/** ampgated with these chargers behind `csmsUrl`, with the edge's own defaults otherwise. */
async function startSite(csmsUrl, ids, upstreamExtra = '') {
  const dir = tmpDir('ampgate-interop-');
  const port = await freePort();
  const chargers = ids.map((id) => `{ id = "${id}"; max_a = 32.0; password = "${pw(id)}"; }`).join(',\n  ');
  fs.writeFileSync(path.join(dir, 'a.conf'), siteConfig({
    dir, ocppPort: port, site: 'fallback_a = 6.0;',
    extra: `chargers = (
  ${chargers}
);
upstream = { url = "${csmsUrl}"; security_profile = 1; credentials = "per-charger"; reconnect_min_ms = 100; reconnect_max_ms = 400; ${upstreamExtra} };`,
  }));
  const daemon = new Daemon(path.join(dir, 'a.conf'));
  await daemon.start();
  return { dir, daemon, edgeUrl: `ws://127.0.0.1:${port}/ocpp` };
}

/** The 1.6 transaction ids the CSMS handed out to `id`, from its CALLRESULTs on the wire. */
const csmsTxIds = (csms, id) => csms.frames.filter((f) => f.id === id && f.dir === 'out').map((f) => JSON.parse(f.frame))
  .filter((m) => m[0] === 3 && m[2].transactionId !== undefined).map((m) => m[2].transactionId);

async function stopSites(sites, csms) {
  try {
    for (const site of sites) await site?.daemon.stop();
  } finally {
    await csms?.close();
  }
}

/**
 * While the uplink is up the edge relays frames byte for byte: the text of every frame between
 * the charger and the CSMS, both ways and in order, is the same on both sides; only the edge's own
 * calls (ids ampgate-...) and the charger's answers to them stay between charger and edge.
 */
function assertRelayedVerbatim(cp, csmsFrames) {
  const own = new Set(cp.frames.filter((f) => f.dir === 'in').map((f) => JSON.parse(f.frame))
    .filter((m) => m[0] === 2 && String(m[1]).startsWith('ampgate-')).map((m) => m[1]));
  const relayed = (f) => !own.has(JSON.parse(f.frame)[1]);
  const text = (frames, dir) => frames.filter((f) => f.dir === dir && relayed(f)).map((f) => f.frame);
  assert.ok(text(cp.frames, 'out').length > 0, 'the charger said something');
  assert.deepEqual(text(csmsFrames, 'in'), text(cp.frames, 'out'), 'charger -> CSMS byte for byte');
  assert.deepEqual(text(cp.frames, 'in'), text(csmsFrames, 'out'), 'CSMS -> charger byte for byte');
}

const count = (log, re) => (log.match(new RegExp(re, 'g')) ?? []).length;

/** The calls a 1.6 or 2.0.1 session is made of, with payloads a real charger would send. */
function session(protocol) {
  const v16 = protocol === 'ocpp1.6';
  const energy = (wh) => (v16 ? { value: String(wh), measurand: 'Energy.Active.Import.Register', unit: 'Wh' }
    : { value: wh, measurand: 'Energy.Active.Import.Register', unitOfMeasure: { unit: 'Wh' } });
  const current = ['L1', 'L2', 'L3'].map((phase) => (v16 ? { value: '15.5', measurand: 'Current.Import', phase, unit: 'A' }
    : { value: 15.5, measurand: 'Current.Import', phase, unitOfMeasure: { unit: 'A' } }));
  return {
    v16,
    status: (s) => (v16 ? { connectorId: 1, errorCode: 'NoError', status: s, timestamp: TS() }
      : { timestamp: TS(), connectorStatus: s === 'Preparing' ? 'Occupied' : s, evseId: 1, connectorId: 1 }),
    authorize: v16 ? { idTag: 'BUS-042' } : { idToken: { idToken: 'BUS-042', type: 'ISO14443' } },
    start: v16 ? { connectorId: 1, idTag: 'BUS-042', meterStart: 1000, timestamp: TS() } : null,
    meter: (txId) => (v16 ? { connectorId: 1, transactionId: txId, meterValue: [{ timestamp: TS(), sampledValue: [...current, energy(4000)] }] }
      : null),
    stop: (txId) => (v16 ? { transactionId: txId, meterStop: 13500, timestamp: TS(), reason: 'EVDisconnected', idTag: 'BUS-042' } : null),
    event: (txId, eventType, seqNo, extra = {}) => ({
      eventType, timestamp: TS(), seqNo, triggerReason: eventType === 'Started' ? 'Authorized' : eventType === 'Ended' ? 'EVCommunicationLost' : 'MeterValuePeriodic',
      transactionInfo: { transactionId: txId, ...(eventType === 'Ended' ? { stoppedReason: 'EVDisconnected' } : { chargingState: 'Charging' }) },
      ...(eventType === 'Started' ? { evse: { id: 1, connectorId: 1 }, idToken: { idToken: 'BUS-042', type: 'ISO14443' } } : {}),
      meterValue: [{ timestamp: TS(), sampledValue: eventType === 'Updated' ? [...current, energy(4000), VOLTAGE] : [energy(eventType === 'Started' ? 1000 : 13500)] }],
      ...extra,
    }),
  };
}

for (const protocol of ['ocpp1.6', 'ocpp2.0.1']) {
  const tag = protocol === 'ocpp1.6' ? '16' : '201';
  const ids = { session: `IOP${tag}S`, commands: `IOP${tag}C`, partition: `IOP${tag}P`, needs: `IOP${tag}N` };
  describe(`${protocol}: a second OCPP stack as charger and CSMS`, () => {
    let csms, site, replayed;
    before(async () => {
      csms = await startInteropCsms(protocol);
      site = await startSite(csms.url, Object.values(ids));
    });
    after(() => stopSites([site], csms));
    /** Connect station `id`, boot it, wait for its uplink, run `fn(cp)`; neither library may
     *  have refused a frame on the way. */
    const withStation = async (id, fn, { verbatim = true } = {}) => {
      const from = csms.frames.length;
      const cp = await connectInteropStation({ protocol, url: site.edgeUrl, id, password: pw(id) });
      try {
        assert.equal((await cp.call('BootNotification', bootPayload(protocol))).status, 'Accepted');
        await until(() => csms.connected(id), { what: 'the uplink' });
        await fn(cp);
        if (verbatim) assertRelayedVerbatim(cp, csms.frames.slice(from).filter((f) => f.id === id));
        assert.deepEqual(csms.failures, [], 'nothing failed the CSMS library');
        assert.deepEqual(cp.failures, [], 'nothing failed the charger library');
      } finally {
        cp.close();
      }
    };

    test('a full session: every frame reaches the CSMS with the payload the charger sent', async () => {
      const id = ids.session;
      const s = session(protocol);
      await withStation(id, async (cp) => {
        const sent = [{ method: 'BootNotification', params: bootPayload(protocol) }];
        const call = async (method, params) => { sent.push({ method, params }); return cp.call(method, params); };
        await call('StatusNotification', s.status('Preparing'));
        await call('Authorize', s.authorize);
        if (s.v16) {
          const res = await call('StartTransaction', s.start);
          assert.equal(res.idTagInfo.status, 'Accepted');
          assert.equal(res.transactionId, csmsTxIds(csms, id).at(-1), "the charger got the CSMS's transaction id");
          await call('StatusNotification', s.status('Charging'));
          await call('MeterValues', s.meter(res.transactionId));
          await call('StopTransaction', s.stop(res.transactionId));
        } else {
          await call('TransactionEvent', s.event('IOP-TX-1', 'Started', 0));
          await call('StatusNotification', s.status('Occupied'));
          await call('TransactionEvent', s.event('IOP-TX-1', 'Updated', 1));
          await call('TransactionEvent', s.event('IOP-TX-1', 'Ended', 2));
        }
        await call('StatusNotification', s.status('Available'));
        // What the CSMS's library received from the wire, call by call, equals what the charger sent.
        const got = csms.received.filter((r) => r.id === id).map(({ method, params }) => ({ method, params }));
        const wire = csms.frames.filter((f) => f.id === id && f.dir === 'in').map((f) => JSON.parse(f.frame))
          .filter((m) => m[0] === 2).map((m) => ({ method: m[2], params: m[3] }));
        assert.deepEqual(got, sent, 'the CSMS handled every call, in order');
        assert.deepEqual(wire.filter((w) => sent.some((x) => x.method === w.method)), sent, 'and got them as sent');
      });
    });

    test("the CSMS's commands reach the charger through the edge and their results come back", async () => {
      const id = ids.commands;
      await withStation(id, async (cp) => {
        const profile = protocol === 'ocpp1.6'
          ? { connectorId: 1, csChargingProfiles: { chargingProfileId: 42, stackLevel: 1, chargingProfilePurpose: 'TxDefaultProfile', chargingProfileKind: 'Absolute',
            chargingSchedule: { chargingRateUnit: 'A', chargingSchedulePeriod: [{ startPeriod: 0, limit: 20 }] } } }
          : { evseId: 1, chargingProfile: { id: 42, stackLevel: 1, chargingProfilePurpose: 'TxDefaultProfile', chargingProfileKind: 'Absolute',
            chargingSchedule: [{ id: 1, chargingRateUnit: 'A', chargingSchedulePeriod: [{ startPeriod: 0, limit: 20 }] }] } };
        const commands = protocol === 'ocpp1.6' ? [
          ['RemoteStartTransaction', { connectorId: 1, idTag: 'BUS-042' }],
          ['RemoteStopTransaction', { transactionId: 1234 }],
          ['SetChargingProfile', profile],
          ['GetConfiguration', { key: ['HeartbeatInterval'] }],
          ['TriggerMessage', { requestedMessage: 'StatusNotification', connectorId: 1 }],
        ] : [
          ['RequestStartTransaction', { evseId: 1, remoteStartId: 7, idToken: { idToken: 'BUS-042', type: 'ISO14443' } }],
          ['RequestStopTransaction', { transactionId: 'IOP-TX-9' }],
          ['SetChargingProfile', profile],
          ['GetVariables', { getVariableData: [{ component: { name: 'OCPPCommCtrlr' }, variable: { name: 'HeartbeatInterval' } }] }],
          ['TriggerMessage', { requestedMessage: 'StatusNotification', evse: { id: 1, connectorId: 1 } }],
        ];
        for (const [method, params] of commands) {
          const res = await csms.send(id, method, params);
          assert.deepEqual(cp.wire(method, { relayedOnly: true }).at(-1), params, `${method} reached the charger as the CSMS sent it`);
          assert.deepEqual(res, stationAnswer(method, params), `the charger's answer to ${method} came back`);
        }
      });
    });

    test("the edge's own SetChargingProfile calls pass the charger library's schema check and return after a CSMS's ClearChargingProfile", async () => {
      const id = ids.commands;
      await withStation(id, async (cp) => {
        // The library hands a call to its handler only once it passed the schema; a call that
        // fails it is answered with a CALLERROR, which cp.failures records.
        const profiles = await until(() => cp.profiles.length >= 2 && cp.profiles, { timeoutMs: 10000, what: "the edge's base and dynamic profiles" });
        const own = cp.frames.filter((f) => f.dir === 'in' && f.frame.includes('"SetChargingProfile"')).map((f) => JSON.parse(f.frame));
        assert.ok(own.length >= 2 && own.every((m) => String(m[1]).startsWith('ampgate-')), 'the profiles are the edge\'s own calls');
        const purpose = protocol === 'ocpp1.6' ? profiles[0].csChargingProfiles.chargingProfilePurpose : profiles[0].chargingProfile.chargingProfilePurpose;
        assert.equal(purpose, protocol === 'ocpp1.6' ? 'ChargePointMaxProfile' : 'ChargingStationMaxProfile');
        assert.deepEqual(cp.failures, [], 'the charger library refused none of the edge\'s calls');
        assert.equal(csms.frames.filter((f) => f.id === id && f.frame.includes('ampgate-')).length, 0, 'none of them reached the CSMS');

        // A CSMS that clears every profile also clears the edge's: the edge puts them back.
        const before = cp.profiles.length;
        assert.deepEqual(await csms.send(id, 'ClearChargingProfile', {}), { status: 'Accepted' });
        const again = await until(() => cp.profiles.length >= before + 2 && cp.profiles.slice(before), { timeoutMs: 5000, what: "the edge's profiles after ClearChargingProfile" });
        const ids = again.map((p) => (protocol === 'ocpp1.6' ? p.csChargingProfiles.chargingProfileId : p.chargingProfile.id));
        assert.deepEqual([...new Set(ids)].sort(), [917000001, 917000002], 'the base and the dynamic profile again');
      });
    });

    if (protocol === 'ocpp2.0.1') {
      test("the EV's own maximum in NotifyEVChargingNeeds reaches the CSMS as sent and lowers the edge's limit to it", async () => {
        const id = ids.needs;
        const s = session(protocol);
        await withStation(id, async (cp) => {
          const dynamic = () => cp.profiles.filter((p) => p.chargingProfile.id === 917000002)
            .map((p) => p.chargingProfile.chargingSchedule[0].chargingSchedulePeriod[0].limit);
          await cp.call('StatusNotification', s.status('Preparing'));
          await cp.call('TransactionEvent', s.event('IOP-TX-N', 'Started', 0));
          await until(() => dynamic().at(-1) > 10, { timeoutMs: 10000, what: 'a dynamic limit above 10 A' });
          const needs = { evseId: 1, chargingNeeds: { requestedEnergyTransfer: 'AC_three_phase',
            acChargingParameters: { energyAmount: 20000, evMinCurrent: 6, evMaxCurrent: 10, evMaxVoltage: 400 } } };
          assert.deepEqual(await cp.call('NotifyEVChargingNeeds', needs), { status: 'Accepted' });
          assert.deepEqual(csms.received.filter((r) => r.id === id && r.method === 'NotifyEVChargingNeeds').map((r) => r.params), [needs]);
          await until(() => dynamic().at(-1) === 10, { timeoutMs: 10000, what: `the edge's limit at the EV's 10 A (have ${dynamic().at(-1)})` });
          await cp.call('TransactionEvent', s.event('IOP-TX-N', 'Ended', 1));
        });
      });
    }

    test('partition with replay: a transaction while the CSMS is down reaches it once, in order, when it is back', { timeout: 60000 }, async () => {
      const id = ids.partition;
      const s = session(protocol);
      await withStation(id, async (cp) => {
        // The CSMS accepts the bus's token while it is up: offline, the edge accepts only tokens it
        // has seen accepted (auth.offline = "known", the default).
        await cp.call('Authorize', s.authorize);
        const lost = count(site.daemon.log, `charger ${id}: uplink to the CSMS (lost|closed)`);
        await csms.close();
        await until(() => count(site.daemon.log, `charger ${id}: uplink to the CSMS (lost|closed)`) > lost, { what: 'the edge to see the uplink go' });
        let sent;
        if (s.v16) {
          const res = await cp.call('StartTransaction', s.start);
          assert.equal(res.idTagInfo.status, 'Accepted', 'the edge answers for the CSMS');
          sent = [['StartTransaction', s.start], ['MeterValues', s.meter(res.transactionId)], ['StopTransaction', s.stop(res.transactionId)]];
          await cp.call(...sent[1]);
          await cp.call(...sent[2]);
        } else {
          sent = [0, 1, 2].map((n) => ['TransactionEvent', s.event('IOP-TX-OFF', ['Started', 'Updated', 'Ended'][n], n)]);
          for (const [m, p] of sent) await cp.call(m, p);
        }
        await sleep(300);
        csms = await startInteropCsms(protocol, { port: csms.port });
        const last = s.v16 ? 'StopTransaction' : 'TransactionEvent';
        await until(() => csms.calls(last, id).length >= (s.v16 ? 1 : 3), { timeoutMs: 20000, what: 'the replay' });
        await sleep(500); // a duplicate would come right behind
        const got = csms.received.filter((r) => r.id === id && ['StartTransaction', 'MeterValues', 'StopTransaction', 'TransactionEvent'].includes(r.method));
        assert.deepEqual(got.map((r) => r.method), sent.map(([m]) => m), 'exactly one transaction, in order');
        if (s.v16) {
          const realId = csmsTxIds(csms, id).at(-1);
          assert.deepEqual(got[0].params, sent[0][1], 'the start as the charger sent it');
          assert.deepEqual(got[1].params, { ...sent[1][1], transactionId: realId }, "meter values under the CSMS's transaction id");
          assert.deepEqual(got[2].params, { ...sent[2][1], transactionId: realId }, "the stop under the CSMS's transaction id");
        } else {
          // The voltage reading is judged by the next test; everything else must be as sent.
          const others = (p) => ({ ...p, meterValue: p.meterValue.map((mv) => ({ ...mv, sampledValue: mv.sampledValue.filter((v) => v.measurand !== 'Voltage') })) });
          got.forEach((r, i) => assert.deepEqual(others(r.params), others({ ...sent[i][1], offline: true }), `seqNo ${i} as sent, marked offline`));
          replayed = { got, sent };
        }
      }, { verbatim: false }); // the replay rewrites by design; judged field by field above
    });

    if (protocol === 'ocpp2.0.1') {
      test('partition with replay: the replayed events keep every digit the charger sent', () => {
        assert.ok(replayed, 'the partition test ran');
        replayed.got.forEach((r, i) => assert.deepEqual(r.params, { ...replayed.sent[i][1], offline: true }, `seqNo ${i} as sent`));
      });
    }
  });
}

// A CSMS that takes its time over StartTransaction and a charger with the library's default 30 s
// call timeout (the one most 1.6 chargers have), behind an edge with its defaults, and behind one
// that gives up on the CSMS after 10 s (upstream.call_timeout_s = 10, the setup of the report).
describe('ocpp1.6: a slow CSMS through the edge', () => {
  let csms;
  const sites = [];
  const cases = [
    { id: 'IOPSLOW12', delayMs: 12000, upstream: '' },
    { id: 'IOPSLOW40', delayMs: 40000, upstream: '' },
    { id: 'IOPSLOW12T10', delayMs: 12000, upstream: 'call_timeout_s = 10;' },
  ];
  let nextTx = 5000;
  before(async () => {
    csms = await startInteropCsms('ocpp1.6', {
      handlers: {
        StartTransaction: async (params, id) => {
          const transactionId = nextTx++;
          await sleep(cases.find((c) => c.id === id).delayMs);
          return { transactionId, idTagInfo: { status: 'Accepted' } };
        },
      },
    });
    for (const upstream of new Set(cases.map((c) => c.upstream))) {
      const site = await startSite(csms.url, cases.filter((c) => c.upstream === upstream).map((c) => c.id), upstream);
      for (const c of cases) if (c.upstream === upstream) c.site = site;
      sites.push(site);
    }
  });
  after(() => stopSites(sites, csms));

  for (const c of cases) {
    const how = c.upstream ? ` (edge: ${c.upstream})` : '';
    test(`the CSMS answers StartTransaction after ${c.delayMs / 1000} s${how}: one transaction at the CSMS, stopped with its id`,
      { timeout: c.delayMs + 40000 }, async () => {
        const s = session('ocpp1.6');
        const cp = await connectInteropStation({ protocol: 'ocpp1.6', url: c.site.edgeUrl, id: c.id, password: pw(c.id) });
        try {
          await cp.call('BootNotification', bootPayload('ocpp1.6'));
          // As a charger does, the token first: the CSMS answers it at once, so the edge knows it
          // when it answers the slow StartTransaction itself (auth.offline = "known").
          await cp.call('Authorize', s.authorize);
          const res = await cp.call('StartTransaction', s.start);
          assert.equal(res.idTagInfo.status, 'Accepted');
          await cp.call('StopTransaction', s.stop(res.transactionId));
          await until(() => csms.calls('StopTransaction', c.id).length, { timeoutMs: c.delayMs + 15000, what: 'the stop at the CSMS' });
          await sleep(2000); // the CSMS records a call when it arrives: a resend would be here by now
          assert.equal(csms.calls('StartTransaction', c.id).length, 1, 'exactly one StartTransaction at the CSMS');
          const answered = csmsTxIds(csms, c.id);
          assert.equal(answered.length, 1);
          assert.deepEqual(csms.calls('StopTransaction', c.id).map((x) => x.params.transactionId), answered, "stopped with the CSMS's id");
          assert.deepEqual(cp.failures, []);
        } finally {
          cp.close();
        }
      });
  }
});

// The same in 2.0.1 with extrawest on both sides. Its charger gives up on a call after 10 s and its
// CSMS answers InternalError for a handler that takes 10 s (neither can be changed), so the slow
// CSMS here takes 8 s over TransactionEvent(Started): a charger connected to it directly would be
// answered in time, but only just; an edge told to answer after 5 s (upstream.answer_after_s)
// answers the charger first, keeps waiting for the CSMS's late answer, and sends the rest of the
// transaction once, behind the start.
describe('ocpp2.0.1: a slow CSMS through the edge (upstream.answer_after_s = 5)', () => {
  let csms, site;
  const cases = [{ id: 'IOPSLOW201A', delayMs: 8000 }];
  before(async () => {
    csms = await startInteropCsms('ocpp2.0.1', {
      handlers: {
        TransactionEvent: async (params, id) => {
          if (params.eventType === 'Started') await sleep(cases.find((c) => c.id === id).delayMs);
          return {};
        },
      },
    });
    site = await startSite(csms.url, cases.map((c) => c.id), 'answer_after_s = 5;');
  });
  after(() => stopSites([site], csms));

  for (const c of cases) {
    test(`the CSMS answers TransactionEvent(Started) after ${c.delayMs / 1000} s: the charger is answered in time, the CSMS gets each event once, in order`,
      { timeout: c.delayMs + 40000 }, async () => {
        const s = session('ocpp2.0.1');
        const txId = `TX-${c.id}`;
        const cp = await connectInteropStation({ protocol: 'ocpp2.0.1', url: site.edgeUrl, id: c.id, password: pw(c.id) });
        try {
          await cp.call('BootNotification', bootPayload('ocpp2.0.1'));
          await until(() => csms.connected(c.id), { what: 'the uplink' });
          await cp.call('Authorize', s.authorize); // known to the edge when it answers the start itself
          const sent = [0, 1, 2].map((n) => s.event(txId, ['Started', 'Updated', 'Ended'][n], n));
          const t0 = Date.now();
          const res = await cp.call('TransactionEvent', sent[0]);
          const answeredMs = Date.now() - t0;
          assert.ok(answeredMs < c.delayMs, `the edge answered the charger before the CSMS did (${answeredMs} ms)`);
          assert.equal(res.idTokenInfo?.status, 'Accepted');
          await cp.call('TransactionEvent', sent[1]);
          await cp.call('TransactionEvent', sent[2]);
          await until(() => csms.calls('TransactionEvent', c.id).length >= 3, { timeoutMs: c.delayMs + 15000, what: 'the whole transaction at the CSMS' });
          await sleep(2000); // a resend would be here by now
          const got = csms.calls('TransactionEvent', c.id);
          assert.deepEqual(got.map((r) => [r.params.eventType, r.params.seqNo, r.params.transactionInfo.transactionId]),
            sent.map((p) => [p.eventType, p.seqNo, txId]), 'each event once, in order');
          assert.equal(csms.frames.filter((f) => f.id === c.id && f.dir === 'in' && f.frame.includes('"Started"')).length, 1,
            'the start was sent once on the wire');
          assert.deepEqual(cp.failures, [], 'nothing failed the charger library');
          assert.deepEqual(csms.failures, [], 'nothing failed the CSMS library');
        } finally {
          cp.close();
        }
      });
  }
});
