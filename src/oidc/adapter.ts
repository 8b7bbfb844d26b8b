// oidc-provider's persistence goes through the store port. Clients are the exception in shape: they
// are managed by admins (CLI / console) as ClientRecords, and handed to the provider with the secret
// decrypted in memory only.
import type { Adapter, AdapterPayload } from 'oidc-provider';
import type { Store } from '../store/ports.ts';
import type { SecretBox } from '../secrets.ts';

export function clientToProviderMetadata(
  rec: { clientId: string; metadata: Record<string, unknown>; secretEncrypted: string | null },
  box: SecretBox,
): AdapterPayload {
  const out: Record<string, unknown> = { ...rec.metadata, client_id: rec.clientId };
  if (rec.secretEncrypted) out.client_secret = box.decrypt(rec.secretEncrypted);
  return out as AdapterPayload;
}

export function createAdapterClass(store: Store, box: SecretBox) {
  return class StoreAdapter implements Adapter {
    constructor(private readonly model: string) {}

    async upsert(id: string, payload: AdapterPayload, expiresIn: number) {
      const expiresAt = expiresIn ? new Date(Date.now() + expiresIn * 1000) : null;
      await store.oidc.upsert(this.model, id, payload as Record<string, unknown>, expiresAt);
    }

    async find(id: string): Promise<AdapterPayload | undefined> {
      if (this.model === 'Client') {
        const rec = await store.clients.find(id);
        return rec ? clientToProviderMetadata(rec, box) : undefined;
      }
      return (await store.oidc.find(this.model, id)) as AdapterPayload | undefined;
    }

    async findByUserCode(userCode: string) {
      return (await store.oidc.findByUserCode(this.model, userCode)) as AdapterPayload | undefined;
    }

    async findByUid(uid: string) {
      return (await store.oidc.findByUid(this.model, uid)) as AdapterPayload | undefined;
    }

    async consume(id: string) {
      await store.oidc.consume(this.model, id);
    }

    async destroy(id: string) {
      await store.oidc.destroy(this.model, id);
    }

    async revokeByGrantId(grantId: string) {
      await store.oidc.revokeByGrantId(grantId);
    }
  };
}
