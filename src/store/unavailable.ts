// Which store failures mean "the store can't be reached or written right now" (answered 503 with
// Retry-After, and the request may be retried) rather than a bug or bad input (500). One classifier for
// both adapters and every caller: the HTTP error pages, the oidc-provider adapter, readiness.
import { MONGO_UNAVAILABLE_NAMES } from './mongo/unavailable.ts';
import { StoreUnavailableError } from './ports.ts';

/** What a 503 for an unavailable store tells the client to wait before retrying (seconds). */
export const STORE_RETRY_AFTER_SECONDS = 5;

// SQLite result codes (primary codes; extended ones such as SQLITE_IOERR_WRITE, SQLITE_READONLY_DBMOVED
// share their prefix): disk full or over a file-size limit, I/O error, read-only file or file system,
// file that can't be opened (deleted directory, permissions), a corrupt or foreign file, and a lock
// that stayed taken past busy_timeout.
const SQLITE_UNAVAILABLE = ['SQLITE_FULL', 'SQLITE_IOERR', 'SQLITE_READONLY', 'SQLITE_CANTOPEN', 'SQLITE_CORRUPT', 'SQLITE_NOTADB', 'SQLITE_BUSY', 'SQLITE_PROTOCOL'];
const SQLITE_PRIMARY: Record<number, string> = { 5: 'SQLITE_BUSY', 8: 'SQLITE_READONLY', 10: 'SQLITE_IOERR', 11: 'SQLITE_CORRUPT', 13: 'SQLITE_FULL', 14: 'SQLITE_CANTOPEN', 15: 'SQLITE_PROTOCOL', 26: 'SQLITE_NOTADB' };
const SQLITE_CORRUPTION = ['SQLITE_CORRUPT', 'SQLITE_NOTADB'];

// File-system errors from the embedded store's own file handling (Tessera writes no other files).
const FS_UNAVAILABLE = new Set(['ENOSPC', 'EDQUOT', 'EROFS', 'EIO', 'EFBIG']);

// MongoDB driver and mongoose errors by name (MONGO_UNAVAILABLE_NAMES, the adapter's own list): the
// MongoDB adapter throws StoreUnavailableError for these itself; this also catches the ones that reach
// Tessera another way (e.g. through rate-limiter-flexible's own queries).
// Server codes of a replica set in transition, shutting down or past a time limit.
const MONGO_UNAVAILABLE_CODES = new Set([6, 7, 50, 89, 91, 189, 262, 9001, 10107, 11600, 11602, 13435, 13436]);
const MONGO_BUFFERING_TIMEOUT = /buffering timed out/; // mongoose, while it has no connection

interface Inspectable {
  name?: unknown;
  code?: unknown;
  rawCode?: unknown;
  message?: unknown;
  cause?: unknown;
  hasErrorLabel?: unknown;
}

/** The SQLite result code of an error (SQLITE_…), or undefined when it isn't SQLite's. */
export function sqliteCodeOf(err: unknown): string | undefined {
  if (typeof err !== 'object' || err === null) return undefined;
  const { code, rawCode } = err as Inspectable;
  if (typeof code === 'string' && code.startsWith('SQLITE_')) return code;
  if (typeof rawCode === 'number') return SQLITE_PRIMARY[rawCode & 0xff];
  return undefined;
}

/** The error and its causes (bounded: a cause chain can be cyclic). */
function* chain(err: unknown): Generator<Inspectable> {
  let e: unknown = err;
  for (let depth = 0; depth < 6 && typeof e === 'object' && e !== null; depth++) {
    yield e as Inspectable;
    e = (e as Inspectable).cause;
  }
}

function unavailableHere(e: Inspectable): boolean {
  if (e instanceof StoreUnavailableError) return true;
  const sqlite = sqliteCodeOf(e);
  if (sqlite) return SQLITE_UNAVAILABLE.some((c) => sqlite.startsWith(c));
  const { name, code, message } = e;
  if (typeof name === 'string') {
    if (MONGO_UNAVAILABLE_NAMES.has(name)) return true;
    if (name === 'MongooseError' && typeof message === 'string' && MONGO_BUFFERING_TIMEOUT.test(message)) return true;
    if (name.startsWith('Mongo')) {
      if (typeof code === 'number' && MONGO_UNAVAILABLE_CODES.has(code)) return true;
      if (typeof e.hasErrorLabel === 'function' && (e.hasErrorLabel as (l: string) => boolean).call(e, 'RetryableWriteError')) return true;
    }
  }
  return typeof code === 'string' && FS_UNAVAILABLE.has(code);
}

/**
 * Whether `err` (or an error it wraps as `cause`) means the store can't be reached or written right now:
 * StoreUnavailableError, SQLite's disk-full / I/O / read-only / can't-open / corrupt / busy codes, file
 * system errors such as ENOSPC and EROFS, MongoDB's unreachable-server and timeout errors.
 */
export function isStoreUnavailable(err: unknown): boolean {
  for (const e of chain(err)) if (unavailableHere(e)) return true;
  return false;
}

/** Whether `err` says the embedded database file is damaged (SQLITE_CORRUPT, SQLITE_NOTADB): restarting won't help. */
export function isStoreCorrupt(err: unknown): boolean {
  for (const e of chain(err)) {
    const code = sqliteCodeOf(e);
    if (code && SQLITE_CORRUPTION.some((c) => code.startsWith(c))) return true;
  }
  return false;
}

/**
 * A short description for a log line: the innermost store error's code and message, e.g.
 * "SQLITE_IOERR_WRITE: disk I/O error" or "MongoServerSelectionError: connection refused". (The logger
 * redacts fields named `code`, so the code is spelled out here.)
 */
export function describeStoreError(err: unknown): string {
  let found: Inspectable | undefined;
  for (const e of chain(err)) if (unavailableHere(e) && !(e instanceof StoreUnavailableError && e.cause)) found = e;
  const e = found ?? (typeof err === 'object' && err !== null ? (err as Inspectable) : { message: String(err) });
  const code = sqliteCodeOf(e) ?? (typeof e.code === 'string' ? e.code : typeof e.name === 'string' && e.name !== 'Error' ? e.name : undefined);
  const message = typeof e.message === 'string' ? e.message : String(e);
  return code ? `${code}: ${message}` : message;
}
