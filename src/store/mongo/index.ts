// The production store: MongoDB through mongoose, on its own connection (never the mongoose global).
// No transactions anywhere: every state change that must be atomic is one conditional single-document
// update, uniqueness comes from unique indexes, and expiry is checked on every read (TTL indexes only
// clean up; MongoDB's TTL monitor runs once a minute).
import mongoose from 'mongoose';
import { RateLimiterMongo } from 'rate-limiter-flexible';
import type { RateLimitOptions, Store } from '../ports.ts';
import { CHALLENGE_RETENTION_SECONDS, createModels, type MongoModels } from './models.ts';
import { mongoAccounts, mongoClients, migrateAccounts } from './accounts.ts';
import { mongoOidc } from './oidc.ts';
import { mongoChallenges } from './challenges.ts';
import { mongoSignIns } from './sign-ins.ts';
import { mongoAudit, mongoKeys } from './misc.ts';

/** One collection holds every limiter's counters (keys carry the limiter's keyPrefix). */
export const RATE_LIMIT_COLLECTION = 'rate_limits';

export async function openMongoStore(opts: { uri: string }): Promise<Store> {
  const connection = mongoose.createConnection(opts.uri, { autoIndex: true, autoCreate: true });
  await connection.asPromise();
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
    async close() {
      await connection.close();
    },
  };
}
