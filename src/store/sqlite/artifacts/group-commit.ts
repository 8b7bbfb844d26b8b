// Writes are group-committed: everything written in one event-loop turn and the next is one commit (one
// row, one transaction) at the end of the next turn. Outside the server a write's promise resolves
// after that commit. In the server (claim()) writes return at once instead, and each request waits in
// durably() just before its response goes out (src/http/front.ts wraps every request in it), so a
// response that hands out a token is sent after the token is on disk (WAL, synchronous = NORMAL).
//
// A failed commit fails the requests that wrote into it, and only those: each durably() notes, through
// an AsyncLocalStorage, the commits its request wrote into (a request that only read, such as discovery,
// is not failed by someone else's write). The failure reaches them as StoreUnavailableError.
import { AsyncLocalStorage } from 'node:async_hooks';
import { StoreUnavailableError } from '../../ports.ts';
import type { Row } from './rows.ts';
import type { Entry } from './entries.ts';

export interface Batch {
  /** The commit row being filled: its records, and the entries upserted in it with their record numbers. */
  row: Row;
  lines: string[];
  staged: Entry[];
  stagedLines: number[];
  promise: Promise<void>;
  settled: Promise<void>; // the same, never rejecting
  resolve: () => void;
  reject: (err: Error) => void;
  writers: Writes[];
}

/** One request's writes, as durably() follows them. */
interface Writes {
  batch: Batch | null; // the last commit it wrote into
  error: Error | null; // the failure of one it wrote into
}

const DONE: Promise<void> = Promise.resolve();

export class GroupCommit {
  batch: Batch | null = null;
  /** Server mode: writes don't wait (durably() does). */
  deferred = false;
  private readonly writers = new AsyncLocalStorage<Writes>();

  constructor(
    /** A new row for a commit that opens. */
    private readonly newRow: () => Row,
    /** Writes a batch to the file; throws, with the batch taken back, if it can't. */
    private readonly write: (batch: Batch) => void,
    private readonly onError: (err: Error) => void,
  ) {}

  /** The commit a write made now goes into (opened if none is), noting the request that writes. */
  open(): Batch {
    const b = this.batch ?? this.start();
    const w = this.writers.getStore();
    if (w !== undefined && w.batch !== b) {
      w.batch = b;
      b.writers.push(w);
    }
    return b;
  }

  /** What a write returns: its commit, or at once in the server, where durably() waits instead. */
  settled(b: Batch): Promise<void> {
    return this.deferred ? DONE : b.promise;
  }

  async durably<T>(fn: () => Promise<T>): Promise<T> {
    const w: Writes = { batch: null, error: null };
    const result = await this.writers.run(w, fn);
    // Whatever it wrote or read may be in the commit still open: its response waits for it.
    if (this.batch) await this.batch.settled;
    if (w.error) throw w.error;
    return result;
  }

  /** Commits the open batch now (its own turn has not come yet, or close() wants it). */
  flush(): void {
    const b = this.batch;
    if (!b) return;
    this.batch = null;
    try {
      this.write(b);
    } catch (err) {
      const cause = err instanceof Error ? err : new Error(String(err));
      const error = new StoreUnavailableError(`committing oidc artifacts failed: ${cause.message}`, { cause });
      for (const w of b.writers) w.error ??= error;
      this.onError(error);
      b.reject(error);
      return;
    }
    b.resolve();
  }

  private start(): Batch {
    let resolve!: () => void;
    let reject!: (err: Error) => void;
    const promise = new Promise<void>((res, rej) => ((resolve = res), (reject = rej)));
    // A failure reaches whoever waits for the promise (nobody waiting is no crash); durably() waits for
    // `settled` and reads the failure from its own record instead.
    const settled = promise.catch(() => {});
    const b: Batch = { row: this.newRow(), lines: [], staged: [], stagedLines: [], promise, settled, resolve, reject, writers: [] };
    this.batch = b;
    // The commit runs at the end of the next turn of the event loop, not this one: a token request's
    // writes come before it signs the ID token (a thread-pool job), so its response can't go out before
    // the next turn anyway, and the requests that turn brings in join the commit. Under load that halves
    // the commits (~9 refreshes each instead of ~5, measured) for the same bytes; a request without an
    // asynchronous step after its writes (client_credentials) waits one more turn, and still gains.
    setImmediate(() => setImmediate(() => this.flush()));
    return b;
  }
}
