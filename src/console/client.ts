// The built-in first-party client behind the admin console (/admin): like /account's, it only needs the
// IdP session (response_type=none), so it has no secret and no tokens. Its sign-ins are what the console
// sends an admin through, and its step-ups demand a second factor (src/console/access.ts).
import type { Store } from '../store/ports.ts';
import { FIRST_PARTY } from '../oidc/client-metadata.ts';
import { ensureBuiltInClient } from '../account/client.ts';

export const ADMIN_CLIENT_ID = 'tessera-admin';

export async function ensureAdminClient(store: Store, issuer: string, product = 'Tessera'): Promise<void> {
  await ensureBuiltInClient(store, ADMIN_CLIENT_ID, {
    client_name: `${product} admin console`,
    redirect_uris: [`${issuer}/admin/callback`],
    post_logout_redirect_uris: [`${issuer}/`],
    response_types: ['none'],
    grant_types: [],
    token_endpoint_auth_method: 'none',
    [FIRST_PARTY]: true,
  });
}
