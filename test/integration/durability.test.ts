// A response that hands out a token or moves a sign-in on goes out only once the request's writes are
// durable (src/http/front.ts waits for the store's durably()). Seen through HTTP: with the commit held
// back the response waits, and with the commit failing the request fails: a client never holds a token,
// or a browser a sign-in step, that the store lost.
import { describe, it, expect, beforeAll, afterAll, afterEach } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'libsql';
import { startTessera, type RunningTessera } from '../support/tessera.ts';
import { HttpClient, csrfOf } from '../support/http.ts';
import { ClientService } from '../../src/admin/clients.ts';
import { openSqliteStore } from '../../src/store/sqlite/index.ts';

const REDIRECT = 'http://127.0.0.1:9/callback';
const PASSWORD = 'a durable enough passphrase';

interface Fixture {
  t: RunningTessera;
  service: { client_id: string; client_secret?: string };
  webClientId: string;
}

async function fixture(t: RunningTessera, email: string): Promise<Fixture> {
  const s = t.built.services;
  const clients = new ClientService(s.store, s.box, s.provider);
  const service = await clients.create({ client_name: 'Service', grant_types: ['client_credentials'], response_types: [], redirect_uris: [], scope: 'openid' });
  const web = await clients.create({ client_name: 'Web App', redirect_uris: [REDIRECT], scope: 'openid email' });
  await s.accounts.register({ name: 'Dora Bell', email, password: PASSWORD, email_verified: true });
  return { t, service, webClientId: web.client_id };
}

function tokenRequest(f: Fixture): Promise<Response> {
  return fetch(`${f.t.issuer}/token`, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`${f.service.client_id}:${f.service.client_secret}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
      accept: 'application/json',
    },
    body: new URLSearchParams({ grant_type: 'client_credentials' }),
  });
}

async function introspect(f: Fixture, token: string): Promise<Record<string, unknown>> {
  const res = await fetch(`${f.t.issuer}/token/introspection`, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`${f.service.client_id}:${f.service.client_secret}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams({ token }),
  });
  return (await res.json()) as Record<string, unknown>;
}

/** Opens the sign-in page of a fresh authorization request; returns how to post the password form. */
async function openSignIn(f: Fixture) {
  const http = new HttpClient(f.t.issuer);
  const q = new URLSearchParams({
    client_id: f.webClientId, response_type: 'code', scope: 'openid email', redirect_uri: REDIRECT, state: 'st',
    code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256',
  });
  const { res, url } = await http.follow(`/auth?${q}`);
  expect(res.status).toBe(200);
  const csrf = csrfOf(await res.text());
  const loginPath = `${new URL(url).pathname}/login`;
  return Object.assign((email: string) => http.post(loginPath, { _csrf: csrf, email, password: PASSWORD }), { http });
}

/**
 * Holds the store's commit back for the next request: that request's own work runs (the real
 * durably()), then the commit "takes" until release(). `ran` settles once the request's handlers are
 * done and only the commit is left.
 */
function holdNextCommit(t: RunningTessera) {
  const oidc = t.store.oidc;
  const real = oidc.durably;
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  let ran!: () => void;
  const done = new Promise<'ran'>((r) => (ran = () => r('ran')));
  let armed = true;
  oidc.durably = async function held<T>(fn: () => Promise<T>): Promise<T> {
    if (!armed) return real.call(oidc, fn) as Promise<T>;
    armed = false;
    const result = (await real.call(oidc, fn)) as T;
    ran();
    await gate;
    return result;
  };
  return { ran: done, release, restore: () => void (oidc.durably = real) };
}

/** Whether `p` settles within `ms` (only used where the answer must be "no": a late response can't pass). */
async function settlesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer!: NodeJS.Timeout;
  const outcome = await Promise.race([p.then(() => true, () => true), new Promise<boolean>((r) => (timer = setTimeout(() => r(false), ms)))]);
  clearTimeout(timer);
  return outcome;
}

describe('responses wait for the commit (the configured store)', () => {
  let f: Fixture;
  let hold: ReturnType<typeof holdNextCommit> | null = null;
  beforeAll(async () => {
    f = await fixture(await startTessera(), 'dora@example.com');
  });
  afterAll(() => f?.t.stop());
  afterEach(() => {
    hold?.release();
    hold?.restore();
    hold = null;
  });

  it('sends a token response only after its commit', async () => {
    hold = holdNextCommit(f.t);
    const response = tokenRequest(f);
    // The request's work finishes first; a response that went out without waiting for the commit
    // would win this race.
    const first = await Promise.race([hold.ran, response.then(() => 'response' as const)]);
    expect(first).toBe('ran');
    expect(await settlesWithin(response, 300)).toBe(false);
    hold.release();
    const res = await response;
    expect(res.status).toBe(200);
    const body = (await res.json()) as { access_token?: string };
    expect(body.access_token).toEqual(expect.any(String));
    expect(await introspect(f, body.access_token!)).toMatchObject({ active: true });
  });

  it('sends a sign-in step (the password accepted) only after its commit', async () => {
    const submit = await openSignIn(f);
    hold = holdNextCommit(f.t);
    const response = submit('dora@example.com');
    const first = await Promise.race([hold.ran, response.then(() => 'response' as const)]);
    expect(first).toBe('ran');
    expect(await settlesWithin(response, 300)).toBe(false);
    hold.release();
    const res = await response;
    expect(res.status).toBe(302);
    expect(res.headers.get('location')).toMatch(/^\/interaction\//);
  });
});

describe('a failed commit fails the request (embedded store)', () => {
  let f: Fixture;
  let dir: string;
  let db: InstanceType<typeof Database>;
  const failCommits = () => db.exec("CREATE TRIGGER disk_full BEFORE INSERT ON artifact_log BEGIN SELECT RAISE(ABORT, 'disk full'); END;");
  const healCommits = () => db.exec('DROP TRIGGER IF EXISTS disk_full');

  beforeAll(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-durability-'));
    const file = path.join(dir, 'tessera.db');
    // Always SQLite (also when the suite runs on MongoDB): the group commit is the embedded store's.
    const t = await startTessera({ store: await openSqliteStore({ file }), dataDir: dir });
    f = await fixture(t, 'dora@example.com');
    db = new Database(file);
    db.exec('PRAGMA busy_timeout = 5000');
  });
  afterAll(async () => {
    db?.close();
    await f?.t.stop();
    fs.rmSync(dir, { recursive: true, force: true });
  });
  afterEach(() => healCommits());

  it('answers a token request whose token could not be written with temporarily_unavailable (503), not the token', async () => {
    failCommits();
    const res = await tokenRequest(f);
    const body = (await res.json()) as Record<string, unknown>;
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBeTruthy();
    expect(body).toMatchObject({ error: 'temporarily_unavailable' });
    expect(body.access_token).toBeUndefined();
    healCommits();
    const ok = await tokenRequest(f);
    expect(ok.status).toBe(200);
    expect(await introspect(f, String(((await ok.json()) as { access_token: string }).access_token))).toMatchObject({ active: true });
  });

  it('shows an error page, not the way back to the app, when the finished sign-in could not be recorded', async () => {
    const submit = await openSignIn(f);
    const accepted = await submit('dora@example.com');
    expect(accepted.status).toBe(302);
    // The sign-in's result is written to the interaction (an oidc-provider artifact, group-committed)
    // before the browser is sent back to the app: with the commit failing, no redirect goes out.
    failCommits();
    const res = await submit.http.get(accepted.headers.get('location')!);
    expect(res.status).toBe(503);
    expect(res.headers.get('location')).toBeNull();
    expect(await res.text()).toContain('Temporarily unavailable');
    healCommits();
    const again = await (await openSignIn(f))('dora@example.com');
    expect(again.status).toBe(302);
  });
});
