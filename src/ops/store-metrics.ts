// Store operation latency and errors for /metrics, around the store port (either adapter), by operation
// (`accounts.findByEmail`, `oidc.upsert`, `rate_limit.consume`, ...).
//
// Cost on the token path: the operations oidc-provider makes on every token request (artifact reads and
// writes, the client and account lookups) are timed on one call in `sampleEvery`; every call of them still
// has its failure counted, which costs one promise reaction and nothing else. Every other operation is
// timed on each call. `oidc.durably` is the whole request, not an operation: it is passed through.
import type { Store, RateLimitOptions } from '../store/ports.ts';
import { StoreConflictError, StoreUnavailableError } from '../store/ports.ts';
import type { Metrics, StoreErrorKind, StoreOpMetrics } from './metrics.ts';

export const STORE_SAMPLE_EVERY = 16;

const REPOS = ['accounts', 'clients', 'oidc', 'challenges', 'signIns', 'keys', 'audit'] as const;
/** Made on every token request (src/oidc/adapter.ts, findAccount): timed on a sample. */
const TOKEN_PATH = new Set([
  'oidc.upsert', 'oidc.find', 'oidc.findByUid', 'oidc.findByUserCode', 'oidc.consume', 'oidc.destroy', 'oidc.revokeByGrantId',
  'accounts.viewById', 'clients.find',
]);
const PASS_THROUGH = new Set(['oidc.durably']);
const LIMITER_METHODS = ['get', 'consume', 'penalty', 'reward', 'delete', 'block', 'set'];

export function errorKind(err: unknown): StoreErrorKind {
  if (err instanceof StoreUnavailableError) return 'unavailable';
  if (err instanceof StoreConflictError) return 'conflict';
  return 'other';
}

type Fn = (...args: unknown[]) => unknown;
const isThenable = (v: unknown): v is PromiseLike<unknown> => typeof (v as PromiseLike<unknown> | null)?.then === 'function';

/** Calls `fn`, timing it to its settling. `isError` tells a failure from a refusal (a rate limiter's RateLimiterRes). */
function timedCall(fn: Fn, self: unknown, args: unknown[], m: StoreOpMetrics, isError: (e: unknown) => boolean): unknown {
  const started = performance.now();
  const failed = (err: unknown) => {
    m.observe((performance.now() - started) / 1000);
    if (isError(err)) m.error(err, errorKind(err));
  };
  let out: unknown;
  try {
    out = fn.apply(self, args);
  } catch (err) {
    failed(err);
    throw err;
  }
  if (!isThenable(out)) {
    m.observe((performance.now() - started) / 1000);
    return out;
  }
  return out.then(
    (v) => {
      m.observe((performance.now() - started) / 1000);
      return v;
    },
    (err) => {
      failed(err);
      throw err;
    },
  );
}

/** Calls `fn` untimed; a failure is still counted (a side reaction: the caller gets the same promise). */
function countedCall(fn: Fn, self: unknown, args: unknown[], onError: (err: unknown) => void): unknown {
  let out: unknown;
  try {
    out = fn.apply(self, args);
  } catch (err) {
    onError(err);
    throw err;
  }
  if (isThenable(out)) out.then(undefined, onError);
  return out;
}

/** Every method of an object (own and inherited, class methods included), but the constructor. */
function methodNames(obj: object): string[] {
  const names = new Set<string>();
  for (let o: object | null = obj; o && o !== Object.prototype; o = Object.getPrototypeOf(o) as object | null) {
    for (const key of Object.getOwnPropertyNames(o)) {
      if (key === 'constructor') continue;
      const desc = Object.getOwnPropertyDescriptor(o, key);
      if (desc && typeof desc.value === 'function') names.add(key);
    }
  }
  return [...names];
}

const always = () => true;
const onlyErrors = (e: unknown) => e instanceof Error; // a limiter refuses with a RateLimiterRes, which is no failure

/**
 * A repo whose methods are measured. It inherits from the repo (its other properties read through) and
 * every method runs on the repo itself, so an adapter's state is never written on the wrapper.
 */
function instrumentRepo<T extends object>(name: string, repo: T, metrics: Metrics, sampleEvery: number): T {
  const out = Object.create(repo) as Record<string, unknown>;
  const source = repo as unknown as Record<string, Fn>;
  for (const key of methodNames(repo)) {
    const fn = source[key];
    const op = `${name}.${key}`;
    if (PASS_THROUGH.has(op)) {
      out[key] = fn.bind(repo);
      continue;
    }
    const m = metrics.storeOperation(op);
    if (!TOKEN_PATH.has(op)) {
      out[key] = (...args: unknown[]) => timedCall(fn, repo, args, m, always);
      continue;
    }
    // A side reaction: were it to throw, its promise would be an unhandled rejection.
    const onError = (err: unknown) => {
      try {
        m.error(err, errorKind(err));
      } catch {
        // counting never fails a request
      }
    };
    let calls = 0;
    out[key] = (...args: unknown[]) => {
      if (++calls < sampleEvery) return countedCall(fn, repo, args, onError);
      calls = 0;
      return timedCall(fn, repo, args, m, always);
    };
  }
  return out as T;
}

/** A rate limiter (counters in the store) measured like the repos; its properties (points, ...) read through. */
function instrumentLimiter<T extends object>(limiter: T, metrics: Metrics): T {
  const out = Object.create(limiter) as Record<string, unknown>;
  const source = limiter as unknown as Record<string, Fn>;
  for (const key of methodNames(limiter)) {
    const fn = source[key];
    if (!LIMITER_METHODS.includes(key)) {
      out[key] = fn.bind(limiter); // runs on the limiter itself, as every method here does
      continue;
    }
    const m = metrics.storeOperation(`rate_limit.${key}`);
    out[key] = (...args: unknown[]) => timedCall(fn, limiter, args, m, onlyErrors);
  }
  return out as T;
}

/** The same store, measured into `metrics`. `kind` reads through; claimForServer, close and the rest run as they are. */
export function instrumentStore(store: Store, metrics: Metrics, sampleEvery = STORE_SAMPLE_EVERY): Store {
  const out = Object.create(store) as Store;
  const writable = out as unknown as Record<string, unknown>;
  for (const key of methodNames(store)) writable[key] = (store as unknown as Record<string, Fn>)[key].bind(store);
  for (const name of REPOS) writable[name] = instrumentRepo(name, store[name], metrics, sampleEvery);
  out.rateLimiter = (opts: RateLimitOptions) => instrumentLimiter(store.rateLimiter(opts), metrics);
  const purge = metrics.storeOperation('store.purgeExpired');
  out.purgeExpired = (now?: Date) => timedCall(store.purgeExpired as Fn, store, [now], purge, always) as Promise<void>;
  const ready = metrics.storeOperation('store.ready');
  out.ready = () => timedCall(store.ready as Fn, store, [], ready, always) as ReturnType<Store['ready']>;
  return out;
}
