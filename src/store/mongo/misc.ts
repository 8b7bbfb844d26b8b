import type { AuditEvent, AuditRepo, KeyRepo } from '../ports.ts';
import { isDuplicateKey, type AuditDoc, type KeyDoc, type MongoModels } from './models.ts';

export function mongoKeys(m: MongoModels): KeyRepo {
  const Keys = m.keys;
  return {
    async getOrCreate<T>(name: string, create: () => T | Promise<T>): Promise<T> {
      const existing = await Keys.findById(name).lean<KeyDoc>();
      if (existing) return existing.value as T;
      const value = await create();
      try {
        await Keys.create({ _id: name, value, version: 1 });
        return value;
      } catch (err) {
        if (!isDuplicateKey(err)) throw err;
        // Another instance inserted first: its value wins for everyone.
        const winner = await Keys.findById(name).lean<KeyDoc>();
        if (!winner) throw err;
        return winner.value as T;
      }
    },
    async get<T>(name: string) {
      const d = await Keys.findById(name).lean<KeyDoc>();
      // Documents written before compare-and-set carry no version: they are version 0.
      return d ? { value: d.value as T, version: d.version ?? 0 } : null;
    },
    async set<T>(name: string, value: T, expected: number | null) {
      if (expected === null) {
        try {
          await Keys.create({ _id: name, value, version: 1 });
          return true;
        } catch (err) {
          if (isDuplicateKey(err)) return false;
          throw err;
        }
      }
      // One conditional update: atomic against every other instance and the CLI.
      const res = await Keys.updateOne(
        { _id: name, ...(expected === 0 ? { version: { $exists: false } } : { version: expected }) },
        { $set: { value, version: expected + 1 } },
      );
      return res.modifiedCount === 1;
    },
  };
}

function toEvent(d: AuditDoc): AuditEvent {
  return { at: d.at, type: d.type, accountId: d.accountId ?? null, ip: d.ip ?? null, detail: d.detail ?? {} };
}

export function mongoAudit(m: MongoModels): AuditRepo {
  const Audit = m.audit;
  return {
    async record(e) {
      await Audit.create({
        at: e.at ?? new Date(),
        type: e.type,
        accountId: e.accountId ?? null,
        ip: e.ip ?? null,
        detail: e.detail ?? {},
      });
    },
    async list(filter = {}) {
      const where: Record<string, unknown> = {};
      if (filter.type) where.type = filter.type;
      if (filter.accountId) where.accountId = filter.accountId;
      if (filter.clientId) where['detail.client'] = filter.clientId;
      if (filter.ip) where.ip = filter.ip;
      if (filter.since || filter.until) where.at = { ...(filter.since ? { $gte: filter.since } : {}), ...(filter.until ? { $lte: filter.until } : {}) };
      const docs = await Audit.find(where)
        .sort({ at: -1, _id: -1 })
        .limit(filter.limit ?? 100)
        .lean<AuditDoc[]>();
      return docs.map(toEvent);
    },
    async deleteBefore(before) {
      return (await Audit.deleteMany({ at: { $lt: before } })).deletedCount ?? 0;
    },
  };
}
