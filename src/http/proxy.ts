// Forwarded headers are believed only from the reverse proxies named in TRUSTED_PROXIES. Koa's
// `app.proxy` and oidc-provider's `provider.proxy` are all-or-nothing (they trust X-Forwarded-* from any
// peer), so this runs first on every request, before either reads the headers: from a peer that isn't a
// trusted proxy it deletes them from the raw request (oidc-provider builds its own contexts from it), and
// it sets ctx.ip, which the per-IP limits and the audit log key on.
import net from 'node:net';
import type { Context } from 'koa';

const FORWARDED = ['x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'x-forwarded-port', 'forwarded'];

/** The configured proxy addresses and ranges (IPv4 and IPv6), already validated by the config. */
export class TrustedProxies {
  private readonly list = new net.BlockList();
  readonly any: boolean;

  constructor(entries: string[]) {
    for (const entry of entries) {
      const [address, bits] = entry.split('/');
      const type = net.isIPv6(address) ? 'ipv6' : 'ipv4';
      if (bits === undefined) this.list.addAddress(address, type);
      else this.list.addSubnet(address, Number(bits), type);
    }
    this.any = entries.length > 0;
  }

  trusts(address: string): boolean {
    if (!this.any) return false;
    const family = net.isIP(address);
    return family !== 0 && this.list.check(address, family === 6 ? 'ipv6' : 'ipv4');
  }
}

/** One address, one spelling: an IPv4-mapped IPv6 peer (::ffff:a.b.c.d, dual-stack sockets) as IPv4. */
export function canonicalIp(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  return mapped ? mapped[1] : address.toLowerCase();
}

// An X-Forwarded-For hop as proxies write it: "203.0.113.7", "203.0.113.7:4711", "[2001:db8::1]:4711",
// "2001:db8::1". Anything else ("unknown", garbage) is not an address.
function hopAddress(hop: string): string | null {
  let a = hop.trim();
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(a);
  if (bracketed) a = bracketed[1];
  else if (/^\d+\.\d+\.\d+\.\d+:\d+$/.test(a)) a = a.slice(0, a.lastIndexOf(':'));
  return net.isIP(a) ? canonicalIp(a) : null;
}

/**
 * The client's address: the TCP peer, unless the peer is a trusted proxy; then the right-most
 * X-Forwarded-For hop that isn't a trusted proxy. Hops left of it were written by whoever sent the
 * request and prove nothing. When every hop is trusted, the left-most one; at a hop that isn't an
 * address, the last address a trusted proxy vouched for.
 */
export function clientAddress(peer: string, forwardedFor: string | undefined, proxies: TrustedProxies): string {
  let client = canonicalIp(peer);
  if (!proxies.trusts(client) || !forwardedFor) return client;
  const hops = forwardedFor.split(',');
  for (let i = hops.length - 1; i >= 0; i--) {
    const address = hopAddress(hops[i]);
    if (!address) break;
    client = address;
    if (!proxies.trusts(address)) break;
  }
  return client;
}

// The value the nearest proxy set: with several values (appended by a chain, or sent by the client and
// passed on), the right-most was written by the trusted proxy itself, the left-most by anyone.
function lastValue(value: string | undefined): string | undefined {
  const last = value?.split(',').pop()?.trim();
  return last ? last : undefined;
}

/**
 * Applies the trust rules to one request: call before anything reads ctx.ip, ctx.host or ctx.protocol.
 * True when the peer is a trusted proxy (whose other headers, such as X-Request-Id, may be believed).
 */
export function applyForwarding(ctx: Context, proxies: TrustedProxies): boolean {
  const headers = ctx.req.headers as Record<string, string | undefined>; // node joins repeated ones with ", "
  const peer = canonicalIp(ctx.req.socket.remoteAddress ?? '');
  if (!proxies.trusts(peer)) {
    for (const name of FORWARDED) delete headers[name];
    ctx.request.ip = peer;
    return false;
  }
  ctx.request.ip = clientAddress(peer, headers['x-forwarded-for'], proxies);
  const proto = lastValue(headers['x-forwarded-proto'])?.toLowerCase();
  if (proto === 'http' || proto === 'https') headers['x-forwarded-proto'] = proto;
  else delete headers['x-forwarded-proto'];
  const host = lastValue(headers['x-forwarded-host']);
  if (host) headers['x-forwarded-host'] = host;
  else delete headers['x-forwarded-host'];
  return true;
}
