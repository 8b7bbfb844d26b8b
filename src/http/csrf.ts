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

const COOKIE = 'tessera.csrf';
const SECRET = /^[A-Za-z0-9_-]{32}$/; // 24 random bytes, base64url
const SESSION = Symbol('csrf session uid');
const INTERACTION = /^\/interaction\/([^/]+)/;
export const SESSION_BOUND_PREFIXES = ['/account', '/admin'];

function secretOf(ctx: Context): string | undefined {
  const value = ctx.cookies.get(COOKIE, { signed: true });
  return value && SECRET.test(value) ? value : undefined;
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

/** The token for forms on the page being rendered; issues the secret cookie when the browser has none. */
export function csrfToken(ctx: Context, key: string): string {
  let secret = secretOf(ctx);
  if (!secret) {
    secret = crypto.randomBytes(24).toString('base64url');
    ctx.cookies.set(COOKIE, secret, { httpOnly: true, sameSite: 'lax', secure: ctx.secure, overwrite: true, signed: true });
  }
  return tokenFor(key, secret, bindingOf(ctx));
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

/** Refuses (403) a POST whose token doesn't match this browser's signed secret and binding. */
export function verifyCsrf(key: string): Middleware {
  return async (ctx, next) => {
    if (ctx.method === 'POST') {
      const secret = secretOf(ctx);
      const body = (ctx.request as { body?: Record<string, unknown> }).body ?? {};
      const given = typeof body._csrf === 'string' ? body._csrf : '';
      if (!secret || !given || !constantTimeEqual(given, tokenFor(key, secret, bindingOf(ctx)))) {
        ctx.throw(403, 'This form has expired or was not sent from this site. Go back, reload the page and try again.');
      }
    }
    await next();
  };
}
