// Branding from config (BRAND_NAME, BRAND_LOGO, BRAND_PRIMARY_COLOR, BRAND_SUPPORT_CONTACT): the name,
// logo and support contact on pages, the logo served from Tessera's own origin with its true type and
// nosniff, a light brand colour darkened for AA, and a bad logo file stopping the start with a config error.
import { describe, it, expect, afterEach } from 'vitest';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { startTessera, type RunningTessera } from '../support/tessera.ts';
import { solidPng } from '../support/png.ts';
import { contrast } from '../../src/branding/colour.ts';
import { spawnTessera } from '../support/tessera-process.ts';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-brand-'));
const file = (name: string, content: string | Buffer) => {
  const p = path.join(dir, name);
  fs.writeFileSync(p, content);
  return p;
};

let t: RunningTessera | null = null;
afterEach(async () => {
  await t?.stop();
  t = null;
});

const page = async (p = '/') => {
  const res = await fetch(new URL(p, t!.issuer), { headers: { accept: 'text/html' } });
  return { res, html: await res.text() };
};

describe('branding from config', () => {
  it('shows the name, logo and support contact, serves the logo with its type, nosniff and a long cache', async () => {
    const png = solidPng(64, 32, [200, 30, 90]);
    t = await startTessera({ env: {
      BRAND_NAME: 'Acme ID', BRAND_LOGO: file('acme.png', png), BRAND_PRIMARY_COLOR: '#c81e5a', BRAND_SUPPORT_CONTACT: 'help@acme.test',
    } });
    const { html } = await page('/');
    expect(html).toMatch(/<title>[^<]*Acme ID<\/title>/);
    const logoSrc = /<img class="brand-logo" src="([^"]+)"/.exec(html)?.[1];
    expect(logoSrc).toMatch(/^\/branding\/logo\?v=[0-9a-f]{16}$/);
    expect(html).not.toContain('brand-mark');
    expect(html).toContain('href="mailto:help@acme.test"');
    const theme = /<link rel="stylesheet" href="(\/branding\/theme\.css\?v=[0-9a-f]+)"/.exec(html)?.[1];
    expect(theme).toBeTruthy();

    const logo = await fetch(new URL(logoSrc!, t.issuer));
    expect(logo.status).toBe(200);
    expect(logo.headers.get('content-type')).toBe('image/png');
    expect(logo.headers.get('x-content-type-options')).toBe('nosniff');
    expect(logo.headers.get('cache-control')).toMatch(/max-age=31536000/);
    expect(Buffer.from(await logo.arrayBuffer()).equals(png)).toBe(true);

    const css = await (await fetch(new URL(theme!, t.issuer))).text();
    expect(css).toContain('--brand: #c81e5a;');
    // Mail: the name, and the logo by its absolute address on this issuer (the HTML part); the name in the text.
    await t.built.services.notices.passwordResetForced({ id: 'x', email: 'acme@example.com', name: 'Ada' }, { ip: null, admin: true });
    const mail = await t.smtp.waitFor('acme@example.com');
    expect(mail.html).toContain(`<img src="${t.issuer}${logoSrc}"`);
    expect(mail.html).toContain('Acme ID');
    expect(mail.text).toContain('Acme ID');
    expect(mail.html).not.toContain('Tessera');
    // The account pages' own client carries the brand too ("Signing in to Acme ID account").
    expect((await t.store.clients.find('tessera-account'))?.metadata.client_name).toBe('Acme ID account');
  });

  it('darkens a brand colour that white button text can’t be read on, and says so', async () => {
    t = await startTessera({ env: { BRAND_PRIMARY_COLOR: '#ffcc00' } });
    const { html } = await page('/');
    const theme = /href="(\/branding\/theme\.css\?v=[0-9a-f]+)"/.exec(html)![1];
    const css = await (await fetch(new URL(theme, t.issuer))).text();
    const brand = /--brand: (#[0-9a-f]{6});/.exec(css)![1];
    expect(brand).not.toBe('#ffcc00');
    expect(contrast('#ffffff', brand)).toBeGreaterThanOrEqual(4.5);
    // Mail uses the same readable shade (white text on it), never the raw colour.
    await t.built.services.notices.passwordResetForced({ id: 'x', email: 'brand@example.com', name: 'Bea' }, { ip: null, admin: true });
    const mail = await t.smtp.waitFor('brand@example.com');
    expect(mail.html).toContain(brand);
    expect(mail.html.toLowerCase()).not.toContain('#ffcc00');
  });

  it('keeps Tessera’s look by default: no brand stylesheet, the mark, no logo route', async () => {
    t = await startTessera();
    const { html } = await page('/');
    expect(html).toContain('brand-mark');
    expect(html).not.toContain('/branding/');
    expect((await fetch(new URL('/branding/logo', t.issuer))).status).toBe(404);
    expect((await fetch(new URL('/branding/theme.css', t.issuer))).status).toBe(404);
  });

  it('serves a plain SVG logo under a CSP that lets nothing run', async () => {
    const svg = '<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="40" height="40"><circle cx="20" cy="20" r="18" fill="#c81e5a"/></svg>';
    t = await startTessera({ env: { BRAND_LOGO: file('plain.svg', svg) } });
    const { html } = await page('/');
    const src = /<img class="brand-logo" src="([^"]+)"/.exec(html)![1];
    const res = await fetch(new URL(src, t.issuer));
    expect(res.headers.get('content-type')).toBe('image/svg+xml');
    expect(res.headers.get('content-security-policy')).toMatch(/default-src 'none'.*sandbox/);
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
  });

  for (const [what, name, content, message] of [
    ['a text file named .png', 'fake.png', 'hello, not an image', /not a PNG, JPEG, WebP or SVG/],
    ['an SVG with a script', 'evil.svg', '<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', /SVG logo must be plain drawing/],
    ['an SVG with an event handler', 'evil2.svg', '<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"></svg>', /SVG logo must be plain drawing/],
    ['a file over 512 KB', 'big.png', Buffer.concat([solidPng(2, 2, [0, 0, 0]), Buffer.alloc(600 * 1024)]), /limit is 512 KB/],
    ['a missing file', 'missing.png', null, /no such file/],
  ] as const) {
    it(`refuses to start with ${what} as BRAND_LOGO, naming the variable`, async () => {
      const p = content === null ? path.join(dir, name) : file(name, content);
      const err = await startTessera({ env: { BRAND_LOGO: p } }).then(
        (started) => { t = started; return null; },
        (e: Error) => e,
      );
      expect(err?.message).toMatch(/BRAND_LOGO/);
      expect(err?.message).toMatch(message);
      expect(err?.constructor.name).toBe('ConfigError');
    });
  }

  it('the server process says what is wrong with BRAND_LOGO and exits 2, without a stack trace', async () => {
    const p = await spawnTessera({ dataDir: fs.mkdtempSync(path.join(os.tmpdir(), 'tessera-brand-proc-')), env: { BRAND_LOGO: file('notes.png', 'just text') } });
    const { code } = await p.exited;
    expect(code).toBe(2);
    expect(p.output()).toMatch(/BRAND_LOGO \(brand\.logo\): .*notes\.png: not a PNG, JPEG, WebP or SVG image/);
    expect(p.output()).not.toMatch(/\n\s+at /);
  }, 60_000);
});
