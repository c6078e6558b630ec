// Departure and energy need reach the `deadline` policy in the real daemon: a 2.0.1 EV's own
// NotifyEVChargingNeeds, and a site manager's values over REST and MQTT (for 1.6, where the EV
// says nothing). Two strict ocpp-rpc chargers share a 40 A connection (38 A after the margin):
// without needs each gets 19 A; an EV whose need no longer fits before its departure (laxity <= 0)
// is served first, 32 A, and the other gets the 6 A left. Needs end with the session.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import mqtt from 'mqtt';
import { launchChromium, logIn } from '../lib/browser.js';
import { AMPGATECTL, Daemon, ROOT, freePort, runSync, tmpDir } from '../lib/daemon.js';
import { siteAcl, startBroker } from '../lib/mosquitto.js';
import { TS, until } from '../lib/ocpp.js';
import { plugIn } from '../lib/plug-in.js';

const PW = 'needs-charger-pass-1';
const USERS = { manager: 'needs-manager-pass', viewer: 'needs-viewer-pass' };
const SITE = 'depot-needs';
const BASE = `ampgate/${SITE}`;
const PROTOS = { EV201: 'ocpp2.0.1', BUS16: 'ocpp1.6' };
const MQTT_USERS = { ampgate: 'needs-daemon-secret', manager: 'needs-mqtt-manager' };
const inAnHour = () => new Date(Date.now() + 3600e3).toISOString();

function hash(password) {
  const r = runSync(AMPGATECTL, ['passwd'], { input: `${password}\n` });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim();
}

async function edge(dir, { mqttPort = 0 } = {}) {
  const [ocppPort, webPort] = [await freePort(), await freePort()];
  fs.writeFileSync(path.join(dir, 'a.conf'), `site = { name = "${SITE}"; policy = "deadline"; margin_a = 2.0;
  control_period_ms = 500; grid = { limit_a = [40.0, 40.0, 40.0]; }; };
chargers = ( ${Object.keys(PROTOS).map((id) => `{ id = "${id}"; password = "${PW}"; }`).join(', ')} );
ocpp = { listen = "127.0.0.1:${ocppPort}"; };
web = { listen = "127.0.0.1:${webPort}"; assets = "${path.join(ROOT, 'web')}";
  users = ( { name = "manager"; password_hash = "${hash(USERS.manager)}"; role = "manager"; },
            { name = "viewer"; password_hash = "${hash(USERS.viewer)}"; role = "viewer"; } ); };
storage = { path = "${dir}/a.db"; };
${mqttPort ? `mqtt = { enabled = true; host = "127.0.0.1"; port = ${mqttPort}; prefix = "ampgate";
  username = "ampgate"; password = "${MQTT_USERS.ampgate}"; keepalive_s = 5; };` : ''}
`);
  const d = new Daemon(path.join(dir, 'a.conf'));
  await d.start();
  return { d, url: `ws://127.0.0.1:${ocppPort}/ocpp`, base: `http://127.0.0.1:${webPort}` };
}

const plugInBoth = (url) => plugIn(url, PROTOS, PW, 'tx-needs-1');

const energy201 = (cp, wh, eventType = 'Updated') => cp.call('TransactionEvent', {
  eventType, timestamp: TS(), triggerReason: eventType === 'Ended' ? 'StopAuthorized' : 'MeterValuePeriodic', seqNo: cp.seqNo++,
  transactionInfo: { transactionId: cp.txId, ...(eventType === 'Ended' ? { stoppedReason: 'Local' } : {}) },
  meterValue: [{ timestamp: TS(), sampledValue: [{ value: wh, measurand: 'Energy.Active.Import.Register', unitOfMeasure: { unit: 'Wh' } }] }],
});

async function allocation(cps, ev201, bus16, what) {
  await until(() => Math.abs(cps.EV201.limit() - ev201) < 0.11 && Math.abs(cps.BUS16.limit() - bus16) < 0.11,
    { timeoutMs: 8000, what: `${what}: EV201 at ${ev201} A, BUS16 at ${bus16} A (have ${cps.EV201.limit()}, ${cps.BUS16.limit()})` });
}

async function login(base, name) {
  const r = await fetch(`${base}/api/v1/login`, { method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ name, password: USERS[name] }) });
  assert.equal(r.status, 200);
  return { cookie: r.headers.get('set-cookie').split(';')[0], csrf: (await r.json()).csrf_token };
}

const post = (base, p, body, { cookie, csrf }) => fetch(`${base}${p}`, { method: 'POST',
  headers: { 'Content-Type': 'application/json', Cookie: cookie, ...(csrf ? { 'X-CSRF-Token': csrf } : {}) }, body: JSON.stringify(body) });
const getJson = async (base, p, { cookie }) => (await fetch(`${base}${p}`, { headers: { Cookie: cookie } })).json();

test('the EV\'s NotifyEVChargingNeeds and a manager\'s REST needs move the deadline allocation; both end with the session', async () => {
  const dir = tmpDir('ampgate-needs-');
  const { d, url, base } = await edge(dir);
  let cps = {};
  try {
    cps = await plugInBoth(url);
    await allocation(cps, 19, 19, 'no needs: fair');
    const manager = await login(base, 'manager');
    const charger = (id) => getJson(base, `/api/v1/chargers/${id}`, manager);
    assert.deepEqual((({ departure, energy_need_kwh, needs_from }) => ({ departure, energy_need_kwh, needs_from }))(await charger('EV201')),
      { departure: null, energy_need_kwh: null, needs_from: null });

    // The 2.0.1 EV leaves in an hour and wants 60 kWh: 2.7 h at 32 A, so it is late already.
    const departure = inAnHour();
    const res = await cps.EV201.call('NotifyEVChargingNeeds', { evseId: 1, chargingNeeds: { requestedEnergyTransfer: 'AC_three_phase',
      departureTime: departure, acChargingParameters: { energyAmount: 60000, evMinCurrent: 6, evMaxCurrent: 32, evMaxVoltage: 400 } } });
    assert.equal(res.status, 'Accepted');
    await allocation(cps, 32, 6, 'EV needs');
    let ev = await charger('EV201');
    assert.equal(ev.needs_from, 'ev');
    assert.equal(Date.parse(ev.departure), Date.parse(departure));
    assert.equal(ev.energy_need_kwh, 60);
    assert.match((await charger('EV201')).limit.binding, /charger max/);

    // 10 kWh delivered since: 50 kWh still needed.
    await energy201(cps.EV201, 10000);
    await until(async () => (await charger('EV201')).energy_need_kwh === 50, { what: '50 kWh left' });

    // A manager's value wins over the EV's, field by field: the departure stays the EV's.
    let r = await post(base, '/api/v1/chargers/EV201/needs', { departure: null, energy_kwh: 5 }, manager);
    assert.equal(r.status, 200, await r.clone().text());
    ev = await r.json();
    assert.equal(ev.needs_from, 'manager');
    assert.equal(ev.energy_need_kwh, 5);
    assert.equal(Date.parse(ev.departure), Date.parse(departure));
    // Least laxity first (issue 20): an EV with a deadline, even an easy one, is filled to its cap
    // before one without (it used to share 19/19 as soon as it had slack).
    await allocation(cps, 32, 6, '5 kWh before the departure: still first');

    // The session ends: so do its needs (the EV is still plugged in, so it still gets a share).
    await energy201(cps.EV201, 11000, 'Ended');
    await until(async () => (await charger('EV201')).needs_from === null, { what: 'needs cleared with the session' });
    ev = await charger('EV201');
    assert.equal(ev.departure, null);
    assert.equal(ev.energy_need_kwh, null);

    // No session: nothing to set needs for.
    r = await post(base, '/api/v1/chargers/EV201/needs', { departure: inAnHour(), energy_kwh: 20 }, manager);
    assert.equal(r.status, 409);
    assert.match((await r.json()).error, /charger EV201 has no charging session/);

    // Bad input is refused with what to send, and changes nothing.
    for (const [body, re] of [[{ departure: 'tomorrow', energy_kwh: 20 }, /departure "tomorrow" is not a time: send RFC 3339/],
      [{ departure: '2020-01-01T00:00:00Z', energy_kwh: 20 }, /is in the past/],
      [{ departure: inAnHour(), energy_kwh: -3 }, /energy_kwh must be .* above 0 and at most 1000/],
      [{ departure: 17, energy_kwh: 20 }, /departure must be an RFC 3339 time/]]) {
      r = await post(base, '/api/v1/chargers/BUS16/needs', body, manager);
      assert.equal(r.status, 400, JSON.stringify(body));
      assert.match((await r.json()).error, re);
    }
    assert.equal((await charger('BUS16')).needs_from, null);
    r = await post(base, '/api/v1/chargers/NOPE/needs', { departure: null, energy_kwh: null }, manager);
    assert.equal(r.status, 404);
    r = await post(base, '/api/v1/chargers/BUS16/needs', { departure: inAnHour(), energy_kwh: 60 }, { cookie: manager.cookie });
    assert.equal(r.status, 403, 'no CSRF token');
    const viewer = await login(base, 'viewer');
    r = await post(base, '/api/v1/chargers/BUS16/needs', { departure: inAnHour(), energy_kwh: 60 }, viewer);
    assert.equal(r.status, 403);
    assert.match((await r.json()).error, /viewer is a viewer/);
    assert.equal((await charger('BUS16')).needs_from, null);

    // The 1.6 bus says nothing about itself: a manager tells the edge it leaves in an hour with
    // 60 kWh to go, and it is served first.
    r = await post(base, '/api/v1/chargers/BUS16/needs', { departure: inAnHour(), energy_kwh: 60 }, manager);
    assert.equal(r.status, 200);
    assert.equal((await r.json()).needs_from, 'manager');
    await allocation(cps, 6, 32, 'manager needs on the 1.6 bus');

    await cps.BUS16.call('StopTransaction', { transactionId: cps.BUS16.txId, meterStop: 4000, timestamp: TS() });
    await until(async () => (await charger('BUS16')).needs_from === null, { what: 'bus needs cleared with the session' });
    await allocation(cps, 19, 19, 'back to fair');

    const events = await getJson(base, '/api/v1/events?limit=50', manager);
    const needs = events.filter((e) => e.kind === 'charger.needs').map((e) => `${e.subject}: ${e.message}`);
    assert.ok(needs.some((m) => /^EV201: EV on EVSE 1 asks for departure \S+Z, 60\.0 kWh, at least 6 A, at most 32 A per phase$/.test(m)), needs.join('\n'));
    assert.ok(needs.some((m) => /^EV201: no departure, 5\.0 kWh set by web:manager for this session$/.test(m)), needs.join('\n'));
    assert.ok(needs.some((m) => /^BUS16: departure \S+Z, 60\.0 kWh set by web:manager for this session$/.test(m)), needs.join('\n'));
    assert.ok(needs.some((m) => /^BUS16: departure and energy need cleared: transaction -?\d+ ended$/.test(m)), needs.join('\n'));
  } catch (e) {
    console.log(d.log.split('\n').slice(-40).join('\n'));
    throw e;
  } finally {
    for (const cp of Object.values(cps)) await cp.close({ force: true }).catch(() => {});
    await d.stop();
  }
});

// A 2.0.1 EV gives its own maximum current with its needs (acChargingParameters.evMaxCurrent): it
// is offered that, and the rest of the connection goes to the other charger at once, not after a
// meter value showed the EV taking less. REST, the page and the event log say so; it ends with
// the session.
test('a 2.0.1 EV that can take 10 A is offered 10 A and the rest goes to the other charger; REST and the page show it', async () => {
  const dir = tmpDir('ampgate-needs-max-');
  const { d, url, base } = await edge(dir);
  const browser = await launchChromium();
  let cps = {};
  try {
    cps = await plugInBoth(url);
    await allocation(cps, 19, 19, 'no needs: fair');
    const res = await cps.EV201.call('NotifyEVChargingNeeds', { evseId: 1, chargingNeeds: { requestedEnergyTransfer: 'AC_single_phase',
      acChargingParameters: { energyAmount: 20000, evMinCurrent: 6, evMaxCurrent: 10, evMaxVoltage: 230 } } });
    assert.equal(res.status, 'Accepted');
    await allocation(cps, 10, 28, 'EV201 at its own 10 A, BUS16 the rest of 38 A');
    const manager = await login(base, 'manager');
    const ev = await getJson(base, '/api/v1/chargers/EV201', manager);
    assert.equal(ev.ev_max_a, 10);
    assert.equal(ev.needs_from, 'ev');
    assert.equal(ev.limit.binding, 'EV max');
    assert.equal((await getJson(base, '/api/v1/chargers/BUS16', manager)).ev_max_a, null);

    const page = await browser.newPage({ viewport: { width: 1500, height: 800 } });
    await logIn(page, base, 'manager', USERS.manager);
    await page.click('nav a[data-tab=chargers]');
    const row = '#chargers-table tr[data-id="EV201"]';
    await page.waitForFunction((r) => /EV takes 6-10 A \(from the EV\)/.test(document.querySelector(`${r} .needs-text`)?.textContent ?? ''), row);
    const events = await getJson(base, '/api/v1/events?limit=50', manager);
    assert.ok(events.some((e) => e.kind === 'charger.needs' && e.subject === 'EV201' &&
      /asks for no departure, 20\.0 kWh, at least 6 A, at most 10 A per phase$/.test(e.message)), JSON.stringify(events));

    // An EV that needs at least 24 A gets that or nothing, not the fair 19 A it would sit idle under.
    await cps.EV201.call('NotifyEVChargingNeeds', { evseId: 1, chargingNeeds: { requestedEnergyTransfer: 'AC_single_phase',
      acChargingParameters: { energyAmount: 20000, evMinCurrent: 24, evMaxCurrent: 32, evMaxVoltage: 230 } } });
    await until(() => cps.EV201.limit() > 23.9 && Math.abs(cps.EV201.limit() + cps.BUS16.limit() - 38) < 0.2,
      { timeoutMs: 8000, what: `EV201 at 24 A or more, BUS16 the rest (have ${cps.EV201.limit()}, ${cps.BUS16.limit()})` });
    assert.equal((await getJson(base, '/api/v1/chargers/EV201', manager)).ev_min_a, 24);

    await energy201(cps.EV201, 11000, 'Ended');
    await until(async () => (await getJson(base, '/api/v1/chargers/EV201', manager)).ev_max_a === null, { what: 'EV max cleared with the session' });
    await allocation(cps, 19, 19, 'the session over: fair again');

    // An EV that gives its needs before a transaction and leaves without one: its maximum goes
    // with it, and the next EV on that charger gets its share again.
    const status = (s) => cps.EV201.call('StatusNotification', { timestamp: TS(), connectorStatus: s, evseId: 1, connectorId: 1 });
    await cps.EV201.call('NotifyEVChargingNeeds', { evseId: 1, chargingNeeds: { requestedEnergyTransfer: 'AC_single_phase',
      acChargingParameters: { energyAmount: 5000, evMinCurrent: 6, evMaxCurrent: 10, evMaxVoltage: 230 } } });
    await allocation(cps, 10, 28, 'a new EV at its own 10 A before its transaction');
    await status('Available');
    await until(async () => (await getJson(base, '/api/v1/chargers/EV201', manager)).ev_max_a === null, { what: 'EV max cleared when it left' });
    await status('Occupied');
    await allocation(cps, 19, 19, 'the next EV, which said nothing, shares as before');
    const left = await getJson(base, '/api/v1/events?limit=50', manager);
    assert.ok(left.some((e) => e.kind === 'charger.needs' && e.subject === 'EV201' && /what the EV on EVSE 1 asked for cleared: it left$/.test(e.message)));
  } catch (e) {
    console.log(d.log.split('\n').slice(-40).join('\n'));
    throw e;
  } finally {
    await browser.close();
    for (const cp of Object.values(cps)) await cp.close({ force: true }).catch(() => {});
    await d.stop();
  }
});

test('MQTT cmd/charger/<id>/needs sets a session\'s needs and answers on /result; bad commands change nothing', async () => {
  const dir = tmpDir('ampgate-needs-mqtt-');
  const broker = await startBroker({ dir, users: MQTT_USERS, acl: siteAcl(BASE) });
  const { d, url, base } = await edge(dir, { mqttPort: broker.port });
  let cps = {};
  let c;
  try {
    await d.waitForLog(/mqtt: connected to the broker/, 8000);
    cps = await plugInBoth(url);
    await allocation(cps, 19, 19, 'no needs: fair');
    c = await mqtt.connectAsync(`mqtt://127.0.0.1:${broker.port}`, { protocolVersion: 4, reconnectPeriod: 0,
      username: 'manager', password: MQTT_USERS.manager });
    const got = [];
    c.on('message', (topic, payload) => got.push({ topic, text: payload.toString() }));
    const command = async (id, payload) => {
      const t = `${BASE}/cmd/charger/${id}/needs`;
      const before = got.length;
      await c.subscribeAsync(`${t}/result`, { qos: 1 });
      await c.publishAsync(t, typeof payload === 'string' ? payload : JSON.stringify(payload), { qos: 1 });
      const m = await until(() => got.slice(before).find((x) => x.topic === `${t}/result`), { what: `answer on ${t}/result` });
      return JSON.parse(m.text);
    };
    const manager = await login(base, 'manager');
    const bus = () => getJson(base, '/api/v1/chargers/BUS16', manager);

    for (const [id, payload, re] of [['BUS16', { departure: inAnHour(), energy_kwh: 'lots' }, /energy_kwh must be/],
      ['BUS16', { departure: inAnHour(), energy_kwh: 60, colour: 'red' }, /unknown key "colour"/],
      ['BUS16', 'not json', /must be a JSON object/],
      ['NOPE', { departure: inAnHour(), energy_kwh: 60 }, /no charger "NOPE" on this site/]]) {
      const a = await command(id, payload);
      assert.equal(a.ok, false, JSON.stringify(payload));
      assert.match(a.error, re);
    }
    assert.equal((await bus()).needs_from, null);
    assert.equal(cps.BUS16.limit(), 19);

    const a = await command('BUS16', { departure: inAnHour(), energy_kwh: 60, id: 'req-7' });
    assert.deepEqual(a, { ok: true, id: 'req-7' });
    await allocation(cps, 6, 32, 'MQTT needs on the 1.6 bus');
    const b = await bus();
    assert.equal(b.needs_from, 'manager');
    assert.equal(b.energy_need_kwh, 60);
    const events = await getJson(base, '/api/v1/events?limit=50', manager);
    assert.ok(events.some((e) => e.kind === 'charger.needs' && e.subject === 'BUS16' && /60\.0 kWh set by mqtt/.test(e.message)));
    assert.ok(events.some((e) => e.kind === 'mqtt.command' && /refused MQTT command on .*\/needs: unknown key "colour"/.test(e.message)));
  } catch (e) {
    console.log(d.log.split('\n').slice(-40).join('\n'));
    throw e;
  } finally {
    if (c) await c.endAsync(true).catch(() => {});
    for (const cp of Object.values(cps)) await cp.close({ force: true }).catch(() => {});
    await d.stop();
    await broker.stop();
  }
});

test('the chargers page: a manager sets a bus\'s departure and energy need and sees the allocation move', async () => {
  const dir = tmpDir('ampgate-needs-page-');
  const { d, url, base } = await edge(dir);
  const shots = path.join(ROOT, 'build/screenshots');
  fs.mkdirSync(shots, { recursive: true });
  const browser = await launchChromium();
  let cps = {};
  try {
    cps = await plugInBoth(url);
    await allocation(cps, 19, 19, 'no needs: fair');
    const page = await browser.newPage({ viewport: { width: 1500, height: 800 } });
    const errors = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await logIn(page, base, 'manager', USERS.manager);
    await page.click('nav a[data-tab=chargers]');
    const row = '#chargers-table tr[data-id="BUS16"]';
    await page.waitForSelector(`${row} .needs-form`);
    assert.equal(await page.textContent(`${row} .needs-text`), '–');
    // An hour from now in the browser's local time, as the datetime-local field takes it.
    const local = await page.evaluate(() => { const t = new Date(Date.now() + 3600e3); t.setSeconds(0, 0);
      return new Date(t - t.getTimezoneOffset() * 60e3).toISOString().slice(0, 16); });
    await page.fill(`${row} .needs-departure`, local);
    await page.fill(`${row} .needs-kwh`, '60');
    await page.click(`${row} .needs-form button[type=submit]`);
    await page.waitForFunction((r) => /60\.0 kWh to go \(set by a manager\)/.test(document.querySelector(`${r} .needs-text`).textContent), row);
    await allocation(cps, 6, 32, 'needs set on the page');
    assert.match(await page.textContent(`${row} .needs-text`), /^leaves .+ · 60\.0 kWh to go \(set by a manager\)$/);
    await page.waitForFunction((r) => parseFloat(document.querySelector(`${r} td.limit`).textContent) === 32, row);
    await page.screenshot({ path: path.join(shots, 'chargers-needs.png'), fullPage: true });

    await page.click(`${row} .needs-clear`);
    await page.waitForFunction((r) => document.querySelector(`${r} .needs-text`).textContent === '–', row);
    await allocation(cps, 19, 19, 'needs cleared on the page');
    assert.deepEqual(errors, [], 'no script errors on the page');
  } catch (e) {
    console.log(d.log.split('\n').slice(-40).join('\n'));
    throw e;
  } finally {
    await browser.close();
    for (const cp of Object.values(cps)) await cp.close({ force: true }).catch(() => {});
    await d.stop();
  }
});
