// The store port: every persistent thing Tessera keeps goes through these interfaces.
// Two adapters implement them (sqlite/ for the embedded default, mongo/ for production) and one
// contract test suite (test/integration/store-contract.test.ts) runs against both.
//
// Design rules forced by the MongoDB adapter being tested without transactions (see
// ../shared/docs/storage.md): every state change that must be atomic is a single-record conditional
// update (attempts, consumption, recovery code use), and expiry is always checked on read, never left
// to a TTL monitor alone.
import type { RateLimiterAbstract } from 'rate-limiter-flexible';
import type { FactorRecord, SecondFactorType } from '../factors/records.ts';
export type { FactorRecord, FactorType } from '../factors/records.ts';

export interface AccountRecord {
  id: string; // the OIDC `sub`
  email: string; // normalised to lower case; unique
  emailVerified: boolean;
  name: string;
  passwordHash: string; // argon2id PHC string
  phoneNumber: string | null; // E.164; trusted for SMS only when phoneNumberVerified
  phoneNumberVerified: boolean;
  /** Second factors and recovery codes (src/factors/records.ts); each record's data is validated on use. */
  factors: FactorRecord[];
  /** The second step to show first when several are enabled; null = the default order. */
  preferredMfa: SecondFactorType | null;
  /** 'admin' opens /admin (granted only from the CLI: `user grant-admin`). Absent on older records = none. */
  roles?: string[];
  /** Disabled by an admin: can't sign in; its sessions and tokens were ended. Absent = enabled. */
  disabled?: boolean;
  /** The language picked at sign-up or later (a catalogue name, e.g. "fr"); emails and texts use it. Absent: not chosen. */
  locale?: string | null;
  createdAt: Date;
  updatedAt: Date;
}

/** What AccountRepo.search looks for: the text in lower case, and the digits of a phone-like text (else null). */
export function accountSearchTerms(text: string): { text: string; digits: string | null } {
  const t = text.trim().toLowerCase().slice(0, 200);
  const digits = /^[\d\s+().-]+$/.test(t) ? t.replace(/\D/g, '') : '';
  return { text: t, digits: digits.length >= 3 ? digits : null };
}

export type AccountPatch = Partial<Omit<AccountRecord, 'id' | 'createdAt' | 'updatedAt'>>;

export interface AccountRepo {
  /** Throws StoreConflictError when the email is taken. */
  create(account: AccountRecord): Promise<void>;
  findById(id: string): Promise<AccountRecord | null>;
  /**
   * The same record for reading only (findAccount on every token request): an adapter may hand out a
   * shared, frozen object instead of a copy of its own.
   */
  viewById(id: string): Promise<Readonly<AccountRecord> | null>;
  findByEmail(email: string): Promise<AccountRecord | null>;
  /** Applies the patch, bumps updatedAt, returns the new record (null if unknown). Throws StoreConflictError on a taken email. */
  update(id: string, patch: AccountPatch): Promise<AccountRecord | null>;
  /** Removes one recovery code hash (from the recovery factor) atomically; true only for the single caller that removed it. */
  useRecoveryCode(id: string, codeHash: string): Promise<boolean>;
  /**
   * Records that the authenticator code of time step `step` was used: true only when it is later than the
   * last used one (atomically), so a code is accepted once even by concurrent requests.
   */
  advanceTotpStep(id: string, step: number): Promise<boolean>;
  /**
   * Puts `to` in place of the authenticator (TOTP) factor's encrypted secret when it is still `from`
   * (the same secret re-encrypted under a newer data key: src/keys/reencrypt.ts). Atomic; false when the
   * account, its TOTP factor or that ciphertext is gone (changed meanwhile: read again).
   */
  replaceTotpSecret(id: string, from: string, to: string): Promise<boolean>;
  list(opts?: { limit?: number; offset?: number }): Promise<AccountRecord[]>;
  /**
   * Accounts whose email or name contains `text` (case-insensitive), or whose phone number contains its
   * digits when it has at least 3 and nothing but digits, spaces and + ( ) - . (the admin console's user
   * search). In creation order, at most `limit` (default 50).
   */
  search(text: string, opts?: { limit?: number }): Promise<AccountRecord[]>;
  delete(id: string): Promise<boolean>;
}

export interface ClientRecord {
  clientId: string;
  /** RFC 7591 metadata plus Tessera's own (e.g. `tessera_min_acr`), without client_id / client_secret. */
  metadata: Record<string, unknown>;
  /** The client secret encrypted with the store's data key (null for public clients). */
  secretEncrypted: string | null;
  /**
   * The secret before the last rotation, still accepted until `expiresAt` (rotation with a grace period).
   * Absent or null: only the current secret works.
   */
  previousSecret?: { encrypted: string; expiresAt: Date } | null;
  createdAt: Date;
  updatedAt: Date;
}

export interface ClientRepo {
  /** Throws StoreConflictError when the client_id exists. */
  create(client: ClientRecord): Promise<void>;
  find(clientId: string): Promise<ClientRecord | null>;
  list(): Promise<ClientRecord[]>;
  update(
    clientId: string,
    patch: { metadata?: Record<string, unknown>; secretEncrypted?: string | null; previousSecret?: ClientRecord['previousSecret'] },
  ): Promise<ClientRecord | null>;
  /**
   * Puts `to` in place of the encrypted secret when it is still `from` (re-encryption under a newer data
   * key, src/keys/reencrypt.ts): atomic, so a secret rotated meanwhile is never overwritten. updatedAt stays.
   */
  replaceSecret(clientId: string, from: string, to: string): Promise<boolean>;
  delete(clientId: string): Promise<boolean>;
}

/** oidc-provider artifacts (Session, Interaction, Grant, AuthorizationCode, RefreshToken, ...). */
export interface OidcArtifactRepo {
  /** Insert or replace. grantId / userCode / uid are read from the payload for the lookups below. */
  upsert(model: string, id: string, payload: Record<string, unknown>, expiresAt: Date | null): Promise<void>;
  /** Undefined when unknown or expired. */
  find(model: string, id: string): Promise<Record<string, unknown> | undefined>;
  findByUid(model: string, uid: string): Promise<Record<string, unknown> | undefined>;
  findByUserCode(model: string, userCode: string): Promise<Record<string, unknown> | undefined>;
  /** Marks consumed (payload.consumed = epoch seconds). */
  consume(model: string, id: string): Promise<void>;
  destroy(model: string, id: string): Promise<void>;
  /** Deletes every artifact of any model carrying this grantId. */
  revokeByGrantId(grantId: string): Promise<void>;
  /** Current (unexpired) artifacts of one model carrying this grantId: the refresh reuse interval finds a rotated token's successor with it. */
  findByGrantId(model: string, grantId: string): Promise<Record<string, unknown>[]>;
  /**
   * Ends everything an account has signed in to: deletes its Sessions, its Grants and every artifact of
   * those grants (tokens, codes: as revokeByGrantId), its pending sign-ins (model 'TesseraLogin', payload.accountId)
   * and Interactions that carry it (payload.session.accountId or payload.result.login.accountId).
   * `keepSessionUid`: the session (payload.uid of a Session; payload.session.uid of an Interaction) that stays,
   * e.g. the browser where the password was just changed. Grants are all revoked regardless.
   */
  revokeAccount(accountId: string, opts?: { keepSessionUid?: string }): Promise<{ sessions: number; grants: number }>;
  /**
   * Current (unexpired) Sessions or Grants of one account, as payloads (/account's signed-in devices and
   * connected apps). Interactions aren't listed.
   */
  findByAccount(model: 'Session' | 'Grant', accountId: string): Promise<Record<string, unknown>[]>;
  /**
   * Runs `fn` (one HTTP request) so that its writes above don't each wait for the disk: the result
   * settles once every write made inside `fn` is durable, and rejects if one of them failed. The
   * embedded store commits concurrent requests' writes together; where each write is durable on its
   * own (MongoDB) this just runs `fn`.
   */
  durably<T>(fn: () => Promise<T>): Promise<T>;
}

export type ChallengePurpose =
  | 'phone-verify' // prove ownership of a (new) phone number, signed-in user
  | 'sms-enable' // confirm a fresh code to the verified phone before turning SMS 2FA on
  | 'sms-login' // second factor at sign-in / step-up
  | 'email-confirm' // confirm the email address after registration
  | 'email-login' // email code as a second factor
  | 'email-enable' // confirm a fresh code to the confirmed email before turning email codes on
  | 'password-reset' // prove the email address (or the verified phone) to set a new password
  | 'email-change' // prove a new email address before it replaces the account's one (/account/email)
  | 'account-unlock'; // emailed link that lifts a password lockout (src/guard/unlock.ts)

export interface ChallengeRecord {
  id: string;
  purpose: ChallengePurpose;
  accountId: string;
  channel: 'sms' | 'email';
  destination: string; // E.164 number or email address the code went to
  /** HMAC-SHA-256 of the code, never the code. A resend adds a new code (space-separated hashes), so a
   *  delayed first SMS still works: any code sent for this challenge is accepted, once. */
  codeHash: string;
  attempts: number; // wrong answers so far
  maxAttempts: number;
  sends: number; // how many times the (same) code was delivered
  lastSentAt: Date | null;
  expiresAt: Date;
  consumedAt: Date | null;
  createdAt: Date;
  /** A correlation the caller may use, e.g. the interaction uid a login challenge belongs to. */
  context: string | null;
}

export interface ChallengeRepo {
  create(challenge: ChallengeRecord): Promise<void>;
  /** Returns the record even when expired or consumed: the engine explains why it can't be used. */
  find(id: string): Promise<ChallengeRecord | null>;
  /** Newest challenge for (accountId, purpose, context) that is unconsumed, unexpired and not out of attempts. */
  findActive(accountId: string, purpose: ChallengePurpose, context: string | null): Promise<ChallengeRecord | null>;
  /** Atomically adds one wrong attempt (only while unconsumed); returns the updated record. */
  addAttempt(id: string): Promise<ChallengeRecord | null>;
  /** Atomically consumes: true only for the one caller that flips an unconsumed, unexpired challenge with attempts left. */
  consume(id: string, now: Date): Promise<boolean>;
  /** Records one more delivery; when `codeHash` is given it replaces the stored hash list (resend with a new code). */
  markSent(id: string, at: Date, codeHash?: string): Promise<void>;
  /** Voids every open challenge for (accountId, purpose) (sets consumedAt). */
  voidOpen(accountId: string, purpose: ChallengePurpose): Promise<void>;
}

/**
 * Sign-ins in progress (what an interaction has proved so far), by interaction uid. The record's shape is
 * the interaction layer's (validated there with zod); the store keeps it, its account and its expiry.
 */
export interface SignInRepo {
  /** Undefined when unknown or expired. */
  find(uid: string): Promise<Record<string, unknown> | undefined>;
  save(uid: string, accountId: string, record: Record<string, unknown>, expiresAt: Date): Promise<void>;
  delete(uid: string): Promise<void>;
  /** Ends every sign-in in progress of an account (password reset or change): returns how many. */
  deleteForAccount(accountId: string): Promise<number>;
}

/**
 * What a user allowed a client (relying party) to have: remembered per account and client, not per
 * browser session, so a new browser isn't asked again for scopes already allowed (until the user revokes
 * the app on /account/apps or the app asks for more).
 */
export interface ConsentRecord {
  accountId: string;
  clientId: string;
  scopes: string[];
  claims: string[];
  createdAt: Date;
  updatedAt: Date;
}

export interface ConsentRepo {
  find(accountId: string, clientId: string): Promise<ConsentRecord | null>;
  /** Adds scopes and claims to what the account allowed the client (creating the record); returns it. */
  allow(accountId: string, clientId: string, scopes: string[], claims: string[]): Promise<ConsentRecord>;
  /** Newest first. */
  listForAccount(accountId: string): Promise<ConsentRecord[]>;
  /** True when there was something to forget. */
  revoke(accountId: string, clientId: string): Promise<boolean>;
  /** Account deletion: returns how many. */
  deleteForAccount(accountId: string): Promise<number>;
}

/**
 * Browsers an account is signed in on (kind 'session', id = the oidc-provider session uid) and browsers
 * remembered to skip the second step (kind 'remembered', id = the random id in the remember cookie): what
 * /account shows under "Signed-in devices" (user agent, IP, first and last seen).
 */
export interface BrowserRecord {
  id: string;
  accountId: string;
  kind: 'session' | 'remembered';
  userAgent: string;
  ip: string | null;
  createdAt: Date;
  lastSeenAt: Date;
  expiresAt: Date;
}

export interface BrowserRepo {
  /** Inserts or refreshes (lastSeenAt, userAgent, ip, expiresAt); createdAt stays the first one's. */
  seen(record: BrowserRecord): Promise<void>;
  /** Undefined when unknown or expired. */
  find(id: string): Promise<BrowserRecord | undefined>;
  /** Unexpired, newest seen first. */
  listForAccount(accountId: string, kind: BrowserRecord['kind']): Promise<BrowserRecord[]>;
  delete(id: string): Promise<void>;
  /** Returns how many; without `kind`, both kinds. */
  deleteForAccount(accountId: string, kind?: BrowserRecord['kind']): Promise<number>;
}

/** A value of the key store with its version, which every write moves on (compare-and-set). */
export interface StoredKey<T> {
  value: T;
  version: number;
}

export interface KeyRepo {
  /**
   * Returns the value stored under `name`, creating it with `create()` when absent. Safe when several
   * instances start at once: exactly one value wins and every caller gets that one.
   */
  getOrCreate<T>(name: string, create: () => T | Promise<T>): Promise<T>;
  /** The value under `name` and its version; null when absent. */
  get<T>(name: string): Promise<StoredKey<T> | null>;
  /**
   * Compare-and-set: writes `value` only when the stored version is still `expected` (null: only when
   * `name` is absent), so two instances or an instance and the CLI never overwrite each other's change.
   * False when another writer got there first: read again and decide again.
   */
  set<T>(name: string, value: T, expected: number | null): Promise<boolean>;
}

export interface AuditEvent {
  at: Date;
  type: string; // e.g. 'login.failed', 'sms.refused', 'sms.sent'
  accountId: string | null;
  ip: string | null;
  detail: Record<string, unknown>;
}

export interface AuditFilter {
  type?: string;
  accountId?: string;
  /** detail.client: the relying party the event was about. */
  clientId?: string;
  ip?: string;
  since?: Date;
  until?: Date;
  limit?: number;
}

export interface AuditRepo {
  record(event: Omit<AuditEvent, 'at'> & { at?: Date }): Promise<void>;
  /** Newest first. */
  list(filter?: AuditFilter): Promise<AuditEvent[]>;
  /** Retention: deletes events older than `before`; returns how many. */
  deleteBefore(before: Date): Promise<number>;
}

export interface RateLimitOptions {
  keyPrefix: string;
  points: number;
  duration: number; // seconds
  blockDuration?: number; // seconds
}

export interface Store {
  readonly kind: 'sqlite' | 'mongo';
  accounts: AccountRepo;
  clients: ClientRepo;
  oidc: OidcArtifactRepo;
  challenges: ChallengeRepo;
  signIns: SignInRepo;
  consents: ConsentRepo;
  browsers: BrowserRepo;
  keys: KeyRepo;
  audit: AuditRepo;
  /** A rate-limiter-flexible limiter whose counters live in this store (shared by all instances). */
  rateLimiter(opts: RateLimitOptions): RateLimiterAbstract;
  /** Deletes expired artifacts and challenges (TTL indexes do this too on MongoDB; correctness never depends on it). */
  purgeExpired(now?: Date): Promise<void>;
  /**
   * The server calls this once before it takes requests. The embedded store serves one process: it
   * takes a lock on its file (a second server fails here with a clear message) and loads its artifact
   * index. MongoDB is shared by design: nothing to claim.
   */
  claimForServer(): Promise<void>;
  /**
   * Readiness (GET /readyz): whether the store can be reached and written right now. Cheap and bounded
   * (a tiny committed write and a look at the file for the embedded store, a ping with a short timeout on
   * MongoDB); never throws: a failure is `{ ok: false, reason }` with a reason fit for a log line.
   */
  ready(): Promise<StoreReadiness>;
  close(): Promise<void>;
}

export type StoreReadiness = { ok: true } | { ok: false; reason: string };

export class StoreConflictError extends Error {
  constructor(message = 'record already exists') {
    super(message);
    this.name = 'StoreConflictError';
  }
}

/**
 * The store can't be reached or written right now (disk full or read-only, file gone, MongoDB unreachable
 * or timing out). Adapters throw this (with the original error as `cause`) instead of the driver's error so
 * the HTTP layer answers 503 with Retry-After (`temporarily_unavailable` to OAuth clients) rather than 500,
 * and so it can be counted and logged as one kind of failure. Not for bad input or conflicts.
 */
export class StoreUnavailableError extends Error {
  constructor(
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'StoreUnavailableError';
  }
}
