import type { AccountPatch, AccountRecord, AccountRepo, ClientRecord, ClientRepo } from '../ports.ts';
import { StoreConflictError } from '../ports.ts';
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
    mfa: [...(d.mfa ?? [])],
    recoveryCodes: [...(d.recoveryCodes ?? [])],
    createdAt: d.createdAt,
    updatedAt: d.updatedAt,
  };
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
          mfa: a.mfa,
          recoveryCodes: a.recoveryCodes,
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
      const res = await Accounts.updateOne(
        { _id: id, recoveryCodes: codeHash },
        { $pull: { recoveryCodes: codeHash }, $set: { updatedAt: new Date() } },
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
