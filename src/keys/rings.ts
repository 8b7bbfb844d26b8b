// Reading and changing key rings in the store. Every change is a compare-and-set on the document's
// version (KeyRepo.set), retried from a fresh read: two instances pruning at once, or the CLI rotating
// while a server prunes, never undo each other's change.
import type { KeyRepo } from '../store/ports.ts';
import type { KeyKind } from './kinds.ts';
import type { Ring } from './ring.ts';

export class KeyRingError extends Error {}

const MAX_ATTEMPTS = 20;

export class KeyRings {
  constructor(private readonly repo: KeyRepo) {}

  /** The stored ring and its version; null when the kind has no document yet. */
  async read<M>(kind: KeyKind<M>): Promise<{ ring: Ring<M>; version: number } | null> {
    const stored = await this.repo.get<unknown>(kind.storeName);
    if (!stored) return null;
    const ring = kind.parse(stored.value);
    // Refusing beats replacing: a new key here would end every session or make every secret unreadable.
    if (!ring) throw new KeyRingError(`the stored ${kind.name} keys ("${kind.storeName}") are not in a shape this version knows`);
    return { ring, version: stored.version };
  }

  /** The stored ring, made with one new key (active at once) when there is none. */
  async ensure<M>(kind: KeyKind<M>, now: number): Promise<Ring<M>> {
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const found = await this.read(kind);
      if (found) return found.ring;
      const { id, material } = kind.make();
      // Nobody has any key yet: nothing to wait for before using it.
      const ring: Ring<M> = [{ id, material, created: now, activates: now }];
      if (await this.repo.set(kind.storeName, { entries: ring }, null)) return ring;
    }
    throw new KeyRingError(`could not create the ${kind.name} keys: the store kept changing`);
  }

  /**
   * Applies `change` to the stored ring (made first if absent) and stores the result, retrying from a
   * fresh read when another writer got there first. `change` returns null for "nothing to change".
   */
  async change<M>(kind: KeyKind<M>, now: number, change: (ring: Ring<M>) => Ring<M> | null): Promise<{ ring: Ring<M>; changed: boolean }> {
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      let found = await this.read(kind);
      if (!found) {
        await this.ensure(kind, now);
        found = await this.read(kind);
        if (!found) continue;
      }
      const next = change(found.ring);
      if (!next) return { ring: found.ring, changed: false };
      if (!next.length) throw new KeyRingError(`refusing to store an empty set of ${kind.name} keys`);
      if (await this.repo.set(kind.storeName, { entries: next }, found.version)) return { ring: next, changed: true };
    }
    throw new KeyRingError(`could not change the ${kind.name} keys: the store kept changing`);
  }
}
