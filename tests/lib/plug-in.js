// Chargers booted over strict ocpp-rpc with an EV plugged in and a transaction running on each
// (1.6 StartTransaction or 2.0.1 TransactionEvent Started), for the tests that need EVs charging
// (needs.test.js, plan.test.js). Each station gets .txId, .seqNo (2.0.1) and .limit(): the
// effective limit of its profiles, NaN until the edge has sent them.
import { bootPayload, connectStation, effectiveLimit, TS } from './ocpp.js';

/** A station booted over strict ocpp-rpc, no EV yet; .limit() as below. */
export async function bootStation(url, id, protocol, password) {
  const cp = await connectStation({ url, id, protocol, password });
  await cp.call('BootNotification', bootPayload(protocol));
  cp.limit = () => (cp.profiles.length >= 2 ? effectiveLimit(cp.profiles, protocol) : NaN);
  return cp;
}

/** An EV plugged into a booted station, its transaction started (txId201 names a 2.0.1 one). */
export async function startSession(cp, protocol, txId201 = 'tx-1') {
  if (protocol === 'ocpp1.6') {
    await cp.call('StatusNotification', { connectorId: 1, errorCode: 'NoError', status: 'Charging' });
    cp.txId = (await cp.call('StartTransaction', { connectorId: 1, idTag: 'DRIVER16', meterStart: 0, timestamp: TS() })).transactionId;
    return;
  }
  await cp.call('StatusNotification', { timestamp: TS(), connectorStatus: 'Occupied', evseId: 1, connectorId: 1 });
  cp.txId = txId201;
  cp.seqNo = 0;
  await cp.call('TransactionEvent', { eventType: 'Started', timestamp: TS(), triggerReason: 'Authorized', seqNo: cp.seqNo++,
    transactionInfo: { transactionId: cp.txId, chargingState: 'Charging' }, evse: { id: 1, connectorId: 1 },
    idToken: { idToken: 'DRIVER201', type: 'ISO14443' },
    meterValue: [{ timestamp: TS(), sampledValue: [{ value: 0, measurand: 'Energy.Active.Import.Register',
      unitOfMeasure: { unit: 'Wh' }, context: 'Transaction.Begin' }] }] });
}

/** protos: { chargerId: 'ocpp1.6' | 'ocpp2.0.1' }. */
export async function plugIn(url, protos, password, txId201 = 'tx-1') {
  const cps = {};
  for (const [id, protocol] of Object.entries(protos)) {
    cps[id] = await bootStation(url, id, protocol, password);
    await startSession(cps[id], protocol, txId201);
  }
  return cps;
}
