// Client logos (logo_uri) shown on the sign-in and consent pages without letting a page load anything
// from a third party: Tessera fetches the image once, checks it, keeps it in memory and serves it from its
// own origin (/client-logo/<client_id>, src/http/branding.ts), so the pages' CSP stays img-src 'self'.
//
// The fetch is a request Tessera makes to an address a client registered (SSRF): https only, every
// address the name resolves to must be public (no loopback, private, link-local, CGNAT, multicast...),
// the connection goes to the address that was checked (no second DNS answer), at most 2 redirects, each
// checked the same way, a 3 s deadline and a 256 KB cap. Only PNG, JPEG and WebP, by their bytes: an SVG
// is a document that can carry script, and a client's is not Tessera's to trust. A logo that fails any of
// this is simply not shown: the page shows the client's name alone.
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import dns from 'node:dns/promises';
import crypto from 'node:crypto';
import { rasterType, type RasterType } from './image-type.ts';

export const CLIENT_LOGO_MAX_BYTES = 256 * 1024;
const TIMEOUT_MS = 3000;
const MAX_REDIRECTS = 2;
const KEEP_MS = 24 * 3600_000; // a fetched logo is fetched again a day later
const RETRY_MS = 10 * 60_000; // a failed one is tried again after 10 minutes, not on every page
const MAX_ENTRIES = 200; // bounds memory: 200 × 256 KB at worst
const PAGE_WAIT_MS = 800; // the longest a sign-in, consent or apps page waits for a logo it hasn't got yet

export interface ClientLogo {
  bytes: Buffer;
  type: RasterType;
  /** A short hash of the bytes, for the page's URL (long caching, a new logo gets a new URL). */
  version: string;
}

export class LogoRefused extends Error {}

const BLOCKED = new net.BlockList();
for (const [net4, bits] of [
  ['0.0.0.0', 8], ['10.0.0.0', 8], ['100.64.0.0', 10], ['127.0.0.0', 8], ['169.254.0.0', 16], ['172.16.0.0', 12],
  ['192.0.0.0', 24], ['192.0.2.0', 24], ['192.168.0.0', 16], ['198.18.0.0', 15], ['198.51.100.0', 24], ['203.0.113.0', 24],
  ['224.0.0.0', 4], ['240.0.0.0', 4],
] as const) BLOCKED.addSubnet(net4, bits, 'ipv4');
// ::/96 covers :: and ::1 and the old IPv4-compatible ::a.b.c.d; 64:ff9b:1::/48 is local-use NAT64; fec0::/10
// the old site-local; 2002::/16 (6to4) and 2001::/32 (Teredo) wrap an IPv4 address that may be private.
for (const [net6, bits] of [
  ['::', 96], ['fc00::', 7], ['fe80::', 10], ['fec0::', 10], ['ff00::', 8], ['2001:db8::', 32], ['100::', 64],
  ['64:ff9b:1::', 48], ['2002::', 16], ['2001::', 32],
] as const)
  BLOCKED.addSubnet(net6, bits, 'ipv6');
const LOOPBACK = new net.BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');

/** The IPv4 address inside an IPv4-mapped or NAT64 IPv6 address (::ffff:10.0.0.1), if any. */
function embeddedV4(address: string): string | null {
  const m = /^(?:::ffff:|64:ff9b::)(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (m) return m[1];
  const hex = /^(?:::ffff:|64:ff9b::)([0-9a-f]{1,4}):([0-9a-f]{1,4})$/i.exec(address);
  if (!hex) return null;
  const n = (parseInt(hex[1], 16) << 16) | parseInt(hex[2], 16);
  return [24, 16, 8, 0].map((s) => (n >>> s) & 255).join('.');
}

export function isLoopback(address: string): boolean {
  const v4 = net.isIPv4(address) ? address : embeddedV4(address);
  return v4 ? LOOPBACK.check(v4, 'ipv4') : LOOPBACK.check(address, 'ipv6');
}

/** True for every address a logo may not be fetched from (not a public unicast address). */
export function isNonPublic(address: string): boolean {
  const v4 = net.isIPv4(address) ? address : embeddedV4(address);
  if (v4) return BLOCKED.check(v4, 'ipv4');
  if (!net.isIPv6(address)) return true;
  return BLOCKED.check(address, 'ipv6');
}

export interface ClientLogoOptions {
  /** Tests and development with a loopback issuer: http and loopback addresses are allowed (nothing else private). */
  allowLoopback: boolean;
  maxBytes?: number;
  timeoutMs?: number;
  /** Told why a logo wasn't fetched (logged by the caller; the page just shows no logo). */
  onRefused?: (url: string, reason: string) => void;
}

interface Entry {
  logo: ClientLogo | null;
  until: number;
}

export class ClientLogos {
  private cache = new Map<string, Entry>();
  private pending = new Map<string, Promise<ClientLogo | null>>();
  constructor(private opts: ClientLogoOptions) {}

  /** The checked image at `url`, from memory or fetched now; null when it can't be shown. Never throws. */
  async get(url: string): Promise<ClientLogo | null> {
    const hit = this.cache.get(url);
    if (hit && hit.until > Date.now()) return hit.logo;
    const running = this.pending.get(url);
    if (running) return running;
    const p = this.fetchChecked(url)
      .catch((err: unknown) => {
        this.opts.onRefused?.(url, err instanceof LogoRefused ? err.message : 'fetch failed');
        return null;
      })
      .then((logo) => {
        if (this.cache.size >= MAX_ENTRIES) this.cache.delete(this.cache.keys().next().value!);
        this.cache.set(url, { logo, until: Date.now() + (logo ? KEEP_MS : RETRY_MS) });
        return logo;
      })
      .finally(() => this.pending.delete(url));
    this.pending.set(url, p);
    return p;
  }

  /**
   * For a page: never holds it up for long. A fresh logo is returned at once; an expired one is returned
   * while a new fetch runs behind it; a logo not fetched yet is waited for at most `waitMs` (the fetch goes
   * on and fills the cache for the next page). So a relying party's slow image host can't slow sign-in.
   */
  async forPage(url: string, waitMs = PAGE_WAIT_MS): Promise<ClientLogo | null> {
    const hit = this.cache.get(url);
    if (hit && hit.until > Date.now()) return hit.logo;
    if (hit?.logo) {
      void this.get(url);
      return hit.logo;
    }
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), waitMs)));
    try {
      return await Promise.race([this.get(url), late]);
    } finally {
      clearTimeout(timer);
    }
  }

  /** Fetches and checks (exported for tests through get()); throws LogoRefused with the reason. */
  private async fetchChecked(raw: string): Promise<ClientLogo> {
    const signal = AbortSignal.timeout(this.opts.timeoutMs ?? TIMEOUT_MS);
    let url = this.checkUrl(raw);
    for (let hops = 0; ; hops++) {
      const res = await this.request(url, signal);
      if (res.location === undefined) {
        const type = rasterType(res.body);
        if (!type) throw new LogoRefused('not a PNG, JPEG or WebP image');
        return { bytes: res.body, type, version: crypto.createHash('sha256').update(res.body).digest('hex').slice(0, 16) };
      }
      if (hops >= MAX_REDIRECTS) throw new LogoRefused('too many redirects');
      url = this.checkUrl(new URL(res.location, url).href);
    }
  }

  private checkUrl(raw: string): URL {
    let url: URL;
    try {
      url = new URL(raw);
    } catch {
      throw new LogoRefused('not a URL');
    }
    const httpOk = this.opts.allowLoopback && url.protocol === 'http:';
    if (url.protocol !== 'https:' && !httpOk) throw new LogoRefused('only https logo URLs are fetched');
    if (url.username || url.password) throw new LogoRefused('credentials in the URL');
    return url;
  }

  /** Resolves and checks every address, then connects to the checked one (a rebinding DNS gets no second say). */
  private async address(host: string): Promise<{ address: string; family: number }> {
    const name = host.replace(/^\[|\]$/g, '');
    let found: { address: string; family: number }[];
    try {
      found = net.isIP(name) ? [{ address: name, family: net.isIP(name) }] : await dns.lookup(name, { all: true, verbatim: true });
    } catch {
      throw new LogoRefused('the host name does not resolve');
    }
    if (!found.length) throw new LogoRefused('the host name does not resolve');
    for (const a of found) {
      const allowed = !isNonPublic(a.address) || (this.opts.allowLoopback && isLoopback(a.address));
      if (!allowed) throw new LogoRefused(`the host resolves to a non-public address (${a.address})`);
    }
    return found[0];
  }

  private async request(url: URL, signal: AbortSignal): Promise<{ body: Buffer; location?: string }> {
    const target = await this.address(url.hostname);
    const max = this.opts.maxBytes ?? CLIENT_LOGO_MAX_BYTES;
    const mod = url.protocol === 'https:' ? https : http;
    return new Promise((resolve, reject) => {
      const req = mod.request(
        url,
        {
          method: 'GET',
          agent: false,
          signal,
          headers: { accept: 'image/png, image/jpeg, image/webp', 'user-agent': 'Tessera (client logo)' },
          lookup: ((_host: string, o: { all?: boolean }, cb: (...args: unknown[]) => void) =>
            o?.all ? cb(null, [target]) : cb(null, target.address, target.family)) as unknown as net.LookupFunction,
        },
        (res) => {
          const status = res.statusCode ?? 0;
          if (status >= 300 && status < 400 && res.headers.location) {
            res.resume();
            return resolve({ body: Buffer.alloc(0), location: res.headers.location });
          }
          if (status !== 200) {
            res.resume();
            return reject(new LogoRefused(`HTTP ${status}`));
          }
          if (Number(res.headers['content-length'] ?? 0) > max) {
            res.destroy();
            return reject(new LogoRefused(`larger than ${max / 1024} KB`));
          }
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (c: Buffer) => {
            size += c.length;
            if (size > max) {
              res.destroy();
              reject(new LogoRefused(`larger than ${max / 1024} KB`));
            } else chunks.push(c);
          });
          res.on('end', () => resolve({ body: Buffer.concat(chunks) }));
          res.on('error', (err) => reject(signal.aborted ? new LogoRefused('timed out') : err));
        },
      );
      req.on('error', (err) => reject(signal.aborted ? new LogoRefused('timed out') : err));
      req.end();
    });
  }
}
