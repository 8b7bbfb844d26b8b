// The MongoDB connection behind the store: opened with bounded waits, watched, and replaced when it
// stays dead.
//
// The driver gets over most outages by itself, but mongoose 9.12 / driver 7.8 were seen never to
// reconnect after a short outage under load (every operation waited serverSelectionTimeoutMS and failed
// until the process restarted; a bare mongoose client did the same). So any sign of trouble (an
// operation failing as unreachable, the driver reporting the server gone) has the connection in use
// pinged; a failed ping (or readiness check) starts an outage, logged, and a ping every
// PROBE_INTERVAL_MS; a ping that answers ends it, logged. Still down after `reconnectAfterMs`, a new
// connection is opened (a new client, the models compiled on it); once it is connected it replaces the
// old one, which is closed, and the repos (which reach the models through `current`) use it from their
// next call on. While all is well nothing runs: no timer, no extra command.
import { commandMonitoring, publishCommands } from './commands.ts';
import mongoose, { type Connection } from 'mongoose';
import type { Logger } from '../../log.ts';
import type { StoreReadiness } from '../ports.ts';
import { createModels, type MongoModels } from './models.ts';

/** How often a lost connection is pinged (only while it is lost). */
export const PROBE_INTERVAL_MS = 1_000;

/** The driver's waits (the driver's own defaults are 30 s for selection and connect, none for sockets). */
export interface MongoDriverTimeouts {
  serverSelectionTimeoutMs: number;
  connectTimeoutMs: number;
  /** How long a reply may take on an open socket (0 = no limit). */
  socketTimeoutMs: number;
  /** How long an operation may wait for a pooled connection (0 = no limit). */
  waitQueueTimeoutMs: number;
}

export interface MongoLinkOptions<R> {
  uri: string;
  /** Unset: whatever the connection string says (else the driver's defaults). Set: these win over it. */
  timeouts?: MongoDriverTimeouts;
  /** How long a ping may take before MongoDB counts as unreachable. */
  readyTimeoutMs: number;
  /** How long MongoDB may stay unreachable before the connection is recreated (and again after each failed try). */
  reconnectAfterMs: number;
  log?: Logger;
  /** Runs on every new connection before it is used (collections and indexes the models don't make). */
  prepare(connection: Connection): Promise<void>;
  /** The repos bound to one connection's models. */
  build(connection: Connection, models: MongoModels): R;
}

export interface Live<R> {
  connection: Connection;
  models: MongoModels;
  repos: R;
}

function driverOptions(t: MongoDriverTimeouts | undefined) {
  if (!t) return {};
  return {
    serverSelectionTimeoutMS: t.serverSelectionTimeoutMs,
    connectTimeoutMS: t.connectTimeoutMs,
    socketTimeoutMS: t.socketTimeoutMs,
    waitQueueTimeoutMS: t.waitQueueTimeoutMs,
  };
}

async function connect<R>(opts: MongoLinkOptions<R>): Promise<Live<R>> {
  const connection = mongoose.createConnection(opts.uri, { autoIndex: true, autoCreate: true, ...driverOptions(opts.timeouts), ...commandMonitoring() });
  try {
    await connection.asPromise();
    publishCommands(connection); // only for the bench's cost pass and the command-count test
    const models = await createModels(connection);
    await opts.prepare(connection);
    return { connection, models, repos: opts.build(connection, models) };
  } catch (err) {
    // destroy, not close: a failed or retired connection leaves mongoose's list of connections.
    await connection.destroy(true).catch(() => undefined);
    throw err;
  }
}

/**
 * `hello` answers from any member; a member that can't take writes (a secondary, an election in
 * progress) is not ready. Bounded here: the driver would wait its whole serverSelectionTimeoutMS.
 */
async function ping(connection: Connection, timeoutMs: number): Promise<StoreReadiness> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
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
}

const describe = (err: unknown) => (err instanceof Error ? `${err.name}: ${err.message}` : String(err));

export class MongoLink<R> {
  private downSince: number | null = null;
  private lastAttempt = 0;
  private probe: NodeJS.Timeout | null = null;
  private probing = false;
  private recreating = false;
  private closed = false;

  private constructor(
    private readonly opts: MongoLinkOptions<R>,
    private live: Live<R>,
  ) {
    this.watch(live.connection);
  }

  static async open<R>(opts: MongoLinkOptions<R>): Promise<MongoLink<R>> {
    return new MongoLink(opts, await connect(opts));
  }

  /** The connection in use (it changes when one is recreated). */
  get current(): Live<R> {
    return this.live;
  }

  /**
   * An operation failed as if MongoDB were unreachable: a hint, checked with a ping of the connection in
   * use (an operation still running on a connection just replaced fails too, and means nothing).
   */
  suspect(): void {
    this.schedule(this.downSince === null ? 0 : PROBE_INTERVAL_MS);
  }

  /** Readiness: a bounded ping of the connection in use, which also starts or ends an outage. */
  async ready(): Promise<StoreReadiness> {
    const live = this.live;
    const result = await ping(live.connection, this.opts.readyTimeoutMs);
    if (live === this.live) this.record(result);
    return result;
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.probe) clearTimeout(this.probe);
    this.probe = null;
    await this.live.connection.close();
  }

  private watch(connection: Connection): void {
    // The driver's view (a failed heartbeat, the server back): hints too; pings decide.
    connection.on('disconnected', () => {
      if (connection === this.live.connection) this.suspect();
    });
    connection.on('reconnected', () => {
      if (connection === this.live.connection && this.downSince !== null) this.schedule(0);
    });
  }

  /** One probe at a time, and only while something is (or may be) wrong. */
  private schedule(ms: number): void {
    if (this.closed || this.probe || this.probing) return;
    this.probe = setTimeout(() => {
      this.probe = null;
      void this.check();
    }, ms);
    this.probe.unref(); // never what keeps the process alive
  }

  private async check(): Promise<void> {
    if (this.closed) return;
    this.probing = true;
    try {
      const live = this.live;
      const result = await ping(live.connection, this.opts.readyTimeoutMs);
      if (live === this.live) this.record(result);
      if (this.downSince !== null && Date.now() - this.lastAttempt >= this.opts.reconnectAfterMs) await this.recreate();
    } finally {
      this.probing = false;
    }
    if (this.downSince !== null) this.schedule(PROBE_INTERVAL_MS);
  }

  private record(result: StoreReadiness): void {
    if (result.ok) return this.restored();
    if (this.downSince === null) {
      this.downSince = Date.now();
      this.lastAttempt = this.downSince;
      this.opts.log?.error({ event: 'mongo.connection.lost', store: 'mongo', reason: result.reason }, `MongoDB connection lost: ${result.reason}`);
    }
    this.schedule(PROBE_INTERVAL_MS);
  }

  private restored(): void {
    if (this.downSince === null) return;
    const downMs = Date.now() - this.downSince;
    this.downSince = null;
    this.opts.log?.warn({ event: 'mongo.connection.restored', store: 'mongo', downMs }, `MongoDB connection back after ${(downMs / 1000).toFixed(1)} s`);
  }

  private async recreate(): Promise<void> {
    if (this.recreating || this.closed || this.downSince === null) return;
    this.recreating = true;
    const downMs = Date.now() - this.downSince;
    this.opts.log?.warn({ event: 'mongo.connection.recreating', store: 'mongo', downMs }, `MongoDB unreachable for ${(downMs / 1000).toFixed(1)} s: opening a new connection`);
    try {
      const next = await connect(this.opts);
      if (this.closed) {
        await next.connection.destroy(true).catch(() => undefined);
        return;
      }
      const old = this.live;
      this.live = next;
      this.watch(next.connection);
      // Operations still on the old connection fail (as unavailable); its close may hang with it.
      void old.connection.destroy(true).catch(() => undefined);
      this.opts.log?.warn({ event: 'mongo.connection.recreated', store: 'mongo' }, 'a new MongoDB connection is in use');
      this.restored();
    } catch (err) {
      this.opts.log?.error({ event: 'mongo.connection.recreate_failed', store: 'mongo', reason: describe(err) }, `MongoDB still unreachable: ${describe(err)}`);
    } finally {
      this.lastAttempt = Date.now();
      this.recreating = false;
    }
  }
}
