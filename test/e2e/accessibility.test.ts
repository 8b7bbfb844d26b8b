// Every hosted page, reached by real journeys in Chromium, checked by axe-core in both colour schemes and
// at a phone's and a desktop's width: no violation of impact "serious" or "critical", one h1 and the
// landmarks on each. Prints a table pages × theme × width with the counts by impact; on failure lists each
// serious or critical violation's rule and targets. Also: the resend countdown is announced once (not
// every second), the consent page shows the client's logo (served by Tessera) and its policy links, and
// sign-in works by keyboard alone with a visible focus ring. SCREENSHOTS=dir keeps a PNG of each view.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Page } from 'playwright-core';
import { startJourney, type Journey } from '../support/journey.ts';
import { expectHeading } from '../support/browser.ts';
import { registerClient, RelyingParty } from '../support/rp.ts';
import { codeFrom } from '../support/smtp-sink.ts';
import { shot } from '../support/screens.ts';
import { solidPng } from '../support/png.ts';
import { axeViolations, seriousOrCritical, AXE_SOURCE, AXE_VERSION } from '../support/axe.ts';
import { adminFactors } from '../../src/admin/users.ts';
import { totpCode } from '../../src/factors/totp/totp.ts';
import type { SecondFactorType } from '../../src/factors/records.ts';

const PASSWORD = 'correct horse battery staple';
const SMS = 'urn:tessera:acr:mfa:sms';
const SECRET = 'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP';
const THEMES = ['light', 'dark'] as const;
const WIDTHS = [390, 1280] as const;
const IMPACTS = ['critical', 'serious', 'moderate', 'minor'] as const;
const COOLDOWN = 3;

interface Row { page: string; theme: string; width: number; counts: Record<string, number>; bad: string[] }
const rows: Row[] = [];

let j: Journey;
let page: Page;
let logoServer: http.Server;
let logoBase = '';
let firstParty: RelyingParty;
let thirdParty: RelyingParty;

/** axe-core on the page as it is, in each theme and width; records a row each and returns nothing: the test asserts at the end. */
async function sweep(name: string) {
  for (const theme of THEMES) {
    for (const width of WIDTHS) {
      await page.emulateMedia({ colorScheme: theme, reducedMotion: 'reduce' });
      await page.setViewportSize({ width, height: 900 });
      const result = await axeViolations(page);
      const structure = await page.evaluate(() => ({
        h1: document.querySelectorAll('h1').length,
        main: document.querySelectorAll('main').length,
        header: document.querySelectorAll('body > header').length,
        footer: document.querySelectorAll('body > footer').length,
      }));
      const counts: Record<string, number> = Object.fromEntries(IMPACTS.map((i) => [i, 0]));
      for (const v of result) counts[v.impact] = (counts[v.impact] ?? 0) + v.targets.length;
      const bad = seriousOrCritical(result);
      if (structure.h1 !== 1) bad.push(`structure: ${structure.h1} h1 elements (one expected)`);
      if (structure.main !== 1 || structure.header !== 1 || structure.footer !== 1) bad.push(`structure: landmarks header/main/footer = ${structure.header}/${structure.main}/${structure.footer}`);
      rows.push({ page: name, theme, width, counts, bad });
      await shot(page, `${name.replace(/[^a-z0-9]+/gi, '-').toLowerCase()}-${theme}-${width}`);
    }
  }
  await page.emulateMedia({ colorScheme: 'light' });
  await page.setViewportSize({ width: 1280, height: 900 });
}

let n = 0;
async function user(opts: { phone?: boolean; mfa?: SecondFactorType[]; totp?: boolean; recovery?: boolean; preferred?: SecondFactorType } = {}) {
  n += 1;
  const email = `a11y${n}-${Date.now()}@example.com`;
  const phone = opts.phone ? `+1201555${String(200 + n).padStart(4, '0')}` : undefined;
  const s = j.t.built.services;
  let account = await s.accounts.register({ name: `Ada Access ${n}`, email, password: PASSWORD, email_verified: true, phone_number: phone, phone_number_verified: phone ? true : undefined });
  if (opts.mfa?.length) {
    const next = adminFactors(account, { mfa: opts.mfa, totp_secret: opts.totp ? SECRET : undefined, preferred_mfa: opts.preferred }, s.box);
    account = (await j.t.store.accounts.update(account.id, next))!;
  }
  const codes = opts.recovery ? await s.recovery.generate(account.id) : [];
  return { email, phone: phone ?? '', codes };
}

async function password(email: string) {
  await page.fill('#email', email);
  await page.fill('#password', PASSWORD);
  await page.click('button:has-text("Continue")');
}

async function smsCode(phone: string, count: number) {
  return codeFrom((await j.t.vonage.waitFor(phone, count)).text);
}

const smsCount = (phone: string) => j.t.vonage.to(phone).length;

beforeAll(async () => {
  // The client's logo, on a server of its own (loopback is allowed for logos only in tests and development).
  logoServer = http.createServer((req, res) => {
    if (req.url === '/logo.png') return void res.writeHead(200, { 'content-type': 'image/png' }).end(solidPng(48, 48, [230, 90, 20]));
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => logoServer.listen(0, '127.0.0.1', r));
  logoBase = `http://127.0.0.1:${(logoServer.address() as AddressInfo).port}`;
  j = await startJourney({ tessera_first_party: true }, { SMS_COOLDOWN_SECONDS: String(COOLDOWN) });
  page = j.page;
  firstParty = j.rp;
  const shop = await registerClient(j.clients, j.rpServer, {
    client_name: 'Example Shop',
    logo_uri: `${logoBase}/logo.png`,
    policy_uri: 'https://shop.example/privacy',
    tos_uri: 'https://shop.example/terms',
  });
  thirdParty = await RelyingParty.discover(j.t.issuer, j.rpServer, shop.client_id, shop.client_secret);
}, 120_000);

afterAll(async () => {
  await j?.stop();
  logoServer?.closeAllConnections();
  await new Promise((r) => logoServer?.close(r));
});

describe('accessibility of every hosted page (axe-core, both themes, 390 and 1280 px)', () => {
  it('sign-in, registration, email confirmation and consent (a third-party app with a logo and policy links)', async () => {
    await page.context().clearCookies();
    await page.goto((await thirdParty.start()).url.href);
    await expectHeading(page, 'Sign in');
    // The app's logo is Tessera's copy (own origin, checked), and it loaded.
    const logo = page.locator('img.client-logo');
    expect(await logo.getAttribute('src')).toMatch(/^\/client-logo\/[^/?]+\?v=[0-9a-f]{16}$/);
    expect(await logo.evaluate((img: HTMLImageElement) => img.complete && img.naturalWidth)).toBe(48);
    const policy = page.locator('.client-links a', { hasText: 'privacy policy' });
    expect(await policy.getAttribute('href')).toBe('https://shop.example/privacy');
    expect(await policy.getAttribute('rel')).toBe('noopener noreferrer');
    // The harness itself sees a violation: a low-contrast line in dark mode is reported as serious.
    await page.emulateMedia({ colorScheme: 'dark' });
    await page.evaluate(AXE_SOURCE);
    const canary = await page.evaluate(async () => {
      const p = document.createElement('p');
      p.textContent = 'Low contrast canary';
      p.style.color = '#2a3040';
      document.querySelector('main')!.append(p);
      const w = window as unknown as { axe: { run(c: Element, o: object): Promise<{ violations: { id: string; impact: string }[] }> } };
      const r = await w.axe.run(p, { resultTypes: ['violations'] });
      p.remove();
      return r.violations.map((v) => `${v.impact} ${v.id}`);
    });
    expect(canary).toContain('serious color-contrast');
    await sweep('sign-in');
    await page.click('button:has-text("Continue")');
    await expectHeading(page, 'Sign in');
    await sweep('sign-in (errors)');
    await page.click('text=Create one');
    await expectHeading(page, 'Create your account');
    await sweep('registration');
    await page.click('button:has-text("Create account")');
    await expectHeading(page, 'Create your account');
    await sweep('registration (errors)');
    const email = `new-${Date.now()}@example.com`;
    await page.fill('#name', 'Nia New');
    await page.fill('#email', email);
    await page.fill('#password', PASSWORD);
    await page.fill('#password_confirm', PASSWORD);
    await page.click('button:has-text("Create account")');
    await expectHeading(page, 'Confirm your email');
    await sweep('email confirmation');
    const mail = await j.t.smtp.waitFor(email);
    await page.fill('#code', '000000');
    await page.click('button:has-text("Confirm")');
    await expectHeading(page, 'Confirm your email');
    await sweep('email confirmation (error)');
    await page.goto(/(http:\/\/\S+\/email\/link\?\S+)/.exec(mail.text)![1]);
    await expectHeading(page, 'Confirm your email');
    await sweep('email link');
    await page.click('button:has-text("Confirm my email")');
    await expectHeading(page, 'Allow access?');
    const consentLogo = page.locator('img.client-logo');
    const served = await page.request.get(new URL((await consentLogo.getAttribute('src'))!, j.t.issuer).href);
    expect(served.headers()['content-type']).toBe('image/png');
    expect(served.headers()['x-content-type-options']).toBe('nosniff');
    expect(await page.locator('.client-links a', { hasText: 'terms of service' }).getAttribute('href')).toBe('https://shop.example/terms');
    await sweep('consent');
    await page.click('button:has-text("Allow")');
    await j.rpServer.nextArrival(15_000, page);
  }, 240_000);

  it('each second-factor step, "try another way", and the resend countdown announced once', async () => {
    const u = await user({ phone: true, mfa: ['sms', 'email', 'totp'], totp: true, recovery: true, preferred: 'sms' });
    await page.context().clearCookies();
    await page.goto((await firstParty.start({ prompt: 'login' })).url.href);
    await password(u.email);
    await expectHeading(page, 'Check your phone');
    // Live regions' changes, from now on: the countdown ticks COOLDOWN times, one announcement is expected.
    await page.evaluate(() => {
      const w = window as unknown as { announced: string[] };
      w.announced = [];
      const live = (el: Element | null) => {
        const region = el?.closest('[aria-live], [role=status], [role=alert], [role=log]');
        if (!region) return false;
        const mode = region.getAttribute('aria-live');
        return mode ? mode !== 'off' : true;
      };
      new MutationObserver((muts) => {
        for (const m of muts) {
          const el = m.target instanceof Element ? m.target : m.target.parentElement;
          if (live(el)) w.announced.push((el!.closest('[aria-live], [role]') as HTMLElement).innerText.trim());
        }
      }).observe(document.body, { subtree: true, childList: true, characterData: true });
    });
    await page.waitForFunction(() => !(document.querySelector('button[data-cooldown]') as HTMLButtonElement).disabled, undefined, { timeout: 30_000 });
    await page.waitForTimeout(1500);
    const announced = await page.evaluate(() => (window as unknown as { announced: string[] }).announced);
    expect(announced).toEqual(['You can ask for a new code now.']);
    await sweep('second step: SMS code');
    await page.fill('#code', '000000');
    await page.click('button:has-text("Verify")');
    await expectHeading(page, 'Check your phone');
    await sweep('second step: SMS code (error)');
    await page.click('section.other-ways summary:has-text("Use a recovery code")');
    await sweep('another way (chooser, recovery open)');
    await page.click('button:has-text("Email me a code")');
    await expectHeading(page, 'Check your email');
    await sweep('second step: email code');
    await page.click('button:has-text("Use my authenticator app")');
    await expectHeading(page, 'Enter your authenticator code');
    await sweep('second step: authenticator code');
    await page.fill('#code', totpCode(SECRET, Date.now()));
    await page.click('button:has-text("Verify")');
    await j.rpServer.nextArrival(15_000, page);
  }, 240_000);

  it('enrolment: a phone inside the sign-in, then an authenticator app on /account, recovery codes', async () => {
    const u = await user();
    await page.context().clearCookies();
    await page.goto((await firstParty.start({ prompt: 'login', acr_values: SMS })).url.href);
    await password(u.email);
    await expectHeading(page, 'Add your mobile number');
    await sweep('enrol: phone');
    await page.fill('#phone_number', '+1 201 555 0199');
    await page.click('button:has-text("Send code")');
    await expectHeading(page, 'Verify your phone');
    await sweep('enrol: verify phone (SMS code)');
    await page.fill('#code', await smsCode('+12015550199', 1));
    await page.click('button:has-text("Verify")');
    await j.rpServer.nextArrival(15_000, page);
    // The same browser, now on /account (signed in with password + SMS: a fresh proof needs both).
    await page.goto(`${j.t.issuer}/account/mfa/totp/enable`);
    await expectHeading(page, 'Confirm it’s you');
    await sweep('account: reauth (password)');
    await page.fill('#password', PASSWORD);
    await page.click('button:has-text("Continue")');
    await expectHeading(page, 'Confirm it’s you');
    await sweep('account: reauth (code)');
    await page.fill('#code', await smsCode('+12015550199', 2));
    await page.click('button:has-text("Verify")');
    const heading = await page.locator('h1').innerText();
    if (heading !== 'Set up your authenticator app') {
      await sweep('account: confirm action');
      await page.click('main form button[type=submit]');
    }
    await expectHeading(page, 'Set up your authenticator app');
    await sweep('enrol: authenticator');
    const key = (await page.locator('.secret code').innerText()).replace(/\s+/g, '');
    await page.fill('#code', totpCode(key, Date.now()));
    await page.click('button:has-text("Turn on")');
    await expectHeading(page, 'Save your recovery codes');
    await sweep('account: recovery codes');
  }, 240_000);

  it('/account pages, sign-out and signed-out', async () => {
    const u = await user({ phone: true, mfa: ['sms'], recovery: true });
    await page.context().clearCookies();
    // An app this account let in, for the Connected apps page.
    await page.goto((await thirdParty.start({ prompt: 'login' })).url.href);
    await password(u.email);
    await expectHeading(page, 'Check your phone');
    await page.fill('#code', await smsCode(u.phone, 1));
    await page.click('button:has-text("Verify")');
    await expectHeading(page, 'Allow access?');
    await page.click('button:has-text("Allow")');
    await j.rpServer.nextArrival(15_000, page);
    // One fresh proof (password + SMS code) first: email, password, phone and delete ask for it.
    await page.goto(`${j.t.issuer}/account/email`);
    await expectHeading(page, 'Confirm it’s you');
    const sent = smsCount(u.phone);
    await page.fill('#password', PASSWORD);
    await page.click('button:has-text("Continue")');
    await expectHeading(page, 'Confirm it’s you');
    await page.fill('#code', await smsCode(u.phone, sent + 1));
    await page.click('button:has-text("Verify")');
    await expectHeading(page, 'Change your email address');
    for (const [path, heading, name] of [
      ['/account', 'Your account', 'account: overview'],
      ['/account/profile', 'Your profile', 'account: profile'],
      ['/account/email', 'Change your email address', 'account: email'],
      ['/account/devices', 'Signed-in devices', 'account: devices'],
      ['/account/apps', 'Connected apps', 'account: apps'],
      ['/account/delete', 'Delete your account', 'account: delete'],
    ] as const) {
      await page.goto(`${j.t.issuer}${path}`);
      await expectHeading(page, heading);
      await sweep(name);
    }
    await page.goto(`${j.t.issuer}/account/apps`);
    expect(await page.locator('img.app-logo').first().getAttribute('src')).toMatch(/^\/client-logo\//);
    await page.goto(`${j.t.issuer}/account/profile`);
    await page.fill('#name', '');
    await page.click('button:has-text("Save")');
    await expectHeading(page, 'Your profile');
    await sweep('account: profile (error)');
    await page.goto(`${j.t.issuer}/account/email`);
    await page.fill('#email', `changed-${Date.now()}@example.com`);
    await page.click('button:has-text("Send code")');
    await page.waitForSelector('#code');
    await sweep('account: verify email code');
    await page.goto(`${j.t.issuer}/account/password`);
    await expectHeading(page, 'Change your password');
    await sweep('account: password');
    await page.goto(`${j.t.issuer}/account/phone`);
    await expectHeading(page, 'Change your mobile number');
    await sweep('account: phone');
    await page.goto(`${j.t.issuer}/account/recovery`);
    await page.waitForSelector('h1');
    await sweep(`account: recovery (${await page.locator('h1').innerText()})`);
    await page.goto(`${j.t.issuer}/session/end`);
    await expectHeading(page, 'Sign out?');
    await sweep('logout');
    await page.click('button:has-text("Sign out")');
    await expectHeading(page, 'You’re signed out');
    await sweep('logged out');
  }, 300_000);

  it('forgot and reset password, unlock, home, error and not-found pages', async () => {
    await page.context().clearCookies();
    await page.goto((await firstParty.start({ prompt: 'login' })).url.href);
    await expectHeading(page, 'Sign in');
    await page.click('text=Forgot your password?');
    await expectHeading(page, 'Reset your password');
    await sweep('forgot password');
    await page.fill('#email', 'nobody@example.com');
    await page.click('button:has-text("Send code")');
    await expectHeading(page, 'Choose a new password');
    await sweep('reset password');
    await page.click('button:has-text("Change password")');
    await expectHeading(page, 'Choose a new password');
    await sweep('reset password (errors)');
    await page.goto(`${j.t.issuer}/unlock?c=abc&code=def`);
    await expectHeading(page, 'Unlock your account');
    await sweep('unlock');
    await page.click('button:has-text("Unlock")');
    await expectHeading(page, 'Link not valid');
    await sweep('unlock (link not valid)');
    await page.goto(`${j.t.issuer}/`);
    await sweep('home');
    await page.goto(`${j.t.issuer}/auth?client_id=nope&response_type=code&scope=openid&redirect_uri=https://x.example/cb`);
    await page.waitForSelector('h1');
    await sweep('error: unknown app');
    await page.goto(`${j.t.issuer}/interaction/nonexistent`);
    await page.waitForSelector('h1');
    await sweep('error: expired sign-in');
    await page.goto(`${j.t.issuer}/no-such-page`);
    await page.waitForSelector('h1');
    await sweep('error: not found');
  }, 240_000);

  it('an app whose logo can’t be fetched is shown by its name alone', async () => {
    const broken = await registerClient(j.clients, j.rpServer, { client_name: 'Broken Logo App', logo_uri: `${logoBase}/missing.png` });
    const rp = await RelyingParty.discover(j.t.issuer, j.rpServer, broken.client_id, broken.client_secret);
    await page.context().clearCookies();
    await page.goto((await rp.start()).url.href);
    await expectHeading(page, 'Sign in');
    expect(await page.locator('img.client-logo').count()).toBe(0);
    expect(await page.locator('p.client').innerText()).toContain('Broken Logo App');
  }, 120_000);

  it('sign-in by keyboard alone, with a visible focus ring', async () => {
    const u = await user();
    await page.context().clearCookies();
    await page.goto((await firstParty.start({ prompt: 'login' })).url.href);
    await expectHeading(page, 'Sign in');
    // The email field has focus on arrival (autofocus); the ring is 3px solid in --focus-ring.
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('email');
    const ring = await page.evaluate(() => getComputedStyle(document.activeElement!).outlineStyle + ' ' + getComputedStyle(document.activeElement!).outlineWidth);
    expect(ring).toBe('solid 3px');
    await page.keyboard.type(u.email);
    await page.keyboard.press('Tab');
    expect(await page.evaluate(() => document.activeElement?.id)).toBe('password');
    await page.keyboard.type(PASSWORD);
    await page.keyboard.press('Enter');
    await j.rpServer.nextArrival(15_000, page);
  }, 120_000);

  it('has no serious or critical violation anywhere (table below)', () => {
    const head = `${'page'.padEnd(44)} ${'theme'.padEnd(6)} ${'width'.padStart(5)}  ${IMPACTS.map((i) => i.padStart(8)).join(' ')}`;
    const lines = rows.map((r) => `${r.page.padEnd(44)} ${r.theme.padEnd(6)} ${String(r.width).padStart(5)}  ${IMPACTS.map((i) => String(r.counts[i] ?? 0).padStart(8)).join(' ')}`);
    console.log(`axe-core ${AXE_VERSION}: violations (affected nodes) by impact\n${head}\n${lines.join('\n')}\n${rows.length} views`);
    expect(rows.length).toBeGreaterThanOrEqual(40 * 4);
    const bad = rows.flatMap((r) => r.bad.map((b) => `${r.page} [${r.theme}, ${r.width}px]: ${b}`));
    expect(bad).toEqual([]);
  });
});
