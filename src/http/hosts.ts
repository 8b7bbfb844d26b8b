// Strict host names: oidc-provider builds every endpoint URL in discovery (and redirects) from the
// request's Host (or a trusted proxy's X-Forwarded-Host), so a forged one would be written into responses
// a cache in front may keep and serve to everyone. A request naming any host other than the issuer's or an
// ALLOWED_HOSTS alias gets a short 400 before anything else runs (Keycloak's strict hostname does the same).
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

  /** The 400: short plain text, nothing from the request echoed, not cacheable. */
  refuse(ctx: Context): void {
    ctx.status = 400;
    ctx.type = 'text/plain; charset=utf-8';
    ctx.set('Cache-Control', 'no-store');
    ctx.set('X-Content-Type-Options', 'nosniff');
    ctx.body = `Bad request: unknown host name. This server answers at ${this.issuer}\n`;
  }
}
