// The whole app on the mongoose adapter (over the MongoDB wire protocol, see README): a relying party
// (openid-client) completes code + PKCE with password + SMS, userinfo and a rotating refresh, with every
// oidc-provider artifact, challenge, counter and account living in MongoDB.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import * as oidc from 'openid-client';
import { startTessera, type RunningTessera } from '../support/tessera.ts';
import { startMongoTestServer, type MongoTestServer } from '../support/mongo-test-server.ts';
import { openMongoStore } from '../../src/store/mongo/index.ts';
import { HttpClient, csrfOf } from '../support/http.ts';
import { codeFrom } from '../support/smtp-sink.ts';
import { ClientService } from '../../src/admin/clients.ts';

const REDIRECT = 'http://127.0.0.1:9/callback';
let mongo: MongoTestServer;
let t: RunningTessera;

beforeAll(async () => {
  mongo = await startMongoTestServer();
  t = await startTessera({ store: await openMongoStore({ uri: mongo.uri }) });
});
afterAll(async () => {
  await t?.stop();
  await mongo?.stop();
});

describe('Tessera on MongoDB', () => {
  it('signs in with password + SMS and serves tokens, userinfo and refresh', async () => {
    expect(t.store.kind).toBe('mongo');
    const s = t.built.services;
    const client = await new ClientService(s.store, s.box, s.provider).create({
      client_name: 'Mongo App', redirect_uris: [REDIRECT], grant_types: ['authorization_code', 'refresh_token'],
      scope: 'openid email phone offline_access', tessera_first_party: true,
    });
    const account = await s.accounts.register({
      name: 'Mo Ngo', email: 'mongo@example.com', password: 'a document-shaped passphrase', email_verified: true,
      phone_number: '+33 6 12 34 77 77', phone_number_verified: true,
    });
    const config = await oidc.discovery(new URL(t.issuer), client.client_id, client.client_secret, undefined, { execute: [oidc.allowInsecureRequests] });
    const verifier = oidc.randomPKCECodeVerifier();
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: REDIRECT, scope: 'openid email phone offline_access', state: 'm1', prompt: 'consent',
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256', acr_values: 'urn:tessera:acr:mfa:sms',
    });
    const http = new HttpClient(t.issuer);
    const login = await http.follow(url.href);
    const uidPath = new URL(login.url).pathname;
    const afterPassword = await http.post(`${uidPath}/login`, { _csrf: csrfOf(await login.res.text()), email: 'mongo@example.com', password: 'a document-shaped passphrase' });
    expect(afterPassword.status).toBe(302);
    const smsPage = await http.follow(afterPassword.headers.get('location')!);
    const smsHtml = await smsPage.res.text();
    expect(smsHtml).toContain('Check your phone');
    const code = codeFrom((await t.vonage.waitFor('+33612347777')).text);
    const afterSms = await http.post(`${uidPath}/sms`, { _csrf: csrfOf(smsHtml), code });
    expect(afterSms.status).toBe(302);
    const consent = await http.follow(afterSms.headers.get('location')!);
    const consentHtml = await consent.res.text();
    expect(consentHtml).toContain('Allow access?'); // prompt=consent asks even a first-party client's user
    const allowed = await http.post(`${new URL(consent.url).pathname}/consent`, { _csrf: csrfOf(consentHtml) });
    if (allowed.status !== 303) throw new Error(`consent answered ${allowed.status}: ${(await allowed.text()).replace(/<[^>]+>/g, ' ').replace(/\s+/g, ' ').slice(0, 400)}`);
    const { url: callback, res: last } = await http.follow(allowed.headers.get('location')!);
    if (!callback.startsWith(REDIRECT)) throw new Error(`ended at ${callback}: ${(await last.text()).replace(/<[^>]+>/g, " ").replace(/\s+/g, " ").slice(0, 600)}`);
    expect(callback.slice(0, 200)).toContain(REDIRECT);

    const tokens = await oidc.authorizationCodeGrant(config, new URL(callback), { pkceCodeVerifier: verifier, expectedState: 'm1' });
    expect(tokens.claims()).toMatchObject({ sub: account.id, acr: 'urn:tessera:acr:mfa:sms', amr: ['pwd', 'sms', 'mfa'] });
    expect(await oidc.fetchUserInfo(config, tokens.access_token, account.id)).toMatchObject({ phone_number: '+33612347777', phone_number_verified: true });
    const refreshed = await oidc.refreshTokenGrant(config, tokens.refresh_token!);
    expect(refreshed.refresh_token).not.toBe(tokens.refresh_token);
    // Within REFRESH_TOKEN_REUSE_SECONDS the old token gets the same, still unused successor (a lost reply's retry)...
    expect((await oidc.refreshTokenGrant(config, tokens.refresh_token!)).refresh_token).toBe(refreshed.refresh_token);
    // ...but once the successor was used, presenting the old one is theft: refused (and the grant revoked).
    await oidc.refreshTokenGrant(config, refreshed.refresh_token!);
    await expect(oidc.refreshTokenGrant(config, tokens.refresh_token!)).rejects.toMatchObject({ error: 'invalid_grant' });
  });
});
