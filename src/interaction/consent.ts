// The consent page for third-party clients: what the app asks for, allow or deny.
import type { Context } from 'koa';
import type { Services } from '../services.ts';
import { loadInteraction, finishInteraction, type Loaded } from './context.ts';
import { pageLocals } from './login.ts';
import { SessionExpired } from '../errors.ts';

const SCOPE_TEXT: Record<string, string> = {
  openid: 'Know who you are (a stable user id)',
  profile: 'Your name',
  email: 'Your email address',
  phone: 'Your phone number',
  offline_access: 'Stay signed in to the app when you’re away (refresh tokens)',
};

/** A scope in words a person understands (the consent page, /account/apps). */
export const scopeWords = (scope: string) => SCOPE_TEXT[scope] ?? scope;

export async function showConsent(s: Services, ctx: Context, l: Loaded) {
  const details = l.details.prompt.details as { missingOIDCScope?: string[]; missingOIDCClaims?: string[] };
  const scopes = (details.missingOIDCScope ?? []).map(scopeWords);
  const account = l.details.session?.accountId ? await s.store.accounts.findById(l.details.session.accountId) : null;
  s.render(ctx, 'interaction/consent', pageLocals(l, { scopes, claims: details.missingOIDCClaims ?? [], email: account?.email }));
}

export async function submitConsent(s: Services, ctx: Context) {
  const l = await loadInteraction(s, ctx);
  const { details } = l;
  if (details.prompt.name !== 'consent' || !details.session?.accountId) throw new SessionExpired();
  const { Grant } = s.provider;
  const grant = details.grantId
    ? await Grant.find(details.grantId)
    : new Grant({ accountId: details.session.accountId, clientId: l.client.id });
  if (!grant) throw new SessionExpired();
  const missing = details.prompt.details as { missingOIDCScope?: string[]; missingOIDCClaims?: string[]; missingResourceScopes?: Record<string, string[]> };
  if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
  if (missing.missingOIDCClaims) grant.addOIDCClaims(missing.missingOIDCClaims);
  for (const [indicator, scopes] of Object.entries(missing.missingResourceScopes ?? {})) grant.addResourceScope(indicator, scopes.join(' '));
  const grantId = await grant.save();
  // Remembered for the account, so another browser isn't asked again (src/oidc/provider.ts loadExistingGrant).
  await s.store.consents.allow(details.session.accountId, l.client.id, missing.missingOIDCScope ?? [], missing.missingOIDCClaims ?? []);
  await s.audit('consent.granted', details.session.accountId, ctx.ip, { client: l.client.id, scopes: missing.missingOIDCScope ?? [] });
  await finishInteraction(s, ctx, { consent: { grantId } }, { mergeWithLastSubmission: true });
}
