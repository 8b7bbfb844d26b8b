// The console's client form, both ways: posted fields → RFC 7591 metadata for ClientService (which
// validates it, one validation for CLI, API and console), and a stored client → the form's values. Only
// the fields below are ever read from a post: whatever else is sent (tessera_admin_api, which only the
// CLI may set, or tessera_introspect_any) is ignored, and an update leaves such fields as they were.
// Pure: no koa.
import type { Config } from '../config.ts';
import type { AcrModel } from '../oidc/acr.ts';
import { FIRST_PARTY, MIN_ACR } from '../oidc/client-metadata.ts';

export const GRANT_TYPES = [
  { value: 'authorization_code', label: 'Authorization code (users sign in)' },
  { value: 'refresh_token', label: 'Refresh token (stay signed in; needs authorization code)' },
  { value: 'client_credentials', label: 'Client credentials (the app itself, no user)' },
] as const;

export const AUTH_METHODS = [
  { value: 'client_secret_basic', label: 'Confidential: a secret, sent in the Authorization header (client_secret_basic)' },
  { value: 'client_secret_post', label: 'Confidential: a secret, sent in the request body (client_secret_post)' },
  { value: 'none', label: 'Public: no secret (a single-page or mobile app; PKCE is required)' },
] as const;

/** Names of the form's fields: also the metadata keys they set, so a domain error's `field` lands next to its input. */
export const FORM_FIELDS = [
  'client_id', 'client_name', 'redirect_uris', 'post_logout_redirect_uris', 'grant_types', 'token_endpoint_auth_method', 'scope',
  FIRST_PARTY, MIN_ACR, 'default_acr_values', 'logo_uri', 'policy_uri', 'tos_uri',
] as const;
type FieldName = (typeof FORM_FIELDS)[number];

/** Longest accepted text of one input (a form with more is refused, never cut short). */
const MAX_TEXT = 2000;
const MAX_LIST = 8000;

export interface ClientForm {
  client_id: string;
  client_name: string;
  redirect_uris: string;
  post_logout_redirect_uris: string;
  grant_types: string[];
  token_endpoint_auth_method: string;
  scope: string;
  [FIRST_PARTY]: boolean;
  [MIN_ACR]: string;
  default_acr_values: string;
  logo_uri: string;
  policy_uri: string;
  tos_uri: string;
}

export const EMPTY_FORM: ClientForm = {
  client_id: '', client_name: '', redirect_uris: '', post_logout_redirect_uris: '', grant_types: ['authorization_code'],
  token_endpoint_auth_method: 'client_secret_basic', scope: '', [FIRST_PARTY]: false, [MIN_ACR]: '', default_acr_values: '',
  logo_uri: '', policy_uri: '', tos_uri: '',
};

/** Reads the posted form; `errors` names inputs that were too long or malformed (nothing is cut short). */
export function readClientForm(body: Record<string, unknown>): { form: ClientForm; errors: Partial<Record<FieldName, string>> } {
  const errors: Partial<Record<FieldName, string>> = {};
  const text = (name: FieldName, max = MAX_TEXT): string => {
    const v = body[name];
    if (v === undefined) return '';
    if (typeof v !== 'string') {
      errors[name] = 'Send one value.';
      return '';
    }
    if (v.length > max) errors[name] = `Use at most ${max} characters.`;
    return v.length > max ? v.slice(0, max) : v;
  };
  const raw = body.grant_types;
  const grants = raw === undefined ? [] : Array.isArray(raw) ? raw : [raw];
  if (grants.some((g) => typeof g !== 'string' || g.length > 100) || grants.length > 10) errors.grant_types = 'Choose from the list.';
  const form: ClientForm = {
    client_id: text('client_id', 100).trim(),
    client_name: text('client_name').trim(),
    redirect_uris: text('redirect_uris', MAX_LIST),
    post_logout_redirect_uris: text('post_logout_redirect_uris', MAX_LIST),
    grant_types: [...new Set(grants.filter((g): g is string => typeof g === 'string').map((g) => g.slice(0, 100)))],
    token_endpoint_auth_method: text('token_endpoint_auth_method', 100),
    scope: text('scope').trim(),
    [FIRST_PARTY]: body[FIRST_PARTY] === 'on' || body[FIRST_PARTY] === 'true',
    [MIN_ACR]: text(MIN_ACR, 200),
    default_acr_values: text('default_acr_values', 200),
    logo_uri: text('logo_uri').trim(),
    policy_uri: text('policy_uri').trim(),
    tos_uri: text('tos_uri').trim(),
  };
  return { form, errors };
}

const lines = (t: string) => t.split(/\r?\n/).map((x) => x.trim()).filter(Boolean);

/**
 * The metadata the form stands for. For an update every field the form shows is present (null removes
 * it: ClientService.update merges); for a new client, empty fields are left out.
 */
export function metadataFromForm(f: ClientForm, mode: 'create' | 'update'): Record<string, unknown> {
  const orNull = (v: string) => (v ? v : null);
  const postLogout = lines(f.post_logout_redirect_uris);
  const m: Record<string, unknown> = {
    client_name: orNull(f.client_name),
    redirect_uris: lines(f.redirect_uris),
    post_logout_redirect_uris: postLogout.length ? postLogout : null,
    grant_types: f.grant_types,
    // The response type follows from the grants: the code flow, or none (a service with client credentials).
    response_types: f.grant_types.includes('authorization_code') ? ['code'] : [],
    token_endpoint_auth_method: f.token_endpoint_auth_method || 'client_secret_basic',
    scope: orNull(f.scope),
    [FIRST_PARTY]: f[FIRST_PARTY],
    [MIN_ACR]: orNull(f[MIN_ACR]),
    default_acr_values: f.default_acr_values ? [f.default_acr_values] : null,
    logo_uri: orNull(f.logo_uri),
    policy_uri: orNull(f.policy_uri),
    tos_uri: orNull(f.tos_uri),
  };
  if (mode === 'create') {
    for (const [k, v] of Object.entries(m)) if (v === null) delete m[k];
    if (f.client_id) m.client_id = f.client_id;
  }
  return m;
}

export function formFromMetadata(meta: Record<string, unknown>): ClientForm {
  const str = (v: unknown) => (typeof v === 'string' ? v : '');
  const list = (v: unknown) => (Array.isArray(v) ? v.filter((x) => typeof x === 'string').join('\n') : '');
  return {
    client_id: str(meta.client_id),
    client_name: str(meta.client_name),
    redirect_uris: list(meta.redirect_uris),
    post_logout_redirect_uris: list(meta.post_logout_redirect_uris),
    grant_types: Array.isArray(meta.grant_types) ? meta.grant_types.filter((x): x is string => typeof x === 'string') : ['authorization_code'],
    token_endpoint_auth_method: str(meta.token_endpoint_auth_method) || 'client_secret_basic',
    scope: str(meta.scope),
    [FIRST_PARTY]: meta[FIRST_PARTY] === true,
    [MIN_ACR]: str(meta[MIN_ACR]),
    default_acr_values: Array.isArray(meta.default_acr_values) ? str(meta.default_acr_values[0]) : '',
    logo_uri: str(meta.logo_uri),
    policy_uri: str(meta.policy_uri),
    tos_uri: str(meta.tos_uri),
  };
}

/**
 * The input an error from ClientService belongs next to: its `field` when it names one (the shared
 * validation sets it), else the field its message starts with (oidc-provider's messages do: "redirect_uris
 * must …"), else the top of the form.
 */
export function fieldOfError(err: { message: string; field?: unknown }): string {
  const known = (name: string): string | undefined => {
    const base = name.split(/[.[]/)[0];
    if (base === 'response_types') return 'grant_types';
    return (FORM_FIELDS as readonly string[]).includes(base) ? base : undefined;
  };
  if (typeof err.field === 'string') return known(err.field) ?? 'form';
  const first = /^([a-z_]+)\b/.exec(err.message)?.[1];
  return (first && known(first)) || 'form';
}

/** Words for an ACR value (the configured names of Tessera's three; any other value as it is). */
export function acrLabel(value: string, names: Pick<Config['acr'], 'oneFactor' | 'mfa' | 'mfaSms'>): string {
  if (value === names.oneFactor) return 'Password only';
  if (value === names.mfa) return 'Two-step sign-in (password and any second step)';
  if (value === names.mfaSms) return 'Two-step sign-in with an SMS code';
  return value;
}

/** The choices for the minimum: none, then each ACR above one factor, in the words an admin chooses by. */
export function minimumChoices(acr: AcrModel, names: Pick<Config['acr'], 'oneFactor' | 'mfa' | 'mfaSms'>) {
  const words = (v: string) =>
    v === names.mfa ? 'Require two-step sign-in for this app' : v === names.mfaSms ? 'Require SMS for this app' : `Require ${v}`;
  return [
    { value: '', label: 'No minimum', hint: 'What the app asks for, and each user’s own two-step setting, decide.' },
    ...acr.values.filter((v) => (acr.rank(v) ?? 0) > 0).map((v) => ({
      value: v,
      label: words(v),
      hint: `${acrLabel(v, names)}, whatever the app asks for (${v}).`,
    })),
  ];
}
