// Headless Chromium for the page tests (Debian's chromium driven by playwright-core), the login
// every page test starts with, and the checks every page test makes: no sideways scrolling,
// no accessibility violations (axe-core), no console errors.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import { chromium } from 'playwright-core';
import { AMPGATECTL, runSync } from './daemon.js';

const require = createRequire(import.meta.url);
const AXE = fs.readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

export const CHROMIUM = { executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] };

export function launchChromium() {
  return chromium.launch(CHROMIUM);
}

/** The web.users password_hash of `password` (ampgatectl passwd). */
export function passwordHash(password) {
  const r = runSync(AMPGATECTL, ['passwd'], { input: `${password}\n` });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim();
}

/** Log in on the page at `base` and wait for the overview. */
export async function logIn(page, base, name, password) {
  await page.goto(`${base}/login.html`);
  await page.fill('#name', name);
  await page.fill('#password', password);
  await page.click('#login-button');
  await page.waitForURL(`${base}/`);
}

/** A logged-in page of `width` px that records console errors and uncaught exceptions in `page.errors`. */
export async function openPage(browser, base, width, name, password) {
  const context = await browser.newContext({ viewport: { width, height: 900 }, acceptDownloads: true });
  const page = await context.newPage();
  page.errors = [];
  page.on('console', (m) => { if (m.type() === 'error') page.errors.push(m.text()); });
  page.on('pageerror', (e) => page.errors.push(String(e)));
  await logIn(page, base, name, password);
  await page.waitForFunction(() => document.querySelector('#live-state').textContent === 'live');
  return page;
}

export async function noSidewaysScroll(page, what) {
  const { sw, iw } = await page.evaluate(() => ({ sw: document.documentElement.scrollWidth, iw: window.innerWidth }));
  assert.ok(sw <= iw, `${what}: the page is ${sw} px wide in a ${iw} px window`);
}

/** Go to the page's `hash` and wait until `ready` holds in the page. */
export async function tab(page, hash, ready) {
  await page.evaluate((h) => { location.hash = h; }, hash);
  await page.waitForFunction(ready);
}

export async function axeCheck(page, what) {
  await page.evaluate(AXE); // through the debugger protocol: the page's CSP does not apply
  const r = await page.evaluate(() => window.axe.run(document, { runOnly: { type: 'tag', values: ['wcag2a', 'wcag2aa'] },
    rules: { 'color-contrast': { enabled: false } } }));
  const bad = r.violations.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' ')).join(', ')}`);
  assert.deepEqual(bad, [], `${what}: accessibility violations`);
}

/** The end of most page tests: a full-page screenshot to `shot`, no sideways scrolling, no
 * accessibility violations, no console errors; then the page's context closes. */
export async function finishPage(page, shot, what) {
  await page.screenshot({ path: shot, fullPage: true });
  await noSidewaysScroll(page, what);
  await axeCheck(page, what);
  assert.deepEqual(page.errors, [], `${what}: console errors`);
  await page.context().close();
}
