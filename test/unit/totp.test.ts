// Authenticator-app building blocks (src/factors/totp): RFC 6238 maths against the RFC's own vector,
// the ±1 window, single use of each code, what a typed code may look like, the QR code and otpauth
// URI an app scans, and which imported secrets we accept.
import { describe, it, expect } from 'vitest';
import {
  checkTotp, hotp, isBase32Secret, newTotpSecret, normaliseBase32, otpauthUri, qrSvg, qrSvgDataUrl,
  totpCode, totpStep, TotpDataSchema,
} from '../../src/factors/totp/totp.ts';
import { decodeBase32, encodeBase32 } from '../../src/factors/totp/base32.ts';

// RFC 6238 Appendix B, SHA-1: the ASCII seed "12345678901234567890".
const RFC_SECRET = 'GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ';
const PERIOD_MS = 30_000;
/** Middle of a step, far from the epoch, so ±1 and ±2 steps are all well defined. */
const NOW = 1_700_000_000_000 - (1_700_000_000_000 % PERIOD_MS) + 15_000;
const STEP = totpStep(NOW);
const codeAt = (offsetSteps: number) => totpCode(RFC_SECRET, NOW + offsetSteps * PERIOD_MS);

describe('TOTP maths', () => {
  it('matches the RFC 6238 SHA-1 test vectors', () => {
    expect(encodeBase32(Buffer.from('12345678901234567890'))).toBe(RFC_SECRET);
    expect(decodeBase32(RFC_SECRET).toString('ascii')).toBe('12345678901234567890');
    const key = decodeBase32(RFC_SECRET);
    expect(hotp(key, totpStep(59_000), 8)).toBe('94287082');
    expect(hotp(key, totpStep(1_111_111_109_000), 8)).toBe('07081804');
    expect(hotp(key, totpStep(20_000_000_000_000), 8)).toBe('65353130');
    expect(totpCode(RFC_SECRET, 59_000)).toBe('287082');
  });

  it('accepts the RFC code at T=59 on a fresh factor', () => {
    expect(checkTotp({ secret: RFC_SECRET, code: '287082', lastStep: 0, now: 59_000 })).toEqual({ ok: true, step: 1 });
  });

  it('new secrets are 160 bits of unpadded base32 and differ each time', () => {
    const a = newTotpSecret();
    expect(a).toMatch(/^[A-Z2-7]{32}$/);
    expect(decodeBase32(a)).toHaveLength(20);
    expect(isBase32Secret(a)).toBe(true);
    expect(newTotpSecret()).not.toBe(a);
  });

  it('base32 round-trips every length (padding-free boundaries)', () => {
    for (let n = 10; n <= 25; n++) {
      const bytes = Buffer.from(Array.from({ length: n }, (_, i) => (i * 37 + 11) & 255));
      expect(decodeBase32(encodeBase32(bytes))).toEqual(bytes);
    }
  });
});

describe('checkTotp', () => {
  const check = (code: string, lastStep = 0) => checkTotp({ secret: RFC_SECRET, code, lastStep, now: NOW });

  it('accepts the current step and one either side, returning the step that matched', () => {
    expect(check(codeAt(0))).toEqual({ ok: true, step: STEP });
    expect(check(codeAt(-1))).toEqual({ ok: true, step: STEP - 1 });
    expect(check(codeAt(1))).toEqual({ ok: true, step: STEP + 1 });
  });

  it('refuses codes two steps away', () => {
    for (const off of [-2, 2]) {
      const code = codeAt(off);
      // Guard against the 1-in-a-million case of the vector colliding with a code inside the window.
      expect([-1, 0, 1].map(codeAt)).not.toContain(code);
      expect(check(code)).toEqual({ ok: false, reason: 'invalid' });
    }
  });

  it('refuses a code already used (same step twice)', () => {
    const first = check(codeAt(0));
    expect(first).toEqual({ ok: true, step: STEP });
    if (!first.ok) throw new Error('unreachable');
    expect(check(codeAt(0), first.step)).toEqual({ ok: false, reason: 'replayed' });
    // Still refused a few seconds later, within the same window.
    expect(checkTotp({ secret: RFC_SECRET, code: codeAt(0), lastStep: first.step, now: NOW + 10_000 }))
      .toEqual({ ok: false, reason: 'replayed' });
  });

  it('refuses an older step once a newer one was accepted', () => {
    const later = check(codeAt(1));
    if (!later.ok) throw new Error('expected the +1 code to pass');
    expect(check(codeAt(0), later.step)).toEqual({ ok: false, reason: 'replayed' });
    expect(check(codeAt(-1), later.step)).toEqual({ ok: false, reason: 'replayed' });
    // ...while the next step's code goes through.
    expect(checkTotp({ secret: RFC_SECRET, code: codeAt(2), lastStep: later.step, now: NOW + PERIOD_MS }))
      .toEqual({ ok: true, step: STEP + 2 });
  });

  it('judges a code valid for two steps in the window by the newer one', () => {
    // Found by search: with the RFC secret, HOTP(56295193) === HOTP(56295195) === '769717'.
    const key = decodeBase32(RFC_SECRET);
    expect([hotp(key, 56295193), hotp(key, 56295194), hotp(key, 56295195)]).toEqual(['769717', expect.any(String), '769717']);
    expect(hotp(key, 56295194)).not.toBe('769717');
    const now = 56295194 * PERIOD_MS + 1_000;
    // Step 56295193 was already used, but the same digits are also the next step's code: not a replay.
    expect(checkTotp({ secret: RFC_SECRET, code: '769717', lastStep: 56295193, now })).toEqual({ ok: true, step: 56295195 });
    expect(checkTotp({ secret: RFC_SECRET, code: '769717', lastStep: 56295195, now })).toEqual({ ok: false, reason: 'replayed' });
  });

  it('ignores spaces, tabs and a trailing newline', () => {
    const c = codeAt(0);
    expect(check(`${c.slice(0, 3)} ${c.slice(3)}`)).toEqual({ ok: true, step: STEP });
    expect(check(` ${c}\n`)).toEqual({ ok: true, step: STEP });
    expect(check(`${c.slice(0, 2)}\t${c.slice(2, 4)} ${c.slice(4)}`)).toEqual({ ok: true, step: STEP });
  });

  it('refuses anything that is not exactly six ASCII digits', () => {
    const c = codeAt(0);
    const fullWidth = [...c].map((d) => String.fromCharCode(0xff10 + Number(d))).join('');
    for (const bad of ['', '12345', '1234567', `${c}0`, c.slice(1), `${c.slice(0, 5)}a`, `${c.slice(0, 3)}-${c.slice(3)}`,
      fullWidth, '١٢٣٤٥٦', `+${c.slice(1)}`, '12e456']) {
      expect(check(bad), JSON.stringify(bad)).toEqual({ ok: false, reason: 'invalid' });
    }
  });

  it('refuses the right code for another secret', () => {
    const other = 'JBSWY3DPEHPK3PXP';
    expect([-1, 0, 1].map((o) => totpCode(other, NOW + o * PERIOD_MS))).not.toContain(codeAt(0));
    expect(checkTotp({ secret: other, code: codeAt(0), lastStep: 0, now: NOW })).toEqual({ ok: false, reason: 'invalid' });
  });

  it('throws on a corrupt stored secret rather than treating every code as wrong', () => {
    expect(() => checkTotp({ secret: 'not base32!', code: '123456', lastStep: 0, now: NOW })).toThrow(/base32/);
  });
});

describe('otpauth URI and QR code', () => {
  const secret = 'JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP';

  it('round-trips issuer, account and parameters through new URL', () => {
    const uri = otpauthUri({ secret, issuerLabel: 'Tessera Corp', accountName: 'ana+test@example.com' });
    expect(uri.startsWith('otpauth://totp/Tessera%20Corp:ana%2Btest%40example.com?')).toBe(true);
    expect(uri).not.toContain('+'); // spaces are %20, never '+'
    const url = new URL(uri);
    expect(url.protocol).toBe('otpauth:');
    expect(url.host).toBe('totp');
    expect(decodeURIComponent(url.pathname.slice(1))).toBe('Tessera Corp:ana+test@example.com');
    expect(Object.fromEntries(url.searchParams)).toEqual({
      secret, issuer: 'Tessera Corp', algorithm: 'SHA1', digits: '6', period: '30',
    });
  });

  it('keeps the label parseable: colons in issuer or account become spaces, & and ? are encoded', () => {
    const url = new URL(otpauthUri({ secret: 'jbsw y3dp ehpk 3pxp', issuerLabel: 'id.example.com:8443', accountName: 'a&b?c#d' }));
    const label = decodeURIComponent(url.pathname.slice(1));
    expect(label.split(':')).toEqual(['id.example.com 8443', 'a&b?c#d']);
    expect(url.searchParams.get('issuer')).toBe('id.example.com 8443');
    expect(url.searchParams.get('secret')).toBe('JBSWY3DPEHPK3PXP');
    expect(url.hash).toBe('');
  });

  it('refuses to build a URI around a bad secret', () => {
    expect(() => otpauthUri({ secret: 'short', issuerLabel: 'T', accountName: 'a' })).toThrow();
  });

  it('renders a self-contained SVG QR code', async () => {
    const svg = await qrSvg(otpauthUri({ secret, issuerLabel: 'Tessera', accountName: 'ana@example.com' }));
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
    expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
    expect(svg).toMatch(/viewBox="0 0 (\d+) \1"/); // square
    expect(svg).toMatch(/width="\d+" height="\d+"/); // an <img> gets an intrinsic size
    expect(svg).toMatch(/<path [^>]*d="M\d/); // the modules
    // Nothing our CSP (no inline style or script) or an <img> context would refuse or need to fetch.
    expect(svg).not.toMatch(/<script|style=|<style|href=|on\w+=/i);
  });

  it('offers it as a base64 data URL for <img src> that decodes to the same SVG', async () => {
    const uri = otpauthUri({ secret, issuerLabel: 'Tessera', accountName: 'ana@example.com' });
    const dataUrl = await qrSvgDataUrl(uri);
    expect(dataUrl).toMatch(/^data:image\/svg\+xml;base64,[A-Za-z0-9+/]+=*$/);
    expect(Buffer.from(dataUrl.split(',')[1], 'base64').toString('utf8')).toBe(await qrSvg(uri));
  });
});

describe('importing an existing secret', () => {
  it('normalises how people paste secrets', () => {
    expect(normaliseBase32('jbsw y3dp-ehpk 3pxp')).toBe('JBSWY3DPEHPK3PXP');
    expect(normaliseBase32(' JBSWY3DPEHPK3PXP====\n')).toBe('JBSWY3DPEHPK3PXP');
    expect(normaliseBase32('gezd\tgnbv')).toBe('GEZDGNBV');
  });

  it('accepts valid secrets of 80 bits or more, in any case and spacing', () => {
    for (const ok of ['JBSWY3DPEHPK3PXP', 'jbswy3dpehpk3pxp', 'JBSW Y3DP EHPK 3PXP', 'JBSW-Y3DP-EHPK-3PXP', RFC_SECRET, `${RFC_SECRET}====`]) {
      expect(isBase32Secret(ok), ok).toBe(true);
    }
  });

  it('refuses short secrets, wrong alphabets and absurd lengths', () => {
    for (const bad of ['', 'JBSWY3DPEHPK3PX' /* 15 chars */, 'JBSWY3DPEHPK3PX0' /* 0 */, 'JBSWY3DPEHPK3PX1', 'JBSWY3DPEHPK3PX8',
      'JBSWY3DP_EHPK3PXP', 'JBSWY3DP=EHPK3PXP', 'ÉBSWY3DPEHPK3PXP', 'A'.repeat(129)]) {
      expect(isBase32Secret(bad), bad).toBe(false);
    }
  });

  it('an imported secret yields the same codes as its canonical form', () => {
    const pasted = 'gezd gnbv-gy3t qojq gezd gnbv gy3t qojq';
    expect(totpCode(pasted, 59_000)).toBe('287082');
  });
});

describe('TotpDataSchema', () => {
  it('accepts a stored record and refuses bad step or label', () => {
    expect(TotpDataSchema.parse({ secret: 'v1.a.b.c', lastStep: 0 })).toEqual({ secret: 'v1.a.b.c', lastStep: 0 });
    expect(TotpDataSchema.safeParse({ secret: 'v1.a.b.c', lastStep: 5, label: 'Phone' }).success).toBe(true);
    expect(TotpDataSchema.safeParse({ secret: 'v1.a.b.c', lastStep: -1 }).success).toBe(false);
    expect(TotpDataSchema.safeParse({ secret: 'v1.a.b.c', lastStep: 1.5 }).success).toBe(false);
    expect(TotpDataSchema.safeParse({ secret: 'v1.a.b.c', lastStep: 0, label: 'x'.repeat(65) }).success).toBe(false);
    expect(TotpDataSchema.safeParse({ lastStep: 0 }).success).toBe(false);
  });
});
