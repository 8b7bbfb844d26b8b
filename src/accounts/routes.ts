// Routes outside a sign-in: the email confirmation link, the home page, and the development outbox.
import Router from '@koa/router';
import type { Services } from '../services.ts';

export function publicRouter(s: Services): Router {
  const r = new Router();
  r.get('/', (ctx) => s.render(ctx, 'home', { issuer: s.config.issuer }));
  r.get('/favicon.ico', (ctx) => {
    ctx.status = 204;
  });

  // One-click confirmation from the email: same engine, same single-use code as the typed one.
  r.get('/email/confirm', async (ctx) => {
    const id = typeof ctx.query.c === 'string' ? ctx.query.c.slice(0, 64) : '';
    const code = typeof ctx.query.code === 'string' ? ctx.query.code.slice(0, 20) : '';
    const challenge = id ? await s.store.challenges.find(id) : null;
    if (!challenge || challenge.purpose !== 'email-confirm') {
      return s.render(ctx, 'message', { title: 'Link not valid', message: 'This confirmation link isn’t valid. Sign in to get a new code.' }, 400);
    }
    const res = await s.challenges.verify(id, code, { accountId: challenge.accountId, purpose: 'email-confirm' });
    if (!res.ok) {
      return s.render(ctx, 'message', { title: 'Link not valid', message: 'This confirmation link has expired or was already used. Sign in to get a new code.' }, 400);
    }
    await s.store.accounts.update(challenge.accountId, { emailVerified: true });
    await s.audit('email.confirmed', challenge.accountId, ctx.ip, { via: 'link' });
    s.render(ctx, 'message', { title: 'Email confirmed', message: 'Your email address is confirmed. You can go back to the sign-in page and continue.' });
  });

  if (s.outbox) {
    const outbox = s.outbox;
    r.get('/dev/outbox', (ctx) => s.render(ctx, 'dev/outbox', { messages: outbox.list() }));
  }
  return r;
}
