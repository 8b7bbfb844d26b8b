// Issue 12, keys: `npm run cli -- keys ...` (a real child process) against the store of a running
// Tessera (in this process), which takes rotations up while running. Nobody is logged out, no token
// issued before a rotation stops working before it expires, no stored secret is lost.
import { describe, it, expect, afterEach } from 'vitest';
import { spawn } from 'node:child_process';
import Database from 'libsql';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startTessera, type RunningTessera } from '../support/tessera.ts';
import { HttpClient, csrfOf } from '../support/http.ts';
import { httpRp, signIn, silent, authUrl, finish } from '../support/rp-http.ts';
import { ClientService } from '../../src/admin/clients.ts';
import { UserAdmin } from '../../src/admin/users.ts';
import { totpCode } from '../../src/factors/totp/totp.ts';
import { keyId } from '../../src/secrets.ts';

const TSX = path.resolve('node_modules/.bin/tsx');
// Several CLI processes (each a fresh tsx, several seconds on a busy machine) and waits for key
// activation (2 × KEYS_REFRESH_SECONDS) and, once, for a retired key's 60-second retention.
const SLOW = { timeout: 420_000 };
const REFRESH = { KEYS_REFRESH_SECONDS: '1' };

interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
  json: any; // eslint-disable-line @typescript-eslint/no-explicit-any
}

/** The admin CLI as a child process on the test Tessera's DATA_DIR (it must not block this process: the server runs here). */
function cli(t: { dataDir: string }, args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(TSX, ['src/admin/cli.ts', ...args], {
      env: { ...process.env, NODE_ENV: 'test', DATA_DIR: t.dataDir, LOG_LEVEL: 'silent', MONGODB_URI: '', ...REFRESH, ...env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.stdin.end();
    child.on('error', reject);
    child.on('close', (code) => {
      let json;
      try {
        json = JSON.parse(stdout);
      } catch {
        json = undefined;
      }
      resolve({ code, stdout, stderr, json });
    });
  });
}

async function until<T>(what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 30_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

type Jwks = { keys: (crypto.JsonWebKey & { kid: string })[] };
const jwksOf = async (t: RunningTessera): Promise<Jwks> => (await fetch(`${t.issuer}/jwks`)).json() as Promise<Jwks>;
const kidsOf = async (t: RunningTessera) => (await jwksOf(t)).keys.map((k) => k.kid);
const headerOf = (jwt: string) => JSON.parse(Buffer.from(jwt.split('.')[0], 'base64url').toString()) as { kid: string; alg: string };

/** Whether the JWT's ES256 signature checks out against the key of its kid in `jwks` (what a relying party does). */
function verifiesAgainst(jwt: string, jwks: Jwks): boolean {
  const [h, p, sig] = jwt.split('.');
  const jwk = jwks.keys.find((k) => k.kid === headerOf(jwt).kid);
  if (!jwk || headerOf(jwt).alg !== 'ES256') return false;
  const key = crypto.createPublicKey({ key: jwk, format: 'jwk' });
  return crypto.verify('sha256', Buffer.from(`${h}.${p}`), { key, dsaEncoding: 'ieee-p1363' }, Buffer.from(sig, 'base64url'));
}

const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`;
async function form(t: RunningTessera, p: string, body: Record<string, string>, auth?: string) {
  const res = await fetch(`${t.issuer}${p}`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...(auth ? { authorization: auth } : {}) },
    body: new URLSearchParams(body),
  });
  return { status: res.status, json: (await res.json()) as Record<string, unknown> };
}

const USER = { email: 'ada@example.com', password: 'a fine passphrase' };
const running: RunningTessera[] = [];
const dirs: string[] = [];
afterEach(async () => {
  for (const t of running.splice(0)) await t.stop({ keepData: true }).catch(() => {});
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});
async function start(opts: Parameters<typeof startTessera>[0] = {}) {
  const t = await startTessera({ ...opts, env: { ...REFRESH, ...opts.env } });
  running.push(t);
  return t;
}
async function stop(t: RunningTessera) {
  running.splice(running.indexOf(t), 1);
  await t.stop({ keepData: true });
}
function tempDir() {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-keys-'));
  dirs.push(d);
  return d;
}

describe('keys rotate: signing keys', SLOW, () => {
  it('keeps tokens issued before the rotation verifying, signs new ones with the new key, drops the old key after its tokens expired', async () => {
    // Every token and session lives 60 s here, so a retired key is kept 60 s.
    const t = await start({ overrides: { tokens: { accessTokenTtl: 60, idTokenTtl: 60, refreshTokenTtl: 3600, sessionTtl: 60 } } });
    await t.built.services.accounts.register({ name: 'Ada', ...USER, email_verified: true });
    const rp = await httpRp(t);
    const browser = new HttpClient(t.issuer);
    const before = await signIn(t, browser, rp, USER);
    const oldKid = headerOf(before.id_token!).kid;
    expect(await kidsOf(t)).toEqual([oldKid]);

    const rotated = await cli(t, ['keys', 'rotate', '--json']);
    expect(rotated.code, rotated.stderr).toBe(0);
    expect(rotated.json).toMatchObject({ kind: 'signing', replaces: oldKid, dropped: [] });
    const newKid: string = rotated.json.id;
    expect(newKid).not.toBe(oldKid);

    // The running server publishes both (no restart), the new one first once it signs.
    await until('the new key published', async () => (await kidsOf(t)).includes(newKid));
    expect(await kidsOf(t)).toContain(oldKid);

    // Tokens issued before the rotation still verify against the published JWKS and are accepted.
    expect(verifiesAgainst(before.id_token!, await jwksOf(t))).toBe(true);
    const userinfo = await fetch(`${t.issuer}/me`, { headers: { authorization: `Bearer ${before.access_token}` } });
    expect(userinfo.status).toBe(200);
    expect(((await userinfo.json()) as { email: string }).email).toBe(USER.email);
    const introspected = await form(t, '/token/introspection', { token: before.access_token }, basic(rp.clientId, rp.clientSecret));
    expect(introspected.json).toMatchObject({ active: true, client_id: rp.clientId });

    // Once it activates, new ID tokens carry the new kid (a silent sign-in of the same browser).
    const after = await until('an ID token signed with the new key', async () => {
      const started = await authUrl(rp, { prompt: 'none' });
      const { url } = await browser.follow(started.url.href);
      const tokens = await finish(rp, url, started);
      return headerOf(tokens.id_token!).kid === newKid && tokens;
    });
    expect(verifiesAgainst(after.id_token!, await jwksOf(t))).toBe(true);
    expect((await kidsOf(t))[0]).toBe(newKid);
    // The old ID token is still good as a logout hint (oidc-provider checks its signature).
    const logout = await fetch(`${t.issuer}/session/end?id_token_hint=${before.id_token}`);
    expect(logout.status).toBe(200);
    expect(await logout.text()).not.toMatch(/could not validate/);
    expect(verifiesAgainst(before.id_token!, await jwksOf(t))).toBe(true);

    // After the retirement window (60 s after the new key activated) the server drops the old key by itself.
    await until('the old key dropped', async () => !(await kidsOf(t)).includes(oldKid), 150_000);
    expect(await kidsOf(t)).toEqual([newKid]);
    expect(verifiesAgainst(before.id_token!, await jwksOf(t))).toBe(false);
    const listed = await cli(t, ['keys', 'list', '--json']);
    expect(listed.code).toBe(0);
    expect(listed.json.filter((k: { kind: string }) => k.kind === 'signing')).toEqual([
      expect.objectContaining({ id: newKid, status: 'current', alg: 'ES256', source: 'store', retired: null }),
    ]);
  });
});

describe('keys rotate --cookie, and COOKIE_SECRETS rotated in configuration', SLOW, () => {
  it('keeps a signed-in browser signed in, and a sign-in page rendered before the rotation usable', async () => {
    const t = await start();
    await t.built.services.accounts.register({ name: 'Ada', ...USER, email_verified: true });
    const rp = await httpRp(t);
    const browser = new HttpClient(t.issuer);
    await signIn(t, browser, rp, USER);
    // A second browser is on the password page when the key changes.
    const other = new HttpClient(t.issuer);
    const started = await authUrl(rp);
    const { res, url } = await other.follow(started.url.href);
    const loginPage = await res.text();

    const rotated = await cli(t, ['keys', 'rotate', '--cookie', '--json']);
    expect(rotated.code, rotated.stderr).toBe(0);
    expect(rotated.json).toMatchObject({ kind: 'cookie', dropped: [] });
    const cookieKeys = t.built.services.cookieKeys;
    const oldKey = cookieKeys[0];
    await until('the new cookie key signing', async () => keyId(cookieKeys[0]) === rotated.json.id);
    expect(cookieKeys).toContain(oldKey);

    // Still signed in: prompt=none gives a code, and the session cookie is signed again with the new key.
    const back = await silent(browser, rp);
    expect(back.searchParams.get('error')).toBeNull();
    expect(back.searchParams.get('code')).toBeTruthy();
    expect(sessionCookie(browser).sig).toBe(keygrip(cookieKeys[0], `_session=${sessionCookie(browser).value}`));
    expect((await browser.get('/account')).status).toBe(200);
    // The page rendered before the rotation posts fine (its CSRF token and interaction cookie were made with the old key).
    const post = await other.post(`${new URL(url).pathname}/login`, { _csrf: csrfOf(loginPage), ...USER });
    expect(post.status).toBe(302);
  });

  it('COOKIE_SECRETS: the new secret first and the old one after it keeps the browser signed in, then the old one can go', async () => {
    const dataDir = tempDir();
    const [k1, k2] = ['first-cookie-secret-0123456789abcdef', 'second-cookie-secret-0123456789abcde'];
    let t = await start({ dataDir, env: { COOKIE_SECRETS: k1 } });
    const port = Number(new URL(t.issuer).port); // restarts keep the issuer
    await t.built.services.accounts.register({ name: 'Ada', ...USER, email_verified: true });
    const rp = await httpRp(t);
    const browser = new HttpClient(t.issuer);
    await signIn(t, browser, rp, USER);
    expect(sessionCookie(browser).sig).toBe(keygrip(k1, `_session=${sessionCookie(browser).value}`));
    await stop(t);

    t = await start({ dataDir, port, env: { COOKIE_SECRETS: `${k2},${k1}` } });
    expect((await silent(browser, rp)).searchParams.get('code')).toBeTruthy();
    // Signed again with the new secret on the way.
    expect(sessionCookie(browser).sig).toBe(keygrip(k2, `_session=${sessionCookie(browser).value}`));
    await stop(t);

    // So the old one can be removed.
    t = await start({ dataDir, port, env: { COOKIE_SECRETS: k2 } });
    expect((await silent(browser, rp)).searchParams.get('code')).toBeTruthy();
  });
});

/** The jar's `_session` cookie and its signature. */
function sessionCookie(h: HttpClient): { value: string; sig: string } {
  const jar = (h as unknown as { cookies: Map<string, string> }).cookies;
  return { value: jar.get('_session')!, sig: jar.get('_session.sig')! };
}

/** keygrip's signature (koa signed cookies): HMAC-SHA1, base64url without padding. */
function keygrip(key: string, data: string): string {
  return crypto.createHmac('sha1', key).update(data).digest('base64url');
}

describe('data keys', SLOW, () => {
  const TOTP_SECRET = 'JBSWY3DPEHPK3PXP';

  /** A confidential client (its secret encrypted) and a user with an authenticator app and recovery codes. */
  async function seed(t: RunningTessera) {
    const s = t.built.services;
    const client = await new ClientService(s.store, s.box, s.provider).create({
      client_name: 'Service', grant_types: ['client_credentials'], response_types: [], redirect_uris: [], scope: 'openid',
    });
    const users = new UserAdmin(s.store, s.config, s.accounts, s.box, s.notices);
    const user = (await users.create({ ...USER, name: 'Ada', email_verified: true, mfa: ['totp'], totp_secret: TOTP_SECRET })) as { sub: string };
    const codes = await s.recovery.generate(user.sub);
    return { client: { id: client.client_id, secret: client.client_secret! }, sub: user.sub, codes };
  }

  async function clientWorks(t: RunningTessera, client: { id: string; secret: string }) {
    const r = await form(t, '/token', { grant_type: 'client_credentials' }, basic(client.id, client.secret));
    return r.status === 200 && typeof r.json.access_token === 'string';
  }

  /** The authenticator check at sign-in (it decrypts the stored secret), with a code of `offset` steps from now. */
  async function totpWorks(t: RunningTessera, sub: string, offsetSteps: number) {
    const s = t.built.services;
    const account = (await s.store.accounts.findById(sub))!;
    const r = await s.factors.get('totp').verify(account, totpCode(TOTP_SECRET, Date.now() + offsetSteps * 30_000), { ip: '127.0.0.1', context: 'keys-test' });
    return r.ok;
  }

  it('DATA_KEY + DATA_KEYS_PREVIOUS: secrets stay usable, `keys reencrypt` moves them, then the old key can go', async () => {
    const dataDir = tempDir();
    const [d1, d2] = ['first-data-key-0123456789abcdef0123', 'second-data-key-0123456789abcdef012'];
    let t = await start({ dataDir, env: { DATA_KEY: d1 } });
    const { client, sub, codes } = await seed(t);
    expect(await clientWorks(t, client)).toBe(true);
    await stop(t);

    // Rotated: the new key encrypts, the old one is still read. Everything made under it works.
    const rotatedEnv = { DATA_KEY: d2, DATA_KEYS_PREVIOUS: d1 };
    t = await start({ dataDir, env: rotatedEnv });
    expect(await clientWorks(t, client)).toBe(true);
    expect(await totpWorks(t, sub, -1)).toBe(true);
    expect(await t.built.services.recovery.use(sub, codes[0])).toBe(true);

    // Re-encryption, with the server running: the client and authenticator secrets move; the recovery
    // codes can't (keyed hashes), and the report says the old key is still needed for them.
    const first = await cli({ dataDir }, ['keys', 'reencrypt', '--json'], rotatedEnv);
    expect(first.code, first.stderr).toBe(0);
    expect(first.json).toMatchObject({
      dataKey: keyId(d2),
      clientSecrets: { reencrypted: 1, older: 0, unreadable: [] },
      totpSecrets: { reencrypted: 1, current: 0, older: 0, unreadable: [] },
      recoveryCodeSets: { current: 0, olderKey: 1, untracked: 0, keyGone: 0 },
      olderKeysNeeded: true,
    });
    expect(await clientWorks(t, client)).toBe(true);
    // The user makes new recovery codes (account page): now nothing needs the old key.
    const fresh = await t.built.services.recovery.generate(sub);
    const second = await cli({ dataDir }, ['keys', 'reencrypt', '--dry-run', '--json'], rotatedEnv);
    expect(second.json).toMatchObject({
      clientSecrets: { reencrypted: 0, current: 1, older: 0 },
      totpSecrets: { reencrypted: 0, current: 1, older: 0 },
      recoveryCodeSets: { current: 1, olderKey: 0 },
      olderKeysNeeded: false,
    });
    await stop(t);

    // The old key removed: nothing was lost.
    t = await start({ dataDir, env: { DATA_KEY: d2 } });
    expect(await clientWorks(t, client)).toBe(true);
    expect(await totpWorks(t, sub, 0)).toBe(true);
    expect(await t.built.services.recovery.use(sub, fresh[0])).toBe(true);
    for (const f of fs.readdirSync(dataDir).filter((n) => n.startsWith('tessera.db')))
      expect(fs.readFileSync(path.join(dataDir, f)).includes(Buffer.from(client.secret))).toBe(false);
  });

  it('store-kept: `keys rotate --data` against a running server, which takes the new key up; secrets keep working', async () => {
    const t = await start();
    const { client, sub, codes } = await seed(t);
    const before = t.built.services.box.currentKeyId;
    const rotated = await cli(t, ['keys', 'rotate', '--data', '--json']);
    expect(rotated.code, rotated.stderr).toBe(0);
    expect(rotated.stderr).toMatch(/Waiting \d+ s until every instance has the new data key/);
    expect(rotated.json).toMatchObject({
      kind: 'data', replaces: before, replacedDropAfter: null,
      reencrypt: { clientSecrets: { reencrypted: 1, older: 0 }, totpSecrets: { reencrypted: 1, older: 0 }, recoveryCodeSets: { olderKey: 1 } },
    });
    await until('the server encrypting with the new data key', async () => t.built.services.box.currentKeyId === rotated.json.id);
    expect(t.built.services.box.keyIds).toEqual([rotated.json.id, before]);
    expect(await clientWorks(t, client)).toBe(true);
    expect(await totpWorks(t, sub, 0)).toBe(true);
    expect(await t.built.services.recovery.use(sub, codes[1])).toBe(true);
    // `keys prune` keeps the old data key: recovery codes still need it.
    const pruned = await cli(t, ['keys', 'prune', '--json']);
    expect(pruned.code).toBe(0);
    expect(pruned.json.dropped).toEqual([]);
    expect(pruned.json.note).toMatch(/Older data keys are kept/);
  });
});

describe('keys CLI output', SLOW, () => {
  it('lists keys for people and for automation, never the key material, and explains keys given in configuration', async () => {
    const dataDir = tempDir();
    const human = await cli({ dataDir }, ['keys', 'list']);
    expect(human.code, human.stderr).toBe(0);
    const listed = await cli({ dataDir }, ['keys', 'list', '--json']);
    expect(listed.json.map((k: { kind: string; status: string }) => `${k.kind}:${k.status}`)).toEqual(['signing:current', 'cookie:current', 'data:current']);
    for (const k of listed.json) expect(human.stdout).toContain(k.id);
    // No key material: neither a secret nor a private (or public) key component.
    const db = new Database(path.join(dataDir, 'tessera.db'));
    const rows = db.prepare('SELECT value FROM keys').all() as { value: string }[];
    db.close();
    const secrets = rows.flatMap((r) => {
      const v = JSON.parse(r.value);
      const ring: { material: unknown }[] = v.entries ?? (Array.isArray(v) ? v.map((m: unknown) => ({ material: m })) : [{ material: v.keys?.[0] ?? v }]);
      return ring.flatMap((e) => (typeof e.material === 'string' ? [e.material] : [(e.material as { d: string }).d, (e.material as { x: string }).x]));
    });
    expect(secrets.length).toBeGreaterThanOrEqual(4);
    for (const out of [human.stdout, listed.stdout]) for (const secret of secrets) expect(out).not.toContain(secret);

    const configured = { COOKIE_SECRETS: 'a-configured-cookie-secret-0123456789', DATA_KEY: 'a-configured-data-key-0123456789abcd' };
    const cookie = await cli({ dataDir }, ['keys', 'rotate', '--cookie', '--json'], configured);
    expect(cookie.code).toBe(1);
    expect(JSON.parse(cookie.stderr).error).toMatch(/COOKIE_SECRETS.*FIRST/s);
    const data = await cli({ dataDir }, ['keys', 'rotate', '--data'], configured);
    expect(data.code).toBe(1);
    expect(data.stderr).toMatch(/DATA_KEYS_PREVIOUS/);
    const mixed = await cli({ dataDir }, ['keys', 'list', '--json'], configured);
    expect(mixed.json.filter((k: { source: string }) => k.source === 'config').map((k: { kind: string }) => k.kind)).toEqual(['cookie', 'data']);
  });
});
