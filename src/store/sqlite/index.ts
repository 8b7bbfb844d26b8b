// The embedded store: one SQLite file through libsql (better-sqlite3-compatible API, ships prebuilt
// platform binaries, so `npm install` needs no native build). Calls are synchronous inside one process,
// which makes every read-modify-write below atomic for this process; the embedded store is for a single
// instance (scale-out uses MongoDB).
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
import { sqliteKeys, sqliteAudit } from './misc.ts';

export type SqliteDb = InstanceType<typeof Database>;

export interface SqliteStoreOptions {
  file: string;
  /** Told about each failed commit of oidc artifacts (the requests that wrote into it fail with it). */
  onFlushError?: (err: Error) => void;
  /** REFRESH_TOKEN_REUSE_SECONDS: how long a consumed refresh token stays whole in memory (artifacts/tombstones.ts). */
  refreshReuseSeconds?: number;
}

export async function openSqliteStore(opts: SqliteStoreOptions): Promise<Store> {
  if (opts.file !== ':memory:') fs.mkdirSync(path.dirname(path.resolve(opts.file)), { recursive: true });
  const db: SqliteDb = new Database(opts.file);
  db.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA busy_timeout = 5000;');
  db.exec(SCHEMA);
  migrateAccounts(db); // accounts of versions before factor records
  const artifacts = new SqliteArtifactLog(db, opts.file, { onFlushError: opts.onFlushError, refreshReuseSeconds: opts.refreshReuseSeconds });
  // Readiness writes one row here (a committed write proves the file takes writes), and compares the
  // file on disk with the one opened: a database deleted or replaced under a running process keeps
  // working on the open descriptor, silently, until the restart finds an empty store.
  db.exec('CREATE TABLE IF NOT EXISTS health_probe (id INTEGER PRIMARY KEY, at INTEGER NOT NULL)');
  const probe = db.prepare('INSERT OR REPLACE INTO health_probe (id, at) VALUES (1, ?)');
  const opened = opts.file === ':memory:' ? null : fs.statSync(opts.file);
  const limiters: RateLimiterSQLite[] = [];
  return {
    kind: 'sqlite',
    accounts: sqliteAccounts(db),
    clients: sqliteClients(db),
    oidc: artifacts,
    challenges: sqliteChallenges(db),
    signIns: sqliteSignIns(db),
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
      const t = now.getTime();
      artifacts.purgeExpired(t);
      db.prepare('DELETE FROM sign_ins WHERE expires_at <= ?').run(t);
      db.prepare('DELETE FROM challenges WHERE expires_at <= ?').run(t - 24 * 3600_000);
      db.prepare('DELETE FROM rate_limits WHERE expire IS NOT NULL AND expire < ?').run(t);
    },
    async claimForServer() {
      artifacts.claim();
    },
    async ready(): Promise<StoreReadiness> {
      if (opened) {
        let now: fs.Stats;
        try {
          now = fs.statSync(opts.file);
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code;
          return { ok: false, reason: code === 'ENOENT' ? `database file ${opts.file} was deleted while running` : `database file ${opts.file}: ${code ?? String(err)}` };
        }
        if (now.ino !== opened.ino || now.dev !== opened.dev) return { ok: false, reason: `database file ${opts.file} was replaced while running` };
      }
      try {
        probe.run(Date.now());
        return { ok: true };
      } catch (err) {
        return { ok: false, reason: `database not writable: ${(err as Error).message}` };
      }
    },
    async close() {
      artifacts.close();
      db.close();
    },
  };
}
