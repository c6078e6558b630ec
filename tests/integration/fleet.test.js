// The charger fleet simulator against a strict ocpp-rpc CSMS: every message it sends and every
// answer it gives passes the official schemas (1.6 and 2.0.1), transactions start and stop, a
// station-max profile of 10 A brings the reported current to <= 10 A after the reaction delay,
// Reset reboots the station, and a couple of hundred stations connect and boot quickly.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { AMPGATE_SIM, assertNoSanitizerReport, scaled, tmpDir } from '../lib/daemon.js';
import { startCsms } from '../lib/csms.js';

const password = (id) => {
  const m = /^SIM(\d{4})$/.exec(id);
  return m ? `pw-${m[1]}` : undefined;
};

/** Run the simulator to completion; resolves { code, log, report }. */
function runFleet(args, reportPath, timeoutMs = 25000) {
  return new Promise((resolve, reject) => {
    const p = spawn(AMPGATE_SIM, ['chargers', ...args, '--report-json', reportPath], { stdio: ['ignore', 'pipe', 'pipe'] });
    let log = '';
    p.stdout.on('data', (c) => { log += c; });
    p.stderr.on('data', (c) => { log += c; });
    const timer = setTimeout(() => { p.kill('SIGKILL'); reject(new Error(`ampgate-sim did not finish:\n${log}`)); }, scaled(timeoutMs));
    p.on('close', (code) => {
      clearTimeout(timer);
      try { assertNoSanitizerReport(log, 'ampgate-sim chargers'); } catch (e) { reject(e); return; }
      let report = null;
      try { report = JSON.parse(fs.readFileSync(reportPath, 'utf8')); } catch { /* asserted by the caller */ }
      resolve({ code, log, report });
    });
  });
}

const limitProfile16 = (id) => ({ connectorId: 0, csChargingProfiles: { chargingProfileId: id, stackLevel: 5,
  chargingProfilePurpose: 'ChargePointMaxProfile', chargingProfileKind: 'Absolute',
  chargingSchedule: { chargingRateUnit: 'A', startSchedule: new Date(Date.now() - 1000).toISOString(),
    chargingSchedulePeriod: [{ startPeriod: 0, limit: 10.0 }] } } });
const limitProfile201 = (id) => ({ evseId: 0, chargingProfile: { id, stackLevel: 5,
  chargingProfilePurpose: 'ChargingStationMaxProfile', chargingProfileKind: 'Absolute',
  chargingSchedule: [{ id, chargingRateUnit: 'A', startSchedule: new Date(Date.now() - 1000).toISOString(),
    chargingSchedulePeriod: [{ startPeriod: 0, limit: 10.0 }] }] } });

test('20 mixed stations: strict-valid traffic, transactions, a 10 A profile obeyed, CSMS calls answered', async (t) => {
  const REACTION_MS = 500;
  const limited = new Map();   // identity -> time the profile was accepted
  const answers = [];          // [what, promise] for the CSMS -> station calls
  const csms = await startCsms({ password, heartbeatS: 2 });
  t.after(() => csms.close());
  const dir = tmpDir('ampgate-fleet-');

  // Once a station reports more than 10 A, limit it (two of each protocol).
  const limitOnce = (st) => {
    const perProto = [...limited.keys()].filter((id) => csms.stations.get(id).protocol === st.protocol).length;
    if (limited.has(st.id) || perProto >= 2 || !st.client || !st.meter.some((m) => m.max > 10.5)) return;
    limited.set(st.id, null);
    const v201 = st.protocol === 'ocpp2.0.1';
    answers.push([`SetChargingProfile ${st.id}`, st.client.call('SetChargingProfile', v201 ? limitProfile201(900) : limitProfile16(900))
      .then((r) => { assert.equal(r.status, 'Accepted'); limited.set(st.id, Date.now()); })]);
  };
  const poll = setInterval(() => { for (const st of csms.stations.values()) limitOnce(st); }, 100);
  t.after(() => clearInterval(poll));

  const run = runFleet(['--url', csms.url, '--count', '20', '--protocol', 'mix', '--password-template', 'pw-%04d',
    '--seed', '7', '--ev-at-start', '0.8', '--arrivals-per-hour', '7200', '--dwell-s', '8', '--meter-interval-s', '1',
    '--reaction-delay-ms', String(REACTION_MS), '--duration-s', '14', '--summary-s', '5'], path.join(dir, 'report.json'));

  // Calls from the CSMS to stations of both versions once they are all booted.
  await csms.waitFor(() => csms.stations.size === 20 && [...csms.stations.values()].every((s) => s.boots.length), 8000, 'all booted');
  const byProto = (p) => [...csms.stations.values()].filter((s) => s.protocol === p);
  const [a16, b16, c16] = byProto('ocpp1.6');
  const [a201, b201, c201] = byProto('ocpp2.0.1');
  const call = (st, method, params) => {
    const p = st.client.call(method, params);
    answers.push([`${method} ${st.id}`, p]);
    return p;
  };
  const conf = await call(a16, 'GetConfiguration', { key: ['HeartbeatInterval', 'NoSuchKey'] });
  assert.equal(conf.configurationKey[0].key, 'HeartbeatInterval');
  assert.equal(conf.configurationKey[0].value, '2');
  assert.deepEqual(conf.unknownKey, ['NoSuchKey']);
  const all = await call(b16, 'GetConfiguration', {});
  assert.ok(all.configurationKey.length >= 5);
  assert.equal((await call(a16, 'ChangeConfiguration', { key: 'MeterValueSampleInterval', value: '1' })).status, 'Accepted');
  assert.equal((await call(a16, 'ChangeConfiguration', { key: 'NumberOfConnectors', value: '2' })).status, 'Rejected');
  const vars = await call(a201, 'GetVariables', { getVariableData: [
    { component: { name: 'OCPPCommCtrlr' }, variable: { name: 'HeartbeatInterval' } },
    { component: { name: 'OCPPCommCtrlr' }, variable: { name: 'Nope' } },
    { component: { name: 'NoSuchCtrlr' }, variable: { name: 'X' } }] });
  assert.deepEqual(vars.getVariableResult.map((r) => r.attributeStatus), ['Accepted', 'UnknownVariable', 'UnknownComponent']);
  assert.equal(vars.getVariableResult[0].attributeValue, '2');
  const set = await call(a201, 'SetVariables', { setVariableData: [
    { component: { name: 'SampledDataCtrlr' }, variable: { name: 'TxUpdatedInterval' }, attributeValue: '1' }] });
  assert.equal(set.setVariableResult[0].attributeStatus, 'Accepted');
  assert.equal((await call(b16, 'TriggerMessage', { requestedMessage: 'StatusNotification', connectorId: 1 })).status, 'Accepted');
  assert.equal((await call(b201, 'TriggerMessage', { requestedMessage: 'Heartbeat' })).status, 'Accepted');
  assert.equal((await call(b201, 'TriggerMessage', { requestedMessage: 'MeterValues' })).status, 'Accepted');
  assert.equal((await call(b16, 'TriggerMessage', { requestedMessage: 'DiagnosticsStatusNotification' })).status, 'NotImplemented');
  assert.equal((await call(b16, 'ClearChargingProfile', { id: 12345 })).status, 'Unknown');
  assert.equal((await call(b201, 'ClearChargingProfile', { chargingProfileId: 12345 })).status, 'Unknown');
  assert.equal((await call(c16, 'Reset', { type: 'Soft' })).status, 'Accepted');
  assert.match((await call(c201, 'Reset', { type: 'Immediate' })).status, /^(Accepted|Scheduled)$/);
  await csms.waitFor(() => c16.boots.length >= 2 && c201.boots.length >= 2, 8000, 'reboot after Reset');
  assert.equal(c201.boots.at(-1).reason, 'RemoteReset');

  const { code, log, report } = await run;
  for (const [what, p] of answers) await assert.doesNotReject(p, what);
  assert.equal(code, 0, log);

  // Strict validation: nothing failed in either direction.
  assert.deepEqual(csms.failures, [], JSON.stringify(csms.failures.slice(0, 5)));
  const c = csms.calls;
  for (const action of ['BootNotification', 'StatusNotification', 'Heartbeat', 'Authorize', 'StartTransaction',
    'StopTransaction', 'MeterValues', 'TransactionEvent.Started', 'TransactionEvent.Updated', 'TransactionEvent.Ended'])
    assert.ok(c[action] > 0, `the CSMS received ${action}: ${JSON.stringify(c)}`);
  assert.ok(c.BootNotification >= 22, 'every station booted, two rebooted');
  assert.equal(c.NotImplemented ?? 0, 0);

  // The 10 A limit: every reading taken after acceptance + reaction delay (+ a tick and a
  // meter interval of slack) is at most 10 A, and there was at least one such reading.
  assert.ok(limited.size >= 2, `stations limited: ${[...limited.keys()]}`);
  let checked = 0;
  for (const [id, at] of limited) {
    assert.ok(at, `${id} accepted the profile`);
    const later = csms.stations.get(id).meter.filter((m) => m.at > at + REACTION_MS + 1200);
    for (const m of later) assert.ok(m.max <= 10.0, `${id}: ${JSON.stringify(m)} after the 10 A profile`);
    checked += later.length;
  }
  assert.ok(checked > 0, 'readings after the limit took effect');
  t.diagnostic(`limited ${[...limited.keys()].join(',')}; ${checked} readings checked <= 10 A; calls ${JSON.stringify(c)}`);

  // The report: latencies and counts.
  assert.equal(report.stations, 20);
  assert.equal(report.booted_once, 20);
  assert.ok(report.all.ok > 100 && report.all.error === 0, JSON.stringify(report.all));
  assert.ok(report.calls.BootNotification.p99_ms >= report.calls.BootNotification.p50_ms);
  assert.ok(report.csms_calls.SetChargingProfile >= 2);
});

test('200 stations connect and boot from one process', async (t) => {
  const csms = await startCsms({ password, heartbeatS: 30 });
  t.after(() => csms.close());
  const dir = tmpDir('ampgate-fleet-');
  const run = runFleet(['--url', csms.url, '--count', '200', '--password-template', 'pw-%04d', '--connect-rate', '1000',
    '--ev-at-start', '0.2', '--meter-interval-s', '5', '--duration-s', '6', '--summary-s', '0'], path.join(dir, 'report.json'));
  await csms.waitFor(() => csms.calls.BootNotification >= 200, 10000, '200 boots');
  const { code, log, report } = await run;
  assert.equal(code, 0, log);
  assert.deepEqual(csms.failures, []);
  assert.equal(report.booted_once, 200);
  assert.ok(report.time_to_all_booted_s > 0 && report.time_to_all_booted_s < 5, `all booted in ${report.time_to_all_booted_s} s`);
  assert.equal(csms.stations.size, 200);
  t.diagnostic(`200 stations booted in ${report.time_to_all_booted_s} s, cpu ${report.cpu_s} s, rss ${report.max_rss_kb} kB`);
});
