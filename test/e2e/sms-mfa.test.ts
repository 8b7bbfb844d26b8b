// Phone verification, SMS as a second factor and relying parties demanding SMS MFA, end to end:
// Chromium, openid-client as the RP, and the Vonage SDK talking to the local /sms/json stand-in.
import { describe, it, expect, beforeAll, afterAll, beforeEach } from 'vitest';
import type { Page } from 'playwright-core';
import { startJourney, type Journey } from '../support/journey.ts';
import { expectHeading } from '../support/browser.ts';
import { RelyingParty, RpServer, registerClient } from '../support/rp.ts';
import { codeFrom } from '../support/smtp-sink.ts';
import type { ClientService } from '../../src/admin/clients.ts';
import { shot } from '../support/screens.ts';

const PASSWORD = 'correct horse battery staple';
const SMS = 'urn:tessera:acr:mfa:sms';

let j: Journey;
let t: Journey['t'];
let browser: Journey['browser'];
let page: Page;
let rpServer: RpServer;
let rp: RelyingParty;
let clients: ClientService;

beforeAll(async () => {
  j = await startJourney({ tessera_first_party: true });
  ({ t, browser, page, rpServer, rp, clients } = j);
});

afterAll(() => j?.stop());

beforeEach(async () => {
  await browser.context.clearCookies();
});

let n = 0;
async function user(opts: { phone?: string; verified?: boolean; mfa?: 'sms'[] } = {}) {
  n += 1;
  const email = `user${n}-${Date.now()}@example.com`;
  const account = await t.built.services.accounts.register({
    name: `User ${n}`, email, password: PASSWORD, email_verified: true,
    phone_number: opts.phone, phone_number_verified: opts.verified, mfa: opts.mfa,
  });
  return { email, id: account.id, phone: account.phoneNumber };
}

function phoneFor(i: number) {
  return `+3361234${String(5600 + i).padStart(4, '0')}`;
}

async function password(email: string) {
  await page.fill('#email', email);
  await page.fill('#password', PASSWORD);
  await page.click('button:has-text("Continue")');
}

async function enterSmsCode(e164: string, count: number) {
  const sms = await t.vonage.waitFor(e164, count);
  await page.fill('#code', codeFrom(sms.text));
  await page.click('button:has-text("Verify")');
}

/** /account's fresh proof: the password now, then (accounts with a verified phone) a code to the current number. */
async function confirmItsYou(sms?: { phone: string; count: number }) {
  await expectHeading(page, 'Confirm it’s you');
  await page.fill('#password', PASSWORD);
  await page.click('button:has-text("Continue")');
  if (sms) {
    await expectHeading(page, 'Confirm it’s you');
    await enterSmsCode(sms.phone, sms.count);
  }
}

async function signIn(params: Record<string, string>, steps: () => Promise<void>) {
  const started = await rp.start({ prompt: '', ...params });
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

describe('phone verification and turning SMS sign-in on (account pages)', () => {
  it('verifies a phone by SMS, enables SMS 2FA with a code to that number, and shows recovery codes once', async () => {
    const u = await user({ phone: '+1 415 555 2671' });
    await page.goto(`${t.issuer}/account`);
    await expectHeading(page, 'Sign in');
    await password(u.email);
    await expectHeading(page, 'Your account');
    await shot(page, 'account-unverified');
    await page.click('text=Verify or change number');
    await confirmItsYou();
    await expectHeading(page, 'Add your mobile number');
    await page.fill('#phone_number', '+1 415 555 2671');
    await page.click('button:has-text("Send code")');
    await expectHeading(page, 'Verify your phone');
    await shot(page, 'account-verify-phone');
    const sms = await t.vonage.waitFor('+14155552671', 1);
    expect(sms.from).toBe('Tessera');
    expect(sms.auth).toMatch(/^Basic /);
    await page.fill('#code', codeFrom(sms.text));
    await page.click('button:has-text("Verify")');
    await expectHeading(page, 'Your account');
    expect(await page.locator('.alert-ok').innerText()).toContain('verified');
    let stored = await t.store.accounts.findById(u.id);
    expect(stored).toMatchObject({ phoneNumber: '+14155552671', phoneNumberVerified: true, mfa: [] });

    // The verified phone is now a factor of the fresh proof: a code to it follows the password.
    await page.click('button:has-text("Turn on SMS sign-in")');
    await confirmItsYou({ phone: '+14155552671', count: 2 });
    await expectHeading(page, 'Turn on SMS sign-in');
    // A number typed into the enable form is ignored: the code goes to the verified number only.
    await page.evaluate(() => {
      const form = document.querySelector('form[action="/account/mfa/sms/enable"]')!;
      const input = document.createElement('input');
      input.name = 'phone_number';
      input.value = '+33699999999';
      form.appendChild(input);
    });
    await page.click('button:has-text("Text me a code")');
    await expectHeading(page, 'Turn on SMS sign-in');
    expect(t.vonage.to('+33699999999')).toHaveLength(0);
    await enterSmsCode('+14155552671', 3);
    await expectHeading(page, 'Save your recovery codes');
    await shot(page, 'account-recovery-codes');
    const codes = await page.locator('.codes code').allInnerTexts();
    expect(codes).toHaveLength(10);
    stored = await t.store.accounts.findById(u.id);
    expect(stored!.mfa).toEqual(['sms']);
    expect(stored!.recoveryCodes).toHaveLength(10);
    expect(stored!.recoveryCodes).not.toContain(codes[0]); // stored hashed

    // Turning it off needs a fresh proof with the SMS factor: the one given to turn it on (password and a
    // code to this phone, minutes ago) still is. It leaves no stale state.
    await page.goto(`${t.issuer}/account/mfa/sms/disable`);
    await expectHeading(page, 'Turn off SMS sign-in');
    await page.click('button:has-text("Turn off SMS sign-in")');
    await expectHeading(page, 'Your account');
    stored = await t.store.accounts.findById(u.id);
    expect(stored).toMatchObject({ mfa: [], recoveryCodes: [], phoneNumberVerified: true });
  });

  it('keeps the old verified number until the new one is verified', async () => {
    const u = await user({ phone: phoneFor(1), verified: true });
    await page.goto(`${t.issuer}/account`);
    await password(u.email);
    await page.goto(`${t.issuer}/account/phone`);
    await confirmItsYou({ phone: phoneFor(1), count: 1 }); // the verified number is a factor of the proof
    await page.fill('#phone_number', phoneFor(2));
    await page.click('button:has-text("Send code")');
    await expectHeading(page, 'Verify your phone');
    await t.vonage.waitFor(phoneFor(2), 1);
    expect((await t.store.accounts.findById(u.id))!.phoneNumber).toBe(phoneFor(1));
    await enterSmsCode(phoneFor(2), 1);
    await expectHeading(page, 'Your account');
    expect((await t.store.accounts.findById(u.id))!.phoneNumber).toBe(phoneFor(2));
  });
});

describe('profile and password on the account pages', () => {
  it('changes the name and the password (a fresh proof required)', async () => {
    const u = await user();
    await page.goto(`${t.issuer}/account`);
    await password(u.email);
    await expectHeading(page, 'Your account');
    await page.click('text=Change name');
    await page.fill('#name', 'Renamed Person');
    await page.click('button:has-text("Save")');
    await expectHeading(page, 'Your account');
    expect(await page.locator('.facts').innerText()).toContain('Renamed Person');
    await page.click('text=Change your password');
    await expectHeading(page, 'Confirm it’s you');
    await page.fill('#password', 'not my password');
    await page.click('button:has-text("Continue")');
    expect(await page.locator('#password-error').innerText()).toContain('isn’t right');
    await confirmItsYou();
    await expectHeading(page, 'Change your password');
    await page.fill('#password', 'my new secret sentence');
    await page.fill('#password_confirm', 'my new secret sentence');
    await page.click('button:has-text("Change password")');
    await expectHeading(page, 'Your account');
    expect(await page.locator('.alert-ok').innerText()).toContain('password was changed');
    const signIn = await t.built.services.accounts.signIn(u.email, 'my new secret sentence', '198.51.100.1');
    expect(signIn.ok).toBe(true);
    expect((await t.built.services.accounts.signIn(u.email, PASSWORD, '198.51.100.1')).ok).toBe(false);
  });
});

describe('signing in with SMS', () => {
  it('asks for the SMS code after the password when the user turned SMS on; a reload sends nothing new', async () => {
    const u = await user({ phone: phoneFor(3), verified: true, mfa: ['sms'] });
    const claims = await tokensFor({}, async () => {
      await password(u.email);
      await expectHeading(page, 'Check your phone');
      await t.vonage.waitFor(phoneFor(3), 1);
      await page.reload();
      await expectHeading(page, 'Check your phone');
      await shot(page, 'sms-step');
      expect(t.vonage.to(phoneFor(3))).toHaveLength(1);
      await enterSmsCode(phoneFor(3), 1);
    });
    expect(claims.amr).toEqual(['pwd', 'sms', 'mfa']);
    expect(claims.acr).toBe(SMS);
  });

  it('a password alone gives acr 1fa and amr ["pwd"]', async () => {
    const u = await user({ phone: phoneFor(4), verified: true });
    const claims = await tokensFor({}, () => password(u.email));
    expect(claims.amr).toEqual(['pwd']);
    expect(claims.acr).toBe('urn:tessera:acr:1fa');
    expect(t.vonage.to(phoneFor(4))).toHaveLength(0);
  });

  it('acr_values=…:mfa:sms makes a user without 2FA (but with a verified phone) enter an SMS code', async () => {
    const u = await user({ phone: phoneFor(5), verified: true });
    const claims = await tokensFor({ acr_values: SMS }, async () => {
      await expectHeading(page, 'Sign in');
      expect(await page.locator('main').innerText()).toContain('text message');
      await password(u.email);
      await expectHeading(page, 'Check your phone');
      await enterSmsCode(phoneFor(5), 1);
    });
    expect(claims.acr).toBe(SMS);
    expect(claims.amr).toEqual(['pwd', 'sms', 'mfa']);
  });

  it('an essential acr in the claims parameter is enforced the same way', async () => {
    const u = await user({ phone: phoneFor(6), verified: true });
    const claims = await tokensFor({ claims: JSON.stringify({ id_token: { acr: { essential: true, values: ['urn:tessera:acr:mfa'] } } }) }, async () => {
      await password(u.email);
      await expectHeading(page, 'Check your phone');
      await enterSmsCode(phoneFor(6), 1);
    });
    expect(claims.acr).toBe('urn:tessera:acr:mfa');
    expect(claims.amr).toEqual(['pwd', 'sms', 'mfa']);
  });

  it('steps up a password-only session with the SMS code alone (no password again)', async () => {
    const u = await user({ phone: phoneFor(7), verified: true });
    const first = await tokensFor({}, () => password(u.email));
    expect(first.amr).toEqual(['pwd']);
    const stepped = await tokensFor({ acr_values: SMS }, async () => {
      await expectHeading(page, 'Check your phone');
      expect(await page.locator('#password').count()).toBe(0);
      await enterSmsCode(phoneFor(7), 1);
    });
    expect(stepped.sub).toBe(first.sub);
    expect(stepped.acr).toBe(SMS);
    expect(stepped.amr).toEqual(['pwd', 'sms', 'mfa']);
    // The session now holds SMS: the same demand goes straight through.
    const again = await tokensFor({ acr_values: SMS }, async () => {});
    expect(again.acr).toBe(SMS);
    expect(t.vonage.to(phoneFor(7))).toHaveLength(1);
  });

  it('prompt=login asks for the password again even on step-up', async () => {
    const u = await user({ phone: phoneFor(8), verified: true });
    await tokensFor({}, () => password(u.email));
    const claims = await tokensFor({ acr_values: SMS, prompt: 'login' }, async () => {
      await expectHeading(page, 'Sign in');
      await password(u.email);
      await enterSmsCode(phoneFor(8), 1);
    });
    expect(claims.amr).toEqual(['pwd', 'sms', 'mfa']);
  });

  it('offers to add and verify a phone inside the sign-in when SMS is demanded and there is none', async () => {
    const u = await user();
    const claims = await tokensFor({ acr_values: SMS }, async () => {
      await password(u.email);
      await expectHeading(page, 'Add your mobile number');
      await shot(page, 'enrol-phone');
      await page.fill('#phone_number', 'not a number');
      await page.click('button:has-text("Send code")');
      expect(await page.locator('#phone_number-error').innerText()).toContain('valid phone number');
      await page.fill('#phone_number', phoneFor(9));
      await page.click('button:has-text("Send code")');
      await expectHeading(page, 'Verify your phone');
      await enterSmsCode(phoneFor(9), 1);
    });
    expect(claims.acr).toBe(SMS);
    expect(claims.amr).toEqual(['pwd', 'sms', 'mfa']);
    expect(await t.store.accounts.findById(u.id)).toMatchObject({ phoneNumber: phoneFor(9), phoneNumberVerified: true });
    // The phone scope now carries the verified number, truthfully.
    const { callback, started } = await signIn({ acr_values: SMS }, async () => {});
    const tokens = await rp.finish(callback.href, started);
    expect(await rp.userinfo(tokens.access_token, claims.sub)).toMatchObject({ phone_number: phoneFor(9), phone_number_verified: true });
  });

  it('returns unmet_authentication_requirements (state echoed) when the user declines adding a phone', async () => {
    const u = await user();
    const { callback, started } = await signIn({ acr_values: SMS }, async () => {
      await password(u.email);
      await expectHeading(page, 'Add your mobile number');
      await page.click('button:has-text("Not now")');
    });
    expect(callback.searchParams.get('error')).toBe('unmet_authentication_requirements');
    expect(callback.searchParams.get('state')).toBe(started.state);
  });

  it('applies the client minimum ACR even when the request asks for less', async () => {
    const strict = await registerClient(clients, rpServer, { tessera_first_party: true, tessera_min_acr: SMS });
    const strictRp = await RelyingParty.discover(t.issuer, rpServer, strict.client_id, strict.client_secret);
    const u = await user({ phone: phoneFor(10), verified: true });
    const started = await strictRp.start({ prompt: '', acr_values: 'urn:tessera:acr:1fa' });
    await page.goto(started.url.href);
    await password(u.email);
    await expectHeading(page, 'Check your phone');
    await enterSmsCode(phoneFor(10), 1);
    const tokens = await strictRp.finish(await rpServer.nextArrival(15_000, page), started);
    expect(tokens.claims()!.acr).toBe(SMS);
    expect(tokens.claims()!.amr).toEqual(['pwd', 'sms', 'mfa']);
  });

  it('applies a client’s default_acr_values when the request names none', async () => {
    const c = await registerClient(clients, rpServer, { tessera_first_party: true, default_acr_values: ['urn:tessera:acr:mfa'] });
    const cRp = await RelyingParty.discover(t.issuer, rpServer, c.client_id, c.client_secret);
    const u = await user({ phone: phoneFor(11), verified: true });
    const started = await cRp.start({ prompt: '' });
    await page.goto(started.url.href);
    await password(u.email);
    await expectHeading(page, 'Check your phone');
    await enterSmsCode(phoneFor(11), 1);
    const tokens = await cRp.finish(await rpServer.nextArrival(15_000, page), started);
    expect(tokens.claims()!.acr).toBe('urn:tessera:acr:mfa');
  });

  it('accepts a recovery code instead of SMS when only "mfa" is demanded, once', async () => {
    const u = await user({ phone: phoneFor(12), verified: true, mfa: ['sms'] });
    const codes = await t.built.services.recovery.generate(u.id);
    const claims = await tokensFor({}, async () => {
      await password(u.email);
      await expectHeading(page, 'Check your phone');
      await page.click('summary');
      await page.fill('#recovery_code', codes[0].toUpperCase());
      await page.click('button:has-text("Use recovery code")');
    });
    expect(claims.amr).toEqual(['pwd', 'rec', 'mfa']);
    expect(claims.acr).toBe('urn:tessera:acr:mfa');
    expect((await t.store.accounts.findById(u.id))!.recoveryCodes).toHaveLength(9);
    // The same code a second time: refused, and the sign-in stays at the SMS step.
    await page.goto((await rp.start({ prompt: 'login' })).url.href);
    await password(u.email);
    await expectHeading(page, 'Check your phone');
    await page.click('summary');
    await page.fill('#recovery_code', codes[0]);
    await page.click('button:has-text("Use recovery code")');
    expect(await page.locator('#recovery_code-error').textContent({ timeout: 15_000 })).toContain('isn’t valid or was already used');
    await expectHeading(page, 'Check your phone');
    expect((await t.store.accounts.findById(u.id))!.recoveryCodes).toHaveLength(9);
    expect((await t.store.audit.list({ type: 'mfa.failed', accountId: u.id })).map((e) => e.detail.factor)).toEqual(['recovery']);
  });

  it('"remember this browser" skips the user-chosen SMS step, honestly reported, but never a demanded one', async () => {
    const u = await user({ phone: phoneFor(14), verified: true, mfa: ['sms'] });
    const first = await tokensFor({}, async () => {
      await password(u.email);
      await expectHeading(page, 'Check your phone');
      await page.check('#remember_browser');
      await enterSmsCode(phoneFor(14), 1);
    });
    expect(first.amr).toEqual(['pwd', 'sms', 'mfa']);
    const remembered = await tokensFor({ prompt: 'login' }, () => password(u.email));
    expect(remembered.amr).toEqual(['pwd']);
    expect(remembered.acr).toBe('urn:tessera:acr:1fa');
    expect(t.vonage.to(phoneFor(14))).toHaveLength(1);
    const demanded = await tokensFor({ prompt: 'login', acr_values: SMS }, async () => {
      await password(u.email);
      await expectHeading(page, 'Check your phone');
      await enterSmsCode(phoneFor(14), 2);
    });
    expect(demanded.amr).toEqual(['pwd', 'sms', 'mfa']);
  });

  it('tells the user when Vonage refuses the SMS, and nothing gets verified', async () => {
    const u = await user();
    t.vonage.mode = 'error-status';
    try {
      const started = await rp.start({ prompt: '', acr_values: SMS });
      await page.goto(started.url.href);
      await password(u.email);
      await page.fill('#phone_number', phoneFor(13));
      await page.click('button:has-text("Send code")');
      await expectHeading(page, 'Verify your phone');
      expect(await page.locator('#code-error').innerText()).toContain('couldn’t send the code');
      await shot(page, 'sms-failed');
      expect(await t.store.accounts.findById(u.id)).toMatchObject({ phoneNumber: null, phoneNumberVerified: false });
      const events = await t.store.audit.list({ type: 'sms.delivery_failed', accountId: u.id });
      expect(events.length).toBeGreaterThan(0);
    } finally {
      t.vonage.mode = 'ok';
    }
  });
});
