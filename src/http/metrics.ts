// GET /metrics (Prometheus text) and the per-request HTTP metrics.
//
// Who may scrape: with METRICS_TOKEN set, whoever sends `Authorization: Bearer <METRICS_TOKEN>` (what
// Prometheus's `authorization` / `bearer_token_file` scrape settings send); without it, only this
// machine: a request whose TCP peer is a loopback address and that carries no forwarding header, so a
// reverse proxy on the same host passing a visitor's request through (it adds X-Forwarded-For) is
// refused. Anyone else gets 401 (token set) or 403, and no metrics.
//
// Requests are counted by route name (a fixed list below, never the raw path) and status, and timed by
// route. The route's instruments are made once; a request costs a map lookup, one histogram
// observation and one counter increment.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Context, Middleware } from 'koa';
import type { Metrics, RouteMetrics } from '../ops/metrics.ts';
import { METRICS_CONTENT_TYPE } from '../ops/metrics.ts';
import { canonicalIp } from './proxy.ts';

export const METRICS_PATH = '/metrics';

// oidc-provider's routes are its defaults (src/oidc/provider.ts sets none); Tessera's pages are named by
// their prefix below.
const EXACT = new Map<string, string>([
  ['/token', 'token'],
  ['/token/introspection', 'introspection'],
  ['/token/revocation', 'revocation'],
  ['/me', 'userinfo'],
  ['/jwks', 'jwks'],
  ['/.well-known/openid-configuration', 'discovery'],
  ['/auth', 'authorization'],
  ['/session/end', 'end_session'],
  ['/session/end/confirm', 'end_session'],
  ['/session/end/success', 'end_session'],
  ['/healthz', 'health'],
  ['/readyz', 'health'],
  [METRICS_PATH, 'metrics'],
  ['/', 'home'],
  ['/favicon.ico', 'static'],
  ['/account', 'account'],
  ['/unlock', 'unlock'],
  ['/email/confirm', 'email_confirm'],
  ['/dev/outbox', 'dev_outbox'],
]);
const ROUTE_NAMES = [...new Set([...EXACT.values(), 'authorization', 'interaction', 'account', 'static', 'other'])];

/** The route name of a path: one of a fixed set, so a scanner's random paths all count as `other`. */
export function routeOf(path: string): string {
  const exact = EXACT.get(path);
  if (exact) return exact;
  if (path.startsWith('/interaction/')) return 'interaction';
  if (path.startsWith('/auth/')) return 'authorization'; // resuming after the interaction
  if (path.startsWith('/account/')) return 'account';
  if (path.startsWith('/static/')) return 'static';
  return 'other';
}

export class HttpMetrics {
  private readonly routes = new Map<string, RouteMetrics>();

  constructor(metrics: Metrics) {
    for (const name of ROUTE_NAMES) this.routes.set(name, metrics.route(name));
  }

  /** Counts and times one answered request (`ctx.state.startedAt` is set by startRequest, src/http/ops.ts). */
  observe(ctx: Context): void {
    const started = (ctx.state as { startedAt?: number }).startedAt;
    const route = this.routes.get(routeOf(ctx.path))!;
    route.status(ctx.status).inc();
    if (started !== undefined) route.duration.observe((performance.now() - started) / 1000);
  }
}

const FORWARDING_HEADERS = new Set(['x-forwarded-for', 'x-forwarded-host', 'x-forwarded-proto', 'forwarded', 'x-real-ip', 'via']);

function isLoopback(address: string): boolean {
  const ip = canonicalIp(address);
  return ip === '::1' || /^127\.\d+\.\d+\.\d+$/.test(ip);
}

const digest = (v: string) => createHash('sha256').update(v).digest();

/** What a scrape request is judged on: the TCP peer, the raw headers as sent, and Authorization. */
export interface ScrapeRequest {
  peer: string;
  /** Node's rawHeaders (name, value, ...): applyForwarding (src/http/proxy.ts) deletes the forwarded
   *  headers of untrusted peers from `req.headers`, but a request that had them was passed on by a proxy. */
  rawHeaders: readonly string[];
  authorization: string | undefined;
}

export type ScrapeVerdict = 'ok' | 'unauthorized' | 'forbidden';

/** Who may scrape (see the top of this file). `token`: METRICS_TOKEN, or null. */
export function scrapeVerdict(req: ScrapeRequest, token: string | null): ScrapeVerdict {
  if (token) {
    const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(req.authorization ?? '');
    // Compared as digests: equal length, constant time, whatever was sent.
    return m && timingSafeEqual(digest(m[1]), digest(token)) ? 'ok' : 'unauthorized';
  }
  if (!isLoopback(req.peer)) return 'forbidden';
  for (let i = 0; i < req.rawHeaders.length; i += 2) if (FORWARDING_HEADERS.has(req.rawHeaders[i].toLowerCase())) return 'forbidden';
  return 'ok';
}

/** Answers GET/HEAD /metrics (the frame in front routes only that path here). */
export function metricsRoute(opts: { metrics: Metrics; token: string | null }): Middleware {
  return async (ctx) => {
    ctx.set('Cache-Control', 'no-store');
    if (ctx.method !== 'GET' && ctx.method !== 'HEAD') {
      ctx.set('Allow', 'GET, HEAD');
      ctx.status = 405;
      ctx.type = 'text/plain';
      ctx.body = 'method not allowed\n';
      return;
    }
    const verdict = scrapeVerdict({ peer: ctx.req.socket.remoteAddress ?? '', rawHeaders: ctx.req.rawHeaders, authorization: ctx.req.headers.authorization }, opts.token);
    if (verdict === 'unauthorized') {
      ctx.set('WWW-Authenticate', 'Bearer realm="metrics"');
      ctx.status = 401;
      ctx.type = 'text/plain';
      ctx.body = 'metrics need Authorization: Bearer <METRICS_TOKEN>\n';
      return;
    }
    if (verdict === 'forbidden') {
      ctx.status = 403;
      ctx.type = 'text/plain';
      ctx.body = 'metrics are served to this machine only; set METRICS_TOKEN to scrape from elsewhere\n';
      return;
    }
    ctx.status = 200;
    ctx.set('Content-Type', METRICS_CONTENT_TYPE);
    ctx.body = await opts.metrics.text();
  };
}
