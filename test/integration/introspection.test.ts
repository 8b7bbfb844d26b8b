// Issue 10 item 6: who may introspect whose tokens, over raw HTTP. The built-in tessera-account client
// is public (no secret) and first-party: it must learn nothing about another client's token, and neither
// may a confidential first-party client; only a client an admin granted tessera_introspect_any may.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { createHash, randomBytes } from 'node:crypto';
import { startTessera, type RunningTessera } from '../support/tessera.ts';
import { HttpClient, csrfOf } from '../support/http.ts';
import { ClientService, ClientInputError } from '../../src/admin/clients.ts';
import { ACCOUNT_CLIENT_ID } from '../../src/account/client.ts';

let t: RunningTessera;
let clients: ClientService;
const REDIRECT = 'http://127.0.0.1:9/callback';
const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`;

async function post(path: string, body: Record<string, string>, auth?: string) {
  const res = await fetch(`${t.issuer}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...(auth ? { authorization: auth } : {}) },
    body: new URLSearchParams(body),
  });
  const text = await res.text();
  return { status: res.status, json: JSON.parse(text) as Record<string, unknown> };
}

const introspect = (token: string, auth: { id: string; secret?: string }) =>
  auth.secret
    ? post('/token/introspection', { token }, basic(auth.id, auth.secret))
    : post('/token/introspection', { token, client_id: auth.id });

/** A user's access and refresh tokens for `app`, from a real code flow (password sign-in). */
async function userTokens(app: { client_id: string; client_secret?: string }) {
  const http = new HttpClient(t.issuer);
  const verifier = randomBytes(32).toString('base64url');
  const query = new URLSearchParams({
    client_id: app.client_id, response_type: 'code', scope: 'openid email offline_access', redirect_uri: REDIRECT, state: 's',
    prompt: 'consent', code_challenge: createHash('sha256').update(verifier).digest('base64url'), code_challenge_method: 'S256',
  });
  const { res, url } = await http.follow(`/auth?${query}`);
  const uidPath = new URL(url).pathname;
  const login = await http.post(`${uidPath}/login`, { _csrf: csrfOf(await res.text()), email: 'victim@example.com', password: 'a fine passphrase' });
  expect([302, 303]).toContain(login.status);
  let { res: page, url: back } = await http.follow(login.headers.get('location')!);
  if (!back.startsWith(REDIRECT)) {
    // The consent page (offline_access is only granted with prompt=consent).
    const consent = await http.post(`${new URL(back).pathname}/consent`, { _csrf: csrfOf(await page.text()) });
    expect([302, 303]).toContain(consent.status);
    ({ res: page, url: back } = await http.follow(consent.headers.get('location')!));
  }
  const code = new URL(back).searchParams.get('code');
  expect(code, `no code at ${back}`).toBeTruthy();
  const tokens = await post(
    '/token',
    { grant_type: 'authorization_code', code: code!, redirect_uri: REDIRECT, code_verifier: verifier },
    basic(app.client_id, app.client_secret!),
  );
  expect(tokens.status, JSON.stringify(tokens.json)).toBe(200);
  return { access: String(tokens.json.access_token), refresh: String(tokens.json.refresh_token) };
}

beforeAll(async () => {
  t = await startTessera();
  const s = t.built.services;
  clients = new ClientService(s.store, s.box, s.provider);
  await s.accounts.register({ name: 'Victim', email: 'victim@example.com', password: 'a fine passphrase', email_verified: true });
});
afterAll(() => t?.stop());

describe('token introspection', () => {
  it('discloses a token only to its own client or to a client granted tessera_introspect_any', async () => {
    const shop = await clients.create({
      client_name: 'Shop', redirect_uris: [REDIRECT], grant_types: ['authorization_code', 'refresh_token'], scope: 'openid email offline_access',
    });
    const firstParty = await clients.create({ client_name: 'Our other app', grant_types: ['client_credentials'], response_types: [], redirect_uris: [], tessera_first_party: true });
    const gateway = await clients.create({ client_name: 'API gateway', grant_types: ['client_credentials'], response_types: [], redirect_uris: [], tessera_introspect_any: true });
    const { access, refresh } = await userTokens(shop);
    const service = await post('/token', { grant_type: 'client_credentials' }, basic(firstParty.client_id, firstParty.client_secret!));
    expect(service.status).toBe(200);
    const serviceToken = String(service.json.access_token);

    // Its own client sees it.
    const own = await introspect(access, { id: shop.client_id, secret: shop.client_secret });
    expect(own.json).toMatchObject({ active: true, client_id: shop.client_id, sub: expect.any(String) });

    // The public built-in account client (no secret) learns nothing, for any kind of token.
    for (const token of [access, refresh, serviceToken]) {
      const nosy = await introspect(token, { id: ACCOUNT_CLIENT_ID });
      expect(nosy.json.active).not.toBe(true);
      expect(nosy.json).not.toHaveProperty('sub');
      expect(nosy.json).not.toHaveProperty('client_id');
    }

    // Being first-party grants no look into another client's tokens.
    const other = await introspect(access, { id: firstParty.client_id, secret: firstParty.client_secret });
    expect(other.json).toEqual({ active: false });
    const otherRefresh = await introspect(refresh, { id: firstParty.client_id, secret: firstParty.client_secret });
    expect(otherRefresh.json).toEqual({ active: false });
    // ... but it still sees its own.
    expect((await introspect(serviceToken, { id: firstParty.client_id, secret: firstParty.client_secret })).json.active).toBe(true);

    // The admin-granted flag does.
    const granted = await introspect(access, { id: gateway.client_id, secret: gateway.client_secret });
    expect(granted.json).toMatchObject({ active: true, client_id: shop.client_id, sub: own.json.sub });
    // A wrong secret is no authentication.
    const forged = await introspect(access, { id: gateway.client_id, secret: 'not-the-secret' });
    expect(forged.status).toBe(401);
    expect(forged.json).not.toHaveProperty('active');
  });

  it('grants tessera_introspect_any only as a boolean, and never to a public client', async () => {
    const base = { grant_types: ['client_credentials'], response_types: [], redirect_uris: [] };
    await expect(clients.create({ ...base, tessera_introspect_any: 'yes' })).rejects.toThrow(ClientInputError);
    await expect(
      clients.create({ redirect_uris: [REDIRECT], token_endpoint_auth_method: 'none', tessera_introspect_any: true }),
    ).rejects.toThrow(/tessera_introspect_any needs a confidential client/);
    const ok = await clients.create({ ...base, tessera_introspect_any: false });
    expect(ok.tessera_introspect_any).toBe(false);
  });
});
