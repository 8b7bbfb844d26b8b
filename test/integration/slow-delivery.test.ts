// Slow and silent providers (issue 12, items 4 and 5), through the sign-in pages: a Vonage endpoint
// that takes the request and never answers, and an SMTP server that accepts the connection and never
// greets, are given up on after SMS_TIMEOUT_SECONDS / SMTP_TIMEOUT_SECONDS and the step says it couldn't
// send the code. A reload while a slow SMS is on its way sends no second code, and the one that arrives works.
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { describe, it, expect, afterEach } from 'vitest';
import { startTessera, type RunningTessera } from '../support/tessera.ts';
import { HttpClient, csrfOf } from '../support/http.ts';
import { codeFrom } from '../support/smtp-sink.ts';
import { ClientService } from '../../src/admin/clients.ts';
import { mongoUriWithDatabase, testDatabaseName, dropMongoDatabase } from '../support/mongo-test-server.ts';
import type { SecondFactorType } from '../../src/factors/records.ts';

const REDIRECT = 'http://127.0.0.1:9/callback';
const PASSWORD = 'a patient but bounded passphrase';

let t: RunningTessera | null = null;
let mongoUri: string | null = null;
let silent: net.Server | null = null;
const sockets = new Set<net.Socket>();
afterEach(async () => {
  await t?.stop();
  t = null;
  if (mongoUri) await dropMongoDatabase(mongoUri);
  mongoUri = null;
  for (const s of sockets) s.destroy();
  sockets.clear();
  await new Promise<void>((resolve) => (silent ? silent.close(() => resolve()) : resolve()));
  silent = null;
});

/** A TCP server that accepts every connection and never says a word (no SMTP greeting). */
async function silentServer(): Promise<string> {
  silent = net.createServer((s) => {
    sockets.add(s);
    s.on('error', () => {});
  });
  await new Promise<void>((resolve) => silent!.listen(0, '127.0.0.1', resolve));
  return `smtp://127.0.0.1:${(silent.address() as AddressInfo).port}`;
}

async function start(env: Record<string, string>) {
  const shared = process.env.MONGODB_URI_FOR_APP;
  mongoUri = shared ? mongoUriWithDatabase(shared, testDatabaseName()) : null;
  t = await startTessera({ env: { ...env, ...(mongoUri ? { MONGODB_URI: mongoUri } : {}) } });
  const s = t.built.services;
  const c = await new ClientService(s.store, s.box, s.provider).create({ client_name: 'Patient App', redirect_uris: [REDIRECT], scope: 'openid' });
  let n = 0;
  /** A new account with `factor` on signs in with its password; returns where its second step is. */
  return async function toSecondStep(factor: SecondFactorType) {
    n += 1;
    const phone = `+3361288${String(n).padStart(4, '0')}`;
    const email = `patient${n}@example.com`;
    await s.accounts.register({ name: `Patient ${n}`, email, password: PASSWORD, email_verified: true, phone_number: phone, phone_number_verified: true, mfa: [factor] });
    const http = new HttpClient(t!.issuer);
    const q = new URLSearchParams({
      client_id: c.client_id, response_type: 'code', scope: 'openid', redirect_uri: REDIRECT, state: 'st',
      code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256',
    });
    const login = await http.follow(`/auth?${q}`);
    const uidPath = new URL(login.url).pathname;
    const posted = await http.post(`${uidPath}/login`, { _csrf: csrfOf(await login.res.text()), email, password: PASSWORD });
    expect(posted.status).toBe(302);
    return { http, step: posted.headers.get('location')!, uidPath, phone };
  };
}

async function timed<T>(f: () => Promise<T>): Promise<{ value: T; ms: number }> {
  const t0 = Date.now();
  const value = await f();
  return { value, ms: Date.now() - t0 };
}

describe('a silent provider is given up on', () => {
  it('SMS: Vonage takes the request and never answers; the step says so after SMS_TIMEOUT_SECONDS', async () => {
    const toStep = await start({ SMS_TIMEOUT_SECONDS: '1' });
    t!.vonage.mode = 'hang';
    const { http, step, phone } = await toStep('sms');
    const { value: page, ms } = await timed(async () => {
      const r = await http.follow(step);
      return { status: r.res.status, html: await r.res.text() };
    });
    expect(ms).toBeLessThan(3_000);
    expect(page.status).toBe(503);
    expect(page.html).toContain('couldn’t send the code');
    expect(t!.vonage.to(phone)).toHaveLength(0);
    const failed = await t!.store.audit.list({ type: 'sms.delivery_failed' });
    expect(failed.map((e) => e.detail.detail)).toEqual(['timed out']);
    // Nothing half-open is left: once Vonage answers again, a retry sends a fresh code.
    t!.vonage.mode = 'ok';
    const retry = await http.follow(step);
    expect(retry.res.status).toBe(200);
    await t!.vonage.waitFor(phone, 1);
  }, 20_000);

  it('a reload while that SMS hangs waits for it and says it couldn’t be sent either, never that it was', async () => {
    const toStep = await start({ SMS_TIMEOUT_SECONDS: '1' });
    t!.vonage.mode = 'hang';
    const { http, step } = await toStep('sms');
    const first = http.follow(step);
    await new Promise((r) => setTimeout(r, 300));
    const pages = await Promise.all([first, http.follow(step)].map(async (p) => {
      const r = await p;
      return { status: r.res.status, html: await r.res.text() };
    }));
    for (const page of pages) {
      expect(page.status).toBe(503);
      expect(page.html).toContain('couldn’t send the code');
    }
    expect(await t!.store.audit.list({ type: 'sms.delivery_failed' })).toHaveLength(1);
  }, 20_000);

  it('email: the SMTP server accepts and never greets; the step says so after SMTP_TIMEOUT_SECONDS', async () => {
    const toStep = await start({ SMTP_TIMEOUT_SECONDS: '1', SMTP_URL: await silentServer() });
    const { http, step } = await toStep('email');
    const { value: page, ms } = await timed(async () => {
      const r = await http.follow(step);
      return { status: r.res.status, html: await r.res.text() };
    });
    expect(ms).toBeLessThan(3_000);
    expect(page.status).toBe(503);
    expect(page.html).toContain('couldn’t send the code');
    expect(sockets.size).toBeGreaterThan(0); // it did reach the silent server
  }, 20_000);
});

describe('a slow provider', () => {
  it('a reload while the SMS is on its way sends no second code, and the code that arrives is accepted', async () => {
    const toStep = await start({});
    t!.vonage.delayMs = 1_500;
    const { http, step, uidPath, phone } = await toStep('sms');
    const first = http.follow(step);
    await new Promise((r) => setTimeout(r, 400));
    const reload = await http.follow(step); // the first send is still waiting for Vonage
    const [a, b] = await Promise.all([first, reload].map(async (p) => {
      const r = await p;
      return { status: r.res.status, html: await r.res.text() };
    }));
    for (const page of [a, b]) {
      expect(page.status).toBe(200);
      expect(page.html).toContain('Check your phone');
    }
    await new Promise((r) => setTimeout(r, 2_000)); // any second send would have landed by now
    expect(t!.vonage.to(phone)).toHaveLength(1);
    const code = codeFrom(t!.vonage.to(phone)[0].text);
    const answered = await http.post(`${uidPath}/sms`, { _csrf: csrfOf(b.html), code });
    expect(answered.status).toBe(302);
    expect((await t!.store.audit.list({ type: 'mfa.failed' })).length).toBe(0);
  }, 20_000);
});
