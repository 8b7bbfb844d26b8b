// oidc-provider's own keystore set-up (not part of its typed public API): src/oidc/keys.ts calls it
// again to replace a running provider's signing keys.
declare module 'oidc-provider/lib/helpers/initialize_keystore.js' {
  export default function initializeKeystore(this: object, jwks: { keys: Record<string, unknown>[] }): void;
}
