// A key ring: the keys of one kind (signing, cookie, data) that are in use, newest first. Pure
// functions of the ring and the time, so every instance that reads the same ring decides the same.
//
// A rotation puts a new key first with an activation time in the future: from then on it is published
// (JWKS) or accepted (cookies, decryption), but the previous key keeps signing until every instance has
// read the new one (src/keys/live.ts reads the store every KEYS_REFRESH_SECONDS; activation is twice
// that later). When the new key activates, the previous one is retired: still published / accepted,
// no longer used to sign, and dropped once everything it could have signed has expired.

export interface KeyEntry<M> {
  /** The JWK's kid for signing keys; keyId() of the secret for cookie and data keys. */
  id: string;
  material: M;
  /** Epoch ms; 0 when unknown (a key made before rotation existed). */
  created: number;
  /** Epoch ms from which it signs / encrypts; before that it is only published / accepted. */
  activates: number;
}

/** Newest first. */
export type Ring<M> = KeyEntry<M>[];

/** The entry that signs now: the newest active one (the oldest when none is active yet). */
export function currentIndex<M>(ring: Ring<M>, now: number): number {
  const i = ring.findIndex((e) => e.activates <= now);
  return i < 0 ? ring.length - 1 : i;
}

/** Every entry, the one that signs first (oidc-provider and keygrip sign with the first), the rest in ring order. */
export function inUse<M>(ring: Ring<M>, now: number): KeyEntry<M>[] {
  const i = currentIndex(ring, now);
  return [ring[i], ...ring.slice(0, i), ...ring.slice(i + 1)];
}

/** When the entry at `index` stopped (or will stop) signing: the first activation of a newer key; null while none is newer. */
export function retiredAt<M>(ring: Ring<M>, index: number): number | null {
  const newer = ring.slice(0, index).map((e) => e.activates);
  return newer.length ? Math.min(...newer) : null;
}

/**
 * The ring without the entries retired for at least `retentionMs` (everything they signed has expired).
 * The entry that signs now is never dropped, whatever its age.
 */
export function prune<M>(ring: Ring<M>, now: number, retentionMs: number): Ring<M> {
  const current = currentIndex(ring, now);
  return ring.filter((_, i) => {
    if (i <= current) return true;
    const retired = retiredAt(ring, i);
    return retired === null || retired + retentionMs > now;
  });
}

/** The ring with `material` first, activating `delayMs` from now. */
export function rotate<M>(ring: Ring<M>, id: string, material: M, now: number, delayMs: number): Ring<M> {
  return [{ id, material, created: now, activates: now + delayMs }, ...ring];
}

/** Same ids in the same order (what a consumer would see changed). */
export function sameOrder<M>(a: readonly KeyEntry<M>[], b: readonly KeyEntry<M>[]): boolean {
  return a.length === b.length && a.every((e, i) => e.id === b[i].id);
}
