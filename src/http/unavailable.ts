// The answer when the store can't be reached or written (src/store/unavailable.ts): 503 with
// Retry-After, never a 500. OAuth endpoints answer JSON `temporarily_unavailable` (a client's
// Accept: */* doesn't make it a browser); an authorization request the provider was about to send back
// to the relying party goes back there with `error=temporarily_unavailable`, as OpenID Connect asks;
// everyone else gets a page saying so, with the request id.
import type { Context } from 'koa';
import type { Renderer } from './render.ts';
import { STORE_RETRY_AFTER_SECONDS } from '../store/unavailable.ts';

export const UNAVAILABLE_DESCRIPTION = 'The service is temporarily unavailable. Try again in a few seconds.';

// oidc-provider's routes that a person's browser visits; its other routes are for clients (JSON).
const BROWSER_ROUTES = new Set(['authorization', 'resume', 'end_session', 'end_session_confirm', 'end_session_success', 'code_verification', 'device_resume']);
const AUTHORIZATION_ROUTES = new Set(['authorization', 'resume']);

interface ProviderRequest {
  route?: string;
  params?: Record<string, unknown>;
  provider?: { issuer: string };
}

/**
 * oidc-provider's context for a request that reached one of its routes (it defines `ctx.oidc` on those
 * only), else undefined.
 */
export function providerRequest(ctx: Context): ProviderRequest | undefined {
  if (!Object.prototype.hasOwnProperty.call(ctx, 'oidc')) return undefined;
  return (ctx as unknown as { oidc?: ProviderRequest }).oidc;
}

/** Whether an error answer is JSON: OAuth endpoints always, other paths unless the client takes HTML. */
export function answersJson(ctx: Context): boolean {
  const route = providerRequest(ctx)?.route;
  if (route) return !BROWSER_ROUTES.has(route);
  return !ctx.accepts('html');
}

/**
 * The authorization response the provider had decided on (a redirect to the client's registered
 * redirect_uri with a code), turned into the same redirect with `error=temporarily_unavailable`.
 * Undefined when the response wasn't one (a redirect to a login page, form_post, an error page).
 */
function authorizationErrorRedirect(ctx: Context, location: string | undefined): string | undefined {
  const oidc = providerRequest(ctx);
  if (!oidc?.route || !AUTHORIZATION_ROUTES.has(oidc.route) || !location) return undefined;
  const redirectUri = oidc.params?.redirect_uri;
  // oidc-provider only redirects to a redirect_uri it checked against the client's registration.
  if (typeof redirectUri !== 'string' || !location.startsWith(redirectUri)) return undefined;
  const target = new URL(redirectUri);
  const sent = new URL(location);
  const inFragment = sent.hash.length > 1; // response_mode=fragment (a redirect_uri has no fragment of its own)
  const error = new URLSearchParams({ error: 'temporarily_unavailable', error_description: UNAVAILABLE_DESCRIPTION });
  const state = oidc.params?.state;
  if (typeof state === 'string' && state) error.set('state', state);
  if (oidc.provider) error.set('iss', oidc.provider.issuer);
  if (inFragment) target.hash = error.toString();
  else for (const [k, v] of error) target.searchParams.append(k, v);
  return target.href;
}

/**
 * Answers the request with "temporarily unavailable". Call it after whatever the request had set on its
 * way (Location, cookies) was removed; `location` is the redirect it had decided on, if any.
 */
export function answerUnavailable(ctx: Context, render: Renderer, location?: string): void {
  const back = authorizationErrorRedirect(ctx, location);
  if (back) {
    ctx.redirect(back);
    ctx.status = 303;
    return;
  }
  ctx.set('Retry-After', String(STORE_RETRY_AFTER_SECONDS));
  if (answersJson(ctx)) {
    ctx.status = 503;
    ctx.set('Cache-Control', 'no-store');
    ctx.body = { error: 'temporarily_unavailable', error_description: UNAVAILABLE_DESCRIPTION };
    return;
  }
  render(ctx, 'error', { title: 'Temporarily unavailable', message: 'We can’t save anything right now. Please try again in a minute.' }, 503);
}
