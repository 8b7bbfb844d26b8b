// The admin API's own chain (src/app.ts routes /admin/api here, before the pages): no cookies, no CSRF
// (a bearer token authenticates each request, so a browser's ambient credentials count for nothing),
// a JSON body parser with a size limit, then the resources. Every answer is JSON; every error is RFC
// 9457 problem details, never a stack trace.
import type { Middleware } from 'koa';
import compose from 'koa-compose';
import { bodyParser } from '@koa/bodyparser';
import type { Services } from '../services.ts';
import { authenticate } from './auth.ts';
import { ApiProblem, sendError, sendProblem } from './problem.ts';
import { API_PREFIX, adminApiRouter } from './routes.ts';

export { API_PREFIX } from './routes.ts';
export const isAdminApiPath = (p: string) => p === API_PREFIX || p.startsWith(`${API_PREFIX}/`);

/** Largest JSON body taken (client metadata is limited to 64,000 characters of its own). */
export const BODY_LIMIT = '100kb';
const JSON_TYPES = ['application/json', 'application/merge-patch+json'];
const PUBLIC_PATHS = new Set([`${API_PREFIX}/openapi.json`]);

export function adminApi(s: Services): Middleware {
  const router = adminApiRouter(s);
  const parse = bodyParser({
    enableTypes: ['json'],
    // lodash-merged into the parser's own list index by index: the whole list, or application/json is lost.
    extendTypes: { json: JSON_TYPES },
    jsonLimit: BODY_LIMIT,
    jsonStrict: true,
    encoding: 'utf-8',
  });

  const guard: Middleware = async (ctx, next) => {
    ctx.state.apiClient = undefined;
    if (!PUBLIC_PATHS.has(ctx.path)) {
      const { clientId } = await authenticate(s.provider, ctx.get('Authorization') || undefined);
      ctx.state.apiClient = clientId;
    }
    // A body must be JSON; an empty one (POST .../secret without a grace period) may have any type.
    const hasBody = ctx.req.headers['transfer-encoding'] !== undefined || Number(ctx.req.headers['content-length'] ?? 0) > 0;
    if (['POST', 'PUT', 'PATCH'].includes(ctx.method) && hasBody && !ctx.is(JSON_TYPES))
      throw new ApiProblem(415, 'Send JSON: Content-Type application/json (or application/merge-patch+json for PATCH).');
    return parse(ctx, next);
  };

  const routes = compose([guard, router.routes(), router.allowedMethods({ throw: false })] as Middleware[]);

  return async (ctx, next) => {
    try {
      await routes(ctx, next);
      if (ctx.body === undefined || ctx.body === null) {
        if (ctx.status === 405) sendProblem(ctx, { status: 405, type: 'about:blank', detail: `${ctx.method} is not allowed here (allowed: ${ctx.response.get('Allow')}).` });
        else if (ctx.status === 501) sendProblem(ctx, { status: 501, type: 'about:blank', detail: `${ctx.method} is not supported.` });
        else if (ctx.status === 404) sendProblem(ctx, { status: 404, type: 'about:blank', detail: 'No such resource; the API is described at /admin/api/openapi.json.' });
      }
    } catch (err) {
      try {
        sendError(ctx, err, s.log);
      } catch (failed) {
        // Even the problem couldn't be sent as made (a header koa refused): the bare 500, still JSON.
        s.log.error({ err: failed }, 'admin API: sending a problem failed');
        sendProblem(ctx, { status: 500, type: 'about:blank', detail: 'Something went wrong on our side.' });
      }
    }
  };
}
