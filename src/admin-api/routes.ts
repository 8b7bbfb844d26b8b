// The admin API's resources. Thin: read the request, call the domain layer (ClientService, UserAdmin:
// the same the CLI and the console use), answer JSON. Every change is audited with the calling client.
import Router from '@koa/router';
import type { Context } from 'koa';
import { ClientService } from '../admin/clients.ts';
import { UserAdmin, type Actor } from '../admin/users.ts';
import { auditView, parseWhen } from '../admin/audit.ts';
import type { Services } from '../services.ts';
import { ApiProblem, fieldError, invalidInput } from './problem.ts';
import { openApiDocument } from './openapi.ts';

export const API_PREFIX = '/admin/api';
const MAX_LIST = 1000;

/** The request's JSON body; `optional` bodies may be absent (then {}). */
function body(ctx: Context, optional = false): unknown {
  const raw = (ctx.request as { rawBody?: string }).rawBody;
  if (raw === undefined || raw.trim() === '') {
    if (optional) return {};
    throw invalidInput([fieldError('body', 'a JSON object is required')], 'The request needs a JSON body.');
  }
  return ctx.request.body;
}

/** One query parameter as a string (a repeated one is refused). */
function query(ctx: Context, name: string): string | undefined {
  const v = ctx.query[name];
  if (Array.isArray(v)) throw invalidInput([fieldError(name, 'give this query parameter once')]);
  return v === undefined || v === '' ? undefined : v;
}

function wholeNumber(ctx: Context, name: string, min: number, max: number, fallback: number): number {
  const v = query(ctx, name);
  if (v === undefined) return fallback;
  if (!/^\d{1,9}$/.test(v) || Number(v) < min || Number(v) > max) throw invalidInput([fieldError(name, `must be a whole number from ${min} to ${max}`)]);
  return Number(v);
}

function objectBody(value: unknown): Record<string, unknown> {
  if (!value || typeof value !== 'object' || Array.isArray(value)) throw invalidInput([fieldError('body', 'must be a JSON object')]);
  return value as Record<string, unknown>;
}

export function adminApiRouter(s: Services): Router {
  const clients = new ClientService(s.store, s.box, s.provider);
  const users = new UserAdmin(s.store, s.config, s.accounts, s.box, s.notices);
  const r = new Router({ prefix: API_PREFIX });
  const actor = (ctx: Context): Actor => ({ via: 'api', adminId: (ctx.state as { apiClient: string }).apiClient, ip: ctx.ip || null });
  const json = (ctx: Context, status: number, value: unknown) => {
    ctx.status = status;
    ctx.body = value;
    ctx.set('Cache-Control', 'no-store');
  };

  r.get('/openapi.json', (ctx) => {
    ctx.body = openApiDocument(s.config.issuer);
    ctx.set('Cache-Control', 'no-cache');
  });

  // Clients (RFC 7591 metadata; the same JSON as `client create --json` / `client show --json`).
  r.get('/clients', async (ctx) => json(ctx, 200, await clients.list()));
  r.post('/clients', async (ctx) => {
    const created = await clients.create(body(ctx), { by: actor(ctx) });
    ctx.set('Location', `${API_PREFIX}/clients/${encodeURIComponent(created.client_id)}`);
    json(ctx, 201, created);
  });
  r.get('/clients/:client_id', async (ctx) => json(ctx, 200, await clients.show(ctx.params.client_id)));
  r.patch('/clients/:client_id', async (ctx) => json(ctx, 200, await clients.update(ctx.params.client_id, body(ctx), actor(ctx))));
  r.delete('/clients/:client_id', async (ctx) => {
    await clients.delete(ctx.params.client_id, actor(ctx));
    ctx.status = 204;
  });
  r.post('/clients/:client_id/secret', async (ctx) => {
    const { grace_seconds, ...rest } = objectBody(body(ctx, true));
    const extra = Object.keys(rest);
    if (extra.length) throw invalidInput(extra.map((k) => fieldError(k.slice(0, 100), 'unknown field (only grace_seconds)')));
    if (grace_seconds !== undefined && typeof grace_seconds !== 'number') throw invalidInput([fieldError('grace_seconds', 'must be a whole number of seconds')]);
    json(ctx, 200, await clients.rotateSecret(ctx.params.client_id, { graceSeconds: grace_seconds, by: actor(ctx) }));
  });

  // Users (the same JSON as `user create --json` / `user show --json`).
  r.get('/users', async (ctx) => {
    const limit = wholeNumber(ctx, 'limit', 1, MAX_LIST, 100);
    const offset = wholeNumber(ctx, 'offset', 0, 100_000_000, 0);
    json(ctx, 200, await users.list({ limit, offset }));
  });
  r.post('/users', async (ctx) => {
    const created = await users.create(body(ctx), actor(ctx));
    ctx.set('Location', `${API_PREFIX}/users/${encodeURIComponent(created.sub)}`);
    json(ctx, 201, created);
  });
  r.get('/users/:sub', async (ctx) => json(ctx, 200, await users.show(ctx.params.sub)));
  r.patch('/users/:sub', async (ctx) => {
    const { disabled, admin, ...changes } = objectBody(body(ctx));
    if (admin !== undefined) throw invalidInput([fieldError('admin', 'the admin role is granted only from the CLI (npm run cli -- user grant-admin)')]);
    if (disabled !== undefined && typeof disabled !== 'boolean') throw invalidInput([fieldError('disabled', 'must be true or false')]);
    const by = actor(ctx);
    // Checked (and applied) first: a bad field leaves the account as it was, enabled or not.
    let view = Object.keys(changes).length ? await users.update(ctx.params.sub, changes, by) : await users.show(ctx.params.sub);
    if (disabled !== undefined && disabled !== view.disabled) view = await users.setDisabled(view.sub, disabled, by);
    json(ctx, 200, view);
  });
  r.delete('/users/:sub', async (ctx) => {
    await users.delete(ctx.params.sub, actor(ctx));
    ctx.status = 204;
  });
  r.post('/users/:sub/reset-mfa', async (ctx) => {
    const extra = Object.keys(objectBody(body(ctx, true)));
    if (extra.length) throw invalidInput(extra.map((k) => fieldError(k.slice(0, 100), 'unknown field (this action takes no body)')));
    json(ctx, 200, await users.resetMfa(ctx.params.sub, actor(ctx)));
  });

  // Security events, newest first.
  r.get('/audit', async (ctx) => {
    const at = (name: string) => {
      const v = query(ctx, name);
      if (v === undefined) return undefined;
      const d = parseWhen(v);
      if (!d) throw invalidInput([fieldError(name, 'must be an ISO date/time (2026-12-01T08:00:00Z) or a duration back from now (30m, 12h, 7d)')]);
      return d;
    };
    const text = (name: string, max: number) => {
      const v = query(ctx, name);
      if (v !== undefined && v.length > max) throw invalidInput([fieldError(name, `must be at most ${max} characters`)]);
      return v;
    };
    const account = text('account', 254);
    const filter = {
      type: text('type', 100), clientId: text('client', 200), ip: text('ip', 64),
      since: at('since'), until: at('until'), limit: wholeNumber(ctx, 'limit', 1, MAX_LIST, 100),
      accountId: account ? (await users.show(account).catch(() => ({ sub: account }))).sub : undefined,
    };
    json(ctx, 200, (await s.store.audit.list(filter)).map(auditView));
  });

  return r;
}

export { ApiProblem };
