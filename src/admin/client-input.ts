// One validation of client metadata for the CLI, the console and the admin API. Each field gets its
// type, size and meaning checked here with a message naming it (the console shows it next to the field,
// the API in problem details); oidc-provider's own validation runs after (ClientService) as the last word.
// Pure: no koa, no provider.
import net from 'node:net';
import { ADMIN_API, ADMIN_SCOPE, FIRST_PARTY, INTROSPECT_ANY, MIN_ACR, type ClientPolicy } from '../oidc/client-metadata.ts';

export interface FieldProblem {
  field: string;
  message: string;
}

export type ClientErrorCode = 'invalid' | 'not_found' | 'conflict' | 'read_only';

/**
 * Bad client input, or a client that can't be found / changed. `field` names the (first) field at fault,
 * `errors` lists every one; `code` tells the API which status to answer.
 */
export class ClientInputError extends Error {
  readonly field?: string;
  readonly errors: FieldProblem[];
  readonly code: ClientErrorCode;

  constructor(message: string, opts: { field?: string; errors?: FieldProblem[]; code?: ClientErrorCode } = {}) {
    super(message);
    this.name = 'ClientInputError';
    this.errors = opts.errors ?? (opts.field ? [{ field: opts.field, message }] : []);
    this.field = opts.field ?? this.errors[0]?.field;
    this.code = opts.code ?? 'invalid';
  }

  static of(errors: FieldProblem[]): ClientInputError {
    return new ClientInputError(errors.map((e) => (e.message.startsWith(e.field) ? e.message : `${e.field}: ${e.message}`)).join('; '), { errors });
  }
}

/** Grant types Tessera's provider serves (implicit and device flows are off). */
export const GRANT_TYPES = ['authorization_code', 'refresh_token', 'client_credentials'] as const;
export const RESPONSE_TYPES = ['code', 'none'] as const;
export const AUTH_METHODS = ['client_secret_basic', 'client_secret_post', 'client_secret_jwt', 'private_key_jwt', 'none'] as const;

// Sizes: generous for real clients, small enough that a record stays a small document.
export const LIMITS = { uri: 2000, uris: 20, name: 200, text: 200, scope: 1000, contacts: 10, contact: 254, jwks: 20_000, total: 64_000 } as const;
const MAX_AGE_SECONDS = 365 * 86_400;

type Kind =
  | { t: 'string'; max: number; oneOf?: readonly string[] }
  | { t: 'uri' } // https, or http on loopback (logo, policy, terms, client and jwks URIs)
  | { t: 'redirects' } // redirect and post-logout redirect URIs (policy: production, native apps)
  | { t: 'strings'; max: number; each: number; oneOf?: readonly string[] }
  | { t: 'acr' }
  | { t: 'acrs' }
  | { t: 'scope' }
  | { t: 'bool' }
  | { t: 'int'; min: number; max: number }
  | { t: 'jwks' };

/** The metadata Tessera takes (RFC 7591 / OpenID Connect registration, and Tessera's own). */
const FIELDS: Record<string, Kind> = {
  client_name: { t: 'string', max: LIMITS.name },
  client_uri: { t: 'uri' },
  logo_uri: { t: 'uri' },
  policy_uri: { t: 'uri' },
  tos_uri: { t: 'uri' },
  jwks_uri: { t: 'uri' },
  initiate_login_uri: { t: 'uri' },
  redirect_uris: { t: 'redirects' },
  post_logout_redirect_uris: { t: 'redirects' },
  grant_types: { t: 'strings', max: GRANT_TYPES.length, each: 100, oneOf: GRANT_TYPES },
  response_types: { t: 'strings', max: RESPONSE_TYPES.length, each: 100, oneOf: RESPONSE_TYPES },
  token_endpoint_auth_method: { t: 'string', max: 100, oneOf: AUTH_METHODS },
  token_endpoint_auth_signing_alg: { t: 'string', max: 20 },
  application_type: { t: 'string', max: 10, oneOf: ['web', 'native'] },
  id_token_signed_response_alg: { t: 'string', max: 20 },
  subject_type: { t: 'string', max: 10, oneOf: ['public'] },
  contacts: { t: 'strings', max: LIMITS.contacts, each: LIMITS.contact },
  scope: { t: 'scope' },
  default_acr_values: { t: 'acrs' },
  default_max_age: { t: 'int', min: 0, max: MAX_AGE_SECONDS },
  require_auth_time: { t: 'bool' },
  jwks: { t: 'jwks' },
  software_id: { t: 'string', max: LIMITS.text },
  software_version: { t: 'string', max: LIMITS.text },
  [MIN_ACR]: { t: 'acr' },
  [FIRST_PARTY]: { t: 'bool' },
  [INTROSPECT_ANY]: { t: 'bool' },
  [ADMIN_API]: { t: 'bool' },
};

export const CLIENT_FIELDS: readonly string[] = Object.keys(FIELDS);

const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);
function isLoopbackHost(hostname: string): boolean {
  return LOOPBACK_HOSTS.has(hostname) || (net.isIPv4(hostname) && hostname.startsWith('127.'));
}

/** Why a URI can't be used, or null. Never a fragment, a wildcard or credentials in it. */
function uriProblem(raw: string, opts: { redirect: boolean; production: boolean; native: boolean }): string | null {
  if (raw.length > LIMITS.uri) return `must be at most ${LIMITS.uri} characters`;
  if (raw.includes('*')) return `"${raw}" has a wildcard: register each address exactly`;
  if (raw.includes('#')) return `"${raw}" has a fragment (#): not allowed`;
  let u: URL;
  try {
    u = new URL(raw);
  } catch {
    return `"${raw}" is not an absolute URL`;
  }
  if (u.username || u.password) return `"${raw}" carries credentials (user:password@): not allowed`;
  if (u.protocol === 'https:') return u.hostname ? null : `"${raw}" has no host`;
  if (u.protocol === 'http:') {
    if (isLoopbackHost(u.hostname)) return null;
    if (opts.redirect && !opts.production) return null;
    return opts.redirect
      ? `"${raw}" must use https (http only on loopback: 127.0.0.1, [::1] or localhost)`
      : `"${raw}" must use https (http only on loopback)`;
  }
  // RFC 8252 §7.1: a native app may use a private-use scheme in reverse-domain form (com.example.app:/cb).
  if (opts.redirect && opts.native && /^[a-z][a-z0-9+-]*(\.[a-z0-9+-]+)+:$/i.test(u.protocol)) return null;
  return opts.redirect
    ? `"${raw}" must be an https URL${opts.native ? ' (or, for a native app, a reverse-domain scheme like com.example.app:/callback)' : ''}`
    : `"${raw}" must be an https URL`;
}

const jsonSize = (v: unknown) => {
  try {
    return JSON.stringify(v)?.length ?? 0;
  } catch {
    return Infinity;
  }
};
const describe = (v: unknown) => (v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v === 'object' ? 'an object' : `a ${typeof v}`);

/**
 * The input of a create or update as a plain object, refusing what isn't client metadata: not an object,
 * too big, unknown fields, and `tessera_admin_api` from anywhere but the CLI. Server-owned fields
 * (client_id, secrets, dates) are dropped: a client's own view can be sent back as an update.
 */
export function readClientInput(input: unknown, opts: { fromCli: boolean; serverOwned: readonly string[] }): Record<string, unknown> {
  if (!input || typeof input !== 'object' || Array.isArray(input))
    throw new ClientInputError(`client metadata must be a JSON object, not ${describe(input)}`, { field: 'metadata' });
  if (jsonSize(input) > LIMITS.total) throw new ClientInputError(`client metadata must be at most ${LIMITS.total} characters of JSON`, { field: 'metadata' });
  const problems: FieldProblem[] = [];
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(input as Record<string, unknown>)) {
    if (opts.serverOwned.includes(k) || v === undefined) continue;
    if (k === ADMIN_API && !opts.fromCli) {
      problems.push({ field: k, message: `${ADMIN_API} can be set only from the CLI (npm run cli -- client update ID --json)` });
      continue;
    }
    if (!(k in FIELDS)) {
      problems.push({ field: k.slice(0, 100), message: 'is not client metadata Tessera knows' });
      continue;
    }
    out[k] = v;
  }
  if (problems.length) throw ClientInputError.of(problems);
  return out;
}

/**
 * Checks a client's whole metadata (after an update's merge) and returns the problems: each field's type,
 * size and allowed values, then the rules across fields (public vs confidential, the admin API mark).
 */
export function metadataProblems(m: Record<string, unknown>, policy: ClientPolicy): FieldProblem[] {
  const problems: FieldProblem[] = [];
  const bad = (field: string, message: string) => problems.push({ field, message });
  const native = m.application_type === 'native';
  for (const [field, value] of Object.entries(m)) {
    const kind = FIELDS[field];
    if (!kind || value === null) continue; // unknown fields were refused on input; null removes on update
    switch (kind.t) {
      case 'string':
        if (typeof value !== 'string') bad(field, `must be a string, not ${describe(value)}`);
        else if (value.length > kind.max) bad(field, `must be at most ${kind.max} characters`);
        else if (kind.oneOf && !kind.oneOf.includes(value)) bad(field, `must be one of ${kind.oneOf.join(', ')} (got "${value.slice(0, 100)}")`);
        break;
      case 'uri': {
        if (typeof value !== 'string') bad(field, `must be a string (an https URL), not ${describe(value)}`);
        else {
          const p = uriProblem(value, { redirect: false, production: policy.production, native });
          if (p) bad(field, p);
        }
        break;
      }
      case 'redirects': {
        if (!Array.isArray(value)) bad(field, `must be an array of URLs, not ${describe(value)}`);
        else if (value.length > LIMITS.uris) bad(field, `must list at most ${LIMITS.uris} URLs`);
        else
          for (const v of value) {
            const p = typeof v === 'string' ? uriProblem(v, { redirect: true, production: policy.production, native }) : `must only contain strings, not ${describe(v)}`;
            if (p) {
              bad(field, p);
              break;
            }
          }
        break;
      }
      case 'strings': {
        if (!Array.isArray(value)) bad(field, `must be an array of strings, not ${describe(value)}`);
        else if (value.length > kind.max) bad(field, `must list at most ${kind.max} values`);
        else {
          const wrong = value.find((v) => typeof v !== 'string' || v.length > kind.each || (kind.oneOf && !kind.oneOf.includes(v)));
          if (wrong !== undefined)
            bad(field, typeof wrong !== 'string' ? `must only contain strings, not ${describe(wrong)}` : kind.oneOf && !kind.oneOf.includes(wrong) ? `"${wrong.slice(0, 100)}" is not one of ${kind.oneOf.join(', ')}` : `values must be at most ${kind.each} characters`);
          else if (new Set(value).size !== value.length) bad(field, 'must not repeat a value');
        }
        break;
      }
      // Without known values (no policy given) the provider's own check is the one.
      case 'acr':
        if (typeof value !== 'string') bad(field, `must be a string, not ${describe(value)}`);
        else if (policy.acrValues.length && !policy.acrValues.includes(value)) bad(field, `must be one of ${policy.acrValues.join(', ')} (got "${value.slice(0, 100)}")`);
        break;
      case 'acrs':
        if (!Array.isArray(value) || value.some((v) => typeof v !== 'string')) bad(field, `must be an array of ACR values${policy.acrValues.length ? ` from ${policy.acrValues.join(', ')}` : ''}`);
        else if (value.length > LIMITS.uris) bad(field, `must list at most ${LIMITS.uris} values`);
        else if (policy.acrValues.length && value.some((v) => !policy.acrValues.includes(v)))
          bad(field, `must only contain ${policy.acrValues.join(', ')} (got "${String(value.find((v) => !policy.acrValues.includes(v))).slice(0, 100)}")`);
        break;
      case 'scope':
        if (typeof value !== 'string') bad(field, `must be a space-separated string, not ${describe(value)}`);
        else if (value.length > LIMITS.scope) bad(field, `must be at most ${LIMITS.scope} characters`);
        else if (!/^[\x21\x23-\x5B\x5D-\x7E]+( [\x21\x23-\x5B\x5D-\x7E]+)*$/.test(value)) bad(field, 'must be scope names separated by single spaces');
        break;
      case 'bool':
        if (typeof value !== 'boolean') bad(field, `must be true or false, not ${describe(value)}`);
        break;
      case 'int':
        if (typeof value !== 'number' || !Number.isInteger(value) || value < kind.min || value > kind.max) bad(field, `must be a whole number from ${kind.min} to ${kind.max}`);
        break;
      case 'jwks':
        if (!value || typeof value !== 'object' || Array.isArray(value) || !Array.isArray((value as { keys?: unknown }).keys)) bad(field, 'must be a JWK Set: {"keys": [...]}');
        else if (jsonSize(value) > LIMITS.jwks) bad(field, `must be at most ${LIMITS.jwks} characters of JSON`);
        break;
    }
  }
  if (problems.length) return problems;

  // Across fields.
  const isPublic = m.token_endpoint_auth_method === 'none';
  const grants = (m.grant_types as string[] | undefined) ?? ['authorization_code'];
  if (isPublic && grants.includes('client_credentials')) bad('grant_types', 'client_credentials needs a confidential client: a public client (token_endpoint_auth_method "none") has no secret');
  if (isPublic && m[INTROSPECT_ANY] === true) bad(INTROSPECT_ANY, `${INTROSPECT_ANY} needs a confidential client (token_endpoint_auth_method other than none)`);
  const scopes = typeof m.scope === 'string' ? m.scope.split(' ') : [];
  if (scopes.includes(ADMIN_SCOPE) && m[ADMIN_API] !== true) bad('scope', `"${ADMIN_SCOPE}" is only for a client marked ${ADMIN_API} (set from the CLI)`);
  if (m[ADMIN_API] === true) {
    if (isPublic) bad(ADMIN_API, `${ADMIN_API} needs a confidential client (token_endpoint_auth_method other than none)`);
    if (grants.length !== 1 || grants[0] !== 'client_credentials') bad('grant_types', `a client marked ${ADMIN_API} must have grant_types ["client_credentials"] only: no user signs in through it`);
  }
  return problems;
}

/**
 * RFC 7591 fills response_types ["code"] when absent, which needs redirect URIs: a client whose grants
 * include no user flow (client_credentials only) gets no response types and no redirect URIs instead.
 */
export function withGrantDefaults(m: Record<string, unknown>): Record<string, unknown> {
  const grants = m.grant_types;
  if (!Array.isArray(grants) || grants.includes('authorization_code')) return m;
  return { ...m, ...(m.response_types === undefined ? { response_types: [] } : {}), ...(m.redirect_uris === undefined ? { redirect_uris: [] } : {}) };
}

/** The field an oidc-provider validation message is about ("redirect_uris must ..."), or "metadata". */
export function fieldOfProviderMessage(message: string): string {
  const first = /^([a-z_]+)\b/.exec(message)?.[1];
  if (first && first in FIELDS) return first;
  const named = CLIENT_FIELDS.find((f) => message.includes(f));
  return named ?? 'metadata';
}
