// A real relying party: openid-client runs code + PKCE against Tessera and validates every ID token.
// The browser navigates; its arrival at the RP's redirect_uri is intercepted and handed to openid-client.
import * as oidc from 'openid-client';
import { beforeEach } from 'vitest';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Page } from 'playwright-core';
import type { ClientService } from '../../src/admin/clients.ts';

// Every RP server of this test file. Each test starts with an empty arrival queue: an arrival that a
// failed test never took would otherwise be handed to the next test, which then fails too and hides
// the first failure's cause. (Registered when a test file imports this module: a file-level hook.)
const servers = new Set<RpServer>();
beforeEach(() => {
  for (const s of servers) s.clear();
});

/** A real little RP web server on loopback: records where the browser lands (callback, post-logout). */
export class RpServer {
  private server!: http.Server;
  private arrivals: string[] = [];
  origin = '';
  get redirectUri() {
    return `${this.origin}/callback`;
  }
  get postLogoutUri() {
    return `${this.origin}/signed-out`;
  }
  async start(): Promise<this> {
    this.server = http.createServer((req, res) => {
      if (req.url === '/favicon.ico') return void res.writeHead(404).end();
      this.arrivals.push(`${this.origin}${req.url}`);
      res.writeHead(200, { 'content-type': 'text/html' }).end('<!doctype html><title>Example Shop</title><h1>Back at the app</h1>');
    });
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.origin = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    servers.add(this);
    return this;
  }
  /** Forgets arrivals nobody took (done before each test). */
  clear() {
    this.arrivals = [];
  }
  /** Waits for the browser's next arrival at the RP and returns the full URL. */
  async nextArrival(timeoutMs = 15_000, page?: Page): Promise<string> {
    const end = Date.now() + timeoutMs;
    while (!this.arrivals.length) {
      if (Date.now() > end) throw new Error(`the browser never came back to the RP${page ? `; it is at ${page.url()}` : ''}`);
      await new Promise((r) => setTimeout(r, 25));
    }
    return this.arrivals.shift()!;
  }
  async stop() {
    servers.delete(this);
    this.server.closeAllConnections();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

export async function registerClient(clients: ClientService, rpServer: RpServer, extra: Record<string, unknown> = {}) {
  return clients.create({
    client_name: 'Example Shop',
    redirect_uris: [rpServer.redirectUri],
    post_logout_redirect_uris: [rpServer.postLogoutUri],
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    scope: 'openid profile email phone offline_access',
    ...extra,
  });
}

export class RelyingParty {
  private constructor(readonly config: oidc.Configuration, readonly rp: RpServer) {}

  static async discover(issuer: string, rp: RpServer, clientId: string, clientSecret?: string): Promise<RelyingParty> {
    const config = await oidc.discovery(new URL(issuer), clientId, clientSecret, clientSecret ? oidc.ClientSecretBasic(clientSecret) : oidc.None(), {
      execute: [oidc.allowInsecureRequests],
    });
    return new RelyingParty(config, rp);
  }

  /** Builds an authorization URL with fresh PKCE, state and nonce. */
  async start(params: Record<string, string> = {}) {
    const verifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const nonce = oidc.randomNonce();
    const url = oidc.buildAuthorizationUrl(this.config, {
      redirect_uri: this.rp.redirectUri,
      scope: 'openid profile email phone offline_access',
      code_challenge: await oidc.calculatePKCECodeChallenge(verifier),
      code_challenge_method: 'S256',
      state,
      nonce,
      prompt: 'consent',
      ...params,
    });
    return { url, verifier, state, nonce };
  }

  async finish(callbackUrl: string, started: { verifier: string; state: string; nonce: string }) {
    return oidc.authorizationCodeGrant(this.config, new URL(callbackUrl), {
      pkceCodeVerifier: started.verifier,
      expectedState: started.state,
      expectedNonce: started.nonce,
      idTokenExpected: true,
    });
  }

  userinfo(accessToken: string, sub: string) {
    return oidc.fetchUserInfo(this.config, accessToken, sub);
  }

  refresh(refreshToken: string) {
    return oidc.refreshTokenGrant(this.config, refreshToken);
  }

  logoutUrl(idToken: string) {
    return oidc.buildEndSessionUrl(this.config, { id_token_hint: idToken, post_logout_redirect_uri: this.rp.postLogoutUri, state: 'bye' });
  }
}

export function decodeJwt(jwt: string): Record<string, unknown> {
  return JSON.parse(Buffer.from(jwt.split('.')[1], 'base64url').toString('utf8')) as Record<string, unknown>;
}
