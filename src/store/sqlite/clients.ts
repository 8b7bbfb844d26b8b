import type { ClientRecord, ClientRepo } from '../ports.ts';
import { StoreConflictError } from '../ports.ts';
import type { SqliteDb } from './index.ts';
import { fromJson, toJson, isUniqueViolation } from './schema.ts';

type Row = { doc: string };

export function sqliteClients(db: SqliteDb): ClientRepo {
  const byId = db.prepare('SELECT doc FROM clients WHERE client_id = ?');
  const read = (id: string) => {
    const row = byId.get(id) as Row | undefined;
    return row ? fromJson<ClientRecord>(row.doc) : null;
  };
  return {
    async create(c) {
      try {
        db.prepare('INSERT INTO clients (client_id, created_at, doc) VALUES (?, ?, ?)').run(c.clientId, c.createdAt.getTime(), toJson(c));
      } catch (err) {
        if (isUniqueViolation(err)) throw new StoreConflictError('a client with this client_id exists');
        throw err;
      }
    },
    async find(id) {
      return read(id);
    },
    async list() {
      return (db.prepare('SELECT doc FROM clients ORDER BY created_at, client_id').all() as Row[]).map((r) =>
        fromJson<ClientRecord>(r.doc),
      );
    },
    async update(id, patch) {
      const current = read(id);
      if (!current) return null;
      // A cleared previous secret is dropped from the document (absent = none, as on MongoDB).
      const { previousSecret: _dropped, ...rest } = current;
      const previousSecret = patch.previousSecret !== undefined ? patch.previousSecret : current.previousSecret;
      const next: ClientRecord = {
        ...rest,
        ...(previousSecret ? { previousSecret } : {}),
        ...(patch.metadata !== undefined ? { metadata: patch.metadata } : {}),
        ...(patch.secretEncrypted !== undefined ? { secretEncrypted: patch.secretEncrypted } : {}),
        updatedAt: new Date(),
      };
      db.prepare('UPDATE clients SET doc = ? WHERE client_id = ?').run(toJson(next), id);
      return next;
    },
    async replaceSecret(id, from, to) {
      // One statement: atomic against the server or another CLI rotating the secret meanwhile.
      return (
        db
          .prepare("UPDATE clients SET doc = json_set(doc, '$.secretEncrypted', ?) WHERE client_id = ? AND json_extract(doc, '$.secretEncrypted') = ?")
          .run(to, id, from).changes > 0
      );
    },
    async delete(id) {
      return db.prepare('DELETE FROM clients WHERE client_id = ?').run(id).changes > 0;
    },
  };
}
