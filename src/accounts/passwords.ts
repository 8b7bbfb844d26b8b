// argon2id at OWASP's parameters (m=19456 KiB, t=2, p=1) through the async API, which runs on libuv's
// thread pool: one process uses both cores for logins.
import { hash, verify, Algorithm } from '@node-rs/argon2';

const OPTIONS = { algorithm: Algorithm.Argon2id, memoryCost: 19456, timeCost: 2, parallelism: 1 } as const;

export const PASSWORD_MIN = 10;
export const PASSWORD_MAX = 256;

/**
 * New hashes (registration, reset, change, admin) wait for one of `limit` slots; verification never
 * does. libuv's pool has 4 threads on 2 cores here, so without a bound a burst of registrations takes
 * every thread and core and sign-ins queue behind it. Process-wide on purpose: the thread pool is.
 */
class Slots {
  private busy = 0;
  private readonly waiting: (() => void)[] = [];
  constructor(public limit: number) {}

  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.busy >= this.limit) await new Promise<void>((resolve) => this.waiting.push(resolve));
    else this.busy += 1;
    try {
      return await fn();
    } finally {
      const next = this.waiting.shift();
      if (next) next(); // the slot passes straight on
      else this.busy -= 1;
    }
  }
}

const hashing = new Slots(1);

/** How many new-password hashes may run at once (config limits.passwordHashConcurrency). */
export function setHashConcurrency(n: number): void {
  hashing.limit = Math.max(1, Math.floor(n));
}

export function hashPassword(password: string): Promise<string> {
  return hashing.run(() => hash(password, OPTIONS));
}

export async function verifyPassword(passwordHash: string, password: string): Promise<boolean> {
  try {
    return await verify(passwordHash, password);
  } catch {
    return false;
  }
}

/** A hash of a random password: verified against when the account doesn't exist, so both cases take the same time. */
let dummy: Promise<string> | undefined;
export function dummyHash(): Promise<string> {
  dummy ??= hashPassword(`no-such-account-${Math.random()}`);
  return dummy;
}

/** Why a password is too weak, or null. Length first (NIST 800-63B), then obvious patterns. */
export function passwordProblem(password: string, context: { email?: string; name?: string } = {}): string | null {
  if (password.length < PASSWORD_MIN) return `Use at least ${PASSWORD_MIN} characters.`;
  if (password.length > PASSWORD_MAX) return `Use at most ${PASSWORD_MAX} characters.`;
  if (new Set(password).size < 4) return 'Use a less repetitive password.';
  const lower = password.toLowerCase();
  const local = context.email?.split('@')[0]?.toLowerCase();
  if (local && local.length >= 4 && lower.includes(local)) return 'Don’t use your email address in your password.';
  if (/^(password|qwerty|letmein|123456|abc123|iloveyou|welcome)/.test(lower)) return 'This password is too common.';
  return null;
}
