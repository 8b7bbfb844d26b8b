import type { OidcArtifactRepo } from '../ports.ts';
import type { SqliteDb } from './index.ts';

type Row = { payload: string; expires_at: number | null };

export function sqliteOidc(db: SqliteDb): OidcArtifactRepo {
  const upsert = db.prepare(
    `INSERT INTO oidc (model, id, payload, expires_at, grant_id, user_code, uid) VALUES (?, ?, ?, ?, ?, ?, ?)
     ON CONFLICT (model, id) DO UPDATE SET payload = excluded.payload, expires_at = excluded.expires_at,
       grant_id = excluded.grant_id, user_code = excluded.user_code, uid = excluded.uid`,
  );
  const find = db.prepare('SELECT payload, expires_at FROM oidc WHERE model = ? AND id = ?');
  const findUid = db.prepare('SELECT payload, expires_at FROM oidc WHERE model = ? AND uid = ?');
  const findUserCode = db.prepare('SELECT payload, expires_at FROM oidc WHERE model = ? AND user_code = ?');
  // Prepared once: consume runs on every code exchange and refresh, destroy on every sign-in.
  const consume = db.prepare("UPDATE oidc SET payload = json_set(payload, '$.consumed', ?) WHERE model = ? AND id = ?");
  const destroy = db.prepare('DELETE FROM oidc WHERE model = ? AND id = ?');
  const revoke = db.prepare('DELETE FROM oidc WHERE grant_id = ?');
  const live = (row: Row | undefined) =>
    row && (row.expires_at === null || row.expires_at > Date.now()) ? (JSON.parse(row.payload) as Record<string, unknown>) : undefined;
  const str = (v: unknown) => (typeof v === 'string' ? v : null);
  return {
    async upsert(model, id, payload, expiresAt) {
      upsert.run(model, id, JSON.stringify(payload), expiresAt ? expiresAt.getTime() : null, str(payload.grantId), str(payload.userCode), str(payload.uid));
    },
    async find(model, id) {
      return live(find.get(model, id) as Row | undefined);
    },
    async findByUid(model, uid) {
      return live(findUid.get(model, uid) as Row | undefined);
    },
    async findByUserCode(model, userCode) {
      return live(findUserCode.get(model, userCode) as Row | undefined);
    },
    async consume(model, id) {
      consume.run(Math.floor(Date.now() / 1000), model, id);
    },
    async destroy(model, id) {
      destroy.run(model, id);
    },
    async revokeByGrantId(grantId) {
      revoke.run(grantId);
    },
  };
}
