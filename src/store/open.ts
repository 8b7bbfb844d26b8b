// Picks the adapter: MongoDB when MONGODB_URI is set, otherwise the embedded SQLite file in DATA_DIR.
import path from 'node:path';
import type { Config } from '../config.ts';
import type { Store } from './ports.ts';

export async function openStore(config: Config): Promise<Store> {
  if (config.mongodbUri) {
    const { openMongoStore } = await import('./mongo/index.ts');
    return openMongoStore({ uri: config.mongodbUri });
  }
  const { openSqliteStore } = await import('./sqlite/index.ts');
  return openSqliteStore({ file: path.join(config.dataDir, 'tessera.db') });
}
