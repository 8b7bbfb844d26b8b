import type { ConsentRecord, ConsentRepo } from '../ports.ts';
import type { ConsentDoc, MongoModels } from './models.ts';

const toRecord = (d: ConsentDoc): ConsentRecord => ({
  accountId: d.accountId,
  clientId: d.clientId,
  scopes: [...d.scopes],
  claims: [...d.claims],
  createdAt: d.createdAt,
  updatedAt: d.updatedAt,
});

export function mongoConsents(m: MongoModels): ConsentRepo {
  const Consents = m.consents;
  return {
    async find(accountId, clientId) {
      const d = await Consents.findOne({ accountId, clientId }).lean<ConsentDoc>();
      return d ? toRecord(d) : null;
    },
    async allow(accountId, clientId, scopes, claims) {
      // One upsert: $addToSet keeps concurrent allowances from two instances both.
      const now = new Date();
      const d = await Consents.findOneAndUpdate(
        { accountId, clientId },
        { $addToSet: { scopes: { $each: scopes }, claims: { $each: claims } }, $set: { updatedAt: now }, $setOnInsert: { createdAt: now } },
        { upsert: true, returnDocument: 'after' },
      ).lean<ConsentDoc>();
      return toRecord(d!);
    },
    async listForAccount(accountId) {
      return (await Consents.find({ accountId }).sort({ updatedAt: -1 }).lean<ConsentDoc[]>()).map(toRecord);
    },
    async revoke(accountId, clientId) {
      return ((await Consents.deleteOne({ accountId, clientId })).deletedCount ?? 0) > 0;
    },
    async deleteForAccount(accountId) {
      return (await Consents.deleteMany({ accountId })).deletedCount ?? 0;
    },
  };
}
