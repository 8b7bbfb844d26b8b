// The three kinds of keys Tessera keeps, what a new one is, how long a retired one stays, and how each
// is stored: one document per kind in the store's key repository, `{ entries: Ring }`. Documents
// written before rotation existed (a JWKS, a list of cookie secrets, one data key) read as a ring of
// one key of unknown age; they are rewritten in the new shape by the first rotation or pruning.
import crypto from 'node:crypto';
import { z } from 'zod';
import type { Config } from '../config.ts';
import { keyId, randomId } from '../secrets.ts';
import { INTERACTION_TTL_SECONDS } from '../oidc/provider.ts';
import type { Ring } from './ring.ts';

export type Jwk = Record<string, unknown> & { kid: string };

export interface KeyKind<M> {
  readonly name: 'signing' | 'cookie' | 'data';
  /** The document's name in the key repository (the names used before rotation existed). */
  readonly storeName: string;
  make(): { id: string; material: M };
  /** A stored value: the ring, or null when it isn't one of the known shapes. */
  parse(value: unknown): Ring<M> | null;
  /**
   * How long a retired key is kept, in seconds: until everything it signed has expired. Null: not on
   * time alone (data keys: `keys prune` checks that nothing stored still needs the key).
   */
  retentionSeconds(config: Config): number | null;
}

const entry = <M extends z.ZodType>(material: M) =>
  z.object({ id: z.string().min(1), material, created: z.number(), activates: z.number() });
const ringOf = <M extends z.ZodType>(material: M) => z.object({ entries: z.array(entry(material)).min(1) });

const JwkSchema = z.looseObject({ kid: z.string().min(1), kty: z.string().min(1) });
const Secret = z.string().min(1);

/** The first-seen shape of a key made before rotation: active since forever, age unknown. */
const legacy = <M>(id: string, material: M) => ({ id, material, created: 0, activates: 0 });

export const SIGNING: KeyKind<Jwk> = {
  name: 'signing',
  storeName: 'jwks',
  make() {
    const { privateKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const jwk = privateKey.export({ format: 'jwk' }) as Record<string, unknown>;
    const kid = randomId(12);
    return { id: kid, material: { ...jwk, alg: 'ES256', use: 'sig', kid } };
  },
  parse(value) {
    const ring = ringOf(JwkSchema).safeParse(value);
    if (ring.success) return ring.data.entries as Ring<Jwk>;
    const jwks = z.object({ keys: z.array(JwkSchema).min(1) }).safeParse(value);
    return jwks.success ? jwks.data.keys.map((k) => legacy(k.kid, k as Jwk)) : null;
  },
  // An ID token lives idTokenTtl, but it is also an id_token_hint at logout for as long as the session
  // it came with (oidc-provider checks its signature and ignores its expiry); access tokens are opaque
  // today, and would be JWTs signed with these keys if resource indicators were turned on.
  retentionSeconds: (c) => Math.max(c.tokens.idTokenTtl, c.tokens.sessionTtl, c.tokens.accessTokenTtl),
};

/** A new random secret (cookie and data keys), named by its key id. */
function newSecret() {
  const secret = randomId(32);
  return { id: keyId(secret), material: secret };
}

export const COOKIE: KeyKind<string> = {
  name: 'cookie',
  storeName: 'cookie-keys',
  make: newSecret,
  parse(value) {
    const ring = ringOf(Secret).safeParse(value);
    if (ring.success) return ring.data.entries;
    const list = z.array(Secret).min(1).safeParse(value);
    // The first of a list signed: it stays first; any others were accepted only.
    return list.success ? list.data.map((s) => legacy(keyId(s), s)) : null;
  },
  // The session cookie lives as long as the session; a remembered browser's stamp and a sign-in in
  // progress (interaction cookies) are signed with these keys too.
  retentionSeconds: (c) => Math.max(c.tokens.sessionTtl, c.mfa.rememberBrowserDays * 86_400, INTERACTION_TTL_SECONDS),
};

export const DATA: KeyKind<string> = {
  name: 'data',
  storeName: 'data-key',
  make: newSecret,
  parse(value) {
    const ring = ringOf(Secret).safeParse(value);
    if (ring.success) return ring.data.entries;
    const single = Secret.safeParse(value);
    return single.success ? [legacy(keyId(single.data), single.data)] : null;
  },
  retentionSeconds: () => null,
};

/** A ring made of keys given in configuration (COOKIE_SECRETS, DATA_KEY + DATA_KEYS_PREVIOUS): first one current. */
export function configRing(secrets: readonly string[]): Ring<string> {
  return secrets.map((s) => legacy(keyId(s), s));
}
