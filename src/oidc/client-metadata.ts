// Tessera's own client metadata, carried beside RFC 7591 fields and validated by oidc-provider.
import { errors } from 'oidc-provider';
import type { AcrModel } from './acr.ts';

/** Admin-set minimum ACR: applies to every request of the client and can't be lowered by it. */
export const MIN_ACR = 'tessera_min_acr';
/** First-party clients (the admin's own apps) skip the consent page. Nothing else: it grants no token access. */
export const FIRST_PARTY = 'tessera_first_party';
/**
 * Admin-granted: the client may introspect tokens issued to any client (an API gateway, a resource
 * server). Only for a confidential client; never implied by FIRST_PARTY.
 */
export const INTROSPECT_ANY = 'tessera_introspect_any';
/**
 * Set only from the CLI: the client may get an access token with ADMIN_SCOPE from the client-credentials
 * grant and use the admin API (/admin/api). Only a confidential client whose one grant is
 * client_credentials: no user ever signs in through it.
 */
export const ADMIN_API = 'tessera_admin_api';
/** The scope of the admin API; only clients marked ADMIN_API may have it (src/admin-api/). */
export const ADMIN_SCOPE = 'tessera:admin';

const scopeHas = (scope: unknown, wanted: string) => typeof scope === 'string' && scope.split(' ').includes(wanted);

/**
 * What a client's metadata may be on this server, beyond what oidc-provider checks itself: whether http
 * redirect URIs off loopback are refused (production), and the ACR values known here. Registered with the
 * provider (createProvider) so every ClientService made over that provider validates the same way.
 */
export interface ClientPolicy {
  production: boolean;
  acrValues: readonly string[];
}
const policies = new WeakMap<object, ClientPolicy>();
export function registerClientPolicy(provider: object, policy: ClientPolicy): void {
  policies.set(provider, policy);
}
export function clientPolicyOf(provider: object): ClientPolicy | undefined {
  return policies.get(provider);
}

export function validateExtraMetadata(acr: AcrModel) {
  return (
    _ctx: unknown,
    key: string,
    value: unknown,
    metadata: { token_endpoint_auth_method?: unknown; grant_types?: unknown; response_types?: unknown; scope?: unknown },
  ) => {
    if (key === MIN_ACR && value !== undefined && value !== null && (typeof value !== 'string' || acr.rank(value) === undefined))
      throw new errors.InvalidClientMetadata(`${MIN_ACR} must be one of ${acr.values.join(', ')}`);
    if (key === FIRST_PARTY && value !== undefined && typeof value !== 'boolean')
      throw new errors.InvalidClientMetadata(`${FIRST_PARTY} must be true or false`);
    if (key === INTROSPECT_ANY && value !== undefined) {
      if (typeof value !== 'boolean') throw new errors.InvalidClientMetadata(`${INTROSPECT_ANY} must be true or false`);
      if (value && metadata.token_endpoint_auth_method === 'none')
        throw new errors.InvalidClientMetadata(`${INTROSPECT_ANY} needs a confidential client (token_endpoint_auth_method other than none)`);
    }
    // Checked on every load of the client too (the provider validates stored metadata): a record changed
    // behind Tessera's back can't carry the admin scope without the mark.
    if (key === ADMIN_API) {
      if (value !== undefined && typeof value !== 'boolean') throw new errors.InvalidClientMetadata(`${ADMIN_API} must be true or false`);
      if (value !== true && scopeHas(metadata.scope, ADMIN_SCOPE))
        throw new errors.InvalidClientMetadata(`scope "${ADMIN_SCOPE}" is only for a client marked ${ADMIN_API} (set from the CLI)`);
      if (value === true) {
        if (metadata.token_endpoint_auth_method === 'none')
          throw new errors.InvalidClientMetadata(`${ADMIN_API} needs a confidential client (token_endpoint_auth_method other than none)`);
        const grants = Array.isArray(metadata.grant_types) ? metadata.grant_types : [];
        if (grants.length !== 1 || grants[0] !== 'client_credentials')
          throw new errors.InvalidClientMetadata(`${ADMIN_API} needs grant_types ["client_credentials"] and no other grant: no user signs in through an admin API client`);
        if (Array.isArray(metadata.response_types) && metadata.response_types.length)
          throw new errors.InvalidClientMetadata(`${ADMIN_API} needs response_types []`);
      }
    }
  };
}

/**
 * features.introspection.allowedPolicy: only a client that authenticated may introspect (a public
 * client's client_id proves nothing about who is asking; the built-in tessera-account client is public),
 * and it sees its own tokens only, unless an admin granted it INTROSPECT_ANY. Reads the client's cached
 * metadata only: no store access per introspection.
 */
export function mayIntrospect(
  client: { clientId: string; clientAuthMethod?: string; metadata(): Record<string, unknown> },
  token: { clientId?: string },
): boolean {
  if (!client.clientAuthMethod || client.clientAuthMethod === 'none') return false;
  return token.clientId === client.clientId || clientMeta(client)[INTROSPECT_ANY] === true;
}

// oidc-provider builds metadata() afresh on each call (every property re-cased); a Client instance never
// changes (an update makes a new instance), so each is built once.
const metaOf = new WeakMap<object, Record<string, unknown>>();

/** A client's metadata with snake_case keys (oidc-provider keeps camelCase internally). */
export function clientMeta(client: { metadata(): Record<string, unknown> }): Record<string, unknown> {
  let meta = metaOf.get(client);
  if (!meta) metaOf.set(client, (meta = client.metadata()));
  return meta;
}
