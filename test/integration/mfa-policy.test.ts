// Protocol-level checks of the MFA policy without a browser: with inline phone enrolment turned off,
// an SMS demand the account can't meet goes straight back to the RP as unmet_authentication_requirements;
// and the one-click email confirmation link works once.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { startTessera, type RunningTessera } from '../support/tessera.ts';
import { HttpClient, csrfOf } from '../support/http.ts';
import { ClientService } from '../../src/admin/clients.ts';

let t: RunningTessera;
let clientId: string;
const REDIRECT = 'http://127.0.0.1:9/callback';

beforeAll(async () => {
  t = await startTessera({ env: { MFA_INLINE_PHONE_ENROLMENT: 'false' } });
  const s = t.built.services;
  clientId = (await new ClientService(s.store, s.box, s.provider).create({ client_name: 'Policy App', redirect_uris: [REDIRECT], tessera_first_party: true })).client_id;
});
afterAll(() => t?.stop());

function authorize(extra: Record<string, string>) {
  return `/auth?${new URLSearchParams({
    client_id: clientId, response_type: 'code', scope: 'openid', redirect_uri: REDIRECT, state: 'xyz',
    code_challenge: 'E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM', code_challenge_method: 'S256', ...extra,
  })}`;
}

describe('MFA policy', () => {
  it('returns unmet_authentication_requirements at once when enrolment inside the sign-in is off', async () => {
    await t.built.services.accounts.register({ name: 'No Phone', email: 'nophone@example.com', password: 'a fine passphrase', email_verified: true });
    const http = new HttpClient(t.issuer);
    const { res, url } = await http.follow(authorize({ acr_values: 'urn:tessera:acr:mfa:sms' }));
    const uidPath = new URL(url).pathname;
    const post = await http.post(`${uidPath}/login`, { _csrf: csrfOf(await res.text()), email: 'nophone@example.com', password: 'a fine passphrase' });
    expect(post.status).toBe(302);
    const { url: end } = await http.follow(post.headers.get('location')!);
    const back = new URL(end);
    expect(`${back.origin}${back.pathname}`).toBe(REDIRECT);
    expect(back.searchParams.get('error')).toBe('unmet_authentication_requirements');
    expect(back.searchParams.get('state')).toBe('xyz');
    expect(t.vonage.messages).toHaveLength(0);
  });

  it('confirms an email address from the link in the mail, once', async () => {
    const http = new HttpClient(t.issuer);
    const { res, url } = await http.follow(authorize({}));
    const uidPath = new URL(url).pathname;
    const csrf = csrfOf(await res.text());
    const reg = await http.post(`${uidPath}/register`, { _csrf: csrf, name: 'Linda Link', email: 'link@example.com', password: 'a fine passphrase', password_confirm: 'a fine passphrase' });
    expect(reg.status).toBe(302);
    await http.follow(reg.headers.get('location')!);
    const mail = await t.smtp.waitFor('link@example.com');
    const link = /(http:\/\/\S+\/email\/confirm\?\S+)/.exec(mail.text)![1];
    const first = await fetch(link);
    expect(first.status).toBe(200);
    expect(await first.text()).toContain('Email confirmed');
    expect((await t.store.accounts.findByEmail('link@example.com'))!.emailVerified).toBe(true);
    const again = await fetch(link);
    expect(again.status).toBe(400);
  });
});
