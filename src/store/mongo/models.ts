// Mongoose schemas of the MongoDB store. Every collection uses string `_id`s (the record's own id), no
// version key, and keeps empty objects (`minimize: false`). Expiry is always checked on read; the TTL
// indexes below only clean up.
import mongoose, { Schema, type Connection, type Model } from 'mongoose';
import type { ChallengePurpose, FactorRecord } from '../ports.ts';

/** Expired challenges are kept this long so the engine can still explain why a code no longer works. */
export const CHALLENGE_RETENTION_SECONDS = 24 * 3600;

const options = { versionKey: false as const, minimize: false, strict: true, autoIndex: true };

export interface AccountDoc {
  _id: string;
  email: string;
  emailVerified: boolean;
  name: string;
  passwordHash: string;
  phoneNumber: string | null;
  phoneNumberVerified: boolean;
  factors?: FactorRecord[];
  /** Moves on with every change of `factors` (compare-and-set for single-use changes). */
  factorsVersion?: number;
  preferredMfa?: string | null;
  roles?: string[];
  disabled?: boolean;
  locale?: string | null;
  /** Before factor records: migrated at open (mongo/accounts.ts migrateAccounts). */
  mfa?: string[];
  recoveryCodes?: string[];
  createdAt: Date;
  updatedAt: Date;
}

const accountSchema = new Schema<AccountDoc>(
  {
    _id: { type: String, required: true },
    email: { type: String, required: true, unique: true },
    emailVerified: { type: Boolean, default: false },
    name: { type: String, default: '' },
    passwordHash: { type: String, default: '' },
    phoneNumber: { type: String, default: null },
    phoneNumberVerified: { type: Boolean, default: false },
    factors: { type: [Schema.Types.Mixed], default: undefined },
    factorsVersion: { type: Number, default: 0 },
    preferredMfa: { type: String, default: null },
    roles: { type: [String], default: () => [] },
    disabled: { type: Boolean, default: false },
    locale: { type: String, default: undefined },
    // Legacy fields, read and removed by the migration only.
    mfa: { type: [String], default: undefined },
    recoveryCodes: { type: [String], default: undefined },
    createdAt: { type: Date, required: true },
    updatedAt: { type: Date, required: true },
  },
  { ...options, collection: 'accounts' },
);
accountSchema.index({ createdAt: 1, _id: 1 });

export interface ClientDoc {
  _id: string;
  metadata: Record<string, unknown>;
  secretEncrypted: string | null;
  previousSecret?: { encrypted: string; expiresAt: Date } | null;
  createdAt: Date;
  updatedAt: Date;
}

const clientSchema = new Schema<ClientDoc>(
  {
    _id: { type: String, required: true },
    metadata: { type: Schema.Types.Mixed, default: () => ({}) },
    secretEncrypted: { type: String, default: null },
    previousSecret: { type: new Schema({ encrypted: { type: String, required: true }, expiresAt: { type: Date, required: true } }, { _id: false }), default: null },
    createdAt: { type: Date, required: true },
    updatedAt: { type: Date, required: true },
  },
  { ...options, collection: 'clients' },
);

export interface OidcDoc {
  _id: string; // `${model}:${oid}`
  model: string;
  oid: string;
  payload: Record<string, unknown>;
  expiresAt: Date | null;
  grantId: string | null;
  userCode: string | null;
  uid: string | null;
  /**
   * Only on the models an account owns (OWNED_MODELS in oidc.ts), for revokeAccount: the account(s) it
   * belongs to ([] when none) and the browser session (uid) it belongs to. Absent on tokens and codes
   * (found through their grant), and on documents written before these fields existed.
   */
  accountIds?: string[];
  sessionUid?: string | null;
}

const oidcSchema = new Schema<OidcDoc>(
  {
    _id: { type: String, required: true },
    model: { type: String, required: true },
    oid: { type: String, required: true },
    payload: { type: Schema.Types.Mixed, default: () => ({}) },
    expiresAt: { type: Date, default: null },
    grantId: { type: String, default: null },
    userCode: { type: String, default: null },
    uid: { type: String, default: null },
    accountIds: { type: [String], default: undefined },
    sessionUid: { type: String },
  },
  { ...options, collection: 'oidc' },
);
oidcSchema.index({ grantId: 1 });
oidcSchema.index({ model: 1, uid: 1 });
oidcSchema.index({ model: 1, userCode: 1 });
oidcSchema.index({ model: 1, accountIds: 1 });
oidcSchema.index({ expiresAt: 1 }, { expireAfterSeconds: 0 });

export interface ChallengeDoc {
  _id: string;
  purpose: ChallengePurpose;
  accountId: string;
  channel: 'sms' | 'email';
  destination: string;
  codeHash: string;
  attempts: number;
  maxAttempts: number;
  sends: number;
  lastSentAt: Date | null;
  expiresAt: Date;
  consumedAt: Date | null;
  createdAt: Date;
  context: string | null;
}

const challengeSchema = new Schema<ChallengeDoc>(
  {
    _id: { type: String, required: true },
    purpose: { type: String, required: true },
    accountId: { type: String, required: true },
    channel: { type: String, required: true },
    destination: { type: String, required: true },
    codeHash: { type: String, required: true },
    attempts: { type: Number, default: 0 },
    maxAttempts: { type: Number, required: true },
    sends: { type: Number, default: 0 },
    lastSentAt: { type: Date, default: null },
    expiresAt: { type: Date, required: true },
    consumedAt: { type: Date, default: null },
    createdAt: { type: Date, required: true },
    context: { type: String, default: null },
  },
  { ...options, collection: 'challenges' },
);
challengeSchema.index({ accountId: 1, purpose: 1, createdAt: -1 });
challengeSchema.index({ expiresAt: 1 }, { expireAfterSeconds: CHALLENGE_RETENTION_SECONDS });

export interface SignInDoc {
  _id: string; // interaction uid
  accountId: string;
  expiresAt: Date;
  record: Record<string, unknown>;
}

const signInSchema = new Schema<SignInDoc>(
  {
    _id: { type: String, required: true },
    accountId: { type: String, required: true },
    expiresAt: { type: Date, required: true },
    record: { type: Schema.Types.Mixed, default: () => ({}) },
  },
  { ...options, collection: 'sign_ins' },
);
signInSchema.index({ accountId: 1 });
signInSchema.index({ expiresAt: 1 }, { expireAfterSeconds: 0 });

export interface ConsentDoc {
  _id: mongoose.Types.ObjectId;
  accountId: string;
  clientId: string;
  scopes: string[];
  claims: string[];
  createdAt: Date;
  updatedAt: Date;
}

const consentSchema = new Schema<ConsentDoc>(
  {
    accountId: { type: String, required: true },
    clientId: { type: String, required: true },
    scopes: { type: [String], default: () => [] },
    claims: { type: [String], default: () => [] },
    createdAt: { type: Date, required: true },
    updatedAt: { type: Date, required: true },
  },
  { ...options, collection: 'consents' },
);
consentSchema.index({ accountId: 1, clientId: 1 }, { unique: true });

export interface BrowserDoc {
  _id: string;
  accountId: string;
  kind: 'session' | 'remembered';
  userAgent: string;
  ip: string | null;
  createdAt: Date;
  lastSeenAt: Date;
  expiresAt: Date;
}

const browserSchema = new Schema<BrowserDoc>(
  {
    _id: { type: String, required: true },
    accountId: { type: String, required: true },
    kind: { type: String, required: true },
    userAgent: { type: String, default: '' },
    ip: { type: String, default: null },
    createdAt: { type: Date, required: true },
    lastSeenAt: { type: Date, required: true },
    expiresAt: { type: Date, required: true },
  },
  { ...options, collection: 'browsers' },
);
browserSchema.index({ accountId: 1, kind: 1, lastSeenAt: -1 });
browserSchema.index({ expiresAt: 1 }, { expireAfterSeconds: 0 });

export interface KeyDoc {
  _id: string;
  value: unknown;
  /** Moves on with each write (compare-and-set); absent on documents written before it existed. */
  version?: number;
}

const keySchema = new Schema<KeyDoc>(
  {
    _id: { type: String, required: true },
    value: { type: Schema.Types.Mixed },
    version: { type: Number },
  },
  { ...options, collection: 'keys' },
);

export interface AuditDoc {
  _id: mongoose.Types.ObjectId; // ObjectIds order events recorded in the same millisecond
  at: Date;
  type: string;
  accountId: string | null;
  ip: string | null;
  detail: Record<string, unknown>;
}

const auditSchema = new Schema<AuditDoc>(
  {
    at: { type: Date, required: true },
    type: { type: String, required: true },
    accountId: { type: String, default: null },
    ip: { type: String, default: null },
    detail: { type: Schema.Types.Mixed, default: () => ({}) },
  },
  { ...options, collection: 'audit' },
);
auditSchema.index({ at: -1, _id: -1 });
auditSchema.index({ type: 1, at: -1 });
auditSchema.index({ accountId: 1, at: -1 });

export interface MongoModels {
  accounts: Model<AccountDoc>;
  clients: Model<ClientDoc>;
  oidc: Model<OidcDoc>;
  challenges: Model<ChallengeDoc>;
  signIns: Model<SignInDoc>;
  consents: Model<ConsentDoc>;
  browsers: Model<BrowserDoc>;
  keys: Model<KeyDoc>;
  audit: Model<AuditDoc>;
}

/** Compiles the models on this connection and waits until their collections and indexes exist. */
export async function createModels(connection: Connection): Promise<MongoModels> {
  const models: MongoModels = {
    accounts: connection.model<AccountDoc>('Account', accountSchema),
    clients: connection.model<ClientDoc>('Client', clientSchema),
    oidc: connection.model<OidcDoc>('OidcArtifact', oidcSchema),
    challenges: connection.model<ChallengeDoc>('Challenge', challengeSchema),
    signIns: connection.model<SignInDoc>('SignIn', signInSchema),
    consents: connection.model<ConsentDoc>('Consent', consentSchema),
    browsers: connection.model<BrowserDoc>('Browser', browserSchema),
    keys: connection.model<KeyDoc>('Key', keySchema),
    audit: connection.model<AuditDoc>('AuditEvent', auditSchema),
  };
  // The unique indexes must exist before the first write, or duplicates could slip in.
  await Promise.all(Object.values(models).map((m: Model<unknown>) => m.init()));
  return models;
}

export function isDuplicateKey(err: unknown): boolean {
  return typeof err === 'object' && err !== null && (err as { code?: unknown }).code === 11000;
}
