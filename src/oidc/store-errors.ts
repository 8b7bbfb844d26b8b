// How store failures reach oidc-provider, and which provider requests wrote to the store.
//
// oidc-provider answers any error it didn't make with a 500 `server_error` (an HTML page to browsers,
// even on the token endpoint for a client that sends Accept: */*). A store that can't be reached or
// written is handed to it as its own `temporarily_unavailable` with status 503 instead: the token,
// userinfo, introspection and revocation endpoints answer JSON, and the authorization endpoint sends the
// error back to the relying party's redirect_uri, as OpenID Connect asks (Retry-After: src/http/front.ts).
//
// The embedded store commits a request's writes after its handler has run (durably(), app.ts), and a
// failed commit fails every request that was waiting on it. A provider request that wrote nothing (the
// discovery document, JWKS, a userinfo or introspection read) keeps its answer: oidc-provider runs each
// of its requests in an AsyncLocalStorage (Provider.ctx), so every write made through here marks the
// request it belongs to.
import Provider, { errors } from 'oidc-provider';
import { isStoreUnavailable } from '../store/unavailable.ts';

const WROTE = Symbol('tessera.wroteToStore');

/** Marks the provider request this runs in (if any) as one that wrote to the store. */
export function noteWrite(): void {
  const ctx = Provider.ctx as Record<symbol, unknown> | undefined;
  if (ctx) ctx[WROTE] = true;
}

/** Whether the provider request `ctx` wrote to the store (a write that failed counts). */
export function wroteDuring(ctx: object): boolean {
  return (ctx as Record<symbol, unknown>)[WROTE] === true;
}

/** oidc-provider's `temporarily_unavailable`, as a 503 it renders itself; the store's error is its cause. */
export class ProviderUnavailable extends errors.TemporarilyUnavailable {
  constructor(cause: unknown) {
    super('the service is temporarily unavailable, try again in a few seconds', { cause });
    this.status = 503;
    this.statusCode = 503;
    this.expose = true; // errOut() shows the error code and description only for exposed errors
  }
}

/**
 * A handler for a store call's failure inside oidc-provider: an unavailable store becomes
 * ProviderUnavailable (reported to `onUnavailable` first), anything else is thrown on as it was.
 */
export function providerErrors(onUnavailable: (err: unknown) => void = () => {}) {
  return (err: unknown): never => {
    if (err instanceof ProviderUnavailable || !isStoreUnavailable(err)) throw err;
    onUnavailable(err);
    throw new ProviderUnavailable(err);
  };
}
