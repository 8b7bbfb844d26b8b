// Issue 12, MongoDB cost: the store commands each token endpoint sends, counted by the driver's command
// monitoring over the wire protocol (the MongoDB wire test server, or MONGODB_URI), pinned so the count
// can't grow unnoticed. Counts, not timings: they don't depend on the machine's load.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { createHash, randomBytes } from 'node:crypto';
import { startTessera, type RunningTessera } from '../support/tessera.ts';
import { startMongoTestServer, type MongoTestServer } from '../support/mongo-test-server.ts';
import { CommandCounter, tally, type SeenCommand } from '../support/mongo-commands.ts';
import { openMongoStore } from '../../src/store/mongo/index.ts';
import { HttpClient, csrfOf } from '../support/http.ts';
import { ClientService, type ClientView } from '../../src/admin/clients.ts';

const REDIRECT = 'http://127.0.0.1:9/callback';
const EMAIL = 'ada@example.com';
const PASSWORD = 'a thrifty document passphrase';
const basic = (c: ClientView) => `Basic ${Buffer.from(`${c.client_id}:${c.client_secret}`).toString('base64')}`;

let mongo: MongoTestServer;
let t: RunningTessera;
let counter: CommandCounter;
let web: ClientView;
let machine: ClientView;

async function post(path: string, body: Record<string, string>, auth: string) {
  const res = await fetch(`${t.issuer}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: auth },
    body: new URLSearchParams(body),
  });
  const text = await res.text();
  if (res.status !== 200) throw new Error(`${path}: HTTP ${res.status} ${text}`);
  return text ? (JSON.parse(text) as Record<string, string>) : {};
}

/** A code from a complete sign-in (password, consent for offline_access), and its PKCE verifier. */
async function authorizationCode(): Promise<{ code: string; verifier: string }> {
  const http = new HttpClient(t.issuer);
  const verifier = randomBytes(32).toString('base64url');
  const query = new URLSearchParams({
    client_id: web.client_id, response_type: 'code', scope: 'openid email offline_access', redirect_uri: REDIRECT, state: 's',
    prompt: 'consent', code_challenge: createHash('sha256').update(verifier).digest('base64url'), code_challenge_method: 'S256',
  });
  const { res, url } = await http.follow(`/auth?${query}`);
  const uidPath = new URL(url).pathname;
  const login = await http.post(`${uidPath}/login`, { _csrf: csrfOf(await res.text()), email: EMAIL, password: PASSWORD });
  let { res: page, url: back } = await http.follow(login.headers.get('location')!);
  if (!back.startsWith(REDIRECT)) {
    const consent = await http.post(`${new URL(back).pathname}/consent`, { _csrf: csrfOf(await page.text()) });
    ({ res: page, url: back } = await http.follow(consent.headers.get('location')!));
  }
  const code = new URL(back).searchParams.get('code');
  if (!code) throw new Error(`no code at ${back}`);
  return { code, verifier };
}

const exchange = ({ code, verifier }: { code: string; verifier: string }) =>
  post('/token', { grant_type: 'authorization_code', code, redirect_uri: REDIRECT, code_verifier: verifier }, basic(web));

async function tokens() {
  const body = await exchange(await authorizationCode());
  return { access: body.access_token, refresh: body.refresh_token };
}

/** COST_DEBUG=1 prints each request's commands (to see which ones a changed count added). */
function show(label: string, cmds: SeenCommand[]) {
  if (!process.env.COST_DEBUG) return;
  process.stdout.write(`\n${label}: ${JSON.stringify(tally(cmds))}\n`);
  for (const c of cmds) {
    const { lsid: _l, $db: _d, $clusterTime: _c, ...rest } = c.command as Record<string, unknown>;
    process.stdout.write(`   ${JSON.stringify(rest).slice(0, 400)}\n`);
  }
}

beforeAll(async () => {
  counter = new CommandCounter().start(); // before the store opens: monitoring is switched on at open
  mongo = await startMongoTestServer();
  t = await startTessera({ store: await openMongoStore({ uri: mongo.uri }) });
  const s = t.built.services;
  const clients = new ClientService(s.store, s.box, s.provider);
  web = await clients.create({
    client_name: 'Cost web', redirect_uris: [REDIRECT], grant_types: ['authorization_code', 'refresh_token'],
    scope: 'openid email offline_access', tessera_first_party: true,
  });
  machine = await clients.create({ client_name: 'Cost machine', grant_types: ['client_credentials'], response_types: [], redirect_uris: [] });
  await s.accounts.register({ name: 'Cost', email: EMAIL, password: PASSWORD, email_verified: true });
}, 60_000);
afterAll(async () => {
  counter?.stop();
  await t?.stop();
  await mongo?.stop();
});

/**
 * The commands one request sends, by "command collection". Client records are read at most once a second
 * per client (src/oidc/provider.ts caches them), so whether a request reads its client depends on the
 * clock: that read is checked on its own (at most one), and left out of the pinned count.
 */
async function cost(fn: () => Promise<unknown>): Promise<Record<string, number>> {
  const cmds = await counter.during(fn);
  const clientReads = cmds.filter((c) => c.name === 'find' && c.collection === 'clients');
  expect(clientReads.length).toBeLessThanOrEqual(1);
  const rest = cmds.filter((c) => !clientReads.includes(c));
  show(expect.getState().currentTestName ?? '', rest);
  return tally(rest);
}

const bearer = (access: string) => async () => {
  const r = await fetch(`${t.issuer}/me`, { headers: { authorization: `Bearer ${access}` } });
  if (r.status !== 200) throw new Error(`userinfo ${r.status} ${await r.text()}`);
  return r.json() as Promise<Record<string, unknown>>;
};

// Each endpoint's count: what oidc-provider asks the adapter for, and why each command is needed, is in
// README ("MongoDB cost"). A change here is a change of that table.
describe('MongoDB commands per token endpoint', () => {
  it('client_credentials: one write (the token), no read but the cached client', async () => {
    let body: Record<string, string> = {};
    expect(await cost(async () => (body = await post('/token', { grant_type: 'client_credentials' }, basic(machine))))).toEqual({ 'update oidc': 1 });
    expect(body.access_token).toBeTruthy();
  });

  it('authorization_code: the code, its grant, the account; consume the code; store the access and refresh tokens', async () => {
    const c = await authorizationCode();
    let body: Record<string, string> = {};
    expect(await cost(async () => (body = await exchange(c)))).toEqual({ 'find oidc': 2, 'find accounts': 1, 'update oidc': 3 });
    expect(body.refresh_token).toBeTruthy();
  });

  it('refresh_token: the token, its grant, the account; consume it; store the successor and an access token', async () => {
    const { refresh } = await tokens();
    let body: Record<string, string> = {};
    expect(await cost(async () => (body = await post('/token', { grant_type: 'refresh_token', refresh_token: refresh }, basic(web))))).toEqual({
      'find oidc': 2, 'find accounts': 1, 'update oidc': 3,
    });
    expect(body.refresh_token).not.toBe(refresh);
  });

  it('introspection: one read for the token under every type it may have, one for its grant', async () => {
    const { access, refresh } = await tokens();
    for (const [token, hint] of [[access, undefined], [access, 'access_token'], [refresh, undefined], [refresh, 'refresh_token']] as const) {
      let body: Record<string, string> = {};
      const params: Record<string, string> = { token, ...(hint ? { token_type_hint: hint } : {}) };
      expect(await cost(async () => (body = await post('/token/introspection', params, basic(web)))), `${hint ?? 'no hint'}`).toEqual({ 'find oidc': 2 });
      expect(body).toMatchObject({ active: true, client_id: web.client_id });
    }
  });

  it('userinfo: the access token, the account, the grant', async () => {
    const { access } = await tokens();
    let claims: Record<string, unknown> = {};
    expect(await cost(async () => (claims = await bearer(access)()))).toEqual({ 'find oidc': 2, 'find accounts': 1 });
    expect(claims.email).toBe(EMAIL);
  });

  it("revocation: one read for the token; delete it; delete what its grant issued (and the grant, for a refresh token) in one command", async () => {
    const a = await tokens();
    expect(await cost(() => post('/token/revocation', { token: a.access }, basic(web)))).toEqual({ 'find oidc': 1, 'delete oidc': 2 });
    expect((await post('/token/introspection', { token: a.refresh }, basic(web))).active).toBe(false); // the grant's tokens went with it

    const r = await tokens();
    expect(await cost(() => post('/token/revocation', { token: r.refresh }, basic(web)))).toEqual({ 'find oidc': 1, 'delete oidc': 2 });
    expect((await post('/token/introspection', { token: r.access }, basic(web))).active).toBe(false);
    await expect(post('/token', { grant_type: 'refresh_token', refresh_token: r.refresh }, basic(web))).rejects.toThrow(/invalid_grant/);

    const cc = (await post('/token', { grant_type: 'client_credentials' }, basic(machine))).access_token;
    expect(await cost(() => post('/token/revocation', { token: cc }, basic(machine)))).toEqual({ 'find oidc': 1, 'delete oidc': 1 });
    expect((await post('/token/introspection', { token: cc }, basic(machine))).active).toBe(false);
  });

  it('reads batched in one tick are fresh: a token revoked by one request is gone for the next', async () => {
    const { access } = await tokens();
    // Concurrent introspections of one token (their reads may share a command) each get their own answer.
    const answers = await Promise.all(Array.from({ length: 4 }, () => post('/token/introspection', { token: access }, basic(web))));
    for (const a of answers) expect(a).toMatchObject({ active: true, client_id: web.client_id });
    await post('/token/revocation', { token: access }, basic(web));
    expect((await post('/token/introspection', { token: access }, basic(web))).active).toBe(false);
  });
});

describe('reads and deletions of one tick', () => {
  it('are one command each, and every caller gets what its own read would have', async () => {
    const oidc = t.store.oidc;
    const soon = new Date(Date.now() + 60_000);
    await oidc.upsert('AccessToken', 'tick-1', { jti: 'tick-1', nested: { scope: 'openid' } }, soon);
    await oidc.upsert('RefreshToken', 'tick-2', { jti: 'tick-2' }, soon);
    await oidc.upsert('AccessToken', 'tick-old', { jti: 'tick-old' }, new Date(Date.now() - 1000));
    let found: Array<Record<string, unknown> | undefined> = [];
    const reads = await counter.during(async () => {
      found = await Promise.all([
        oidc.find('AccessToken', 'tick-1'), oidc.find('AccessToken', 'tick-1'), oidc.find('RefreshToken', 'tick-2'),
        oidc.find('AccessToken', 'tick-old'), oidc.find('ClientCredentials', 'tick-1'),
      ]);
    });
    expect(tally(reads)).toEqual({ 'find oidc': 1 });
    expect(found).toEqual([
      { jti: 'tick-1', nested: { scope: 'openid' } }, { jti: 'tick-1', nested: { scope: 'openid' } }, { jti: 'tick-2' }, undefined, undefined,
    ]);
    // Two callers of one document hold two objects, as two reads would give them.
    expect(found[0]).not.toBe(found[1]);
    expect(found[0]!.nested).not.toBe(found[1]!.nested);

    await oidc.upsert('Grant', 'tick-grant', { jti: 'tick-grant' }, soon);
    await oidc.upsert('AccessToken', 'tick-3', { jti: 'tick-3', grantId: 'tick-grant' }, soon);
    await oidc.upsert('AuthorizationCode', 'tick-4', { jti: 'tick-4', grantId: 'tick-grant' }, soon);
    const deletes = await counter.during(() =>
      Promise.all([oidc.revokeByGrantId('tick-grant'), oidc.revokeByGrantId('tick-grant'), oidc.destroy('Grant', 'tick-grant'), oidc.destroy('AccessToken', 'tick-1')]),
    );
    expect(tally(deletes)).toEqual({ 'delete oidc': 1 });
    for (const [model, id] of [['Grant', 'tick-grant'], ['AccessToken', 'tick-3'], ['AuthorizationCode', 'tick-4'], ['AccessToken', 'tick-1']]) {
      expect(await oidc.find(model, id), `${model} ${id}`).toBeUndefined();
    }
    expect(await oidc.find('RefreshToken', 'tick-2')).toEqual({ jti: 'tick-2' });
    // A read after a write sees it: the next tick is the next command.
    await oidc.upsert('RefreshToken', 'tick-2', { jti: 'tick-2', consumed: 1 }, soon);
    expect(await oidc.find('RefreshToken', 'tick-2')).toEqual({ jti: 'tick-2', consumed: 1 });
  });
});
