// The provider's side of the keys (src/keys/): loading them, and handing a running oidc-provider the
// signing keys again whenever a rotation changes them.
import type Provider from 'oidc-provider';
import initializeKeystore from 'oidc-provider/lib/helpers/initialize_keystore.js';
import type { Store } from '../store/ports.ts';
import type { Config } from '../config.ts';
import type { Logger } from '../log.ts';
import { Keys } from '../keys/live.ts';

export type ProviderKeys = Keys;

export function loadKeys(store: Store, config: Config, log?: Logger): Promise<Keys> {
  return Keys.load(store, config, { log });
}

/**
 * Keeps the provider's signing keys those of `keys`, in their order (it signs with the first).
 * oidc-provider builds its keystore once, in its constructor, from `jwks`, and reads it on every use
 * (signing ID tokens, checking an id_token_hint, serving /jwks) through its per-instance internals; the
 * function its constructor calls for that is called again here. It is not public API: oidc-provider is
 * pinned to 9.x in package.json, and test/integration/keys.test.ts fails if that function changes.
 * Cookie keys need nothing of the kind: koa and oidc-provider read `keys.cookieKeys` (one array, changed
 * in place) on every request.
 */
export function followKeys(provider: Provider, keys: Keys): void {
  (provider as unknown as { keys: string[] }).keys = keys.cookieKeys;
  keys.onSigningKeys((jwks) => initializeKeystore.call(provider, structuredClone(jwks)));
}
