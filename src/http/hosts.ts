// Strict host names: oidc-provider builds every endpoint URL in discovery (and redirects) from the
// request's Host (or a trusted proxy's X-Forwarded-Host), so a forged one would be written into responses
// a cache in front may keep and serve to everyone. A request naming any host other than the issuer's or an
// ALLOWED_HOSTS alias gets a short 400 before anything else runs (Keycloak's strict hostname does the same),
// and so does an absolute-form request target naming one.
import type { Context } from 'koa';

export class AllowedHosts {
  private readonly hosts: Set<string>;
  private readonly protocol: string;

  constructor(private readonly issuer: string, aliases: string[]) {
    const url = new URL(issuer);
    this.protocol = url.protocol;
    this.hosts = new Set([url.host, ...aliases.map((a) => this.normalize(a)).filter((a): a is string => a !== null)]);
  }

  // Lower case, and the issuer scheme's default port dropped ("id.example.com:443" = "id.example.com").
  private normalize(host: string): string | null {
    if (!host || /[\s/?#@\\]/.test(host)) return null;
    try {
      return new URL(`${this.protocol}//${host}`).host;
    } catch {
      return null;
    }
  }

  /** ctx.host is the Host header, or X-Forwarded-Host when a trusted proxy sent one (src/http/proxy.ts). */
  allows(ctx: Context): boolean {
    const raw = ctx.host;
    if (this.hosts.has(raw)) return true; // the usual case, without parsing a URL per request
    const host = this.normalize(raw);
    return host !== null && this.hosts.has(host);
  }

  /**
   * An absolute-form request target ("GET http://evil.example/x HTTP/1.1", meant for proxies, which a
   * server must accept) outranks the Host header in koa's ctx.href, which oidc-provider builds endpoint
   * URLs from: its authority must be an allowed host as well. When it is, the target is rewritten to
   * origin-form ("/x"), so everything after this sees one URL built from the checked Host. False means
   * refuse (a foreign authority, or a target that is neither form). Call before anything reads the URL.
   */
  originForm(ctx: Context): boolean {
    const target = ctx.req.url ?? '';
    if (target.startsWith('/') || (target === '*' && ctx.method === 'OPTIONS')) return true;
    let url: URL;
    try {
      url = new URL(target);
    } catch {
      return false;
    }
    if ((url.protocol !== 'http:' && url.protocol !== 'https:') || url.username || url.password) return false;
    const host = this.normalize(url.host);
    if (host === null || !this.hosts.has(host)) return false;
    const path = `${url.pathname}${url.search}`;
    ctx.req.url = path;
    ctx.originalUrl = path;
    ctx.request.originalUrl = path;
    return true;
  }

  /** The 400: short plain text, nothing from the request echoed, not cacheable. */
  refuse(ctx: Context): void {
    ctx.status = 400;
    ctx.type = 'text/plain; charset=utf-8';
    ctx.set('Cache-Control', 'no-store');
    ctx.set('X-Content-Type-Options', 'nosniff');
    ctx.body = `Bad request: unknown host name. This server answers at ${this.issuer}\n`;
  }
}
