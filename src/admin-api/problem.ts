// RFC 9457 problem details: every error of the admin API is one, with `errors` naming each bad field.
// Unknown errors become a 500 carrying only the request id (the error itself goes to the log).
import type { Context } from 'koa';
import type { Logger } from '../log.ts';
import { ClientInputError } from '../admin/client-input.ts';
import { FieldErrors } from '../accounts/service.ts';
import { UserNotFound } from '../admin/users.ts';
import { StoreUnavailableError } from '../store/ports.ts';
import { requestLog } from '../http/ops.ts';

export const PROBLEM_TYPE = 'application/problem+json';
const BASE = 'urn:tessera:problem:';
/** Problem types beyond the plain HTTP status ("about:blank"), listed in the OpenAPI document. */
export const PROBLEMS = {
  invalidInput: `${BASE}invalid-input`,
  readOnly: `${BASE}read-only`,
  conflict: `${BASE}conflict`,
  invalidToken: `${BASE}invalid-token`,
  insufficientScope: `${BASE}insufficient-scope`,
} as const;

export interface FieldError {
  field: string;
  /** JSON Pointer into the request body (or the query parameter's name for query input). */
  pointer: string;
  detail: string;
}

export interface Problem {
  type: string;
  title: string;
  status: number;
  detail?: string;
  instance?: string;
  errors?: FieldError[];
  request_id?: string;
}

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  409: 'Conflict',
  413: 'Content Too Large',
  415: 'Unsupported Media Type',
  500: 'Internal Server Error',
  501: 'Not Implemented',
  503: 'Service Unavailable',
};

/** An error the API throws on purpose: its status, problem type, detail and extra headers. */
export class ApiProblem extends Error {
  constructor(
    readonly status: number,
    detail: string,
    readonly opts: { type?: string; title?: string; errors?: FieldError[]; headers?: Record<string, string> } = {},
  ) {
    super(detail);
    this.name = 'ApiProblem';
  }
}

const pointer = (field: string) => `/${field.replace(/~/g, '~0').replace(/\//g, '~1')}`;
export const fieldError = (field: string, detail: string): FieldError => ({ field, pointer: pointer(field), detail });

export function invalidInput(errors: FieldError[], detail?: string): ApiProblem {
  return new ApiProblem(400, detail ?? errors.map((e) => `${e.field}: ${e.detail}`).join('; '), { type: PROBLEMS.invalidInput, title: 'Invalid input', errors });
}

export function sendProblem(ctx: Context, p: Omit<Problem, 'title'> & { title?: string }, headers: Record<string, string> = {}) {
  const requestId = (ctx.state as { requestId?: string }).requestId;
  ctx.remove('Location');
  for (const [k, v] of Object.entries(headers)) ctx.set(k, v);
  ctx.set('Cache-Control', 'no-store');
  ctx.status = p.status;
  ctx.body = {
    type: p.type,
    title: p.title ?? TITLES[p.status] ?? 'Error',
    status: p.status,
    ...(p.detail ? { detail: p.detail } : {}),
    instance: p.instance ?? ctx.path,
    ...(p.errors ? { errors: p.errors } : {}),
    ...(requestId ? { request_id: requestId } : {}),
  };
  // After the body: koa sets application/json for an object body.
  ctx.type = PROBLEM_TYPE;
}

/** Any error thrown while answering an admin API request → its problem details. */
export function sendError(ctx: Context, err: unknown, log: Logger) {
  const rlog = requestLog(ctx, log);
  if (err instanceof ApiProblem) {
    return sendProblem(ctx, { status: err.status, type: err.opts.type ?? 'about:blank', title: err.opts.title, detail: err.message, errors: err.opts.errors }, err.opts.headers);
  }
  if (err instanceof ClientInputError) {
    if (err.code === 'not_found') return sendProblem(ctx, { status: 404, type: 'about:blank', detail: err.message });
    if (err.code === 'conflict') return sendProblem(ctx, { status: 409, type: PROBLEMS.conflict, detail: err.message, errors: err.errors.map((e) => fieldError(e.field, e.message)) });
    if (err.code === 'read_only') return sendProblem(ctx, { status: 403, type: PROBLEMS.readOnly, title: 'Read-only', detail: err.message });
    const errors = err.errors.length ? err.errors.map((e) => fieldError(e.field, e.message)) : [fieldError(err.field ?? 'body', err.message)];
    return sendProblem(ctx, { status: 400, type: PROBLEMS.invalidInput, title: 'Invalid input', detail: err.message, errors });
  }
  if (err instanceof UserNotFound) return sendProblem(ctx, { status: 404, type: 'about:blank', detail: err.fields.user });
  if (err instanceof FieldErrors) {
    const errors = Object.entries(err.fields).map(([f, d]) => fieldError(f, d));
    return sendProblem(ctx, { status: 400, type: PROBLEMS.invalidInput, title: 'Invalid input', detail: err.message, errors });
  }
  if (err instanceof StoreUnavailableError) {
    rlog.error({ err, path: ctx.path }, 'admin API: store unavailable');
    return sendProblem(ctx, { status: 503, type: 'about:blank', detail: 'The store can’t be reached right now; try again shortly.' }, { 'Retry-After': '5' });
  }
  // Body parser and koa errors: their status, a message of our own.
  const e = err as { status?: unknown; type?: unknown; expose?: boolean };
  if (typeof e.status === 'number' && e.status >= 400 && e.status < 500) {
    const detail =
      e.status === 413 ? 'The request body is too large.'
      : e.type === 'entity.parse.failed' || e.status === 400 ? 'The request body is not valid JSON (an object is expected).'
      : e.status === 415 ? 'Send JSON: Content-Type application/json.'
      : 'The request was refused.';
    rlog.info({ status: e.status, path: ctx.path }, 'admin API: request refused');
    return sendProblem(ctx, { status: e.status, type: 'about:blank', detail });
  }
  rlog.error({ err, path: ctx.path }, 'admin API request failed');
  return sendProblem(ctx, { status: 500, type: 'about:blank', detail: 'Something went wrong on our side. Quote the request id when you report it.' });
}
