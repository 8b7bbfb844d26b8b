import type { ConsentRecord, ConsentRepo } from '../ports.ts';
import type { SqliteDb } from './index.ts';
import { fromJson, toJson } from './schema.ts';

export function sqliteConsents(db: SqliteDb): ConsentRepo {
  const get = db.prepare('SELECT doc FROM consents WHERE account_id = ? AND client_id = ?');
  const put = db.prepare('INSERT OR REPLACE INTO consents (account_id, client_id, updated_at, doc) VALUES (?, ?, ?, ?)');
  const list = db.prepare('SELECT doc FROM consents WHERE account_id = ? ORDER BY updated_at DESC');
  const del = db.prepare('DELETE FROM consents WHERE account_id = ? AND client_id = ?');
  const delAccount = db.prepare('DELETE FROM consents WHERE account_id = ?');
  const find = (accountId: string, clientId: string) => {
    const row = get.get(accountId, clientId) as { doc: string } | undefined;
    return row ? fromJson<ConsentRecord>(row.doc) : null;
  };
  return {
    async find(accountId, clientId) {
      return find(accountId, clientId);
    },
    async allow(accountId, clientId, scopes, claims) {
      // Synchronous read-modify-write: atomic within the one process that owns the embedded store.
      const now = new Date();
      const old = find(accountId, clientId);
      const rec: ConsentRecord = {
        accountId,
        clientId,
        scopes: [...new Set([...(old?.scopes ?? []), ...scopes])],
        claims: [...new Set([...(old?.claims ?? []), ...claims])],
        createdAt: old?.createdAt ?? now,
        updatedAt: now,
      };
      put.run(accountId, clientId, now.getTime(), toJson(rec));
      return rec;
    },
    async listForAccount(accountId) {
      return (list.all(accountId) as { doc: string }[]).map((r) => fromJson<ConsentRecord>(r.doc));
    },
    async revoke(accountId, clientId) {
      return del.run(accountId, clientId).changes > 0;
    },
    async deleteForAccount(accountId) {
      return delAccount.run(accountId).changes;
    },
  };
}
