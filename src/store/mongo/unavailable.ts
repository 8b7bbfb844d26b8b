// Which MongoDB failures mean "the store can't be reached right now" (answered 503, retried later) rather
// than a bug or bad input (500, or the adapter's own handling such as duplicate keys).
import { StoreUnavailableError } from '../ports.ts';

/**
 * Driver errors (by name, so a second copy of the driver in node_modules still matches) for no server,
 * a lost or reset socket, a socket or checkout that timed out, and a client or pool closed under the
 * operation (a connection being recreated).
 */
export const MONGO_UNAVAILABLE_NAMES: ReadonlySet<string> = new Set([
  'MongoNetworkError',
  'MongoNetworkTimeoutError',
  'MongoServerSelectionError',
  'MongooseServerSelectionError',
  'MongoOperationTimeoutError',
  'MongoWaitQueueTimeoutError',
  'MongoPoolClearedError',
  'MongoPoolClosedError',
  'MongoTopologyClosedError',
  'MongoServerClosedError',
  'MongoClientClosedError',
  'MongoNotConnectedError',
]);

/** Server codes of a replica set in transition or shutting down (the driver's retryable ones). */
const UNAVAILABLE_CODES = new Set([6, 7, 89, 91, 189, 262, 9001, 10107, 11600, 11602, 13435, 13436]);

/** Socket errors the driver sometimes passes through unwrapped (seen: a bare `write ECONNRESET`). */
const SOCKET_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'ECONNABORTED', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);

export function isMongoUnavailable(err: unknown): boolean {
  if (typeof err !== 'object' || err === null) return false;
  const { name, code } = err as { name?: unknown; code?: unknown };
  if (typeof name === 'string' && MONGO_UNAVAILABLE_NAMES.has(name)) return true;
  if (typeof code === 'number') return UNAVAILABLE_CODES.has(code);
  return typeof code === 'string' && SOCKET_CODES.has(code);
}

/** The error to throw for `err`: a StoreUnavailableError (cause: the driver's) or `err` itself. */
export function storeErrorOf(err: unknown): unknown {
  if (err instanceof StoreUnavailableError || !isMongoUnavailable(err)) return err;
  return new StoreUnavailableError('MongoDB unreachable', { cause: err });
}
