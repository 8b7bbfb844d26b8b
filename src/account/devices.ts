// /account/devices — where the account is signed in (the provider's sessions, with the browser, IP and
// times recorded when each signed in or was last used) and which browsers skip the second step
// ("remember this browser"). Sign out one device or every other one; forget every remembered browser.
import type Router from '@koa/router';
import type { Context } from 'koa';
import type { Provider } from 'oidc-provider';
import type { Services } from '../services.ts';
import type { AccountRecord } from '../store/ports.ts';
import { field, clientIp } from '../interaction/context.ts';
import { sessionUid } from './reauth.ts';
import { browserLabel as browserName } from '../notify/user-agent.ts';
import { endGrant } from './apps.ts';

type Handler = (ctx: Context, a: AccountRecord) => Promise<void> | void;
interface Wrappers {
  withAccount(h: Handler): (ctx: Context) => Promise<void>;
}

export const DEVICE_NOTICES: Record<string, string> = {
  'device-out': 'That device was signed out.',
  'others-out': 'Every other device was signed out.',
  'remembered-forgotten': 'No browser skips the second step any more.',
};

/**
 * Records the browser of every successful authorization (sign-in, or an app's silent check) on its
 * session: what /account shows as "signed in" and "last seen". Not on the token path.
 */
export function recordBrowserSightings(s: Services, provider: Provider) {
  provider.on('authorization.success', (ctx) => {
    const session = ctx.oidc.session;
    if (!session?.accountId || !session.uid) return;
    const now = new Date();
    s.store.browsers
      .seen({
        id: session.uid, accountId: session.accountId, kind: 'session', userAgent: (ctx.get('user-agent') || '').slice(0, 300), ip: clientIp(ctx as never),
        createdAt: new Date((session.loginTs ?? Math.floor(now.getTime() / 1000)) * 1000), lastSeenAt: now,
        expiresAt: new Date(now.getTime() + s.config.tokens.sessionTtl * 1000),
      })
      .catch((err: unknown) => s.log.warn({ err, event: 'browsers.record_failed' }, 'could not record the signed-in browser'));
  });
}


interface SessionPayload {
  jti: string;
  uid: string;
  accountId: string;
  loginTs?: number;
  iat?: number;
  authorizations?: Record<string, { grantId?: string }>;
}

/** Ends one browser session: the session, the app grants (and their tokens) made in it, its browser record. */
async function endSession(s: Services, p: SessionPayload) {
  await s.store.oidc.destroy('Session', p.jti);
  for (const a of Object.values(p.authorizations ?? {})) if (a.grantId) await endGrant(s, a.grantId);
  await s.store.browsers.delete(p.uid);
}

export function deviceRoutes(s: Services, r: Router, w: Wrappers) {
  const sessionsOf = async (a: AccountRecord) => (await s.store.oidc.findByAccount('Session', a.id)) as unknown as SessionPayload[];

  const page = async (ctx: Context, a: AccountRecord, errors: Record<string, string> = {}, status = 200) => {
    const current = await sessionUid(s, ctx);
    const sessions = await sessionsOf(a);
    const rows = await Promise.all(
      sessions.map(async (p) => {
        const seen = await s.store.browsers.find(p.uid);
        return {
          uid: p.uid,
          current: p.uid === current,
          browser: browserName(seen?.userAgent),
          ip: seen?.ip ?? null,
          signedIn: p.loginTs ? new Date(p.loginTs * 1000) : null,
          lastSeen: seen?.lastSeenAt ?? (p.iat ? new Date(p.iat * 1000) : null),
        };
      }),
    );
    rows.sort((x, y) => Number(y.current) - Number(x.current) || (y.lastSeen?.getTime() ?? 0) - (x.lastSeen?.getTime() ?? 0));
    const remembered = (await s.store.browsers.listForAccount(a.id, 'remembered')).map((b) => ({
      browser: browserName(b.userAgent), ip: b.ip, since: b.createdAt, until: b.expiresAt,
    }));
    s.render(ctx, 'account/devices', { account: a, rows, remembered, errors, notice: typeof ctx.query.done === 'string' ? DEVICE_NOTICES[ctx.query.done] : undefined }, status);
  };

  r.get('/devices', w.withAccount((ctx, a) => page(ctx, a)));
  r.post('/devices/sign-out', w.withAccount(async (ctx, a) => {
    const uid = field(ctx, 'session', 100);
    const target = (await sessionsOf(a)).find((p) => p.uid === uid);
    if (!target) return page(ctx, a, { form: 'That device is already signed out.' }, 400);
    if (uid === (await sessionUid(s, ctx))) return page(ctx, a, { form: 'To sign out this device, use “Sign out” at the bottom of your account page.' }, 400);
    await endSession(s, target);
    await s.audit('session.revoked', a.id, clientIp(ctx), { which: 'one' });
    ctx.redirect('/account/devices?done=device-out');
  }));
  r.post('/devices/sign-out-others', w.withAccount(async (ctx, a) => {
    const current = await sessionUid(s, ctx);
    let n = 0;
    for (const p of await sessionsOf(a)) if (p.uid !== current) (await endSession(s, p), n++);
    await s.audit('session.revoked', a.id, clientIp(ctx), { which: 'others', count: n });
    ctx.redirect('/account/devices?done=others-out');
  }));
  r.post('/devices/forget-remembered', w.withAccount(async (ctx, a) => {
    const n = await s.store.browsers.deleteForAccount(a.id, 'remembered');
    await s.audit('remembered_browsers.forgotten', a.id, clientIp(ctx), { count: n });
    ctx.redirect('/account/devices?done=remembered-forgotten');
  }));
}
