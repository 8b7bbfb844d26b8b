import type { SignInRepo } from '../ports.ts';
import type { SqliteDb } from './index.ts';
import { fromJson, toJson } from './schema.ts';

export function sqliteSignIns(db: SqliteDb): SignInRepo {
  const get = db.prepare('SELECT doc FROM sign_ins WHERE uid = ? AND expires_at > ?');
  const put = db.prepare('INSERT OR REPLACE INTO sign_ins (uid, account_id, expires_at, doc) VALUES (?, ?, ?, ?)');
  const del = db.prepare('DELETE FROM sign_ins WHERE uid = ?');
  const delAccount = db.prepare('DELETE FROM sign_ins WHERE account_id = ?');
  return {
    async find(uid) {
      const row = get.get(uid, Date.now()) as { doc: string } | undefined;
      return row ? fromJson<Record<string, unknown>>(row.doc) : undefined;
    },
    async save(uid, accountId, record, expiresAt) {
      put.run(uid, accountId, expiresAt.getTime(), toJson(record));
    },
    async delete(uid) {
      del.run(uid);
    },
    async deleteForAccount(accountId) {
      return delAccount.run(accountId).changes;
    },
  };
}
