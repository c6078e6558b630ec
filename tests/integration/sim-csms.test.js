// `ampgate-sim csms`, the loopback CSMS of the benchmarks, against strict ocpp-rpc stations of
// both versions: every answer it gives passes the official response schemas, ids and types are
// what a station relies on (BootNotification Accepted with an interval, StartTransaction with a
// fresh positive transactionId), a client offering no OCPP subprotocol is refused, and its report
// counts what it answered.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import WebSocket from 'ws';
import { AMPGATE_SIM, assertNoSanitizerReport, scaled, tmpDir } from '../lib/daemon.js';
import { connectStation, bootPayload, TS } from '../lib/ocpp.js';

/** Start the CSMS on a free port; resolves { url, proc, stop() -> report }. */
function startSimCsms(reportPath, extra = []) {
  return new Promise((resolve, reject) => {
    const proc = spawn(AMPGATE_SIM, ['csms', '--listen', '127.0.0.1:0', '--report-json', reportPath, ...extra],
      { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    const timer = setTimeout(() => { proc.kill('SIGKILL'); reject(new Error(`csms did not start:\n${out}`)); }, scaled(5000));
    const exited = new Promise((r) => proc.on('exit', (code, signal) => r({ code, signal })));
    const onData = (c) => {
      out += c;
      const m = /listening on 127\.0\.0\.1:(\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({
          url: `ws://127.0.0.1:${m[1]}/ocpp`,
          proc,
          log: () => out,
          stop: async () => {
            proc.kill('SIGTERM');
            const ex = await exited;
            assertNoSanitizerReport(out, 'ampgate-sim csms');
            assert.equal(ex.code, 0, `csms exit ${JSON.stringify(ex)}:\n${out}`);
            return JSON.parse(fs.readFileSync(reportPath, 'utf8'));
          },
        });
      }
    };
    proc.stdout.on('data', onData);
    proc.stderr.on('data', onData);
    proc.on('exit', () => { clearTimeout(timer); reject(new Error(`csms exited:\n${out}`)); });
  });
}

const meter16 = () => [{ timestamp: TS(), sampledValue: [{ value: '16.0', measurand: 'Current.Import', phase: 'L1', unit: 'A' }] }];
const meter201 = () => [{ timestamp: TS(), sampledValue: [{ value: 16.0, measurand: 'Current.Import', phase: 'L1', unitOfMeasure: { unit: 'A' } }] }];

test('strict 1.6 and 2.0.1 stations get schema-valid answers from ampgate-sim csms', async (t) => {
  const dir = tmpDir('ampgate-simcsms-');
  const csms = await startSimCsms(path.join(dir, 'report.json'), ['--heartbeat-s', '42', '--expect', '2']);
  t.after(() => { if (csms.proc.exitCode === null) csms.proc.kill('SIGKILL'); });

  const s16 = await connectStation({ url: csms.url, id: 'CP16', protocol: 'ocpp1.6' });
  const s201 = await connectStation({ url: csms.url, id: 'CP201', protocol: 'ocpp2.0.1' });
  t.after(() => { s16.close({ force: true }); s201.close({ force: true }); });

  // OCPP 1.6: the whole session.
  const boot16 = await s16.call('BootNotification', bootPayload('ocpp1.6'));
  assert.equal(boot16.status, 'Accepted');
  assert.equal(boot16.interval, 42);
  assert.ok(Math.abs(Date.parse(boot16.currentTime) - Date.now()) < 5000);
  assert.ok((await s16.call('Heartbeat', {})).currentTime);
  assert.deepEqual(await s16.call('StatusNotification', { connectorId: 1, errorCode: 'NoError', status: 'Preparing' }), {});
  assert.equal((await s16.call('Authorize', { idTag: 'TAG1' })).idTagInfo.status, 'Accepted');
  const start1 = await s16.call('StartTransaction', { connectorId: 1, idTag: 'TAG1', meterStart: 0, timestamp: TS() });
  const start2 = await s16.call('StartTransaction', { connectorId: 1, idTag: 'TAG1', meterStart: 10, timestamp: TS() });
  assert.ok(start1.transactionId > 0 && start2.transactionId > start1.transactionId, 'fresh positive transaction ids');
  assert.deepEqual(await s16.call('MeterValues', { connectorId: 1, transactionId: start1.transactionId, meterValue: meter16() }), {});
  assert.deepEqual(await s16.call('StopTransaction', { transactionId: start1.transactionId, meterStop: 500, timestamp: TS() }), {});
  assert.equal((await s16.call('DataTransfer', { vendorId: 'acme' })).status, 'UnknownVendorId');

  // OCPP 2.0.1: boot, status, a transaction as events, meter values.
  const boot201 = await s201.call('BootNotification', bootPayload('ocpp2.0.1'));
  assert.equal(boot201.status, 'Accepted');
  assert.equal(boot201.interval, 42);
  assert.ok((await s201.call('Heartbeat', {})).currentTime);
  assert.deepEqual(await s201.call('StatusNotification', { timestamp: TS(), connectorStatus: 'Occupied', evseId: 1, connectorId: 1 }), {});
  assert.equal((await s201.call('Authorize', { idToken: { idToken: 'TAG1', type: 'ISO14443' } })).idTokenInfo.status, 'Accepted');
  const started = await s201.call('TransactionEvent', { eventType: 'Started', timestamp: TS(), triggerReason: 'Authorized', seqNo: 0,
    transactionInfo: { transactionId: 'tx-1' }, evse: { id: 1, connectorId: 1 }, idToken: { idToken: 'TAG1', type: 'ISO14443' } });
  assert.equal(started.idTokenInfo.status, 'Accepted');
  assert.deepEqual(await s201.call('TransactionEvent', { eventType: 'Updated', timestamp: TS(), triggerReason: 'MeterValuePeriodic', seqNo: 1,
    transactionInfo: { transactionId: 'tx-1' }, meterValue: meter201() }), {});
  assert.deepEqual(await s201.call('TransactionEvent', { eventType: 'Ended', timestamp: TS(), triggerReason: 'StopAuthorized', seqNo: 2,
    transactionInfo: { transactionId: 'tx-1', stoppedReason: 'Local' } }), {});
  assert.deepEqual(await s201.call('MeterValues', { evseId: 1, meterValue: meter201() }), {});
  // Not something a minimal CSMS answers: a CALLERROR, and the connection stays.
  await assert.rejects(s201.call('Get15118EVCertificate', { iso15118SchemaVersion: 'urn:iso:15118:2:2013:MsgDef', action: 'Install', exiRequest: 'AAAA' }),
    (e) => e.rpcErrorCode === 'NotImplemented');
  assert.ok((await s201.call('Heartbeat', {})).currentTime);

  assert.deepEqual(s16.failures, []);
  assert.deepEqual(s201.failures, []);

  // No OCPP subprotocol: refused before the WebSocket opens.
  const refused = await new Promise((resolve) => {
    const ws = new WebSocket(`${csms.url}/RAW1`);
    ws.on('open', () => { ws.close(); resolve(false); });
    ws.on('error', () => resolve(true));
  });
  assert.ok(refused, 'a client offering no subprotocol is refused');

  // A malformed frame gets the CALLERROR the version prescribes.
  const junk = await new Promise((resolve, reject) => {
    const ws = new WebSocket(`${csms.url}/RAW2`, ['ocpp1.6']);
    ws.on('open', () => ws.send('[2, "j1", "Heartbeat"]'));
    ws.on('message', (m) => { ws.close(); resolve(JSON.parse(String(m))); });
    ws.on('error', reject);
  });
  assert.equal(junk[0], 4);
  assert.equal(junk[1], 'j1');

  await s16.close({ force: true });
  await s201.close({ force: true });
  const report = await csms.stop();
  assert.equal(report.boots, 2);
  assert.equal(report.all_booted_wall_ms.length, 1, 'both stations booted at once is noted');
  assert.equal(report.actions.StartTransaction, 2);
  assert.equal(report.actions.TransactionEvent, 3);
  assert.equal(report.actions.MeterValues, 2);
  assert.equal(report.errors_sent, 2);   // Get15118EVCertificate + the malformed frame
  assert.equal(report.rejected, 1);
  assert.equal(report.connects, 3);      // CP16, CP201, RAW2 (RAW1 never opened)
});
