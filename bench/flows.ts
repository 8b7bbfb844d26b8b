// The full authorization-code flow as a browser without JavaScript does it, for either server: follow
// redirects on the issuer's origin, answer whichever form the page shows (password, SMS or authenticator code, consent),
// stop at the redirect_uri, exchange the code. The same code drives Tessera and the reference, so the
// comparison differs only in what the servers do.
import crypto from 'node:crypto';
import { HttpClient, CookieJar, formActions, csrfOf, form, type Res } from './http.ts';
import type { SmsStub } from './sms-stub.ts';
import { WEB_CLIENT, REDIRECT_URI, PASSWORD, basic } from './fixtures.ts';
import { totpCode } from '../src/factors/totp/totp.ts';

export interface Endpoints {
  issuer: string;
  authorization: string;
  token: string;
  introspection: string;
  jwks: string;
  userinfo: string;
  /** Absent where revocation isn't enabled (the bare reference). */
  revocation?: string;
}

export async function discover(issuer: string): Promise<Endpoints> {
  const d = (await (await fetch(`${issuer}/.well-known/openid-configuration`)).json()) as Record<string, string>;
  return {
    issuer, authorization: d.authorization_endpoint, token: d.token_endpoint, introspection: d.introspection_endpoint, jwks: d.jwks_uri,
    userinfo: d.userinfo_endpoint, ...(d.revocation_endpoint ? { revocation: d.revocation_endpoint } : {}),
  };
}

export interface FlowUser {
  email: string;
  phone?: string;
  /** Base32 secret of the user's authenticator app: the flow answers the TOTP step with its current code. */
  totpSecret?: string;
}

export interface FlowOptions {
  user: FlowUser;
  /** offline_access needs prompt=consent (oidc-provider drops it otherwise): Tessera then shows its consent page. */
  offline?: boolean;
  /** Reference only: log in without verifying the password (protocol cost alone). */
  nohash?: boolean;
  sms?: SmsStub;
}

export interface Tokens {
  access_token: string;
  refresh_token?: string;
  id_token: string;
}

const WEB_AUTH = basic(WEB_CLIENT);

class FlowError extends Error {}

function fail(step: string, res: Res): never {
  throw new FlowError(`${step}: HTTP ${res.status} ${res.body.replace(/\s+/g, ' ').slice(0, 160)}`);
}

export async function codeFlow(http: HttpClient, ep: Endpoints, o: FlowOptions): Promise<Tokens> {
  return exchangeCode(http, ep, await authorizeCode(http, ep, o), o);
}

/** The browser part of the flow: sign-in pages up to the redirect back with a code. */
export async function authorizeCode(http: HttpClient, ep: Endpoints, o: FlowOptions): Promise<string> {
  const jar = new CookieJar();
  const send = async (method: string, url: string, body?: string) => {
    const headers: Record<string, string> = { accept: 'text/html', cookie: jar.header() };
    if (body !== undefined) headers['content-type'] = 'application/x-www-form-urlencoded';
    const res = await http.request(method, url, headers, body);
    jar.take(res);
    return res;
  };
  const q = new URLSearchParams({
    client_id: WEB_CLIENT.client_id,
    response_type: 'code',
    redirect_uri: REDIRECT_URI,
    scope: o.offline ? 'openid profile email offline_access' : 'openid profile email',
    state: crypto.randomBytes(8).toString('hex'),
    nonce: crypto.randomBytes(8).toString('hex'),
    ...(o.offline ? { prompt: 'consent' } : {}),
  });
  let url = `${ep.authorization}?${q}`;
  let res = await send('GET', url);
  let code: string | null = null;
  for (let step = 0; step < 20 && !code; step++) {
    if (res.status >= 300 && res.status < 400 && res.headers.location) {
      url = new URL(res.headers.location, url).href;
      if (url.startsWith(REDIRECT_URI)) {
        const back = new URL(url).searchParams;
        if (!back.get('code')) throw new FlowError(`authorization error: ${back.get('error')} ${back.get('error_description') ?? ''}`);
        code = back.get('code');
        break;
      }
      res = await send('GET', url);
      continue;
    }
    if (res.status !== 200) fail(`page ${new URL(url).pathname}`, res);
    const actions = formActions(res.body);
    const csrf = csrfOf(res.body);
    const pick = (suffix: string) => actions.find((a) => a.endsWith(suffix));
    let action: string | undefined;
    let fields: Record<string, string>;
    if ((action = pick('/login'))) fields = { email: o.user.email, password: PASSWORD, ...(o.nohash ? { nohash: '1' } : {}) };
    else if ((action = pick('/sms'))) {
      if (!o.sms || !o.user.phone) throw new FlowError('an SMS step for a user without a phone');
      fields = { code: await o.sms.take(o.user.phone) };
    } else if ((action = pick('/factor/totp'))) {
      if (!o.user.totpSecret) throw new FlowError('an authenticator step for a user without a TOTP secret');
      fields = { code: totpCode(o.user.totpSecret, Date.now()) };
    } else if ((action = pick('/consent'))) fields = {};
    else fail(`no known form on ${new URL(url).pathname}`, res);
    url = new URL(action, url).href;
    res = await send('POST', url, form({ ...fields, _csrf: csrf }));
  }
  if (!code) throw new FlowError(`no code after 20 steps (last: HTTP ${res.status} ${url})`);
  return code;
}

/** The relying party's part: the code exchanged at the token endpoint. */
export async function exchangeCode(http: HttpClient, ep: Endpoints, code: string, o: Pick<FlowOptions, 'offline'>): Promise<Tokens> {
  const tok = await http.request('POST', ep.token, { authorization: WEB_AUTH, 'content-type': 'application/x-www-form-urlencoded' }, form({ grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI }));
  if (tok.status !== 200) fail('token', tok);
  const tokens = JSON.parse(tok.body) as Tokens;
  if (!tokens.id_token || !tokens.access_token) throw new FlowError('token response without id_token/access_token');
  if (o.offline && !tokens.refresh_token) throw new FlowError('no refresh_token for an offline_access flow');
  return tokens;
}

/**
 * Users for concurrent flows: exclusive ones (an SMS code belongs to one flow) or shared round-robin.
 * `cooldownMs` (exclusive pools) rests a released user that long before it is handed out again: an
 * authenticator code is accepted once per user per 30 s step, so a second sign-in inside the step would
 * be refused as a replay. The rest starts at release, after the flow sent its code. Users come back in
 * release order with the same rest, so the head of the queue is always the first one ready.
 */
export class UserPool {
  private readonly ready: { user: FlowUser; at: number }[];
  private waiting: ((u: FlowUser) => void)[] = [];
  private timer: NodeJS.Timeout | undefined;
  private i = 0;
  /** Acquires that found nobody ready and waited (with a cooldown: the pool is too small for the rate). */
  waits = 0;
  constructor(private readonly users: FlowUser[], private readonly exclusive: boolean, private readonly cooldownMs = 0) {
    this.ready = users.map((user) => ({ user, at: 0 }));
  }
  async acquire(): Promise<FlowUser> {
    if (!this.exclusive) return this.users[this.i++ % this.users.length];
    if (!this.waiting.length && this.ready.length && this.ready[0].at <= Date.now()) return this.ready.shift()!.user;
    this.waits++;
    return new Promise((resolve) => {
      this.waiting.push(resolve);
      this.pump();
    });
  }
  release(u: FlowUser) {
    if (!this.exclusive) return;
    this.ready.push({ user: u, at: Date.now() + this.cooldownMs });
    this.pump();
  }
  /** Hands ready users to waiting flows; if the next user is still resting, comes back when it is ready. */
  private pump() {
    while (this.waiting.length && this.ready.length && this.ready[0].at <= Date.now()) this.waiting.shift()!(this.ready.shift()!.user);
    if (this.waiting.length && this.ready.length && !this.timer) {
      this.timer = setTimeout(() => {
        this.timer = undefined;
        this.pump();
      }, this.ready[0].at - Date.now());
    }
  }
}

export interface FlowRun {
  completed: number;
  errors: number;
  firstError?: string;
  seconds: number;
  /** Milliseconds per completed flow. */
  latencies: number[];
}

/**
 * Keeps `concurrency` flows in flight until the duration is up or `count` flows have started.
 * Latency is per complete flow (first request to token response).
 */
export async function runFlows(o: { concurrency: number; durationMs?: number; count?: number; flow: () => Promise<unknown> }): Promise<FlowRun> {
  const t0 = performance.now();
  const end = o.durationMs ? t0 + o.durationMs : Infinity;
  let started = 0;
  const out: FlowRun = { completed: 0, errors: 0, seconds: 0, latencies: [] };
  const worker = async () => {
    while (performance.now() < end && (o.count === undefined || started < o.count)) {
      started++;
      const s = performance.now();
      try {
        await o.flow();
        out.latencies.push(performance.now() - s);
        out.completed++;
      } catch (err) {
        out.errors++;
        out.firstError ??= (err as Error).message;
      }
    }
  };
  await Promise.all(Array.from({ length: o.concurrency }, worker));
  out.seconds = (performance.now() - t0) / 1000;
  return out;
}

/** Refresh and access tokens from complete offline_access flows (the pools the token scenarios use). */
export async function mintTokens(http: HttpClient, ep: Endpoints, users: UserPool, n: number): Promise<Tokens[]> {
  const tokens: Tokens[] = [];
  const run = await runFlows({
    concurrency: 4,
    count: n,
    flow: async () => {
      const user = await users.acquire();
      try {
        tokens.push(await codeFlow(http, ep, { user, offline: true }));
      } finally {
        users.release(user);
      }
    },
  });
  if (tokens.length < n) throw new Error(`minting tokens on ${ep.issuer}: ${run.errors} failed, first: ${run.firstError}`);
  return tokens;
}
