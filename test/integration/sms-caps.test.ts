// The per-IP (hourly, daily) and global daily SMS caps, through the sign-in pages: set low here
// (test/support/tessera.ts raises them for every other test, since all test traffic comes from
// 127.0.0.1). Over a cap the page says so, nothing reaches Vonage, and 'sms.refused' names the rule.
// Each sign-in is a different account and number, so only the cap under test can refuse it.
import { describe, it, expect, afterEach } from 'vitest';
import { startTessera, type RunningTessera } from '../support/tessera.ts';
import { HttpClient, csrfOf } from '../support/http.ts';
import { ClientService } from '../../src/admin/clients.ts';
import { mongoUriWithDatabase, testDatabaseName, dropMongoDatabase } from '../support/mongo-test-server.ts';

const REDIRECT = 'http://127.0.0.1:9/callback';
const PASSWORD = 'a capped but fine passphrase';

let t: RunningTessera | null = null;
let mongoUri: string | null = null;
afterEach(async () => {
  await t?.stop();
  t = null;
  if (mongoUri) await dropMongoDatabase(mongoUri);
  mongoUri = null;
});

async function start(env: Record<string, string>) {
  // Counters live in the store: on MongoDB too, each test gets a store of its own.
  const shared = process.env.MONGODB_URI_FOR_APP;
  mongoUri = shared ? mongoUriWithDatabase(shared, testDatabaseName()) : null;
  t = await startTessera({ env: { ...env, ...(mongoUri ? { MONGODB_URI: mongoUri } : {}) } });
  const s = t.built.services;
  const c = await new ClientService(s.store, s.box, s.provider).create({ client_name: 'Capped App', redirect_uris: [REDIRECT], scope: 'openid' });
  let n = 0;
  /** A new account with SMS sign-in on signs in up to the SMS step; returns that page and who it was. */
  return async function signInToSmsStep() {
    n += 1;
    const phone = `+3361299${String(n).padStart(4, '0')}`;
    const email = `capped${n}@example.com`;
    const account = await s.accounts.register({ name: `Capped ${n}`, email, password: PASSWORD, email_verified: true, phone_number: phone, phone_number_verified: true, mfa: ['sms'] });
    const http = new HttpClient(t!.issuer);
    const q = new URLSearchParams({
      client_id: c.client_id, response_type: 'code', scope: 'openid', redirect_uri: REDIRECT, state: 'st',
      code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256',
    });
    const login = await http.follow(`/auth?${q}`);
    const posted = await http.post(`${new URL(login.url).pathname}/login`, { _csrf: csrfOf(await login.res.text()), email, password: PASSWORD });
    expect(posted.status).toBe(302);
    const step = await http.follow(posted.headers.get('location')!);
    return { res: step.res, html: await step.res.text(), phone, accountId: account.id };
  };
}

async function expectSent(step: { res: Response; html: string; phone: string }) {
  expect(step.res.status).toBe(200);
  expect(step.html).toContain('Check your phone');
  await t!.vonage.waitFor(step.phone, 1);
}

async function expectRefusedBy(rule: string, step: { res: Response; html: string; phone: string; accountId: string }) {
  expect([429, 503]).toContain(step.res.status);
  expect(step.html).toContain('Too many codes were sent');
  expect(t!.vonage.to(step.phone)).toHaveLength(0);
  const refused = await t!.store.audit.list({ type: 'sms.refused', accountId: step.accountId });
  expect(refused.map((e) => e.detail.rule)).toEqual([rule]);
}

describe('SMS caps beyond one number or account', () => {
  it('refuses the texts one IP asks for over SMS_PER_IP_HOURLY', async () => {
    const signIn = await start({ SMS_PER_IP_HOURLY: '2' });
    await expectSent(await signIn());
    await expectSent(await signIn());
    await expectRefusedBy('ip_hour', await signIn());
    expect(t!.vonage.messages).toHaveLength(2);
  });

  it('refuses the texts one IP asks for over SMS_PER_IP_DAILY', async () => {
    const signIn = await start({ SMS_PER_IP_DAILY: '2' });
    await expectSent(await signIn());
    await expectSent(await signIn());
    await expectRefusedBy('ip_day', await signIn());
    expect(t!.vonage.messages).toHaveLength(2);
  });

  it('refuses every text over SMS_GLOBAL_DAILY', async () => {
    const signIn = await start({ SMS_GLOBAL_DAILY: '3' });
    for (let i = 0; i < 3; i++) await expectSent(await signIn());
    await expectRefusedBy('global_day', await signIn());
    expect(t!.vonage.messages).toHaveLength(3);
  });
});
