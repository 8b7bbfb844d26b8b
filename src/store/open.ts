// Picks the adapter: MongoDB when MONGODB_URI is set, otherwise the embedded SQLite file in DATA_DIR.
import path from 'node:path';
import type { Config } from '../config.ts';
import type { Store } from './ports.ts';
import type { Logger } from '../log.ts';

export async function openStore(config: Config, log?: Logger): Promise<Store> {
  if (config.mongodbUri) {
    const { openMongoStore } = await import('./mongo/index.ts');
    const { reconnectAfterMs, ...timeouts } = config.mongodb;
    return openMongoStore({ uri: config.mongodbUri, timeouts, reconnectAfterMs, log });
  }
  const { openSqliteStore } = await import('./sqlite/index.ts');
  return openSqliteStore({
    file: path.join(config.dataDir, 'tessera.db'),
    onFlushError: (err) => log?.error({ err }, 'committing oidc artifacts failed; the requests that wrote them fail'),
    initStore: config.embeddedStore.initStore,
    checkSeconds: config.embeddedStore.checkSeconds,
    log,
    refreshReuseSeconds: config.oidc.refreshReuseSeconds,
  });
}
