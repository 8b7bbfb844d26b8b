// "Remember this browser": after a second factor, the user may skip the second factor THEY chose on this
// browser for a while. It never satisfies a relying party's demand (acr_values, client minimum), and
// the ID token then says honestly that only a password was used. A password or phone change voids it.
// Each remembered browser is also a record (BrowserRepo, kind 'remembered'), so /account lists them and
// "forget all" works: the cookie counts only while its record exists.
import crypto from 'node:crypto';
import type { Context } from 'koa';
import type { AccountRecord, BrowserRepo } from '../store/ports.ts';
import { constantTimeEqual, randomId } from '../secrets.ts';

const COOKIE = 'tessera.remember';

function stamp(key: string, account: AccountRecord, browserId: string, exp: number): string {
  return crypto
    .createHmac('sha256', key)
    .update(`${account.id}|${browserId}|${exp}|${account.passwordHash}|${account.phoneNumber ?? ''}`)
    .digest('base64url');
}

/** `keys`: the cookie keys in use, current first (src/keys/): the current one stamps, any of them is believed. */
type Keys = string | readonly string[];
const listOf = (keys: Keys): readonly string[] => (typeof keys === 'string' ? [keys] : keys);

export interface RememberOptions {
  keys: Keys;
  browsers: BrowserRepo;
  ip: string | null;
}

export async function rememberBrowser(ctx: Context, o: RememberOptions, account: AccountRecord, days: number): Promise<void> {
  const now = Date.now();
  const exp = now + days * 86_400_000;
  const browserId = randomId(16);
  await o.browsers.seen({
    id: browserId, accountId: account.id, kind: 'remembered', userAgent: (ctx.get('user-agent') || '').slice(0, 300), ip: o.ip,
    createdAt: new Date(now), lastSeenAt: new Date(now), expiresAt: new Date(exp),
  });
  ctx.cookies.set(COOKIE, `${account.id}.${browserId}.${exp}.${stamp(listOf(o.keys)[0], account, browserId, exp)}`, {
    httpOnly: true, sameSite: 'lax', secure: ctx.secure, maxAge: days * 86_400_000, overwrite: true, signed: false,
  });
}

export async function isRemembered(ctx: Context, o: Pick<RememberOptions, 'keys' | 'browsers'>, account: AccountRecord): Promise<boolean> {
  const value = ctx.cookies.get(COOKIE);
  if (!value) return false;
  const [id, browserId, expText, mac] = value.split('.');
  const exp = Number(expText);
  if (id !== account.id || !browserId || !Number.isFinite(exp) || exp < Date.now() || !mac) return false;
  // A browser remembered before a cookie key rotation stays remembered while the older key is kept.
  const stamped = listOf(o.keys).reduce((ok, key) => constantTimeEqual(mac, stamp(key, account, browserId, exp)) || ok, false);
  if (!stamped) return false;
  const record = await o.browsers.find(browserId);
  return record?.accountId === account.id && record.kind === 'remembered';
}
