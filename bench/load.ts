// Single-request scenarios through autocannon (raw keep-alive sockets, prebuilt request buffers: cheap
// enough that one pinned core drives a server on the other core to saturation).
import autocannon from 'autocannon';
import { withCpu } from './servers.ts';
import type { Endpoints, Tokens } from './flows.ts';
import { CC_CLIENT, WEB_CLIENT, basic } from './fixtures.ts';
import { form } from './http.ts';

export interface Measure {
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  requests: number;
  cpuPct: number;
  seconds: number;
  firstError?: string;
}

export interface Scenario {
  url: string;
  method?: 'GET' | 'POST';
  headers?: Record<string, string>;
  body?: string;
  requests?: autocannon.Request[];
  /** Failures autocannon can't see (a 200 that says active: false, a broken refresh chain). */
  extraErrors?: () => number;
}

const FORM = 'application/x-www-form-urlencoded';

export async function cannon(pid: number, s: Scenario, o: { connections: number; seconds: number }): Promise<Measure> {
  const { value: r, cpuPct, seconds } = await withCpu(pid, () =>
    autocannon({
      url: s.url,
      method: s.method ?? 'GET',
      headers: s.headers,
      body: s.body,
      requests: s.requests,
      connections: o.connections,
      pipelining: 1,
      duration: o.seconds,
      timeout: 10,
    }),
  );
  const ok = r['2xx'];
  const statuses = Object.keys(r.statusCodeStats ?? {}).filter((c) => !c.startsWith('2'));
  return {
    rps: ok / r.duration,
    p50: r.latency.p50,
    p99: r.latency.p99,
    errors: r.errors + r.non2xx + (s.extraErrors?.() ?? 0),
    requests: ok,
    cpuPct,
    seconds,
    ...(statuses.length ? { firstError: `HTTP ${statuses.join(',')}` } : {}),
  };
}

export const discovery = (ep: Endpoints): Scenario => ({ url: `${ep.issuer}/.well-known/openid-configuration` });
export const jwks = (ep: Endpoints): Scenario => ({ url: ep.jwks });

export const clientCredentials = (ep: Endpoints): Scenario => ({
  url: ep.token,
  method: 'POST',
  headers: { authorization: basic(CC_CLIENT), 'content-type': FORM },
  body: form({ grant_type: 'client_credentials' }),
});

/**
 * Rotating refresh: every request must present the latest refresh token of its chain (reuse of a
 * rotated one is refused, and revokes the grant). autocannon resets a connection's context after each
 * request, so the chains live in a shared queue: a request takes a token, its response puts the
 * successor back. The queue is seeded with more chains than connections so one never waits.
 */
export function refreshChains(ep: Endpoints, seed: Tokens[]): Scenario {
  const queue = seed.map((t) => t.refresh_token!);
  return {
    url: ep.token,
    method: 'POST',
    headers: { authorization: basic(WEB_CLIENT), 'content-type': FORM },
    requests: [
      {
        method: 'POST',
        setupRequest: (req) => ({ ...req, body: form({ grant_type: 'refresh_token', refresh_token: queue.shift() ?? 'chains-exhausted' }) }),
        // A failed refresh ends its chain (counted by autocannon as non-2xx); the spare chains carry on.
        onResponse: (status, body) => {
          if (status === 200) queue.push((JSON.parse(body) as Tokens).refresh_token!);
        },
      },
    ],
  };
}

/** A resource server checking user access tokens (opaque, so a store lookup each), round-robin. */
export function introspection(ep: Endpoints, seed: Tokens[]): Scenario {
  const tokens = seed.map((t) => t.access_token);
  let i = 0;
  let inactive = 0;
  return {
    url: ep.introspection,
    method: 'POST',
    headers: { authorization: basic(WEB_CLIENT), 'content-type': FORM },
    requests: [
      {
        method: 'POST',
        setupRequest: (req) => ({ ...req, body: form({ token: tokens[i++ % tokens.length], token_type_hint: 'access_token' }) }),
        onResponse: (status, body) => {
          if (status === 200 && !(JSON.parse(body) as { active: boolean }).active) inactive++;
        },
      },
    ],
    extraErrors: () => inactive,
  };
}
