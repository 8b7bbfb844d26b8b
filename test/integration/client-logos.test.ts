// Fetching a client's logo_uri (src/branding/client-logos.ts) against real local HTTP servers: what is
// shown, and every way a logo is refused (SSRF targets, redirects to them, https only, size, time, type).
// Refused addresses are refused before any connection: no packet leaves this machine.
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { ClientLogos, isNonPublic } from '../../src/branding/client-logos.ts';
import { solidPng } from '../support/png.ts';

const PNG = solidPng(16, 16, [10, 120, 200]);
let server: http.Server;
let base = '';
const hits: string[] = [];

beforeAll(async () => {
  server = http.createServer((req, res) => {
    hits.push(req.url!);
    const route: Record<string, () => void> = {
      '/logo.png': () => res.writeHead(200, { 'content-type': 'image/png' }).end(PNG),
      '/lying.png': () => res.writeHead(200, { 'content-type': 'image/png' }).end('<html>not an image</html>'),
      '/logo.svg': () => res.writeHead(200, { 'content-type': 'image/svg+xml' }).end('<svg xmlns="http://www.w3.org/2000/svg"/>'),
      '/huge.png': () => res.writeHead(200, { 'content-type': 'image/png' }).end(Buffer.concat([PNG, Buffer.alloc(300 * 1024)])),
      '/huge-chunked.png': () => {
        res.writeHead(200, { 'content-type': 'image/png' });
        for (let i = 0; i < 40; i++) res.write(Buffer.alloc(10 * 1024));
        res.end();
      },
      '/slow.png': () => undefined, // never answers
      '/to-metadata': () => res.writeHead(302, { location: 'http://169.254.169.254/latest/meta-data/' }).end(),
      '/to-private': () => res.writeHead(302, { location: 'http://10.1.2.3/logo.png' }).end(),
      '/to-logo': () => res.writeHead(302, { location: '/logo.png' }).end(),
      '/loop': () => res.writeHead(302, { location: '/loop' }).end(),
      '/missing.png': () => res.writeHead(404).end(),
    };
    (route[req.url!] ?? route['/missing.png'])();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

function logos(allowLoopback = true) {
  const refused: string[] = [];
  return { refused, logos: new ClientLogos({ allowLoopback, timeoutMs: 1500, onRefused: (_u, why) => refused.push(why) }) };
}

describe('client logos', () => {
  it('fetches a PNG once, keeps it, and names it by a hash of its bytes', async () => {
    const { logos: l } = logos();
    const before = hits.filter((h) => h === '/logo.png').length;
    const a = await l.get(`${base}/logo.png`);
    const b = await l.get(`${base}/logo.png`);
    expect(a?.type).toBe('image/png');
    expect(a?.bytes.equals(PNG)).toBe(true);
    expect(a?.version).toMatch(/^[0-9a-f]{16}$/);
    expect(b).toBe(a);
    expect(hits.filter((h) => h === '/logo.png').length - before).toBe(1);
  });

  it('follows a redirect on the same checked terms', async () => {
    expect((await logos().logos.get(`${base}/to-logo`))?.type).toBe('image/png');
  });

  for (const [what, p, reason] of [
    ['a body that is not an image, whatever its content type', '/lying.png', /not a PNG, JPEG or WebP/],
    ['an SVG (a document that can carry script)', '/logo.svg', /not a PNG, JPEG or WebP/],
    ['an image over 256 KB (by its length)', '/huge.png', /larger than 256 KB/],
    ['an image over 256 KB (chunked, no length)', '/huge-chunked.png', /larger than 256 KB/],
    ['a server that never answers', '/slow.png', /timed out/],
    ['a redirect to the cloud metadata address', '/to-metadata', /non-public address \(169\.254\.169\.254\)/],
    ['a redirect to a private address', '/to-private', /non-public address \(10\.1\.2\.3\)/],
    ['a redirect loop', '/loop', /too many redirects/],
    ['a 404', '/missing.png', /HTTP 404/],
  ] as const) {
    it(`shows no logo for ${what}`, async () => {
      const { logos: l, refused } = logos();
      expect(await l.get(`${base}${p}`)).toBeNull();
      expect(refused.join(' ')).toMatch(reason);
    });
  }

  it('outside tests and development: https only, and loopback is refused like any private address', async () => {
    const { logos: l, refused } = logos(false);
    expect(await l.get(`${base}/logo.png`)).toBeNull();
    expect(await l.get('https://127.0.0.1:1/logo.png')).toBeNull();
    expect(await l.get('https://localhost:1/logo.png')).toBeNull();
    expect(await l.get('https://[::ffff:7f00:1]:1/logo.png')).toBeNull();
    expect(refused[0]).toMatch(/only https/);
    expect(refused.slice(1).every((r) => /non-public address/.test(r))).toBe(true);
  });

  it('a page waits for a logo only briefly: a slow host can’t hold up sign-in, and the next page has the logo', async () => {
    const { logos: l } = logos();
    const started = Date.now();
    expect(await l.forPage(`${base}/slow.png`, 150)).toBeNull();
    expect(Date.now() - started).toBeLessThan(1000); // not the fetch's own 1.5 s deadline
    expect((await l.forPage(`${base}/logo.png`, 1000))?.type).toBe('image/png');
    const again = Date.now();
    expect((await l.forPage(`${base}/logo.png`, 1000))?.type).toBe('image/png');
    expect(Date.now() - again).toBeLessThan(50); // from memory
  });

  it('classifies addresses', () => {
    for (const a of ['127.0.0.1', '10.0.0.1', '172.16.5.4', '192.168.1.1', '169.254.169.254', '100.64.0.1', '0.0.0.0', '::1', '::', 'fe80::1', 'fd00::1', '::ffff:10.0.0.1', '::ffff:a00:1', '224.0.0.1'])
      expect(isNonPublic(a), a).toBe(true);
    for (const a of ['93.184.216.34', '1.1.1.1', '2606:4700:4700::1111', '::ffff:8.8.8.8']) expect(isNonPublic(a), a).toBe(false);
    // IPv6 forms that wrap an IPv4 address or a local network: IPv4-compatible, local-use NAT64, site-local,
    // 6to4 (2002:c0a8:0101:: is 192.168.1.1) and Teredo.
    for (const a of ['::a00:1', '::10.0.0.1', '64:ff9b:1::a00:1', 'fec0::1', '2002:c0a8:101::1', '2001:0:4136:e378:8000:63bf:3fff:fdd2'])
      expect(isNonPublic(a), a).toBe(true);
  });
});
