// Autonomy under partition (issue #4): strict ocpp-rpc chargers -> ampgated -> a strict ocpp-rpc
// CSMS that goes away and comes back. While it is away the edge answers the chargers and keeps
// what it acknowledged in its outbox; when it is back the CSMS must end up with every transaction
// complete, in order, with consistent ids, nothing duplicated, 2.0.1 events marked offline —
// also across kill -9 of ampgated at random moments (AMPGATE_LONG=1: at least 50 kills).
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import rpc from 'ocpp-rpc';
import { Daemon, freePort, sql, tmpDir } from '../lib/daemon.js';
import { bootPayload, effectiveLimit, sleep, TS, until } from '../lib/ocpp.js';

const { RPCServer, RPCClient } = rpc;
const PROTOCOLS = ['ocpp1.6', 'ocpp2.0.1'];
const LONG = process.env.AMPGATE_LONG === '1';
const PW = {
  CP16: 'password-cp16-0001', CP201: 'password-cp201-001', CP16B: 'password-cp16b-001', CP201B: 'password-cp201b-01',
};

// ---- the CSMS: strict, records every call it gets, can go down and come back on its port ----

/** Identity of a message for de-duplication: what makes two deliveries "the same" to a CSMS. */
function logicalKey(method, p, msgId) {
  switch (method) {
    case 'BootNotification': return `B|${msgId}`; // every boot is an event of its own
    case 'StartTransaction': return `S|${p.connectorId}|${p.idTag}|${p.timestamp}|${p.meterStart}`;
    case 'StopTransaction': return `T|${p.transactionId}|${p.timestamp}|${p.meterStop}`;
    case 'TransactionEvent': return `E|${p.transactionInfo.transactionId}|${p.seqNo}`;
    default: return `${method}|${JSON.stringify(p)}`;
  }
}

class Csms {
  constructor({ rejectTags = [], errorOn = () => false } = {}) {
    this.rejectTags = rejectTags;
    this.errorOn = errorOn;
    this.calls = [];          // every delivery: { id, msgId, method, params, n }
    this.keys = new Map();    // logical key -> first delivery
    this.txByStart = new Map();
    this.nextTx = 7001;
    this.failures = [];
    this.clients = new Map();
  }

  async up() {
    const server = new RPCServer({ protocols: PROTOCOLS, strictMode: true, pingIntervalMs: 0, callTimeoutMs: 5000 });
    server.auth((accept, reject, hs) => {
      if (![...hs.protocols].some((p) => PROTOCOLS.includes(p))) return reject(400, 'no subprotocol');
      if (hs.password?.toString('utf8') !== PW[hs.identity]) return reject(401, 'Unauthorized');
      accept({}, [...hs.protocols][0]);
    });
    server.on('client', (client) => {
      this.clients.set(client.identity, client);
      client.on('strictValidationFailure', (e) => this.failures.push({ id: client.identity, e: String(e.error) }));
      client.handle(({ method, params, messageId }) => this.answer(client, method, params, messageId));
    });
    const http = await server.listen(this.port ?? 0, '127.0.0.1');
    this.port = http.address().port;
    this.url = `ws://127.0.0.1:${this.port}/csms`;
    this.server = server;
  }

  async down() {
    const s = this.server;
    this.server = null;
    this.clients.clear();
    await s?.close({ force: true });
  }

  answer(client, method, params, messageId) {
    const id = client.identity;
    const key = logicalKey(method, params, messageId);
    const first = this.keys.get(`${id}|${key}`);
    const rec = { id, msgId: messageId, method, params, dup: Boolean(first) };
    this.calls.push(rec);
    if (!first) this.keys.set(`${id}|${key}`, rec);
    if (this.errorOn(method, params)) rec.refused = true;
    if (rec.refused) throw rpc.createRPCError('GenericError', `test CSMS refuses this ${method}`);
    const v16 = client.protocol === 'ocpp1.6';
    switch (method) {
      case 'BootNotification': return { status: 'Accepted', currentTime: TS(), interval: 300 };
      case 'Heartbeat': return { currentTime: TS() };
      case 'Authorize': return v16 ? { idTagInfo: { status: 'Accepted' } } : { idTokenInfo: { status: 'Accepted' } };
      case 'StartTransaction': {
        // Idempotent like a careful CSMS: the same start delivered twice is one transaction.
        let tx = this.txByStart.get(`${id}|${key}`);
        if (!tx) this.txByStart.set(`${id}|${key}`, tx = this.nextTx++);
        rec.txId = tx;
        return { transactionId: tx, idTagInfo: { status: this.rejectTags.includes(params.idTag) ? 'Invalid' : 'Accepted' } };
      }
      case 'TransactionEvent':
        if (!params.idToken) return {};
        return { idTokenInfo: { status: this.rejectTags.includes(params.idToken.idToken) ? 'Invalid' : 'Accepted' } };
      case 'DataTransfer': return { status: 'Accepted' };
      default: return {};
    }
  }

  /** First deliveries of `id`, in arrival order. */
  logical(id) { return this.calls.filter((c) => c.id === id && !c.dup); }
  /** Deliveries of something already delivered and answered (a CALLERROR invites the retry). */
  dups(id) { return this.calls.filter((c) => c.id === id && c.dup && !c.refused); }
}

// ---- a charger that, like a real one, sends a transaction message again until it is answered ----

class Station {
  constructor({ url, id, protocol }) {
    Object.assign(this, { url, id, protocol, v16: protocol === 'ocpp1.6' });
    this.profiles = [];
    this.received = [];
    this.closes = [];
    this.txs = [];            // what this charger did: { key | txId, meter: n, stopped, offline: [] }
    this.seq = new Map();     // 2.0.1 seqNo per transaction
    this.meterWh = 1000;
  }

  async connect({ retryMs = 10000 } = {}) {
    const t0 = Date.now();
    for (;;) {
      const cp = new RPCClient({
        endpoint: this.url, identity: this.id, protocols: [this.protocol], strictMode: true, password: PW[this.id],
        reconnect: false, callTimeoutMs: 4000, pingIntervalMs: 0,
      });
      cp.handle(({ method, params }) => {
        this.received.push({ method, params });
        if (method === 'SetChargingProfile') { this.profiles.push(params); return { status: 'Accepted' }; }
        if (method === 'RemoteStopTransaction' || method === 'RequestStopTransaction') {
          this.stopRequests = (this.stopRequests ?? 0) + 1;
          return { status: 'Accepted' };
        }
        return {};
      });
      cp.on('close', (e) => { this.closes.push(e); if (this.cp === cp) this.cp = null; });
      try {
        await cp.connect();
        this.cp = cp;
        return cp;
      } catch (e) {
        if (Date.now() - t0 > retryMs) throw e;
        await sleep(100);
      }
    }
  }

  close() { const cp = this.cp; this.cp = null; return cp?.close({ force: true }); }

  /** Call until answered; a CALLERROR is an answer (thrown). */
  async call(method, params) {
    for (let i = 0; ; i++) {
      if (!this.cp) await this.connect({ retryMs: 30000 });
      try {
        return await this.cp.call(method, params);
      } catch (e) {
        if (e.rpcErrorCode) throw e;
        if (i > 200) throw e;
        this.cp?.close({ force: true });
        this.cp = null;
        await sleep(50);
      }
    }
  }

  meter() {
    this.meterWh += 250;
    return this.v16
      ? [{ timestamp: TS(), sampledValue: [{ value: String(this.meterWh), measurand: 'Energy.Active.Import.Register', unit: 'Wh' }] }]
      : [{ timestamp: TS(), sampledValue: [{ value: this.meterWh, measurand: 'Energy.Active.Import.Register', unitOfMeasure: { unit: 'Wh' } }] }];
  }

  boot() { return this.call('BootNotification', bootPayload(this.protocol)); }

  status(s, connector = 1) {
    return this.call('StatusNotification', this.v16
      ? { connectorId: connector, errorCode: 'NoError', status: s, timestamp: TS() }
      : { timestamp: TS(), connectorStatus: s, evseId: 1, connectorId: connector });
  }

  async start(tag = 'BUS-042', { offline = false } = {}) {
    if (this.v16) {
      const p = { connectorId: 1, idTag: tag, meterStart: this.meterWh, timestamp: TS() };
      const r = await this.call('StartTransaction', p);
      const tx = { key: logicalKey('StartTransaction', p), localId: r.transactionId, meter: 0, tag };
      this.txs.push(tx);
      return tx;
    }
    const txId = `TX-${this.id}-${this.txs.length + 1}-${Date.now() % 100000}`;
    const tx = { txId, meter: 0, tag, offline: [] };
    this.txs.push(tx);
    await this.event(tx, 'Started', { offline, evse: { id: 1, connectorId: 1 }, idToken: { idToken: tag, type: 'ISO14443' } });
    return tx;
  }

  async event(tx, eventType, { offline = false, ...extra } = {}) {
    const seqNo = this.seq.get(tx.txId) ?? 0;
    this.seq.set(tx.txId, seqNo + 1);
    tx.offline[seqNo] = offline;
    const during = this.partition?.();
    await this.call('TransactionEvent', { eventType, timestamp: TS(), triggerReason: eventType === 'Updated' ? 'MeterValuePeriodic' : 'Authorized',
      seqNo, transactionInfo: { transactionId: tx.txId }, meterValue: this.meter(), ...extra });
    // Where the test tells which partition it is in (the kill -9 test): a call answered after the
    // CSMS came back may have been held for an uplink that was connecting and then gone to the
    // CSMS live (proxy.c), so only a call that partition saw from start to answer was offline.
    if (this.partition && (during == null || this.partition() !== during)) tx.offline[seqNo] = false;
  }

  async meterValues(tx, { offline = false } = {}) {
    tx.meter++;
    if (this.v16) return this.call('MeterValues', { connectorId: 1, transactionId: tx.localId, meterValue: this.meter() });
    return this.event(tx, 'Updated', { offline });
  }

  async stop(tx, { offline = false } = {}) {
    tx.stopped = true;
    if (this.v16) return this.call('StopTransaction', { transactionId: tx.localId, meterStop: this.meterWh, timestamp: TS() });
    return this.event(tx, 'Ended', { offline });
  }
}

// ---- the daemon ----

function partitionConfig(dir, ocppPort, csmsUrl, { partition = 'autonomous', attempts = 2 } = {}) {
  const chargers = Object.entries(PW).map(([id, pw]) => `{ id = "${id}"; max_a = 32.0; password = "${pw}"; }`).join(',\n  ');
  return `site = { name = "partition-test"; fallback_a = 6.0; grid = { limit_a = [100.0, 100.0, 100.0]; }; };
chargers = (
  ${chargers}
);
ocpp = { listen = "127.0.0.1:${ocppPort}"; path = "/ocpp"; security_profile = 1; call_timeout_s = 5; };
upstream = { url = "${csmsUrl}"; security_profile = 1; credentials = "per-charger"; call_timeout_s = 5;
  reconnect_min_ms = 100; reconnect_max_ms = 400; partition = "${partition}"; replay_attempts = ${attempts}; };
web = { listen = "127.0.0.1:1"; };
storage = { path = "${dir}/ampgate.db"; };
`;
}

class Site {
  static async start(opts = {}) {
    const s = new Site();
    s.dir = tmpDir('ampgate-partition-');
    s.db = path.join(s.dir, 'ampgate.db');
    s.csms = new Csms(opts);
    await s.csms.up();
    const port = await freePort();
    s.edgeUrl = `ws://127.0.0.1:${port}/ocpp`;
    s.conf = path.join(s.dir, 'a.conf');
    fs.writeFileSync(s.conf, partitionConfig(s.dir, port, s.csms.url, opts));
    s.logs = '';
    await s.startDaemon();
    return s;
  }

  async startDaemon() {
    this.daemon = new Daemon(this.conf);
    await this.daemon.start(10000);
  }

  async kill9() {
    this.logs += this.daemon.log;
    this.daemon.proc.kill('SIGKILL');
    await this.daemon.exitPromise;
  }

  log() { return this.logs + (this.daemon?.log ?? ''); }
  count(re) { return (this.daemon.log.match(new RegExp(re, 'g')) ?? []).length; }

  async cut() {
    const before = this.count('uplink to the CSMS lost');
    await this.csms.down();
    await until(() => this.count('uplink to the CSMS lost') > before, { what: 'the edge to see the uplink go' });
  }

  queued() { return Number(sql(this.db, 'SELECT count(*) FROM outbox WHERE state = 0')); }

  async drained(timeoutMs = 20000) {
    await until(() => this.queued() === 0, { timeoutMs, what: 'the outbox to drain' });
  }

  async stop() {
    await this.daemon?.stop();
    await this.csms.down();
  }
}

/** Every transaction a station made is complete at the CSMS, in order, with consistent ids. */
function assertComplete(site, st, { allowResends = false } = {}) {
  const calls = site.csms.logical(st.id);
  if (!allowResends) assert.deepEqual(site.csms.dups(st.id).map((c) => c.method), [], `${st.id}: nothing delivered twice`);
  for (const tx of st.txs) {
    if (st.v16) {
      const startIdx = calls.findIndex((c) => c.method === 'StartTransaction' && logicalKey(c.method, c.params) === tx.key);
      assert.ok(startIdx >= 0, `${st.id}: the CSMS got the start of ${tx.localId}`);
      const real = site.csms.txByStart.get(`${st.id}|${tx.key}`);
      assert.ok(real > 0, 'the CSMS numbered it');
      const mine = calls.map((c, i) => ({ ...c, i })).filter((c) => c.params.transactionId === real);
      const mv = mine.filter((c) => c.method === 'MeterValues');
      assert.equal(mv.length, tx.meter, `${st.id}: meter values of transaction ${real} (edge id ${tx.localId})`);
      assert.ok(mv.every((c) => c.i > startIdx), 'meter values after the start');
      const stops = mine.filter((c) => c.method === 'StopTransaction');
      assert.equal(stops.length, tx.stopped ? 1 : 0, `${st.id}: stop of ${real}`);
      if (tx.stopped) assert.ok(mv.every((c) => c.i < stops[0].i), 'meter values before the stop');
      assert.ok(!calls.some((c) => (c.params.transactionId ?? 0) < 0), 'no provisional id reached the CSMS');
    } else {
      const evs = calls.filter((c) => c.method === 'TransactionEvent' && c.params.transactionInfo.transactionId === tx.txId);
      const n = st.seq.get(tx.txId);
      assert.deepEqual(evs.map((c) => c.params.seqNo), [...Array(n).keys()], `${st.id}: ${tx.txId} events in seqNo order`);
      assert.equal(evs[0].params.eventType, 'Started');
      if (tx.stopped) assert.equal(evs.at(-1).params.eventType, 'Ended');
      evs.forEach((c, i) => { if (tx.offline[i]) assert.equal(c.params.offline, true, `${tx.txId} seqNo ${i} marked offline`); });
    }
  }
  assert.deepEqual(site.csms.failures, [], 'nothing failed the CSMS strict schema');
}

for (const [protocol, id] of [['ocpp1.6', 'CP16'], ['ocpp2.0.1', 'CP201']]) {
  const v16 = protocol === 'ocpp1.6';
  describe(`${protocol}: partition and replay`, () => {
    let site;
    after(() => site?.stop());

    test('uplink cut mid-transaction: the charger keeps its answers and limits; the CSMS gets the whole history after', async () => {
      site = await Site.start();
      const st = new Station({ url: site.edgeUrl, id, protocol });
      await st.connect();
      await st.boot();
      await st.status(v16 ? 'Preparing' : 'Occupied');
      const a = await st.start();
      await st.meterValues(a);
      await until(() => st.profiles.length >= 2, { what: "the edge's profiles" });
      const limitBefore = effectiveLimit(st.profiles, protocol);

      await site.cut();
      await st.meterValues(a, { offline: true });
      await st.meterValues(a, { offline: true });
      await st.stop(a, { offline: true });
      for (const s of v16 ? ['Finishing', 'Available', 'Preparing'] : ['Available', 'Occupied']) await st.status(s);
      assert.ok((await st.call('Heartbeat', {})).currentTime, 'the edge answers heartbeats');
      const b = await st.start('BUS-043', { offline: true });
      if (v16) assert.ok(b.localId < 0, `a provisional id (${b.localId}) while the CSMS is away`);
      await st.meterValues(b, { offline: true });
      await st.meterValues(b, { offline: true });
      await st.stop(b, { offline: true });
      const c = await st.start('BUS-044', { offline: true });
      await st.meterValues(c, { offline: true });
      assert.ok(site.queued() > 0, 'the outbox holds what the edge acknowledged');
      assert.equal(effectiveLimit(st.profiles, protocol), limitBefore, 'the charger keeps its limit');
      assert.ok(st.cp, 'the charger stays connected in autonomous mode');

      await site.csms.up();
      await site.drained();
      await until(() => site.csms.logical(id).some((x) => (v16 ? x.method === 'MeterValues' && x.params.transactionId === site.csms.txByStart.get(`${id}|${c.key}`)
        : x.method === 'TransactionEvent' && x.params.transactionInfo.transactionId === c.txId && x.params.seqNo === 1)), { what: 'the replay' });
      // Live traffic of the transaction that began offline goes on under the CSMS's id.
      await st.meterValues(c);
      if (v16) {
        const real = site.csms.txByStart.get(`${id}|${c.key}`);
        const client = site.csms.clients.get(id);
        await until(() => site.csms.clients.get(id), { what: 'the uplink' });
        assert.deepEqual(await client.call('RemoteStopTransaction', { transactionId: real }), { status: 'Accepted' });
        assert.equal(st.received.filter((r) => r.method === 'RemoteStopTransaction').at(-1).params.transactionId, c.localId,
          "the CSMS's id is turned back into the charger's");
      }
      await st.stop(c);
      await until(() => site.csms.logical(id).some((x) => x.method === (v16 ? 'StopTransaction' : 'TransactionEvent')
        && (v16 ? x.params.transactionId === site.csms.txByStart.get(`${id}|${c.key}`) : x.params.eventType === 'Ended' && x.params.transactionInfo.transactionId === c.txId)),
      { what: 'the live stop' });

      assertComplete(site, st);
      const seen = site.csms.logical(id);
      const statuses = seen.filter((x) => x.method === 'StatusNotification').map((x) => x.params.status ?? x.params.connectorStatus);
      assert.deepEqual(statuses, [v16 ? 'Preparing' : 'Occupied', v16 ? 'Preparing' : 'Occupied'],
        'status storm collapsed to the latest per connector');
      assert.equal(seen.filter((x) => x.method === 'Heartbeat').length, 0, 'heartbeats answered offline are not replayed');
      if (!v16) {
        const live = seen.filter((x) => x.method === 'TransactionEvent' && x.params.transactionInfo.transactionId === a.txId && x.params.seqNo <= 1);
        assert.ok(live.every((x) => x.params.offline === undefined), 'events sent online are not marked offline');
      }
      assert.equal(sql(site.db, 'SELECT count(*) FROM outbox'), '0');
      assert.equal(sql(site.db, 'SELECT count(*) FROM tx_map'), '0', 'mappings end with their transactions');
      assert.match(site.log(), /replay finished: \d+ messages delivered to the CSMS/);
      await st.close();
    });

    test('a partition across a charger reboot, and an id token the CSMS rejects on replay', async () => {
      await site?.stop();
      site = await Site.start({ rejectTags: ['STOLEN-9'], errorOn: (m, p) => m === 'DataTransfer' && p.vendorId === 'refuse-me' });
      const stId = v16 ? 'CP16B' : 'CP201B';
      const st = new Station({ url: site.edgeUrl, id: stId, protocol });
      await st.connect();
      await st.boot();
      await site.cut();
      const d = await st.start('BUS-050', { offline: true });
      await st.meterValues(d, { offline: true });
      // The charger reboots while the CSMS is away; it keeps its transaction (and, in 1.6, the id it got).
      await st.close();
      await st.connect();
      assert.equal((await st.boot()).status, 'Accepted', 'the edge accepts the known charger after its reboot');
      await st.status(v16 ? 'Charging' : 'Occupied');
      await st.meterValues(d, { offline: true });
      await st.stop(d, { offline: true });
      // A vendor message the CSMS will refuse: parked, not blocking.
      await st.call('DataTransfer', { vendorId: 'refuse-me' });
      const bad = await st.start('STOLEN-9', { offline: true });
      await st.meterValues(bad, { offline: true });

      await site.csms.up();
      await until(() => st.stopRequests >= 1, { timeoutMs: 15000, what: 'the edge to ask the charger to stop the rejected session' });
      if (v16) assert.equal(st.received.find((r) => r.method === 'RemoteStopTransaction').params.transactionId, bad.localId);
      else assert.equal(st.received.find((r) => r.method === 'RequestStopTransaction').params.transactionId, bad.txId);
      await st.stop(bad);
      await site.drained();
      await until(() => site.csms.logical(stId).filter((x) => x.method === (v16 ? 'StopTransaction' : 'TransactionEvent')).length >= (v16 ? 2 : 7),
        { what: 'both stops at the CSMS' });
      assertComplete(site, st);
      const seen = site.csms.logical(stId).map((x) => x.method);
      assert.deepEqual(seen.filter((m) => m === 'BootNotification').length, 2, 'both boots reach the CSMS');
      assert.ok(seen.indexOf('BootNotification', 1) > seen.indexOf(v16 ? 'StartTransaction' : 'TransactionEvent'),
        'the reboot is replayed where it happened');
      assert.equal(sql(site.db, "SELECT count(*) FROM outbox WHERE state = 1 AND action = 'DataTransfer'"), '1', 'the refused message is parked');
      assert.match(site.log(), new RegExp(`outbox ${stId}: DataTransfer queued at .* was not delivered: the CSMS answered GenericError`));
      assert.match(site.log(), new RegExp(`outbox ${stId}: the CSMS refused id token STOLEN-9 \\(Invalid\\).*asking the charger to stop it`));
      assert.match(sql(site.db, "SELECT message FROM events WHERE kind = 'outbox' AND message LIKE '%STOLEN-9%'"), /refused id token/);
      await st.close();
    });
  });
}

describe('strict partition mode', () => {
  let site;
  after(async () => { await site?.stop(); });
  test('the charger socket is closed on uplink loss, and reconnecting works after', async () => {
    site = await Site.start({ partition: 'strict' });
    const st = new Station({ url: site.edgeUrl, id: 'CP16', protocol: 'ocpp1.6' });
    await st.connect();
    await st.boot();
    const closed = new Promise((r) => st.cp.once('close', r));
    const t0 = Date.now();
    await site.csms.down();
    await closed;
    assert.ok(Date.now() - t0 < 2000, 'the charger socket is closed at once');
    // The daemon writes the line as it closes the socket; the test reads its log through a pipe,
    // which a loaded machine delivered after the close event (a clean-clone CI run).
    const lossThenClose = /charger CP16: uplink to the CSMS lost[^\n]*\n[^\n]*charger CP16: disconnected/;
    await until(() => lossThenClose.test(site.daemon.log), { what: 'the log: uplink to the CSMS lost, then CP16 disconnected' });
    await site.csms.up();
    await st.connect();
    await until(() => site.csms.clients.get('CP16'), { what: 'the uplink back' });
    assert.equal((await st.boot()).status, 'Accepted');
    await until(() => site.csms.logical('CP16').filter((c) => c.method === 'BootNotification').length === 2, { what: 'the boot after reconnect' });
    await st.close();
  });
});

describe('kill -9 during partition and replay', () => {
  let site;
  after(async () => { await site?.stop(); });
  const kills = LONG ? 56 : 6;
  test(`${kills} kills of ampgated at random moments: the CSMS still gets every transaction once, in order`, { timeout: LONG ? 900000 : 120000 }, async (t) => {
    site = await Site.start();
    const stations = [new Station({ url: site.edgeUrl, id: 'CP16', protocol: 'ocpp1.6' }),
      new Station({ url: site.edgeUrl, id: 'CP201', protocol: 'ocpp2.0.1' })];
    for (const st of stations) { await st.connect(); await st.boot(); }
    const open = new Map();
    let down = false;
    let partitions = 0;
    for (const st of stations) st.partition = () => (down ? partitions : null);
    let running = true;
    // Each charger lives its life in the background: start, meter values, stop, status.
    const life = async (st) => {
      for (let i = 0; running; i++) {
        const tx = open.get(st.id);
        if (!tx) open.set(st.id, await st.start(`BUS-${i}`, { offline: down }));
        else if (tx.meter < 2 + (i % 3)) await st.meterValues(tx, { offline: down });
        else { open.delete(st.id); await st.stop(tx, { offline: down }); }
        if (i % 4 === 0) await st.status(i % 8 ? 'Available' : (st.v16 ? 'Preparing' : 'Occupied'));
        await sleep(5);
      }
    };
    const lives = stations.map(life);
    const restart = async () => { await site.kill9(); await site.startDaemon(); };
    await sleep(200);
    let k = 0;
    while (k < kills) {
      // A partition with one or two kills at random moments of the chargers' traffic ...
      await site.cut();
      partitions++;
      down = true;
      for (let j = 0; j < 1 + (k % 2) && k < kills; j++, k++) {
        await sleep(50 + Math.random() * 250);
        await restart();
      }
      await sleep(100);
      // ... then the CSMS is back, and a kill at a random moment of the replay.
      down = false;
      await site.csms.up();
      if (k < kills) {
        await sleep(Math.random() * 600);
        await restart();
        k++;
      }
      await sleep(200);
    }
    running = false;
    await Promise.all(lives);
    // Finish what is open, online, and let the outbox drain.
    for (const st of stations) {
      const tx = open.get(st.id);
      if (tx) await st.stop(tx);
    }
    await site.drained(30000);
    await until(() => stations.every((st) => st.txs.every((tx) => site.csms.logical(st.id).some((c) => st.v16
      ? c.method === 'StopTransaction' && c.params.transactionId === site.csms.txByStart.get(`${st.id}|${tx.key}`)
      : c.method === 'TransactionEvent' && c.params.eventType === 'Ended' && c.params.transactionInfo.transactionId === tx.txId))),
    { timeoutMs: 20000, what: 'every stop at the CSMS' });
    for (const st of stations) assertComplete(site, st, { allowResends: true });
    const offline = stations.flatMap((st) => (st.v16 ? [] : st.txs.flatMap((tx) => tx.offline))).filter(Boolean).length;
    assert.ok(offline > 0, 'some 2.0.1 events were sent and answered within one partition, and checked marked offline');
    const resent = stations.reduce((n, st) => n + site.csms.dups(st.id).length, 0);
    const total = stations.reduce((n, st) => n + site.csms.logical(st.id).length, 0);
    assert.ok(resent <= 3 * kills, `at-least-once: ${resent} re-sent deliveries of ${total} for ${kills} kills`);
    const again = stations.flatMap((st) => site.csms.dups(st.id).map((c) => c.method));
    t.diagnostic(`${kills} kills: ${stations.map((st) => `${st.id} ${st.txs.length} transactions`).join(', ')}; ${total} messages (${offline} events checked offline), ${resent} delivered again after a kill (${again.join(', ')})`);
    assert.ok(stations.every((st) => st.txs.length >= 3), 'several transactions per charger');
    await Promise.all(stations.map((st) => st.close()));
  });
});
