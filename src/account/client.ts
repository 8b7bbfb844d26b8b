// The built-in first-party client behind /account: it only needs the IdP session (response_type=none),
// so it has no secret and no tokens.
import type { Store } from '../store/ports.ts';
import { FIRST_PARTY } from '../oidc/client-metadata.ts';

export const ACCOUNT_CLIENT_ID = 'tessera-account';

/** `product`: the brand name (BRAND_NAME): the account pages' client is named after it ("Acme ID account"). */
export async function ensureAccountClient(store: Store, issuer: string, product = 'Tessera'): Promise<void> {
  const metadata = {
    client_name: `${product} account`,
    redirect_uris: [`${issuer}/account/callback`],
    post_logout_redirect_uris: [`${issuer}/`],
    response_types: ['none'],
    grant_types: [],
    token_endpoint_auth_method: 'none',
    [FIRST_PARTY]: true,
  };
  const existing = await store.clients.find(ACCOUNT_CLIENT_ID);
  if (!existing) {
    const now = new Date();
    await store.clients.create({ clientId: ACCOUNT_CLIENT_ID, metadata, secretEncrypted: null, createdAt: now, updatedAt: now }).catch(() => {});
  } else if (JSON.stringify(existing.metadata) !== JSON.stringify(metadata)) {
    await store.clients.update(ACCOUNT_CLIENT_ID, { metadata });
  }
}
