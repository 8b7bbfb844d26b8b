// Routes outside a sign-in: the home page, old confirmation links, and the development outbox.
import Router from '@koa/router';
import type { Services } from '../services.ts';

export function publicRouter(s: Services): Router {
  const r = new Router();
  r.get('/', (ctx) => s.render(ctx, 'home', { issuer: s.config.issuer }));
  r.get('/favicon.ico', (ctx) => {
    ctx.status = 204;
  });

  // Confirmation links of earlier versions confirmed on GET, in any browser. They no longer do anything:
  // a link confirms only inside the sign-in that sent it (interaction/second-factor.ts).
  r.get('/email/confirm', (ctx) =>
    s.render(ctx, 'message', { title: 'Link not valid', message: 'This confirmation link is no longer valid. Sign in again and type the new code we send you.' }, 400));

  if (s.outbox) {
    const outbox = s.outbox;
    r.get('/dev/outbox', (ctx) => s.render(ctx, 'dev/outbox', { messages: outbox.list() }));
  }
  return r;
}
