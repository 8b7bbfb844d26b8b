// The first middleware of every request: the wait for durable writes, error pages and security headers.
// One async frame rather than three middlewares: the token path is short, and each frame is a promise
// that pays oidc-provider's async hook (bench/, issue #4).
import type { Middleware } from 'koa';
import type { Renderer } from './render.ts';
import type { Logger } from '../log.ts';
import { errorPage, notFoundPage } from './errors.ts';
import { setSecurityHeaders } from './security.ts';
import { accessLog } from './ops.ts';
import { providerRequest } from './unavailable.ts';
import { isStoreUnavailable, STORE_RETRY_AFTER_SECONDS } from '../store/unavailable.ts';
import { wroteDuring } from '../oidc/store-errors.ts';
import type { HttpMetrics } from './metrics.ts';

export interface FrontOptions {
  hsts: boolean;
  render: Renderer;
  log: Logger;
  /**
   * Runs the rest of the request and resolves once the writes it made are durable (the store port).
   * Absent for requests that never write (health, static files): they don't wait for other requests'
   * commits, nor fail with them.
   */
  durably?: <T>(fn: () => Promise<T>) => Promise<T>;
  /** Told of every error a request failed with, before its error page (readiness watches the store's). */
  onError?: (err: unknown) => void;
  /** Counts and times each answered request (null or absent: /metrics is off). */
  metrics?: HttpMetrics | null;
}

export function front({ hsts, render, log, durably, onError, metrics }: FrontOptions): Middleware {
  const headers = { hsts };
  return async (ctx, next) => {
    try {
      await (durably ? durably(next) : next());
      if (ctx.status === 404 && ctx.body === undefined) notFoundPage(ctx, render);
    } catch (err) {
      // A commit that failed holds other requests' writes too: an oidc-provider request that wrote
      // nothing (discovery, JWKS, userinfo, introspection) keeps the answer it had.
      const notOurs = isStoreUnavailable(err) && providerRequest(ctx) !== undefined && !wroteDuring(ctx);
      if (!notOurs) {
        onError?.(err);
        errorPage(ctx, err, render, log);
      }
    }
    // A 503 oidc-provider rendered itself (temporarily_unavailable: src/oidc/store-errors.ts) says when to retry too.
    if (ctx.status === 503 && !ctx.response.get('Retry-After')) ctx.set('Retry-After', String(STORE_RETRY_AFTER_SECONDS));
    setSecurityHeaders(ctx.res, headers);
    // Discovery: relying parties cache it on their own terms; a shared cache in front must ask again.
    if (ctx.status === 200 && ctx.path.startsWith('/.well-known/') && !ctx.response.get('Cache-Control')) ctx.set('Cache-Control', 'no-cache');
    accessLog(log, ctx);
    metrics?.observe(ctx);
  };
}
