// Rotated refresh tokens past their reuse window are kept as tombstones by the embedded store (issue 12:
// memory grew with every rotated token for its whole lifetime). Theft detection must not notice: a
// rotated token presented again, through the real token endpoint, still revokes the whole grant.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startTessera, type RunningTessera } from '../support/tessera.ts';
import { HttpClient, csrfOf } from '../support/http.ts';
import { ClientService } from '../../src/admin/clients.ts';
import { openSqliteStore } from '../../src/store/sqlite/index.ts';
import type { SqliteArtifactLog } from '../../src/store/sqlite/artifacts/repo.ts';

const REDIRECT = 'http://127.0.0.1:9/callback';
const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`;

let t: RunningTessera;
let dir: string;
let app: { client_id: string; client_secret?: string };

async function post(pathname: string, body: Record<string, string>) {
  const res = await fetch(`${t.issuer}${pathname}`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(app.client_id, app.client_secret!) },
    body: new URLSearchParams(body),
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

/** A user's tokens from a real code flow (password sign-in, consent to offline_access). */
async function userTokens() {
  const http = new HttpClient(t.issuer);
  const verifier = randomBytes(32).toString('base64url');
  const query = new URLSearchParams({
    client_id: app.client_id, response_type: 'code', scope: 'openid email offline_access', redirect_uri: REDIRECT, state: 's',
    prompt: 'consent', code_challenge: createHash('sha256').update(verifier).digest('base64url'), code_challenge_method: 'S256',
  });
  const { res, url } = await http.follow(`/auth?${query}`);
  const login = await http.post(`${new URL(url).pathname}/login`, { _csrf: csrfOf(await res.text()), email: 'dana@example.com', password: 'a rotating passphrase' });
  expect([302, 303]).toContain(login.status);
  let { res: page, url: back } = await http.follow(login.headers.get('location')!);
  if (!back.startsWith(REDIRECT)) {
    const consent = await http.post(`${new URL(back).pathname}/consent`, { _csrf: csrfOf(await page.text()) });
    ({ res: page, url: back } = await http.follow(consent.headers.get('location')!));
  }
  const code = new URL(back).searchParams.get('code');
  expect(code, `no code at ${back}`).toBeTruthy();
  const tokens = await post('/token', { grant_type: 'authorization_code', code: code!, redirect_uri: REDIRECT, code_verifier: verifier });
  expect(tokens.status, JSON.stringify(tokens.json)).toBe(200);
  return { access: String(tokens.json.access_token), refresh: String(tokens.json.refresh_token) };
}

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-tombstones-'));
  // No reuse interval: a rotated token is a tombstone from the commit that rotated it on.
  const store = await openSqliteStore({ file: path.join(dir, 'tessera.db'), refreshReuseSeconds: 0 });
  t = await startTessera({ store, dataDir: dir, env: { REFRESH_TOKEN_REUSE_SECONDS: '0' } });
  const s = t.built.services;
  app = await new ClientService(s.store, s.box, s.provider).create({
    client_name: 'Rotating App', redirect_uris: [REDIRECT], grant_types: ['authorization_code', 'refresh_token'], scope: 'openid email offline_access',
  });
  await s.accounts.register({ name: 'Rota', email: 'dana@example.com', password: 'a rotating passphrase', email_verified: true });
});
afterAll(async () => {
  await t?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('rotated refresh tokens as tombstones', () => {
  it('a rotated token kept only as a tombstone, presented again, revokes the grant', async () => {
    const artifacts = t.store.oidc as SqliteArtifactLog;
    const first = await userTokens();
    const before = artifacts.memoryCounts().tombstones;
    const rotated = await post('/token', { grant_type: 'refresh_token', refresh_token: first.refresh });
    expect(rotated.status, JSON.stringify(rotated.json)).toBe(200);
    const second = { access: String(rotated.json.access_token), refresh: String(rotated.json.refresh_token) };
    expect(second.refresh).not.toBe(first.refresh);
    // The first refresh token is no longer a full entry in memory.
    expect(artifacts.memoryCounts().tombstones).toBe(before + 1);
    expect((await post('/token/introspection', { token: first.refresh })).json).toEqual({ active: false }); // consumed

    // Presented again (a thief, or a client that kept it): refused, and the grant is revoked.
    const reused = await post('/token', { grant_type: 'refresh_token', refresh_token: first.refresh });
    expect(reused.status).toBe(400);
    expect(reused.json).toMatchObject({ error: 'invalid_grant' });
    const successor = await post('/token', { grant_type: 'refresh_token', refresh_token: second.refresh });
    expect(successor.status).toBe(400);
    expect(successor.json).toMatchObject({ error: 'invalid_grant' });
    expect((await post('/token/introspection', { token: second.access })).json).toEqual({ active: false });
    expect(artifacts.memoryCounts().tombstones).toBe(before); // gone with its grant
  });
});
