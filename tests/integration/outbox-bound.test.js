// The durable outbox has a size (issue 18.3): with storage.outbox_max_rows = 10 and the CSMS away,
// a 1.6 session of 30 MeterValues keeps the outbox at 10 messages by thinning the MeterValues (each
// drop in the audit log), never dropping BootNotification, StartTransaction or StopTransaction; the
// depth and the drops show on /metrics and /api/v1/site's uplink.outbox; when the CSMS is back it
// gets the whole transaction, stopped with its own id, and the outbox empties.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import rpc from 'ocpp-rpc';
import { AMPGATECTL, freePort, runSync, sql } from '../lib/daemon.js';
import { startEdge } from '../lib/edge-site.js';
import { bootPayload, connectStation, TS, until } from '../lib/ocpp.js';

const { RPCServer } = rpc;
const PW = { OB16: 'password-ob16-00001' };

let daemon, server;
after(async () => { await daemon?.stop(); await server?.close({ force: true }); });

const metric = async (webUrl, name) => {
  const text = await (await fetch(`${webUrl}/metrics`)).text();
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
  assert.ok(m, `${name} on /metrics`);
  return Number(m[1]);
};

test('a full outbox thins MeterValues and keeps every transaction message', { timeout: 60000 }, async () => {
  const csmsPort = await freePort();
  const hash = runSync(AMPGATECTL, ['passwd'], { input: 'viewer-password-01\n' }).stdout.trim();
  let edge;
  ({ daemon, ...edge } = await startEdge({ name: 'outbox-bound', passwords: PW, csmsUrl: `ws://127.0.0.1:${csmsPort}/csms`,
    storage: 'outbox_max_rows = 10;', web: true, webExtra: `users = ( { name = "viewer"; password_hash = "${hash}"; role = "viewer"; } );` }));
  const cp = await connectStation({ url: edge.url, id: 'OB16', protocol: 'ocpp1.6', password: PW.OB16 });
  await cp.call('BootNotification', bootPayload('ocpp1.6'));
  const { transactionId: prov } = await cp.call('StartTransaction', { connectorId: 1, idTag: 'TAG-OB', meterStart: 0, timestamp: TS() });
  let max = 0;
  for (let i = 1; i <= 30; i++) {
    await cp.call('MeterValues', { connectorId: 1, transactionId: prov, meterValue: [{ timestamp: TS(),
      sampledValue: [{ value: String(i * 100), measurand: 'Energy.Active.Import.Register', unit: 'Wh' }] }] });
    max = Math.max(max, Number(sql(edge.db, 'SELECT count(*) FROM outbox')));
  }
  await cp.call('StopTransaction', { transactionId: prov, meterStop: 3100, timestamp: TS(), reason: 'Local' });
  assert.ok(max <= 10, `the outbox held at most ${max} messages`);
  const kept = sql(edge.db, 'SELECT action FROM outbox ORDER BY seq').split('\n');
  assert.equal(kept.length, 10, kept.join());
  for (const action of ['BootNotification', 'StartTransaction', 'StopTransaction'])
    assert.ok(kept.includes(action), `${action} kept: ${kept}`);
  assert.equal(await metric(edge.webUrl, 'ampgate_outbox_messages'), 10);
  const dropped = await metric(edge.webUrl, 'ampgate_outbox_dropped_total');
  assert.equal(dropped, 30 + 3 - 10, 'every message beyond the bound was a MeterValues thinned out');
  const login = await fetch(`${edge.webUrl}/api/v1/login`, { method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ name: 'viewer', password: 'viewer-password-01' }) });
  assert.equal(login.status, 200);
  const site = await (await fetch(`${edge.webUrl}/api/v1/site`, { headers: { Cookie: login.headers.get('set-cookie').split(';')[0] } })).json();
  assert.deepEqual(site.uplink.outbox, { messages: 10, max: 10, dropped }, JSON.stringify(site.uplink));
  const audit = sql(edge.db, "SELECT message FROM events WHERE kind = 'outbox' AND message LIKE '%dropped to make room%'");
  const audited = [...audit.matchAll(/(\d+) MeterValues of this charger/g)].reduce((a, m) => a + Number(m[1]), 0);
  assert.equal(audited, dropped, `each drop audited:\n${audit}`);

  // The CSMS comes back: the whole transaction, each message once, the stop with the CSMS's id.
  const got = [];
  server = new RPCServer({ protocols: ['ocpp1.6'], strictMode: true, pingIntervalMs: 0 });
  server.auth((accept, reject, hs) => (hs.password?.toString('utf8') === PW[hs.identity] ? accept({}, 'ocpp1.6') : reject(401)));
  server.on('client', (client) => client.handle(({ method, params }) => {
    got.push({ method, params });
    if (method === 'BootNotification') return { status: 'Accepted', currentTime: TS(), interval: 300 };
    if (method === 'StartTransaction') return { transactionId: 4242, idTagInfo: { status: 'Accepted' } };
    if (method === 'StopTransaction') return { idTagInfo: { status: 'Accepted' } };
    return {};
  }));
  await server.listen(csmsPort, '127.0.0.1');
  await until(() => got.some((c) => c.method === 'StopTransaction'), { timeoutMs: 15000, what: 'the replay' });
  assert.deepEqual(got.map((c) => c.method).filter((m) => m !== 'MeterValues'), ['BootNotification', 'StartTransaction', 'StopTransaction']);
  assert.equal(got.find((c) => c.method === 'StopTransaction').params.transactionId, 4242);
  const mv = got.filter((c) => c.method === 'MeterValues');
  assert.equal(mv.length, 10 - 3);
  assert.equal(mv[0].params.meterValue[0].sampledValue[0].value, '100', 'the first reading is kept');
  await until(async () => (await metric(edge.webUrl, 'ampgate_outbox_messages')) === 0, { what: 'the outbox to empty' });
  await cp.close();
});
