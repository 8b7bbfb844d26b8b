// oidc-provider's artifacts (sessions, grants, codes, tokens, ...) in the embedded store.
//
// Why not a table with a row per artifact: every token request writes one to three artifacts, and a
// token id is random, so each INSERT into a table keyed by (model, id) lands on a random B-tree page,
// plus a random page of the grant index, and every touched page goes to the WAL at commit. Measured
// here (bench/, issue #4) that was ~45 µs per token write, a third of a client_credentials request;
// a row per artifact in an append-only table still cost ~7 µs per statement plus the commit.
//
// So the table is a log of commits: one row per commit, holding that commit's records as JSON lines
// (an upsert, a consumption or a removal). An insert touches the last pages only, and a refresh's three
// writes, with those of the requests that ran beside it, are one statement. The lookups live in memory
// (per model: id, uid and user code → entry, which knows its row and line; grant → entries; account →
// the sessions, grants, interactions and pending sign-ins it owns, for revokeAccount), built by
// replaying the log at start. One process owns the log (claim(): an OS lock on `<file>.lock` that dies
// with the process; the embedded store serves one instance, scale-out uses MongoDB), so the memory
// index always says what the file holds.
//
// A row is deleted once nothing in it is current: every record that a live artifact still needs holds
// a reference on its row (a removal record holds one while the row of the upsert it cancels remains).
// Expired artifacts drop out at purge time and at replay.
//
// Writes are group-committed: everything written in one event-loop turn and the next is one transaction
// at the end of the next turn, and a write's promise resolves only after that COMMIT. In the server
// (claim()), writes return at once instead and each request waits for the commits in durably() just
// before its response goes out (app.ts wraps every request in it). Either way a response that hands out
// a token is sent after the token is on disk (WAL, synchronous = NORMAL). Reads see staged writes at once
// (a staged record's JSON line is kept on its entry until its commit).
//
// A commit row is written as UTF-8 bytes (a BLOB; rows of older versions are TEXT and read as such), and
// the bytes of the last few megabytes of commits stay in memory as Buffers, outside V8's heap: what was
// just written (a code, a rotated refresh token, a session) is read back without a SQLite read (~7 µs for
// a 6 KB row, measured), and the young-generation GC doesn't copy it (as JS strings these records were
// most of what survived each scavenge in the refresh benchmark, bench/).
import fs from 'node:fs';
import Database from 'libsql';
import type { OidcArtifactRepo } from '../ports.ts';
import { isOwnedModel, ownersOf } from '../owners.ts';
import type { SqliteDb } from './index.ts';
import { copyDoc as copy } from './schema.ts';

/** A commit row, with how many current records (or pinned removals) it holds. */
interface Row {
  seq: number;
  live: number;
  /** Rows holding removal records that must outlive this one (it holds the upserts they cancel). */
  pins?: Row[];
  /** The row's bytes, while it is among the recent commits (RecentRows), and whether they are all ASCII. */
  recent?: Buffer;
  ascii?: boolean;
  /** Written by an older version as TEXT: its entries' places are in characters, not bytes. */
  text?: boolean;
}

/**
 * An artifact in the index. Its payload comes from what it has cached, or else from its row. Entries
 * are the values of every map: no (model, id) string key is built and hashed on each call.
 */
interface Entry {
  model: string;
  id: string;
  row: Row; // the commit row holding the current upsert record
  start: number; // where its line is in the row: bytes (a BLOB row) or characters (an older TEXT row)
  end: number;
  exp: number; // epoch ms; Infinity = no expiry
  grantId?: string;
  uid?: string;
  userCode?: string;
  // Only on the models an account owns (OWNED_MODELS, ../owners.ts; never tokens, so the token path pays
  // nothing): the account(s) it belongs to, and its browser session (uid) for revokeAccount's keepSessionUid.
  accountId?: string;
  loginAccountId?: string; // an Interaction whose login result names another account than its session
  sessionUid?: string;
  consumed?: number; // epoch seconds
  consumedRow?: Row; // the row holding the consumption record
  /**
   * Until its commit, the upsert record's JSON line (the row doesn't exist yet). Else, while the entry is
   * among the recently read: the line as read from its row, or, once read twice, its payload as parsed (a
   * copy is cheaper than a parse: measured ~0.8 against ~1.6 µs).
   */
  cached?: string | Record<string, unknown>;
  cachedIn?: number; // the cache generation that holds it
  readBefore: boolean;
}

/** One line of a commit row. */
type LogRecord =
  | { o: 'u'; m: string; i: string; e: number | null; p: Record<string, unknown> }
  | { o: 'c'; m: string; i: string; c: number }
  | { o: 'd'; m: string; i: string };

/**
 * The bytes of the most recent commit rows, up to a budget, on their rows. At ~100 logins/s that is
 * several seconds of artifacts: codes, sessions and interactions are read back within those.
 */
class RecentRows {
  private static readonly BUDGET = 4 * 1024 * 1024;
  private rows: Row[] = [];
  private head = 0;
  private bytes = 0;

  add(row: Row, bytes: Buffer) {
    row.recent = bytes;
    this.rows.push(row);
    this.bytes += bytes.length;
    while (this.bytes > RecentRows.BUDGET) {
      const oldest = this.rows[this.head++];
      this.bytes -= oldest.recent!.length;
      oldest.recent = undefined;
    }
    if (this.head > 1024 && this.head * 2 > this.rows.length) {
      this.rows = this.rows.slice(this.head);
      this.head = 0;
    }
  }

  clear() {
    for (let i = this.head; i < this.rows.length; i++) this.rows[i].recent = undefined;
    this.rows = [];
    this.head = 0;
    this.bytes = 0;
  }
}

/**
 * What recent reads cached on their entries, in two generations: when the young one is
 * full it becomes the old one, and the entries of the old one that weren't touched since drop what
 * they cached. (A map trimmed from its oldest end made every trim step over the holes left by the last
 * ones: measured at ~8 µs per commit.)
 */
class RecentlyUsed {
  private static readonly GENERATION = 1024;
  private generation = 0;
  private young: Entry[] = [];
  private old: Entry[] = [];

  keep(entry: Entry, value: string | Record<string, unknown>) {
    entry.cached = value;
    if (entry.cachedIn === this.generation) return;
    entry.cachedIn = this.generation;
    this.young.push(entry);
  }

  age() {
    if (this.young.length < RecentlyUsed.GENERATION) return;
    for (const e of this.old) if (e.cachedIn !== this.generation) e.cached = e.cachedIn = undefined;
    this.old = this.young;
    this.young = [];
    this.generation++;
  }

  clear() {
    this.young = [];
    this.old = [];
    this.generation++;
  }
}

/** The artifacts of one model: by id, and by uid and user code where they have one. */
class ModelIndex {
  readonly byId = new Map<string, Entry>();
  readonly byUid = new Map<string, Entry>();
  readonly byUserCode = new Map<string, Entry>();
  /** Whether its entries are indexed by account (decided once per model, not per write). */
  readonly owned: boolean;
  constructor(model: string) {
    this.owned = isOwnedModel(model);
  }
}

const str = (v: unknown) => (typeof v === 'string' && v.length ? v : undefined);
const DONE: Promise<void> = Promise.resolve();

export class InstanceLockedError extends Error {
  constructor(file: string, pid?: number) {
    super(
      `Another Tessera process${pid ? ` (pid ${pid})` : ''} is serving the embedded store ${file}. ` +
        'The embedded SQLite store serves one instance; to run several, use MongoDB (MONGODB_URI).',
    );
    this.name = 'InstanceLockedError';
  }
}

// Store objects of this process that claimed a file (a second claim in one process is refused too).
const claimedHere = new Set<string>();

export class SqliteArtifactLog implements OidcArtifactRepo {
  private readonly models = new Map<string, ModelIndex>();
  /** Every artifact of a grant, for revokeByGrantId (any model). */
  private readonly byGrant = new Map<string, Set<Entry>>();
  /** The entries of OWNED_MODELS by account, for revokeAccount. */
  private readonly byAccount = new Map<string, Set<Entry>>();
  private readonly cache = new RecentlyUsed();
  private readonly recentRows = new RecentRows();
  private readonly arena = new RowArena();
  private lastRow = 0;
  private loaded = false;
  private replaying = false; // rows are judged once the whole log is read
  private lockFile: string | null = null;
  private lock: SqliteDb | null = null; // the connection holding the instance lock (claim())

  // The group commit: the row being written (its number and lines), rows to delete, and one promise for
  // the whole batch.
  private pendingRow: Row | null = null;
  private lines: string[] = [];
  // The entries upserted in it and their line numbers: their places in the row are known at the flush.
  private staged: Entry[] = [];
  private stagedLines: number[] = [];
  private deadRows: number[] = [];
  private batch: Batch | null = null;
  // Server mode: writes don't wait (durably() does). Flushes are numbered so a request can tell whether
  // one that may have held its writes failed.
  private deferred = false;
  private flushes = 0;
  private failedFlush = 0;
  private failure: Error | null = null;

  private readonly sql;

  constructor(
    private readonly db: SqliteDb,
    private readonly file: string,
    private readonly onFlushError: (err: Error) => void = () => {},
  ) {
    this.sql = {
      insert: db.prepare('INSERT INTO artifact_log (seq, lines) VALUES (?, ?)'),
      remove: db.prepare('DELETE FROM artifact_log WHERE seq = ?'),
      lines: db.prepare('SELECT lines FROM artifact_log WHERE seq = ?'),
      line: db.prepare('SELECT substr(lines, ?, ?) AS line FROM artifact_log WHERE seq = ?'),
      begin: db.prepare('BEGIN'),
      commit: db.prepare('COMMIT'),
      rollback: db.prepare('ROLLBACK'),
    };
  }

  /**
   * Called by the server before it takes requests: takes the lock file (so a second server on the same
   * file fails at start with a clear message, not with diverging indexes later) and loads the index.
   * The CLI never claims: it doesn't touch artifacts.
   */
  claim(): void {
    this.deferred = true;
    if (this.lock || this.file === ':memory:') return this.load();
    const lockFile = `${this.file}.lock`;
    if (claimedHere.has(lockFile)) throw new InstanceLockedError(this.file, process.pid);
    this.lock = takeInstanceLock(lockFile, this.file);
    claimedHere.add(lockFile);
    this.lockFile = lockFile;
    this.load();
  }

  /** Commits what is staged and releases the lock. */
  close(): void {
    this.flush();
    if (this.lock) {
      // The file stays: removing it could let a third process lock a new file while a second waits on this one.
      this.lock.close();
      this.lock = null;
      claimedHere.delete(this.lockFile!);
      this.lockFile = null;
    }
  }

  // ---- the port ------------------------------------------------------------------------------------

  async durably<T>(fn: () => Promise<T>): Promise<T> {
    const from = this.flushes;
    const result = await fn();
    // This request's writes are in flushes after `from`, or in the one still pending: wait for that.
    if (this.batch) await this.batch.settled;
    if (this.failedFlush > from) throw this.failure!;
    return result;
  }

  upsert(model: string, id: string, payload: Record<string, unknown>, expiresAt: Date | null): Promise<void> {
    this.load();
    const index = this.indexOf(model);
    const exp = expiresAt ? expiresAt.getTime() : null;
    const old = index.byId.get(id);
    if (old) this.forget(index, old);
    const record = `{"o":"u","m":${JSON.stringify(model)},"i":${JSON.stringify(id)},"e":${exp},"p":${JSON.stringify(payload)}}`;
    const line = this.append(record);
    const entry = entryFor(model, id, this.pendingRow!, -1, -1, exp, payload);
    if (index.owned) setOwners(entry, payload);
    entry.cached = record; // parsed only if read back
    this.staged.push(entry);
    this.stagedLines.push(line);
    this.link(index, entry);
    return this.settled();
  }

  // Plain functions returning settled promises, not async ones: oidc-provider's AsyncLocalStorage makes
  // every promise pay an async hook, and a refresh makes a dozen calls here.
  find(model: string, id: string) {
    this.load();
    return Promise.resolve(this.read(this.models.get(model)?.byId.get(id)));
  }

  findByUid(model: string, uid: string) {
    this.load();
    return Promise.resolve(this.read(this.models.get(model)?.byUid.get(uid)));
  }

  findByUserCode(model: string, userCode: string) {
    this.load();
    return Promise.resolve(this.read(this.models.get(model)?.byUserCode.get(userCode)));
  }

  consume(model: string, id: string): Promise<void> {
    this.load();
    const entry = this.models.get(model)?.byId.get(id);
    if (!entry) return DONE;
    // Kept in the entry and merged into what is read: the record stays as it was written.
    const at = Math.floor(Date.now() / 1000);
    this.append(`{"o":"c","m":${JSON.stringify(model)},"i":${JSON.stringify(id)},"c":${at}}`);
    if (entry.consumedRow) this.unref(entry.consumedRow);
    entry.consumed = at;
    entry.consumedRow = this.pendingRow!;
    this.pendingRow!.live++;
    return this.settled();
  }

  destroy(model: string, id: string): Promise<void> {
    this.load();
    const index = this.models.get(model);
    const entry = index?.byId.get(id);
    if (!index || !entry) return DONE;
    this.remove(index, entry);
    return this.settled();
  }

  revokeByGrantId(grantId: string): Promise<void> {
    this.load();
    const members = this.byGrant.get(grantId);
    if (!members) return DONE;
    for (const entry of [...members]) this.remove(this.indexOf(entry.model), entry);
    return this.settled();
  }

  findByGrantId(model: string, grantId: string): Promise<Record<string, unknown>[]> {
    this.load();
    const found: Record<string, unknown>[] = [];
    for (const entry of this.byGrant.get(grantId) ?? []) {
      const payload = entry.model === model ? this.read(entry) : undefined; // read() skips the expired
      if (payload) found.push(payload);
    }
    return Promise.resolve(found);
  }

  revokeAccount(accountId: string, opts: { keepSessionUid?: string } = {}): Promise<{ sessions: number; grants: number }> {
    this.load();
    const owned = this.byAccount.get(accountId);
    const counts = { sessions: 0, grants: 0 };
    if (!owned) return Promise.resolve(counts);
    const keep = opts.keepSessionUid;
    const now = Date.now();
    let removed = false;
    // An entry may be reached twice (an Interaction of the account that also carries a revoked grantId).
    const drop = (e: Entry) => {
      const index = this.indexOf(e.model);
      if (index.byId.get(e.id) !== e) return false;
      this.remove(index, e);
      removed = true;
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
        const members = this.byGrant.get(e.id);
        // ...but not the kept browser's interaction in progress (it continues, e.g. after a reset; resuming
        // it makes a new grant).
        if (members) for (const m of [...members]) if (keep === undefined || m.model !== 'Interaction' || m.sessionUid !== keep) drop(m);
      } else drop(e); // TesseraLogin
    }
    return removed ? this.settled().then(() => counts) : Promise.resolve(counts);
  }

  findByAccount(model: 'Session' | 'Grant', accountId: string): Promise<Record<string, unknown>[]> {
    this.load();
    const out: Record<string, unknown>[] = [];
    for (const e of this.byAccount.get(accountId) ?? []) {
      if (e.model !== model) continue;
      const payload = this.read(e);
      if (payload) out.push(payload);
    }
    return Promise.resolve(out);
  }

  /** Drops every artifact expired at `now` (reads already ignore them; this frees their rows). */
  purgeExpired(now: number): void {
    this.load();
    this.ensureBatch();
    for (const index of this.models.values()) for (const entry of index.byId.values()) if (entry.exp <= now) this.forget(index, entry); // replay skips them too
    this.flush();
  }

  // ---- reading -------------------------------------------------------------------------------------

  /** A fresh payload object (the caller may change it: oidc-provider's models do change what they get). */
  private read(entry: Entry | undefined): Record<string, unknown> | undefined {
    if (!entry || entry.exp <= Date.now()) return undefined;
    const cached = entry.cached;
    let payload: Record<string, unknown>;
    if (typeof cached === 'object') payload = copy(cached);
    else {
      const recent = entry.row.recent;
      // ASCII bytes decode as latin1, which copies them (utf8 must check each one).
      const record = cached ?? (recent ? recent.toString(entry.row.ascii ? 'latin1' : 'utf8', entry.start, entry.end) : this.lineFromFile(entry));
      payload = (JSON.parse(record) as Extract<LogRecord, { o: 'u' }>).p;
      // Tokens are mostly read once (a refresh token, a code); what is read again (grants, sessions) is
      // likely read many times. A line that had to come from the file is kept for the next read.
      if (entry.readBefore) this.cache.keep(entry, copy(payload));
      else if (cached === undefined && !recent) this.cache.keep(entry, record);
      entry.readBefore = true;
    }
    if (entry.consumed !== undefined) payload.consumed = entry.consumed;
    return payload;
  }

  /**
   * An upsert record from its row in the file: just its bytes from a BLOB row; an older TEXT row is read
   * whole (there substr() counts code points, and the index counts UTF-16 units).
   */
  private lineFromFile(entry: Entry): string {
    const { row } = entry;
    if (row.text) return (this.sql.lines.get(row.seq) as { lines: string }).lines.slice(entry.start, entry.end);
    return bytesOf((this.sql.line.get(entry.start + 1, entry.end - entry.start, row.seq) as { line: BlobValue }).line).toString('utf8');
  }

  // ---- the index and row references ----------------------------------------------------------------

  private indexOf(model: string): ModelIndex {
    let index = this.models.get(model);
    if (!index) this.models.set(model, (index = new ModelIndex(model)));
    return index;
  }

  private link(index: ModelIndex, e: Entry) {
    index.byId.set(e.id, e);
    if (index.owned) {
      if (e.accountId) this.own(e.accountId, e);
      if (e.loginAccountId) this.own(e.loginAccountId, e);
    }
    e.row.live++;
    if (e.consumedRow) e.consumedRow.live++;
    if (e.grantId) {
      let members = this.byGrant.get(e.grantId);
      if (!members) this.byGrant.set(e.grantId, (members = new Set()));
      members.add(e);
    }
    if (e.uid) index.byUid.set(e.uid, e);
    if (e.userCode) index.byUserCode.set(e.userCode, e);
  }

  /** Takes an artifact out of the index (replaced, expired or removed) and releases its rows. */
  private forget(index: ModelIndex, e: Entry) {
    index.byId.delete(e.id);
    e.cached = undefined;
    if (index.owned) {
      if (e.accountId) this.disown(e.accountId, e);
      if (e.loginAccountId) this.disown(e.loginAccountId, e);
    }
    if (e.grantId) {
      const members = this.byGrant.get(e.grantId);
      members?.delete(e);
      if (members?.size === 0) this.byGrant.delete(e.grantId);
    }
    if (e.uid && index.byUid.get(e.uid) === e) index.byUid.delete(e.uid);
    if (e.userCode && index.byUserCode.get(e.userCode) === e) index.byUserCode.delete(e.userCode);
    if (e.consumedRow) this.unref(e.consumedRow);
    this.unref(e.row);
  }

  private own(accountId: string, e: Entry) {
    let owned = this.byAccount.get(accountId);
    if (!owned) this.byAccount.set(accountId, (owned = new Set()));
    owned.add(e);
  }

  private disown(accountId: string, e: Entry) {
    const owned = this.byAccount.get(accountId);
    owned?.delete(e);
    if (owned?.size === 0) this.byAccount.delete(accountId);
  }

  /** Removal: a record that cancels the upsert at replay, kept as long as the upsert's row is. */
  private remove(index: ModelIndex, e: Entry) {
    this.append(`{"o":"d","m":${JSON.stringify(e.model)},"i":${JSON.stringify(e.id)}}`);
    this.forget(index, e);
    if (e.row !== this.pendingRow && e.row.live > 0) this.pin(this.pendingRow!, e.row);
  }

  private pin(removalRow: Row, target: Row) {
    removalRow.live++;
    (target.pins ??= []).push(removalRow);
  }

  private unref(row: Row) {
    if (--row.live > 0) return;
    // The row being written is simply not written if nothing in it is needed at flush time.
    if (row !== this.pendingRow && !this.replaying) this.deadRows.push(row.seq);
    const pinned = row.pins;
    if (pinned) {
      row.pins = undefined;
      for (const r of pinned) this.unref(r);
    }
  }

  // ---- the group commit ----------------------------------------------------------------------------

  /** Adds a record to the row of this turn's commit; returns its line number. */
  private append(line: string): number {
    this.ensureBatch();
    return this.lines.push(line) - 1;
  }

  /** What a write returns: its commit, or at once in the server, where durably() waits instead. */
  private settled(): Promise<void> {
    return this.deferred ? DONE : this.batch!.promise; // every write appended a record: a batch is open
  }

  /** Opens a commit (its row number and promise) unless one is open; it runs at the end of the next turn. */
  private ensureBatch() {
    if (this.batch) return;
    let resolve!: () => void;
    let reject!: (err: Error) => void;
    const promise = new Promise<void>((res, rej) => ((resolve = res), (reject = rej)));
    // A failure reaches whoever waits for the promise (nobody waiting is no crash); durably() waits for
    // `settled` and reads the failure from the flush counters instead.
    const settled = promise.catch(() => {});
    this.batch = { promise, settled, resolve, reject };
    this.pendingRow = { seq: ++this.lastRow, live: 0 };
    // The commit runs at the end of the next turn of the event loop, not this one: a token request's
    // writes come before it signs the ID token (a thread-pool job), so its response can't go out before
    // the next turn anyway, and the requests that turn brings in join the commit. Under load that halves
    // the commits (~9 refreshes each instead of ~5, measured) for the same bytes; a request without an
    // asynchronous step after its writes (client_credentials) waits one more turn, and still gains.
    setImmediate(() => setImmediate(() => this.flush()));
  }

  /** One transaction for the batch: the new row (if anything in it is still needed) and dead rows. */
  private flush() {
    const batch = this.batch;
    if (!batch) return;
    const row = this.pendingRow;
    const lines = this.lines;
    const dead = this.deadRows;
    const staged = this.staged;
    const stagedLines = this.stagedLines;
    this.lines = [];
    this.deadRows = [];
    this.staged = [];
    this.stagedLines = [];
    this.batch = null;
    this.pendingRow = null;
    this.flushes++;
    const write = lines.length > 0 && row!.live > 0;
    const bytes = write ? this.arena.encode(lines) : null;
    try {
      if (dead.length === 0) {
        // The usual commit is the one INSERT: on its own it is its own transaction (BEGIN and COMMIT
        // as statements cost ~10 µs more per commit, measured).
        if (bytes) this.sql.insert.run(row!.seq, bytes.row);
      } else {
        this.sql.begin.run();
        if (bytes) this.sql.insert.run(row!.seq, bytes.row);
        for (const r of dead) this.sql.remove.run(r);
        this.sql.commit.run();
      }
    } catch (err) {
      try {
        this.sql.rollback.run();
      } catch {
        // nothing open to roll back (BEGIN itself failed)
      }
      // The memory index already shows the failed writes: rebuild it from what the file holds (or, if
      // even reading fails, on the next use).
      this.loaded = false;
      try {
        this.load();
      } catch {
        this.loaded = false;
      }
      const error = err instanceof Error ? err : new Error(String(err));
      this.failedFlush = this.flushes;
      this.failure = error;
      this.onFlushError(error);
      batch.reject(error);
      return;
    }
    if (bytes) {
      // The staged lines are in the row now: entries read them from its bytes (a line read twice
      // meanwhile is cached parsed, and stays).
      for (let i = 0; i < staged.length; i++) {
        const e = staged[i];
        e.start = bytes.starts[stagedLines[i]];
        e.end = bytes.starts[stagedLines[i] + 1] - 1;
        if (typeof e.cached === 'string') e.cached = undefined;
      }
      row!.ascii = bytes.ascii;
      this.recentRows.add(row!, bytes.row);
    }
    this.cache.age();
    batch.resolve();
  }

  /** Builds the memory index by replaying the log (first use, or after a failed commit). */
  private load() {
    if (this.loaded) return;
    this.loaded = true;
    this.models.clear();
    this.byGrant.clear();
    this.byAccount.clear();
    this.cache.clear();
    this.recentRows.clear();
    const now = Date.now();
    this.replaying = true;
    const removals: Array<[Row, Row]> = []; // [row of the removal, row of the upsert it cancelled]
    const rows: Row[] = [];
    for (const { seq, lines: stored } of this.db.prepare('SELECT seq, lines FROM artifact_log ORDER BY seq').iterate() as Iterable<{ seq: number; lines: string | BlobValue }>) {
      const row: Row = { seq, live: 0 };
      rows.push(row);
      this.lastRow = Math.max(this.lastRow, seq);
      // A record never holds a raw newline (JSON escapes it), in bytes or in characters.
      const text = typeof stored === 'string' ? stored : null;
      const bytes = text === null ? bytesOf(stored as BlobValue) : null;
      const length = text !== null ? text.length : bytes!.length;
      if (text !== null) row.text = true;
      for (let start = 0, end = 0; start < length; start = end + 1) {
        end = text !== null ? text.indexOf('\n', start) : bytes!.indexOf(10, start);
        if (end === -1) end = length;
        const r = JSON.parse(text !== null ? text.slice(start, end) : bytes!.toString('utf8', start, end)) as LogRecord;
        const index = this.indexOf(r.m);
        const current = index.byId.get(r.i);
        if (r.o === 'u') {
          if (current) this.forget(index, current);
          if (r.e !== null && r.e <= now) continue; // expired: gone
          const entry = entryFor(r.m, r.i, row, start, end, r.e, r.p);
          if (index.owned) setOwners(entry, r.p);
          this.link(index, entry);
        } else if (r.o === 'c' && current) {
          if (current.consumedRow) this.unref(current.consumedRow);
          current.consumed = r.c;
          current.consumedRow = row;
          row.live++;
        } else if (r.o === 'd' && current) {
          removals.push([row, current.row]);
          this.forget(index, current);
        }
      }
    }
    this.replaying = false;
    for (const [removalRow, target] of removals) if (target.live > 0) this.pin(removalRow, target);
    const dead = rows.filter((r) => r.live === 0);
    if (dead.length) this.db.transaction(() => dead.forEach((r) => this.sql.remove.run(r.seq)))();
  }
}

interface Batch {
  promise: Promise<void>;
  settled: Promise<void>; // the same, never rejecting
  resolve: () => void;
  reject: (err: Error) => void;
}

/** The index entry for an upsert record (the record's own `consumed`, if it has one, counts as consumed). */
function entryFor(model: string, id: string, row: Row, start: number, end: number, exp: number | null, payload: Record<string, unknown>): Entry {
  // Every field set here, so that all entries share one shape.
  return {
    model, id, row, start, end, exp: exp ?? Infinity,
    grantId: str(payload.grantId), uid: str(payload.uid), userCode: str(payload.userCode),
    accountId: undefined, loginAccountId: undefined, sessionUid: undefined,
    consumed: typeof payload.consumed === 'number' ? payload.consumed : undefined, consumedRow: undefined,
    cached: undefined, cachedIn: undefined, readBefore: false,
  };
}

/** Sets who owns an artifact of OWNED_MODELS (../owners.ts) on its entry. */
function setOwners(e: Entry, payload: Record<string, unknown>) {
  const { accountIds, sessionUid } = ownersOf(e.model, payload);
  e.accountId = accountIds[0];
  e.loginAccountId = accountIds[1];
  e.sessionUid = sessionUid;
}

/** What libsql hands out for a BLOB: a Buffer from get(), an ArrayBuffer from iterate(). */
type BlobValue = Buffer | ArrayBuffer;
const bytesOf = (blob: BlobValue): Buffer => (Buffer.isBuffer(blob) ? blob : Buffer.from(blob)); // a view, no copy

/**
 * Where commit rows are encoded: slices of 1 MB buffers, filled one after the other. A row's bytes are
 * bound to the INSERT and then kept by RecentRows, so an arena is freed once its last row has aged out.
 * (A Buffer of its own per row, from the lines joined into one string, cost ~2.5 µs per refresh request
 * in profiles, most of it allocating the ArrayBuffer; writing into an arena ~1.7 µs.)
 */
class RowArena {
  private static readonly SIZE = 1024 * 1024;
  private buf = Buffer.allocUnsafeSlow(RowArena.SIZE);
  private used = 0;

  /** The lines, UTF-8, newline-separated; where each starts (one past the end: the last); all ASCII? */
  encode(lines: string[]): { row: Buffer; starts: number[]; ascii: boolean } {
    let chars = lines.length - 1;
    for (const line of lines) chars += line.length;
    const room = chars * 3; // a UTF-16 unit is at most 3 bytes of UTF-8
    if (this.buf.length - this.used < room) {
      this.buf = Buffer.allocUnsafeSlow(Math.max(RowArena.SIZE, room));
      this.used = 0;
    }
    const buf = this.buf;
    const begin = this.used;
    const starts = new Array<number>(lines.length + 1);
    let at = begin;
    let ascii = true;
    for (let i = 0; i < lines.length; i++) {
      if (i > 0) buf[at++] = 10;
      starts[i] = at - begin;
      const written = buf.write(lines[i], at, 'utf8');
      if (written !== lines[i].length) ascii = false;
      at += written;
    }
    starts[lines.length] = at - begin + 1;
    this.used = at;
    return { row: buf.subarray(begin, at), starts, ascii };
  }
}

/**
 * The instance lock: an exclusive SQLite lock on `<file>.lock`, held by a connection kept open in a
 * transaction for the process's lifetime. It is an OS file lock, so it dies with the process (crash,
 * kill -9, reboot): nothing stale is left to clear by hand, and no PID is trusted (a reused one blocked
 * the start before). A second server, in this process or another, gets SQLITE_BUSY.
 */
function takeInstanceLock(lockFile: string, file: string): SqliteDb {
  // Earlier versions wrote their PID into this file as text: such a file holds no lock, so it goes.
  try {
    const head = fs.readFileSync(lockFile).subarray(0, 16).toString('latin1');
    if (head.length && head !== 'SQLite format 3\0') fs.rmSync(lockFile, { force: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const lock: SqliteDb = new Database(lockFile);
  try {
    lock.exec('PRAGMA busy_timeout = 0');
    lock.exec('PRAGMA locking_mode = EXCLUSIVE');
    lock.exec('BEGIN EXCLUSIVE');
  } catch (err) {
    lock.close();
    if ((err as { code?: string }).code === 'SQLITE_BUSY') throw new InstanceLockedError(file);
    throw err;
  }
  return lock;
}
