import type { OidcArtifactRepo } from '../ports.ts';
import type { MongoModels, OidcDoc } from './models.ts';
import { OWNED_MODELS, isOwnedModel, ownersOf } from '../owners.ts';

const key = (model: string, id: string) => `${model}:${id}`;
const str = (v: unknown) => (typeof v === 'string' ? v : null);
/** Only artifacts without expiry or expiring in the future are visible: never trust the TTL monitor. */
const live = () => ({ $or: [{ expiresAt: null }, { expiresAt: { $gt: new Date() } }] });

function owned(model: string, doc: Record<string, unknown>) {
  const { accountIds, sessionUid } = ownersOf(model, doc);
  return { accountIds, sessionUid: sessionUid ?? null };
}

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
          // Who owns it, for revokeAccount: only on sessions, grants, interactions and pending sign-ins.
          ...(isOwnedModel(model) ? owned(model, doc) : {}),
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
    async findByGrantId(model, grantId) {
      // {grantId} is indexed; a grant holds a handful of artifacts.
      const docs = await Oidc.find({ grantId, model, ...live() }, { payload: 1 }).lean<Array<Pick<OidcDoc, 'payload'>>>();
      return docs.map((d) => d.payload ?? {});
    },
    async revokeByGrantId(grantId) {
      await Oidc.deleteMany({ grantId });
    },
    async revokeAccount(accountId, opts = {}) {
      const keep = opts.keepSessionUid;
      // Documents written before accountIds existed are matched on their payload; the {model, accountIds}
      // index bounds that part of the query to those documents.
      const legacy = {
        accountIds: { $exists: false },
        $or: [{ 'payload.accountId': accountId }, { 'payload.session.accountId': accountId }, { 'payload.result.login.accountId': accountId }],
      };
      const docs = await Oidc.find(
        { model: { $in: OWNED_MODELS }, $or: [{ accountIds: accountId }, legacy] },
        { model: 1, oid: 1, expiresAt: 1, sessionUid: 1, 'payload.uid': 1, 'payload.session.uid': 1 },
      ).lean<Array<Pick<OidcDoc, '_id' | 'model' | 'oid' | 'expiresAt' | 'sessionUid' | 'payload'>>>();
      const browser = (d: (typeof docs)[number]) => d.sessionUid ?? ownersOf(d.model, d.payload ?? {}).sessionUid;
      const doomed = docs.filter((d) => keep === undefined || (d.model !== 'Session' && d.model !== 'Interaction') || browser(d) !== keep);
      const now = Date.now();
      const counted = (model: string) => doomed.filter((d) => d.model === model && (!d.expiresAt || d.expiresAt.getTime() > now)).length;
      const grants = doomed.filter((d) => d.model === 'Grant');
      const rest = doomed.filter((d) => d.model !== 'Grant');
      // The grants first, then what they issued (a token checks its grant when used).
      if (grants.length) {
        await Oidc.deleteMany({ _id: { $in: grants.map((d) => d._id) } });
        // ...but not the kept browser's interaction in progress (it continues, e.g. after a reset; resuming
        // it makes a new grant).
        const kept = keep === undefined ? {} : { $nor: [{ model: 'Interaction', sessionUid: keep }] };
        await Oidc.deleteMany({ grantId: { $in: grants.map((d) => d.oid) }, ...kept });
      }
      if (rest.length) await Oidc.deleteMany({ _id: { $in: rest.map((d) => d._id) } });
      return { sessions: counted('Session'), grants: counted('Grant') };
    },
    durably(fn) {
      return fn(); // each write above is acknowledged by the replica set before it resolves
    },
  };
}
