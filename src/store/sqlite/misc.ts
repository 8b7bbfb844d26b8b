import type { AuditEvent, AuditRepo, KeyRepo } from '../ports.ts';
import type { SqliteDb } from './index.ts';
import { fromJson, toJson } from './schema.ts';

export function sqliteKeys(db: SqliteDb): KeyRepo {
  const get = db.prepare('SELECT value FROM keys WHERE name = ?');
  return {
    async getOrCreate<T>(name: string, create: () => T | Promise<T>): Promise<T> {
      const existing = get.get(name) as { value: string } | undefined;
      if (existing) return fromJson<T>(existing.value);
      const value = await create();
      // INSERT OR IGNORE then read back: if another writer won meanwhile, everyone gets its value.
      db.prepare('INSERT OR IGNORE INTO keys (name, value) VALUES (?, ?)').run(name, toJson(value));
      return fromJson<T>((get.get(name) as { value: string }).value);
    },
  };
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
