// Bad input never gets a stack trace or a 500: clear pages with 4xx, correct OAuth errors, and the
// same words for an unknown account and a wrong password.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { startTessera, type RunningTessera } from '../support/tessera.ts';
import { HttpClient, csrfOf } from '../support/http.ts';
import { ClientService } from '../../src/admin/clients.ts';

let t: RunningTessera;
let clientId: string;
const REDIRECT = 'http://127.0.0.1:9/callback';
const PASSWORD = 'a perfectly fine password';

function authorizePath(extra: Record<string, string> = {}) {
  return `/auth?${new URLSearchParams({
    client_id: clientId, response_type: 'code', scope: 'openid email', redirect_uri: REDIRECT,
    code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256', state: 'st', ...extra,
  })}`;
}

async function openLogin(http: HttpClient) {
  const { res, url } = await http.follow(authorizePath());
  expect(res.status).toBe(200);
  const html = await res.text();
  return { url: new URL(url).pathname, csrf: csrfOf(html), html };
}

function expectNoLeak(html: string) {
  expect(html).not.toMatch(/\n\s+at .+\(.+:\d+:\d+\)/); // no stack frames
  expect(html).not.toMatch(/TypeError|ReferenceError|node_modules/);
}

beforeAll(async () => {
  t = await startTessera({ overrides: { login: { maxFailuresPerAccount: 4, maxFailuresPerIp: 1000, lockoutSeconds: 900 } } });
  const s = t.built.services;
  const c = await new ClientService(s.store, s.box, s.provider).create({ client_name: 'Bad Input App', redirect_uris: [REDIRECT], scope: 'openid email' });
  clientId = c.client_id;
  await s.accounts.register({ name: 'Grace', email: 'grace@example.com', password: PASSWORD, email_verified: true });
});
afterAll(() => t?.stop());

describe('sign-in errors', () => {
  it('says the same thing for a wrong password and an unknown email, with 401', async () => {
    const http = new HttpClient(t.issuer);
    const a = await openLogin(http);
    const wrong = await http.post(`${a.url}/login`, { _csrf: a.csrf, email: 'grace@example.com', password: 'not the password' });
    const wrongHtml = await wrong.text();
    const unknown = await http.post(`${a.url}/login`, { _csrf: a.csrf, email: 'nobody@example.com', password: 'not the password' });
    const unknownHtml = await unknown.text();
    expect(wrong.status).toBe(401);
    expect(unknown.status).toBe(401);
    const msg = (h: string) => /role="alert">([^<]+)</.exec(h)?.[1];
    expect(msg(wrongHtml)).toBeTruthy();
    expect(msg(wrongHtml)).toBe(msg(unknownHtml));
    expect(msg(wrongHtml)).not.toMatch(/no account|not found|doesn.t exist|unknown/i);
  });

  it('throttles repeated wrong passwords for an account with 429', async () => {
    const http = new HttpClient(t.issuer);
    const a = await openLogin(http);
    await t.store.accounts.findByEmail('grace@example.com');
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) {
      const r = await http.post(`${a.url}/login`, { _csrf: a.csrf, email: 'Throttle@Example.com', password: `wrong ${i}` });
      statuses.push(r.status);
    }
    expect(statuses.slice(0, 4)).toEqual([401, 401, 401, 401]);
    expect(statuses[4]).toBe(429);
  });

  it('refuses a form without the CSRF token (403) and a non-form body (415)', async () => {
    const http = new HttpClient(t.issuer);
    const a = await openLogin(http);
    const noToken = await http.post(`${a.url}/login`, { email: 'grace@example.com', password: PASSWORD });
    expect(noToken.status).toBe(403);
    expectNoLeak(await noToken.text());
    const json = await http.post(`${a.url}/login`, JSON.stringify({ email: 'x' }), 'application/json');
    expect(json.status).toBe(415);
  });

  it('answers malformed and overlong form fields with 4xx pages', async () => {
    const http = new HttpClient(t.issuer);
    const a = await openLogin(http);
    const arrays = await http.post(`${a.url}/login`, `_csrf=${encodeURIComponent(a.csrf)}&email[]=a&email[]=b&password[x]=y`);
    expect(arrays.status).toBe(400);
    expectNoLeak(await arrays.text());
    const long = await http.post(`${a.url}/register`, { _csrf: a.csrf, name: 'n'.repeat(5000), email: `${'e'.repeat(300)}@example.com`, password: 'p'.repeat(2000), password_confirm: 'p'.repeat(2000) });
    expect(long.status).toBe(400);
    const html = await long.text();
    expect(html).toContain('Enter your name');
    expectNoLeak(html);
    const huge = await http.post(`${a.url}/login`, { _csrf: a.csrf, email: 'x'.repeat(100_000), password: 'y' });
    expect(huge.status).toBe(413);
    expectNoLeak(await huge.text());
    const badEncoding = await http.post(`${a.url}/login`, `_csrf=${encodeURIComponent(a.csrf)}&email=%E0%A4%A&password=%`);
    expect(badEncoding.status).toBeGreaterThanOrEqual(400);
    expect(badEncoding.status).toBeLessThan(500);
  });

  it('rejects a duplicate registration with a clear message next to the email field', async () => {
    const http = new HttpClient(t.issuer);
    const a = await openLogin(http);
    const r = await http.post(`${a.url}/register`, { _csrf: a.csrf, name: 'Grace Again', email: 'GRACE@example.com', password: PASSWORD, password_confirm: PASSWORD });
    expect(r.status).toBe(400);
    const html = await r.text();
    expect(html).toMatch(/id="email-error"[^>]*>An account with this email already exists/);
  });

  it('shows an expired or unknown interaction as a 400 page, not a crash', async () => {
    const http = new HttpClient(t.issuer);
    const r = await http.get('/interaction/does-not-exist');
    expect(r.status).toBe(400);
    const html = await r.text();
    expect(html).toContain('took too long');
    expectNoLeak(html);
    const post = await http.post('/interaction/does-not-exist/login', { _csrf: 'x', email: 'a', password: 'b' });
    expect(post.status).toBeGreaterThanOrEqual(400);
    expect(post.status).toBeLessThan(500);
  });
});

describe('authorization request errors', () => {
  it('shows an error page (no redirect) for an unknown client', async () => {
    const http = new HttpClient(t.issuer);
    const r = await http.get(authorizePath({ client_id: 'no-such-client' }));
    expect(r.status).toBe(400);
    expect(r.headers.get('location')).toBeNull();
    const html = await r.text();
    expect(html).toContain('invalid_client');
    expectNoLeak(html);
  });

  it('shows an error page (never a redirect) for a redirect_uri that is not registered', async () => {
    const http = new HttpClient(t.issuer);
    const r = await http.get(authorizePath({ redirect_uri: 'https://attacker.example/cb' }));
    expect(r.status).toBe(400);
    expect(r.headers.get('location')).toBeNull();
    expect(await r.text()).toContain('redirect_uri');
  });

  it('redirects protocol errors the client can handle, e.g. a missing PKCE challenge for the code flow', async () => {
    const pub = await new ClientService(t.store, t.built.services.box, t.built.services.provider).create({
      client_name: 'SPA', redirect_uris: [REDIRECT], token_endpoint_auth_method: 'none', scope: 'openid',
    });
    const http = new HttpClient(t.issuer);
    const r = await http.get(`/auth?${new URLSearchParams({ client_id: pub.client_id, response_type: 'code', scope: 'openid', redirect_uri: REDIRECT, state: 's1' })}`);
    expect(r.status).toBe(303);
    const loc = new URL(r.headers.get('location')!);
    expect(loc.searchParams.get('error')).toBe('invalid_request');
    expect(loc.searchParams.get('state')).toBe('s1');
  });

  it('answers unknown pages with a 404 page', async () => {
    const r = await new HttpClient(t.issuer).get('/no/such/page');
    expect(r.status).toBe(404);
  });
});

describe('security headers and cookies', () => {
  it('serves hosted pages with CSP, frame-ancestors none, nosniff, no-store and SameSite cookies', async () => {
    const http = new HttpClient(t.issuer);
    const { res } = await http.follow(authorizePath());
    expect(res.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
    expect(res.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('cache-control')).toBe('no-store');
    const first = await fetch(new URL(authorizePath(), t.issuer), { redirect: 'manual' });
    for (const c of first.headers.getSetCookie()) expect(c.toLowerCase()).toContain('samesite=lax');
    for (const c of first.headers.getSetCookie()) expect(c.toLowerCase()).toContain('httponly');
  });
});
