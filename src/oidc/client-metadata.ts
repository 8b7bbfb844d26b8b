// Tessera's own client metadata, carried beside RFC 7591 fields and validated by oidc-provider.
import { errors } from 'oidc-provider';
import type { AcrModel } from './acr.ts';

/** Admin-set minimum ACR: applies to every request of the client and can't be lowered by it. */
export const MIN_ACR = 'tessera_min_acr';
/** First-party clients (the admin's own apps) skip the consent page. */
export const FIRST_PARTY = 'tessera_first_party';

export function validateExtraMetadata(acr: AcrModel) {
  return (_ctx: unknown, key: string, value: unknown) => {
    if (key === MIN_ACR && value !== undefined && value !== null && (typeof value !== 'string' || acr.levelOf(value) === undefined))
      throw new errors.InvalidClientMetadata(`${MIN_ACR} must be one of ${acr.values.join(', ')}`);
    if (key === FIRST_PARTY && value !== undefined && typeof value !== 'boolean')
      throw new errors.InvalidClientMetadata(`${FIRST_PARTY} must be true or false`);
  };
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
