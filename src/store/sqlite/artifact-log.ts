// oidc-provider's artifacts (sessions, grants, codes, tokens, ...) in the embedded store.
//
// Why not a plain indexed table: every token request writes one or more artifacts, and a token id is
// random, so each INSERT into a table keyed by (model, id) lands on a random B-tree page, plus a random
// page of the grant index; SQLite then writes every touched page to the WAL at commit. Measured here
// (bench/, issue #4) that was ~45 µs per token write, a third of a client_credentials request.
//
// So the table is an append log (rows keyed by an increasing `seq`, no secondary index: an insert
// touches the last page only) and the lookups live in memory: (model, id) → seq, grant → members,
// uid → id. One process owns the log (claim(): a lock file; the embedded store serves one instance,
// scale-out uses MongoDB), so the memory index is always the truth of what the file holds; it is
// rebuilt from the file at start.
//
// Writes are group-committed: every write of one event-loop turn goes into one transaction at the end
// of the turn, and a write's promise resolves only after that COMMIT. In the server (claim()), writes
// return at once instead and each request waits for the commits in durably() just before its response
// goes out (app.ts wraps every request in it), so a refresh's three writes share a commit with each
// other and with concurrent requests. Either way a response that hands out a token is sent after the
// token is on disk (WAL, synchronous = NORMAL). Reads see staged writes at once (recent payloads are
// kept in memory).
import fs from 'node:fs';
import type { OidcArtifactRepo } from '../ports.ts';
import type { SqliteDb } from './index.ts';

interface Entry {
  seq: number;
  exp: number; // epoch ms; Infinity = no expiry
  grantId?: string;
  uid?: string;
  userCode?: string;
}

type Row = { seq: number; model: string; id: string; expires_at: number | null; grant_id: string | null; uid: string | null; user_code: string | null };

/** Payloads of recent writes (as written) and reads (parsed), newest last; pending ones are never evicted. */
const CACHE_MAX = 4096;
const SEP = '\u0000';
const keyOf = (model: string, id: string) => `${model}${SEP}${id}`;
const str = (v: unknown) => (typeof v === 'string' && v.length ? v : undefined);

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
  private readonly cache = new Map<string, Record<string, unknown> | string>();
  private lastSeq = 0;
  private loaded = false;
  private lockFile: string | null = null;

  // The group commit: staged statements, and one promise for the whole batch.
  private staged: Array<[{ run(...args: unknown[]): unknown }, unknown[]]> = [];
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
      insert: db.prepare('INSERT INTO oidc_log (seq, model, id, payload, expires_at, grant_id, uid, user_code) VALUES (?, ?, ?, ?, ?, ?, ?, ?)'),
      update: db.prepare('UPDATE oidc_log SET payload = ?, expires_at = ?, grant_id = ?, uid = ?, user_code = ?, consumed = NULL WHERE seq = ?'),
      setConsumed: db.prepare('UPDATE oidc_log SET consumed = ? WHERE seq = ?'),
      remove: db.prepare('DELETE FROM oidc_log WHERE seq = ?'),
      payload: db.prepare('SELECT payload, consumed FROM oidc_log WHERE seq = ?'),
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

  async upsert(model: string, id: string, payload: Record<string, unknown>, expiresAt: Date | null) {
    this.load();
    const key = keyOf(model, id);
    const json = JSON.stringify(payload);
    const exp = expiresAt ? expiresAt.getTime() : null;
    const next: Entry = { seq: 0, exp: exp ?? Infinity, grantId: str(payload.grantId), uid: str(payload.uid), userCode: str(payload.userCode) };
    const old = this.byKey.get(key);
    if (old) {
      next.seq = old.seq;
      this.unlink(model, key, old);
      this.stage(this.sql.update, [json, exp, next.grantId ?? null, next.uid ?? null, next.userCode ?? null, old.seq]);
    } else {
      next.seq = ++this.lastSeq;
      this.stage(this.sql.insert, [next.seq, model, id, json, exp, next.grantId ?? null, next.uid ?? null, next.userCode ?? null]);
    }
    this.link(model, key, next);
    this.remember(key, json); // most written tokens are never read back here: parse only when one is
    return this.settled();
  }

  async find(model: string, id: string) {
    this.load();
    return this.read(keyOf(model, id));
  }

  async findByUid(model: string, uid: string) {
    this.load();
    const key = this.byUid.get(keyOf(model, uid));
    return key ? this.read(key) : undefined;
  }

  async findByUserCode(model: string, userCode: string) {
    this.load();
    const key = this.byUserCode.get(keyOf(model, userCode));
    return key ? this.read(key) : undefined;
  }

  async consume(model: string, id: string) {
    this.load();
    const key = keyOf(model, id);
    const entry = this.byKey.get(key);
    if (!entry) return;
    const payload = this.payloadOf(key, entry);
    payload.consumed = Math.floor(Date.now() / 1000);
    this.remember(key, payload);
    // A column, not a rewrite of the payload: consume runs on every refresh and code exchange.
    this.stage(this.sql.setConsumed, [payload.consumed, entry.seq]);
    return this.settled();
  }

  async destroy(model: string, id: string) {
    this.load();
    const key = keyOf(model, id);
    if (!this.byKey.has(key)) return;
    this.drop(model, key);
    return this.settled();
  }

  async revokeByGrantId(grantId: string) {
    this.load();
    const members = this.byGrant.get(grantId);
    if (!members) return;
    for (const key of [...members]) this.drop(key.slice(0, key.indexOf(SEP)), key);
    return this.settled();
  }

  /** Drops every artifact expired at `now` (reads already ignore them; this frees the space). */
  purgeExpired(now: number): void {
    this.load();
    for (const [key, entry] of this.byKey) if (entry.exp <= now) this.drop(key.slice(0, key.indexOf(SEP)), key);
    this.flush();
  }

  // ---- internals -----------------------------------------------------------------------------------

  private read(key: string): Record<string, unknown> | undefined {
    const entry = this.byKey.get(key);
    if (!entry || entry.exp <= Date.now()) return undefined;
    return this.payloadOf(key, entry);
  }

  /** A copy the caller may change: oidc-provider's models do change what they are given. */
  private payloadOf(key: string, entry: Entry): Record<string, unknown> {
    const cached = this.cache.get(key);
    if (cached !== undefined && typeof cached !== 'string') return copy(cached);
    let parsed: Record<string, unknown>;
    if (cached !== undefined) parsed = JSON.parse(cached) as Record<string, unknown>;
    else {
      const row = this.sql.payload.get(entry.seq) as { payload: string; consumed: number | null };
      parsed = JSON.parse(row.payload) as Record<string, unknown>;
      if (row.consumed !== null) parsed.consumed = row.consumed;
    }
    this.remember(key, copy(parsed));
    return parsed;
  }

  private remember(key: string, payload: Record<string, unknown> | string) {
    this.cache.delete(key); // re-inserting moves it to the newest end
    this.cache.set(key, payload);
  }

  private drop(model: string, key: string) {
    const entry = this.byKey.get(key)!;
    this.unlink(model, key, entry);
    this.byKey.delete(key);
    this.cache.delete(key);
    this.stage(this.sql.remove, [entry.seq]);
  }

  private link(model: string, key: string, e: Entry) {
    this.byKey.set(key, e);
    if (e.grantId) {
      let members = this.byGrant.get(e.grantId);
      if (!members) this.byGrant.set(e.grantId, (members = new Set()));
      members.add(key);
    }
    if (e.uid) this.byUid.set(keyOf(model, e.uid), key);
    if (e.userCode) this.byUserCode.set(keyOf(model, e.userCode), key);
  }

  private unlink(model: string, key: string, e: Entry) {
    if (e.grantId) {
      const members = this.byGrant.get(e.grantId);
      members?.delete(key);
      if (members?.size === 0) this.byGrant.delete(e.grantId);
    }
    if (e.uid && this.byUid.get(keyOf(model, e.uid)) === key) this.byUid.delete(keyOf(model, e.uid));
    if (e.userCode && this.byUserCode.get(keyOf(model, e.userCode)) === key) this.byUserCode.delete(keyOf(model, e.userCode));
  }

  /** What a write returns: its commit, or nothing in the server, where durably() waits instead. */
  private settled(): Promise<void> | undefined {
    return this.deferred ? undefined : this.batch!.promise;
  }

  private stage(stmt: { run(...args: unknown[]): unknown }, args: unknown[]) {
    this.staged.push([stmt, args]);
    if (!this.batch) {
      let resolve!: () => void;
      let reject!: (err: Error) => void;
      const promise = new Promise<void>((res, rej) => ((resolve = res), (reject = rej)));
      promise.catch(() => {}); // a failure reaches whoever waits for it; nobody waiting is no crash
      this.batch = { promise, resolve, reject };
      setImmediate(() => this.flush());
    }
  }

  /** One transaction for everything staged; synchronous, so no other statement can interleave. */
  private flush() {
    const batch = this.batch;
    if (!batch) return;
    const ops = this.staged;
    this.staged = [];
    this.batch = null;
    this.flushes++;
    try {
      this.sql.begin.run();
      for (const [stmt, args] of ops) stmt.run(...args);
      this.sql.commit.run();
    } catch (err) {
      try {
        this.sql.rollback.run();
      } catch {
        // nothing open to roll back (BEGIN itself failed)
      }
      // The memory index already shows the failed writes: rebuild it from what the file holds.
      this.loaded = false;
      this.load();
      const error = err instanceof Error ? err : new Error(String(err));
      this.failedFlush = this.flushes;
      this.failure = error;
      this.onFlushError(error);
      batch.reject(error);
      return;
    }
    while (this.cache.size > CACHE_MAX) this.cache.delete(this.cache.keys().next().value!);
    batch.resolve();
  }

  /** Builds the memory index from the file (first use, or after a failed commit). */
  private load() {
    if (this.loaded) return;
    this.loaded = true;
    this.byKey.clear();
    this.byGrant.clear();
    this.byUid.clear();
    this.byUserCode.clear();
    this.cache.clear();
    const now = Date.now();
    const expired: number[] = [];
    const rows = this.db.prepare('SELECT seq, model, id, expires_at, grant_id, uid, user_code FROM oidc_log ORDER BY seq').iterate() as Iterable<Row>;
    for (const r of rows) {
      this.lastSeq = Math.max(this.lastSeq, r.seq);
      if (r.expires_at !== null && r.expires_at <= now) {
        expired.push(r.seq);
        continue;
      }
      const key = keyOf(r.model, r.id);
      const old = this.byKey.get(key);
      if (old) expired.push(old.seq); // cannot happen through this class; a newer row wins if it does
      this.link(r.model, key, { seq: r.seq, exp: r.expires_at ?? Infinity, grantId: r.grant_id ?? undefined, uid: r.uid ?? undefined, userCode: r.user_code ?? undefined });
    }
    if (expired.length) {
      for (const seq of expired) this.staged.push([this.sql.remove, [seq]]);
      if (!this.batch) {
        // Nobody awaits this clean-up: commit it now.
        const ops = this.staged;
        this.staged = [];
        this.db.transaction(() => ops.forEach(([stmt, args]) => stmt.run(...args)))();
      }
    }
  }
}

/** Deep copy of a JSON value (a sixth of JSON.parse's cost for a token payload, measured here). */
function copy<T>(value: T): T {
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) return value.map(copy) as T;
  const out: Record<string, unknown> = {};
  for (const k in value) out[k] = copy((value as Record<string, unknown>)[k]);
  return out as T;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
