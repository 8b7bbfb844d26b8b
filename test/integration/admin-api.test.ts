// The admin API (issue 14) over real HTTP, on both stores: a client-credentials token with scope
// tessera:admin from a client marked from the CLI; clients and users managed through it the way the
// CLI does; a client created through it rules a real openid-client sign-in; secret rotation with and
// without grace; the OpenAPI document answered route by route; problem details for every refusal.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import * as oidc from 'openid-client';
import { startTessera, type RunningTessera } from '../support/tessera.ts';
import { startMongoTestServer, type MongoTestServer } from '../support/mongo-test-server.ts';
import { openMongoStore } from '../../src/store/mongo/index.ts';
import { HttpClient } from '../support/http.ts';
import { signIn, REDIRECT, type HttpRp } from '../support/rp-http.ts';
import { ClientService } from '../../src/admin/clients.ts';

const MFA_SMS = 'urn:tessera:acr:mfa:sms';
const PASSWORD = 'a passphrase for the admin api test';
const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;

interface Answer {
  status: number;
  type: string;
  headers: Headers;
  json: any; // eslint-disable-line @typescript-eslint/no-explicit-any
  text: string;
}

async function request(base: string, method: string, path: string, opts: { token?: string; body?: unknown; raw?: string; contentType?: string; auth?: string } = {}): Promise<Answer> {
  const headers: Record<string, string> = {};
  if (opts.token) headers.authorization = `Bearer ${opts.token}`;
  if (opts.auth) headers.authorization = opts.auth;
  let payload: string | undefined;
  if (opts.raw !== undefined) payload = opts.raw;
  else if (opts.body !== undefined) payload = JSON.stringify(opts.body);
  if (payload !== undefined) headers['content-type'] = opts.contentType ?? 'application/json';
  const res = await fetch(`${base}${path}`, { method, headers, body: payload, redirect: 'manual' });
  const text = await res.text();
  let json: unknown;
  try {
    json = text ? JSON.parse(text) : undefined;
  } catch {
    json = undefined;
  }
  return { status: res.status, type: res.headers.get('content-type') ?? '', headers: res.headers, json, text };
}

/** A token from the client-credentials grant (plain fetch to /token, client_secret_basic). */
async function tokenRequest(issuer: string, clientId: string, secret: string, scope?: string) {
  const res = await fetch(`${issuer}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(clientId, secret) },
    body: new URLSearchParams({ grant_type: 'client_credentials', ...(scope ? { scope } : {}) }),
  });
  return { status: res.status, json: (await res.json()) as Record<string, string> };
}

function expectProblem(a: Answer, status: number, field?: string) {
  expect(a.status, a.text).toBe(status);
  expect(a.type).toMatch(/^application\/problem\+json/);
  expect(a.json).toMatchObject({ status, type: expect.any(String), title: expect.any(String) });
  expect(a.text).not.toMatch(/\n\s+at |node_modules|\.ts:\d+/); // never a stack trace
  if (field) expect(a.json.errors?.map((e: { field: string }) => e.field), a.text).toContain(field);
}

describe.each(['sqlite', 'mongo'] as const)('admin API on %s', (kind) => {
  let mongo: MongoTestServer | undefined;
  let t: RunningTessera;
  let admin: { id: string; secret: string };
  let token: string;
  let n = 0;
  const api = (method: string, path: string, opts: Parameters<typeof request>[3] = {}) => request(t.issuer, method, `/admin/api${path}`, { token, ...opts });

  beforeAll(async () => {
    if (kind === 'mongo') mongo = await startMongoTestServer();
    t = await startTessera(mongo ? { store: await openMongoStore({ uri: mongo.uri }) } : {});
    const s = t.built.services;
    // As `npm run cli -- client create --json` does it: only the CLI may mark a client for the admin API.
    const created = await new ClientService(s.store, s.box, s.provider).create(
      { client_name: 'Automation', grant_types: ['client_credentials'], scope: 'tessera:admin', tessera_admin_api: true },
      { by: { via: 'cli' } },
    );
    admin = { id: created.client_id, secret: created.client_secret! };
    const issued = await tokenRequest(t.issuer, admin.id, admin.secret, 'tessera:admin');
    expect(issued.status, JSON.stringify(issued.json)).toBe(200);
    expect(issued.json.scope).toBe('tessera:admin');
    token = issued.json.access_token;
  }, 120_000);
  afterAll(async () => {
    await t?.stop();
    await mongo?.stop();
  });

  async function user(opts: { phone?: string; sms?: boolean } = {}) {
    n += 1;
    const email = `api-user${n}-${kind}@example.com`;
    const account = await t.built.services.accounts.register({
      name: `Api User ${n}`, email, password: PASSWORD, email_verified: true,
      phone_number: opts.phone, phone_number_verified: Boolean(opts.phone), mfa: opts.sms ? ['sms'] : [],
    });
    return { email, id: account.id };
  }

  /** Admin actions in the audit log (read through the API itself), newest first. */
  async function auditOf(query: string) {
    const a = await api('GET', `/audit?${query}`);
    expect(a.status, a.text).toBe(200);
    return (a.json as Array<Record<string, unknown>>).filter((e) => String(e.type).startsWith('admin.'));
  }

  it('creates and updates a client with a tessera:admin token, and its minimum ACR asks for SMS at sign-in without acr_values', async () => {
    const created = await api('POST', '/clients', {
      body: {
        client_name: 'Payroll', redirect_uris: [REDIRECT], grant_types: ['authorization_code', 'refresh_token'],
        scope: 'openid email phone offline_access', tessera_first_party: true,
      },
    });
    expect(created.status, created.text).toBe(201);
    expect(created.json).toMatchObject({ client_name: 'Payroll', client_id: expect.any(String), client_secret: expect.any(String) });
    expect(created.headers.get('location')).toBe(`/admin/api/clients/${encodeURIComponent(created.json.client_id)}`);
    const id: string = created.json.client_id;

    const updated = await api('PATCH', `/clients/${id}`, { body: { tessera_min_acr: MFA_SMS, logo_uri: 'https://payroll.example.com/logo.png' }, contentType: 'application/merge-patch+json' });
    expect(updated.status, updated.text).toBe(200);
    expect(updated.json).toMatchObject({ client_id: id, client_name: 'Payroll', tessera_min_acr: MFA_SMS, logo_uri: 'https://payroll.example.com/logo.png' });
    expect(updated.json.client_secret).toBeUndefined();
    const shown = await api('GET', `/clients/${id}`);
    expect(shown.json).toMatchObject({ tessera_min_acr: MFA_SMS });
    expect((await api('GET', '/clients')).json.map((c: { client_id: string }) => c.client_id)).toContain(id);

    // A relying party (openid-client) for that client asks for nothing special: the minimum applies.
    const config = await oidc.discovery(new URL(t.issuer), id, created.json.client_secret, undefined, { execute: [oidc.allowInsecureRequests] });
    const rp: HttpRp = { config, clientId: id, clientSecret: created.json.client_secret };
    const phone = `+1201555${String(100 + n).padStart(4, '0')}`;
    const u = await user({ phone, sms: true });
    const tokens = await signIn(t, new HttpClient(t.issuer), rp, { email: u.email, password: PASSWORD, smsTo: phone });
    expect(t.vonage.to(phone)).toHaveLength(1); // the SMS step was asked for, though the request named no ACR
    expect(tokens.claims()).toMatchObject({ acr: MFA_SMS, amr: expect.arrayContaining(['pwd', 'sms']) });

    // Each step is in the audit log, made by the API client.
    const events = await auditOf(`client=${encodeURIComponent(id)}`);
    expect(events.map((e) => e.type)).toEqual(['admin.client_updated', 'admin.client_created']);
    for (const e of events) expect(e).toMatchObject({ via: 'api', admin: admin.id, client: id, ip: expect.any(String) });
    expect(events[0].fields).toEqual(['tessera_min_acr', 'logo_uri']);
  });

  it('refuses without a token (401), with a bad token (401), without the scope or from an unmarked client (403)', async () => {
    const none = await api('GET', '/clients', { token: '' });
    expectProblem(none, 401);
    expect(none.headers.get('www-authenticate')).toMatch(/^Bearer realm=/);
    const bad = await api('GET', '/clients', { token: 'not-a-token-we-issued-1234567890' });
    expectProblem(bad, 401);
    expect(bad.headers.get('www-authenticate')).toMatch(/error="invalid_token"/);
    expectProblem(await api('GET', '/clients', { auth: `Basic ${Buffer.from('a:b').toString('base64')}` }), 401);

    // A client not marked for the admin API: can't get the scope; its other tokens get 403.
    const s = t.built.services;
    const clients = new ClientService(s.store, s.box, s.provider);
    const other = await clients.create({ client_name: 'Reporting', grant_types: ['client_credentials'], scope: 'openid' });
    const refused = await tokenRequest(t.issuer, other.client_id, other.client_secret!, 'tessera:admin');
    expect(refused.status).toBe(400);
    expect(refused.json.error).toBe('invalid_scope');
    // Not even a client with no scope of its own (it gets every user scope by default, not this one).
    const unscoped = await clients.create({ client_name: 'Unscoped', grant_types: ['client_credentials'] });
    expect((await tokenRequest(t.issuer, unscoped.client_id, unscoped.client_secret!, 'tessera:admin')).json.error).toBe('invalid_scope');
    const plain = await tokenRequest(t.issuer, other.client_id, other.client_secret!, 'openid');
    expect(plain.status).toBe(200);
    const noScope = await api('GET', '/clients', { token: plain.json.access_token });
    expectProblem(noScope, 403);
    expect(noScope.headers.get('www-authenticate')).toMatch(/error="insufficient_scope"/);

    // A marked client's token stops working once the client is unmarked (CLI), and once it's deleted.
    const marked = await clients.create({ client_name: 'Robot', grant_types: ['client_credentials'], scope: 'tessera:admin', tessera_admin_api: true }, { by: { via: 'cli' } });
    const robot = (await tokenRequest(t.issuer, marked.client_id, marked.client_secret!, 'tessera:admin')).json.access_token;
    expect((await api('GET', '/clients', { token: robot })).status).toBe(200);
    await clients.update(marked.client_id, { tessera_admin_api: false, scope: 'openid' }, { via: 'cli' });
    expectProblem(await api('GET', '/clients', { token: robot }), 403);
    await clients.delete(marked.client_id);
    expectProblem(await api('GET', '/clients', { token: robot }), 401);
  });

  it('never lets a client mark itself or another for the admin API', async () => {
    const create = await api('POST', '/clients', { body: { client_name: 'Sneaky', grant_types: ['client_credentials'], scope: 'tessera:admin', tessera_admin_api: true } });
    expectProblem(create, 400, 'tessera_admin_api');
    const scopeOnly = await api('POST', '/clients', { body: { client_name: 'Sneaky', grant_types: ['client_credentials'], scope: 'tessera:admin' } });
    expectProblem(scopeOnly, 400, 'scope');
    const self = await api('PATCH', `/clients/${admin.id}`, { body: { tessera_admin_api: false } });
    expectProblem(self, 400, 'tessera_admin_api');
    const plain = await api('POST', '/clients', { body: { client_name: 'Plain', grant_types: ['client_credentials'], scope: 'openid' } });
    expect(plain.status).toBe(201);
    expectProblem(await api('PATCH', `/clients/${plain.json.client_id}`, { body: { tessera_admin_api: true } }), 400, 'tessera_admin_api');
    expectProblem(await api('PATCH', `/clients/${plain.json.client_id}`, { body: { tessera_admin_api: null } }), 400, 'tessera_admin_api');
    expectProblem(await api('PATCH', `/clients/${plain.json.client_id}`, { body: { scope: 'openid tessera:admin' } }), 400, 'scope');
    expect((await api('GET', `/clients/${plain.json.client_id}`)).json.tessera_admin_api).toBeUndefined();
    expect((await api('GET', `/clients/${admin.id}`)).json.tessera_admin_api).toBe(true);
    // Nor may it make an admin.
    const u = await user();
    expectProblem(await api('PATCH', `/users/${u.id}`, { body: { admin: true } }), 400, 'admin');
  });

  it('rotates a secret: the old one is refused at once without grace, works during the grace and not after', async () => {
    const created = await api('POST', '/clients', { body: { client_name: 'Rotating', grant_types: ['client_credentials'], scope: 'openid' } });
    const id: string = created.json.client_id;
    const first: string = created.json.client_secret;
    expect((await tokenRequest(t.issuer, id, first)).status).toBe(200);

    const r1 = await api('POST', `/clients/${id}/secret`);
    expect(r1.status, r1.text).toBe(200);
    const second: string = r1.json.client_secret;
    expect(second).not.toBe(first);
    expect(r1.json.previous_secret_expires_at).toBeUndefined();
    const old = await tokenRequest(t.issuer, id, first);
    expect(old.status).toBe(401);
    expect(old.json.error).toBe('invalid_client');
    expect((await tokenRequest(t.issuer, id, second)).status).toBe(200);

    const GRACE = 4;
    const r2 = await api('POST', `/clients/${id}/secret`, { body: { grace_seconds: GRACE } });
    expect(r2.status, r2.text).toBe(200);
    const third: string = r2.json.client_secret;
    const until = r2.json.previous_secret_expires_at * 1000;
    expect(until).toBeGreaterThan(Date.now());
    const during = await tokenRequest(t.issuer, id, second);
    // The grace period must still run for this check to mean anything.
    expect(Date.now()).toBeLessThan(until);
    expect(during.status, JSON.stringify(during.json)).toBe(200);
    expect((await tokenRequest(t.issuer, id, third)).status).toBe(200);
    expect((await tokenRequest(t.issuer, id, first)).status).toBe(401);
    await new Promise((resolve) => setTimeout(resolve, until - Date.now() + 1200));
    expect((await tokenRequest(t.issuer, id, second)).status).toBe(401);
    expect((await tokenRequest(t.issuer, id, third)).status).toBe(200);
    expect((await api('GET', `/clients/${id}`)).json.previous_secret_expires_at).toBeUndefined();

    expectProblem(await api('POST', `/clients/${id}/secret`, { body: { grace_seconds: -1 } }), 400, 'grace_seconds');
    expectProblem(await api('POST', `/clients/${id}/secret`, { body: { grace_seconds: '60' } }), 400, 'grace_seconds');
    expectProblem(await api('POST', `/clients/${id}/secret`, { body: { grace: 60 } }), 400, 'grace');
    const events = await auditOf(`client=${encodeURIComponent(id)}&type=admin.client_secret_rotated`);
    expect(events.map((e) => e.grace_seconds)).toEqual([GRACE, 0]);
    expect(events.every((e) => e.via === 'api' && e.admin === admin.id)).toBe(true);
  }, 60_000);

  it('manages users like the CLI: create, show, update, disable, reset MFA, delete, each audited', async () => {
    const created = await api('POST', '/users', { body: { email: `made-${kind}@example.com`, password: PASSWORD, name: 'Made By Api', email_verified: true } });
    expect(created.status, created.text).toBe(201);
    const sub: string = created.json.sub;
    expect(created.json).toMatchObject({ email: `made-${kind}@example.com`, admin: false, disabled: false });
    expect(created.text).not.toContain(PASSWORD);
    expect((await api('GET', `/users/${sub}`)).json.name).toBe('Made By Api');
    expect((await api('GET', `/users/${encodeURIComponent(`made-${kind}@example.com`)}`)).json.sub).toBe(sub);
    expect((await api('GET', '/users?limit=1000')).json.map((x: { sub: string }) => x.sub)).toContain(sub);

    const patched = await api('PATCH', `/users/${sub}`, { body: { name: 'Renamed', disabled: true } });
    expect(patched.status, patched.text).toBe(200);
    expect(patched.json).toMatchObject({ name: 'Renamed', disabled: true });
    expect((await t.built.services.accounts.signIn(`made-${kind}@example.com`, PASSWORD, '127.0.0.1')).ok).toBe(false);
    expect((await api('PATCH', `/users/${sub}`, { body: { disabled: false } })).json.disabled).toBe(false);
    expect((await api('POST', `/users/${sub}/reset-mfa`)).json).toMatchObject({ reset: true, sub });
    expect((await api('DELETE', `/users/${sub}`)).status).toBe(204);
    expectProblem(await api('GET', `/users/${sub}`), 404);

    // The account's language: set at creation, changed, cleared; a language without a catalogue is refused.
    const es = await api('POST', '/users', { body: { email: `es-${kind}@example.com`, password: PASSWORD, name: 'Lucía', locale: 'es' } });
    expect(es.status, es.text).toBe(201);
    expect(es.json.locale).toBe('es');
    expect((await t.store.accounts.findById(es.json.sub))?.locale).toBe('es');
    expect((await api('PATCH', `/users/${es.json.sub}`, { body: { locale: 'de' } })).json.locale).toBe('de');
    expect((await api('PATCH', `/users/${es.json.sub}`, { body: { locale: null } })).json.locale).toBeNull();
    const unknown = await api('PATCH', `/users/${es.json.sub}`, { body: { locale: 'xx' } });
    expectProblem(unknown, 400, 'locale');
    expect((await api('GET', `/users/${es.json.sub}`)).json.locale).toBeNull();

    const events = await auditOf(`account=${sub}`);
    expect(events.map((e) => e.type)).toEqual(['admin.user_deleted', 'admin.mfa_reset', 'admin.user_enabled', 'admin.user_disabled', 'admin.user_updated', 'admin.user_created']);
    for (const e of events) expect(e).toMatchObject({ via: 'api', admin: admin.id });
  });

  it('serves an OpenAPI 3.1 document, and every operation in it answers', async () => {
    const doc = await request(t.issuer, 'GET', '/admin/api/openapi.json');
    expect(doc.status).toBe(200);
    expect(doc.json.openapi).toMatch(/^3\.1\.\d+$/);
    expect(doc.json.components.securitySchemes.adminToken.flows.clientCredentials.tokenUrl).toBe(`${t.issuer}/token`);
    const s = t.built.services;
    const clients = new ClientService(s.store, s.box, s.provider);
    let calls = 0;
    for (const [path, item] of Object.entries(doc.json.paths as Record<string, Record<string, any>>)) {
      for (const method of ['get', 'post', 'patch', 'put', 'delete']) {
        const op = item[method];
        if (!op) continue;
        // Fresh resources for each call, so a DELETE doesn't take another call's.
        let concrete = path;
        if (path.includes('{client_id}')) concrete = concrete.replace('{client_id}', (await clients.create({ client_name: `For ${op.operationId}`, redirect_uris: [REDIRECT] })).client_id);
        if (path.includes('{sub}')) concrete = concrete.replace('{sub}', (await user()).id);
        const content = op.requestBody?.content?.['application/json'];
        let body = content?.example;
        if (op.operationId === 'createUser') body = { ...body, email: `openapi-${kind}@example.com` };
        const a = await request(t.issuer, method.toUpperCase(), `/admin/api${concrete}`, { token, body });
        expect(a.status, `${method} ${path}: ${a.text}`).not.toBe(404);
        expect(a.status, `${method} ${path}: ${a.text}`).not.toBe(405);
        expect(a.status, `${method} ${path}: ${a.text}`).toBeLessThan(300);
        expect(Object.keys(op.responses), `${method} ${path} documents ${a.status}`).toContain(String(a.status));
        calls += 1;
      }
    }
    expect(calls).toBe(14);
    // And nothing beyond it: an unknown path or method is a problem, not a page.
    expectProblem(await api('GET', '/nothing-here'), 404);
    expectProblem(await api('PUT', '/clients'), 405);
  }, 120_000);

  it('answers bad input with 400 problem details naming the field', async () => {
    const cases: Array<[string, Record<string, unknown>]> = [
      ['redirect_uris', { redirect_uris: ['not a url'] }],
      ['redirect_uris', { redirect_uris: ['https://app.example.com/cb#section'] }],
      ['redirect_uris', { redirect_uris: ['https://*.example.com/cb'] }],
      ['redirect_uris', { redirect_uris: 'https://app.example.com/cb' }],
      ['redirect_uris', { redirect_uris: ['javascript:alert(1)'] }],
      ['post_logout_redirect_uris', { redirect_uris: [REDIRECT], post_logout_redirect_uris: ['https://app.example.com/#x'] }],
      ['grant_types', { redirect_uris: [REDIRECT], grant_types: ['password'] }],
      ['grant_types', { redirect_uris: [REDIRECT], grant_types: ['authorization_code', 'urn:ietf:params:oauth:grant-type:device_code'] }],
      ['token_endpoint_auth_method', { redirect_uris: [REDIRECT], token_endpoint_auth_method: 'magic' }],
      ['grant_types', { grant_types: ['client_credentials'], token_endpoint_auth_method: 'none' }],
      ['client_name', { redirect_uris: [REDIRECT], client_name: 'x'.repeat(5000) }],
      ['client_name', { redirect_uris: [REDIRECT], client_name: 42 }],
      ['redirect_uris', { redirect_uris: [`https://app.example.com/${'a'.repeat(3000)}`] }],
      ['redirect_uris', { redirect_uris: Array.from({ length: 50 }, (_, i) => `https://app${i}.example.com/cb`) }],
      ['tessera_first_party', { redirect_uris: [REDIRECT], tessera_first_party: 'yes' }],
      ['default_acr_values', { redirect_uris: [REDIRECT], default_acr_values: ['urn:made:up'] }],
      ['tessera_min_acr', { redirect_uris: [REDIRECT], tessera_min_acr: 'urn:made:up' }],
      ['logo_uri', { redirect_uris: [REDIRECT], logo_uri: 'http://cdn.example.com/logo.png' }],
      ['policy_uri', { redirect_uris: [REDIRECT], policy_uri: 'ftp://example.com/policy' }],
      ['scope', { redirect_uris: [REDIRECT], scope: ['openid'] }],
      ['frobnicate', { redirect_uris: [REDIRECT], frobnicate: true }],
      ['client_id', { redirect_uris: [REDIRECT], client_id: 'a b' }],
      // Refused by oidc-provider's own validation after Tessera's: still named.
      ['redirect_uris', {}],
      ['id_token_signed_response_alg', { redirect_uris: [REDIRECT], id_token_signed_response_alg: 'RS256' }],
    ];
    for (const [field, body] of cases) {
      const a = await api('POST', '/clients', { body: { client_name: 'Bad', ...body } });
      expectProblem(a, 400, field);
      expect(a.json.type).toBe('urn:tessera:problem:invalid-input');
    }
    // Every bad field at once.
    const many = await api('POST', '/clients', { body: { client_name: 7, redirect_uris: ['https://x.example/#f'], logo_uri: 'http://x.example/l.png' } });
    expect(many.json.errors.map((e: { field: string }) => e.field).sort()).toEqual(['client_name', 'logo_uri', 'redirect_uris']);
    expect(many.json.errors[0].pointer).toMatch(/^\//);

    const existing = (await api('POST', '/clients', { body: { client_name: 'Fine', redirect_uris: [REDIRECT] } })).json.client_id;
    expectProblem(await api('PATCH', `/clients/${existing}`, { body: { redirect_uris: ['https://app.example.com/*'] } }), 400, 'redirect_uris');
    expectProblem(await api('PATCH', `/clients/${existing}`, { body: ['not', 'an', 'object'] }), 400);
    expectProblem(await api('PATCH', `/clients/${existing}`), 400, 'body');
    expectProblem(await api('POST', '/clients', { raw: '{"client_name": ' }), 400);
    expectProblem(await api('POST', '/clients', { raw: 'client_name=x', contentType: 'application/x-www-form-urlencoded' }), 415);
    expectProblem(await api('POST', '/clients', { body: { client_name: 'x'.repeat(200_000), redirect_uris: [REDIRECT] } }), 413);
    expectProblem(await api('POST', '/clients', { body: { client_name: 'Dup', client_id: existing, redirect_uris: [REDIRECT] } }), 409, 'client_id');
    expectProblem(await api('GET', '/clients/no-such-client'), 404);
    expectProblem(await api('DELETE', '/clients/tessera-account'), 403);
    expectProblem(await api('PATCH', '/clients/tessera-account', { body: { client_name: 'Mine now' } }), 403);

    expectProblem(await api('POST', '/users', { body: { email: 'nope', password: PASSWORD, name: 'X' } }), 400, 'email');
    expectProblem(await api('POST', '/users', { body: { email: 'typed@example.com', password: 12345, name: 'X' } }), 400, 'password');
    const u = await user();
    expectProblem(await api('PATCH', `/users/${u.id}`, { body: { disabled: 'yes' } }), 400, 'disabled');
    expectProblem(await api('PATCH', `/users/${u.id}`, { body: { name: 'x'.repeat(500) } }), 400, 'name');
    expectProblem(await api('GET', '/audit?limit=0'), 400, 'limit');
    expectProblem(await api('GET', '/audit?since=someday'), 400, 'since');
    expectProblem(await api('GET', '/users?limit=abc'), 400, 'limit');
  });

  it('answers an unexpected failure with a 500 problem carrying the request id and nothing else', async () => {
    const list = t.store.audit.list;
    t.store.audit.list = async () => {
      throw new Error('boom: internal detail /var/lib/secret');
    };
    try {
      const a = await api('GET', '/audit');
      expectProblem(a, 500);
      expect(a.json.request_id).toBe(a.headers.get('x-request-id'));
      expect(a.text).not.toContain('boom');
      expect(a.text).not.toContain('/var/lib');
    } finally {
      t.store.audit.list = list;
    }
  });
});

describe('admin API in a production configuration', () => {
  let t: RunningTessera;
  let token: string;
  beforeAll(async () => {
    t = await startTessera({ env: { NODE_ENV: 'production', COOKIE_SECRETS: 'a-production-cookie-secret-of-32-chars-or-more', DATA_KEY: 'a-production-data-key-of-at-least-32-characters' } });
    const s = t.built.services;
    const c = await new ClientService(s.store, s.box, s.provider).create(
      { client_name: 'Automation', grant_types: ['client_credentials'], scope: 'tessera:admin', tessera_admin_api: true },
      { by: { via: 'cli' } },
    );
    token = (await tokenRequest(t.issuer, c.client_id, c.client_secret!, 'tessera:admin')).json.access_token;
  }, 120_000);
  afterAll(async () => t?.stop());

  it('refuses http redirect URIs off loopback, and takes loopback http and https', async () => {
    const post = (body: unknown) => request(t.issuer, 'POST', '/admin/api/clients', { token, body });
    const a = await post({ client_name: 'Plain http', redirect_uris: ['http://app.example.com/cb'] });
    expectProblem(a, 400, 'redirect_uris');
    expect(a.json.errors[0].detail).toMatch(/https/);
    expectProblem(await post({ client_name: 'Plain http', redirect_uris: ['https://app.example.com/cb'], post_logout_redirect_uris: ['http://app.example.com/'] }), 400, 'post_logout_redirect_uris');
    for (const uri of ['http://127.0.0.1:8080/cb', 'http://[::1]/cb', 'http://localhost:3001/cb', 'https://app.example.com/cb'])
      expect((await post({ client_name: 'Fine', redirect_uris: [uri] })).status, uri).toBe(201);
    // A native app may use its reverse-domain scheme.
    expect((await post({ client_name: 'Native', application_type: 'native', token_endpoint_auth_method: 'none', redirect_uris: ['com.example.app:/callback'] })).status).toBe(201);
    expectProblem(await post({ client_name: 'Web', redirect_uris: ['com.example.app:/callback'] }), 400, 'redirect_uris');
  });
});
