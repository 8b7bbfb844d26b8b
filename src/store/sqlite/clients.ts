// Clients live beside accounts (same document pattern); re-exported here so index.ts reads by capability.
export { sqliteClients } from './accounts.ts';
