// Images and the brand stylesheet served from Tessera's own origin, so pages keep img-src 'self':
//   /branding/logo         the operator's logo (BRAND_LOGO, read and checked at start)
//   /branding/theme.css    the brand colour's shades (BRAND_PRIMARY_COLOR), only when it isn't the default
//   /client-logo/<id>      a client's logo_uri, fetched and checked once (src/branding/client-logos.ts)
// Each with its true content type (from the bytes), nosniff, and a CSP that lets nothing run should the
// image be opened on its own (an SVG is a document).
import type { Middleware, Context } from 'koa';
import type { Branding } from '../branding/brand.ts';
import type { ClientLogos } from '../branding/client-logos.ts';
import type { Config } from '../config.ts';
import type { Brand } from '../notify/mail-render.ts';

const IMAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; sandbox";
const YEAR = 'public, max-age=31536000, immutable';

export const BRAND_LOGO_PATH = '/branding/logo';
export const BRAND_THEME_PATH = '/branding/theme.css';
export const CLIENT_LOGO_PREFIX = '/client-logo/';

export function isBrandingPath(p: string): boolean {
  return p.startsWith('/branding/') || p.startsWith(CLIENT_LOGO_PREFIX);
}

/** The URLs pages use: versioned by content, so they can be cached for a year. */
export function brandUrls(b: Branding): { logo: string | null; theme: string | null } {
  return {
    logo: b.logo ? `${BRAND_LOGO_PATH}?v=${b.logo.version}` : null,
    theme: b.themeCss ? `${BRAND_THEME_PATH}?v=${b.shades.brand.slice(1)}${b.shades.brandOnDark.slice(1)}` : null,
  };
}

/** The brand as mail shows it (server and CLI alike): the logo by its absolute address on the issuer, as Tessera serves it. */
export function mailBrand(brand: Config['brand'], branding: Branding, issuer: string): Brand {
  const logo = brandUrls(branding).logo;
  return { name: branding.name, primaryColor: brand.primaryColor, supportContact: brand.supportContact, logoUrl: logo ? `${issuer}${logo}` : null };
}

export function clientLogoUrl(clientId: string, version: string): string {
  return `${CLIENT_LOGO_PREFIX}${encodeURIComponent(clientId)}?v=${version}`;
}

function image(ctx: Context, bytes: Buffer, type: string, cache: string) {
  ctx.status = 200;
  ctx.type = type;
  ctx.set('Cache-Control', cache);
  ctx.set('X-Content-Type-Options', 'nosniff');
  ctx.set('Content-Security-Policy', IMAGE_CSP);
  ctx.set('Cross-Origin-Resource-Policy', 'same-origin');
  ctx.body = bytes;
}

export function brandingRoutes(opts: {
  branding: Branding;
  logos: ClientLogos;
  /** The client's registered logo_uri (null: no such client or no logo). */
  clientLogoUri(clientId: string): Promise<string | null>;
}): Middleware {
  const { branding, logos } = opts;
  return async (ctx) => {
    if (ctx.method !== 'GET' && ctx.method !== 'HEAD') {
      ctx.status = 405;
      ctx.set('Allow', 'GET, HEAD');
      return;
    }
    if (ctx.path === BRAND_LOGO_PATH && branding.logo) return image(ctx, branding.logo.bytes, branding.logo.type, YEAR);
    if (ctx.path === BRAND_THEME_PATH && branding.themeCss) {
      ctx.type = 'text/css; charset=utf-8';
      ctx.set('Cache-Control', YEAR);
      ctx.set('X-Content-Type-Options', 'nosniff');
      ctx.body = branding.themeCss;
      return;
    }
    if (ctx.path.startsWith(CLIENT_LOGO_PREFIX)) {
      let clientId: string;
      try {
        clientId = decodeURIComponent(ctx.path.slice(CLIENT_LOGO_PREFIX.length));
      } catch {
        return; // 404
      }
      if (!clientId || clientId.length > 200) return;
      const uri = await opts.clientLogoUri(clientId);
      const logo = uri ? await logos.get(uri) : null;
      // Long-cached only under the URL of exactly these bytes (the page names their version).
      if (logo) return image(ctx, logo.bytes, logo.type, ctx.query.v === logo.version ? 'public, max-age=86400' : 'no-cache');
    }
    // Anything else: the front frame's 404 page.
  };
}
