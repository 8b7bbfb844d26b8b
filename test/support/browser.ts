// Debian's Chromium driven by playwright-core. Fails with a clear message when it isn't installed:
// browser tests never skip.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

export async function launchBrowser(): Promise<{ context: BrowserContext; close(): Promise<void> }> {
  if (!fs.existsSync(CHROMIUM)) {
    throw new Error(`Chromium not found at ${CHROMIUM}. Install Debian's package: apt-get install -y chromium (or set CHROMIUM_PATH).`);
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-chromium-'));
  const context = await chromium.launchPersistentContext(dir, { headless: true, executablePath: CHROMIUM, args: ARGS });
  return {
    context,
    async close() {
      await context.close();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Waits until the page's h1 reads `text`; on timeout, fails naming what the page shows instead. */
export async function expectHeading(page: import('playwright-core').Page, text: string, timeoutMs = 15_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < end) {
    last = await page.locator('h1').first().innerText({ timeout: 1000 }).catch(() => '');
    if (last.trim() === text) return;
    await page.waitForTimeout(50);
  }
  const alerts = await page.locator('[role=alert]').allInnerTexts().catch(() => []);
  throw new Error(`expected heading "${text}", page at ${page.url()} shows "${last}" ${alerts.length ? `alerts: ${alerts.join(' | ')}` : ''}`);
}
