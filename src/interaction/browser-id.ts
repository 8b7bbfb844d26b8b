// The browser's own long-lived random id (cookie `tessera.browser`), set at sign-in only while
// NOTIFY_NEW_BROWSER is on: it tells a browser the account has used before from a new one. It carries
// nothing about the account and proves nothing (it is no credential): losing or forging it at most
// sends or skips one "new sign-in" email.
import type { Context } from 'koa';
import { randomId } from '../secrets.ts';

const COOKIE = 'tessera.browser';
const MAX_AGE_MS = 400 * 86_400_000; // the most browsers keep a cookie

/** This browser's id, made (and set) now when it has none or a malformed one. */
export function browserId(ctx: Context): string {
  const value = ctx.cookies.get(COOKIE);
  if (value && /^[A-Za-z0-9_-]{22,64}$/.test(value)) return value;
  const id = randomId(18);
  ctx.cookies.set(COOKIE, id, { httpOnly: true, sameSite: 'lax', secure: ctx.secure, maxAge: MAX_AGE_MS, overwrite: true, signed: false });
  return id;
}
