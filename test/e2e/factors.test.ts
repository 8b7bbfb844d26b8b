// Every second factor through one interface, end to end: Chromium as the user, openid-client as the RP,
// the SMTP sink and the Vonage stub as the user's mailbox and phone. Enrolling an authenticator app from
// the key on the page, email codes, which step a user sees (preference vs. a relying party's demand),
// "Try another way", recovery codes from any step, cancel, and a capped SMS that never claims "we texted".
// acr and amr are asserted on every ID token.
import { describe, it, expect, beforeAll, afterAll, beforeEach } from 'vitest';
import type { Page } from 'playwright-core';
import { startJourney, type Journey } from '../support/journey.ts';
import { expectHeading } from '../support/browser.ts';
import type { RelyingParty, RpServer } from '../support/rp.ts';
import { codeFrom } from '../support/smtp-sink.ts';
import { shot } from '../support/screens.ts';
import { totpCode, TOTP_PERIOD_SECONDS } from '../../src/factors/totp/totp.ts';
import { factorData, recoveryCodesLeft, secondFactors, type SecondFactorType } from '../../src/factors/records.ts';
import { adminFactors } from '../../src/admin/users.ts';
import { SmsGuard } from '../../src/guard/limits.ts';

const PASSWORD = 'correct horse battery staple';
const MFA = 'urn:tessera:acr:mfa';
const SMS = 'urn:tessera:acr:mfa:sms';
const SECRET = 'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP';

let j: Journey;
let t: Journey['t'];
let browser: Journey['browser'];
let page: Page;
let rpServer: RpServer;
let rp: RelyingParty;

beforeAll(async () => {
  j = await startJourney({ tessera_first_party: true });
  ({ t, browser, page, rpServer, rp } = j);
});

afterAll(() => j?.stop());

beforeEach(async () => {
  await browser.context.clearCookies();
});

/**
 * The user's authenticator app: the code of a step newer than the last one used (each step is accepted
 * once) and inside the server's ±1-step window, leaving room for the time a page takes to submit.
 */
class AuthenticatorApp {
  private last = 0;
  constructor(readonly secret: string) {}
  async code(): Promise<string> {
    const period = TOTP_PERIOD_SECONDS * 1000;
    for (;;) {
      const now = Date.now();
      const current = Math.floor(now / period);
      const oldest = period - (now % period) > 8000 ? current - 1 : current;
      const step = Math.max(this.last + 1, oldest);
      if (step <= current + 1) {
        this.last = step;
        return totpCode(this.secret, step * period);
      }
      await new Promise((r) => setTimeout(r, period - (now % period) + 200));
    }
  }
}

let n = 0;
/** A fresh account (distinct email, phone +1 201 555 01xx) with the factors asked for, set as an admin would. */
async function user(opts: { phone?: number; mfa?: SecondFactorType[]; totp?: string; preferred?: SecondFactorType; recovery?: boolean } = {}) {
  n += 1;
  const email = `factors${n}-${Date.now()}@example.com`;
  const phone = opts.phone === undefined ? undefined : `+1201555${String(100 + opts.phone).padStart(4, '0')}`;
  let account = await t.built.services.accounts.register({
    name: `Factor User ${n}`, email, password: PASSWORD, email_verified: true,
    phone_number: phone, phone_number_verified: phone ? true : undefined,
  });
  if (opts.mfa?.length || opts.totp) {
    const next = adminFactors(account, { mfa: opts.mfa ?? [], totp_secret: opts.totp, preferred_mfa: opts.preferred }, t.built.services.box);
    account = (await t.store.accounts.update(account.id, next))!;
  }
  const codes = opts.recovery ? await t.built.services.recovery.generate(account.id) : [];
  return { email, id: account.id, phone: phone ?? '', codes };
}

async function password(email: string) {
  await page.fill('#email', email);
  await page.fill('#password', PASSWORD);
  await page.click('button:has-text("Continue")');
}

async function enterCode(code: string) {
  await page.fill('#code', code);
  await page.click('button:has-text("Verify")');
}

/** The newest mail to `to` that arrived after `before` mails had been received. */
async function mailAfter(to: string, before: number) {
  return t.smtp.waitFor(to, (m) => t.smtp.mails.indexOf(m) >= before);
}

async function signIn(params: Record<string, string>, steps: () => Promise<void>) {
  const started = await rp.start({ prompt: 'login', ...params });
  await page.goto(started.url.href);
  await steps();
  const callback = await rpServer.nextArrival(15_000, page);
  return { callback: new URL(callback), started };
}

async function tokensFor(params: Record<string, string>, steps: () => Promise<void>) {
  const { callback, started } = await signIn(params, steps);
  expect(callback.searchParams.get('error')).toBeNull();
  return (await rp.finish(callback.href, started)).claims()!;
}

/** The "Try another way" offers on the current second step (buttons), without the recovery section. */
async function otherWays() {
  return page.locator('section.other-ways > form button').allInnerTexts();
}

async function openRecovery(code: string) {
  await page.click('section.other-ways summary:has-text("Use a recovery code")');
  await page.fill('#recovery_code', code);
  await page.click('button:has-text("Use recovery code")');
}

/** The page at a phone's and a desktop's width (SCREENSHOTS=dir), then back to the default size. */
async function both(name: string) {
  for (const width of [390, 1280]) {
    await page.setViewportSize({ width, height: 800 });
    await shot(page, `${name}-${width}`);
  }
  await page.setViewportSize({ width: 1280, height: 720 });
}

async function accountSignIn(email: string) {
  await page.goto(`${t.issuer}/account`);
  await expectHeading(page, 'Sign in');
  await password(email);
  await expectHeading(page, 'Your account');
}

/** /account's fresh proof for an account without second factors: the password now. */
async function confirmItsYou() {
  await expectHeading(page, 'Confirm it’s you');
  await page.fill('#password', PASSWORD);
  await page.click('button:has-text("Continue")');
}

const mainText = () => page.locator('main').innerText();

describe('authenticator app (TOTP)', () => {
  it('enrols from the key on the page after the fresh proof, shows recovery codes once, signs in with it; a replayed code is refused', async () => {
    const u = await user();
    await accountSignIn(u.email);
    expect(await page.locator('.checkup').innerText()).toContain('password alone');
    await both('account-two-step-none');

    await page.locator('li.factor', { hasText: 'Authenticator app' }).locator('button:has-text("Set up")').click();
    await confirmItsYou();
    // The proof leads back to the page that asked for it.
    await expectHeading(page, 'Set up an authenticator app');
    await page.click('button:has-text("Show the QR code")');
    await expectHeading(page, 'Set up your authenticator app');
    const qr = page.locator('.qr img');
    expect(await qr.getAttribute('alt')).toMatch(/QR code/);
    expect(await qr.getAttribute('src')).toMatch(/^data:image\/svg\+xml;base64,/);
    expect(await qr.evaluate((img: HTMLImageElement) => img.complete && img.naturalWidth > 0)).toBe(true);
    const shown = await page.locator('.secret code').innerText();
    expect(shown).toMatch(/^([A-Z2-7]{4} )+[A-Z2-7]{1,4}$/); // grouped by 4 for typing
    const app = new AuthenticatorApp(shown.replace(/\s+/g, ''));
    await both('enrol-totp');

    // A wrong code: said next to the field, nothing turned on.
    await page.fill('#code', totpCode(app.secret, Date.now() - 10 * 60_000));
    await page.click('button:has-text("Turn on")');
    await expectHeading(page, 'Set up your authenticator app');
    expect(await page.locator('#code-error').innerText()).toContain('isn’t right');
    expect(await page.locator('.secret code').innerText()).toBe(shown); // the same key, not a new one
    expect(secondFactors((await t.store.accounts.findById(u.id))!.factors)).toEqual([]);

    await page.fill('#code', await app.code());
    await page.click('button:has-text("Turn on")');
    await expectHeading(page, 'Save your recovery codes');
    const codes = await page.locator('.codes code').allInnerTexts();
    expect(codes).toHaveLength(10);
    expect(new Set(codes).size).toBe(10);
    const download = page.locator('a[download="recovery-codes.txt"]');
    expect(await download.innerText()).toContain('Download');
    const file = decodeURIComponent((await download.getAttribute('href'))!.replace(/^data:text\/plain;charset=utf-8,/, ''));
    expect(file.split('\n')).toEqual(expect.arrayContaining(codes));
    expect(await page.locator('button[data-print]').innerText()).toBe('Print');
    await both('recovery-codes');

    const stored = (await t.store.accounts.findById(u.id))!;
    expect(secondFactors(stored.factors)).toEqual(['totp']);
    expect(recoveryCodesLeft(stored.factors)).toBe(10);
    expect(factorData(stored.factors, 'totp')!.secret).not.toContain(app.secret); // encrypted at rest
    expect((await t.store.audit.list({ type: 'mfa.enabled', accountId: u.id })).map((e) => e.detail.factor)).toEqual(['totp']);

    await page.click('text=I’ve saved them');
    await expectHeading(page, 'Your account');
    const section = page.locator('li.factor', { hasText: 'Authenticator app' });
    expect(await section.innerText()).toContain('On');
    expect(await mainText()).toContain('Recovery codes left: 10');
    await both('account-two-step');
    // Shown once: nothing shows them again (new codes need a fresh proof, with the app now).
    await page.goto(`${t.issuer}/account/recovery`);
    await expectHeading(page, 'Confirm it’s you');
    expect(await page.locator('.codes').count()).toBe(0);

    // Sign in with it, the relying party asking for MFA.
    await browser.context.clearCookies();
    const used = await app.code();
    const claims = await tokensFor({ acr_values: MFA }, async () => {
      await password(u.email);
      await expectHeading(page, 'Enter your authenticator code');
      await enterCode(used);
    });
    expect(claims.acr).toBe(MFA);
    expect(claims.amr).toEqual(['pwd', 'otp', 'mfa']);

    // The same code in a second sign-in, at once: refused, the step stays; the next code works.
    const again = await tokensFor({ acr_values: MFA }, async () => {
      await password(u.email);
      await expectHeading(page, 'Enter your authenticator code');
      await enterCode(used);
      expect(await page.locator('#code-error').innerText()).toContain('already used');
      await expectHeading(page, 'Enter your authenticator code');
      await enterCode(await app.code());
    });
    expect(again.acr).toBe(MFA);
    expect(again.amr).toEqual(['pwd', 'otp', 'mfa']);
    expect(again.sub).toBe(claims.sub);
    expect((await t.store.audit.list({ type: 'mfa.failed', accountId: u.id })).map((e) => e.detail.factor)).toEqual(['totp']);
  });
});

describe('email codes', () => {
  it('turns on codes by email on /account (code from the mail), then signs in with an emailed code', async () => {
    const u = await user();
    await accountSignIn(u.email);
    await page.locator('li.factor', { hasText: 'Code by email' }).locator('button:has-text("Turn on")').click();
    await confirmItsYou();
    await expectHeading(page, 'Turn on codes by email');
    let before = t.smtp.mails.length;
    await page.click('button:has-text("Send me a code")');
    await expectHeading(page, 'Turn on codes by email');
    expect(await mainText()).toContain('We emailed a 6-digit code to');
    await enterCode(codeFrom((await mailAfter(u.email, before)).text));
    await expectHeading(page, 'Save your recovery codes');
    expect(await page.locator('.codes code').count()).toBe(10);
    expect(secondFactors((await t.store.accounts.findById(u.id))!.factors)).toEqual(['email']);

    await browser.context.clearCookies();
    before = t.smtp.mails.length;
    const claims = await tokensFor({ acr_values: MFA }, async () => {
      await password(u.email);
      await expectHeading(page, 'Check your email');
      expect(await mainText()).toContain('We emailed a 6-digit code to');
      await enterCode(codeFrom((await mailAfter(u.email, before)).text));
    });
    expect(claims.acr).toBe(MFA);
    expect(claims.amr).toEqual(['pwd', 'email', 'mfa']);
  });
});

describe('which second step a user sees', () => {
  it('an authenticator user with SMS on gets the authenticator for …:mfa (no SMS sent) and SMS for …:mfa:sms', async () => {
    const u = await user({ phone: 1, mfa: ['sms'], totp: SECRET });
    const app = new AuthenticatorApp(SECRET);
    const claims = await tokensFor({ acr_values: MFA }, async () => {
      await password(u.email);
      await expectHeading(page, 'Enter your authenticator code');
      expect(await otherWays()).toContain('Text me a code');
      await enterCode(await app.code());
    });
    expect(claims.acr).toBe(MFA);
    expect(claims.amr).toEqual(['pwd', 'otp', 'mfa']);
    expect(t.vonage.to(u.phone)).toHaveLength(0);

    const sms = await tokensFor({ acr_values: SMS }, async () => {
      await password(u.email);
      await expectHeading(page, 'Check your phone');
      // Only SMS meets this demand: no authenticator, no recovery code offered, and the page says why.
      expect(await otherWays()).toEqual([]);
      expect(await page.locator('summary:has-text("Use a recovery code")').count()).toBe(0);
      expect(await mainText()).toContain('requires a code sent by text message');
      await enterCode(codeFrom((await t.vonage.waitFor(u.phone, 1)).text));
    });
    expect(sms.acr).toBe(SMS);
    expect(sms.amr).toEqual(['pwd', 'sms', 'mfa']);
    expect(t.vonage.to(u.phone)).toHaveLength(1);
  });

  it('"Try another way" goes from the authenticator step to a text message', async () => {
    const u = await user({ phone: 2, mfa: ['sms', 'email'], totp: SECRET, recovery: true });
    const claims = await tokensFor({ acr_values: MFA }, async () => {
      await password(u.email);
      await expectHeading(page, 'Enter your authenticator code');
      expect(await page.locator('#other-ways').innerText()).toBe('Try another way');
      expect(await otherWays()).toEqual(['Text me a code', 'Email me a code']);
      expect(await page.locator('summary:has-text("Use a recovery code")').count()).toBe(1);
      expect(await page.locator('button:has-text("Cancel and go back to Example Shop")').count()).toBe(1);
      await both('second-step-totp');
      expect(t.vonage.to(u.phone)).toHaveLength(0);
      await page.click('button:has-text("Text me a code")');
      await expectHeading(page, 'Check your phone');
      expect(await otherWays()).toEqual(['Use my authenticator app', 'Email me a code']);
      await both('second-step-sms');
      await enterCode(codeFrom((await t.vonage.waitFor(u.phone, 1)).text));
    });
    expect(claims.acr).toBe(MFA);
    expect(claims.amr).toEqual(['pwd', 'sms', 'mfa']);
  });
});

describe('recovery codes and cancel', () => {
  it('a recovery code works from the authenticator step and from the SMS step, and each is refused on reuse', async () => {
    const u = await user({ phone: 3, mfa: ['sms'], totp: SECRET, recovery: true });
    const [first, second] = u.codes;
    const fromApp = await tokensFor({ acr_values: MFA }, async () => {
      await password(u.email);
      await expectHeading(page, 'Enter your authenticator code');
      await openRecovery(first.toUpperCase());
    });
    expect(fromApp.acr).toBe(MFA);
    expect(fromApp.amr).toEqual(['pwd', 'rec', 'mfa']);

    const fromSms = await tokensFor({ acr_values: MFA }, async () => {
      await password(u.email);
      await expectHeading(page, 'Enter your authenticator code');
      await page.click('button:has-text("Text me a code")');
      await expectHeading(page, 'Check your phone');
      await t.vonage.waitFor(u.phone, 1);
      await openRecovery(second);
    });
    expect(fromSms.acr).toBe(MFA);
    expect(fromSms.amr).toEqual(['pwd', 'rec', 'mfa']);
    expect(recoveryCodesLeft((await t.store.accounts.findById(u.id))!.factors)).toBe(8);

    // Reused: refused where the user can see it (the section open, the error next to the field), step kept.
    const started = await rp.start({ prompt: 'login', acr_values: MFA });
    await page.goto(started.url.href);
    await password(u.email);
    await expectHeading(page, 'Enter your authenticator code');
    await openRecovery(first);
    await expectHeading(page, 'Enter your authenticator code');
    expect(await page.locator('#recovery_code-error').isVisible()).toBe(true);
    expect(await page.locator('#recovery_code-error').innerText()).toContain('isn’t valid or was already used');
    await page.click('button:has-text("Text me a code")');
    await expectHeading(page, 'Check your phone');
    await openRecovery(second);
    await expectHeading(page, 'Check your phone');
    expect(await page.locator('#recovery_code-error').isVisible()).toBe(true);
    expect(await page.locator('#recovery_code-error').innerText()).toContain('isn’t valid or was already used');
    // A wrong answer doesn't turn the step into a false "we texted": this one really was texted.
    expect(t.vonage.to(u.phone)).toHaveLength(2);
    expect(recoveryCodesLeft((await t.store.accounts.findById(u.id))!.factors)).toBe(8);
    expect((await t.store.audit.list({ type: 'mfa.failed', accountId: u.id })).map((e) => e.detail.factor)).toEqual(['recovery', 'recovery']);
  });

  it('"Cancel and go back to <app>" on a second step returns access_denied to the app', async () => {
    const u = await user({ totp: SECRET, recovery: true });
    const { callback, started } = await signIn({ acr_values: MFA }, async () => {
      await password(u.email);
      await expectHeading(page, 'Enter your authenticator code');
      await page.click('button:has-text("Cancel and go back to Example Shop")');
    });
    expect(callback.searchParams.get('error')).toBe('access_denied');
    expect(callback.searchParams.get('state')).toBe(started.state);
    expect(callback.searchParams.get('code')).toBeNull();
  });
});

describe('no dead ends', () => {
  it('a capped SMS says what happened and offers the other methods, never "We texted"', async () => {
    const u = await user({ phone: 4, mfa: ['sms', 'email'], totp: SECRET, preferred: 'sms', recovery: true });
    // This number and account used up their hourly texts (the real guard, the real counters).
    const guard = new SmsGuard(t.store, t.built.services.config.sms.limits);
    for (let i = 0; i < 100 && (await guard.allow({ to: u.phone, accountId: u.id, ip: '203.0.113.7' })).ok; i++);
    expect((await guard.allow({ to: u.phone, accountId: u.id, ip: '203.0.113.7' })).ok).toBe(false);

    const before = t.smtp.mails.length;
    const claims = await tokensFor({ acr_values: MFA }, async () => {
      await password(u.email);
      await expectHeading(page, 'We couldn’t text you a code');
      const alert = page.locator('.alert-error[role=alert]');
      expect(await alert.innerText()).toContain('Too many codes were sent');
      expect(await mainText()).not.toContain('We texted');
      expect(await page.locator('#code').count()).toBe(0);
      expect(await page.locator('button:has-text("Send a new code")').count()).toBe(0);
      expect(await otherWays()).toEqual(['Use my authenticator app', 'Email me a code']);
      await both('second-step-sms-capped');
      // A wrong recovery code from this page doesn't turn it into a "We texted" page either.
      await openRecovery('aaaaa-aaaaa');
      expect(await page.locator('#recovery_code-error').innerText()).toContain('isn’t valid or was already used');
      expect(await mainText()).not.toContain('We texted');
      expect(await page.locator('.alert-error[role=alert]').first().innerText()).toContain('Too many codes were sent');
      await page.click('button:has-text("Email me a code")');
      await expectHeading(page, 'Check your email');
      await enterCode(codeFrom((await mailAfter(u.email, before)).text));
    });
    expect(claims.acr).toBe(MFA);
    expect(claims.amr).toEqual(['pwd', 'email', 'mfa']);
    expect(t.vonage.to(u.phone)).toHaveLength(0);
  });
});
