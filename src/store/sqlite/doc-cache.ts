// Parsed records by id for the hot read paths (findAccount runs on every token and userinfo request:
// a row read plus the JSON revival was ~15 µs). Other processes (the admin CLI) write the same file:
// SQLite's `PRAGMA data_version` changes when another connection commits, and then everything cached
// is dropped. This connection's own writes go through set()/delete(), so they are seen at once.
// The check costs ~5 µs (it was a tenth of a refresh_token request when made on every read), so it runs
// at most every 10 ms: what the CLI changes is seen by the server within 10 ms.
import type { SqliteDb } from './index.ts';
import { copyDoc } from './schema.ts';

const MAX = 10_000;
const CHECK_EVERY_MS = 10;

/** Freezes a record and everything in it, so a caller of peek() that tried to change it would throw. */
function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const v of Object.values(value)) deepFreeze(v);
  }
  return value;
}

export class DocCache<T> {
  private readonly docs = new Map<string, T>();
  private readonly version;
  private seen: unknown = undefined;
  private checkedAt = -Infinity;

  constructor(db: SqliteDb) {
    this.version = db.prepare('PRAGMA data_version');
  }

  get(id: string): T | undefined {
    this.validate();
    const doc = this.docs.get(id);
    return doc === undefined ? undefined : copyDoc(doc);
  }

  /** The cached record itself, frozen, for callers that only read it. */
  peek(id: string): Readonly<T> | undefined {
    this.validate();
    return this.docs.get(id);
  }

  set(id: string, doc: T) {
    this.validate();
    if (this.docs.size >= MAX) this.docs.clear();
    this.docs.set(id, deepFreeze(copyDoc(doc)));
  }

  delete(id: string) {
    this.docs.delete(id);
  }

  private validate() {
    const now = Date.now();
    if (now - this.checkedAt < CHECK_EVERY_MS) return;
    this.checkedAt = now;
    const v = (this.version.get() as { data_version: number }).data_version;
    if (v !== this.seen) {
      this.seen = v;
      this.docs.clear();
    }
  }
}
