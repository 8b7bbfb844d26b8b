// The admin console's pure parts: who gets in (and how a stale second factor is asked for again), where a
// sign-in may lead back to, the client form both ways, and the security events' paging and outcome.
import { describe, it, expect } from 'vitest';
import { decideAccess, lastSecondFactorAt, safeReturnPath, FACTOR_FRESH_SECONDS } from '../../src/console/access.ts';
import { readClientForm, metadataFromForm, formFromMetadata, fieldOfError, EMPTY_FORM } from '../../src/console/client-form.ts';
import { outcomeOf, pageOf, parseUtc } from '../../src/console/events.ts';
import type { FactorRecord } from '../../src/store/ports.ts';

const NOW = 1_800_000_000;
const sms: FactorRecord = { id: 'f1', type: 'sms', createdAt: new Date(), lastUsedAt: null, data: {} };
const admin = { roles: ['admin'], factors: [sms] };

describe('console access', () => {
  it('lets in an admin whose session proved a second factor within the hour', () => {
    expect(decideAccess(admin, { amr: ['pwd', 'sms', 'mfa'], methods: { pwd: NOW - 100, sms: NOW - 90 } }, NOW)).toEqual({ kind: 'ok' });
    expect(decideAccess(admin, { amr: ['pwd', 'sms'], methods: { pwd: NOW - 4000, sms: NOW - FACTOR_FRESH_SECONDS } }, NOW)).toEqual({ kind: 'ok' });
  });

  it('refuses a non-admin, whatever the session proved', () => {
    expect(decideAccess({ roles: [], factors: [sms] }, { amr: ['pwd', 'sms'], methods: { sms: NOW } }, NOW)).toEqual({ kind: 'forbidden' });
    expect(decideAccess({ factors: [sms] }, { amr: ['pwd', 'sms'], methods: { sms: NOW } }, NOW)).toEqual({ kind: 'forbidden' });
  });

  it('sends an admin without any second factor to set one up (a recovery code alone is none)', () => {
    const recovery: FactorRecord = { id: 'r', type: 'recovery', createdAt: new Date(), lastUsedAt: null, data: { codes: ['h'] } };
    expect(decideAccess({ roles: ['admin'], factors: [recovery] }, { amr: ['pwd'], methods: { pwd: NOW } }, NOW)).toEqual({ kind: 'no-factor' });
  });

  it('asks for the factor alone when the session never proved one, and for a new sign-in when it did too long ago', () => {
    expect(decideAccess(admin, { amr: ['pwd'], methods: { pwd: NOW - 10 } }, NOW)).toEqual({ kind: 'step-up', how: 'factor' });
    expect(decideAccess(admin, { amr: ['pwd', 'sms', 'mfa'], methods: { pwd: NOW - 7200, sms: NOW - FACTOR_FRESH_SECONDS - 1 } }, NOW)).toEqual({ kind: 'step-up', how: 'again' });
    // A session from before per-method times were kept: its factor's time is unknown.
    expect(decideAccess(admin, { amr: ['pwd', 'sms', 'mfa'], methods: { pwd: NOW - 10 } }, NOW)).toEqual({ kind: 'step-up', how: 'again' });
  });

  it('counts only factors the session says it proved', () => {
    expect(lastSecondFactorAt({ amr: ['pwd'], methods: { pwd: NOW, otp: NOW } })).toBe(0);
    expect(lastSecondFactorAt({ amr: ['pwd', 'otp', 'sms'], methods: { otp: NOW - 5, sms: NOW - 50 } })).toBe(NOW - 5);
  });

  it('leads a sign-in back to console pages only', () => {
    expect(safeReturnPath('/admin/users?q=ada%40example.com')).toBe('/admin/users?q=ada%40example.com');
    expect(safeReturnPath('/admin/clients/abc.def-1/edit')).toBe('/admin/clients/abc.def-1/edit');
    expect(safeReturnPath('/admin/events?account=ada@example.com&since=2026-12-02T14:30')).toBe('/admin/events?account=ada@example.com&since=2026-12-02T14:30');
    for (const bad of ['https://evil.example/admin', '//evil.example/admin', '/admin//evil.example', '/administrator', '/account', '/admin/callback?state=x',
      '/admin/api/clients', '/admin/users?q=<script>', '/admin\\evil', undefined, 42, `/admin/${'a'.repeat(600)}`])
      expect(safeReturnPath(bad), String(bad)).toBe('/admin');
  });
});

describe('client form', () => {
  const posted = (extra: Record<string, unknown>) => readClientForm({
    client_name: ' Shop ', redirect_uris: 'https://shop.example/cb\r\n\r\n  https://shop.example/cb2 ', post_logout_redirect_uris: '',
    grant_types: ['authorization_code', 'refresh_token'], token_endpoint_auth_method: 'client_secret_basic', scope: 'openid email',
    tessera_min_acr: 'urn:tessera:acr:mfa:sms', default_acr_values: '', logo_uri: '', policy_uri: 'https://shop.example/privacy', tos_uri: '', ...extra,
  });

  it('turns the fields into client metadata: URIs one per line, the response type from the grants, the minimum ACR', () => {
    const { form, errors } = posted({ tessera_first_party: 'on' });
    expect(errors).toEqual({});
    expect(metadataFromForm(form, 'create')).toEqual({
      client_name: 'Shop', redirect_uris: ['https://shop.example/cb', 'https://shop.example/cb2'], grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'], token_endpoint_auth_method: 'client_secret_basic', scope: 'openid email', tessera_first_party: true,
      tessera_min_acr: 'urn:tessera:acr:mfa:sms', policy_uri: 'https://shop.example/privacy',
    });
    // An update names every field of the form: emptied ones are removed (null).
    expect(metadataFromForm(form, 'update')).toMatchObject({ post_logout_redirect_uris: null, logo_uri: null, default_acr_values: null, tessera_first_party: true });
  });

  it('reads nothing but its own fields: tessera_admin_api and other metadata sent along are ignored', () => {
    const { form } = posted({ tessera_admin_api: 'true', tessera_introspect_any: 'true', client_secret: 'mine', jwks_uri: 'https://x' });
    const m = metadataFromForm(form, 'create');
    for (const k of ['tessera_admin_api', 'tessera_introspect_any', 'client_secret', 'jwks_uri']) expect(m).not.toHaveProperty(k);
    expect(metadataFromForm(form, 'update')).not.toHaveProperty('tessera_admin_api');
  });

  it('a service without users: no response type, no redirect URIs', () => {
    const { form } = readClientForm({ grant_types: 'client_credentials', token_endpoint_auth_method: 'client_secret_post' });
    expect(metadataFromForm(form, 'create')).toEqual({ redirect_uris: [], grant_types: ['client_credentials'], response_types: [], token_endpoint_auth_method: 'client_secret_post', tessera_first_party: false });
  });

  it('refuses oversize and malformed inputs instead of cutting them short', () => {
    const { errors } = readClientForm({ client_name: 'x'.repeat(2001), redirect_uris: ['a', 'b'], grant_types: [{}] });
    expect(Object.keys(errors).sort()).toEqual(['client_name', 'grant_types', 'redirect_uris']);
  });

  it('shows a stored client in the form and back to the same metadata', () => {
    const meta = { client_id: 'shop', client_name: 'Shop', redirect_uris: ['https://a.example/cb', 'https://b.example/cb'], grant_types: ['authorization_code'],
      token_endpoint_auth_method: 'none', tessera_first_party: true, default_acr_values: ['urn:tessera:acr:mfa'], logo_uri: 'https://a.example/logo.png' };
    const form = formFromMetadata(meta);
    expect(form).toMatchObject({ redirect_uris: 'https://a.example/cb\nhttps://b.example/cb', default_acr_values: 'urn:tessera:acr:mfa', tessera_first_party: true, token_endpoint_auth_method: 'none' });
    expect(metadataFromForm(form, 'create')).toMatchObject({ ...meta, response_types: ['code'] });
    expect(formFromMetadata({})).toEqual({ ...EMPTY_FORM });
  });

  it('puts an error next to the field it names (its field, else the start of its message), else at the top', () => {
    expect(fieldOfError({ message: 'whatever', field: 'redirect_uris' })).toBe('redirect_uris');
    expect(fieldOfError({ message: 'whatever', field: 'redirect_uris[1]' })).toBe('redirect_uris');
    expect(fieldOfError({ message: 'whatever', field: 'response_types' })).toBe('grant_types');
    expect(fieldOfError({ message: 'whatever', field: 'jwks' })).toBe('form');
    expect(fieldOfError({ message: 'redirect_uris must not contain fragments' })).toBe('redirect_uris');
    expect(fieldOfError({ message: 'tessera_min_acr must be one of a, b' })).toBe('tessera_min_acr');
    expect(fieldOfError({ message: 'a client with client_id "x" already exists' })).toBe('form');
  });
});

describe('security events', () => {
  const at = (ms: number, n: number) => ({ at: new Date(ms), type: 't', accountId: null, ip: null, detail: { n } });

  it('ends a page between two milliseconds, so "older" neither repeats nor skips an event', () => {
    const rows = [at(9, 0), at(8, 1), at(7, 2), at(7, 3), at(6, 4)];
    expect(pageOf(rows.slice(0, 3), 3)).toEqual({ events: rows.slice(0, 3), older: null });
    // Page of 3 over 4 rows: the 3rd and 4th share a millisecond, so the page stops before both.
    expect(pageOf(rows.slice(0, 4), 3)).toEqual({ events: rows.slice(0, 2), older: new Date(7) });
    expect(pageOf(rows, 2)).toEqual({ events: rows.slice(0, 2), older: new Date(7) });
    // A whole page of one millisecond: shown, and the next page starts just before it.
    const same = [at(5, 0), at(5, 1), at(5, 2)];
    expect(pageOf(same, 2)).toEqual({ events: same.slice(0, 2), older: new Date(4) });
  });

  it('reads filter times as UTC', () => {
    expect(parseUtc('2026-12-02T14:30')).toEqual(new Date('2026-12-02T14:30:00Z'));
    expect(parseUtc('2026-12-02')).toEqual(new Date('2026-12-02T00:00:00Z'));
    expect(parseUtc('2026-12-02T14:30:05.123Z')).toEqual(new Date('2026-12-02T14:30:05.123Z'));
    for (const bad of ['yesterday', '2026-13-40T00:00', '2026-12-02T14:30+02:00', '']) expect(parseUtc(bad), bad).toBeNull();
  });

  it('names failures and refusals as such', () => {
    for (const t of ['login.failed', 'sms.refused', 'login.unmet', 'code.wrong', 'code.resend_refused', 'login.unlock_mail_failed', 'reauth.failed'])
      expect(outcomeOf(t), t).toBe('failure');
    for (const t of ['login.succeeded', 'admin.user_disabled', 'admin.user_unlocked', 'sms.sent', 'password.reset']) expect(outcomeOf(t), t).toBe('success');
  });
});
