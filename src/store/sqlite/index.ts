// The embedded store: one SQLite file through libsql (better-sqlite3-compatible API, ships prebuilt
// platform binaries, so `npm install` needs no native build). Calls are synchronous inside one process,
// which makes every read-modify-write below atomic for this process; the embedded store is for a single
// instance (scale-out uses MongoDB).
//
// Opening refuses, with a message saying what to do (StoreRefusedError), a missing or foreign database
// where a store was kept (./marker.ts), files this process can't write (./files.ts) and, in the server,
// a damaged file (./integrity.ts).
import Database from 'libsql';
import fs from 'node:fs';
import path from 'node:path';
import { RateLimiterSQLite } from 'rate-limiter-flexible';
import type { Store, RateLimitOptions, StoreReadiness } from '../ports.ts';
import { SCHEMA } from './schema.ts';
import { sqliteAccounts, migrateAccounts } from './accounts.ts';
import { sqliteClients } from './clients.ts';
import { SqliteArtifactLog } from './artifacts/repo.ts';
import { sqliteChallenges } from './challenges.ts';
import { sqliteSignIns } from './sign-ins.ts';
import { sqliteConsents } from './consents.ts';
import { sqliteBrowsers } from './browsers.ts';
import { sqliteKeys, sqliteAudit } from './misc.ts';
import type { Logger } from '../../log.ts';
import { StoreRefusedError } from './refused.ts';
import { refuseMissingDatabase, identifyStore, INIT_STORE_ENV } from './marker.ts';
import { assertWritable, databaseExists, DatabaseFiles, closeWritingBack, closeDatabase } from './files.ts';
import { checkIntegrity } from './integrity.ts';
import { isStoreCorrupt } from '../unavailable.ts';

export type SqliteDb = InstanceType<typeof Database>;

export interface SqliteStoreOptions {
  file: string;
  onFlushError?: (err: Error) => void;
  /** TESSERA_INIT_STORE: the id of a lost store to replace with a new, empty one (./marker.ts). */
  initStore?: string | null;
  /** STORE_CHECK_SECONDS: the longest the integrity check at the server's start may take; 0 skips it. */
  checkSeconds?: number;
  log?: Logger;
  /** REFRESH_TOKEN_REUSE_SECONDS: how long a consumed refresh token stays whole in memory (artifacts/tombstones.ts). */
  refreshReuseSeconds?: number;
}

export async function openSqliteStore(opts: SqliteStoreOptions): Promise<Store> {
  const memory = opts.file === ':memory:';
  const initStore = opts.initStore ?? null;
  let existed = false;
  if (!memory) {
    fs.mkdirSync(path.dirname(path.resolve(opts.file)), { recursive: true });
    existed = databaseExists(opts.file);
    refuseMissingDatabase(opts.file, existed, initStore);
    assertWritable(opts.file);
  }
  const db: SqliteDb = openDatabase(opts.file);
  let files: DatabaseFiles | null = null;
  try {
    db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000;');
    const identity = memory ? null : identifyStore(db, opts.file, initStore);
    db.exec(SCHEMA);
    migrateAccounts(db); // accounts of versions before factor records
    // Readiness writes one row here: a committed write proves the file takes writes.
    db.exec('CREATE TABLE IF NOT EXISTS health_probe (id INTEGER PRIMARY KEY, at INTEGER NOT NULL)');
    if (identity) {
      identity.commit();
      if (identity.replaced)
        opts.log?.warn(
          { event: 'store.initialised', storeId: identity.storeId, replaced: identity.replaced },
          `${INIT_STORE_ENV}: a new, empty store ${identity.storeId} was made in ${opts.file} in place of store ${identity.replaced}. Remove ${INIT_STORE_ENV} from the environment.`,
        );
      else if (identity.initIgnored)
        opts.log?.warn({ event: 'store.init_ignored' }, `${INIT_STORE_ENV} is set, but the store in ${opts.file} is in place: nothing was done. Remove ${INIT_STORE_ENV} from the environment.`);
    }
    // A database deleted, replaced or made unwritable under the running process keeps working on the
    // open descriptor, silently, until the restart finds it gone: readiness watches the files.
    if (!memory) files = new DatabaseFiles(opts.file);
  } catch (err) {
    closeDatabase(db);
    throw refusalFor(err, opts.file) ?? err;
  }
  return sqliteStore(db, opts, files, existed);
}

/** Opens the file, or refuses clearly when it isn't a database at all. */
function openDatabase(file: string): SqliteDb {
  try {
    return new Database(file);
  } catch (err) {
    throw refusalFor(err, file) ?? err;
  }
}

/** A damaged file, said so (with what to do) instead of SQLite's "database disk image is malformed". */
function refusalFor(err: unknown, file: string): StoreRefusedError | null {
  if (!isStoreCorrupt(err)) return null;
  return corrupt(file, `${(err as { code?: string }).code ?? 'SQLITE_CORRUPT'}: ${(err as Error).message}`);
}

function corrupt(file: string, problem: string): StoreRefusedError {
  return new StoreRefusedError(
    `The embedded store ${file} is damaged (${problem}). Stop here rather than serve from a damaged store: ` +
      'restore tessera.db (with its -wal file, if there is one) from a backup. ' +
      'The sqlite3 shell\'s ".recover" command can save what is still readable into a new file.',
  );
}

function sqliteStore(db: SqliteDb, opts: SqliteStoreOptions, files: DatabaseFiles | null, existed: boolean): Store {
  const artifacts = new SqliteArtifactLog(db, opts.file, { onFlushError: opts.onFlushError, refreshReuseSeconds: opts.refreshReuseSeconds });
  const probe = db.prepare('INSERT OR REPLACE INTO health_probe (id, at) VALUES (1, ?)');
  const limiters: RateLimiterSQLite[] = [];
  return {
    kind: 'sqlite',
    accounts: sqliteAccounts(db),
    clients: sqliteClients(db),
    oidc: artifacts,
    challenges: sqliteChallenges(db),
    signIns: sqliteSignIns(db),
    consents: sqliteConsents(db),
    browsers: sqliteBrowsers(db),
    keys: sqliteKeys(db),
    audit: sqliteAudit(db),
    rateLimiter(o: RateLimitOptions) {
      const limiter = new RateLimiterSQLite({
        storeClient: db,
        storeType: 'better-sqlite3', // libsql speaks the better-sqlite3 API
        tableName: 'rate_limits',
        tableCreated: true, // the schema creates it synchronously at open
        keyPrefix: o.keyPrefix,
        points: o.points,
        duration: o.duration,
        blockDuration: o.blockDuration ?? 0,
      });
      limiters.push(limiter);
      return limiter;
    },
    async purgeExpired(now = new Date()) {
      files?.check(); // a truncated -shm is grown back before SQLite touches it (./files.ts)
      const t = now.getTime();
      artifacts.purgeExpired(t);
      db.prepare('DELETE FROM sign_ins WHERE expires_at <= ?').run(t);
      db.prepare('DELETE FROM browsers WHERE expires_at <= ?').run(t);
      db.prepare('DELETE FROM challenges WHERE expires_at <= ?').run(t - 24 * 3600_000);
      db.prepare('DELETE FROM rate_limits WHERE expire IS NOT NULL AND expire < ?').run(t);
    },
    async claimForServer() {
      // A damaged file stops the start here. Skipped for a database this start made.
      const seconds = opts.checkSeconds ?? 0;
      if (existed && seconds > 0) {
        const result = await checkIntegrity(opts.file, seconds * 1000);
        if (result.ok === false) throw corrupt(opts.file, `PRAGMA quick_check: ${result.problem}`);
        if (result.ok === 'unknown')
          opts.log?.warn({ event: 'store.check_skipped', reason: result.reason }, `integrity check of ${opts.file} skipped: ${result.reason} (STORE_CHECK_SECONDS)`);
      }
      try {
        artifacts.claim();
      } catch (err) {
        throw refusalFor(err, opts.file) ?? err;
      }
    },
    async ready(): Promise<StoreReadiness> {
      // The files first: after a -shm truncation SQLite must not be touched before it is grown back.
      const problem = files?.check();
      if (problem) return { ok: false, reason: problem };
      try {
        probe.run(Date.now());
        return { ok: true };
      } catch (err) {
        return { ok: false, reason: `database not writable: ${(err as Error).message}` };
      }
    },
    async close() {
      artifacts.close();
      // Closing touches the -shm (./files.ts closeDatabase): one truncated since the last check is grown
      // back first, and a deletion not noticed yet is written back.
      files?.check();
      if (files?.databaseDeleted) closeWritingBack(db, opts.file, opts.log);
      else closeDatabase(db); // not db.close(): libsql would leave the files to the garbage collector (./files.ts)
    },
  };
}
