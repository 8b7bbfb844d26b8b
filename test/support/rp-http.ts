// A relying party (openid-client) driving sign-ins through raw HTTP (HttpClient keeps one browser's
// cookies): for attacks that need no page rendering, and for running the same journey on both stores.
import * as oidc from 'openid-client';
import { expect } from 'vitest';
import type { RunningTessera } from './tessera.ts';
import { HttpClient, csrfOf } from './http.ts';
import { codeFrom } from './smtp-sink.ts';
import { ClientService } from '../../src/admin/clients.ts';

export const REDIRECT = 'http://127.0.0.1:9/callback';

export interface HttpRp {
  config: oidc.Configuration;
  clientId: string;
  clientSecret: string;
}

export async function httpRp(t: RunningTessera, extra: Record<string, unknown> = {}): Promise<HttpRp> {
  const s = t.built.services;
  const client = await new ClientService(s.store, s.box, s.provider).create({
    client_name: 'Raw RP', redirect_uris: [REDIRECT], grant_types: ['authorization_code', 'refresh_token'],
    scope: 'openid email phone offline_access', tessera_first_party: true, ...extra,
  });
  const config = await oidc.discovery(new URL(t.issuer), client.client_id, client.client_secret, undefined, { execute: [oidc.allowInsecureRequests] });
  return { config, clientId: client.client_id, clientSecret: client.client_secret! };
}

export interface Started {
  url: URL;
  verifier: string;
  state: string;
}

export async function authUrl(rp: HttpRp, params: Record<string, string> = {}): Promise<Started> {
  const verifier = oidc.randomPKCECodeVerifier();
  const state = oidc.randomState();
  const url = oidc.buildAuthorizationUrl(rp.config, {
    redirect_uri: REDIRECT, scope: 'openid email phone offline_access', state,
    code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', ...params,
  });
  return { url, verifier, state };
}

export async function finish(rp: HttpRp, callback: string, started: Started) {
  return oidc.authorizationCodeGrant(rp.config, new URL(callback), { pkceCodeVerifier: started.verifier, expectedState: started.state });
}

const text = async (res: Response) => (await res.text()).replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' ');

/**
 * A whole sign-in in one "browser": password, then the SMS code when the page asks for one (the code is
 * read from the Vonage stub; `smsTo` is where it goes). Returns the RP's tokens.
 */
export async function signIn(
  t: RunningTessera, http: HttpClient, rp: HttpRp,
  opts: { email: string; password: string; params?: Record<string, string>; smsTo?: string; smsCount?: number; onConsent?: () => void },
) {
  const started = await authUrl(rp, opts.params);
  let { res, url } = await http.follow(started.url.href);
  if (!url.startsWith(REDIRECT)) {
    let html = await res.text();
    const uidPath = new URL(url).pathname;
    if (html.includes('id="password"')) {
      const post = await http.post(`${uidPath}/login`, { _csrf: csrfOf(html), email: opts.email, password: opts.password });
      expect(post.status, `password step: ${await text(post)}`).toBe(302);
      ({ res, url } = await http.follow(post.headers.get('location')!));
      if (!url.startsWith(REDIRECT)) html = await res.text();
    }
    if (!url.startsWith(REDIRECT) && html.includes('Check your phone')) {
      if (!opts.smsTo) throw new Error('the sign-in asked for an SMS code, and the test gave no phone');
      const sms = await t.vonage.waitFor(opts.smsTo, opts.smsCount ?? 1);
      const post = await http.post(`${uidPath}/sms`, { _csrf: csrfOf(html), code: codeFrom(sms.text) });
      expect(post.status).toBe(302);
      ({ res, url } = await http.follow(post.headers.get('location')!));
      if (!url.startsWith(REDIRECT)) html = await res.text();
    }
    if (!url.startsWith(REDIRECT) && html.includes('Allow access?')) {
      opts.onConsent?.();
      const post = await http.post(`${new URL(url).pathname}/consent`, { _csrf: csrfOf(html) });
      expect(post.status).toBe(303);
      ({ res, url } = await http.follow(post.headers.get('location')!));
    }
    if (!url.startsWith(REDIRECT)) throw new Error(`sign-in ended at ${url}: ${(await text(res)).slice(0, 400)}`);
  }
  const back = new URL(url);
  if (back.searchParams.get('error')) throw new Error(`sign-in came back with ${back.searchParams.get('error')}: ${back.searchParams.get('error_description')}`);
  return finish(rp, url, started);
}

/** Where a prompt=none request for this browser ends: the RP's callback URL (with `code` or `error`). */
export async function silent(http: HttpClient, rp: HttpRp, params: Record<string, string> = {}): Promise<URL> {
  const started = await authUrl(rp, { prompt: 'none', ...params });
  const { url } = await http.follow(started.url.href);
  return new URL(url);
}

/** Answers the fresh-proof page(s) of /account (password, then the SMS code when the account has SMS sign-in). */
export async function proveFresh(t: RunningTessera, http: HttpClient, next: string, opts: { password: string; smsTo?: string; smsCount?: number }) {
  const page = await http.get(`/account/confirm?next=${encodeURIComponent(next)}`);
  expect(page.status).toBe(200);
  const post = await http.post('/account/confirm', { _csrf: csrfOf(await page.text()), next, password: opts.password });
  if (post.status === 302) return post;
  const html = await post.text();
  expect(html, 'the proof asked for neither nothing nor a code').toContain('We texted a 6-digit code');
  if (!opts.smsTo) throw new Error('the proof asked for an SMS code, and the test gave no phone');
  const sms = await t.vonage.waitFor(opts.smsTo, opts.smsCount ?? 1);
  const done = await http.post('/account/confirm/code', { _csrf: csrfOf(html), next, code: codeFrom(sms.text) });
  expect(done.status).toBe(302);
  return done;
}
