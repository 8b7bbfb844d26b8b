// Small cryptographic helpers shared by the store-facing code: encrypting client secrets at rest,
// hashing one-time codes with a server-side pepper, constant-time comparison, random identifiers.
import crypto from 'node:crypto';

export function randomId(bytes = 16): string {
  return crypto.randomBytes(bytes).toString('base64url');
}

/** A numeric code of `length` digits from a uniform distribution (no modulo bias). */
export function numericCode(length: number): string {
  let out = '';
  while (out.length < length) out += crypto.randomInt(0, 10).toString();
  return out;
}

export function constantTimeEqual(a: string, b: string): boolean {
  const ab = Buffer.from(a);
  const bb = Buffer.from(b);
  // Compare against itself when lengths differ so timing doesn't reveal the length match.
  return crypto.timingSafeEqual(ab, ab.length === bb.length ? bb : ab) && ab.length === bb.length;
}

export class SecretBox {
  private readonly key: Buffer;
  private readonly pepper: Buffer;
  constructor(dataKey: string) {
    this.key = crypto.createHash('sha256').update(`tessera:enc:${dataKey}`).digest();
    this.pepper = crypto.createHash('sha256').update(`tessera:mac:${dataKey}`).digest();
  }
  encrypt(plain: string): string {
    const iv = crypto.randomBytes(12);
    const cipher = crypto.createCipheriv('aes-256-gcm', this.key, iv);
    const ct = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
    return ['v1', iv.toString('base64url'), cipher.getAuthTag().toString('base64url'), ct.toString('base64url')].join('.');
  }
  decrypt(box: string): string {
    const [v, iv, tag, ct] = box.split('.');
    if (v !== 'v1' || !iv || !tag || !ct) throw new Error('unrecognised secret box');
    const decipher = crypto.createDecipheriv('aes-256-gcm', this.key, Buffer.from(iv, 'base64url'));
    decipher.setAuthTag(Buffer.from(tag, 'base64url'));
    return Buffer.concat([decipher.update(Buffer.from(ct, 'base64url')), decipher.final()]).toString('utf8');
  }
  /** Keyed hash for short secrets (one-time codes, recovery codes): a stolen database can't brute-force them offline. */
  mac(value: string): string {
    return crypto.createHmac('sha256', this.pepper).update(value).digest('base64url');
  }
}
