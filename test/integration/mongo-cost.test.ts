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
  const t = await exchange(await authorizationCode());
  return { access: t.access_token, refresh: t.refresh_token };
}

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

describe('MongoDB commands per token endpoint', () => {
  it('explores', async () => {
    for (let i = 0; i < 3; i++) show('client_credentials', await counter.during(() => post('/token', { grant_type: 'client_credentials' }, basic(machine))));
    for (let i = 0; i < 2; i++) {
      const c = await authorizationCode();
      show('authorization_code', await counter.during(() => exchange(c)));
    }
    const tk = await tokens();
    let refresh = tk.refresh;
    for (let i = 0; i < 2; i++) show('refresh_token', await counter.during(async () => (refresh = (await post('/token', { grant_type: 'refresh_token', refresh_token: refresh }, basic(web))).refresh_token)));
    for (let i = 0; i < 2; i++) show('introspection (access)', await counter.during(() => post('/token/introspection', { token: tk.access }, basic(web))));
    for (let i = 0; i < 2; i++) show('introspection (refresh)', await counter.during(() => post('/token/introspection', { token: refresh }, basic(web))));
    for (let i = 0; i < 2; i++) show('userinfo', await counter.during(async () => {
      const r = await fetch(`${t.issuer}/me`, { headers: { authorization: `Bearer ${tk.access}` } });
      if (r.status !== 200) throw new Error(`userinfo ${r.status} ${await r.text()}`);
    }));
    const tk2 = await tokens();
    show('revocation (access)', await counter.during(() => post('/token/revocation', { token: tk2.access }, basic(web))));
    const tk3 = await tokens();
    show('revocation (refresh)', await counter.during(() => post('/token/revocation', { token: tk3.refresh }, basic(web))));
    const cc = (await post('/token', { grant_type: 'client_credentials' }, basic(machine))).access_token;
    show('revocation (cc)', await counter.during(() => post('/token/revocation', { token: cc }, basic(machine))));
    const tk4 = await tokens();
    await post('/token', { grant_type: 'refresh_token', refresh_token: tk4.refresh }, basic(web));
    show('refresh reuse', await counter.during(() => fetch(`${t.issuer}/token`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(web) }, body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: tk4.refresh }) }).then((r) => r.text())));
    expect(true).toBe(true);
  });
});
