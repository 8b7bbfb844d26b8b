// New password hashes wait for one of PASSWORD_HASH_CONCURRENCY slots while verification never waits:
// a burst of registrations can't take every thread of libuv's pool (and both cores) from sign-ins.
// argon2 is replaced by a stand-in that counts how many hashes run at once and finishes on command.
import { describe, it, expect, vi } from 'vitest';

const running = { hashes: 0, most: 0, release: [] as (() => void)[] };
vi.mock('@node-rs/argon2', () => ({
  Algorithm: { Argon2id: 2 },
  hash: async (pw: string) => {
    running.hashes += 1;
    running.most = Math.max(running.most, running.hashes);
    await new Promise<void>((resolve) => running.release.push(resolve));
    running.hashes -= 1;
    return `hashed:${pw}`;
  },
  verify: async (h: string, pw: string) => h === `hashed:${pw}`,
}));

const { hashPassword, verifyPassword, setHashConcurrency } = await import('../../src/accounts/passwords.ts');

/** Lets every started stand-in hash finish, round by round, until `all` settle. */
async function drain<T>(all: Promise<T>[]): Promise<T[]> {
  let done = false;
  const settled = Promise.all(all).finally(() => (done = true));
  while (!done) {
    await new Promise((r) => setImmediate(r));
    running.release.splice(0).forEach((f) => f());
  }
  return settled;
}

describe('password hashing concurrency', () => {
  it('runs at most PASSWORD_HASH_CONCURRENCY new hashes at once, the rest wait their turn', async () => {
    setHashConcurrency(2);
    running.most = 0;
    const burst = Array.from({ length: 8 }, (_, i) => hashPassword(`password number ${i}`));
    await new Promise((r) => setImmediate(r));
    expect(running.hashes).toBe(2);
    const out = await drain(burst);
    expect(running.most).toBe(2);
    expect(out).toEqual(Array.from({ length: 8 }, (_, i) => `hashed:password number ${i}`));
  });

  it('verifies a sign-in while new hashes are queued, without waiting for them', async () => {
    setHashConcurrency(1);
    running.most = 0;
    const burst = Array.from({ length: 5 }, (_, i) => hashPassword(`queued ${i}`));
    await new Promise((r) => setImmediate(r));
    expect(running.hashes).toBe(1);
    // No hash has finished, and the sign-in's check answers anyway.
    expect(await verifyPassword('hashed:the login', 'the login')).toBe(true);
    expect(running.release).toHaveLength(1);
    await drain(burst);
    expect(running.most).toBe(1);
  });
});
