// Reading a koa-signed cookie (`name` + `name.sig`, keygrip over the app's cookie keys) without the side
// effect of ctx.cookies.get(name, { signed: true }): when an older key signed it, that call answers with
// a new `.sig` cookie made with default options (a browser-session cookie at path /, no SameSite),
// which after a cookie key rotation would quietly turn a persistent cookie into one that dies with the
// browser. Callers that care re-set the cookie themselves, with its own options.
import type { Context } from 'koa';

interface Grip {
  index(data: string, digest: string): number;
}

/** The cookie's value and which cookie key signed it (0: the current one); undefined when unsigned or forged. */
export function readSigned(ctx: Context, name: string): { value: string; keyIndex: number } | undefined {
  const value = ctx.cookies.get(name, { signed: false });
  const sig = ctx.cookies.get(`${name}.sig`, { signed: false });
  const grip = (ctx.cookies as unknown as { keys?: Grip }).keys;
  if (!value || !sig || !grip) return undefined;
  const keyIndex = grip.index(`${name}=${value}`, sig);
  return keyIndex < 0 ? undefined : { value, keyIndex };
}
