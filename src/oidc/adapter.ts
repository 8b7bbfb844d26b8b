// oidc-provider's persistence goes through the store port. Clients are the exception in shape: they
// are managed by admins (CLI / console) as ClientRecords, and handed to the provider with the secret
// decrypted in memory only.
//
// A store that can't be reached or written reaches oidc-provider as its `temporarily_unavailable` (503),
// not as an error it would answer with a 500 (./store-errors.ts); every write marks its request.
import type { Adapter, AdapterPayload } from 'oidc-provider';
import type { Store } from '../store/ports.ts';
import type { SecretBox } from '../secrets.ts';
import { noteWrite, providerErrors } from './store-errors.ts';

export function clientToProviderMetadata(
  rec: { clientId: string; metadata: Record<string, unknown>; secretEncrypted: string | null },
  box: Pick<SecretBox, 'decrypt'>,
): AdapterPayload {
  const out: Record<string, unknown> = { ...rec.metadata, client_id: rec.clientId };
  if (rec.secretEncrypted) out.client_secret = box.decrypt(rec.secretEncrypted);
  return out as AdapterPayload;
}

export function createAdapterClass(store: Store, box: SecretBox, onUnavailable?: (err: unknown) => void) {
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
  // hook under oidc-provider's AsyncLocalStorage, and the token path makes many of these calls. Each call
  // adds one `.then` for the failure (and a try for a store that throws at once, as the embedded one
  // does for a failed read of its file).
  type Found = Promise<AdapterPayload | undefined>;
  const failed = providerErrors(onUnavailable);
  const guard = <T>(call: () => Promise<T>): Promise<T> => {
    let p: Promise<T>;
    try {
      p = call();
    } catch (err) {
      return failed(err);
    }
    return p.then(undefined, failed);
  };
  return class StoreAdapter implements Adapter {
    constructor(private readonly model: string) {}

    upsert(id: string, payload: AdapterPayload, expiresIn: number) {
      const expiresAt = expiresIn ? new Date(Date.now() + expiresIn * 1000) : null;
      noteWrite();
      return guard(() => store.oidc.upsert(this.model, id, payload as Record<string, unknown>, expiresAt));
    }

    find(id: string): Found {
      if (this.model === 'Client') return guard(() => store.clients.find(id).then((rec) => (rec ? clientToProviderMetadata(rec, decryptingBox) : undefined)));
      return guard(() => store.oidc.find(this.model, id) as Found);
    }

    findByUserCode(userCode: string) {
      return guard(() => store.oidc.findByUserCode(this.model, userCode) as Found);
    }

    findByUid(uid: string) {
      return guard(() => store.oidc.findByUid(this.model, uid) as Found);
    }

    consume(id: string) {
      noteWrite();
      return guard(() => store.oidc.consume(this.model, id));
    }

    destroy(id: string) {
      noteWrite();
      return guard(() => store.oidc.destroy(this.model, id));
    }

    revokeByGrantId(grantId: string) {
      noteWrite();
      return guard(() => store.oidc.revokeByGrantId(grantId));
    }
  };
}
