// Protocol-level checks of the MFA policy without a browser: with inline phone enrolment turned off,
// an SMS demand the account can't meet goes straight back to the RP as unmet_authentication_requirements;
// and the email confirmation link confirms only in the browser that signed up, by a click, once.
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

  it('confirms an email address from the link in the mail only in the browser that signed up, and only by a click', async () => {
    const http = new HttpClient(t.issuer);
    const { res, url } = await http.follow(authorize({}));
    const uidPath = new URL(url).pathname;
    const csrf = csrfOf(await res.text());
    const reg = await http.post(`${uidPath}/register`, { _csrf: csrf, name: 'Linda Link', email: 'link@example.com', password: 'a fine passphrase', password_confirm: 'a fine passphrase' });
    expect(reg.status).toBe(302);
    await http.follow(reg.headers.get('location')!);
    // Nothing exists before the code comes back: no unconfirmed account for anyone to take over.
    expect(await t.store.accounts.findByEmail('link@example.com')).toBeNull();
    const mail = await t.smtp.waitFor('link@example.com');
    const link = /(http:\/\/\S+\/email\/link\?\S+)/.exec(mail.text)![1];
    expect(new URL(link).pathname).toBe(`${uidPath}/email/link`);

    // A mail scanner or another browser: a page that says where to open it, and nothing confirmed.
    const elsewhere = await fetch(link, { headers: { accept: 'text/html' } });
    expect(elsewhere.status).toBe(400);
    expect(await elsewhere.text()).toContain('only works in the browser where you started');
    expect(await t.store.accounts.findByEmail('link@example.com')).toBeNull();

    // The same browser: GET shows a button and changes nothing; the click (POST) confirms.
    const page = await http.get(link);
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain('Confirm my email');
    expect(await t.store.accounts.findByEmail('link@example.com')).toBeNull();
    const code = /name="code" value="(\d+)"/.exec(html)![1];
    const confirm = await http.post(`${uidPath}/email`, { _csrf: csrfOf(html), code });
    expect(confirm.status).toBe(302);
    const account = await t.store.accounts.findByEmail('link@example.com');
    expect(account?.emailVerified).toBe(true);
    // Used once: the same code again is refused.
    const again = await http.post(`${uidPath}/email`, { _csrf: csrfOf(html), code });
    expect(again.status).not.toBe(302);
  });
});
