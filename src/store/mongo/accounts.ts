import type { AccountPatch, AccountRecord, AccountRepo, ClientRecord, ClientRepo } from '../ports.ts';
import { StoreConflictError, accountSearchTerms, type FactorRecord } from '../ports.ts';
import { factorsFromLegacy, factorData, factorOf, withFactor } from '../../factors/records.ts';
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
    roles: Array.isArray(d.roles) ? [...d.roles] : [],
    disabled: Boolean(d.disabled),
    ...(d.locale ? { locale: d.locale } : {}),
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
    ...(d.previousSecret ? { previousSecret: { encrypted: d.previousSecret.encrypted, expiresAt: new Date(d.previousSecret.expiresAt) } } : {}),
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
  /**
   * A single-use change of the factor list (a recovery code, an authenticator step) as compare-and-set on
   * a version counter: of concurrent callers exactly one writes, the others re-read and find the change
   * made. (No positional array operators: the list is replaced whole, which every MongoDB speaks.)
   */
  const mutateFactors = async (id: string, change: (a: AccountRecord) => FactorRecord[] | null): Promise<boolean> => {
    for (let attempt = 0; attempt < 20; attempt++) {
      const d = await Accounts.findById(id).lean<AccountDoc>();
      if (!d) return false;
      const next = change(toAccount(d));
      if (!next) return false;
      const version = d.factorsVersion ?? 0;
      const res = await Accounts.updateOne(
        { _id: id, ...(version === 0 ? { $or: [{ factorsVersion: 0 }, { factorsVersion: { $exists: false } }] } : { factorsVersion: version }) },
        { $set: { factors: next, factorsVersion: version + 1, updatedAt: new Date() } },
      );
      if (res.modifiedCount === 1) return true;
    }
    return false;
  };
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
          roles: a.roles ?? [],
          disabled: a.disabled ?? false,
          ...(a.locale ? { locale: a.locale } : {}),
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
          // A changed factor list moves the version on, so a concurrent single-use change (mutateFactors) retries.
          { $set: { ...defined(rest), updatedAt: new Date() }, ...('factors' in rest ? { $inc: { factorsVersion: 1 } } : {}) },
          { returnDocument: 'after' },
        ).lean<AccountDoc>();
        return d ? toAccount(d) : null;
      } catch (err) {
        if (isDuplicateKey(err)) throw new StoreConflictError('an account with this email exists');
        throw err;
      }
    },
    async useRecoveryCode(id, codeHash) {
      return mutateFactors(id, (a) => {
        const codes = factorData(a.factors, 'recovery')?.codes;
        if (!codes?.includes(codeHash)) return null;
        const rec = factorOf(a.factors, 'recovery')!;
        return withFactor(a.factors, { ...rec, lastUsedAt: new Date(), data: { ...rec.data, codes: codes.filter((h) => h !== codeHash) } });
      });
    },
    async advanceTotpStep(id, step) {
      return mutateFactors(id, (a) => {
        const totp = factorOf(a.factors, 'totp');
        const data = factorData(a.factors, 'totp');
        if (!totp || !data || data.lastStep >= step) return null;
        return withFactor(a.factors, { ...totp, lastUsedAt: new Date(), data: { ...data, lastStep: step } });
      });
    },
    async replaceTotpSecret(id, from, to) {
      return mutateFactors(id, (a) => {
        const totp = factorOf(a.factors, 'totp');
        if (!totp || totp.data.secret !== from) return null;
        return withFactor(a.factors, { ...totp, data: { ...totp.data, secret: to } });
      });
    },
    async list(opts = {}) {
      const docs = await Accounts.find({})
        .sort({ createdAt: 1, _id: 1 })
        .skip(opts.offset ?? 0)
        .limit(opts.limit ?? 1000)
        .lean<AccountDoc[]>();
      return docs.map(toAccount);
    },
    async search(text, opts = {}) {
      const { text: t, digits } = accountSearchTerms(text);
      if (!t) return [];
      const contains = (v: string) => ({ $regex: v.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'), $options: 'i' });
      const docs = await Accounts.find({ $or: [{ email: contains(t) }, { name: contains(t) }, ...(digits ? [{ phoneNumber: contains(digits) }] : [])] })
        .sort({ createdAt: 1, _id: 1 })
        .limit(opts.limit ?? 50)
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
          previousSecret: c.previousSecret ?? null,
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
      if (patch.previousSecret !== undefined) set.previousSecret = patch.previousSecret;
      const d = await Clients.findOneAndUpdate({ _id: clientId }, { $set: set }, { returnDocument: 'after' }).lean<ClientDoc>();
      return d ? toClient(d) : null;
    },
    async replaceSecret(clientId, from, to) {
      const res = await Clients.updateOne({ _id: clientId, secretEncrypted: from }, { $set: { secretEncrypted: to } });
      return res.modifiedCount === 1;
    },
    async delete(clientId) {
      const res = await Clients.deleteOne({ _id: clientId });
      return res.deletedCount === 1;
    },
  };
}
