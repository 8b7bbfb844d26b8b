// Signing keys, cookie keys and the data key are created once and kept in the store (or given in
// config), so every instance and every restart uses the same ones: tokens survive restarts.
import crypto from 'node:crypto';
import type { Store } from '../store/ports.ts';
import type { Config } from '../config.ts';
import { randomId } from '../secrets.ts';

export interface ProviderKeys {
  jwks: { keys: Record<string, unknown>[] };
  cookieKeys: string[];
  dataKey: string;
}

function newSigningKey(): Record<string, unknown> {
  const { privateKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwk = privateKey.export({ format: 'jwk' }) as Record<string, unknown>;
  return { ...jwk, alg: 'ES256', use: 'sig', kid: randomId(12) };
}

export async function loadKeys(store: Store, config: Config): Promise<ProviderKeys> {
  const jwks = await store.keys.getOrCreate('jwks', () => ({ keys: [newSigningKey()] }));
  const cookieKeys = config.secrets.cookieKeys.length
    ? config.secrets.cookieKeys
    : await store.keys.getOrCreate('cookie-keys', () => [randomId(32)]);
  const dataKey = config.secrets.dataKey ?? (await store.keys.getOrCreate('data-key', () => randomId(32)));
  return { jwks, cookieKeys, dataKey };
}
