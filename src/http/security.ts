// Security headers on every response. Tessera's own pages get a strict CSP from render(); this sets the
// parts that are safe for oidc-provider's responses too (it renders form_post pages with inline script).
import type { ServerResponse } from 'node:http';

export const PAGE_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  // https: an app's logo (logo_uri, set by an admin) on the sign-in and consent pages.
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
].join('; ');

/** Sets them on a response once it is complete (the page or the provider has set its own CSP, if any). */
export function setSecurityHeaders(res: ServerResponse, opts: { hsts: boolean }) {
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.setHeader('X-Frame-Options', 'DENY');
  if (!res.hasHeader('Content-Security-Policy')) res.setHeader('Content-Security-Policy', "frame-ancestors 'none'; object-src 'none'; base-uri 'none'");
  if (opts.hsts) res.setHeader('Strict-Transport-Security', 'max-age=31536000; includeSubDomains');
  // These govern documents only: a token or JWKS response (JSON) doesn't carry them.
  if (!/json/.test(String(res.getHeader('Content-Type') ?? ''))) {
    res.setHeader('Referrer-Policy', 'no-referrer');
    res.setHeader('Cross-Origin-Opener-Policy', 'same-origin');
    res.setHeader('Permissions-Policy', 'camera=(), microphone=(), geolocation=()');
  }
}
