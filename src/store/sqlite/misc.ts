import type { AuditEvent, AuditRepo, KeyRepo } from '../ports.ts';
import type { SqliteDb } from './index.ts';
import { fromJson, toJson } from './schema.ts';

export function sqliteKeys(db: SqliteDb): KeyRepo {
  addVersionColumn(db);
  const get = db.prepare('SELECT value, version FROM keys WHERE name = ?');
  const insert = db.prepare('INSERT OR IGNORE INTO keys (name, value, version) VALUES (?, ?, 1)');
  // One statement each: atomic against the CLI or another process writing the same file.
  const update = db.prepare('UPDATE keys SET value = ?, version = version + 1 WHERE name = ? AND version = ?');
  return {
    async getOrCreate<T>(name: string, create: () => T | Promise<T>): Promise<T> {
      const existing = get.get(name) as { value: string } | undefined;
      if (existing) return fromJson<T>(existing.value);
      const value = await create();
      // INSERT OR IGNORE then read back: if another writer won meanwhile, everyone gets its value.
      insert.run(name, toJson(value));
      return fromJson<T>((get.get(name) as { value: string }).value);
    },
    async get<T>(name: string) {
      const row = get.get(name) as { value: string; version: number } | undefined;
      return row ? { value: fromJson<T>(row.value), version: Number(row.version) } : null;
    },
    async set<T>(name: string, value: T, expected: number | null) {
      const text = toJson(value);
      return (expected === null ? insert.run(name, text) : update.run(text, name, expected)).changes > 0;
    },
  };
}

/** Stores made before compare-and-set have no version column: rows there start at version 1. */
function addVersionColumn(db: SqliteDb) {
  const columns = db.prepare('PRAGMA table_info(keys)').all() as { name: string }[];
  if (columns.some((c) => c.name === 'version')) return;
  try {
    db.exec('ALTER TABLE keys ADD COLUMN version INTEGER NOT NULL DEFAULT 1');
  } catch (err) {
    // The server and the CLI may open an old file at the same moment: the other one added it.
    if (!/duplicate column/i.test((err as Error).message)) throw err;
  }
}

export function sqliteAudit(db: SqliteDb): AuditRepo {
  const insert = db.prepare('INSERT INTO audit (at, type, account_id, doc) VALUES (?, ?, ?, ?)'); // every sign-in records one
  return {
    async record(e) {
      const at = e.at ?? new Date();
      insert.run(
        at.getTime(), e.type, e.accountId, toJson({ ...e, at }),
      );
    },
    async list(filter = {}) {
      const where: string[] = [];
      const args: unknown[] = [];
      if (filter.type) (where.push('type = ?'), args.push(filter.type));
      if (filter.accountId) (where.push('account_id = ?'), args.push(filter.accountId));
      if (filter.clientId) (where.push("json_extract(doc, '$.detail.client') = ?"), args.push(filter.clientId));
      if (filter.ip) (where.push("json_extract(doc, '$.ip') = ?"), args.push(filter.ip));
      if (filter.since) (where.push('at >= ?'), args.push(filter.since.getTime()));
      if (filter.until) (where.push('at <= ?'), args.push(filter.until.getTime()));
      const sql = `SELECT doc FROM audit ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY at DESC, seq DESC LIMIT ?`;
      const rows = db.prepare(sql).all(...args, filter.limit ?? 100) as { doc: string }[];
      return rows.map((r) => fromJson<AuditEvent>(r.doc));
    },
    async deleteBefore(before) {
      return db.prepare('DELETE FROM audit WHERE at < ?').run(before.getTime()).changes;
    },
  };
}
