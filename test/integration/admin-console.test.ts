// The admin console (/admin) over raw HTTP, on both stores: who gets in (signed out → the sign-in of the
// built-in tessera-admin client; a non-admin → 403; an admin without a second factor → told to set one up;
// a second factor older than an hour → a step-up), CSRF on every form, the client form (bad input next to
// its field and nothing saved; tessera_admin_api never taken from it; built-in clients read-only), user
// search and actions (each audited with the admin's id), and the security events page with its filters
// and "older" pages. The Chromium journeys are in test/e2e/admin-console.test.ts.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { startTessera, type RunningTessera } from '../support/tessera.ts';
import { startMongoTestServer, type MongoTestServer } from '../support/mongo-test-server.ts';
import { openMongoStore } from '../../src/store/mongo/index.ts';
import { HttpClient, csrfOf } from '../support/http.ts';
import { codeFrom } from '../support/smtp-sink.ts';
import { UserAdmin } from '../../src/admin/users.ts';
import { adminFactors } from '../../src/admin/users.ts';
import { SESSION_METHODS_MODEL } from '../../src/interaction/progress.ts';
import { ADMIN_CLIENT_ID } from '../../src/console/client.ts';

const PASSWORD = 'an admin console passphrase';
const textOf = (html: string) => html.replace(/<[^>]+>/g, ' ').replace(/&[a-z#0-9]+;/g, (m) => ({ '&amp;': '&', '&quot;': '"', '&#39;': "'", '&lt;': '<', '&gt;': '>' })[m] ?? ' ').replace(/\s+/g, ' ');

describe.each(['sqlite', 'mongo'] as const)('admin console on %s', (kind) => {
  let mongo: MongoTestServer | undefined;
  let t: RunningTessera;
  let users: UserAdmin;
  let n = 0;
  let phones = 0;

  beforeAll(async () => {
    if (kind === 'mongo') mongo = await startMongoTestServer();
    t = await startTessera(mongo ? { store: await openMongoStore({ uri: mongo.uri }) } : {});
    const s = t.built.services;
    users = new UserAdmin(s.store, s.config, s.accounts, s.box, s.notices);
  }, 60_000);
  afterAll(async () => {
    await t?.stop();
    await mongo?.stop();
  });

  /** An account; `admin` grants the role (as `user grant-admin` does), `sms` turns SMS sign-in on with a verified phone. */
  async function account(opts: { admin?: boolean; sms?: boolean; name?: string } = {}) {
    n += 1;
    const email = `console${n}-${kind}@example.com`;
    const phone = opts.sms ? `+1201555${String(150 + ++phones).padStart(4, '0')}` : undefined;
    const s = t.built.services;
    let a = await s.accounts.register({ name: opts.name ?? `Console ${n}`, email, password: PASSWORD, email_verified: true, phone_number: phone, phone_number_verified: phone ? true : undefined });
    if (opts.sms) a = (await t.store.accounts.update(a.id, adminFactors(a, { mfa: ['sms'] }, s.box)))!;
    if (opts.admin) await users.setAdmin(a.id, true);
    return { email, id: a.id, phone: phone ?? '' };
  }

  /**
   * Opens `path` signed out and walks the sign-in it is sent to: the password, then the SMS code when the
   * page asks for one. Returns the last response (the console page, or whatever refused).
   */
  async function signInVia(http: HttpClient, path: string, who: { email: string; phone: string }, smsCount = 1) {
    let { res, url } = await http.follow(path);
    expect(url).toContain('/interaction/');
    let html = await res.text();
    const uid = new URL(url).pathname;
    const post = await http.post(`${uid}/login`, { _csrf: csrfOf(html), email: who.email, password: PASSWORD });
    expect(post.status).toBe(302);
    ({ res, url } = await http.follow(post.headers.get('location')!));
    if (url.includes('/interaction/')) {
      html = await res.text();
      expect(html).toContain('Check your phone');
      const sms = await t.vonage.waitFor(who.phone, smsCount);
      const done = await http.post(`${uid}/sms`, { _csrf: csrfOf(html), code: codeFrom(sms.text) });
      expect(done.status).toBe(302);
      ({ res, url } = await http.follow(done.headers.get('location')!));
    }
    return { res, url };
  }

  async function adminBrowser() {
    const admin = await account({ admin: true, sms: true });
    const http = new HttpClient(t.issuer);
    const { res, url } = await signInVia(http, '/admin/clients', admin);
    expect(url).toBe(`${t.issuer}/admin/clients`);
    expect(res.status).toBe(200);
    return { admin, http };
  }

  async function form(http: HttpClient, page: string) {
    const res = await http.get(page);
    expect(res.status, page).toBe(200);
    return csrfOf(await res.text());
  }

  it('sends a signed-out browser through the tessera-admin sign-in and back to the page it asked for', async () => {
    const http = new HttpClient(t.issuer);
    const first = await http.get('/admin/users?q=x');
    expect(first.status).toBe(302);
    const auth = new URL(first.headers.get('location')!, t.issuer);
    expect(auth.pathname).toBe('/auth');
    expect(auth.searchParams.get('client_id')).toBe(ADMIN_CLIENT_ID);
    expect(auth.searchParams.get('redirect_uri')).toBe(`${t.issuer}/admin/callback`);
    expect(auth.searchParams.get('state')).toBe('/admin/users?q=x');
    const admin = await account({ admin: true, sms: true });
    const { res, url } = await signInVia(http, '/admin/users?q=x', admin);
    expect(url).toBe(`${t.issuer}/admin/users?q=x`);
    expect(textOf(await res.text())).toContain('Search by email, name or phone number');
    // The return address is a console page only.
    const away = await http.get('/admin/callback?state=https://evil.example/');
    expect(away.headers.get('location')).toBe('/admin');
    const sneaky = await http.get('/admin/callback?state=//evil.example/admin');
    expect(sneaky.headers.get('location')).toBe('/admin');
  });

  it('refuses a non-admin with 403, and tells an admin without a second factor to set one up on /account', async () => {
    const plain = await account();
    // A French browser: the sign-in is French, /admin's refusal English like the rest of /admin (no switcher).
    const http = new HttpClient(t.issuer, { 'accept-language': 'fr' });
    const { res, url } = await signInVia(http, '/admin', { ...plain, phone: '' });
    expect(url).toBe(`${t.issuer}/admin`);
    expect(res.status).toBe(403);
    const refused = await res.text();
    expect(textOf(refused)).toContain('The admin console is for administrators');
    expect(refused).toContain('<html lang="en">');
    expect(refused).not.toContain('lang-switch');
    expect((await http.post('/admin/users/x/unlock', { _csrf: await form(http, '/account') })).status).toBe(403);

    const bare = await account({ admin: true });
    const b = new HttpClient(t.issuer);
    const out = await signInVia(b, '/admin', { ...bare, phone: '' });
    expect(out.res.status).toBe(403);
    const html = textOf(await out.res.text());
    expect(html).toContain('Turn on two-step sign-in first');
    expect(html).toContain('Set one up on your account page');
  });

  it('steps up a session whose second factor is older than an hour: password and code again, then the page', async () => {
    const { admin, http } = await adminBrowser();
    // The session proved its SMS code two hours ago (as the per-method times say).
    const sessions = await t.store.oidc.findByAccount('Session', admin.id);
    expect(sessions).toHaveLength(1);
    const uid = String(sessions[0].uid);
    const rec = (await t.store.oidc.find(SESSION_METHODS_MODEL, uid))!;
    const twoHoursAgo = Math.floor(Date.now() / 1000) - 7200;
    await t.store.oidc.upsert(SESSION_METHODS_MODEL, uid, { ...rec, methods: { pwd: twoHoursAgo, sms: twoHoursAgo } }, new Date(Date.now() + 3600_000));
    const res = await http.get('/admin/events');
    expect(res.status).toBe(302);
    const auth = new URL(res.headers.get('location')!, t.issuer);
    expect(auth.searchParams.get('acr_values')).toBe('urn:tessera:acr:mfa');
    expect(auth.searchParams.get('prompt')).toBe('login');
    expect(auth.searchParams.get('login_hint')).toBe(admin.email);
    // A form sent meanwhile (with this session's token) changes nothing and says why.
    const post = await http.post(`/admin/users/${admin.id}/unlock`, { _csrf: await form(http, '/account') });
    expect(post.status).toBe(401);
    expect(textOf(await post.text())).toContain('asks for your second step again once an hour');
    expect(await t.store.audit.list({ type: 'admin.user_unlocked', accountId: admin.id })).toEqual([]);
    const { url } = await signInVia(http, '/admin/events', admin, 2);
    expect(url).toBe(`${t.issuer}/admin/events`);
  });

  it('speaks English whatever language the admin picked for the hosted pages', async () => {
    const { http } = await adminBrowser();
    const csrf = await form(http, '/account');
    const chose = await http.post('/account/locale', new URLSearchParams([['_csrf', csrf], ['lang', 'fr'], ['return_to', '/account']]));
    expect(chose.status).toBe(303);
    const account = await (await http.get('/account')).text();
    expect(account).toContain('<html lang="fr">');
    const console = await (await http.get('/admin/clients')).text();
    expect(console).toContain('<html lang="en">');
    expect(textOf(console)).toContain('Secured by');
    expect(console).not.toContain('Sécurisé par');
    expect(console).not.toContain('lang-switch');
    const missing = await http.get('/admin/clients/no-such-client');
    expect(missing.status).toBe(404);
    const missingHtml = await missing.text();
    expect(missingHtml).toContain('<html lang="en">');
    expect(missingHtml).not.toContain('lang-switch');
  });

  it('refuses a form without the CSRF token of this session', async () => {
    const { http } = await adminBrowser();
    const res = await http.post('/admin/clients', { client_name: 'No token', redirect_uris: 'https://app.example/cb' });
    expect(res.status).toBe(403);
    const other = new HttpClient(t.issuer);
    const foreign = csrfOf(await (await other.follow('/account')).res.text()); // another browser's token (its sign-in page)
    expect((await http.post('/admin/clients', { _csrf: foreign, client_name: 'Foreign token' })).status).toBe(403);
    expect((await t.store.clients.list()).map((c) => c.metadata.client_name)).not.toContain('No token');
  });

  it('client form: a bad redirect URI is shown next to its field and nothing is saved; tessera_admin_api is never taken from it', async () => {
    const { admin, http } = await adminBrowser();
    const before = (await t.store.clients.list()).length;
    const csrf = await form(http, '/admin/clients/new');
    const bad = await http.post('/admin/clients', new URLSearchParams([
      ['_csrf', csrf], ['client_name', 'Broken'], ['redirect_uris', 'https://app.example/cb#fragment'],
      ['grant_types', 'authorization_code'], ['token_endpoint_auth_method', 'client_secret_basic'],
    ]));
    expect(bad.status).toBe(400);
    const html = await bad.text();
    expect(html).toMatch(/<p class="error" id="redirect_uris-error" role="alert">[^<]*fragment/);
    expect(html).toContain('https://app.example/cb#fragment'); // the form as it was sent
    expect((await t.store.clients.list()).length).toBe(before);

    const ok = await http.post('/admin/clients', new URLSearchParams([
      ['_csrf', csrf], ['client_id', `svc-${kind}`], ['client_name', 'Service'], ['grant_types', 'client_credentials'],
      ['token_endpoint_auth_method', 'client_secret_basic'], ['tessera_admin_api', 'true'], ['tessera_introspect_any', 'true'],
    ]));
    expect(ok.status).toBe(200);
    const page = textOf(await ok.text());
    expect(page).toContain('Client created');
    const secret = /Client secret ([A-Za-z0-9_-]{20,})/.exec(page)![1];
    const rec = (await t.store.clients.find(`svc-${kind}`))!;
    expect(rec.metadata.tessera_admin_api).toBeUndefined();
    expect(rec.metadata.tessera_introspect_any).toBeUndefined();
    expect(t.built.services.box.decrypt(rec.secretEncrypted!)).toBe(secret);
    // Shown once: the client's page never shows it again.
    expect(await (await http.get(`/admin/clients/svc-${kind}`)).text()).not.toContain(secret);
    const audit = await t.store.audit.list({ type: 'admin.client_created', clientId: `svc-${kind}` });
    expect(audit).toHaveLength(1);
    expect(audit[0].accountId).toBe(admin.id);
    expect(audit[0].detail).toMatchObject({ via: 'console', admin: admin.id });
  });

  it('an edit applies at once: the sign-in page shows the new name, logo, privacy policy and terms', async () => {
    const { http } = await adminBrowser();
    const csrf = await form(http, '/admin/clients/new');
    const created = await http.post('/admin/clients', new URLSearchParams([
      ['_csrf', csrf], ['client_id', `shop-${kind}`], ['client_name', 'Shop'], ['redirect_uris', 'http://127.0.0.1:9/callback'],
      ['grant_types', 'authorization_code'], ['token_endpoint_auth_method', 'client_secret_basic'],
    ]));
    expect(created.status).toBe(200);
    const signInPage = async () => {
      const q = new URLSearchParams({ client_id: `shop-${kind}`, response_type: 'code', scope: 'openid', redirect_uri: 'http://127.0.0.1:9/callback', state: 'x' });
      const { res } = await new HttpClient(t.issuer).follow(`/auth?${q}`);
      return res.text();
    };
    expect(await signInPage()).not.toContain('privacy policy');
    const edit = await http.post(`/admin/clients/shop-${kind}`, new URLSearchParams([
      ['_csrf', csrf], ['client_name', 'Corner Shop'], ['redirect_uris', 'http://127.0.0.1:9/callback'], ['grant_types', 'authorization_code'],
      ['token_endpoint_auth_method', 'client_secret_basic'], ['logo_uri', 'https://shop.example/logo.png'],
      ['policy_uri', 'https://shop.example/privacy'], ['tos_uri', 'https://shop.example/terms'],
    ]));
    expect(edit.headers.get('location')).toBe(`/admin/clients/shop-${kind}?done=saved`);
    const end = Date.now() + 10_000; // client records are cached for a second
    let html = await signInPage();
    while (!html.includes('Corner Shop') && Date.now() < end) {
      await new Promise((r) => setTimeout(r, 200));
      html = await signInPage();
    }
    expect(textOf(html)).toContain('Signing in to Corner Shop');
    // The logo is fetched by Tessera and served from its own origin, never hot-linked (shop.example doesn't
    // resolve here, so no logo is shown at all: test/integration/branding.test.ts shows one that does).
    expect(html).not.toContain('https://shop.example/logo.png');
    expect(textOf(html)).toContain('Corner Shop privacy policy');
    expect(html).toContain('href="https://shop.example/privacy"');
    expect(html).toContain('href="https://shop.example/terms"');
    const changed = await t.store.audit.list({ type: 'admin.client_updated', clientId: `shop-${kind}` });
    expect(changed[0].detail.changed).toEqual(expect.arrayContaining(['client_name', 'logo_uri', 'policy_uri', 'tos_uri']));
    expect(changed[0].detail.changed).not.toContain('redirect_uris');
  });

  it('shows built-in clients read-only and refuses to change or delete them', async () => {
    const { http } = await adminBrowser();
    const page = await http.get(`/admin/clients/${ADMIN_CLIENT_ID}`);
    const html = await page.text();
    expect(textOf(html)).toContain('can’t be changed or deleted');
    expect(html).not.toContain(`/admin/clients/${ADMIN_CLIENT_ID}/edit`);
    const csrf = csrfOf(await (await http.get('/admin/clients/new')).text());
    for (const path of ['', '/delete', '/secret']) {
      const res = await http.post(`/admin/clients/tessera-account${path}`, { _csrf: csrf, client_name: 'Mine now' });
      expect(res.status, path).toBe(400);
    }
    expect((await t.store.clients.find('tessera-account'))!.metadata.client_name).toBe('Tessera account');
  });

  it('rotates a secret with a grace period: the old secret keeps working, one audit entry names the admin and the grace', async () => {
    const { admin, http } = await adminBrowser();
    const csrf = await form(http, '/admin/clients/new');
    const created = await http.post('/admin/clients', new URLSearchParams([
      ['_csrf', csrf], ['client_id', `batch-${kind}`], ['client_name', 'Batch'], ['grant_types', 'client_credentials'], ['token_endpoint_auth_method', 'client_secret_basic'],
    ]));
    expect(created.status).toBe(200);
    const old = /Client secret ([A-Za-z0-9_-]{20,})/.exec(textOf(await created.text()))![1];
    const token = (secret: string) => fetch(`${t.issuer}/token`, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from(`batch-${kind}:${secret}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: 'grant_type=client_credentials',
    }).then((r) => r.status);
    const confirm = await (await http.get(`/admin/clients/batch-${kind}/secret`)).text();
    expect(confirm).toContain('name="grace_seconds"');
    // A grace the form doesn't offer is refused, and nothing rotates.
    const odd = await http.post(`/admin/clients/batch-${kind}/secret`, { _csrf: csrfOf(confirm), grace_seconds: '99999999' });
    expect(odd.status).toBe(400);
    expect(textOf(await odd.text())).toContain('Choose how long the current secret keeps working');
    const rotated = await http.post(`/admin/clients/batch-${kind}/secret`, { _csrf: csrfOf(confirm), grace_seconds: '3600' });
    expect(rotated.status).toBe(200);
    const fresh = /Client secret ([A-Za-z0-9_-]{20,})/.exec(textOf(await rotated.text()))![1];
    expect(fresh).not.toBe(old);
    await new Promise((r) => setTimeout(r, 1100)); // the provider's one-second client cache
    expect(await token(fresh)).toBe(200);
    expect(await token(old)).toBe(200); // within the grace period
    const events = await t.store.audit.list({ type: 'admin.client_secret_rotated', clientId: `batch-${kind}` });
    expect(events).toHaveLength(1);
    expect(events[0].accountId).toBe(admin.id);
    expect(events[0].detail).toMatchObject({ via: 'console', admin: admin.id, grace_seconds: 3600 });
    expect(await t.store.audit.list({ type: 'admin.client_created', clientId: `batch-${kind}` })).toHaveLength(1);
  });

  it('finds users by email, name or phone, shows factors and sessions but no secret, and acts on them (audited)', async () => {
    const { admin, http } = await adminBrowser();
    const target = await account({ sms: true, name: 'Zebedee Quill' });
    // The target signs in somewhere: a session to see and to end.
    const theirs = new HttpClient(t.issuer);
    await signInVia(theirs, '/account', target);
    for (const q of ['zebedee', target.email.toUpperCase(), target.phone.slice(-7)]) {
      const res = await http.get(`/admin/users?q=${encodeURIComponent(q)}`);
      expect(textOf(await res.text()), q).toContain('Zebedee Quill');
    }
    const page = await http.get(`/admin/users/${target.id}`);
    const html = await page.text();
    const text = textOf(html);
    expect(text).toContain(t.built.services.factors.get('sms').name); // the factor, by name
    expect(text).toContain('Verified');
    expect(text).toMatch(/Chrome|Unknown browser|curl|node/i);
    const stored = (await t.store.accounts.findById(target.id))!;
    expect(html).not.toContain(stored.passwordHash);

    const csrf = csrfOf(html);
    expect((await http.post(`/admin/users/${target.id}/sign-out`, { _csrf: csrf })).status).toBe(302);
    expect(await t.store.oidc.findByAccount('Session', target.id)).toHaveLength(0);
    expect((await http.post(`/admin/users/${target.id}/disable`, { _csrf: csrf })).status).toBe(302);
    expect((await t.store.accounts.findById(target.id))!.disabled).toBe(true);
    expect((await http.post(`/admin/users/${target.id}/enable`, { _csrf: csrf })).status).toBe(302);
    expect((await http.post(`/admin/users/${target.id}/unlock`, { _csrf: csrf })).status).toBe(302);
    const mails = t.smtp.mails.length;
    expect((await http.post(`/admin/users/${target.id}/reset-mfa`, { _csrf: csrf })).status).toBe(302);
    expect((await t.store.accounts.findById(target.id))!.factors).toEqual([]);
    const told = await t.smtp.waitFor(target.email, (m) => t.smtp.mails.indexOf(m) >= mails);
    expect(told.subject).toContain('two-step sign-in was reset');

    // Forced password reset: the old password stops working; the user is told how to choose a new one.
    expect((await http.post(`/admin/users/${target.id}/reset-password`, { _csrf: csrf })).status).toBe(302);
    expect((await t.built.services.accounts.signIn(target.email, PASSWORD, '203.0.113.9')).ok).toBe(false);
    const reset = await t.smtp.waitFor(target.email, (m) => m.subject === 'Choose a new password');
    expect(reset.text).toContain('Forgot your password?');

    // Not on the admin's own account.
    expect((await http.post(`/admin/users/${admin.id}/disable`, { _csrf: csrf })).status).toBe(400);
    expect((await t.store.accounts.findById(admin.id))!.disabled).toBeFalsy();

    const types = (await t.store.audit.list({ accountId: target.id, limit: 50 })).filter((e) => e.type.startsWith('admin.')).map((e) => e.type);
    for (const type of ['admin.sessions_ended', 'admin.user_disabled', 'admin.user_enabled', 'admin.user_unlocked', 'admin.mfa_reset', 'admin.password_reset_forced', 'admin.user_viewed'])
      expect(types, type).toContain(type);
    for (const e of await t.store.audit.list({ accountId: target.id, limit: 50 })) {
      if (e.type.startsWith('admin.')) expect(e.detail, e.type).toMatchObject({ via: 'console', admin: admin.id });
    }

    expect((await http.post(`/admin/users/${target.id}/delete`, { _csrf: csrf })).headers.get('location')).toBe('/admin/users?done=deleted');
    expect(await t.store.accounts.findById(target.id)).toBeNull();
    expect((await http.get(`/admin/users/${target.id}`)).status).toBe(404);
  });

  it('lists security events newest first, filtered by type, account, client, IP and time, a page at a time', async () => {
    const { admin, http } = await adminBrowser();
    const base = Date.parse('2026-01-10T12:00:00Z');
    const who = await account();
    for (let i = 0; i < 60; i++)
      await t.store.audit.record({ type: 'test.paged', accountId: who.id, ip: `198.51.100.${i % 2}`, detail: { client: `paged-${kind}`, n: i }, at: new Date(base + i * 1000) });
    const rows = (html: string) => [...html.matchAll(/n: (\d+)/g)].map((m) => Number(m[1]));
    const first = await http.get('/admin/events?type=test.paged');
    const html = await first.text();
    expect(rows(html)).toEqual(Array.from({ length: 50 }, (_, i) => 59 - i));
    const older = /href="([^"]+)" rel="next"/.exec(html)![1].replace(/&amp;/g, '&');
    expect(rows(await (await http.get(older)).text())).toEqual(Array.from({ length: 10 }, (_, i) => 9 - i));
    expect(rows(await (await http.get(`/admin/events?type=test.paged&account=${encodeURIComponent(who.email)}&ip=198.51.100.1&since=2026-01-10T12:00:30`)).text()))
      .toEqual([59, 57, 55, 53, 51, 49, 47, 45, 43, 41, 39, 37, 35, 33, 31]);
    expect(rows(await (await http.get(`/admin/events?client=paged-${kind}&until=2026-01-10T12:00:02`)).text())).toEqual([2, 1, 0]);
    const bad = await http.get('/admin/events?since=yesterday');
    expect(bad.status).toBe(400);
    expect(await bad.text()).toMatch(/id="since-error"[^>]*>Use a date and time/);
    // The admin's own actions are there, with the admin's email.
    const own = textOf(await (await http.get(`/admin/events?account=${encodeURIComponent(admin.email)}`)).text());
    expect(own).toContain('login.succeeded');
  });
});
