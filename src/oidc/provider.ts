// oidc-provider configuration: clients and artifacts from the store, accounts and claims, the acr
// model in the interaction policy, persistent keys, and Tessera-rendered error / logout pages.
import Provider, { interactionPolicy, type Configuration, type KoaContextWithOIDC } from 'oidc-provider';
import type { Store } from '../store/ports.ts';
import type { Config } from '../config.ts';
import type { ProviderKeys } from './keys.ts';
import type { SecretBox } from '../secrets.ts';
import { createAdapterClass } from './adapter.ts';
import { noteWrite, providerErrors } from './store-errors.ts';
import { SESSION_METHODS_MODEL } from '../interaction/progress.ts';
import { accountClaims } from '../accounts/service.ts';
import { AcrModel, requestedAcrValues } from './acr.ts';
import { ADMIN_API, ADMIN_SCOPE, FIRST_PARTY, INTROSPECT_ANY, MIN_ACR, validateExtraMetadata, clientMeta, mayIntrospect, registerClientPolicy } from './client-metadata.ts';
import { RefreshReuse, type RefreshReuseReport } from './refresh-reuse.ts';
import { constantTimeEqual } from '../secrets.ts';

/** How long a sign-in in progress (oidc-provider's Interaction and its cookie) lasts. */
export const INTERACTION_TTL_SECONDS = 3600;
/** The scopes a client may ask for when its metadata names none (every one but the admin API's). */
const USER_SCOPES = ['openid', 'profile', 'email', 'phone', 'offline_access'];

export interface ProviderPages {
  error(ctx: KoaContextWithOIDC, out: Record<string, string>, error: Error): Promise<void>;
  logoutConfirm(ctx: KoaContextWithOIDC, form: string): Promise<void>;
  loggedOut(ctx: KoaContextWithOIDC): Promise<void>;
}

/** What the request in `ctx` demands of the login (acr_values, essential acr claim, client minimum). */
export function demandOf(acr: AcrModel, params: Record<string, unknown>, claims: unknown, client: Record<string, unknown> | undefined) {
  const min = client ? (client[MIN_ACR] as string | undefined) : undefined;
  return acr.demand(requestedAcrValues(params, claims), min);
}

export function createProvider(opts: {
  config: Config;
  store: Store;
  keys: ProviderKeys;
  box: SecretBox;
  acr: AcrModel;
  pages: ProviderPages;
  /** Told when a refresh token is redeemed again within the reuse interval (audit, log). */
  onRefreshReuse?: RefreshReuseReport;
  /** Told of each store failure that oidc-provider answers as temporarily_unavailable (503). */
  onStoreUnavailable?: (err: unknown) => void;
}) {
  const { config, store, keys, box, acr, pages } = opts;
  const storeFailed = providerErrors(opts.onStoreUnavailable);
  const reuseSeconds = config.oidc.refreshReuseSeconds;
  const reuse = reuseSeconds > 0 ? new RefreshReuse({ seconds: reuseSeconds, artifacts: store.oidc, report: opts.onRefreshReuse }) : null;
  const policy = interactionPolicy.base();
  const login = policy.get('login')!;
  // The built-in essential_acr checks compare acr strings for equality; Tessera's levels are a chain
  // (mfa:sms satisfies mfa), so one check compares the demand with the session's amr instead.
  login.checks.remove('essential_acr');
  login.checks.remove('essential_acrs');
  login.checks.add(
    new interactionPolicy.Check('acr_unmet', 'the request demands an authentication factor the session has not proved', async (ctx) => {
      const { oidc } = ctx;
      const session = oidc.session;
      if (!session?.accountId) return interactionPolicy.Check.NO_NEED_TO_PROMPT;
      const demand = demandOf(acr, oidc.params as Record<string, unknown>, oidc.claims, oidc.client ? clientMeta(oidc.client) : undefined);
      const amr = (session.amr as string[] | undefined) ?? [];
      if (!acr.met(amr, demand)) return interactionPolicy.Check.REQUEST_PROMPT;
      // The session meets this request: its acr is set for THIS request (oidc-provider puts the session's
      // acr in the code and ID token), so a session that once answered a 1fa request and proved SMS says
      // mfa:sms to a request that demands it, and 1fa to one that asks for 1fa. Checks are the one hook
      // that runs with the session loaded and before the code is issued.
      session.acr = acr.resultAcr(amr, demand);
      // A sign-in just finished: keep what was proved when, beside the session (it has one time only).
      const methods = (oidc.result as { tessera?: { methods?: Record<string, number> } } | undefined)?.tessera?.methods;
      if (methods && session.uid) {
        noteWrite();
        await store.oidc.upsert(SESSION_METHODS_MODEL, session.uid, { accountId: session.accountId, methods }, new Date(Date.now() + config.tokens.sessionTtl * 1000)).catch(storeFailed);
      }
      return interactionPolicy.Check.NO_NEED_TO_PROMPT;
    }),
  );

  const configuration: Configuration = {
    adapter: createAdapterClass(store, box, opts.onStoreUnavailable),
    clients: [],
    findAccount: async (ctx, sub, token) => {
      // A consumed refresh token being redeemed: the reuse interval may answer with its successor.
      if (reuse && token?.kind === 'RefreshToken' && token.consumed) await reuse.redeeming(ctx, token as unknown as Record<string, unknown>).catch(storeFailed);
      const account = await store.accounts.viewById(sub).catch(storeFailed);
      // A disabled account has no tokens' worth of claims: refresh, userinfo and introspection refuse.
      if (!account || account.disabled) return undefined;
      return { accountId: sub, claims: async () => accountClaims(account) as { sub: string } };
    },
    claims: {
      openid: ['sub', 'acr', 'amr', 'auth_time'],
      profile: ['name', 'locale', 'updated_at'],
      email: ['email', 'email_verified'],
      phone: ['phone_number', 'phone_number_verified'],
    },
    // ADMIN_SCOPE is listed so oidc-provider holds it to each client's `scope` allow-list (it lets any
    // client have a scope it doesn't know); only a client marked ADMIN_API may list it (client-metadata.ts).
    scopes: [...USER_SCOPES, ADMIN_SCOPE],
    acrValues: acr.values,
    responseTypes: ['code', 'none'],
    clientDefaults: {
      grant_types: ['authorization_code'],
      response_types: ['code'],
      id_token_signed_response_alg: 'ES256',
      token_endpoint_auth_method: 'client_secret_basic',
      // A client registered without `scope` may ask for every scope but ADMIN_SCOPE (without an allow-list
      // oidc-provider would let it have any).
      scope: USER_SCOPES.join(' '),
    },
    enabledJWA: { idTokenSigningAlgValues: ['ES256'], userinfoSigningAlgValues: ['ES256'] },
    extraClientMetadata: { properties: [MIN_ACR, FIRST_PARTY, INTROSPECT_ANY, ADMIN_API], validator: validateExtraMetadata(acr) },
    features: {
      devInteractions: { enabled: false },
      claimsParameter: { enabled: true },
      clientCredentials: { enabled: true },
      introspection: {
        enabled: true,
        // An authenticated (confidential) client may introspect its own tokens; one an admin granted
        // tessera_introspect_any (an API gateway) any client's. oidc-provider's default lets every client,
        // public ones included, see every token.
        allowedPolicy: (_ctx, client, token) => mayIntrospect(client, token),
      },
      revocation: { enabled: true },
      rpInitiatedLogout: {
        enabled: true,
        logoutSource: (ctx, form) => pages.logoutConfirm(ctx, form),
        postLogoutSuccessSource: (ctx) => pages.loggedOut(ctx),
      },
    },
    pkce: { required: (_ctx, client) => client.clientAuthMethod === 'none' },
    rotateRefreshToken: reuse ? (ctx) => reuse.rotate(ctx) : true,
    issueRefreshToken: async (_ctx, client, code) => client.grantTypeAllowed('refresh_token') && code.scopes.has('offline_access'),
    // First-party clients (flag set by an admin) skip the consent page: their grant is created here.
    loadExistingGrant: async (ctx) => {
      const { oidc } = ctx;
      const grantId = oidc.result?.consent?.grantId || oidc.session?.grantIdFor(oidc.client!.clientId);
      if (grantId) {
        const grant = await oidc.provider.Grant.find(grantId);
        if (grant) return grant;
      }
      // Consent is remembered per account and client, not per browser session: what the user allowed
      // this app before (ConsentRepo) becomes this session's grant, and only scopes beyond it are asked.
      const accountId = oidc.session?.accountId;
      if (oidc.client && accountId && clientMeta(oidc.client)[FIRST_PARTY] !== true) {
        const allowed = await store.consents.find(accountId, oidc.client.clientId);
        if (!allowed || !allowed.scopes.length) return undefined;
        const grant = new oidc.provider.Grant({ clientId: oidc.client.clientId, accountId });
        grant.addOIDCScope(allowed.scopes.join(' '));
        if (allowed.claims.length) grant.addOIDCClaims(allowed.claims);
        await grant.save();
        return grant;
      }
      if (oidc.client && clientMeta(oidc.client)[FIRST_PARTY] === true && oidc.session?.accountId) {
        const grant = new oidc.provider.Grant({ clientId: oidc.client.clientId, accountId: oidc.session.accountId });
        grant.addOIDCScope(String(oidc.params?.scope ?? 'openid'));
        if (oidc.claims && Object.keys(oidc.claims).length) grant.addOIDCClaims(Object.keys({ ...oidc.claims.id_token, ...oidc.claims.userinfo }));
        await grant.save();
        return grant;
      }
      return undefined;
    },
    interactions: { policy, url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
    cookies: {
      keys: keys.cookieKeys,
      long: { signed: true, httpOnly: true, sameSite: 'lax' },
      short: { signed: true, httpOnly: true, sameSite: 'lax' },
    },
    jwks: keys.jwks as Configuration['jwks'],
    ttl: {
      AccessToken: config.tokens.accessTokenTtl,
      AuthorizationCode: 60,
      ClientCredentials: config.tokens.accessTokenTtl,
      IdToken: config.tokens.idTokenTtl,
      Interaction: INTERACTION_TTL_SECONDS,
      Grant: config.tokens.refreshTokenTtl,
      Session: config.tokens.sessionTtl,
      RefreshToken: config.tokens.refreshTokenTtl,
    },
    renderError: (ctx, out, error) => pages.error(ctx, out as unknown as Record<string, string>, error),
    allowOmittingSingleRegisteredRedirectUri: false,
  };

  const provider = new Provider(config.issuer, configuration);
  // Mounted in Tessera's app, which strips X-Forwarded-* from peers that aren't trusted proxies before
  // oidc-provider reads them (src/http/proxy.ts); without trusted proxies it believes none at all.
  provider.proxy = config.trustedProxies.length > 0;
  cacheClientLookups(provider);
  if (reuse) provider.on('grant.success', (ctx: KoaContextWithOIDC) => reuse.answered(ctx));
  acceptPreviousSecrets(provider, store, box);
  registerClientPolicy(provider, { production: config.env === 'production', acrValues: acr.values });
  return provider;
}

/**
 * Secret rotation with a grace period (ClientService.rotateSecret): until the record's previousSecret
 * expires, the old secret authenticates too (client_secret_basic / client_secret_post). The record is
 * read only when the current secret didn't match, so the token path of a client using its current
 * secret pays nothing, and the expiry is judged at that moment on every instance.
 */
function acceptPreviousSecrets(provider: Provider, store: Store, box: SecretBox) {
  type Compare = (this: { clientId: string }, actual: string) => boolean | Promise<boolean>;
  const proto = provider.Client.prototype as unknown as { compareClientSecret: Compare };
  const compare = proto.compareClientSecret;
  // Not an async function: the matching case returns the plain boolean, with no promise of its own on
  // the token path (each one pays oidc-provider's async hook, bench/).
  proto.compareClientSecret = function (actual) {
    const current = compare.call(this, actual);
    if (current === true || typeof actual !== 'string' || !actual) return current;
    return Promise.resolve(current).then(async (matched) => {
      if (matched) return true;
      const previous = (await store.clients.find(this.clientId))?.previousSecret;
      if (!previous || previous.expiresAt.getTime() <= Date.now()) return false;
      // Encrypted under a data key since retired (keys prune): the old secret simply no longer matches.
      let old: string;
      try {
        old = box.decrypt(previous.encrypted);
      } catch {
        return false;
      }
      return constantTimeEqual(old, actual);
    });
  };
}

/**
 * Clients are looked up on every token request. oidc-provider reads the record through the adapter and
 * then hashes the whole record (JSON + SHA-256) to find its Client instance. Records change only through
 * the admin CLI / API, often from another process, so each instance keeps what it found for one second:
 * an update, secret rotation or deletion takes effect everywhere within a second.
 */
const CLIENT_CACHE_MS = 1000;
const clientCaches = new WeakMap<Provider, Map<string, unknown>>();

/** Drops this instance's cached lookup of a client just changed here (other instances see it within a second). */
export function forgetClient(provider: Provider, clientId: string): void {
  clientCaches.get(provider)?.delete(clientId);
}

function cacheClientLookups(provider: Provider) {
  const Client = provider.Client;
  const find = Client.find.bind(Client);
  const cache = new Map<string, { at: number; client: Awaited<ReturnType<typeof find>> }>();
  clientCaches.set(provider, cache);
  Client.find = (id: string) => {
    const hit = cache.get(id);
    if (hit && Date.now() - hit.at < CLIENT_CACHE_MS) return Promise.resolve(hit.client);
    return find(id).then((client) => {
      if (cache.size >= 1000) cache.clear(); // bounded: unknown ids sent by anyone are cached too
      cache.set(id, { at: Date.now(), client });
      return client;
    });
  };
}
