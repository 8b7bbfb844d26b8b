import type { OidcArtifactRepo } from '../ports.ts';
import type { MongoModels, OidcDoc } from './models.ts';

const key = (model: string, id: string) => `${model}:${id}`;
const str = (v: unknown) => (typeof v === 'string' ? v : null);
/** Only artifacts without expiry or expiring in the future are visible: never trust the TTL monitor. */
const live = () => ({ $or: [{ expiresAt: null }, { expiresAt: { $gt: new Date() } }] });

export function mongoOidc(m: MongoModels): OidcArtifactRepo {
  const Oidc = m.oidc;
  const first = async (filter: Record<string, unknown>) => {
    const d = await Oidc.findOne({ ...filter, ...live() }, { payload: 1 }).lean<Pick<OidcDoc, 'payload'>>();
    return d ? (d.payload ?? {}) : undefined;
  };
  return {
    async upsert(model, id, payload, expiresAt) {
      // A JSON round trip gives the same document both adapters keep (no undefined, no class instances).
      const doc = JSON.parse(JSON.stringify(payload)) as Record<string, unknown>;
      await Oidc.replaceOne(
        { _id: key(model, id) },
        {
          _id: key(model, id),
          model,
          oid: id,
          payload: doc,
          expiresAt: expiresAt ?? null,
          grantId: str(doc.grantId),
          userCode: str(doc.userCode),
          uid: str(doc.uid),
        },
        { upsert: true },
      );
    },
    async find(model, id) {
      return first({ _id: key(model, id) });
    },
    async findByUid(model, uid) {
      return first({ model, uid });
    },
    async findByUserCode(model, userCode) {
      return first({ model, userCode });
    },
    async consume(model, id) {
      await Oidc.updateOne({ _id: key(model, id) }, { $set: { 'payload.consumed': Math.floor(Date.now() / 1000) } });
    },
    async destroy(model, id) {
      await Oidc.deleteOne({ _id: key(model, id) });
    },
    async revokeByGrantId(grantId) {
      await Oidc.deleteMany({ grantId });
    },
    durably(fn) {
      return fn(); // each write above is acknowledged by the replica set before it resolves
    },
  };
}
