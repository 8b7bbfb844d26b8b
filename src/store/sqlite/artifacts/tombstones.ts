// Consumed refresh tokens, compactly (issue 12). oidc-provider consumes a refresh token when it rotates
// it and keeps it until it expires (14 days by default), so that presenting it again is seen as theft
// and revokes the grant. As full index entries these were most of the index under refresh traffic
// (~300 bytes of heap each). Once its reuse window (REFRESH_TOKEN_REUSE_SECONDS) has passed, a consumed
// token is needed only in that rare case, so it is kept as a tombstone: where its record is, when it
// was consumed and expires, and its grant, keyed by a 30-bit hash of its id (not the id itself). A
// lookup that lands on a tombstone reads the record back from the file and checks the id there.
import type { Row } from './rows.ts';
import type { Entry } from './entries.ts';

/** The grant an artifact belongs to (its id, interned), with its current entries and tombstones. */
export class GrantGroup {
  readonly entries = new Set<Entry>();
  tombstones: Set<Tombstone> | null = null;
  constructor(readonly id: string) {}
  get empty(): boolean {
    return this.entries.size === 0 && !this.tombstones?.size;
  }
}

export interface Tombstone {
  row: Row; // the row holding its upsert record, and where that record is in it
  start: number;
  end: number;
  consumedRow: Row | undefined; // the row holding its consumption record (none when the upsert carried it)
  consumed: number; // epoch seconds
  exp: number; // epoch ms
  group: GrantGroup | undefined;
}

/** The model whose consumed artifacts become tombstones. */
export const TOMBSTONED_MODEL = 'RefreshToken';

/** FNV-1a over the UTF-16 units, to 30 bits (a small integer, stored unboxed as a Map key). */
export function idHash(id: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < id.length; i++) h = Math.imul(h ^ id.charCodeAt(i), 0x01000193);
  return h & 0x3fffffff;
}

/** The tombstones of one model by id hash (several ids may share one). */
export class Tombstones {
  private readonly byHash = new Map<number, Tombstone | Tombstone[]>();
  size = 0;
  // Consumed entries in the order they were consumed, with the time (seconds) each was queued for: an
  // entry consumed again, or whose consumption was taken back, no longer matches and is passed over.
  private queue: Entry[] = [];
  private queuedAt: number[] = [];
  private head = 0;

  constructor(readonly hash: (id: string) => number = idHash) {}

  /** The tombstones whose id hashes like `id`'s (at most one of them is id's). */
  candidates(id: string): Tombstone | Tombstone[] | undefined {
    return this.size === 0 ? undefined : this.byHash.get(this.hash(id));
  }

  add(hash: number, t: Tombstone): void {
    const at = this.byHash.get(hash);
    if (at === undefined) this.byHash.set(hash, t);
    else if (Array.isArray(at)) at.push(t);
    else this.byHash.set(hash, [at, t]);
    this.size++;
  }

  delete(hash: number, t: Tombstone): void {
    const at = this.byHash.get(hash);
    if (at === t) this.byHash.delete(hash);
    else if (Array.isArray(at)) {
      at.splice(at.indexOf(t), 1);
      if (at.length === 1) this.byHash.set(hash, at[0]);
    } else return;
    this.size--;
  }

  /** Every tombstone with its hash. */
  *all(): Generator<[number, Tombstone]> {
    for (const [hash, at] of this.byHash) {
      if (Array.isArray(at)) for (const t of [...at]) yield [hash, t];
      else yield [hash, at];
    }
  }

  /** A consumption (of an entry of this model) to look at once its reuse window has passed. */
  queueConsumed(e: Entry, at: number): void {
    this.queue.push(e);
    this.queuedAt.push(at);
  }

  /**
   * The next queued entry consumed at or before `until` (seconds) that is still consumed as queued, or
   * undefined when there is none (yet).
   */
  takeDue(until: number): Entry | undefined {
    while (this.head < this.queue.length && this.queuedAt[this.head] <= until) {
      const e = this.queue[this.head];
      const at = this.queuedAt[this.head];
      this.queue[this.head++] = undefined as unknown as Entry; // let it go
      if (this.head > 1024 && this.head * 2 > this.queue.length) {
        this.queue = this.queue.slice(this.head);
        this.queuedAt = this.queuedAt.slice(this.head);
        this.head = 0;
      }
      if (e.consumed === at) return e;
    }
    return undefined;
  }
}
