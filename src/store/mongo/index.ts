// The production store: MongoDB through mongoose, on its own connection (never the mongoose global).
// No transactions anywhere: every state change that must be atomic is one conditional single-document
// update, uniqueness comes from unique indexes, and expiry is checked on every read (TTL indexes only
// clean up; MongoDB's TTL monitor runs once a minute).
//
// Outages (connection.ts): waits are bounded by the driver timeouts, an unreachable MongoDB surfaces as
// StoreUnavailableError (503 at the HTTP layer), and a connection that stays dead is recreated. The
// repos handed out here are stable objects forwarding to the repos of the connection in use.
import type { Connection } from 'mongoose';
import { RateLimiterMongo } from 'rate-limiter-flexible';
import type { Logger } from '../../log.ts';
import type { RateLimitOptions, Store, StoreReadiness } from '../ports.ts';
import { CHALLENGE_RETENTION_SECONDS, type MongoModels } from './models.ts';
import { mongoAccounts, mongoClients, migrateAccounts } from './accounts.ts';
import { mongoOidc } from './oidc.ts';
import { mongoChallenges } from './challenges.ts';
import { mongoSignIns } from './sign-ins.ts';
import { mongoConsents } from './consents.ts';
import { mongoBrowsers } from './browsers.ts';
import { mongoAudit, mongoKeys } from './misc.ts';
import { MongoLink, type MongoDriverTimeouts } from './connection.ts';
import { forwarding } from './forwarding.ts';
import { storeErrorOf } from './unavailable.ts';

export type { MongoDriverTimeouts } from './connection.ts';

/** One collection holds every limiter's counters (keys carry the limiter's keyPrefix). */
export const RATE_LIMIT_COLLECTION = 'rate_limits';

/** How long a readiness ping may take before the store counts as unreachable. */
export const READY_TIMEOUT_MS = 2_000;

/** How long MongoDB may stay unreachable before the connection is recreated, unless configured. */
export const RECONNECT_AFTER_MS = 15_000;

export interface MongoStoreOptions {
  uri: string;
  readyTimeoutMs?: number;
  /** Driver waits (MONGODB_*_TIMEOUT_MS); unset = the connection string's, else the driver's defaults. */
  timeouts?: MongoDriverTimeouts;
  reconnectAfterMs?: number;
  /** Where outages, recoveries and recreated connections are logged. */
  log?: Logger;
}

type Repos = Pick<Store, 'accounts' | 'clients' | 'oidc' | 'challenges' | 'signIns' | 'consents' | 'browsers' | 'keys' | 'audit'> & {
  purgeExpired(now: Date): Promise<void>;
};

function reposOf(connection: Connection, models: MongoModels): Repos {
  return {
    accounts: mongoAccounts(models),
    clients: mongoClients(models),
    oidc: mongoOidc(models),
    challenges: mongoChallenges(models),
    signIns: mongoSignIns(models),
    consents: mongoConsents(models),
    browsers: mongoBrowsers(models),
    keys: mongoKeys(models),
    audit: mongoAudit(models),
    async purgeExpired(now) {
      const challengeCutoff = new Date(now.getTime() - CHALLENGE_RETENTION_SECONDS * 1000);
      await Promise.all([
        models.oidc.deleteMany({ expiresAt: { $ne: null, $lte: now } }),
        models.challenges.deleteMany({ expiresAt: { $lte: challengeCutoff } }),
        connection.collection(RATE_LIMIT_COLLECTION).deleteMany({ expire: { $ne: null, $lte: now } }),
      ]);
    },
  };
}

async function prepare(connection: Connection): Promise<void> {
  // The limiter's own index creation is fire-and-forget; create them here so the unique key exists
  // before the first counter is written.
  const counters = connection.collection(RATE_LIMIT_COLLECTION);
  await counters.createIndex({ expire: -1 }, { expireAfterSeconds: 0 });
  await counters.createIndex({ key: 1 }, { unique: true });
}

export async function openMongoStore(opts: MongoStoreOptions): Promise<Store> {
  const link = await MongoLink.open<Repos>({
    uri: opts.uri,
    timeouts: opts.timeouts,
    readyTimeoutMs: opts.readyTimeoutMs ?? READY_TIMEOUT_MS,
    reconnectAfterMs: opts.reconnectAfterMs ?? RECONNECT_AFTER_MS,
    log: opts.log,
    prepare,
    build: reposOf,
  });
  try {
    await migrateAccounts(link.current.models); // accounts of versions before factor records
  } catch (err) {
    await link.close().catch(() => undefined);
    throw err;
  }
  // A failure that means "unreachable" becomes StoreUnavailableError and has the link check the connection.
  const fail = (err: unknown): never => {
    const mapped = storeErrorOf(err);
    if (mapped !== err) link.suspect();
    throw mapped;
  };
  const repos = link.current.repos;
  const via = <K extends Exclude<keyof Repos, 'purgeExpired'>>(key: K) => forwarding(Object.keys(repos[key]), () => link.current.repos[key], fail);
  // What the limiters use of a collection, forwarded to the connection in use (a limiter keeps the
  // collection object it was given for its whole life).
  const counters = forwarding(['findOneAndUpdate', 'findOne', 'deleteOne'], () => link.current.connection.collection(RATE_LIMIT_COLLECTION), fail);
  const countersClient = { collection: () => counters };
  return {
    kind: 'mongo',
    accounts: via('accounts'),
    clients: via('clients'),
    oidc: via('oidc'),
    challenges: via('challenges'),
    signIns: via('signIns'),
    consents: via('consents'),
    browsers: via('browsers'),
    keys: via('keys'),
    audit: via('audit'),
    rateLimiter(o: RateLimitOptions) {
      return new RateLimiterMongo({
        storeClient: countersClient,
        tableName: RATE_LIMIT_COLLECTION,
        keyPrefix: o.keyPrefix,
        points: o.points,
        duration: o.duration,
        blockDuration: o.blockDuration ?? 0,
        disableIndexesCreation: true,
      });
    },
    purgeExpired(now = new Date()) {
      return link.current.repos.purgeExpired(now).then(undefined, fail);
    },
    async claimForServer() {
      // Several instances share one replica set: nothing to claim.
    },
    ready(): Promise<StoreReadiness> {
      return link.ready();
    },
    close() {
      return link.close();
    },
  };
}
