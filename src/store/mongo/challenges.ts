import type { ChallengeRecord, ChallengeRepo } from '../ports.ts';
import type { ChallengeDoc, MongoModels } from './models.ts';

function toChallenge(d: ChallengeDoc): ChallengeRecord {
  return {
    id: d._id,
    purpose: d.purpose,
    accountId: d.accountId,
    channel: d.channel,
    destination: d.destination,
    codeHash: d.codeHash,
    attempts: d.attempts,
    maxAttempts: d.maxAttempts,
    sends: d.sends,
    lastSentAt: d.lastSentAt ?? null,
    expiresAt: d.expiresAt,
    consumedAt: d.consumedAt ?? null,
    createdAt: d.createdAt,
    context: d.context ?? null,
  };
}

/** Unconsumed, unexpired at `now`, attempts left. */
const usable = (now: Date) => ({
  consumedAt: null,
  expiresAt: { $gt: now },
  $expr: { $lt: ['$attempts', '$maxAttempts'] },
});

export function mongoChallenges(m: MongoModels): ChallengeRepo {
  const Challenges = m.challenges;
  return {
    async create(c) {
      await Challenges.create({
        _id: c.id,
        purpose: c.purpose,
        accountId: c.accountId,
        channel: c.channel,
        destination: c.destination,
        codeHash: c.codeHash,
        attempts: c.attempts,
        maxAttempts: c.maxAttempts,
        sends: c.sends,
        lastSentAt: c.lastSentAt,
        expiresAt: c.expiresAt,
        consumedAt: c.consumedAt,
        createdAt: c.createdAt,
        context: c.context,
      });
    },
    async find(id) {
      const d = await Challenges.findById(id).lean<ChallengeDoc>();
      return d ? toChallenge(d) : null;
    },
    async findActive(accountId, purpose, context) {
      const d = await Challenges.findOne({ accountId, purpose, context, ...usable(new Date()) })
        .sort({ createdAt: -1, _id: -1 })
        .lean<ChallengeDoc>();
      return d ? toChallenge(d) : null;
    },
    async addAttempt(id) {
      const d = await Challenges.findOneAndUpdate(
        { _id: id, consumedAt: null },
        { $inc: { attempts: 1 } },
        { returnDocument: 'after' },
      ).lean<ChallengeDoc>();
      return d ? toChallenge(d) : null;
    },
    async consume(id, now) {
      // A single conditional update: exactly one concurrent caller can flip consumedAt from null.
      const res = await Challenges.updateOne({ _id: id, ...usable(now) }, { $set: { consumedAt: now } });
      return res.modifiedCount === 1;
    },
    async markSent(id, at, codeHash) {
      // A resend with a new code replaces the hash list (the engine passes old and new hashes together).
      await Challenges.updateOne({ _id: id }, { $inc: { sends: 1 }, $set: { lastSentAt: at, ...(codeHash ? { codeHash } : {}) } });
    },
    async voidOpen(accountId, purpose) {
      await Challenges.updateMany({ accountId, purpose, consumedAt: null }, { $set: { consumedAt: new Date() } });
    },
  };
}
