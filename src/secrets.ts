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

/** A short public name of a secret (key lists, `keys list`): a hash of it, never the secret. */
export function keyId(secret: string): string {
  return crypto.createHash('sha256').update(`tessera:key-id:${secret}`).digest('base64url').slice(0, 12);
}

interface DataKey {
  id: string;
  key: Buffer;
  pepper: Buffer;
}

function derive(dataKey: string): DataKey {
  return {
    id: keyId(dataKey),
    key: crypto.createHash('sha256').update(`tessera:enc:${dataKey}`).digest(),
    pepper: crypto.createHash('sha256').update(`tessera:mac:${dataKey}`).digest(),
  };
}

/**
 * Encryption at rest and keyed hashes with the data key. Several keys may be in use while one is being
 * replaced (src/keys/): the first encrypts and hashes, every one decrypts and is tried when a hash is
 * checked, so nothing written under an older key stops working. The list can change while running.
 */
export class SecretBox {
  private keys: DataKey[] = [];
  constructor(dataKeys: string | readonly string[]) {
    this.setKeys(typeof dataKeys === 'string' ? [dataKeys] : dataKeys);
  }
  /** Replaces the list (first = current). */
  setKeys(dataKeys: readonly string[]) {
    if (!dataKeys.length) throw new Error('at least one data key is needed');
    this.keys = dataKeys.map(derive);
  }
  /** keyId() of the current key: recorded beside keyed hashes, so one can tell which key made them. */
  get currentKeyId(): string {
    return this.keys[0].id;
  }
  get keyIds(): string[] {
    return this.keys.map((k) => k.id);
  }
  encrypt(plain: string): string {
    const iv = crypto.randomBytes(12);
    const cipher = crypto.createCipheriv('aes-256-gcm', this.keys[0].key, iv);
    const ct = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
    return ['v1', iv.toString('base64url'), cipher.getAuthTag().toString('base64url'), ct.toString('base64url')].join('.');
  }
  decrypt(box: string): string {
    return this.open(box).plain;
  }
  /** The plain text and which key opened it (0 = the current one). GCM's tag tells a wrong key for sure. */
  open(box: string): { plain: string; keyIndex: number } {
    const [v, iv, tag, ct] = box.split('.');
    if (v !== 'v1' || !iv || !tag || !ct) throw new Error('unrecognised secret box');
    for (let i = 0; i < this.keys.length; i++) {
      try {
        const decipher = crypto.createDecipheriv('aes-256-gcm', this.keys[i].key, Buffer.from(iv, 'base64url'));
        decipher.setAuthTag(Buffer.from(tag, 'base64url'));
        return { plain: Buffer.concat([decipher.update(Buffer.from(ct, 'base64url')), decipher.final()]).toString('utf8'), keyIndex: i };
      } catch {
        // not this key: the next one
      }
    }
    throw new Error('no data key in use opens this secret');
  }
  /** Keyed hash for short secrets (one-time codes, recovery codes): a stolen database can't brute-force them offline. */
  mac(value: string): string {
    return crypto.createHmac('sha256', this.keys[0].pepper).update(value).digest('base64url');
  }
  /** The keyed hash under every key in use, the current one first: what to compare a stored hash with. */
  macs(value: string): string[] {
    return this.keys.map((k) => crypto.createHmac('sha256', k.pepper).update(value).digest('base64url'));
  }
}
