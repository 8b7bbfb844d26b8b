// The admin console in Chromium, with openid-client as the relying parties the admin registers:
// an admin whose second factor is older than an hour is stepped up before /admin; a client whose minimum
// is SMS, created in the console, gets SMS asked at sign-in with no acr_values in the request; rotating a
// secret in the console makes the old one fail; a non-admin gets 403; disabling a user in the console ends
// their session (prompt=none → login_required) and tokens (refresh → invalid_grant); a bad redirect URI is
// shown next to its field and nothing is saved; and the security events page lists each step.
// Every console page is screenshot at 390 and 1280 px with SCREENSHOTS=dir.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import * as oidc from 'openid-client';
import type { Page } from 'playwright-core';
import { startTessera, type RunningTessera } from '../support/tessera.ts';
import { launchBrowser, expectHeading } from '../support/browser.ts';
import { shot } from '../support/screens.ts';
import { axeViolations, seriousOrCritical } from '../support/axe.ts';
import { codeFrom } from '../support/smtp-sink.ts';
import { HttpClient } from '../support/http.ts';
import { REDIRECT, httpRp, signIn, silent, type HttpRp } from '../support/rp-http.ts';
import { UserAdmin, adminFactors } from '../../src/admin/users.ts';
import { SESSION_METHODS_MODEL } from '../../src/interaction/progress.ts';
import { ADMIN_CLIENT_ID } from '../../src/console/client.ts';

const PASSWORD = 'console journeys passphrase';
const SMS_ACR = 'urn:tessera:acr:mfa:sms';
const ADMIN = { email: 'root@example.com', phone: '+12015550171' };
const DANA = { email: 'dana@example.com', phone: '+12015550172' };

let t: RunningTessera;
let browser: Awaited<ReturnType<typeof launchBrowser>>;
let page: Page;
let adminId: string;
let danaId: string;
let smsTexts = 0; // texts to the admin's phone so far
let axeViews = 0; // console views axe-core checked (pages × themes × widths)

beforeAll(async () => {
  t = await startTessera();
  const s = t.built.services;
  const users = new UserAdmin(s.store, s.config, s.accounts, s.box, s.notices);
  const admin = await s.accounts.register({ name: 'Robin Root', email: ADMIN.email, password: PASSWORD, email_verified: true, phone_number: ADMIN.phone, phone_number_verified: true });
  await t.store.accounts.update(admin.id, adminFactors(admin, { mfa: ['sms'] }, s.box));
  await users.setAdmin(admin.id, true);
  adminId = admin.id;
  // Dana has a verified phone but no second step of her own: only an app's demand makes her use it.
  danaId = (await s.accounts.register({ name: 'Dana Field', email: DANA.email, password: PASSWORD, email_verified: true, phone_number: DANA.phone, phone_number_verified: true })).id;
  browser = await launchBrowser();
  page = await browser.context.newPage();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await t?.stop();
});

/** A screenshot at a phone's and a desktop's width, and axe-core in both colour schemes at each: no serious or critical violation. */
async function both(name: string) {
  const bad: string[] = [];
  for (const width of [390, 1280]) {
    await page.setViewportSize({ width, height: 800 });
    for (const colorScheme of ['light', 'dark'] as const) {
      await page.emulateMedia({ colorScheme });
      bad.push(...seriousOrCritical(await axeViolations(page)).map((v) => `${name} [${colorScheme}, ${width}px]: ${v}`));
    }
    await page.emulateMedia({ colorScheme: 'light' });
    await shot(page, `${name}-${width}`);
  }
  await page.setViewportSize({ width: 1280, height: 800 });
  axeViews += 4;
  expect(bad).toEqual([]);
}

/** The password page, then the SMS code to the admin's phone. */
async function adminSignIn() {
  await expectHeading(page, 'Sign in');
  await page.fill('#email', ADMIN.email);
  await page.fill('#password', PASSWORD);
  await page.click('button:has-text("Continue")');
  await expectHeading(page, 'Check your phone');
  smsTexts += 1;
  await page.fill('#code', codeFrom((await t.vonage.waitFor(ADMIN.phone, smsTexts)).text));
  await page.click('button:has-text("Verify")');
}

/** Client credentials with this secret: the status of the token endpoint's answer. */
async function clientCredentials(clientId: string, secret: string): Promise<number> {
  const res = await fetch(`${t.issuer}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(secret)}`).toString('base64')}` },
    body: 'grant_type=client_credentials',
  });
  return res.status;
}

const auditTypes = async (filter: Parameters<RunningTessera['store']['audit']['list']>[0]) => (await t.store.audit.list({ limit: 200, ...filter })).map((e) => e.type);

describe('admin console in the browser', () => {
  it('a non-admin gets 403', async () => {
    const other = await launchBrowser();
    try {
      const p = await other.context.newPage();
      await p.goto(`${t.issuer}/admin`);
      await expectHeading(p, 'Sign in');
      await p.fill('#email', DANA.email);
      await p.fill('#password', PASSWORD);
      await p.click('button:has-text("Continue")');
      await expectHeading(p, 'Not allowed');
      const res = await p.goto(`${t.issuer}/admin/clients`);
      expect(res!.status()).toBe(403);
      for (const width of [390, 1280]) {
        await p.setViewportSize({ width, height: 800 });
        await shot(p, `admin-403-${width}`);
      }
    } finally {
      await other.close();
    }
  });

  it('signs the admin in with the second factor, and steps up once it is more than an hour old', async () => {
    await page.goto(`${t.issuer}/admin`);
    await adminSignIn();
    await expectHeading(page, 'Clients');
    await both('admin-clients');
    expect(await page.locator('table.grid').innerText()).toContain(ADMIN_CLIENT_ID);

    // Two hours later (the session's per-method times say so): the console asks again before any page.
    const [session] = await t.store.oidc.findByAccount('Session', adminId);
    const uid = String(session.uid);
    const rec = (await t.store.oidc.find(SESSION_METHODS_MODEL, uid))!;
    const then = Math.floor(Date.now() / 1000) - 7200;
    await t.store.oidc.upsert(SESSION_METHODS_MODEL, uid, { ...rec, methods: { pwd: then, sms: then } }, new Date(Date.now() + 3600_000));
    await page.goto(`${t.issuer}/admin/users`);
    expect(new URL(page.url()).pathname).toMatch(/^\/interaction\//);
    expect(await page.inputValue('#email')).toBe(ADMIN.email); // login_hint
    await adminSignIn();
    await expectHeading(page, 'Users');
    expect(new URL(page.url()).pathname).toBe('/admin/users');
    const logins = (await t.store.audit.list({ type: 'login.succeeded', accountId: adminId })).filter((e) => e.detail.client === ADMIN_CLIENT_ID);
    expect(logins).toHaveLength(2);
  });

  let smsClient: { id: string; secret: string };
  it('a bad redirect URI is shown next to its field and nothing is saved; then a client whose minimum is SMS', async () => {
    await page.goto(`${t.issuer}/admin/clients`);
    await page.click('a:has-text("New client")');
    await expectHeading(page, 'New client');
    await both('admin-client-new');
    const before = (await t.store.clients.list()).length;
    await page.fill('#client_name', 'Payroll');
    await page.fill('#redirect_uris', 'https://payroll.example/cb#section');
    await page.check('label:has-text("Refresh token")');
    await page.check('label:has-text("Require SMS for this app")');
    await page.check('label:has-text("First-party app")');
    await page.click('button:has-text("Create client")');
    await expectHeading(page, 'New client');
    const error = page.locator('#redirect_uris-error');
    expect(await error.innerText()).toMatch(/fragment/);
    expect(await page.getAttribute('#redirect_uris', 'aria-invalid')).toBe('true');
    expect(await page.getAttribute('#redirect_uris', 'aria-describedby')).toContain('redirect_uris-error');
    expect((await t.store.clients.list()).length).toBe(before);
    // What was typed and chosen is still there.
    expect(await page.inputValue('#client_name')).toBe('Payroll');
    expect(await page.isChecked('label:has-text("Require SMS for this app")')).toBe(true);
    await both('admin-client-form-error');

    await page.fill('#redirect_uris', REDIRECT);
    await page.click('button:has-text("Create client")');
    await expectHeading(page, 'Client created');
    await both('admin-client-created');
    smsClient = { id: await page.innerText('#client-id'), secret: await page.innerText('#client-secret') };
    expect(smsClient.secret.length).toBeGreaterThan(20);
    const stored = (await t.store.clients.find(smsClient.id))!;
    expect(stored.metadata).toMatchObject({ client_name: 'Payroll', tessera_min_acr: SMS_ACR, redirect_uris: [REDIRECT], tessera_first_party: true });
    expect(stored.metadata.default_acr_values).toBeUndefined();

    await page.click('a:has-text("Done")');
    await expectHeading(page, 'Payroll');
    await both('admin-client');
    await page.click('a:has-text("Edit")');
    await expectHeading(page, 'Edit Payroll');
    await both('admin-client-edit');
  });

  let dana: { http: HttpClient; rp: HttpRp; refresh: string };
  it('an openid-client login for that client asks for SMS, with no acr_values in the request', async () => {
    const config = await oidc.discovery(new URL(t.issuer), smsClient.id, smsClient.secret, undefined, { execute: [oidc.allowInsecureRequests] });
    const rp: HttpRp = { config, clientId: smsClient.id, clientSecret: smsClient.secret };
    const http = new HttpClient(t.issuer);
    const tokens = await signIn(t, http, rp, { email: DANA.email, password: PASSWORD, smsTo: DANA.phone, params: { prompt: 'consent' } });
    const claims = tokens.claims()!;
    expect(claims.acr).toBe(SMS_ACR);
    expect(claims.amr).toEqual(expect.arrayContaining(['pwd', 'sms']));
    expect(tokens.refresh_token).toBeTruthy();
    dana = { http, rp, refresh: tokens.refresh_token! };
    // The same user at an app without a minimum signs in with the password alone.
    const plain = await httpRp(t);
    const other = await signIn(t, new HttpClient(t.issuer), plain, { email: DANA.email, password: PASSWORD });
    expect(other.claims()!.acr).toBe('urn:tessera:acr:1fa');
    expect((await t.vonage.waitFor(DANA.phone, 1)).text).toBeTruthy();
  });

  it('rotating the secret in the console makes the old one fail', async () => {
    await page.goto(`${t.issuer}/admin/clients/new`);
    await page.fill('#client_name', 'Nightly export');
    await page.uncheck('label:has-text("Authorization code")');
    await page.check('label:has-text("Client credentials")');
    await page.click('button:has-text("Create client")');
    await expectHeading(page, 'Client created');
    const id = await page.innerText('#client-id');
    const old = await page.innerText('#client-secret');
    expect(await clientCredentials(id, old)).toBe(200);

    await page.click('a:has-text("Done")');
    await page.click('a:has-text("New secret")');
    await expectHeading(page, 'New secret for Nightly export?');
    await both('admin-client-rotate-confirm');
    await page.click('button:has-text("Make a new secret")');
    await expectHeading(page, 'New client secret');
    await both('admin-client-secret');
    const fresh = await page.innerText('#client-secret');
    expect(fresh).not.toBe(old);
    // Client records are cached for a second per instance: the old secret fails once that has passed.
    const end = Date.now() + 15_000;
    let status = 0;
    while (Date.now() < end && (status = await clientCredentials(id, old)) === 200) await new Promise((r) => setTimeout(r, 200));
    expect(status).toBe(401);
    expect(await clientCredentials(id, fresh)).toBe(200);
    expect(await auditTypes({ clientId: id })).toEqual(['admin.client_secret_rotated', 'admin.client_created']);

    await page.goto(`${t.issuer}/admin/clients/${id}/delete`);
    await expectHeading(page, 'Delete Nightly export?');
    await both('admin-client-delete-confirm');
    await page.goto(`${t.issuer}/admin/clients/tessera-account`);
    await both('admin-client-built-in');
  });

  it('disabling a user in the console ends their session and tokens', async () => {
    await page.goto(`${t.issuer}/admin/users`);
    await page.fill('#q', 'dana');
    await page.click('button:has-text("Search")');
    await both('admin-users');
    await page.click('table.grid a:has-text("Dana Field")');
    await expectHeading(page, 'Dana Field');
    expect(await page.locator('main').innerText()).toContain('Payroll'); // connected app
    await both('admin-user');
    await page.click('a:has-text("Disable account")');
    await expectHeading(page, `Disable ${DANA.email}?`);
    await both('admin-user-disable-confirm');
    await page.click('button:has-text("Disable account")');
    await expectHeading(page, 'Dana Field');
    expect(await page.locator('[role=status]').innerText()).toContain('disabled');
    expect(await page.locator('.title-badges').innerText()).toContain('Disabled');

    expect((await silent(dana.http, dana.rp)).searchParams.get('error')).toBe('login_required');
    await expect(oidc.refreshTokenGrant(dana.rp.config, dana.refresh)).rejects.toMatchObject({ error: 'invalid_grant' });
  });

  it('the security events page lists each step', async () => {
    await page.goto(`${t.issuer}/admin/events`);
    await expectHeading(page, 'Security events');
    await both('admin-events');
    const table = async () => page.locator('table.events').innerText();
    const all = await table();
    for (const type of ['admin.user_disabled', 'admin.client_secret_rotated', 'admin.client_created', 'login.succeeded']) expect(all).toContain(type);

    await page.fill('#account', DANA.email);
    await page.click('button:has-text("Filter")');
    await expectHeading(page, 'Security events');
    const danas = await table();
    expect(danas).toContain('admin.user_disabled');
    expect(danas).toContain('login.succeeded');
    expect(danas).not.toContain('admin.client_created');
    const row = page.locator('table.events tr', { hasText: 'admin.user_disabled' });
    expect(await row.innerText()).toContain(`by ${ADMIN.email}`);
    expect(await row.innerText()).toMatch(/HeadlessChrome|Chrome/); // the admin's browser
    await both('admin-events-filtered');

    await page.goto(`${t.issuer}/admin/events?client=${encodeURIComponent(smsClient.id)}`);
    const payroll = await table();
    expect(payroll).toContain('admin.client_created');
    expect(payroll).toContain('login.succeeded'); // Dana's sign-in to it
  });

  it('an admin without a second factor is told to set one up (and the user pages are reachable)', async () => {
    const s = t.built.services;
    const bare = await s.accounts.register({ name: 'New Admin', email: 'new-admin@example.com', password: PASSWORD, email_verified: true });
    await new UserAdmin(s.store, s.config, s.accounts, s.box, s.notices).setAdmin(bare.id, true);
    const other = await launchBrowser();
    try {
      const p = await other.context.newPage();
      await p.goto(`${t.issuer}/admin`);
      await p.fill('#email', 'new-admin@example.com');
      await p.fill('#password', PASSWORD);
      await p.click('button:has-text("Continue")');
      await expectHeading(p, 'Turn on two-step sign-in first');
      expect(await p.getAttribute('a:has-text("Set one up on your account page")', 'href')).toBe('/account');
      for (const width of [390, 1280]) {
        await p.setViewportSize({ width, height: 800 });
        await shot(p, `admin-no-factor-${width}`);
      }
    } finally {
      await other.close();
    }
    expect(danaId).toBeTruthy();
    expect(axeViews).toBeGreaterThanOrEqual(15 * 4); // every console page above, both themes and widths
  });
});
