// /account self-service in Chromium with openid-client as a third-party app: consent asked once per
// account and app (not in a second browser), the second browser signed out from the first's device list
// (its prompt=none then gets login_required), the app's access removed from "Connected apps" (its refresh
// token then fails, and the next sign-in asks again). Pages screenshot at 390 and 1280 px with SCREENSHOTS=dir.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import type { Page } from 'playwright-core';
import { startJourney, type Journey } from '../support/journey.ts';
import { expectHeading, launchBrowser } from '../support/browser.ts';
import { shot } from '../support/screens.ts';

const PASSWORD = 'two browsers one account';
const EMAIL = 'sam@example.com';
const SCOPE = { scope: 'openid email', prompt: 'login' };

let j: Journey;
let other: Awaited<ReturnType<typeof launchBrowser>>;
let second: Page;

beforeAll(async () => {
  j = await startJourney({ client_name: 'Photo Album' }); // third party: it gets the consent page
  other = await launchBrowser();
  second = await other.context.newPage();
  await j.t.built.services.accounts.register({ name: 'Sam Two', email: EMAIL, password: PASSWORD, email_verified: true });
});
afterAll(async () => {
  await other?.close();
  await j?.stop();
});

/** Signs in to the app in `page`; answers the consent page when shown; returns whether it was. */
async function signIn(page: Page): Promise<{ consent: boolean; tokens: Awaited<ReturnType<Journey['rp']['finish']>> }> {
  const started = await j.rp.start(SCOPE);
  await page.goto(started.url.href);
  await expectHeading(page, 'Sign in');
  await page.fill('#email', EMAIL);
  await page.fill('#password', PASSWORD);
  await page.click('button[type=submit]');
  let consent = false;
  const arrived = j.rpServer.nextArrival(15_000, page);
  const heading = await Promise.race([
    arrived.then(() => 'back'),
    page.waitForSelector('h1:has-text("Allow access?")', { timeout: 15_000 }).then(() => 'consent'),
  ]);
  if (heading === 'consent') {
    consent = true;
    await shot(page, 'self-consent');
    await page.click('button:has-text("Allow")');
  }
  return { consent, tokens: await j.rp.finish(await arrived, started) };
}

async function both(page: Page, name: string) {
  for (const width of [390, 1280]) {
    await page.setViewportSize({ width, height: 800 });
    await shot(page, `${name}-${width}`);
  }
}

describe('account self-service in the browser', () => {
  it('consent once per account and app; sign out the other browser; remove the app', async () => {
    const first = j.page;
    expect((await signIn(first)).consent).toBe(true);
    const { consent, tokens } = await signIn(second);
    expect(consent).toBe(false); // a new browser isn't asked again
    expect(tokens.refresh_token).toBeUndefined(); // (no offline_access asked)

    // The first browser lists both devices and signs the second out.
    await first.goto(`${j.t.issuer}/account/devices`);
    await expectHeading(first, 'Signed-in devices');
    await both(first, 'account-devices');
    expect(await first.locator('.badge:has-text("This device")').count()).toBe(1);
    await first.click('.rows button:has-text("Sign out")');
    await expectHeading(first, 'Signed-in devices');
    expect(await first.locator('[role=status]').innerText()).toContain('That device was signed out.');
    const silent = await j.rp.start({ ...SCOPE, prompt: 'none' });
    await second.goto(silent.url.href);
    const back = new URL(await j.rpServer.nextArrival(15_000, second));
    expect(back.searchParams.get('error')).toBe('login_required');

    // Connected apps: the app with its scopes in words; removing it means the next sign-in asks again.
    const offline = await j.rp.start({ scope: 'openid email offline_access', prompt: 'consent' });
    await first.goto(offline.url.href);
    await first.click('button:has-text("Allow")');
    const withRefresh = await j.rp.finish(await j.rpServer.nextArrival(15_000, first), offline);
    expect(withRefresh.refresh_token).toBeTruthy();
    await first.goto(`${j.t.issuer}/account/apps`);
    await expectHeading(first, 'Connected apps');
    expect(await first.locator('.rows').innerText()).toContain('Photo Album');
    expect(await first.locator('.rows').innerText()).toContain('Your email address');
    await both(first, 'account-apps');
    await first.click('button:has-text("Remove access")');
    await expectHeading(first, 'Connected apps');
    expect(await first.locator('[role=status]').innerText()).toContain('The app’s access was removed.');
    await expect(j.rp.refresh(withRefresh.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    expect((await signIn(second)).consent).toBe(true);

    // The overview links to both, and to deleting the account.
    await first.goto(`${j.t.issuer}/account`);
    await both(first, 'account-overview');
    for (const link of ['Signed-in devices', 'Connected apps', 'Delete account']) expect(await first.locator(`a:has-text("${link}")`).count()).toBe(1);
  });
});
