// RFC 4648 base32, the encoding every authenticator app expects for TOTP secrets. Hand-written
// because Node has no base32 codec and the rules for *imported* secrets (other providers' exports,
// CLI `totp_secret`) are ours to decide: we tolerate how humans copy them, not wrong alphabets.
const ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';

/** Below 80 bits (RFC 4226 §4 R6: at least 128 recommended, 160 ours) a secret is guessable offline from a few codes. */
const MIN_CHARS = 16;
/** A generous bound (640 bits) so a pasted blob can't make us HMAC with megabyte keys. */
const MAX_CHARS = 128;

/** Unpadded base32: authenticator apps and otpauth URIs expect no `=`. */
export function encodeBase32(bytes: Uint8Array): string {
  let out = '';
  let buffer = 0;
  let bits = 0;
  for (const byte of bytes) {
    buffer = (buffer << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += ALPHABET[(buffer >>> (bits - 5)) & 31];
      bits -= 5;
    }
    buffer &= (1 << bits) - 1; // keep only the unread bits so the shift above never overflows
  }
  if (bits > 0) out += ALPHABET[(buffer << (5 - bits)) & 31];
  return out;
}

/**
 * Canonical form of a secret as people paste it: "jbsw y3dp-ehpk 3pxp" → "JBSWY3DPEHPK3PXP".
 * Trailing `=` padding is dropped because some providers export it and apps ignore it.
 * Does not validate: pair it with isBase32Secret.
 */
export function normaliseBase32(s: string): string {
  return s.replace(/[\s-]+/g, '').toUpperCase().replace(/=+$/, '');
}

/** Whether `s`, once normalised, is a base32 secret strong enough to import. */
export function isBase32Secret(s: string): boolean {
  const n = normaliseBase32(s);
  return n.length >= MIN_CHARS && n.length <= MAX_CHARS && /^[A-Z2-7]+$/.test(n);
}

/**
 * Decodes a secret (normalised first). Leftover bits that don't fill a byte are dropped, as the
 * apps' decoders do, so an imported secret of odd length yields the same codes the user's app shows.
 * Throws on anything isBase32Secret refuses: a stored secret that doesn't decode is corrupt data.
 */
export function decodeBase32(s: string): Buffer {
  if (!isBase32Secret(s)) throw new Error('not a valid base32 TOTP secret');
  const n = normaliseBase32(s);
  const out: number[] = [];
  let buffer = 0;
  let bits = 0;
  for (const ch of n) {
    buffer = (buffer << 5) | ALPHABET.indexOf(ch);
    bits += 5;
    if (bits >= 8) {
      out.push((buffer >>> (bits - 8)) & 255);
      bits -= 8;
      buffer &= (1 << bits) - 1;
    }
  }
  return Buffer.from(out);
}
