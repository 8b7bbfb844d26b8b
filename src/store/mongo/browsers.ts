import type { BrowserRecord, BrowserRepo } from '../ports.ts';
import type { BrowserDoc, MongoModels } from './models.ts';

const toRecord = (d: BrowserDoc): BrowserRecord => ({
  id: d._id,
  accountId: d.accountId,
  kind: d.kind,
  userAgent: d.userAgent,
  ip: d.ip,
  createdAt: d.createdAt,
  lastSeenAt: d.lastSeenAt,
  expiresAt: d.expiresAt,
});

export function mongoBrowsers(m: MongoModels): BrowserRepo {
  const Browsers = m.browsers;
  return {
    async seen(r) {
      await Browsers.updateOne(
        { _id: r.id },
        {
          $set: { accountId: r.accountId, kind: r.kind, userAgent: r.userAgent, ip: r.ip, lastSeenAt: r.lastSeenAt, expiresAt: r.expiresAt },
          $setOnInsert: { createdAt: r.createdAt },
        },
        { upsert: true },
      );
    },
    async find(id) {
      // Expiry checked here: the TTL monitor only cleans up.
      const d = await Browsers.findOne({ _id: id, expiresAt: { $gt: new Date() } }).lean<BrowserDoc>();
      return d ? toRecord(d) : undefined;
    },
    async listForAccount(accountId, kind) {
      const docs = await Browsers.find({ accountId, kind, expiresAt: { $gt: new Date() } }).sort({ lastSeenAt: -1 }).lean<BrowserDoc[]>();
      return docs.map(toRecord);
    },
    async delete(id) {
      await Browsers.deleteOne({ _id: id });
    },
    async deleteForAccount(accountId, kind) {
      return (await Browsers.deleteMany(kind ? { accountId, kind } : { accountId })).deletedCount ?? 0;
    },
  };
}
