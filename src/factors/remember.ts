// "Remember this browser": after an SMS code, the user may skip the second factor THEY chose on this
// browser for a while. It never satisfies a relying party's demand (acr_values, client minimum), and
// the ID token then says honestly that only a password was used. A password or phone change voids it.
import crypto from 'node:crypto';
import type { Context } from 'koa';
import type { AccountRecord } from '../store/ports.ts';
import { constantTimeEqual } from '../secrets.ts';

const COOKIE = 'tessera.remember';

function stamp(key: string, account: AccountRecord, exp: number): string {
  return crypto
    .createHmac('sha256', key)
    .update(`${account.id}|${exp}|${account.passwordHash}|${account.phoneNumber ?? ''}`)
    .digest('base64url');
}

export function rememberBrowser(ctx: Context, key: string, account: AccountRecord, days: number): void {
  const exp = Date.now() + days * 86_400_000;
  ctx.cookies.set(COOKIE, `${account.id}.${exp}.${stamp(key, account, exp)}`, {
    httpOnly: true, sameSite: 'lax', secure: ctx.secure, maxAge: days * 86_400_000, overwrite: true, signed: false,
  });
}

export function isRemembered(ctx: Context, key: string, account: AccountRecord): boolean {
  const value = ctx.cookies.get(COOKIE);
  if (!value) return false;
  const [id, expText, mac] = value.split('.');
  const exp = Number(expText);
  if (id !== account.id || !Number.isFinite(exp) || exp < Date.now() || !mac) return false;
  return constantTimeEqual(mac, stamp(key, account, exp));
}
