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
    // On only because the issuer is on loopback: for this machine's browsers only (the server listens on
    // loopback too, but a proxy in front, or a port forward, could still bring others here). Anyone else
    // gets the 404 of a server without an outbox.
    const localOnly = s.config.devLocalOnly;
    r.get('/dev/outbox', (ctx, next) => (localOnly && !isLoopbackAddress(ctx.ip) ? next() : s.render(ctx, 'dev/outbox', { messages: outbox.list() })));
  }
  return r;
}

/** 127.0.0.0/8 or ::1 (ctx.ip spells IPv4-mapped addresses as IPv4: src/http/proxy.ts). */
function isLoopbackAddress(ip: string): boolean {
  return ip === '::1' || /^127\.\d+\.\d+\.\d+$/.test(ip);
}
