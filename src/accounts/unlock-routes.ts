// /unlock — the link mailed when an account's password lockout bites (src/guard/unlock.ts). GET only
// shows a button (mail scanners fetch links); the POST, from a page of ours (CSRF), lifts the lock.
import Router from '@koa/router';
import type { Context } from 'koa';
import type { Services } from '../services.ts';
import { clientIp } from '../interaction/context.ts';

const param = (v: unknown, max: number) => (typeof v === 'string' ? v.slice(0, max) : '');

export function unlockRouter(s: Services): Router {
  const r = new Router();
  const invalid = (ctx: Context) =>
    s.render(ctx, 'message', { title: 'Link not valid', message: 'This unlock link has expired or was already used. Try signing in, or reset your password.' }, 400);

  r.get('/unlock', (ctx) => {
    const c = param(ctx.query.c, 64);
    const code = param(ctx.query.code, 20);
    if (!c || !code) return invalid(ctx);
    s.render(ctx, 'unlock', { title: 'Unlock your account', c, code });
  });

  r.post('/unlock', async (ctx) => {
    const body = (ctx.request as { body?: Record<string, unknown> }).body ?? {};
    const done = await s.unlock.redeem(param(body.c, 64), param(body.code, 20), clientIp(ctx));
    if (!done) return invalid(ctx);
    s.render(ctx, 'message', { title: 'Account unlocked', message: 'Sign-in to your account works again. Go back to the app and sign in.' });
  });
  return r;
}
