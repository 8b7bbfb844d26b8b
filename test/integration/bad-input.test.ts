// Bad input never gets a stack trace or a 500: clear pages with 4xx, correct OAuth errors, and the
// same words for an unknown account and a wrong password.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { startTessera, type RunningTessera } from '../support/tessera.ts';
import { HttpClient, csrfOf } from '../support/http.ts';
import { codeFrom } from '../support/smtp-sink.ts';
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

/** An HttpClient that keeps every Set-Cookie header the server sent. */
class CookieRecorder extends HttpClient {
  readonly setCookies: string[] = [];
  override async get(path: string) {
    const res = await super.get(path);
    this.setCookies.push(...res.headers.getSetCookie());
    return res;
  }
  override async post(path: string, body: string | URLSearchParams | Record<string, string>, contentType?: string) {
    const res = await super.post(path, body, contentType);
    this.setCookies.push(...res.headers.getSetCookie());
    return res;
  }
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
    // Broken percent-encoding is taken as the literal text: an ordinary failed sign-in.
    const badEncoding = await http.post(`${a.url}/login`, `_csrf=${encodeURIComponent(a.csrf)}&email=%E0%A4%A&password=%`);
    expect(badEncoding.status).toBe(401);
    const badHtml = await badEncoding.text();
    expect(badHtml).toMatch(/role="alert">That email and password don’t match/);
    expectNoLeak(badHtml);
  });

  it('shows every bad registration field at once, each next to its field', async () => {
    const http = new HttpClient(t.issuer);
    const a = await openLogin(http);
    const r = await http.post(`${a.url}/register`, { _csrf: a.csrf, name: '', email: 'not-an-email', password: 'short', password_confirm: 'different' });
    expect(r.status).toBe(400);
    const html = await r.text();
    for (const name of ['name', 'email', 'password', 'password_confirm']) expect(html).toMatch(new RegExp(`id="${name}-error"`));
    expectNoLeak(html);
  });

  it('answers a registration of a taken email (any case) like a new one: check your email, no account told apart', async () => {
    const http = new HttpClient(t.issuer);
    const a = await openLogin(http);
    const r = await http.post(`${a.url}/register`, { _csrf: a.csrf, name: 'Grace Again', email: 'GRACE@example.com', password: PASSWORD, password_confirm: PASSWORD });
    expect(r.status).toBe(302);
    const page = await http.follow(r.headers.get('location')!);
    const html = await page.res.text();
    expect(html).toContain('Confirm your email');
    expect(html).not.toMatch(/already exists/);
    expectNoLeak(html);
  });

  it('shows an expired or unknown interaction as a 400 page, not a crash', async () => {
    const http = new HttpClient(t.issuer);
    const r = await http.get('/interaction/does-not-exist');
    expect(r.status).toBe(400);
    const html = await r.text();
    expect(html).toContain('took too long');
    expectNoLeak(html);
    // The sign-in page's form, sent after its interaction is gone (expired): the same 400 page.
    const a = await openLogin(http);
    await t.store.oidc.destroy('Interaction', a.url.split('/')[2]);
    const post = await http.post(`${a.url}/login`, { _csrf: a.csrf, email: 'grace@example.com', password: PASSWORD });
    expect(post.status).toBe(400);
    const postHtml = await post.text();
    expect(postHtml).toContain('took too long');
    expectNoLeak(postHtml);
    // Without the token it is refused before anything else is looked at.
    const forged = await http.post('/interaction/does-not-exist/login', { _csrf: 'x', email: 'a', password: 'b' });
    expect(forged.status).toBe(403);
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
  it('serves hosted pages with CSP, frame-ancestors none, nosniff and no-store', async () => {
    const http = new HttpClient(t.issuer);
    const { res } = await http.follow(authorizePath());
    expect(res.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
    expect(res.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('cache-control')).toBe('no-store');
  });

  it('sets every cookie of a whole sign-in (password, SMS code, remember this browser) httpOnly and SameSite=Lax', async () => {
    const phone = '+33612348888';
    const email = 'cookies@example.com';
    await t.built.services.accounts.register({ name: 'Cookie', email, password: PASSWORD, email_verified: true, phone_number: phone, phone_number_verified: true, mfa: ['sms'] });
    const http = new CookieRecorder(t.issuer);
    const a = await openLogin(http);
    const afterPassword = await http.post(`${a.url}/login`, { _csrf: a.csrf, email, password: PASSWORD });
    expect(afterPassword.status).toBe(302);
    const sms = await http.follow(afterPassword.headers.get('location')!);
    const smsHtml = await sms.res.text();
    expect(smsHtml).toContain('Check your phone');
    const code = codeFrom((await t.vonage.waitFor(phone, 1)).text);
    const afterSms = await http.post(`${a.url}/sms`, { _csrf: csrfOf(smsHtml), code, remember_browser: 'yes' });
    expect(afterSms.status).toBe(302);
    const consent = await http.follow(afterSms.headers.get('location')!);
    const consentHtml = await consent.res.text();
    expect(consentHtml).toContain('Allow access?');
    const allowed = await http.post(`${new URL(consent.url).pathname}/consent`, { _csrf: csrfOf(consentHtml) });
    const done = await http.follow(allowed.headers.get('location')!);
    expect(done.url.startsWith(`${REDIRECT}?code=`)).toBe(true); // back at the app: the whole flow ran

    const names = new Set(http.setCookies.map((c) => c.slice(0, c.indexOf('='))));
    // Tessera's own cookies and oidc-provider's interaction and session cookies were all seen.
    for (const name of ['tessera.csrf', 'tessera.remember', '_interaction', '_interaction_resume', '_session']) expect(names).toContain(name);
    for (const c of http.setCookies) {
      expect(c.toLowerCase(), c).toContain('httponly');
      expect(c.toLowerCase(), c).toContain('samesite=lax');
    }
  });
});
