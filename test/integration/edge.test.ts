// The edge of every request (issue 10): forwarded headers only from trusted proxies (item 4), strict host
// names (item 5), CSRF tokens bound to a signed browser secret and to the interaction or session (item 11),
// and dev conveniences only on a loopback issuer (item 12). Raw HTTP (node:http), because fetch can't
// set Host and these attacks come from scripts, not browsers.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import http from 'node:http';
import net from 'node:net';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startTessera, type RunningTessera } from '../support/tessera.ts';
import { csrfOf } from '../support/http.ts';
import { ClientService } from '../../src/admin/clients.ts';
import { TrustedProxies, clientAddress } from '../../src/http/proxy.ts';

const REDIRECT = 'http://127.0.0.1:9/callback';
const PASSWORD = 'a perfectly fine password';
const PRODUCTION = { NODE_ENV: 'production', COOKIE_SECRETS: 'edge-test-cookie-secret-0123456789abcdef', DATA_KEY: 'edge-test-data-key-0123456789abcdefghij' };

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  text: string;
}

/** One request written byte for byte on a TCP socket (request targets http.request can't send); the whole reply. */
function rawRequest(port: number, request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(request));
    let out = '';
    socket.setEncoding('utf8');
    socket.on('data', (d) => (out += d));
    socket.on('end', () => resolve(out));
    socket.on('error', reject);
  });
}

/** A cookie-keeping client on raw HTTP: any Host, any header, every status and Location as sent. */
class RawBrowser {
  readonly cookies = new Map<string, string>();
  private readonly url: URL;
  constructor(server: string, private readonly host?: string) {
    this.url = new URL(server);
  }

  request(method: string, target: string, opts: { headers?: Record<string, string>; form?: Record<string, string> } = {}): Promise<Reply> {
    const body = opts.form ? new URLSearchParams(opts.form).toString() : undefined;
    const headers: Record<string, string> = { accept: 'text/html', ...(this.host ? { host: this.host } : {}), ...opts.headers };
    if (this.cookies.size) headers.cookie = [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    if (body !== undefined) Object.assign(headers, { 'content-type': 'application/x-www-form-urlencoded', 'content-length': String(Buffer.byteLength(body)) });
    return new Promise((resolve, reject) => {
      const req = http.request({ host: this.url.hostname, port: this.url.port, method, path: target, headers }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c) => (text += c));
        res.on('end', () => {
          for (const c of res.headers['set-cookie'] ?? []) {
            const [pair] = c.split(';');
            const i = pair.indexOf('=');
            const name = pair.slice(0, i).trim();
            const value = pair.slice(i + 1).trim();
            if (/expires=Thu, 01 Jan 1970/i.test(c) || value === '') this.cookies.delete(name);
            else this.cookies.set(name, value);
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text });
        });
      });
      req.on('error', reject);
      req.end(body);
    });
  }

  get(target: string, headers?: Record<string, string>) {
    return this.request('GET', target, { headers });
  }
  post(target: string, form: Record<string, string>, headers?: Record<string, string>) {
    return this.request('POST', target, { form, headers });
  }

  /** GETs and follows redirects within the server; returns the last reply and its path. */
  async follow(target: string): Promise<Reply & { path: string }> {
    let current = target;
    for (let i = 0; i < 12; i++) {
      const r = await this.get(current);
      const location = r.headers.location;
      if (!location || r.status < 300 || r.status >= 400) return { ...r, path: current };
      const next = new URL(location, `http://${this.host ?? this.url.host}${current}`);
      if (next.port !== this.url.port && next.host !== this.host) return { ...r, path: current };
      current = next.pathname + next.search;
    }
    throw new Error('too many redirects');
  }
}

async function registerClient(t: RunningTessera): Promise<string> {
  const s = t.built.services;
  const c = await new ClientService(s.store, s.box, s.provider).create({ client_name: 'Edge App', redirect_uris: [REDIRECT], scope: 'openid email' });
  return c.client_id;
}

function authorizePath(clientId: string) {
  return `/auth?${new URLSearchParams({
    client_id: clientId, response_type: 'code', scope: 'openid email', redirect_uri: REDIRECT,
    code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256', state: 'st',
  })}`;
}

async function openLogin(b: RawBrowser, clientId: string) {
  const r = await b.follow(authorizePath(clientId));
  expect(r.status).toBe(200);
  return { path: r.path.split('?')[0], csrf: csrfOf(r.text) };
}

async function failedLoginIps(t: RunningTessera): Promise<string[]> {
  return (await t.store.audit.list({ type: 'login.failed', limit: 100 })).map((e) => e.ip ?? '').reverse();
}

function discoveryOf(r: Reply): Record<string, string> {
  expect(r.status).toBe(200);
  return JSON.parse(r.text) as Record<string, string>;
}

// ---------------------------------------------------------------- item 4: forwarded headers

describe('client address from X-Forwarded-For', () => {
  const proxies = new TrustedProxies(['10.0.0.0/8', '127.0.0.1/32', 'fd00::/8']);
  it('is the peer unless the peer is a trusted proxy', () => {
    expect(clientAddress('203.0.113.5', '198.51.100.1', proxies)).toBe('203.0.113.5');
    expect(clientAddress('::ffff:203.0.113.5', '198.51.100.1', proxies)).toBe('203.0.113.5');
    expect(clientAddress('203.0.113.5', '1.1.1.1', new TrustedProxies([]))).toBe('203.0.113.5');
  });
  it('is the right-most hop that is not a trusted proxy', () => {
    expect(clientAddress('10.1.2.3', '198.51.100.1, 203.0.113.7', proxies)).toBe('203.0.113.7');
    expect(clientAddress('10.1.2.3', '198.51.100.1, 203.0.113.7, 10.9.9.9, 127.0.0.1', proxies)).toBe('203.0.113.7');
    expect(clientAddress('::ffff:127.0.0.1', '2001:db8::9, fd00::1', proxies)).toBe('2001:db8::9');
    expect(clientAddress('10.1.2.3', '198.51.100.1:4711, [2001:db8::7]:443', proxies)).toBe('2001:db8::7');
    expect(clientAddress('10.1.2.3', '10.0.0.2, 10.0.0.1', proxies)).toBe('10.0.0.2'); // all trusted: the furthest
    expect(clientAddress('10.1.2.3', 'unknown, 10.0.0.9', proxies)).toBe('10.0.0.9'); // garbage: the last vouched-for
    expect(clientAddress('10.1.2.3', '', proxies)).toBe('10.1.2.3');
  });
});

describe('production, no trusted proxies (the default)', () => {
  let t: RunningTessera;
  let clientId: string;
  beforeAll(async () => {
    t = await startTessera({ env: PRODUCTION, overrides: { login: { maxFailuresPerIp: 3 } } });
    clientId = await registerClient(t);
  });
  afterAll(() => t?.stop());

  it('ignores X-Forwarded-For: rotating it neither changes the address nor dodges the per-IP login limit', async () => {
    const b = new RawBrowser(t.issuer);
    const login = await openLogin(b, clientId);
    const statuses: number[] = [];
    for (let i = 0; i < 5; i++) {
      const r = await b.post(`${login.path}/login`, { _csrf: login.csrf, email: `nobody${i}@example.com`, password: 'wrong' }, { 'x-forwarded-for': `198.51.100.${i + 1}` });
      statuses.push(r.status);
    }
    expect(statuses.slice(0, 3)).toEqual([401, 401, 401]);
    expect(statuses.slice(3)).toEqual([429, 429]);
    expect(new Set(await failedLoginIps(t))).toEqual(new Set(['127.0.0.1']));
  });

  it('ignores X-Forwarded-Proto and X-Forwarded-Host: discovery keeps the issuer URLs', async () => {
    const b = new RawBrowser(t.issuer);
    const d = discoveryOf(await b.get('/.well-known/openid-configuration', { 'x-forwarded-proto': 'https', 'x-forwarded-host': 'evil.example' }));
    expect(d.issuer).toBe(t.issuer);
    expect(d.authorization_endpoint).toBe(`${t.issuer}/auth`);
    expect(d.token_endpoint).toBe(`${t.issuer}/token`);
  });
});

describe('production behind a trusted proxy (TRUSTED_PROXIES=127.0.0.1/32)', () => {
  let t: RunningTessera;
  let clientId: string;
  beforeAll(async () => {
    t = await startTessera({ env: { ...PRODUCTION, TRUSTED_PROXIES: '127.0.0.1/32' } });
    clientId = await registerClient(t);
  });
  afterAll(() => t?.stop());

  it('takes the right-most X-Forwarded-For hop that is not a trusted proxy', async () => {
    const b = new RawBrowser(t.issuer);
    const login = await openLogin(b, clientId);
    for (const xff of ['198.51.100.1, 203.0.113.7', '203.0.113.8', '198.51.100.1, 203.0.113.9, 127.0.0.1', '203.0.113.10, 127.0.0.2'])
      await b.post(`${login.path}/login`, { _csrf: login.csrf, email: 'nobody@example.com', password: 'wrong' }, { 'x-forwarded-for': xff });
    expect(await failedLoginIps(t)).toEqual(['203.0.113.7', '203.0.113.8', '203.0.113.9', '127.0.0.2']);
  });

  it('believes its X-Forwarded-Proto and an X-Forwarded-Host naming the issuer', async () => {
    const b = new RawBrowser(t.issuer);
    const host = new URL(t.issuer).host;
    const d = discoveryOf(await b.get('/.well-known/openid-configuration', { 'x-forwarded-proto': 'https', 'x-forwarded-host': host }));
    expect(d.token_endpoint).toBe(`https://${host}/token`);
  });
});

// ---------------------------------------------------------------- item 5: host names

describe('host names', () => {
  let t: RunningTessera;
  let proxied: RunningTessera;
  beforeAll(async () => {
    t = await startTessera({ env: { ALLOWED_HOSTS: 'login.example.org' } });
    proxied = await startTessera({ env: { ...PRODUCTION, TRUSTED_PROXIES: '127.0.0.1' } });
  });
  afterAll(async () => {
    await t?.stop();
    await proxied?.stop();
  });

  it('answers discovery for the issuer host, and for an ALLOWED_HOSTS alias', async () => {
    const d = discoveryOf(await new RawBrowser(t.issuer).get('/.well-known/openid-configuration'));
    expect(d.issuer).toBe(t.issuer);
    expect(d.jwks_uri).toBe(`${t.issuer}/jwks`);
    const alias = await new RawBrowser(t.issuer, 'login.example.org').get('/.well-known/openid-configuration');
    expect(alias.status).toBe(200);
  });

  it('refuses a forged Host with a short 400 before discovery, pages or endpoints run', async () => {
    for (const host of ['evil.example', `evil.example:${new URL(t.issuer).port}`, '127.0.0.1', 'login.example.org.evil.example', 'evil.example/x']) {
      const b = new RawBrowser(t.issuer, host);
      for (const target of ['/.well-known/openid-configuration', '/interaction/abc', '/account', authorizePath('x'), '/jwks']) {
        const r = await b.get(target);
        expect(r.status, `${host} ${target}`).toBe(400);
        expect(r.text).not.toContain('evil');
        expect(r.text.length).toBeLessThan(200);
        expect(r.headers['cache-control']).toBe('no-store');
      }
      expect((await b.request('POST', '/token', { form: { grant_type: 'client_credentials' } })).status).toBe(400);
    }
  });

  // Review of issue 10 item 5: an absolute-form request target outranked the checked Host in ctx.href.
  it('refuses an absolute-form request naming a foreign host with 400 (raw socket), and answers one naming the issuer', async () => {
    const port = Number(new URL(t.issuer).port);
    const host = `127.0.0.1:${port}`;
    for (const target of ['http://evil.example/.well-known/openid-configuration', `http://evil.example:${port}/.well-known/openid-configuration`,
      `https://evil.example/interaction/abc`, 'http://evil.example/token', `http://user@${host}/.well-known/openid-configuration`, 'evil.example/.well-known/openid-configuration']) {
      const reply = await rawRequest(port, `GET ${target} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
      expect(reply.split('\r\n')[0], target).toBe('HTTP/1.1 400 Bad Request');
      expect(reply).not.toContain('evil.example');
    }
    const ok = await rawRequest(port, `GET http://${host}/.well-known/openid-configuration HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
    expect(ok.split('\r\n')[0]).toBe('HTTP/1.1 200 OK');
    expect(ok).toContain(`"token_endpoint":"${t.issuer}/token"`);
  });

  it('sends discovery with Cache-Control: no-cache', async () => {
    const r = await new RawBrowser(t.issuer).get('/.well-known/openid-configuration');
    expect(r.headers['cache-control']).toBe('no-cache');
  });

  it('refuses a forged X-Forwarded-Host from a trusted proxy with 400', async () => {
    const b = new RawBrowser(proxied.issuer);
    const r = await b.get('/.well-known/openid-configuration', { 'x-forwarded-host': 'evil.example', 'x-forwarded-proto': 'https' });
    expect(r.status).toBe(400);
    expect(r.text).not.toContain('evil');
    // The right-most value is the proxy's own; a client-sent one in front of it changes nothing.
    const d = discoveryOf(await b.get('/.well-known/openid-configuration', { 'x-forwarded-host': `evil.example, ${new URL(proxied.issuer).host}` }));
    expect(d.token_endpoint).toBe(`${proxied.issuer}/token`);
  });
});

// ---------------------------------------------------------------- item 11: CSRF

describe('CSRF tokens', () => {
  let t: RunningTessera;
  let clientId: string;
  const CSRF_REFUSED = /This form has expired or was not sent from this site/;
  beforeAll(async () => {
    t = await startTessera();
    clientId = await registerClient(t);
    const s = t.built.services;
    await s.accounts.register({ name: 'Vic', email: 'victim@example.com', password: PASSWORD, email_verified: true });
    await s.accounts.register({ name: 'Mal', email: 'attacker@example.com', password: PASSWORD, email_verified: true });
  });
  afterAll(() => t?.stop());

  /** Signs a browser in through /account (the first-party tessera-account client); returns the /account page. */
  async function signIn(b: RawBrowser, email: string) {
    const login = await b.follow('/account');
    expect(login.status).toBe(200);
    const r = await b.post(`${login.path.split('?')[0]}/login`, { _csrf: csrfOf(login.text), email, password: PASSWORD });
    expect(r.status).toBeGreaterThanOrEqual(300);
    const next = new URL(r.headers.location!, t.issuer);
    const page = await b.follow(next.pathname + next.search);
    expect(page.path).toMatch(/^\/account/);
    expect(page.status).toBe(200);
    const form = await b.follow('/account/phone'); // a page with a form (and its token) for this session
    expect(form.status).toBe(200);
    return form;
  }

  function tossed(victim: RawBrowser, attacker: RawBrowser) {
    for (const name of ['tessera.csrf', 'tessera.csrf.sig']) {
      const v = attacker.cookies.get(name);
      if (v === undefined) victim.cookies.delete(name);
      else victim.cookies.set(name, v);
    }
  }

  it('refuses a sign-in form carrying a cookie and token another browser was given (cookie tossing)', async () => {
    const victim = new RawBrowser(t.issuer);
    const attacker = new RawBrowser(t.issuer);
    const v = await openLogin(victim, clientId);
    const a = await openLogin(attacker, clientId);
    // Control: the victim's own token works (a wrong password, not a CSRF refusal).
    const own = await victim.post(`${v.path}/login`, { _csrf: v.csrf, email: 'victim@example.com', password: 'wrong' });
    expect(own.status).toBe(401);
    tossed(victim, attacker);
    const r = await victim.post(`${v.path}/login`, { _csrf: a.csrf, email: 'attacker@example.com', password: PASSWORD });
    expect(r.status).toBe(403);
    expect(r.text).toMatch(CSRF_REFUSED);
  });

  it('refuses an unsigned, attacker-chosen secret cookie even with its correct HMAC', async () => {
    const victim = new RawBrowser(t.issuer);
    const v = await openLogin(victim, clientId);
    const chosen = 'attacker-chosen-secret-value-0123';
    const key = t.built.services.cookieKeys[0]; // the CSRF HMAC key is the current cookie key
    victim.cookies.delete('tessera.csrf.sig');
    victim.cookies.set('tessera.csrf', chosen);
    const plain = crypto.createHmac('sha256', key).update(chosen).digest('base64url');
    const bound = crypto.createHmac('sha256', key).update(`interaction:${v.path.split('/')[2]}\n${chosen}`).digest('base64url');
    for (const token of [plain, bound]) {
      const r = await victim.post(`${v.path}/login`, { _csrf: token, email: 'victim@example.com', password: 'wrong' });
      expect(r.status).toBe(403);
    }
  });

  it("refuses an /account form with another browser's cookie and token, signed in or not", async () => {
    const victim = new RawBrowser(t.issuer);
    const attacker = new RawBrowser(t.issuer);
    const page = await signIn(victim, 'victim@example.com');
    const attackerPage = await signIn(attacker, 'attacker@example.com');
    const anonymous = new RawBrowser(t.issuer); // a browser with no session: a token from a sign-in page
    const anonymousToken = (await openLogin(anonymous, clientId)).csrf;
    // Control: the victim's own token passes the CSRF check.
    const own = await victim.post('/account/phone', { _csrf: csrfOf(page.text), phone_number: '' });
    expect(own.status).not.toBe(403);
    expect(own.text).not.toMatch(CSRF_REFUSED);
    for (const [other, token] of [[attacker, csrfOf(attackerPage.text)], [anonymous, anonymousToken]] as const) {
      const b = new RawBrowser(t.issuer);
      for (const [k, v] of victim.cookies) b.cookies.set(k, v);
      tossed(b, other);
      const r = await b.post('/account/phone', { _csrf: token, phone_number: '+12015550123' });
      expect(r.status).toBe(403);
      expect(r.text).toMatch(CSRF_REFUSED);
    }
  });

  it('keeps an /account page working after a new sign-in in the same browser changes the session cookie', async () => {
    const b = new RawBrowser(t.issuer);
    const page = await signIn(b, 'victim@example.com');
    const before = b.cookies.get('_session');
    // A second sign-in (prompt=login) in the same browser, as a step-up or another app would do.
    const again = await b.follow(`/auth?${new URLSearchParams({ client_id: 'tessera-account', response_type: 'none', scope: 'openid', redirect_uri: `${t.issuer}/account/callback`, prompt: 'login' })}`);
    const r = await b.post(`${again.path.split('?')[0]}/login`, { _csrf: csrfOf(again.text), email: 'victim@example.com', password: PASSWORD });
    await b.follow(new URL(r.headers.location!, t.issuer).pathname);
    expect(b.cookies.get('_session')).not.toBe(before);
    const post = await b.post('/account/phone', { _csrf: csrfOf(page.text), phone_number: '' });
    expect(post.status).not.toBe(403);
    expect(post.text).not.toMatch(CSRF_REFUSED);
  });
});

// ---------------------------------------------------------------- item 12: dev conveniences

describe('dev outbox and demo client in development', () => {
  const HOST = 'id.tessera.test';
  let dataDir: string;
  beforeAll(() => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-edge-dev-'));
  });
  afterAll(() => fs.rmSync(dataDir, { recursive: true, force: true }));

  it('are on with a loopback issuer', async () => {
    const t = await startTessera({ env: { NODE_ENV: 'development' }, dataDir });
    try {
      expect((await new RawBrowser(t.issuer).get('/dev/outbox')).status).toBe(200);
      expect(await t.store.clients.find('demo-app')).toBeTruthy();
    } finally {
      await t.stop();
    }
  });

  // Review of issue 10 item 12: on because the issuer is on loopback, the outbox is for loopback clients only.
  it('serve /dev/outbox on a loopback issuer to loopback clients only (404 through a proxy for 192.0.2.2)', async () => {
    const t = await startTessera({ env: { NODE_ENV: 'development', TRUSTED_PROXIES: '127.0.0.1/32' } });
    try {
      const b = new RawBrowser(t.issuer);
      expect((await b.get('/dev/outbox', { 'x-forwarded-for': '192.0.2.2' })).status).toBe(404);
      expect((await b.get('/dev/outbox', { 'x-forwarded-for': '::ffff:192.0.2.2' })).status).toBe(404);
      expect((await b.get('/dev/outbox', { 'x-forwarded-for': '127.0.0.1' })).status).toBe(200);
      expect((await b.get('/dev/outbox')).status).toBe(200);
    } finally {
      await t.stop();
    }
  });

  it('are off with a non-loopback issuer: /dev/outbox is 404 and the published demo client is gone', async () => {
    // Same store as above: a server once started with the demo client keeps no client with its published secret.
    const t = await startTessera({ env: { NODE_ENV: 'development', ISSUER: `http://${HOST}` }, dataDir });
    try {
      const b = new RawBrowser(t.issuer, HOST);
      expect(discoveryOf(await b.get('/.well-known/openid-configuration')).issuer).toBe(`http://${HOST}`);
      const outbox = await b.get('/dev/outbox');
      expect(outbox.status).toBe(404);
      expect(await t.store.clients.find('demo-app')).toBeFalsy();
      const token = await b.request('POST', '/token', {
        form: { grant_type: 'client_credentials' },
        headers: { authorization: `Basic ${Buffer.from('demo-app:demo-app-secret-change-me').toString('base64')}` },
      });
      expect(token.status).toBe(401);
    } finally {
      await t.stop();
    }
  });

  it('come back off-loopback only when named: DEV_OUTBOX=true', async () => {
    const t = await startTessera({ env: { NODE_ENV: 'development', ISSUER: `http://${HOST}`, DEV_OUTBOX: 'true' } });
    try {
      expect((await new RawBrowser(t.issuer, HOST).get('/dev/outbox')).status).toBe(200);
    } finally {
      await t.stop();
    }
  });
});
