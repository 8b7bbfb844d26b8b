// Metrics (issue 12, item 8): GET /metrics in the Prometheus text format, counting what the real flows
// do (requests by route and status, sign-ins by method and result, codes sent and refused by channel
// and rule, store operations), served only to this machine or to a METRICS_TOKEN bearer; and
// oidc-provider's server errors, which it answers itself, logged with the request id.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import path from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import Database from 'libsql';
import { startTessera, type RunningTessera } from '../support/tessera.ts';
import { HttpClient, csrfOf } from '../support/http.ts';
import { httpRp, authUrl, signIn } from '../support/rp-http.ts';
import { parsePrometheusText, sampleValue, type Family } from '../support/prom-text.ts';
import { ClientService } from '../../src/admin/clients.ts';
import { scrapeVerdict } from '../../src/http/metrics.ts';
import { loadConfig, ConfigError } from '../../src/config.ts';

const PASSWORD = 'a countable sign-in passphrase';
const TOKEN = 'metrics-token-for-the-test-0123456789';

function capturingLogger() {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk, _enc, done) {
      for (const line of String(chunk).split('\n')) if (line.trim()) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { log: pino({ level: 'info' }, stream), lines };
}

async function scrape(t: RunningTessera, headers: Record<string, string> = {}): Promise<Map<string, Family>> {
  const res = await fetch(`${t.issuer}/metrics`, { headers });
  expect(res.status, await res.clone().text()).toBe(200);
  expect(res.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8');
  expect(res.headers.get('cache-control')).toBe('no-store');
  return parsePrometheusText(await res.text());
}

describe('GET /metrics (embedded store, no METRICS_TOKEN)', () => {
  let t: RunningTessera;
  const captured = capturingLogger();
  beforeAll(async () => {
    // One text per number an hour: a second SMS sign-in of the same account is refused by number_hour. The
    // embedded store even when the suite runs on MongoDB: the server_error test renames a table in its file.
    t = await startTessera({ env: { SMS_PER_NUMBER_HOURLY: '1', MONGODB_URI: '' }, log: captured.log });
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('parses as Prometheus text: Tessera\'s families and the process\'s (event-loop lag among them), each of its type', async () => {
    const m = await scrape(t);
    const types = Object.fromEntries([...m.values()].map((f) => [f.name, f.type]));
    expect(types).toMatchObject({
      tessera_build_info: 'gauge',
      tessera_http_requests_total: 'counter',
      tessera_http_request_duration_seconds: 'histogram',
      tessera_sign_in_attempts_total: 'counter',
      tessera_sign_ins_total: 'counter',
      tessera_codes_sent_total: 'counter',
      tessera_codes_refused_total: 'counter',
      tessera_code_delivery_failures_total: 'counter',
      tessera_store_operation_duration_seconds: 'histogram',
      tessera_store_operation_errors_total: 'counter',
      tessera_oidc_errors_total: 'counter',
      nodejs_eventloop_lag_seconds: 'gauge',
      nodejs_eventloop_lag_p99_seconds: 'gauge',
      process_cpu_seconds_total: 'counter',
      process_resident_memory_bytes: 'gauge',
      nodejs_heap_size_used_bytes: 'gauge',
    });
    for (const f of m.values()) expect(f.help, f.name).not.toBe('');
    expect(sampleValue(m, 'tessera_build_info', { version: '0.1.0', node: process.version })).toBe(1);
    // Made at start (clients and keys): the store's operations are timed.
    expect(sampleValue(m, 'tessera_store_operation_duration_seconds', { op: 'clients.create' }, 'tessera_store_operation_duration_seconds_count')).toBeGreaterThan(0);
  });

  it('counts requests by route name and status (never the raw path) and times them by route', async () => {
    const before = await scrape(t);
    const count = (m: Map<string, Family>, route: string, status: string) => sampleValue(m, 'tessera_http_requests_total', { route, status });
    const timed = (m: Map<string, Family>, route: string) =>
      sampleValue(m, 'tessera_http_request_duration_seconds', { route }, 'tessera_http_request_duration_seconds_count');
    expect((await fetch(`${t.issuer}/.well-known/openid-configuration`)).status).toBe(200);
    expect((await fetch(`${t.issuer}/.well-known/openid-configuration`)).status).toBe(200);
    expect((await fetch(`${t.issuer}/no-such-page-4711`)).status).toBe(404);
    expect((await fetch(`${t.issuer}/interaction/not-a-real-uid`, { headers: { accept: 'text/html' } })).status).toBeGreaterThanOrEqual(400);
    const after = await scrape(t);
    expect(count(after, 'discovery', '200') - count(before, 'discovery', '200')).toBe(2);
    expect(count(after, 'other', '404') - count(before, 'other', '404')).toBe(1);
    expect(timed(after, 'discovery') - timed(before, 'discovery')).toBe(2);
    expect(timed(after, 'interaction') - timed(before, 'interaction')).toBe(1);
    const routes = new Set(after.get('tessera_http_requests_total')!.samples.map((s) => s.labels.route));
    expect([...routes].some((r) => r.includes('/'))).toBe(false);
  });

  it('a password sign-in through the real flow counts pwd/success; a wrong password counts pwd/failure', async () => {
    const s = t.built.services;
    await s.accounts.register({ name: 'Ada Count', email: 'ada.count@example.com', password: PASSWORD, email_verified: true });
    const rp = await httpRp(t);
    const steps = (m: Map<string, Family>, method: string, result: string) => sampleValue(m, 'tessera_sign_in_attempts_total', { method, result });
    const before = await scrape(t);

    const tokens = await signIn(t, new HttpClient(t.issuer), rp, { email: 'ada.count@example.com', password: PASSWORD });
    expect(tokens.access_token).toBeTruthy();

    const http = new HttpClient(t.issuer);
    const started = await authUrl(rp);
    const page = await http.follow(started.url.href);
    const wrong = await http.post(`${new URL(page.url).pathname}/login`, { _csrf: csrfOf(await page.res.text()), email: 'ada.count@example.com', password: 'not the right passphrase' });
    expect(wrong.status).toBe(401);

    const after = await scrape(t);
    expect(steps(after, 'pwd', 'success') - steps(before, 'pwd', 'success')).toBe(1);
    expect(steps(after, 'pwd', 'failure') - steps(before, 'pwd', 'failure')).toBe(1);
    expect(sampleValue(after, 'tessera_sign_ins_total', { methods: 'pwd' }) - sampleValue(before, 'tessera_sign_ins_total', { methods: 'pwd' })).toBe(1);
    // The code exchange counted on the token route.
    expect(sampleValue(after, 'tessera_http_requests_total', { route: 'token', status: '200' }) - sampleValue(before, 'tessera_http_requests_total', { route: 'token', status: '200' })).toBe(1);
  });

  it('codes sent by SMS and by email count by channel and purpose; a text over SMS_PER_NUMBER_HOURLY counts as refused by number_hour', async () => {
    const s = t.built.services;
    const phone = '+33612990042';
    await s.accounts.register({ name: 'Sam Sms', email: 'sam.sms@example.com', password: PASSWORD, email_verified: true, phone_number: phone, phone_number_verified: true, mfa: ['sms'] });
    await s.accounts.register({ name: 'Eve Unconfirmed', email: 'eve.unconfirmed@example.com', password: PASSWORD });
    const rp = await httpRp(t);
    const before = await scrape(t);

    // SMS sign-in: the code goes out and is answered.
    await signIn(t, new HttpClient(t.issuer), rp, { email: 'sam.sms@example.com', password: PASSWORD, smsTo: phone });
    // The same account again from another browser: the number's hourly cap refuses the second text.
    const http = new HttpClient(t.issuer);
    const page = await http.follow((await authUrl(rp)).url.href);
    const posted = await http.post(`${new URL(page.url).pathname}/login`, { _csrf: csrfOf(await page.res.text()), email: 'sam.sms@example.com', password: PASSWORD });
    expect(posted.status).toBe(302);
    const step = await http.follow(posted.headers.get('location')!);
    expect(await step.res.text()).toContain('Too many codes were sent');
    expect(t.vonage.to(phone)).toHaveLength(1);

    // An unconfirmed address is asked for the code mailed to it.
    const mailer = new HttpClient(t.issuer);
    const login = await mailer.follow((await authUrl(rp)).url.href);
    const pw = await mailer.post(`${new URL(login.url).pathname}/login`, { _csrf: csrfOf(await login.res.text()), email: 'eve.unconfirmed@example.com', password: PASSWORD });
    expect(pw.status).toBe(302);
    expect((await mailer.follow(pw.headers.get('location')!)).res.status).toBe(200);
    await t.smtp.waitFor('eve.unconfirmed@example.com');

    const after = await scrape(t);
    const delta = (family: string, labels: Record<string, string>) => sampleValue(after, family, labels) - sampleValue(before, family, labels);
    expect(delta('tessera_codes_sent_total', { channel: 'sms', purpose: 'sms-login' })).toBe(1);
    expect(delta('tessera_codes_sent_total', { channel: 'email', purpose: 'email-confirm' })).toBe(1);
    expect(delta('tessera_codes_refused_total', { channel: 'sms', rule: 'number_hour' })).toBe(1);
    expect(delta('tessera_sign_in_attempts_total', { method: 'sms', result: 'success' })).toBe(1);
    expect(delta('tessera_sign_ins_total', { methods: 'pwd+sms' })).toBe(1);
  });

  it('a provider server_error (its store lookup failing) is logged at error with the request id, counted, and no secret is logged', async () => {
    const s = t.built.services;
    const service = await new ClientService(s.store, s.box, s.provider).create({ client_name: 'Service', grant_types: ['client_credentials'], response_types: [], redirect_uris: [], scope: 'openid' });
    const tokenRequest = () =>
      fetch(`${t.issuer}/token`, {
        method: 'POST',
        headers: {
          authorization: `Basic ${Buffer.from(`${service.client_id}:${service.client_secret}`).toString('base64')}`,
          'content-type': 'application/x-www-form-urlencoded',
          accept: 'application/json',
        },
        body: new URLSearchParams({ grant_type: 'client_credentials' }),
      });
    const before = await scrape(t);
    // A real failure below the provider: the clients table disappears under the running store (another
    // connection to the same file renames it), so the client lookup of the token request throws. (The
    // client was never used: no instance has it in its one-second client cache, src/oidc/provider.ts.)
    const other = new Database(path.join(t.dataDir, 'tessera.db'));
    other.exec('PRAGMA busy_timeout = 5000');
    other.exec('ALTER TABLE clients RENAME TO clients_away');
    let res: Response;
    try {
      res = await tokenRequest();
    } finally {
      other.exec('ALTER TABLE clients_away RENAME TO clients');
      other.close();
    }
    expect(res.status).toBe(500);
    expect(await res.json()).toMatchObject({ error: 'server_error' });
    const id = res.headers.get('x-request-id')!;
    expect(id).toMatch(/^[0-9a-f-]{36}$/);

    const line = captured.lines.find((l) => l.event === 'oidc.server_error' && l.reqId === id);
    expect(line, 'a server_error line with the request id').toMatchObject({ level: 50, path: '/token', method: 'POST' });
    expect(String((line!.err as { message?: string }).message)).toMatch(/no such table/);
    expect(JSON.stringify(captured.lines)).not.toContain(service.client_secret!);

    const after = await scrape(t);
    const delta = (family: string, labels: Record<string, string>) => sampleValue(after, family, labels) - sampleValue(before, family, labels);
    expect(delta('tessera_oidc_errors_total', { event: 'server_error', error: 'server_error' })).toBe(1);
    expect(delta('tessera_store_operation_errors_total', { op: 'clients.find', kind: 'other' })).toBe(1);
    expect(delta('tessera_http_requests_total', { route: 'token', status: '500' })).toBe(1);
    // And the store works again.
    expect((await tokenRequest()).status).toBe(200);
  });

  it('a client error on the token endpoint is logged at warn with its OAuth error and the request id', async () => {
    const res = await fetch(`${t.issuer}/token`, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from('nobody:nothing').toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'client_credentials' }),
    });
    expect(res.status).toBe(401);
    const id = res.headers.get('x-request-id')!;
    expect(captured.lines.find((l) => l.event === 'oidc.grant.error' && l.reqId === id)).toMatchObject({ level: 40, error: 'invalid_client' });
    expect(sampleValue(await scrape(t), 'tessera_oidc_errors_total', { event: 'grant.error', error: 'invalid_client' })).toBeGreaterThanOrEqual(1);
  });

  it('without METRICS_TOKEN only this machine may scrape: a request a proxy passed on is refused', async () => {
    for (const header of ['x-forwarded-for', 'forwarded', 'x-real-ip']) {
      const res = await fetch(`${t.issuer}/metrics`, { headers: { [header]: header === 'forwarded' ? 'for=203.0.113.9' : '203.0.113.9' } });
      expect(res.status, header).toBe(403);
      expect(await res.text()).not.toContain('tessera_');
    }
    expect((await fetch(`${t.issuer}/metrics`, { method: 'POST' })).status).toBe(405);
  });
});

describe('who may scrape /metrics', () => {
  const local = { peer: '127.0.0.1', rawHeaders: ['Host', 'id.example.com'], authorization: undefined };
  it('without a token: loopback peers with no forwarding header only', () => {
    expect(scrapeVerdict(local, null)).toBe('ok');
    expect(scrapeVerdict({ ...local, peer: '::1' }, null)).toBe('ok');
    expect(scrapeVerdict({ ...local, peer: '::ffff:127.0.0.1' }, null)).toBe('ok');
    expect(scrapeVerdict({ ...local, peer: '10.0.0.5' }, null)).toBe('forbidden');
    expect(scrapeVerdict({ ...local, peer: '203.0.113.9' }, null)).toBe('forbidden');
    expect(scrapeVerdict({ ...local, rawHeaders: ['Host', 'x', 'X-Forwarded-For', '203.0.113.9'] }, null)).toBe('forbidden');
    expect(scrapeVerdict({ ...local, rawHeaders: ['Via', '1.1 proxy'] }, null)).toBe('forbidden');
  });
  it('with a token: its bearer from anywhere, nobody else (loopback neither)', () => {
    expect(scrapeVerdict({ ...local, peer: '203.0.113.9', authorization: `Bearer ${TOKEN}` }, TOKEN)).toBe('ok');
    expect(scrapeVerdict({ ...local, authorization: undefined }, TOKEN)).toBe('unauthorized');
    expect(scrapeVerdict({ ...local, authorization: `Bearer ${TOKEN}x` }, TOKEN)).toBe('unauthorized');
    expect(scrapeVerdict({ ...local, authorization: `Basic ${TOKEN}` }, TOKEN)).toBe('unauthorized');
  });
  it('METRICS_TOKEN must be long enough', () => {
    expect(() => loadConfig({ NODE_ENV: 'test', METRICS_TOKEN: 'short' })).toThrow(ConfigError);
    expect(loadConfig({ NODE_ENV: 'test' }).metrics).toEqual({ enabled: true, token: null });
    expect(loadConfig({ NODE_ENV: 'test', METRICS: 'off' }).metrics.enabled).toBe(false);
  });
});

describe('GET /metrics with METRICS_TOKEN', () => {
  let t: RunningTessera;
  beforeAll(async () => {
    t = await startTessera({ env: { METRICS_TOKEN: TOKEN } });
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('refuses a scrape without the bearer token (401, WWW-Authenticate), even from loopback; serves it with the token', async () => {
    const none = await fetch(`${t.issuer}/metrics`);
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toBe('Bearer realm="metrics"');
    expect(await none.text()).not.toContain('tessera_');
    expect((await fetch(`${t.issuer}/metrics`, { headers: { authorization: 'Bearer wrong-token-of-some-length' } })).status).toBe(401);
    const m = await scrape(t, { authorization: `Bearer ${TOKEN}`, 'x-forwarded-for': '203.0.113.9' });
    expect(m.get('tessera_http_requests_total')?.type).toBe('counter');
  });
});

describe('METRICS=off', () => {
  let t: RunningTessera;
  beforeAll(async () => {
    t = await startTessera({ env: { METRICS: 'off' } });
  });
  afterAll(async () => {
    await t?.stop();
  });

  it('serves no /metrics', async () => {
    expect((await fetch(`${t.issuer}/metrics`)).status).toBe(404);
  });
});
