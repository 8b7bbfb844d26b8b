// Changing the account's email address on /account (issue 13), over raw HTTP with a real relying party
// (openid-client), on both stores: the new address is confirmed by a code before it replaces the old one,
// claims follow only then, the old address is told; a taken address gets the same pages and its owner a
// notice, nothing changes; bad input gets an error next to the field and changes nothing; mail caps apply.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import * as oidc from 'openid-client';
import { startTessera, type RunningTessera } from '../support/tessera.ts';
import { startMongoTestServer, type MongoTestServer } from '../support/mongo-test-server.ts';
import { openMongoStore } from '../../src/store/mongo/index.ts';
import { HttpClient, csrfOf } from '../support/http.ts';
import { codeFrom } from '../support/smtp-sink.ts';
import { httpRp, signIn, proveFresh, authUrl, type HttpRp } from '../support/rp-http.ts';

const PASSWORD = 'a passphrase of my own';
const FIREFOX = 'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0';
const alerts = (html: string) => [...html.matchAll(/role="alert"[^>]*>([^<]*)</g)].map((m) => m[1]);

describe.each(['sqlite', 'mongo'] as const)('email change on %s', (kind) => {
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

  async function user() {
    n += 1;
    const email = `mover${n}-${kind}@example.com`;
    const account = await t.built.services.accounts.register({ name: `Mover ${n}`, email, password: PASSWORD, email_verified: true });
    return { email, id: account.id };
  }

  /** A signed-in browser that has just given the fresh proof for /account/email. */
  async function ready(email: string) {
    const http = new HttpClient(t.issuer, { 'user-agent': FIREFOX });
    const tokens = await signIn(t, http, rp, { email, password: PASSWORD });
    expect((await http.get('/account/email')).headers.get('location')).toBe('/account/confirm?next=%2Faccount%2Femail');
    await proveFresh(t, http, '/account/email', { password: PASSWORD });
    const form = await http.get('/account/email');
    expect(form.status).toBe(200);
    return { http, tokens, csrf: csrfOf(await form.text()) };
  }

  it('the new address replaces the old one only once its code comes back; claims follow, the old address is told', async () => {
    const u = await user();
    const next = `moved${n}-${kind}@example.org`;
    const { http, tokens, csrf } = await ready(u.email);
    expect(await oidc.fetchUserInfo(rp.config, tokens.access_token, u.id)).toMatchObject({ email: u.email, email_verified: true });

    const started = await http.post('/account/email', { _csrf: csrf, email: ` ${next.toUpperCase()} ` });
    expect(started.headers.get('location')).toBe('/account/email/verify');
    const page = await http.get('/account/email/verify');
    const html = await page.text();
    expect(html).toContain('We emailed a 6-digit code to');
    expect(html).toContain(next);

    // Until the code comes back the old address is the account's, confirmed as before.
    expect(await t.store.accounts.findById(u.id)).toMatchObject({ email: u.email, emailVerified: true });
    expect(await t.store.accounts.findByEmail(next)).toBeNull();
    expect(await oidc.fetchUserInfo(rp.config, tokens.access_token, u.id)).toMatchObject({ email: u.email, email_verified: true });

    const mail = await t.smtp.waitFor(next, (m) => m.subject === 'Confirm your new email address');
    const wrong = await http.post('/account/email/verify', { _csrf: csrfOf(html), code: codeFrom(mail.text) === '000000' ? '111111' : '000000' });
    expect(wrong.status).toBe(400);
    expect(alerts(await wrong.text()).join(' ')).toMatch(/That code isn’t right\. 4 tries left/);
    expect((await t.store.accounts.findById(u.id))!.email).toBe(u.email);

    const done = await http.post('/account/email/verify', { _csrf: csrfOf(html), code: codeFrom(mail.text) });
    expect(done.headers.get('location')).toBe('/account?done=email');
    expect(await t.store.accounts.findById(u.id)).toMatchObject({ email: next, emailVerified: true });
    expect(await (await http.get('/account?done=email')).text()).toContain('Your email address was changed.');

    // The old address is told what happened, when, from where, and what to do.
    const notice = await t.smtp.waitFor(u.email, (m) => m.subject === 'Your sign-in email address was changed');
    expect(notice.text).toContain(`from ${u.email} to m•••@example.org`);
    expect(notice.text).toMatch(/When: \d{4}-\d\d-\d\d \d\d:\d\d UTC/);
    expect(notice.text).toContain('Where: IP address 127.0.0.1, Firefox on Linux');
    expect(notice.text).toContain(`${t.issuer}/account`);
    expect((await t.store.audit.list({ accountId: u.id, type: 'email.changed' })).length).toBe(1);
    expect((await t.store.audit.list({ accountId: u.id, type: 'notice.sent' }))[0]?.detail).toMatchObject({ about: 'email' });

    // A new sign-in: the claims say the new address; the old one no longer signs in.
    const fresh = await signIn(t, new HttpClient(t.issuer), rp, { email: next, password: PASSWORD, params: { prompt: 'login' } });
    expect(await oidc.fetchUserInfo(rp.config, fresh.access_token, u.id)).toMatchObject({ sub: u.id, email: next, email_verified: true });
    const other = new HttpClient(t.issuer);
    const login = await other.follow((await authUrl(rp)).url.href);
    const old = await other.post(`${new URL(login.url).pathname}/login`, { _csrf: csrfOf(await login.res.text()), email: u.email, password: PASSWORD });
    expect(old.status).toBe(401);
  });

  it('a taken address gets the same pages as a free one; its owner gets a notice and no code; nothing changes', async () => {
    const u = await user();
    const owner = await user();
    const free = `free${n}-${kind}@example.org`;
    const { http, csrf } = await ready(u.email);
    const attempt = async (email: string) => {
      const post = await http.post('/account/email', { _csrf: csrf, email });
      const page = await http.get(post.headers.get('location') ?? '/nowhere');
      return { status: post.status, location: post.headers.get('location'), page: page.status, html: (await page.text()).replaceAll(email, 'X').replace(/name="_csrf" value="[^"]+"/g, '') };
    };
    const toFree = await attempt(free);
    const toTaken = await attempt(owner.email);
    expect(toTaken).toEqual(toFree);
    expect(toTaken.location).toBe('/account/email/verify');

    const notice = await t.smtp.waitFor(owner.email, (m) => m.subject === 'Someone tried to use your email address');
    expect(notice.text).not.toMatch(/\b\d{6}\b/);
    // No code reached anyone that could finish it: a guess gets the words any wrong code gets.
    const page = await http.get('/account/email/verify');
    const guess = await http.post('/account/email/verify', { _csrf: csrfOf(await page.text()), code: '123456' });
    expect(guess.status).toBe(400);
    expect(alerts(await guess.text()).join(' ')).toMatch(/That code isn’t right/);
    expect(await t.store.accounts.findById(u.id)).toMatchObject({ email: u.email, emailVerified: true });
    expect(await t.store.accounts.findById(owner.id)).toMatchObject({ email: owner.email, emailVerified: true });
    expect(await t.store.audit.list({ accountId: u.id, type: 'email.changed' })).toHaveLength(0);
  });

  it('bad input gets a clear error next to the field, sends nothing and changes nothing', async () => {
    const u = await user();
    const { http, csrf } = await ready(u.email);
    const mails = t.smtp.mails.length;
    const cases: [string, RegExp][] = [
      ['', /Enter your new email address/],
      ['   ', /Enter your new email address/],
      ['not-an-address', /Enter a valid email address/],
      [`${'x'.repeat(250)}@example.com`, /too long/],
      [u.email.toUpperCase(), /already your email address/],
    ];
    for (const [email, message] of cases) {
      const res = await http.post('/account/email', { _csrf: csrf, email });
      expect(res.status, email).toBe(400);
      const html = await res.text();
      expect(html).toMatch(/id="email-error"[^>]*role="alert"/);
      expect(alerts(html).join(' '), email).toMatch(message);
      expect(html).toContain('aria-invalid="true"');
    }
    // A malformed post (the field twice) is no address either.
    const twice = await http.post('/account/email', `_csrf=${encodeURIComponent(csrf)}&email=a%40b.example&email=c%40d.example`);
    expect(twice.status).toBe(400);
    expect(await t.store.challenges.findActive(u.id, 'email-change', 'account')).toBeNull();
    expect((await http.get('/account/email/verify')).headers.get('location')).toBe('/account/email');
    // A code posted with no change under way.
    const stray = await http.post('/account/email/verify', { _csrf: csrf, code: '123456' });
    expect(stray.status).toBe(400);
    expect(await stray.text()).toContain('That code isn’t valid any more');
    await new Promise((r) => setTimeout(r, 200));
    expect(t.smtp.mails.length).toBe(mails);
    expect(await t.store.accounts.findById(u.id)).toMatchObject({ email: u.email, emailVerified: true });
  });

  it('without a fresh proof nothing is sent or changed', async () => {
    const u = await user();
    const http = new HttpClient(t.issuer);
    await signIn(t, http, rp, { email: u.email, password: PASSWORD });
    const csrf = csrfOf(await (await http.get('/account/confirm?next=%2Faccount%2Femail')).text());
    const blind = await http.post('/account/email', { _csrf: csrf, email: `blind${n}@example.org` });
    expect(blind.headers.get('location')).toBe('/account/confirm?next=%2Faccount%2Femail');
    expect(await t.store.challenges.findActive(u.id, 'email-change', 'account')).toBeNull();
  });
});

describe('email change and the mail caps', () => {
  let t: RunningTessera;
  let rp: HttpRp;
  beforeAll(async () => {
    t = await startTessera({ env: { MAIL_PER_ADDRESS_HOURLY: '1' } });
    rp = await httpRp(t);
  });
  afterAll(() => t?.stop());

  it('a capped address gets the cap’s words next to the field, the same for a free and a taken address', async () => {
    const s = t.built.services;
    const a = await s.accounts.register({ name: 'Capped', email: 'capped@example.com', password: PASSWORD, email_verified: true });
    await s.accounts.register({ name: 'Taken', email: 'taken@example.com', password: PASSWORD, email_verified: true });
    const http = new HttpClient(t.issuer);
    await signIn(t, http, rp, { email: 'capped@example.com', password: PASSWORD });
    await proveFresh(t, http, '/account/email', { password: PASSWORD });
    const csrf = csrfOf(await (await http.get('/account/email')).text());
    const post = (email: string) => http.post('/account/email', { _csrf: csrf, email });
    // One mail each (a code, a notice) uses up each address's hourly budget...
    expect((await post('free@example.com')).status).toBe(302);
    expect((await post('taken@example.com')).status).toBe(302);
    // ...so asking again (after switching away, which voids the open code) is refused alike.
    const again = async (email: string) => {
      const res = await post(email);
      const html = await res.text();
      return { status: res.status, alerts: alerts(html) };
    };
    const free = await again('free@example.com');
    const taken = await again('taken@example.com');
    expect(free.status).toBe(429);
    expect(free.alerts.join(' ')).toMatch(/Too many codes were sent/);
    expect(taken).toEqual(free);
    expect(await t.store.accounts.findById(a.id)).toMatchObject({ email: 'capped@example.com', emailVerified: true });
  });
});
