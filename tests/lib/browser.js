// Headless Chromium for the page tests (Debian's chromium driven by playwright-core), and the
// login every page test starts with.
import { chromium } from 'playwright-core';

export const CHROMIUM = { executablePath: '/usr/bin/chromium', args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'] };

export function launchChromium() {
  return chromium.launch(CHROMIUM);
}

/** Log in on the page at `base` and wait for the overview. */
export async function logIn(page, base, name, password) {
  await page.goto(`${base}/login.html`);
  await page.fill('#name', name);
  await page.fill('#password', password);
  await page.click('#login-button');
  await page.waitForURL(`${base}/`);
}
