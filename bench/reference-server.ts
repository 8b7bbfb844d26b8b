// Child process: a bare oidc-provider 9 — the yardstick Tessera is compared with in the same run.
// Same protocol configuration as src/oidc/provider.ts (ES256, rotating refresh tokens, introspection,
// client credentials, same TTLs, first-party clients skip consent via loadExistingGrant), but artifacts
// live in a plain Map (the built-in memory adapter is an LRU of 1,000 entries: tokens would vanish under
// load, field notes) and the interaction is a trivial form with no store, no CSRF, no audit.
// The login verifies the password with the same argon2id parameters as Tessera (so "password login" is
// compared like for like); posting nohash=1 skips the hash to show the protocol-only cost.
// Env: PORT. Prints "ready" when listening.
import http from 'node:http';
import crypto from 'node:crypto';
import Koa from 'koa';
import mount from 'koa-mount';
import Router from '@koa/router';
import { bodyParser } from '@koa/bodyparser';
import Provider, { type Adapter, type AdapterPayload, type Configuration } from 'oidc-provider';
import { hashPassword, verifyPassword } from '../src/accounts/passwords.ts';
import { CC_CLIENT, WEB_CLIENT, PASSWORD } from './fixtures.ts';

const port = Number(process.env.PORT);
const issuer = `http://127.0.0.1:${port}`;

// ---- a Map adapter: unbounded, expiry checked on read, swept once a minute --------------------------
type Entry = { payload: AdapterPayload; expiresAt: number };
const rows = new Map<string, Entry>();
const byGrant = new Map<string, Set<string>>();
const byUid = new Map<string, string>();
const live = (e: Entry | undefined) => (e && e.expiresAt > Date.now() ? e.payload : undefined);
setInterval(() => {
  const now = Date.now();
  for (const [k, e] of rows) if (e.expiresAt <= now) rows.delete(k);
}, 60_000).unref();

class MapAdapter implements Adapter {
  constructor(private readonly model: string) {}
  private key(id: string) {
    return `${this.model}:${id}`;
  }
  async upsert(id: string, payload: AdapterPayload, expiresIn: number) {
    const key = this.key(id);
    rows.set(key, { payload, expiresAt: expiresIn ? Date.now() + expiresIn * 1000 : Infinity });
    if (payload.grantId) {
      const set = byGrant.get(payload.grantId) ?? new Set<string>();
      byGrant.set(payload.grantId, set.add(key));
    }
    if (payload.uid) byUid.set(`${this.model}:${payload.uid}`, id);
  }
  async find(id: string) {
    return live(rows.get(this.key(id)));
  }
  async findByUid(uid: string) {
    const id = byUid.get(`${this.model}:${uid}`);
    return id ? live(rows.get(this.key(id))) : undefined;
  }
  async findByUserCode() {
    return undefined;
  }
  async consume(id: string) {
    const e = rows.get(this.key(id));
    if (e) e.payload.consumed = Math.floor(Date.now() / 1000);
  }
  async destroy(id: string) {
    rows.delete(this.key(id));
  }
  async revokeByGrantId(grantId: string) {
    for (const key of byGrant.get(grantId) ?? []) rows.delete(key);
    byGrant.delete(grantId);
  }
}

// ---- provider ---------------------------------------------------------------------------------------
const { privateKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
const signingKey = { ...(privateKey.export({ format: 'jwk' }) as Record<string, unknown>), alg: 'ES256', use: 'sig', kid: 'ref-1' };
const cookieKeys = [crypto.randomBytes(32).toString('base64url')];
const passwordHash = await hashPassword(PASSWORD);

const configuration: Configuration = {
  adapter: MapAdapter,
  clients: [CC_CLIENT, WEB_CLIENT] as Configuration['clients'],
  extraClientMetadata: { properties: ['tessera_first_party'] },
  findAccount: async (_ctx, sub) => ({
    accountId: sub,
    claims: async () => ({ sub, name: 'Bench', email: `${sub}@bench.test`, email_verified: true, updated_at: 0 }),
  }),
  claims: {
    openid: ['sub', 'acr', 'amr', 'auth_time'],
    profile: ['name', 'updated_at'],
    email: ['email', 'email_verified'],
    phone: ['phone_number', 'phone_number_verified'],
  },
  scopes: ['openid', 'profile', 'email', 'phone', 'offline_access'],
  responseTypes: ['code', 'none'],
  clientDefaults: {
    grant_types: ['authorization_code'],
    response_types: ['code'],
    id_token_signed_response_alg: 'ES256',
    token_endpoint_auth_method: 'client_secret_basic',
  },
  enabledJWA: { idTokenSigningAlgValues: ['ES256'], userinfoSigningAlgValues: ['ES256'] },
  features: {
    devInteractions: { enabled: false },
    claimsParameter: { enabled: true },
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    revocation: { enabled: true },
  },
  pkce: { required: (_ctx, client) => client.clientAuthMethod === 'none' },
  rotateRefreshToken: true,
  issueRefreshToken: async (_ctx, client, code) => client.grantTypeAllowed('refresh_token') && code.scopes.has('offline_access'),
  loadExistingGrant: async (ctx) => {
    const { oidc } = ctx;
    const grantId = oidc.result?.consent?.grantId || oidc.session?.grantIdFor(oidc.client!.clientId);
    if (grantId) {
      const grant = await oidc.provider.Grant.find(grantId);
      if (grant) return grant;
    }
    if (oidc.client?.metadata().tessera_first_party === true && oidc.session?.accountId) {
      const grant = new oidc.provider.Grant({ clientId: oidc.client.clientId, accountId: oidc.session.accountId });
      grant.addOIDCScope(String(oidc.params?.scope ?? 'openid'));
      await grant.save();
      return grant;
    }
    return undefined;
  },
  interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
  cookies: {
    keys: cookieKeys,
    long: { signed: true, httpOnly: true, sameSite: 'lax' },
    short: { signed: true, httpOnly: true, sameSite: 'lax' },
  },
  jwks: { keys: [signingKey] } as Configuration['jwks'],
  ttl: { AccessToken: 3600, AuthorizationCode: 60, ClientCredentials: 3600, IdToken: 3600, Interaction: 3600, Grant: 1209600, Session: 1209600, RefreshToken: 1209600 },
};
const provider = new Provider(issuer, configuration);

// ---- the trivial interaction ------------------------------------------------------------------------
const router = new Router({ prefix: '/interaction/:uid' });
router.get('/', async (ctx) => {
  const details = await provider.interactionDetails(ctx.req, ctx.res);
  if (details.prompt.name === 'consent') {
    // prompt=consent (needed for offline_access) is granted without a page: only token minting uses it.
    const grant = details.grantId ? (await provider.Grant.find(details.grantId))! : new provider.Grant({ accountId: details.session!.accountId, clientId: String(details.params.client_id) });
    const missing = details.prompt.details as { missingOIDCScope?: string[] };
    if (missing.missingOIDCScope) grant.addOIDCScope(missing.missingOIDCScope.join(' '));
    const grantId = await grant.save();
    await provider.interactionFinished(ctx.req, ctx.res, { consent: { grantId } }, { mergeWithLastSubmission: true });
    ctx.respond = false;
    return;
  }
  ctx.type = 'html';
  ctx.body = `<!doctype html><form method="post" action="/interaction/${details.uid}/login"><input type="hidden" name="_csrf" value="-"><input name="email"><input name="password" type="password"><button>Sign in</button></form>`;
});
router.post('/login', bodyParser({ enableTypes: ['form'] }), async (ctx) => {
  const details = await provider.interactionDetails(ctx.req, ctx.res);
  const body = ctx.request.body as Record<string, string>;
  if (body.nohash !== '1' && !(await verifyPassword(passwordHash, String(body.password ?? '')))) {
    ctx.status = 401;
    ctx.body = 'wrong password';
    return;
  }
  const accountId = String(body.email ?? 'user').replace(/@.*/, '');
  await provider.interactionFinished(ctx.req, ctx.res, { login: { accountId } }, { mergeWithLastSubmission: false });
  ctx.respond = false;
  void details;
});

const app = new Koa();
app.keys = cookieKeys;
app.use(router.routes());
app.use(mount(provider));
const server = http.createServer(app.callback());
server.keepAliveTimeout = 65_000;
server.listen(port, '127.0.0.1', () => process.stdout.write('ready\n'));
process.on('SIGTERM', () => process.exit(0));
