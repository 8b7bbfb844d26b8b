// /admin — the admin console: clients, users, security events. Server-rendered like the hosted pages and
// usable without JavaScript. Every page needs a signed-in admin whose session proved a second factor
// within the last hour (access.ts); otherwise the browser goes through the normal OIDC flow of the
// built-in client `tessera-admin` (client.ts): a sign-in, or a step-up demanding a second factor.
// Forms are CSRF-protected by app.ts (bound to the session's uid: http/csrf.ts); every action is audited
// with the admin's id (an Actor with via 'console').
import Router from '@koa/router';
import type { Context } from 'koa';
import type { Services } from '../services.ts';
import type { AccountRecord } from '../store/ports.ts';
import type { Actor } from '../admin/users.ts';
import { clientIp, sessionMethods } from '../interaction/context.ts';
import { ADMIN_CLIENT_ID } from './client.ts';
import { decideAccess, safeReturnPath, type Access } from './access.ts';
import { clientRoutes } from './clients.ts';
import { userRoutes } from './users.ts';
import { eventRoutes } from './events.ts';

export interface ConsoleAdmin {
  account: AccountRecord;
  /** For UserAdmin and the audit: who, from where, with what browser. */
  actor: Actor;
}

export type ConsoleHandler = (ctx: Context, admin: ConsoleAdmin) => Promise<void> | void;

export interface Console {
  /** Runs the handler for an admin with a fresh second factor; anyone else is signed in, stepped up or refused. */
  guard(handler: ConsoleHandler): (ctx: Context) => Promise<void>;
  /** Renders views/admin/<name> in the console's frame (navigation, wide card). */
  view(ctx: Context, admin: ConsoleAdmin, name: string, locals?: Record<string, unknown>, status?: number): void;
  /** Records an admin action in the security events (the admin's id, IP and browser in the detail). */
  audit(type: string, accountId: string | null, admin: ConsoleAdmin, detail?: Record<string, unknown>): Promise<void>;
}

/** The sign-in (or step-up) through the built-in client; `state` carries the console page to return to. */
function signInUrl(s: Services, returnTo: string, stepUp?: { how: 'factor' | 'again'; email: string }): string {
  const q = new URLSearchParams({
    client_id: ADMIN_CLIENT_ID,
    response_type: 'none',
    scope: 'openid',
    redirect_uri: `${s.config.issuer}/admin/callback`,
    state: returnTo,
  });
  if (stepUp) {
    q.set('acr_values', s.config.acr.mfa);
    if (stepUp.how === 'again') {
      q.set('prompt', 'login');
      q.set('login_hint', stepUp.email);
    }
  }
  return `/auth?${q}`;
}

/** The console page this request is for (where a sign-in leads back to): the page itself for a GET, the console's start otherwise. */
function returnPath(ctx: Context): string {
  return ctx.method === 'GET' ? safeReturnPath(ctx.originalUrl) : '/admin';
}

export function adminRouter(s: Services): Router {
  const r = new Router({ prefix: '/admin' });

  const check = async (ctx: Context): Promise<{ account: AccountRecord | null; access: Access | null }> => {
    const session = await s.provider.Session.get(ctx as never);
    const account = session?.accountId ? await s.store.accounts.findById(session.accountId) : null;
    if (!session || !account || account.disabled) return { account: null, access: null };
    const amr = (session.amr as string[] | undefined) ?? [];
    return { account, access: decideAccess(account, { amr, methods: await sessionMethods(s, session.uid) }, Math.floor(Date.now() / 1000)) };
  };

  const refuse = (ctx: Context, access: Access | null, account: AccountRecord | null) => {
    if (!account || !access) {
      if (ctx.method === 'GET') return ctx.redirect(signInUrl(s, returnPath(ctx)));
      return s.render(ctx, 'admin/gate', { title: 'Signed out', message: 'Your session ended. Sign in again to continue.', link: { href: signInUrl(s, '/admin'), text: 'Sign in' } }, 401);
    }
    switch (access.kind) {
      case 'forbidden':
        return s.render(ctx, 'error', { title: 'Not allowed', message: 'The admin console is for administrators of this service. Your account isn’t one.' }, 403);
      case 'no-factor':
        return s.render(ctx, 'admin/gate', {
          title: 'Turn on two-step sign-in first',
          message: 'The admin console needs a second step at sign-in (an authenticator app, SMS or email codes). Your account has none yet.',
          link: { href: '/account', text: 'Set one up on your account page' },
        }, 403);
      case 'step-up': {
        const url = signInUrl(s, returnPath(ctx), { how: access.how, email: account.email });
        if (ctx.method === 'GET') return ctx.redirect(url);
        return s.render(ctx, 'admin/gate', {
          title: 'Confirm it’s you',
          message: 'The admin console asks for your second step again once an hour. Nothing was changed: confirm it, then do it again.',
          link: { href: url, text: 'Continue' },
        }, 401);
      }
      case 'ok':
        return undefined;
    }
  };

  const c: Console = {
    guard: (handler) => async (ctx) => {
      const { account, access } = await check(ctx);
      if (!account || access?.kind !== 'ok') return refuse(ctx, access, account);
      const actor: Actor = { via: 'console', adminId: account.id, ip: clientIp(ctx), userAgent: (ctx.get('user-agent') || '').slice(0, 300) || null };
      return handler(ctx, { account, actor });
    },
    view: (ctx, admin, name, locals = {}, status = 200) =>
      s.render(ctx, `admin/${name}`, { consolePage: true, adminEmail: admin.account.email, wide: true, ...locals }, status),
    audit: (type, accountId, admin, detail = {}) =>
      s.audit(type, accountId, admin.actor.ip ?? null, { via: 'console', admin: admin.account.id, ...(admin.actor.userAgent ? { ua: admin.actor.userAgent } : {}), ...detail }),
  };

  // The end of the console's sign-in or step-up: back to the page that asked (the guard judges again).
  r.get('/callback', async (ctx) => {
    const error = typeof ctx.query.error === 'string' ? ctx.query.error : null;
    if (error === 'unmet_authentication_requirements') {
      return s.render(ctx, 'admin/gate', {
        title: 'Turn on two-step sign-in first',
        message: 'The admin console needs a second step at sign-in (an authenticator app, SMS or email codes), and your account has none it could use.',
        link: { href: '/account', text: 'Set one up on your account page' },
      }, 403);
    }
    if (error) return s.render(ctx, 'error', { title: 'Not signed in', message: 'Sign-in was cancelled or failed. You can try again.' }, 400);
    ctx.redirect(safeReturnPath(ctx.query.state));
  });

  r.get('/', c.guard((ctx) => ctx.redirect('/admin/clients')));
  clientRoutes(s, r, c);
  userRoutes(s, r, c);
  eventRoutes(s, r, c);
  return r;
}
