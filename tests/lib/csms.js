// A strict fake CSMS on ocpp-rpc for tests: both OCPP versions, strict schema validation in
// both directions, the offered subprotocol and HTTP Basic auth required, and a record of every
// call it received, every validation failure, and every meter reading per station.
import rpc from 'ocpp-rpc';

const { RPCServer } = rpc;
export const PROTOCOLS = ['ocpp1.6', 'ocpp2.0.1'];

/**
 * Start on 127.0.0.1:0. `password(identity)` returns the expected Basic-auth password (or
 * undefined to refuse the station). Resolves to an object with `port`, `stations` (identity ->
 * record), `calls` (action -> count), `failures` (validation failures and bad messages),
 * `waitFor(pred, ms)` and `close()`.
 */
export async function startCsms({ password, heartbeatS = 2, onBoot, port = 0 } = {}) {
  const server = new RPCServer({ protocols: PROTOCOLS, strictMode: true, pingIntervalMs: 0, callTimeoutMs: 5000 });
  const csms = { stations: new Map(), calls: {}, failures: [], rejectedUpgrades: 0, txSeq: 1 };
  const waiters = new Set();
  const changed = () => { for (const w of waiters) w(); };

  server.auth((accept, reject, hs) => {
    if (![...hs.protocols].some((p) => PROTOCOLS.includes(p))) { csms.rejectedUpgrades++; return reject(400, 'no subprotocol'); }
    const want = password ? password(hs.identity) : undefined;
    if (want === undefined || hs.password?.toString('utf8') !== want) { csms.rejectedUpgrades++; return reject(401, 'Unauthorized'); }
    accept();
  });

  server.on('client', (client) => {
    const id = client.identity;
    let st = csms.stations.get(id);
    if (!st) {
      st = { id, protocol: client.protocol, boots: [], calls: {}, meter: [], txStarted: 0, txEnded: 0, connects: 0 };
      csms.stations.set(id, st);
    }
    st.client = client;
    st.connects++;
    st.protocol = client.protocol;
    const v201 = client.protocol === 'ocpp2.0.1';
    client.on('strictValidationFailure', (e) => csms.failures.push({ id, kind: 'strict', error: String(e.error?.message ?? e.error), outbound: e.outbound, isCall: e.isCall, message: e.messageId ?? '' }));
    client.on('badMessage', (e) => csms.failures.push({ id, kind: 'bad', error: String(e.error?.message ?? e.error), buffer: String(e.buffer).slice(0, 200) }));
    client.on('close', () => { if (st.client === client) st.client = null; changed(); });
    const count = (method) => {
      csms.calls[method] = (csms.calls[method] ?? 0) + 1;
      st.calls[method] = (st.calls[method] ?? 0) + 1;
      changed();
    };
    const now = () => new Date().toISOString();
    const record = (meterValue, txId) => {
      for (const mv of meterValue ?? []) {
        const amps = { L1: 0, L2: 0, L3: 0 };
        let sawCurrent = false;
        for (const sv of mv.sampledValue) {
          if ((sv.measurand ?? 'Energy.Active.Import.Register') === 'Current.Import' && sv.phase) {
            amps[sv.phase] = Number(sv.value);
            sawCurrent = true;
          }
        }
        if (sawCurrent) st.meter.push({ at: Date.now(), txId, amps, max: Math.max(amps.L1, amps.L2, amps.L3) });
      }
    };
    client.handle('BootNotification', ({ params }) => {
      count('BootNotification');
      st.boots.push({ at: Date.now(), reason: params.reason });
      onBoot?.(st);
      return { status: 'Accepted', currentTime: now(), interval: heartbeatS };
    });
    client.handle('Heartbeat', () => { count('Heartbeat'); return { currentTime: now() }; });
    client.handle('StatusNotification', ({ params }) => { count('StatusNotification'); st.status = params.status ?? params.connectorStatus; return {}; });
    client.handle('MeterValues', ({ params }) => { count('MeterValues'); record(params.meterValue, params.transactionId); return {}; });
    if (!v201) {
      client.handle('Authorize', () => { count('Authorize'); return { idTagInfo: { status: 'Accepted' } }; });
      client.handle('StartTransaction', () => {
        count('StartTransaction');
        st.txStarted++;
        st.txId = csms.txSeq++;
        return { idTagInfo: { status: 'Accepted' }, transactionId: st.txId };
      });
      client.handle('StopTransaction', () => { count('StopTransaction'); st.txEnded++; return {}; });
    } else {
      client.handle('Authorize', () => { count('Authorize'); return { idTokenInfo: { status: 'Accepted' } }; });
      client.handle('TransactionEvent', ({ params }) => {
        count('TransactionEvent');
        count(`TransactionEvent.${params.eventType}`);
        if (params.eventType === 'Started') { st.txStarted++; st.txId = params.transactionInfo.transactionId; }
        if (params.eventType === 'Ended') st.txEnded++;
        record(params.meterValue, params.transactionInfo.transactionId);
        return params.eventType === 'Started' ? { idTokenInfo: { status: 'Accepted' } } : {};
      });
    }
    client.handle(({ method }) => { count(method); throw rpc.createRPCError('NotImplemented', `no ${method}`); });
    changed();
  });

  const http = await server.listen(port, '127.0.0.1');
  csms.port = http.address().port;
  csms.url = `ws://127.0.0.1:${csms.port}/ocpp`;
  /** Resolve once pred() is truthy (checked on every event); reject after `ms`. */
  csms.waitFor = (pred, ms = 10000, what = 'condition') => new Promise((resolve, reject) => {
    const check = () => {
      const v = pred();
      if (v) { waiters.delete(check); clearTimeout(timer); resolve(v); }
    };
    const timer = setTimeout(() => { waiters.delete(check); reject(new Error(`timeout waiting for ${what}`)); }, ms);
    waiters.add(check);
    check();
  });
  csms.close = async () => { await server.close({ force: true }); };
  return csms;
}
