// The built-in first-party client behind /account: it only needs the IdP session (response_type=none),
// so it has no secret and no tokens.
import type { Store } from '../store/ports.ts';
import { FIRST_PARTY } from '../oidc/client-metadata.ts';

export const ACCOUNT_CLIENT_ID = 'tessera-account';

/**
 * Writes a client Tessera itself needs (its own pages) at start: created when missing, its metadata put
 * back when it differs. An admin can't change or delete these (BUILT_IN_CLIENTS in admin/clients.ts).
 */
export async function ensureBuiltInClient(store: Store, clientId: string, metadata: Record<string, unknown>): Promise<void> {
  const existing = await store.clients.find(clientId);
  if (!existing) {
    const now = new Date();
    await store.clients.create({ clientId, metadata, secretEncrypted: null, createdAt: now, updatedAt: now }).catch(() => {});
  } else if (JSON.stringify(existing.metadata) !== JSON.stringify(metadata)) {
    await store.clients.update(clientId, { metadata });
  }
}

/**
 * The metadata of a client behind Tessera's own pages (/account, /admin): it only needs the IdP session
 * (response_type=none), so it has no secret and no tokens; it comes back to `<issuer><callbackPath>`.
 */
export function ownPagesClient(issuer: string, name: string, callbackPath: string): Record<string, unknown> {
  return {
    client_name: name,
    redirect_uris: [`${issuer}${callbackPath}`],
    post_logout_redirect_uris: [`${issuer}/`],
    response_types: ['none'],
    grant_types: [],
    token_endpoint_auth_method: 'none',
    [FIRST_PARTY]: true,
  };
}

/** `product`: the brand name (BRAND_NAME): the account pages' client is named after it ("Acme ID account"). */
export async function ensureAccountClient(store: Store, issuer: string, product = 'Tessera'): Promise<void> {
  await ensureBuiltInClient(store, ACCOUNT_CLIENT_ID, ownPagesClient(issuer, `${product} account`, '/account/callback'));
}
