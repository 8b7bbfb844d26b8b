// Tables of the embedded store. Records are JSON documents with the columns that are looked up or
// must be unique pulled out, so both adapters keep the same document shape.
export const SCHEMA = `
CREATE TABLE IF NOT EXISTS accounts (
  id TEXT PRIMARY KEY,
  email TEXT NOT NULL UNIQUE,
  created_at INTEGER NOT NULL,
  doc TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS clients (
  client_id TEXT PRIMARY KEY,
  created_at INTEGER NOT NULL,
  doc TEXT NOT NULL
);
-- oidc-provider artifacts: a log with one row per commit, its records as JSON lines in UTF-8 bytes (BLOB
-- values, which a TEXT column keeps as they are), looked up through an in-memory index (artifacts/).
CREATE TABLE IF NOT EXISTS artifact_log (
  seq INTEGER PRIMARY KEY,
  lines TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS challenges (
  id TEXT PRIMARY KEY,
  account_id TEXT NOT NULL,
  purpose TEXT NOT NULL,
  context TEXT,
  expires_at INTEGER NOT NULL,
  created_at INTEGER NOT NULL,
  doc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS challenges_lookup ON challenges (account_id, purpose, created_at);
-- Sign-ins in progress, by interaction uid (interaction/progress.ts validates the record).
CREATE TABLE IF NOT EXISTS sign_ins (
  uid TEXT PRIMARY KEY,
  account_id TEXT NOT NULL,
  expires_at INTEGER NOT NULL,
  doc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS sign_ins_account ON sign_ins (account_id);
-- What each account allowed each client (ports.ts ConsentRecord).
CREATE TABLE IF NOT EXISTS consents (
  account_id TEXT NOT NULL,
  client_id TEXT NOT NULL,
  updated_at INTEGER NOT NULL,
  doc TEXT NOT NULL,
  PRIMARY KEY (account_id, client_id)
);
-- Signed-in and remembered browsers (ports.ts BrowserRecord).
CREATE TABLE IF NOT EXISTS browsers (
  id TEXT PRIMARY KEY,
  account_id TEXT NOT NULL,
  kind TEXT NOT NULL,
  last_seen_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  doc TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS browsers_account ON browsers (account_id, kind, last_seen_at);
-- Signing, cookie and data keys (src/keys/); version moves on with each write (compare-and-set).
CREATE TABLE IF NOT EXISTS keys (
  name TEXT PRIMARY KEY,
  value TEXT NOT NULL,
  version INTEGER NOT NULL DEFAULT 1
);
CREATE TABLE IF NOT EXISTS audit (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  at INTEGER NOT NULL,
  type TEXT NOT NULL,
  account_id TEXT,
  doc TEXT NOT NULL
);
-- rate-limiter-flexible's RateLimiterSQLite table, created here (not lazily by the library, whose
-- asynchronous creation loses a race with the first request after start).
CREATE TABLE IF NOT EXISTS rate_limits (
  key TEXT PRIMARY KEY,
  points INTEGER NOT NULL DEFAULT 0,
  expire INTEGER
);
CREATE INDEX IF NOT EXISTS audit_at ON audit (at, seq);
CREATE INDEX IF NOT EXISTS audit_type ON audit (type, at, seq);
CREATE INDEX IF NOT EXISTS audit_account ON audit (account_id, at, seq);
`;

/** JSON with Dates preserved: Dates are written as {"$date": ms} and revived on read. */
export function toJson(value: unknown): string {
  return JSON.stringify(value, function (this: Record<string, unknown>, key, v) {
    const raw = this[key];
    return raw instanceof Date ? { $date: raw.getTime() } : v;
  });
}

export function fromJson<T>(text: string): T {
  // `$date` is tested first: most values aren't objects, and Object.keys on each one was measurable.
  return JSON.parse(text, (_k, v) =>
    v !== null && typeof v === 'object' && typeof v.$date === 'number' && Object.keys(v).length === 1 ? new Date(v.$date) : v,
  ) as T;
}

/** Deep copy of a JSON document that may hold Dates (a sixth of JSON.parse's cost): callers may change what they get. */
export function copyDoc<T>(value: T): T {
  if (value === null || typeof value !== 'object') return value;
  if (value instanceof Date) return new Date(value.getTime()) as T;
  if (Array.isArray(value)) return value.map(copyDoc) as T;
  const out: Record<string, unknown> = {};
  for (const k in value) out[k] = copyDoc((value as Record<string, unknown>)[k]);
  return out as T;
}

export function isUniqueViolation(err: unknown): boolean {
  return err instanceof Error && /UNIQUE constraint failed|SQLITE_CONSTRAINT/.test(`${err.message} ${(err as { code?: string }).code ?? ''}`);
}

