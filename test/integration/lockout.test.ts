// Password lockout that nobody can turn against the user: a delay per account+IP, a lockout per IP,
// and an account-wide cap whose way back is an emailed single-use unlock link (or an admin, see
// cli.test.ts). Plus the per-account cap on wrong one-time codes across challenges. Service-level
// calls name the client IP (forwarded headers are not trusted, so raw HTTP always comes from 127.0.0.1).
import { describe, it, expect, afterEach, vi } from 'vitest';
import { startTessera, type RunningTessera } from '../support/tessera.ts';
import { HttpClient, csrfOf } from '../support/http.ts';
import { codeFrom } from '../support/smtp-sink.ts';
import { ClientService } from '../../src/admin/clients.ts';
import { startMongoTestServer } from '../support/mongo-test-server.ts';
import { openMongoStore } from '../../src/store/mongo/index.ts';
import { LoginGuard, CodeGuard, FormGuard } from '../../src/guard/limits.ts';
import { loadConfig } from '../../src/config.ts';

const REDIRECT = 'http://127.0.0.1:9/callback';
const PASSWORD = 'the rightful holder’s passphrase';
const EMAIL = 'owner@example.com';
const ATTACKER = '203.0.113.66';
const OWNER = '198.51.100.7';

let t: RunningTessera | null = null;
afterEach(async () => {
  vi.useRealTimers();
  await t?.stop();
  t = null;
});

async function start(env: Record<string, string> = {}) {
  t = await startTessera({ env });
  const s = t.built.services;
  const account = await s.accounts.register({ name: 'Owner', email: EMAIL, password: PASSWORD, email_verified: true });
  return { s, account };
}

async function loginPage(http: HttpClient) {
  const s = t!.built.services;
  const c = await new ClientService(s.store, s.box, s.provider).create({ client_name: 'Lockout App', redirect_uris: [REDIRECT], scope: 'openid' });
  const q = new URLSearchParams({
    client_id: c.client_id, response_type: 'code', scope: 'openid', redirect_uri: REDIRECT, state: 'st',
    code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256',
  });
  const { res, url } = await http.follow(`/auth?${q}`);
  expect(res.status).toBe(200);
  return { path: new URL(url).pathname, csrf: csrfOf(await res.text()) };
}

const alert = (html: string) => /role="alert">([^<]+)</.exec(html)?.[1];

describe('password failures', () => {
  it('an attacker failing many times from one IP does not stop the owner signing in from another', async () => {
    const { s } = await start();
    const outcomes = [];
    for (let i = 0; i < 12; i++) {
      const r = await s.accounts.signIn(EMAIL, `guess number ${i}`, ATTACKER);
      outcomes.push(r.ok ? 'ok' : r.reason === 'throttled' ? r.scope : r.reason);
    }
    // Five tries, then that pair waits: later attempts are refused without a password check.
    expect(outcomes.slice(0, 5)).toEqual(Array(5).fill('invalid'));
    expect(outcomes.slice(5)).toEqual(Array(7).fill('pair'));
    // Even the right password from the attacker's address waits.
    expect(await s.accounts.signIn(EMAIL, PASSWORD, ATTACKER)).toMatchObject({ ok: false, reason: 'throttled', scope: 'pair' });
    expect((await s.accounts.signIn(EMAIL, PASSWORD, OWNER)).ok).toBe(true);
  });

  it('makes an account+IP pair wait longer after each further failure', async () => {
    const { s } = await start({ LOGIN_DELAY_AFTER_FAILURES: '2', LOGIN_DELAY_SECONDS: '30' });
    await s.accounts.signIn(EMAIL, 'wrong one', ATTACKER);
    await s.accounts.signIn(EMAIL, 'wrong two', ATTACKER);
    const first = await s.accounts.signIn(EMAIL, PASSWORD, ATTACKER);
    expect(first).toMatchObject({ ok: false, scope: 'pair' });
    expect(first.ok === false && first.reason === 'throttled' && first.retryAfterSeconds).toBeGreaterThan(20);
    expect(first.ok === false && first.reason === 'throttled' && first.retryAfterSeconds).toBeLessThanOrEqual(30);
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.now() + 31_000);
    expect(await s.accounts.signIn(EMAIL, 'wrong three', ATTACKER)).toEqual({ ok: false, reason: 'invalid' });
    const second = await s.accounts.signIn(EMAIL, PASSWORD, ATTACKER);
    expect(second.ok === false && second.reason === 'throttled' && second.retryAfterSeconds).toBeGreaterThan(50);
    vi.setSystemTime(Date.now() + 61_000);
    expect((await s.accounts.signIn(EMAIL, PASSWORD, ATTACKER)).ok).toBe(true);
  });

  // Issue 16 item 2: the per-IP cap refuses, whatever the account and even with the right password.
  it('locks out an IP over login.maxFailuresPerIp, even with the right password, while another IP works', async () => {
    const { s } = await start({ LOGIN_MAX_FAILURES_PER_IP: '3' });
    for (const who of ['a@example.com', 'b@example.com', 'c@example.com']) {
      expect(await s.accounts.signIn(who, 'not it at all', ATTACKER)).toEqual({ ok: false, reason: 'invalid' });
    }
    expect(await s.accounts.signIn(EMAIL, PASSWORD, ATTACKER)).toMatchObject({ ok: false, reason: 'throttled', scope: 'ip' });
    expect((await s.accounts.signIn(EMAIL, PASSWORD, OWNER)).ok).toBe(true);
  });

  // Review of issue 10 item 4: every address of one IPv6 /64 is one "IP" for the per-IP limits.
  it('counts failures from one IPv6 /64 together: 25 addresses in it hit the per-IP cap, another /64 does not', async () => {
    const { s } = await start({ LOGIN_MAX_FAILURES_PER_IP: '20' });
    const outcomes = [];
    for (let k = 1; k <= 25; k++) {
      const r = await s.accounts.signIn(`user${k}@example.com`, 'not it at all', `2001:db8:1:2::${k.toString(16)}`);
      outcomes.push(r.ok ? 'ok' : r.reason === 'throttled' ? r.scope : r.reason);
    }
    expect(outcomes).toEqual([...Array(20).fill('invalid'), ...Array(5).fill('ip')]);
    expect(await s.accounts.signIn(EMAIL, PASSWORD, '2001:db8:1:2:ffff::99')).toMatchObject({ ok: false, reason: 'throttled', scope: 'ip' });
    expect((await s.accounts.signIn(EMAIL, PASSWORD, '2001:db8:1:3::1')).ok).toBe(true);
  });

  it('answers the per-IP lockout on the sign-in page with 429 and Retry-After', async () => {
    await start({ LOGIN_MAX_FAILURES_PER_IP: '3' });
    const http = new HttpClient(t!.issuer);
    const page = await loginPage(http);
    const statuses = [];
    for (const who of ['a@example.com', 'b@example.com', 'c@example.com']) {
      statuses.push((await http.post(`${page.path}/login`, { _csrf: page.csrf, email: who, password: 'not it at all' })).status);
    }
    expect(statuses).toEqual([401, 401, 401]);
    const refused = await http.post(`${page.path}/login`, { _csrf: page.csrf, email: EMAIL, password: PASSWORD });
    expect(refused.status).toBe(429);
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(alert(await refused.text())).toMatch(/Too many failed attempts/);
  });
});

describe('the account-wide cap and its way back', () => {
  /** Distributed guessing: two failures from each of many addresses (under the pair delay). */
  async function lockFromManyIps(email: string, failures: number) {
    const s = t!.built.services;
    for (let i = 0; i < failures; i++) await s.accounts.signIn(email, `spray ${i}`, `192.0.2.${Math.floor(i / 2) + 1}`);
  }

  it('refuses the account everywhere once the cap is reached, with the same words for unknown addresses', async () => {
    const { s } = await start({ LOGIN_MAX_FAILURES_PER_ACCOUNT: '6' });
    await lockFromManyIps(EMAIL, 6);
    await lockFromManyIps('nobody@example.com', 6);
    expect(await s.accounts.signIn(EMAIL, PASSWORD, OWNER)).toMatchObject({ ok: false, reason: 'throttled', scope: 'account' });

    const http = new HttpClient(t!.issuer);
    const page = await loginPage(http);
    const known = await http.post(`${page.path}/login`, { _csrf: page.csrf, email: EMAIL, password: PASSWORD });
    const unknown = await http.post(`${page.path}/login`, { _csrf: page.csrf, email: 'nobody@example.com', password: PASSWORD });
    expect(known.status).toBe(429);
    expect(unknown.status).toBe(429);
    const knownMsg = alert(await known.text());
    expect(knownMsg).toMatch(/We emailed you a link to unlock/);
    expect(alert(await unknown.text())).toBe(knownMsg);
    // The owner (and only the owner of a real account) gets the link.
    const mail = await t!.smtp.waitFor(EMAIL, (m) => /Unlock/.test(m.subject));
    expect(mail.text).toContain(`${t!.issuer}/unlock?c=`);
    expect(t!.smtp.mails.filter((m) => m.to.includes('nobody@example.com'))).toHaveLength(0);
  });

  it('mails the unlock link once per lockout window, however often the lock refuses', async () => {
    const { s, account } = await start({ LOGIN_MAX_FAILURES_PER_ACCOUNT: '4' });
    await lockFromManyIps(EMAIL, 4);
    for (let i = 0; i < 3; i++) expect(await s.accounts.signIn(EMAIL, PASSWORD, `192.0.2.${100 + i}`)).toMatchObject({ scope: 'account' });
    await Promise.all([s.unlock.send(EMAIL, OWNER), s.unlock.send(EMAIL, OWNER)]);
    await t!.smtp.waitFor(EMAIL, (m) => /Unlock/.test(m.subject));
    await expect.poll(async () => (await t!.store.audit.list({ type: 'login.unlock_mailed', accountId: account.id })).length).toBe(1);
    expect(t!.smtp.mails.filter((m) => /Unlock/.test(m.subject))).toHaveLength(1);
  });

  it('unlocks by POST from the emailed link, once; GET changes nothing; the unlocking browser stays unlocked', async () => {
    const { s, account } = await start({ LOGIN_MAX_FAILURES_PER_ACCOUNT: '4' });
    await lockFromManyIps(EMAIL, 4);
    expect(await s.accounts.signIn(EMAIL, PASSWORD, OWNER)).toMatchObject({ scope: 'account' });
    const mail = await t!.smtp.waitFor(EMAIL, (m) => /Unlock/.test(m.subject));
    const link = new URL(/(http\S+\/unlock\?\S+)/.exec(mail.text)![1]);

    const http = new HttpClient(t!.issuer);
    const shown = await http.get(link.pathname + link.search);
    expect(shown.status).toBe(200);
    const html = await shown.text();
    expect(html).toContain('<form method="post" action="/unlock"');
    // A mail scanner's GET unlocks nothing.
    expect(await s.accounts.signIn(EMAIL, PASSWORD, '192.0.2.200')).toMatchObject({ scope: 'account' });

    const body = { _csrf: csrfOf(html), c: link.searchParams.get('c')!, code: link.searchParams.get('code')! };
    const done = await http.post('/unlock', body);
    expect(done.status).toBe(200);
    expect(await done.text()).toContain('Account unlocked');
    expect((await t!.store.audit.list({ type: 'login.unlocked', accountId: account.id })).length).toBe(1);
    expect((await s.accounts.signIn(EMAIL, PASSWORD, OWNER)).ok).toBe(true);

    const again = await http.post('/unlock', body);
    expect(again.status).toBe(400);
    expect(await again.text()).toContain('expired or was already used');

    // The attacker locks the account again; the address that used the link (this test client's) still gets in.
    await lockFromManyIps(EMAIL, 4);
    expect(await s.accounts.signIn(EMAIL, PASSWORD, '192.0.2.201')).toMatchObject({ scope: 'account' });
    expect((await s.accounts.signIn(EMAIL, PASSWORD, '127.0.0.1')).ok).toBe(true);
  });

  // Review of issue 10 item 13: the address's mail budget (EmailGuard) used up by forgot-password requests
  // refused the unlock mail, which was marked sent anyway: the owner had no way back for the window.
  it('still mails the unlock link after forgot-password requests used up the address’s mail budget, and the link works', async () => {
    const { s, account } = await start({ LOGIN_MAX_FAILURES_PER_ACCOUNT: '6' });
    const resetMails = () => t!.smtp.mails.filter((m) => /Reset your password/.test(m.subject)).length;
    for (let k = 0; k < 6; k++) {
      const http = new HttpClient(t!.issuer);
      const page = await loginPage(http);
      expect((await http.post(`${page.path}/forgot`, { _csrf: page.csrf, email: EMAIL })).status).toBe(200);
    }
    await expect.poll(resetMails).toBe(5);
    await expect.poll(async () => (await t!.store.audit.list({ type: 'mail.refused', accountId: account.id })).length).toBe(1);

    await lockFromManyIps(EMAIL, 6);
    expect(await s.accounts.signIn(EMAIL, PASSWORD, OWNER)).toMatchObject({ scope: 'account' });
    const mail = await t!.smtp.waitFor(EMAIL, (m) => /Unlock/.test(m.subject));
    const link = new URL(/(http\S+\/unlock\?\S+)/.exec(mail.text)![1]);
    const http = new HttpClient(t!.issuer);
    const shown = await http.get(link.pathname + link.search);
    const done = await http.post('/unlock', { _csrf: csrfOf(await shown.text()), c: link.searchParams.get('c')!, code: link.searchParams.get('code')! });
    expect(await done.text()).toContain('Account unlocked');
    expect((await s.accounts.signIn(EMAIL, PASSWORD, OWNER)).ok).toBe(true);
  });

  it('counts the unlock mail as sent only once it went: after a failed delivery the next refusal mails it', async () => {
    const { s, account } = await start({ LOGIN_MAX_FAILURES_PER_ACCOUNT: '4' });
    await lockFromManyIps(EMAIL, 4);
    const mail = (s.challenges as unknown as { deps: { mail: { send: (m: unknown) => Promise<void> } } }).deps.mail;
    const send = mail.send;
    mail.send = async () => {
      throw new Error('421 4.3.2 try again later');
    };
    await s.unlock.send(EMAIL, ATTACKER);
    mail.send = send;
    await s.unlock.send(EMAIL, ATTACKER);
    await t!.smtp.waitFor(EMAIL, (m) => /Unlock/.test(m.subject), 3000);
    expect((await t!.store.audit.list({ type: 'login.unlock_mail_failed', accountId: account.id })).length).toBe(1);
    await s.unlock.send(EMAIL, ATTACKER); // and then once per window, as before
    expect((await t!.store.audit.list({ type: 'login.unlock_mailed', accountId: account.id })).length).toBe(1);
  });

  it('refuses a forged or tampered unlock link without a 500', async () => {
    await start();
    const http = new HttpClient(t!.issuer);
    expect((await http.get('/unlock')).status).toBe(400);
    const shown = await http.get('/unlock?c=nope&code=123456');
    expect(shown.status).toBe(200);
    const r = await http.post('/unlock', { _csrf: csrfOf(await shown.text()), c: 'nope', code: '123456' });
    expect(r.status).toBe(400);
    expect((await http.post('/unlock', { c: 'nope', code: '123456' })).status).toBe(403);
  });

  it('a password reset clears the lock', async () => {
    const { s, account } = await start({ LOGIN_MAX_FAILURES_PER_ACCOUNT: '4' });
    await lockFromManyIps(EMAIL, 4);
    expect(await s.accounts.signIn(EMAIL, PASSWORD, OWNER)).toMatchObject({ scope: 'account' });
    await s.accounts.setPassword(account.id, 'a brand new passphrase');
    expect((await s.accounts.signIn(EMAIL, 'a brand new passphrase', OWNER)).ok).toBe(true);
  });
});

describe('wrong one-time codes per account', () => {
  it('refuses even the right code once the account has had CODE_MAX_WRONG_PER_ACCOUNT_DAILY wrong ones across challenges', async () => {
    const { s, account } = await start({ CODE_MAX_WRONG_PER_ACCOUNT_DAILY: '3' });
    const engine = s.challenges;
    const open = async (context: string, destination: string) => {
      const r = await engine.start({ purpose: 'phone-verify', accountId: account.id, channel: 'sms', destination, context, ip: OWNER });
      if (!r.ok) throw new Error(`start failed: ${r.reason}`);
      return { id: r.challenge.id, code: codeFrom((await t!.vonage.waitFor(destination, 1)).text) };
    };
    const wrongFor = (code: string) => (code === '000000' ? '111111' : '000000');
    const a = await open('first', '+33612300001');
    expect(await engine.verify(a.id, wrongFor(a.code))).toMatchObject({ reason: 'invalid', attemptsLeft: 4 });
    expect(await engine.verify(a.id, wrongFor(a.code))).toMatchObject({ reason: 'invalid', attemptsLeft: 3 });
    // A new challenge doesn't start a new allowance.
    const b = await open('second', '+33612300002');
    expect(await engine.verify(b.id, wrongFor(b.code))).toMatchObject({ reason: 'invalid' });
    expect(await engine.verify(b.id, b.code)).toEqual({ ok: false, reason: 'locked' });
    const stored = await t!.store.challenges.find(b.id);
    expect(stored!.consumedAt).toBeNull(); // not checked, not used up
    expect((await t!.store.audit.list({ type: 'code.refused', accountId: account.id })).length).toBe(1);

    // Another kind of code (here: password reset by email) is counted apart, so guessing one kind can't
    // shut the owner out of another.
    const reset = await engine.start({ purpose: 'password-reset', accountId: account.id, channel: 'email', destination: EMAIL, context: 'r', ip: OWNER });
    if (!reset.ok) throw new Error('reset start failed');
    const resetCode = codeFrom((await t!.smtp.waitFor(EMAIL)).text);
    expect((await engine.verify(reset.challenge.id, resetCode)).ok).toBe(true);
  });

  // Review of issue 10 item 13: reset codes need only the address, so their cap is per answering client.
  it("an attacker's wrong password-reset codes don't stop the owner's reset from another address", async () => {
    const { s, account } = await start({ CODE_MAX_WRONG_PER_ACCOUNT_DAILY: '5' });
    const expectReset = (ip: string) => ({ accountId: account.id, purpose: 'password-reset' as const, ip });
    const open = async (context: string, ip: string) => {
      await (await s.challenges.startDeferred({ purpose: 'password-reset', accountId: account.id, destination: EMAIL, context, ip }))();
      const mails = t!.smtp.mails.filter((m) => /Reset your password/.test(m.subject));
      return { challenge: (await s.store.challenges.findActive(account.id, 'password-reset', context))!, code: codeFrom(mails[mails.length - 1].text) };
    };
    const attacker = await open('attacker-1', ATTACKER);
    for (let i = 0; i < 5; i++) expect((await s.challenges.verify(attacker.challenge.id, 'wrong', expectReset(ATTACKER))).ok).toBe(false);
    const again = await open('attacker-2', ATTACKER);
    expect(await s.challenges.verify(again.challenge.id, again.code, expectReset(ATTACKER))).toEqual({ ok: false, reason: 'locked' });
    // Same /64 is the same client.
    expect(await s.challenges.verify(again.challenge.id, again.code, expectReset(`::ffff:${ATTACKER}`))).toEqual({ ok: false, reason: 'locked' });

    const owner = await open('owner', OWNER);
    expect((await s.challenges.verify(owner.challenge.id, owner.code, expectReset(OWNER))).ok).toBe(true);
  });

  it('right answers do not count towards the cap', async () => {
    const { s, account } = await start({ CODE_MAX_WRONG_PER_ACCOUNT_DAILY: '2' });
    for (let i = 0; i < 4; i++) {
      const destination = `+3361230010${i}`;
      const r = await s.challenges.start({ purpose: 'phone-verify', accountId: account.id, channel: 'sms', destination, context: `ok-${i}`, ip: OWNER });
      if (!r.ok) throw new Error('start failed');
      expect((await s.challenges.verify(r.challenge.id, codeFrom((await t!.vonage.waitFor(destination, 1)).text))).ok).toBe(true);
    }
  });
});

// The counters live in the store (rate-limiter-flexible's Mongo and SQLite limiters): the same rules hold
// on MongoDB, including block/set/reward/delete, which the delays, exemptions and unlocks rely on.
describe('on MongoDB', () => {
  it('delays a pair, locks and unlocks an account, exempts the unlocking address, caps codes and forms', async () => {
    const mongo = await startMongoTestServer();
    const store = await openMongoStore({ uri: mongo.uri });
    try {
      const config = loadConfig({ NODE_ENV: 'test', LOG_LEVEL: 'silent', LOGIN_MAX_FAILURES_PER_ACCOUNT: '6', LOGIN_DELAY_AFTER_FAILURES: '2', CODE_MAX_WRONG_PER_ACCOUNT_DAILY: '2', REGISTRATION_PER_IP_HOURLY: '1' });
      const login = new LoginGuard(store, config.login);
      await login.failed(EMAIL, ATTACKER);
      expect(await login.check(EMAIL, ATTACKER)).toEqual({ ok: true });
      await login.failed(EMAIL, ATTACKER);
      expect(await login.check(EMAIL, ATTACKER)).toMatchObject({ ok: false, scope: 'pair' });
      expect(await login.check(EMAIL, OWNER)).toEqual({ ok: true });
      for (let i = 0; i < 4; i++) await login.failed(EMAIL, `192.0.2.${i}`);
      expect(await login.check(EMAIL, OWNER)).toMatchObject({ ok: false, scope: 'account' });
      await login.unlock(EMAIL);
      expect(await login.check(EMAIL, ATTACKER)).toEqual({ ok: true }); // the pair's delay went with the epoch
      await login.exemptAddress(EMAIL, OWNER);
      for (let i = 0; i < 6; i++) await login.failed(EMAIL, `192.0.2.${50 + i}`);
      expect(await login.check(EMAIL, '192.0.2.99')).toMatchObject({ ok: false, scope: 'account' });
      expect(await login.check(EMAIL, OWNER)).toEqual({ ok: true });

      const codes = new CodeGuard(store, config.codes);
      expect(await codes.take('acct', 'sms-login')).toBe(true);
      await codes.giveBack('acct', 'sms-login');
      expect(await codes.take('acct', 'sms-login')).toBe(true);
      expect(await codes.take('acct', 'sms-login')).toBe(true);
      expect(await codes.take('acct', 'sms-login')).toBe(false);
      expect(await codes.take('acct', 'password-reset')).toBe(true);
      await codes.clear('acct');
      expect(await codes.take('acct', 'sms-login')).toBe(true);

      const forms = new FormGuard(store, config.limits);
      expect(await forms.registration(ATTACKER)).toEqual({ ok: true });
      expect(await forms.registration(ATTACKER)).toMatchObject({ ok: false, reason: 'registration_ip' });
    } finally {
      await store.close();
      await mongo.stop();
    }
  });
});
