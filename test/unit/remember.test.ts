// "Remember this browser" (src/factors/remember.ts) on real koa contexts: the cookie it sets is read
// back by the next request, and it stops counting once the account's password or phone changes, for
// another account, after its expiry, or when tampered with.
import { describe, it, expect, afterEach, vi } from 'vitest';
import http from 'node:http';
import net from 'node:net';
import Koa from 'koa';
import type { Context } from 'koa';
import { rememberBrowser, isRemembered } from '../../src/factors/remember.ts';
import type { AccountRecord } from '../../src/store/ports.ts';

const KEY = 'a-cookie-key-for-tests-only-0123456789';
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
function remembered(a: AccountRecord, days = 30): string {
  const ctx = request();
  rememberBrowser(ctx, KEY, a, days);
  const cookies = setCookies(ctx);
  expect(cookies).toHaveLength(1);
  return cookies[0].split(';')[0];
}

afterEach(() => vi.useRealTimers());

describe('remember this browser', () => {
  it('sets an httpOnly, SameSite=Lax cookie that lasts the chosen days and counts on the next request', () => {
    const ctx = request();
    rememberBrowser(ctx, KEY, account(), 30);
    const [cookie] = setCookies(ctx);
    expect(cookie).toMatch(/^tessera\.remember=/);
    expect(cookie.toLowerCase()).toContain('httponly');
    expect(cookie.toLowerCase()).toContain('samesite=lax');
    const expires = Date.parse(/expires=([^;]+)/i.exec(cookie)![1]);
    expect(Math.abs(expires - (Date.now() + 30 * 86_400_000))).toBeLessThan(60_000);
    expect(isRemembered(request(cookie.split(';')[0]), KEY, account())).toBe(true);
    expect(isRemembered(request(), KEY, account())).toBe(false);
  });

  it('is void once the password changes', () => {
    const cookie = remembered(account());
    expect(isRemembered(request(cookie), KEY, account({ passwordHash: '$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$bmV3' }))).toBe(false);
  });

  it('is void once the phone number changes or is removed', () => {
    const cookie = remembered(account());
    expect(isRemembered(request(cookie), KEY, account({ phoneNumber: '+33699999999' }))).toBe(false);
    expect(isRemembered(request(cookie), KEY, account({ phoneNumber: null }))).toBe(false);
  });

  it('stays remembered across a cookie key rotation while the older key is kept, and not after', () => {
    const cookie = remembered(account());
    const NEW = 'the-rotated-in-cookie-key-0123456789ab';
    expect(isRemembered(request(cookie), [NEW, KEY], account())).toBe(true);
    expect(isRemembered(request(cookie), [NEW], account())).toBe(false);
  });

  it('counts only for its own account, under its own key, until it expires, and not when tampered with', () => {
    const cookie = remembered(account(), 1);
    expect(isRemembered(request(cookie), KEY, account({ id: 'acct-2' }))).toBe(false);
    expect(isRemembered(request(cookie), 'another-cookie-key-0123456789abcdef', account())).toBe(false);
    const [name, value] = cookie.split('=');
    const [id, exp, mac] = value.split('.');
    // A later expiry written into the cookie doesn't match its MAC.
    expect(isRemembered(request(`${name}=${id}.${Number(exp) + 86_400_000}.${mac}`), KEY, account())).toBe(false);
    expect(isRemembered(request(`${name}=${id}.${exp}.${mac.slice(0, -2)}xx`), KEY, account())).toBe(false);
    vi.useFakeTimers({ toFake: ['Date'] });
    vi.setSystemTime(Date.now() + 86_400_000 + 1000);
    expect(isRemembered(request(cookie), KEY, account())).toBe(false);
  });
});
