// /account/apps — the apps (relying parties) the user let in: what each may see, since when; revoking one
// forgets the consent (the next sign-in asks again) and removes every grant of that app with its access
// and refresh tokens.
import type Router from '@koa/router';
import type { Context } from 'koa';
import type { Services } from '../services.ts';
import type { AccountRecord } from '../store/ports.ts';
import { field, clientIp } from '../interaction/context.ts';
import { scopeWords } from '../interaction/consent.ts';
import { BUILT_IN_CLIENTS } from '../admin/clients.ts';
import { clientLogoUrl } from '../http/branding.ts';

/** The grant itself, then what it issued (tokens, codes): a token checks its grant when used. */
export async function endGrant(s: Services, grantId: string) {
  await s.store.oidc.destroy('Grant', grantId);
  await s.store.oidc.revokeByGrantId(grantId);
}

type Handler = (ctx: Context, a: AccountRecord) => Promise<void> | void;
interface Wrappers {
  withAccount(h: Handler): (ctx: Context) => Promise<void>;
}

interface GrantPayload {
  jti: string;
  clientId: string;
  iat?: number;
  openid?: { scope?: string };
}

export interface ConnectedApp {
  clientId: string;
  name: string;
  logo: string | null;
  scopes: string[];
  since: Date | null;
  grants: string[];
}

/** The apps of an account: its consents, and the grants it holds (first-party apps have no consent page). */
export async function connectedApps(s: Services, a: AccountRecord): Promise<ConnectedApp[]> {
  const [consents, grants] = await Promise.all([s.store.consents.listForAccount(a.id), s.store.oidc.findByAccount('Grant', a.id)]);
  const apps = new Map<string, { scopes: Set<string>; since: number | null; grants: string[] }>();
  const entry = (clientId: string) => {
    let e = apps.get(clientId);
    if (!e) apps.set(clientId, (e = { scopes: new Set(), since: null, grants: [] }));
    return e;
  };
  for (const c of consents) {
    const e = entry(c.clientId);
    c.scopes.forEach((sc) => e.scopes.add(sc));
    e.since = c.createdAt.getTime();
  }
  for (const g of grants as unknown as GrantPayload[]) {
    if (!g.clientId) continue;
    const e = entry(g.clientId);
    (g.openid?.scope ?? '').split(' ').filter(Boolean).forEach((sc) => e.scopes.add(sc));
    if (g.iat && (e.since === null || g.iat * 1000 < e.since)) e.since = g.iat * 1000;
    e.grants.push(g.jti);
  }
  for (const id of BUILT_IN_CLIENTS) apps.delete(id); // Tessera's own pages aren't an app the user let in
  const out: ConnectedApp[] = [];
  for (const [clientId, e] of apps) {
    const client = await s.store.clients.find(clientId);
    if (!client) continue; // a deleted client: its grants can't be used any more
    const meta = client.metadata as { client_name?: unknown; logo_uri?: unknown };
    out.push({
      clientId,
      name: typeof meta.client_name === 'string' && meta.client_name ? meta.client_name : clientId,
      logo: await servedLogo(s, clientId, meta.logo_uri),
      scopes: [...e.scopes],
      since: e.since === null ? null : new Date(e.since),
      grants: e.grants,
    });
  }
  return out.sort((x, y) => x.name.localeCompare(y.name));
}

/** The client's logo as Tessera serves it (a third-party URL would be blocked by the pages' CSP anyway). */
async function servedLogo(s: Services, clientId: string, uri: unknown): Promise<string | null> {
  const logo = typeof uri === 'string' ? await s.clientLogos.forPage(uri) : null;
  return logo ? clientLogoUrl(clientId, logo.version) : null;
}

/** Forgets what the account allowed the app and ends every grant of it (tokens included). */
export async function revokeApp(s: Services, a: AccountRecord, app: ConnectedApp) {
  await s.store.consents.revoke(a.id, app.clientId);
  for (const g of app.grants) await endGrant(s, g);
}

export function appRoutes(s: Services, r: Router, w: Wrappers) {
  const page = async (ctx: Context, a: AccountRecord, errors: Record<string, string> = {}, status = 200) => {
    const apps = (await connectedApps(s, a)).map((app) => ({ ...app, scopeText: app.scopes.filter((sc) => sc !== 'openid').map(scopeWords) }));
    s.render(ctx, 'account/apps', { account: a, apps, errors, notice: typeof ctx.query.revoked === 'string' ? 'The app’s access was removed. It will ask again if you sign in to it.' : undefined }, status);
  };
  r.get('/apps', w.withAccount((ctx, a) => page(ctx, a)));
  r.post('/apps/revoke', w.withAccount(async (ctx, a) => {
    const clientId = field(ctx, 'client_id', 200);
    const app = (await connectedApps(s, a)).find((x) => x.clientId === clientId);
    if (!app) return page(ctx, a, { form: 'That app has no access to your account.' }, 400);
    await revokeApp(s, a, app);
    await s.audit('app.revoked', a.id, clientIp(ctx), { client: clientId, grants: app.grants.length });
    ctx.redirect('/account/apps?revoked=1');
  }));
}
