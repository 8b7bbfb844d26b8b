// Self-service as a person does it (issue 13), Chromium as the user and openid-client as the relying
// party, the SMTP sink and the Vonage stub as the user's mailbox and phone: changing the email address
// on /account (confirmed by a code; the claims follow; the old address is told), and "Forgot your
// password?" with the code by text message (the second factor is still asked afterwards). Every new page
// is screenshotted at a phone's and a desktop's width when SCREENSHOTS=dir is set.
import { describe, it, expect, beforeAll, afterAll, beforeEach } from 'vitest';
import type { Page } from 'playwright-core';
import { startJourney, type Journey } from '../support/journey.ts';
import { expectHeading } from '../support/browser.ts';
import type { RelyingParty, RpServer } from '../support/rp.ts';
import { codeFrom } from '../support/smtp-sink.ts';
import { shot } from '../support/screens.ts';

const PASSWORD = 'correct horse battery staple';
const NEW_PASSWORD = 'a fresh and better passphrase';

let j: Journey;
let t: Journey['t'];
let page: Page;
let rpServer: RpServer;
let rp: RelyingParty;

beforeAll(async () => {
  j = await startJourney({ tessera_first_party: true });
  ({ t, page, rpServer, rp } = j);
});
afterAll(() => j?.stop());
beforeEach(async () => {
  await j.browser.context.clearCookies();
});

/** The page at a phone's and a desktop's width (SCREENSHOTS=dir), then back to the default size. */
async function both(name: string) {
  for (const width of [390, 1280]) {
    await page.setViewportSize({ width, height: 800 });
    await shot(page, `${name}-${width}`);
  }
  await page.setViewportSize({ width: 1280, height: 720 });
}

async function password(email: string, pw = PASSWORD) {
  await page.fill('#email', email);
  await page.fill('#password', pw);
  await page.click('button:has-text("Continue")');
}

const alertsText = () => page.locator('[role=alert]').allInnerTexts().then((a) => a.join(' '));

describe('email change', () => {
  it('confirms the new address by a code before it replaces the old one; the claims follow and the old address is told', async () => {
    const s = t.built.services;
    const old = 'first-address@example.com';
    const next = 'second-address@example.org';
    const a = await s.accounts.register({ name: 'Ada Mover', email: old, password: PASSWORD, email_verified: true });
    await s.accounts.register({ name: 'Someone Else', email: 'taken-address@example.org', password: PASSWORD, email_verified: true });

    // Signed in to the app first: its userinfo says the old address.
    const first = await rp.start({ prompt: 'login' });
    await page.goto(first.url.href);
    await password(old);
    const firstTokens = await rp.finish(await rpServer.nextArrival(15_000, page), first);

    await page.goto(`${t.issuer}/account`);
    await expectHeading(page, 'Your account');
    await page.click('a:has-text("Change email")');
    await expectHeading(page, 'Confirm it’s you');
    await page.fill('#password', PASSWORD);
    await page.click('button:has-text("Continue")');
    await expectHeading(page, 'Change your email address');
    expect(await page.locator('main').innerText()).toContain(`Your account’s email is ${old}`);
    await both('account-email');

    // Bad input: said next to the field, nothing sent.
    await page.fill('#email', 'not an address');
    await page.click('button:has-text("Send code")');
    await expectHeading(page, 'Change your email address');
    expect(await page.locator('#email-error').innerText()).toContain('Enter a valid email address');
    expect(await page.locator('#email').getAttribute('aria-invalid')).toBe('true');
    await both('account-email-error');

    await page.fill('#email', next);
    await page.click('button:has-text("Send code")');
    await expectHeading(page, 'Confirm your new email');
    expect(await page.locator('main').innerText()).toContain(`We emailed a 6-digit code to ${next}`);
    await both('account-email-verify');
    expect((await t.store.accounts.findById(a.id))!.email).toBe(old);
    expect(await rp.userinfo(firstTokens.access_token, a.id)).toMatchObject({ email: old, email_verified: true });

    const mail = await t.smtp.waitFor(next, (m) => m.subject === 'Confirm your new email address');
    await page.fill('#code', '000000' === codeFrom(mail.text) ? '111111' : '000000');
    await page.click('button:has-text("Verify")');
    expect(await alertsText()).toMatch(/That code isn’t right\. 4 tries left/);
    await both('account-email-verify-wrong');
    await page.fill('#code', codeFrom(mail.text));
    await page.click('button:has-text("Verify")');
    await expectHeading(page, 'Your account');
    expect(await page.locator('[role=status]').innerText()).toContain('Your email address was changed.');
    expect(await page.locator('main').innerText()).toContain(next);
    await both('account-email-done');

    const notice = await t.smtp.waitFor(old, (m) => m.subject === 'Your sign-in email address was changed');
    expect(notice.text).toMatch(/Where: IP address 127\.0\.0\.1, Chrome on Linux/);

    // A new sign-in with the new address: userinfo says it, confirmed.
    const again = await rp.start({ prompt: 'login' });
    await page.goto(again.url.href);
    await password(next);
    const tokens = await rp.finish(await rpServer.nextArrival(15_000, page), again);
    expect(tokens.claims()).toMatchObject({ sub: a.id });
    expect(await rp.userinfo(tokens.access_token, a.id)).toMatchObject({ email: next, email_verified: true });
  }, 180_000);
});

describe('forgot password by text message', () => {
  it('texts the code to the verified phone, resets the password, and the next sign-in still asks for the SMS step', async () => {
    const s = t.built.services;
    const email = 'forgetful@example.com';
    const phone = '+12015550177';
    const a = await s.accounts.register({ name: 'Forgetful', email, password: PASSWORD, email_verified: true, phone_number: phone, phone_number_verified: true, mfa: ['sms'] });

    const started = await rp.start({ prompt: 'login' });
    await page.goto(started.url.href);
    await expectHeading(page, 'Sign in');
    await page.click('a:has-text("Forgot your password?")');
    await expectHeading(page, 'Reset your password');
    await both('forgot');
    // Bad input: said next to the field.
    await page.click('button:has-text("Send code")');
    expect(await page.locator('#email-error').innerText()).toContain('Enter your email address');
    await both('forgot-error');

    await page.fill('#email', email);
    await page.check('#via-sms');
    await page.click('button:has-text("Send code")');
    await expectHeading(page, 'Choose a new password');
    expect(await page.locator('main').innerText()).toContain('we texted a 6-digit code to its verified mobile number, or emailed the code if it has none');
    expect(await page.locator('label[for=code]').innerText()).toBe('Code from the text message or email');
    await both('reset-sms');

    const sms = await t.vonage.waitFor(phone, 1);
    await page.fill('#code', codeFrom(sms.text));
    await page.fill('#password', NEW_PASSWORD);
    await page.fill('#password_confirm', 'not the same passphrase');
    await page.click('button:has-text("Change password")');
    expect(await page.locator('#password_confirm-error').innerText()).toContain('don’t match');
    await both('reset-sms-error');
    // The same code still works (a mismatch never spends it).
    await page.fill('#code', codeFrom(sms.text));
    await page.fill('#password', NEW_PASSWORD);
    await page.fill('#password_confirm', NEW_PASSWORD);
    await page.click('button:has-text("Change password")');
    await expectHeading(page, 'Sign in');
    expect(await page.locator('[role=status]').innerText()).toContain('Your password was changed');

    // The second factor is still asked: the SMS step after the new password.
    await password(email, NEW_PASSWORD);
    await expectHeading(page, 'Check your phone');
    await page.fill('#code', codeFrom((await t.vonage.waitFor(phone, 2)).text));
    await page.click('button:has-text("Verify")');
    const tokens = await rp.finish(await rpServer.nextArrival(15_000, page), started);
    expect(tokens.claims()).toMatchObject({ sub: a.id, amr: ['pwd', 'sms', 'mfa'] });

    const notice = await t.smtp.waitFor(email, (m) => m.subject === 'Your password was changed');
    expect(notice.text).toContain('texted to your phone number ending in 0177');
  }, 180_000);
});
