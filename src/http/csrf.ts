// CSRF protection for every form. A POST must carry token = HMAC(key, binding + secret), where
//  - secret is a random per-browser value the server issued in a signed, httpOnly, SameSite=Lax cookie
//    (koa signed cookie with app.keys): a value nobody else chose;
//  - binding is what the form acts on in this browser: on /interaction/:uid pages the interaction uid
//    (bound to the browser by oidc-provider's own cookie, unknown to anyone else, and the same for every
//    page of that sign-in), elsewhere the uid of the browser's oidc-provider session when it has one.
// Why both: a signed secret alone doesn't stop cookie tossing (an attacker who can set cookies for the
// site, e.g. from a sibling subdomain, plants their own server-issued cookie and the token they were given
// for it). With the binding, that token is only good for the attacker's own interaction or session,
// never for the victim's. The session's uid (not its cookie value) is used because oidc-provider gives the
// session cookie a new value whenever a sign-in completes (fixation defence) and keeps the uid: a page
// rendered before a step-up or re-authentication in another tab still posts fine afterwards.
import crypto from 'node:crypto';
import type { Context, Middleware } from 'koa';
import { constantTimeEqual } from '../secrets.ts';
import { readSigned } from './signed-cookie.ts';

const COOKIE = 'tessera.csrf';
const SECRET = /^[A-Za-z0-9_-]{32}$/; // 24 random bytes, base64url
const SESSION = Symbol('csrf session uid');
const INTERACTION = /^\/interaction\/([^/]+)/;
export const SESSION_BOUND_PREFIXES = ['/account', '/admin'];

function secretOf(ctx: Context): { secret: string; keyIndex: number } | undefined {
  const read = readSigned(ctx, COOKIE);
  return read && SECRET.test(read.value) ? { secret: read.value, keyIndex: read.keyIndex } : undefined;
}

function setSecret(ctx: Context, secret: string) {
  ctx.cookies.set(COOKIE, secret, { httpOnly: true, sameSite: 'lax', secure: ctx.secure, overwrite: true, signed: true });
}

function bindingOf(ctx: Context): string {
  const interaction = INTERACTION.exec(ctx.path);
  if (interaction) return `interaction:${interaction[1]}`;
  const session = (ctx.state as Record<symbol, string | undefined>)[SESSION];
  return session ? `session:${session}` : 'none';
}

function tokenFor(key: string, secret: string, binding: string): string {
  return crypto.createHmac('sha256', key).update(`${binding}\n${secret}`).digest('base64url');
}

/**
 * The token for forms on the page being rendered; issues the secret cookie when the browser has none.
 * `keys`: the cookie keys in use, current first (they change while running: src/keys/). Tokens are made
 * with the current key; a secret cookie signed with an older one is signed again with the current one.
 */
export function csrfToken(ctx: Context, keys: readonly string[]): string {
  const found = secretOf(ctx);
  const secret = found?.secret ?? crypto.randomBytes(24).toString('base64url');
  if (!found || found.keyIndex > 0) setSecret(ctx, secret);
  return tokenFor(keys[0], secret, bindingOf(ctx));
}

/**
 * Looks up the browser's session uid for pages under SESSION_BOUND_PREFIXES (both when rendering and
 * when checking a POST), so the render stays synchronous. Runs before the routers.
 */
export function csrfSessionBinding(sessionUid: (ctx: Context) => Promise<string | undefined>): Middleware {
  return async (ctx, next) => {
    if (SESSION_BOUND_PREFIXES.some((p) => ctx.path.startsWith(p)))
      (ctx.state as Record<symbol, string | undefined>)[SESSION] = await sessionUid(ctx);
    await next();
  };
}

/**
 * Refuses (403) a POST whose token doesn't match this browser's signed secret and binding. A token made
 * with any cookie key in use is good: a page rendered before a key rotation still posts.
 */
export function verifyCsrf(keys: readonly string[]): Middleware {
  return async (ctx, next) => {
    if (ctx.method === 'POST') {
      const secret = secretOf(ctx)?.secret;
      const body = (ctx.request as { body?: Record<string, unknown> }).body ?? {};
      const given = typeof body._csrf === 'string' ? body._csrf : '';
      const binding = bindingOf(ctx);
      if (!secret || !given || !keys.reduce((ok, key) => constantTimeEqual(given, tokenFor(key, secret, binding)) || ok, false)) {
        ctx.throw(403, 'This form has expired or was not sent from this site. Go back, reload the page and try again.');
      }
    }
    await next();
  };
}
