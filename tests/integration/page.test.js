// The site manager's page, part two (issue 22), in headless Chromium on the real daemon with a
// simulated grid meter and strict ocpp-rpc chargers: a faulted and an offline charger on the
// overview and the chargers page, "charging" counts chargers drawing current, a measured
// over-limit reading says Over limit (and becomes a warning event), a finished session in the
// sessions list and its CSV with the kWh the charger reported, a temporary limit above the
// connection said to have no effect, phone layout without sideways scrolling, every control
// labelled (axe-core), no console errors, and the page greyed within 5 s of the daemon stopping.
// Screenshots at 1440 and 390 px go to build/screenshots/.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { axeCheck, finishPage, launchChromium, noSidewaysScroll, openPage as openLoggedIn, passwordHash, tab } from '../lib/browser.js';
import { AMPGATECTL, Daemon, ROOT, freePort, runSync, tmpDir } from '../lib/daemon.js';
import { bootPayload, connectStation, TS, until, sleep } from '../lib/ocpp.js';

const PW = 'bus-password-00001';
const MANAGER = 'manager-pass-1';
const SHOTS = path.join(ROOT, 'build/screenshots');

let d, base, dir, browser;
const cps = {};

function meter(transactionId, amps, wh) {
  return {
    connectorId: 1, transactionId,
    meterValue: [{ timestamp: TS(), sampledValue: [
      ...['L1', 'L2', 'L3'].map((phase) => ({ value: String(amps), measurand: 'Current.Import', phase, unit: 'A' })),
      { value: String(wh), measurand: 'Energy.Active.Import.Register', unit: 'Wh' },
      { value: String(230 * 3 * amps), measurand: 'Power.Active.Import', unit: 'W' },
    ] }],
  };
}

async function station(id) {
  const cp = await connectStation({ url: `ws://127.0.0.1:${d.ocppPort}/ocpp`, id, protocol: 'ocpp1.6', password: PW });
  await cp.call('BootNotification', bootPayload('ocpp1.6'));
  cps[id] = cp;
  return cp;
}

// A 200 A connection with a simulated meter (about 40 A of building load). BUS01 charges at
// 10 A, BUS02 is faulted (GroundFailure), BUS03 never connects, BUS04 has a session but its
// vehicle draws nothing.
before(async () => {
  dir = tmpDir('ampgate-page-');
  const [ocppPort, webPort] = [await freePort(), await freePort()];
  fs.writeFileSync(path.join(dir, 'page.conf'), `
site = { name = "south-depot"; policy = "fair"; margin_a = 2.0; control_period_ms = 500;
  grid = { meter = "grid"; limit_a = [200.0, 200.0, 200.0]; }; };
devices = ( { id = "grid"; driver = "sim"; role = "grid-meter"; modbus = "tcp://127.0.0.1:9"; poll_ms = 300; } );
chargers = ( { id = "BUS01"; password = "${PW}"; }, { id = "BUS02"; password = "${PW}"; },
             { id = "BUS03"; password = "${PW}"; }, { id = "BUS04"; password = "${PW}"; } );
ocpp = { listen = "127.0.0.1:${ocppPort}"; };
health = { heal = false; };
web = { listen = "127.0.0.1:${webPort}"; assets = "${path.join(ROOT, 'web')}";
  users = ( { name = "manager"; password_hash = "${passwordHash(MANAGER)}"; role = "manager"; } ); };
storage = { path = "${dir}/ampgate.db"; };
`);
  d = new Daemon(path.join(dir, 'page.conf'));
  d.ocppPort = ocppPort;
  await d.start();
  base = `http://127.0.0.1:${webPort}`;

  const bus01 = await station('BUS01');
  await bus01.call('StatusNotification', { connectorId: 1, errorCode: 'NoError', status: 'Charging' });
  const tx1 = await bus01.call('StartTransaction', { connectorId: 1, idTag: 'DRIVER1', meterStart: 1000, timestamp: TS() });
  bus01.tx = tx1.transactionId;
  await bus01.call('MeterValues', meter(bus01.tx, 10, 3000));

  const bus02 = await station('BUS02');
  await bus02.call('StatusNotification', { connectorId: 1, errorCode: 'GroundFailure', status: 'Faulted' });

  const bus04 = await station('BUS04');
  await bus04.call('StatusNotification', { connectorId: 1, errorCode: 'NoError', status: 'SuspendedEV' });
  const tx4 = await bus04.call('StartTransaction', { connectorId: 1, idTag: 'DRIVER4', meterStart: 500, timestamp: TS() });
  await bus04.call('MeterValues', meter(tx4.transactionId, 0, 500));
  browser = await launchChromium();
  fs.mkdirSync(SHOTS, { recursive: true });
});

after(async () => {
  await browser?.close();
  for (const cp of Object.values(cps)) await cp.close({ force: true }).catch(() => {});
  if (d && !d.exited) await d.stop();
});

const openPage = (width) => openLoggedIn(browser, base, width, 'manager', MANAGER);

test('overview and chargers page: faulted and offline chargers stand out; "charging" counts chargers drawing current', async () => {
  const page = await openPage(1440);
  await page.waitForFunction(() => document.querySelector('#alerts li'));
  const alerts = await page.$$eval('#alerts li', (li) => li.map((l) => l.textContent));
  assert.ok(alerts.some((a) => /^BUS02: faulted \(GroundFailure\)/.test(a)), alerts.join(' | '));
  assert.ok(alerts.some((a) => /^BUS03: offline/.test(a)), alerts.join(' | '));
  assert.ok(!alerts.some((a) => /BUS01|BUS04/.test(a)), alerts.join(' | '));
  assert.equal(await page.textContent('#mode'), 'Normal');
  // BUS01 draws 10 A; BUS04 holds a session with nothing drawn: one charging, two with a session.
  assert.equal(await page.textContent('#charger-counts'), '1 charging');
  assert.match(await page.textContent('#charger-sub'), /2 with a session · 3 of 4 online/);
  await page.screenshot({ path: path.join(SHOTS, 'page-overview-1440.png'), fullPage: true });
  await noSidewaysScroll(page, 'overview at 1440 px');

  await tab(page, '#chargers', () => document.querySelector('#chargers-table tr[data-id="BUS02"] td.health'));
  const health = await page.textContent('#chargers-table tr[data-id="BUS02"] td.health');
  assert.match(health, /^Faulted \(GroundFailure\) since /);
  assert.equal(await page.getAttribute('#chargers-table tr[data-id="BUS02"] td.health', 'class'), 'health faulted');
  assert.match(await page.textContent('#chargers-table tr[data-id="BUS03"] td.health'), /^Offline since /);
  assert.match(await page.textContent('#chargers-table tr[data-id="BUS01"] td.health'), /^Charging since /);
  // Policy fair ignores priorities, and the page says so to a manager.
  assert.match(await page.textContent('#priority-note'), /policy “fair”, which does not use priorities/);
  await page.screenshot({ path: path.join(SHOTS, 'page-chargers-1440.png'), fullPage: true });
  await noSidewaysScroll(page, 'chargers at 1440 px');
  await axeCheck(page, 'chargers page');

  // The charger's own page: state, fault code, faults by code.
  await page.click('#chargers-table tr[data-id="BUS02"] td.id a');
  await page.waitForFunction(() => document.querySelector('#cp-state').textContent === 'Faulted');
  assert.match(await page.textContent('#cp-since'), /last fault code GroundFailure/);
  await page.waitForFunction(() => document.querySelector('#cp-faults tbody td')?.textContent === 'GroundFailure');
  assert.match(await page.getAttribute('#cp-timeline .tl-bar', 'aria-label'), /^Last 24 hours: .*Faulted \d+ s/);
  // The timeline draws the stored stretches where they were in time: the faulted one ends at the right edge.
  const api = await page.evaluate(() => fetch('/api/v1/chargers/BUS02/timeline?days=1').then((r) => r.json()));
  assert.deepEqual(api.columns, ['state', 'start_ms', 'end_ms', 'code']);
  const last = api.stretches[api.stretches.length - 1];
  assert.deepEqual([last[0], last[3]], ['faulted', 'GroundFailure']);
  assert.ok(api.to_ms - last[2] < 10000, `faulted until ${api.to_ms - last[2]} ms ago`);
  const seg = await page.$eval('#cp-timeline .tl-bar .tl-seg.faulted', (el) => {
    const b = el.parentElement.getBoundingClientRect(), r = el.getBoundingClientRect();
    return { right: b.right - r.right, title: el.title };
  });
  assert.ok(seg.right < 3, `the faulted stretch ends ${seg.right} px before now`);
  assert.match(seg.title, /^Faulted \(GroundFailure\): /);
  // The hour-of-week heat map: BUS02 was seen this hour, faulted, with no vehicle on it.
  const slot = ((new Date().getDay() + 6) % 7) * 24 + new Date().getHours();
  assert.equal(await page.getAttribute(`#cp-heat .hm-cell[data-slot="${slot}"]`, 'data-pct'), '0');
  assert.equal(await page.textContent('#cp-heat-sum'), 'No vehicle seen in the last 30 days');
  await page.screenshot({ path: path.join(SHOTS, 'page-charger-1440.png'), fullPage: true });
  // BUS01 has been charging since it was first seen: a vehicle on it all of this hour's observed time.
  await tab(page, '#charger/BUS01', () => document.querySelector('#cp-state').textContent === 'Charging');
  await page.waitForFunction((i) => document.querySelector(`#cp-heat .hm-cell[data-slot="${i}"]`)?.dataset.pct === '100', slot);
  assert.match(await page.textContent('#cp-heat-sum'), /^Busiest hours: (Mon|Tue|Wed|Thu|Fri|Sat|Sun) \d\d:00 100 %$/);
  await axeCheck(page, 'charger page');
  assert.deepEqual(page.errors, []);
  await page.context().close();
});

test('a finished session appears in the sessions list and the CSV with the kWh the charger reported', async () => {
  const bus01 = cps.BUS01;
  const page = await openPage(1440);
  // A manager's need of 5 kWh, then 10.3 kWh more delivered: the need was met.
  const csrf = await page.evaluate(() => fetch('/api/v1/session').then((r) => r.json()).then((s) => s.csrf_token));
  const set = await page.evaluate(async (token) => (await fetch('/api/v1/chargers/BUS01/needs', { method: 'POST',
    headers: { 'Content-Type': 'application/json', 'X-CSRF-Token': token },
    body: JSON.stringify({ departure: new Date(Date.now() + 3600e3).toISOString(), energy_kwh: 5 }) })).status, csrf);
  assert.equal(set, 200);
  await bus01.call('MeterValues', meter(bus01.tx, 16, 13345));
  await bus01.call('StopTransaction', { transactionId: bus01.tx, meterStop: 13345, timestamp: TS() });
  await bus01.call('StatusNotification', { connectorId: 1, errorCode: 'NoError', status: 'Available' });

  // Its meter's last sample still reads 16 A, but the session is over: nobody is charging.
  await page.waitForFunction(() => document.querySelector('#charger-counts').textContent === '0 charging');
  await tab(page, '#sessions', () => document.querySelector('#sessions-table tbody td.num'));
  await page.waitForFunction(() => /^2 sessions/.test(document.querySelector('#sessions-sum').textContent));
  const rows = await page.$$eval('#sessions-table tbody tr', (trs) => trs.map((tr) => [...tr.cells].map((c) => c.textContent)));
  const done = rows.find((r) => r[0] === 'BUS01');
  assert.ok(done, JSON.stringify(rows));
  assert.equal(done[1], 'DRIVER1');
  assert.notEqual(done[3], 'charging now');
  assert.equal(done[4], '12.3 kWh'); // meterStop 13345 - meterStart 1000 Wh
  assert.equal(done[5], '11.0 kW');  // 16 A on three phases at 230 V
  assert.equal(done[6], 'Yes');
  assert.equal(rows.find((r) => r[0] === 'BUS04')[3], 'charging now');
  await page.waitForFunction(() => /12\.3 kWh today/.test(document.querySelector('#energy-today')?.textContent || '')
    || /^BUS01/.test(document.querySelector('#energy-table tbody td')?.textContent || ''));
  const energy = await page.$$eval('#energy-table tbody tr', (trs) => trs.map((tr) => [...tr.cells].map((c) => c.textContent)));
  assert.deepEqual(energy.find((r) => r[0] === 'BUS01'), ['BUS01', '12.3 kWh', '12.3 kWh', '12.3 kWh']);

  // Date filter: today has both, yesterday none.
  const day = (off) => new Date(Date.now() + off * 86400e3).toLocaleDateString('sv'); // YYYY-MM-DD, local
  await page.fill('#sessions-from', day(-1));
  await page.fill('#sessions-to', day(-1));
  await page.click('#sessions-form button[type=submit]');
  await page.waitForFunction(() => /^0 sessions/.test(document.querySelector('#sessions-sum').textContent));
  await page.fill('#sessions-to', day(0));
  await page.selectOption('#sessions-charger', 'BUS01');
  await page.click('#sessions-form button[type=submit]');
  await page.waitForFunction(() => /^1 sessions/.test(document.querySelector('#sessions-sum').textContent));

  const [download] = await Promise.all([page.waitForEvent('download'), page.click('#sessions-csv')]);
  const csv = fs.readFileSync(await download.path(), 'utf8').trim().split('\r\n');
  assert.equal(csv[0], 'charger,id_token,start,stop,energy_kwh,peak_kw,departure,need_met');
  assert.equal(csv.length, 2, csv.join('\n'));
  const f = csv[1].split(',');
  assert.deepEqual([f[0], f[1], f[4], f[5], f[7]], ['BUS01', 'DRIVER1', '12.35', '11.04', 'yes']);
  assert.match(f[2], /^\d{4}-\d\d-\d\dT/);
  assert.match(f[3], /^\d{4}-\d\d-\d\dT/);
  await finishPage(page, path.join(SHOTS, 'page-sessions-1440.png'), 'sessions at 1440 px');
});

test('a measured reading above the limit shows Over limit and becomes a warning event; a limit above the connection is said to do nothing', async () => {
  const page = await openPage(1440);
  await page.fill('#limit-a', '900');
  await page.click('#limit-form button[type=submit]');
  // Refused by the daemon (a temporary limit can only lower the connection's); the page says why.
  await page.waitForFunction(() => /above the configured grid limit of 200\.0 A per phase.*no effect above 200\.0 A/.test(document.querySelector('#limit-msg').textContent));
  // At the connection's limit it is taken, and the page says it changes nothing.
  await page.fill('#limit-a', '200');
  await page.click('#limit-form button[type=submit]');
  await page.waitForFunction(() => /^No effect: 200\.0 A is not below the connection's 200\.0 A/.test(document.querySelector('#limit-msg').textContent));
  // 10 A per phase for a minute: the building alone draws about 40 A on the simulated meter.
  await page.fill('#limit-a', '10');
  await page.click('#limit-form button[type=submit]');
  await page.waitForFunction(() => document.querySelector('#mode').textContent === 'Over limit', null, { timeout: 5000 });
  assert.match(await page.getAttribute('#mode', 'class'), /\bbad\b/);
  assert.match(await page.textContent('#mode-why'), /^The grid meter reads above the limit: L1 \d+\.\d A of 10\.0 A/);
  // The daemon says how long its own part of the answer took (the overload bench reads this line).
  const answered = await d.waitForLog(/site: overload answered: (\d+) chargers lowered, their profiles sent or queued ([\d.]+) ms/);
  assert.ok(Number(answered[2]) < 1000, answered[0]);
  await page.screenshot({ path: path.join(SHOTS, 'page-over-limit-1440.png'), fullPage: true });

  await tab(page, '#events', () => document.querySelector('#events-table tbody tr.sev-warning'));
  const first = await page.$$eval('#events-table tbody tr', (trs) => [...trs[0].cells].map((c) => c.textContent));
  assert.equal(first[1], 'warning', first.join(' | ')); // warnings first
  const warnings = await page.$$eval('#events-table tbody tr.sev-warning', (trs) => trs.map((tr) => tr.textContent));
  assert.ok(warnings.some((w) => /site\.overload.*above its 10\.0 A limit/.test(w)), warnings.join('\n'));
  // Routine connects and sessions are folded into lines of their own.
  assert.ok(await page.$('#events-table tbody tr.grouped'));
  await page.screenshot({ path: path.join(SHOTS, 'page-events-1440.png'), fullPage: true });
  // Date range: from tomorrow nothing, from today again the overload; the charger's search keeps its rows.
  const day = (off) => new Date(Date.now() + off * 86400e3).toLocaleDateString('sv');
  await page.fill('#event-from', day(1));
  await page.waitForFunction(() => document.querySelector('#events-table tbody td').textContent === 'No events match.');
  await page.fill('#event-from', day(0));
  await page.fill('#event-filter', 'BUS02');
  await page.waitForFunction(() => [...document.querySelectorAll('#events-table tbody tr')].every((tr) => /BUS02/.test(tr.textContent))
    && document.querySelector('#events-table tbody tr.sev-warning'));
  await noSidewaysScroll(page, 'events at 1440 px');
  await axeCheck(page, 'events page');
  await tab(page, '#overview', () => true);
  await page.click('#limit-clear');
  await page.waitForFunction(() => document.querySelector('#mode').textContent === 'Normal', null, { timeout: 5000 });
  assert.deepEqual(page.errors, []);
  await page.context().close();
});

test('on a 390 px phone every page fits the width, lists are cards, every control is labelled', async () => {
  const page = await openPage(390);
  for (const [hash, ready, name] of [
    ['#overview', () => document.querySelector('#phases .phase'), 'overview'],
    ['#chargers', () => document.querySelector('#chargers-table tr[data-id="BUS04"] td.health'), 'chargers'],
    ['#charger/BUS02', () => document.querySelector('#cp-state').textContent === 'Faulted', 'charger'],
    ['#sessions', () => document.querySelector('#sessions-table tbody td.num'), 'sessions'],
    ['#events', () => document.querySelector('#events-table tbody tr'), 'events'],
  ]) {
    await tab(page, hash, ready);
    await sleep(300);
    await page.screenshot({ path: path.join(SHOTS, `page-${name}-390.png`), fullPage: true });
    await noSidewaysScroll(page, `${name} at 390 px`);
    await axeCheck(page, `${name} at 390 px`);
  }
  await tab(page, '#chargers', () => true);
  // A card: the heading row is hidden and each value carries its column's name.
  assert.equal(await page.$eval('#chargers-table tr[data-id="BUS02"]', (tr) => getComputedStyle(tr).display), 'block');
  assert.equal(await page.getAttribute('#chargers-table tr[data-id="BUS02"] td.health', 'data-label'), 'Health');
  assert.deepEqual(page.errors, []);
  await page.context().close();
});

test('ampgatectl status and chargers show over the REST API what the page shows', async () => {
  const env = { ...process.env, AMPGATE_PASSWORD: MANAGER };
  const st = runSync(AMPGATECTL, ['status', '--url', base, '--user', 'manager'], { env });
  assert.equal(st.status, 0, st.stderr + st.stdout);
  assert.match(st.stdout, /^Site south-depot: Normal\nPolicy: fair\nGrid \(measured\):\n  L1 +\d+\.\d A of   200\.0 A, EV/);
  assert.match(st.stdout, /\nChargers: 0 charging \(drawing current\), 1 with a session, 3 of 4 online\n/);
  const ch = runSync(AMPGATECTL, ['chargers', '--url', base, '--user', 'manager'], { env });
  assert.equal(ch.status, 0, ch.stderr);
  const line = (id) => ch.stdout.split('\n').find((l) => l.startsWith(id)) || '';
  assert.match(line('BUS02'), /^BUS02 +online +Faulted \(GroundFailure\) /);
  assert.match(line('BUS03'), /^BUS03 +offline +Offline /);
  assert.match(line('BUS04'), /^BUS04 +online +Occupied .* 0\.0 kWh/);
  const json = runSync(AMPGATECTL, ['chargers', '--url', base, '--json'], { env });
  assert.deepEqual(JSON.parse(json.stdout).map((c) => c.id), ['BUS01', 'BUS02', 'BUS03', 'BUS04']);
  const wrong = runSync(AMPGATECTL, ['status', '--url', base], { env: { ...env, AMPGATE_PASSWORD: 'wrong-password' } });
  assert.equal(wrong.status, 1);
  assert.match(wrong.stderr, /cannot log in to http:\/\/127\.0\.0\.1:\d+ as manager: /);
});

test('stopping the daemon greys the page within 5 s and says since when; back, the page asks for a login', async () => {
  const page = await openPage(1440);
  const t0 = Date.now();
  await d.stop();
  await page.waitForFunction(() => document.body.classList.contains('stale') && !document.querySelector('#lost').hidden, null, { timeout: 5000 });
  const ms = Date.now() - t0;
  assert.ok(ms < 5000, `greyed after ${ms} ms`);
  assert.match(await page.textContent('#lost'), /^No contact with the edge since \d/);
  assert.equal(await page.$eval('main', (m) => getComputedStyle(m).filter), 'grayscale(1)');
  await page.screenshot({ path: path.join(SHOTS, 'page-lost-1440.png'), fullPage: true });
  console.log(`page greyed ${ms} ms after the daemon was stopped`);
  // The page keeps asking; once the edge is back (sessions do not survive a restart) it goes
  // to the login instead of staying grey for good.
  await sleep(3000);
  d = new Daemon(path.join(dir, 'page.conf'));
  await d.start();
  await page.waitForURL(`${base}/login.html`, { timeout: 20000 });
  await page.context().close();
});
