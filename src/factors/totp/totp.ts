// Authenticator-app codes (TOTP, RFC 6238 over HOTP, RFC 4226): the building blocks the `totp`
// factor plugs into the registry. No koa, no store: secrets come in as base32 plain text (the
// caller decrypts the SecretBox ciphertext) and the accepted step goes back for the caller to save.
//
// The maths is node:crypto's HMAC-SHA1 rather than the `otpauth` package: it is a dozen lines pinned
// by the RFC's own test vectors, and owning it lets us (a) return the exact step that matched, which
// is what replay protection stores, (b) compare against every window candidate without an early
// exit, and (c) keep a dependency out of the sign-in path. Fixed to what every app supports:
// SHA-1, 6 digits, 30 s; the otpauth URI states them explicitly.
import crypto from 'node:crypto';
import { decodeBase32, encodeBase32, isBase32Secret, normaliseBase32 } from './base32.ts';

export { isBase32Secret, normaliseBase32 } from './base32.ts';
export { qrSvg, qrSvgDataUrl } from './qr.ts';
export { TotpDataSchema, type TotpData } from './data.ts';

export const TOTP_DIGITS = 6;
export const TOTP_PERIOD_SECONDS = 30;
/** Steps either side of now that still count: covers a phone clock ~30 s off and typing time. */
const WINDOW = 1;

/** A fresh 160-bit secret (RFC 4226 §4 recommends the HMAC-SHA1 output size), unpadded base32. */
export function newTotpSecret(): string {
  return encodeBase32(crypto.randomBytes(20));
}

/** The time step `now` (ms since the epoch) falls in. */
export function totpStep(now: number = Date.now()): number {
  return Math.floor(now / 1000 / TOTP_PERIOD_SECONDS);
}

/** RFC 4226 HOTP: HMAC-SHA1 of the 8-byte big-endian counter, dynamically truncated. */
export function hotp(key: Uint8Array, counter: number, digits: number = TOTP_DIGITS): string {
  const msg = Buffer.alloc(8);
  msg.writeBigUInt64BE(BigInt(counter));
  const mac = crypto.createHmac('sha1', key).update(msg).digest();
  const offset = mac[mac.length - 1] & 0x0f;
  const binary = mac.readUInt32BE(offset) & 0x7fffffff;
  return (binary % 10 ** digits).toString().padStart(digits, '0');
}

/** The code an app shows at `now`: for tests (and e2e tests that enrol from the page's secret). */
export function totpCode(secret: string, now: number = Date.now()): string {
  return hotp(decodeBase32(secret), totpStep(now));
}

export type TotpCheck = { ok: true; step: number } | { ok: false; reason: 'invalid' | 'replayed' };

/**
 * Verifies a typed code against the current step ±1. On success the caller must store `step` as the
 * factor's new `lastStep` (atomically, compare-and-set on the old value, or two requests racing with
 * the same code both pass): any code of that step or an earlier one is then refused as 'replayed',
 * which is what makes each code single-use. A fresh factor starts at lastStep 0.
 *
 * Throws only if `secret` itself is not base32 (corrupt stored data), never because of `code`.
 */
export function checkTotp(input: { secret: string; code: string; lastStep: number; now?: number }): TotpCheck {
  const key = decodeBase32(input.secret);
  // People type "123 456" or paste with a trailing newline; anything else that isn't exactly six
  // ASCII digits can't be a code (`\d` without the u flag is ASCII only).
  const code = input.code.replace(/\s+/g, '');
  if (!/^\d{6}$/.test(code)) return { ok: false, reason: 'invalid' };

  const typed = Buffer.from(code);
  const current = totpStep(input.now ?? Date.now());
  let matched = -1;
  // Every candidate is computed and compared, with no early exit, so timing tells nothing about
  // which step (or whether any) matched. Keeping the highest match means a code that happens to be
  // valid for two steps is judged by the newer one.
  for (let step = current - WINDOW; step <= current + WINDOW; step++) {
    if (step < 0) continue;
    const expected = Buffer.from(hotp(key, step));
    if (crypto.timingSafeEqual(typed, expected) && step > matched) matched = step;
  }
  if (matched < 0) return { ok: false, reason: 'invalid' };
  if (matched <= input.lastStep) return { ok: false, reason: 'replayed' };
  return { ok: true, step: matched };
}

/**
 * The Key URI apps scan (github.com/google/google-authenticator/wiki/Key-Uri-Format). Parts are
 * percent-encoded with encodeURIComponent, not URLSearchParams, whose `+` for spaces some apps show
 * literally. The format forbids a colon inside issuer or account (apps split the label on it), and
 * an issuer like "id.example.com:8443" is plausible, so colons become spaces: the label is display only.
 */
export function otpauthUri(input: { secret: string; issuerLabel: string; accountName: string }): string {
  if (!isBase32Secret(input.secret)) throw new Error('otpauthUri: secret is not base32');
  const clean = (s: string) => s.replace(/:/g, ' ').trim();
  const issuer = encodeURIComponent(clean(input.issuerLabel));
  const account = encodeURIComponent(clean(input.accountName));
  const query = [
    `secret=${normaliseBase32(input.secret)}`,
    `issuer=${issuer}`, // repeated as a parameter: newer apps read this one, older ones the label prefix
    'algorithm=SHA1',
    `digits=${TOTP_DIGITS}`,
    `period=${TOTP_PERIOD_SECONDS}`,
  ].join('&');
  return `otpauth://totp/${issuer}:${account}?${query}`;
}
