// The built-in first-party client behind the admin console (/admin): like /account's, it only needs the
// IdP session (response_type=none), so it has no secret and no tokens. Its sign-ins are what the console
// sends an admin through, and its step-ups demand a second factor (src/console/access.ts).
import type { Store } from '../store/ports.ts';
import { ensureBuiltInClient, ownPagesClient } from '../account/client.ts';

export const ADMIN_CLIENT_ID = 'tessera-admin';

export async function ensureAdminClient(store: Store, issuer: string, product = 'Tessera'): Promise<void> {
  await ensureBuiltInClient(store, ADMIN_CLIENT_ID, ownPagesClient(issuer, `${product} admin console`, '/admin/callback'));
}
