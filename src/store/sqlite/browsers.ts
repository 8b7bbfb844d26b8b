import type { BrowserRecord, BrowserRepo } from '../ports.ts';
import type { SqliteDb } from './index.ts';
import { fromJson, toJson } from './schema.ts';

export function sqliteBrowsers(db: SqliteDb): BrowserRepo {
  const get = db.prepare('SELECT doc FROM browsers WHERE id = ? AND expires_at > ?');
  const put = db.prepare('INSERT OR REPLACE INTO browsers (id, account_id, kind, last_seen_at, expires_at, doc) VALUES (?, ?, ?, ?, ?, ?)');
  const list = db.prepare('SELECT doc FROM browsers WHERE account_id = ? AND kind = ? AND expires_at > ? ORDER BY last_seen_at DESC');
  const del = db.prepare('DELETE FROM browsers WHERE id = ?');
  const delAll = db.prepare('DELETE FROM browsers WHERE account_id = ?');
  const delKind = db.prepare('DELETE FROM browsers WHERE account_id = ? AND kind = ?');
  const find = (id: string) => {
    const row = get.get(id, Date.now()) as { doc: string } | undefined;
    return row ? fromJson<BrowserRecord>(row.doc) : undefined;
  };
  return {
    async seen(r) {
      const old = find(r.id);
      const rec: BrowserRecord = { ...r, createdAt: old && old.accountId === r.accountId ? old.createdAt : r.createdAt };
      put.run(rec.id, rec.accountId, rec.kind, rec.lastSeenAt.getTime(), rec.expiresAt.getTime(), toJson(rec));
    },
    async find(id) {
      return find(id);
    },
    async listForAccount(accountId, kind) {
      return (list.all(accountId, kind, Date.now()) as { doc: string }[]).map((row) => fromJson<BrowserRecord>(row.doc));
    },
    async delete(id) {
      del.run(id);
    },
    async deleteForAccount(accountId, kind) {
      return (kind ? delKind.run(accountId, kind) : delAll.run(accountId)).changes;
    },
  };
}
