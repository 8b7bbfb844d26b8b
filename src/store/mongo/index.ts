// The production store: MongoDB through mongoose, on its own connection (never the mongoose global).
// No transactions anywhere: every state change that must be atomic is one conditional single-document
// update, uniqueness comes from unique indexes, and expiry is checked on every read (TTL indexes only
// clean up; MongoDB's TTL monitor runs once a minute).
import mongoose from 'mongoose';
import { RateLimiterMongo } from 'rate-limiter-flexible';
import type { RateLimitOptions, Store, StoreReadiness } from '../ports.ts';
import { CHALLENGE_RETENTION_SECONDS, createModels, type MongoModels } from './models.ts';
import { mongoAccounts, mongoClients, migrateAccounts } from './accounts.ts';
import { mongoOidc } from './oidc.ts';
import { mongoChallenges } from './challenges.ts';
import { mongoSignIns } from './sign-ins.ts';
import { mongoConsents } from './consents.ts';
import { mongoBrowsers } from './browsers.ts';
import { mongoAudit, mongoKeys } from './misc.ts';
import { commandMonitoring, publishCommands } from './commands.ts';

/** One collection holds every limiter's counters (keys carry the limiter's keyPrefix). */
export const RATE_LIMIT_COLLECTION = 'rate_limits';

/** How long a readiness ping may take before the store counts as unreachable. */
export const READY_TIMEOUT_MS = 2_000;

export async function openMongoStore(opts: { uri: string; readyTimeoutMs?: number }): Promise<Store> {
  const readyTimeoutMs = opts.readyTimeoutMs ?? READY_TIMEOUT_MS;
  const connection = mongoose.createConnection(opts.uri, { autoIndex: true, autoCreate: true, ...commandMonitoring() });
  await connection.asPromise();
  publishCommands(connection); // only for the bench's cost pass and the command-count test
  let models: MongoModels;
  try {
    models = await createModels(connection);
    // The limiter's own index creation is fire-and-forget; create them here so the unique key exists
    // before the first counter is written.
    const counters = connection.collection(RATE_LIMIT_COLLECTION);
    await counters.createIndex({ expire: -1 }, { expireAfterSeconds: 0 });
    await counters.createIndex({ key: 1 }, { unique: true });
    await migrateAccounts(models); // accounts of versions before factor records
  } catch (err) {
    await connection.close().catch(() => undefined);
    throw err;
  }
  return {
    kind: 'mongo',
    accounts: mongoAccounts(models),
    clients: mongoClients(models),
    oidc: mongoOidc(models),
    challenges: mongoChallenges(models),
    signIns: mongoSignIns(models),
    consents: mongoConsents(models),
    browsers: mongoBrowsers(models),
    keys: mongoKeys(models),
    audit: mongoAudit(models),
    rateLimiter(o: RateLimitOptions) {
      // A mongoose Connection has no db() function, so the limiter uses connection.collection(...)
      // directly: the counters live in this store's database.
      return new RateLimiterMongo({
        storeClient: connection,
        tableName: RATE_LIMIT_COLLECTION,
        keyPrefix: o.keyPrefix,
        points: o.points,
        duration: o.duration,
        blockDuration: o.blockDuration ?? 0,
        disableIndexesCreation: true,
      });
    },
    async purgeExpired(now = new Date()) {
      const challengeCutoff = new Date(now.getTime() - CHALLENGE_RETENTION_SECONDS * 1000);
      await Promise.all([
        models.oidc.deleteMany({ expiresAt: { $ne: null, $lte: now } }),
        models.challenges.deleteMany({ expiresAt: { $lte: challengeCutoff } }),
        connection.collection(RATE_LIMIT_COLLECTION).deleteMany({ expire: { $ne: null, $lte: now } }),
      ]);
    },
    async claimForServer() {
      // Several instances share one replica set: nothing to claim.
    },
    async ready(): Promise<StoreReadiness> {
      // `hello` answers from any member; a member that can't take writes (a secondary, an election in
      // progress) is not ready. Bounded here: the driver would wait serverSelectionTimeoutMS (30 s by default).
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${readyTimeoutMs} ms`)), readyTimeoutMs);
      });
      try {
        const db = connection.db;
        if (!db) return { ok: false, reason: 'MongoDB connection not open' };
        const hello = db.command({ hello: 1 });
        hello.catch(() => undefined); // a late failure after the timeout is no unhandled rejection
        const reply = (await Promise.race([hello, timeout])) as { isWritablePrimary?: boolean; ismaster?: boolean };
        if (reply.isWritablePrimary === false || (reply.isWritablePrimary === undefined && reply.ismaster === false)) {
          return { ok: false, reason: 'MongoDB server is not a writable primary' };
        }
        return { ok: true };
      } catch (err) {
        return { ok: false, reason: `MongoDB unreachable: ${(err as Error).message}` };
      } finally {
        clearTimeout(timer);
      }
    },
    async close() {
      await connection.close();
    },
  };
}
