// One place turns errors into pages: known errors keep their status and message; a store that can't be
// reached or written is a 503 with Retry-After (./unavailable.ts); anything else is a 500 with a generic
// page (details go to the log only). Never a stack trace to the browser. OAuth endpoints answer JSON.
import type { Context } from 'koa';
import type { Renderer } from './render.ts';
import type { Logger } from '../log.ts';
import { TesseraError } from '../errors.ts';
import { requestLog } from './ops.ts';
import { isStoreUnavailable, describeStoreError } from '../store/unavailable.ts';
import { answerUnavailable, answersJson } from './unavailable.ts';

/** A request nothing answered. */
export function notFoundPage(ctx: Context, render: Renderer) {
  render(ctx, 'error', { title: 'Page not found', message: 'This page doesn’t exist.' }, 404);
}

/** The page (or JSON error, for an OAuth endpoint or a client that doesn't take HTML) for an error a request threw. */
export function errorPage(ctx: Context, err: unknown, render: Renderer, log: Logger) {
  const rlog = requestLog(ctx, log); // carries the request id
  // Whatever the failed request had set on its way (a redirect's Location, cookies) doesn't go out with
  // the error.
  const location = ctx.response.get('Location') || undefined;
  ctx.remove('Location');
  ctx.remove('Set-Cookie');
  if (isStoreUnavailable(err)) {
    rlog.error({ event: 'store.unavailable', path: ctx.path, reason: describeStoreError(err) }, 'request failed: store unavailable');
    answerUnavailable(ctx, render, location);
    return;
  }
  const e = err as Error & { status?: number; expose?: boolean };
  let status = e instanceof TesseraError ? e.status : (e.status ?? 500);
  if (status < 400 || status > 599) status = 500;
  const message =
    e instanceof TesseraError || (e.expose && status < 500)
      ? e.message
      : status === 413
        ? 'That was too much data.'
        : status < 500
          ? 'That request wasn’t valid. Go back and try again.'
          : 'Something went wrong on our side. Please try again.';
  if (status >= 500) rlog.error({ err: e, path: ctx.path }, 'request failed');
  else rlog.info({ status, path: ctx.path, reason: e.message }, 'request refused');
  if (answersJson(ctx)) {
    ctx.status = status;
    ctx.body = { error: status < 500 ? 'invalid_request' : 'server_error', error_description: message };
  } else {
    render(ctx, 'error', { title: status >= 500 ? 'Something went wrong' : 'We couldn’t do that', message }, status);
  }
}
