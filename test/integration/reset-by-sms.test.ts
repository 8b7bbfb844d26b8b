// "Forgot your password?" with the code by text message (issue 13), over raw HTTP with a real relying
// party, on both stores: the code texted to the verified phone (read from the Vonage stub) resets the
// password and the next sign-in still asks for the second factor; the page, its answer to a wrong code
// and the work done are the same for an account with a phone, one without (which gets the code by email)
// and an unknown address; costly ranges are never texted and the SMS caps apply; bad input is refused.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { startTessera, type RunningTessera } from '../support/tessera.ts';
import { startMongoTestServer, type MongoTestServer } from '../support/mongo-test-server.ts';
import { openMongoStore } from '../../src/store/mongo/index.ts';
import { HttpClient, csrfOf } from '../support/http.ts';
import { codeFrom } from '../support/smtp-sink.ts';
import { httpRp, authUrl, finish, REDIRECT, type HttpRp, type Started } from '../support/rp-http.ts';

const PASSWORD = 'the first passphrase';
const NEW_PASSWORD = 'a brand new passphrase';
const alerts = (html: string) => [...html.matchAll(/role="alert"[^>]*>([^<]*)</g)].map((m) => m[1]);

/** One browser at the sign-in page of a fresh authorization request. */
async function atSignIn(t: RunningTessera, rp: HttpRp) {
  const http = new HttpClient(t.issuer);
  const started = await authUrl(rp, { prompt: 'login' });
  const { url } = await http.follow(started.url.href);
  return { http, started, path: new URL(url).pathname };
}

/** Asks for a reset code the given way; returns the reset page. */
async function forgot(b: Awaited<ReturnType<typeof atSignIn>>, email: string, via?: string) {
  const form = await b.http.get(`${b.path}/forgot`);
  const html = await form.text();
  const res = await b.http.post(`${b.path}/forgot`, { _csrf: csrfOf(html), email, ...(via !== undefined ? { via } : {}) });
  return { status: res.status, html: await res.text(), form: html };
}

describe.each(['sqlite', 'mongo'] as const)('password reset by text message on %s', (kind) => {
  let mongo: MongoTestServer | undefined;
  let t: RunningTessera;
  let rp: HttpRp;
  let n = 0;

  beforeAll(async () => {
    if (kind === 'mongo') mongo = await startMongoTestServer();
    t = await startTessera(mongo ? { store: await openMongoStore({ uri: mongo.uri }) } : {});
    rp = await httpRp(t);
  });
  afterAll(async () => {
    await t?.stop();
    await mongo?.stop();
  });

  async function user(opts: { phone?: string; sms?: boolean } = {}) {
    n += 1;
    const email = `forgetful${n}-${kind}@example.com`;
    const account = await t.built.services.accounts.register({
      name: `Forgetful ${n}`, email, password: PASSWORD, email_verified: true,
      phone_number: opts.phone, phone_number_verified: Boolean(opts.phone), mfa: opts.sms ? ['sms'] : [],
    });
    return { email, id: account.id };
  }

  it('a code texted to the verified phone resets the password, and the next sign-in still asks for the second factor', async () => {
    const phone = `+120155502${10 + (kind === 'mongo' ? 1 : 0)}`;
    const u = await user({ phone, sms: true });
    const b = await atSignIn(t, rp);
    const page = await forgot(b, u.email, 'sms');
    expect(page.form).toContain('By text message');
    expect(page.status).toBe(200);
    expect(page.html).toContain('we texted a 6-digit code to its verified mobile number, or emailed the code if it has none');
    expect(page.html).not.toContain(phone.slice(-4)); // never a hint of the number

    const sms = await t.vonage.waitFor(phone, 1);
    expect(sms.text).toMatch(/to reset your password/);
    const done = await b.http.post(`${b.path}/reset`, {
      _csrf: csrfOf(page.html), email: u.email, via: 'sms', code: codeFrom(sms.text), password: NEW_PASSWORD, password_confirm: NEW_PASSWORD,
    });
    const login = await done.text();
    expect(login).toContain('Your password was changed');
    expect(t.smtp.mails.filter((m) => m.to === u.email && m.subject === 'Reset your password')).toHaveLength(0);
    const notice = await t.smtp.waitFor(u.email, (m) => m.subject === 'Your password was changed');
    expect(notice.text).toContain(`reset with a code texted to your phone number ending in ${phone.slice(-4)}`);
    expect(notice.text).toMatch(/When: .* UTC\nWhere: IP address 127\.0\.0\.1/);
    expect((await t.store.audit.list({ accountId: u.id, type: 'password.reset' }))[0]?.detail).toMatchObject({ via: 'sms' });

    // The same sign-in goes on: the new password, then the SMS step as always (a reset never skips it).
    const pw = await b.http.post(`${b.path}/login`, { _csrf: csrfOf(login), email: u.email, password: NEW_PASSWORD });
    expect(pw.status).toBe(302);
    const step = await b.http.follow(pw.headers.get('location')!);
    const stepHtml = await step.res.text();
    expect(step.url.startsWith(REDIRECT)).toBe(false);
    expect(stepHtml).toContain('Check your phone');
    const code = codeFrom((await t.vonage.waitFor(phone, 2)).text);
    const answered = await b.http.post(`${b.path}/sms`, { _csrf: csrfOf(stepHtml), code });
    expect(answered.status).toBe(302);
    const back = await b.http.follow(answered.headers.get('location')!);
    let url = back.url;
    if (!url.startsWith(REDIRECT)) {
      const consent = await back.res.text();
      expect(consent).toContain('Allow access?');
      const ok = await b.http.post(`${new URL(url).pathname}/consent`, { _csrf: csrfOf(consent) });
      url = (await b.http.follow(ok.headers.get('location')!)).url;
    }
    const tokens = await finish(rp, url, b.started as Started);
    expect(tokens.claims()).toMatchObject({ sub: u.id, amr: ['pwd', 'sms', 'mfa'] });
  });

  it('the page, a wrong code’s answer and the work are the same for an account with a phone, one without, and an unknown address', async () => {
    const phone = `+120155502${20 + (kind === 'mongo' ? 1 : 0)}`;
    const withPhone = await user({ phone });
    const noPhone = await user();
    const unknown = `nobody${n}-${kind}@example.com`;
    const strip = (html: string, email: string) =>
      html.replace(/name="_csrf" value="[^"]+"/g, '').replace(/\/interaction\/[^/"]+/g, '').replaceAll(email, 'X');
    const tryIt = async (email: string) => {
      const b = await atSignIn(t, rp);
      const page = await forgot(b, email, 'sms');
      const wrong = await b.http.post(`${b.path}/reset`, {
        _csrf: csrfOf(page.html), email, via: 'sms', code: '000000', password: NEW_PASSWORD, password_confirm: NEW_PASSWORD,
      });
      const wrongHtml = await wrong.text();
      return { b, page, seen: { status: page.status, html: strip(page.html, email), wrong: wrong.status, alerts: alerts(wrongHtml) }, csrf: csrfOf(wrongHtml) };
    };
    const a = await tryIt(withPhone.email);
    const c = await tryIt(noPhone.email);
    const d = await tryIt(unknown);
    expect(a.seen.alerts.join(' ')).toMatch(/isn’t right\. 4 tries left/);
    expect(c.seen).toEqual(a.seen);
    expect(d.seen).toEqual(a.seen);

    // Only the account with a phone got a text; the one without got the code by email, and it works there.
    await t.vonage.waitFor(phone, 1);
    const mailed = await t.smtp.waitFor(noPhone.email, (m) => m.subject === 'Reset your password');
    const done = await c.b.http.post(`${c.b.path}/reset`, {
      _csrf: c.csrf, email: noPhone.email, via: 'sms', code: codeFrom(mailed.text), password: NEW_PASSWORD, password_confirm: NEW_PASSWORD,
    });
    expect(await done.text()).toContain('Your password was changed');
    expect(t.smtp.mails.filter((m) => m.to === unknown)).toHaveLength(0);
    expect((await t.store.audit.list({ accountId: withPhone.id, type: 'password.reset_requested' }))[0]?.detail).toMatchObject({ via: 'sms' });
    expect((await t.store.audit.list({ accountId: noPhone.id, type: 'password.reset_requested' }))[0]?.detail).toMatchObject({ via: 'email' });
  });

  it('asking the other way sends a fresh code that way, and the first way’s code stops working', async () => {
    const phone = `+120155502${30 + (kind === 'mongo' ? 1 : 0)}`;
    const u = await user({ phone });
    const b = await atSignIn(t, rp);
    const byMail = await forgot(b, u.email, 'email');
    expect(byMail.html).toContain('Send it by text message instead');
    const mailed = await t.smtp.waitFor(u.email, (m) => m.subject === 'Reset your password');
    const switched = await b.http.post(`${b.path}/forgot`, { _csrf: csrfOf(byMail.html), email: u.email, via: 'sms' });
    const smsPage = await switched.text();
    expect(smsPage).toContain('Send it by email instead');
    const sms = await t.vonage.waitFor(phone, 1);
    const stale = await b.http.post(`${b.path}/reset`, {
      _csrf: csrfOf(smsPage), email: u.email, via: 'email', code: codeFrom(mailed.text), password: NEW_PASSWORD, password_confirm: NEW_PASSWORD,
    });
    expect(alerts(await stale.text()).join(' ')).toMatch(/isn’t valid any more/);
    const done = await b.http.post(`${b.path}/reset`, {
      _csrf: csrfOf(smsPage), email: u.email, via: 'sms', code: codeFrom(sms.text), password: NEW_PASSWORD, password_confirm: NEW_PASSWORD,
    });
    expect(await done.text()).toContain('Your password was changed');
  });

  it('a reset by text proves the phone, not the mailbox: an unconfirmed address stays unconfirmed and the phone stays', async () => {
    n += 1;
    const email = `unconfirmed${n}-${kind}@example.com`;
    const phone = `+120155502${50 + (kind === 'mongo' ? 1 : 0)}`;
    const account = await t.built.services.accounts.register({ name: 'Unconfirmed', email, password: PASSWORD, email_verified: false, phone_number: phone, phone_number_verified: true });
    const b = await atSignIn(t, rp);
    const page = await forgot(b, email, 'sms');
    const sms = await t.vonage.waitFor(phone, 1);
    const done = await b.http.post(`${b.path}/reset`, {
      _csrf: csrfOf(page.html), email, via: 'sms', code: codeFrom(sms.text), password: NEW_PASSWORD, password_confirm: NEW_PASSWORD,
    });
    expect(await done.text()).toContain('Your password was changed');
    expect(await t.store.accounts.findById(account.id)).toMatchObject({ emailVerified: false, phoneNumber: phone, phoneNumberVerified: true });
  });

  it('bad input on the forgot and reset forms gets a clear error next to the field and changes nothing', async () => {
    const u = await user({ phone: `+120155502${40 + (kind === 'mongo' ? 1 : 0)}` });
    const before = (await t.store.accounts.findById(u.id))!.passwordHash;
    const b = await atSignIn(t, rp);
    const empty = await forgot(b, '', 'sms');
    expect(empty.status).toBe(400);
    expect(empty.html).toMatch(/id="email-error"[^>]*role="alert"[^>]*>Enter your email address/);
    expect(empty.html).toMatch(/id="via-sms"[^>]*checked/); // the choice is kept
    // An unknown way is the default way (email).
    const odd = await forgot(b, u.email, 'carrier-pigeon');
    expect(odd.status).toBe(200);
    expect(odd.html).toContain('we sent it a 6-digit code');
    const csrf = csrfOf(odd.html);
    const reset = (fields: Record<string, string>) => b.http.post(`${b.path}/reset`, { _csrf: csrf, email: u.email, via: 'email', code: '000000', password: NEW_PASSWORD, password_confirm: NEW_PASSWORD, ...fields });
    const cases: [Record<string, string>, string, RegExp][] = [
      [{ password_confirm: 'something else entirely' }, 'password_confirm', /don’t match/],
      [{ password: 'short', password_confirm: 'short' }, 'password', /at least/i],
      [{ code: '' }, 'code', /isn’t right/],
    ];
    for (const [fields, name, message] of cases) {
      const res = await reset(fields);
      expect(res.status).toBe(400);
      const html = await res.text();
      expect(html).toMatch(new RegExp(`id="${name}-error"[^>]*role="alert"[^>]*>`));
      expect(alerts(html).join(' ')).toMatch(message);
    }
    expect((await t.store.accounts.findById(u.id))!.passwordHash).toBe(before);
  });
});

describe('password reset by text message: costly ranges and SMS caps', () => {
  let t: RunningTessera;
  let rp: HttpRp;
  beforeAll(async () => {
    t = await startTessera({ env: { SMS_PER_NUMBER_HOURLY: '1' } });
    rp = await httpRp(t);
  });
  afterAll(() => t?.stop());

  it('never texts a costly range: same page, the refusal audited, and the email way still works', async () => {
    const s = t.built.services;
    const a = await s.accounts.register({ name: 'Sat', email: 'sat@example.com', password: PASSWORD, email_verified: true });
    // A satellite number stored as verified (as an older release, or an admin, may have left it).
    await t.store.accounts.update(a.id, { phoneNumber: '+881631234567', phoneNumberVerified: true });
    const b = await atSignIn(t, rp);
    const page = await forgot(b, 'sat@example.com', 'sms');
    expect(page.status).toBe(200);
    expect(page.html).toContain('we texted a 6-digit code');
    const end = Date.now() + 10_000;
    while (Date.now() < end && (await t.store.audit.list({ accountId: a.id, type: 'sms.refused' })).length === 0) await new Promise((r) => setTimeout(r, 50));
    expect((await t.store.audit.list({ accountId: a.id, type: 'sms.refused' }))[0]?.detail).toMatchObject({ purpose: 'password-reset' });
    expect(t.vonage.to('+881631234567')).toHaveLength(0);
    const byMail = await b.http.post(`${b.path}/forgot`, { _csrf: csrfOf(page.html), email: 'sat@example.com', via: 'email' });
    const html = await byMail.text();
    const mailed = await t.smtp.waitFor('sat@example.com', (m) => m.subject === 'Reset your password');
    const done = await b.http.post(`${b.path}/reset`, { _csrf: csrfOf(html), email: 'sat@example.com', via: 'email', code: codeFrom(mailed.text), password: NEW_PASSWORD, password_confirm: NEW_PASSWORD });
    expect(await done.text()).toContain('Your password was changed');
  });

  it('counts against the SMS caps: over SMS_PER_NUMBER_HOURLY no text goes out, and the page is the same', async () => {
    const s = t.built.services;
    const a = await s.accounts.register({ name: 'Capped', email: 'capped@example.com', password: PASSWORD, email_verified: true, phone_number: '+12015550250', phone_number_verified: true });
    const first = await forgot(await atSignIn(t, rp), 'capped@example.com', 'sms');
    await t.vonage.waitFor('+12015550250', 1);
    const second = await forgot(await atSignIn(t, rp), 'capped@example.com', 'sms');
    expect(second.status).toBe(first.status);
    const end = Date.now() + 10_000;
    while (Date.now() < end && (await t.store.audit.list({ accountId: a.id, type: 'sms.refused' })).length === 0) await new Promise((r) => setTimeout(r, 50));
    expect((await t.store.audit.list({ accountId: a.id, type: 'sms.refused' }))[0]?.detail).toMatchObject({ rule: 'number_hour', purpose: 'password-reset' });
    expect(t.vonage.to('+12015550250')).toHaveLength(1);
  });
});
