// Counts the MongoDB commands Tessera's store sends (src/store/mongo/commands.ts publishes them while
// someone listens). Start the counter before opening the store: monitoring is switched on at open.
import diagnostics from 'node:diagnostics_channel';
import { MONGO_COMMAND_CHANNEL, type MongoCommandMessage } from '../../src/store/mongo/commands.ts';

export interface SeenCommand {
  name: string;
  /** The collection it names (find: 'oidc', update: 'accounts', ...), when it names one. */
  collection: string | null;
  command: Record<string, unknown>;
}

export class CommandCounter {
  readonly seen: SeenCommand[] = [];
  private inFlight = new Set<number>();
  private readonly onMessage = (m: unknown) => {
    const msg = m as MongoCommandMessage;
    if (msg.phase === 'finished') {
      this.inFlight.delete(msg.requestId);
      return;
    }
    this.inFlight.add(msg.requestId);
    const command = msg.command ?? {};
    const target = command[msg.name];
    this.seen.push({ name: msg.name, collection: typeof target === 'string' ? target : null, command });
  };

  start(): this {
    diagnostics.subscribe(MONGO_COMMAND_CHANNEL, this.onMessage);
    return this;
  }

  stop(): void {
    diagnostics.unsubscribe(MONGO_COMMAND_CHANNEL, this.onMessage);
  }

  /** Commands sent and not answered yet. */
  pending(): number {
    return this.inFlight.size;
  }

  /**
   * The commands `fn` caused: those sent from its start until it resolved and nothing it started is
   * still unanswered (a write it didn't wait for is counted too). Background work (the readiness watch's
   * `hello`) is left out by name.
   */
  async during(fn: () => Promise<unknown>): Promise<SeenCommand[]> {
    await this.settle(); // what earlier requests left unanswered is theirs
    const from = this.seen.length;
    await fn();
    await this.settle();
    return this.seen.slice(from).filter((c) => !background(c));
  }

  /** Until every command sent was answered; a write handed to the driver without waiting starts a moment later. */
  private async settle(): Promise<void> {
    const drained = async () => {
      for (let i = 0; i < 1000 && this.pending() > 0; i++) await new Promise((r) => setTimeout(r, 10));
    };
    await drained();
    await new Promise((r) => setTimeout(r, 20));
    await drained();
  }
}

/** Not store work of a request: the readiness watch, the driver's session housekeeping, the minute's purge. */
const IGNORED = new Set(['hello', 'isMaster', 'ismaster', 'endSessions', 'ping']);
function background(c: SeenCommand): boolean {
  if (IGNORED.has(c.name)) return true;
  const deletes = c.name === 'delete' ? (c.command.deletes as Array<{ q: Record<string, unknown> }>) : [];
  return deletes.length > 0 && deletes.every((d) => 'expiresAt' in d.q || 'expire' in d.q);
}

/** "find clients", "update oidc", ... counted: { 'find oidc': 2, 'update oidc': 1 }. */
export function tally(commands: SeenCommand[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const c of commands) {
    const k = c.collection ? `${c.name} ${c.collection}` : c.name;
    out[k] = (out[k] ?? 0) + 1;
  }
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => a.localeCompare(b)));
}
