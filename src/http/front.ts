// The first middleware of every request: the wait for durable writes, error pages and security headers.
// One async frame rather than three middlewares: the token path is short, and each frame is a promise
// that pays oidc-provider's async hook (bench/, issue #4).
import type { Middleware } from 'koa';
import type { Renderer } from './render.ts';
import type { Logger } from '../log.ts';
import { errorPage, notFoundPage } from './errors.ts';
import { setSecurityHeaders } from './security.ts';
import { accessLog } from './ops.ts';
import type { HttpMetrics } from './metrics.ts';

export interface FrontOptions {
  hsts: boolean;
  render: Renderer;
  log: Logger;
  /** Runs the rest of the request and resolves once the writes it made are durable (the store port). */
  durably: <T>(fn: () => Promise<T>) => Promise<T>;
  /** Counts and times each answered request (null: /metrics is off). */
  metrics: HttpMetrics | null;
}

export function front({ hsts, render, log, durably, metrics }: FrontOptions): Middleware {
  const headers = { hsts };
  return async (ctx, next) => {
    try {
      await durably(next);
      if (ctx.status === 404 && ctx.body === undefined) notFoundPage(ctx, render);
    } catch (err) {
      errorPage(ctx, err, render, log);
    }
    setSecurityHeaders(ctx.res, headers);
    // Discovery: relying parties cache it on their own terms; a shared cache in front must ask again.
    if (ctx.status === 200 && ctx.path.startsWith('/.well-known/') && !ctx.response.get('Cache-Control')) ctx.set('Cache-Control', 'no-cache');
    accessLog(log, ctx);
    metrics?.observe(ctx);
  };
}
