// oidc-provider's persistence goes through the store port. Clients are the exception in shape: they
// are managed by admins (CLI / console) as ClientRecords, and handed to the provider with the secret
// decrypted in memory only.
import type { Adapter, AdapterPayload } from 'oidc-provider';
import type { Store } from '../store/ports.ts';
import type { SecretBox } from '../secrets.ts';

export function clientToProviderMetadata(
  rec: { clientId: string; metadata: Record<string, unknown>; secretEncrypted: string | null },
  box: Pick<SecretBox, 'decrypt'>,
): AdapterPayload {
  const out: Record<string, unknown> = { ...rec.metadata, client_id: rec.clientId };
  if (rec.secretEncrypted) out.client_secret = box.decrypt(rec.secretEncrypted);
  return out as AdapterPayload;
}

export function createAdapterClass(store: Store, box: SecretBox) {
  // Every token request looks its client up, and AES-GCM-decrypting the secret was ~15 µs of it (bench/).
  // A ciphertext always decrypts to the same secret, so the result is kept by ciphertext: an update or a
  // rotation stores a new ciphertext and is seen at once. Bounded; cleared when full.
  const secrets = new Map<string, string>();
  const decryptingBox: Pick<SecretBox, 'decrypt'> = {
    decrypt(ciphertext: string): string {
      let plain = secrets.get(ciphertext);
      if (plain === undefined) {
        plain = box.decrypt(ciphertext);
        if (secrets.size >= 1000) secrets.clear();
        secrets.set(ciphertext, plain);
      }
      return plain;
    },
  };
  // Plain functions handing on the store's promises (no async wrappers): each promise costs an async
  // hook under oidc-provider's AsyncLocalStorage, and the token path makes many of these calls.
  type Found = Promise<AdapterPayload | undefined>;
  return class StoreAdapter implements Adapter {
    constructor(private readonly model: string) {}

    upsert(id: string, payload: AdapterPayload, expiresIn: number) {
      const expiresAt = expiresIn ? new Date(Date.now() + expiresIn * 1000) : null;
      return store.oidc.upsert(this.model, id, payload as Record<string, unknown>, expiresAt);
    }

    find(id: string): Found {
      if (this.model === 'Client') return store.clients.find(id).then((rec) => (rec ? clientToProviderMetadata(rec, decryptingBox) : undefined));
      return store.oidc.find(this.model, id) as Found;
    }

    findByUserCode(userCode: string) {
      return store.oidc.findByUserCode(this.model, userCode) as Found;
    }

    findByUid(uid: string) {
      return store.oidc.findByUid(this.model, uid) as Found;
    }

    consume(id: string) {
      return store.oidc.consume(this.model, id);
    }

    destroy(id: string) {
      return store.oidc.destroy(this.model, id);
    }

    revokeByGrantId(grantId: string) {
      return store.oidc.revokeByGrantId(grantId);
    }
  };
}
