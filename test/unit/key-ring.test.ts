// The key ring rules (src/keys/ring.ts) and a SecretBox with several data keys (src/secrets.ts).
import { describe, it, expect } from 'vitest';
import { currentIndex, inUse, prune, retiredAt, rotate, type Ring } from '../../src/keys/ring.ts';
import { COOKIE, DATA, SIGNING } from '../../src/keys/kinds.ts';
import { SecretBox, keyId } from '../../src/secrets.ts';

const T = 1_000_000;
const ids = (r: { id: string }[]) => r.map((e) => e.id);

describe('key ring', () => {
  const one: Ring<string> = [{ id: 'a', material: 'A', created: 0, activates: 0 }];

  it('signs with the newest active key; a rotated-in key is listed first but signs only from its activation', () => {
    const ring = rotate(one, 'b', 'B', T, 60_000);
    expect(ids(ring)).toEqual(['b', 'a']);
    expect(ids(inUse(ring, T))).toEqual(['a', 'b']);
    expect(ids(inUse(ring, T + 59_999))).toEqual(['a', 'b']);
    expect(ids(inUse(ring, T + 60_000))).toEqual(['b', 'a']);
    expect(retiredAt(ring, 1)).toBe(T + 60_000);
    expect(retiredAt(ring, 0)).toBeNull();
    // Two rotations before the first activates: each activates in turn, the oldest retires at the first.
    const twice = rotate(ring, 'c', 'C', T + 1000, 60_000);
    expect(ids(inUse(twice, T + 30_000))).toEqual(['a', 'c', 'b']);
    expect(ids(inUse(twice, T + 60_000))).toEqual(['b', 'c', 'a']);
    expect(ids(inUse(twice, T + 61_000))).toEqual(['c', 'b', 'a']);
    expect(retiredAt(twice, 2)).toBe(T + 60_000);
    expect(retiredAt(twice, 1)).toBe(T + 61_000);
  });

  it('drops a retired key only once its retention has passed, never the one that signs nor one to come', () => {
    const ring = rotate(one, 'b', 'B', T, 60_000);
    expect(ids(prune(ring, T + 60_000 + 9_999, 10_000))).toEqual(['b', 'a']);
    expect(ids(prune(ring, T + 60_000 + 10_000, 10_000))).toEqual(['b']);
    // Before b activates, a signs: kept however old.
    expect(ids(prune(ring, T + 59_999, 0))).toEqual(['b', 'a']);
    expect(prune(one, T * 1000, 0)).toEqual(one);
    // A ring whose keys are all still to come signs with the oldest.
    expect(currentIndex([{ id: 'x', material: 'X', created: T, activates: T + 5 }], T)).toBe(0);
  });

  it('reads the documents stored before rotation existed as a ring of one key', () => {
    const jwk = { kty: 'EC', crv: 'P-256', x: 'x', y: 'y', d: 'd', kid: 'k1', alg: 'ES256', use: 'sig' };
    expect(SIGNING.parse({ keys: [jwk] })).toEqual([{ id: 'k1', material: jwk, created: 0, activates: 0 }]);
    expect(COOKIE.parse(['cookie-secret'])).toEqual([{ id: keyId('cookie-secret'), material: 'cookie-secret', created: 0, activates: 0 }]);
    expect(DATA.parse('data-secret')).toEqual([{ id: keyId('data-secret'), material: 'data-secret', created: 0, activates: 0 }]);
    const ring = [{ id: 'i', material: 'm', created: 1, activates: 2 }];
    expect(DATA.parse({ entries: ring })).toEqual(ring);
    expect(DATA.parse({ entries: [] })).toBeNull();
    expect(SIGNING.parse({ what: 1 })).toBeNull();
    const made = SIGNING.make();
    expect(made.material).toMatchObject({ kty: 'EC', crv: 'P-256', alg: 'ES256', use: 'sig', kid: made.id });
  });
});

describe('SecretBox with several data keys', () => {
  const [k1, k2] = ['first-data-key-0123456789abcdef0123', 'second-data-key-0123456789abcdef012'];

  it('encrypts with the first, decrypts with any, and says which opened it', () => {
    const old = new SecretBox(k1);
    const sealed = old.encrypt('client secret');
    const box = new SecretBox([k2, k1]);
    expect(box.decrypt(sealed)).toBe('client secret');
    expect(box.open(sealed).keyIndex).toBe(1);
    expect(box.open(box.encrypt('x')).keyIndex).toBe(0);
    expect(() => new SecretBox(k2).decrypt(sealed)).toThrow(/no data key/);
    expect(box.currentKeyId).toBe(keyId(k2));
    expect(box.keyIds).toEqual([keyId(k2), keyId(k1)]);
    box.setKeys([k2]);
    expect(() => box.decrypt(sealed)).toThrow();
  });

  it('hashes with the first key and offers the hash under every key for checking', () => {
    const old = new SecretBox(k1);
    const box = new SecretBox([k2, k1]);
    expect(box.mac('123456')).not.toBe(old.mac('123456'));
    expect(box.macs('123456')).toEqual([new SecretBox(k2).mac('123456'), old.mac('123456')]);
  });
});
