// Store commands as the driver sends them, for whoever measures what an operation costs (the bench's
// MongoDB cost pass, the command-count test). Published on a diagnostics channel; the driver's command
// monitoring is switched on only when the channel had a subscriber as the store opened, so it costs
// nothing otherwise (no events are even built).
import diagnostics from 'node:diagnostics_channel';
import type { Connection } from 'mongoose';

export const MONGO_COMMAND_CHANNEL = 'tessera:mongo:command';

/** What a subscriber receives: once when a command is sent, once when it was answered (or failed). */
export interface MongoCommandMessage {
  phase: 'started' | 'finished';
  /** The command's name (find, insert, update, delete, findAndModify, ...). */
  name: string;
  requestId: number;
  /** Only on 'started': the command document as sent. */
  command?: Record<string, unknown>;
}

const channel = diagnostics.channel(MONGO_COMMAND_CHANNEL);

/** Driver options for a new connection: command monitoring on only while someone listens. */
export function commandMonitoring(): { monitorCommands?: true } {
  return channel.hasSubscribers ? { monitorCommands: true } : {};
}

/** Hands the connection's command events on to the channel (nothing when nobody listens). */
export function publishCommands(connection: Connection): void {
  const client = connection.getClient();
  if (!client.options.monitorCommands || !channel.hasSubscribers) return;
  client.on('commandStarted', (e) =>
    channel.publish({ phase: 'started', name: e.commandName, requestId: e.requestId, command: e.command } satisfies MongoCommandMessage),
  );
  const finished = (e: { commandName: string; requestId: number }) =>
    channel.publish({ phase: 'finished', name: e.commandName, requestId: e.requestId } satisfies MongoCommandMessage);
  client.on('commandSucceeded', finished);
  client.on('commandFailed', finished);
}
