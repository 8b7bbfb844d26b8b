// Operations: the health endpoints and request ids.
//
// GET /healthz says the process answers (no store access). GET /readyz says this instance can serve:
// the store is reachable and takes writes (Store.ready()) and the signing keys are loaded; otherwise
// 503 with Retry-After. Both are JSON and never cached. A change of readiness is logged (an error when
// it is lost), and a background check every READY_WATCH_MS logs it even when nothing probes /readyz; a
// request that fails because the store is unavailable triggers a check at once. A corrupt database file
// (SQLITE_CORRUPT seen by any request) keeps the instance not ready until it is restarted.
//
// Request ids: a sane X-Request-Id is taken from a trusted proxy (so one id follows a request through
// the proxy's logs and ours), anything else gets a fresh one. The id goes out as a response header, onto
// error pages ("Reference: ..."), into the request's logger (ctx.state.log, made only when first used,
// so the token path doesn't pay for it) and into the one access log line per request.
import { randomUUID } from 'node:crypto';
import type { Context, Middleware } from 'koa';
import type { Logger } from '../log.ts';
import type { Store } from '../store/ports.ts';
import { isStoreCorrupt, isStoreUnavailable, describeStoreError } from '../store/unavailable.ts';

export const HEALTH_PATHS = new Set(['/healthz', '/readyz']);
export const READY_RETRY_AFTER_SECONDS = 5;
export const READY_WATCH_MS = 5_000;
/** Checks triggered by failing requests: at most one per this many ms. */
const TRIGGERED_CHECK_MS = 1_000;

const KEYS_NOT_LOADED = 'signing keys not loaded';
const SANE_REQUEST_ID = /^[A-Za-z0-9._:+/=-]{1,128}$/;

/** The request's id: the trusted proxy's X-Request-Id when it sent a sane one, else a new one. */
export function requestIdFor(ctx: Context, fromTrustedProxy: boolean): string {
  if (fromTrustedProxy) {
    const incoming = ctx.req.headers['x-request-id'];
    if (typeof incoming === 'string' && SANE_REQUEST_ID.test(incoming)) return incoming;
  }
  return randomUUID();
}

/**
 * Gives the request its id (header, ctx.state.requestId) and its logger (ctx.state.log, a pino child
 * carrying `reqId`, created on first use).
 */
export function startRequest(ctx: Context, fromTrustedProxy: boolean): string {
  const id = requestIdFor(ctx, fromTrustedProxy);
  ctx.res.setHeader('X-Request-Id', id);
  const state = ctx.state as { requestId?: string; startedAt?: number };
  state.requestId = id;
  state.startedAt = performance.now();
  return id;
}

/** A logger carrying the request's id (made when something is logged, not on every request), or `fallback`. */
export function requestLog(ctx: Context, fallback: Logger): Logger {
  const id = (ctx.state as { requestId?: string } | undefined)?.requestId;
  return id ? fallback.child({ reqId: id }) : fallback;
}

/** One line per request: method, path (never the query: it can carry codes and tokens), status, time. */
export function accessLog(log: Logger, ctx: Context, id = (ctx.state as { requestId?: string }).requestId): void {
  if (!log.isLevelEnabled('info')) return;
  const started = (ctx.state as { startedAt?: number }).startedAt ?? performance.now();
  log.info({ event: 'http.request', reqId: id, method: ctx.method, path: ctx.path, status: ctx.status, ms: Math.round((performance.now() - started) * 10) / 10 }, 'request');
}

export interface ReadinessOptions {
  store: Store;
  /** Whether the provider's signing keys are loaded. */
  keysLoaded: () => boolean;
  log: Logger;
}

/** Readiness, with its changes logged once each (not on every probe). */
export class Readiness {
  private last: { ok: boolean; reason?: string } = { ok: true };
  private watch: NodeJS.Timeout | null = null;
  private corrupt: string | null = null;
  private lastTriggered = 0;

  constructor(private readonly opts: ReadinessOptions) {}

  /**
   * A request failed with `err`. A store error says something may be wrong with the store now: check
   * at once (at most once a second) so the loss is logged when it happens, not at the next probe. A
   * corrupt database file doesn't heal: not ready from now on.
   */
  storeError(err: unknown): void {
    if (!isStoreUnavailable(err)) return;
    if (isStoreCorrupt(err) && this.corrupt === null) {
      this.corrupt = `database file is corrupt (${describeStoreError(err)}): restore it from a backup and restart`;
      void this.check();
      return;
    }
    const now = Date.now();
    if (now - this.lastTriggered < TRIGGERED_CHECK_MS) return;
    this.lastTriggered = now;
    void this.check();
  }

  async check(): Promise<{ ok: true } | { ok: false; reason: string }> {
    let result: { ok: true } | { ok: false; reason: string };
    if (!this.opts.keysLoaded()) result = { ok: false, reason: KEYS_NOT_LOADED };
    else if (this.corrupt) result = { ok: false, reason: this.corrupt };
    else {
      try {
        result = await this.opts.store.ready();
      } catch (err) {
        result = { ok: false, reason: `store check failed: ${(err as Error).message}` };
      }
    }
    if (!result.ok && (this.last.ok || this.last.reason !== result.reason)) {
      this.opts.log.error({ event: 'readiness.lost', store: this.opts.store.kind, reason: result.reason }, `NOT READY: ${result.reason}`);
    } else if (result.ok && !this.last.ok) {
      this.opts.log.warn({ event: 'readiness.restored', store: this.opts.store.kind }, 'ready again');
    }
    this.last = result;
    return result;
  }

  /** Checks every `ms` in the background (unref'd), so a lost store is logged even without probes. */
  startWatch(ms = READY_WATCH_MS): void {
    this.watch ??= setInterval(() => void this.check(), ms);
    this.watch.unref();
  }

  stopWatch(): void {
    if (this.watch) clearInterval(this.watch);
    this.watch = null;
  }
}

/** Answers GET/HEAD /healthz and /readyz (the frame in front routes only those paths here). */
export function healthRoutes(readiness: Readiness): Middleware {
  return async (ctx) => {
    ctx.set('Cache-Control', 'no-store');
    if (ctx.method !== 'GET' && ctx.method !== 'HEAD') {
      ctx.set('Allow', 'GET, HEAD');
      ctx.status = 405;
      ctx.body = { status: 'error', reason: 'method not allowed' };
      return;
    }
    if (ctx.path === '/healthz') {
      ctx.status = 200;
      ctx.body = { status: 'ok' };
      return;
    }
    const result = await readiness.check();
    // The detail (file paths, driver messages) goes to the log; the public answer says only which part.
    if (result.ok) {
      ctx.status = 200;
      ctx.body = { status: 'ok' };
    } else {
      ctx.status = 503;
      ctx.set('Retry-After', String(READY_RETRY_AFTER_SECONDS));
      ctx.body = { status: 'unavailable', reason: result.reason === KEYS_NOT_LOADED ? KEYS_NOT_LOADED : 'store unavailable' };
    }
  };
}
