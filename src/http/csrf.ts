// CSRF protection for every form: a random per-browser secret in an httpOnly SameSite=Lax cookie, and
// a token = HMAC(secret) in each form. A POST without the matching token is refused with 403.
import crypto from 'node:crypto';
import type { Context, Middleware } from 'koa';
import { constantTimeEqual } from '../secrets.ts';

const COOKIE = 'tessera.csrf';

export function csrfToken(ctx: Context, key: string): string {
  let secret = ctx.cookies.get(COOKIE);
  if (!secret || secret.length < 20) {
    secret = crypto.randomBytes(24).toString('base64url');
    ctx.cookies.set(COOKIE, secret, { httpOnly: true, sameSite: 'lax', secure: ctx.secure, overwrite: true, signed: false });
  }
  return crypto.createHmac('sha256', key).update(secret).digest('base64url');
}

export function verifyCsrf(key: string): Middleware {
  return async (ctx, next) => {
    if (ctx.method === 'POST') {
      const secret = ctx.cookies.get(COOKIE);
      const body = (ctx.request as { body?: Record<string, unknown> }).body ?? {};
      const given = typeof body._csrf === 'string' ? body._csrf : '';
      const expected = secret ? crypto.createHmac('sha256', key).update(secret).digest('base64url') : '';
      if (!secret || !given || !constantTimeEqual(given, expected)) {
        ctx.throw(403, 'This form has expired or was not sent from this site. Go back, reload the page and try again.');
      }
    }
    await next();
  };
}
