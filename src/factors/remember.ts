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

/** `keys`: the cookie keys in use, current first (src/keys/): the current one stamps, any of them is believed. */
type Keys = string | readonly string[];
const listOf = (keys: Keys): readonly string[] => (typeof keys === 'string' ? [keys] : keys);

export function rememberBrowser(ctx: Context, keys: Keys, account: AccountRecord, days: number): void {
  const exp = Date.now() + days * 86_400_000;
  ctx.cookies.set(COOKIE, `${account.id}.${exp}.${stamp(listOf(keys)[0], account, exp)}`, {
    httpOnly: true, sameSite: 'lax', secure: ctx.secure, maxAge: days * 86_400_000, overwrite: true, signed: false,
  });
}

export function isRemembered(ctx: Context, keys: Keys, account: AccountRecord): boolean {
  const value = ctx.cookies.get(COOKIE);
  if (!value) return false;
  const [id, expText, mac] = value.split('.');
  const exp = Number(expText);
  if (id !== account.id || !Number.isFinite(exp) || exp < Date.now() || !mac) return false;
  // A browser remembered before a cookie key rotation stays remembered while the older key is kept.
  return listOf(keys).reduce((ok, key) => constantTimeEqual(mac, stamp(key, account, exp)) || ok, false);
}
