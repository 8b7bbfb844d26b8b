// /account self-service over raw HTTP with a real relying party (openid-client), on both stores:
// consent remembered per account and app (not per browser), connected apps and their revocation, signed-in
// devices (sign out one or every other), remembered browsers, and deleting the account (issue 13).
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import * as oidc from 'openid-client';
import { startTessera, type RunningTessera } from '../support/tessera.ts';
import { startMongoTestServer, type MongoTestServer } from '../support/mongo-test-server.ts';
import { openMongoStore } from '../../src/store/mongo/index.ts';
import { HttpClient, csrfOf } from '../support/http.ts';
import { httpRp, signIn, silent, proveFresh, type HttpRp } from '../support/rp-http.ts';

const PASSWORD = 'a self-service passphrase';
const textOf = (html: string) => html.replace(/<[^>]+>/g, ' ').replace(/&[a-z#0-9]+;/g, ' ').replace(/\s+/g, ' ');

describe.each(['sqlite', 'mongo'] as const)('account self-service on %s', (kind) => {
  let mongo: MongoTestServer | undefined;
  let t: RunningTessera;
  let app: HttpRp; // a third-party app: it gets the consent page
  let n = 0;

  beforeAll(async () => {
    if (kind === 'mongo') mongo = await startMongoTestServer();
    t = await startTessera(mongo ? { store: await openMongoStore({ uri: mongo.uri }) } : {});
    app = await httpRp(t, { client_name: 'Photo Album', tessera_first_party: false });
  });
  afterAll(async () => {
    await t?.stop();
    await mongo?.stop();
  });

  async function user() {
    n += 1;
    const email = `self${n}-${kind}@example.com`;
    const account = await t.built.services.accounts.register({ name: `Self ${n}`, email, password: PASSWORD, email_verified: true });
    return { email, id: account.id };
  }

  /** Signs in through the app; says whether the consent page was shown. */
  async function signInTo(http: HttpClient, email: string, params: Record<string, string> = {}) {
    let consent = false;
    const tokens = await signIn(t, http, app, { email, password: PASSWORD, params, onConsent: () => (consent = true) });
    return { tokens, consent };
  }

  it('asks for consent once per account and app: not again in a new browser, again after the app is removed', async () => {
    const u = await user();
    const a = new HttpClient(t.issuer);
    expect((await signInTo(a, u.email, { scope: 'openid email' })).consent).toBe(true);
    // A second browser, same scopes: no consent page.
    const b = new HttpClient(t.issuer);
    expect((await signInTo(b, u.email, { scope: 'openid email' })).consent).toBe(false);
    // Asking for more (phone) asks again, for the new scope only.
    const c = new HttpClient(t.issuer);
    expect((await signInTo(c, u.email, { scope: 'openid email phone' })).consent).toBe(true);
    expect((await t.store.consents.find(u.id, app.clientId))?.scopes.sort()).toEqual(['email', 'openid', 'phone']);

    // /account/apps lists it in plain words; removing it forgets the consent.
    const apps = await a.get('/account/apps');
    const html = await apps.text();
    expect(textOf(html)).toContain('Photo Album');
    expect(textOf(html)).toContain('Your email address');
    const removed = await a.post('/account/apps/revoke', { _csrf: csrfOf(html), client_id: app.clientId });
    expect(removed.headers.get('location')).toBe('/account/apps?revoked=1');
    expect(await t.store.consents.find(u.id, app.clientId)).toBeNull();
    const d = new HttpClient(t.issuer);
    expect((await signInTo(d, u.email, { scope: 'openid email' })).consent).toBe(true);
    await t.store.audit.list({ accountId: u.id, type: 'app.revoked' }).then((events) => expect(events).toHaveLength(1));
  });

  it('removing a connected app ends its refresh and access tokens, and its silent sign-in needs consent again', async () => {
    const u = await user();
    const a = new HttpClient(t.issuer);
    const { tokens } = await signInTo(a, u.email, { prompt: 'consent' });
    expect(tokens.refresh_token).toBeTruthy();
    await oidc.fetchUserInfo(app.config, tokens.access_token, u.id); // works before
    const html = await (await a.get('/account/apps')).text();
    await a.post('/account/apps/revoke', { _csrf: csrfOf(html), client_id: app.clientId });
    await expect(oidc.refreshTokenGrant(app.config, tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    await expect(oidc.fetchUserInfo(app.config, tokens.access_token, u.id)).rejects.toThrow();
    expect(await t.store.oidc.findByAccount('Grant', u.id)).toEqual([]);
    const back = await silent(a, app);
    expect(back.searchParams.get('error'), back.href).toBe('consent_required');
  });

  it('removing an app the account never used is a clear error, nothing changed', async () => {
    const u = await user();
    const a = new HttpClient(t.issuer);
    await signInTo(a, u.email);
    const html = await (await a.get('/account/apps')).text();
    const res = await a.post('/account/apps/revoke', { _csrf: csrfOf(html), client_id: 'no-such-app' });
    expect(res.status).toBe(400);
    expect(textOf(await res.text())).toContain('That app has no access to your account.');
    expect(await t.store.consents.find(u.id, app.clientId)).not.toBeNull();
  });

  it('lists the signed-in devices; signing one out ends its session (prompt=none → login_required) and its tokens', async () => {
    const u = await user();
    const uidsNow = async () => new Set(((await t.store.oidc.findByAccount('Session', u.id)) as { uid: string }[]).map((p) => p.uid));
    const a = new HttpClient(t.issuer);
    const b = new HttpClient(t.issuer);
    const c = new HttpClient(t.issuer);
    await signInTo(a, u.email);
    const before = await uidsNow();
    const { tokens: tokensB } = await signInTo(b, u.email, { prompt: 'consent' });
    const bUid = [...(await uidsNow())].find((uid) => !before.has(uid))!;
    await signInTo(c, u.email);
    const html = await (await a.get('/account/devices')).text();
    expect(textOf(html)).toContain('This device');
    expect(textOf(html)).toContain('IP 127.0.0.1');
    const listed = [...html.matchAll(/name="session" value="([^"]+)"/g)].map((m) => m[1]);
    expect(listed).toHaveLength(2); // the two other browsers, each with its own sign-out button
    expect(listed).toContain(bUid);

    const res = await a.post('/account/devices/sign-out', { _csrf: csrfOf(html), session: bUid });
    expect(res.headers.get('location')).toBe('/account/devices?done=device-out');
    expect((await silent(b, app)).searchParams.get('error')).toBe('login_required');
    await expect(oidc.refreshTokenGrant(app.config, tokensB.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    // The others are still signed in.
    expect((await silent(c, app)).searchParams.get('code')).toBeTruthy();
    expect((await a.get('/account')).status).toBe(200);
    expect(await t.store.audit.list({ accountId: u.id, type: 'session.revoked' })).toHaveLength(1);
    // Signing out this device from the list is refused with a pointer to “Sign out”.
    const self = [...(await uidsNow())].find((uid) => !listed.includes(uid))!;
    const refused = await a.post('/account/devices/sign-out', { _csrf: csrfOf(html), session: self });
    expect(refused.status).toBe(400);
  });

  it('“sign out every other device” keeps only this one; an unknown device is a clear error', async () => {
    const u = await user();
    const a = new HttpClient(t.issuer);
    const b = new HttpClient(t.issuer);
    await signInTo(a, u.email);
    await signInTo(b, u.email);
    const html = await (await a.get('/account/devices')).text();
    const bad = await a.post('/account/devices/sign-out', { _csrf: csrfOf(html), session: 'not-a-session' });
    expect(bad.status).toBe(400);
    expect(textOf(await bad.text())).toContain('That device is already signed out.');
    expect((await silent(b, app)).searchParams.get('code')).toBeTruthy();
    const res = await a.post('/account/devices/sign-out-others', { _csrf: csrfOf(html) });
    expect(res.headers.get('location')).toBe('/account/devices?done=others-out');
    expect((await silent(b, app)).searchParams.get('error')).toBe('login_required');
    expect((await silent(a, app)).searchParams.get('code')).toBeTruthy();
    expect(await t.store.oidc.findByAccount('Session', u.id)).toHaveLength(1);
  });

  it('lists the browsers that skip the second step, and “forget all” voids them', async () => {
    const u = await user();
    const a = new HttpClient(t.issuer);
    await signInTo(a, u.email);
    const now = Date.now();
    await t.store.browsers.seen({
      id: `remembered-${kind}-${n}`, accountId: u.id, kind: 'remembered', userAgent: 'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0',
      ip: '198.51.100.4', createdAt: new Date(now), lastSeenAt: new Date(now), expiresAt: new Date(now + 86_400_000),
    });
    const html = await (await a.get('/account/devices')).text();
    expect(textOf(html)).toContain('Firefox on Linux');
    expect(textOf(html)).toContain('IP 198.51.100.4');
    const res = await a.post('/account/devices/forget-remembered', { _csrf: csrfOf(html) });
    expect(res.headers.get('location')).toBe('/account/devices?done=remembered-forgotten');
    expect(await t.store.browsers.listForAccount(u.id, 'remembered')).toEqual([]);
    expect(textOf(await (await a.get('/account/devices?done=remembered-forgotten')).text())).toContain('No browser skips the second step any more.');
  });

  it('deleting the account needs the fresh proof and the address typed; then its sessions and tokens end, the audit stays', async () => {
    const u = await user();
    const a = new HttpClient(t.issuer);
    const b = new HttpClient(t.issuer);
    await signInTo(a, u.email);
    const { tokens } = await signInTo(b, u.email, { prompt: 'consent' });
    expect((await a.get('/account/delete')).headers.get('location')).toBe('/account/confirm?next=%2Faccount%2Fdelete');
    await proveFresh(t, a, '/account/delete', { password: PASSWORD });
    const form = await (await a.get('/account/delete')).text();
    const wrong = await a.post('/account/delete', { _csrf: csrfOf(form), confirm_email: 'someone@example.com' });
    expect(wrong.status).toBe(400);
    expect(textOf(await wrong.text())).toContain('Type your email address exactly as shown to confirm.');
    expect(await t.store.accounts.findById(u.id)).not.toBeNull();

    const done = await a.post('/account/delete', { _csrf: csrfOf(form), confirm_email: u.email.toUpperCase() });
    expect(done.status).toBe(200);
    expect(textOf(await done.text())).toContain('Your account was deleted');
    expect(await t.store.accounts.findById(u.id)).toBeNull();
    expect(await t.store.accounts.findByEmail(u.email)).toBeNull();
    expect((await silent(b, app)).searchParams.get('error')).toBe('login_required');
    await expect(oidc.refreshTokenGrant(app.config, tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
    expect(await t.store.consents.listForAccount(u.id)).toEqual([]);
    expect(await t.store.audit.list({ accountId: u.id, type: 'account.deleted' })).toHaveLength(1);
    await t.smtp.waitFor(u.email, (m) => m.subject === 'Your account was deleted');
    // The address can register again (a new account, new id).
    const again = await t.built.services.accounts.register({ name: 'New', email: u.email, password: PASSWORD, email_verified: true });
    expect(again.id).not.toBe(u.id);
  });
});
