// The append log on disk: table artifact_log, one row per commit holding that commit's records as UTF-8
// bytes (a BLOB). Why not a table with a row per artifact: a token id is random, so each INSERT into a
// table keyed by (model, id) lands on a random B-tree page, plus a random page of the grant index, and
// every touched page goes to the WAL at commit. Measured here (bench/, issue #4) that was ~45 µs per
// token write, a third of a client_credentials request; a row per artifact in an append-only table still
// cost ~7 µs per statement plus the commit. A commit row touches the last pages only.
import type { SqliteDb } from '../index.ts';

/** What libsql hands out for a BLOB: a Buffer from get(), an ArrayBuffer from iterate(). */
type BlobValue = Buffer | ArrayBuffer;
const bytesOf = (blob: BlobValue): Buffer => (Buffer.isBuffer(blob) ? blob : Buffer.from(blob)); // a view, no copy

export class LogFile {
  private readonly sql;

  constructor(private readonly db: SqliteDb) {
    this.sql = {
      insert: db.prepare('INSERT INTO artifact_log (seq, lines) VALUES (?, ?)'),
      remove: db.prepare('DELETE FROM artifact_log WHERE seq = ?'),
      record: db.prepare('SELECT substr(lines, ?, ?) AS record FROM artifact_log WHERE seq = ?'),
      begin: db.prepare('BEGIN'),
      commit: db.prepare('COMMIT'),
      rollback: db.prepare('ROLLBACK'),
    };
  }

  /**
   * One transaction: the new row (if any) and the deletion of dead rows. Throws what SQLite threw, with
   * nothing of it applied.
   */
  commit(seq: number, bytes: Buffer | null, dead: readonly number[]): void {
    // The usual commit is the one INSERT: on its own it is its own transaction (BEGIN and COMMIT as
    // statements cost ~10 µs more per commit, measured).
    if (dead.length === 0) {
      if (bytes) this.sql.insert.run(seq, bytes);
      return;
    }
    try {
      this.sql.begin.run();
      if (bytes) this.sql.insert.run(seq, bytes);
      for (const r of dead) this.sql.remove.run(r);
      this.sql.commit.run();
    } catch (err) {
      try {
        this.sql.rollback.run();
      } catch {
        // nothing open to roll back (BEGIN itself failed, or SQLite already rolled back)
      }
      throw err;
    }
  }

  /** One record of a row, by its place in bytes. */
  record(seq: number, start: number, end: number): string {
    return bytesOf((this.sql.record.get(start + 1, end - start, seq) as { record: BlobValue }).record).toString('utf8');
  }

  /** Every row in order, as bytes. */
  *rows(): Generator<{ seq: number; bytes: Buffer }> {
    for (const { seq, lines } of this.db.prepare('SELECT seq, lines FROM artifact_log ORDER BY seq').iterate() as Iterable<{ seq: number; lines: BlobValue }>) {
      yield { seq, bytes: bytesOf(lines) };
    }
  }

  /** Deletes rows found dead at replay. */
  remove(seqs: readonly number[]): void {
    if (seqs.length) this.db.transaction(() => seqs.forEach((s) => this.sql.remove.run(s)))();
  }
}
