import type { ChallengeRecord, ChallengeRepo } from '../ports.ts';
import type { SqliteDb } from './index.ts';
import { fromJson, toJson } from './schema.ts';

type Row = { doc: string };

export function sqliteChallenges(db: SqliteDb): ChallengeRepo {
  const byId = db.prepare('SELECT doc FROM challenges WHERE id = ?');
  const write = db.prepare('UPDATE challenges SET doc = ? WHERE id = ?');
  const read = (id: string) => {
    const row = byId.get(id) as Row | undefined;
    return row ? fromJson<ChallengeRecord>(row.doc) : null;
  };
  // Each mutation below is a synchronous read-check-write, so it is atomic within this process.
  const mutate = (id: string, fn: (c: ChallengeRecord) => ChallengeRecord | null) => {
    const current = read(id);
    if (!current) return null;
    const next = fn(current);
    if (next) write.run(toJson(next), id);
    return next;
  };
  return {
    async create(c) {
      db.prepare('INSERT INTO challenges (id, account_id, purpose, context, expires_at, created_at, doc) VALUES (?, ?, ?, ?, ?, ?, ?)').run(
        c.id, c.accountId, c.purpose, c.context, c.expiresAt.getTime(), c.createdAt.getTime(), toJson(c),
      );
    },
    async find(id) {
      return read(id);
    },
    async findActive(accountId, purpose, context) {
      const row = db
        .prepare(
          `SELECT doc FROM challenges WHERE account_id = ? AND purpose = ? AND context IS ? AND expires_at > ?
             AND json_extract(doc, '$.consumedAt') IS NULL
             AND json_extract(doc, '$.attempts') < json_extract(doc, '$.maxAttempts')
           ORDER BY created_at DESC LIMIT 1`,
        )
        .get(accountId, purpose, context, Date.now()) as Row | undefined;
      return row ? fromJson<ChallengeRecord>(row.doc) : null;
    },
    async addAttempt(id) {
      return mutate(id, (c) => (c.consumedAt ? null : { ...c, attempts: c.attempts + 1 }));
    },
    async consume(id, now) {
      const done = mutate(id, (c) =>
        !c.consumedAt && c.attempts < c.maxAttempts && c.expiresAt.getTime() > now.getTime() ? { ...c, consumedAt: now } : null,
      );
      return done !== null;
    },
    async markSent(id, at, codeHash) {
      mutate(id, (c) => ({ ...c, sends: c.sends + 1, lastSentAt: at, ...(codeHash ? { codeHash } : {}) }));
    },
    async voidOpen(accountId, purpose) {
      const rows = db.prepare('SELECT doc FROM challenges WHERE account_id = ? AND purpose = ?').all(accountId, purpose) as Row[];
      const now = new Date();
      for (const r of rows) {
        const c = fromJson<ChallengeRecord>(r.doc);
        if (!c.consumedAt) write.run(toJson({ ...c, consumedAt: now }), c.id);
      }
    },
  };
}
