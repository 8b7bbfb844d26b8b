import type { AccountPatch, AccountRecord, AccountRepo, ClientRecord, ClientRepo } from '../ports.ts';
import { StoreConflictError, type FactorRecord } from '../ports.ts';
import { factorsFromLegacy } from '../../factors/records.ts';
import { randomId } from '../../secrets.ts';
import { isDuplicateKey, type AccountDoc, type ClientDoc, type MongoModels } from './models.ts';

function toAccount(d: AccountDoc): AccountRecord {
  return {
    id: d._id,
    email: d.email,
    emailVerified: Boolean(d.emailVerified),
    name: d.name ?? '',
    passwordHash: d.passwordHash ?? '',
    phoneNumber: d.phoneNumber ?? null,
    phoneNumberVerified: Boolean(d.phoneNumberVerified),
    factors: Array.isArray(d.factors) ? d.factors.map(toFactor) : factorsFromLegacy(d, () => randomId(9)),
    preferredMfa: (d.preferredMfa ?? null) as AccountRecord['preferredMfa'],
    createdAt: d.createdAt,
    updatedAt: d.updatedAt,
  };
}

function toFactor(f: FactorRecord): FactorRecord {
  return { id: f.id, type: f.type, createdAt: new Date(f.createdAt), lastUsedAt: f.lastUsedAt ? new Date(f.lastUsedAt) : null, data: { ...(f.data ?? {}) } };
}

/** Rewrites every account stored before factor records (`mfa` + `recoveryCodes`) in the new shape, at open. */
export async function migrateAccounts(m: MongoModels): Promise<number> {
  const old = await m.accounts.find({ factors: { $exists: false } }).lean<AccountDoc[]>();
  for (const d of old) {
    await m.accounts.updateOne(
      { _id: d._id, factors: { $exists: false } },
      { $set: { factors: factorsFromLegacy(d, () => randomId(9)), preferredMfa: d.preferredMfa ?? null }, $unset: { mfa: 1, recoveryCodes: 1 } },
    );
  }
  return old.length;
}

function toClient(d: ClientDoc): ClientRecord {
  return {
    clientId: d._id,
    metadata: d.metadata ?? {},
    secretEncrypted: d.secretEncrypted ?? null,
    createdAt: d.createdAt,
    updatedAt: d.updatedAt,
  };
}

/** Drops undefined values so a patch never unsets a field by accident. */
function defined<T extends object>(patch: T): Partial<T> {
  return Object.fromEntries(Object.entries(patch).filter(([, v]) => v !== undefined)) as Partial<T>;
}

export function mongoAccounts(m: MongoModels): AccountRepo {
  const Accounts = m.accounts;
  return {
    async create(a) {
      try {
        await Accounts.create({
          _id: a.id,
          email: a.email,
          emailVerified: a.emailVerified,
          name: a.name,
          passwordHash: a.passwordHash,
          phoneNumber: a.phoneNumber,
          phoneNumberVerified: a.phoneNumberVerified,
          factors: a.factors,
          preferredMfa: a.preferredMfa,
          createdAt: a.createdAt,
          updatedAt: a.updatedAt,
        });
      } catch (err) {
        if (isDuplicateKey(err)) throw new StoreConflictError('an account with this email or id exists');
        throw err;
      }
    },
    async findById(id) {
      const d = await Accounts.findById(id).lean<AccountDoc>();
      return d ? toAccount(d) : null;
    },
    viewById(id) {
      return this.findById(id);
    },
    async findByEmail(email) {
      const d = await Accounts.findOne({ email }).lean<AccountDoc>();
      return d ? toAccount(d) : null;
    },
    async update(id, patch: AccountPatch) {
      const { id: _i, createdAt: _c, updatedAt: _u, ...rest } = patch as AccountPatch & Partial<AccountRecord>;
      try {
        const d = await Accounts.findOneAndUpdate(
          { _id: id },
          { $set: { ...defined(rest), updatedAt: new Date() } },
          { returnDocument: 'after' },
        ).lean<AccountDoc>();
        return d ? toAccount(d) : null;
      } catch (err) {
        if (isDuplicateKey(err)) throw new StoreConflictError('an account with this email exists');
        throw err;
      }
    },
    async useRecoveryCode(id, codeHash) {
      // One conditional update: only the caller whose $pull removed the hash sees modifiedCount 1.
      const now = new Date();
      const res = await Accounts.updateOne(
        { _id: id, factors: { $elemMatch: { type: 'recovery', 'data.codes': codeHash } } },
        { $pull: { 'factors.$.data.codes': codeHash }, $set: { 'factors.$.lastUsedAt': now, updatedAt: now } },
      );
      return res.modifiedCount === 1;
    },
    async advanceTotpStep(id, step) {
      // Conditional on the stored step being older: one of two concurrent uses of a code wins.
      const now = new Date();
      const res = await Accounts.updateOne(
        { _id: id, factors: { $elemMatch: { type: 'totp', 'data.lastStep': { $lt: step } } } },
        { $set: { 'factors.$.data.lastStep': step, 'factors.$.lastUsedAt': now, updatedAt: now } },
      );
      return res.modifiedCount === 1;
    },
    async list(opts = {}) {
      const docs = await Accounts.find({})
        .sort({ createdAt: 1, _id: 1 })
        .skip(opts.offset ?? 0)
        .limit(opts.limit ?? 1000)
        .lean<AccountDoc[]>();
      return docs.map(toAccount);
    },
    async delete(id) {
      const res = await Accounts.deleteOne({ _id: id });
      return res.deletedCount === 1;
    },
  };
}

export function mongoClients(m: MongoModels): ClientRepo {
  const Clients = m.clients;
  return {
    async create(c) {
      try {
        await Clients.create({
          _id: c.clientId,
          metadata: c.metadata,
          secretEncrypted: c.secretEncrypted,
          createdAt: c.createdAt,
          updatedAt: c.updatedAt,
        });
      } catch (err) {
        if (isDuplicateKey(err)) throw new StoreConflictError('a client with this client_id exists');
        throw err;
      }
    },
    async find(clientId) {
      const d = await Clients.findById(clientId).lean<ClientDoc>();
      return d ? toClient(d) : null;
    },
    async list() {
      const docs = await Clients.find({}).sort({ createdAt: 1, _id: 1 }).lean<ClientDoc[]>();
      return docs.map(toClient);
    },
    async update(clientId, patch) {
      const set: Record<string, unknown> = { updatedAt: new Date() };
      if (patch.metadata !== undefined) set.metadata = patch.metadata;
      if (patch.secretEncrypted !== undefined) set.secretEncrypted = patch.secretEncrypted;
      const d = await Clients.findOneAndUpdate({ _id: clientId }, { $set: set }, { returnDocument: 'after' }).lean<ClientDoc>();
      return d ? toClient(d) : null;
    },
    async delete(clientId) {
      const res = await Clients.deleteOne({ _id: clientId });
      return res.deletedCount === 1;
    },
  };
}
