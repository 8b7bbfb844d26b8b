// The whole core journey with real parts: Chromium registers and confirms by the mail the SMTP sink
// received, openid-client runs code + PKCE, validates the ID token, calls userinfo, refreshes, logs out.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import type { Page } from 'playwright-core';
import { startJourney, type Journey } from '../support/journey.ts';
import { expectHeading } from '../support/browser.ts';
import { type RelyingParty, type RpServer, decodeJwt } from '../support/rp.ts';
import { codeFrom } from '../support/smtp-sink.ts';
import { shot } from '../support/screens.ts';

let j: Journey;
let t: Journey['t'];
let page: Page;
let rp: RelyingParty;
let rpServer: RpServer;
const nextArrival = () => rpServer.nextArrival(15_000, page);

beforeAll(async () => {
  j = await startJourney();
  ({ t, page, rp, rpServer } = j);
});

afterAll(() => j?.stop());

describe('core sign-in journey', () => {
  let tokens: Awaited<ReturnType<RelyingParty['finish']>>;
  let sub: string;

  it('registers in the browser, confirms the email from the real mail, consents and returns a code', async () => {
    const started = await rp.start();
    await page.goto(started.url.href);
    await expectHeading(page, 'Sign in');
    expect(await page.locator('.client').innerText()).toContain('Example Shop');
    await shot(page, 'login');
    await page.click('text=Create one');
    await page.fill('#name', 'Ada Lovelace');
    await page.fill('#email', 'ada@example.com');
    await page.fill('#password', 'analytical engine 1843');
    await page.fill('#password_confirm', 'analytical engine 1843');
    await page.fill('#phone_number', '+33 6 12 34 56 78');
    await shot(page, 'register');
    await page.click('button[type=submit]');
    await expectHeading(page, 'Confirm your email');
    await shot(page, 'email-confirm');
    const mail = await t.smtp.waitFor('ada@example.com');
    expect(mail.subject).toBe('Confirm your email address');
    await page.fill('#code', codeFrom(mail.text));
    await page.click('button:has-text("Confirm")');
    await expectHeading(page, 'Allow access?');
    await shot(page, 'consent');
    await page.click('button:has-text("Allow")');
    const callback = await nextArrival();
    tokens = await rp.finish(callback, started);
    const claims = tokens.claims()!;
    sub = claims.sub;
    expect(claims.iss).toBe(t.issuer);
    expect(claims.amr).toEqual(['pwd']);
    expect(claims.acr).toBe('urn:tessera:acr:1fa');
    expect(decodeJwt(tokens.id_token!)).toMatchObject({ sub });
    const header = JSON.parse(Buffer.from(tokens.id_token!.split('.')[0], 'base64url').toString());
    expect(header.alg).toBe('ES256');
  });

  it('serves truthful claims from userinfo', async () => {
    const info = await rp.userinfo(tokens.access_token, sub);
    expect(info).toMatchObject({
      sub,
      name: 'Ada Lovelace',
      email: 'ada@example.com',
      email_verified: true,
      phone_number: '+33612345678',
      phone_number_verified: false,
    });
  });

  it('rotates refresh tokens and rejects a used one', async () => {
    const first = tokens.refresh_token!;
    expect(first).toBeTruthy();
    const refreshed = await rp.refresh(first);
    expect(refreshed.refresh_token).toBeTruthy();
    expect(refreshed.refresh_token).not.toBe(first);
    expect(refreshed.claims()!.sub).toBe(sub);
    const again = await rp.refresh(refreshed.refresh_token!);
    expect(again.access_token).toBeTruthy();
    await expect(rp.refresh(first)).rejects.toMatchObject({ error: 'invalid_grant' });
  });

  it('logs out through RP-initiated logout, after which prompt=none needs a login', async () => {
    await page.goto(rp.logoutUrl(tokens.id_token!).href);
    await expectHeading(page, 'Sign out?');
    await shot(page, 'logout');
    await page.click('button:has-text("Sign out")');
    const back = new URL(await nextArrival());
    expect(`${back.origin}${back.pathname}`).toBe(rpServer.postLogoutUri);
    expect(back.searchParams.get('state')).toBe('bye');

    const silent = await rp.start({ prompt: 'none' });
    await page.goto(silent.url.href);
    const answer = new URL(await nextArrival());
    expect(answer.searchParams.get('error')).toBe('login_required');
    expect(answer.searchParams.get('state')).toBe(silent.state);
  });

  it('signs in again with the password; consent is remembered for the account, so it isn\'t asked again', async () => {
    const started = await rp.start({ prompt: '' });
    await page.goto(started.url.href);
    await page.fill('#email', 'ada@example.com');
    await page.fill('#password', 'analytical engine 1843');
    await page.click('button:has-text("Continue")');
    // Refresh-token reuse revoked the grant (its tokens), not what the user allowed the app (issue 13).
    const callback = await nextArrival();
    const again = await rp.finish(callback, started);
    expect(again.claims()!.sub).toBe(sub);
    expect(again.claims()!.amr).toEqual(['pwd']);
  });

  it('resets a forgotten password with a code by email, without revealing which emails exist', async () => {
    const started = await rp.start({ prompt: 'login' });
    await page.goto(started.url.href);
    await page.click('text=Forgot your password?');
    await expectHeading(page, 'Reset your password');
    await page.fill('#email', 'nobody@example.com');
    await page.click('button:has-text("Send code")');
    await expectHeading(page, 'Choose a new password');
    const unknownText = await page.locator('main p').first().innerText();
    await page.goBack();
    await page.fill('#email', 'ada@example.com');
    await page.click('button:has-text("Send code")');
    await expectHeading(page, 'Choose a new password');
    expect((await page.locator('main p').first().innerText()).replace('ada@example.com', 'X')).toBe(unknownText.replace('nobody@example.com', 'X'));
    await shot(page, 'reset');
    const mail = await t.smtp.waitFor('ada@example.com', (m) => m.subject === 'Reset your password');
    await page.fill('#code', codeFrom(mail.text));
    await page.fill('#password', 'a brand new passphrase');
    await page.fill('#password_confirm', 'a brand new passphrase');
    await page.click('button:has-text("Change password")');
    await expectHeading(page, 'Sign in');
    expect(await page.locator('.alert-ok').innerText()).toContain('password was changed');
    await page.fill('#password', 'analytical engine 1843');
    await page.click('button:has-text("Continue")');
    await expectHeading(page, 'Sign in');
    await page.fill('#password', 'a brand new passphrase');
    await page.click('button:has-text("Continue")');
    // The reset revoked the account's grants and tokens; what the user allowed the app stays remembered.
    const tokens2 = await rp.finish(await nextArrival(), started);
    expect(tokens2.claims()!.sub).toBe(sub);
  });
});
