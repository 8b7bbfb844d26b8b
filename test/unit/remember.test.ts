// "Remember this browser" (src/factors/remember.ts) on real koa contexts: the cookie it sets is read
// back by the next request, and it stops counting once the account's password or phone changes, for
// another account, after its expiry, when tampered with, or once its record is forgotten (/account).
import { describe, it, expect, afterEach, beforeAll, afterAll, vi } from 'vitest';
import http from 'node:http';
import net from 'node:net';
import Koa from 'koa';
import type { Context } from 'koa';
import { rememberBrowser, isRemembered } from '../../src/factors/remember.ts';
import type { AccountRecord, Store } from '../../src/store/ports.ts';
import { openSqliteStore } from '../../src/store/sqlite/index.ts';

const KEY_TEXT = 'a-cookie-key-for-tests-only-0123456789';
let store: Store;
beforeAll(async () => {
  store = await openSqliteStore({ file: ':memory:' });
});
afterAll(async () => store.close());
/** The options under the test key, or another key. */
const opts = (key = KEY_TEXT) => ({ keys: key, browsers: store.browsers, ip: '192.0.2.7' });
const app = new Koa();

/** A koa context for a request carrying `cookie` (a Cookie header), as the server would build it. */
function request(cookie?: string): Context {
  const req = new http.IncomingMessage(new net.Socket());
  req.method = 'GET';
  req.url = '/interaction/x';
  req.headers = { host: '127.0.0.1', ...(cookie ? { cookie } : {}) };
  const res = new http.ServerResponse(req);
  return app.createContext(req, res) as Context;
}

/** The Set-Cookie headers a response carries. */
function setCookies(ctx: Context): string[] {
  const h = ctx.res.getHeader('set-cookie');
  return Array.isArray(h) ? h : h ? [String(h)] : [];
}

function account(over: Partial<AccountRecord> = {}): AccountRecord {
  return {
    id: 'acct-1', email: 'r@example.com', emailVerified: true, name: 'R', passwordHash: '$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA',
    phoneNumber: '+33612345678', phoneNumberVerified: true, factors: [], preferredMfa: null,
    createdAt: new Date(0), updatedAt: new Date(0), ...over,
  };
}

/** Remembers `a` on one response and returns the Cookie header the browser sends next. */
async function remembered(a: AccountRecord, days = 30): Promise<string> {
  const ctx = request();
  await rememberBrowser(ctx, opts(), a, days);
  const cookies = setCookies(ctx);
  expect(cookies).toHaveLength(1);
  return cookies[0].split(';')[0];
}

afterEach(() => vi.useRealTimers());

describe('remember this browser', async () => {
  it('sets an httpOnly, SameSite=Lax cookie that lasts the chosen days and counts on the next request', async () => {
    const ctx = request();
    await rememberBrowser(ctx, opts(), account(), 30);
    const [cookie] = setCookies(ctx);
    expect(cookie).toMatch(/^tessera\.remember=/);
    expect(cookie.toLowerCase()).toContain('httponly');
    expect(cookie.toLowerCase()).toContain('samesite=lax');
    const expires = Date.parse(/expires=([^;]+)/i.exec(cookie)![1]);
    expect(Math.abs(expires - (Date.now() + 30 * 86_400_000))).toBeLessThan(60_000);
    expect(await isRemembered(request(cookie.split(';')[0]), opts(), account())).toBe(true);
    expect(await isRemembered(request(), opts(), account())).toBe(false);
  });

  it('is void once the password changes', async () => {
    const cookie = await remembered(account());
    expect(await isRemembered(request(cookie), opts(), account({ passwordHash: '$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$bmV3' }))).toBe(false);
  });

  it('is void once the phone number changes or is removed', async () => {
    const cookie = await remembered(account());
    expect(await isRemembered(request(cookie), opts(), account({ phoneNumber: '+33699999999' }))).toBe(false);
    expect(await isRemembered(request(cookie), opts(), account({ phoneNumber: null }))).toBe(false);
  });

  it('stays remembered across a cookie key rotation while the older key is kept, and not after', async () => {
    const cookie = await remembered(account());
    const NEW = 'the-rotated-in-cookie-key-0123456789ab';
    expect(await isRemembered(request(cookie), { keys: [NEW, KEY_TEXT], browsers: store.browsers }, account())).toBe(true);
    expect(await isRemembered(request(cookie), { keys: [NEW], browsers: store.browsers }, account())).toBe(false);
  });

  it('counts only for its own account, under its own key, until it expires, and not when tampered with', async () => {
    const cookie = await remembered(account(), 1);
    expect(await isRemembered(request(cookie), opts(), account({ id: 'acct-2' }))).toBe(false);
    expect(await isRemembered(request(cookie), opts('another-cookie-key-0123456789abcdef'), account())).toBe(false);
    const [name, value] = cookie.split('=');
    const [id, browser, exp, mac] = value.split('.');
    // A later expiry written into the cookie doesn't match its MAC.
    expect(await isRemembered(request(`${name}=${id}.${browser}.${Number(exp) + 86_400_000}.${mac}`), opts(), account())).toBe(false);
    expect(await isRemembered(request(`${name}=${id}.${browser}.${exp}.${mac.slice(0, -2)}xx`), opts(), account())).toBe(false);
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.now() + 86_400_000 + 1000);
    expect(await isRemembered(request(cookie), opts(), account())).toBe(false);
  });

  it('is listed as a remembered browser, and is void once forgotten', async () => {
    const a = account({ id: 'acct-forget' });
    const cookie = await remembered(a);
    const listed = await store.browsers.listForAccount('acct-forget', 'remembered');
    expect(listed).toHaveLength(1);
    expect(listed[0].ip).toBe('192.0.2.7');
    expect(await isRemembered(request(cookie), opts(), a)).toBe(true);
    await store.browsers.deleteForAccount('acct-forget', 'remembered');
    expect(await isRemembered(request(cookie), opts(), a)).toBe(false);
  });
});
