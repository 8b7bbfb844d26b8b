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
// ((model, id) → row and line, grant → members, uid → id), built by replaying the log at start. One
// process owns the log (claim(): a lock file; the embedded store serves one instance, scale-out uses
// MongoDB), so the memory index always says what the file holds.
//
// A row is deleted once nothing in it is current: every record that a live artifact still needs holds
// a reference on its row (a removal record holds one while the row of the upsert it cancels remains).
// Expired artifacts drop out at purge time and at replay.
//
// Writes are group-committed: everything written in one event-loop turn is one transaction at the end
// of the turn, and a write's promise resolves only after that COMMIT. In the server (claim()), writes
// return at once instead and each request waits for the commits in durably() just before its response
// goes out (app.ts wraps every request in it). Either way a response that hands out a token is sent
// after the token is on disk (WAL, synchronous = NORMAL). Reads see staged writes at once (recent
// payloads are kept in memory).
import fs from 'node:fs';
import type { OidcArtifactRepo } from '../ports.ts';
import type { SqliteDb } from './index.ts';
import { copyDoc as copy } from './schema.ts';

interface Entry {
  row: number; // the commit row holding the current upsert record
  line: number; // its line in that row
  exp: number; // epoch ms; Infinity = no expiry
  grantId?: string;
  uid?: string;
  userCode?: string;
  consumed?: number; // epoch seconds
  consumedRow?: number; // the row holding the consumption record
}

/** One line of a commit row. */
type LogRecord =
  | { o: 'u'; m: string; i: string; e: number | null; p: Record<string, unknown> }
  | { o: 'c'; m: string; i: string; c: number }
  | { o: 'd'; m: string; i: string };

/**
 * Payloads of recent writes (as written, parsed once read), in two generations: when the young one is
 * full it becomes the old one and the old one is dropped whole. (A map trimmed from its oldest end made
 * every trim step over the holes left by the last ones: measured at ~8 µs per commit.) Aged only after a
 * commit, so an uncommitted payload, which the file can't give back yet, is never dropped.
 */
class RecentPayloads {
  private static readonly GENERATION = 1024;
  private young = new Map<string, Record<string, unknown> | string>();
  private old = new Map<string, Record<string, unknown> | string>();

  get(key: string) {
    return this.young.get(key) ?? this.old.get(key);
  }

  set(key: string, payload: Record<string, unknown> | string) {
    this.old.delete(key);
    this.young.set(key, payload);
  }

  delete(key: string) {
    this.young.delete(key);
    this.old.delete(key);
  }

  age() {
    if (this.young.size < RecentPayloads.GENERATION) return;
    this.old = this.young;
    this.young = new Map();
  }

  clear() {
    this.young.clear();
    this.old.clear();
  }
}
const SEP = '\u0000';
const keyOf = (model: string, id: string) => `${model}${SEP}${id}`;
const modelOf = (key: string) => key.slice(0, key.indexOf(SEP));
const idOf = (key: string) => key.slice(key.indexOf(SEP) + 1);
const str = (v: unknown) => (typeof v === 'string' && v.length ? v : undefined);
const DONE: Promise<void> = Promise.resolve();

export class InstanceLockedError extends Error {
  constructor(file: string, pid: number) {
    super(
      `Another Tessera process (pid ${pid}) is serving the embedded store ${file}. ` +
        'The embedded SQLite store serves one instance; to run several, use MongoDB (MONGODB_URI).',
    );
    this.name = 'InstanceLockedError';
  }
}

// Store objects of this process that claimed a file (a second claim in one process is refused too).
const claimedHere = new Set<string>();

export class SqliteArtifactLog implements OidcArtifactRepo {
  private readonly byKey = new Map<string, Entry>();
  private readonly byGrant = new Map<string, Set<string>>();
  private readonly byUid = new Map<string, string>();
  private readonly byUserCode = new Map<string, string>();
  private readonly cache = new RecentPayloads();
  /** Rows still needed, with how many current records (or pinned removals) each holds. */
  private readonly refs = new Map<number, number>();
  /** Rows holding removal records that must outlive the given row (the one with the removed upsert). */
  private readonly pins = new Map<number, number[]>();
  private lastRow = 0;
  private loaded = false;
  private replaying = false; // rows are judged once the whole log is read
  private lockFile: string | null = null;

  // The group commit: the row being written (its number and lines), rows to delete, and one promise for
  // the whole batch.
  private pendingRow = 0;
  private lines: string[] = [];
  private deadRows: number[] = [];
  private batch: { promise: Promise<void>; resolve: () => void; reject: (err: Error) => void } | null = null;
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
    if (this.lockFile || this.file === ':memory:') return this.load();
    const lock = `${this.file}.lock`;
    if (claimedHere.has(lock)) throw new InstanceLockedError(this.file, process.pid);
    for (let attempt = 0; ; attempt++) {
      try {
        fs.writeFileSync(lock, String(process.pid), { flag: 'wx' });
        break;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 0) throw err;
        const pid = Number(fs.readFileSync(lock, 'utf8'));
        if (pid && pid !== process.pid && alive(pid)) throw new InstanceLockedError(this.file, pid);
        fs.rmSync(lock, { force: true }); // left by a process that is gone (crash, kill -9)
      }
    }
    claimedHere.add(lock);
    this.lockFile = lock;
    this.load();
  }

  /** Commits what is staged and releases the lock. */
  close(): void {
    this.flush();
    if (this.lockFile) {
      fs.rmSync(this.lockFile, { force: true });
      claimedHere.delete(this.lockFile);
      this.lockFile = null;
    }
  }

  // ---- the port ------------------------------------------------------------------------------------

  async durably<T>(fn: () => Promise<T>): Promise<T> {
    const from = this.flushes;
    const result = await fn();
    // This request's writes are in flushes after `from`, or in the one still pending: wait for that.
    if (this.batch) await this.batch.promise.catch(() => {});
    if (this.failedFlush > from) throw this.failure!;
    return result;
  }

  upsert(model: string, id: string, payload: Record<string, unknown>, expiresAt: Date | null): Promise<void> {
    this.load();
    const key = keyOf(model, id);
    const json = JSON.stringify(payload);
    const exp = expiresAt ? expiresAt.getTime() : null;
    const old = this.byKey.get(key);
    if (old) this.forget(key, old);
    const line = this.append(`{"o":"u","m":${JSON.stringify(model)},"i":${JSON.stringify(id)},"e":${exp},"p":${json}}`);
    this.link(key, entryFor(this.pendingRow, line, exp, payload));
    this.cache.set(key, json); // most written tokens are never read back here: parse only when one is
    return this.settled();
  }

  // Plain functions returning settled promises, not async ones: oidc-provider's AsyncLocalStorage makes
  // every promise pay an async hook, and a refresh makes a dozen calls here.
  find(model: string, id: string) {
    this.load();
    return Promise.resolve(this.read(keyOf(model, id)));
  }

  findByUid(model: string, uid: string) {
    this.load();
    const key = this.byUid.get(keyOf(model, uid));
    return Promise.resolve(key ? this.read(key) : undefined);
  }

  findByUserCode(model: string, userCode: string) {
    this.load();
    const key = this.byUserCode.get(keyOf(model, userCode));
    return Promise.resolve(key ? this.read(key) : undefined);
  }

  consume(model: string, id: string): Promise<void> {
    this.load();
    const key = keyOf(model, id);
    const entry = this.byKey.get(key);
    if (!entry) return DONE;
    // Kept in the entry and merged into what is read: the cached payload stays as it was written.
    const at = Math.floor(Date.now() / 1000);
    this.append(`{"o":"c","m":${JSON.stringify(model)},"i":${JSON.stringify(id)},"c":${at}}`);
    if (entry.consumedRow !== undefined) this.unref(entry.consumedRow);
    entry.consumed = at;
    entry.consumedRow = this.pendingRow;
    this.ref(this.pendingRow);
    return this.settled();
  }

  destroy(model: string, id: string): Promise<void> {
    this.load();
    const key = keyOf(model, id);
    const entry = this.byKey.get(key);
    if (!entry) return DONE;
    this.remove(key, entry);
    return this.settled();
  }

  revokeByGrantId(grantId: string): Promise<void> {
    this.load();
    const members = this.byGrant.get(grantId);
    if (!members) return DONE;
    for (const key of [...members]) this.remove(key, this.byKey.get(key)!);
    return this.settled();
  }

  /** Drops every artifact expired at `now` (reads already ignore them; this frees their rows). */
  purgeExpired(now: number): void {
    this.load();
    this.ensureBatch();
    for (const [key, entry] of this.byKey) if (entry.exp <= now) this.forget(key, entry); // replay skips them too
    this.flush();
  }

  // ---- reading -------------------------------------------------------------------------------------

  private read(key: string): Record<string, unknown> | undefined {
    const entry = this.byKey.get(key);
    if (!entry || entry.exp <= Date.now()) return undefined;
    return this.payloadOf(key, entry);
  }

  /** A copy the caller may change: oidc-provider's models do change what they are given. */
  private payloadOf(key: string, entry: Entry): Record<string, unknown> {
    const cached = this.cache.get(key);
    let payload: Record<string, unknown>;
    if (cached !== undefined && typeof cached !== 'string') payload = copy(cached);
    else {
      payload =
        cached !== undefined
          ? (JSON.parse(cached) as Record<string, unknown>)
          : (JSON.parse(lineAt((this.sql.lines.get(entry.row) as { lines: string }).lines, entry.line)) as Extract<LogRecord, { o: 'u' }>).p;
      this.cache.set(key, copy(payload));
    }
    if (entry.consumed !== undefined) payload.consumed = entry.consumed;
    return payload;
  }


  // ---- the index and row references ----------------------------------------------------------------

  private link(key: string, e: Entry) {
    this.byKey.set(key, e);
    this.ref(e.row);
    if (e.consumedRow !== undefined) this.ref(e.consumedRow);
    const model = modelOf(key);
    if (e.grantId) {
      let members = this.byGrant.get(e.grantId);
      if (!members) this.byGrant.set(e.grantId, (members = new Set()));
      members.add(key);
    }
    if (e.uid) this.byUid.set(keyOf(model, e.uid), key);
    if (e.userCode) this.byUserCode.set(keyOf(model, e.userCode), key);
  }

  /** Takes an artifact out of the index (replaced, expired or removed) and releases its rows. */
  private forget(key: string, e: Entry) {
    this.byKey.delete(key);
    this.cache.delete(key);
    const model = modelOf(key);
    if (e.grantId) {
      const members = this.byGrant.get(e.grantId);
      members?.delete(key);
      if (members?.size === 0) this.byGrant.delete(e.grantId);
    }
    if (e.uid && this.byUid.get(keyOf(model, e.uid)) === key) this.byUid.delete(keyOf(model, e.uid));
    if (e.userCode && this.byUserCode.get(keyOf(model, e.userCode)) === key) this.byUserCode.delete(keyOf(model, e.userCode));
    if (e.consumedRow !== undefined) this.unref(e.consumedRow);
    this.unref(e.row);
  }

  /** Removal: a record that cancels the upsert at replay, kept as long as the upsert's row is. */
  private remove(key: string, e: Entry) {
    this.append(`{"o":"d","m":${JSON.stringify(modelOf(key))},"i":${JSON.stringify(idOf(key))}}`);
    this.forget(key, e);
    if (e.row !== this.pendingRow && this.refs.has(e.row)) this.pin(this.pendingRow, e.row);
  }

  private pin(removalRow: number, targetRow: number) {
    this.ref(removalRow);
    const list = this.pins.get(targetRow);
    if (list) list.push(removalRow);
    else this.pins.set(targetRow, [removalRow]);
  }

  private ref(row: number) {
    this.refs.set(row, (this.refs.get(row) ?? 0) + 1);
  }

  private unref(row: number) {
    const n = (this.refs.get(row) ?? 1) - 1;
    if (n > 0) {
      this.refs.set(row, n);
      return;
    }
    this.refs.delete(row);
    // The row being written is simply not written if nothing in it is needed at flush time.
    if (row !== this.pendingRow && !this.replaying) this.deadRows.push(row);
    const pinned = this.pins.get(row);
    if (pinned) {
      this.pins.delete(row);
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

  /** Opens this turn's commit (its row number and promise) unless one is open; it runs at the turn's end. */
  private ensureBatch() {
    if (this.batch) return;
    let resolve!: () => void;
    let reject!: (err: Error) => void;
    const promise = new Promise<void>((res, rej) => ((resolve = res), (reject = rej)));
    promise.catch(() => {}); // a failure reaches whoever waits for it; nobody waiting is no crash
    this.batch = { promise, resolve, reject };
    this.pendingRow = ++this.lastRow;
    setImmediate(() => this.flush());
  }

  /** One transaction for the turn: the new row (if anything in it is still needed) and dead rows. */
  private flush() {
    const batch = this.batch;
    if (!batch) return;
    const row = this.pendingRow;
    const lines = this.lines;
    const dead = this.deadRows;
    this.lines = [];
    this.deadRows = [];
    this.batch = null;
    this.pendingRow = 0;
    this.flushes++;
    try {
      const write = lines.length > 0 && this.refs.has(row);
      if (dead.length === 0) {
        // The usual commit is the one INSERT: on its own it is its own transaction (BEGIN and COMMIT
        // as statements cost ~10 µs more per commit, measured).
        if (write) this.sql.insert.run(row, lines.join('\n'));
      } else {
        this.sql.begin.run();
        if (write) this.sql.insert.run(row, lines.join('\n'));
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
    this.cache.age(); // after the commit: what it drops is on disk
    batch.resolve();
  }

  /** Builds the memory index by replaying the log (first use, or after a failed commit). */
  private load() {
    if (this.loaded) return;
    this.loaded = true;
    for (const m of [this.byKey, this.byGrant, this.byUid, this.byUserCode, this.cache, this.refs, this.pins]) m.clear();
    const now = Date.now();
    this.replaying = true;
    const removals: Array<[number, number]> = []; // [row of the removal, row of the upsert it cancelled]
    const rows: number[] = [];
    for (const { seq, lines } of this.db.prepare('SELECT seq, lines FROM artifact_log ORDER BY seq').iterate() as Iterable<{ seq: number; lines: string }>) {
      rows.push(seq);
      this.lastRow = Math.max(this.lastRow, seq);
      const records = lines.split('\n');
      for (let line = 0; line < records.length; line++) {
        const r = JSON.parse(records[line]) as LogRecord;
        const key = keyOf(r.m, r.i);
        const current = this.byKey.get(key);
        if (r.o === 'u') {
          if (current) this.forget(key, current);
          if (r.e !== null && r.e <= now) continue; // expired: gone
          this.link(key, entryFor(seq, line, r.e, r.p));
        } else if (r.o === 'c' && current) {
          if (current.consumedRow !== undefined) this.unref(current.consumedRow);
          current.consumed = r.c;
          current.consumedRow = seq;
          this.ref(seq);
        } else if (r.o === 'd' && current) {
          removals.push([seq, current.row]);
          this.forget(key, current);
        }
      }
    }
    this.replaying = false;
    for (const [removalRow, target] of removals) if (this.refs.has(target)) this.pin(removalRow, target);
    const dead = rows.filter((r) => !this.refs.has(r));
    if (dead.length) this.db.transaction(() => dead.forEach((r) => this.sql.remove.run(r)))();
  }
}

/** The index entry for an upsert record (the record's own `consumed`, if it has one, counts as consumed). */
function entryFor(row: number, line: number, exp: number | null, payload: Record<string, unknown>): Entry {
  const entry: Entry = { row, line, exp: exp ?? Infinity, grantId: str(payload.grantId), uid: str(payload.uid), userCode: str(payload.userCode) };
  if (typeof payload.consumed === 'number') entry.consumed = payload.consumed;
  return entry;
}

/** The `n`th line of a commit row, without splitting the whole row. */
function lineAt(text: string, n: number): string {
  let start = 0;
  for (let i = 0; i < n; i++) start = text.indexOf('\n', start) + 1;
  const end = text.indexOf('\n', start);
  return end === -1 ? text.slice(start) : text.slice(start, end);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
