// Security notices (issue 13): every security-relevant change mails the user (read from the SMTP sink)
// and stays in the audit log, and each notice says what happened, when (UTC), from where (IP address and
// browser) and what to do if it wasn't them. Over raw HTTP with a real relying party. The "new browser"
// notice (NOTIFY_NEW_BROWSER) keeps its memory in the store, so it runs on both stores.
// (Email change and password reset have their own files: email-change.test.ts, reset-by-sms.test.ts.)
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { startTessera, type RunningTessera } from '../support/tessera.ts';
import { startMongoTestServer, type MongoTestServer } from '../support/mongo-test-server.ts';
import { openMongoStore } from '../../src/store/mongo/index.ts';
import { HttpClient, csrfOf } from '../support/http.ts';
import { codeFrom, type ReceivedMail } from '../support/smtp-sink.ts';
import { httpRp, signIn, proveFresh, authUrl, finish, REDIRECT, type HttpRp } from '../support/rp-http.ts';

const PASSWORD = 'notices passphrase one';
const CHROME_WINDOWS = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36';
const SAFARI_IOS = 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1';
const FIREFOX_LINUX = 'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0';

/** What every notice must say besides what happened: when, from where, and what to do. */
function expectParts(t: RunningTessera, mail: ReceivedMail, browser: string) {
  expect(mail.text).toMatch(/\nWhen: \d{4}-\d\d-\d\d \d\d:\d\d UTC\n/);
  expect(mail.text).toContain(`Where: IP address 127.0.0.1, ${browser}`);
  expect(mail.text).toContain(`If this wasn’t you`);
  expect(mail.text).toContain(`${t.issuer}/account`);
  expect(mail.text).toContain('Forgot your password?');
}

describe('security notices for each change', () => {
  let t: RunningTessera;
  let rp: HttpRp;
  beforeAll(async () => {
    t = await startTessera();
    rp = await httpRp(t);
  });
  afterAll(() => t?.stop());

  it('factor on and off, new recovery codes, phone changed, password changed and a recovery code used each mail the user and are audited', async () => {
    const s = t.built.services;
    const email = 'watched@example.com';
    const phone = '+12015550301';
    const a = await s.accounts.register({ name: 'Watched', email, password: PASSWORD, email_verified: true, phone_number: phone, phone_number_verified: true, mfa: ['sms'] });
    await s.recovery.generate(a.id);
    const http = new HttpClient(t.issuer, { 'user-agent': CHROME_WINDOWS });
    await signIn(t, http, rp, { email, password: PASSWORD, smsTo: phone });
    await proveFresh(t, http, '/account/mfa/email/enable', { password: PASSWORD, smsTo: phone, smsCount: 2 });
    const csrf = csrfOf(await (await http.get('/account')).text());
    const notice = async (subject: string) => {
      const mail = await t.smtp.waitFor(email, (m) => m.subject === subject);
      expectParts(t, mail, 'Chrome on Windows');
      return mail;
    };

    // A factor added...
    const enrol = await http.post('/account/mfa/email/enable', { _csrf: csrf });
    expect(enrol.status).toBe(200);
    const code = codeFrom((await t.smtp.waitFor(email, (m) => m.subject === 'Turn on sign-in codes by email')).text);
    expect((await http.post('/account/mfa/email/confirm', { _csrf: csrf, code })).headers.get('location')).toBe('/account?done=email-on');
    expect((await notice('Two-step sign-in: Code by email turned on')).text).toContain('Code by email was turned on');
    // ...and removed.
    expect((await http.post('/account/mfa/email/disable', { _csrf: csrf })).headers.get('location')).toBe('/account?done=email-off');
    await notice('Two-step sign-in: Code by email turned off');

    // New recovery codes.
    const regenerated = await http.post('/account/recovery', { _csrf: csrf });
    const codes = [...new Set([...(await regenerated.text()).matchAll(/\b([a-z2-9]{5}-[a-z2-9]{5})\b/g)].map((m) => m[1]))];
    expect(codes.length).toBe(10);
    expect((await notice('New recovery codes were created')).text).toContain('no longer work');

    // The sign-in phone replaced: the mailbox and the old number hear of it.
    const phoneForm = await http.get('/account/phone');
    expect(phoneForm.status).toBe(200);
    await http.post('/account/phone', { _csrf: csrfOf(await phoneForm.text()), phone_number: '+12015550302' });
    const verify = await http.get('/account/phone/verify');
    const phoneCode = codeFrom((await t.vonage.waitFor('+12015550302')).text);
    expect((await http.post('/account/phone/verify', { _csrf: csrfOf(await verify.text()), code: phoneCode })).headers.get('location')).toBe('/account?done=phone');
    expect((await notice('Your sign-in phone number was changed')).text).toContain('ending in 0302');
    expect((await t.vonage.waitFor(phone, 3)).text).toMatch(/changed to one ending in 0302/);

    // The password changed.
    const pwForm = await http.get('/account/password');
    expect(pwForm.status).toBe(200);
    const changed = await http.post('/account/password', { _csrf: csrfOf(await pwForm.text()), password: 'notices passphrase two', password_confirm: 'notices passphrase two' });
    expect(changed.headers.get('location')).toBe('/account?done=password');
    await notice('Your password was changed');

    // A recovery code used at sign-in, in another browser.
    const other = new HttpClient(t.issuer, { 'user-agent': SAFARI_IOS });
    const started = await authUrl(rp);
    const login = await other.follow(started.url.href);
    const path = new URL(login.url).pathname;
    const pw = await other.post(`${path}/login`, { _csrf: csrfOf(await login.res.text()), email, password: 'notices passphrase two' });
    const step = await other.follow(pw.headers.get('location')!);
    const stepHtml = await step.res.text();
    expect(stepHtml).toContain('Use a recovery code');
    const used = await other.post(`${path}/factor/recovery`, { _csrf: csrfOf(stepHtml), recovery_code: codes[0] });
    expect(used.status).toBe(302);
    let { res, url } = await other.follow(used.headers.get('location')!);
    if (!url.startsWith(REDIRECT)) {
      const consent = await other.post(`${new URL(url).pathname}/consent`, { _csrf: csrfOf(await res.text()) });
      ({ url } = await other.follow(consent.headers.get('location')!));
    }
    await finish(rp, url, started);
    const recoveryMail = await t.smtp.waitFor(email, (m) => m.subject === 'A recovery code was used');
    expectParts(t, recoveryMail, 'Safari on iOS');
    expect(recoveryMail.text).toContain('9 codes are left');

    // Each change is in the audit log, with its notice.
    for (const type of ['mfa.enabled', 'mfa.disabled', 'mfa.recovery_regenerated', 'phone.verified', 'password.changed', 'mfa.recovery_code_used'])
      expect((await t.store.audit.list({ accountId: a.id, type })).length, type).toBeGreaterThan(0);
    const end = Date.now() + 5000;
    const abouts = async () => (await t.store.audit.list({ accountId: a.id, type: 'notice.sent' })).map((e) => e.detail.about);
    while (Date.now() < end && !(await abouts()).includes('recovery-used')) await new Promise((r) => setTimeout(r, 50));
    expect(new Set(await abouts())).toEqual(new Set(['factor', 'recovery-regenerated', 'phone', 'password', 'recovery-used']));
  }, 180_000);

  it('a recovery code used to confirm a change is told too', async () => {
    const s = t.built.services;
    const email = 'proving@example.com';
    const a = await s.accounts.register({ name: 'Proving', email, password: PASSWORD, email_verified: true, phone_number: '+12015550311', phone_number_verified: true, mfa: ['sms'] });
    const [code] = await s.recovery.generate(a.id);
    const http = new HttpClient(t.issuer, { 'user-agent': FIREFOX_LINUX });
    await signIn(t, http, rp, { email, password: PASSWORD, smsTo: '+12015550311' });
    const page = await http.get('/account/confirm?next=%2Faccount%2Frecovery');
    const pw = await http.post('/account/confirm', { _csrf: csrfOf(await page.text()), next: '/account/recovery', password: PASSWORD });
    const html = await pw.text();
    const done = await http.post('/account/confirm/code', { _csrf: csrfOf(html), next: '/account/recovery', recovery_code: code });
    expect(done.headers.get('location')).toBe('/account/recovery');
    const mail = await t.smtp.waitFor(email, (m) => m.subject === 'A recovery code was used');
    expectParts(t, mail, 'Firefox on Linux');
    expect((await t.store.audit.list({ accountId: a.id, type: 'mfa.recovery_code_used' }))[0]?.detail).toMatchObject({ reauth: true });
  });

  it('with NOTIFY_NEW_BROWSER off (the default) sign-ins from new browsers send nothing', async () => {
    const s = t.built.services;
    const a = await s.accounts.register({ name: 'Quiet', email: 'quiet@example.com', password: PASSWORD, email_verified: true });
    await signIn(t, new HttpClient(t.issuer, { 'user-agent': FIREFOX_LINUX }), rp, { email: 'quiet@example.com', password: PASSWORD });
    await signIn(t, new HttpClient(t.issuer, { 'user-agent': CHROME_WINDOWS }), rp, { email: 'quiet@example.com', password: PASSWORD });
    expect(await t.store.audit.list({ accountId: a.id, type: 'login.new_browser' })).toHaveLength(0);
    await new Promise((r) => setTimeout(r, 300));
    expect(t.smtp.mails.filter((m) => m.to === 'quiet@example.com')).toHaveLength(0);
  }, 180_000);
});

describe.each(['sqlite', 'mongo'] as const)('new-browser notice (NOTIFY_NEW_BROWSER=on) on %s', (kind) => {
  let mongo: MongoTestServer | undefined;
  let t: RunningTessera;
  let rp: HttpRp;
  beforeAll(async () => {
    if (kind === 'mongo') mongo = await startMongoTestServer();
    t = await startTessera({ env: { NOTIFY_NEW_BROWSER: 'on' }, ...(mongo ? { store: await openMongoStore({ uri: mongo.uri }) } : {}) });
    rp = await httpRp(t);
  });
  afterAll(async () => {
    await t?.stop();
    await mongo?.stop();
  });

  it('the account’s first browser is only remembered; a browser it hasn’t used before gets a notice once', async () => {
    const email = `roamer-${kind}@example.com`;
    const a = await t.built.services.accounts.register({ name: 'Roamer', email, password: PASSWORD, email_verified: true });
    const newBrowser = async () => (await t.store.audit.list({ accountId: a.id, type: 'login.new_browser' })).length;
    const home = new HttpClient(t.issuer, { 'user-agent': FIREFOX_LINUX });
    await signIn(t, home, rp, { email, password: PASSWORD });
    await signIn(t, home, rp, { email, password: PASSWORD, params: { prompt: 'login' } });
    expect(await newBrowser()).toBe(0);

    const away = new HttpClient(t.issuer, { 'user-agent': CHROME_WINDOWS });
    await signIn(t, away, rp, { email, password: PASSWORD });
    expect(await newBrowser()).toBe(1);
    const mail = await t.smtp.waitFor(email, (m) => m.subject === 'New sign-in to your account');
    expect(mail.text).toContain('from a browser it hadn’t used before');
    expectParts(t, mail, 'Chrome on Windows');
    expect((await t.store.audit.list({ accountId: a.id, type: 'login.new_browser' }))[0]?.detail).toMatchObject({ browser: 'Chrome on Windows' });

    // Both are known now.
    await signIn(t, away, rp, { email, password: PASSWORD, params: { prompt: 'login' } });
    await signIn(t, home, rp, { email, password: PASSWORD, params: { prompt: 'login' } });
    expect(await newBrowser()).toBe(1);
    await new Promise((r) => setTimeout(r, 300));
    expect(t.smtp.mails.filter((m) => m.to === email && m.subject === 'New sign-in to your account')).toHaveLength(1);
  }, 180_000);
});
