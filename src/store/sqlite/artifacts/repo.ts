// oidc-provider's artifacts (sessions, grants, codes, tokens, ...) in the embedded store: an append log
// of commits in the file (log-file.ts), looked up through an index in memory (memory-index.ts), built by
// replaying the log at start (replay.ts). A token request's writes, with those of the requests that ran
// beside it, are one row and one statement (group-commit.ts). One process owns the log (claim(), an OS
// lock: instance-lock.ts; the embedded store serves one instance, scale-out uses MongoDB), so the memory
// index always says what the file holds: a failed commit takes back its own changes (journal.ts).
//
// Reads see staged writes at once (a staged record is kept on its entry until its commit). Expired
// artifacts drop out at purge time and at replay; consumed refresh tokens past their reuse window are
// kept as tombstones (tombstones.ts).
import type { OidcArtifactRepo } from '../../ports.ts';
import type { SqliteDb } from '../index.ts';
import { Journal } from './journal.ts';
import { RowRefs, type Row } from './rows.ts';
import { MemoryIndex, type ModelIndex } from './memory-index.ts';
import { entryFor, setOwners, type Entry } from './entries.ts';
import { TOMBSTONED_MODEL, type GrantGroup, type Tombstone } from './tombstones.ts';
import { upsertRecord, consumeRecord, removeRecord, isUpsertOf, idOf } from './records.ts';
import { LogFile } from './log-file.ts';
import { RowArena } from './row-arena.ts';
import { RecentRows } from './recent-rows.ts';
import { ReadCache } from './read-cache.ts';
import { PayloadReader } from './reader.ts';
import { GroupCommit, type Batch } from './group-commit.ts';
import { InstanceLock } from './instance-lock.ts';
import { replay } from './replay.ts';

export interface ArtifactLogOptions {
  /** Told about each failed commit (the requests that wrote into it fail with it). */
  onFlushError?: (err: Error) => void;
  /**
   * How long a consumed refresh token stays a full index entry (REFRESH_TOKEN_REUSE_SECONDS): the reuse
   * interval reads it and its successor within it. After it, a tombstone (tombstones.ts).
   */
  refreshReuseSeconds?: number;
  /** The tombstones' id hash: tests pass a poor one to see collisions handled. */
  tombstoneHash?: (id: string) => number;
}

const DONE: Promise<void> = Promise.resolve();
const NONE: readonly number[] = [];

/** A tombstone found by id, with its record (read to check the id). */
interface Found {
  t: Tombstone;
  hash: number;
  record: string;
}

export class SqliteArtifactLog implements OidcArtifactRepo {
  private readonly journal = new Journal();
  private readonly refs = new RowRefs(this.journal);
  private readonly index: MemoryIndex;
  private readonly log: LogFile;
  private readonly arena = new RowArena();
  private readonly recent = new RecentRows();
  private readonly cache = new ReadCache();
  private readonly reader: PayloadReader;
  private readonly commits: GroupCommit;
  private readonly reuseSeconds: number;
  private lastRow = 0;
  private loaded = false;
  private lock: InstanceLock | null = null;

  constructor(
    db: SqliteDb,
    private readonly file: string,
    opts: ArtifactLogOptions = {},
  ) {
    this.index = new MemoryIndex(this.journal, this.refs, opts.tombstoneHash);
    this.log = new LogFile(db);
    this.reader = new PayloadReader(this.log, this.cache);
    this.reuseSeconds = opts.refreshReuseSeconds ?? 10;
    this.commits = new GroupCommit(
      () => (this.refs.pending = { seq: ++this.lastRow, live: 0 }),
      (batch) => this.write(batch),
      opts.onFlushError ?? (() => {}),
    );
  }

  /**
   * Called by the server before it takes requests: takes the instance lock (so a second server on the
   * same file fails at start with a clear message, not with diverging indexes later) and loads the index.
   * The CLI never claims: it doesn't touch artifacts.
   */
  claim(): void {
    this.commits.deferred = true;
    if (!this.lock && this.file !== ':memory:') this.lock = InstanceLock.take(this.file);
    this.load();
  }

  /** Commits what is staged and releases the lock. */
  close(): void {
    this.commits.flush();
    this.lock?.release();
    this.lock = null;
  }

  // ---- the port ------------------------------------------------------------------------------------

  durably<T>(fn: () => Promise<T>): Promise<T> {
    return this.commits.durably(fn);
  }

  upsert(model: string, id: string, payload: Record<string, unknown>, expiresAt: Date | null): Promise<void> {
    this.load();
    const b = this.commits.open();
    const index = this.index.model(model);
    const exp = expiresAt ? expiresAt.getTime() : null;
    // What this replaces is superseded at replay by the new record: that holds only while the new
    // record's row exists, so its row is pinned to the replaced one's (were the new artifact removed
    // later and its row freed, a replay would bring the old version back).
    const old = index.byId.get(id);
    let replaced: Row | undefined;
    if (old) {
      this.index.forget(index, old);
      replaced = old.row;
    } else if (index.tombstones) {
      const found = this.tombstoneOf(index, id);
      if (found) {
        this.index.forgetTombstone(index, found.t, found.hash);
        replaced = found.t.row;
      }
    }
    if (replaced && replaced !== b.row && replaced.live > 0) this.refs.pin(b.row, replaced);
    const record = upsertRecord(model, id, exp, payload);
    const line = b.lines.push(record) - 1;
    const entry = entryFor(model, id, b.row, -1, -1, exp, payload);
    if (index.owned) setOwners(entry, payload);
    entry.cached = record; // parsed only if read back
    b.staged.push(entry);
    b.stagedLines.push(line);
    this.index.link(index, entry);
    return this.commits.settled(b);
  }

  // Plain functions returning settled promises, not async ones: oidc-provider's AsyncLocalStorage makes
  // every promise pay an async hook, and a refresh makes a dozen calls here.
  find(model: string, id: string) {
    this.load();
    const index = this.index.models.get(model);
    const entry = index?.byId.get(id);
    if (entry !== undefined || !index?.tombstones) return Promise.resolve(this.reader.read(entry));
    const found = this.tombstoneOf(index, id);
    return Promise.resolve(found ? this.reader.tombstone(found.t, found.record) : undefined);
  }

  findByUid(model: string, uid: string) {
    this.load();
    return Promise.resolve(this.reader.read(this.index.models.get(model)?.byUid.get(uid)));
  }

  findByUserCode(model: string, userCode: string) {
    this.load();
    return Promise.resolve(this.reader.read(this.index.models.get(model)?.byUserCode.get(userCode)));
  }

  findByGrantId(model: string, grantId: string): Promise<Record<string, unknown>[]> {
    this.load();
    const group = this.index.grants.get(grantId);
    const found: Record<string, unknown>[] = [];
    if (group) {
      for (const e of group.entries) {
        const payload = e.model === model ? this.reader.read(e) : undefined;
        if (payload) found.push(payload);
      }
      if (model === TOMBSTONED_MODEL && group.tombstones) {
        for (const t of group.tombstones) {
          const payload = this.reader.tombstone(t);
          if (payload) found.push(payload);
        }
      }
    }
    return Promise.resolve(found);
  }

  consume(model: string, id: string): Promise<void> {
    this.load();
    const index = this.index.models.get(model);
    const target = index?.byId.get(id) ?? (index?.tombstones ? this.tombstoneOf(index, id)?.t : undefined);
    if (!index || !target) return DONE;
    // Kept in the entry and merged into what is read: the upsert record stays as it was written.
    const b = this.commits.open();
    const at = Math.floor(Date.now() / 1000);
    b.lines.push(consumeRecord(model, id, at));
    this.index.consume(index, target, at, b.row);
    return this.commits.settled(b);
  }

  destroy(model: string, id: string): Promise<void> {
    this.load();
    const index = this.index.models.get(model);
    if (!index) return DONE;
    const entry = index.byId.get(id);
    if (entry) {
      const b = this.commits.open();
      this.remove(b, index, entry);
      return this.commits.settled(b);
    }
    const found = index.tombstones ? this.tombstoneOf(index, id) : undefined;
    if (!found) return DONE;
    const b = this.commits.open();
    this.removeTombstone(b, index, found.t, found.hash, id);
    return this.commits.settled(b);
  }

  revokeByGrantId(grantId: string): Promise<void> {
    this.load();
    const group = this.index.grants.get(grantId);
    if (!group) return DONE;
    const b = this.commits.open();
    this.removeGroup(b, group, () => true);
    return this.commits.settled(b);
  }

  revokeAccount(accountId: string, opts: { keepSessionUid?: string } = {}): Promise<{ sessions: number; grants: number }> {
    this.load();
    const owned = this.index.accounts.get(accountId);
    const counts = { sessions: 0, grants: 0 };
    if (!owned) return Promise.resolve(counts);
    const keep = opts.keepSessionUid;
    const now = Date.now();
    let b: Batch | null = null; // opened by the first removal
    const batch = () => (b ??= this.commits.open());
    // An entry may be reached twice (an Interaction of the account that also carries a revoked grantId).
    const drop = (e: Entry) => {
      const index = this.index.model(e.model);
      if (index.byId.get(e.id) !== e) return false;
      this.remove(batch(), index, e);
      return e.exp > now; // an expired one is removed too, but didn't count
    };
    for (const e of [...owned]) {
      if (e.model === 'Session') {
        if (keep === undefined || e.sessionUid !== keep) if (drop(e)) counts.sessions++;
      } else if (e.model === 'Interaction') {
        if (keep === undefined || e.sessionUid !== keep) drop(e);
      } else if (e.model === 'Grant') {
        // The grant first, then what it issued (a token checks its grant when used).
        if (drop(e)) counts.grants++;
        const group = this.index.grants.get(e.id);
        // ...but not the kept browser's interaction in progress (it continues, e.g. after a reset; resuming
        // it makes a new grant).
        if (group) this.removeGroup(batch(), group, (m) => keep === undefined || m.model !== 'Interaction' || m.sessionUid !== keep);
      } else drop(e); // TesseraLogin
    }
    return b ? this.commits.settled(b).then(() => counts) : Promise.resolve(counts);
  }

  findByAccount(model: 'Session' | 'Grant', accountId: string): Promise<Record<string, unknown>[]> {
    this.load();
    const found: Record<string, unknown>[] = [];
    for (const e of this.index.accounts.get(accountId) ?? []) {
      if (e.model !== model) continue;
      const payload = this.reader.read(e);
      if (payload) found.push(payload);
    }
    return Promise.resolve(found);
  }

  /** Drops every artifact expired at `now` (reads already ignore them; this frees their rows). */
  purgeExpired(now: number): void {
    this.load();
    this.commits.open();
    for (const index of this.index.models.values()) {
      for (const entry of index.byId.values()) if (entry.exp <= now) this.index.forget(index, entry); // replay skips them too
      if (index.tombstones) for (const [hash, t] of index.tombstones.all()) if (t.exp <= now) this.index.forgetTombstone(index, t, hash);
    }
    this.commits.flush();
  }

  /** What the memory index holds: full entries, and consumed refresh tokens kept as tombstones. */
  memoryCounts(): { entries: number; tombstones: number } {
    this.load();
    let entries = 0;
    let tombstones = 0;
    for (const index of this.index.models.values()) {
      entries += index.byId.size;
      tombstones += index.tombstones?.size ?? 0;
    }
    return { entries, tombstones };
  }

  // ---- removal -------------------------------------------------------------------------------------

  /** A removal record cancels the upsert at replay: it is kept as long as the upsert's row is. */
  private remove(b: Batch, index: ModelIndex, e: Entry) {
    b.lines.push(removeRecord(e.model, e.id));
    this.index.forget(index, e);
    if (e.row !== b.row && e.row.live > 0) this.refs.pin(b.row, e.row);
  }

  private removeTombstone(b: Batch, index: ModelIndex, t: Tombstone, hash: number, id: string) {
    b.lines.push(removeRecord(index.model, id));
    this.index.forgetTombstone(index, t, hash);
    if (t.row.live > 0) this.refs.pin(b.row, t.row);
  }

  /** Every artifact of a grant that `which` picks; tombstones (refresh tokens) always. */
  private removeGroup(b: Batch, group: GrantGroup, which: (e: Entry) => boolean) {
    for (const m of [...group.entries]) if (group.entries.has(m) && which(m)) this.remove(b, this.index.model(m.model), m);
    if (!group.tombstones?.size) return;
    const index = this.index.model(TOMBSTONED_MODEL);
    for (const t of [...group.tombstones]) {
      if (!group.tombstones.has(t)) continue;
      const id = idOf(this.reader.record(t)); // rare: a revoked grant with rotated refresh tokens
      this.removeTombstone(b, index, t, index.tombstones!.hash(id), id);
    }
  }

  // ---- tombstones ----------------------------------------------------------------------------------

  /** The tombstone of `id`, if it has one: a hash match is checked against its record in the file. */
  private tombstoneOf(index: ModelIndex, id: string): Found | undefined {
    const candidates = index.tombstones!.candidates(id);
    if (candidates === undefined) return undefined;
    for (const t of Array.isArray(candidates) ? [...candidates] : [candidates]) {
      const record = this.reader.record(t);
      if (isUpsertOf(record, index.model, id)) return { t, hash: index.tombstones!.hash(id), record };
    }
    return undefined;
  }

  /** Consumed refresh tokens whose reuse window has passed become tombstones (between commits only). */
  private bury() {
    const index = this.index.models.get(TOMBSTONED_MODEL);
    if (index) this.index.bury(index, Math.floor(Date.now() / 1000) - this.reuseSeconds);
  }

  // ---- the commit ----------------------------------------------------------------------------------

  /** Writes a batch: its row (if anything in it is still needed) and the deletion of dead rows. */
  private write(b: Batch) {
    const row: Row = b.row;
    this.refs.pending = null;
    const dead = this.refs.takeDead();
    const bytes = b.lines.length > 0 && row.live > 0 ? this.arena.encode(b.lines) : null;
    try {
      this.log.commit(row.seq, bytes ? bytes.row : null, dead.length ? dead.map((r) => r.seq) : NONE);
    } catch (err) {
      // The memory index shows the failed writes: take back exactly those. Rows they made dead are
      // deleted with the next commit, unless the undo brought them back.
      this.journal.undo();
      this.refs.restoreDead(dead);
      this.bury();
      throw err;
    }
    this.journal.clear();
    if (bytes) {
      // The staged records are in the row now: entries read them from its bytes (a record read twice
      // meanwhile is cached parsed, and stays).
      const { staged, stagedLines } = b;
      for (let i = 0; i < staged.length; i++) {
        const e = staged[i];
        e.start = bytes.starts[stagedLines[i]];
        e.end = bytes.starts[stagedLines[i] + 1] - 1;
        if (typeof e.cached === 'string') e.cached = undefined;
      }
      this.recent.add(row, bytes.row, bytes.ascii);
    }
    this.cache.age();
    this.bury();
  }

  /** Builds the memory index by replaying the log (first use). */
  private load() {
    if (this.loaded) return;
    this.journal.recording = false;
    try {
      this.lastRow = replay(this.log, this.index, this.refs, Date.now());
    } catch (err) {
      this.index.clear(); // a log that can't be read now is read again, whole, on the next use
      throw err;
    } finally {
      this.refs.replaying = false;
      this.journal.recording = true;
    }
    this.loaded = true;
    this.bury();
  }
}
