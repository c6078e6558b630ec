// Replayed and rewritten frames keep every byte the charger sent (issue 17.5): a replayed 2.0.1
// `230.123456789012` arrived as `230.1234568` because the outbox re-serialised the payload. The
// edge changes exactly one thing: the 1.6 transactionId (provisional -> the CSMS's) and 2.0.1's
// offline flag on replayed TransactionEvents. Raw WebSocket chargers send frames with odd but valid
// spacing, long reals, exponents and \u escapes while the CSMS is down; the CSMS (strict ocpp-rpc)
// must receive those exact bytes when it comes back, and live rewritten frames after that.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import rpc from 'ocpp-rpc';
import WebSocket from 'ws';
import { freePort } from '../lib/daemon.js';
import { startEdge } from '../lib/edge-site.js';
import { TS, until } from '../lib/ocpp.js';

const { RPCServer } = rpc;
const PW = { BX16: 'password-bx16-00001', BX201: 'password-bx201-0001' };

/** A charger that speaks raw frames: `call(text)` sends them as they are and resolves the payload
 *  of the edge's CALLRESULT; the edge's own calls are accepted. */
async function rawCharger(url, id, protocol) {
  const ws = new WebSocket(`${url}/${id}`, [protocol], {
    headers: { Authorization: `Basic ${Buffer.from(`${id}:${PW[id]}`).toString('base64')}` } });
  const waiting = new Map();
  ws.on('message', (data) => {
    const m = JSON.parse(String(data));
    if (m[0] === 2) {
      const res = m[2] === 'SetVariables'
        ? { setVariableResult: m[3].setVariableData.map((s) => ({ attributeStatus: 'Accepted', component: s.component, variable: s.variable })) }
        : { status: 'Accepted' };
      ws.send(JSON.stringify([3, m[1], res]));
    } else if (waiting.has(m[1])) {
      waiting.get(m[1])(m);
      waiting.delete(m[1]);
    }
  });
  await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject); });
  return {
    ws,
    call(text) {
      const msgId = JSON.parse(text)[1];
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no answer to ${text}`)), 10000);
        waiting.set(msgId, (m) => { clearTimeout(timer); m[0] === 3 ? resolve(m[2]) : reject(new Error(JSON.stringify(m))); });
        ws.send(text);
      });
    },
  };
}

let daemon, server;
after(async () => { await daemon?.stop(); await server?.close({ force: true }); });

test('replayed and rewritten frames reach the CSMS byte for byte but the one field the edge rewrites', { timeout: 60000 }, async () => {
  const csmsPort = await freePort();
  let url;
  ({ daemon, url } = await startEdge({ name: 'bytes', passwords: PW, csmsUrl: `ws://127.0.0.1:${csmsPort}/csms` }));
  const c16 = await rawCharger(url, 'BX16', 'ocpp1.6');
  const c201 = await rawCharger(url, 'BX201', 'ocpp2.0.1');
  const ts = TS();

  // While the CSMS is down: the edge answers and keeps the frames.
  const sent = { BX16: [], BX201: [] };   // [original bytes, bytes the CSMS must receive]
  const send = async (cp, id, text, expected = text) => { sent[id].push([text, expected]); return cp.call(text); };
  await send(c16, 'BX16', '[2,"b16-boot","BootNotification",{"chargePointVendor":"Ampgate-Test","chargePointModel":"DC-150"}]');
  const start = await send(c16, 'BX16',
    `[2 , "b16-start","StartTransaction" ,{ "connectorId":1, "idTag" :"T\\u0041G-1",\n "meterStart": 1000 , "timestamp":"${ts}" }]`);
  const prov = start.transactionId;
  assert.ok(Number.isInteger(prov) && prov < 0, `a provisional id: ${prov}`);
  const mv = (msgId, wh, idText) => `[2,"${msgId}", "MeterValues",{"connectorId" : 1,  "transactionId" :  ${idText} ,"meterValue":[{"timestamp":"${ts}",`
    + `"sampledValue":[ {"value":"${wh}.000000000001","measurand":"Energy.Active.Import.Register","unit":"Wh"} ]}]}]`;
  // The CSMS's id is not known yet: the expected bytes are filled in once it is.
  await send(c16, 'BX16', mv('b16-mv-1', 1500, prov), null);

  await send(c201, 'BX201', '[2,"b201-boot","BootNotification",{"reason":"PowerUp","chargingStation":{"model":"DC-150","vendorName":"Ampgate-Test"}}]');
  const ev = (msgId, type, seqNo, off, extra) => `[2,"${msgId}","TransactionEvent",{${off}  "eventType" : "${type}","timestamp":"${ts}",`
    + `"triggerReason":"${type === 'Started' ? 'Authorized' : 'MeterValuePeriodic'}","seqNo":${seqNo},"transactionInfo":{"transactionId":"bx-tx-1"},`
    + `"evse":{"id":1,"connectorId":1}${extra}}]`;
  const started = ev('b201-ev-0', 'Started', 0, '@', ',"idToken":{"idToken":"T\\u0041G-2","type":"ISO14443"},'
    + '"meterValue":[{"timestamp":"' + ts + '","sampledValue":[{"value":230.123456789012,"measurand":"Voltage"},{"value":2.30123456789012e2}]}]');
  await send(c201, 'BX201', started.replace('@', ''), started.replace('@', '"offline":true,'));
  const updated = ev('b201-ev-1', 'Updated', 1, '', ',  "offline" :false ,"meterValue":[{"timestamp":"' + ts + '","sampledValue":[{"value":0.1000000000000000055511151231257827}]}]');
  await send(c201, 'BX201', updated, updated.replace('"offline" :false', '"offline" :true'));

  // The CSMS comes up: what it receives, as bytes.
  const received = { BX16: [], BX201: [] };
  const failures = [];
  let nextTx = 8101;
  server = new RPCServer({ protocols: ['ocpp1.6', 'ocpp2.0.1'], strictMode: true, pingIntervalMs: 0 });
  server.auth((accept, reject, hs) => (hs.password?.toString('utf8') === PW[hs.identity] ? accept({}, [...hs.protocols][0]) : reject(401)));
  server.on('client', (client) => {
    client.on('message', ({ message, outbound }) => { if (!outbound) received[client.identity].push(String(message)); });
    client.on('strictValidationFailure', (e) => failures.push(String(e.error)));
    client.handle(({ method, params }) => {
      if (method === 'BootNotification') return { status: 'Accepted', currentTime: TS(), interval: 300 };
      if (method === 'StartTransaction') return { transactionId: nextTx++, idTagInfo: { status: 'Accepted' } };
      if (method === 'StopTransaction') return { idTagInfo: { status: 'Accepted' } };
      if (method === 'TransactionEvent') return params.idToken ? { idTokenInfo: { status: 'Accepted' } } : {};
      return {};
    });
  });
  await server.listen(csmsPort, '127.0.0.1');
  await until(() => received.BX16.length >= 3 && received.BX201.length >= 3, { timeoutMs: 15000, what: 'the replay' });
  sent.BX16[2][1] = mv('b16-mv-1', 1500, 8101);

  // Live after the replay: the provisional id is rewritten in the charger's frames, nothing else.
  await until(() => /replay finished/.test(daemon.log) && (daemon.log.match(/replay finished/g) || []).length >= 2, { what: 'both replays done' });
  await send(c16, 'BX16', mv('b16-mv-2', 2500, prov), mv('b16-mv-2', 2500, 8101));
  const stop = (idText) => `[2,"b16-stop","StopTransaction",{"transactionId":\t${idText},"meterStop":3000,"timestamp":"${ts}","reason":"Local"}]`;
  await send(c16, 'BX16', stop(prov), stop(8101));
  await until(() => received.BX16.length >= 5, { what: 'the live frames' });

  for (const id of ['BX16', 'BX201'])
    assert.deepEqual(received[id], sent[id].map(([, expected]) => expected), `${id}: the CSMS received the charger's bytes`);
  assert.deepEqual(failures, [], 'the strict CSMS accepted every frame');
  c16.ws.close();
  c201.ws.close();
});
