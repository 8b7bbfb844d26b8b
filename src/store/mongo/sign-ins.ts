import type { SignInRepo } from '../ports.ts';
import type { MongoModels, SignInDoc } from './models.ts';

export function mongoSignIns(m: MongoModels): SignInRepo {
  const SignIns = m.signIns;
  return {
    async find(uid) {
      // Expiry checked here: the TTL monitor only cleans up, and runs once a minute at best.
      const d = await SignIns.findOne({ _id: uid, expiresAt: { $gt: new Date() } }).lean<SignInDoc>();
      return d ? (JSON.parse(JSON.stringify(d.record)) as Record<string, unknown>) : undefined;
    },
    async save(uid, accountId, record, expiresAt) {
      // A JSON round trip: the same document both adapters keep (no undefined, no class instances).
      const doc = JSON.parse(JSON.stringify(record)) as Record<string, unknown>;
      await SignIns.replaceOne({ _id: uid }, { _id: uid, accountId, expiresAt, record: doc }, { upsert: true });
    },
    async delete(uid) {
      await SignIns.deleteOne({ _id: uid });
    },
    async deleteForAccount(accountId) {
      return (await SignIns.deleteMany({ accountId })).deletedCount ?? 0;
    },
  };
}
