// Calls made in one synchronous run, sent as one MongoDB command. oidc-provider asks for several
// artifacts at once (introspection and revocation look a token up as AccessToken, ClientCredentials and
// RefreshToken in one Promise.all; revoking a grant calls revokeByGrantId once per token model, each
// deleting the same documents): those calls arrive before the next microtask and leave as one command.
// Never stale: a batch is sent after every call in it was made, and a call after the send starts the next
// batch, so each caller sees what its own command would have seen. No memo outlives its batch.

interface Waiter<R> {
  resolve: (r: R) => void;
  reject: (err: unknown) => void;
}

export interface BatchOptions<R> {
  /**
   * Calls with the same key share one item; each caller after the first gets `copy(result)`, so no two
   * callers hold the same mutable object (as two separate reads would not).
   */
  copy?: (r: R) => R;
}

/**
 * `send` gets the distinct items of one batch and answers one result per item, in order. A batch of one
 * is a batch of one: the send decides how to say it (the caller's single command, as without batching).
 */
export function batchPerTick<T, R>(keyOf: (item: T) => string, send: (items: T[]) => Promise<R[]>, opts: BatchOptions<R> = {}): (item: T) => Promise<R> {
  let batch: Map<string, { item: T; waiters: Waiter<R>[] }> | null = null;
  const flush = () => {
    const entries = [...batch!.values()];
    batch = null;
    let sent: Promise<R[]>;
    try {
      sent = send(entries.map((e) => e.item));
    } catch (err) {
      sent = Promise.reject(err);
    }
    sent.then(
      (results) => {
        entries.forEach((e, i) => e.waiters.forEach((w, n) => w.resolve(n > 0 && opts.copy ? opts.copy(results[i]) : results[i])));
      },
      (err: unknown) => entries.forEach((e) => e.waiters.forEach((w) => w.reject(err))),
    );
  };
  return (item) => {
    if (!batch) {
      batch = new Map();
      queueMicrotask(flush);
    }
    const key = keyOf(item);
    let entry = batch.get(key);
    if (!entry) batch.set(key, (entry = { item, waiters: [] }));
    const waiters = entry.waiters;
    return new Promise<R>((resolve, reject) => waiters.push({ resolve, reject }));
  };
}
