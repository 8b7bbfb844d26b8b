// The development demo client: its secret is printed in the README, so it may exist only while the
// demo client is enabled (development on a loopback issuer, or DEMO_CLIENT=true). A store that once ran
// with it (say a server first started without NODE_ENV) would otherwise keep accepting that secret.
import type { ClientService } from './clients.ts';
import type { Store } from '../store/ports.ts';
import type { SecretBox } from '../secrets.ts';
import type { Logger } from '../log.ts';
import { constantTimeEqual } from '../secrets.ts';

export async function syncDemoClient(opts: {
  enabled: boolean;
  definition: Record<string, unknown> | null;
  clients: ClientService;
  store: Store;
  box: SecretBox;
  log: Logger;
}): Promise<void> {
  const { enabled, definition, clients, store, box, log } = opts;
  if (!definition) return;
  if (enabled) return clients.ensure(definition);
  const id = String(definition.client_id);
  const published = typeof definition.client_secret === 'string' ? definition.client_secret : null;
  const stored = await store.clients.find(id);
  if (!stored?.secretEncrypted || !published) return;
  let secret: string | null = null;
  try {
    secret = box.decrypt(stored.secretEncrypted);
  } catch {
    return; // not readable with this data key: not the secret this process would have stored
  }
  // Only the client that still has the published secret: an admin's own client of that name stays.
  if (!constantTimeEqual(secret, published)) return;
  await clients.delete(id);
  log.warn({ event: 'demo_client.removed', clientId: id }, `Removed the demo client "${id}": its secret is published and the demo client is off here (set DEMO_CLIENT=true to keep it)`);
}
